/*
 * Producer integration suite under faults injected through the cluster control interface
 * (tests/cluster.h): brokers going down and up, leaders moving, responses delayed past
 * request.timeout.ms, every retriable error class on Produce, UNKNOWN_PRODUCER_ID and
 * OUT_OF_ORDER_SEQUENCE_NUMBER, a broker process killed and restarted on its data directory,
 * and records that time out. Each test asserts what a user observes: the delivery reports
 * tell the truth, and an independent consumer (tests/verify.h) reads every delivered record
 * exactly once, in send order per partition, at its reported offset.
 *
 * Idempotence (no duplicate after a retry) is asserted on ktx-broker only: librdkafka's mock
 * does not check sequences of an idempotent producer without a transactional id.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "integ_util.h"
#include "kafkatx.h"

#define FLUSH_TIMEOUT_MS 60000

/* Sends records [from, to) of |run| and serves reports for |ms| milliseconds. */
static void send_and_poll(ktx_producer_t *producer, struct integ_run *run, size_t from, size_t to, int ms)
{
    int64_t until = ktx_test_now_ms() + ms;
    integ_send(producer, run, from, to);
    while (ktx_test_now_ms() < until)
        ktx_poll(producer, 20);
}

/* Flushes, destroys the producer and asserts that every record of |run| was delivered
 * exactly once (the reports and the independent consumer), with the integ_check() options
 * |flags| on top of INTEG_ALL_DELIVERED. */
static void finish_all_delivered(struct ktx_test_cluster *c, struct integ_run *run, ktx_producer_t *producer,
                                 unsigned flags)
{
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "ktx_flush");
    ck_assert_uint_eq(run->reports, run->n);
    ktx_producer_destroy(producer);
    integ_assert_exactly_once(run, ktx_test_cluster_bootstrap(c), INTEG_ALL_DELIVERED | flags);
    integ_run_free(run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}

/* ---- brokers down and up, leaders moving ---- */

static void down_and_up_mid_stream(enum ktx_test_peer peer)
{
    struct ktx_test_cluster *c = integ_cluster(peer, 3, NULL, "t", 3);
    struct integ_run run;
    ktx_producer_t *producer;

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 600, 11, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    send_and_poll(producer, &run, 0, 200, 50);
    integ_cmd(c, "down 1");
    integ_cmd(c, "down 2");
    send_and_poll(producer, &run, 200, 400, integ_ms(600));
    integ_cmd(c, "up 1");
    send_and_poll(producer, &run, 400, 500, 50);
    integ_cmd(c, "up 2");
    integ_send(producer, &run, 500, 600);
    finish_all_delivered(c, &run, producer, 0);
}

START_TEST(test_brokers_down_and_up_mid_stream_lose_and_duplicate_nothing_on_broker)
{
    down_and_up_mid_stream(KTX_TEST_PEER_BROKER);
}
END_TEST

START_TEST(test_brokers_down_and_up_mid_stream_lose_nothing_on_mock)
{
    down_and_up_mid_stream(KTX_TEST_PEER_MOCK);
}
END_TEST

static void leaders_move_mid_stream(enum ktx_test_peer peer)
{
    struct ktx_test_cluster *c = integ_cluster(peer, 3, NULL, "t", 3);
    struct integ_run run;
    ktx_producer_t *producer;

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 600, 12, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    send_and_poll(producer, &run, 0, 200, 100);
    integ_cmd(c, "leader t 0 2");
    integ_cmd(c, "leader t 1 3");
    integ_cmd(c, "leader t 2 1");
    send_and_poll(producer, &run, 200, 400, 100);
    integ_cmd(c, "leader t 0 3");
    integ_cmd(c, "leader t 1 1");
    integ_send(producer, &run, 400, 600);
    finish_all_delivered(c, &run, producer, 0);
}

START_TEST(test_leaders_moving_mid_stream_lose_and_duplicate_nothing_on_broker)
{
    leaders_move_mid_stream(KTX_TEST_PEER_BROKER);
}
END_TEST

START_TEST(test_leaders_moving_mid_stream_lose_nothing_on_mock)
{
    leaders_move_mid_stream(KTX_TEST_PEER_MOCK);
}
END_TEST

