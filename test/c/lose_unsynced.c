/* lose_unsynced.c - power loss for a real process, as LazyFS does it for
 * Jepsen: what was written but not synced is lost at the crash.
 *
 * Built twice (Makefile):
 *   liblose_unsynced.so  LD_PRELOAD shim.  For files under $CNODE_LOSE_DIR
 *       it keeps, beside each file F, an undo journal F.undo: before every
 *       write or truncate, the bytes about to be overwritten or cut (and
 *       the old size) are appended to the journal; fsync or fdatasync of F
 *       empties it (what was written is durable now).
 *   lose_unsynced DIR    after the process was killed with SIGKILL: rolls
 *       every file under DIR back to its last sync by applying its journal
 *       in reverse, then removes the journals.  The file is then exactly as
 *       a power loss after the last fsync would have left it (byte-exact,
 *       no torn pages: stricter than a disk, never kinder).
 *
 * What it models: file data not yet synced.  Not modelled: directory
 * entries not yet synced (a rename is kept).  raft_storage syncs a file
 * before renaming it into place and syncs the directory after, so only the
 * ordering of data matters to it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct undo_rec {                  /* then `saved` bytes of old data */
    uint64_t offset, len, old_size, saved;
} undo_rec;

#ifndef LOSE_TOOL

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char tracked[1024][PATH_MAX / 4];  /* fd -> path ("" untracked) */

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);

__attribute__((constructor)) static void init(void)
{
    real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
    real_write = dlsym(RTLD_NEXT, "write");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate64");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_open = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat64");
    real_close = dlsym(RTLD_NEXT, "close");
}

static const char *path_of(int fd)
{
    return fd >= 0 && fd < 1024 && tracked[fd][0] ? tracked[fd] : NULL;
}

/* Saves what [offset, offset+len) and a cut to new_size would destroy. */
static void save(int fd, uint64_t offset, uint64_t len)
{
    const char *p = path_of(fd);
    if (!p)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return;
    uint64_t size = (uint64_t)st.st_size;
    undo_rec r = { offset, len, size, 0 };
    if (offset < size)
        r.saved = size - offset < len ? size - offset : len;
    char *old = r.saved ? malloc(r.saved) : NULL;
    if (r.saved && (!old || pread(fd, old, r.saved, (off_t)offset) != (ssize_t)r.saved)) {
        free(old);
        abort();                           /* cannot promise the rollback */
    }
    char jp[PATH_MAX];
    snprintf(jp, sizeof jp, "%s.undo", p);
    int j = real_open(jp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (j < 0 || real_write(j, &r, sizeof r) != (ssize_t)sizeof r ||
        (r.saved && real_write(j, old, r.saved) != (ssize_t)r.saved) || real_fdatasync(j) < 0)
        abort();
    real_close(j);
    free(old);
}

static void synced(int fd)
{
    const char *p = path_of(fd);
    if (!p)
        return;
    char jp[PATH_MAX];
    snprintf(jp, sizeof jp, "%s.undo", p);
    unlink(jp);
}

/* Tracks fd if path is under $CNODE_LOSE_DIR (absolute paths only). */
static int track(int fd, const char *path, int flags)
{
    const char *dir = getenv("CNODE_LOSE_DIR");
    if (fd >= 0 && fd < 1024 && dir && strncmp(path, dir, strlen(dir)) == 0 &&
        !(flags & O_DIRECTORY) && strlen(path) < sizeof tracked[0] - 8) {
        pthread_mutex_lock(&mu);
        snprintf(tracked[fd], sizeof tracked[fd], "%s", path);
        pthread_mutex_unlock(&mu);
    }
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return track(real_open(path, flags, mode), path, flags);
}
int open(const char *path, int flags, ...) __attribute__((alias("open64")));

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return track(real_openat(dirfd, path, flags, mode), path, flags);
}
int openat(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat64")));

int close(int fd)
{
    if (fd >= 0 && fd < 1024)
        tracked[fd][0] = '\0';
    return real_close(fd);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at)
{
    pthread_mutex_lock(&mu);
    save(fd, (uint64_t)at, n);
    ssize_t r = real_pwrite(fd, buf, n, at);
    pthread_mutex_unlock(&mu);
    return r;
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t at) __attribute__((alias("pwrite64")));

ssize_t write(int fd, const void *buf, size_t n)
{
    if (!path_of(fd))
        return real_write(fd, buf, n);
    pthread_mutex_lock(&mu);
    off_t at = lseek(fd, 0, SEEK_CUR);
    save(fd, (uint64_t)at, n);
    ssize_t r = real_write(fd, buf, n);
    pthread_mutex_unlock(&mu);
    return r;
}

int ftruncate64(int fd, off_t size)
{
    pthread_mutex_lock(&mu);
    struct stat st;
    if (path_of(fd) && fstat(fd, &st) == 0 && size < st.st_size)
        save(fd, (uint64_t)size, (uint64_t)(st.st_size - size));
    int r = real_ftruncate(fd, size);
    pthread_mutex_unlock(&mu);
    return r;
}
int ftruncate(int fd, off_t size) __attribute__((alias("ftruncate64")));

/* After a sync that succeeded, fd's journal is no longer needed. */
static int after_sync(int fd, int r)
{
    pthread_mutex_lock(&mu);
    if (r == 0)
        synced(fd);
    pthread_mutex_unlock(&mu);
    return r;
}

int fsync(int fd) { return after_sync(fd, real_fsync(fd)); }
int fdatasync(int fd) { return after_sync(fd, real_fdatasync(fd)); }

#else /* LOSE_TOOL */

/* Rolls file F back with F.undo: records applied last to first. */
static int roll_back(const char *file, const char *journal)
{
    FILE *j = fopen(journal, "rb");
    if (!j)
        return -1;
    size_t n = 0, cap = 0;
    undo_rec *recs = NULL;
    char **olds = NULL;
    undo_rec r;
    while (fread(&r, sizeof r, 1, j) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            recs = realloc(recs, cap * sizeof *recs);
            olds = realloc(olds, cap * sizeof *olds);
        }
        olds[n] = r.saved ? malloc(r.saved) : NULL;
        if (r.saved && fread(olds[n], 1, r.saved, j) != r.saved)
            break;                         /* a record cut by the crash: never acted on */
        recs[n++] = r;
    }
    fclose(j);
    int fd = open(file, O_WRONLY);
    for (size_t i = n; fd >= 0 && i-- > 0;) {
        if (recs[i].saved)
            (void)!pwrite(fd, olds[i], recs[i].saved, (off_t)recs[i].offset);
        (void)!ftruncate(fd, (off_t)recs[i].old_size);
    }
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    for (size_t i = 0; i < n; i++)
        free(olds[i]);
    free(recs);
    free(olds);
    printf("lose_unsynced: %s: %zu unsynced writes undone\n", file, n);
    return unlink(journal);
}

static int walk(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char p[PATH_MAX];
        size_t l = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc |= walk(p);
        } else if (l > 5 && strcmp(e->d_name + l - 5, ".undo") == 0) {
            char f[PATH_MAX];
            snprintf(f, sizeof f, "%.*s", (int)(strlen(p) - 5), p);
            rc |= roll_back(f, p);
        }
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: lose_unsynced DIR   (after a SIGKILL: lose what was not synced)\n");
        return 2;
    }
    return walk(argv[1]) == 0 ? 0 : 1;
}

#endif
