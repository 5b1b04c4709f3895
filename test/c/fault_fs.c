/* fault_fs.c - the in-memory, fault-injecting raft_fs of the crash tests
 * (see fault_fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fault_fs.h"

#define MAX_FDS 64
#define FD_BASE 100                     /* descriptors look like real ones */

typedef struct bytes {
    unsigned char *p;
    size_t         len;
} bytes;

/* A change not yet synced: a write (data at `at`) or a truncation to `at`;
 * no is the operation's number (the order of changes across files). */
typedef struct change {
    int   is_write;
    off_t at;
    bytes data;
    long  no;
} change;

typedef struct inode {
    bytes   cur, durable;
    change *log;                        /* unsynced changes, oldest first */
    size_t  nlog;
} inode;

/* A name: a directory (ino -1) or a file (an index into inodes). */
typedef struct entry {
    char *path;
    int   ino;
} entry;

typedef struct names {
    entry *v;
    size_t n;
} names;

typedef struct fd_slot {
    int   used, ino;                    /* ino -1: a directory */
    char *dir;                          /* a directory's path */
} fd_slot;

struct fault_fs {
    raft_fs    vt;                      /* first: a raft_fs * is a fault_fs * */
    uv_mutex_t mu;
    inode     *inodes;
    size_t     ninodes;
    names      cur, durable;
    fd_slot    fds[MAX_FDS];
    long       ops, crash_at;
    int        dead;
    int        last;                    /* inode of the last unsynced write, or -1 */
};

/* ---- bytes and names ---------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static bytes bytes_copy(const void *p, size_t n)
{
    bytes b = { xrealloc(NULL, n), n };
    if (n)
        memcpy(b.p, p, n);
    return b;
}

static void bytes_resize(bytes *b, size_t n)
{
    b->p = xrealloc(b->p, n);
    if (n > b->len)
        memset(b->p + b->len, 0, n - b->len);
    b->len = n;
}

static void bytes_write(bytes *b, off_t at, const void *p, size_t n)
{
    if ((size_t)at + n > b->len)
        bytes_resize(b, (size_t)at + n);
    if (n)
        memcpy(b->p + at, p, n);
}

static void log_clear(inode *in)
{
    for (size_t i = 0; i < in->nlog; i++)
        free(in->log[i].data.p);
    free(in->log);
    in->log = NULL;
    in->nlog = 0;
}

static void log_add(inode *in, int is_write, off_t at, const void *p, size_t n, long no)
{
    in->log = xrealloc(in->log, (in->nlog + 1) * sizeof *in->log);
    in->log[in->nlog++] = (change){ is_write, at, bytes_copy(p, n), no };
}

static entry *names_find(names *ns, const char *path)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].path, path) == 0)
            return &ns->v[i];
    return NULL;
}

static void names_add(names *ns, const char *path, int ino)
{
    ns->v = xrealloc(ns->v, (ns->n + 1) * sizeof *ns->v);
    ns->v[ns->n++] = (entry){ strdup(path), ino };
}

static void names_remove(names *ns, entry *e)
{
    free(e->path);
    *e = ns->v[--ns->n];
}

static void names_free(names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i].path);
    free(ns->v);
    ns->v = NULL;
    ns->n = 0;
}

static void names_copy(names *to, const names *from)
{
    names_free(to);
    for (size_t i = 0; i < from->n; i++)
        names_add(to, from->v[i].path, from->v[i].ino);
}

/* Is path directly in directory dir? */
static int in_dir(const char *path, const char *dir)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash[1] == '\0')
        return 0;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    return strlen(dir) == n && strncmp(path, dir, n) == 0;
}

static int parent_exists(fault_fs *f, const char *path)
{
    for (size_t i = 0; i < f->cur.n; i++)
        if (f->cur.v[i].ino < 0 && in_dir(path, f->cur.v[i].path))
            return 1;
    return 0;
}

