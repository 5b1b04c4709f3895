/* node.c - a node: its name, cookie, listener, epmd registration, the loop
 * hooks that run processes and flush output, ticks, and shutdown.
 *
 * Loop hooks: the run queue drains in the check phase (right after I/O) and,
 * while work is left, in idle callbacks that keep the loop from blocking;
 * output gathered during a turn is written in the prepare phase, one write
 * per connection per loop iteration.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ei.h>

#include "internal.h"

extern char **environ;

#define DEFAULT_MAX_PACKET (128u << 20)
#define DEFAULT_STOP_DRAIN_MS 5000
#define DEFAULT_MAX_OUTPUT ((size_t)64 << 20)

/* ---- small services ----------------------------------------------------- */

/* The operating system's random numbers.  There is no fallback: what the
 * node draws (its creation, handshake challenges, a fresh cookie) must not
 * be guessable, so without them it refuses instead. */
static int os_random(void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t r = getrandom(p, len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

uv_timer_t *cn__timer_new(cn_node *n, void *data)
{
    uv_timer_t *t = malloc(sizeof *t);
    if (t) {
        uv_timer_init(n->loop, t);
        t->data = data;
    }
    return t;
}

static void free_closed(uv_handle_t *h) { free(h); }

void cn__timer_free(uv_timer_t *t)
{
    if (!t)
        return;
    t->data = NULL;
    uv_close((uv_handle_t *)t, free_closed);
}

void cn__node_dial_failed(cn_node *n, const char *peer, const char *why)
{
    unsigned k = sizeof n->dial_errors / sizeof n->dial_errors[0];
    for (unsigned i = 0; i < k; i++)
        if (strcmp(n->dial_errors[i].peer, peer) == 0) {
            if (why)
                snprintf(n->dial_errors[i].why, sizeof n->dial_errors[i].why, "%s", why);
            else
                n->dial_errors[i].peer[0] = '\0';
            return;
        }
    if (!why)
        return;
    unsigned i = n->dial_error_next++ % k;
    snprintf(n->dial_errors[i].peer, sizeof n->dial_errors[i].peer, "%s", peer);
    snprintf(n->dial_errors[i].why, sizeof n->dial_errors[i].why, "%s", why);
}

const char *cn_node_dial_error(cn_node *n, const char *peer)
{
    for (unsigned i = 0; i < sizeof n->dial_errors / sizeof n->dial_errors[0]; i++)
        if (n->dial_errors[i].peer[0] && strcmp(n->dial_errors[i].peer, peer) == 0)
            return n->dial_errors[i].why;
    return NULL;
}

const char *cn_node_name(const cn_node *n) { return n->name; }
int         cn_node_port(const cn_node *n) { return n->port; }
uv_loop_t  *cn_node_loop(const cn_node *n) { return n->loop; }

void cn_node_on_status(cn_node *n, cn_nodestatus_cb cb, void *ud)
{
    n->status_cb = cb;
    n->status_ud = ud;
}

void cn__node_status(cn_node *n, cn_atom peer, int up)
{
    if (!up)
        cn_log(n, CN_LOG_INFO, "nodedown %s", peer);
    if (n->status_cb)
        n->status_cb(n, peer, up, n->status_ud);
}

void cn_node_get_stats(const cn_node *n, cn_node_stats *st)
{
    *st = n->stats;
    st->in_buffered = st->out_buffered = 0;
    for (const cn_conn *c = n->conn_list; c; c = c->next) {
        st->in_buffered += c->in.cap;
        st->out_buffered += cn__conn_queued(c);
    }
    st->node_names = cn__atom_count();
}

int cn_node_busy(cn_node *n, const char *peer)
{
    cn_conn *c = cn__conn_named(n, peer);
    return c && cn__conn_busy(c);
}

int cn_send_busy(cn_proc *p, const char *node)
{
    cn_conn *c = cn__conn_named(p->node, node);
    if (!c || !cn__conn_busy(c))
        return 0;
    return cn__conn_wait_drain(c, &p->pid) == 0;
}

size_t cn_node_peers(cn_node *n, const char **names, size_t max)
{
    size_t k = 0;
    for (cn_conn *c = n->conns; c; c = c->hh.next)
        if (c->state == CONN_UP) {
            if (k < max)
                names[k] = c->peer;
            k++;
        }
    return k;
}

void cn_node_disconnect(cn_node *n, const char *peer)
{
    cn_conn *c = cn__conn_named(n, peer);
    if (c)
        cn__conn_close(c, "disconnected by request");
}

/* ---- loop hooks --------------------------------------------------------- */

static void stop_finish(cn_node *n);

static void on_idle(uv_idle_t *h)
{
    cn_node *n = h->data;
    if (!cn__run_queue(n))
        uv_idle_stop(h);
    cn__free_zombies(n);
}

static void flush_dirty(cn_node *n)
{
    while (n->dirty) {
        cn_conn *c = n->dirty;
        n->dirty = c->next_dirty;
        c->dirty = 0;
        cn__conn_flush(c);
    }
}

/* Right after I/O: run what arrived and write the answers in this same
 * iteration (a reply to a call goes out without another loop turn). */
static void on_check(uv_check_t *h)
{
    cn_node *n = h->data;
    cn__run_queue(n);
    cn__free_zombies(n);
    flush_dirty(n);
}

/* Before blocking: write what timers and idle turns produced; free the
 * node names nothing holds (no runtime code is running here); the reads to
 * come get their time for handling messages in place. */
static void on_prepare(uv_prepare_t *h)
{
    cn_node *n = h->data;
    flush_dirty(n);
    cn__names_sweep(n);
    n->direct_since = 0;
    n->direct_count = 0;
    n->direct_off = 0;
}

int cn__node_direct_ok(cn_node *n)
{
    if (n->direct_off)
        return 0;
    if (n->direct_count++ % CN_TURN_CHECK == 0) {
        uint64_t now = uv_hrtime();
        if (!n->direct_since)
            n->direct_since = now;
        else if (now - n->direct_since > CN_TURN_NS)
            n->direct_off = 1;
    }
    return !n->direct_off;
}

void cn__node_schedule(cn_node *n)
{
    if (!uv_is_active((uv_handle_t *)&n->idle) && !uv_is_closing((uv_handle_t *)&n->idle))
        uv_idle_start(&n->idle, on_idle);
}

void cn__node_dirty(cn_node *n, cn_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = 1;
    c->next_dirty = n->dirty;
    n->dirty = c;
}

void cn__node_conn_gone(cn_node *n, cn_conn *c)
{
    if (c->dirty) {
        for (cn_conn **pp = &n->dirty; *pp; pp = &(*pp)->next_dirty)
            if (*pp == c) {
                *pp = c->next_dirty;
                break;
            }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conn_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->stats.conns--;
    free(c);
    if (n->stopping && !n->conn_list)
        stop_finish(n);
}

static void on_tick(uv_timer_t *t)
{
    cn_node *n = t->data;
    for (cn_conn *c = n->conn_list, *next; c; c = next) {
        next = c->next;
        cn__conn_tick(c);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    cn_node *n = server->data;
    if (status < 0) {
        cn_log(n, CN_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    cn__conn_accept(n, server);
}

void cn_node_on_signal(cn_node *n, cn_signal_cb cb, void *ud)
{
    n->signal_cb = cb;
    n->signal_ud = ud;
}

static void on_signal(uv_signal_t *s, int signum)
{
    cn_node *n = s->data;
    int first = !n->signalled;
    n->signalled = 1;
    if (first && n->signal_cb && n->signal_cb(n, signum, n->signal_ud)) {
        cn_log(n, CN_LOG_INFO, "signal %d: stopping once the node's own work is done "
               "(again to stop now)", signum);
        return;
    }
    cn_log(n, CN_LOG_INFO, "signal %d: stopping", signum);
    cn_node_stop(n);
}

/* ---- the node's own net_kernel ------------------------------------------ */

/* Answers net_adm:ping, which calls {net_kernel, Node} with {is_auth, Node}. */
static int net_kernel_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    if (cn_term_match(req, "{is_auth, _}"))
        return cn_replyf(p, from, "yes") < 0 ? CN_UNHANDLED : CN_OK;
    return CN_UNHANDLED;
}

static const cn_proc_ops net_kernel_ops = {
    .kind = "net_kernel",
    .handle_call = net_kernel_call,
    .unhandled = CN_UNHANDLED_LOG,
    .replies_at_once = 1,
};

/* ---- names and cookies -------------------------------------------------- */

/* This host's name: with long names, its canonical name looked up in the
 * node's address family (as erl -proto_dist inet6_tcp looks it up over
 * IPv6), else the name itself if it has a domain. */
static int host_name(int longnames, int family, char *out, size_t outsz, char *err,
                     size_t errlen)
{
    char h[256];
    if (gethostname(h, sizeof h) < 0) {
        snprintf(err, errlen, "gethostname: %s", strerror(errno));
        return -1;
    }
    h[sizeof h - 1] = '\0';
    if (!longnames) {
        char *dot = strchr(h, '.');
        if (dot)
            *dot = '\0';
        snprintf(out, outsz, "%s", h);
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_CANONNAME;
    hints.ai_family = family;
    if (getaddrinfo(h, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
        strchr(res->ai_canonname, '.')) {
        snprintf(out, outsz, "%s", res->ai_canonname);
    } else if (strchr(h, '.')) {
        snprintf(out, outsz, "%s", h);
    } else {
        if (res)
            freeaddrinfo(res);
        snprintf(err, errlen, "cannot use a long node name: host '%s' has no domain "
                 "(give the full name as alive@host)", h);
        return -1;
    }
    if (res)
        freeaddrinfo(res);
    return 0;
}

static int valid_alive(const char *a)
{
    if (!*a || strlen(a) > 200)
        return 0;
    for (; *a; a++)
        if (!(isalnum((unsigned char)*a) || *a == '_' || *a == '-'))
            return 0;
    return 1;
}

static int set_name(cn_node *n, const cn_node_config *cfg, char *err, size_t errlen)
{
    const char *name = cfg->name;
    if (!name || !*name) {
        snprintf(err, errlen, "a node name is required (--sname or --name)");
        return -1;
    }
    const char *at = strchr(name, '@');
    if (at) {
        snprintf(n->alive, sizeof n->alive, "%.*s", (int)(at - name), name);
        snprintf(n->host, sizeof n->host, "%s", at + 1);
        if (!n->host[0] || strchr(n->host, '@')) {
            snprintf(err, errlen, "bad node name '%s'", name);
            return -1;
        }
    } else {
        snprintf(n->alive, sizeof n->alive, "%s", name);
        if (host_name(cfg->longnames, n->family, n->host, sizeof n->host, err, errlen) < 0)
            return -1;
    }
    if (!valid_alive(n->alive)) {
        snprintf(err, errlen, "bad node name '%s': use letters, digits, '_' and '-'", name);
        return -1;
    }
    snprintf(n->name, sizeof n->name, "%s@%s", n->alive, n->host);
    n->self = cn_atom_intern(n->name, strlen(n->name));
    return n->self ? 0 : -1;
}

static void trim(char *s)
{
    size_t len = strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
                   s[len - 1] == '\t'))
        s[--len] = '\0';
}

/* Cookie from the config, $ERLANG_COOKIE, or ~/.erlang.cookie, which is
 * created with a random cookie if missing, as erl does. */
static int set_cookie(cn_node *n, const cn_node_config *cfg, char *err, size_t errlen)
{
    const char *c = cfg->cookie;
    if (!c || !*c)
        c = getenv("ERLANG_COOKIE");
    if (c && *c) {
        if (strlen(c) >= sizeof n->cookie - 1) {
            snprintf(err, errlen, "cookie too long");
            return -1;
        }
        snprintf(n->cookie, sizeof n->cookie, "%s", c);
        return 0;
    }
    const char *home = getenv("HOME");
    char path[1024];
    snprintf(path, sizeof path, "%s/.erlang.cookie", home ? home : ".");
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        unsigned char raw[20];
        if (n->random(raw, sizeof raw) < 0) {
            snprintf(err, errlen, "no random numbers to make a cookie in %s", path);
            return -1;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
        if (fd >= 0) {
            char fresh[21];
            for (int i = 0; i < 20; i++)
                fresh[i] = (char)('A' + raw[i] % 26);
            fresh[20] = '\0';
            ssize_t w = write(fd, fresh, 20);
            close(fd);
            if (w == 20)
                f = fopen(path, "r");
        }
    }
    if (!f) {
        snprintf(err, errlen, "no cookie: give --cookie, set ERLANG_COOKIE, or make %s (%s)",
                 path, strerror(errno));
        return -1;
    }
    if (!fgets(n->cookie, sizeof n->cookie, f))
        n->cookie[0] = '\0';
    fclose(f);
    trim(n->cookie);
    if (!n->cookie[0]) {
        snprintf(err, errlen, "%s is empty", path);
        return -1;
    }
    return 0;
}

/* ---- epmd registration -------------------------------------------------- */

/* As erl does: start "epmd -daemon" when none answers, and wait for it. */
static int ensure_epmd(cn_node *n, char *err, size_t errlen)
{
    if (cn__epmd_answers(n->family))
        return 0;
    cn_log(n, CN_LOG_INFO, "no epmd running: starting epmd -daemon");
    pid_t pid;
    char *argv[] = { "epmd", "-daemon", NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* the daemon must not hold our stdio (a parent waiting for EOF on our
     * stdout would wait for epmd) */
    for (int fd = 0; fd < 3; fd++)
        posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", fd ? O_WRONLY : O_RDONLY, 0);
    int sr = posix_spawnp(&pid, "epmd", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (sr != 0) {
        snprintf(err, errlen, "epmd is not running and cannot be started (is erlang installed?)");
        return -1;
    }
    int st;
    waitpid(pid, &st, 0);           /* -daemon: the parent exits at once */
    for (int i = 0; i < 100; i++) {
        if (cn__epmd_answers(n->family))
            return 0;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    snprintf(err, errlen, "started epmd, but it does not answer on port %d", cn__epmd_port());
    return -1;
}

static int publish(cn_node *n, char *err, size_t errlen)
{
    if (ensure_epmd(n, err, errlen) < 0)
        return -1;
    n->epmd_fd = cn__epmd_register(n->family, n->alive, n->port, err, errlen);
    return n->epmd_fd < 0 ? -1 : 0;
}

/* ---- start and stop ----------------------------------------------------- */

/* The listen address: --listen-host, or every interface of the family. */
static int listen_addr(const cn_node *n, const char *host, int port, struct sockaddr_storage *a)
{
    if (n->family == AF_INET6)
        return uv_ip6_addr(host ? host : "::", port, (struct sockaddr_in6 *)a);
    return uv_ip4_addr(host ? host : "0.0.0.0", port, (struct sockaddr_in *)a);
}

static int listen_on(cn_node *n, const cn_node_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage a;
    const char *host = cfg->listen_host ? cfg->listen_host : n->family == AF_INET6 ? "::"
                                                                                : "0.0.0.0";
    uv_tcp_init(n->loop, &n->listener);
    n->listener.data = n;
    n->handles_open++;
    if (cfg->port < 0 || cfg->port > 65535 || listen_addr(n, host, cfg->port, &a) < 0) {
        snprintf(err, errlen, "bad listen address '%s' port %d for %s", host, cfg->port,
                 n->family == AF_INET6 ? "IPv6" : "IPv4");
        return -1;
    }
    int r = uv_tcp_bind(&n->listener, (struct sockaddr *)&a, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&n->listener, 511, on_connection);
    if (r < 0) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", host, cfg->port, uv_strerror(r));
        return -1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&n->listener, (struct sockaddr *)&bound, &len);
    n->port = cn__addr_port((struct sockaddr *)&bound);
    return 0;
}

static void on_node_handle_closed(uv_handle_t *h)
{
    cn_node *n = h->data;
    n->handles_open--;
}

static void close_handle(cn_node *n, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_node_handle_closed);
    (void)n;
}

static void init_handles(cn_node *n, const cn_node_config *cfg)
{
    uv_timer_init(n->loop, &n->tick_timer);
    uv_idle_init(n->loop, &n->idle);
    uv_check_init(n->loop, &n->check);
    uv_prepare_init(n->loop, &n->prepare);
    n->tick_timer.data = n->idle.data = n->check.data = n->prepare.data = n;
    n->handles_open += 4;
    uv_timer_start(&n->tick_timer, on_tick, n->tick_ms, n->tick_ms);
    uv_check_start(&n->check, on_check);
    uv_prepare_start(&n->prepare, on_prepare);
    if (!cfg->no_signals) {
        uv_signal_init(n->loop, &n->sigint);
        uv_signal_init(n->loop, &n->sigterm);
        n->sigint.data = n->sigterm.data = n;
        n->handles_open += 2;
        n->signals = 1;
        uv_signal_start(&n->sigint, on_signal, SIGINT);
        uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    }
    cn__timers_init(n);
    n->handles_open++;
}

cn_node *cn_node_start(uv_loop_t *loop, const cn_node_config *cfg, char *err, size_t errlen)
{
    cn_node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ei_init();
    /* a write to a peer that just closed must be an error, not death (erl
     * ignores SIGPIPE too) */
    signal(SIGPIPE, SIG_IGN);
    n->loop = loop;
    n->random = cfg->random ? cfg->random : os_random;
    /* ei drops the creation epmd hands out, so each start draws its own:
     * pids and refs of an earlier life of this node never match ours. */
    uint32_t r;
    if (n->random(&r, sizeof r) < 0) {
        snprintf(err, errlen, "no random numbers (getrandom failed): a node needs them for "
                 "its creation and its handshake challenges");
        free(n);
        return NULL;
    }
    n->creation = 4 + r % 0x7ffffff0u;
    n->epmd_fd = -1;
    n->verbose = cfg->verbose;
    n->max_packet = cfg->max_packet ? cfg->max_packet : DEFAULT_MAX_PACKET;
    n->input_budget = cfg->input_budget ? cfg->input_budget : 2 * n->max_packet;
    n->stop_drain_ms = cfg->stop_drain_ms ? cfg->stop_drain_ms : DEFAULT_STOP_DRAIN_MS;
    n->max_output = cfg->max_output ? cfg->max_output : DEFAULT_MAX_OUTPUT;
    n->rx_batching = !cfg->no_rx_batching;
    n->tick_ms = (cfg->ticktime_s ? cfg->ticktime_s : 60) * 1000 / 4;
    n->family = cfg->inet6 ? AF_INET6 : AF_INET;
    n->next_pid = 1;
    if (set_name(n, cfg, err, errlen) < 0 || set_cookie(n, cfg, err, errlen) < 0) {
        free(n);
        return NULL;
    }
    if (cfg->tls && !(n->tls = cn__tls_ctx_new(&cfg->tls_opts, err, errlen))) {
        free(n);
        return NULL;
    }
    if (listen_on(n, cfg, err, errlen) < 0 || publish(n, err, errlen) < 0) {
        uv_close((uv_handle_t *)&n->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        cn__tls_ctx_free(n->tls);
        free(n);
        return NULL;
    }
    init_handles(n, cfg);
    cn__atom_node_count(1);
    if (!cn_spawn(n, &net_kernel_ops, NULL, "net_kernel")) {
        snprintf(err, errlen, "cannot start net_kernel");
        cn_node_stop(n);
        return n;
    }
    cn_log(n, CN_LOG_INFO, "node %s up on port %d (creation %u)", n->name, n->port, n->creation);
    return n;
}

static void report_handle(uv_handle_t *h, void *arg)
{
    cn_node *n = arg;
    if (!uv_is_closing(h) && h != (uv_handle_t *)&n->stop_timer)
        cn_log(n, CN_LOG_WARN, "still open at shutdown: %s handle%s", uv_handle_type_name(h->type),
               uv_is_active(h) ? " (active)" : "");
}

static void on_stop_slow(uv_timer_t *t)
{
    cn_node *n = t->data;
    uv_walk(n->loop, report_handle, n);
    for (cn_conn *c = n->conn_list; c; c = c->next)
        cn_log(n, CN_LOG_WARN, "still open at shutdown: connection %s in state %d",
               c->peer ? c->peer : "?", (int)c->state);
    uv_close((uv_handle_t *)t, NULL);
}

/* The stop's deadline for output: whatever is still queued is dropped. */
static void on_drain_deadline(uv_timer_t *t)
{
    cn_node *n = t->data;
    for (cn_conn *c = n->conn_list, *next; c; c = next) {
        next = c->next;
        cn__conn_drain_expired(c, n->stop_drain_ms);
    }
}

/* No connection is left: the timers that served the drain go, and with
 * them the last handles that keep uv_run going. */
static void stop_finish(cn_node *n)
{
    close_handle(n, (uv_handle_t *)&n->tick_timer);
    close_handle(n, (uv_handle_t *)&n->drain_timer);
}

/* Connections with output queued get stop_drain_ms to write it (one still
 * being set up may come up and deliver it); ticks go on meanwhile.  The
 * others close now. */
static void stop_connections(cn_node *n)
{
    uv_timer_init(n->loop, &n->drain_timer);
    n->drain_timer.data = n;
    n->handles_open++;
    uv_timer_start(&n->drain_timer, on_drain_deadline, n->stop_drain_ms, 0);
    flush_dirty(n);
    for (cn_conn *c = n->conn_list, *next; c; c = next) {
        next = c->next;
        if (cn__conn_idle(c) || c->state == CONN_WAIT_PEER)
            cn__conn_close(c, "node stopping");
    }
    if (!n->conn_list)
        stop_finish(n);
}

void cn_node_stop(cn_node *n)
{
    if (n->stopping)
        return;
    n->stopping = 1;                /* no new connections from here on */
    cn__proc_stop_all(n, "shutdown");
    close_handle(n, (uv_handle_t *)&n->listener);
    if (n->epmd_fd >= 0) {
        close(n->epmd_fd);          /* epmd forgets the name */
        n->epmd_fd = -1;
    }
    stop_connections(n);
    close_handle(n, (uv_handle_t *)&n->prepare);
    close_handle(n, (uv_handle_t *)&n->idle);
    if (n->signals) {
        close_handle(n, (uv_handle_t *)&n->sigint);
        close_handle(n, (uv_handle_t *)&n->sigterm);
    }
    close_handle(n, (uv_handle_t *)&n->check);
    cn__timers_close(n, on_node_handle_closed);
    /* if anything keeps the loop alive past the drain, say what, instead
     * of hanging quietly */
    uv_timer_init(n->loop, &n->stop_timer);
    n->stop_timer.data = n;
    uv_timer_start(&n->stop_timer, on_stop_slow, n->stop_drain_ms + 1000, 0);
    uv_unref((uv_handle_t *)&n->stop_timer);
}

void cn_node_free(cn_node *n)
{
    if (!n)
        return;
    /* the unreferenced shutdown reporter may outlive uv_run */
    if (n->stopping && !uv_is_closing((uv_handle_t *)&n->stop_timer)) {
        uv_close((uv_handle_t *)&n->stop_timer, NULL);
        uv_run(n->loop, UV_RUN_NOWAIT);
    }
    cn__procs_free(n);
    cn__timers_free(n);
    cn__atom_node_count(-1);
    cn_buf_free(&n->scratch);
    cn_buf_free(&n->sendbuf);
    cn_buf_free(&n->sigbuf);
    cn_buf_free(&n->fmt_spare);
    cn_buf_free(&n->tls_in);
    cn__tls_ctx_free(n->tls);
    free(n);
}
