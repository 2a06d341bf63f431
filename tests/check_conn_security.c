/*
 * TLS and SASL in broker connections (sdk/conn.c, sdk/conn_security.c) against a real peer:
 * the reference broker tests/broker/ktx-broker with SSL, SASL_PLAINTEXT and SASL_SSL
 * listeners, certificates made by tests/certs.sh and users in a sasldb made by saslpasswd2.
 * A connection is driven by a small poll loop here, as struct ktx__net does; the end-to-end
 * cases run a whole producer and read the records back with kcat over the same listener.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "conf.h"
#include "conn.h"
#include "kafkatx.h"
#include "proto_meta.h"
#include "tls.h"

#define KEY_PASSWORD "k3y-Pa55phrase-7431" /* written by tests/certs.sh */
#define USER "alice"
#define PASSWORD "Al1ce-s3cret-pw-5521"
#define WRONG_PASSWORD "not-Al1ce-pw-7730"
#define TOPIC "sec-topic"

static char dir[256]; /* certificates and the sasldb */

/* ------------------------------------------------------------------------------------------
 * Fixture: certificates and users, made once for the suite.
 * ------------------------------------------------------------------------------------------ */

static const char *source_dir(char *buf, size_t size)
{
    const char *srcdir = getenv("srcdir");
    const char *slash;

    if (srcdir != NULL && srcdir[0] != '\0')
        return srcdir;
    snprintf(buf, size, "%s", __FILE__);
    slash = strrchr(buf, '/');
    if (slash == NULL)
        return ".";
    buf[slash - buf] = '\0';
    slash = strrchr(buf, '/'); /* drop "tests" */
    if (slash == NULL)
        return "..";
    buf[slash - buf] = '\0';
    return buf;
}

static void suite_setup(void)
{
    char cmd[1024], src[512];

    snprintf(dir, sizeof(dir), "/tmp/ktx-conn-sec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs.sh' '%s/certs' >/dev/null",
             source_dir(src, sizeof(src)), dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | saslpasswd2 -f '%s/sasldb' -c -p %s",
             PASSWORD, dir, USER);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

static void suite_teardown(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)system(cmd);
}

/* Returns "DIR/name" in a static ring of buffers (enough for one argument list). */
static const char *path(const char *name)
{
    static char bufs[16][320];
    static unsigned next;
    char *buf = bufs[next++ % 16];

    snprintf(buf, sizeof(bufs[0]), "%s/%s", dir, name);
    return buf;
}

/* Starts one broker with listener |protocol|, certificate |cert| (certs/NAME.pem and .key;
 * NULL for none), SASL |mechanisms| (NULL for none), |client_auth| and the arguments |extra|
 * (NULL-terminated, at most 4; NULL for none). */
