/* main.c - priv/bin/gossip_chat: a peer-to-peer terminal chat whose nodes
 * are Erlang distribution nodes gossiping with each other.
 *
 *   gossip_chat alice                       start a chat
 *   gossip_chat bob --join alice            join it through any member
 *   gossip_chat carol --join bob --json --input script.txt
 *
 * Typed lines appear on every node as "[sender] text"; /peers lists the live
 * members; /quit, EOF or SIGINT leave gracefully.  --json prints every event
 * as a JSON line (non-interactive mode).  "ready NODE" on stdout says the
 * node is registered and serving.  docs/gossip.md has the protocol.
 * Exit status: 0 after a clean stop, 1 if the node cannot start, 2 for bad
 * flags.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../node/cli.h"
#include "../node/peers.h"
#include "gc_input.h"
#include "gc_node.h"

enum {
    OPT_JOIN = 1, OPT_PEERS, OPT_JSON, OPT_INPUT, OPT_SAY, OPT_STAY, OPT_LOG, OPT_SEED,
    OPT_RINGS, OPT_PERIOD, OPT_PING_TIMEOUT, OPT_INDIRECT, OPT_SUSPECT_MIN, OPT_SUSPECT_MAX,
    OPT_PEER_LIST, OPT_SYNC, OPT_RECONNECT_TIMEOUT, OPT_HISTORY, OPT_HISTORY_SECONDS, OPT_HELP,
};

#define MAX_SAY 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gossip_chat NAME [--join NODE] [options]\n"
            "       gossip_chat --sname NAME [--join NODE] [options]\n"
            "  --join NODE          join through NODE (alive or alive@host), any member\n"
            "  --peers FILE         start with the nodes of a cluster file (peers.json)\n"
            "  --json               print events as JSON lines (for scripts and tests)\n"
            "  --input FILE         read lines from FILE instead of stdin ('-': stdin)\n"
            "  --say TEXT           send TEXT once joined (repeatable; before the input)\n"
            "  --stay               keep running when the input ends\n"
            "  --log FILE           write logs to FILE instead of stderr\n"
            "  --seed N             seed of the random choices (default: from the OS)\n"
            "protocol parameters (docs/gossip.md; every node should use the same):\n"
            "  --rings N            hash rings: at most 2N neighbours (default 3)\n"
            "  --period MS          ping every neighbour this often (default 500)\n"
            "  --ping-timeout MS    then probe indirectly (default 300)\n"
            "  --indirect-timeout MS  then suspect (default 500)\n"
            "  --suspect-min MS     suspicion timeout when confirmed (default 1500)\n"
            "  --suspect-max MS     suspicion timeout unconfirmed (default 6000)\n"
            "  --peer-list MS       peer-list exchange period (default 2000)\n"
            "  --sync MS            push/pull membership with a random member (default 30000)\n"
            "  --reconnect-timeout S  keep retrying a failed member this long (default 86400)\n"
            "  --history N          lines kept to resend after a partition heals (default 10000)\n"
            "  --history-seconds S  ... shown at most S seconds ago (default 300)\n"
            "commands: /peers  /quit  /wait N  /help\n"
            CN_CLI_USAGE);
}

typedef struct opts {
    cn_node_config    node;
    gc_node_config    gossip;
    gc_input_config   input;
    const char       *join, *peers_file, *log_file;
    const char       *say[MAX_SAY];
    char              join_full[GC_NAME_MAX + 1];
} opts;

static int bad(const char *flag, const char *arg)
{
    fprintf(stderr, "gossip_chat: bad value for %s: '%s'\n", flag, arg);
    return -1;
}

static int ms(const char *flag, const char *arg, unsigned *out, long min, long max)
{
    long v;
    if (cn_cli_int(arg, min, max, &v) < 0)
        return bad(flag, arg);
    *out = (unsigned)v;
    return 0;
}

/* Seconds, kept in ms (at most 49 days). */
static int secs(const char *flag, const char *arg, unsigned *out)
{
    int r = ms(flag, arg, out, 1, 4000000);
    *out *= 1000;
    return r;
}

