/* raft_emulate.c - `raft_kv emulate`: the Gleam emulation's main, in C.
 *
 * One C node hosts num_nodes raft_kv processes and num_clients clients, as
 * the emulation's single BEAM does: it starts the nodes, sends each its
 * peers, sends start_election to node 1, starts the clients against it and
 * ends when they are done, printing the seed's lines ("Config: 5 nodes, 3
 * clients", "Started node 1", ..., "Done") among the nodes' trace.  Where
 * the seed sleeps (200 ms for the election, 3 s for the clients), this waits
 * for the events instead: node 1 reporting itself leader, each client
 * reporting done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_emulate.h"
#include "raft_node.h"

#define ELECTION_POLL_MS 10
#define ELECTION_WAIT_MS 5000

typedef struct emulate {
    raft_emulate_config cfg;
    int        *status;
    cn_proc   **nodes;
    cn_subject *subjects;
    int         clients_left;
    unsigned    waited_ms;
    raft_client_config client;
} emulate;

static void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

static void start_clients(cn_proc *p)
{
    emulate *e = cn_proc_state(p);
    char line[128];
    say("Election complete, starting clients");
    e->client.subject = &e->subjects[0];
    e->client.report = cn_self(p);
    e->client.ops = e->cfg.ops;
    e->clients_left = e->cfg.num_clients;
    for (int i = 1; i <= e->cfg.num_clients; i++) {
        e->client.id = i;
        e->client.seed = e->cfg.seed ? e->cfg.seed * 1000 + (uint64_t)i : 0;
        if (!raft_client_start(cn_proc_node(p), &e->client, e->status)) {
            *e->status = 1;
            e->clients_left--;
            continue;
        }
        snprintf(line, sizeof line, "Started client %d", i);
        say(line);
    }
    snprintf(line, sizeof line, "All %d clients started sending requests", e->cfg.num_clients);
    say(line);
    if (e->clients_left == 0) {
        say("Done");
        cn_node_stop(cn_proc_node(p));
    }
}

/* Is node 1 leader yet?  (The seed sleeps 200 ms here.) */
static void check_election(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud)
{
    emulate *e = cn_proc_state(p);
    cn_term role;
    cn_map_iter it;
    cn_term k, v;
    (void)ud;
    int leader = 0;
    if (st == CN_CALL_OK && cn_map_begin(&it, reply, NULL) == 0)
        while (cn_map_next(&it, &k, &v) == 1)
            if (cn_term_is_atom(&k, "role")) {
                role = v;
                leader = cn_term_is_atom(&role, "leader");
            }
    if (leader || e->waited_ms >= ELECTION_WAIT_MS) {
        start_clients(p);
        return;
    }
    e->waited_ms += ELECTION_POLL_MS;
    cn_timeout(p, ELECTION_POLL_MS);
}

static void ask_node1(cn_proc *p)
{
    emulate *e = cn_proc_state(p);
    cn_term req = cn_fmt(p, "status");
    cn_dest d = { cn_self(e->nodes[0]), NULL, NULL };
    if (cn_call(p, d, &req, 1000, check_election, NULL) < 0)
        start_clients(p);
}

static void em_timeout(cn_proc *p) { ask_node1(p); }

static int em_info(cn_proc *p, const cn_term *msg)
{
    emulate *e = cn_proc_state(p);
    int id;
    if (!cn_term_match(msg, "{raft_client_done, ~i}", &id))
        return CN_UNHANDLED;
    if (--e->clients_left == 0) {
        say("Done");
        cn_node_stop(cn_proc_node(p));
    }
    return CN_OK;
}

static int start_nodes(cn_proc *p, emulate *e, char *err, size_t errlen)
{
    char line[128];
    int n = e->cfg.num_nodes;
    raft_node_config nc = { .mode = e->cfg.mode, .trace = stdout, .unregistered = 1,
                            .seed = e->cfg.seed };
    for (int i = 0; i < n; i++) {
        nc.id = i + 1;
        e->nodes[i] = raft_node_start(cn_proc_node(p), &nc, err, errlen);
        if (!e->nodes[i])
            return -1;
        raft_node_subject(e->nodes[i], &e->subjects[i]);
        snprintf(line, sizeof line, "Started node %d", i + 1);
        say(line);
    }
    /* {set_peers, [{Id, Subject}]} with every node but the receiver */
    for (int i = 0; i < n; i++) {
        cn_buf b;
        cn_buf_init(&b);
        cn_term_put_tuple(&b, 2);
        cn_term_put_atom(&b, "set_peers");
        if (n > 1)
            cn_term_put_list(&b, (uint32_t)(n - 1));
        for (int k = 0; k < n; k++) {
            if (k == i)
                continue;
            cn_term_put_tuple(&b, 2);
            cn_term_put_long(&b, k + 1);
            cn_subject_put(&b, &e->subjects[k]);
        }
        cn_term_put_nil(&b);
        cn_term t = cn_buf_term(&b, 0);
        cn_subject_send(p, &e->subjects[i], &t);
        cn_buf_free(&b);
    }
    say("All peers configured");
    cn_subject_sendf(p, &e->subjects[0], "start_election");
    return 0;
}

static int em_init(cn_proc *p, void *arg)
{
    void **a = arg;
    emulate *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    cn_proc_set_state(p, e);
    e->cfg = *(const raft_emulate_config *)a[0];
    e->status = a[1];
    e->nodes = calloc((size_t)e->cfg.num_nodes, sizeof *e->nodes);
    e->subjects = calloc((size_t)e->cfg.num_nodes, sizeof *e->subjects);
    char err[256], line[128];
    snprintf(line, sizeof line, "Config: %d nodes, %d clients", e->cfg.num_nodes,
             e->cfg.num_clients);
    say(line);
    if (!e->nodes || !e->subjects || start_nodes(p, e, err, sizeof err) < 0) {
        fprintf(stderr, "raft_kv emulate: %s\n", e->nodes ? err : "out of memory");
        return -1;
    }
    ask_node1(p);
    return 0;
}

static void em_terminate(cn_proc *p, const cn_term *reason)
{
    emulate *e = cn_proc_state(p);
    (void)reason;
    if (!e)
        return;
    free(e->nodes);
    free(e->subjects);
    free(e);
}

static const cn_proc_ops emulate_ops = {
    .kind = "raft_emulate", .init = em_init, .handle_info = em_info,
    .handle_timeout = em_timeout, .terminate = em_terminate, .unhandled = CN_UNHANDLED_LOG,
};

cn_proc *raft_emulate_start(cn_node *n, const raft_emulate_config *cfg, int *status)
{
    void *arg[2] = { (void *)cfg, status };
    return cn_spawn(n, &emulate_ops, arg, NULL);
}
