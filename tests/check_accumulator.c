/*
 * Record accumulator tests: what the batch reader gets back after append/seal/drain,
 * readiness from an injected clock, size limits, buffer.memory blocking, concurrent
 * appends, retries in sequence order, muting, in-flight limits, expiry, abort, close,
 * flush, delivery reports and sticky partitioning driven through the accumulator.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accumulator.h"
#include "check_util.h"
#include "partitioner.h"

#define T0 1700000000000LL

static struct ktx__acc_conf test_conf(void)
{
    return (struct ktx__acc_conf){
        .batch_size = 16384,
        .linger_ms = 100,
        .buffer_memory = 4 << 20,
        .max_block_ms = 50,
        .max_request_size = 1 << 20,
        .compression_type = KTX__COMPRESSION_NONE,
        .retry_backoff_ms = 100,
        .retry_backoff_max_ms = 1000,
        .max_in_flight_per_partition = 5,
    };
}

static struct ktx__accumulator *new_acc(const struct ktx__acc_conf *ac)
{
    struct ktx__accumulator *acc;
    ck_assert_int_eq(ktx__accumulator_new(&acc, ac), 0);
    return acc;
}

/* Milliseconds of the monotonic clock. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void teardown(void)
{
    ktx__compress_thread_cleanup();
}

/* A record as the tests describe it; lengths -1 mean null. */
struct test_record {
    int64_t timestamp;
    const char *key;
    int32_t key_len;
    const char *value;
    int32_t value_len;
    const struct ktx__record_header *headers;
    size_t header_count;
};

static const struct ktx__record_header two_headers[] = {
    {{"trace-id", 8}, {(const uint8_t *)"abc123", 6}},
    {{"empty", 5}, {NULL, -1}},
};

static const struct test_record mixed[] = {
    {T0, "key-1", 5, "value-1", 7, NULL, 0},
    {T0 + 5, NULL, -1, "value with a null key", 21, NULL, 0},
    {T0 + 3, "tombstone", 9, NULL, -1, NULL, 0},
    {T0 - 10, "", 0, "", 0, two_headers, 2},
    {T0 + 100, NULL, -1, NULL, -1, two_headers, 1},
};
#define N_MIXED (sizeof(mixed) / sizeof(mixed[0]))

static struct ktx__acc_record acc_rec(const struct test_record *r, void *opaque)
{
    return (struct ktx__acc_record){
        .key = r->key,
        .key_len = r->key_len,
        .value = r->value,
        .value_len = r->value_len,
        .headers = r->headers,
        .header_count = r->header_count,
        .timestamp = r->timestamp,
        .opaque = opaque,
    };
}

/* Appends a keyless record whose value is |value| (NUL-terminated). */
static int append_value(struct ktx__accumulator *acc, const char *topic, int32_t partition,
                        const char *value, int64_t now, void *opaque)
{
    struct ktx__acc_record rec = {
        .key_len = -1,
        .value = value,
        .value_len = (int32_t)strlen(value),
        .timestamp = now,
        .opaque = opaque,
    };
    return ktx__accumulator_append(acc, topic, partition, &rec, now, false, NULL, NULL, 0);
}

/* Appends a keyless record |value| with the topic marked interned (as ktx_send() does). */
static int append_interned(struct ktx__accumulator *acc, const char *topic, int32_t partition,
                           const char *value)
{
    struct ktx__acc_record rec = {.key_len = -1, .value = value,
                                  .value_len = (int32_t)strlen(value), .timestamp = T0,
                                  .topic_interned = true};
    return ktx__accumulator_append(acc, topic, partition, &rec, T0, false, NULL, NULL, 0);
}

static void assert_bytes(struct ktx__bytes got, const void *want, int32_t want_len)
{
    ck_assert_int_eq(got.len, want_len);
    if (want_len > 0)
        ck_assert_mem_eq(got.ptr, want, (size_t)want_len);
}

/* Validates |batch|'s bytes and compares every record with |recs|. */
static void assert_batch_records(const struct ktx__batch *batch, const struct test_record *recs,
                                 size_t n, int compression)
{
    size_t len;
    const uint8_t *p = ktx__batch_bytes(batch, &len);
    ck_assert_ptr_nonnull(p);
    struct ktx__batch_header h;
    ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
    ck_assert_int_eq(h.records_count, (int32_t)n);
    ck_assert_int_eq(ktx__batch_compression(&h), compression);
    struct ktx__writer scratch;
    struct ktx__arena arena;
    struct ktx__record_iter it;
    struct ktx__record rec;
    ktx__w_init(&scratch, 0, 0);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, &scratch, 64 << 20), 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(ktx__record_next(&it, &rec, &arena), 0);
        ck_assert_int_eq(rec.offset, (int64_t)i);
        ck_assert_int_eq(rec.timestamp, recs[i].timestamp);
        assert_bytes(rec.key, recs[i].key, recs[i].key_len);
        assert_bytes(rec.value, recs[i].value, recs[i].value_len);
        ck_assert_int_eq(rec.header_count, (int32_t)recs[i].header_count);
        for (size_t j = 0; j < recs[i].header_count; j++) {
            ck_assert(ktx__str_eq(rec.headers[j].key, recs[i].headers[j].key));
            ck_assert(ktx__bytes_eq(rec.headers[j].value, recs[i].headers[j].value));
        }
    }
    ck_assert_int_eq(ktx__record_next(&it, &rec, &arena), KTX__RECORDS_END);
    ktx__arena_free(&arena);
    ktx__w_free(&scratch);
}

/* Drains every partition that is ready at |now| into |out|. Returns the batch count. */
static size_t drain_ready(struct ktx__accumulator *acc, int64_t now, size_t max_request,
                          struct ktx__batch **out, size_t out_cap)
{
    struct ktx__acc_part_list ready = {0};
    int64_t next;
    ck_assert_int_eq(ktx__accumulator_ready(acc, now, &ready, &next), 0);
    size_t count = 0, cursor = 0;
    if (ready.len)
        ck_assert_int_eq(ktx__accumulator_drain(acc, ready.v, ready.len, &cursor, max_request,
                                                now, out, out_cap, &count),
                         0);
    ktx__acc_part_list_free(&ready);
    return count;
}

/* Drains |part| alone (whether ready or not) into |out|. Returns the batch count. */
static size_t drain_part(struct ktx__accumulator *acc, struct ktx__acc_part *part, int64_t now,
                         struct ktx__batch **out, size_t out_cap)
{
    size_t n, cursor = 0;
    ck_assert_int_eq(ktx__accumulator_drain(acc, &part, 1, &cursor, 1 << 20, now, out, out_cap,
                                            &n),
                     0);
    return n;
}

