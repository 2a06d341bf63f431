/*
 * Transaction manager integration suite against librdkafka's mock cluster
 * (tests/cluster/ktx-mock: old protocol versions, fault injection with `err APIKEY COUNT
 * CODE`). Each test injects one error of the classification table into the request it
 * belongs to and asserts the class the public call returns, whether the producer is usable
 * after an abort, and what librdkafka's read_committed consumer reads (tests/verify.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "cluster.h"
#include "integ_util.h"
#include "kafkatx.h"
#include "verify.h"

#define T_MS 10000
#define READ_MS 20000

/* A transactional producer of |run| with transactional.id |tid|. */
static ktx_producer_t *txn_producer(struct integ_run *run, const char *bs, const char *tid)
{
    const char *props[] = {"transactional.id", tid, "transaction.timeout.ms", "10000", NULL};

    return integ_producer(run, bs, props);
}

/* Reads |topic| read_committed and returns the number of records. */
static size_t committed_count(const char *bs, const char *topic)
{
    struct ktx_verify_topic t;
    char why[512] = "";
    size_t n;

    ck_assert_msg(ktx_verify_read(bs, topic, KTX_VERIFY_READ_COMMITTED, READ_MS, &t, why,
                                  sizeof(why)) == 0, "%s", why);
    n = ktx_verify_total(&t);
    ktx_verify_topic_free(&t);
    return n;
}

/* The records of |run| reported delivered. The mock writes no abort markers that its
 * consumer honours (weak semantics): what it reads is what was delivered, aborted or not;
 * the reference broker's suite checks read_committed filtering. */
static size_t delivered(const struct integ_run *run)
{
    size_t n = 0;

    for (size_t i = 0; i < run->n; i++)
        n += run->recs[i].reports == 1 && run->recs[i].err == 0;
    return n;
}

/* Asserts |err| has |code| and class |cls| ('r', 'a', 'f', 'n'); frees it. */
static void expect_err(ktx_error_t *err, int code, char cls)
{
    ck_assert_msg(err != NULL, "expected %s, got success", ktx_err_name(code));
    ck_assert_msg(ktx_error_code(err) == code, "expected %s, got %s: %s", ktx_err_name(code),
                  ktx_error_name(err), ktx_error_message(err));
    ck_assert_int_eq(ktx_error_is_retriable(err), cls == 'r');
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), cls == 'a');
    ck_assert_int_eq(ktx_error_is_fatal(err), cls == 'f');
    ktx_error_destroy(err);
}

/* One transaction of records [from, from + n) of |run|; returns the commit's error. */
static ktx_error_t *one_txn(ktx_producer_t *p, struct integ_run *run, size_t from, size_t n)
{
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, run, from, from + n);
    return ktx_commit_transaction(p, T_MS);
}

START_TEST(test_mock_commit_and_abort_read_committed)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_MOCK, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 30, 21, 30, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "m-basic");
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(one_txn(p, &run, 0, 10), "commit");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 10, 20);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    integ_ok(one_txn(p, &run, 20, 10), "commit after abort");
    ck_assert_uint_eq(delivered(&run), 30);
    ck_assert_uint_eq(committed_count(bs, "t"), 30);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/*
 * Like one_txn(), for a transaction that an injected error may end early: the answer that
 * makes it abortable or fatal (an AddPartitionsToTxn goes out with the first record) can
 * arrive while the records are still being sent, and then ktx_send() already returns that
 * error. Returns the first failing call's error (the records after it are not sent), or
 * the commit's.
 */
static ktx_error_t *one_txn_or_send_error(ktx_producer_t *p, struct integ_run *run, size_t from,
                                          size_t n)
{
    integ_ok(ktx_begin_transaction(p), "begin");
    for (size_t i = from; i < from + n; i++) {
        ktx_error_t *err = integ_send_one(p, run, i);

        if (err)
            return err;
    }
    return ktx_commit_transaction(p, T_MS);
}

/* One injected error and the class it must give ('0': retried inside, the commit works). */
struct inject_case {
    const char *cmd;
    int code;
    char cls;
};

