/* raft.c - the Raft core: lifecycle, events in, role changes, persistence
 * bookkeeping and applying committed entries (see raft.h, raft_int.h).
 *
 * Persistence: changes to the term, vote and log made during one event are
 * gathered and handed to io.persist once, as the event ends; any message
 * whose meaning depends on them (a vote, an append acknowledgement) is sent
 * with after_persist set, so the caller holds it until that write is durable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static void end_event(raft *r);

/* ---- small services ----------------------------------------------------- */

void raft__trace(raft *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->line, sizeof r->line, fmt, ap);
    va_end(ap);
    if (r->io.trace)
        r->io.trace(r->io.ud, r->line);
}

/* xorshift64*: the core's only randomness, seeded by the caller */
uint64_t raft__random(raft *r, uint64_t lo, uint64_t hi)
{
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    uint64_t v = x * 0x2545F4914F6CDD1DULL;
    return hi > lo ? lo + v % (hi - lo) : lo;
}

int raft__quorum(const raft *r)
{
    int size = r->cfg.cluster_size > 0 ? r->cfg.cluster_size : raft__voters(r);
    return size / 2 + 1;
}

raft_peer *raft__peer(raft *r, int id)
{
    for (size_t i = 0; i < r->npeers; i++)
        if (r->peers[i].id == id)
            return &r->peers[i];
    return NULL;
}

int raft__log_ok(const raft *r, uint64_t last_index, uint64_t last_term)
{
    uint64_t my_index = raft_log_last(&r->log);
    uint64_t my_term = raft_log_term(&r->log, my_index);
    return last_term > my_term || (last_term == my_term && last_index >= my_index);
}

/* ---- persistence -------------------------------------------------------- */

/* The persist sequence number after which the state as it is now is
 * durable (0: it already is). */
uint64_t raft__barrier(raft *r)
{
    if (r->volatile_storage)
        return 0;
    uint64_t writes = (uint64_t)(r->dirty_meta || r->dirty_from || r->truncated) +
                      (uint64_t)(r->snap_pending && r->io.snapshot);
    if (writes)
        return r->persist_seq + writes;
    return r->persisted_seq < r->persist_seq ? r->persist_seq : 0;
}

void raft__set_term(raft *r, uint64_t term, int vote)
{
    if (term != r->term || vote != r->vote) {
        r->term = term;
        r->vote = vote;
        r->dirty_meta = 1;
    }
}

void raft__truncate(raft *r, uint64_t keep)
{
    if (keep >= raft_log_last(&r->log))
        return;
    raft_log_truncate(&r->log, keep);
    raft__fail_waits_after(r, keep, "not leader");  /* those commands never committed */
    raft__conf_truncated(r, keep);
    if (!r->truncated || keep < r->truncate_keep)
        r->truncate_keep = keep;
    r->truncated = 1;
    if (r->dirty_from > keep)
        r->dirty_from = 0;          /* those unwritten entries are gone */
    if (r->durable_index > keep)
        r->durable_index = keep;
    /* a write in flight covers the old entries past keep, not the new ones
     * that will take their indexes: its completion proves only up to keep */
    for (size_t k = 0; k < r->npp; k++)
        if (r->pp[k].last_index > keep)
            r->pp[k].last_index = keep;
}

int raft__append_local(raft *r, uint64_t term, const cn_term *cmd)
{
    if (raft_log_append(&r->log, term, cmd) < 0)
        return -1;
    if (!r->dirty_from)
        r->dirty_from = raft_log_last(&r->log);
    if (r->volatile_storage)
        r->durable_index = raft_log_last(&r->log);  /* no disk: as durable as it gets */
    raft__conf_appended(r, raft_log_last(&r->log), cmd);
    return 0;
}

