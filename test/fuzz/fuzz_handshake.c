/* fuzz_handshake.c - libFuzzer target for the version 6 handshake state
 * machine (handshake.h).
 *
 * Input: byte 0 chooses the role (bit 0: 0 initiator, 1 acceptor) and the
 * answer the acceptor gives with cn_hs_decide (bits 1-3: 0 ok,
 * 1 ok_simultaneous, 2 nok, 3 alive, 4 not_allowed, else ok), bit 4 the
 * length size (0: 2 bytes, 1: 4 bytes, as under TLS); the rest is what the
 * peer sends.  The constants below match the seeds made by
 * gen_corpus.escript, so the seeds reach DONE.
 *
 * The peer's bytes are fed twice: all at once, looping cn_hs_feed until it
 * stops consuming, and then as a stream growing one byte at a time.  Both
 * runs must end in the same result and state, having consumed the same
 * bytes and written the same reply bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/dist.h"
#include "../../c_src/node/handshake.h"

#define FUZZ_ASSERT(c)                                                          \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "fuzz_handshake: invariant failed: %s (%s:%d)\n",   \
                    #c, __FILE__, __LINE__);                                    \
            abort();                                                            \
        }                                                                       \
    } while (0)

#define OUR_NAME "fuzz@localhost"
#define PEER_NAME "peer@localhost"
#define COOKIE "fuzzcookie"
#define CHALLENGE 0x1234abcdu
#define CREATION 0x5e5e0001u

typedef struct run {
    cn_hs_result result;
    size_t consumed;
    int names;                          /* CN_HS_NAME results seen */
    cn_buf out;
} run;

static cn_hs hs_whole, hs_stream;
static size_t hdr;                      /* bytes of each message's length */

/* The length of the message at p (hdr bytes, big-endian). */
static size_t msg_len(const char *p)
{
    size_t n = 0;
    for (size_t i = 0; i < hdr; i++)
        n = n << 8 | (unsigned char)p[i];
    return n;
}

static int fixed_challenge(void *buf, size_t len)
{
    uint32_t v = CHALLENGE;
    memcpy(buf, &v, len < sizeof v ? len : sizeof v);
    return 0;
}

static void start(cn_hs *hs, int acceptor, run *r)
{
    cn_buf_init(&r->out);
    r->result = CN_HS_CONTINUE;
    r->consumed = 0;
    r->names = 0;
    cn_hs_init(hs, acceptor ? CN_HS_ACCEPTOR : CN_HS_INITIATOR, OUR_NAME,
               CN_DFLAGS_OURS, CREATION, COOKIE, fixed_challenge,
               acceptor ? NULL : PEER_NAME);
    if (hdr == 4)
        cn_hs_use_long_lengths(hs);
    if (!acceptor)
        cn_hs_start(hs, &r->out);
}

/* One cn_hs_feed, answering CN_HS_NAME; returns the bytes consumed. */
static size_t step(cn_hs *hs, cn_hs_status status, const char *in, size_t len, run *r)
{
    size_t used = 12345;
    cn_hs_result res = cn_hs_feed(hs, in, len, &used, &r->out);
    FUZZ_ASSERT(used <= len);
    if (res == CN_HS_CONTINUE && used == 0)
        FUZZ_ASSERT(len < hdr || len - hdr < msg_len(in));
    if (res == CN_HS_NAME) {
        FUZZ_ASSERT(hs->role == CN_HS_ACCEPTOR && used > 0);
        FUZZ_ASSERT(strchr(hs->peer_name, '@') != NULL);
        FUZZ_ASSERT((hs->peer_flags & CN_DFLAGS_MANDATORY) == CN_DFLAGS_MANDATORY ||
                    (hs->peer_flags & CN_DFLAG_MANDATORY_25_DIGEST));
        r->names++;
        res = cn_hs_decide(hs, status, &r->out);
        FUZZ_ASSERT(res == CN_HS_CONTINUE || res == CN_HS_FAILED);
    }
    if (res == CN_HS_FAILED)
        FUZZ_ASSERT(hs->error != NULL && hs->error[0] != '\0');
    r->result = res;
    r->consumed += used;
    return used;
}

