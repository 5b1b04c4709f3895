/* cb_seed.c - the seed's stop-and-wait protocol, as faithful as can be.
 *
 * A node has one message in flight.  It sends it to every peer on every
 * tick until each has acked it (CB_MSG / CB_MSG_ACK); then it commits the
 * message to its own received list and moves on to the next one at once
 * (the seed's ticker, woken early).  A receiver keeps one message per
 * sender in a buffer: a newer message from that sender commits the buffered
 * one (the sender only moves on once everyone holds it, so it is safe),
 * the same message again changes nothing, and every copy is acked.
 *
 * After --send-for no new message is created; the last one is still sent
 * until everyone acks it, and then the sender sends CB_FLUSH (re-sent each
 * tick until acked), on which receivers commit it: the "next message" that
 * commits the last one.  At the --wait-for deadline each node prints the
 * committed messages ordered by (send time, sender id, seq); what is still
 * buffered is not counted.  If connectivity fails at the end, a receiver
 * may miss the last commit of a sender, so nodes differ by at most one
 * message per sender.
 *
 * Beyond the seed: a peer that owes us an ack for rto_us (doubled on each
 * expiry, reset by an ack) is reconnected through the sink, so that a
 * connection black-holed by a partition is replaced once it heals instead
 * of waiting for TCP's backed-off retransmission.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_core.h"
#include "cb_rng.h"

typedef struct smsg {
    uint64_t ts, seq;
    uint32_t value;
    int      id;               /* sender's id (the order's tie-break) */
} smsg;

typedef struct speer {
    /* its messages, received */
    int      has_buf;
    smsg     buf;              /* the one-message receive buffer */
    uint64_t committed;        /* highest seq of its messages committed */
    /* our current message, sent to it */
    int      up;
    int      acked;
    int      flush_acked;
    uint64_t t_owed;           /* since when it owes us the ack (or timed out) */
    uint64_t rto;              /* its timeout now (0: rto_us) */
} speer;

typedef struct seed_core {
    cb_core  base;
    speer   *peer;
    uint64_t key;
    smsg     cur;              /* our current message (seq 0: none yet) */
    int      cur_committed;    /* acked by all, committed */
    int      flushing;         /* after the send phase: CB_FLUSH of cur */
    cb_phase phase;
    smsg    *log;              /* committed messages, every sender */
    size_t   nlog, caplog;
} seed_core;

#define S(c) ((seed_core *)(c))

static void commit(seed_core *s, const smsg *m)
{
    if (s->nlog == s->caplog) {
        size_t cap = s->caplog ? 2 * s->caplog : 256;
        smsg *nl = realloc(s->log, cap * sizeof *nl);
        if (!nl)
            return;
        s->log = nl;
        s->caplog = cap;
    }
    s->log[s->nlog++] = *m;
    s->base.stats.committed++;
}

static void send_kind(seed_core *s, int to, cb_msg_kind kind, const smsg *m, const cb_sink *out)
{
    cb_msg w = { .kind = kind, .from = s->base.p.me, .seq = m->seq, .ts = m->ts,
                 .value = m->value };
    out->send(out->ud, to, &w);
}

static int owes(const seed_core *s, const speer *p)
{
    return s->cur.seq && ((!s->cur_committed && !p->acked) || (s->flushing && !p->flush_acked));
}

/* Sends what peer i still owes us an ack for: the current message or its
 * flush. */
static void send_pending(seed_core *s, int i, const cb_sink *out)
{
    speer *p = &s->peer[i];
    if (!p->up || !s->cur.seq)
        return;
    if (!s->cur_committed && !p->acked)
        send_kind(s, i, CB_MSG, &s->cur, out);
    else if (s->flushing && !p->flush_acked)
        send_kind(s, i, CB_FLUSH, &s->cur, out);
}

/* Every peer owes us an ack from now on (a new message, or its flush). */
static void owed_from(seed_core *s, uint64_t now)
{
    for (int i = 0; i < s->base.p.n; i++)
        s->peer[i].t_owed = now;
}

