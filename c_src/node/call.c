/* call.c - calls made by C processes, without blocking the loop.
 *
 * gen_server:call as gen.erl makes it: monitor the callee, send
 * {'$gen_call', {Self, Ref}, Req} with the monitor's ref as the tag, and wait
 * for {Ref, Reply} or the monitor's DOWN.  The tag is a plain ref (a peer
 * without DFLAG_ALIAS must not get alias sends).  Gleam's actor.call is the
 * same with the ref as the reply Subject's tag; on a named subject it
 * monitors the name on its node and sends {Name, Request} there.  The wait is a table entry,
 * not a blocked loop: the continuation runs when the answer arrives.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void on_timer_closed(uv_handle_t *h)
{
    cn_pending *c = h->data;
    free(h);
    free(c);
}

/* Removes the entry; frees it (after its timer closes, if any). */
static void pending_done(cn_proc *p, cn_pending *c)
{
    HASH_DEL(p->pending, c);
    if (c->timer) {
        uv_timer_stop(c->timer);
        c->timer->data = c;
        uv_close((uv_handle_t *)c->timer, on_timer_closed);
    } else {
        free(c);
    }
}

typedef struct timeout_arg {
    cn_pending *c;
} timeout_arg;

static void run_timeout(cn_proc *p, void *arg)
{
    cn_pending *c = arg;
    cn_call_cb cb = c->cb;
    void *ud = c->ud;
    cn_ref ref = c->ref;
    pending_done(p, c);
    cn_demonitor(p, &ref);
    cb(p, CN_CALL_TIMEOUT, NULL, ud);
}

static void on_call_timeout(uv_timer_t *t)
{
    cn_pending *c = t->data;
    cn__proc_run(c->proc, run_timeout, c);
}

static int pending_add(cn_proc *p, const cn_ref *ref, unsigned timeout_ms, cn_call_cb cb,
                       void *ud)
{
    cn_pending *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->ref = *ref;
    c->proc = p;
    c->cb = cb;
    c->ud = ud;
    if (timeout_ms) {
        c->timer = malloc(sizeof *c->timer);
        if (!c->timer) {
            free(c);
            return -1;
        }
        uv_timer_init(p->node->loop, c->timer);
        c->timer->data = c;
        uv_timer_start(c->timer, on_call_timeout, timeout_ms, 0);
    }
    HASH_ADD(hh, p->pending, ref, sizeof c->ref, c);
    return 0;
}

/* r is what sending the request returned: if the connection was busy
 * (nothing went), the call is undone and cb will not run (cn.h). */
static int call_sent(cn_proc *p, const cn_ref *ref, int r)
{
    cn_pending *c = NULL;
    if (r != CN_ERR_BUSY)
        return r;
    HASH_FIND(hh, p->pending, ref, sizeof *ref, c);
    if (c)
        pending_done(p, c);
    cn_demonitor(p, ref);
    return r;
}

int cn_call(cn_proc *p, cn_dest dest, const cn_term *req, unsigned timeout_ms,
            cn_call_cb cb, void *ud)
{
    cn_ref ref;
    if (cn_monitor(p, dest, &ref) < 0)
        return -1;
    if (pending_add(p, &ref, timeout_ms, cb, ud) < 0) {
        cn_demonitor(p, &ref);
        return -1;
    }
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{'$gen_call', {~p, ~r}, ~t}", &p->pid, &ref, req);
    cn_term msg = cn_buf_term(&b, 0);
    int r = cn_buf_failed(&b) ? -1
          : dest.pid ? cn_send(p, dest.pid, &msg)
                     : cn_send_named(p, dest.name, dest.node, &msg);
    cn_buf_free(&b);
    return call_sent(p, &ref, r);
}

int cn_cast(cn_proc *p, cn_dest dest, const cn_term *req)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{'$gen_cast', ~t}", req);
    cn_term msg = cn_buf_term(&b, 0);
    int r = cn_buf_failed(&b) ? -1
          : dest.pid ? cn_send(p, dest.pid, &msg)
                     : cn_send_named(p, dest.name, dest.node, &msg);
    cn_buf_free(&b);
    return r;
}

int cn_gleam_call(cn_proc *p, const cn_subject *s, cn_gleam_build build,
                  unsigned timeout_ms, cn_call_cb cb, void *ud)
{
    cn_ref ref;
    if (cn_monitor(p, cn__subject_dest(s), &ref) < 0)
        return -1;
    if (pending_add(p, &ref, timeout_ms, cb, ud) < 0) {
        cn_demonitor(p, &ref);
        return -1;
    }
    cn_subject reply_to = { .owner = p->pid, .tag = ref };
    cn_buf b;
    cn_buf_init(&b);
    cn__subject_put_head(&b, s);
    build(&b, &reply_to, ud);
    cn_term msg = cn_buf_term(&b, 0);
    size_t pos = 0;
    int r = -1;
    if (!cn_buf_failed(&b) && cn_term_check(msg.data, msg.len, &pos) == 0 && pos == msg.len)
        r = cn__subject_deliver(p, s, &msg);
    else
        cn_log(p->node, CN_LOG_ERROR, "cn_gleam_call: the request builder made a bad term");
    cn_buf_free(&b);
    return call_sent(p, &ref, r);
}

int cn__call_match(cn_proc *p, const cn_term *msg)
{
    cn_ref ref;
    cn_term body;
    cn_pending *c = NULL;
    cn_call_status st;
    if (cn__term_match_weak(msg, "{~r, ~t}", &ref, &body)) {
        st = CN_CALL_OK;
    } else if (cn__term_match_weak(msg, "{'DOWN', ~r, process, _, ~t}", &ref, &body)) {
        st = CN_CALL_DOWN;
    } else {
        return 0;
    }
    HASH_FIND(hh, p->pending, &ref, sizeof ref, c);
    if (!c)
        return 0;
    cn_call_cb cb = c->cb;
    void *ud = c->ud;
    pending_done(p, c);
    if (st == CN_CALL_OK)
        cn_demonitor(p, &ref);
    cb(p, st, &body, ud);
    return 1;
}

void cn__calls_cancel(cn_proc *p)
{
    cn_pending *c, *tmp;
    HASH_ITER(hh, p->pending, c, tmp) {
        pending_done(p, c);
    }
}
