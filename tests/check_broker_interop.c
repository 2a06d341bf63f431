/*
 * Interop tests: librdkafka's transactional, idempotent and consuming clients against
 * ktx-broker (started through tests/cluster.h). They show that the reference broker
 * enforces what a real client relies on, record for record: committed records visible and
 * aborted ones filtered under read_committed (and all of them under read_uncommitted), an
 * open transaction holding the LSO back, offsets committed inside a transaction, a second
 * producer fencing the first (whose records never become visible), a transaction aborted
 * by its timeout, a Produce retried after it was appended acknowledged without a second
 * append, broker restarts on a data directory (leader mid-stream, coordinator
 * mid-transaction, refused connections), and both peers starting within a second.
 * Built only with librdkafka; tests/check_broker_kcat.c does the same reads with kcat.
 */
#include "check_util.h"

#include "cluster.h"

#include <dirent.h>
#include <errno.h>
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

/* What a consumer read from t/0 and t/1: the values of each partition in offset order,
 * joined by commas ("a,b,c"), and where each partition's end of data was reported. */
struct readback {
    char values[2][4096];
    int64_t eof_offset[2];
    int total;
};

static void readback_add(struct readback *rb, const rd_kafka_message_t *m)
{
    char *dst = rb->values[m->partition];
    size_t used = strlen(dst);

    ck_assert_uint_lt(used + m->len + 2, sizeof(rb->values[0]));
    if (used)
        dst[used++] = ',';
    memcpy(dst + used, m->payload, m->len);
    dst[used + m->len] = '\0';
    rb->total++;
}

/* Reads t/0 and t/1 from the beginning to their end with |isolation| into |*rb|. */
static void read_both(const char *isolation, struct readback *rb)
{
    /* A short fetch wait: the end of each partition is reported a fetch after its data. */
    const char *props[] = {"isolation.level", isolation, "fetch.wait.max.ms", "20",
                           "fetch.error.backoff.ms", "10", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, props);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    int64_t deadline = ktx_test_now_ms() + TIMEOUT_MS;
    int eofs = 0;

    memset(rb, 0, sizeof(*rb));
    rd_kafka_topic_partition_list_add(parts, "t", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(parts, "t", 1)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    while (eofs < 2 && ktx_test_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        ck_assert_msg(m->err == 0 || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF, "consume: %s",
                      rd_kafka_message_errstr(m));
        ck_assert_int_ge(m->partition, 0);
        ck_assert_int_le(m->partition, 1);
        if (m->err) {
            eofs++;
            rb->eof_offset[m->partition] = m->offset;
        } else {
            readback_add(rb, m);
        }
        rd_kafka_message_destroy(m);
    }
    ck_assert_int_eq(eofs, 2);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

START_TEST(test_interop_read_committed_sees_committed_and_skips_aborted)
{
    const char *props[] = {"transactional.id", "interop-1", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, props);
    struct readback rb;

    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "commit-", 6);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "abort-", 4);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ok(rd_kafka_abort_transaction(rk, TIMEOUT_MS), "abort");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "again-", 2);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    rd_kafka_destroy(rk);

    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], "commit-0,commit-2,commit-4,again-0");
    ck_assert_str_eq(rb.values[1], "commit-1,commit-3,commit-5,again-1");
    read_both("read_uncommitted", &rb);
    ck_assert_str_eq(rb.values[0], "commit-0,commit-2,commit-4,abort-0,abort-2,again-0");
    ck_assert_str_eq(rb.values[1], "commit-1,commit-3,commit-5,abort-1,abort-3,again-1");
}
END_TEST

