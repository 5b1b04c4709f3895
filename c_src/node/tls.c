/* tls.c - TLS distribution (--proto-dist inet_tls / inet6_tls), as OTP's
 * inet_tls_dist speaks it: a TLS session on the TCP connection first, then
 * the ordinary distribution handshake (with 4-byte lengths) and packets
 * inside it.
 *
 * OpenSSL never touches the socket: it reads from and writes to memory
 * BIOs, and conn.c moves the bytes over the libuv stream, so the loop never
 * blocks on TLS.  A node holds one SSL_CTX for the connections it accepts
 * (server_* options) and one for those it dials (client_* options), made
 * at start, so a missing or bad certificate stops the start with a clear
 * error.  Each connection holds one cn_tls: feed it ciphertext, step the
 * handshake, read plaintext, seal plaintext, and write whatever output is
 * pending after each step.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

struct cn_tls_ctx {
    SSL_CTX *server, *client;
    int      client_verify;         /* dialled peers' names are checked */
};

struct cn_tls {
    SSL    *ssl;
    BIO    *rbio, *wbio;            /* network -> OpenSSL, OpenSSL -> network */
    int     up;                     /* handshake done */
    int     first;                  /* the peer's first byte, or -1 */
    cn_buf  spare;                  /* cn__tls_seal's other buffer */
    char    why[320];               /* the last failure, for logs */
};

/* ---- errors ------------------------------------------------------------- */

/* OpenSSL's reason for the last failure, and its error queue emptied (it
 * is per thread: a stale entry would be blamed on the next connection). */
static const char *ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (e && ERR_SYSTEM_ERROR(e))
        snprintf(buf, size, "%s", strerror(ERR_GET_REASON(e)));   /* an errno */
    else if (r)
        snprintf(buf, size, "%s", r);
    else if (e)
        snprintf(buf, size, "OpenSSL error %lx", e);
    else
        snprintf(buf, size, "unknown reason");
    ERR_clear_error();
    return buf;
}

/* ---- contexts (at start) ------------------------------------------------ */

/* What a side presents: its certificate and key (the key may be in the
 * certificate's file).  -1 with the reason in err. */
static int side_identity(SSL_CTX *ctx, const cn_tls_side *o, const char *who, char *err,
                         size_t errlen)
{
    char why[256];
    if (o->keyfile && !o->certfile) {
        snprintf(err, errlen, "%s_keyfile without %s_certfile", who, who);
        return -1;
    }
    if (!o->certfile)
        return 0;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->certfile) != 1) {
        snprintf(err, errlen, "%s_certfile %s: %s", who, o->certfile, ssl_reason(why, sizeof why));
        return -1;
    }
    const char *key = o->keyfile ? o->keyfile : o->certfile;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "%s_keyfile %s: %s", who, key, ssl_reason(why, sizeof why));
        return -1;
    }
    return 0;
}

/* What a side accepts: the CAs peers' certificates must chain to, and
 * whether it asks for (and, as a server, insists on) one.  -1 with the
 * reason in err. */
static int side_trust(SSL_CTX *ctx, const cn_tls_side *o, int server, const char *who,
                      char *err, size_t errlen)
{
    char why[256];
    if (o->cacertfile ? SSL_CTX_load_verify_locations(ctx, o->cacertfile, NULL) != 1
                      : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "%s_cacertfile %s: %s", who,
                 o->cacertfile ? o->cacertfile : "(the system's)", ssl_reason(why, sizeof why));
        return -1;
    }
    int mode = SSL_VERIFY_NONE;
    if (o->verify_peer)
        mode = SSL_VERIFY_PEER | (server && o->fail_if_no_peer_cert
                                      ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, NULL);
    return 0;
}

