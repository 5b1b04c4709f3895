/* raft_node.c - the raft_kv process (see raft_node.h): wire messages in,
 * core events; core actions out, wire messages, disk writes and traces.
 *
 * Peers.  set_peers gives each peer's Subject.  Each is monitored (an
 * emulation peer sends no heartbeats: its monitor is its failure detector)
 * and classified by asking its node for {raft_kv, Node}'s subject: a C node
 * answers with the same Subject (a peer that understands the extensions),
 * a Gleam or Erlang node has no such name (noproc: an emulation peer, sent
 * only the seed's messages).  With a peers file, peers are found by name
 * the same way, and found again after they restart.
 *
 * Replies.  A request we send carries a reply Subject of ours: one per peer
 * in raft mode (replies carry no request id; their terms and match indexes
 * make stale ones harmless), a fresh one per call in emulation mode (the
 * seed's actor.call), so a late reply is recognised as late.
 *
 * Durability.  Messages the core marks after_persist wait in a queue until
 * the storage reports that write durable.
 *
 * Forwarding.  A follower sends a client's command to the leader with a
 * reply Subject of its own and relays the answer, so it knows what is
 * outstanding: if the leader goes down, or says nothing for
 * FORWARD_TIMEOUT_MS, the client is answered "replication failed" (the
 * outcome unknown: the leader may have appended it) instead of nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "raft_node.h"
#include "raft_storage.h"
#include "raft_wire.h"

#define RESOLVE_RETRY_MS 500
#define RESOLVE_CALL_MS 2000
#define MAX_WATCHERS 16
#define FORWARD_TIMEOUT_MS 3000      /* under the 5 s a Gleam client waits */

typedef struct rn_peer {
    int            id;
    char           node[256];
    cn_subject     subject;
    int            has_subject;
    cn_subject     reply;            /* our reply subject for this peer */
    int            has_reply;
    cn_ref         mon;
    int            monitored;
    raft_peer_kind kind;
    int            resolving;
    struct raft_node *rn;
} rn_peer;

typedef struct rn_token {
    UT_hash_handle hh;
    uint64_t   id;
    cn_subject to;
    int        requester;            /* peer id of a request's sender */
    int        is_call;              /* a gen_server call's: answered to from */
    cn_from    from;
} rn_token;

typedef struct rn_call {
    UT_hash_handle hh;
    cn_ref   tag;                     /* the per-call reply subject's tag */
    int      peer;
    uint64_t call;
} rn_call;

typedef struct rn_fwd {           /* a command forwarded to the leader */
    UT_hash_handle hh;
    cn_ref     tag;                   /* our reply Subject's tag */
    cn_subject client;
    int        leader;
    int        get;                   /* the error shape */
    uint64_t   sent;
} rn_fwd;

typedef struct rn_held {
    struct rn_held *next;
    uint64_t   after;
    cn_subject to;
    size_t     len;
    char       data[];
} rn_held;

typedef struct raft_node {
    cn_proc       *proc;
    raft          *r;
    raft_node_config cfg;
    cn_subject     self;
    rn_peer       *peers;
    size_t         npeers;
    rn_peer       *offer;           /* set_peers' Subjects, while the core takes them */
    size_t         noffer;
    rn_token      *tokens;
    uint64_t       next_token;
    rn_call       *calls;
    rn_fwd        *fwds;
    rn_held       *held, *held_tail;
    uint64_t       persisted;
    raft_storage  *storage;
    cn_deadline    tick;            /* the core's next deadline */
    raft_wire_in  *in;
    cn_buf         buf;
    char           err[256];
    cn_pid         watchers[MAX_WATCHERS];   /* get raft_kv_event messages */
    size_t         nwatchers;
    struct { raft_role role; uint64_t term, applied; int leader; } told;
    cn_from        transfer_from;   /* {transfer, _}'s caller, answered at the end */
    int            transfer_asked;
    int            transfer_target;
    int            stop_after_transfer;  /* SIGTERM on a leader: hand over, then stop */
} raft_node;

static uint64_t now_ms(raft_node *rn) { return cn_proc_now(rn->proc); }

static rn_peer *peer_by_id(raft_node *rn, int id)
{
    for (size_t i = 0; i < rn->npeers; i++)
        if (rn->peers[i].id == id)
            return &rn->peers[i];
    return NULL;
}

/* ---- timers ------------------------------------------------------------- */

static void after_core(raft_node *rn);

static void on_tick(raft_node *rn)
{
    raft_tick(rn->r, now_ms(rn));
    after_core(rn);
}

static void put_leader(cn_buf *b, int leader)
{
    if (leader)
        cn_term_put_long(b, leader);
    else
        cn_term_put_atom(b, "none");
}

/* {raft_kv_event, Pid, Role, Term, Leader | none, LastApplied} */
static void tell(raft_node *rn, const cn_pid *to)
{
    raft *r = rn->r;
    cn_buf *b = &rn->buf;
    cn_buf_reset(b);
    cn_term_put_tuple(b, 6);
    cn_term_put_atom(b, "raft_kv_event");
    cn_term_put_pid(b, cn_self(rn->proc));
    cn_term_put_atom(b, raft_role_name(raft_get_role(r)));
    cn_term_put_ulong(b, raft_get_term(r));
    put_leader(b, raft_get_leader(r));
    cn_term_put_ulong(b, raft_get_applied(r));
    cn_term t = cn_buf_term(b, 0);
    cn_send(rn->proc, to, &t);
}

/* Tells the watchers when role, term, leader or last_applied changed. */
static void tell_watchers(raft_node *rn)
{
    raft *r = rn->r;
    if (!rn->nwatchers || (rn->told.role == raft_get_role(r) && rn->told.term == raft_get_term(r) &&
                           rn->told.leader == raft_get_leader(r) &&
                           rn->told.applied == raft_get_applied(r)))
        return;
    rn->told.role = raft_get_role(r);
    rn->told.term = raft_get_term(r);
    rn->told.leader = raft_get_leader(r);
    rn->told.applied = raft_get_applied(r);
    for (size_t i = 0; i < rn->nwatchers; i++)
        tell(rn, &rn->watchers[i]);
}

static int watch(raft_node *rn, const cn_pid *pid)
{
    for (size_t i = 0; i < rn->nwatchers; i++)
        if (cn_pid_eq(&rn->watchers[i], pid))
            return 0;
    if (rn->nwatchers == MAX_WATCHERS)
        return -1;
    rn->watchers[rn->nwatchers++] = *pid;
    return 0;
}

