/* gc_node.c - the `gossip` process: the pure core on the runtime (see
 * gc_node.h).  Time for the core is the loop's millisecond clock; the
 * incarnation and chat id base come from the wall clock at start, so a
 * restarted node is always newer than its earlier life.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "gc_node.h"
#include "gc_wire.h"

#define PRUNE_EVERY_MS 500

typedef struct gc_node_stats {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, junk;
} gc_node_stats;

struct gc_node {
    cn_node      *n;
    cn_proc      *proc;
    gc_core      *core;
    gc_node_config cfg;
    cn_deadline   tick;          /* the core's next deadline */
    int           stopped;
    uint64_t      next_prune;
    cn_buf        buf;
    gc_wire_in    in;
    gc_node_stats st;
    char          join_why[256];  /* why the contact does not answer, as last logged */
};

static uint64_t now_ms(gc_node *g) { return cn_proc_now(g->proc); }

static uint64_t wall(uint64_t div)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) / div;
}

/* ---- the core's outputs ------------------------------------------------------ */

static void io_send(void *ud, const char *to, const gc_msg *m)
{
    gc_node *g = ud;
    cn_buf_reset(&g->buf);
    gc_wire_encode(&g->buf, m);
    if (cn_buf_failed(&g->buf)) {
        cn_log(g->n, CN_LOG_ERROR, "gossip: cannot encode %s for %s", gc_msg_type_name(m->type),
               to);
        return;
    }
    cn_term t = cn_buf_term(&g->buf, 0);
    if (cn_send_named(g->proc, "gossip", to, &t) == 0) {
        g->st.msgs_out++;
        g->st.bytes_out += t.len;
    }
}

static void io_event(void *ud, const gc_event *e)
{
    gc_node *g = ud;
    gc_out_event(g->cfg.out, e);
    if (e->type != GC_EV_CHAT && g->cfg.on_change)
        g->cfg.on_change(g->cfg.ud);
}

static void io_log(void *ud, const char *line)
{
    gc_node *g = ud;
    cn_log(g->n, CN_LOG_INFO, "gossip: %s", line);
}

/* ---- time -------------------------------------------------------------------- */

/* Drops connections to members we no longer talk to. */
static void prune(gc_node *g, uint64_t now)
{
    if (now < g->next_prune)
        return;
    g->next_prune = now + PRUNE_EVERY_MS;
    const char *peers[512];
    size_t n = cn_node_peers(g->n, peers, 512);
    char drop[16][GC_NAME_MAX + 1];
    size_t ndrop = 0;
    for (size_t i = 0; i < n && i < 512 && ndrop < 16; i++)
        if (gc_keep_link(g->core, now, peers[i]) == 0)
            snprintf(drop[ndrop++], sizeof drop[0], "%s", peers[i]);
    for (size_t i = 0; i < ndrop; i++) {
        cn_log(g->n, CN_LOG_DEBUG, "gossip: dropping the connection to %s (not a neighbour)",
               drop[i]);
        cn_node_disconnect(g->n, drop[i]);
    }
}

/* After every core event: arm the timer for the core's next deadline
 * (GC_NEVER is UINT64_MAX: disarmed). */
static void after_core(gc_node *g)
{
    if (!g->stopped)
        cn_deadline_set(g->proc, &g->tick, gc_next_deadline(g->core));
}

/* While joining: why the contact does not answer, logged when it changes
 * (a warning: without one a join to a node that is not there is silent). */
static void note_join_problem(gc_node *g)
{
    const char *why = gc_node_join_problem(g);
    if (!why || strcmp(why, g->join_why) == 0)
        return;
    snprintf(g->join_why, sizeof g->join_why, "%s", why);
    cn_log(g->n, CN_LOG_WARN, "gossip: waiting for %s: %s", g->cfg.join, why);
}

static void on_tick(gc_node *g)
{
    uint64_t now = now_ms(g);
    gc_tick(g->core, now);
    prune(g, now);
    if (g->cfg.join && !gc_is_joined(g->core))
        note_join_problem(g);
    after_core(g);
}

/* A connection went down: the core hears on the process's next turn, as
 * {timeout, _, {link_down, Peer}} (this runs inside the runtime's
 * connection handling). */
static void on_status(cn_node *n, const char *peer, int up, void *ud)
{
    gc_node *g = ud;
    (void)n;
    if (!up && !g->stopped)
        cn_start_timerf(g->proc, 0, NULL, "{link_down, ~a}", peer);
}

