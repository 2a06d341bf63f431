/*
 * Record batches: writer -> seal -> stamp -> validate -> read back, byte-exact layout,
 * CRC coverage, control batches, size limits, zstd (including bombs), the blob iterator
 * and the record reader's rejection of malformed records.
 */
#include "batch.h"
#include "check_util.h"
#include "compress.h"
#include "crc32c.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_READ 4096

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
    {1700000000000, "key-1", 5, "value-1", 7, NULL, 0},
    {1700000000005, NULL, -1, "value with a null key", 21, NULL, 0},
    {1700000000003, "tombstone", 9, NULL, -1, NULL, 0},
    {1699999999990, "", 0, "", 0, two_headers, 2},
    {1700000000100, NULL, -1, NULL, -1, two_headers, 1},
};

static void teardown(void)
{
    ktx__compress_thread_cleanup();
}

static void append_all(struct ktx__batch_writer *bw, const struct test_record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int err = ktx__batch_append(bw, recs[i].timestamp, recs[i].key, recs[i].key_len,
                                    recs[i].value, recs[i].value_len, recs[i].headers,
                                    recs[i].header_count);
        ck_assert_int_eq(err, 0);
    }
}

static void assert_bytes(struct ktx__bytes got, const void *want, int32_t want_len)
{
    ck_assert_int_eq(got.len, want_len);
    if (want_len > 0)
        ck_assert_mem_eq(got.ptr, want, (size_t)want_len);
}

/* Reads every record of |batch| and compares it with |recs|. */
static void assert_records(const uint8_t *batch, size_t len, const struct test_record *recs,
                           size_t n, int64_t base_offset)
{
    struct ktx__writer scratch;
    struct ktx__arena arena;
    struct ktx__record_iter it;
    struct ktx__record rec;
    ktx__w_init(&scratch, 0, 0);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, batch, len, &scratch, 64 << 20), 0);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(ktx__record_next(&it, &rec, &arena), 0);
        ck_assert_int_eq(rec.offset, base_offset + (int64_t)i);
        ck_assert_int_eq(rec.timestamp, recs[i].timestamp);
        assert_bytes(rec.key, recs[i].key, recs[i].key_len);
        assert_bytes(rec.value, recs[i].value, recs[i].value_len);
        ck_assert_int_eq(rec.header_count, (int32_t)recs[i].header_count);
        for (size_t h = 0; h < recs[i].header_count; h++) {
            ck_assert(ktx__str_eq(rec.headers[h].key, recs[i].headers[h].key));
            ck_assert(ktx__bytes_eq(rec.headers[h].value, recs[i].headers[h].value));
        }
    }
    ck_assert_int_eq(ktx__record_next(&it, &rec, &arena), KTX__RECORDS_END);
    ktx__arena_free(&arena);
    ktx__w_free(&scratch);
}

/* Builds, seals and stamps a batch of |recs| in |bw|; returns its bytes. */
static uint8_t *build(struct ktx__batch_writer *bw, const struct test_record *recs, size_t n,
                      int compression, size_t *len)
{
    ck_assert_int_eq(ktx__batch_writer_init(bw, 0, 1 << 20), 0);
    append_all(bw, recs, n);
    ck_assert_int_eq(ktx__batch_seal(bw, compression, 0), 0);
    uint8_t *p = ktx__batch_writer_data(bw, len);
    ck_assert_ptr_nonnull(p);
    ktx__batch_stamp(p, *len, 1234, 5, 100, true);
    return p;
}

START_TEST(test_batch_roundtrips_keys_null_keys_null_values_and_headers)
{
    struct ktx__batch_writer bw;
    struct ktx__batch_header h;
    size_t len;
    uint8_t *p = build(&bw, mixed, KTX__ARRAY_LEN(mixed), KTX__COMPRESSION_NONE, &len);
    ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
    ck_assert_int_eq(h.base_offset, 0);
    ck_assert_int_eq(h.batch_length, (int32_t)len - 12);
    ck_assert_int_eq(h.partition_leader_epoch, -1);
    ck_assert_int_eq(h.magic, 2);
    ck_assert_uint_eq(h.crc, ktx__crc32c_sw(0, p + 21, len - 21));
    ck_assert_int_eq(h.attributes, KTX__BATCH_ATTR_TRANSACTIONAL);
    ck_assert(ktx__batch_is_transactional(&h));
    ck_assert(!ktx__batch_is_control(&h));
    ck_assert_int_eq(ktx__batch_compression(&h), KTX__COMPRESSION_NONE);
    ck_assert_int_eq(h.last_offset_delta, 4);
    ck_assert_int_eq(h.base_timestamp, 1700000000000);
    ck_assert_int_eq(h.max_timestamp, 1700000000100);
    ck_assert_int_eq(h.producer_id, 1234);
    ck_assert_int_eq(h.producer_epoch, 5);
    ck_assert_int_eq(h.base_sequence, 100);
    ck_assert_int_eq(h.records_count, 5);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 5);
    /* The broker assigns the base offset; the CRC does not cover it. */
    p[7] = 42;
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    assert_records(p, len, mixed, KTX__ARRAY_LEN(mixed), 42);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_batch_zstd_roundtrips_many_records_and_is_smaller)
{
    enum { N = 2000 };
    static struct test_record recs[N];
    static char values[N][64];
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        int vn = snprintf(values[i], sizeof(values[i]), "{\"user\":%d,\"event\":\"click\"}", i);
        int kn = snprintf(keys[i], sizeof(keys[i]), "user-%d", i % 17);
        recs[i] = (struct test_record){1700000000000 + i, keys[i], kn, values[i], vn,
                                       i % 3 ? NULL : two_headers, i % 3 ? 0 : 2};
    }
    struct ktx__batch_writer plain, zstd;
    struct ktx__batch_header h;
    size_t plain_len, zstd_len;
    build(&plain, recs, N, KTX__COMPRESSION_NONE, &plain_len);
    uint8_t *p = build(&zstd, recs, N, KTX__COMPRESSION_ZSTD, &zstd_len);
    ck_assert_int_eq(ktx__batch_validate(p, zstd_len, &h), 0);
    ck_assert_int_eq(ktx__batch_compression(&h), KTX__COMPRESSION_ZSTD);
    ck_assert_int_eq(h.records_count, N);
    ck_assert_int_eq(h.max_timestamp, 1700000000000 + N - 1);
    ck_assert_uint_lt(zstd_len * 4, plain_len);
    assert_records(p, zstd_len, recs, N, 0);
    ktx__batch_writer_free(&plain);
    ktx__batch_writer_free(&zstd);
}
END_TEST

