/*
 * Interop tests: librdkafka's transactional producer and read_committed consumer against
 * ktx-broker (started through tests/cluster.h). They show that the reference broker
 * enforces what a real client relies on: committed records visible, aborted ones filtered
 * by the consumer through the aborted-transaction list, offsets committed inside a
 * transaction, and a second producer fencing the first. Built only with librdkafka.
 */
#include "check_util.h"

#include "cluster.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

static struct ktx_test_cluster *cluster;

static void setup(void)
{
    ck_assert_int_eq(ktx_test_cluster_start(&cluster, KTX_TEST_PEER_BROKER, 3, NULL), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "topic t 2 3"), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(ktx_test_cluster_stop(cluster), 0);
}

/* A client of |type| with the settings |props| (name, value, ..., NULL) on top of the
 * defaults. */
static rd_kafka_t *new_client(rd_kafka_type_t type, const char *const *props)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", ktx_test_cluster_bootstrap(cluster),
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
    if (type == RD_KAFKA_CONSUMER) {
        ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof(err)), RD_KAFKA_CONF_OK);
        ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)), RD_KAFKA_CONF_OK);
    }
    for (; props && props[0]; props += 2) /* last, so that they can replace the defaults */
        ck_assert_int_eq(rd_kafka_conf_set(conf, props[0], props[1], err, sizeof(err)), RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(type, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    return rk;
}

static void ok(rd_kafka_error_t *error, const char *what)
{
    ck_assert_msg(error == NULL, "%s: %s", what, error ? rd_kafka_error_string(error) : "");
}

/* Produces |n| records "<prefix><i>" round-robin over t/0 and t/1. */
static void produce(rd_kafka_t *rk, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char v[64];
        int len = snprintf(v, sizeof(v), "%s%d", prefix, i);
        ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(i % 2),
                                           RD_KAFKA_V_VALUE(v, (size_t)len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
}

/* Reads t/0 and t/1 from the beginning with |isolation|; counts values starting with
 * |prefix| and returns how many records there were in all. */
static int consume_all(const char *isolation, const char *prefix, int *matching)
{
    const char *props[] = {"isolation.level", isolation, NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    int64_t deadline = ktx_test_now_ms() + TIMEOUT_MS;
    int eofs = 0, total = 0;

    rd_kafka_topic_partition_list_add(parts, "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(parts, "t", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    *matching = 0;
    while (eofs < 2 && ktx_test_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else {
            ck_assert_msg(m->err == 0, "consume: %s", rd_kafka_message_errstr(m));
            total++;
            if (m->len >= strlen(prefix) && memcmp(m->payload, prefix, strlen(prefix)) == 0)
                (*matching)++;
        }
        rd_kafka_message_destroy(m);
    }
    ck_assert_int_eq(eofs, 2);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return total;
}

START_TEST(test_interop_read_committed_sees_committed_and_skips_aborted)
{
    const char *props[] = {"transactional.id", "interop-1", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, props);
    int matching;

    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "commit-", 6);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "abort-", 4);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ok(rd_kafka_abort_transaction(rk, TIMEOUT_MS), "abort");
    rd_kafka_destroy(rk);

    ck_assert_int_eq(consume_all("read_committed", "commit-", &matching), 6);
    ck_assert_int_eq(matching, 6);
    ck_assert_int_eq(consume_all("read_uncommitted", "abort-", &matching), 10);
    ck_assert_int_eq(matching, 4);
}
END_TEST

START_TEST(test_interop_offsets_sent_in_transaction_are_committed)
{
    const char *props[] = {"transactional.id", "interop-2", NULL};
    const char *group[] = {"group.id", "app", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, props);
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_consumer_group_metadata_t *cgm = rd_kafka_consumer_group_metadata_new("app");
    rd_kafka_t *consumer;

    rd_kafka_topic_partition_list_add(offsets, "t", 1)->offset = 42;
    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "x", 1);
    ok(rd_kafka_send_offsets_to_transaction(rk, offsets, cgm, TIMEOUT_MS), "send_offsets");
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    rd_kafka_consumer_group_metadata_destroy(cgm);
    rd_kafka_destroy(rk);

    offsets->elems[0].offset = -1;
    consumer = new_client(RD_KAFKA_CONSUMER, group);
    ck_assert_int_eq(rd_kafka_committed(consumer, offsets, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(offsets->elems[0].offset, 42);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_destroy(consumer);
}
END_TEST

START_TEST(test_interop_second_producer_fences_the_first)
{
    const char *props[] = {"transactional.id", "interop-3", NULL};
    rd_kafka_t *first = new_client(RD_KAFKA_PRODUCER, props);
    rd_kafka_t *second = new_client(RD_KAFKA_PRODUCER, props);
    rd_kafka_error_t *error;
    int matching;

    ok(rd_kafka_init_transactions(first, TIMEOUT_MS), "init first");
    ok(rd_kafka_begin_transaction(first), "begin first");
    produce(first, "zombie-", 2);
    ck_assert_int_eq(rd_kafka_flush(first, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* The second producer's InitProducerId aborts the first one's transaction. */
    ok(rd_kafka_init_transactions(second, TIMEOUT_MS), "init second");
    error = rd_kafka_commit_transaction(first, TIMEOUT_MS);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(rd_kafka_error_is_fatal(error), "expected a fatal fencing error, got %s",
                  rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    ok(rd_kafka_begin_transaction(second), "begin second");
    produce(second, "live-", 2);
    ok(rd_kafka_commit_transaction(second, TIMEOUT_MS), "commit second");
    rd_kafka_destroy(first);
    rd_kafka_destroy(second);

    ck_assert_int_eq(consume_all("read_committed", "live-", &matching), 2);
    ck_assert_int_eq(matching, 2);
}
END_TEST

START_TEST(test_interop_commit_after_transaction_timeout_fails_and_stays_invisible)
{
    const char *props[] = {"transactional.id", "interop-4", "transaction.timeout.ms", "2000", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, props);
    rd_kafka_error_t *error;
    int matching;

    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "late-", 2);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    usleep(2500 * 1000);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "txn-timeout-check"), 0);
    /* The coordinator aborted it and bumped the epoch: the late commit is fenced (or, when
     * librdkafka's own transaction timer fired first, refused as abortable). */
    error = rd_kafka_commit_transaction(rk, TIMEOUT_MS);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(rd_kafka_error_is_fatal(error) || rd_kafka_error_txn_requires_abort(error),
                  "unexpected: %s", rd_kafka_error_string(error));
    if (!rd_kafka_error_is_fatal(error)) {
        rd_kafka_error_t *abort_error = rd_kafka_abort_transaction(rk, TIMEOUT_MS);
        if (abort_error)
            rd_kafka_error_destroy(abort_error);
    }
    rd_kafka_error_destroy(error);
    rd_kafka_destroy(rk);
    /* Whether the late records reached the log depends on timing; they are never visible. */
    ck_assert_int_eq(consume_all("read_committed", "late-", &matching), 0);
    ck_assert_int_eq(matching, 0);
}
END_TEST

static Suite *broker_interop_suite(void)
{
    Suite *s = suite_create("broker_interop");
    TCase *tc = tcase_create("librdkafka");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_interop_read_committed_sees_committed_and_skips_aborted);
    tcase_add_test(tc, test_interop_offsets_sent_in_transaction_are_committed);
    tcase_add_test(tc, test_interop_second_producer_fences_the_first);
    tcase_add_test(tc, test_interop_commit_after_transaction_timeout_fails_and_stays_invisible);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_interop_suite)
