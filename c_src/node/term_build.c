/* term_build.c - building terms into a cn_buf, by call or by pattern.
 *
 * The encoders are ei's: each value is sized with a NULL buffer, then written
 * in place.  The pattern builder parses the same language as the matcher
 * (term.h) and takes its values from the argument list.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "term.h"
#include "term_ext.h"

/* Runs an ei encoder twice: once to size it, once to write it. */
#define EI_PUT(b, enc, ...)                                                 \
    do {                                                                    \
        int n_ = 0;                                                         \
        if (enc(NULL, &n_, __VA_ARGS__) < 0) {                              \
            (b)->failed = 1;                                                \
            break;                                                          \
        }                                                                   \
        char *dst_ = cn_buf_grow((b), (size_t)n_);                          \
        if (!dst_)                                                          \
            break;                                                          \
        n_ = 0;                                                             \
        enc(dst_, &n_, __VA_ARGS__);                                        \
    } while (0)

void cn_term_put_atom_len(cn_buf *b, const char *atom, size_t len)
{
    if (len > CN_ATOM_BUF - 4) {
        b->failed = 1;
        return;
    }
    if (len < 256) {
        cn_buf_put8(b, CN_EXT_SMALL_ATOM_UTF8);
        cn_buf_put8(b, (uint8_t)len);
    } else {
        cn_buf_put8(b, CN_EXT_ATOM_UTF8);
        cn_buf_put16(b, (uint16_t)len);
    }
    cn_buf_append(b, atom, len);
}

void cn_term_put_atom(cn_buf *b, const char *atom)
{
    cn_term_put_atom_len(b, atom, strlen(atom));
}

void cn_term_put_long(cn_buf *b, long long v)
{
    EI_PUT(b, ei_encode_longlong, v);
}

void cn_term_put_ulong(cn_buf *b, unsigned long long v)
{
    EI_PUT(b, ei_encode_ulonglong, v);
}

void cn_term_put_double(cn_buf *b, double v)
{
    EI_PUT(b, ei_encode_double, v);
}

void cn_term_put_binary(cn_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->failed = 1;
        return;
    }
    cn_buf_put8(b, CN_EXT_BINARY);
    cn_buf_put32(b, (uint32_t)n);
    cn_buf_append(b, p, n);
}

/* Pids and refs: the interned node name goes straight into the buffer; ei's
 * erlang_pid would copy it into a 1 KiB struct for every encode. */
void cn_term_put_pid(cn_buf *b, const cn_pid *pid)
{
    cn_buf_put8(b, CN_EXT_NEW_PID);
    cn_term_put_atom(b, pid->node);
    cn_buf_put32(b, pid->num);
    cn_buf_put32(b, pid->serial);
    cn_buf_put32(b, pid->creation);
}

void cn_term_put_ref(cn_buf *b, const cn_ref *ref)
{
    if (ref->len < 1 || ref->len > CN_MAX_REF_WORDS) {
        b->failed = 1;
        return;
    }
    cn_buf_put8(b, CN_EXT_NEWER_REFERENCE);
    cn_buf_put16(b, (uint16_t)ref->len);
    cn_term_put_atom(b, ref->node);
    cn_buf_put32(b, ref->creation);
    for (uint32_t i = 0; i < ref->len; i++)
        cn_buf_put32(b, ref->n[i]);
}

void cn_term_put_tuple(cn_buf *b, uint32_t arity)
{
    EI_PUT(b, ei_encode_tuple_header, (int)arity);
}

void cn_term_put_list(cn_buf *b, uint32_t n)
{
    EI_PUT(b, ei_encode_list_header, (int)n);
}

void cn_term_put_nil(cn_buf *b) { cn_buf_put8(b, CN_EXT_NIL); }

void cn_term_put_map(cn_buf *b, uint32_t pairs)
{
    EI_PUT(b, ei_encode_map_header, (int)pairs);
}

void cn_term_put_term(cn_buf *b, const cn_term *t)
{
    if (!t || !t->len) {
        b->failed = 1;
        return;
    }
    cn_buf_append(b, t->data, t->len);
}

/* ---- pattern builder ---------------------------------------------------- */

typedef struct builder {
    const char *pat;
    cn_buf *b;
    va_list *ap;
} builder;

static void skip_sep(builder *s)
{
    while (*s->pat == ' ' || *s->pat == ',' || *s->pat == '\t' || *s->pat == '\n')
        s->pat++;
}

static int build_elem(builder *s);

