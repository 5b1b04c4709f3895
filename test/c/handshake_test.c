/* handshake_test.c - unit tests of the version 6 handshake state machine
 * (handshake.h): two cn_hs talking to each other through buffers, the
 * digest against erl's, digests one byte off, the acceptor's status
 * answers, flags, the old version 5 name message, input that arrives in
 * pieces, what happens without randomness (the handshake and a node's
 * start refuse), and the 4-byte lengths of TLS distribution. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/cn.h"
#include "../../c_src/node/dist.h"
#include "../../c_src/node/handshake.h"
#include "check.h"

#define A_NAME "alpha@host"
#define B_NAME "beta@host"
#define A_CHALLENGE 0x11223344u
#define B_CHALLENGE 0xCAFEBABEu

typedef struct side {
    cn_hs        hs;
    cn_buf       out;               /* written, not yet delivered */
    cn_hs_result res;
    int          names;             /* CN_HS_NAME results */
} side;

static cn_hs_status decision;       /* what acceptors answer */

/* Random sources: each side's fixed challenge, and none at all. */
static int fixed_random(void *buf, size_t len, uint32_t v)
{
    memcpy(buf, &v, len < sizeof v ? len : sizeof v);
    return 0;
}
static int rnd_a(void *buf, size_t len) { return fixed_random(buf, len, A_CHALLENGE); }
static int rnd_b(void *buf, size_t len) { return fixed_random(buf, len, B_CHALLENGE); }
static int no_random(void *buf, size_t len)
{
    (void)buf;
    (void)len;
    return -1;
}

static void setup(side *a, side *b, const char *cookie_a, const char *cookie_b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    cn_buf_init(&a->out);
    cn_buf_init(&b->out);
    cn_hs_init(&a->hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 0x5001, cookie_a,
               rnd_a, B_NAME);
    cn_hs_init(&b->hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 0x6002, cookie_b,
               rnd_b, NULL);
    a->res = b->res = CN_HS_CONTINUE;
    cn_hs_start(&a->hs, &a->out);
}

static void teardown(side *a, side *b)
{
    cn_buf_free(&a->out);
    cn_buf_free(&b->out);
}

static int over(const side *s) { return s->res == CN_HS_DONE || s->res == CN_HS_FAILED; }

/* Feeds what src wrote to dst, one message at a time; 1 if any was taken. */
static int deliver(side *src, side *dst)
{
    size_t off = 0;
    while (off < src->out.len && !over(dst)) {
        size_t used;
        dst->res = cn_hs_feed(&dst->hs, src->out.data + off, src->out.len - off, &used,
                              &dst->out);
        if (dst->res == CN_HS_NAME) {
            dst->names++;
            dst->res = cn_hs_decide(&dst->hs, decision, &dst->out);
        }
        if (used == 0)
            break;
        off += used;
    }
    cn_buf_consume(&src->out, off);
    return off > 0;
}

static void converse(side *a, side *b)
{
    for (int i = 0; i < 20; i++)
        if (!(deliver(a, b) | deliver(b, a)))
            break;
}

/* Appends one handshake message (2-byte length) to b. */
static void put_msg(cn_buf *b, const void *body, size_t n)
{
    cn_buf_put16(b, (uint16_t)n);
    cn_buf_append(b, body, n);
}

/* An 'N' message: name (challenge 0) or challenge form. */
static void put_name_msg(cn_buf *b, uint64_t flags, int with_challenge, uint32_t challenge,
                         const char *name)
{
    cn_buf m;
    cn_buf_init(&m);
    cn_buf_put8(&m, 'N');
    cn_buf_put64(&m, flags);
    if (with_challenge)
        cn_buf_put32(&m, challenge);
    cn_buf_put32(&m, 7);
    cn_buf_put16(&m, (uint16_t)strlen(name));
    cn_buf_append(&m, name, strlen(name));
    put_msg(b, m.data, m.len);
    cn_buf_free(&m);
}

/* Feeds all of in to hs as one stream; returns the last result. */
static cn_hs_result feed_all(cn_hs *hs, const cn_buf *in, cn_buf *out, size_t *consumed)
{
    size_t off = 0, used;
    cn_hs_result r = CN_HS_CONTINUE;
    do {
        r = cn_hs_feed(hs, in->data + off, in->len - off, &used, out);
        off += used;
    } while (r == CN_HS_CONTINUE && used > 0);
    if (consumed)
        *consumed = off;
    return r;
}

