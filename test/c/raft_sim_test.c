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
 *   disk     io.persist and io.snapshot writes complete in order after a
 *            random delay, then raft_persisted(seq); messages sent with
 *            after_persist wait until their write is done; a snapshot write
 *            leaves the disk holding its bytes and the log without the
 *            entries up to compact (or none, with drop_log: the log restarts
 *            after the snapshot); a crash loses every write not yet done and
 *            the node restarts from its disk (raft_new,
 *            raft_restore_snapshot if it holds one, raft_restore with the
 *            entries after the snapshot, raft_set_peers, kinds, liveness);
 *   clients  send Gleam Command terms ({put,K,V} with a unique V, {get,K},
 *            {delete,K}) to random nodes, follow forwards (io.forward goes
 *            over the simulated network), time out and move on, and record
 *            every result.
 *
 * Checked after EVERY step (see check_node and friends):
 *   election safety     at most one leader per term, ever;
 *   log matching        an (index, term) pair anywhere, at any time, always
 *                       sits on the same prefix (a hash chain per entry);
 *                       the shadow of a log that starts after base keeps the
 *                       compacted entries' hashes; after an install (or a
 *                       restart from a snapshot) at S it is the committed
 *                       prefix's up to the log's base, and the entries the
 *                       log kept must reach S's hash;
 *   leader completeness a node becoming leader holds every entry committed so
 *                       far;
 *   committed prefix    every node's commit index points into one and the
 *                       same committed prefix; it never decreases on a running
 *                       node; a leader only counts entries of its own term;
 *   state machine safety every io.applied at an index is the same entry, on
 *                       every node, in order; an install (io.installed at S)
 *                       is a jump forward of the applies to S;
 *   client results      every reply equals the model's result for the index
 *                       where the command was applied, or is an error ("not
 *                       leader", "replication failed"); every op_ok for a put
 *                       is remembered and checked at the end against the
 *                       final leader's log;
 *   state machine       the model is a KV written in this file (not
 *                       c_src/raft's): every entry, in index order, also goes
 *                       through raft_kv_apply on a store of ours, whose result
 *                       and pairs must equal the model's; after every apply,
 *                       a node's own store holds what the model holds after
 *                       that node's applies (after an install or a restart
 *                       from a snapshot at S: the model's store after S,
 *                       checked then); at the end the clients stop,
 *                       every node applies every entry within 10 s and then
 *                       holds the model's store;
 *   durability          a granted vote, an append acknowledgement or a
 *                       candidate's vote request leaves a node only once its
 *                       disk holds what it promises; no node votes for two
 *                       candidates in one term, across crashes; persist
 *                       writes are contiguous appends after an optional
 *                       truncation, and (periodically) disk == memory
 *                       (snapshot index, the log's first and last entries);
 *   snapshots           every snapshot written decodes, is of (index, term)
 *                       on the committed prefix and holds the model's store
 *                       after index; it never compacts the disk's log past
 *                       its end nor below a later truncation; a granted
 *                       snapshot acknowledgement leaves only once the disk
 *                       holds the snapshot (or the entries); chunks are at
 *                       most snapshot_chunk bytes, only between C nodes;
 *   wire                an emulation peer is only ever sent the seed's
 *                       messages.
 * After the faults stop (the network heals, every node is up), a leader must
 * be elected within 10 s, a client command committed within 10 s more, and
 * every node must apply it within 10 s more (simulated).
 *
 * Configurations (random schedules): raft-3, raft-5 (all C); mixed-3 (2 C +
 * 1 emulation core), mixed-5 (3 C + 2), mixed-5e3 (2 C + 3); emulead-5 (3 C +
 * 2, and start_election is also sent to emulation cores, so the seed's
 * leader takes turns).  A cluster with emulation cores gets start_election
 * at node 1 (a C core) when it boots, as the seed's main sends it: before
 * any election C cores do not campaign beside emulation peers; volatile-3 (io.persist NULL: nothing may be gated;
 * no crashes; a quarter of the rounds); members-5 (all C: nodes 1-3
 * bootstrap the cluster, 4 and 5 start with no peers, and the chaos asks
 * the leader to add or remove a random node, so configurations change
 * under every fault; the liveness checks then wait for the members of the
 * leader's configuration only); snap-5 (all C) and snap-mixed-5 (3 C + 2
 * emulation): C cores take snapshots every 5..40 applied entries, keep
 * 1..10 trailing entries, and send InstallSnapshot in chunks of 8..128
 * bytes (drawn per schedule; the stores are small), so snapshots are taken,
 * sent in several chunks (dropped, duplicated, reordered), installed and
 * restarted from under every fault.  In snap-mixed-5 the C nodes must
 * take none (emulation members know no snapshots, and a new leader sends
 * them its log from index 1): a snapshot written fails the schedule, the
 * emulation peers are waited for like the others, and the schedules
 * where a due snapshot was held back are counted.  Each schedule draws max_batch and max_inflight, a
 * start time, and its fault mix; a failing one is printed with its last
 * steps and trace lines, then minimized (fault classes dropped, fewest fault
 * steps) and printed again with a replay line.  Known limitations of mixed
 * clusters are counted, not failed (see K_* and the summary lines).
 * Scenarios: a partitioned minority (the leader, plus a follower in 5-node
 * clusters) cannot commit and steps down; an isolated follower returning
 * does not disrupt the majority (pre-vote); an emulation follower's
 * overwrite-by-index cannot lose or alter committed entries.  The emulation
 * tests replay the seed's two sample runs and compare every trace line.
 *
 * Environment: RAFT_SIM_SEEDS (rounds per configuration, default 1000;
 * scenarios run SEEDS/20 rounds each), RAFT_SIM_STEPS (steps with faults per
 * round, default 1500), RAFT_SIM_SEED0 (first seed, default 1),
 * RAFT_SIM_CONFIG (only configurations whose name contains it; "scenarios"
 * for the scenarios and emulation tests only), RAFT_SIM_VERBOSE (print every
 * step), RAFT_SIM_REPLAY=name:seed[:steps[:faults]] (one round, every step
 * printed; also rejoin-NAME:seed, minority-NAME:seed, overwrite:seed).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../c_src/raft/raft.h"
#include "../../c_src/raft/raft_conf.h"
#include "../../c_src/raft/raft_snapshot.h"
#include "check.h"
#include "sim_heap.h"

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

/* ---- the model: the seed's KV, written here ------------------------------- */

/* What raft_kv_apply (the nodes' state machine) is checked against: pairs in
 * an array, found by a linear search, sharing no code with c_src/raft.  The
 * seed's semantics: put fails with "key already exists: K" if K is present;
 * get answers {ok, V}, or {error, "key not found: K"}; delete fails with
 * "key not found: K" if K is absent; noop changes nothing. */
typedef struct mpair {
    char  *k, *v;
    size_t kl, vl;
    int    seen;                     /* met by the last comparison */
} mpair;

typedef struct model {
    mpair *v;
    size_t n, cap;
} model;

static mpair *model_get(const model *m, const char *k, size_t kl)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].kl == kl && memcmp(m->v[i].k, k, kl) == 0)
            return &m->v[i];
    return NULL;
}

static void model_clear(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].k);
        free(m->v[i].v);
    }
    m->n = 0;
}

static void model_free(model *m)
{
    model_clear(m);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* {Tag, <<What, K/binary>>} */
static void model_copy(model *d, const model *m)
{
    model_clear(d);
    GROW(d->v, d->cap, m->n);
    for (size_t i = 0; i < m->n; i++)
        d->v[i] = (mpair){ memdup(m->v[i].k, m->v[i].kl), memdup(m->v[i].v, m->v[i].vl),
                           m->v[i].kl, m->v[i].vl, 0 };
    d->n = m->n;
}

static void model_error(cn_buf *res, const char *tag, const char *what, const char *k, size_t kl)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "%s%.*s", what, (int)kl, k);
    size_t len = n < (int)sizeof msg ? (size_t)n : sizeof msg - 1;   /* the sim's keys are short */
    cn_term_build(res, "{~a, ~b}", tag, msg, len);
}

/* Applies cmd and appends the client's result term to res; -1 for a
 * command the seed does not have. */
static int model_apply(model *m, const cn_term *cmd, cn_buf *res)
{
    const char *k, *v;
    size_t kl, vl;
    if (cn_term_match(cmd, "{put, ~b, ~b}", &k, &kl, &v, &vl)) {
        if (model_get(m, k, kl)) {
            model_error(res, "op_error", "key already exists: ", k, kl);
        } else {
            GROW(m->v, m->cap, m->n + 1);
            m->v[m->n++] = (mpair){ memdup(k, kl), memdup(v, vl), kl, vl, 0 };
            cn_term_build(res, "op_ok");
        }
    } else if (cn_term_match(cmd, "{get, ~b}", &k, &kl)) {
        mpair *p = model_get(m, k, kl);
        if (p)
            cn_term_build(res, "{ok, ~b}", p->v, p->vl);
        else
            model_error(res, "error", "key not found: ", k, kl);
    } else if (cn_term_match(cmd, "{delete, ~b}", &k, &kl)) {
        mpair *p = model_get(m, k, kl);
        if (p) {
            free(p->k);
            free(p->v);
            *p = m->v[--m->n];
            cn_term_build(res, "op_ok");
        } else {
            model_error(res, "op_error", "key not found: ", k, kl);
        }
    } else if (cn_term_match(cmd, "noop")) {
        cn_term_build(res, "op_ok");
    } else if (cn_term_match(cmd, "{cn_config, _}")) {
        cn_term_build(res, "ok");   /* a configuration: no change to the store */
    } else {
        return -1;
    }
    return 0;
}

typedef struct model_cmp {
    model *m;
    size_t n;                        /* pairs the store holds */
    char  *why;
    size_t whysz;
} model_cmp;

static void model_cmp_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl)
{
    model_cmp *c = ud;
    c->n++;
    if (c->why[0])
        return;                      /* the first difference is enough */
    mpair *p = model_get(c->m, k, kl);
    if (!p)
        snprintf(c->why, c->whysz, "it holds \"%.*s\", the model does not", (int)kl, k);
    else if (p->vl != vl || memcmp(p->v, v, vl) != 0)
        snprintf(c->why, c->whysz, "it has \"%.*s\" = \"%.*s\", the model \"%.*s\"", (int)kl,
                 k, (int)vl, v, (int)p->vl, p->v);
    else
        p->seen = 1;
}

/* Does store hold exactly the model's pairs?  If not, why says how not. */
static int model_same(model *m, const raft_kv *store, char *why, size_t whysz)
{
    model_cmp c = { m, 0, why, whysz };
    why[0] = '\0';
    for (size_t i = 0; i < m->n; i++)
        m->v[i].seen = 0;
    raft_kv_each(store, model_cmp_pair, &c);
    for (size_t i = 0; i < m->n && !why[0]; i++)
        if (!m->v[i].seen)
            snprintf(why, whysz, "it lacks \"%.*s\", the model has it", (int)m->v[i].kl,
                     m->v[i].k);
    if (!why[0] && c.n != m->n)
        snprintf(why, whysz, "it holds %zu pairs, the model %zu", c.n, m->n);
    return !why[0];
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
    char       *sdata;               /* SNAPSHOT: an owned copy of the chunk */
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

enum { R_PEER, R_CLIENT, R_ADMIN };
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
    char     key[16], val[24];
    cn_buf   cmd;
    uint64_t cmdh, sent;
    int      acked;                  /* a put answered op_ok */
    uint64_t idx;                    /* where it was applied (when answered) */
    cn_buf   res;                    /* the last result */
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
    int         snap;                /* an io.snapshot: */
    uint64_t    s_index, s_term, compact;
    int         drop;
    char       *data;
    size_t      len;
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
    int            rejoining;        /* boots with raft_config.rejoining */
    /* disk */
    uint64_t    d_term;
    int         d_vote;
    raft_entry *d_log;               /* entries d_base+1 .. d_base+d_n */
    size_t      d_n, d_cap;
    uint64_t    d_base;
    char       *d_snap;              /* the snapshot written last (NULL: none) */
    size_t      d_snap_len;
    uint64_t    d_snap_index, d_snap_term;
    pwrite     *pw;
    size_t      npw, cappw;
    uint64_t    disk_free_at, disk_done, persist_seen;
    held       *hq;
    size_t      nhq, caphq;
    /* checker */
    struct shent { uint64_t term, chain; } *sh;   /* 1-based shadow of the log */
    size_t    sh_n, sh_cap;
    uint64_t  dirty_lo;
    uint64_t  inst, inst_term;       /* a snapshot installed or restored at inst: the
                                      * shadow up to it comes from the committed prefix */
    uint64_t  snapchk, snapchk_term; /* a snapshot written in this step */
    int       touched;
    uint64_t  last_commit, last_term, applied_cb;
    model     mirror;                /* this life's applies, on the model */
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
    int volatile_disk;               /* io.persist NULL: no storage, no crashes */
    int boot;                        /* membership: nodes 1..boot bootstrap the cluster,
                                      * the others wait to be added; chaos adds and
                                      * removes members (0: all bootstrap, no changes) */
    int snap;                        /* C cores take snapshots and send InstallSnapshot */
} sim_cfg;

typedef struct gent {
    uint64_t term, cmdh;
    int      set;
    size_t   res_off, res_len;
    size_t   cmd_off, cmd_len;       /* the command, in sim.gcmd */
} gent;

typedef struct appl {                /* an io.applied in this step */
    int      node;
    uint64_t idx, cmdh, seq;
    int      used;
} appl;

typedef struct rep {                 /* an io.client_reply in this step */
    int      node;
    size_t   op, off, len;
    uint64_t seq;
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
       SN_CUT, SN_HEAL, SN_DROPS, SN_START, SN_ALIVE, SN_TRANSFER, SN_ADD, SN_REMOVE };

/* fault classes, for minimizing a failing schedule */
enum { F_DROP = 1, F_DUP = 2, F_SLOW = 4, F_PART = 8, F_CRASH = 16, F_DISK = 32,
       F_START = 64, F_MEMBER = 128, F_ALL = 255 };

typedef struct sim {
    const sim_cfg *cfg;
    uint64_t seed, rng, now, evseq;
    int      n;
    node     nodes[MAXN + 1];
    unsigned max_batch, max_inflight;
    uint64_t snap_entries, snap_trailing;   /* snapshot configurations (cfg->snap) */
    size_t   snap_chunk;
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
    uint64_t  *c_chain, *c_term, *c_tag;   /* the committed prefix; c_tag: the term it
                                              * was committed in (the committer's) */
    size_t     maxc, capc;
    gent      *g;
    size_t     capg;
    model      model;                /* the applied entries in index order, on the model */
    cn_buf     gcmd;                 /* every applied entry's command (gent.cmd_off) */
    model      mat;                  /* the model as of entry mat_n (model_at) */
    uint64_t   mat_n;
    raft_kv   *ref;                  /* the same, on the real state machine */
    uint64_t   ref_n;
    cn_buf     refres;               /* the model's result for each of them */
    appl      *sa;
    size_t     nsa, capsa;
    rep       *sr;
    size_t     nsr, capsr;
    cn_buf     repbuf;
    uint64_t   cbseq;                /* orders applies and replies */
    int        failed;
    int        known;                /* the run stopped on a known limitation (K_*) */
    uint64_t   seed_answers;         /* emulation leader answers off the reference */
    uint64_t   seed_applies;         /* emulation follower applies off the C nodes' */
    char       fail[600];
    uint64_t   fail_step;
    stepnote   ring[RING];
    uint64_t   nring;
    char       tring[TRING][160];
    uint64_t   ntring;
    int        record_lines;
    /* stats */
    uint64_t steps, elections, msgs, acked, crashes, parts;
    uint64_t changes_ok, changes_failed;  /* membership changes answered */
    int      held_back;              /* a C node held a due snapshot back (emulation members) */
    uint64_t snaps, installs, drops, snap_restarts, chunks;   /* snapshot activity */
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
                                   "pre_vote", "pre_vote_reply", "timeout_now", "snapshot",
                                   "snapshot_reply" };
    return t >= 0 && t <= RAFT_MSG_SNAPSHOT_REPLY ? names[t] : "?";
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
        if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_REPLY) {
            sn->n = m->type == RAFT_MSG_SNAPSHOT ? m->offset : m->match;
            sn->hint = m->type == RAFT_MSG_SNAPSHOT ? (int)m->len : 0;
            sn->granted = m->type == RAFT_MSG_SNAPSHOT ? m->done : m->granted;
        }
    }
}

