/*
 * The security side of a broker connection (struct ktx__conn_sec): the socket I/O, through
 * a TLS session for SSL and SASL_SSL or plain send/recv otherwise, the poll events that the
 * session needs, and the SASL exchange (SaslHandshake v1, then SaslAuthenticate until the
 * mechanism is done). conn.c drives the states; this file does the work of the TLS_HANDSHAKE
 * and SASL states and owns the session and the SASL client.
 *
 * Messages kept here name the host, the mechanism and the reason; they come from tls.c,
 * sasl.c and the broker's error_message, none of which contains a password or a key.
 *
 * Thread: the connection's. Locks: none.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "proto_sasl.h"
#include "sasl.h"
#include "tls.h"

#define SASL_HANDSHAKE_VERSION 1 /* v0 is followed by raw frames, which we do not speak */
#define SASL_AUTHENTICATE_MAX_VERSION 2

struct ktx__conn_sec {
    enum ktx__security_protocol protocol;
    const struct ktx__conf_values *cv; /* borrowed; NULL for PLAINTEXT */
    struct ktx__tls_ctx *tls_ctx;      /* borrowed */
    struct ktx__tls *tls;              /* the session of the current socket */
    bool tls_up;                       /* the handshake finished */
    bool got_data;                     /* the session delivered application data */
    bool read_wants_write;             /* the last read needs POLLOUT to go on */
    bool write_wants_read;             /* the last write needs POLLIN to go on */
    short handshake_events;            /* what the handshake waits for */
    struct ktx__sasl *sasl;
    int error;                         /* the last authentication failure, or 0 */
    char msg[512];
};

/* Stores |code| and a formatted message as the last failure; returns |code|. */
static int fail(struct ktx__conn_sec *sec, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ktx__conn_sec *sec, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sec->msg, sizeof(sec->msg), fmt, ap);
    va_end(ap);
    sec->error = code;
    return code;
}

/* ---- life cycle ---- */

int ktx__conn_sec_new(struct ktx__conn_sec **out, const struct ktx__conn_conf *conf)
{
    struct ktx__conn_sec *sec = calloc(1, sizeof(*sec));

    if (sec == NULL)
        return KTX_ERR_NO_MEMORY;
    sec->cv = conf->security;
    sec->protocol = sec->cv != NULL ? sec->cv->security_protocol : KTX__SECURITY_PLAINTEXT;
    sec->tls_ctx = conf->tls_ctx;
    if (ktx__conn_sec_uses_tls(sec) && sec->tls_ctx == NULL) {
        free(sec);
        return KTX_ERR_INVALID_ARG;
    }
    *out = sec;
    return 0;
}

void ktx__conn_sec_reset(struct ktx__conn_sec *sec)
{
    if (sec->tls != NULL && sec->tls_up)
        ktx__tls_shutdown(sec->tls);
    ktx__tls_free(sec->tls);
    sec->tls = NULL;
    sec->tls_up = false;
    sec->got_data = false;
    sec->read_wants_write = false;
    sec->write_wants_read = false;
    ktx__sasl_free(sec->sasl);
    sec->sasl = NULL;
}

void ktx__conn_sec_free(struct ktx__conn_sec *sec)
{
    if (sec == NULL)
        return;
    ktx__conn_sec_reset(sec);
    free(sec);
}

bool ktx__conn_sec_uses_tls(const struct ktx__conn_sec *sec)
{
    return sec->protocol == KTX__SECURITY_SSL || sec->protocol == KTX__SECURITY_SASL_SSL;
}

bool ktx__conn_sec_uses_sasl(const struct ktx__conn_sec *sec)
{
    return sec->protocol == KTX__SECURITY_SASL_PLAINTEXT ||
           sec->protocol == KTX__SECURITY_SASL_SSL;
}

int ktx__conn_sec_error(const struct ktx__conn_sec *sec, const char **msg)
{
    if (msg != NULL)
        *msg = sec->error != 0 ? sec->msg : "";
    return sec->error;
}

void ktx__conn_sec_clear_error(struct ktx__conn_sec *sec)
{
    sec->error = 0;
    sec->msg[0] = '\0';
}

const char *ktx__conn_sec_tls_version(const struct ktx__conn_sec *sec)
{
    return sec->tls != NULL && sec->tls_up ? ktx__tls_version(sec->tls) : "";
}

/* ---- TLS handshake ---- */

/*
 * The session ended before any answer (|detail|: the reset, the EOF or the alert) after the
 * broker asked for a client certificate that we do not have: the broker requires one. A TLS
 * 1.3 broker refuses only after our Finished, and a TCP reset can overtake its "certificate
 * required" alert, so the cause is named here rather than reported as a transport error
 * (which would reconnect at the fast pace, forever). Stores the authentication failure and
 * returns true; false when that is not the case.
 */
