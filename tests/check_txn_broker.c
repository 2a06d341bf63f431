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
#include "proto_group.h"
#include "proto_txn.h"
#include "verify.h"

#define T_MS 10000
#define READ_MS 20000

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
    ktx_record_t outside = {0};

    outside.topic = "t";
    outside.partition = 0;
    outside.value = "outside";
    outside.value_len = 7;
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 5, 3, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-misuse", NULL, NULL);
    expect_err(ktx_begin_transaction(p), KTX_ERR_STATE, 'n');
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    expect_err(ktx_init_transactions(p, T_MS), KTX_ERR_STATE, 'n');
    expect_err(ktx_commit_transaction(p, T_MS), KTX_ERR_STATE, 'n');
    expect_err(ktx_abort_transaction(p, T_MS), KTX_ERR_STATE, 'n');
    expect_err(ktx_send(p, &outside), KTX_ERR_STATE, 'n');
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

/* The state of transactional id |tid| as its coordinator, broker 1, describes it. */
static void describe_state(struct ktx_test_cluster *c, const char *tid, char *out, size_t cap)
{
    struct ktx__str id = ktx__str_c(tid);
    struct ktx__describe_transactions_req req = {&id, 1};
    struct ktx__describe_transactions_resp resp = {0};
    struct ktx_test_exchange ex;
    int fd = ktx_test_cluster_connect(c, 1, 3000);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_describe_transactions, 0, &req,
                                       &resp, &ex, 3000), 0);
    ck_assert_int_eq(resp.transaction_state_count, 1);
    ck_assert_int_eq(resp.transaction_states[0].error_code, 0);
    snprintf(out, cap, "%.*s", (int)resp.transaction_states[0].transaction_state.len,
             resp.transaction_states[0].transaction_state.ptr);
    ktx_test_exchange_free(&ex);
    close(fd);
}

START_TEST(test_close_aborts_the_open_transaction)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run, run2;
    ktx_producer_t *p;
    char state[64];
    int64_t t0;

    integ_run_init(&run, "t", 2);
    integ_run_init(&run2, "t", 2);
    integ_gen(&run, 10, 5, 20, INTEG_ROUND_ROBIN);
    integ_gen(&run2, 4, 6, 20, INTEG_ROUND_ROBIN);
    integ_cmd(c, "coord txn tid-close 1");
    p = txn_producer(&run, bs, "tid-close", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 10);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    describe_state(c, "tid-close", state, sizeof(state));
    ck_assert_msg(strcmp(state, "CompleteAbort") == 0 || strcmp(state, "Empty") == 0,
                  "transaction left %s", state);
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

/* Runs one transaction of |n| records of |run| from |from|; returns the commit's error. */
static ktx_error_t *one_txn(ktx_producer_t *p, struct integ_run *run, size_t from, size_t n)
{
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, run, from, from + n);
    return ktx_commit_transaction(p, T_MS);
}

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

/* An injected error and the class the commit must return ('0' when it must succeed after
 * internal retries). */
struct inject_case {
    const char *cmd;
    int code;
    char cls;
};

static const struct inject_case inject_cases[] = {
    /* Retried internally: the commit succeeds. */
    {"err 24 2 51", 0, '0'},  /* AddPartitionsToTxn CONCURRENT_TRANSACTIONS */
    {"err 24 1 16", 0, '0'},  /* AddPartitionsToTxn NOT_COORDINATOR: look it up again */
    {"err 24 1 15", 0, '0'},  /* COORDINATOR_NOT_AVAILABLE */
    {"err 24 1 14", 0, '0'},  /* COORDINATOR_LOAD_IN_PROGRESS */
    {"err 26 1 16", 0, '0'},  /* EndTxn NOT_COORDINATOR */
    {"err 26 1 -1", 0, '0'},  /* EndTxn: the connection drops, outcome unknown: retried */
    {"err 10 1 15", 0, '0'},  /* FindCoordinator COORDINATOR_NOT_AVAILABLE */
    /* Abortable: the commit fails, abort works, the next transaction commits. */
    {"err 0 1 29", KTX_ERR_TOPIC_AUTHORIZATION_FAILED, 'a'},
    {"err 0 1 59", KTX_ERR_UNKNOWN_PRODUCER_ID, 'a'},
    {"err 24 1 29", KTX_ERR_TOPIC_AUTHORIZATION_FAILED, 'a'},
    /* Fatal. */
    {"err 24 1 53", KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'f'},
    {"err 26 1 90", KTX_ERR_PRODUCER_FENCED, 'f'},
};

