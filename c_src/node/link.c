/* link.c - links, monitors and exit signals, local and across the wire.
 *
 * Semantics follow erts: a link is two-way and an exit with a reason other
 * than normal kills the linked process unless it traps exits, in which case
 * it gets {'EXIT', From, Reason}; kill sent by exit/2 cannot be trapped and
 * becomes killed.  A monitor is one-way and ends in a single
 * {'DOWN', Ref, process, Object, Reason}; monitoring a process that does not
 * exist gives noproc at once; losing the connection gives noconnection.
 * Object is the pid, or {Name, Node} for a monitor by name.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int is_local(const cn_node *n, const cn_pid *pid) { return pid->node == n->self; }

static cn_term atom_term(cn_buf *b, const char *atom)
{
    cn_buf_reset(b);
    cn_term_put_atom(b, atom);
    return cn_buf_term(b, 0);
}

/* ---- link lists --------------------------------------------------------- */

static int has_link(const cn_proc *p, const cn_pid *pid)
{
    for (const cn_linkrec *l = p->links; l; l = l->next)
        if (cn_pid_eq(&l->pid, pid))
            return 1;
    return 0;
}

static int add_link(cn_proc *p, const cn_pid *pid)
{
    if (has_link(p, pid))
        return 0;
    cn_linkrec *l = malloc(sizeof *l);
    if (!l)
        return -1;
    l->pid = *pid;
    l->next = p->links;
    p->links = l;
    return 0;
}

static int del_link(cn_proc *p, const cn_pid *pid)
{
    for (cn_linkrec **pp = &p->links; *pp; pp = &(*pp)->next) {
        if (cn_pid_eq(&(*pp)->pid, pid)) {
            cn_linkrec *l = *pp;
            *pp = l->next;
            free(l);
            return 1;
        }
    }
    return 0;
}

/* ---- exit signals ------------------------------------------------------- */

static void signal_local(cn_proc *to, env_kind kind, const cn_pid *from, const cn_term *reason)
{
    cn__proc_deliver(to, kind, from, reason, 0);
}

void cn__exit_signal(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *reason)
{
    if (kind == ENV_KILL) {
        cn_stop(p, reason);         /* the mailbox limit (proc.c) */
        return;
    }
    if (kind == ENV_EXIT2 && cn_term_is_atom(reason, "kill")) {
        cn_stop_atom(p, "killed");
        return;
    }
    if (p->trap_exit) {
        cn_buf b;
        cn_buf_init(&b);
        cn_term_build(&b, "{'EXIT', ~p, ~t}", from, reason);
        if (!cn_buf_failed(&b)) {
            cn_term msg = cn_buf_term(&b, 0);
            cn__gen_dispatch(p, &msg);
        }
        cn_buf_free(&b);
        return;
    }
    if (cn_term_is_atom(reason, "normal"))
        return;
    cn_stop(p, reason);
}

void cn_exit(cn_proc *from, const cn_pid *to, const cn_term *reason)
{
    cn_node *n = from->node;
    if (is_local(n, to)) {
        cn_proc *p = cn_proc_by_pid(n, to);
        if (p)
            signal_local(p, ENV_EXIT2, &from->pid, reason);
        return;
    }
    cn_ctl_out o;
    if (cn__route_ctl(n, to->node, 1, &o) == 0)
        cn_dist_put_exit(o.buf, o.flags, 1,
                         &from->pid, to, reason);
}

/* ---- links -------------------------------------------------------------- */

int cn_link(cn_proc *p, const cn_pid *other)
{
    cn_node *n = p->node;
    cn_buf *b = &n->sigbuf;
    if (cn_pid_eq(other, &p->pid) || has_link(p, other))
        return 0;
    if (is_local(n, other)) {
        cn_proc *t = cn_proc_by_pid(n, other);
        if (!t) {
            cn_term r = atom_term(b, "noproc");
            signal_local(p, ENV_EXIT, other, &r);
            return -1;
        }
        add_link(p, other);
        add_link(t, &p->pid);
        return 0;
    }
    add_link(p, other);
    cn_ctl_out o;
    if (cn__route_ctl(n, other->node, 1, &o) < 0)
        return -1;                  /* peer_down already signalled */
    cn_dist_put_link(o.buf, &p->pid, other);
    return 0;
}

int cn_unlink(cn_proc *p, const cn_pid *other)
{
    cn_node *n = p->node;
    if (!del_link(p, other))
        return 0;
    if (is_local(n, other)) {
        cn_proc *t = cn_proc_by_pid(n, other);
        if (t)
            del_link(t, &p->pid);
        return 0;
    }
    cn_ctl_out o;
    if (cn__route_ctl(n, other->node, 0, &o) == 0)
        cn_dist_put_unlink(o.buf, o.flags, ++n->next_unlink_id, &p->pid, other);
    return 0;
}

