/* storage_crash_test.c - raft_storage over the fault-injecting file system
 * (fault_fs.c): a scripted workload (batches of appends, two of them
 * merged into one batch, a term and vote change, a truncation and
 * re-append, set_peers saves) is run once to count its changing file
 * operations, then again with a crash at every one of them, and after
 * each crash the data directory is recovered: once as the syncs left it;
 * once for every length the last unsynced write can be torn to (a tear in
 * order: a batch's earlier writes whole, its last one cut); and once for
 * every subset of the unsynced changes (writes and truncations, of every
 * file) reaching the disk out of order (fault_fs.h: a later write kept
 * while an earlier one is lost, a truncation lost while a write after it
 * is kept).  Every write acknowledged (done(seq) delivered, save_peers
 * returned) before the crash must come back; recovery must succeed (a
 * torn tail, or a hole of zeros an unsynced write left before later
 * records, is cut, never refused); the log's terms must not go back (a
 * log spliced from two that were never one).
 *
 * Recovery writes too (it cuts a torn tail, empties a log behind or
 * diverging from the snapshot, creates the directories and the id file),
 * so for each of those crash states the machine dies again at every
 * changing operation of its recovery, and the state that leaves (unless
 * the same files as the crash before it left) is recovered with the same
 * checks, and must recover the same entries as the uninterrupted
 * recovery did.
 *
 * The workload goes on with snapshots: one at 8 compacting the log to
 * 6.. (a suffix after the snapshot kept), appends, one at 12 compacting
 * no more (the log not rewritten), a truncation after the compaction; then
 * two leaders' snapshots installed with drop, at 20 (past the log's end,
 * 14) and at 22 (where the log has another term: a crash before the log's
 * rewrite leaves a diverged log), each followed by appends; then a batch
 * of three merged appends (three writes unsynced at once).  After each
 * crash the snapshot recovered, if any, must be one handed to
 * raft_storage_snapshot and not older than the last one acknowledged;
 * every acknowledged entry is covered by it or recovered after it, the
 * same; the term is not behind the snapshot's or the log's.  The second
 * recovery also appends the entry after the last recovered one (as the
 * core would), and a third must find it.
 *
 * Then bit flips: every bit of a durable log (the one of entries 1..13,
 * and the one after the last snapshot) either makes open refuse naming
 * the file and offset, or, in the last record only, cuts that record;
 * every bit of meta refuses, and every bit of snap refuses naming it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../c_src/raft/raft_snapshot.h"
#include "../../c_src/raft/raft_storage.h"
#include "check.h"
#include "fault_fs.h"

#define DIR       "/data/n1"
#define MAX_SEQ   24
#define MAX_INDEX 32

/* ---- the workload and what each acknowledgement promises ---------------- */

typedef struct expected {
    raft_log log;                   /* the core's log once seq is written */
    uint64_t term;
    int      vote;
    uint64_t keep_later;            /* entries a later truncation may drop: 1.. this stay */
    int      snap;                  /* seq is a snapshot: */
    uint64_t snap_index;            /* ... its index, */
    cn_buf   snap_data;             /* ... the bytes handed to raft_storage_snapshot */
} expected;

static expected model[MAX_SEQ];     /* [seq] */
static int      nseq;
static int      with_snapshots;     /* the workload's second part (seqs 10..19) */
static char     commands[MAX_SEQ][MAX_INDEX][48];

typedef struct run {
    uv_loop_t      loop;
    raft_storage  *s;
    fault_fs      *fs;
    uint64_t       done_seq, acked_seq;
    int            acked_peers;     /* the last set_peers version saved before the crash */
} run;

static void on_done(void *ud, uint64_t seq)
{
    run *r = ud;
    r->done_seq = seq;
    if (!fault_fs_dead(r->fs))
        r->acked_seq = seq;
}

