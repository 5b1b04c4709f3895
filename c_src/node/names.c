/* names.c - the node names a node holds, so that atom.c can free the rest.
 *
 * The runtime's own node names (weak, atom.c) are held in a node's
 * connections (the peer, processes waiting for output to drain) and in its
 * processes: their links, monitors (both ways), pending calls, Subjects,
 * exit signals waiting in mailboxes, and dead-letter addresses.  When
 * atom.c wants a sweep, the node runs it between loop turns (the prepare
 * hook), when no runtime code is in the middle of using a name: every name
 * held is marked, atom.c frees the others.  Anything in the runtime that
 * comes to hold a pid, ref or node name must be marked here.
 */
#include "internal.h"

#define CN_SWEEP_PAUSE_MS 1000      /* between sweeps that are not pressing */

static void mark_pid(const cn_pid *p) { cn__atom_mark(p->node); }
static void mark_ref(const cn_ref *r) { cn__atom_mark(r->node); }

static void mark_mons(const cn_mon *m)
{
    for (; m; m = m->next) {
        mark_ref(&m->ref);
        mark_pid(&m->watcher);
        mark_pid(&m->target);
        cn__atom_mark(m->target_node);
    }
}

/* Exit signals carry their sender; ordinary messages are bytes. */
static void mark_envs(const cn_env *e)
{
    for (; e; e = e->next)
        if (e->kind != ENV_MSG)
            mark_pid(&e->from);
}

static void mark_proc(const cn_proc *p)
{
    mark_pid(&p->pid);
    if (p->has_dead_letter)
        mark_pid(&p->dead_letter);
    for (const cn_linkrec *l = p->links; l; l = l->next)
        mark_pid(&l->pid);
    mark_mons(p->mon_out);
    mark_mons(p->mon_in);
    mark_envs(p->mbox_head);
    mark_envs(p->held_head);
    for (const cn_pending *c = p->pending; c; c = c->hh.next)
        mark_ref(&c->ref);
    for (const cn_subj_entry *s = p->subjects; s; s = s->hh.next)
        mark_ref(&s->ref);
}

static void mark_conn(const cn_conn *c)
{
    cn__atom_mark(c->peer);
    for (size_t i = 0; i < c->ndrain; i++)
        mark_pid(&c->drain_waiters[i]);
}

static void mark_node(void *ud)
{
    const cn_node *n = ud;
    cn__atom_mark(n->self);
    for (const cn_conn *c = n->conn_list; c; c = c->next)
        mark_conn(c);
    for (const cn_proc *p = n->procs; p; p = p->hh_num.next)
        mark_proc(p);
}

void cn__names_sweep(cn_node *n)
{
    int wanted = cn__atom_sweep_wanted();
    uint64_t now = uv_now(n->loop);
    if (!wanted || (wanted == 1 && now - n->names_swept < CN_SWEEP_PAUSE_MS))
        return;
    n->names_swept = now;
    size_t freed = cn__atom_sweep(mark_node, n);
    if (freed)
        cn_log(n, CN_LOG_DEBUG, "%zu node names no longer held: freed", freed);
}
