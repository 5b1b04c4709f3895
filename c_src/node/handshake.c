/* handshake.c - version 6 distribution handshake state machine (handshake.h).
 * Mirrors kernel's dist_util.erl; pure apart from MD5 from libcrypto and the
 * random source it is given.  Digests are compared in constant time, so
 * timing tells a guesser nothing about how close a digest came.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dist.h"
#include "handshake.h"

enum {
    /* initiator */
    HS_I_STATUS,        /* sent name, want 's' */
    HS_I_CHALLENGE,     /* want 'N' challenge */
    HS_I_ACK,           /* sent reply, want 'a' */
    /* acceptor */
    HS_A_NAME,          /* want 'N' name */
    HS_A_DECIDE,        /* got name, caller decides */
    HS_A_ALIVE_REPLY,   /* sent alive, want 's' true|false */
    HS_A_REPLY,         /* sent challenge, want 'r' */
    HS_DONE,
    HS_FAILED,
};

#define HS_MAX_MSG 2048

void cn_hs_digest(const char *cookie, uint32_t challenge, unsigned char out[16])
{
    char digits[16];
    int n = snprintf(digits, sizeof digits, "%u", challenge);
    unsigned int olen = 16;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) ||
        !EVP_DigestUpdate(ctx, cookie, strlen(cookie)) ||
        !EVP_DigestUpdate(ctx, digits, (size_t)n) || !EVP_DigestFinal_ex(ctx, out, &olen))
        memset(out, 0, 16);         /* matches no peer's digest: the handshake fails */
    EVP_MD_CTX_free(ctx);
}

int cn_hs_digest_ok(const char *cookie, uint32_t challenge, const unsigned char got[16])
{
    unsigned char want[16];
    cn_hs_digest(cookie, challenge, want);
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

void cn_hs_init(cn_hs *hs, cn_hs_role role, const char *our_name, uint64_t our_flags,
                uint32_t our_creation, const char *cookie, cn_hs_random random,
                const char *peer_name)
{
    memset(hs, 0, sizeof *hs);
    hs->role = role;
    hs->state = role == CN_HS_INITIATOR ? HS_I_STATUS : HS_A_NAME;
    hs->our_name = our_name;
    hs->our_flags = our_flags;
    hs->our_creation = our_creation;
    hs->cookie = cookie;
    hs->random = random;
    hs->len_size = 2;
    if (peer_name)
        snprintf(hs->peer_name, sizeof hs->peer_name, "%s", peer_name);
}

static cn_hs_result fail(cn_hs *hs, const char *why)
{
    hs->state = HS_FAILED;
    hs->error = why;
    return CN_HS_FAILED;
}

/* Draws the challenge we send; -1 (and FAILED) without randomness. */
static int draw_challenge(cn_hs *hs)
{
    if (hs->random && hs->random(&hs->our_challenge, sizeof hs->our_challenge) == 0)
        return 0;
    fail(hs, "no random numbers for a challenge (the random source failed): handshake refused");
    return -1;
}

void cn_hs_use_long_lengths(cn_hs *hs) { hs->len_size = 4; }

/* Starts a message with room for its length; returns the offset to patch. */
static size_t msg_begin(const cn_hs *hs, cn_buf *out)
{
    size_t at = out->len;
    for (unsigned i = 0; i < hs->len_size; i++)
        cn_buf_put8(out, 0);
    return at;
}

static void msg_end(const cn_hs *hs, cn_buf *out, size_t at)
{
    if (cn_buf_failed(out))
        return;
    size_t n = out->len - at - hs->len_size;
    for (unsigned i = 0; i < hs->len_size; i++)
        out->data[at + hs->len_size - 1 - i] = (char)(n >> (8 * i));
}

static void put_status(const cn_hs *hs, cn_buf *out, const char *status)
{
    size_t at = msg_begin(hs, out);
    cn_buf_put8(out, 's');
    cn_buf_append(out, status, strlen(status));
    msg_end(hs, out, at);
}

static void put_name_or_challenge(cn_hs *hs, cn_buf *out, int challenge)
{
    size_t at = msg_begin(hs, out);
    size_t nlen = strlen(hs->our_name);
    cn_buf_put8(out, 'N');
    cn_buf_put64(out, hs->our_flags);
    if (challenge)
        cn_buf_put32(out, hs->our_challenge);
    cn_buf_put32(out, hs->our_creation);
    cn_buf_put16(out, (uint16_t)nlen);
    cn_buf_append(out, hs->our_name, nlen);
    msg_end(hs, out, at);
}

void cn_hs_start(cn_hs *hs, cn_buf *out) { put_name_or_challenge(hs, out, 0); }

static int flags_ok(cn_hs *hs, uint64_t flags)
{
    if ((flags & CN_DFLAGS_MANDATORY) != CN_DFLAGS_MANDATORY &&
        !(flags & CN_DFLAG_MANDATORY_25_DIGEST)) {
        hs->error = "peer lacks mandatory distribution flags (too old an OTP?)";
        return 0;
    }
    return 1;
}

/* Copies a length-prefixed name out of a message body. */
static int take_name(const unsigned char *p, size_t left, char *out)
{
    if (left < 2)
        return -1;
    size_t n = cn_get16(p);
    if (n == 0 || n != left - 2 || n >= CN_ATOM_BUF)
        return -1;
    memcpy(out, p + 2, n);
    out[n] = '\0';
    if (memchr(out, '\0', n) || !strchr(out, '@'))
        return -1;
    return 0;
}

static cn_hs_result on_status(cn_hs *hs, const char *s, size_t n, cn_buf *out)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
    if (IS("ok") || IS("ok_simultaneous")) {
        hs->state = HS_I_CHALLENGE;
        return CN_HS_CONTINUE;
    }
    if (IS("alive")) {
        /* The peer still has a connection from our previous life; we are
         * the pending attempt, so it should give way. */
        size_t at = msg_begin(hs, out);
        cn_buf_put8(out, 's');
        cn_buf_append(out, "true", 4);
        msg_end(hs, out, at);
        hs->state = HS_I_CHALLENGE;
        return CN_HS_CONTINUE;
    }
    if (IS("nok")) {
        hs->nok = 1;
        return fail(hs, "simultaneous connect: peer keeps its own attempt (nok)");
    }
    if (IS("not_allowed"))
        return fail(hs, "peer does not allow us to connect (not_allowed)");
    return fail(hs, "unexpected handshake status from peer");
#undef IS
}