static struct ktx_test_cluster *start_broker_with(const char *protocol, const char *cert,
                                                  const char *mechanisms, bool client_auth,
                                                  const char *const *extra)
{
    const char *args[24];
    struct ktx_test_cluster *c = NULL;
    char pem[64], key[64];
    int n = 0;

    args[n++] = "--security-protocol";
    args[n++] = protocol;
    if (cert != NULL) {
        snprintf(pem, sizeof(pem), "certs/%s.pem", cert);
        snprintf(key, sizeof(key), "certs/%s.key", cert);
        args[n++] = "--ssl-cert";
        args[n++] = path(pem);
        args[n++] = "--ssl-key";
        args[n++] = path(key);
    }
    if (client_auth) {
        args[n++] = "--ssl-ca";
        args[n++] = path("certs/ca.pem");
        args[n++] = "--ssl-client-auth";
        args[n++] = "required";
    }
    if (mechanisms != NULL) {
        args[n++] = "--sasl-mechanisms";
        args[n++] = mechanisms;
        args[n++] = "--sasldb";
        args[n++] = path("sasldb");
    }
    for (; extra != NULL && *extra != NULL; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic %s 1 1", TOPIC), 0);
    return c;
}

static struct ktx_test_cluster *start_broker(const char *protocol, const char *cert,
                                             const char *mechanisms, bool client_auth)
{
    return start_broker_with(protocol, cert, mechanisms, client_auth, NULL);
}

/* ------------------------------------------------------------------------------------------
 * One connection driven by a poll loop.
 * ------------------------------------------------------------------------------------------ */

struct env {
    ktx_conf_t *conf;
    struct ktx__conf_values v;
    struct ktx__tls_ctx *tls;
    struct ktx__conn *conn;
    int auth_calls;
    int auth_code;
    char auth_msg[512];
};

static void on_auth(struct ktx__conn *conn, int code, const char *msg, void *opaque)
{
    struct env *e = opaque;

    (void)conn;
    e->auth_calls++;
    e->auth_code = code;
    snprintf(e->auth_msg, sizeof(e->auth_msg), "%s", msg);
}

static void set(ktx_conf_t *conf, const char *name, const char *value)
{
    ktx_error_t *err = ktx_conf_set(conf, name, value);

    ck_assert_msg(err == NULL, "%s=%s: %s", name, value, ktx_error_message(err));
}

/* Creates a connection to |host| and broker 1's port with the properties |props| (name,
 * value pairs, NULL-terminated). */
static void env_init(struct env *e, struct ktx_test_cluster *c, const char *host,
                     const char *const *props)
{
    struct ktx__conn_conf cc;
    char err[512] = "", h[64];
    int port;

    memset(e, 0, sizeof(*e));
    e->conf = ktx_conf_new();
    ck_assert_ptr_nonnull(e->conf);
    set(e->conf, "bootstrap.servers", ktx_test_cluster_bootstrap(c));
    for (; props != NULL && props[0] != NULL; props += 2)
        set(e->conf, props[0], props[1]);
    ck_assert_int_eq(ktx__conf_resolve(e->conf, &e->v, err, sizeof(err)), 0);
    if (e->v.security_protocol == KTX__SECURITY_SSL ||
        e->v.security_protocol == KTX__SECURITY_SASL_SSL)
        ck_assert_msg(ktx__tls_ctx_new(&e->tls, &e->v, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 1, h, sizeof(h), &port), 0);
    memset(&cc, 0, sizeof(cc));
    cc.client_id = "check-conn-security";
    cc.request_timeout_ms = 15000;
    cc.connect_timeout_ms = 2000;
    cc.reconnect_backoff_ms = 10;
    cc.reconnect_backoff_max_ms = 1000;
    cc.max_in_flight = 5;
    cc.security = &e->v;
    cc.tls_ctx = e->tls;
    cc.on_auth_error = on_auth;
    cc.auth_opaque = e;
    ck_assert_int_eq(ktx__conn_new(&e->conn, host != NULL ? host : h, port, &cc), 0);
}

static void env_free(struct env *e)
{
    ktx__conn_destroy(e->conn);
    ktx__tls_ctx_free(e->tls);
    ktx_conf_destroy(e->conf);
}

/* One round of the loop: connect when allowed, poll up to 20 ms, I/O, timeouts. */
static void turn(struct env *e)
{
    int64_t now = ktx_test_now_ms();
    struct pollfd pfd;

    if (ktx__conn_state(e->conn) == KTX__CONN_DISCONNECTED && now >= ktx__conn_backoff_until(e->conn))
        (void)ktx__conn_connect(e->conn, now);
    pfd.fd = ktx__conn_poll_events(e->conn, &pfd.events);
    pfd.revents = 0;
    if (pfd.fd < 0) {
        usleep(20 * 1000);
    } else if (poll(&pfd, 1, 20) > 0) {
        ktx__conn_on_events(e->conn, pfd.revents, ktx_test_now_ms());
    }
    ktx__conn_check_timeouts(e->conn, ktx_test_now_ms());
}

/* Drives the connection until it is READY or failed authentication, for |ms| at most.
 * Returns true when READY. */
static bool drive_ready(struct env *e, int ms)
{
    int64_t end = ktx_test_now_ms() + ms;

    while (ktx_test_now_ms() < end && e->auth_calls == 0 &&
           ktx__conn_state(e->conn) != KTX__CONN_READY)
        turn(e);
    if (ktx__conn_state(e->conn) != KTX__CONN_READY)
        fprintf(stderr, "not ready: state %s, last error: %s\n",
                ktx__conn_state_name(ktx__conn_state(e->conn)), e->auth_msg);
    return ktx__conn_state(e->conn) == KTX__CONN_READY;
}

/* Completion of the Metadata request: the decoded broker and topic counts. */
struct md_result {
    bool done;
    int err;
    int16_t ver;
    int32_t brokers;
    bool has_topic;
};

static void on_metadata(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                        void *opaque)
{
    struct md_result *r = opaque;
    struct ktx__metadata_resp resp;
    struct ktx__arena arena;

    (void)conn;
    r->done = true;
    r->err = err;
    if (err != 0)
        return;
    ktx__arena_init(&arena, 0);
    r->err = ktx__proto_metadata_resp_decode(body, len, r->ver, &resp, &arena);
    if (r->err == 0) {
        r->brokers = resp.brokers_count;
        for (int32_t i = 0; i < resp.topics_count; i++)
            if (resp.topics[i].name.ptr != NULL && resp.topics[i].name.len == (int32_t)strlen(TOPIC) &&
                memcmp(resp.topics[i].name.ptr, TOPIC, strlen(TOPIC)) == 0)
                r->has_topic = true;
    }
    ktx__arena_free(&arena);
}

static int metadata_encode(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__metadata_req req;

    (void)opaque;
    memset(&req, 0, sizeof(req));
    req.topics_count = -1;
    req.allow_auto_topic_creation = false;
    return ktx__proto_metadata_req_encode(w, ver, &req);
}

/* Sends Metadata (all topics) on a READY connection and checks the broker's answer. */
static void assert_metadata_served(struct env *e)
{
    struct md_result r = {0};
    struct ktx__conn_req req = {0};
    int64_t end = ktx_test_now_ms() + 15000;

    r.ver = ktx__conn_api_version(e->conn, KTX__API_METADATA);
    ck_assert_int_ge(r.ver, 1);
    req.api_key = KTX__API_METADATA;
    req.version = r.ver;
    req.encode = metadata_encode;
    req.cb = on_metadata;
    req.opaque = &r;
    ck_assert_int_eq(ktx__conn_send(e->conn, &req, ktx_test_now_ms()), 0);
    while (!r.done && ktx_test_now_ms() < end)
        turn(e);
    ck_assert_msg(r.done, "no Metadata answer");
    ck_assert_int_eq(r.err, 0);
    ck_assert_int_eq(r.brokers, 1);
    ck_assert(r.has_topic);
}

/* Asserts that |e| failed authentication once with |code| and a message that holds
 * |needle| and |needle2| (may be NULL) and no secret. */
static void assert_auth_failure(struct env *e, int code, const char *needle, const char *needle2)
{
    const char *msg = NULL;

    ck_assert_int_eq(e->auth_calls, 1);
    ck_assert_int_eq(e->auth_code, code);
    ck_assert_msg(strstr(e->auth_msg, needle) != NULL, "message: %s", e->auth_msg);
    ck_assert_msg(needle2 == NULL || strstr(e->auth_msg, needle2) != NULL, "message: %s",
                  e->auth_msg);
    ck_assert_ptr_null(strstr(e->auth_msg, PASSWORD));
    ck_assert_ptr_null(strstr(e->auth_msg, WRONG_PASSWORD));
    ck_assert_ptr_null(strstr(e->auth_msg, KEY_PASSWORD));
    ck_assert_int_eq(ktx__conn_last_error(e->conn, &msg), code);
    ck_assert_str_eq(msg, e->auth_msg);
    ck_assert_int_eq(ktx__conn_state(e->conn), KTX__CONN_DISCONNECTED);
    ck_assert_uint_eq(ktx__conn_stats(e->conn)->auth_failures, 1);
    ck_assert_uint_eq(ktx__conn_stats(e->conn)->connects, 0);
    /* The backoff after an authentication failure is reconnect.backoff.max.ms (1 s here,
     * with 20 % jitter), not reconnect.backoff.ms (10 ms). */
    ck_assert_int_ge(ktx__conn_backoff_until(e->conn) - ktx_test_now_ms(), 500);
}

/* Connects with |props| to |c| (host as in env_init()), expects the connection to fail
 * authentication and asserts how (assert_auth_failure()); stops |c|. */
static void expect_refused(struct ktx_test_cluster *c, const char *host,
                           const char *const *props, int code, const char *needle,
                           const char *needle2)
{
    struct env e;

    env_init(&e, c, host, props);
    ck_assert(!drive_ready(&e, 20000));
    assert_auth_failure(&e, code, needle, needle2);
    env_free(&e);
    ktx_test_cluster_stop(c);
}

/* ------------------------------------------------------------------------------------------
 * TLS.
 * ------------------------------------------------------------------------------------------ */

START_TEST(test_conn_ssl_negotiates_versions_and_serves_metadata)
{
    struct ktx_test_cluster *c = start_broker("SSL", "server", NULL, false);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           NULL};
    struct env e;

    env_init(&e, c, NULL, props);
    ck_assert(drive_ready(&e, 20000));
    ck_assert_msg(strncmp(ktx__conn_tls_version(e.conn), "TLSv1.", 6) == 0, "%s",
                  ktx__conn_tls_version(e.conn));
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->tls_handshakes, 1);
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->sasl_authentications, 0);
    ck_assert_int_ge(ktx__conn_api_version(e.conn, KTX__API_PRODUCE), 3);
    assert_metadata_served(&e);
    env_free(&e);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_conn_mutual_tls_with_encrypted_client_key)
{
    struct ktx_test_cluster *c = start_broker("SSL", "server", NULL, true);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           "ssl.certificate.location", path("certs/client.pem"),
                           "ssl.key.location", path("certs/client-enc.key"),
                           "ssl.key.password", KEY_PASSWORD, NULL};
    struct env e;

    env_init(&e, c, NULL, props);
    ck_assert(drive_ready(&e, 20000));
    assert_metadata_served(&e);
    env_free(&e);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_conn_mutual_tls_without_client_certificate_fails_authentication)
{
    struct ktx_test_cluster *c = start_broker("SSL", "server", NULL, true);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           NULL};

    expect_refused(c, NULL, props, KTX_ERR_AUTH, "127.0.0.1", "certificate");
}
END_TEST

