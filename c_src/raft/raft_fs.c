/* raft_fs.c - the POSIX backend of the storage's file-system seam (see
 * raft_fs.h): each call is the system call of the same name. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft_fs.h"

static int posix_open(raft_fs *fs, const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static int posix_close(raft_fs *fs, int fd) { return close(fd); }

static ssize_t posix_pread(raft_fs *fs, int fd, void *buf, size_t n, off_t at)
{
    return pread(fd, buf, n, at);
}

static ssize_t posix_pwrite(raft_fs *fs, int fd, const void *buf, size_t n, off_t at)
{
    return pwrite(fd, buf, n, at);
}

static int posix_fsync(raft_fs *fs, int fd) { return fsync(fd); }

static int posix_fdatasync(raft_fs *fs, int fd) { return fdatasync(fd); }

static int posix_ftruncate(raft_fs *fs, int fd, off_t size) { return ftruncate(fd, size); }

static int posix_rename(raft_fs *fs, const char *from, const char *to)
{
    return rename(from, to);
}

static int posix_mkdir(raft_fs *fs, const char *path, mode_t mode) { return mkdir(path, mode); }

static int posix_size(raft_fs *fs, int fd, off_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    *size = st.st_size;
    return 0;
}

static raft_fs posix = {
    posix_open, posix_close, posix_pread, posix_pwrite, posix_fsync, posix_fdatasync,
    posix_ftruncate, posix_rename, posix_mkdir, posix_size,
};

raft_fs *raft_fs_posix(void) { return &posix; }
