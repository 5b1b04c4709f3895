/* raft_snapshot.c - the snapshot codec (see raft_snapshot.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "raft_conf.h"
#include "raft_snapshot.h"

#define SNAP_MAGIC   0x524b5653U          /* "RKVS" */
#define SNAP_VERSION 1u
#define SNAP_HEADER  28                   /* magic .. ConfLen */

static void put_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl)
{
    cn_buf *b = ud;
    cn_buf_put32(b, (uint32_t)kl);
    cn_buf_append(b, k, kl);
    cn_buf_put32(b, (uint32_t)vl);
    cn_buf_append(b, v, vl);
}

void raft_snapshot_enc_begin(raft_snapshot_enc *e, cn_buf *out, uint64_t index, uint64_t term,
                             const char *conf, size_t conflen, raft_kv *kv)
{
    e->crc_at = out->len;
    e->crc = (uint32_t)crc32(0, NULL, 0);
    e->kv = kv;
    e->count = raft_kv_count(kv);
    raft_kv_freeze(kv);
    cn_buf_put32(out, SNAP_MAGIC);
    cn_buf_put32(out, SNAP_VERSION);
    cn_buf_put64(out, index);
    cn_buf_put64(out, term);
    cn_buf_put32(out, (uint32_t)conflen);
    cn_buf_append(out, conf, conflen);
    cn_buf_put64(out, e->count);
}

int raft_snapshot_enc_step(raft_snapshot_enc *e, cn_buf *out, size_t max)
{
    int read = raft_kv_frozen_read(e->kv, max, put_pair, out);
    if (cn_buf_failed(out))
        return 0;
    /* the CRC as the bytes come (crc32 takes a uInt: at most 1 GiB a call) */
    while (e->crc_at < out->len) {
        size_t n = out->len - e->crc_at < (1u << 30) ? out->len - e->crc_at : (1u << 30);
        e->crc = (uint32_t)crc32(e->crc, (const unsigned char *)out->data + e->crc_at, (uInt)n);
        e->crc_at += n;
    }
    if (!read)
        return 0;
    raft_kv_thaw(e->kv);
    cn_buf_put32(out, e->crc);
    return !cn_buf_failed(out);
}

void raft_snapshot_encode(cn_buf *out, uint64_t index, uint64_t term, const char *conf,
                          size_t conflen, raft_kv *kv)
{
    raft_snapshot_enc e;
    raft_snapshot_enc_begin(&e, out, index, term, conf, conflen, kv);
    raft_snapshot_enc_step(&e, out, SIZE_MAX);
}

raft_snapshot_buf *raft_snapshot_buf_new(void)
{
    raft_snapshot_buf *b = malloc(sizeof *b);
    if (b) {
        cn_buf_init(&b->bytes);
        b->warm = 0;
        b->holders = 1;
    }
    return b;
}

raft_snapshot_buf *raft_snapshot_buf_hold(raft_snapshot_buf *b)
{
    b->holders++;
    return b;
}

void raft_snapshot_buf_release(raft_snapshot_buf *b)
{
    if (b && --b->holders == 0) {
        cn_buf_free(&b->bytes);
        free(b);
    }
}

static size_t touched(const raft_snapshot_buf *b)
{
    return b->warm > b->bytes.len ? b->warm : b->bytes.len;
}

void raft_snapshot_buf_reuse(raft_snapshot_buf *b)
{
    b->warm = touched(b);
    cn_buf_reset(&b->bytes);
}

void raft_snapshot_buf_take(raft_snapshot_buf *b, cn_buf *src)
{
    cn_buf_swap(&b->bytes, src);
    b->warm = 0;                    /* the received bytes are all it knows touched */
    cn_buf_reset(src);
}

void raft_snapshot_buf_touch(raft_snapshot_buf *b, size_t upto, size_t step)
{
    size_t from = touched(b);
    if (from >= upto)
        return;
    if (step > upto - from)
        step = upto - from;
    if (cn_buf_reserve(&b->bytes, from + step - b->bytes.len) < 0)
        return;                     /* out of memory: raft_snapshot_buf_reuse clears it */
    memset(b->bytes.data + from, 0, step);
    b->warm = from + step;
}

/* A length-prefixed field at *pos: its bytes, or NULL if it runs past end. */
static const unsigned char *field(const unsigned char *p, size_t end, size_t *pos, size_t *len)
{
    if (end - *pos < 4)
        return NULL;
    *len = cn_get32(p + *pos);
    *pos += 4;
    if (end - *pos < *len)
        return NULL;
    const unsigned char *f = p + *pos;
    *pos += *len;
    return f;
}

int raft_snapshot_decode(const char *data, size_t len, raft_snapshot_info *info, raft_kv *kv,
                         char *why, size_t whylen)
{
    const unsigned char *p = (const unsigned char *)data;
    memset(info, 0, sizeof *info);
    if (len < SNAP_HEADER + 8 + 4 || cn_get32(p) != SNAP_MAGIC) {
        snprintf(why, whylen, "not a raft_kv snapshot");
        return -1;
    }
    if (cn_get32(p + 4) != SNAP_VERSION) {
        snprintf(why, whylen, "snapshot version %u (this build reads %u)", cn_get32(p + 4),
                 SNAP_VERSION);
        return -1;
    }
    size_t end = len - 4;
    if (crc32(0, p, (uInt)end) != cn_get32(p + end)) {
        snprintf(why, whylen, "snapshot checksum does not match (damaged)");
        return -1;
    }
    info->index = cn_get64(p + 8);
    info->term = cn_get64(p + 16);
    size_t pos = 24, fl;
    const unsigned char *conf = field(p, end, &pos, &fl);
    if (!conf || end - pos < 8) {
        snprintf(why, whylen, "snapshot header runs past its end");
        return -1;
    }
    if (fl) {
        cn_term c = { (const char *)conf, fl };
        size_t at = 0;
        if (cn_term_check(c.data, fl, &at) < 0 || at != fl || !raft_conf_valid(&c)) {
            snprintf(why, whylen, "snapshot holds a malformed configuration");
            return -1;
        }
        info->conf = (const char *)conf;
        info->conflen = fl;
    }
    info->count = cn_get64(p + pos);
    pos += 8;
    for (uint64_t i = 0; i < info->count; i++) {
        size_t kl, vl;
        const unsigned char *k = field(p, end, &pos, &kl), *v = k ? field(p, end, &pos, &vl) : NULL;
        if (!v) {
            snprintf(why, whylen, "snapshot pair %llu runs past its end", (unsigned long long)i);
            return -1;
        }
        if (kv && raft_kv_insert(kv, (const char *)k, kl, (const char *)v, vl) < 0) {
            snprintf(why, whylen, "snapshot pair %llu: a key seen before (or out of memory)",
                     (unsigned long long)i);
            return -1;
        }
    }
    if (pos != end) {
        snprintf(why, whylen, "%zu bytes after the snapshot's last pair", end - pos);
        return -1;
    }
    return 0;
}