START_TEST(test_injected_error_gives_the_tables_class)
{
    const struct inject_case *ic = &inject_cases[_i];
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;
    ktx_error_t *err;
    size_t expect = 0;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 30, 7, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-inject", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(one_txn(p, &run, 0, 10), "a first transaction");
    expect += 10;
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "%s", ic->cmd), 0);
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
        integ_ok(one_txn(p, &run, 20, 10), "the transaction after");
        expect += 10;
    } else {
        expect_err(ktx_begin_transaction(p), ic->code, 'f');
    }
    ck_assert_uint_eq(committed_count(bs, "t"), expect);
    ktx_error_destroy(ktx_close(p, 2000));
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* Regression (ktx-perf --mode transactional, intermittent OUT_OF_ORDER_SEQUENCE_NUMBER at
 * commit): several single-batch Produce requests of one partition are in flight (linger 0,
 * small batches, a slow leader) and the first fails retriably (NOT_LEADER_OR_FOLLOWER). The
 * broker answers the batches behind it OUT_OF_ORDER_SEQUENCE_NUMBER: that only means an
 * earlier batch is being retried, so they are retried too and the commit succeeds. */
START_TEST(test_out_of_order_behind_a_retried_batch_is_retried_and_commits)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    const char *props[] = {"transactional.id", "tid-ooo", "transaction.timeout.ms", "10000",
                           "linger.ms", "0", "batch.size", "200",
                           "max.in.flight.requests.per.connection", "5", NULL};
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 200, 11, 60, INTEG_ROUND_ROBIN);
    p = integ_producer(&run, bs, props);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(one_txn(p, &run, 0, 20), "a first transaction");
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "leader t 0 1"), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "rtt 1 150"), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "err 0 1 6"), 0);
    integ_ok(one_txn(p, &run, 20, 180), "the transaction with a retried batch");
    ck_assert_uint_eq(committed_count(bs, "t"), 200);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* One transaction adds the partitions of two topics in interleaved order (a0 b0 a1 b1 ...):
 * AddPartitionsToTxn groups them by topic (linear scratch) and every record commits. */
START_TEST(test_interleaved_topics_are_added_grouped_and_commit)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "ta", 4);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run a, b;
    ktx_producer_t *p;

    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic tb 3 1"), 0);
    integ_run_init(&a, "ta", 4);
    integ_run_init(&b, "tb", 3);
    integ_gen(&a, 40, 3, 30, INTEG_ROUND_ROBIN);
    integ_gen(&b, 30, 5, 30, INTEG_ROUND_ROBIN);
    p = txn_producer(&a, bs, "tid-interleave", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    for (size_t i = 0; i < 30; i++) {
        integ_send(p, &a, i, i + 1);
        integ_send(p, &b, i, i + 1);
    }
    integ_send(p, &a, 30, 40);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(committed_count(bs, "ta"), 40);
    ck_assert_uint_eq(committed_count(bs, "tb"), 30);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&a);
    integ_run_free(&b);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* Reads the committed offset of |group| |topic| [0] with OffsetFetch v7 require_stable from
 * broker 1 (the group coordinator). Returns the offset, -1 when none. */
static int64_t fetch_offset(struct ktx_test_cluster *c, const char *group, const char *topic,
                            int *error_code)
{
    int32_t part = 0;
    struct ktx__offset_fetch_req_topic t = {ktx__str_c(topic), &part, 1};
    struct ktx__offset_fetch_req req = {ktx__str_c(group), &t, 1, NULL, 0, true};
    struct ktx__offset_fetch_resp resp = {0};
    struct ktx_test_exchange ex;
    int64_t off = -2;
    int fd = ktx_test_cluster_connect(c, 1, 3000);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_offset_fetch, 7, &req, &resp, &ex,
                                       3000), 0);
    *error_code = resp.error_code;
    if (resp.topics_count == 1 && resp.topics[0].partitions_count == 1) {
        off = resp.topics[0].partitions[0].committed_offset;
        if (resp.topics[0].partitions[0].error_code)
            *error_code = resp.topics[0].partitions[0].error_code;
    }
    ktx_test_exchange_free(&ex);
    close(fd);
    return off;
}