/* ---- two state machines ---------------------------------------------------- */

static void test_same_cookie(void)
{
    side a, b;
    decision = CN_HS_OK;
    setup(&a, &b, "monster", "monster");
    CHECK(a.out.len == 2 + 1 + 8 + 4 + 2 + strlen(A_NAME));
    converse(&a, &b);
    CHECK(a.res == CN_HS_DONE && b.res == CN_HS_DONE);
    CHECK(a.hs.error == NULL && b.hs.error == NULL);
    CHECK(b.names == 1 && strcmp(b.hs.peer_name, A_NAME) == 0);
    CHECK(strcmp(a.hs.peer_name, B_NAME) == 0);
    CHECK(a.hs.peer_flags == CN_DFLAGS_OURS && b.hs.peer_flags == CN_DFLAGS_OURS);
    CHECK(a.hs.peer_creation == 0x6002 && b.hs.peer_creation == 0x5001);
    CHECK(a.hs.peer_challenge == B_CHALLENGE && b.hs.peer_challenge == A_CHALLENGE);
    CHECK(a.out.len == 0 && b.out.len == 0);
    /* done is done: more input is not looked at */
    size_t used = 99;
    CHECK(cn_hs_feed(&a.hs, "\0\1x", 3, &used, &a.out) == CN_HS_DONE && used == 0);
    CHECK(a.out.len == 0);
    teardown(&a, &b);

    /* ok_simultaneous works the same, with its own status text */
    decision = CN_HS_OK_SIMULTANEOUS;
    setup(&a, &b, "monster", "monster");
    CHECK(deliver(&a, &b) && b.names == 1);
    CHECK(b.out.len >= 2 + 16 && memcmp(b.out.data, "\0\x10sok_simultaneous", 18) == 0);
    converse(&a, &b);
    CHECK(a.res == CN_HS_DONE && b.res == CN_HS_DONE);
    teardown(&a, &b);
}

static void test_different_cookie(void)
{
    side a, b;
    decision = CN_HS_OK;
    setup(&a, &b, "monster", "cookie-monster");
    converse(&a, &b);
    /* the acceptor checks the initiator's digest first and says why */
    CHECK(b.res == CN_HS_FAILED && b.hs.error && strstr(b.hs.error, "cookie"));
    /* it sends no ack, so the initiator is left waiting for one */
    CHECK(a.res == CN_HS_CONTINUE);
    teardown(&a, &b);

    /* an acceptor with another cookie that acked anyway: the initiator
     * rejects the ack and says why */
    setup(&a, &b, "monster", "monster");
    converse(&a, &b);
    CHECK(a.res == CN_HS_DONE);
    cn_hs_init(&a.hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "monster", rnd_a,
               B_NAME);
    cn_buf in, out;
    cn_buf_init(&in);
    cn_buf_init(&out);
    put_msg(&in, "sok", 3);
    put_name_msg(&in, CN_DFLAGS_OURS, 1, B_CHALLENGE, B_NAME);
    unsigned char ack[17] = { 'a' };
    cn_hs_digest("not-monster", A_CHALLENGE, ack + 1);
    put_msg(&in, ack, sizeof ack);
    CHECK(feed_all(&a.hs, &in, &out, NULL) == CN_HS_FAILED);
    CHECK(a.hs.error && strstr(a.hs.error, "cookie"));
    /* the same with the right ack succeeds */
    cn_hs_init(&a.hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "monster", rnd_a,
               B_NAME);
    cn_hs_digest("monster", A_CHALLENGE, ack + 1);
    in.len -= 2 + sizeof ack;
    put_msg(&in, ack, sizeof ack);
    cn_buf_reset(&out);
    CHECK(feed_all(&a.hs, &in, &out, NULL) == CN_HS_DONE);
    cn_buf_free(&in);
    cn_buf_free(&out);
    teardown(&a, &b);
}

/* ---- digest ------------------------------------------------------------------- */

