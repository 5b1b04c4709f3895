/* chatterbox_sim_test.c - deterministic simulation of chatterbox clusters.
 *
 * Many cores (c_src/chatterbox/cb_core.h) run in one process against a
 * fake network driven by a seeded generator: virtual time, per-node ticks
 * and phase changes, messages encoded to Erlang terms and decoded again
 * (cb_wire), delivered after random delays (so they reorder), dropped,
 * duplicated, or lost to partitions that raise CB_EV_DOWN / CB_EV_UP, or
 * to black holes that do not (a partition under a connection that stays
 * up).  A glue that reconnects when the core asks is modelled too: both
 * ends see the link go down and come up again, and what the old link still
 * carried is lost.  A node whose core is finished leaves the cluster, as
 * the real one exits.
 *
 * The expected result is computed here, independently of the cores: every
 * message any core created is recorded (its value checked against the
 * value function), sorted by (send time, id, seq), and summed with this
 * file's own arithmetic.  Checks: with connectivity back before the end,
 * every node prints exactly that; under a permanent partition the fast
 * protocol's outputs are prefixes of that sequence and the seed protocol's
 * differ by at most one message per sender; runs replay identically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/chatterbox/cb_core.h"
#include "../../c_src/chatterbox/cb_rng.h"
#include "../../c_src/chatterbox/cb_wire.h"
#include "check.h"

#define MAXN 8
#define EPOCH 1700000000000000ull   /* virtual clocks start near today */

/* ---- the scenario ------------------------------------------------------- */

typedef struct scenario {
    const char *name;
    cb_protocol proto;
    int         n;
    uint64_t    seed;              /* message values */
    uint64_t    net_seed;          /* the network's dice */
    uint64_t    send_for, wait_for, tick;   /* microseconds */
    uint64_t    delay_min, delay_max;
    int         fifo;              /* links keep order (as TCP) */
    unsigned    drop_pct, dup_pct;
    uint64_t    start_spread;      /* node i starts at a random offset below this */
    int64_t     skew[MAXN];        /* clock offsets */
    /* one node cut off from all others during [cut_at, cut_at + cut_for) */
    int         cut_node;          /* -1: none */
    uint64_t    cut_at, cut_for;   /* cut_for 0: forever */
    int         silent;            /* the cut is a black hole: links stay up */
    int         reconnect;         /* the sinks reconnect when asked (fast) */
    uint32_t    batch, window;
    uint64_t    max_rate, rto;
} scenario;

/* ---- the network -------------------------------------------------------- */

enum { EV_DELIVER, EV_TICK, EV_PHASE, EV_UP, EV_DOWN };

typedef struct sev {
    uint64_t t, order;
    int      kind, node, peer;
    cb_phase phase;
    char    *data;                 /* EV_DELIVER: an encoded term */
    size_t   len;
    unsigned gen;                  /* EV_DELIVER: the link's generation */
} sev;

typedef struct rec {               /* a created message */
    uint64_t ts, seq;
    int      id;
    uint32_t value;
} rec;

typedef struct sim {
    const scenario *sc;
    cb_core  *core[MAXN];
    int       ids[MAXN];
    int       exited[MAXN];
    uint64_t  start[MAXN];
    unsigned  gen[MAXN][MAXN];     /* link i -> j: bumped by a reconnect */
    uint64_t  link_free[MAXN][MAXN];
    sev      *heap;
    size_t    nheap, capheap;
    uint64_t  order, now, rng;
    rec      *recs;
    size_t    nrecs, caprecs;
    char      out[MAXN][128];
    int       complete[MAXN];
    cb_sum    res[MAXN];
    int       bad_values;
    int       faults;              /* impossible sends, undecodable terms */
    uint64_t  delivered, dropped, reconnects;
    cn_buf    buf;
} sim;

