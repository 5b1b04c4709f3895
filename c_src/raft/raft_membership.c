/* raft_membership.c - the configuration and its changes (Raft thesis 4.1-4.2).
 *
 * A configuration is the set of voting members.  It starts as the bootstrap
 * set (set_peers or the peers file: the other nodes, this one implied) and
 * then changes only through configuration entries in the log,
 * {cn_config, [{Id, Node}]}: every voting member, this node included when it
 * is one.  A node uses the latest configuration in its log, committed or
 * not, from the moment it is appended; a truncation that removes it brings
 * back the one before (or the bootstrap set), and a restart finds it again
 * in the log, so no set_peers is needed after one.
 *
 * Changes (raft mode, at the leader, every member a C node): one server
 * added or removed at a time, and only once the previous configuration
 * entry and an entry of the leader's own term (its no-op) have committed.
 * An added server first catches up as a non-voter, in rounds as in the
 * thesis (4.2.1): a round replicates up to the leader's last index when it
 * began; a round done within an election timeout means caught up, and only
 * then the entry that makes it a voter is appended.  The caller hears once
 * that entry has committed (ok), or why the change failed.  A leader that
 * removed itself leads until the entry commits, not counting itself, then
 * tells the most up-to-date member to campaign and steps down.  A node that
 * is not a voter of its latest configuration campaigns only while that
 * configuration is uncommitted and it was a voter of the one before (it
 * may still be needed to commit it, thesis 4.2.2); its own vote does not
 * count then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#define CATCHUP_ROUNDS 10            /* thesis 4.2.1 */
#define CATCHUP_SILENCE_ELECTIONS 20 /* a learner silent this many election timeouts: gone */

/* ---- the configuration in force ----------------------------------------- */

/* The configuration entry at idx: in the log, or the one a snapshot kept
 * (r->snap_conf: the last configuration entry it covers). */
static int conf_at(const raft *r, uint64_t idx, raft_conf *c)
{
    const raft_entry *e = raft_log_get(&r->log, idx);
    if (e)
        return raft_conf_decode(&e->cmd, c);
    if (idx && idx == r->snap_conf_index) {
        cn_term t = cn_buf_term(&r->snap_conf, 0);
        return raft_conf_decode(&t, c);
    }
    return -1;
}

/* The latest configuration: the last configuration entry in the log, or
 * the bootstrap set with this node added.  Returns -1 if there is none
 * (or no memory). */
static int current(const raft *r, raft_conf *c)
{
    if (r->nconf)
        return conf_at(r, r->conf_entries[r->nconf - 1], c);
    c->n = 0;
    c->m = NULL;
    if (!r->booted)
        return -1;
    c->m = calloc(r->boot.n + 1, sizeof *c->m);
    if (!c->m)
        return -1;
    c->m[c->n].id = r->cfg.id;
    c->m[c->n++].node = strdup(r->cfg.name ? r->cfg.name : "");
    for (size_t i = 0; i < r->boot.n; i++) {
        c->m[c->n].id = r->boot.m[i].id;
        c->m[c->n++].node = strdup(r->boot.m[i].node ? r->boot.m[i].node : "");
    }
    for (size_t i = 0; i < c->n; i++)
        if (!c->m[i].node) {
            raft_conf_free(c);
            return -1;
        }
    return 0;
}

static int adding(const raft *r) { return r->change.kind == RAFT_CHANGE_ADD; }

/* Is this node a voter of the configuration before the latest one? */
static int previous_has_self(const raft *r)
{
    if (r->nconf == 0)
        return 0;                   /* the bootstrap set is the first */
    if (r->nconf == 1)
        return r->booted;           /* the bootstrap set: we are in it if given one */
    raft_conf c;
    if (conf_at(r, r->conf_entries[r->nconf - 2], &c) < 0)
        return 0;
    int in = raft_conf_find(&c, r->cfg.id) != NULL;
    raft_conf_free(&c);
    return in;
}

