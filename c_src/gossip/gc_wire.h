/* gc_wire.h - the gossip chat's messages as Erlang terms (Gleam style:
 * records are tuples tagged with their snake_case name, strings are UTF-8
 * binaries, ids and incarnations non-negative integers):
 *
 *   {chat, Sender, Text, Id}            {peer_list, [Node]}
 *   {ping, Sender}     {pong, Sender}   {join, Node}     {leave, Node}
 *   {alive, Node, Incarnation}          {suspect, Node, Incarnation, By}
 *   {dead, Node, Incarnation, By}       {ping_req, Sender, Target}
 *   {catch_up, Node, Ms}
 *
 * Decoding checks everything: the shape, that names are node names, that a
 * text is UTF-8 and not too long, that numbers fit in 64 bits.  Anything
 * else is junk, with a reason to log.
 */
#ifndef GC_WIRE_H
#define GC_WIRE_H

#include "../node/term.h"
#include "gc_core.h"

#define GC_WIRE_MAX_LIST 16384       /* names in one peer_list */

/* Decoded strings live here until the next decode. */
typedef struct gc_wire_in {
    char        *names;              /* NUL-terminated names, back to back */
    size_t       names_cap;
    const char **list;
    size_t       list_cap;
    char         node[GC_NAME_MAX + 1], other[GC_NAME_MAX + 1];
} gc_wire_in;

/* 0 and *m on success; -1 with the reason in err for junk. */
int  gc_wire_decode(gc_wire_in *in, const cn_term *t, gc_msg *m, char *err, size_t errlen);
void gc_wire_in_free(gc_wire_in *in);
/* Appends m as a term to b (check cn_buf_failed). */
void gc_wire_encode(cn_buf *b, const gc_msg *m);
/* 1 if the len bytes at s are valid UTF-8. */
int  gc_utf8_valid(const char *s, size_t len);

#endif
