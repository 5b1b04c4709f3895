/* gc_ring.c - the overlay: who a node's neighbours are.
 *
 * Every live member has a position on each of R rings (a hash of its name,
 * salted per ring).  A node's neighbours are its successor and predecessor
 * on every ring: at most 2R nodes, the same relation seen from both ends
 * once memberships agree, and R random Hamiltonian cycles make an expander,
 * so the overlay is connected (each ring alone is) with a diameter of about
 * log N.  A join only compares the newcomer with the current neighbours;
 * only the loss of a neighbour makes a node rescan the membership.
 */
#include <string.h>

#include "gc_int.h"

/* Does m beat the current holder at distance dh?  Distance 0 (a hash
 * collision with the centre) never wins; ties go to the smaller name. */
static int closer(uint64_t dm, const gc_member *m, uint64_t dh, const gc_member *holder)
{
    if (dm == 0)
        return 0;
    if (!holder)
        return 1;
    if (dm != dh)
        return dm < dh;
    return strcmp(m->name, holder->name) < 0;
}

/* Offers m as a neighbour of center on every ring. */
static void consider(const gc_core *c, const gc_member *center, gc_ring_nb *nb, gc_member *m)
{
    for (unsigned r = 0; r < c->p.rings; r++) {
        uint64_t ds = m->pos[r] - center->pos[r], dp = center->pos[r] - m->pos[r];
        if (closer(ds, m, nb[r].succ ? nb[r].succ->pos[r] - center->pos[r] : 0, nb[r].succ))
            nb[r].succ = m;
        if (closer(dp, m, nb[r].pred ? center->pos[r] - nb[r].pred->pos[r] : 0, nb[r].pred))
            nb[r].pred = m;
    }
}

/* How many distinct live nodes have m as a neighbour: its monitors. */
size_t gc_ring_degree(const gc_core *c, const gc_member *m)
{
    gc_ring_nb nb[GC_MAX_RINGS];
    memset(nb, 0, sizeof nb);
    for (size_t i = 0; i < c->members.cap; i++) {
        gc_member *o = c->members.slot[i];
        if (o && o != m && gc_is_live(o))
            consider(c, m, nb, o);
    }
    gc_member *seen[GC_MAX_VIEW];
    size_t n = 0;
    for (unsigned r = 0; r < c->p.rings; r++) {
        gc_member *cand[2] = { nb[r].succ, nb[r].pred };
        for (int k = 0; k < 2; k++) {
            size_t j = 0;
            while (j < n && seen[j] != cand[k])
                j++;
            if (cand[k] && j == n)
                seen[n++] = cand[k];
        }
    }
    return n;
}

/* The view is the set of ring neighbours; probes of nodes that left it go. */
static void rebuild_view(gc_core *c)
{
    gc_member *old[GC_MAX_VIEW];
    size_t nold = c->nview;
    memcpy(old, c->view, nold * sizeof *old);
    for (size_t i = 0; i < nold; i++)
        old[i]->in_view = 0;
    c->nview = 0;
    for (unsigned r = 0; r < c->p.rings; r++) {
        gc_member *cand[2] = { c->ring[r].succ, c->ring[r].pred };
        for (int k = 0; k < 2; k++) {
            gc_member *m = cand[k];
            if (m && !m->in_view) {
                m->in_view = 1;
                c->view[c->nview++] = m;
            }
        }
    }
    for (size_t i = 0; i < nold; i++)
        if (!old[i]->in_view)
            gc_detect_forget(c, old[i]);
}

void gc_ring_refresh(gc_core *c)
{
    memset(c->ring, 0, sizeof c->ring);
    for (size_t i = 0; i < c->members.cap; i++) {
        gc_member *m = c->members.slot[i];
        if (m && m != c->me && gc_is_live(m))
            consider(c, c->me, c->ring, m);
    }
    c->view_dirty = 0;
    rebuild_view(c);
}

void gc_ring_added(gc_core *c, gc_member *m)
{
    if (m == c->me)
        return;
    consider(c, c->me, c->ring, m);
    rebuild_view(c);
}

void gc_ring_removed(gc_core *c, gc_member *m)
{
    for (unsigned r = 0; r < c->p.rings; r++)
        if (c->ring[r].succ == m || c->ring[r].pred == m) {
            gc_ring_refresh(c);
            return;
        }
}
