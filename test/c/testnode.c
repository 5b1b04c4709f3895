/* testnode.c - a C node the Common Test suites drive from Erlang.
 *
 *   testnode --sname NAME --cookie C [--max-node-names N] [node options]
 *
 * --max-node-names lowers the process's cap on node names (65,536) so that
 * tests can reach it with a few thousand peers.
 *
 * Registers `ctl`, which spawns workers on request.  A worker is a managed
 * process whose every feature is reachable by gen_server:call, so a suite
 * can exercise links, monitors, exits, calls from C to Erlang, Gleam
 * Subjects, timeouts and unhandled-message policies on real wire traffic.
 * Workers forward what reaches handle_info / handle_subject / handle_timeout
 * to a notify pid as {cnode_event, WorkerPid, Event}, so tests wait for
 * events instead of sleeping.
 *
 * ctl calls:
 *   {spawn, Name | undefined, Policy}   -> Pid      Policy: log|drop|stop|forward
 *   {spawn_slow, kill | shed, LimitBytes, SleepUs} -> Pid   a worker (policy
 *                                       log) that sleeps SleepUs on every info
 *                                       message (it holds the loop, as a handler
 *                                       that computes, but leaves the CPU to a
 *                                       flooding node), with that mailbox limit
 *                                       and policy
 *   {spawn_many, N}                     -> N        N idle processes
 *   stop_many                           -> N        stops them
 *   stats                  -> #{procs, conns, msgs_in, msgs_out, rx_streams, rss_kb,
 *                                in_buffered, out_buffered, node_names, msgs_shed,
 *                                mailbox_kills, timers}
 *   {start_timer_for, Pid, Ms, Msg}     -> ok       a timer of worker Pid's,
 *                                       started by ctl (the worker may be
 *                                       suspended)
 *   stop_node                           -> ok       then a graceful stop
 * worker calls:
 *   {notify, Pid}          ping -> pong     {echo, T} -> T
 *   tallied -> N           how many {tally, _} messages arrived (they are
 *                          counted, not forwarded: a one-way stream)
 *   {link, Pid}  {unlink, Pid}  {trap_exit, Bool}  {exit, Pid, Reason}
 *   {monitor, Pid | {Name, Node}} -> Ref    {demonitor, Ref}
 *   {stop, Reason} -> ok, then stops        {stop_noreply, Reason}
 *   {call, Pid | {Name, Node}, Req, Ms}     -> {ok, R} | {down, Reason} | timeout
 *                                             (a deferred reply)
 *   {cast, Pid | {Name, Node}, Req}         -> ok
 *   {send, Pid | {Name, Node}, Msg}         -> ok
 *   {flood, Pid | {Name, Node}, Bytes, Count} -> {ok | busy | error, Sent}
 *                          Count binaries of Bytes each, until a send fails
 *   new_subject -> {subject, Self, Ref}
 *   {subject_send, Subject, Msg} -> ok
 *   {gleam_call, Subject, Ms}  -> {ok, R} | {down, Reason} | timeout, the
 *                                 request being {ask, ReplySubject}
 *   named_subject -> {named_subject, OwnName} | error   takes its named
 *                                 subject (cn_subject_named)
 *   {subject_echo, T} -> T read and written back as a Subject | badarg
 *   {named_send, NameBinary, Node | undefined, Msg} -> ok | badarg
 *   {named_call, NameBinary, Node | undefined, Ms} -> as gleam_call | badarg
 *                                 (cn_named_subject: the subject Name on Node)
 *   {timeout, Ms} -> ok       (idle timeout; fires a `timeout` event)
 *   {start_timer, Ms, Msg} -> Ref   a process timer: {timeout, Ref, Msg}
 *                                   arrives as an info event
 *   {cancel_timer, Ref} -> Left | false
 *   {start_timers, [{Ms, Msg}]} -> [Ref]   all in one turn (one clock
 *                                   reading: equal Ms are equal due times)
 *   {dead_letter, Pid} -> ok
 *   {fmt_reply, T} -> {ok, {fmt, T}}   cn_fmt's term given to cn_replyf
 *   {fmt_fmt, T}   -> {b, {a, T}}      cn_fmt of the previous cn_fmt's term
 * sys:get_state(Worker) is {ok, {worker, Tally}}.
 * A worker's Subjects answer {ping, ReplySubject} and {ask, ReplySubject}
 * (what gleam_call sends) with pong, for Gleam-style calls from Erlang and
 * C, and report any other message as {subject, Msg}, or as
 * {named, {named_subject, Name}, Msg} for its named subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../c_src/node/cli.h"

typedef struct worker {
    int      has_notify;
    cn_pid   notify;
    long     tally;
    unsigned sleep_us;              /* a slow worker: the loop's time each
                                     * info message takes (spawn_slow) */
} worker;

