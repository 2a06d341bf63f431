/*
 * ktx-microbench: measures the codec hot paths of the producer.
 *
 *   - CRC-32C in GB/s on a 64 KiB buffer: the software path (slicing-by-8), the SSE4.2
 *     instruction on a single stream, and the 3-way interleaved SSE4.2 path.
 *   - zstd level 1 and level 3 in MB/s (uncompressed bytes per second) compressing
 *     generated JSON-like records of about 1 KiB, packed into 64 KiB record batches with
 *     the batch writer, and the compression ratio.
 *
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that figures stay
 * meaningful on a machine shared with other jobs: they are rates per busy core.
 * Each figure is the median of several repetitions. The last line of output holds every
 * figure as key=value pairs for scripts. Usage: ktx-microbench [repetitions]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "compress.h"
#include "crc32c.h"

#define CRC_BUF_SIZE (64 * 1024)
#define CRC_BYTES_PER_REP ((size_t)1 << 30)
#define BATCH_BYTES (64 * 1024)
#define BATCH_COUNT 32
#define MAX_REPS 31

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* xorshift64: reproducible pseudo-random numbers. */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static unsigned long long rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Returns the median GB/s of |fn| over |reps| repetitions of CRC_BYTES_PER_REP bytes. */
static double bench_crc(crc_fn fn, const uint8_t *buf, int reps, size_t bytes_per_rep)
{
    double gbps[MAX_REPS];
    volatile uint32_t sink = 0;
    size_t iters = bytes_per_rep / CRC_BUF_SIZE;
    for (int r = 0; r < reps; r++) {
        uint32_t crc = 0;
        double t0 = now_sec();
        for (size_t i = 0; i < iters; i++)
            crc = fn(crc, buf, CRC_BUF_SIZE);
        double dt = now_sec() - t0;
        sink ^= crc;
        gbps[r] = (double)(iters * CRC_BUF_SIZE) / dt / 1e9;
    }
    (void)sink;
    return median(gbps, reps);
}

static const char *const event_names[] = {"page_view", "click", "add_to_cart", "purchase",
                                          "login", "logout", "search"};
static const char *const countries[] = {"DE", "FR", "US", "GB", "JP", "BR", "IN", "NL"};
static const char *const agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148",
};

/* Writes one JSON-like event of about 1 KiB into |out| (|cap| bytes); returns its length. */
static int make_record(char *out, size_t cap, int seq)
{
    int n = snprintf(out, cap,
                     "{\"event_id\":\"%016llx\",\"seq\":%d,\"type\":\"%s\",\"ts\":%llu,"
                     "\"user\":{\"id\":%llu,\"country\":\"%s\",\"agent\":\"%s\"},"
                     "\"page\":\"/catalog/item/%llu\",\"session\":\"%08llx\",\"items\":[",
                     (unsigned long long)rnd(), seq, event_names[rnd() % 7],
                     1700000000000ULL + (unsigned long long)seq * 3, rnd() % 100000,
                     countries[rnd() % 8], agents[rnd() % 3], rnd() % 5000,
                     (unsigned long long)(rnd() & 0xffffffff));
    while (n > 0 && (size_t)n < cap - 160 && n < 900) {
        n += snprintf(out + n, cap - (size_t)n,
                      "{\"sku\":\"SKU-%05llu\",\"qty\":%llu,\"price\":%llu.%02llu},",
                      rnd() % 20000, 1 + rnd() % 4, rnd() % 300, rnd() % 100);
    }
    n += snprintf(out + n, cap - (size_t)n, "{}],\"ok\":true}");
    return n;
}

/* Fills |bw| with records until the batch is full; returns 0 or an error. */
static int fill_batch(struct ktx__batch_writer *bw, int *seq)
{
    char rec[1400];
    char key[32];
    for (;;) {
        int n = make_record(rec, sizeof(rec), *seq);
        int kn = snprintf(key, sizeof(key), "user-%llu", rnd() % 1000);
        int err = ktx__batch_append(bw, 1700000000000 + *seq, key, kn, rec, n, NULL, 0);
        if (err == KTX__BATCH_FULL)
            return 0;
        if (err)
            return err;
        (*seq)++;
    }
}

