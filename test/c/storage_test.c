/* storage_test.c - raft_storage on real files: what it writes comes back,
 * a torn final record is cut (and a hole of zeros before valid records:
 * unsynced writes that reached the disk out of order), and every other
 * kind of damage refuses to start with a message that names the file and
 * the offset (a bad record with valid ones after it, a gap in the
 * indexes, another node's directory); the "rejoining" mark of DIR/id
 * (--initial-cluster-state existing); raft_kv repair reports and, when
 * asked, cuts; parents are created; a meta behind the log resumes in the
 * log's term with no vote.  Damage is made by editing the files the
 * storage wrote, byte by byte. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../../c_src/raft/raft_storage.h"
#include "check.h"

static char root[256];
static uint64_t done_seq;

static void on_done(void *ud, uint64_t seq) { (void)ud; done_seq = seq; }

static void path_of(char *out, size_t n, const char *dir, const char *file)
{
    snprintf(out, n, "%s/%s/%s", root, dir, file);
}

/* The storage of dir (under root) as node id, on a loop of its own
 * (NULL with err), and its close. */
static raft_storage *open_at(uv_loop_t *loop, const char *dir, int id, char *err, size_t errlen)
{
    char d[512];
    snprintf(d, sizeof d, "%s/%s", root, dir);
    uv_loop_init(loop);
    err[0] = '\0';
    return raft_storage_open(loop, d, id, on_done, NULL, err, errlen);
}

