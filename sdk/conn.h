/*
 * One connection to one broker (struct ktx__conn): a non-blocking TCP socket to one of the
 * resolved addresses of a host, optionally TLS over it and SASL authentication, ApiVersions
 * negotiation, framing, request pipelining with correlation ids, per-request timeouts and
 * reconnect backoff.
 *
 * States and their transitions (one function per transition in conn.c and conn_security.c):
 *
 *   DISCONNECTED --connect--> CONNECTING --TCP up--> [TLS_HANDSHAKE] --> API_VERSIONS
 *        ^                                                                  |
 *        |                               READY <-- [SASL] <--negotiated-----+
 *        +------ close (error, timeout, peer closed, auth failure, ktx__conn_close) ------+
 *
 * TLS_HANDSHAKE is entered when security.protocol is SSL or SASL_SSL: the socket's poll
 * events follow the session's WANT_READ / WANT_WRITE, and from then on every byte goes
 * through the session. SASL is entered for SASL_PLAINTEXT and SASL_SSL: SaslHandshake v1
 * with the mechanism, then SaslAuthenticate (v0-2) exchanges until the mechanism is done.
 * An authentication failure (an untrusted, expired or wrong-host certificate, a refused
 * client certificate, an unsupported mechanism, a refused user or password) is reported
 * once through ktx__conn_conf.on_auth_error, kept in ktx__conn_last_error(), and closes the
 * connection with a reconnect backoff of reconnect.backoff.max.ms, not one step, so that a
 * wrong password never turns into a reconnect storm.
 *
 * CLOSING is the short state in which in-flight requests are being failed: callbacks that
 * run then see a connection that takes no new request.
 *
 * The connection never decodes a body except ApiVersions: a completion callback receives
 * the raw response body (after the response header) and decodes it with the right codec.
 * It owns no thread and no clock: every call gets the caller's monotonic time |now| in
 * milliseconds, and the caller polls the descriptor (ktx__conn_poll_events()) and hands the
 * events back (ktx__conn_on_events()). struct ktx__net (net.h) does that for every
 * connection of a producer.
 *
 * Thread: every function runs on the thread that owns the connection (the sender thread).
 * Locks: none; a connection is not shared.
 */
#ifndef KTX_CONN_H
#define KTX_CONN_H

#include "proto.h"

/* Number of API key slots in the negotiated-version table (keys 0..KTX__CONN_API_SLOTS-1). */
#define KTX__CONN_API_SLOTS 128
/* Defaults for the ceilings of struct ktx__conn_conf when left 0. */
#define KTX__CONN_DEFAULT_MAX_RESPONSE (100 * 1024 * 1024)
#define KTX__CONN_DEFAULT_MAX_OUTPUT (256 * 1024 * 1024)

enum ktx__conn_state {
    KTX__CONN_DISCONNECTED,
    KTX__CONN_CONNECTING,
    KTX__CONN_TLS_HANDSHAKE,
    KTX__CONN_API_VERSIONS,
    KTX__CONN_SASL,
    KTX__CONN_READY,
    KTX__CONN_CLOSING,
};

struct ktx__conn;
struct ktx__conf_values;
struct ktx__tls_ctx;

/*
 * Called once per authentication failure of |conn| with the error |code| (KTX_ERR_AUTH, or
 * KTX_ERR_UNSUPPORTED_SASL_MECHANISM) and a message |msg| that names the host and the reason
 * and never contains a secret (borrowed, valid during the call). The connection is already
 * closed (DISCONNECTED, backoff of reconnect.backoff.max.ms). The callback must not destroy
 * |conn|. Thread: the connection's.
 */
typedef void ktx__conn_auth_cb(struct ktx__conn *conn, int code, const char *msg,
                               void *opaque);

/* Settings of a connection; copied by ktx__conn_new() (|client_id| is duplicated). */
struct ktx__conn_conf {
    const char *client_id;            /* request header client id; NULL sends null */
    int64_t request_timeout_ms;       /* request.timeout.ms */
    int64_t connect_timeout_ms;       /* socket.connection.setup.timeout.ms, per address */
    int64_t reconnect_backoff_ms;     /* reconnect.backoff.ms */
    int64_t reconnect_backoff_max_ms; /* reconnect.backoff.max.ms */
    int max_in_flight;                /* max.in.flight.requests.per.connection */
    size_t max_response_size;         /* ceiling on one response frame (a bigger one closes
                                         the connection); 0 = default */
    size_t max_output_size;           /* ceiling on the unsent output buffer (a request that
                                         would pass it is refused); 0 = default */
    uint64_t jitter_seed;             /* seed of the backoff jitter; 0 = from the clock */
    /* Security: security.protocol, sasl.* (and ssl.* through |tls_ctx|). Borrowed: it must
     * outlive the connection. NULL means PLAINTEXT. */
    const struct ktx__conf_values *security;
    /* The TLS context (tls.h) for SSL and SASL_SSL, borrowed: it must outlive the
     * connection. ktx__net_new() creates it when it is NULL and |security| asks for TLS. */
    struct ktx__tls_ctx *tls_ctx;
    ktx__conn_auth_cb *on_auth_error; /* may be NULL */
    void *auth_opaque;
};

