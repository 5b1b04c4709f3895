/* raft_election.c - elections in raft mode: randomized timeouts, pre-vote
 * (Raft thesis 9.6) among C peers, votes from every peer.
 *
 * Emulation peers send no heartbeats and cannot answer a pre-vote: an alive
 * one counts as a pre-vote granted, and while the leader is an alive
 * emulation node (or a candidate we voted for), the election timer is off;
 * its process monitor firing turns it back on (raft_peer_alive).
 *
 * The seed designates the first leader with start_election.  In a cluster
 * with emulation peers a C node therefore never campaigns on a timeout at
 * term 0 (no election has happened anywhere: no leader, no vote asked);
 * start_election is a forced campaign (no pre-vote, a higher term, as
 * TimeoutNow), so the designated node leads even where another already does.
 *
 * A node that lost its log and restarts empty (raft_config.rejoining) must
 * not vote: the others counted its acknowledgements, so a candidate it
 * would find up to date may lack committed entries.  It neither votes nor
 * campaigns until it holds, durably, a leader's log up to that leader's
 * commit index at an entry of the leader's own term.  Every entry
 * committed before that term is below it (Leader Completeness: the leader
 * was elected by a majority without this node's vote, or before the loss),
 * and so is every one the leader counted this node's old acknowledgements
 * for (those reached it before the new connection did).
 */
#include "raft_int.h"

static int emu_leader_alive(raft *r)
{
    raft_peer *l = r->leader ? raft__peer(r, r->leader) : NULL;
    return l && l->kind == RAFT_KIND_EMU && l->alive;
}

void raft__reset_election(raft *r)
{
    if (r->role == RAFT_LEADER || !raft__may_campaign(r) || emu_leader_alive(r)) {
        r->election_due = RAFT_NEVER;
        return;
    }
    r->election_due = r->now + raft__random(r, r->cfg.election_min_ms, r->cfg.election_max_ms);
}

/* cn_only: an extension, for peers known to be C nodes; a peer not yet
 * classified may be a Gleam node, which would crash on it. */
static void send_all(raft *r, const raft_msg *m, uint64_t after, int cn_only)
{
    for (size_t i = 0; i < r->npeers; i++) {
        if (!r->peers[i].voter || (cn_only && r->peers[i].kind != RAFT_KIND_CN))
            continue;
        r->io.send(r->io.ud, r->peers[i].id, m, after, 0);
    }
}

static void start_election(raft *r)
{
    r->prevoting = 0;
    r->role = RAFT_CANDIDATE;
    r->leader = 0;
    raft__set_term(r, r->term + 1, r->cfg.id);
    r->votes = r->member;           /* our vote counts only if we are a voter */
    for (size_t i = 0; i < r->npeers; i++)
        r->peers[i].vote = 0;
    raft__trace(r, "[node %d] Starting election for term %llu", r->cfg.id,
                (unsigned long long)r->term);
    uint64_t last = raft_log_last(&r->log);
    raft_msg m = { .type = RAFT_MSG_REQUEST_VOTE, .term = r->term, .node = r->cfg.id,
                   .index = last, .index_term = raft_log_term(&r->log, last) };
    /* our vote for ourselves must be on disk before anyone can count on it */
    send_all(r, &m, raft__barrier(r), 0);
    r->election_due = r->now + raft__random(r, r->cfg.election_min_ms, r->cfg.election_max_ms);
    if (r->votes >= raft__quorum(r))
        raft__on_vote(r, 0, NULL);
}

void raft__campaign(raft *r)
{
    if (!raft__may_campaign(r) || r->role == RAFT_LEADER)
        return;
    /* Alive emulation peers count as granted, but only once a C peer has
     * granted too, or after a whole round that had enough grants with them
     * and in which no C peer answered (the C peers are down or cut off): a
     * node back from a partition that sees its emulation peers alive must
     * not start an election before hearing whether the C nodes have a
     * leader. */
    int quiet = r->prevoting && r->prevote_waiting, cn_peers = 0;
    r->prevoting = 1;
    r->prevote_waiting = 0;
    r->prevotes = r->member;
    for (size_t i = 0; i < r->npeers; i++) {
        raft_peer *p = &r->peers[i];
        p->prevote = p->voter && p->kind == RAFT_KIND_EMU && p->alive;
        r->prevotes += p->prevote;
        cn_peers += p->voter && p->kind != RAFT_KIND_EMU;
    }
    r->election_due = r->now + raft__random(r, r->cfg.election_min_ms, r->cfg.election_max_ms);
    if (r->prevotes >= raft__quorum(r)) {
        if (!cn_peers || quiet) {
            start_election(r);
            return;
        }
        r->prevote_waiting = 1;
    }
    uint64_t last = raft_log_last(&r->log);
    raft_msg m = { .type = RAFT_MSG_PRE_VOTE, .term = r->term + 1, .node = r->cfg.id,
                   .index = last, .index_term = raft_log_term(&r->log, last) };
    send_all(r, &m, 0, 1);
}

void raft__force_campaign(raft *r)
{
    if (!raft__may_campaign(r) || r->role == RAFT_LEADER)
        return;
    raft__trace(r, "[node %d] start_election: campaigning now", r->cfg.id);
    start_election(r);
}

/* Term 0 with an emulation peer: the cluster waits for start_election. */
static int awaiting_designation(const raft *r)
{
    if (r->term != 0)
        return 0;
    for (size_t i = 0; i < r->npeers; i++)
        if (r->peers[i].kind == RAFT_KIND_EMU)
            return 1;
    return 0;
}

