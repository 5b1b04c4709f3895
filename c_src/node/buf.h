/* buf.h - growable byte buffer.
 *
 * The one buffer type of the runtime: term building, connection output and
 * handshake messages all append to a cn_buf.  Allocation failure is sticky:
 * after it every append is a no-op and cn_buf_failed() reports it, so callers
 * check once at the end instead of after every append.
 */
#ifndef CN_BUF_H
#define CN_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cn_buf {
    char  *data;
    size_t len;
    size_t cap;
    int    failed;        /* allocation failed at some point */
} cn_buf;

void  cn_buf_init(cn_buf *b);
void  cn_buf_free(cn_buf *b);
void  cn_buf_reset(cn_buf *b);                 /* len = 0, keep memory */
int   cn_buf_reserve(cn_buf *b, size_t extra);  /* 0 ok, -1 no memory */
/* The capacity cn_buf_reserve(b, extra) would grow to (doubling). */
size_t cn_buf_cap_for(const cn_buf *b, size_t extra);
int   cn_buf_resize(cn_buf *b, size_t cap);     /* exactly cap >= len bytes */
char *cn_buf_grow(cn_buf *b, size_t n);        /* n bytes at the end, or NULL */
void  cn_buf_append(cn_buf *b, const void *p, size_t n);
void  cn_buf_put8(cn_buf *b, uint8_t v);
void  cn_buf_put16(cn_buf *b, uint16_t v);     /* big-endian */
void  cn_buf_put32(cn_buf *b, uint32_t v);
void  cn_buf_put64(cn_buf *b, uint64_t v);
void  cn_buf_consume(cn_buf *b, size_t n);     /* drop n bytes from the front */
void  cn_buf_swap(cn_buf *a, cn_buf *b);
static inline int cn_buf_failed(const cn_buf *b) { return b->failed; }

/* Big-endian loads used by every wire parser. */
static inline uint16_t cn_get16(const unsigned char *p)
{ return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t cn_get32(const unsigned char *p)
{ return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static inline uint64_t cn_get64(const unsigned char *p)
{ return ((uint64_t)cn_get32(p) << 32) | cn_get32(p + 4); }

#endif
