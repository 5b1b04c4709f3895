/* epmd_test.c - unit tests of the pure epmd code (epmd.c): the
 * PORT_PLEASE2 request bytes and the PORT2_RESP parser on complete,
 * partial, error and malformed replies; the ALIVE2 registration request
 * and its reply. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/internal.h"
#include "check.h"

/* Parses from an exactly sized copy, so ASan sees any read past it. */
static int parse(const unsigned char *b, size_t len, int *port, const char **err)
{
    unsigned char *p = malloc(len ? len : 1);
    memcpy(p, b, len);
    int r = cn__epmd_parse_port2(p, len, port, err);
    free(p);
    return r;
}

static void test_request(void)
{
    cn_buf b;
    cn_buf_init(&b);
    cn__epmd_put_port_please(&b, "echo");
    CHECK(b.len == 7 && memcmp(b.data, "\x00\x05\x7a" "echo", 7) == 0);
    cn_buf_reset(&b);
    cn__epmd_put_port_please(&b, "");
    CHECK(b.len == 3 && memcmp(b.data, "\x00\x01\x7a", 3) == 0);
    /* a 300-byte name: the length is two bytes */
    char name[301];
    memset(name, 'n', 300);
    name[300] = '\0';
    cn_buf_reset(&b);
    cn__epmd_put_port_please(&b, name);
    CHECK(b.len == 303 && (unsigned char)b.data[0] == 0x01 && (unsigned char)b.data[1] == 0x2D);
    CHECK(b.data[2] == 122 && memcmp(b.data + 3, name, 300) == 0);
    /* appends to what is there */
    cn_buf_reset(&b);
    cn_buf_put8(&b, 0xEE);
    cn__epmd_put_port_please(&b, "x");
    CHECK(b.len == 5 && memcmp(b.data, "\xEE\x00\x02\x7ax", 5) == 0);
    cn_buf_free(&b);
}

/* 119, 0, port 40000, normal node (77), tcp (0), highest 6, lowest 5,
 * name "peer", extra "" */
static const unsigned char GOOD[] = {
    119, 0, 0x9C, 0x40, 77, 0, 0, 6, 0, 5, 0, 4, 'p', 'e', 'e', 'r', 0, 0,
};

static void test_complete(void)
{
    int port;
    const char *err;
    CHECK(parse(GOOD, sizeof GOOD, &port, &err) == 1 && port == 40000 && err == NULL);

    /* with extra bytes and a hidden node type */
    static const unsigned char extra[] = {
        119, 0, 0x9C, 0x41, 72, 0, 0, 6, 0, 5, 0, 4, 'n', 'o', 'd', 'e', 0, 3, 'a', 'b', 'c',
    };
    CHECK(parse(extra, sizeof extra, &port, &err) == 1 && port == 40001 && err == NULL);

    /* a later version range that still includes 6 */
    static const unsigned char v7[] = {
        119, 0, 0x12, 0x34, 77, 0, 0, 7, 0, 6, 0, 1, 'p', 0, 0,
    };
    CHECK(parse(v7, sizeof v7, &port, &err) == 1 && port == 0x1234 && err == NULL);

    /* port 65535 */
    static const unsigned char top[] = {
        119, 0, 0xFF, 0xFF, 77, 0, 0, 6, 0, 5, 0, 1, 'p', 0, 0,
    };
    CHECK(parse(top, sizeof top, &port, &err) == 1 && port == 65535);

    /* a reply from a real epmd (OTP 25), for the node cn_fuzz_corpus */
    static const unsigned char real[] = {
        0x77, 0x00, 0xa7, 0xdb, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x0e, 'c', 'n',
        '_', 'f', 'u', 'z', 'z', '_', 'c', 'o', 'r', 'p', 'u', 's', 0x00, 0x00,
    };
    CHECK(parse(real, sizeof real, &port, &err) == 1 && port == 0xa7db && err == NULL);
}

static void test_partial(void)
{
    int port;
    const char *err;
    /* every proper prefix of a good reply asks for more */
    for (size_t n = 0; n < sizeof GOOD; n++) {
        port = -1;
        err = "x";
        int r = parse(GOOD, n, &port, &err);
        if (r != 0)
            fprintf(stderr, "prefix of %zu bytes gave %d\n", n, r);
        CHECK(r == 0 && port == 0 && err == NULL);
    }
    /* the extra field's bytes count too */
    static const unsigned char extra[] = {
        119, 0, 0x9C, 0x41, 72, 0, 0, 6, 0, 5, 0, 1, 'n', 0, 3, 'a', 'b', 'c',
    };
    CHECK(parse(extra, sizeof extra - 1, &port, &err) == 0);
    CHECK(parse(extra, sizeof extra, &port, &err) == 1 && port == 40001);
    /* a name length that runs far past what came */
    static const unsigned char longname[] = {
        119, 0, 0x9C, 0x41, 77, 0, 0, 6, 0, 5, 0xFF, 0xFF, 'a', 'b',
    };
    CHECK(parse(longname, sizeof longname, &port, &err) == 0);
}

