/* cb_node.c - the glue: the `chatterbox` process, its timers, connections,
 * output (see cb_node.h).  Everything here is I/O; the protocol lives in
 * the core, which this file feeds with events and whose actions it carries
 * out, each event a turn of the process: messages, and its timers
 * {timeout, _, tick | phase | progress | reconcile | stop}. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../node/cli.h"
#include "cb_node.h"
#include "cb_wire.h"

#define PROBE_MS 100             /* how often to dial peers that are down */
#define DIAL_MS  250             /* a dial not up by then is dropped and made
                                    again: a SYN lost to a partition is
                                    otherwise retried only after 1, 3, 7 s */

typedef struct cb_peer {
    const char *name;            /* from peers.json */
    int         id;
    int         connected;       /* the runtime says the connection is up */
    int         bounced;         /* it went down since the core last heard */
    int         core_up;         /* what the core was told */
    int         reconnect;       /* the core asked for a new connection */
    uint64_t    dial_at;         /* ms: when the pending dial began (0: none) */
} cb_peer;

struct cb_node {
    const cb_config *cfg;
    cn_node        *node;
    cn_proc        *proc;
    cb_core        *core;
    cb_peer        *peer;
    int             n, me;
    int             reconciling; /* a reconcile timer is pending */
    uint64_t        t_start;     /* cn_proc_now at start, ms */
    cb_phase        at;          /* phase reached */
    FILE           *trace;
    cn_buf          enc;         /* the last encoded term */
    int             enc_data;    /* enc holds this batch: */
    uint64_t        enc_seq;
    const uint8_t  *enc_vals;
    int             cut_active, cut_over;
    uint64_t        last_probe;
    uint64_t        traced;      /* committed count in the last commit line */
    cb_stats        last;        /* for progress rates */
    int             printed, stopping, code;
};

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t elapsed_ms(const cb_node *cn) { return cn_proc_now(cn->proc) - cn->t_start; }

/* ---- the core's actions ------------------------------------------------- */

static void act_send(void *ud, int to, const cb_msg *m)
{
    cb_node *cn = ud;
    if (cn->cut_active || cn->stopping)
        return;
    /* a batch goes to every peer: encode it once */
    if (!(m->kind == CB_DATA && cn->enc_data && cn->enc_vals == m->vals && cn->enc_seq == m->seq)) {
        cn_buf_reset(&cn->enc);
        cb_wire_encode(&cn->enc, m, cn->peer[cn->me].id);
        cn->enc_data = m->kind == CB_DATA;
        cn->enc_vals = m->vals;
        cn->enc_seq = m->seq;
    }
    if (cn_buf_failed(&cn->enc)) {
        cn_log(cn->node, CN_LOG_ERROR, "cannot encode %s: out of memory", cb_msg_kind_name(m->kind));
        cn_buf_free(&cn->enc);
        cn_buf_init(&cn->enc);
        cn->enc_data = 0;
        return;
    }
    cn_term t = cn_buf_term(&cn->enc, 0);
    cn_send_named(cn->proc, "chatterbox", cn->peer[to].name, &t);
}

static int act_busy(void *ud, int to)
{
    cb_node *cn = ud;
    return cn_node_busy(cn->node, cn->peer[to].name);
}

/* Done after the tick's step (reconnects), outside the core. */
static void act_reconnect(void *ud, int to)
{
    cb_node *cn = ud;
    cn->peer[to].reconnect = 1;
}

/* --trace only (a test aid): buffered stdio on the loop thread. */
static void act_created(void *ud, uint64_t ts, uint64_t first, uint32_t count, const uint8_t *v)
{
    cb_node *cn = ud;
    if (!cn->trace)
        return;
    for (uint32_t j = 0; j < count; j++, v += 4)
        fprintf(cn->trace, "sent %d %llu %llu %u\n", cn->peer[cn->me].id,
                (unsigned long long)(first + j), (unsigned long long)ts,
                ((unsigned)v[0] << 24) | ((unsigned)v[1] << 16) | ((unsigned)v[2] << 8) | v[3]);
}