static void test_digest(void)
{
    /* erlang:md5(Cookie ++ integer_to_list(Challenge)), computed with erl */
    static const struct { const char *cookie; uint32_t challenge; const char *md5; } v[] = {
        { "fuzzcookie", 0x1234abcd, "7c6cc53c339751b9498a7bd5533f810d" },
        { "COOKIE", 0, "a53a0220926aeac7262d5c2689f9b779" },
        { "secret", 4294967295u, "5dfd181e69aa587cc812eb333e6536b6" },
        { "", 42, "a1d0c6e83f027327d8461063f4ac58a6" },
        { "ABCDEFGHIJKLMNOPQRST", 1234567, "219553cea222e8e53b88c759bf24f4f9" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char got[16], want[16];
        unhex(v[i].md5, (char *)want);
        cn_hs_digest(v[i].cookie, v[i].challenge, got);
        CHECK(memcmp(got, want, 16) == 0);
    }
}

/* ---- digests one byte off ------------------------------------------------------- */

/* What an acceptor that challenged A with B_CHALLENGE makes of A's reply
 * carrying digest d; out gets what it writes after the reply. */
static cn_hs_result acceptor_verdict(const unsigned char d[16], cn_buf *out)
{
    cn_hs hs;
    cn_buf in;
    size_t used;
    unsigned char reply[21] = { 'r', 0x11, 0x22, 0x33, 0x44 };    /* A_CHALLENGE */
    cn_buf_init(&in);
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, A_NAME);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, out) == CN_HS_NAME);
    CHECK(cn_hs_decide(&hs, CN_HS_OK, out) == CN_HS_CONTINUE);
    cn_buf_reset(out);
    cn_buf_reset(&in);
    memcpy(reply + 5, d, 16);
    put_msg(&in, reply, sizeof reply);
    cn_hs_result r = feed_all(&hs, &in, out, NULL);
    if (r == CN_HS_FAILED && !strstr(hs.error, "cookie"))
        r = CN_HS_CONTINUE;             /* refused, but not for the digest */
    cn_buf_free(&in);
    return r;
}

/* What an initiator that sent A_CHALLENGE makes of an ack carrying d. */
static cn_hs_result initiator_verdict(const unsigned char d[16])
{
    cn_hs hs;
    cn_buf in, out;
    unsigned char ack[17] = { 'a' };
    cn_buf_init(&in);
    cn_buf_init(&out);
    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", rnd_a, B_NAME);
    put_msg(&in, "sok", 3);
    put_name_msg(&in, CN_DFLAGS_OURS, 1, B_CHALLENGE, B_NAME);
    memcpy(ack + 1, d, 16);
    put_msg(&in, ack, sizeof ack);
    cn_hs_result r = feed_all(&hs, &in, &out, NULL);
    if (r == CN_HS_FAILED && !strstr(hs.error, "cookie"))
        r = CN_HS_CONTINUE;
    cn_buf_free(&in);
    cn_buf_free(&out);
    return r;
}

/* Every digest that differs from the right one in a single byte, by any
 * value, is refused on both sides; the right one is taken. */
static void test_digest_one_byte_off(void)
{
    unsigned char reply_ok[16], ack_ok[16], d[16];
    cn_buf out;
    cn_buf_init(&out);
    cn_hs_digest("c", B_CHALLENGE, reply_ok);
    cn_hs_digest("c", A_CHALLENGE, ack_ok);
    int acc_refused = 0, ini_refused = 0, acc_silent = 1;
    for (int pos = 0; pos < 16; pos++) {
        for (int delta = 1; delta < 256; delta++) {
            memcpy(d, reply_ok, 16);
            d[pos] ^= (unsigned char)delta;
            acc_refused += acceptor_verdict(d, &out) == CN_HS_FAILED;
            acc_silent &= out.len == 0;     /* no ack for a wrong digest */
            memcpy(d, ack_ok, 16);
            d[pos] ^= (unsigned char)delta;
            ini_refused += initiator_verdict(d) == CN_HS_FAILED;
        }
    }
    CHECK(acc_refused == 16 * 255 && acc_silent);
    CHECK(ini_refused == 16 * 255);
    CHECK(acceptor_verdict(reply_ok, &out) == CN_HS_DONE && out.len == 2 + 17);
    CHECK(initiator_verdict(ack_ok) == CN_HS_DONE);
    cn_buf_free(&out);
}

/* ---- no randomness --------------------------------------------------------------- */

/* A handshake that cannot draw its challenge refuses, on either side,
 * without sending a challenge or a reply; a node that cannot draw random
 * numbers does not start. */