/* Completes, pops and deallocates |batch| as the sender and ktx_poll() would. */
static void finish(struct ktx__accumulator *acc, struct ktx__batch *batch)
{
    ktx__accumulator_complete(acc, batch, 0, 0, -1);
    struct ktx__batch *done;
    while ((done = ktx__dr_queue_pop(acc, 0)))
        ktx__accumulator_deallocate(acc, done);
}

/* Appends |mixed| to one partition with |compression|, drains and reads it back. */
static void roundtrip(int compression)
{
    struct ktx__acc_conf ac = test_conf();
    ac.compression_type = compression;
    struct ktx__accumulator *acc = new_acc(&ac);
    for (size_t i = 0; i < N_MIXED; i++) {
        struct ktx__acc_record rec = acc_rec(&mixed[i], NULL);
        ck_assert_int_eq(ktx__accumulator_append(acc, "t", 3, &rec, T0, false, NULL, NULL, 0), 0);
    }
    /* Repeat the records so that zstd has something to gain. */
    struct test_record many[N_MIXED * 20];
    for (size_t i = 0; i < N_MIXED * 20; i++)
        many[i] = mixed[i % N_MIXED];
    for (size_t i = N_MIXED; i < N_MIXED * 20; i++) {
        struct ktx__acc_record rec = acc_rec(&many[i], NULL);
        ck_assert_int_eq(ktx__accumulator_append(acc, "t", 3, &rec, T0, false, NULL, NULL, 0), 0);
    }
    struct ktx__batch *out[4];
    ck_assert_uint_eq(drain_ready(acc, T0 + 100, 1 << 20, out, 4), 1);
    ck_assert_str_eq(out[0]->topic, "t");
    ck_assert_int_eq(out[0]->partition, 3);
    ck_assert_int_eq(out[0]->record_count, (int32_t)(N_MIXED * 20));
    assert_batch_records(out[0], many, N_MIXED * 20, compression);
    finish(acc, out[0]);
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ktx__accumulator_destroy(acc);
}

START_TEST(test_drained_batch_reads_back_exactly_the_appended_records_uncompressed)
{
    roundtrip(KTX__COMPRESSION_NONE);
}
END_TEST

START_TEST(test_drained_batch_reads_back_exactly_the_appended_records_zstd)
{
    roundtrip(KTX__COMPRESSION_ZSTD);
}
END_TEST

START_TEST(test_ready_waits_for_linger_from_injected_clock)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    struct ktx__acc_part_list ready = {0};
    int64_t next;
    ck_assert_int_eq(ktx__accumulator_ready(acc, T0, &ready, &next), 0);
    ck_assert_uint_eq(ready.len, 0);
    ck_assert(next == INT64_MAX);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    ck_assert_int_eq(ktx__accumulator_ready(acc, T0 + 99, &ready, &next), 0);
    ck_assert_uint_eq(ready.len, 0);
    ck_assert_int_eq(next, T0 + 100);
    /* Not ready, but listed among the partitions with data. */
    ck_assert_int_eq(ktx__accumulator_undrained(acc, &ready), 0);
    ck_assert_uint_eq(ready.len, 1);
    ready.len = 0;
    ck_assert_int_eq(ktx__accumulator_ready(acc, T0 + 100, &ready, &next), 0);
    ck_assert_uint_eq(ready.len, 1);
    ck_assert_str_eq(ktx__acc_part_topic(ready.v[0]), "t");
    ck_assert_int_eq(ktx__acc_part_partition(ready.v[0]), 0);
    ck_assert_ptr_eq(ready.v[0], ktx__accumulator_find(acc, "t", 0));
    ck_assert(next == INT64_MAX);
    ktx__acc_part_list_free(&ready);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_full_batch_is_ready_before_linger_and_batch_size_is_respected)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 1024;
    struct ktx__accumulator *acc = new_acc(&ac);
    char value[101];
    memset(value, 'x', 100);
    value[100] = 0;
    int new_batches = 0;
    for (int i = 0; i < 50; i++) {
        struct ktx__acc_record rec = {.key_len = -1, .value = value, .value_len = 100,
                                      .timestamp = T0};
        struct ktx__acc_append_result res;
        ck_assert_int_eq(ktx__accumulator_append(acc, "t", 0, &rec, T0, false, &res, NULL, 0), 0);
        new_batches += res.new_batch;
    }
    /* 100-byte values take 109 bytes each: 8 records fill 61 + 872 of 1024 bytes. */
    ck_assert_int_eq(new_batches, 7);
    struct ktx__batch *out[16];
    int total = 0;
    for (int round = 0; round < 7; round++) {
        size_t n = drain_ready(acc, T0, 1 << 20, out, 16);
        if (round < 6) {
            ck_assert_uint_eq(n, 1); /* full batches go before linger.ms */
        } else {
            ck_assert_uint_eq(n, 0); /* the last one lingers */
            break;
        }
        size_t len;
        ck_assert_ptr_nonnull(ktx__batch_bytes(out[0], &len));
        ck_assert_uint_le(len, 1024);
        ck_assert_int_eq(out[0]->record_count, 8);
        total += out[0]->record_count;
        finish(acc, out[0]);
    }
    ck_assert_uint_eq(drain_ready(acc, T0 + 100, 1 << 20, out, 16), 1);
    ck_assert_int_eq(total + out[0]->record_count, 50);
    finish(acc, out[0]);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_drain_respects_max_request_size_and_rotates_partitions)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    char value[501];
    memset(value, 'v', 500);
    value[500] = 0;
    struct ktx__acc_part *parts[4];
    for (int p = 0; p < 4; p++) {
        ck_assert_int_eq(append_value(acc, "t", p, value, T0, NULL), 0);
        parts[p] = ktx__accumulator_find(acc, "t", p);
    }
    /* Each batch is 61 + 508 bytes: two fit in 1200, a third does not. */
    struct ktx__batch *out[4];
    size_t cursor = 0, n;
    ck_assert_int_eq(ktx__accumulator_drain(acc, parts, 4, &cursor, 1200, T0, out, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0]->partition, 0);
    ck_assert_int_eq(out[1]->partition, 1);
    ck_assert_uint_eq(cursor, 2);
    for (size_t i = 0; i < n; i++)
        finish(acc, out[i]);
    ck_assert_int_eq(ktx__accumulator_drain(acc, parts, 4, &cursor, 1200, T0, out, 4, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(out[0]->partition, 2);
    ck_assert_int_eq(out[1]->partition, 3);
    for (size_t i = 0; i < n; i++)
        finish(acc, out[i]);
    /* A batch bigger than the request size still goes, alone. */
    ck_assert_int_eq(append_value(acc, "t", 1, value, T0, NULL), 0);
    ck_assert_int_eq(ktx__accumulator_drain(acc, parts, 4, &cursor, 100, T0, out, 4, &n), 0);
    ck_assert_uint_eq(n, 1);
    finish(acc, out[0]);
    ck_assert(!ktx__accumulator_has_undrained(acc));
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_record_over_max_request_size_fails_with_message_too_large_alone)
{
    struct ktx__acc_conf ac = test_conf();
    ac.max_request_size = 1000;
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "small", T0, (void *)1), 0);
    size_t used = ktx__accumulator_memory_used(acc);
    char *big = malloc(1001);
    memset(big, 'b', 1000);
    big[1000] = 0;
    struct ktx__acc_record rec = {.key_len = -1, .value = big, .value_len = 1000};
    char errbuf[256] = "";
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", 0, &rec, T0, false, NULL, errbuf,
                                             sizeof(errbuf)),
                     KTX_ERR_MESSAGE_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(errbuf, "max.request.size (1000)"));
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), used);
    /* The record next to it is untouched and another small one still fits. */
    ck_assert_int_eq(append_value(acc, "t", 0, "after", T0, (void *)2), 0);
    struct ktx__batch *out[2];
    ck_assert_uint_eq(drain_ready(acc, T0 + 100, 1 << 20, out, 2), 1);
    ck_assert_int_eq(out[0]->record_count, 2);
    struct test_record want[] = {{T0, NULL, -1, "small", 5, NULL, 0},
                                 {T0, NULL, -1, "after", 5, NULL, 0}};
    assert_batch_records(out[0], want, 2, KTX__COMPRESSION_NONE);
    finish(acc, out[0]);
    free(big);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_record_that_cannot_fit_in_buffer_memory_fails_with_message_too_large)
{
    struct ktx__acc_conf ac = test_conf();
    ac.buffer_memory = 20000;
    ac.batch_size = 1024;
    struct ktx__accumulator *acc = new_acc(&ac);
    char *big = malloc(30000);
    memset(big, 'b', 30000);
    struct ktx__acc_record rec = {.key_len = -1, .value = big, .value_len = 30000};
    char errbuf[256] = "";
    int64_t start = mono_ms();
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", 0, &rec, T0, false, NULL, errbuf,
                                             sizeof(errbuf)),
                     KTX_ERR_MESSAGE_TOO_LARGE);
    /* Refused at once: waiting could never help. */
    ck_assert_int_lt(mono_ms() - start, 40);
    ck_assert_ptr_nonnull(strstr(errbuf, "buffer.memory (20000)"));
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    free(big);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_record_bigger_than_batch_size_gets_a_batch_of_its_own)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 256;
    struct ktx__accumulator *acc = new_acc(&ac);
    char big[2001];
    memset(big, 'B', 2000);
    big[2000] = 0;
    ck_assert_int_eq(append_value(acc, "t", 0, "a", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 0, big, T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 0, "c", T0, NULL), 0);
    struct ktx__batch *out[1];
    int counts[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(drain_ready(acc, T0 + 100, 1 << 20, out, 1), 1);
        counts[i] = out[0]->record_count;
        finish(acc, out[0]);
    }
    ck_assert_int_eq(counts[0], 1);
    ck_assert_int_eq(counts[1], 1);
    ck_assert_int_eq(counts[2], 1);
    ktx__accumulator_destroy(acc);
}
END_TEST

