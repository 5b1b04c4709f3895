/* term.h - Erlang terms in C: validate, match, build.
 *
 * A cn_term is a view of one term in external term format (no version byte).
 * Every term that reaches protocol code has been through cn_term_check, which
 * walks it with bounds checks; the matcher and the ei decoders then never read
 * past its end.  Protocol code never counts buffer offsets: it matches with a
 * pattern and builds with a pattern.
 *
 * Pattern language (shared by cn_term_match and cn_term_build):
 *   {P, ...}     tuple of exactly these elements
 *   [P, ...]     proper list of exactly these elements
 *   name 'Name'  literal atom            -12 42   literal integer
 *   _            any term (match only)
 *   ~a  atom        match: char[CN_ATOM_BUF]        build: const char *
 *   ~A  atom equal  match: const char * to compare  build: -
 *   ~i  int         match: int *                    build: int
 *   ~l  long        match: long *                   build: long
 *   ~u  unsigned 64 match: uint64_t *                build: uint64_t
 *   ~f  float       match: double *                 build: double
 *   ~b  binary      match: const char **, size_t *  build: const void *, size_t
 *   ~s  binary      match: char *buf, size_t bufsz (NUL-terminated copy)
 *                                                   build: const char * (C string)
 *   ~p  pid         match: cn_pid *                 build: const cn_pid *
 *   ~r  ref         match: cn_ref *                 build: const cn_ref *
 *   ~t  any term    match: cn_term *                build: const cn_term *
 *   ~L  list        match: cn_term * (a list, [] or string) build: -
 *   ~M  map         match: cn_term *                build: -
 * Whitespace and commas separate elements.  A malformed pattern is a bug in
 * the caller: match returns 0, build marks the buffer failed.
 */
#ifndef CN_TERM_H
#define CN_TERM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define CN_ATOM_BUF 1024          /* holds any atom (255 chars of UTF-8) */
#define CN_MAX_REF_WORDS 5

/* Interned atom (node names of pids and refs).  Equal names give the same
 * pointer, so comparison is pointer equality.  A name interned here, or
 * met in a pid or ref decoded by the functions below, is kept for the
 * process's life (atom.c says which others are reclaimed). */
typedef const char *cn_atom;
cn_atom cn_atom_intern(const char *s, size_t len);   /* NULL: table full */
void    cn_atom_cleanup(void);                       /* at exit, for leak checks */
void    cn_atom_set_limit(unsigned max);   /* tests: a cap below 65,536 (0: 65,536) */

/* The runtime's side of atom.c: names it holds itself (weak: freed by a
 * sweep once nothing marks them), lookups that add nothing, keeping a name
 * handed out, and the sweep (mark calls cn__atom_mark on every name in
 * use).  sweep_wanted: 0 no, 1 when convenient, 2 now. */
cn_atom cn__atom_intern_weak(const char *s, size_t len);
cn_atom cn__atom_find(const char *s, size_t len);
void    cn__atom_keep(cn_atom a);
size_t  cn__atom_count(void);
void    cn__atom_node_count(int delta);
int     cn__atom_sweep_wanted(void);
void    cn__atom_mark(cn_atom a);
size_t  cn__atom_sweep(void (*mark)(void *ud), void *ud);

typedef struct cn_pid {
    cn_atom  node;
    uint32_t num, serial, creation;
} cn_pid;

typedef struct cn_ref {
    cn_atom  node;
    uint32_t creation;
    uint32_t len;                   /* words used, 1..5 */
    uint32_t n[CN_MAX_REF_WORDS];
} cn_ref;

typedef struct cn_term {
    const char *data;
    size_t      len;
} cn_term;

int cn_pid_eq(const cn_pid *a, const cn_pid *b);
int cn_ref_eq(const cn_ref *a, const cn_ref *b);

/* Validation.  cn_term_check walks one term at buf[*pos], stopping at len;
 * on success *pos is just past it and 0 is returned; -1 on any malformation
 * (truncation, bad tag, absurd sizes, atom cache refs, compressed terms). */
