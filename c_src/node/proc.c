/* proc.c - C processes: the table, mailboxes, the run queue, exit.
 *
 * A message for a process that is idle, with an empty mailbox, arriving
 * straight off a socket, is handled in place (no copy).  Everything else is
 * copied into the mailbox and the process goes on the node's run queue,
 * which the loop drains in bounded batches.  A process never runs inside
 * another's handler, so handlers need not be reentrant.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PID_NUM_LIMIT (1u << 15)         /* erts' classic pid number range */
#define PID_SERIAL_LIMIT (1u << 13)

cn_node      *cn_proc_node(const cn_proc *p) { return p->node; }
const cn_pid *cn_self(const cn_proc *p) { return &p->pid; }
void         *cn_proc_state(const cn_proc *p) { return p->state; }
void          cn_proc_set_state(cn_proc *p, void *state) { p->state = state; }
const char   *cn_proc_name(const cn_proc *p) { return p->name; }
void          cn_trap_exit(cn_proc *p, int on) { p->trap_exit = on; }

void cn_proc_set_dead_letter(cn_proc *p, const cn_pid *to)
{
    p->has_dead_letter = to != NULL;
    if (to)
        p->dead_letter = *to;
}

cn_proc *cn_whereis(cn_node *n, const char *name)
{
    cn_proc *p = NULL;
    HASH_FIND(hh_name, n->names, name, strlen(name), p);
    return p && !p->dead ? p : NULL;
}

cn_proc *cn_proc_by_pid(cn_node *n, const cn_pid *pid)
{
    cn_proc *p = NULL;
    if (pid->node != n->self || pid->creation != n->creation)
        return NULL;
    uint32_t key = pid->num | (pid->serial << 15);
    HASH_FIND(hh_num, n->procs, &key, sizeof key, p);
    return p && !p->dead ? p : NULL;
}

/* Next free pid: numbers cycle through 15 bits, the serial counts cycles. */
static int alloc_pid(cn_node *n, cn_pid *pid, uint32_t *key)
{
    for (uint32_t tries = 0; tries < PID_NUM_LIMIT * 2; tries++) {
        uint32_t c = n->next_pid++;
        pid->node = n->self;
        pid->num = c % PID_NUM_LIMIT;
        pid->serial = (c / PID_NUM_LIMIT) % PID_SERIAL_LIMIT;
        pid->creation = n->creation;
        if (pid->num == 0)
            continue;
        cn_proc *p = NULL;
        *key = pid->num | (pid->serial << 15);
        HASH_FIND(hh_num, n->procs, key, sizeof *key, p);
        if (!p)
            return 0;
    }
    return -1;
}

cn_ref cn_make_ref(cn_node *n)
{
    cn_ref r;
    uint64_t c = ++n->next_ref;
    memset(&r, 0, sizeof r);
    r.node = n->self;
    r.creation = n->creation;
    r.len = 3;
    r.n[0] = (uint32_t)(c & 0x3ffff);
    r.n[1] = (uint32_t)(c >> 18);
    r.n[2] = (uint32_t)(c >> 50);
    return r;
}

/* ---- running handlers --------------------------------------------------- */

static void begin_turn(cn_proc *p)
{
    p->node->dispatch_depth++;
    p->running = 1;
    p->next_timeout = -1;
    if (p->idle_timer)
        uv_timer_stop(p->idle_timer);
}

static void end_turn(cn_proc *p)
{
    p->running = 0;
    p->node->dispatch_depth--;
    if (p->exiting)
        cn__proc_exit(p, NULL);
    else
        cn__gen_after_turn(p);
}

static void dispatch(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *t)
{
    begin_turn(p);
    if (kind == ENV_MSG)
        cn__gen_dispatch(p, t);
    else
        cn__exit_signal(p, kind, from, t);
    end_turn(p);
}

void cn__proc_run(cn_proc *p, void (*fn)(cn_proc *p, void *arg), void *arg)
{
    if (p->dead || p->running)
        return;
    begin_turn(p);
    fn(p, arg);
    end_turn(p);
}

static void run_idle_timeout(cn_proc *p, void *arg)
{
    (void)arg;
    if (p->ops->handle_timeout)
        p->ops->handle_timeout(p);
}

