/* peers.h - the cluster file (peers.json), shared by every binary.
 *
 *   {
 *     "cookie": "secret",                      optional
 *     "num_nodes": 5, "num_clients": 3,        optional (raft_kv emulation runs)
 *     "nodes": [
 *       {"name": "n1@localhost", "id": 1},      a node by name...
 *       {"host": "127.0.0.1", "port": 9001},    ...or by host and port
 *       {"name": "n3@localhost", "id": 3, "port": 9003, "kind": "erlang"}
 *     ]
 *   }
 *
 * A node given by host and port gets the name "n<port>@<host>".  "id"
 * defaults to the node's position (from 1); "kind" is "c" (default) or
 * "erlang"; "port" is the distribution port (0: any).  Every field is
 * checked: a bad file gives a message that says what and where.
 */
#ifndef CN_PEERS_H
#define CN_PEERS_H

#include <stddef.h>

typedef struct cn_peer_entry {
    char name[256];
    char host[256];
    int  port;
    int  id;
    int  erlang;             /* kind "erlang" */
} cn_peer_entry;

typedef struct cn_peers {
    cn_peer_entry *nodes;
    size_t         count;
    char           cookie[256];  /* "" if absent */
    int            num_nodes;    /* 0 if absent */
    int            num_clients;  /* 0 if absent */
} cn_peers;

int  cn_peers_load(const char *path, cn_peers *out, char *err, size_t errlen);
int  cn_peers_parse(const char *json, cn_peers *out, char *err, size_t errlen);
void cn_peers_free(cn_peers *p);
/* The entry whose name is node, or NULL. */
const cn_peer_entry *cn_peers_find(const cn_peers *p, const char *node);

#endif
