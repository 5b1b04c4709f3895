/* raft_conf.c - configuration entries, {cn_config, [{Id, Node}]}: every
 * voting member of a configuration, as the log carries them (see
 * raft_membership.c for what they mean).  A codec only: no core state, so
 * the wire decoder and its fuzzer use it alone. */
#include <stdlib.h>
#include <string.h>

#include "raft_conf.h"

int raft_conf_is(const cn_term *cmd)
{
    return cmd && cn_term_match(cmd, "{cn_config, _}");
}

void raft_conf_free(raft_conf *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->m[i].node);
    free(c->m);
    c->m = NULL;
    c->n = 0;
}

/* Decodes a configuration entry: ids >= 1, distinct, each with a node
 * name.  Returns 0, or -1 (c is left empty) if cmd is not one. */
int raft_conf_decode(const cn_term *cmd, raft_conf *c)
{
    cn_term list, e;
    cn_list_iter it;
    uint32_t n;
    char node[CN_ATOM_BUF];
    c->m = NULL;
    c->n = 0;
    if (!cn_term_match(cmd, "{cn_config, ~t}", &list) || cn_list_begin(&it, &list, &n) < 0 ||
        n == 0 || n > RAFT_CONF_MAX)
        return -1;
    c->m = calloc(n, sizeof *c->m);
    if (!c->m)
        return -1;
    int id;
    while (cn_list_next(&it, &e) == 1) {
        if (!cn_term_match(&e, "{~i, ~a}", &id, node) || id < 1 || raft_conf_find(c, id) ||
            !(c->m[c->n].node = strdup(node))) {
            raft_conf_free(c);
            return -1;
        }
        c->m[c->n++].id = id;
    }
    if (c->n != n) {
        raft_conf_free(c);
        return -1;
    }
    return 0;
}

int raft_conf_valid(const cn_term *cmd)
{
    raft_conf c;
    if (raft_conf_decode(cmd, &c) < 0)
        return 0;
    raft_conf_free(&c);
    return 1;
}

raft_conf_member *raft_conf_find(const raft_conf *c, int id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].id == id)
            return &c->m[i];
    return NULL;
}

void raft_conf_encode(cn_buf *b, const raft_conf *c)
{
    cn_term_put_tuple(b, 2);
    cn_term_put_atom(b, "cn_config");
    cn_term_put_list(b, (uint32_t)c->n);
    for (size_t i = 0; i < c->n; i++) {
        cn_term_put_tuple(b, 2);
        cn_term_put_long(b, c->m[i].id);
        cn_term_put_atom(b, c->m[i].node);
    }
    cn_term_put_nil(b);
}

