/* raft_kv.h - the replicated state machine: the seed's KV store.
 *
 * put fails if the key exists, get returns the value or an error, delete
 * fails if the key is missing; the results are the Gleam terms the
 * emulation replies with, and the trace lines are the seed's. */
#ifndef RAFT_KV_H
#define RAFT_KV_H

#include <stddef.h>
#include <stdint.h>

#include "../node/buf.h"
#include "../node/term.h"

typedef struct raft_kv raft_kv;

raft_kv *raft_kv_new(void);
void     raft_kv_free(raft_kv *kv);
size_t   raft_kv_count(const raft_kv *kv);

/* How the apply is traced: as a follower's "slot I: ..." line, or as the
 * emulation leader's line without a slot. */
typedef enum raft_kv_trace { RAFT_KV_TRACE_SLOT, RAFT_KV_TRACE_LEADER } raft_kv_trace;

/* Applies cmd; writes the client result term to result (if not NULL) and
 * the trace line to trace ("" for none).  Returns -1 for a malformed
 * command (which changes nothing and yields {op_error, ...}). */
int raft_kv_apply(raft_kv *kv, const cn_term *cmd, int node, uint64_t slot,
                  raft_kv_trace how, cn_buf *result, char *trace, size_t tracesz);

/* Adds a key that is not there yet (a snapshot being loaded): 0, or -1
 * if it is there already or memory ran out. */
int raft_kv_insert(raft_kv *kv, const char *k, size_t kl, const char *v, size_t vl);

/* The store as a Gleam Dict (an Erlang map), keys sorted. */
void raft_kv_put_map(const raft_kv *kv, cn_buf *b);
/* A page of the store: a list of {K, V}, the first `limit` keys after
 * `after` (all keys if after is NULL) in key order.  Returns how many;
 * *more says whether keys remain past them, *last is the page's last key
 * (valid until the store changes).  Time linear in the store's size,
 * memory in limit: no sort of the whole, no reply of it. */
size_t raft_kv_put_page(const raft_kv *kv, const char *after, size_t afterlen, size_t limit,
                        cn_buf *b, int *more, const char **last, size_t *lastlen);
/* The pairs as of now, read a part at a time while the store goes on
 * changing (a snapshot of a big store must not stall the loop, nor stop
 * it applying): freeze takes them (raft_kv_count of them), each read
 * visits at most max of them, no sort, and returns 1 once all were read;
 * thaw ends it (read or not).  One freeze at a time; a new one thaws. */
void raft_kv_freeze(raft_kv *kv);
int  raft_kv_frozen_read(raft_kv *kv, size_t max,
                         void (*fn)(void *ud, const char *k, size_t kl, const char *v,
                                    size_t vl), void *ud);
void raft_kv_thaw(raft_kv *kv);
/* Visits keys in sorted order. */
void raft_kv_each(const raft_kv *kv, void (*fn)(void *ud, const char *k, size_t kl,
                                                const char *v, size_t vl), void *ud);

/* The error a client gets for cmd: {error, Why} for a get, else
 * {op_error, Why} (cmd NULL: the latter). */
void raft_kv_put_error(cn_buf *b, const cn_term *cmd, const char *why);
/* The same for a command known only by whether it is a get. */
void raft_kv_put_error_as(cn_buf *b, int get, const char *why);
int  raft_kv_is_get(const cn_term *cmd);

/* Is cmd a well-formed Command term? */
int raft_cmd_valid(const cn_term *cmd);

#endif