/* model[seq].log := model[seq - 1].log (a snapshot's base kept). */
static raft_log *copy_log(int seq)
{
    const raft_log *p = &model[seq - 1].log;
    raft_log *l = &model[seq].log;
    raft_log_free(l);
    raft_log_init(l);
    raft_log_reset(l, p->base, p->base_term);
    for (uint64_t i = p->base + 1; i <= raft_log_last(p); i++) {
        const raft_entry *e = raft_log_get(p, i);
        raft_log_append(l, e->term, &e->cmd);
    }
    model[seq].snap = 0;
    return l;
}

/* Queues seq: keep (truncate if keep < last), entries first..first+n-1 of
 * term t, then term and vote.  The model follows along. */
static void persist(run *r, int truncate, uint64_t keep, uint64_t first, size_t n,
                    uint64_t t, uint64_t term, int vote)
{
    int seq = ++nseq;
    raft_log *l = copy_log(seq);
    if (truncate)
        raft_log_truncate(l, keep);
    raft_entry e[8];
    for (size_t i = 0; i < n; i++) {
        char *c = commands[seq][first + i];
        snprintf(c, sizeof commands[0][0], "cmd %llu of term %llu, seq %d%.*s",
                 (unsigned long long)(first + i), (unsigned long long)t, seq,
                 (int)((first + i) * 3 % 11), "..........."); /* lengths vary */
        e[i] = (raft_entry){ t, { c, strlen(c) } };
        raft_log_append(l, t, &e[i].cmd);
    }
    model[seq].term = term;
    model[seq].vote = vote;
    model[seq].keep_later = UINT64_MAX;
    for (int s = 0; s < seq && truncate; s++)
        if (model[s].keep_later > keep)
            model[s].keep_later = keep;
    if (r->s)
        raft_storage_persist(r->s, (uint64_t)seq, truncate, keep, first, e, n, term, vote);
}

/* Queues seq: a snapshot at index (of term, keys pairs in it), the log
 * compacted up to compact, or dropped (a follower installing a leader's
 * snapshot: the log restarts after index). */
static void snapshot(run *r, uint64_t index, uint64_t term, int keys, uint64_t compact,
                     int drop)
{
    int seq = ++nseq;
    raft_log *l = copy_log(seq);
    expected *x = &model[seq];
    x->term = model[seq - 1].term;
    x->vote = model[seq - 1].vote;
    x->keep_later = UINT64_MAX;
    x->snap = 1;
    x->snap_index = index;
    if (drop) {
        raft_log_free(l);
        raft_log_init(l);
        raft_log_reset(l, index, term);
        for (int s = 0; s < seq; s++)   /* entries after index may go */
            if (model[s].keep_later > index)
                model[s].keep_later = index;
    }
    raft_kv *kv = raft_kv_new();
    for (int k = 0; k < keys; k++) {
        char key[16], val[48];
        int kl = snprintf(key, sizeof key, "key%02d", k);
        int vl = snprintf(val, sizeof val, "value %d of the snapshot at %llu", k,
                          (unsigned long long)index);
        raft_kv_insert(kv, key, (size_t)kl, val, (size_t)vl);
    }
    cn_buf_reset(&x->snap_data);
    raft_snapshot_encode(&x->snap_data, index, term, NULL, 0, kv);
    raft_kv_free(kv);
    if (r->s) {                     /* the storage holds it past our release */
        raft_snapshot_buf *b = raft_snapshot_buf_new();
        if (!b)
            abort();
        cn_buf_append(&b->bytes, x->snap_data.data, x->snap_data.len);
        raft_storage_snapshot(r->s, (uint64_t)seq, index, b, compact, drop);
        raft_snapshot_buf_release(b);
    }
}

static void wait_done(run *r)
{
    while (r->s && r->done_seq < (uint64_t)nseq)
        uv_run(&r->loop, UV_RUN_ONCE);
}

static void save_peers(run *r, int version)
{
    char ext[32];
    int n = snprintf(ext, sizeof ext, "peers version %d", version);
    if (r->s && raft_storage_save_peers(r->s, ext, (size_t)n) == 0 && !fault_fs_dead(r->fs))
        r->acked_peers = version;
}

