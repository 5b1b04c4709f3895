/* main.c - priv/bin/chatterbox: the CH/OTP broadcast task on a C node.
 *
 *   chatterbox -p 9001 --send-for 10 --wait-for 5 --with-seed 42
 *   chatterbox --sname n1 --peer-config-file peers.json --protocol seed
 *
 * Prints (|m|, sum of i * m_i) on stdout and nothing else; logs go to
 * stderr.  Exit status: 0 after printing (or a clean stop on SIGINT or
 * SIGTERM), 1 if the node cannot start, 2 for bad flags or a bad
 * peers.json.  docs/chatterbox.md has the flags, the wire terms and the
 * protocols.
 */
#include <stdio.h>

#include "../node/cli.h"
#include "cb_config.h"
#include "cb_node.h"

int main(int argc, char **argv)
{
    cb_config cfg;
    int r = cb_config_parse(&cfg, argc, argv);
    if (r != 0) {
        cb_config_free(&cfg);
        return r == 1 ? 0 : r;
    }
    cb_node *cn = cb_node_new(&cfg);
    if (!cn) {
        fprintf(stderr, "chatterbox: out of memory\n");
        cb_config_free(&cfg);
        return CB_EXIT_RUNTIME;
    }
    /* stdout is for the result alone: readiness goes to stderr */
    cn_cli_app app = { .prog = "chatterbox", .start = cb_node_start, .ud = cn, .quiet_ready = 1 };
    int rc = cn_cli_run(&cfg.node, &app);
    int code = cb_node_free(cn);
    cn_atom_cleanup();
    cb_config_free(&cfg);
    return code ? code : rc;
}
