/* term_test.c - unit tests of the term layer: validation of good and bad
 * input, matching, building, round trips through terms made by erl. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/term.h"
#include "check.h"

static int from_hex(const char *h, char *buf, cn_term *t)
{
    size_t n = unhex(h, buf);
    return cn_term_from_ext(buf, n, t);
}

/* Terms produced by erl's term_to_binary (OTP 25). */
#define AE_HEX "83680864000E617070656E645F656E747269657361036101610061006C000000016802610168036400096C6F675F656E747279610368036400037075746D000000016B6D00000001766A610068036400077375626A656374586400077467656E40766D00000009000000006B022C115A00036400077467656E40766D6B022C110003E7B6B2F400027D0E4831"

static void test_erl_terms(void)
{
    char buf[512];
    cn_term t, entries, subj, e;
    int term, leader, pli, plt, commit;
    CHECK(from_hex(AE_HEX, buf, &t) == 0);
    CHECK(cn_term_match(&t, "{append_entries, ~i, ~i, ~i, ~i, ~L, ~i, ~t}",
                        &term, &leader, &pli, &plt, &entries, &commit, &subj));
    CHECK(term == 3 && leader == 1 && pli == 0 && plt == 0 && commit == 0);
    cn_pid owner;
    cn_ref tag;
    CHECK(cn_term_match(&subj, "{subject, ~p, ~r}", &owner, &tag));
    CHECK(strcmp(owner.node, "tgen@vm") == 0 && tag.len == 3);
    cn_list_iter it;
    uint32_t n;
    CHECK(cn_list_begin(&it, &entries, &n) == 0 && n == 1);
    CHECK(cn_list_next(&it, &e) == 1);
    const char *k, *v;
    size_t kl, vl;
    int idx, et;
    CHECK(cn_term_match(&e, "{~i, {log_entry, ~i, {put, ~b, ~b}}}", &idx, &et, &k, &kl, &v, &vl));
    CHECK(idx == 1 && et == 3 && kl == 1 && k[0] == 'k' && vl == 1 && v[0] == 'v');
    CHECK(cn_list_next(&it, &e) == 0);
    /* wrong arity, wrong atom, trailing pattern */
    CHECK(!cn_term_match(&t, "{append_entries, _, _}"));
    CHECK(!cn_term_match(&t, "{request_vote, _, _, _, _, _, _, _}"));
    CHECK(cn_term_match(&t, "{append_entries, _, _, _, _, _, _, _}"));

    CHECK(from_hex("836B0003010203", buf, &t) == 0);     /* [1,2,3] as a string */
    int a, b, c;
    CHECK(cn_term_match(&t, "[~i, ~i, ~i]", &a, &b, &c) && a == 1 && b == 2 && c == 3);
    CHECK(cn_term_match(&t, "[1, 2, 3]"));
    CHECK(!cn_term_match(&t, "[1, 2]"));
    CHECK(from_hex("8362FFFFFFFB", buf, &t) == 0);
    CHECK(cn_term_match(&t, "-5"));
    long big;
    CHECK(from_hex("836E0600000000000001", buf, &t) == 0);
    CHECK(cn_term_match(&t, "~l", &big) && big == (1L << 40));
    CHECK(!cn_term_match(&t, "~i", &a));                  /* out of int range */
    double d;
    CHECK(from_hex("8346400C000000000000", buf, &t) == 0);
    CHECK(cn_term_match(&t, "~f", &d) && d == 3.5);
    CHECK(from_hex("836C0000000264000568E96C6C6F640001786A", buf, &t) == 0);
    char at[CN_ATOM_BUF];
    CHECK(cn_term_match(&t, "[~a, x]", at) && strcmp(at, "h\xc3\xa9llo") == 0);
    CHECK(from_hex("837400000001640001616101", buf, &t) == 0);
    cn_term map;
    CHECK(cn_term_match(&t, "~M", &map));
    char out[256];
    cn_term_format(&t, out, sizeof out);
    CHECK(strcmp(out, "#{a=>1}") == 0);
}