/* A write handed to io: when it is done, the log is durable up to last. */
static uint64_t pending_write(raft *r, uint64_t last)
{
    uint64_t seq = ++r->persist_seq;
    if (r->npp == r->cappp) {
        size_t cap = r->cappp ? r->cappp * 2 : 16;
        raft_pending_persist *v = realloc(r->pp, cap * sizeof *v);
        if (!v)
            abort();                /* cannot keep the durability promise */
        r->pp = v;
        r->cappp = cap;
    }
    r->pp[r->npp++] = (raft_pending_persist){ seq, last };
    return seq;
}

void raft__flush_snapshot(raft *r)
{
    if (!r->snap_pending)
        return;
    r->snap_pending = 0;
    if (r->volatile_storage || !r->io.snapshot)
        return;
    r->snap_seq = pending_write(r, raft_log_last(&r->log));
    r->io.snapshot(r->io.ud, r->snap_seq, r->snap_index, r->snap_term, r->snap, r->snap_compact,
                   r->snap_drop);
}

static void flush_persist(raft *r)
{
    uint64_t last = raft_log_last(&r->log);
    if (r->volatile_storage) {
        r->dirty_meta = r->truncated = 0;
        r->dirty_from = 0;
        r->durable_index = last;
        r->snap_pending = 0;
        raft__rejoin_check(r);
        return;
    }
    if (!r->dirty_meta && !r->dirty_from && !r->truncated) {
        raft__flush_snapshot(r);
        return;
    }
    uint64_t first = r->dirty_from ? r->dirty_from : last + 1;
    size_t n = r->dirty_from ? (size_t)(last - r->dirty_from + 1) : 0;
    uint64_t seq = pending_write(r, last);
    int truncated = r->truncated;
    uint64_t keep = r->truncate_keep;
    r->dirty_meta = r->truncated = 0;
    r->dirty_from = 0;
    r->io.persist(r->io.ud, seq, truncated, keep, first, raft_log_from(&r->log, first), n,
                  r->term, r->vote);
    raft__flush_snapshot(r);
}

void raft_persisted(raft *r, uint64_t now, uint64_t seq)
{
    r->now = now;
    size_t k = 0;
    while (k < r->npp && r->pp[k].seq <= seq) {
        uint64_t idx = r->pp[k].last_index;
        r->durable_index = idx < raft_log_last(&r->log) ? idx : raft_log_last(&r->log);
        k++;
    }
    memmove(r->pp, r->pp + k, (r->npp - k) * sizeof *r->pp);
    r->npp -= k;
    if (seq > r->persisted_seq)
        r->persisted_seq = seq;
    raft__rejoin_check(r);
    if (r->cfg.mode == RAFT_MODE_RAFT && r->role == RAFT_LEADER) {
        raft__advance_commit(r);
        flush_persist(r);
    } else if (r->cfg.mode == RAFT_MODE_EMULATION) {
        raft__emu_persisted(r);
        end_event(r);
    }
}

/* ---- applying ----------------------------------------------------------- */

int raft__wait(raft *r, uint64_t index, uint64_t term, const cn_term *cmd, raft_token token)
{
    return raft__wait_as(r, index, term, raft_kv_is_get(cmd), token);
}

int raft__wait_as(raft *r, uint64_t index, uint64_t term, int get, raft_token token)
{
    if (r->nwaits == r->capwaits) {
        size_t cap = r->capwaits ? r->capwaits * 2 : 64;
        raft_wait *v = realloc(r->waits, cap * sizeof *v);
        if (!v)
            return -1;
        r->waits = v;
        r->capwaits = cap;
    }
    r->waits[r->nwaits++] = (raft_wait){ index, term, token, get };
    return 0;
}

void raft__client_error(raft *r, raft_token token, const cn_term *cmd, const char *why)
{
    raft__wait_error(r, token, raft_kv_is_get(cmd), why);
}

void raft__wait_error(raft *r, raft_token token, int get, const char *why)
{
    cn_buf_reset(&r->result);
    raft_kv_put_error_as(&r->result, get, why);
    cn_term t = cn_buf_term(&r->result, 0);
    r->io.client_reply(r->io.ud, token, &t);
}

