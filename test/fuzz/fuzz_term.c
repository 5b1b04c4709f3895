/* fuzz_term.c - libFuzzer target for the term layer (term.h).
 *
 * The input is tried as a whole external-format buffer (cn_term_from_ext) and
 * as a bare term at offset 0 (cn_term_check).  Every accepted term is then
 * walked with everything a protocol handler might do to a hostile term:
 * formatting, tuple elements, list and map iteration, matching against
 * patterns that use every capture code, and building (copy, pattern build,
 * rebuild of each captured value) with the result re-validated and
 * re-matched.  The last bytes of the input also become a literal-only
 * pattern, to check that the pattern parsers honour their contract on
 * malformed patterns (match returns 0, build fails the buffer).
 *
 * Invariants that abort (besides ASan/UBSan findings): sub-terms handed out
 * are themselves whole valid terms, iteration counts agree with headers,
 * captured values agree with the single-value decoders and with an
 * independent decode, and build -> check -> match round trips.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/term.h"
#include "../../c_src/node/term_ext.h"

/* Captures of list elements that live in temporary storage are only caught
 * with fake stacks; make that the default when the target is run by hand. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_stack_use_after_return=1"; }

#define FUZZ_ASSERT(c)                                                          \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "fuzz_term: invariant failed: %s (%s:%d)\n", #c,    \
                    __FILE__, __LINE__);                                        \
            abort();                                                            \
        }                                                                       \
    } while (0)

#define MAX_DEPTH 3
#define MAX_ELEMS 4

static void exercise(const cn_term *t, int depth);

/* A captured or iterated term must itself be exactly one valid term. */
static void whole_term(const cn_term *t)
{
    size_t pos = 0;
    FUZZ_ASSERT(t->len > 0);
    FUZZ_ASSERT(cn_term_check(t->data, t->len, &pos) == 0 && pos == t->len);
}

static int inside(const cn_term *outer, const cn_term *inner)
{
    return inner->data >= outer->data &&
           inner->data + inner->len <= outer->data + outer->len;
}

/* The float a FLOAT_EXT or NEW_FLOAT_EXT term holds, decoded from its own
 * bytes only (FLOAT_EXT is 31 bytes of printf text, NUL-padded). */
static int expected_double(const cn_term *t, double *out)
{
    const unsigned char *u = (const unsigned char *)t->data;
    if (u[0] == CN_EXT_NEW_FLOAT && t->len == 9) {
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = bits << 8 | u[1 + i];
        memcpy(out, &bits, sizeof *out);
        return 1;
    }
    if (u[0] == CN_EXT_FLOAT && t->len == 32) {
        char text[32];
        memcpy(text, u + 1, 31);
        text[31] = '\0';
        return sscanf(text, "%lf", out) == 1 ? 1 : -1;
    }
    return 0;
}