static void notify(cn_proc *p, const char *pattern, const cn_term *t)
{
    worker *w = cn_proc_state(p);
    if (!w->has_notify)
        return;
    if (t)
        cn_sendf(p, &w->notify, pattern, cn_self(p), t);
    else
        cn_sendf(p, &w->notify, pattern, cn_self(p));
}

static int parse_dest(const cn_term *t, cn_pid *pid, char *name, char *node, cn_dest *d)
{
    if (cn_term_match(t, "~p", pid)) {
        *d = (cn_dest){ pid, NULL, NULL };
        return 0;
    }
    if (cn_term_match(t, "{~a, ~a}", name, node)) {
        *d = (cn_dest){ NULL, name, node };
        return 0;
    }
    return -1;
}

/* A deferred reply: the call's From waits for the continuation. */
static void call_done(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    cn_from *from = ud;
    if (st == CN_CALL_OK)
        cn_replyf(p, from, "{ok, ~t}", reply);
    else if (st == CN_CALL_DOWN)
        cn_replyf(p, from, "{down, ~t}", reply);
    else
        cn_replyf(p, from, "timeout");
    free(from);
}

static void build_ask(cn_buf *b, const cn_subject *reply_to, void *ud)
{
    (void)ud;
    cn_term_put_tuple(b, 2);
    cn_term_put_atom(b, "ask");
    cn_subject_put(b, reply_to);
}

static cn_from *keep_from(const cn_from *from)
{
    cn_from *f = malloc(sizeof *f);
    if (f)
        *f = *from;
    return f;
}

/* Sends count binaries of bytes each to d, until a send fails: how many
 * were taken and the failure (0 if none). */
static int flood(cn_proc *p, const cn_dest *d, size_t bytes, int count, int *failure)
{
    cn_buf b;
    cn_buf_init(&b);
    char *zeros = calloc(1, bytes ? bytes : 1);
    if (zeros)
        cn_term_put_binary(&b, zeros, bytes);
    *failure = zeros && !cn_buf_failed(&b) ? 0 : -1;
    free(zeros);
    cn_term t = cn_buf_term(&b, 0);
    int sent = 0;
    while (!*failure && sent < count &&
           !(*failure = d->pid ? cn_send(p, d->pid, &t) : cn_send_named(p, d->name, d->node, &t)))
        sent++;
    cn_buf_free(&b);
    return sent;
}

/* {start_timers, [{Ms, Msg}]}: each started in this one turn; the refs
 * in the list's order. */
