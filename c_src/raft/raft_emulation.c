/* raft_emulation.c - the seed's designated-leader behaviour, trace for trace.
 *
 * The Gleam node makes its peer calls one at a time with actor.call and
 * handles nothing else meanwhile: an election asks each peer for its vote
 * (1 s timeout), a client command sends the one new entry to each peer in
 * turn (2 s timeout), then commits on a majority, applies, replies and sends
 * every peer a commit_notification.  Here each call is a state (emu_op) that
 * the reply or the deadline advances, and events that arrive meanwhile wait
 * in a queue (raft__emu_defer, at the end of this file), so the order of
 * everything matches the seed's.
 *
 * One deliberate difference: a peer that does not answer in time crashes
 * the Gleam node (actor.call panics); here it counts as a denial or a
 * rejection, with a trace line saying so.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

void raft__emu_op_free(raft *r)
{
    free((void *)r->op.entry.cmd.data);
    free(r->op.acked);
    memset(&r->op, 0, sizeof r->op);
}

static void finish_election(raft *r)
{
    int id = r->cfg.id, need = raft__quorum(r);
    uint64_t t = r->op.term;
    raft__trace(r, "[node %d] Election result: %d votes (need %d)", id, r->op.count, need);
    if (r->op.count >= need) {
        raft__trace(r, "[node %d] Became LEADER for term %llu", id, (unsigned long long)t);
        raft__set_term(r, t, id);
        raft__become_leader(r);
    } else {
        raft__trace(r, "[node %d] Election FAILED, staying follower", id);
        raft__set_term(r, t, id);
        r->role = RAFT_FOLLOWER;
    }
}

/* Every peer has answered: count, and append our own copy of the entry.
 * Returns 1 when that copy is durable (or there is no disk), else 0: the
 * result waits for raft__emu_persisted, so no client hears op_ok and no
 * peer a commit_notification for an entry the leader could still lose. */
static int tally_replicate(raft *r)
{
    emu_op *op = &r->op;
    raft__trace(r, "[node %d] Replication: %d/%d acks", r->cfg.id, op->count, raft__quorum(r));
    if (raft_log_last(&r->log) + 1 == op->index)
        raft__append_local(r, op->entry.term, &op->entry.cmd);
    return r->volatile_storage || r->durable_index >= op->index;
}

static void finish_replicate(raft *r)
{
    int id = r->cfg.id, need = raft__quorum(r);
    emu_op *op = &r->op;
    if (op->count < need) {
        raft__trace(r, "[node %d] Replication FAILED for index %llu", id,
                    (unsigned long long)op->index);
        raft__client_error(r, op->token, &op->entry.cmd, "replication failed");
        return;
    }
    cn_buf_reset(&r->result);
    raft_kv_apply(r->kv, &op->entry.cmd, id, op->index, RAFT_KV_TRACE_LEADER, &r->result,
                  r->line, sizeof r->line);
    if (r->line[0] && r->io.trace)
        r->io.trace(r->io.ud, r->line);
    cn_term res = cn_buf_term(&r->result, 0);
    r->io.client_reply(r->io.ud, op->token, &res);
    for (size_t i = 0; i < r->npeers; i++)
        if (op->acked[i] >= 0 && (uint64_t)op->acked[i] > r->peers[i].match)
            r->peers[i].match = (uint64_t)op->acked[i];
    raft_msg m = { .type = RAFT_MSG_COMMIT, .commit = op->index };
    for (size_t i = 0; i < r->npeers; i++)
        r->io.send(r->io.ud, r->peers[i].id, &m, 0, 0);
    r->commit = op->index;
    r->applied = op->index;
    if (r->io.applied)
        r->io.applied(r->io.ud, op->index, op->entry.term, &op->entry.cmd);
}

