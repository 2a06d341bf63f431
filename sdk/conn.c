/*
 * One broker connection: see conn.h for the state diagram and the contract.
 *
 * Layout of this file: the backoff and small helpers; the state changes (one function per
 * state entered); the output side (queueing and writing requests); the input side (framing
 * and dispatching responses, ApiVersions negotiation); timeouts and accessors.
 */
#ifdef HAVE_CONFIG_H
#include "config.h" /* PACKAGE_VERSION, sent in ApiVersions v3+ */
#endif

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "proto_meta.h"
#include "sasl.h"
#include "tls.h"

#define API_VERSIONS_MAX_TRY 3 /* the ApiVersions version a negotiation starts with */
#define READ_CHUNK (64 * 1024) /* bytes a read asks for, at least */
#define READS_PER_EVENT 64     /* reads per readiness event, so that one socket cannot starve */
#define KEEP_INPUT_CAP (1024 * 1024) /* an idle input buffer above this is released */

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* One request sent and not yet completed. The list is in send order. */
struct inflight {
    struct inflight *next;
    int32_t correlation_id;
    int16_t api_key;
    int16_t version;
    bool no_response;
    bool internal;       /* the connection's own ApiVersions request: no callback */
    uint64_t end_offset; /* value of |out_total| once the request's last byte is queued */
    int64_t deadline;
    ktx__conn_cb *cb;
    void *opaque;
};

struct ktx__conn {
    char *host;
    int port;
    char *client_id;
    struct ktx__conn_conf conf;
    enum ktx__conn_state state;
    int fd;
    struct addrinfo *addrs;      /* resolved at the start of each connect */
    struct addrinfo *addr;       /* the address being tried */
    int64_t connect_deadline;
    unsigned failures;           /* consecutive failures since the last READY */
    int64_t backoff_until;
    uint64_t rng;
    int16_t versions[KTX__CONN_API_SLOTS];
    int16_t api_versions_ver;    /* the version the next ApiVersions request uses */
    int32_t next_correlation_id;
    struct inflight *head, *tail;
    int in_flight;
    struct ktx__writer out;      /* bytes [out_sent, out.len) are still to be written */
    size_t out_sent;
    uint64_t out_total;          /* bytes ever queued */
    uint64_t sent_total;         /* bytes ever written */
    uint8_t *in;
    size_t in_len, in_cap;
    uint64_t generation;         /* bumped by every close, so that dispatch loops notice */
    int close_err;               /* what in-flight requests fail with when closed */
    struct ktx__conn_sec *sec;   /* TLS session, SASL client, socket I/O */
    struct ktx__conn_stats stats;
};

static void close_with(struct ktx__conn *conn, bool backoff, int64_t now);

/* ---- backoff and helpers ---- */

int64_t ktx__conn_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempts, double rnd)
{
    double term = (double)(base_ms < 0 ? 0 : base_ms);

    for (unsigned i = 0; i < attempts && term < (double)max_ms; i++)
        term *= 2;
    if (term > (double)max_ms)
        term = (double)max_ms;
    if (rnd < 0 || rnd >= 1)
        rnd = 0.5;
    return (int64_t)(term * (0.8 + 0.4 * rnd));
}