static void act_output(void *ud, const cb_result *r)
{
    cb_node *cn = ud;
    char tuple[128], why[512];
    cb_sum_format(&r->sum, tuple, sizeof tuple);
    printf("%s\n", tuple);
    fflush(stdout);
    cn->printed = 1;
    if (r->complete) {
        cn_log(cn->node, CN_LOG_INFO, "result %s", tuple);
    } else {
        cb_core_describe(cn->core, why, sizeof why);
        cn_log(cn->node, CN_LOG_WARN, "result %s printed at the deadline, incomplete: %s", tuple,
               why);
    }
    if (cn->trace) {
        char sum[48];
        cb_u128_format(r->sum.sum, sum, sizeof sum);
        fprintf(cn->trace, "result %llu %s %s\n", (unsigned long long)r->sum.count, sum,
                r->complete ? "complete" : "incomplete");
        fflush(cn->trace);
    }
}

/* --trace: `commit TS COUNT` whenever the fold has grown (TS: the event's
 * wall clock), so that a test can see when commits stall and resume. */
static void trace_commits(cb_node *cn, uint64_t now)
{
    cb_stats st;
    if (!cn->trace)
        return;
    cb_core_stats(cn->core, &st);
    if (st.committed == cn->traced)
        return;
    cn->traced = st.committed;
    fprintf(cn->trace, "commit %llu %llu\n", (unsigned long long)now,
            (unsigned long long)st.committed);
}

static void shutdown_soon(cb_node *cn);

static void step(cb_node *cn, cb_event *ev)
{
    if (cn->stopping)
        return;
    cb_sink out = { cn, act_send, act_created, act_output, act_busy, act_reconnect };
    ev->now = wall_us();
    cb_core_step(cn->core, ev, &out);
    trace_commits(cn, ev->now);
    if (cb_core_finished(cn->core))
        shutdown_soon(cn);
}

/* ---- connections -------------------------------------------------------- */

static int peer_index(const cb_node *cn, const char *name)
{
    for (int i = 0; i < cn->n; i++)
        if (i != cn->me && strcmp(cn->peer[i].name, name) == 0)
            return i;
    return -1;
}

/* Tells the core what the runtime says about each peer; a peer that went
 * down and came back in between is reported down first, so that the core
 * re-sends what the dropped connection may have lost. */
static void reconcile(cb_node *cn)
{
    for (int i = 0; i < cn->n; i++) {
        cb_peer *p = &cn->peer[i];
        if (i == cn->me)
            continue;
        int up = p->connected && !cn->cut_active;
        if (p->core_up && (!up || p->bounced)) {
            p->core_up = 0;
            step(cn, &(cb_event){ .kind = CB_EV_DOWN, .peer = i });
        }
        p->bounced = 0;
        if (up && !p->core_up) {
            p->core_up = 1;
            step(cn, &(cb_event){ .kind = CB_EV_UP, .peer = i });
        }
    }
}

/* Runtime callback: only note it; the core hears on the process's next
 * turn ({timeout, _, reconcile}), outside the runtime's own frames. */
static void on_status(cn_node *n, const char *peer, int up, void *ud)
{
    cb_node *cn = ud;
    int i = peer_index(cn, peer);
    (void)n;
    if (i < 0)
        return;
    if (!up) {
        cn->peer[i].bounced = 1;
        cn->peer[i].dial_at = 0;    /* a dial that failed is over */
    }
    cn->peer[i].connected = up;
    if (!cn->stopping && !cn->reconciling)
        cn->reconciling = cn_start_timerf(cn->proc, 0, NULL, "reconcile") == 0;
}

/* Dials peers that are down by sending them a probe; a dial pending for
 * DIAL_MS is dropped first, so that a healed partition is found by a
 * fresh connection attempt within DIAL_MS + PROBE_MS. */
