/* cb_fast.c - the fast protocol: batched, pipelined, totally ordered.
 *
 * Sending.  Each node numbers its messages 1, 2, 3...  On a tick (and when
 * acks open room) it creates a batch: up to batch_max new messages that
 * share one send time ts, strictly greater than the ts of its previous
 * batch.  A batch goes to every peer that is up, as one CB_DATA.  A node
 * keeps its batches until every peer has acked them, and creates new ones
 * only while fewer than `window` of its messages are unacked by someone:
 * the slowest peer paces the cluster and memory stays bounded.
 *
 * Receiving.  A peer's stream is taken in order: a CB_DATA whose first seq
 * is the next one expected is kept, anything else (a duplicate, or a batch
 * after a gap) is dropped; either way the answer is a cumulative CB_ACK.
 * The sender sends from the first unacked batch (go-back-N) whenever a
 * connection to a peer comes up, and nothing into a busy connection.  A
 * peer that has acked nothing for its timeout (rto_us, doubled on each
 * expiry up to CB_RTO_MAX_FACTOR times, reset by progress) is reconnected
 * through the sink: a partition black-holes a connection without closing
 * it, and TCP's own retransmissions back off to seconds (a glue that
 * cannot reconnect gets the unacked batches again on that connection).
 * After --send-for a node sends CB_END with its last seq, the same way.
 *
 * Order and result.  Messages are ordered by (ts, sender id, seq).  Each
 * node folds them into (|m|, sum) as soon as they are stable: a batch is
 * folded when no message that sorts before it can still arrive, i.e. when
 * every other stream either has a later batch queued, has delivered a batch
 * with ts at least as large, or is complete (CB_END and everything up to
 * it).  So every node folds a prefix of one global sequence, in the same
 * order, and once every stream is complete the prefix is all of it: the
 * node prints.  It then tells the others CB_DONE once every peer has acked
 * all of its messages, and is finished when every peer has said CB_DONE
 * too.  At the --wait-for deadline a node that is not complete prints the
 * prefix it has (marked incomplete): still a prefix of the same sequence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_core.h"
#include "cb_rng.h"

typedef struct fbatch {
    struct fbatch *next;       /* in a fold queue */
    uint32_t       refs;       /* the send log and a fold queue */
    uint32_t       count;
    uint64_t       ts, first;
    uint8_t        vals[];     /* count big-endian 32-bit values */
} fbatch;

/* Node i as this node sees it.  For i == me the receive side is our own
 * stream (it goes through the same fold queue) and the send side unused. */
typedef struct fpeer {
    /* its stream, received */
    uint64_t next;             /* next seq expected (from 1) */
    uint64_t wm;               /* ts of its last batch taken in */
    uint64_t end;              /* its last seq, once has_end */
    int      has_end;
    fbatch  *qhead, *qtail;    /* taken in, not yet folded */
    /* our stream, sent to it */
    int      up;
    uint64_t acked;            /* it has our messages 1..acked */
    int      end_acked;
    int      end_sent;         /* CB_END went on this connection */
    uint64_t sent_b;           /* absolute index of our next batch to send */
    uint64_t t_progress;       /* last ack progress, start of sending, or
                                  the last retransmit timeout */
    uint64_t rto;              /* its retransmit timeout now (0: rto_us) */
    int      done;             /* it said CB_DONE */
} fpeer;

typedef struct fast_core {
    cb_core  base;
    fpeer   *peer;             /* n entries */
    uint64_t key;              /* cb_rng key of our id */
    uint64_t last_seq;         /* our messages so far: 1..last_seq */
    uint64_t last_ts;
    fbatch **log;              /* our batches not acked by every peer */
    size_t   log_start, log_len, log_cap;
    uint64_t log_base;         /* absolute index of log[log_start] */
    cb_phase phase;
    uint64_t allowance;        /* max_rate: messages we may still create */
    uint64_t t_rate;
    cb_sum   sum;
    int      printed;
    int      done_sent;        /* we said CB_DONE at least once */
    uint64_t t_done;
} fast_core;

#define F(c) ((fast_core *)(c))

static fbatch *batch_new(uint64_t ts, uint64_t first, uint32_t count)
{
    fbatch *b = malloc(sizeof *b + (size_t)count * 4);
    if (b) {
        b->next = NULL;
        b->refs = 1;
        b->count = count;
        b->ts = ts;
        b->first = first;
    }
    return b;
}

