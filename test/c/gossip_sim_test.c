/* gossip_sim_test.c - deterministic simulation of the gossip chat's pure
 * core (c_src/gossip/gc_core.h), and tests of its wire codec.
 *
 * The simulated world, driven by one seeded PRNG and an event heap:
 *   clock    time jumps to the next event: a message arriving, a core's
 *            deadline (gc_next_deadline), a scripted action;
 *   network  every message is delivered after a random latency (so
 *            messages reorder), or dropped across a partition;
 *   nodes    a killed node vanishes and the nodes that were talking to it
 *            see their connection drop (gc_link_down), as with kill -9; a
 *            hung node vanishes silently; a stalled node (SIGSTOP) runs
 *            nothing until it resumes, then gets its backlog and late ticks;
 *            a restarted node comes back with a higher incarnation and joins
 *            through a random member.
 * Checked: every chat line is shown exactly once by every node live while
 * it spread, and lines sent on one side of a partition by every node on the
 * other once it heals; each sender's lines in its order, or marked late;
 * joins, leaves and failures reach everyone; no live node is ever removed
 * (slow and stalled ones included) unless a scenario says so or a partition
 * separated the two; views stay within 2R and each node talks to a bounded
 * set of nodes.
 *
 * The 1,000-node run reports rounds (hops) and time for a chat line to reach
 * every node, messages per node per second, and detection, join and leave
 * times.  Environment: GOSSIP_SIM_NODES (default 1000), GOSSIP_SIM_CHATS
 * (default 40), GOSSIP_SIM_SEED.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../c_src/gossip/gc_core.h"
#include "../../c_src/gossip/gc_wire.h"
#include "check.h"
#include "sim_heap.h"

#define NEVER UINT64_MAX
#define T0_MS 1700000000000ull       /* incarnations are start times in ms */

/* ---- the world ------------------------------------------------------------- */

typedef struct smsg {
    gc_msg_type type;
    int      from, node, other;     /* node indices; -1: none */
    uint64_t num;
    int      chat;                  /* CHAT: index in the chat table */
    int     *list;
    size_t   nlist;
    int      hop;
} smsg;

enum { EV_MSG, EV_TICK, EV_LINK_DOWN };

typedef struct event {
    uint64_t t, seq;
    int      kind, to, about;
    smsg    *m;
} event;

typedef struct snode {
    gc_core *c;
    char     name[32];
    int      up;
    int      expect_removal;        /* removals of it are not false */
    uint64_t stall_until;
    uint64_t tick_at;
    uint64_t first_inc;             /* this life's incarnation at start */
    int      life;
    int      dests;                 /* distinct destinations this window */
} snode;

typedef struct chat {
    int      sender;
    uint64_t id, sent, last;
    int      max_hop;
    int      reached;
} chat;

typedef struct sim {
    int       n;
    snode    *nodes;
    gc_params params;
    uint64_t  now, seq, rng;
    unsigned  lat_min, lat_max;
    event    *heap;
    size_t    nheap, heap_cap;
    int       cur_hop;
    int      *part;                 /* partition side per node; NULL: none */
    int       news_only;            /* the cut drops only side 1's news of itself to
                                     * side 0 (peer lists, joins, side 1's alives) */
    int      *last_part;            /* the sides of the last partition healed */
    uint64_t  healed_at;
    /* chats */
    chat     *chats;
    int       nchats, chats_cap;
    uint8_t  *shown;                /* nchats_cap x n: times shown */
    int      *newest;               /* n x n: newest chat index shown at i from j */
    int       dup_shown, bad_chat, late, unmarked_late, wrongly_late;
    uint8_t  *announced;            /* n x n: i has shown j's join (this life of i) */
    int       line_before_join;     /* a line shown before its sender's join */
    /* tracking one node's removal or arrival */
    int       track, track_kind;
    uint64_t  track_from, *track_at;
    /* counters */
    uint64_t  sent, false_removals, bad_names;
    uint32_t *win_stamp;            /* n x n: window when i last sent to j */
    uint32_t  window;
    int       max_dests;
    char      text[64];
    const char **names_scratch;
} sim;

static uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(sim *s, uint64_t n) { return n ? rnd(s) % n : 0; }

static int env_int(const char *k, int def)
{
    const char *v = getenv(k);
    return v && *v ? atoi(v) : def;
}

/* ---- event heap --------------------------------------------------------------- */

SIM_HEAP(evq, event)

static void push(sim *s, event e)
{
    e.seq = s->seq++;
    evq_push(&s->heap, &s->nheap, &s->heap_cap, e);
}

static event pop(sim *s) { return evq_pop(&s->heap, &s->nheap); }

static void free_msg(smsg *m)
{
    if (m) {
        free(m->list);
        free(m);
    }
}

/* ---- names ------------------------------------------------------------------ */

static int idx_of(const sim *s, const char *name)
{
    if (!name || name[0] != 'n')
        return -1;
    char *end;
    long v = strtol(name + 1, &end, 10);
    if (end == name + 1 || strcmp(end, "@sim") != 0 || v < 0 || v >= s->n)
        return -1;
    return (int)v;
}

/* ---- the cores' outputs ------------------------------------------------------ */

typedef struct ctx {
    sim *s;
    int  i;
} ctx;
static ctx *ctxs;
static int trace_on;

static void reschedule(sim *s, int i);

static void io_send(void *ud, const char *to, const gc_msg *m)
{
    ctx *x = ud;
    sim *s = x->s;
    int j = idx_of(s, to);
    if (j < 0 || (m->node && idx_of(s, m->node) < 0)) {
        s->bad_names++;
        return;
    }
    s->sent++;
    uint32_t *st = &s->win_stamp[(size_t)x->i * s->n + j];
    if (*st != s->window) {
        *st = s->window;
        if (++s->nodes[x->i].dests > s->max_dests)
            s->max_dests = s->nodes[x->i].dests;
    }
    if (s->part && s->part[x->i] != s->part[j] &&
        (!s->news_only || (s->part[x->i] == 1 &&
                           (m->type == GC_PEER_LIST || m->type == GC_JOIN ||
                            (m->type == GC_ALIVE && s->part[idx_of(s, m->node)] == 1)))))
        return;
    smsg *sm = calloc(1, sizeof *sm);
    sm->type = m->type;
    sm->from = x->i;
    sm->node = m->node ? idx_of(s, m->node) : -1;
    sm->other = m->other ? idx_of(s, m->other) : -1;
    sm->num = m->num;
    sm->hop = s->cur_hop + 1;
    sm->chat = -1;
    if (m->type == GC_CHAT) {
        int k;
        if (sscanf(m->text, "m%d", &k) == 1 && k >= 0 && k < s->nchats)
            sm->chat = k;
    }
    if (m->nlist) {
        sm->list = malloc(m->nlist * sizeof *sm->list);
        for (size_t k = 0; k < m->nlist; k++)
            sm->list[k] = idx_of(s, m->list[k]);
        sm->nlist = m->nlist;
    }
    uint64_t lat = s->lat_min + rnd_below(s, s->lat_max - s->lat_min + 1);
    push(s, (event){ .t = s->now + lat, .kind = EV_MSG, .to = j, .m = sm });
}

/* A removal of j at i is the partition's: they are apart, or were until a
 * moment ago (a suspicion begun before the heal may still run out: its
 * longest time, the probes before it and a period). */
static int separated(const sim *s, int i, int j)
{
    if (s->part && s->part[i] != s->part[j])
        return 1;
    const gc_params *p = &s->params;
    uint64_t grace = 2ull * p->period_ms + p->ping_timeout_ms + p->indirect_timeout_ms +
                     (uint64_t)p->suspect_max_ms * (1 + p->lhm_max);
    return s->last_part && s->now < s->healed_at + grace && s->last_part[i] != s->last_part[j];
}

