/* fuzz_dist.c - libFuzzer target for distribution framing and control
 * message parsing (dist.h).
 *
 * The input is split into frames with cn_frame_next, with a generous and
 * with tiny max_packet limits, and each packet (copied to its own exactly
 * sized buffer, so a read past its end is an ASan error) goes through
 * cn_dist_parse; the whole input is also parsed as one bare packet.  Every
 * message that parses is encoded again with the cn_dist_put_* encoder of its
 * kind, for each combination of the EXIT_PAYLOAD and UNLINK_ID peer flags,
 * and the encoded frame must frame and parse back to the same message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/dist.h"

#define FUZZ_ASSERT(c)                                                          \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "fuzz_dist: invariant failed: %s (%s:%d)\n", #c,    \
                    __FILE__, __LINE__);                                        \
            abort();                                                            \
        }                                                                       \
    } while (0)

static void whole_term(const cn_term *t)
{
    size_t pos = 0;
    FUZZ_ASSERT(t->len > 0);
    FUZZ_ASSERT(cn_term_check(t->data, t->len, &pos) == 0 && pos == t->len);
}

/* The kind each operation folds into. */
static int kind_of(int op)
{
    switch (op) {
    case CN_DOP_SEND: case CN_DOP_SEND_TT:
    case CN_DOP_SEND_SENDER: case CN_DOP_SEND_SENDER_TT:
        return CN_DIST_SEND;
    case CN_DOP_REG_SEND: case CN_DOP_REG_SEND_TT:
        return CN_DIST_REG_SEND;
    case CN_DOP_LINK:
        return CN_DIST_LINK;
    case CN_DOP_UNLINK: case CN_DOP_UNLINK_ID:
        return CN_DIST_UNLINK;
    case CN_DOP_UNLINK_ID_ACK:
        return CN_DIST_UNLINK_ACK;
    case CN_DOP_EXIT: case CN_DOP_EXIT_TT:
    case CN_DOP_PAYLOAD_EXIT: case CN_DOP_PAYLOAD_EXIT_TT:
        return CN_DIST_EXIT;
    case CN_DOP_EXIT2: case CN_DOP_EXIT2_TT:
    case CN_DOP_PAYLOAD_EXIT2: case CN_DOP_PAYLOAD_EXIT2_TT:
        return CN_DIST_EXIT2;
    case CN_DOP_MONITOR_P:
        return CN_DIST_MONITOR;
    case CN_DOP_DEMONITOR_P:
        return CN_DIST_DEMONITOR;
    case CN_DOP_MONITOR_P_EXIT: case CN_DOP_PAYLOAD_MONITOR_P_EXIT:
        return CN_DIST_MONITOR_EXIT;
    case CN_DOP_GROUP_LEADER:
        return CN_DIST_GROUP_LEADER;
    case CN_DOP_NODE_LINK:
        return CN_DIST_NODE_LINK;
    default:
        return -1;
    }
}

/* Encodes m again as a peer with these flags would get it; 0 if the kind
 * has no encoder. */
static int reencode(cn_buf *b, const cn_dist_msg *m, uint64_t flags)
{
    switch (m->kind) {
    case CN_DIST_SEND:
        cn_dist_put_send(b, &m->to, &m->msg);
        return 1;
    case CN_DIST_REG_SEND:
        cn_dist_put_reg_send(b, &m->from, m->to_name, &m->msg);
        return 1;
    case CN_DIST_LINK:
        cn_dist_put_link(b, &m->from, &m->to);
        return 1;
    case CN_DIST_UNLINK:
        cn_dist_put_unlink(b, flags, m->id ? m->id : 1, &m->from, &m->to);
        return 1;
    case CN_DIST_UNLINK_ACK:
        cn_dist_put_unlink_ack(b, m->id, &m->from, &m->to);
        return 1;
    case CN_DIST_EXIT:
    case CN_DIST_EXIT2:
        cn_dist_put_exit(b, flags, m->kind == CN_DIST_EXIT2, &m->from, &m->to, &m->reason);
        return 1;
    case CN_DIST_MONITOR:
    case CN_DIST_DEMONITOR:
        cn_dist_put_monitor(b, m->kind == CN_DIST_DEMONITOR, &m->from, &m->to,
                            m->to_is_name ? m->to_name : NULL, &m->ref);
        return 1;
    case CN_DIST_MONITOR_EXIT:
        cn_dist_put_monitor_exit(b, flags, &m->from, m->from_is_name ? m->from_name : NULL,
                                 &m->to, &m->ref, &m->reason);
        return 1;
    default:
        return 0;
    }
}