/*
 * A broker that requires a client certificate resets the connection of a client without one
 * instead of sending its TLS 1.3 "certificate required" alert (--tls-abrupt-close: what the
 * client sees when the reset overtakes the alert, its first request having followed its
 * Finished). The client, asked for a certificate it does not have, reports an
 * authentication failure that says so, and retries at the slow pace: not a transport error
 * retried every reconnect.backoff.ms forever.
 */
START_TEST(test_conn_reset_after_certificate_request_without_certificate_is_auth_error)
{
    const char *extra[] = {"--tls-abrupt-close", "--log-file", path("abrupt.log"), NULL};
    struct ktx_test_cluster *c = start_broker_with("SSL", "server", NULL, true, extra);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           NULL};
    char log[4096] = "";
    const char *last = NULL;
    int64_t end;
    struct env e;
    FILE *f;

    env_init(&e, c, NULL, props);
    ck_assert(!drive_ready(&e, 20000));
    assert_auth_failure(&e, KTX_ERR_AUTH, "TLS session with 127.0.0.1 refused: the broker "
                        "requires a client certificate", "ssl.certificate.location");
    end = ktx_test_now_ms() + 2000;
    while (ktx_test_now_ms() < end)
        turn(&e);
    ck_assert_uint_le(ktx__conn_stats(e.conn)->connect_attempts, 3);
    (void)ktx__conn_last_error(e.conn, &last);
    ck_assert_msg(ktx__conn_stats(e.conn)->auth_failures ==
                      ktx__conn_stats(e.conn)->connect_attempts -
                          (ktx__conn_state(e.conn) == KTX__CONN_DISCONNECTED ? 0 : 1),
                  "%" PRIu64 " attempts, %" PRIu64 " authentication failures, state %s, last "
                  "error: %s", (uint64_t)ktx__conn_stats(e.conn)->connect_attempts,
                  (uint64_t)ktx__conn_stats(e.conn)->auth_failures,
                  ktx__conn_state_name(ktx__conn_state(e.conn)), last ? last : "none");
    env_free(&e);
    ktx_test_cluster_stop(c);
    /* The broker reset the connection: no alert reached the client. */
    f = fopen(path("abrupt.log"), "r");
    ck_assert_ptr_nonnull(f);
    log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strstr(log, "abrupt close: reset, no alert") != NULL, "broker log: %s", log);
}
END_TEST