static void io_event(void *ud, const gc_event *e)
{
    ctx *x = ud;
    sim *s = x->s;
    if (trace_on && e->type != GC_EV_CHAT)
        printf("%6llu %s: event %d %s %s inc %llu\n", (unsigned long long)s->now,
               s->nodes[x->i].name, e->type, e->node ? e->node : "-", e->other ? e->other : "-",
               (unsigned long long)e->id);
    int about = e->node ? idx_of(s, e->node) : -1;
    if (e->type == GC_EV_JOIN && about >= 0)
        s->announced[(size_t)x->i * s->n + about] = 1;
    if (e->type == GC_EV_CHAT) {
        int k;
        if (sscanf(e->text, "m%d", &k) != 1 || k < 0 || k >= s->nchats) {
            s->bad_chat++;
            return;
        }
        int from = s->chats[k].sender;
        if (from != x->i && !s->announced[(size_t)x->i * s->n + from]) {
            s->line_before_join++;
            fprintf(stderr, "t=%llu: %s showed m%d before %s joined\n",
                    (unsigned long long)s->now, s->nodes[x->i].name, k, s->nodes[from].name);
        }
        if (trace_on > 1)
            printf("%6llu %s: shows m%d of %s\n", (unsigned long long)s->now,
                   s->nodes[x->i].name, k, s->nodes[from].name);
        uint8_t *cnt = &s->shown[(size_t)k * s->n + x->i];
        if (*cnt) {
            s->dup_shown++;
            if (trace_on)
                printf("%6llu %s: m%d shown again (life %d)\n", (unsigned long long)s->now,
                       s->nodes[x->i].name, k, s->nodes[x->i].life);
        }
        int *newest = &s->newest[(size_t)x->i * s->n + s->chats[k].sender];
        int older = k < *newest;
        s->late += e->late;
        s->unmarked_late += older && !e->late;
        s->wrongly_late += !older && e->late;
        if (!older)
            *newest = k;
        if (*cnt < 255)
            (*cnt)++;
        chat *ch = &s->chats[k];
        ch->reached++;
        if (s->now > ch->last)
            ch->last = s->now;
        if (s->cur_hop > ch->max_hop)
            ch->max_hop = s->cur_hop;
        return;
    }
    if ((e->type == GC_EV_DEAD || e->type == GC_EV_LEAVE) && about >= 0) {
        /* a removal of its current life (not of an earlier one: a restarted
         * node's earlier lives had smaller incarnations; 0 means "known by
         * name", which is this life unless it restarted) */
        snode *ab = &s->nodes[about];
        if (e->type == GC_EV_DEAD && ab->up && !ab->expect_removal &&
            !separated(s, x->i, about) &&
            (e->id >= ab->first_inc || (e->id == 0 && ab->life == 0))) {
            s->false_removals++;
            fprintf(stderr, "t=%llu: %s removed live %s (by %s)\n", (unsigned long long)s->now,
                    s->nodes[x->i].name, e->node, e->other ? e->other : "?");
        }
    }
    if (about >= 0 && about == s->track && !s->track_at[x->i] &&
        ((s->track_kind == GC_EV_DEAD && (e->type == GC_EV_DEAD || e->type == GC_EV_LEAVE)) ||
         (int)e->type == s->track_kind))
        s->track_at[x->i] = s->now;
}

static void io_log(void *ud, const char *line)
{
    ctx *x = ud;
    if (trace_on)
        printf("%6llu %s: log: %s\n", (unsigned long long)x->s->now, x->s->nodes[x->i].name, line);
}

/* ---- nodes ----------------------------------------------------------------- */

static void reschedule(sim *s, int i)
{
    snode *nd = &s->nodes[i];
    if (!nd->up)
        return;
    uint64_t d = gc_next_deadline(nd->c);
    if (d != NEVER && d < s->now)
        d = s->now;
    if (d != nd->tick_at) {
        nd->tick_at = d;
        if (d != NEVER)
            push(s, (event){ .t = d, .kind = EV_TICK, .to = i });
    }
}

static void boot(sim *s, int i)
{
    snode *nd = &s->nodes[i];
    gc_io io = { .ud = &ctxs[i], .send = io_send, .event = io_event, .log = io_log };
    gc_config cfg = {
        .self = nd->name,
        .incarnation = T0_MS + s->now + (uint64_t)nd->life,
        .id_base = (uint64_t)(nd->life + 1) * 1000000000ull,
        .seed = rnd(s),
        .params = s->params,
    };
    char err[128];
    nd->c = gc_new(&cfg, &io, err, sizeof err);
    if (!nd->c) {
        fprintf(stderr, "gc_new: %s\n", err);
        abort();
    }
    nd->first_inc = cfg.incarnation;
    memset(&s->announced[(size_t)i * s->n], 0, (size_t)s->n);
    nd->up = 1;
    nd->tick_at = NEVER;
    nd->stall_until = 0;
}

static sim *sim_new(int n, uint64_t seed, unsigned lat_min, unsigned lat_max, int chats_cap)
{
    sim *s = calloc(1, sizeof *s);
    s->n = n;
    s->rng = seed;
    s->lat_min = lat_min;
    s->lat_max = lat_max;
    s->nodes = calloc((size_t)n, sizeof *s->nodes);
    ctxs = calloc((size_t)n, sizeof *ctxs);
    for (int i = 0; i < n; i++) {
        snprintf(s->nodes[i].name, sizeof s->nodes[i].name, "n%d@sim", i);
        ctxs[i] = (ctx){ s, i };
    }
    s->chats_cap = chats_cap;
    s->chats = calloc((size_t)chats_cap, sizeof *s->chats);
    s->shown = calloc((size_t)chats_cap * (size_t)n, 1);
    s->newest = calloc((size_t)n * (size_t)n, sizeof *s->newest);
    s->announced = calloc((size_t)n * (size_t)n, 1);
    s->track = -1;
    s->track_at = calloc((size_t)n, sizeof *s->track_at);
    s->win_stamp = calloc((size_t)n * (size_t)n, sizeof *s->win_stamp);
    s->window = 1;
    s->names_scratch = calloc(16384, sizeof *s->names_scratch);
    return s;
}

static void sim_free(sim *s)
{
    for (int i = 0; i < s->n; i++)
        gc_free(s->nodes[i].c);
    while (s->nheap) {
        event e = pop(s);
        free_msg(e.m);
    }
    free(s->heap);
    free(s->nodes);
    free(ctxs);
    ctxs = NULL;
    free(s->chats);
    free(s->shown);
    free(s->newest);
    free(s->announced);
    free(s->last_part);
    free(s->track_at);
    free(s->win_stamp);
    free(s->part);
    free(s->names_scratch);
    free(s);
}

static void kill_node(sim *s, int i, int link_down)
{
    snode *nd = &s->nodes[i];
    if (link_down) {
        for (int j = 0; j < s->n; j++)
            if (j != i && s->nodes[j].up &&
                (gc_keep_link(s->nodes[j].c, s->now, nd->name) == 1 ||
                 gc_keep_link(nd->c, s->now, s->nodes[j].name) == 1))
                push(s, (event){ .t = s->now + 1, .kind = EV_LINK_DOWN, .to = j, .about = i });
    }
    gc_free(nd->c);
    nd->c = NULL;
    nd->up = 0;
    nd->expect_removal = 1;
}

static void start_node(sim *s, int i, int contact)
{
    boot(s, i);
    s->cur_hop = 0;
    gc_start(s->nodes[i].c, s->now, contact >= 0 ? s->nodes[contact].name : NULL);
    reschedule(s, i);
}

static void restart_node(sim *s, int i, int contact)
{
    s->nodes[i].life++;
    s->nodes[i].expect_removal = 0;
    start_node(s, i, contact);
}

