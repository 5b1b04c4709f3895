/* gleam.c - Gleam Subjects for C processes.
 *
 * A Subject is {subject, OwnerPid, Tag}; process.send delivers {Tag, Msg} to
 * the owner.  A C process mints its own (a fresh ref it remembers) and
 * receives {Tag, Msg} in handle_subject; it sends to any Subject, Gleam's or
 * C's, the same way.  actor.call is in call.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void cn_subject_new(cn_proc *p, cn_subject *s)
{
    s->owner = p->pid;
    s->tag = cn_make_ref(p->node);
    cn_subj_entry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->ref = s->tag;
    HASH_ADD(hh, p->subjects, ref, sizeof e->ref, e);
}

void cn_subject_drop(cn_proc *p, const cn_subject *s)
{
    cn_subj_entry *e = NULL;
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

int cn_subject_from_term(const cn_term *t, cn_subject *s)
{
    return cn_term_match(t, "{subject, ~p, ~r}", &s->owner, &s->tag) ? 0 : -1;
}

void cn_subject_put(cn_buf *b, const cn_subject *s)
{
    cn_term_build(b, "{subject, ~p, ~r}", &s->owner, &s->tag);
}

int cn_subject_send(cn_proc *p, const cn_subject *s, const cn_term *msg)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, "{~r, ~t}", &s->tag, msg);
    cn_term t = cn_buf_term(&b, 0);
    int r = cn_buf_failed(&b) ? -1 : cn_send(p, &s->owner, &t);
    cn_buf_free(&b);
    return r;
}

int cn_subject_sendf(cn_proc *p, const cn_subject *s, const char *pattern, ...)
{
    cn_buf b;
    va_list ap;
    cn_buf_init(&b);
    cn_term_put_tuple(&b, 2);
    cn_term_put_ref(&b, &s->tag);
    va_start(ap, pattern);
    cn_term_vbuild(&b, pattern, ap);
    va_end(ap);
    cn_term t = cn_buf_term(&b, 0);
    int r = -1;
    if (cn_buf_failed(&b))
        cn_log(p->node, CN_LOG_ERROR, "cn_subject_sendf: bad pattern \"%s\"", pattern);
    else
        r = cn_send(p, &s->owner, &t);
    cn_buf_free(&b);
    return r;
}

int cn__subject_match(cn_proc *p, const cn_term *msg)
{
    cn_subject s;
    cn_term inner;
    cn_subj_entry *e = NULL;
    if (!cn__term_match_weak(msg, "{~r, ~t}", &s.tag, &inner))
        return 0;
    HASH_FIND(hh, p->subjects, &s.tag, sizeof s.tag, e);
    if (!e)
        return 0;
    s.owner = p->pid;
    if (p->ops->handle_subject) {
        if (p->ops->handle_subject(p, &s, &inner) == CN_UNHANDLED)
            return cn__gen_info(p, msg);
        return 1;
    }
    return cn__gen_info(p, msg);
}
