/* gc_out.h - what the chat prints on stdout: lines for a person
 * ("[sender] text", "* bob@host joined"), or one JSON object per line for
 * scripts and tests (docs/gossip.md lists every event and field).
 */
#ifndef GC_OUT_H
#define GC_OUT_H

#include <stdio.h>

#include "gc_core.h"

typedef struct gc_out {
    FILE *f;
    int   json;
} gc_out;

void gc_out_event(gc_out *o, const gc_event *e);
/* The answer to /peers. */
void gc_out_members(gc_out *o, const char *const *names, size_t n);
/* A notice: kind "info" or "error". */
void gc_out_notice(gc_out *o, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
