/* epmd.c - the node's epmd client: registering its name, and asking a
 * host's epmd which port a node listens on.
 *
 * Registration happens once at start, before the loop runs, over the
 * loopback address of the node's family (127.0.0.1, or ::1 for inet6, as
 * erl_epmd does); the socket stays open while the name is registered:
 *   request  Len:16 120 Port:16 Type:8 Proto:8 Hi:16 Lo:16 NLen:16 Name
 *            ELen:16 Extra
 *   reply    118 Result:8 Creation:32  (or 121 Result:8 Creation:16)
 * Lookups happen while the node runs, so they go over libuv instead of ei's
 * blocking, select()-based client (unsafe for fds >= 1024, and it would
 * stall the loop):
 *   request  Len:16 122 Alive
 *   reply    119 Result:8 [Port:16 Type:8 Proto:8 Hi:16 Lo:16 NLen:16 Name
 *                          ELen:16 Extra]
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "internal.h"

#define EPMD_ALIVE2_REQ 120
#define EPMD_ALIVE2_RESP 121
#define EPMD_ALIVE2_X_RESP 118
#define EPMD_PORT_PLEASE2_REQ 122
#define EPMD_PORT2_RESP 119
#define EPMD_TIMEOUT_MS 5000
#define EPMD_HIDDEN_NODE 72             /* node type 'H', as ei registers */
#define EPMD_DIST_VERSION 6             /* the only handshake we speak */

struct cn_epmd_req {
    uv_tcp_t     tcp;
    uv_timer_t   timer;
    uv_connect_t connect;
    uv_write_t   write;
    cn_buf       req, resp;
    cn_epmd_cb   cb;
    void        *ud;
    int          open;              /* handles still to close */
    int          done;
};

int cn__epmd_port(void)
{
    const char *e = getenv("ERL_EPMD_PORT");
    int p = e ? atoi(e) : 0;
    return p > 0 && p < 65536 ? p : 4369;
}

void cn__epmd_put_port_please(cn_buf *out, const char *alive)
{
    size_t n = strlen(alive);
    cn_buf_put16(out, (uint16_t)(n + 1));
    cn_buf_put8(out, EPMD_PORT_PLEASE2_REQ);
    cn_buf_append(out, alive, n);
}

/* Returns 1 when complete (port or error set), 0 if more bytes may come,
 * -1 if malformed. */
int cn__epmd_parse_port2(const unsigned char *b, size_t len, int *port, const char **err)
{
    *port = 0;
    *err = NULL;
    if (len < 2)
        return 0;
    if (b[0] != EPMD_PORT2_RESP) {
        *err = "epmd sent an unexpected reply";
        return -1;
    }
    if (b[1] != 0) {
        *err = "node is not registered with epmd";
        return 1;
    }
    if (len < 12)
        return 0;
    size_t nlen = cn_get16(b + 10);
    if (len < 12 + nlen + 2)
        return 0;
    size_t elen = cn_get16(b + 12 + nlen);
    if (len < 12 + nlen + 2 + elen)
        return 0;
    if (b[5] != 0) {
        *err = "node does not speak TCP/IPv4";
        return 1;
    }
    if (cn_get16(b + 6) < 6) {
        *err = "node only speaks distribution versions below 6";
        return 1;
    }
    *port = cn_get16(b + 2);
    if (*port == 0) {
        *err = "epmd returned port 0";
        return -1;
    }
    return 1;
}

static void on_closed(uv_handle_t *h)
{
    cn_epmd_req *r = h->data;
    if (--r->open == 0) {
        cn_buf_free(&r->req);
        cn_buf_free(&r->resp);
        free(r);
    }
}

static void finish(cn_epmd_req *r, int port, const char *err)
{
    if (r->done)
        return;
    r->done = 1;
    if (r->cb)
        r->cb(r->ud, port, err);
    uv_close((uv_handle_t *)&r->tcp, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    cn_epmd_req *r = h->data;
    (void)hint;
    if (cn_buf_reserve(&r->resp, 512) < 0 || r->resp.len > 4096) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = r->resp.data + r->resp.len;
    buf->len = r->resp.cap - r->resp.len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cn_epmd_req *r = s->data;
    int port;
    const char *err;
    (void)buf;
    if (nread < 0) {
        int st = cn__epmd_parse_port2((unsigned char *)r->resp.data, r->resp.len, &port, &err);
        finish(r, 0, st == 1 ? err : (err ? err : "epmd closed the connection early"));
        return;
    }
    r->resp.len += (size_t)nread;
    int st = cn__epmd_parse_port2((unsigned char *)r->resp.data, r->resp.len, &port, &err);
    if (st != 0)
        finish(r, err ? 0 : port, err);
}

static void on_written(uv_write_t *w, int status)
{
    cn_epmd_req *r = w->data;
    if (status < 0 && !r->done)
        finish(r, 0, "cannot write to epmd");
}

static void on_connected(uv_connect_t *c, int status)
{
    cn_epmd_req *r = c->data;
    if (r->done)
        return;
    if (status < 0) {
        finish(r, 0, "cannot reach epmd on the peer's host");
        return;
    }
    uv_buf_t b = uv_buf_init(r->req.data, (unsigned)r->req.len);
    r->write.data = r;
    if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &b, 1, on_written) < 0 ||
        uv_read_start((uv_stream_t *)&r->tcp, on_alloc, on_read) < 0)
        finish(r, 0, "cannot talk to epmd");
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, 0, "epmd lookup timed out");
}

