/* fuzz_gossip_wire.c - libFuzzer target for the gossip chat's wire codec
 * (c_src/gossip/gc_wire.h): every message, from arbitrary bytes.  Junk must
 * say why; an accepted message is re-encoded and decoded again, and the two
 * decodes must agree. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/gossip/gc_wire.h"

static gc_wire_in in1, in2;

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void same_msg(const gc_msg *a, const gc_msg *b)
{
    if (a->type != b->type || a->num != b->num || !same_str(a->node, b->node) ||
        !same_str(a->other, b->other) || a->text_len != b->text_len ||
        (a->text_len && memcmp(a->text, b->text, a->text_len) != 0) || a->nlist != b->nlist)
        abort();
    for (size_t i = 0; i < a->nlist; i++)
        if (strcmp(a->list[i], b->list[i]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cn_term t;
    if (cn_term_from_ext((const char *)data, size, &t) < 0)
        return 0;
    gc_msg m1, m2;
    char err[512] = "";
    if (gc_wire_decode(&in1, &t, &m1, err, sizeof err) < 0) {
        if (!err[0])
            abort();                 /* every rejection says why */
        cn_atom_cleanup();
        return 0;
    }
    if (m1.node && !gc_name_valid(m1.node, strlen(m1.node)))
        abort();
    cn_buf b;
    cn_buf_init(&b);
    gc_wire_encode(&b, &m1);
    if (cn_buf_failed(&b))
        abort();
    cn_term t2 = cn_buf_term(&b, 0);
    if (gc_wire_decode(&in2, &t2, &m2, err, sizeof err) < 0)
        abort();
    same_msg(&m1, &m2);
    cn_buf_free(&b);
    cn_atom_cleanup();               /* each input starts from an empty atom table */
    return 0;
}