static cn_hs_result on_challenge(cn_hs *hs, const unsigned char *p, size_t n, cn_buf *out)
{
    char name[CN_ATOM_BUF];
    unsigned char digest[16];
    if (n < 1 + 8 + 4 + 4 + 2 || p[0] != 'N')
        return fail(hs, "malformed challenge message");
    hs->peer_flags = cn_get64(p + 1);
    hs->peer_challenge = cn_get32(p + 9);
    hs->peer_creation = cn_get32(p + 13);
    if (take_name(p + 17, n - 17, name) < 0)
        return fail(hs, "malformed node name in challenge");
    if (strcmp(name, hs->peer_name) != 0)
        return fail(hs, "peer answered with another node name");
    if (!flags_ok(hs, hs->peer_flags))
        return fail(hs, hs->error);
    if (draw_challenge(hs) < 0)
        return CN_HS_FAILED;
    cn_hs_digest(hs->cookie, hs->peer_challenge, digest);
    size_t at = msg_begin(hs, out);
    cn_buf_put8(out, 'r');
    cn_buf_put32(out, hs->our_challenge);
    cn_buf_append(out, digest, 16);
    msg_end(hs, out, at);
    hs->state = HS_I_ACK;
    return CN_HS_CONTINUE;
}

static cn_hs_result on_ack(cn_hs *hs, const unsigned char *p, size_t n)
{
    if (n != 17 || p[0] != 'a')
        return fail(hs, "malformed challenge ack");
    if (!cn_hs_digest_ok(hs->cookie, hs->our_challenge, p + 1))
        return fail(hs, "peer's challenge ack is wrong (cookie mismatch)");
    hs->state = HS_DONE;
    return CN_HS_DONE;
}