/* Every node starts knowing every other (a cluster file). */
static void bootstrap_static(sim *s)
{
    for (int i = 0; i < s->n; i++)
        s->names_scratch[i] = s->nodes[i].name;
    for (int i = 0; i < s->n; i++) {
        boot(s, i);
        s->cur_hop = 0;
        gc_start_with(s->nodes[i].c, s->now, s->names_scratch, (size_t)s->n);
        reschedule(s, i);
    }
}

/* Cut the network between sides (side[i] per node, copied). */
static void partition(sim *s, const int *side)
{
    free(s->part);
    s->part = malloc((size_t)s->n * sizeof *s->part);
    memcpy(s->part, side, (size_t)s->n * sizeof *side);
    if (trace_on) {
        printf("%6llu partition:", (unsigned long long)s->now);
        for (int i = 0; i < s->n; i++)
            printf(" n%d:%d", i, side[i]);
        printf("\n");
    }
}

static void heal(sim *s)
{
    free(s->last_part);
    s->last_part = s->part;
    s->part = NULL;
    s->news_only = 0;
    s->healed_at = s->now;
    if (trace_on)
        printf("%6llu healed\n", (unsigned long long)s->now);
}

static int live_count(const sim *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += s->nodes[i].up;
    return k;
}

/* ---- running --------------------------------------------------------------------- */

static void deliver(sim *s, event *e)
{
    snode *nd = &s->nodes[e->to];
    smsg *m = e->m;
    gc_msg g = { .type = m->type, .num = m->num };
    g.node = m->node >= 0 ? s->nodes[m->node].name : NULL;
    g.other = m->other >= 0 ? s->nodes[m->other].name : NULL;
    if (m->type == GC_CHAT) {
        snprintf(s->text, sizeof s->text, "m%d", m->chat);
        g.text = s->text;
        g.text_len = strlen(s->text);
    }
    if (m->nlist) {
        size_t k = 0;
        for (size_t i = 0; i < m->nlist && k < 16384; i++)
            if (m->list[i] >= 0)
                s->names_scratch[k++] = s->nodes[m->list[i]].name;
        g.list = s->names_scratch;
        g.nlist = k;
    }
    s->cur_hop = m->hop;
    gc_recv(nd->c, s->now, &g);
}

static void step(sim *s)
{
    event e = pop(s);
    if (e.t > s->now)
        s->now = e.t;
    snode *nd = &s->nodes[e.to];
    if (!nd->up) {
        free_msg(e.m);
        return;
    }
    if (nd->stall_until > s->now) {
        /* stopped: everything waits until it resumes */
        if (e.kind == EV_TICK) {
            if (e.t != nd->tick_at)
                return;
            nd->tick_at = nd->stall_until;
        }
        e.t = nd->stall_until;
        push(s, e);
        return;
    }
    switch (e.kind) {
    case EV_MSG:
        deliver(s, &e);
        free_msg(e.m);
        break;
    case EV_TICK:
        if (e.t != nd->tick_at)
            return;                     /* superseded */
        nd->tick_at = NEVER;
        s->cur_hop = 0;
        gc_tick(nd->c, s->now);
        break;
    case EV_LINK_DOWN:
        gc_link_down(nd->c, s->now, s->nodes[e.about].name);
        break;
    }
    reschedule(s, e.to);
}

static void run_until(sim *s, uint64_t t)
{
    while (s->nheap && s->heap[0].t <= t)
        step(s);
    if (t > s->now)
        s->now = t;
}

/* Runs until cond holds (checked after every event) or tmax; 1 if it held. */
static int run_until_cond(sim *s, uint64_t tmax, int (*cond)(sim *))
{
    while (!cond(s)) {
        if (!s->nheap || s->heap[0].t > tmax) {
            if (tmax > s->now)
                s->now = tmax;
            return cond(s);
        }
        step(s);
    }
    return 1;
}

static void new_window(sim *s)
{
    s->window++;
    for (int i = 0; i < s->n; i++)
        s->nodes[i].dests = 0;
}

/* ---- chats ----------------------------------------------------------------------- */

static int say(sim *s, int i)
{
    if (s->nchats == s->chats_cap)
        return -1;
    int k = s->nchats++;
    char text[32];
    snprintf(text, sizeof text, "m%d", k);
    s->chats[k] = (chat){ .sender = i, .sent = s->now, .last = s->now };
    s->cur_hop = 0;
    s->chats[k].id = gc_say(s->nodes[i].c, s->now, text, strlen(text));
    reschedule(s, i);
    return k;
}

/* Every node up now showed chats [from, to) exactly once (if `all`, also
 * every node; else nodes up). */
static int chats_complete(sim *s, int from, int to)
{
    for (int k = from; k < to; k++)
        for (int i = 0; i < s->n; i++)
            if (s->nodes[i].up && s->shown[(size_t)k * s->n + i] != 1)
                return 0;
    return 1;
}

static int g_from, g_to;
static int cond_chats(sim *s) { return chats_complete(s, g_from, g_to); }

/* Why cond_chats fails, on stderr. */
static void show_missing(sim *s)
{
    int shown = 0;
    for (int k = g_from; k < g_to && shown < 20; k++)
        for (int i = 0; i < s->n && shown < 20; i++)
            if (s->nodes[i].up && s->shown[(size_t)k * s->n + i] != 1) {
                fprintf(stderr, "  line m%d (from n%d at %llu ms) shown %d times at n%d\n", k,
                        s->chats[k].sender, (unsigned long long)s->chats[k].sent,
                        s->shown[(size_t)k * s->n + i], i);
                shown++;
            }
}

/* Runs until lines [from, to) are everywhere or tmax; shows what is
 * missing if they are not. */
static int delivered(sim *s, int from, int to, uint64_t tmax)
{
    g_from = from, g_to = to;
    int ok = run_until_cond(s, tmax, cond_chats);
    if (!ok)
        show_missing(s);
    return ok;
}

/* ---- membership conditions -------------------------------------------------------- */

/* Every live node sees exactly the live nodes. */
static int converged(sim *s)
{
    int live = live_count(s);
    for (int i = 0; i < s->n; i++) {
        snode *nd = &s->nodes[i];
        if (!nd->up)
            continue;
        if ((int)gc_member_count(nd->c) != live)
            return 0;
    }
    for (int i = 0; i < s->n; i++) {
        if (!s->nodes[i].up)
            continue;
        for (int j = 0; j < s->n; j++) {
            if (i == j)
                continue;
            gc_status st = gc_member_status(s->nodes[i].c, s->nodes[j].name, NULL);
            int live_j = st == GC_ALIVE_ST || st == GC_SUSPECT_ST;
            if (live_j != s->nodes[j].up)
                return 0;
        }
    }
    return 1;
}

/* Why converged() fails, on stderr. */
static void show_disagreement(sim *s)
{
    int shown = 0;
    for (int i = 0; i < s->n && shown < 20; i++) {
        if (!s->nodes[i].up)
            continue;
        for (int j = 0; j < s->n && shown < 20; j++) {
            if (i == j)
                continue;
            uint64_t inc = 0;
            gc_status st = gc_member_status(s->nodes[i].c, s->nodes[j].name, &inc);
            int live_j = st == GC_ALIVE_ST || st == GC_SUSPECT_ST;
            if (live_j != s->nodes[j].up) {
                fprintf(stderr, "  %s sees %s as %s (inc %llu); it is %s (inc %llu)\n",
                        s->nodes[i].name, s->nodes[j].name, gc_status_name(st),
                        (unsigned long long)inc, s->nodes[j].up ? "up" : "down",
                        s->nodes[j].up ? (unsigned long long)gc_incarnation(s->nodes[j].c) : 0ull);
                shown++;
            }
        }
    }
}

static void track(sim *s, int target, int kind)
{
    s->track = target;
    s->track_kind = kind;
    s->track_from = s->now;
    memset(s->track_at, 0, (size_t)s->n * sizeof *s->track_at);
}