static int start_timers(cn_proc *p, const cn_from *from, const cn_term *list)
{
    cn_list_iter it;
    uint32_t count;
    cn_term e, msg;
    int ms;
    cn_buf b;
    if (cn_list_begin(&it, list, &count) < 0)
        return CN_UNHANDLED;
    cn_buf_init(&b);
    if (count)
        cn_term_put_list(&b, count);
    while (cn_list_next(&it, &e) == 1) {
        cn_ref ref;
        if (!cn_term_match(&e, "{~i, ~t}", &ms, &msg) || ms < 0 ||
            cn_start_timer(p, (uint64_t)ms, &msg, &ref) < 0) {
            cn_buf_free(&b);
            return cn_replyf(p, from, "error"), CN_OK;
        }
        cn_term_put_ref(&b, &ref);
    }
    cn_term_put_nil(&b);
    cn_term t = cn_buf_term(&b, 0);
    cn_reply(p, from, &t);
    cn_buf_free(&b);
    return CN_OK;
}

/* Replies with the subject s as a term. */
static void reply_subject(cn_proc *p, const cn_from *from, const cn_subject *s)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_subject_put(&b, s);
    cn_term t = cn_buf_term(&b, 0);
    cn_reply(p, from, &t);
    cn_buf_free(&b);
}

/* {NameBinary, Node | undefined}: cn_named_subject's arguments. */
static int named_of(const cn_term *name, const char *node, cn_subject *s)
{
    char buf[2 * CN_ATOM_BUF];
    if (!cn_term_match(name, "~s", buf, sizeof buf))
        return -1;
    return cn_named_subject(s, buf, strcmp(node, "undefined") == 0 ? NULL : node);
}

/* Starts cn_gleam_call on s with {ask, ReplySubject}; the reply is
 * deferred to call_done. */
static void gleam_ask(cn_proc *p, const cn_from *from, const cn_subject *s, int ms)
{
    cn_from *f = keep_from(from);
    if (!f || cn_gleam_call(p, s, build_ask, (unsigned)ms, call_done, f) < 0) {
        free(f);
        cn_replyf(p, from, "error");
    }
}