static void test_no_random(void)
{
    cn_hs hs;
    cn_buf in, out;
    size_t used;
    cn_buf_init(&in);
    cn_buf_init(&out);

    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", no_random, NULL);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, A_NAME);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_NAME);
    CHECK(cn_hs_decide(&hs, CN_HS_OK, &out) == CN_HS_FAILED);
    CHECK(hs.error && strstr(hs.error, "random") && out.len == 0);
    /* nor after alive */
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", no_random, NULL);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_NAME);
    CHECK(cn_hs_decide(&hs, CN_HS_ALIVE, &out) == CN_HS_FAILED && out.len == 0);
    /* without a source at all */
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", NULL, NULL);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_NAME);
    CHECK(cn_hs_decide(&hs, CN_HS_OK, &out) == CN_HS_FAILED && out.len == 0);

    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", no_random, B_NAME);
    cn_buf_reset(&in);
    put_msg(&in, "sok", 3);
    put_name_msg(&in, CN_DFLAGS_OURS, 1, B_CHALLENGE, B_NAME);
    CHECK(feed_all(&hs, &in, &out, NULL) == CN_HS_FAILED);
    CHECK(hs.error && strstr(hs.error, "random") && out.len == 0);

    uv_loop_t loop;
    char err[256] = "";
    uv_loop_init(&loop);
    cn_node_config cfg = { .name = "norandom", .cookie = "c", .no_signals = 1,
                           .random = no_random };
    CHECK(cn_node_start(&loop, &cfg, err, sizeof err) == NULL);
    CHECK(strstr(err, "random") != NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);

    cn_buf_free(&in);
    cn_buf_free(&out);
}

/* ---- status answers -------------------------------------------------------------- */

static void test_status(void)
{
    side a, b;

    /* nok: the acceptor keeps its own attempt; both stop, the initiator
     * knows it was nok (it then waits for the peer to dial it) */
    decision = CN_HS_NOK;
    setup(&a, &b, "c", "c");
    converse(&a, &b);
    CHECK(b.res == CN_HS_FAILED && b.hs.error && strstr(b.hs.error, "nok"));
    CHECK(a.res == CN_HS_FAILED && a.hs.nok == 1 && strstr(a.hs.error, "nok"));
    teardown(&a, &b);

    /* not_allowed */
    decision = CN_HS_NOT_ALLOWED;
    setup(&a, &b, "c", "c");
    CHECK(deliver(&a, &b));
    CHECK(b.out.len == 2 + 12 && memcmp(b.out.data, "\0\x0csnot_allowed", 14) == 0);
    converse(&a, &b);
    CHECK(b.res == CN_HS_FAILED && b.hs.error != NULL);
    CHECK(a.res == CN_HS_FAILED && a.hs.nok == 0 && strstr(a.hs.error, "not_allowed"));
    teardown(&a, &b);

    /* alive: the initiator confirms with "strue", then all goes on */
    decision = CN_HS_ALIVE;
    setup(&a, &b, "c", "c");
    CHECK(deliver(&a, &b) && b.res == CN_HS_CONTINUE);
    CHECK(b.out.len == 2 + 6 && memcmp(b.out.data, "\0\x06salive", 8) == 0);
    CHECK(deliver(&b, &a) && a.res == CN_HS_CONTINUE);
    CHECK(a.out.len == 2 + 5 && memcmp(a.out.data, "\0\x05strue", 7) == 0);
    converse(&a, &b);
    CHECK(a.res == CN_HS_DONE && b.res == CN_HS_DONE);
    teardown(&a, &b);

    /* alive answered with "sfalse": the acceptor gives up */
    cn_hs hs;
    cn_buf in, out;
    cn_buf_init(&in);
    cn_buf_init(&out);
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, A_NAME);
    size_t used;
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_NAME && used == in.len);
    CHECK(cn_hs_decide(&hs, CN_HS_ALIVE, &out) == CN_HS_CONTINUE);
    cn_buf_reset(&in);
    put_msg(&in, "sfalse", 6);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_FAILED && hs.error);

    /* an unknown status fails the initiator */
    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", rnd_a, B_NAME);
    cn_buf_reset(&in);
    put_msg(&in, "smaybe", 6);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_FAILED && hs.error);
    /* as does a status that is not an 's' message */
    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", rnd_a, B_NAME);
    cn_buf_reset(&in);
    put_msg(&in, "xok", 3);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_FAILED && hs.error);

    /* a decision out of turn */
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    cn_buf_reset(&out);
    CHECK(cn_hs_decide(&hs, CN_HS_OK, &out) == CN_HS_FAILED && out.len == 0 && hs.error);
    cn_buf_free(&in);
    cn_buf_free(&out);
}

