/* sim_heap.h - the simulators' event queue: a binary min-heap of events
 * ordered by time, then by the order they were scheduled, so that a seeded
 * run replays exactly.
 *
 * SIM_HEAP(prefix, type) defines, for a type with fields t and seq:
 *   void prefix_push(type **heap, size_t *n, size_t *cap, type e)
 *   type prefix_pop(type **heap, size_t *n)      (n must be > 0)
 * The caller numbers events (seq) as it schedules them. */
#ifndef SIM_HEAP_H
#define SIM_HEAP_H

#include <stdlib.h>

#define SIM_HEAP(P, T)                                                        \
    static int P##_less(const T *a, const T *b)                               \
    {                                                                         \
        return a->t < b->t || (a->t == b->t && a->seq < b->seq);              \
    }                                                                         \
    static void P##_push(T **heap, size_t *n, size_t *cap, T e)               \
    {                                                                         \
        if (*n == *cap) {                                                     \
            *cap = *cap ? *cap * 2 : 4096;                                    \
            *heap = realloc(*heap, *cap * sizeof **heap);                     \
            if (!*heap)                                                       \
                abort();                                                      \
        }                                                                     \
        size_t i = (*n)++;                                                    \
        while (i && P##_less(&e, &(*heap)[(i - 1) / 2])) {                    \
            (*heap)[i] = (*heap)[(i - 1) / 2];                                \
            i = (i - 1) / 2;                                                  \
        }                                                                     \
        (*heap)[i] = e;                                                       \
    }                                                                         \
    static T P##_pop(T **heap, size_t *n)                                     \
    {                                                                         \
        T *h = *heap;                                                         \
        T top = h[0], last = h[--*n];                                         \
        size_t i = 0;                                                         \
        for (;;) {                                                            \
            size_t l = 2 * i + 1, r = l + 1, m = i;                           \
            const T *best = &last;                                            \
            if (l < *n && P##_less(&h[l], best))                              \
                m = l, best = &h[l];                                          \
            if (r < *n && P##_less(&h[r], best))                              \
                m = r;                                                        \
            if (m == i)                                                       \
                break;                                                        \
            h[i] = h[m];                                                      \
            i = m;                                                            \
        }                                                                     \
        if (*n)                                                               \
            h[i] = last;                                                      \
        return top;                                                           \
    }

#endif
