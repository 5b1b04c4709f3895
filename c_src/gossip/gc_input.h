/* gc_input.h - what the user types, or a script: lines from stdin (a
 * terminal or a pipe) or from a file, plus lines given with --say.
 *
 * A line is sent to the chat; a line starting with '/' is a command:
 *   /peers      list the live members
 *   /quit       leave and exit (so do EOF and SIGINT)
 *   /wait N     hold the following lines until N members (us included) are
 *               live: lets a script wait for the cluster instead of sleeping
 *   /help       the commands
 * Lines wait until the node has joined; /quit does not (it leaves at
 * once, joined or not).  When the input ends the node leaves and stops,
 * unless `stay` is set.
 *
 * When stdin and stdout are a terminal (and not --json), typing goes
 * through the line editor (gc_tty.h): commands run at once, chat lines
 * wait for the join, a status line says what the node waits for (the
 * contact and why it does not answer, the members /wait wants) and shows
 * the node's warnings, which then stay out of the chat; EOF is Ctrl-D and
 * Ctrl-C leaves (a second one stops at once).
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
    int                log_file;  /* stderr is a log file (--log) */
} gc_input_config;

gc_input *gc_input_new(uv_loop_t *loop, gc_out *out, const gc_input_config *cfg, char *err,
                       size_t errlen);
/* Starts reading; lines go to g. */
void gc_input_start(gc_input *in, gc_node *g);
/* The node joined or its membership changed: lines held by /wait may go. */
void gc_input_changed(void *in);
/* 1 if typing goes through the line editor (a terminal). */
int  gc_input_is_tty(const gc_input *in);
/* A node log line (cn_node_log_to): to the log file if there is one;
 * warnings and errors also on the status line. */
void gc_input_log(void *in, int level, const char *line);
/* The node is stopping: stop reading and close handles. */
void gc_input_stop(void *in);
void gc_input_free(gc_input *in);

#endif