/* Answers (with why) every wait for an index past keep; their entries are
 * gone from the log.  Waits are in index order. */
void raft__fail_waits_after(raft *r, uint64_t keep, const char *why)
{
    size_t k = r->nwaits;
    while (k > 0 && r->waits[k - 1].index > keep)
        k--;
    for (size_t i = k; i < r->nwaits; i++)
        raft__wait_error(r, r->waits[i].token, r->waits[i].get, why);
    r->nwaits = k;
}

/* Applies committed entries, at most RAFT_APPLY_BATCH per event: a node
 * with a long log to apply (a restart, a follower far behind) applies it
 * over many loop turns (raft_next_deadline is now while some remain), so
 * it goes on answering heartbeats and votes meanwhile.  A snapshot being
 * encoded (a step per tick, raft_compaction.c) reads the store as it was
 * when it began (raft_kv_freeze), so applying goes on. */
void raft__apply(raft *r)
{
    size_t w = 0;
    uint64_t until = r->commit - r->applied > RAFT_APPLY_BATCH ? r->applied + RAFT_APPLY_BATCH
                                                               : r->commit;
    while (r->applied < until) {
        uint64_t idx = r->applied + 1;
        const raft_entry *e = raft_log_get(&r->log, idx);
        if (!e)
            break;
        cn_buf_reset(&r->result);
        if (raft_conf_is(&e->cmd)) {    /* in force since appended: nothing to do */
            cn_term_put_atom(&r->result, "ok");
            snprintf(r->line, sizeof r->line, "[node %d] slot %llu: CONFIGURATION", r->cfg.id,
                     (unsigned long long)idx);
        } else {
            raft_kv_apply(r->kv, &e->cmd, r->cfg.id, idx, RAFT_KV_TRACE_SLOT, &r->result,
                          r->line, sizeof r->line);
        }
        r->applied = idx;
        if (r->line[0] && r->io.trace)
            r->io.trace(r->io.ud, r->line);
        if (r->io.applied)
            r->io.applied(r->io.ud, idx, e->term, &e->cmd);
        while (w < r->nwaits && r->waits[w].index < idx)
            w++;                    /* overtaken (cannot happen in order) */
        if (w < r->nwaits && r->waits[w].index == idx) {
            if (r->waits[w].term == e->term) {
                cn_term res = cn_buf_term(&r->result, 0);
                r->io.client_reply(r->io.ud, r->waits[w].token, &res);
            } else {                /* another leader's entry won the index */
                raft__wait_error(r, r->waits[w].token, r->waits[w].get, "not leader");
            }
            w++;
        }
    }
    if (w) {
        memmove(r->waits, r->waits + w, (r->nwaits - w) * sizeof *r->waits);
        r->nwaits -= w;
    }
    raft__maybe_snapshot(r);
}



/* ---- roles -------------------------------------------------------------- */

/* A reply from a later term: this node follows, leader unknown; 1 if so
 * (the reply itself is then stale). */
int raft__newer_term(raft *r, const raft_msg *m)
{
    if (m->term <= r->term)
        return 0;
    raft__become_follower(r, m->term);
    r->leader = 0;
    return 1;
}

void raft__become_follower(raft *r, uint64_t term)
{
    if (term > r->term) {
        raft__set_term(r, term, 0);
        r->leader = 0;              /* before the timer is reset: an alive emulation
                                     * leader of the old term would keep it off */
        r->leader_verified = 0;     /* known equal to the old leader's log, not the next */
    }
    r->transfer_to = 0;             /* a transfer ends here, done or not */
    raft__change_abort(r, "not leader");    /* nothing of it was appended */
    /* waiting clients stay: their entries may still commit (raft_wait) */
    if (r->role != RAFT_FOLLOWER || r->prevoting) {
        r->role = RAFT_FOLLOWER;
        r->prevoting = 0;
    }
    if (r->cfg.mode == RAFT_MODE_RAFT)
        raft__reset_election(r);
}

