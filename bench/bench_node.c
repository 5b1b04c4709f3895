/* bench_node.c - the C side of the distribution benchmarks (make bench).
 *
 *   bench_node --sname NAME --cookie C
 *
 * Registered processes:
 *   sink    call {expect, N, ReportPid} -> {ok, SinkPid}: counts the next N
 *           messages of any kind, then sends {sink_done, N} to ReportPid;
 *           call {expect, N, ReportPid, decode}: the same, but decodes each
 *           message as an Erlang receive does: a binary's bytes are copied
 *           out of the packet into memory of their own (then freed), any
 *           other term is checked whole;
 *           call {expect_latency, N, ReportPid} -> {ok, SinkPid}: the next N
 *           messages are {t, SentNs} (os:system_time(nanosecond) when sent);
 *           then sends {sink_latency, N, P50Us, P99Us, MaxUs} to ReportPid
 *   source  call {send, Dest, N, Bytes, ReportPid}: sends N binaries of Bytes
 *           bytes to Dest (a pid or {Name, Node}) as fast as the connection
 *           takes them (pausing on cn_send_busy), then {source_done, N}: one
 *           payload encoded once and sent N times;
 *           call {send, Dest, N, Bytes, ReportPid, encode}: the same, but
 *           each message is encoded from the bytes anew, as an Erlang send
 *           encodes its term
 *   echo    call T: replies T (for round-trip latency)
 * Prints "ready NODE" when registered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../c_src/node/cli.h"

#define SOURCE_BATCH 2048

/* ---- sink --------------------------------------------------------------- */

typedef struct sink {
    long   expect, got;
    cn_pid report;
    long  *lat_ns;                  /* latency mode: one per message */
    int    decode;                  /* decode every message */
} sink;

/* Of what was decoded: volatile, so the compiler keeps the work. */
static volatile unsigned long decoded_checksum;

static sink the_sink;

static int sink_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    sink *s = &the_sink;
    free(s->lat_ns);
    s->lat_ns = NULL;
    s->decode = 0;
    if (cn_term_match(req, "{expect_latency, ~l, ~p}", &s->expect, &s->report) &&
        s->expect > 0 && s->expect <= (1L << 24))
        s->lat_ns = malloc((size_t)s->expect * sizeof *s->lat_ns);
    else if (cn_term_match(req, "{expect, ~l, ~p, decode}", &s->expect, &s->report))
        s->decode = 1;
    else if (!cn_term_match(req, "{expect, ~l, ~p}", &s->expect, &s->report))
        return CN_UNHANDLED;
    s->got = 0;
    cn_replyf(p, from, "{ok, ~p}", cn_self(p));
    return CN_OK;
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void report_latency(cn_proc *p, sink *s)
{
    qsort(s->lat_ns, (size_t)s->got, sizeof *s->lat_ns, cmp_long);
    cn_sendf(p, &s->report, "{sink_latency, ~l, ~l, ~l, ~l}", s->got,
             s->lat_ns[s->got / 2] / 1000, s->lat_ns[s->got * 99 / 100] / 1000,
             s->lat_ns[s->got - 1] / 1000);
    free(s->lat_ns);
    s->lat_ns = NULL;
}

/* A message decoded as a receive copies it onto the process heap. */
static void decode(const cn_term *msg)
{
    const char *bytes;
    size_t len;
    if (!cn_term_match(msg, "~b", &bytes, &len)) {
        size_t pos = 0;
        decoded_checksum += (unsigned long)cn_term_check(msg->data, msg->len, &pos) + pos;
        return;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, bytes, len);
    decoded_checksum += len ? (unsigned char)copy[len - 1] : 0;
    free(copy);
}

static int sink_info(cn_proc *p, const cn_term *msg)
{
    sink *s = &the_sink;
    long sent;
    if (s->decode)
        decode(msg);
    if (s->lat_ns && s->got < s->expect)
        s->lat_ns[s->got] = cn_term_match(msg, "{t, ~l}", &sent) ? now_ns() - sent : 0;
    if (++s->got != s->expect)
        return CN_OK;
    if (s->lat_ns)
        report_latency(p, s);
    else
        cn_sendf(p, &s->report, "{sink_done, ~l}", s->got);
    return CN_OK;
}

static void sink_terminate(cn_proc *p, const cn_term *reason)
{
    (void)p;
    (void)reason;
    free(the_sink.lat_ns);
    the_sink.lat_ns = NULL;
}

/* Unlimited mailbox, as an Erlang sink's: a sender faster than the sink
 * (C->C, or any path on a busy machine) queues what the sink has not
 * handled yet instead of meeting the default limit, which kills the
 * process with {mailbox_full, _} and would end the run short. */