static uint64_t rnd(sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static uint64_t rnd_range(sim *s, uint64_t lo, uint64_t hi)
{
    return hi > lo ? lo + rnd(s) % (hi - lo + 1) : lo;
}

static int ev_less(const sev *a, const sev *b)
{
    return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void push(sim *s, sev e)
{
    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? 2 * s->capheap : 1024;
        s->heap = realloc(s->heap, s->capheap * sizeof *s->heap);
    }
    e.order = s->order++;
    size_t i = s->nheap++;
    while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static sev pop(sim *s)
{
    sev top = s->heap[0], last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap)
        s->heap[i] = last;
    return top;
}

static int cut(const sim *s, int a, int b, uint64_t t)
{
    const scenario *sc = s->sc;
    if (sc->cut_node < 0 || (a != sc->cut_node && b != sc->cut_node))
        return 0;
    return t >= sc->cut_at && (sc->cut_for == 0 || t < sc->cut_at + sc->cut_for);
}

static int sim_index(const sim *s, int id)
{
    for (int i = 0; i < s->sc->n; i++)
        if (s->ids[i] == id)
            return i;
    return -1;
}

/* ---- the sink ----------------------------------------------------------- */

typedef struct sink_ctx {
    sim *s;
    int  node;
} sink_ctx;

static void sink_send(void *ud, int to, const cb_msg *m)
{
    sink_ctx *x = ud;
    sim *s = x->s;
    const scenario *sc = s->sc;
    int from = x->node;
    if (to < 0 || to >= sc->n || to == from) {
        s->faults++;
        return;
    }
    if (s->exited[to] || cut(s, from, to, s->now) || rnd(s) % 100 < sc->drop_pct) {
        s->dropped++;
        return;
    }
    cn_buf_reset(&s->buf);
    cb_wire_encode(&s->buf, m, s->ids[from]);
    if (cn_buf_failed(&s->buf))
        s->faults++;
    int copies = rnd(s) % 100 < sc->dup_pct ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        uint64_t t = s->now + rnd_range(s, sc->delay_min, sc->delay_max);
        if (sc->fifo) {
            if (t < s->link_free[from][to])
                t = s->link_free[from][to];
            s->link_free[from][to] = t;
        }
        sev e = { .t = t, .kind = EV_DELIVER, .node = to, .peer = from, .len = s->buf.len,
                  .gen = s->gen[from][to] };
        e.data = malloc(s->buf.len);
        memcpy(e.data, s->buf.data, s->buf.len);
        push(s, e);
    }
}

static void sink_created(void *ud, uint64_t ts, uint64_t first, uint32_t count,
                         const uint8_t *vals)
{
    sink_ctx *x = ud;
    sim *s = x->s;
    int id = s->ids[x->node];
    uint64_t key = cb_rng_key(s->sc->seed, id);
    for (uint32_t j = 0; j < count; j++) {
        const uint8_t *p = vals + 4 * (size_t)j;
        uint32_t v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (v != cb_rng_value(key, first + j) || v == 0 || v > CB_SCALE)
            s->bad_values++;
        if (s->nrecs == s->caprecs) {
            s->caprecs = s->caprecs ? 2 * s->caprecs : 4096;
            s->recs = realloc(s->recs, s->caprecs * sizeof *s->recs);
        }
        s->recs[s->nrecs++] = (rec){ ts, first + j, id, v };
    }
}

static void sink_output(void *ud, const cb_result *r)
{
    sink_ctx *x = ud;
    sim *s = x->s;
    if (s->out[x->node][0])
        s->faults++;                             /* printed twice */
    cb_sum_format(&r->sum, s->out[x->node], sizeof s->out[x->node]);
    s->res[x->node] = r->sum;
    s->complete[x->node] = r->complete;
}

/* A new connection between the two: both ends see the old one go down and
 * the new one come up a dial later (once a cut is over, never under a
 * permanent one); what the old one still carried is lost. */
static void sink_reconnect(void *ud, int to)
{
    sink_ctx *x = ud;
    sim *s = x->s;
    const scenario *sc = s->sc;
    int from = x->node;
    s->reconnects++;
    s->gen[from][to]++;
    s->gen[to][from]++;
    uint64_t up = s->now + 2 * sc->delay_max;
    if (cut(s, from, to, up))
        up = sc->cut_for ? sc->cut_at + sc->cut_for : 0;
    int ends[2][2] = { { from, to }, { to, from } };
    for (int k = 0; k < 2; k++) {
        push(s, (sev){ .t = s->now + 1, .kind = EV_DOWN, .node = ends[k][0], .peer = ends[k][1] });
        if (up)
            push(s, (sev){ .t = up + 1, .kind = EV_UP, .node = ends[k][0], .peer = ends[k][1] });
    }
}

/* ---- running ------------------------------------------------------------ */

