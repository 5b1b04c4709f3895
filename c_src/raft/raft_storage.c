/* raft_storage.c - durable Raft state (see raft_storage.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "raft_fs.h"
#include "raft_snapshot.h"
#include "raft_storage.h"

#define META_MAGIC 0x524b564dU            /* "RKVM" */
#define RECORD_HEADER 8                   /* Len:32 CRC:32 */
#define RECORD_FIXED 16                   /* Index:64 Term:64 */
#define MAX_RECORD (64u << 20)

typedef struct op {
    int      truncate;
    uint64_t keep, first;
    size_t   n;
    cn_buf   records;
    raft_snapshot_buf *snapshot;          /* or write DIR/snap (held), then compact the log: */
    uint64_t index, compact;              /* ... keep its entries after compact, */
    int      drop;                        /* ... or none (it restarts after index) */
} op;

typedef struct batch {
    op      *ops;
    size_t   nops, capops;
    int      has_meta;
    uint64_t term;
    int      vote;
    uint64_t seq;
    int      failed;
    char     error[256];
} batch;

struct raft_storage {
    uv_loop_t *loop;
    raft_fs   *fs;                        /* every file operation goes through it */
    char       dir[1024];
    int        log_fd, dir_fd;
    uint64_t  *offsets;                   /* start of entry base+i+1; [count] = end */
    size_t     count, cap;
    uint64_t   base;                      /* the entry before the file's first */
    raft_storage_done done;
    void      *ud;
    batch     *pending, *writing;
    uv_work_t  work;
    uint64_t   fsyncs, entries_written;
    int        id;                        /* the node's, as DIR/id says */
    int        fresh;                     /* the id file was written by this open */
    int        rejoining;                 /* ... and says "rejoining" */
    void     (*closed)(void *);
    void      *closed_ud;
    int        closing;
    /* recovered state; then the term and vote last handed to a batch */
    uint64_t   term;
    int        vote;
    raft_log   recovered;
    int        diverged;                  /* the log's entry at snap_index is another */
    cn_buf     snap;                      /* DIR/snap as found */
    uint64_t   snap_index, snap_term;
};