/* A transfer under way has ended: its caller hears how, and a node
 * stopping after it stops. */
static void transfer_ended(raft_node *rn)
{
    if (raft_transfer_target(rn->r) || !(rn->transfer_asked || rn->stop_after_transfer))
        return;
    int done = raft_get_role(rn->r) != RAFT_LEADER;
    if (rn->transfer_asked) {
        rn->transfer_asked = 0;
        if (done)
            cn_replyf(rn->proc, &rn->transfer_from, "{ok, ~i}", rn->transfer_target);
        else
            cn_replyf(rn->proc, &rn->transfer_from, "{error, ~s}",
                      "not done within an election timeout: still leader");
    }
    if (rn->stop_after_transfer) {
        rn->stop_after_transfer = 0;
        cn_log(cn_proc_node(rn->proc), CN_LOG_INFO, "raft_kv %d: %s; stopping", rn->cfg.id,
               done ? "leadership handed over" : "the handover did not finish in time");
        cn_node_stop(cn_proc_node(rn->proc));
    }
}

/* Arms the timer for the core's next deadline. */
static void after_core(raft_node *rn)
{
    tell_watchers(rn);
    transfer_ended(rn);
    cn_deadline_set(rn->proc, &rn->tick, raft_next_deadline(rn->r));
}

/* ---- sending ------------------------------------------------------------ */

static void send_or_hold(raft_node *rn, const cn_subject *to, const cn_term *msg, uint64_t after)
{
    if (after <= rn->persisted) {
        cn_subject_send(rn->proc, to, msg);
        return;
    }
    rn_held *h = malloc(sizeof *h + msg->len);
    if (!h)
        return;
    h->next = NULL;
    h->after = after;
    h->to = *to;
    h->len = msg->len;
    memcpy(h->data, msg->data, msg->len);
    if (rn->held_tail)
        rn->held_tail->next = h;
    else
        rn->held = h;
    rn->held_tail = h;
}

static void release_held(raft_node *rn)
{
    while (rn->held && rn->held->after <= rn->persisted) {
        rn_held *h = rn->held;
        rn->held = h->next;
        if (!rn->held)
            rn->held_tail = NULL;
        cn_term t = { h->data, h->len };
        cn_subject_send(rn->proc, &h->to, &t);
        free(h);
    }
}

/* A reply address for the core: a Subject (to, a request's or a client's)
 * or, with from, a gen_server call's caller.  0 if out of memory. */
static uint64_t token_add(raft_node *rn, const cn_subject *to, int requester,
                          const cn_from *from)
{
    rn_token *t = calloc(1, sizeof *t);
    if (!t)
        return 0;
    t->id = ++rn->next_token;
    if (to)
        t->to = *to;
    t->requester = requester;
    if (from) {
        t->is_call = 1;
        t->from = *from;
    }
    HASH_ADD(hh, rn->tokens, id, sizeof t->id, t);
    return t->id;
}

static uint64_t token_new(raft_node *rn, const cn_subject *to, int requester)
{
    return token_add(rn, to, requester, NULL);
}

/* A token for a gen_server call's caller (a membership change). */
static uint64_t token_call(raft_node *rn, const cn_from *from)
{
    return token_add(rn, NULL, 0, from);
}

static rn_token *token_take(raft_node *rn, raft_token id)
{
    rn_token *t = NULL;
    HASH_FIND(hh, rn->tokens, &id, sizeof id, t);
    if (t)
        HASH_DEL(rn->tokens, t);
    return t;
}

static void io_send(void *ud, int peer, const raft_msg *m, uint64_t after, uint64_t call)
{
    raft_node *rn = ud;
    rn_peer *p = peer_by_id(rn, peer);
    if (!p || !p->has_subject)
        return;                     /* unreachable for now: as a lost message */
    cn_subject reply = p->reply;
    if (call && m->type != RAFT_MSG_COMMIT) {
        rn_call *c = calloc(1, sizeof *c);
        if (!c)
            return;
        cn_subject_new(rn->proc, &reply);
        c->tag = reply.tag;
        c->peer = peer;
        c->call = call;
        HASH_ADD(hh, rn->calls, tag, sizeof c->tag, c);
    }
    cn_buf_reset(&rn->buf);
    raft_wire_put_request(&rn->buf, m, &reply);
    if (cn_buf_failed(&rn->buf))
        return;
    cn_term t = cn_buf_term(&rn->buf, 0);
    send_or_hold(rn, &p->subject, &t, after);
}

static void io_reply(void *ud, raft_token token, const raft_msg *m, uint64_t after)
{
    raft_node *rn = ud;
    rn_token *t = token_take(rn, token);
    if (!t)
        return;
    rn_peer *p = peer_by_id(rn, t->requester);
    cn_buf_reset(&rn->buf);
    /* a requester we do not know of is a C leader adding us (membership
     * changes are among C nodes): it understands the extensions */
    raft_wire_put_reply(&rn->buf, m, !p || p->kind == RAFT_KIND_CN);
    if (!cn_buf_failed(&rn->buf)) {
        cn_term r = cn_buf_term(&rn->buf, 0);
        send_or_hold(rn, &t->to, &r, after);
    }
    free(t);
}

static void io_client_reply(void *ud, raft_token token, const cn_term *result)
{
    raft_node *rn = ud;
    rn_token *t = token_take(rn, token);
    if (t) {
        if (t->is_call)
            cn_reply(rn->proc, &t->from, result);
        else
            cn_subject_send(rn->proc, &t->to, result);
        free(t);
    }
}

static void io_forward(void *ud, raft_token token, int leader, const cn_term *cmd)
{
    raft_node *rn = ud;
    rn_token *t = token_take(rn, token);
    rn_peer *p = peer_by_id(rn, leader);
    if (!t)
        return;
    cn_buf_reset(&rn->buf);
    rn_fwd *f = p && p->has_subject ? calloc(1, sizeof *f) : NULL;
    if (f) {
        cn_subject via;
        cn_subject_new(rn->proc, &via);
        f->tag = via.tag;
        f->client = t->to;
        f->leader = leader;
        f->get = raft_kv_is_get(cmd);
        f->sent = now_ms(rn);
        HASH_ADD(hh, rn->fwds, tag, sizeof f->tag, f);
        raft_wire_put_client(&rn->buf, cmd, &via);
        cn_term fwd = cn_buf_term(&rn->buf, 0);
        if (!cn_buf_failed(&rn->buf))
            cn_subject_send(rn->proc, &p->subject, &fwd);
    } else {
        raft_kv_put_error(&rn->buf, cmd, "not leader");
        cn_term err = cn_buf_term(&rn->buf, 0);
        cn_subject_send(rn->proc, &t->to, &err);
    }
    free(t);
}

