/*
 * ktx-broker's listener security (tests/broker/btls.c, bsasl.c) checked with kcat, an
 * independent client (librdkafka with OpenSSL and SASL): SSL with the test CA, mutual TLS,
 * SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, SASL_SSL; records produced with
 * `kcat -P` are read back with `kcat -C -e`. Failures: a wrong password (kcat fails with an
 * authentication error, the broker logs the failure without the password), a wrong CA and a
 * missing client certificate (the handshake fails), and the raw protocol rules (a request
 * before authentication closes the connection; SaslHandshake lists the mechanisms).
 *
 * Certificates (tests/certs.sh) and the sasldb (saslpasswd2) are made once per run in a
 * temporary directory that teardown removes. Each case starts its own broker.
 */
#include "check_util.h"
#include "krb_util.h"
#include "cluster.h"
#include "proto_meta.h"
#include "proto_sasl.h"
#include "sasl.h"

#include <librdkafka/rdkafka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define USER "alice"
#define PASSWORD "Pw-4417-secret" /* must never appear in the broker's log */
#define KCAT_TIMEOUT "10"

static char dir[256];     /* certificates, sasldb, logs, kcat input and output */
static char sasldb[320];
static int log_seq;       /* one broker log per case */
static char log_path[320];

/* Returns $srcdir, or the source tree this file was compiled from. */
static const char *source_dir(char *buf, size_t size)
{
    const char *srcdir = getenv("srcdir");
    const char *slash = strrchr(__FILE__, '/');

    if (srcdir)
        return srcdir;
    if (!slash)
        return ".";
    snprintf(buf, size, "%.*s/..", (int)(slash - __FILE__), __FILE__);
    return buf;
}

static void setup(void)
{
    char cmd[1024], buf[512];

    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/ktx-brokersec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs.sh' '%s/certs'", source_dir(buf, sizeof(buf)), dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    snprintf(sasldb, sizeof(sasldb), "%s/sasldb2", dir);
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | saslpasswd2 -f '%s' -c -p %s", PASSWORD, sasldb, USER);
    ck_assert_msg(system(cmd) == 0, "saslpasswd2 failed (Debian package sasl2-bin)");
}

static void teardown(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- helpers ---- */

/* Starts a one-broker ktx-broker with auto-created topics, logging to a new log_path, with
 * the security options |protocol| and |opts| (a space-separated list, may be ""). */
static struct ktx_test_cluster *start_broker(const char *protocol, const char *opts)
{
    static char storage[1024];
    const char *args[32];
    size_t n = 0;
    struct ktx_test_cluster *c = NULL;
    char *save = NULL;

    /* The pid too: in CK_FORK mode every case runs in a fresh child with log_seq at 0. */
    snprintf(log_path, sizeof(log_path), "%s/broker-%d-%d.log", dir, (int)getpid(), ++log_seq);
    snprintf(storage, sizeof(storage), "%s", opts);
    args[n++] = "--auto-create";
    args[n++] = "1";
    args[n++] = "--log-file";
    args[n++] = log_path;
    args[n++] = "--security-protocol";
    args[n++] = protocol;
    for (char *tok = strtok_r(storage, " ", &save); tok && n < 31; tok = strtok_r(NULL, " ", &save))
        args[n++] = tok;
    args[n] = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    return c;
}

/* Broker options: TLS with the server certificate (|client_auth|: require client certs). */
static const char *tls_opts(bool client_auth)
{
    static char buf[1024];

    snprintf(buf, sizeof(buf), "--ssl-cert %s/certs/server.pem --ssl-key %s/certs/server.key "
             "--ssl-ca %s/certs/ca.pem --ssl-client-auth %s", dir, dir, dir,
             client_auth ? "required" : "none");
    return buf;
}

/* Broker options: SASL with every mechanism over the test sasldb, plus |extra|. */
static const char *sasl_opts(const char *extra)
{
    static char buf[1536];

    snprintf(buf, sizeof(buf), "--sasl-mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 --sasldb %s "
             "--sasl-service kafka %s", sasldb, extra);
    return buf;
}

/* Client properties for kcat: "-X security.protocol=..." and the rest. */
static const char *client_props(const char *protocol, const char *ca, bool client_cert,
                                const char *mech, const char *password)
{
    static char buf[1536];
    int n = snprintf(buf, sizeof(buf), "-X security.protocol=%s", protocol);

    if (ca)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " -X ssl.ca.location=%s/certs/%s.pem", dir, ca);
    if (client_cert)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " -X ssl.certificate.location=%s/certs/client.pem"
                      " -X ssl.key.location=%s/certs/client.key", dir, dir);
    if (mech)
        snprintf(buf + n, sizeof(buf) - (size_t)n, " -X sasl.mechanisms=%s -X sasl.username=%s"
                 " -X sasl.password=%s", mech, USER, password);
    return buf;
}