static void format_note(const stepnote *sn, char *out, size_t sz)
{
    static const char *whats[] = { "tick", "recv", "reply", "client", "forward", "disk",
                                   "CRASH", "RESTART", "PARTITION", "HEAL", "faults", "start_election",
                                   "alive", "transfer", "add", "remove" };
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
        else if (sn->mtype == RAFT_MSG_SNAPSHOT)
            snprintf(out, sz, "from %d snapshot term=%llu at=%llu/%llu offset=%llu len=%d%s",
                     sn->from, (unsigned long long)sn->term, (unsigned long long)sn->idx,
                     (unsigned long long)sn->idxterm, (unsigned long long)sn->n, sn->hint,
                     sn->granted ? " done" : "");
        else if (sn->mtype == RAFT_MSG_SNAPSHOT_REPLY)
            snprintf(out, sz, "from %d snapshot_reply term=%llu at=%llu ok=%d held=%llu", sn->from,
                     (unsigned long long)sn->term, (unsigned long long)sn->idx, sn->granted,
                     (unsigned long long)sn->n);
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
    } else if (sn->what == SN_ADD || sn->what == SN_REMOVE) {
        snprintf(out, sz, "member %d", sn->from);
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
        if (m->n_entries) {         /* one block: the array, then the commands */
            size_t bytes = m->n_entries * sizeof *nm->ents;
            for (size_t i = 0; i < m->n_entries; i++)
                bytes += m->entries[i].cmd.len;
            nm->ents = xrealloc(NULL, bytes);
            char *p = (char *)(nm->ents + m->n_entries);
            for (size_t i = 0; i < m->n_entries; i++) {
                nm->ents[i].term = m->entries[i].term;
                if (m->entries[i].cmd.len)
                    memcpy(p, m->entries[i].cmd.data, m->entries[i].cmd.len);
                nm->ents[i].cmd.data = p;
                nm->ents[i].cmd.len = m->entries[i].cmd.len;
                p += m->entries[i].cmd.len;
            }
            nm->m.entries = nm->ents;
        }
        nm->m.data = NULL;
        if (m->type == RAFT_MSG_SNAPSHOT) {
            nm->sdata = memdup(m->data, m->len);
            nm->m.data = nm->sdata;
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
    free(nm->ents);
    free(nm->sdata);
    free(nm);
}

SIM_HEAP(evq, ev)

/* Events queued at once beyond this are a message storm (a round keeps a
 * few hundred: a core that answers each refusal with a window of appends
 * made millions, mixed-3 seed 145 before the fix). */
#define MAX_QUEUED 200000

static void push_ev(sim *s, ev e)
{
    if (s->nheap >= MAX_QUEUED && !s->failed)
        sim_fail(s, "message storm: %zu events queued at t=%llu", s->nheap,
                 (unsigned long long)s->now);
    e.seq = s->evseq++;
    evq_push(&s->heap, &s->nheap, &s->capheap, e);
}

static ev pop_ev(sim *s) { return evq_pop(&s->heap, &s->nheap); }

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

/* A message leaves its node: what it promises must be on disk by now (or be
 * superseded there by a later term, as when an emulation node answers the
 * events it deferred and one write covers them all). */
static void release(sim *s, node *n, netmsg *nm)
{
    const raft_msg *m = &nm->m;
    if (nm->kind == NM_REQ && m->type == RAFT_MSG_REQUEST_VOTE && n->mode == RAFT_MODE_RAFT &&
        (n->d_term < m->term || (n->d_term == m->term && n->d_vote != n->id)))
        sim_fail(s, "durability: node %d asks for votes in term %llu, disk has term %llu vote %d",
                 n->id, (unsigned long long)m->term, (unsigned long long)n->d_term, n->d_vote);
    if (nm->kind == NM_REP && m->type == RAFT_MSG_VOTE && m->granted) {
        if (n->d_term < m->term || (n->d_term == m->term && n->d_vote != nm->to))
            sim_fail(s, "durability: node %d grants its term-%llu vote to %d, disk has term %llu vote %d",
                     n->id, (unsigned long long)m->term, nm->to, (unsigned long long)n->d_term,
                     n->d_vote);
        grant_record(s, n, m->term, nm->to);
    }
    if (nm->kind == NM_REP && m->type == RAFT_MSG_APPEND_REPLY && m->granted) {
        if (n->d_term < m->term)
            sim_fail(s, "durability: node %d acknowledges in term %llu, disk has term %llu", n->id,
                     (unsigned long long)m->term, (unsigned long long)n->d_term);
        else if (n->d_term == m->term && n->d_base + n->d_n < m->match)
            sim_fail(s, "durability: node %d acknowledges index %llu with %llu entries on disk",
                     n->id, (unsigned long long)m->match, (unsigned long long)(n->d_base + n->d_n));
    }
    if (nm->kind == NM_REP && m->type == RAFT_MSG_SNAPSHOT_REPLY && m->granted) {
        if (n->d_term < m->term)
            sim_fail(s, "durability: node %d acknowledges a snapshot in term %llu, disk has term "
                        "%llu", n->id, (unsigned long long)m->term, (unsigned long long)n->d_term);
        else if (n->d_snap_index < m->index && n->d_base + n->d_n < m->index)
            sim_fail(s, "durability: node %d acknowledges the snapshot at %llu with a snapshot at "
                        "%llu and %llu entries on disk", n->id, (unsigned long long)m->index,
                     (unsigned long long)n->d_snap_index, (unsigned long long)(n->d_base + n->d_n));
    }
    net_send(s, nm);
}

static void emit(sim *s, node *n, netmsg *nm, uint64_t after)
{
    if (s->cfg->volatile_disk) {
        if (after)
            sim_fail(s, "node %d gates a message on write %llu without storage", n->id,
                     (unsigned long long)after);
        net_send(s, nm);
        return;
    }
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
        m->type != RAFT_MSG_COMMIT && m->type != RAFT_MSG_PRE_VOTE &&
        m->type != RAFT_MSG_TIMEOUT_NOW && m->type != RAFT_MSG_SNAPSHOT)
        sim_fail(s, "node %d sends a %s as a request", n->id, mtype_name(m->type));
    if ((is_emu(s, peer) || n->mode == RAFT_MODE_EMULATION) && !seed_message(m->type))
        sim_fail(s, "wire: node %d sends %s to emulation peer %d", n->id, mtype_name(m->type), peer);
    if (m->type == RAFT_MSG_APPEND && m->n_entries && !m->entries)
        sim_fail(s, "node %d sends %zu entries without entries", n->id, m->n_entries);
    if (m->type == RAFT_MSG_SNAPSHOT && (!s->cfg->snap || (m->len && !m->data) ||
                                         m->len > s->snap_chunk))
        sim_fail(s, "node %d sends a snapshot chunk of %zu bytes (chunks of %zu)", n->id, m->len,
                 s->snap_chunk);
    s->chunks += m->type == RAFT_MSG_SNAPSHOT;
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

/* A write is queued: it completes, in order, after a random delay. */
static void disk_queue(sim *s, node *n, uint64_t seq)
{
    uint64_t d = chance(s, s->disk_slow_pm) ? rnd_in(s, 10, 80) : rnd_in(s, 0, 3);
    uint64_t at = (n->disk_free_at > s->now ? n->disk_free_at : s->now) + d;
    n->disk_free_at = at;
    schedule(s, at, EV_DISK, n->id, n->inc, seq, NULL);
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
    if (cnt && !entries) {
        sim_fail(s, "node %d persists %zu entries from %llu without entries (log %llu..%llu)",
                 n->id, cnt, (unsigned long long)first,
                 (unsigned long long)raft_get_log(n->r)->base + 1,
                 (unsigned long long)raft_log_last(raft_get_log(n->r)));
        cnt = 0;
    }
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
    disk_queue(s, n, seq);
}

static void io_client_reply(void *ud, raft_token token, const cn_term *result)
{
    node *n = ud;
    sim *s = n->s;
    route *r = route_get(s, token);
    if (!r)
        return;
    if (r->kind == R_ADMIN && r->node == n->id) {
        if (r->answered++)
            sim_fail(s, "node %d answers a membership change twice", n->id);
        if (cn_term_match(result, "ok"))
            s->changes_ok++;
        else if (cn_term_match(result, "{error, _}"))
            s->changes_failed++;
        else
            sim_fail(s, "node %d answers a membership change with a malformed result", n->id);
        return;
    }
    if (r->kind != R_CLIENT || r->node != n->id) {
        sim_fail(s, "node %d answers a client on token %llu that is not a client's of its own",
                 n->id, (unsigned long long)token);
        return;
    }
    if (r->answered++)
        sim_fail(s, "node %d answers client token %llu twice", n->id, (unsigned long long)token);
    GROW(s->sr, s->capsr, s->nsr + 1);
    s->sr[s->nsr++] = (rep){ n->id, r->op, s->repbuf.len, result->len, ++s->cbseq };
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

/* Under emulation leaders an emulation node applies whatever it holds, as
 * the seed does (seed_applies): what it applies and holds is not the
 * model's. */
static int seed_store(const sim *s, const node *n)
{
    return s->cfg->emu_lead && n->mode == RAFT_MODE_EMULATION;
}

/* The entry first applied at idx, in index order: the model's result is
 * what a client must get (handle_replies); raft_kv_apply on a store of our
 * own must give the same result and leave the same pairs. */
static void reference_apply(sim *s, gent *g, uint64_t idx, const cn_term *cmd)
{
    char c[120], why[200], tr[256];
    cn_term_format(cmd, c, sizeof c);
    g->res_off = s->refres.len;
    if (model_apply(&s->model, cmd, &s->refres) < 0)
        sim_fail(s, "the model has no command %s (index %llu)", c, (unsigned long long)idx);
    g->res_len = s->refres.len - g->res_off;
    s->ref_n = idx;
    if (raft_conf_is(cmd))
        return;                     /* the core's, not the store's */
    cn_buf real;
    cn_buf_init(&real);
    raft_kv_apply(s->ref, cmd, 0, idx, RAFT_KV_TRACE_SLOT, &real, tr, sizeof tr);
    cn_term want = { s->refres.data + g->res_off, g->res_len }, got = { real.data, real.len };
    if (!cn_term_eq(&want, &got)) {
        char w[160], r[160];
        cn_term_format(&want, w, sizeof w);
        cn_term_format(&got, r, sizeof r);
        sim_fail(s, "raft_kv_apply of %s (index %llu) gives %s, the model %s", c,
                 (unsigned long long)idx, r, w);
    } else if (!model_same(&s->model, s->ref, why, sizeof why)) {
        sim_fail(s, "raft_kv_apply's store after %s (index %llu) differs from the model: %s", c,
                 (unsigned long long)idx, why);
    }
    cn_buf_free(&real);
}

/* The node's own store after applying cmd at idx holds what the model holds
 * after the same applies in its life. */
static void mirror_apply(sim *s, node *n, uint64_t idx, const cn_term *cmd)
{
    char why[200];
    cn_buf scratch;
    cn_buf_init(&scratch);
    model_apply(&n->mirror, cmd, &scratch);
    cn_buf_free(&scratch);
    if (!model_same(&n->mirror, raft_get_kv(n->r), why, sizeof why)) {
        char c[120];
        cn_term_format(cmd, c, sizeof c);
        sim_fail(s, "node %d's store after applying %s (index %llu) differs from the model: %s",
                 n->id, c, (unsigned long long)idx, why);
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
    int seed_node = seed_store(s, n);
    if (seed_node && (!g->set || g->term != term || g->cmdh != h)) {
        /* with emulation leaders, an emulation follower applies whatever
         * it holds at the index a commit_notification names (the seed's
         * handle_commit_notification): counted, not failed; and only C
         * nodes define what was applied where */
        s->seed_applies += g->set;
    } else if (g->set) {
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
        g->cmd_off = s->gcmd.len;
        g->cmd_len = cmd->len;
        cn_buf_append(&s->gcmd, cmd->data, cmd->len);
        if (idx == s->ref_n + 1)
            reference_apply(s, g, idx, cmd);
    }
    mirror_apply(s, n, idx, cmd);
    GROW(s->sa, s->capsa, s->nsa + 1);
    s->sa[s->nsa++] = (appl){ n->id, idx, h, ++s->cbseq, 0 };
}

/* The model as of entry idx (every entry up to it applied somewhere): the
 * store a snapshot at idx must hold.  NULL (failed) if one is missing. */
static model *model_at(sim *s, uint64_t idx)
{
    if (idx < s->mat_n) {
        model_clear(&s->mat);
        s->mat_n = 0;
    }
    cn_buf scratch;
    cn_buf_init(&scratch);
    for (uint64_t i = s->mat_n + 1; i <= idx; i++) {
        if (i >= s->capg || !s->g[i].set) {
            sim_fail(s, "a snapshot at %llu covers entry %llu, applied nowhere",
                     (unsigned long long)idx, (unsigned long long)i);
            cn_buf_free(&scratch);
            return NULL;
        }
        cn_term c = { s->gcmd.data + s->g[i].cmd_off, s->g[i].cmd_len };
        cn_buf_reset(&scratch);
        model_apply(&s->mat, &c, &scratch);
        s->mat_n = i;
    }
    cn_buf_free(&scratch);
    return &s->mat;
}

/* A snapshot write: checked whole (it decodes, as of (index, term), and its
 * store is the model's after index), then queued in order with persists. */
static void io_snapshot(void *ud, uint64_t seq, uint64_t index, uint64_t term,
                        raft_snapshot_buf *snap, uint64_t compact, int drop)
{
    const char *data = snap->bytes.data;
    size_t len = snap->bytes.len;
    node *n = ud;
    sim *s = n->s;
    char why[200];
    if (seq != n->persist_seen + 1)
        sim_fail(s, "node %d snapshot seq %llu after %llu", n->id, (unsigned long long)seq,
                 (unsigned long long)n->persist_seen);
    n->persist_seen = seq;
    if (s->cfg->n_emu)              /* they know none: the log is kept whole */
        sim_fail(s, "node %d writes a snapshot at %llu beside emulation members", n->id,
                 (unsigned long long)index);
    if (compact > index)
        sim_fail(s, "node %d snapshot at %llu compacts to %llu", n->id,
                 (unsigned long long)index, (unsigned long long)compact);
    n->snapchk = index;             /* checked on the committed prefix after the step */
    n->snapchk_term = term;
    raft_snapshot_info info;
    raft_kv *kv = raft_kv_new();
    if (raft_snapshot_decode(data, len, &info, kv, why, sizeof why) < 0) {
        sim_fail(s, "node %d writes a snapshot at %llu that does not decode: %s", n->id,
                 (unsigned long long)index, why);
    } else if (info.index != index || info.term != term) {
        sim_fail(s, "node %d writes a snapshot of (%llu, term %llu) as (%llu, term %llu)", n->id,
                 (unsigned long long)info.index, (unsigned long long)info.term,
                 (unsigned long long)index, (unsigned long long)term);
    } else {
        model *m = model_at(s, index);
        if (m && !model_same(m, kv, why, sizeof why))
            sim_fail(s, "node %d's snapshot at %llu differs from the model there: %s", n->id,
                     (unsigned long long)index, why);
    }
    raft_kv_free(kv);
    GROW(n->pw, n->cappw, n->npw + 1);
    pwrite *w = &n->pw[n->npw++];
    memset(w, 0, sizeof *w);
    w->seq = seq;
    w->snap = 1;
    w->s_index = index;
    w->s_term = term;
    w->compact = compact;
    w->drop = drop;
    w->data = memdup(data, len);
    w->len = len;
    s->snaps++;
    s->drops += drop != 0;
    disk_queue(s, n, seq);
}

/* The store now is a snapshot's as of index: a jump of the applies to it,
 * with the store the model's there. */
static void io_installed(void *ud, uint64_t index, uint64_t term)
{
    node *n = ud;
    sim *s = n->s;
    char why[200];
    if (index <= n->applied_cb)
        sim_fail(s, "node %d installs a snapshot at %llu, having applied %llu", n->id,
                 (unsigned long long)index, (unsigned long long)n->applied_cb);
    n->applied_cb = index;
    n->inst = index;
    n->inst_term = term;
    s->installs++;
    model *m = model_at(s, index);
    if (!m)
        return;
    model_copy(&n->mirror, m);
    if (!model_same(&n->mirror, raft_get_kv(n->r), why, sizeof why))
        sim_fail(s, "node %d's store installed at %llu differs from the model there: %s", n->id,
                 (unsigned long long)index, why);
}

static const raft_io sim_io = {
    .send = io_send,
    .reply = io_reply,
    .persist = io_persist,
    .client_reply = io_client_reply,
    .forward = io_forward,
    .trace = io_trace,
    .applied = io_applied,
    .snapshot = io_snapshot,
    .installed = io_installed,
};

/* ---- nodes: boot, crash, restart ----------------------------------------- */

static void touch(node *n) { n->touched = 1; }

/* What raft_node's resolution does: peers are classified as they appear
 * (a configuration entry brings new ones). */
static void set_kinds(sim *s, node *n)
{
    for (int i = 1; i <= s->n; i++)
        if (i != n->id)
            raft_set_peer_kind(n->r, i, s->nodes[i].kind);
}

static void node_boot(sim *s, node *n)
{
    static const char *const names[MAXN + 1] = { "", "n1", "n2", "n3", "n4", "n5" };
    raft_config cfg = { .id = n->id, .mode = n->mode, .seed = rnd(s) | 1, .name = names[n->id],
                        .max_batch = s->max_batch, .max_inflight = s->max_inflight,
                        .rejoining = n->rejoining };
    if (s->cfg->snap) {
        cfg.snapshot_entries = s->snap_entries;
        cfg.snapshot_trailing = s->snap_trailing;
        cfg.snapshot_chunk = s->snap_chunk;
        cfg.snapshot_step = 1;             /* encoded over several ticks, applying between */
    }
    raft_io io = sim_io;
    io.ud = n;
    if (s->cfg->volatile_disk)
        io.persist = NULL;
    n->r = raft_new(&cfg, &io);
    if (!n->r) {
        fprintf(stderr, "raft_new failed\n");
        exit(2);
    }
    n->up = 1;
    size_t skip = 0;                 /* disk entries the snapshot covers */
    if (n->d_snap) {
        char why[200];
        if (raft_restore_snapshot(n->r, n->d_snap, n->d_snap_len, why, sizeof why) < 0)
            sim_fail(s, "raft_restore_snapshot failed on node %d: %s", n->id, why);
        skip = n->d_snap_index > n->d_base ? (size_t)(n->d_snap_index - n->d_base) : 0;
        if (skip > n->d_n) {
            sim_fail(s, "node %d's disk log ends at %llu before its snapshot at %llu", n->id,
                     (unsigned long long)(n->d_base + n->d_n),
                     (unsigned long long)n->d_snap_index);
            skip = n->d_n;
        }
    }
    if (n->d_snap || n->d_n || n->d_term || n->d_vote) {
        if (raft_restore(n->r, n->d_term, n->d_vote, n->d_log ? n->d_log + skip : NULL,
                         n->d_n - skip) < 0)
            sim_fail(s, "raft_restore failed on node %d", n->id);
    }
    n->disk_done = n->persist_seen = 0;
    n->disk_free_at = s->now;
    n->sh_n = 0;
    n->dirty_lo = 1;
    n->last_commit = 0;
    n->last_term = n->d_term;
    n->applied_cb = 0;
    n->inst = n->snapchk = 0;
    model_clear(&n->mirror);         /* a new core, an empty store */
    if (n->d_snap) {
        /* restarted from the snapshot: applied up to it, the store the
         * model's there, the shadow up to it the committed prefix's */
        char why[200];
        n->applied_cb = n->inst = n->d_snap_index;
        s->snap_restarts++;
        n->inst_term = n->d_snap_term;
        n->dirty_lo = n->d_snap_index + 1;
        model *m = model_at(s, n->d_snap_index);
        if (m) {
            model_copy(&n->mirror, m);
            if (!model_same(&n->mirror, raft_get_kv(n->r), why, sizeof why))
                sim_fail(s, "node %d's store restored from its snapshot at %llu differs from the "
                            "model there: %s", n->id, (unsigned long long)n->d_snap_index, why);
        }
        if (raft_get_applied(n->r) != n->d_snap_index)
            sim_fail(s, "node %d restored from its snapshot at %llu has applied %llu", n->id,
                     (unsigned long long)n->d_snap_index,
                     (unsigned long long)raft_get_applied(n->r));
    }
    n->was_leader = 0;
    n->tick_same = 0;
    /* the bootstrap set, as set_peers or a peers file gives it (a node
     * outside it waits to be added, or finds its cluster in its log) */
    int boot = s->cfg->boot ? s->cfg->boot : s->n;
    raft_member peers[MAXN];
    size_t k = 0;
    for (int i = 1; i <= boot; i++)
        if (i != n->id)
            peers[k++] = (raft_member){ i, names[i] };
    if (n->id <= boot)
        raft_set_peers(n->r, s->now, peers, k);
    set_kinds(s, n);
    for (int i = 1; i <= s->n; i++)
        n->alive_view[i] = 1;       /* set_peers: alive until told otherwise */
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
        free(n->pw[i].data);
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
    if (w.snap) {
        /* the snapshot, then the log without what it covers */
        free(n->d_snap);
        n->d_snap = w.data;
        n->d_snap_len = w.len;
        n->d_snap_index = w.s_index;
        n->d_snap_term = w.s_term;
        if (w.drop) {
            for (size_t i = 0; i < n->d_n; i++)
                free((void *)n->d_log[i].cmd.data);
            n->d_n = 0;
            n->d_base = w.s_index;
        } else if (w.compact > n->d_base) {
            if (w.compact > n->d_base + n->d_n) {
                sim_fail(s, "disk: node %d compacts to %llu a log that ends at %llu", n->id,
                         (unsigned long long)w.compact,
                         (unsigned long long)(n->d_base + n->d_n));
            } else {
                size_t k = (size_t)(w.compact - n->d_base);
                if (k && w.compact == w.s_index && n->d_log[k - 1].term != w.s_term)
                    sim_fail(s, "disk: node %d's snapshot at %llu has term %llu, its log's "
                                "entry there %llu", n->id, (unsigned long long)w.s_index,
                             (unsigned long long)w.s_term,
                             (unsigned long long)n->d_log[k - 1].term);
                for (size_t i = 0; i < k; i++)
                    free((void *)n->d_log[i].cmd.data);
                memmove(n->d_log, n->d_log + k, (n->d_n - k) * sizeof *n->d_log);
                n->d_n -= k;
                n->d_base = w.compact;
            }
        }
        if (n->d_base + n->d_n < w.s_index)
            sim_fail(s, "disk: node %d's log ends at %llu before its snapshot at %llu", n->id,
                     (unsigned long long)(n->d_base + n->d_n), (unsigned long long)w.s_index);
        w.n = 0;
        w.term = n->d_term;
        w.vote = n->d_vote;
    }
    if (w.truncate && w.keep < n->d_base) {
        sim_fail(s, "disk: node %d truncates after %llu, its snapshot covers %llu", n->id,
                 (unsigned long long)w.keep, (unsigned long long)n->d_base);
        w.keep = n->d_base;
    }
    if (w.truncate && w.keep < n->d_base + n->d_n) {
        for (size_t i = (size_t)(w.keep - n->d_base); i < n->d_n; i++)
            free((void *)n->d_log[i].cmd.data);
        n->d_n = (size_t)(w.keep - n->d_base);
    }
    if (w.n && w.first != n->d_base + n->d_n + 1)
        sim_fail(s, "disk: node %d writes entries from %llu onto a log of %llu..%llu "
                    "(truncate=%d keep=%llu)",
                 n->id, (unsigned long long)w.first, (unsigned long long)n->d_base + 1,
                 (unsigned long long)(n->d_base + n->d_n), w.truncate, (unsigned long long)w.keep);
    if (w.n && w.first <= n->d_base + n->d_n + 1 && w.first > n->d_base) {
        for (size_t i = (size_t)(w.first - 1 - n->d_base); i < n->d_n; i++)
            free((void *)n->d_log[i].cmd.data);
        n->d_n = (size_t)(w.first - 1 - n->d_base);
    }
    for (size_t i = 0; i < w.n; i++) {
        if (w.first > n->d_base + n->d_n + 1 || w.first <= n->d_base) {
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
    cn_buf_init(&o->res);
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

/* ---- invariants ------------------------------------------------------------ */

static int other_holder(sim *s, node *n, uint64_t idx, uint64_t term, uint64_t ch)
{
    for (int i = 1; i <= s->n; i++) {
        node *o = &s->nodes[i];
        if (o != n && o->up && o->sh_n >= idx && o->sh[idx].term == term && o->sh[idx].chain != ch)
            return o->id;
    }
    return 0;
}

/* Brings the shadow of n's log (term and prefix hash per index) up to date
 * from the lowest index this step's persist calls touched, checking log
 * matching for every new (index, term). */
static void shadow_update(sim *s, node *n)
{
    const raft_log *l = raft_get_log(n->r);
    uint64_t len = raft_log_last(l);
    uint64_t lo = s->cfg->volatile_disk ? 1 : n->dirty_lo;   /* no persist hints */
    n->dirty_lo = NEVER;
    uint64_t inst = n->inst;
    if (inst) {
        /* a snapshot at S installed (or restored): entries up to S are the
         * committed prefix's, and those the log holds after its base (which
         * may lie before S: entries not yet written stay) are hashed anew
         * on it, and must reach S's */
        uint64_t S = n->inst;
        n->inst = 0;
        if (S > s->maxc || s->c_term[S] != n->inst_term) {
            sim_fail(s, "node %d installs a snapshot at (%llu, term %llu) off the committed "
                        "prefix (%zu entries)", n->id, (unsigned long long)S,
                     (unsigned long long)n->inst_term, s->maxc);
            return;
        }
        if (l->base > S || len < S || raft_log_term(l, S) != n->inst_term) {
            sim_fail(s, "node %d's log after its snapshot at (%llu, term %llu) is %llu..%llu "
                        "(term %llu at %llu)",
                     n->id, (unsigned long long)S, (unsigned long long)n->inst_term,
                     (unsigned long long)l->base + 1, (unsigned long long)len,
                     (unsigned long long)raft_log_term(l, S), (unsigned long long)S);
            return;
        }
        if (n->sh_n >= S && n->sh[S].term == n->inst_term && n->sh[S].chain != s->c_chain[S])
            sim_fail(s, "log matching: node %d held (index %llu, term %llu) on a prefix other "
                        "than the committed one", n->id, (unsigned long long)S,
                     (unsigned long long)n->inst_term);
        GROW(n->sh, n->sh_cap, S + 2);
        for (uint64_t i = 1; i <= l->base; i++) {
            n->sh[i].term = s->c_term[i];
            n->sh[i].chain = s->c_chain[i];
        }
        n->sh_n = l->base;
        lo = l->base + 1;
    }
    if (lo == NEVER) {
        if (len == n->sh_n)
            return;
        lo = (len < n->sh_n ? len : n->sh_n) + 1;
    }
    if (lo > n->sh_n + 1)
        lo = n->sh_n + 1;
    if (lo <= l->base)
        lo = l->base + 1;           /* compacted: the shadow keeps them */
    if (l->base > n->sh_n) {
        sim_fail(s, "node %d's log starts after %llu, past its shadow (%zu)", n->id,
                 (unsigned long long)l->base, n->sh_n);
        return;
    }
    GROW(n->sh, n->sh_cap, len + 2);
    for (uint64_t i = lo; i <= len; i++) {
        const raft_entry *e = raft_log_get(l, i);
        uint64_t ch = chain(i > 1 ? n->sh[i - 1].chain : 0, e->term, hbytes(e->cmd.data, e->cmd.len));
        n->sh[i].term = e->term;
        n->sh[i].chain = ch;
        /* an emulation follower overwrites by index and keeps whatever lies
         * beyond (the seed's handle_append_entries), so its log need not
         * match anyone's past what it committed: commit_check and the
         * applies cover it */
        if (n->mode == RAFT_MODE_RAFT && !emap_check(s, i, e->term, ch)) {
            int o = other_holder(s, n, i, e->term, ch);
            sim_fail(s, "log matching: node %d holds (index %llu, term %llu) on a different prefix "
                        "than %s%d had it",
                     n->id, (unsigned long long)i, (unsigned long long)e->term,
                     o ? "node " : "a log that once ", o);
        }
    }
    n->sh_n = len;
    if (inst && n->sh[inst].chain != s->c_chain[inst])
        sim_fail(s, "node %d keeps entries up to its snapshot at %llu that are not the committed "
                    "prefix", n->id, (unsigned long long)inst);
}

/* Periodic: the shadow really is the log (no change escaped a persist), and
 * with no write pending, the disk is the memory. */
static void deep_verify(sim *s, node *n)
{
    const raft_log *l = raft_get_log(n->r);
    uint64_t last = raft_log_last(l);
    if (last != n->sh_n) {
        sim_fail(s, "node %d log length %llu changed without a persist (shadow %zu)", n->id,
                 (unsigned long long)last, n->sh_n);
        return;
    }
    if (l->base && n->sh[l->base].term != l->base_term) {
        sim_fail(s, "node %d's log starts after (%llu, term %llu), its shadow has term %llu there",
                 n->id, (unsigned long long)l->base, (unsigned long long)l->base_term,
                 (unsigned long long)n->sh[l->base].term);
        return;
    }
    uint64_t prev = l->base ? n->sh[l->base].chain : 0;
    for (uint64_t i = l->base + 1; i <= last; i++) {
        const raft_entry *e = raft_log_get(l, i);
        prev = chain(prev, e->term, hbytes(e->cmd.data, e->cmd.len));
        if (prev != n->sh[i].chain) {
            sim_fail(s, "node %d log changed at index %llu without a persist", n->id,
                     (unsigned long long)i);
            return;
        }
    }
    if (n->npw || s->cfg->volatile_disk)
        return;
    /* the disk: its snapshot the core's, and its log starts where the
     * core's does (or before, when the core restarted from the snapshot
     * and has not compacted since: it starts after the snapshot) and ends
     * where the core's does, with the same entries */
    if (n->d_base + n->d_n != last || n->d_term != raft_get_term(n->r) ||
        n->d_vote != raft_get_vote(n->r) || n->d_snap_index != raft_get_snapshot_index(n->r) ||
        (n->d_base != l->base && (n->d_base > l->base || l->base != n->d_snap_index))) {
        sim_fail(s, "node %d disk (log %llu..%llu, snapshot %llu, term %llu, vote %d) differs "
                    "from memory (log %llu..%llu, snapshot %llu, term %llu, vote %d) with no "
                    "write pending",
                 n->id, (unsigned long long)n->d_base + 1,
                 (unsigned long long)(n->d_base + n->d_n), (unsigned long long)n->d_snap_index,
                 (unsigned long long)n->d_term, n->d_vote, (unsigned long long)l->base + 1,
                 (unsigned long long)last, (unsigned long long)raft_get_snapshot_index(n->r),
                 (unsigned long long)raft_get_term(n->r), raft_get_vote(n->r));
        return;
    }
    for (uint64_t i = l->base + 1; i <= last; i++) {
        const raft_entry *d = &n->d_log[i - n->d_base - 1], *e = raft_log_get(l, i);
        if (d->term != e->term || !cn_term_eq(&d->cmd, &e->cmd)) {
            sim_fail(s, "node %d disk entry %llu differs from memory", n->id,
                     (unsigned long long)i);
            return;
        }
    }
}

static void commit_check(sim *s, node *n, uint64_t cc)
{
    if (cc <= s->maxc) {
        if (n->sh[cc].chain != s->c_chain[cc])
            sim_fail(s, "committed prefix: node %d commits index %llu (term %llu) but the entry "
                        "committed there has term %llu or a different prefix",
                     n->id, (unsigned long long)cc, (unsigned long long)n->sh[cc].term,
                     (unsigned long long)s->c_term[cc]);
        return;
    }
    if (s->maxc && n->sh[s->maxc].chain != s->c_chain[s->maxc]) {
        sim_fail(s, "committed prefix: node %d commits to %llu on a log that differs from the "
                    "committed prefix at %zu",
                 n->id, (unsigned long long)cc, s->maxc);
        return;
    }
    GROW(s->c_chain, s->capc, cc + 1);
    s->c_term = xrealloc(s->c_term, s->capc * sizeof *s->c_term);
    s->c_tag = xrealloc(s->c_tag, s->capc * sizeof *s->c_tag);
    for (uint64_t i = s->maxc + 1; i <= cc; i++) {
        s->c_chain[i] = n->sh[i].chain;
        s->c_term[i] = n->sh[i].term;
        s->c_tag[i] = raft_get_term(n->r);
    }
    s->maxc = cc;
}

static void check_node(sim *s, node *n)
{
    raft *r = n->r;
    /* a message may wait for the write this event ends with, not a later one */
    for (size_t i = 0; i < n->nhq; i++)
        if (n->hq[i].after > n->persist_seen)
            sim_fail(s, "node %d gates a message on write %llu, never issued (last %llu)", n->id,
                     (unsigned long long)n->hq[i].after, (unsigned long long)n->persist_seen);
    uint64_t term = raft_get_term(r);
    if (term < n->last_term)
        sim_fail(s, "node %d term went back from %llu to %llu", n->id,
                 (unsigned long long)n->last_term, (unsigned long long)term);
    n->last_term = term;
    shadow_update(s, n);
    raft_role role = raft_get_role(r);
    if (role == RAFT_LEADER) {
        GROW(s->leader_of, s->nleader_of, term + 1);
        if (!s->leader_of[term]) {
            s->leader_of[term] = n->id;
            s->elections++;
        } else if (s->leader_of[term] != n->id) {
            sim_fail(s, "election safety: nodes %d and %d are both leader in term %llu",
                     s->leader_of[term], n->id, (unsigned long long)term);
        }
        if (!n->was_leader || n->lead_term != term) {
            /* every entry committed in an earlier term (a leader of an older
             * term may still be unaware of commits in later ones) */
            uint64_t k = s->maxc;
            while (k && s->c_tag[k] >= term)
                k--;
            if (k && (n->sh_n < k || n->sh[k].chain != s->c_chain[k]))
                sim_fail(s, "leader completeness: node %d becomes leader of term %llu without "
                            "the prefix committed before it (%llu entries, its log %zu)",
                         n->id, (unsigned long long)term, (unsigned long long)k, n->sh_n);
            n->was_leader = 1;
            n->lead_term = term;
        }
    } else {
        n->was_leader = 0;
    }
    uint64_t c = raft_get_commit(r);
    if (c < n->last_commit)
        sim_fail(s, "node %d commit index went back from %llu to %llu", n->id,
                 (unsigned long long)n->last_commit, (unsigned long long)c);
    if (n->mode == RAFT_MODE_RAFT) {
        if (c > n->sh_n)
            sim_fail(s, "node %d commit index %llu is past its log (%zu)", n->id,
                     (unsigned long long)c, n->sh_n);
        else if (role == RAFT_LEADER && c > n->last_commit && n->sh[c].term != term)
            sim_fail(s, "leader %d commits index %llu of term %llu in term %llu (5.4.2)", n->id,
                     (unsigned long long)c, (unsigned long long)n->sh[c].term,
                     (unsigned long long)term);
        if (raft_get_applied(r) > c)
            sim_fail(s, "node %d applied %llu past its commit index %llu", n->id,
                     (unsigned long long)raft_get_applied(r), (unsigned long long)c);
    }
    n->last_commit = c;
    if (n->mode == RAFT_MODE_RAFT && raft_snapshots_paused(r))
        s->held_back = 1;
    uint64_t cc = c < n->sh_n ? c : n->sh_n;
    /* with emulation leaders, an emulation follower's commit index is what
     * a commit_notification said, over whatever it holds (the seed) */
    if (cc && !(s->cfg->emu_lead && n->mode == RAFT_MODE_EMULATION))
        commit_check(s, n, cc);
    if (n->snapchk) {
        /* a snapshot written in this step: of the committed prefix */
        uint64_t si = n->snapchk;
        n->snapchk = 0;
        if (si > s->maxc || s->c_term[si] != n->snapchk_term)
            sim_fail(s, "node %d writes a snapshot at (%llu, term %llu) off the committed prefix "
                        "(%zu entries)", n->id, (unsigned long long)si,
                     (unsigned long long)n->snapchk_term, s->maxc);
    }
}

/* Matches each client result with the apply it reports: a raft-mode leader
 * answers right after applying the entry (io.applied, then client_reply),
 * the emulation's leader right before it. */
static void handle_replies(sim *s)
{
    for (size_t i = 0; i < s->nsr; i++) {
        rep *rp = &s->sr[i];
        op *o = &s->ops[rp->op];
        cn_term res = { s->repbuf.data + rp->off, rp->len };
        char got[160], tag[CN_ATOM_BUF], why[64];
        cn_term_format(&res, got, sizeof got);
        cn_buf_reset(&o->res);
        cn_buf_append(&o->res, res.data, res.len);
        int err = cn_term_match(&res, "{~a, ~s}", tag, why, sizeof why) &&
                  (!strcmp(why, "not leader") || !strcmp(why, "replication failed"));
        if (err) {
            if (strcmp(tag, o->kind == 'g' ? "error" : "op_error") != 0)
                sim_fail(s, "client: node %d answers op %zu with %s", rp->node, rp->op, got);
            client_done(s, rp->op, rp->node, !strcmp(why, "not leader"));
            continue;
        }
        appl *a = NULL;
        for (size_t j = 0; j < s->nsa && !a; j++)
            if (s->sa[j].node == rp->node && s->sa[j].seq + 1 == rp->seq)
                a = &s->sa[j];
        for (size_t j = 0; j < s->nsa && !a; j++)
            if (s->sa[j].node == rp->node && s->sa[j].seq == rp->seq + 1 &&
                s->nodes[rp->node].mode == RAFT_MODE_EMULATION)
                a = &s->sa[j];
        if (!a || a->used || a->cmdh != o->cmdh) {
            sim_fail(s, "client: node %d answers op %zu with %s, not right after applying it",
                     rp->node, rp->op, got);
            continue;
        }
        a->used = 1;
        o->idx = a->idx;
        if (a->idx <= s->ref_n) {
            gent *g = &s->g[a->idx];
            cn_term want = { s->refres.data + g->res_off, g->res_len };
            if (!cn_term_eq(&want, &res) && s->nodes[rp->node].mode == RAFT_MODE_EMULATION &&
                s->cfg->emu_lead) {
                /* the seed's leader answers from its own store, which skips
                 * the entries it had not applied when elected */
                s->seed_answers++;
            } else if (!cn_term_eq(&want, &res)) {
                char w[160];
                cn_term_format(&want, w, sizeof w);
                sim_fail(s, "client: node %d answers op %zu (index %llu) with %s, the model "
                            "says %s",
                         rp->node, rp->op, (unsigned long long)a->idx, got, w);
            }
        }
        if (o->kind == 'p' && cn_term_match(&res, "op_ok") && !o->acked) {
            o->acked = 1;
            s->acked++;
        }
        client_done(s, rp->op, rp->node, 0);
    }
}

static void post_step(sim *s)
{
    handle_replies(s);
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        if (n->up && n->touched && s->cfg->boot)
            set_kinds(s, n);
        if (n->up && n->touched)
            check_node(s, n);
        n->touched = 0;
    }
    s->nsa = s->nsr = 0;
    cn_buf_reset(&s->repbuf);
    if (++s->steps % 256 == 0)
        for (int i = 1; i <= s->n; i++)
            if (s->nodes[i].up)
                deep_verify(s, &s->nodes[i]);
}

/* Known limitations, counted rather than failed (see the summary lines):
 *   K_NO_C         no C node is electable: the emulation nodes (which never
 *                  campaign) hold entries no C node has, and are a majority
 *                  of the voters a C node would need;
 *   K_EMU_LEADER   an emulation node leads and the seed's leader cannot
 *                  repair a follower's log, while the C followers keep
 *                  their election timers off for an alive emulation leader;
 *   K_NO_START     no election ever began: the boot's start_election was
 *                  lost (its node crashed before its new term was on disk),
 *                  and beside emulation peers C nodes wait for one, as the
 *                  seed's nodes do (README, raft_kv's known limitations). */
enum { K_NONE, K_NO_C, K_EMU_LEADER, K_NO_START, K_COUNT };

static int never_started(sim *s)
{
    if (!s->cfg->n_emu)
        return 0;
    for (int i = 1; i <= s->n; i++)
        if (s->nodes[i].up && raft_get_term(s->nodes[i].r) != 0)
            return 0;
    return 1;
}

static int log_ok_for(const raft *cand, const raft *voter)
{
    const raft_log *c = raft_get_log(cand), *v = raft_get_log(voter);
    uint64_t cl = raft_log_last(c), vl = raft_log_last(v);
    uint64_t ct = raft_log_term(c, cl), vt = raft_log_term(v, vl);
    return ct > vt || (ct == vt && cl >= vl);
}

static int electable_c_node(sim *s)
{
    for (int c = 1; c <= s->n; c++) {
        if (!s->nodes[c].up || s->nodes[c].kind != RAFT_KIND_CN)
            continue;
        int votes = 0;
        for (int v = 1; v <= s->n; v++)
            votes += s->nodes[v].up && log_ok_for(s->nodes[c].r, s->nodes[v].r);
        if (votes >= s->n / 2 + 1)
            return 1;
    }
    return 0;
}

static int emu_leads(sim *s)
{
    for (int i = 1; i <= s->n; i++)
        if (s->nodes[i].up && s->nodes[i].mode == RAFT_MODE_EMULATION &&
            raft_get_role(s->nodes[i].r) == RAFT_LEADER)
            return 1;
    return 0;
}

/* A liveness failure: a known limitation, or a real failure. */
static void liveness_fail(sim *s, const char *msg, unsigned long long ms)
{
    if (never_started(s)) {
        s->known = K_NO_START;
        s->failed = 1;
    } else if (!electable_c_node(s)) {
        s->known = K_NO_C;
        s->failed = 1;
    } else if (s->cfg->emu_lead && emu_leads(s)) {
        s->known = K_EMU_LEADER;
        s->failed = 1;
    } else {
        sim_fail(s, msg, ms);
    }
}

/* ---- the world's events ---------------------------------------------------- */

static void deliver(sim *s, netmsg *nm)
{
    node *d = &s->nodes[nm->to];
    if (!d->up || (nm->from && s->cut[nm->from][nm->to]) ||
        (nm->kind == NM_REP && d->inc != nm->to_inc)) {
        nm_free(nm);
        return;
    }
    switch (nm->kind) {
    case NM_REQ: {
        raft_token tok = 0;
        if (nm->m.type != RAFT_MSG_COMMIT && nm->m.type != RAFT_MSG_TIMEOUT_NOW)
            tok = route_new(s, (route){ .kind = R_PEER, .node = d->id, .requester = nm->from,
                                        .inc = nm->from_inc, .call = nm->call });
        note(s, SN_REQ, d->id, nm->from, &nm->m, nm->call, 0);
        raft_recv(d->r, s->now, nm->from, &nm->m, tok);
        break;
    }
    case NM_REP:
        note(s, SN_REP, d->id, nm->from, &nm->m, nm->call, 0);
        raft_reply_recv(d->r, s->now, nm->from, &nm->m, nm->call);
        break;
    default: {
        raft_token tok = route_new(s, (route){ .kind = R_CLIENT, .node = d->id, .op = nm->op,
                                               .hops = nm->hops });
        note(s, nm->kind == NM_FWD ? SN_FWD : SN_CLIENT, d->id, nm->from, NULL, 0, nm->op);
        cn_term cmd = cn_buf_term(&s->ops[nm->op].cmd, 0);
        raft_client(d->r, s->now, &cmd, tok);
        break;
    }
    }
    touch(d);
    nm_free(nm);
}

static void heal(sim *s)
{
    memset(s->cut, 0, sizeof s->cut);
    s->part_gen++;
    note(s, SN_HEAL, 0, 0, NULL, 0, 0);
    update_liveness(s);
}

static void make_partition(sim *s)
{
    memset(s->cut, 0, sizeof s->cut);
    int n = s->n, kind = (int)(rnd(s) % 4);
    int side[MAXN + 1];
    switch (kind) {
    case 0: {
        int x = (int)rnd_in(s, 1, (uint64_t)n);
        for (int y = 1; y <= n; y++)
            if (y != x)
                s->cut[x][y] = s->cut[y][x] = 1;
        break;
    }
    case 1:
    case 3: {
        int center = kind == 3 ? (int)rnd_in(s, 1, (uint64_t)n) : 0;
        int cnt[2] = { 0, 0 };
        for (int i = 1; i <= n; i++)
            if (i != center)
                cnt[side[i] = (int)(rnd(s) % 2)]++;
        if (!cnt[0] || !cnt[1]) {
            int f = center == 1 ? 2 : 1;
            side[f] ^= 1;
        }
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++)
                if (a != center && b != center && side[a] != side[b])
                    s->cut[a][b] = 1;
        break;
    }
    default: {
        int k = (int)rnd_in(s, 1, 3);
        for (int i = 0; i < k; i++) {
            int a = (int)rnd_in(s, 1, (uint64_t)n), b = (int)rnd_in(s, 1, (uint64_t)n);
            if (a != b)
                s->cut[a][b] = 1;
        }
        break;
    }
    }
    s->parts++;
    s->part_gen++;
    note(s, SN_CUT, 0, 0, NULL, 0, (uint64_t)kind);
    schedule(s, s->now + rnd_in(s, 100, 4000), EV_HEAL, 0, 0, s->part_gen, NULL);
}

static int any_cut(sim *s)
{
    for (int a = 1; a <= s->n; a++)
        for (int b = 1; b <= s->n; b++)
            if (s->cut[a][b])
                return 1;
    return 0;
}

static void start_election_at(sim *s, node *n)
{
    note(s, SN_START, n->id, 0, NULL, 0, 0);
    raft_start_election(n->r, s->now);
    touch(n);
}

/* Is node i a voter in node l's configuration? */
static int voter_in(sim *s, int l, int i)
{
    raft *r = s->nodes[l].r;
    return i == l ? raft_is_member(r) : raft_peer_is_voter(r, i);
}

/* An operator's add or remove of node x, asked of whichever node leads. */
static void change_members(sim *s, int x)
{
    static const char *const names[MAXN + 1] = { "", "n1", "n2", "n3", "n4", "n5" };
    const char *why;
    for (int i = 1; i <= s->n; i++) {
        node *l = &s->nodes[i];
        if (!l->up || raft_get_role(l->r) != RAFT_LEADER)
            continue;
        raft_token tok = route_new(s, (route){ .kind = R_ADMIN, .node = l->id });
        int remove = voter_in(s, i, x);
        note(s, remove ? SN_REMOVE : SN_ADD, l->id, x, NULL, 0, 0);
        int rc = remove ? raft_remove_member(l->r, s->now, x, tok, &why)
                        : raft_add_member(l->r, s->now, x, names[x], tok, &why);
        if (rc < 0)
            s->changes_failed++;
        touch(l);
        return;
    }
}

static void do_chaos(sim *s)
{
    static const unsigned drops[] = { 0, 10, 50, 200 }, dups[] = { 0, 20, 100 },
                          slows[] = { 0, 20, 100 }, disks[] = { 0, 50, 300 };
    schedule(s, s->now + rnd_in(s, 20, 700), EV_CHAOS, 0, 0, 0, NULL);
    uint64_t k = rnd(s) % 100;
    int x = (int)rnd_in(s, 1, (uint64_t)s->n);
    node *n = &s->nodes[x];
    if (k < 18) {
        if ((s->faults & F_CRASH) && n->up && !s->cfg->volatile_disk) {
            node_crash(s, n);
            schedule(s, s->now + rnd_in(s, 50, 3000), EV_RESTART, x, n->inc, 0, NULL);
        }
    } else if (k < 36) {
        if ((s->faults & F_PART) && !any_cut(s))
            make_partition(s);
    } else if (k < 44) {
        if (any_cut(s))
            heal(s);
    } else if (k < 56) {
        if (s->faults & F_DROP)
            s->drop_pm = drops[rnd(s) % 4];
        note(s, SN_DROPS, 0, 0, NULL, 0, 0);
    } else if (k < 64) {
        if (s->faults & F_DUP)
            s->dup_pm = dups[rnd(s) % 3];
    } else if (k < 72) {
        if (s->faults & F_SLOW)
            s->slow_pm = slows[rnd(s) % 3];
    } else if (k < 78) {
        if (s->faults & F_DISK)
            s->disk_slow_pm = disks[rnd(s) % 3];
    } else if (k < 82) {
        if ((s->faults & F_START) && n->up && (n->kind == RAFT_KIND_CN || s->cfg->emu_lead))
            start_election_at(s, n);
    } else if (k < 88) {
        /* a leadership transfer, asked of whichever C core leads */
        const char *why;
        for (int i = 1; i <= s->n && (s->faults & F_START); i++) {
            node *l = &s->nodes[i];
            if (l->up && l->mode == RAFT_MODE_RAFT && raft_get_role(l->r) == RAFT_LEADER &&
                raft_transfer(l->r, s->now, 0, &why) == 0) {
                note(s, SN_TRANSFER, l->id, 0, NULL, 0, 0);
                touch(l);
                break;
            }
        }
    } else if (k < 96) {
        if ((s->faults & F_MEMBER) && s->cfg->boot)
            change_members(s, x);
    }
    update_liveness(s);
}

static void handle_event(sim *s, ev *e)
{
    switch (e->type) {
    case EV_NET:
        deliver(s, e->nm);
        break;
    case EV_DISK: {
        node *n = &s->nodes[e->node];
        if (n->up && n->inc == e->inc)
            disk_done(s, n, e->a);
        break;
    }
    case EV_CHAOS:
        if (s->chaos)
            do_chaos(s);
        break;
    case EV_RESTART: {
        node *n = &s->nodes[e->node];
        if (!n->up && n->inc == e->inc)
            node_restart(s, n);
        break;
    }
    case EV_HEAL:
        if (e->a == s->part_gen)
            heal(s);
        break;
    case EV_CLIENT:
        if (s->auto_clients && !s->clients[e->node].busy)
            client_next(s, e->node);
        break;
    case EV_CTIMEOUT: {
        client *cl = &s->clients[e->node];
        if (cl->busy && cl->cur == e->a) {
            cl->busy = 0;
            cl->target = 0;
            if (s->auto_clients && e->node < NCLIENTS)
                schedule(s, s->now + rnd_in(s, 1, 60), EV_CLIENT, e->node, 0, 0, NULL);
        }
        break;
    }
    }
}

static uint64_t next_time(sim *s, int *tick_node)
{
    uint64_t t = s->nheap ? s->heap[0].t : NEVER;
    *tick_node = 0;
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        if (!n->up)
            continue;
        uint64_t d = raft_next_deadline(n->r);
        if (d < t) {
            t = d;
            *tick_node = i;
        }
    }
    return t;
}

static void print_step(sim *s)
{
    char line[300];
    format_note(&s->ring[(s->nring - 1) % RING], line, sizeof line);
    fprintf(stderr, "%s\n", line);
}

/* One step: the earliest event or core deadline.  Returns 0 when the run
 * failed or nothing is left to do. */
static int sim_step(sim *s)
{
    int tn;
    uint64_t t = next_time(s, &tn);
    if (t == NEVER)
        return 0;
    uint64_t nr = s->nring;
    if (tn) {
        node *n = &s->nodes[tn];
        if (t > s->now)
            s->now = t;
        if (n->tick_t == s->now) {
            if (++n->tick_same > 1000)
                sim_fail(s, "node %d keeps asking for ticks at t=%llu", n->id,
                         (unsigned long long)s->now);
        } else {
            n->tick_t = s->now;
            n->tick_same = 0;
        }
        note(s, SN_TICK, tn, 0, NULL, 0, 0);
        raft_tick(n->r, s->now);
        touch(n);
    } else {
        ev e = pop_ev(s);
        if (e.t > s->now)
            s->now = e.t;
        handle_event(s, &e);
    }
    if (s->verbose && s->nring != nr)
        print_step(s);
    post_step(s);
    return !s->failed;
}

/* ---- setting up and tearing down ----------------------------------------- */

static void sim_init(sim *s, const sim_cfg *cfg, uint64_t seed, int faults)
{
    static const unsigned batches[] = { 1, 3, 64, 512 }, inflights[] = { 1, 2, 8 };
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->seed = seed;
    s->rng = mix64(seed ^ hbytes(cfg->name, strlen(cfg->name)));
    s->n = cfg->n;
    s->faults = faults;
    s->now = chance(s, 200) ? 0 : rnd_in(s, 1, 1000000000);
    s->max_batch = batches[rnd(s) % 4];
    s->max_inflight = inflights[rnd(s) % 3];
    if (cfg->snap) {                 /* small: many snapshots, many chunks */
        s->snap_entries = rnd_in(s, 5, 40);
        s->snap_trailing = rnd_in(s, 1, 10);
        s->snap_chunk = (size_t)rnd_in(s, 8, 128);   /* stores are ~40..200 bytes */
    }
    s->verbose = getenv("RAFT_SIM_VERBOSE") != NULL;
    s->ref = raft_kv_new();
    cn_buf_init(&s->refres);
    cn_buf_init(&s->gcmd);
    cn_buf_init(&s->repbuf);
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        n->s = s;
        n->id = i;
        int emu = i > cfg->n - cfg->n_emu;
        n->mode = emu ? RAFT_MODE_EMULATION : RAFT_MODE_RAFT;
        n->kind = emu ? RAFT_KIND_EMU : RAFT_KIND_CN;
        n->dirty_lo = NEVER;
    }
}

/* A cluster with emulation cores then gets start_election at node 1 (a C
 * core in raft mode), as the seed's main sends it: C cores beside emulation
 * peers wait for it before any election.  (The designated-leader replays
 * send their own: emu_run.) */
static void sim_boot_all(sim *s)
{
    for (int i = 1; i <= s->n; i++)
        node_boot(s, &s->nodes[i]);
    if (s->cfg->n_emu && s->nodes[1].mode == RAFT_MODE_RAFT)
        start_election_at(s, &s->nodes[1]);
    post_step(s);
}

static void sim_free(sim *s)
{
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        if (n->up)
            node_crash(s, n);
        for (size_t j = 0; j < n->d_n; j++)
            free((void *)n->d_log[j].cmd.data);
        free(n->d_log);
        free(n->d_snap);
        free(n->pw);
        free(n->hq);
        free(n->sh);
        free(n->granted);
        for (size_t j = 0; j < n->nlines; j++)
            free(n->lines[j]);
        free(n->lines);
        model_free(&n->mirror);
    }
    while (s->nheap) {
        ev e = pop_ev(s);
        nm_free(e.nm);
    }
    free(s->heap);
    free(s->routes);
    for (size_t i = 0; i < s->nops; i++)
        cn_buf_free(&s->ops[i].cmd), cn_buf_free(&s->ops[i].res);
    free(s->ops);
    free(s->em);
    free(s->leader_of);
    free(s->c_chain);
    free(s->c_term);
    free(s->c_tag);
    free(s->g);
    raft_kv_free(s->ref);
    model_free(&s->model);
    model_free(&s->mat);
    cn_buf_free(&s->gcmd);
    cn_buf_free(&s->refres);
    free(s->sa);
    free(s->sr);
    cn_buf_free(&s->repbuf);
}

/* Runs until cond(s) holds, the run fails, or simulated time passes until. */
static int run_until(sim *s, int (*cond)(sim *), uint64_t until)
{
    while (!s->failed && !(cond && cond(s))) {
        int tn;
        uint64_t t = next_time(s, &tn);
        if (t == NEVER || t > until)
            break;
        sim_step(s);
    }
    if (!s->failed && s->now < until && !(cond && cond(s)))
        s->now = until;             /* nothing happened in between */
    return cond ? cond(s) : 1;
}

/* ---- liveness ------------------------------------------------------------- */

/* A leader every running C node follows, with nobody in a later term. */
static int stable_leader(sim *s)
{
    for (int l = 1; l <= s->n; l++) {
        node *L = &s->nodes[l];
        if (!L->up || raft_get_role(L->r) != RAFT_LEADER)
            continue;
        uint64_t t = raft_get_term(L->r);
        int ok = 1;
        for (int i = 1; i <= s->n && ok; i++) {
            node *n = &s->nodes[i];
            if (i == l || !n->up || (s->cfg->boot && !voter_in(s, l, i)))
                continue;
            if (raft_get_term(n->r) > t)
                ok = 0;
            else if (n->kind == RAFT_KIND_CN &&
                     (raft_get_term(n->r) != t || raft_get_leader(n->r) != l))
                ok = 0;
        }
        if (ok)
            return l;
    }
    return 0;
}

/* A C leader that has committed an entry of its own term. */
static int established(sim *s)
{
    int l = stable_leader(s);
    if (!l)
        return 0;
    raft *r = s->nodes[l].r;
    uint64_t c = raft_get_commit(r);
    return s->nodes[l].mode == RAFT_MODE_EMULATION ||
           (c && raft_log_term(raft_get_log(r), c) == raft_get_term(r));
}

static size_t probe_op;
static int probe_acked(sim *s) { return s->ops[probe_op].acked; }

/* Submits puts through the probe client until one is acknowledged. */
static int probe(sim *s, uint64_t until, const char *key, int (*leader)(sim *))
{
    size_t first = s->nops;
    probe_op = 0;
    while (!s->failed && s->now < until) {
        client *cl = &s->clients[PROBE];
        if (!cl->busy) {
            int l = leader(s);
            char k[32];             /* a fresh key: an earlier try may have applied */
            snprintf(k, sizeof k, "%s%zu", key, s->nops);
            probe_op = op_new(s, PROBE, 'p', k, NULL);
            cl->busy = 1;
            cl->cur = probe_op;
            client_send(s, probe_op, l ? l : (int)rnd_in(s, 1, (uint64_t)s->n));
            schedule(s, s->now + 1500, EV_CTIMEOUT, PROBE, 0, probe_op, NULL);
        }
        if (run_until(s, probe_acked, s->now + 100))
            return 1;
        for (size_t i = first; i < s->nops; i++)
            if (s->ops[i].client == PROBE && s->ops[i].acked) {
                probe_op = i;
                return 1;
            }
    }
    return 0;
}

/* Node i is one the liveness checks wait for: with membership changes,
 * only the members of the leader's configuration are kept up to date. */
static int kept(sim *s, int i)
{
    if (!s->nodes[i].up)
        return 0;
    if (!s->cfg->boot)
        return 1;
    int l = stable_leader(s);
    return !l || i == l || voter_in(s, l, i);
}

static uint64_t conv_idx;
static int converged(sim *s)
{
    for (int i = 1; i <= s->n; i++)
        if (kept(s, i) && raft_get_applied(s->nodes[i].r) < conv_idx)
            return 0;
    return 1;
}

/* Every op_ok for a put is at its index in the leader's log. */
static void check_acked(sim *s, int l)
{
    const raft_log *log = raft_get_log(s->nodes[l].r);
    for (size_t i = 0; i < s->nops && !s->failed; i++) {
        op *o = &s->ops[i];
        if (!o->acked)
            continue;
        const raft_entry *e = raft_log_get(log, o->idx);
        if (o->idx <= log->base && o->idx < s->capg && s->g[o->idx].set &&
            s->g[o->idx].cmdh == o->cmdh)
            continue;               /* in the leader's snapshot, applied there */
        if (!e || hbytes(e->cmd.data, e->cmd.len) != o->cmdh)
            sim_fail(s, "acknowledged write lost: put %s=%s (op %zu) was op_ok at index %llu, "
                        "leader %d has %s there",
                     o->key, o->val, i, (unsigned long long)o->idx, l, e ? "another entry" : "nothing");
    }
}

/* Every running node has applied every entry applied anywhere. */
static int all_applied(sim *s)
{
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        if (kept(s, i) && !seed_store(s, n) && raft_get_applied(n->r) != s->ref_n)
            return 0;
    }
    return 1;
}

