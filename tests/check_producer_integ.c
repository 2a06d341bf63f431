/*
 * Producer integration suite, happy paths and bad input, against both real peers: the
 * reference broker (tests/broker/ktx-broker: real idempotence) and librdkafka's mock cluster
 * (tests/cluster/ktx-mock: old protocol versions). Every test asserts what a user observes:
 * the delivery reports, and what an INDEPENDENT consumer (tests/verify.h: librdkafka's
 * consumer with CRC checks, and kcat) reads back — every acknowledged record exactly once,
 * in send order per partition, at its reported offset, byte for byte.
 *
 * The first tests check the verification consumers themselves on data that kcat produced,
 * so that a bug in the reader cannot hide a bug in the producer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "cluster.h"
#include "integ_util.h"
#include "kafkatx.h"
#include "verify.h"

#define READ_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS 30000

/* ---- the verification consumers on kcat-produced data ---- */

/*
 * Produces with `kcat -P` to |topic| / |partition| at |bootstrap|: |lines| are
 * "key<TAB>value" lines; an empty value is sent as a null value (-Z); every record gets the
 * headers "a=1" and "b=xy".
 */
static void kcat_produce(const char *bootstrap, const char *topic, int partition, const char *lines)
{
    char cmd[1024];
    FILE *f;

    snprintf(cmd, sizeof(cmd),
             "kcat -P -q -b '%s' -t '%s' -p %d -K '\t' -Z -H a=1 -H b=xy -X log_level=0", bootstrap,
             topic, partition);
    f = popen(cmd, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(lines, f), 0);
    ck_assert_int_eq(pclose(f), 0);
}

/* Reads |topic| with librdkafka and with kcat and checks both against what
 * kcat_produce() wrote in check_kcat_data(). */
static void check_kcat_data(const char *bootstrap, const char *topic)
{
    struct ktx_verify_topic a, b;
    char why[512] = "";
    const struct ktx_verify_record *rec;

    ck_assert_msg(ktx_verify_read(bootstrap, topic, KTX_VERIFY_READ_COMMITTED, READ_TIMEOUT_MS, &a,
                                  why, sizeof(why)) == 0, "%s", why);
    ck_assert_msg(ktx_verify_read_kcat(bootstrap, topic, KTX_VERIFY_READ_COMMITTED, 3, READ_TIMEOUT_MS,
                                       &b, why, sizeof(why)) == 0, "%s", why);
    ck_assert_int_eq(a.partition_count, 3);
    ck_assert_uint_eq(a.partitions[0].count, 0);
    ck_assert_uint_eq(a.partitions[1].count, 3);
    ck_assert_uint_eq(a.partitions[2].count, 1);
    rec = ktx_verify_find(&a, 1, 0);
    ck_assert_ptr_nonnull(rec);
    ck_assert(ktx_verify_bytes_eq(rec->key, rec->key_len, "k1"));
    ck_assert(ktx_verify_bytes_eq(rec->value, rec->value_len, "v1"));
    ck_assert_uint_eq(rec->header_count, 2);
    ck_assert_str_eq(rec->headers[0].key, "a");
    ck_assert(ktx_verify_bytes_eq(rec->headers[0].value, rec->headers[0].value_len, "1"));
    ck_assert_str_eq(rec->headers[1].key, "b");
    ck_assert(ktx_verify_bytes_eq(rec->headers[1].value, rec->headers[1].value_len, "xy"));
    rec = ktx_verify_find(&a, 1, 1);
    ck_assert_ptr_nonnull(rec);
    ck_assert_ptr_null(rec->value); /* -Z: empty means null */
    rec = ktx_verify_find(&a, 2, 0);
    ck_assert_ptr_nonnull(rec);
    ck_assert(ktx_verify_bytes_eq(rec->value, rec->value_len, "other"));
    ck_assert_ptr_null(ktx_verify_find(&a, 1, 3));
    ck_assert(ktx_verify_offsets_increase(&a, why, sizeof(why)));
    ck_assert_msg(ktx_verify_same(&a, &b, true, why, sizeof(why)), "librdkafka vs kcat: %s", why);
    ktx_verify_topic_free(&a);
    ktx_verify_topic_free(&b);
}