/* A directory's fsync: its entries as they are now become durable. */
static void sync_dir(fault_fs *f, const char *dir)
{
    for (size_t i = f->durable.n; i-- > 0;)
        if (in_dir(f->durable.v[i].path, dir))
            names_remove(&f->durable, &f->durable.v[i]);
    for (size_t i = 0; i < f->cur.n; i++)
        if (in_dir(f->cur.v[i].path, dir))
            names_add(&f->durable, f->cur.v[i].path, f->cur.v[i].ino);
}

static int new_inode(fault_fs *f)
{
    f->inodes = xrealloc(f->inodes, (f->ninodes + 1) * sizeof *f->inodes);
    f->inodes[f->ninodes] = (inode){ { NULL, 0 }, { NULL, 0 }, NULL, 0 };
    return (int)f->ninodes++;
}

/* ---- the operations ----------------------------------------------------- */

static fault_fs *lock(raft_fs *fs)
{
    fault_fs *f = (fault_fs *)fs;
    uv_mutex_lock(&f->mu);
    return f;
}

static int unlock(fault_fs *f, int rc, int err)
{
    uv_mutex_unlock(&f->mu);
    if (rc < 0)
        errno = err;
    return rc;
}

/* Counts a changing operation: 1 if it is to be done, 0 if the machine
 * has died (at this one or before). */
static int alive(fault_fs *f)
{
    if (f->ops++ == f->crash_at)
        f->dead = 1;
    return !f->dead;
}

static fd_slot *slot(fault_fs *f, int fd)
{
    int i = fd - FD_BASE;
    return i >= 0 && i < MAX_FDS && f->fds[i].used ? &f->fds[i] : NULL;
}

static int fd_new(fault_fs *f, int ino, const char *dir)
{
    for (int i = 0; i < MAX_FDS; i++)
        if (!f->fds[i].used) {
            f->fds[i] = (fd_slot){ 1, ino, dir ? strdup(dir) : NULL };
            return FD_BASE + i;
        }
    return -1;
}

static int ffs_open(raft_fs *fs, const char *path, int flags, mode_t mode)
{
    fault_fs *f = lock(fs);
    int changes = (flags & (O_CREAT | O_TRUNC)) != 0;
    int live = !changes || alive(f);
    entry *e = names_find(&f->cur, path);
    if (!e && !(flags & O_CREAT))
        return unlock(f, -1, ENOENT);
    if (e && (flags & O_CREAT) && (flags & O_EXCL))
        return unlock(f, -1, EEXIST);
    if (e && e->ino < 0)
        return unlock(f, fd_new(f, -1, path), EMFILE);
    if (flags & O_DIRECTORY)
        return unlock(f, -1, ENOTDIR);
    if (!e && !parent_exists(f, path))
        return unlock(f, -1, ENOENT);
    int ino = e ? e->ino : new_inode(f);
    if (!e)
        names_add(&f->cur, path, ino);
    if (flags & O_TRUNC) {
        f->inodes[ino].cur.len = 0;
        if (live)
            log_add(&f->inodes[ino], 0, 0, NULL, 0, f->ops - 1);
    }
    return unlock(f, fd_new(f, ino, NULL), EMFILE);
}

static int ffs_close(raft_fs *fs, int fd)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl)
        return unlock(f, -1, EBADF);
    free(sl->dir);
    *sl = (fd_slot){ 0, 0, NULL };
    return unlock(f, 0, 0);
}

static ssize_t ffs_pread(raft_fs *fs, int fd, void *buf, size_t n, off_t at)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl)
        return unlock(f, -1, EBADF);
    if (sl->ino < 0)
        return unlock(f, sl->dir ? -1 : 0, EISDIR);
    bytes *b = &f->inodes[sl->ino].cur;
    size_t k = (size_t)at >= b->len ? 0 : b->len - (size_t)at < n ? b->len - (size_t)at : n;
    if (k)
        memcpy(buf, b->p + at, k);
    return unlock(f, (int)k, 0);
}

