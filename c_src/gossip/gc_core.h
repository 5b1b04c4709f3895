/* gc_core.h - the gossip chat's membership and dissemination as a pure core.
 *
 * One gc_core is one chat node's protocol state.  Events go in (a message,
 * a tick, a line typed, a connection lost), each with the current time in
 * milliseconds; actions come out through the gc_io callbacks (send a message
 * to a node, show an event).  The core has no sockets, no clock and no
 * randomness of its own (its PRNG is seeded by the caller), so a simulation
 * can drive a thousand cores over a fake network and replay any run.
 *
 * The protocol (docs/gossip.md has the details and the parameters):
 *   overlay        every node derives its neighbours from the membership it
 *                  knows: on each of R hash rings its successor and
 *                  predecessor.  Views are symmetric once memberships agree,
 *                  at most 2R nodes, and the union of R random rings is an
 *                  expander, so the overlay stays connected with a diameter
 *                  of O(log N).  A node sends only to its view, to nodes
 *                  that have it in theirs, and briefly to nodes it probes or
 *                  answers.
 *   dissemination  a chat line, a join, a leave and every membership update
 *                  are flooded over the view: forwarded once, by the node
 *                  whose state they change, to every neighbour.  Chat lines
 *                  are de-duplicated by (sender, id).
 *   membership     a joiner sends {join, Self} to one contact and gets the
 *                  whole membership back as {peer_list, [...]}, then floods
 *                  {alive, Self, Incarnation}.  Peer lists are also exchanged
 *                  periodically with a random neighbour.
 *   failure        SWIM with Lifeguard's refinements: every node pings its
 *   detection      neighbours each period; a missed pong leads to indirect
 *                  probes ({ping_req, Self, Target} to k other neighbours),
 *                  then to suspicion, flooded with the incarnation; the
 *                  suspect refutes with a higher incarnation; the suspicion
 *                  timeout shrinks with independent confirmations; a node
 *                  whose own timers run late (local health) stretches its
 *                  timeouts instead of accusing others.
 */
#ifndef GC_CORE_H
#define GC_CORE_H

#include <stddef.h>
#include <stdint.h>

#define GC_NAME_MAX     255          /* node names: alive@host, as Erlang */
#define GC_MAX_TEXT     65536        /* bytes of one chat line */
#define GC_MAX_RINGS    4
#define GC_MAX_VIEW     (2 * GC_MAX_RINGS)
#define GC_NEVER        UINT64_MAX

typedef struct gc_core gc_core;

/* ---- messages (gc_wire.h maps them to Erlang terms) -------------------- */

typedef enum gc_msg_type {
    /* the seed's six */
    GC_CHAT,         /* node = Sender, text, num = Id */
    GC_PEER_LIST,    /* list: the sender first, then the members it knows */
    GC_PING,         /* node = Sender */
    GC_PONG,         /* node = Sender */
    GC_JOIN,         /* node joins: sent to one contact */
    GC_LEAVE,        /* node leaves: flooded */
    /* SWIM's, which the seed's six cannot carry */
    GC_ALIVE,        /* node is alive at incarnation num: flooded */
    GC_SUSPECT,      /* other suspects node at incarnation num: flooded */
    GC_DEAD,         /* other declared node dead at incarnation num: flooded */
    GC_PING_REQ,     /* node asks: probe other for me, relay its pong */
    /* ours: after a partition */
    GC_CATCH_UP,     /* node lost touch with us num ms ago: our lines since */
    GC_MSG_TYPES
} gc_msg_type;

typedef struct gc_msg {
    gc_msg_type  type;
    const char  *node;           /* NUL-terminated, a valid node name */
    const char  *other;          /* SUSPECT, DEAD: By; PING_REQ: Target */
    const char  *text;           /* CHAT: bytes (UTF-8), text_len of them */
    size_t       text_len;
    uint64_t     num;            /* CHAT: Id; ALIVE/SUSPECT/DEAD: incarnation;
                                    CATCH_UP: ms */
    const char *const *list;     /* PEER_LIST: names */
    size_t       nlist;
} gc_msg;

const char *gc_msg_type_name(gc_msg_type t);
/* 1 if s (len bytes) is a node name the core accepts: alive@host, alive of
 * letters, digits, '_' and '-', host of those and '.', at most 255 bytes. */
int gc_name_valid(const char *s, size_t len);

/* ---- what the core shows ------------------------------------------------- */

typedef enum gc_event_type {
    GC_EV_CHAT,      /* node said text (id); mine: our own line */
    GC_EV_JOIN,      /* node is a member now (rejoin: it was removed before) */
    GC_EV_LEAVE,     /* node left gracefully */
    GC_EV_DEAD,      /* node was declared dead by other */
    GC_EV_SUSPECT,   /* node is suspected by other */
    GC_EV_ALIVE,     /* a suspected node refuted: alive again */
    GC_EV_JOINED,    /* we have a membership: count members (through node) */
    GC_EV_REFUTE,    /* others suspected or removed us (by other): refuted */
} gc_event_type;

typedef struct gc_event {
    gc_event_type type;
    const char   *node;
    const char   *other;
    const char   *text;
    size_t        text_len;
    uint64_t      id;            /* CHAT: id; others: incarnation */
    int           mine;          /* CHAT: we said it */
    int           late;          /* CHAT: shown after a newer line of its
                                    sender (it came back after a partition) */
    int           rejoin;        /* JOIN: it had been removed */
    int           initial;       /* JOIN: learned with the membership as we
                                    joined (or started from a file) */
    size_t        count;         /* JOINED: members, us included */
} gc_event;

