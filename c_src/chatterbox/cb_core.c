/* cb_core.c - the protocol-independent part of a core: parameter checks,
 * dispatch to the protocol, stats and names (see cb_core.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_core.h"

static int params_ok(const cb_params *p)
{
    if (p->n < 1 || p->n > 4096 || p->me < 0 || p->me >= p->n || !p->ids)
        return 0;
    for (int i = 0; i < p->n; i++)
        for (int j = i + 1; j < p->n; j++)
            if (p->ids[i] == p->ids[j])
                return 0;
    if (p->protocol == CB_FAST &&
        (p->batch_max < 1 || p->batch_max > 65536 || p->window < 1 || p->rto_us < 1000))
        return 0;
    return p->protocol == CB_FAST || p->protocol == CB_SEED;
}

cb_core *cb_core_new(const cb_params *p)
{
    if (!params_ok(p))
        return NULL;
    int *ids = malloc(sizeof *ids * (size_t)p->n);
    if (!ids)
        return NULL;
    memcpy(ids, p->ids, sizeof *ids * (size_t)p->n);
    cb_params own = *p;
    own.ids = ids;
    const cb_core_ops *ops = p->protocol == CB_FAST ? &cb_fast_ops : &cb_seed_ops;
    cb_core *c = ops->create(&own);
    if (!c) {
        free(ids);
        return NULL;
    }
    c->ops = ops;
    c->p = own;
    return c;
}

void cb_core_free(cb_core *c)
{
    if (!c)
        return;
    int *ids = (int *)c->p.ids;
    c->ops->destroy(c);
    free(ids);
}

void cb_core_step(cb_core *c, const cb_event *ev, const cb_sink *out)
{
    if (ev->kind == CB_EV_MSG) {
        const cb_msg *m = ev->msg;
        if (!m || m->from < 0 || m->from >= c->p.n || m->from == c->p.me) {
            c->stats.rejected++;
            return;
        }
    }
    if ((ev->kind == CB_EV_UP || ev->kind == CB_EV_DOWN) &&
        (ev->peer < 0 || ev->peer >= c->p.n || ev->peer == c->p.me))
        return;
    c->ops->step(c, ev, out);
}

int cb_core_finished(const cb_core *c) { return c->ops->finished(c); }

void cb_core_stats(const cb_core *c, cb_stats *st) { *st = c->stats; }

void cb_core_describe(const cb_core *c, char *out, size_t outsz)
{
    c->ops->describe(c, out, outsz);
}

uint64_t cb_backoff(const cb_params *p, uint64_t rto)
{
    uint64_t max = p->rto_us * CB_RTO_MAX_FACTOR, next = 2 * (rto ? rto : p->rto_us);
    return next < max ? next : max;
}

const char *cb_protocol_name(cb_protocol p) { return p == CB_FAST ? "fast" : "seed"; }

const char *cb_msg_kind_name(cb_msg_kind k)
{
    static const char *names[] = { "cb_data", "cb_end", "cb_ack", "cb_done",
                                   "cb_msg", "cb_msg_ack", "cb_flush", "cb_flush_ack" };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