int raft__may_campaign(const raft *r)
{
    return !r->rejoining && (r->member || (r->was_member && r->conf_index > r->commit));
}

/* Makes r->peers the members of the latest configuration other than this
 * node (voters), plus the server catching up (a non-voter), keeping what
 * the leader knows of those that stay; tells io.members. */
void raft__conf_apply(raft *r)
{
    raft_conf c;
    if (current(r, &c) < 0) {
        if (r->nconf || r->booted)
            abort();                /* the configuration in force cannot be lost */
        c.m = NULL;                 /* none (any more): a node waiting to be added */
        c.n = 0;
    }
    int learner = adding(r) && !raft_conf_find(&c, r->change.id);
    r->was_member = previous_has_self(r);
    size_t n = c.n + (size_t)learner;
    raft_peer *v = calloc(n ? n : 1, sizeof *v);
    raft_member *out = calloc(n ? n : 1, sizeof *out);
    if (!v || !out)
        abort();
    size_t k = 0;
    r->member = 0;
    for (size_t i = 0; i <= c.n; i++) {
        int id = i < c.n ? c.m[i].id : r->change.id;
        const char *node = i < c.n ? c.m[i].node : r->change.node;
        if (i == c.n && !learner)
            break;
        if (id == r->cfg.id) {
            r->member = 1;
            continue;
        }
        raft_peer *old = raft__peer(r, id);
        if (old) {
            v[k] = *old;
            old->node = NULL;       /* moved */
        } else {
            v[k].id = id;
            v[k].alive = 1;
            v[k].next = raft_log_last(&r->log) + 1;
            v[k].last_ack = r->now;
        }
        if (node[0] && (!v[k].node || strcmp(v[k].node, node) != 0)) {
            free(v[k].node);
            v[k].node = strdup(node);
        }
        v[k].voter = i < c.n;
        out[k].id = id;
        out[k].node = v[k].node;
        k++;
    }
    for (size_t i = 0; i < r->npeers; i++)
        free(r->peers[i].node);
    free(r->peers);
    r->peers = v;
    r->npeers = k;
    r->configured = r->nconf || r->booted;
    r->conf_index = r->nconf ? r->conf_entries[r->nconf - 1] : 0;
    if (r->cfg.mode == RAFT_MODE_RAFT && r->role != RAFT_LEADER)
        raft__reset_election(r);    /* on if we may campaign now, off if not */
    if (r->io.members)
        r->io.members(r->io.ud, out, k);
    free(out);
    raft_conf_free(&c);
}

static void conf_push(raft *r, uint64_t idx);

/* The log gained entry idx (cmd): a configuration entry is in force now. */
void raft__conf_appended(raft *r, uint64_t idx, const cn_term *cmd)
{
    if (!raft_conf_is(cmd))
        return;
    conf_push(r, idx);
    raft__conf_apply(r);
}

static void conf_push(raft *r, uint64_t idx)
{
    if (r->nconf == r->capconf) {
        size_t cap = r->capconf ? r->capconf * 2 : 8;
        uint64_t *v = realloc(r->conf_entries, cap * sizeof *v);
        if (!v)
            abort();                /* the configuration in force cannot be lost */
        r->conf_entries = v;
        r->capconf = cap;
    }
    r->conf_entries[r->nconf++] = idx;
}

/* Restart: the configuration entries of the restored log. */
void raft__conf_restore(raft *r)
{
    for (uint64_t i = r->log.base + 1; i <= raft_log_last(&r->log); i++) {
        const raft_entry *e = raft_log_get(&r->log, i);
        if (!raft_conf_is(&e->cmd))
            continue;
        conf_push(r, i);
    }
    if (r->nconf)
        raft__conf_apply(r);
}

/* The log was cut after keep: configurations past it are gone. */
void raft__conf_truncated(raft *r, uint64_t keep)
{
    size_t n = r->nconf;
    while (r->nconf && r->conf_entries[r->nconf - 1] > keep)
        r->nconf--;
    if (r->nconf != n)
        raft__conf_apply(r);
}