/* xorshift64*: a uniform double in [0, 1) for the jitter. */
static double next_random(struct ktx__conn *conn)
{
    conn->rng ^= conn->rng >> 12;
    conn->rng ^= conn->rng << 25;
    conn->rng ^= conn->rng >> 27;
    return (double)((conn->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static uint64_t seed_from_clock(const void *salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)salt;
}

static void close_socket(struct ktx__conn *conn)
{
    ktx__conn_sec_reset(conn->sec);
    if (conn->fd >= 0)
        close(conn->fd);
    conn->fd = -1;
}

static void free_addrs(struct ktx__conn *conn)
{
    if (conn->addrs != NULL)
        freeaddrinfo(conn->addrs);
    conn->addrs = NULL;
    conn->addr = NULL;
}

/* ---- life cycle ---- */

int ktx__conn_new(struct ktx__conn **out, const char *host, int port,
                  const struct ktx__conn_conf *conf)
{
    struct ktx__conn *conn;

    if (host == NULL || host[0] == '\0' || port < 1 || port > 65535 || conf == NULL ||
        conf->max_in_flight < 1)
        return KTX_ERR_INVALID_ARG;
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return KTX_ERR_NO_MEMORY;
    int rc = ktx__conn_sec_new(&conn->sec, conf);
    if (rc != 0) {
        free(conn);
        return rc;
    }
    conn->host = strdup(host);
    conn->client_id = conf->client_id != NULL ? strdup(conf->client_id) : NULL;
    if (conn->host == NULL || (conf->client_id != NULL && conn->client_id == NULL)) {
        ktx__conn_sec_free(conn->sec);
        free(conn->host);
        free(conn->client_id);
        free(conn);
        return KTX_ERR_NO_MEMORY;
    }
    conn->port = port;
    conn->conf = *conf;
    conn->conf.client_id = conn->client_id;
    if (conn->conf.max_response_size == 0)
        conn->conf.max_response_size = KTX__CONN_DEFAULT_MAX_RESPONSE;
    if (conn->conf.max_output_size == 0)
        conn->conf.max_output_size = KTX__CONN_DEFAULT_MAX_OUTPUT;
    conn->rng = conf->jitter_seed != 0 ? conf->jitter_seed : seed_from_clock(conn);
    conn->fd = -1;
    conn->close_err = KTX_ERR_TRANSPORT;
    conn->state = KTX__CONN_DISCONNECTED;
    conn->api_versions_ver = API_VERSIONS_MAX_TRY;
    conn->next_correlation_id = 1;
    conn->stats.last_attempt_ms = -1;
    for (size_t i = 0; i < KTX__CONN_API_SLOTS; i++)
        conn->versions[i] = -1;
    ktx__w_init(&conn->out, 0, conn->conf.max_output_size);
    *out = conn;
    return 0;
}

void ktx__conn_destroy(struct ktx__conn *conn)
{
    if (conn == NULL)
        return;
    close_with(conn, false, 0);
    free_addrs(conn);
    ktx__w_free(&conn->out);
    ktx__conn_sec_free(conn->sec);
    free(conn->in);
    free(conn->host);
    free(conn->client_id);
    free(conn);
}

/* ---- state changes ---- */

static int queue_request(struct ktx__conn *conn, const struct ktx__conn_req *req, int16_t ver,
                         bool internal, int64_t now);

/* Gives up on the current attempt: DISCONNECTED with the next backoff step. */
static void enter_disconnected(struct ktx__conn *conn, bool backoff, int64_t now)
{
    close_socket(conn);
    free_addrs(conn);
    conn->state = KTX__CONN_DISCONNECTED;
    if (backoff) {
        conn->backoff_until = now + ktx__conn_backoff_ms(conn->conf.reconnect_backoff_ms,
                                                         conn->conf.reconnect_backoff_max_ms,
                                                         conn->failures, next_random(conn));
        conn->failures++;
    }
}

static int api_versions_encode(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__api_versions_req req = {ktx__str_c("kafkatx"), ktx__str_c(PACKAGE_VERSION)};
    (void)opaque;
    return ktx__proto_api_versions_req_encode(w, ver, &req);
}

/* Queues the connection's own ApiVersions request at |ver|. */
static int send_api_versions(struct ktx__conn *conn, int16_t ver, int64_t now)
{
    struct ktx__conn_req req;

    memset(&req, 0, sizeof(req));
    req.api_key = KTX__API_API_VERSIONS;
    req.encode = api_versions_encode;
    return queue_request(conn, &req, ver, true, now);
}

/*
 * An authentication failure: the connection closes (what is in flight fails with
 * KTX_ERR_AUTH), backs off for reconnect.backoff.max.ms since retrying soon cannot help,
 * and the owner hears of it once.
 */
static void fail_auth(struct ktx__conn *conn, int64_t now)
{
    const char *msg;
    int code = ktx__conn_sec_error(conn->sec, &msg);

    conn->stats.auth_failures++;
    conn->close_err = KTX_ERR_AUTH;
    close_with(conn, false, now);
    conn->close_err = KTX_ERR_TRANSPORT;
    conn->backoff_until = now + ktx__conn_backoff_ms(conn->conf.reconnect_backoff_max_ms,
                                                     conn->conf.reconnect_backoff_max_ms, 0,
                                                     next_random(conn));
    conn->failures++;
    if (conn->conf.on_auth_error != NULL)
        conn->conf.on_auth_error(conn, code, msg, conn->conf.auth_opaque);
}

/* A security step failed with |rc|: an authentication failure, or a transport one that
 * the usual backoff handles. */
static void security_failed(struct ktx__conn *conn, int rc, int64_t now)
{
    if (rc == KTX_ERR_AUTH || rc == KTX_ERR_UNSUPPORTED_SASL_MECHANISM ||
        rc == KTX_ERR_BAD_CONFIG)
        fail_auth(conn, now);
    else
        close_with(conn, true, now);
}

/* TLS is up (or not used): negotiate versions. */
static void enter_api_versions(struct ktx__conn *conn, int64_t now)
{
    conn->state = KTX__CONN_API_VERSIONS;
    if (send_api_versions(conn, conn->api_versions_ver, now) != 0)
        close_with(conn, true, now);
}

/* Advances the TLS handshake; on completion negotiates versions. */
static void step_tls(struct ktx__conn *conn, int64_t now)
{
    int rc = ktx__conn_sec_tls_handshake(conn->sec, conn->host, conn->port);

    if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE)
        return;
    if (rc != 0) {
        security_failed(conn, rc, now);
        return;
    }
    conn->stats.tls_handshakes++;
    enter_api_versions(conn, now);
}

/* The TCP connection is up: start TLS when configured, else negotiate versions. */
static void enter_connected(struct ktx__conn *conn, int64_t now)
{
    int one = 1;
    int rc;

    free_addrs(conn);
    (void)setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!ktx__conn_sec_uses_tls(conn->sec)) {
        enter_api_versions(conn, now);
        return;
    }
    conn->state = KTX__CONN_TLS_HANDSHAKE;
    /* The handshake has request.timeout.ms, as a request would. */
    conn->connect_deadline = now + conn->conf.request_timeout_ms;
    rc = ktx__conn_sec_tls_start(conn->sec, conn->fd, conn->host);
    if (rc != 0)
        security_failed(conn, rc, now);
    else
        step_tls(conn, now);
}