void cn__proc_run_timeout(cn_proc *p) { cn__proc_run(p, run_idle_timeout, NULL); }

cn_proc *cn_spawn(cn_node *n, const cn_proc_ops *ops, void *arg, const char *name)
{
    if (n->stopping)
        return NULL;
    if (name && cn_whereis(n, name)) {
        cn_log(n, CN_LOG_WARN, "cannot register '%s': name taken", name);
        return NULL;
    }
    cn_proc *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->node = n;
    p->ops = ops;
    p->next_timeout = -1;
    p->last_timeout = -1;
    if (alloc_pid(n, &p->pid, &p->key) < 0 || (name && !(p->name = strdup(name)))) {
        free(p);
        return NULL;
    }
    HASH_ADD(hh_num, n->procs, key, sizeof p->key, p);
    if (p->name)
        HASH_ADD_KEYPTR(hh_name, n->names, p->name, strlen(p->name), p);
    n->nprocs++;
    n->stats.procs = n->nprocs;
    if (ops->init) {
        begin_turn(p);
        int r = ops->init(p, arg);
        if (r != 0) {
            /* as gen_server: a failed init does not run terminate */
            cn_log(n, CN_LOG_INFO, "%s: init failed", ops->kind ? ops->kind : "process");
            p->no_terminate = 1;
            if (!p->exiting)
                cn_stop_atom(p, "init_failed");
        }
        end_turn(p);
        if (r != 0)
            return NULL;
    } else {
        cn__gen_after_turn(p);
    }
    return p;
}

/* ---- mailboxes ---------------------------------------------------------- */

static void runq_push(cn_node *n, cn_proc *p)
{
    if (p->in_runq)
        return;
    p->in_runq = 1;
    p->runq_next = NULL;
    if (n->runq_tail)
        n->runq_tail->runq_next = p;
    else
        n->runq_head = p;
    n->runq_tail = p;
    cn__node_schedule(n);
}

void cn__proc_deliver(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *t,
                      int direct)
{
    cn_node *n = p->node;
    if (p->dead)
        return;
    if (direct && kind == ENV_MSG && !p->running && !p->mbox_head &&
        n->dispatch_depth == 0) {
        /* the common case: handle it in place, no copy */
        dispatch(p, ENV_MSG, NULL, t);
        return;
    }
    cn_env *e = malloc(sizeof *e + t->len);
    if (!e) {
        cn_log(n, CN_LOG_ERROR, "out of memory: message dropped");
        return;
    }
    e->next = NULL;
    e->kind = kind;
    if (from)
        e->from = *from;
    else
        memset(&e->from, 0, sizeof e->from);
    e->len = t->len;
    memcpy(e->data, t->data, t->len);
    if (p->mbox_tail)
        p->mbox_tail->next = e;
    else
        p->mbox_head = e;
    p->mbox_tail = e;
    p->mbox_len++;
    runq_push(n, p);                /* runs after the current turn, if any */
}

void cn__proc_hold(cn_proc *p, const cn_term *t)
{
    cn_env *e = malloc(sizeof *e + t->len);
    if (!e) {
        cn_log(p->node, CN_LOG_ERROR, "out of memory: message dropped");
        return;
    }
    e->next = NULL;
    e->kind = ENV_MSG;
    e->len = t->len;
    memcpy(e->data, t->data, t->len);
    if (p->held_tail)
        p->held_tail->next = e;
    else
        p->held_head = e;
    p->held_tail = e;
}

void cn__proc_release_held(cn_proc *p)
{
    size_t n = 0;
    if (!p->held_head)
        return;
    for (cn_env *e = p->held_head; e; e = e->next)
        n++;
    p->held_tail->next = p->mbox_head;
    if (!p->mbox_head)
        p->mbox_tail = p->held_tail;
    p->mbox_head = p->held_head;
    p->mbox_len += n;
    p->held_head = p->held_tail = NULL;
    runq_push(p->node, p);
}

static cn_env *mbox_pop(cn_proc *p)
{
    cn_env *e = p->mbox_head;
    if (e) {
        p->mbox_head = e->next;
        if (!p->mbox_head)
            p->mbox_tail = NULL;
        p->mbox_len--;
    }
    return e;
}

