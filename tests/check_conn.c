/*
 * Tests of the connection layer (sdk/conn.c) and the poll loop and broker registry
 * (sdk/net.c). Pure tests cover the backoff, the bootstrap parser and the registry; the
 * integration tests run against librdkafka's mock cluster, really started through
 * tests/cluster.h, and drive the net exactly as the sender thread will: ready(), send(),
 * poll().
 *
 * The mock never delays nor fails Metadata (see tests/cluster/ktx-mock.c), so the timeout
 * and dropped-connection tests use FindCoordinator and InitProducerId instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "net.h"
#include "proto_meta.h"
#include "proto_txn.h"

#define WAIT_MS 5000

static struct ktx_test_cluster *cluster;

/* ---- helpers ---- */

static void cmd_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends a control command to the mock and asserts that it answered OK. */
static void cmd_ok(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    int rc = ktx_test_cluster_cmd(cluster, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc,
                  ktx_test_cluster_last_error(cluster));
}

/* "127.0.0.1:port" of broker |id|. */
static void broker_addr(int id, char *buf, size_t len)
{
    char host[40];
    int port;
    ck_assert_int_eq(ktx_test_cluster_broker_addr(cluster, id, host, sizeof(host), &port), 0);
    snprintf(buf, len, "%s:%d", host, port);
}

static struct ktx__net_conf test_conf(const char *bootstrap)
{
    struct ktx__net_conf conf;

    memset(&conf, 0, sizeof(conf));
    conf.bootstrap_servers = bootstrap;
    conf.conn.client_id = "check_conn";
    conf.conn.request_timeout_ms = 5000;
    conf.conn.connect_timeout_ms = 2000;
    conf.conn.reconnect_backoff_ms = 50;
    conf.conn.reconnect_backoff_max_ms = 400;
    conf.conn.max_in_flight = 5;
    conf.conn.jitter_seed = 42;
    return conf;
}

static struct ktx__net *new_net(const struct ktx__net_conf *conf)
{
    struct ktx__net *net = NULL;
    ck_assert_int_eq(ktx__net_new(&net, conf), 0);
    return net;
}

/* Drives |net| until |node| is ready or |max_ms| pass. Returns true when ready. */
static bool wait_ready(struct ktx__net *net, int32_t node, int64_t max_ms)
{
    int64_t end = ktx__net_now(net) + max_ms;

    for (;;) {
        int64_t now = ktx__net_now(net);
        if (ktx__net_ready(net, node, now))
            return true;
        if (now >= end)
            return false;
        int64_t delay = KTX__MIN(ktx__net_poll_delay(net, node, now), end - now);
        ck_assert_int_eq(ktx__net_poll(net, KTX__MIN(delay, 100), now), 0);
    }
}

/* Polls |net| until |*flag| turns non-zero or |max_ms| pass. */
static bool poll_until(struct ktx__net *net, const int *flag, int64_t max_ms)
{
    int64_t end = ktx__net_now(net) + max_ms;

    while (*flag == 0) {
        int64_t now = ktx__net_now(net);
        if (now >= end)
            return false;
        ck_assert_int_eq(ktx__net_poll(net, KTX__MIN(end - now, 100), now), 0);
    }
    return true;
}

/* What a completion callback saw. */
struct result {
    int done;
    int err;
    int order;    /* completion rank, from |*counter| */
    int *counter;
    int64_t at;
    uint8_t *body; /* copy */
    size_t len;
};

static void on_result(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                      void *opaque)
{
    struct result *res = opaque;
    (void)conn;
    res->done = 1;
    res->err = err;
    res->order = res->counter != NULL ? (*res->counter)++ : 0;
    res->at = ktx_test_now_ms();
    if (body != NULL) {
        res->body = malloc(len + 1);
        ck_assert_ptr_nonnull(res->body);
        memcpy(res->body, body, len);
        res->len = len;
    }
}

static int encode_metadata(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__metadata_req_topic topic;
    struct ktx__metadata_req req;

    memset(&req, 0, sizeof(req));
    memset(&topic, 0, sizeof(topic));
    topic.name = ktx__str_c(opaque);
    req.topics = &topic;
    req.topics_count = 1;
    req.allow_auto_topic_creation = true;
    return ktx__proto_metadata_req_encode(w, ver, &req);
}

static int encode_find_coordinator(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__find_coordinator_req req;

    memset(&req, 0, sizeof(req));
    req.key = ktx__str_c(opaque);
    req.key_type = KTX__COORDINATOR_TRANSACTION;
    return ktx__proto_find_coordinator_req_encode(w, ver, &req);
}

static int encode_init_producer_id(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__init_producer_id_req req = {ktx__str_c(NULL), 60000, -1, -1};
    (void)opaque;
    return ktx__proto_init_producer_id_req_encode(w, ver, &req);
}

