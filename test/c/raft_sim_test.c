/* raft_sim_test.c - deterministic simulation tests of the Raft core
 * (c_src/raft: a pure state machine, time passed in, PRNG seeded by us).
 *
 * The simulated world, all driven by one seeded PRNG:
 *   clock    time jumps to the next queued event or the earliest core
 *            deadline (raft_next_deadline), where the core gets raft_tick;
 *   network  every message is a queued event with a random delay, so C-to-C
 *            messages reorder; drops, duplicates, very slow messages and
 *            partitions (isolation, splits, one-way cuts, bridges) come and
 *            go.  Links to or from an emulation node behave as Erlang
 *            distribution does (FIFO, no loss while connected); cutting one
 *            fires the peer's monitor (raft_peer_alive 0) and healing it
 *            re-arms it (1);
 *   disk     io.persist writes complete in order after a random delay, then
 *            raft_persisted(seq); messages sent with after_persist wait until
 *            their write is done; a crash loses every write not yet done and
 *            the node restarts from its disk (raft_new, raft_restore,
 *            raft_set_peers, kinds, liveness);
 *   clients  send Gleam Command terms ({put,K,V} with a unique V, {get,K},
 *            {delete,K}) to random nodes, follow forwards (io.forward goes
 *            over the simulated network), time out and move on, and record
 *            every result.
 *
 * Checked after EVERY step (see check_node and friends):
 *   election safety     at most one leader per term, ever;
 *   log matching        an (index, term) pair anywhere, at any time, always
 *                       sits on the same prefix (a hash chain per entry);
 *   leader completeness a node becoming leader holds every entry committed so
 *                       far;
 *   committed prefix    every node's commit index points into one and the
 *                       same committed prefix; it never decreases on a running
 *                       node; a leader only counts entries of its own term;
 *   state machine safety every io.applied at an index is the same entry, on
 *                       every node, in order;
 *   client results      every reply equals the reference KV's result for the
 *                       index where the command was applied, or is an error
 *                       ("not leader", "replication failed"); every op_ok for
 *                       a put is remembered and checked at the end against
 *                       the final leader's log;
 *   durability          a granted vote, an append acknowledgement or a
 *                       candidate's vote request leaves a node only once its
 *                       disk holds what it promises; no node votes for two
 *                       candidates in one term, across crashes; persist
 *                       writes are contiguous appends after an optional
 *                       truncation, and (periodically) disk == memory;
 *   wire                an emulation peer is only ever sent the seed's
 *                       messages.
 * After the faults stop (the network heals, every node is up), a leader must
 * be elected and a client command committed within a bounded simulated time,
 * and every node must catch up.  Scenarios check that a partitioned minority
 * cannot commit and that a node partitioned away and returning does not
 * disrupt the majority (pre-vote).  The emulation tests replay the seed's
 * sample runs and compare trace lines exactly.
 *
 * Environment: RAFT_SIM_SEEDS (per configuration, default 2000),
 * RAFT_SIM_STEPS (steps with faults per schedule, default 1500),
 * RAFT_SIM_SEED0 (first seed), RAFT_SIM_CONFIG (run only configurations
 * whose name contains it), RAFT_SIM_REPLAY=name:seed (one schedule, every
 * step printed).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../c_src/raft/raft.h"
#include "check.h"

#define NEVER UINT64_MAX
#define MAXN 5
#define NCLIENTS 3
#define PROBE NCLIENTS        /* the liveness probe's client slot */
#define RING 40
#define TRING 24

/* ---- small things --------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t hbytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return mix64(h);
}

static uint64_t chain(uint64_t prev, uint64_t term, uint64_t cmdh)
{
    return mix64(prev * 31 + mix64(term ^ 0x5bd1e995) + cmdh);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "raft_sim_test: out of memory\n");
        exit(2);
    }
    return q;
}

#define GROW(v, cap, need)                                                   \
    do {                                                                     \
        if ((need) > (cap)) {                                                \
            size_t c_ = (cap) ? (cap) : 16;                                  \
            while (c_ < (need))                                              \
                c_ *= 2;                                                     \
            (v) = xrealloc((v), c_ * sizeof *(v));                           \
            memset((v) + (cap), 0, (c_ - (cap)) * sizeof *(v));              \
            (cap) = c_;                                                      \
        }                                                                    \
    } while (0)

static char *memdup(const void *p, size_t n)
{
    char *d = xrealloc(NULL, n);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* ---- the world ------------------------------------------------------------ */

enum { NM_REQ, NM_REP, NM_FWD, NM_CLIENT };

typedef struct netmsg {
    int        kind;
    int        from, to;             /* node ids; 0: a client */
    uint32_t   from_inc;             /* NM_REQ: the sender's incarnation */
    uint32_t   to_inc;               /* NM_REP: the requester's incarnation */
    uint64_t   call;                 /* NM_REQ: the call id; NM_REP: echoed */
    raft_msg   m;
    raft_entry *ents;                /* owned copies */
    size_t     op;                   /* NM_FWD, NM_CLIENT */
    int        hops;
} netmsg;

