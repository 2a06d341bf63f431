/*
 * ktx-probe: talks to a Kafka cluster with kafkatx's own protocol codecs over plain TCP
 * and reports what it finds: negotiated API versions (with the ApiVersions v0 fallback),
 * brokers and topics from Metadata, the transaction coordinator for a transactional id,
 * and producer ids from InitProducerId (idempotent and transactional).
 *
 *   ktx-probe -b HOST:PORT[,HOST:PORT...] [-T TRANSACTIONAL_ID] [-t TOPIC]
 *
 * It is a diagnostic tool and the main job's first step until the producer exists: each
 * step checks the broker's answer and the tool exits non-zero on the first failure. The
 * last line is machine-readable key=value pairs.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "proto_meta.h"
#include "proto_txn.h"

#define IO_TIMEOUT_MS 5000
#define MAX_RESPONSE (64 << 20)

struct probe {
    int fd;
    int32_t next_correlation_id;
    int16_t versions[128];
    uint8_t *resp;       /* last response body (after the header) */
    size_t resp_len;
    uint8_t *resp_frame; /* owns |resp| */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Splits "host:port" (the last colon separates the port; [v6]:port accepted). */
static int split_hostport(const char *hostport, char *host, size_t hostlen, char *port,
                          size_t portlen)
{
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1])
        return -1;
    const char *h = hostport;
    size_t n = (size_t)(colon - hostport);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {fd, events, 0};
    int rc;
    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

/* Connects to the first address of |hostport| that answers, within IO_TIMEOUT_MS. */
static int tcp_connect(const char *hostport)
{
    char host[256], port[16];
    struct addrinfo hints = {0}, *res, *ai;
    if (split_hostport(hostport, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "ktx-probe: bad address '%s' (want host:port)\n", hostport);
        return -1;
    }
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "ktx-probe: %s: %s\n", hostport, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int err = 0;
        socklen_t len = sizeof(err);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
            (errno != EINPROGRESS || wait_fd(fd, POLLOUT, IO_TIMEOUT_MS) != 0 ||
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "ktx-probe: cannot connect to %s\n", hostport);
    return fd;
}