void cn__free_zombies(cn_node *n)
{
    if (n->dispatch_depth > 0)
        return;
    while (n->zombies) {
        cn_proc *p = n->zombies;
        n->zombies = p->runq_next;
        free(p);
    }
}

int cn__run_queue(cn_node *n)
{
    int budget = CN_RUN_BATCH;
    while (budget-- > 0 && n->runq_head) {
        cn_proc *p = n->runq_head;
        n->runq_head = p->runq_next;
        if (!n->runq_head)
            n->runq_tail = NULL;
        p->in_runq = 0;
        if (p->dead) {
            p->runq_next = n->zombies;
            n->zombies = p;
            continue;
        }
        cn_env *e = mbox_pop(p);
        if (!e)
            continue;
        cn_term t = { e->data, e->len };
        dispatch(p, e->kind, &e->from, &t);
        free(e);
        if (!p->dead && p->mbox_head)
            runq_push(n, p);
    }
    return n->runq_head != NULL;
}

/* ---- exit --------------------------------------------------------------- */

void cn_stop(cn_proc *p, const cn_term *reason)
{
    if (p->dead || p->exiting)
        return;
    p->exiting = 1;
    cn_buf_reset(&p->exit_reason);
    cn_term_put_term(&p->exit_reason, reason);
    if (!p->running)
        cn__proc_exit(p, NULL);
}

void cn_stop_atom(cn_proc *p, const char *reason)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_put_atom(&b, reason);
    cn_term t = cn_buf_term(&b, 0);
    cn_stop(p, &t);
    cn_buf_free(&b);
}

void cn__proc_exit(cn_proc *p, const cn_term *reason_in)
{
    cn_node *n = p->node;
    if (p->dead)
        return;
    if (reason_in) {
        cn_buf_reset(&p->exit_reason);
        cn_term_put_term(&p->exit_reason, reason_in);
    }
    p->exiting = 1;
    if (p->running)
        return;                     /* end_turn finishes the job */
    cn_term reason = cn_buf_term(&p->exit_reason, 0);
    if (!reason.len || cn_buf_failed(&p->exit_reason)) {
        cn_buf_reset(&p->exit_reason);
        cn_term_put_atom(&p->exit_reason, "normal");
        reason = cn_buf_term(&p->exit_reason, 0);
    }
    if (p->ops->terminate && !p->no_terminate) {
        n->dispatch_depth++;
        p->running = 1;
        p->ops->terminate(p, &reason);
        p->running = 0;
        n->dispatch_depth--;
    }
    p->dead = 1;
    if (!cn_term_is_atom(&reason, "normal") && !cn_term_is_atom(&reason, "shutdown")) {
        char txt[256];
        cn_term_format(&reason, txt, sizeof txt);
        cn_log(n, CN_LOG_WARN, "process <%u.%u>%s%s exited: %s", p->pid.num, p->pid.serial,
               p->name ? " " : "", p->name ? p->name : "", txt);
    }
    cn_timer_free(p->idle_timer);
    p->idle_timer = NULL;
    cn__calls_cancel(p);
    cn__monitors_on_exit(p, &reason);
    cn__links_on_exit(p, &reason);
    cn__subjects_free(p);

    HASH_DELETE(hh_num, n->procs, p);
    if (p->name) {
        HASH_DELETE(hh_name, n->names, p);
        free(p->name);
        p->name = NULL;
    }
    n->nprocs--;
    n->stats.procs = n->nprocs;
    cn_env *e;
    while ((e = mbox_pop(p)))
        free(e);
    while ((e = p->held_head)) {
        p->held_head = e->next;
        free(e);
    }
    p->held_tail = NULL;
    cn_buf_free(&p->exit_reason);
    cn_buf_free(&p->scratch);
    /* freed once no handler frame can still point at it */
    if (!p->in_runq) {
        p->runq_next = n->zombies;
        n->zombies = p;
    }                               /* else the run queue collects it */
}

/* Stops every process (node shutdown).  One inside a handler (it called
 * cn_node_stop) exits when its handler returns; terminate runs for all. */
void cn__proc_stop_all(cn_node *n, const char *reason)
{
    cn_proc *p, *tmp;
    HASH_ITER(hh_num, n->procs, p, tmp) {
        if (!p->dead)
            cn_stop_atom(p, reason);
    }
}
