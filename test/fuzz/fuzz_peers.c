/* fuzz_peers.c - libFuzzer target for the peers.json reader: any bytes give
 * a parsed cluster that keeps its promises, or an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/peers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    char err[512];
    cn_peers p;
    if (!json)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    err[0] = '\0';
    if (cn_peers_parse(json, &p, err, sizeof err) == 0) {
        for (size_t i = 0; i < p.count; i++) {
            if (!strchr(p.nodes[i].name, '@') || p.nodes[i].id < 1)
                abort();
            for (size_t k = 0; k < i; k++)
                if (p.nodes[k].id == p.nodes[i].id || !strcmp(p.nodes[k].name, p.nodes[i].name))
                    abort();
        }
        cn_peers_free(&p);
    } else if (!err[0]) {
        abort();                     /* a rejection always says why */
    }
    free(json);
    return 0;
}