/*
 * KIP-951: ktx-broker names the new leader (CurrentLeader, NodeEndpoints) in a
 * NOT_LEADER_OR_FOLLOWER Produce answer. The retry must go there at once: every Metadata
 * answer is delayed by 3 s and the retry backoff is 1 s, so reports within 1 s prove that
 * neither a Metadata round trip nor the backoff was waited for.
 */
START_TEST(test_leader_hint_in_the_produce_answer_sends_the_retry_without_metadata_or_backoff)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 2, NULL, "t", 1);
    char backoff[16], delay[64];
    const char *props[] = {"retry.backoff.ms", backoff, "retry.backoff.max.ms", backoff, NULL};
    struct integ_run run;
    ktx_producer_t *producer;
    int64_t start, took;

    snprintf(backoff, sizeof(backoff), "%d", integ_ms(1000));
    integ_cmd(c, "leader t 0 1");
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 300, 43, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 100);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush before the move");
    integ_cmd(c, "leader t 0 2");
    snprintf(delay, sizeof(delay), "berr 1 3 0 %d", integ_ms(3000));
    integ_cmd(c, delay);
    snprintf(delay, sizeof(delay), "berr 2 3 0 %d", integ_ms(3000));
    integ_cmd(c, delay);
    start = ktx_test_now_ms();
    integ_send(producer, &run, 100, 200);
    ck_assert(integ_wait_reports(producer, &run, 200, integ_ms(10000)));
    took = ktx_test_now_ms() - start;
    ck_assert_msg(took < integ_ms(1000), "reports after %lld ms: the hint was not used", (long long)took);
    integ_send(producer, &run, 200, 300);
    finish_all_delivered(c, &run, producer, 0);
}
END_TEST

/* ---- delayed responses ---- */

START_TEST(test_produce_answered_after_request_timeout_is_retried_without_duplicate)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, "t", 2);
    char req_timeout[16], delay[64];
    const char *props[] = {"request.timeout.ms", req_timeout, "delivery.timeout.ms", "60000", NULL};
    struct integ_run run;
    ktx_producer_t *producer;

    int64_t start, took;

    snprintf(req_timeout, sizeof(req_timeout), "%d", integ_ms(800));
    integ_run_init(&run, "t", 2);
    integ_gen(&run, 300, 13, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 100);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "first flush");
    /* The broker appends the next two Produce requests at once but answers them only after
     * five request timeouts: the producer gives up on them and sends the batches again. */
    snprintf(delay, sizeof(delay), "berr 1 0 0 %d", integ_ms(4000));
    integ_cmd(c, delay);
    integ_cmd(c, delay);
    start = ktx_test_now_ms();
    integ_send(producer, &run, 100, 200);
    /* The reports come from a retry: after a request timeout, before any delayed answer. */
    ck_assert(integ_wait_reports(producer, &run, 200, integ_ms(3600)));
    took = ktx_test_now_ms() - start;
    ck_assert_msg(took >= integ_ms(800), "reports after %lld ms: no request timed out", (long long)took);
    integ_send(producer, &run, 200, 300);
    finish_all_delivered(c, &run, producer, 0);
}
END_TEST

START_TEST(test_produce_appended_but_unanswered_is_retried_and_written_once)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 3, NULL, "t", 3);
    struct integ_run run;
    ktx_producer_t *producer;

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 600, 15, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    send_and_poll(producer, &run, 0, 150, 50);
    /* Every broker appends its next Produce, then drops the connection without answering:
     * the producer must retry batches that are already in the log. */
    for (int b = 1; b <= 3; b++) {
        char line[64];
        snprintf(line, sizeof(line), "berr %d 0 -2 0", b);
        integ_cmd(c, line);
    }
    send_and_poll(producer, &run, 150, 450, 100);
    integ_cmd(c, "berr 2 0 -2 0");
    integ_send(producer, &run, 450, 600);
    finish_all_delivered(c, &run, producer, 0);
}
END_TEST

/* ---- retriable errors on Produce ---- */

