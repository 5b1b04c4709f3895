/* fault_fs.h - an in-memory raft_fs (c_src/raft/raft_fs.h) for crash
 * tests: it models what survives a power cut.
 *
 * Each file has its current content and its durable content (what its
 * last fsync or fdatasync saw).  A directory entry (a new file, a
 * rename, a mkdir) becomes durable only when its directory is fsynced.
 * fault_fs_crash() reverts everything to the durable state, and then
 * lets some of the unsynced changes (writes and truncations since a
 * file's last fsync or fdatasync) reach the disk:
 *   FAULT_FS_DROP    none of them;
 *   FAULT_FS_TEAR    the file last written keeps its unsynced changes up
 *                    to its last write, that one cut to a chosen number of
 *                    bytes (the disk wrote in order and the power went in
 *                    the middle of the last write);
 *   FAULT_FS_SUBSET  any subset, of every file at once, chosen by a
 *                    bitmask over all unsynced changes in the order they
 *                    were made: the disk wrote them out of order, a later
 *                    one kept while an earlier one was lost, leaving a hole
 *                    (zeros beyond the old end, or the old bytes), a
 *                    truncation lost while a write after it was kept.
 * Each kept change is applied whole, in its order, over the durable
 * content.  Not modelled: a write partly on the disk while a later one is
 * whole (a sector of a write lost, the next kept), and directory entries
 * made durable by anything but their directory's fsync.
 *
 * Operations that change something (open with O_CREAT or O_TRUNC,
 * pwrite, ftruncate, fsync, fdatasync, rename, mkdir) are numbered from 0;
 * with fault_fs_crash_at(fs, k) operation k is where the machine dies:
 * from there on changes reach only the current view (they succeed and
 * read back, as on a machine that has not noticed: a file rewritten from
 * another reads what was written), never the durable state nor what a
 * crash keeps, so nothing done after counts.
 * Safe from several threads (one lock). */
#ifndef FAULT_FS_H
#define FAULT_FS_H

#include <stddef.h>

#include "../../c_src/raft/raft_fs.h"

typedef struct fault_fs fault_fs;

enum { FAULT_FS_DROP, FAULT_FS_TEAR, FAULT_FS_SUBSET };

fault_fs *fault_fs_new(void);
void      fault_fs_free(fault_fs *f);
/* The vtable to hand to raft_storage_open_fs. */
raft_fs  *fault_fs_raft(fault_fs *f);
/* A copy of the files, names and counters (not the open descriptors). */
fault_fs *fault_fs_clone(fault_fs *f);
/* Operation k and those after it are dropped (k < 0: never). */
void      fault_fs_crash_at(fault_fs *f, long k);
/* Changing operations so far; whether the machine has died. */
long      fault_fs_ops(fault_fs *f);
int       fault_fs_dead(fault_fs *f);
/* Bytes of the last write not yet synced (0 if there is none): the
 * lengths FAULT_FS_TEAR can keep are 0..this. */
size_t    fault_fs_torn_len(fault_fs *f);
/* Unsynced changes (writes and truncations, of all files) so far: the
 * bits SUBSET reads from `keep`. */
size_t    fault_fs_unsynced(fault_fs *f);
/* The power cut and reboot: durable names and contents only, descriptors
 * gone, alive again.  TEAR keeps `keep` bytes of the last unsynced write;
 * SUBSET keeps the unsynced changes whose bits are set in `keep` (bit 0:
 * the oldest; changes past the width of size_t are lost). */
void      fault_fs_crash(fault_fs *f, int mode, size_t keep);
/* Whether a and b hold the same durable names and contents (what a crash
 * of each would leave alike). */
int       fault_fs_same(fault_fs *a, fault_fs *b);
/* Flips bit `bit` of byte `byte` of path (current and durable content):
 * 0, or -1 if there is no such file or byte. */
int       fault_fs_flip(fault_fs *f, const char *path, size_t byte, int bit);
/* The current size of path, or -1. */
long      fault_fs_size(fault_fs *f, const char *path);

#endif