static int worker_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    worker *w = cn_proc_state(p);
    cn_pid pid;
    cn_ref ref;
    cn_term t, u;
    cn_dest d;
    char name[CN_ATOM_BUF], node[CN_ATOM_BUF];
    int ms, bytes, count, failure;

    if (cn_term_match(req, "ping"))
        return cn_replyf(p, from, "pong"), CN_OK;
    if (cn_term_match(req, "{echo, ~t}", &t))
        return cn_reply(p, from, &t), CN_OK;
    if (cn_term_match(req, "tallied"))
        return cn_replyf(p, from, "~l", w->tally), CN_OK;
    if (cn_term_match(req, "{notify, ~p}", &pid)) {
        w->notify = pid;
        w->has_notify = 1;
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    if (cn_term_match(req, "{link, ~p}", &pid))
        return cn_link(p, &pid), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{unlink, ~p}", &pid))
        return cn_unlink(p, &pid), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{trap_exit, true}"))
        return cn_trap_exit(p, 1), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{trap_exit, false}"))
        return cn_trap_exit(p, 0), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{exit, ~p, ~t}", &pid, &t))
        return cn_exit(p, &pid, &t), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{monitor, ~t}", &t) && parse_dest(&t, &pid, name, node, &d) == 0) {
        if (cn_monitor(p, d, &ref) < 0)
            return cn_replyf(p, from, "error"), CN_OK;
        return cn_replyf(p, from, "~r", &ref), CN_OK;
    }
    if (cn_term_match(req, "{demonitor, ~r}", &ref))
        return cn_demonitor(p, &ref), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{stop, ~t}", &t)) {
        cn_replyf(p, from, "ok");
        cn_stop(p, &t);
        return CN_OK;
    }
    if (cn_term_match(req, "{stop_noreply, ~t}", &t)) {
        cn_stop(p, &t);
        return CN_OK;
    }
    if (cn_term_match(req, "{call, ~t, ~t, ~i}", &t, &u, &ms) &&
        parse_dest(&t, &pid, name, node, &d) == 0) {
        cn_from *f = keep_from(from);
        if (!f || cn_call(p, d, &u, (unsigned)ms, call_done, f) < 0) {
            free(f);
            cn_replyf(p, from, "error");
        }
        return CN_OK;
    }
    if (cn_term_match(req, "{cast, ~t, ~t}", &t, &u) && parse_dest(&t, &pid, name, node, &d) == 0)
        return cn_cast(p, d, &u), cn_replyf(p, from, "ok"), CN_OK;
    if (cn_term_match(req, "{send, ~t, ~t}", &t, &u) && parse_dest(&t, &pid, name, node, &d) == 0) {
        if (d.pid)
            cn_send(p, d.pid, &u);
        else
            cn_send_named(p, d.name, d.node, &u);
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    if (cn_term_match(req, "new_subject")) {
        cn_subject s;
        cn_subject_new(p, &s);
        return reply_subject(p, from, &s), CN_OK;
    }
    if (cn_term_match(req, "named_subject")) {
        cn_subject s;
        if (cn_subject_named(p, &s) < 0)
            return cn_replyf(p, from, "error"), CN_OK;
        return reply_subject(p, from, &s), CN_OK;
    }
    if (cn_term_match(req, "{subject_echo, ~t}", &t)) {
        cn_subject s;
        if (cn_subject_from_term(&t, &s) < 0)
            return cn_replyf(p, from, "badarg"), CN_OK;
        return reply_subject(p, from, &s), CN_OK;
    }
    if (cn_term_match(req, "{subject_send, ~t, ~t}", &t, &u)) {
        cn_subject s;
        if (cn_subject_from_term(&t, &s) < 0)
            return cn_replyf(p, from, "badarg"), CN_OK;
        cn_subject_send(p, &s, &u);
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    if (cn_term_match(req, "{named_send, ~t, ~a, ~t}", &t, node, &u)) {
        cn_subject s;
        if (named_of(&t, node, &s) < 0)
            return cn_replyf(p, from, "badarg"), CN_OK;
        cn_subject_send(p, &s, &u);
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    if (cn_term_match(req, "{gleam_call, ~t, ~i}", &t, &ms)) {
        cn_subject s;
        if (cn_subject_from_term(&t, &s) < 0)
            return cn_replyf(p, from, "error"), CN_OK;
        return gleam_ask(p, from, &s, ms), CN_OK;
    }
    if (cn_term_match(req, "{named_call, ~t, ~a, ~i}", &t, node, &ms)) {
        cn_subject s;
        if (named_of(&t, node, &s) < 0)
            return cn_replyf(p, from, "badarg"), CN_OK;
        return gleam_ask(p, from, &s, ms), CN_OK;
    }
    if (cn_term_match(req, "{timeout, ~i}", &ms)) {
        cn_timeout(p, (unsigned)ms);
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    if (cn_term_match(req, "{start_timer, ~i, ~t}", &ms, &t) && ms >= 0) {
        if (cn_start_timer(p, (uint64_t)ms, &t, &ref) < 0)
            return cn_replyf(p, from, "error"), CN_OK;
        return cn_replyf(p, from, "~r", &ref), CN_OK;
    }
    if (cn_term_match(req, "{start_timers, ~L}", &t))
        return start_timers(p, from, &t);
    if (cn_term_match(req, "{cancel_timer, ~r}", &ref)) {
        long left = cn_cancel_timer(p, &ref);
        if (left < 0)
            return cn_replyf(p, from, "false"), CN_OK;
        return cn_replyf(p, from, "~l", left), CN_OK;
    }
    if (cn_term_match(req, "{flood, ~t, ~i, ~i}", &t, &bytes, &count) &&
        parse_dest(&t, &pid, name, node, &d) == 0 && bytes >= 0 && count >= 0) {
        int sent = flood(p, &d, (size_t)bytes, count, &failure);
        return cn_replyf(p, from, "{~a, ~i}", failure == 0 ? "ok"
                         : failure == CN_ERR_BUSY ? "busy" : "error", sent), CN_OK;
    }
    if (cn_term_match(req, "{fmt_reply, ~t}", &t)) {
        u = cn_fmt(p, "{fmt, ~t}", &t);
        return cn_replyf(p, from, "{ok, ~t}", &u), CN_OK;
    }
    if (cn_term_match(req, "{fmt_fmt, ~t}", &t)) {
        cn_term a = cn_fmt(p, "{a, ~t}", &t);
        u = cn_fmt(p, "{b, ~t}", &a);
        return cn_reply(p, from, &u), CN_OK;
    }
    if (cn_term_match(req, "{dead_letter, ~p}", &pid)) {
        cn_proc_set_dead_letter(p, &pid);
        return cn_replyf(p, from, "ok"), CN_OK;
    }
    return CN_UNHANDLED;
}

static int worker_info(cn_proc *p, const cn_term *msg)
{
    unsigned us = ((worker *)cn_proc_state(p))->sleep_us;
    if (us)
        usleep(us);
    if (cn_term_match(msg, "{tally, _}")) {
        ((worker *)cn_proc_state(p))->tally++;
        return CN_OK;
    }
    if (cn_term_match(msg, "junk") || cn_term_match(msg, "{junk, _}"))
        return CN_UNHANDLED;        /* exercises the unhandled policy */
    notify(p, "{cnode_event, ~p, ~t}", msg);
    return CN_OK;
}

static int worker_cast(cn_proc *p, const cn_term *msg)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{cast, ~t}", msg);
    cn_term t = cn_buf_term(&b, 0);
    notify(p, "{cnode_event, ~p, ~t}", &t);
    cn_buf_free(&b);
    return CN_OK;
}

static int worker_subject(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    cn_term reply_to;
    cn_subject r;
    if ((cn_term_match(msg, "{ping, ~t}", &reply_to) || cn_term_match(msg, "{ask, ~t}", &reply_to)) &&
        cn_subject_from_term(&reply_to, &r) == 0) {
        cn_subject_sendf(p, &r, "pong");
        return CN_OK;
    }
    cn_buf b;
    cn_buf_init(&b);
    if (s->name) {
        cn_term_put_tuple(&b, 3);
        cn_term_put_atom(&b, "named");
        cn_subject_put(&b, s);
        cn_term_put_term(&b, msg);
    } else {
        cn_term_build(&b, "{subject, ~t}", msg);
    }
    cn_term t = cn_buf_term(&b, 0);
    notify(p, "{cnode_event, ~p, ~t}", &t);
    cn_buf_free(&b);
    return CN_OK;
}

/* What sys:get_state shows: {worker, Tally}. */
static void worker_format_state(cn_proc *p, cn_buf *out)
{
    cn_term_build(out, "{worker, ~l}", ((worker *)cn_proc_state(p))->tally);
}

static void worker_timeout(cn_proc *p) { notify(p, "{cnode_event, ~p, timeout}", NULL); }

static void worker_terminate(cn_proc *p, const cn_term *reason)
{
    notify(p, "{cnode_event, ~p, {terminate, ~t}}", reason);
    free(cn_proc_state(p));
}

static int worker_init(cn_proc *p, void *arg)
{
    (void)arg;
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    cn_proc_set_state(p, w);
    return 0;
}

#define WORKER_OPS(policy)                                                          \
    { .kind = "worker", .init = worker_init, .handle_call = worker_call,            \
      .handle_cast = worker_cast, .handle_info = worker_info,                       \
      .format_state = worker_format_state,                                          \
      .handle_subject = worker_subject, .handle_timeout = worker_timeout,           \
      .terminate = worker_terminate, .unhandled = policy }

static const cn_proc_ops worker_ops[] = {
    WORKER_OPS(CN_UNHANDLED_LOG), WORKER_OPS(CN_UNHANDLED_DROP),
    WORKER_OPS(CN_UNHANDLED_STOP), WORKER_OPS(CN_UNHANDLED_FORWARD),
};

/* ---- ctl ---------------------------------------------------------------- */

static const cn_proc_ops idle_ops = { .kind = "idle" };

typedef struct ctl {
    cn_proc **many;
    size_t    nmany;
} ctl;

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void stop_many(cn_proc *p)
{
    ctl *c = cn_proc_state(p);
    for (size_t i = 0; i < c->nmany; i++)
        cn_stop_atom(c->many[i], "normal");
    free(c->many);
    c->many = NULL;
    c->nmany = 0;
}

/* The node's stats as a map (see the ctl calls above). */
static void reply_stats(cn_proc *p, const cn_from *from)
{
    cn_node_stats st;
    cn_node_get_stats(cn_proc_node(p), &st);
    const struct { const char *key; uint64_t v; } kv[] = {
        { "procs", st.procs }, { "conns", st.conns }, { "msgs_in", st.msgs_in },
        { "msgs_out", st.msgs_out }, { "rx_streams", st.rx_streams },
        { "rss_kb", (uint64_t)rss_kb() }, { "in_buffered", st.in_buffered },
        { "out_buffered", st.out_buffered }, { "node_names", st.node_names },
        { "msgs_shed", st.msgs_shed }, { "mailbox_kills", st.mailbox_kills },
        { "timers", st.timers },
    };
    size_t k = sizeof kv / sizeof kv[0];
    cn_buf b;
    cn_buf_init(&b);
    cn_term_put_map(&b, (uint32_t)k);
    for (size_t i = 0; i < k; i++) {
        cn_term_put_atom(&b, kv[i].key);
        cn_term_put_ulong(&b, kv[i].v);
    }
    cn_term t = cn_buf_term(&b, 0);
    cn_reply(p, from, &t);
    cn_buf_free(&b);
}

static int ctl_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    ctl *c = cn_proc_state(p);
    cn_node *n = cn_proc_node(p);
    char name[CN_ATOM_BUF], policy[CN_ATOM_BUF];
    int count, limit, us;
    cn_pid pid;
    cn_term msg;
    cn_proc *owner;

    if (cn_term_match(req, "{start_timer_for, ~p, ~i, ~t}", &pid, &us, &msg) && us >= 0 &&
        (owner = cn_proc_by_pid(n, &pid)) != NULL) {
        int r = cn_start_timer(owner, (uint64_t)us, &msg, NULL);
        return cn_replyf(p, from, r == 0 ? "ok" : "error"), CN_OK;
    }

    if (cn_term_match(req, "{spawn, ~a, ~a}", name, policy)) {
        static const char *policies[] = { "log", "drop", "stop", "forward" };
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(policy, policies[i]) == 0)
                k = i;
        cn_proc *w = k < 0 ? NULL
                   : cn_spawn(n, &worker_ops[k], NULL,
                              strcmp(name, "undefined") == 0 ? NULL : name);
        if (!w)
            return cn_replyf(p, from, "{error, spawn_failed}"), CN_OK;
        return cn_replyf(p, from, "~p", cn_self(w)), CN_OK;
    }
    if (cn_term_match(req, "{spawn_slow, ~a, ~i, ~i}", policy, &limit, &us) && limit > 0 &&
        us >= 0 && (strcmp(policy, "kill") == 0 || strcmp(policy, "shed") == 0)) {
        cn_proc *w = cn_spawn(n, &worker_ops[0], NULL, NULL);
        if (!w)
            return cn_replyf(p, from, "{error, spawn_failed}"), CN_OK;
        ((worker *)cn_proc_state(w))->sleep_us = (unsigned)us;
        cn_mailbox_limit(w, (size_t)limit,
                         policy[0] == 'k' ? CN_MAILBOX_KILL : CN_MAILBOX_SHED);
        return cn_replyf(p, from, "~p", cn_self(w)), CN_OK;
    }
    if (cn_term_match(req, "{spawn_many, ~i}", &count) && count >= 0) {
        stop_many(p);
        c->many = calloc((size_t)count + 1, sizeof *c->many);
        for (int i = 0; c->many && i < count; i++) {
            c->many[i] = cn_spawn(n, &idle_ops, NULL, NULL);
            if (!c->many[i])
                break;
            c->nmany++;
        }
        return cn_replyf(p, from, "~i", (int)c->nmany), CN_OK;
    }
    if (cn_term_match(req, "stop_many")) {
        int k = (int)c->nmany;
        stop_many(p);
        return cn_replyf(p, from, "~i", k), CN_OK;
    }
    if (cn_term_match(req, "stats"))
        return reply_stats(p, from), CN_OK;
    if (cn_term_match(req, "stop_node")) {
        cn_replyf(p, from, "ok");
        cn_node_stop(n);
        return CN_OK;
    }
    return CN_UNHANDLED;
}