static void test_errors(void)
{
    int port;
    const char *err;
    /* not registered: any non-zero result, decided from two bytes */
    static const unsigned char nreg[] = { 119, 1 };
    CHECK(parse(nreg, 2, &port, &err) == 1 && port == 0 && err != NULL);
    static const unsigned char nreg2[] = { 119, 0xFF, 0, 0 };
    CHECK(parse(nreg2, 4, &port, &err) == 1 && port == 0 && err != NULL);
    /* a complete reply whose node cannot be dialled */
    static const unsigned char sctp[] = {
        119, 0, 0x12, 0x34, 77, 1, 0, 6, 0, 5, 0, 1, 'p', 0, 0,
    };
    CHECK(parse(sctp, sizeof sctp, &port, &err) == 1 && port == 0 && err && strstr(err, "TCP"));
    static const unsigned char old[] = {
        119, 0, 0x12, 0x34, 77, 0, 0, 5, 0, 1, 0, 1, 'p', 0, 0,
    };
    CHECK(parse(old, sizeof old, &port, &err) == 1 && port == 0 && err && strstr(err, "6"));
    /* but only once the reply is complete */
    CHECK(parse(sctp, sizeof sctp - 1, &port, &err) == 0 && err == NULL);
}

static void test_malformed(void)
{
    int port;
    const char *err;
    /* a reply to another request (ALIVE2_RESP 121, PORT_PLEASE 122...) */
    static const unsigned char other[] = { 121, 0, 0, 1 };
    CHECK(parse(other, sizeof other, &port, &err) == -1 && err != NULL && port == 0);
    static const unsigned char zero[] = { 0, 0 };
    CHECK(parse(zero, 2, &port, &err) == -1 && err != NULL);
    /* one byte is not enough to tell */
    CHECK(parse(other, 1, &port, &err) == 0);
    /* port 0 */
    static const unsigned char p0[] = {
        119, 0, 0, 0, 77, 0, 0, 6, 0, 5, 0, 1, 'p', 0, 0,
    };
    CHECK(parse(p0, sizeof p0, &port, &err) == -1 && port == 0 && err != NULL);
}

static int parse_alive2(const unsigned char *b, size_t len, const char **err)
{
    unsigned char *p = malloc(len ? len : 1);
    memcpy(p, b, len);
    int r = cn__epmd_parse_alive2(p, len, err);
    free(p);
    return r;
}

static void test_alive2(void)
{
    cn_buf b;
    cn_buf_init(&b);
    cn__epmd_put_alive2(&b, "echo", 0x9C40);
    /* as erl_epmd sends it, but hidden (72) and version 6 only */
    static const unsigned char want[] = {
        0, 17, 120, 0x9C, 0x40, 72, 0, 0, 6, 0, 6, 0, 4, 'e', 'c', 'h', 'o', 0, 0,
    };
    CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
    cn_buf_free(&b);

    const char *err;
    static const unsigned char x_ok[] = { 118, 0, 0, 0, 0, 7 };
    static const unsigned char ok[] = { 121, 0, 0, 7 };
    static const unsigned char taken[] = { 118, 1, 0, 0, 0, 0 };
    static const unsigned char odd[] = { 119, 0, 0, 0 };
    for (size_t n = 0; n < sizeof x_ok; n++)
        CHECK(parse_alive2(x_ok, n, &err) == 0 && err == NULL);
    CHECK(parse_alive2(x_ok, sizeof x_ok, &err) == 1 && err == NULL);
    CHECK(parse_alive2(ok, 3, &err) == 0);
    CHECK(parse_alive2(ok, sizeof ok, &err) == 1);
    CHECK(parse_alive2(taken, 2, &err) == -1 && err && strstr(err, "in use"));
    CHECK(parse_alive2(odd, 2, &err) == -1 && err != NULL);
}

int main(void)
{
    test_alive2();
    test_request();
    test_complete();
    test_partial();
    test_errors();
    test_malformed();
    return CHECK_DONE("epmd_test");
}