cn_epmd_req *cn__epmd_port_please(uv_loop_t *loop, const struct sockaddr *epmd,
                                  const char *alive, cn_epmd_cb cb, void *ud)
{
    cn_epmd_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cb = cb;
    r->ud = ud;
    cn__epmd_put_port_please(&r->req, alive);
    uv_tcp_init(loop, &r->tcp);
    uv_timer_init(loop, &r->timer);
    r->open = 2;
    r->tcp.data = r->timer.data = r->connect.data = r;
    uv_timer_start(&r->timer, on_timeout, EPMD_TIMEOUT_MS, 0);
    if (uv_tcp_connect(&r->connect, &r->tcp, epmd, on_connected) < 0) {
        r->cb = NULL;
        finish(r, 0, NULL);
        return NULL;
    }
    return r;
}

void cn__epmd_cancel(cn_epmd_req *r)
{
    r->cb = NULL;
    finish(r, 0, NULL);
}

/* ---- registration (blocking, at start) ----------------------------------- */

/* A blocking socket to this host's epmd over family, reads and writes
 * bounded by EPMD_TIMEOUT_MS; -1 if none answers. */
static int epmd_open(int family)
{
    struct sockaddr_storage a;
    socklen_t alen = cn__addr_loopback(family, cn__epmd_port(), &a);
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct timeval tv = { EPMD_TIMEOUT_MS / 1000, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, alen) < 0) {
        close(s);
        return -1;
    }
    return s;
}

int cn__epmd_answers(int family)
{
    int s = epmd_open(family);
    if (s < 0)
        return 0;
    close(s);
    return 1;
}

void cn__epmd_put_alive2(cn_buf *out, const char *alive, int port)
{
    size_t n = strlen(alive);
    cn_buf_put16(out, (uint16_t)(13 + n));
    cn_buf_put8(out, EPMD_ALIVE2_REQ);
    cn_buf_put16(out, (uint16_t)port);
    cn_buf_put8(out, EPMD_HIDDEN_NODE);
    cn_buf_put8(out, 0);                        /* protocol: tcp */
    cn_buf_put16(out, EPMD_DIST_VERSION);
    cn_buf_put16(out, EPMD_DIST_VERSION);
    cn_buf_put16(out, (uint16_t)n);
    cn_buf_append(out, alive, n);
    cn_buf_put16(out, 0);                       /* no extra */
}

int cn__epmd_parse_alive2(const unsigned char *b, size_t len, const char **err)
{
    *err = NULL;
    if (len < 2)
        return 0;
    if (b[0] != EPMD_ALIVE2_X_RESP && b[0] != EPMD_ALIVE2_RESP) {
        *err = "epmd sent an unexpected reply to the registration";
        return -1;
    }
    if (b[1] != 0) {
        *err = "epmd refused the registration (is the name already in use?)";
        return -1;
    }
    return len >= (b[0] == EPMD_ALIVE2_X_RESP ? 6u : 4u) ? 1 : 0;
}

int cn__epmd_register(int family, const char *alive, int port, char *err, size_t errlen)
{
    int s = epmd_open(family);
    if (s < 0) {
        snprintf(err, errlen, "cannot reach epmd on %s port %d", family == AF_INET6 ? "::1"
                 : "127.0.0.1", cn__epmd_port());
        return -1;
    }
    cn_buf req = { 0 };
    cn__epmd_put_alive2(&req, alive, port);
    ssize_t w = cn_buf_failed(&req) ? -1 : send(s, req.data, req.len, MSG_NOSIGNAL);
    int ok = w == (ssize_t)req.len;
    cn_buf_free(&req);
    unsigned char resp[8];
    size_t got = 0;
    const char *why = ok ? NULL : "cannot write to epmd";
    while (!why) {
        ssize_t r = recv(s, resp + got, sizeof resp - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            why = r < 0 ? "epmd did not answer the registration in time"
                        : "epmd closed the connection during the registration";
            break;
        }
        got += (size_t)r;
        int st = cn__epmd_parse_alive2(resp, got, &why);
        if (st == 1)
            return s;
        if (st < 0)
            break;
    }
    snprintf(err, errlen, "registering '%s' with epmd: %s", alive, why);
    close(s);
    return -1;
}