static int ctl_init(cn_proc *p, void *arg)
{
    (void)arg;
    ctl *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    cn_proc_set_state(p, c);
    return 0;
}

static void ctl_terminate(cn_proc *p, const cn_term *reason)
{
    (void)reason;
    ctl *c = cn_proc_state(p);
    free(c->many);
    free(c);
}

static const cn_proc_ops ctl_ops = {
    .kind = "ctl", .init = ctl_init, .handle_call = ctl_call,
    .terminate = ctl_terminate, .unhandled = CN_UNHANDLED_LOG,
};

/* The suite holds our stdin: when it closes (the test node's owner is
 * gone), stop, so no test node outlives its test run. */
static void on_stdin_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char b[256];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(b, sizeof b);
}

static void on_stdin(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0) {
        uv_read_stop(s);
        cn_node_stop(s->data);
    }
}

static int start(cn_node *n, void *ud)
{
    (void)ud;
    if (!cn_spawn(n, &ctl_ops, NULL, "ctl") || !cn_spawn(n, &worker_ops[0], NULL, "echo")) {
        fprintf(stderr, "testnode: cannot start ctl\n");
        return -1;
    }
    static uv_pipe_t in;
    uv_pipe_init(cn_node_loop(n), &in, 0);
    in.data = n;
    if (uv_pipe_open(&in, 0) == 0) {
        uv_read_start((uv_stream_t *)&in, on_stdin_alloc, on_stdin);
        uv_unref((uv_handle_t *)&in);
    }
    return 0;
}

