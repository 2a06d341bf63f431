/*
 * TLS on ktx-broker's listeners (--security-protocol SSL or SASL_SSL): one OpenSSL server
 * context per broker process and one non-blocking TLS session per accepted connection,
 * driven by server.c's poll(2) loop. The handshake runs inside the first reads and writes;
 * a session that needs the socket writable before it can go on says so through
 * kb_tls_wants_write().
 *
 * Test infrastructure only (never linked into the library). Thread: the server's only.
 */
#ifndef KB_BTLS_H
#define KB_BTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the listener presents and whom it accepts. Strings are borrowed. */
struct kb_tls_conf {
    const char *cert_file; /* PEM certificate (chain) of the broker */
    const char *key_file;  /* PEM private key, not encrypted */
    const char *ca_file;   /* PEM CA that signs client certificates; NULL: none */
    bool client_auth;      /* require a client certificate signed by |ca_file| */
    bool abrupt_close;     /* with |client_auth|: refuse a client without a certificate by
                            * resetting the connection (RST, no alert) once its handshake
                            * is done, as a broker whose RST overtakes its TLS 1.3
                            * "certificate required" alert looks to the client */
};

struct kb_tls;      /* the server context */
struct kb_tls_conn; /* one session */

/*
 * Creates the server context of |conf| (TLS 1.2 or later). On success stores it in |*out|
 * (freed with kb_tls_free()) and returns 0. Returns -1 when a file cannot be loaded, the key
 * does not match the certificate, or client authentication is asked for without a CA; a
 * reason (without key material) is written to |err| (|errlen| bytes, NUL terminated).
 */
int kb_tls_new(struct kb_tls **out, const struct kb_tls_conf *conf, char *err, size_t errlen);

/* Frees |tls|; sessions made from it must be freed first. NULL-safe. */
void kb_tls_free(struct kb_tls *tls);

/*
 * Starts the server side of a session on the connected non-blocking socket |fd| (borrowed:
 * the caller closes it after kb_tls_conn_free()). Returns the session, or NULL when out of
 * memory.
 */
struct kb_tls_conn *kb_tls_conn_new(struct kb_tls *tls, int fd);

/* Frees |tc| without sending close_notify (the broker just drops connections). NULL-safe. */
void kb_tls_conn_free(struct kb_tls_conn *tc);

/*
 * Reads up to |len| decrypted bytes into |buf|, running the handshake first if needed.
 * Returns the count read (> 0), 0 when the peer closed the session, or -1 with errno set:
 * EAGAIN when the socket has nothing more yet (kb_tls_wants_write() tells whether to wait
 * for writability instead), EPROTO when the handshake or the record layer failed (the
 * reason is logged to stderr once per session), ECONNRESET when |abrupt_close| refused a
 * client without a certificate (the socket is set to reset on close), or the socket's errno.
 */
ssize_t kb_tls_read(struct kb_tls_conn *tc, void *buf, size_t len);

/*
 * Encrypts and sends up to |len| bytes of |buf|. Returns the count taken (> 0), or -1 with
 * errno EAGAIN (retry later with the same remaining bytes), EPROTO or the socket's errno.
 */
ssize_t kb_tls_write(struct kb_tls_conn *tc, const void *buf, size_t len);

/* True when the session's last operation stopped because the socket was not writable. */
bool kb_tls_wants_write(const struct kb_tls_conn *tc);

#endif /* KB_BTLS_H */
