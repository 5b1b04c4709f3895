/* proc.c - C processes: the table, mailboxes, the run queue, exit.
 *
 * A message for a process that is idle, with an empty mailbox, arriving
 * straight off a socket, is handled in place (no copy), while the loop
 * turn's time for that lasts (CN_TURN_NS).  Everything else is copied into
 * the mailbox and the process goes on the node's run queue, which the loop
 * drains in batches bounded in count and time.  A process never runs
 * inside another's handler, so handlers need not be reentrant.
 *
 * Mailboxes are bounded (cn.h): what waits in one and what sys:suspend
 * holds count against the process's limit; an ordinary message that would
 * pass it is shed, or kills the process (an ENV_KILL entry, run on its
 * next turn, so that terminate never runs inside another's handler).
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

void cn_mailbox_limit(cn_proc *p, size_t bytes, cn_mailbox_full policy)
{
    p->mbox_limit = bytes ? bytes : CN_MAILBOX_DEFAULT;
    p->mbox_policy = policy;
}

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

int cn_proc_run(cn_proc *p, void (*fn)(cn_proc *p, void *arg), void *arg)
{
    if (p->dead || p->exiting)
        return -1;
    if (p->running)
        fn(p, arg);
    else
        cn__proc_run(p, fn, arg);
    return 0;
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
    cn_mailbox_limit(p, ops->mailbox_limit, ops->mailbox_full);
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

/* What an entry counts for against the limit (cn.h). */
static size_t entry_bytes(const cn_env *e) { return CN_MAILBOX_ENTRY + e->len; }

static cn_env *env_new(env_kind kind, const cn_pid *from, const cn_term *t)
{
    cn_env *e = malloc(sizeof *e + t->len);
    if (!e)
        return NULL;
    e->next = NULL;
    e->kind = kind;
    if (from)
        e->from = *from;
    else
        memset(&e->from, 0, sizeof e->from);
    e->len = t->len;
    memcpy(e->data, t->data, t->len);
    return e;
}

/* Appends e to the list head..tail (the mailbox, or what sys:suspend
 * holds), counted against the limit. */
static void env_append(cn_proc *p, cn_env **head, cn_env **tail, cn_env *e)
{
    if (*tail)
        (*tail)->next = e;
    else
        *head = e;
    *tail = e;
    p->mbox_bytes += entry_bytes(e);
}

/* The mailbox is below half its limit again: shedding ends. */
static void shedding_ends(cn_proc *p)
{
    cn_log(p->node, CN_LOG_WARN, "%s <%u.%u>: mailbox below half its limit again after "
           "%llu messages shed", p->ops->kind ? p->ops->kind : "process", p->pid.num,
           p->pid.serial, (unsigned long long)p->shedding);
    p->shedding = 0;
}

static cn_env *mbox_pop(cn_proc *p)
{
    cn_env *e = p->mbox_head;
    if (e) {
        p->mbox_head = e->next;
        if (!p->mbox_head)
            p->mbox_tail = NULL;
        p->mbox_len--;
        p->mbox_bytes -= entry_bytes(e);
        if (p->shedding && p->mbox_bytes < p->mbox_limit / 2)
            shedding_ends(p);
    }
    return e;
}

static void free_envs(cn_env *e)
{
    while (e) {
        cn_env *next = e->next;
        free(e);
        e = next;
    }
}

/* Drops everything queued and held. */
static void mbox_clear(cn_proc *p)
{
    free_envs(p->mbox_head);
    free_envs(p->held_head);
    p->mbox_head = p->mbox_tail = p->held_head = p->held_tail = NULL;
    p->mbox_len = 0;
    p->mbox_bytes = 0;
}

static void mbox_push(cn_proc *p, cn_env *e)
{
    env_append(p, &p->mbox_head, &p->mbox_tail, e);
    p->mbox_len++;
    runq_push(p->node, p);          /* runs after the current turn, if any */
}

static void say_full(cn_proc *p, const char *what)
{
    cn_log(p->node, CN_LOG_WARN, "%s <%u.%u>%s%s: mailbox full (%zu bytes queued, limit %zu): %s",
           p->ops->kind ? p->ops->kind : "process", p->pid.num, p->pid.serial,
           p->name ? " " : "", p->name ? p->name : "", p->mbox_bytes, p->mbox_limit, what);
}