START_TEST(test_batch_zstd_keeps_incompressible_records_uncompressed)
{
    static uint8_t noise[3000];
    ktx_test_fill_random(noise, sizeof(noise), 3);
    struct test_record rec = {1, "k", 1, (const char *)noise, (int32_t)sizeof(noise), NULL, 0};
    struct ktx__batch_writer bw;
    struct ktx__batch_header h;
    size_t len;
    uint8_t *p = build(&bw, &rec, 1, KTX__COMPRESSION_ZSTD, &len);
    ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
    ck_assert_int_eq(ktx__batch_compression(&h), KTX__COMPRESSION_NONE);
    assert_records(p, len, &rec, 1, 0);
    ktx__batch_writer_free(&bw);
}
END_TEST

/* One record, key "k", value "v", no headers, written field by field. */
START_TEST(test_batch_writer_output_matches_hand_built_bytes)
{
    size_t want_len;
    uint8_t *want = ktx_test_unhex("0000000000000000" /* baseOffset 0 */
                                   "0000003a"         /* batchLength 58 = 70 - 12 */
                                   "ffffffff"         /* partitionLeaderEpoch -1 */
                                   "02"               /* magic 2 */
                                   "00000000"         /* crc, filled in below */
                                   "0000"             /* attributes: none, CreateTime */
                                   "00000000"         /* lastOffsetDelta 0 */
                                   "0000018bcfe56800" /* baseTimestamp 1700000000000 */
                                   "0000018bcfe56800" /* maxTimestamp */
                                   "000000000000002a" /* producerId 42 */
                                   "0003"             /* producerEpoch 3 */
                                   "00000007"         /* baseSequence 7 */
                                   "00000001"         /* records count 1 */
                                   "10"               /* record length varint 8 */
                                   "00"               /* record attributes */
                                   "00"               /* timestampDelta 0 */
                                   "00"               /* offsetDelta 0 */
                                   "02" "6b"          /* keyLength 1, "k" */
                                   "02" "76"          /* valueLength 1, "v" */
                                   "00",              /* headers count 0 */
                                   &want_len);
    ck_assert_uint_eq(want_len, 70);
    ktx__be32_put(want + 17, ktx__crc32c_sw(0, want + 21, want_len - 21));

    struct ktx__batch_writer bw;
    size_t len;
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 1000), 0);
    ck_assert_uint_eq(ktx__batch_record_size(0, 0, 1, 1, NULL, 0), 9);
    ck_assert_int_eq(ktx__batch_append(&bw, 1700000000000, "k", 1, "v", 1, NULL, 0), 0);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_NONE, 0), 0);
    uint8_t *p = ktx__batch_writer_data(&bw, &len);
    ktx__batch_stamp(p, len, 42, 3, 7, false);
    ck_assert_uint_eq(len, want_len);
    ck_assert_mem_eq(p, want, want_len);
    /* Regression guard: the CRC this exact batch must carry. */
    ck_assert_uint_eq(ktx__be32_get(p + 17), 0xadbbf98fu);
    free(want);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_batch_every_flipped_byte_is_rejected_outside_broker_fields)
{
    struct ktx__batch_writer bw;
    size_t len;
    uint8_t *p = build(&bw, mixed, 2, KTX__COMPRESSION_NONE, &len);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    for (size_t i = 0; i < len; i++) {
        p[i] ^= 0xff;
        int err = ktx__batch_validate(p, len, NULL);
        if (i < 8 || (i >= 12 && i < 16))
            /* baseOffset and partitionLeaderEpoch belong to the broker: not covered. */
            ck_assert_msg(err == 0, "byte %zu", i);
        else
            ck_assert_msg(err == KTX_ERR_CORRUPT_MESSAGE, "byte %zu accepted", i);
        p[i] ^= 0xff;
    }
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_batch_restamp_after_epoch_bump_updates_identity_and_crc)
{
    struct ktx__batch_writer bw;
    struct ktx__batch_header h;
    size_t len;
    uint8_t *p = build(&bw, mixed, 3, KTX__COMPRESSION_NONE, &len);
    uint32_t first_crc = ktx__be32_get(p + 17);
    ktx__batch_stamp(p, len, 1234, 6, 0, false);
    ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
    ck_assert_uint_ne(h.crc, first_crc);
    ck_assert_int_eq(h.producer_epoch, 6);
    ck_assert_int_eq(h.base_sequence, 0);
    ck_assert(!ktx__batch_is_transactional(&h));
    ktx__batch_writer_free(&bw);
}
END_TEST

