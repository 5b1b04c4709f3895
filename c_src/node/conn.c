/* conn.c - one distribution connection on libuv.
 *
 * Dialing: resolve the peer's host, ask its epmd for the port, connect,
 * handshake as initiator.  Accepting: handshake as acceptor, deciding
 * simultaneous connects as net_kernel does; the name a peer claims stays in
 * its handshake state, out of the table of node names and of the node's
 * registry of connections, until it has proven the cookie.  Once up: split
 * the byte stream into packets, hand them to route.c, and write everything
 * queued for the peer in one write per loop turn.  Ticks keep the link
 * alive and detect a silent peer.  Messages sent while the connection is
 * being set up wait in its output buffer and go out when it is up; if setup
 * fails they are dropped, as erts drops them, and links and monitors see
 * noconnection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

typedef struct hs_write {
    uv_write_t req;
    size_t     len;
    char       data[];
} hs_write;

static void process_input(cn_conn *c);
static void notify_drained(cn_conn *c);

/* ---- lifetime ----------------------------------------------------------- */

/* Frees the connection once it is closing and nothing refers to it. */
static void free_if_done(cn_conn *c)
{
    if (c->handles_open == 0 && c->state == CONN_CLOSING) {
        free(c->drain_waiters);
        cn_buf_free(&c->in);
        cn_buf_free(&c->out);
        cn_buf_free(&c->wbuf);
        cn__tls_free(c->tls);
        cn__node_conn_gone(c->node, c);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    cn_conn *c = h->data;
    c->handles_open--;
    free_if_done(c);
}

static void close_tcp(cn_conn *c)
{
    if (c->tcp_open) {
        c->tcp_open = 0;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    }
}

static void unregister(cn_conn *c)
{
    cn_conn *cur = NULL;
    if (c->peer)
        HASH_FIND_PTR(c->node->conns, &c->peer, cur);
    if (cur == c)
        HASH_DEL(c->node->conns, c);
}

cn_conn *cn__conn_named(cn_node *n, const char *name)
{
    cn_atom a = cn__atom_find(name, strlen(name));
    cn_conn *c = NULL;
    if (a)
        HASH_FIND_PTR(n->conns, &a, c);
    return c;
}

/* The peer's address as text ("?" if unknown), for logs. */
static const char *conn_addr(const cn_conn *c, char *buf, size_t size)
{
    struct sockaddr_storage a;
    int len = sizeof a;
    if (!c->tcp_open || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&a, &len) < 0)
        return "?";
    return cn__addr_text((struct sockaddr *)&a, buf, size);
}

/* For logs: the peer's name, the one it claims while that is unproven, or
 * its address. */
static const char *conn_name(const cn_conn *c, char *buf, size_t size)
{
    char at[INET6_ADDRSTRLEN + 16];
    if (c->peer)
        return c->peer;
    if (!c->hs.peer_name[0])
        snprintf(buf, size, "an unnamed peer at %s", conn_addr(c, at, sizeof at));
    else
        snprintf(buf, size, "%s (unproven)", c->hs.peer_name);
    return buf;
}

/* A dial that never came up: why, as a person would want it said. */
static void note_dial_failure(cn_conn *c, const char *why)
{
    char text[600];
    switch (c->state) {
    case CONN_RESOLVING:
    case CONN_EPMD:
        snprintf(text, sizeof text, "%s on %s", why, c->peer_host);
        break;
    case CONN_CONNECTING:
        snprintf(text, sizeof text, "connection refused on %s:%d (epmd knows the node: "
                 "is it stopping?)", c->peer_host,
                 cn__addr_port((struct sockaddr *)&c->peer_addr));
        break;
    case CONN_HANDSHAKE:
        snprintf(text, sizeof text, c->hs.error ? "handshake failed: %s"
                 : "handshake refused by the peer (%s: wrong cookie?)", c->hs.error ? c->hs.error : why);
        break;
    default:
        snprintf(text, sizeof text, "%s", why);
    }
    cn__node_dial_failed(c->node, c->peer, text);
}