static ssize_t ffs_pwrite(raft_fs *fs, int fd, const void *buf, size_t n, off_t at)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl)
        return unlock(f, -1, EBADF);
    int live = alive(f);
    if (sl->ino < 0)
        return unlock(f, -1, EISDIR);
    inode *in = &f->inodes[sl->ino];
    bytes_write(&in->cur, at, buf, n);
    if (!live)
        return unlock(f, (int)n, 0);        /* seen, never to reach the disk */
    log_add(in, 1, at, buf, n, f->ops - 1);
    f->last = sl->ino;
    return unlock(f, (int)n, 0);
}

static int ffs_sync(raft_fs *fs, int fd)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl)
        return unlock(f, -1, EBADF);
    if (!alive(f))
        return unlock(f, 0, 0);
    if (sl->dir) {
        sync_dir(f, sl->dir);
    } else if (sl->ino >= 0) {
        inode *in = &f->inodes[sl->ino];
        free(in->durable.p);
        in->durable = bytes_copy(in->cur.p, in->cur.len);
        log_clear(in);
        if (f->last == sl->ino)
            f->last = -1;
    }
    return unlock(f, 0, 0);
}

static int ffs_ftruncate(raft_fs *fs, int fd, off_t size)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl || sl->dir)
        return unlock(f, -1, EBADF);
    int live = alive(f);
    if (sl->ino < 0)
        return unlock(f, -1, EISDIR);
    inode *in = &f->inodes[sl->ino];
    bytes_resize(&in->cur, (size_t)size);
    if (live)
        log_add(in, 0, size, NULL, 0, f->ops - 1);
    return unlock(f, 0, 0);
}

static int ffs_rename(raft_fs *fs, const char *from, const char *to)
{
    fault_fs *f = lock(fs);
    alive(f);                           /* dead: only the current view changes */
    entry *e = names_find(&f->cur, from);
    if (!e || !parent_exists(f, to))
        return unlock(f, -1, ENOENT);
    int ino = e->ino;
    names_remove(&f->cur, e);
    entry *old = names_find(&f->cur, to);
    if (old)
        names_remove(&f->cur, old);
    names_add(&f->cur, to, ino);
    return unlock(f, 0, 0);
}

static int ffs_mkdir(raft_fs *fs, const char *path, mode_t mode)
{
    fault_fs *f = lock(fs);
    alive(f);
    if (names_find(&f->cur, path))
        return unlock(f, -1, EEXIST);
    if (!parent_exists(f, path))
        return unlock(f, -1, ENOENT);
    names_add(&f->cur, path, -1);
    return unlock(f, 0, 0);
}

static int ffs_size(raft_fs *fs, int fd, off_t *size)
{
    fault_fs *f = lock(fs);
    fd_slot *sl = slot(f, fd);
    if (!sl)
        return unlock(f, -1, EBADF);
    *size = sl->ino < 0 ? 0 : (off_t)f->inodes[sl->ino].cur.len;
    return unlock(f, 0, 0);
}

/* ---- control ------------------------------------------------------------ */

static fault_fs *fault_fs_empty(void)
{
    fault_fs *f = xrealloc(NULL, sizeof *f);
    memset(f, 0, sizeof *f);
    f->vt = (raft_fs){ ffs_open, ffs_close, ffs_pread, ffs_pwrite, ffs_sync, ffs_sync,
                       ffs_ftruncate, ffs_rename, ffs_mkdir, ffs_size };
    if (uv_mutex_init(&f->mu) != 0)
        abort();
    f->crash_at = -1;
    f->last = -1;
    return f;
}

fault_fs *fault_fs_new(void)
{
    fault_fs *f = fault_fs_empty();
    names_add(&f->cur, "/", -1);
    names_add(&f->durable, "/", -1);
    return f;
}

