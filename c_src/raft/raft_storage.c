/* raft_storage.c - durable Raft state (see raft_storage.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

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
    char       dir[1024];
    int        log_fd, dir_fd;
    uint64_t  *offsets;                   /* start of entry i+1; [count] = end */
    size_t     count, cap;
    raft_storage_done done;
    void      *ud;
    batch     *pending, *writing;
    uv_work_t  work;
    uint64_t   fsyncs, entries_written;
    void     (*closed)(void *);
    void      *closed_ud;
    int        closing;
    /* recovered state */
    uint64_t   term;
    int        vote;
    raft_log   recovered;
};

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
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;               /* a fresh directory */
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != 20 || cn_get32(b) != META_MAGIC ||
        crc32(0, b, 16) != cn_get32(b + 16)) {
        snprintf(err, errlen, "%s is corrupt (refusing to start: the vote may be lost)", path);
        return -1;
    }
    s->term = cn_get64(b + 4);
    s->vote = (int)cn_get32(b + 12);
    return 0;
}

static int read_log(raft_storage *s, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(s->log_fd, &st) < 0) {
        snprintf(err, errlen, "stat log: %s", strerror(errno));
        return -1;
    }
    size_t size = (size_t)st.st_size, pos = 0;
    unsigned char *data = size ? malloc(size) : NULL;
    if (size && (!data || pread(s->log_fd, data, size, 0) != (ssize_t)size)) {
        free(data);
        snprintf(err, errlen, "cannot read the log");
        return -1;
    }
    ensure_offsets(s, 0);
    s->offsets[0] = 0;
    while (pos + RECORD_HEADER <= size) {
        uint32_t len = cn_get32(data + pos), crc = cn_get32(data + pos + 4);
        if (len < RECORD_FIXED || len > MAX_RECORD || pos + RECORD_HEADER + len > size)
            break;
        const unsigned char *p = data + pos + RECORD_HEADER;
        if (crc32(0, p, len) != crc || cn_get64(p) != s->count + 1)
            break;
        cn_term cmd = { (const char *)p + RECORD_FIXED, len - RECORD_FIXED };
        if (raft_log_append(&s->recovered, cn_get64(p + 8), &cmd) < 0 ||
            ensure_offsets(s, s->count + 1) < 0) {
            free(data);
            snprintf(err, errlen, "out of memory reading the log");
            return -1;
        }
        pos += RECORD_HEADER + len;
        s->count++;
        s->offsets[s->count] = pos;
    }
    free(data);
    if (pos < size) {
        /* a write the crash cut short: it was never acknowledged */
        fprintf(stderr, "raft_kv: cutting a torn tail of %zu bytes off %s/log\n", size - pos,
                s->dir);
        if (ftruncate(s->log_fd, (off_t)pos) < 0 || fdatasync(s->log_fd) < 0) {
            snprintf(err, errlen, "cannot truncate the log: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

raft_storage *raft_storage_open(uv_loop_t *loop, const char *dir, raft_storage_done done,
                                void *ud, char *err, size_t errlen)
{
    raft_storage *s = calloc(1, sizeof *s);
    char path[1100];
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->done = done;
    s->ud = ud;
    s->log_fd = s->dir_fd = -1;
    raft_log_init(&s->recovered);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "%s/log", dir);
    s->log_fd = open(path, O_RDWR | O_CREAT, 0644);
    if (s->dir_fd < 0 || s->log_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fsync(s->dir_fd) < 0 || read_meta(s, err, errlen) < 0 || read_log(s, err, errlen) < 0)
        goto fail;
    return s;
fail:
    if (s->log_fd >= 0)
        close(s->log_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    raft_log_free(&s->recovered);
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

void raft_storage_forget_recovered(raft_storage *s) { raft_log_free(&s->recovered); }

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
    for (size_t i = 0; i < b->nops; i++)
        cn_buf_free(&b->ops[i].records);
    free(b->ops);
    free(b);
}

static int write_all(int fd, const char *p, size_t n, off_t at)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, at);
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

static int write_meta(raft_storage *s, batch *b)
{
    char path[1100], tmp[1100];
    unsigned char m[20];
    put32(m, META_MAGIC);
    put32(m + 4, (uint32_t)(b->term >> 32));
    put32(m + 8, (uint32_t)b->term);
    put32(m + 12, (uint32_t)b->vote);
    put32(m + 16, (uint32_t)crc32(0, m, 16));
    snprintf(path, sizeof path, "%s/meta", s->dir);
    snprintf(tmp, sizeof tmp, "%s/meta.tmp", s->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int r = write_all(fd, (char *)m, sizeof m, 0) < 0 || fsync(fd) < 0 ? -1 : 0;
    close(fd);
    if (r < 0 || rename(tmp, path) < 0 || fsync(s->dir_fd) < 0)
        return -1;
    return 0;
}

static void do_batch(uv_work_t *w)
{
    raft_storage *s = w->data;
    batch *b = s->writing;
    for (size_t i = 0; i < b->nops; i++) {
        op *o = &b->ops[i];
        if (o->truncate && o->keep < s->count) {
            if (ftruncate(s->log_fd, (off_t)s->offsets[o->keep]) < 0)
                goto io_error;
            s->count = (size_t)o->keep;
        }
        if (!o->n)
            continue;
        if (o->first != s->count + 1) {
            snprintf(b->error, sizeof b->error, "log write at index %llu after %zu entries",
                     (unsigned long long)o->first, s->count);
            b->failed = 1;
            return;
        }
        if (ensure_offsets(s, s->count + o->n) < 0)
            goto io_error;
        if (write_all(s->log_fd, o->records.data, o->records.len,
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
    if (fdatasync(s->log_fd) < 0)
        goto io_error;
    s->fsyncs++;
    if (b->has_meta && write_meta(s, b) < 0)
        goto io_error;
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
            close(s->log_fd);
            close(s->dir_fd);
            free(s->offsets);
            raft_log_free(&s->recovered);
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

void raft_storage_persist(raft_storage *s, uint64_t seq, int truncate, uint64_t keep,
                          uint64_t first, const raft_entry *entries, size_t n,
                          uint64_t term, int vote)
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
    b->has_meta = 1;
    b->term = term;
    b->vote = vote;
    b->seq = seq;
    submit(s);
}

void raft_storage_close(raft_storage *s, void (*closed)(void *ud), void *ud)
{
    s->closing = 1;
    s->closed = closed;
    s->closed_ud = ud;
    s->done = NULL;
    submit(s);
}
