/* raft_compaction.c - snapshots, log compaction and InstallSnapshot (raft
 * mode; Raft thesis chapter 5).
 *
 * Taking one: once snapshot_entries entries (plus up to a quarter, drawn
 * per node so members do not all pause together) were applied since the
 * last snapshot, or the log holds snapshot_bytes of commands, and in
 * either case the log holds twice the last snapshot's bytes (so a growing
 * store is not written again and again: at most half a byte of snapshot
 * per byte logged; memory and disk stay proportional to the store), the
 * store and
 * the configuration in force as of the last applied entry S are encoded
 * (raft_snapshot.c) snapshot_step pairs per tick (raft_tick: the node's
 * next deadline is now meanwhile), so that a big store stalls nothing: the
 * store is read as it was at S while applying goes on (raft_kv_freeze),
 * and handed to io.snapshot,
 * ordered after the log writes before it; the log in memory keeps snapshot_trailing entries
 * before S for followers a little behind (a leader also what each live C
 * follower lacks, within snapshot_entries: kept_for), and the storage drops the same
 * prefix once the snapshot is durable.  A restart loads the snapshot and
 * the entries after it (raft_restore_snapshot, raft_restore).
 *
 * Sending one (leader, to C peers): a peer whose next entry was compacted
 * away gets the latest snapshot in chunks of snapshot_chunk bytes, one in
 * flight at a time; the follower acknowledges each with the bytes it
 * holds, so a lost or reordered chunk is sent again from there, and a new
 * snapshot taken meanwhile starts the transfer over.  When the last chunk
 * arrives the follower checks the whole (its CRC and shape), replaces its
 * store, keeps its log after S if its entry S has S's term (else drops
 * all of it), and acknowledges only once that is durable.
 *
 * Emulation peers know no snapshots, and a new leader sends them its log
 * from index 1 (they keep whatever differs below what they are sent), so
 * no snapshot is taken while the configuration has an emulation member
 * (raft_snapshots_paused).  One compacted before that (before a peer was
 * known to be one, or before one was added) still serves an emulation
 * peer from its match index unless the peer is more than
 * snapshot_emu_keep entries behind S: then the prefix goes and the peer is
 * cut off, which the leader traces once and counts in its status
 * (raft_emu_cut_off).
 */
#include <stdio.h>
#include <string.h>

#include "raft_int.h"
#include "raft_snapshot.h"

/* ---- the latest snapshot's buffer ------------------------------------- */

static size_t snap_len(const raft *r) { return r->snap ? r->snap->bytes.len : 0; }

/* A buffer for the next snapshot: the spare if nobody else holds it (its
 * memory already touched), else a new one.  NULL: out of memory. */
static raft_snapshot_buf *next_buf(raft *r)
{
    raft_snapshot_buf *b = r->snap_spare;
    r->snap_spare = NULL;
    if (b && b->holders == 1) {
        raft_snapshot_buf_reuse(b);
        return b;
    }
    raft_snapshot_buf_release(b);
    return raft_snapshot_buf_new();
}

/* Between snapshots, the spare's memory is touched ahead a step at a time
 * (WARM_STEP bytes per call, about a millisecond) up to the size the next
 * snapshot will have if the store grows as it did since the last one (at
 * most twice the latest; a store that keeps its size costs nothing more
 * than the spare it already has): a store that grows makes each snapshot
 * bigger, and encoding
 * into pages never touched costs several times more than into pages
 * touched before (here about 6 ms against 1 ms per MB) -- long enough, at
 * a million keys, for a leader to lose its term. */
#define WARM_STEP (256u << 10)

static void warm_spare(raft *r)
{
    size_t len0 = snap_len(r), grew = r->snap_grew < len0 ? r->snap_grew : len0;
    size_t target = len0 + grew;
    raft_snapshot_buf *b = r->snap_spare;
    if (!grew || (b && b->holders != 1))
        return;
    if (!b && !(b = r->snap_spare = raft_snapshot_buf_new()))
        return;
    raft_snapshot_buf_touch(b, target, WARM_STEP);
}

/* b, from next_buf, was not used after all. */
static void unused_buf(raft *r, raft_snapshot_buf *b)
{
    raft_snapshot_buf_release(r->snap_spare);
    r->snap_spare = b;
}

/* b is the latest snapshot now; the one before becomes the spare. */
static void set_snap(raft *r, raft_snapshot_buf *b)
{
    r->snap_grew = b->bytes.len > snap_len(r) ? b->bytes.len - snap_len(r) : 0;
    raft_snapshot_buf_release(r->snap_spare);
    r->snap_spare = r->snap;
    r->snap = b;
}

/* ---- taking one --------------------------------------------------------- */