void fault_fs_free(fault_fs *f)
{
    for (size_t i = 0; i < f->ninodes; i++) {
        free(f->inodes[i].cur.p);
        free(f->inodes[i].durable.p);
        log_clear(&f->inodes[i]);
    }
    free(f->inodes);
    names_free(&f->cur);
    names_free(&f->durable);
    for (int i = 0; i < MAX_FDS; i++)
        free(f->fds[i].dir);
    uv_mutex_destroy(&f->mu);
    free(f);
}

raft_fs *fault_fs_raft(fault_fs *f) { return &f->vt; }

fault_fs *fault_fs_clone(fault_fs *f)
{
    fault_fs *c = fault_fs_empty();
    uv_mutex_lock(&f->mu);
    c->inodes = xrealloc(NULL, f->ninodes * sizeof *c->inodes);
    c->ninodes = f->ninodes;
    for (size_t i = 0; i < f->ninodes; i++) {
        inode *from = &f->inodes[i], *to = &c->inodes[i];
        to->cur = bytes_copy(from->cur.p, from->cur.len);
        to->durable = bytes_copy(from->durable.p, from->durable.len);
        to->log = NULL;
        to->nlog = 0;
        for (size_t k = 0; k < from->nlog; k++)
            log_add(to, from->log[k].is_write, from->log[k].at, from->log[k].data.p,
                    from->log[k].data.len, from->log[k].no);
    }
    names_copy(&c->cur, &f->cur);
    names_copy(&c->durable, &f->durable);
    c->ops = f->ops;
    c->crash_at = f->crash_at;
    c->dead = f->dead;
    c->last = f->last;
    uv_mutex_unlock(&f->mu);
    return c;
}

void fault_fs_crash_at(fault_fs *f, long k)
{
    uv_mutex_lock(&f->mu);
    f->crash_at = k;
    uv_mutex_unlock(&f->mu);
}

long fault_fs_ops(fault_fs *f)
{
    uv_mutex_lock(&f->mu);
    long n = f->ops;
    uv_mutex_unlock(&f->mu);
    return n;
}

int fault_fs_dead(fault_fs *f)
{
    uv_mutex_lock(&f->mu);
    int d = f->dead;
    uv_mutex_unlock(&f->mu);
    return d;
}

/* The index of the inode's last write in its unsynced changes, or -1. */
static long last_write(const inode *in)
{
    for (size_t i = in->nlog; i-- > 0;)
        if (in->log[i].is_write)
            return (long)i;
    return -1;
}

size_t fault_fs_torn_len(fault_fs *f)
{
    uv_mutex_lock(&f->mu);
    size_t n = 0;
    if (f->last >= 0) {
        inode *in = &f->inodes[f->last];
        n = in->log[last_write(in)].data.len;
    }
    uv_mutex_unlock(&f->mu);
    return n;
}

size_t fault_fs_unsynced(fault_fs *f)
{
    uv_mutex_lock(&f->mu);
    size_t n = 0;
    for (size_t i = 0; i < f->ninodes; i++)
        n += f->inodes[i].nlog;
    uv_mutex_unlock(&f->mu);
    return n;
}

/* The place of operation no among the unsynced changes of all files (0:
 * the oldest). */
static size_t order(const fault_fs *f, long no)
{
    size_t r = 0;
    for (size_t i = 0; i < f->ninodes; i++)
        for (size_t k = 0; k < f->inodes[i].nlog; k++)
            r += f->inodes[i].log[k].no < no;
    return r;
}

/* How much of unsynced change k of inode ino reaches the disk at a crash
 * in mode: -1 nothing, else the bytes of a write kept (a truncation: done).
 * TEAR: the changes of the file last written up to its last write, that
 * one cut to keep bytes.  SUBSET: those whose bit is set in keep. */