static void probe(cb_node *cn, uint64_t now_ms)
{
    cn_buf b;
    cn_buf_init(&b);
    cb_wire_encode_hello(&b, cn->peer[cn->me].id);
    cn_term t = cn_buf_term(&b, 0);
    for (int i = 0; i < cn->n; i++) {
        cb_peer *p = &cn->peer[i];
        if (i == cn->me || p->connected) {
            p->dial_at = 0;
            continue;
        }
        if (p->dial_at && now_ms - p->dial_at >= DIAL_MS) {
            cn_log(cn->node, CN_LOG_INFO, "no connection to %s after %d ms: dialing again",
                   p->name, DIAL_MS);
            cn_node_disconnect(cn->node, p->name);
        }
        if (!p->dial_at)
            p->dial_at = now_ms;
        cn_send_named(cn->proc, "chatterbox", p->name, &t);
    }
    cn_buf_free(&b);
}

/* The core found a peer silent: its connection goes, with what it held. */
static void reconnect(cb_node *cn)
{
    for (int i = 0; i < cn->n; i++)
        if (cn->peer[i].reconnect) {
            cn->peer[i].reconnect = 0;
            if (!cn->peer[i].connected)
                continue;
            cn_log(cn->node, CN_LOG_INFO, "%s acked nothing in time: reconnecting",
                   cn->peer[i].name);
            cn_node_disconnect(cn->node, cn->peer[i].name);
        }
}

/* --cut-at / --cut-for: the node drops its connections from inside. */
static void cut(cb_node *cn, uint64_t now_ms)
{
    const cb_config *cfg = cn->cfg;
    uint64_t at = cfg->cut_at_us / 1000, until = at + cfg->cut_for_us / 1000;
    if (!cfg->cut || cn->cut_over || now_ms < at)
        return;
    if (!cn->cut_active) {
        cn->cut_active = 1;
        cn_log(cn->node, CN_LOG_WARN, "cut: dropping every connection to the cluster for %llu ms",
               (unsigned long long)(until - at));
        if (cn->trace)
            fprintf(cn->trace, "cut start %llu\n", (unsigned long long)wall_us());
        reconcile(cn);
    }
    if (now_ms >= until) {
        cn->cut_active = 0;
        cn->cut_over = 1;
        cn_log(cn->node, CN_LOG_WARN, "cut: over, reconnecting");
        if (cn->trace)
            fprintf(cn->trace, "cut end %llu\n", (unsigned long long)wall_us());
        reconcile(cn);
        return;
    }
    for (int i = 0; i < cn->n; i++)
        if (i != cn->me && cn->peer[i].connected) {
            cn_log(cn->node, CN_LOG_INFO, "cut: disconnecting %s", cn->peer[i].name);
            cn_node_disconnect(cn->node, cn->peer[i].name);
        }
}

/* ---- the ticker and the phases ------------------------------------------ */

static void on_tick(cb_node *cn)
{
    cn_start_timerf(cn->proc, cn->cfg->tick_ms, NULL, "tick");
    uint64_t now = elapsed_ms(cn);
    cut(cn, now);
    if (!cn->cut_active && now - cn->last_probe >= PROBE_MS) {
        cn->last_probe = now;
        probe(cn, now);
    }
    step(cn, &(cb_event){ .kind = CB_EV_TICK });
    reconnect(cn);
}

static void on_phase(cb_node *cn)
{
    cn->at++;
    if (cn->at == CB_PHASE_WAIT) {
        cn_log(cn->node, CN_LOG_INFO, "send phase over");
        cn_start_timerf(cn->proc, cn->cfg->wait_for_us / 1000, NULL, "phase");
    } else {
        cn_log(cn->node, CN_LOG_INFO, "wait phase over");
    }
    step(cn, &(cb_event){ .kind = CB_EV_PHASE, .phase = cn->at });
}

