/* raft_wire.c - Gleam raft_kv terms <-> raft_msg (see raft_wire.h).
 * Every decoder rejects malformed input with a reason; nothing is trusted:
 * terms, indexes and counts are range-checked, entries must be consecutive
 * and their commands well formed. */
#include <string.h>

#include "raft_conf.h"
#include "raft_wire.h"

static int get_u64(const cn_term *t, uint64_t *out)
{
    long long v;
    if (cn_term_get_long(t, &v) < 0 || v < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int get_id(const cn_term *t, int *out)
{
    long long v;
    if (cn_term_get_long(t, &v) < 0 || v < 1 || v > (1 << 30))
        return -1;
    *out = (int)v;
    return 0;
}

static int decode_entries(const cn_term *list, raft_wire_in *in, const char **why)
{
    cn_list_iter it;
    uint32_t n;
    cn_term e, idx_t, term_t, cmd;
    if (cn_list_begin(&it, list, &n) < 0 || n > RAFT_WIRE_MAX_BATCH) {
        *why = "entries is not a list (or too long)";
        return -1;
    }
    uint64_t expect = in->msg.index + 1;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t idx;
        if (cn_list_next(&it, &e) != 1 ||
            !cn_term_match(&e, "{~t, {log_entry, ~t, ~t}}", &idx_t, &term_t, &cmd) ||
            get_u64(&idx_t, &idx) < 0 || get_u64(&term_t, &in->entries[i].term) < 0) {
            *why = "an entry is not {Index, {log_entry, Term, Command}}";
            return -1;
        }
        if (idx != expect + i) {
            *why = "entries are not consecutive from prev_log_index + 1";
            return -1;
        }
        if (!raft_cmd_valid(&cmd) && !raft_conf_valid(&cmd)) {
            *why = "an entry's command is malformed";
            return -1;
        }
        in->entries[i].cmd = cmd;
    }
    if (cn_list_next(&it, &e) != 0) {
        *why = "entries is an improper list";
        return -1;
    }
    in->msg.entries = in->entries;
    in->msg.n_entries = n;
    return 0;
}

static raft_wire_kind decode_vote(const cn_term *t, raft_wire_in *in, raft_msg_type type,
                                  const char **why)
{
    cn_term a, b, c, d, s;
    const char *pat = type == RAFT_MSG_PRE_VOTE ? "{cn_pre_vote, ~t, ~t, ~t, ~t, ~t}"
                                                : "{request_vote, ~t, ~t, ~t, ~t, ~t}";
    if (!cn_term_match(t, pat, &a, &b, &c, &d, &s) || get_u64(&a, &in->msg.term) < 0 ||
        get_id(&b, &in->msg.node) < 0 || get_u64(&c, &in->msg.index) < 0 ||
        get_u64(&d, &in->msg.index_term) < 0 || cn_subject_from_term(&s, &in->reply_to) < 0) {
        *why = "malformed vote request";
        return RAFT_WIRE_BAD;
    }
    in->msg.type = type;
    return RAFT_WIRE_REQUEST;
}

static raft_wire_kind decode_append(const cn_term *t, raft_wire_in *in, const char **why)
{
    cn_term a, b, c, d, list, e, s;
    if (!cn_term_match(t, "{append_entries, ~t, ~t, ~t, ~t, ~L, ~t, ~t}", &a, &b, &c, &d, &list,
                       &e, &s) ||
        get_u64(&a, &in->msg.term) < 0 || get_id(&b, &in->msg.node) < 0 ||
        get_u64(&c, &in->msg.index) < 0 || get_u64(&d, &in->msg.index_term) < 0 ||
        get_u64(&e, &in->msg.commit) < 0 || cn_subject_from_term(&s, &in->reply_to) < 0) {
        *why = "malformed append_entries";
        return RAFT_WIRE_BAD;
    }
    in->msg.type = RAFT_MSG_APPEND;
    if (decode_entries(&list, in, why) < 0)
        return RAFT_WIRE_BAD;
    return RAFT_WIRE_REQUEST;
}

static raft_wire_kind decode_snapshot(const cn_term *t, raft_wire_in *in, const char **why)
{
    cn_term a, b, c, d, e, f, s, rs;
    const char *data;
    size_t len;
    if (!cn_term_match(t, "{cn_install_snapshot, ~t, ~t, ~t, ~t, ~t, ~t, ~b, ~t, ~t}", &a, &b, &c,
                       &d, &e, &f, &data, &len, &s, &rs) ||
        get_u64(&a, &in->msg.term) < 0 || get_id(&b, &in->msg.node) < 0 ||
        get_u64(&c, &in->msg.index) < 0 || get_u64(&d, &in->msg.index_term) < 0 ||
        get_u64(&e, &in->msg.commit) < 0 || get_u64(&f, &in->msg.offset) < 0 ||
        cn_subject_from_term(&rs, &in->reply_to) < 0 ||
        (!cn_term_match(&s, "true") && !cn_term_match(&s, "false"))) {
        *why = "malformed cn_install_snapshot";
        return RAFT_WIRE_BAD;
    }
    in->msg.type = RAFT_MSG_SNAPSHOT;
    in->msg.data = data;
    in->msg.len = len;
    in->msg.done = cn_term_match(&s, "true");
    return RAFT_WIRE_REQUEST;
}

/* A client request with a reply subject but keys or values that are not
 * binaries (Gleam Strings): answered with why, not dropped. */
static raft_wire_kind client_bad(const cn_term *t, raft_wire_in *in, const char **why)
{
    cn_term s;
    in->get = 0;
    if (cn_term_match(t, "{client_get, _, ~t}", &s))
        in->get = 1;
    else if (!cn_term_match(t, "{client_put, _, _, ~t}", &s) &&
             !cn_term_match(t, "{client_delete, _, ~t}", &s))
        return RAFT_WIRE_BAD;
    if (cn_subject_from_term(&s, &in->reply_to) < 0) {
        *why = "client request without a reply subject";
        return RAFT_WIRE_BAD;
    }
    *why = "keys and values must be binaries (Gleam Strings)";
    return RAFT_WIRE_CLIENT_BAD;
}

static raft_wire_kind decode_client(const cn_term *t, raft_wire_in *in, const char **why)
{
    const char *k, *v;
    size_t kl, vl;
    cn_term s;
    cn_buf_reset(&in->cmd);
    if (cn_term_match(t, "{client_put, ~b, ~b, ~t}", &k, &kl, &v, &vl, &s))
        cn_term_build(&in->cmd, "{put, ~b, ~b}", k, kl, v, vl);
    else if (cn_term_match(t, "{client_get, ~b, ~t}", &k, &kl, &s))
        cn_term_build(&in->cmd, "{get, ~b}", k, kl);
    else if (cn_term_match(t, "{client_delete, ~b, ~t}", &k, &kl, &s))
        cn_term_build(&in->cmd, "{delete, ~b}", k, kl);
    else
        return client_bad(t, in, why);
    if (cn_subject_from_term(&s, &in->reply_to) < 0 || cn_buf_failed(&in->cmd)) {
        *why = "client request without a reply subject";
        return RAFT_WIRE_BAD;
    }
    return RAFT_WIRE_CLIENT;
}

raft_wire_kind raft_wire_decode(const cn_term *t, raft_wire_in *in, const char **why)
{
    cn_term a, b;
    memset(&in->msg, 0, sizeof in->msg);
    *why = "unknown message";
    if (cn_term_match(t, "start_election"))
        return RAFT_WIRE_START_ELECTION;
    if (cn_term_match(t, "{set_peers, ~L}", &in->list))
        return RAFT_WIRE_SET_PEERS;
    if (cn_term_match(t, "{commit_notification, ~t}", &a)) {
        in->msg.type = RAFT_MSG_COMMIT;
        if (get_u64(&a, &in->msg.commit) < 0) {
            *why = "malformed commit_notification";
            return RAFT_WIRE_BAD;
        }
        return RAFT_WIRE_NOTICE;
    }
    if (cn_term_match(t, "{cn_timeout_now, ~t, ~t}", &a, &b)) {
        in->msg.type = RAFT_MSG_TIMEOUT_NOW;
        if (get_u64(&a, &in->msg.term) < 0 || get_id(&b, &in->msg.node) < 0) {
            *why = "malformed cn_timeout_now";
            return RAFT_WIRE_BAD;
        }
        return RAFT_WIRE_NOTICE;
    }
    if (cn_term_match(t, "{request_vote, _, _, _, _, _}"))
        return decode_vote(t, in, RAFT_MSG_REQUEST_VOTE, why);
    if (cn_term_match(t, "{cn_pre_vote, _, _, _, _, _}"))
        return decode_vote(t, in, RAFT_MSG_PRE_VOTE, why);
    if (cn_term_match(t, "{append_entries, _, _, _, _, _, _, _}"))
        return decode_append(t, in, why);
    if (cn_term_match(t, "{cn_install_snapshot, _, _, _, _, _, _, _, _, _}"))
        return decode_snapshot(t, in, why);
    return decode_client(t, in, why);
}

int raft_wire_decode_reply(const cn_term *t, raft_msg *m)
{
    cn_term a, b, c, d;
    memset(m, 0, sizeof *m);
    if (cn_term_match(t, "{vote_granted, ~t}", &a)) {
        m->type = RAFT_MSG_VOTE;
        m->granted = 1;
    } else if (cn_term_match(t, "{vote_denied, ~t}", &a)) {
        m->type = RAFT_MSG_VOTE;
    } else if (cn_term_match(t, "{append_entries_ok, ~t, ~t}", &a, &b)) {
        m->type = RAFT_MSG_APPEND_REPLY;
        m->granted = 1;
        if (get_u64(&b, &m->match) < 0)
            return -1;
    } else if (cn_term_match(t, "{append_entries_rejected, ~t}", &a)) {
        m->type = RAFT_MSG_APPEND_REPLY;
    } else if (cn_term_match(t, "{append_entries_rejected, ~t, ~t}", &a, &b)) {
        m->type = RAFT_MSG_APPEND_REPLY;
        m->has_hint = 1;
        if (get_u64(&b, &m->match) < 0)
            return -1;
    } else if (cn_term_match(t, "{append_entries_rejected, ~t, ~t, ~t}", &a, &b, &c)) {
        m->type = RAFT_MSG_APPEND_REPLY;
        m->has_hint = m->has_rejected = 1;
        if (get_u64(&b, &m->match) < 0 || get_u64(&c, &m->rejected) < 0)
            return -1;
    } else if (cn_term_match(t, "{cn_install_snapshot_reply, ~t, ~t, ~t, ~t}", &a, &b, &c,
                             &d)) {
        m->type = RAFT_MSG_SNAPSHOT_REPLY;
        m->granted = cn_term_match(&b, "true");
        if ((!m->granted && !cn_term_match(&b, "false")) || get_u64(&c, &m->index) < 0 ||
            get_u64(&d, &m->match) < 0)
            return -1;
    } else if (cn_term_match(t, "{cn_pre_vote_reply, ~t, true}", &a)) {
        m->type = RAFT_MSG_PRE_VOTE_REPLY;
        m->granted = 1;
    } else if (cn_term_match(t, "{cn_pre_vote_reply, ~t, false}", &a)) {
        m->type = RAFT_MSG_PRE_VOTE_REPLY;
    } else {
        return -1;
    }
    return get_u64(&a, &m->term);
}

void raft_wire_put_request(cn_buf *b, const raft_msg *m, const cn_subject *reply_to)
{
    switch (m->type) {
    case RAFT_MSG_REQUEST_VOTE:
    case RAFT_MSG_PRE_VOTE:
        cn_term_put_tuple(b, 6);
        cn_term_put_atom(b, m->type == RAFT_MSG_PRE_VOTE ? "cn_pre_vote" : "request_vote");
        cn_term_put_ulong(b, m->term);
        cn_term_put_long(b, m->node);
        cn_term_put_ulong(b, m->index);
        cn_term_put_ulong(b, m->index_term);
        cn_subject_put(b, reply_to);
        return;
    case RAFT_MSG_APPEND:
        cn_term_put_tuple(b, 8);
        cn_term_put_atom(b, "append_entries");
        cn_term_put_ulong(b, m->term);
        cn_term_put_long(b, m->node);
        cn_term_put_ulong(b, m->index);
        cn_term_put_ulong(b, m->index_term);
        if (m->n_entries)
            cn_term_put_list(b, (uint32_t)m->n_entries);
        for (size_t i = 0; i < m->n_entries; i++) {
            cn_term_put_tuple(b, 2);
            cn_term_put_ulong(b, m->index + 1 + i);
            cn_term_build(b, "{log_entry, ~u, ~t}", m->entries[i].term, &m->entries[i].cmd);
        }
        cn_term_put_nil(b);
        cn_term_put_ulong(b, m->commit);
        cn_subject_put(b, reply_to);
        return;
    case RAFT_MSG_COMMIT:
        cn_term_build(b, "{commit_notification, ~u}", m->commit);
        return;
    case RAFT_MSG_TIMEOUT_NOW:
        cn_term_build(b, "{cn_timeout_now, ~u, ~l}", m->term, (long)m->node);
        return;
    case RAFT_MSG_SNAPSHOT:
        cn_term_put_tuple(b, 10);
        cn_term_put_atom(b, "cn_install_snapshot");
        cn_term_put_ulong(b, m->term);
        cn_term_put_long(b, m->node);
        cn_term_put_ulong(b, m->index);
        cn_term_put_ulong(b, m->index_term);
        cn_term_put_ulong(b, m->commit);
        cn_term_put_ulong(b, m->offset);
        cn_term_put_binary(b, m->data, m->len);
        cn_term_put_atom(b, m->done ? "true" : "false");
        cn_subject_put(b, reply_to);
        return;
    default:
        b->failed = 1;
    }
}

void raft_wire_put_reply(cn_buf *b, const raft_msg *m, int hint)
{
    switch (m->type) {
    case RAFT_MSG_VOTE:
        cn_term_build(b, m->granted ? "{vote_granted, ~u}" : "{vote_denied, ~u}", m->term);
        return;
    case RAFT_MSG_APPEND_REPLY:
        if (m->granted)
            cn_term_build(b, "{append_entries_ok, ~u, ~u}", m->term, m->match);
        else if (hint && m->has_hint && m->has_rejected)
            cn_term_build(b, "{append_entries_rejected, ~u, ~u, ~u}", m->term, m->match,
                          m->rejected);
        else if (hint && m->has_hint)
            cn_term_build(b, "{append_entries_rejected, ~u, ~u}", m->term, m->match);
        else
            cn_term_build(b, "{append_entries_rejected, ~u}", m->term);
        return;
    case RAFT_MSG_PRE_VOTE_REPLY:
        cn_term_build(b, m->granted ? "{cn_pre_vote_reply, ~u, true}"
                                    : "{cn_pre_vote_reply, ~u, false}", m->term);
        return;
    case RAFT_MSG_SNAPSHOT_REPLY:
        cn_term_build(b, m->granted ? "{cn_install_snapshot_reply, ~u, true, ~u, ~u}"
                                    : "{cn_install_snapshot_reply, ~u, false, ~u, ~u}",
                      m->term, m->index, m->match);
        return;
    default:
        b->failed = 1;
    }
}

void raft_wire_put_client(cn_buf *b, const cn_term *cmd, const cn_subject *reply_to)
{
    const char *k, *v;
    size_t kl, vl;
    if (cn_term_match(cmd, "{put, ~b, ~b}", &k, &kl, &v, &vl)) {
        cn_term_put_tuple(b, 4);
        cn_term_put_atom(b, "client_put");
        cn_term_put_binary(b, k, kl);
        cn_term_put_binary(b, v, vl);
    } else if (cn_term_match(cmd, "{get, ~b}", &k, &kl)) {
        cn_term_put_tuple(b, 3);
        cn_term_put_atom(b, "client_get");
        cn_term_put_binary(b, k, kl);
    } else if (cn_term_match(cmd, "{delete, ~b}", &k, &kl)) {
        cn_term_put_tuple(b, 3);
        cn_term_put_atom(b, "client_delete");
        cn_term_put_binary(b, k, kl);
    } else {
        b->failed = 1;
        return;
    }
    cn_subject_put(b, reply_to);
}
