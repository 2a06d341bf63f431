/*
 * GSSAPI (Kerberos) end to end: a transactional producer (ktx_producer_new, ktx_send,
 * transactions) against ktx-broker with `--sasl-mechanisms GSSAPI` (Cyrus's gssapi server
 * plugin, the service key in $KRB5_KTNAME) and a MIT KDC on loopback (tests/krb_util.h).
 *
 * What a user sees: the records of a committed transaction are read back by librdkafka's
 * read_committed consumer and those of an aborted one are not; the broker logged the
 * principal the producer was configured with (Cyrus names it without the realm when it is
 * the broker's own: 'client' for client@KTX.TEST); a principal that the keytab (or the ticket
 * cache) does not hold fails promptly with a fatal _AUTH error that names it, at the slow
 * reconnect pace. librdkafka cannot speak GSSAPI to ktx-broker here (tests/broker/README.md),
 * so the records are read after restarting the broker on its data directory with a
 * PLAINTEXT listener.
 *
 * These cases fail (they never skip) when krb5kdc or Cyrus's GSSAPI plugin is missing:
 * tools/deps.sh installs them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "integ_util.h"
#include "kafkatx.h"
#include "krb_util.h"
#include "verify.h"

#define TOPIC "gss-topic"
#define PARTITIONS 2
#define T_MS 30000

static char dir[256];                               /* this test's files */
static struct ktx_test_kdc kdc = {.pid = -1};
static char broker_log[320], client_keytab[320], ccache[330];

/*
 * Per test (in the test's process, so that the KDC dies with it): the realm with the broker's
 * service principal kafka/127.0.0.1 (ktx-broker accepts as <service>/127.0.0.1) and the users
 * client and other; kafka.keytab for the broker (exported as KRB5_KTNAME, which ktx-broker
 * inherits), client.keytab with client's key only, a sasldb (ktx-broker requires one) and an
 * empty default ticket cache.
 */