static struct ktx__conn_req make_req(int16_t api_key, ktx__conn_encode_fn *encode,
                                     void *encode_opaque, struct result *res)
{
    struct ktx__conn_req req;

    memset(&req, 0, sizeof(req));
    req.api_key = api_key;
    req.version = -1;
    req.encode = encode;
    req.encode_opaque = encode_opaque;
    req.cb = on_result;
    req.opaque = res;
    return req;
}

static void cluster_setup(void)
{
    ck_assert_int_eq(ktx_test_cluster_start(&cluster, KTX_TEST_PEER_MOCK, 3, NULL), 0);
}

static void cluster_teardown(void)
{
    ck_assert_int_eq(ktx_test_cluster_stop(cluster), 0);
    cluster = NULL;
}

/* A TCP port on 127.0.0.1 where nothing listens: bound, then closed. */
static int closed_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* ---- pure: backoff ---- */

START_TEST(test_backoff_doubles_per_failure_up_to_the_max_within_20_percent_jitter)
{
    /* rnd 0.5 is the plain value, 0 the lowest (-20%), almost 1 the highest (+20%). */
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 0, 0.5), 50);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 1, 0.5), 100);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 3, 0.5), 400);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 4, 0.5), 800);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 5, 0.5), 1000);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 60, 0.5), 1000);
    ck_assert_int_eq(ktx__conn_backoff_ms(50, 1000, 1000, 0.5), 1000);
    ck_assert_int_eq(ktx__conn_backoff_ms(100, 1000, 0, 0.0), 80);
    ck_assert_int_eq(ktx__conn_backoff_ms(100, 1000, 0, 0.999999), 119);
    ck_assert_int_eq(ktx__conn_backoff_ms(100, 1000, 9, 0.0), 800);
    /* Out-of-range randomness falls back to the plain value. */
    ck_assert_int_eq(ktx__conn_backoff_ms(100, 1000, 0, 1.5), 100);
    for (int i = 0; i < 1000; i++) {
        double rnd = i / 1000.0;
        int64_t v = ktx__conn_backoff_ms(200, 5000, 2, rnd);
        ck_assert_int_ge(v, 640);
        ck_assert_int_le(v, 960);
    }
}
END_TEST

/* ---- pure: bootstrap list ---- */

START_TEST(test_bootstrap_parses_hosts_ports_blanks_and_bracketed_ipv6)
{
    struct ktx__net_addr addrs[8];
    size_t n;

    ck_assert_int_eq(ktx__net_parse_bootstrap(" kafka-1:9092, 10.0.0.7:19092 ,[::1]:9093,,"
                                              "[fe80::1%eth0]:1",
                                              addrs, 8, &n),
                     0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(addrs[0].host, "kafka-1");
    ck_assert_int_eq(addrs[0].port, 9092);
    ck_assert_str_eq(addrs[1].host, "10.0.0.7");
    ck_assert_int_eq(addrs[1].port, 19092);
    ck_assert_str_eq(addrs[2].host, "::1");
    ck_assert_int_eq(addrs[2].port, 9093);
    ck_assert_str_eq(addrs[3].host, "fe80::1%eth0");
    ck_assert_int_eq(addrs[3].port, 1);
    ck_assert_int_eq(ktx__net_parse_bootstrap("h:65535", addrs, 8, &n), 0);
    ck_assert_int_eq(addrs[0].port, 65535);
}
END_TEST

START_TEST(test_bootstrap_rejects_malformed_entries)
{
    static const char *const bad[] = {
        "",          " , ",       "host",       "host:",      ":9092",     "host:0",
        "host:65536", "host:9x",  "::1:9092",   "[::1]9092",  "[::1",      "[]:9092",
        "h:123456",  "a:1,b",     "[::1]:",
    };
    struct ktx__net_addr addrs[4];
    size_t n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ktx__net_parse_bootstrap(bad[i], addrs, 4, &n) == KTX_ERR_BAD_CONFIG,
                      "'%s' accepted", bad[i]);
    ck_assert_int_eq(ktx__net_parse_bootstrap(NULL, addrs, 4, &n), KTX_ERR_BAD_CONFIG);
    /* More entries than room. */
    ck_assert_int_eq(ktx__net_parse_bootstrap("a:1,b:2,c:3", addrs, 2, &n), KTX_ERR_BAD_CONFIG);
}
END_TEST

/* ---- pure: registry ---- */

