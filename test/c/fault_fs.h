/* fault_fs.h - an in-memory raft_fs (c_src/raft/raft_fs.h) for crash
 * tests: it models what survives a power cut.
 *
 * Each file has its current content and its durable content (what its
 * last fsync or fdatasync saw).  A directory entry (a new file, a
 * rename, a mkdir) becomes durable only when its directory is fsynced.
 * fault_fs_crash() reverts everything to the durable state; with
 * FAULT_FS_TEAR the file last written keeps its unsynced writes up to the
 * last one, that one cut to a chosen number of bytes (the disk wrote in
 * order and the power went in the middle of the last write).  Not
 * modelled: unsynced writes reaching the disk out of order (a later one
 * kept, an earlier one lost, leaving a hole), nor other files' unsynced
 * writes kept at the same crash.
 *
 * Operations that change something (open with O_CREAT or O_TRUNC,
 * pwrite, ftruncate, fsync, fdatasync, rename, mkdir) are numbered from 0;
 * with fault_fs_crash_at(fs, k) operation k is where the machine dies:
 * from there on changes reach only the current view (they succeed and
 * read back, as on a machine that has not noticed: a file rewritten from
 * another reads what was written), never the durable state nor the tear,
 * so nothing done after counts.
 * Safe from several threads (one lock). */
#ifndef FAULT_FS_H
#define FAULT_FS_H

#include <stddef.h>

#include "../../c_src/raft/raft_fs.h"

typedef struct fault_fs fault_fs;

enum { FAULT_FS_DROP, FAULT_FS_TEAR };

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
/* The power cut and reboot: durable names and contents only, descriptors
 * gone, alive again.  TEAR keeps `keep` bytes of the last unsynced write. */
void      fault_fs_crash(fault_fs *f, int mode, size_t keep);
/* Flips bit `bit` of byte `byte` of path (current and durable content):
 * 0, or -1 if there is no such file or byte. */
int       fault_fs_flip(fault_fs *f, const char *path, size_t byte, int bit);
/* The current size of path, or -1. */
long      fault_fs_size(fault_fs *f, const char *path);

#endif
