/* raft.h - the Raft core: a deterministic state machine, no I/O.
 *
 * Events go in (raft_recv, raft_client, raft_tick, raft_persisted, ...), each
 * with the current time; actions come out through the raft_io callbacks
 * (send a message, reply, persist, apply, print a trace line).  The core
 * never reads a clock, never draws from the OS's randomness (its PRNG is
 * seeded by the caller), and never calls back into itself, so a simulation
 * can drive many cores with a fake network and check invariants after every
 * step.
 *
 * Two modes over the same messages (the Gleam raft_kv emulation's):
 *   RAFT_MODE_RAFT        full Raft: randomized election timeouts, pre-vote,
 *                         heartbeats, step-down without quorum, log repair,
 *                         pipelined replication, commit of current-term
 *                         entries only, follower forwarding.
 *   RAFT_MODE_EMULATION   the seed's designated-leader behaviour, trace for
 *                         trace: no timers, elections only on start_election,
 *                         one synchronous call at a time, other messages wait.
 * Peers are of two kinds: KIND_CN (C nodes: understand the extensions,
 * pre-vote and the rejection hint, and get heartbeats) and KIND_EMU (Gleam
 * or Erlang emulation nodes: only ever sent the seed's messages; their
 * liveness comes from process monitors, as they send no heartbeats).
 */
#ifndef RAFT_H
#define RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "../node/term.h"
#include "raft_kv.h"
#include "raft_log.h"
#include "raft_snapshot.h"

typedef enum raft_mode { RAFT_MODE_RAFT, RAFT_MODE_EMULATION } raft_mode;
typedef enum raft_role { RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER } raft_role;
typedef enum raft_peer_kind { RAFT_KIND_UNKNOWN, RAFT_KIND_CN, RAFT_KIND_EMU } raft_peer_kind;

typedef enum raft_msg_type {
    RAFT_MSG_REQUEST_VOTE,       /* term candidate last_index last_term */
    RAFT_MSG_VOTE,               /* term granted */
    RAFT_MSG_APPEND,             /* term leader prev_index prev_term entries commit */
    RAFT_MSG_APPEND_REPLY,       /* term success match_index (hint if rejected, CN only) */
    RAFT_MSG_COMMIT,             /* commit */
    RAFT_MSG_PRE_VOTE,           /* CN only: term(+1) candidate last_index last_term */
    RAFT_MSG_PRE_VOTE_REPLY,     /* CN only: term granted */
    RAFT_MSG_TIMEOUT_NOW,        /* CN only: term leader; campaign now (a transfer) */
    RAFT_MSG_SNAPSHOT,           /* CN only: term leader index index_term offset data done */
    RAFT_MSG_SNAPSHOT_REPLY,     /* CN only: term granted index match (bytes it holds) */
} raft_msg_type;

typedef struct raft_msg {
    raft_msg_type type;
    uint64_t term;
    int      node;                   /* candidate or leader id */
    uint64_t index, index_term;      /* last_log_* or prev_log_* */
    uint64_t commit;
    int      granted;                /* VOTE, PRE_VOTE_REPLY; APPEND_REPLY: success */
    uint64_t match;                  /* APPEND_REPLY: match index, or hint on rejection */
    int      has_hint;               /* APPEND_REPLY rejected with a hint (CN) */
    uint64_t rejected;               /* APPEND_REPLY rejected: the prev index of the */
    int      has_rejected;           /* append refused (CN; older C nodes omit it) */
    const raft_entry *entries;       /* APPEND: entries index+1 .. index+n */
    size_t   n_entries;
    const char *data;                /* SNAPSHOT: the chunk at offset, len bytes; */
    size_t   len;                    /* done: it is the last */
    uint64_t offset;
    int      done;
} raft_msg;

/* Client commands are encoded Command terms ({put,K,V}, {get,K}, ...). */
typedef uint64_t raft_token;         /* the caller's handle for a reply address */

typedef struct raft raft;

/* A member of a configuration: its id and node name (NULL if unknown). */
typedef struct raft_member {
    int         id;
    const char *node;
} raft_member;