static void check_control(bool commit)
{
    struct ktx__writer w;
    struct ktx__batch_header h;
    struct ktx__record_iter it;
    struct ktx__record rec;
    int16_t type = 99;
    int32_t epoch = 0;
    ktx__w_init(&w, 0, 0);
    ck_assert_int_eq(ktx__batch_write_control(&w, 777, 9, commit, 31, 1700000000000), 0);
    ck_assert_uint_eq(w.len, 78);
    ck_assert_int_eq(ktx__batch_validate(w.p, w.len, &h), 0);
    ck_assert(ktx__batch_is_control(&h));
    ck_assert(ktx__batch_is_transactional(&h));
    ck_assert_int_eq(h.producer_id, 777);
    ck_assert_int_eq(h.producer_epoch, 9);
    ck_assert_int_eq(h.base_sequence, -1);
    ck_assert_int_eq(h.records_count, 1);
    ck_assert_int_eq(h.base_timestamp, 1700000000000);
    ck_assert_int_eq(ktx__record_iter_init(&it, w.p, w.len, NULL, 0), 0);
    ck_assert_int_eq(ktx__record_next(&it, &rec, NULL), 0);
    ck_assert_int_eq(rec.key.len, 4);
    ck_assert_int_eq(rec.value.len, 6);
    ck_assert_int_eq(ktx__batch_read_control(&rec, &type, &epoch), 0);
    ck_assert_int_eq(type, commit ? KTX__CONTROL_COMMIT : KTX__CONTROL_ABORT);
    ck_assert_int_eq(epoch, 31);
    ck_assert_int_eq(ktx__record_next(&it, &rec, NULL), KTX__RECORDS_END);
    ktx__w_free(&w);
}

START_TEST(test_batch_control_commit_marker_roundtrips)
{
    check_control(true);
}
END_TEST

START_TEST(test_batch_control_abort_marker_roundtrips)
{
    check_control(false);
}
END_TEST

/* A commit marker, written field by field. */
START_TEST(test_batch_control_marker_matches_hand_built_bytes)
{
    size_t want_len;
    uint8_t *want = ktx_test_unhex("0000000000000000" /* baseOffset 0 */
                                   "00000042"         /* batchLength 66 = 78 - 12 */
                                   "ffffffff"         /* partitionLeaderEpoch -1 */
                                   "02"               /* magic 2 */
                                   "00000000"         /* crc, filled in below */
                                   "0030"             /* attributes: transactional, control */
                                   "00000000"         /* lastOffsetDelta 0 */
                                   "0000018bcfe56800" /* baseTimestamp 1700000000000 */
                                   "0000018bcfe56800" /* maxTimestamp */
                                   "0000000000000309" /* producerId 777 */
                                   "0009"             /* producerEpoch 9 */
                                   "ffffffff"         /* baseSequence -1 */
                                   "00000001"         /* records count 1 */
                                   "20"               /* record length varint 16 */
                                   "00 00 00"         /* attributes, timestampDelta, offsetDelta */
                                   "08 0000 0001"     /* keyLength 4: version 0, type 1 (commit) */
                                   "0c 0000 0000001f" /* valueLength 6: version 0, epoch 31 */
                                   "00",              /* headers count 0 */
                                   &want_len);
    struct ktx__writer w;
    ktx__be32_put(want + 17, ktx__crc32c_sw(0, want + 21, want_len - 21));
    ktx__w_init(&w, 0, 0);
    ktx__w_raw(&w, "xyz", 3); /* the batch is appended after what |w| holds */
    ck_assert_int_eq(ktx__batch_write_control(&w, 777, 9, true, 31, 1700000000000), 0);
    ck_assert_uint_eq(w.len, 3 + want_len);
    ck_assert_mem_eq(w.p + 3, want, want_len);
    free(want);
    ktx__w_free(&w);
}
END_TEST

/* Appends |n| random records (null and empty keys, values and headers mixed) to |bw|,
 * checking that each grows the batch by ktx__batch_record_size() (which
 * ktx__batch_record_size_of() of the fields' size matches), every other one through
 * ktx__batch_append_sized(). */
