/* gc_int.h - the gossip core's private structures, shared by its files.
 *
 *   gc_core.c     lifecycle, event dispatch, joins, leaves, updates, ticks
 *   gc_members.c  the membership table: names, incarnations, states
 *   gc_ring.c     the overlay: ring positions and the view
 *   gc_detect.c   the failure detector: probes, relays, suspicion, health
 *   gc_dissem.c   flooding and chat de-duplication
 *   gc_history.c  the lines shown lately, resent to a node back from a
 *                 partition
 */
#ifndef GC_INT_H
#define GC_INT_H

#include "gc_core.h"

/* ---- members ----------------------------------------------------------- */

typedef struct gc_member {
    uint64_t pos[GC_MAX_RINGS];  /* ring positions */
    uint64_t hash;               /* of the name */
    uint64_t inc;                /* incarnation (0: not known yet) */
    uint64_t since;              /* last change of status */
    uint64_t heard;              /* last first-hand message from it */
    uint64_t contacted;          /* last message we sent it outside the view */
    uint64_t told;               /* last time we told it it was removed */
    uint64_t lost;               /* heard, when we began to suspect it */
    uint64_t last_id;            /* highest chat id shown from it */
    uint64_t owed_since;         /* it caught up while removed here: lines since */
    uint8_t  status;             /* gc_status */
    uint8_t  in_view;
    uint8_t  owed;               /* owed_since is set */
    uint16_t len;
    char     name[];
} gc_member;

typedef struct gc_table {
    gc_member **slot;            /* open addressing, linear probing */
    size_t      cap;             /* power of two */
    size_t      count;           /* members of every status */
    size_t      live;            /* alive or suspect, us excluded */
} gc_table;

uint64_t   gc_hash_name(const char *s, size_t len);
uint64_t   gc_ring_pos(uint64_t name_hash, unsigned ring);
gc_member *gc_table_find(const gc_table *t, const char *name);
gc_member *gc_table_add(gc_core *c, const char *name, uint64_t now);
void       gc_table_remove(gc_table *t, gc_member *m);
void       gc_table_free(gc_table *t);
static inline int gc_is_live(const gc_member *m)
{ return m->status == GC_ALIVE_ST || m->status == GC_SUSPECT_ST; }

/* ---- probes, relays, suspicions ----------------------------------------- */

typedef struct gc_probe {
    gc_member *m;
    uint64_t   deadline;
    int        indirect;         /* 0: waiting for the direct pong */
} gc_probe;

typedef struct gc_relay {
    char     requester[GC_NAME_MAX + 1];
    char     target[GC_NAME_MAX + 1];
    uint64_t expires;
} gc_relay;
#define GC_MAX_RELAYS 64

#define GC_MAX_CONFIRM 8
typedef struct gc_suspicion {
    gc_member *m;
    uint64_t   inc;
    uint64_t   started;
    uint64_t   deadline;
    unsigned   nconf;            /* distinct suspecters */
    unsigned   expect;           /* confirmations to expect: K */
    uint64_t   by[GC_MAX_CONFIRM];/* their name hashes */
} gc_suspicion;

/* ---- chat ids seen ------------------------------------------------------- */

typedef struct gc_idset {
    uint64_t *key;               /* 0: empty */
    size_t    cap, count;
} gc_idset;

typedef struct gc_dedup {
    gc_idset cur, old;           /* two generations: old is dropped on rotation */
    uint64_t rotate_at;
} gc_dedup;

/* ---- lines shown, kept to resend after a heal ------------------------------ */

typedef struct gc_line {
    uint64_t id, shown;          /* shown: our time when we showed it */
    size_t   text_len;
    uint16_t sender_len;
    char     data[];             /* sender, NUL, text */
} gc_line;

typedef struct gc_history {
    gc_line **ring;              /* oldest at head */
    size_t    cap, head, count;
    size_t    bytes;             /* of the lines' text and names */
} gc_history;

/* ---- the core -------------------------------------------------------------- */

