/* cb_sum.c - folding values into (|m|, sum) and printing it (see cb_sum.h). */
#include <stdio.h>
#include <string.h>

#include "cb_rng.h"
#include "cb_sum.h"

void cb_sum_add_be(cb_sum *s, const uint8_t *p, uint32_t n)
{
    uint64_t i = s->count;
    cb_u128 sum = s->sum;
    for (uint32_t j = 0; j < n; j++, p += 4) {
        uint32_t k = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                     ((uint32_t)p[2] << 8) | p[3];
        sum += (cb_u128)(++i * (uint64_t)k);
    }
    s->count = i;
    s->sum = sum;
}

int cb_u128_format(cb_u128 v, char *out, size_t outsz)
{
    char tmp[48];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    char rev[48];
    for (int i = 0; i < n; i++)
        rev[i] = tmp[n - 1 - i];
    rev[n] = '\0';
    return snprintf(out, outsz, "%s", rev);
}

int cb_sum_format(const cb_sum *s, char *out, size_t outsz)
{
    char whole[48];
    cb_u128_format(s->sum / CB_SCALE, whole, sizeof whole);
    return snprintf(out, outsz, "(%llu, %s.%09u)", (unsigned long long)s->count, whole,
                    (unsigned)(s->sum % CB_SCALE));
}
