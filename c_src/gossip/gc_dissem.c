/* gc_dissem.c - dissemination: flooding over the view, and the set of chat
 * ids already shown.
 *
 * A message is flooded by each node whose state it changes, once, to every
 * neighbour, so it crosses each overlay edge at most twice and reaches every
 * node the overlay connects.  Chat lines are recognised by (sender, id),
 * kept as a 64-bit digest in two generations: a generation lives history_ms,
 * so an id is remembered for between one and two history_ms (as long as
 * any node keeps the line to resend it after a heal), far longer than
 * any flood lasts.
 */
#include <stdlib.h>
#include <string.h>

#include "gc_int.h"

#define GC_IDSET_MAX (1u << 22)      /* rotate early past this many ids */

void gc_flood(gc_core *c, const gc_msg *m, const char *skip)
{
    /* sending never changes the view, but copy it: a handler may */
    gc_member *to[GC_MAX_VIEW];
    size_t n = c->nview;
    memcpy(to, c->view, n * sizeof *to);
    for (size_t i = 0; i < n; i++)
        if (!skip || strcmp(to[i]->name, skip) != 0)
            gc_send(c, to[i], to[i]->name, m);
}

static uint64_t digest(const char *sender, uint64_t id)
{
    uint64_t h = gc_hash_name(sender, strlen(sender)) ^ (id * 0x9e3779b97f4a7c15ull);
    h = (h ^ (h >> 31)) * 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h ? h : 1;
}

static int idset_has(const gc_idset *s, uint64_t k)
{
    if (!s->cap)
        return 0;
    for (size_t i = (size_t)k & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->key[i] == k)
            return 1;
        if (!s->key[i])
            return 0;
    }
}

static void idset_put_raw(gc_idset *s, uint64_t k)
{
    size_t i = (size_t)k & (s->cap - 1);
    while (s->key[i])
        i = (i + 1) & (s->cap - 1);
    s->key[i] = k;
    s->count++;
}

static int idset_add(gc_idset *s, uint64_t k)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        gc_idset n = { calloc(cap, sizeof(uint64_t)), cap, 0 };
        if (!n.key)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->key[i])
                idset_put_raw(&n, s->key[i]);
        free(s->key);
        *s = n;
    }
    idset_put_raw(s, k);
    return 0;
}

static void rotate(gc_dedup *d)
{
    free(d->old.key);
    d->old = d->cur;
    memset(&d->cur, 0, sizeof d->cur);
}

void gc_dedup_tick(gc_core *c, uint64_t now)
{
    if (now >= c->dedup.rotate_at) {
        rotate(&c->dedup);
        c->dedup.rotate_at = now + c->p.history_ms;
    }
}

/* 1 if (sender, id) was seen; else records it and returns 0. */
int gc_dedup_seen(gc_core *c, const char *sender, uint64_t id, uint64_t now)
{
    gc_dedup *d = &c->dedup;
    uint64_t k = digest(sender, id);
    if (idset_has(&d->cur, k) || idset_has(&d->old, k))
        return 1;
    if (d->cur.count >= GC_IDSET_MAX) {
        rotate(d);
        d->rotate_at = now + c->p.history_ms;
    }
    if (idset_add(&d->cur, k) < 0)
        gc_logf(c, "out of memory for chat ids: duplicates possible");
    return 0;
}

void gc_dedup_free(gc_dedup *d)
{
    free(d->cur.key);
    free(d->old.key);
    memset(d, 0, sizeof *d);
}