/* The log is about to be compacted up to upto: the last configuration
 * entry it drops is kept aside (r->snap_conf), the others are forgotten
 * (committed: no truncation can bring them back). */
void raft__conf_compacting(raft *r, uint64_t upto)
{
    size_t k = 0;
    while (k < r->nconf && r->conf_entries[k] <= upto)
        k++;
    if (k == 0)
        return;
    uint64_t last = r->conf_entries[k - 1];
    const raft_entry *e = raft_log_get(&r->log, last);
    if (e) {
        cn_buf_reset(&r->snap_conf);
        cn_buf_append(&r->snap_conf, e->cmd.data, e->cmd.len);
        r->snap_conf_index = last;
    }
    memmove(r->conf_entries, r->conf_entries + k - 1, (r->nconf - k + 1) * sizeof *r->conf_entries);
    r->nconf -= k - 1;
}

/* The configuration as of a snapshot at index (conf: its entry, NULL for
 * the bootstrap set) replaces every configuration up to index; with keep,
 * those of the log after it stay. */
void raft__conf_snapshot(raft *r, uint64_t index, const char *conf, size_t conflen, int keep)
{
    size_t k = 0;
    while (k < r->nconf && r->conf_entries[k] <= index)
        k++;
    size_t rest = keep ? r->nconf - k : 0;
    if (rest)                       /* conf_entries may be NULL (none yet) */
        memmove(r->conf_entries, r->conf_entries + k, rest * sizeof *r->conf_entries);
    r->nconf = rest;
    cn_buf_reset(&r->snap_conf);
    r->snap_conf_index = 0;
    if (conf) {
        cn_buf_append(&r->snap_conf, conf, conflen);
        r->snap_conf_index = index;
        conf_push(r, index);
        if (rest)
            memmove(r->conf_entries + 1, r->conf_entries, rest * sizeof *r->conf_entries);
        r->conf_entries[0] = index;
    }
    raft__conf_apply(r);
}

/* The configuration entry in force at index (for a snapshot there):
 * 0 and its command, or -1 if it is the bootstrap set. */
int raft__conf_as_of(const raft *r, uint64_t index, cn_term *cmd)
{
    size_t k = r->nconf;
    while (k > 0 && r->conf_entries[k - 1] > index)
        k--;
    if (k == 0)
        return -1;
    uint64_t idx = r->conf_entries[k - 1];
    const raft_entry *e = raft_log_get(&r->log, idx);
    if (e) {
        *cmd = e->cmd;
        return 0;
    }
    if (idx != r->snap_conf_index)
        return -1;
    *cmd = cn_buf_term(&r->snap_conf, 0);
    return 0;
}

void raft__conf_bootstrap(raft *r, const raft_member *peers, size_t n)
{
    raft_conf b = { calloc(n ? n : 1, sizeof(raft_conf_member)), 0 };
    if (!b.m)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (peers[i].id == r->cfg.id || raft_conf_find(&b, peers[i].id))
            continue;
        b.m[b.n].id = peers[i].id;
        b.m[b.n].node = peers[i].node ? strdup(peers[i].node) : NULL;
        b.n++;
    }
    raft_conf_free(&r->boot);
    r->boot = b;
    r->booted = 1;
    raft__conf_apply(r);
}

const char *raft_set_peers_refused(raft *r, const raft_member *peers, size_t n)
{
    if (r->cfg.mode != RAFT_MODE_RAFT || (!r->nconf && (!r->configured || r->term == 0)))
        return NULL;                /* bootstrap: nothing runs yet */
    size_t same = 0, others = 0;
    for (size_t i = 0; i < n; i++) {
        if (peers[i].id == r->cfg.id)
            continue;
        others++;
        raft_peer *p = raft__peer(r, peers[i].id);
        same += p && p->voter;
    }
    size_t voters = 0;
    for (size_t i = 0; i < r->npeers; i++)
        voters += r->peers[i].voter;
    if (same == others && others == voters && r->member)
        return NULL;                /* the configuration in force, restated */
    return "this node is in a running cluster whose configuration differs: set_peers would "
           "replace it; change members with raft_kv admin add / remove";
}