enum { EV_NET, EV_DISK, EV_CHAOS, EV_RESTART, EV_HEAL, EV_CLIENT, EV_CTIMEOUT };

typedef struct ev {
    uint64_t t, seq;
    int      type, node;
    uint32_t inc;
    uint64_t a;
    netmsg  *nm;
} ev;

enum { R_PEER, R_CLIENT };
typedef struct route {
    int      kind;
    int      node;                   /* the node given this token */
    int      requester;              /* R_PEER */
    uint32_t inc;
    uint64_t call;
    size_t   op;                     /* R_CLIENT */
    int      hops, answered;
} route;

typedef struct op {
    int      client;
    char     kind;                   /* 'p', 'g', 'd' */
    char     key[8], val[24];
    cn_buf   cmd;
    uint64_t cmdh, sent;
    int      acked;                  /* a put answered op_ok */
    uint64_t idx;                    /* where it was applied (when answered) */
} op;

typedef struct client {
    int      busy;
    size_t   cur;
    int      target;                 /* where to send next; 0: anywhere */
} client;

typedef struct pwrite {
    uint64_t    seq;
    int         truncate;
    uint64_t    keep, first;
    raft_entry *e;
    size_t      n;
    uint64_t    term;
    int         vote;
} pwrite;

typedef struct held {
    uint64_t after;
    netmsg  *nm;
} held;

struct sim;
typedef struct node {
    struct sim    *s;
    int            id;
    raft_mode      mode;
    raft_peer_kind kind;
    raft          *r;
    int            up;
    uint32_t       inc;
    /* disk */
    uint64_t    d_term;
    int         d_vote;
    raft_entry *d_log;
    size_t      d_n, d_cap;
    pwrite     *pw;
    size_t      npw, cappw;
    uint64_t    disk_free_at, disk_done, persist_seen;
    held       *hq;
    size_t      nhq, caphq;
    /* checker */
    struct shent { uint64_t term, chain; } *sh;   /* 1-based shadow of the log */
    size_t    sh_n, sh_cap;
    uint64_t  dirty_lo;
    int       touched;
    uint64_t  last_commit, last_term, applied_cb;
    int       was_leader;
    uint64_t  lead_term;
    int      *granted;               /* granted[term]: whom its vote went to */
    size_t    ngranted;
    int       alive_view[MAXN + 1];
    uint64_t  tick_t;
    unsigned  tick_same;
    /* emulation tests: every trace line */
    char    **lines;
    size_t    nlines, caplines;
} node;

typedef struct sim_cfg {
    const char *name;
    int n;                           /* nodes */
    int n_emu;                       /* the last n_emu are emulation cores */
    int emu_lead;                    /* chaos may start elections at them */
} sim_cfg;

typedef struct gent {
    uint64_t term, cmdh;
    int      set;
    size_t   res_off, res_len;
} gent;

typedef struct appl {
    int      node;
    uint64_t idx, cmdh;
    int      used;
} appl;

typedef struct rep {
    int    node;
    size_t op, off, len;
} rep;

typedef struct emap_slot {
    uint64_t idx, term, chain;
} emap_slot;

typedef struct stepnote {            /* the ring of recent steps */
    uint64_t t;
    int      what, node, from, mtype, granted, hint;
    uint64_t term, idx, idxterm, n, commit, call, a;
} stepnote;

enum { SN_TICK, SN_REQ, SN_REP, SN_CLIENT, SN_FWD, SN_DISK, SN_CRASH, SN_RESTART,
       SN_CUT, SN_HEAL, SN_DROPS, SN_START, SN_ALIVE };

/* fault classes, for minimizing a failing schedule */
enum { F_DROP = 1, F_DUP = 2, F_SLOW = 4, F_PART = 8, F_CRASH = 16, F_DISK = 32,
       F_START = 64, F_ALL = 127 };

typedef struct sim {
    const sim_cfg *cfg;
    uint64_t seed, rng, now, evseq;
    int      n;
    node     nodes[MAXN + 1];
    unsigned max_batch, max_inflight;
    /* world */
    ev      *heap;
    size_t   nheap, capheap;
    route   *routes;
    size_t   nroutes, caproutes;
    op      *ops;
    size_t   nops, capops;
    client   clients[NCLIENTS + 1];
    int      auto_clients;
    int      cut[MAXN + 1][MAXN + 1];
    uint64_t fifo_at[MAXN + 1][MAXN + 1];
    uint64_t part_gen;
    unsigned drop_pm, dup_pm, slow_pm, disk_slow_pm;
    int      chaos, faults;          /* faults: allowed F_* classes */
    int      verbose;
    /* checker */
    emap_slot *em;
    size_t     em_cap, em_n;
    int       *leader_of;
    size_t     nleader_of;
    uint64_t  *c_chain, *c_term;
    size_t     maxc, capc;
    gent      *g;
    size_t     capg;
    raft_kv   *ref;
    uint64_t   ref_n;
    cn_buf     refres;
    appl      *sa;
    size_t     nsa, capsa;
    rep       *sr;
    size_t     nsr, capsr;
    cn_buf     repbuf;
    int        failed;
    char       fail[600];
    uint64_t   fail_step;
    stepnote   ring[RING];
    uint64_t   nring;
    char       tring[TRING][160];
    uint64_t   ntring;
    int        record_lines;
    /* stats */
    uint64_t steps, elections, msgs, acked, crashes, parts;
} sim;