static void verify_reads_kcat_data(enum ktx_test_peer peer)
{
    struct ktx_test_cluster *c = integ_cluster(peer, 3, NULL, "kc", 3);
    const char *bs = ktx_test_cluster_bootstrap(c);

    kcat_produce(bs, "kc", 1, "k1\tv1\nk2\t\nk3\tv3\n");
    kcat_produce(bs, "kc", 2, "k4\tother\n");
    check_kcat_data(bs, "kc");
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}

START_TEST(test_verify_reads_kcat_produced_records_on_broker_and_both_readers_agree)
{
    verify_reads_kcat_data(KTX_TEST_PEER_BROKER);
}
END_TEST

START_TEST(test_verify_reads_kcat_produced_records_on_mock_and_both_readers_agree)
{
    verify_reads_kcat_data(KTX_TEST_PEER_MOCK);
}
END_TEST

START_TEST(test_verify_same_detects_a_changed_value_and_a_missing_record)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, "kd", 3);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct ktx_verify_topic a, b;
    char why[512] = "";

    kcat_produce(bs, "kd", 1, "k1\tv1\nk2\tv2\n");
    ck_assert_int_eq(ktx_verify_read(bs, "kd", KTX_VERIFY_READ_UNCOMMITTED, READ_TIMEOUT_MS, &a, why,
                                     sizeof(why)), 0);
    ck_assert_int_eq(ktx_verify_read(bs, "kd", KTX_VERIFY_READ_UNCOMMITTED, READ_TIMEOUT_MS, &b, why,
                                     sizeof(why)), 0);
    ck_assert(ktx_verify_same(&a, &b, true, why, sizeof(why)));
    b.partitions[1].records[1].value[1] = 'X';
    ck_assert(!ktx_verify_same(&a, &b, true, why, sizeof(why)));
    ck_assert_str_eq(why, "partition 1 record 1 (offsets 1/1) differs");
    b.partitions[1].count = 1; /* restored below, so that the free releases the record */
    ck_assert(!ktx_verify_same(&a, &b, true, why, sizeof(why)));
    ck_assert_str_eq(why, "partition 1: 2 records against 1");
    b.partitions[1].count = 2;
    b.partitions[1].records[1].offset = 0;
    ck_assert(!ktx_verify_offsets_increase(&b, why, sizeof(why)));
    ck_assert_str_eq(why, "partition 1: offset 0 after 0");
    ktx_verify_topic_free(&a);
    ktx_verify_topic_free(&b);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_verify_read_fails_with_a_reason_when_no_broker_answers)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, NULL, 0);
    char bs[256], why[512] = "";
    struct ktx_verify_topic t;
    int64_t start;

    snprintf(bs, sizeof(bs), "%s", ktx_test_cluster_bootstrap(c));
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0); /* nothing listens there any more */
    start = ktx_test_now_ms();
    ck_assert_int_eq(ktx_verify_read(bs, "nothing", KTX_VERIFY_READ_COMMITTED, 1500, &t, why,
                                     sizeof(why)), -1);
    ck_assert_int_lt(ktx_test_now_ms() - start, 15000);
    ck_assert_str_eq(why, "no metadata for topic nothing in time");
    ck_assert_int_eq(t.partition_count, 0);
    ktx_verify_topic_free(&t);
}
END_TEST

/* ---- happy paths ---- */

/*
 * Sends |n| generated records to a |partitions|-partition topic of a fresh |peer| with
 * |props|, flushes, and asserts that every record was reported delivered and that the
 * independent consumer reads each exactly once at its reported offset.
 */
static void deliver_and_verify(enum ktx_test_peer peer, int partitions, size_t n, size_t max_value,
                               enum integ_partitioning partitioning, const char *const *props)
{
    struct ktx_test_cluster *c = integ_cluster(peer, 3, NULL, "t", partitions);
    const char *bs = ktx_test_cluster_bootstrap(c);
    struct integ_run run;
    ktx_producer_t *producer;

