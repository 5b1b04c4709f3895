/* gc_input.h - what the user types, or a script: lines from stdin (a
 * terminal or a pipe) or from a file, plus lines given with --say.
 *
 * A line is sent to the chat; a line starting with '/' is a command:
 *   /peers      list the live members
 *   /quit       leave and exit (so do EOF and SIGINT)
 *   /wait N     hold the following lines until N members (us included) are
 *               live: lets a script wait for the cluster instead of sleeping
 *   /help       the commands
 * Lines wait until the node has joined.  When the input ends the node
 * leaves and stops, unless `stay` is set.
 */
#ifndef GC_INPUT_H
#define GC_INPUT_H

#include <uv.h>

#include "gc_node.h"
#include "gc_out.h"

typedef struct gc_input gc_input;

typedef struct gc_input_config {
    const char        *file;      /* NULL or "-": stdin */
    const char *const *say;       /* lines to send first */
    size_t             nsay;
    int                stay;      /* keep running when the input ends */
} gc_input_config;

gc_input *gc_input_new(uv_loop_t *loop, gc_out *out, const gc_input_config *cfg, char *err,
                       size_t errlen);
/* Starts reading; lines go to g. */
void gc_input_start(gc_input *in, gc_node *g);
/* The node joined or its membership changed: lines held by /wait may go. */
void gc_input_changed(void *in);
/* The node is stopping: stop reading and close handles. */
void gc_input_stop(void *in);
void gc_input_free(gc_input *in);

#endif