/* With the clients stopped, every node comes to apply every entry and then
 * holds the model's store. */
static void final_stores(sim *s)
{
    char why[200];
    s->auto_clients = 0;
    if (!run_until(s, all_applied, s->now + 10000)) {
        liveness_fail(s, "liveness: with the clients stopped, nodes have not applied every "
                         "entry %llu ms later", 10000);
        return;
    }
    for (int i = 1; i <= s->n && !s->failed; i++) {
        node *n = &s->nodes[i];
        if (kept(s, i) && !seed_store(s, n) &&
            !model_same(&s->model, raft_get_kv(n->r), why, sizeof why))
            sim_fail(s, "node %d's store at the end (index %llu) differs from the model: %s",
                     n->id, (unsigned long long)s->ref_n, why);
    }
}

/* Heals everything and requires a leader, a committed command and every
 * node caught up, each within a bound. */
static void liveness_phase(sim *s, uint64_t *elect_ms)
{
    s->chaos = 0;
    s->drop_pm = s->dup_pm = s->slow_pm = s->disk_slow_pm = 0;
    heal(s);
    for (int i = 1; i <= s->n; i++)
        node_restart(s, &s->nodes[i]);
    post_step(s);
    uint64_t t0 = s->now;
    if (!run_until(s, established, t0 + 10000)) {
        liveness_fail(s, "liveness: no leader established %llu ms after the faults stopped",
                      (unsigned long long)(s->now - t0));
        return;
    }
    *elect_ms = s->now - t0;
    uint64_t t1 = s->now;
    if (!probe(s, t1 + 10000, "probe", stable_leader)) {
        liveness_fail(s, "liveness: no command committed %llu ms after a leader was established",
                      (unsigned long long)(s->now - t1));
        return;
    }
    conv_idx = s->ops[probe_op].idx;
    if (!run_until(s, converged, s->now + 10000)) {
        liveness_fail(s, "liveness: nodes have not applied index %llu 10 s after it committed",
                      (unsigned long long)conv_idx);
        return;
    }
    int l = stable_leader(s);
    if (l)
        check_acked(s, l);
    for (int i = 1; i <= s->n && !s->failed; i++)
        deep_verify(s, &s->nodes[i]);
    if (!s->failed)
        final_stores(s);
}

