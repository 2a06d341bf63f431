/*
 * ktx-perf: producer benchmark for kafkatx, in the manner of Kafka's producer-perf-test and
 * librdkafka's rdkafka_performance. It produces N records of S bytes and reports records/s,
 * MB/s, produce-to-ack latency percentiles, CPU microseconds per record and, in
 * transactional mode, commit latency; the last line is machine-readable (key=value).
 *
 *   ktx-perf -b BOOTSTRAP -t TOPIC -n RECORDS -s SIZE [--mode plain|idempotent|transactional]
 *            [--txn-records N] [-z none|zstd] [-k] [-p PARTITIONS] [-X property=value ...]
 *
 * The measurement code is shared with rdkafka-perf (perf-common.c), the librdkafka twin that
 * tools/perf-compare.sh runs against the same cluster. See docs/benchmarks.md.
 *
 * Settings applied before the -X properties: acks=all, linger.ms=5, enable.idempotence per
 * --mode, compression.type per -z, and in transactional mode transactional.id=ktx-perf-<pid>.
 * Everything else keeps kafkatx's defaults (batch.size 16384, buffer.memory 32 MiB).
 *
 * The producer calls are those of docs/api.md. The program detects the producer API by the
 * KTX_PARTITION_ANY macro that include/kafkatx.h defines with it, and the transaction API by
 * KTX_HAVE_TRANSACTIONS, so that it builds at every stage of the library; a mode whose API is
 * missing exits with status 77 ("skipped").
 */
#include "perf-common.h"

#include <kafkatx.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "ktx-perf"
#define EXIT_SKIPPED 77

#ifndef KTX_PARTITION_ANY

int main(void)
{
    perf_warn(PROG, "this kafkatx has no producer API yet (ktx_send): nothing to measure");
    return EXIT_SKIPPED;
}

#else /* KTX_PARTITION_ANY: the producer API of docs/api.md is declared */

/* How long flush and the transactional calls may take before the run is declared failed. */
#define CALL_TIMEOUT_MS 300000

/* Everything one run holds. */
struct ktx_perf {
    struct perf_opts opts;
    struct perf_run run;
    ktx_producer_t *producer;
    char *payload;
};

/* Delivery report: the send time travels in the record's opaque. Thread: application. */
static void dr_cb(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    struct ktx_perf *perf = opaque;

    (void)producer;
    perf_on_delivery(&perf->run, (uint64_t)(uintptr_t)dr->opaque,
                     dr->error ? ktx_error_message(dr->error) : NULL);
}

/* Log callback of -v: one line on stderr, stamped with seconds since the first line. */
static void log_cb(int level, const char *facility, const char *message, void *opaque)
{
    static uint64_t t0; /* racy on the first lines only: good enough for a stamp */
    uint64_t now = perf_now_ns();

    (void)opaque;
    if (t0 == 0)
        t0 = now;
    fprintf(stderr, "%10.6f %d %s: %s\n", (double)(now - t0) / 1e9, level, facility, message);
}

/*
 * Prints |what|, the name and the message of |err| on stderr and destroys it.
 * Returns -1 when |err| was set, else 0.
 */
static int check_error(ktx_error_t *err, const char *what)
{
    if (err == NULL)
        return 0;
    perf_warn(PROG, "%s: %s: %s", what, ktx_error_name(err), ktx_error_message(err));
    ktx_error_destroy(err);
    return -1;
}

static int conf_set(ktx_conf_t *conf, const char *name, const char *value)
{
    return check_error(ktx_conf_set(conf, name, value), name);
}

/* Applies the benchmark's defaults, then the -X properties. Returns 0 or -1. */
static int conf_fill(struct ktx_perf *perf, ktx_conf_t *conf)
{
    const struct perf_opts *opts = &perf->opts;
    char txn_id[64];
    int rc = 0;

    rc |= conf_set(conf, "bootstrap.servers", opts->bootstrap);
    rc |= conf_set(conf, "acks", "all");
    rc |= conf_set(conf, "linger.ms", "5");
    rc |= conf_set(conf, "enable.idempotence", opts->mode == PERF_MODE_PLAIN ? "false" : "true");
    rc |= conf_set(conf, "compression.type", opts->compression);
    if (opts->mode == PERF_MODE_TRANSACTIONAL) {
        snprintf(txn_id, sizeof(txn_id), "ktx-perf-%ld", (long)getpid());
        rc |= conf_set(conf, "transactional.id", txn_id);
    }
    for (int i = 0; i < opts->n_props; i++)
        rc |= conf_set(conf, opts->props[i].name, opts->props[i].value);
    ktx_conf_set_dr_cb(conf, dr_cb, perf);
    if (opts->verbose)
        ktx_conf_set_log_cb(conf, log_cb, NULL);
    return rc ? -1 : 0;
}

/* Creates the producer. Returns 0 or -1 after printing why. */
static int producer_open(struct ktx_perf *perf)
{
    ktx_conf_t *conf = ktx_conf_new();

    if (conf == NULL) {
        perf_warn(PROG, "out of memory");
        return -1;
    }
    if (conf_fill(perf, conf) != 0 ||
        check_error(ktx_producer_new(&perf->producer, conf), "producer") != 0) {
        ktx_conf_destroy(conf); /* ktx_producer_new() took it only on success */
        return -1;
    }
    return 0;
}

/*
 * Hands record |seq| to kafkatx for |partition|, stamped with the time before the call
 * (ktx_send() blocks while buffer.memory is full, and that wait belongs to the latency).
 * A retriable refusal (buffer still full after max.block.ms) serves delivery reports and
 * tries again. Returns 0 or -1.
 */
