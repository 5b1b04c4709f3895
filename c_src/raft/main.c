/* main.c - priv/bin/raft_kv: a Raft KV node, or a client of one.
 *
 *   raft_kv --sname NAME --cookie C --id N [--mode raft|emulation]
 *           [--data-dir DIR] [--peers FILE] [--election-timeout MS]
 *           [--heartbeat MS] [--trace-file PATH | --quiet] [--seed N]
 *           [--initial-cluster-state new|existing]
 *   raft_kv client --sname NAME --cookie C --node NODE [--ops N] [--seed N]
 *   raft_kv load   --sname NAME --cookie C --node NODE [--inflight K]
 *                  [--seconds S] [--value-bytes B] [--seed N]
 *   raft_kv admin  --sname NAME --cookie C --node NODE transfer [ID] | add NEW | remove M
 *   raft_kv status --sname NAME --cookie C --node NODE [--json]
 *   raft_kv emulate --sname NAME [--peers FILE | --nodes N --clients M]
 *                  [--mode emulation|raft] [--seed N]
 *       the Gleam emulation's whole run in one C node: num_nodes nodes and
 *       num_clients clients (from the peers file, else 5 and 3), node 1 elected
 *
 * A node waits for set_peers (from a Gleam or Erlang main) unless --peers
 * names its cluster (peers.json; its own entry found by --id or by name).
 * Trace lines (the seed's format; in raft mode only with --trace or --trace-file)
 * go to stdout, logs to stderr; "ready NODE"
 * on stdout says the node is registered and serving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../node/cli.h"
#include "raft_admin.h"
#include "raft_client.h"
#include "raft_emulate.h"
#include "raft_storage.h"
#include "raft_node.h"

enum {
    OPT_ID = 1, OPT_MODE, OPT_DATA_DIR, OPT_PEERS, OPT_ELECTION, OPT_HEARTBEAT, OPT_TRACE,
    OPT_QUIET, OPT_SEED, OPT_NODE, OPT_OPS, OPT_INFLIGHT, OPT_SECONDS, OPT_VALUE, OPT_HELP,
    OPT_NODES, OPT_CLIENTS, OPT_JSON, OPT_TRACE_ON, OPT_SNAP_ENTRIES, OPT_SNAP_BYTES,
    OPT_SNAP_TRAILING, OPT_KEYS, OPT_CLUSTER_STATE,
};

static void usage(FILE *f)
{
    cn_cli_help(f,
            "usage: raft_kv --sname NAME --id N [options]        a Raft KV node\n"
            "       raft_kv client --sname NAME --node NODE [--ops N] [--seed N]\n"
            "       raft_kv load --sname NAME --node NODE [--inflight K] [--seconds S]\n"
            "                    [--value-bytes B] [--keys N]   (N keys in turn, each put then\n"
            "                    deleted; default a new key per put)\n"
            "       raft_kv admin --sname NAME --node NODE transfer [ID]   hand leadership\n"
            "                    to member ID (default: the C member most up to date)\n"
            "       raft_kv admin --sname NAME --node NODE add NEW   add the raft_kv node NEW\n"
            "                    (started with --id and no peers) as a voting member\n"
            "       raft_kv admin --sname NAME --node NODE remove MEMBER   remove a member\n"
            "                    (its node name or id; it need not be running)\n"
            "       raft_kv status --sname NAME --node NODE [--json]   one row per member,\n"
            "                    read from each member (exit 1 if one does not answer)\n"
            "       raft_kv emulate --sname NAME [--peers FILE | --nodes N --clients M]\n"
            "                    [--mode emulation|raft]   the emulation's run, in C\n"
            "       raft_kv repair --data-dir DIR [--truncate]   a damaged log: what cutting\n"
            "                    loses; --truncate cuts it\n",
            "  --id N                 this node's id (or its entry in --peers)\n"
            "  --mode raft|emulation  full Raft (default) or the seed's designated leader\n"
            "  --data-dir DIR         persist term, vote and log (fsync before acknowledging)\n"
            "  --peers FILE           start with this cluster (peers.json) instead of\n"
            "                         waiting for set_peers\n"
            "  --election-timeout MS  minimum election timeout (default 300; max is twice it)\n"
            "  --heartbeat MS         heartbeat interval (default a quarter of the above)\n"
            "  --trace                trace lines on stdout (the seed's; default in\n"
            "                         emulation mode, off in raft mode)\n"
            "  --trace-file PATH      write trace lines there (implies --trace)\n"
            "  --quiet                no trace lines\n"
            "  --seed N               seed for randomized timeouts (and client ops)\n"
            "  --snapshot-entries N   snapshot the store and compact the log every N\n"
            "                         applied entries (default 100000; 0: never)\n"
            "  --snapshot-bytes B     ... or once the log holds B bytes of commands\n"
            "                         (default 67108864)\n"
            "  --snapshot-trailing N  entries kept in the log behind a snapshot, for\n"
            "                         followers a little behind (default 8192)\n"
            "  --initial-cluster-state new|existing\n"
            "                         existing: this node lost its log (a wiped or new\n"
            "                         disk, or no --data-dir) and rejoins its cluster: it\n"
            "                         votes for nobody until it has caught up (default new)\n");
}

typedef struct opts {
    const char *sub;
    cn_node_config node;
    raft_node_config raft;
    raft_client_config client;
    const char *peers_file, *trace_file;
    int quiet, trace_on;
    const char *nodes[64];
    raft_emulate_config emu;
    raft_admin_config admin;
    int mode_given;
} opts;

static int bad(const char *flag, const char *arg)
{
    return cn_cli_usage_error("raft_kv", "bad value for %s: '%s'", flag, arg);
}

static int parse_mode(opts *o, const char *arg)
{
    o->mode_given = 1;
    if (strcmp(arg, "raft") == 0)
        o->raft.mode = RAFT_MODE_RAFT;
    else if (strcmp(arg, "emulation") == 0)
        o->raft.mode = RAFT_MODE_EMULATION;
    else
        return bad("--mode (raft or emulation)", arg);
    return 0;
}

/* One option; 0 ok, -1 bad (reported), 1 help. */
static int apply(opts *o, int c, const char *arg)
{
    long v;
    switch (c) {
    case OPT_ID:
        if (cn_cli_int(arg, 1, 1 << 30, &v) < 0)
            return bad("--id", arg);
        o->raft.id = (int)v;
        return 0;
    case OPT_MODE:      return parse_mode(o, arg);
    case OPT_DATA_DIR:  o->raft.data_dir = arg; return 0;
    case OPT_PEERS:     o->peers_file = arg; return 0;
    case OPT_TRACE:     o->trace_file = arg; return 0;
    case OPT_QUIET:     o->quiet = 1; return 0;
    case OPT_TRACE_ON:  o->trace_on = 1; return 0;
    case OPT_ELECTION:
        if (cn_cli_int(arg, 10, 600000, &v) < 0)
            return bad("--election-timeout", arg);
        o->raft.election_min_ms = (unsigned)v;
        o->raft.election_max_ms = (unsigned)v * 2;
        return 0;
    case OPT_HEARTBEAT:
        if (cn_cli_int(arg, 1, 600000, &v) < 0)
            return bad("--heartbeat", arg);
        o->raft.heartbeat_ms = (unsigned)v;
        return 0;
    case OPT_SEED:
        if (cn_cli_int(arg, 0, 0x7fffffffL, &v) < 0)
            return bad("--seed", arg);
        o->raft.seed = o->client.seed = (uint64_t)v;
        return 0;
    case OPT_NODE:
        if (o->client.nnodes == 64)
            return bad("--node (too many)", arg);
        o->nodes[o->client.nnodes++] = arg;
        return 0;
    case OPT_OPS:
        if (cn_cli_int(arg, 0, 100000000, &v) < 0)
            return bad("--ops", arg);
        o->client.ops = (int)v;
        return 0;
    case OPT_INFLIGHT:
        if (cn_cli_int(arg, 1, 100000, &v) < 0)
            return bad("--inflight", arg);
        o->client.inflight = (int)v;
        return 0;
    case OPT_SECONDS:
        if (cn_cli_int(arg, 1, 86400, &v) < 0)
            return bad("--seconds", arg);
        o->client.seconds = (double)v;
        return 0;
    case OPT_VALUE:
        if (cn_cli_int(arg, 0, 1 << 20, &v) < 0)
            return bad("--value-bytes", arg);
        o->client.value_bytes = (int)v;
        return 0;
    case OPT_NODES:
        if (cn_cli_int(arg, 1, 1000, &v) < 0)
            return bad("--nodes", arg);
        o->emu.num_nodes = (int)v;
        return 0;
    case OPT_CLIENTS:
        if (cn_cli_int(arg, 0, 10000, &v) < 0)
            return bad("--clients", arg);
        o->emu.num_clients = (int)v;
        return 0;
    case OPT_JSON:      o->admin.json = 1; return 0;
    case OPT_KEYS:
        if (cn_cli_int(arg, 1, 1L << 40, &v) < 0)
            return bad("--keys", arg);
        o->client.keys = (uint64_t)v;
        return 0;
    case OPT_SNAP_ENTRIES:
        if (cn_cli_int(arg, 0, 1L << 40, &v) < 0)
            return bad("--snapshot-entries", arg);
        o->raft.snapshot_entries = (uint64_t)v;
        return 0;
    case OPT_SNAP_BYTES:
        if (cn_cli_int(arg, 1, 1L << 40, &v) < 0)
            return bad("--snapshot-bytes", arg);
        o->raft.snapshot_bytes = (uint64_t)v;
        return 0;
    case OPT_CLUSTER_STATE:
        if (strcmp(arg, "new") != 0 && strcmp(arg, "existing") != 0)
            return bad("--initial-cluster-state", arg);
        o->raft.existing = strcmp(arg, "existing") == 0;
        return 0;
    case OPT_SNAP_TRAILING:
        if (cn_cli_int(arg, 1, 1L << 40, &v) < 0)
            return bad("--snapshot-trailing", arg);
        o->raft.snapshot_trailing = (uint64_t)v;
        return 0;
    case OPT_HELP:
    case 'h':
        return 1;
    case '?':
        return -1;                       /* reported by cn_cli_getopt */
    default:
        return cn_cli_node_opt(&o->node, c, arg, "raft_kv") ? -1 : 0;
    }
}

