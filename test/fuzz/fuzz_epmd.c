/* fuzz_epmd.c - libFuzzer target for the epmd PORT2_RESP parser
 * (cn__epmd_parse_port2 in epmd.c).
 *
 * The reply arrives over TCP in pieces, so the parser sees every prefix of
 * it: each prefix is parsed from its own exactly sized buffer (a read past
 * it is an ASan error), and once a prefix gives a verdict (complete or
 * malformed) every longer prefix must give the same one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/internal.h"

#define FUZZ_ASSERT(c)                                                          \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "fuzz_epmd: invariant failed: %s (%s:%d)\n", #c,    \
                    __FILE__, __LINE__);                                        \
            abort();                                                            \
        }                                                                       \
    } while (0)

#define MAX_PREFIXES 300

static int parse(const uint8_t *data, size_t len, int *port, const char **err)
{
    unsigned char *b = malloc(len ? len : 1);
    if (!b)
        abort();
    memcpy(b, data, len);
    *port = -1;
    *err = "unset";
    int r = cn__epmd_parse_port2(b, len, port, err);
    free(b);
    FUZZ_ASSERT(r == -1 || r == 0 || r == 1);
    if (r == 0)
        FUZZ_ASSERT(*err == NULL && *port == 0);
    if (r == -1)
        FUZZ_ASSERT(*err != NULL && *port == 0);
    if (r == 1 && *err == NULL)
        FUZZ_ASSERT(*port > 0 && *port < 65536);
    if (r == 1 && *err != NULL)
        FUZZ_ASSERT(*port == 0);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int port, first_port = 0;
    const char *err, *first_err = NULL;
    int verdict = 0;
    size_t n = size < MAX_PREFIXES ? size : MAX_PREFIXES;

    for (size_t k = 0; k <= n; k++) {
        int r = parse(data, k, &port, &err);
        if (verdict) {
            FUZZ_ASSERT(r == verdict && port == first_port && err == first_err);
        } else if (r != 0) {
            verdict = r;
            first_port = port;
            first_err = err;
        }
    }
    int r = parse(data, size, &port, &err);
    if (verdict)
        FUZZ_ASSERT(r == verdict && port == first_port && err == first_err);

    /* the request, for an alive name taken from the input */
    char alive[64];
    size_t an = size < sizeof alive - 1 ? size : sizeof alive - 1;
    memcpy(alive, data, an);
    alive[an] = '\0';
    cn_buf req;
    cn_buf_init(&req);
    cn__epmd_put_port_please(&req, alive);
    size_t sl = strlen(alive);
    FUZZ_ASSERT(!cn_buf_failed(&req) && req.len == 3 + sl);
    FUZZ_ASSERT((size_t)(((unsigned char)req.data[0] << 8) | (unsigned char)req.data[1]) == sl + 1);
    FUZZ_ASSERT((unsigned char)req.data[2] == 122 && memcmp(req.data + 3, alive, sl) == 0);
    cn_buf_free(&req);
    return 0;
}
