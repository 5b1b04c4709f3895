/* raft_admin.c - raft_kv's admin mode (see raft_admin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <cJSON.h>

#include "../node/cli.h"
#include "raft_admin.h"

#define ADMIN_TIMEOUT_MS 10000       /* a transfer takes an election timeout */
#define ADD_TIMEOUT_MS 600000        /* a new member catching up a long log */
#define MAX_HOPS 3                   /* followers naming the leader */

typedef struct admin {
    raft_admin_config cfg;
    int  *status;
    char  node[CN_ATOM_BUF];         /* the member asked now */
    int   hops;
} admin;

void raft_call_failure(cn_proc *p, const char *node, cn_call_status st, const cn_term *reply,
                       char *out, size_t outsz)
{
    const char *dial = cn_node_dial_error(cn_proc_node(p), node);
    char txt[160] = "";
    if (reply)
        cn_term_format(reply, txt, sizeof txt);
    if (st == CN_CALL_TIMEOUT)
        snprintf(out, outsz, "no answer from raft_kv on %s in time", node);
    else if (reply && cn_term_is_atom(reply, "noproc"))
        snprintf(out, outsz, "%s is up but runs no raft_kv process", node);
    else if (dial)
        snprintf(out, outsz, "cannot reach %s: %s", node, dial);
    else if (reply && cn_term_is_atom(reply, "noconnection"))
        snprintf(out, outsz, "lost the connection to %s", node);
    else
        snprintf(out, outsz, "raft_kv on %s failed: %s", node, txt[0] ? txt : "no reason given");
}

#define ADMIN_COMMANDS "transfer [ID], add NODE, remove NODE|ID"

int raft_admin_parse(raft_admin_config *cfg, int argc, char **argv)
{
    static const char prog[] = "raft_kv admin";
    long v;
    const char *cmd = argc >= 1 ? argv[0] : NULL;
    if (!cmd)
        return cn_cli_usage_error(prog, "a command is required (" ADMIN_COMMANDS ")");
    int transfer = strcmp(cmd, "transfer") == 0, add = strcmp(cmd, "add") == 0;
    if (!transfer && !add && strcmp(cmd, "remove") != 0)
        return cn_cli_usage_error(prog, "unknown command '%s' (" ADMIN_COMMANDS ")", cmd);
    cfg->command = transfer ? "transfer" : add ? "add" : "remove";
    cfg->target = 0;
    cfg->member = NULL;
    if (argc > 2)
        return cn_cli_usage_error(prog, "%s: unexpected argument '%s'", cmd, argv[2]);
    if (!transfer && argc != 2)
        return cn_cli_usage_error(prog, "%s: which node? (%s)", cmd,
                                  add ? "add NODE" : "remove NODE|ID");
    if (argc < 2)
        return 0;
    if (!add && argv[1][0] >= '0' && argv[1][0] <= '9') {
        if (cn_cli_int(argv[1], 1, 1 << 30, &v) < 0)
            return cn_cli_usage_error(prog, "%s: bad member id '%s'", cmd, argv[1]);
        cfg->target = (int)v;
    } else if (transfer) {
        return cn_cli_usage_error(prog, "transfer: bad member id '%s'", argv[1]);
    } else if (!strchr(argv[1], '@')) {
        return cn_cli_usage_error(prog, "%s: '%s' is not a node name (name@host)", cmd, argv[1]);
    } else {
        cfg->member = argv[1];
    }
    return 0;
}

static void done(cn_proc *p, int status)
{
    admin *a = cn_proc_state(p);
    *a->status = status;
    cn_node_stop(cn_proc_node(p));
}