/* level: how loudly to say why (CN_LOG_DEBUG for expected closes). */
static void close_conn_at(cn_conn *c, const char *why, int level, int silent)
{
    cn_node *n = c->node;
    char name[CN_ATOM_BUF + INET6_ADDRSTRLEN + 32];
    if (c->state == CONN_CLOSING)
        return;
    if (c->initiator && c->peer && !c->nodeup_sent && !silent)
        note_dial_failure(c, why);
    cn_log(n, level, "connection %s %s: %s", c->initiator ? "to" : "from",
           conn_name(c, name, sizeof name), why);
    unregister(c);
    c->state = CONN_CLOSING;
    if (c->ndrain)
        notify_drained(c);          /* a waiting sender must not wait forever */
    if (c->epmd) {
        cn__epmd_cancel(c->epmd);
        c->epmd = NULL;
    }
    if (c->gai_active)
        uv_cancel((uv_req_t *)&c->gai);
    close_tcp(c);
    if (c->timer_open) {
        c->timer_open = 0;
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    }
    if (c->peer && !silent) {
        /* links and monitors towards the peer see noconnection */
        cn_conn *other = NULL;
        HASH_FIND_PTR(n->conns, &c->peer, other);
        if (!other) {
            /* nodedown also for a dial that never came up, as
             * monitor_node reports it */
            cn__route_down(n, c->peer, c->nodeup_sent || c->initiator);
        }
    }
    free_if_done(c);
}

/* A failure worth a warning: protocol errors, bad cookies, timeouts. */
static void close_conn(cn_conn *c, const char *why, int silent)
{
    close_conn_at(c, why, silent ? CN_LOG_DEBUG : CN_LOG_WARN, silent);
}

void cn__conn_close(cn_conn *c, const char *why) { close_conn_at(c, why, CN_LOG_INFO, 0); }

void cn__conn_drain_expired(cn_conn *c, unsigned ms)
{
    char why[160];
    snprintf(why, sizeof why, "node stopping: %zu bytes of output not written within %u ms, "
             "dropped", cn__conn_queued(c), ms);
    close_conn(c, why, 0);
}

static void on_setup_timeout(uv_timer_t *t)
{
    cn_conn *c = t->data;
    close_conn(c, c->state == CONN_WAIT_PEER ? "peer did not connect back after nok"
                                             : "connection setup timed out", 0);
}

static cn_conn *conn_new(cn_node *n, int initiator)
{
    cn_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = n;
    c->initiator = initiator;
    uv_tcp_init(n->loop, &c->tcp);
    uv_timer_init(n->loop, &c->timer);
    c->tcp.data = c->timer.data = c->gai.data = c->connect_req.data = c;
    c->wreq.data = c;
    c->tcp_open = c->timer_open = 1;
    c->handles_open = 2;
    uv_timer_start(&c->timer, on_setup_timeout, CN_SETUP_TIMEOUT_MS, 0);
    c->next = n->conn_list;
    if (n->conn_list)
        n->conn_list->prev = c;
    n->conn_list = c;
    n->stats.conns++;
    return c;
}

/* ---- writing ------------------------------------------------------------ */

static void on_hs_written(uv_write_t *w, int status)
{
    cn_conn *c = w->handle->data;
    free(w);
    if (status < 0 && c->state != CONN_CLOSING)
        close_conn(c, uv_strerror(status), 0);
}

/* Writes b's handshake messages (or, empty, just the output the TLS
 * session has pending) at once, sealed under TLS. */
