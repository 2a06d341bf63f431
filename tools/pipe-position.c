/*
 * ktx-pipe's read of its own committed input position: FindCoordinator and OffsetFetch
 * (require_stable) with kafkatx's codecs over blocking TCP. See pipe-position.h.
 */
#include "config.h"

#include "pipe-position.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kafkatx.h"
#include "proto.h"
#include "proto_group.h"
#include "proto_meta.h"

#define IO_TIMEOUT_MS 5000
#define MAX_RESPONSE (16 << 20)
#define RETRY_MS 100

/* One blocking connection and the last response read on it. */
struct link {
    int fd;
    int32_t next_correlation_id;
    int16_t versions[128];
    uint8_t *frame;   /* owns the last response frame */
    const uint8_t *body;
    size_t body_len;
};

/* Encodes a request body at |ver| (a codec's encoder behind a void pointer). */
typedef int encode_fn(struct ktx__writer *w, int16_t ver, const void *req);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes a printf-style reason into |why| and returns |code|. */
static int fail(int code, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int code, char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why && why_len) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int wait_fd(int fd, short events)
{
    struct pollfd pfd = {fd, events, 0};
    int rc;
    do {
        rc = poll(&pfd, 1, IO_TIMEOUT_MS);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

/* Opens a TCP connection to |host|:|port| (first address that answers) or returns -1. */
static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {0}, *res, *ai;
    int fd = -1;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        int err = 0;
        socklen_t len = sizeof(err);
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || wait_fd(fd, POLLOUT) != 0 ||
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Splits "host:port" (|len| bytes at |s|; the last colon separates the port). */
static int split_hostport(const char *s, size_t len, char *host, size_t hostlen, char *port,
                          size_t portlen)
{
    const char *colon = memrchr(s, ':', len);
    if (!colon || colon == s || (size_t)(colon - s) + 1 >= len)
        return -1;
    size_t hn = (size_t)(colon - s), pn = len - hn - 1;
    if (s[0] == '[' && hn >= 2 && s[hn - 1] == ']') {
        s++;
        hn -= 2;
    }
    if (hn >= hostlen || pn >= portlen)
        return -1;
    memcpy(host, s, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn);
    port[pn] = '\0';
    return 0;
}

static int io_all(int fd, uint8_t *buf, size_t len, bool writing)
{
    size_t done = 0;
    while (done < len) {
        if (wait_fd(fd, writing ? POLLOUT : POLLIN) != 0)
            return -1;
        ssize_t n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                            : recv(fd, buf + done, len - done, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static void link_close(struct link *link)
{
    if (link->fd >= 0)
        close(link->fd);
    link->fd = -1;
    free(link->frame);
    link->frame = NULL;
}

/* Reads one response frame of |expect_corr| into |link| and strips its header. */
static int read_response(struct link *link, int16_t api_key, int16_t ver, int32_t expect_corr)
{
    uint8_t size_buf[4];
    struct ktx__reader r;
    int32_t corr;
    if (io_all(link->fd, size_buf, 4, false) != 0)
        return KTX_ERR_TRANSPORT;
    uint32_t size = ktx__be32_get(size_buf);
    if (size < 4 || size > MAX_RESPONSE)
        return KTX_ERR_BAD_MSG;
    free(link->frame);
    link->frame = malloc(size);
    if (!link->frame)
        return KTX_ERR_NO_MEMORY;
    if (io_all(link->fd, link->frame, size, false) != 0)
        return KTX_ERR_TRANSPORT;
    ktx__r_init(&r, link->frame, size);
    if (ktx__proto_resp_header_decode(&r, api_key, ver, &corr) != 0 || corr != expect_corr)
        return KTX_ERR_BAD_MSG;
    link->body = link->frame + r.pos;
    link->body_len = size - r.pos;
    return 0;
}

/* Sends one request and reads its response body into |link|. Returns 0 or a local code. */
static int rpc(struct link *link, int16_t api_key, int16_t ver, encode_fn *encode,
               const void *req)
{
    struct ktx__writer w;
    struct ktx__req_header hdr = {api_key, ver, link->next_correlation_id++,
                                  ktx__str_c("ktx-pipe")};
    int rc = KTX_ERR_BAD_MSG;
    ktx__w_init(&w, 256, 1 << 20);
    size_t size_off = ktx__w_reserve(&w, 4);
    ktx__proto_req_header_encode(&w, &hdr);
    if (encode(&w, ver, req) == 0 && !w.err) {
        ktx__w_patch_i32(&w, size_off, (int32_t)(w.len - 4));
        rc = io_all(link->fd, w.p, w.len, true) != 0
                 ? KTX_ERR_TRANSPORT
                 : read_response(link, api_key, ver, hdr.correlation_id);
    }
    ktx__w_free(&w);
    return rc;
}

static int enc_api_versions(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_api_versions_req_encode(w, v, req);
}
static int enc_find_coordinator(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_find_coordinator_req_encode(w, v, req);
}
static int enc_offset_fetch(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_offset_fetch_req_encode(w, v, req);
}

/* ApiVersions at v3, then v0 for brokers that refuse v3 or answer it in v0's shape. */
static int negotiate(struct link *link)
{
    struct ktx__api_versions_req req = {ktx__str_c("kafkatx"), ktx__str_c(PACKAGE_VERSION)};
    struct ktx__api_versions_resp resp;
    struct ktx__arena arena;
    int rc = KTX_ERR_BAD_MSG;
    ktx__arena_init(&arena, 0);
    for (int16_t ver = 3; ver >= 0 && rc != 0; ver -= 3) {
        int io = rpc(link, KTX__API_API_VERSIONS, ver, enc_api_versions, &req);
        if (io != 0) {
            rc = io;
            break;
        }
        if (ktx__proto_api_versions_resp_decode(link->body, link->body_len, ver, &resp,
                                                &arena) == 0 &&
            resp.error_code == 0) {
            ktx__proto_api_versions_pick(&resp, link->versions, KTX__ARRAY_LEN(link->versions));
            rc = 0;
        }
    }
    ktx__arena_free(&arena);
    return rc;
}

/* Connects |link| to "host:port" (|len| bytes at |addr|) and negotiates versions. */
static int link_open(struct link *link, const char *addr, size_t len)
{
    char host[256], port[16];
    link_close(link);
    if (split_hostport(addr, len, host, sizeof(host), port, sizeof(port)) != 0)
        return KTX_ERR_INVALID_ARG;
    link->fd = tcp_connect(host, port);
    if (link->fd < 0)
        return KTX_ERR_TRANSPORT;
    return negotiate(link);
}

/* Connects to the first entry of the comma-separated |bootstrap| list that answers. */
static int open_bootstrap(struct link *link, const char *bootstrap)
{
    int rc = KTX_ERR_INVALID_ARG;
    const char *p = bootstrap;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0 && (rc = link_open(link, p, n)) == 0)
            return 0;
        p += n + (p[n] == ',');
    }
    return rc;
}

/* FindCoordinator(group |group|): stores "host:port" of the coordinator in |addr|. */
static int find_coordinator(struct link *link, const char *group, char *addr, size_t addrlen)
{
    int16_t ver = link->versions[KTX__API_FIND_COORDINATOR];
    struct ktx__str key = ktx__str_c(group);
    struct ktx__find_coordinator_req req = {key, KTX__COORDINATOR_GROUP, &key, 1};
    struct ktx__find_coordinator_resp resp;
    struct ktx__arena arena;
    int rc;
    if (ver < 0)
        return KTX_ERR_UNSUPPORTED;
    if ((rc = rpc(link, KTX__API_FIND_COORDINATOR, ver, enc_find_coordinator, &req)) != 0)
        return rc;
    ktx__arena_init(&arena, 0);
    rc = ktx__proto_find_coordinator_resp_decode(link->body, link->body_len, ver, &resp, &arena);
    if (rc == 0) {
        int16_t err = resp.error_code;
        struct ktx__str host = resp.host;
        int32_t port = resp.port;
        if (ver >= 4) {
            err = resp.coordinators_count == 1 ? resp.coordinators[0].error_code
                                               : KTX_ERR_COORDINATOR_NOT_AVAILABLE;
            if (resp.coordinators_count == 1) {
                host = resp.coordinators[0].host;
                port = resp.coordinators[0].port;
            }
        }
        if (err == 0 && host.len <= 0)
            err = KTX_ERR_COORDINATOR_NOT_AVAILABLE;
        if (err == 0)
            snprintf(addr, addrlen, "%.*s:%d", host.len, host.ptr, port);
        rc = err;
    }
    ktx__arena_free(&arena);
    return rc;
}

/* Picks |partition| of |topic| out of the topics of an OffsetFetch answer. */
static int pick_partition(const struct ktx__offset_fetch_resp_topic *topics, int32_t count,
                          const char *topic, int32_t partition, int64_t *offset)
{
    for (int32_t i = 0; i < count; i++) {
        if (!ktx__str_eq_c(topics[i].name, topic))
            continue;
        for (int32_t j = 0; j < topics[i].partitions_count; j++) {
            const struct ktx__offset_fetch_resp_partition *part = &topics[i].partitions[j];
            if (part->partition_index != partition)
                continue;
            if (part->error_code != 0)
                return part->error_code;
            *offset = part->committed_offset;
            return 0;
        }
    }
    *offset = -1; /* the group never committed this partition */
    return 0;
}

/* OffsetFetch(require_stable) of one partition at the group coordinator. */
static int offset_fetch(struct link *link, const char *group, const char *topic,
                        int32_t partition, int64_t *offset)
{
    int16_t ver = link->versions[KTX__API_OFFSET_FETCH];
    struct ktx__offset_fetch_req_topic want = {ktx__str_c(topic), &partition, 1};
    struct ktx__offset_fetch_req req = {0};
    struct ktx__offset_fetch_resp resp;
    struct ktx__arena arena;
    int rc;
    if (ver < 0)
        return KTX_ERR_UNSUPPORTED;
    req.group_id = ktx__str_c(group);
    req.topics = &want;
    req.topics_count = 1;
    req.require_stable = true; /* v7+; older brokers cannot hide pending commits */
    if ((rc = rpc(link, KTX__API_OFFSET_FETCH, ver, enc_offset_fetch, &req)) != 0)
        return rc;
    ktx__arena_init(&arena, 0);
    rc = ktx__proto_offset_fetch_resp_decode(link->body, link->body_len, ver, &resp, &arena);
    if (rc == 0 && ver >= 8) {
        rc = resp.groups_count != 1 ? KTX_ERR_BAD_MSG
             : resp.groups[0].error_code
                 ? resp.groups[0].error_code
                 : pick_partition(resp.groups[0].topics, resp.groups[0].topics_count, topic,
                                  partition, offset);
    } else if (rc == 0) {
        rc = resp.error_code ? resp.error_code
                             : pick_partition(resp.topics, resp.topics_count, topic, partition,
                                              offset);
    }
    ktx__arena_free(&arena);
    return rc;
}

/* One attempt: bootstrap, coordinator lookup, fetch. */
static int attempt(struct link *link, const char *bootstrap, const char *group,
                   const char *topic, int32_t partition, int64_t *offset)
{
    char coord[300];
    int rc = open_bootstrap(link, bootstrap);
    if (rc == 0)
        rc = find_coordinator(link, group, coord, sizeof(coord));
    if (rc == 0)
        rc = link_open(link, coord, strlen(coord));
    if (rc == 0)
        rc = offset_fetch(link, group, topic, partition, offset);
    link_close(link);
    return rc;
}

static bool is_retriable(int rc)
{
    return rc == KTX_ERR_TRANSPORT || rc == KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
           rc == KTX_ERR_COORDINATOR_NOT_AVAILABLE || rc == KTX_ERR_NOT_COORDINATOR ||
           rc == KTX_ERR_UNSTABLE_OFFSET_COMMIT;
}

int pipe_position_fetch(const char *bootstrap, const char *group, const char *topic,
                        int32_t partition, int timeout_ms, int64_t *offset, char *why,
                        size_t why_len)
{
    struct link link = {.fd = -1, .next_correlation_id = 1};
    int64_t deadline = now_ms() + timeout_ms;
    int rc;
    for (;;) {
        rc = attempt(&link, bootstrap, group, topic, partition, offset);
        if (rc == 0)
            return 0;
        if (!is_retriable(rc))
            break;
        if (now_ms() + RETRY_MS > deadline)
            return fail(KTX_ERR_TIMED_OUT, why, why_len,
                        "committed position of group '%s' not readable within %d ms (last: %s)",
                        group, timeout_ms, ktx_err_name(rc));
        struct timespec pause = {0, RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return fail(rc, why, why_len, "committed position of group '%s': %s", group,
                ktx_err_name(rc));
}