static void same_msg(const cn_dist_msg *a, const cn_dist_msg *b, uint64_t flags)
{
    FUZZ_ASSERT(a->kind == b->kind);
    switch (a->kind) {
    case CN_DIST_SEND:
        FUZZ_ASSERT(b->op == CN_DOP_SEND);
        FUZZ_ASSERT(cn_pid_eq(&a->to, &b->to) && cn_term_eq(&a->msg, &b->msg));
        break;
    case CN_DIST_REG_SEND:
        FUZZ_ASSERT(b->op == CN_DOP_REG_SEND && b->to_is_name);
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && strcmp(a->to_name, b->to_name) == 0);
        FUZZ_ASSERT(cn_term_eq(&a->msg, &b->msg));
        break;
    case CN_DIST_LINK:
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && cn_pid_eq(&a->to, &b->to));
        break;
    case CN_DIST_UNLINK:
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && cn_pid_eq(&a->to, &b->to));
        if (flags & CN_DFLAG_UNLINK_ID)
            FUZZ_ASSERT(b->op == CN_DOP_UNLINK_ID && b->id == (a->id ? a->id : 1));
        else
            FUZZ_ASSERT(b->op == CN_DOP_UNLINK && b->id == 0);
        break;
    case CN_DIST_UNLINK_ACK:
        FUZZ_ASSERT(b->op == CN_DOP_UNLINK_ID_ACK && a->id == b->id);
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && cn_pid_eq(&a->to, &b->to));
        break;
    case CN_DIST_EXIT:
    case CN_DIST_EXIT2: {
        int payload = (flags & CN_DFLAG_EXIT_PAYLOAD) != 0;
        int want = a->kind == CN_DIST_EXIT
                       ? (payload ? CN_DOP_PAYLOAD_EXIT : CN_DOP_EXIT)
                       : (payload ? CN_DOP_PAYLOAD_EXIT2 : CN_DOP_EXIT2);
        FUZZ_ASSERT(b->op == want);
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && cn_pid_eq(&a->to, &b->to));
        FUZZ_ASSERT(cn_term_eq(&a->reason, &b->reason));
        break;
    }
    case CN_DIST_MONITOR:
    case CN_DIST_DEMONITOR:
        FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from) && cn_ref_eq(&a->ref, &b->ref));
        FUZZ_ASSERT(a->to_is_name == b->to_is_name);
        if (a->to_is_name)
            FUZZ_ASSERT(strcmp(a->to_name, b->to_name) == 0);
        else
            FUZZ_ASSERT(cn_pid_eq(&a->to, &b->to));
        break;
    case CN_DIST_MONITOR_EXIT:
        FUZZ_ASSERT(b->op == ((flags & CN_DFLAG_EXIT_PAYLOAD) ? CN_DOP_PAYLOAD_MONITOR_P_EXIT
                                                              : CN_DOP_MONITOR_P_EXIT));
        FUZZ_ASSERT(cn_pid_eq(&a->to, &b->to) && cn_ref_eq(&a->ref, &b->ref));
        FUZZ_ASSERT(a->from_is_name == b->from_is_name);
        if (a->from_is_name)
            FUZZ_ASSERT(strcmp(a->from_name, b->from_name) == 0);
        else
            FUZZ_ASSERT(cn_pid_eq(&a->from, &b->from));
        FUZZ_ASSERT(cn_term_eq(&a->reason, &b->reason));
        break;
    default:
        break;
    }
}

