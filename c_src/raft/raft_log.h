/* raft_log.h - the Raft log in memory: entries 1..n, each a term and an
 * encoded Command term (owned by the log). */
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
    raft_entry *v;                  /* index i at v[i - 1] */
    size_t      n, cap;
} raft_log;

void     raft_log_init(raft_log *l);
void     raft_log_free(raft_log *l);
uint64_t raft_log_last(const raft_log *l);
/* Term of entry idx; 0 for idx 0 or past the end. */
uint64_t raft_log_term(const raft_log *l, uint64_t idx);
const raft_entry *raft_log_get(const raft_log *l, uint64_t idx);
/* Entries idx.. as an array (NULL if idx is past the end). */
const raft_entry *raft_log_from(const raft_log *l, uint64_t idx);
int      raft_log_append(raft_log *l, uint64_t term, const cn_term *cmd);
/* Replaces entry idx (idx <= last) without touching the others. */
int      raft_log_put(raft_log *l, uint64_t idx, uint64_t term, const cn_term *cmd);
/* Keeps the first `keep` entries. */
void     raft_log_truncate(raft_log *l, uint64_t keep);

#endif
