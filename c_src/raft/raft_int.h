/* raft_int.h - the Raft core's state, shared by its files:
 *
 *   raft.c              lifecycle, events in, role changes, persistence
 *                       bookkeeping, applying committed entries
 *   raft_election.c     timers, pre-vote, votes (raft mode)
 *   raft_replication.c  appends, commit, client commands (raft mode)
 *   raft_transfer.c     leadership transfer (raft mode)
 *   raft_membership.c   the configuration and its changes (raft_conf.c: its
 *                       entries' codec)
 *   raft_compaction.c   snapshots, log compaction, InstallSnapshot (raft
 *                       mode; raft_snapshot.c: the snapshot codec)
 *   raft_emulation.c    the seed's designated-leader behaviour
 */
#ifndef RAFT_INT_H
#define RAFT_INT_H

#include "raft.h"
#include "raft_conf.h"

#define RAFT_NEVER UINT64_MAX
#define RAFT_APPLY_BATCH 4096        /* entries applied in one event at most */


typedef enum raft_change_kind { RAFT_CHANGE_NONE, RAFT_CHANGE_ADD, RAFT_CHANGE_REMOVE } raft_change_kind;

/* Leader: the membership change under way, until its entry is appended. */
typedef struct raft_change {
    raft_change_kind kind;
    int        id;
    char      *node;
    raft_token token;
    uint64_t   round_start, round_end;   /* ADD: the catch-up round */
    int        rounds;
} raft_change;

typedef struct raft_peer {
    int            id;
    char          *node;               /* its node name, or NULL */
    int            voter;              /* 0: a new member catching up */
    raft_peer_kind kind;
    int            alive;              /* EMU: its process is up */
    uint64_t       next, match;
    unsigned       inflight;
    int            probing;            /* CN: one append from match+1 is out to see
                                        * whether it still has what it acknowledged */
    int            repairing;          /* CN: a rejection moved next back: one append
                                        * at a time until one is taken */
    uint64_t       probe_prev;         /* CN: prev index of that one append */
    uint64_t       sent_last;          /* EMU: last index of the append in flight */
    int            stale_tail;         /* EMU: its log runs past what we sent it */
    uint64_t       last_ack;           /* leader: when it last answered */
    uint64_t       last_send;
    uint64_t       commit_sent;        /* EMU: last commit notified */
    uint64_t       snap_index;         /* CN: the snapshot being sent (0: none) */
    uint64_t       snap_offset;        /* ... its next chunk */
    int            cut_off;            /* EMU: needs entries compacted away */
    int            vote, prevote;      /* granted in the current (pre-)election */
} raft_peer;

/* A client waiting for its command: the entry's index and term.  A wait
 * outlives the leadership it was made in: it is answered when its index
 * is applied (with the result if the applied entry is the command, that
 * is has the same term) or when its entry is cut from the log (then the
 * command was never committed: "not leader" is true).  Never answered
 * "not leader" while the command might still commit. */
typedef struct raft_wait {
    uint64_t   index, term;
    raft_token token;
    int        get;                    /* the error shape: {error, _} for a get */
} raft_wait;

typedef struct raft_pending_persist {
    uint64_t seq, last_index;
} raft_pending_persist;

/* Emulation mode: the synchronous call sequence under way. */
typedef enum emu_op_kind { EMU_NONE, EMU_ELECTION, EMU_REPLICATE } emu_op_kind;
typedef struct emu_op {
    emu_op_kind kind;
    size_t      cursor;                /* peer being called */
    uint64_t    call;                  /* its call id */
    uint64_t    deadline;
    int         count;                 /* votes or acks, self included */
    uint64_t    term;                  /* election: the new term */
    uint64_t    index;                 /* replicate: the new entry */
    raft_entry  entry;                 /* replicate: owned copy */
    raft_token  token;
    int        *acked;                 /* replicate: per peer, match or -1 */
    int         disk_wait;             /* replicate: all answered, own entry not durable */
} emu_op;

/* An event that arrived while an emulation call was under way. */
typedef struct raft_deferred {
    struct raft_deferred *next;
    int        client;                 /* 1: client command; 0: message */
    int        start_election;
    int        from;
    raft_token token;
    raft_msg   m;
    raft_entry *entries;               /* owned copies */
    cn_buf     cmd;
} raft_deferred;

struct raft {
    raft_config cfg;
    raft_io     io;