typedef struct raft_io {
    void *ud;
    /* Send msg to peer.  after_persist: hold it until raft_persisted(seq)
     * with seq >= after_persist (0: send now).  call: in emulation mode, the
     * core waits for this message's reply (call id, >0) and the reply must
     * come back with raft_reply(..., call). */
    void (*send)(void *ud, int peer, const raft_msg *msg, uint64_t after_persist, uint64_t call);
    /* Reply to the sender of a request (token from raft_recv). */
    void (*reply)(void *ud, raft_token token, const raft_msg *msg, uint64_t after_persist);
    /* Persist: truncate the log after `keep` entries if truncate, append
     * entries[0..n) from index first, and the term/vote; then call
     * raft_persisted(seq).  Without storage, call it right away. */
    void (*persist)(void *ud, uint64_t seq, int truncate, uint64_t keep, uint64_t first,
                    const raft_entry *entries, size_t n, uint64_t term, int vote);
    /* Client result: a Gleam OpResult or Result term. */
    void (*client_reply)(void *ud, raft_token token, const cn_term *result);
    /* Forward a client command to the leader (raft mode, at a follower). */
    void (*forward)(void *ud, raft_token token, int leader, const cn_term *cmd);
    /* A trace line in the seed's format ("[node N] ..."). */
    void (*trace)(void *ud, const char *line);
    /* An entry was applied (for status, tests and the sim's invariants). */
    void (*applied)(void *ud, uint64_t index, uint64_t term, const cn_term *cmd);
    /* Snapshot (optional; raft mode): write snap's bytes (a snapshot as
     * of entry index, term; raft_snapshot.h) durably, then drop the log's
     * entries up to compact (all of them if drop_log: the log restarts
     * after index); then call raft_persisted(seq).  Ordered with
     * io.persist.  To read the bytes after returning, hold snap
     * (raft_snapshot_buf_hold) and release it when done: they do not
     * change meanwhile. */
    void (*snapshot)(void *ud, uint64_t seq, uint64_t index, uint64_t term,
                     raft_snapshot_buf *snap, uint64_t compact, int drop_log);
    /* The store was replaced by a snapshot's, as of entry index (optional). */
    void (*installed)(void *ud, uint64_t index, uint64_t term);
    /* The peers to talk to changed (optional): the other members of the
     * configuration in force, and a new member catching up at the leader. */
    void (*members)(void *ud, const raft_member *peers, size_t n);
    /* A rejoining node (raft_config.rejoining) holds, durably, all that a
     * leader has committed: it votes again from now on (optional). */
    void (*rejoined)(void *ud);
} raft_io;

typedef struct raft_config {
    int       id;
    const char *name;                /* this node's name, for configuration entries */
    raft_mode mode;
    int       cluster_size;          /* 0: peers + 1 */
    unsigned  election_min_ms;       /* raft mode; default 300 */
    unsigned  election_max_ms;       /* default 600 */
    unsigned  heartbeat_ms;          /* default 75 */
    unsigned  max_batch;             /* entries per append; default 512 */
    size_t    max_batch_bytes;       /* command bytes per append (one entry at least);
                                      * default 4 MiB, well inside a packet */
    unsigned  max_inflight;          /* appends in flight per CN peer; default 8 */
    unsigned  emu_vote_timeout_ms;   /* emulation: 1000, as the seed */
    unsigned  emu_append_timeout_ms; /* emulation: 2000, as the seed */
    uint64_t  seed;                  /* PRNG seed for election timeouts */
    /* Snapshots (raft mode; see raft_compaction.c): taken when this many
     * entries were applied since the last (0: never), or when the log holds
     * snapshot_bytes of commands; snapshot_trailing entries stay in the log
     * behind one for followers a little behind; an emulation peer (which
     * knows no snapshots) keeps the log from its match index unless it is
     * more than snapshot_emu_keep entries behind; InstallSnapshot chunks
     * are snapshot_chunk bytes. */
    uint64_t  snapshot_entries;
    uint64_t  snapshot_bytes;        /* default 64 MiB */
    uint64_t  snapshot_trailing;     /* default 8192 */
    uint64_t  snapshot_emu_keep;     /* default 1,000,000 */
    size_t    snapshot_chunk;        /* default 1 MiB */
    size_t    snapshot_step;         /* pairs of a snapshot encoded per tick (the store
                                      * read as it was when it began, applying goes
                                      * on); default 65,536 (some 20-60 ms here) */
    /* The node lost its log (a wiped or replaced disk, or no disk) and
     * restarts empty as a member the others count on: it neither votes nor
     * campaigns until it holds what a leader has committed in its own term
     * (raft_election.c), then calls io.rejoined. */
    int       rejoining;
} raft_config;

