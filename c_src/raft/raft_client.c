/* raft_client.c - raft_kv's client and load modes (see raft_client.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "raft_admin.h"
#include "raft_client.h"
#include "raft_wire.h"

#define CALL_TIMEOUT_MS 5000         /* the seed's client waits 5 s */
#define SWEEP_MS 250                 /* load: how often timed-out puts are counted */
#define BACKOFF_MIN_MS 10            /* load: the pause after an error, doubling */
#define BACKOFF_MAX_MS 500           /* ... up to this while errors go on */
#define RESOLVE_TIMEOUT_MS 5000

static const char *const KEYS[] = { "a", "b", "c", "d", "e" };

/* splitmix64: reproducible op choices from --seed */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---- shared: finding a node's Subject ----------------------------------- */

typedef void (*subject_cb)(cn_proc *p, const cn_subject *s);

typedef struct find {
    subject_cb cb;
    char       node[CN_ATOM_BUF];
} find;

static void got_subject(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    find *f = ud;
    subject_cb cb = f->cb;
    cn_subject s;
    if (st != CN_CALL_OK || cn_subject_from_term(reply, &s) < 0) {
        char why[1400];
        if (st == CN_CALL_OK)
            snprintf(why, sizeof why, "%s answered no Subject", f->node);
        else
            raft_call_failure(p, f->node, st, reply, why, sizeof why);
        fprintf(stderr, "raft_kv: %s\n", why);
        free(f);
        cb(p, NULL);
        return;
    }
    free(f);
    cb(p, &s);
}

static void find_subject(cn_proc *p, const char *node, subject_cb cb)
{
    cn_term req = cn_fmt(p, "subject");
    cn_dest d = { NULL, "raft_kv", node };
    find *f = malloc(sizeof *f);
    if (!f) {
        cb(p, NULL);
        return;
    }
    f->cb = cb;
    snprintf(f->node, sizeof f->node, "%s", node);
    if (cn_call(p, d, &req, RESOLVE_TIMEOUT_MS, got_subject, f) < 0) {
        const char *dial = cn_node_dial_error(cn_proc_node(p), node);
        fprintf(stderr, "raft_kv: cannot reach %s%s%s\n", node, dial ? ": " : "", dial ? dial : "");
        free(f);
        cb(p, NULL);
    }
}

/* ---- client ------------------------------------------------------------- */

typedef struct client {
    raft_client_config cfg;
    int        *status;
    cn_subject  node;
    int         left, failures;
    uint64_t    rng;
    cn_buf      cmd;             /* the operation in flight, as a Command */
} client;

static void client_next(cn_proc *p);

static void build_request(cn_buf *b, const cn_subject *reply_to, void *ud)
{
    raft_wire_put_client(b, ud, reply_to);
}

static void client_reply(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    client *c = cn_proc_state(p);
    cn_term cmd = cn_buf_term(&c->cmd, 0);
    const char *k, *v, *r;
    size_t kl, vl, rl;
    (void)ud;
    if (st != CN_CALL_OK) {
        printf("[client] request failed: %s\n", st == CN_CALL_TIMEOUT ? "timeout" : "node down");
        c->failures++;
    } else if (cn_term_match(&cmd, "{put, ~b, ~b}", &k, &kl, &v, &vl)) {
        if (cn_term_match(reply, "op_ok"))
            printf("[client] PUT \"%.*s\" = \"%.*s\" -> OK\n", (int)kl, k, (int)vl, v);
        else if (cn_term_match(reply, "{op_error, ~b}", &r, &rl))
            printf("[client] PUT \"%.*s\" = \"%.*s\" -> %.*s\n", (int)kl, k, (int)vl, v, (int)rl, r);
    } else if (cn_term_match(&cmd, "{get, ~b}", &k, &kl)) {
        if (cn_term_match(reply, "{ok, ~b}", &v, &vl))
            printf("[client] GET \"%.*s\" -> \"%.*s\"\n", (int)kl, k, (int)vl, v);
        else if (cn_term_match(reply, "{error, ~b}", &r, &rl))
            printf("[client] GET \"%.*s\" -> %.*s\n", (int)kl, k, (int)rl, r);
    } else if (cn_term_match(&cmd, "{delete, ~b}", &k, &kl)) {
        if (cn_term_match(reply, "op_ok"))
            printf("[client] DELETE \"%.*s\" -> OK\n", (int)kl, k);
        else if (cn_term_match(reply, "{op_error, ~b}", &r, &rl))
            printf("[client] DELETE \"%.*s\" -> %.*s\n", (int)kl, k, (int)rl, r);
    }
    fflush(stdout);
    client_next(p);
}

