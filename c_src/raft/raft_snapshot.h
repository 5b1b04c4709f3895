/* raft_snapshot.h - the snapshot codec (pure): the store and the
 * configuration in force as of one log entry, as bytes that a data
 * directory keeps (DIR/snap) and InstallSnapshot carries between C nodes.
 *
 *   "RKVS" Version:32=1 Index:64 Term:64 ConfLen:32 Conf Count:64
 *   Count x (KeyLen:32 Key ValLen:32 Val)  CRC32:32 of all that precedes
 *
 * Conf is the configuration entry's command ({cn_config, [...]}), empty
 * for the bootstrap set; pairs are in the order the store holds them (no
 * sort), keys distinct (checked when the pairs are loaded). */
#ifndef RAFT_SNAPSHOT_H
#define RAFT_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "../node/buf.h"
#include "raft_kv.h"

typedef struct raft_snapshot_info {
    uint64_t    index, term;         /* the last entry it includes */
    const char *conf;                /* into the bytes decoded; NULL if none */
    size_t      conflen;
    uint64_t    count;               /* keys */
} raft_snapshot_info;

void raft_snapshot_encode(cn_buf *out, uint64_t index, uint64_t term, const char *conf,
                          size_t conflen, raft_kv *kv);
/* The same a part at a time, so that a big store does not stall the loop:
 * begin writes the header (conf is copied) and freezes the store
 * (raft_kv_freeze: it may go on changing, the snapshot is of the pairs as
 * of begin), each step encodes at most max pairs, and the step that
 * encodes the last writes the CRC, thaws the store and returns 1.  A
 * snapshot given up thaws the store itself (raft_kv_thaw). */
typedef struct raft_snapshot_enc {
    size_t   crc_at;                 /* out's bytes from the snapshot's start up to
                                      * this are in crc */
    uint32_t crc;
    raft_kv *kv;
    uint64_t count;                  /* the pairs it holds */
} raft_snapshot_enc;
void raft_snapshot_enc_begin(raft_snapshot_enc *e, cn_buf *out, uint64_t index, uint64_t term,
                             const char *conf, size_t conflen, raft_kv *kv);
int  raft_snapshot_enc_step(raft_snapshot_enc *e, cn_buf *out, size_t max);
/* Checks data whole (magic, version, lengths, CRC, the configuration,
 * and, with kv (empty), keys distinct) and fills *info; with kv also loads
 * the pairs into it.  0, or -1 and why (the store then holds a part). */
int  raft_snapshot_decode(const char *data, size_t len, raft_snapshot_info *info, raft_kv *kv,
                          char *why, size_t whylen);

/* An encoded snapshot shared by the core (what InstallSnapshot sends) and
 * a write in progress (raft_storage), without a copy: its bytes do not
 * change while more than one holds it, and the last to let go frees it.
 * Held and let go on the loop thread only (a writer thread only reads the
 * bytes).  One held by nobody else is reused for the next snapshot, its
 * memory already touched: fresh pages cost more than encoding into them. */
typedef struct raft_snapshot_buf {
    cn_buf   bytes;
    size_t   warm;                   /* bytes from the start touched besides bytes.len */
    unsigned holders;
} raft_snapshot_buf;

raft_snapshot_buf *raft_snapshot_buf_new(void);      /* one holder; NULL: out of memory */
raft_snapshot_buf *raft_snapshot_buf_hold(raft_snapshot_buf *b);
void               raft_snapshot_buf_release(raft_snapshot_buf *b);   /* NULL: nothing */
/* Empty again for the next snapshot, its memory kept (and remembered as
 * touched). */
void               raft_snapshot_buf_reuse(raft_snapshot_buf *b);
/* The bytes of src (a snapshot received) become b's, without a copy; src
 * gets b's memory, emptied. */
void               raft_snapshot_buf_take(raft_snapshot_buf *b, cn_buf *src);
/* Touches up to step more bytes of memory beyond what b has touched, up to
 * upto in all, keeping its bytes: pages touched before cost several times
 * less to encode into than pages never touched. */
void               raft_snapshot_buf_touch(raft_snapshot_buf *b, size_t upto, size_t step);

#endif