static int write_all(raft_fs *fs, int fd, const char *p, size_t n, off_t at);
static int write_id(raft_storage *s, int rejoining);

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int ensure_offsets(raft_storage *s, size_t n)
{
    if (n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 1024;
    while (cap <= n)
        cap *= 2;
    uint64_t *v = realloc(s->offsets, cap * sizeof *v);
    if (!v)
        return -1;
    s->offsets = v;
    s->cap = cap;
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static int read_meta(raft_storage *s, char *err, size_t errlen)
{
    char path[1100];
    unsigned char b[20];
    snprintf(path, sizeof path, "%s/meta", s->dir);
    int fd = s->fs->open(s->fs, path, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;               /* a fresh directory */
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = s->fs->pread(s->fs, fd, b, sizeof b, 0);
    s->fs->close(s->fs, fd);
    if (n != 20 || cn_get32(b) != META_MAGIC ||
        crc32(0, b, 16) != cn_get32(b + 16)) {
        snprintf(err, errlen, "%s is corrupt (refusing to start: the vote may be lost)", path);
        return -1;
    }
    s->term = cn_get64(b + 4);
    s->vote = (int)cn_get32(b + 12);
    return 0;
}

static unsigned char *read_whole(raft_fs *fs, int fd, size_t size);

/* DIR/snap, if there is one: it must be whole (it is written to a
 * temporary file and renamed into place, so damage is not a torn write). */
static int read_snap(raft_storage *s, char *err, size_t errlen)
{
    char path[1100], why[160];
    off_t size = 0;
    snprintf(path, sizeof path, "%s/snap", s->dir);
    int fd = s->fs->open(s->fs, path, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *data = s->fs->size(s->fs, fd, &size) < 0 ? NULL
                                                            : read_whole(s->fs, fd, (size_t)size);
    s->fs->close(s->fs, fd);
    if (!data) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    raft_snapshot_info info;
    if (raft_snapshot_decode((const char *)data, (size_t)size, &info, NULL, why,
                             sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s; refusing to start", path, why);
        free(data);
        return -1;
    }
    cn_buf_append(&s->snap, data, (size_t)size);
    free(data);
    s->snap_index = info.index;
    s->snap_term = info.term;
    return cn_buf_failed(&s->snap) ? -1 : 0;
}

/* The whole file, read in pieces (one read(2) stops near 2 GiB). */
static unsigned char *read_whole(raft_fs *fs, int fd, size_t size)
{
    unsigned char *data = malloc(size ? size : 1);
    size_t got = 0;
    while (data && got < size) {
        size_t want = size - got < (1u << 30) ? size - got : (1u << 30);
        ssize_t r = fs->pread(fs, fd, data + got, want, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(data);
            return NULL;
        }
        got += (size_t)r;
    }
    return data;
}

/* The record at pos, if it is whole and its CRC holds: its length, else 0. */
static size_t valid_record(const unsigned char *data, size_t size, size_t pos)
{
    if (pos + RECORD_HEADER > size)
        return 0;
    uint32_t len = cn_get32(data + pos), crc = cn_get32(data + pos + 4);
    if (len < RECORD_FIXED || len > MAX_RECORD || pos + RECORD_HEADER + len > size)
        return 0;
    if (crc32(0, data + pos + RECORD_HEADER, len) != crc)
        return 0;
    return RECORD_HEADER + len;
}

/* Is there any valid record after the damage at pos?  Valid data after the
 * damage means the damage is not a torn tail (see hole): a bad sector, a
 * bit flip, an edit.  Cutting there would delete entries that may have
 * been committed. */
static long valid_after(const unsigned char *data, size_t size, size_t pos)
{
    for (size_t q = pos + 1; q + RECORD_HEADER + RECORD_FIXED <= size; q++)
        if (valid_record(data, size, q))
            return (long)q;
    return -1;
}

/* Is the damage [pos, end) all zeros: a hole unsynced writes left?  They
 * may reach the disk in any order, a later one kept and an earlier one
 * lost; all of them lie past the log's synced end (do_batch syncs a
 * truncation before writing after it), where a lost one leaves zeros.  So
 * zeros up to a valid record are the unsynced tail, and cut with it: no
 * record is zeros (its length is at least 16), and damage to synced
 * records is seldom zeros from a record's start (a sector the medium
 * returns as zeros, if it starts where a record does, would be cut too). */
static int hole(const unsigned char *data, size_t pos, size_t end)
{
    while (pos < end && data[pos] == 0)
        pos++;
    return pos == end;
}

/* The damage at pos (pos < size): -1 if it is the unsynced tail (nothing
 * valid after it, or, *zeros set, zeros up to the next valid record:
 * hole), else the offset of the valid record after it. */
static long damage_before(const unsigned char *data, size_t size, size_t pos, int *zeros)
{
    long after = valid_after(data, size, pos);
    *zeros = after >= 0 && hole(data, pos, (size_t)after);
    return *zeros ? -1 : after;
}

static int read_log(raft_storage *s, char *err, size_t errlen)
{
    off_t st_size;
    if (s->fs->size(s->fs, s->log_fd, &st_size) < 0) {
        snprintf(err, errlen, "cannot stat %s/log: %s", s->dir, strerror(errno));
        return -1;
    }
    size_t size = (size_t)st_size, pos = 0;
    unsigned char *data = read_whole(s->fs, s->log_fd, size);
    if (!data) {
        snprintf(err, errlen, "cannot read %s/log: %s", s->dir, strerror(errno));
        return -1;
    }
    ensure_offsets(s, 0);
    s->offsets[0] = 0;
    size_t n;
    /* a compacted log starts after the snapshot's compaction point */
    if ((n = valid_record(data, size, 0)) > 0)
        s->base = cn_get64(data + RECORD_HEADER) - 1;
    if (s->base > s->snap_index) {
        snprintf(err, errlen, "%s/log starts at entry %llu but %s: a gap in the log; refusing "
                 "to start", s->dir, (unsigned long long)s->base + 1,
                 s->snap_index ? "the snapshot ends before it" : "there is no snapshot");
        free(data);
        return -1;
    }
    raft_log_reset(&s->recovered, s->snap_index, s->snap_term);
    while ((n = valid_record(data, size, pos)) > 0) {
        const unsigned char *p = data + pos + RECORD_HEADER;
        if (cn_get64(p) != s->base + s->count + 1) {
            snprintf(err, errlen, "%s/log: entry at offset %zu has index %llu, expected %llu "
                     "(a gap in the log); refusing to start (raft_kv repair --data-dir %s)",
                     s->dir, pos, (unsigned long long)cn_get64(p),
                     (unsigned long long)(s->base + s->count + 1), s->dir);
            free(data);
            return -1;
        }
        cn_term cmd = { (const char *)p + RECORD_FIXED, n - RECORD_HEADER - RECORD_FIXED };
        uint64_t idx = cn_get64(p), term = cn_get64(p + 8);
        if (idx == s->snap_index && term != s->snap_term)
            s->diverged = 1;        /* see drop_diverged */
        if ((idx > s->snap_index && raft_log_append(&s->recovered, term, &cmd) < 0) ||
            ensure_offsets(s, s->count + 1) < 0) {
            free(data);
            snprintf(err, errlen, "out of memory reading %s/log", s->dir);
            return -1;
        }
        pos += n;
        s->count++;
        s->offsets[s->count] = pos;
    }
    int zeros = 0;
    long after = pos < size ? damage_before(data, size, pos, &zeros) : -1;
    if (zeros)
        fprintf(stderr, "raft_kv: %s/log has zeros from offset %zu up to valid records "
                "(unsynced writes that reached the disk out of order): a torn tail\n",
                s->dir, pos);
    free(data);
    if (after >= 0) {
        snprintf(err, errlen, "%s/log is damaged at offset %zu (after entry %zu) and valid "
                 "records follow at offset %ld: not a torn write; refusing to start "
                 "(raft_kv repair --data-dir %s shows what cutting would lose)",
                 s->dir, pos, s->count, after, s->dir);
        return -1;
    }
    if (pos < size) {
        /* the last write, cut short by a crash: it was never acknowledged */
        fprintf(stderr, "raft_kv: cutting a torn tail of %zu bytes off %s/log at offset %zu\n",
                size - pos, s->dir, pos);
        if (s->fs->ftruncate(s->fs, s->log_fd, (off_t)pos) < 0 ||
            s->fs->fdatasync(s->fs, s->log_fd) < 0) {
            snprintf(err, errlen, "cannot truncate %s/log: %s", s->dir, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* A snapshot installed over a log that disagreed with it (its entry at the
 * snapshot's index has another term) drops that log; a crash between the
 * snapshot's write and the log's leaves the old one, whose entries after
 * the snapshot follow a prefix the cluster never committed.  Finish the
 * drop: empty the log (it restarts after the snapshot).  Cutting only the
 * entries after the snapshot's index would keep the disagreeing entry at
 * it, so every later open would find the log diverged again and cut the
 * entries appended after the snapshot since: acknowledged ones. */
static int drop_diverged(raft_storage *s, char *err, size_t errlen)
{
    if (!s->diverged)
        return 0;
    size_t after = (size_t)(s->base + s->count - s->snap_index);
    fprintf(stderr, "raft_kv: %s/log disagrees with the snapshot at entry %llu (a crash while "
            "installing it): emptying it (%zu entries after the snapshot cut)\n", s->dir,
            (unsigned long long)s->snap_index, after);
    if (s->fs->ftruncate(s->fs, s->log_fd, 0) < 0 || s->fs->fdatasync(s->fs, s->log_fd) < 0) {
        snprintf(err, errlen, "cannot truncate %s/log: %s", s->dir, strerror(errno));
        return -1;
    }
    s->count = 0;
    s->offsets[0] = 0;
    s->base = s->snap_index;
    s->diverged = 0;
    raft_log_truncate(&s->recovered, s->snap_index);
    return 0;
}

/* A log that ends before the snapshot (a crash after the snapshot of a
 * drop, or of a compaction past the log's end, was written and before the
 * log was rewritten; or an emptied log, whose base a file with no records
 * does not keep) holds only entries the snapshot covers, and the next
 * write is the entry after the snapshot: appended after the old entries
 * it would leave a gap that refuses the next open (and do_batch refuses it
 * at once).  Empty it: the log restarts after the snapshot, as the drop
 * would have left it. */
static int restart_after_snap(raft_storage *s, char *err, size_t errlen)
{
    if (s->base + s->count >= s->snap_index)
        return 0;
    if (s->count) {
        fprintf(stderr, "raft_kv: %s/log ends at entry %llu, before the snapshot's %llu (a "
                "crash while replacing it): emptying it\n", s->dir,
                (unsigned long long)(s->base + s->count), (unsigned long long)s->snap_index);
        if (s->fs->ftruncate(s->fs, s->log_fd, 0) < 0 ||
            s->fs->fdatasync(s->fs, s->log_fd) < 0) {
            snprintf(err, errlen, "cannot truncate %s/log: %s", s->dir, strerror(errno));
            return -1;
        }
    }
    s->count = 0;
    s->offsets[0] = 0;
    s->base = s->snap_index;
    return 0;
}

/* raft_kv repair: see raft_storage.h. */
int raft_storage_repair(const char *dir, int truncate, FILE *out)
{
    return raft_storage_repair_fs(raft_fs_posix(), dir, truncate, out);
}

int raft_storage_repair_fs(raft_fs *fs, const char *dir, int truncate, FILE *out)
{
    char path[1100];
    off_t st_size;
    snprintf(path, sizeof path, "%s/log", dir);
    int fd = fs->open(fs, path, O_RDWR, 0);
    if (fd < 0 || fs->size(fs, fd, &st_size) < 0) {
        fprintf(out, "raft_kv repair: cannot open %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            fs->close(fs, fd);
        return -1;
    }
    size_t size = (size_t)st_size, pos = 0, n, entries = 0, lost = 0;
    unsigned char *data = read_whole(fs, fd, size);
    if (!data) {
        fprintf(out, "raft_kv repair: cannot read %s: %s\n", path, strerror(errno));
        fs->close(fs, fd);
        return -1;
    }
    uint64_t first = valid_record(data, size, 0) ? cn_get64(data + RECORD_HEADER) : 1;
    while ((n = valid_record(data, size, pos)) > 0 &&
           cn_get64(data + pos + RECORD_HEADER) == first + entries) {
        pos += n;
        entries++;
    }
    for (size_t q = pos + 1; pos < size && q + RECORD_HEADER <= size;)
        if ((n = valid_record(data, size, q)) > 0) {
            lost++;
            q += n;
        } else {
            q++;
        }
    int zeros = 0, unsynced = pos < size && damage_before(data, size, pos, &zeros) < 0;
    free(data);
    int rc = 0;
    if (pos == size) {
        fprintf(out, "%s: %zu entries, intact\n", path, entries);
    } else if (!truncate && unsynced) {
        fprintf(out, "%s: %zu entries intact, then %zu bytes of unsynced writes (a torn tail%s, "
                "%zu valid records after it): raft_kv cuts them itself when it starts\n",
                path, entries, size - pos, zeros ? ": zeros where a write was lost" : "",
                lost);
    } else if (!truncate) {
        fprintf(out, "%s: %zu entries intact, damaged at offset %zu; cutting there loses %zu "
                "bytes holding %zu valid records (entries that may have been committed).\n"
                "Run again with --truncate to cut; the node then has only the first %zu "
                "entries and must not be trusted with a vote for them.\n",
                path, entries, pos, size - pos, lost, entries);
        rc = 1;
    } else if (fs->ftruncate(fs, fd, (off_t)pos) < 0 || fs->fdatasync(fs, fd) < 0) {
        fprintf(out, "raft_kv repair: cannot truncate %s: %s\n", path, strerror(errno));
        rc = -1;
    } else {
        fprintf(out, "%s: cut at offset %zu (%zu bytes, %zu valid records lost); %zu entries "
                "kept\n", path, pos, size - pos, lost, entries);
    }
    fs->close(fs, fd);
    return rc;
}

/* A batch syncs the log before it replaces meta, so a crash between the
 * two leaves log entries of a term meta has not reached yet.  Nothing that
 * depended on that batch left the node, so the node resumes in the log's
 * term with no vote (it never told anyone of a vote there). */
static void reconcile_meta_log(raft_storage *s)
{
    uint64_t last = s->recovered.n ? s->recovered.v[s->recovered.n - 1].term : 0;
    if (last > s->term) {
        fprintf(stderr, "raft_kv: %s/meta is at term %llu, the log at %llu (a crash between "
                "their writes): resuming in term %llu with no vote\n", s->dir,
                (unsigned long long)s->term, (unsigned long long)last, (unsigned long long)last);
        s->term = last;
        s->vote = 0;
    }
}

/* DIR/id names the node the directory belongs to: "raft_kv node N", then
 * "rejoining" while the node, restarted empty after losing its log, may
 * not vote (raft_storage_rejoining).  Written durably before the node
 * talks to anyone. */
static int check_id(raft_storage *s, int id, char *err, size_t errlen)
{
    char path[1100], buf[64], word[16] = "";
    snprintf(path, sizeof path, "%s/id", s->dir);
    s->id = id;
    int fd = s->fs->open(s->fs, path, O_RDONLY, 0);
    if (fd >= 0) {
        ssize_t n = s->fs->pread(s->fs, fd, buf, sizeof buf - 1, 0);
        s->fs->close(s->fs, fd);
        int have = 0, k = 0;
        buf[n > 0 ? n : 0] = '\0';
        if (sscanf(buf, "raft_kv node %d%n", &have, &k) != 1 ||
            (sscanf(buf + k, "%15s", word) == 1 && strcmp(word, "rejoining") != 0)) {
            snprintf(err, errlen, "%s is not a raft_kv id file; refusing to start", path);
            return -1;
        }
        if (have != id) {
            snprintf(err, errlen, "%s belongs to node %d, not node %d; refusing to start",
                     s->dir, have, id);
            return -1;
        }
        s->rejoining = word[0] != '\0';
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (s->recovered.n || s->term || s->snap_index) {
        snprintf(err, errlen, "%s has a log but no id file: not a raft_kv data directory "
                 "of this version; refusing to start", s->dir);
        return -1;
    }
    if (write_id(s, 0) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    s->fresh = 1;
    return 0;
}

/* mkdir -p, each new directory made durable in its parent. */
static int make_dirs(raft_fs *fs, const char *dir, char *err, size_t errlen)
{
    char path[1024], parent[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (fs->mkdir(fs, path, 0755) == 0) {
            snprintf(parent, sizeof parent, "%s", path);
            char *slash = strrchr(parent, '/');
            if (slash == parent)
                slash[1] = '\0';
            else if (slash)
                *slash = '\0';
            else
                snprintf(parent, sizeof parent, ".");
            int fd = fs->open(fs, parent, O_RDONLY | O_DIRECTORY, 0);
            if (fd < 0 || fs->fsync(fs, fd) < 0) {
                snprintf(err, errlen, "cannot sync %s: %s", parent, strerror(errno));
                if (fd >= 0)
                    fs->close(fs, fd);
                return -1;
            }
            fs->close(fs, fd);
        } else if (errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        *p = c;
        if (!c)
            return 0;
    }
}

raft_storage *raft_storage_open(uv_loop_t *loop, const char *dir, int id,
                                raft_storage_done done, void *ud, char *err, size_t errlen)
{
    return raft_storage_open_fs(loop, raft_fs_posix(), dir, id, done, ud, err, errlen);
}

raft_storage *raft_storage_open_fs(uv_loop_t *loop, raft_fs *fs, const char *dir, int id,
                                   raft_storage_done done, void *ud, char *err, size_t errlen)
{
    raft_storage *s = calloc(1, sizeof *s);
    char path[1100];
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->fs = fs;
    s->done = done;
    s->ud = ud;
    s->log_fd = s->dir_fd = -1;
    raft_log_init(&s->recovered);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (strlen(dir) >= sizeof s->dir) {
        snprintf(err, errlen, "data directory path too long");
        goto fail;
    }
    if (make_dirs(fs, dir, err, errlen) < 0)
        goto fail;
    s->dir_fd = fs->open(fs, dir, O_RDONLY | O_DIRECTORY, 0);
    snprintf(path, sizeof path, "%s/log", dir);
    s->log_fd = fs->open(fs, path, O_RDWR | O_CREAT, 0644);
    if (s->dir_fd < 0 || s->log_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fs->fsync(fs, s->dir_fd) < 0 || read_meta(s, err, errlen) < 0 ||
        read_snap(s, err, errlen) < 0 || read_log(s, err, errlen) < 0 ||
        drop_diverged(s, err, errlen) < 0 || restart_after_snap(s, err, errlen) < 0 ||
        check_id(s, id, err, errlen) < 0)
        goto fail;
    reconcile_meta_log(s);
    return s;
fail:
    if (s->log_fd >= 0)
        fs->close(fs, s->log_fd);
    if (s->dir_fd >= 0)
        fs->close(fs, s->dir_fd);
    raft_log_free(&s->recovered);
    cn_buf_free(&s->snap);
    free(s->offsets);
    free(s);
    return NULL;
}

void raft_storage_recovered(raft_storage *s, uint64_t *term, int *vote,
                            const raft_entry **entries, size_t *n)
{
    *term = s->term;
    *vote = s->vote;
    *entries = s->recovered.v;
    *n = s->recovered.n;
}

void raft_storage_recovered_snapshot(raft_storage *s, const char **data, size_t *len)
{
    *data = s->snap.len ? s->snap.data : NULL;
    *len = s->snap.len;
}

void raft_storage_forget_recovered(raft_storage *s)
{
    raft_log_free(&s->recovered);
    cn_buf_free(&s->snap);
    cn_buf_init(&s->snap);
}

void raft_storage_stats(const raft_storage *s, uint64_t *fsyncs, uint64_t *entries)
{
    *fsyncs = s->fsyncs;
    *entries = s->entries_written;
}

/* ---- writing (thread pool) ---------------------------------------------- */

static void batch_free(batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nops; i++) {
        cn_buf_free(&b->ops[i].records);
        raft_snapshot_buf_release(b->ops[i].snapshot);
    }
    free(b->ops);
    free(b);
}

static int write_all(raft_fs *fs, int fd, const char *p, size_t n, off_t at)
{
    while (n) {
        ssize_t w = fs->pwrite(fs, fd, p, n, at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        at += w;
    }
    return 0;
}

/* DIR/name replaced atomically: written to name.tmp, synced, renamed over
 * name, the directory synced.  Safe from the loop and the pool at once
 * (each name has one writer). */
static int replace_file(raft_storage *s, const char *name, const void *data, size_t len)
{
    char path[1100], tmp[1100];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", s->dir, name);
    int fd = s->fs->open(s->fs, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int r = write_all(s->fs, fd, data, len, 0) < 0 || s->fs->fsync(s->fs, fd) < 0 ? -1 : 0;
    s->fs->close(s->fs, fd);
    if (r < 0 || s->fs->rename(s->fs, tmp, path) < 0 || s->fs->fsync(s->fs, s->dir_fd) < 0)
        return -1;
    return 0;
}

static int write_id(raft_storage *s, int rejoining)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "raft_kv node %d\n%s", s->id,
                     rejoining ? "rejoining\n" : "");
    if (replace_file(s, "id", buf, (size_t)n) < 0)
        return -1;
    s->rejoining = rejoining;
    return 0;
}

int raft_storage_rejoining(raft_storage *s, int existing, char *err, size_t errlen)
{
    if (existing && s->fresh && !s->rejoining && write_id(s, 1) < 0) {
        snprintf(err, errlen, "cannot write %s/id: %s", s->dir, strerror(errno));
        return -1;
    }
    return s->rejoining;
}

int raft_storage_rejoined(raft_storage *s)
{
    return s->rejoining ? write_id(s, 0) : 0;
}

static int write_meta(raft_storage *s, batch *b)
{
    unsigned char m[20];
    put32(m, META_MAGIC);
    put32(m + 4, (uint32_t)(b->term >> 32));
    put32(m + 8, (uint32_t)b->term);
    put32(m + 12, (uint32_t)b->vote);
    put32(m + 16, (uint32_t)crc32(0, m, 16));
    return replace_file(s, "meta", m, sizeof m);
}

/* ---- the peer set (set_peers), kept across restarts ---------------------- */

int raft_storage_save_peers(raft_storage *s, const char *ext, size_t len)
{
    return replace_file(s, "peers", ext, len);
}

int raft_storage_load_peers(const raft_storage *s, cn_buf *out)
{
    char path[1100], chunk[4096];
    snprintf(path, sizeof path, "%s/peers", s->dir);
    int fd = s->fs->open(s->fs, path, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    ssize_t n;
    off_t at = 0;
    while ((n = s->fs->pread(s->fs, fd, chunk, sizeof chunk, at)) > 0) {
        cn_buf_append(out, chunk, (size_t)n);
        at += n;
    }
    s->fs->close(s->fs, fd);
    return n < 0 || cn_buf_failed(out) ? -1 : 1;
}

/* The log file from entry keep+1 on (none if drop), written to log.tmp,
 * synced and renamed over the log. */
static int rewrite_log(raft_storage *s, uint64_t keep, int drop)
{
    char path[1100], tmp[1100];
    snprintf(path, sizeof path, "%s/log", s->dir);
    snprintf(tmp, sizeof tmp, "%s/log.tmp", s->dir);
    size_t from = drop ? s->count : (size_t)(keep - s->base);
    uint64_t start = s->offsets[from], end = s->offsets[s->count];
    raft_fs *fs = s->fs;
    int fd = fs->open(fs, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    char *chunk = malloc(1u << 20);
    for (uint64_t at = start; chunk && at < end;) {
        size_t want = end - at < (1u << 20) ? (size_t)(end - at) : (1u << 20);
        ssize_t r = fs->pread(fs, s->log_fd, chunk, want, (off_t)at);
        if (r <= 0 || write_all(fs, fd, chunk, (size_t)r, (off_t)(at - start)) < 0) {
            free(chunk);
            chunk = NULL;
            break;
        }
        at += (uint64_t)r;
    }
    if (!chunk || fs->fsync(fs, fd) < 0 || fs->rename(fs, tmp, path) < 0 ||
        fs->fsync(fs, s->dir_fd) < 0) {
        free(chunk);
        fs->close(fs, fd);
        return -1;
    }
    free(chunk);
    fs->close(fs, s->log_fd);
    s->log_fd = fd;
    for (size_t i = from; i <= s->count; i++)
        s->offsets[i - from] = s->offsets[i] - start;
    s->count -= from;
    s->base += from;
    s->fsyncs += 2;
    return 0;
}

/* A snapshot: DIR/snap replaced, then the log compacted (thread pool). */
static int write_snapshot(raft_storage *s, op *o)
{
    if (replace_file(s, "snap", o->snapshot->bytes.data, o->snapshot->bytes.len) < 0)
        return -1;
    s->fsyncs += 2;
    if (o->drop) {
        if (rewrite_log(s, 0, 1) < 0)
            return -1;
        s->base = o->index;         /* the log restarts after the snapshot */
        return 0;
    }
    if (o->compact <= s->base)
        return 0;
    if (o->compact > s->base + s->count)
        o->compact = s->base + s->count;
    return rewrite_log(s, o->compact, 0);
}

static void do_batch(uv_work_t *w)
{
    raft_storage *s = w->data;
    batch *b = s->writing;
    int wrote = 0;
    for (size_t i = 0; i < b->nops; i++) {
        op *o = &b->ops[i];
        if (o->snapshot) {
            if ((wrote && s->fs->fdatasync(s->fs, s->log_fd) < 0) || write_snapshot(s, o) < 0)
                goto io_error;
            s->fsyncs += wrote;
            wrote = 0;              /* the log file was synced whole or replaced */
            continue;
        }
        if (o->truncate && o->keep < s->base + s->count) {
            if (o->keep < s->base) {
                snprintf(b->error, sizeof b->error, "log cut at %llu before its first entry "
                         "%llu", (unsigned long long)o->keep, (unsigned long long)s->base + 1);
                b->failed = 1;
                return;
            }
            /* synced before anything is written after it: unsynced writes
             * reach the disk in any order, and the entries written over
             * the cut kept with the cut lost would splice them onto the
             * old entries after them (a log never written, its terms
             * going back); synced, every unsynced write lies past the
             * synced end, where a lost one leaves zeros (hole) */
            if (s->fs->ftruncate(s->fs, s->log_fd, (off_t)s->offsets[o->keep - s->base]) < 0 ||
                s->fs->fdatasync(s->fs, s->log_fd) < 0)
                goto io_error;
            s->count = (size_t)(o->keep - s->base);
            s->fsyncs++;
            wrote = 0;              /* the log file is synced whole */
        }
        if (!o->n)
            continue;
        wrote = 1;
        if (o->first != s->base + s->count + 1) {
            snprintf(b->error, sizeof b->error, "log write at index %llu after entry %llu",
                     (unsigned long long)o->first, (unsigned long long)(s->base + s->count));
            b->failed = 1;
            return;
        }
        if (ensure_offsets(s, s->count + o->n) < 0)
            goto io_error;
        if (write_all(s->fs, s->log_fd, o->records.data, o->records.len,
                      (off_t)s->offsets[s->count]) < 0)
            goto io_error;
        size_t pos = 0;
        for (size_t k = 0; k < o->n; k++) {
            uint32_t len = cn_get32((const unsigned char *)o->records.data + pos);
            pos += RECORD_HEADER + len;
            s->offsets[s->count + 1] = s->offsets[s->count] + RECORD_HEADER + len;
            s->count++;
        }
        s->entries_written += o->n;
    }
    /* one sync of the log; meta (two more) only when term or vote moved */
    if (wrote) {
        if (s->fs->fdatasync(s->fs, s->log_fd) < 0)
            goto io_error;
        s->fsyncs++;
    }
    if (b->has_meta) {
        if (write_meta(s, b) < 0)
            goto io_error;
        s->fsyncs += 2;             /* the new file and its directory */
    }
    return;
io_error:
    snprintf(b->error, sizeof b->error, "%s", strerror(errno));
    b->failed = 1;
}

static void submit(raft_storage *s);

static void batch_done(uv_work_t *w, int status)
{
    raft_storage *s = w->data;
    batch *b = s->writing;
    s->writing = NULL;
    if (status < 0 || b->failed) {
        /* the durability promise cannot be kept: stop rather than lie */
        fprintf(stderr, "raft_kv: FATAL: writing %s failed: %s\n", s->dir,
                b->failed ? b->error : uv_strerror(status));
        abort();
    }
    uint64_t seq = b->seq;
    batch_free(b);
    if (s->done)
        s->done(s->ud, seq);
    submit(s);
}

static void submit(raft_storage *s)
{
    if (s->writing)
        return;
    if (!s->pending) {
        if (s->closing) {
            s->fs->close(s->fs, s->log_fd);
            s->fs->close(s->fs, s->dir_fd);
            free(s->offsets);
            raft_log_free(&s->recovered);
            cn_buf_free(&s->snap);
            void (*closed)(void *) = s->closed;
            void *ud = s->closed_ud;
            free(s);
            if (closed)
                closed(ud);
        }
        return;
    }
    s->writing = s->pending;
    s->pending = NULL;
    s->work.data = s;
    if (uv_queue_work(s->loop, &s->work, do_batch, batch_done) < 0) {
        fprintf(stderr, "raft_kv: FATAL: cannot queue a log write\n");
        abort();
    }
}

/* A new op at the end of the pending batch. */
static op *new_op(raft_storage *s)
{
    batch *b = s->pending;
    if (!b && !(b = s->pending = calloc(1, sizeof *b)))
        abort();
    if (b->nops == b->capops) {
        size_t cap = b->capops ? b->capops * 2 : 4;
        op *v = realloc(b->ops, cap * sizeof *v);
        if (!v)
            abort();
        b->ops = v;
        b->capops = cap;
    }
    op *o = &b->ops[b->nops++];
    memset(o, 0, sizeof *o);
    return o;
}

void raft_storage_snapshot(raft_storage *s, uint64_t seq, uint64_t index,
                           raft_snapshot_buf *snap, uint64_t compact, int drop)
{
    op *o = new_op(s);
    o->snapshot = raft_snapshot_buf_hold(snap);     /* released in batch_done */
    o->index = index;
    o->compact = compact;
    o->drop = drop;
    s->pending->seq = seq;
    s->pending->term = s->term;
    s->pending->vote = s->vote;
    submit(s);
}

void raft_storage_persist(raft_storage *s, uint64_t seq, int truncate, uint64_t keep,
                          uint64_t first, const raft_entry *entries, size_t n,
                          uint64_t term, int vote)
{
    op *o = new_op(s);
    batch *b = s->pending;
    o->truncate = truncate;
    o->keep = keep;
    o->first = first;
    o->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = RECORD_FIXED + entries[i].cmd.len;
        unsigned char *h = (unsigned char *)cn_buf_grow(&o->records, RECORD_HEADER + len);
        if (!h)
            abort();
        unsigned char *p = h + RECORD_HEADER;
        put32(p, (uint32_t)((first + i) >> 32));
        put32(p + 4, (uint32_t)(first + i));
        put32(p + 8, (uint32_t)(entries[i].term >> 32));
        put32(p + 12, (uint32_t)entries[i].term);
        memcpy(p + RECORD_FIXED, entries[i].cmd.data, entries[i].cmd.len);
        put32(h, (uint32_t)len);
        put32(h + 4, (uint32_t)crc32(0, p, (uInt)len));
    }
    if (term != s->term || vote != s->vote) {
        b->has_meta = 1;
        s->term = term;
        s->vote = vote;
    }
    b->term = s->term;
    b->vote = s->vote;
    b->seq = seq;
    submit(s);
}

void raft_storage_set_done(raft_storage *s, raft_storage_done done, void *ud)
{
    s->done = done;
    s->ud = ud;
}

void raft_storage_close(raft_storage *s, void (*closed)(void *ud), void *ud)
{
    s->closing = 1;
    s->closed = closed;
    s->closed_ud = ud;
    s->done = NULL;
    submit(s);
}