/* Which live nodes did not observe the tracked event, on stderr. */
static void show_untracked(sim *s)
{
    for (int i = 0; i < s->n; i++)
        if (i != s->track && s->nodes[i].up && !s->track_at[i]) {
            uint64_t inc = 0;
            gc_status st = gc_member_status(s->nodes[i].c, s->nodes[s->track].name, &inc);
            fprintf(stderr, "  %s did not see it: has %s as %s (inc %llu)\n", s->nodes[i].name,
                    s->nodes[s->track].name, gc_status_name(st), (unsigned long long)inc);
        }
}

/* Live nodes (other than the target) that observed the tracked event. */
static int tracked_all(sim *s)
{
    for (int i = 0; i < s->n; i++)
        if (i != s->track && s->nodes[i].up && !s->track_at[i])
            return 0;
    return 1;
}

static void tracked_times(sim *s, uint64_t *first, uint64_t *last)
{
    *first = NEVER;
    *last = 0;
    for (int i = 0; i < s->n; i++)
        if (i != s->track && s->nodes[i].up && s->track_at[i]) {
            uint64_t d = s->track_at[i] - s->track_from;
            if (d < *first)
                *first = d;
            if (d > *last)
                *last = d;
        }
}

static int max_view(sim *s)
{
    int mx = 0;
    const char *v[GC_MAX_VIEW];
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].up) {
            int k = (int)gc_view(s->nodes[i].c, v, GC_MAX_VIEW);
            if (k > mx)
                mx = k;
        }
    return mx;
}

/* ---- codec tests ---------------------------------------------------------------------- */

static int roundtrip(const gc_msg *m)
{
    cn_buf b;
    cn_buf_init(&b);
    gc_wire_encode(&b, m);
    cn_term t = cn_buf_term(&b, 0);
    gc_wire_in in = { 0 };
    gc_msg d;
    char err[256];
    int ok = !cn_buf_failed(&b) && gc_wire_decode(&in, &t, &d, err, sizeof err) == 0 &&
             d.type == m->type && d.num == m->num &&
             (!m->node || strcmp(d.node, m->node) == 0) &&
             (!m->other || strcmp(d.other, m->other) == 0) && d.text_len == m->text_len &&
             (!m->text_len || memcmp(d.text, m->text, m->text_len) == 0) && d.nlist == m->nlist;
    for (size_t i = 0; ok && i < m->nlist; i++)
        ok = strcmp(d.list[i], m->list[i]) == 0;
    if (!ok)
        fprintf(stderr, "roundtrip of %s failed: %s\n", gc_msg_type_name(m->type), err);
    gc_wire_in_free(&in);
    cn_buf_free(&b);
    return ok;
}

/* Decodes a term written in the builder's pattern language; returns 0 if
 * accepted, -1 if rejected (reason in err). */
static int decode_built(cn_buf *b, gc_msg *m, gc_wire_in *in, char *err, size_t errlen)
{
    cn_term t = cn_buf_term(b, 0);
    return gc_wire_decode(in, &t, m, err, errlen);
}

static void test_codec(void)
{
    const char *names[] = { "a@h", "bob_2@host.example", "x-y@z" };
    gc_msg ms[] = {
        { .type = GC_CHAT, .node = "a@h", .text = "h\xc3\xa9llo", .text_len = 6, .num = 42 },
        { .type = GC_CHAT, .node = "a@h", .text = "", .text_len = 0, .num = UINT64_MAX },
        { .type = GC_PEER_LIST, .list = names, .nlist = 3 },
        { .type = GC_PEER_LIST, .list = NULL, .nlist = 0 },
        { .type = GC_PING, .node = "a@h" },
        { .type = GC_PONG, .node = "a@h" },
        { .type = GC_JOIN, .node = "bob_2@host.example" },
        { .type = GC_LEAVE, .node = "x-y@z" },
        { .type = GC_ALIVE, .node = "a@h", .num = 1700000000123ull },
        { .type = GC_SUSPECT, .node = "a@h", .num = 7, .other = "x-y@z" },
        { .type = GC_DEAD, .node = "a@h", .num = 0, .other = "x-y@z" },
        { .type = GC_PING_REQ, .node = "a@h", .other = "x-y@z" },
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        CHECK(roundtrip(&ms[i]));

    /* junk: each must be rejected with a reason, never crash */
    struct { const char *pat; int kind; } junk[] = {
        { "hello", 0 }, { "{}", 0 }, { "{1, 2}", 0 }, { "{chat}", 0 },
        { "{chat, 1, 2, 3}", 0 }, { "{ping}", 0 }, { "{ping, 1}", 0 }, { "{ping, x, y}", 0 },
        { "{peer_list, notalist}", 0 }, { "{peer_list, [1, 2]}", 0 }, { "{bogus, 1}", 0 },
        { "{alive, x, 1}", 0 }, { "{alive, ~s, -1}", 1 }, { "{suspect, ~s, 1}", 1 },
        { "{ping, ~s}", 2 }, { "{ping, ~s}", 3 }, { "{chat, ~s, ~s, 1}", 4 },
        { "{peer_list, [~s]}", 2 }, { "{ping_req, ~s, ~s}", 5 }, { "{chat, ~s, 1, 1}", 1 },
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        cn_buf b;
        cn_buf_init(&b);
        switch (junk[i].kind) {
        case 0: cn_term_build(&b, junk[i].pat); break;
        case 1: cn_term_build(&b, junk[i].pat, "a@h"); break;
        case 2: cn_term_build(&b, junk[i].pat, "no_at_sign"); break;
        case 3: cn_term_build(&b, junk[i].pat, "bad name@h"); break;
        case 4: cn_term_build(&b, junk[i].pat, "a@h", "\xff\xfe"); break;
        case 5: cn_term_build(&b, junk[i].pat, "a@h", ""); break;
        }
        gc_wire_in in = { 0 };
        gc_msg m;
        char err[256] = "";
        int r = cn_buf_failed(&b) ? -2 : decode_built(&b, &m, &in, err, sizeof err);
        CHECK(r == -1 && err[0]);
        if (r != -1)
            fprintf(stderr, "junk %zu (%s) not rejected (%d)\n", i, junk[i].pat, r);
        gc_wire_in_free(&in);
        cn_buf_free(&b);
    }
    /* an improper list, a too-long text, an id beyond 64 bits */
    cn_buf b;
    cn_buf_init(&b);
    cn_term_put_tuple(&b, 2);
    cn_term_put_atom(&b, "peer_list");
    cn_term_put_list(&b, 1);
    cn_term_put_binary(&b, "a@h", 3);
    cn_term_put_binary(&b, "b@h", 3);     /* tail: not [] */
    gc_wire_in in = { 0 };
    gc_msg m;
    char err[256];
    CHECK(decode_built(&b, &m, &in, err, sizeof err) == -1);
    cn_buf_reset(&b);
    char *big = malloc(GC_MAX_TEXT + 1);
    memset(big, 'x', GC_MAX_TEXT + 1);
    cn_term_build(&b, "{chat, ~s, ~b, 1}", "a@h", big, (size_t)GC_MAX_TEXT + 1);
    CHECK(decode_built(&b, &m, &in, err, sizeof err) == -1);
    cn_buf_reset(&b);
    cn_term_build(&b, "{chat, ~s, ~b, 1}", "a@h", big, (size_t)GC_MAX_TEXT);
    CHECK(decode_built(&b, &m, &in, err, sizeof err) == 0 && m.text_len == GC_MAX_TEXT);
    free(big);
    cn_buf_reset(&b);
    cn_term_put_tuple(&b, 4);
    cn_term_put_atom(&b, "chat");
    cn_term_put_binary(&b, "a@h", 3);
    cn_term_put_binary(&b, "x", 1);
    cn_buf_put8(&b, 110);                 /* SMALL_BIG_EXT: 2^72 */
    cn_buf_put8(&b, 10);
    cn_buf_put8(&b, 0);
    for (int i = 0; i < 9; i++)
        cn_buf_put8(&b, 0);
    cn_buf_put8(&b, 1);
    CHECK(decode_built(&b, &m, &in, err, sizeof err) == -1);
    gc_wire_in_free(&in);
    cn_buf_free(&b);

    CHECK(gc_utf8_valid("\xe2\x82\xac", 3));
    CHECK(!gc_utf8_valid("\xe2\x82", 2));
    CHECK(!gc_utf8_valid("\xc0\xaf", 2));          /* overlong */
    CHECK(!gc_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    CHECK(gc_name_valid("a@b", 3) && !gc_name_valid("@b", 2) && !gc_name_valid("a@", 2) &&
          !gc_name_valid("a@b@c", 5) && !gc_name_valid("a b@c", 5));
}

/* ---- small scenarios --------------------------------------------------------------------- */

static gc_params quick_params(void)
{
    gc_params p;
    memset(&p, 0, sizeof p);
    gc_params_fill(&p);
    return p;
}

static void test_two_then_three(uint64_t seed)
{
    sim *s = sim_new(4, seed, 1, 5, 64);
    s->params = quick_params();
    start_node(s, 0, -1);
    run_until(s, 100);
    start_node(s, 1, 0);
    CHECK(run_until_cond(s, 3000, converged));
    int k = say(s, 0), k2 = say(s, 1);
    g_from = k, g_to = k2 + 1;
    CHECK(run_until_cond(s, s->now + 1000, cond_chats));
    /* a third joins through the second, a fourth through the first */
    start_node(s, 2, 1);
    CHECK(run_until_cond(s, s->now + 3000, converged));
    start_node(s, 3, 0);
    CHECK(run_until_cond(s, s->now + 3000, converged));
    g_from = s->nchats;
    for (int i = 0; i < 4; i++)
        say(s, i);
    g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 1000, cond_chats));
    run_until(s, s->now + 10000);
    CHECK(converged(s));
    CHECK(s->dup_shown == 0 && s->false_removals == 0 && s->bad_names == 0 && s->bad_chat == 0);
    CHECK(s->line_before_join == 0);
    sim_free(s);
}