/* ---- one random schedule ---------------------------------------------------- */

typedef struct run_stats {
    uint64_t known[K_COUNT], seed_answers, seed_applies;
    uint64_t runs, steps, elections, commits, acked, crashes, parts, msgs;
    uint64_t slowest_ms, slowest_seed, sum_elect_ms, failures;
    uint64_t changes_ok, changes_failed, final_members[MAXN + 1];
    uint64_t held_back, snaps, installs, drops, snap_restarts, chunks;
} run_stats;

static void print_failure(sim *s, const char *what)
{
    fprintf(stderr, "FAIL %s seed %llu (faults 0x%x, batch %u, inflight %u) at step %llu, t=%llu: %s\n",
            what, (unsigned long long)s->seed, s->faults, s->max_batch, s->max_inflight,
            (unsigned long long)s->fail_step, (unsigned long long)s->now, s->fail);
    uint64_t from = s->nring > RING ? s->nring - RING : 0;
    fprintf(stderr, "  last %llu steps:\n", (unsigned long long)(s->nring - from));
    for (uint64_t i = from; i < s->nring; i++) {
        char line[300];
        format_note(&s->ring[i % RING], line, sizeof line);
        fprintf(stderr, "    %s\n", line);
    }
    uint64_t tf = s->ntring > TRING ? s->ntring - TRING : 0;
    fprintf(stderr, "  last trace lines:\n");
    for (uint64_t i = tf; i < s->ntring; i++)
        fprintf(stderr, "    %s\n", s->tring[i % TRING]);
    for (int i = 1; i <= s->n; i++) {
        node *n = &s->nodes[i];
        if (!n->up) {
            fprintf(stderr, "  node %d down (disk: term %llu, entries %llu..%llu, snapshot %llu)\n",
                    i, (unsigned long long)n->d_term, (unsigned long long)n->d_base + 1,
                    (unsigned long long)(n->d_base + n->d_n), (unsigned long long)n->d_snap_index);
            continue;
        }
        fprintf(stderr, "  node %d %s term %llu vote %d leader %d log %llu..%llu snapshot %llu "
                "commit %llu applied %llu\n",
                i, raft_role_name(raft_get_role(n->r)), (unsigned long long)raft_get_term(n->r),
                raft_get_vote(n->r), raft_get_leader(n->r),
                (unsigned long long)raft_get_log(n->r)->base + 1,
                (unsigned long long)raft_log_last(raft_get_log(n->r)),
                (unsigned long long)raft_get_snapshot_index(n->r),
                (unsigned long long)raft_get_commit(n->r),
                (unsigned long long)raft_get_applied(n->r));
    }
}