static void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_fail(sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = 1;
    s->fail_step = s->steps;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail, sizeof s->fail, fmt, ap);
    va_end(ap);
}

static uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ULL);
    return mix64(z);
}
static uint64_t rnd_in(sim *s, uint64_t lo, uint64_t hi) { return lo + rnd(s) % (hi - lo + 1); }
static int chance(sim *s, unsigned permille) { return permille && rnd(s) % 1000 < permille; }

static const char *mtype_name(int t)
{
    static const char *names[] = { "request_vote", "vote", "append", "append_reply", "commit",
                                   "pre_vote", "pre_vote_reply" };
    return t >= 0 && t <= RAFT_MSG_PRE_VOTE_REPLY ? names[t] : "?";
}

static void note(sim *s, int what, int node, int from, const raft_msg *m, uint64_t call,
                 uint64_t a)
{
    stepnote *sn = &s->ring[s->nring++ % RING];
    memset(sn, 0, sizeof *sn);
    sn->t = s->now;
    sn->what = what;
    sn->node = node;
    sn->from = from;
    sn->call = call;
    sn->a = a;
    sn->mtype = -1;
    if (m) {
        sn->mtype = m->type;
        sn->term = m->term;
        sn->idx = m->index;
        sn->idxterm = m->index_term;
        sn->n = m->n_entries;
        sn->commit = m->commit;
        sn->granted = m->granted;
        sn->hint = m->has_hint;
        if (m->type == RAFT_MSG_APPEND_REPLY)
            sn->idx = m->match;
    }
}

static void format_note(const stepnote *sn, char *out, size_t sz)
{
    static const char *whats[] = { "tick", "recv", "reply", "client", "forward", "disk",
                                   "CRASH", "RESTART", "PARTITION", "HEAL", "faults", "start_election",
                                   "alive" };
    int k = snprintf(out, sz, "t=%-7llu node %d %-9s", (unsigned long long)sn->t, sn->node,
                     whats[sn->what]);
    if (k < 0 || (size_t)k >= sz)
        return;
    out += k;
    sz -= (size_t)k;
    if (sn->mtype >= 0) {
        if (sn->mtype == RAFT_MSG_APPEND)
            snprintf(out, sz, "from %d %s term=%llu prev=%llu/%llu n=%llu commit=%llu call=%llu",
                     sn->from, mtype_name(sn->mtype), (unsigned long long)sn->term,
                     (unsigned long long)sn->idx, (unsigned long long)sn->idxterm,
                     (unsigned long long)sn->n, (unsigned long long)sn->commit,
                     (unsigned long long)sn->call);
        else if (sn->mtype == RAFT_MSG_APPEND_REPLY)
            snprintf(out, sz, "from %d %s term=%llu ok=%d match=%llu%s call=%llu", sn->from,
                     mtype_name(sn->mtype), (unsigned long long)sn->term, sn->granted,
                     (unsigned long long)sn->idx, sn->hint ? " (hint)" : "",
                     (unsigned long long)sn->call);
        else if (sn->mtype == RAFT_MSG_COMMIT)
            snprintf(out, sz, "from %d commit=%llu", sn->from, (unsigned long long)sn->commit);
        else if (sn->mtype == RAFT_MSG_VOTE || sn->mtype == RAFT_MSG_PRE_VOTE_REPLY)
            snprintf(out, sz, "from %d %s term=%llu granted=%d call=%llu", sn->from,
                     mtype_name(sn->mtype), (unsigned long long)sn->term, sn->granted,
                     (unsigned long long)sn->call);
        else
            snprintf(out, sz, "from %d %s term=%llu last=%llu/%llu call=%llu", sn->from,
                     mtype_name(sn->mtype), (unsigned long long)sn->term,
                     (unsigned long long)sn->idx, (unsigned long long)sn->idxterm,
                     (unsigned long long)sn->call);
    } else if (sn->what == SN_DISK) {
        snprintf(out, sz, "write %llu done", (unsigned long long)sn->a);
    } else if (sn->what == SN_CLIENT || sn->what == SN_FWD) {
        snprintf(out, sz, "op %llu from %d", (unsigned long long)sn->a, sn->from);
    } else if (sn->what == SN_CUT) {
        snprintf(out, sz, "%s", sn->a == 0 ? "isolate" : sn->a == 1 ? "split" : sn->a == 2 ? "one-way" : "bridge");
    } else if (sn->what == SN_ALIVE) {
        snprintf(out, sz, "peer %d alive=%llu", sn->from, (unsigned long long)sn->a);
    } else if (sn->what == SN_DROPS) {
        snprintf(out, sz, "drop/dup/slow permille changed");
    }
}