/* A node says a line the moment it has joined: every other node shows its
 * join before the line (issue 13: the line, flooded at once, could reach
 * a node before the news of the join did). */
static int newest_joined(sim *s) { return gc_is_joined(s->nodes[s->n - 1].c); }

static void test_first_line_after_join(uint64_t seed)
{
    sim *s = sim_new(8, seed, 1, 5, 16);
    s->params = quick_params();
    start_node(s, 0, -1);
    for (int i = 1; i < 7; i++) {
        run_until(s, s->now + 50);
        start_node(s, i, i - 1);
    }
    CHECK(run_until_cond(s, 5000, converged));
    start_node(s, 7, 3);
    CHECK(run_until_cond(s, s->now + 3000, newest_joined));
    g_from = say(s, 7);
    g_to = g_from + 1;
    CHECK(run_until_cond(s, s->now + 1000, cond_chats));
    CHECK(s->line_before_join == 0);
    sim_free(s);
}

/* kill -9 (connections drop), a hang (silence) and a graceful leave in a
 * cluster of n: every other node must see each, in time. */
static void test_failures(uint64_t seed, int n)
{
    sim *s = sim_new(n, seed, 1, 5, 16);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 3000);
    CHECK(converged(s));
    uint64_t first, last;

    track(s, 1, GC_EV_DEAD);
    kill_node(s, 1, 1);
    CHECK(run_until_cond(s, s->now + 10000, tracked_all));
    tracked_times(s, &first, &last);
    CHECK(last <= 3000);                /* the target */
    printf("  n=%d kill -9: first %llu ms, all %llu ms\n", n, (unsigned long long)first,
           (unsigned long long)last);

    track(s, 2, GC_EV_DEAD);
    kill_node(s, 2, 0);
    CHECK(run_until_cond(s, s->now + 10000, tracked_all));
    tracked_times(s, &first, &last);
    CHECK(last <= 3500);
    printf("  n=%d hang:    first %llu ms, all %llu ms\n", n, (unsigned long long)first,
           (unsigned long long)last);

    track(s, 3, GC_EV_LEAVE);
    s->nodes[3].expect_removal = 1;
    gc_leave(s->nodes[3].c, s->now);
    kill_node(s, 3, 0);
    CHECK(run_until_cond(s, s->now + 1000, tracked_all));
    tracked_times(s, &first, &last);
    CHECK(last <= 100);
    printf("  n=%d leave:   first %llu ms, all %llu ms\n", n, (unsigned long long)first,
           (unsigned long long)last);

    run_until(s, s->now + 8000);
    CHECK(converged(s));
    CHECK(s->false_removals == 0 && s->dup_shown == 0 && s->bad_names == 0);
    sim_free(s);
}

/* Slow but alive: a node stopped for 1.5 s (SIGSTOP, then SIGCONT) is never
 * removed; one stopped for 10 s is removed and comes back when it resumes.
 * A killed node restarted with a new incarnation rejoins. */
static void test_stall_and_return(uint64_t seed)
{
    sim *s = sim_new(10, seed, 1, 5, 64);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 3000);
    CHECK(converged(s));
    for (int round = 0; round < 5; round++) {
        s->nodes[4].stall_until = s->now + 1500;
        run_until(s, s->now + 8000);
        CHECK(s->false_removals == 0);
    }
    /* messages keep flowing through a stalled node's neighbours */
    s->nodes[5].stall_until = s->now + 1200;
    g_from = s->nchats;
    say(s, 6);
    g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 3000, cond_chats));

    s->nodes[4].expect_removal = 1;
    track(s, 4, GC_EV_DEAD);
    uint64_t resume = s->now + 10000;
    s->nodes[4].stall_until = resume;
    CHECK(run_until_cond(s, s->now + 9000, tracked_all));
    uint64_t first, last;
    tracked_times(s, &first, &last);
    track(s, 4, GC_EV_JOIN);
    CHECK(run_until_cond(s, resume + 3000, tracked_all));
    printf("  stopped 10 s: removed by all after %llu ms; back at all %llu ms after resuming\n",
           (unsigned long long)last, (unsigned long long)(s->now - resume));
    s->nodes[4].expect_removal = 0;
    CHECK(run_until_cond(s, s->now + 5000, converged));

    track(s, 7, GC_EV_DEAD);
    kill_node(s, 7, 1);
    CHECK(run_until_cond(s, s->now + 10000, tracked_all));
    run_until(s, s->now + 500);
    track(s, 7, GC_EV_JOIN);
    restart_node(s, 7, 2);
    CHECK(run_until_cond(s, s->now + 3000, tracked_all));
    CHECK(run_until_cond(s, s->now + 3000, converged));
    g_from = s->nchats;
    say(s, 7);
    g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 1000, cond_chats));
    run_until(s, s->now + 8000);
    CHECK(converged(s));
    CHECK(s->false_removals == 0 && s->dup_shown == 0);
    sim_free(s);
}

/* 1,000 chat lines from random senders over 10 s in a 20-node cluster with
 * one node killed and one leaving meanwhile: every node up at the end shows
 * every line exactly once. */
static void test_thousand(uint64_t seed)
{
    int n = 20;
    sim *s = sim_new(n, seed, 1, 8, 1000);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 2000);
    CHECK(converged(s));
    int senders[] = { 0, 1, 2, 3, 4 };
    for (int k = 0; k < 1000; k++) {
        run_until(s, s->now + 10);
        if (k == 300)
            kill_node(s, 10, 1);
        if (k == 600) {
            s->nodes[11].expect_removal = 1;
            gc_leave(s->nodes[11].c, s->now);
            kill_node(s, 11, 0);
        }
        say(s, senders[rnd_below(s, 5)]);
    }
    g_from = 0, g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 3000, cond_chats));
    run_until(s, s->now + 5000);
    CHECK(s->dup_shown == 0);
    CHECK(chats_complete(s, 0, s->nchats));
    CHECK(converged(s));
    CHECK(s->false_removals == 0);
    sim_free(s);
}