static void roundtrip(const cn_dist_msg *m)
{
    static const uint64_t flag_sets[] = {
        0, CN_DFLAG_EXIT_PAYLOAD, CN_DFLAG_UNLINK_ID,
        CN_DFLAG_EXIT_PAYLOAD | CN_DFLAG_UNLINK_ID,
    };
    static cn_dist_msg m2;              /* 2 KiB of names: keep off the stack */
    cn_buf b;
    cn_buf_init(&b);
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        cn_buf_reset(&b);
        if (!reencode(&b, m, flag_sets[i]))
            break;
        FUZZ_ASSERT(!cn_buf_failed(&b));
        const char *body;
        size_t body_len, used, need;
        FUZZ_ASSERT(cn_frame_next(b.data, b.len, SIZE_MAX, &body, &body_len, &used,
                                  &need) == CN_FRAME_PACKET);
        FUZZ_ASSERT(used == b.len && body == b.data + 4);
        const char *why = NULL;
        int r = cn_dist_parse(body, body_len, &m2, &why);
        if (r != 0)
            fprintf(stderr, "fuzz_dist: re-encoded op %d does not parse: %s\n", m->op, why);
        FUZZ_ASSERT(r == 0);
        same_msg(m, &m2, flag_sets[i]);
    }
    cn_buf_free(&b);
}

static void packet(const char *data, size_t len)
{
    static cn_dist_msg m;
    /* an exactly sized copy: any read past the packet is caught */
    char *pkt = malloc(len ? len : 1);
    if (!pkt)
        return;
    memcpy(pkt, data, len);
    const char *why = NULL;
    if (cn_dist_parse(pkt, len, &m, &why) == 0) {
        FUZZ_ASSERT(m.op >= 0 && m.op <= 255);
        FUZZ_ASSERT((int)m.kind == kind_of(m.op));
        char text[256];
        if (m.kind == CN_DIST_SEND || m.kind == CN_DIST_REG_SEND) {
            whole_term(&m.msg);
            FUZZ_ASSERT(m.msg.data > pkt && m.msg.data + m.msg.len == pkt + len);
            cn_term_format(&m.msg, text, sizeof text);
        }
        if (m.kind == CN_DIST_EXIT || m.kind == CN_DIST_EXIT2 ||
            m.kind == CN_DIST_MONITOR_EXIT) {
            whole_term(&m.reason);
            FUZZ_ASSERT(m.reason.data > pkt && m.reason.data + m.reason.len <= pkt + len);
            cn_term_format(&m.reason, text, sizeof text);
        }
        if (m.kind == CN_DIST_UNLINK_ACK || m.op == CN_DOP_UNLINK_ID)
            FUZZ_ASSERT(m.id != 0);
        roundtrip(&m);
    } else {
        FUZZ_ASSERT(why != NULL && why[0] != '\0');
    }
    free(pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = { 1u << 20, 64, 7 };
    const char *in = (const char *)data;

    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        size_t off = 0;
        for (;;) {
            const char *body = NULL;
            size_t body_len = 0, used = 0, need = 0;
            size_t left = size - off;
            cn_frame_result r = cn_frame_next(in + off, left, limits[l], &body, &body_len,
                                              &used, &need);
            if (r == CN_FRAME_MORE) {
                FUZZ_ASSERT(need > left);
                FUZZ_ASSERT(left < 4 ? need == 4 : need >= 5);
                break;
            }
            if (r == CN_FRAME_TOO_BIG) {
                FUZZ_ASSERT(left >= 4);
                break;
            }
            if (r == CN_FRAME_TICK) {
                FUZZ_ASSERT(used == 4 && left >= 4);
                off += used;
                continue;
            }
            FUZZ_ASSERT(r == CN_FRAME_PACKET);
            FUZZ_ASSERT(body == in + off + 4 && body_len > 0 && body_len <= limits[l]);
            FUZZ_ASSERT(used == body_len + 4 && used <= left);
            packet(body, body_len);
            off += used;
        }
    }

    /* the whole input as one packet */
    packet(in, size);

    cn_buf b;
    cn_buf_init(&b);
    cn_dist_put_tick(&b);
    const char *body;
    size_t body_len, used, need;
    FUZZ_ASSERT(cn_frame_next(b.data, b.len, 0, &body, &body_len, &used, &need) ==
                CN_FRAME_TICK && used == 4);
    cn_buf_free(&b);

    cn_atom_cleanup();
    return 0;
}
