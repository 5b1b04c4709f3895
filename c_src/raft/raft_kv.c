/* raft_kv.c - the KV state machine (see raft_kv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "raft_kv.h"

typedef struct kv_item {
    UT_hash_handle hh;
    char  *key, *val;
    size_t klen, vlen;
    uint64_t seq;                   /* insertion order (hh's list is in that order) */
    struct kv_item *grave;          /* next in the graveyard */
} kv_item;

/* While frozen (raft_kv_freeze), the pairs as of then are read a part at a
 * time as the store changes: puts only add pairs (a put of a key that
 * exists is refused), after the frozen ones in the list, so they are not
 * read; a delete of a frozen pair not read yet keeps it in the graveyard,
 * read after the list. */
struct raft_kv {
    kv_item *items;
    uint64_t seq;                   /* of the newest pair */
    int      frozen;
    uint64_t frozen_last;           /* the frozen pairs: seq up to this */
    kv_item *cursor;                /* the next frozen pair to read (NULL: the list done) */
    kv_item *graveyard;             /* frozen pairs deleted before they were read */
};

raft_kv *raft_kv_new(void) { return calloc(1, sizeof(raft_kv)); }

static void item_free(kv_item *it)
{
    free(it->key);
    free(it->val);
    free(it);
}

static void advance(raft_kv *kv)
{
    kv_item *next = kv->cursor->hh.next;
    kv->cursor = next && next->seq <= kv->frozen_last ? next : NULL;
}

static void remove_item(raft_kv *kv, kv_item *it)
{
    int unread = kv->frozen && kv->cursor && it->seq >= kv->cursor->seq &&
                 it->seq <= kv->frozen_last;
    if (it == kv->cursor)
        advance(kv);
    HASH_DEL(kv->items, it);
    if (unread) {
        it->grave = kv->graveyard;
        kv->graveyard = it;
    } else {
        item_free(it);
    }
}

void raft_kv_freeze(raft_kv *kv)
{
    raft_kv_thaw(kv);
    kv->frozen = 1;
    kv->frozen_last = kv->seq;
    kv->cursor = kv->items;
}

int raft_kv_frozen_read(raft_kv *kv, size_t max,
                        void (*fn)(void *ud, const char *k, size_t kl, const char *v, size_t vl),
                        void *ud)
{
    for (; max && kv->cursor; max--, advance(kv))
        fn(ud, kv->cursor->key, kv->cursor->klen, kv->cursor->val, kv->cursor->vlen);
    for (; max && kv->graveyard; max--) {
        kv_item *it = kv->graveyard;
        kv->graveyard = it->grave;
        fn(ud, it->key, it->klen, it->val, it->vlen);
        item_free(it);
    }
    return !kv->cursor && !kv->graveyard;
}

void raft_kv_thaw(raft_kv *kv)
{
    while (kv->graveyard) {
        kv_item *it = kv->graveyard;
        kv->graveyard = it->grave;
        item_free(it);
    }
    kv->frozen = 0;
    kv->cursor = NULL;
}

void raft_kv_free(raft_kv *kv)
{
    if (!kv)
        return;
    raft_kv_thaw(kv);
    kv_item *it, *tmp;
    HASH_ITER(hh, kv->items, it, tmp) {
        HASH_DEL(kv->items, it);
        item_free(it);
    }
    free(kv);
}

size_t raft_kv_count(const raft_kv *kv) { return HASH_COUNT(kv->items); }

int raft_cmd_valid(const cn_term *cmd)
{
    const char *k, *v;
    size_t kl, vl;
    return cn_term_match(cmd, "{put, ~b, ~b}", &k, &kl, &v, &vl) ||
           cn_term_match(cmd, "{get, ~b}", &k, &kl) ||
           cn_term_match(cmd, "{delete, ~b}", &k, &kl) || cn_term_match(cmd, "noop");
}