static void step(sim *s, int i, cb_event *ev, sink_ctx *ctx)
{
    cb_sink out = { &ctx[i], sink_send, sink_created, sink_output, NULL,
                    s->sc->reconnect ? sink_reconnect : NULL };
    ev->now = EPOCH + (uint64_t)((int64_t)s->now + s->sc->skew[i]);
    cb_core_step(s->core[i], ev, &out);
    if (cb_core_finished(s->core[i])) {
        s->exited[i] = 1;       /* the node exits: its peers see it go down */
        for (int j = 0; j < s->sc->n; j++)
            if (j != i && !s->exited[j])
                push(s, (sev){ .t = s->now + 1, .kind = EV_DOWN, .node = j, .peer = i });
    }
}

static void link_events(sim *s)
{
    const scenario *sc = s->sc;
    for (int i = 0; i < sc->n; i++)
        for (int j = 0; j < sc->n; j++) {
            if (i == j)
                continue;
            uint64_t up = s->start[i] > s->start[j] ? s->start[i] : s->start[j];
            if (!sc->silent && cut(s, i, j, up))
                up = sc->cut_at + sc->cut_for;
            if (sc->silent || sc->cut_node < 0 || !cut(s, i, j, up) || sc->cut_for)
                push(s, (sev){ .t = up + 1, .kind = EV_UP, .node = i, .peer = j });
            if (!sc->silent && sc->cut_node >= 0 && (i == sc->cut_node || j == sc->cut_node) &&
                sc->cut_at > up) {
                push(s, (sev){ .t = sc->cut_at, .kind = EV_DOWN, .node = i, .peer = j });
                if (sc->cut_for)
                    push(s, (sev){ .t = sc->cut_at + sc->cut_for, .kind = EV_UP, .node = i,
                                   .peer = j });
            }
        }
}

static void run(sim *s, const scenario *sc)
{
    memset(s, 0, sizeof *s);
    s->sc = sc;
    s->rng = sc->net_seed * 2654435761u + 88172645463325252ull;
    cn_buf_init(&s->buf);
    sink_ctx ctx[MAXN];
    for (int i = 0; i < sc->n; i++) {
        s->ids[i] = 10 * (sc->n - i) + 3;          /* ids not in index order */
        ctx[i] = (sink_ctx){ s, i };
    }
    for (int i = 0; i < sc->n; i++) {
        cb_params p = { .protocol = sc->proto, .n = sc->n, .me = i, .ids = s->ids,
                        .seed = sc->seed, .batch_max = sc->batch ? sc->batch : 64,
                        .window = sc->window ? sc->window : 512, .max_rate = sc->max_rate,
                        .rto_us = sc->rto ? sc->rto : 50000 };
        s->core[i] = cb_core_new(&p);
        CHECK(s->core[i] != NULL);
        s->start[i] = rnd_range(s, 0, sc->start_spread);
        push(s, (sev){ .t = s->start[i], .kind = EV_TICK, .node = i });
        push(s, (sev){ .t = s->start[i] + sc->send_for, .kind = EV_PHASE, .node = i,
                       .phase = CB_PHASE_WAIT });
        push(s, (sev){ .t = s->start[i] + sc->send_for + sc->wait_for, .kind = EV_PHASE,
                       .node = i, .phase = CB_PHASE_END });
    }
    link_events(s);
    while (s->nheap) {
        sev e = pop(s);
        s->now = e.t;
        int i = e.node;
        if (s->exited[i]) {
            free(e.data);
            continue;
        }
        cb_event ev = { 0 };
        switch (e.kind) {
        case EV_TICK:
            ev.kind = CB_EV_TICK;
            push(s, (sev){ .t = s->now + sc->tick, .kind = EV_TICK, .node = i });
            step(s, i, &ev, ctx);
            break;
        case EV_PHASE:
            ev.kind = CB_EV_PHASE;
            ev.phase = e.phase;
            step(s, i, &ev, ctx);
            break;
        case EV_UP:
        case EV_DOWN:
            if (e.kind == EV_UP && (s->exited[e.peer] || cut(s, i, e.peer, s->now)))
                break;
            ev.kind = e.kind == EV_UP ? CB_EV_UP : CB_EV_DOWN;
            ev.peer = e.peer;
            step(s, i, &ev, ctx);
            break;
        case EV_DELIVER: {
            cb_msg m;
            int id = -1;
            cn_term t = { e.data, e.len };
            size_t pos = 0;
            int r = cn_term_check(e.data, e.len, &pos) == 0 && pos == e.len
                        ? cb_wire_decode(&t, &m, &id) : CB_WIRE_BAD;
            m.from = sim_index(s, id);
            if (r != CB_WIRE_MSG || m.from != e.peer)
                s->faults++;
            if (cut(s, i, e.peer, s->now) || e.gen != s->gen[e.peer][i]) {
                s->dropped++;       /* in flight when the link was cut or replaced */
            } else if (r == CB_WIRE_MSG) {
                ev.kind = CB_EV_MSG;
                ev.msg = &m;
                s->delivered++;
                step(s, i, &ev, ctx);
            }
            free(e.data);
            break;
        }
        }
    }
    for (int i = 0; i < sc->n; i++)
        cb_core_free(s->core[i]);
    free(s->heap);
    cn_buf_free(&s->buf);
}

