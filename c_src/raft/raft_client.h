/* raft_client.h - raft_kv's client modes, as C processes on a C node.
 *
 *   client: the emulation's client — N random operations (get, put or
 *           delete on keys a..e, values val_0..val_99), one at a time, each
 *           an actor.call to a node's Subject, printed as the seed prints
 *           them ("[client] PUT \"a\" = \"val_3\" -> OK").
 *   load:   a benchmark client — puts of fresh keys with `inflight`
 *           requests always outstanding against the leader, for `seconds`;
 *           prints one JSON line with writes/s, latency percentiles, and
 *           the puts that failed: errors (answered so), timeouts (no answer
 *           in 5 s) and unanswered (still out at the end).  After an error
 *           it pauses sends, 10 ms doubling to 500 ms while errors go on.
 * Both find a node's Subject with gen_server:call({raft_kv, Node}, subject).
 */
#ifndef RAFT_CLIENT_H
#define RAFT_CLIENT_H

#include "../node/cn.h"

typedef struct raft_client_config {
    const char **nodes;          /* raft_kv nodes to talk to */
    size_t       nnodes;
    int          ops;            /* client: how many operations */
    uint64_t     seed;
    int          inflight;       /* load */
    double       seconds;        /* load */
    int          value_bytes;    /* load */
    uint64_t     keys;           /* load: 0, a new key per put; N, keys 0..N-1 in
                                  * turn, each put then deleted (the store stays
                                  * at most N keys: a soak's steady state) */
    int          id;             /* client id, in the output */
    const cn_subject *subject;   /* talk to this Subject instead of nodes[0]'s */
    const cn_pid *report;        /* send {raft_client_done, Id} here instead of
                                    stopping the node when done */
} raft_client_config;

/* Start the client or the load generator; the node stops when it is done.
 * *status becomes the exit status (0 ok, 1 failures). */
cn_proc *raft_client_start(cn_node *n, const raft_client_config *cfg, int *status);
cn_proc *raft_load_start(cn_node *n, const raft_client_config *cfg, int *status);

#endif
