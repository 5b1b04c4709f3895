/* gc_wire.c - gossip messages to and from Erlang terms (see gc_wire.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc_wire.h"

int gc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int bad(char *err, size_t errlen, const char *fmt, const char *arg)
{
    snprintf(err, errlen, fmt, arg);
    return -1;
}

/* A binary that is a node name, copied to out. */
static int take_name(const char *p, size_t n, char *out, const char *what, char *err,
                     size_t errlen)
{
    if (!gc_name_valid(p, n))
        return bad(err, errlen, "%s is not a node name (a binary <<\"alive@host\">>)", what);
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int decode_list(gc_wire_in *in, const cn_term *list, gc_msg *m, char *err, size_t errlen)
{
    cn_list_iter it;
    uint32_t count;
    if (cn_list_begin(&it, list, &count) < 0)
        return bad(err, errlen, "%s", "peer_list needs a list of node names");
    if (count > GC_WIRE_MAX_LIST)
        return bad(err, errlen, "%s", "peer_list longer than 16384 names");
    size_t need = (size_t)count * (GC_NAME_MAX + 1);
    if (count && need > in->names_cap) {
        char *names = realloc(in->names, need);
        if (!names)
            return bad(err, errlen, "%s", "out of memory for a peer_list");
        in->names = names;
        in->names_cap = need;
    }
    if (count > in->list_cap) {
        const char **l = realloc(in->list, count * sizeof *l);
        if (!l)
            return bad(err, errlen, "%s", "out of memory for a peer_list");
        in->list = l;
        in->list_cap = count;
    }
    size_t used = 0, n = 0;
    cn_term e;
    int r;
    while ((r = cn_list_next(&it, &e)) == 1) {
        const char *p;
        size_t len;
        if (n == count)
            return bad(err, errlen, "%s", "peer_list is malformed");
        if (!cn_term_match(&e, "~b", &p, &len))
            return bad(err, errlen, "%s", "peer_list entries must be binaries");
        if (take_name(p, len, in->names + used, "a peer_list entry", err, errlen) < 0)
            return -1;
        in->list[n++] = in->names + used;
        used += len + 1;
    }
    if (r < 0)
        return bad(err, errlen, "%s", "peer_list is not a proper list");
    m->list = in->list;
    m->nlist = n;
    return 0;
}

typedef struct shape {
    gc_msg_type type;
    const char *tag;
    const char *pattern;         /* the whole message */
    const char *expect;          /* for the error */
} shape;

static const shape shapes[] = {
    { GC_PING,     "ping",     "{ping, ~b}",          "{ping, Sender}" },
    { GC_PONG,     "pong",     "{pong, ~b}",          "{pong, Sender}" },
    { GC_JOIN,     "join",     "{join, ~b}",          "{join, Node}" },
    { GC_LEAVE,    "leave",    "{leave, ~b}",         "{leave, Node}" },
    { GC_ALIVE,    "alive",    "{alive, ~b, ~u}",     "{alive, Node, Incarnation}" },
    { GC_SUSPECT,  "suspect",  "{suspect, ~b, ~u, ~b}", "{suspect, Node, Incarnation, By}" },
    { GC_DEAD,     "dead",     "{dead, ~b, ~u, ~b}",  "{dead, Node, Incarnation, By}" },
    { GC_PING_REQ, "ping_req", "{ping_req, ~b, ~b}",  "{ping_req, Sender, Target}" },
    { GC_CATCH_UP, "catch_up", "{catch_up, ~b, ~u}",  "{catch_up, Node, Ms}" },
};

static int decode_named(gc_wire_in *in, const shape *s, const cn_term *t, gc_msg *m, char *err,
                        size_t errlen)
{
    const char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    uint64_t num = 0;
    int ok;
    switch (s->type) {
    case GC_ALIVE:
    case GC_CATCH_UP:
        ok = cn_term_match(t, s->pattern, &a, &alen, &num);
        break;
    case GC_SUSPECT:
    case GC_DEAD:
        ok = cn_term_match(t, s->pattern, &a, &alen, &num, &b, &blen);
        break;
    case GC_PING_REQ:
        ok = cn_term_match(t, s->pattern, &a, &alen, &b, &blen);
        break;
    default:
        ok = cn_term_match(t, s->pattern, &a, &alen);
        break;
    }
    if (!ok) {
        snprintf(err, errlen, "malformed %s: expected %s (names as binaries, numbers "
                 "non-negative and below 2^64)", s->tag, s->expect);
        return -1;
    }
    m->type = s->type;
    m->num = num;
    if (take_name(a, alen, in->node, "the node", err, errlen) < 0)
        return -1;
    m->node = in->node;
    if (b) {
        if (take_name(b, blen, in->other, s->type == GC_PING_REQ ? "the target" : "the suspecter",
                      err, errlen) < 0)
            return -1;
        m->other = in->other;
    }
    return 0;
}

int gc_wire_decode(gc_wire_in *in, const cn_term *t, gc_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    cn_term tag, rest;
    uint32_t arity = 0;
    if (cn_term_element(t, 0, &tag, &arity) < 0)
        return bad(err, errlen, "%s", "not a gossip message (a tuple tagged with an atom)");
    char name[CN_ATOM_BUF];
    if (!cn_term_match(&tag, "~a", name))
        return bad(err, errlen, "%s", "not a gossip message (a tuple tagged with an atom)");
    if (strcmp(name, "chat") == 0) {
        const char *sender, *text;
        size_t slen, tlen;
        if (!cn_term_match(t, "{chat, ~b, ~b, ~u}", &sender, &slen, &text, &tlen, &m->num))
            return bad(err, errlen, "%s", "malformed chat: expected {chat, Sender, Text, Id} "
                       "(binaries and a non-negative integer below 2^64)");
        if (take_name(sender, slen, in->node, "the sender", err, errlen) < 0)
            return -1;
        if (tlen > GC_MAX_TEXT)
            return bad(err, errlen, "%s", "chat text longer than 65536 bytes");
        if (!gc_utf8_valid(text, tlen))
            return bad(err, errlen, "%s", "chat text is not UTF-8");
        m->type = GC_CHAT;
        m->node = in->node;
        m->text = text;
        m->text_len = tlen;
        return 0;
    }
    if (strcmp(name, "peer_list") == 0) {
        if (!cn_term_match(t, "{peer_list, ~t}", &rest))
            return bad(err, errlen, "%s", "malformed peer_list: expected {peer_list, [Node]}");
        m->type = GC_PEER_LIST;
        return decode_list(in, &rest, m, err, errlen);
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(name, shapes[i].tag) == 0)
            return decode_named(in, &shapes[i], t, m, err, errlen);
    return bad(err, errlen, "unknown message '%s'", name);
}

void gc_wire_in_free(gc_wire_in *in)
{
    free(in->names);
    free(in->list);
    memset(in, 0, sizeof *in);
}

static void put_name(cn_buf *b, const char *s) { cn_term_put_binary(b, s, strlen(s)); }

void gc_wire_encode(cn_buf *b, const gc_msg *m)
{
    const char *tag = gc_msg_type_name(m->type);
    switch (m->type) {
    case GC_CHAT:
        cn_term_put_tuple(b, 4);
        cn_term_put_atom(b, tag);
        put_name(b, m->node);
        cn_term_put_binary(b, m->text, m->text_len);
        cn_term_put_ulong(b, m->num);
        return;
    case GC_PEER_LIST:
        cn_term_put_tuple(b, 2);
        cn_term_put_atom(b, tag);
        if (m->nlist)
            cn_term_put_list(b, (uint32_t)m->nlist);
        for (size_t i = 0; i < m->nlist; i++)
            put_name(b, m->list[i]);
        cn_term_put_nil(b);
        return;
    case GC_ALIVE:
    case GC_CATCH_UP:
        cn_term_put_tuple(b, 3);
        cn_term_put_atom(b, tag);
        put_name(b, m->node);
        cn_term_put_ulong(b, m->num);
        return;
    case GC_SUSPECT:
    case GC_DEAD:
        cn_term_put_tuple(b, 4);
        cn_term_put_atom(b, tag);
        put_name(b, m->node);
        cn_term_put_ulong(b, m->num);
        put_name(b, m->other);
        return;
    case GC_PING_REQ:
        cn_term_put_tuple(b, 3);
        cn_term_put_atom(b, tag);
        put_name(b, m->node);
        put_name(b, m->other);
        return;
    default:                         /* ping, pong, join, leave */
        cn_term_put_tuple(b, 2);
        cn_term_put_atom(b, tag);
        put_name(b, m->node);
        return;
    }
}
