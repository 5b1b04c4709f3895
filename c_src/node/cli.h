/* cli.h - command-line flags every node binary shares.
 *
 *   --sname NAME | --name NAME   node name, as erl's -sname / -name
 *   --cookie COOKIE              else $ERLANG_COOKIE, else ~/.erlang.cookie
 *   --port PORT                  distribution listen port (default: any)
 *   --listen-host ADDR           listen address (default: all interfaces)
 *   --ticktime SECONDS           net_ticktime (default 60)
 *   --proto-dist PROTO           inet_tcp (default), inet6_tcp, inet_tls or
 *                                inet6_tls, as erl's -proto_dist
 *   --ssl-dist-opt KEY VALUE     TLS options, as erl's -ssl_dist_opt
 *   --no-rx-batching             wake for every segment of an inbound stream
 *   --input-budget MIB           memory for packets being received (cn.h)
 *   --max-output MIB             output queued to a peer before sends fail (cn.h)
 *   -v / --verbose               more logging on stderr (repeatable)
 *   --version                    prints the binary's version (CN_VERSION) and exits
 * A binary adds its own options to CN_CLI_OPTIONS in its getopt_long table,
 * reads them with cn_cli_getopt (which also lets --ssl-dist-opt take its
 * two words) and passes unknown option ids to cn_cli_node_opt.
 *
 * One convention for every binary:
 *   - a usage error (an unknown flag, a bad value, flags that disagree)
 *     prints ONE line on stderr, "PROG: what is wrong (see PROG --help)",
 *     naming the flag, and exits CN_EXIT_USAGE (2);
 *   - a runtime failure (the node cannot start, a peer does not answer)
 *     exits CN_EXIT_FAILURE (1);
 *   - --help prints "usage: PROG ..." lines, then "options:" and the
 *     binary's flags, then the node options every binary shares
 *     (cn_cli_help), on stdout, and exits 0.
 */
#ifndef CN_CLI_H
#define CN_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "cn.h"

#define CN_EXIT_FAILURE 1            /* a runtime failure */
#define CN_EXIT_USAGE   2            /* a usage error (one line on stderr) */

enum {
    CN_OPT_SNAME = 1000,
    CN_OPT_NAME,
    CN_OPT_COOKIE,
    CN_OPT_PORT,
    CN_OPT_LISTEN_HOST,
    CN_OPT_TICKTIME,
    CN_OPT_VERBOSE,
    CN_OPT_NO_RX_BATCHING,
    CN_OPT_INPUT_BUDGET,
    CN_OPT_MAX_OUTPUT,
    CN_OPT_VERSION,
    CN_OPT_PROTO_DIST,
    CN_OPT_SSL_DIST_OPT,
};

#define CN_CLI_OPTIONS                                              \
    { "sname", required_argument, 0, CN_OPT_SNAME },                \
    { "name", required_argument, 0, CN_OPT_NAME },                  \
    { "cookie", required_argument, 0, CN_OPT_COOKIE },              \
    { "port", required_argument, 0, CN_OPT_PORT },                  \
    { "listen-host", required_argument, 0, CN_OPT_LISTEN_HOST },    \
    { "ticktime", required_argument, 0, CN_OPT_TICKTIME },          \
    { "verbose", no_argument, 0, CN_OPT_VERBOSE },                  \
    { "no-rx-batching", no_argument, 0, CN_OPT_NO_RX_BATCHING },    \
    { "input-budget", required_argument, 0, CN_OPT_INPUT_BUDGET },  \
    { "max-output", required_argument, 0, CN_OPT_MAX_OUTPUT },     \
    { "version", no_argument, 0, CN_OPT_VERSION },                 \
    { "proto-dist", required_argument, 0, CN_OPT_PROTO_DIST },      \
    { "ssl-dist-opt", required_argument, 0, CN_OPT_SSL_DIST_OPT }

#define CN_CLI_USAGE                                                            \
    "  --sname NAME | --name NAME  node name (as erl -sname / -name)\n"        \
    "  --cookie COOKIE             cookie (else $ERLANG_COOKIE, ~/.erlang.cookie)\n" \
    "  --port PORT                 distribution port (default: any free port)\n" \
    "  --listen-host ADDR          listen address (default: all interfaces)\n" \
    "  --ticktime SECONDS          net_ticktime (default 60)\n"                \
    "  --proto-dist PROTO          as erl -proto_dist: inet_tcp (default), inet6_tcp\n" \
    "                              (IPv6), inet_tls or inet6_tls (TLS, as OTP's\n" \
    "                              inet_tls_dist)\n"                               \
    "  --ssl-dist-opt KEY VALUE    a TLS option, as erl -ssl_dist_opt (repeat it):\n" \
    "                              server_certfile, server_keyfile,\n"             \
    "                              server_cacertfile, server_verify verify_peer|\n" \
    "                              verify_none, server_fail_if_no_peer_cert\n"     \
    "                              true|false; client_certfile, client_keyfile,\n" \
    "                              client_cacertfile, client_verify\n"             \
    "  --no-rx-batching            read inbound streams segment by segment\n"  \
    "  --input-budget MIB          memory for packets being received (default 256)\n" \
    "  --max-output MIB            output queued to a peer before sends fail (default 64)\n" \
    "  -v, --verbose               more logging on stderr (repeat for more)\n"    \
    "  --version                   print the version and exit\n"                \
    "  --help                      print this help and exit\n"

/* Reports a usage error as every binary does: one line on stderr,
 * "PROG: MESSAGE (see PROG --help)".  Returns -1. */
int cn_cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* getopt_long without getopt's own messages: an unknown option or a
 * missing value is reported with cn_cli_usage_error (naming the flag) and
 * returns '?'; otherwise as getopt_long (-1 at the end). */
int cn_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *lo,
                  const char *prog);
/* --help in the layout every binary shares: usage ("usage: PROG ..."
 * lines, then any description), "options:" and the binary's own flags
 * (NULL: none), then the node options (CN_CLI_USAGE). */
void cn_cli_help(FILE *f, const char *usage, const char *flags);

/* Applies one shared option.  Returns 0, 1 if opt is not a shared option,
 * -1 (after a usage error line) if its argument is bad. */
int cn_cli_node_opt(cn_node_config *cfg, int opt, const char *arg, const char *prog);
/* Checks what the shared options need (a name).  -1 after a usage error
 * line. */
int cn_cli_node_check(const cn_node_config *cfg, const char *prog);
/* Parses a whole non-negative integer in [min, max]; -1 if it is not one. */
int cn_cli_int(const char *s, long min, long max, long *out);

/* Runs a node from main(): makes a loop and the node, calls start(n, ud) to
 * spawn its processes, prints "ready NODE" on stdout once they run (unless
 * quiet_ready), runs until the node stops (SIGINT, SIGTERM, cn_node_stop),
 * then closes whatever handles are left and frees everything.  Returns 0,
 * or 1 if the node or start failed (the reason is on stderr). */
typedef struct cn_cli_app {
    const char *prog;
    /* Before the node registers with epmd and listens: slow set-up peers
     * must not wait on (a log loaded).  0, or the exit status. */
    int       (*prepare)(uv_loop_t *loop, void *ud);
    int       (*start)(cn_node *n, void *ud);   /* 0; 2: a usage error (exit
                                                 * status 2); else failed (1) */
    void       *ud;
    int         quiet_ready;
} cn_cli_app;
int cn_cli_run(const cn_node_config *cfg, const cn_cli_app *app);

#endif
