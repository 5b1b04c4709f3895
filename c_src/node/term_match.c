/* term_match.c - pattern matching and decoding of validated terms.
 *
 * Everything here assumes the term passed cn_term_check; reads stay inside
 * it.  The pattern language is described in term.h.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "term.h"
#include "term_ext.h"

size_t cn_ext_atom_utf8(const unsigned char *s, size_t n, int latin1, char *out)
{
    size_t o = 0;
    if (!latin1) {
        memcpy(out, s, n);
        o = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] < 0x80) {
                out[o++] = (char)s[i];
            } else {
                out[o++] = (char)(0xC0 | (s[i] >> 6));
                out[o++] = (char)(0x80 | (s[i] & 0x3F));
            }
        }
    }
    out[o] = '\0';
    return o;
}

int cn_pid_eq(const cn_pid *a, const cn_pid *b)
{
    return a->node == b->node && a->num == b->num && a->serial == b->serial &&
           a->creation == b->creation;
}

int cn_ref_eq(const cn_ref *a, const cn_ref *b)
{
    if (a->node != b->node || a->creation != b->creation || a->len != b->len)
        return 0;
    return memcmp(a->n, b->n, a->len * sizeof a->n[0]) == 0;
}

/* ---- single values ------------------------------------------------------ */

static size_t skip(const char *d, size_t end, size_t pos)
{
    if (cn_term_check(d, end, &pos) < 0)
        return end + 1;             /* cannot happen on validated input */
    return pos;
}

/* names: CN_NODE_KEEP, _WEAK (the runtime's, atom.c) or _SKIP (NULL). */
static int get_atom_node(const char *d, size_t *pos, cn_atom *node, int names)
{
    const unsigned char *s;
    size_t n;
    int latin1;
    char buf[CN_ATOM_BUF];
    /* a node name is alive@host: it never holds a NUL (which would also cut
     * it short when it is encoded again) */
    if (cn_ext_atom((const unsigned char *)d, pos, &s, &n, &latin1) < 0 || memchr(s, 0, n))
        return -1;
    if (names == CN_NODE_SKIP) {
        *node = NULL;
        return 0;
    }
    n = cn_ext_atom_utf8(s, n, latin1, buf);
    *node = names == CN_NODE_WEAK ? cn__atom_intern_weak(buf, n) : cn_atom_intern(buf, n);
    return *node ? 0 : -1;
}

static int get_pid(const char *d, size_t *pos, cn_pid *out, int names)
{
    size_t p = *pos;
    int tag = (unsigned char)d[p++];
    if (tag != CN_EXT_NEW_PID && tag != CN_EXT_PID)
        return -1;
    if (get_atom_node(d, &p, &out->node, names) < 0)
        return -1;
    const unsigned char *u = (const unsigned char *)d + p;
    out->num = cn_get32(u);
    out->serial = cn_get32(u + 4);
    out->creation = tag == CN_EXT_NEW_PID ? cn_get32(u + 8) : u[8];
    *pos = p + (tag == CN_EXT_NEW_PID ? 12 : 9);
    return 0;
}

static int get_ref(const char *d, size_t *pos, cn_ref *out, int names)
{
    size_t p = *pos;
    int tag = (unsigned char)d[p++];
    const unsigned char *u;
    memset(out, 0, sizeof *out);
    if (tag == CN_EXT_REFERENCE) {
        if (get_atom_node(d, &p, &out->node, names) < 0)
            return -1;
        u = (const unsigned char *)d + p;
        out->len = 1;
        out->n[0] = cn_get32(u);
        out->creation = u[4];
        *pos = p + 5;
        return 0;
    }
    if (tag != CN_EXT_NEW_REFERENCE && tag != CN_EXT_NEWER_REFERENCE)
        return -1;
    out->len = cn_get16((const unsigned char *)d + p);
    p += 2;
    if (get_atom_node(d, &p, &out->node, names) < 0)
        return -1;
    u = (const unsigned char *)d + p;
    if (tag == CN_EXT_NEW_REFERENCE) {
        out->creation = u[0];
        u += 1;
        p += 1;
    } else {
        out->creation = cn_get32(u);
        u += 4;
        p += 4;
    }
    for (uint32_t i = 0; i < out->len; i++)
        out->n[i] = cn_get32(u + 4 * i);
    *pos = p + 4 * out->len;
    return 0;
}

static int get_long(const char *d, size_t *pos, long long *out)
{
    int idx = (int)*pos;
    if (ei_decode_longlong(d, &idx, out) < 0)
        return -1;
    *pos = (size_t)idx;
    return 0;
}

static int get_ulong(const char *d, size_t *pos, unsigned long long *out)
{
    int idx = (int)*pos;
    if (ei_decode_ulonglong(d, &idx, out) < 0)
        return -1;
    *pos = (size_t)idx;
    return 0;
}

