/* fuzz_raft_wire.c - libFuzzer target for raft_kv's wire decoders: every
 * Gleam raft_kv message and reply, from arbitrary bytes.  Accepted requests
 * are re-encoded and decoded again; the two decodes must agree. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/raft/raft_wire.h"

static raft_wire_in in1, in2;

static void same_msg(const raft_msg *a, const raft_msg *b)
{
    if (a->type != b->type || a->term != b->term || a->node != b->node ||
        a->index != b->index || a->index_term != b->index_term || a->commit != b->commit ||
        a->n_entries != b->n_entries)
        abort();
    for (size_t i = 0; i < a->n_entries; i++)
        if (a->entries[i].term != b->entries[i].term ||
            !cn_term_eq(&a->entries[i].cmd, &b->entries[i].cmd))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cn_term t;
    const char *why;
    if (cn_term_from_ext((const char *)data, size, &t) < 0)
        return 0;
    in1.msg.n_entries = in2.msg.n_entries = 0;
    raft_msg reply;
    if (raft_wire_decode_reply(&t, &reply) == 0) {
        /* a reply decoded comes back the same through its encoding */
        cn_buf b;
        cn_buf_init(&b);
        raft_wire_put_reply(&b, &reply, 1);
        cn_term t2 = cn_buf_term(&b, 0);
        raft_msg again;
        if (cn_buf_failed(&b) || raft_wire_decode_reply(&t2, &again) < 0 ||
            again.type != reply.type || again.term != reply.term ||
            again.granted != reply.granted || again.match != reply.match ||
            again.has_hint != reply.has_hint || again.rejected != reply.rejected ||
            again.has_rejected != reply.has_rejected)
            abort();
        cn_buf_free(&b);
    }
    raft_wire_kind k = raft_wire_decode(&t, &in1, &why);
    if (k == RAFT_WIRE_BAD && !why)
        abort();                     /* every rejection says why */
    cn_buf b;
    cn_buf_init(&b);
    if (k == RAFT_WIRE_REQUEST || k == RAFT_WIRE_NOTICE) {
        raft_wire_put_request(&b, &in1.msg, &in1.reply_to);
        if (cn_buf_failed(&b))
            abort();
        cn_term t2 = cn_buf_term(&b, 0);
        if (raft_wire_decode(&t2, &in2, &why) != k)
            abort();
        same_msg(&in1.msg, &in2.msg);
    } else if (k == RAFT_WIRE_CLIENT) {
        cn_term cmd = cn_buf_term(&in1.cmd, 0);
        raft_wire_put_client(&b, &cmd, &in1.reply_to);
        cn_term t2 = cn_buf_term(&b, 0);
        if (cn_buf_failed(&b) || raft_wire_decode(&t2, &in2, &why) != RAFT_WIRE_CLIENT ||
            !cn_term_eq(&cmd, &(cn_term){ in2.cmd.data, in2.cmd.len }))
            abort();
    }
    cn_buf_free(&b);
    cn_atom_cleanup();               /* each input starts from an empty atom table */
    return 0;
}
