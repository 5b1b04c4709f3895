/* raft_replication.c - log replication in raft mode.
 *
 * To C peers: pipelined appends (up to max_inflight in flight, max_batch
 * entries each), heartbeats when idle, log repair by next_index backoff with
 * the follower's hint, go-back-N when acknowledgements stop.  To emulation
 * peers: one append at a time, only when there are entries, and a
 * commit_notification when the commit index moves, as the seed's leader
 * does.  A leader commits only entries of its own term (Raft 5.4.2) and
 * steps down when it has not heard from a majority for an election timeout.
 */
#include <stdlib.h>

#include "raft_int.h"

/* How many of the n entries from next one append carries: max_batch at
 * most, and no more command bytes than max_batch_bytes (one at least), so
 * that big values never make a packet the peer refuses. */
static size_t batch_size(const raft *r, uint64_t next, size_t n)
{
    if (n > r->cfg.max_batch)
        n = r->cfg.max_batch;
    size_t bytes = 0, k = 0;
    for (; k < n; k++) {
        bytes += raft_log_get(&r->log, next + k)->cmd.len;
        if (k > 0 && bytes > r->cfg.max_batch_bytes)
            break;
    }
    return k;
}

static void send_append_range(raft *r, raft_peer *p, uint64_t next, size_t n)
{
    raft_msg m = { .type = RAFT_MSG_APPEND, .term = r->term, .node = r->cfg.id,
                   .index = next - 1, .index_term = raft_log_term(&r->log, next - 1),
                   .commit = r->commit, .entries = n ? raft_log_from(&r->log, next) : NULL,
                   .n_entries = n };
    r->io.send(r->io.ud, p->id, &m, 0, 0);
    p->last_send = r->now;
    p->inflight++;
    if (p->probing || p->repairing)
        p->probe_prev = next - 1;
}

/* An emulation peer that needs entries compacted away: said once. */
static int emu_cut_off(raft *r, raft_peer *p)
{
    if (p->match + 1 > r->log.base)
        return p->cut_off = 0;
    if (!p->cut_off)
        raft__trace(r, "[node %d] Emulation peer %d needs entries from %llu, compacted into the "
                    "snapshot at %llu: it cannot catch up (emulation peers know no snapshots)",
                    r->cfg.id, p->id, (unsigned long long)p->match + 1,
                    (unsigned long long)r->snap_index);
    return p->cut_off = 1;
}

void raft__send_append(raft *r, raft_peer *p)
{
    uint64_t last = raft_log_last(&r->log);
    if (r->role != RAFT_LEADER)
        return;                     /* stepped down on the way here */
    if (p->kind == RAFT_KIND_EMU) {
        if (!p->alive || emu_cut_off(r, p))
            return;
        /* The seed's follower checks only the entry before those it gets
         * and writes them over its log by index, keeping whatever differs
         * below: it agrees with us only as far as it acknowledged entries
         * sent from a prefix already known equal.  So always send from
         * there (from index 1 for a new leader). */
        p->next = p->match + 1;
        if (!p->inflight && p->next <= last) {
            size_t n = batch_size(r, p->next, (size_t)(last - p->next + 1));
            p->sent_last = p->next + n - 1;
            send_append_range(r, p, p->next, n);
        } else if (!p->inflight && r->commit > p->commit_sent) {
            raft_msg m = { .type = RAFT_MSG_COMMIT, .commit = r->commit };
            r->io.send(r->io.ud, p->id, &m, 0, 0);
            p->commit_sent = r->commit;
        }
        return;
    }
    if (p->next <= r->log.base) {   /* what it needs is in the snapshot only */
        raft__send_snapshot(r, p);
        return;
    }
    while (p->inflight < (p->probing || p->repairing ? 1u : r->cfg.max_inflight)) {
        size_t n = p->next <= last ? batch_size(r, p->next, (size_t)(last - p->next + 1)) : 0;
        if (n == 0 && (p->inflight > 0 || r->now - p->last_send < r->cfg.heartbeat_ms))
            break;
        send_append_range(r, p, p->next, n);
        p->next += n;
        if (n == 0)
            break;
    }
}

void raft__send_appends(raft *r)
{
    for (size_t i = 0; i < r->npeers; i++)
        raft__send_append(r, &r->peers[i]);
    raft__advance_commit(r);       /* a cluster of one commits alone */
}

