/* raft_transfer.c - leadership transfer (Raft thesis 3.10), raft mode.
 *
 * The leader stops taking client commands (they are answered "not leader":
 * not taken), brings the target's log up to its own, then tells it to
 * campaign at once (TimeoutNow).  The target's campaign skips pre-vote at a
 * higher term, wins on the log it was just given, and this leader steps
 * down on its request_vote.  A transfer not done within an election
 * timeout is abandoned and the leader takes commands again.  Only C peers
 * can be targets: emulation nodes know no TimeoutNow.
 */
#include "raft_int.h"

/* The C peer most up to date among those heard from lately. */
static raft_peer *best_target(raft *r)
{
    raft_peer *best = NULL;
    for (size_t i = 0; i < r->npeers; i++) {
        raft_peer *p = &r->peers[i];
        if (p->kind != RAFT_KIND_CN || !p->voter || r->now - p->last_ack >= r->cfg.election_max_ms)
            continue;
        if (!best || p->match > best->match)
            best = p;
    }
    return best;
}

/* Tells the target to campaign once it has all our log. */
void raft__transfer_progress(raft *r)
{
    if (!r->transfer_to || r->transfer_sent || r->role != RAFT_LEADER)
        return;
    raft_peer *p = raft__peer(r, r->transfer_to);
    if (!p || p->match < raft_log_last(&r->log))
        return;
    raft_msg m = { .type = RAFT_MSG_TIMEOUT_NOW, .term = r->term, .node = r->cfg.id };
    r->io.send(r->io.ud, p->id, &m, 0, 0);
    r->transfer_sent = 1;
    raft__trace(r, "[node %d] Transferring leadership to node %d", r->cfg.id, p->id);
}

int raft__transfer_start(raft *r, int target, const char **why)
{
    raft_peer *p = NULL;
    if (r->cfg.mode != RAFT_MODE_RAFT)
        *why = "leadership transfer needs --mode raft";
    else if (r->role != RAFT_LEADER)
        *why = "not leader";
    else if (r->transfer_to)
        *why = "a transfer is already under way";
    else if (target == r->cfg.id)
        *why = "that node leads already";
    else if (!(p = target ? raft__peer(r, target) : best_target(r)))
        *why = target ? "no such member" : "no C member answering to take over";
    else if (!p->voter)
        *why = "the target is not a voting member yet";
    else if (p->kind != RAFT_KIND_CN)
        *why = "the target is not a C node (emulation nodes cannot take over on request)";
    else
        *why = NULL;
    if (*why)
        return -1;
    r->transfer_to = p->id;
    r->transfer_sent = 0;
    r->transfer_due = r->now + r->cfg.election_max_ms;
    raft__send_appends(r);
    raft__transfer_progress(r);
    return 0;
}

void raft__transfer_tick(raft *r)
{
    if (r->transfer_to && r->now >= r->transfer_due) {
        raft__trace(r, "[node %d] Transfer to node %d abandoned: not done in time", r->cfg.id,
                    r->transfer_to);
        r->transfer_to = 0;
    }
}

void raft__on_timeout_now(raft *r, const raft_msg *m)
{
    if (m->term != r->term || r->role != RAFT_FOLLOWER)
        return;                     /* from another term: stale */
    raft__trace(r, "[node %d] Leader %d hands over: campaigning now", r->cfg.id, m->node);
    raft__force_campaign(r);
}
