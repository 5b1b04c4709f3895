/* cb_config.h - chatterbox's command line and its view of peers.json.
 *
 *   chatterbox [-p PORT] [-h HOST] [--peer-config-file FILE]
 *              [--send-for S] [--wait-for S] [--with-seed N]
 *              [--tick-duration MS] [--verbose] [--protocol fast|seed]
 *              [node flags: --sname/--name/--cookie/--port/--listen-host/
 *               --ticktime/-v] [tuning and test flags, see usage]
 *
 * The node's name is --sname/--name, or else the peers.json entry whose
 * port is -p PORT (and whose host is -h HOST, if given); the node must be
 * listed in peers.json either way.  It listens on -p/--port (default: any
 * free port; peers find it through epmd by name).  The cookie is --cookie,
 * else peers.json's "cookie", else the runtime's default ($ERLANG_COOKIE,
 * then ~/.erlang.cookie).
 */
#ifndef CB_CONFIG_H
#define CB_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "../node/cn.h"
#include "../node/peers.h"
#include "cb_core.h"

#define CB_EXIT_USAGE 2          /* bad flags or a bad peers.json */
#define CB_EXIT_RUNTIME 1        /* the node could not start */
#define CB_STOP_DRAIN_MS 300     /* output flushed at the stop for at most this */

typedef struct cb_config {
    cn_node_config node;
    const char    *peers_path;
    cn_peers       peers;
    cb_protocol    protocol;
    uint64_t       send_for_us, wait_for_us;
    unsigned       tick_ms;
    uint64_t       seed;
    uint32_t       batch, window;
    uint64_t       max_rate;
    unsigned       rto_ms;
    int            progress;     /* --verbose: progress lines on stderr */
    const char    *trace_path;   /* --trace FILE: machine-readable log */
    int            cut;          /* --cut-at / --cut-for given */
    uint64_t       cut_at_us, cut_for_us;
    char           name[512];    /* the name found in peers.json by port */
    char           listen_addr[64];
} cb_config;

/* Parses argv and loads peers.json.  Returns 0, 1 if --help was printed
 * (exit 0), or CB_EXIT_USAGE after one line on stderr saying why (cli.h). */
int  cb_config_parse(cb_config *cfg, int argc, char **argv);
void cb_config_free(cb_config *cfg);
/* The node's place in peers.json once its full name is known: its index
 * among the entries, or -1 after writing why to err. */
int  cb_config_self(const cb_config *cfg, const char *node_name, char *err, size_t errlen);
void cb_config_usage(FILE *f);

#endif