/* ---- changes ------------------------------------------------------------ */

static void change_clear(raft *r)
{
    free(r->change.node);
    memset(&r->change, 0, sizeof r->change);
}

static void change_end(raft *r, const char *error)
{
    int was_adding = adding(r);
    if (error) {
        cn_buf_reset(&r->result);
        cn_term_build(&r->result, "{error, ~s}", error);
        cn_term t = cn_buf_term(&r->result, 0);
        r->io.client_reply(r->io.ud, r->change.token, &t);
        raft__trace(r, "[node %d] Membership change abandoned: %s", r->cfg.id, error);
    }
    change_clear(r);
    if (was_adding)
        raft__conf_apply(r);        /* the learner, if any, goes */
}

static int ok_now(raft *r, raft_token token)
{
    cn_term ok = { "\x77\x02ok", 4 };
    r->io.client_reply(r->io.ud, token, &ok);
    return 0;
}

int raft__change_start(raft *r, raft_change_kind kind, int id, const char *node,
                       raft_token token, const char **why)
{
    raft_conf c;
    *why = NULL;
    if (r->cfg.mode != RAFT_MODE_RAFT)
        *why = "membership changes need --mode raft";
    else if (r->role != RAFT_LEADER)
        *why = "not leader";
    else if (r->change.kind || r->conf_index > r->commit)
        *why = "a membership change is under way";
    else if (r->transfer_to)
        *why = "a leadership transfer is under way";
    else if (kind == RAFT_CHANGE_ADD && (!node || !node[0]))
        *why = "the new member's node name is missing";
    if (*why)
        return -1;
    for (size_t i = 0; i < r->npeers; i++) {
        if (r->peers[i].kind == RAFT_KIND_EMU) {
            snprintf(r->why, sizeof r->why, "every member must be a C node: member %d is an "
                     "emulation node", r->peers[i].id);
            return *why = r->why, -1;
        }
        if (!r->peers[i].node || !r->peers[i].node[0]) {
            snprintf(r->why, sizeof r->why, "member %d's node name is unknown", r->peers[i].id);
            return *why = r->why, -1;
        }
    }
    if (current(r, &c) < 0)
        return *why = "no configuration yet", -1;
    raft_conf_member *m = raft_conf_find(&c, id);
    if (kind == RAFT_CHANGE_ADD && m && strcmp(m->node, node) != 0)
        snprintf(r->why, sizeof r->why, "member %d is %s, not %s", id, m->node, node), *why = r->why;
    else if (kind == RAFT_CHANGE_REMOVE && m && c.n == 1)
        *why = "cannot remove the only member";
    raft_conf_free(&c);
    if (*why)
        return -1;
    if ((kind == RAFT_CHANGE_ADD) == (m != NULL))
        return ok_now(r, token);    /* already so: nothing to change */
    r->change.kind = kind;
    r->change.id = id;
    r->change.node = node ? strdup(node) : NULL;
    r->change.token = token;
    r->change.round_start = r->now;
    r->change.round_end = raft_log_last(&r->log);
    raft__trace(r, "[node %d] Membership change: %s node %d%s%s", r->cfg.id,
                kind == RAFT_CHANGE_ADD ? "adding" : "removing", id, node ? " at " : "",
                node ? node : "");
    if (kind == RAFT_CHANGE_ADD)
        raft__conf_apply(r);        /* the learner joins the peers */
    raft__change_progress(r);
    raft__send_appends(r);
    return 0;
}

/* The new configuration: the one in force with the change made. */
static int change_entry(raft *r, cn_buf *b)
{
    raft_conf c, n;
    if (current(r, &c) < 0)
        return -1;
    n.m = calloc(c.n + 1, sizeof *n.m);
    n.n = 0;
    if (!n.m) {
        raft_conf_free(&c);
        return -1;
    }
    for (size_t i = 0; i < c.n; i++)
        if (c.m[i].id != r->change.id)
            n.m[n.n++] = c.m[i];
    if (r->change.kind == RAFT_CHANGE_ADD)
        n.m[n.n++] = (raft_conf_member){ r->change.id, r->change.node };
    raft_conf_encode(b, &n);
    free(n.m);                      /* the names are c's and the change's */
    raft_conf_free(&c);
    return cn_buf_failed(b) ? -1 : 0;
}