static const struct inject_case inject_cases[] = {
    {"err 24 2 51", 0, '0'}, /* AddPartitionsToTxn CONCURRENT_TRANSACTIONS */
    {"err 24 1 16", 0, '0'}, /* AddPartitionsToTxn NOT_COORDINATOR */
    {"err 26 1 15", 0, '0'}, /* EndTxn COORDINATOR_NOT_AVAILABLE */
    {"err 26 1 14", 0, '0'}, /* EndTxn COORDINATOR_LOAD_IN_PROGRESS */
    {"err 0 1 29", KTX_ERR_TOPIC_AUTHORIZATION_FAILED, 'a'}, /* Produce */
    {"err 24 1 53", KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'f'},
    {"err 26 1 47", KTX_ERR_PRODUCER_FENCED, 'f'}, /* coordinator INVALID_PRODUCER_EPOCH */
};

START_TEST(test_mock_injected_error_gives_the_tables_class)
{
    const struct inject_case *ic = &inject_cases[_i];
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_MOCK, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;
    ktx_error_t *err;
    size_t expect = 10;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 30, 22, 30, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "m-inject");
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(one_txn(p, &run, 0, 10), "first commit");
    integ_cmd(c, ic->cmd);
    err = one_txn_or_send_error(p, &run, 10, 10);
    if (ic->cls == '0') {
        integ_ok(err, ic->cmd);
        expect += 10;
    } else {
        expect_err(err, ic->code, ic->cls);
    }
    if (ic->cls == 'a')
        integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    if (ic->cls != 'f') {
        integ_ok(one_txn(p, &run, 20, 10), "commit after");
        expect += 10;
    }
    ck_assert_uint_ge(delivered(&run), expect);
    ck_assert_uint_eq(committed_count(bs, "t"), delivered(&run));
    ktx_error_destroy(ktx_close(p, 2000));
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/*
 * ktx_commit_transaction() starts the commit before the records are acknowledged: when its
 * timeout runs out while they (or EndTxn) are still in flight, it returns a retriable
 * _TIMED_OUT, the commit stays pending (abort and begin are state errors, as in Kafka's
 * client), and calling it again finishes it, with every delivery report served before it
 * returns. linger.ms is 20 s: the commit must not wait for it.
 */
START_TEST(test_mock_commit_timeout_resumes_with_reports_served)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_MOCK, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    const char *props[] = {"transactional.id", "m-resume", "transaction.timeout.ms", "10000",
                           "linger.ms", "20000", NULL};
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 30, 23, 30, INTEG_ROUND_ROBIN);
    p = integ_producer(&run, bs, props);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(one_txn(p, &run, 0, 10), "commit 1");
    ck_assert_uint_eq(delivered(&run), 10);
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 10, 20);
    for (int b = 1; b <= 3; b++) {
        char cmd[32];

        snprintf(cmd, sizeof(cmd), "rtt %d 1000", b);
        integ_cmd(c, cmd);
    }
    expect_err(ktx_commit_transaction(p, 200), KTX_ERR_TIMED_OUT, 'r');
    expect_err(ktx_abort_transaction(p, 100), KTX_ERR_STATE, 'n');
    expect_err(ktx_begin_transaction(p), KTX_ERR_STATE, 'n');
    for (int b = 1; b <= 3; b++) {
        char cmd[32];

        snprintf(cmd, sizeof(cmd), "rtt %d 0", b);
        integ_cmd(c, cmd);
    }
    integ_ok(ktx_commit_transaction(p, T_MS), "commit 2 resumed");
    ck_assert_uint_eq(delivered(&run), 20); /* served by the commit call, no poll needed */
    integ_ok(one_txn(p, &run, 20, 10), "commit 3");
    ck_assert_uint_eq(delivered(&run), 30);
    ck_assert_uint_eq(committed_count(bs, "t"), 30);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_init_fatal_error_is_fatal)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_MOCK, 1, NULL, "t", 1);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 1);
    integ_cmd(c, "err 22 1 53");
    p = txn_producer(&run, ktx_test_cluster_bootstrap(c), "m-fatal");
    expect_err(ktx_init_transactions(p, T_MS), KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
               'f');
    expect_err(ktx_begin_transaction(p), KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'f');
    ktx_error_destroy(ktx_close(p, 1000));
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

Suite *txn_mock_suite(void);

Suite *txn_mock_suite(void)
{
    Suite *s = suite_create("txn_mock");
    TCase *tc = tcase_create("mock");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mock_commit_and_abort_read_committed);
    tcase_add_loop_test(tc, test_mock_injected_error_gives_the_tables_class, 0,
                        (int)(sizeof(inject_cases) / sizeof(inject_cases[0])));
    tcase_add_test(tc, test_mock_commit_timeout_resumes_with_reports_served);
    tcase_add_test(tc, test_mock_init_fatal_error_is_fatal);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(txn_mock_suite)