/* Reads the whole of |path| into |buf| (|cap| bytes, NUL terminated); "" when missing. */
static const char *slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;

    if (f) {
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/*
 * Runs `kcat |mode| -b BOOTSTRAP -t |topic| |props|` with |input| on stdin (NULL: none),
 * within KCAT_TIMEOUT seconds. Stores stdout in |out| and stderr in |err| (|cap| bytes each,
 * may be NULL) and returns kcat's exit status (124 on timeout).
 */
static int kcat(struct ktx_test_cluster *c, const char *mode, const char *topic, const char *props,
                const char *input, char *out, char *err, size_t cap)
{
    char cmd[4096], in_path[320], out_path[320], err_path[320], scratch[8192];
    FILE *f;
    int status;

    snprintf(in_path, sizeof(in_path), "%s/kcat.in", dir);
    snprintf(out_path, sizeof(out_path), "%s/kcat.out", dir);
    snprintf(err_path, sizeof(err_path), "%s/kcat.err", dir);
    ck_assert_ptr_nonnull(f = fopen(in_path, "w"));
    fputs(input ? input : "", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "timeout " KCAT_TIMEOUT " kcat %s -b %s -t %s %s <'%s' >'%s' 2>'%s'",
             mode, ktx_test_cluster_bootstrap(c), topic, props, in_path, out_path, err_path);
    status = system(cmd);
    slurp(out_path, out ? out : scratch, out ? cap : sizeof(scratch));
    slurp(err_path, err ? err : scratch, err ? cap : sizeof(scratch));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Produces three records to |topic| and reads them back, both with |props|. */
static void assert_roundtrip(struct ktx_test_cluster *c, const char *topic, const char *props)
{
    char out[4096], err[8192];

    ck_assert_msg(kcat(c, "-P", topic, props, "rec-1\nrec-2\nrec-3\n", out, err, sizeof(out)) == 0,
                  "kcat -P failed: %s", err);
    ck_assert_msg(kcat(c, "-C -e -o beginning", topic, props, NULL, out, err, sizeof(out)) == 0,
                  "kcat -C failed: %s", err);
    ck_assert_str_eq(out, "rec-1\nrec-2\nrec-3\n");
}

/* Reads the broker's log into |buf| (|cap| bytes) once it contains |needle|, waiting up
 * to 5 s for it (the broker may still be logging when kcat has given up). */
static const char *broker_log(const char *needle, char *buf, size_t cap)
{
    for (int i = 0; i < 100 && !strstr(slurp(log_path, buf, cap), needle); i++)
        usleep(50 * 1000);
    return buf;
}

/* Asserts that the broker logs |needle| within 5 s. */
static void assert_logged(const char *needle)
{
    char log[8192];

    ck_assert_msg(strstr(broker_log(needle, log, sizeof(log)), needle), "broker log: %s", log);
}

/* ---- TLS ---- */

START_TEST(test_ssl_listener_serves_kcat_trusting_test_ca)
{
    struct ktx_test_cluster *c = start_broker("SSL", tls_opts(false));

    assert_roundtrip(c, "tls-topic", client_props("ssl", "ca", false, NULL, NULL));
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_mutual_tls_accepts_client_certificate_and_refuses_none)
{
    struct ktx_test_cluster *c = start_broker("SSL", tls_opts(true));
    char err[8192];

    assert_roundtrip(c, "mtls-topic", client_props("ssl", "ca", true, NULL, NULL));
    ck_assert_int_ne(kcat(c, "-P", "mtls-topic", client_props("ssl", "ca", false, NULL, NULL), "x\n",
                          NULL, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "certificate required") || strstr(err, "SSL"), "kcat said: %s", err);
    assert_logged("TLS handshake failed: ");
    assert_logged("peer did not return a certificate");
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_wrong_ca_fails_tls_handshake)
{
    struct ktx_test_cluster *c = start_broker("SSL", tls_opts(false));
    char err[8192];

    ck_assert_int_ne(kcat(c, "-P", "tls-topic", client_props("ssl", "wrongca", false, NULL, NULL),
                          "x\n", NULL, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "certificate verify failed"), "kcat said: %s", err);
    assert_logged("TLS handshake failed: ");
    assert_logged("alert unknown ca");
    ktx_test_cluster_stop(c);
}
END_TEST

/* ---- SASL ---- */

START_TEST(test_sasl_plaintext_plain_roundtrips_records)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));

    assert_roundtrip(c, "plain-topic", client_props("sasl_plaintext", NULL, false, "PLAIN", PASSWORD));
    assert_logged("SASL authenticated: mechanism PLAIN, user 'alice'");
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_sasl_plaintext_scram_sha_256_roundtrips_records)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));

    assert_roundtrip(c, "s256-topic",
                     client_props("sasl_plaintext", NULL, false, "SCRAM-SHA-256", PASSWORD));
    assert_logged("SASL authenticated: mechanism SCRAM-SHA-256, user 'alice'");
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_sasl_plaintext_scram_sha_512_roundtrips_records)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));

    assert_roundtrip(c, "s512-topic",
                     client_props("sasl_plaintext", NULL, false, "SCRAM-SHA-512", PASSWORD));
    assert_logged("SASL authenticated: mechanism SCRAM-SHA-512, user 'alice'");
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_sasl_ssl_with_client_certificate_roundtrips_records)
{
    char opts[2048];
    struct ktx_test_cluster *c;

    snprintf(opts, sizeof(opts), "%s", sasl_opts(tls_opts(true)));
    c = start_broker("SASL_SSL", opts);
    assert_roundtrip(c, "sasl-ssl-topic",
                     client_props("sasl_ssl", "ca", true, "SCRAM-SHA-512", PASSWORD));
    ktx_test_cluster_stop(c);
}
END_TEST