void raft__become_leader(raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->prevoting = 0;
    uint64_t next = raft_log_last(&r->log) + 1;
    for (size_t i = 0; i < r->npeers; i++) {
        raft_peer *p = &r->peers[i];
        p->next = next;
        p->match = 0;
        p->inflight = 0;
        p->sent_last = 0;
        p->stale_tail = 0;
        p->last_ack = r->now;
        p->commit_sent = 0;
    }
    r->election_due = RAFT_NEVER;
    r->heartbeat_due = r->now;
    r->quorum_due = r->now + r->cfg.election_max_ms;
}

/* ---- lifecycle ---------------------------------------------------------- */

raft *raft_new(const raft_config *cfg, const raft_io *io)
{
    raft *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = *cfg;
    r->rejoining = cfg->rejoining;
    if (!r->cfg.election_min_ms)
        r->cfg.election_min_ms = 300;
    if (r->cfg.election_max_ms <= r->cfg.election_min_ms)
        r->cfg.election_max_ms = r->cfg.election_min_ms * 2;
    if (!r->cfg.heartbeat_ms)
        r->cfg.heartbeat_ms = r->cfg.election_min_ms / 4;
    if (!r->cfg.max_batch)
        r->cfg.max_batch = 512;
    if (!r->cfg.max_batch_bytes)
        r->cfg.max_batch_bytes = 4u << 20;
    if (!r->cfg.max_inflight)
        r->cfg.max_inflight = 8;
    if (!r->cfg.emu_vote_timeout_ms)
        r->cfg.emu_vote_timeout_ms = 1000;
    if (!r->cfg.emu_append_timeout_ms)
        r->cfg.emu_append_timeout_ms = 2000;
    if (!r->cfg.snapshot_bytes)
        r->cfg.snapshot_bytes = 64u << 20;
    if (!r->cfg.snapshot_trailing)
        r->cfg.snapshot_trailing = 8192;
    if (!r->cfg.snapshot_emu_keep)
        r->cfg.snapshot_emu_keep = 1000000;
    if (!r->cfg.snapshot_chunk)
        r->cfg.snapshot_chunk = 1u << 20;
    if (!r->cfg.snapshot_step)
        r->cfg.snapshot_step = 65536;
    r->io = *io;
    r->volatile_storage = io->persist == NULL;
    r->rng = cfg->seed ? cfg->seed : 0x9E3779B97F4A7C15ULL;
    r->kv = raft_kv_new();
    raft_log_init(&r->log);
    cn_buf_init(&r->result);
    cn_buf_init(&r->snap_conf);
    cn_buf_init(&r->inbound);
    r->role = RAFT_FOLLOWER;
    r->election_due = RAFT_NEVER;
    r->heartbeat_due = RAFT_NEVER;
    r->quorum_due = RAFT_NEVER;
    if (!r->kv) {
        free(r);
        return NULL;
    }
    raft__trace(r, "[node %d] Starting", cfg->id);
    return r;
}

void raft_free(raft *r)
{
    if (!r)
        return;
    raft__emu_op_free(r);
    raft__emu_deferred_free(r);
    raft_log_free(&r->log);
    raft_kv_free(r->kv);
    cn_buf_free(&r->result);
    raft_snapshot_buf_release(r->snap);
    raft_snapshot_buf_release(r->snap_spare);
    raft_snapshot_buf_release(r->building);
    cn_buf_free(&r->snap_conf);
    cn_buf_free(&r->inbound);
    for (size_t i = 0; i < r->npeers; i++)
        free(r->peers[i].node);
    free(r->peers);
    raft_conf_free(&r->boot);
    free(r->conf_entries);
    free(r->change.node);
    free(r->pp);
    free(r->waits);
    free(r);
}

int raft_restore(raft *r, uint64_t term, int vote, const raft_entry *entries, size_t n)
{
    r->term = term;
    r->vote = vote;
    for (size_t i = 0; i < n; i++)
        if (raft_log_append(&r->log, entries[i].term, &entries[i].cmd) < 0)
            return -1;
    r->durable_index = raft_log_last(&r->log);
    raft__conf_restore(r);
    return 0;
}