/* The retriable Produce errors: each is injected twice and must cost nothing. */
static const int retriable_codes[] = {
    KTX_ERR_NOT_LEADER_OR_FOLLOWER, KTX_ERR_REQUEST_TIMED_OUT, KTX_ERR_NETWORK_EXCEPTION,
    KTX_ERR_NOT_ENOUGH_REPLICAS, KTX_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, KTX_ERR_KAFKA_STORAGE_ERROR,
    KTX_ERR_LEADER_NOT_AVAILABLE, KTX_ERR_CORRUPT_MESSAGE, -1 /* the connection dropped */,
};
#define N_RETRIABLE ((int)(sizeof(retriable_codes) / sizeof(retriable_codes[0])))

static void retriable_error_costs_nothing(enum ktx_test_peer peer, int code)
{
    /* The mock checks no sequences: it appends a later in-flight batch although an earlier
     * one failed, and appends again a batch whose answer was lost with its connection. So
     * order and duplicates are asserted on ktx-broker only; loss on both. */
    unsigned flags = peer == KTX_TEST_PEER_MOCK ? INTEG_AT_LEAST_ONCE : 0;
    struct ktx_test_cluster *c = integ_cluster(peer, 3, NULL, "t", 3);
    struct integ_run run;
    ktx_producer_t *producer;
    char line[64];

    integ_run_init(&run, "t", 3);
    integ_gen(&run, 300, 14 + (uint64_t)code, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    send_and_poll(producer, &run, 0, 100, 50);
    snprintf(line, sizeof(line), "err 0 2 %d", code);
    integ_cmd(c, line);
    send_and_poll(producer, &run, 100, 200, 50);
    integ_cmd(c, line);
    integ_send(producer, &run, 200, 300);
    finish_all_delivered(c, &run, producer, flags);
}

START_TEST(test_each_retriable_produce_error_is_retried_without_loss_or_duplicate_on_broker)
{
    retriable_error_costs_nothing(KTX_TEST_PEER_BROKER, retriable_codes[_i]);
}
END_TEST

START_TEST(test_each_retriable_produce_error_is_retried_without_loss_on_mock)
{
    retriable_error_costs_nothing(KTX_TEST_PEER_MOCK, retriable_codes[_i]);
}
END_TEST

/* ---- idempotence errors: the epoch is bumped, nothing is lost ---- */

static void idempotence_error_bumps_epoch(int code)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, "t", 1);
    struct integ_run run;
    ktx_producer_t *producer;
    int64_t pid_before = -1, pid_after = -1;
    int32_t epoch_before = -1, epoch_after = -1;
    char line[64];

    integ_run_init(&run, "t", 1);
    integ_gen(&run, 300, 20 + (uint64_t)code, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    integ_send(producer, &run, 0, 100);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "first flush");
    ck_assert_int_eq(integ_describe_producer(c, 1, "t", 0, &pid_before, &epoch_before), 1);
    snprintf(line, sizeof(line), "err 0 1 %d", code);
    integ_cmd(c, line);
    integ_send(producer, &run, 100, 200);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "second flush");
    integ_send(producer, &run, 200, 300);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "third flush");
    /* The records after the error were written by a new epoch (or a new producer id). */
    ck_assert_int_ge(integ_describe_producer(c, 1, "t", 0, &pid_after, &epoch_after), 1);
    ck_assert_msg(pid_after != pid_before || epoch_after > epoch_before,
                  "producer %lld epoch %d before, %lld epoch %d after: no epoch bump",
                  (long long)pid_before, epoch_before, (long long)pid_after, epoch_after);
    finish_all_delivered(c, &run, producer, 0);
}

START_TEST(test_unknown_producer_id_bumps_the_epoch_and_loses_nothing)
{
    idempotence_error_bumps_epoch(KTX_ERR_UNKNOWN_PRODUCER_ID);
}
END_TEST

START_TEST(test_out_of_order_sequence_bumps_the_epoch_and_loses_nothing)
{
    idempotence_error_bumps_epoch(KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
}
END_TEST

/* ---- a broker process killed and restarted on its data directory ---- */

/* Returns a port P such that P and P + 1 .. P + |count| - 1 were free a moment ago. */
static int free_port_range(int count)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int base = 20000 + (int)((getpid() * 7919 + attempt * 104729) % 40000);
        bool all = true;
        for (int i = 0; i < count && all; i++) {
            struct sockaddr_in sa;
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            memset(&sa, 0, sizeof(sa));
            sa.sin_family = AF_INET;
            sa.sin_port = htons((uint16_t)(base + i));
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            all = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
            if (fd >= 0)
                close(fd);
        }
        if (all)
            return base;
    }
    ck_abort_msg("no free port range");
    return -1;
}