static int run_schedule(const sim_cfg *cfg, uint64_t seed, uint64_t steps, int faults,
                        int verbose, run_stats *st, int report)
{
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, cfg, seed, faults);
    s->verbose |= verbose;
    s->chaos = 1;
    s->auto_clients = 1;
    sim_boot_all(s);
    schedule(s, s->now + rnd_in(s, 0, 300), EV_CHAOS, 0, 0, 0, NULL);
    for (int c = 0; c < NCLIENTS; c++)
        schedule(s, s->now + rnd_in(s, 0, 100), EV_CLIENT, c, 0, 0, NULL);
    if (!cfg->n_emu && (faults & F_START) && rnd(s) % 2)
        start_election_at(s, &s->nodes[1]);     /* as the glue's start_election would */
    while (s->steps < steps && sim_step(s))
        ;
    uint64_t elect_ms = 0;
    if (!s->failed)
        liveness_phase(s, &elect_ms);
    int ok = !s->failed || s->known;
    if (st) {
        st->known[s->known]++;
        st->seed_answers += s->seed_answers;
        st->seed_applies += s->seed_applies;
        st->runs++;
        st->steps += s->steps;
        st->elections += s->elections;
        st->commits += s->maxc;
        st->acked += s->acked;
        st->crashes += s->crashes;
        st->parts += s->parts;
        st->msgs += s->msgs;
        st->sum_elect_ms += elect_ms;
        st->changes_ok += s->changes_ok;
        st->changes_failed += s->changes_failed;
        st->held_back += s->held_back;
        st->snaps += s->snaps;
        st->installs += s->installs;
        st->drops += s->drops;
        st->snap_restarts += s->snap_restarts;
        st->chunks += s->chunks;
        int l = stable_leader(s), m = 0;
        for (int i = 1; l && i <= s->n; i++)
            m += voter_in(s, l, i);
        st->final_members[m]++;
        if (!s->known && elect_ms > st->slowest_ms) {
            st->slowest_ms = elect_ms;
            st->slowest_seed = seed;
        }
        st->failures += !ok;
    }
    if (!ok && report)
        print_failure(s, cfg->name);
    else if (!ok && st)
        fprintf(stderr, "FAIL %s seed %llu at step %llu: %s\n", cfg->name,
                (unsigned long long)seed, (unsigned long long)s->fail_step, s->fail);
    sim_free(s);
    free(s);
    return ok;
}

/* Drops fault classes one at a time while the seed still fails. */
static void minimize(const sim_cfg *cfg, uint64_t seed, uint64_t steps)
{
    static const struct { int bit; const char *name; } classes[] = {
        { F_START, "start_election and transfers" }, { F_DUP, "duplicates" }, { F_SLOW, "slow messages" },
        { F_DISK, "slow disk" }, { F_DROP, "drops" }, { F_PART, "partitions" }, { F_CRASH, "crashes" },
        { F_MEMBER, "membership changes" },
    };
    int faults = F_ALL;
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++) {
        int f = faults & ~classes[i].bit;
        if (!run_schedule(cfg, seed, steps, f, 0, NULL, 0))
            faults = f;
    }
    uint64_t lo = 1, hi = steps;   /* the fewest fault steps that still fail */
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (!run_schedule(cfg, seed, mid, faults, 0, NULL, 0))
            hi = mid;
        else
            lo = mid + 1;
    }
    fprintf(stderr, "  minimal: %s seed %llu with faults 0x%x:", cfg->name,
            (unsigned long long)seed, faults);
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
        if (faults & classes[i].bit)
            fprintf(stderr, " %s", classes[i].name);
    fprintf(stderr, "; %llu fault steps; replay: RAFT_SIM_REPLAY=%s:%llu:%llu:%d\n",
            (unsigned long long)lo, cfg->name, (unsigned long long)seed, (unsigned long long)lo,
            faults);
    run_schedule(cfg, seed, lo, faults, 0, NULL, 1);
}

/* ---- scenarios ---------------------------------------------------------------- */

static int in_minority[MAXN + 1];

/* A leader on the majority side that every majority C node follows. */
static int majority_leader(sim *s)
{
    for (int l = 1; l <= s->n; l++) {
        node *L = &s->nodes[l];
        if (in_minority[l] || !L->up || raft_get_role(L->r) != RAFT_LEADER)
            continue;
        int ok = 1;
        for (int i = 1; i <= s->n && ok; i++)
            if (i != l && !in_minority[i] && s->nodes[i].kind == RAFT_KIND_CN &&
                (raft_get_term(s->nodes[i].r) != raft_get_term(L->r) ||
                 raft_get_leader(s->nodes[i].r) != l))
                ok = 0;
        if (ok)
            return l;
    }
    return 0;
}

static int verbose_off;              /* a control run, expected to fail: quiet */

static int scenario_fail(sim *s, const char *what)
{
    if (s->failed && !verbose_off)
        print_failure(s, what);
    int ok = !s->failed;
    sim_free(s);
    free(s);
    return ok;
}

static int pick_cn(sim *s, int not1, int not2)
{
    int c[MAXN], k = 0;
    for (int i = 1; i <= s->n; i++)
        if (i != not1 && i != not2 && s->nodes[i].kind == RAFT_KIND_CN)
            c[k++] = i;
    return k ? c[rnd(s) % (uint64_t)k] : 0;
}

/* The leader and (in a 5-node cluster) one follower are cut off: the
 * minority steps down and commits nothing it did not have before; the
 * majority elects a leader and commits; after healing the minority's
 * uncommitted entries are gone everywhere. */
static int scenario_minority(const sim_cfg *cfg, uint64_t seed, uint64_t *stepdown_ms)
{
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, cfg, seed, 0);
    sim_boot_all(s);
    if (!run_until(s, established, s->now + 10000))
        sim_fail(s, "minority: no leader at the start");
    run_until(s, NULL, s->now + 300);
    int L = stable_leader(s);
    if (!L && !s->failed)
        sim_fail(s, "minority: leader lost without faults");
    if (s->failed)
        return scenario_fail(s, "minority");
    memset(in_minority, 0, sizeof in_minority);
    in_minority[L] = 1;
    if (s->n >= 5)
        in_minority[pick_cn(s, L, 0) ? pick_cn(s, L, 0) : (L % s->n) + 1] = 1;
    for (int a = 1; a <= s->n; a++)
        for (int b = 1; b <= s->n; b++)
            if (in_minority[a] != in_minority[b])
                s->cut[a][b] = 1;
    s->part_gen++;
    note(s, SN_CUT, 0, 0, NULL, 0, 1);
    update_liveness(s);
    post_step(s);
    uint64_t n0 = raft_log_last(raft_get_log(s->nodes[L].r)), tcut = s->now;
    size_t mops[3];
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "m%d", i);
        mops[i] = op_new(s, i, 'p', key, NULL);
        s->clients[i].busy = 1;
        s->clients[i].cur = mops[i];
        client_send(s, mops[i], L);
    }
    uint64_t down_at = 0;
    while (!s->failed && s->now < tcut + 3000) {
        run_until(s, NULL, s->now + 5);
        if (!down_at && raft_get_role(s->nodes[L].r) != RAFT_LEADER)
            down_at = s->now;
        for (int i = 1; i <= s->n; i++)
            if (in_minority[i] && raft_get_commit(s->nodes[i].r) > n0)
                sim_fail(s, "minority: node %d commits index %llu, past the %llu entries the "
                            "leader had when cut off",
                         i, (unsigned long long)raft_get_commit(s->nodes[i].r),
                         (unsigned long long)n0);
    }
    if (!down_at)
        sim_fail(s, "minority: leader %d still leads 3 s after losing its majority", L);
    else if (down_at - tcut > 1500)
        sim_fail(s, "minority: leader %d stepped down only after %llu ms", L,
                 (unsigned long long)(down_at - tcut));
    else if (down_at - tcut > *stepdown_ms)
        *stepdown_ms = down_at - tcut;
    for (int i = 0; i < 3; i++)
        if (s->ops[mops[i]].acked)
            sim_fail(s, "minority: op %zu acknowledged by the minority", mops[i]);
    if (s->failed)
        return scenario_fail(s, "minority");
    if (!run_until(s, majority_leader, s->now + 10000))
        sim_fail(s, "minority: the majority elects no leader");
    else if (!probe(s, s->now + 10000, "maj", majority_leader))
        sim_fail(s, "minority: the majority commits nothing");
    if (s->failed)
        return scenario_fail(s, "minority");
    heal(s);
    post_step(s);
    conv_idx = s->ops[probe_op].idx;
    if (!run_until(s, converged, s->now + 10000))
        sim_fail(s, "minority: nodes do not catch up after healing");
    run_until(s, NULL, s->now + 500);
    for (uint64_t i = 1; i <= s->ref_n && !s->failed; i++)
        for (int k = 0; k < 3; k++)
            if (s->g[i].cmdh == s->ops[mops[k]].cmdh)
                sim_fail(s, "minority: op %zu, sent only to the cut-off leader, was applied at %llu",
                         mops[k], (unsigned long long)i);
    for (int i = 1; i <= s->n && !s->failed; i++) {
        const raft_log *l = raft_get_log(s->nodes[i].r);
        for (size_t j = 0; j < l->n; j++)
            for (int k = 0; k < 3; k++)
                if (hbytes(l->v[j].cmd.data, l->v[j].cmd.len) == s->ops[mops[k]].cmdh &&
                    s->nodes[i].kind == RAFT_KIND_CN)
                    sim_fail(s, "minority: node %d still holds op %zu after healing", i, mops[k]);
    }
    return scenario_fail(s, "minority");
}

/* A follower cut off from everyone for 5 s returns: with pre-vote its term
 * has not moved, and the leader and the term of the majority stay. */