/* ---- control calls ----------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_names(cn_buf *b, const char **names, size_t n)
{
    qsort(names, n, sizeof *names, by_name);
    if (n)
        cn_term_put_list(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        cn_term_put_binary(b, names[i], strlen(names[i]));
    cn_term_put_nil(b);
}

static int reply_buf(cn_proc *p, const cn_from *from, cn_buf *b)
{
    cn_term t = cn_buf_term(b, 0);
    int r = cn_buf_failed(b) ? -1 : cn_reply(p, from, &t);
    cn_buf_free(b);
    return r < 0 ? CN_UNHANDLED : CN_OK;
}

static int reply_members(gc_node *g, const cn_from *from, int view)
{
    size_t n = view ? gc_view(g->core, NULL, 0) : gc_member_count(g->core);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return CN_UNHANDLED;
    n = view ? gc_view(g->core, names, n) : gc_members(g->core, names, n);
    cn_buf b;
    cn_buf_init(&b);
    put_names(&b, names, n);
    free(names);
    return reply_buf(g->proc, from, &b);
}

static void put_stat(cn_buf *b, const char *k, uint64_t v)
{
    cn_term_put_atom(b, k);
    cn_term_put_ulong(b, v);
}

static int reply_stats(gc_node *g, const cn_from *from)
{
    const gc_stats *s = gc_get_stats(g->core);
    cn_node_stats ns;
    cn_node_get_stats(g->n, &ns);
    cn_buf b;
    cn_buf_init(&b);
    cn_term_put_map(&b, 16);
    put_stat(&b, "msgs_in", g->st.msgs_in);
    put_stat(&b, "msgs_out", g->st.msgs_out);
    put_stat(&b, "bytes_in", g->st.bytes_in);
    put_stat(&b, "bytes_out", g->st.bytes_out);
    put_stat(&b, "wire_bytes_in", ns.bytes_in);
    put_stat(&b, "wire_bytes_out", ns.bytes_out);
    put_stat(&b, "connections", cn_node_peers(g->n, NULL, 0));
    put_stat(&b, "members", gc_member_count(g->core));
    put_stat(&b, "view", gc_view(g->core, NULL, 0));
    put_stat(&b, "junk", g->st.junk);
    put_stat(&b, "duplicates", s->duplicates);
    put_stat(&b, "suspicions", s->suspicions);
    put_stat(&b, "removals", s->removals);
    put_stat(&b, "refutations", s->refutations);
    put_stat(&b, "local_health", gc_local_health(g->core));
    put_stat(&b, "incarnation", gc_incarnation(g->core));
    return reply_buf(g->proc, from, &b);
}

static int gossip_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    gc_node *g = cn_proc_state(p);
    const char *text;
    size_t len;
    if (cn_term_match(req, "members"))
        return reply_members(g, from, 0);
    if (cn_term_match(req, "view"))
        return reply_members(g, from, 1);
    if (cn_term_match(req, "stats"))
        return reply_stats(g, from);
    if (cn_term_match(req, "{say, ~b}", &text, &len)) {
        if (!gc_utf8_valid(text, len))
            return cn_replyf(p, from, "{error, ~s}", "text is not UTF-8"), CN_OK;
        uint64_t id = gc_node_say(g, text, len);
        if (id)
            cn_replyf(p, from, "{ok, ~u}", id);
        else
            cn_replyf(p, from, "{error, ~s}", "not sent (empty, too long, or leaving)");
        return CN_OK;
    }
    if (cn_term_match(req, "quit")) {
        cn_replyf(p, from, "ok");
        gc_node_quit(g);
        return CN_OK;
    }
    return CN_UNHANDLED;
}

/* ---- wire messages ----------------------------------------------------------- */

static int gossip_info(cn_proc *p, const cn_term *msg)
{
    gc_node *g = cn_proc_state(p);
    gc_msg m;
    char err[256];
    char peer[CN_ATOM_BUF];
    int tick = cn_deadline_fired(&g->tick, msg);
    if (tick >= 0) {
        if (tick)
            on_tick(g);
        return CN_OK;
    }
    if (cn_term_match(msg, "{timeout, _, {link_down, ~a}}", peer)) {
        if (!g->stopped) {
            gc_link_down(g->core, now_ms(g), peer);
            after_core(g);
        }
        return CN_OK;
    }
    g->st.msgs_in++;
    g->st.bytes_in += msg->len;
    if (gc_wire_decode(&g->in, msg, &m, err, sizeof err) < 0) {
        char txt[300];
        cn_term_format(msg, txt, sizeof txt);
        g->st.junk++;
        cn_log(g->n, CN_LOG_WARN, "gossip: junk dropped (%s): %s", err, txt);
        return CN_OK;
    }
    gc_recv(g->core, now_ms(g), &m);
    after_core(g);
    return CN_OK;
}

static int gossip_init(cn_proc *p, void *arg)
{
    cn_proc_set_state(p, arg);
    return 0;
}