static const cn_proc_ops sink_ops = {
    .kind = "sink", .handle_call = sink_call, .handle_info = sink_info,
    .terminate = sink_terminate, .unhandled = CN_UNHANDLED_DROP,
    .mailbox_limit = CN_MAILBOX_UNLIMITED,
};

/* ---- source ------------------------------------------------------------- */

typedef struct source {
    long    left, total;
    int     to_pid;
    cn_pid  pid;
    char    name[CN_ATOM_BUF], node[CN_ATOM_BUF];
    cn_pid  report;
    cn_buf  payload;
    char   *bytes;                  /* encode mode: the payload's bytes */
    size_t  nbytes;
} source;

static source the_source;

static void source_send_batch(cn_proc *p)
{
    source *s = &the_source;
    cn_term msg = cn_buf_term(&s->payload, 0);
    const char *node = s->to_pid ? s->pid.node : s->node;
    for (int i = 0; i < SOURCE_BATCH && s->left > 0; i++, s->left--) {
        if (s->bytes) {
            cn_buf_reset(&s->payload);
            cn_term_put_binary(&s->payload, s->bytes, s->nbytes);
            msg = cn_buf_term(&s->payload, 0);
        }
        if (s->to_pid)
            cn_send(p, &s->pid, &msg);
        else
            cn_send_named(p, s->name, s->node, &msg);
    }
    if (s->left == 0) {
        cn_sendf(p, &s->report, "{source_done, ~l}", s->total);
        return;
    }
    if (!cn_send_busy(p, node))
        cn_sendf(p, cn_self(p), "continue");   /* yield, then go on */
    /* else {cn_drained, Node} arrives when the connection has room */
}

static int source_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    source *s = &the_source;
    cn_term dest;
    long bytes;
    int encode = cn_term_match(req, "{send, ~t, ~l, ~l, ~p, encode}", &dest, &s->total, &bytes,
                               &s->report);
    if ((!encode &&
         !cn_term_match(req, "{send, ~t, ~l, ~l, ~p}", &dest, &s->total, &bytes, &s->report)) ||
        bytes < 0 || bytes > (1 << 24))
        return CN_UNHANDLED;
    s->to_pid = cn_term_match(&dest, "~p", &s->pid);
    if (!s->to_pid && !cn_term_match(&dest, "{~a, ~a}", s->name, s->node))
        return CN_UNHANDLED;
    char *data = calloc(1, (size_t)bytes + 1);
    memset(data, 'x', (size_t)bytes);
    cn_buf_reset(&s->payload);
    cn_term_put_binary(&s->payload, data, (size_t)bytes);
    free(s->bytes);
    s->bytes = NULL;
    if (encode) {
        s->bytes = data;
        s->nbytes = (size_t)bytes;
    } else {
        free(data);
    }
    s->left = s->total;
    cn_replyf(p, from, "ok");
    source_send_batch(p);
    return CN_OK;
}

static int source_info(cn_proc *p, const cn_term *msg)
{
    if (cn_term_match(msg, "continue") || cn_term_match(msg, "{cn_drained, _}")) {
        if (the_source.left > 0)
            source_send_batch(p);
        return CN_OK;
    }
    return CN_UNHANDLED;
}

static void source_terminate(cn_proc *p, const cn_term *reason)
{
    (void)p;
    (void)reason;
    cn_buf_free(&the_source.payload);
    free(the_source.bytes);
}

static const cn_proc_ops source_ops = {
    .kind = "source", .handle_call = source_call, .handle_info = source_info,
    .terminate = source_terminate, .unhandled = CN_UNHANDLED_LOG,
};

/* ---- echo --------------------------------------------------------------- */

static int echo_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    cn_reply(p, from, req);
    return CN_OK;
}

static const cn_proc_ops echo_ops = { .kind = "echo", .handle_call = echo_call };

static int start(cn_node *n, void *ud)
{
    (void)ud;
    return cn_spawn(n, &sink_ops, NULL, "sink") && cn_spawn(n, &source_ops, NULL, "source") &&
                   cn_spawn(n, &echo_ops, NULL, "echo")
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = { CN_CLI_OPTIONS, { 0, 0, 0, 0 } };
    cn_node_config cfg = { 0 };
    int c;
    cn_cli_args(argc, argv);
    while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1)
        if (cn_cli_node_opt(&cfg, c, optarg, "bench_node") != 0)
            return 2;
    if (cn_cli_node_check(&cfg, "bench_node") < 0)
        return 2;
    cn_cli_app app = { .prog = "bench_node", .start = start };
    int rc = cn_cli_run(&cfg, &app);
    cn_atom_cleanup();
    return rc;
}