/*
 * Completion of a request. |err| is 0 with the response body in |body| (|len| bytes, after
 * the response header; borrowed, valid only during the call), or: KTX_ERR_TIMED_OUT (no
 * answer within request.timeout.ms; the connection is then closed), KTX_ERR_TRANSPORT (the
 * connection failed or was closed before the answer came), with |body| NULL. A request sent
 * with |no_response| completes with 0 and a NULL body once written to the socket.
 * The callback may send new requests (on any connection) and may call ktx__conn_close();
 * it must not destroy the connection.
 */
typedef void ktx__conn_cb(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                          void *opaque);

/* Appends the body of a request at version |ver| to |w| and returns 0 or an error
 * (the convention of the codecs' encoders). */
typedef int ktx__conn_encode_fn(struct ktx__writer *w, int16_t ver, void *opaque);

/* One request to queue with ktx__conn_send(). */
struct ktx__conn_req {
    int16_t api_key;
    int16_t version;             /* -1: the highest version negotiated for |api_key| */
    bool no_response;            /* acks=0 Produce: completes when written */
    ktx__conn_encode_fn *encode; /* encodes the body; when NULL |body| is sent as is */
    void *encode_opaque;
    const uint8_t *body;         /* already-encoded body (copied), when |encode| is NULL */
    size_t body_len;
    ktx__conn_cb *cb;            /* may be NULL: the result is dropped */
    void *opaque;
};

/* Counters for tests and statistics; never reset. */
struct ktx__conn_stats {
    uint64_t connect_attempts;    /* addresses tried (one per socket opened or refused) */
    uint64_t connects;            /* times the connection reached READY */
    uint64_t disconnects;         /* times an established or connecting socket was closed */
    uint64_t api_versions_fallbacks; /* ApiVersions retried at v0 after a refused newer one */
    uint64_t requests_sent;
    uint64_t responses;
    uint64_t timeouts;
    int64_t last_attempt_ms;      /* |now| of the last address tried, -1 before any */
    uint64_t tls_handshakes;      /* TLS handshakes completed */
    uint64_t sasl_authentications; /* SASL authentications completed */
    uint64_t auth_failures;       /* TLS or SASL authentication failures */
};

/*
 * Creates a disconnected connection to |host|:|port| with |conf|. Does no I/O.
 * |host| and |conf| are copied. On success stores the connection in |*out| (the caller
 * destroys it with ktx__conn_destroy()) and returns 0; returns KTX_ERR_INVALID_ARG for an
 * empty host, a port outside 1..65535 or max_in_flight < 1, or KTX_ERR_NO_MEMORY.
 */
int ktx__conn_new(struct ktx__conn **out, const char *host, int port,
                  const struct ktx__conn_conf *conf);

/* Closes the socket, fails every in-flight request with KTX_ERR_TRANSPORT and frees |conn|.
 * NULL-safe. Must not be called from one of |conn|'s callbacks. */
void ktx__conn_destroy(struct ktx__conn *conn);

/*
 * Starts connecting when |conn| is DISCONNECTED and its reconnect backoff has passed:
 * resolves the host (getaddrinfo, which may block on DNS) and starts a non-blocking connect
 * to the first address; an address that fails at once is skipped for the next one.
 * Returns 0 when a connect is under way (or the connection is already past DISCONNECTED),
 * KTX_ERR_STATE while the backoff lasts or while CLOSING (from a completion callback),
 * KTX_ERR_TRANSPORT when no address could be tried or resolved
 * (the connection stays DISCONNECTED with a new backoff), KTX_ERR_NO_MEMORY.
 */
int ktx__conn_connect(struct ktx__conn *conn, int64_t now);

/*
 * Closes the connection: every in-flight request fails with KTX_ERR_TRANSPORT, the state
 * goes to DISCONNECTED and, when |backoff| is true, the reconnect backoff grows by one step.
 * Safe to call from a completion callback.
 */
void ktx__conn_close(struct ktx__conn *conn, bool backoff, int64_t now);

