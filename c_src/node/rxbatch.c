/* rxbatch.c - reading one-way streams of small segments in batches.
 *
 * An Erlang node writes every distribution message with its own writev, and
 * with TCP_NODELAY each write leaves as its own segment unless the receive
 * window or the congestion window holds it back.  A receiver that reads (and
 * so ACKs and reopens the window) as fast as segments arrive keeps both wide
 * open, and the sender pays the kernel's per-segment work for every message;
 * on loopback that includes delivering to us and waking us.  So a fast
 * receiver makes an Erlang sender slower.  An Erlang receiver, being slower,
 * lets the window close, and the sender's writes then only queue and leave
 * later as large segments.
 *
 * A connection is read in batches while it carries a one-way stream of small
 * segments: a read of CN_RXB_ENTER bytes or more whose messages, and the
 * peer's segments since the last look, average under CN_RXB_SMALL_SEG bytes
 * (a C node, which merges its own writes, never qualifies; nor do large
 * messages, which leave as large segments anyway), with nothing written back
 * since the previous read.  A batch is CN_RXB_TICK_MSGS messages of the
 * stream's average size, so it holds a tick of the fastest stream one
 * Erlang connection carries; then
 *   - SO_RCVLOWAT is a batch: the kernel wakes us when a batch is queued or
 *     the window is nearly closed, not for every segment;
 *   - on a short path (smoothed RTT under CN_RXB_SHORT_RTT_US) the receive
 *     buffer is fixed at a batch, so the window does close and the sender's
 *     writes merge; at such RTTs that buffer is never what limits a stream
 *     (it is refitted on each new stream; autotuning stays off after);
 *   - at most one batch is read per tick (CN_RXB_TICK_MS), which paces our
 *     ACKs and window updates.
 * Batching ends when a tick brings less than 1/CN_RXB_KEEP_DIV of a batch
 * (the sender paused or slowed down: only a sender near its limit gains from
 * batching, and a slower stream is read as it comes), after CN_RXB_MAX_HOLD
 * ticks without a read (nothing waits longer), or at once when we write on
 * the connection, so requests and replies (calls, Raft appends and acks) are
 * never held.  A lone message never waits.  dist_bench measures what this
 * trades: one-way latency inside paced streams, batched and not.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "internal.h"
#include "tcpinfo.h"

#define CN_RXB_ENTER        (8 << 10)
#define CN_RXB_TICK_MS      1
#define CN_RXB_MAX_HOLD     3
#define CN_RXB_KEEP_DIV     8           /* a tick must bring 1/8 of a batch */
#define CN_RXB_TICK_MSGS    1280        /* a batch: a tick at 1.28M msgs/s */
#define CN_RXB_MIN_BATCH    (64 << 10)
#define CN_RXB_MAX_BATCH    (4 << 20)
#define CN_RXB_SMALL_SEG    4096
#define CN_RXB_SHORT_RTT_US 1000

/* ---- the rules (pure; test/c/rxbatch_test.c) ----------------------------- */

size_t cn__rxb_batch_bytes(size_t avg_msg)
{
    size_t want = avg_msg * CN_RXB_TICK_MSGS;
    return want < CN_RXB_MIN_BATCH ? CN_RXB_MIN_BATCH
         : want > CN_RXB_MAX_BATCH ? CN_RXB_MAX_BATCH : want;
}

int cn__rxb_starts(size_t nread, uint64_t msgs, uint64_t seg_bytes, uint64_t segs)
{
    return nread >= CN_RXB_ENTER && msgs && nread / msgs < CN_RXB_SMALL_SEG && segs &&
           seg_bytes / segs < CN_RXB_SMALL_SEG;
}

int cn__rxb_keeps(int64_t arrived, size_t batch, unsigned quiet)
{
    return arrived >= (int64_t)(batch / CN_RXB_KEEP_DIV) && quiet < CN_RXB_MAX_HOLD;
}

/* ---- the socket --------------------------------------------------------- */