static void setup(void)
{
    static const char *const principals[] = {"kafka/127.0.0.1", "client", "other", NULL};
    const char *missing = ktx_test_kerberos_missing();
    char path[400], cmd[600];

    ck_assert_msg(missing == NULL, "%s", missing);
    snprintf(dir, sizeof(dir), "/tmp/ktx-gssapi-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/krb", dir);
    ck_assert_int_eq(ktx_test_kdc_start(&kdc, path, principals), 0);
    snprintf(path, sizeof(path), "%s/krb/kafka.keytab", dir);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "kafka/127.0.0.1", path), 0);
    setenv("KRB5_KTNAME", path, 1);
    snprintf(client_keytab, sizeof(client_keytab), "%s/krb/client.keytab", dir);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "client", client_keytab), 0);
    snprintf(ccache, sizeof(ccache), "FILE:%s/ccache", dir);
    setenv("KRB5CCNAME", ccache, 1);
    unsetenv("KRB5_CLIENT_KTNAME");
    snprintf(cmd, sizeof(cmd), "printf 'unused-pw' | saslpasswd2 -f '%s/sasldb' -c -p nobody",
             dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    snprintf(broker_log, sizeof(broker_log), "%s/broker.log", dir);
    snprintf(path, sizeof(path), "%s/data", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void teardown(void)
{
    char cmd[300];

    ktx_test_kdc_stop(&kdc);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)system(cmd);
}

/* Starts one ktx-broker on the data directory with |protocol| (GSSAPI for SASL_PLAINTEXT)
 * and creates TOPIC unless |create| is false. */
static struct ktx_test_cluster *start_broker(const char *protocol, bool create)
{
    char data[300], sasldb[300];
    const char *args[] = {"--data-dir", data, "--security-protocol", protocol,
                          "--log-file", broker_log, "--sasl-mechanisms", "GSSAPI",
                          "--sasldb", sasldb, NULL};
    struct ktx_test_cluster *c = NULL;

    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(sasldb, sizeof(sasldb), "%s/sasldb", dir);
    if (strcmp(protocol, "SASL_PLAINTEXT") != 0)
        args[6] = NULL; /* no SASL options */
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    if (create)
        ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic %s %d 1", TOPIC, PARTITIONS), 0);
    return c;
}

/* Returns the broker's log (static buffer). */
static const char *read_broker_log(void)
{
    static char text[64 * 1024];
    FILE *f = fopen(broker_log, "r");
    size_t n = 0;

    text[0] = '\0';
    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    return text;
}

/* Every line the producer logged. */
struct capture {
    char log[32 * 1024];
    size_t len;
};

static void on_log(int level, const char *facility, const char *message, void *opaque)
{
    struct capture *cap = opaque;
    int n = snprintf(cap->log + cap->len, sizeof(cap->log) - cap->len, "%d %s %s\n", level,
                     facility, message);

    if (n > 0)
        cap->len = KTX__MIN(cap->len + (size_t)n, sizeof(cap->log) - 1);
}

/* Number of occurrences of |needle| in |text|. */
static int count(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A transactional GSSAPI producer as |principal| with |keytab| (NULL: the ticket cache). */
static ktx_producer_t *gss_producer(struct ktx_test_cluster *c, const char *principal,
                                    const char *keytab, const char *txn_id, struct capture *cap)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    const char *props[] = {"bootstrap.servers", ktx_test_cluster_bootstrap(c),
                           "security.protocol", "SASL_PLAINTEXT", "sasl.mechanism", "GSSAPI",
                           "sasl.kerberos.service.name", "kafka", "sasl.kerberos.principal",
                           principal, "transactional.id", txn_id, "reconnect.backoff.ms", "10",
                           "reconnect.backoff.max.ms", "1000", "sasl.kerberos.keytab", keytab,
                           NULL};
    ktx_error_t *err;

    ck_assert_ptr_nonnull(conf);
    for (size_t i = 0; props[i] != NULL && props[i + 1] != NULL; i += 2)
        integ_ok(ktx_conf_set(conf, props[i], props[i + 1]), props[i]);
    ktx_conf_set_log_cb(conf, on_log, cap);
    err = ktx_producer_new(&producer, conf);
    ck_assert_msg(err == NULL, "%s", ktx_error_message(err));
    return producer;
}

/*
 * Asserts that |producer| (configured as |principal|) cannot initialise transactions: a
 * prompt, fatal _AUTH error whose message names the principal and |hint|; the failure logged
 * (facility "security") likewise; and, over the next 2.5 s, at most one failed login per
 * reconnect.backoff.max.ms (1 s), not a reconnect storm.
 */
static void assert_login_refused(ktx_producer_t *producer, struct capture *cap,
                                 const char *principal, const char *hint)
{
    int64_t t0 = ktx_test_now_ms(), end;
    ktx_error_t *err = ktx_init_transactions(producer, T_MS);
    int64_t elapsed = ktx_test_now_ms() - t0;

    ck_assert_ptr_nonnull(err);
    ck_assert_msg(ktx_error_code(err) == KTX_ERR_AUTH && ktx_error_is_fatal(err), "%s: %s",
                  ktx_error_name(err), ktx_error_message(err));
    ck_assert_msg(strstr(ktx_error_message(err), principal) != NULL &&
                      strstr(ktx_error_message(err), hint) != NULL,
                  "message: %s", ktx_error_message(err));
    ck_assert_msg(elapsed < integ_ms(10000), "ktx_init_transactions took %lld ms",
                  (long long)elapsed);
    ktx_error_destroy(err);
    end = ktx_test_now_ms() + 2500;
    while (ktx_test_now_ms() < end)
        ktx_poll(producer, 50);
    ck_assert_msg(strstr(cap->log, " security SASL GSSAPI for 127.0.0.1: ") != NULL &&
                      strstr(cap->log, principal) != NULL && strstr(cap->log, hint) != NULL &&
                      strstr(cap->log, "(_AUTH)") != NULL,
                  "log: %s", cap->log);
    ck_assert_msg(count(cap->log, " security SASL GSSAPI for") <= 5, "log: %s", cap->log);
}

START_TEST(test_gssapi_producer_commits_transaction_as_keytab_principal)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", true);
    const char *props[] = {"security.protocol", "SASL_PLAINTEXT", "sasl.mechanism", "GSSAPI",
                           "sasl.kerberos.principal", "client@KTX.TEST",
                           "sasl.kerberos.keytab", client_keytab, "transactional.id",
                           "gss-txn", NULL};
    struct ktx_verify_topic read;
    struct integ_run run;
    ktx_producer_t *producer;
    char why[512];

    integ_run_init(&run, TOPIC, PARTITIONS);
    integ_gen(&run, 300, 7, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_ok(ktx_init_transactions(producer, T_MS), "init_transactions");
    integ_ok(ktx_begin_transaction(producer), "begin");
    integ_send(producer, &run, 0, 200);
    integ_ok(ktx_commit_transaction(producer, T_MS), "commit");
    integ_ok(ktx_begin_transaction(producer), "begin");
    integ_send(producer, &run, 200, 300);
    integ_ok(ktx_abort_transaction(producer, T_MS), "abort");
    ck_assert(integ_wait_reports(producer, &run, 300, T_MS));
    integ_ok(ktx_close(producer, T_MS), "close");
    ktx_producer_destroy(producer);
    /* The broker authenticated exactly the configured principal, from the keytab; the
     * process environment and the user's ticket cache were left alone. */
    ck_assert_msg(strstr(read_broker_log(),
                         "SASL authenticated: mechanism GSSAPI, user 'client'\n") != NULL,
                  "broker log: %s", read_broker_log());
    ck_assert_ptr_null(strstr(read_broker_log(), "SASL authentication failed"));
    ck_assert_ptr_null(getenv("KRB5_CLIENT_KTNAME"));
    ck_assert_int_ne(access(ccache + strlen("FILE:"), F_OK), 0);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);

    c = start_broker("PLAINTEXT", false);
    memset(&read, 0, sizeof(read));
    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), TOPIC, KTX_VERIFY_READ_COMMITTED,
                                  integ_ms(20000), &read, why, sizeof(why)) == 0,
                  "%s", why);
    ck_assert_uint_eq(ktx_verify_total(&read), 200); /* the aborted 100 are not read */
    integ_run_truncate(&run, 200);
    ck_assert_msg(integ_check(&run, &read, INTEG_ALL_DELIVERED, why, sizeof(why)), "%s", why);
    ktx_verify_topic_free(&read);
    integ_run_free(&run);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_gssapi_principal_not_in_keytab_fails_with_auth_error_naming_it)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", true);
    static struct capture cap;
    ktx_producer_t *producer;

    /* "other" is a principal of the KDC, but client.keytab holds only client's key. */
    producer = gss_producer(c, "other@KTX.TEST", client_keytab, "gss-txn-other", &cap);
    assert_login_refused(producer, &cap, "other@KTX.TEST", client_keytab);
    ktx_producer_destroy(producer);
    /* Nothing was sent as anybody else. */
    ck_assert_ptr_null(strstr(read_broker_log(), "SASL authenticated"));
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_gssapi_principal_other_than_ticket_cache_holds_fails_naming_it)
{
    struct ktx_test_cluster *c = start_broker("SASL_PLAINTEXT", true);
    static struct capture cap;
    ktx_producer_t *producer;
    ktx_record_t rec;
    int logins;

    /* The default ticket cache holds client: a producer configured as client uses it. */
    ck_assert_int_eq(ktx_test_kdc_kinit(&kdc, "client", client_keytab, ccache), 0);
    producer = gss_producer(c, "client@KTX.TEST", NULL, "gss-txn-cc", &cap);
    integ_ok(ktx_init_transactions(producer, T_MS), "init_transactions from the ticket cache");
    integ_ok(ktx_begin_transaction(producer), "begin");
    memset(&rec, 0, sizeof(rec));
    rec.topic = TOPIC;
    rec.partition = 0;
    rec.value = "from-the-ticket-cache";
    rec.value_len = strlen(rec.value);
    integ_ok(ktx_send(producer, &rec), "send");
    integ_ok(ktx_commit_transaction(producer, T_MS), "commit");
    ktx_producer_destroy(producer);
    ck_assert_msg(strstr(read_broker_log(),
                         "SASL authenticated: mechanism GSSAPI, user 'client'\n") != NULL,
                  "broker log: %s", read_broker_log());
    /* One configured as other does not silently authenticate as client. */
    logins = count(read_broker_log(), "SASL authenticated");
    memset(&cap, 0, sizeof(cap));
    producer = gss_producer(c, "other@KTX.TEST", NULL, "gss-txn-cc-other", &cap);
    assert_login_refused(producer, &cap, "other@KTX.TEST", "kinit");
    ktx_producer_destroy(producer);
    ck_assert_int_eq(count(read_broker_log(), "SASL authenticated"), logins);
    ktx_test_cluster_stop(c);
}
END_TEST

static Suite *gssapi_suite(void)
{
    Suite *s = suite_create("gssapi");
    TCase *tc = tcase_create("producer");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gssapi_producer_commits_transaction_as_keytab_principal);
    tcase_add_test(tc, test_gssapi_principal_not_in_keytab_fails_with_auth_error_naming_it);
    tcase_add_test(tc, test_gssapi_principal_other_than_ticket_cache_holds_fails_naming_it);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(gssapi_suite)