static void enter_ready(struct ktx__conn *conn)
{
    conn->state = KTX__CONN_READY;
    conn->failures = 0;
    conn->stats.connects++;
}

/*
 * Tries the addresses from |conn->addr| on until one connects or is under way. Returns 0
 * then; otherwise the connection goes DISCONNECTED with backoff and KTX_ERR_TRANSPORT.
 */
static int try_addresses(struct ktx__conn *conn, int64_t now)
{
    for (; conn->addr != NULL; conn->addr = conn->addr->ai_next) {
        const struct addrinfo *ai = conn->addr;
        int fd;

        conn->stats.connect_attempts++;
        conn->stats.last_attempt_ms = now;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        conn->fd = fd;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            enter_connected(conn, now);
            return 0;
        }
        if (errno == EINPROGRESS) {
            conn->state = KTX__CONN_CONNECTING;
            conn->connect_deadline = now + conn->conf.connect_timeout_ms;
            return 0;
        }
        close_socket(conn);
    }
    enter_disconnected(conn, true, now);
    return KTX_ERR_TRANSPORT;
}

/* Abandons the address being tried and moves to the next one. */
static void next_address(struct ktx__conn *conn, int64_t now)
{
    close_socket(conn);
    conn->stats.disconnects++;
    if (conn->addr != NULL)
        conn->addr = conn->addr->ai_next;
    (void)try_addresses(conn, now);
}

int ktx__conn_connect(struct ktx__conn *conn, int64_t now)
{
    struct addrinfo hints;
    char port[16];

    if (conn->state == KTX__CONN_CLOSING)
        return KTX_ERR_STATE;
    if (conn->state != KTX__CONN_DISCONNECTED)
        return 0;
    if (now < conn->backoff_until)
        return KTX_ERR_STATE;
    ktx__conn_sec_clear_error(conn->sec);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", conn->port);
    free_addrs(conn);
    if (getaddrinfo(conn->host, port, &hints, &conn->addrs) != 0) {
        conn->addrs = NULL;
        conn->stats.connect_attempts++;
        conn->stats.last_attempt_ms = now;
        enter_disconnected(conn, true, now);
        return KTX_ERR_TRANSPORT;
    }
    conn->addr = conn->addrs;
    return try_addresses(conn, now);
}