/* Emulation members know no snapshots, and a new leader sends them its log
 * from index 1 (raft_replication.c): no compaction while the configuration
 * has one (traced once each time a snapshot is held back for it). */
static int paused_for_emulation(raft *r)
{
    int emu = 0;
    for (size_t i = 0; i < r->npeers; i++)
        emu += r->peers[i].kind == RAFT_KIND_EMU;
    if (emu && !r->snap_paused)
        raft__trace(r, "[node %d] No snapshot while the configuration has emulation members "
                    "(%d): they know none; the log is kept whole", r->cfg.id, emu);
    r->snap_paused = emu > 0;
    return r->snap_paused;
}

static int due(raft *r)
{
    uint64_t since = r->applied - r->snap_index;
    if (r->cfg.mode != RAFT_MODE_RAFT || !r->cfg.snapshot_entries || since == 0)
        return 0;
    if (r->snap_seq > r->persisted_seq)
        return 0;                   /* the last one is still being written */
    uint64_t some = r->cfg.snapshot_entries < 1024 ? r->cfg.snapshot_entries : 1024;
    if (!r->snap_due)
        r->snap_due = r->cfg.snapshot_entries +
                      raft__random(r, 0, r->cfg.snapshot_entries / 4 + 1);
    /* and only once the log holds twice the last snapshot's bytes: a store
     * that grows makes each snapshot bigger, and writing them must not cost
     * more than half a byte per byte logged */
    if (r->log.bytes < 2 * (uint64_t)snap_len(r))
        return 0;
    if (since < r->snap_due && (r->log.bytes < r->cfg.snapshot_bytes || since < some))
        return 0;
    return !paused_for_emulation(r);
}

/* The last entry the log may drop now: none that is still to be handed
 * to io.persist (the write that follows names them from the log). */
static uint64_t unwritten_cap(const raft *r, uint64_t c)
{
    return r->dirty_from && c >= r->dirty_from ? r->dirty_from - 1 : c;
}

/* Does the leader keep the log from peer p's match index for it?  An
 * emulation peer within snapshot_emu_keep entries; a C peer that answered
 * lately (within an election timeout) and is at most snapshot_entries
 * behind: one a little behind gets the entries it lacks, not the whole
 * store (under load a follower is often more than the trailing entries
 * behind); one down or far behind gets the snapshot. */
static int kept_for(const raft *r, const raft_peer *p, uint64_t s)
{
    if (p->kind == RAFT_KIND_EMU)
        return s - p->match <= r->cfg.snapshot_emu_keep;
    return p->last_ack && r->now - p->last_ack <= r->cfg.election_max_ms &&
           s - p->match <= r->cfg.snapshot_entries;
}

/* Where the log may start after a snapshot at s: trailing entries behind
 * it, what peers still lack (kept_for), and what is not written yet. */
static uint64_t compact_point(raft *r, uint64_t s)
{
    uint64_t c = s > r->cfg.snapshot_trailing ? s - r->cfg.snapshot_trailing : 0;
    if (r->role == RAFT_LEADER) {
        for (size_t i = 0; i < r->npeers; i++) {
            raft_peer *p = &r->peers[i];
            if (p->match < c && kept_for(r, p, s))
                c = p->match;
        }
    }
    c = unwritten_cap(r, c);
    return c > r->log.base ? c : r->log.base;
}

/* The snapshot encoded: it is the latest, the log is compacted behind it,
 * and io.snapshot writes it as the event ends. */
static void finish_snapshot(raft *r)
{
    uint64_t s = r->building_index, term = r->building_term;
    set_snap(r, r->building);
    r->building = NULL;
    r->snap_index = s;
    r->snap_term = term;
    r->snap_due = 0;                /* drawn again */
    uint64_t c = compact_point(r, s);
    raft__conf_compacting(r, c);
    raft_log_compact(&r->log, c);
    r->snap_pending = 1;
    r->snap_compact = c;
    r->snap_drop = 0;
    raft__trace(r, "[node %d] Snapshot at %llu (term %llu, %zu keys, %zu bytes); log kept "
                "from %llu", r->cfg.id, (unsigned long long)s, (unsigned long long)term,
                (size_t)r->enc.count, snap_len(r), (unsigned long long)c + 1);
}

/* The snapshot being encoded is dropped (out of memory, or a snapshot
 * installed replaces the store); the last one stays. */
static void stop_building(raft *r)
{
    raft_kv_thaw(r->kv);
    unused_buf(r, r->building);
    r->building = NULL;
}