static void io_persist(void *ud, uint64_t seq, int truncate, uint64_t keep, uint64_t first,
                       const raft_entry *entries, size_t n, uint64_t term, int vote)
{
    raft_node *rn = ud;
    raft_storage_persist(rn->storage, seq, truncate, keep, first, entries, n, term, vote);
}

static void io_snapshot(void *ud, uint64_t seq, uint64_t index, uint64_t term,
                        raft_snapshot_buf *snap, uint64_t compact, int drop)
{
    raft_node *rn = ud;
    (void)term;
    raft_storage_snapshot(rn->storage, seq, index, snap, compact, drop);
}

static void io_trace(void *ud, const char *line)
{
    raft_node *rn = ud;
    if (rn->cfg.trace) {
        fputs(line, rn->cfg.trace);
        fputc('\n', rn->cfg.trace);
    }
}

static void persisted(cn_proc *p, void *arg)
{
    raft_node *rn = cn_proc_state(p);
    uint64_t seq = *(const uint64_t *)arg;
    if (seq > rn->persisted)
        rn->persisted = seq;
    raft_persisted(rn->r, now_ms(rn), seq);
    release_held(rn);
    after_core(rn);
}

/* Storage's completion: a turn of the raft_kv process. */
static void on_persisted(void *ud, uint64_t seq)
{
    raft_node *rn = ud;
    cn_proc_run(rn->proc, persisted, &seq);
}

/* ---- peers -------------------------------------------------------------- */

static void resolve(raft_node *rn, rn_peer *p);
static void forwards_fail(raft_node *rn, int leader, uint64_t older_than);

static void monitor_peer(raft_node *rn, rn_peer *p)
{
    if (p->monitored)
        cn_demonitor(rn->proc, &p->mon);
    cn_dest d = { &p->subject.owner, NULL, NULL };
    p->monitored = cn_monitor(rn->proc, d, &p->mon) == 0;
}

/* {raft_kv, Node} answered (or did not): is the peer a C node?  The call
 * carries the peer's id, not a pointer: set_peers may have replaced the
 * peer table (or dropped the peer) while the call was out. */
static void resolved(cn_proc *proc, cn_call_status st, const cn_term *reply, void *ud)
{
    raft_node *rn = cn_proc_state(proc);
    rn_peer *p = rn ? peer_by_id(rn, (int)(intptr_t)ud) : NULL;
    cn_subject s;
    if (!p)
        return;
    p->resolving = 0;
    if (st == CN_CALL_OK && cn_subject_from_term(reply, &s) == 0 && !s.name) {
        int changed = !p->has_subject || !cn_pid_eq(&s.owner, &p->subject.owner) ||
                      !cn_ref_eq(&s.tag, &p->subject.tag);
        p->subject = s;
        p->has_subject = 1;
        p->kind = RAFT_KIND_CN;
        if (changed || !p->monitored)
            monitor_peer(rn, p);
        raft_set_peer_kind(rn->r, p->id, RAFT_KIND_CN);
        raft_peer_alive(rn->r, now_ms(rn), p->id, 1);
        cn_log(cn_proc_node(proc), CN_LOG_INFO, "raft peer %d at %s is a C node", p->id, p->node);
    } else if (st == CN_CALL_DOWN && cn_term_is_atom(reply, "noproc") && p->has_subject) {
        p->kind = RAFT_KIND_EMU;
        raft_set_peer_kind(rn->r, p->id, RAFT_KIND_EMU);
        cn_log(cn_proc_node(proc), CN_LOG_INFO, "raft peer %d at %s is an emulation node",
               p->id, p->node);
    }
    /* else: not reachable yet; the resolve timer tries again */
    after_core(rn);
}

static void resolve(raft_node *rn, rn_peer *p)
{
    if (p->resolving || !p->node[0])
        return;
    cn_term req = cn_fmt(rn->proc, "subject");
    cn_dest d = { NULL, "raft_kv", p->node };
    p->resolving = cn_call(rn->proc, d, &req, RESOLVE_CALL_MS, resolved,
                           (void *)(intptr_t)p->id) == 0;
}

/* {timeout, _, resolve}, every RESOLVE_RETRY_MS: looks for the Subjects
 * of peers not yet found. */
static void on_resolve_timer(raft_node *rn)
{
    cn_start_timerf(rn->proc, RESOLVE_RETRY_MS, NULL, "resolve");
    forwards_fail(rn, 0, FORWARD_TIMEOUT_MS);
    for (size_t i = 0; i < rn->npeers; i++) {
        rn_peer *p = &rn->peers[i];
        if (p->kind == RAFT_KIND_UNKNOWN || (p->kind == RAFT_KIND_CN && !p->monitored))
            resolve(rn, p);
    }
}

/* Caught up after rejoining: the mark goes from DIR/id, so a restart votes. */
static void io_rejoined(void *ud)
{
    raft_node *rn = ud;
    if (rn->storage && raft_storage_rejoined(rn->storage) < 0)
        cn_log(NULL, CN_LOG_ERROR, "raft_kv %d: cannot rewrite %s/id (%s): after a restart it "
               "will rejoin again, not voting until it has caught up", rn->cfg.id,
               rn->cfg.data_dir, strerror(errno));
    cn_log(NULL, CN_LOG_INFO, "raft_kv %d: caught up with the leader after rejoining: voting "
           "again", rn->cfg.id);
}

/* The core's peers changed (set_peers, a configuration entry, a new
 * member catching up): the table follows, keeping what it knew of those
 * that stay (their Subjects, monitors, reply Subjects, kinds), taking the
 * Subjects set_peers offered, and looking for the others by name. */