/* Produces one record |value| to t/|partition| with |rk| and waits for it to be acknowledged. */
static void produce_one(rd_kafka_t *rk, int32_t partition, const char *value)
{
    ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/*
 * An open transaction on t/0 (its record at offset 0) followed by two records of an
 * idempotent producer: read_committed stops at offset 0 (the LSO) while read_uncommitted
 * sees all three. Then the transaction is committed (|_i| 0) or aborted (|_i| 1), and
 * read_committed sees the records the outcome allows, in offset order.
 */
START_TEST(test_interop_open_transaction_holds_the_lso_until_it_ends)
{
    const char *txn_props[] = {"transactional.id", "interop-lso", NULL};
    const char *idem_props[] = {"enable.idempotence", "true", NULL};
    rd_kafka_t *txn = new_client(RD_KAFKA_PRODUCER, txn_props);
    rd_kafka_t *idem = new_client(RD_KAFKA_PRODUCER, idem_props);
    struct readback rb;
    bool commit = _i == 0;

    ok(rd_kafka_init_transactions(txn, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(txn), "begin");
    produce_one(txn, 0, "txn-0");
    produce_one(idem, 0, "plain-0");
    produce_one(idem, 0, "plain-1");

    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], "");
    ck_assert_int_eq(rb.eof_offset[0], 0); /* the LSO: the open transaction's first offset */
    read_both("read_uncommitted", &rb);
    ck_assert_str_eq(rb.values[0], "txn-0,plain-0,plain-1");
    ck_assert_int_eq(rb.eof_offset[0], 3);

    if (commit)
        ok(rd_kafka_commit_transaction(txn, TIMEOUT_MS), "commit");
    else
        ok(rd_kafka_abort_transaction(txn, TIMEOUT_MS), "abort");
    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], commit ? "txn-0,plain-0,plain-1" : "plain-0,plain-1");
    ck_assert_int_eq(rb.eof_offset[0], 4); /* past the marker */
    rd_kafka_destroy(txn);
    rd_kafka_destroy(idem);
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
    struct readback rb;

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

    /* The zombie's records reached the log, yet read_committed never returns them. */
    read_both("read_uncommitted", &rb);
    ck_assert_str_eq(rb.values[0], "zombie-0,live-0");
    ck_assert_str_eq(rb.values[1], "zombie-1,live-1");
    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], "live-0");
    ck_assert_str_eq(rb.values[1], "live-1");
}
END_TEST

START_TEST(test_interop_commit_after_transaction_timeout_fails_and_stays_invisible)
{
    const char *props[] = {"transactional.id", "interop-4", "transaction.timeout.ms", "2000", NULL};
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, props);
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t fatal;
    char fatal_str[256];
    struct readback rb;

    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "late-", 2);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    usleep(2500 * 1000);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "txn-timeout-check"), 0);
    /* The coordinator aborted it and bumped the epoch: the late commit is fenced, which
     * librdkafka reports as the fatal _FENCED error (the broker's PRODUCER_FENCED or
     * INVALID_PRODUCER_EPOCH underneath). */
    error = rd_kafka_commit_transaction(rk, TIMEOUT_MS);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(rd_kafka_error_is_fatal(error) && rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FENCED,
                  "expected a fatal _FENCED, got %s: %s", rd_kafka_error_name(error),
                  rd_kafka_error_string(error));
    fatal = rd_kafka_fatal_error(rk, fatal_str, sizeof(fatal_str));
    ck_assert_msg(fatal == RD_KAFKA_RESP_ERR_PRODUCER_FENCED || fatal == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
                      fatal == RD_KAFKA_RESP_ERR__FENCED,
                  "underlying error %s", rd_kafka_err2name(fatal));
    rd_kafka_error_destroy(error);
    rd_kafka_destroy(rk);
    /* The late records reached the log (flushed before the timeout), yet stay invisible. */
    read_both("read_uncommitted", &rb);
    ck_assert_str_eq(rb.values[0], "late-0");
    ck_assert_str_eq(rb.values[1], "late-1");
    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], "");
    ck_assert_str_eq(rb.values[1], "");
}
END_TEST

/* The latest statistics JSON of a producer (served by rd_kafka_poll on the test thread). */
static char last_stats[65536];

static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)rk;
    (void)opaque;
    snprintf(last_stats, sizeof(last_stats), "%.*s", (int)json_len, json);
    return 0;
}