static bool client_cert_required(struct ktx__conn_sec *sec, const char *host, const char *detail)
{
    if (sec->tls == NULL || sec->got_data || !ktx__tls_client_cert_missing(sec->tls))
        return false;
    fail(sec, KTX_ERR_AUTH, "TLS session with %s refused: the broker requires a client "
         "certificate and none is configured (set ssl.certificate.location and "
         "ssl.key.location, or ssl.certificate.pem and ssl.key.pem)%s%s", host,
         detail[0] != '\0' ? ": " : "", detail);
    return true;
}

int ktx__conn_sec_tls_start(struct ktx__conn_sec *sec, int fd, const char *host)
{
    int rc;

    ktx__conn_sec_reset(sec);
    rc = ktx__tls_session_new(&sec->tls, sec->tls_ctx, fd, host);
    if (rc != 0)
        return fail(sec, rc, "cannot start a TLS session with %s: %s", host,
                    ktx_err_description(rc));
    sec->handshake_events = POLLOUT;
    return 0;
}

int ktx__conn_sec_tls_handshake(struct ktx__conn_sec *sec, const char *host, int port)
{
    char err[384] = "";
    int rc = ktx__tls_handshake(sec->tls, err, sizeof(err));

    if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE) {
        sec->handshake_events = rc == KTX__TLS_WANT_READ ? POLLIN : POLLOUT;
        return rc;
    }
    if (rc == 0) {
        sec->tls_up = true;
        return 0;
    }
    /* An authentication error here may be our verification of the broker (TLS 1.3 asks for
     * our certificate before it sends its own): only a transport one is re-read. */
    if (rc == KTX_ERR_TRANSPORT && client_cert_required(sec, host, err))
        return KTX_ERR_AUTH;
    return fail(sec, rc, "TLS handshake with %s:%d failed: %s", host, port,
                err[0] != '\0' ? err : ktx_err_description(rc));
}

/* ---- socket I/O ---- */