static void io_members(void *ud, const raft_member *m, size_t n)
{
    raft_node *rn = ud;
    rn_peer *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        abort();                    /* a peer table out of step with the core */
    for (size_t i = 0; i < n; i++) {
        rn_peer *old = peer_by_id(rn, m[i].id), *offered = NULL;
        for (size_t k = 0; k < rn->noffer; k++)
            if (rn->offer[k].id == m[i].id)
                offered = &rn->offer[k];
        int renamed = old && m[i].node && m[i].node[0] && strcmp(old->node, m[i].node) != 0;
        if (old && !renamed) {
            v[i] = *old;
            old->id = 0;            /* carried over */
        } else {
            v[i].id = m[i].id;
            snprintf(v[i].node, sizeof v[i].node, "%s", m[i].node ? m[i].node : "");
        }
        if (offered && offered->has_subject &&
            (!v[i].has_subject || !cn_pid_eq(&v[i].subject.owner,
                                                        &offered->subject.owner) ||
                        !cn_ref_eq(&v[i].subject.tag, &offered->subject.tag))) {
            v[i].subject = offered->subject;
            v[i].has_subject = 1;
            snprintf(v[i].node, sizeof v[i].node, "%s", offered->subject.owner.node);
            v[i].monitored = 0;     /* a new owner: monitored below (the old one is dropped) */
            if (old && old->id == 0 && old->monitored)
                cn_demonitor(rn->proc, &old->mon);
        }
    }
    for (size_t i = 0; i < rn->npeers; i++) {
        rn_peer *o = &rn->peers[i];
        if (o->id == 0)
            continue;               /* carried over */
        if (o->monitored)
            cn_demonitor(rn->proc, &o->mon);
        if (o->has_reply)
            cn_subject_drop(rn->proc, &o->reply);
    }
    free(rn->peers);
    rn->peers = v;
    rn->npeers = n;
    for (size_t i = 0; i < n; i++) {
        rn_peer *p = &v[i];
        p->rn = rn;
        if (!p->has_reply) {
            cn_subject_new(rn->proc, &p->reply);
            p->has_reply = 1;
        }
        if (p->has_subject && !p->monitored)
            monitor_peer(rn, p);
        if (rn->cfg.mode == RAFT_MODE_RAFT && (p->kind == RAFT_KIND_UNKNOWN || !p->has_subject))
            resolve(rn, p);
    }
}

/* offered: peers with the Subjects set_peers gave (or names only, from
 * the peers file); the core decides what is in force and io_members
 * brings the table in line. */
static int set_peers(raft_node *rn, rn_peer *offered, size_t n)
{
    raft_member *m = malloc((n ? n : 1) * sizeof *m);
    if (!m) {
        free(offered);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (offered[i].has_subject)
            snprintf(offered[i].node, sizeof offered[i].node, "%s",
                     offered[i].subject.owner.node);
        m[i].id = offered[i].id;
        m[i].node = offered[i].node;
    }
    rn->offer = offered;
    rn->noffer = n;
    raft_set_peers(rn->r, now_ms(rn), m, n);
    rn->offer = NULL;
    rn->noffer = 0;
    free(offered);
    free(m);
    return 0;
}

static void save_peers(raft_node *rn, const cn_term *list);

static int refuse_set_peers(raft_node *rn, const rn_peer *v, size_t n)
{
    raft_member *m = malloc((n ? n : 1) * sizeof *m);
    if (!m)
        return 1;
    for (size_t i = 0; i < n; i++) {
        m[i].id = v[i].id;
        m[i].node = v[i].node;
    }
    const char *why = raft_set_peers_refused(rn->r, m, n);
    free(m);
    if (why)
        cn_log(cn_proc_node(rn->proc), CN_LOG_WARN, "raft_kv %d: set_peers refused: %s",
               rn->cfg.id, why);
    return why != NULL;
}

/* {set_peers, [{Id, Subject}]} from a Gleam or Erlang main (live), or
 * the set saved in the data directory (at start).  A live one that
 * would change the configuration of a running cluster is refused. */
static void on_set_peers(raft_node *rn, const cn_term *list, int live)
{
    cn_list_iter it;
    uint32_t n;
    cn_term e, st;
    if (cn_list_begin(&it, list, &n) < 0 || n > 10000) {
        cn_log(cn_proc_node(rn->proc), CN_LOG_WARN, "raft_kv: set_peers without a list: dropped");
        return;
    }
    rn_peer *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return;
    size_t k = 0;
    while (cn_list_next(&it, &e) == 1) {
        int id;
        /* a peer is dialed and monitored through its owner's pid: a named
         * subject, which has none, is no peer */
        if (!cn_term_match(&e, "{~i, ~t}", &id, &st) || id < 1 ||
            cn_subject_from_term(&st, &v[k].subject) < 0 || v[k].subject.name) {
            cn_log(cn_proc_node(rn->proc), CN_LOG_WARN,
                   "raft_kv: set_peers entry is not {Id, {subject, Pid, Ref}}: dropped");
            free(v);
            return;
        }
        if (id == rn->cfg.id)
            continue;               /* a list that includes us */
        v[k].id = id;
        v[k].has_subject = 1;
        snprintf(v[k].node, sizeof v[k].node, "%s", v[k].subject.owner.node);
        k++;
    }
    if (live && refuse_set_peers(rn, v, k)) {
        free(v);
        return;
    }
    set_peers(rn, v, k);
    if (live)
        save_peers(rn, list);
}

/* The peer set outlives a restart (DIR/peers): a node of a set_peers
 * cluster comes back knowing its cluster, finds its C peers again by name
 * and campaigns as it did before. */
static void save_peers(raft_node *rn, const cn_term *list)
{
    if (!rn->storage)
        return;
    cn_buf b;
    cn_buf_init(&b);
    cn_buf_append(&b, "\x83", 1);
    cn_buf_append(&b, list->data, list->len);
    if (cn_buf_failed(&b) || raft_storage_save_peers(rn->storage, b.data, b.len) < 0)
        cn_log(cn_proc_node(rn->proc), CN_LOG_WARN,
               "raft_kv: cannot save the peer set in %s: a restart will wait for set_peers",
               rn->cfg.data_dir);
    cn_buf_free(&b);
}

static void restore_peers(raft_node *rn)
{
    cn_buf b;
    cn_term list;
    cn_buf_init(&b);
    int r = raft_storage_load_peers(rn->storage, &b);
    if (r > 0 && cn_term_from_ext(b.data, b.len, &list) == 0) {
        cn_log(cn_proc_node(rn->proc), CN_LOG_INFO, "raft_kv: peer set restored from %s/peers",
               rn->cfg.data_dir);
        on_set_peers(rn, &list, 0);
    } else if (r != 0) {
        cn_log(cn_proc_node(rn->proc), CN_LOG_WARN,
               "raft_kv: %s/peers is unreadable: waiting for set_peers", rn->cfg.data_dir);
    }
    cn_buf_free(&b);
}