void cn__remote_link(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back)
{
    cn_proc *t = cn_proc_by_pid(n, &m->to);
    if (!t) {
        cn_term r = atom_term(&n->sigbuf, "noproc");
        cn_dist_put_exit(back->buf, back->flags, 0, &m->to, &m->from, &r);
        return;
    }
    add_link(t, &m->from);
}

void cn__remote_unlink(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back)
{
    if (m->kind == CN_DIST_UNLINK_ACK)
        return;
    cn_proc *t = cn_proc_by_pid(n, &m->to);
    if (t)
        del_link(t, &m->from);
    if (m->id)
        cn_dist_put_unlink_ack(back->buf, m->id, &m->to, &m->from);
}

void cn__remote_exit(cn_node *n, const cn_dist_msg *m)
{
    cn_proc *t = cn_proc_by_pid(n, &m->to);
    if (!t)
        return;
    if (m->kind == CN_DIST_EXIT) {
        if (!del_link(t, &m->from))
            return;                 /* unlinked meanwhile */
        signal_local(t, ENV_EXIT, &m->from, &m->reason);
    } else {
        signal_local(t, ENV_EXIT2, &m->from, &m->reason);
    }
}

void cn__links_on_exit(cn_proc *p, const cn_term *reason)
{
    cn_node *n = p->node;
    while (p->links) {
        cn_linkrec *l = p->links;
        p->links = l->next;
        if (is_local(n, &l->pid)) {
            cn_proc *t = cn_proc_by_pid(n, &l->pid);
            if (t && del_link(t, &p->pid))
                signal_local(t, ENV_EXIT, &p->pid, reason);
        } else {
            cn_ctl_out o;
            if (cn__route_ctl(n, l->pid.node, 0, &o) == 0)
                cn_dist_put_exit(o.buf, o.flags, 0, &p->pid, &l->pid, reason);
        }
        free(l);
    }
}

/* ---- monitors ----------------------------------------------------------- */

static cn_mon *mon_new(const cn_ref *ref, const cn_pid *watcher, const char *name)
{
    cn_mon *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->ref = *ref;
    m->watcher = *watcher;
    if (name && !(m->name = strdup(name))) {
        free(m);
        return NULL;
    }
    return m;
}

static void mon_free(cn_mon *m)
{
    free(m->name);
    free(m);
}

static cn_mon *mon_take(cn_mon **list, const cn_ref *ref)
{
    for (cn_mon **pp = list; *pp; pp = &(*pp)->next) {
        if (cn_ref_eq(&(*pp)->ref, ref)) {
            cn_mon *m = *pp;
            *pp = m->next;
            return m;
        }
    }
    return NULL;
}

static void mon_push(cn_mon **list, cn_mon *m)
{
    m->next = *list;
    *list = m;
}

void cn__deliver_down(cn_proc *watcher, const cn_mon *mon, const cn_term *reason)
{
    cn_buf b;
    cn_buf_init(&b);
    if (mon->name)
        cn_term_build(&b, "{'DOWN', ~r, process, {~a, ~a}, ~t}", &mon->ref, mon->name,
                      mon->target_node, reason);
    else
        cn_term_build(&b, "{'DOWN', ~r, process, ~p, ~t}", &mon->ref, &mon->target, reason);
    if (!cn_buf_failed(&b)) {
        cn_term t = cn_buf_term(&b, 0);
        cn__proc_deliver(watcher, ENV_MSG, NULL, &t, 0);
    }
    cn_buf_free(&b);
}

int cn_monitor(cn_proc *p, cn_dest dest, cn_ref *ref_out)
{
    cn_node *n = p->node;
    cn_ref ref = cn_make_ref(n);
    const char *name = dest.pid ? NULL : dest.name;
    cn_atom node = dest.pid ? dest.pid->node
                 : dest.node ? cn__atom_intern_weak(dest.node, strlen(dest.node))
                 : n->self;
    if (ref_out)
        *ref_out = ref;
    if (!node || (!dest.pid && !dest.name))
        return -1;
    cn_mon *m = mon_new(&ref, &p->pid, name);
    if (!m)
        return -1;
    m->target_node = node;
    if (dest.pid)
        m->target = *dest.pid;

    if (node == n->self) {
        cn_proc *t = dest.pid ? cn_proc_by_pid(n, dest.pid) : cn_whereis(n, name);
        if (!t) {
            cn_term r = atom_term(&n->sigbuf, "noproc");
            cn__deliver_down(p, m, &r);
            mon_free(m);
            return 0;
        }
        m->target = t->pid;
        cn_mon *back = mon_new(&ref, &p->pid, name);
        if (!back) {
            mon_free(m);
            return -1;
        }
        back->target = t->pid;
        back->target_node = node;
        mon_push(&p->mon_out, m);
        mon_push(&t->mon_in, back);
        return 0;
    }
    mon_push(&p->mon_out, m);
    cn_ctl_out o;
    if (cn__route_ctl(n, node, 1, &o) == 0)   /* else peer_down sent DOWN noconnection */
        cn_dist_put_monitor(o.buf, 0, &p->pid, dest.pid, name, &ref);
    return 0;
}

