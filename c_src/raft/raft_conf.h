/* raft_conf.h - configuration entries: the codec (raft_conf.c). */
#ifndef RAFT_CONF_H
#define RAFT_CONF_H

#include <stddef.h>

#include "../node/buf.h"
#include "../node/term.h"

#define RAFT_CONF_MAX 1000           /* members of a configuration */

typedef struct raft_conf_member {
    int   id;
    char *node;
} raft_conf_member;

typedef struct raft_conf {
    raft_conf_member *m;
    size_t            n;
} raft_conf;

/* Is cmd a configuration entry (by its shape, not checked)? */
int   raft_conf_is(const cn_term *cmd);
/* A well-formed one: ids >= 1 and distinct, each with a node name. */
int   raft_conf_valid(const cn_term *cmd);
/* Decodes one (0), or -1 with c left empty. */
int   raft_conf_decode(const cn_term *cmd, raft_conf *c);
void  raft_conf_encode(cn_buf *b, const raft_conf *c);
void  raft_conf_free(raft_conf *c);
raft_conf_member *raft_conf_find(const raft_conf *c, int id);

#endif