static int same_double(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- building ------------------------------------------------------------ */

static void build_roundtrip(const cn_term *t)
{
    cn_buf b;
    cn_buf_init(&b);

    /* verbatim copy */
    cn_term_put_term(&b, t);
    FUZZ_ASSERT(!cn_buf_failed(&b));
    cn_term c = cn_buf_term(&b, 0);
    whole_term(&c);
    FUZZ_ASSERT(cn_term_eq(&c, t));

    /* the term inside a built pattern, then matched back out */
    cn_buf_reset(&b);
    cn_term_build(&b, "{'$gen_call', {~t, [~t]}, ok, -7, []}", t, t);
    FUZZ_ASSERT(!cn_buf_failed(&b));
    c = cn_buf_term(&b, 0);
    whole_term(&c);
    cn_term x, y;
    FUZZ_ASSERT(cn_term_match(&c, "{'$gen_call', {~t, [~t]}, ok, -7, []}", &x, &y));
    FUZZ_ASSERT(cn_term_eq(&x, t) && cn_term_eq(&y, t));

    /* the call interface: a list and a map around the term */
    cn_buf_reset(&b);
    cn_term_put_list(&b, 2);
    cn_term_put_term(&b, t);
    cn_term_put_map(&b, 1);
    cn_term_put_atom(&b, "k");
    cn_term_put_term(&b, t);
    cn_term_put_nil(&b);
    FUZZ_ASSERT(!cn_buf_failed(&b));
    c = cn_buf_term(&b, 0);
    whole_term(&c);
    cn_term m, v;
    FUZZ_ASSERT(cn_term_match(&c, "[~t, ~M]", &x, &m));
    FUZZ_ASSERT(cn_term_eq(&x, t));
    cn_map_iter it;
    uint32_t n;
    FUZZ_ASSERT(cn_map_begin(&it, &m, &n) == 0 && n == 1);
    FUZZ_ASSERT(cn_map_next(&it, &x, &v) == 1 && cn_term_is_atom(&x, "k") && cn_term_eq(&v, t));
    FUZZ_ASSERT(cn_map_next(&it, &x, &v) == 0);
    cn_buf_free(&b);
}

/* Captured scalars, rebuilt and matched again. */
static void rebuild_scalars(const cn_term *t)
{
    cn_buf b;
    cn_buf_init(&b);
    char atom[CN_ATOM_BUF], atom2[CN_ATOM_BUF];
    long long ll;
    int i, i2;
    long l, l2;
    uint64_t u, u2;
    double d, d2;
    const char *bp, *bp2;
    size_t bl, bl2;
    char s[64], s2[64];
    cn_pid p, p2;
    cn_ref r, r2;
    cn_term c;

    if (cn_term_match(t, "~a", atom)) {
        FUZZ_ASSERT(strlen(atom) < CN_ATOM_BUF);
        cn_buf_reset(&b);
        cn_term_build(&b, "~a", atom);
        FUZZ_ASSERT(!cn_buf_failed(&b));
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~a", atom2) && strcmp(atom, atom2) == 0);
        FUZZ_ASSERT(cn_term_match(&c, "~A", atom));
        FUZZ_ASSERT(cn_term_is_atom(&c, atom));
    }
    int has_ll = cn_term_get_long(t, &ll) == 0;
    if (cn_term_match(t, "~i", &i)) {
        FUZZ_ASSERT(has_ll && ll == i);
        cn_buf_reset(&b);
        cn_term_build(&b, "~i", i);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~i", &i2) && i == i2);
    }
    if (cn_term_match(t, "~l", &l)) {
        FUZZ_ASSERT(has_ll && ll == l);
        cn_buf_reset(&b);
        cn_term_build(&b, "~l", l);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~l", &l2) && l == l2);
    } else {
        FUZZ_ASSERT(!has_ll);
    }
    if (cn_term_match(t, "~u", &u)) {
        FUZZ_ASSERT(!has_ll || ll < 0 || (uint64_t)ll == u);
        cn_buf_reset(&b);
        cn_term_build(&b, "~u", u);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~u", &u2) && u == u2);
    }
    if (cn_term_match(t, "~f", &d)) {
        double want;
        FUZZ_ASSERT(expected_double(t, &want) == 1 && same_double(d, want));
        if (isfinite(d)) {
            cn_buf_reset(&b);
            cn_term_build(&b, "~f", d);
            c = cn_buf_term(&b, 0);
            whole_term(&c);
            FUZZ_ASSERT(cn_term_match(&c, "~f", &d2) && same_double(d, d2));
        }
    } else {
        double want;
        FUZZ_ASSERT(expected_double(t, &want) != 1);
    }
    if (cn_term_match(t, "~b", &bp, &bl)) {
        cn_term view = { bp, bl };
        FUZZ_ASSERT(inside(t, &view) && t->len == 5 + bl);
        cn_buf_reset(&b);
        cn_term_build(&b, "~b", bp, bl);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~b", &bp2, &bl2) && bl == bl2 &&
                    memcmp(bp, bp2, bl) == 0);
        FUZZ_ASSERT(cn_term_eq(&c, t));
    }
    if (cn_term_match(t, "~s", s, sizeof s)) {
        FUZZ_ASSERT(strlen(s) < sizeof s);
        cn_buf_reset(&b);
        cn_term_build(&b, "~s", s);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~s", s2, sizeof s2) && strcmp(s, s2) == 0);
        FUZZ_ASSERT(cn_term_eq(&c, t));
    }
    char tiny[2];
    if (cn_term_match(t, "~s", tiny, sizeof tiny))
        FUZZ_ASSERT(strlen(tiny) < sizeof tiny);
    if (cn_term_match(t, "~p", &p)) {
        FUZZ_ASSERT(cn_term_get_pid(t, &p2) == 0 && cn_pid_eq(&p, &p2));
        cn_buf_reset(&b);
        cn_term_build(&b, "~p", &p);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~p", &p2) && cn_pid_eq(&p, &p2));
    }
    if (cn_term_match(t, "~r", &r)) {
        FUZZ_ASSERT(cn_term_get_ref(t, &r2) == 0 && cn_ref_eq(&r, &r2));
        FUZZ_ASSERT(r.len >= 1 && r.len <= CN_MAX_REF_WORDS);
        cn_buf_reset(&b);
        cn_term_build(&b, "~r", &r);
        c = cn_buf_term(&b, 0);
        whole_term(&c);
        FUZZ_ASSERT(cn_term_match(&c, "~r", &r2) && cn_ref_eq(&r, &r2));
    }
    cn_buf_free(&b);
}

