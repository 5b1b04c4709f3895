/* raft_storage.h - durable term, vote and log in a data directory.
 *
 *   DIR/meta   term and vote, replaced atomically (write, fsync, rename, fsync dir)
 *   DIR/log    append-only records: Len:32 CRC:32 | Index:64 Term:64 Command
 * Writes go to the libuv thread pool one batch at a time; what the core
 * asks for meanwhile is merged into the next batch (group commit), and one
 * fdatasync covers the whole batch (one more when it cuts the log and
 * writes after the cut: the cut is synced first).
 *
 *   DIR/snap   the latest snapshot (raft_snapshot.h), replaced atomically;
 *              after it is written the log is rewritten without the
 *              entries it made unneeded (log.tmp, fsync, rename, fsync dir),
 *              so the log's first entry may be any index up to snap's + 1
 *   DIR/id     "raft_kv node N": the node the directory belongs to, then
 *              "rejoining" until a node restarted empty has caught up
 *   DIR/peers  the last set_peers list, so a restarted node knows its cluster
 *
 * On open (parents are created, each new directory synced into its
 * parent): a torn tail is cut off, a final record cut short (a crash
 * mid-write: nothing valid after it) or zeros up to valid records
 * (unsynced writes that reached the disk out of order: a hole one left
 * before a later one).  Any other damage refuses to start with a message
 * naming the file and offset: a bad record with valid records after it,
 * a gap in the indexes, a directory of another node (or one with a log
 * and no id file).  A meta behind the log's last term (a crash between
 * the log's sync and meta's) resumes in the log's term with no vote.
 *
 * Every file operation goes through a raft_fs (raft_fs.h), the POSIX one
 * unless raft_storage_open_fs names another: the seam where the tests put
 * a fault-injecting file system (test/c/fault_fs.c, storage_crash_test.c).
 */
#ifndef RAFT_STORAGE_H
#define RAFT_STORAGE_H

#include <stdio.h>

#include <uv.h>

#include "raft_fs.h"
#include "raft_log.h"
#include "raft_snapshot.h"
#include "../node/buf.h"

typedef struct raft_storage raft_storage;
typedef void (*raft_storage_done)(void *ud, uint64_t seq);

raft_storage *raft_storage_open(uv_loop_t *loop, const char *dir, int id,
                                raft_storage_done done, void *ud, char *err, size_t errlen);
/* The same on the file system fs (it must outlive the storage). */
raft_storage *raft_storage_open_fs(uv_loop_t *loop, raft_fs *fs, const char *dir, int id,
                                   raft_storage_done done, void *ud, char *err, size_t errlen);
/* Who hears of completed writes (a storage opened before its owner). */
void raft_storage_set_done(raft_storage *s, raft_storage_done done, void *ud);
/* What was on disk (valid until raft_storage_forget_recovered). */
void raft_storage_recovered(raft_storage *s, uint64_t *term, int *vote,
                            const raft_entry **entries, size_t *n);
/* The snapshot found (data NULL if none): what raft_restore_snapshot takes;
 * the recovered entries follow it. */
void raft_storage_recovered_snapshot(raft_storage *s, const char **data, size_t *len);
void raft_storage_forget_recovered(raft_storage *s);
/* Queues a write (copies everything); done(seq) once it is on disk. */
void raft_storage_persist(raft_storage *s, uint64_t seq, int truncate, uint64_t keep,
                          uint64_t first, const raft_entry *entries, size_t n,
                          uint64_t term, int vote);
/* Queues a snapshot after the writes queued before it: DIR/snap replaced
 * atomically, then the log's entries up to compact dropped (all of them
 * if drop: the log restarts after index); done(seq) after.  snap is held
 * (not copied) until then. */
void raft_storage_snapshot(raft_storage *s, uint64_t seq, uint64_t index,
                           raft_snapshot_buf *snap, uint64_t compact, int drop);
/* Fsyncs per second and entries per fsync so far (for status). */
void raft_storage_stats(const raft_storage *s, uint64_t *fsyncs, uint64_t *entries);
/* raft_kv repair --data-dir DIR [--truncate]: reports on DIR/log (intact,
 * or where it is damaged and what cutting there would lose) and with
 * truncate cuts it there.  Returns 0 (intact or cut), 1 (damaged, not
 * cut), -1 (cannot read or write). */
int  raft_storage_repair(const char *dir, int truncate, FILE *out);
int  raft_storage_repair_fs(raft_fs *fs, const char *dir, int truncate, FILE *out);
/* DIR/peers: the last set_peers list (the term in external format, 131
 * first), replaced atomically and synced before returning (it runs on the
 * caller's thread: set_peers is rare).  0 or -1. */
int  raft_storage_save_peers(raft_storage *s, const char *ext, size_t len);
/* Appends DIR/peers to out: 1 if there was one, 0 if not, -1 on error. */
int  raft_storage_load_peers(const raft_storage *s, cn_buf *out);
/* The node lost its log and restarts empty (raft_config.rejoining): with
 * existing (--initial-cluster-state existing) a directory this open made
 * is marked "rejoining" in DIR/id, durably; a marked one stays so.
 * Returns 1 if the node is rejoining, 0 if not, -1 (err) if the mark
 * cannot be written.  raft_storage_rejoined removes the mark once the
 * node has caught up (on the caller's thread, as the peers file): 0 or -1. */
int  raft_storage_rejoining(raft_storage *s, int existing, char *err, size_t errlen);
int  raft_storage_rejoined(raft_storage *s);
/* Closes once the write in flight is done; the pending batch is written too. */
void raft_storage_close(raft_storage *s, void (*closed)(void *ud), void *ud);

#endif
