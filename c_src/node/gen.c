/* gen.c - the managed-process loop: what a message means and which handler
 * gets it.
 *
 * Order of recognition, as gen_server and gleam_otp's actor do it:
 *   0. {system, {Pid, Tag}, Req}  -> sys.c; while suspended by sys, every
 *      other message waits there
 *   1. {Tag, Reply} or {'DOWN', Tag, ...} for a call this process made
 *   2. {Tag, Msg} for one of this process's Subjects, or {Name, Msg}
 *      once it took its named subject               -> handle_subject
 *   3. {'$gen_call', {Pid, Tag}, Req}                -> handle_call
 *   4. {'$gen_cast', Req}                            -> handle_cast
 *   5. anything else                                 -> handle_info
 * A message no handler takes goes to the process's unhandled policy.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void unhandled(cn_proc *p, const cn_term *msg)
{
    cn_node *n = p->node;
    char txt[512];
    switch (p->ops->unhandled) {
    case CN_UNHANDLED_DROP:
        return;
    case CN_UNHANDLED_FORWARD:
        if (p->has_dead_letter) {
            cn_send(p, &p->dead_letter, msg);
            return;
        }
        /* no dead-letter address set: log it */
        __attribute__((fallthrough));
    case CN_UNHANDLED_LOG:
        cn_term_format(msg, txt, sizeof txt);
        cn_log(n, CN_LOG_WARN, "%s <%u.%u>%s%s: unexpected message dropped: %s",
               p->ops->kind ? p->ops->kind : "process", p->pid.num, p->pid.serial,
               p->name ? " " : "", p->name ? p->name : "", txt);
        return;
    case CN_UNHANDLED_STOP: {
        cn_buf b;
        cn_buf_init(&b);
        cn_term_build(&b, "{unhandled_message, ~t}", msg);
        cn_term r = cn_buf_term(&b, 0);
        cn_stop(p, &r);
        cn_buf_free(&b);
        return;
    }
    }
}

/* {Pid, Tag}: the caller and the tag to echo back.  The caller's node name
 * is the runtime's until handed to a handle_call that may keep it. */
static int parse_from(const cn_term *t, cn_from *from)
{
    cn_term tag;
    if (!cn__term_match_weak(t, "{~p, ~t}", &from->pid, &tag) || tag.len > sizeof from->tag)
        return -1;
    memcpy(from->tag, tag.data, tag.len);
    from->tag_len = (uint16_t)tag.len;
    return 0;
}

void cn__gen_dispatch(cn_proc *p, const cn_term *msg)
{
    const cn_proc_ops *ops = p->ops;
    cn_term a, b;
    int r = CN_UNHANDLED;

    if (cn_term_match(msg, "{system, ~t, ~t}", &a, &b)) {
        cn_from from;
        if (parse_from(&a, &from) == 0) {
            cn__sys_handle(p, &from, &b);
            return;
        }
    }
    if (p->suspended) {
        cn__proc_hold(p, msg);
        p->next_timeout = p->last_timeout;
        return;
    }
    if (p->pending && cn__call_match(p, msg))
        return;
    if ((p->subjects || p->named) && cn__subject_match(p, msg))
        return;
    if (cn_term_match(msg, "{'$gen_call', ~t, ~t}", &a, &b)) {
        cn_from from;
        if (parse_from(&a, &from) == 0 && ops->handle_call) {
            if (!ops->replies_at_once)
                cn__atom_keep(from.pid.node);
            r = ops->handle_call(p, &b, &from);
        }
    } else if (cn_term_match(msg, "{'$gen_cast', ~t}", &a)) {
        if (ops->handle_cast)
            r = ops->handle_cast(p, &a);
    } else if (ops->handle_info) {
        r = ops->handle_info(p, msg);
    }
    if (r == CN_UNHANDLED)
        unhandled(p, msg);
}

/* Called by the subject layer for {Tag, Msg} without a handle_subject. */
int cn__gen_info(cn_proc *p, const cn_term *msg)
{
    int r = p->ops->handle_info ? p->ops->handle_info(p, msg) : CN_UNHANDLED;
    if (r == CN_UNHANDLED)
        unhandled(p, msg);
    return 1;
}

/* The reply {Tag, ...}: starts it in the node's send buffer, which nothing
 * a caller holds points into (cn.h); the reply term follows. */
static cn_buf *reply_begin(cn_proc *p, const cn_from *from)
{
    cn_buf *b = &p->node->sendbuf;
    cn_buf_reset(b);
    cn_term_put_tuple(b, 2);
    cn_buf_append(b, from->tag, from->tag_len);
    return b;
}

static int reply_send(cn_proc *p, const cn_from *from, cn_buf *b)
{
    if (cn_buf_failed(b))
        return -1;
    cn_term t = cn_buf_term(b, 0);
    return cn_send(p, &from->pid, &t);
}

int cn_reply(cn_proc *p, const cn_from *from, const cn_term *reply)
{
    cn_buf *b = reply_begin(p, from);
    cn_term_put_term(b, reply);
    return reply_send(p, from, b);
}

int cn_replyf(cn_proc *p, const cn_from *from, const char *pattern, ...)
{
    cn_buf *b = reply_begin(p, from);
    va_list ap;
    va_start(ap, pattern);
    cn_term_vbuild(b, pattern, ap);
    va_end(ap);
    if (cn_buf_failed(b)) {
        cn_log(p->node, CN_LOG_ERROR, "cn_replyf: bad pattern \"%s\"", pattern);
        return -1;
    }
    return reply_send(p, from, b);
}

/* ---- idle timeout ------------------------------------------------------- */

static void on_idle_timeout(uv_timer_t *t)
{
    cn_proc *p = t->data;
    if (p)
        cn__proc_run_timeout(p);
}

void cn_timeout(cn_proc *p, unsigned ms) { p->next_timeout = (long)ms; }

void cn__gen_after_turn(cn_proc *p)
{
    p->last_timeout = p->next_timeout;
    if (p->dead || p->next_timeout < 0 || p->suspended)
        return;
    if (!p->idle_timer && !(p->idle_timer = cn__timer_new(p->node, p)))
        return;
    uv_timer_start(p->idle_timer, on_idle_timeout, (uint64_t)p->next_timeout, 0);
}