/* Returns the sum of every "disconnects" counter of the next statistics of |rk|. */
static long disconnects(rd_kafka_t *rk)
{
    int64_t deadline = ktx_test_now_ms() + 3000;
    long sum = 0;

    last_stats[0] = '\0';
    while (!last_stats[0] && ktx_test_now_ms() < deadline)
        rd_kafka_poll(rk, 50);
    ck_assert_msg(last_stats[0] != '\0', "no statistics");
    for (const char *p = strstr(last_stats, "\"disconnects\":"); p; p = strstr(p + 1, "\"disconnects\":"))
        sum += strtol(p + strlen("\"disconnects\":"), NULL, 10);
    return sum;
}

/* A producer with idempotence and statistics every 100 ms. */
static rd_kafka_t *new_idempotent_producer(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", ktx_test_cluster_bootstrap(cluster),
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "statistics.interval.ms", "100", err, sizeof(err)), RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    return rk;
}

/* Queues |n| records "<prefix><i>" to t/0 without waiting for them. */
static void produce_to_p0(rd_kafka_t *rk, const char *prefix, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char v[64];
        int len = snprintf(v, sizeof(v), "%s%d", prefix, i);
        ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(v, (size_t)len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
}

/* "<prefix>from,...,<prefix>(from+n-1)" after |head| (and a comma when |head| is not ""). */
static void expected_values(char *out, size_t len, const char *head, const char *prefix, int from, int n)
{
    size_t used = (size_t)snprintf(out, len, "%s", head);

    for (int i = from; i < from + n; i++) {
        used += (size_t)snprintf(out + used, len - used, "%s%s%d", used ? "," : "", prefix, i);
        ck_assert_uint_lt(used, len);
    }
}

/*
 * The broker appends librdkafka's first Produce to t/0 (leader: broker 1), then drops the
 * connection without answering (berr CODE -2). The idempotent producer retries the same
 * batch on a new connection; the broker must acknowledge it as a duplicate instead of
 * appending it again: every record is in the log exactly once, in order.
 */
START_TEST(test_interop_retried_produce_that_was_appended_is_acknowledged_not_appended)
{
    rd_kafka_t *rk = new_idempotent_producer();
    char want[4096];
    struct readback rb;

    produce_to_p0(rk, "w", 0, 1);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(disconnects(rk), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "berr 1 0 -2 0"), 0);
    produce_to_p0(rk, "r", 0, 50);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_ge(disconnects(rk), 1); /* the fault fired: the first attempt was appended */
    rd_kafka_destroy(rk);

    read_both("read_uncommitted", &rb);
    expected_values(want, sizeof(want), "w0", "r", 0, 50);
    ck_assert_str_eq(rb.values[0], want);
    ck_assert_int_eq(rb.eof_offset[0], 51);
}
END_TEST

/* ---- restarts on a data directory ---- */

static char data_dir[64];

static void setup_data_dir(void)
{
    const char *args[] = {"--data-dir", data_dir, NULL};

    snprintf(data_dir, sizeof(data_dir), "/tmp/ktx-interop-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(data_dir));
    ck_assert_int_eq(ktx_test_cluster_start(&cluster, KTX_TEST_PEER_BROKER, 3, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "topic t 2 3"), 0);
}

static void teardown_data_dir(void)
{
    DIR *d;
    struct dirent *e;
    char path[512];

    ck_assert_int_eq(ktx_test_cluster_stop(cluster), 0);
    ck_assert_ptr_nonnull(d = opendir(data_dir));
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", data_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(data_dir);
}

/*
 * The leader of t/0 (broker 1) restarts while a Produce it appended is still unanswered
 * (its answer held back 800 ms): the restart drops the connection, reloads the log from
 * the data directory (producer state rebuilt by scanning it) and refuses connections for
 * a moment. The idempotent producer retries and goes on; every record is in the log
 * exactly once, in order.
 */
START_TEST(test_interop_leader_restart_mid_stream_keeps_every_record_exactly_once)
{
    rd_kafka_t *rk = new_idempotent_producer();
    char want[4096];
    struct readback rb;

    produce_to_p0(rk, "w", 0, 1);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "berr 1 0 0 800"), 0);
    produce_to_p0(rk, "r", 0, 100);
    usleep(300 * 1000); /* the first Produce is appended, its answer waits */
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "restart 1"), 0);
    produce_to_p0(rk, "r", 100, 100);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_ge(disconnects(rk), 1);
    rd_kafka_destroy(rk);

    read_both("read_uncommitted", &rb);
    expected_values(want, sizeof(want), "w0", "r", 0, 200);
    ck_assert_str_eq(rb.values[0], want);
    ck_assert_int_eq(rb.eof_offset[0], 201);
}
END_TEST

