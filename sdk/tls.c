/*
 * TLS client sessions on non-blocking sockets (OpenSSL), and the crypto wrappers that SCRAM
 * uses. The only file of the library that includes OpenSSL headers.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct ktx__tls_ctx {
    SSL_CTX *ssl_ctx;
    bool verify_hostname;
};

struct ktx__tls {
    SSL *ssl;
    char *host;
    bool cert_requested; /* the server asked for a client certificate and we have none */
};

/* Formats a message into |errbuf| (|errsize| bytes) unless it is NULL or empty. */
static void KTX__PRINTF(3, 4) set_err(char *errbuf, size_t errsize, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errsize == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errsize, fmt, ap);
    va_end(ap);
}

/*
 * Stores the reason of the oldest error queued by OpenSSL in |buf| (|size| bytes) and
 * empties the queue; stores "unknown error" when the queue is empty. Returns the error code.
 * OpenSSL reasons name what failed (a file, a bad decrypt), never a secret's value.
 */
static unsigned long pop_ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, size, "unknown error");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return e;
}

/* ------------------------------------------------------------------------------------------
 * A BIO over a non-blocking socket that sends with MSG_NOSIGNAL, so that a peer that went
 * away gives EPIPE (a transport error) rather than SIGPIPE, as conn.c does for plain sockets.
 * ------------------------------------------------------------------------------------------ */

/* Sends |len| bytes of |buf|; EAGAIN marks the BIO "retry write" (OpenSSL then reports
 * SSL_ERROR_WANT_WRITE). */
static int sock_bio_write(BIO *bio, const char *buf, int len)
{
    ssize_t r = send(BIO_get_fd(bio, NULL), buf, (size_t)len, MSG_NOSIGNAL);

    BIO_clear_retry_flags(bio);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return (int)r;
}

/* Receives up to |len| bytes; EAGAIN marks the BIO "retry read" (SSL_ERROR_WANT_READ). */
static int sock_bio_read(BIO *bio, char *buf, int len)
{
    ssize_t r = recv(BIO_get_fd(bio, NULL), buf, (size_t)len, 0);

    BIO_clear_retry_flags(bio);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return (int)r;
}

/* Sends the string |str| (OpenSSL does not use it for TLS records; here for completeness). */
static int sock_bio_puts(BIO *bio, const char *str)
{
    return sock_bio_write(bio, str, (int)strlen(str));
}

static BIO_METHOD *sock_bio_method;
static CRYPTO_ONCE sock_bio_once = CRYPTO_ONCE_STATIC_INIT;

/* Builds the method once: ours for read and write, the socket BIO's for the rest (fd
 * control, creation and destruction). Stays allocated for the life of the process. */
static void sock_bio_init(void)
{
    const BIO_METHOD *base = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ktx_socket");

    if (m == NULL)
        return;
    BIO_meth_set_write(m, sock_bio_write);
    BIO_meth_set_read(m, sock_bio_read);
    BIO_meth_set_puts(m, sock_bio_puts);
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    sock_bio_method = m;
}

/* Returns a BIO on |fd| that does not close it, or NULL when out of memory. */
static BIO *sock_bio_new(int fd)
{
    BIO *bio;

    if (!CRYPTO_THREAD_run_once(&sock_bio_once, sock_bio_init) || sock_bio_method == NULL)
        return NULL;
    bio = BIO_new(sock_bio_method);
    if (bio != NULL)
        BIO_set_fd(bio, fd, BIO_NOCLOSE);
    return bio;
}

/* ------------------------------------------------------------------------------------------
 * Context.
 * ------------------------------------------------------------------------------------------ */

/* Password callback for encrypted keys: copies |u| (ssl.key.password, may be NULL) and never
 * prompts on a terminal, which OpenSSL's default callback would do. */
static int key_password_cb(char *buf, int size, int rwflag, void *u)
{
    size_t len;

    (void)rwflag;
    if (u == NULL || size <= 0)
        return 0;
    len = strlen(u);
    if (len > (size_t)size)
        return 0;
    memcpy(buf, u, len);
    return (int)len;
}