/* ---- the core's outputs ---------------------------------------------------- */

typedef struct gc_io {
    void *ud;
    /* Send m to the gossip process on node `to`.  Strings in m are valid
     * during the call only. */
    void (*send)(void *ud, const char *to, const gc_msg *m);
    /* Something to show. */
    void (*event)(void *ud, const gc_event *e);
    /* Protocol oddities worth a log line (optional). */
    void (*log)(void *ud, const char *line);
} gc_io;

/* ---- parameters ----------------------------------------------------------- */

typedef struct gc_params {
    unsigned rings;              /* hash rings: view <= 2 * rings (3) */
    unsigned period_ms;          /* ping every neighbour this often (500) */
    unsigned ping_timeout_ms;    /* then ask others to probe (300) */
    unsigned indirect_timeout_ms;/* then suspect (500) */
    unsigned indirect_k;         /* neighbours asked to probe (3) */
    unsigned suspect_min_ms;     /* suspicion timeout, fully confirmed (1500) */
    unsigned suspect_max_ms;     /* ... with no confirmation (6000) */
    unsigned confirm_k;          /* confirmations expected (3) */
    unsigned peer_list_ms;       /* peer-list exchange period (2000) */
    unsigned join_retry_ms;      /* join again while unanswered (1000) */
    unsigned tombstone_ms;       /* remember departed nodes (60000) */
    unsigned reconnect_timeout_ms;/* remember and retry failed nodes (24 h) */
    unsigned reconnect_ms;       /* ping one failed node, ask one forgotten
                                    contact, this often (5000) */
    unsigned sync_ms;            /* push/pull membership with a random
                                    member this often (30000) */
    unsigned history_lines;      /* lines kept to resend after a heal (10000) */
    unsigned history_ms;         /* ... shown at most this long ago (300000);
                                    also the least time chat ids are kept */
    unsigned late_ms;            /* a tick this late means we were stalled (250) */
    unsigned lhm_max;            /* local health: timeouts up to x(1+lhm_max) (4) */
    unsigned max_members;        /* membership bound (10000) */
} gc_params;

/* Fills zero fields with the defaults above. */
void gc_params_fill(gc_params *p);

typedef struct gc_config {
    const char *self;            /* our node name */
    uint64_t    incarnation;     /* > any earlier life's: the start time in ms */
    uint64_t    id_base;         /* chat ids are id_base + 1, + 2, ...: unique
                                    across lives, e.g. the start time in us */
    uint64_t    seed;            /* PRNG seed */
    gc_params   params;          /* zeros: defaults */
} gc_config;

typedef struct gc_stats {
    uint64_t sent[GC_MSG_TYPES], received[GC_MSG_TYPES];
    uint64_t chats_shown, duplicates, stale_updates, refutations;
    uint64_t probes, probes_failed, indirect_probes, suspicions, removals;
    uint64_t late, resent;       /* lines shown late; lines resent after a heal */
} gc_stats;

/* ---- lifecycle and events -------------------------------------------------- */

/* NULL (and why in err) for a bad configuration. */
gc_core *gc_new(const gc_config *cfg, const gc_io *io, char *err, size_t errlen);
void     gc_free(gc_core *c);

/* Start alone (contact NULL) or by joining through contact. */
void gc_start(gc_core *c, uint64_t now, const char *contact);
/* Start with a known membership (a cluster file): names other than ours
 * become members at incarnation 0, quietly.  The contact and the file's
 * names are this node's seeds: one it no longer knows at all (a partition
 * outlasted every tombstone) is asked to join us every reconnect_ms. */
void gc_start_with(gc_core *c, uint64_t now, const char *const *names, size_t n);

void gc_recv(gc_core *c, uint64_t now, const gc_msg *m);
/* Run what is due; call at gc_next_deadline (late calls are detected). */
void gc_tick(gc_core *c, uint64_t now);
uint64_t gc_next_deadline(const gc_core *c);
/* The transport lost its connection to node (a hint: probe it now). */
void gc_link_down(gc_core *c, uint64_t now, const char *node);

/* A line typed: shown here and flooded.  Returns its id, 0 if refused
 * (empty, too long, or we are leaving). */
uint64_t gc_say(gc_core *c, uint64_t now, const char *text, size_t len);
/* Leave gracefully: {leave, Self} to every neighbour; nothing after it. */
void gc_leave(gc_core *c, uint64_t now);

/* ---- inspection ------------------------------------------------------------ */

const char *gc_self(const gc_core *c);
uint64_t    gc_incarnation(const gc_core *c);
int         gc_is_joined(const gc_core *c);
int         gc_is_leaving(const gc_core *c);
/* Live members (alive or suspected), us included, in no particular order:
 * fills up to max names, returns the count. */
size_t gc_members(const gc_core *c, const char **out, size_t max);
size_t gc_member_count(const gc_core *c);
/* Our neighbours. */
size_t gc_view(const gc_core *c, const char **out, size_t max);

typedef enum gc_status { GC_UNKNOWN = 0, GC_ALIVE_ST, GC_SUSPECT_ST, GC_DEAD_ST, GC_LEFT_ST } gc_status;
gc_status gc_member_status(const gc_core *c, const char *node, uint64_t *incarnation);
const char *gc_status_name(gc_status s);

/* Should the transport keep its connection to node?  1 yes (a neighbour,
 * or in touch lately), 0 no (a member we no longer talk to), -1 not a node
 * of ours (leave it alone). */
int gc_keep_link(const gc_core *c, uint64_t now, const char *node);

const gc_stats *gc_get_stats(const gc_core *c);
unsigned gc_local_health(const gc_core *c);

#endif