/* ---- messages and the event queue ---------------------------------------- */

static netmsg *nm_new(int kind, int from, int to, const raft_msg *m)
{
    netmsg *nm = xrealloc(NULL, sizeof *nm);
    memset(nm, 0, sizeof *nm);
    nm->kind = kind;
    nm->from = from;
    nm->to = to;
    if (m) {
        nm->m = *m;
        nm->m.entries = NULL;
        if (m->n_entries) {
            nm->ents = xrealloc(NULL, m->n_entries * sizeof *nm->ents);
            for (size_t i = 0; i < m->n_entries; i++) {
                nm->ents[i].term = m->entries[i].term;
                nm->ents[i].cmd.data = memdup(m->entries[i].cmd.data, m->entries[i].cmd.len);
                nm->ents[i].cmd.len = m->entries[i].cmd.len;
            }
            nm->m.entries = nm->ents;
        }
    }
    return nm;
}

static netmsg *nm_clone(const netmsg *x)
{
    netmsg *nm = nm_new(x->kind, x->from, x->to, &x->m);
    nm->to_inc = x->to_inc;
    nm->from_inc = x->from_inc;
    nm->call = x->call;
    nm->op = x->op;
    nm->hops = x->hops;
    return nm;
}

static void nm_free(netmsg *nm)
{
    if (!nm)
        return;
    for (size_t i = 0; nm->ents && i < nm->m.n_entries; i++)
        free((void *)nm->ents[i].cmd.data);
    free(nm->ents);
    free(nm);
}

static int ev_less(const ev *a, const ev *b) { return a->t < b->t || (a->t == b->t && a->seq < b->seq); }