/* One option: 0 ok, 1 help, -1 bad (reported). */
static int apply(opts *o, int c, const char *arg)
{
    gc_params *p = &o->gossip.params;
    long v;
    switch (c) {
    case OPT_JOIN:    o->join = arg; return 0;
    case OPT_PEERS:   o->peers_file = arg; return 0;
    case OPT_JSON:    o->gossip.out->json = 1; return 0;
    case OPT_INPUT:   o->input.file = arg; return 0;
    case OPT_STAY:    o->input.stay = 1; return 0;
    case OPT_LOG:     o->log_file = arg; return 0;
    case OPT_SAY:
        if (o->input.nsay == MAX_SAY)
            return bad("--say (too many)", arg);
        o->say[o->input.nsay++] = arg;
        return 0;
    case OPT_SEED:
        if (cn_cli_int(arg, 1, 0x7fffffffL, &v) < 0)
            return bad("--seed", arg);
        o->gossip.seed = (uint64_t)v;
        return 0;
    case OPT_RINGS:        return ms("--rings", arg, &p->rings, 1, GC_MAX_RINGS);
    case OPT_PERIOD:       return ms("--period", arg, &p->period_ms, 10, 600000);
    case OPT_PING_TIMEOUT: return ms("--ping-timeout", arg, &p->ping_timeout_ms, 1, 600000);
    case OPT_INDIRECT:     return ms("--indirect-timeout", arg, &p->indirect_timeout_ms, 1, 600000);
    case OPT_SUSPECT_MIN:  return ms("--suspect-min", arg, &p->suspect_min_ms, 1, 3600000);
    case OPT_SUSPECT_MAX:  return ms("--suspect-max", arg, &p->suspect_max_ms, 1, 3600000);
    case OPT_PEER_LIST:    return ms("--peer-list", arg, &p->peer_list_ms, 10, 3600000);
    case OPT_SYNC:         return ms("--sync", arg, &p->sync_ms, 10, 86400000);
    case OPT_RECONNECT_TIMEOUT:
        return secs("--reconnect-timeout", arg, &p->reconnect_timeout_ms);
    case OPT_HISTORY:      return ms("--history", arg, &p->history_lines, 1, 10000000);
    case OPT_HISTORY_SECONDS: return secs("--history-seconds", arg, &p->history_ms);
    case OPT_HELP:
    case 'h':
        return 1;
    default: {
        int r = cn_cli_node_opt(&o->node, c, arg, "gossip_chat");
        if (r > 0)
            fprintf(stderr, "gossip_chat: unknown option (see --help)\n");
        return r ? -1 : 0;
    }
    }
}

static int parse(opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        CN_CLI_OPTIONS,
        { "join", required_argument, 0, OPT_JOIN },
        { "peers", required_argument, 0, OPT_PEERS },
        { "json", no_argument, 0, OPT_JSON },
        { "input", required_argument, 0, OPT_INPUT },
        { "say", required_argument, 0, OPT_SAY },
        { "stay", no_argument, 0, OPT_STAY },
        { "log", required_argument, 0, OPT_LOG },
        { "seed", required_argument, 0, OPT_SEED },
        { "rings", required_argument, 0, OPT_RINGS },
        { "period", required_argument, 0, OPT_PERIOD },
        { "ping-timeout", required_argument, 0, OPT_PING_TIMEOUT },
        { "indirect-timeout", required_argument, 0, OPT_INDIRECT },
        { "suspect-min", required_argument, 0, OPT_SUSPECT_MIN },
        { "suspect-max", required_argument, 0, OPT_SUSPECT_MAX },
        { "peer-list", required_argument, 0, OPT_PEER_LIST },
        { "sync", required_argument, 0, OPT_SYNC },
        { "reconnect-timeout", required_argument, 0, OPT_RECONNECT_TIMEOUT },
        { "history", required_argument, 0, OPT_HISTORY },
        { "history-seconds", required_argument, 0, OPT_HISTORY_SECONDS },
        { "help", no_argument, 0, OPT_HELP },
        { 0, 0, 0, 0 },
    };
    int c;
    cn_cli_args(argc, argv);
    while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
        int r = apply(o, c, optarg);
        if (r)
            return r;
    }
    if (optind < argc && !o->node.name)
        o->node.name = argv[optind++];     /* gossip_chat NAME: as --sname NAME */
    if (optind < argc) {
        fprintf(stderr, "gossip_chat: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->join && o->peers_file) {
        fprintf(stderr, "gossip_chat: give --join or --peers, not both\n");
        return -1;
    }
    gc_params *p = &o->gossip.params;
    if (p->suspect_min_ms && p->suspect_max_ms && p->suspect_min_ms > p->suspect_max_ms) {
        fprintf(stderr, "gossip_chat: --suspect-min is above --suspect-max\n");
        return -1;
    }
    o->input.say = o->say;
    return cn_cli_node_check(&o->node, "gossip_chat");
}

