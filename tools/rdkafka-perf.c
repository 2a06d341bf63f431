/*
 * rdkafka-perf: the librdkafka side of the side-by-side benchmark. Same options, same
 * measurement code (perf-common.c) and same result line as ktx-perf, so that
 * tools/perf-compare.sh can run both against one cluster and report ratios.
 *
 * TEST-ONLY program: linked with librdkafka, never installed, never part of the library.
 *
 * Settings applied before the -X properties (see docs/benchmarks.md for why):
 * acks=all, linger.ms=5, enable.idempotence per --mode, compression.codec per -z,
 * queue.buffering.max.kbytes=32768 (kafkatx's buffer.memory default of 32 MiB, so that both
 * clients queue the same amount before pushing back), queue.buffering.max.messages=10000000
 * (so that the byte limit is the one that applies), partitioner=murmur2_random (Java's and
 * kafkatx's placement of keyed records), statistics.interval.ms=500 (for batching figures),
 * and in transactional mode transactional.id=rdkafka-perf-<pid>.
 *
 * Batches per Produce request come from librdkafka's statistics: the sum over the stats
 * windows of every topic's "batchcnt" sample count (one sample per batch), divided by the
 * sum of the brokers' cumulative "req"."Produce" counters in the last statistics after the
 * window.
 */
#include "perf-common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define PROG "rdkafka-perf"
/* How long flush and the transactional calls may take before the run is declared failed. */
#define CALL_TIMEOUT_MS 300000
#define STATS_INTERVAL_MS 500

/* Everything one run holds. */
struct rdk_perf {
    struct perf_opts opts;
    struct perf_run run;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    char *payload;
    long long stats_batches;  /* sum of "batchcnt" counts over every statistics window */
    long long stats_requests; /* the last statistics' sum of Produce requests */
    int stats_seen;           /* statistics callbacks served so far */
};

/* Delivery report: the send time travels in the message opaque. Thread: application. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct rdk_perf *perf = opaque;

    (void)rk;
    perf_on_delivery(&perf->run, (uint64_t)(uintptr_t)msg->_private,
                     msg->err ? rd_kafka_err2str(msg->err) : NULL);
}

/* Returns the sum of the numbers that follow each |key| in |json| (after |inner| if set). */
static long long sum_after(const char *json, const char *key, const char *inner)
{
    long long sum = 0;
    const char *p = json;

    while ((p = strstr(p, key)) != NULL) {
        p += strlen(key);
        if (inner != NULL) {
            const char *q = strstr(p, inner);
            if (q == NULL)
                break;
            p = q + strlen(inner);
        }
        sum += strtoll(p, NULL, 10);
    }
    return sum;
}

/*
 * Statistics: accumulates the batch count of this window and keeps the cumulative Produce
 * request count. Thread: application (inside poll/flush). Returns 0: librdkafka frees |json|.
 */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct rdk_perf *perf = opaque;

    (void)rk;
    (void)len;
    perf->stats_batches += sum_after(json, "\"batchcnt\":", "\"cnt\":");
    perf->stats_requests = sum_after(json, "\"Produce\":", NULL);
    perf->stats_seen++;
    return 0;
}

/* Sets |name| to |value| in |conf|; prints the reason and returns -1 when refused. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        perf_warn(PROG, "%s=%s: %s", name, value, errstr);
        return -1;
    }
    return 0;
}

/* Applies the benchmark's defaults, then the -X properties. Returns 0 or -1. */
static int conf_fill(struct rdk_perf *perf, rd_kafka_conf_t *conf)
{
    const struct perf_opts *opts = &perf->opts;
    char txn_id[64];
    int rc = 0;

    rc |= conf_set(conf, "bootstrap.servers", opts->bootstrap);
    rc |= conf_set(conf, "acks", "all");
    rc |= conf_set(conf, "linger.ms", "5");
    rc |= conf_set(conf, "enable.idempotence", opts->mode == PERF_MODE_PLAIN ? "false" : "true");
    rc |= conf_set(conf, "compression.codec", opts->compression);
    rc |= conf_set(conf, "queue.buffering.max.kbytes", "32768");
    rc |= conf_set(conf, "queue.buffering.max.messages", "10000000");
    rc |= conf_set(conf, "partitioner", "murmur2_random");
    rc |= conf_set(conf, "statistics.interval.ms", "500");
    if (opts->mode == PERF_MODE_TRANSACTIONAL) {
        snprintf(txn_id, sizeof(txn_id), "rdkafka-perf-%ld", (long)getpid());
        rc |= conf_set(conf, "transactional.id", txn_id);
    }
    if (opts->verbose)
        rc |= conf_set(conf, "debug", "eos");
    for (int i = 0; i < opts->n_props; i++)
        rc |= conf_set(conf, opts->props[i].name, opts->props[i].value);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, perf);
    return rc ? -1 : 0;
}

