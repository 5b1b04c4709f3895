/* rxbatch.c - receive batching while a peer streams small segments.
 *
 * An Erlang node writes every distribution message with its own writev, and
 * with TCP_NODELAY each write leaves as its own segment unless the window or
 * the congestion window holds it back.  A receiver that keeps up wakes for
 * every few segments and keeps the window wide open, so the sender pays the
 * kernel's per-segment work (on loopback that includes delivering to us and
 * waking us): a fast receiver makes an Erlang sender slower.  An Erlang
 * receiver, being slower, keeps the window shut and the sender's writes
 * merge.
 *
 * So while a connection carries a one-way stream (a read of CN_RXB_ENTER
 * bytes or more, with nothing written back since the previous read), the
 * socket's SO_RCVLOWAT is raised: the kernel wakes us for a
 * large batch or a nearly closed window instead of every segment.  On a short
 * path (smoothed RTT under CN_RXB_SHORT_RTT_US) the receive buffer is also
 * fixed at CN_RXB_RCVBUF, so the window does close and the sender's writes
 * merge into large segments; at such RTTs that buffer still allows gigabytes
 * per second, so it never limits throughput.  A timer ends the stream when a
 * tick passes with no new bytes, or two pass with no read, so a held message
 * waits at most about two ticks (CN_RXB_TICK_MS); a lone message never
 * waits.
 * Writing on the connection ends the stream at once: requests and replies
 * (calls, Raft appends and acks) are never held back.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "internal.h"

#define CN_RXB_ENTER        (8 << 10)
#define CN_RXB_LOWAT        (256 << 10)
#define CN_RXB_RCVBUF       (256 << 10)
#define CN_RXB_SHORT_RTT_US 1000
#define CN_RXB_TICK_MS      1

static int conn_fd(cn_conn *c)
{
    uv_os_fd_t fd;
    return uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
}

static int pending_bytes(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/* Back to waking for every byte: the kernel reports the socket readable at
 * once if anything is queued, and the next read goes as usual. */
static void leave(cn_conn *c, int fd)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    uv_timer_stop(&c->timer);
    c->rxb.on = 0;
}

static void on_tick(uv_timer_t *t)
{
    cn_conn *c = t->data;
    int fd = conn_fd(c);
    int now = fd >= 0 ? pending_bytes(fd) : -1;
    if (fd < 0 || now < 0) {
        uv_timer_stop(t);
        c->rxb.on = 0;
        return;
    }
    /* A tick with no read ends the stream if no new bytes came (it paused),
     * or if it is the second such tick in a row (a slow stream): held bytes
     * wait about two ticks at most. */
    c->rxb.quiet = c->rxb.reads ? 0 : c->rxb.quiet + 1;
    if (c->rxb.quiet && (now == c->rxb.pending || c->rxb.quiet >= 2))
        leave(c, fd);
    c->rxb.reads = 0;
    c->rxb.pending = now;
}

static unsigned path_rtt_us(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 ? ti.tcpi_rtt : 0;
}

static void enter(cn_conn *c, int fd)
{
    int lowat = CN_RXB_LOWAT, rcvbuf = CN_RXB_RCVBUF;
    unsigned rtt_us = c->rxb.sized ? 0 : path_rtt_us(fd);
    if (rtt_us && rtt_us < CN_RXB_SHORT_RTT_US) {
        /* set before the low-water mark, which the kernel caps by it */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        c->rxb.sized = 1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) < 0)
        return;
    c->rxb.on = 1;
    c->rxb.reads = 0;
    c->rxb.quiet = 0;
    c->rxb.pending = -1;
    c->node->stats.rx_streams++;
    uv_timer_start(&c->timer, on_tick, CN_RXB_TICK_MS, CN_RXB_TICK_MS);
}

void cn__rxb_read(cn_conn *c, size_t nread)
{
    int fd;
    if (c->rxb.on) {
        c->rxb.reads++;
        return;
    }
    /* a read after we wrote is part of an exchange, not a one-way stream */
    if (c->rxb.wrote) {
        c->rxb.wrote = 0;
        return;
    }
    if (nread >= CN_RXB_ENTER && c->node->rx_batching && c->timer_open &&
        (fd = conn_fd(c)) >= 0)
        enter(c, fd);
}

void cn__rxb_wrote(cn_conn *c)
{
    int fd;
    c->rxb.wrote = 1;
    if (c->rxb.on && (fd = conn_fd(c)) >= 0)
        leave(c, fd);
}
