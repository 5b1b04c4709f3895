/* term_format.c - printing validated terms for logs, in Erlang syntax.
 *
 * Output is bounded: nesting deeper than a few levels prints as "...", and
 * the text is cut to the caller's buffer.  Used for "unexpected message"
 * logs, so it must never fail on any term that passed cn_term_check.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "term.h"
#include "term_ext.h"

#define FORMAT_MAX_DEPTH 8

typedef struct out {
    char *s;
    size_t cap, len;
} out;

static void emit(out *o, const char *fmt, ...)
{
    if (o->len + 1 >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

static void emit_atom(out *o, const unsigned char *s, size_t n, int latin1)
{
    char buf[CN_ATOM_BUF];
    cn_ext_atom_utf8(s, n, latin1, buf);
    int plain = n > 0 && islower((unsigned char)buf[0]);
    for (size_t i = 0; plain && buf[i]; i++)
        plain = isalnum((unsigned char)buf[i]) || buf[i] == '_' || buf[i] == '@';
    emit(o, plain ? "%s" : "'%s'", buf);
}

/* The node name of a pid or ref, its atom at u + at, as plain text (read
 * from the bytes: printing takes nothing into the table of node names). */
static void emit_node(out *o, const unsigned char *u, size_t at)
{
    const unsigned char *s;
    size_t n;
    int latin1;
    char buf[CN_ATOM_BUF];
    if (cn_ext_atom(u, &at, &s, &n, &latin1) == 0) {
        cn_ext_atom_utf8(s, n, latin1, buf);
        emit(o, "%s", buf);
    }
}

static void emit_bytes(out *o, const unsigned char *p, size_t n)
{
    int printable = 1;
    for (size_t i = 0; i < n && printable; i++)
        printable = isprint(p[i]) && p[i] != '"' && p[i] != '\\';
    if (printable) {
        emit(o, "<<\"%.*s\">>", (int)(n > 200 ? 200 : n), (const char *)p);
        return;
    }
    emit(o, "<<");
    for (size_t i = 0; i < n && i < 64; i++)
        emit(o, i ? ",%u" : "%u", p[i]);
    emit(o, n > 64 ? ",...>>" : ">>");
}

static void fmt(out *o, const cn_term *t, int depth);

static void fmt_seq(out *o, const cn_term *t, int depth, int is_list)
{
    cn_term e;
    int first = 1;
    if (is_list) {
        cn_list_iter it;
        cn_list_begin(&it, t, NULL);
        emit(o, "[");
        int r;
        while ((r = cn_list_next(&it, &e)) == 1) {
            emit(o, first ? "" : ",");
            first = 0;
            fmt(o, &e, depth + 1);
        }
        emit(o, r < 0 ? "|...]" : "]");
        return;
    }
    const unsigned char *u = (const unsigned char *)t->data;
    uint32_t arity = u[0] == CN_EXT_SMALL_TUPLE ? u[1] : cn_get32(u + 1);
    size_t pos = u[0] == CN_EXT_SMALL_TUPLE ? 2 : 5;
    emit(o, "{");
    for (uint32_t i = 0; i < arity; i++) {
        size_t start = pos;
        if (cn_term_check(t->data, t->len, &pos) < 0)
            break;
        e.data = t->data + start;
        e.len = pos - start;
        emit(o, i ? "," : "");
        fmt(o, &e, depth + 1);
    }
    emit(o, "}");
}

static void fmt(out *o, const cn_term *t, int depth)
{
    const unsigned char *u = (const unsigned char *)t->data;
    size_t pos = 0;
    const unsigned char *s;
    size_t n;
    int latin1;
    long long v;
    double d;
    cn_pid pid;
    cn_ref ref;

    if (depth > FORMAT_MAX_DEPTH) {
        emit(o, "...");
        return;
    }
    switch (u[0]) {
    case CN_EXT_ATOM: case CN_EXT_ATOM_UTF8:
    case CN_EXT_SMALL_ATOM: case CN_EXT_SMALL_ATOM_UTF8:
        cn_ext_atom(u, &pos, &s, &n, &latin1);
        emit_atom(o, s, n, latin1);
        return;
    case CN_EXT_SMALL_INTEGER: case CN_EXT_INTEGER:
    case CN_EXT_SMALL_BIG: case CN_EXT_LARGE_BIG:
        if (cn_term_get_long(t, &v) == 0)
            emit(o, "%lld", v);
        else
            emit(o, "<bignum>");
        return;
    case CN_EXT_NEW_FLOAT: case CN_EXT_FLOAT:
        if (cn_term_match(t, "~f", &d))
            emit(o, "%g", d);
        return;
    case CN_EXT_BINARY:
        emit_bytes(o, u + 5, cn_get32(u + 1));
        return;
    case CN_EXT_STRING:
        emit(o, "\"%.*s\"", (int)cn_get16(u + 1), (const char *)u + 3);
        return;
    case CN_EXT_NIL: case CN_EXT_LIST:
        fmt_seq(o, t, depth, 1);
        return;
    case CN_EXT_SMALL_TUPLE: case CN_EXT_LARGE_TUPLE:
        fmt_seq(o, t, depth, 0);
        return;
    case CN_EXT_PID: case CN_EXT_NEW_PID:
        if (cn__term_get_pid(t, &pid, CN_NODE_SKIP) == 0) {
            emit(o, "<");
            emit_node(o, u, 1);
            emit(o, ".%u.%u>", pid.num, pid.serial);
        }
        return;
    case CN_EXT_REFERENCE: case CN_EXT_NEW_REFERENCE: case CN_EXT_NEWER_REFERENCE:
        if (cn__term_get_ref(t, &ref, CN_NODE_SKIP) == 0) {
            emit(o, "#Ref<");
            emit_node(o, u, u[0] == CN_EXT_REFERENCE ? 1 : 3);
            for (uint32_t i = ref.len; i > 0; i--)
                emit(o, ".%u", ref.n[i - 1]);
            emit(o, ">");
        }
        return;
    case CN_EXT_MAP: {
        cn_map_iter it;
        cn_term k, val;
        int first = 1;
        cn_map_begin(&it, t, NULL);
        emit(o, "#{");
        while (cn_map_next(&it, &k, &val) == 1) {
            emit(o, first ? "" : ",");
            first = 0;
            fmt(o, &k, depth + 1);
            emit(o, "=>");
            fmt(o, &val, depth + 1);
        }
        emit(o, "}");
        return;
    }
    default:
        emit(o, "<term tag %u>", u[0]);
        return;
    }
}

void cn_term_format(const cn_term *t, char *buf, size_t bufsz)
{
    out o = { buf, bufsz, 0 };
    if (!bufsz)
        return;
    buf[0] = '\0';
    if (t && t->len)
        fmt(&o, t, 0);
}