/* Makes the call to the peer at the cursor, or finishes the operation. */
static void emu_next(raft *r)
{
    emu_op *op = &r->op;
    if (op->cursor >= r->npeers) {
        if (op->kind == EMU_ELECTION) {
            finish_election(r);
        } else {
            if (!op->disk_wait && !tally_replicate(r)) {
                op->disk_wait = 1;
                return;
            }
            finish_replicate(r);
        }
        raft__emu_op_free(r);
        return;
    }
    raft_peer *p = &r->peers[op->cursor];
    op->call = ++r->next_call;
    if (op->kind == EMU_ELECTION) {
        uint64_t last = raft_log_last(&r->log);
        raft_msg m = { .type = RAFT_MSG_REQUEST_VOTE, .term = op->term, .node = r->cfg.id,
                       .index = last, .index_term = raft_log_term(&r->log, last) };
        op->deadline = r->now + r->cfg.emu_vote_timeout_ms;
        r->io.send(r->io.ud, p->id, &m, raft__barrier(r), op->call);
    } else {
        raft_msg m = { .type = RAFT_MSG_APPEND, .term = r->term, .node = r->cfg.id,
                       .index = op->index - 1,
                       .index_term = raft_log_term(&r->log, op->index - 1),
                       .commit = r->commit, .entries = &op->entry, .n_entries = 1 };
        op->deadline = r->now + r->cfg.emu_append_timeout_ms;
        r->io.send(r->io.ud, p->id, &m, 0, op->call);
    }
}

void raft__emu_start_election(raft *r)
{
    uint64_t t = r->term + 1;
    raft__trace(r, "[node %d] Starting election for term %llu", r->cfg.id, (unsigned long long)t);
    raft__emu_op_free(r);
    r->op.kind = EMU_ELECTION;
    r->op.term = t;
    r->op.count = 1;
    emu_next(r);
}

void raft__emu_on_client(raft *r, const cn_term *cmd, raft_token token)
{
    int id = r->cfg.id;
    if (r->role != RAFT_LEADER) {
        raft__trace(r, "[node %d] Not leader, rejecting client request", id);
        raft__client_error(r, token, cmd, "not leader");
        return;
    }
    raft__emu_op_free(r);
    emu_op *op = &r->op;
    op->index = raft_log_last(&r->log) + 1;
    op->entry.term = r->term;
    char *copy = malloc(cmd->len ? cmd->len : 1);
    op->acked = malloc((r->npeers ? r->npeers : 1) * sizeof *op->acked);
    if (!copy || !op->acked) {
        free(copy);
        raft__emu_op_free(r);
        raft__client_error(r, token, cmd, "out of memory");
        return;
    }
    memcpy(copy, cmd->data, cmd->len);
    op->entry.cmd = (cn_term){ copy, cmd->len };
    for (size_t i = 0; i < r->npeers; i++)
        op->acked[i] = -1;
    op->kind = EMU_REPLICATE;
    op->count = 1;
    op->token = token;
    raft__trace(r, "[node %d] Appending entry at index %llu (term %llu)", id,
                (unsigned long long)op->index, (unsigned long long)r->term);
    emu_next(r);
}

void raft__emu_on_reply(raft *r, int from, const raft_msg *m, uint64_t call)
{
    emu_op *op = &r->op;
    if (op->kind == EMU_NONE || call != op->call)
        return;                     /* a late answer to a call we gave up on */
    int id = r->cfg.id, peer = r->peers[op->cursor].id;
    (void)from;
    if (op->kind == EMU_ELECTION) {
        if (m->type == RAFT_MSG_VOTE && m->granted) {
            raft__trace(r, "[node %d] Received vote from node %d", id, peer);
            op->count++;
        }
    } else if (m->type == RAFT_MSG_APPEND_REPLY && m->granted) {
        raft__trace(r, "[node %d] AppendEntries ACK from node %d (match=%llu)", id, peer,
                    (unsigned long long)m->match);
        op->acked[op->cursor] = (int)m->match;
        op->count++;
    } else {
        raft__trace(r, "[node %d] AppendEntries NACK from node %d", id, peer);
    }
    op->cursor++;
    emu_next(r);
}

