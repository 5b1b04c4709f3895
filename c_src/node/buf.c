/* buf.c - growable byte buffer (see buf.h). */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void cn_buf_init(cn_buf *b) { memset(b, 0, sizeof *b); }

void cn_buf_free(cn_buf *b)
{
    free(b->data);
    cn_buf_init(b);
}

void cn_buf_reset(cn_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

size_t cn_buf_cap_for(const cn_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return b->cap;
    size_t need = b->len + extra;
    if (need < b->len)                 /* overflow */
        return SIZE_MAX;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    return cap;
}

int cn_buf_resize(cn_buf *b, size_t cap)
{
    if (b->failed || cap < b->len || cap == SIZE_MAX) {
        b->failed = 1;
        return -1;
    }
    if (cap == b->cap)
        return 0;
    char *p = realloc(b->data, cap ? cap : 1);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int cn_buf_reserve(cn_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    return cn_buf_resize(b, cn_buf_cap_for(b, extra));
}

char *cn_buf_grow(cn_buf *b, size_t n)
{
    if (cn_buf_reserve(b, n) < 0)
        return NULL;
    char *p = b->data + b->len;
    b->len += n;
    return p;
}

void cn_buf_append(cn_buf *b, const void *p, size_t n)
{
    char *d = cn_buf_grow(b, n);
    if (d && n)
        memcpy(d, p, n);
}

void cn_buf_put8(cn_buf *b, uint8_t v) { cn_buf_append(b, &v, 1); }

void cn_buf_put16(cn_buf *b, uint16_t v)
{
    unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };
    cn_buf_append(b, x, 2);
}

void cn_buf_put32(cn_buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    cn_buf_append(b, x, 4);
}

void cn_buf_put64(cn_buf *b, uint64_t v)
{
    cn_buf_put32(b, (uint32_t)(v >> 32));
    cn_buf_put32(b, (uint32_t)v);
}

void cn_buf_consume(cn_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void cn_buf_swap(cn_buf *a, cn_buf *b)
{
    cn_buf t = *a;
    *a = *b;
    *b = t;
}