static int finished(const run *r)
{
    return r->result == CN_HS_DONE || r->result == CN_HS_FAILED;
}

/* Our output must be a sequence of well-formed messages with hdr-byte
 * lengths. */
static void check_output(const cn_buf *out)
{
    size_t pos = 0;
    FUZZ_ASSERT(!cn_buf_failed(out));
    while (pos < out->len) {
        FUZZ_ASSERT(out->len - pos >= hdr);
        size_t n = msg_len(out->data + pos);
        FUZZ_ASSERT(n > 0 && out->len - pos - hdr >= n);
        char tag = out->data[pos + hdr];
        FUZZ_ASSERT(tag == 'N' || tag == 's' || tag == 'r' || tag == 'a');
        pos += hdr + n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cn_hs_status statuses[8] = {
        CN_HS_OK, CN_HS_OK_SIMULTANEOUS, CN_HS_NOK, CN_HS_ALIVE,
        CN_HS_NOT_ALLOWED, CN_HS_OK, CN_HS_OK, CN_HS_OK,
    };
    if (size < 1)
        return 0;
    int acceptor = data[0] & 1;
    cn_hs_status status = statuses[(data[0] >> 1) & 7];
    hdr = data[0] & 16 ? 4 : 2;
    size_t len = size - 1;
    /* an exactly sized copy of the peer's bytes */
    char *in = malloc(len ? len : 1);
    if (!in)
        return 0;
    memcpy(in, data + 1, len);

    /* all at once */
    run w;
    start(&hs_whole, acceptor, &w);
    size_t off = 0;
    while (!finished(&w)) {
        size_t used = step(&hs_whole, status, in + off, len - off, &w);
        if (used == 0)
            break;
        off += used;
    }
    FUZZ_ASSERT(w.consumed == off && off <= len);

    /* a byte at a time: only the bytes seen so far are passed */
    run s;
    start(&hs_stream, acceptor, &s);
    off = 0;
    for (size_t end = 0; end <= len && !finished(&s); end++) {
        while (!finished(&s)) {
            size_t used = step(&hs_stream, status, in + off, end - off, &s);
            if (used == 0)
                break;
            off += used;
        }
    }

    FUZZ_ASSERT(w.result == s.result && w.consumed == s.consumed && w.names == s.names);
    FUZZ_ASSERT(hs_whole.state == hs_stream.state);
    FUZZ_ASSERT(w.out.len == s.out.len);
    FUZZ_ASSERT(w.out.len == 0 || memcmp(w.out.data, s.out.data, w.out.len) == 0);
    check_output(&w.out);
    if (w.result == CN_HS_DONE) {
        FUZZ_ASSERT(hs_whole.error == NULL);
        if (!acceptor)
            FUZZ_ASSERT(strcmp(hs_whole.peer_name, PEER_NAME) == 0);
    }
    /* a finished handshake stays finished */
    if (finished(&w)) {
        size_t used = 1;
        cn_buf extra;
        cn_buf_init(&extra);
        FUZZ_ASSERT(cn_hs_feed(&hs_whole, in, len, &used, &extra) == w.result && used == 0);
        FUZZ_ASSERT(extra.len == 0);
        cn_buf_free(&extra);
    }
    /* the loop answers every name at once, so any later decision is out of
     * turn: it fails instead of writing anything */
    {
        cn_buf extra;
        cn_buf_init(&extra);
        FUZZ_ASSERT(cn_hs_decide(&hs_whole, CN_HS_OK, &extra) == CN_HS_FAILED);
        FUZZ_ASSERT(extra.len == 0 && hs_whole.error != NULL);
        cn_buf_free(&extra);
    }

    cn_buf_free(&w.out);
    cn_buf_free(&s.out);
    free(in);
    return 0;
}