static cn_hs_result on_name(cn_hs *hs, const unsigned char *p, size_t n)
{
    if (n >= 1 && p[0] == 'n')
        return fail(hs, "peer uses the old version 5 handshake; OTP 23 or later needed");
    if (n < 1 + 8 + 4 + 2 || p[0] != 'N')
        return fail(hs, "malformed name message");
    hs->peer_flags = cn_get64(p + 1);
    hs->peer_creation = cn_get32(p + 9);
    if (take_name(p + 13, n - 13, hs->peer_name) < 0)
        return fail(hs, "malformed node name in name message");
    if (!flags_ok(hs, hs->peer_flags))
        return fail(hs, hs->error);
    hs->state = HS_A_DECIDE;
    return CN_HS_NAME;
}

static cn_hs_result on_reply(cn_hs *hs, const unsigned char *p, size_t n, cn_buf *out)
{
    unsigned char want[16];
    if (n != 21 || p[0] != 'r')
        return fail(hs, "malformed challenge reply");
    if (!cn_hs_digest_ok(hs->cookie, hs->our_challenge, p + 5))
        return fail(hs, "connection attempt with a wrong cookie rejected");
    hs->peer_challenge = cn_get32(p + 1);
    cn_hs_digest(hs->cookie, hs->peer_challenge, want);
    size_t at = msg_begin(hs, out);
    cn_buf_put8(out, 'a');
    cn_buf_append(out, want, 16);
    msg_end(hs, out, at);
    hs->state = HS_DONE;
    return CN_HS_DONE;
}

static cn_hs_result on_alive_reply(cn_hs *hs, const unsigned char *p, size_t n, cn_buf *out)
{
    if (n == 5 && memcmp(p, "strue", 5) == 0) {
        put_name_or_challenge(hs, out, 1);
        hs->state = HS_A_REPLY;
        return CN_HS_CONTINUE;
    }
    return fail(hs, "peer withdrew its connection attempt (alive/false)");
}

cn_hs_result cn_hs_feed(cn_hs *hs, const char *in, size_t len, size_t *used, cn_buf *out)
{
    *used = 0;
    if (hs->state == HS_DONE)
        return CN_HS_DONE;
    if (hs->state == HS_FAILED)
        return CN_HS_FAILED;
    size_t hdr = hs->len_size;
    if (len < hdr)
        return CN_HS_CONTINUE;
    size_t n = 0;
    for (size_t i = 0; i < hdr; i++)
        n = n << 8 | (unsigned char)in[i];
    if (n == 0 || n > HS_MAX_MSG)
        return fail(hs, "handshake message of impossible length");
    if (len - hdr < n)
        return CN_HS_CONTINUE;
    *used = n + hdr;
    const unsigned char *p = (const unsigned char *)in + hdr;

    switch (hs->state) {
    case HS_I_STATUS:
        if (p[0] != 's')
            return fail(hs, "expected a status message");
        return on_status(hs, (const char *)p + 1, n - 1, out);
    case HS_I_CHALLENGE:  return on_challenge(hs, p, n, out);
    case HS_I_ACK:        return on_ack(hs, p, n);
    case HS_A_NAME:       return on_name(hs, p, n);
    case HS_A_ALIVE_REPLY: return on_alive_reply(hs, p, n, out);
    case HS_A_REPLY:      return on_reply(hs, p, n, out);
    default:
        return fail(hs, "handshake message out of turn");
    }
}

cn_hs_result cn_hs_decide(cn_hs *hs, cn_hs_status status, cn_buf *out)
{
    if (hs->state != HS_A_DECIDE)
        return fail(hs, "handshake decision out of turn");
    if ((status == CN_HS_OK || status == CN_HS_OK_SIMULTANEOUS || status == CN_HS_ALIVE) &&
        draw_challenge(hs) < 0)
        return CN_HS_FAILED;
    switch (status) {
    case CN_HS_OK:
    case CN_HS_OK_SIMULTANEOUS:
        put_status(hs, out, status == CN_HS_OK ? "ok" : "ok_simultaneous");
        put_name_or_challenge(hs, out, 1);
        hs->state = HS_A_REPLY;
        return CN_HS_CONTINUE;
    case CN_HS_ALIVE:
        put_status(hs, out, "alive");
        hs->state = HS_A_ALIVE_REPLY;
        return CN_HS_CONTINUE;
    case CN_HS_NOK:
        hs->nok_sent = 1;
        put_status(hs, out, "nok");
        return fail(hs, "simultaneous connect: keeping our own attempt (nok)");
    default:
        put_status(hs, out, "not_allowed");
        return fail(hs, "connection not allowed");
    }
}