/* Reconnects the peers that have owed us an ack for their timeout. */
static void check_owed(seed_core *s, uint64_t now, const cb_sink *out)
{
    if (!out->reconnect || !s->base.p.rto_us)
        return;
    for (int i = 0; i < s->base.p.n; i++) {
        speer *p = &s->peer[i];
        if (i == s->base.p.me || !p->up || !owes(s, p) ||
            now - p->t_owed < (p->rto ? p->rto : s->base.p.rto_us))
            continue;
        p->rto = cb_backoff(&s->base.p, p->rto);
        p->t_owed = now;
        s->base.stats.reconnects++;
        out->reconnect(out->ud, i);
    }
}

static void send_pending_all(seed_core *s, const cb_sink *out)
{
    for (int i = 0; i < s->base.p.n; i++)
        if (i != s->base.p.me)
            send_pending(s, i, out);
}

static void new_message(seed_core *s, uint64_t now, const cb_sink *out)
{
    smsg m;
    m.seq = s->cur.seq + 1;
    m.ts = now > s->cur.ts ? now : s->cur.ts + 1;
    m.value = cb_rng_value(s->key, m.seq);
    m.id = s->base.p.ids[s->base.p.me];
    s->cur = m;
    s->cur_committed = 0;
    for (int i = 0; i < s->base.p.n; i++)
        s->peer[i].acked = 0;
    owed_from(s, now);
    s->base.stats.created++;
    if (out->created) {
        uint8_t be[4] = { (uint8_t)(m.value >> 24), (uint8_t)(m.value >> 16),
                          (uint8_t)(m.value >> 8), (uint8_t)m.value };
        out->created(out->ud, m.ts, m.seq, 1, be);
    }
    send_pending_all(s, out);
}

static int all_acked(const seed_core *s)
{
    for (int i = 0; i < s->base.p.n; i++)
        if (i != s->base.p.me && !s->peer[i].acked)
            return 0;
    return 1;
}

/* Everyone holds cur: commit it, then the next message (or the flush). */
static void advance(seed_core *s, uint64_t now, const cb_sink *out)
{
    if (!s->cur.seq || s->cur_committed || !all_acked(s))
        return;
    commit(s, &s->cur);
    s->cur_committed = 1;
    if (s->phase == CB_PHASE_SEND) {
        if (s->base.p.n > 1)       /* alone, the next tick makes the next one */
            new_message(s, now, out);
    } else if (s->phase == CB_PHASE_WAIT) {
        s->flushing = 1;
        owed_from(s, now);
        send_pending_all(s, out);
    }
}

static void on_msg(seed_core *s, const cb_msg *m, const cb_sink *out)
{
    speer *p = &s->peer[m->from];
    if (m->seq == 0 || m->value == 0 || m->value > CB_SCALE) {
        s->base.stats.rejected++;
        return;
    }
    smsg in = { m->ts, m->seq, m->value, s->base.p.ids[m->from] };
    if (p->has_buf && p->buf.seq == m->seq) {
        /* the same message again: nothing changes */
    } else if (p->has_buf && m->seq > p->buf.seq) {
        commit(s, &p->buf);           /* commit on next */
        p->committed = p->buf.seq;
        p->buf = in;
        s->base.stats.received++;
    } else if (!p->has_buf && m->seq > p->committed) {
        p->buf = in;
        p->has_buf = 1;
        s->base.stats.received++;
    }
    send_kind(s, m->from, CB_MSG_ACK, &in, out);
}

static void on_flush(seed_core *s, const cb_msg *m, const cb_sink *out)
{
    speer *p = &s->peer[m->from];
    if (p->has_buf && p->buf.seq == m->seq) {
        commit(s, &p->buf);
        p->committed = p->buf.seq;
        p->has_buf = 0;
    }
    smsg ack = { 0, m->seq, 0, 0 };
    send_kind(s, m->from, CB_FLUSH_ACK, &ack, out);
}

static int order(const void *a, const void *b)
{
    const smsg *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void output(seed_core *s, const cb_sink *out)
{
    qsort(s->log, s->nlog, sizeof *s->log, order);
    cb_result r;
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < s->nlog; i++)
        cb_sum_add(&r.sum, s->log[i].value);
    /* complete as far as this node can tell: nothing is left buffered */
    r.complete = 1;
    for (int i = 0; i < s->base.p.n; i++)
        if (s->peer[i].has_buf)
            r.complete = 0;
    if (s->cur.seq && !s->cur_committed)
        r.complete = 0;
    s->base.stats.output_done = 1;
    out->output(out->ud, &r);
}