/* A configuration whose buffer.memory holds exactly two batches. */
static struct ktx__acc_conf two_batch_conf(int64_t max_block_ms)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 1024;
    ac.max_block_ms = max_block_ms;
    /* Measure one batch's charge with a roomy pool, then size the pool for two. */
    ac.buffer_memory = 1 << 20;
    struct ktx__accumulator *probe = new_acc(&ac);
    ck_assert_int_eq(append_value(probe, "t", 0, "x", T0, NULL), 0);
    size_t one = ktx__accumulator_memory_used(probe);
    ktx__accumulator_destroy(probe);
    ac.buffer_memory = (int64_t)(2 * one);
    return ac;
}

START_TEST(test_full_buffer_memory_blocks_then_fails_with_queue_full)
{
    struct ktx__acc_conf ac = two_batch_conf(50);
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "x", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 1, "x", T0, NULL), 0);
    /* Appends to existing batches need no new memory. */
    ck_assert_int_eq(append_value(acc, "t", 1, "y", T0, NULL), 0);
    char errbuf[300] = "";
    struct ktx__acc_record rec = {.key_len = -1, .value = "z", .value_len = 1};
    int64_t start = mono_ms();
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", 2, &rec, T0, false, NULL, errbuf,
                                             sizeof(errbuf)),
                     KTX_ERR_QUEUE_FULL);
    int64_t waited = mono_ms() - start;
    ck_assert_int_ge(waited, 49);
    ck_assert_int_lt(waited, 2000);
    ck_assert_ptr_nonnull(strstr(errbuf, "buffer.memory"));
    ck_assert_ptr_nonnull(strstr(errbuf, "max.block.ms (50 ms)"));
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 2);
    ktx__accumulator_destroy(acc);
}
END_TEST

/*
 * The buffers of completed batches are kept for new batches (no malloc, no fresh pages per
 * batch), but within buffer.memory: a pool that fits two batches still takes exactly two
 * more after two completed, a third waits and fails, and a record bigger than batch.size
 * gets its memory by freeing the spares. The reused buffers hold the new records only.
 */