static int scenario_rejoin(const sim_cfg *cfg, uint64_t seed)
{
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, cfg, seed, 0);
    s->auto_clients = 1;
    sim_boot_all(s);
    for (int c = 0; c < NCLIENTS; c++)
        schedule(s, s->now + rnd_in(s, 0, 100), EV_CLIENT, c, 0, 0, NULL);
    if (!run_until(s, established, s->now + 10000))
        sim_fail(s, "rejoin: no leader at the start");
    run_until(s, NULL, s->now + 300);
    int L = stable_leader(s);
    if (!L && !s->failed)
        sim_fail(s, "rejoin: leader lost without faults");
    if (s->failed)
        return scenario_fail(s, "rejoin");
    uint64_t term0 = raft_get_term(s->nodes[L].r);
    int X = pick_cn(s, L, 0);
    for (int y = 1; y <= s->n; y++)
        if (y != X)
            s->cut[X][y] = s->cut[y][X] = 1;
    s->part_gen++;
    note(s, SN_CUT, X, 0, NULL, 0, 0);
    update_liveness(s);
    post_step(s);
    run_until(s, NULL, s->now + 5000);
    if (!s->failed && raft_get_term(s->nodes[X].r) != term0)
        sim_fail(s, "rejoin: isolated node %d moved from term %llu to %llu", X,
                 (unsigned long long)term0, (unsigned long long)raft_get_term(s->nodes[X].r));
    if (!s->failed && (raft_get_role(s->nodes[L].r) != RAFT_LEADER ||
                       raft_get_term(s->nodes[L].r) != term0))
        sim_fail(s, "rejoin: leader %d lost its place while node %d was away", L, X);
    uint64_t cl = raft_get_commit(s->nodes[L].r);
    heal(s);
    post_step(s);
    run_until(s, NULL, s->now + 3000);
    conv_idx = cl;
    run_until(s, converged, s->now + 10000);
    for (int i = 1; i <= s->n && !s->failed; i++)
        if (raft_get_term(s->nodes[i].r) != term0)
            sim_fail(s, "rejoin: node %d is in term %llu after node %d returned (was %llu)", i,
                     (unsigned long long)raft_get_term(s->nodes[i].r), X,
                     (unsigned long long)term0);
    if (!s->failed && raft_get_role(s->nodes[L].r) != RAFT_LEADER)
        sim_fail(s, "rejoin: leader %d deposed when node %d returned", L, X);
    if (!s->failed && raft_get_applied(s->nodes[X].r) < cl)
        sim_fail(s, "rejoin: node %d has not caught up (applied %llu of %llu)", X,
                 (unsigned long long)raft_get_applied(s->nodes[X].r), (unsigned long long)cl);
    return scenario_fail(s, "rejoin");
}

/* Submits a put at node `at` and runs until it is acknowledged. */
static size_t put_at(sim *s, int at, const char *key, uint64_t within)
{
    size_t id = op_new(s, 0, 'p', key, NULL);
    s->clients[0].busy = 1;
    s->clients[0].cur = id;
    client_send(s, id, at);
    probe_op = id;
    run_until(s, probe_acked, s->now + within);
    return id;
}

static int sc_leader_of(sim *s, int a, int b)
{
    for (int i = 1; i <= s->n; i++)
        if ((i == a || i == b) && s->nodes[i].up && raft_get_role(s->nodes[i].r) == RAFT_LEADER)
            return i;
    return 0;
}
static int sc_a, sc_b;
static int sc_b_or_c_leads(sim *s) { return sc_leader_of(s, sc_a, sc_b) != 0; }

static void cut_node(sim *s, int x, int y, int on)
{
    s->cut[x][y] = s->cut[y][x] = on;
}

static void wipe_disk(node *n)
{
    for (size_t j = 0; j < n->d_n; j++)
        free((void *)n->d_log[j].cmd.data);
    free(n->d_log);
    free(n->d_snap);
    n->d_log = NULL;
    n->d_snap = NULL;
    n->d_n = n->d_cap = n->d_snap_len = 0;
    n->d_base = n->d_snap_index = n->d_snap_term = n->d_term = 0;
    n->d_vote = 0;
}

static int sc_x_leads(sim *s) { return sc_leader_of(s, sc_a, sc_b) != 0; }

/* A follower X that acknowledged a committed write loses its disk and
 * restarts empty; the leader L that has the write goes down and Y, cut off
 * while it was written, comes back.  Restarted as rejoining, X votes for
 * nobody until it has caught up: no leader until L returns, then the write
 * is everywhere and X votes again.  Restarted as a new node (the control,
 * rejoining 0), X's vote elects Y and the acknowledged write is lost, which
 * the checkers report: the scenario then fails, as it must.  *lead: Y or X
 * led while L was down. */
static int scenario_disk_loss(const sim_cfg *cfg, uint64_t seed, int rejoining, int *lead)
{
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, cfg, seed, 0);
    sim_boot_all(s);
    if (!run_until(s, established, s->now + 10000))
        sim_fail(s, "disk loss: no leader at the start");
    int L = stable_leader(s), X = pick_cn(s, L, 0), Y = pick_cn(s, L, X);
    if (s->failed || !L || !X || !Y)
        return scenario_fail(s, "disk loss");
    for (int i = 1; i <= s->n; i++)
        if (i != Y)
            cut_node(s, Y, i, 1);
    s->part_gen++;
    update_liveness(s);
    size_t w = put_at(s, L, "lost", 3000);
    if (!s->ops[w].acked)
        sim_fail(s, "disk loss: the write was not acknowledged with L and X");
    node_crash(s, &s->nodes[X]);
    wipe_disk(&s->nodes[X]);
    s->nodes[X].rejoining = rejoining;
    node_restart(s, &s->nodes[X]);
    run_until(s, NULL, s->now + 50);
    node_crash(s, &s->nodes[L]);
    heal(s);
    sc_a = X, sc_b = Y;
    *lead = run_until(s, sc_x_leads, s->now + 3000);
    node_restart(s, &s->nodes[L]);
    if (!s->failed && !run_until(s, established, s->now + 10000))
        sim_fail(s, "disk loss: no leader after L returned");
    if (!s->failed)
        probe(s, s->now + 10000, "after", established);
    if (!s->failed) {
        conv_idx = s->ops[probe_op].idx;
        if (!run_until(s, converged, s->now + 10000))
            sim_fail(s, "disk loss: the nodes do not converge");
    }
    if (!s->failed && stable_leader(s))
        check_acked(s, stable_leader(s));
    if (!s->failed && raft_get_rejoining(s->nodes[X].r))
        sim_fail(s, "disk loss: node %d still rejoining after catching up", X);
    return scenario_fail(s, "disk loss");
}

/* The seed's follower writes entries over its log by index and keeps what
 * lies beyond, so an emulation peer can hold a stale tail (entries of an
 * older term past what the leader sent) or, after later appends, a prefix
 * that is not the leader's.  Mixed cluster 1-3 C, 4-5 emulation:
 *   A leads; cut off with emulation peer E, A sends E three entries (term t1);
 *   A crashes; B leads (term t2, votes of C and F), F is cut before B's no-op
 *   reaches it, and B's no-op reaches C and E: E now holds [.., noop t2,
 *   t1, t1];
 *   B crashes, C is cut off; A restarts and sees only E and F: E grants (A's
 *   last entry equals E's stale one), F grants (behind) -> A leads t3;
 *   then everything heals and clients write through A.
 * If the leader counted E's acknowledgement of B's no-op, that no-op was
 * committed and A's election loses it (leader completeness); if A trusts
 * its prev-index check at E, E keeps B's no-op under A's entries and applies
 * it (state machine safety). */
static int scenario_emu_overwrite(uint64_t seed)
{
    static const sim_cfg cfg = { "mixed-5", 5, 2, 0, 0, 0, 0 };
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, &cfg, seed, 0);
    sim_boot_all(s);
    if (!run_until(s, established, s->now + 10000))
        sim_fail(s, "overwrite: no leader at the start");
    int A = stable_leader(s);
    if (s->failed || !A || s->nodes[A].kind != RAFT_KIND_CN)
        return scenario_fail(s, "overwrite");
    int B = pick_cn(s, A, 0), C = pick_cn(s, A, B), F = 5;   /* E is node 4 */
    for (int i = 0; i < 3; i++)
        put_at(s, A, "k", 3000);
    conv_idx = raft_get_commit(s->nodes[A].r);
    run_until(s, converged, s->now + 5000);
    /* A and E alone */
    cut_node(s, A, B, 1), cut_node(s, A, C, 1), cut_node(s, A, F, 1);
    update_liveness(s);
    post_step(s);
    for (int i = 0; i < 3; i++) {
        size_t id = op_new(s, i, 'p', "t1", NULL);
        s->clients[i].busy = 1;
        s->clients[i].cur = id;
        client_send(s, id, A);
    }
    run_until(s, NULL, s->now + 300);
    node_crash(s, &s->nodes[A]);
    memset(s->cut, 0, sizeof s->cut);
    update_liveness(s);
    post_step(s);
    /* B or C leads; F is cut off before its no-op arrives */
    sc_a = B, sc_b = C;
    if (!run_until(s, sc_b_or_c_leads, s->now + 10000)) {
        sim_fail(s, "overwrite: no leader after A's crash");
        return scenario_fail(s, "overwrite");
    }
    B = sc_leader_of(s, B, C);
    C = B == sc_a ? sc_b : sc_a;
    for (int y = 1; y <= s->n; y++)
        if (y != F)
            cut_node(s, F, y, 1);
    update_liveness(s);
    post_step(s);
    run_until(s, NULL, s->now + 500);
    /* B crashes, C is cut off; A returns to E and F */
    node_crash(s, &s->nodes[B]);
    memset(s->cut, 0, sizeof s->cut);
    for (int y = 1; y <= s->n; y++)
        if (y != C)
            cut_node(s, C, y, 1);
    update_liveness(s);
    node_restart(s, &s->nodes[A]);
    post_step(s);
    run_until(s, NULL, s->now + 3000);
    /* everything heals; clients write through whoever leads */
    memset(s->cut, 0, sizeof s->cut);
    node_restart(s, &s->nodes[B]);
    update_liveness(s);
    post_step(s);
    if (!run_until(s, established, s->now + 10000))
        sim_fail(s, "overwrite: no leader after healing");
    for (int i = 0; i < 5 && !s->failed; i++) {
        int l = stable_leader(s);
        put_at(s, l ? l : A, "after", 3000);
    }
    conv_idx = raft_get_commit(s->nodes[stable_leader(s) ? stable_leader(s) : A].r);
    if (!s->failed && !run_until(s, converged, s->now + 10000))
        sim_fail(s, "overwrite: nodes do not catch up");
    return scenario_fail(s, "overwrite");
}

/* ---- emulation mode -------------------------------------------------------------- */

/* The seed's sample run (5 nodes, 3 clients): every [node N] line and the
 * clients' result lines, as printed. */