static int io_all(int fd, uint8_t *buf, size_t len, bool writing)
{
    size_t done = 0;
    while (done < len) {
        if (wait_fd(fd, writing ? POLLOUT : POLLIN, IO_TIMEOUT_MS) != 0)
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

/*
 * Sends one request (header + body produced by |encode|) and reads its response into
 * |pr->resp|. Returns 0, or -1 after printing why.
 */
static int rpc(struct probe *pr, int16_t api_key, int16_t ver,
               int (*encode)(struct ktx__writer *w, int16_t ver, const void *req),
               const void *req)
{
    struct ktx__writer w;
    struct ktx__req_header hdr = {api_key, ver, pr->next_correlation_id++,
                                  ktx__str_c("ktx-probe")};
    const struct ktx__api_info *api = ktx__proto_api(api_key);
    int rc = -1;

    ktx__w_init(&w, 256, MAX_RESPONSE);
    size_t size_off = ktx__w_reserve(&w, 4);
    ktx__proto_req_header_encode(&w, &hdr);
    if (encode(&w, ver, req) != 0 || w.err) {
        fprintf(stderr, "ktx-probe: cannot encode %s v%d\n", api->name, ver);
        goto out;
    }
    ktx__w_patch_i32(&w, size_off, (int32_t)(w.len - 4));
    uint8_t size_buf[4];
    if (io_all(pr->fd, w.p, w.len, true) != 0 || io_all(pr->fd, size_buf, 4, false) != 0) {
        fprintf(stderr, "ktx-probe: %s v%d: connection closed or timed out\n", api->name, ver);
        goto out;
    }
    uint32_t size = ktx__be32_get(size_buf);
    if (size < 4 || size > MAX_RESPONSE) {
        fprintf(stderr, "ktx-probe: %s v%d: bad response size %u\n", api->name, ver, size);
        goto out;
    }
    free(pr->resp_frame);
    pr->resp_frame = malloc(size);
    if (!pr->resp_frame || io_all(pr->fd, pr->resp_frame, size, false) != 0) {
        fprintf(stderr, "ktx-probe: %s v%d: short response\n", api->name, ver);
        goto out;
    }
    struct ktx__reader r;
    int32_t corr;
    ktx__r_init(&r, pr->resp_frame, size);
    if (ktx__proto_resp_header_decode(&r, api_key, ver, &corr) != 0 ||
        corr != hdr.correlation_id) {
        fprintf(stderr, "ktx-probe: %s v%d: bad response header\n", api->name, ver);
        goto out;
    }
    pr->resp = pr->resp_frame + r.pos;
    pr->resp_len = size - r.pos;
    rc = 0;
out:
    ktx__w_free(&w);
    return rc;
}

static int enc_api_versions(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_api_versions_req_encode(w, v, req);
}
static int enc_metadata(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_metadata_req_encode(w, v, req);
}
static int enc_find_coordinator(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_find_coordinator_req_encode(w, v, req);
}
static int enc_init_producer_id(struct ktx__writer *w, int16_t v, const void *req)
{
    return ktx__proto_init_producer_id_req_encode(w, v, req);
}

/*
 * ApiVersions: asks at v3 (flexible) and falls back to v0 when the broker answers
 * UNSUPPORTED_VERSION or with a body that does not parse as v3 (librdkafka's mock
 * cluster does the latter).
 */
static int probe_api_versions(struct probe *pr, bool *fell_back, bool verbose)
{
    struct ktx__api_versions_req req = {ktx__str_c("kafkatx"), ktx__str_c(PACKAGE_VERSION)};
    struct ktx__api_versions_resp resp;
    struct ktx__arena arena;
    int rc = -1;
    *fell_back = false;
    ktx__arena_init(&arena, 0);
    for (int16_t ver = 3; ver >= 0; ver -= 3) {
        if (rpc(pr, KTX__API_API_VERSIONS, ver, enc_api_versions, &req) != 0)
            break;
        int drc = ktx__proto_api_versions_resp_decode(pr->resp, pr->resp_len, ver, &resp, &arena);
        if (drc == 0 && resp.error_code == 0) {
            ktx__proto_api_versions_pick(&resp, pr->versions, KTX__ARRAY_LEN(pr->versions));
            if (verbose)
                printf("ApiVersions v%d: broker lists %d APIs\n", ver, resp.api_keys_count);
            rc = 0;
            break;
        }
        if (verbose)
            printf("ApiVersions v%d: %s; falling back to v0\n", ver,
                   drc ? "malformed answer" : ktx_err_name(resp.error_code));
        *fell_back = true;
    }
    ktx__arena_free(&arena);
    if (rc != 0 || !verbose)
        return rc;
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    for (size_t i = 0; i < n; i++) {
        int16_t v = pr->versions[apis[i].api_key];
        if (v >= 0)
            printf("  %-22s v%d\n", apis[i].name, v);
        else
            printf("  %-22s unavailable\n", apis[i].name);
    }
    return 0;
}

static int probe_metadata(struct probe *pr, const char *topic, int *brokers, int *topics)
{
    int16_t ver = pr->versions[KTX__API_METADATA];
    struct ktx__metadata_req_topic want = {{{0}}, ktx__str_c(topic)};
    struct ktx__metadata_req req = {topic ? &want : NULL, topic ? 1 : -1, false, false, false};
    struct ktx__metadata_resp resp;
    struct ktx__arena arena;
    if (ver < 0 || rpc(pr, KTX__API_METADATA, ver, enc_metadata, &req) != 0)
        return -1;
    ktx__arena_init(&arena, 0);
    if (ktx__proto_metadata_resp_decode(pr->resp, pr->resp_len, ver, &resp, &arena) != 0) {
        fprintf(stderr, "ktx-probe: Metadata v%d: malformed answer\n", ver);
        ktx__arena_free(&arena);
        return -1;
    }
    printf("Metadata v%d: %d brokers, controller %d\n", ver, resp.brokers_count,
           resp.controller_id);
    for (int i = 0; i < resp.brokers_count; i++)
        printf("  broker %d at %.*s:%d\n", resp.brokers[i].node_id, resp.brokers[i].host.len,
               resp.brokers[i].host.ptr, resp.brokers[i].port);
    for (int i = 0; i < resp.topics_count; i++) {
        const struct ktx__metadata_topic *t = &resp.topics[i];
        printf("  topic %.*s: %d partitions, %s\n", t->name.len > 0 ? t->name.len : 0,
               t->name.ptr ? t->name.ptr : "", t->partitions_count, ktx_err_name(t->error_code));
        for (int j = 0; j < t->partitions_count; j++)
            printf("    partition %d leader %d\n", t->partitions[j].partition_index,
                   t->partitions[j].leader_id);
    }
    *brokers = resp.brokers_count;
    *topics = resp.topics_count;
    ktx__arena_free(&arena);
    return 0;
}

/* Finds the transaction coordinator of |txn_id|; stores "host:port" in |addr|. */
static int probe_coordinator(struct probe *pr, const char *txn_id, char *addr, size_t addrlen,
                             int32_t *node_id)
{
    int16_t ver = pr->versions[KTX__API_FIND_COORDINATOR];
    struct ktx__str key = ktx__str_c(txn_id);
    struct ktx__find_coordinator_req req = {key, KTX__COORDINATOR_TRANSACTION, &key, 1};
    struct ktx__find_coordinator_resp resp;
    struct ktx__arena arena;
    int rc = -1;
    if (ver < 0 || rpc(pr, KTX__API_FIND_COORDINATOR, ver, enc_find_coordinator, &req) != 0)
        return -1;
    ktx__arena_init(&arena, 0);
    if (ktx__proto_find_coordinator_resp_decode(pr->resp, pr->resp_len, ver, &resp, &arena) == 0) {
        int16_t err = resp.error_code;
        struct ktx__str host = resp.host;
        int32_t port = resp.port;
        *node_id = resp.node_id;
        if (ver >= 4 && resp.coordinators_count == 1) {
            err = resp.coordinators[0].error_code;
            host = resp.coordinators[0].host;
            port = resp.coordinators[0].port;
            *node_id = resp.coordinators[0].node_id;
        }
        if (err == 0 && host.len > 0) {
            snprintf(addr, addrlen, "%.*s:%d", host.len, host.ptr, port);
            printf("FindCoordinator v%d: transaction coordinator of '%s' is broker %d at %s\n",
                   ver, txn_id, *node_id, addr);
            rc = 0;
        } else {
            fprintf(stderr, "ktx-probe: FindCoordinator: %s\n", ktx_err_name(err));
        }
    } else {
        fprintf(stderr, "ktx-probe: FindCoordinator v%d: malformed answer\n", ver);
    }
    ktx__arena_free(&arena);
    return rc;
}

static int probe_init_producer_id(struct probe *pr, const char *txn_id, int64_t *pid,
                                  int16_t *epoch)
{
    int16_t ver = pr->versions[KTX__API_INIT_PRODUCER_ID];
    struct ktx__init_producer_id_req req = {ktx__str_c(txn_id), 60000, -1, -1};
    struct ktx__init_producer_id_resp resp;
    struct ktx__arena arena;
    if (ver < 0 || rpc(pr, KTX__API_INIT_PRODUCER_ID, ver, enc_init_producer_id, &req) != 0)
        return -1;
    ktx__arena_init(&arena, 0);
    int drc = ktx__proto_init_producer_id_resp_decode(pr->resp, pr->resp_len, ver, &resp, &arena);
    ktx__arena_free(&arena);
    if (drc != 0 || resp.error_code != 0) {
        fprintf(stderr, "ktx-probe: InitProducerId v%d: %s\n", ver,
                drc ? "malformed answer" : ktx_err_name(resp.error_code));
        return -1;
    }
    printf("InitProducerId v%d (%s): producer id %lld epoch %d\n", ver,
           txn_id ? "transactional" : "idempotent", (long long)resp.producer_id,
           resp.producer_epoch);
    *pid = resp.producer_id;
    *epoch = resp.producer_epoch;
    return 0;
}

static void probe_close(struct probe *pr)
{
    if (pr->fd >= 0)
        close(pr->fd);
    pr->fd = -1;
    free(pr->resp_frame);
    pr->resp_frame = NULL;
}

static int probe_connect(struct probe *pr, const char *addr)
{
    bool fell_back;
    probe_close(pr);
    pr->fd = tcp_connect(addr);
    return pr->fd < 0 ? -1 : probe_api_versions(pr, &fell_back, false);
}

static void usage(void)
{
    fprintf(stderr, "usage: ktx-probe -b HOST:PORT[,HOST:PORT...] [-T TRANSACTIONAL_ID] "
                    "[-t TOPIC]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *txn_id = "ktx-probe", *topic = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "b:T:t:h")) != -1) {
        switch (opt) {
        case 'b': bootstrap = optarg; break;
        case 'T': txn_id = optarg; break;
        case 't': topic = optarg; break;
        default: usage();
        }
    }
    if (!bootstrap)
        usage();

    struct probe pr = {.fd = -1, .next_correlation_id = 1};
    char first[300], coord[300];
    int brokers = 0, topics = 0;
    int32_t coord_id = -1;
    int64_t idem_pid = -1, txn_pid = -1;
    int16_t idem_epoch = -1, txn_epoch = -1;
    bool fell_back = false;
    double t0 = now_ms();

    snprintf(first, sizeof(first), "%.*s", (int)strcspn(bootstrap, ","), bootstrap);
    pr.fd = tcp_connect(first);
    if (pr.fd < 0 || probe_api_versions(&pr, &fell_back, true) != 0 ||
        probe_metadata(&pr, topic, &brokers, &topics) != 0 ||
        probe_init_producer_id(&pr, NULL, &idem_pid, &idem_epoch) != 0 ||
        probe_coordinator(&pr, txn_id, coord, sizeof(coord), &coord_id) != 0 ||
        probe_connect(&pr, coord) != 0 ||
        probe_init_producer_id(&pr, txn_id, &txn_pid, &txn_epoch) != 0) {
        probe_close(&pr);
        printf("probe=failed\n");
        return 1;
    }
    probe_close(&pr);
    printf("probe=ok api_versions_fallback=%d brokers=%d topics=%d coordinator=%d "
           "idempotent_pid=%lld transactional_pid=%lld transactional_epoch=%d elapsed_ms=%.1f\n",
           fell_back, brokers, topics, coord_id, (long long)idem_pid, (long long)txn_pid,
           txn_epoch, now_ms() - t0);
    return 0;
}