/* ---- flags, names and old versions ---------------------------------------------- */

static cn_hs_result acceptor_gets(const cn_buf *in, cn_hs *hs)
{
    cn_buf out;
    cn_buf_init(&out);
    cn_hs_init(hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    cn_hs_result r = feed_all(hs, in, &out, NULL);
    cn_buf_free(&out);
    return r;
}

static void test_flags_and_names(void)
{
    cn_hs hs;
    cn_buf in;
    cn_buf_init(&in);

    /* every mandatory flag missing in turn */
    for (int bit = 0; bit < 64; bit++) {
        uint64_t f = 1ULL << bit;
        if (!(CN_DFLAGS_MANDATORY & f))
            continue;
        cn_buf_reset(&in);
        put_name_msg(&in, CN_DFLAGS_OURS & ~f, 0, 0, A_NAME);
        CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
        CHECK(hs.error && strstr(hs.error, "flags"));
    }
    /* an OTP 22 style set */
    cn_buf_reset(&in);
    put_name_msg(&in, 0x3499c, 0, 0, A_NAME);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED && strstr(hs.error, "flags"));
    /* MANDATORY_25_DIGEST stands for all of them */
    cn_buf_reset(&in);
    put_name_msg(&in, CN_DFLAG_MANDATORY_25_DIGEST, 0, 0, A_NAME);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_NAME && hs.peer_flags == CN_DFLAG_MANDATORY_25_DIGEST);
    /* what OTP 25 sends */
    cn_buf_reset(&in);
    put_name_msg(&in, 0xD07DF7FBCull, 0, 0, A_NAME);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_NAME && strcmp(hs.peer_name, A_NAME) == 0);
    CHECK(hs.peer_creation == 7);

    /* the initiator checks the acceptor's flags too */
    cn_buf out;
    cn_buf_init(&out);
    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", rnd_a, B_NAME);
    cn_buf_reset(&in);
    put_msg(&in, "sok", 3);
    put_name_msg(&in, CN_DFLAGS_OURS & ~CN_DFLAG_HANDSHAKE_23, 1, B_CHALLENGE, B_NAME);
    CHECK(feed_all(&hs, &in, &out, NULL) == CN_HS_FAILED && strstr(hs.error, "flags"));
    /* and the name it answers with */
    cn_hs_init(&hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 1, "c", rnd_a, B_NAME);
    cn_buf_reset(&in);
    put_msg(&in, "sok", 3);
    put_name_msg(&in, CN_DFLAGS_OURS, 1, B_CHALLENGE, "gamma@host");
    CHECK(feed_all(&hs, &in, &out, NULL) == CN_HS_FAILED && strstr(hs.error, "name"));

    /* the old version 5 name message */
    static const unsigned char v5[] = { 'n', 0, 5, 0, 0x07, 0xff, 0xfd,
                                        'a', 'l', 'p', 'h', 'a', '@', 'h', 'o', 's', 't' };
    cn_buf_reset(&in);
    put_msg(&in, v5, sizeof v5);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED && strstr(hs.error, "version 5"));

    /* malformed names: no '@', a NUL, a length that disagrees, empty */
    cn_buf_reset(&in);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, "alphahost");
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
    cn_buf_reset(&in);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, "");
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
    {
        unsigned char m[] = { 'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 'a', 0, '@' };
        uint64_t f = CN_DFLAGS_OURS;
        for (int i = 0; i < 8; i++)
            m[1 + i] = (unsigned char)(f >> (56 - 8 * i));
        cn_buf_reset(&in);
        put_msg(&in, m, sizeof m);
        CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
        m[14] = 4;                          /* longer than the message */
        cn_buf_reset(&in);
        put_msg(&in, m, sizeof m);
        CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
        m[14] = 2;                          /* shorter: bytes left over */
        cn_buf_reset(&in);
        put_msg(&in, m, sizeof m);
        CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED);
    }
    /* a name message too short for its fields */
    cn_buf_reset(&in);
    put_msg(&in, "N\0\0\0", 4);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED && hs.error);
    /* a reply in place of the name */
    cn_buf_reset(&in);
    put_msg(&in, "r0123456789abcdefghij", 21);
    CHECK(acceptor_gets(&in, &hs) == CN_HS_FAILED && hs.error);

    cn_buf_free(&in);
    cn_buf_free(&out);
}