/* One side's context (TLS 1.2 or later, no renegotiation). */
static SSL_CTX *side_ctx(const cn_tls_side *o, int server, char *err, size_t errlen)
{
    const char *who = server ? "server" : "client";
    char why[256];
    if (server && !o->certfile) {
        snprintf(err, errlen, "TLS distribution needs a certificate: --ssl-dist-opt "
                 "server_certfile FILE");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot make a context: %s", ssl_reason(why, sizeof why));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (side_identity(ctx, o, who, err, errlen) < 0 ||
        side_trust(ctx, o, server, who, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

cn_tls_ctx *cn__tls_ctx_new(const cn_tls_config *cfg, char *err, size_t errlen)
{
    cn_tls_ctx *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->server = side_ctx(&cfg->server, 1, err, errlen);
    t->client = t->server ? side_ctx(&cfg->client, 0, err, errlen) : NULL;
    t->client_verify = cfg->client.verify_peer;
    if (!t->client) {
        cn__tls_ctx_free(t);
        return NULL;
    }
    return t;
}

void cn__tls_ctx_free(cn_tls_ctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    free(t);
}

/* ---- one connection ----------------------------------------------------- */

cn_tls *cn__tls_new(cn_tls_ctx *ctx, int server, const char *peer_host)
{
    cn_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ssl = SSL_new(server ? ctx->server : ctx->client);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1);    /* empty: "more later", not EOF */
    t->first = -1;
    SSL_set_bio(t->ssl, t->rbio, t->wbio);  /* the SSL owns both now */
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        /* as inet_tls_dist: the peer's host as server name, and with
         * client_verify verify_peer its certificate must name that host */
        unsigned char ip[16];
        int literal = inet_pton(AF_INET, peer_host, ip) == 1 ||
                      inet_pton(AF_INET6, peer_host, ip) == 1;
        SSL_set_connect_state(t->ssl);
        if (!literal)
            SSL_set_tlsext_host_name(t->ssl, peer_host);
        if (ctx->client_verify && !(literal ? X509_VERIFY_PARAM_set1_ip_asc(
                                                  SSL_get0_param(t->ssl), peer_host)
                                            : SSL_set1_host(t->ssl, peer_host))) {
            cn__tls_free(t);
            ERR_clear_error();
            return NULL;
        }
    }
    return t;
}

void cn__tls_free(cn_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    cn_buf_free(&t->spare);
    free(t);
}

int cn__tls_up(const cn_tls *t) { return t->up; }

int cn__tls_feed(cn_tls *t, const char *data, size_t len)
{
    if (t->first < 0 && len)
        t->first = (unsigned char)data[0];
    return len == 0 || BIO_write(t->rbio, data, (int)len) == (int)len ? 0 : -1;
}

/* Why the session failed, from OpenSSL's result r of an operation. */
static const char *failure(cn_tls *t, int r, const char *during)
{
    char reason[256];
    int e = SSL_get_error(t->ssl, r);
    long v = SSL_get_verify_result(t->ssl);
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->why, sizeof t->why, "the peer closed the TLS session");
    } else if (!t->up && t->first >= 0 && t->first != 22) {
        /* every TLS peer opens with a handshake record (type 22) */
        ERR_clear_error();
        snprintf(t->why, sizeof t->why, "TLS %s failed: the peer does not speak TLS (a plain "
                 "TCP node? every node of a cluster needs the same --proto-dist)", during);
    } else if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(t->why, sizeof t->why, "TLS %s failed: the peer's certificate was refused: %s",
                 during, X509_verify_cert_error_string(v));
    } else {
        snprintf(t->why, sizeof t->why, "TLS %s failed: %s", during,
                 ssl_reason(reason, sizeof reason));
    }
    return t->why;
}

int cn__tls_handshake(cn_tls *t, const char **why)
{
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->up = 1;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    *why = failure(t, r, "handshake");
    return -1;
}

ssize_t cn__tls_read(cn_tls *t, char *buf, size_t room, const char **why)
{
    size_t got = 0;
    if (room == 0)
        return 0;
    int r = SSL_read_ex(t->ssl, buf, room, &got);
    if (r == 1)
        return (ssize_t)got;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    *why = failure(t, r, "read");
    return e == SSL_ERROR_ZERO_RETURN ? -2 : -1;
}

/* Appends what OpenSSL has written for the network to out. */
static int drain(cn_tls *t, cn_buf *out)
{
    size_t pending = BIO_ctrl_pending(t->wbio);
    if (!pending)
        return 0;
    if (cn_buf_reserve(out, pending) < 0)
        return -1;
    int n = BIO_read(t->wbio, out->data + out->len, (int)pending);
    if (n > 0)
        out->len += (size_t)n;
    return 0;
}

int cn__tls_seal(cn_tls *t, cn_buf *b)
{
    cn_buf_reset(&t->spare);
    if (b->len) {
        size_t done = 0;
        if (!t->up || SSL_write_ex(t->ssl, b->data, b->len, &done) != 1 || done != b->len) {
            ERR_clear_error();
            return -1;
        }
    }
    if (drain(t, &t->spare) < 0)
        return -1;
    cn_buf_swap(b, &t->spare);
    cn_buf_reset(&t->spare);
    return 0;
}