/*
 * Closes the connection and fails what was in flight: requests past their deadline with
 * KTX_ERR_TIMED_OUT, the others with KTX_ERR_TRANSPORT. Callbacks run in state CLOSING.
 */
static void close_with(struct ktx__conn *conn, bool backoff, int64_t now)
{
    struct inflight *list = conn->head;

    if (conn->state == KTX__CONN_DISCONNECTED || conn->state == KTX__CONN_CLOSING)
        return;
    /* A broker that drops the connection during negotiation may not know the version we
     * tried: the next connection starts at v0, as real clients do. */
    if (conn->state == KTX__CONN_API_VERSIONS && conn->api_versions_ver > 0) {
        conn->api_versions_ver = 0;
        conn->stats.api_versions_fallbacks++;
    }
    conn->state = KTX__CONN_CLOSING;
    conn->generation++;
    conn->stats.disconnects++;
    close_socket(conn);
    conn->head = conn->tail = NULL;
    conn->in_flight = 0;
    conn->out.len = 0;
    conn->out_sent = 0;
    conn->in_len = 0;
    for (size_t i = 0; i < KTX__CONN_API_SLOTS; i++)
        conn->versions[i] = -1;
    while (list != NULL) {
        struct inflight *inf = list;
        list = inf->next;
        if (!inf->internal && inf->cb != NULL)
            inf->cb(conn, backoff && inf->deadline <= now ? KTX_ERR_TIMED_OUT : conn->close_err,
                    NULL, 0, inf->opaque);
        free(inf);
    }
    enter_disconnected(conn, backoff, now);
}

void ktx__conn_close(struct ktx__conn *conn, bool backoff, int64_t now)
{
    close_with(conn, backoff, now);
}

/* ---- output ---- */

/* Moves the unsent bytes to the front of the output buffer. */
static void compact_output(struct ktx__conn *conn)
{
    size_t pending = conn->out.len - conn->out_sent;

    if (conn->out_sent == 0)
        return;
    memmove(conn->out.p, conn->out.p + conn->out_sent, pending);
    conn->out.len = pending;
    conn->out_sent = 0;
}

/* Appends header and body of |req| at |ver| to the output; 0 or the error (rolled back). */
static int encode_frame(struct ktx__conn *conn, const struct ktx__conn_req *req, int16_t ver,
                        int32_t correlation_id)
{
    struct ktx__req_header hdr = {req->api_key, ver, correlation_id,
                                  ktx__str_c(conn->client_id)};
    struct ktx__writer *w = &conn->out;
    size_t start = w->len;
    size_t size_off = ktx__w_reserve(w, 4);
    int rc = ktx__proto_req_header_encode(w, &hdr);

    if (rc == 0 && req->encode != NULL)
        rc = req->encode(w, ver, req->encode_opaque);
    else if (rc == 0 && req->body_len > 0)
        ktx__w_raw(w, req->body, req->body_len);
    if (rc == 0)
        rc = w->err;
    if (rc == 0 && w->len - size_off - 4 > INT32_MAX)
        rc = KTX_ERR_BAD_MSG;
    if (rc != 0) {
        w->len = start;
        w->err = 0;
        return rc;
    }
    ktx__w_patch_i32(w, size_off, (int32_t)(w->len - size_off - 4));
    return 0;
}

static int queue_request(struct ktx__conn *conn, const struct ktx__conn_req *req, int16_t ver,
                         bool internal, int64_t now)
{
    struct inflight *inf = calloc(1, sizeof(*inf));
    size_t before;
    int rc;

    if (inf == NULL)
        return KTX_ERR_NO_MEMORY;
    compact_output(conn);
    before = conn->out.len;
    rc = encode_frame(conn, req, ver, conn->next_correlation_id);
    if (rc != 0) {
        free(inf);
        return rc;
    }
    conn->out_total += conn->out.len - before;
    inf->correlation_id = conn->next_correlation_id;
    conn->next_correlation_id =
        conn->next_correlation_id == INT32_MAX ? 1 : conn->next_correlation_id + 1;
    inf->api_key = req->api_key;
    inf->version = ver;
    inf->no_response = req->no_response;
    inf->internal = internal;
    inf->end_offset = conn->out_total;
    inf->deadline = now + conn->conf.request_timeout_ms;
    inf->cb = req->cb;
    inf->opaque = req->opaque;
    if (conn->tail != NULL)
        conn->tail->next = inf;
    else
        conn->head = inf;
    conn->tail = inf;
    conn->in_flight++;
    conn->stats.requests_sent++;
    return 0;
}

