/* raft_admin.h - raft_kv's admin mode: operating a running cluster.
 *
 *   raft_kv admin --sname NAME --cookie C --node NODE transfer [ID]
 *       hands leadership to member ID (default: the C member most up to
 *       date), asking NODE; a follower names the leader, which is asked in
 *       turn.  Prints what happened; exits 0 once the leader has handed
 *       over, 1 if it could not.
 *   raft_kv admin --sname NAME --cookie C --node NODE add NEW
 *       adds the raft_kv node NEW (started with --id, no peers: it waits)
 *       to NODE's cluster: NEW's id is read from NEW itself, the leader
 *       (found as for transfer) has it catch up as a non-voter, then makes
 *       it a voter.  Exits 0 once that configuration has committed.
 *   raft_kv admin --sname NAME --cookie C --node NODE remove MEMBER
 *       removes MEMBER (a node name, or an id) from NODE's cluster; exits 0
 *       once the configuration without it has committed.  MEMBER need not
 *       be running (a dead machine is replaced by remove, then add).
 *   raft_kv status --sname NAME --cookie C --node NODE [--json]
 *       one row per member of NODE's cluster, each read from that member
 *       itself (id, node, role, term, leader, commit index, last applied,
 *       log length, members); an unreachable member shown as such, an
 *       emulation member as one (it has no status call).  --json: one JSON
 *       object a line.  Exits 0 if every C member answered, else 1.
 */
#ifndef RAFT_ADMIN_H
#define RAFT_ADMIN_H

#include "../node/cn.h"

typedef struct raft_admin_config {
    const char *node;            /* the member asked first */
    const char *command;         /* "transfer", "add", "remove" or "status" */
    int         target;          /* transfer: an id, 0 for any; remove: an id or 0 */
    const char *member;          /* add: the new node; remove: a node name (target 0) */
    int         json;            /* status: JSON lines */
} raft_admin_config;

/* Why a call to {raft_kv, node} failed, said for people: no such node
 * (not registered with epmd on HOST), handshake refused (wrong cookie?),
 * connection refused, node up but no raft_kv process, a timeout. */
void raft_call_failure(cn_proc *p, const char *node, cn_call_status st, const cn_term *reply,
                       char *out, size_t outsz);

/* Checks a command line's positional words (after the options); 0, or -1
 * with a message on stderr. */
int raft_admin_parse(raft_admin_config *cfg, int argc, char **argv);
/* Runs the command; the node stops when it is done, *status the exit
 * status. */
cn_proc *raft_admin_start(cn_node *n, const raft_admin_config *cfg, int *status);

#endif
