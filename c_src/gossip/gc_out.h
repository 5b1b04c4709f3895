/* gc_out.h - what the chat prints on stdout: lines for a person
 * ("[sender] text", "* bob@host joined"), or one JSON object per line for
 * scripts and tests (docs/gossip.md lists every event and field).
 *
 * On a terminal (tty set) every line goes above the prompt (gc_tty.h) with
 * the time in front, and membership notices do not flap: that a node left
 * (or is gone) is shown only once it has stayed away GC_OUT_SETTLE_MS; if
 * it comes back before, neither the leaving nor the return is shown.
 * Without a terminal the lines are exactly as before (scripts parse them).
 */
#ifndef GC_OUT_H
#define GC_OUT_H

#include <stdio.h>

#include "gc_core.h"
#include "gc_tty.h"

#define GC_OUT_SETTLE_MS 3000

typedef struct gc_out_held gc_out_held;

typedef struct gc_out {
    FILE        *f;
    int          json;
    gc_tty      *tty;            /* NULL: plain lines on f */
    gc_out_held *held;           /* notices held back (terminal only) */
    size_t       nheld;
} gc_out;

void gc_out_event(gc_out *o, const gc_event *e);
/* The answer to /peers. */
void gc_out_members(gc_out *o, const char *const *names, size_t n);
/* A notice: kind "info" or "error". */
void gc_out_notice(gc_out *o, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shows the held notices that have settled (all of them if all is set);
 * now is CLOCK_MONOTONIC milliseconds (0: read the clock). */
void gc_out_tick(gc_out *o, uint64_t now, int all);
void gc_out_free(gc_out *o);

#endif