/* Peers from the peers file: found by name, as they come up. */
static int peers_from_file(raft_node *rn)
{
    const cn_peers *pf = rn->cfg.peers;
    rn_peer *v = calloc(pf->count ? pf->count : 1, sizeof *v);
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < pf->count; i++) {
        if (pf->nodes[i].id == rn->cfg.id)
            continue;
        v[k].id = pf->nodes[i].id;
        snprintf(v[k].node, sizeof v[k].node, "%s", pf->nodes[i].name);
        k++;
    }
    return set_peers(rn, v, k);
}

/* ---- the process -------------------------------------------------------- */

static void handle_request(raft_node *rn, const cn_term *msg)
{
    cn_node *n = cn_proc_node(rn->proc);
    raft_wire_in *in = rn->in;
    const char *why = NULL;
    char txt[256];
    uint64_t now = now_ms(rn);
    switch (raft_wire_decode(msg, in, &why)) {
    case RAFT_WIRE_SET_PEERS:
        on_set_peers(rn, &in->list, 1);
        break;
    case RAFT_WIRE_START_ELECTION:
        raft_start_election(rn->r, now);
        break;
    case RAFT_WIRE_REQUEST: {
        uint64_t tok = token_new(rn, &in->reply_to, in->msg.node);
        raft_recv(rn->r, now, in->msg.node, &in->msg, tok);
        break;
    }
    case RAFT_WIRE_NOTICE:
        raft_recv(rn->r, now, in->msg.node, &in->msg, 0);   /* node: 0 for a commit */
        break;
    case RAFT_WIRE_CLIENT: {
        cn_term cmd = cn_buf_term(&in->cmd, 0);
        if (cmd.len > RAFT_MAX_COMMAND) {
            char too[160];
            snprintf(too, sizeof too, "too large: %zu bytes of key and value (raft_kv takes "
                     "at most %u)", cmd.len, RAFT_MAX_COMMAND);
            cn_buf_reset(&rn->buf);
            raft_kv_put_error(&rn->buf, &cmd, too);
            cn_term err = cn_buf_term(&rn->buf, 0);
            cn_subject_send(rn->proc, &in->reply_to, &err);
            return;
        }
        uint64_t tok = token_new(rn, &in->reply_to, 0);
        raft_client(rn->r, now, &cmd, tok);
        break;
    }
    case RAFT_WIRE_CLIENT_BAD:
        cn_subject_sendf(rn->proc, &in->reply_to, in->get ? "{error, ~s}" : "{op_error, ~s}",
                         why);
        return;
    default:
        cn_term_format(msg, txt, sizeof txt);
        cn_log(n, CN_LOG_WARN, "raft_kv: %s: dropped %s", why ? why : "unknown message", txt);
        return;
    }
    after_core(rn);
}

/* A forward ends: the client gets reply, or (NULL) "replication failed". */
static void forward_end(raft_node *rn, rn_fwd *f, const cn_term *reply)
{
    if (reply) {
        cn_subject_send(rn->proc, &f->client, reply);
    } else {
        cn_buf_reset(&rn->buf);
        raft_kv_put_error_as(&rn->buf, f->get, "replication failed");
        cn_term err = cn_buf_term(&rn->buf, 0);
        cn_subject_send(rn->proc, &f->client, &err);
    }
    cn_subject via = { .owner = *cn_self(rn->proc), .tag = f->tag };
    cn_subject_drop(rn->proc, &via);
    HASH_DEL(rn->fwds, f);
    free(f);
}

/* Forwards to leader (0: any) that are older than the timeout (0: all of them). */
static void forwards_fail(raft_node *rn, int leader, uint64_t older_than)
{
    uint64_t now = now_ms(rn);
    rn_fwd *f, *tmp;
    HASH_ITER(hh, rn->fwds, f, tmp)
        if ((!leader || f->leader == leader) && (!older_than || now - f->sent >= older_than))
            forward_end(rn, f, NULL);
}

static int rn_subject(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    raft_node *rn = cn_proc_state(p);
    raft_msg m;
    char txt[256];
    if (cn_ref_eq(&s->tag, &rn->self.tag)) {
        handle_request(rn, msg);
        return CN_OK;
    }
    rn_fwd *f = NULL;
    HASH_FIND(hh, rn->fwds, &s->tag, sizeof s->tag, f);
    if (f) {
        forward_end(rn, f, msg);    /* the leader's answer, relayed */
        return CN_OK;
    }
    if (raft_wire_decode_reply(msg, &m) < 0) {
        cn_term_format(msg, txt, sizeof txt);
        cn_log(cn_proc_node(p), CN_LOG_WARN, "raft_kv: malformed reply dropped: %s", txt);
        return CN_OK;
    }
    rn_call *c = NULL;
    HASH_FIND(hh, rn->calls, &s->tag, sizeof s->tag, c);
    if (c) {
        int peer = c->peer;
        uint64_t call = c->call;
        HASH_DEL(rn->calls, c);
        free(c);
        cn_subject_drop(p, s);
        raft_reply_recv(rn->r, now_ms(rn), peer, &m, call);
    } else {
        /* the core may change the peer table: find the peer first */
        int peer = 0;
        for (size_t i = 0; i < rn->npeers && !peer; i++)
            if (rn->peers[i].has_reply && cn_ref_eq(&rn->peers[i].reply.tag, &s->tag))
                peer = rn->peers[i].id;
        if (peer)
            raft_reply_recv(rn->r, now_ms(rn), peer, &m, 0);
    }
    release_held(rn);
    after_core(rn);
    return CN_OK;
}

#define COMMON_FIELDS 14

/* The pairs status and info share (COMMON_FIELDS of them). */
static void put_common(raft_node *rn, cn_buf *b)
{
    raft *r = rn->r;
    cn_term_build(b, "id");
    cn_term_put_long(b, rn->cfg.id);
    cn_term_build(b, "role");
    cn_term_put_atom(b, raft_role_name(raft_get_role(r)));
    cn_term_build(b, "term");
    cn_term_put_ulong(b, raft_get_term(r));
    cn_term_build(b, "leader");
    put_leader(b, raft_get_leader(r));
    cn_term_build(b, "commit_index");
    cn_term_put_ulong(b, raft_get_commit(r));
    cn_term_build(b, "last_applied");
    cn_term_put_ulong(b, raft_get_applied(r));
    cn_term_build(b, "log_length");
    cn_term_put_ulong(b, raft_log_last(raft_get_log(r)));
    cn_term_build(b, "voted_for");
    cn_term_put_long(b, raft_get_vote(r));
    cn_term_build(b, "mode");
    cn_term_put_atom(b, rn->cfg.mode == RAFT_MODE_RAFT ? "raft" : "emulation");
    cn_term_build(b, "snapshot_index");
    cn_term_put_ulong(b, raft_get_snapshot_index(r));
    cn_term_build(b, "log_first");
    cn_term_put_ulong(b, raft_get_log(r)->base + 1);
    cn_term_build(b, "emulation_cut_off");
    cn_term_put_long(b, raft_emu_cut_off(r));
    cn_term_build(b, "snapshots_paused");
    cn_term_put_atom(b, raft_snapshots_paused(r) ? "true" : "false");
    cn_term_build(b, "rejoining");
    cn_term_put_atom(b, raft_get_rejoining(r) ? "true" : "false");
}

