/* term_check.c - bounds-checked walk over external term format.
 *
 * ei's decoders take no buffer length, so nothing from the wire reaches them
 * before this walk has proved that the term is complete and well formed.  The
 * walk is iterative: it keeps a count of terms still to read instead of
 * recursing, so hostile nesting depth cannot exhaust the stack, and it rejects
 * any count larger than the bytes left (each term needs at least one byte).
 */
#include "term.h"
#include "term_ext.h"

typedef struct walker {
    const unsigned char *b;
    size_t len, pos;
    uint64_t need;                     /* terms still to read */
} walker;

static int take(walker *w, size_t n)
{
    if (n > w->len - w->pos)
        return -1;
    w->pos += n;
    return 0;
}

static int more(walker *w, uint64_t n)
{
    w->need += n;
    return w->need > w->len - w->pos ? -1 : 0;
}

static int atom_body(walker *w, int tag)
{
    size_t n;
    switch (tag) {
    case CN_EXT_SMALL_ATOM:
    case CN_EXT_SMALL_ATOM_UTF8:
        if (take(w, 1) < 0)
            return -1;
        n = w->b[w->pos - 1];
        break;
    case CN_EXT_ATOM:
    case CN_EXT_ATOM_UTF8:
        if (take(w, 2) < 0)
            return -1;
        n = cn_get16(w->b + w->pos - 2);
        if (n > CN_ATOM_BUF - 4 || (tag == CN_EXT_ATOM && n > 255))
            return -1;
        break;
    default:
        return -1;
    }
    return take(w, n);
}

/* An atom is required here (the node of a pid, port or ref). */
static int atom(walker *w)
{
    if (take(w, 1) < 0)
        return -1;
    return atom_body(w, w->b[w->pos - 1]);
}

static int one(walker *w)
{
    if (take(w, 1) < 0)
        return -1;
    int tag = w->b[w->pos - 1];
    const unsigned char *p = w->b + w->pos;
    size_t left = w->len - w->pos;
    uint32_t n;

    switch (tag) {
    case CN_EXT_SMALL_INTEGER: return take(w, 1);
    case CN_EXT_INTEGER:       return take(w, 4);
    case CN_EXT_FLOAT:         return take(w, 31);
    case CN_EXT_NEW_FLOAT:     return take(w, 8);
    case CN_EXT_ATOM:
    case CN_EXT_ATOM_UTF8:
    case CN_EXT_SMALL_ATOM:
    case CN_EXT_SMALL_ATOM_UTF8:
        return atom_body(w, tag);
    case CN_EXT_PID:           return atom(w) < 0 ? -1 : take(w, 9);
    case CN_EXT_NEW_PID:       return atom(w) < 0 ? -1 : take(w, 12);
    case CN_EXT_PORT:          return atom(w) < 0 ? -1 : take(w, 5);
    case CN_EXT_NEW_PORT:      return atom(w) < 0 ? -1 : take(w, 8);
    case CN_EXT_V4_PORT:       return atom(w) < 0 ? -1 : take(w, 12);
    case CN_EXT_REFERENCE:     return atom(w) < 0 ? -1 : take(w, 5);
    case CN_EXT_NEW_REFERENCE:
    case CN_EXT_NEWER_REFERENCE:
        if (left < 2)
            return -1;
        n = cn_get16(p);
        if (n < 1 || n > CN_MAX_REF_WORDS)
            return -1;
        w->pos += 2;
        if (atom(w) < 0)
            return -1;
        return take(w, (tag == CN_EXT_NEW_REFERENCE ? 1 : 4) + 4 * (size_t)n);
    case CN_EXT_SMALL_TUPLE:
        if (take(w, 1) < 0)
            return -1;
        return more(w, p[0]);
    case CN_EXT_LARGE_TUPLE:
        if (take(w, 4) < 0)
            return -1;
        return more(w, cn_get32(p));
    case CN_EXT_MAP:
        if (take(w, 4) < 0)
            return -1;
        return more(w, 2 * (uint64_t)cn_get32(p));
    case CN_EXT_NIL:
        return 0;
    case CN_EXT_STRING:
        if (take(w, 2) < 0)
            return -1;
        return take(w, cn_get16(p));
    case CN_EXT_LIST:
        if (take(w, 4) < 0)
            return -1;
        return more(w, (uint64_t)cn_get32(p) + 1);
    case CN_EXT_BINARY:
        if (take(w, 4) < 0)
            return -1;
        return take(w, cn_get32(p));
    case CN_EXT_BIT_BINARY:
        if (take(w, 5) < 0)
            return -1;
        n = cn_get32(p);
        if (p[4] < 1 || p[4] > 8 || n == 0)
            return -1;
        return take(w, n);
    case CN_EXT_SMALL_BIG:
        if (take(w, 2) < 0)
            return -1;
        if (p[1] > 1)
            return -1;
        return take(w, p[0]);
    case CN_EXT_LARGE_BIG:
        if (take(w, 5) < 0)
            return -1;
        if (p[4] > 1)
            return -1;
        return take(w, cn_get32(p));
    case CN_EXT_EXPORT:
        /* module atom, function atom, arity */
        return more(w, 3);
    case CN_EXT_NEW_FUN:
        /* Size:4 Arity:1 Uniq:16 Index:4 NumFree:4, then Module OldIndex
         * OldUniq Pid and NumFree free variables. */
        if (take(w, 29) < 0)
            return -1;
        return more(w, 4 + (uint64_t)cn_get32(p + 25));
    case CN_EXT_FUN:
        /* NumFree:4 Pid Module Index Uniq FreeVars */
        if (take(w, 4) < 0)
            return -1;
        return more(w, 4 + (uint64_t)cn_get32(p));
    default:
        /* ATOM_CACHE_REF, COMPRESSED, LOCAL and anything unknown: we never
         * negotiate the features that produce them. */
        return -1;
    }
}

int cn_term_check(const char *buf, size_t len, size_t *pos)
{
    if (!buf || *pos > len)
        return -1;
    walker w = { (const unsigned char *)buf, len, *pos, 1 };
    while (w.need > 0) {
        w.need--;
        if (one(&w) < 0)
            return -1;
    }
    *pos = w.pos;
    return 0;
}

int cn_term_from_ext(const char *buf, size_t len, cn_term *out)
{
    size_t pos = 1;
    if (len < 2 || (unsigned char)buf[0] != CN_EXT_VERSION)
        return -1;
    if (cn_term_check(buf, len, &pos) < 0 || pos != len)
        return -1;
    out->data = buf + 1;
    out->len = len - 1;
    return 0;
}