static void write_handshake(cn_conn *c, cn_buf *b)
{
    if (!c->tcp_open)
        return;
    if (c->tls && cn__tls_seal(c->tls, b) < 0) {
        close_conn(c, "TLS: cannot encrypt the handshake", 0);
        return;
    }
    if (!b->len)
        return;
    hs_write *w = malloc(sizeof *w + b->len);
    if (!w) {
        close_conn(c, "out of memory", 0);
        return;
    }
    memcpy(w->data, b->data, b->len);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)b->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_hs_written) < 0) {
        free(w);
        close_conn(c, "cannot write handshake", 0);
    }
    cn_buf_reset(b);
}

size_t cn__conn_queued(const cn_conn *c) { return c->out.len + c->wbuf.len; }
int cn__conn_busy(const cn_conn *c) { return cn__conn_queued(c) > CN_HIGH_WATER; }

/* Tells the processes that found the connection busy that it drained. */
static void notify_drained(cn_conn *c)
{
    size_t k = c->ndrain;
    cn_pid *who = c->drain_waiters;
    c->drain_waiters = NULL;
    c->ndrain = c->drain_cap = 0;
    cn__route_drained(c->node, c->peer, who, k);
    free(who);
}

int cn__conn_wait_drain(cn_conn *c, const cn_pid *pid)
{
    for (size_t i = 0; i < c->ndrain; i++)
        if (cn_pid_eq(&c->drain_waiters[i], pid))
            return 0;
    if (c->ndrain == c->drain_cap) {
        size_t cap = c->drain_cap ? c->drain_cap * 2 : 4;
        cn_pid *w = realloc(c->drain_waiters, cap * sizeof *w);
        if (!w)
            return -1;
        c->drain_waiters = w;
        c->drain_cap = cap;
    }
    c->drain_waiters[c->ndrain++] = *pid;
    return 0;
}

static void on_written(uv_write_t *w, int status)
{
    cn_conn *c = w->data;
    c->writing = 0;
    c->node->stats.bytes_out += c->wbuf.len;
    cn_buf_reset(&c->wbuf);
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        close_conn(c, uv_strerror(status), 0);
        return;
    }
    cn__conn_flush(c);
    if (c->ndrain && cn__conn_queued(c) < CN_LOW_WATER)
        notify_drained(c);
    if (c->node->stopping && cn__conn_idle(c))
        close_conn(c, "node stopping", 1);
}

void cn__conn_flush(cn_conn *c)
{
    if (c->state != CONN_UP || c->writing || !c->out.len)
        return;
    if (cn_buf_failed(&c->out)) {
        close_conn(c, "out of memory for output", 0);
        return;
    }
    cn_buf_swap(&c->out, &c->wbuf);
    if (c->tls && cn__tls_seal(c->tls, &c->wbuf) < 0) {
        cn_buf_reset(&c->wbuf);
        close_conn(c, "TLS: cannot encrypt output", 0);
        return;
    }
    uv_buf_t b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->writing = 1;
    c->tx_seen = 1;
    cn__rxb_wrote(c);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        c->writing = 0;
        close_conn(c, "write failed", 0);
    }
}

cn_buf *cn__conn_out(cn_conn *c)
{
    if (c->state == CONN_UP && !c->dirty)
        cn__node_dirty(c->node, c);
    return &c->out;
}

int cn__conn_idle(const cn_conn *c) { return !c->writing && c->out.len == 0; }