/* A wrong password for |mech|: kcat exits non-zero with an authentication error; the broker
 * logs the failure with the user and never the password. */
static void assert_wrong_password_refused(const char *mech)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));
    char err[8192], log[8192];

    ck_assert_int_eq(kcat(c, "-P", "auth-topic",
                          client_props("sasl_plaintext", NULL, false, mech, "Wrong-9931-guess"), "x\n",
                          NULL, err, sizeof(err)), 1);
    ck_assert_msg(strstr(err, "Authentication failure"), "kcat said: %s", err);
    ck_assert_msg(strstr(err, "Authentication failed: invalid credentials"), "kcat said: %s", err);
    broker_log("SASL authentication failed", log, sizeof(log));
    ck_assert_msg(strstr(log, "SASL authentication failed: mechanism ") && strstr(log, mech) &&
                  strstr(log, "user 'alice'"), "broker log: %s", log);
    ck_assert_ptr_null(strstr(log, "Wrong-9931-guess"));
    ck_assert_ptr_null(strstr(log, PASSWORD));
    ck_assert_ptr_null(strstr(log, "SASL authenticated"));
    ktx_test_cluster_stop(c);
}

START_TEST(test_wrong_password_plain_fails_with_authentication_error)
{
    assert_wrong_password_refused("PLAIN");
}
END_TEST

