/* raft_emulate.h - `raft_kv emulate`: the Gleam emulation's whole run
 * (num_nodes nodes, num_clients clients, one node) in one C node. */
#ifndef RAFT_EMULATE_H
#define RAFT_EMULATE_H

#include "../node/cn.h"
#include "raft.h"
#include "raft_client.h"

typedef struct raft_emulate_config {
    int       num_nodes, num_clients;
    int       ops;                    /* per client; the seed's 5 */
    raft_mode mode;
    uint64_t  seed;
} raft_emulate_config;

cn_proc *raft_emulate_start(cn_node *n, const raft_emulate_config *cfg, int *status);

#endif