/* ---- matching ------------------------------------------------------------ */

/* Reads a capture at once, before any other call can reuse a dead frame it
 * might point into (with fake stacks that read is then always caught), and
 * checks it is one whole term. */
static void touch(const cn_term *c)
{
    const volatile char *p = c->data;
    unsigned sum = 0;
    FUZZ_ASSERT(c->len > 0);
    for (size_t i = 0; i < c->len && i < 64; i++)
        sum += (unsigned char)p[i];
    (void)sum;
    whole_term(c);
}

static void match_patterns(const cn_term *t, int depth)
{
    char a1[CN_ATOM_BUF], a2[CN_ATOM_BUF];
    int i1, i2, i3;
    long l1;
    uint64_t u1;
    double f1;
    const char *bp;
    size_t bl;
    char s[32];
    cn_pid p1, p2;
    cn_ref r1;
    cn_term t1, t2, t3, t4, t5;

    /* every capture code alone */
    if (cn_term_match(t, "~t", &t1))
        FUZZ_ASSERT(t1.data == t->data && t1.len == t->len);
    else
        FUZZ_ASSERT(0);
    FUZZ_ASSERT(cn_term_match(t, "_"));
    if (cn_term_match(t, "~L", &t1))
        FUZZ_ASSERT(cn_term_eq(&t1, t));
    if (cn_term_match(t, "~M", &t1))
        FUZZ_ASSERT(cn_term_eq(&t1, t) && cn_term_type(t) == CN_EXT_MAP);
    (void)cn_term_match(t, "~A", "ok");
    (void)cn_term_match(t, "~A", "");

    /* literals */
    (void)cn_term_match(t, "ok");
    (void)cn_term_match(t, "'EXIT'");
    (void)cn_term_match(t, "''");
    (void)cn_term_match(t, "node@host");
    (void)cn_term_match(t, "42");
    (void)cn_term_match(t, "-1");
    (void)cn_term_match(t, "0");
    (void)cn_term_match(t, "9223372036854775807");
    (void)cn_term_match(t, "[]");
    (void)cn_term_match(t, "{}");

    /* nested shapes, the captures used by the runtime */
    if (cn_term_match(t, "{~a, ~i}", a1, &i1))
        FUZZ_ASSERT(strlen(a1) < CN_ATOM_BUF);
    (void)cn_term_match(t, "{_, _}");
    (void)cn_term_match(t, "{_, _, _}");
    if (cn_term_match(t, "{~t, ~t, ~t}", &t1, &t2, &t3)) {
        whole_term(&t1);
        whole_term(&t2);
        whole_term(&t3);
        FUZZ_ASSERT(inside(t, &t1) && inside(t, &t2) && inside(t, &t3));
    }
    (void)cn_term_match(t, "{'$gen_call', {~p, ~t}, ~t}", &p1, &t1, &t2);
    (void)cn_term_match(t, "{'$gen_cast', ~t}", &t1);
    (void)cn_term_match(t, "{~i, ~p, ~p, ~r, ~t}", &i1, &p1, &p2, &r1, &t1);
    (void)cn_term_match(t, "{'DOWN', ~r, process, ~p, ~t}", &r1, &p1, &t1);
    (void)cn_term_match(t, "{~l, ~u, ~f, ~b, ~s}", &l1, &u1, &f1, &bp, &bl, s, sizeof s);
    (void)cn_term_match(t, "{~a, ~A, ~L, ~M, _}", a1, "x", &t1, &t2);
    (void)cn_term_match(t, "{subject, ~p, ~r}", &p1, &r1);
    (void)cn_term_match(t, "{append_entries, ~i, ~i, ~i, ~i, ~L, ~i, ~t}",
                        &i1, &i2, &i3, &i1, &t1, &i2, &t2);

    /* lists, including strings matched element by element; a captured
     * element must stay usable after the match returns */
    if (cn_term_match(t, "[~t]", &t1)) {
        touch(&t1);
        exercise(&t1, depth + 1);
    }
    if (cn_term_match(t, "[~t, ~t]", &t1, &t2)) {
        touch(&t1);
        touch(&t2);
        exercise(&t1, depth + 1);
        exercise(&t2, depth + 1);
    }
    if (cn_term_match(t, "[~i, _, ~t]", &i1, &t1))
        touch(&t1);
    (void)cn_term_match(t, "[~i, ~i, ~i]", &i1, &i2, &i3);
    (void)cn_term_match(t, "[1, 2, 3]");
    (void)cn_term_match(t, "[~a, {~p, ~r}, [~b]]", a1, &p1, &r1, &bp, &bl);
    (void)cn_term_match(t, "[[[_]]]");
    (void)cn_term_match(t, "{[], [{}], {[]}}");
    if (cn_term_match(t, "{~t, {~t, [~t, ~t]}, ~t}", &t1, &t2, &t3, &t4, &t5)) {
        touch(&t3);
        touch(&t4);
        exercise(&t4, depth + 1);
    }
    if (cn_term_match(t, "{~a, ~a}", a1, a2))
        FUZZ_ASSERT(strlen(a1) < CN_ATOM_BUF && strlen(a2) < CN_ATOM_BUF);

    /* malformed patterns: a caller's bug, but must just fail */
    FUZZ_ASSERT(!cn_term_match(t, "{"));
    FUZZ_ASSERT(!cn_term_match(t, "["));
    FUZZ_ASSERT(!cn_term_match(t, "~"));
    FUZZ_ASSERT(!cn_term_match(t, "~?"));
    FUZZ_ASSERT(!cn_term_match(t, "'unterminated"));
    FUZZ_ASSERT(!cn_term_match(t, "_ _"));
    FUZZ_ASSERT(!cn_term_match(t, ""));
    (void)cn_term_match(t, "{_, _");
    (void)cn_term_match(t, "[_, _");
    (void)cn_term_match(t, "{-}");
    (void)cn_term_match(t, "[-]");
}