START_TEST(test_wrong_password_scram_sha_256_fails_with_authentication_error)
{
    assert_wrong_password_refused("SCRAM-SHA-256");
}
END_TEST

/* ---- a librdkafka transaction over SASL_SSL ---- */

/* Fails the test with |what| and the message of |error| (then freed) when it is not NULL. */
static void txn_ok(rd_kafka_error_t *error, const char *what)
{
    if (error) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s: %s", what, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        ck_abort_msg("%s", msg);
    }
}

/* Sets the librdkafka properties of a SASL_SSL SCRAM-SHA-512 client with a certificate. */
static void sasl_ssl_conf(rd_kafka_conf_t *conf, struct ktx_test_cluster *c)
{
    char ca[400], cert[400], key[400], err[512];
    const char *props[][2] = {
        {"bootstrap.servers", ktx_test_cluster_bootstrap(c)}, {"security.protocol", "sasl_ssl"},
        {"ssl.ca.location", ca}, {"ssl.certificate.location", cert}, {"ssl.key.location", key},
        {"sasl.mechanisms", "SCRAM-SHA-512"}, {"sasl.username", USER}, {"sasl.password", PASSWORD},
        {"transactional.id", "sec-txn"}, {"log_level", "0"},
    };

    snprintf(ca, sizeof(ca), "%s/certs/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/certs/client.pem", dir);
    snprintf(key, sizeof(key), "%s/certs/client.key", dir);
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        ck_assert_msg(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)) == RD_KAFKA_CONF_OK,
                      "%s: %s", props[i][0], err);
}

/* Produces |value| to partition 0 of |topic|. */
static void produce(rd_kafka_t *rk, const char *topic, const char *value)
{
    ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

START_TEST(test_librdkafka_transaction_over_sasl_ssl_is_read_committed_by_kcat)
{
    char opts[2048], out[4096], err[8192], errstr[512];
    struct ktx_test_cluster *c;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    snprintf(opts, sizeof(opts), "%s", sasl_opts(tls_opts(true)));
    c = start_broker("SASL_SSL", opts);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic sec-txn-topic 1 1"), 0);
    sasl_ssl_conf(conf, c);
    ck_assert_ptr_nonnull(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
    txn_ok(rd_kafka_init_transactions(rk, 10000), "init");
    txn_ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "sec-txn-topic", "committed-1");
    produce(rk, "sec-txn-topic", "committed-2");
    txn_ok(rd_kafka_commit_transaction(rk, 10000), "commit");
    txn_ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "sec-txn-topic", "aborted-1");
    ck_assert_int_eq(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    txn_ok(rd_kafka_abort_transaction(rk, 10000), "abort");
    rd_kafka_destroy(rk);
    ck_assert_msg(kcat(c, "-C -e -o beginning -X isolation.level=read_committed", "sec-txn-topic",
                       client_props("sasl_ssl", "ca", true, "SCRAM-SHA-512", PASSWORD), NULL, out,
                       err, sizeof(out)) == 0, "kcat -C failed: %s", err);
    ck_assert_str_eq(out, "committed-1\ncommitted-2\n");
    ktx_test_cluster_stop(c);
}
END_TEST

/* ---- the protocol rules, on a raw socket ---- */

/* Encodes a Metadata v4 request for all topics into |w|. */
static void metadata_request(struct ktx__writer *w)
{
    struct ktx__req_header hdr = {KTX__API_METADATA, 4, 7, ktx__str_c("raw")};
    struct ktx__metadata_req req;

    memset(&req, 0, sizeof(req));
    req.topics_count = -1;
    ktx__proto_req_header_encode(w, &hdr);
    ck_assert_int_eq(ktx__proto_metadata_req_encode(w, 4, &req), 0);
}

START_TEST(test_request_before_authentication_closes_connection)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));
    struct ktx__writer w;
    uint8_t *resp = NULL;
    size_t len = 0;
    int fd = ktx_test_cluster_connect(c, 1, 2000);

    ck_assert_int_ge(fd, 0);
    ktx__w_init(&w, 256, 0);
    metadata_request(&w);
    ck_assert_int_eq(ktx_test_rpc(fd, w.p, w.len, &resp, &len, 3000), KTX_ERR_TRANSPORT);
    ck_assert_ptr_null(resp);
    ktx__w_free(&w);
    close(fd);
    ktx_test_cluster_stop(c);
}
END_TEST