    uint64_t  term;
    int       vote;
    raft_role role;
    int       leader;
    raft_log  log;
    raft_kv  *kv;
    uint64_t  commit, applied;
    uint64_t  leader_verified;         /* follower: log known equal to leader's up to here */

    raft_peer *peers;                  /* the other members, and a learner */
    size_t     npeers;
    int        configured;             /* a configuration is known */
    int        member;                 /* this node votes in it */
    int        was_member;             /* ... in the one before it */
    raft_conf  boot;                   /* set_peers / the peers file */
    int        booted;                 /* ... was given */
    uint64_t  *conf_entries;           /* indexes of configuration entries in the log */
    size_t     nconf, capconf;
    uint64_t   conf_index;             /* the one in force (0: boot) */
    raft_change change;
    char       why[320];

    /* snapshots (raft_compaction.c) */
    raft_snapshot_buf *snap;           /* the latest (NULL: none): what InstallSnapshot
                                        * sends, shared with the write of it */
    raft_snapshot_buf *snap_spare;     /* the one before, reused once nobody holds it */
    size_t     snap_grew;              /* bytes the latest has more than the one before */
    uint64_t   snap_index, snap_term;
    raft_snapshot_buf *building;       /* a snapshot being encoded (NULL: none), of the
                                        * store as of building_index (raft_kv_freeze) */
    raft_snapshot_enc  enc;
    uint64_t   building_index, building_term;
    cn_buf     snap_conf;              /* the configuration entry a compaction dropped */
    uint64_t   snap_conf_index;        /* ... its index (0: none) */
    int        snap_pending;           /* io.snapshot to call as the event ends */
    uint64_t   snap_compact;           /* ... dropping the log up to here */
    int        snap_drop;              /* ... or all of it */
    uint64_t   snap_seq;               /* the write of the last one */
    int        snap_paused;            /* none while emulation members are in the configuration */
    uint64_t   snap_due;               /* entries after the last one that make the next
                                        * due: snapshot_entries plus up to a quarter, drawn
                                        * per node, so members do not all stop at once */
    cn_buf     inbound;                /* follower: the snapshot being received */
    uint64_t   in_index, in_term;

    uint64_t now;
    uint64_t election_due;
    uint64_t heartbeat_due;
    uint64_t quorum_due;
    uint64_t last_leader_contact;
    int      transfer_to;              /* leader: handing over to this peer */
    int      transfer_sent;            /* ... TimeoutNow is out */
    uint64_t transfer_due;             /* ... abandoned after this */
    int      prevoting;
    int      prevote_waiting;          /* granted counting emulation peers, no C answer yet */
    int      votes;
    int      prevotes;                 /* counted apart: a late vote must not add to them */
    int      rejoining;                /* lost its log: no vote until caught up */
    uint64_t rejoin_at;                /* ... caught up once this index is durable (0: not yet) */
    uint64_t rng;

    /* durability */
    int       volatile_storage;
    uint64_t  persist_seq, persisted_seq;
    uint64_t  durable_index;
    int       dirty_meta;
    uint64_t  dirty_from;              /* first index to persist; 0: none */
    int       truncated;
    uint64_t  truncate_keep;
    raft_pending_persist *pp;
    size_t    npp, cappp;

    raft_wait *waits;                  /* clients waiting for their entries, by index */
    size_t     nwaits, capwaits;

    emu_op         op;
    raft_deferred *deferred, *deferred_tail;
    uint64_t       next_call;

    int       in_step;
    char      line[1024];
    cn_buf    result;
};

