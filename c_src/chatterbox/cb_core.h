/* cb_core.h - the chatterbox protocols as pure reducers.
 *
 * A core is one node's protocol state.  It changes only in cb_core_step,
 * which takes one event (a tick, a message from a peer, a peer going up or
 * down, a phase change) and emits what to do through a sink (messages to
 * send, messages it created, the final result).  Time comes in with every
 * event; the core has no sockets, clocks or randomness of its own (message
 * values are the pure function of cb_rng.h), so a test can run many cores
 * in one process against a fake network and replay any run exactly.
 *
 * Two protocols share this interface (see docs/chatterbox.md):
 *   CB_FAST  batched, pipelined broadcast with cumulative acks, go-back-N
 *            retransmission and a streaming merge in (send time, id) order
 *            (cb_fast.c)
 *   CB_SEED  the seed's stop-and-wait protocol: one-message receive buffer,
 *            commit on next, re-send until every peer acks (cb_seed.c)
 *
 * Nodes are indices 0..n-1 in the core; ids (from peers.json) order ties
 * and travel on the wire.  The glue maps ids to indices and back.
 */
#ifndef CB_CORE_H
#define CB_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "cb_sum.h"

typedef enum cb_protocol { CB_FAST = 0, CB_SEED = 1 } cb_protocol;

#define CB_RTO_MAX_FACTOR 8

typedef enum cb_phase {
    CB_PHASE_SEND = 0,       /* creating and sending messages */
    CB_PHASE_WAIT,           /* --send-for is over: no new messages */
    CB_PHASE_END,            /* --wait-for is over: print now */
} cb_phase;

typedef struct cb_params {
    cb_protocol protocol;
    int         n;           /* nodes, this one included */
    int         me;          /* this node's index */
    const int  *ids;         /* ids[i]: node i's id; distinct */
    uint64_t    seed;        /* --with-seed */
    uint32_t    batch_max;   /* fast: messages per batch (1..65536) */
    uint32_t    window;      /* fast: own messages not yet acked by all */
    uint64_t    max_rate;    /* fast: own messages per second; 0: no limit */
    uint64_t    rto_us;      /* reconnect (fast without a reconnect action:
                                re-send) after this long without an awaited
                                ack; doubled on each expiry, up to
                                CB_RTO_MAX_FACTOR times.  Seed: 0 = never */
} cb_params;

/* Wire messages, decoded (cb_wire.h has the terms). */
typedef enum cb_msg_kind {
    CB_DATA,        /* fast: messages seq..seq+count-1 of from, sent at ts */
    CB_END,         /* fast: from's last message is seq */
    CB_ACK,         /* fast: from has every message of ours up to seq;
                       flag: it has our CB_END */
    CB_DONE,        /* fast: from printed and all its messages are acked */
    CB_MSG,         /* seed: message seq of from, sent at ts, value */
    CB_MSG_ACK,     /* seed: from holds our message seq */
    CB_FLUSH,       /* seed: every peer acked our last message seq: commit it */
    CB_FLUSH_ACK,   /* seed: from got our flush of seq */
} cb_msg_kind;

typedef struct cb_msg {
    cb_msg_kind    kind;
    int            from;     /* sender's index */
    uint64_t       seq;
    uint64_t       ts;       /* DATA, MSG: send time, microseconds */
    uint32_t       count;    /* DATA: number of values */
    const uint8_t *vals;     /* DATA: count big-endian 32-bit values */
    uint32_t       value;    /* MSG */
    int            flag;     /* ACK: end seen */
} cb_msg;

typedef enum cb_event_kind {
    CB_EV_TICK,              /* the ticker fired */
    CB_EV_MSG,               /* msg arrived */
    CB_EV_UP,                /* connection to peer is up */
    CB_EV_DOWN,              /* connection to peer is down */
    CB_EV_PHASE,             /* phase changed to phase */
} cb_event_kind;

typedef struct cb_event {
    cb_event_kind kind;
    uint64_t      now;       /* wall clock, microseconds */
    int           peer;      /* UP, DOWN */
    const cb_msg *msg;       /* MSG */
    cb_phase      phase;     /* PHASE */
} cb_event;

typedef struct cb_result {
    cb_sum sum;
    int    complete;         /* 0: printed at the deadline without knowing
                                that every message is in */
} cb_result;

/* Where a core's actions go.  Pointers in a cb_msg are valid only during
 * the call. */
typedef struct cb_sink {
    void *ud;
    void (*send)(void *ud, int to, const cb_msg *m);
    /* Own messages first..first+count-1 were created at ts (values as in
     * CB_DATA).  Optional. */
    void (*created)(void *ud, uint64_t ts, uint64_t first, uint32_t count, const uint8_t *vals);
    /* The result, once. */
    void (*output)(void *ud, const cb_result *r);
    /* Optional (NULL: never busy).  Non-zero while the connection to `to`
     * holds more unsent output than it should: the fast core sends it no
     * data then (it tries again on the next tick) and never re-sends into
     * it. */
    int  (*busy)(void *ud, int to);
    /* Optional.  The retransmit timeout for `to` expired: it has acked
     * nothing for that long while an ack was awaited (a black-holed
     * connection, a stopped peer).  The glue drops the connection (with
     * whatever it still queues: stale) and dials again; once it is up
     * (CB_EV_UP) the core sends everything unacked once.  Without it the
     * fast core re-sends into the same connection (if not busy), the seed
     * core goes on re-sending every tick.  The timeout doubles with every
     * expiry (cb_backoff) and is reset by progress. */
    void (*reconnect)(void *ud, int to);
} cb_sink;

typedef struct cb_stats {
    uint64_t created;        /* own messages */
    uint64_t received;       /* messages of other nodes taken in */
    uint64_t committed;      /* messages folded into the result */
    uint64_t resent;         /* retransmissions */
    uint64_t reconnects;     /* reconnect actions */
    uint64_t rejected;       /* malformed or impossible messages dropped */
    int      output_done;
} cb_stats;

typedef struct cb_core cb_core;

/* NULL if params are invalid or memory is short. */
cb_core *cb_core_new(const cb_params *p);
void     cb_core_free(cb_core *c);
void     cb_core_step(cb_core *c, const cb_event *ev, const cb_sink *out);
/* Nothing is left for this node to do: it has printed, and (fast) every
 * peer has everything it needs from it. */
int      cb_core_finished(const cb_core *c);
void     cb_core_stats(const cb_core *c, cb_stats *st);
/* Why the output was incomplete or the node is still waiting (for logs). */
void     cb_core_describe(const cb_core *c, char *out, size_t outsz);

/* A peer's retransmit timeout after one more expiry: doubled, at most
 * CB_RTO_MAX_FACTOR * rto_us (rto 0 stands for rto_us). */
uint64_t cb_backoff(const cb_params *p, uint64_t rto);

const char *cb_protocol_name(cb_protocol p);
const char *cb_msg_kind_name(cb_msg_kind k);

/* ---- the protocols behind the interface (cb_fast.c, cb_seed.c) ---------- */

typedef struct cb_core_ops {
    cb_core *(*create)(const cb_params *p);
    void     (*destroy)(cb_core *c);
    void     (*step)(cb_core *c, const cb_event *ev, const cb_sink *out);
    int      (*finished)(const cb_core *c);
    void     (*describe)(const cb_core *c, char *out, size_t outsz);
} cb_core_ops;

/* Every core starts with this header. */
struct cb_core {
    const cb_core_ops *ops;
    cb_params          p;
    cb_stats           stats;
};

extern const cb_core_ops cb_fast_ops;
extern const cb_core_ops cb_seed_ops;

#endif