static void fail(cn_proc *p, const char *fmt, const char *arg)
{
    fputs("raft_kv admin: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    done(p, 1);
}

static int map_get(const cn_term *map, const char *key, cn_term *out);
static long long map_int(const cn_term *map, const char *key);
static void ask(cn_proc *p);

static int is(const admin *a, const char *command) { return strcmp(a->cfg.command, command) == 0; }

static void answered(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    admin *a = cn_proc_state(p);
    char leader[CN_ATOM_BUF], why[512];
    int id;
    (void)ud;
    if (st != CN_CALL_OK) {
        char text[1400];
        raft_call_failure(p, a->node, st, reply, text, sizeof text);
        fail(p, "%s", text);
    } else if (is(a, "transfer") && cn_term_match(reply, "{ok, ~i}", &id)) {
        printf("leadership handed over by %s to member %d\n", a->node, id);
        fflush(stdout);
        done(p, 0);
    } else if (!is(a, "transfer") && cn_term_match(reply, "ok")) {
        if (is(a, "add"))
            printf("%s (id %d) added: a voting member of the cluster\n", a->cfg.member,
                   a->cfg.target);
        else
            printf("member %d removed from the cluster\n", a->cfg.target);
        fflush(stdout);
        done(p, 0);
    } else if (cn_term_match(reply, "{error, {not_leader, none}}")) {
        fail(p, "%s does not lead and knows no leader (an election under way?)", a->node);
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
    cn_term req;
    if (is(a, "add"))
        req = cn_fmt(p, "{add_member, ~i, ~a}", a->cfg.target, a->cfg.member);
    else if (is(a, "remove"))
        req = cn_fmt(p, "{remove_member, ~i}", a->cfg.target);
    else if (a->cfg.target)
        req = cn_fmt(p, "{transfer, ~i}", a->cfg.target);
    else
        req = cn_fmt(p, "{transfer, any}");
    cn_dest d = { NULL, "raft_kv", a->node };
    /* an addition lasts as long as the new member takes to catch up */
    unsigned ms = is(a, "add") ? ADD_TIMEOUT_MS : ADMIN_TIMEOUT_MS;
    if (cn_call(p, d, &req, ms, answered, NULL) < 0)
        fail(p, "cannot reach %s", a->node);
}

/* The member's id: add reads it from the new node's info, remove NODE
 * from the members the node asked knows. */
static void id_found(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    admin *a = cn_proc_state(p);
    const char *asked = ud ? a->cfg.member : a->node;
    cn_term members, e;
    cn_list_iter li;
    uint32_t n;
    char node[CN_ATOM_BUF];
    if (st != CN_CALL_OK) {
        char text[1400];
        raft_call_failure(p, asked, st, reply, text, sizeof text);
        fail(p, "%s", text);
        return;
    }
    if (is(a, "add")) {
        a->cfg.target = (int)map_int(reply, "id");
        if (a->cfg.target < 1)
            fail(p, "%s gave no id (is it a raft_kv node?)", a->cfg.member);
        else
            ask(p);
        return;
    }
    if (map_get(reply, "members", &members) == 0 && cn_list_begin(&li, &members, &n) == 0)
        while (cn_list_next(&li, &e) == 1)
            if (map_get(&e, "node", &members) == 0 && cn_term_match(&members, "~a", node) &&
                strcmp(node, a->cfg.member) == 0) {
                a->cfg.target = (int)map_int(&e, "id");
                ask(p);
                return;
            }
    fail(p, "%s is not a member of the cluster", a->cfg.member);
}

static void start(cn_proc *p)
{
    admin *a = cn_proc_state(p);
    if (a->cfg.target || is(a, "transfer")) {
        ask(p);
        return;
    }
    int add = is(a, "add");
    cn_term req = cn_fmt(p, "info");
    cn_dest d = { NULL, "raft_kv", add ? a->cfg.member : a->node };
    if (cn_call(p, d, &req, ADMIN_TIMEOUT_MS, id_found, add ? a : NULL) < 0)
        fail(p, "cannot reach %s", d.node);
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
    start(p);
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


/* ---- status ------------------------------------------------------------- */

#define MAX_MEMBERS 64

typedef enum { ROW_WAIT, ROW_OK, ROW_DOWN, ROW_EMU } row_state;

typedef struct row {
    int       id;
    char      node[CN_ATOM_BUF];
    row_state state;
    char      err[1500];              /* ROW_DOWN: why */
    char      role[16], mode[16];
    long long term, leader, commit, applied, log_length, snapshot;
    int       members[MAX_MEMBERS];  /* the ids this member knows */
    int       nmembers;
} row;

typedef struct status_run {
    raft_admin_config cfg;
    int  *status;
    row   rows[MAX_MEMBERS];
    int   nrows, waiting;
} status_run;

static void put_json(const row *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "node", r->node);
    if (r->state == ROW_OK) {
        cJSON_AddStringToObject(o, "role", r->role);
        cJSON_AddNumberToObject(o, "term", (double)r->term);
        if (r->leader)
            cJSON_AddNumberToObject(o, "leader", (double)r->leader);
        else
            cJSON_AddNullToObject(o, "leader");
        cJSON_AddNumberToObject(o, "commit_index", (double)r->commit);
        cJSON_AddNumberToObject(o, "last_applied", (double)r->applied);
        cJSON_AddNumberToObject(o, "log_length", (double)r->log_length);
        cJSON_AddNumberToObject(o, "snapshot_index", (double)r->snapshot);
        cJSON_AddStringToObject(o, "mode", r->mode);
        cJSON *m = cJSON_AddArrayToObject(o, "members");
        for (int i = 0; i < r->nmembers; i++)
            cJSON_AddItemToArray(m, cJSON_CreateNumber(r->members[i]));
    } else {
        cJSON_AddStringToObject(o, "error", r->state == ROW_EMU
                                ? "an emulation member: it has no status call" : r->err);
    }
    char *txt = cJSON_PrintUnformatted(o);
    if (txt)
        printf("%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

static void put_line(const row *r)
{
    if (r->state == ROW_OK) {
        char leader[24];
        snprintf(leader, sizeof leader, r->leader ? "%lld" : "none", r->leader);
        printf("%-4d %-28s %-10s %6lld %-6s %10lld %10lld %10lld %10lld %d\n", r->id, r->node,
               r->role, r->term, leader, r->commit, r->applied, r->log_length, r->snapshot,
               r->nmembers);
    } else {
        printf("%-4d %-28s %s\n", r->id, r->node, r->state == ROW_EMU
               ? "emulation member (no status call)" : r->err);
    }
}

static int by_id(const void *a, const void *b)
{
    return ((const row *)a)->id - ((const row *)b)->id;
}

static void status_print(cn_proc *p)
{
    status_run *s = cn_proc_state(p);
    int down = 0;
    qsort(s->rows, (size_t)s->nrows, sizeof s->rows[0], by_id);
    if (!s->cfg.json)
        printf("%-4s %-28s %-10s %6s %-6s %10s %10s %10s %10s %s\n", "ID", "NODE", "ROLE",
               "TERM", "LEADER", "COMMIT", "APPLIED", "LOG", "SNAPSHOT", "MEMBERS");
    for (int i = 0; i < s->nrows; i++) {
        if (s->cfg.json)
            put_json(&s->rows[i]);
        else
            put_line(&s->rows[i]);
        down += s->rows[i].state == ROW_DOWN;
    }
    fflush(stdout);
    *s->status = down ? 1 : 0;
    cn_node_stop(cn_proc_node(p));
}

/* The value of the atom key in a map term; -1 if it has none. */
static int map_get(const cn_term *map, const char *key, cn_term *out)
{
    cn_map_iter it;
    cn_term k;
    uint32_t n;
    if (cn_map_begin(&it, map, &n) < 0)
        return -1;
    while (cn_map_next(&it, &k, out) == 1)
        if (cn_term_is_atom(&k, key))
            return 0;
    return -1;
}

static long long map_int(const cn_term *map, const char *key)
{
    cn_term v;
    long long x = 0;
    if (map_get(map, key, &v) < 0 || cn_term_get_long(&v, &x) < 0)
        return 0;
    return x;
}

static void map_atom(const cn_term *map, const char *key, char *out, size_t outsz)
{
    cn_term v;
    char atom[CN_ATOM_BUF];
    if (map_get(map, key, &v) == 0 && cn_term_match(&v, "~a", atom))
        snprintf(out, outsz, "%s", atom);
    else
        snprintf(out, outsz, "?");
}

/* Fills r from an info map; -1 if it is not one. */
static int read_info(const cn_term *info, row *r)
{
    cn_term v, e;
    cn_list_iter li;
    uint32_t count;
    if (map_get(info, "role", &v) < 0 || map_get(info, "term", &v) < 0)
        return -1;
    map_atom(info, "role", r->role, sizeof r->role);
    map_atom(info, "mode", r->mode, sizeof r->mode);
    r->term = map_int(info, "term");
    r->leader = map_int(info, "leader");       /* none: 0 */
    r->commit = map_int(info, "commit_index");
    r->applied = map_int(info, "last_applied");
    r->log_length = map_int(info, "log_length");
    r->snapshot = map_int(info, "snapshot_index");
    r->nmembers = 0;
    if (map_get(info, "members", &v) == 0 && cn_list_begin(&li, &v, &count) == 0)
        while (cn_list_next(&li, &e) == 1 && r->nmembers < MAX_MEMBERS)
            r->members[r->nmembers++] = (int)map_int(&e, "id");
    return 0;
}

static void row_answered(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    status_run *s = cn_proc_state(p);
    row *r = &s->rows[(intptr_t)ud];
    if (st != CN_CALL_OK) {
        char why[1400];
        raft_call_failure(p, r->node, st, reply, why, sizeof why);
        snprintf(r->err, sizeof r->err, "unreachable: %s", why);
        r->state = ROW_DOWN;
    } else if (read_info(reply, r) < 0) {
        snprintf(r->err, sizeof r->err, "answered something that is not raft_kv's info");
        r->state = ROW_DOWN;
    } else {
        r->state = ROW_OK;
    }
    if (--s->waiting == 0)
        status_print(p);
}

/* The first member's answer lists the members: each is asked itself. */
static void members_known(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    status_run *s = cn_proc_state(p);
    cn_term v, e;
    cn_list_iter li;
    uint32_t count;
    (void)ud;
    if (st != CN_CALL_OK || map_get(reply, "members", &v) < 0 ||
        cn_list_begin(&li, &v, &count) < 0) {
        char why[1400];
        if (st == CN_CALL_OK)
            snprintf(why, sizeof why, "%s answered something that is not raft_kv's info",
                     s->cfg.node);
        else
            raft_call_failure(p, s->cfg.node, st, reply, why, sizeof why);
        fprintf(stderr, "raft_kv status: %s\n", why);
        *s->status = 1;
        cn_node_stop(cn_proc_node(p));
        return;
    }
    while (cn_list_next(&li, &e) == 1 && s->nrows < MAX_MEMBERS) {
        row *r = &s->rows[s->nrows++];
        char kind[16];
        r->id = (int)map_int(&e, "id");
        map_atom(&e, "node", r->node, sizeof r->node);
        map_atom(&e, "kind", kind, sizeof kind);
        r->state = strcmp(kind, "emulation") == 0 ? ROW_EMU : ROW_WAIT;
    }
    s->waiting = 1;                 /* until every call is out */
    for (int i = 0; i < s->nrows; i++) {
        row *r = &s->rows[i];
        if (r->state != ROW_WAIT)
            continue;
        if (strcmp(r->node, "none") == 0) {
            snprintf(r->err, sizeof r->err, "node not known yet");
            r->state = ROW_DOWN;
            continue;
        }
        cn_term req = cn_fmt(p, "info");
        cn_dest d = { NULL, "raft_kv", r->node };
        s->waiting++;
        if (cn_call(p, d, &req, ADMIN_TIMEOUT_MS / 2, row_answered, (void *)(intptr_t)i) < 0)
            row_answered(p, CN_CALL_DOWN, NULL, (void *)(intptr_t)i);
    }
    if (--s->waiting == 0)
        status_print(p);
}

static int status_init(cn_proc *p, void *arg)
{
    status_run *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->cfg = *(const raft_admin_config *)((void **)arg)[0];
    s->status = ((void **)arg)[1];
    cn_proc_set_state(p, s);
    cn_term req = cn_fmt(p, "info");
    cn_dest d = { NULL, "raft_kv", s->cfg.node };
    if (cn_call(p, d, &req, ADMIN_TIMEOUT_MS / 2, members_known, NULL) < 0)
        members_known(p, CN_CALL_DOWN, NULL, NULL);
    return 0;
}

static const cn_proc_ops status_ops = {
    .kind = "raft_status", .init = status_init, .terminate = admin_terminate,
    .unhandled = CN_UNHANDLED_LOG,
};

cn_proc *raft_admin_start(cn_node *n, const raft_admin_config *cfg, int *status)
{
    void *arg[2] = { (void *)cfg, status };
    return cn_spawn(n, strcmp(cfg->command, "status") == 0 ? &status_ops : &admin_ops, arg, NULL);
}
