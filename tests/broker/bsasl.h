/*
 * SASL authentication on ktx-broker's listeners (--security-protocol SASL_PLAINTEXT or
 * SASL_SSL), as Kafka does it: SaslHandshake v0-1 picks the mechanism, then SaslAuthenticate
 * v0-2 requests carry the tokens (raw v0 framing after SaslHandshake v0 is not supported:
 * librdkafka and kafkatx use SaslAuthenticate whenever the broker lists it). Before a
 * connection has authenticated, only ApiVersions, SaslHandshake and SaslAuthenticate are
 * answered; anything else, and a failed authentication (after its answer), closes it.
 *
 * Users and passwords come from a sasldb made by `saslpasswd2 -f FILE -c -p USER` (realm:
 * this host's name, saslpasswd2's default). PLAIN is served by Cyrus SASL. SCRAM-SHA-256 and
 * SCRAM-SHA-512 are served by bsasl.c itself (OpenSSL's PBKDF2 and HMAC, the password read
 * through Cyrus's auxprop lookup): Cyrus's SCRAM plugin refuses librdkafka's client-final
 * nonce, which Kafka accepts (see scram_final()). GSSAPI is Cyrus's too: the broker accepts
 * as kafka/127.0.0.1 (the host clients connect to) with the keytab named by $KRB5_KTNAME.
 *
 * Test infrastructure only. Thread: the server's only (Cyrus's server state is global).
 */
#ifndef KB_BSASL_H
#define KB_BSASL_H

#include "handlers.h"

/* The broker-wide SASL settings. Strings are borrowed and must outlive kb_sasl_done(). */
struct kb_sasl_conf {
    const char *mechanisms; /* comma-separated: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI */
    const char *sasldb;     /* path of the sasldb file */
    const char *service;    /* service name, "kafka" when NULL */
};

/* One connection's authentication state. */
struct kb_sasl_conn;

/*
 * Initialises Cyrus's server side for |conf| (once per process; |conf| is kept).
 * Returns 0, or -1 with a reason in |err| (|errlen| bytes) when a mechanism is unknown,
 * Cyrus cannot start, or the sasldb cannot be read.
 */
int kb_sasl_init(const struct kb_sasl_conf *conf, char *err, size_t errlen);

/* Forgets kb_sasl_init()'s settings; Cyrus's plugins stay loaded until the process exits. */
void kb_sasl_done(void);

/* A connection that has not authenticated yet, or NULL when out of memory. Free it with
 * kb_sasl_conn_free() (NULL-safe). */
struct kb_sasl_conn *kb_sasl_conn_new(void);
void kb_sasl_conn_free(struct kb_sasl_conn *sc);

/* True once |sc| authenticated. */
bool kb_sasl_conn_authenticated(const struct kb_sasl_conn *sc);

/* True when |sc| failed to authenticate: the server closes it once its answer is sent. */
bool kb_sasl_conn_failed(const struct kb_sasl_conn *sc);

/*
 * SaslHandshake: selects |mech| (|len| bytes) on |sc|. Returns 0, or
 * UNSUPPORTED_SASL_MECHANISM (mechanism not enabled) or ILLEGAL_SASL_STATE (a second
 * handshake) — Kafka's codes for the response. The enabled mechanisms are listed by
 * kb_sasl_mechanisms().
 */
int16_t kb_sasl_handshake(struct kb_sasl_conn *sc, const char *mech, size_t len);

/* The enabled mechanisms: stores their count in |*n| and returns the array (static). */
const char *const *kb_sasl_mechanisms(int32_t *n);

/*
 * SaslAuthenticate: feeds the client's token |in| (|len| bytes) to the mechanism. On
 * success or continuation stores the server's token in |*out| / |*out_len| (valid until the
 * next call on |sc|) and returns 0. Returns ILLEGAL_SASL_STATE without a handshake first,
 * or SASL_AUTHENTICATION_FAILED with a message in |*message| (static, never a secret); the
 * failure is logged to stderr with the mechanism and the user name, never the token.
 */
int16_t kb_sasl_authenticate(struct kb_sasl_conn *sc, const uint8_t *in, size_t len,
                             const uint8_t **out, size_t *out_len, const char **message);

/*
 * kb_handle_request() for a connection of a SASL listener, whose state is |sc|:
 * SaslHandshake and SaslAuthenticate are answered here with |sc|; before |sc| authenticated,
 * any other request but ApiVersions returns KTX_ERR_BAD_MSG (the server closes the
 * connection, as Kafka does); the rest goes to kb_handle_request(). Same results as
 * kb_handle_request(). After an answer with SASL_AUTHENTICATION_FAILED,
 * kb_sasl_conn_failed(|sc|) is true.
 */
int kb_sasl_handle_request(struct kb_cluster *c, int32_t node_id, struct kb_sasl_conn *sc,
                           const uint8_t *req, size_t len, int64_t now_ms,
                           struct ktx__writer *out, struct kb_reply *reply);

#endif /* KB_BSASL_H */
