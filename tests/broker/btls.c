/*
 * ktx-broker's TLS listeners with OpenSSL: the server context and non-blocking sessions.
 * See btls.h.
 */
#include "btls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct kb_tls {
    SSL_CTX *ctx;
    bool abrupt_close;
};

struct kb_tls_conn {
    SSL *ssl;
    bool abrupt_close; /* refuse a missing client certificate with a RST (btls.h) */
    bool wants_write;
    bool logged; /* the failure of this session was logged */
};

/* Writes |what| and OpenSSL's first queued reason to |err|, and empties the queue. */
static int fail(char *err, size_t errlen, const char *what, const char *file)
{
    char reason[256] = "";
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", reason);
    return -1;
}

/* Loads the certificate, key and (optional) client CA of |conf| into |ctx|. */
static int load_files(SSL_CTX *ctx, const struct kb_tls_conf *conf, char *err, size_t errlen)
{
    if (!conf->cert_file || !conf->key_file)
        return fail(err, errlen, "--ssl-cert and --ssl-key are required", NULL);
    if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1)
        return fail(err, errlen, "cannot load certificate", conf->cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, conf->key_file, SSL_FILETYPE_PEM) != 1)
        return fail(err, errlen, "cannot load private key", conf->key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(err, errlen, "the private key does not match the certificate", NULL);
    if (conf->client_auth && !conf->ca_file)
        return fail(err, errlen, "--ssl-client-auth required needs --ssl-ca", NULL);
    if (conf->ca_file) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(conf->ca_file);
        if (!names || SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return fail(err, errlen, "cannot load CA", conf->ca_file);
        }
        SSL_CTX_set_client_CA_list(ctx, names); /* takes |names| */
    }
    /* --tls-abrupt-close asks for a certificate but lets the handshake end without one:
     * kb_tls_read() then resets the connection instead of OpenSSL sending an alert. */
    if (conf->client_auth)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (conf->abrupt_close
                                                       ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
                           NULL);
    return 0;
}

int kb_tls_new(struct kb_tls **out, const struct kb_tls_conf *conf, char *err, size_t errlen)
{
    struct kb_tls *tls = calloc(1, sizeof(*tls));

    if (!tls || !(tls->ctx = SSL_CTX_new(TLS_server_method()))) {
        free(tls);
        return fail(err, errlen, "cannot create the TLS context", NULL);
    }
    SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
    /* server.c retries a partial send from a moved pointer with the same remaining bytes. */
    SSL_CTX_set_mode(tls->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (load_files(tls->ctx, conf, err, errlen) != 0) {
        kb_tls_free(tls);
        return -1;
    }
    tls->abrupt_close = conf->client_auth && conf->abrupt_close;
    *out = tls;
    return 0;
}

void kb_tls_free(struct kb_tls *tls)
{
    if (!tls)
        return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

struct kb_tls_conn *kb_tls_conn_new(struct kb_tls *tls, int fd)
{
    struct kb_tls_conn *tc = calloc(1, sizeof(*tc));

    if (!tc || !(tc->ssl = SSL_new(tls->ctx)) || SSL_set_fd(tc->ssl, fd) != 1) {
        kb_tls_conn_free(tc);
        return NULL;
    }
    SSL_set_accept_state(tc->ssl);
    tc->abrupt_close = tls->abrupt_close;
    return tc;
}

void kb_tls_conn_free(struct kb_tls_conn *tc)
{
    if (!tc)
        return;
    SSL_free(tc->ssl);
    free(tc);
}

/* Logs why session |tc| failed (once): the handshake (wrong CA, no client certificate,
 * plaintext on a TLS port) or a broken record. */
static void log_failure(struct kb_tls_conn *tc)
{
    char reason[256] = "connection closed";
    unsigned long e = ERR_peek_last_error();

    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    if (!tc->logged)
        fprintf(stderr, "ktx-broker: TLS %s failed: %s\n",
                SSL_is_init_finished(tc->ssl) ? "session" : "handshake", reason);
    tc->logged = true;
}

/* Maps the result |rc| of an SSL_read/SSL_write to the btls.h convention. */
static ssize_t result(struct kb_tls_conn *tc, int rc)
{
    int saved = errno;
    int e = SSL_get_error(tc->ssl, rc);

    tc->wants_write = e == SSL_ERROR_WANT_WRITE;
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (!SSL_is_init_finished(tc->ssl))
            log_failure(tc);
        ERR_clear_error();
        errno = saved ? saved : EPIPE;
        return -1;
    default:
        log_failure(tc);
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/*
 * --tls-abrupt-close: once the handshake of a client without a certificate is done, logs the
 * refusal and makes the coming close(2) send a RST (SO_LINGER 0) with no alert before it.
 * Returns true when |tc| is refused so.
 */
static bool abrupt_refusal(struct kb_tls_conn *tc)
{
    struct linger reset = {1, 0};

    if (!tc->abrupt_close || !SSL_is_init_finished(tc->ssl) ||
        SSL_get0_peer_certificate(tc->ssl) != NULL)
        return false;
    if (!tc->logged)
        fprintf(stderr, "ktx-broker: TLS handshake failed: peer did not return a certificate "
                        "(abrupt close: reset, no alert)\n");
    tc->logged = true;
    setsockopt(SSL_get_fd(tc->ssl), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    ERR_clear_error();
    errno = ECONNRESET;
    return true;
}

ssize_t kb_tls_read(struct kb_tls_conn *tc, void *buf, size_t len)
{
    int rc;

    ERR_clear_error();
    errno = 0;
    rc = SSL_read(tc->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (abrupt_refusal(tc))
        return -1;
    if (rc > 0) {
        tc->wants_write = false;
        return rc;
    }
    return result(tc, rc);
}

ssize_t kb_tls_write(struct kb_tls_conn *tc, const void *buf, size_t len)
{
    int rc;

    ERR_clear_error();
    errno = 0;
    rc = SSL_write(tc->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (rc > 0) {
        tc->wants_write = false;
        return rc;
    }
    return result(tc, rc);
}

bool kb_tls_wants_write(const struct kb_tls_conn *tc)
{
    return tc->wants_write;
}