static long survives(const fault_fs *f, int ino, size_t k, int mode, size_t keep)
{
    const inode *in = &f->inodes[ino];
    long whole = (long)in->log[k].data.len;
    if (mode == FAULT_FS_SUBSET) {
        size_t bit = order(f, in->log[k].no);
        return bit < sizeof keep * 8 && (keep >> bit & 1) ? whole : -1;
    }
    long last = mode == FAULT_FS_TEAR && ino == f->last ? last_write(in) : -1;
    if ((long)k < last)
        return whole;
    return (long)k == last ? (keep < (size_t)whole ? (long)keep : whole) : -1;
}

/* What reaches the disk of the inode's unsynced changes, in their order,
 * over its durable content, becomes its content (current and durable). */
static void reach_disk(fault_fs *f, int ino, int mode, size_t keep)
{
    inode *in = &f->inodes[ino];
    free(in->cur.p);
    in->cur = bytes_copy(in->durable.p, in->durable.len);
    for (size_t k = 0; k < in->nlog; k++) {
        change *c = &in->log[k];
        long n = survives(f, ino, k, mode, keep);
        if (n >= 0 && c->is_write)
            bytes_write(&in->cur, c->at, c->data.p, (size_t)n);
        else if (n >= 0)
            bytes_resize(&in->cur, (size_t)c->at);
    }
    free(in->durable.p);
    in->durable = bytes_copy(in->cur.p, in->cur.len);
}

void fault_fs_crash(fault_fs *f, int mode, size_t keep)
{
    uv_mutex_lock(&f->mu);
    names_copy(&f->cur, &f->durable);
    for (size_t i = 0; i < f->ninodes; i++)
        reach_disk(f, (int)i, mode, keep);
    for (size_t i = 0; i < f->ninodes; i++)    /* once all are done: order() reads them */
        log_clear(&f->inodes[i]);
    for (int i = 0; i < MAX_FDS; i++) {
        free(f->fds[i].dir);
        f->fds[i] = (fd_slot){ 0, 0, NULL };
    }
    f->dead = 0;
    f->crash_at = -1;
    f->last = -1;
    uv_mutex_unlock(&f->mu);
}

/* Does every durable name of a have its like in b (a directory, or a file
 * of the same durable content)? */
static int durable_in(fault_fs *a, fault_fs *b)
{
    for (size_t i = 0; i < a->durable.n; i++) {
        entry *e = &a->durable.v[i], *o = names_find(&b->durable, e->path);
        if (!o || (e->ino < 0) != (o->ino < 0))
            return 0;
        const bytes *x = e->ino < 0 ? NULL : &a->inodes[e->ino].durable;
        const bytes *y = o->ino < 0 ? NULL : &b->inodes[o->ino].durable;
        if (x && (x->len != y->len || (x->len && memcmp(x->p, y->p, x->len) != 0)))
            return 0;
    }
    return 1;
}

int fault_fs_same(fault_fs *a, fault_fs *b)
{
    uv_mutex_lock(&a->mu);
    uv_mutex_lock(&b->mu);
    int same = a->durable.n == b->durable.n && durable_in(a, b);
    uv_mutex_unlock(&b->mu);
    uv_mutex_unlock(&a->mu);
    return same;
}

int fault_fs_flip(fault_fs *f, const char *path, size_t byte, int bit)
{
    uv_mutex_lock(&f->mu);
    entry *e = names_find(&f->cur, path);
    int rc = -1;
    if (e && e->ino >= 0 && byte < f->inodes[e->ino].cur.len) {
        inode *in = &f->inodes[e->ino];
        in->cur.p[byte] ^= (unsigned char)(1u << bit);
        if (byte < in->durable.len)
            in->durable.p[byte] ^= (unsigned char)(1u << bit);
        rc = 0;
    }
    uv_mutex_unlock(&f->mu);
    return rc;
}

long fault_fs_size(fault_fs *f, const char *path)
{
    uv_mutex_lock(&f->mu);
    entry *e = names_find(&f->cur, path);
    long n = e && e->ino >= 0 ? (long)f->inodes[e->ino].cur.len : -1;
    uv_mutex_unlock(&f->mu);
    return n;
}