uint64_t raft_get_snapshot_index(const raft *r) { return r->snap_index; }
int raft_snapshots_paused(const raft *r) { return r->snap_paused; }

int raft_emu_cut_off(const raft *r)
{
    int n = 0;
    for (size_t i = 0; i < r->npeers; i++)
        n += r->peers[i].kind == RAFT_KIND_EMU && r->peers[i].cut_off;
    return n;
}

/* Every public event ends here: run what waited, persist what changed. */
static void end_event(raft *r)
{
    if (r->cfg.mode == RAFT_MODE_EMULATION)
        raft__emu_drain(r);
    flush_persist(r);
}

void raft_set_peers(raft *r, uint64_t now, const raft_member *peers, size_t n)
{
    r->now = now;
    raft__conf_bootstrap(r, peers, n);
    raft__trace(r, "[node %d] Peers configured (%zu peers)", r->cfg.id, r->boot.n);
    if (r->cfg.mode == RAFT_MODE_RAFT && r->role != RAFT_LEADER)
        raft__reset_election(r);
    end_event(r);
}

void raft_set_peer_kind(raft *r, int peer, raft_peer_kind kind)
{
    raft_peer *p = raft__peer(r, peer);
    if (p)
        p->kind = kind;
}

void raft_peer_alive(raft *r, uint64_t now, int peer, int alive)
{
    r->now = now;
    raft_peer *p = raft__peer(r, peer);
    if (!p)
        return;
    p->alive = alive;
    if (r->cfg.mode == RAFT_MODE_RAFT && !alive && r->leader == peer && r->role != RAFT_LEADER) {
        /* an emulation leader sends no heartbeats: its monitor is how we
         * learn it is gone */
        r->leader = 0;
        raft__reset_election(r);
    }
    end_event(r);
}

int raft_transfer(raft *r, uint64_t now, int target, const char **why)
{
    r->now = now;
    int rc = raft__transfer_start(r, target, why);
    end_event(r);
    return rc;
}

int raft_transfer_target(const raft *r) { return r->transfer_to; }

int raft_add_member(raft *r, uint64_t now, int id, const char *node, raft_token token,
                    const char **why)
{
    r->now = now;
    int rc = raft__change_start(r, RAFT_CHANGE_ADD, id, node, token, why);
    end_event(r);
    return rc;
}

int raft_remove_member(raft *r, uint64_t now, int id, raft_token token, const char **why)
{
    r->now = now;
    int rc = raft__change_start(r, RAFT_CHANGE_REMOVE, id, NULL, token, why);
    end_event(r);
    return rc;
}

void raft_start_election(raft *r, uint64_t now)
{
    r->now = now;
    if (raft__emu_defer(r, 0, 1, 0, NULL, NULL, 0))
        return;
    if (r->cfg.mode == RAFT_MODE_EMULATION)
        raft__emu_start_election(r);
    else
        raft__force_campaign(r);
    end_event(r);
}

void raft_recv(raft *r, uint64_t now, int from, const raft_msg *m, raft_token token)
{
    r->now = now;
    if (raft__emu_defer(r, 0, 0, from, m, NULL, token))
        return;
    if (r->cfg.mode == RAFT_MODE_EMULATION) {
        raft__emu_dispatch(r, m, token);
        end_event(r);
        return;
    }
    switch (m->type) {
    case RAFT_MSG_REQUEST_VOTE: raft__on_request_vote(r, from, m, token); break;
    case RAFT_MSG_APPEND:       raft__on_append(r, from, m, token); break;
    case RAFT_MSG_COMMIT:       raft__on_commit(r, m); break;
    case RAFT_MSG_PRE_VOTE:     raft__on_pre_vote(r, from, m, token); break;
    case RAFT_MSG_TIMEOUT_NOW:  raft__on_timeout_now(r, m); break;
    case RAFT_MSG_SNAPSHOT:     raft__on_snapshot(r, from, m, token); break;
    default:                    break;
    }
    end_event(r);
}

