/* cb_config.c - parsing chatterbox's flags and finding the node in
 * peers.json (see cb_config.h).  Every mistake is reported with the flag or
 * file it came from; the caller exits with CB_EXIT_USAGE. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "../node/cli.h"
#include "cb_config.h"

enum {
    OPT_PEERS = 2000,
    OPT_SEND_FOR,
    OPT_WAIT_FOR,
    OPT_SEED,
    OPT_TICK,
    OPT_PROTOCOL,
    OPT_BATCH,
    OPT_WINDOW,
    OPT_MAX_RATE,
    OPT_TRACE,
    OPT_CUT_AT,
    OPT_CUT_FOR,
    OPT_HELP,
};

void cb_config_usage(FILE *f)
{
    cn_cli_help(f,
        "usage: chatterbox (-p PORT | --sname NAME | --name NAME) [options]\n"
        "Broadcasts random numbers to every node of peers.json for --send-for seconds,\n"
        "then prints (|m|, sum of i * m_i) over all messages in send-time order.\n",
        "  -p PORT                   distribution port; without a name, the node is\n"
        "                            the peers.json entry with this port\n"
        "  -h HOST                   listen address (and the entry's host, with -p)\n"
        "  --peer-config-file FILE   the cluster (default peers.json)\n"
        "  --send-for SECONDS        sending phase (default 10; decimals allowed)\n"
        "  --wait-for SECONDS        grace period to finish and print (default 5)\n"
        "  --with-seed N             seed of the message values (default 0)\n"
        "  --tick-duration MS        ticker period: batching and re-sends (default 10)\n"
        "  --protocol fast|seed      fast (default) or the seed's stop-and-wait\n"
        "  --verbose                 progress on stderr every second (and -v logs)\n"
        "fast protocol tuning:\n"
        "  --batch-size N            messages per batch (default 4096, max 65536)\n"
        "  --window N                own messages unacked by someone (default 262144)\n"
        "  --max-rate N              own messages per second (default 0: no limit)\n"
        "testing:\n"
        "  --trace FILE              machine-readable log: every message sent, result\n"
        "  --cut-at S --cut-for S    from S seconds after start, drop every connection\n"
        "                            to the cluster (and refuse new ones) for S seconds\n");
}

/* A non-negative decimal number of seconds, at most a day. */
static int parse_seconds(const char *s, uint64_t *us)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
        return -1;
    *us = (uint64_t)llround(v * 1e6);
    return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int bad(const char *flag, const char *what, const char *arg)
{
    cn_cli_usage_error("chatterbox", "%s needs %s, not '%s'", flag, what, arg);
    return CB_EXIT_USAGE;
}

/* -h HOST as an IPv4 address for the listener. */
static int listen_address(cb_config *cfg, const char *host)
{
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1) {
        snprintf(cfg->listen_addr, sizeof cfg->listen_addr, "%s", host);
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    int r = getaddrinfo(host, NULL, &hints, &res);
    if (r != 0 || !res) {
        cn_cli_usage_error("chatterbox", "-h %s: %s", host, r ? gai_strerror(r) : "no address");
        return CB_EXIT_USAGE;
    }
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, cfg->listen_addr,
              sizeof cfg->listen_addr);
    freeaddrinfo(res);
    return 0;
}