#define STATUS_STORE_MAX 10000      /* keys status still shows in full */

/* status: the common fields, the store's size and, while it holds at most
 * STATUS_STORE_MAX keys, the store itself (the bridge's view); beyond,
 * store is too_large, so status answers in bounded time whatever the
 * store holds. */
static void put_status(raft_node *rn, cn_buf *b)
{
    const raft_kv *kv = raft_get_kv(rn->r);
    cn_term_put_map(b, COMMON_FIELDS + 2);
    put_common(rn, b);
    cn_term_build(b, "store_size");
    cn_term_put_ulong(b, raft_kv_count(kv));
    cn_term_build(b, "store");
    if (raft_kv_count(kv) <= STATUS_STORE_MAX)
        raft_kv_put_map(kv, b);
    else
        cn_term_put_atom(b, "too_large");
}

static const char *kind_name(raft_peer_kind k)
{
    return k == RAFT_KIND_CN ? "c" : k == RAFT_KIND_EMU ? "emulation" : "unknown";
}

static void put_member(cn_buf *b, int id, const char *node, const char *kind, int voter)
{
    cn_term_put_map(b, 4);
    cn_term_build(b, "voter");
    cn_term_put_atom(b, voter ? "true" : "false");
    cn_term_build(b, "id");
    cn_term_put_long(b, id);
    cn_term_build(b, "node");
    cn_term_put_atom(b, node[0] ? node : "none");
    cn_term_build(b, "kind");
    cn_term_put_atom(b, kind);
}

/* info: the common fields without the store (its size bounds nothing
 * here), this node's name, and the members as this node knows them:
 * [#{id, node, kind}], itself included (kind c). */
static void put_info(raft_node *rn, cn_buf *b)
{
    cn_term_put_map(b, COMMON_FIELDS + 2);
    put_common(rn, b);
    cn_term_build(b, "node");
    cn_term_put_atom(b, cn_node_name(cn_proc_node(rn->proc)));
    cn_term_build(b, "members");
    cn_term_put_list(b, (uint32_t)rn->npeers + 1);
    put_member(b, rn->cfg.id, cn_node_name(cn_proc_node(rn->proc)), "c",
               raft_is_member(rn->r));
    for (size_t i = 0; i < rn->npeers; i++)
        put_member(b, rn->peers[i].id, rn->peers[i].node, kind_name(rn->peers[i].kind),
                   raft_peer_is_voter(rn->r, rn->peers[i].id));
    cn_term_put_nil(b);
}

#define STORE_PAGE_MAX 10000

/* {store, first | AfterKey, Limit}: {ok, [{K, V}], done | LastKey}, the
 * store a page at a time in key order (status shows it whole only while
 * small); {error, Why} for a bad start or limit. */
static void put_store_page(raft_node *rn, cn_buf *b, const cn_term *start, const cn_term *lim)
{
    long long limit;
    const char *after = NULL;
    size_t alen = 0;
    int more;
    if (cn_term_get_long(lim, &limit) < 0 || limit < 1 || limit > STORE_PAGE_MAX ||
        (!cn_term_is_atom(start, "first") && !cn_term_match(start, "~b", &after, &alen))) {
        cn_term_build(b, "{error, ~s}", "{store, first | AfterKey (a binary), Limit (1..10000)}");
        return;
    }
    cn_term_put_tuple(b, 3);
    cn_term_put_atom(b, "ok");
    const char *last;
    size_t lastlen;
    size_t n = raft_kv_put_page(raft_get_kv(rn->r), after, alen, (size_t)limit, b, &more, &last,
                                &lastlen);
    if (!more || n == 0)
        cn_term_put_atom(b, "done");
    else
        cn_term_put_binary(b, last, lastlen);   /* where the next page starts */
}

/* [{Index, Term, Command}] for every applied entry (tests compare the
 * apply order of nodes with it). */
static void put_applied(raft_node *rn, cn_buf *b)
{
    const raft_log *l = raft_get_log(rn->r);
    uint64_t n = raft_get_applied(rn->r);
    if (n > raft_log_last(l))
        n = raft_log_last(l);
    if (n)
        cn_term_put_list(b, (uint32_t)n);
    for (uint64_t i = 1; i <= n; i++) {
        const raft_entry *e = raft_log_get(l, i);
        cn_term_build(b, "{~u, ~u, ~t}", i, e->term, &e->cmd);
    }
    cn_term_put_nil(b);
}

/* {error, {not_leader, LeaderNode | none}}: where to ask instead. */
static int reply_not_leader(raft_node *rn, const cn_from *from)
{
    rn_peer *l = peer_by_id(rn, raft_get_leader(rn->r));
    if (l && l->node[0])
        return cn_replyf(rn->proc, from, "{error, {not_leader, ~a}}", l->node), CN_OK;
    return cn_replyf(rn->proc, from, "{error, {not_leader, none}}"), CN_OK;
}

/* {add_member, Id, Node} and {remove_member, Id}: answered ok once the
 * configuration entry has committed, {error, Why} if the change failed,
 * and from a follower as call_transfer's. */
static int call_change(raft_node *rn, int add, const cn_term *id_t, const char *node,
                       const cn_from *from)
{
    long long id;
    const char *why;
    if (cn_term_get_long(id_t, &id) < 0 || id < 1 || id > (1 << 30))
        return cn_replyf(rn->proc, from, "{error, ~s}", "the member id is an integer >= 1"), CN_OK;
    if (raft_get_role(rn->r) != RAFT_LEADER)
        return reply_not_leader(rn, from);
    uint64_t tok = token_call(rn, from);
    int rc = add ? raft_add_member(rn->r, now_ms(rn), (int)id, node, tok, &why)
                 : raft_remove_member(rn->r, now_ms(rn), (int)id, tok, &why);
    if (rc < 0) {
        free(token_take(rn, tok));
        cn_replyf(rn->proc, from, "{error, ~s}", why);
    }
    after_core(rn);
    return CN_OK;
}

