/* gc_detect.c - the failure detector: SWIM's probes with Lifeguard's
 * refinements.
 *
 *   probe       every period each neighbour gets {ping, Self}; a pong in
 *               ping_timeout ends the probe;
 *   indirect    otherwise k other neighbours get {ping_req, Self, Target};
 *               each pings the target and relays its {pong, Target}; the
 *               target is pinged again directly too;
 *   suspicion   no pong within indirect_timeout: the target is suspected at
 *               its incarnation (flooded; it may refute).  The suspicion
 *               timeout falls from suspect_max towards suspect_min as
 *               independent suspecters confirm it (Lifeguard's
 *               max - (max - min) * log(C + 1) / log(K + 1), where K is
 *               confirm_k or fewer if the target has fewer other monitors);
 *   health      a node that finds its own ticks late, or has to refute a
 *               suspicion of itself, was slow: it multiplies its probe
 *               timeouts by 1 + lhm and, on a late tick, re-arms expired
 *               deadlines instead of accusing anyone.  Each answered probe
 *               lowers lhm again.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gc_int.h"

static uint64_t scaled(const gc_core *c, unsigned ms) { return (uint64_t)ms * (1 + c->lhm); }

static gc_probe *probe_find(gc_core *c, const gc_member *m)
{
    for (size_t i = 0; i < c->nprobes; i++)
        if (c->probes[i].m == m)
            return &c->probes[i];
    return NULL;
}

static void probe_drop(gc_core *c, gc_probe *p)
{
    *p = c->probes[--c->nprobes];
}

static void ping(gc_core *c, gc_member *m, const char *to)
{
    gc_msg msg = { .type = GC_PING, .node = c->me->name };
    gc_send(c, m, to, &msg);
}

static void probe_start(gc_core *c, gc_member *m, uint64_t now)
{
    if (probe_find(c, m) || c->nprobes == GC_MAX_VIEW)
        return;
    ping(c, m, m->name);
    c->probes[c->nprobes++] = (gc_probe){ m, now + scaled(c, c->p.ping_timeout_ms), 0 };
    c->stats.probes++;
}

void gc_detect_period(gc_core *c, uint64_t now)
{
    for (size_t i = 0; i < c->nview; i++)
        probe_start(c, c->view[i], now);
    for (size_t i = 0; i < c->nsusp; i++)
        gc_tell_status(c, c->susp[i].m, now);
}

void gc_detect_link_down(gc_core *c, gc_member *m, uint64_t now)
{
    if (m->in_view)
        probe_start(c, m, now);
}

void gc_detect_forget(gc_core *c, gc_member *m)
{
    gc_probe *p = probe_find(c, m);
    if (p)
        probe_drop(c, p);
}

void gc_detect_pong(gc_core *c, const char *from, uint64_t now)
{
    gc_member *m = gc_table_find(&c->members, from);
    gc_probe *p = m ? probe_find(c, m) : NULL;
    if (p) {
        probe_drop(c, p);
        if (c->lhm)
            c->lhm--;
    }
    for (size_t i = 0; i < c->nrelays;) {
        gc_relay *r = &c->relays[i];
        if (strcmp(r->target, from) == 0) {
            gc_msg msg = { .type = GC_PONG, .node = from };
            gc_send(c, gc_table_find(&c->members, r->requester), r->requester, &msg);
            c->relays[i] = c->relays[--c->nrelays];
        } else {
            i++;
        }
    }
    (void)now;
}

void gc_detect_ping_req(gc_core *c, const char *requester, const char *target, uint64_t now)
{
    if (strcmp(target, c->me->name) == 0) {
        gc_msg msg = { .type = GC_PONG, .node = c->me->name };
        gc_send(c, gc_table_find(&c->members, requester), requester, &msg);
        return;
    }
    if (c->nrelays == GC_MAX_RELAYS) {
        gc_logf(c, "too many indirect probes under way: ping_req for %s from %s dropped",
                target, requester);
        return;
    }
    gc_relay *r = &c->relays[c->nrelays++];
    strcpy(r->requester, requester);
    strcpy(r->target, target);
    r->expires = now + c->p.indirect_timeout_ms;
    ping(c, gc_table_find(&c->members, target), target);
}

/* Asks up to k random other neighbours to probe m, and pings it again. */
static void probe_indirect(gc_core *c, gc_probe *p, uint64_t now)
{
    gc_member *cand[GC_MAX_VIEW];
    size_t n = 0;
    for (size_t i = 0; i < c->nview; i++)
        if (c->view[i] != p->m)
            cand[n++] = c->view[i];
    gc_msg req = { .type = GC_PING_REQ, .node = c->me->name, .other = p->m->name };
    for (size_t k = 0; k < c->p.indirect_k && n; k++) {
        size_t j = (size_t)gc_rand_below(c, n);
        gc_send(c, cand[j], cand[j]->name, &req);
        cand[j] = cand[--n];
    }
    ping(c, p->m, p->m->name);
    p->indirect = 1;
    p->deadline = now + scaled(c, c->p.indirect_timeout_ms);
    c->stats.indirect_probes++;
}