int raft_kv_is_get(const cn_term *cmd)
{
    return cmd && cn_term_match(cmd, "{get, _}");
}

void raft_kv_put_error(cn_buf *b, const cn_term *cmd, const char *why)
{
    raft_kv_put_error_as(b, raft_kv_is_get(cmd), why);
}

void raft_kv_put_error_as(cn_buf *b, int get, const char *why)
{
    if (get)
        cn_term_build(b, "{error, ~s}", why);
    else
        cn_term_build(b, "{op_error, ~s}", why);
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* "[node N] slot I: " or "[node N] " */
static int prefix(char *t, size_t sz, int node, uint64_t slot, raft_kv_trace how)
{
    if (how == RAFT_KV_TRACE_SLOT)
        return snprintf(t, sz, "[node %d] slot %llu: ", node, (unsigned long long)slot);
    return snprintf(t, sz, "[node %d] ", node);
}

static void error_result(cn_buf *result, const char *tag, const char *what, const char *k,
                         size_t kl)
{
    if (!result)
        return;
    size_t wl = strlen(what);
    char *msg = malloc(wl + kl + 1);
    if (!msg) {
        result->failed = 1;
        return;
    }
    memcpy(msg, what, wl);
    memcpy(msg + wl, k, kl);
    cn_term_build(result, "{~a, ~b}", tag, msg, wl + kl);
    free(msg);
}

int raft_kv_insert(raft_kv *kv, const char *k, size_t kl, const char *v, size_t vl)
{
    kv_item *it = NULL;
    HASH_FIND(hh, kv->items, k, kl, it);
    if (it)
        return -1;
    it = calloc(1, sizeof *it);
    if (!it || !(it->key = dup_bytes(k, kl)) || !(it->val = dup_bytes(v, vl))) {
        if (it)
            item_free(it);
        return -1;
    }
    it->klen = kl;
    it->vlen = vl;
    it->seq = ++kv->seq;
    HASH_ADD_KEYPTR(hh, kv->items, it->key, kl, it);
    return 0;
}

int raft_kv_apply(raft_kv *kv, const cn_term *cmd, int node, uint64_t slot,
                  raft_kv_trace how, cn_buf *result, char *trace, size_t tracesz)
{
    const char *k, *v;
    size_t kl, vl;
    kv_item *it = NULL;
    int p = prefix(trace, tracesz, node, slot, how);
    char *t = trace + (p > 0 && (size_t)p < tracesz ? p : 0);
    size_t tsz = tracesz - (size_t)(t - trace);

    if (cn_term_match(cmd, "{put, ~b, ~b}", &k, &kl, &v, &vl)) {
        HASH_FIND(hh, kv->items, k, kl, it);
        if (it) {
            snprintf(t, tsz, "PUT \"%.*s\" -> REJECTED (key exists)", (int)kl, k);
            error_result(result, "op_error", "key already exists: ", k, kl);
            return 0;
        }
        if (raft_kv_insert(kv, k, kl, v, vl) < 0) {
            if (result)
                result->failed = 1;
            return -1;
        }
        snprintf(t, tsz, "PUT \"%.*s\" = \"%.*s\" -> OK", (int)kl, k, (int)vl, v);
        if (result)
            cn_term_build(result, "op_ok");
        return 0;
    }
    if (cn_term_match(cmd, "{get, ~b}", &k, &kl)) {
        HASH_FIND(hh, kv->items, k, kl, it);
        if (it) {
            snprintf(t, tsz, "GET \"%.*s\" -> \"%.*s\"", (int)kl, k, (int)it->vlen, it->val);
            if (result)
                cn_term_build(result, "{ok, ~b}", it->val, it->vlen);
        } else {
            snprintf(t, tsz, "GET \"%.*s\" -> NOT FOUND", (int)kl, k);
            error_result(result, "error", "key not found: ", k, kl);
        }
        return 0;
    }
    if (cn_term_match(cmd, "{delete, ~b}", &k, &kl)) {
        HASH_FIND(hh, kv->items, k, kl, it);
        if (it) {
            remove_item(kv, it);
            snprintf(t, tsz, "DELETE \"%.*s\" -> OK", (int)kl, k);
            if (result)
                cn_term_build(result, "op_ok");
        } else {
            snprintf(t, tsz, "DELETE \"%.*s\" -> NOT FOUND", (int)kl, k);
            error_result(result, "op_error", "key not found: ", k, kl);
        }
        return 0;
    }
    if (cn_term_match(cmd, "noop")) {
        if (how == RAFT_KV_TRACE_SLOT)
            snprintf(t, tsz, "NOOP");
        else
            trace[0] = '\0';        /* the seed's leader prints nothing */
        if (result)
            cn_term_build(result, "op_ok");
        return 0;
    }
    trace[0] = '\0';
    if (result)
        raft_kv_put_error(result, cmd, "malformed command");
    return -1;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    return c ? c : (al > bl) - (al < bl);
}

static int item_cmp(const kv_item *x, const kv_item *y)
{
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

static int by_item(const void *a, const void *b)
{
    return item_cmp(*(const kv_item *const *)a, *(const kv_item *const *)b);
}


void raft_kv_each(const raft_kv *kv, void (*fn)(void *ud, const char *k, size_t kl,
                                                const char *v, size_t vl), void *ud)
{
    size_t n = HASH_COUNT(kv->items), i = 0;
    kv_item **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return;
    for (kv_item *it = kv->items; it; it = it->hh.next)
        v[i++] = it;
    qsort(v, n, sizeof *v, by_item);
    for (i = 0; i < n; i++)
        fn(ud, v[i]->key, v[i]->klen, v[i]->val, v[i]->vlen);
    free(v);
}


/* A max-heap of the `limit` smallest keys seen, its root the largest. */
static void heap_down(kv_item **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && item_cmp(h[l], h[m]) > 0)
            m = l;
        if (r < n && item_cmp(h[r], h[m]) > 0)
            m = r;
        if (m == i)
            return;
        kv_item *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(kv_item **h, size_t i)
{
    while (i > 0 && item_cmp(h[i], h[(i - 1) / 2]) > 0) {
        kv_item *t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}


size_t raft_kv_put_page(const raft_kv *kv, const char *after, size_t afterlen, size_t limit,
                        cn_buf *b, int *more, const char **last, size_t *lastlen)
{
    kv_item **h = malloc((limit ? limit : 1) * sizeof *h);
    size_t n = 0;
    *more = 0;
    if (!h) {
        cn_term_put_nil(b);
        b->failed = 1;
        return 0;
    }
    for (kv_item *it = kv->items; it; it = it->hh.next) {
        if (after && key_cmp(it->key, it->klen, after, afterlen) <= 0)
            continue;
        if (n < limit) {
            h[n++] = it;
            heap_up(h, n - 1);
        } else {
            *more = 1;
            if (limit && item_cmp(it, h[0]) < 0) {
                h[0] = it;
                heap_down(h, n, 0);
            }
        }
    }
    qsort(h, n, sizeof *h, by_item);
    *last = n ? h[n - 1]->key : NULL;
    *lastlen = n ? h[n - 1]->klen : 0;
    if (n)
        cn_term_put_list(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        cn_term_put_tuple(b, 2);
        cn_term_put_binary(b, h[i]->key, h[i]->klen);
        cn_term_put_binary(b, h[i]->val, h[i]->vlen);
    }
    cn_term_put_nil(b);
    free(h);
    return n;
}

static void put_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl)
{
    cn_buf *b = ud;
    cn_term_put_binary(b, k, kl);
    cn_term_put_binary(b, v, vl);
}

void raft_kv_put_map(const raft_kv *kv, cn_buf *b)
{
    cn_term_put_map(b, (uint32_t)HASH_COUNT(kv->items));
    raft_kv_each(kv, put_pair, b);
}