/* The disk caught up: a replication waiting for its own entry finishes. */
void raft__emu_persisted(raft *r)
{
    emu_op *op = &r->op;
    if (op->kind == EMU_REPLICATE && op->disk_wait && r->durable_index >= op->index)
        emu_next(r);
}

void raft__emu_tick(raft *r)
{
    emu_op *op = &r->op;
    if (op->kind == EMU_NONE || op->disk_wait || r->now < op->deadline)
        return;
    raft__trace(r, "[node %d] No reply from node %d within %u ms", r->cfg.id,
                r->peers[op->cursor].id,
                op->kind == EMU_ELECTION ? r->cfg.emu_vote_timeout_ms : r->cfg.emu_append_timeout_ms);
    op->cursor++;
    emu_next(r);
}

/* ---- as a follower, exactly as the seed's node ---------------------------- */

void raft__emu_on_request_vote(raft *r, const raft_msg *m, raft_token token)
{
    int id = r->cfg.id;
    raft_msg reply = { .type = RAFT_MSG_VOTE };
    if (m->term < r->term) {
        raft__trace(r, "[node %d] Denying vote to %d (stale term)", id, m->node);
        reply.term = r->term;
        r->io.reply(r->io.ud, token, &reply, 0);
        return;
    }
    if (m->term > r->term) {
        raft__set_term(r, m->term, 0);
        r->role = RAFT_FOLLOWER;
    }
    int can_vote = r->vote == 0 || r->vote == m->node;
    if (can_vote && raft__log_ok(r, m->index, m->index_term)) {
        raft__trace(r, "[node %d] Granting vote to %d for term %llu", id, m->node,
                    (unsigned long long)m->term);
        raft__set_term(r, r->term, m->node);
        reply.term = m->term;
        reply.granted = 1;
    } else {
        raft__trace(r, "[node %d] Denying vote to %d", id, m->node);
        reply.term = r->term;
    }
    r->io.reply(r->io.ud, token, &reply, raft__barrier(r));
}

/* The seed's follower writes entries by index over whatever is there. */
static void put_entries(raft *r, const raft_msg *m)
{
    for (size_t k = 0; k < m->n_entries; k++) {
        uint64_t idx = m->index + 1 + k;
        const raft_entry *e = &m->entries[k];
        uint64_t last = raft_log_last(&r->log);
        if (idx == last + 1) {
            raft__append_local(r, e->term, &e->cmd);
        } else if (idx <= last) {
            const raft_entry *old = raft_log_get(&r->log, idx);
            if (old->term == e->term && cn_term_eq(&old->cmd, &e->cmd))
                continue;
            raft_log_put(&r->log, idx, e->term, &e->cmd);
            /* storage keeps an append-only log: rewrite from here on */
            if (!r->truncated || idx - 1 < r->truncate_keep)
                r->truncate_keep = idx - 1;
            r->truncated = 1;
            if (!r->dirty_from || r->dirty_from > idx)
                r->dirty_from = idx;
            if (r->durable_index >= idx)
                r->durable_index = idx - 1;
        }
    }
}

void raft__emu_on_append(raft *r, const raft_msg *m, raft_token token)
{
    int id = r->cfg.id;
    raft_msg reply = { .type = RAFT_MSG_APPEND_REPLY };
    if (m->term < r->term) {
        raft__trace(r, "[node %d] Rejecting AppendEntries from node %d (stale term)", id, m->node);
        reply.term = r->term;
        r->io.reply(r->io.ud, token, &reply, 0);
        return;
    }
    raft__set_term(r, m->term, m->term > r->term ? 0 : r->vote);
    r->role = RAFT_FOLLOWER;
    r->leader = m->node;
    int prev_ok = m->index == 0 || raft_log_term(&r->log, m->index) == m->index_term;
    if (!prev_ok) {
        raft__trace(r, "[node %d] AppendEntries log mismatch at index %llu", id,
                    (unsigned long long)m->index);
        reply.term = r->term;
        r->io.reply(r->io.ud, token, &reply, raft__barrier(r));
        return;
    }
    put_entries(r, m);
    uint64_t commit = r->commit;
    if (m->commit > r->commit) {
        uint64_t last_new = m->n_entries ? m->index + m->n_entries : r->commit;
        commit = m->commit < last_new ? m->commit : last_new;
        if (commit < r->commit)
            commit = r->commit;     /* the seed's min() can lower it: never */
    }
    uint64_t match = raft_log_last(&r->log);
    raft__trace(r, "[node %d] AppendEntries OK from leader %d, match_index=%llu", id, m->node,
                (unsigned long long)match);
    reply.term = r->term;
    reply.granted = 1;
    reply.match = match;
    r->io.reply(r->io.ud, token, &reply, raft__barrier(r));
    r->commit = commit;
    raft__apply(r);
}