static void client_next(cn_proc *p)
{
    client *c = cn_proc_state(p);
    if (c->left == 0) {
        printf("[client] Finished all %d requests\n", c->cfg.ops);
        fflush(stdout);
        if (c->failures)
            *c->status = 1;
        if (c->cfg.report) {
            cn_sendf(p, c->cfg.report, "{raft_client_done, ~i}", c->cfg.id);
            cn_stop_atom(p, "normal");
        } else {
            cn_node_stop(cn_proc_node(p));
        }
        return;
    }
    c->left--;
    int kind = (int)(next_rand(&c->rng) % 3);
    const char *key = KEYS[next_rand(&c->rng) % 5];
    char val[32];
    snprintf(val, sizeof val, "val_%d", (int)(next_rand(&c->rng) % 100));
    cn_buf_reset(&c->cmd);
    if (kind == 0)
        cn_term_build(&c->cmd, "{get, ~s}", key);
    else if (kind == 1)
        cn_term_build(&c->cmd, "{put, ~s, ~s}", key, val);
    else
        cn_term_build(&c->cmd, "{delete, ~s}", key);
    cn_term cmd = cn_buf_term(&c->cmd, 0);
    if (cn_gleam_call(p, &c->node, build_request, CALL_TIMEOUT_MS, client_reply, &cmd) < 0)
        client_reply(p, CN_CALL_DOWN, NULL, NULL);
}

static void client_found(cn_proc *p, const cn_subject *s)
{
    client *c = cn_proc_state(p);
    if (!s) {
        *c->status = 1;
        cn_node_stop(cn_proc_node(p));
        return;
    }
    c->node = *s;
    printf("[client] Starting \xe2\x80\x94 will send %d requests\n", c->cfg.ops);
    client_next(p);
}

static int client_init(cn_proc *p, void *arg)
{
    client *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->cfg = *(const raft_client_config *)((void **)arg)[0];
    c->status = ((void **)arg)[1];
    c->left = c->cfg.ops;
    c->rng = c->cfg.seed ? c->cfg.seed : uv_hrtime();
    cn_proc_set_state(p, c);
    if (c->cfg.subject)
        client_found(p, c->cfg.subject);
    else
        find_subject(p, c->cfg.nodes[0], client_found);
    return 0;
}

static void client_terminate(cn_proc *p, const cn_term *reason)
{
    client *c = cn_proc_state(p);
    (void)reason;
    cn_buf_free(&c->cmd);
    free(c);
}

