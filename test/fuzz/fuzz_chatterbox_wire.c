/* fuzz_chatterbox_wire.c - libFuzzer target for chatterbox's wire codec
 * (c_src/chatterbox/cb_wire.h): every message of both protocols, from
 * arbitrary bytes.  An accepted message is re-encoded and decoded again,
 * and the two decodes must agree (any integer id decodes: cb_node drops
 * ids that are not peers, with a warning). */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/chatterbox/cb_wire.h"

static void same_msg(const cb_msg *a, const cb_msg *b)
{
    if (a->kind != b->kind || a->seq != b->seq || a->ts != b->ts || a->count != b->count ||
        a->value != b->value || a->flag != b->flag ||
        (a->count && memcmp(a->vals, b->vals, (size_t)a->count * 4) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cn_term t;
    if (cn_term_from_ext((const char *)data, size, &t) < 0)
        return 0;
    cb_msg m1, m2;
    int from1 = -2, from2 = -2;
    memset(&m1, 0, sizeof m1);
    int k = cb_wire_decode(&t, &m1, &from1);
    if (k == CB_WIRE_BAD) {
        cn_atom_cleanup();
        return 0;
    }
    cn_buf b;
    cn_buf_init(&b);
    if (k == CB_WIRE_HELLO)
        cb_wire_encode_hello(&b, from1);
    else
        cb_wire_encode(&b, &m1, from1);
    if (cn_buf_failed(&b))
        abort();
    cn_term t2 = cn_buf_term(&b, 0);
    memset(&m2, 0, sizeof m2);
    if (cb_wire_decode(&t2, &m2, &from2) != k || from2 != from1)
        abort();
    if (k == CB_WIRE_MSG)
        same_msg(&m1, &m2);
    cn_buf_free(&b);
    cn_atom_cleanup();
    return 0;
}