/* --progress: a line a second on stderr. */
static void print_progress(cb_node *cn)
{
    cb_stats st;
    cb_core_stats(cn->core, &st);
    int up = 0;
    for (int i = 0; i < cn->n; i++)
        up += i != cn->me && cn->peer[i].core_up;
    fprintf(stderr,
            "chatterbox %s: %.1f s %s: sent %llu (+%llu/s) received %llu (+%llu/s) committed "
            "%llu (+%llu/s) resent %llu, reconnects %llu, peers up %d/%d\n",
            cn_node_name(cn->node), (double)elapsed_ms(cn) / 1000,
            cn->at == CB_PHASE_SEND ? "send" : "wait", (unsigned long long)st.created,
            (unsigned long long)(st.created - cn->last.created), (unsigned long long)st.received,
            (unsigned long long)(st.received - cn->last.received),
            (unsigned long long)st.committed,
            (unsigned long long)(st.committed - cn->last.committed),
            (unsigned long long)st.resent, (unsigned long long)st.reconnects, up, cn->n - 1);
    cn->last = st;
}

/* Stops on the process's next turn ({timeout, _, stop}), after the core's
 * actions of this one.  Ticks and the other timers are ignored from here. */
static void shutdown_soon(cb_node *cn)
{
    if (cn->stopping)
        return;
    cn->stopping = 1;
    if (cn->cfg->progress)
        print_progress(cn);
    if (cn_start_timerf(cn->proc, 0, NULL, "stop") < 0)
        cn_node_stop(cn->node);
}

/* {timeout, _, What}: CN_OK if msg is one of the process's timers. */
static int on_timer(cb_node *cn, const cn_term *msg)
{
    char what[16];
    if (!cn_term_match(msg, "{timeout, _, ~a}", what))
        return CN_UNHANDLED;
    if (strcmp(what, "stop") == 0) {
        cn_node_stop(cn->node);
    } else if (cn->stopping) {
        /* the run is over: the last timers lapse */
    } else if (strcmp(what, "tick") == 0) {
        on_tick(cn);
    } else if (strcmp(what, "phase") == 0) {
        on_phase(cn);
    } else if (strcmp(what, "progress") == 0) {
        cn_start_timerf(cn->proc, 1000, NULL, "progress");
        print_progress(cn);
    } else if (strcmp(what, "reconcile") == 0) {
        cn->reconciling = 0;
        reconcile(cn);
    } else {
        return CN_UNHANDLED;
    }
    return CN_OK;
}

/* ---- the `chatterbox` process (the listener) ---------------------------- */

static int cb_info(cn_proc *p, const cn_term *msg)
{
    cb_node *cn = cn_proc_state(p);
    cb_msg m;
    int id = 0;
    int r = cb_wire_decode(msg, &m, &id);
    if (r == CB_WIRE_BAD && cn_term_match(msg, "{cn_drained, _}"))
        return CN_OK;               /* a refused send's news: ticks pump again */
    if (r == CB_WIRE_BAD)
        return on_timer(cn, msg);
    if (cn->cut_active || r == CB_WIRE_HELLO)
        return CN_OK;
    for (int i = 0; i < cn->n; i++)
        if (cn->peer[i].id == id)
            m.from = i;
    if (m.from < 0 || m.from == cn->me) {
        cn_log(cn->node, CN_LOG_WARN, "%s from id %d, which is not a peer in %s: dropped",
               cb_msg_kind_name(m.kind), id, cn->cfg->peers_path);
        return CN_OK;
    }
    step(cn, &(cb_event){ .kind = CB_EV_MSG, .msg = &m });
    return CN_OK;
}

static void cb_terminate(cn_proc *p, const cn_term *reason)
{
    cb_node *cn = cn_proc_state(p);
    (void)reason;
    cn->stopping = 1;               /* SIGINT/SIGTERM, or our own stop */
}

