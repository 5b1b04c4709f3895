/* raft_wire.h - the Gleam raft_kv emulation's messages as Erlang terms, to
 * and from the core's raft_msg.
 *
 * Requests arrive as {Tag, Msg} at the node's Subject; Msg is one of
 *   {set_peers, [{Id, Subject}]}       start_election
 *   {request_vote, Term, CandidateId, LastLogIndex, LastLogTerm, ReplySubject}
 *   {append_entries, Term, LeaderId, PrevLogIndex, PrevLogTerm,
 *                    [{Index, {log_entry, Term, Command}}], LeaderCommit, ReplySubject}
 *   {commit_notification, LeaderCommit}
 *   {client_put, K, V, ReplySubject}  {client_get, K, ReplySubject}
 *   {client_delete, K, ReplySubject}
 * and, only ever between C nodes,
 *   {cn_pre_vote, Term, CandidateId, LastLogIndex, LastLogTerm, ReplySubject}
 *   {cn_timeout_now, Term, LeaderId}   (a leadership transfer: campaign now)
 *   {cn_install_snapshot, Term, LeaderId, Index, IndexTerm, LeaderCommit,
 *                         Offset, Chunk, Done, ReplySubject}
 * Replies: {vote_granted, Term} | {vote_denied, Term},
 *   {append_entries_ok, Term, MatchIndex} | {append_entries_rejected, Term}
 *   (C to C: {append_entries_rejected, Term, HintIndex, RefusedPrevIndex};
 *   the 3-tuple without RefusedPrevIndex from older C nodes is accepted),
 *   {cn_pre_vote_reply, Term, true | false},
 *   {cn_install_snapshot_reply, Term, Installed, Index, BytesHeld}.
 */
#ifndef RAFT_WIRE_H
#define RAFT_WIRE_H

#include "../node/cn.h"
#include "raft.h"

typedef enum raft_wire_kind {
    RAFT_WIRE_BAD = 0,
    RAFT_WIRE_SET_PEERS,       /* list: the [{Id, Subject}] term */
    RAFT_WIRE_START_ELECTION,
    RAFT_WIRE_REQUEST,         /* msg + reply subject */
    RAFT_WIRE_NOTICE,          /* msg: one-way (commit_notification, cn_timeout_now) */
    RAFT_WIRE_CLIENT,          /* cmd (an encoded Command) + reply subject */
    RAFT_WIRE_CLIENT_BAD,      /* a client request we can answer but not take:
                                  why + reply subject; get: a get's error shape */
} raft_wire_kind;

#define RAFT_WIRE_MAX_BATCH 4096

typedef struct raft_wire_in {
    raft_wire_kind kind;
    raft_msg       msg;
    cn_subject     reply_to;
    cn_term        list;                  /* SET_PEERS */
    cn_buf         cmd;                   /* CLIENT: the Command term */
    int            get;                   /* CLIENT_BAD: it was a client_get */
    raft_entry     entries[RAFT_WIRE_MAX_BATCH]; /* point into the message */
} raft_wire_in;

/* Decodes a request; why says what was wrong when it returns BAD. */
raft_wire_kind raft_wire_decode(const cn_term *t, raft_wire_in *in, const char **why);
/* Decodes a reply term (to a request we made). */
int  raft_wire_decode_reply(const cn_term *t, raft_msg *m);

/* Encoders: the request with our reply subject, and replies.  hint: may
 * the rejection carry the C-only hint. */
void raft_wire_put_request(cn_buf *b, const raft_msg *m, const cn_subject *reply_to);
void raft_wire_put_reply(cn_buf *b, const raft_msg *m, int hint);
/* A client command as the client message that carries it. */
void raft_wire_put_client(cn_buf *b, const cn_term *cmd, const cn_subject *reply_to);

#endif
