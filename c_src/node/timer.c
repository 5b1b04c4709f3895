/* timer.c - process timers, as erlang:start_timer/3,4 and cancel_timer/1.
 *
 * A timer belongs to one process and ends as a message to it,
 * {timeout, Ref, Msg}, handled as any other message: a turn of that
 * process, behind what its mailbox already holds, held while it is
 * suspended.  A process's timers go when it exits.  Every timer of a node
 * sits in one binary min-heap ordered by (due, start order) under one libuv
 * timer armed for the earliest; the clock is the loop's (uv_now), which
 * cn_proc_now hands to the processes, so a core fed from it and its timers
 * agree on what time it is.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cn_ptimer {
    cn_ptimer *prev, *next;         /* the owner's timers */
    cn_proc   *proc;
    uint64_t   due;                 /* loop ms */
    uint64_t   seq;                 /* start order: ties fire in it */
    size_t     at;                  /* index in the node's heap */
    cn_ref     ref;
    size_t     len;
    char       msg[];               /* Msg, encoded */
};

uint64_t cn_proc_now(const cn_proc *p) { return uv_now(p->node->loop); }

/* ---- the heap ----------------------------------------------------------- */

static int before(const cn_ptimer *a, const cn_ptimer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(cn_node *n, size_t i, cn_ptimer *t)
{
    n->theap[i] = t;
    t->at = i;
}

static void sift_up(cn_node *n, size_t i)
{
    cn_ptimer *t = n->theap[i];
    while (i > 0 && before(t, n->theap[(i - 1) / 2])) {
        heap_set(n, i, n->theap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(n, i, t);
}

static void sift_down(cn_node *n, size_t i)
{
    cn_ptimer *t = n->theap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n->theap_len)
            break;
        if (c + 1 < n->theap_len && before(n->theap[c + 1], n->theap[c]))
            c++;
        if (!before(n->theap[c], t))
            break;
        heap_set(n, i, n->theap[c]);
        i = c;
    }
    heap_set(n, i, t);
}

static int heap_push(cn_node *n, cn_ptimer *t)
{
    if (n->theap_len == n->theap_cap) {
        size_t cap = n->theap_cap ? 2 * n->theap_cap : 16;
        cn_ptimer **h = realloc(n->theap, cap * sizeof *h);
        if (!h)
            return -1;
        n->theap = h;
        n->theap_cap = cap;
    }
    heap_set(n, n->theap_len++, t);
    sift_up(n, t->at);
    return 0;
}

static void heap_remove(cn_node *n, cn_ptimer *t)
{
    size_t i = t->at;
    cn_ptimer *last = n->theap[--n->theap_len];
    if (last == t)
        return;
    heap_set(n, i, last);
    sift_up(n, i);
    sift_down(n, last->at);
}

/* ---- arming the loop's timer -------------------------------------------- */

static void on_due(uv_timer_t *h);

static void arm(cn_node *n)
{
    if (!n->timers_open)
        return;
    if (!n->theap_len) {
        uv_timer_stop(&n->timers);
        return;
    }
    uint64_t due = n->theap[0]->due, now = uv_now(n->loop);
    uv_timer_start(&n->timers, on_due, due > now ? due - now : 0, 0);
}

void cn__timers_init(cn_node *n)
{
    uv_timer_init(n->loop, &n->timers);
    n->timers.data = n;
    n->timers_open = 1;
    cn_buf_init(&n->timerbuf);
}

void cn__timers_close(cn_node *n, void (*closed)(uv_handle_t *))
{
    if (!n->timers_open)
        return;
    n->timers_open = 0;
    uv_close((uv_handle_t *)&n->timers, closed);
}

/* With the node: timers of processes that never exited (the node freed
 * without a stop) go with the heap. */
void cn__timers_free(cn_node *n)
{
    for (size_t i = 0; i < n->theap_len; i++)
        free(n->theap[i]);
    free(n->theap);
    n->theap = NULL;
    n->theap_len = n->theap_cap = 0;
    cn_buf_free(&n->timerbuf);
}

/* ---- one timer ---------------------------------------------------------- */

static void unlink_timer(cn_ptimer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->proc->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void drop(cn_node *n, cn_ptimer *t)
{
    heap_remove(n, t);
    unlink_timer(t);
    n->stats.timers--;
    free(t);
}

static int start_at(cn_proc *p, uint64_t at, const cn_term *msg, cn_ref *ref)
{
    cn_node *n = p->node;
    if (p->dead || p->exiting || !n->timers_open)
        return -1;                  /* nothing could receive it */
    cn_ptimer *t = malloc(sizeof *t + msg->len);
    if (!t)
        return -1;
    t->proc = p;
    t->due = at;
    t->seq = ++n->timer_seq;
    t->ref = cn_make_ref(n);
    t->len = msg->len;
    memcpy(t->msg, msg->data, msg->len);
    if (heap_push(n, t) < 0) {
        free(t);
        return -1;
    }
    t->prev = NULL;
    t->next = p->timers;
    if (p->timers)
        p->timers->prev = t;
    p->timers = t;
    n->stats.timers++;
    if (n->theap[0] == t)
        arm(n);
    if (ref)
        *ref = t->ref;
    return 0;
}

int cn_start_timer(cn_proc *p, uint64_t ms, const cn_term *msg, cn_ref *ref)
{
    return start_at(p, cn_proc_now(p) + ms, msg, ref);
}

/* Built in the node's send buffer, as cn_sendf: copied before it returns. */
int cn_start_timerf(cn_proc *p, uint64_t ms, cn_ref *ref, const char *pattern, ...)
{
    va_list ap;
    cn_term t;
    va_start(ap, pattern);
    int r = cn__send_fmt(p->node, "cn_start_timerf", &t, pattern, ap);
    va_end(ap);
    return r < 0 ? -1 : cn_start_timer(p, ms, &t, ref);
}

long cn_cancel_timer(cn_proc *p, const cn_ref *ref)
{
    cn_node *n = p->node;
    for (cn_ptimer *t = p->timers; t; t = t->next)
        if (cn_ref_eq(&t->ref, ref)) {
            uint64_t now = uv_now(n->loop), due = t->due;
            int was_first = n->theap[0] == t;
            drop(n, t);
            if (was_first)
                arm(n);
            return due > now ? (long)(due - now) : 0;
        }
    return -1;
}

/* ---- deadlines ---------------------------------------------------------- */

void cn_deadline_set(cn_proc *p, cn_deadline *d, uint64_t at)
{
    if (at == UINT64_MAX)
        at = 0;
    else if (at == 0)
        at = 1;                     /* 0 is "not armed" */
    if (at == d->due)
        return;
    if (d->due)
        cn_cancel_timer(p, &d->ref);
    d->due = 0;
    if (!at)
        return;
    cn_buf *b = &p->node->sendbuf;
    cn_buf_reset(b);
    cn_term_put_atom(b, d->tag);
    cn_term t = cn_buf_term(b, 0);
    if (!cn_buf_failed(b) && start_at(p, at, &t, &d->ref) == 0)
        d->due = at;
    else
        cn_log(p->node, CN_LOG_ERROR, "out of memory: the %s timer is not armed", d->tag);
}

int cn_deadline_fired(cn_deadline *d, const cn_term *msg)
{
    cn_ref ref;
    cn_term tag;
    if (!cn_term_match(msg, "{timeout, ~r, ~t}", &ref, &tag) || !cn_term_is_atom(&tag, d->tag))
        return -1;
    if (!d->due || !cn_ref_eq(&ref, &d->ref))
        return 0;
    d->due = 0;
    return 1;
}

void cn__timers_on_exit(cn_proc *p)
{
    cn_node *n = p->node;
    while (p->timers)
        drop(n, p->timers);
    arm(n);
}

/* Every timer that is due becomes its message.  Each is out of the heap
 * before its process sees it, so a handler may start and cancel timers
 * freely; one it starts here fires on a later loop turn at the earliest
 * (a process that re-arms a 0 ms timer from its handler lets the loop run). */
static void on_due(uv_timer_t *h)
{
    cn_node *n = h->data;
    uint64_t now = uv_now(n->loop), last = n->timer_seq;
    while (n->theap_len && n->theap[0]->due <= now && n->theap[0]->seq <= last) {
        cn_ptimer *t = n->theap[0];
        cn_proc *p = t->proc;
        cn_buf *b = &n->timerbuf;
        cn_buf_reset(b);
        cn_term_put_tuple(b, 3);
        cn_term_put_atom(b, "timeout");
        cn_term_put_ref(b, &t->ref);
        cn_buf_append(b, t->msg, t->len);
        drop(n, t);
        if (cn_buf_failed(b)) {
            cn_log(n, CN_LOG_ERROR, "out of memory: a timer's message dropped");
            continue;
        }
        cn_term m = cn_buf_term(b, 0);
        cn__proc_deliver(p, ENV_MSG, NULL, &m, CN__DELIVER_DIRECT);
    }
    arm(n);
}