/* Adds every certificate of the PEM text |pem| to the trust store of |ssl_ctx|. */
static int load_ca_pem(SSL_CTX *ssl_ctx, const char *pem, char *errbuf, size_t errsize)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x509;
    int count = 0;
    char reason[256];

    if (bio == NULL)
        return KTX_ERR_NO_MEMORY;
    while ((x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(store, x509);

        X509_free(x509);
        if (!ok) {
            BIO_free(bio);
            pop_ssl_error(reason, sizeof(reason));
            set_err(errbuf, errsize, "ssl.ca.pem: %s", reason);
            return KTX_ERR_BAD_CONFIG;
        }
        count++;
    }
    BIO_free(bio);
    ERR_clear_error(); /* the end of the PEM text queues a "no start line" error */
    if (count == 0) {
        set_err(errbuf, errsize, "ssl.ca.pem: no certificate found");
        return KTX_ERR_BAD_CONFIG;
    }
    return 0;
}

/* Sets the trusted CAs: ssl.ca.location (file or directory), ssl.ca.pem, or the system's. */
static int load_ca(SSL_CTX *ssl_ctx, const struct ktx__conf_values *cv, char *errbuf,
                   size_t errsize)
{
    char reason[256];
    struct stat st;
    int ok;

    if (cv->ssl_ca_pem != NULL)
        return load_ca_pem(ssl_ctx, cv->ssl_ca_pem, errbuf, errsize);
    if (cv->ssl_ca_location == NULL) {
        ok = SSL_CTX_set_default_verify_paths(ssl_ctx);
    } else if (stat(cv->ssl_ca_location, &st) != 0) {
        set_err(errbuf, errsize, "ssl.ca.location %s: %s", cv->ssl_ca_location,
                strerror(errno));
        return KTX_ERR_BAD_CONFIG;
    } else if (S_ISDIR(st.st_mode)) {
        ok = SSL_CTX_load_verify_locations(ssl_ctx, NULL, cv->ssl_ca_location);
    } else {
        ok = SSL_CTX_load_verify_locations(ssl_ctx, cv->ssl_ca_location, NULL);
    }
    if (!ok) {
        pop_ssl_error(reason, sizeof(reason));
        set_err(errbuf, errsize, "%s: %s",
                cv->ssl_ca_location ? cv->ssl_ca_location : "the system CA store", reason);
        return KTX_ERR_BAD_CONFIG;
    }
    return 0;
}

/* Uses the first certificate of the PEM text |pem| as ours and the others as its chain. */
static int load_cert_pem(SSL_CTX *ssl_ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x509;
    int ok;

    if (bio == NULL)
        return 0;
    x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    ok = x509 != NULL && SSL_CTX_use_certificate(ssl_ctx, x509);
    X509_free(x509);
    while (ok && (x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        ok = SSL_CTX_add0_chain_cert(ssl_ctx, x509);
        if (!ok)
            X509_free(x509);
    }
    BIO_free(bio);
    if (ok)
        ERR_clear_error();
    return ok;
}

/* Reads the private key from the PEM text |pem|, decrypting it with |password|. */
static int load_key_pem(SSL_CTX *ssl_ctx, const char *pem, const char *password)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey;
    int ok;

    if (bio == NULL)
        return 0;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, key_password_cb, (void *)password);
    ok = pkey != NULL && SSL_CTX_use_PrivateKey(ssl_ctx, pkey);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ok;
}