    integ_run_init(&run, "t", partitions);
    integ_gen(&run, n, 42, max_value, partitioning);
    producer = integ_producer(&run, bs, props);
    integ_send(producer, &run, 0, n);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "ktx_flush");
    ck_assert_uint_eq(run.reports, n);
    ktx_producer_destroy(producer);
    integ_assert_exactly_once(&run, bs, INTEG_ALL_DELIVERED);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}

START_TEST(test_producer_delivers_uncompressed_records_exactly_once_in_order_on_broker)
{
    deliver_and_verify(KTX_TEST_PEER_BROKER, 3, 600, 300, INTEG_ROUND_ROBIN, NULL);
}
END_TEST

START_TEST(test_producer_delivers_zstd_batches_exactly_once_in_order_on_broker)
{
    const char *props[] = {"compression.type", "zstd", "linger.ms", "20", NULL};
    deliver_and_verify(KTX_TEST_PEER_BROKER, 3, 600, 300, INTEG_ROUND_ROBIN, props);
}
END_TEST

START_TEST(test_producer_delivers_uncompressed_records_exactly_once_in_order_on_mock)
{
    deliver_and_verify(KTX_TEST_PEER_MOCK, 3, 600, 300, INTEG_ROUND_ROBIN, NULL);
}
END_TEST

START_TEST(test_producer_delivers_zstd_batches_exactly_once_in_order_on_mock)
{
    const char *props[] = {"compression.type", "zstd", "linger.ms", "20", NULL};
    deliver_and_verify(KTX_TEST_PEER_MOCK, 3, 600, 300, INTEG_ROUND_ROBIN, props);
}
END_TEST

START_TEST(test_producer_puts_keyed_records_on_murmur2_partitions_on_broker)
{
    deliver_and_verify(KTX_TEST_PEER_BROKER, 7, 400, 40, INTEG_BY_KEY, NULL);
}
END_TEST

START_TEST(test_producer_puts_keyed_records_on_murmur2_partitions_on_mock)
{
    const char *props[] = {"compression.type", "zstd", NULL};
    deliver_and_verify(KTX_TEST_PEER_MOCK, 5, 400, 40, INTEG_BY_KEY, props);
}
END_TEST

START_TEST(test_producer_sends_large_batches_that_split_over_requests)
{
    /* Values up to 20 KB with batch.size 16 KiB: many batches per partition and request. */
    deliver_and_verify(KTX_TEST_PEER_BROKER, 2, 300, 20000, INTEG_ROUND_ROBIN, NULL);
}
END_TEST

START_TEST(test_kcat_and_librdkafka_read_the_same_producer_output)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 3);
    const char *bs = ktx_test_cluster_bootstrap(c);
    const char *props[] = {"compression.type", "zstd", NULL};
    struct ktx_verify_topic a, b;
    struct integ_run run;
    ktx_producer_t *producer;
    char why[512] = "";

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 300, 7, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, bs, props);
    integ_send(producer, &run, 0, run.n);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "ktx_flush");
    ktx_producer_destroy(producer);
    ck_assert_msg(ktx_verify_read(bs, "t", KTX_VERIFY_READ_COMMITTED, READ_TIMEOUT_MS, &a, why,
                                  sizeof(why)) == 0, "%s", why);
    ck_assert_msg(ktx_verify_read_kcat(bs, "t", KTX_VERIFY_READ_COMMITTED, 3, READ_TIMEOUT_MS, &b, why,
                                       sizeof(why)) == 0, "%s", why);
    ck_assert_uint_eq(ktx_verify_total(&a), 300);
    /* kcat prints headers as text only; the binary-safe comparison of headers is integ_check's. */
    ck_assert_msg(ktx_verify_same(&a, &b, false, why, sizeof(why)), "%s", why);
    ck_assert_msg(integ_check(&run, &a, INTEG_ALL_DELIVERED, why, sizeof(why)), "librdkafka: %s", why);
    ktx_verify_topic_free(&a);
    ktx_verify_topic_free(&b);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* ---- bad input ---- */