static const char *const seed5_lines[] = {
    "[node 1] Starting",
    "[node 2] Starting",
    "[node 3] Starting",
    "[node 4] Starting",
    "[node 5] Starting",
    "[node 1] Peers configured (4 peers)",
    "[node 2] Peers configured (4 peers)",
    "[node 3] Peers configured (4 peers)",
    "[node 4] Peers configured (4 peers)",
    "[node 5] Peers configured (4 peers)",
    "[node 1] Starting election for term 1",
    "[node 2] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 2",
    "[node 3] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 3",
    "[node 4] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 4",
    "[node 5] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 5",
    "[node 1] Election result: 5 votes (need 3)",
    "[node 1] Became LEADER for term 1",
    "[node 1] Appending entry at index 1 (term 1)",
    "[node 2] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 2 (match=1)",
    "[node 3] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 3 (match=1)",
    "[node 4] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 4 (match=1)",
    "[node 5] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 5 (match=1)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"a\" -> NOT FOUND",
    "[node 1] Appending entry at index 2 (term 1)",
    "[client] DELETE \"a\" -> key not found: a",
    "[node 2] CommitNotification: commit_index updated to 1",
    "[node 3] CommitNotification: commit_index updated to 1",
    "[node 4] CommitNotification: commit_index updated to 1",
    "[node 5] CommitNotification: commit_index updated to 1",
    "[node 2] slot 1: DELETE \"a\" -> NOT FOUND",
    "[node 3] slot 1: DELETE \"a\" -> NOT FOUND",
    "[node 4] slot 1: DELETE \"a\" -> NOT FOUND",
    "[node 5] slot 1: DELETE \"a\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 2 (match=2)",
    "[node 3] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 3 (match=2)",
    "[node 4] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 4 (match=2)",
    "[node 5] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 5 (match=2)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] PUT \"b\" = \"val_84\" -> OK",
    "[node 1] Appending entry at index 3 (term 1)",
    "[client] PUT \"b\" = \"val_84\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 2",
    "[node 3] CommitNotification: commit_index updated to 2",
    "[node 4] CommitNotification: commit_index updated to 2",
    "[node 5] CommitNotification: commit_index updated to 2",
    "[node 2] slot 2: PUT \"b\" = \"val_84\" -> OK",
    "[node 3] slot 2: PUT \"b\" = \"val_84\" -> OK",
    "[node 4] slot 2: PUT \"b\" = \"val_84\" -> OK",
    "[node 5] slot 2: PUT \"b\" = \"val_84\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 2 (match=3)",
    "[node 3] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 3 (match=3)",
    "[node 4] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 4 (match=3)",
    "[node 5] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 5 (match=3)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"e\" -> NOT FOUND",
    "[node 1] Appending entry at index 4 (term 1)",
    "[client] DELETE \"e\" -> key not found: e",
    "[node 2] CommitNotification: commit_index updated to 3",
    "[node 3] CommitNotification: commit_index updated to 3",
    "[node 4] CommitNotification: commit_index updated to 3",
    "[node 5] CommitNotification: commit_index updated to 3",
    "[node 2] slot 3: DELETE \"e\" -> NOT FOUND",
    "[node 3] slot 3: DELETE \"e\" -> NOT FOUND",
    "[node 4] slot 3: DELETE \"e\" -> NOT FOUND",
    "[node 5] slot 3: DELETE \"e\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 2 (match=4)",
    "[node 3] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 3 (match=4)",
    "[node 4] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 4 (match=4)",
    "[node 5] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 5 (match=4)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] GET \"e\" -> NOT FOUND",
    "[node 1] Appending entry at index 5 (term 1)",
    "[client] GET \"e\" -> key not found: e",
    "[node 2] CommitNotification: commit_index updated to 4",
    "[node 3] CommitNotification: commit_index updated to 4",
    "[node 4] CommitNotification: commit_index updated to 4",
    "[node 5] CommitNotification: commit_index updated to 4",
    "[node 2] slot 4: GET \"e\" -> NOT FOUND",
    "[node 3] slot 4: GET \"e\" -> NOT FOUND",
    "[node 4] slot 4: GET \"e\" -> NOT FOUND",
    "[node 5] slot 4: GET \"e\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 2 (match=5)",
    "[node 3] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 3 (match=5)",
    "[node 4] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 4 (match=5)",
    "[node 5] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 5 (match=5)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] PUT \"b\" -> REJECTED (key exists)",
    "[node 1] Appending entry at index 6 (term 1)",
    "[client] PUT \"b\" = \"val_55\" -> key already exists: b",
    "[node 2] CommitNotification: commit_index updated to 5",
    "[node 3] CommitNotification: commit_index updated to 5",
    "[node 4] CommitNotification: commit_index updated to 5",
    "[node 5] CommitNotification: commit_index updated to 5",
    "[node 2] slot 5: PUT \"b\" -> REJECTED (key exists)",
    "[node 3] slot 5: PUT \"b\" -> REJECTED (key exists)",
    "[node 4] slot 5: PUT \"b\" -> REJECTED (key exists)",
    "[node 5] slot 5: PUT \"b\" -> REJECTED (key exists)",
    "[node 2] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 2 (match=6)",
    "[node 3] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 3 (match=6)",
    "[node 4] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 4 (match=6)",
    "[node 5] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 5 (match=6)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] GET \"e\" -> NOT FOUND",
    "[node 1] Appending entry at index 7 (term 1)",
    "[client] GET \"e\" -> key not found: e",
    "[node 2] CommitNotification: commit_index updated to 6",
    "[node 3] CommitNotification: commit_index updated to 6",
    "[node 4] CommitNotification: commit_index updated to 6",
    "[node 5] CommitNotification: commit_index updated to 6",
    "[node 2] slot 6: GET \"e\" -> NOT FOUND",
    "[node 3] slot 6: GET \"e\" -> NOT FOUND",
    "[node 4] slot 6: GET \"e\" -> NOT FOUND",
    "[node 5] slot 6: GET \"e\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=7",
    "[node 1] AppendEntries ACK from node 2 (match=7)",
    "[node 3] AppendEntries OK from leader 1, match_index=7",
    "[node 1] AppendEntries ACK from node 3 (match=7)",
    "[node 4] AppendEntries OK from leader 1, match_index=7",
    "[node 1] AppendEntries ACK from node 4 (match=7)",
    "[node 5] AppendEntries OK from leader 1, match_index=7",
    "[node 1] AppendEntries ACK from node 5 (match=7)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"b\" -> OK",
    "[node 1] Appending entry at index 8 (term 1)",
    "[client] DELETE \"b\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 7",
    "[node 3] CommitNotification: commit_index updated to 7",
    "[node 4] CommitNotification: commit_index updated to 7",
    "[node 5] CommitNotification: commit_index updated to 7",
    "[node 2] slot 7: DELETE \"b\" -> OK",
    "[node 3] slot 7: DELETE \"b\" -> OK",
    "[node 4] slot 7: DELETE \"b\" -> OK",
    "[node 5] slot 7: DELETE \"b\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=8",
    "[node 1] AppendEntries ACK from node 2 (match=8)",
    "[node 3] AppendEntries OK from leader 1, match_index=8",
    "[node 1] AppendEntries ACK from node 3 (match=8)",
    "[node 4] AppendEntries OK from leader 1, match_index=8",
    "[node 1] AppendEntries ACK from node 4 (match=8)",
    "[node 5] AppendEntries OK from leader 1, match_index=8",
    "[node 1] AppendEntries ACK from node 5 (match=8)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] PUT \"c\" = \"val_30\" -> OK",
    "[client] PUT \"c\" = \"val_30\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 8",
    "[node 3] CommitNotification: commit_index updated to 8",
    "[node 4] CommitNotification: commit_index updated to 8",
    "[node 5] CommitNotification: commit_index updated to 8",
    "[node 1] Appending entry at index 9 (term 1)",
    "[node 2] slot 8: PUT \"c\" = \"val_30\" -> OK",
    "[node 3] slot 8: PUT \"c\" = \"val_30\" -> OK",
    "[node 4] slot 8: PUT \"c\" = \"val_30\" -> OK",
    "[node 5] slot 8: PUT \"c\" = \"val_30\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=9",
    "[node 1] AppendEntries ACK from node 2 (match=9)",
    "[node 3] AppendEntries OK from leader 1, match_index=9",
    "[node 1] AppendEntries ACK from node 3 (match=9)",
    "[node 4] AppendEntries OK from leader 1, match_index=9",
    "[node 1] AppendEntries ACK from node 4 (match=9)",
    "[node 5] AppendEntries OK from leader 1, match_index=9",
    "[node 1] AppendEntries ACK from node 5 (match=9)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"b\" -> NOT FOUND",
    "[node 1] Appending entry at index 10 (term 1)",
    "[client] DELETE \"b\" -> key not found: b",
    "[node 2] CommitNotification: commit_index updated to 9",
    "[node 3] CommitNotification: commit_index updated to 9",
    "[node 4] CommitNotification: commit_index updated to 9",
    "[node 5] CommitNotification: commit_index updated to 9",
    "[node 2] slot 9: DELETE \"b\" -> NOT FOUND",
    "[node 3] slot 9: DELETE \"b\" -> NOT FOUND",
    "[node 4] slot 9: DELETE \"b\" -> NOT FOUND",
    "[node 5] slot 9: DELETE \"b\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=10",
    "[node 1] AppendEntries ACK from node 2 (match=10)",
    "[node 3] AppendEntries OK from leader 1, match_index=10",
    "[node 1] AppendEntries ACK from node 3 (match=10)",
    "[node 4] AppendEntries OK from leader 1, match_index=10",
    "[node 1] AppendEntries ACK from node 4 (match=10)",
    "[node 5] AppendEntries OK from leader 1, match_index=10",
    "[node 1] AppendEntries ACK from node 5 (match=10)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"c\" -> OK",
    "[node 1] Appending entry at index 11 (term 1)",
    "[client] DELETE \"c\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 10",
    "[node 3] CommitNotification: commit_index updated to 10",
    "[node 4] CommitNotification: commit_index updated to 10",
    "[node 5] CommitNotification: commit_index updated to 10",
    "[node 2] slot 10: DELETE \"c\" -> OK",
    "[node 3] slot 10: DELETE \"c\" -> OK",
    "[node 4] slot 10: DELETE \"c\" -> OK",
    "[node 5] slot 10: DELETE \"c\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=11",
    "[node 1] AppendEntries ACK from node 2 (match=11)",
    "[node 3] AppendEntries OK from leader 1, match_index=11",
    "[node 1] AppendEntries ACK from node 3 (match=11)",
    "[node 4] AppendEntries OK from leader 1, match_index=11",
    "[node 1] AppendEntries ACK from node 4 (match=11)",
    "[node 5] AppendEntries OK from leader 1, match_index=11",
    "[node 1] AppendEntries ACK from node 5 (match=11)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"c\" -> NOT FOUND",
    "[node 1] Appending entry at index 12 (term 1)",
    "[client] DELETE \"c\" -> key not found: c",
    "[node 2] CommitNotification: commit_index updated to 11",
    "[node 3] CommitNotification: commit_index updated to 11",
    "[node 4] CommitNotification: commit_index updated to 11",
    "[node 5] CommitNotification: commit_index updated to 11",
    "[node 2] slot 11: DELETE \"c\" -> NOT FOUND",
    "[node 3] slot 11: DELETE \"c\" -> NOT FOUND",
    "[node 4] slot 11: DELETE \"c\" -> NOT FOUND",
    "[node 5] slot 11: DELETE \"c\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=12",
    "[node 1] AppendEntries ACK from node 2 (match=12)",
    "[node 3] AppendEntries OK from leader 1, match_index=12",
    "[node 1] AppendEntries ACK from node 3 (match=12)",
    "[node 4] AppendEntries OK from leader 1, match_index=12",
    "[node 1] AppendEntries ACK from node 4 (match=12)",
    "[node 5] AppendEntries OK from leader 1, match_index=12",
    "[node 1] AppendEntries ACK from node 5 (match=12)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] GET \"b\" -> NOT FOUND",
    "[node 1] Appending entry at index 13 (term 1)",
    "[client] GET \"b\" -> key not found: b",
    "[node 2] CommitNotification: commit_index updated to 12",
    "[node 3] CommitNotification: commit_index updated to 12",
    "[node 4] CommitNotification: commit_index updated to 12",
    "[node 5] CommitNotification: commit_index updated to 12",
    "[node 2] slot 12: GET \"b\" -> NOT FOUND",
    "[node 3] slot 12: GET \"b\" -> NOT FOUND",
    "[node 4] slot 12: GET \"b\" -> NOT FOUND",
    "[node 5] slot 12: GET \"b\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=13",
    "[node 1] AppendEntries ACK from node 2 (match=13)",
    "[node 3] AppendEntries OK from leader 1, match_index=13",
    "[node 1] AppendEntries ACK from node 3 (match=13)",
    "[node 4] AppendEntries OK from leader 1, match_index=13",
    "[node 1] AppendEntries ACK from node 4 (match=13)",
    "[node 5] AppendEntries OK from leader 1, match_index=13",
    "[node 1] AppendEntries ACK from node 5 (match=13)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] GET \"d\" -> NOT FOUND",
    "[node 1] Appending entry at index 14 (term 1)",
    "[client] GET \"d\" -> key not found: d",
    "[node 2] CommitNotification: commit_index updated to 13",
    "[node 3] CommitNotification: commit_index updated to 13",
    "[node 4] CommitNotification: commit_index updated to 13",
    "[node 5] CommitNotification: commit_index updated to 13",
    "[node 2] slot 13: GET \"d\" -> NOT FOUND",
    "[node 3] slot 13: GET \"d\" -> NOT FOUND",
    "[node 4] slot 13: GET \"d\" -> NOT FOUND",
    "[node 5] slot 13: GET \"d\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=14",
    "[node 1] AppendEntries ACK from node 2 (match=14)",
    "[node 3] AppendEntries OK from leader 1, match_index=14",
    "[node 1] AppendEntries ACK from node 3 (match=14)",
    "[node 4] AppendEntries OK from leader 1, match_index=14",
    "[node 1] AppendEntries ACK from node 4 (match=14)",
    "[node 5] AppendEntries OK from leader 1, match_index=14",
    "[node 1] AppendEntries ACK from node 5 (match=14)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] DELETE \"b\" -> NOT FOUND",
    "[node 1] Appending entry at index 15 (term 1)",
    "[client] DELETE \"b\" -> key not found: b",
    "[node 2] CommitNotification: commit_index updated to 14",
    "[node 3] CommitNotification: commit_index updated to 14",
    "[node 4] CommitNotification: commit_index updated to 14",
    "[node 5] CommitNotification: commit_index updated to 14",
    "[node 2] slot 14: DELETE \"b\" -> NOT FOUND",
    "[node 3] slot 14: DELETE \"b\" -> NOT FOUND",
    "[node 4] slot 14: DELETE \"b\" -> NOT FOUND",
    "[node 5] slot 14: DELETE \"b\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=15",
    "[node 1] AppendEntries ACK from node 2 (match=15)",
    "[node 3] AppendEntries OK from leader 1, match_index=15",
    "[node 1] AppendEntries ACK from node 3 (match=15)",
    "[node 4] AppendEntries OK from leader 1, match_index=15",
    "[node 1] AppendEntries ACK from node 4 (match=15)",
    "[node 5] AppendEntries OK from leader 1, match_index=15",
    "[node 1] AppendEntries ACK from node 5 (match=15)",
    "[node 1] Replication: 5/3 acks",
    "[node 1] GET \"a\" -> NOT FOUND",
    "[client] GET \"a\" -> key not found: a",
    "[node 2] CommitNotification: commit_index updated to 15",
    "[node 3] CommitNotification: commit_index updated to 15",
    "[node 4] CommitNotification: commit_index updated to 15",
    "[node 5] CommitNotification: commit_index updated to 15",
    "[node 2] slot 15: GET \"a\" -> NOT FOUND",
    "[node 3] slot 15: GET \"a\" -> NOT FOUND",
    "[node 4] slot 15: GET \"a\" -> NOT FOUND",
    "[node 5] slot 15: GET \"a\" -> NOT FOUND",
    NULL,
};

/* The seed's gleam test run (3 nodes: put x, get x, put x again, delete x,
 * get x, delete x), as printed; the run ended before the followers applied
 * slot 6. */
static const char *const seed3_lines[] = {
    "[node 1] Starting",
    "[node 2] Starting",
    "[node 3] Starting",
    "[node 3] Peers configured (2 peers)",
    "[node 2] Peers configured (2 peers)",
    "[node 1] Peers configured (2 peers)",
    "[node 1] Starting election for term 1",
    "[node 2] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 2",
    "[node 3] Granting vote to 1 for term 1",
    "[node 1] Received vote from node 3",
    "[node 1] Election result: 3 votes (need 2)",
    "[node 1] Became LEADER for term 1",
    "[node 1] Appending entry at index 1 (term 1)",
    "[node 2] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 2 (match=1)",
    "[node 3] AppendEntries OK from leader 1, match_index=1",
    "[node 1] AppendEntries ACK from node 3 (match=1)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] PUT \"x\" = \"hello\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 1",
    "[node 3] CommitNotification: commit_index updated to 1",
    "[node 1] Appending entry at index 2 (term 1)",
    "[node 2] slot 1: PUT \"x\" = \"hello\" -> OK",
    "[node 3] slot 1: PUT \"x\" = \"hello\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 2 (match=2)",
    "[node 3] AppendEntries OK from leader 1, match_index=2",
    "[node 1] AppendEntries ACK from node 3 (match=2)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] GET \"x\" -> \"hello\"",
    "[node 2] CommitNotification: commit_index updated to 2",
    "[node 3] CommitNotification: commit_index updated to 2",
    "[node 1] Appending entry at index 3 (term 1)",
    "[node 2] slot 2: GET \"x\" -> \"hello\"",
    "[node 3] slot 2: GET \"x\" -> \"hello\"",
    "[node 2] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 2 (match=3)",
    "[node 3] AppendEntries OK from leader 1, match_index=3",
    "[node 1] AppendEntries ACK from node 3 (match=3)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] PUT \"x\" -> REJECTED (key exists)",
    "[node 2] CommitNotification: commit_index updated to 3",
    "[node 3] CommitNotification: commit_index updated to 3",
    "[node 1] Appending entry at index 4 (term 1)",
    "[node 2] slot 3: PUT \"x\" -> REJECTED (key exists)",
    "[node 3] slot 3: PUT \"x\" -> REJECTED (key exists)",
    "[node 2] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 2 (match=4)",
    "[node 3] AppendEntries OK from leader 1, match_index=4",
    "[node 1] AppendEntries ACK from node 3 (match=4)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] DELETE \"x\" -> OK",
    "[node 2] CommitNotification: commit_index updated to 4",
    "[node 3] CommitNotification: commit_index updated to 4",
    "[node 1] Appending entry at index 5 (term 1)",
    "[node 2] slot 4: DELETE \"x\" -> OK",
    "[node 3] slot 4: DELETE \"x\" -> OK",
    "[node 2] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 2 (match=5)",
    "[node 3] AppendEntries OK from leader 1, match_index=5",
    "[node 1] AppendEntries ACK from node 3 (match=5)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] GET \"x\" -> NOT FOUND",
    "[node 2] CommitNotification: commit_index updated to 5",
    "[node 3] CommitNotification: commit_index updated to 5",
    "[node 1] Appending entry at index 6 (term 1)",
    "[node 2] slot 5: GET \"x\" -> NOT FOUND",
    "[node 3] slot 5: GET \"x\" -> NOT FOUND",
    "[node 2] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 2 (match=6)",
    "[node 3] AppendEntries OK from leader 1, match_index=6",
    "[node 1] AppendEntries ACK from node 3 (match=6)",
    "[node 1] Replication: 3/2 acks",
    "[node 1] DELETE \"x\" -> NOT FOUND",
    "[node 2] CommitNotification: commit_index updated to 6",
    "[node 3] CommitNotification: commit_index updated to 6",
    NULL,
};

typedef struct script_op {
    char        kind;
    const char *key, *val;
} script_op;

static int client0_idle(sim *s) { return !s->clients[0].busy; }

static void client_line(const op *o, char *out, size_t sz)
{
    cn_term res = cn_buf_term(&o->res, 0);
    char tag[CN_ATOM_BUF], why[128];
    const char *what = o->kind == 'p' ? "PUT" : o->kind == 'g' ? "GET" : "DELETE";
    char head[96];
    if (o->kind == 'p')
        snprintf(head, sizeof head, "[client] PUT \"%s\" = \"%s\" -> ", o->key, o->val);
    else
        snprintf(head, sizeof head, "[client] %s \"%s\" -> ", what, o->key);
    if (cn_term_match(&res, "op_ok"))
        snprintf(out, sz, "%sOK", head);
    else if (cn_term_match(&res, "{ok, ~s}", why, sizeof why))
        snprintf(out, sz, "%s\"%s\"", head, why);
    else if (cn_term_match(&res, "{~a, ~s}", tag, why, sizeof why))
        snprintf(out, sz, "%s%s", head, why);
    else
        snprintf(out, sz, "%s?", head);
}

/* Designated-leader run: start_election at node 1 (the seed's main), then the
 * ops one after another at node 1; returns the op ids. */
static void emu_run(sim *s, const script_op *ops, size_t nops, size_t *ids)
{
    start_election_at(s, &s->nodes[1]);
    post_step(s);
    run_until(s, NULL, s->now + 200);
    for (size_t i = 0; i < nops && !s->failed; i++) {
        ids[i] = op_new(s, 0, ops[i].kind, ops[i].key, ops[i].val);
        s->clients[0].busy = 1;
        s->clients[0].cur = ids[i];
        client_send(s, ids[i], 1);
        if (!run_until(s, client0_idle, s->now + 60000))
            sim_fail(s, "emulation: op %zu never answered", i);
    }
    run_until(s, NULL, s->now + 5000);
}

/* Compares node k's trace lines with the expected [node k] lines. */
static int compare_lines(sim *s, int k, const char *const *expect, const char *extra)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "[node %d]", k);
    size_t pl = strlen(prefix), j = 0;
    node *n = &s->nodes[k];
    int ok = 1;
    for (size_t i = 0; expect[i] || extra; i++) {
        const char *want = expect[i];
        if (!want) {
            want = extra;
            extra = NULL;
        } else if (strncmp(want, prefix, pl) != 0 || want[pl] != ' ') {
            continue;
        }
        const char *got = j < n->nlines ? n->lines[j] : "(nothing)";
        j++;
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "emulation: node %d line %zu: expected \"%s\", got \"%s\"\n", k, j, want,
                    got);
            ok = 0;
            break;
        }
        if (!expect[i])
            break;
    }
    if (ok && j != n->nlines) {
        fprintf(stderr, "emulation: node %d printed %zu lines, expected %zu; first extra: \"%s\"\n",
                k, n->nlines, j, n->lines[j]);
        ok = 0;
    }
    return ok;
}

/* A five- or three-node designated-leader cluster that replays ops,
 * recording every trace line; NULL (after printing why) if the run failed,
 * as its later ops were then never sent. */
static sim *emu_replay(const sim_cfg *cfg, const script_op *ops, size_t n, size_t *ids)
{
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, cfg, 1, 0);
    s->record_lines = 1;
    sim_boot_all(s);
    emu_run(s, ops, n, ids);
    CHECK(!s->failed);
    if (!s->failed)
        return s;
    print_failure(s, cfg->name);
    sim_free(s);
    free(s);
    return NULL;
}

static void test_emulation_seed5(void)
{
    static const sim_cfg cfg = { "emulation-5", 5, 5, 0, 0, 0, 0 };
    static const script_op ops[] = {
        { 'd', "a", 0 }, { 'p', "b", "val_84" }, { 'd', "e", 0 }, { 'g', "e", 0 },
        { 'p', "b", "val_55" }, { 'g', "e", 0 }, { 'd', "b", 0 }, { 'p', "c", "val_30" },
        { 'd', "b", 0 }, { 'd', "c", 0 }, { 'd', "c", 0 }, { 'g', "b", 0 },
        { 'g', "d", 0 }, { 'd', "b", 0 }, { 'g', "a", 0 },
    };
    size_t n = sizeof ops / sizeof *ops, ids[16];
    sim *s = emu_replay(&cfg, ops, n, ids);
    if (!s)
        return;
    for (int k = 1; k <= 5; k++)
        CHECK(compare_lines(s, k, seed5_lines, NULL));
    size_t c = 0;
    for (size_t i = 0; seed5_lines[i]; i++) {
        if (strncmp(seed5_lines[i], "[client]", 8) != 0)
            continue;
        char line[200];
        client_line(&s->ops[ids[c]], line, sizeof line);
        if (strcmp(line, seed5_lines[i]) != 0)
            fprintf(stderr, "emulation: client line %zu: expected \"%s\", got \"%s\"\n", c,
                    seed5_lines[i], line);
        CHECK(strcmp(line, seed5_lines[i]) == 0);
        c++;
    }
    CHECK(c == n);
    for (int k = 1; k <= 5; k++)
        CHECK(s->nodes[k].applied_cb == n && raft_get_applied(s->nodes[k].r) == n);
    CHECK(s->ref_n == n);
    sim_free(s);
    free(s);
}

static void test_emulation_seed3(void)
{
    static const sim_cfg cfg = { "emulation-3", 3, 3, 0, 0, 0, 0 };
    static const script_op ops[] = {
        { 'p', "x", "hello" }, { 'g', "x", 0 }, { 'p', "x", "world" },
        { 'd', "x", 0 },       { 'g', "x", 0 }, { 'd', "x", 0 },
    };
    static const char *const results[] = {
        "op_ok", "{ok,<<\"hello\">>}", "{op_error,<<\"key already exists: x\">>}",
        "op_ok", "{error,<<\"key not found: x\">>}", "{op_error,<<\"key not found: x\">>}",
    };
    size_t n = sizeof ops / sizeof *ops, ids[8];
    sim *s = emu_replay(&cfg, ops, n, ids);
    if (!s)
        return;
    CHECK(compare_lines(s, 1, seed3_lines, NULL));
    /* the seed's test ended before its followers applied slot 6 */
    CHECK(compare_lines(s, 2, seed3_lines, "[node 2] slot 6: DELETE \"x\" -> NOT FOUND"));
    CHECK(compare_lines(s, 3, seed3_lines, "[node 3] slot 6: DELETE \"x\" -> NOT FOUND"));
    for (size_t i = 0; i < n; i++) {
        char got[160];
        cn_term res = cn_buf_term(&s->ops[ids[i]].res, 0);
        cn_term_format(&res, got, sizeof got);
        if (strcmp(got, results[i]) != 0)
            fprintf(stderr, "emulation-3: op %zu answered %s, expected %s\n", i, got, results[i]);
        CHECK(strcmp(got, results[i]) == 0);
    }
    sim_free(s);
    free(s);
}