/* Creates the producer and the topic handle. Returns 0 or -1 after printing why. */
static int producer_open(struct rdk_perf *perf)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];

    if (conf_fill(perf, conf) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    perf->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (perf->rk == NULL) {
        perf_warn(PROG, "rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    perf->rkt = rd_kafka_topic_new(perf->rk, perf->opts.topic, NULL);
    if (perf->rkt == NULL) {
        perf_warn(PROG, "topic %s: %s", perf->opts.topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    return 0;
}

/*
 * Hands record |seq| to librdkafka for |partition|, stamped with the time before the first
 * attempt; on a full queue serves delivery reports and tries again. Returns 0 or -1.
 */
static int send_one(struct rdk_perf *perf, uint64_t seq, int32_t partition)
{
    const struct perf_opts *opts = &perf->opts;
    uint64_t sent_ns = perf_now_ns();
    char key[16];

    if (opts->keyed)
        perf_key_format(key, seq);
    for (;;) {
        if (rd_kafka_produce(perf->rkt, partition, RD_KAFKA_MSG_F_COPY, perf->payload, opts->size,
                             opts->keyed ? key : NULL, opts->keyed ? sizeof(key) : 0,
                             (void *)(uintptr_t)sent_ns) == 0)
            break;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            perf_warn(PROG, "produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
        rd_kafka_poll(perf->rk, 10);
    }
    if (seq % (uint64_t)opts->poll_every == 0)
        rd_kafka_poll(perf->rk, 0);
    return 0;
}

/* Sends |count| records starting at sequence |*seq| to any partition. Returns 0 or -1. */
static int send_many(struct rdk_perf *perf, uint64_t *seq, long long count)
{
    for (long long i = 0; i < count; i++)
        if (send_one(perf, (*seq)++, RD_KAFKA_PARTITION_UA) != 0)
            return -1;
    return 0;
}

/* Prints |what| and the message of |error|, then destroys it. Returns -1 if it was set. */
static int check_error(rd_kafka_error_t *error, const char *what)
{
    if (error == NULL)
        return 0;
    perf_warn(PROG, "%s: %s", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return -1;
}

static int flush_all(struct rdk_perf *perf)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(perf->rk, CALL_TIMEOUT_MS);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        perf_warn(PROG, "flush: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Commits the open transaction and accounts its duration. Returns 0 or -1. */
static int commit_timed(struct rdk_perf *perf)
{
    uint64_t began = perf_now_ns();

    if (check_error(rd_kafka_commit_transaction(perf->rk, CALL_TIMEOUT_MS), "commit") != 0)
        return -1;
    if (perf->run.in_window)
        perf_on_commit(&perf->run, began);
    return 0;
}

/*
 * Warm-up, outside the window: one record to each of the first -p partitions (or one to any
 * partition), flushed (committed in transactional mode), so that metadata, connections and
 * the producer id are in place before timing starts.
 */
static int warm_up(struct rdk_perf *perf)
{
    bool txn = perf->opts.mode == PERF_MODE_TRANSACTIONAL;
    int parts = perf->opts.warmup_partitions;

    if (txn && check_error(rd_kafka_init_transactions(perf->rk, CALL_TIMEOUT_MS), "init") != 0)
        return -1;
    if (txn && check_error(rd_kafka_begin_transaction(perf->rk), "begin") != 0)
        return -1;
    for (int p = 0; p < (parts > 0 ? parts : 1); p++)
        if (send_one(perf, 0, parts > 0 ? p : RD_KAFKA_PARTITION_UA) != 0)
            return -1;
    return txn ? commit_timed(perf) : flush_all(perf);
}

/* The timed part: every record, in transactions of --txn-records in transactional mode. */
static int produce_timed(struct rdk_perf *perf)
{
    long long left = perf->opts.records;
    uint64_t seq = 0;

    if (perf->opts.mode != PERF_MODE_TRANSACTIONAL) {
        if (send_many(perf, &seq, left) != 0)
            return -1;
        return flush_all(perf);
    }
    while (left > 0) {
        long long n = left < perf->opts.txn_records ? left : perf->opts.txn_records;
        if (check_error(rd_kafka_begin_transaction(perf->rk), "begin") != 0)
            return -1;
        if (send_many(perf, &seq, n) != 0 || commit_timed(perf) != 0)
            return -1;
        left -= n;
    }
    return 0;
}

/* Waits (up to two intervals) for one more statistics callback, then keeps its figures. */
static void collect_stats(struct rdk_perf *perf)
{
    int seen = perf->stats_seen;
    uint64_t deadline = perf_now_ns() + 2ull * STATS_INTERVAL_MS * 1000000ull;

    while (perf->stats_seen == seen && perf_now_ns() < deadline)
        rd_kafka_poll(perf->rk, 50);
    if (perf->stats_seen == seen || perf->stats_requests <= 0)
        return;
    perf->run.batches = perf->stats_batches;
    perf->run.requests = perf->stats_requests;
}

static void producer_close(struct rdk_perf *perf)
{
    if (perf->rkt != NULL)
        rd_kafka_topic_destroy(perf->rkt);
    if (perf->rk != NULL) {
        rd_kafka_flush(perf->rk, 10000);
        rd_kafka_destroy(perf->rk);
    }
}

int main(int argc, char **argv)
{
    static struct rdk_perf perf; /* two histograms: too large for a small stack */
    int rc = perf_opts_parse(argc, argv, &perf.opts, PROG);

    if (rc != 0)
        return rc == 1 ? 0 : 2;
    perf_run_init(&perf.run, &perf.opts, "librdkafka");
    perf.payload = perf_payload_new(perf.opts.size);
    rc = 1;
    if (perf.payload != NULL && producer_open(&perf) == 0 && warm_up(&perf) == 0) {
        perf_window_begin(&perf.run);
        if (produce_timed(&perf) == 0) {
            perf_window_end(&perf.run);
            collect_stats(&perf);
            perf_report(&perf.run, stdout, NULL);
            rc = perf.run.failed > 0 ? 1 : 0;
        }
    }
    producer_close(&perf);
    free(perf.payload);
    perf_opts_free(&perf.opts);
    return rc;
}
