/* raft_admin.c - raft_kv's admin mode (see raft_admin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../node/cli.h"
#include "raft_admin.h"

#define ADMIN_TIMEOUT_MS 10000       /* a transfer takes an election timeout */
#define MAX_HOPS 3                   /* followers naming the leader */

typedef struct admin {
    raft_admin_config cfg;
    int  *status;
    char  node[CN_ATOM_BUF];         /* the member asked now */
    int   hops;
} admin;

int raft_admin_parse(raft_admin_config *cfg, int argc, char **argv)
{
    long v;
    if (argc < 1) {
        fprintf(stderr, "raft_kv admin: a command is required (transfer [ID])\n");
        return -1;
    }
    if (strcmp(argv[0], "transfer") != 0) {
        fprintf(stderr, "raft_kv admin: unknown command '%s' (transfer [ID])\n", argv[0]);
        return -1;
    }
    cfg->command = "transfer";
    if (argc > 2) {
        fprintf(stderr, "raft_kv admin transfer: unexpected argument '%s'\n", argv[2]);
        return -1;
    }
    if (argc == 2 && cn_cli_int(argv[1], 1, 1 << 30, &v) < 0) {
        fprintf(stderr, "raft_kv admin transfer: bad member id '%s'\n", argv[1]);
        return -1;
    }
    cfg->target = argc == 2 ? (int)v : 0;
    return 0;
}

static void done(cn_proc *p, int status)
{
    admin *a = cn_proc_state(p);
    *a->status = status;
    cn_node_stop(cn_proc_node(p));
}

static void ask(cn_proc *p);

static void answered(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    admin *a = cn_proc_state(p);
    char leader[CN_ATOM_BUF], why[512];
    int id;
    (void)ud;
    if (st != CN_CALL_OK) {
        char txt[256] = "";
        if (reply)
            cn_term_format(reply, txt, sizeof txt);
        fprintf(stderr, "raft_kv admin: no answer from raft_kv on %s: %s%s%s\n", a->node,
                st == CN_CALL_TIMEOUT ? "timeout" : "down", txt[0] ? " " : "", txt);
        done(p, 1);
    } else if (cn_term_match(reply, "{ok, ~i}", &id)) {
        printf("leadership handed over by %s to member %d\n", a->node, id);
        fflush(stdout);
        done(p, 0);
    } else if (cn_term_match(reply, "{error, {not_leader, none}}")) {
        fprintf(stderr, "raft_kv admin: %s does not lead and knows no leader (an election "
                "under way?)\n", a->node);
        done(p, 1);
    } else if (cn_term_match(reply, "{error, {not_leader, ~a}}", leader) &&
               a->hops < MAX_HOPS) {
        printf("%s does not lead; asking the leader, %s\n", a->node, leader);
        snprintf(a->node, sizeof a->node, "%s", leader);
        a->hops++;
        ask(p);
    } else if (cn_term_match(reply, "{error, ~s}", why, sizeof why)) {
        fprintf(stderr, "raft_kv admin: %s refused: %s\n", a->node, why);
        done(p, 1);
    } else {
        char txt[256];
        cn_term_format(reply, txt, sizeof txt);
        fprintf(stderr, "raft_kv admin: unexpected answer from %s: %s\n", a->node, txt);
        done(p, 1);
    }
}

static void ask(cn_proc *p)
{
    admin *a = cn_proc_state(p);
    cn_term req = a->cfg.target ? cn_fmt(p, "{transfer, ~i}", a->cfg.target)
                                : cn_fmt(p, "{transfer, any}");
    cn_dest d = { NULL, "raft_kv", a->node };
    if (cn_call(p, d, &req, ADMIN_TIMEOUT_MS, answered, NULL) < 0) {
        fprintf(stderr, "raft_kv admin: cannot reach %s\n", a->node);
        done(p, 1);
    }
}

static int admin_init(cn_proc *p, void *arg)
{
    admin *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->cfg = *(const raft_admin_config *)((void **)arg)[0];
    a->status = ((void **)arg)[1];
    snprintf(a->node, sizeof a->node, "%s", a->cfg.node);
    cn_proc_set_state(p, a);
    ask(p);
    return 0;
}

static void admin_terminate(cn_proc *p, const cn_term *reason)
{
    (void)reason;
    free(cn_proc_state(p));
}

static const cn_proc_ops admin_ops = {
    .kind = "raft_admin", .init = admin_init, .terminate = admin_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

cn_proc *raft_admin_start(cn_node *n, const raft_admin_config *cfg, int *status)
{
    void *arg[2] = { (void *)cfg, status };
    return cn_spawn(n, &admin_ops, arg, NULL);
}