static void close_at(raft_storage *s, uv_loop_t *loop)
{
    if (s) {
        raft_storage_close(s, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(loop);
}

/* Writes entries 1..count of term `term` into dir through the storage. */
static void write_entries(const char *dir, int id, int count, uint64_t term)
{
    char err[512];
    uv_loop_t loop;
    raft_storage *s = open_at(&loop, dir, id, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        close_at(s, &loop);
        return;
    }
    raft_entry *e = calloc((size_t)count, sizeof *e);
    for (int i = 0; i < count; i++)
        e[i] = (raft_entry){ term, { "\x77\x04noop", 6 } };
    done_seq = 0;
    raft_storage_persist(s, 1, 0, 0, 1, e, (size_t)count, term, id);
    while (done_seq < 1)
        uv_run(&loop, UV_RUN_ONCE);
    close_at(s, &loop);
    free(e);
}

/* Opens dir as node id: the number of entries recovered, or -1 with err. */
static long reopen(const char *dir, int id, char *err, size_t errlen, uint64_t *term, int *vote)
{
    uv_loop_t loop;
    raft_storage *s = open_at(&loop, dir, id, err, errlen);
    long n = -1;
    if (s) {
        const raft_entry *e;
        size_t k;
        uint64_t t;
        int v;
        raft_storage_recovered(s, &t, &v, &e, &k);
        if (term)
            *term = t;
        if (vote)
            *vote = v;
        n = (long)k;
    }
    close_at(s, &loop);
    return n;
}

static off_t file_size(const char *dir, const char *file)
{
    char p[600];
    struct stat st;
    path_of(p, sizeof p, dir, file);
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static void poke(const char *dir, const char *file, off_t at, const char *bytes, size_t n)
{
    char p[600];
    path_of(p, sizeof p, dir, file);
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, bytes, n, at) == (ssize_t)n);
    close(fd);
}

static void cut(const char *dir, const char *file, off_t size)
{
    char p[600];
    path_of(p, sizeof p, dir, file);
    CHECK(truncate(p, size) == 0);
}

/* Each record here: 8 header + 16 fixed + 6 command = 30 bytes. */
#define REC 30

static void test_round_trip(void)
{
    char err[512];
    write_entries("a/b/c", 1, 5, 3);        /* parents created */
    uint64_t term = 0;
    int vote = 0;
    CHECK(reopen("a/b/c", 1, err, sizeof err, &term, &vote) == 5);
    CHECK(term == 3 && vote == 1);
    CHECK(file_size("a/b/c", "log") == 5 * REC);
}

/* raft_kv repair on directory name (truncate or not): its return, what
 * it printed in text. */
static int repair(const char *name, int truncate, char *text, size_t len)
{
    char d[512];
    snprintf(d, sizeof d, "%s/%s", root, name);
    FILE *out = tmpfile();
    if (!out)
        return -2;
    int rc = raft_storage_repair(d, truncate, out);
    rewind(out);
    size_t k = fread(text, 1, len - 1, out);
    text[k] = '\0';
    fclose(out);
    return rc;
}

static void test_torn_tail_cut(void)
{
    char err[512];
    write_entries("torn", 1, 5, 2);
    cut("torn", "log", 4 * REC + 11);       /* the last write cut short */
    CHECK(reopen("torn", 1, err, sizeof err, NULL, NULL) == 4);
    CHECK(file_size("torn", "log") == 4 * REC);
    write_entries("zeros", 1, 5, 2);        /* a tail of zeros (size grew, data lost) */
    poke("zeros", "log", 4 * REC, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    CHECK(reopen("zeros", 1, err, sizeof err, NULL, NULL) == 4);
    write_entries("hole", 1, 5, 2);         /* zeros over entry 3, 4 and 5 after: writes */
    static const char zeros[REC];           /* that reached the disk out of order */
    poke("hole", "log", 2 * REC, zeros, REC);
    char text[1024];                        /* repair says the node cuts it itself */
    CHECK(repair("hole", 0, text, sizeof text) == 0);
    CHECK(strstr(text, "raft_kv cuts them itself") != NULL);
    CHECK(file_size("hole", "log") == 5 * REC);
    CHECK(reopen("hole", 1, err, sizeof err, NULL, NULL) == 2);
    CHECK(file_size("hole", "log") == 2 * REC);
}

static void test_middle_damage_refused(void)
{
    char err[512];
    write_entries("mid", 1, 5, 2);
    poke("mid", "log", 2 * REC + 20, "\xff", 1);   /* a bit flip in entry 3 */
    CHECK(reopen("mid", 1, err, sizeof err, NULL, NULL) == -1);
    CHECK(strstr(err, "mid/log is damaged at offset 60") != NULL);
    CHECK(strstr(err, "valid records follow at offset 90") != NULL);
    CHECK(file_size("mid", "log") == 5 * REC);      /* nothing was cut */
    fprintf(stderr, "storage_test: refused as expected: %s\n", err);
    /* raft_kv repair: reports, cuts only when asked, then the node starts */
    char text[1024];
    CHECK(repair("mid", 0, text, sizeof text) == 1);
    CHECK(strstr(text, "2 entries intact, damaged at offset 60; cutting there loses 90 bytes "
                       "holding 2 valid records") != NULL);
    CHECK(file_size("mid", "log") == 5 * REC);
    CHECK(repair("mid", 1, text, sizeof text) == 0);
    CHECK(file_size("mid", "log") == 2 * REC);
    CHECK(reopen("mid", 1, err, sizeof err, NULL, NULL) == 2);
}

static void test_gap_refused(void)
{
    char err[512];
    write_entries("gap", 1, 3, 2);
    /* entry 2 claims index 7; its CRC is made right, so only the gap is wrong */
    char p[600];
    path_of(p, sizeof p, "gap", "log");
    int fd = open(p, O_RDWR);
    unsigned char rec[REC];
    CHECK(pread(fd, rec, REC, REC) == REC);
    rec[8 + 7] = 7;
    uint32_t crc = (uint32_t)crc32(0, rec + 8, REC - 8);
    rec[4] = (unsigned char)(crc >> 24);
    rec[5] = (unsigned char)(crc >> 16);
    rec[6] = (unsigned char)(crc >> 8);
    rec[7] = (unsigned char)crc;
    CHECK(pwrite(fd, rec, REC, REC) == REC);
    close(fd);
    CHECK(reopen("gap", 1, err, sizeof err, NULL, NULL) == -1);
    CHECK(strstr(err, "gap/log: entry at offset 30 has index 7, expected 2") != NULL);
}

static void test_other_node_refused(void)
{
    char err[512];
    write_entries("n2", 2, 2, 1);
    CHECK(reopen("n2", 1, err, sizeof err, NULL, NULL) == -1);
    CHECK(strstr(err, "belongs to node 2, not node 1") != NULL);
    CHECK(reopen("n2", 2, err, sizeof err, NULL, NULL) == 2);
    char p[600];
    path_of(p, sizeof p, "n2", "id");
    unlink(p);                              /* a log without an id */
    CHECK(reopen("n2", 2, err, sizeof err, NULL, NULL) == -1);
    CHECK(strstr(err, "has a log but no id file") != NULL);
}

/* Opens dir as node id, asks whether it rejoins (existing: the flag), and
 * with done marks it caught up: what raft_storage_rejoining said. */
static int rejoin_state(const char *dir, int id, int existing, int done)
{
    char err[512];
    uv_loop_t loop;
    raft_storage *s = open_at(&loop, dir, id, err, sizeof err);
    int r = -2;
    if (s) {
        r = raft_storage_rejoining(s, existing, err, sizeof err);
        if (done)
            CHECK(raft_storage_rejoined(s) == 0);
    }
    close_at(s, &loop);
    return r;
}

/* --initial-cluster-state existing marks a directory it finds empty
 * "rejoining" in DIR/id, durably, until the node has caught up; one that
 * held a log is an ordinary restart; new never marks. */
static void test_rejoin_mark(void)
{
    char err[512], p[600];
    CHECK(rejoin_state("rj", 1, 1, 0) == 1);
    CHECK(rejoin_state("rj", 1, 0, 0) == 1);       /* still marked, whatever the flag */
    CHECK(rejoin_state("rj", 1, 1, 1) == 1);       /* caught up: the mark goes */
    CHECK(rejoin_state("rj", 1, 1, 0) == 0);       /* no longer empty: a plain restart */
    CHECK(rejoin_state("rj_new", 1, 0, 0) == 0);
    write_entries("rj_log", 1, 2, 1);
    CHECK(rejoin_state("rj_log", 1, 1, 0) == 0);
    path_of(p, sizeof p, "rj_log", "id");
    int fd = open(p, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "raft_kv node 1\nrejoin\n", 22) == 22);
    close(fd);
    CHECK(reopen("rj_log", 1, err, sizeof err, NULL, NULL) == -1);
    CHECK(strstr(err, "is not a raft_kv id file") != NULL);
}

static void test_meta_behind_log(void)
{
    char err[512];
    write_entries("meta", 1, 2, 4);
    write_entries("meta_old", 1, 1, 1);     /* a meta of term 1, vote 1 */
    char from[600], to[600];
    path_of(from, sizeof from, "meta_old", "meta");
    path_of(to, sizeof to, "meta", "meta");
    CHECK(rename(from, to) == 0);           /* as if the crash came before meta's write */
    uint64_t term = 0;
    int vote = -1;
    CHECK(reopen("meta", 1, err, sizeof err, &term, &vote) == 2);
    CHECK(term == 4 && vote == 0);
}

/* Syncs per batch: one of the log; meta (a file and its directory: two
 * more) only when term or vote changed.  Ten batches in one term: the
 * first writes meta, the other nine sync the log alone; then a vote. */
static void test_syncs_per_batch(void)
{
    char err[512];
    uv_loop_t loop;
    raft_storage *s = open_at(&loop, "syncs", 1, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        close_at(s, &loop);
        return;
    }
    uint64_t fsyncs0, fsyncs, entries;
    raft_storage_stats(s, &fsyncs0, &entries);
    raft_entry e = { 1, { "\x77\x04noop", 6 } };
    for (uint64_t i = 1; i <= 10; i++) {
        raft_storage_persist(s, i, 0, 0, i, &e, 1, 1, 0);
        while (done_seq < i)
            uv_run(&loop, UV_RUN_ONCE);
    }
    raft_storage_stats(s, &fsyncs, &entries);
    CHECK(entries == 10);
    CHECK(fsyncs - fsyncs0 == 10 + 2);
    raft_storage_persist(s, 11, 0, 0, 11, NULL, 0, 2, 3);    /* a vote, no entries */
    while (done_seq < 11)
        uv_run(&loop, UV_RUN_ONCE);
    raft_storage_stats(s, &fsyncs, &entries);
    CHECK(fsyncs - fsyncs0 == 10 + 2 + 2);
    close_at(s, &loop);
    uint64_t term;
    int vote;
    CHECK(reopen("syncs", 1, err, sizeof err, &term, &vote) == 10);
    CHECK(term == 2 && vote == 3);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/storage_test_%d", (int)getpid());
    CHECK(mkdir(root, 0755) == 0);
    test_round_trip();
    test_torn_tail_cut();
    test_middle_damage_refused();
    test_gap_refused();
    test_other_node_refused();
    test_rejoin_mark();
    test_meta_behind_log();
    test_syncs_per_batch();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
    return CHECK_DONE("storage");
}