/* Silences the storage's notes on stderr (torn tails cut: thousands). */
static void quiet(int on)
{
    static int saved = -1;
    fflush(stderr);
    if (on) {
        int null = open("/dev/null", O_WRONLY);
        saved = dup(2);
        dup2(null, 2);
        close(null);
    } else {
        dup2(saved, 2);
        close(saved);
    }
}

/* The workload on fs, dying at changing operation crash_at (-1: never). */
static void workload(run *r, fault_fs *fs, long crash_at)
{
    char err[512] = "";
    memset(r, 0, sizeof *r);
    r->fs = fs;
    fault_fs_crash_at(fs, crash_at);
    uv_loop_init(&r->loop);
    quiet(1);
    r->s = raft_storage_open_fs(&r->loop, fault_fs_raft(fs), DIR, 1, on_done, r, err, sizeof err);
    quiet(0);
    if (!r->s && !fault_fs_dead(fs))
        fprintf(stderr, "storage_crash_test: open failed: %s\n", err);
    CHECK(r->s || fault_fs_dead(fs));
    nseq = 0;
    persist(r, 0, 0, 1, 3, 1, 1, 1);            /* seq 1: a term, a vote, entries */
    wait_done(r);
    persist(r, 0, 0, 4, 2, 1, 1, 1);            /* seq 2: a batch of its own */
    persist(r, 0, 0, 6, 1, 1, 1, 1);            /* seqs 3, 4: merged into the next */
    persist(r, 0, 0, 7, 2, 1, 1, 1);
    wait_done(r);
    persist(r, 0, 0, 9, 0, 0, 2, 2);            /* seq 5: a new term and vote alone */
    wait_done(r);
    persist(r, 1, 5, 6, 2, 2, 2, 2);            /* seq 6: truncate to 5, re-append */
    wait_done(r);
    save_peers(r, 1);
    persist(r, 0, 0, 8, 3, 3, 3, 0);            /* seqs 7, 8: a term with entries, */
    wait_done(r);
    persist(r, 0, 0, 11, 2, 3, 3, 0);           /* then appends and a truncation */
    persist(r, 1, 10, 11, 3, 3, 3, 3);          /* in one batch */
    wait_done(r);
    save_peers(r, 2);
    if (with_snapshots) {
        snapshot(r, 8, 3, 3, 5, 0);             /* seq 10: a snapshot at 8, the log */
        wait_done(r);                           /* compacted to 6..13 */
        persist(r, 0, 0, 14, 2, 3, 3, 3);       /* seq 11: appends after it */
        wait_done(r);
        snapshot(r, 12, 3, 2, 5, 0);            /* seq 12: one at 12 that compacts */
        wait_done(r);                           /* nothing more (the log stays) */
        persist(r, 1, 12, 13, 2, 4, 4, 1);      /* seq 13: a truncation after the */
        wait_done(r);                           /* compaction, a new term */
        persist(r, 0, 0, 15, 0, 0, 5, 0);       /* seqs 14, 15: term 5, then a leader's */
        snapshot(r, 20, 5, 5, 20, 1);           /* snapshot at 20, past the log's 14: */
        wait_done(r);                           /* dropped, it restarts after 20 */
        persist(r, 0, 0, 21, 3, 5, 5, 0);       /* seq 16: appends after it */
        wait_done(r);
        persist(r, 0, 0, 24, 0, 0, 6, 0);       /* seqs 17, 18: another leader's, at 22 */
        snapshot(r, 22, 6, 4, 22, 1);           /* of term 6 where the log has term 5 */
        wait_done(r);
        persist(r, 0, 0, 23, 4, 6, 6, 0);       /* seq 19: appends after it */
        wait_done(r);
        persist(r, 0, 0, 27, 1, 6, 6, 0);       /* seqs 20..23: one batch, then three */
        persist(r, 0, 0, 28, 1, 6, 6, 0);       /* merged into the next: three writes */
        persist(r, 0, 0, 29, 2, 6, 6, 0);       /* unsynced at once */
        persist(r, 0, 0, 31, 1, 6, 6, 0);
        wait_done(r);
    }
    if (r->s)
        raft_storage_close(r->s, NULL, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
}

/* ---- recovery and its checks -------------------------------------------- */

static int same_entry(const raft_entry *a, const raft_entry *b)
{
    return a->term == b->term && a->cmd.len == b->cmd.len &&
           memcmp(a->cmd.data, b->cmd.data, a->cmd.len) == 0;
}

/* Was entry idx e written at idx by some seq? */
static int ever_written(uint64_t idx, const raft_entry *e)
{
    for (int s = 1; s <= nseq; s++) {
        const raft_entry *m = raft_log_get(&model[s].log, idx);
        if (m && same_entry(m, e))
            return 1;
    }
    return 0;
}

/* The recovered state against what was acknowledged; 0 if it holds. */
static int check_recovered(const run *r, uint64_t term, int vote, const raft_entry *e,
                           size_t n, const cn_buf *peers, int has_peers, const char *snap,
                           size_t snaplen, uint64_t *snap_index)
{
    const expected *x = &model[r->acked_seq];
    uint64_t must = raft_log_last(&x->log), acked_snap = 0, at = 0;
    int bad = 0, found = 0;
    for (int s = 1; s <= (int)r->acked_seq; s++)
        if (model[s].snap && model[s].snap_index > acked_snap)
            acked_snap = model[s].snap_index;
    for (int s = 1; snap && s <= nseq && !found; s++)
        if (model[s].snap && model[s].snap_data.len == snaplen &&
            memcmp(model[s].snap_data.data, snap, snaplen) == 0) {
            found = 1;
            at = model[s].snap_index;
        }
    if (snap && !found)
        bad |= 16;                              /* a snapshot never written */
    if (at < acked_snap)
        bad |= 32;                              /* an acknowledged snapshot lost */
    *snap_index = at;
    /* the entries follow the snapshot: e[i] is entry at + 1 + i; the
     * acknowledged ones after the snapshot must all be there */
    if (must > x->keep_later)
        must = x->keep_later;
    if (must > at && n < must - at)
        bad |= 1;                               /* acknowledged entries lost */
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = at + 1 + i;
        const raft_entry *m = raft_log_get(&x->log, idx);
        if ((idx <= must && (!m || !same_entry(&e[i], m))) || !ever_written(idx, &e[i]))
            bad |= 2;                           /* changed, or never written */
    }
    if (term < x->term || (term == x->term && vote != x->vote))
        bad |= 4;                               /* term or vote went back */
    char want[32];
    int wn = snprintf(want, sizeof want, "peers version %d", r->acked_peers);
    if (r->acked_peers && (!has_peers || peers->len < (size_t)wn ||
                           memcmp(peers->data, want, (size_t)wn - 1) != 0 ||
                           peers->data[wn - 1] < want[wn - 1]))
        bad |= 8;                               /* set_peers lost */
    return bad;
}