void raft__election_tick(raft *r)
{
    if (r->now < r->election_due)
        return;
    if (!raft__may_campaign(r) || awaiting_designation(r))
        raft__reset_election(r);    /* (off while we may not campaign) */
    else
        raft__campaign(r);
}

void raft__on_request_vote(raft *r, int from, const raft_msg *m, raft_token token)
{
    int id = r->cfg.id;
    if (m->term > r->term) {
        raft__become_follower(r, m->term);
        r->leader = 0;
    }
    int log_ok = raft__log_ok(r, m->index, m->index_term);
    int granted = m->term == r->term && r->role != RAFT_LEADER &&
                  (r->vote == 0 || r->vote == m->node) && log_ok && !r->rejoining;
    if (granted) {
        raft__set_term(r, r->term, m->node);
        raft_peer *c = raft__peer(r, m->node);
        if (c && c->kind == RAFT_KIND_EMU && r->leader != m->node) {
            r->leader = m->node;    /* presumptive: it will send no heartbeat */
            r->leader_verified = 0; /* its commit_notification must not cover our log */
        }
        raft__reset_election(r);
        raft__trace(r, "[node %d] Granting vote to %d for term %llu", id, m->node,
                    (unsigned long long)m->term);
    } else if (m->term < r->term) {
        raft__trace(r, "[node %d] Denying vote to %d (stale term)", id, m->node);
    } else if (r->rejoining) {
        raft__trace(r, "[node %d] Denying vote to %d: rejoining after losing my log, not "
                    "caught up with a leader yet", id, m->node);
    } else {
        raft__trace(r, "[node %d] Denying vote to %d", id, m->node);
    }
    raft_msg reply = { .type = RAFT_MSG_VOTE, .term = r->term, .granted = granted };
    (void)from;
    r->io.reply(r->io.ud, token, &reply, raft__barrier(r));
}

void raft__on_vote(raft *r, int from, const raft_msg *m)
{
    if (m) {
        if (raft__newer_term(r, m))
            return;
        raft_peer *p = raft__peer(r, from);
        if (r->role != RAFT_CANDIDATE || m->term != r->term || !m->granted || !p || !p->voter ||
            p->vote)
            return;
        p->vote = 1;
        r->votes++;
        raft__trace(r, "[node %d] Received vote from node %d", r->cfg.id, from);
    }
    if (r->role != RAFT_CANDIDATE || r->votes < raft__quorum(r))
        return;
    raft__trace(r, "[node %d] Became LEADER for term %llu", r->cfg.id,
                (unsigned long long)r->term);
    raft__become_leader(r);
    /* a no-op of our own term lets earlier terms' entries commit (5.4.2) */
    cn_term noop = { "\x77\x04noop", 6 };
    raft__append_local(r, r->term, &noop);
    raft__send_appends(r);
}

void raft__on_pre_vote(raft *r, int from, const raft_msg *m, raft_token token)
{
    int heard = r->role == RAFT_LEADER || (r->leader && raft__peer(r, r->leader) &&
                                            raft__peer(r, r->leader)->kind == RAFT_KIND_EMU &&
                                            raft__peer(r, r->leader)->alive) ||
                (r->leader && r->now - r->last_leader_contact < r->cfg.election_min_ms);
    int granted = m->term > r->term && !heard && !r->rejoining &&
                  raft__log_ok(r, m->index, m->index_term);
    if (r->rejoining)
        raft__trace(r, "[node %d] Denying pre-vote to %d: rejoining after losing my log, not "
                    "caught up with a leader yet", r->cfg.id, m->node);
    raft_msg reply = { .type = RAFT_MSG_PRE_VOTE_REPLY, .term = r->term, .granted = granted };
    (void)from;
    r->io.reply(r->io.ud, token, &reply, 0);
}

void raft__on_pre_vote_reply(raft *r, int from, const raft_msg *m)
{
    if (raft__newer_term(r, m))
        return;
    raft_peer *p = raft__peer(r, from);
    if (p)
        r->prevote_waiting = 0;
    if (!r->prevoting || !m->granted || !p || !p->voter || p->prevote)
        return;
    p->prevote = 1;
    if (++r->prevotes >= raft__quorum(r))
        start_election(r);
}

void raft__rejoin_heard(raft *r, const raft_msg *m, uint64_t verified)
{
    if (!r->rejoining || r->rejoin_at || m->commit > verified || m->commit <= r->log.base ||
        raft_log_term(&r->log, m->commit) != m->term)
        return;
    r->rejoin_at = m->commit;
    /* a vote it gave in this term before the loss went to this leader or to
     * a candidate that lost to it: recording this leader's keeps it from
     * voting twice in the term */
    if (!r->vote)
        raft__set_term(r, r->term, m->node);
    raft__rejoin_check(r);
}

void raft__rejoin_check(raft *r)
{
    if (!r->rejoining || !r->rejoin_at || r->durable_index < r->rejoin_at)
        return;
    r->rejoining = 0;
    raft__trace(r, "[node %d] Rejoined: holding leader %d's log up to its commit index %llu, "
                "voting again", r->cfg.id, r->leader, (unsigned long long)r->rejoin_at);
    if (r->io.rejoined)
        r->io.rejoined(r->io.ud);
    raft__reset_election(r);
}
