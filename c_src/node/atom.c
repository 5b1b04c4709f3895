/* atom.c - interned node names.
 *
 * Pids and refs carry the name of their node.  Interning makes them small,
 * copyable values compared by pointer.  The table is process-wide, guarded by
 * a mutex (several nodes may run in one process, each on its own thread), and
 * bounded (65,536 names; cn_atom_set_limit lowers it for tests).
 *
 * Which names are kept, and for how long:
 *  - Names a peer claims in a handshake never get here before the peer has
 *    proven the cookie (conn.c), so strangers cannot fill the table.
 *  - A name handed to code outside the runtime is kept for good: whatever
 *    cn_atom_intern returns, and the node names of every pid and ref decoded
 *    by the public decoders (cn_term_match, cn_term_get_pid/ref,
 *    cn_subject_from_term; and a named subject's name and node, gleam.c),
 *    and of the From of a call given to a handle_call that may keep it
 *    (cn_proc_ops.replies_at_once unset).  C
 *    code may hold copies of those anywhere, so they are never freed.
 *  - Every other name is the runtime's (cn__atom_intern_weak: the names of
 *    connections, and of the pids and refs in control messages): it lives
 *    as long as the runtime holds it, in a connection, link, monitor,
 *    pending call, Subject or queued exit signal (names.c lists them all).
 *    When names were added (an eighth of the cap since the last sweep) or
 *    one was refused, the node sweeps between loop turns, when no runtime
 *    code is running: the names nothing holds are freed.  So a node that
 *    meets many short-lived peers does not reach the cap.  Sweeps run only
 *    while a single node runs in the process (the others' threads could be
 *    holding a name while it looked unused); with more, names accumulate.
 * A name a connection-status callback or cn_node_peers gives out is valid
 * until the loop's next turn: copy it to keep it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "term.h"

#define CN_ATOM_TABLE_MAX 65536

typedef struct atom_entry {
    UT_hash_handle hh;
    unsigned char kept;             /* handed out: never freed */
    unsigned char marked;           /* in use, by the running sweep */
    size_t len;
    char   name[];
} atom_entry;

static atom_entry *atom_table;
static unsigned atom_count;
static unsigned atom_limit = CN_ATOM_TABLE_MAX;
static unsigned atom_added;         /* since the last sweep */
static int      atom_refused;       /* an intern failed since then */
static unsigned atom_nodes;         /* nodes running in the process */
static pthread_mutex_t atom_lock = PTHREAD_MUTEX_INITIALIZER;

void cn_atom_set_limit(unsigned max)
{
    pthread_mutex_lock(&atom_lock);
    atom_limit = max && max < CN_ATOM_TABLE_MAX ? max : CN_ATOM_TABLE_MAX;
    pthread_mutex_unlock(&atom_lock);
}

/* The entry of a name given out by this table (lock held). */
static atom_entry *entry_of(cn_atom a)
{
    atom_entry *e = NULL;
    if (a)
        HASH_FIND(hh, atom_table, a, strlen(a), e);
    return e && e->name == a ? e : NULL;
}

static cn_atom intern(const char *s, size_t len, int keep)
{
    atom_entry *e;
    pthread_mutex_lock(&atom_lock);
    HASH_FIND(hh, atom_table, s, len, e);
    if (!e && atom_count < atom_limit) {
        e = malloc(sizeof *e + len + 1);
        if (e) {
            memcpy(e->name, s, len);
            e->name[len] = '\0';
            e->len = len;
            e->kept = e->marked = 0;
            HASH_ADD_KEYPTR(hh, atom_table, e->name, len, e);
            atom_count++;
            atom_added++;
        }
    }
    if (e && keep)
        e->kept = 1;
    if (!e)
        atom_refused = 1;
    pthread_mutex_unlock(&atom_lock);
    return e ? e->name : NULL;
}

cn_atom cn_atom_intern(const char *s, size_t len) { return intern(s, len, 1); }
cn_atom cn__atom_intern_weak(const char *s, size_t len) { return intern(s, len, 0); }

void cn__atom_keep(cn_atom a)
{
    pthread_mutex_lock(&atom_lock);
    atom_entry *e = entry_of(a);
    if (e)
        e->kept = 1;
    pthread_mutex_unlock(&atom_lock);
}

cn_atom cn__atom_find(const char *s, size_t len)
{
    atom_entry *e;
    pthread_mutex_lock(&atom_lock);
    HASH_FIND(hh, atom_table, s, len, e);
    pthread_mutex_unlock(&atom_lock);
    return e ? e->name : NULL;
}

size_t cn__atom_count(void)
{
    pthread_mutex_lock(&atom_lock);
    size_t k = atom_count;
    pthread_mutex_unlock(&atom_lock);
    return k;
}

void cn__atom_node_count(int delta)
{
    pthread_mutex_lock(&atom_lock);
    atom_nodes += (unsigned)delta;
    pthread_mutex_unlock(&atom_lock);
}

int cn__atom_sweep_wanted(void)
{
    int w = 0;
    pthread_mutex_lock(&atom_lock);
    unsigned every = atom_limit / 8 ? atom_limit / 8 : 1;
    if (atom_nodes == 1 && atom_added >= every)
        w = 2;
    else if (atom_nodes == 1 && (atom_refused || atom_added))
        w = 1;
    pthread_mutex_unlock(&atom_lock);
    return w;
}

/* Called by the sweep's mark function, the lock held. */
void cn__atom_mark(cn_atom a)
{
    atom_entry *e = entry_of(a);
    if (e)
        e->marked = 1;
}

size_t cn__atom_sweep(void (*mark)(void *ud), void *ud)
{
    atom_entry *e, *tmp;
    size_t freed = 0;
    pthread_mutex_lock(&atom_lock);
    if (atom_nodes == 1) {
        HASH_ITER(hh, atom_table, e, tmp) e->marked = 0;
        mark(ud);
        HASH_ITER(hh, atom_table, e, tmp) {
            if (e->kept || e->marked)
                continue;
            HASH_DEL(atom_table, e);
            free(e);
            atom_count--;
            freed++;
        }
        atom_added = 0;
        atom_refused = 0;
    }
    pthread_mutex_unlock(&atom_lock);
    return freed;
}

void cn_atom_cleanup(void)
{
    atom_entry *e, *tmp;
    pthread_mutex_lock(&atom_lock);
    HASH_ITER(hh, atom_table, e, tmp) {
        HASH_DEL(atom_table, e);
        free(e);
    }
    atom_count = atom_added = 0;
    atom_refused = 0;
    pthread_mutex_unlock(&atom_lock);
}