/* ---- suspicion ------------------------------------------------------------ */

gc_suspicion *gc_susp_find(gc_core *c, const gc_member *m)
{
    for (size_t i = 0; i < c->nsusp; i++)
        if (c->susp[i].m == m)
            return &c->susp[i];
    return NULL;
}

static void susp_deadline(gc_core *c, gc_suspicion *s)
{
    double min = c->p.suspect_min_ms, max = c->p.suspect_max_ms;
    double t = min;
    if (s->expect > 0 && max > min) {
        unsigned conf = s->nconf ? s->nconf - 1 : 0;
        t = max - (max - min) * log((double)conf + 1) / log((double)s->expect + 1);
        if (t < min)
            t = min;
    }
    s->deadline = s->started + (uint64_t)t;
}

gc_suspicion *gc_susp_start(gc_core *c, gc_member *m, uint64_t inc, uint64_t now)
{
    gc_suspicion *s = gc_susp_find(c, m);
    if (!s) {
        if (c->nsusp == c->susp_cap) {
            size_t cap = c->susp_cap ? c->susp_cap * 2 : 8;
            gc_suspicion *n = realloc(c->susp, cap * sizeof *n);
            if (!n)
                return NULL;
            c->susp = n;
            c->susp_cap = cap;
        }
        s = &c->susp[c->nsusp++];
    }
    memset(s, 0, sizeof *s);
    s->m = m;
    s->inc = inc;
    s->started = now;
    /* only its monitors (its ring neighbours) probe it: beyond the first
     * suspecter, at most degree - 1 independent confirmations can come */
    size_t monitors = gc_ring_degree(c, m);
    s->expect = monitors > 1 ? (unsigned)(monitors - 1) : 0;
    if (s->expect > c->p.confirm_k)
        s->expect = c->p.confirm_k;
    susp_deadline(c, s);
    return s;
}

/* Counts `by` as a suspecter; 1 if it is a new one. */
int gc_susp_confirm(gc_core *c, gc_suspicion *s, const char *by, uint64_t now)
{
    uint64_t h = gc_hash_name(by, strlen(by));
    for (unsigned i = 0; i < s->nconf && i < GC_MAX_CONFIRM; i++)
        if (s->by[i] == h)
            return 0;
    if (s->nconf < GC_MAX_CONFIRM)
        s->by[s->nconf] = h;
    s->nconf++;
    susp_deadline(c, s);
    (void)now;
    return 1;
}

void gc_susp_drop(gc_core *c, gc_member *m)
{
    gc_suspicion *s = gc_susp_find(c, m);
    if (s)
        *s = c->susp[--c->nsusp];
}

/* ---- time ---------------------------------------------------------------- */

void gc_detect_tick(gc_core *c, uint64_t now, int late)
{
    for (size_t i = 0; i < c->nrelays;) {
        if (c->relays[i].expires <= now)
            c->relays[i] = c->relays[--c->nrelays];
        else
            i++;
    }
    for (size_t i = 0; i < c->nprobes;) {
        gc_probe *p = &c->probes[i];
        if (p->deadline > now) {
            i++;
        } else if (late) {
            /* we were not running: the pong may be waiting to be read */
            p->deadline = now + scaled(c, c->p.ping_timeout_ms);
            i++;
        } else if (!p->indirect) {
            probe_indirect(c, p, now);
            i++;
        } else {
            gc_member *m = p->m;
            probe_drop(c, p);
            c->stats.probes_failed++;
            if (m->status == GC_ALIVE_ST || m->status == GC_SUSPECT_ST)
                gc_suspect(c, m, m->inc, c->me->name, now);
        }
    }
    for (size_t i = 0; i < c->nsusp;) {
        gc_suspicion *s = &c->susp[i];
        if (s->deadline > now) {
            i++;
        } else if (late) {
            s->deadline = now + c->p.suspect_min_ms;
            i++;
        } else {
            gc_declare_dead(c, s->m, s->inc, c->me->name, now);   /* drops s */
        }
    }
}

uint64_t gc_detect_deadline(const gc_core *c)
{
    uint64_t d = GC_NEVER;
    for (size_t i = 0; i < c->nprobes; i++)
        if (c->probes[i].deadline < d)
            d = c->probes[i].deadline;
    for (size_t i = 0; i < c->nsusp; i++)
        if (c->susp[i].deadline < d)
            d = c->susp[i].deadline;
    for (size_t i = 0; i < c->nrelays; i++)
        if (c->relays[i].expires < d)
            d = c->relays[i].expires;
    return d;
}

void gc_detect_free(gc_core *c)
{
    free(c->susp);
    c->susp = NULL;
    c->nsusp = c->susp_cap = 0;
}
