/* raft_node.h - the raft_kv process: the Raft core on a C node.
 *
 * Registered as raft_kv.  It owns a Gleam Subject that takes exactly the
 * emulation's messages, so it can sit in any Gleam or Erlang raft_kv
 * cluster; gen_server:call({raft_kv, Node}, subject) returns that Subject
 * and gen_server:call({raft_kv, Node}, status) a map of its state (the
 * store in full while it holds at most 10,000 keys, else too_large;
 * store_size always); info is the same without the store, plus the node's
 * name and the members it knows.
 * gen_server:call({raft_kv, Node}, {watch, Pid}) makes Pid get
 * {raft_kv_event, RaftPid, Role, Term, Leader | none, LastApplied} now and
 * whenever one of those changes (at most 16 watchers).
 * gen_server:call({raft_kv, Node}, {transfer, Id | any}) hands leadership
 * over (Raft thesis 3.10): {ok, Id} once done, {error, Why} if it cannot,
 * {error, {not_leader, LeaderNode | none}} from a follower.
 */
#ifndef RAFT_NODE_H
#define RAFT_NODE_H

#include "../node/cn.h"
#include "../node/peers.h"
#include "raft.h"

/* A client command (key and value, encoded) larger than this is refused
 * with an error that says so: one entry must fit an append (raft.h's
 * max_batch_bytes) and a packet with room to spare. */
#define RAFT_MAX_COMMAND (1u << 20)

typedef struct raft_node_config {
    int         id;
    raft_mode   mode;
    const char *data_dir;        /* NULL: in memory, as the emulation */
    const cn_peers *peers;       /* NULL: wait for set_peers */
    unsigned    election_min_ms, election_max_ms, heartbeat_ms;
    FILE       *trace;           /* trace lines; NULL: none */
    uint64_t    seed;
    uint64_t    snapshot_entries;  /* raft.h's raft_config (0: no snapshots) */
    uint64_t    snapshot_bytes, snapshot_trailing;   /* 0: the core's defaults */
    int         unregistered;    /* several nodes in one C node (emulate) */
    int         existing;        /* --initial-cluster-state existing: restarted empty
                                  * after losing its log, it rejoins (raft.h's
                                  * raft_config.rejoining) */
    struct raft_storage *storage;  /* data_dir opened already (before the node was
                                    * reachable: loading takes time), or NULL;
                                    * raft_node_start owns it, started or not */
} raft_node_config;

/* Spawns the raft_kv process on n; NULL (with err) if it cannot start
 * (bad data directory, name taken). */
cn_proc *raft_node_start(cn_node *n, const raft_node_config *cfg, char *err, size_t errlen);
/* SIGINT/SIGTERM stop the node through p: a leader hands over to a C
 * peer first (at most an election timeout), so a rolling restart loses
 * no leader's clients to a dead leader.  (One raft_kv process per node.) */
void raft_node_stop_on_signal(cn_proc *p);
/* The node's Subject (what gen_server:call({raft_kv, Node}, subject) gives). */
void raft_node_subject(cn_proc *p, cn_subject *out);

#endif