void cn_demonitor(cn_proc *p, const cn_ref *ref)
{
    cn_node *n = p->node;
    cn_mon *m = mon_take(&p->mon_out, ref);
    if (!m)
        return;
    if (m->target_node == n->self) {
        cn_proc *t = cn_proc_by_pid(n, &m->target);
        if (t) {
            cn_mon *back = mon_take(&t->mon_in, ref);
            if (back)
                mon_free(back);
        }
    } else {
        cn_ctl_out o;
        if (cn__route_ctl(n, m->target_node, 0, &o) == 0)
            cn_dist_put_monitor(o.buf, 1, &p->pid, m->name ? NULL : &m->target,
                                m->name, ref);
    }
    mon_free(m);
}

void cn__remote_monitor(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back)
{
    cn_proc *t = m->to_is_name ? cn_whereis(n, m->to_name) : cn_proc_by_pid(n, &m->to);
    if (!t) {
        cn_term r = atom_term(&n->sigbuf, "noproc");
        cn_dist_put_monitor_exit(back->buf, back->flags, &m->to,
                                 m->to_is_name ? m->to_name : NULL, &m->from, &m->ref, &r);
        return;
    }
    cn_mon *mon = mon_new(&m->ref, &m->from, m->to_is_name ? m->to_name : NULL);
    if (!mon)
        return;
    mon->target = t->pid;
    mon->target_node = n->self;
    mon_push(&t->mon_in, mon);
}

void cn__remote_demonitor(cn_node *n, const cn_dist_msg *m)
{
    cn_proc *t = m->to_is_name ? cn_whereis(n, m->to_name) : cn_proc_by_pid(n, &m->to);
    if (!t)
        return;
    cn_mon *mon = mon_take(&t->mon_in, &m->ref);
    if (mon)
        mon_free(mon);
}

void cn__remote_monitor_exit(cn_node *n, const cn_dist_msg *m)
{
    cn_proc *w = cn_proc_by_pid(n, &m->to);
    if (!w)
        return;
    cn_mon *mon = mon_take(&w->mon_out, &m->ref);
    if (!mon)
        return;                     /* demonitored meanwhile */
    cn__deliver_down(w, mon, &m->reason);
    mon_free(mon);
}

void cn__monitors_on_exit(cn_proc *p, const cn_term *reason)
{
    cn_node *n = p->node;
    while (p->mon_out) {
        cn_ref ref = p->mon_out->ref;
        cn_demonitor(p, &ref);
    }
    while (p->mon_in) {
        cn_mon *m = p->mon_in;
        p->mon_in = m->next;
        if (is_local(n, &m->watcher)) {
            cn_proc *w = cn_proc_by_pid(n, &m->watcher);
            cn_mon *fwd = w ? mon_take(&w->mon_out, &m->ref) : NULL;
            if (fwd) {
                cn__deliver_down(w, fwd, reason);
                mon_free(fwd);
            }
        } else {
            cn_ctl_out o;
            if (cn__route_ctl(n, m->watcher.node, 0, &o) == 0)
                cn_dist_put_monitor_exit(o.buf, o.flags, &p->pid, m->name,
                                         &m->watcher, &m->ref, reason);
        }
        mon_free(m);
    }
}

/* ---- losing a node ------------------------------------------------------ */

void cn__peer_down(cn_node *n, cn_atom peer)
{
    cn_term noconn = atom_term(&n->sigbuf, "noconnection");
    cn_buf reason;
    cn_buf_init(&reason);
    cn_term_put_term(&reason, &noconn);
    noconn = cn_buf_term(&reason, 0);
    cn_proc *p, *tmp;
    HASH_ITER(hh_num, n->procs, p, tmp) {
        if (p->dead)
            continue;
        for (cn_linkrec **pp = &p->links; *pp;) {
            cn_linkrec *l = *pp;
            if (l->pid.node == peer) {
                *pp = l->next;
                signal_local(p, ENV_EXIT, &l->pid, &noconn);
                free(l);
            } else {
                pp = &l->next;
            }
        }
        for (cn_mon **pp = &p->mon_out; *pp;) {
            cn_mon *m = *pp;
            if (m->target_node == peer) {
                *pp = m->next;
                cn__deliver_down(p, m, &noconn);
                mon_free(m);
            } else {
                pp = &m->next;
            }
        }
        for (cn_mon **pp = &p->mon_in; *pp;) {
            cn_mon *m = *pp;
            if (m->watcher.node == peer) {
                *pp = m->next;
                mon_free(m);
            } else {
                pp = &m->next;
            }
        }
    }
    cn_buf_free(&reason);
}