int ktx__conn_queue_internal(struct ktx__conn *conn, const struct ktx__conn_req *req,
                             int16_t ver, int64_t now)
{
    if (conn->fd < 0 || conn->state == KTX__CONN_CLOSING)
        return KTX_ERR_STATE;
    return queue_request(conn, req, ver, true, now);
}

/* Resolves "highest negotiated" and checks the version against the negotiated one. */
static int16_t choose_version(const struct ktx__conn *conn, const struct ktx__conn_req *req)
{
    int16_t max = ktx__conn_api_version(conn, req->api_key);

    if (max < 0)
        return -1;
    if (req->version < 0)
        return max;
    return req->version <= max ? req->version : -1;
}

int ktx__conn_send(struct ktx__conn *conn, const struct ktx__conn_req *req, int64_t now)
{
    int16_t ver;

    if (conn->state != KTX__CONN_READY)
        return KTX_ERR_STATE;
    if (conn->in_flight >= conn->conf.max_in_flight)
        return KTX_ERR_QUEUE_FULL;
    ver = choose_version(conn, req);
    if (ver < 0)
        return KTX_ERR_UNSUPPORTED;
    return queue_request(conn, req, ver, false, now);
}

/* Completes the |no_response| requests whose bytes are all written. */
static void complete_written(struct ktx__conn *conn)
{
    uint64_t generation = conn->generation;
    struct inflight **link = &conn->head, *prev = NULL;

    /* The generation first: after a close, |link| may point into a freed entry. */
    while (conn->generation == generation && *link != NULL) {
        struct inflight *inf = *link;
        if (!inf->no_response || inf->end_offset > conn->sent_total) {
            prev = inf;
            link = &inf->next;
            continue;
        }
        *link = inf->next;
        if (conn->tail == inf)
            conn->tail = prev;
        conn->in_flight--;
        if (inf->cb != NULL)
            inf->cb(conn, 0, NULL, 0, inf->opaque);
        free(inf);
    }
}

/* Writes as much output as the socket (or the TLS session) takes. Returns 0,
 * KTX_ERR_TRANSPORT or KTX_ERR_AUTH. */
static int write_output(struct ktx__conn *conn)
{
    while (conn->out_sent < conn->out.len) {
        size_t n = 0;
        int rc = ktx__conn_sec_write(conn->sec, conn->fd, conn->out.p + conn->out_sent,
                                     conn->out.len - conn->out_sent, &n, conn->host);
        if (rc == KTX__CONN_IO_AGAIN)
            break;
        if (rc != 0)
            return rc;
        conn->out_sent += n;
        conn->sent_total += (uint64_t)n;
    }
    if (conn->out_sent == conn->out.len) {
        conn->out.len = 0;
        conn->out_sent = 0;
    }
    complete_written(conn);
    return 0;
}

/* ---- input ---- */

/* The first in-flight request that expects a response, unlinked from the list. */
static struct inflight *take_expected(struct ktx__conn *conn)
{
    struct inflight **link = &conn->head, *prev = NULL;

    while (*link != NULL && (*link)->no_response) {
        prev = *link;
        link = &(*link)->next;
    }
    struct inflight *inf = *link;
    if (inf == NULL)
        return NULL;
    *link = inf->next;
    if (conn->tail == inf)
        conn->tail = prev;
    conn->in_flight--;
    return inf;
}

/* The version of the next ApiVersions request after |ver| was refused; |resp| is the
 * decoded refusal or NULL. Kafka's brokers list their own ApiVersions range in it. */
static int16_t fallback_version(const struct ktx__api_versions_resp *resp, int16_t ver)
{
    if (resp != NULL && resp->error_code == KTX_ERR_UNSUPPORTED_VERSION)
        for (int32_t i = 0; i < resp->api_keys_count; i++)
            if (resp->api_keys[i].api_key == KTX__API_API_VERSIONS &&
                resp->api_keys[i].max_version < ver && resp->api_keys[i].max_version >= 0)
                return resp->api_keys[i].max_version;
    return 0;
}