void raft_reply_recv(raft *r, uint64_t now, int from, const raft_msg *m, uint64_t call)
{
    r->now = now;
    if (r->cfg.mode == RAFT_MODE_EMULATION) {
        raft__emu_on_reply(r, from, m, call);
        end_event(r);
        return;
    }
    switch (m->type) {
    case RAFT_MSG_VOTE:           raft__on_vote(r, from, m); break;
    case RAFT_MSG_APPEND_REPLY:   raft__on_append_reply(r, from, m); break;
    case RAFT_MSG_PRE_VOTE_REPLY: raft__on_pre_vote_reply(r, from, m); break;
    case RAFT_MSG_SNAPSHOT_REPLY: raft__on_snapshot_reply(r, from, m); break;
    default:                      break;
    }
    end_event(r);
}

void raft_client(raft *r, uint64_t now, const cn_term *cmd, raft_token token)
{
    r->now = now;
    if (raft__emu_defer(r, 1, 0, 0, NULL, cmd, token))
        return;
    if (!raft_cmd_valid(cmd))
        raft__client_error(r, token, NULL, "malformed command");
    else if (r->cfg.mode == RAFT_MODE_EMULATION)
        raft__emu_on_client(r, cmd, token);
    else
        raft__on_client(r, cmd, token);
    end_event(r);
}

/* Entries to apply or a snapshot being encoded: work for a later turn. */
static int apply_pending(const raft *r)
{
    return r->building || (r->applied < r->commit && raft_log_get(&r->log, r->applied + 1));
}

void raft_tick(raft *r, uint64_t now)
{
    r->now = now;
    /* one step of a snapshot per tick, not per message: a loop turn reads
     * many messages and must not encode a step for each */
    if (r->building)
        raft__snapshot_step(r);
    if (apply_pending(r))
        raft__apply(r);
    if (r->cfg.mode == RAFT_MODE_EMULATION)
        raft__emu_tick(r);
    else if (r->role == RAFT_LEADER)
        raft__leader_tick(r);
    else
        raft__election_tick(r);
    end_event(r);
}

/* ---- inspection --------------------------------------------------------- */

raft_role raft_get_role(const raft *r) { return r->role; }
int raft_get_rejoining(const raft *r) { return r->rejoining; }
uint64_t raft_get_term(const raft *r) { return r->term; }
int raft_get_leader(const raft *r) { return r->leader; }
int raft_get_vote(const raft *r) { return r->vote; }
uint64_t raft_get_commit(const raft *r) { return r->commit; }
uint64_t raft_get_applied(const raft *r) { return r->applied; }
const raft_log *raft_get_log(const raft *r) { return &r->log; }
const raft_kv *raft_get_kv(const raft *r) { return r->kv; }
int raft_get_id(const raft *r) { return r->cfg.id; }
int raft_is_busy(const raft *r) { return r->op.kind != EMU_NONE; }
int raft_is_member(const raft *r) { return r->member; }
uint64_t raft_get_config_index(const raft *r) { return r->conf_index; }

int raft_peer_is_voter(const raft *r, int peer)
{
    const raft_peer *p = raft__peer((raft *)r, peer);
    return p && p->voter;
}

uint64_t raft_next_deadline(const raft *r)
{
    if (apply_pending(r))
        return r->now;              /* more to apply or encode: a later turn */
    if (r->cfg.mode == RAFT_MODE_EMULATION)
        return r->op.kind != EMU_NONE && !r->op.disk_wait ? r->op.deadline : RAFT_NEVER;
    if (r->role == RAFT_LEADER)
        return r->heartbeat_due < r->quorum_due ? r->heartbeat_due : r->quorum_due;
    return r->election_due;
}

const char *raft_role_name(raft_role role)
{
    switch (role) {
    case RAFT_LEADER:    return "leader";
    case RAFT_CANDIDATE: return "candidate";
    default:             return "follower";
    }
}
