/*
 * TLS client sessions over non-blocking sockets, and the few crypto primitives that SCRAM
 * needs (hash, HMAC, PBKDF2, random bytes). Only tls.c includes OpenSSL headers.
 *
 * A context (struct ktx__tls_ctx) is built once per producer from the ssl.* properties;
 * a session (struct ktx__tls) wraps one connected socket. The session never blocks: every
 * call that would block returns KTX__TLS_WANT_READ or KTX__TLS_WANT_WRITE, and the caller
 * polls the socket for that event and calls the same function again.
 *
 * Messages written to |errbuf| name the host, the OpenSSL verify error or reason and the
 * file that failed to load; they never contain key material nor ssl.key.password.
 *
 * Thread: a context may be shared by the sessions of several threads once created (OpenSSL
 * contexts are thread-safe for that use); a session belongs to the thread that owns its
 * connection. Locks: none.
 */
#ifndef KTX_TLS_H
#define KTX_TLS_H

#include "conf.h"
#include "ktx_int.h"

/* Positive "call again" results of the session functions (errors are negative codes). */
#define KTX__TLS_WANT_READ 1  /* poll the socket for POLLIN, then call again */
#define KTX__TLS_WANT_WRITE 2 /* poll the socket for POLLOUT, then call again */

struct ktx__tls_ctx;
struct ktx__tls;

/*
 * Creates a client context from the ssl.* values in |cv|: TLS 1.2 minimum; trusted CAs from
 * ssl.ca.location (file or directory), ssl.ca.pem, or the system store when neither is set;
 * the client certificate and key from ssl.certificate.* and ssl.key.* (the key may be
 * encrypted with ssl.key.password); ssl.cipher.suites (TLS 1.2 cipher list); and whether
 * sessions check the host name (cv->ssl_verify_hostname). The peer certificate chain is
 * always verified.
 * |cv| is borrowed (nothing is kept from it). On success stores the context in |*out| (free
 * it with ktx__tls_ctx_free()) and returns 0. Otherwise returns KTX_ERR_BAD_CONFIG (a file
 * or PEM value that cannot be loaded, a wrong key password, a key that does not match the
 * certificate, an unknown cipher list) or KTX_ERR_NO_MEMORY, with a message in |errbuf|
 * (|errsize| bytes; may be NULL when |errsize| is 0).
 */
int ktx__tls_ctx_new(struct ktx__tls_ctx **out, const struct ktx__conf_values *cv,
                     char *errbuf, size_t errsize);

/* Frees |ctx|. NULL-safe. Sessions hold their own reference and may outlive it. */
void ktx__tls_ctx_free(struct ktx__tls_ctx *ctx);

/*
 * Creates a session that will run TLS over the connected socket |fd| to |host| (a host name
 * or an IP address literal, as given in bootstrap.servers or by the metadata). For a host
 * name the server name (SNI) is sent; when the context verifies host names, |host| must
 * match the certificate's subject alternative names (DNS or IP). |fd| stays owned by the
 * caller and must stay open until ktx__tls_free(). |ctx| and |host| are borrowed.
 * On success stores the session in |*out| and returns 0; returns KTX_ERR_INVALID_ARG for a
 * negative |fd| or an empty host, or KTX_ERR_NO_MEMORY.
 */
int ktx__tls_session_new(struct ktx__tls **out, struct ktx__tls_ctx *ctx, int fd,
                         const char *host);

/*
 * Advances the handshake of |tls|. Returns 0 when it is complete, KTX__TLS_WANT_READ or
 * KTX__TLS_WANT_WRITE, KTX_ERR_AUTH when the handshake failed (an untrusted or expired
 * certificate, a host name mismatch, no common protocol version or cipher, a certificate
 * refused by the server), or KTX_ERR_TRANSPORT when the socket failed or the peer closed it
 * before the handshake ended; errors write a message to |errbuf| (|errsize| bytes).
 */
int ktx__tls_handshake(struct ktx__tls *tls, char *errbuf, size_t errsize);