START_TEST(test_completed_batch_buffers_are_reused_within_buffer_memory)
{
    struct ktx__acc_conf ac = two_batch_conf(50);
    struct ktx__accumulator *acc = new_acc(&ac);
    struct ktx__batch *out[4], *kept[2];
    struct ktx__acc_part *part;
    static char big[1500];
    const struct test_record fresh[] = {{T0, NULL, -1, "fresh", 5, NULL, 0}};

    for (int32_t p = 0; p < 2; p++) {
        ck_assert_int_eq(append_value(acc, "t", p, "old record, longer than the new one", T0,
                                      NULL), 0);
        ck_assert_ptr_nonnull(part = ktx__accumulator_find(acc, "t", p));
        ck_assert_uint_eq(drain_part(acc, part, T0, out, 4), 1);
        finish(acc, out[0]);
    }
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 0);
    for (int32_t p = 2; p < 4; p++) {
        ck_assert_int_eq(append_value(acc, "t", p, "fresh", T0, NULL), 0);
        ck_assert_ptr_nonnull(part = ktx__accumulator_find(acc, "t", p));
        ck_assert_uint_eq(drain_part(acc, part, T0, out, 4), 1);
        assert_batch_records(out[0], fresh, 1, KTX__COMPRESSION_NONE);
        kept[p - 2] = out[0];
    }
    ck_assert_int_eq(append_value(acc, "t", 4, "x", T0, NULL), KTX_ERR_QUEUE_FULL);
    finish(acc, kept[0]);
    finish(acc, kept[1]);
    /* Two spares now; a bigger record needs more than one batch's charge. */
    memset(big, 'b', sizeof(big) - 1);
    ck_assert_int_eq(append_value(acc, "t", 5, big, T0, NULL), 0);
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 1);
    ktx__accumulator_destroy(acc);
}
END_TEST

struct blocked_append {
    struct ktx__accumulator *acc;
    int err;
    int64_t waited;
};

static void *blocked_append_thread(void *arg)
{
    struct blocked_append *ba = arg;
    int64_t start = mono_ms();
    int err = append_value(ba->acc, "t", 2, "z", T0, NULL);
    ba->waited = mono_ms() - start;
    __atomic_store_n(&ba->err, err, __ATOMIC_SEQ_CST);
    return NULL;
}

START_TEST(test_blocked_append_succeeds_when_another_thread_deallocates)
{
    struct ktx__acc_conf ac = two_batch_conf(10000);
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "x", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 1, "x", T0, NULL), 0);
    struct blocked_append ba = {.acc = acc, .err = -1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, blocked_append_thread, &ba), 0);
    /* Once the thread waits for memory, everything is ready at once (Kafka's
     * "exhausted"), although linger.ms has not passed at T0. */
    struct ktx__acc_part_list ready = {0};
    int64_t next;
    for (int i = 0; i < 500 && ready.len == 0; i++) {
        struct timespec pause = {0, 10 * 1000000};
        nanosleep(&pause, NULL);
        ck_assert_int_eq(ktx__accumulator_ready(acc, T0, &ready, &next), 0);
    }
    ck_assert_uint_eq(ready.len, 2);
    /* It cannot finish before memory is given back. */
    ck_assert_int_eq(__atomic_load_n(&ba.err, __ATOMIC_SEQ_CST), -1);
    struct ktx__batch *out[2];
    size_t n, cursor = 0;
    ck_assert_int_eq(
        ktx__accumulator_drain(acc, ready.v, 1, &cursor, 1 << 20, T0, out, 2, &n), 0);
    ck_assert_uint_eq(n, 1);
    finish(acc, out[0]);
    pthread_join(th, NULL);
    ck_assert_int_eq(ba.err, 0);
    ck_assert_int_lt(ba.waited, 10000);
    ck_assert_ptr_nonnull(ktx__accumulator_find(acc, "t", 2));
    ktx__acc_part_list_free(&ready);
    ktx__accumulator_destroy(acc);
}
END_TEST

/* ---- concurrent appends with a concurrent sender ---- */

#define CONC_THREADS 4
#define CONC_RECORDS 3000

struct conc_ctx {
    struct ktx__accumulator *acc;
    int thread;
    int failures;
};

static void *conc_producer(void *arg)
{
    struct conc_ctx *c = arg;
    char value[32];
    for (int i = 0; i < CONC_RECORDS; i++) {
        /* Half to the shared partition 0, half to this thread's own partition. */
        int32_t partition = (i & 1) ? 1 + c->thread : 0;
        snprintf(value, sizeof(value), "%d:%d", c->thread, i);
        /* Odd threads pass the topic interned (as ktx_send() does), even ones plainly. */
        if ((c->thread & 1 ? append_interned(c->acc, "conc", partition, value)
                           : append_value(c->acc, "conc", partition, value, T0, NULL)) != 0)
            c->failures++;
    }
    return NULL;
}

struct conc_sender {
    struct ktx__accumulator *acc;
    int stop;
    int last[CONC_THREADS + 1][CONC_THREADS]; /* last sequence seen per partition/thread */
    int seen;
    int order_errors;
};

/* Checks the records of |batch| against the per-thread order seen so far. */
static void conc_check_batch(struct conc_sender *s, struct ktx__batch *batch)
{
    size_t len;
    const uint8_t *p = ktx__batch_bytes(batch, &len);
    struct ktx__record_iter it;
    struct ktx__record rec;
    if (ktx__batch_validate(p, len, NULL) != 0 ||
        ktx__record_iter_init(&it, p, len, NULL, 0) != 0) {
        s->order_errors++;
        return;
    }
    while (ktx__record_next(&it, &rec, NULL) == 0) {
        int thread, seq;
        char buf[32];
        snprintf(buf, sizeof(buf), "%.*s", (int)rec.value.len, (const char *)rec.value.ptr);
        if (sscanf(buf, "%d:%d", &thread, &seq) != 2 || thread < 0 || thread >= CONC_THREADS) {
            s->order_errors++;
            continue;
        }
        int *last = &s->last[batch->partition][thread];
        if (seq <= *last)
            s->order_errors++;
        *last = seq;
        s->seen++;
    }
}

static void *conc_sender_thread(void *arg)
{
    struct conc_sender *s = arg;
    struct ktx__batch *out[16];
    for (;;) {
        bool stopping = __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST);
        size_t n = drain_ready(s->acc, T0 + 1000, 1 << 20, out, 16);
        for (size_t i = 0; i < n; i++) {
            conc_check_batch(s, out[i]);
            finish(s->acc, out[i]);
        }
        if (stopping && n == 0 && !ktx__accumulator_has_undrained(s->acc))
            break;
    }
    return NULL;
}