/* The cluster file's node names (the core leaves ours out). */
static const char **file_members(const cn_peers *pf, size_t *n)
{
    const char **names = calloc(pf->count ? pf->count : 1, sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < pf->count; i++)
        names[i] = pf->nodes[i].name;
    *n = pf->count;
    return names;
}

/* --join bob means bob@<our host>; checked before the node starts. */
static int check_join(const char *join)
{
    char probe[GC_NAME_MAX + 3];
    snprintf(probe, sizeof probe, "%s%s", join, strchr(join, '@') ? "" : "@h");
    if (strlen(join) > GC_NAME_MAX || !gc_name_valid(probe, strlen(probe))) {
        fprintf(stderr, "gossip_chat: --join needs a node name (alive or alive@host), not '%s'\n",
                join);
        return -1;
    }
    return 0;
}

static void full_join_name(opts *o, const char *self)
{
    const char *at = strchr(self, '@');
    if (strchr(o->join, '@'))
        snprintf(o->join_full, sizeof o->join_full, "%s", o->join);
    else
        snprintf(o->join_full, sizeof o->join_full, "%s%s", o->join, at ? at : "");
    o->gossip.join = o->join_full;
}

/* SIGINT and SIGTERM are the runtime's: its stop ends the gossip process,
 * whose terminate sends {leave, Self} before the connections close. */
typedef struct run_state {
    opts       *o;
    gc_input   *in;
    gc_node    *g;
    cn_node    *n;
} run_state;

static void on_stop(void *ud)
{
    run_state *rs = ud;
    if (rs->in)
        gc_input_stop(rs->in);
}

static void on_change(void *ud)
{
    run_state *rs = ud;
    gc_input_changed(rs->in);
}

/* cn_cli_run's start: input, the gossip process; then "ready",
 * then the chat starts (its first events follow the ready line). */
static int start(cn_node *n, void *ud)
{
    run_state *rs = ud;
    opts *o = rs->o;
    uv_loop_t *loop = cn_node_loop(n);
    char err[512];
    rs->n = n;
    rs->in = gc_input_new(loop, o->gossip.out, &o->input, err, sizeof err);
    if (!rs->in) {
        fprintf(stderr, "gossip_chat: %s\n", err);
        return -1;
    }
    if (o->join)
        full_join_name(o, cn_node_name(n));
    o->gossip.on_change = on_change;
    o->gossip.on_stop = on_stop;
    o->gossip.ud = rs;
    rs->g = gc_node_start(n, &o->gossip, err, sizeof err);
    if (!rs->g) {
        fprintf(stderr, "gossip_chat: %s\n", err);
        on_stop(rs);
        return -1;
    }
    printf("ready %s\n", cn_node_name(n));
    fflush(stdout);
    gc_node_run(rs->g);
    gc_input_start(rs->in, rs->g);
    return 0;
}

int main(int argc, char **argv)
{
    static opts o;
    static gc_out out;
    out.f = stdout;
    o.gossip.out = &out;
    int r = parse(&o, argc, argv);
    if (r > 0) {
        usage(stdout);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "gossip_chat: see gossip_chat --help\n");
        return 2;
    }
    if (o.log_file && !freopen(o.log_file, "a", stderr)) {
        fprintf(stdout, "gossip_chat: cannot open %s\n", o.log_file);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.join && check_join(o.join) < 0)
        return 2;
    if (o.input.file && strcmp(o.input.file, "-") != 0) {
        FILE *f = fopen(o.input.file, "r");
        if (!f) {
            fprintf(stderr, "gossip_chat: cannot open %s: %s\n", o.input.file, strerror(errno));
            return 2;
        }
        fclose(f);
    }
    cn_peers pf, *pfp = NULL;
    const char **members = NULL;
    if (o.peers_file) {
        char err[512];
        if (cn_peers_load(o.peers_file, &pf, err, sizeof err) < 0) {
            fprintf(stderr, "gossip_chat: %s\n", err);
            return 2;
        }
        pfp = &pf;
        if (!o.node.cookie && pf.cookie[0])
            o.node.cookie = pf.cookie;
        members = file_members(pfp, &o.gossip.nmembers);
        o.gossip.members = members;
    }
    run_state rs = { .o = &o };
    cn_cli_app app = { .prog = "gossip_chat", .start = start, .ud = &rs, .quiet_ready = 1 };
    int status = cn_cli_run(&o.node, &app);
    gc_node_free(rs.g);
    gc_input_free(rs.in);
    free(members);
    if (pfp)
        cn_peers_free(pfp);
    cn_atom_cleanup();
    return status;
}