/* Churn: for 60 s a random fault every second (kill -9, hang, 1 s stop,
 * graceful leave, restart of a gone node) while lines flow from random live
 * nodes.  No line is ever shown twice, no node stopped for a second is ever
 * removed, and once the faults stop the membership converges and lines
 * reach every node. */
static void test_churn(uint64_t seed)
{
    int n = 40;
    sim *s = sim_new(n, seed, 1, 10, 4000);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 3000);
    CHECK(converged(s));
    uint64_t end = s->now + 60000;
    while (s->now < end) {
        int i = (int)rnd_below(s, (uint64_t)n);
        snode *nd = &s->nodes[i];
        if (!nd->up) {
            int contact;
            do
                contact = (int)rnd_below(s, (uint64_t)n);
            while (!s->nodes[contact].up || contact == i);
            restart_node(s, i, contact);
        } else if (live_count(s) > n / 2) {
            switch (rnd_below(s, 4)) {
            case 0: kill_node(s, i, 1); break;
            case 1: kill_node(s, i, 0); break;
            case 2:
                nd->expect_removal = 1;
                gc_leave(nd->c, s->now);
                kill_node(s, i, 0);
                break;
            default:
                if (nd->stall_until <= s->now)
                    nd->stall_until = s->now + 1000;
                break;
            }
        }
        for (int k = 0; k < 20; k++) {
            int from = (int)rnd_below(s, (uint64_t)n);
            if (s->nodes[from].up && s->nodes[from].stall_until <= s->now)
                say(s, from);
            run_until(s, s->now + 50);
        }
    }
    /* quiet: every node gone comes back, then the membership must settle */
    int contact = 0;
    while (!s->nodes[contact].up)
        contact++;
    for (int i = 0; i < n; i++)
        if (!s->nodes[i].up)
            restart_node(s, i, contact);
    int ok = run_until_cond(s, s->now + 20000, converged);
    CHECK(ok);
    if (!ok)
        show_disagreement(s);
    g_from = s->nchats;
    for (int i = 0; i < n; i += 7)
        say(s, i);
    g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 2000, cond_chats));
    CHECK(s->dup_shown == 0);
    CHECK(s->false_removals == 0);
    CHECK(max_view(s) <= 2 * (int)s->params.rings);
    printf("  churn: %d lines, %llu messages, %d duplicates, %llu false removals\n", s->nchats,
           (unsigned long long)s->sent, s->dup_shown, (unsigned long long)s->false_removals);
    sim_free(s);
}

/* n nodes from a cluster file (room for chats lines), one membership after
 * 3 s. */
static sim *settled_static(int n, uint64_t seed, int chats)
{
    sim *s = sim_new(n, seed, 1, 5, chats);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 3000);
    CHECK(converged(s));
    return s;
}

/* Two halves cut apart remove each other; once the cut heals they merge. */
static int cond_merged(sim *s) { return converged(s); }

static void test_partition(uint64_t seed)
{
    int n = 12;
    sim *s = settled_static(n, seed, 16);
    int side[12];
    for (int i = 0; i < n; i++)
        side[i] = i < n / 2;
    partition(s, side);
    run_until(s, s->now + 15000);
    for (int i = 0; i < n; i++)
        CHECK(gc_member_count(s->nodes[i].c) == (size_t)n / 2);
    heal(s);
    CHECK(run_until_cond(s, s->now + 60000, cond_merged));
    CHECK(s->false_removals == 0);
    printf("  partition healed: one membership again after %llu ms\n",
           (unsigned long long)(s->now - s->healed_at));
    sim_free(s);
}

/* Every node says a line, once per `every` ms, until `until`. */
static void chat_until(sim *s, uint64_t until, uint64_t every)
{
    while (s->now < until && s->nchats + s->n <= s->chats_cap) {
        for (int i = 0; i < s->n; i++)
            if (s->nodes[i].up)
                say(s, i);
        run_until(s, s->now + every);
    }
    run_until(s, until);
}

/* A partition into halves that lasts cut_ms, lines said on both sides all
 * along (the last window_ms of it only, for cuts past the history); then
 * the halves merge, and every line is shown once on every node, in each
 * sender's order or marked late.  Prints the time to merge and to deliver.
 * forgotten: the cut outlasts every tombstone, so the halves know nothing
 * of each other and merge through their seeds (the cluster file), as
 * strangers: lines of the cut are not resent (docs/gossip.md), only those
 * said from then on must reach everyone. */
static void long_partition(uint64_t seed, uint64_t cut_ms, uint64_t window_ms, int forgotten)
{
    enum { n = 8 };
    sim *s = settled_static(n, seed, 4000);
    chat_until(s, s->now + 2000, 500);
    int side[n];
    for (int i = 0; i < n; i++)
        side[i] = i % 2;
    partition(s, side);
    uint64_t end = s->now + cut_ms;
    int first_cut_line = s->nchats;
    if (end - window_ms > s->now)
        run_until(s, end - window_ms);
    chat_until(s, end, 2000);
    for (int i = 0; i < n; i++) {
        CHECK(gc_member_count(s->nodes[i].c) == n / 2);
        gc_status st = gc_member_status(s->nodes[i].c, s->nodes[(i + 1) % n].name, NULL);
        CHECK(forgotten ? st == GC_UNKNOWN : st == GC_DEAD_ST);
    }
    int cut_lines = s->nchats - first_cut_line;
    heal(s);
    int merged = run_until_cond(s, s->now + 30000, cond_merged);
    CHECK(merged);
    if (!merged)
        show_disagreement(s);
    uint64_t merge_ms = s->now - s->healed_at;
    CHECK(delivered(s, forgotten ? s->nchats : 0, s->nchats, s->healed_at + 30000));
    uint64_t lines_ms = s->now - s->healed_at;
    int after = s->nchats;
    chat_until(s, s->now + 3000, 500);         /* after the heal: in order */
    CHECK(delivered(s, forgotten ? after : 0, s->nchats, s->now + 2000));
    CHECK(s->dup_shown == 0 && s->false_removals == 0 && s->bad_chat == 0);
    CHECK(s->unmarked_late == 0 && s->wrongly_late == 0);
    if (forgotten)
        printf("  %llu h partition (tombstones purged): merged through the seeds %llu ms after "
               "the heal; lines said since shown everywhere, 0 duplicates, 0 false removals\n",
               (unsigned long long)(cut_ms / 3600000), (unsigned long long)merge_ms);
    else
        printf("  %llu s partition: merged %llu ms after the heal, all %d lines said during it "
               "shown everywhere after %llu ms (%d shown late), 0 duplicates, 0 false "
               "removals\n", (unsigned long long)(cut_ms / 1000), (unsigned long long)merge_ms,
               cut_lines, (unsigned long long)lines_ms, s->late);
    sim_free(s);
}

/* Random splits (any sides) and heals, again and again, lines all along:
 * nobody is ever removed by a node it could reach, no line lost or shown
 * twice. */
static void test_split_heal(uint64_t seed)
{
    enum { n = 10 };
    sim *s = settled_static(n, seed, 8000);
    for (int round = 0; round < 12; round++) {
        int side[n];
        for (int i = 0; i < n; i++)
            side[i] = (int)rnd_below(s, 2);
        partition(s, side);
        chat_until(s, s->now + 3000 + rnd_below(s, 6000), 700);
        heal(s);
        chat_until(s, s->now + 2000 + rnd_below(s, 5000), 700);
    }
    int merged = run_until_cond(s, s->now + 30000, cond_merged);
    CHECK(merged);
    if (!merged)
        show_disagreement(s);
    CHECK(delivered(s, 0, s->nchats, s->now + 30000));
    CHECK(s->dup_shown == 0 && s->false_removals == 0 && s->bad_chat == 0);
    CHECK(s->unmarked_late == 0 && s->wrongly_late == 0);
    printf("  12 splits and heals: %d lines, %d shown twice, %d shown late (%d out of order "
           "unmarked), %llu false removals\n", s->nchats, s->dup_shown, s->late,
           s->unmarked_late, (unsigned long long)s->false_removals);
    sim_free(s);
}