static int send_one(struct ktx_perf *perf, uint64_t seq, int32_t partition)
{
    const struct perf_opts *opts = &perf->opts;
    ktx_record_t rec = {0};
    ktx_error_t *err;
    char key[16];

    rec.topic = opts->topic;
    rec.partition = partition;
    rec.value = perf->payload;
    rec.value_len = opts->size;
    if (opts->keyed) {
        perf_key_format(key, seq);
        rec.key = key;
        rec.key_len = sizeof(key);
    }
    rec.opaque = (void *)(uintptr_t)perf_now_ns();
    while ((err = ktx_send(perf->producer, &rec)) != NULL && ktx_error_is_retriable(err)) {
        ktx_error_destroy(err);
        ktx_poll(perf->producer, 10);
    }
    if (check_error(err, "send") != 0)
        return -1;
    if (seq % (uint64_t)opts->poll_every == 0)
        ktx_poll(perf->producer, 0);
    return 0;
}

/* Sends |count| records starting at sequence |*seq| to any partition. Returns 0 or -1. */
static int send_many(struct ktx_perf *perf, uint64_t *seq, long long count)
{
    for (long long i = 0; i < count; i++)
        if (send_one(perf, (*seq)++, KTX_PARTITION_ANY) != 0)
            return -1;
    return 0;
}

static int flush_all(struct ktx_perf *perf)
{
    return check_error(ktx_flush(perf->producer, CALL_TIMEOUT_MS), "flush");
}

#ifdef KTX_HAVE_TRANSACTIONS

/* Commits the open transaction and accounts its duration. Returns 0 or -1. */
static int commit_timed(struct ktx_perf *perf)
{
    uint64_t began = perf_now_ns();

    if (check_error(ktx_commit_transaction(perf->producer, CALL_TIMEOUT_MS), "commit") != 0)
        return -1;
    if (perf->run.in_window)
        perf_on_commit(&perf->run, began);
    return 0;
}

static int txn_init(struct ktx_perf *perf)
{
    return check_error(ktx_init_transactions(perf->producer, CALL_TIMEOUT_MS), "init");
}

static int txn_begin(struct ktx_perf *perf)
{
    return check_error(ktx_begin_transaction(perf->producer), "begin");
}

#else /* !KTX_HAVE_TRANSACTIONS: main() refuses transactional mode before these run */

static int commit_timed(struct ktx_perf *perf)
{
    (void)perf;
    return -1;
}

static int txn_init(struct ktx_perf *perf)
{
    (void)perf;
    return -1;
}

static int txn_begin(struct ktx_perf *perf)
{
    (void)perf;
    return -1;
}

#endif /* KTX_HAVE_TRANSACTIONS */

/*
 * Warm-up, outside the window: one record to each of the first -p partitions (or one to any
 * partition), flushed (committed in transactional mode), so that metadata, connections and
 * the producer id are in place before timing starts.
 */
static int warm_up(struct ktx_perf *perf)
{
    bool txn = perf->opts.mode == PERF_MODE_TRANSACTIONAL;
    int parts = perf->opts.warmup_partitions;

    if (txn && (txn_init(perf) != 0 || txn_begin(perf) != 0))
        return -1;
    for (int p = 0; p < (parts > 0 ? parts : 1); p++)
        if (send_one(perf, 0, parts > 0 ? p : KTX_PARTITION_ANY) != 0)
            return -1;
    return txn ? commit_timed(perf) : flush_all(perf);
}

/* The timed part: every record, in transactions of --txn-records in transactional mode. */
static int produce_timed(struct ktx_perf *perf)
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
        if (txn_begin(perf) != 0 || send_many(perf, &seq, n) != 0 || commit_timed(perf) != 0)
            return -1;
        left -= n;
    }
    return 0;
}

static void producer_close(struct ktx_perf *perf)
{
    if (perf->producer == NULL)
        return;
    check_error(ktx_close(perf->producer, 10000), "close");
    ktx_producer_destroy(perf->producer);
}

/* Runs the benchmark once |perf->opts| is parsed. Returns the exit status. */
static int run(struct ktx_perf *perf)
{
    int rc = 1;

    perf_run_init(&perf->run, &perf->opts, "kafkatx");
    perf->payload = perf_payload_new(perf->opts.size);
    if (perf->payload != NULL && producer_open(perf) == 0 && warm_up(perf) == 0) {
        perf_window_begin(&perf->run);
        if (produce_timed(perf) == 0) {
            perf_window_end(&perf->run);
            perf_report(&perf->run, stdout,
                        "batches per request: kafkatx has no batch or request counters yet "
                        "(statistics are milestone M6)");
            rc = perf->run.failed > 0 ? 1 : 0;
        }
    }
    producer_close(perf);
    free(perf->payload);
    return rc;
}

int main(int argc, char **argv)
{
    static struct ktx_perf perf; /* two histograms: too large for a small stack */
    int rc = perf_opts_parse(argc, argv, &perf.opts, PROG);

    if (rc != 0)
        return rc == 1 ? 0 : 2;
#ifndef KTX_HAVE_TRANSACTIONS
    if (perf.opts.mode == PERF_MODE_TRANSACTIONAL) {
        perf_warn(PROG, "this kafkatx has no transaction API yet (KTX_HAVE_TRANSACTIONS)");
        perf_opts_free(&perf.opts);
        return EXIT_SKIPPED;
    }
#endif
    rc = run(&perf);
    perf_opts_free(&perf.opts);
    return rc;
}

#endif /* KTX_PARTITION_ANY */