START_TEST(test_concurrent_appends_lose_nothing_and_keep_per_thread_order)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 2048;
    ac.buffer_memory = 64 << 10; /* small: appends block on memory now and then */
    ac.max_block_ms = 10000;
    ac.max_in_flight_per_partition = 1;
    struct ktx__accumulator *acc = new_acc(&ac);
    struct conc_sender sender = {.acc = acc};
    for (int p = 0; p <= CONC_THREADS; p++)
        for (int t = 0; t < CONC_THREADS; t++)
            sender.last[p][t] = -1;
    pthread_t sth, th[CONC_THREADS];
    struct conc_ctx ctx[CONC_THREADS];
    ck_assert_int_eq(pthread_create(&sth, NULL, conc_sender_thread, &sender), 0);
    for (int i = 0; i < CONC_THREADS; i++) {
        ctx[i] = (struct conc_ctx){.acc = acc, .thread = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_producer, &ctx[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ctx[i].failures, 0);
    }
    __atomic_store_n(&sender.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(sth, NULL);
    ck_assert_int_eq(sender.order_errors, 0);
    ck_assert_int_eq(sender.seen, CONC_THREADS * CONC_RECORDS);
    for (int t = 0; t < CONC_THREADS; t++) {
        ck_assert_int_eq(sender.last[0][t], CONC_RECORDS - 2);
        ck_assert_int_eq(sender.last[1 + t][t], CONC_RECORDS - 1);
    }
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

/* ---- retries, muting, in-flight limits ---- */

/* An idempotence layer in miniature: one sequence counter for the partition. */
struct seq_hooks {
    int32_t next_sequence;
    int16_t epoch;
    bool refuse;
};

static bool seq_assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                       int16_t *producer_epoch, int32_t *base_sequence, bool *transactional)
{
    struct seq_hooks *h = opaque;
    if (batch->stamped) {
        /* A retry: after an epoch bump it gets the new epoch, keeping its sequence. */
        if (*producer_epoch == h->epoch)
            return false;
        *producer_epoch = h->epoch;
        return true;
    }
    *producer_id = 4000;
    *producer_epoch = h->epoch;
    *base_sequence = h->next_sequence;
    *transactional = true;
    h->next_sequence += batch->record_count;
    return true;
}

static bool seq_may_drain(void *opaque, const struct ktx__batch *batch)
{
    (void)batch;
    return !((struct seq_hooks *)opaque)->refuse;
}

START_TEST(test_retried_batches_go_back_ahead_of_newer_ones_in_sequence_order)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 0; /* one record per batch */
    struct ktx__accumulator *acc = new_acc(&ac);
    struct seq_hooks sh = {.epoch = 7};
    struct ktx__acc_hooks hooks = {.opaque = &sh, .assign = seq_assign};
    ktx__accumulator_set_hooks(acc, &hooks);
    static const char *values[] = {"r0", "r1", "r2", "r3"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(append_value(acc, "t", 0, values[i], T0, NULL), 0);
    struct ktx__acc_part *part = ktx__accumulator_find(acc, "t", 0);
    struct ktx__batch *inflight[3], *out[4];
    size_t n;
    for (int i = 0; i < 3; i++) {
        n = drain_part(acc, part, T0, out, 4);
        ck_assert_uint_eq(n, 1);
        inflight[i] = out[0];
        ck_assert_int_eq(inflight[i]->base_sequence, i);
        ck_assert_int_eq(inflight[i]->producer_id, 4000);
    }
    ck_assert_int_eq(ktx__acc_part_in_flight(part), 3);
    /* A newer batch arrives, then the three fail and come back out of order. */
    ck_assert_int_eq(append_value(acc, "t", 0, values[3], T0, NULL), 0);
    ktx__accumulator_reenqueue(acc, inflight[2], T0 + 10);
    ktx__accumulator_reenqueue(acc, inflight[0], T0 + 10);
    ktx__accumulator_reenqueue(acc, inflight[1], T0 + 10);
    ck_assert_int_eq(ktx__acc_part_in_flight(part), 0);
    sh.epoch = 8; /* an epoch bump while they wait */
    /* Backing off: not drainable before retry.backoff.ms, and ready says when. */
    struct ktx__acc_part_list ready = {0};
    int64_t next;
    ck_assert_int_eq(ktx__accumulator_ready(acc, T0 + 109, &ready, &next), 0);
    ck_assert_uint_eq(ready.len, 0);
    ck_assert_int_eq(next, T0 + 110);
    n = drain_part(acc, part, T0 + 109, out, 4);
    ck_assert_uint_eq(n, 0);
    int32_t want_seq[] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) {
        n = drain_part(acc, part, T0 + 110, out, 4);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(out[0]->base_sequence, want_seq[i]);
        struct test_record want = {T0, NULL, -1, values[i], 2, NULL, 0};
        assert_batch_records(out[0], &want, 1, KTX__COMPRESSION_NONE);
        size_t len;
        const uint8_t *p = ktx__batch_bytes(out[0], &len);
        struct ktx__batch_header h;
        ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
        ck_assert_int_eq(h.base_sequence, want_seq[i]);
        ck_assert_int_eq(h.producer_epoch, 8);
        ck_assert_int_eq(h.producer_id, 4000);
        ck_assert(ktx__batch_is_transactional(&h));
        ck_assert_int_eq(out[0]->attempts, i < 3 ? 1 : 0);
        finish(acc, out[0]);
    }
    ktx__acc_part_list_free(&ready);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_retry_backoff_doubles_up_to_the_maximum)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    struct ktx__acc_part *part = ktx__accumulator_find(acc, "t", 0);
    struct ktx__batch *out[1];
    size_t n, cursor = 0;
    int64_t now = T0;
    const int64_t backoff[] = {100, 200, 400, 800, 1000, 1000};
    for (int attempt = 0; attempt < 6; attempt++) {
        n = drain_part(acc, part, now, out, 1);
        ck_assert_uint_eq(n, 1);
        ktx__accumulator_reenqueue(acc, out[0], now);
        ck_assert_int_eq(ktx__accumulator_drain(acc, &part, 1, &cursor, 1 << 20,
                                                now + backoff[attempt] - 1, out, 1, &n), 0);
        ck_assert_uint_eq(n, 0);
        now += backoff[attempt];
    }
    n = drain_part(acc, part, now, out, 1);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0]->attempts, 6);
    finish(acc, out[0]);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_muted_partition_is_neither_ready_nor_drained)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    struct ktx__acc_part *part = ktx__accumulator_find(acc, "t", 0);
    ktx__accumulator_mute(acc, part, true);
    struct ktx__batch *out[1];
    ck_assert_uint_eq(drain_ready(acc, T0 + 1000, 1 << 20, out, 1), 0);
    size_t n;
    n = drain_part(acc, part, T0 + 1000, out, 1);
    ck_assert_uint_eq(n, 0);
    ck_assert(ktx__accumulator_has_undrained(acc));
    ktx__accumulator_mute(acc, part, false);
    ck_assert_uint_eq(drain_ready(acc, T0 + 1000, 1 << 20, out, 1), 1);
    finish(acc, out[0]);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_in_flight_limit_and_may_drain_hook_hold_batches_back)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 0;
    ac.max_in_flight_per_partition = 2;
    struct ktx__accumulator *acc = new_acc(&ac);
    struct seq_hooks sh = {.epoch = 1};
    struct ktx__acc_hooks hooks = {.opaque = &sh, .assign = seq_assign,
                                   .may_drain = seq_may_drain};
    ktx__accumulator_set_hooks(acc, &hooks);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    struct ktx__batch *out[3], *first = NULL;
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 3), 1);
    first = out[0];
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 3), 1);
    struct ktx__batch *second = out[0];
    /* Two in flight: the third waits, and ready() does not report it. */
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 3), 0);
    finish(acc, first);
    sh.refuse = true;
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 3), 0);
    sh.refuse = false;
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 3), 1);
    ck_assert_int_eq(out[0]->base_sequence, 2);
    finish(acc, out[0]);
    finish(acc, second);
    ktx__accumulator_destroy(acc);
}
END_TEST