/*
 * Queues |req|: encodes header and body into the output buffer and tracks the request
 * until its response comes (or until written for |no_response|). |conn| must be READY
 * with fewer than max_in_flight requests in flight (ktx__conn_can_send()).
 * |req| is borrowed (its body is copied). On success the callback is called exactly once
 * later (never from inside this call). Returns 0; KTX_ERR_STATE when not ready;
 * KTX_ERR_QUEUE_FULL when max_in_flight requests are in flight; KTX_ERR_UNSUPPORTED when
 * the broker does not support |req->api_key| (or the version asked for); KTX_ERR_BAD_MSG
 * when the encoder failed or the request would pass the output ceiling; the encoder's
 * error; KTX_ERR_NO_MEMORY. On failure nothing is queued and the callback is not called.
 */
int ktx__conn_send(struct ktx__conn *conn, const struct ktx__conn_req *req, int64_t now);

/* True when |conn| is READY and has room for one more request in flight. */
bool ktx__conn_can_send(const struct ktx__conn *conn);

/* Returns the negotiated version of |api_key| (the highest both sides speak), or -1 when
 * the broker or kafkatx does not support it or nothing was negotiated yet. */
int16_t ktx__conn_api_version(const struct ktx__conn *conn, int16_t api_key);

/* Returns the socket to poll (-1 when there is none) and stores the poll(2) events wanted
 * in |*events|. */
int ktx__conn_poll_events(const struct ktx__conn *conn, short *events);

/*
 * Handles poll(2) results |revents| for the socket: finishes a connect, writes pending
 * output, reads and dispatches responses (callbacks run here), and closes the connection
 * on an error. Returns nothing: failures show as callbacks and state changes.
 */
void ktx__conn_on_events(struct ktx__conn *conn, short revents, int64_t now);

/*
 * Enforces the connect timeout (the next address is tried) and request.timeout.ms (the
 * timed-out request fails with KTX_ERR_TIMED_OUT and the connection is closed, as Kafka
 * does). Call after every poll.
 */
void ktx__conn_check_timeouts(struct ktx__conn *conn, int64_t now);

/* Returns the earliest time at which ktx__conn_check_timeouts() or ktx__conn_connect() has
 * something to do (a connect or request deadline, the end of the backoff), or INT64_MAX. */
int64_t ktx__conn_next_deadline(const struct ktx__conn *conn);

/* Returns the time at which a connect may start (the end of the reconnect backoff). */
int64_t ktx__conn_backoff_until(const struct ktx__conn *conn);

/* Returns the current state of |conn|. */
enum ktx__conn_state ktx__conn_state(const struct ktx__conn *conn);
/* Returns a static name for |state| ("READY", ...), for logs. */
const char *ktx__conn_state_name(enum ktx__conn_state state);
/* Number of the caller's requests queued and not yet completed (the connection's own
 * ApiVersions request is not counted). */
int ktx__conn_in_flight(const struct ktx__conn *conn);
/* Returns the host, borrowed (it lives as long as |conn|), and the port. */
const char *ktx__conn_host(const struct ktx__conn *conn);
int ktx__conn_port(const struct ktx__conn *conn);
/* Returns the counters of |conn|, borrowed (they live as long as |conn| and change with
 * every call that does I/O). */
const struct ktx__conn_stats *ktx__conn_stats(const struct ktx__conn *conn);
/* The ApiVersions version that the next negotiation starts with (3, or 0 after a fallback
 * on a fresh connection). */
int16_t ktx__conn_api_versions_version(const struct ktx__conn *conn);

/*
 * Returns the code of the last TLS or SASL failure of |conn| since its last connect started
 * (0 when none): KTX_ERR_AUTH or KTX_ERR_UNSUPPORTED_SASL_MECHANISM for an authentication
 * failure, KTX_ERR_TRANSPORT for a handshake that the peer cut or a malformed SASL answer.
 * Stores its message in |*msg| (when not NULL; "" when none), borrowed: it lives until the
 * next connect of |conn|. It never contains a secret.
 */
int ktx__conn_last_error(const struct ktx__conn *conn, const char **msg);

/* Returns the negotiated TLS protocol of the current session ("TLSv1.3", ...), or "" when
 * the connection does not use TLS or the handshake has not finished. Static. */
const char *ktx__conn_tls_version(const struct ktx__conn *conn);

/*
 * Reconnect and retry backoff, as Kafka's ExponentialBackoff with multiplier 2 and jitter
 * 0.2: min(|base_ms| * 2^|attempts|, |max_ms|) times a factor in [0.8, 1.2] taken from
 * |rnd| in [0, 1) (0.5 gives the plain value). |attempts| counts failures before this one
 * (0 for the first). Pure.
 */
int64_t ktx__conn_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempts, double rnd);

/*
 * ---- Between conn.c and conn_security.c only ----
 *
 * struct ktx__conn_sec is the security side of one connection: its socket I/O (through the
 * TLS session when there is one), the poll events the session needs, and the SASL exchange.
 * Functions that fail store the code and a message without secrets, read back with
 * ktx__conn_sec_error(). Thread: the connection's.
 */