static int one_option(cb_config *cfg, int c, const char *arg, const char **host, long *port)
{
    uint64_t v;
    switch (c) {
    case 'p':
        if (cn_cli_int(arg, 1, 65535, port) < 0)
            return bad("-p", "a port number 1..65535", arg);
        cfg->node.port = (int)*port;
        return 0;
    case 'h':
        *host = arg;
        return 0;
    case OPT_PEERS:
        cfg->peers_path = arg;
        return 0;
    case OPT_SEND_FOR:
        return parse_seconds(arg, &cfg->send_for_us) < 0
                   ? bad("--send-for", "seconds (0..86400)", arg) : 0;
    case OPT_WAIT_FOR:
        return parse_seconds(arg, &cfg->wait_for_us) < 0
                   ? bad("--wait-for", "seconds (0..86400)", arg) : 0;
    case OPT_SEED:
        return parse_u64(arg, UINT64_MAX, &cfg->seed) < 0
                   ? bad("--with-seed", "an integer 0..2^64-1", arg) : 0;
    case OPT_TICK:
        if (parse_u64(arg, 60000, &v) < 0 || v < 1)
            return bad("--tick-duration", "milliseconds 1..60000", arg);
        cfg->tick_ms = (unsigned)v;
        return 0;
    case OPT_PROTOCOL:
        if (strcmp(arg, "fast") == 0)
            cfg->protocol = CB_FAST;
        else if (strcmp(arg, "seed") == 0)
            cfg->protocol = CB_SEED;
        else
            return bad("--protocol", "fast or seed", arg);
        return 0;
    case OPT_BATCH:
        if (parse_u64(arg, 65536, &v) < 0 || v < 1)
            return bad("--batch-size", "a count 1..65536", arg);
        cfg->batch = (uint32_t)v;
        return 0;
    case OPT_WINDOW:
        if (parse_u64(arg, 1u << 26, &v) < 0 || v < 1)
            return bad("--window", "a count 1..67108864", arg);
        cfg->window = (uint32_t)v;
        return 0;
    case OPT_MAX_RATE:
        return parse_u64(arg, 1000000000, &cfg->max_rate) < 0
                   ? bad("--max-rate", "messages per second 0..10^9", arg) : 0;
    case OPT_TRACE:
        cfg->trace_path = arg;
        return 0;
    case OPT_CUT_AT:
        cfg->cut |= 1;
        return parse_seconds(arg, &cfg->cut_at_us) < 0
                   ? bad("--cut-at", "seconds (0..86400)", arg) : 0;
    case OPT_CUT_FOR:
        cfg->cut |= 2;
        return parse_seconds(arg, &cfg->cut_for_us) < 0
                   ? bad("--cut-for", "seconds (0..86400)", arg) : 0;
    case CN_OPT_VERBOSE:
    case 'v':
        cfg->progress = 1;
        return cn_cli_node_opt(&cfg->node, c, arg, "chatterbox") < 0 ? CB_EXIT_USAGE : 0;
    default:
        return cn_cli_node_opt(&cfg->node, c, arg, "chatterbox") ? CB_EXIT_USAGE : 0;
    }
}

/* With -p and no name: the peers.json entry with that port (and host). */
static int name_from_port(cb_config *cfg, long port, const char *host)
{
    int found = -1, many = 0;
    for (size_t i = 0; i < cfg->peers.count; i++) {
        const cn_peer_entry *e = &cfg->peers.nodes[i];
        if (e->port != port || (host && strcmp(e->host, host) != 0))
            continue;
        if (found >= 0)
            many = 1;
        found = (int)i;
    }
    if (found < 0) {
        cn_cli_usage_error("chatterbox", "%s lists no node with port %ld%s%s; give --sname or "
                           "--name", cfg->peers_path, port, host ? " and host " : "", host ? host : "");
        return CB_EXIT_USAGE;
    }
    if (many) {
        cn_cli_usage_error("chatterbox", "%s lists several nodes with port %ld; give -h HOST or "
                           "a name", cfg->peers_path, port);
        return CB_EXIT_USAGE;
    }
    const char *name = cfg->peers.nodes[found].name;
    snprintf(cfg->name, sizeof cfg->name, "%s", name);
    cfg->node.name = cfg->name;
    cfg->node.longnames = strchr(strchr(name, '@'), '.') != NULL;
    return 0;
}