int cn_term_check(const char *buf, size_t len, size_t *pos);
/* A whole buffer: version byte 131 then exactly one term. */
int cn_term_from_ext(const char *buf, size_t len, cn_term *out);

/* Matching a validated term. Returns 1 on match, 0 otherwise. */
int cn_term_match(const cn_term *t, const char *pattern, ...);

/* Iterating a validated list term (LIST_EXT, NIL_EXT or STRING_EXT).
 * cn_list_next returns 1 and the next element, 0 at the end, -1 if the list
 * is improper (the iterator stops). */
typedef struct cn_list_iter {
    const char *data;
    size_t      pos, end;
    uint32_t    left;
    int         string;             /* iterating a STRING_EXT */
    char        elem[2];            /* a small integer element of a string */
} cn_list_iter;
int cn_list_begin(cn_list_iter *it, const cn_term *list, uint32_t *count);
int cn_list_next(cn_list_iter *it, cn_term *elem);

/* Map iteration: each step gives a key and a value. */
typedef struct cn_map_iter {
    const char *data;
    size_t      pos, end;
    uint32_t    left;
} cn_map_iter;
int cn_map_begin(cn_map_iter *it, const cn_term *map, uint32_t *count);
int cn_map_next(cn_map_iter *it, cn_term *key, cn_term *value);

/* Element i (from 0) of a tuple, and its arity; -1 if not a tuple or out
 * of range. */
int cn_term_element(const cn_term *tuple, uint32_t i, cn_term *elem, uint32_t *arity);

/* Type queries of a validated term. */
int cn_term_is_atom(const cn_term *t, const char *name);
int cn_term_type(const cn_term *t);          /* the ext tag byte */
int cn_term_eq(const cn_term *a, const cn_term *b);  /* byte equality */

/* Building.  Appends to b; failures stick in b (cn_buf_failed). */
void cn_term_build(cn_buf *b, const char *pattern, ...);
void cn_term_vbuild(cn_buf *b, const char *pattern, va_list ap);
void cn_term_put_atom(cn_buf *b, const char *atom);
void cn_term_put_atom_len(cn_buf *b, const char *atom, size_t len);
void cn_term_put_long(cn_buf *b, long long v);
void cn_term_put_ulong(cn_buf *b, unsigned long long v);
void cn_term_put_double(cn_buf *b, double v);
void cn_term_put_binary(cn_buf *b, const void *p, size_t n);
void cn_term_put_pid(cn_buf *b, const cn_pid *pid);
void cn_term_put_ref(cn_buf *b, const cn_ref *ref);
void cn_term_put_tuple(cn_buf *b, uint32_t arity);
void cn_term_put_list(cn_buf *b, uint32_t n);  /* then n elements and a tail */
void cn_term_put_nil(cn_buf *b);
void cn_term_put_map(cn_buf *b, uint32_t pairs);
void cn_term_put_term(cn_buf *b, const cn_term *t);
/* A built term as a view; valid until b changes. */
static inline cn_term cn_buf_term(const cn_buf *b, size_t from)
{ cn_term t = { b->data + from, b->len - from }; return t; }

/* Decoding single values from the front of a validated term. */
int cn_term_get_pid(const cn_term *t, cn_pid *out);
int cn_term_get_ref(const cn_term *t, cn_ref *out);
int cn_term_get_long(const cn_term *t, long long *out);

/* The runtime's decoding: as cn_term_match and cn_term_get_pid/ref, but
 * the node names met are weak (atom.c), or not looked at (node NULL).
 * Weak only for pids and refs that stay in the runtime, never for ones
 * handed to other code. */
enum { CN_NODE_KEEP, CN_NODE_WEAK, CN_NODE_SKIP };
int cn__term_match_weak(const cn_term *t, const char *pattern, ...);
int cn__term_get_pid(const cn_term *t, cn_pid *out, int names);
int cn__term_get_ref(const cn_term *t, cn_ref *out, int names);

/* Printing for logs: like io_lib:format("~p"), truncated to fit. */
void cn_term_format(const cn_term *t, char *out, size_t outsz);

#endif
