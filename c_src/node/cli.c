/* cli.c - shared command-line flags (see cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

int cn_cli_node_opt(cn_node_config *cfg, int opt, const char *arg, const char *prog)
{
    long v;
    switch (opt) {
    case CN_OPT_SNAME:
    case CN_OPT_NAME:
        if (cfg->name) {
            fprintf(stderr, "%s: give one of --sname and --name, once\n", prog);
            return -1;
        }
        cfg->name = arg;
        cfg->longnames = opt == CN_OPT_NAME;
        return 0;
    case CN_OPT_COOKIE:
        cfg->cookie = arg;
        return 0;
    case CN_OPT_PORT:
        if (cn_cli_int(arg, 0, 65535, &v) < 0) {
            fprintf(stderr, "%s: --port needs a port number 0..65535, not '%s'\n", prog, arg);
            return -1;
        }
        cfg->port = (int)v;
        return 0;
    case CN_OPT_LISTEN_HOST:
        cfg->listen_host = arg;
        return 0;
    case CN_OPT_TICKTIME:
        if (cn_cli_int(arg, 1, 3600, &v) < 0) {
            fprintf(stderr, "%s: --ticktime needs seconds 1..3600, not '%s'\n", prog, arg);
            return -1;
        }
        cfg->ticktime_s = (unsigned)v;
        return 0;
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
    if (!cfg->name) {
        fprintf(stderr, "%s: a node name is required: --sname NAME or --name NAME\n", prog);
        return -1;
    }
    return 0;
}