/* ---- expiry, abort, close, flush ---- */

START_TEST(test_expired_returns_only_queued_batches_past_delivery_timeout)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 0;
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "in-flight", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 1, "old", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "t", 1, "young", T0 + 500, NULL), 0);
    struct ktx__acc_part *p0 = ktx__accumulator_find(acc, "t", 0);
    struct ktx__batch *out[4], *inflight;
    size_t n;
    n = drain_part(acc, p0, T0, out, 4);
    ck_assert_uint_eq(n, 1);
    inflight = out[0];
    int64_t next;
    ktx__accumulator_expired(acc, T0 + 999, 1000, out, 4, &n, &next);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(next, T0 + 1000);
    ktx__accumulator_expired(acc, T0 + 1000, 1000, out, 4, &n, &next);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0]->partition, 1);
    ck_assert_int_eq(out[0]->created_ms, T0);
    ck_assert_int_eq(next, T0 + 1500);
    ktx__accumulator_complete(acc, out[0], KTX_ERR_MSG_TIMED_OUT, -1, -1);
    struct ktx__batch *done = ktx__dr_queue_pop(acc, 0);
    ck_assert_ptr_nonnull(done);
    struct ktx__record_report dr;
    ktx__batch_report(done, 0, &dr);
    ck_assert_int_eq(dr.err, KTX_ERR_MSG_TIMED_OUT);
    ck_assert_int_eq(dr.offset, -1);
    ktx__accumulator_deallocate(acc, done);
    finish(acc, inflight);
    ktx__accumulator_abort_all(acc, KTX_ERR_PURGED);
    while ((done = ktx__dr_queue_pop(acc, 0)))
        ktx__accumulator_deallocate(acc, done);
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_abort_all_fails_every_queued_record_with_the_given_error)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 128;
    struct ktx__accumulator *acc = new_acc(&ac);
    int tags[30];
    for (int i = 0; i < 30; i++) {
        tags[i] = 0;
        const char *topic = i % 2 ? "a" : "b";
        ck_assert_int_eq(append_value(acc, topic, i % 3, "some value", T0, &tags[i]), 0);
    }
    /* One batch in flight is the sender's: abort_all leaves it. */
    struct ktx__acc_part *part = ktx__accumulator_find(acc, "a", 1);
    struct ktx__batch *out[1];
    size_t n;
    n = drain_part(acc, part, T0, out, 1);
    ck_assert_uint_eq(n, 1);
    int32_t in_flight_records = out[0]->record_count;
    size_t aborted = ktx__accumulator_abort_all(acc, KTX_ERR_PURGED);
    ck_assert_uint_gt(aborted, 0);
    ck_assert(!ktx__accumulator_has_undrained(acc));
    ck_assert_uint_eq(ktx__dr_queue_len(acc), aborted);
    int reports = 0;
    struct ktx__batch *done;
    while ((done = ktx__dr_queue_pop(acc, 0))) {
        for (int32_t i = 0; i < done->record_count; i++) {
            struct ktx__record_report dr;
            ktx__batch_report(done, i, &dr);
            ck_assert_int_eq(dr.err, KTX_ERR_PURGED);
            ck_assert_int_eq(dr.offset, -1);
            (*(int *)dr.opaque)++;
            reports++;
        }
        ktx__accumulator_deallocate(acc, done);
    }
    ck_assert_int_eq(reports + in_flight_records, 30);
    int untouched = 0;
    for (int i = 0; i < 30; i++) {
        ck_assert_int_le(tags[i], 1);
        untouched += tags[i] == 0;
    }
    ck_assert_int_eq(untouched, in_flight_records);
    finish(acc, out[0]);
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_close_rejects_appends_and_makes_queued_batches_ready)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    ktx__accumulator_close(acc);
    char errbuf[64] = "";
    struct ktx__acc_record rec = {.key_len = -1, .value = "w", .value_len = 1};
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", 0, &rec, T0, false, NULL, errbuf,
                                             sizeof(errbuf)),
                     KTX_ERR_CLOSED);
    ck_assert_str_eq(errbuf, "the producer is closing");
    struct ktx__batch *out[1];
    ck_assert_uint_eq(drain_ready(acc, T0, 1 << 20, out, 1), 1);
    ck_assert_int_eq(out[0]->record_count, 1);
    finish(acc, out[0]);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_flush_makes_lingering_batches_ready)
{
    struct ktx__acc_conf ac = test_conf();
    ac.linger_ms = 60000;
    struct ktx__accumulator *acc = new_acc(&ac);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    ck_assert_int_eq(append_value(acc, "u", 5, "v", T0, NULL), 0);
    struct ktx__batch *out[2];
    ck_assert_uint_eq(drain_ready(acc, T0 + 1, 1 << 20, out, 2), 0);
    ktx__accumulator_flush_begin(acc);
    ck_assert_uint_eq(drain_ready(acc, T0 + 1, 1 << 20, out, 2), 2);
    ktx__accumulator_flush_end(acc);
    finish(acc, out[0]);
    finish(acc, out[1]);
    ck_assert_int_eq(append_value(acc, "t", 0, "v", T0, NULL), 0);
    ck_assert_uint_eq(drain_ready(acc, T0 + 1, 1 << 20, out, 2), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_delivery_reports_carry_offsets_timestamps_and_opaques)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    int tags[5];
    for (int i = 0; i < 5; i++) {
        struct ktx__acc_record rec = {.key_len = -1, .value = "v", .value_len = 1,
                                      .timestamp = T0 + i, .opaque = &tags[i]};
        ck_assert_int_eq(
            ktx__accumulator_append(acc, "orders", 2, &rec, T0, false, NULL, NULL, 0), 0);
    }
    ck_assert_int_eq(append_value(acc, "orders", 3, "w", T0, &tags[0]), 0);
    struct ktx__batch *out[2];
    ck_assert_uint_eq(drain_ready(acc, T0 + 100, 1 << 20, out, 2), 2);
    ck_assert_int_eq(out[0]->partition, 2);
    ck_assert_uint_eq(ktx__dr_queue_pop(acc, 0) == NULL, 1);
    ktx__accumulator_complete(acc, out[0], 0, 100, -1);
    ktx__accumulator_complete(acc, out[1], 0, 7, 5555);
    ck_assert_uint_eq(ktx__dr_queue_len(acc), 2);
    struct ktx__batch *done = ktx__dr_queue_pop(acc, 1000);
    ck_assert_ptr_eq(done, out[0]);
    for (int i = 0; i < 5; i++) {
        struct ktx__record_report dr;
        ktx__batch_report(done, i, &dr);
        ck_assert_str_eq(dr.topic, "orders");
        ck_assert_int_eq(dr.partition, 2);
        ck_assert_int_eq(dr.offset, 100 + i);
        ck_assert_int_eq(dr.timestamp, T0 + i);
        ck_assert_int_eq(dr.err, 0);
        ck_assert_ptr_eq(dr.opaque, &tags[i]);
    }
    ktx__accumulator_deallocate(acc, done);
    done = ktx__dr_queue_pop(acc, -1);
    struct ktx__record_report dr;
    ktx__batch_report(done, 0, &dr);
    ck_assert_int_eq(dr.partition, 3);
    ck_assert_int_eq(dr.offset, 7);
    ck_assert_int_eq(dr.timestamp, 5555); /* LogAppendTime replaces CreateTime */
    ktx__accumulator_deallocate(acc, done);
    /* An empty queue returns NULL after the timeout. */
    int64_t start = mono_ms();
    ck_assert_ptr_null(ktx__dr_queue_pop(acc, 30));
    ck_assert_int_ge(mono_ms() - start, 29);
    ck_assert_uint_eq(ktx__accumulator_memory_used(acc), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_invalid_arguments_are_refused)
{
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc;
    ac.compression_type = KTX__COMPRESSION_GZIP;
    ck_assert_int_eq(ktx__accumulator_new(&acc, &ac), KTX_ERR_INVALID_ARG);
    ac = test_conf();
    ac.max_in_flight_per_partition = 0;
    ck_assert_int_eq(ktx__accumulator_new(&acc, &ac), KTX_ERR_INVALID_ARG);
    ac = test_conf();
    acc = new_acc(&ac);
    struct ktx__acc_record rec = {.key_len = -2, .value_len = -1};
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", 0, &rec, T0, false, NULL, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    rec.key_len = -1;
    ck_assert_int_eq(ktx__accumulator_append(acc, NULL, 0, &rec, T0, false, NULL, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__accumulator_append(acc, "t", -1, &rec, T0, false, NULL, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 0);
    ktx__accumulator_destroy(acc);
}
END_TEST

START_TEST(test_conf_values_map_to_accumulator_conf)
{
    struct ktx__conf_values v;
    memset(&v, 0, sizeof(v));
    v.batch_size = 16384;
    v.linger_ms = 5;
    v.max_in_flight = 20;
    v.enable_idempotence = true;
    v.compression_type = KTX__COMPRESSION_ZSTD;
    v.compression_zstd_level = 9;
    struct ktx__acc_conf ac;
    ktx__acc_conf_init(&ac, &v);
    ck_assert_int_eq(ac.batch_size, 16384);
    ck_assert_int_eq(ac.linger_ms, 5);
    ck_assert_int_eq(ac.max_in_flight_per_partition, 5);
    ck_assert_int_eq(ac.compression_type, KTX__COMPRESSION_ZSTD);
    ck_assert_int_eq(ac.compression_level, 9);
    v.enable_idempotence = false;
    ktx__acc_conf_init(&ac, &v);
    ck_assert_int_eq(ac.max_in_flight_per_partition, 20);
}
END_TEST

/* ---- sticky partitioning through the accumulator ---- */

/* Sends one keyless record as the producer will: partitioner first, new batch -> switch. */
static int32_t sticky_send(struct ktx__partitioner *part, struct ktx__accumulator *acc,
                           const char *value, bool *switched)
{
    struct ktx__acc_record rec = {.key_len = -1, .value = value,
                                  .value_len = (int32_t)strlen(value), .timestamp = T0};
    int32_t p = ktx__partitioner_partition(part, "s", NULL, 0, 4, NULL, 0);
    int err = ktx__accumulator_append(acc, "s", p, &rec, T0, true, NULL, NULL, 0);
    *switched = false;
    if (err == KTX__ACC_NEW_BATCH) {
        ktx__partitioner_on_new_batch(part, "s", p, 4, NULL, 0);
        int32_t q = ktx__partitioner_partition(part, "s", NULL, 0, 4, NULL, 0);
        *switched = q != p;
        p = q;
        err = ktx__accumulator_append(acc, "s", p, &rec, T0, false, NULL, NULL, 0);
    }
    ck_assert_int_eq(err, 0);
    return p;
}

START_TEST(test_sticky_partition_switches_when_its_batch_fills_and_spreads)
{
    struct ktx__acc_conf ac = test_conf();
    ac.batch_size = 512;
    struct ktx__accumulator *acc = new_acc(&ac);
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 3), 0);
    char value[51];
    memset(value, 'x', 50);
    value[50] = 0;
    int per_partition[4] = {0};
    int32_t prev = -1;
    int runs = 0;
    for (int i = 0; i < 400; i++) {
        bool switched;
        int32_t p = sticky_send(part, acc, value, &switched);
        per_partition[p]++;
        if (p != prev) {
            runs++;
            /* A partition change happens only when a batch filled up. */
            ck_assert(prev < 0 || switched);
        }
        prev = p;
    }
    /* 57-byte records: 7 per 512-byte batch, so about 400 / 7 runs over 4 partitions. */
    ck_assert_int_ge(runs, 50);
    for (int p = 0; p < 4; p++)
        ck_assert_int_gt(per_partition[p], 0);
    /* Every drained batch but the open ones is full: the sticky batches are not fragmented. */
    ktx__accumulator_flush_begin(acc);
    struct ktx__batch *out[8];
    size_t n, full = 0, partial = 0;
    while ((n = drain_ready(acc, T0, 1 << 20, out, 8)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (out[i]->record_count == 7)
                full++;
            else
                partial++;
            finish(acc, out[i]);
        }
    }
    ck_assert_uint_le(partial, 4);
    ck_assert_uint_ge(full, 400 / 7 - 4);
    ktx__partitioner_destroy(part);
    ktx__accumulator_destroy(acc);
}
END_TEST

/*
 * An interned topic (the metadata cache's copy, passed by ktx_send()) is recognised by its
 * address: records under two interned names and under plain names of the same bytes (one
 * in a buffer rewritten between calls) land in exactly their topic's partitions, and an
 * accumulator made after a destroy never sees the old one's partition.
 */
START_TEST(test_interned_topics_are_matched_by_address_and_agree_with_plain_names)
{
    static const char a[] = "ta", b[] = "tb";
    char buf[8];
    struct ktx__acc_conf ac = test_conf();
    struct ktx__accumulator *acc = new_acc(&ac);
    for (int i = 0; i < 60; i++) {
        switch (i % 6) {
        case 0: ck_assert_int_eq(append_interned(acc, a, 0, "a0"), 0); break;
        case 1: ck_assert_int_eq(append_interned(acc, b, 0, "b0"), 0); break;
        case 2: ck_assert_int_eq(append_interned(acc, a, 1, "a1"), 0); break;
        case 3:
            strcpy(buf, "ta");
            ck_assert_int_eq(append_value(acc, buf, 0, "a0", T0, NULL), 0);
            break;
        case 4:
            ck_assert_int_eq(append_interned(acc, a, 0, "a0"), 0);
            strcpy(buf, "tb"); /* same address, other name: not the last partition */
            ck_assert_int_eq(append_value(acc, buf, 0, "b0", T0, NULL), 0);
            break;
        default: ck_assert_int_eq(append_interned(acc, b, 0, "b0"), 0); break;
        }
    }
    ktx__accumulator_flush_begin(acc);
    struct ktx__batch *out[8];
    size_t n = drain_ready(acc, T0, 1 << 20, out, 8);
    int count[3] = {0};
    ck_assert_uint_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        const char *want = out[i]->topic[1] == 'a' ? (out[i]->partition ? "a1" : "a0") : "b0";
        size_t len;
        const uint8_t *p = ktx__batch_bytes(out[i], &len);
        struct ktx__record_iter it;
        struct ktx__record rec;
        ck_assert_int_eq(ktx__record_iter_init(&it, p, len, NULL, 0), 0);
        while (ktx__record_next(&it, &rec, NULL) == 0) {
            ck_assert_int_eq(rec.value.len, 2);
            ck_assert_mem_eq(rec.value.ptr, want, 2);
        }
        count[want[0] == 'b' ? 2 : want[1] - '0'] += out[i]->record_count;
        finish(acc, out[i]);
    }
    ktx__accumulator_flush_end(acc);
    ck_assert_int_eq(count[0], 30); /* cases 0, 3 and 4 */
    ck_assert_int_eq(count[1], 10);
    ck_assert_int_eq(count[2], 30); /* cases 1, 4 and 5 */
    ktx__accumulator_destroy(acc);
    /* A new accumulator (perhaps at the same address) starts with no partition. */
    acc = new_acc(&ac);
    ck_assert_int_eq(append_interned(acc, a, 0, "a0"), 0);
    ck_assert_uint_eq(ktx__accumulator_batches(acc), 1);
    ktx__accumulator_destroy(acc);
}
END_TEST