START_TEST(test_conn_untrusted_ca_fails_authentication)
{
    struct ktx_test_cluster *c = start_broker("SSL", "server", NULL, false);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location",
                           path("certs/wrongca.pem"), NULL};

    expect_refused(c, NULL, props, KTX_ERR_AUTH, "TLS handshake with 127.0.0.1",
                   "certificate verify failed");
}
END_TEST

START_TEST(test_conn_certificate_for_another_host_fails_authentication)
{
    struct ktx_test_cluster *c = start_broker("SSL", "wronghost", NULL, false);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           "ssl.endpoint.identification.algorithm", "https", NULL};

    expect_refused(c, "localhost", props, KTX_ERR_AUTH, "localhost", "hostname mismatch");
}
END_TEST

START_TEST(test_conn_expired_certificate_fails_authentication)
{
    struct ktx_test_cluster *c = start_broker("SSL", "expired", NULL, false);
    const char *props[] = {"security.protocol", "SSL", "ssl.ca.location", path("certs/ca.pem"),
                           NULL};

    expect_refused(c, NULL, props, KTX_ERR_AUTH, "127.0.0.1", "certificate has expired");
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * SASL.
 * ------------------------------------------------------------------------------------------ */

static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};

START_TEST(test_conn_sasl_plaintext_authenticates_each_mechanism)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_PLAINTEXT", NULL, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.mechanism",
                           mechanisms[_i], "sasl.username", USER, "sasl.password", PASSWORD,
                           NULL};
    struct env e;

    env_init(&e, c, NULL, props);
    ck_assert_msg(drive_ready(&e, 20000), "%s: %s", mechanisms[_i], e.auth_msg);
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->sasl_authentications, 1);
    ck_assert_str_eq(ktx__conn_tls_version(e.conn), "");
    assert_metadata_served(&e);
    env_free(&e);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_conn_sasl_ssl_authenticates_over_tls)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"security.protocol", "SASL_SSL", "ssl.ca.location",
                           path("certs/ca.pem"), "sasl.mechanism", mechanisms[_i],
                           "sasl.username", USER, "sasl.password", PASSWORD, NULL};
    struct env e;

    env_init(&e, c, NULL, props);
    ck_assert_msg(drive_ready(&e, 20000), "%s: %s", mechanisms[_i], e.auth_msg);
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->tls_handshakes, 1);
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->sasl_authentications, 1);
    assert_metadata_served(&e);
    env_free(&e);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_conn_wrong_password_fails_with_broker_message)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"security.protocol", "SASL_SSL", "ssl.ca.location",
                           path("certs/ca.pem"), "sasl.mechanism", mechanisms[_i],
                           "sasl.username", USER, "sasl.password", WRONG_PASSWORD, NULL};

    expect_refused(c, NULL, props, KTX_ERR_AUTH, "SASL_AUTHENTICATION_FAILED", mechanisms[_i]);
}
END_TEST

START_TEST(test_conn_unknown_user_fails_authentication)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_PLAINTEXT", NULL, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.mechanism",
                           mechanisms[_i], "sasl.username", "mallory", "sasl.password",
                           PASSWORD, NULL};

    expect_refused(c, NULL, props, KTX_ERR_AUTH, "SASL_AUTHENTICATION_FAILED", "127.0.0.1");
}
END_TEST

START_TEST(test_conn_mechanism_not_enabled_lists_the_brokers_mechanisms)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", NULL, "PLAIN", false);
    const char *props[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.mechanism",
                           "SCRAM-SHA-256", "sasl.username", USER, "sasl.password", PASSWORD,
                           NULL};

    expect_refused(c, NULL, props, KTX_ERR_UNSUPPORTED_SASL_MECHANISM,
                   "does not enable SASL mechanism SCRAM-SHA-256", "(enabled: PLAIN)");
}
END_TEST