/* ---- the expected result, computed here --------------------------------- */

static int rec_order(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* prefix[k] = sum of i * v_i over the first k messages */
static unsigned __int128 *prefix_sums(sim *s)
{
    qsort(s->recs, s->nrecs, sizeof *s->recs, rec_order);
    unsigned __int128 *p = malloc((s->nrecs + 1) * sizeof *p);
    p[0] = 0;
    for (size_t k = 0; k < s->nrecs; k++)
        p[k + 1] = p[k] + (unsigned __int128)(k + 1) * s->recs[k].value;
    return p;
}

static void expect_text(unsigned __int128 sum, uint64_t count, char *out, size_t outsz)
{
    cb_sum x = { count, sum };
    cb_sum_format(&x, out, outsz);
}

/* Every node printed the full sequence, and the cores created something. */
static void check_agreement(sim *s)
{
    unsigned __int128 *p = prefix_sums(s);
    char want[128];
    expect_text(p[s->nrecs], s->nrecs, want, sizeof want);
    CHECK(s->nrecs > 0);
    CHECK(s->bad_values == 0);
    CHECK(s->faults == 0);
    for (int i = 0; i < s->sc->n; i++) {
        CHECK(strcmp(s->out[i], want) == 0);
        CHECK(s->complete[i]);
        if (strcmp(s->out[i], want) != 0)
            fprintf(stderr, "  %s node %d: %s, want %s\n", s->sc->name, i, s->out[i], want);
    }
    free(p);
}

/* Fast protocol outside its assumptions: each output is a prefix. */
static void check_prefixes(sim *s)
{
    unsigned __int128 *p = prefix_sums(s);
    for (int i = 0; i < s->sc->n; i++) {
        CHECK(s->out[i][0] != '\0');
        CHECK(s->res[i].count <= s->nrecs);
        if (s->res[i].count <= s->nrecs)
            CHECK(s->res[i].sum == p[s->res[i].count]);
    }
    free(p);
}

static void free_sim(sim *s) { free(s->recs); }

/* ---- scenarios ---------------------------------------------------------- */

static scenario base(const char *name, cb_protocol proto, int n, uint64_t seed)
{
    scenario sc;
    memset(&sc, 0, sizeof sc);
    sc.name = name;
    sc.proto = proto;
    sc.n = n;
    sc.seed = seed;
    sc.net_seed = seed;
    sc.send_for = 400000;
    sc.wait_for = 2000000;
    sc.tick = 10000;
    sc.delay_min = 100;
    sc.delay_max = 600;
    sc.fifo = 1;
    sc.cut_node = -1;
    return sc;
}

static void test_values(void)
{
    /* golden values from an independent implementation (Python) */
    CHECK(cb_rng_value(cb_rng_key(0, 1), 1) == 652448487u);
    CHECK(cb_rng_value(cb_rng_key(42, 1), 1) == 343291923u);
    CHECK(cb_rng_value(cb_rng_key(42, 2), 7) == 776459122u);
    CHECK(cb_rng_value(cb_rng_key(1, 3), 1000000) == 370359565u);
    CHECK(cb_rng_value(cb_rng_key(UINT64_MAX, 100), 5) == 52907138u);
    cb_sum s = { 0, 0 };
    char txt[64];
    cb_sum_format(&s, txt, sizeof txt);
    CHECK(strcmp(txt, "(0, 0.000000000)") == 0);
    cb_sum_add(&s, 500000000);        /* 1 * 0.5 */
    cb_sum_add(&s, 1000000000);       /* 2 * 1.0 */
    uint8_t be[4] = { 0, 0, 0, 7 };   /* 3 * 7e-9 */
    cb_sum_add_be(&s, be, 1);
    cb_sum_format(&s, txt, sizeof txt);
    CHECK(strcmp(txt, "(3, 2.500000021)") == 0);
    s.sum = (unsigned __int128)UINT64_MAX * 1000;
    cb_u128_format(s.sum, txt, sizeof txt);
    CHECK(strcmp(txt, "18446744073709551615000") == 0);
}

static void test_wire(void)
{
    uint8_t vals[8] = { 0, 0, 0, 1, 0x3b, 0x9a, 0xca, 0x00 };
    cb_msg all[] = {
        { .kind = CB_DATA, .seq = 5, .ts = EPOCH + 17, .count = 2, .vals = vals },
        { .kind = CB_END, .seq = 99 },
        { .kind = CB_ACK, .seq = 12, .flag = 1 },
        { .kind = CB_ACK, .seq = 0, .flag = 0 },
        { .kind = CB_DONE },
        { .kind = CB_MSG, .seq = 3, .ts = EPOCH, .value = 1000000000 },
        { .kind = CB_MSG_ACK, .seq = 3 },
        { .kind = CB_FLUSH, .seq = 4 },
        { .kind = CB_FLUSH_ACK, .seq = 4 },
    };
    cn_buf b;
    cn_buf_init(&b);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        cn_buf_reset(&b);
        cb_wire_encode(&b, &all[i], 7);
        cn_term t = { b.data, b.len };
        cb_msg m;
        int id = 0;
        CHECK(cb_wire_decode(&t, &m, &id) == CB_WIRE_MSG);
        CHECK(id == 7 && m.kind == all[i].kind && m.seq == all[i].seq && m.ts == all[i].ts &&
              m.count == all[i].count && m.value == all[i].value && m.flag == all[i].flag);
        if (m.kind == CB_DATA)
            CHECK(memcmp(m.vals, vals, sizeof vals) == 0);
    }
    cn_buf_reset(&b);
    cb_wire_encode_hello(&b, 3);
    cn_term h = { b.data, b.len };
    cb_msg m;
    int id = 0;
    CHECK(cb_wire_decode(&h, &m, &id) == CB_WIRE_HELLO && id == 3);
    /* not ours, or malformed: rejected */
    const char *bad[] = { "{cb_data, 1, 2, 3, 4}", "{cb_ack, 1, 2, maybe}", "{cb_end, 1}",
                          "{cb_msg, 1, 2, 3, -4}", "{cb_flush, x, 1}", "{other, 1}", "cb_done",
                          "{cb_done, 1, 2}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_buf_reset(&b);
        cn_term_build(&b, bad[i]);
        cn_term t = { b.data, b.len };
        CHECK(!cn_buf_failed(&b));
        CHECK(cb_wire_decode(&t, &m, &id) == CB_WIRE_BAD);
    }
    const char *odd[] = { "", "abc" };              /* empty, or not whole words */
    for (size_t i = 0; i < 2; i++) {
        cn_buf_reset(&b);
        cn_term_build(&b, "{cb_data, 1, 2, 3, ~b}", odd[i], strlen(odd[i]));
        cn_term t = { b.data, b.len };
        CHECK(cb_wire_decode(&t, &m, &id) == CB_WIRE_BAD);
    }
    cn_buf_free(&b);
}