/* ---- iteration ----------------------------------------------------------- */

static void iterate(const cn_term *t, int depth)
{
    cn_list_iter it;
    cn_term e, k, v;
    uint32_t count, seen = 0;
    int r;

    if (cn_list_begin(&it, t, &count) == 0) {
        int type = cn_term_type(t);
        FUZZ_ASSERT(type == CN_EXT_NIL || type == CN_EXT_LIST || type == CN_EXT_STRING);
        while ((r = cn_list_next(&it, &e)) == 1) {
            whole_term(&e);
            if (type != CN_EXT_STRING)
                FUZZ_ASSERT(inside(t, &e));
            else
                FUZZ_ASSERT(cn_term_type(&e) == CN_EXT_SMALL_INTEGER);
            if (seen < MAX_ELEMS)
                exercise(&e, depth + 1);
            seen++;
            FUZZ_ASSERT(seen <= count);
        }
        if (r == 0)
            FUZZ_ASSERT(seen == count);
        else
            FUZZ_ASSERT(type == CN_EXT_LIST && seen == count);   /* improper tail */
        FUZZ_ASSERT(cn_list_next(&it, &e) == r);
    }

    cn_map_iter mi;
    if (cn_map_begin(&mi, t, &count) == 0) {
        FUZZ_ASSERT(cn_term_type(t) == CN_EXT_MAP);
        seen = 0;
        while ((r = cn_map_next(&mi, &k, &v)) == 1) {
            whole_term(&k);
            whole_term(&v);
            FUZZ_ASSERT(inside(t, &k) && inside(t, &v));
            if (seen < MAX_ELEMS) {
                exercise(&k, depth + 1);
                exercise(&v, depth + 1);
            }
            seen++;
        }
        FUZZ_ASSERT(r == 0 && seen == count);
    } else {
        FUZZ_ASSERT(cn_term_type(t) != CN_EXT_MAP);
    }

    uint32_t arity;
    if (cn_term_element(t, 0, &e, &arity) == 0 || cn_term_type(t) == CN_EXT_SMALL_TUPLE ||
        cn_term_type(t) == CN_EXT_LARGE_TUPLE) {
        FUZZ_ASSERT(cn_term_type(t) == CN_EXT_SMALL_TUPLE ||
                    cn_term_type(t) == CN_EXT_LARGE_TUPLE);
        for (uint32_t i = 0; i < arity && i < MAX_ELEMS; i++) {
            FUZZ_ASSERT(cn_term_element(t, i, &e, NULL) == 0);
            whole_term(&e);
            FUZZ_ASSERT(inside(t, &e));
            exercise(&e, depth + 1);
        }
        if (arity > 0) {
            FUZZ_ASSERT(cn_term_element(t, arity - 1, &e, NULL) == 0);
            whole_term(&e);
            FUZZ_ASSERT(e.data + e.len == t->data + t->len);
        }
        FUZZ_ASSERT(cn_term_element(t, arity, &e, NULL) < 0);
        FUZZ_ASSERT(cn_term_element(t, UINT32_MAX, &e, NULL) < 0);
    }
}