/* Versions are negotiated: authenticate when SASL is configured, else ready. */
static void enter_sasl_or_ready(struct ktx__conn *conn, int64_t now)
{
    int rc;

    if (!ktx__conn_sec_uses_sasl(conn->sec)) {
        enter_ready(conn);
        return;
    }
    conn->state = KTX__CONN_SASL;
    rc = ktx__conn_sec_sasl_start(conn->sec, conn, now);
    if (rc != 0)
        security_failed(conn, rc, now);
}

/* Handles the answer to one of the connection's SASL requests. */
static void on_sasl_response(struct ktx__conn *conn, int16_t api_key, int16_t ver,
                             const uint8_t *body, size_t len, int64_t now)
{
    int rc = ktx__conn_sec_sasl_on_response(conn->sec, conn, api_key, ver, body, len, now);

    if (rc == KTX__SASL_DONE) {
        conn->stats.sasl_authentications++;
        enter_ready(conn);
    } else if (rc != 0) {
        security_failed(conn, rc, now);
    }
}

/* Handles the answer to the connection's ApiVersions request sent at |ver|. */
static void on_api_versions(struct ktx__conn *conn, int16_t ver, const uint8_t *body,
                            size_t len, int64_t now)
{
    struct ktx__api_versions_resp resp;
    struct ktx__arena arena;
    int rc;

    ktx__arena_init(&arena, 0);
    rc = ktx__proto_api_versions_resp_decode(body, len, ver, &resp, &arena);
    if (rc == 0 && resp.error_code == 0) {
        (void)ktx__proto_api_versions_pick(&resp, conn->versions, KTX__CONN_API_SLOTS);
        /* Start the next negotiation where this broker can answer. */
        conn->api_versions_ver =
            conn->versions[KTX__API_API_VERSIONS] >= 0
                ? KTX__MIN(conn->versions[KTX__API_API_VERSIONS], API_VERSIONS_MAX_TRY)
                : 0;
        enter_sasl_or_ready(conn, now);
    } else if (ver > 0) {
        /* A newer version refused (librdkafka's mock even answers it malformed): retry on
         * the same connection with the broker's own maximum, or v0. */
        conn->stats.api_versions_fallbacks++;
        conn->api_versions_ver = fallback_version(rc == 0 ? &resp : NULL, ver);
        if (send_api_versions(conn, conn->api_versions_ver, now) != 0)
            close_with(conn, true, now);
    } else {
        close_with(conn, true, now);
    }
    ktx__arena_free(&arena);
}

/*
 * Dispatches one response frame (header + body). Returns 0, or KTX_ERR_BAD_MSG for a frame
 * nobody waits for, a bad header or an unexpected correlation id.
 */
static int handle_frame(struct ktx__conn *conn, const uint8_t *p, size_t size, int64_t now)
{
    struct inflight *inf;
    struct ktx__reader r;
    int32_t correlation_id;

    if (conn->head == NULL)
        return KTX_ERR_BAD_MSG;
    ktx__r_init(&r, p, size);
    inf = conn->head;
    while (inf != NULL && inf->no_response)
        inf = inf->next;
    if (inf == NULL)
        return KTX_ERR_BAD_MSG;
    if (ktx__proto_resp_header_decode(&r, inf->api_key, inf->version, &correlation_id) != 0 ||
        r.err != 0 || correlation_id != inf->correlation_id)
        return KTX_ERR_BAD_MSG;
    inf = take_expected(conn);
    conn->stats.responses++;
    if (inf->internal && inf->api_key == KTX__API_API_VERSIONS)
        on_api_versions(conn, inf->version, p + r.pos, size - r.pos, now);
    else if (inf->internal)
        on_sasl_response(conn, inf->api_key, inf->version, p + r.pos, size - r.pos, now);
    else if (inf->cb != NULL)
        inf->cb(conn, 0, p + r.pos, size - r.pos, inf->opaque);
    free(inf);
    return 0;
}

/* Dispatches every complete frame in the input buffer. Returns 0 or KTX_ERR_BAD_MSG. */
static int process_input(struct ktx__conn *conn, int64_t now)
{
    uint64_t generation = conn->generation;
    size_t off = 0;

    while (conn->in_len - off >= 4) {
        uint32_t size = ktx__be32_get(conn->in + off);
        if (size < 4 || size > conn->conf.max_response_size)
            return KTX_ERR_BAD_MSG;
        if (conn->in_len - off - 4 < size)
            break;
        int rc = handle_frame(conn, conn->in + off + 4, size, now);
        if (rc != 0)
            return rc;
        if (conn->generation != generation)
            return 0; /* a callback closed the connection: the buffer was emptied */
        off += 4 + (size_t)size;
    }
    memmove(conn->in, conn->in + off, conn->in_len - off);
    conn->in_len -= off;
    return 0;
}