static void test_params(void)
{
    int ids[3] = { 1, 2, 2 };
    cb_params p = { .protocol = CB_FAST, .n = 3, .me = 0, .ids = ids, .batch_max = 8,
                    .window = 8, .rto_us = 100000 };
    CHECK(cb_core_new(&p) == NULL);              /* duplicate id */
    ids[2] = 3;
    p.me = 3;
    CHECK(cb_core_new(&p) == NULL);
    p.me = 0;
    p.batch_max = 0;
    CHECK(cb_core_new(&p) == NULL);
    p.batch_max = 8;
    cb_core *c = cb_core_new(&p);
    CHECK(c != NULL);
    /* messages claiming to come from ourselves or nowhere are dropped */
    cb_msg m = { .kind = CB_ACK, .from = 0, .seq = 1 };
    cb_event ev = { .kind = CB_EV_MSG, .now = EPOCH, .msg = &m };
    cb_sink none = { NULL, NULL, NULL, NULL, NULL, NULL };
    cb_core_step(c, &ev, &none);
    m.from = 9;
    cb_core_step(c, &ev, &none);
    cb_stats st;
    cb_core_stats(c, &st);
    CHECK(st.rejected == 2);
    cb_core_free(c);
}

static void run_agree(scenario *sc, const char *what)
{
    sim s;
    run(&s, sc);
    check_agreement(&s);
    if (check_failed)
        fprintf(stderr, "  after %s: delivered %llu dropped %llu created %zu\n", what,
                (unsigned long long)s.delivered, (unsigned long long)s.dropped, s.nrecs);
    free_sim(&s);
}