void cn__conn_tick(cn_conn *c)
{
    if (c->state != CONN_UP)
        return;
    if (c->rx_seen) {
        c->rx_seen = 0;
        c->rx_idle_ticks = 0;
    } else if (++c->rx_idle_ticks >= 4) {
        close_conn(c, "net_tick_timeout: peer silent for a whole tick time", 0);
        return;
    }
    if (!c->tx_seen && !c->writing && !c->out.len) {
        cn_dist_put_tick(cn__conn_out(c));
    }
    c->tx_seen = 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Lets the kernel delay pure ACKs.  A receiver faster than its sender
 * otherwise ACKs every small segment at once, so the sender never has data
 * in flight to coalesce and pays a packet per message; with delayed ACKs its
 * writes merge into full segments.  Replies still carry ACKs at once, so
 * round trips are not slowed.  Linux turns quick ACKs back on by itself, so
 * this is repeated after reads. */
static void delay_acks(cn_conn *c)
{
#ifdef TCP_QUICKACK
    int fd = cn__conn_fd(c), off = 0;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
#else
    (void)c;
#endif
}

/* ---- the input buffer and the node's input budget (cn.h) ----------------- */

/* What a buffer of this capacity takes from the budget. */
static size_t over_base(size_t cap) { return cap > CN_IN_BASE ? cap - CN_IN_BASE : 0; }

/* The budget in use by the open connections other than c. */
static size_t budget_used(const cn_node *n, const cn_conn *c)
{
    size_t used = 0;
    for (const cn_conn *o = n->conn_list; o; o = o->next)
        if (o != c && o->state != CONN_CLOSING)
            used += over_base(o->in.cap);
    return used;
}

/* The log line of a packet refused for the budget (others: what the other
 * connections held). */
static void say_refused(cn_conn *c, size_t others)
{
    cn_node *n = c->node;
    cn_log(n, CN_LOG_WARN, "connection %s %s: a packet of %zu bytes does not fit the input "
           "budget (%zu bytes, %zu of them held for other connections): disconnecting",
           c->initiator ? "to" : "from", c->peer ? c->peer : "?", c->in_need,
           n->input_budget, others);
}

/* Whether c's buffer may grow to cap bytes: what it then takes, with what
 * the other open connections take, stays within the budget.  Says why not. */
static int budget_allows(cn_conn *c, size_t cap)
{
    cn_node *n = c->node;
    size_t want = over_base(cap), others = 0;
    if (want == 0)
        return 1;
    if (want <= n->input_budget) {
        others = budget_used(n, c);
        if (others <= n->input_budget - want)
            return 1;
    }
    say_refused(c, others);
    return 0;
}

/* Room for the next read: a chunk, or, while a packet larger than that
 * arrives, as much again as the buffer holds, up to the packet's end: the
 * buffer doubles as the bytes come in, never on the announced length. */
static size_t in_room(const cn_conn *c)
{
    size_t chunk = c->state == CONN_UP ? CN_READ_CHUNK : CN_HS_CHUNK;
    size_t rest = c->in_need > c->in.len ? c->in_need - c->in.len : 0;
    if (rest <= chunk)
        return chunk;
    return c->in.len < chunk ? chunk : c->in.len < rest ? c->in.len : rest;
}

/* Makes room for the next read; -1 if the budget or memory does not allow. */
static int in_reserve(cn_conn *c)
{
    size_t room = in_room(c);
    size_t cap = cn_buf_cap_for(&c->in, room);
    if (cap == c->in.cap)
        return 0;
    if (c->in_need > CN_IN_BASE) {
        /* a large packet: never beyond its end (and a read's room) */
        size_t end = c->in.len + room > c->in_need ? c->in.len + room : c->in_need;
        cap = cap < end ? cap : end;
    }
    if (over_base(cap) > over_base(c->in.cap) && !budget_allows(c, cap)) {
        c->in_refused = 1;
        return -1;
    }
    return cn_buf_resize(&c->in, cap);
}

/* After a large packet, gives back what the buffer no longer needs. */
static void in_trim(cn_conn *c)
{
    if (c->in.cap > CN_IN_BASE && c->in_need <= CN_IN_BASE && c->in.len <= CN_READ_CHUNK)
        cn_buf_resize(&c->in, CN_IN_BASE);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    cn_conn *c = h->data;
    (void)hint;
    if (c->tls) {
        /* ciphertext: one node-wide buffer, emptied by on_read at once */
        cn_buf *tin = &c->node->tls_in;
        buf->base = cn_buf_reserve(tin, CN_READ_CHUNK) < 0 ? NULL : tin->data;
        buf->len = buf->base ? tin->cap : 0;
        return;
    }
    if (in_reserve(c) < 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len;
}

static void tls_input(cn_conn *c, const char *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cn_conn *c = s->data;
    if (c->state == CONN_CLOSING)
        return;
    if (nread == UV_ENOBUFS) {
        close_conn(c, c->in_refused ? "input budget exceeded" : "out of memory for input", 0);
        return;
    }
    if (nread < 0) {
        close_conn_at(c, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread),
                      CN_LOG_INFO, 0);
        return;
    }
    c->rx_seen = 1;
    c->node->stats.bytes_in += (size_t)nread;
    uint64_t msgs = c->node->stats.msgs_in;
    if (c->tls) {
        tls_input(c, buf->base, (size_t)nread);
    } else {
        c->in.len += (size_t)nread;
        process_input(c);
    }
    if (c->state == CONN_UP) {
        delay_acks(c);
        cn__rxb_read(c, (size_t)nread, buf->len, c->node->stats.msgs_in - msgs);
    }
}

int cn__conn_fd(cn_conn *c)
{
    uv_os_fd_t fd;
    return c->tcp_open && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
}

void cn__conn_reading(cn_conn *c, int on)
{
    if (c->state == CONN_CLOSING || !c->tcp_open)
        return;
    if (!on)
        uv_read_stop((uv_stream_t *)&c->tcp);
    else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        close_conn(c, "read failed", 0);
}

static void went_up(cn_conn *c)
{
    cn_node *n = c->node;
    c->state = CONN_UP;
    c->peer_flags = c->hs.peer_flags;
    c->peer_creation = c->hs.peer_creation;
    if (c->timer_open)
        uv_timer_stop(&c->timer);
    char at[INET6_ADDRSTRLEN + 16];
    cn_log(n, CN_LOG_INFO, "connection %s %s (%s) is up", c->initiator ? "to" : "from", c->peer,
           conn_addr(c, at, sizeof at));
    c->nodeup_sent = 1;
    cn__node_dial_failed(n, c->peer, NULL);
    cn__route_up(n, c->peer);
    if (c->out.len)
        cn__node_dirty(n, c);
    if (n->stopping) {
        /* came up during a stop: deliver what was queued, then close */
        cn__conn_flush(c);
        if (cn__conn_idle(c))
            close_conn(c, "node stopping", 1);
    }
}

/* The acceptor learned the name the peer claims: answer as net_kernel
 * does.  The claim is unproven until the cookie is, so nothing changes
 * here: the name stays in c->hs, out of the table of node names, and the
 * connection stays unregistered until take_place.  A stranger thus can
 * neither fill the table nor hold or push out another node's connection. */
static cn_hs_result decide(cn_conn *c, cn_buf *hsout)
{
    cn_node *n = c->node;
    const char *name = c->hs.peer_name;
    if (strcmp(name, n->name) == 0) {
        cn_log(n, CN_LOG_WARN, "refusing a connection claiming to be this node");
        return cn_hs_decide(&c->hs, CN_HS_NOT_ALLOWED, hsout);
    }
    cn_conn *old = cn__conn_named(n, name);
    if (!old)
        return cn_hs_decide(&c->hs, CN_HS_OK, hsout);
    if (old->state == CONN_UP)
        return cn_hs_decide(&c->hs, CN_HS_ALIVE, hsout);
    /* our own dial is pending (nothing else is registered before it is up):
     * a simultaneous connect, won by the greater name */
    if (strcmp(n->name, name) > 0)
        return cn_hs_decide(&c->hs, CN_HS_NOK, hsout);
    return cn_hs_decide(&c->hs, CN_HS_OK_SIMULTANEOUS, hsout);
}

/* An acceptor's handshake finished: the peer proved the cookie, so its name
 * is taken in and the connection registered.  Our own pending dial to it
 * (a simultaneous connect the peer won) gives way quietly and hands over
 * what was queued on it; an old connection that is up (the peer restarted,
 * or lost our FIN) is replaced.  -1 if the connection had to close. */
static int take_place(cn_conn *c)
{
    cn_node *n = c->node;
    cn_conn *cur = NULL;
    c->peer = cn__atom_intern_weak(c->hs.peer_name, strlen(c->hs.peer_name));
    if (!c->peer) {
        close_conn(c, "the table of node names is full", 0);
        return -1;
    }
    HASH_FIND_PTR(n->conns, &c->peer, cur);
    if (cur && cur->state != CONN_UP) {
        cn_buf_swap(&c->out, &cur->out);
        HASH_DEL(n->conns, cur);
        HASH_ADD_PTR(n->conns, peer, c);
        close_conn(cur, "simultaneous connect resolved in the peer's favour", 1);
        return 0;
    }
    if (cur)
        close_conn(cur, "replaced by a new connection from the same node", 0);
    HASH_ADD_PTR(n->conns, peer, c);
    return 0;
}

static size_t handshake_input(cn_conn *c, size_t off)
{
    cn_node *n = c->node;
    cn_buf *hsout = &n->scratch;
    cn_buf_reset(hsout);
    while (c->state == CONN_HANDSHAKE) {
        size_t used;
        cn_hs_result r = cn_hs_feed(&c->hs, c->in.data + off, c->in.len - off, &used, hsout);
        off += used;
        if (r == CN_HS_NAME)
            r = decide(c, hsout);
        write_handshake(c, hsout);
        if (r == CN_HS_DONE) {
            if (c->initiator || take_place(c) == 0)
                went_up(c);
        } else if (r == CN_HS_FAILED) {
            if (c->initiator && c->hs.nok) {
                /* The peer keeps its own attempt and will dial us. */
                cn_log(n, CN_LOG_DEBUG, "%s answered nok; waiting for its connection", c->peer);
                c->state = CONN_WAIT_PEER;
                close_tcp(c);
            } else {
                /* our own nok in a simultaneous connect is routine */
                close_conn_at(c, c->hs.error, c->hs.nok_sent ? CN_LOG_DEBUG : CN_LOG_WARN, 0);
            }
        } else if (used == 0) {
            break;
        }
    }
    return off;
}

static size_t packet_input(cn_conn *c, size_t off)
{
    cn_node *n = c->node;
    cn_dist_msg m;
    c->in_need = 0;
    while (c->state == CONN_UP) {
        const char *body;
        size_t blen, used, need;
        cn_frame_result r = cn_frame_next(c->in.data + off, c->in.len - off, n->max_packet,
                                          &body, &blen, &used, &need);
        if (r == CN_FRAME_MORE) {
            /* the buffer grows as the packet's bytes arrive (in_reserve);
             * one larger than the whole budget is refused at once */
            c->in_need = need;
            if (over_base(need) > n->input_budget) {
                say_refused(c, 0);
                close_conn(c, "input budget exceeded", 0);
            }
            break;
        }
        if (r == CN_FRAME_TOO_BIG) {
            close_conn(c, "packet larger than the configured maximum", 0);
            break;
        }
        off += used;
        if (r == CN_FRAME_TICK)
            continue;
        const char *why;
        if (cn_dist_parse(body, blen, &m, &why) < 0) {
            close_conn(c, why, 0);
            break;
        }
        n->stats.msgs_in++;
        cn__route_packet(c, &m);
    }
    return off;
}

static void process_input(cn_conn *c)
{
    size_t off = 0;
    if (c->state == CONN_HANDSHAKE)
        off = handshake_input(c, off);
    if (c->state == CONN_UP)
        off = packet_input(c, off);
    if (c->state != CONN_CLOSING) {
        cn_buf_consume(&c->in, off);
        in_trim(c);
    }
}

/* The initiator opens the distribution handshake with its name. */
static void start_dist_handshake(cn_conn *c)
{
    if (!c->initiator)
        return;
    cn_buf *b = &c->node->scratch;
    cn_buf_reset(b);
    cn_hs_start(&c->hs, b);
    write_handshake(c, b);
}

/* ---- TLS (tls.c) -------------------------------------------------------- */

/* Writes what the TLS session has to send (handshake records, alerts,
 * session tickets). */
static void tls_write_pending(cn_conn *c)
{
    cn_buf *b = &c->node->scratch;
    cn_buf_reset(b);
    write_handshake(c, b);
}

/* Steps the TLS handshake; once it is done the distribution handshake
 * starts inside it.  0 if the session is up, 1 if it waits for the peer,
 * -1 if the connection closed. */
static int tls_step(cn_conn *c)
{
    const char *why = NULL;
    int r = cn__tls_handshake(c->tls, &why);
    tls_write_pending(c);
    if (c->state == CONN_CLOSING)
        return -1;
    if (r < 0) {
        close_conn(c, why, 0);
        return -1;
    }
    if (r == 0)
        return 1;
    cn_log(c->node, CN_LOG_DEBUG, "TLS session %s %s is up", c->initiator ? "to" : "from",
           c->initiator ? c->peer : "a peer");
    start_dist_handshake(c);
    return c->state == CONN_CLOSING ? -1 : 0;
}

/* Ciphertext arrived: steps the TLS handshake, then moves the plaintext
 * the session holds into c->in, processed as a plain connection's input. */
static void tls_input(cn_conn *c, const char *data, size_t len)
{
    const char *why = NULL;
    if (cn__tls_feed(c->tls, data, len) < 0) {
        close_conn(c, "out of memory for TLS input", 0);
        return;
    }
    if (!cn__tls_up(c->tls) && tls_step(c) != 0)
        return;
    while (c->state == CONN_HANDSHAKE || c->state == CONN_UP) {
        if (in_reserve(c) < 0) {
            close_conn(c, c->in_refused ? "input budget exceeded" : "out of memory for input", 0);
            return;
        }
        ssize_t k = cn__tls_read(c->tls, c->in.data + c->in.len, c->in.cap - c->in.len, &why);
        tls_write_pending(c);
        if (k == -2) {
            close_conn_at(c, why, CN_LOG_INFO, 0);
            return;
        }
        if (k < 0) {
            close_conn(c, why, 0);
            return;
        }
        if (k == 0 || c->state == CONN_CLOSING)
            return;
        c->in.len += (size_t)k;
        process_input(c);
    }
}

static void start_handshake(cn_conn *c)
{
    cn_node *n = c->node;
    c->state = CONN_HANDSHAKE;
    cn_hs_init(&c->hs, c->initiator ? CN_HS_INITIATOR : CN_HS_ACCEPTOR, n->name,
               CN_DFLAGS_OURS, n->creation, n->cookie, n->random,
               c->initiator ? c->peer : NULL);
    uv_tcp_nodelay(&c->tcp, 1);
    if (n->tls) {
        /* TLS first, the distribution handshake inside it (with 4-byte
         * lengths, as inet_tls_dist) */
        cn_hs_use_long_lengths(&c->hs);
        c->tls = cn__tls_new(n->tls, !c->initiator, c->peer_host);
        if (!c->tls) {
            close_conn(c, "out of memory for a TLS session", 0);
            return;
        }
        if (c->initiator && tls_step(c) < 0)
            return;
    } else {
        start_dist_handshake(c);
    }
    if (c->state != CONN_CLOSING && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        close_conn(c, "cannot read from socket", 0);
}

/* ---- accepting ---------------------------------------------------------- */

void cn__conn_accept(cn_node *n, uv_stream_t *server)
{
    cn_conn *c = conn_new(n, 0);
    if (!c)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        close_conn(c, "accept failed", 1);
        return;
    }
    start_handshake(c);
}

/* ---- dialing ------------------------------------------------------------ */

static void on_connected(uv_connect_t *req, int status)
{
    cn_conn *c = req->data;
    if (c->state == CONN_CLOSING)
        return;
    if (status < 0) {
        close_conn_at(c, "cannot connect to the peer's port", CN_LOG_INFO, 0);
        return;
    }
    start_handshake(c);
}

static void on_port(void *ud, int port, const char *err)
{
    cn_conn *c = ud;
    c->epmd = NULL;
    if (c->state == CONN_CLOSING)
        return;
    if (err) {
        /* a peer that is not up (yet) is routine, not a warning */
        close_conn_at(c, err, CN_LOG_INFO, 0);
        return;
    }
    cn__addr_set_port((struct sockaddr *)&c->peer_addr, port);
    c->state = CONN_CONNECTING;
    if (uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&c->peer_addr,
                       on_connected) < 0)
        close_conn(c, "cannot connect to the peer's port", 0);
}

