/* cli.c - shared command-line flags, and the one way every binary reports
 * a usage error and prints --help (see cli.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cn_cli_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cn_cli_usage_error(const char *prog, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s (see %s --help)\n", prog, msg, prog);
    return -1;
}

/* The words cn_cli_getopt parses, for --ssl-dist-opt's VALUE. */
static int cli_argc;
static char **cli_argv;

int cn_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
                  const char *prog)
{
    char so[64];
    cli_argc = argc;
    cli_argv = argv;
    snprintf(so, sizeof so, ":%s", shortopts);   /* ':': a missing value is ':' */
    opterr = 0;
    int c = getopt_long(argc, argv, so, lo, NULL);
    if (c != '?' && c != ':')
        return c;
    /* the flag: a short one is optopt; a long one is the argument itself
     * (optopt is then 0 or the option's id) */
    char flag[128];
    if (optopt > 0 && optopt < 128 && isgraph(optopt))
        snprintf(flag, sizeof flag, "-%c", optopt);
    else
        snprintf(flag, sizeof flag, "%.*s", (int)strcspn(argv[optind - 1], "="),
                 argv[optind - 1]);
    cn_cli_usage_error(prog, "%s '%s'", c == ':' ? "missing value for" : "unknown option", flag);
    return '?';
}

void cn_cli_help(FILE *f, const char *usage, const char *flags)
{
    fputs(usage, f);
    if (flags)
        fprintf(f, "options:\n%s", flags);
    fputs("node options (every binary):\n" CN_CLI_USAGE, f);
}

/* A size in MiB, 1..1048576. */
static int mib_opt(size_t *out, const char *flag, const char *arg, const char *prog)
{
    long v;
    if (cn_cli_int(arg, 1, 1 << 20, &v) < 0)
        return cn_cli_usage_error(prog, "%s needs MiB 1..1048576, not '%s'", flag, arg);
    *out = (size_t)v << 20;
    return 0;
}

/* --proto-dist NAME, as erl's -proto_dist. */
static int proto_opt(cn_node_config *cfg, const char *arg, const char *prog)
{
    static const struct { const char *name; int inet6, tls; } protos[] = {
        { "inet_tcp", 0, 0 }, { "inet6_tcp", 1, 0 }, { "inet_tls", 0, 1 }, { "inet6_tls", 1, 1 },
    };
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (strcmp(arg, protos[i].name) == 0) {
            cfg->inet6 = protos[i].inet6;
            cfg->tls = protos[i].tls;
            return 0;
        }
    return cn_cli_usage_error(prog, "--proto-dist needs inet_tcp, inet6_tcp, inet_tls or "
                              "inet6_tls, not '%s'", arg);
}


/* Sets a verify option: verify_peer or verify_none. */
static int verify_value(int *out, const char *v)
{
    if (strcmp(v, "verify_peer") == 0 || strcmp(v, "verify_none") == 0) {
        *out = v[7] == 'p';
        return 0;
    }
    return -1;
}

static int bool_value(int *out, const char *v)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return 0;
    }
    return -1;
}

/* One --ssl-dist-opt KEY VALUE, as erl's -ssl_dist_opt. */
static int ssl_opt(cn_node_config *cfg, const char *key, const char *prog)
{
    if (!cli_argv || optind >= cli_argc)
        return cn_cli_usage_error(prog, "--ssl-dist-opt needs KEY VALUE");
    const char *v = cli_argv[optind++];
    int server = strncmp(key, "server_", 7) == 0;
    cn_tls_side *side = server ? &cfg->tls_opts.server : &cfg->tls_opts.client;
    const char *opt = key + 7;
    if (!server && strncmp(key, "client_", 7) != 0)
        opt = "";
    if (strcmp(opt, "certfile") == 0)
        side->certfile = v;
    else if (strcmp(opt, "keyfile") == 0)
        side->keyfile = v;
    else if (strcmp(opt, "cacertfile") == 0)
        side->cacertfile = v;
    else if (strcmp(opt, "verify") == 0) {
        if (verify_value(&side->verify_peer, v) < 0)
            return cn_cli_usage_error(prog, "--ssl-dist-opt %s needs verify_peer or verify_none, "
                                      "not '%s'", key, v);
    } else if (server && strcmp(opt, "fail_if_no_peer_cert") == 0) {
        if (bool_value(&side->fail_if_no_peer_cert, v) < 0)
            return cn_cli_usage_error(prog, "--ssl-dist-opt %s needs true or false, not '%s'",
                                      key, v);
    } else {
        return cn_cli_usage_error(prog, "--ssl-dist-opt: unknown or unsupported key '%s' (known: "
                                  "server_ and client_ certfile, keyfile, cacertfile, verify; "
                                  "server_fail_if_no_peer_cert)", key);
    }
    return 0;
}

