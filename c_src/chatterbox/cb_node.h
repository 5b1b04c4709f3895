/* cb_node.h - a chatterbox node: the core on a C node's libuv loop.
 *
 * The seed's three roles, on one loop:
 *   ticker    a uv timer every --tick-duration ms: CB_EV_TICK (batching,
 *             re-sends), connection probes, the test-only cut; two more
 *             timers give the phase changes at --send-for and --wait-for
 *   listener  the registered process `chatterbox`: decodes the wire terms
 *             (cb_wire.h) into CB_EV_MSG; nodeup/nodedown become CB_EV_UP /
 *             CB_EV_DOWN
 *   worker    the reducer (cb_core.h), whose sends go out as
 *             {chatterbox, Peer} ! Term, whose result goes to stdout
 * Logs and --verbose progress go to stderr, the machine-readable --trace to
 * its file; stdout carries only the result tuple.
 */
#ifndef CB_NODE_H
#define CB_NODE_H

#include <uv.h>

#include "cb_config.h"

typedef struct cb_node cb_node;

/* The node's state for cfg (no I/O yet); NULL if memory is short. */
cb_node *cb_node_new(const cb_config *cfg);
/* cn_cli_app.start: registers `chatterbox`, starts the timers.  Non-zero
 * (after saying why on stderr) if the node cannot run. */
int cb_node_start(cn_node *n, void *cb);
/* After the loop has ended: the exit code (CB_EXIT_USAGE when the node was
 * not in peers.json, 0 otherwise); frees the state. */
int cb_node_free(cb_node *cn);

#endif
