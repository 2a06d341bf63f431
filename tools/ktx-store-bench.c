/*
 * ktx-store-bench: measures the state store's commit path. Each store transaction appends
 * 100 journal batches of 200 bytes (20 partitions x 5, the per-partition limit) and
 * acknowledges those of the previous transaction, as a producer does per flush. Prints
 * commits/s, appends/s and the p50/p99/max commit time, for sync normal and full.
 *
 *   tools/ktx-store-bench [DIR [TRANSACTIONS]]   (default: /tmp, 300)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define APPENDS_PER_TXN 100
#define BATCH_BYTES 200
#define PARTITIONS (APPENDS_PER_TXN / KTX__STORE_JOURNAL_MAX_PER_PARTITION)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Appends one transaction's batches (number |t|) and acks those of transaction |t|-1. */
static int one_txn(struct ktx__store *store, int t, const uint8_t *bytes)
{
    int rc = ktx__store_txn_begin(store);
    for (int i = 0; rc == 0 && i < APPENDS_PER_TXN; i++) {
        int32_t partition = i % PARTITIONS, slot = i / PARTITIONS;
        struct ktx__store_batch batch = {
            .topic = "bench", .partition = partition, .producer_id = 1, .producer_epoch = 0,
            .base_sequence = (t * KTX__STORE_JOURNAL_MAX_PER_PARTITION + slot) * 10,
            .record_count = 10, .bytes = bytes, .len = BATCH_BYTES,
        };
        if (t > 0)
            rc = ktx__store_journal_ack(store, "bench", partition, 1, 0,
                                        batch.base_sequence -
                                            KTX__STORE_JOURNAL_MAX_PER_PARTITION * 10);
        if (rc == 0)
            rc = ktx__store_journal_append(store, &batch);
    }
    return rc == 0 ? 0 : rc;
}

/* Runs |txns| transactions with |sync| in a fresh file below |dir|; prints one line. */
static int run(const char *dir, enum ktx__state_sync sync, int txns)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/ktx-store-bench-%ld.db", dir, (long)getpid());
    unlink(path);
    struct ktx__store *store;
    if (ktx__store_open(&store, path, "bench", sync, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t bytes[BATCH_BYTES];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 31 + 7);
    double *lat = calloc((size_t)txns, sizeof(*lat));
    double start = now_s();
    int rc = 0;
    for (int t = 0; rc == 0 && t < txns; t++) {
        rc = one_txn(store, t, bytes);
        double c0 = now_s();
        if (rc == 0)
            rc = ktx__store_txn_commit(store);
        lat[t] = (now_s() - c0) * 1e6;
    }
    double total = now_s() - start;
    struct ktx__store_stats stats;
    ktx__store_stats(store, &stats);
    if (rc != 0)
        fprintf(stderr, "%s\n", ktx__store_errmsg(store));
    ktx__store_close(store);
    qsort(lat, (size_t)txns, sizeof(*lat), cmp_double);
    printf("sync=%-6s txns=%d commits/s=%.0f appends/s=%.0f commit p50=%.0f us p99=%.0f us"
           " max=%.0f us fsync_estimate=%llu checkpoints=%llu\n",
           sync == KTX__STATE_SYNC_FULL ? "full" : "normal", txns, txns / total,
           txns * (double)APPENDS_PER_TXN / total, lat[txns / 2], lat[txns * 99 / 100],
           lat[txns - 1], (unsigned long long)stats.fsync_estimate,
           (unsigned long long)stats.checkpoints);
    free(lat);
    char side[600];
    unlink(path);
    snprintf(side, sizeof(side), "%s.bench.lock", path);
    unlink(side);
    return rc != 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int txns = argc > 2 ? atoi(argv[2]) : 300;
    if (txns < 1)
        txns = 1;
    int rc = run(dir, KTX__STATE_SYNC_NORMAL, txns);
    rc |= run(dir, KTX__STATE_SYNC_FULL, txns);
    return rc;
}