/* Sends SaslHandshake v1 for |mech|; returns the answer's error code and stores its
 * mechanisms, comma-separated, in |mechs| (|cap| bytes). */
static int16_t sasl_handshake(int fd, const char *mech, char *mechs, size_t cap)
{
    struct ktx__sasl_handshake_resp out;
    struct ktx__arena arena;
    size_t used = 0;
    struct ktx__req_header hdr = {KTX__API_SASL_HANDSHAKE, 1, 9, ktx__str_c("raw")};
    struct ktx__sasl_handshake_req req = {ktx__str_c(mech)};
    struct ktx__writer w;
    struct ktx__reader r;
    uint8_t *resp = NULL;
    size_t len = 0;
    int32_t corr = 0;

    ktx__w_init(&w, 256, 0);
    ktx__proto_req_header_encode(&w, &hdr);
    ck_assert_int_eq(ktx__proto_sasl_handshake_req_encode(&w, 1, &req), 0);
    ck_assert_int_eq(ktx_test_rpc(fd, w.p, w.len, &resp, &len, 3000), 0);
    ktx__r_init(&r, resp, len);
    ck_assert_int_eq(ktx__proto_resp_header_decode(&r, KTX__API_SASL_HANDSHAKE, 1, &corr), 0);
    ck_assert_int_eq(corr, 9);
    ktx__arena_init(&arena, 1 << 20);
    ck_assert_int_eq(ktx__proto_sasl_handshake_resp_decode(resp + r.pos, len - r.pos, 1, &out, &arena), 0);
    mechs[0] = '\0';
    for (int32_t i = 0; i < out.mechanisms_count; i++)
        used += (size_t)snprintf(mechs + used, cap - used, "%s%.*s", i ? "," : "",
                                 (int)out.mechanisms[i].len, out.mechanisms[i].ptr);
    ktx__arena_free(&arena);
    free(resp);
    ktx__w_free(&w);
    return out.error_code;
}

START_TEST(test_sasl_handshake_refuses_gssapi_and_lists_enabled_mechanisms)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", sasl_opts(""));
    char mechs[256];
    int fd = ktx_test_cluster_connect(c, 1, 2000);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(sasl_handshake(fd, "GSSAPI", mechs, sizeof(mechs)),
                     KTX_ERR_UNSUPPORTED_SASL_MECHANISM);
    ck_assert_str_eq(mechs, "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512");
    ck_assert_int_eq(sasl_handshake(fd, "SCRAM-SHA-256", mechs, sizeof(mechs)), 0);
    /* A second choice on the same connection is refused. */
    ck_assert_int_eq(sasl_handshake(fd, "PLAIN", mechs, sizeof(mechs)), KTX_ERR_ILLEGAL_SASL_STATE);
    close(fd);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_plaintext_listener_answers_sasl_handshake_unsupported)
{
    struct ktx_test_cluster *c = start_broker("PLAINTEXT", "");
    char mechs[256];
    int fd = ktx_test_cluster_connect(c, 1, 2000);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(sasl_handshake(fd, "PLAIN", mechs, sizeof(mechs)),
                     KTX_ERR_UNSUPPORTED_SASL_MECHANISM);
    ck_assert_str_eq(mechs, "");
    close(fd);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_broker_refuses_to_start_with_unusable_security_settings)
{
    const char *bad_key[] = {"--security-protocol", "SSL", "--ssl-cert", NULL, "--ssl-key", NULL, NULL};
    const char *no_db[] = {"--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanisms", "PLAIN",
                           "--sasldb", "/nonexistent/sasldb", NULL};
    const char *oauth[] = {"--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanisms",
                           "OAUTHBEARER", "--sasldb", sasldb, NULL};
    char cert[320], key[320];
    struct ktx_test_cluster *c = NULL;

    snprintf(cert, sizeof(cert), "%s/certs/server.pem", dir);
    snprintf(key, sizeof(key), "%s/certs/client.key", dir); /* not the certificate's key */
    bad_key[3] = cert;
    bad_key[5] = key;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, bad_key), -1);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, no_db), -1);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, oauth), -1);
}
END_TEST

