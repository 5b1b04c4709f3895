/* gleam.c - Gleam Subjects for C processes.
 *
 * A Subject is {subject, OwnerPid, Tag}; process.send delivers {Tag, Msg} to
 * the owner.  A C process mints its own (a fresh ref it remembers) and
 * receives {Tag, Msg} in handle_subject; it sends to any Subject, Gleam's or
 * C's, the same way.  A named subject (gleam_erlang 1.x) is
 * {named_subject, Name}: messages are {Name, Msg} to whoever is registered
 * as Name; a registered C process takes its own with cn_subject_named, and
 * C sends to Name on a given node.  actor.call is in call.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void cn_subject_new(cn_proc *p, cn_subject *s)
{
    memset(s, 0, sizeof *s);
    s->owner = p->pid;
    s->tag = cn_make_ref(p->node);
    cn_subj_entry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->ref = s->tag;
    HASH_ADD(hh, p->subjects, ref, sizeof e->ref, e);
}

int cn_subject_named(cn_proc *p, cn_subject *s)
{
    if (cn_named_subject(s, p->name, NULL) < 0)
        return -1;
    s->owner = p->pid;
    p->named = s->name;
    return 0;
}

void cn_subject_drop(cn_proc *p, const cn_subject *s)
{
    cn_subj_entry *e = NULL;
    if (s->name) {
        if (s->name == p->named)
            p->named = NULL;
        return;
    }
    HASH_FIND(hh, p->subjects, &s->tag, sizeof s->tag, e);
    if (e) {
        HASH_DEL(p->subjects, e);
        free(e);
    }
}

void cn__subjects_free(cn_proc *p)
{
    cn_subj_entry *e, *tmp;
    HASH_ITER(hh, p->subjects, e, tmp) {
        HASH_DEL(p->subjects, e);
        free(e);
    }
}

/* text as a kept atom; NULL if it cannot be one (1..255 characters of
 * UTF-8) or the atom table is full. */
static cn_atom atom_of(const char *text)
{
    size_t len = strlen(text), chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)text[i] & 0xc0) != 0x80;
    if (!len || len > CN_ATOM_BUF - 4 || chars > 255)
        return NULL;
    return cn_atom_intern(text, len);
}

int cn_named_subject(cn_subject *s, const char *name, const char *node)
{
    memset(s, 0, sizeof *s);
    cn_atom a = name ? atom_of(name) : NULL;
    cn_atom at = node ? atom_of(node) : NULL;
    if (!a || (node && !at))
        return -1;
    s->name = a;
    s->node = at;
    return 0;
}

int cn_subject_from_term(const cn_term *t, cn_subject *s)
{
    char name[CN_ATOM_BUF];
    memset(s, 0, sizeof *s);
    if (cn_term_match(t, "{subject, ~p, ~r}", &s->owner, &s->tag))
        return 0;
    if (cn_term_match(t, "{named_subject, ~a}", name))
        return cn_named_subject(s, name, NULL);
    return -1;
}

void cn_subject_put(cn_buf *b, const cn_subject *s)
{
    if (s->name)
        cn_term_build(b, "{named_subject, ~a}", s->name);
    else
        cn_term_build(b, "{subject, ~p, ~r}", &s->owner, &s->tag);
}

void cn__subject_put_head(cn_buf *b, const cn_subject *s)
{
    cn_term_put_tuple(b, 2);
    if (s->name)
        cn_term_put_atom(b, s->name);
    else
        cn_term_put_ref(b, &s->tag);
}

cn_dest cn__subject_dest(const cn_subject *s)
{
    cn_dest d = { NULL, s->name, s->node };
    if (!s->name)
        d.pid = &s->owner;
    return d;
}

int cn__subject_deliver(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    if (s->name)
        return cn_send_named(p, s->name, s->node, msg);
    return cn_send(p, &s->owner, msg);
}

int cn_subject_send(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    cn_buf b;
    cn_buf_init(&b);
    cn__subject_put_head(&b, s);
    cn_term_put_term(&b, msg);
    cn_term t = cn_buf_term(&b, 0);
    int r = cn_buf_failed(&b) ? -1 : cn__subject_deliver(p, s, &t);
    cn_buf_free(&b);
    return r;
}

int cn_subject_sendf(cn_proc *p, const cn_subject *s, const char *pattern, ...)
{
    cn_buf b;
    va_list ap;
    cn_buf_init(&b);
    cn__subject_put_head(&b, s);
    va_start(ap, pattern);
    cn_term_vbuild(&b, pattern, ap);
    va_end(ap);
    cn_term t = cn_buf_term(&b, 0);
    int r = -1;
    if (cn_buf_failed(&b))
        cn_log(p->node, CN_LOG_ERROR, "cn_subject_sendf: bad pattern \"%s\"", pattern);
    else
        r = cn__subject_deliver(p, s, &t);
    cn_buf_free(&b);
    return r;
}

/* Whether msg is {Tag, Inner} for one of p's subjects, or {Name, Inner}
 * for its named subject; fills s with the subject it came through. */
static int subject_of(cn_proc *p, const cn_term *msg, cn_subject *s, cn_term *inner)
{
    cn_subj_entry *e = NULL;
    memset(s, 0, sizeof *s);
    s->owner = p->pid;
    if (cn__term_match_weak(msg, "{~r, ~t}", &s->tag, inner)) {
        HASH_FIND(hh, p->subjects, &s->tag, sizeof s->tag, e);
        return e != NULL;
    }
    if (p->named && cn_term_match(msg, "{~A, ~t}", p->named, inner)) {
        s->name = p->named;
        return 1;
    }
    return 0;
}

int cn__subject_match(cn_proc *p, const cn_term *msg)
{
    cn_subject s;
    cn_term inner;
    if (!subject_of(p, msg, &s, &inner))
        return 0;
    if (p->ops->handle_subject) {
        if (p->ops->handle_subject(p, &s, &inner) == CN_UNHANDLED)
            return cn__gen_info(p, msg);
        return 1;
    }
    return cn__gen_info(p, msg);
}