typedef struct gc_ring_nb {
    gc_member *succ, *pred;
} gc_ring_nb;

struct gc_core {
    gc_params   p;
    gc_io       io;
    uint64_t    rng;
    uint64_t    now;             /* time of the event being handled */
    uint64_t    started;         /* gc_start's time */
    gc_member  *me;              /* our own entry (in the table, never in a view) */
    uint64_t    id_base, seq;
    int         joined, joining, leaving;
    char        contact[GC_NAME_MAX + 1];
    uint64_t    join_at;

    gc_table    members;
    gc_ring_nb  ring[GC_MAX_RINGS];
    gc_member  *view[GC_MAX_VIEW];
    size_t      nview;
    int         view_dirty;      /* a neighbour left: rescan the rings */

    gc_probe    probes[GC_MAX_VIEW];
    size_t      nprobes;
    gc_relay    relays[GC_MAX_RELAYS];
    size_t      nrelays;
    gc_suspicion *susp;
    size_t      nsusp, susp_cap;
    unsigned    lhm;             /* local health multiplier */

    gc_dedup    dedup;
    gc_history  history;
    char      **seeds;           /* contacts to ask again if forgotten */
    size_t      nseeds;
    uint64_t    next_period, next_peer_list, next_purge, next_reconnect, next_sync;

    const char **scratch;        /* name lists for peer_list */
    size_t      scratch_cap;
    gc_stats    stats;
};

/* gc_core.c */
uint64_t gc_rand(gc_core *c);
uint64_t gc_rand_below(gc_core *c, uint64_t n);
void     gc_send(gc_core *c, gc_member *to_m, const char *to, const gc_msg *m);
void     gc_emit(gc_core *c, const gc_event *e);
void     gc_logf(gc_core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void     gc_set_status(gc_core *c, gc_member *m, gc_status st, uint64_t inc, uint64_t now);
void     gc_suspect(gc_core *c, gc_member *m, uint64_t inc, const char *by, uint64_t now);
void     gc_declare_dead(gc_core *c, gc_member *m, uint64_t inc, const char *by, uint64_t now);
void     gc_tell_status(gc_core *c, gc_member *m, uint64_t now);

/* gc_ring.c */
void gc_ring_added(gc_core *c, gc_member *m);
void gc_ring_removed(gc_core *c, gc_member *m);
void gc_ring_refresh(gc_core *c);
size_t gc_ring_degree(const gc_core *c, const gc_member *m);

/* gc_detect.c */
void     gc_detect_period(gc_core *c, uint64_t now);
void     gc_detect_tick(gc_core *c, uint64_t now, int late);
void     gc_detect_pong(gc_core *c, const char *from, uint64_t now);
void     gc_detect_ping_req(gc_core *c, const char *requester, const char *target, uint64_t now);
void     gc_detect_link_down(gc_core *c, gc_member *m, uint64_t now);
void     gc_detect_forget(gc_core *c, gc_member *m);
gc_suspicion *gc_susp_find(gc_core *c, const gc_member *m);
gc_suspicion *gc_susp_start(gc_core *c, gc_member *m, uint64_t inc, uint64_t now);
int      gc_susp_confirm(gc_core *c, gc_suspicion *s, const char *by, uint64_t now);
void     gc_susp_drop(gc_core *c, gc_member *m);
uint64_t gc_detect_deadline(const gc_core *c);
void     gc_detect_free(gc_core *c);

/* gc_dissem.c */
void gc_flood(gc_core *c, const gc_msg *m, const char *skip);
int  gc_dedup_seen(gc_core *c, const char *sender, uint64_t id, uint64_t now);
void gc_dedup_tick(gc_core *c, uint64_t now);
void gc_dedup_free(gc_dedup *d);

/* gc_history.c */
void gc_history_add(gc_core *c, const char *sender, uint64_t id, const char *text, size_t len,
                    uint64_t now);
void gc_history_trim(gc_core *c, uint64_t now);
void gc_history_resend(gc_core *c, const char *to, uint64_t since);
void gc_history_free(gc_history *h);

#endif
