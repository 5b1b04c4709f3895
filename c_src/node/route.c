/* route.c - the one boundary between connections and processes.
 *
 * Incoming: conn.c reports here and nowhere else that touches a process: a
 * parsed control message goes to the process it names, or to link.c for
 * links, monitors and exit signals; a connection up or down becomes nodeup,
 * nodedown and noconnection; drained output becomes {cn_drained, Node}.
 * Outgoing: a message to a pid goes to the local mailbox or to the
 * connection for the pid's node, dialing it if needed, and link.c's frames
 * go out through cn__route_ctl.  Messages to processes that do not exist
 * are dropped, as erts drops them.
 */
#include <stdarg.h>
#include <string.h>

#include "internal.h"

static cn_proc *local_target(cn_node *n, const cn_dist_msg *m)
{
    if (m->to_is_name)
        return cn_whereis(n, m->to_name);
    return cn_proc_by_pid(n, &m->to);
}

/* The way back on the connection a control message came in on. */
static cn_ctl_out back_on(cn_conn *c)
{
    cn_ctl_out o = { cn__conn_out(c), cn__conn_flags(c) };
    return o;
}

void cn__route_packet(cn_conn *c, const cn_dist_msg *m)
{
    cn_node *n = c->node;
    cn_proc *p;
    cn_ctl_out back;
    switch (m->kind) {
    case CN_DIST_SEND:
    case CN_DIST_REG_SEND:
        p = local_target(n, m);
        if (p)
            cn__proc_deliver(p, ENV_MSG, NULL, &m->msg,
                             CN__DELIVER_DIRECT | CN__DELIVER_LIMITED);
        else if (m->to_is_name)
            cn_log(n, CN_LOG_DEBUG, "message from %s to unregistered name '%s' dropped",
                   c->peer, m->to_name);
        return;
    case CN_DIST_LINK:
        back = back_on(c);
        cn__remote_link(n, m, &back);
        return;
    case CN_DIST_UNLINK:
    case CN_DIST_UNLINK_ACK:
        back = back_on(c);
        cn__remote_unlink(n, m, &back);
        return;
    case CN_DIST_EXIT:
    case CN_DIST_EXIT2:
        cn__remote_exit(n, m);
        return;
    case CN_DIST_MONITOR:
        back = back_on(c);
        cn__remote_monitor(n, m, &back);
        return;
    case CN_DIST_DEMONITOR:
        cn__remote_demonitor(n, m);
        return;
    case CN_DIST_MONITOR_EXIT:
        cn__remote_monitor_exit(n, m);
        return;
    case CN_DIST_GROUP_LEADER:
    case CN_DIST_NODE_LINK:
        return;
    }
}

void cn__route_up(cn_node *n, cn_atom peer) { cn__node_status(n, peer, 1); }

void cn__route_down(cn_node *n, cn_atom peer, int nodedown)
{
    if (nodedown)
        cn__node_status(n, peer, 0);
    cn__peer_down(n, peer);
}

void cn__route_drained(cn_node *n, cn_atom peer, const cn_pid *who, size_t k)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{cn_drained, ~a}", peer);
    cn_term t = cn_buf_term(&b, 0);
    for (size_t i = 0; i < k && !cn_buf_failed(&b); i++) {
        cn_proc *p = cn_proc_by_pid(n, &who[i]);
        if (p)
            cn__proc_deliver(p, ENV_MSG, NULL, &t, 0);
    }
    cn_buf_free(&b);
}

int cn__route_ctl(cn_node *n, cn_atom node, int dial, cn_ctl_out *out)
{
    cn_conn *c = cn__conn_get(n, node, dial);
    if (!c)
        return -1;
    *out = back_on(c);
    return 0;
}

/* The connection a message from `from` to node goes on: 0 and *c; -1 if
 * none can be made; CN_ERR_BUSY if it holds more than max_output bytes
 * not yet written, and then from is told when it drains (cn.h). */
static int conn_for_msg(cn_proc *from, cn_atom node, cn_conn **c)
{
    cn_node *n = from->node;
    *c = node ? cn__conn_get(n, node, 1) : NULL;
    if (!*c)
        return -1;
    if (cn__conn_queued(*c) <= n->max_output)
        return 0;
    cn__conn_wait_drain(*c, &from->pid);
    return CN_ERR_BUSY;
}

int cn_send(cn_proc *from, const cn_pid *to, const cn_term *msg)
{
    cn_node *n = from->node;
    cn_conn *c;
    if (to->node == n->self) {
        cn_proc *p = cn_proc_by_pid(n, to);
        if (p)
            cn__proc_deliver(p, ENV_MSG, NULL, msg, CN__DELIVER_LIMITED);
        return 0;
    }
    int r = conn_for_msg(from, to->node, &c);
    if (r == 0) {
        cn_dist_put_send(cn__conn_out(c), to, msg);
        n->stats.msgs_out++;
    }
    return r;
}

int cn_send_named(cn_proc *from, const char *name, const char *node, const cn_term *msg)
{
    cn_node *n = from->node;
    cn_conn *c;
    if (!node || strcmp(node, n->name) == 0) {
        cn_proc *p = cn_whereis(n, name);
        if (p)
            cn__proc_deliver(p, ENV_MSG, NULL, msg, CN__DELIVER_LIMITED);
        return 0;
    }
    int r = conn_for_msg(from, cn__atom_intern_weak(node, strlen(node)), &c);
    if (r == 0) {
        cn_dist_put_reg_send(cn__conn_out(c), &from->pid, name, msg);
        n->stats.msgs_out++;
    }
    return r;
}

cn_term cn__vfmt(cn_buf *b, const char *pattern, va_list ap)
{
    cn_buf_reset(b);
    cn_term_vbuild(b, pattern, ap);
    cn_term t = { NULL, 0 };
    if (!cn_buf_failed(b))
        t = cn_buf_term(b, 0);
    return t;
}

/* Built in the node's spare buffer, which then becomes the process's: the
 * arguments may point into the process's previous term. */
cn_term cn_fmt(cn_proc *p, const char *pattern, ...)
{
    va_list ap;
    va_start(ap, pattern);
    cn_term t = cn__vfmt(&p->node->fmt_spare, pattern, ap);
    va_end(ap);
    cn_buf_swap(&p->scratch, &p->node->fmt_spare);
    return t;
}

int cn__send_fmt(cn_node *n, const char *fn, cn_term *out, const char *pattern, va_list ap)
{
    *out = cn__vfmt(&n->sendbuf, pattern, ap);
    if (out->len)
        return 0;
    cn_log(n, CN_LOG_ERROR, "%s: bad pattern \"%s\"", fn, pattern);
    return -1;
}

int cn_sendf(cn_proc *from, const cn_pid *to, const char *pattern, ...)
{
    va_list ap;
    cn_term t;
    va_start(ap, pattern);
    int r = cn__send_fmt(from->node, "cn_sendf", &t, pattern, ap);
    va_end(ap);
    return r < 0 ? -1 : cn_send(from, to, &t);
}

int cn_sendf_named(cn_proc *from, const char *name, const char *node, const char *pattern, ...)
{
    va_list ap;
    cn_term t;
    va_start(ap, pattern);
    int r = cn__send_fmt(from->node, "cn_sendf_named", &t, pattern, ap);
    va_end(ap);
    return r < 0 ? -1 : cn_send_named(from, name, node, &t);
}
