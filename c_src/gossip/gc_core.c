/* gc_core.c - the gossip core's events: start, join, leave, the ten wire
 * messages, typed lines and ticks (see gc_core.h for the protocol).
 *
 * Membership updates follow SWIM's precedence.  For a member at incarnation
 * j: alive(i) wins if i > j; suspect(i) if i >= j over alive, i > j over
 * suspect; dead(i) if i >= j; leave applies to a live member as it is.  A
 * node told that it is suspected, dead or gone refutes with a higher
 * incarnation; an update older than what we know is answered, when it names
 * its author, with what we know, so a node behind catches up.  A removed
 * node stays as a tombstone (a departed one for tombstone_ms, a failed one
 * for reconnect_timeout_ms, pinged now and then) so that stale peer lists do
 * not bring it back; only its own higher incarnation does.
 *
 * No removal on another's word: a `dead` starts or confirms a suspicion
 * (its author counts as a suspecter), and only our own suspicion running
 * out removes a member; a tombstone is reported to a node that still lists
 * the member the same way.  A node we suspect is told so every period.  So
 * a live member that can reach us refutes before we remove it, whatever
 * the other side of a healed partition concluded; a crashed one is removed
 * everywhere at about the same time, every node having had the suspicion's
 * flood and its confirmations.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_int.h"

const char *gc_msg_type_name(gc_msg_type t)
{
    static const char *names[GC_MSG_TYPES] = {
        "chat", "peer_list", "ping", "pong", "join", "leave",
        "alive", "suspect", "dead", "ping_req", "catch_up",
    };
    return (unsigned)t < GC_MSG_TYPES ? names[t] : "?";
}

void gc_params_fill(gc_params *p)
{
#define DEF(f, v) if (!p->f) p->f = (v)
    DEF(rings, 3);
    DEF(period_ms, 500);
    DEF(ping_timeout_ms, 300);
    DEF(indirect_timeout_ms, 500);
    DEF(indirect_k, 3);
    DEF(suspect_min_ms, 1500);
    DEF(suspect_max_ms, 6000);
    DEF(confirm_k, 3);
    DEF(peer_list_ms, 2000);
    DEF(join_retry_ms, 1000);
    DEF(tombstone_ms, 60000);
    DEF(reconnect_timeout_ms, 86400000);
    DEF(reconnect_ms, 5000);
    DEF(sync_ms, 30000);
    DEF(history_lines, 10000);
    DEF(history_ms, 300000);
    DEF(late_ms, 250);
    DEF(lhm_max, 4);
    DEF(max_members, 10000);
#undef DEF
}

/* ---- small services --------------------------------------------------------- */