/* Side 1 (nodes 1 and 2) took side 0 (nodes 0 and 3) back, while side 0
 * still counts side 1 removed. */
static int cond_half_merged(sim *s)
{
    for (int i = 1; i <= 2; i++)
        for (int j = 0; j < s->n; j += 3)
            if (gc_member_status(s->nodes[i].c, s->nodes[j].name, NULL) != GC_ALIVE_ST ||
                gc_member_status(s->nodes[j].c, s->nodes[i].name, NULL) != GC_DEAD_ST)
                return 0;
    return 1;
}

/* The shape of a CT failure (check_gossip_SUITE partitions, mixed): after
 * a 5 s cut into halves, side 1 took side 0 back and asked it for the lines
 * it missed before side 0 had taken side 1 back; side 0's next lines went
 * only to its own side, and nobody sent them on once the sides merged.
 * Here the heal holds back side 1's news of itself (peer lists, joins and
 * side 1's alives sent to side 0) until side 1 has taken side 0 back, and
 * for 300 ms more while side 0 talks: every line must reach everyone. */
static void test_owed_lines(uint64_t seed)
{
    enum { n = 4 };
    sim *s = settled_static(n, seed, 1200);
    int side[n] = { 0, 1, 1, 0 };
    chat_until(s, s->now + 1000, 100);
    partition(s, side);
    chat_until(s, s->now + 5000, 100);
    s->news_only = 1;
    CHECK(run_until_cond(s, s->now + 5000, cond_half_merged));
    int first = s->nchats;
    chat_until(s, s->now + 300, 30);
    heal(s);
    chat_until(s, s->now + 3000, 100);
    CHECK(run_until_cond(s, s->now + 30000, cond_merged));
    int ok = delivered(s, 0, s->nchats, s->now + 30000);
    CHECK(ok);
    CHECK(s->dup_shown == 0 && s->bad_chat == 0);
    CHECK(s->unmarked_late == 0 && s->wrongly_late == 0);
    printf("  %d lines said while one side had not taken the other back: %s\n",
           s->nchats - first, ok ? "all shown everywhere" : "LOST");
    sim_free(s);
}

/* A cluster file names nodes that start late: one while it is suspected,
 * one after it was removed.  Both end up members everywhere. */
static void test_late_start(uint64_t seed)
{
    enum { n = 6 };
    sim *s = sim_new(n, seed, 1, 5, 4);
    s->params = quick_params();
    const char *names[n];                /* the file (names_scratch is the network's) */
    for (int i = 0; i < n; i++)
        names[i] = s->nodes[i].name;
    uint64_t at[] = { 0, 0, 0, 0, 1800, 9000 };
    for (int i = 0; i < n; i++) {
        run_until(s, at[i]);
        boot(s, i);
        gc_start_with(s->nodes[i].c, s->now, names, (size_t)n);
        reschedule(s, i);
    }
    int ok = run_until_cond(s, s->now + 5000, converged);
    CHECK(ok);
    if (!ok)
        show_disagreement(s);
    run_until(s, s->now + 8000);
    CHECK(converged(s));
    sim_free(s);
}

/* Odd input straight into a core: our own name, unknown nodes, stale
 * updates.  Nothing may crash, and our state stays sane. */