static int set_lowat(cn_conn *c, int bytes)
{
    int fd = cn__conn_fd(c);
    return fd < 0 ? -1 : setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes);
}

static void resume(cn_conn *c)
{
    if (c->rxb.paused) {
        c->rxb.paused = 0;
        cn__conn_reading(c, 1);
    }
}

/* Back to reading every byte as it comes; the kernel reports the socket
 * readable at once if anything is queued. */
static void leave(cn_conn *c)
{
    set_lowat(c, 1);
    uv_timer_stop(&c->timer);
    c->rxb.on = 0;
    resume(c);
}

static int pending_bytes(cn_conn *c)
{
    int fd = cn__conn_fd(c), n = 0;
    return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static void on_tick(uv_timer_t *t)
{
    cn_conn *c = t->data;
    int now = pending_bytes(c);
    /* what arrived during the tick: read, plus growth of what is queued */
    int64_t arrived = (int64_t)c->rxb.read_bytes + now - c->rxb.pending;
    c->rxb.quiet = c->rxb.read_bytes ? 0 : c->rxb.quiet + 1;
    if (now < 0 || !cn__rxb_keeps(arrived, (size_t)c->rxb.batch, c->rxb.quiet)) {
        leave(c);
        return;
    }
    c->rxb.read_bytes = 0;
    c->rxb.pending = now;
    resume(c);
}

/* The peer's data bytes and segments since the last look (a sender that
 * merges its own writes, like a C node, sends large ones), and whether the
 * path is short.  -1 where the kernel does not tell. */
static int segments_since(cn_conn *c, int fd, uint64_t *bytes, uint64_t *segs, int *short_path)
{
    cn_tcp_info ti;
    if (cn__tcp_info(fd, &ti) < 0)
        return -1;
    *bytes = ti.bytes_in - c->rxb.bytes_in;
    *segs = (uint32_t)(ti.data_segs_in - c->rxb.segs_in);
    c->rxb.bytes_in = ti.bytes_in;
    c->rxb.segs_in = ti.data_segs_in;
    *short_path = ti.rtt_us && ti.rtt_us < CN_RXB_SHORT_RTT_US;
    return 0;
}

static void enter(cn_conn *c, int fd, size_t avg_msg, int short_path)
{
    int batch = (int)cn__rxb_batch_bytes(avg_msg);
    /* before the low-water mark, which the kernel caps by the buffer */
    if (short_path)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &batch, sizeof batch);
    if (set_lowat(c, batch) < 0)
        return;
    int queued = pending_bytes(c);
    c->rxb.on = 1;
    c->rxb.batch = batch;
    c->rxb.read_bytes = 0;
    c->rxb.quiet = 0;
    c->rxb.pending = queued < 0 ? 0 : queued;
    c->node->stats.rx_streams++;
    uv_timer_start(&c->timer, on_tick, CN_RXB_TICK_MS, CN_RXB_TICK_MS);
}

void cn__rxb_read(cn_conn *c, size_t nread, size_t offered, uint64_t msgs)
{
    if (c->rxb.on) {
        c->rxb.read_bytes += nread;
        if (nread < offered) {      /* drained: the next batch waits a tick */
            c->rxb.paused = 1;
            cn__conn_reading(c, 0);
        }
        return;
    }
    /* a read after we wrote is part of an exchange, not a one-way stream */
    if (c->rxb.wrote) {
        c->rxb.wrote = 0;
        return;
    }
    int fd, short_path;
    uint64_t seg_bytes, segs;
    /* the cheap tests first: most reads are small */
    if (nread < CN_RXB_ENTER || !msgs || !c->node->rx_batching || !c->timer_open ||
        (fd = cn__conn_fd(c)) < 0 || segments_since(c, fd, &seg_bytes, &segs, &short_path) < 0)
        return;
    if (cn__rxb_starts(nread, msgs, seg_bytes, segs))
        enter(c, fd, nread / msgs, short_path);
}

void cn__rxb_wrote(cn_conn *c)
{
    c->rxb.wrote = 1;
    if (c->rxb.on)
        leave(c);
}