raft *raft_new(const raft_config *cfg, const raft_io *io);
void  raft_free(raft *r);

/* Restart: state recovered from storage (before any event). */
int   raft_restore(raft *r, uint64_t term, int vote, const raft_entry *entries, size_t n);

/* Restart from a snapshot (before raft_restore, whose entries follow it):
 * 0, or -1 and why if the snapshot is damaged. */
int   raft_restore_snapshot(raft *r, const char *data, size_t len, char *why, size_t whylen);

/* set_peers: the bootstrap configuration, the other nodes (kinds may be
 * set later).  A configuration entry in the log overrides it. */
void  raft_set_peers(raft *r, uint64_t now, const raft_member *peers, size_t n);
/* NULL, or why a set_peers on a running cluster (raft mode) must be
 * refused: it differs from the configuration in force. */
const char *raft_set_peers_refused(raft *r, const raft_member *peers, size_t n);
/* Membership changes (raft mode, at the leader; see raft_membership.c):
 * 0 once under way, the result (ok or {error, Why}) going to token through
 * io.client_reply; -1 and *why if refused at once (token unused). */
int   raft_add_member(raft *r, uint64_t now, int id, const char *node, raft_token token,
                      const char **why);
int   raft_remove_member(raft *r, uint64_t now, int id, raft_token token, const char **why);
void  raft_set_peer_kind(raft *r, int peer, raft_peer_kind kind);
/* Liveness of an emulation peer (its process monitor fired = 0). */
void  raft_peer_alive(raft *r, uint64_t now, int peer, int alive);

void  raft_start_election(raft *r, uint64_t now);
/* Leadership transfer (leader, raft mode; Raft thesis 3.10): target (an
 * id; 0: the C peer most up to date) gets our log, then is told to
 * campaign at once.  Meanwhile client commands are answered "not leader"
 * (not taken).  Returns 0 once under way, or -1 and *why.  It ends when
 * this node steps down (done) or after an election timeout (abandoned:
 * raft_transfer_target is then 0 while this node still leads). */
int   raft_transfer(raft *r, uint64_t now, int target, const char **why);
int   raft_transfer_target(const raft *r);   /* 0: none under way */
/* A message from peer `from`; for requests, token says where the reply
 * goes; for replies, call is the call id given to send (emulation) or 0. */
void  raft_recv(raft *r, uint64_t now, int from, const raft_msg *m, raft_token token);
void  raft_reply_recv(raft *r, uint64_t now, int from, const raft_msg *m, uint64_t call);
void  raft_client(raft *r, uint64_t now, const cn_term *cmd, raft_token token);
void  raft_tick(raft *r, uint64_t now);
void  raft_persisted(raft *r, uint64_t now, uint64_t seq);

/* Inspection. */
raft_role   raft_get_role(const raft *r);
int         raft_get_rejoining(const raft *r);   /* raft_config.rejoining, until caught up */
uint64_t    raft_get_term(const raft *r);
int         raft_get_leader(const raft *r);       /* 0: unknown */
int         raft_get_vote(const raft *r);
uint64_t    raft_get_commit(const raft *r);
uint64_t    raft_get_applied(const raft *r);
const raft_log *raft_get_log(const raft *r);
const raft_kv  *raft_get_kv(const raft *r);
int         raft_get_id(const raft *r);
int         raft_is_busy(const raft *r);           /* emulation: a call is under way */
int         raft_is_member(const raft *r);         /* a voter of its configuration */
uint64_t    raft_get_config_index(const raft *r);  /* 0: the bootstrap set */
int         raft_peer_is_voter(const raft *r, int peer);
uint64_t    raft_get_snapshot_index(const raft *r);   /* 0: none */
/* A snapshot was due but held back: the configuration has emulation
 * members (they know none; the log is kept whole). */
int         raft_snapshots_paused(const raft *r);
/* Emulation peers the log no longer serves (it was compacted before they
 * were known or added, and they are more than snapshot_emu_keep entries
 * behind the last snapshot). */
int         raft_emu_cut_off(const raft *r);
/* Next time raft_tick has something to do (UINT64_MAX: nothing). */
uint64_t    raft_next_deadline(const raft *r);
const char *raft_role_name(raft_role role);

#endif