static void test_scenarios(cb_protocol proto)
{
    const char *pn = cb_protocol_name(proto);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        char name[64];
        snprintf(name, sizeof name, "%s reliable seed %llu", pn, (unsigned long long)seed);
        scenario sc = base(name, proto, 3, seed);
        run_agree(&sc, name);

        snprintf(name, sizeof name, "%s lossy seed %llu", pn, (unsigned long long)seed);
        sc = base(name, proto, 5, seed);
        sc.fifo = 0;                 /* reorders */
        sc.delay_max = 8000;
        sc.drop_pct = 10;
        sc.dup_pct = 5;
        sc.skew[1] = 3000;           /* clocks need not agree */
        sc.skew[3] = -2500;
        sc.start_spread = 150000;
        run_agree(&sc, name);

        snprintf(name, sizeof name, "%s lossy reconnecting seed %llu", pn,
                 (unsigned long long)seed);
        sc.name = name;
        sc.reconnect = 1;            /* a timeout replaces the link */
        run_agree(&sc, name);

        snprintf(name, sizeof name, "%s cut seed %llu", pn, (unsigned long long)seed);
        sc = base(name, proto, 5, seed);
        sc.cut_node = (int)seed % 5;
        sc.cut_at = 100000;
        sc.cut_for = 200000;         /* restored before the wait phase */
        run_agree(&sc, name);

        for (int rc = 0; rc <= 1; rc++) {
            snprintf(name, sizeof name, "%s black hole%s seed %llu", pn,
                     rc ? ", reconnecting" : "", (unsigned long long)seed);
            sc = base(name, proto, 4, seed);
            sc.cut_node = (int)seed % 4;
            sc.cut_at = 100000;
            sc.cut_for = 250000;     /* links stay up, nothing gets through */
            sc.silent = 1;
            sc.reconnect = rc;
            run_agree(&sc, name);
        }
    }
}

/* A node cut off for good from the wait phase on. */
static void test_partition_at_end(void)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        scenario sc = base("fast partition", CB_FAST, 4, seed);
        sc.cut_node = 2;
        sc.cut_at = sc.send_for - 50000;
        sc.cut_for = 0;
        sim s;
        run(&s, &sc);
        check_prefixes(&s);
        CHECK(!s.complete[2]);       /* it knows it may be short */
        free_sim(&s);

        sc = base("fast black hole, reconnecting", CB_FAST, 4, seed);
        sc.cut_node = 1;
        sc.cut_at = sc.send_for - 50000;
        sc.cut_for = 0;
        sc.silent = 1;
        sc.reconnect = 1;
        run(&s, &sc);
        check_prefixes(&s);
        CHECK(!s.complete[1] && s.reconnects > 0);
        free_sim(&s);

        for (int hole = 0; hole <= 1; hole++) {
            sc = base(hole ? "seed black hole, reconnecting" : "seed partition", CB_SEED, 4, seed);
            sc.cut_node = 2;
            sc.cut_at = sc.send_for - 20000;
            sc.cut_for = 0;
            sc.silent = sc.reconnect = hole;
            run(&s, &sc);
            /* at most one message per sender between any two nodes */
            for (int i = 0; i < sc.n; i++)
                for (int j = 0; j < sc.n; j++) {
                    int64_t d = (int64_t)s.res[i].count - (int64_t)s.res[j].count;
                    CHECK(d <= sc.n && d >= -sc.n);
                }
            CHECK(!hole || s.reconnects > 0);
            free_sim(&s);
        }
    }
}

static void test_rate_and_alone(void)
{
    scenario sc = base("fast rate", CB_FAST, 3, 9);
    sc.max_rate = 20000;             /* per node: 8000 in 0.4 s */
    sim s;
    run(&s, &sc);
    check_agreement(&s);
    CHECK(s.nrecs >= 3 * 7000 && s.nrecs <= 3 * 8000 + 3 * 64);
    free_sim(&s);
    for (int proto = CB_FAST; proto <= CB_SEED; proto++) {
        sc = base("alone", (cb_protocol)proto, 1, 5);
        run(&s, &sc);
        check_agreement(&s);
        free_sim(&s);
    }
}