static int get_double(const char *d, size_t *pos, double *out)
{
    int idx = (int)*pos;
    if ((unsigned char)d[*pos] == CN_EXT_FLOAT) {
        /* ei sscanf()s the 31 text bytes as a C string: on a NUL-terminated
         * copy, so it reads neither the next term nor past the buffer. */
        char text[1 + 31 + 1];
        memcpy(text, d + *pos, 1 + 31);
        text[1 + 31] = '\0';
        idx = 0;
        if (ei_decode_double(text, &idx, out) < 0)
            return -1;
        *pos += 1 + 31;
        return 0;
    }
    if (ei_decode_double(d, &idx, out) < 0)
        return -1;
    *pos = (size_t)idx;
    return 0;
}

static int get_binary(const char *d, size_t *pos, const char **p, size_t *n)
{
    if ((unsigned char)d[*pos] != CN_EXT_BINARY)
        return -1;
    *n = cn_get32((const unsigned char *)d + *pos + 1);
    *p = d + *pos + 5;
    *pos += 5 + *n;
    return 0;
}

int cn__term_get_pid(const cn_term *t, cn_pid *out, int names)
{
    size_t pos = 0;
    return t->len ? get_pid(t->data, &pos, out, names) : -1;
}

int cn__term_get_ref(const cn_term *t, cn_ref *out, int names)
{
    size_t pos = 0;
    return t->len ? get_ref(t->data, &pos, out, names) : -1;
}

int cn_term_get_pid(const cn_term *t, cn_pid *out)
{
    return cn__term_get_pid(t, out, CN_NODE_KEEP);
}

int cn_term_get_ref(const cn_term *t, cn_ref *out)
{
    return cn__term_get_ref(t, out, CN_NODE_KEEP);
}

int cn_term_get_long(const cn_term *t, long long *out)
{
    size_t pos = 0;
    return t->len ? get_long(t->data, &pos, out) : -1;
}

int cn_term_type(const cn_term *t) { return t->len ? (unsigned char)t->data[0] : -1; }