/*
 * Reads up to |len| bytes of application data into |buf| after the handshake. Returns 0 with
 * the count in |*n| (0 means the peer closed the session cleanly), KTX__TLS_WANT_READ, or
 * KTX__TLS_WANT_WRITE (a renegotiation or key update needs the socket to be writable: poll
 * for POLLOUT, then call ktx__tls_read() again), KTX_ERR_AUTH when the peer refused us with a
 * certificate alert (a TLS 1.3 server refuses a missing client certificate only after the
 * client finished its handshake), or KTX_ERR_TRANSPORT, with a message in |errbuf|.
 */
int ktx__tls_read(struct ktx__tls *tls, void *buf, size_t len, size_t *n, char *errbuf,
                  size_t errsize);

/*
 * Writes up to |len| (> 0) bytes of |buf| after the handshake. Returns 0 with the count
 * written in |*n| (at least 1), KTX__TLS_WANT_WRITE, KTX__TLS_WANT_READ (call again when
 * readable, with the same |buf| and |len|), KTX_ERR_AUTH or KTX_ERR_TRANSPORT as for
 * ktx__tls_read(), with a message in |errbuf|.
 */
int ktx__tls_write(struct ktx__tls *tls, const void *buf, size_t len, size_t *n,
                   char *errbuf, size_t errsize);

/* Number of decrypted bytes buffered in |tls| that ktx__tls_read() returns without reading
 * the socket (poll(2) does not see them). */
size_t ktx__tls_pending(const struct ktx__tls *tls);

/*
 * True when the server asked |tls| for a client certificate during the handshake and none is
 * configured (ssl.certificate.location / ssl.certificate.pem). A broker that requires one
 * refuses such a session: with TLS 1.3 only after the client's handshake is done, with an
 * alert that a TCP reset can overtake, so that the client sees "connection reset" or an EOF
 * instead; the caller uses this to report the refusal as what it is.
 */
bool ktx__tls_client_cert_missing(const struct ktx__tls *tls);

/* Returns the negotiated protocol ("TLSv1.3", ...), static, or "" before the handshake. */
const char *ktx__tls_version(const struct ktx__tls *tls);

/* Sends close_notify once, without waiting for the peer's (best effort; never blocks). */
void ktx__tls_shutdown(struct ktx__tls *tls);

/* Frees |tls| without closing its socket. NULL-safe. */
void ktx__tls_free(struct ktx__tls *tls);

/* Hash functions of the crypto wrappers. */
enum ktx__hash { KTX__HASH_SHA256, KTX__HASH_SHA512 };
#define KTX__HASH_MAX_SIZE 64

/* Returns the digest size of |hash| in bytes (32 or 64). */
size_t ktx__crypto_hash_size(enum ktx__hash hash);

/* Stores the digest of |data| (|len| bytes) in |out| (ktx__crypto_hash_size() bytes).
 * Returns 0 or KTX_ERR_NO_MEMORY. Thread-safe. */
int ktx__crypto_hash(enum ktx__hash hash, const void *data, size_t len, uint8_t *out);

/* Stores HMAC(|key|, |data|) in |out| (ktx__crypto_hash_size() bytes). Returns 0 or
 * KTX_ERR_NO_MEMORY. Thread-safe. */
int ktx__crypto_hmac(enum ktx__hash hash, const void *key, size_t key_len, const void *data,
                     size_t len, uint8_t *out);

/* Stores PBKDF2-HMAC(|pass|, |salt|, |iterations|) in |out| (|out_len| bytes). Returns 0,
 * KTX_ERR_INVALID_ARG for 0 iterations or sizes above INT_MAX, or KTX_ERR_NO_MEMORY. */
int ktx__crypto_pbkdf2(enum ktx__hash hash, const char *pass, size_t pass_len,
                       const uint8_t *salt, size_t salt_len, uint32_t iterations, uint8_t *out,
                       size_t out_len);

/* Fills |buf| with |len| bytes from the system's cryptographic generator. Returns 0 or
 * KTX_ERR_TRANSPORT when the generator failed. Thread-safe. */
int ktx__crypto_random(void *buf, size_t len);

/* Overwrites |len| bytes at |buf| with zeros in a way the compiler does not remove. */
void ktx__crypto_wipe(void *buf, size_t len);

#endif /* KTX_TLS_H */