static void on_append(void *ud, uint64_t seq)
{
    *(uint64_t *)ud = seq;
}

/* Opens fs as after a reboot: -1 if refused (err says why), else the
 * number of entries, and with r the check of what came back.  With
 * append, the storage then takes the entry after the last one recovered
 * (a snapshot's index counts), as the core would. */
static long reopen(fault_fs *fs, const run *r, char *err, size_t errlen, int *bad,
                   raft_log *out, int append)
{
    int ignored = 0;
    if (!bad)
        bad = &ignored;
    static uv_loop_t loop;          /* one for all: idle between reopens */
    static int loop_ready;
    if (!loop_ready++)
        uv_loop_init(&loop);
    err[0] = '\0';
    quiet(1);
    raft_storage *s = raft_storage_open_fs(&loop, fault_fs_raft(fs), DIR, 1, NULL, NULL,
                                           err, errlen);
    quiet(0);
    long got = -1;
    if (s) {
        uint64_t term;
        int vote;
        const raft_entry *e;
        size_t n;
        cn_buf peers = { 0 };
        const char *snap;
        size_t snaplen;
        uint64_t at = 0, last_term;
        raft_snapshot_info info = { 0 };
        char why[160];
        raft_storage_recovered(s, &term, &vote, &e, &n);
        raft_storage_recovered_snapshot(s, &snap, &snaplen);
        int has = raft_storage_load_peers(s, &peers);
        if (snap && raft_snapshot_decode(snap, snaplen, &info, NULL, why, sizeof why) < 0)
            *bad |= 128;                        /* open let a bad snapshot through */
        last_term = n ? e[n - 1].term : info.term;
        if (r)
            *bad |= check_recovered(r, term, vote, e, n, &peers, has == 1, snap, snaplen, &at);
        if (term < last_term || term < info.term)
            *bad |= 64;                         /* the term behind the log's or snapshot's */
        for (size_t i = 0; i < n; i++)
            if (e[i].term < (i ? e[i - 1].term : info.term))
                *bad |= 256;                    /* a term going back: logs spliced */
        for (size_t i = 0; out && i < n; i++)
            raft_log_append(out, e[i].term, &e[i].cmd);
        cn_buf_free(&peers);
        got = (long)n;
        if (append) {
            uint64_t acked = 0;
            raft_entry next = { term, { "appended after recovery", 23 } };
            raft_storage_forget_recovered(s);
            raft_storage_set_done(s, on_append, &acked);
            raft_storage_persist(s, 1, 0, 0, at + n + 1, &next, 1, term, vote);
            while (acked != 1)
                uv_run(&loop, UV_RUN_ONCE);
        }
        raft_storage_close(s, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    return got;
}

static long recoveries, failures_shown;

/* Recovers a copy of state and checks it; then crashes again (the
 * recovery's own changes must have been durable) and recovers the same,
 * appending the next entry, and a third time finds it.  want: the entries
 * the first recovery must find (-1: any).  Returns the entries recovered
 * (-1: refused), and in *ops the changing operations of that recovery. */
static long check_state(fault_fs *state, const run *r, const char *what, long want, long *ops)
{
    fault_fs *c = fault_fs_clone(state);
    char err[512];
    int bad = 0;
    long at = fault_fs_ops(c);
    long n = reopen(c, r, err, sizeof err, &bad, NULL, 0);
    *ops = fault_fs_ops(c) - at;
    fault_fs_crash(c, FAULT_FS_DROP, 0);
    long again = n >= 0 ? reopen(c, r, err, sizeof err, &bad, NULL, 1) : -1;
    fault_fs_crash(c, FAULT_FS_DROP, 0);
    long then = again >= 0 ? reopen(c, NULL, err, sizeof err, &bad, NULL, 0) : -1;
    recoveries++;
    int ok = n >= 0 && bad == 0 && (want < 0 || n == want) && again == n && then == n + 1;
    CHECK(ok);
    if (!ok && failures_shown++ < 10)
        fprintf(stderr, "storage_crash_test: %s (acked seq %llu, peers %d): %s (%d)\n", what,
                (unsigned long long)r->acked_seq, r->acked_peers, n < 0 ? err :
                bad ? "acknowledged state not recovered" :
                want >= 0 && n != want ? "not what the interrupted recovery found" :
                again != n ? "not stable" : "the entry appended after recovery is lost", bad);
    fault_fs_free(c);
    return n;
}

static long recovery_points, recovery_states;

/* The machine dies again at every changing operation of the recovery of
 * state (ops of them; it found n entries); each state that leaves must
 * pass the same checks and recover the same n entries.  A crash that
 * leaves the files as the one before it did is counted, not checked again
 * (DROP at each operation is every state the recovery can leave: its
 * changes are truncations synced at once, and an id file made durable by
 * its directory's fsync after its own). */
static void crash_in_recovery(fault_fs *state, const run *r, const char *what, long n, long ops)
{
    fault_fs *before = fault_fs_clone(state);
    long at = fault_fs_ops(state), ignored;
    char err[512], where[192];
    for (long j = 0; j < ops; j++, recovery_points++) {
        fault_fs *c = fault_fs_clone(state);
        fault_fs_crash_at(c, at + j);
        reopen(c, NULL, err, sizeof err, NULL, NULL, 0);
        fault_fs_crash(c, FAULT_FS_DROP, 0);
        if (fault_fs_same(c, before)) {
            fault_fs_free(c);
            continue;
        }
        snprintf(where, sizeof where, "%s, then at recovery op %ld", what, j);
        check_state(c, r, where, n, &ignored);
        recovery_states++;
        fault_fs_free(before);
        before = c;
    }
    fault_fs_free(before);
}

/* Crashes a copy of fs (mode, keep), checks the recovery, and the crashes
 * inside it. */
static void crash_and_check(fault_fs *fs, const run *r, long k, int mode, size_t keep)
{
    char what[96];
    if (mode == FAULT_FS_SUBSET)
        snprintf(what, sizeof what, "crash at op %ld, unsynced changes kept %#zx", k, keep);
    else
        snprintf(what, sizeof what, "crash at op %ld, %s %zu", k,
                 mode == FAULT_FS_TEAR ? "torn to" : "dropped", keep);
    fault_fs *c = fault_fs_clone(fs);
    fault_fs_crash(c, mode, keep);
    long ops, n = check_state(c, r, what, -1, &ops);
    if (n >= 0)
        crash_in_recovery(c, r, what, n, ops);
    fault_fs_free(c);
}

#define MAX_UNSYNCED 10            /* 2^this subsets at one crash point at most */

static long crash_points, tears, subsets;

/* Every subset of the unsynced changes reaching the disk but none (DROP). */
static void crash_out_of_order(fault_fs *fs, const run *r, long k)
{
    size_t u = fault_fs_unsynced(fs);
    CHECK(u <= MAX_UNSYNCED);               /* else: draw some at random */
    for (size_t keep = 1; u <= MAX_UNSYNCED && keep < (size_t)1 << u; keep++, subsets++)
        crash_and_check(fs, r, k, FAULT_FS_SUBSET, keep);
}

static void test_every_crash_point(void)
{
    run r;
    fault_fs *fs = fault_fs_new();
    workload(&r, fs, -1);
    long total = fault_fs_ops(fs);
    CHECK(r.acked_seq == (uint64_t)nseq && r.acked_peers == 2);
    fault_fs_free(fs);
    for (long k = 0; k <= total; k++) {
        fs = fault_fs_new();
        workload(&r, fs, k);
        crash_points++;
        crash_and_check(fs, &r, k, FAULT_FS_DROP, 0);
        size_t torn = fault_fs_torn_len(fs);
        for (size_t keep = 0; torn && keep <= torn; keep++, tears++)
            crash_and_check(fs, &r, k, FAULT_FS_TEAR, keep);
        crash_out_of_order(fs, &r, k);
        fault_fs_free(fs);
    }
}

/* ---- bit flips ---------------------------------------------------------- */

static long flips;

static void test_log_flips(int snapshots)
{
    with_snapshots = snapshots;
    run r;
    fault_fs *fs = fault_fs_new();
    workload(&r, fs, -1);
    raft_log want;
    raft_log_init(&want);
    char err[512];
    long n = reopen(fs, NULL, err, sizeof err, NULL, &want, 0);
    long size = fault_fs_size(fs, DIR "/log");
    CHECK(n == (long)(raft_log_last(&model[nseq].log) - model[nseq].log.base) && n > 2);
    /* the last record starts after n - 1 records: find it by their lengths */
    long last_at = 0;
    for (long i = 1; i < n; i++)
        last_at += 8 + 16 + (long)raft_log_get(&want, (uint64_t)i)->cmd.len;
    for (long byte = 0; byte < size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            fault_fs *c = fault_fs_clone(fs);
            fault_fs_flip(c, DIR "/log", (size_t)byte, bit);
            raft_log got;
            raft_log_init(&got);
            long m = reopen(c, NULL, err, sizeof err, NULL, &got, 0);
            int ok;
            if (m < 0)
                ok = strstr(err, DIR "/log") && strstr(err, "offset");
            else
                ok = byte >= last_at && m == n - 1;     /* the last record, cut */
            for (long i = 1; ok && m > 0 && i <= m; i++)
                ok = same_entry(raft_log_get(&got, (uint64_t)i),
                                raft_log_get(&want, (uint64_t)i));
            CHECK(ok);
            if (!ok)
                fprintf(stderr, "storage_crash_test: log byte %ld bit %d: %ld entries: %s\n",
                        byte, bit, m, m < 0 ? err : "");
            flips++;
            raft_log_free(&got);
            fault_fs_free(c);
        }
    raft_log_free(&want);
    fault_fs_free(fs);
}

/* DIR/snap is replaced whole (snap.tmp, fsync, rename): damage is not a
 * torn write, and every bit flipped refuses naming it. */
static void test_snap_flips(void)
{
    run r;
    fault_fs *fs = fault_fs_new();
    with_snapshots = 1;
    workload(&r, fs, -1);
    long size = fault_fs_size(fs, DIR "/snap");
    int last = nseq;
    while (last > 0 && !model[last].snap)
        last--;
    CHECK(size > 40 && (size_t)size == model[last].snap_data.len);
    for (long byte = 0; byte < size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            fault_fs *c = fault_fs_clone(fs);
            fault_fs_flip(c, DIR "/snap", (size_t)byte, bit);
            char err[512];
            long m = reopen(c, NULL, err, sizeof err, NULL, NULL, 0);
            CHECK(m < 0 && strstr(err, DIR "/snap"));
            if (m >= 0 || !strstr(err, DIR "/snap"))
                fprintf(stderr, "storage_crash_test: snap byte %ld bit %d: %s\n", byte, bit,
                        m >= 0 ? "opened" : err);
            flips++;
            fault_fs_free(c);
        }
    fault_fs_free(fs);
}

static void test_meta_flips(void)
{
    run r;
    fault_fs *fs = fault_fs_new();
    workload(&r, fs, -1);
    long size = fault_fs_size(fs, DIR "/meta");
    CHECK(size == 20);
    for (long byte = 0; byte < size; byte++)
        for (int bit = 0; bit < 8; bit++) {
            fault_fs *c = fault_fs_clone(fs);
            fault_fs_flip(c, DIR "/meta", (size_t)byte, bit);
            char err[512];
            CHECK(reopen(c, NULL, err, sizeof err, NULL, NULL, 0) < 0 &&
                  strstr(err, DIR "/meta is corrupt"));
            flips++;
            fault_fs_free(c);
        }
    fault_fs_free(fs);
}

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    raft_log_init(&model[0].log);
    model[0].keep_later = UINT64_MAX;
    with_snapshots = 1;
    test_every_crash_point();
    test_log_flips(0);                  /* the log of 1..13 */
    test_log_flips(1);                  /* the log after the last snapshot: 23..31 */
    test_meta_flips();
    test_snap_flips();
    for (int s = 0; s < MAX_SEQ; s++) {
        raft_log_free(&model[s].log);
        cn_buf_free(&model[s].snap_data);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "storage_crash_test: %ld crash points: %ld torn lengths, %ld subsets of "
            "unsynced changes; crashes at %ld operations inside those recoveries, %ld leaving "
            "other files; %ld recoveries in all (each three times, the second appending); %ld "
            "bit flips; %.1f s\n", crash_points, tears, subsets, recovery_points,
            recovery_states, recoveries, flips,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return CHECK_DONE("storage_crash");
}