/* {transfer, Id | any}: answered {ok, Id} once this leader has handed
 * over, {error, Why} if it cannot or did not in time, and from a follower
 * {error, {not_leader, LeaderNode | none}} (where to ask). */
static int call_transfer(raft_node *rn, const cn_term *target, const cn_from *from)
{
    long long id = 0;
    const char *why;
    if (!cn_term_is_atom(target, "any") && (cn_term_get_long(target, &id) < 0 ||
                                             id < 1 || id > (1 << 30)))
        return cn_replyf(rn->proc, from, "{error, ~s}", "the target is an id or any"), CN_OK;
    if (raft_get_role(rn->r) != RAFT_LEADER)
        return reply_not_leader(rn, from);
    if (rn->transfer_asked)
        return cn_replyf(rn->proc, from, "{error, ~s}", "a transfer is already under way"), CN_OK;
    if (raft_transfer(rn->r, now_ms(rn), (int)id, &why) < 0)
        return cn_replyf(rn->proc, from, "{error, ~s}", why), CN_OK;
    rn->transfer_from = *from;
    rn->transfer_asked = 1;
    rn->transfer_target = raft_transfer_target(rn->r);
    after_core(rn);
    return CN_OK;
}

static int rn_handle_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    raft_node *rn = cn_proc_state(p);
    cn_buf *b = &rn->buf;
    cn_pid pid;
    cn_term arg;
    cn_buf_reset(b);
    char node[CN_ATOM_BUF];
    cn_term lim;
    if (cn_term_match(req, "{transfer, ~t}", &arg))
        return call_transfer(rn, &arg, from);
    if (cn_term_match(req, "{add_member, ~t, ~a}", &arg, node))
        return call_change(rn, 1, &arg, node, from);
    if (cn_term_match(req, "{remove_member, ~t}", &arg))
        return call_change(rn, 0, &arg, NULL, from);
    if (cn_term_match(req, "subject")) {
        cn_subject_put(b, &rn->self);
    } else if (cn_term_match(req, "status")) {
        put_status(rn, b);
    } else if (cn_term_match(req, "info")) {
        put_info(rn, b);
    } else if (cn_term_match(req, "{store, ~t, ~t}", &arg, &lim)) {
        put_store_page(rn, b, &arg, &lim);
    } else if (cn_term_match(req, "applied")) {
        put_applied(rn, b);
    } else if (cn_term_match(req, "{watch, ~p}", &pid)) {
        if (watch(rn, &pid) < 0) {
            cn_term_build(b, "{error, too_many_watchers}");
        } else {
            tell(rn, &pid);     /* the state now, before any change */
            cn_buf_reset(b);    /* tell used the same buffer */
            cn_term_build(b, "ok");
        }
    } else {
        cn_term_build(b, "{error, {unknown_call, ~t}}", req);   /* at once, not a timeout */
    }
    cn_term t = cn_buf_term(b, 0);
    cn_reply(p, from, &t);
    return CN_OK;
}

/* SIGINT/SIGTERM: a leader hands over to the most up-to-date C peer
 * before it stops, so its clients wait one election at most; any other
 * node, or a leader that cannot, stops now. */
static void hand_over_and_stop(raft_node *rn)
{
    const char *why;
    if (raft_get_role(rn->r) == RAFT_LEADER && !raft_transfer_target(rn->r) &&
        raft_transfer(rn->r, now_ms(rn), 0, &why) == 0) {
        cn_log(cn_proc_node(rn->proc), CN_LOG_INFO,
               "raft_kv %d: stopping: handing leadership to node %d first", rn->cfg.id,
               raft_transfer_target(rn->r));
        rn->stop_after_transfer = 1;
        after_core(rn);
        return;
    }
    cn_node_stop(cn_proc_node(rn->proc));
}

static int on_signal(cn_node *n, int signum, void *ud)
{
    (void)n;
    (void)signum;
    return cn_start_timerf(ud, 0, NULL, "hand_over_and_stop") == 0;
}

void raft_node_stop_on_signal(cn_proc *p) { cn_node_on_signal(cn_proc_node(p), on_signal, p); }

static int rn_info(cn_proc *p, const cn_term *msg)
{
    raft_node *rn = cn_proc_state(p);
    cn_ref ref;
    int tick = cn_deadline_fired(&rn->tick, msg);
    if (tick >= 0) {
        if (tick)
            on_tick(rn);
        return CN_OK;
    }
    if (cn_term_match(msg, "{timeout, _, resolve}"))
        return on_resolve_timer(rn), CN_OK;
    if (cn_term_match(msg, "{timeout, _, hand_over_and_stop}"))
        return hand_over_and_stop(rn), CN_OK;
    if (!cn_term_match(msg, "{'DOWN', ~r, process, _, _}", &ref))
        return CN_UNHANDLED;
    for (size_t i = 0; i < rn->npeers; i++) {
        rn_peer *pe = &rn->peers[i];
        if (!pe->monitored || !cn_ref_eq(&pe->mon, &ref))
            continue;
        pe->monitored = 0;
        cn_log(cn_proc_node(p), CN_LOG_INFO, "raft peer %d at %s is down", pe->id, pe->node);
        forwards_fail(rn, pe->id, 0);
        raft_peer_alive(rn->r, now_ms(rn), pe->id, 0);
        /* a C node comes back with a new Subject: look for it */
        if (pe->kind == RAFT_KIND_CN)
            pe->has_subject = 0;
    }
    after_core(rn);
    return CN_OK;
}

static void storage_closed(void *ud) { (void)ud; }

static void rn_free(raft_node *rn)
{
    if (rn->r)
        raft_free(rn->r);
    if (rn->storage)
        raft_storage_close(rn->storage, storage_closed, NULL);
    rn_token *t, *tt;
    HASH_ITER(hh, rn->tokens, t, tt) {
        HASH_DEL(rn->tokens, t);
        free(t);
    }
    rn_call *c, *ct;
    HASH_ITER(hh, rn->calls, c, ct) {
        HASH_DEL(rn->calls, c);
        free(c);
    }
    rn_fwd *f, *ft;
    HASH_ITER(hh, rn->fwds, f, ft) {
        HASH_DEL(rn->fwds, f);
        free(f);
    }
    while (rn->held) {
        rn_held *h = rn->held;
        rn->held = h->next;
        free(h);
    }
    free(rn->peers);
    if (rn->in)
        cn_buf_free(&rn->in->cmd);
    free(rn->in);
    cn_buf_free(&rn->buf);
    free(rn);
}

