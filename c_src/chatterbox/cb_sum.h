/* cb_sum.h - the task's result: (|m|, sum of i * m_i).
 *
 * Messages are folded in their final order, one at a time: the i-th adds
 * i * k_i to the sum, k_i being its fixed-point value (cb_rng.h).  The sum
 * is exact (128-bit integer); it is printed as a decimal with the nine
 * fractional digits of the fixed point, so every node that folded the same
 * messages in the same order prints the same bytes:
 *
 *   (3, 1.234567890)
 */
#ifndef CB_SUM_H
#define CB_SUM_H

#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 cb_u128;

typedef struct cb_sum {
    uint64_t count;              /* |m| */
    cb_u128  sum;                /* sum of i * k_i, in units of 1 / CB_SCALE */
} cb_sum;

static inline void cb_sum_add(cb_sum *s, uint32_t k)
{
    s->count++;
    s->sum += (cb_u128)(s->count * (uint64_t)k);
}

/* Folds n values stored as big-endian 32-bit words. */
void cb_sum_add_be(cb_sum *s, const uint8_t *vals, uint32_t n);

/* "(N, I.FFFFFFFFF)"; returns the length (output truncated to outsz). */
int cb_sum_format(const cb_sum *s, char *out, size_t outsz);
/* The sum alone as a decimal integer in units of 1 / CB_SCALE. */
int cb_u128_format(cb_u128 v, char *out, size_t outsz);

#endif