/* Asserts that |err| has |code| and the class |retriable| (never fatal), then frees it. */
static void expect_error(ktx_error_t *err, int code, bool retriable, const char *what)
{
    ck_assert_msg(err != NULL, "%s: succeeded, expected %s", what, ktx_err_name(code));
    ck_assert_msg(ktx_error_code(err) == code, "%s: %s (%s), expected %s", what, ktx_error_name(err),
                  ktx_error_message(err), ktx_err_name(code));
    ck_assert_int_eq(ktx_error_is_retriable(err) != 0, retriable);
    ck_assert_int_eq(ktx_error_is_fatal(err), 0);
    ck_assert_str_ne(ktx_error_message(err), "");
    ktx_error_destroy(err);
}

/* Ends a bad-input test: flushes, destroys |producer| and asserts that the records of |run|
 * (sent before the bad call) were all delivered exactly once; then stops |c|. */
static void earlier_records_survive(struct ktx_test_cluster *c, struct integ_run *run,
                                    ktx_producer_t *producer)
{
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "ktx_flush");
    ktx_producer_destroy(producer);
    integ_assert_exactly_once(run, ktx_test_cluster_bootstrap(c), INTEG_ALL_DELIVERED);
    integ_run_free(run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}

/*
 * ktx-broker runs without auto-creation, so an unknown topic never shows up in the metadata:
 * as Java's producer, ktx_send() waits max.block.ms for it and fails with _TIMED_OUT
 * (docs/api.md). The mock has no such case: it auto-creates every topic it is asked about,
 * even names Kafka refuses ("bad topic!", 300 characters), and the producer sends to them.
 */
START_TEST(test_send_to_unknown_topic_times_out_clearly_and_earlier_records_are_delivered)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *props[] = {"max.block.ms", "1500", NULL};
    struct integ_run run;
    ktx_producer_t *producer;
    ktx_record_t rec = {0};
    ktx_error_t *err;
    int64_t start;

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 50, 3, 50, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 50);
    rec.topic = "no-such-topic";
    rec.partition = KTX_PARTITION_ANY;
    rec.value = "x";
    rec.value_len = 1;
    start = ktx_test_now_ms();
    err = ktx_send(producer, &rec);
    ck_assert_int_ge(ktx_test_now_ms() - start, 1400);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(ktx_error_message(err), "no-such-topic") != NULL, "message: %s",
                  ktx_error_message(err));
    expect_error(err, KTX_ERR_TIMED_OUT, true, "send to an unknown topic");
    earlier_records_survive(c, &run, producer);
}
END_TEST

START_TEST(test_send_to_partition_out_of_range_returns_unknown_topic_or_partition)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    struct integ_run run;
    ktx_producer_t *producer;
    ktx_record_t rec = {0};

    integ_run_init(&run, "t", 2);
    integ_gen(&run, 50, 4, 50, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    integ_send(producer, &run, 0, 50);
    rec.topic = "t";
    rec.partition = 2;
    rec.value = "x";
    rec.value_len = 1;
    expect_error(ktx_send(producer, &rec), KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION, true,
                 "send to partition 2 of 2");
    earlier_records_survive(c, &run, producer);
}
END_TEST

START_TEST(test_send_of_oversize_record_returns_message_too_large)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 2);
    const char *props[] = {"max.request.size", "20000", "batch.size", "16384", NULL};
    struct integ_run run;
    ktx_producer_t *producer;
    ktx_record_t rec = {0};
    uint8_t *big = calloc(1, 30000);

    ck_assert_ptr_nonnull(big);
    integ_run_init(&run, "t", 2);
    integ_gen(&run, 50, 5, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 50);
    rec.topic = "t";
    rec.partition = 0;
    rec.value = big;
    rec.value_len = 30000;
    expect_error(ktx_send(producer, &rec), KTX_ERR_MESSAGE_TOO_LARGE, false, "send of 30000 bytes");
    free(big);
    earlier_records_survive(c, &run, producer);
}
END_TEST

