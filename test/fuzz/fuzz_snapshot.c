/* fuzz_snapshot.c - libFuzzer target for the snapshot decoder
 * (raft_snapshot.c): any bytes are refused with a reason or decode to a
 * store that encodes back to exactly those bytes, whole or a part at a time.  The input's last four
 * bytes are also tried as a correct CRC, so mutations reach past the
 * checksum into the pairs and the configuration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../../c_src/raft/raft_snapshot.h"

static void check(const uint8_t *data, size_t size)
{
    raft_snapshot_info info;
    char why[160] = "";
    raft_kv *kv = raft_kv_new();
    if (!kv)
        return;
    if (raft_snapshot_decode((const char *)data, size, &info, kv, why, sizeof why) == 0) {
        cn_buf again;
        cn_buf_init(&again);
        raft_snapshot_encode(&again, info.index, info.term, info.conf, info.conflen, kv);
        if (raft_kv_count(kv) != info.count || again.len != size ||
            memcmp(again.data, data, size) != 0)
            abort();                 /* one store, one encoding */
        /* and the same a part at a time (1 to 3 pairs a step) */
        raft_snapshot_enc e;
        cn_buf_reset(&again);
        raft_snapshot_enc_begin(&e, &again, info.index, info.term, info.conf, info.conflen, kv);
        while (!raft_snapshot_enc_step(&e, &again, 1 + size % 3))
            if (cn_buf_failed(&again))
                abort();
        if (again.len != size || memcmp(again.data, data, size) != 0)
            abort();
        cn_buf_free(&again);
    } else if (!why[0]) {
        abort();                     /* a refusal always says why */
    }
    raft_kv_free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < 8)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    uint32_t crc = (uint32_t)crc32(0, fixed, (uInt)(size - 4));
    fixed[size - 4] = (uint8_t)(crc >> 24);
    fixed[size - 3] = (uint8_t)(crc >> 16);
    fixed[size - 2] = (uint8_t)(crc >> 8);
    fixed[size - 1] = (uint8_t)crc;
    check(fixed, size);
    free(fixed);
    return 0;
}
