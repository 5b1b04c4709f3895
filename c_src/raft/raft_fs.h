/* raft_fs.h - the file-system seam under raft_storage (as canonical/raft's
 * raft_io): every file operation on the data directory goes through a
 * raft_fs, so a test can put a fault-injecting one underneath
 * (test/c/fault_fs.c: it keeps only what was synced at a crash, tears the
 * last write or keeps unsynced writes out of order, flips bits).  raft_fs_posix() is the real one, the default.
 *
 * Each call behaves as its POSIX namesake: the same flags and modes, -1
 * with errno on failure.  size() is fstat's st_size. */
#ifndef RAFT_FS_H
#define RAFT_FS_H

#include <sys/types.h>

typedef struct raft_fs raft_fs;

struct raft_fs {
    int     (*open)(raft_fs *fs, const char *path, int flags, mode_t mode);
    int     (*close)(raft_fs *fs, int fd);
    ssize_t (*pread)(raft_fs *fs, int fd, void *buf, size_t n, off_t at);
    ssize_t (*pwrite)(raft_fs *fs, int fd, const void *buf, size_t n, off_t at);
    int     (*fsync)(raft_fs *fs, int fd);
    int     (*fdatasync)(raft_fs *fs, int fd);
    int     (*ftruncate)(raft_fs *fs, int fd, off_t size);
    int     (*rename)(raft_fs *fs, const char *from, const char *to);
    int     (*mkdir)(raft_fs *fs, const char *path, mode_t mode);
    int     (*size)(raft_fs *fs, int fd, off_t *size);
};

/* The real file system (one shared instance, stateless). */
raft_fs *raft_fs_posix(void);

#endif