static const cn_proc_ops cb_proc_ops = {
    .kind = "chatterbox",
    .handle_info = cb_info,
    .terminate = cb_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

/* ---- start and finish --------------------------------------------------- */

static int setup(cb_node *cn, char *err, size_t errlen)
{
    const cb_config *cfg = cn->cfg;
    cn->me = cb_config_self(cfg, cn_node_name(cn->node), err, errlen);
    if (cn->me < 0)
        return CB_EXIT_USAGE;
    cn->n = (int)cfg->peers.count;
    cn->peer = calloc((size_t)cn->n, sizeof *cn->peer);
    int *ids = calloc((size_t)cn->n, sizeof *ids);
    if (!cn->peer || !ids) {
        free(ids);
        snprintf(err, errlen, "out of memory");
        return CB_EXIT_RUNTIME;
    }
    for (int i = 0; i < cn->n; i++) {
        cn->peer[i].name = cfg->peers.nodes[i].name;
        cn->peer[i].id = ids[i] = cfg->peers.nodes[i].id;
    }
    cb_params p = { .protocol = cfg->protocol, .n = cn->n, .me = cn->me, .ids = ids,
                    .seed = cfg->seed, .batch_max = cfg->batch, .window = cfg->window,
                    .max_rate = cfg->max_rate, .rto_us = (uint64_t)cfg->rto_ms * 1000 };
    cn->core = cb_core_new(&p);
    free(ids);
    if (!cn->core) {
        snprintf(err, errlen, "cannot create the protocol state");
        return CB_EXIT_RUNTIME;
    }
    if (cfg->trace_path && !(cn->trace = fopen(cfg->trace_path, "w"))) {
        snprintf(err, errlen, "--trace %s: cannot open for writing", cfg->trace_path);
        return CB_EXIT_USAGE;
    }
    cn->proc = cn_spawn(cn->node, &cb_proc_ops, NULL, "chatterbox");
    if (!cn->proc) {
        snprintf(err, errlen, "cannot register the chatterbox process");
        return CB_EXIT_RUNTIME;
    }
    cn_proc_set_state(cn->proc, cn);
    return 0;
}

cb_node *cb_node_new(const cb_config *cfg)
{
    cb_node *cn = calloc(1, sizeof *cn);
    if (cn) {
        cn->cfg = cfg;
        cn_buf_init(&cn->enc);
    }
    return cn;
}

int cb_node_start(cn_node *n, void *ud)
{
    cb_node *cn = ud;
    const cb_config *cfg = cn->cfg;
    char err[600];
    cn->node = n;
    if ((cn->code = setup(cn, err, sizeof err)) != 0) {
        if (cn->code == CB_EXIT_USAGE)
            cn_cli_usage_error("chatterbox", "%s", err);    /* one line, as flags */
        else
            fprintf(stderr, "chatterbox: %s\n", err);
        return cn->code;
    }
    cn_node_on_status(n, on_status, cn);
    cn->t_start = cn_proc_now(cn->proc);
    if (cn_start_timerf(cn->proc, 0, NULL, "tick") < 0 ||
        cn_start_timerf(cn->proc, cfg->send_for_us / 1000, NULL, "phase") < 0 ||
        (cfg->progress && cn_start_timerf(cn->proc, 1000, NULL, "progress") < 0)) {
        fprintf(stderr, "chatterbox: out of memory\n");
        return cn->code = CB_EXIT_RUNTIME;
    }
    fprintf(stderr, "chatterbox: %s ready: id %d of %d nodes, protocol %s, send %.3g s, "
            "wait %.3g s, seed %llu\n", cn_node_name(n), cn->peer[cn->me].id, cn->n,
            cb_protocol_name(cfg->protocol), (double)cfg->send_for_us / 1e6,
            (double)cfg->wait_for_us / 1e6, (unsigned long long)cfg->seed);
    if (cn->trace)
        fprintf(cn->trace, "ready %s %d %s\n", cn_node_name(n), cn->peer[cn->me].id,
                cb_protocol_name(cfg->protocol));
    return 0;
}

int cb_node_free(cb_node *cn)
{
    int code = cn->code;
    if (cn->trace)
        fclose(cn->trace);
    cb_core_free(cn->core);
    cn_buf_free(&cn->enc);
    free(cn->peer);
    free(cn);
    return code;
}