START_TEST(test_conn_auth_failure_does_not_reconnect_in_a_loop)
{
    struct ktx_test_cluster *c = start_broker("SASL_SSL", "server", "SCRAM-SHA-256", false);
    const char *props[] = {"security.protocol", "SASL_SSL", "ssl.ca.location",
                           path("certs/ca.pem"), "sasl.mechanism", "SCRAM-SHA-256",
                           "sasl.username", USER, "sasl.password", WRONG_PASSWORD, NULL};
    int64_t end;
    struct env e;

    env_init(&e, c, NULL, props);
    end = ktx_test_now_ms() + 2000;
    /* reconnect.backoff.ms is 10 ms: a plain transport error would retry ~100 times here;
     * authentication failures wait reconnect.backoff.max.ms (1 s +-20 %) each. */
    while (ktx_test_now_ms() < end)
        turn(&e);
    ck_assert_uint_ge(ktx__conn_stats(e.conn)->connect_attempts, 2);
    ck_assert_uint_le(ktx__conn_stats(e.conn)->connect_attempts, 3);
    ck_assert_uint_eq(ktx__conn_stats(e.conn)->auth_failures,
                      ktx__conn_stats(e.conn)->connect_attempts -
                          (ktx__conn_state(e.conn) == KTX__CONN_DISCONNECTED ? 0 : 1));
    ck_assert_int_eq(e.auth_code, KTX_ERR_AUTH);
    env_free(&e);
    ktx_test_cluster_stop(c);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * A whole producer.
 * ------------------------------------------------------------------------------------------ */

/* Everything the producer logged, and its delivery reports. */
struct capture {
    char log[64 * 1024];
    size_t log_len;
    int delivered, failed;
};

static void on_log(int level, const char *facility, const char *message, void *opaque)
{
    struct capture *cap = opaque;
    int n = snprintf(cap->log + cap->log_len, sizeof(cap->log) - cap->log_len, "%d %s %s\n",
                     level, facility, message);

    if (n > 0)
        cap->log_len = KTX__MIN(cap->log_len + (size_t)n, sizeof(cap->log) - 1);
}

static void on_report(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    struct capture *cap = opaque;

    (void)producer;
    if (dr->error == NULL)
        cap->delivered++;
    else
        cap->failed++;
}

static ktx_producer_t *new_producer(struct ktx_test_cluster *c, struct capture *cap,
                                    const char *const *props)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    ktx_error_t *err;

    ck_assert_ptr_nonnull(conf);
    set(conf, "bootstrap.servers", ktx_test_cluster_bootstrap(c));
    set(conf, "linger.ms", "5");
    set(conf, "reconnect.backoff.ms", "10");
    set(conf, "reconnect.backoff.max.ms", "1000");
    set(conf, "security.protocol", "SASL_SSL");
    set(conf, "ssl.ca.location", path("certs/ca.pem"));
    set(conf, "ssl.certificate.location", path("certs/client.pem"));
    set(conf, "ssl.key.location", path("certs/client-enc.key"));
    set(conf, "ssl.key.password", KEY_PASSWORD);
    set(conf, "sasl.mechanism", "SCRAM-SHA-512");
    set(conf, "sasl.username", USER);
    for (; props != NULL && props[0] != NULL; props += 2)
        set(conf, props[0], props[1]);
    ktx_conf_set_log_cb(conf, on_log, cap);
    ktx_conf_set_dr_cb(conf, on_report, cap);
    err = ktx_producer_new(&producer, conf);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    return producer;
}

/* Sends |n| records "PREFIX-NNNNN-" followed by |pad| (< 2000) 'x' to partition 0. */
static void send_records(ktx_producer_t *producer, const char *prefix, int n, size_t pad)
{
    for (int i = 0; i < n; i++) {
        char value[2048];
        ktx_record_t rec;
        ktx_error_t *err;
        int len;

        memset(&rec, 0, sizeof(rec));
        len = snprintf(value, sizeof(value), "%s-%05d-", prefix, i);
        memset(value + len, 'x', pad);
        value[(size_t)len + pad] = '\0';
        rec.topic = TOPIC;
        rec.partition = 0;
        rec.value = value;
        rec.value_len = strlen(value);
        err = ktx_send(producer, &rec);
        ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    }
}

/*
 * Reads TOPIC back with kcat over a listener of |protocol| (SASL with |mechanism|, TLS with
 * the test CA and the client certificate) into |out| (|size| bytes); returns the number of
 * lines.
 */
static int read_back_as(struct ktx_test_cluster *c, const char *protocol, const char *mechanism,
                        const char *isolation, char *out, size_t size)
{
    char cmd[4096], tls[1024] = "", sasl[512] = "";
    size_t len = 0;
    int lines = 0;
    FILE *f;

    if (strstr(protocol, "SSL") != NULL)
        snprintf(tls, sizeof(tls),
                 "-X ssl.ca.location=%s -X ssl.certificate.location=%s -X ssl.key.location=%s ",
                 path("certs/ca.pem"), path("certs/client.pem"), path("certs/client.key"));
    if (strncmp(protocol, "SASL", 4) == 0)
        snprintf(sasl, sizeof(sasl),
                 "-X sasl.mechanisms=%s -X sasl.username=%s -X sasl.password=%s ", mechanism,
                 USER, PASSWORD);
    snprintf(cmd, sizeof(cmd),
             "timeout 20 kcat -C -b %s -t %s -e -q -f '%%s\\n' -X security.protocol=%s %s%s"
             "-X isolation.level=%s 2>/dev/null",
             ktx_test_cluster_bootstrap(c), TOPIC, protocol, tls, sasl, isolation);
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    while (len + 1 < size && fgets(out + len, (int)(size - len), f) != NULL) {
        len += strlen(out + len);
        lines++;
    }
    out[len] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    return lines;
}