/* A follower crashes and restarts from its disk during a designated-leader
 * run: the leader's calls to it time out ("No reply ..."), the majority still
 * commits every command, and every node applies the same sequence. */
static void test_emulation_crash(void)
{
    static const sim_cfg cfg = { "emulation-5-crash", 5, 5, 0, 0, 0, 0 };
    static const char *keys[] = { "a", "b", "c", "d", "e" };
    script_op ops[24];
    char vals[24][16];
    sim *s = xrealloc(NULL, sizeof *s);
    sim_init(s, &cfg, 7, 0);
    s->record_lines = 1;
    for (int i = 0; i < 24; i++) {
        snprintf(vals[i], sizeof vals[i], "val_%d", (int)(rnd(s) % 100));
        uint64_t k = rnd(s) % 3;
        ops[i] = (script_op){ k == 0 ? 'g' : k == 1 ? 'p' : 'd', keys[rnd(s) % 5], vals[i] };
    }
    sim_boot_all(s);
    size_t ids[24];
    emu_run(s, ops, 8, ids);
    node_crash(s, &s->nodes[4]);
    emu_run(s, ops + 8, 8, ids + 8);
    node_restart(s, &s->nodes[4]);
    post_step(s);
    emu_run(s, ops + 16, 8, ids + 16);
    CHECK(!s->failed);
    if (s->failed)
        print_failure(s, cfg.name);
    int noreply = 0, failed_ops = 0;
    for (size_t j = 0; j < s->nodes[1].nlines; j++)
        noreply += strstr(s->nodes[1].lines[j], "No reply from node 4 within 2000 ms") != NULL;
    for (int i = 0; i < 24; i++) {
        cn_term res = cn_buf_term(&s->ops[ids[i]].res, 0);
        char tag[CN_ATOM_BUF], why[64];
        failed_ops += !res.len || (cn_term_match(&res, "{~a, ~s}", tag, why, sizeof why) &&
                                   !strcmp(why, "replication failed"));
    }
    CHECK(noreply == 8);
    CHECK(failed_ops == 0);
    uint64_t last = raft_get_log(s->nodes[1].r)->n;
    CHECK(last == 24);
    for (int k = 1; k <= 5; k++)
        if (k != 4)
            CHECK(s->nodes[k].applied_cb == last);
    CHECK(s->ref_n == last);
    sim_free(s);
    free(s);
}

/* ---- main ------------------------------------------------------------------ */

static void count_reply(void *ud, raft_token token, const cn_term *result)
{
    (void)token;
    (void)result;
    (*(int *)ud)++;
}

/* A node restarted with a long log applies it a bounded part per event:
 * a one-node cluster restored with 10,000 entries elects itself, commits
 * its no-op (and so all of them), and applies them over several ticks,
 * asking for the next at once, never all in the event that committed. */
static void test_bounded_apply(void)
{
    int replies = 0;
    raft_io io = { .ud = &replies, .client_reply = count_reply };
    raft_config cfg = { .id = 1, .mode = RAFT_MODE_RAFT, .seed = 7, .name = "n1" };
    raft *r = raft_new(&cfg, &io);
    enum { N = 10000 };
    raft_entry *e = xrealloc(NULL, N * sizeof *e);
    cn_buf cmd;
    cn_buf_init(&cmd);
    cn_term_build(&cmd, "{put, ~b, ~b}", "k", (size_t)1, "v", (size_t)1);
    for (size_t i = 0; i < N; i++)
        e[i] = (raft_entry){ 1, cn_buf_term(&cmd, 0) };
    CHECK(raft_restore(r, 1, 1, e, N) == 0);
    raft_set_peers(r, 1000, NULL, 0);
    raft_start_election(r, 1000);
    CHECK(raft_get_role(r) == RAFT_LEADER);
    CHECK(raft_get_commit(r) == N + 1);
    CHECK(raft_get_applied(r) < N + 1);
    unsigned ticks = 0;
    while (raft_get_applied(r) < N + 1 && ticks < 100) {
        CHECK(raft_next_deadline(r) == 1000);     /* more to apply: now */
        raft_tick(r, 1000);
        ticks++;
    }
    CHECK(raft_get_applied(r) == N + 1);
    CHECK(ticks >= 2);
    CHECK(raft_next_deadline(r) > 1000);          /* then only the heartbeat */
    CHECK(raft_kv_count(raft_get_kv(r)) == 1);
    printf("raft_sim_test: bounded apply: %d entries applied over %u events after the commit\n",
           N + 1, ticks + 1);
    raft_free(r);
    free(e);
    cn_buf_free(&cmd);
}

/* A snapshot encoded a few pairs at a time holds the store as it was when
 * it began, while the store goes on: a pair deleted after it was read, one
 * deleted before (kept aside until read), the pair the encoder was about
 * to read deleted, and one put meanwhile (not in it). */
static void kv_put(raft_kv *kv, const char *k, const char *v)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{put, ~s, ~s}", k, v);
    cn_term t = cn_buf_term(&b, 0);
    char line[200];
    CHECK(raft_kv_apply(kv, &t, 1, 1, RAFT_KV_TRACE_SLOT, NULL, line, sizeof line) == 0);
    cn_buf_free(&b);
}

static void kv_delete(raft_kv *kv, const char *k)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{delete, ~s}", k);
    cn_term t = cn_buf_term(&b, 0);
    char line[200];
    CHECK(raft_kv_apply(kv, &t, 1, 1, RAFT_KV_TRACE_SLOT, NULL, line, sizeof line) == 0);
    CHECK(strstr(line, "-> OK") != NULL);
    cn_buf_free(&b);
}

static void test_frozen_snapshot(void)
{
    raft_kv *kv = raft_kv_new(), *back = raft_kv_new();
    char k[16], v[16];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        snprintf(v, sizeof v, "v%d", i);
        kv_put(kv, k, v);
    }
    cn_buf out;
    cn_buf_init(&out);
    raft_snapshot_enc e;
    raft_snapshot_enc_begin(&e, &out, 7, 2, NULL, 0, kv);
    CHECK(raft_snapshot_enc_step(&e, &out, 3) == 0);      /* k0..k2 read */
    kv_delete(kv, "k1");                                  /* read already */
    kv_delete(kv, "k3");                                  /* the next to read */
    kv_delete(kv, "k8");                                  /* not read yet */
    kv_put(kv, "k10", "v10");                             /* after it began */
    int steps = 1;
    while (!raft_snapshot_enc_step(&e, &out, 2))
        steps++;
    raft_snapshot_info info;
    char why[160] = "";
    CHECK(raft_snapshot_decode(out.data, out.len, &info, back, why, sizeof why) == 0);
    CHECK(info.index == 7 && info.count == 10 && raft_kv_count(back) == 10);
    cn_buf probe;
    cn_buf_init(&probe);
    for (int i = 0; i <= 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        cn_buf_reset(&probe);
        cn_term_build(&probe, "{get, ~s}", k);
        cn_term t = cn_buf_term(&probe, 0);
        char line[200];
        raft_kv_apply(back, &t, 1, 1, RAFT_KV_TRACE_SLOT, NULL, line, sizeof line);
        CHECK((strstr(line, "NOT FOUND") != NULL) == (i == 10));
        raft_kv_apply(kv, &t, 1, 1, RAFT_KV_TRACE_SLOT, NULL, line, sizeof line);
        CHECK((strstr(line, "NOT FOUND") != NULL) == (i == 1 || i == 3 || i == 8));
    }
    printf("raft_sim_test: a snapshot read while the store changed (3 deletes, 1 put): "
           "the 10 pairs as of its start, in %d more steps; %s\n", steps, why[0] ? why : "ok");
    cn_buf_free(&probe);
    cn_buf_free(&out);
    raft_kv_free(kv);
    raft_kv_free(back);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const sim_cfg configs[] = {
    { "raft-3", 3, 0, 0, 0, 0, 0 },
    { "raft-5", 5, 0, 0, 0, 0, 0 },
    { "mixed-3", 3, 1, 0, 0, 0, 0 },
    { "mixed-5", 5, 2, 0, 0, 0, 0 },
    { "mixed-5e3", 5, 3, 0, 0, 0, 0 },
    { "emulead-5", 5, 2, 1, 0, 0, 0 },
    { "volatile-3", 3, 0, 0, 1, 0, 0 },
    { "members-5", 5, 0, 0, 0, 3, 0 },
    { "snap-5", 5, 0, 0, 0, 0, 1 },
    { "snap-mixed-5", 5, 2, 0, 0, 0, 1 },
};

int main(void)
{
    uint64_t seeds = env_u64("RAFT_SIM_SEEDS", 1000), steps = env_u64("RAFT_SIM_STEPS", 1500),
             seed0 = env_u64("RAFT_SIM_SEED0", 1);
    const char *only = getenv("RAFT_SIM_CONFIG");
    const char *replay = getenv("RAFT_SIM_REPLAY");
    size_t ncfg = sizeof configs / sizeof *configs;
    if (replay && *replay) {
        char name[32];
        unsigned long long rs = 0, rsteps = steps;
        int rf = F_ALL;
        if (sscanf(replay, "%31[^:]:%llu:%llu:%d", name, &rs, &rsteps, &rf) < 2) {
            fprintf(stderr, "RAFT_SIM_REPLAY=name:seed[:steps[:faults]]\n");
            return 2;
        }
        for (size_t i = 0; i < ncfg; i++) {
            const char *sc = NULL;
            if (!strncmp(name, "rejoin-", 7) && !strcmp(configs[i].name, name + 7))
                sc = "rejoin";
            else if (!strncmp(name, "minority-", 9) && !strcmp(configs[i].name, name + 9))
                sc = "minority";
            else if (!strcmp(name, "overwrite") && !strcmp(configs[i].name, "mixed-5")) {
                setenv("RAFT_SIM_VERBOSE", "1", 1);
                int ok = scenario_emu_overwrite(rs);
                printf("raft_sim_test: replay overwrite seed %llu: %s\n", rs, ok ? "ok" : "FAILED");
                return ok ? 0 : 1;
            }
            if (sc) {
                uint64_t sd = 0;
                setenv("RAFT_SIM_VERBOSE", "1", 1);
                int ok = !strcmp(sc, "rejoin") ? scenario_rejoin(&configs[i], rs)
                                               : scenario_minority(&configs[i], rs, &sd);
                printf("raft_sim_test: replay %s seed %llu: %s\n", name, rs, ok ? "ok" : "FAILED");
                return ok ? 0 : 1;
            }
        }
        for (size_t i = 0; i < ncfg; i++)
            if (!strcmp(configs[i].name, name)) {
                int ok = run_schedule(&configs[i], rs, rsteps, rf, 1, NULL, 1);
                printf("raft_sim_test: replay %s seed %llu: %s\n", name, rs, ok ? "ok" : "FAILED");
                return ok ? 0 : 1;
            }
        fprintf(stderr, "no configuration %s\n", name);
        return 2;
    }

    double t_all = secs();
    for (size_t i = 0; i < ncfg; i++) {
        const sim_cfg *cfg = &configs[i];
        if (only && *only && !strstr(cfg->name, only))
            continue;
        run_stats st;
        memset(&st, 0, sizeof st);
        double t0 = secs();
        int shown = 0;
        uint64_t rounds = cfg->volatile_disk ? (seeds + 3) / 4 : seeds;
        for (uint64_t k = 0; k < rounds; k++) {
            uint64_t seed = seed0 + k;
            if (!run_schedule(cfg, seed, steps, F_ALL, 0, &st, shown < 2)) {
                if (shown++ < 2)
                    minimize(cfg, seed, steps);
            }
        }
        CHECK(st.failures == 0);
        printf("raft_sim_test: %-9s %llu rounds x %llu fault steps: %llu steps, %llu elections, "
               "%llu entries committed, %llu writes acked, %llu crashes, %llu partitions, "
               "%llu msgs; slowest election after healing %llu ms (seed %llu), mean %llu ms; "
               "%llu failed; %.1f s\n",
               cfg->name, (unsigned long long)rounds, (unsigned long long)steps,
               (unsigned long long)st.steps, (unsigned long long)st.elections,
               (unsigned long long)st.commits, (unsigned long long)st.acked,
               (unsigned long long)st.crashes, (unsigned long long)st.parts,
               (unsigned long long)st.msgs, (unsigned long long)st.slowest_ms,
               (unsigned long long)st.slowest_seed,
               (unsigned long long)(st.runs ? st.sum_elect_ms / st.runs : 0),
               (unsigned long long)st.failures, secs() - t0);
        if (cfg->boot)
            printf("raft_sim_test: %-9s membership changes: %llu committed, %llu refused or "
                   "abandoned; voters at the end: 1:%llu 2:%llu 3:%llu 4:%llu 5:%llu\n",
                   cfg->name, (unsigned long long)st.changes_ok,
                   (unsigned long long)st.changes_failed, (unsigned long long)st.final_members[1],
                   (unsigned long long)st.final_members[2], (unsigned long long)st.final_members[3],
                   (unsigned long long)st.final_members[4], (unsigned long long)st.final_members[5]);
        if (cfg->snap)
            printf("raft_sim_test: %-9s snapshots: %llu written (%llu installed, %llu of them "
                   "dropping the log), %llu chunks sent, %llu restarts from a snapshot\n",
                   cfg->name, (unsigned long long)st.snaps, (unsigned long long)st.installs,
                   (unsigned long long)st.drops, (unsigned long long)st.chunks,
                   (unsigned long long)st.snap_restarts);
        if (cfg->snap && cfg->n_emu)
            printf("raft_sim_test: %-9s %llu schedules where C nodes held a due snapshot back "
                   "for the emulation members (none may be taken)\n",
                   cfg->name, (unsigned long long)st.held_back);
        if (st.known[K_NO_C] || st.known[K_EMU_LEADER] || st.known[K_NO_START] ||
            st.seed_answers || st.seed_applies)
            printf("raft_sim_test: %-9s known limitations (not failures): %llu schedules with no "
                   "electable C node, %llu stuck under an emulation leader, %llu with the boot's "
                   "start_election lost to a crash, %llu answers from an "
                   "emulation leader's partial store, %llu emulation-follower applies of "
                   "unverified entries\n",
                   cfg->name, (unsigned long long)st.known[K_NO_C],
                   (unsigned long long)st.known[K_EMU_LEADER],
                   (unsigned long long)st.known[K_NO_START], (unsigned long long)st.seed_answers,
                   (unsigned long long)st.seed_applies);
        fflush(stdout);
    }

    uint64_t nsc = seeds / 20 ? seeds / 20 : 1;
    if (!only || !*only || strstr("scenarios", only)) {
        for (size_t i = 0; i < ncfg; i++) {
            const sim_cfg *cfg = &configs[i];
            uint64_t fails_m = 0, fails_r = 0, stepdown = 0;
            if (cfg->boot)
                continue;           /* the scenarios assume every node a member from the start */
            double t0 = secs();
            /* the minority scenario needs a C node on the majority side */
            int minority = cfg->n - cfg->n_emu > (cfg->n >= 5 ? 2 : 1);
            for (uint64_t k = 0; k < nsc; k++) {
                if (minority)
                    fails_m += !scenario_minority(cfg, seed0 + k, &stepdown);
                fails_r += !scenario_rejoin(cfg, seed0 + k);
            }
            CHECK(fails_m == 0);
            CHECK(fails_r == 0);
            char mline[96];
            if (minority)
                snprintf(mline, sizeof mline, "minority cut off (slowest step-down %llu ms) %llu failed",
                         (unsigned long long)stepdown, (unsigned long long)fails_m);
            else
                snprintf(mline, sizeof mline, "minority cut off: n/a (no C node in the majority)");
            printf("raft_sim_test: %-9s scenarios x %llu rounds: %s, isolated follower returns "
                   "%llu failed; %.1f s\n",
                   cfg->name, (unsigned long long)nsc, mline, (unsigned long long)fails_r,
                   secs() - t0);
        }
        uint64_t fails_d = 0, lost_ctl = 0, led = 0, led_ctl = 0;
        for (uint64_t k = 0; k < nsc; k++) {
            int lead = 0, lead_ctl = 0;
            fails_d += !scenario_disk_loss(&configs[0], seed0 + k, 1, &lead);
            led += lead;
            verbose_off = !getenv("RAFT_SIM_SHOW_CONTROL");
            lost_ctl += !scenario_disk_loss(&configs[0], seed0 + k, 0, &lead_ctl);
            verbose_off = 0;
            led_ctl += lead_ctl;
        }
        CHECK(fails_d == 0 && led == 0);
        CHECK(lost_ctl > 0);
        printf("raft_sim_test: raft-3    a follower loses its disk x %llu rounds: rejoining, "
               "%llu elected the node without the write, %llu failed; restarted as new "
               "(control), %llu elected it and %llu lost the acknowledged write\n",
               (unsigned long long)nsc, (unsigned long long)led, (unsigned long long)fails_d,
               (unsigned long long)led_ctl, (unsigned long long)lost_ctl);
        uint64_t fails_o = 0;
        for (uint64_t k = 0; k < nsc; k++)
            fails_o += !scenario_emu_overwrite(seed0 + k);
        CHECK(fails_o == 0);
        printf("raft_sim_test: mixed-5   emulation follower overwrite scenario x %llu rounds: "
               "%llu failed\n", (unsigned long long)nsc, (unsigned long long)fails_o);
        test_emulation_seed5();
        test_emulation_seed3();
        test_emulation_crash();
        test_bounded_apply();
        test_frozen_snapshot();
    }
    printf("raft_sim_test: total %.1f s\n", secs() - t_all);
    cn_atom_cleanup();
    return CHECK_DONE("raft_sim_test");
}