/* Makes room for the next read: the whole pending frame, and at least READ_CHUNK. */
static int reserve_input(struct ktx__conn *conn)
{
    size_t need = READ_CHUNK;
    uint8_t *p;

    if (conn->in_len >= 4)
        need = KTX__MAX(need, 4 + (size_t)ktx__be32_get(conn->in));
    if (conn->in_cap - conn->in_len >= READ_CHUNK / 4 && conn->in_cap >= need)
        return 0;
    need = KTX__MAX(need, conn->in_len + READ_CHUNK);
    p = realloc(conn->in, need);
    if (p == NULL)
        return KTX_ERR_NO_MEMORY;
    conn->in = p;
    conn->in_cap = need;
    return 0;
}

/*
 * Reads what the socket has and dispatches complete frames. Returns 0 or an error. With TLS
 * the loop goes on past READS_PER_EVENT while the session holds decrypted bytes, which
 * poll(2) would not report.
 */
static int read_input(struct ktx__conn *conn, int64_t now)
{
    uint64_t generation = conn->generation;

    for (int i = 0; i < READS_PER_EVENT || ktx__conn_sec_pending(conn->sec) > 0; i++) {
        size_t n = 0;
        int rc = reserve_input(conn);
        if (rc != 0)
            return rc;
        rc = ktx__conn_sec_read(conn->sec, conn->fd, conn->in + conn->in_len,
                                conn->in_cap - conn->in_len, &n, conn->host);
        if (rc == KTX__CONN_IO_AGAIN)
            break;
        if (rc != 0)
            return rc;
        if (n == 0)
            return KTX_ERR_TRANSPORT;
        conn->in_len += n;
        rc = process_input(conn, now);
        if (rc != 0 || conn->generation != generation)
            return rc;
    }
    if (conn->in_len == 0 && conn->in_cap > KEEP_INPUT_CAP) {
        free(conn->in);
        conn->in = NULL;
        conn->in_cap = 0;
    }
    return 0;
}

/* A connect in progress reported readiness: up (negotiate) or failed (next address). */
static void finish_connect(struct ktx__conn *conn, int64_t now)
{
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0)
        err = errno;
    if (err == 0)
        enter_connected(conn, now);
    else
        next_address(conn, now);
}

/* Closes after an I/O failure |rc|: KTX_ERR_AUTH (a TLS alert) is an authentication
 * failure, anything else a transport one. */
static void io_failed(struct ktx__conn *conn, int rc, int64_t now)
{
    if (rc == KTX_ERR_AUTH)
        fail_auth(conn, now);
    else
        close_with(conn, true, now);
}

void ktx__conn_on_events(struct ktx__conn *conn, short revents, int64_t now)
{
    uint64_t generation = conn->generation;

    bool do_write, do_read, err_only;
    int rc;

    if (conn->state == KTX__CONN_CONNECTING) {
        if (revents & (POLLOUT | POLLERR | POLLHUP))
            finish_connect(conn, now);
        return;
    }
    if (conn->state == KTX__CONN_TLS_HANDSHAKE) {
        if (revents & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL))
            step_tls(conn, now);
        return;
    }
    if (conn->state != KTX__CONN_API_VERSIONS && conn->state != KTX__CONN_SASL &&
        conn->state != KTX__CONN_READY)
        return;
    if (revents & POLLNVAL) {
        close_with(conn, true, now);
        return;
    }
    ktx__conn_sec_io_ready(conn->sec, revents, &do_write, &do_read);
    /* POLLERR without POLLIN: a reset can show in poll before the socket's read side is
     * marked shut. The read returns the error, so the security layer can name its cause (a
     * TLS broker refusing the client certificate we lack); if it does not, close as a
     * transport failure below. */
    err_only = (revents & POLLERR) && !(revents & POLLIN);
    if (err_only)
        do_read = true;
    if (do_write && (rc = write_output(conn)) != 0) {
        if (conn->generation == generation)
            io_failed(conn, rc, now);
        return;
    }
    if (conn->generation != generation || conn->fd < 0)
        return;
    if (do_read && (rc = read_input(conn, now)) != 0) {
        if (conn->generation == generation)
            io_failed(conn, rc, now);
        return;
    }
    if (err_only && conn->generation == generation && conn->fd >= 0)
        close_with(conn, true, now);
}