static void append_random(struct ktx__batch_writer *bw, struct test_record *recs,
                          struct ktx__record_header (*hdrs)[3], uint8_t *pool, int n,
                          uint64_t seed)
{
    uint8_t r[8];
    for (int i = 0; i < n; i++) {
        ktx_test_fill_random(r, sizeof(r), seed * 1000 + (uint64_t)i + 1);
        struct test_record *t = &recs[i];
        t->timestamp = 1700000000000 + (int64_t)(r[0] % 200) - 100;
        t->key = (const char *)pool + r[1];
        t->key_len = r[2] % 5 == 0 ? -1 : r[2] % 40;
        t->value = (const char *)pool + r[3];
        t->value_len = r[4] % 7 == 0 ? -1 : (int32_t)(r[4] * 3 + r[5]) % 700;
        t->header_count = r[6] % 4;
        t->headers = hdrs[i];
        for (size_t h = 0; h < t->header_count; h++) {
            hdrs[i][h].key = (struct ktx__str){(const char *)pool + h * 7, (int32_t)(h * 3)};
            hdrs[i][h].value = (struct ktx__bytes){pool + r[7], (r[7] + (int)h) % 5 - 1};
        }
        int64_t base = i ? bw->base_timestamp : t->timestamp;
        size_t expect = ktx__batch_record_size(t->timestamp - base, i, t->key_len,
                                               t->value_len, t->headers, t->header_count);
        size_t fields = ktx__batch_record_fields_size(t->key_len, t->value_len, t->headers,
                                                      t->header_count);
        ck_assert_uint_eq(ktx__batch_record_size_of(t->timestamp - base, i, fields), expect);
        size_t before = ktx__batch_writer_size(bw);
        /* Every other record through the accumulator's path: the fields' size computed
         * once by the caller (SIZE_MAX first: refused, the batch unchanged). */
        if (i % 2) {
            ck_assert_int_eq(ktx__batch_append_sized(bw, SIZE_MAX, t->timestamp, t->key,
                                                     t->key_len, t->value, t->value_len,
                                                     t->headers, t->header_count),
                             KTX_ERR_INVALID_ARG);
            ck_assert_uint_eq(ktx__batch_writer_size(bw), before);
            ck_assert_int_eq(ktx__batch_append_sized(bw, fields, t->timestamp, t->key,
                                                     t->key_len, t->value, t->value_len,
                                                     t->headers, t->header_count),
                             0);
        } else {
            ck_assert_int_eq(ktx__batch_append(bw, t->timestamp, t->key, t->key_len, t->value,
                                               t->value_len, t->headers, t->header_count),
                             0);
        }
        ck_assert_uint_eq(ktx__batch_writer_size(bw) - before, expect);
    }
}

START_TEST(test_batch_random_records_roundtrip_with_and_without_zstd)
{
    enum { N = 300 };
    static struct test_record recs[N];
    static struct ktx__record_header hdrs[N][3];
    static uint8_t pool[1024];
    ktx_test_fill_random(pool, sizeof(pool), 11);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        int compression = seed % 2 ? KTX__COMPRESSION_ZSTD : KTX__COMPRESSION_NONE;
        int n = 1 + (int)(seed * 37 % N);
        struct ktx__batch_writer bw;
        struct ktx__batch_header h;
        size_t len;
        ck_assert_int_eq(ktx__batch_writer_init(&bw, 16, 1 << 20), 0);
        append_random(&bw, recs, hdrs, pool, n, seed);
        ck_assert_int_eq(ktx__batch_seal(&bw, compression, (int)seed % 5), 0);
        uint8_t *p = ktx__batch_writer_data(&bw, &len);
        ktx__batch_stamp(p, len, (int64_t)seed, (int16_t)seed, (int32_t)seed * 10, seed % 3);
        ck_assert_int_eq(ktx__batch_validate(p, len, &h), 0);
        ck_assert_int_eq(h.records_count, n);
        ck_assert_int_eq(h.producer_id, (int64_t)seed);
        ck_assert(ktx__batch_is_transactional(&h) == (seed % 3 != 0));
        assert_records(p, len, recs, (size_t)n, 0);
        ktx__batch_writer_free(&bw);
    }
}
END_TEST

/* The size of a zigzag varint, counted byte by byte as the reader consumes it. */
static size_t ref_var_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* Record sizes at every varint length boundary: timestamp deltas up to INT64_MIN/MAX,
 * offset deltas and lengths up to INT32_MAX. */
START_TEST(test_batch_record_size_is_exact_at_every_varint_boundary)
{
    int64_t ts[64 * 2 + 4];
    size_t nts = 0;
    ts[nts++] = 0;
    ts[nts++] = -1;
    ts[nts++] = INT64_MAX;
    ts[nts++] = INT64_MIN;
    for (int b = 0; b < 62; b++) {
        ts[nts++] = ((int64_t)1 << b);
        ts[nts++] = -((int64_t)1 << b) - 1;
    }
    int32_t lens[] = {-1, 0, 1, 63, 64, 127, 128, 8191, 8192, 16383, 16384, 1048575, 1048576,
                      134217727, 134217728, INT32_MAX - 64};
    for (size_t i = 0; i < nts; i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            int32_t off = lens[j] < 0 ? 0 : lens[j];
            size_t body = 1 + ref_var_size(ts[i]) + ref_var_size(off) + ref_var_size(lens[j]) +
                          (lens[j] > 0 ? (size_t)lens[j] : 0) + ref_var_size(-1) +
                          ref_var_size(0);
            size_t want = body > INT32_MAX ? SIZE_MAX : ref_var_size((int32_t)body) + body;
            ck_assert_uint_eq(ktx__batch_record_size(ts[i], off, lens[j], -1, NULL, 0), want);
        }
    }
}
END_TEST