static void push_ev(sim *s, ev e)
{
    e.seq = s->evseq++;
    GROW(s->heap, s->capheap, s->nheap + 1);
    size_t i = s->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

static ev pop_ev(sim *s)
{
    ev top = s->heap[0];
    ev last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const ev *best = &last;
        if (l < s->nheap && ev_less(&s->heap[l], best))
            m = l, best = &s->heap[l];
        if (r < s->nheap && ev_less(&s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

static void schedule(sim *s, uint64_t t, int type, int node, uint32_t inc, uint64_t a, netmsg *nm)
{
    ev e = { .t = t, .type = type, .node = node, .inc = inc, .a = a, .nm = nm };
    push_ev(s, e);
}

static int is_emu(const sim *s, int id) { return id >= 1 && s->nodes[id].kind == RAFT_KIND_EMU; }

/* Puts a message on the wire: partitions, loss, duplication and delay. */
static void net_send(sim *s, netmsg *nm)
{
    s->msgs++;
    int peer_link = nm->from && nm->to;
    int erl = peer_link && (is_emu(s, nm->from) || is_emu(s, nm->to));
    if (peer_link && s->cut[nm->from][nm->to]) {
        nm_free(nm);
        return;
    }
    int lossy = peer_link && !erl;
    if (lossy && chance(s, s->drop_pm)) {
        nm_free(nm);
        return;
    }
    int copies = lossy && chance(s, s->dup_pm) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        netmsg *x = c ? nm_clone(nm) : nm;
        uint64_t d = rnd_in(s, 1, 10);
        if (lossy && chance(s, s->slow_pm))
            d = rnd_in(s, 50, 800);
        uint64_t t = s->now + d;
        if (erl) {                  /* Erlang distribution: FIFO per link */
            if (t < s->fifo_at[nm->from][nm->to])
                t = s->fifo_at[nm->from][nm->to];
            s->fifo_at[nm->from][nm->to] = t;
        }
        schedule(s, t, EV_NET, nm->to, 0, 0, x);
    }
}

/* ---- the checker's tables ------------------------------------------------ */

/* (index, term) -> chain hash of the prefix it sits on; 0 if it conflicts */
static int emap_check(sim *s, uint64_t idx, uint64_t term, uint64_t ch)
{
    if ((s->em_n + 1) * 2 > s->em_cap) {
        size_t ncap = s->em_cap ? s->em_cap * 2 : 4096;
        emap_slot *nv = xrealloc(NULL, ncap * sizeof *nv);
        memset(nv, 0, ncap * sizeof *nv);
        for (size_t i = 0; i < s->em_cap; i++) {
            if (!s->em[i].idx)
                continue;
            size_t j = mix64(s->em[i].idx * 1000003 + s->em[i].term) & (ncap - 1);
            while (nv[j].idx)
                j = (j + 1) & (ncap - 1);
            nv[j] = s->em[i];
        }
        free(s->em);
        s->em = nv;
        s->em_cap = ncap;
    }
    size_t j = mix64(idx * 1000003 + term) & (s->em_cap - 1);
    while (s->em[j].idx) {
        if (s->em[j].idx == idx && s->em[j].term == term)
            return s->em[j].chain == ch;
        j = (j + 1) & (s->em_cap - 1);
    }
    s->em[j] = (emap_slot){ idx, term, ch };
    s->em_n++;
    return 1;
}

/* ---- io callbacks ---------------------------------------------------------- */

static route *route_get(sim *s, raft_token token)
{
    if (token == 0 || token > s->nroutes) {
        sim_fail(s, "core used an unknown token %llu", (unsigned long long)token);
        return NULL;
    }
    return &s->routes[token - 1];
}

static raft_token route_new(sim *s, route r)
{
    GROW(s->routes, s->caproutes, s->nroutes + 1);
    s->routes[s->nroutes++] = r;
    return s->nroutes;
}

static void grant_record(sim *s, node *n, uint64_t term, int cand)
{
    GROW(n->granted, n->ngranted, term + 1);
    if (n->granted[term] && n->granted[term] != cand)
        sim_fail(s, "vote safety: node %d granted its term-%llu vote to %d and to %d", n->id,
                 (unsigned long long)term, n->granted[term], cand);
    n->granted[term] = cand;
}

/* A message leaves its node: what it promises must be on disk by now. */
static void release(sim *s, node *n, netmsg *nm)
{
    const raft_msg *m = &nm->m;
    if (nm->kind == NM_REQ && m->type == RAFT_MSG_REQUEST_VOTE && n->mode == RAFT_MODE_RAFT &&
        (n->d_term != m->term || n->d_vote != n->id))
        sim_fail(s, "durability: node %d asks for votes in term %llu, disk has term %llu vote %d",
                 n->id, (unsigned long long)m->term, (unsigned long long)n->d_term, n->d_vote);
    if (nm->kind == NM_REP && m->type == RAFT_MSG_VOTE && m->granted) {
        if (n->d_term != m->term || n->d_vote != nm->to)
            sim_fail(s, "durability: node %d grants its term-%llu vote to %d, disk has term %llu vote %d",
                     n->id, (unsigned long long)m->term, nm->to, (unsigned long long)n->d_term,
                     n->d_vote);
        grant_record(s, n, m->term, nm->to);
    }
    if (nm->kind == NM_REP && m->type == RAFT_MSG_APPEND_REPLY && m->granted) {
        if (n->d_n < m->match)
            sim_fail(s, "durability: node %d acknowledges index %llu with %zu entries on disk",
                     n->id, (unsigned long long)m->match, n->d_n);
        if (n->d_term != m->term)
            sim_fail(s, "durability: node %d acknowledges in term %llu, disk has term %llu", n->id,
                     (unsigned long long)m->term, (unsigned long long)n->d_term);
    }
    net_send(s, nm);
}

static void emit(sim *s, node *n, netmsg *nm, uint64_t after)
{
    if (after > n->persist_seen)
        sim_fail(s, "node %d gates a message on write %llu, not issued yet (last %llu)", n->id,
                 (unsigned long long)after, (unsigned long long)n->persist_seen);
    if (after > n->disk_done) {
        GROW(n->hq, n->caphq, n->nhq + 1);
        n->hq[n->nhq++] = (held){ after, nm };
        return;
    }
    release(s, n, nm);
}

static int seed_message(raft_msg_type t)
{
    return t == RAFT_MSG_REQUEST_VOTE || t == RAFT_MSG_VOTE || t == RAFT_MSG_APPEND ||
           t == RAFT_MSG_APPEND_REPLY || t == RAFT_MSG_COMMIT;
}

static void io_send(void *ud, int peer, const raft_msg *m, uint64_t after, uint64_t call)
{
    node *n = ud;
    sim *s = n->s;
    if (peer < 1 || peer > s->n || peer == n->id) {
        sim_fail(s, "node %d sends to unknown peer %d", n->id, peer);
        return;
    }
    if (m->type != RAFT_MSG_REQUEST_VOTE && m->type != RAFT_MSG_APPEND &&
        m->type != RAFT_MSG_COMMIT && m->type != RAFT_MSG_PRE_VOTE)
        sim_fail(s, "node %d sends a %s as a request", n->id, mtype_name(m->type));
    if ((is_emu(s, peer) || n->mode == RAFT_MODE_EMULATION) && !seed_message(m->type))
        sim_fail(s, "wire: node %d sends %s to emulation peer %d", n->id, mtype_name(m->type), peer);
    if (m->type == RAFT_MSG_APPEND && m->n_entries && !m->entries)
        sim_fail(s, "node %d sends %zu entries without entries", n->id, m->n_entries);
    netmsg *nm = nm_new(NM_REQ, n->id, peer, m);
    nm->call = call;
    nm->from_inc = n->inc;
    emit(s, n, nm, after);
}

static void io_reply(void *ud, raft_token token, const raft_msg *m, uint64_t after)
{
    node *n = ud;
    sim *s = n->s;
    route *r = route_get(s, token);
    if (!r)
        return;
    if (r->kind != R_PEER || r->node != n->id) {
        sim_fail(s, "node %d replies on token %llu that is not a peer request of its own", n->id,
                 (unsigned long long)token);
        return;
    }
    r->answered++;
    if (is_emu(s, r->requester) && !seed_message(m->type))
        sim_fail(s, "wire: node %d replies %s to emulation peer %d", n->id, mtype_name(m->type),
                 r->requester);
    netmsg *nm = nm_new(NM_REP, n->id, r->requester, m);
    nm->to_inc = r->inc;
    nm->call = r->call;
    emit(s, n, nm, after);
}

static void io_persist(void *ud, uint64_t seq, int truncate, uint64_t keep, uint64_t first,
                       const raft_entry *entries, size_t cnt, uint64_t term, int vote)
{
    node *n = ud;
    sim *s = n->s;
    if (seq != n->persist_seen + 1)
        sim_fail(s, "node %d persist seq %llu after %llu", n->id, (unsigned long long)seq,
                 (unsigned long long)n->persist_seen);
    n->persist_seen = seq;
    GROW(n->pw, n->cappw, n->npw + 1);
    pwrite *w = &n->pw[n->npw++];
    memset(w, 0, sizeof *w);
    w->seq = seq;
    w->truncate = truncate;
    w->keep = keep;
    w->first = first;
    w->n = cnt;
    w->term = term;
    w->vote = vote;
    if (cnt) {
        w->e = xrealloc(NULL, cnt * sizeof *w->e);
        for (size_t i = 0; i < cnt; i++) {
            w->e[i].term = entries[i].term;
            w->e[i].cmd.data = memdup(entries[i].cmd.data, entries[i].cmd.len);
            w->e[i].cmd.len = entries[i].cmd.len;
        }
    }
    if (truncate && keep + 1 < n->dirty_lo)
        n->dirty_lo = keep + 1;
    if (cnt && first < n->dirty_lo)
        n->dirty_lo = first;
    uint64_t d = chance(s, s->disk_slow_pm) ? rnd_in(s, 10, 80) : rnd_in(s, 0, 3);
    uint64_t at = (n->disk_free_at > s->now ? n->disk_free_at : s->now) + d;
    n->disk_free_at = at;
    schedule(s, at, EV_DISK, n->id, n->inc, seq, NULL);
}

static void io_client_reply(void *ud, raft_token token, const cn_term *result)
{
    node *n = ud;
    sim *s = n->s;
    route *r = route_get(s, token);
    if (!r)
        return;
    if (r->kind != R_CLIENT || r->node != n->id) {
        sim_fail(s, "node %d answers a client on token %llu that is not a client's of its own",
                 n->id, (unsigned long long)token);
        return;
    }
    if (r->answered++)
        sim_fail(s, "node %d answers client token %llu twice", n->id, (unsigned long long)token);
    GROW(s->sr, s->capsr, s->nsr + 1);
    s->sr[s->nsr++] = (rep){ n->id, r->op, s->repbuf.len, result->len };
    cn_buf_append(&s->repbuf, result->data, result->len);
}

static void io_forward(void *ud, raft_token token, int leader, const cn_term *cmd)
{
    node *n = ud;
    sim *s = n->s;
    route *r = route_get(s, token);
    if (!r)
        return;
    if (r->kind != R_CLIENT || r->node != n->id || r->answered++) {
        sim_fail(s, "node %d forwards token %llu it cannot", n->id, (unsigned long long)token);
        return;
    }
    if (n->mode == RAFT_MODE_EMULATION)
        sim_fail(s, "node %d forwards in emulation mode", n->id);
    if (leader < 1 || leader > s->n || leader == n->id) {
        sim_fail(s, "node %d forwards to %d", n->id, leader);
        return;
    }
    op *o = &s->ops[r->op];
    cn_term oc = cn_buf_term(&o->cmd, 0);
    if (!cn_term_eq(&oc, cmd))
        sim_fail(s, "node %d forwards a different command", n->id);
    if (r->hops >= 4)
        return;                     /* the client times out */
    netmsg *nm = nm_new(NM_FWD, n->id, leader, NULL);
    nm->op = r->op;
    nm->hops = r->hops + 1;
    net_send(s, nm);
}

static void io_trace(void *ud, const char *line)
{
    node *n = ud;
    sim *s = n->s;
    snprintf(s->tring[s->ntring++ % TRING], sizeof s->tring[0], "%s", line);
    if (s->verbose)
        fprintf(stderr, "    %s\n", line);
    if (s->record_lines) {
        GROW(n->lines, n->caplines, n->nlines + 1);
        n->lines[n->nlines++] = memdup(line, strlen(line) + 1);
    }
}

static void io_applied(void *ud, uint64_t idx, uint64_t term, const cn_term *cmd)
{
    node *n = ud;
    sim *s = n->s;
    uint64_t h = hbytes(cmd->data, cmd->len);
    if (n->mode == RAFT_MODE_RAFT || raft_get_role(n->r) != RAFT_LEADER) {
        if (idx != n->applied_cb + 1)
            sim_fail(s, "node %d applies index %llu after %llu", n->id, (unsigned long long)idx,
                     (unsigned long long)n->applied_cb);
    } else if (idx <= n->applied_cb) {
        sim_fail(s, "node %d applies index %llu again (applied %llu)", n->id,
                 (unsigned long long)idx, (unsigned long long)n->applied_cb);
    }
    n->applied_cb = idx;
    GROW(s->g, s->capg, idx + 1);
    gent *g = &s->g[idx];
    if (g->set) {
        if (g->term != term || g->cmdh != h) {
            char a[120];
            cn_term_format(cmd, a, sizeof a);
            sim_fail(s, "state machine safety: node %d applies %s (term %llu) at index %llu, "
                        "another node applied a different entry (term %llu)",
                     n->id, a, (unsigned long long)term, (unsigned long long)idx,
                     (unsigned long long)g->term);
        }
    } else {
        g->set = 1;
        g->term = term;
        g->cmdh = h;
        /* the reference state machine, in index order */
        if (idx == s->ref_n + 1) {
            char tr[256];
            size_t off = s->refres.len;
            cn_buf tmp;
            cn_buf_init(&tmp);
            raft_kv_apply(s->ref, cmd, 0, idx, RAFT_KV_TRACE_SLOT, &tmp, tr, sizeof tr);
            cn_buf_append(&s->refres, tmp.data, tmp.len);
            g->res_off = off;
            g->res_len = tmp.len;
            cn_buf_free(&tmp);
            s->ref_n = idx;
        }
    }
    GROW(s->sa, s->capsa, s->nsa + 1);
    s->sa[s->nsa++] = (appl){ n->id, idx, h, 0 };
}

static const raft_io sim_io = {
    .send = io_send,
    .reply = io_reply,
    .persist = io_persist,
    .client_reply = io_client_reply,
    .forward = io_forward,
    .trace = io_trace,
    .applied = io_applied,
};

/* ---- nodes: boot, crash, restart ----------------------------------------- */

static void touch(node *n) { n->touched = 1; }

static void node_boot(sim *s, node *n)
{
    raft_config cfg = { .id = n->id, .mode = n->mode, .seed = rnd(s) | 1,
                        .max_batch = s->max_batch, .max_inflight = s->max_inflight };
    raft_io io = sim_io;
    io.ud = n;
    n->r = raft_new(&cfg, &io);
    if (!n->r) {
        fprintf(stderr, "raft_new failed\n");
        exit(2);
    }
    n->up = 1;
    if (n->d_n || n->d_term || n->d_vote) {
        if (raft_restore(n->r, n->d_term, n->d_vote, n->d_log, n->d_n) < 0)
            sim_fail(s, "raft_restore failed on node %d", n->id);
    }
    n->disk_done = n->persist_seen = 0;
    n->disk_free_at = s->now;
    n->sh_n = 0;
    n->dirty_lo = 1;
    n->last_commit = 0;
    n->last_term = n->d_term;
    n->applied_cb = 0;
    n->was_leader = 0;
    n->tick_same = 0;
    int ids[MAXN];
    size_t k = 0;
    for (int i = 1; i <= s->n; i++)
        if (i != n->id)
            ids[k++] = i;
    raft_set_peers(n->r, s->now, ids, k);
    for (int i = 1; i <= s->n; i++) {
        if (i == n->id)
            continue;
        raft_set_peer_kind(n->r, i, s->nodes[i].kind);
        n->alive_view[i] = 1;       /* set_peers: alive until told otherwise */
    }
    touch(n);
}

static void node_crash(sim *s, node *n)
{
    if (!n->up)
        return;
    note(s, SN_CRASH, n->id, 0, NULL, 0, 0);
    raft_free(n->r);
    n->r = NULL;
    n->up = 0;
    n->inc++;
    for (size_t i = 0; i < n->npw; i++) {
        for (size_t j = 0; j < n->pw[i].n; j++)
            free((void *)n->pw[i].e[j].cmd.data);
        free(n->pw[i].e);
    }
    n->npw = 0;
    for (size_t i = 0; i < n->nhq; i++)
        nm_free(n->hq[i].nm);
    n->nhq = 0;
    s->crashes++;
}

/* A disk write completes. */
static void disk_done(sim *s, node *n, uint64_t seq)
{
    if (!n->npw || n->pw[0].seq != seq) {
        sim_fail(s, "disk: node %d write %llu out of order", n->id, (unsigned long long)seq);
        return;
    }
    pwrite w = n->pw[0];
    memmove(n->pw, n->pw + 1, (n->npw - 1) * sizeof *n->pw);
    n->npw--;
    if (w.truncate && w.keep < n->d_n) {
        for (size_t i = w.keep; i < n->d_n; i++)
            free((void *)n->d_log[i].cmd.data);
        n->d_n = w.keep;
    }
    if (w.n && w.first != n->d_n + 1)
        sim_fail(s, "disk: node %d writes entries from %llu onto a log of %zu (truncate=%d keep=%llu)",
                 n->id, (unsigned long long)w.first, n->d_n, w.truncate,
                 (unsigned long long)w.keep);
    if (w.n && w.first <= n->d_n + 1) {
        for (size_t i = w.first - 1; i < n->d_n; i++)
            free((void *)n->d_log[i].cmd.data);
        n->d_n = w.first - 1;
    }
    for (size_t i = 0; i < w.n; i++) {
        if (w.first > n->d_n + 1) {
            free((void *)w.e[i].cmd.data);
            continue;
        }
        GROW(n->d_log, n->d_cap, n->d_n + 1);
        n->d_log[n->d_n++] = w.e[i];
    }
    free(w.e);
    if (w.term < n->d_term)
        sim_fail(s, "disk: node %d term goes back from %llu to %llu", n->id,
                 (unsigned long long)n->d_term, (unsigned long long)w.term);
    n->d_term = w.term;
    n->d_vote = w.vote;
    n->disk_done = seq;
    size_t k = 0;
    for (size_t i = 0; i < n->nhq; i++) {
        if (n->hq[i].after <= seq)
            release(s, n, n->hq[i].nm);
        else
            n->hq[k++] = n->hq[i];
    }
    n->nhq = k;
    note(s, SN_DISK, n->id, 0, NULL, 0, seq);
    raft_persisted(n->r, s->now, seq);
    touch(n);
}

/* Emulation peers' monitors: a CN node sees an emulation peer alive while it
 * is up and the link between them is whole. */
static void update_liveness(sim *s)
{
    for (int a = 1; a <= s->n; a++) {
        node *na = &s->nodes[a];
        if (!na->up || na->kind != RAFT_KIND_CN)
            continue;
        for (int b = 1; b <= s->n; b++) {
            if (b == a || s->nodes[b].kind != RAFT_KIND_EMU)
                continue;
            int alive = s->nodes[b].up && !s->cut[a][b] && !s->cut[b][a];
            if (alive != na->alive_view[b]) {
                na->alive_view[b] = alive;
                note(s, SN_ALIVE, a, b, NULL, 0, (uint64_t)alive);
                raft_peer_alive(na->r, s->now, b, alive);
                touch(na);
            }
        }
    }
}

static void node_restart(sim *s, node *n)
{
    if (n->up)
        return;
    note(s, SN_RESTART, n->id, 0, NULL, 0, 0);
    node_boot(s, n);
    update_liveness(s);
}

/* ---- clients --------------------------------------------------------------- */

static size_t op_new(sim *s, int c, char kind, const char *key, const char *val)
{
    GROW(s->ops, s->capops, s->nops + 1);
    size_t id = s->nops++;
    op *o = &s->ops[id];
    memset(o, 0, sizeof *o);
    o->client = c;
    o->kind = kind;
    snprintf(o->key, sizeof o->key, "%s", key);
    cn_buf_init(&o->cmd);
    if (kind == 'p') {
        if (val)
            snprintf(o->val, sizeof o->val, "%s", val);
        else
            snprintf(o->val, sizeof o->val, "v%zu", id);
        cn_term_build(&o->cmd, "{put, ~s, ~s}", o->key, o->val);
    } else if (kind == 'g') {
        cn_term_build(&o->cmd, "{get, ~s}", o->key);
    } else {
        cn_term_build(&o->cmd, "{delete, ~s}", o->key);
    }
    o->cmdh = hbytes(o->cmd.data, o->cmd.len);
    o->sent = s->now;
    return id;
}

static void client_send(sim *s, size_t opid, int target)
{
    netmsg *nm = nm_new(NM_CLIENT, 0, target, NULL);
    nm->op = opid;
    net_send(s, nm);
}

static void client_next(sim *s, int c)
{
    client *cl = &s->clients[c];
    static const char *keys[] = { "a", "b", "c", "d", "e" };
    uint64_t k = rnd(s) % 100;
    char kind = k < 55 ? 'p' : k < 75 ? 'g' : 'd';
    size_t id = op_new(s, c, kind, keys[rnd(s) % 5], NULL);
    int target = cl->target && chance(s, 800) ? cl->target : (int)rnd_in(s, 1, (uint64_t)s->n);
    cl->busy = 1;
    cl->cur = id;
    client_send(s, id, target);
    schedule(s, s->now + 1500, EV_CTIMEOUT, c, 0, id, NULL);
}

static void client_done(sim *s, size_t opid, int from_node, int not_leader)
{
    op *o = &s->ops[opid];
    client *cl = &s->clients[o->client];
    if (!cl->busy || cl->cur != opid)
        return;
    cl->busy = 0;
    cl->target = not_leader ? 0 : from_node;
    if (s->auto_clients && o->client < NCLIENTS)
        schedule(s, s->now + rnd_in(s, 1, 60), EV_CLIENT, o->client, 0, 0, NULL);
}