int cb_config_parse(cb_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        CN_CLI_OPTIONS,
        { "peer-config-file", required_argument, 0, OPT_PEERS },
        { "send-for", required_argument, 0, OPT_SEND_FOR },
        { "wait-for", required_argument, 0, OPT_WAIT_FOR },
        { "with-seed", required_argument, 0, OPT_SEED },
        { "tick-duration", required_argument, 0, OPT_TICK },
        { "protocol", required_argument, 0, OPT_PROTOCOL },
        { "batch-size", required_argument, 0, OPT_BATCH },
        { "window", required_argument, 0, OPT_WINDOW },
        { "max-rate", required_argument, 0, OPT_MAX_RATE },
        { "trace", required_argument, 0, OPT_TRACE },
        { "cut-at", required_argument, 0, OPT_CUT_AT },
        { "cut-for", required_argument, 0, OPT_CUT_FOR },
        { "help", no_argument, 0, OPT_HELP },
        { 0, 0, 0, 0 },
    };
    memset(cfg, 0, sizeof *cfg);
    cfg->peers_path = "peers.json";
    cfg->protocol = CB_FAST;
    cfg->send_for_us = 10 * 1000000ull;
    cfg->wait_for_us = 5 * 1000000ull;
    cfg->tick_ms = 10;
    cfg->batch = 4096;
    cfg->window = 262144;
    cfg->rto_ms = 1000;
    /* A stop (after printing) gives queued output this long, not the
     * runtime's 5 s: what is left then is for a peer that reads nothing
     * (partitioned, stopped), and the node must exit soon after its
     * deadline all the same. */
    cfg->node.stop_drain_ms = CB_STOP_DRAIN_MS;
    const char *host = NULL;
    long port = 0;
    int c, r;
    int fast_only = 0;
    optind = 1;
    while ((c = cn_cli_getopt(argc, argv, "p:h:v", opts, "chatterbox")) != -1) {
        if (c == OPT_HELP) {
            cb_config_usage(stdout);
            return 1;
        }
        if (c == '?')
            return CB_EXIT_USAGE;
        fast_only |= c == OPT_BATCH || c == OPT_WINDOW || c == OPT_MAX_RATE;
        if ((r = one_option(cfg, c, optarg, &host, &port)) != 0)
            return r;
    }
    if (optind < argc) {
        cn_cli_usage_error("chatterbox", "unexpected argument '%s'", argv[optind]);
        return CB_EXIT_USAGE;
    }
    if (fast_only && cfg->protocol != CB_FAST) {
        cn_cli_usage_error("chatterbox",
                           "--batch-size, --window and --max-rate are for --protocol fast");
        return CB_EXIT_USAGE;
    }
    if (cfg->cut && cfg->cut != 3) {
        cn_cli_usage_error("chatterbox", "give --cut-at and --cut-for together");
        return CB_EXIT_USAGE;
    }
    if (host && (r = listen_address(cfg, host)) != 0)
        return r;
    if (host)
        cfg->node.listen_host = cfg->listen_addr;
    if (!cfg->node.name && !port) {
        cn_cli_usage_error("chatterbox", "give -p PORT (a port listed in %s) or --sname/--name",
                cfg->peers_path);
        return CB_EXIT_USAGE;
    }
    char why[600];
    if (cn_peers_load(cfg->peers_path, &cfg->peers, why, sizeof why) < 0) {
        cn_cli_usage_error("chatterbox", "--peer-config-file: %s", why);
        return CB_EXIT_USAGE;
    }
    if (!cfg->node.name && (r = name_from_port(cfg, port, host)) != 0)
        return r;
    if (!cfg->node.cookie && cfg->peers.cookie[0])
        cfg->node.cookie = cfg->peers.cookie;
    if (cn_cli_node_check(&cfg->node, "chatterbox") < 0)
        return CB_EXIT_USAGE;
    return 0;
}

int cb_config_self(const cb_config *cfg, const char *node_name, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->peers.count; i++)
        if (strcmp(cfg->peers.nodes[i].name, node_name) == 0)
            return (int)i;
    snprintf(err, errlen, "this node, %s, is not listed in %s", node_name, cfg->peers_path);
    return -1;
}

void cb_config_free(cb_config *cfg) { cn_peers_free(&cfg->peers); }
