/* echo_node.c - the smallest useful C node, and the example to copy.
 *
 *   priv/bin/echo_node --sname echo_c --cookie secret
 *
 * Registers a process named echo:
 *   gen_server:call({echo, Node}, T)  returns T
 *   gen_server:cast({echo, Node}, {Pid, T}) and {echo, Node} ! {Pid, T}
 *                                     send T to Pid
 * Prints "ready NODE" on stdout once registered with epmd; stops cleanly on
 * SIGINT or SIGTERM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../node/cli.h"

static int echo_call(cn_proc *p, const cn_term *req, const cn_from *from)
{
    return cn_reply(p, from, req) == 0 ? CN_OK : CN_UNHANDLED;
}

static int echo_info(cn_proc *p, const cn_term *msg)
{
    cn_pid to;
    cn_term t;
    if (!cn_term_match(msg, "{~p, ~t}", &to, &t))
        return CN_UNHANDLED;
    cn_send(p, &to, &t);
    return CN_OK;
}

static const cn_proc_ops echo_ops = {
    .kind = "echo",
    .handle_call = echo_call,
    .handle_cast = echo_info,
    .handle_info = echo_info,
    .unhandled = CN_UNHANDLED_LOG,
};

static int start(cn_node *n, void *ud)
{
    (void)ud;
    if (cn_spawn(n, &echo_ops, NULL, "echo"))
        return 0;
    fprintf(stderr, "echo_node: cannot start the echo process\n");
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_node --sname NAME [options]\n" CN_CLI_USAGE);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = { CN_CLI_OPTIONS, { "help", no_argument, 0, 'h' },
                                          { 0, 0, 0, 0 } };
    cn_node_config cfg = { 0 };
    int c;
    cn_cli_args(argc, argv);
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        int r = cn_cli_node_opt(&cfg, c, optarg, "echo_node");
        if (r != 0) {
            if (r > 0)
                usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "echo_node: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cn_cli_node_check(&cfg, "echo_node") < 0)
        return 2;

    cn_cli_app app = { .prog = "echo_node", .start = start };
    int rc = cn_cli_run(&cfg, &app);
    cn_atom_cleanup();
    return rc;
}
