/* raft_log.c - the Raft log in memory (see raft_log.h). */
#include <stdlib.h>
#include <string.h>

#include "raft_log.h"

void raft_log_init(raft_log *l) { memset(l, 0, sizeof *l); }

void raft_log_free(raft_log *l)
{
    raft_log_truncate(l, l->base);
    free(l->v);
    raft_log_init(l);
}

uint64_t raft_log_last(const raft_log *l) { return l->base + l->n; }

uint64_t raft_log_term(const raft_log *l, uint64_t idx)
{
    if (idx == l->base)
        return l->base_term;
    return idx > l->base && idx <= l->base + l->n ? l->v[idx - l->base - 1].term : 0;
}

const raft_entry *raft_log_get(const raft_log *l, uint64_t idx)
{
    return idx > l->base && idx <= l->base + l->n ? &l->v[idx - l->base - 1] : NULL;
}

const raft_entry *raft_log_from(const raft_log *l, uint64_t idx)
{
    return raft_log_get(l, idx);
}

static int copy_cmd(cn_term *dst, const cn_term *src)
{
    char *d = malloc(src->len ? src->len : 1);
    if (!d)
        return -1;
    memcpy(d, src->data, src->len);
    dst->data = d;
    dst->len = src->len;
    return 0;
}

int raft_log_append(raft_log *l, uint64_t term, const cn_term *cmd)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        raft_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    raft_entry *e = &l->v[l->n];
    e->term = term;
    if (copy_cmd(&e->cmd, cmd) < 0)
        return -1;
    l->n++;
    l->bytes += cmd->len;
    return 0;
}

int raft_log_put(raft_log *l, uint64_t idx, uint64_t term, const cn_term *cmd)
{
    raft_entry *e = (raft_entry *)raft_log_get(l, idx);
    if (!e)
        return -1;
    cn_term fresh;
    if (copy_cmd(&fresh, cmd) < 0)
        return -1;
    l->bytes += cmd->len - e->cmd.len;
    free((void *)e->cmd.data);
    e->cmd = fresh;
    e->term = term;
    return 0;
}

void raft_log_truncate(raft_log *l, uint64_t keep)
{
    while (l->base + l->n > keep && l->n > 0) {
        l->n--;
        l->bytes -= l->v[l->n].cmd.len;
        free((void *)l->v[l->n].cmd.data);
    }
}

void raft_log_compact(raft_log *l, uint64_t upto)
{
    if (upto <= l->base || upto > raft_log_last(l))
        return;
    size_t drop = (size_t)(upto - l->base);
    uint64_t term = l->v[drop - 1].term;
    for (size_t i = 0; i < drop; i++) {
        l->bytes -= l->v[i].cmd.len;
        free((void *)l->v[i].cmd.data);
    }
    memmove(l->v, l->v + drop, (l->n - drop) * sizeof *l->v);
    l->n -= drop;
    l->base = upto;
    l->base_term = term;
}

void raft_log_reset(raft_log *l, uint64_t base, uint64_t base_term)
{
    raft_log_truncate(l, l->base);
    l->base = base;
    l->base_term = base_term;
}