int cn_term_eq(const cn_term *a, const cn_term *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static int atom_is(const char *d, size_t *pos, const char *name, size_t namelen)
{
    const unsigned char *s;
    size_t n;
    int latin1;
    char buf[CN_ATOM_BUF];
    if (cn_ext_atom((const unsigned char *)d, pos, &s, &n, &latin1) < 0)
        return 0;
    if (latin1) {
        n = cn_ext_atom_utf8(s, n, latin1, buf);
        s = (const unsigned char *)buf;
    }
    return n == namelen && memcmp(s, name, n) == 0;
}

int cn_term_is_atom(const cn_term *t, const char *name)
{
    size_t pos = 0;
    return t->len && atom_is(t->data, &pos, name, strlen(name));
}

int cn_term_element(const cn_term *t, uint32_t i, cn_term *elem, uint32_t *arity)
{
    const unsigned char *u = (const unsigned char *)t->data;
    uint32_t n;
    size_t pos;
    if (t->len < 2)
        return -1;
    if (u[0] == CN_EXT_SMALL_TUPLE) {
        n = u[1];
        pos = 2;
    } else if (u[0] == CN_EXT_LARGE_TUPLE) {
        n = cn_get32(u + 1);
        pos = 5;
    } else {
        return -1;
    }
    if (arity)
        *arity = n;
    if (i >= n)
        return -1;
    for (uint32_t k = 0; k < i; k++)
        pos = skip(t->data, t->len, pos);
    if (pos >= t->len)
        return -1;
    elem->data = t->data + pos;
    elem->len = skip(t->data, t->len, pos) - pos;
    return 0;
}

/* ---- lists and maps ----------------------------------------------------- */

int cn_list_begin(cn_list_iter *it, const cn_term *list, uint32_t *count)
{
    const unsigned char *u = (const unsigned char *)list->data;
    memset(it, 0, sizeof *it);
    it->data = list->data;
    it->end = list->len;
    if (!list->len)
        return -1;
    switch (u[0]) {
    case CN_EXT_NIL:
        it->left = 0;
        break;
    case CN_EXT_STRING:
        it->left = cn_get16(u + 1);
        it->pos = 3;
        it->string = 1;
        break;
    case CN_EXT_LIST:
        it->left = cn_get32(u + 1);
        it->pos = 5;
        break;
    default:
        return -1;
    }
    if (count)
        *count = it->left;
    return 0;
}

int cn_list_next(cn_list_iter *it, cn_term *elem)
{
    if (it->left == 0) {
        /* a LIST_EXT must end with [] to be proper */
        if (!it->string && it->pos > 0 && it->pos < it->end &&
            (unsigned char)it->data[it->pos] != CN_EXT_NIL)
            return -1;
        return 0;
    }
    it->left--;
    if (it->string) {
        it->elem[0] = (char)CN_EXT_SMALL_INTEGER;
        it->elem[1] = it->data[it->pos++];
        elem->data = it->elem;
        elem->len = 2;
        return 1;
    }
    size_t next = skip(it->data, it->end, it->pos);
    if (next > it->end)
        return -1;
    elem->data = it->data + it->pos;
    elem->len = next - it->pos;
    it->pos = next;
    return 1;
}

int cn_map_begin(cn_map_iter *it, const cn_term *map, uint32_t *count)
{
    memset(it, 0, sizeof *it);
    if (!map->len || (unsigned char)map->data[0] != CN_EXT_MAP)
        return -1;
    it->data = map->data;
    it->end = map->len;
    it->left = cn_get32((const unsigned char *)map->data + 1);
    it->pos = 5;
    if (count)
        *count = it->left;
    return 0;
}

int cn_map_next(cn_map_iter *it, cn_term *key, cn_term *value)
{
    if (it->left == 0)
        return 0;
    it->left--;
    size_t k = skip(it->data, it->end, it->pos);
    size_t v = skip(it->data, it->end, k);
    if (v > it->end)
        return -1;
    key->data = it->data + it->pos;
    key->len = k - it->pos;
    value->data = it->data + k;
    value->len = v - k;
    it->pos = v;
    return 1;
}

/* ---- the matcher -------------------------------------------------------- */

typedef struct matcher {
    const char *pat;
    const char *d;
    size_t end;
    va_list *ap;
    int names;                      /* CN_NODE_KEEP or CN_NODE_WEAK */
} matcher;

static void skip_sep(matcher *m)
{
    while (*m->pat == ' ' || *m->pat == ',' || *m->pat == '\t' || *m->pat == '\n')
        m->pat++;
}

static int match_elem(matcher *m, size_t *pos);

static int match_seq(matcher *m, size_t *pos, uint32_t arity, char close)
{
    uint32_t seen = 0;
    for (;;) {
        skip_sep(m);
        if (*m->pat == close) {
            m->pat++;
            return seen == arity;
        }
        if (!*m->pat || seen == arity)
            return 0;
        if (!match_elem(m, pos))
            return 0;
        seen++;
    }
}

/* SMALL_INTEGER_EXT encodings of 0..255: the elements of a STRING_EXT as
 * terms.  Static, so a ~t capture of one stays valid after the match. */
#define SI1(v) { (char)CN_EXT_SMALL_INTEGER, (char)(v) }
#define SI4(v) SI1(v), SI1((v) + 1), SI1((v) + 2), SI1((v) + 3)
#define SI16(v) SI4(v), SI4((v) + 4), SI4((v) + 8), SI4((v) + 12)
#define SI64(v) SI16(v), SI16((v) + 16), SI16((v) + 32), SI16((v) + 48)
static const char small_ints[256][2] = { SI64(0), SI64(64), SI64(128), SI64(192) };

static int match_string_list(matcher *m, size_t *pos)
{
    /* A STRING_EXT against a list pattern: each byte is a small integer. */
    const unsigned char *u = (const unsigned char *)m->d + *pos;
    uint32_t n = cn_get16(u + 1);
    matcher sub;
    for (uint32_t i = 0;; i++) {
        skip_sep(m);
        if (*m->pat == ']') {
            m->pat++;
            *pos += 3 + n;
            return i == n;
        }
        if (!*m->pat || i == n)
            return 0;
        sub.pat = m->pat;
        sub.d = small_ints[u[3 + i]];
        sub.end = 2;
        sub.ap = m->ap;
        sub.names = m->names;
        size_t p = 0;
        int ok = match_elem(&sub, &p);
        m->pat = sub.pat;
        if (!ok)
            return 0;
    }
}

static int match_capture(matcher *m, size_t *pos, char code)
{
    const char *d = m->d;
    size_t start = *pos;
    int tag = (unsigned char)d[start];
    switch (code) {
    case 'a': {
        char *out = va_arg(*m->ap, char *);
        const unsigned char *s;
        size_t n;
        int latin1;
        if (cn_ext_atom((const unsigned char *)d, pos, &s, &n, &latin1) < 0)
            return 0;
        cn_ext_atom_utf8(s, n, latin1, out);
        return 1;
    }
    case 'A': {
        const char *want = va_arg(*m->ap, const char *);
        return atom_is(d, pos, want, strlen(want));
    }
    case 'i': case 'l': {
        long long v;
        if (get_long(d, pos, &v) < 0)
            return 0;
        if (code == 'i') {
            int *out = va_arg(*m->ap, int *);
            if (v < INT32_MIN || v > INT32_MAX)
                return 0;
            *out = (int)v;
        } else {
            *va_arg(*m->ap, long *) = (long)v;
        }
        return 1;
    }
    case 'u': {
        unsigned long long v;
        if (get_ulong(d, pos, &v) < 0)
            return 0;
        *va_arg(*m->ap, uint64_t *) = v;
        return 1;
    }
    case 'f':
        return get_double(d, pos, va_arg(*m->ap, double *)) == 0;
    case 'b': {
        const char **p = va_arg(*m->ap, const char **);
        size_t *n = va_arg(*m->ap, size_t *);
        return get_binary(d, pos, p, n) == 0;
    }
    case 's': {
        char *out = va_arg(*m->ap, char *);
        size_t outsz = va_arg(*m->ap, size_t);
        const char *p;
        size_t n;
        if (get_binary(d, pos, &p, &n) < 0 || n >= outsz || memchr(p, 0, n))
            return 0;
        memcpy(out, p, n);
        out[n] = '\0';
        return 1;
    }
    case 'p':
        return get_pid(d, pos, va_arg(*m->ap, cn_pid *), m->names) == 0;
    case 'r':
        return get_ref(d, pos, va_arg(*m->ap, cn_ref *), m->names) == 0;
    case 't': case 'L': case 'M': {
        cn_term *out = va_arg(*m->ap, cn_term *);
        if (code == 'L' && tag != CN_EXT_NIL && tag != CN_EXT_LIST && tag != CN_EXT_STRING)
            return 0;
        if (code == 'M' && tag != CN_EXT_MAP)
            return 0;
        *pos = skip(d, m->end, start);
        out->data = d + start;
        out->len = *pos - start;
        return *pos <= m->end;
    }
    default:
        return 0;                   /* bad pattern */
    }
}

static int match_elem(matcher *m, size_t *pos)
{
    skip_sep(m);
    if (*pos >= m->end)
        return 0;
    const char *d = m->d;
    int tag = (unsigned char)d[*pos];
    char c = *m->pat;

    if (c == '{') {
        uint32_t arity;
        m->pat++;
        if (tag == CN_EXT_SMALL_TUPLE) {
            arity = (unsigned char)d[*pos + 1];
            *pos += 2;
        } else if (tag == CN_EXT_LARGE_TUPLE) {
            arity = cn_get32((const unsigned char *)d + *pos + 1);
            *pos += 5;
        } else {
            return 0;
        }
        return match_seq(m, pos, arity, '}');
    }
    if (c == '[') {
        m->pat++;
        if (tag == CN_EXT_NIL) {
            *pos += 1;
            return match_seq(m, pos, 0, ']');
        }
        if (tag == CN_EXT_STRING)
            return match_string_list(m, pos);
        if (tag != CN_EXT_LIST)
            return 0;
        uint32_t n = cn_get32((const unsigned char *)d + *pos + 1);
        *pos += 5;
        if (!match_seq(m, pos, n, ']'))
            return 0;
        if ((unsigned char)d[*pos] != CN_EXT_NIL)
            return 0;               /* improper list */
        *pos += 1;
        return 1;
    }
    if (c == '~') {
        char code = m->pat[1];
        if (!code)
            return 0;
        m->pat += 2;
        return match_capture(m, pos, code);
    }
    if (c == '_' && !(isalnum((unsigned char)m->pat[1]) || m->pat[1] == '_')) {
        m->pat++;
        *pos = skip(d, m->end, *pos);
        return *pos <= m->end;
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *endp;
        long long want = strtoll(m->pat, &endp, 10);
        long long v;
        m->pat = endp;
        return get_long(d, pos, &v) == 0 && v == want;
    }
    if (c == '\'') {
        const char *s = ++m->pat;
        const char *e = strchr(s, '\'');
        if (!e)
            return 0;
        m->pat = e + 1;
        return atom_is(d, pos, s, (size_t)(e - s));
    }
    if (islower((unsigned char)c)) {
        const char *s = m->pat;
        while (isalnum((unsigned char)*m->pat) || *m->pat == '_' || *m->pat == '@')
            m->pat++;
        return atom_is(d, pos, s, (size_t)(m->pat - s));
    }
    return 0;                       /* bad pattern */
}

static int vmatch(const cn_term *t, int names, const char *pattern, va_list *ap)
{
    if (!t || !t->len)
        return 0;
    matcher m = { pattern, t->data, t->len, ap, names };
    size_t pos = 0;
    if (!match_elem(&m, &pos))
        return 0;
    skip_sep(&m);
    return *m.pat == '\0' && pos == t->len;
}

int cn_term_match(const cn_term *t, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    int ok = vmatch(t, CN_NODE_KEEP, pattern, &ap);
    va_end(ap);
    return ok;
}

int cn__term_match_weak(const cn_term *t, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    int ok = vmatch(t, CN_NODE_WEAK, pattern, &ap);
    va_end(ap);
    return ok;
}