uint64_t gc_rand(gc_core *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t gc_rand_below(gc_core *c, uint64_t n) { return n ? gc_rand(c) % n : 0; }

void gc_logf(gc_core *c, const char *fmt, ...)
{
    if (!c->io.log)
        return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->io.log(c->io.ud, line);
}

/* Every message leaves through here.  Sends outside the view are noted so
 * the transport keeps that connection for a while. */
void gc_send(gc_core *c, gc_member *to_m, const char *to, const gc_msg *m)
{
    if (strcmp(to, c->me->name) == 0)
        return;
    if (to_m && !to_m->in_view)
        to_m->contacted = c->now ? c->now : 1;
    c->stats.sent[m->type]++;
    c->io.send(c->io.ud, to, m);
}

void gc_emit(gc_core *c, const gc_event *e)
{
    if (c->io.event)
        c->io.event(c->io.ud, e);
}

static void emit_node(gc_core *c, gc_event_type type, const gc_member *m, const char *other)
{
    gc_event e = { .type = type, .node = m->name, .other = other, .id = m->inc };
    gc_emit(c, &e);
}

void gc_set_status(gc_core *c, gc_member *m, gc_status st, uint64_t inc, uint64_t now)
{
    int was_live = gc_is_live(m);
    if (m->status == GC_ALIVE_ST && (st == GC_SUSPECT_ST || st == GC_DEAD_ST))
        m->lost = m->heard;          /* lines since may not have reached us */
    m->status = (uint8_t)st;
    m->inc = inc;
    m->since = now;
    if (m == c->me)
        return;
    int live = gc_is_live(m);
    if (st == GC_ALIVE_ST)
        gc_susp_drop(c, m);
    if (!was_live && live) {
        c->members.live++;
        gc_ring_added(c, m);
    } else if (was_live && !live) {
        c->members.live--;
        gc_susp_drop(c, m);
        gc_detect_forget(c, m);
        gc_ring_removed(c, m);
    }
}

/* The entry for a name, made if new (status unknown); NULL if invalid, ours
 * or the table is full. */
static gc_member *member(gc_core *c, const char *name, uint64_t now)
{
    if (!name || !gc_name_valid(name, strlen(name)) || strcmp(name, c->me->name) == 0)
        return NULL;
    gc_member *m = gc_table_find(&c->members, name);
    if (m)
        return m;
    m = gc_table_add(c, name, now);
    if (!m)
        gc_logf(c, "membership full (%u): %s ignored", c->p.max_members, name);
    return m;
}

/* A member we suspected or removed as failed refuted with its alive: we
 * may have been cut off from it, so if it is our neighbour we ask it for
 * the lines it showed since we last heard from it before the failure (and
 * two periods more): {catch_up, Self, Ms}, a duration, since our clocks
 * differ.  It answers from its history (gc_history.c).  Only the process
 * that lost touch asks, so a restarted node, which remembers nothing, never
 * gets lines its earlier life showed. */
static void back_from_failure(gc_core *c, gc_member *m, uint64_t now)
{
    if (!m->in_view)
        return;
    uint64_t since = m->lost > 2ull * c->p.period_ms ? m->lost - 2ull * c->p.period_ms : 0;
    if (since < c->started)
        since = c->started;              /* nothing from before we started */
    gc_msg msg = { .type = GC_CATCH_UP, .node = c->me->name, .num = now - since };
    gc_send(c, m, m->name, &msg);
}

/* Asked by the node itself, so answered whatever we think of it: it may
 * still be a tombstone here, its refutation on the way.  Until it is back
 * here our new lines go only to our live members, so we owe it the lines
 * we show from now until we take it back (admit). */
static void on_catch_up(gc_core *c, const gc_msg *msg, uint64_t now)
{
    gc_history_resend(c, msg->node, msg->num < now ? now - msg->num : 0);
    gc_member *m = gc_table_find(&c->members, msg->node);
    if (m && m != c->me && !gc_is_live(m) && !m->owed) {
        m->owed = 1;
        m->owed_since = now;
    }
}

/* A new live member (unknown or a tombstone before); what we showed since
 * it caught up while removed here, it gets now. */
static void admit(gc_core *c, gc_member *m, uint64_t inc, uint64_t now)
{
    int rejoin = m->status == GC_DEAD_ST || m->status == GC_LEFT_ST;
    gc_set_status(c, m, GC_ALIVE_ST, inc, now);
    if (m->owed) {
        m->owed = 0;
        gc_history_resend(c, m->name, m->owed_since);
    }
    gc_event e = { .type = GC_EV_JOIN, .node = m->name, .id = inc, .rejoin = rejoin,
                   .initial = !c->joined };
    gc_emit(c, &e);
}

static void flood_update(gc_core *c, gc_msg_type type, const gc_member *m, uint64_t inc,
                         const char *by, const char *skip)
{
    gc_msg msg = { .type = type, .node = m->name, .num = inc, .other = by };
    gc_flood(c, &msg, skip);
}

static void send_update(gc_core *c, gc_msg_type type, const char *to, const gc_member *m,
                        uint64_t inc, const char *by)
{
    gc_msg msg = { .type = type, .node = m->name, .num = inc, .other = by };
    gc_send(c, gc_table_find(&c->members, to), to, &msg);
}

/* ---- lifecycle ------------------------------------------------------------- */

gc_core *gc_new(const gc_config *cfg, const gc_io *io, char *err, size_t errlen)
{
    gc_params p = cfg->params;
    gc_params_fill(&p);
    if (!cfg->self || !gc_name_valid(cfg->self, strlen(cfg->self))) {
        snprintf(err, errlen, "bad node name '%s' (want alive@host)", cfg->self ? cfg->self : "");
        return NULL;
    }
    if (p.rings > GC_MAX_RINGS || p.suspect_min_ms > p.suspect_max_ms || !io || !io->send) {
        snprintf(err, errlen, "bad gossip parameters (rings 1..%d, suspect min <= max)",
                 GC_MAX_RINGS);
        return NULL;
    }
    gc_core *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->p = p;
    c->io = *io;
    c->rng = cfg->seed;
    c->id_base = cfg->id_base;
    c->me = gc_table_add(c, cfg->self, 0);
    if (!c->me) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->me->status = GC_ALIVE_ST;
    c->me->inc = cfg->incarnation ? cfg->incarnation : 1;
    return c;
}

void gc_free(gc_core *c)
{
    if (!c)
        return;
    gc_table_free(&c->members);
    gc_detect_free(c);
    gc_dedup_free(&c->dedup);
    gc_history_free(&c->history);
    for (size_t i = 0; i < c->nseeds; i++)
        free(c->seeds[i]);
    free(c->seeds);
    free(c->scratch);
    free(c);
}

static uint64_t jitter(gc_core *c, unsigned ms)
{
    return ms - ms / 10 + gc_rand_below(c, ms / 5 + 1);
}

static void start_timers(gc_core *c, uint64_t now)
{
    c->now = now;
    c->started = now;
    c->next_period = now + jitter(c, c->p.period_ms);
    c->next_peer_list = now + jitter(c, c->p.peer_list_ms);
    c->next_reconnect = now + jitter(c, c->p.reconnect_ms);
    c->next_sync = now + jitter(c, c->p.sync_ms);
    c->next_purge = now + c->p.tombstone_ms / 10;
    c->dedup.rotate_at = now + c->p.history_ms;
}

static size_t live_count(const gc_core *c) { return c->members.live + 1; }

static void joined(gc_core *c, const char *via, uint64_t now)
{
    c->joining = 0;
    c->joined = 1;
    gc_event e = { .type = GC_EV_JOINED, .node = via, .count = live_count(c) };
    gc_emit(c, &e);
    flood_update(c, GC_ALIVE, c->me, c->me->inc, NULL, NULL);
    gc_member *vm = via ? gc_table_find(&c->members, via) : NULL;
    if (via && !(vm && vm->in_view))
        send_update(c, GC_ALIVE, via, c->me, c->me->inc, NULL);
    (void)now;
}

static void send_join(gc_core *c, uint64_t now)
{
    gc_msg m = { .type = GC_JOIN, .node = c->me->name };
    gc_send(c, gc_table_find(&c->members, c->contact), c->contact, &m);
    c->join_at = now + c->p.join_retry_ms;
}

/* Remembers a contact to ask again should we ever forget it. */
static void add_seed(gc_core *c, const char *name)
{
    if (!gc_name_valid(name, strlen(name)) || strcmp(name, c->me->name) == 0)
        return;
    char **s = realloc(c->seeds, (c->nseeds + 1) * sizeof *s);
    if (!s)
        return;
    c->seeds = s;
    if ((s[c->nseeds] = strdup(name)))
        c->nseeds++;
}

void gc_start(gc_core *c, uint64_t now, const char *contact)
{
    start_timers(c, now);
    if (contact && gc_name_valid(contact, strlen(contact)) && strcmp(contact, c->me->name)) {
        add_seed(c, contact);
        c->joining = 1;
        snprintf(c->contact, sizeof c->contact, "%s", contact);
        send_join(c, now);
        return;
    }
    c->joined = 1;
    gc_event e = { .type = GC_EV_JOINED, .count = 1 };
    gc_emit(c, &e);
}

/* Nothing is flooded: the others have our name from the same file, and
 * learn our incarnation the first time it matters (a suspicion at 0 is
 * answered with it; a node that removed us before we started tells us when
 * we first ping it, and we refute). */
void gc_start_with(gc_core *c, uint64_t now, const char *const *names, size_t n)
{
    start_timers(c, now);
    for (size_t i = 0; i < n; i++) {
        add_seed(c, names[i]);
        gc_member *m = member(c, names[i], now);
        if (m && !gc_is_live(m))
            admit(c, m, 0, now);
    }
    c->joined = 1;
    gc_event e = { .type = GC_EV_JOINED, .count = live_count(c) };
    gc_emit(c, &e);
}

/* ---- refutation ------------------------------------------------------------- */

/* Someone (by, may be NULL) says we are suspect, dead or gone at incarnation
 * heard.  If that is our current life, start a newer one.  Either way flood
 * our alive: the claim is spreading, and everyone who knows us no better
 * than `heard` needs the answer (those who know better drop it at once). */
static void refute(gc_core *c, uint64_t heard, const char *by, uint64_t now)
{
    if (c->leaving)
        return;
    if (heard >= c->me->inc) {
        c->me->inc = heard + 1;
        if (c->lhm < c->p.lhm_max)
            c->lhm++;
    } else {
        c->stats.stale_updates++;
    }
    c->stats.refutations++;
    gc_event e = { .type = GC_EV_REFUTE, .node = c->me->name, .other = by, .id = c->me->inc };
    gc_emit(c, &e);
    flood_update(c, GC_ALIVE, c->me, c->me->inc, NULL, NULL);
    gc_member *bm = by ? gc_table_find(&c->members, by) : NULL;
    if (by && !(bm && bm->in_view))
        send_update(c, GC_ALIVE, by, c->me, c->me->inc, NULL);
}

/* A node we suspect or removed talks to us: tell it, at most once a
 * period, so it can refute (it may have missed the flood, as a node that
 * was not yet running or was stopped does).  A node we suspect is also
 * told every period (gc_detect_period): a suspicion flooded while it was
 * cut off from us would otherwise run out after the heal unrefuted. */
void gc_tell_status(gc_core *c, gc_member *m, uint64_t now)
{
    if (m->status == GC_ALIVE_ST || m->status == GC_UNKNOWN ||
        (m->told && now - m->told < c->p.period_ms))
        return;
    m->told = now;
    send_update(c, m->status == GC_SUSPECT_ST ? GC_SUSPECT : GC_DEAD, m->name, m, m->inc,
                c->me->name);
}

/* ---- SWIM updates -------------------------------------------------------------- */

void gc_suspect(gc_core *c, gc_member *m, uint64_t inc, const char *by, uint64_t now)
{
    gc_suspicion *s = gc_susp_find(c, m);
    if (m->status == GC_ALIVE_ST || (m->status == GC_SUSPECT_ST && (inc > m->inc || !s))) {
        gc_set_status(c, m, GC_SUSPECT_ST, inc, now);
        s = gc_susp_start(c, m, inc, now);
        if (s)
            gc_susp_confirm(c, s, by, now);
        c->stats.suspicions++;
        emit_node(c, GC_EV_SUSPECT, m, by);
        flood_update(c, GC_SUSPECT, m, inc, by, NULL);
    } else if (m->status == GC_SUSPECT_ST && inc == m->inc && s) {
        if (gc_susp_confirm(c, s, by, now) && s->nconf <= c->p.confirm_k + 1)
            flood_update(c, GC_SUSPECT, m, inc, by, NULL);
    }
}

void gc_declare_dead(gc_core *c, gc_member *m, uint64_t inc, const char *by, uint64_t now)
{
    if (!gc_is_live(m) || inc < m->inc)
        return;
    gc_set_status(c, m, GC_DEAD_ST, inc, now);
    c->stats.removals++;
    emit_node(c, GC_EV_DEAD, m, by);
    flood_update(c, GC_DEAD, m, inc, by, NULL);
    if (strcmp(by, c->me->name) == 0)
        gc_tell_status(c, m, now);      /* if it is only slow, it comes back */
}

static void on_alive(gc_core *c, const gc_msg *msg, uint64_t now)
{
    if (strcmp(msg->node, c->me->name) == 0) {
        if (msg->num > c->me->inc)
            refute(c, msg->num, NULL, now);
        return;
    }
    gc_member *m = member(c, msg->node, now);
    if (!m)
        return;
    if (m->status == GC_UNKNOWN || ((m->status == GC_DEAD_ST || m->status == GC_LEFT_ST) &&
                                    msg->num > m->inc)) {
        int failed = m->status == GC_DEAD_ST;
        admit(c, m, msg->num, now);
        if (failed)
            back_from_failure(c, m, now);
    } else if (gc_is_live(m) && msg->num > m->inc) {
        int was_suspect = m->status == GC_SUSPECT_ST;
        gc_set_status(c, m, GC_ALIVE_ST, msg->num, now);
        if (was_suspect) {
            emit_node(c, GC_EV_ALIVE, m, NULL);
            back_from_failure(c, m, now);
        }
    } else {
        if (msg->num < m->inc)
            c->stats.stale_updates++;
        return;
    }
    flood_update(c, GC_ALIVE, m, msg->num, NULL, m->name);
}

static void on_suspect(gc_core *c, const gc_msg *msg, uint64_t now)
{
    if (strcmp(msg->node, c->me->name) == 0) {
        refute(c, msg->num, msg->other, now);
        return;
    }
    gc_member *m = gc_table_find(&c->members, msg->node);
    if (!m || m->status == GC_UNKNOWN)
        return;
    if (!gc_is_live(m)) {
        /* we removed it already: the suspecter is behind */
        if (msg->num <= m->inc && m->status == GC_DEAD_ST) {
            c->stats.stale_updates++;
            send_update(c, GC_DEAD, msg->other, m, m->inc, c->me->name);
        }
        return;
    }
    if (msg->num < m->inc) {
        c->stats.stale_updates++;
        send_update(c, GC_ALIVE, msg->other, m, m->inc, NULL);
        return;
    }
    gc_suspect(c, m, msg->num, msg->other, now);
}

static void on_dead(gc_core *c, const gc_msg *msg, uint64_t now)
{
    if (strcmp(msg->node, c->me->name) == 0) {
        refute(c, msg->num, msg->other, now);
        return;
    }
    gc_member *m = member(c, msg->node, now);
    if (!m)
        return;
    if (m->status == GC_UNKNOWN) {
        gc_set_status(c, m, GC_DEAD_ST, msg->num, now);   /* a tombstone, quietly */
        return;
    }
    if (!gc_is_live(m))
        return;
    if (msg->num < m->inc) {
        c->stats.stale_updates++;
        send_update(c, GC_ALIVE, msg->other, m, m->inc, NULL);
        return;
    }
    /* Another's verdict is a suspicion (or one more confirmation of ours):
     * it may come from the far side of a healed partition, or be about an
     * earlier life of a node we know only by name.  Only our own suspicion
     * running out removes a member, and a live one that can reach us
     * refutes first. */
    gc_suspect(c, m, msg->num, msg->other, now);
}

static void on_leave(gc_core *c, const gc_msg *msg, uint64_t now)
{
    if (strcmp(msg->node, c->me->name) == 0) {
        refute(c, c->me->inc, NULL, now);
        return;
    }
    gc_member *m = gc_table_find(&c->members, msg->node);
    if (!m || !gc_is_live(m))
        return;
    gc_set_status(c, m, GC_LEFT_ST, m->inc, now);
    c->stats.removals++;
    emit_node(c, GC_EV_LEAVE, m, NULL);
    /* to it too: a leave carries no incarnation, so a late one may be about
     * an earlier life, and only the node itself can tell (and refute) */
    flood_update(c, GC_LEAVE, m, 0, NULL, NULL);
}

/* ---- the seed's messages ----------------------------------------------------- */

static void send_peer_list(gc_core *c, const char *to)
{
    size_t need = live_count(c);
    if (need > c->scratch_cap) {
        const char **s = realloc(c->scratch, need * sizeof *s);
        if (!s)
            return;
        c->scratch = s;
        c->scratch_cap = need;
    }
    size_t n = 0;
    c->scratch[n++] = c->me->name;
    for (size_t i = 0; i < c->members.cap && n < need; i++) {
        gc_member *m = c->members.slot[i];
        if (m && m != c->me && gc_is_live(m) && strcmp(m->name, to) != 0)
            c->scratch[n++] = m->name;
    }
    gc_msg msg = { .type = GC_PEER_LIST, .list = c->scratch, .nlist = n };
    gc_send(c, gc_table_find(&c->members, to), to, &msg);
}

/* A line shown: kept for resending, and, per sender, the highest id so
 * far, so that a line older than one already shown is marked late. */
static int shown(gc_core *c, const char *sender, uint64_t id, const char *text, size_t len,
                 uint64_t now)
{
    gc_member *m = gc_table_find(&c->members, sender);
    int late = 0;
    if (m && m != c->me) {
        late = id < m->last_id;
        if (!late)
            m->last_id = id;
    }
    c->stats.late += (uint64_t)late;
    gc_history_add(c, sender, id, text, len, now);
    return late;
}

static void on_chat(gc_core *c, const gc_msg *msg, uint64_t now)
{
    if (gc_dedup_seen(c, msg->node, msg->num, now)) {
        c->stats.duplicates++;
        return;
    }
    c->stats.chats_shown++;
    /* A line from a node not known here yet: it has joined (its line is
     * flooded at once, the news of its join may still be on the way), so
     * it is admitted, and its join shown, before its line. */
    gc_member *from = member(c, msg->node, now);
    if (from && from->status == GC_UNKNOWN)
        admit(c, from, 0, now);
    gc_event e = { .type = GC_EV_CHAT, .node = msg->node, .text = msg->text,
                   .text_len = msg->text_len, .id = msg->num,
                   .late = shown(c, msg->node, msg->num, msg->text, msg->text_len, now) };
    gc_emit(c, &e);
    gc_flood(c, msg, msg->node);
}

/* The sender of a peer list (it lists itself first) counts as live a node
 * we removed: tell it, at most once a period per node, as a suspicion at
 * the incarnation we removed (memberlist takes a remote death the same
 * way).  If it knows a newer life, it answers with that node's alive; if
 * not, it suspects the node, which refutes if it is alive (we may be the
 * side of a healed partition that could not reach it) and is removed in a
 * suspicion's time if not. */
static void check_tombstone(gc_core *c, gc_member *m, const char *sender, uint64_t now)
{
    if (!sender || m->status == GC_UNKNOWN || gc_is_live(m) ||
        (m->told && now - m->told < c->p.period_ms))
        return;
    m->told = now;
    send_update(c, GC_SUSPECT, sender, m, m->inc, c->me->name);
}

static void on_peer_list(gc_core *c, const gc_msg *msg, uint64_t now)
{
    const char *sender = msg->nlist ? msg->list[0] : NULL;
    if (sender && (!gc_name_valid(sender, strlen(sender)) || !strcmp(sender, c->me->name)))
        sender = NULL;
    for (size_t i = 0; i < msg->nlist; i++) {
        gc_member *m = member(c, msg->list[i], now);
        if (m && m->status == GC_UNKNOWN)
            admit(c, m, 0, now);     /* tombstones stay: only their own alive counts */
        else if (m && i > 0)
            check_tombstone(c, m, sender, now);
    }
    if (c->joining)
        joined(c, msg->nlist ? msg->list[0] : c->contact, now);
}

/* First-hand: the node itself sent this. */
static gc_member *heard_from(gc_core *c, const char *name, uint64_t now)
{
    gc_member *m = member(c, name, now);
    if (!m)
        return NULL;
    if (m->status == GC_UNKNOWN)
        admit(c, m, 0, now);
    m->heard = now;
    gc_tell_status(c, m, now);
    return m;
}

static void on_ping(gc_core *c, const gc_msg *msg, uint64_t now)
{
    gc_msg pong = { .type = GC_PONG, .node = c->me->name };
    gc_send(c, gc_table_find(&c->members, msg->node), msg->node, &pong);
    if (c->joined)
        heard_from(c, msg->node, now);
}

static void on_pong(gc_core *c, const gc_msg *msg, uint64_t now)
{
    gc_member *m = gc_table_find(&c->members, msg->node);
    if (m && m->status != GC_UNKNOWN) {
        m->heard = now;
        gc_tell_status(c, m, now);
    }
    gc_detect_pong(c, msg->node, now);
}

static void on_join(gc_core *c, const gc_msg *msg, uint64_t now)
{
    gc_member *m = member(c, msg->node, now);
    if (!m)
        return;
    if (!gc_is_live(m))
        admit(c, m, m->inc, now);
    m->heard = now;
    send_peer_list(c, m->name);
}

void gc_recv(gc_core *c, uint64_t now, const gc_msg *msg)
{
    c->now = now;
    if (c->leaving || (unsigned)msg->type >= GC_MSG_TYPES)
        return;
    c->stats.received[msg->type]++;
    int needs_other = msg->type == GC_SUSPECT || msg->type == GC_DEAD || msg->type == GC_PING_REQ;
    if (msg->type != GC_PEER_LIST &&
        (!msg->node || !gc_name_valid(msg->node, strlen(msg->node)) ||
         (needs_other && (!msg->other || !gc_name_valid(msg->other, strlen(msg->other)))))) {
        gc_logf(c, "%s with a bad node name dropped", gc_msg_type_name(msg->type));
        return;
    }
    int about_me = msg->node && strcmp(msg->node, c->me->name) == 0;
    switch (msg->type) {
    case GC_CHAT:      on_chat(c, msg, now); break;
    case GC_PEER_LIST: on_peer_list(c, msg, now); break;
    case GC_PING:
    case GC_PONG:
    case GC_JOIN:
    case GC_PING_REQ:
    case GC_CATCH_UP:
        if (about_me) {
            gc_logf(c, "%s claiming to be from us (%s) dropped", gc_msg_type_name(msg->type),
                    msg->node);
            break;
        }
        if (msg->type == GC_PING)
            on_ping(c, msg, now);
        else if (msg->type == GC_PONG)
            on_pong(c, msg, now);
        else if (msg->type == GC_JOIN)
            on_join(c, msg, now);
        else if (msg->type == GC_CATCH_UP)
            on_catch_up(c, msg, now);
        else
            gc_detect_ping_req(c, msg->node, msg->other, now);
        break;
    case GC_LEAVE:     on_leave(c, msg, now); break;
    case GC_ALIVE:     on_alive(c, msg, now); break;
    case GC_SUSPECT:   on_suspect(c, msg, now); break;
    case GC_DEAD:      on_dead(c, msg, now); break;
    default:           break;
    }
}

/* ---- local events ------------------------------------------------------------ */

uint64_t gc_say(gc_core *c, uint64_t now, const char *text, size_t len)
{
    c->now = now;
    if (c->leaving || !len || len > GC_MAX_TEXT)
        return 0;
    uint64_t id = c->id_base + ++c->seq;
    gc_dedup_seen(c, c->me->name, id, now);
    shown(c, c->me->name, id, text, len, now);
    gc_event e = { .type = GC_EV_CHAT, .node = c->me->name, .text = text, .text_len = len,
                   .id = id, .mine = 1 };
    gc_emit(c, &e);
    gc_msg msg = { .type = GC_CHAT, .node = c->me->name, .text = text, .text_len = len,
                   .num = id };
    gc_flood(c, &msg, NULL);
    return id;
}

void gc_leave(gc_core *c, uint64_t now)
{
    c->now = now;
    if (c->leaving)
        return;
    gc_msg msg = { .type = GC_LEAVE, .node = c->me->name };
    gc_flood(c, &msg, NULL);
    c->leaving = 1;
}

void gc_link_down(gc_core *c, uint64_t now, const char *node)
{
    c->now = now;
    gc_member *m = c->leaving ? NULL : gc_table_find(&c->members, node);
    if (m && m != c->me && gc_is_live(m))
        gc_detect_link_down(c, m, now);
}

/* A random member of a status (live: alive or suspect), NULL if none. */
static gc_member *random_member(gc_core *c, int live, gc_status st)
{
    gc_member *pick = NULL;
    uint64_t seen = 0;
    for (size_t i = 0; i < c->members.cap; i++) {
        gc_member *m = c->members.slot[i];
        if (m && m != c->me && (live ? gc_is_live(m) : m->status == st) &&
            gc_rand_below(c, ++seen) == 0)
            pick = m;
    }
    return pick;
}

/* Pings one node removed as failed: after a partition heals, the two sides
 * find each other this way (it tells us we were removed, or we tell it).
 * And asks one seed we no longer know at all to let us join: halves whose
 * partition outlasted every tombstone merge through their contacts. */
static void reconnect(gc_core *c, uint64_t now)
{
    gc_member *pick = random_member(c, 0, GC_DEAD_ST);
    if (pick) {
        gc_msg msg = { .type = GC_PING, .node = c->me->name };
        gc_send(c, pick, pick->name, &msg);
    }
    const char *seed = NULL;
    uint64_t seen = 0;
    for (size_t i = 0; i < c->nseeds; i++) {
        gc_member *m = gc_table_find(&c->members, c->seeds[i]);
        if ((!m || m->status == GC_UNKNOWN) && gc_rand_below(c, ++seen) == 0)
            seed = c->seeds[i];
    }
    if (seed) {
        gc_msg msg = { .type = GC_JOIN, .node = c->me->name };
        gc_send(c, NULL, seed, &msg);
    }
    (void)now;
}

/* Push/pull with a random live member, in view or not: our peer list, and
 * a join, which it answers with its own. */
static void sync_with(gc_core *c)
{
    gc_member *m = random_member(c, 1, GC_UNKNOWN);
    if (!m)
        return;
    send_peer_list(c, m->name);
    gc_msg msg = { .type = GC_JOIN, .node = c->me->name };
    gc_send(c, m, m->name, &msg);
}

static void purge(gc_core *c, uint64_t now)
{
    gc_member *victims[256];
    size_t n;
    do {
        n = 0;
        for (size_t i = 0; i < c->members.cap && n < 256; i++) {
            gc_member *m = c->members.slot[i];
            if (m && ((m->status == GC_DEAD_ST && now - m->since >= c->p.reconnect_timeout_ms) ||
                      (m->status == GC_LEFT_ST && now - m->since >= c->p.tombstone_ms)))
                victims[n++] = m;
        }
        for (size_t i = 0; i < n; i++)
            gc_table_remove(&c->members, victims[i]);
    } while (n == 256);
}

void gc_tick(gc_core *c, uint64_t now)
{
    uint64_t due = gc_next_deadline(c);
    c->now = now;
    if (c->leaving)
        return;
    int late = due != GC_NEVER && now > due + c->p.late_ms;
    if (late) {
        gc_logf(c, "our timers ran %llu ms late: stretching timeouts (local health %u)",
                (unsigned long long)(now - due), c->lhm + 1);
        if (c->lhm < c->p.lhm_max)
            c->lhm++;
    }
    if (c->joining && now >= c->join_at) {
        gc_logf(c, "no answer from %s yet: asking again", c->contact);
        send_join(c, now);
    }
    if (c->joined && now >= c->next_period) {
        c->next_period = now + jitter(c, c->p.period_ms);
        gc_detect_period(c, now);
    }
    gc_detect_tick(c, now, late);
    if (now >= c->next_peer_list) {
        c->next_peer_list = now + jitter(c, c->p.peer_list_ms);
        if (c->joined && c->nview)
            send_peer_list(c, c->view[gc_rand_below(c, c->nview)]->name);
    }
    if (now >= c->next_reconnect) {
        c->next_reconnect = now + jitter(c, c->p.reconnect_ms);
        if (c->joined)
            reconnect(c, now);
    }
    if (now >= c->next_sync) {
        c->next_sync = now + jitter(c, c->p.sync_ms);
        if (c->joined)
            sync_with(c);
    }
    if (now >= c->next_purge) {
        c->next_purge = now + c->p.tombstone_ms / 10;
        purge(c, now);
        gc_history_trim(c, now);
    }
    gc_dedup_tick(c, now);
}

uint64_t gc_next_deadline(const gc_core *c)
{
    if (c->leaving)
        return GC_NEVER;
    uint64_t d = gc_detect_deadline(c);
#define MIN(x) if ((x) < d) d = (x)
    MIN(c->next_peer_list);
    MIN(c->next_reconnect);
    MIN(c->next_sync);
    MIN(c->next_purge);
    MIN(c->dedup.rotate_at);
    if (c->joined)
        MIN(c->next_period);
    if (c->joining)
        MIN(c->join_at);
#undef MIN
    return d;
}

/* ---- inspection --------------------------------------------------------------- */

const char *gc_self(const gc_core *c) { return c->me->name; }
uint64_t    gc_incarnation(const gc_core *c) { return c->me->inc; }
int         gc_is_joined(const gc_core *c) { return c->joined; }
int         gc_is_leaving(const gc_core *c) { return c->leaving; }
size_t      gc_member_count(const gc_core *c) { return live_count(c); }
const gc_stats *gc_get_stats(const gc_core *c) { return &c->stats; }
unsigned    gc_local_health(const gc_core *c) { return c->lhm; }

size_t gc_members(const gc_core *c, const char **out, size_t max)
{
    size_t n = 0;
    if (max)
        out[n] = c->me->name;
    n++;
    for (size_t i = 0; i < c->members.cap; i++) {
        gc_member *m = c->members.slot[i];
        if (m && m != c->me && gc_is_live(m)) {
            if (n < max)
                out[n] = m->name;
            n++;
        }
    }
    return n;
}

size_t gc_view(const gc_core *c, const char **out, size_t max)
{
    for (size_t i = 0; i < c->nview && i < max; i++)
        out[i] = c->view[i]->name;
    return c->nview;
}

gc_status gc_member_status(const gc_core *c, const char *node, uint64_t *incarnation)
{
    gc_member *m = gc_table_find(&c->members, node);
    if (!m)
        return GC_UNKNOWN;
    if (incarnation)
        *incarnation = m->inc;
    return (gc_status)m->status;
}

int gc_keep_link(const gc_core *c, uint64_t now, const char *node)
{
    gc_member *m = gc_table_find(&c->members, node);
    if (!m || m == c->me || m->status == GC_UNKNOWN)
        return c->joining && strcmp(node, c->contact) == 0 ? 1 : -1;
    if (m->in_view)
        return 1;
    uint64_t grace = 3ull * c->p.period_ms;
    if ((m->heard && now - m->heard < grace) || (m->contacted && now - m->contacted < grace))
        return 1;
    return 0;
}
