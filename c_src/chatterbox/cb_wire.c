/* cb_wire.c - encoding and decoding chatterbox terms (see cb_wire.h). */
#include <stdio.h>
#include <string.h>

#include "cb_wire.h"

void cb_wire_encode(cn_buf *b, const cb_msg *m, int id)
{
    switch (m->kind) {
    case CB_DATA:
        cn_term_build(b, "{cb_data, ~i, ~u, ~u, ~b}", id, m->ts, m->seq, (const void *)m->vals,
                      (size_t)m->count * 4);
        return;
    case CB_END:
        cn_term_build(b, "{cb_end, ~i, ~u}", id, m->seq);
        return;
    case CB_ACK:
        cn_term_build(b, m->flag ? "{cb_ack, ~i, ~u, true}" : "{cb_ack, ~i, ~u, false}", id,
                      m->seq);
        return;
    case CB_DONE:
        cn_term_build(b, "{cb_done, ~i}", id);
        return;
    case CB_MSG:
        cn_term_build(b, "{cb_msg, ~i, ~u, ~u, ~u}", id, m->seq, m->ts, (uint64_t)m->value);
        return;
    case CB_MSG_ACK:
    case CB_FLUSH:
    case CB_FLUSH_ACK: {
        char pattern[64];
        snprintf(pattern, sizeof pattern, "{%s, ~i, ~u}", cb_msg_kind_name(m->kind));
        cn_term_build(b, pattern, id, m->seq);
        return;
    }
    }
}

void cb_wire_encode_hello(cn_buf *b, int id) { cn_term_build(b, "{cb_hello, ~i}", id); }

static int decode_data(const cn_term *t, cb_msg *m, int *id)
{
    const char *vals;
    size_t len;
    if (!cn_term_match(t, "{cb_data, ~i, ~u, ~u, ~b}", id, &m->ts, &m->seq, &vals, &len) ||
        len % 4 || len == 0 || len / 4 > 65536)
        return CB_WIRE_BAD;
    m->vals = (const uint8_t *)vals;
    m->count = (uint32_t)(len / 4);
    return CB_WIRE_MSG;
}

static int decode_ack(const cn_term *t, cb_msg *m, int *id)
{
    char flag[CN_ATOM_BUF];
    if (!cn_term_match(t, "{cb_ack, ~i, ~u, ~a}", id, &m->seq, flag))
        return CB_WIRE_BAD;
    if (strcmp(flag, "true") == 0)
        m->flag = 1;
    else if (strcmp(flag, "false") != 0)
        return CB_WIRE_BAD;
    return CB_WIRE_MSG;
}

static int decode_seed(const cn_term *t, cb_msg *m, int *id)
{
    uint64_t v;
    if (!cn_term_match(t, "{cb_msg, ~i, ~u, ~u, ~u}", id, &m->seq, &m->ts, &v) || v > UINT32_MAX)
        return CB_WIRE_BAD;
    m->value = (uint32_t)v;
    return CB_WIRE_MSG;
}

int cb_wire_decode(const cn_term *t, cb_msg *m, int *id)
{
    cn_term tag;
    uint32_t arity;
    memset(m, 0, sizeof *m);
    m->from = -1;
    if (cn_term_element(t, 0, &tag, &arity) < 0)
        return CB_WIRE_BAD;
    if (cn_term_is_atom(&tag, "cb_data")) {
        m->kind = CB_DATA;
        return decode_data(t, m, id);
    }
    if (cn_term_is_atom(&tag, "cb_ack")) {
        m->kind = CB_ACK;
        return decode_ack(t, m, id);
    }
    if (cn_term_is_atom(&tag, "cb_msg")) {
        m->kind = CB_MSG;
        return decode_seed(t, m, id);
    }
    if (cn_term_is_atom(&tag, "cb_end")) {
        m->kind = CB_END;
        return cn_term_match(t, "{cb_end, ~i, ~u}", id, &m->seq) ? CB_WIRE_MSG : CB_WIRE_BAD;
    }
    if (cn_term_is_atom(&tag, "cb_done")) {
        m->kind = CB_DONE;
        return cn_term_match(t, "{cb_done, ~i}", id) ? CB_WIRE_MSG : CB_WIRE_BAD;
    }
    if (cn_term_is_atom(&tag, "cb_hello"))
        return cn_term_match(t, "{cb_hello, ~i}", id) ? CB_WIRE_HELLO : CB_WIRE_BAD;
    static const cb_msg_kind three[] = { CB_MSG_ACK, CB_FLUSH, CB_FLUSH_ACK };
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++) {
        char pattern[64];
        if (!cn_term_is_atom(&tag, cb_msg_kind_name(three[i])))
            continue;
        m->kind = three[i];
        snprintf(pattern, sizeof pattern, "{%s, ~i, ~u}", cb_msg_kind_name(three[i]));
        return cn_term_match(t, pattern, id, &m->seq) ? CB_WIRE_MSG : CB_WIRE_BAD;
    }
    return CB_WIRE_BAD;
}