/* Reads TOPIC back with kcat over the SASL_SSL listener (SCRAM-SHA-256). */
static int read_back(struct ktx_test_cluster *c, const char *isolation, char *out, size_t size)
{
    return read_back_as(c, "SASL_SSL", "SCRAM-SHA-256", isolation, out, size);
}

static void assert_no_secret(const struct capture *cap)
{
    ck_assert_ptr_null(strstr(cap->log, PASSWORD));
    ck_assert_ptr_null(strstr(cap->log, WRONG_PASSWORD));
    ck_assert_ptr_null(strstr(cap->log, KEY_PASSWORD));
}

START_TEST(test_producer_delivers_over_sasl_ssl_and_records_read_back)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", true);
    const char *props[] = {"sasl.password", PASSWORD, NULL};
    static struct capture cap;
    static char out[4 * 1024 * 1024];
    ktx_producer_t *producer;
    ktx_error_t *err;

    memset(&cap, 0, sizeof(cap));
    producer = new_producer(c, &cap, props);
    /* 2 MB in ~1 KB records: Produce requests far larger than one TLS record, so writes
     * through the session are partial and wait for POLLOUT. */
    send_records(producer, "rec", 2000, 1000);
    err = ktx_flush(producer, 30000);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    ck_assert_int_eq(cap.delivered, 2000);
    ck_assert_int_eq(cap.failed, 0);
    ktx_producer_destroy(producer);
    ck_assert_int_eq(read_back(c, "read_uncommitted", out, sizeof(out)), 2000);
    ck_assert_ptr_nonnull(strstr(out, "rec-00000-xxxxxxxxxx"));
    ck_assert_ptr_nonnull(strstr(out, "rec-01999-xxxxxxxxxx"));
    assert_no_secret(&cap);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_wrong_password_logs_error_without_secrets)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"sasl.password", WRONG_PASSWORD, "max.block.ms", "2500", NULL};
    static struct capture cap;
    ktx_producer_t *producer;
    ktx_record_t rec;
    ktx_error_t *err;

    memset(&cap, 0, sizeof(cap));
    producer = new_producer(c, &cap, props);
    memset(&rec, 0, sizeof(rec));
    rec.topic = TOPIC;
    rec.partition = KTX_PARTITION_ANY;
    rec.value = "lost";
    rec.value_len = 4;
    /* No metadata can come from a broker that refuses us: the send blocks max.block.ms. */
    err = ktx_send(producer, &rec);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(strstr(ktx_error_message(err), WRONG_PASSWORD));
    ktx_error_destroy(err);
    ck_assert_int_eq(cap.delivered, 0);
    ck_assert_msg(strstr(cap.log, "SASL SCRAM-SHA-512 authentication with 127.0.0.1") != NULL &&
                      strstr(cap.log, "SASL_AUTHENTICATION_FAILED") != NULL,
                  "log: %s", cap.log);
    ktx_producer_destroy(producer);
    assert_no_secret(&cap);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_commits_a_transaction_over_sasl_ssl)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"sasl.password", PASSWORD, "transactional.id", "sec-txn", NULL};
    static struct capture cap;
    static char out[16 * 1024];
    ktx_producer_t *producer;
    ktx_error_t *err;

    memset(&cap, 0, sizeof(cap));
    producer = new_producer(c, &cap, props);
    err = ktx_init_transactions(producer, 15000);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    err = ktx_begin_transaction(producer);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    send_records(producer, "txn", 10, 0);
    err = ktx_commit_transaction(producer, 15000);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    ck_assert_int_eq(cap.delivered, 10);
    ktx_producer_destroy(producer);
    ck_assert_int_eq(read_back(c, "read_committed", out, sizeof(out)), 10);
    ck_assert_ptr_nonnull(strstr(out, "txn-00000-\n"));
    ck_assert_ptr_nonnull(strstr(out, "txn-00009-\n"));
    assert_no_secret(&cap);
    ktx_test_cluster_stop(c);
}
END_TEST

/* Every listener kind and mechanism a producer must work over. */
static const struct {
    const char *protocol;
    const char *mechanism; /* NULL: no SASL */
} matrix[] = {
    {"SSL", NULL},
    {"SASL_PLAINTEXT", "PLAIN"},
    {"SASL_PLAINTEXT", "SCRAM-SHA-256"},
    {"SASL_PLAINTEXT", "SCRAM-SHA-512"},
    {"SASL_SSL", "PLAIN"},
    {"SASL_SSL", "SCRAM-SHA-256"},
};

/*
 * Over each protocol and mechanism: an idempotent producer delivers records, then a
 * transactional producer commits one transaction and aborts another; a read_committed kcat
 * over the same listener reads the delivered and committed records and nothing aborted.
 */
