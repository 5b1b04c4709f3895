/* handshake.h - the distribution handshake (protocol version 6), as a pure
 * state machine: bytes in, bytes out, decisions asked of the caller.
 *
 * Initiator (A) and acceptor (B), every message with a 2-byte length:
 *   A->B  'N' Flags:64 Creation:32 NLen:16 Name
 *   B->A  's' Status            ok | ok_simultaneous | nok | not_allowed | alive
 *  (A->B  's' true|false        only after alive)
 *   B->A  'N' Flags:64 Challenge:32 Creation:32 NLen:16 Name
 *   A->B  'r' Challenge:32 Digest:16     digest of B's challenge
 *   B->A  'a' Digest:16                  digest of A's challenge
 * Digest = MD5(Cookie ++ decimal(Challenge)).
 * Under TLS (OTP's inet_tls_dist) every message has a 4-byte length
 * instead: cn_hs_use_long_lengths.
 */
#ifndef CN_HANDSHAKE_H
#define CN_HANDSHAKE_H

#include <stdint.h>

#include "buf.h"
#include "term.h"

typedef enum cn_hs_role { CN_HS_INITIATOR, CN_HS_ACCEPTOR } cn_hs_role;

typedef enum cn_hs_result {
    CN_HS_CONTINUE,      /* need more input */
    CN_HS_NAME,          /* acceptor: peer named itself; call cn_hs_decide */
    CN_HS_DONE,          /* connection is up */
    CN_HS_FAILED,        /* hs->error says why; close the socket */
} cn_hs_result;

/* The acceptor's answer to a peer's name, as net_kernel decides it. */
typedef enum cn_hs_status {
    CN_HS_OK,
    CN_HS_OK_SIMULTANEOUS,   /* we drop our own pending attempt */
    CN_HS_NOK,               /* we keep our own pending attempt */
    CN_HS_ALIVE,             /* we had a connection up: peer must confirm */
    CN_HS_NOT_ALLOWED,
} cn_hs_status;

/* A source of random bytes: fills buf and returns 0, or returns -1 when it
 * has none.  A handshake that cannot draw its challenge fails: a guessable
 * challenge would let a digest seen once be replayed. */
typedef int (*cn_hs_random)(void *buf, size_t len);

typedef struct cn_hs {
    cn_hs_role role;
    int        state;
    const char *error;                  /* static text when FAILED */
    int        nok;                     /* initiator: peer answered nok */
    int        nok_sent;                /* acceptor: we answered nok */

    const char *our_name;
    const char *cookie;
    uint64_t   our_flags;
    uint32_t   our_creation;
    cn_hs_random random;
    uint32_t   our_challenge;           /* drawn when first sent */
    unsigned   len_size;                /* bytes of each length: 2, or 4 */

    char       peer_name[CN_ATOM_BUF];  /* expected (initiator) or received */
    uint64_t   peer_flags;
    uint32_t   peer_creation;
    uint32_t   peer_challenge;
} cn_hs;

/* peer_name: the node we dial (initiator) or NULL (acceptor).
 * random: where our challenge comes from (NULL: nowhere, so it fails). */
void cn_hs_init(cn_hs *hs, cn_hs_role role, const char *our_name, uint64_t our_flags,
                uint32_t our_creation, const char *cookie, cn_hs_random random,
                const char *peer_name);

/* Messages get 4-byte lengths, as over inet_tls_dist.  Call after init. */
void cn_hs_use_long_lengths(cn_hs *hs);

/* Initiator: writes the name message. */
void cn_hs_start(cn_hs *hs, cn_buf *out);

/* Feeds input; consumes at most one message (*used bytes) and appends any
 * reply to out.  Call again while *used > 0 and the result is CONTINUE. */
cn_hs_result cn_hs_feed(cn_hs *hs, const char *in, size_t len, size_t *used, cn_buf *out);

/* Acceptor, after CN_HS_NAME: answers with a status and (unless refused)
 * the challenge.  Returns CN_HS_CONTINUE or CN_HS_FAILED. */
cn_hs_result cn_hs_decide(cn_hs *hs, cn_hs_status status, cn_buf *out);

/* MD5(cookie ++ decimal(challenge)), exposed for tests. */
void cn_hs_digest(const char *cookie, uint32_t challenge, unsigned char out[16]);
/* Whether got is the digest for challenge, compared in constant time. */
int  cn_hs_digest_ok(const char *cookie, uint32_t challenge, const unsigned char got[16]);

#endif
