/* gc_members.c - the membership table: one entry per node ever heard of
 * (live members and, for a while, tombstones of removed ones), found by name.
 *
 * Open addressing with linear probing over pointers to entries, which never
 * move, so the view, probes and suspicions may point at them.  Only
 * tombstones are ever removed (gc_core.c purges them), and a tombstone is in
 * no view, probe or suspicion.
 */
#include <stdlib.h>
#include <string.h>

#include "gc_int.h"

/* FNV-1a, 64 bits: the same in the Erlang reference (gossip_ref_ring). */
uint64_t gc_hash_name(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A node's position on ring r: splitmix64's finalizer of its name hash
 * plus r+1 times the golden ratio. */
uint64_t gc_ring_pos(uint64_t name_hash, unsigned ring)
{
    return mix64(name_hash + (uint64_t)(ring + 1) * 0x9e3779b97f4a7c15ull);
}

static int alive_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

int gc_name_valid(const char *s, size_t len)
{
    if (!s || len < 3 || len > GC_NAME_MAX)
        return 0;
    const char *at = memchr(s, '@', len);
    if (!at || at == s || at == s + len - 1)
        return 0;
    for (const char *q = s; q < at; q++)
        if (!alive_char(*q))
            return 0;
    for (const char *q = at + 1; q < s + len; q++)
        if (!alive_char(*q) && *q != '.')
            return 0;
    return 1;
}

const char *gc_status_name(gc_status s)
{
    switch (s) {
    case GC_ALIVE_ST:   return "alive";
    case GC_SUSPECT_ST: return "suspect";
    case GC_DEAD_ST:    return "dead";
    case GC_LEFT_ST:    return "left";
    default:            return "unknown";
    }
}

static size_t slot_of(const gc_table *t, const char *name, size_t len, uint64_t h, int *found)
{
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    for (;;) {
        gc_member *m = t->slot[i];
        if (!m) {
            *found = 0;
            return i;
        }
        if (m->hash == h && m->len == len && memcmp(m->name, name, len) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

gc_member *gc_table_find(const gc_table *t, const char *name)
{
    if (!t->cap || !name)
        return NULL;
    size_t len = strlen(name);
    int found;
    size_t i = slot_of(t, name, len, gc_hash_name(name, len), &found);
    return found ? t->slot[i] : NULL;
}

static int grow(gc_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    gc_member **slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        gc_member *m = t->slot[i];
        if (!m)
            continue;
        size_t j = (size_t)m->hash & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = m;
    }
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return 0;
}

/* A new entry (status unknown, not counted as live); NULL if the table is
 * full or memory is short.  The caller checked the name. */
gc_member *gc_table_add(gc_core *c, const char *name, uint64_t now)
{
    gc_table *t = &c->members;
    if (t->count >= c->p.max_members + 1)
        return NULL;
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    size_t len = strlen(name);
    uint64_t h = gc_hash_name(name, len);
    int found;
    size_t i = slot_of(t, name, len, h, &found);
    if (found)
        return t->slot[i];
    gc_member *m = calloc(1, sizeof *m + len + 1);
    if (!m)
        return NULL;
    memcpy(m->name, name, len);
    m->len = (uint16_t)len;
    m->hash = h;
    for (unsigned r = 0; r < c->p.rings; r++)
        m->pos[r] = gc_ring_pos(h, r);
    m->since = now;
    t->slot[i] = m;
    t->count++;
    return m;
}

/* Removes and frees m (backward-shift deletion keeps probe chains whole). */
void gc_table_remove(gc_table *t, gc_member *m)
{
    size_t mask = t->cap - 1, i = (size_t)m->hash & mask;
    while (t->slot[i] != m)
        i = (i + 1) & mask;
    t->slot[i] = NULL;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        gc_member *e = t->slot[j];
        if (!e)
            break;
        size_t home = (size_t)e->hash & mask;
        /* e may move to the hole at i if its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->slot[i] = e;
            t->slot[j] = NULL;
            i = j;
        }
    }
    t->count--;
    free(m);
}

void gc_table_free(gc_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slot[i]);
    free(t->slot);
    memset(t, 0, sizeof *t);
}
