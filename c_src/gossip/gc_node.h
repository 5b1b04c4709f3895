/* gc_node.h - the gossip chat on a C node: the registered process `gossip`
 * that runs the pure core (gc_core.h) on the runtime.
 *
 * Wire messages to {gossip, Node} go to the core; anything else is junk,
 * dropped with a log line saying why.  The core's sends go to {gossip, To};
 * its deadlines drive one libuv timer; a lost connection is a hint to probe.
 * Connections to members that are neither neighbours nor in touch lately
 * are dropped, so a node holds a bounded number of connections.
 *
 * Control calls (for tests, benchmarks and tools; not part of the protocol):
 *   gen_server:call({gossip, Node}, members)       -> [NodeBin] (sorted)
 *   gen_server:call({gossip, Node}, view)          -> [NodeBin]
 *   gen_server:call({gossip, Node}, {say, Text})   -> {ok, Id} | {error, Why}
 *   gen_server:call({gossip, Node}, stats)         -> #{...}
 *   gen_server:call({gossip, Node}, quit)          -> ok, then it leaves
 */
#ifndef GC_NODE_H
#define GC_NODE_H

#include "../node/cn.h"
#include "gc_core.h"
#include "gc_out.h"

typedef struct gc_node gc_node;

typedef struct gc_node_config {
    const char        *join;      /* contact node, or NULL */
    const char *const *members;   /* start with these members (a cluster file) */
    size_t             nmembers;
    gc_params          params;
    uint64_t           seed;      /* 0: from the OS */
    gc_out            *out;
    void             (*on_change)(void *ud);  /* joined, or membership changed */
    void             (*on_stop)(void *ud);    /* stopping: close your handles */
    void              *ud;
} gc_node_config;

/* Registers the process; gc_node_run then starts (or joins) the chat. */
gc_node *gc_node_start(cn_node *n, const gc_node_config *cfg, char *err, size_t errlen);
void     gc_node_run(gc_node *g);
/* A typed line; its id, or 0 if refused (reported on the output). */
uint64_t gc_node_say(gc_node *g, const char *text, size_t len);
/* Leave gracefully, then stop the node: {leave, Self} goes to every
 * neighbour, and the node stops once each of those connections is up (at
 * most 2 s).  A second call stops at once. */
void     gc_node_quit(gc_node *g);
int      gc_node_joined(const gc_node *g);
/* The node we join through (NULL: none). */
const char *gc_node_contact(const gc_node *g);
/* While joining through a contact: why it does not answer ("node is not
 * registered with epmd on HOST", cn_node_dial_error), else NULL. */
const char *gc_node_join_problem(gc_node *g);
size_t   gc_node_member_count(const gc_node *g);
/* Prints the live members. */
void     gc_node_show_members(gc_node *g);
/* After uv_run has returned. */
void     gc_node_free(gc_node *g);

#endif