/* However we stop (quit, EOF, SIGINT, SIGTERM), the others hear {leave, Self}
 * first: the runtime flushes it before closing connections. */
static void gossip_terminate(cn_proc *p, const cn_term *reason)
{
    gc_node *g = cn_proc_state(p);
    (void)reason;
    if (!gc_is_leaving(g->core))
        gc_leave(g->core, now_ms(g));
    g->stopped = 1;
    if (g->cfg.on_stop)
        g->cfg.on_stop(g->cfg.ud);
}

static const cn_proc_ops gossip_ops = {
    .kind = "gossip",
    .init = gossip_init,
    .handle_call = gossip_call,
    .handle_info = gossip_info,
    .terminate = gossip_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

/* ---- lifecycle ----------------------------------------------------------------- */

gc_node *gc_node_start(cn_node *n, const gc_node_config *cfg, char *err, size_t errlen)
{
    gc_node *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->n = n;
    g->cfg = *cfg;
    g->tick.tag = "tick";
    cn_buf_init(&g->buf);
    uint64_t seed = cfg->seed;
    if (!seed && getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = wall(1) ^ (uint64_t)(uintptr_t)g;
    gc_config cc = {
        .self = cn_node_name(n),
        .incarnation = wall(1000000),
        .id_base = wall(1000),
        .seed = seed,
        .params = cfg->params,
    };
    gc_io io = { .ud = g, .send = io_send, .event = io_event, .log = io_log };
    g->core = gc_new(&cc, &io, err, errlen);
    if (!g->core) {
        free(g);
        return NULL;
    }
    g->proc = cn_spawn(n, &gossip_ops, g, "gossip");
    if (!g->proc) {
        snprintf(err, errlen, "cannot register the process 'gossip'");
        gc_free(g->core);
        free(g);
        return NULL;
    }
    cn_node_on_status(n, on_status, g);
    return g;
}

/* The entry points below run as turns of the gossip process (the terminal's
 * input calls them from libuv callbacks; the gossip process's own calls
 * from inside its turn); none once the process has gone (stopped). */

static void run(cn_proc *p, void *arg)
{
    gc_node *g = cn_proc_state(p);
    uint64_t now = now_ms(g);
    (void)arg;
    if (g->cfg.members && g->cfg.nmembers)
        gc_start_with(g->core, now, g->cfg.members, g->cfg.nmembers);
    else
        gc_start(g->core, now, g->cfg.join);
    after_core(g);
}

/* One of the entry points as a turn, unless the process has gone. */
static void as_turn(gc_node *g, void (*fn)(cn_proc *p, void *arg), void *arg)
{
    if (!g->stopped)
        cn_proc_run(g->proc, fn, arg);
}

void gc_node_run(gc_node *g) { as_turn(g, run, NULL); }

typedef struct say_arg {
    const char *text;
    size_t      len;
    uint64_t    id;
} say_arg;

static void say(cn_proc *p, void *arg)
{
    gc_node *g = cn_proc_state(p);
    say_arg *a = arg;
    a->id = gc_say(g->core, now_ms(g), a->text, a->len);
    after_core(g);
}

uint64_t gc_node_say(gc_node *g, const char *text, size_t len)
{
    say_arg a = { text, len, 0 };
    as_turn(g, say, &a);
    return a.id;
}

/* Leaves: {leave, Self} goes to the neighbours, then the node stops; the
 * runtime's stop delivers what is queued, also on connections still being
 * set up. */
static void quit(cn_proc *p, void *arg)
{
    gc_node *g = cn_proc_state(p);
    (void)arg;
    if (!gc_is_leaving(g->core))
        gc_leave(g->core, now_ms(g));
    cn_node_stop(g->n);
}

void gc_node_quit(gc_node *g) { as_turn(g, quit, NULL); }

int    gc_node_joined(const gc_node *g) { return gc_is_joined(g->core); }

const char *gc_node_contact(const gc_node *g) { return g->cfg.join; }

const char *gc_node_join_problem(gc_node *g)
{
    if (!g->cfg.join || g->stopped || gc_is_joined(g->core))
        return NULL;
    return cn_node_dial_error(g->n, g->cfg.join);
}
size_t gc_node_member_count(const gc_node *g) { return gc_member_count(g->core); }

void gc_node_show_members(gc_node *g)
{
    size_t n = gc_member_count(g->core);
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return;
    n = gc_members(g->core, names, n);
    gc_out_members(g->cfg.out, names, n);
    free(names);
}

void gc_node_free(gc_node *g)
{
    if (!g)
        return;
    gc_free(g->core);
    gc_wire_in_free(&g->in);
    cn_buf_free(&g->buf);
    free(g);
}