static void test_build_roundtrip(void)
{
    cn_buf b;
    cn_buf_init(&b);
    cn_pid p = { cn_atom_intern("n@h", 3), 7, 0, 99 };
    cn_ref r = { cn_atom_intern("n@h", 3), 99, 3, { 1, 2, 3 } };
    cn_term_build(&b, "{request_vote, ~i, ~l, ~s, ~b, ~p, ~r, [a, 'B c', -3], [], ~f}",
                  5, 1L << 50, "key", "v\0w", (size_t)3, &p, &r, 2.25);
    CHECK(!cn_buf_failed(&b));
    cn_term t = cn_buf_term(&b, 0);
    size_t pos = 0;
    CHECK(cn_term_check(t.data, t.len, &pos) == 0 && pos == t.len);
    int i;
    long l;
    char s[16];
    const char *bp;
    size_t bl;
    cn_pid p2;
    cn_ref r2;
    double d;
    CHECK(cn_term_match(&t, "{request_vote, ~i, ~l, ~s, ~b, ~p, ~r, [a, 'B c', -3], [], ~f}",
                        &i, &l, s, sizeof s, &bp, &bl, &p2, &r2, &d));
    CHECK(i == 5 && l == (1L << 50) && strcmp(s, "key") == 0 && bl == 3 && bp[1] == 0);
    CHECK(cn_pid_eq(&p, &p2) && cn_ref_eq(&r, &r2) && d == 2.25);
    char out[256];
    cn_term_format(&t, out, sizeof out);
    CHECK(strstr(out, "{request_vote,5,") == out);
    /* a bad pattern fails the buffer instead of crashing */
    cn_buf_reset(&b);
    cn_term_build(&b, "{a, ~?}");
    CHECK(cn_buf_failed(&b));
    cn_buf_reset(&b);
    cn_term_build(&b, "{a, b");
    CHECK(cn_buf_failed(&b));
    cn_buf_free(&b);
}

static void test_malformed(void)
{
    char buf[64];
    size_t pos;
    static const char *bad[] = {
        "83",                    /* version only */
        "8368",                  /* tuple without arity */
        "836802",                /* tuple missing elements */
        "836C00000001",          /* list missing element and tail */
        "836CFFFFFFFF6A",        /* absurd list length */
        "8369FFFFFFFF",          /* absurd tuple arity */
        "836D00000005414243",    /* binary shorter than its length */
        "83640005616263",        /* atom shorter than its length */
        "835A0009",              /* ref with 9 words */
        "835200",                /* atom cache ref */
        "8350000000",            /* compressed */
        "83FF",                  /* unknown tag */
        "836A6A",                /* trailing bytes */
        "83580061",              /* pid whose node is not an atom */
        "834D0000000000",        /* bit binary with zero bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cn_term t;
        size_t n = unhex(bad[i], buf);
        int r = cn_term_from_ext(buf, n, &t);
        if (r == 0)
            fprintf(stderr, "accepted bad term %s\n", bad[i]);
        CHECK(r < 0);
    }
    pos = 0;
    CHECK(cn_term_check(NULL, 0, &pos) < 0);
    /* a well-formed term, but a pid whose node name holds a NUL: no pid */
    {
        cn_term t;
        cn_pid p;
        size_t n = unhex("8358" "7704" "61004062" "00000001" "00000000" "00000001", buf);
        CHECK(cn_term_from_ext(buf, n, &t) == 0);
        CHECK(!cn_term_match(&t, "~p", &p));
    }
    /* deep nesting is iterative: a million nested 1-tuples */
    size_t deep = 1000000;
    char *d = malloc(deep * 2 + 2);
    for (size_t i = 0; i < deep; i++) {
        d[2 * i] = 104;
        d[2 * i + 1] = 1;
    }
    d[2 * deep] = 106;
    pos = 0;
    CHECK(cn_term_check(d, 2 * deep + 1, &pos) == 0 && pos == 2 * deep + 1);
    pos = 0;
    CHECK(cn_term_check(d, 2 * deep, &pos) < 0);
    free(d);
}

int main(void)
{
    test_erl_terms();
    test_build_roundtrip();
    test_malformed();
    cn_atom_cleanup();
    return CHECK_DONE("term_test");
}