static void seed_step(cb_core *c, const cb_event *ev, const cb_sink *out)
{
    seed_core *s = S(c);
    const cb_msg *m = ev->msg;
    switch (ev->kind) {
    case CB_EV_TICK:
        if (s->phase == CB_PHASE_SEND && (!s->cur.seq || s->cur_committed))
            new_message(s, ev->now, out);
        else
            send_pending_all(s, out);
        if (s->cur.seq && !s->cur_committed && !all_acked(s))
            c->stats.resent++;
        advance(s, ev->now, out);
        check_owed(s, ev->now, out);
        break;
    case CB_EV_MSG:
        if (s->phase == CB_PHASE_END)
            break;
        switch (m->kind) {
        case CB_MSG:
            on_msg(s, m, out);
            break;
        case CB_MSG_ACK:
            if (m->seq == s->cur.seq && s->cur.seq) {
                s->peer[m->from].acked = 1;
                s->peer[m->from].rto = 0;
                advance(s, ev->now, out);
            }
            break;
        case CB_FLUSH:
            on_flush(s, m, out);
            break;
        case CB_FLUSH_ACK:
            if (s->flushing && m->seq == s->cur.seq) {
                s->peer[m->from].flush_acked = 1;
                s->peer[m->from].rto = 0;
            }
            break;
        default:
            c->stats.rejected++;      /* the fast protocol's */
            break;
        }
        break;
    case CB_EV_UP:
        if (!s->peer[ev->peer].up) {
            s->peer[ev->peer].up = 1;
            s->peer[ev->peer].t_owed = ev->now;
            s->peer[ev->peer].rto = 0;
            send_pending(s, ev->peer, out);
        }
        break;
    case CB_EV_DOWN:
        s->peer[ev->peer].up = 0;
        break;
    case CB_EV_PHASE:
        if (ev->phase <= s->phase)
            break;
        s->phase = ev->phase;
        if (s->phase == CB_PHASE_WAIT && s->cur_committed && s->cur.seq) {
            s->flushing = 1;          /* alone: nothing to flush to */
            owed_from(s, ev->now);
            send_pending_all(s, out);
        }
        if (s->phase == CB_PHASE_END)
            output(s, out);
        break;
    }
}

static cb_core *seed_create(const cb_params *p)
{
    seed_core *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->peer = calloc((size_t)p->n, sizeof *s->peer);
    if (!s->peer) {
        free(s);
        return NULL;
    }
    s->key = cb_rng_key(p->seed, p->ids[p->me]);
    return &s->base;
}

static void seed_destroy(cb_core *c)
{
    seed_core *s = S(c);
    free(s->log);
    free(s->peer);
    free(s);
}

static int seed_finished(const cb_core *c) { return S(c)->phase == CB_PHASE_END; }

static void seed_describe(const cb_core *c, char *out, size_t outsz)
{
    const seed_core *s = S(c);
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < c->p.n && k < outsz; i++) {
        const speer *p = &s->peer[i];
        int w = 0;
        if (i == c->p.me)
            continue;
        if (p->has_buf)
            w = snprintf(out + k, outsz - k, "%sid %d: seq %llu still buffered", k ? "; " : "",
                         c->p.ids[i], (unsigned long long)p->buf.seq);
        else if (s->cur.seq && !s->cur_committed && !p->acked)
            w = snprintf(out + k, outsz - k, "%sid %d has not acked our seq %llu",
                         k ? "; " : "", c->p.ids[i], (unsigned long long)s->cur.seq);
        if (w > 0)
            k += (size_t)w;
    }
    if (!out[0])
        snprintf(out, outsz, "nothing outstanding");
}

const cb_core_ops cb_seed_ops = {
    .create = seed_create,
    .destroy = seed_destroy,
    .step = seed_step,
    .finished = seed_finished,
    .describe = seed_describe,
};
