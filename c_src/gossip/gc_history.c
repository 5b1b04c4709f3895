/* gc_history.c - the lines a node has shown lately, so that lines sent on
 * one side of a partition reach the other side once it heals.
 *
 * Every line shown here (ours included) is kept in show order, at most
 * history_lines of them, none shown longer than history_ms ago, and at most
 * GC_HISTORY_BYTES of names and text; the oldest go first.  A node that
 * lost touch with us (it suspected or removed us, and we refuted) and has us
 * as a neighbour asks, {catch_up, Node, Ms}, for the lines we showed in the
 * last Ms (gc_core.c); we send them as ordinary chat messages.  It shows
 * those it lacks, marked late if it already showed a newer line of the same
 * sender, and floods them on; its de-duplication (ids kept at least
 * history_ms) drops the rest.  Every edge of the healed overlay that
 * crosses the old cut joins two such nodes, so each side's lines reach the
 * other.
 */
#include <stdlib.h>
#include <string.h>

#include "gc_int.h"

#define GC_HISTORY_BYTES (32u << 20)

static gc_line *at(const gc_history *h, size_t i) { return h->ring[(h->head + i) % h->cap]; }

static void drop_oldest(gc_history *h)
{
    gc_line *l = h->ring[h->head];
    h->bytes -= l->sender_len + l->text_len;
    free(l);
    h->head = (h->head + 1) % h->cap;
    h->count--;
}

static int grow(gc_history *h)
{
    size_t cap = h->cap ? h->cap * 2 : 64;
    gc_line **r = malloc(cap * sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < h->count; i++)
        r[i] = at(h, i);
    free(h->ring);
    h->ring = r;
    h->cap = cap;
    h->head = 0;
    return 0;
}

void gc_history_add(gc_core *c, const char *sender, uint64_t id, const char *text, size_t len,
                    uint64_t now)
{
    gc_history *h = &c->history;
    size_t slen = strlen(sender);
    if (!c->p.history_lines || slen + len > GC_HISTORY_BYTES)
        return;
    while (h->count && (h->count >= c->p.history_lines ||
                        h->bytes + slen + len > GC_HISTORY_BYTES))
        drop_oldest(h);
    gc_line *l = malloc(sizeof *l + slen + 1 + len);
    if (!l || (h->count == h->cap && grow(h) < 0)) {
        free(l);
        gc_logf(c, "out of memory for the line history: a line may not be resent after a heal");
        return;
    }
    l->id = id;
    l->shown = now;
    l->text_len = len;
    l->sender_len = (uint16_t)slen;
    memcpy(l->data, sender, slen + 1);
    memcpy(l->data + slen + 1, text, len);
    h->ring[(h->head + h->count) % h->cap] = l;
    h->count++;
    h->bytes += slen + len;
}

void gc_history_trim(gc_core *c, uint64_t now)
{
    gc_history *h = &c->history;
    while (h->count && now - h->ring[h->head]->shown > c->p.history_ms)
        drop_oldest(h);
}

/* Every line shown at or after `since`, except the node's own, to it. */
void gc_history_resend(gc_core *c, const char *to, uint64_t since)
{
    gc_history *h = &c->history;
    gc_member *m = gc_table_find(&c->members, to);
    gc_history_trim(c, c->now);
    for (size_t i = 0; i < h->count; i++) {
        gc_line *l = at(h, i);
        if (l->shown < since || strcmp(l->data, to) == 0)
            continue;
        gc_msg msg = { .type = GC_CHAT, .node = l->data, .text = l->data + l->sender_len + 1,
                       .text_len = l->text_len, .num = l->id };
        c->stats.resent++;
        gc_send(c, m, to, &msg);
    }
}

void gc_history_free(gc_history *h)
{
    while (h->count)
        drop_oldest(h);
    free(h->ring);
    memset(h, 0, sizeof *h);
}