/* ---- GSSAPI with a MIT Kerberos KDC on loopback ---- */

/* Sends SaslAuthenticate v2 with |len| bytes of |token|; returns the answer's error code and
 * copies its auth_bytes to |out| (|*out_len|, at most |cap| bytes). */
static int16_t sasl_authenticate(int fd, const uint8_t *token, size_t len, uint8_t *out,
                                 size_t cap, size_t *out_len)
{
    struct ktx__req_header hdr = {KTX__API_SASL_AUTHENTICATE, 2, 11, ktx__str_c("raw")};
    struct ktx__sasl_authenticate_req req = {{token ? token : (const uint8_t *)"", (int32_t)len}};
    struct ktx__sasl_authenticate_resp resp;
    struct ktx__arena arena;
    struct ktx__writer w;
    struct ktx__reader r;
    uint8_t *frame = NULL;
    size_t flen = 0;
    int32_t corr = 0;

    ktx__w_init(&w, 1024, 0);
    ktx__proto_req_header_encode(&w, &hdr);
    ck_assert_int_eq(ktx__proto_sasl_authenticate_req_encode(&w, 2, &req), 0);
    ck_assert_int_eq(ktx_test_rpc(fd, w.p, w.len, &frame, &flen, 5000), 0);
    ktx__r_init(&r, frame, flen);
    ck_assert_int_eq(ktx__proto_resp_header_decode(&r, KTX__API_SASL_AUTHENTICATE, 2, &corr), 0);
    ktx__arena_init(&arena, 1 << 20);
    ck_assert_int_eq(ktx__proto_sasl_authenticate_resp_decode(frame + r.pos, flen - r.pos, 2, &resp, &arena), 0);
    ck_assert_uint_le((size_t)resp.auth_bytes.len, cap);
    memcpy(out, resp.auth_bytes.ptr, (size_t)resp.auth_bytes.len);
    *out_len = (size_t)resp.auth_bytes.len;
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(frame);
    return resp.error_code;
}