START_TEST(test_registry_maps_bootstrap_to_negative_ids_and_updates_brokers)
{
    struct ktx__net_conf conf = test_conf("b1:1001,[::1]:1002");
    struct ktx__net *net = new_net(&conf);
    struct ktx__net_broker brokers[] = {{1, "k1", 9001}, {2, "k2", 9002}, {2, "dup", 1}};
    struct ktx__conn *k1;

    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, -1)), "b1");
    ck_assert_int_eq(ktx__conn_port(ktx__net_conn(net, -1)), 1001);
    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, -2)), "::1");
    ck_assert_ptr_null(ktx__net_conn(net, -3));
    ck_assert_ptr_null(ktx__net_conn(net, 1));
    ck_assert_uint_eq(ktx__net_broker_count(net), 0);

    ck_assert_int_eq(ktx__net_set_brokers(net, brokers, 3), 0);
    ck_assert_uint_eq(ktx__net_broker_count(net), 2);
    k1 = ktx__net_conn(net, 1);
    ck_assert_str_eq(ktx__conn_host(k1), "k1");
    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, 2)), "k2"); /* first entry counts */
    ck_assert_int_eq(ktx__conn_state(k1), KTX__CONN_DISCONNECTED);

    /* Same address: the connection is kept. Moved: a new one. Gone: retired. */
    struct ktx__net_broker next[] = {{1, "k1", 9001}, {3, "k3", 9003}, {2, "k2b", 9002}};
    ck_assert_int_eq(ktx__net_set_brokers(net, next, 3), 0);
    ck_assert_ptr_eq(ktx__net_conn(net, 1), k1);
    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, 2)), "k2b");
    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, 3)), "k3");
    ck_assert_uint_eq(ktx__net_broker_count(net), 3);
    ck_assert_int_eq(ktx__net_set_brokers(net, next, 1), 0);
    ck_assert_uint_eq(ktx__net_broker_count(net), 1);
    ck_assert_int_eq(ktx__net_poll(net, 0, ktx__net_now(net)), 0); /* collects retired */
    ck_assert_ptr_null(ktx__net_conn(net, 3));
    ck_assert_ptr_nonnull(ktx__net_conn(net, -2)); /* bootstrap nodes stay */

    /* One broker added (a coordinator), the others untouched; then moved. */
    ck_assert_int_eq(ktx__net_add_broker(net, 9, "coord", 9009), 0);
    ck_assert_int_eq(ktx__net_add_broker(net, 9, "coord", 9009), 0);
    ck_assert_uint_eq(ktx__net_broker_count(net), 2);
    ck_assert_ptr_eq(ktx__net_conn(net, 1), k1);
    ck_assert_int_eq(ktx__net_add_broker(net, 9, "coord2", 9009), 0);
    ck_assert_uint_eq(ktx__net_broker_count(net), 2);
    ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, 9)), "coord2");
    ck_assert_int_eq(ktx__net_add_broker(net, 9, "coord2", 0), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__net_add_broker(net, -1, "b", 1), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__net_set_brokers(net, next, 1), 0);

    struct ktx__net_broker invalid[] = {{-5, "x", 1}};
    ck_assert_int_eq(ktx__net_set_brokers(net, invalid, 1), KTX_ERR_INVALID_ARG);
    ck_assert_uint_eq(ktx__net_broker_count(net), 1);
    ck_assert_int_eq(ktx__net_send(net, 77, NULL, 0), KTX_ERR_INVALID_ARG);
    ck_assert(!ktx__net_ready(net, 77, 0));
    ck_assert_int_eq(ktx__net_poll_delay(net, 77, 0), INT64_MAX);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_least_loaded_prefers_known_brokers_then_bootstrap_nodes)
{
    struct ktx__net_conf conf = test_conf("b1:1001");
    struct ktx__net *net = new_net(&conf);
    struct ktx__net_broker brokers[] = {{4, "k4", 9004}};
    int64_t delay = -1;

    ck_assert_int_eq(ktx__net_least_loaded(net, 0, &delay), -1);
    ck_assert_int_eq(delay, 0);
    ck_assert_int_eq(ktx__net_set_brokers(net, brokers, 1), 0);
    ck_assert_int_eq(ktx__net_least_loaded(net, 0, &delay), 4);
    ck_assert_int_eq(ktx__net_poll_delay(net, 4, 0), 0);
    ck_assert_int_eq(ktx__conn_send(ktx__net_conn(net, 4), NULL, 0), KTX_ERR_STATE);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_net_new_rejects_bad_bootstrap_and_settings)
{
    struct ktx__net_conf conf = test_conf("nohost");
    struct ktx__net *net = NULL;

    ck_assert_int_eq(ktx__net_new(&net, &conf), KTX_ERR_BAD_CONFIG);
    conf = test_conf("h:1");
    conf.conn.max_in_flight = 0;
    ck_assert_int_eq(ktx__net_new(&net, &conf), KTX_ERR_INVALID_ARG);
    ck_assert_ptr_null(net);
}
END_TEST

/* ---- wakeup ---- */

static void *wake_later(void *arg)
{
    usleep(30 * 1000);
    ktx__net_wakeup(arg);
    return NULL;
}