START_TEST(test_send_times_out_when_the_buffer_stays_full_and_nothing_is_lost)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, "t", 1);
    const char *props[] = {"buffer.memory", "65536", "max.block.ms", "500", NULL};
    struct integ_run run;
    ktx_producer_t *producer;
    ktx_error_t *err = NULL;
    size_t sent = 0;
    int64_t start;

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 400, 6, 1000, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 10);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "ktx_flush while up");
    /* The only broker is down: nothing drains the buffer any more. */
    integ_cmd(c, "down 1");
    for (sent = 10; sent < run.n; sent++) {
        start = ktx_test_now_ms();
        err = integ_send_one(producer, &run, sent);
        if (err != NULL)
            break;
    }
    ck_assert_msg(err != NULL, "400 KB fitted into a 64 KiB buffer");
    ck_assert_int_ge(ktx_test_now_ms() - start, 400); /* it blocked about max.block.ms */
    ck_assert_uint_gt(sent, 20);
    expect_error(err, KTX_ERR_TIMED_OUT, true, "send into a full buffer");
    integ_run_truncate(&run, sent); /* the refused record and the ones after it were never sent */
    integ_cmd(c, "up 1");
    earlier_records_survive(c, &run, producer);
}
END_TEST

START_TEST(test_send_after_close_returns_closed_and_earlier_records_are_delivered)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_MOCK, 3, NULL, "t", 3);
    struct integ_run run;
    ktx_producer_t *producer;

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 120, 8, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    integ_send(producer, &run, 0, 100);
    integ_ok(ktx_close(producer, FLUSH_TIMEOUT_MS), "ktx_close");
    ck_assert_uint_eq(run.reports, 100); /* close served every report */
    expect_error(integ_send_one(producer, &run, 100), KTX_ERR_CLOSED, false, "send after close");
    integ_ok(ktx_close(producer, 0), "second ktx_close");
    ktx_producer_destroy(producer);
    integ_run_truncate(&run, 100);
    integ_assert_exactly_once(&run, ktx_test_cluster_bootstrap(c), INTEG_ALL_DELIVERED);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

static Suite *producer_integ_suite(void)
{
    Suite *s = suite_create("producer_integ");
    TCase *verify = tcase_create("verify");
    TCase *happy = tcase_create("happy");
    TCase *bad = tcase_create("bad_input");

    tcase_set_timeout(verify, 60);
    tcase_set_timeout(happy, 120);
    tcase_set_timeout(bad, 120);
    tcase_add_test(verify, test_verify_reads_kcat_produced_records_on_broker_and_both_readers_agree);
    tcase_add_test(verify, test_verify_reads_kcat_produced_records_on_mock_and_both_readers_agree);
    tcase_add_test(verify, test_verify_same_detects_a_changed_value_and_a_missing_record);
    tcase_add_test(verify, test_verify_read_fails_with_a_reason_when_no_broker_answers);
    tcase_add_test(happy, test_producer_delivers_uncompressed_records_exactly_once_in_order_on_broker);
    tcase_add_test(happy, test_producer_delivers_zstd_batches_exactly_once_in_order_on_broker);
    tcase_add_test(happy, test_producer_delivers_uncompressed_records_exactly_once_in_order_on_mock);
    tcase_add_test(happy, test_producer_delivers_zstd_batches_exactly_once_in_order_on_mock);
    tcase_add_test(happy, test_producer_puts_keyed_records_on_murmur2_partitions_on_broker);
    tcase_add_test(happy, test_producer_puts_keyed_records_on_murmur2_partitions_on_mock);
    tcase_add_test(happy, test_producer_sends_large_batches_that_split_over_requests);
    tcase_add_test(happy, test_kcat_and_librdkafka_read_the_same_producer_output);
    tcase_add_test(bad, test_send_to_unknown_topic_times_out_clearly_and_earlier_records_are_delivered);
    tcase_add_test(bad, test_send_to_partition_out_of_range_returns_unknown_topic_or_partition);
    tcase_add_test(bad, test_send_of_oversize_record_returns_message_too_large);
    tcase_add_test(bad, test_send_times_out_when_the_buffer_stays_full_and_nothing_is_lost);
    tcase_add_test(bad, test_send_after_close_returns_closed_and_earlier_records_are_delivered);
    suite_add_tcase(s, verify);
    suite_add_tcase(s, happy);
    suite_add_tcase(s, bad);
    return s;
}

KTX_CHECK_MAIN(producer_integ_suite)