void raft__snapshot_step(raft *r)
{
    if (!r->building)
        return;
    cn_buf *out = &r->building->bytes;
    if (raft_snapshot_enc_step(&r->enc, out, r->cfg.snapshot_step)) {
        finish_snapshot(r);
    } else if (cn_buf_failed(out)) {
        raft__trace(r, "[node %d] Snapshot at %llu failed: out of memory", r->cfg.id,
                    (unsigned long long)r->building_index);
        stop_building(r);           /* tried again later */
    }                               /* else more next tick */
}

void raft__maybe_snapshot(raft *r)
{
    if (r->building)
        return;                     /* raft_tick steps it */
    if (!due(r)) {
        warm_spare(r);
        return;
    }
    uint64_t s = r->applied;
    cn_term conf = { NULL, 0 };
    int has_conf = raft__conf_as_of(r, s, &conf) == 0;
    if (!(r->building = next_buf(r))) {
        raft__trace(r, "[node %d] Snapshot at %llu failed: out of memory", r->cfg.id,
                    (unsigned long long)s);
        return;
    }
    r->building_index = s;
    r->building_term = raft_log_term(&r->log, s);
    raft_snapshot_enc_begin(&r->enc, &r->building->bytes, s, r->building_term,
                            has_conf ? conf.data : NULL, conf.len, r->kv);
    raft__snapshot_step(r);
}

/* Restart: the snapshot the storage found (the entries after it follow
 * through raft_restore). */
int raft_restore_snapshot(raft *r, const char *data, size_t len, char *why, size_t whylen)
{
    raft_snapshot_info info;
    raft_kv *kv = raft_kv_new();
    raft_snapshot_buf *b = kv ? next_buf(r) : NULL;
    if (b)
        cn_buf_append(&b->bytes, data, len);
    if (!b || cn_buf_failed(&b->bytes)) {
        snprintf(why, whylen, "out of memory");
        unused_buf(r, b);
        raft_kv_free(kv);
        return -1;
    }
    if (raft_snapshot_decode(b->bytes.data, b->bytes.len, &info, kv, why, whylen) < 0) {
        unused_buf(r, b);
        raft_kv_free(kv);
        return -1;
    }
    raft_kv_free(r->kv);
    r->kv = kv;
    raft_log_reset(&r->log, info.index, info.term);
    set_snap(r, b);
    r->snap_index = info.index;
    r->snap_term = info.term;
    r->commit = r->applied = r->durable_index = info.index;
    raft__conf_snapshot(r, info.index, info.conf, info.conflen, 0);
    return 0;
}

/* ---- sending one (leader) ----------------------------------------------- */

void raft__send_snapshot(raft *r, raft_peer *p)
{
    size_t len = snap_len(r);
    if (p->inflight || !len)
        return;
    if (p->snap_index != r->snap_index) {
        p->snap_index = r->snap_index;
        p->snap_offset = 0;
    }
    if (p->snap_offset > len)
        p->snap_offset = 0;
    size_t off = (size_t)p->snap_offset, n = len - off;
    if (n > r->cfg.snapshot_chunk)
        n = r->cfg.snapshot_chunk;
    if (off == 0)
        raft__trace(r, "[node %d] Sending the snapshot at %llu (%zu bytes) to %d", r->cfg.id,
                    (unsigned long long)r->snap_index, len, p->id);
    raft_msg m = { .type = RAFT_MSG_SNAPSHOT, .term = r->term, .node = r->cfg.id,
                   .index = r->snap_index, .index_term = r->snap_term, .commit = r->commit,
                   .data = r->snap->bytes.data + off, .len = n, .offset = off,
                   .done = off + n == len };
    r->io.send(r->io.ud, p->id, &m, 0, 0);
    p->last_send = r->now;
    p->inflight = 1;
}

void raft__on_snapshot_reply(raft *r, int from, const raft_msg *m)
{
    if (raft__newer_term(r, m))
        return;
    raft_peer *p = raft__peer(r, from);
    if (r->role != RAFT_LEADER || m->term != r->term || !p || p->kind != RAFT_KIND_CN)
        return;
    p->last_ack = r->now;
    p->inflight = 0;
    if (m->granted) {
        if (m->index > p->match)
            p->match = m->index;
        p->next = p->match + 1;
        p->probing = p->repairing = 0;
        p->snap_index = 0;
        raft__advance_commit(r);
        raft__transfer_progress(r);
        if (!(p = raft__peer(r, from)))
            return;                 /* a configuration entry moved or dropped it */
    } else {
        p->snap_offset = m->index == p->snap_index ? m->match : 0;
    }
    raft__send_append(r, p);
}

/* ---- receiving one (follower) ------------------------------------------- */

static void snapshot_reply(raft *r, raft_token token, const raft_msg *m, int granted,
                           uint64_t held, uint64_t after)
{
    raft_msg rep = { .type = RAFT_MSG_SNAPSHOT_REPLY, .term = r->term, .granted = granted,
                     .index = m->index, .match = held };
    r->io.reply(r->io.ud, token, &rep, after);
}