START_TEST(test_batch_read_control_rejects_short_key_and_value)
{
    static const uint8_t key[] = {0, 0, 0, 1}, value[] = {0, 0, 0, 0, 0};
    struct ktx__record rec = {0};
    rec.key = (struct ktx__bytes){key, 3};
    rec.value = (struct ktx__bytes){value, 5};
    ck_assert_int_eq(ktx__batch_read_control(&rec, NULL, NULL), KTX_ERR_CORRUPT_MESSAGE);
    rec.key.len = 4;
    ck_assert_int_eq(ktx__batch_read_control(&rec, NULL, NULL), KTX_ERR_CORRUPT_MESSAGE);
    rec.key.len = -1;
    ck_assert_int_eq(ktx__batch_read_control(&rec, NULL, NULL), KTX_ERR_CORRUPT_MESSAGE);
}
END_TEST

START_TEST(test_batch_first_record_always_fits_up_to_record_limit)
{
    static char big[5000];
    struct ktx__batch_writer bw;
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 1000), 0);
    /* Alone, a record larger than max_bytes is refused outright... */
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, -1, big, 2000, NULL, 0),
                     KTX_ERR_MESSAGE_TOO_LARGE);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 0);
    /* ...unless the record limit allows it: then it forms its own batch. */
    ktx__batch_writer_set_record_limit(&bw, 4000);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, -1, big, 5000, NULL, 0),
                     KTX_ERR_MESSAGE_TOO_LARGE);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, -1, big, 2000, NULL, 0), 0);
    size_t before = ktx__batch_writer_size(&bw);
    ck_assert_int_eq(ktx__batch_append(&bw, 2, "k", 1, "v", 1, NULL, 0), KTX__BATCH_FULL);
    ck_assert_uint_eq(ktx__batch_writer_size(&bw), before);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 1);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_NONE, 0), 0);
    size_t len;
    uint8_t *p = ktx__batch_writer_data(&bw, &len);
    ktx__batch_stamp(p, len, -1, -1, -1, false);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_batch_append_refuses_records_past_max_bytes_and_keeps_batch)
{
    static char value[100];
    struct ktx__batch_writer bw;
    int err = 0;
    int32_t n = 0;
    memset(value, 'v', sizeof(value));
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 64, 1000), 0);
    while ((err = ktx__batch_append(&bw, 5, "key", 3, value, 100, NULL, 0)) == 0)
        n++;
    ck_assert_int_eq(err, KTX__BATCH_FULL);
    /* Each record is 2 (length) + 110 bytes: (1000 - 61) / 112 = 8 fit, 43 bytes left. */
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 8);
    ck_assert_uint_eq(ktx__batch_writer_size(&bw), 61 + 8 * 112);
    /* A 47-byte record does not fit in them, a 37-byte one does. */
    ck_assert_int_eq(ktx__batch_append(&bw, 5, NULL, -1, value, 40, NULL, 0), KTX__BATCH_FULL);
    ck_assert_int_eq(ktx__batch_append(&bw, 5, NULL, -1, value, 30, NULL, 0), 0);
    ck_assert_uint_eq(ktx__batch_writer_size(&bw), 1000 - 6);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_NONE, 0), 0);
    ck_assert_int_eq(ktx__batch_append(&bw, 5, NULL, -1, NULL, -1, NULL, 0), KTX_ERR_STATE);
    size_t len;
    ktx__batch_writer_data(&bw, &len);
    ck_assert_uint_le(len, 1000);
    /* Reset starts a new, empty batch in the same buffer. */
    ktx__batch_writer_reset(&bw);
    ck_assert_ptr_null(ktx__batch_writer_data(&bw, &len));
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_NONE, 0), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__batch_append(&bw, 6, "a", 1, "b", 1, NULL, 0), 0);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 1);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_batch_append_rejects_malformed_records)
{
    struct ktx__batch_writer bw;
    struct ktx__record_header bad = {{NULL, -1}, {NULL, -1}};
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 1000), 0);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, "k", -2, NULL, -1, NULL, 0), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, 3, NULL, -1, NULL, 0), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, -1, NULL, -1, &bad, 1), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__batch_append(&bw, INT64_MIN, NULL, -1, NULL, -1, NULL, 0), 0);
    ck_assert_int_eq(ktx__batch_append(&bw, INT64_MAX, NULL, -1, NULL, -1, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__batch_writer_count(&bw), 1);
    ktx__batch_writer_free(&bw);
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 61), KTX_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_batch_seal_refuses_gzip_snappy_lz4)
{
    struct ktx__batch_writer bw;
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 1000), 0);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, "k", 1, "v", 1, NULL, 0), 0);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_GZIP, 0), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_SNAPPY, 0), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_LZ4, 0), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__batch_seal(&bw, 7, 0), KTX_ERR_INVALID_ARG);
    /* The failed seals left the batch open. */
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_NONE, 0), 0);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_compression_parse_accepts_none_and_zstd_only)
{
    int type = -1;
    ck_assert_int_eq(ktx__compression_parse("zstd", &type), 0);
    ck_assert_int_eq(type, KTX__COMPRESSION_ZSTD);
    ck_assert_int_eq(ktx__compression_parse("none", &type), 0);
    ck_assert_int_eq(type, KTX__COMPRESSION_NONE);
    ck_assert_int_eq(ktx__compression_parse("gzip", &type), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__compression_parse("snappy", &type), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__compression_parse("lz4", &type), KTX_ERR_UNSUPPORTED);
    ck_assert_int_eq(ktx__compression_parse("brotli", &type), KTX_ERR_BAD_CONFIG);
    ck_assert_int_eq(ktx__compression_parse(NULL, &type), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(type, KTX__COMPRESSION_NONE);
    ck_assert_str_eq(ktx__compression_message("zstd"), "");
    ck_assert_ptr_nonnull(strstr(ktx__compression_message("lz4"), "not supported"));
    ck_assert_ptr_nonnull(strstr(ktx__compression_message("brotli"), "none, zstd"));
    ck_assert_str_eq(ktx__compression_name(KTX__COMPRESSION_SNAPPY), "snappy");
}
END_TEST

START_TEST(test_batch_zstd_decompression_bomb_is_rejected)
{
    enum { BIG = 4 << 20 };
    char *zeros = calloc(1, BIG);
    struct ktx__batch_writer bw;
    struct ktx__record_iter it;
    struct ktx__writer scratch;
    size_t len;
    ck_assert_ptr_nonnull(zeros);
    ck_assert_int_eq(ktx__batch_writer_init(&bw, 0, 8 << 20), 0);
    ck_assert_int_eq(ktx__batch_append(&bw, 1, NULL, -1, zeros, BIG, NULL, 0), 0);
    ck_assert_int_eq(ktx__batch_seal(&bw, KTX__COMPRESSION_ZSTD, 1), 0);
    uint8_t *p = ktx__batch_writer_data(&bw, &len);
    ktx__batch_stamp(p, len, 1, 0, 0, false);
    ck_assert_uint_lt(len, 2000);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    ktx__w_init(&scratch, 0, 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, &scratch, 1 << 20),
                     KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_uint_le(scratch.cap, 1 << 20);
    /* The writer's own ceiling applies as well. */
    ktx__w_free(&scratch);
    ktx__w_init(&scratch, 0, 1 << 20);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, &scratch, SIZE_MAX),
                     KTX_ERR_CORRUPT_MESSAGE);
    /* With enough room the same batch reads back. */
    ktx__w_free(&scratch);
    ktx__w_init(&scratch, 0, 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, &scratch, BIG + 16), 0);
    ktx__w_free(&scratch);
    free(zeros);
    ktx__batch_writer_free(&bw);
}
END_TEST