static const cn_proc_ops client_ops = {
    .kind = "raft_client", .init = client_init, .terminate = client_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

cn_proc *raft_client_start(cn_node *n, const raft_client_config *cfg, int *status)
{
    void *arg[2] = { (void *)cfg, status };
    return cn_spawn(n, &client_ops, arg, NULL);
}

/* ---- load --------------------------------------------------------------- */

typedef struct inflight_req {
    UT_hash_handle hh;
    cn_ref   tag;
    uint64_t started_ns;
} inflight_req;

typedef struct load {
    raft_client_config cfg;
    int          *status;
    cn_subject    node;           /* where requests go (the leader, once known) */
    size_t        target;
    inflight_req *inflight;
    uint64_t      next_key, done, errors, timeouts, redirects;
    unsigned      backoff_ms;     /* errors in a row: sends pause (no quorum) */
    int           paused;
    uint64_t      run_id;         /* keys are fresh in every run */
    uint64_t      start_ns, end_ns;
    uint64_t     *lat;            /* microseconds */
    size_t        nlat, caplat;
    char         *value;
    int           stopping;
    cn_buf        buf;
} load;

static void load_fill(cn_proc *p);

static void send_put(cn_proc *p)
{
    load *l = cn_proc_state(p);
    inflight_req *q = calloc(1, sizeof *q);
    if (!q)
        return;
    cn_subject reply;
    cn_subject_new(p, &reply);
    q->tag = reply.tag;
    q->started_ns = uv_hrtime();
    HASH_ADD(hh, l->inflight, tag, sizeof q->tag, q);
    char key[48];
    uint64_t n = l->next_key++, keys = l->cfg.keys;
    int del = keys && (n / keys) % 2 == 1;    /* odd rounds take back the even ones' */
    snprintf(key, sizeof key, "k%llu_%llu", (unsigned long long)l->run_id,
             (unsigned long long)(keys ? n % keys : n));
    cn_buf_reset(&l->buf);
    cn_term_put_tuple(&l->buf, del ? 3 : 4);
    cn_term_put_atom(&l->buf, del ? "client_delete" : "client_put");
    cn_term_put_binary(&l->buf, key, strlen(key));
    if (!del)
        cn_term_put_binary(&l->buf, l->value, (size_t)l->cfg.value_bytes);
    cn_subject_put(&l->buf, &reply);
    cn_term t = cn_buf_term(&l->buf, 0);
    cn_subject_send(p, &l->node, &t);
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void load_report(cn_proc *p)
{
    load *l = cn_proc_state(p);
    double secs = (double)(l->end_ns - l->start_ns) / 1e9;
    qsort(l->lat, l->nlat, sizeof *l->lat, by_value);
    double p50 = l->nlat ? (double)l->lat[l->nlat / 2] / 1000.0 : 0;
    double p99 = l->nlat ? (double)l->lat[(l->nlat * 99) / 100] / 1000.0 : 0;
    double max = l->nlat ? (double)l->lat[l->nlat - 1] / 1000.0 : 0;
    printf("{\"ops\": %llu, \"errors\": %llu, \"timeouts\": %llu, \"unanswered\": %u, "
           "\"seconds\": %.3f, \"writes_per_s\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
           "\"max_ms\": %.3f, \"inflight\": %d}\n",
           (unsigned long long)l->done, (unsigned long long)l->errors,
           (unsigned long long)l->timeouts, HASH_COUNT(l->inflight), secs,
           secs > 0 ? (double)l->done / secs : 0, p50, p99, max, l->cfg.inflight);
    fflush(stdout);
    *l->status = l->done > 0 ? 0 : 1;
    cn_node_stop(cn_proc_node(p));
}

/* Puts unanswered for CALL_TIMEOUT_MS are counted as timeouts (their
 * outcome is unknown) and their slots refilled. */
static void sweep(cn_proc *p)
{
    load *l = cn_proc_state(p);
    uint64_t now = uv_hrtime();
    inflight_req *q, *tmp;
    HASH_ITER(hh, l->inflight, q, tmp) {
        if (now - q->started_ns < (uint64_t)CALL_TIMEOUT_MS * 1000000u)
            continue;
        cn_subject s = { .owner = *cn_self(p), .tag = q->tag };
        HASH_DEL(l->inflight, q);
        cn_subject_drop(p, &s);
        free(q);
        l->timeouts++;
    }
    cn_start_timerf(p, SWEEP_MS, NULL, "sweep");
    load_fill(p);
}

/* An error answer ("not leader" while there is none, "replication failed"
 * without a quorum): sends pause, for longer while errors go on, instead
 * of spinning on a cluster that cannot take them. */
static void back_off(cn_proc *p)
{
    load *l = cn_proc_state(p);
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (l->backoff_ms > BACKOFF_MAX_MS)
        l->backoff_ms = BACKOFF_MAX_MS;
    if (!l->paused && cn_start_timerf(p, l->backoff_ms, NULL, "resume") == 0)
        l->paused = 1;
}

/* Its timers: {timeout, _, load_over | sweep | resume}. */
static int load_info(cn_proc *p, const cn_term *msg)
{
    load *l = cn_proc_state(p);
    if (l->stopping)
        return CN_OK;
    if (cn_term_match(msg, "{timeout, _, sweep}"))
        return sweep(p), CN_OK;
    if (cn_term_match(msg, "{timeout, _, resume}")) {
        l->paused = 0;
        load_fill(p);
        return CN_OK;
    }
    if (!cn_term_match(msg, "{timeout, _, load_over}"))
        return CN_UNHANDLED;
    l->stopping = 1;
    l->end_ns = uv_hrtime();
    load_report(p);
    return CN_OK;
}

static int load_subject(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    load *l = cn_proc_state(p);
    inflight_req *q = NULL;
    HASH_FIND(hh, l->inflight, &s->tag, sizeof s->tag, q);
    if (!q)
        return CN_OK;
    HASH_DEL(l->inflight, q);
    cn_subject_drop(p, s);
    if (l->stopping) {
        free(q);
        return CN_OK;
    }
    if (cn_term_match(msg, "op_ok")) {
        uint64_t us = (uv_hrtime() - q->started_ns) / 1000;
        if (l->nlat == l->caplat) {
            size_t cap = l->caplat ? l->caplat * 2 : 65536;
            uint64_t *v = realloc(l->lat, cap * sizeof *v);
            if (v) {
                l->lat = v;
                l->caplat = cap;
            }
        }
        if (l->nlat < l->caplat)
            l->lat[l->nlat++] = us;
        l->done++;
        l->backoff_ms = 0;
    } else {
        l->errors++;
        back_off(p);
    }
    free(q);
    load_fill(p);
    return CN_OK;
}

static void load_fill(cn_proc *p)
{
    load *l = cn_proc_state(p);
    while (!l->stopping && !l->paused && HASH_COUNT(l->inflight) < (unsigned)l->cfg.inflight)
        send_put(p);
}

static void load_found(cn_proc *p, const cn_subject *s)
{
    load *l = cn_proc_state(p);
    if (!s) {
        *l->status = 1;
        cn_node_stop(cn_proc_node(p));
        return;
    }
    l->node = *s;
    l->start_ns = uv_hrtime();
    if (cn_start_timerf(p, (uint64_t)(l->cfg.seconds * 1000), NULL, "load_over") < 0 ||
        cn_start_timerf(p, SWEEP_MS, NULL, "sweep") < 0) {
        fprintf(stderr, "raft_kv load: out of memory\n");
        *l->status = 1;
        cn_node_stop(cn_proc_node(p));
        return;
    }
    load_fill(p);
}

static int load_init(cn_proc *p, void *arg)
{
    load *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->cfg = *(const raft_client_config *)((void **)arg)[0];
    l->status = ((void **)arg)[1];
    l->run_id = l->cfg.seed ? l->cfg.seed : uv_hrtime();
    l->value = malloc((size_t)l->cfg.value_bytes + 1);
    cn_proc_set_state(p, l);
    if (!l->value)
        return -1;
    memset(l->value, 'v', (size_t)l->cfg.value_bytes);
    find_subject(p, l->cfg.nodes[0], load_found);
    return 0;
}

static void load_terminate(cn_proc *p, const cn_term *reason)
{
    load *l = cn_proc_state(p);
    (void)reason;
    inflight_req *q, *tmp;
    HASH_ITER(hh, l->inflight, q, tmp) {
        HASH_DEL(l->inflight, q);
        free(q);
    }
    free(l->lat);
    free(l->value);
    cn_buf_free(&l->buf);
    free(l);
}

static const cn_proc_ops load_ops = {
    .kind = "raft_load", .init = load_init, .handle_subject = load_subject,
    .handle_info = load_info,
    .terminate = load_terminate, .unhandled = CN_UNHANDLED_DROP,
};

cn_proc *raft_load_start(cn_node *n, const raft_client_config *cfg, int *status)
{
    void *arg[2] = { (void *)cfg, status };
    return cn_spawn(n, &load_ops, arg, NULL);
}