static Suite *accumulator_suite(void)
{
    Suite *s = suite_create("accumulator");
    TCase *tc = tcase_create("append");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_drained_batch_reads_back_exactly_the_appended_records_uncompressed);
    tcase_add_test(tc, test_drained_batch_reads_back_exactly_the_appended_records_zstd);
    tcase_add_test(tc, test_record_over_max_request_size_fails_with_message_too_large_alone);
    tcase_add_test(tc, test_record_bigger_than_batch_size_gets_a_batch_of_its_own);
    tcase_add_test(tc, test_completed_batch_buffers_are_reused_within_buffer_memory);
    tcase_add_test(tc, test_record_that_cannot_fit_in_buffer_memory_fails_with_message_too_large);
    tcase_add_test(tc, test_invalid_arguments_are_refused);
    tcase_add_test(tc, test_interned_topics_are_matched_by_address_and_agree_with_plain_names);
    tcase_add_test(tc, test_conf_values_map_to_accumulator_conf);
    tcase_add_test(tc, test_sticky_partition_switches_when_its_batch_fills_and_spreads);
    suite_add_tcase(s, tc);
    tc = tcase_create("ready_drain");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_ready_waits_for_linger_from_injected_clock);
    tcase_add_test(tc, test_full_batch_is_ready_before_linger_and_batch_size_is_respected);
    tcase_add_test(tc, test_drain_respects_max_request_size_and_rotates_partitions);
    tcase_add_test(tc, test_retried_batches_go_back_ahead_of_newer_ones_in_sequence_order);
    tcase_add_test(tc, test_retry_backoff_doubles_up_to_the_maximum);
    tcase_add_test(tc, test_muted_partition_is_neither_ready_nor_drained);
    tcase_add_test(tc, test_in_flight_limit_and_may_drain_hook_hold_batches_back);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_full_buffer_memory_blocks_then_fails_with_queue_full);
    tcase_add_test(tc, test_blocked_append_succeeds_when_another_thread_deallocates);
    tcase_add_test(tc, test_concurrent_appends_lose_nothing_and_keep_per_thread_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("completion");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_expired_returns_only_queued_batches_past_delivery_timeout);
    tcase_add_test(tc, test_abort_all_fails_every_queued_record_with_the_given_error);
    tcase_add_test(tc, test_close_rejects_appends_and_makes_queued_batches_ready);
    tcase_add_test(tc, test_flush_makes_lingering_batches_ready);
    tcase_add_test(tc, test_delivery_reports_carry_offsets_timestamps_and_opaques);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(accumulator_suite)