START_TEST(test_sent_offsets_are_visible_only_after_commit)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    ktx_offset_t o = {"in", 0, 42, "meta"};
    ktx_offsets_t offs = {&o, 1};
    ktx_group_metadata_t g = {"grp", -1, "", NULL};
    struct integ_run run;
    ktx_producer_t *p;
    int ec = 0;

    integ_cmd(c, "topic in 1 3");
    integ_cmd(c, "coord group grp 1");
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 5, 8, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-offsets", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    expect_err(ktx_send_offsets_to_transaction(p, &offs, &g, T_MS), KTX_ERR_STATE, 'n');
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 5);
    integ_ok(ktx_send_offsets_to_transaction(p, &offs, &g, T_MS), "send offsets");
    /* Pending: a require_stable fetch is refused while the transaction is open. */
    (void)fetch_offset(c, "grp", "in", &ec);
    ck_assert_int_eq(ec, KTX_ERR_UNSTABLE_OFFSET_COMMIT);
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_int_eq(fetch_offset(c, "grp", "in", &ec), 42);
    ck_assert_int_eq(ec, 0);
    ck_assert_uint_eq(committed_count(bs, "t"), 5);
    /* Offsets of an aborted transaction are never committed. */
    o.offset = 99;
    integ_ok(ktx_begin_transaction(p), "begin 2");
    integ_ok(ktx_send_offsets_to_transaction(p, &offs, &g, T_MS), "send offsets 2");
    integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    ck_assert_int_eq(fetch_offset(c, "grp", "in", &ec), 42);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_timed_out_calls_resume_with_the_real_result)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_cmd(c, "coord txn tid-resume 2");
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 10, 9, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-resume", NULL, NULL);
    integ_cmd(c, "berr 2 22 0 1500");
    expect_err(ktx_init_transactions(p, 300), KTX_ERR_TIMED_OUT, 'r');
    expect_err(ktx_begin_transaction(p), KTX_ERR_STATE, 'n');
    integ_ok(ktx_init_transactions(p, T_MS), "init resumed");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 5);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_cmd(c, "berr 2 26 0 1500");
    expect_err(ktx_commit_transaction(p, 300), KTX_ERR_TIMED_OUT, 'r');
    expect_err(ktx_abort_transaction(p, 300), KTX_ERR_STATE, 'n');
    integ_ok(ktx_commit_transaction(p, T_MS), "commit resumed");
    integ_ok(ktx_begin_transaction(p), "begin 2");
    integ_send(p, &run, 5, 10);
    integ_ok(ktx_flush(p, T_MS), "flush 2");
    integ_cmd(c, "berr 2 26 0 1500");
    expect_err(ktx_abort_transaction(p, 300), KTX_ERR_TIMED_OUT, 'r');
    integ_ok(ktx_abort_transaction(p, T_MS), "abort resumed");
    ck_assert_uint_eq(committed_count(bs, "t"), 5);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_coordinator_moving_mid_commit_is_followed)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_cmd(c, "coord txn tid-move 2");
    integ_cmd(c, "leader t 0 1");
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 10, 10, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-move", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 10);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_cmd(c, "coord txn tid-move 3");
    integ_cmd(c, "down 2");
    integ_ok(ktx_commit_transaction(p, T_MS), "commit");
    ck_assert_uint_eq(committed_count(bs, "t"), 10);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_commit_after_the_coordinator_timed_out_is_never_a_success)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;
    ktx_error_t *err;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 5, 11, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-timeout", "transaction.timeout.ms", "1000");
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 5);
    integ_ok(ktx_flush(p, T_MS), "flush");
    usleep(1300 * 1000);
    integ_cmd(c, "txn-timeout-check");
    err = ktx_commit_transaction(p, T_MS);
    ck_assert_msg(err != NULL, "a commit after the timeout abort succeeded");
    ck_assert(!ktx_error_is_retriable(err));
    ktx_error_destroy(err);
    ck_assert_uint_eq(committed_count(bs, "t"), 0);
    ktx_error_destroy(ktx_close(p, 2000));
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_v2_broker_sends_no_add_partitions_and_adopts_the_epoch)
{
    const char *extra[] = {"--txn-v2", NULL};
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, extra, "t", 2);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 40, 12, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-v2", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    /* A fatal answer waits for the first AddPartitionsToTxn: v2 never sends one. */
    integ_cmd(c, "err 24 1 53");
    integ_ok(one_txn(p, &run, 0, 10), "commit 1");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 10, 20);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_ok(ktx_abort_transaction(p, T_MS), "abort");
    /* Each EndTxn bumped the epoch: the next batches start again at sequence 0 and are
     * accepted (a stale epoch would be fenced, a stale sequence out of order). */
    integ_ok(one_txn(p, &run, 20, 10), "commit 2");
    integ_ok(one_txn(p, &run, 30, 10), "commit 3");
    ck_assert_uint_eq(committed_count(bs, "t"), 30);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_back_to_back_transactions_pay_no_retry_floor)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;
    int64_t t0;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 20, 13, 20, INTEG_ROUND_ROBIN);
    /* With retry.backoff.ms as a floor, three CONCURRENT_TRANSACTIONS answers to the next
     * transaction's AddPartitionsToTxn would cost 3 x 2 s; the table's backoff for that code
     * starts at 5 ms and doubles. (ktx-broker completes delayed transactions on its 1 s
     * tick, so --complete-delay-ms cannot measure this.) */
    p = txn_producer(&run, bs, "tid-b2b", "retry.backoff.ms", "2000");
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    for (size_t i = 0; i < 10; i++) {
        integ_cmd(c, "err 24 3 51");
        t0 = ktx_test_now_ms();
        integ_ok(one_txn(p, &run, i, 1), "commit");
        ck_assert_int_lt(ktx_test_now_ms() - t0, 1000);
    }
    ck_assert_uint_eq(committed_count(bs, "t"), 10);
    integ_ok(ktx_close(p, T_MS), "close");
    ktx_producer_destroy(p);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_close_returns_within_its_timeout_when_the_abort_hangs)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 1);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *p;
    int64_t t0;

    integ_cmd(c, "coord txn tid-hang 2");
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 5, 14, 20, INTEG_ROUND_ROBIN);
    p = txn_producer(&run, bs, "tid-hang", NULL, NULL);
    integ_ok(ktx_init_transactions(p, T_MS), "init");
    integ_ok(ktx_begin_transaction(p), "begin");
    integ_send(p, &run, 0, 5);
    integ_ok(ktx_flush(p, T_MS), "flush");
    integ_cmd(c, "berr 2 26 0 4000");
    t0 = ktx_test_now_ms();
    expect_err(ktx_close(p, 800), KTX_ERR_TIMED_OUT, 'r');
    ck_assert_int_lt(ktx_test_now_ms() - t0, 1500);
    ktx_producer_destroy(p);
    ck_assert_uint_eq(committed_count(bs, "t"), 0);
    integ_run_free(&run);
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
    tcase_add_loop_test(tc, test_injected_error_gives_the_tables_class, 0,
                        (int)(sizeof(inject_cases) / sizeof(inject_cases[0])));
    tcase_add_test(tc, test_out_of_order_behind_a_retried_batch_is_retried_and_commits);
    tcase_add_test(tc, test_interleaved_topics_are_added_grouped_and_commit);
    tcase_add_test(tc, test_sent_offsets_are_visible_only_after_commit);
    tcase_add_test(tc, test_timed_out_calls_resume_with_the_real_result);
    tcase_add_test(tc, test_coordinator_moving_mid_commit_is_followed);
    tcase_add_test(tc, test_commit_after_the_coordinator_timed_out_is_never_a_success);
    tcase_add_test(tc, test_v2_broker_sends_no_add_partitions_and_adopts_the_epoch);
    tcase_add_test(tc, test_back_to_back_transactions_pay_no_retry_floor);
    tcase_add_test(tc, test_close_returns_within_its_timeout_when_the_abort_hangs);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(txn_broker_suite)