/* Plain recv(2): 0 with |*n| (0 = closed), KTX__CONN_IO_AGAIN or KTX_ERR_TRANSPORT. */
static int plain_read(int fd, void *buf, size_t len, size_t *n)
{
    for (;;) {
        ssize_t got = recv(fd, buf, len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return KTX__CONN_IO_AGAIN;
        if (got < 0)
            return KTX_ERR_TRANSPORT;
        *n = (size_t)got;
        return 0;
    }
}

/* Plain send(2): 0 with |*n| (> 0), KTX__CONN_IO_AGAIN or KTX_ERR_TRANSPORT. */
static int plain_write(int fd, const void *buf, size_t len, size_t *n)
{
    for (;;) {
        ssize_t put = send(fd, buf, len, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return KTX__CONN_IO_AGAIN;
        if (put <= 0)
            return KTX_ERR_TRANSPORT;
        *n = (size_t)put;
        return 0;
    }
}

int ktx__conn_sec_read(struct ktx__conn_sec *sec, int fd, void *buf, size_t len, size_t *n,
                       const char *host)
{
    char err[384] = "";
    int rc;

    if (sec->tls == NULL)
        return plain_read(fd, buf, len, n);
    sec->read_wants_write = false;
    rc = ktx__tls_read(sec->tls, buf, len, n, err, sizeof(err));
    if (rc == KTX__TLS_WANT_READ)
        return KTX__CONN_IO_AGAIN;
    if (rc == KTX__TLS_WANT_WRITE) {
        sec->read_wants_write = true;
        return KTX__CONN_IO_AGAIN;
    }
    if (rc == 0 && *n > 0) {
        sec->got_data = true;
        return 0;
    }
    if (client_cert_required(sec, host, rc == 0 ? "the broker closed the connection" : err))
        return KTX_ERR_AUTH;
    if (rc == KTX_ERR_AUTH)
        return fail(sec, rc, "TLS session with %s refused: %s", host, err);
    return rc;
}

int ktx__conn_sec_write(struct ktx__conn_sec *sec, int fd, const void *buf, size_t len,
                        size_t *n, const char *host)
{
    char err[384] = "";
    int rc;

    if (sec->tls == NULL)
        return plain_write(fd, buf, len, n);
    sec->write_wants_read = false;
    rc = ktx__tls_write(sec->tls, buf, len, n, err, sizeof(err));
    if (rc == KTX__TLS_WANT_WRITE)
        return KTX__CONN_IO_AGAIN;
    if (rc == KTX__TLS_WANT_READ) {
        sec->write_wants_read = true;
        return KTX__CONN_IO_AGAIN;
    }
    if (rc != 0 && client_cert_required(sec, host, err))
        return KTX_ERR_AUTH;
    if (rc == KTX_ERR_AUTH)
        return fail(sec, rc, "TLS session with %s refused: %s", host, err);
    return rc;
}

size_t ktx__conn_sec_pending(const struct ktx__conn_sec *sec)
{
    return sec->tls != NULL ? ktx__tls_pending(sec->tls) : 0;
}

short ktx__conn_sec_events(const struct ktx__conn_sec *sec, bool handshake, bool out_pending)
{
    if (handshake)
        return sec->handshake_events;
    /* A write that waits for a read must not poll POLLOUT: the socket is writable and the
     * loop would spin. */
    return (short)(POLLIN | (((out_pending && !sec->write_wants_read) || sec->read_wants_write)
                                 ? POLLOUT
                                 : 0));
}

void ktx__conn_sec_io_ready(const struct ktx__conn_sec *sec, short revents, bool *do_write,
                            bool *do_read)
{
    bool in = (revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    bool out = (revents & POLLOUT) != 0;

    *do_write = sec->write_wants_read ? in : out;
    *do_read = in || (sec->read_wants_write && out);
}

/* ---- SASL ---- */

static int handshake_encode(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__sasl_handshake_req req = {ktx__str_c(opaque)};
    return ktx__proto_sasl_handshake_req_encode(w, ver, &req);
}

static int authenticate_encode(struct ktx__writer *w, int16_t ver, void *opaque)
{
    return ktx__proto_sasl_authenticate_req_encode(w, ver, opaque);
}

/* Queues SaslAuthenticate with |len| bytes of |bytes|. */
static int send_authenticate(struct ktx__conn_sec *sec, struct ktx__conn *conn,
                             const uint8_t *bytes, size_t len, int64_t now)
{
    struct ktx__sasl_authenticate_req req;
    struct ktx__conn_req creq;
    int16_t ver = ktx__conn_api_version(conn, KTX__API_SASL_AUTHENTICATE);
    int rc;

    if (len > INT32_MAX)
        return fail(sec, KTX_ERR_AUTH, "SASL token too large");
    req.auth_bytes.ptr = bytes;
    req.auth_bytes.len = (int32_t)len;
    memset(&creq, 0, sizeof(creq));
    creq.api_key = KTX__API_SASL_AUTHENTICATE;
    creq.encode = authenticate_encode;
    creq.encode_opaque = &req;
    rc = ktx__conn_queue_internal(conn, &creq, KTX__MIN(ver, SASL_AUTHENTICATE_MAX_VERSION), now);
    return rc == 0 ? 0 : fail(sec, rc, "cannot queue SaslAuthenticate: %s",
                              ktx_err_description(rc));
}

int ktx__conn_sec_sasl_start(struct ktx__conn_sec *sec, struct ktx__conn *conn, int64_t now)
{
    const char *host = ktx__conn_host(conn);
    const char *mech = ktx__sasl_mechanism_name(sec->cv->sasl_mechanism);
    struct ktx__conn_req creq;
    char err[384] = "";
    int rc;

    if (ktx__conn_api_version(conn, KTX__API_SASL_HANDSHAKE) < SASL_HANDSHAKE_VERSION ||
        ktx__conn_api_version(conn, KTX__API_SASL_AUTHENTICATE) < 0)
        return fail(sec, KTX_ERR_AUTH, "broker %s:%d does not support SaslHandshake v1 and "
                    "SaslAuthenticate: is its listener SASL_*?", host, ktx__conn_port(conn));
    ktx__sasl_free(sec->sasl);
    sec->sasl = NULL;
    rc = ktx__sasl_new(&sec->sasl, sec->cv->sasl_mechanism, sec->cv, host, err, sizeof(err));
    if (rc != 0)
        return fail(sec, rc == KTX_ERR_NO_MEMORY ? rc : KTX_ERR_AUTH,
                    "SASL %s for %s: %s", mech != NULL ? mech : "(no sasl.mechanism)", host, err);
    memset(&creq, 0, sizeof(creq));
    creq.api_key = KTX__API_SASL_HANDSHAKE;
    creq.encode = handshake_encode;
    creq.encode_opaque = (void *)(uintptr_t)mech;
    rc = ktx__conn_queue_internal(conn, &creq, SASL_HANDSHAKE_VERSION, now);
    return rc == 0 ? 0 : fail(sec, rc, "cannot queue SaslHandshake: %s",
                              ktx_err_description(rc));
}

/* Runs one step of the mechanism on |in| and sends its output, or reports DONE. */
static int step(struct ktx__conn_sec *sec, struct ktx__conn *conn, const uint8_t *in,
                size_t in_len, int64_t now)
{
    const char *mech = ktx__sasl_mechanism_name(sec->cv->sasl_mechanism);
    const uint8_t *out = NULL;
    size_t out_len = 0;
    char err[384] = "";
    int rc = ktx__sasl_step(sec->sasl, in, in_len, &out, &out_len, err, sizeof(err));

    if (rc == KTX__SASL_DONE)
        return KTX__SASL_DONE;
    if (rc == KTX__SASL_CONTINUE)
        return send_authenticate(sec, conn, out, out_len, now);
    return fail(sec, rc == KTX_ERR_NO_MEMORY ? rc : KTX_ERR_AUTH,
                "SASL %s authentication with %s:%d failed: %s", mech, ktx__conn_host(conn),
                ktx__conn_port(conn), err);
}

/* Formats the broker's enabled mechanisms of |resp| into |buf|. */
static void list_mechanisms(const struct ktx__sasl_handshake_resp *resp, char *buf,
                            size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int32_t i = 0; i < resp->mechanisms_count && used + 1 < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%.*s", i > 0 ? ", " : "",
                         (int)KTX__MAX(resp->mechanisms[i].len, 0), resp->mechanisms[i].ptr);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used >= size)
        buf[size - 1] = '\0';
}

static int on_handshake(struct ktx__conn_sec *sec, struct ktx__conn *conn, int16_t ver,
                        const uint8_t *body, size_t len, int64_t now)
{
    const char *mech = ktx__sasl_mechanism_name(sec->cv->sasl_mechanism);
    struct ktx__sasl_handshake_resp resp;
    struct ktx__arena arena;
    char list[256];
    int rc;

    ktx__arena_init(&arena, 0);
    rc = ktx__proto_sasl_handshake_resp_decode(body, len, ver, &resp, &arena);
    if (rc != 0) {
        rc = fail(sec, KTX_ERR_TRANSPORT, "malformed SaslHandshake response from %s",
                  ktx__conn_host(conn));
    } else if (resp.error_code == KTX_ERR_UNSUPPORTED_SASL_MECHANISM) {
        list_mechanisms(&resp, list, sizeof(list));
        rc = fail(sec, KTX_ERR_UNSUPPORTED_SASL_MECHANISM,
                  "broker %s:%d does not enable SASL mechanism %s (enabled: %s)",
                  ktx__conn_host(conn), ktx__conn_port(conn), mech,
                  list[0] != '\0' ? list : "none");
    } else if (resp.error_code != 0) {
        rc = fail(sec, KTX_ERR_AUTH, "SaslHandshake with %s:%d failed: %s",
                  ktx__conn_host(conn), ktx__conn_port(conn), ktx_err_name(resp.error_code));
    } else {
        rc = step(sec, conn, NULL, 0, now);
    }
    ktx__arena_free(&arena);
    return rc;
}

static int on_authenticate(struct ktx__conn_sec *sec, struct ktx__conn *conn, int16_t ver,
                           const uint8_t *body, size_t len, int64_t now)
{
    const char *mech = ktx__sasl_mechanism_name(sec->cv->sasl_mechanism);
    struct ktx__sasl_authenticate_resp resp;
    struct ktx__arena arena;
    int rc;

    ktx__arena_init(&arena, 0);
    rc = ktx__proto_sasl_authenticate_resp_decode(body, len, ver, &resp, &arena);
    if (rc != 0)
        rc = fail(sec, KTX_ERR_TRANSPORT, "malformed SaslAuthenticate response from %s",
                  ktx__conn_host(conn));
    else if (resp.error_code != 0)
        rc = fail(sec, KTX_ERR_AUTH, "SASL %s authentication with %s:%d failed: %s: %.*s",
                  mech, ktx__conn_host(conn), ktx__conn_port(conn),
                  ktx_err_name(resp.error_code),
                  resp.error_message.ptr != NULL ? (int)resp.error_message.len : 0,
                  resp.error_message.ptr != NULL ? resp.error_message.ptr : "");
    else
        rc = step(sec, conn, resp.auth_bytes.ptr, (size_t)KTX__MAX(resp.auth_bytes.len, 0),
                  now);
    ktx__arena_free(&arena);
    return rc;
}

int ktx__conn_sec_sasl_on_response(struct ktx__conn_sec *sec, struct ktx__conn *conn,
                                   int16_t api_key, int16_t ver, const uint8_t *body,
                                   size_t len, int64_t now)
{
    if (sec->sasl == NULL)
        return fail(sec, KTX_ERR_TRANSPORT, "unexpected SASL response");
    if (api_key == KTX__API_SASL_HANDSHAKE)
        return on_handshake(sec, conn, ver, body, len, now);
    return on_authenticate(sec, conn, ver, body, len, now);
}