START_TEST(test_producer_and_transactions_over_each_protocol_and_mechanism)
{
    const char *protocol = matrix[_i].protocol, *mechanism = matrix[_i].mechanism;
    bool tls = strstr(protocol, "SSL") != NULL;
    struct ktx_test_cluster *c = start_broker(protocol, tls ? "server" : NULL,
                                              mechanism ? "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" : NULL,
                                              false);
    /* new_producer() sets up SASL_SSL with SCRAM-SHA-512; override what this row needs. */
    const char *props[] = {"security.protocol", protocol,
                           "sasl.mechanism", mechanism,
                           "sasl.username", mechanism ? USER : NULL,
                           "sasl.password", mechanism ? PASSWORD : NULL,
                           "ssl.ca.location", tls ? path("certs/ca.pem") : NULL,
                           "ssl.certificate.location", tls ? path("certs/client.pem") : NULL,
                           "ssl.key.location", tls ? path("certs/client-enc.key") : NULL,
                           "ssl.key.password", tls ? KEY_PASSWORD : NULL,
                           NULL};
    const char *txn_props[2 * KTX__ARRAY_LEN(props) + 3];
    static struct capture cap;
    static char out[64 * 1024];
    ktx_producer_t *producer;
    ktx_error_t *err;
    size_t n = 0;

    memset(&cap, 0, sizeof(cap));
    producer = new_producer(c, &cap, props);
    send_records(producer, "idem", 20, 0);
    err = ktx_flush(producer, 15000);
    ck_assert_msg(err == NULL, "%s: %s", protocol, ktx_error_message(err));
    ck_assert_int_eq(cap.delivered, 20);
    ktx_producer_destroy(producer);

    for (; props[n] != NULL; n += 2) {
        txn_props[n] = props[n];
        txn_props[n + 1] = props[n + 1];
    }
    txn_props[n++] = "transactional.id";
    txn_props[n++] = "sec-matrix";
    txn_props[n] = NULL;
    producer = new_producer(c, &cap, txn_props);
    err = ktx_init_transactions(producer, 15000);
    ck_assert_msg(err == NULL, "%s: %s", protocol, ktx_error_message(err));
    ck_assert_ptr_null(ktx_begin_transaction(producer));
    send_records(producer, "committed", 5, 0);
    err = ktx_commit_transaction(producer, 15000);
    ck_assert_msg(err == NULL, "%s: %s", protocol, ktx_error_message(err));
    ck_assert_ptr_null(ktx_begin_transaction(producer));
    send_records(producer, "aborted", 5, 0);
    err = ktx_abort_transaction(producer, 15000);
    ck_assert_msg(err == NULL, "%s: %s", protocol, ktx_error_message(err));
    ktx_producer_destroy(producer);

    ck_assert_int_eq(read_back_as(c, protocol, mechanism ? mechanism : "", "read_committed",
                                  out, sizeof(out)),
                     25);
    ck_assert_ptr_nonnull(strstr(out, "idem-00019-\n"));
    ck_assert_ptr_nonnull(strstr(out, "committed-00004-\n"));
    ck_assert_ptr_null(strstr(out, "aborted-"));
    assert_no_secret(&cap);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_transactional_producer_makes_auth_failure_fatal)
{
    struct ktx_test_cluster *c =
        start_broker("SASL_SSL", "server", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", false);
    const char *props[] = {"sasl.password", WRONG_PASSWORD, "transactional.id", "sec-txn-bad",
                           NULL};
    static struct capture cap;
    ktx_producer_t *producer;
    ktx_record_t rec;
    ktx_error_t *err;
    int64_t t0, elapsed;

    memset(&cap, 0, sizeof(cap));
    producer = new_producer(c, &cap, props);
    /* The refused credentials make the producer fatal: ktx_init_transactions() finishes
     * promptly with that fatal _AUTH error instead of waiting for its timeout. */
    t0 = ktx_test_now_ms();
    err = ktx_init_transactions(producer, 30000);
    elapsed = ktx_test_now_ms() - t0;
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(ktx_error_code(err) == KTX_ERR_AUTH && ktx_error_is_fatal(err), "%s: %s",
                  ktx_error_name(err), ktx_error_message(err));
    ck_assert_msg(elapsed < 10000, "ktx_init_transactions took %lld ms", (long long)elapsed);
    ktx_error_destroy(err);
    /* The operation finished: calling it again (resuming) gives the same error at once. */
    t0 = ktx_test_now_ms();
    err = ktx_init_transactions(producer, 30000);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_AUTH);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 1000);
    ktx_error_destroy(err);
    err = ktx_begin_transaction(producer);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_AUTH);
    ktx_error_destroy(err);
    memset(&rec, 0, sizeof(rec));
    rec.topic = TOPIC;
    rec.partition = 0;
    rec.value = "x";
    rec.value_len = 1;
    err = ktx_send(producer, &rec);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(ktx_error_code(err) == KTX_ERR_AUTH && ktx_error_is_fatal(err), "%s: %s",
                  ktx_error_name(err), ktx_error_message(err));
    ktx_error_destroy(err);
    ck_assert_msg(strstr(cap.log, "SASL_AUTHENTICATION_FAILED: Authentication failed") != NULL &&
                      strstr(cap.log, "fatal error _AUTH") != NULL,
                  "log: %s", cap.log);
    ktx_producer_destroy(producer);
    assert_no_secret(&cap);
    ktx_test_cluster_stop(c);
}
END_TEST

