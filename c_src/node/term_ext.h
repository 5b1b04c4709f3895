/* term_ext.h - tags of the external term format (erts' external.h). */
#ifndef CN_TERM_EXT_H
#define CN_TERM_EXT_H

enum {
    CN_EXT_VERSION         = 131,
    CN_EXT_NEW_FLOAT       = 70,
    CN_EXT_BIT_BINARY      = 77,
    CN_EXT_NEW_PID         = 88,
    CN_EXT_NEW_PORT        = 89,
    CN_EXT_NEWER_REFERENCE = 90,
    CN_EXT_SMALL_INTEGER   = 97,
    CN_EXT_INTEGER         = 98,
    CN_EXT_FLOAT           = 99,
    CN_EXT_ATOM            = 100,
    CN_EXT_REFERENCE       = 101,
    CN_EXT_PORT            = 102,
    CN_EXT_PID             = 103,
    CN_EXT_SMALL_TUPLE     = 104,
    CN_EXT_LARGE_TUPLE     = 105,
    CN_EXT_NIL             = 106,
    CN_EXT_STRING          = 107,
    CN_EXT_LIST            = 108,
    CN_EXT_BINARY          = 109,
    CN_EXT_SMALL_BIG       = 110,
    CN_EXT_LARGE_BIG       = 111,
    CN_EXT_NEW_FUN         = 112,
    CN_EXT_EXPORT          = 113,
    CN_EXT_NEW_REFERENCE   = 114,
    CN_EXT_SMALL_ATOM      = 115,
    CN_EXT_MAP             = 116,
    CN_EXT_FUN             = 117,
    CN_EXT_ATOM_UTF8       = 118,
    CN_EXT_SMALL_ATOM_UTF8 = 119,
    CN_EXT_V4_PORT         = 120,
};

#include <stddef.h>
#include <stdint.h>

/* Reads the atom at d[*pos] of a validated term: its bytes and whether they
 * are Latin-1 (old ATOM_EXT/SMALL_ATOM_EXT).  Returns -1 if not an atom. */
static inline int cn_ext_atom(const unsigned char *d, size_t *pos,
                              const unsigned char **s, size_t *n, int *latin1)
{
    size_t p = *pos;
    switch (d[p]) {
    case CN_EXT_SMALL_ATOM:
    case CN_EXT_SMALL_ATOM_UTF8:
        *n = d[p + 1];
        *s = d + p + 2;
        *latin1 = d[p] == CN_EXT_SMALL_ATOM;
        *pos = p + 2 + *n;
        return 0;
    case CN_EXT_ATOM:
    case CN_EXT_ATOM_UTF8:
        *n = ((size_t)d[p + 1] << 8) | d[p + 2];
        *s = d + p + 3;
        *latin1 = d[p] == CN_EXT_ATOM;
        *pos = p + 3 + *n;
        return 0;
    default:
        return -1;
    }
}

/* Copies an atom's text as UTF-8 into out (size >= CN_ATOM_BUF). */
size_t cn_ext_atom_utf8(const unsigned char *s, size_t n, int latin1, char *out);

#endif