/* Loads the client certificate and key, when configured, and checks that they match. */
static int load_identity(SSL_CTX *ssl_ctx, const struct ktx__conf_values *cv, char *errbuf,
                         size_t errsize)
{
    char reason[256];
    const char *what = NULL;

    if (cv->ssl_certificate_pem != NULL && !load_cert_pem(ssl_ctx, cv->ssl_certificate_pem))
        what = "ssl.certificate.pem";
    else if (cv->ssl_certificate_location != NULL &&
             !SSL_CTX_use_certificate_chain_file(ssl_ctx, cv->ssl_certificate_location))
        what = cv->ssl_certificate_location;
    if (what == NULL && (cv->ssl_key_pem != NULL || cv->ssl_key_location != NULL)) {
        /* The callback reads the password only while the key loads: clear it after. */
        SSL_CTX_set_default_passwd_cb(ssl_ctx, key_password_cb);
        SSL_CTX_set_default_passwd_cb_userdata(ssl_ctx, (void *)cv->ssl_key_password);
        if (cv->ssl_key_pem != NULL && !load_key_pem(ssl_ctx, cv->ssl_key_pem,
                                                     cv->ssl_key_password))
            what = "ssl.key.pem";
        else if (cv->ssl_key_pem == NULL &&
                 !SSL_CTX_use_PrivateKey_file(ssl_ctx, cv->ssl_key_location, SSL_FILETYPE_PEM))
            what = cv->ssl_key_location;
        SSL_CTX_set_default_passwd_cb_userdata(ssl_ctx, NULL);
        if (what == NULL && !SSL_CTX_check_private_key(ssl_ctx))
            what = "the client key";
    }
    if (what == NULL)
        return 0;
    pop_ssl_error(reason, sizeof(reason));
    set_err(errbuf, errsize, "%s: %s", what, reason);
    return KTX_ERR_BAD_CONFIG;
}

/*
 * OpenSSL calls this when the server sends a CertificateRequest and the session has no
 * certificate (so only when none is configured): notes it on the session, and answers with
 * no certificate. A TLS 1.3 server refuses that only after our Finished, and its alert can
 * be lost to a RST: ktx__tls_client_cert_missing() lets the caller name the cause.
 */
static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    struct ktx__tls *tls = SSL_get_app_data(ssl);

    (void)x509;
    (void)pkey;
    if (tls != NULL)
        tls->cert_requested = true;
    return 0;
}

int ktx__tls_ctx_new(struct ktx__tls_ctx **out, const struct ktx__conf_values *cv,
                     char *errbuf, size_t errsize)
{
    struct ktx__tls_ctx *ctx = calloc(1, sizeof(*ctx));
    char reason[256];
    int err;

    if (ctx == NULL)
        return KTX_ERR_NO_MEMORY;
    ERR_clear_error();
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ctx->ssl_ctx == NULL) {
        free(ctx);
        ERR_clear_error();
        set_err(errbuf, errsize, "cannot create a TLS context");
        return KTX_ERR_NO_MEMORY;
    }
    ctx->verify_hostname = cv->ssl_verify_hostname;
    SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx->ssl_ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    err = load_ca(ctx->ssl_ctx, cv, errbuf, errsize);
    if (err == 0)
        err = load_identity(ctx->ssl_ctx, cv, errbuf, errsize);
    if (err == 0 && cv->ssl_certificate_pem == NULL && cv->ssl_certificate_location == NULL)
        SSL_CTX_set_client_cert_cb(ctx->ssl_ctx, client_cert_cb);
    if (err == 0 && cv->ssl_cipher_suites != NULL &&
        !SSL_CTX_set_cipher_list(ctx->ssl_ctx, cv->ssl_cipher_suites)) {
        pop_ssl_error(reason, sizeof(reason));
        set_err(errbuf, errsize, "ssl.cipher.suites: %s", reason);
        err = KTX_ERR_BAD_CONFIG;
    }
    if (err != 0) {
        ktx__tls_ctx_free(ctx);
        return err;
    }
    *out = ctx;
    return 0;
}

void ktx__tls_ctx_free(struct ktx__tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ------------------------------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------------------------------ */

/* True when |host| is an IPv4 or IPv6 address literal. */
static bool host_is_ip(const char *host)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Sets SNI and the expected identity of the server on |ssl|. Returns 1 or 0. */
static int set_peer_identity(SSL *ssl, const char *host, bool verify_hostname)
{
    bool is_ip = host_is_ip(host);

    if (!is_ip && !SSL_set_tlsext_host_name(ssl, host))
        return 0;
    if (!verify_hostname)
        return 1;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, host);
}