/* The snapshot in r->inbound replaces the store and the log up to its
 * index.  0, or -1 if it is damaged (traced). */
static int install(raft *r)
{
    raft_snapshot_info info;
    char why[160];
    if (r->building)
        stop_building(r);           /* it encodes the store about to be replaced */
    raft_kv *kv = raft_kv_new();
    raft_snapshot_buf *b = kv ? next_buf(r) : NULL;
    if (!b || raft_snapshot_decode(r->inbound.data, r->inbound.len, &info, kv, why,
                                   sizeof why) < 0 ||
        info.index != r->in_index || info.term != r->in_term) {
        raft__trace(r, "[node %d] Refusing the snapshot at %llu: %s", r->cfg.id,
                    (unsigned long long)r->in_index, b ? why : "out of memory");
        if (b)
            unused_buf(r, b);
        raft_kv_free(kv);
        return -1;
    }
    uint64_t s = info.index;
    int keep = raft_log_term(&r->log, s) == info.term && s <= raft_log_last(&r->log);
    /* clients of this node's old leadership: an entry at or below s may or
     * may not be theirs (outcome unknown); one after it was cut with a log
     * that disagrees with the leader's (never committed) */
    size_t w = 0;
    while (w < r->nwaits && r->waits[w].index <= s)
        raft__wait_error(r, r->waits[w].token, r->waits[w].get, "replication failed"), w++;
    if (w)                          /* waits may be NULL (none yet) */
        memmove(r->waits, r->waits + w, (r->nwaits - w) * sizeof *r->waits);
    r->nwaits -= w;
    uint64_t c = s;
    if (keep) {
        c = unwritten_cap(r, s);
        if (c > r->log.base)
            raft_log_compact(&r->log, c);
        else
            c = r->log.base;
    } else {
        raft__fail_waits_after(r, s, "not leader");
        raft_log_reset(&r->log, s, info.term);
        r->dirty_from = 0;          /* the snapshot's write drops the log on disk */
        r->truncated = 0;
        r->durable_index = 0;       /* nothing of the new log is on disk yet */
        for (size_t k = 0; k < r->npp; k++)
            r->pp[k].last_index = 0;
    }
    raft__conf_snapshot(r, s, info.conf, info.conflen, keep);
    raft_kv_free(r->kv);
    r->kv = kv;
    if (s > r->commit)
        r->commit = s;
    r->applied = s;
    if (s > r->leader_verified)
        r->leader_verified = s;
    raft_snapshot_buf_take(b, &r->inbound);  /* the bytes received, not copied */
    set_snap(r, b);
    r->snap_index = s;
    r->snap_term = info.term;
    r->snap_pending = 1;
    r->snap_compact = c;
    r->snap_drop = !keep;
    raft__trace(r, "[node %d] Installed the snapshot at %llu (term %llu, %llu keys) from %d",
                r->cfg.id, (unsigned long long)s, (unsigned long long)info.term,
                (unsigned long long)info.count, r->leader);
    if (r->io.installed)
        r->io.installed(r->io.ud, s, info.term);
    return 0;
}

void raft__on_snapshot(raft *r, int from, const raft_msg *m, raft_token token)
{
    (void)from;
    if (m->term < r->term) {
        snapshot_reply(r, token, m, 0, 0, 0);
        return;
    }
    raft__heard_leader(r, m);
    if (m->index <= r->commit) {    /* it has all of that already */
        snapshot_reply(r, token, m, 1, 0, raft__barrier(r));
        return;
    }
    if (m->offset == 0) {
        cn_buf_reset(&r->inbound);
        r->in_index = m->index;
        r->in_term = m->index_term;
    }
    int same = m->index == r->in_index && m->index_term == r->in_term;
    if (!same || m->offset != r->inbound.len) {
        snapshot_reply(r, token, m, 0, same ? r->inbound.len : 0, 0);
        return;
    }
    cn_buf_append(&r->inbound, m->data, m->len);
    if (cn_buf_failed(&r->inbound)) {
        cn_buf_free(&r->inbound);
        cn_buf_init(&r->inbound);
        snapshot_reply(r, token, m, 0, 0, 0);
        return;
    }
    if (!m->done) {
        snapshot_reply(r, token, m, 0, r->inbound.len, 0);
        return;
    }
    if (install(r) < 0) {
        cn_buf_reset(&r->inbound);
        snapshot_reply(r, token, m, 0, 0, 0);
        return;
    }
    snapshot_reply(r, token, m, 1, 0, raft__barrier(r));
}
