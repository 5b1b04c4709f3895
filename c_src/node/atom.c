/* atom.c - interned node names.
 *
 * Pids and refs carry the name of their node.  Interning makes them small,
 * copyable values compared by pointer.  The table is process-wide, guarded by
 * a mutex (several nodes may run in one process, each on its own thread), and
 * bounded so a hostile peer cannot grow it without limit.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "term.h"

#define CN_ATOM_TABLE_MAX 65536

typedef struct atom_entry {
    UT_hash_handle hh;
    size_t len;
    char   name[];
} atom_entry;

static atom_entry *atom_table;
static unsigned atom_count;
static unsigned atom_limit = CN_ATOM_TABLE_MAX;
static pthread_mutex_t atom_lock = PTHREAD_MUTEX_INITIALIZER;

void cn_atom_set_limit(unsigned max)
{
    pthread_mutex_lock(&atom_lock);
    atom_limit = max && max < CN_ATOM_TABLE_MAX ? max : CN_ATOM_TABLE_MAX;
    pthread_mutex_unlock(&atom_lock);
}

cn_atom cn_atom_intern(const char *s, size_t len)
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
            HASH_ADD_KEYPTR(hh, atom_table, e->name, len, e);
            atom_count++;
        }
    }
    pthread_mutex_unlock(&atom_lock);
    return e ? e->name : NULL;
}

cn_atom cn__atom_find(const char *s, size_t len)
{
    atom_entry *e;
    pthread_mutex_lock(&atom_lock);
    HASH_FIND(hh, atom_table, s, len, e);
    pthread_mutex_unlock(&atom_lock);
    return e ? e->name : NULL;
}

void cn_atom_cleanup(void)
{
    atom_entry *e, *tmp;
    pthread_mutex_lock(&atom_lock);
    HASH_ITER(hh, atom_table, e, tmp) {
        HASH_DEL(atom_table, e);
        free(e);
    }
    atom_count = 0;
    pthread_mutex_unlock(&atom_lock);
}