START_TEST(test_wakeup_from_another_thread_interrupts_a_ten_second_poll)
{
    struct ktx__net_conf conf = test_conf("127.0.0.1:1");
    struct ktx__net *net = new_net(&conf);
    pthread_t thread;
    int64_t start;

    /* A wakeup before the poll is not lost. */
    ktx__net_wakeup(net);
    start = ktx_test_now_ms();
    ck_assert_int_eq(ktx__net_poll(net, 10000, ktx__net_now(net)), 0);
    ck_assert_int_lt(ktx_test_now_ms() - start, 100);

    ck_assert_int_eq(pthread_create(&thread, NULL, wake_later, net), 0);
    start = ktx_test_now_ms();
    ck_assert_int_eq(ktx__net_poll(net, 10000, ktx__net_now(net)), 0);
    ck_assert_int_lt(ktx_test_now_ms() - start, 100);
    pthread_join(thread, NULL);

    /* Drained: the next short poll waits its full timeout. */
    start = ktx_test_now_ms();
    ck_assert_int_eq(ktx__net_poll(net, 50, ktx__net_now(net)), 0);
    ck_assert_int_ge(ktx_test_now_ms() - start, 45);
    ktx__net_destroy(net);
}
END_TEST

/* ---- IPv6 ---- */

START_TEST(test_conn_connects_to_bracketed_ipv6_loopback)
{
    struct sockaddr_in6 sin6;
    socklen_t len = sizeof(sin6);
    char bootstrap[64];
    int lfd = socket(AF_INET6, SOCK_STREAM, 0);

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
        /* No ::1 on this machine: only the parser is tested (above). */
        if (lfd >= 0)
            close(lfd);
        return;
    }
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin6, &len), 0);
    snprintf(bootstrap, sizeof(bootstrap), "[::1]:%d", ntohs(sin6.sin6_port));

    struct ktx__net_conf conf = test_conf(bootstrap);
    struct ktx__net *net = new_net(&conf);
    struct ktx__conn *conn = ktx__net_conn(net, -1);
    int64_t end = ktx_test_now_ms() + WAIT_MS;

    ck_assert(!ktx__net_ready(net, -1, ktx__net_now(net)));
    while (ktx__conn_state(conn) != KTX__CONN_API_VERSIONS && ktx_test_now_ms() < end)
        ck_assert_int_eq(ktx__net_poll(net, 50, ktx__net_now(net)), 0);
    /* TCP is up and the ApiVersions request is out: the listener has a connection. */
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_API_VERSIONS);
    int afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    close(afd);
    close(lfd);
    ktx__net_destroy(net);
}
END_TEST

/* ---- against the mock ---- */