struct ktx__conn_sec;

/* "Call again after poll" result of ktx__conn_sec_read() and ktx__conn_sec_write(). */
#define KTX__CONN_IO_AGAIN 1

/* Creates the security side for |conf| (borrowed; its |security| and |tls_ctx| are kept).
 * Returns 0, KTX_ERR_INVALID_ARG when TLS is asked for without a context, or
 * KTX_ERR_NO_MEMORY. */
int ktx__conn_sec_new(struct ktx__conn_sec **out, const struct ktx__conn_conf *conf);
/* Frees the TLS session (after close_notify when it was up) and the SASL client, keeping
 * the last error. Call before closing the socket. */
void ktx__conn_sec_reset(struct ktx__conn_sec *sec);
/* Resets and frees |sec|. NULL-safe. */
void ktx__conn_sec_free(struct ktx__conn_sec *sec);
/* Whether security.protocol is SSL or SASL_SSL, and SASL_PLAINTEXT or SASL_SSL. */
bool ktx__conn_sec_uses_tls(const struct ktx__conn_sec *sec);
bool ktx__conn_sec_uses_sasl(const struct ktx__conn_sec *sec);
/* The last failure's code (0 when none) and message (borrowed from |sec|). */
int ktx__conn_sec_error(const struct ktx__conn_sec *sec, const char **msg);
void ktx__conn_sec_clear_error(struct ktx__conn_sec *sec);
/* The negotiated TLS protocol, or "". */
const char *ktx__conn_sec_tls_version(const struct ktx__conn_sec *sec);
/* Starts a TLS session over the connected |fd| to |host| (borrowed). Returns 0 or an error. */
int ktx__conn_sec_tls_start(struct ktx__conn_sec *sec, int fd, const char *host);
/* Advances the handshake: 0 when done, KTX__TLS_WANT_READ / KTX__TLS_WANT_WRITE, or
 * KTX_ERR_AUTH / KTX_ERR_TRANSPORT (message names |host|:|port|). */
int ktx__conn_sec_tls_handshake(struct ktx__conn_sec *sec, const char *host, int port);
/* Reads up to |len| bytes from |fd| (through TLS when up) into |buf|: 0 with |*n| (0 means
 * the peer closed), KTX__CONN_IO_AGAIN, KTX_ERR_AUTH or KTX_ERR_TRANSPORT. */
int ktx__conn_sec_read(struct ktx__conn_sec *sec, int fd, void *buf, size_t len, size_t *n,
                       const char *host);
/* Writes up to |len| (> 0) bytes: 0 with |*n| (> 0), KTX__CONN_IO_AGAIN (call again with the
 * same bytes, possibly more after them), KTX_ERR_AUTH or KTX_ERR_TRANSPORT. */
int ktx__conn_sec_write(struct ktx__conn_sec *sec, int fd, const void *buf, size_t len,
                        size_t *n, const char *host);
/* Decrypted bytes buffered in the session that poll(2) cannot see. */
size_t ktx__conn_sec_pending(const struct ktx__conn_sec *sec);
/* The poll events to ask for: the handshake's when |handshake|, else POLLIN and POLLOUT
 * when output is pending (|out_pending|) or a read waits for writability. */
short ktx__conn_sec_events(const struct ktx__conn_sec *sec, bool handshake, bool out_pending);
/* Which of write and read |revents| allow, given what the session waits for. */
void ktx__conn_sec_io_ready(const struct ktx__conn_sec *sec, short revents, bool *do_write,
                            bool *do_read);
/* Creates the SASL client and queues SaslHandshake v1 on |conn| (state SASL). Returns 0 or
 * the failure (KTX_ERR_AUTH, KTX_ERR_BAD_CONFIG mapped to KTX_ERR_AUTH, ...). */
int ktx__conn_sec_sasl_start(struct ktx__conn_sec *sec, struct ktx__conn *conn, int64_t now);
/* Handles the response to the SASL request |api_key| sent at |ver|: 0 (the next
 * SaslAuthenticate is queued), KTX__SASL_DONE (authenticated), or the failure:
 * KTX_ERR_UNSUPPORTED_SASL_MECHANISM, KTX_ERR_AUTH, KTX_ERR_TRANSPORT (malformed answer). */
int ktx__conn_sec_sasl_on_response(struct ktx__conn_sec *sec, struct ktx__conn *conn,
                                   int16_t api_key, int16_t ver, const uint8_t *body,
                                   size_t len, int64_t now);
/* Queues one of the connection's own requests (no callback; its response goes to the
 * connection) at version |ver|, in any state past the TCP connect. conn.c. */
int ktx__conn_queue_internal(struct ktx__conn *conn, const struct ktx__conn_req *req,
                             int16_t ver, int64_t now);

#endif /* KTX_CONN_H */