START_TEST(test_sasl_gssapi_authenticates_kafkatx_client_with_loopback_kdc)
{
    struct ktx__conf_values cv;
    struct ktx__sasl *sasl = NULL;
    struct ktx_test_cluster *c;
    struct ktx__writer w;
    char krb[320], keytab[400], path[400], mechs[256], err[512] = "", opts[512];
    uint8_t answer[4096], *frame = NULL;
    const uint8_t *token = NULL;
    size_t answer_len = 0, token_len = 0, flen = 0;
    int rc = KTX__SASL_CONTINUE, fd, steps = 0;
    /* kafka/127.0.0.1: clients ask for kafka@<the host they connect to>. */
    const char *const principals[] = {"kafka/127.0.0.1", "client", NULL};
    const char *missing = ktx_test_kerberos_missing();
    struct ktx_test_kdc kdc = {.pid = -1};

    ck_assert_msg(missing == NULL, "%s", missing); /* tools/deps.sh installs them */
    snprintf(krb, sizeof(krb), "%s/krb-%d", dir, (int)getpid());
    ck_assert_int_eq(ktx_test_kdc_start(&kdc, krb, principals), 0);
    snprintf(path, sizeof(path), "%s/kafka.keytab", krb);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "kafka/127.0.0.1", path), 0);
    setenv("KRB5_KTNAME", path, 1); /* the broker child's acceptor keytab */
    snprintf(path, sizeof(path), "FILE:%s/ccache", krb);
    setenv("KRB5CCNAME", path, 1); /* never the user's own ticket cache */
    snprintf(keytab, sizeof(keytab), "%s/client.keytab", krb);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "client", keytab), 0);
    snprintf(opts, sizeof(opts), "--sasl-mechanisms GSSAPI,PLAIN --sasldb %s", sasldb);
    c = start_broker("SASL_PLAINTEXT", opts);
    ck_assert_int_ge(fd = ktx_test_cluster_connect(c, 1, 2000), 0);
    ck_assert_int_eq(sasl_handshake(fd, "GSSAPI", mechs, sizeof(mechs)), 0);
    ck_assert_str_eq(mechs, "GSSAPI,PLAIN");
    memset(&cv, 0, sizeof(cv));
    cv.security_protocol = KTX__SECURITY_SASL_PLAINTEXT;
    cv.sasl_kerberos_keytab = keytab;
    cv.sasl_kerberos_principal = "client@KTX.TEST";
    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_GSSAPI, &cv, "127.0.0.1", err, sizeof(err)), 0);
    while (rc == KTX__SASL_CONTINUE && steps++ < 10) {
        rc = ktx__sasl_step(sasl, steps == 1 ? NULL : answer, steps == 1 ? 0 : answer_len, &token,
                            &token_len, err, sizeof(err));
        if (rc == KTX__SASL_CONTINUE)
            ck_assert_int_eq(sasl_authenticate(fd, token, token_len, answer, sizeof(answer), &answer_len), 0);
    }
    ck_assert_msg(rc == KTX__SASL_DONE, "client step %d: %d %s", steps, rc, err);
    assert_logged("SASL authenticated: mechanism GSSAPI, user 'client");
    ktx__w_init(&w, 256, 0); /* authenticated: Metadata is answered now */
    metadata_request(&w);
    ck_assert_int_eq(ktx_test_rpc(fd, w.p, w.len, &frame, &flen, 3000), 0);
    free(frame);
    ktx__w_free(&w);
    ktx__sasl_free(sasl);
    close(fd);
    ktx_test_cluster_stop(c);
    ktx_test_kdc_stop(&kdc);
}
END_TEST

static Suite *broker_security_suite(void)
{
    Suite *s = suite_create("broker_security");
    TCase *tc = tcase_create("tls");

    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ssl_listener_serves_kcat_trusting_test_ca);
    tcase_add_test(tc, test_mutual_tls_accepts_client_certificate_and_refuses_none);
    tcase_add_test(tc, test_wrong_ca_fails_tls_handshake);
    suite_add_tcase(s, tc);
    tc = tcase_create("sasl");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sasl_plaintext_plain_roundtrips_records);
    tcase_add_test(tc, test_sasl_plaintext_scram_sha_256_roundtrips_records);
    tcase_add_test(tc, test_sasl_plaintext_scram_sha_512_roundtrips_records);
    tcase_add_test(tc, test_sasl_ssl_with_client_certificate_roundtrips_records);
    tcase_add_test(tc, test_wrong_password_plain_fails_with_authentication_error);
    tcase_add_test(tc, test_wrong_password_scram_sha_256_fails_with_authentication_error);
    tcase_add_test(tc, test_librdkafka_transaction_over_sasl_ssl_is_read_committed_by_kcat);
    suite_add_tcase(s, tc);
    tc = tcase_create("protocol");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_request_before_authentication_closes_connection);
    tcase_add_test(tc, test_sasl_handshake_refuses_gssapi_and_lists_enabled_mechanisms);
    tcase_add_test(tc, test_plaintext_listener_answers_sasl_handshake_unsupported);
    tcase_add_test(tc, test_broker_refuses_to_start_with_unusable_security_settings);
    tcase_add_test(tc, test_sasl_gssapi_authenticates_kafkatx_client_with_loopback_kdc);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_security_suite)