START_TEST(test_conn_negotiates_mock_versions_after_api_versions_v0_fallback)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct ktx__conn *conn = ktx__net_conn(net, -1);

    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_PRODUCE), -1);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_READY);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_PRODUCE), 7);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_METADATA), 2);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_INIT_PRODUCER_ID), 4);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_FIND_COORDINATOR), 2);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_API_VERSIONS), 2);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_DESCRIBE_TRANSACTIONS), -1);
    ck_assert_int_eq(ktx__conn_api_version(conn, 500), -1);
    /* v3 was answered malformed; v0 on the same connection worked; the next negotiation
     * starts at the broker's own maximum. */
    ck_assert_uint_eq(ktx__conn_stats(conn)->api_versions_fallbacks, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connect_attempts, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 1);
    ck_assert_int_eq(ktx__conn_api_versions_version(conn), 2);
    ck_assert_int_eq(ktx__conn_in_flight(conn), 0);

    /* A version above the negotiated one, or an API the broker lacks, is refused. */
    struct result res = {0};
    struct ktx__conn_req req = make_req(KTX__API_METADATA, encode_metadata, "x", &res);
    req.version = 5;
    ck_assert_int_eq(ktx__conn_send(conn, &req, ktx__net_now(net)), KTX_ERR_UNSUPPORTED);
    req.api_key = KTX__API_DESCRIBE_TRANSACTIONS;
    req.version = -1;
    ck_assert_int_eq(ktx__conn_send(conn, &req, ktx__net_now(net)), KTX_ERR_UNSUPPORTED);

    /* Reconnecting negotiates at v2 directly: no new fallback. */
    ktx__conn_close(conn, false, ktx__net_now(net));
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_DISCONNECTED);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ck_assert_uint_eq(ktx__conn_stats(conn)->api_versions_fallbacks, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 2);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_PRODUCE), 7);
    ck_assert(!res.done);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_api_versions_dropped_twice_is_retried_on_fresh_connections)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct ktx__conn *conn = ktx__net_conn(net, -1);

    /* The mock drops the connection on the next two ApiVersions requests it serves. */
    cmd_ok("err 18 2 -1");
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ck_assert_uint_eq(ktx__conn_stats(conn)->connect_attempts, 3);
    ck_assert_uint_eq(ktx__conn_stats(conn)->disconnects, 2);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 1);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_PRODUCE), 7);
    /* Negotiation went down to v0 on the way, then learnt the broker's maximum. */
    ck_assert_uint_ge(ktx__conn_stats(conn)->api_versions_fallbacks, 1);
    ck_assert_int_eq(ktx__conn_api_versions_version(conn), 2);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_pipelined_metadata_requests_get_their_own_responses_in_order)
{
    static const char *const topics[] = {"pipe-a", "pipe-b", "pipe-c", "pipe-d"};
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct result res[5];
    int counter = 0;

    conf.conn.max_in_flight = 4;
    ktx__net_destroy(net);
    net = new_net(&conf);
    memset(res, 0, sizeof(res));
    ck_assert(wait_ready(net, -2, WAIT_MS));
    for (int i = 0; i < 4; i++) {
        struct ktx__conn_req req =
            make_req(KTX__API_METADATA, encode_metadata, (void *)topics[i], &res[i]);
        res[i].counter = &counter;
        ck_assert_int_eq(ktx__net_send(net, -2, &req, ktx__net_now(net)), 0);
    }
    /* The pipeline is full: a fifth request waits for room. */
    struct ktx__conn_req fifth = make_req(KTX__API_METADATA, encode_metadata, "x", &res[4]);
    ck_assert_int_eq(ktx__net_send(net, -2, &fifth, ktx__net_now(net)), KTX_ERR_QUEUE_FULL);
    ck_assert(!ktx__net_ready(net, -2, ktx__net_now(net)));
    ck_assert_int_eq(ktx__conn_in_flight(ktx__net_conn(net, -2)), 4);
    ck_assert_int_eq(ktx__net_in_flight(net), 4);
    ck_assert(poll_until(net, &res[3].done, WAIT_MS));

    for (int i = 0; i < 4; i++) {
        struct ktx__metadata_resp resp;
        struct ktx__arena arena;

        ck_assert_int_eq(res[i].done, 1);
        ck_assert_int_eq(res[i].err, 0);
        ck_assert_int_eq(res[i].order, i);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_metadata_resp_decode(res[i].body, res[i].len, 2, &resp,
                                                         &arena), 0);
        ck_assert_int_eq(resp.topics_count, 1);
        ck_assert(ktx__str_eq_c(resp.topics[0].name, topics[i]));
        ck_assert_int_eq(resp.brokers_count, 3);
        ktx__arena_free(&arena);
        free(res[i].body);
    }
    ck_assert_int_eq(ktx__net_in_flight(net), 0);
    ck_assert(ktx__net_ready(net, -2, ktx__net_now(net)));
    ck_assert_uint_eq(ktx__conn_stats(ktx__net_conn(net, -2))->responses, 6); /* + 2 ApiVersions */
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_request_past_request_timeout_fails_and_connection_is_reestablished)
{
    char bootstrap[64];
    struct ktx__net_conf conf;
    struct ktx__net *net;
    struct ktx__conn *conn;
    struct result res = {0};
    int64_t sent;

    broker_addr(1, bootstrap, sizeof(bootstrap));
    conf = test_conf(bootstrap);
    conf.conn.request_timeout_ms = 300;
    net = new_net(&conf);
    conn = ktx__net_conn(net, -1);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    cmd_ok("berr 1 10 0 2000");

    struct ktx__conn_req req = make_req(KTX__API_FIND_COORDINATOR, encode_find_coordinator,
                                        "tx-slow", &res);
    sent = ktx_test_now_ms();
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, KTX_ERR_TIMED_OUT);
    ck_assert_ptr_null(res.body);
    ck_assert_int_ge(res.at - sent, 290);
    ck_assert_int_lt(res.at - sent, 1500);
    /* The connection was closed, as Kafka does, and comes back after the backoff. */
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_DISCONNECTED);
    ck_assert_uint_eq(ktx__conn_stats(conn)->timeouts, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->disconnects, 1);
    ck_assert_int_gt(ktx__net_poll_delay(net, -1, ktx__net_now(net)), 0);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 2);

    /* The new connection answers normally. */
    struct result again = {0};
    req = make_req(KTX__API_FIND_COORDINATOR, encode_find_coordinator, "tx-slow", &again);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert(poll_until(net, &again.done, WAIT_MS));
    ck_assert_int_eq(again.err, 0);
    ck_assert_int_gt(again.len, 0);
    free(again.body);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_broker_down_fails_requests_and_reconnects_with_exponential_backoff)
{
    char bootstrap[64];
    struct ktx__net_conf conf;
    struct ktx__net *net;
    struct ktx__conn *conn;
    struct result res = {0};
    int64_t attempts[16];
    int n = 0;

    broker_addr(2, bootstrap, sizeof(bootstrap));
    conf = test_conf(bootstrap);
    conf.conn.reconnect_backoff_ms = 50;
    conf.conn.reconnect_backoff_max_ms = 400;
    net = new_net(&conf);
    conn = ktx__net_conn(net, -1);
    ck_assert(wait_ready(net, -1, WAIT_MS));

    /* A request held by the broker is in flight when it goes down. */
    cmd_ok("berr 2 10 0 3000");
    struct ktx__conn_req req = make_req(KTX__API_FIND_COORDINATOR, encode_find_coordinator,
                                        "tx-down", &res);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert_int_eq(ktx__net_poll(net, 20, ktx__net_now(net)), 0);
    cmd_ok("down 2");
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, KTX_ERR_TRANSPORT);
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_DISCONNECTED);

    /* Drive the node as the sender does for 2 s and record every connect attempt. */
    uint64_t seen = ktx__conn_stats(conn)->connect_attempts;
    int64_t end = ktx_test_now_ms() + 2000;
    while (ktx_test_now_ms() < end && n < 16) {
        int64_t now = ktx__net_now(net);
        ck_assert(!ktx__net_ready(net, -1, now));
        if (ktx__conn_stats(conn)->connect_attempts != seen) {
            seen = ktx__conn_stats(conn)->connect_attempts;
            attempts[n++] = ktx__conn_stats(conn)->last_attempt_ms;
        }
        int64_t delay = ktx__net_poll_delay(net, -1, now);
        ck_assert_int_eq(ktx__net_poll(net, KTX__MIN(delay, end - now), now), 0);
    }
    /* Drop, then refusals: waits of 100, 200, 400, 400... ms (50 ms doubling after each
     * failure, capped at 400), each within +-20%, plus scheduling slack above. */
    ck_assert_int_ge(n, 5);
    ck_assert_int_le(n, 8);
    for (int i = 1; i < n; i++) {
        int64_t want = KTX__MIN(50 << i, 400);
        int64_t got = attempts[i] - attempts[i - 1];
        ck_assert_msg(got >= want * 8 / 10 && got <= want * 12 / 10 + 30,
                      "attempt %d came %lld ms after the previous one, want %lld +-20%%", i,
                      (long long)got, (long long)want);
    }
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 1);

    cmd_ok("up 2");
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 2);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_dropped_connection_fails_request_with_transport_then_recovers)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct result res = {0}, again = {0};

    ck_assert(wait_ready(net, -1, WAIT_MS));
    cmd_ok("err 22 1 -1");
    struct ktx__conn_req req = make_req(KTX__API_INIT_PRODUCER_ID, encode_init_producer_id,
                                        NULL, &res);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, KTX_ERR_TRANSPORT);
    ck_assert_int_eq(ktx__conn_state(ktx__net_conn(net, -1)), KTX__CONN_DISCONNECTED);

    ck_assert(wait_ready(net, -1, WAIT_MS));
    req = make_req(KTX__API_INIT_PRODUCER_ID, encode_init_producer_id, NULL, &again);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert(poll_until(net, &again.done, WAIT_MS));
    ck_assert_int_eq(again.err, 0);

    struct ktx__init_producer_id_resp resp;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_init_producer_id_resp_decode(again.body, again.len, 4, &resp,
                                                             &arena), 0);
    ck_assert_int_eq(resp.error_code, 0);
    ck_assert_int_ge(resp.producer_id, 0);
    ktx__arena_free(&arena);
    free(again.body);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_no_response_request_completes_when_written_stray_answer_closes)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct ktx__conn *conn = ktx__net_conn(net, -1);
    struct result res = {0};
    struct ktx__conn_req req;

    ck_assert(wait_ready(net, -1, WAIT_MS));
    /* An already-encoded ApiVersions v0 body (empty) sent as if it were acks=0: it
     * completes once written, with no body. */
    memset(&req, 0, sizeof(req));
    req.api_key = KTX__API_API_VERSIONS;
    req.version = 0;
    req.no_response = true;
    req.cb = on_result;
    req.opaque = &res;
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert_int_eq(ktx__net_in_flight(net), 1);
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, 0);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(ktx__net_in_flight(net), 0);
    /* The mock answers it anyway: a response that matches no request in flight (an
     * unexpected correlation id) closes the connection. */
    int64_t end = ktx_test_now_ms() + WAIT_MS;
    while (ktx__conn_state(conn) == KTX__CONN_READY && ktx_test_now_ms() < end)
        ck_assert_int_eq(ktx__net_poll(net, 100, ktx__net_now(net)), 0);
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_DISCONNECTED);
    ck_assert_uint_eq(ktx__conn_stats(conn)->disconnects, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->responses, 2); /* the two ApiVersions only */
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_preencoded_body_is_sent_and_oversized_request_is_refused_whole)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net;
    struct ktx__conn *conn;
    struct result res = {0}, big = {0};
    struct ktx__writer body;
    char *name = malloc(3000);

    conf.conn.max_output_size = 1024;
    net = new_net(&conf);
    conn = ktx__net_conn(net, -1);
    ck_assert(wait_ready(net, -1, WAIT_MS));

    /* A request over the output ceiling is refused and leaves nothing behind. */
    memset(name, 'n', 2999);
    name[2999] = '\0';
    struct ktx__conn_req req = make_req(KTX__API_METADATA, encode_metadata, name, &big);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), KTX_ERR_BAD_MSG);
    ck_assert_int_eq(ktx__conn_in_flight(conn), 0);
    ck_assert_uint_eq(ktx__conn_stats(conn)->requests_sent, 2); /* the two ApiVersions */

    /* An already-encoded body at an explicit version. */
    ktx__w_init(&body, 64, 0);
    ck_assert_int_eq(encode_metadata(&body, 1, "pre-encoded"), 0);
    req = make_req(KTX__API_METADATA, NULL, NULL, &res);
    req.version = 1;
    req.body = body.p;
    req.body_len = body.len;
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ktx__w_free(&body); /* copied at send */
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, 0);

    struct ktx__metadata_resp resp;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_metadata_resp_decode(res.body, res.len, 1, &resp, &arena), 0);
    ck_assert_int_eq(resp.topics_count, 1);
    ck_assert(ktx__str_eq_c(resp.topics[0].name, "pre-encoded"));
    ck_assert_int_eq(resp.cluster_id.len, -1); /* v1 has no cluster id: v1 was used */
    ktx__arena_free(&arena);
    free(res.body);
    ck_assert(!big.done);
    free(name);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_net_bootstrap_falls_back_past_a_closed_port)
{
    char bootstrap[128], second[64];
    struct ktx__net_conf conf;
    struct ktx__net *net;
    int32_t node;

    broker_addr(3, second, sizeof(second));
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d,%s", closed_port(), second);
    conf = test_conf(bootstrap);
    net = new_net(&conf);
    /* The first choice is the first entry; it is refused and goes into backoff. */
    node = ktx__net_least_loaded(net, ktx__net_now(net), NULL);
    ck_assert_int_eq(node, -1);
    ck_assert(!ktx__net_ready(net, node, ktx__net_now(net)));
    ck_assert(!wait_ready(net, -1, 20));
    ck_assert_uint_ge(ktx__conn_stats(ktx__net_conn(net, -1))->connect_attempts, 1);
    ck_assert_uint_eq(ktx__conn_stats(ktx__net_conn(net, -1))->connects, 0);
    /* The next choice is the second entry, which works. */
    node = ktx__net_least_loaded(net, ktx__net_now(net), NULL);
    ck_assert_int_eq(node, -2);
    ck_assert(wait_ready(net, node, WAIT_MS));
    ck_assert_int_eq(ktx__net_least_loaded(net, ktx__net_now(net), NULL), -2);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_net_falls_back_to_bootstrap_when_every_known_broker_fails)
{
    char bootstrap[64];
    struct ktx__net_conf conf;
    struct ktx__net *net;
    struct ktx__net_broker dead[] = {{7, "127.0.0.1", 0}};
    int64_t delay = -1;

    broker_addr(1, bootstrap, sizeof(bootstrap));
    conf = test_conf(bootstrap);
    net = new_net(&conf);
    dead[0].port = closed_port();
    ck_assert_int_eq(ktx__net_set_brokers(net, dead, 1), 0);
    ck_assert_int_eq(ktx__net_least_loaded(net, ktx__net_now(net), &delay), 7);
    ck_assert(!ktx__net_ready(net, 7, ktx__net_now(net)));
    ck_assert(!wait_ready(net, 7, 20));
    /* Broker 7 is in backoff: the bootstrap node is chosen instead, and it works. */
    ck_assert_int_eq(ktx__net_least_loaded(net, ktx__net_now(net), &delay), -1);
    ck_assert_int_eq(delay, 0);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_connect_timeout_gives_up_on_an_address_that_never_answers)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    char bootstrap[64];
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fillers[3];
    struct ktx__net_conf conf;
    struct ktx__net *net;
    struct ktx__conn *conn;
    int64_t start, end;

    /* A listener whose accept queue is full drops new SYNs: connects hang. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    for (int i = 0; i < 3; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&sin, sizeof(sin));
    }
    usleep(50 * 1000);
    snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d", ntohs(sin.sin_port));
    conf = test_conf(bootstrap);
    conf.conn.connect_timeout_ms = 200;
    net = new_net(&conf);
    conn = ktx__net_conn(net, -1);

    start = ktx_test_now_ms();
    ck_assert(!ktx__net_ready(net, -1, ktx__net_now(net)));
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_CONNECTING);
    ck_assert_int_le(ktx__net_poll_delay(net, -1, ktx__net_now(net)), 200);
    end = start + WAIT_MS;
    while (ktx__conn_state(conn) == KTX__CONN_CONNECTING && ktx_test_now_ms() < end)
        ck_assert_int_eq(ktx__net_poll(net, 10000, ktx__net_now(net)), 0); /* deadline-bound */
    ck_assert_int_eq(ktx__conn_state(conn), KTX__CONN_DISCONNECTED);
    ck_assert_int_ge(ktx_test_now_ms() - start, 195);
    ck_assert_int_lt(ktx_test_now_ms() - start, 1000);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connect_attempts, 1);
    ck_assert_uint_eq(ktx__conn_stats(conn)->connects, 0);
    ck_assert_int_gt(ktx__net_poll_delay(net, -1, ktx__net_now(net)), 0);
    ktx__net_destroy(net);
    for (int i = 0; i < 3; i++)
        close(fillers[i]);
    close(lfd);
}
END_TEST