enum { OPT_MAX_NODE_NAMES = 1 };

/* testnode's own options; 0, or 2 after saying why. */
static int own_opt(int opt, const char *arg)
{
    long v;
    if (opt == OPT_MAX_NODE_NAMES && cn_cli_int(arg, 1, 65536, &v) == 0) {
        cn_atom_set_limit((unsigned)v);
        return 0;
    }
    cn_cli_usage_error("testnode", "--max-node-names needs 1..65536, not '%s'", arg);
    return CN_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        CN_CLI_OPTIONS, { "max-node-names", required_argument, 0, OPT_MAX_NODE_NAMES },
        { 0, 0, 0, 0 } };
    cn_node_config cfg = { 0 };
    int c, r;
    while ((c = cn_cli_getopt(argc, argv, "v", opts, "testnode")) != -1)
        if (c == '?' || ((r = cn_cli_node_opt(&cfg, c, optarg, "testnode")) != 0 &&
                         (r < 0 || own_opt(c, optarg) != 0)))
            return CN_EXIT_USAGE;
    if (optind < argc) {
        cn_cli_usage_error("testnode", "unexpected argument '%s'", argv[optind]);
        return CN_EXIT_USAGE;
    }
    if (cn_cli_node_check(&cfg, "testnode") < 0)
        return CN_EXIT_USAGE;
    cn_cli_app app = { .prog = "testnode", .start = start };
    int rc = cn_cli_run(&cfg, &app);
    cn_atom_cleanup();
    return rc;
}