/* ktx_producer_new() with TLS setting |name| = |value| (over the good client identity) fails
 * with _BAD_CONFIG; returns a copy of the error message (static buffer). */
static const char *producer_new_tls_error(const char *name, const char *value)
{
    static char msg[1024];
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    ktx_error_t *err;

    ck_assert_ptr_nonnull(conf);
    set(conf, "bootstrap.servers", "127.0.0.1:1");
    set(conf, "security.protocol", "SASL_SSL");
    set(conf, "ssl.ca.location", path("certs/ca.pem"));
    set(conf, "ssl.certificate.location", path("certs/client.pem"));
    set(conf, "ssl.key.location", path("certs/client-enc.key"));
    set(conf, "ssl.key.password", KEY_PASSWORD);
    set(conf, "sasl.mechanism", "SCRAM-SHA-512");
    set(conf, "sasl.username", USER);
    set(conf, "sasl.password", PASSWORD);
    set(conf, name, value);
    err = ktx_producer_new(&producer, conf);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(producer);
    ck_assert_msg(ktx_error_code(err) == KTX_ERR_BAD_CONFIG, "%s: %s", ktx_error_name(err),
                  ktx_error_message(err));
    snprintf(msg, sizeof(msg), "%s", ktx_error_message(err));
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
    ck_assert_ptr_null(strstr(msg, PASSWORD));
    ck_assert_ptr_null(strstr(msg, KEY_PASSWORD));
    return msg;
}

START_TEST(test_producer_new_names_the_unusable_tls_file_and_the_reason)
{
    const char *missing = path("certs/no-such-ca.pem");
    const char *msg = producer_new_tls_error("ssl.ca.location", missing);

    ck_assert_msg(strstr(msg, missing) != NULL, "message: %s", msg);
    ck_assert_msg(strstr(msg, "ssl.ca.location") != NULL, "message: %s", msg);
    /* A key that does not belong to the certificate: OpenSSL's reason is in the message. */
    msg = producer_new_tls_error("ssl.key.location", path("certs/server.key"));
    ck_assert_msg(strstr(msg, "ssl.key") != NULL || strstr(msg, "server.key") != NULL,
                  "message: %s", msg);
    ck_assert_msg(strstr(msg, "key values mismatch") != NULL ||
                      strstr(msg, "private key does not match") != NULL ||
                      strstr(msg, "mismatch") != NULL,
                  "message: %s", msg);
}
END_TEST

Suite *conn_security_suite(void);

Suite *conn_security_suite(void)
{
    Suite *s = suite_create("conn_security");
    TCase *tls = tcase_create("tls");
    TCase *sasl = tcase_create("sasl");
    TCase *producer = tcase_create("producer");

    tcase_add_unchecked_fixture(tls, suite_setup, suite_teardown);
    tcase_add_unchecked_fixture(sasl, suite_setup, suite_teardown);
    tcase_add_unchecked_fixture(producer, suite_setup, suite_teardown);
    tcase_set_timeout(tls, 60);
    tcase_set_timeout(sasl, 60);
    tcase_set_timeout(producer, 120);
    tcase_add_test(tls, test_conn_ssl_negotiates_versions_and_serves_metadata);
    tcase_add_test(tls, test_conn_mutual_tls_with_encrypted_client_key);
    tcase_add_test(tls, test_conn_mutual_tls_without_client_certificate_fails_authentication);
    tcase_add_test(tls, test_conn_reset_after_certificate_request_without_certificate_is_auth_error);
    tcase_add_test(tls, test_conn_untrusted_ca_fails_authentication);
    tcase_add_test(tls, test_conn_certificate_for_another_host_fails_authentication);
    tcase_add_test(tls, test_conn_expired_certificate_fails_authentication);
    tcase_add_loop_test(sasl, test_conn_sasl_plaintext_authenticates_each_mechanism, 0, 3);
    tcase_add_loop_test(sasl, test_conn_sasl_ssl_authenticates_over_tls, 0, 3);
    tcase_add_loop_test(sasl, test_conn_wrong_password_fails_with_broker_message, 0, 3);
    tcase_add_loop_test(sasl, test_conn_unknown_user_fails_authentication, 0, 3);
    tcase_add_test(sasl, test_conn_mechanism_not_enabled_lists_the_brokers_mechanisms);
    tcase_add_test(sasl, test_conn_auth_failure_does_not_reconnect_in_a_loop);
    tcase_add_test(producer, test_producer_delivers_over_sasl_ssl_and_records_read_back);
    tcase_add_test(producer, test_producer_wrong_password_logs_error_without_secrets);
    tcase_add_test(producer, test_producer_commits_a_transaction_over_sasl_ssl);
    tcase_add_loop_test(producer, test_producer_and_transactions_over_each_protocol_and_mechanism,
                        0, (int)KTX__ARRAY_LEN(matrix));
    tcase_add_test(producer, test_transactional_producer_makes_auth_failure_fatal);
    tcase_add_test(producer, test_producer_new_names_the_unusable_tls_file_and_the_reason);
    suite_add_tcase(s, tls);
    suite_add_tcase(s, sasl);
    suite_add_tcase(s, producer);
    return s;
}

KTX_CHECK_MAIN(conn_security_suite)