/* Counts the elements up to the matching close bracket. */
static int count_elems(const char *p, char close, uint32_t *n)
{
    int depth = 0;
    int in_elem = 0;
    *n = 0;
    for (; *p; p++) {
        char c = *p;
        if (c == '\'') {
            const char *e = strchr(p + 1, '\'');
            if (!e)
                return -1;
            if (depth == 0 && !in_elem) {
                (*n)++;
                in_elem = 1;
            }
            p = e;
            continue;
        }
        if (depth == 0 && c == close)
            return 0;
        if (c == '{' || c == '[') {
            if (depth == 0 && !in_elem) {
                (*n)++;
                in_elem = 1;
            }
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0)
                return -1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n')) {
            in_elem = 0;
        } else if (depth == 0 && !in_elem) {
            (*n)++;
            in_elem = 1;
            if (c == '~' && p[1])
                p++;                /* "~," is not a separator */
        }
    }
    return -1;
}

/* Builds the n elements count_elems found; any other number (elements run
 * together, or a '-' that parses as nothing) is a malformed pattern. */
static int build_seq(builder *s, char close, uint32_t n)
{
    for (uint32_t built = 0;; built++) {
        skip_sep(s);
        if (*s->pat == close) {
            s->pat++;
            return built == n ? 0 : -1;
        }
        if (!*s->pat || built == n || build_elem(s) < 0)
            return -1;
    }
}

static int build_capture(builder *s, char code)
{
    cn_buf *b = s->b;
    switch (code) {
    case 'a': cn_term_put_atom(b, va_arg(*s->ap, const char *)); return 0;
    case 'i': cn_term_put_long(b, va_arg(*s->ap, int)); return 0;
    case 'l': cn_term_put_long(b, va_arg(*s->ap, long)); return 0;
    case 'u': cn_term_put_ulong(b, va_arg(*s->ap, uint64_t)); return 0;
    case 'f': cn_term_put_double(b, va_arg(*s->ap, double)); return 0;
    case 'b': {
        const void *p = va_arg(*s->ap, const void *);
        size_t n = va_arg(*s->ap, size_t);
        cn_term_put_binary(b, p, n);
        return 0;
    }
    case 's': {
        const char *str = va_arg(*s->ap, const char *);
        cn_term_put_binary(b, str, strlen(str));
        return 0;
    }
    case 'p': cn_term_put_pid(b, va_arg(*s->ap, const cn_pid *)); return 0;
    case 'r': cn_term_put_ref(b, va_arg(*s->ap, const cn_ref *)); return 0;
    case 't': cn_term_put_term(b, va_arg(*s->ap, const cn_term *)); return 0;
    default:  return -1;
    }
}

static int build_elem(builder *s)
{
    skip_sep(s);
    char c = *s->pat;
    uint32_t n;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        s->pat++;
        if (count_elems(s->pat, close, &n) < 0)
            return -1;
        if (c == '{') {
            cn_term_put_tuple(s->b, n);
            return build_seq(s, close, n);
        }
        if (n > 0)
            cn_term_put_list(s->b, n);
        if (build_seq(s, close, n) < 0)
            return -1;
        cn_term_put_nil(s->b);
        return 0;
    }
    if (c == '~') {
        char code = s->pat[1];
        if (!code)
            return -1;
        s->pat += 2;
        return build_capture(s, code);
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *endp;
        long long v = strtoll(s->pat, &endp, 10);
        s->pat = endp;
        cn_term_put_long(s->b, v);
        return 0;
    }
    if (c == '\'') {
        const char *a = ++s->pat;
        const char *e = strchr(a, '\'');
        if (!e)
            return -1;
        s->pat = e + 1;
        cn_term_put_atom_len(s->b, a, (size_t)(e - a));
        return 0;
    }
    if (islower((unsigned char)c)) {
        const char *a = s->pat;
        while (isalnum((unsigned char)*s->pat) || *s->pat == '_' || *s->pat == '@')
            s->pat++;
        cn_term_put_atom_len(s->b, a, (size_t)(s->pat - a));
        return 0;
    }
    return -1;
}

void cn_term_vbuild(cn_buf *b, const char *pattern, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    builder s = { pattern, b, &copy };
    if (build_elem(&s) < 0)
        b->failed = 1;
    skip_sep(&s);
    if (*s.pat)
        b->failed = 1;
    va_end(copy);
}

void cn_term_build(cn_buf *b, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    cn_term_vbuild(b, pattern, ap);
    va_end(ap);
}