void raft__leader_tick(raft *r)
{
    for (size_t i = 0; i < r->npeers; i++) {
        raft_peer *p = &r->peers[i];
        uint64_t patience = p->kind == RAFT_KIND_EMU ? r->cfg.emu_append_timeout_ms
                                                     : r->cfg.election_min_ms;
        if (p->inflight && r->now - p->last_send >= patience) {
            p->inflight = 0;            /* lost: go back to what we know */
            p->next = p->match + 1;
        }
        raft__send_append(r, p);
    }
    r->heartbeat_due = r->now + r->cfg.heartbeat_ms;
    raft__transfer_tick(r);
    raft__change_tick(r);
    if (r->now >= r->quorum_due) {
        int contact = r->member;
        for (size_t i = 0; i < r->npeers; i++) {
            raft_peer *p = &r->peers[i];
            if (!p->voter)
                continue;
            contact += p->kind == RAFT_KIND_EMU ? p->alive
                                                : r->now - p->last_ack < r->cfg.election_max_ms;
        }
        if (contact < raft__quorum(r)) {
            raft__trace(r, "[node %d] Lost contact with a majority, stepping down", r->cfg.id);
            raft__become_follower(r, r->term);
            r->leader = 0;
            return;
        }
        r->quorum_due = r->now + r->cfg.election_max_ms;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

void raft__advance_commit(raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    /* the quorum-th highest index held by voters (this node only if it is one) */
    uint64_t stack[64];
    uint64_t *m = r->npeers + 1 <= 64 ? stack : malloc((r->npeers + 1) * sizeof *m);
    if (!m)
        return;
    size_t k = 0;
    if (r->member)
        m[k++] = r->durable_index;
    for (size_t i = 0; i < r->npeers; i++)
        if (r->peers[i].voter)
            m[k++] = r->peers[i].stale_tail ? 0 : r->peers[i].match;
    qsort(m, k, sizeof *m, cmp_desc);
    int q = raft__quorum(r);
    uint64_t n = q >= 1 && (size_t)q <= k ? m[q - 1] : 0;
    if (m != stack)
        free(m);
    if (n > r->commit && raft_log_term(&r->log, n) == r->term) {
        r->commit = n;
        raft__apply(r);
        for (size_t i = 0; i < r->npeers; i++)
            if (r->peers[i].kind == RAFT_KIND_EMU)
                raft__send_append(r, &r->peers[i]);
        raft__conf_committed(r);
    }
    raft__change_progress(r);
}

/* A rejection's hint: where the follower's log may still agree. */
static uint64_t conflict_hint(raft *r, uint64_t prev)
{
    uint64_t last = raft_log_last(&r->log);
    if (prev > last)
        return last;
    uint64_t ct = raft_log_term(&r->log, prev), i = prev;
    while (i > 1 && i - 1 > r->commit && raft_log_term(&r->log, i - 1) == ct)
        i--;
    return i - 1;
}

void raft__heard_leader(raft *r, const raft_msg *m)
{
    if (m->term > r->term || r->role != RAFT_FOLLOWER)
        raft__become_follower(r, m->term);
    if (r->leader != m->node)
        r->leader_verified = 0;
    r->leader = m->node;
    r->last_leader_contact = r->now;
    r->prevote_waiting = 0;
    raft__reset_election(r);
}

void raft__on_append(raft *r, int from, const raft_msg *m, raft_token token)
{
    (void)from;
    if (m->term < r->term) {
        raft_msg rej = { .type = RAFT_MSG_APPEND_REPLY, .term = r->term, .granted = 0,
                         .match = raft_log_last(&r->log), .has_hint = 1 };
        r->io.reply(r->io.ud, token, &rej, 0);
        return;
    }
    raft__heard_leader(r, m);

    /* entries up to the log's base are committed, in a snapshot: they
     * agree with every leader's */
    uint64_t prev = m->index;
    if (prev >= r->log.base && (prev > raft_log_last(&r->log) ||
                                raft_log_term(&r->log, prev) != m->index_term)) {
        raft_msg rej = { .type = RAFT_MSG_APPEND_REPLY, .term = r->term, .granted = 0,
                         .match = conflict_hint(r, prev), .has_hint = 1,
                         .rejected = prev, .has_rejected = 1 };
        r->io.reply(r->io.ud, token, &rej, raft__barrier(r));
        return;
    }
    for (size_t k = 0; k < m->n_entries; k++) {
        uint64_t idx = prev + 1 + k;
        const raft_entry *e = &m->entries[k];
        if (idx <= r->log.base)
            continue;
        if (idx <= raft_log_last(&r->log)) {
            if (raft_log_term(&r->log, idx) == e->term)
                continue;
            if (idx <= r->commit)
                continue;           /* a committed entry never changes */
            raft__truncate(r, idx - 1);
        }
        raft__append_local(r, e->term, &e->cmd);
    }
    uint64_t verified = prev + m->n_entries;
    if (verified > r->leader_verified)
        r->leader_verified = verified;
    if (m->commit > r->commit) {
        uint64_t c = m->commit < verified ? m->commit : verified;
        if (c > r->commit) {
            r->commit = c;
            raft__apply(r);
        }
    }
    raft__rejoin_heard(r, m, verified);
    raft_msg ok = { .type = RAFT_MSG_APPEND_REPLY, .term = r->term, .granted = 1,
                    .match = verified };
    r->io.reply(r->io.ud, token, &ok, raft__barrier(r));
}

/* A rejection says the peer lacks entries at or below its match index: it
 * acknowledged them, then lost them (a wiped or lost disk, a restarted
 * emulation node, whose log lives in memory).  Hints are conservative and
 * pipelined rejections can be stale, so a C peer is first probed: one
 * append from match+1 with nothing else in flight; only if that is rejected
 * too has it lost them, and repair starts from what it says it has.  An
 * emulation peer gets one append at a time, always from match+1: a
 * rejection of it is that proof already, and its log is gone whole.
 * Returns the next index to send. */
static uint64_t lost_acknowledged(raft *r, raft_peer *p, uint64_t hint)
{
    if (p->kind == RAFT_KIND_EMU) {
        p->match = 0;
        return 1;
    }
    if (!p->probing) {
        p->probing = 1;
        return p->match + 1;
    }
    raft__trace(r, "[node %d] Node %d lost entries it had acknowledged (up to %llu, now %llu): "
                "a node that lost its disk must restart as rejoining (raft_kv "
                "--initial-cluster-state existing), or it may vote with a log it lacks",
                r->cfg.id, p->id, (unsigned long long)p->match, (unsigned long long)hint);
    p->probing = 0;
    p->match = hint;
    return hint + 1;
}

void raft__on_append_reply(raft *r, int from, const raft_msg *m)
{
    if (raft__newer_term(r, m))
        return;
    raft_peer *p = raft__peer(r, from);
    if (r->role != RAFT_LEADER || m->term != r->term || !p)
        return;
    p->last_ack = r->now;
    if (p->inflight)
        p->inflight--;
    uint64_t last = raft_log_last(&r->log);
    if (m->granted) {
        uint64_t match = m->match;
        if (p->kind == RAFT_KIND_EMU) {
            /* it reports its whole log: past what we sent lies an older
             * leader's tail it never erases, which weakens its vote; until
             * our entries cover it, its acks do not count toward commit */
            p->stale_tail = match > p->sent_last;
            if (match > p->sent_last)
                match = p->sent_last;
        }
        if (match > last)
            match = last;
        if (match > p->match)
            p->match = match;
        if (p->next < p->match + 1)
            p->next = p->match + 1;
        p->probing = p->repairing = 0;  /* taken: pipeline again */
        raft__advance_commit(r);
        raft__transfer_progress(r);
        if (!(p = raft__peer(r, from)))
            return;                 /* a configuration entry moved or dropped it */
    } else {
        /* While one append at a time repairs the log, only its own refusal
         * says something new: the others refused appends sent before
         * (pipelined, reordered, duplicated), and acting on each would
         * send a window per refusal, without end. */
        if (p->kind == RAFT_KIND_CN && m->has_rejected && (p->probing || p->repairing) &&
            m->rejected != p->probe_prev)
            return;
        uint64_t next = m->has_hint ? m->match + 1 : (p->next > 1 ? p->next - 1 : 1);
        if (p->kind == RAFT_KIND_EMU)
            next = p->next > 1 ? p->next - 1 : 1;
        if (next <= p->match) {
            next = lost_acknowledged(r, p, m->has_hint ? m->match : 0);
        } else {
            p->probing = 0;
            p->repairing = p->kind == RAFT_KIND_CN;
        }
        p->next = next;
        p->inflight = 0;
    }
    raft__send_append(r, p);
}

void raft__on_commit(raft *r, const raft_msg *m)
{
    if (r->role != RAFT_FOLLOWER)
        return;                     /* a leader counts its own; a late notice from an
                                     * emulation leader of an older term is not ours */
    uint64_t c = m->commit < r->leader_verified ? m->commit : r->leader_verified;
    if (c > r->commit) {
        r->commit = c;
        raft__apply(r);
    }
}

void raft__on_client(raft *r, const cn_term *cmd, raft_token token)
{
    if (r->role == RAFT_LEADER && r->transfer_to) {
        raft__client_error(r, token, cmd, "not leader");    /* handing over: not taken */
        return;
    }
    if (r->role == RAFT_LEADER) {
        if (raft__append_local(r, r->term, cmd) < 0) {
            raft__client_error(r, token, cmd, "out of memory");   /* not taken */
            return;
        }
        if (raft__wait(r, raft_log_last(&r->log), r->term, cmd, token) < 0)
            raft__client_error(r, token, cmd, "replication failed");  /* taken, unknown */
        raft__send_appends(r);
        return;
    }
    if (r->leader && r->leader != r->cfg.id && r->io.forward) {
        r->io.forward(r->io.ud, token, r->leader, cmd);
        return;
    }
    raft__client_error(r, token, cmd, "not leader");
}