START_TEST(test_zstd_decompress_rejects_truncated_and_garbage_input)
{
    static char text[10000];
    uint8_t comp[12000];
    size_t n;
    struct ktx__writer out;
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "abcdefgh"[i % 8];
    ck_assert_int_eq(ktx__zstd_compress(comp, sizeof(comp), text, sizeof(text), 3, &n), 0);
    ktx__w_init(&out, 0, 0);
    ck_assert_int_eq(ktx__zstd_decompress(&out, comp, n, sizeof(text)), 0);
    ck_assert_uint_eq(out.len, sizeof(text));
    ck_assert_mem_eq(out.p, text, sizeof(text));
    ktx__w_reset(&out);
    /* Exactly at the limit is fine; one byte less is a bomb. */
    ck_assert_int_eq(ktx__zstd_decompress(&out, comp, n, sizeof(text) - 1),
                     KTX_ERR_CORRUPT_MESSAGE);
    ktx__w_reset(&out);
    ck_assert_int_eq(ktx__zstd_decompress(&out, comp, n - 1, SIZE_MAX), KTX_ERR_CORRUPT_MESSAGE);
    ktx__w_reset(&out);
    ck_assert_int_eq(ktx__zstd_decompress(&out, "not zstd at all", 15, SIZE_MAX),
                     KTX_ERR_CORRUPT_MESSAGE);
    ktx__w_reset(&out);
    ck_assert_int_eq(ktx__zstd_decompress(&out, comp, 0, SIZE_MAX), KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(ktx__zstd_compress(comp, 10, text, sizeof(text), 3, &n),
                     KTX_ERR_INVALID_ARG);
    ktx__w_free(&out);
}
END_TEST

START_TEST(test_batch_iter_reports_truncated_trailing_batch)
{
    struct ktx__writer blob;
    struct ktx__batch_iter it;
    const uint8_t *b;
    size_t blen;
    size_t sizes[3];
    ktx__w_init(&blob, 0, 0);
    for (int i = 0; i < 3; i++) {
        size_t before = blob.len;
        ck_assert_int_eq(ktx__batch_write_control(&blob, i, 0, i % 2, 1, 1), 0);
        sizes[i] = blob.len - before;
    }
    /* The whole blob: three batches, not truncated. */
    ktx__batch_iter_init(&it, blob.p, blob.len);
    for (int i = 0; i < 3; i++) {
        ck_assert(ktx__batch_next(&it, &b, &blen));
        ck_assert_uint_eq(blen, sizes[i]);
        ck_assert_int_eq(ktx__batch_validate(b, blen, NULL), 0);
    }
    ck_assert(!ktx__batch_next(&it, &b, &blen));
    ck_assert(!it.truncated);
    ck_assert_int_eq(it.err, 0);
    /* Cut inside the last batch, then inside its 12-byte prefix. */
    size_t cuts[] = {blob.len - 5, blob.len - sizes[2] + 7};
    for (int c = 0; c < 2; c++) {
        ktx__batch_iter_init(&it, blob.p, cuts[c]);
        ck_assert(ktx__batch_next(&it, &b, &blen));
        ck_assert(ktx__batch_next(&it, &b, &blen));
        ck_assert(!ktx__batch_next(&it, &b, &blen));
        ck_assert(it.truncated);
        ck_assert_int_eq(it.err, 0);
    }
    /* An impossible batchLength ends the iteration with an error. */
    ktx__be32_put(blob.p + sizes[0] + 8, 10);
    ktx__batch_iter_init(&it, blob.p, blob.len);
    ck_assert(ktx__batch_next(&it, &b, &blen));
    ck_assert(!ktx__batch_next(&it, &b, &blen));
    ck_assert_int_eq(it.err, KTX_ERR_CORRUPT_MESSAGE);
    ktx__w_free(&blob);
}
END_TEST

START_TEST(test_batch_validate_rejects_bad_magic_count_and_length)
{
    struct ktx__batch_writer bw;
    size_t len;
    uint8_t *p = build(&bw, mixed, 2, KTX__COMPRESSION_NONE, &len);
    uint8_t copy[512];
    ck_assert_uint_lt(len + 1, sizeof(copy));
    memcpy(copy, p, len);
    copy[len] = 0;
    ck_assert_int_eq(ktx__batch_validate(copy, len + 1, NULL), KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(ktx__batch_validate(copy, len - 1, NULL), KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(ktx__batch_validate(copy, 60, NULL), KTX_ERR_CORRUPT_MESSAGE);
    copy[16] = 1;
    ck_assert_int_eq(ktx__batch_validate(copy, len, NULL), KTX_ERR_CORRUPT_MESSAGE);
    copy[16] = 2;
    /* Count 0 with a correct CRC is still rejected. */
    ktx__be32_put(copy + 57, 0);
    ktx__be32_put(copy + 23, (uint32_t)-1);
    ktx__batch_stamp(copy, len, 1234, 5, 100, true);
    ck_assert_int_eq(ktx__batch_validate(copy, len, NULL), KTX_ERR_CORRUPT_MESSAGE);
    /* lastOffsetDelta must match the count. */
    ktx__be32_put(copy + 57, 2);
    ktx__be32_put(copy + 23, 5);
    ktx__batch_stamp(copy, len, 1234, 5, 100, true);
    ck_assert_int_eq(ktx__batch_validate(copy, len, NULL), KTX_ERR_CORRUPT_MESSAGE);
    ktx__batch_writer_free(&bw);
}
END_TEST

/* Builds a one-record batch whose records section is |records| (hex), count |count|. */
static uint8_t *raw_batch(const char *records, int32_t count, size_t *len)
{
    size_t rlen;
    uint8_t *r = ktx_test_unhex(records, &rlen);
    uint8_t *p = calloc(1, 61 + rlen);
    ck_assert_ptr_nonnull(p);
    ktx__be32_put(p + 8, (uint32_t)(49 + rlen));
    p[16] = 2;
    ktx__be32_put(p + 23, (uint32_t)(count - 1));
    ktx__be32_put(p + 57, (uint32_t)count);
    memcpy(p + 61, r, rlen);
    free(r);
    *len = 61 + rlen;
    ktx__batch_stamp(p, *len, 1, 0, 0, false);
    return p;
}

/* Returns the result of reading every record of a raw batch. */
static int read_raw(const char *records, int32_t count)
{
    size_t len;
    uint8_t *p = raw_batch(records, count, &len);
    struct ktx__record_iter it;
    struct ktx__record rec;
    struct ktx__arena arena;
    int err;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, NULL, 0), 0);
    while ((err = ktx__record_next(&it, &rec, &arena)) == 0)
        ;
    ktx__arena_free(&arena);
    free(p);
    return err;
}

START_TEST(test_record_reader_rejects_malformed_records)
{
    /* Good records: length 6, attributes, timestampDelta 0, offsetDelta 0 (then 1),
     * null key, empty value, no headers. */
    ck_assert_int_eq(read_raw("0c 00 00 00 01 00 00  0c 00 00 02 01 00 00", 2), KTX__RECORDS_END);
    /* The count says 2 but one record follows (then padding), and the reverse. */
    ck_assert_int_eq(read_raw("0c 00 00 00 01 00 00  00 00 00 00 00 00 00", 2),
                     KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(read_raw("0c 00 00 00 01 00 00  0c 00 00 02 01 00 00", 1),
                     KTX_ERR_CORRUPT_MESSAGE);
    /* A key length of -2. */
    ck_assert_int_eq(read_raw("0c 00 00 00 03 00 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* A value length (10) past the end of the record. */
    ck_assert_int_eq(read_raw("0c 00 00 00 01 14 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* A record length (63) past the end of the batch. */
    ck_assert_int_eq(read_raw("7e 00 00 00 01 01 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* A negative record length (-7). */
    ck_assert_int_eq(read_raw("0d 00 00 00 01 01 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* An offsetDelta varint longer than five bytes (overflow). */
    ck_assert_int_eq(read_raw("18 00 00 ff ff ff ff ff 01 01 01 00 00", 1),
                     KTX_ERR_CORRUPT_MESSAGE);
    /* A header with a null key, and a header count (63) larger than the bytes left. */
    ck_assert_int_eq(read_raw("10 00 00 00 01 01 02 01 01", 1), KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(read_raw("10 00 00 00 01 01 7e 00 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* Bytes left inside a record after its headers. */
    ck_assert_int_eq(read_raw("10 00 00 00 01 01 00 00 00", 1), KTX_ERR_CORRUPT_MESSAGE);
    /* The same record without the two extra bytes is fine, and so is a header. */
    ck_assert_int_eq(read_raw("0c 00 00 00 01 01 00", 1), KTX__RECORDS_END);
    ck_assert_int_eq(read_raw("12 00 00 00 01 01 02 02 68 01", 1), KTX__RECORDS_END);
}
END_TEST

START_TEST(test_record_reader_reports_unsupported_compression)
{
    size_t len;
    uint8_t *p = raw_batch("0c 00 00 00 01 00 00", 1, &len);
    struct ktx__record_iter it;
    p[22] = KTX__COMPRESSION_GZIP;
    ktx__batch_stamp(p, len, 1, 0, 0, false);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), 0);
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, NULL, 0),
                     KTX_ERR_UNSUPPORTED_COMPRESSION_TYPE);
    p[22] = KTX__COMPRESSION_ZSTD;
    ck_assert_int_eq(ktx__record_iter_init(&it, p, len, NULL, 0), KTX_ERR_INVALID_ARG);
    p[22] = 6;
    ktx__batch_stamp(p, len, 1, 0, 0, false);
    ck_assert_int_eq(ktx__batch_validate(p, len, NULL), KTX_ERR_CORRUPT_MESSAGE);
    free(p);
}
END_TEST

static void *seal_zstd_on_thread(void *arg)
{
    struct ktx__batch_writer *bw = arg;
    append_all(bw, mixed, KTX__ARRAY_LEN(mixed));
    ck_assert_int_eq(ktx__batch_seal(bw, KTX__COMPRESSION_ZSTD, 3), 0);
    return NULL; /* the thread's zstd context is freed by the key destructor */
}

START_TEST(test_batch_zstd_works_from_several_threads)
{
    struct ktx__batch_writer bw[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ktx__batch_writer_init(&bw[i], 0, 1 << 16), 0);
        ck_assert_int_eq(pthread_create(&th[i], NULL, seal_zstd_on_thread, &bw[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        size_t len;
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        uint8_t *p = ktx__batch_writer_data(&bw[i], &len);
        ktx__batch_stamp(p, len, i, 0, 0, false);
        assert_records(p, len, mixed, KTX__ARRAY_LEN(mixed), 0);
        ktx__batch_writer_free(&bw[i]);
    }
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_batch_roundtrips_keys_null_keys_null_values_and_headers);
    tcase_add_test(tc, test_batch_zstd_roundtrips_many_records_and_is_smaller);
    tcase_add_test(tc, test_batch_zstd_keeps_incompressible_records_uncompressed);
    tcase_add_test(tc, test_batch_writer_output_matches_hand_built_bytes);
    tcase_add_test(tc, test_batch_every_flipped_byte_is_rejected_outside_broker_fields);
    tcase_add_test(tc, test_batch_restamp_after_epoch_bump_updates_identity_and_crc);
    tcase_add_test(tc, test_batch_control_commit_marker_roundtrips);
    tcase_add_test(tc, test_batch_control_abort_marker_roundtrips);
    tcase_add_test(tc, test_batch_control_marker_matches_hand_built_bytes);
    tcase_add_test(tc, test_batch_random_records_roundtrip_with_and_without_zstd);
    tcase_add_test(tc, test_batch_record_size_is_exact_at_every_varint_boundary);
    tcase_add_test(tc, test_batch_read_control_rejects_short_key_and_value);
    tcase_add_test(tc, test_batch_first_record_always_fits_up_to_record_limit);
    tcase_add_test(tc, test_batch_append_refuses_records_past_max_bytes_and_keeps_batch);
    tcase_add_test(tc, test_batch_append_rejects_malformed_records);
    tcase_add_test(tc, test_batch_seal_refuses_gzip_snappy_lz4);
    tcase_add_test(tc, test_compression_parse_accepts_none_and_zstd_only);
    tcase_add_test(tc, test_batch_zstd_decompression_bomb_is_rejected);
    tcase_add_test(tc, test_zstd_decompress_rejects_truncated_and_garbage_input);
    tcase_add_test(tc, test_batch_iter_reports_truncated_trailing_batch);
    tcase_add_test(tc, test_batch_validate_rejects_bad_magic_count_and_length);
    tcase_add_test(tc, test_record_reader_rejects_malformed_records);
    tcase_add_test(tc, test_record_reader_reports_unsupported_compression);
    tcase_add_test(tc, test_batch_zstd_works_from_several_threads);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(batch_suite)