static int parse(opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        CN_CLI_OPTIONS,
        { "id", required_argument, 0, OPT_ID },
        { "mode", required_argument, 0, OPT_MODE },
        { "data-dir", required_argument, 0, OPT_DATA_DIR },
        { "peers", required_argument, 0, OPT_PEERS },
        { "election-timeout", required_argument, 0, OPT_ELECTION },
        { "heartbeat", required_argument, 0, OPT_HEARTBEAT },
        { "trace-file", required_argument, 0, OPT_TRACE },
        { "trace", no_argument, 0, OPT_TRACE_ON },
        { "quiet", no_argument, 0, OPT_QUIET },
        { "seed", required_argument, 0, OPT_SEED },
        { "node", required_argument, 0, OPT_NODE },
        { "ops", required_argument, 0, OPT_OPS },
        { "inflight", required_argument, 0, OPT_INFLIGHT },
        { "seconds", required_argument, 0, OPT_SECONDS },
        { "value-bytes", required_argument, 0, OPT_VALUE },
        { "nodes", required_argument, 0, OPT_NODES },
        { "clients", required_argument, 0, OPT_CLIENTS },
        { "snapshot-entries", required_argument, 0, OPT_SNAP_ENTRIES },
        { "keys", required_argument, 0, OPT_KEYS },
        { "snapshot-bytes", required_argument, 0, OPT_SNAP_BYTES },
        { "snapshot-trailing", required_argument, 0, OPT_SNAP_TRAILING },
        { "initial-cluster-state", required_argument, 0, OPT_CLUSTER_STATE },
        { "json", no_argument, 0, OPT_JSON },
        { "help", no_argument, 0, OPT_HELP },
        { 0, 0, 0, 0 },
    };
    int c;
    if (argc > 1 && (strcmp(argv[1], "client") == 0 || strcmp(argv[1], "load") == 0 ||
                     strcmp(argv[1], "node") == 0 || strcmp(argv[1], "emulate") == 0 ||
                     strcmp(argv[1], "admin") == 0 || strcmp(argv[1], "status") == 0)) {
        o->sub = argv[1];
        argv++;
        argc--;
    }
    while ((c = cn_cli_getopt(argc, argv, "vh", lo, "raft_kv")) != -1) {
        int r = apply(o, c, optarg);
        if (r)
            return r;
    }
    if (o->sub && strcmp(o->sub, "admin") == 0)
        return raft_admin_parse(&o->admin, argc - optind, argv + optind);
    if (o->sub && strcmp(o->sub, "status") == 0)
        o->admin.command = "status";
    if (o->admin.json && !(o->sub && strcmp(o->sub, "status") == 0))
        return cn_cli_usage_error("raft_kv", "--json is for raft_kv status");
    if (optind < argc)
        return cn_cli_usage_error("raft_kv", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Finds our entry in the peers file: by --id, else by node name. */
static int own_entry(opts *o, const cn_peers *pf, const char *node_name)
{
    if (o->raft.id) {
        for (size_t i = 0; i < pf->count; i++) {
            const cn_peer_entry *e = &pf->nodes[i];
            if (e->id != o->raft.id)
                continue;
            if (e->name[0] && strcmp(e->name, node_name) != 0) {
                return cn_cli_usage_error("raft_kv", "--id %d is %s in %s, but this node is %s",
                                          o->raft.id, e->name, o->peers_file, node_name);
            }
            return 0;
        }
        return cn_cli_usage_error("raft_kv", "--id %d is not in %s", o->raft.id, o->peers_file);
    }
    const cn_peer_entry *e = cn_peers_find(pf, node_name);
    if (!e)
        return cn_cli_usage_error("raft_kv", "%s is not in %s (give --id)", node_name,
                                  o->peers_file);
    o->raft.id = e->id;
    return 0;
}

typedef struct run_ctx {
    opts    *o;
    cn_peers *pf;
    FILE    *trace;
    int      status;
    raft_storage *storage;          /* the data directory, loaded before the node is up */
} run_ctx;

/* A node's log is loaded before the node registers with epmd and
 * listens: a long log takes seconds to read, and peers that found the
 * node in epmd would time out on its connection setup meanwhile.  (With
 * no --id, the id comes from the peers file by node name, known only once
 * the node is up: then raft_node_start loads it.) */
static int prepare(uv_loop_t *loop, void *ud)
{
    run_ctx *x = ud;
    opts *o = x->o;
    char err[512];
    if ((o->sub && strcmp(o->sub, "node") != 0) || !o->raft.data_dir || !o->raft.id)
        return 0;
    x->storage = raft_storage_open(loop, o->raft.data_dir, o->raft.id, NULL, NULL, err,
                                   sizeof err);
    if (!x->storage) {
        fprintf(stderr, "raft_kv: %s\n", err);
        return 1;
    }
    return 0;
}

/* start_node did not get as far as handing the loaded log over. */
static int node_failed(run_ctx *x, int status)
{
    if (x->storage)
        raft_storage_close(x->storage, NULL, NULL);
    x->storage = NULL;
    return status;
}

static int start_node(cn_node *n, run_ctx *x)
{
    opts *o = x->o;
    char err[512];
    if (x->pf && own_entry(o, x->pf, cn_node_name(n)) < 0)
        return node_failed(x, CN_EXIT_USAGE);   /* the flags disagree with the file */
    if (!o->raft.id) {
        cn_cli_usage_error("raft_kv", "--id is required");
        return node_failed(x, CN_EXIT_USAGE);
    }
    /* the per-entry trace: the seed's, so on in emulation mode; in raft
     * mode only when asked for */
    int trace = o->trace_on || o->trace_file || o->raft.mode == RAFT_MODE_EMULATION;
    if (!o->quiet && trace) {
        x->trace = o->trace_file ? fopen(o->trace_file, "a") : stdout;
        if (!x->trace) {
            fprintf(stderr, "raft_kv: cannot open %s\n", o->trace_file);
            return node_failed(x, -1);
        }
        setvbuf(x->trace, NULL, _IOLBF, 0);
    }
    o->raft.trace = x->trace;
    o->raft.peers = x->pf;
    o->raft.storage = x->storage;   /* raft_node_start's from here, started or not */
    x->storage = NULL;
    cn_proc *p = raft_node_start(n, &o->raft, err, sizeof err);
    if (!p) {
        fprintf(stderr, "raft_kv: %s\n", err);
        return -1;
    }
    raft_node_stop_on_signal(p);    /* a leader hands over before it stops */
    return 0;
}

static int start(cn_node *n, void *ud)
{
    run_ctx *x = ud;
    opts *o = x->o;
    if (!o->sub || strcmp(o->sub, "node") == 0)
        return start_node(n, x);
    if (strcmp(o->sub, "emulate") == 0) {
        raft_emulate_config e = o->emu;
        if (!e.num_nodes)
            e.num_nodes = x->pf && x->pf->num_nodes ? x->pf->num_nodes : 5;
        if (!e.num_clients && !(x->pf && x->pf->num_clients == 0 && x->pf->num_nodes))
            e.num_clients = x->pf && x->pf->num_clients ? x->pf->num_clients : 3;
        e.ops = o->client.ops;
        e.mode = o->mode_given ? o->raft.mode : RAFT_MODE_EMULATION;
        e.seed = o->raft.seed;
        static raft_emulate_config keep;
        keep = e;
        return raft_emulate_start(n, &keep, &x->status) ? 0 : -1;
    }
    o->client.nodes = o->nodes;
    if (!o->client.nnodes) {
        cn_cli_usage_error("raft_kv", "%s: --node is required", o->sub);
        return CN_EXIT_USAGE;
    }
    if (strcmp(o->sub, "admin") == 0 || strcmp(o->sub, "status") == 0) {
        o->admin.node = o->nodes[0];
        return raft_admin_start(n, &o->admin, &x->status) ? 0 : -1;
    }
    cn_proc *p = strcmp(o->sub, "client") == 0 ? raft_client_start(n, &o->client, &x->status)
                                               : raft_load_start(n, &o->client, &x->status);
    return p ? 0 : -1;
}

/* Node mode prints "ready NODE"; client modes keep stdout for results. */
static int run(opts *o, cn_peers *pf)
{
    run_ctx x = { o, pf, NULL, 0, NULL };
    int node_mode = !o->sub || strcmp(o->sub, "node") == 0;
    cn_cli_app app = { .prog = "raft_kv", .prepare = prepare, .start = start, .ud = &x,
                       .quiet_ready = !node_mode };
    int rc = cn_cli_run(&o->node, &app);
    if (x.storage)                  /* loaded, then the node did not start: nothing */
        raft_storage_close(x.storage, NULL, NULL);  /* written, so it closes at once */
    if (x.trace && x.trace != stdout)
        fclose(x.trace);
    return rc ? rc : x.status;
}

/* raft_kv repair --data-dir DIR [--truncate] (no node: a file tool). */
static int repair(int argc, char **argv)
{
    const char *dir = NULL;
    int truncate = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--truncate") == 0)
            truncate = 1;
        else {
            cn_cli_usage_error("raft_kv", "repair: unknown argument '%s'", argv[i]);
            return CN_EXIT_USAGE;
        }
    }
    if (!dir) {
        cn_cli_usage_error("raft_kv", "repair: --data-dir DIR is required");
        return CN_EXIT_USAGE;
    }
    int rc = raft_storage_repair(dir, truncate, stdout);
    return rc < 0 ? 1 : rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "repair") == 0)
        return repair(argc, argv);
    opts o;
    memset(&o, 0, sizeof o);
    o.raft.snapshot_entries = 100000;
    o.client.ops = 5;
    o.client.inflight = 1;
    o.client.seconds = 10;
    o.client.value_bytes = 100;
    int r = parse(&o, argc, argv);
    if (r > 0) {
        usage(stdout);
        return 0;
    }
    if (r < 0)
        return CN_EXIT_USAGE;
    cn_peers pf, *pfp = NULL;
    if (o.peers_file) {
        char err[512];
        if (cn_peers_load(o.peers_file, &pf, err, sizeof err) < 0) {
            cn_cli_usage_error("raft_kv", "--peers: %s", err);
            return CN_EXIT_USAGE;
        }
        pfp = &pf;
        if (!o.node.cookie && pf.cookie[0])
            o.node.cookie = pf.cookie;
        /* no name given: be the entry --id names, at its port */
        for (size_t i = 0; !o.node.name && o.raft.id && i < pf.count; i++)
            if (pf.nodes[i].id == o.raft.id) {
                o.node.name = pf.nodes[i].name;
                o.node.port = pf.nodes[i].port;
            }
    }
    if (cn_cli_node_check(&o.node, "raft_kv") < 0) {
        if (pfp)
            cn_peers_free(pfp);
        return CN_EXIT_USAGE;
    }
    int status = run(&o, pfp);
    if (pfp)
        cn_peers_free(pfp);
    cn_atom_cleanup();
    return status;
}