/*
 * The transaction coordinator (placed on broker 3) restarts while a transaction is open:
 * it reloads the transaction from the data directory, and the producer's commit (|_i| 0)
 * or abort (|_i| 1) completes after the restart, with the outcome read_committed shows.
 */
START_TEST(test_interop_coordinator_restart_mid_transaction_leaves_it_resolvable)
{
    const char *props[] = {"transactional.id", "interop-restart", NULL};
    rd_kafka_t *rk;
    struct readback rb;
    bool commit = _i == 0;

    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "coord txn interop-restart 3"), 0);
    rk = new_client(RD_KAFKA_PRODUCER, props);
    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "in-", 4);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "restart 3"), 0);
    if (commit)
        ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit after the restart");
    else
        ok(rd_kafka_abort_transaction(rk, TIMEOUT_MS), "abort after the restart");
    ok(rd_kafka_begin_transaction(rk), "begin after the restart");
    produce(rk, "next-", 2);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit the next transaction");
    rd_kafka_destroy(rk);

    read_both("read_committed", &rb);
    ck_assert_str_eq(rb.values[0], commit ? "in-0,in-2,next-0" : "next-0");
    ck_assert_str_eq(rb.values[1], commit ? "in-1,in-3,next-1" : "next-1");
    read_both("read_uncommitted", &rb);
    ck_assert_str_eq(rb.values[0], "in-0,in-2,next-0");
}
END_TEST

/* A restarted broker refuses connections for a moment (KB_RESTART_REFUSE_MS, 300 ms),
 * then accepts them again on the same port; the other brokers keep accepting. */
START_TEST(test_interop_restarted_broker_refuses_connections_for_a_moment)
{
    int fd;
    int64_t t0;

    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "restart 2"), 0);
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(ktx_test_cluster_connect(cluster, 2, 1000), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_int_ge(fd = ktx_test_cluster_connect(cluster, 1, 1000), 0);
    close(fd);
    while ((fd = ktx_test_cluster_connect(cluster, 2, 1000)) < 0 && ktx_test_now_ms() - t0 < 3000)
        usleep(20 * 1000);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 250);
    close(fd);
}
END_TEST

/* ---- start-up ---- */

/* Both peers print their BOOTSTRAP line within a second of being started. */
START_TEST(test_interop_both_peers_start_within_one_second)
{
    static const enum ktx_test_peer peers[] = {KTX_TEST_PEER_BROKER, KTX_TEST_PEER_MOCK};

    for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
        struct ktx_test_cluster *c = NULL;
        int64_t t0 = ktx_test_now_ms();
        ck_assert_int_eq(ktx_test_cluster_start(&c, peers[i], 3, NULL), 0);
        ck_assert_int_lt(ktx_test_now_ms() - t0, 1000);
        ck_assert_int_eq(ktx_test_cluster_broker_count(c), 3);
        ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    }
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
    tcase_add_loop_test(tc, test_interop_open_transaction_holds_the_lso_until_it_ends, 0, 2);
    tcase_add_test(tc, test_interop_retried_produce_that_was_appended_is_acknowledged_not_appended);
    suite_add_tcase(s, tc);

    tc = tcase_create("restart");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup_data_dir, teardown_data_dir);
    tcase_add_test(tc, test_interop_leader_restart_mid_stream_keeps_every_record_exactly_once);
    tcase_add_loop_test(tc, test_interop_coordinator_restart_mid_transaction_leaves_it_resolvable, 0, 2);
    tcase_add_test(tc, test_interop_restarted_broker_refuses_connections_for_a_moment);
    suite_add_tcase(s, tc);

    tc = tcase_create("startup");
    tcase_add_test(tc, test_interop_both_peers_start_within_one_second);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_interop_suite)