/* raft.c */
void     raft__trace(raft *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t raft__barrier(raft *r);
void     raft__set_term(raft *r, uint64_t term, int vote);
void     raft__become_follower(raft *r, uint64_t term);
int      raft__newer_term(raft *r, const raft_msg *m);
void     raft__become_leader(raft *r);
int      raft__append_local(raft *r, uint64_t term, const cn_term *cmd);
void     raft__truncate(raft *r, uint64_t keep);
void     raft__apply(raft *r);
int      raft__wait(raft *r, uint64_t index, uint64_t term, const cn_term *cmd,
                    raft_token token);
int      raft__wait_as(raft *r, uint64_t index, uint64_t term, int get, raft_token token);
void     raft__wait_error(raft *r, raft_token token, int get, const char *why);
int      raft__quorum(const raft *r);
raft_peer *raft__peer(raft *r, int id);
uint64_t raft__random(raft *r, uint64_t lo, uint64_t hi);
void     raft__client_error(raft *r, raft_token token, const cn_term *cmd, const char *why);
void     raft__fail_waits_after(raft *r, uint64_t keep, const char *why);
int      raft__log_ok(const raft *r, uint64_t last_index, uint64_t last_term);

/* raft_election.c */
void raft__reset_election(raft *r);
void raft__election_tick(raft *r);
void raft__on_request_vote(raft *r, int from, const raft_msg *m, raft_token token);
void raft__on_vote(raft *r, int from, const raft_msg *m);
void raft__on_pre_vote(raft *r, int from, const raft_msg *m, raft_token token);
void raft__on_pre_vote_reply(raft *r, int from, const raft_msg *m);
void raft__campaign(raft *r);
/* A rejoining node: an append it took from the leader of m's term,
 * verified up to its last entry; then whether it may vote again. */
void raft__rejoin_heard(raft *r, const raft_msg *m, uint64_t verified);
void raft__rejoin_check(raft *r);
/* start_election in raft mode: a campaign without pre-vote, at a higher
 * term, as TimeoutNow (thesis 3.10): the designated node leads. */
void raft__force_campaign(raft *r);

/* raft_transfer.c */
int  raft__transfer_start(raft *r, int target, const char **why);
void raft__transfer_progress(raft *r);
void raft__transfer_tick(raft *r);
void raft__on_timeout_now(raft *r, const raft_msg *m);

/* raft_membership.c */
int   raft__voters(const raft *r);
int   raft__may_campaign(const raft *r);
void  raft__conf_apply(raft *r);
void  raft__conf_appended(raft *r, uint64_t idx, const cn_term *cmd);
void  raft__conf_truncated(raft *r, uint64_t keep);
void  raft__conf_restore(raft *r);
void  raft__conf_bootstrap(raft *r, const raft_member *peers, size_t n);
void  raft__conf_committed(raft *r);
void  raft__conf_compacting(raft *r, uint64_t upto);
void  raft__conf_snapshot(raft *r, uint64_t index, const char *conf, size_t conflen, int keep);
int   raft__conf_as_of(const raft *r, uint64_t index, cn_term *cmd);
int   raft__change_start(raft *r, raft_change_kind kind, int id, const char *node,
                         raft_token token, const char **why);
void  raft__change_progress(raft *r);
void  raft__change_tick(raft *r);
void  raft__change_abort(raft *r, const char *why);

/* raft_compaction.c */
void raft__maybe_snapshot(raft *r);
/* A step of the snapshot being encoded, if one is (raft_tick's). */
void raft__snapshot_step(raft *r);
void raft__send_snapshot(raft *r, raft_peer *p);
void raft__on_snapshot(raft *r, int from, const raft_msg *m, raft_token token);
void raft__on_snapshot_reply(raft *r, int from, const raft_msg *m);
void raft__flush_snapshot(raft *r);

/* raft_replication.c */
void raft__send_appends(raft *r);
void raft__send_append(raft *r, raft_peer *p);
/* An append or snapshot from the leader of m->term: follow it. */
void raft__heard_leader(raft *r, const raft_msg *m);
void raft__leader_tick(raft *r);
void raft__on_append(raft *r, int from, const raft_msg *m, raft_token token);
void raft__on_append_reply(raft *r, int from, const raft_msg *m);
void raft__on_commit(raft *r, const raft_msg *m);
void raft__on_client(raft *r, const cn_term *cmd, raft_token token);
void raft__advance_commit(raft *r);

/* raft_emulation.c */
void raft__emu_start_election(raft *r);
void raft__emu_on_request_vote(raft *r, const raft_msg *m, raft_token token);
void raft__emu_on_append(raft *r, const raft_msg *m, raft_token token);
void raft__emu_on_commit(raft *r, const raft_msg *m);
void raft__emu_on_client(raft *r, const cn_term *cmd, raft_token token);
void raft__emu_on_reply(raft *r, int from, const raft_msg *m, uint64_t call);
void     raft__emu_tick(raft *r);
void     raft__emu_persisted(raft *r);
void raft__emu_op_free(raft *r);
int  raft__emu_defer(raft *r, int client, int start, int from, const raft_msg *m,
                     const cn_term *cmd, raft_token token);
void raft__emu_dispatch(raft *r, const raft_msg *m, raft_token token);
void raft__emu_drain(raft *r);
void raft__emu_deferred_free(raft *r);

#endif