/* Median MB/s of zstd at |level| over the records sections of |batches|. */
static double bench_zstd(struct ktx__batch_writer *batches, int level, int reps, double *ratio)
{
    double mbps[MAX_REPS];
    size_t in_total = 0, out_total = 0;
    size_t cap = ktx__zstd_compress_bound(BATCH_BYTES);
    uint8_t *dst = malloc(cap);
    if (!dst)
        return 0;
    for (int r = 0; r < reps; r++) {
        in_total = out_total = 0;
        double t0 = now_sec();
        for (int b = 0; b < BATCH_COUNT; b++) {
            const uint8_t *src = batches[b].w.p + KTX__BATCH_HEADER_SIZE;
            size_t len = batches[b].w.len - KTX__BATCH_HEADER_SIZE;
            size_t out_len = 0;
            if (ktx__zstd_compress(dst, cap, src, len, level, &out_len) != 0)
                abort();
            in_total += len;
            out_total += out_len;
        }
        mbps[r] = (double)in_total / (now_sec() - t0) / 1e6;
    }
    free(dst);
    *ratio = (double)in_total / (double)out_total;
    return median(mbps, reps);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: %s [repetitions 1..%d]\n", argv[0], MAX_REPS);
        return 2;
    }
    uint8_t *buf = malloc(CRC_BUF_SIZE);
    if (!buf)
        return 1;
    for (size_t i = 0; i < CRC_BUF_SIZE; i++)
        buf[i] = (uint8_t)rnd();
    bool hw = ktx__crc32c_hw_available();
    double sw = bench_crc(ktx__crc32c_sw, buf, reps, CRC_BYTES_PER_REP / 8);
    double hw1 = hw ? bench_crc(ktx__crc32c_hw_1way, buf, reps, CRC_BYTES_PER_REP) : 0;
    double hw3 = hw ? bench_crc(ktx__crc32c_hw, buf, reps, CRC_BYTES_PER_REP) : 0;
    printf("crc32c 64 KiB, per CPU-second, median of %d: software %.2f GB/s, sse4.2 1-way %.2f GB/s, "
           "sse4.2 3-way %.2f GB/s%s\n",
           reps, sw, hw1, hw3, hw ? "" : " (no SSE4.2 on this CPU)");
    free(buf);

    static struct ktx__batch_writer batches[BATCH_COUNT];
    int seq = 0;
    for (int b = 0; b < BATCH_COUNT; b++) {
        if (ktx__batch_writer_init(&batches[b], BATCH_BYTES, BATCH_BYTES) ||
            fill_batch(&batches[b], &seq)) {
            fprintf(stderr, "could not build the batches\n");
            return 1;
        }
    }
    double r1, r3;
    double z1 = bench_zstd(batches, 1, reps, &r1);
    double z3 = bench_zstd(batches, 3, reps, &r3);
    printf("zstd on %d batches of 64 KiB (%d records of ~1 KiB), per CPU-second, median of %d: "
           "level 1 %.0f MB/s (ratio %.2f), level 3 %.0f MB/s (ratio %.2f)\n",
           BATCH_COUNT, seq, reps, z1, r1, z3, r3);
    for (int b = 0; b < BATCH_COUNT; b++)
        ktx__batch_writer_free(&batches[b]);
    ktx__compress_thread_cleanup();
    printf("crc32c_sw_gbps=%.2f crc32c_hw_1way_gbps=%.2f crc32c_hw_3way_gbps=%.2f "
           "zstd1_mbps=%.0f zstd1_ratio=%.2f zstd3_mbps=%.0f zstd3_ratio=%.2f\n",
           sw, hw1, hw3, z1, r1, z3, r3);
    return 0;
}