/* Same scenario, same everything. */
static void test_replay(void)
{
    scenario sc = base("replay", CB_FAST, 4, 11);
    sc.fifo = 0;
    sc.drop_pct = 7;
    sc.delay_max = 5000;
    sim a, b;
    run(&a, &sc);
    run(&b, &sc);
    CHECK(a.nrecs == b.nrecs && a.delivered == b.delivered && a.dropped == b.dropped);
    for (int i = 0; i < sc.n; i++)
        CHECK(strcmp(a.out[i], b.out[i]) == 0);
    free_sim(&a);
    free_sim(&b);
}

/* The seed's rules one by one: a message is re-sent every tick until acked,
 * the next goes out as soon as the last ack arrives, a receiver commits on
 * next and on flush, and a repeat changes nothing. */
typedef struct tally {
    int      sends;
    cb_msg   last;
} tally;

static void tally_send(void *ud, int to, const cb_msg *m)
{
    tally *t = ud;
    (void)to;
    t->sends++;
    t->last = *m;
}

static void test_seed_rules(void)
{
    int ids[2] = { 1, 2 };
    cb_params p = { .protocol = CB_SEED, .n = 2, .me = 0, .ids = ids };
    cb_core *c = cb_core_new(&p);
    tally t = { 0 };
    cb_sink out = { &t, tally_send, NULL, NULL, NULL, NULL };
    cb_event up = { .kind = CB_EV_UP, .now = EPOCH, .peer = 1 };
    cb_core_step(c, &up, &out);
    cb_event tick = { .kind = CB_EV_TICK, .now = EPOCH };
    for (int i = 0; i < 5; i++) {
        tick.now += 1000;
        cb_core_step(c, &tick, &out);
    }
    CHECK(t.sends == 5 && t.last.kind == CB_MSG && t.last.seq == 1);
    cb_msg ack = { .kind = CB_MSG_ACK, .from = 1, .seq = 1 };
    cb_event ev = { .kind = CB_EV_MSG, .now = tick.now + 10, .msg = &ack };
    cb_core_step(c, &ev, &out);
    CHECK(t.sends == 6 && t.last.kind == CB_MSG && t.last.seq == 2);   /* at once */
    cb_stats st;
    cb_core_stats(c, &st);
    CHECK(st.created == 2 && st.committed == 1);
    /* receiving */
    cb_msg in = { .kind = CB_MSG, .from = 1, .seq = 1, .ts = EPOCH + 5, .value = 77 };
    ev.msg = &in;
    cb_core_step(c, &ev, &out);
    CHECK(t.last.kind == CB_MSG_ACK && t.last.seq == 1);
    cb_core_step(c, &ev, &out);                  /* again: acked, nothing else */
    CHECK(t.last.kind == CB_MSG_ACK && t.last.seq == 1);
    cb_core_stats(c, &st);
    CHECK(st.received == 1 && st.committed == 1);
    in.seq = 2;
    in.ts += 10;
    cb_core_step(c, &ev, &out);                  /* commits 1 */
    cb_core_stats(c, &st);
    CHECK(st.received == 2 && st.committed == 2);
    cb_msg fl = { .kind = CB_FLUSH, .from = 1, .seq = 2 };
    ev.msg = &fl;
    cb_core_step(c, &ev, &out);                  /* commits 2 */
    CHECK(t.last.kind == CB_FLUSH_ACK && t.last.seq == 2);
    cb_core_stats(c, &st);
    CHECK(st.committed == 3);
    cb_core_free(c);
}

/* The fast protocol's sending rules with a busy connection and a silent
 * peer: nothing goes into a busy connection (the next tick sends what it
 * held back, CB_END included); a timeout asks for a reconnect, then waits
 * twice as long each time up to CB_RTO_MAX_FACTOR * rto; progress resets
 * it; without a reconnect action the core re-sends, never into a busy
 * connection; a new connection gets everything unacked once. */
typedef struct wire_tally {
    int data, ends, reconnects, busy;
} wire_tally;

static void wt_send(void *ud, int to, const cb_msg *m)
{
    wire_tally *t = ud;
    (void)to;
    t->data += m->kind == CB_DATA;
    t->ends += m->kind == CB_END;
}

static int wt_busy(void *ud, int to)
{
    (void)to;
    return ((wire_tally *)ud)->busy;
}

static void wt_reconnect(void *ud, int to)
{
    (void)to;
    ((wire_tally *)ud)->reconnects++;
}