int ktx__tls_session_new(struct ktx__tls **out, struct ktx__tls_ctx *ctx, int fd,
                         const char *host)
{
    struct ktx__tls *tls;
    BIO *bio;

    if (fd < 0 || host == NULL || *host == '\0')
        return KTX_ERR_INVALID_ARG;
    tls = calloc(1, sizeof(*tls));
    if (tls == NULL)
        return KTX_ERR_NO_MEMORY;
    tls->host = strdup(host);
    tls->ssl = SSL_new(ctx->ssl_ctx);
    bio = tls->ssl ? sock_bio_new(fd) : NULL;
    if (tls->host == NULL || bio == NULL ||
        !set_peer_identity(tls->ssl, host, ctx->verify_hostname)) {
        BIO_free(bio);
        ktx__tls_free(tls);
        ERR_clear_error();
        return KTX_ERR_NO_MEMORY;
    }
    SSL_set_bio(tls->ssl, bio, bio);
    SSL_set_app_data(tls->ssl, tls);
    SSL_set_connect_state(tls->ssl);
    *out = tls;
    return 0;
}

/* True when OpenSSL error |e| reports a TLS alert by which the peer refused our identity
 * or the handshake (bad, unknown, expired or missing certificate, access denied). */
static bool is_auth_alert(unsigned long e)
{
    int reason = ERR_GET_REASON(e);

    if (ERR_GET_LIB(e) != ERR_LIB_SSL || reason < SSL_AD_REASON_OFFSET)
        return false;
    switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* Describes a failed certificate verification of the server, or returns false when the
 * certificate was not the problem. */
static bool describe_verify_failure(struct ktx__tls *tls, char *errbuf, size_t errsize)
{
    long res = SSL_get_verify_result(tls->ssl);

    if (res == X509_V_OK)
        return false;
    if (res == X509_V_ERR_HOSTNAME_MISMATCH || res == X509_V_ERR_IP_ADDRESS_MISMATCH)
        set_err(errbuf, errsize,
                "TLS handshake with %s failed: certificate verify failed: %s (expected host "
                "%s in the certificate's subject alternative names)",
                tls->host, X509_verify_cert_error_string(res), tls->host);
    else
        set_err(errbuf, errsize, "TLS handshake with %s failed: certificate verify failed: %s",
                tls->host, X509_verify_cert_error_string(res));
    return true;
}

/*
 * Maps the failure of an SSL call that returned |ret| to a result: the want codes, or an
 * error with its message. |during| names the operation for messages.
 */
static int map_ssl_result(struct ktx__tls *tls, int ret, bool handshake, char *errbuf,
                          size_t errsize)
{
    const char *during = handshake ? "TLS handshake" : "TLS session";
    int sys_errno = errno;
    char reason[256];
    unsigned long e;

    switch (SSL_get_error(tls->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return KTX__TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return KTX__TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        set_err(errbuf, errsize, "%s with %s: closed by the peer", during, tls->host);
        return KTX_ERR_TRANSPORT;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        set_err(errbuf, errsize, "%s with %s: %s", during, tls->host,
                sys_errno != 0 ? strerror(sys_errno) : "connection closed by the peer");
        return KTX_ERR_TRANSPORT;
    default:
        break;
    }
    if (handshake && describe_verify_failure(tls, errbuf, errsize)) {
        ERR_clear_error();
        return KTX_ERR_AUTH;
    }
    e = pop_ssl_error(reason, sizeof(reason));
    set_err(errbuf, errsize, "%s with %s failed: %s", during, tls->host, reason);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return KTX_ERR_TRANSPORT; /* the peer hung up without close_notify */
    return handshake || is_auth_alert(e) ? KTX_ERR_AUTH : KTX_ERR_TRANSPORT;
}

int ktx__tls_handshake(struct ktx__tls *tls, char *errbuf, size_t errsize)
{
    int ret;

    ERR_clear_error();
    errno = 0;
    ret = SSL_do_handshake(tls->ssl);
    if (ret == 1)
        return 0;
    return map_ssl_result(tls, ret, true, errbuf, errsize);
}

int ktx__tls_read(struct ktx__tls *tls, void *buf, size_t len, size_t *n, char *errbuf,
                  size_t errsize)
{
    int ret;

    *n = 0;
    ERR_clear_error();
    errno = 0;
    ret = SSL_read_ex(tls->ssl, buf, len, n);
    if (ret == 1)
        return 0;
    if (SSL_get_error(tls->ssl, ret) == SSL_ERROR_ZERO_RETURN)
        return 0; /* close_notify: a clean end of the session */
    return map_ssl_result(tls, ret, false, errbuf, errsize);
}

int ktx__tls_write(struct ktx__tls *tls, const void *buf, size_t len, size_t *n,
                   char *errbuf, size_t errsize)
{
    int ret;

    *n = 0;
    ERR_clear_error();
    errno = 0;
    ret = SSL_write_ex(tls->ssl, buf, len, n);
    if (ret == 1)
        return 0;
    return map_ssl_result(tls, ret, false, errbuf, errsize);
}

size_t ktx__tls_pending(const struct ktx__tls *tls)
{
    int n = SSL_pending(tls->ssl);

    return n > 0 ? (size_t)n : 0;
}

bool ktx__tls_client_cert_missing(const struct ktx__tls *tls)
{
    return tls->cert_requested;
}

const char *ktx__tls_version(const struct ktx__tls *tls)
{
    return SSL_is_init_finished(tls->ssl) ? SSL_get_version(tls->ssl) : "";
}

void ktx__tls_shutdown(struct ktx__tls *tls)
{
    if (SSL_is_init_finished(tls->ssl))
        SSL_shutdown(tls->ssl);
    ERR_clear_error();
}

void ktx__tls_free(struct ktx__tls *tls)
{
    if (tls == NULL)
        return;
    SSL_free(tls->ssl);
    free(tls->host);
    free(tls);
}

/* ------------------------------------------------------------------------------------------
 * Crypto wrappers for SCRAM.
 * ------------------------------------------------------------------------------------------ */

/* Returns OpenSSL's digest for |hash| (static, never freed). */
static const EVP_MD *hash_md(enum ktx__hash hash)
{
    return hash == KTX__HASH_SHA512 ? EVP_sha512() : EVP_sha256();
}

size_t ktx__crypto_hash_size(enum ktx__hash hash)
{
    return hash == KTX__HASH_SHA512 ? 64 : 32;
}

int ktx__crypto_hash(enum ktx__hash hash, const void *data, size_t len, uint8_t *out)
{
    if (!EVP_Digest(data, len, out, NULL, hash_md(hash), NULL)) {
        ERR_clear_error();
        return KTX_ERR_NO_MEMORY;
    }
    return 0;
}

int ktx__crypto_hmac(enum ktx__hash hash, const void *key, size_t key_len, const void *data,
                     size_t len, uint8_t *out)
{
    if (key_len > INT_MAX)
        return KTX_ERR_INVALID_ARG;
    if (HMAC(hash_md(hash), key, (int)key_len, data, len, out, NULL) == NULL) {
        ERR_clear_error();
        return KTX_ERR_NO_MEMORY;
    }
    return 0;
}

int ktx__crypto_pbkdf2(enum ktx__hash hash, const char *pass, size_t pass_len,
                       const uint8_t *salt, size_t salt_len, uint32_t iterations, uint8_t *out,
                       size_t out_len)
{
    if (iterations == 0 || iterations > INT_MAX || pass_len > INT_MAX || salt_len > INT_MAX ||
        out_len > INT_MAX)
        return KTX_ERR_INVALID_ARG;
    if (!PKCS5_PBKDF2_HMAC(pass, (int)pass_len, salt, (int)salt_len, (int)iterations,
                           hash_md(hash), (int)out_len, out)) {
        ERR_clear_error();
        return KTX_ERR_NO_MEMORY;
    }
    return 0;
}

int ktx__crypto_random(void *buf, size_t len)
{
    if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1) {
        ERR_clear_error();
        return KTX_ERR_TRANSPORT;
    }
    return 0;
}

void ktx__crypto_wipe(void *buf, size_t len)
{
    if (buf != NULL)
        OPENSSL_cleanse(buf, len);
}