int cn_cli_node_opt(cn_node_config *cfg, int opt, const char *arg, const char *prog)
{
    long v;
    switch (opt) {
    case CN_OPT_VERSION:
        printf("%s %s (libuv %s)\n", prog, CN_VERSION, uv_version_string());
        exit(0);
    case CN_OPT_SNAME:
    case CN_OPT_NAME:
        if (cfg->name)
            return cn_cli_usage_error(prog, "give one of --sname and --name, once");
        cfg->name = arg;
        cfg->longnames = opt == CN_OPT_NAME;
        return 0;
    case CN_OPT_COOKIE:
        cfg->cookie = arg;
        return 0;
    case CN_OPT_PORT:
        if (cn_cli_int(arg, 0, 65535, &v) < 0)
            return cn_cli_usage_error(prog, "--port needs a port number 0..65535, not '%s'", arg);
        cfg->port = (int)v;
        return 0;
    case CN_OPT_LISTEN_HOST:
        cfg->listen_host = arg;
        return 0;
    case CN_OPT_TICKTIME:
        if (cn_cli_int(arg, 1, 3600, &v) < 0)
            return cn_cli_usage_error(prog, "--ticktime needs seconds 1..3600, not '%s'", arg);
        cfg->ticktime_s = (unsigned)v;
        return 0;
    case CN_OPT_PROTO_DIST:
        return proto_opt(cfg, arg, prog);
    case CN_OPT_SSL_DIST_OPT:
        return ssl_opt(cfg, arg, prog);
    case CN_OPT_NO_RX_BATCHING:
        cfg->no_rx_batching = 1;
        return 0;
    case CN_OPT_INPUT_BUDGET:
        return mib_opt(&cfg->input_budget, "--input-budget", arg, prog);
    case CN_OPT_MAX_OUTPUT:
        return mib_opt(&cfg->max_output, "--max-output", arg, prog);
    case CN_OPT_VERBOSE:
    case 'v':
        cfg->verbose++;
        return 0;
    default:
        return 1;
    }
}

int cn_cli_node_check(const cn_node_config *cfg, const char *prog)
{
    if (!cfg->name)
        return cn_cli_usage_error(prog, "a node name is required: --sname NAME or --name NAME");
    if (cfg->tls && !cfg->tls_opts.server.certfile)
        return cn_cli_usage_error(prog, "--proto-dist %s needs --ssl-dist-opt server_certfile FILE",
                                  cfg->inet6 ? "inet6_tls" : "inet_tls");
    return 0;
}

static void close_left(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int cn_cli_run(const cn_node_config *cfg, const cn_cli_app *app)
{
    uv_loop_t loop;
    char err[512];
    int rc = 0;
    uv_loop_init(&loop);
    int prepared = app->prepare ? app->prepare(&loop, app->ud) : 0;
    if (prepared != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return prepared;
    }
    cn_node *n = cn_node_start(&loop, cfg, err, sizeof err);
    if (!n) {
        fprintf(stderr, "%s: %s\n", app->prog, err);
        uv_loop_close(&loop);
        return 1;
    }
    int started = app->start ? app->start(n, app->ud) : 0;
    if (started != 0) {
        rc = started == 2 ? 2 : 1;
        cn_node_stop(n);
    } else if (!app->quiet_ready) {
        printf("ready %s\n", cn_node_name(n));
        fflush(stdout);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cn_node_free(n);
    /* handles the program left unreferenced (a stdin watcher, say) */
    uv_walk(&loop, close_left, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return rc;
}