/* Ticks every 10 ms until `until`. */
static void ticks(cb_core *c, uint64_t *now, uint64_t until, const cb_sink *out)
{
    while (*now + 10000 <= until) {
        *now += 10000;
        cb_core_step(c, &(cb_event){ .kind = CB_EV_TICK, .now = *now }, out);
    }
}

static void ack(cb_core *c, uint64_t now, uint64_t upto, int end, const cb_sink *out)
{
    cb_msg m = { .kind = CB_ACK, .from = 1, .seq = upto, .flag = end };
    cb_core_step(c, &(cb_event){ .kind = CB_EV_MSG, .now = now, .msg = &m }, out);
}

static void test_fast_rules(void)
{
    int ids[2] = { 1, 2 };
    const uint64_t rto = 100000;
    cb_params p = { .protocol = CB_FAST, .n = 2, .me = 0, .ids = ids, .batch_max = 4,
                    .window = 16, .rto_us = rto };
    cb_core *c = cb_core_new(&p);
    wire_tally t = { 0 };
    cb_sink out = { &t, wt_send, NULL, NULL, wt_busy, wt_reconnect };
    uint64_t now = EPOCH;
    cb_core_step(c, &(cb_event){ .kind = CB_EV_UP, .now = now, .peer = 1 }, &out);
    ticks(c, &now, now + 10000, &out);
    CHECK(t.data == 4);                          /* the window: 4 batches of 4 */
    t.busy = 1;
    ack(c, now, 4, 0, &out);                     /* room for one more batch... */
    CHECK(t.data == 4);                          /* ...held back: busy */
    t.busy = 0;
    ticks(c, &now, now + 10000, &out);
    CHECK(t.data == 5);
    /* silent from here: a reconnect after rto, then 2, 4, 8, 8 rto later */
    uint64_t t0 = now - 10000;                   /* the ack's progress */
    uint64_t at[] = { 1, 3, 7, 15, 23, 31 };
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        ticks(c, &now, t0 + at[k] * rto - 10000, &out);
        CHECK(t.reconnects == (int)k);
        ticks(c, &now, t0 + at[k] * rto + 10000, &out);
        CHECK(t.reconnects == (int)k + 1);
    }
    CHECK(t.data == 5);                          /* never re-sent into it */
    /* progress: back to rto */
    ack(c, now, 8, 0, &out);
    t0 = now;
    ticks(c, &now, t0 + rto - 10000, &out);
    CHECK(t.reconnects == 6);
    ticks(c, &now, t0 + rto + 10000, &out);
    CHECK(t.reconnects == 7);
    /* the new connection gets everything unacked once: 9..24 (the ack made
     * room for 21..24), 4 batches */
    int before = t.data;
    cb_core_step(c, &(cb_event){ .kind = CB_EV_DOWN, .now = now, .peer = 1 }, &out);
    cb_core_step(c, &(cb_event){ .kind = CB_EV_UP, .now = now, .peer = 1 }, &out);
    CHECK(t.data == before + 4);
    /* without a reconnect action: re-sent into the connection, not if busy */
    cb_sink plain = { &t, wt_send, NULL, NULL, wt_busy, NULL };
    before = t.data;
    t.busy = 1;
    ticks(c, &now, now + rto + 20000, &plain);
    CHECK(t.data == before);
    t.busy = 0;
    ticks(c, &now, now + 2 * rto + 20000, &plain);
    CHECK(t.data == before + 4);
    /* the send phase ends while busy: CB_END waits for the connection */
    t.busy = 1;
    cb_core_step(c, &(cb_event){ .kind = CB_EV_PHASE, .now = now, .phase = CB_PHASE_WAIT },
                 &plain);
    CHECK(t.ends == 0);
    t.busy = 0;
    ticks(c, &now, now + 10000, &plain);
    CHECK(t.ends == 1);
    ack(c, now, 24, 1, &plain);
    ticks(c, &now, now + 20 * rto, &plain);
    CHECK(t.ends == 1 && t.reconnects == 7);     /* nothing in flight: quiet */
    cb_core_free(c);
}

int main(void)
{
    test_values();
    test_wire();
    test_params();
    test_scenarios(CB_FAST);
    test_scenarios(CB_SEED);
    test_partition_at_end();
    test_rate_and_alone();
    test_replay();
    test_seed_rules();
    test_fast_rules();
    cn_atom_cleanup();
    return CHECK_DONE("chatterbox_sim");
}