static void batch_unref(fbatch *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static uint64_t batch_last(const fbatch *b) { return b->first + b->count - 1; }

static void queue_push(fpeer *s, fbatch *b)
{
    b->next = NULL;
    if (s->qtail)
        s->qtail->next = b;
    else
        s->qhead = b;
    s->qtail = b;
}

static int complete(const fpeer *s) { return s->has_end && s->next > s->end; }

/* ---- the send log ------------------------------------------------------- */

static fbatch *log_at(const fast_core *f, uint64_t abs)
{
    return f->log[f->log_start + (size_t)(abs - f->log_base)];
}

static uint64_t log_end(const fast_core *f) { return f->log_base + f->log_len; }

/* Absolute index of the first logged batch with a message after seq. */
static uint64_t log_after(const fast_core *f, uint64_t seq)
{
    size_t lo = 0, hi = f->log_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (batch_last(f->log[f->log_start + mid]) <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return f->log_base + lo;
}

static int log_append(fast_core *f, fbatch *b)
{
    if (f->log_start + f->log_len == f->log_cap) {
        if (f->log_start > f->log_cap / 2) {
            memmove(f->log, f->log + f->log_start, f->log_len * sizeof *f->log);
            f->log_start = 0;
        } else {
            size_t cap = f->log_cap ? 2 * f->log_cap : 64;
            fbatch **nl = realloc(f->log, cap * sizeof *nl);
            if (!nl)
                return -1;
            f->log = nl;
            f->log_cap = cap;
        }
    }
    f->log[f->log_start + f->log_len++] = b;
    return 0;
}

static uint64_t min_acked(const fast_core *f)
{
    const cb_params *p = &f->base.p;
    uint64_t m = f->last_seq;
    for (int i = 0; i < p->n; i++)
        if (i != p->me && f->peer[i].acked < m)
            m = f->peer[i].acked;
    return m;
}

/* Drops batches every peer has acked. */
static void log_release(fast_core *f)
{
    uint64_t m = min_acked(f);
    while (f->log_len && batch_last(f->log[f->log_start]) <= m) {
        batch_unref(f->log[f->log_start]);
        f->log_start++;
        f->log_len--;
        f->log_base++;
    }
}

/* ---- sending ------------------------------------------------------------ */

static void send_data(const fast_core *f, int to, const fbatch *b, const cb_sink *out)
{
    cb_msg m = { .kind = CB_DATA, .from = f->base.p.me, .seq = b->first, .ts = b->ts,
                 .count = b->count, .vals = b->vals };
    out->send(out->ud, to, &m);
}

static void send_simple(const fast_core *f, int to, cb_msg_kind kind, uint64_t seq, int flag,
                        const cb_sink *out)
{
    cb_msg m = { .kind = kind, .from = f->base.p.me, .seq = seq, .flag = flag };
    out->send(out->ud, to, &m);
}

static int in_flight(const fast_core *f, const fpeer *s)
{
    return s->sent_b > log_after(f, s->acked) ||
           (f->phase != CB_PHASE_SEND && !s->end_acked);
}

static int busy(const cb_sink *out, int i) { return out->busy && out->busy(out->ud, i); }

static uint64_t rto_of(const fast_core *f, const fpeer *s)
{
    return s->rto ? s->rto : f->base.p.rto_us;
}

/* Sends peer i what it has not been sent on this connection yet: every
 * logged batch after what it acked, then (after the send phase) CB_END.
 * Nothing while the connection is busy: the next tick tries again. */
static void pump(fast_core *f, int i, uint64_t now, const cb_sink *out)
{
    fpeer *s = &f->peer[i];
    if (!s->up)
        return;
    uint64_t first_unacked = log_after(f, s->acked);
    if (s->sent_b < first_unacked)
        s->sent_b = first_unacked;
    int more = s->sent_b < log_end(f) ||
               (f->phase != CB_PHASE_SEND && !s->end_acked && !s->end_sent);
    if (!more || busy(out, i))
        return;
    if (!in_flight(f, s))
        s->t_progress = now;        /* the retransmit clock starts now */
    for (; s->sent_b < log_end(f); s->sent_b++)
        send_data(f, i, log_at(f, s->sent_b), out);
    if (f->phase != CB_PHASE_SEND && !s->end_acked && !s->end_sent) {
        send_simple(f, i, CB_END, f->last_seq, 0, out);
        s->end_sent = 1;
    }
}

/* Go-back-N: everything unacked goes again (on a new connection, or into
 * the same one if the glue cannot reconnect). */
static void resend(fast_core *f, int i, uint64_t now, const cb_sink *out)
{
    fpeer *s = &f->peer[i];
    uint64_t from = log_after(f, s->acked);
    if (s->sent_b > from)           /* messages sent before, going again */
        f->base.stats.resent += batch_last(log_at(f, s->sent_b - 1)) - log_at(f, from)->first + 1;
    s->sent_b = from;
    s->end_sent = 0;
    pump(f, i, now, out);
}

/* Peer i acked nothing for its timeout while something was in flight:
 * the connection is black-holed (a partition), the peer stopped, or
 * something was lost.  Reconnect (or re-send, if the glue cannot and the
 * connection is not busy), and wait twice as long next time. */
static void timeout(fast_core *f, int i, uint64_t now, const cb_sink *out)
{
    fpeer *s = &f->peer[i];
    s->rto = cb_backoff(&f->base.p, s->rto);
    s->t_progress = now;
    if (out->reconnect) {
        f->base.stats.reconnects++;
        out->reconnect(out->ud, i);
    } else if (!busy(out, i)) {
        resend(f, i, now, out);
    }
}

static void pump_all(fast_core *f, uint64_t now, const cb_sink *out)
{
    for (int i = 0; i < f->base.p.n; i++)
        if (i != f->base.p.me)
            pump(f, i, now, out);
}

/* ---- creating messages -------------------------------------------------- */

static int create_batch(fast_core *f, uint64_t now, uint32_t count, const cb_sink *out)
{
    uint64_t ts = now > f->last_ts ? now : f->last_ts + 1;
    fbatch *b = batch_new(ts, f->last_seq + 1, count);
    if (!b)
        return -1;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t v = cb_rng_value(f->key, b->first + j);
        uint8_t *p = b->vals + 4 * (size_t)j;
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
    }
    if (log_append(f, b) < 0) {
        free(b);
        return -1;
    }
    f->last_seq += count;
    f->last_ts = ts;
    f->base.stats.created += count;
    /* our own stream goes through the fold like any other */
    fpeer *me = &f->peer[f->base.p.me];
    b->refs++;
    queue_push(me, b);
    me->next = f->last_seq + 1;
    me->wm = ts;
    if (out->created)
        out->created(out->ud, ts, b->first, count, b->vals);
    return 0;
}

/* Creates what the window (and max_rate) allows: on a tick any amount, on
 * an ack only whole batches, so acks do not chop the stream into crumbs. */
static void create(fast_core *f, uint64_t now, int whole_only, const cb_sink *out)
{
    const cb_params *p = &f->base.p;
    if (f->phase != CB_PHASE_SEND)
        return;
    uint64_t backlog = f->last_seq - min_acked(f);
    uint64_t room = backlog < p->window ? p->window - backlog : 0;
    if (p->max_rate) {
        if (f->t_rate == 0 || now < f->t_rate)
            f->t_rate = now;
        uint64_t add = (now - f->t_rate) * p->max_rate / 1000000;
        if (add) {
            uint64_t cap = p->max_rate / 10 > p->batch_max ? p->max_rate / 10 : p->batch_max;
            f->allowance = f->allowance + add > cap ? cap : f->allowance + add;
            f->t_rate += add * 1000000 / p->max_rate;
        }
        if (room > f->allowance)
            room = f->allowance;
    }
    while (room > 0) {
        uint32_t n = room < p->batch_max ? (uint32_t)room : p->batch_max;
        if (whole_only && n < p->batch_max)
            break;
        if (create_batch(f, now, n, out) < 0)
            break;
        room -= n;
        if (p->max_rate)
            f->allowance -= n;
    }
    pump_all(f, now, out);
}

/* ---- folding ------------------------------------------------------------ */

static int key_less(uint64_t ts_a, int id_a, uint64_t ts_b, int id_b)
{
    return ts_a < ts_b || (ts_a == ts_b && id_a < id_b);
}

/* Folds every batch that is stable, in (ts, id) order. */
static void fold(fast_core *f)
{
    const cb_params *p = &f->base.p;
    for (;;) {
        int best = -1;
        for (int i = 0; i < p->n; i++) {
            const fbatch *h = f->peer[i].qhead;
            if (h && (best < 0 || key_less(h->ts, p->ids[i], f->peer[best].qhead->ts,
                                           p->ids[best])))
                best = i;
        }
        if (best < 0)
            return;
        fbatch *b = f->peer[best].qhead;
        for (int i = 0; i < p->n; i++) {
            const fpeer *s = &f->peer[i];
            if (i == best || s->qhead || complete(s) || s->wm >= b->ts)
                continue;
            return;                 /* stream i may still send something earlier */
        }
        cb_sum_add_be(&f->sum, b->vals, b->count);
        f->base.stats.committed += b->count;
        f->peer[best].qhead = b->next;
        if (!b->next)
            f->peer[best].qtail = NULL;
        batch_unref(b);
    }
}

static int all_complete(const fast_core *f)
{
    for (int i = 0; i < f->base.p.n; i++)
        if (!complete(&f->peer[i]) || f->peer[i].qhead)
            return 0;
    return 1;
}

static int all_acked(const fast_core *f)
{
    if (f->phase == CB_PHASE_SEND)
        return 0;
    for (int i = 0; i < f->base.p.n; i++)
        if (i != f->base.p.me && (f->peer[i].acked < f->last_seq || !f->peer[i].end_acked))
            return 0;
    return 1;
}

static void output(fast_core *f, int complete_run, const cb_sink *out)
{
    cb_result r = { f->sum, complete_run };
    f->printed = 1;
    f->base.stats.output_done = 1;
    out->output(out->ud, &r);
}

static void say_done(fast_core *f, uint64_t now, const cb_sink *out)
{
    for (int i = 0; i < f->base.p.n; i++)
        if (i != f->base.p.me && f->peer[i].up)
            send_simple(f, i, CB_DONE, 0, 0, out);
    f->done_sent = 1;
    f->t_done = now;
}

/* After every event: fold, print when complete, say done when done. */
static void settle(fast_core *f, uint64_t now, const cb_sink *out)
{
    fold(f);
    if (!f->printed && all_complete(f))
        output(f, 1, out);
    if (f->printed && !f->done_sent && all_acked(f))
        say_done(f, now, out);
}

/* ---- events ------------------------------------------------------------- */

static void on_data(fast_core *f, const cb_msg *m, const cb_sink *out)
{
    fpeer *s = &f->peer[m->from];
    if (m->count == 0 || m->count > 65536 || m->seq == 0 || !m->vals) {
        f->base.stats.rejected++;
        return;
    }
    if (m->seq == s->next) {
        uint64_t last = m->seq + m->count - 1;
        if ((s->has_end && last > s->end) || (s->next > 1 && m->ts <= s->wm) || m->ts == 0) {
            f->base.stats.rejected++;
            return;
        }
        fbatch *b = batch_new(m->ts, m->seq, m->count);
        if (!b)
            return;                 /* not acked: it comes again */
        memcpy(b->vals, m->vals, (size_t)m->count * 4);
        queue_push(s, b);
        s->next = last + 1;
        s->wm = m->ts;
        f->base.stats.received += m->count;
    }
    send_simple(f, m->from, CB_ACK, s->next - 1, s->has_end, out);
}

static void on_end(fast_core *f, const cb_msg *m, const cb_sink *out)
{
    fpeer *s = &f->peer[m->from];
    if (m->seq + 1 < s->next || (s->has_end && s->end != m->seq)) {
        f->base.stats.rejected++;
        return;
    }
    s->has_end = 1;
    s->end = m->seq;
    send_simple(f, m->from, CB_ACK, s->next - 1, 1, out);
}

static void on_ack(fast_core *f, const cb_msg *m, uint64_t now, const cb_sink *out)
{
    fpeer *s = &f->peer[m->from];
    if (m->seq > f->last_seq || (m->flag && f->phase == CB_PHASE_SEND)) {
        f->base.stats.rejected++;
        return;
    }
    if (m->seq > s->acked || (m->flag && !s->end_acked)) {
        s->t_progress = now;
        s->rto = 0;                 /* progress: the timeout is back to rto_us */
    }
    if (m->seq > s->acked) {
        s->acked = m->seq;
        log_release(f);
    }
    if (m->flag)
        s->end_acked = 1;
    create(f, now, 1, out);
    pump(f, m->from, now, out);
}

static void on_tick(fast_core *f, uint64_t now, const cb_sink *out)
{
    const cb_params *p = &f->base.p;
    create(f, now, 0, out);
    for (int i = 0; i < p->n; i++) {
        fpeer *s = &f->peer[i];
        if (i == p->me || !s->up)
            continue;
        pump(f, i, now, out);       /* what a busy connection held back */
        if (in_flight(f, s) && now - s->t_progress >= rto_of(f, s))
            timeout(f, i, now, out);
    }
    if (f->done_sent && now - f->t_done >= p->rto_us)
        say_done(f, now, out);
}

static void on_phase(fast_core *f, cb_phase ph, uint64_t now, const cb_sink *out)
{
    if (ph <= f->phase)
        return;
    if (f->phase == CB_PHASE_SEND) {
        fpeer *me = &f->peer[f->base.p.me];
        f->phase = CB_PHASE_WAIT;     /* our stream is complete */
        me->has_end = 1;
        me->end = f->last_seq;
        pump_all(f, now, out);
    }
    f->phase = ph;
    if (ph == CB_PHASE_END) {
        fold(f);
        if (!f->printed)
            output(f, all_complete(f), out);
    }
}

static void fast_step(cb_core *c, const cb_event *ev, const cb_sink *out)
{
    fast_core *f = F(c);
    switch (ev->kind) {
    case CB_EV_TICK:
        on_tick(f, ev->now, out);
        break;
    case CB_EV_MSG:
        switch (ev->msg->kind) {
        case CB_DATA: on_data(f, ev->msg, out); break;
        case CB_END:  on_end(f, ev->msg, out); break;
        case CB_ACK:  on_ack(f, ev->msg, ev->now, out); break;
        case CB_DONE: f->peer[ev->msg->from].done = 1; break;
        default:      c->stats.rejected++; break;    /* the seed protocol's */
        }
        break;
    case CB_EV_UP: {
        fpeer *s = &f->peer[ev->peer];
        if (s->up)
            break;
        s->up = 1;
        s->rto = 0;
        s->t_progress = ev->now;
        resend(f, ev->peer, ev->now, out);
        if (f->done_sent)
            send_simple(f, ev->peer, CB_DONE, 0, 0, out);
        break;
    }
    case CB_EV_DOWN:
        f->peer[ev->peer].up = 0;
        break;
    case CB_EV_PHASE:
        on_phase(f, ev->phase, ev->now, out);
        break;
    }
    settle(f, ev->now, out);
}

/* ---- lifecycle and queries ---------------------------------------------- */

static cb_core *fast_create(const cb_params *p)
{
    fast_core *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->peer = calloc((size_t)p->n, sizeof *f->peer);
    if (!f->peer) {
        free(f);
        return NULL;
    }
    for (int i = 0; i < p->n; i++)
        f->peer[i].next = 1;
    f->key = cb_rng_key(p->seed, p->ids[p->me]);
    return &f->base;
}

static void fast_destroy(cb_core *c)
{
    fast_core *f = F(c);
    for (int i = 0; i < c->p.n; i++)
        for (fbatch *b = f->peer[i].qhead, *next; b; b = next) {
            next = b->next;
            batch_unref(b);
        }
    for (size_t i = 0; i < f->log_len; i++)
        batch_unref(f->log[f->log_start + i]);
    free(f->log);
    free(f->peer);
    free(f);
}

static int fast_finished(const cb_core *c)
{
    const fast_core *f = F(c);
    if (f->phase == CB_PHASE_END)
        return 1;
    if (!f->printed || !f->done_sent)
        return 0;
    for (int i = 0; i < c->p.n; i++)
        if (i != c->p.me && !f->peer[i].done)
            return 0;
    return 1;
}

static void fast_describe(const cb_core *c, char *out, size_t outsz)
{
    const fast_core *f = F(c);
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < c->p.n && k < outsz; i++) {
        const fpeer *s = &f->peer[i];
        int id = c->p.ids[i];
        int w = 0;
        if (i != c->p.me && !complete(s))
            w = snprintf(out + k, outsz - k, "%sid %d: have 1..%llu, %s", k ? "; " : "", id,
                         (unsigned long long)(s->next - 1),
                         s->has_end ? "more to come" : "no end yet");
        else if (i != c->p.me && f->phase != CB_PHASE_SEND &&
                 (s->acked < f->last_seq || !s->end_acked))
            w = snprintf(out + k, outsz - k, "%sid %d acked 1..%llu of our %llu", k ? "; " : "",
                         id, (unsigned long long)s->acked, (unsigned long long)f->last_seq);
        else if (i != c->p.me && f->printed && !s->done)
            w = snprintf(out + k, outsz - k, "%sid %d not done", k ? "; " : "", id);
        if (w > 0)
            k += (size_t)w;
    }
    if (!out[0])
        snprintf(out, outsz, "nothing outstanding");
}

const cb_core_ops cb_fast_ops = {
    .create = fast_create,
    .destroy = fast_destroy,
    .step = fast_step,
    .finished = fast_finished,
    .describe = fast_describe,
};