/*
 * Runs a stream of 900 records against a 3-broker ktx-broker on a data directory; after 300
 * flushed and 300 more just sent, stops the process (|crash|: SIGKILL, else `quit`), keeps
 * sending while it is away, starts it again on the same ports and data directory, and sends
 * the rest. Every record must be reported delivered and be in the log once, in order, at
 * its reported offset.
 */
static void restart_mid_stream(bool crash)
{
    char dir[] = "/tmp/ktx-integ-restart-XXXXXX", port[16], cmd[256];
    const char *args[] = {"--data-dir", dir, "--port-base", port, NULL};
    struct ktx_test_cluster *c;
    struct integ_run run;
    ktx_producer_t *producer;
    char bootstrap[256];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(port, sizeof(port), "%d", free_port_range(3));
    c = integ_cluster(KTX_TEST_PEER_BROKER, 3, args, "t", 3);
    snprintf(bootstrap, sizeof(bootstrap), "%s", ktx_test_cluster_bootstrap(c));
    integ_run_init(&run, "t", 3);
    integ_gen(&run, 900, 30, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, bootstrap, NULL);
    integ_send(producer, &run, 0, 300);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush before the restart");
    send_and_poll(producer, &run, 300, 600, 5);
    if (crash)
        kill(ktx_test_cluster_pid(c), SIGKILL);
    ktx_test_cluster_stop(c);
    send_and_poll(producer, &run, 600, 700, integ_ms(300));
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 3, args), 0);
    ck_assert_str_eq(ktx_test_cluster_bootstrap(c), bootstrap);
    integ_send(producer, &run, 700, 900);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush after the restart");
    ktx_producer_destroy(producer);
    integ_assert_exactly_once(&run, bootstrap, INTEG_ALL_DELIVERED);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_broker_restarted_on_its_data_dir_mid_stream_loses_duplicates_and_reorders_nothing)
{
    restart_mid_stream(false);
}
END_TEST

START_TEST(test_broker_killed_and_restarted_on_its_data_dir_loses_duplicates_and_reorders_nothing)
{
    restart_mid_stream(true);
}
END_TEST

