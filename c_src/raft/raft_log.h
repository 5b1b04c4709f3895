/* raft_log.h - the Raft log in memory: entries base+1..base+n, each a term
 * and an encoded Command term (owned by the log).  Entries up to base were
 * compacted into a snapshot; base_term is the term of entry base. */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "../node/term.h"

typedef struct raft_entry {
    uint64_t term;
    cn_term  cmd;
} raft_entry;

typedef struct raft_log {
    raft_entry *v;                  /* index i at v[i - base - 1] */
    size_t      n, cap;
    uint64_t    base, base_term;    /* the last compacted entry (0: none) */
    uint64_t    bytes;              /* command bytes held */
} raft_log;

void     raft_log_init(raft_log *l);
void     raft_log_free(raft_log *l);
uint64_t raft_log_last(const raft_log *l);
/* Term of entry idx: base_term for base, 0 for 0, before base or past the end. */
uint64_t raft_log_term(const raft_log *l, uint64_t idx);
const raft_entry *raft_log_get(const raft_log *l, uint64_t idx);
/* Entries idx.. as an array (NULL if idx is not held). */
const raft_entry *raft_log_from(const raft_log *l, uint64_t idx);
int      raft_log_append(raft_log *l, uint64_t term, const cn_term *cmd);
/* Replaces entry idx (held) without touching the others. */
int      raft_log_put(raft_log *l, uint64_t idx, uint64_t term, const cn_term *cmd);
/* Keeps the entries up to index keep (keep >= base). */
void     raft_log_truncate(raft_log *l, uint64_t keep);
/* Drops the entries up to index upto (base <= upto <= last): they are in
 * a snapshot now. */
void     raft_log_compact(raft_log *l, uint64_t upto);
/* Drops every entry: the log restarts after (base, base_term). */
void     raft_log_reset(raft_log *l, uint64_t base, uint64_t base_term);

#endif