/* CN_MAILBOX_KILL: what was queued goes, nothing more gets in, and the
 * process exits with {mailbox_full, Limit} on its next turn. */
static void mailbox_kill(cn_proc *p)
{
    say_full(p, "killing the process");
    p->node->stats.mailbox_kills++;
    mbox_clear(p);
    p->mbox_killed = 1;
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{mailbox_full, ~u}", (uint64_t)p->mbox_limit);
    cn_term reason = cn_buf_term(&b, 0);
    cn_env *e = cn_buf_failed(&b) ? NULL : env_new(ENV_KILL, &p->pid, &reason);
    cn_buf_free(&b);
    if (e)
        mbox_push(p, e);
    else
        cn_stop_atom(p, "mailbox_full");
}

/* Whether an ordinary message of len bytes may join the queue; else the
 * process's policy applies.  An empty mailbox takes any message. */
static int mailbox_admits(cn_proc *p, size_t len)
{
    size_t need = CN_MAILBOX_ENTRY + len;
    if (!p->mbox_bytes || (p->mbox_bytes <= p->mbox_limit && need <= p->mbox_limit - p->mbox_bytes))
        return 1;
    if (p->mbox_policy == CN_MAILBOX_KILL) {
        mailbox_kill(p);
        return 0;
    }
    if (!p->shedding)
        say_full(p, "shedding new messages");
    p->shedding++;
    p->node->stats.msgs_shed++;
    return 0;
}

void cn__proc_deliver(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *t,
                      unsigned how)
{
    cn_node *n = p->node;
    if (p->dead || p->mbox_killed)
        return;
    if ((how & CN__DELIVER_DIRECT) && kind == ENV_MSG && !p->running && !p->mbox_head &&
        !p->suspended && n->dispatch_depth == 0 && cn__node_direct_ok(n)) {
        /* the common case: handle it in place, no copy */
        dispatch(p, ENV_MSG, NULL, t);
        return;
    }
    if ((how & CN__DELIVER_LIMITED) && !mailbox_admits(p, t->len))
        return;
    cn_env *e = env_new(kind, from, t);
    if (!e) {
        cn_log(n, CN_LOG_ERROR, "out of memory: message dropped");
        return;
    }
    mbox_push(p, e);
}

/* A message that came out of the mailbox while suspended: it waits in
 * held (it was admitted already, and counts again there). */
void cn__proc_hold(cn_proc *p, const cn_term *t)
{
    cn_env *e = env_new(ENV_MSG, NULL, t);
    if (!e) {
        cn_log(p->node, CN_LOG_ERROR, "out of memory: message dropped");
        return;
    }
    env_append(p, &p->held_head, &p->held_tail, e);
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

/* Whether a run of the run queue that began at start (ns) and ran k
 * messages has used its time (CN_TURN_NS). */
static int run_spent(uint64_t start, int k)
{
    return k % CN_TURN_CHECK == 0 && uv_hrtime() - start > CN_TURN_NS;
}

/* After the loop, the processes left: ones that exited while queued to
 * run (the run queue would have collected them), ones that never got to
 * exit (stopped mid-handler), and zombies. */
void cn__procs_free(cn_node *n)
{
    for (cn_proc *p = n->runq_head, *next; p; p = next) {
        next = p->runq_next;
        if (p->dead)
            free(p);                /* no longer in the table */
    }
    n->runq_head = n->runq_tail = NULL;
    cn_proc *p, *tmp;
    HASH_ITER(hh_num, n->procs, p, tmp) {
        HASH_DELETE(hh_num, n->procs, p);
        if (p->name)
            HASH_DELETE(hh_name, n->names, p);
        free(p->name);
        mbox_clear(p);
        cn_buf_free(&p->exit_reason);
        cn_buf_free(&p->scratch);
        free(p);
    }
    n->dispatch_depth = 0;
    cn__free_zombies(n);
}

int cn__run_queue(cn_node *n)
{
    uint64_t start = uv_hrtime();
    for (int k = 1; k <= CN_RUN_BATCH && n->runq_head && !run_spent(start, k); k++) {
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
    cn__timer_free(p->idle_timer);
    p->idle_timer = NULL;
    cn__timers_on_exit(p);
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
    mbox_clear(p);
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