/* ---- timeouts ---- */

void ktx__conn_check_timeouts(struct ktx__conn *conn, int64_t now)
{
    if (conn->state == KTX__CONN_CONNECTING) {
        if (now >= conn->connect_deadline)
            next_address(conn, now);
        return;
    }
    if (conn->state == KTX__CONN_TLS_HANDSHAKE) {
        if (now >= conn->connect_deadline) {
            conn->stats.timeouts++;
            close_with(conn, true, now);
        }
        return;
    }
    for (const struct inflight *inf = conn->head; inf != NULL; inf = inf->next) {
        if (inf->deadline <= now) {
            conn->stats.timeouts++;
            close_with(conn, true, now);
            return;
        }
    }
}

int64_t ktx__conn_next_deadline(const struct ktx__conn *conn)
{
    int64_t deadline = INT64_MAX;

    if (conn->state == KTX__CONN_CONNECTING || conn->state == KTX__CONN_TLS_HANDSHAKE)
        return conn->connect_deadline;
    for (const struct inflight *inf = conn->head; inf != NULL; inf = inf->next)
        deadline = KTX__MIN(deadline, inf->deadline);
    return deadline;
}

/* ---- accessors ---- */

int ktx__conn_poll_events(const struct ktx__conn *conn, short *events)
{
    *events = 0;
    if (conn->fd < 0)
        return -1;
    if (conn->state == KTX__CONN_CONNECTING)
        *events = POLLOUT;
    else
        *events = ktx__conn_sec_events(conn->sec, conn->state == KTX__CONN_TLS_HANDSHAKE,
                                       conn->out_sent < conn->out.len);
    return conn->fd;
}

bool ktx__conn_can_send(const struct ktx__conn *conn)
{
    return conn->state == KTX__CONN_READY && conn->in_flight < conn->conf.max_in_flight;
}

int16_t ktx__conn_api_version(const struct ktx__conn *conn, int16_t api_key)
{
    if (api_key < 0 || api_key >= KTX__CONN_API_SLOTS)
        return -1;
    return conn->versions[api_key];
}

int64_t ktx__conn_backoff_until(const struct ktx__conn *conn)
{
    return conn->backoff_until;
}

enum ktx__conn_state ktx__conn_state(const struct ktx__conn *conn)
{
    return conn->state;
}

const char *ktx__conn_state_name(enum ktx__conn_state state)
{
    switch (state) {
    case KTX__CONN_DISCONNECTED:
        return "DISCONNECTED";
    case KTX__CONN_CONNECTING:
        return "CONNECTING";
    case KTX__CONN_TLS_HANDSHAKE:
        return "TLS_HANDSHAKE";
    case KTX__CONN_API_VERSIONS:
        return "API_VERSIONS";
    case KTX__CONN_SASL:
        return "SASL";
    case KTX__CONN_READY:
        return "READY";
    case KTX__CONN_CLOSING:
        return "CLOSING";
    }
    return "?";
}

int ktx__conn_in_flight(const struct ktx__conn *conn)
{
    int n = 0;
    /* The connection's own ApiVersions request is not the caller's. */
    for (const struct inflight *inf = conn->head; inf != NULL; inf = inf->next)
        n += inf->internal ? 0 : 1;
    return n;
}

const char *ktx__conn_host(const struct ktx__conn *conn)
{
    return conn->host;
}

int ktx__conn_port(const struct ktx__conn *conn)
{
    return conn->port;
}

const struct ktx__conn_stats *ktx__conn_stats(const struct ktx__conn *conn)
{
    return &conn->stats;
}

int ktx__conn_last_error(const struct ktx__conn *conn, const char **msg)
{
    return ktx__conn_sec_error(conn->sec, msg);
}

const char *ktx__conn_tls_version(const struct ktx__conn *conn)
{
    return ktx__conn_sec_tls_version(conn->sec);
}

int16_t ktx__conn_api_versions_version(const struct ktx__conn *conn)
{
    return conn->api_versions_ver;
}