/* ---- one term ------------------------------------------------------------ */

static void exercise(const cn_term *t, int depth)
{
    char out[512], small[8], one[1];
    cn_pid pid;
    cn_ref ref;
    long long ll;

    if (depth > MAX_DEPTH)
        return;
    whole_term(t);
    cn_term_format(t, out, sizeof out);
    FUZZ_ASSERT(strlen(out) < sizeof out);
    cn_term_format(t, small, sizeof small);
    FUZZ_ASSERT(strlen(small) < sizeof small);
    cn_term_format(t, one, sizeof one);
    FUZZ_ASSERT(one[0] == '\0');
    cn_term_format(t, NULL, 0);
    (void)cn_term_is_atom(t, "ok");
    (void)cn_term_get_pid(t, &pid);
    (void)cn_term_get_ref(t, &ref);
    (void)cn_term_get_long(t, &ll);

    iterate(t, depth);
    if (depth <= 1) {
        match_patterns(t, depth);
        rebuild_scalars(t);
    }
    if (depth == 0)
        build_roundtrip(t);
}

/* ---- patterns from the input --------------------------------------------- */

static void fuzz_pattern(const uint8_t *data, size_t size, const cn_term *t)
{
    static const char alphabet[] = "{}[]{}[]__--0123456789  ,,''abzAB@\t";
    char pat[49];
    size_t n = size < sizeof pat - 1 ? size : sizeof pat - 1;
    for (size_t i = 0; i < n; i++)
        pat[i] = alphabet[data[size - n + i] % (sizeof alphabet - 1)];
    pat[n] = '\0';

    if (t)
        (void)cn_term_match(t, pat);

    cn_buf b;
    cn_buf_init(&b);
    cn_term_build(&b, pat);
    if (!cn_buf_failed(&b)) {
        /* a pattern build accepted is a well-formed term that matches it */
        cn_term c = cn_buf_term(&b, 0);
        size_t pos = 0;
        FUZZ_ASSERT(c.len > 0);
        FUZZ_ASSERT(cn_term_check(c.data, c.len, &pos) == 0 && pos == c.len);
        FUZZ_ASSERT(cn_term_match(&c, pat));
    }
    cn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    cn_term t;
    cn_term *any = NULL;

    if (cn_term_from_ext(buf, size, &t) == 0) {
        FUZZ_ASSERT(t.data == buf + 1 && t.len == size - 1);
        /* terms are prefix-free: no shorter buffer is also a whole term */
        cn_term t2;
        FUZZ_ASSERT(cn_term_from_ext(buf, size - 1, &t2) < 0);
        exercise(&t, 0);
        any = &t;
    }

    /* the input as a bare term, possibly followed by other bytes */
    size_t pos = 0;
    cn_term bare;
    if (cn_term_check(buf, size, &pos) == 0) {
        FUZZ_ASSERT(pos > 0 && pos <= size);
        bare.data = buf;
        bare.len = pos;
        exercise(&bare, 0);
        if (!any)
            any = &bare;
    }
    pos = size + 1;
    FUZZ_ASSERT(cn_term_check(buf, size, &pos) < 0);

    fuzz_pattern(data, size, any);

    cn_atom_cleanup();
    return 0;
}