/* Moves a change under way on: a learner's round, then the entry. */
void raft__change_progress(raft *r)
{
    if (!r->change.kind || r->role != RAFT_LEADER)
        return;
    if (r->conf_index > r->commit || raft_log_term(&r->log, r->commit) != r->term)
        return;                     /* the last change, or our no-op, not committed yet */
    if (adding(r)) {
        raft_peer *p = raft__peer(r, r->change.id);
        if (!p || p->match < r->change.round_end)
            return;
        if (r->now - r->change.round_start >= r->cfg.election_min_ms) {
            if (++r->change.rounds >= CATCHUP_ROUNDS) {
                change_end(r, "the new member did not catch up (the log grows faster than "
                              "it is sent?)");
                return;
            }
            r->change.round_start = r->now;     /* another round, to what is last now */
            r->change.round_end = raft_log_last(&r->log);
            return;
        }
    }
    cn_buf b;
    cn_buf_init(&b);
    int rc = change_entry(r, &b);
    cn_term cmd = cn_buf_term(&b, 0);
    if (rc < 0 || raft__append_local(r, r->term, &cmd) < 0) {
        cn_buf_free(&b);
        change_end(r, "out of memory");
        return;
    }
    cn_buf_free(&b);
    uint64_t idx = raft_log_last(&r->log);
    raft__trace(r, "[node %d] Configuration entry %llu appended", r->cfg.id,
                (unsigned long long)idx);
    if (raft__wait_as(r, idx, r->term, 1, r->change.token) < 0)
        raft__wait_error(r, r->change.token, 1, "out of memory: the change was appended, "
                         "its outcome is unknown");
    change_clear(r);
    raft__send_appends(r);
}

void raft__change_tick(raft *r)
{
    if (!adding(r))
        return;
    raft_peer *p = raft__peer(r, r->change.id);
    uint64_t silence = (uint64_t)CATCHUP_SILENCE_ELECTIONS * r->cfg.election_max_ms;
    if (p && r->now - p->last_ack >= silence) {
        snprintf(r->why, sizeof r->why, "node %d at %s did not answer for %llu ms (is it "
                 "running raft_kv, with this cookie?)", r->change.id, r->change.node,
                 (unsigned long long)silence);
        change_end(r, r->why);
    }
}

/* The leader steps down or a change cannot go on: nothing was appended. */
void raft__change_abort(raft *r, const char *why)
{
    if (r->change.kind)
        change_end(r, why);
}

/* After the commit index moved: a leader that is no longer a member
 * hands over (TimeoutNow to the most up-to-date voter) and steps down. */
void raft__conf_committed(raft *r)
{
    if (r->role != RAFT_LEADER || r->member || r->commit < r->conf_index)
        return;
    raft_peer *best = NULL;
    for (size_t i = 0; i < r->npeers; i++) {
        raft_peer *p = &r->peers[i];
        if (p->voter && p->kind != RAFT_KIND_EMU && (!best || p->match > best->match))
            best = p;
    }
    raft__trace(r, "[node %d] Removed from the cluster: stepping down", r->cfg.id);
    if (best && best->match == raft_log_last(&r->log)) {
        raft_msg m = { .type = RAFT_MSG_TIMEOUT_NOW, .term = r->term, .node = r->cfg.id };
        r->io.send(r->io.ud, best->id, &m, 0, 0);
    }
    raft__become_follower(r, r->term);
    r->leader = 0;
}

int raft__voters(const raft *r)
{
    int n = r->member;
    for (size_t i = 0; i < r->npeers; i++)
        n += r->peers[i].voter;
    return n;
}
