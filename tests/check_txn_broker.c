/*
 * Transaction manager integration suite against kafkatx's reference broker
 * (tests/broker/ktx-broker: real transaction semantics). Each test drives the public API
 * (ktx_init_transactions ... ktx_commit_transaction) and asserts what a user observes: the
 * class of each call's error, the delivery reports, and what librdkafka's consumer reads with
 * isolation.level=read_committed (tests/verify.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "integ_util.h"
#include "kafkatx.h"
#include "verify.h"

#define T_MS 10000
#define READ_MS 6000

/* A transactional producer of |run| with transactional.id |tid| and |extra| properties. */
static ktx_producer_t *txn_producer(struct integ_run *run, const char *bs, const char *tid,
                                    const char *extra_name, const char *extra_value)
{
    const char *props[] = {"transactional.id", tid, "transaction.timeout.ms", "10000",
                           extra_name, extra_value, NULL};

    if (!extra_name)
        props[4] = NULL;
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

/* Asserts |err| is an error of code |code| and class |cls| ('r', 'a', 'f'); frees it. */
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

START_TEST(test_committed_transaction_is_visible_to_read_committed)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 3);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 60, 1, 50, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-commit", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 30);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(run.reports, 30);
    integ_ok(ktx_begin_transaction(p), "begin 2");
    integ_send(p, &run, 30, 60);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit 2");
    ck_assert_uint_eq(run.reports, 60);
    for (size_t i = 0; i < run.n; i++)
        ck_assert_int_eq(run.recs[i].err, 0);
    ck_assert_uint_eq(committed_count(bs, "t"), 60);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_aborted_transaction_is_invisible_and_producer_usable)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 30, 2, 50, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-abort", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 20);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    integ_ok(ktx_begin_transaction(p), "begin 2");
    integ_send(p, &run, 20, 30);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(committed_count(bs, "t"), 10);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_misuse_is_a_state_error_that_changes_nothing)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 5, 3, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-misuse", NULL, NULL);
    expect_err(ktx_begin_transaction(p), KTX_ERR_STATE, 'n');
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    expect_err(ktx_init_transactions(p, T_MS), KTX_ERR_STATE, 'n');
    expect_err(ktx_commit_transaction(p, T_MS), KTX_ERR_STATE, 'n');
    expect_err(ktx_abort_transaction(p, T_MS), KTX_ERR_STATE, 'n');
    integ_ok(ktx_begin_transaction(p), "begin");
    expect_err(ktx_begin_transaction(p), KTX_ERR_STATE, 'n');
    integ_send(p, &run, 0, 5);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(committed_count(bs, "t"), 5);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_empty_transactions_commit_and_abort)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 1);
    p = txn_producer(&run, ktx_test_cluster_bootstrap(c), "tid-empty", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    integ_ok(ktx_begin_transaction(p), "begin 2");
    integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_second_instance_fences_the_first)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run, run2;
    ktx_producer_t *p, *q;

    integ_run_init(&run, "t", 2);
    integ_run_init(&run2, "t", 2);
    integ_gen(&run, 10, 4, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-fence", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 10);
    integ_ok(ktx_flush(p, T_MS), "flush");
    q = txn_producer(&run2, bs, "tid-fence", NULL, NULL);
    integ_ok(ktx_init_transactions(q, T_MS), "init of the second instance");
    expect_err(ktx_commit_transaction(p, T_MS), KTX_ERR_PRODUCER_FENCED, 'f');
    ck_assert_uint_eq(committed_count(bs, "t"), 0);
    ktx_error_destroy(ktx_close(p, 1000));
    ktx_producer_destroy(p);
    integ_ok(ktx_close(q, T_MS), "close");
    ktx_producer_destroy(q);
    integ_run_free(&run);
    integ_run_free(&run2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_close_aborts_the_open_transaction)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run, run2;
    ktx_producer_t *p;
    int64_t t0;

    integ_run_init(&run, "t", 2);
    integ_run_init(&run2, "t", 2);
    integ_gen(&run, 10, 5, 20, INTEG_ROUND_ROBIN);
    integ_gen(&run2, 4, 6, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-close", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 10);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    /* A new instance needs no transaction timeout (10 s) to get its id: the abort is done. */
    p = txn_producer(&run2, bs, "tid-close", NULL, NULL);
    t0 = ktx_test_now_ms();
    integ_ok(ktx_init_transactions(p, T_MS), "init of the restarted instance");
    ck_assert_int_lt(ktx_test_now_ms() - t0, 3000);
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run2, 0, 4);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(committed_count(bs, "t"), 4);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    integ_run_free(&run2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

Suite *txn_broker_suite(void);

Suite *txn_broker_suite(void)
{
    Suite *s = suite_create("txn_broker");
    TCase *tc = tcase_create("broker");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_committed_transaction_is_visible_to_read_committed);
    tcase_add_test(tc, test_aborted_transaction_is_invisible_and_producer_usable);
    tcase_add_test(tc, test_misuse_is_a_state_error_that_changes_nothing);
    tcase_add_test(tc, test_empty_transactions_commit_and_abort);
    tcase_add_test(tc, test_second_instance_fences_the_first);
    tcase_add_test(tc, test_close_aborts_the_open_transaction);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(txn_broker_suite)