static void test_odd_input(uint64_t seed)
{
    sim *s = sim_new(3, seed, 1, 3, 4);
    s->params = quick_params();
    bootstrap_static(s);
    run_until(s, 2000);
    gc_core *c = s->nodes[0].c;
    uint64_t inc0 = gc_incarnation(c);
    gc_msg m[] = {
        { .type = GC_PING, .node = "n0@sim" },
        { .type = GC_JOIN, .node = "n0@sim" },
        { .type = GC_PING_REQ, .node = "n0@sim", .other = "n1@sim" },
        { .type = GC_SUSPECT, .node = "ghost@x", .num = 5, .other = "n1@sim" },
        { .type = GC_DEAD, .node = "ghost2@x", .num = 5, .other = "n1@sim" },
        { .type = GC_LEAVE, .node = "ghost3@x" },
        { .type = GC_PING, .node = NULL },
        { .type = GC_PING, .node = "not a name" },
        { .type = GC_SUSPECT, .node = "n1@sim", .num = 0, .other = NULL },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        gc_recv(c, s->now, &m[i]);
    CHECK(gc_incarnation(c) == inc0);
    CHECK(gc_member_count(c) == 3);
    CHECK(gc_member_status(c, "ghost2@x", NULL) == GC_DEAD_ST);
    /* a peer_list cannot bring back a removed node */
    const char *l[] = { "n1@sim", "ghost2@x" };
    gc_msg pl = { .type = GC_PEER_LIST, .list = l, .nlist = 2 };
    gc_recv(c, s->now, &pl);
    CHECK(gc_member_status(c, "ghost2@x", NULL) == GC_DEAD_ST);
    /* being declared dead makes us refute with a higher incarnation */
    gc_msg d = { .type = GC_DEAD, .node = "n0@sim", .num = gc_incarnation(c), .other = "n1@sim" };
    gc_recv(c, s->now, &d);
    CHECK(gc_incarnation(c) == inc0 + 1);
    CHECK(gc_get_stats(c)->refutations == 1);
    reschedule(s, 0);
    run_until(s, s->now + 3000);
    CHECK(converged(s));
    sim_free(s);
}

/* Flooding rounds from node `from`: the BFS depth of the overlay (the view
 * graph) if every hop took one round. */
static int bfs_depth(sim *s, int from)
{
    int *dist = malloc((size_t)s->n * sizeof *dist), *queue = malloc((size_t)s->n * sizeof *queue);
    for (int i = 0; i < s->n; i++)
        dist[i] = -1;
    int head = 0, tail = 0, depth = 0;
    dist[from] = 0;
    queue[tail++] = from;
    while (head < tail) {
        int u = queue[head++];
        const char *v[GC_MAX_VIEW];
        size_t k = gc_view(s->nodes[u].c, v, GC_MAX_VIEW);
        for (size_t j = 0; j < k; j++) {
            int w = idx_of(s, v[j]);
            if (w >= 0 && s->nodes[w].up && dist[w] < 0) {
                dist[w] = dist[u] + 1;
                if (dist[w] > depth)
                    depth = dist[w];
                queue[tail++] = w;
            }
        }
    }
    int reached = tail;
    free(dist);
    free(queue);
    return reached == live_count(s) ? depth : -1;
}

/* ---- the 1,000-node run ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_scale(uint64_t seed)
{
    int n = env_int("GOSSIP_SIM_NODES", 1000);
    int nchats = env_int("GOSSIP_SIM_CHATS", 40);
    clock_t wall0 = clock();
    sim *s = sim_new(n + 1, seed, 1, 10, nchats);
    s->params = quick_params();
    /* n nodes know each other; node n joins later */
    for (int i = 0; i < n; i++)
        s->names_scratch[i] = s->nodes[i].name;
    for (int i = 0; i < n; i++) {
        boot(s, i);
        gc_start_with(s->nodes[i].c, s->now, s->names_scratch, (size_t)n);
        reschedule(s, i);
    }
    run_until(s, 5000);
    CHECK(converged(s) || !s->nodes[n].up);

    /* the overlay: connected, and flooding rounds from a few senders */
    int bfs_max = 0;
    double bfs_sum = 0;
    for (int k = 0; k < 20; k++) {
        int d = bfs_depth(s, (int)rnd_below(s, (uint64_t)n));
        CHECK(d > 0);
        bfs_sum += d;
        if (d > bfs_max)
            bfs_max = d;
    }

    /* steady state: messages per node per second */
    uint64_t sent0 = s->sent, t0 = s->now;
    new_window(s);
    run_until(s, s->now + 10000);
    double idle_rate = (double)(s->sent - sent0) / n / ((double)(s->now - t0) / 1000.0);
    int idle_dests = s->max_dests;

    /* chats: one every 100 ms from a random node */
    sent0 = s->sent;
    t0 = s->now;
    new_window(s);
    for (int k = 0; k < nchats; k++) {
        say(s, (int)rnd_below(s, (uint64_t)n));
        run_until(s, s->now + 100);
    }
    g_from = 0, g_to = s->nchats;
    CHECK(run_until_cond(s, s->now + 5000, cond_chats));
    double load_rate = (double)(s->sent - sent0) / n / ((double)(s->now - t0) / 1000.0);
    uint64_t *lat = calloc((size_t)nchats, sizeof *lat);
    int max_hop = 0;
    double hops = 0;
    for (int k = 0; k < s->nchats; k++) {
        lat[k] = s->chats[k].last - s->chats[k].sent;
        hops += s->chats[k].max_hop;
        if (s->chats[k].max_hop > max_hop)
            max_hop = s->chats[k].max_hop;
    }
    qsort(lat, (size_t)s->nchats, sizeof *lat, cmp_u64);
    uint64_t p50 = lat[s->nchats / 2], p99 = lat[(s->nchats * 99) / 100 < s->nchats ?
                                                  (s->nchats * 99) / 100 : s->nchats - 1];
    free(lat);
    CHECK(s->dup_shown == 0);

    /* failures */
    uint64_t kfirst, klast, hfirst, hlast, jall, jlearn, lall;
    track(s, 17, GC_EV_DEAD);
    kill_node(s, 17, 1);
    CHECK(run_until_cond(s, s->now + 10000, tracked_all));
    tracked_times(s, &kfirst, &klast);
    CHECK(klast <= 10000);
    track(s, 29, GC_EV_DEAD);
    kill_node(s, 29, 0);
    CHECK(run_until_cond(s, s->now + 10000, tracked_all));
    tracked_times(s, &hfirst, &hlast);
    CHECK(hlast <= 10000);

    /* slow but alive: 20 nodes stopped for 1.5 s at once are not removed */
    uint64_t susp0 = 0;
    for (int i = 0; i < n; i++)
        if (s->nodes[i].up)
            susp0 += gc_get_stats(s->nodes[i].c)->suspicions;
    for (int k = 0; k < 20; k++) {
        int i = (int)rnd_below(s, (uint64_t)n);
        if (s->nodes[i].up)
            s->nodes[i].stall_until = s->now + 1500;
    }
    run_until(s, s->now + 8000);
    CHECK(s->false_removals == 0);
    uint64_t susp1 = 0;
    for (int i = 0; i < n; i++)
        if (s->nodes[i].up)
            susp1 += gc_get_stats(s->nodes[i].c)->suspicions;

    /* a join through one random member */
    track(s, n, GC_EV_JOIN);
    uint64_t tj = s->now;
    int contact;
    do
        contact = (int)rnd_below(s, (uint64_t)n);
    while (!s->nodes[contact].up);
    start_node(s, n, contact);
    jlearn = 0;
    while (!jlearn && s->now < tj + 5000) {
        step(s);
        if (gc_member_count(s->nodes[n].c) == (size_t)live_count(s))
            jlearn = s->now - tj;
    }
    CHECK(jlearn > 0);
    CHECK(run_until_cond(s, s->now + 5000, tracked_all));
    tracked_times(s, &jall, &jall);

    /* a leave */
    track(s, 41, GC_EV_LEAVE);
    s->nodes[41].expect_removal = 1;
    gc_leave(s->nodes[41].c, s->now);
    kill_node(s, 41, 0);
    int left = run_until_cond(s, s->now + 2000, tracked_all);
    CHECK(left);
    if (!left)
        show_untracked(s);
    tracked_times(s, &lall, &lall);

    run_until(s, s->now + 3000);
    CHECK(converged(s));
    CHECK(s->false_removals == 0);
    int mv = max_view(s);
    CHECK(mv <= 2 * (int)s->params.rings);
    CHECK(idle_dests <= 2 * (int)s->params.rings + 6);

    double wall = (double)(clock() - wall0) / CLOCKS_PER_SEC;
    printf("  %d-node simulation (latency 1-10 ms per message, %u rings, period %u ms):\n", n,
           s->params.rings, s->params.period_ms);
    printf("    chat to all nodes: p50 %llu ms, p99 %llu ms over %d lines; hops on the path"
           " that arrived first: mean of the farthest %.1f, max %d\n", (unsigned long long)p50,
           (unsigned long long)p99, s->nchats, hops / s->nchats, max_hop);
    printf("    rounds to reach all (overlay BFS depth from a sender): mean %.1f, max %d\n",
           bfs_sum / 20, bfs_max);
    printf("    messages per node per second: %.1f idle, %.1f with a line every 100 ms\n",
           idle_rate, load_rate);
    printf("    view at most %d nodes; at most %d distinct destinations per node in 10 s\n", mv,
           idle_dests);
    printf("    kill -9 detected: first %llu ms, all %llu ms; hang: first %llu ms, all %llu ms\n",
           (unsigned long long)kfirst, (unsigned long long)klast, (unsigned long long)hfirst,
           (unsigned long long)hlast);
    printf("    20 nodes stopped 1.5 s at once: %llu suspicions raised and refuted, "
           "%llu false removals\n", (unsigned long long)(susp1 - susp0),
           (unsigned long long)s->false_removals);
    printf("    join: the joiner knows all in %llu ms, all know it in %llu ms; "
           "leave known to all in %llu ms\n", (unsigned long long)jlearn,
           (unsigned long long)jall, (unsigned long long)lall);
    printf("    %llu messages simulated in %.1f s of CPU\n", (unsigned long long)s->sent, wall);
    sim_free(s);
}

static int want(const char *name)
{
    const char *only = getenv("GOSSIP_SIM_ONLY");
    return !only || !*only || strstr(name, only);
}

int main(void)
{
    uint64_t seed = (uint64_t)env_int("GOSSIP_SIM_SEED", 1);
    trace_on = env_int("GOSSIP_SIM_TRACE", 0);
    if (want("codec"))
        test_codec();
    for (uint64_t k = 0; k < 5 && want("join"); k++)
        test_two_then_three(seed + k);
    for (uint64_t k = 0; k < 5 && want("first_line"); k++)
        test_first_line_after_join(seed + k);
    if (want("failures")) {
        test_failures(seed, 5);
        test_failures(seed + 1, 30);
    }
    for (uint64_t k = 0; k < 3 && want("stall"); k++)
        test_stall_and_return(seed + k);
    if (want("thousand"))
        test_thousand(seed);
    for (uint64_t k = 0; k < 3 && want("churn"); k++)
        test_churn(seed + k);
    if (want("partition"))
        test_partition(seed);
    if (want("long_partition")) {
        long_partition(seed, 75000, 75000, 0);
        long_partition(seed + 1, 25ull * 3600 * 1000, 240000, 1);
    }
    for (uint64_t k = 0; k < 3 && want("split_heal"); k++)
        test_split_heal(seed + k);
    if (want("odd"))
        test_odd_input(seed);
    for (uint64_t k = 0; k < 3 && want("owed"); k++)
        test_owed_lines(seed + k);
    for (uint64_t k = 0; k < 5 && want("late"); k++)
        test_late_start(seed + k);
    if (want("scale"))
        test_scale(seed);
    cn_atom_cleanup();
    return CHECK_DONE("gossip_sim_test");
}