void raft__emu_on_commit(raft *r, const raft_msg *m)
{
    if (m->commit > r->commit)
        r->commit = m->commit;
    raft__trace(r, "[node %d] CommitNotification: commit_index updated to %llu", r->cfg.id,
                (unsigned long long)r->commit);
    raft__apply(r);
}

/* ---- events wait while a call is under way -------------------------------- */

static void deferred_free(raft_deferred *d)
{
    for (size_t i = 0; d->entries && i < d->m.n_entries; i++)
        free((void *)d->entries[i].cmd.data);
    free(d->entries);
    cn_buf_free(&d->cmd);
    free(d);
}

/* raft.c hands every public event here first: 1 if it was queued (a call
 * is under way; raft__emu_drain runs it later, in order). */
int raft__emu_defer(raft *r, int client, int start, int from, const raft_msg *m,
                    const cn_term *cmd, raft_token token)
{
    if (r->cfg.mode != RAFT_MODE_EMULATION || r->op.kind == EMU_NONE)
        return 0;
    raft_deferred *d = calloc(1, sizeof *d);
    if (!d)
        return 1;                   /* dropped: as a crashed mailbox would */
    d->client = client;
    d->start_election = start;
    d->from = from;
    d->token = token;
    if (m) {
        d->m = *m;
        d->entries = calloc(m->n_entries ? m->n_entries : 1, sizeof *d->entries);
        for (size_t i = 0; d->entries && i < m->n_entries; i++) {
            char *c = malloc(m->entries[i].cmd.len ? m->entries[i].cmd.len : 1);
            if (c)
                memcpy(c, m->entries[i].cmd.data, m->entries[i].cmd.len);
            d->entries[i].term = m->entries[i].term;
            d->entries[i].cmd = (cn_term){ c, c ? m->entries[i].cmd.len : 0 };
        }
        d->m.entries = d->entries;
    }
    if (cmd)
        cn_term_put_term(&d->cmd, cmd);
    if (r->deferred_tail)
        r->deferred_tail->next = d;
    else
        r->deferred = d;
    r->deferred_tail = d;
    return 1;
}

void raft__emu_dispatch(raft *r, const raft_msg *m, raft_token token)
{
    switch (m->type) {
    case RAFT_MSG_REQUEST_VOTE: raft__emu_on_request_vote(r, m, token); break;
    case RAFT_MSG_APPEND:       raft__emu_on_append(r, m, token); break;
    case RAFT_MSG_COMMIT:       raft__emu_on_commit(r, m); break;
    default:                    break;
    }
}

void raft__emu_drain(raft *r)
{
    while (r->deferred && r->op.kind == EMU_NONE) {
        raft_deferred *d = r->deferred;
        r->deferred = d->next;
        if (!r->deferred)
            r->deferred_tail = NULL;
        if (d->start_election) {
            raft__emu_start_election(r);
        } else if (d->client) {
            cn_term cmd = cn_buf_term(&d->cmd, 0);
            raft__emu_on_client(r, &cmd, d->token);
        } else {
            raft__emu_dispatch(r, &d->m, d->token);
        }
        deferred_free(d);
    }
}

void raft__emu_deferred_free(raft *r)
{
    while (r->deferred) {
        raft_deferred *d = r->deferred;
        r->deferred = d->next;
        deferred_free(d);
    }
    r->deferred_tail = NULL;
}