START_TEST(test_conn_response_over_the_size_ceiling_closes_the_connection)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net;
    struct result res = {0};

    cmd_ok("topic wide 300 1");
    conf.conn.max_response_size = 2048; /* ApiVersions fits, 300 partitions do not */
    net = new_net(&conf);
    ck_assert(wait_ready(net, -1, WAIT_MS));
    struct ktx__conn_req req = make_req(KTX__API_METADATA, encode_metadata, "wide", &res);
    ck_assert_int_eq(ktx__net_send(net, -1, &req, ktx__net_now(net)), 0);
    ck_assert(poll_until(net, &res.done, WAIT_MS));
    ck_assert_int_eq(res.err, KTX_ERR_TRANSPORT);
    ck_assert_int_eq(ktx__conn_state(ktx__net_conn(net, -1)), KTX__CONN_DISCONNECTED);
    ck_assert_uint_eq(ktx__conn_stats(ktx__net_conn(net, -1))->responses, 2);
    ktx__net_destroy(net);
}
END_TEST

START_TEST(test_conn_large_pipelined_responses_are_reassembled_across_reads)
{
    struct ktx__net_conf conf = test_conf(ktx_test_cluster_bootstrap(cluster));
    struct ktx__net *net = new_net(&conf);
    struct result res[2];
    int counter = 0;

    memset(res, 0, sizeof(res));
    cmd_ok("topic huge 20000 1");
    ck_assert(wait_ready(net, -3, WAIT_MS));
    for (int i = 0; i < 2; i++) {
        struct ktx__conn_req req = make_req(KTX__API_METADATA, encode_metadata, "huge", &res[i]);
        res[i].counter = &counter;
        ck_assert_int_eq(ktx__net_send(net, -3, &req, ktx__net_now(net)), 0);
    }
    ck_assert(poll_until(net, &res[1].done, 20000));
    for (int i = 0; i < 2; i++) {
        struct ktx__metadata_resp resp;
        struct ktx__arena arena;

        ck_assert_int_eq(res[i].err, 0);
        ck_assert_int_eq(res[i].order, i);
        ck_assert_uint_gt(res[i].len, 256 * 1024); /* several reads of 64 KiB */
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_metadata_resp_decode(res[i].body, res[i].len, 2, &resp,
                                                         &arena), 0);
        ck_assert_int_eq(resp.topics_count, 1);
        ck_assert_int_eq(resp.topics[0].partitions_count, 20000);
        ck_assert_int_eq(resp.topics[0].partitions[19999].partition_index, 19999);
        ktx__arena_free(&arena);
        free(res[i].body);
    }
    ktx__net_destroy(net);
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *local = tcase_create("local"); /* no peer process: pure logic and local sockets */
    TCase *mock = tcase_create("mock");

    tcase_add_test(local, test_backoff_doubles_per_failure_up_to_the_max_within_20_percent_jitter);
    tcase_add_test(local, test_bootstrap_parses_hosts_ports_blanks_and_bracketed_ipv6);
    tcase_add_test(local, test_bootstrap_rejects_malformed_entries);
    tcase_add_test(local, test_registry_maps_bootstrap_to_negative_ids_and_updates_brokers);
    tcase_add_test(local, test_least_loaded_prefers_known_brokers_then_bootstrap_nodes);
    tcase_add_test(local, test_net_new_rejects_bad_bootstrap_and_settings);
    tcase_add_test(local, test_wakeup_from_another_thread_interrupts_a_ten_second_poll);
    tcase_add_test(local, test_conn_connects_to_bracketed_ipv6_loopback);
    tcase_add_test(local, test_conn_connect_timeout_gives_up_on_an_address_that_never_answers);
    suite_add_tcase(s, local);

    tcase_add_checked_fixture(mock, cluster_setup, cluster_teardown);
    tcase_set_timeout(mock, 60);
    tcase_add_test(mock, test_conn_negotiates_mock_versions_after_api_versions_v0_fallback);
    tcase_add_test(mock, test_conn_api_versions_dropped_twice_is_retried_on_fresh_connections);
    tcase_add_test(mock, test_conn_pipelined_metadata_requests_get_their_own_responses_in_order);
    tcase_add_test(mock,
                   test_conn_request_past_request_timeout_fails_and_connection_is_reestablished);
    tcase_add_test(mock,
                   test_conn_broker_down_fails_requests_and_reconnects_with_exponential_backoff);
    tcase_add_test(mock, test_conn_dropped_connection_fails_request_with_transport_then_recovers);
    tcase_add_test(mock, test_conn_no_response_request_completes_when_written_stray_answer_closes);
    tcase_add_test(mock, test_conn_response_over_the_size_ceiling_closes_the_connection);
    tcase_add_test(mock, test_conn_large_pipelined_responses_are_reassembled_across_reads);
    tcase_add_test(mock, test_conn_preencoded_body_is_sent_and_oversized_request_is_refused_whole);
    tcase_add_test(mock, test_net_bootstrap_falls_back_past_a_closed_port);
    tcase_add_test(mock, test_net_falls_back_to_bootstrap_when_every_known_broker_fails);
    suite_add_tcase(s, mock);
    return s;
}

KTX_CHECK_MAIN(conn_suite)