/* The peer's host address is known: ask its epmd for the port. */
static void ask_epmd(cn_conn *c)
{
    struct sockaddr_storage epmd = c->peer_addr;
    cn__addr_set_port((struct sockaddr *)&epmd, cn__epmd_port());
    c->state = CONN_EPMD;
    c->epmd = cn__epmd_port_please(c->node->loop, (struct sockaddr *)&epmd, c->peer_alive,
                                   on_port, c);
    if (!c->epmd)
        close_conn(c, "cannot start the epmd lookup", 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    cn_conn *c = req->data;
    c->gai_active = 0;
    c->handles_open--;
    if (c->state == CONN_CLOSING) {
        uv_freeaddrinfo(res);
        free_if_done(c);
        return;
    }
    if (status == 0 && res && res->ai_addrlen <= sizeof c->peer_addr) {
        memcpy(&c->peer_addr, res->ai_addr, res->ai_addrlen);
    } else if (cn__addr_own_loopback(c->peer_host, c->node->family, &c->peer_addr) < 0) {
        uv_freeaddrinfo(res);
        close_conn(c, c->node->family == AF_INET6 ? "cannot resolve the peer's host name to "
                   "an IPv6 address" : "cannot resolve the peer's host name", 0);
        return;
    }
    uv_freeaddrinfo(res);
    ask_epmd(c);
}

/* Splits "alive@host"; -1 if it is not a node name. */
static int split_name(const char *name, char *alive, char *host)
{
    const char *at = strchr(name, '@');
    if (!at || at == name || !at[1] || strchr(at + 1, '@'))
        return -1;
    size_t an = (size_t)(at - name), hn = strlen(at + 1);
    if (an >= 256 || hn >= 256)
        return -1;
    memcpy(alive, name, an);
    alive[an] = '\0';
    memcpy(host, at + 1, hn + 1);
    return 0;
}

cn_conn *cn__conn_get(cn_node *n, cn_atom peer, int dial)
{
    cn_conn *c = NULL;
    HASH_FIND_PTR(n->conns, &peer, c);
    if (c || !dial || n->stopping || peer == n->self)
        return c;
    char alive[256], host[256];
    if (split_name(peer, alive, host) < 0) {
        cn_log(n, CN_LOG_WARN, "not a node name: '%s'", peer);
        return NULL;
    }
    c = conn_new(n, 1);
    if (!c)
        return NULL;
    c->peer = peer;
    memcpy(c->peer_alive, alive, sizeof alive);
    memcpy(c->peer_host, host, sizeof host);
    HASH_ADD_PTR(n->conns, peer, c);
    c->state = CONN_RESOLVING;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = n->family;
    hints.ai_socktype = SOCK_STREAM;
    c->gai_active = 1;
    c->handles_open++;
    if (uv_getaddrinfo(n->loop, &c->gai, on_resolved, host, NULL, &hints) < 0) {
        c->gai_active = 0;
        c->handles_open--;
        close_conn(c, "cannot resolve the peer's host name", 0);
        return NULL;
    }
    cn_log(n, CN_LOG_DEBUG, "dialing %s", peer);
    return c;
}