START_TEST(test_brokers_restarted_in_process_on_the_data_dir_mid_stream_lose_and_duplicate_nothing)
{
    char dir[] = "/tmp/ktx-integ-brestart-XXXXXX", cmd[256];
    const char *args[] = {"--data-dir", dir, NULL};
    struct ktx_test_cluster *c;
    struct integ_run run;
    ktx_producer_t *producer;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    c = integ_cluster(KTX_TEST_PEER_BROKER, 3, args, "t", 3);
    integ_run_init(&run, "t", 3);
    integ_gen(&run, 600, 31, 200, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), NULL);
    integ_send(producer, &run, 0, 200);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush before the restarts");
    /* `restart` drops the connections and reloads everything from the data directory. */
    integ_cmd(c, "restart 1");
    send_and_poll(producer, &run, 200, 400, integ_ms(400));
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush between the restarts");
    integ_cmd(c, "restart 2");
    integ_cmd(c, "restart 3");
    integ_send(producer, &run, 400, 600);
    finish_all_delivered(c, &run, producer, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- records that time out: the reports tell the truth ---- */

START_TEST(test_records_timing_out_while_the_broker_is_down_are_reported_failed_and_absent)
{
    struct ktx_test_cluster *c = integ_cluster(KTX_TEST_PEER_BROKER, 1, NULL, "t", 2);
    char req[16], dlv[16];
    const char *props[] = {"request.timeout.ms", req, "delivery.timeout.ms", dlv, "linger.ms", "0", NULL};
    struct integ_run run;
    ktx_producer_t *producer;

    snprintf(req, sizeof(req), "%d", integ_ms(500));
    snprintf(dlv, sizeof(dlv), "%d", integ_ms(1000));
    integ_run_init(&run, "t", 2);
    integ_gen(&run, 300, 40, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 100);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush while up");
    integ_cmd(c, "down 1");
    integ_send(producer, &run, 100, 200);
    ck_assert(integ_wait_reports(producer, &run, 200, integ_ms(10000)));
    for (size_t i = 100; i < 200; i++)
        ck_assert_msg(run.recs[i].err == KTX_ERR_MSG_TIMED_OUT, "record %zu: %s", i,
                      ktx_err_name(run.recs[i].err));
    integ_cmd(c, "up 1");
    integ_send(producer, &run, 200, 300);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush after up");
    ktx_producer_destroy(producer);
    for (size_t i = 200; i < 300; i++)
        ck_assert_msg(run.recs[i].err == 0, "record %zu after up: %s", i, ktx_err_name(run.recs[i].err));
    /* The broker was down: a record reported timed out cannot be in the log. */
    for (size_t i = 100; i < 200; i++)
        run.recs[i].absent = true;
    integ_assert_exactly_once(&run, ktx_test_cluster_bootstrap(c), 0);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/*
 * A batch whose delivery.timeout.ms passes while its request is out: a first attempt fails
 * with a retriable error, the retry goes out after the backoff and its answer is delayed
 * past delivery.timeout.ms (but within request.timeout.ms). The report must say timed out
 * at delivery.timeout.ms, not when the late answer comes; the late acknowledgement must not
 * give a second report and proves the batch landed, so the partition resolves without an
 * epoch bump and what follows is written once, in order, after it.
 */
static void batch_expiring_in_flight(enum ktx_test_peer peer)
{
    struct ktx_test_cluster *c = integ_cluster(peer, 1, NULL, "t", 1);
    char req[16], dlv[16], backoff[16], delay[64];
    const char *props[] = {"request.timeout.ms", req, "delivery.timeout.ms", dlv, "retry.backoff.ms", backoff,
                           "retry.backoff.max.ms", backoff, NULL};
    struct integ_run run;
    ktx_producer_t *producer;
    int64_t start, took, pid = -1, pid_after = -1;
    int32_t epoch = -1, epoch_after = -1;

    /* Retry at ~1500 ms, its answer at ~3900 ms: after delivery.timeout.ms (3000 ms) with
     * 900 ms to spare, before the retry's request.timeout.ms (~4400 ms). */
    snprintf(req, sizeof(req), "%d", integ_ms(2900));
    snprintf(dlv, sizeof(dlv), "%d", integ_ms(3000));
    snprintf(backoff, sizeof(backoff), "%d", integ_ms(1500));
    integ_run_init(&run, "t", 1);
    integ_gen(&run, 101, 41, 100, INTEG_ROUND_ROBIN);
    producer = integ_producer(&run, ktx_test_cluster_bootstrap(c), props);
    integ_send(producer, &run, 0, 50);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush before the faults");
    if (peer == KTX_TEST_PEER_BROKER)
        ck_assert_int_eq(integ_describe_producer(c, 1, "t", 0, &pid, &epoch), 1);
    integ_cmd(c, "berr 1 0 19 0"); /* NOT_ENOUGH_REPLICAS: not appended, retried */
    snprintf(delay, sizeof(delay), "berr 1 0 0 %d", integ_ms(2400));
    integ_cmd(c, delay);
    start = ktx_test_now_ms();
    integ_send(producer, &run, 50, 51);
    ck_assert(integ_wait_reports(producer, &run, 51, integ_ms(10000)));
    took = ktx_test_now_ms() - start;
    ck_assert_msg(run.recs[50].err == KTX_ERR_MSG_TIMED_OUT, "record 50: %s after %lld ms",
                  ktx_err_name(run.recs[50].err), (long long)took);
    ck_assert_msg(took >= integ_ms(3000) - 50 && took <= integ_ms(3000) + integ_ms(500),
                  "timed out after %lld ms, delivery.timeout.ms is %d", (long long)took, integ_ms(3000));
    /* The late answer comes; then the rest goes after the record of unknown fate. */
    while (ktx_test_now_ms() < start + integ_ms(4400))
        ktx_poll(producer, 20);
    integ_send(producer, &run, 51, 101);
    integ_ok(ktx_flush(producer, FLUSH_TIMEOUT_MS), "flush after the late answer");
    ktx_producer_destroy(producer);
    for (size_t i = 0; i < run.n; i++)
        ck_assert_msg(i == 50 || run.recs[i].err == 0, "record %zu: %s", i, ktx_err_name(run.recs[i].err));
    if (peer == KTX_TEST_PEER_BROKER) {
        /* The acknowledgement resolved the partition: no epoch bump was needed. */
        ck_assert_int_eq(integ_describe_producer(c, 1, "t", 0, &pid_after, &epoch_after), 1);
        ck_assert_int_eq(pid_after, pid);
        ck_assert_int_eq(epoch_after, epoch);
    }
    /* Exactly one report per record (integ_check), the timed-out one at most once in the
     * log, everything else once and in order. */
    integ_assert_exactly_once(&run, ktx_test_cluster_bootstrap(c),
                              peer == KTX_TEST_PEER_MOCK ? INTEG_AT_LEAST_ONCE : 0);
    integ_run_free(&run);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}

START_TEST(test_batch_expiring_in_flight_is_reported_timed_out_once_on_broker)
{
    batch_expiring_in_flight(KTX_TEST_PEER_BROKER);
}
END_TEST

START_TEST(test_batch_expiring_in_flight_is_reported_timed_out_once_on_mock)
{
    batch_expiring_in_flight(KTX_TEST_PEER_MOCK);
}
END_TEST

static Suite *producer_faults_suite(void)
{
    Suite *s = suite_create("producer_faults");
    TCase *moves = tcase_create("down_up_leader");
    TCase *errors = tcase_create("errors");
    TCase *restart = tcase_create("restart_and_timeouts");

    tcase_set_timeout(moves, 120);
    tcase_set_timeout(errors, 120);
    tcase_set_timeout(restart, 120);
    tcase_add_test(moves, test_brokers_down_and_up_mid_stream_lose_and_duplicate_nothing_on_broker);
    tcase_add_test(moves, test_brokers_down_and_up_mid_stream_lose_nothing_on_mock);
    tcase_add_test(moves, test_leaders_moving_mid_stream_lose_and_duplicate_nothing_on_broker);
    tcase_add_test(moves, test_leaders_moving_mid_stream_lose_nothing_on_mock);
    tcase_add_test(moves, test_leader_hint_in_the_produce_answer_sends_the_retry_without_metadata_or_backoff);
    tcase_add_test(errors, test_produce_answered_after_request_timeout_is_retried_without_duplicate);
    tcase_add_test(errors, test_produce_appended_but_unanswered_is_retried_and_written_once);
    tcase_add_loop_test(errors, test_each_retriable_produce_error_is_retried_without_loss_or_duplicate_on_broker,
                        0, N_RETRIABLE);
    tcase_add_loop_test(errors, test_each_retriable_produce_error_is_retried_without_loss_on_mock, 0,
                        N_RETRIABLE);
    tcase_add_test(errors, test_unknown_producer_id_bumps_the_epoch_and_loses_nothing);
    tcase_add_test(errors, test_out_of_order_sequence_bumps_the_epoch_and_loses_nothing);
    tcase_add_test(restart, test_broker_restarted_on_its_data_dir_mid_stream_loses_duplicates_and_reorders_nothing);
    tcase_add_test(restart, test_brokers_restarted_in_process_on_the_data_dir_mid_stream_lose_and_duplicate_nothing);
    /* ktx-broker writes what a poll pass stored to its data directory before it sends the
     * answers of that pass, so a SIGKILL never loses an acknowledged batch. */
    tcase_add_test(restart, test_broker_killed_and_restarted_on_its_data_dir_loses_duplicates_and_reorders_nothing);
    tcase_add_test(restart, test_records_timing_out_while_the_broker_is_down_are_reported_failed_and_absent);
    tcase_add_test(restart, test_batch_expiring_in_flight_is_reported_timed_out_once_on_broker);
    tcase_add_test(restart, test_batch_expiring_in_flight_is_reported_timed_out_once_on_mock);
    suite_add_tcase(s, moves);
    suite_add_tcase(s, errors);
    suite_add_tcase(s, restart);
    return s;
}

KTX_CHECK_MAIN(producer_faults_suite)