static void rn_terminate(cn_proc *p, const cn_term *reason)
{
    raft_node *rn = cn_proc_state(p);
    (void)reason;
    if (rn)
        rn_free(rn);
    cn_proc_set_state(p, NULL);
}

/* The data directory, and whether the node rejoins (1), or not (0); -1 on
 * error.  Without one, --initial-cluster-state existing alone says so. */
static int open_storage(raft_node *rn, uv_loop_t *loop)
{
    if (!rn->cfg.data_dir)
        return rn->cfg.existing;
    if (rn->storage) {               /* opened before the node was reachable */
        raft_storage_set_done(rn->storage, on_persisted, rn);
    } else {
        rn->storage = raft_storage_open(loop, rn->cfg.data_dir, rn->cfg.id, on_persisted, rn,
                                        rn->err, sizeof rn->err);
    }
    if (!rn->storage)
        return -1;
    return raft_storage_rejoining(rn->storage, rn->cfg.existing, rn->err, sizeof rn->err);
}

static int restore_storage(raft_node *rn)
{
    uint64_t term;
    int vote;
    const raft_entry *entries;
    size_t n;
    const char *snap;
    size_t snaplen;
    raft_storage_recovered_snapshot(rn->storage, &snap, &snaplen);
    if (snap && raft_restore_snapshot(rn->r, snap, snaplen, rn->err, sizeof rn->err) < 0)
        return -1;
    raft_storage_recovered(rn->storage, &term, &vote, &entries, &n);
    if (raft_restore(rn->r, term, vote, entries, n) < 0) {
        snprintf(rn->err, sizeof rn->err, "out of memory restoring the log");
        return -1;
    }
    raft_storage_forget_recovered(rn->storage);
    if (term || n || snap)
        cn_log(NULL, CN_LOG_INFO, "raft_kv %d: restored term %llu, a snapshot at %llu and %zu "
               "log entries after it from %s", rn->cfg.id, (unsigned long long)term,
               (unsigned long long)raft_get_snapshot_index(rn->r), n, rn->cfg.data_dir);
    return 0;
}

typedef struct start_arg {
    const raft_node_config *cfg;
    char *err;
    size_t errlen;
    int storage_taken;               /* rn owns cfg->storage (rn_free closes it) */
} start_arg;

static int rn_init(cn_proc *p, void *arg)
{
    start_arg *a = arg;
    uv_loop_t *loop = cn_node_loop(cn_proc_node(p));
    raft_node *rn = calloc(1, sizeof *rn);
    if (!rn)
        return -1;
    cn_proc_set_state(p, rn);
    rn->proc = p;
    rn->cfg = *a->cfg;
    rn->storage = rn->cfg.storage;
    a->storage_taken = 1;
    rn->tick.tag = "tick";
    rn->in = calloc(1, sizeof *rn->in);
    cn_subject_new(p, &rn->self);
    raft_io io = { .ud = rn, .send = io_send, .reply = io_reply,
                   .persist = rn->cfg.data_dir ? io_persist : NULL,
                   .snapshot = rn->cfg.data_dir ? io_snapshot : NULL,
                   .client_reply = io_client_reply, .forward = io_forward, .trace = io_trace,
                   .members = io_members, .rejoined = io_rejoined };
    int rejoining = rn->in ? open_storage(rn, loop) : -1;
    raft_config rc = { .id = rn->cfg.id, .mode = rn->cfg.mode,
                       .name = cn_node_name(cn_proc_node(p)),
                       .election_min_ms = rn->cfg.election_min_ms,
                       .election_max_ms = rn->cfg.election_max_ms,
                       .heartbeat_ms = rn->cfg.heartbeat_ms,
                       .snapshot_entries = rn->cfg.snapshot_entries,
                       .snapshot_bytes = rn->cfg.snapshot_bytes,
                       .snapshot_trailing = rn->cfg.snapshot_trailing,
                       .rejoining = rejoining > 0,
                       .seed = rn->cfg.seed ? rn->cfg.seed : uv_hrtime() ^ (uint64_t)rn->cfg.id };
    if (rn->cfg.peers && rn->cfg.mode == RAFT_MODE_EMULATION)
        rc.cluster_size = (int)rn->cfg.peers->count;
    if (rejoining < 0 || !(rn->r = raft_new(&rc, &io)) ||
        (rn->storage && restore_storage(rn) < 0) ||
        (rn->cfg.peers && peers_from_file(rn) < 0)) {
        snprintf(a->err, a->errlen, "%s", rn->err[0] ? rn->err : "out of memory");
        rn_free(rn);                /* a failed init gets no terminate */
        cn_proc_set_state(p, NULL);
        return -1;
    }
    if (rn->cfg.data_dir && !rn->cfg.peers)
        restore_peers(rn);
    if (rejoining)
        cn_log(NULL, CN_LOG_INFO, "raft_kv %d: rejoining with an empty log (--initial-cluster-"
               "state existing): it votes for nobody until it has caught up with a leader",
               rn->cfg.id);
    if (cn_start_timerf(p, RESOLVE_RETRY_MS, NULL, "resolve") < 0) {
        snprintf(a->err, a->errlen, "out of memory");
        rn_free(rn);
        cn_proc_set_state(p, NULL);
        return -1;
    }
    after_core(rn);
    return 0;
}

static const cn_proc_ops raft_node_ops = {
    .kind = "raft_kv",
    .init = rn_init,
    .handle_call = rn_handle_call,
    .handle_info = rn_info,
    .handle_subject = rn_subject,
    .terminate = rn_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

cn_proc *raft_node_start(cn_node *n, const raft_node_config *cfg, char *err, size_t errlen)
{
    start_arg a = { cfg, err, errlen, 0 };
    err[0] = '\0';
    cn_proc *p = cn_spawn(n, &raft_node_ops, &a, cfg->unregistered ? NULL : "raft_kv");
    if (!p && cfg->storage && !a.storage_taken)
        raft_storage_close(cfg->storage, NULL, NULL);
    if (!p && !err[0])
        snprintf(err, errlen, "cannot start the raft_kv process");
    return p;
}

void raft_node_subject(cn_proc *p, cn_subject *out)
{
    raft_node *rn = cn_proc_state(p);
    *out = rn->self;
}