/* ---- input in pieces ---------------------------------------------------------------- */

static void test_truncated(void)
{
    cn_hs hs;
    cn_buf in, out;
    size_t used;
    cn_buf_init(&in);
    cn_buf_init(&out);
    put_name_msg(&in, CN_DFLAGS_OURS, 0, 0, A_NAME);

    /* every proper prefix of the name message: wait, take nothing, say
     * nothing */
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    for (size_t n = 0; n < in.len; n++) {
        char *p = malloc(n ? n : 1);       /* exactly sized: no peeking past */
        memcpy(p, in.data, n);
        used = 99;
        CHECK(cn_hs_feed(&hs, p, n, &used, &out) == CN_HS_CONTINUE && used == 0);
        free(p);
    }
    CHECK(out.len == 0 && hs.error == NULL);
    CHECK(cn_hs_feed(&hs, in.data, in.len, &used, &out) == CN_HS_NAME && used == in.len);

    /* a whole conversation fed a byte at a time reaches DONE */
    side a, b;
    decision = CN_HS_OK;
    setup(&a, &b, "c", "c");
    for (int round = 0; round < 10 && !(over(&a) && over(&b)); round++) {
        side *src = round % 2 ? &b : &a, *dst = round % 2 ? &a : &b;
        size_t off = 0;
        for (size_t end = 1; end <= src->out.len && !over(dst); end++) {
            for (;;) {
                dst->res = cn_hs_feed(&dst->hs, src->out.data + off, end - off, &used,
                                      &dst->out);
                if (dst->res == CN_HS_NAME)
                    dst->res = cn_hs_decide(&dst->hs, decision, &dst->out);
                off += used;
                if (!used || over(dst))
                    break;
            }
        }
        cn_buf_consume(&src->out, off);
    }
    CHECK(a.res == CN_HS_DONE && b.res == CN_HS_DONE);
    teardown(&a, &b);

    /* impossible lengths fail at once */
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    CHECK(cn_hs_feed(&hs, "\0\0", 2, &used, &out) == CN_HS_FAILED && hs.error);
    cn_hs_init(&hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 1, "c", rnd_b, NULL);
    CHECK(cn_hs_feed(&hs, "\xff\xff", 2, &used, &out) == CN_HS_FAILED && hs.error);

    cn_buf_free(&in);
    cn_buf_free(&out);
}

/* Under TLS (inet_tls_dist) every message has a 4-byte length. */
static void test_long_lengths(void)
{
    side a, b;
    decision = CN_HS_OK;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    cn_hs_init(&a.hs, CN_HS_INITIATOR, A_NAME, CN_DFLAGS_OURS, 0x5001, "monster", rnd_a, B_NAME);
    cn_hs_init(&b.hs, CN_HS_ACCEPTOR, B_NAME, CN_DFLAGS_OURS, 0x6002, "monster", rnd_b, NULL);
    cn_hs_use_long_lengths(&a.hs);
    cn_hs_use_long_lengths(&b.hs);
    a.res = b.res = CN_HS_CONTINUE;
    cn_hs_start(&a.hs, &a.out);
    size_t body = 1 + 8 + 4 + 2 + strlen(A_NAME);
    CHECK(a.out.len == 4 + body && a.out.data[0] == 0 && a.out.data[1] == 0 &&
          (unsigned char)a.out.data[2] == body >> 8 && (unsigned char)a.out.data[3] == (body & 255));
    CHECK(deliver(&a, &b) && b.names == 1);
    CHECK(b.out.len >= 7 && memcmp(b.out.data, "\0\0\0\3sok", 7) == 0);
    converse(&a, &b);
    CHECK(a.res == CN_HS_DONE && b.res == CN_HS_DONE && a.out.len == 0 && b.out.len == 0);
    teardown(&a, &b);

    /* a 2-byte peer is not understood: its length reads as impossible */
    setup(&a, &b, "monster", "monster");
    cn_hs_use_long_lengths(&b.hs);
    deliver(&a, &b);
    CHECK(b.res == CN_HS_FAILED && b.names == 0);
    teardown(&a, &b);
}

int main(void)
{
    test_long_lengths();
    test_same_cookie();
    test_different_cookie();
    test_digest();
    test_digest_one_byte_off();
    test_no_random();
    test_status();
    test_flags_and_names();
    test_truncated();
    return CHECK_DONE("handshake_test");
}
