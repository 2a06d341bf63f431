/*
 * Generic properties of every codec in the registry (sdk/proto_registry.c), for every
 * version and both directions: versions outside the range are refused, random bytes never
 * crash a decoder, and whatever decodes re-encodes to bytes that decode to the same
 * encoding again (the codecs agree with themselves on every field they keep).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "proto.h"

#define RANDOM_ROUNDS 3000

struct direction {
    const char *name;
    size_t size;
    int (*encode)(struct ktx__writer *w, int16_t ver, const void *msg);
    int (*decode)(const uint8_t *p, size_t len, int16_t ver, void *out, struct ktx__arena *a);
};

static void directions(const struct ktx__proto_codec *c, struct direction d[2])
{
    d[0] = (struct direction){"request", c->req_size, c->req_encode, c->req_decode};
    d[1] = (struct direction){"response", c->resp_size, c->resp_encode, c->resp_decode};
}

START_TEST(test_registry_has_a_codec_for_every_api)
{
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    for (size_t i = 0; i < n; i++) {
        const struct ktx__proto_codec *c = ktx__proto_codec(apis[i].api_key);
        ck_assert_msg(c != NULL, "no codec for %s", apis[i].name);
        ck_assert_int_eq(c->api_key, apis[i].api_key);
        ck_assert(c->req_size > 0 && c->resp_size > 0);
    }
    ck_assert_ptr_null(ktx__proto_codec(27));
}
END_TEST

START_TEST(test_registry_refuses_versions_outside_range)
{
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    static const uint8_t some[64];
    for (size_t i = 0; i < n; i++) {
        const struct ktx__proto_codec *c = ktx__proto_codec(apis[i].api_key);
        struct direction d[2];
        directions(c, d);
        int16_t bad[] = {(int16_t)(apis[i].min_ver - 1), (int16_t)(apis[i].max_ver + 1)};
        for (int k = 0; k < 2; k++) {
            void *msg = calloc(1, d[k].size);
            for (size_t b = 0; b < 2; b++) {
                struct ktx__arena arena;
                struct ktx__writer w;
                ktx__arena_init(&arena, 1 << 20);
                ktx__w_init(&w, 0, 0);
                ck_assert_msg(d[k].decode(some, sizeof(some), bad[b], msg, &arena) ==
                                  KTX_ERR_UNSUPPORTED,
                              "%s %s v%d decoded", apis[i].name, d[k].name, bad[b]);
                ck_assert_msg(d[k].encode(&w, bad[b], msg) == KTX_ERR_UNSUPPORTED,
                              "%s %s v%d encoded", apis[i].name, d[k].name, bad[b]);
                ktx__w_free(&w);
                ktx__arena_free(&arena);
            }
            free(msg);
        }
    }
}
END_TEST

/* Decodes |buf|; when that works, checks encode(decode(buf)) is a fixed point. Returns
 * whether |buf| decoded. */
static bool check_fixed_point(const struct direction *d, const char *api, int16_t ver,
                              const uint8_t *buf, size_t len)
{
    struct ktx__arena arena;
    struct ktx__writer w1, w2;
    void *m1 = calloc(1, d->size), *m2 = calloc(1, d->size);
    bool decoded = false;
    ktx__arena_init(&arena, 1 << 20);
    ktx__w_init(&w1, 0, 1 << 20);
    ktx__w_init(&w2, 0, 1 << 20);
    if (d->decode(buf, len, ver, m1, &arena) == 0) {
        decoded = true;
        ck_assert_msg(d->encode(&w1, ver, m1) == 0, "%s %s v%d: decoded but not re-encodable",
                      api, d->name, ver);
        ck_assert_msg(d->decode(w1.p, w1.len, ver, m2, &arena) == 0,
                      "%s %s v%d: re-encoding does not decode", api, d->name, ver);
        ck_assert_int_eq(d->encode(&w2, ver, m2), 0);
        ck_assert_uint_eq(w1.len, w2.len);
        if (w1.len > 0)
            ck_assert_mem_eq(w1.p, w2.p, w1.len);
    }
    ktx__w_free(&w1);
    ktx__w_free(&w2);
    ktx__arena_free(&arena);
    free(m1);
    free(m2);
    return decoded;
}

START_TEST(test_registry_random_bytes_never_crash_and_reencode_stably)
{
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    uint8_t buf[96];
    for (size_t i = 0; i < n; i++) {
        const struct ktx__proto_codec *c = ktx__proto_codec(apis[i].api_key);
        struct direction d[2];
        directions(c, d);
        for (int16_t ver = apis[i].min_ver; ver <= apis[i].max_ver; ver++) {
            for (int k = 0; k < 2; k++) {
                for (int round = 0; round < RANDOM_ROUNDS / 30; round++) {
                    size_t len = (size_t)(round * 7) % sizeof(buf);
                    ktx_test_fill_random(buf, len, (uint64_t)(i * 7919 + ver * 131 + round + 1));
                    /* Small counts and lengths make random input decode more often. */
                    for (size_t b = 0; b < len; b++)
                        if (buf[b] & 0x80)
                            buf[b] &= 0x03;
                    check_fixed_point(&d[k], apis[i].name, ver, buf, len);
                }
            }
        }
    }
}
END_TEST

START_TEST(test_registry_all_zero_bodies_reencode_stably)
{
    /* Zero bytes are a valid body for many messages (empty arrays, zero ints, empty
     * strings); those must survive a decode/encode/decode cycle. */
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    static const uint8_t zeros[128];
    int decoded = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ktx__proto_codec *c = ktx__proto_codec(apis[i].api_key);
        struct direction d[2];
        directions(c, d);
        for (int16_t ver = apis[i].min_ver; ver <= apis[i].max_ver; ver++)
            for (int k = 0; k < 2; k++)
                for (size_t len = 0; len <= sizeof(zeros); len++)
                    decoded += check_fixed_point(&d[k], apis[i].name, ver, zeros, len);
    }
    ck_assert_int_gt(decoded, 50);
}
END_TEST

/* The fuzz targets' committed seed corpora (tests/fuzz/corpus/<dir>), by API. */
static const struct {
    int16_t api_key;
    const char *dir;
} corpora[] = {
    {KTX__API_PRODUCE, "produce"},
    {KTX__API_FETCH, "fetch"},
    {KTX__API_LIST_OFFSETS, "list_offsets"},
    {KTX__API_METADATA, "metadata"},
    {KTX__API_OFFSET_COMMIT, "offset_commit"},
    {KTX__API_OFFSET_FETCH, "offset_fetch"},
    {KTX__API_FIND_COORDINATOR, "find_coordinator"},
    {KTX__API_API_VERSIONS, "api_versions"},
    {KTX__API_INIT_PRODUCER_ID, "init_producer_id"},
    {KTX__API_ADD_PARTITIONS_TO_TXN, "add_partitions_to_txn"},
    {KTX__API_ADD_OFFSETS_TO_TXN, "add_offsets_to_txn"},
    {KTX__API_END_TXN, "end_txn"},
    {KTX__API_TXN_OFFSET_COMMIT, "txn_offset_commit"},
    {KTX__API_DESCRIBE_PRODUCERS, "describe_producers"},
    {KTX__API_DESCRIBE_TRANSACTIONS, "describe_transactions"},
};

/*
 * Every file of the committed seed corpora, read with the fuzz targets' layout (byte 0:
 * version, bit 0 of byte 1: response), keeps the fixed-point property. Inputs that once
 * crashed a fuzz target are committed there as regress-* files, so make check replays
 * them on every build, not only when make fuzz runs.
 */
START_TEST(test_registry_committed_fuzz_corpora_reencode_stably)
{
    const char *srcdir = getenv("srcdir");
    int files = 0;
    for (size_t i = 0; i < KTX__ARRAY_LEN(corpora); i++) {
        const struct ktx__api_info *api = ktx__proto_api(corpora[i].api_key);
        const struct ktx__proto_codec *c = ktx__proto_codec(corpora[i].api_key);
        struct direction d[2];
        char path[4096];
        DIR *dir;
        struct dirent *de;
        directions(c, d);
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".",
                 corpora[i].dir);
        dir = opendir(path);
        ck_assert_msg(dir != NULL, "cannot open %s (set srcdir to the source tree)", path);
        while ((de = readdir(dir)) != NULL) {
            char file[8192];
            uint8_t buf[65536];
            FILE *f;
            size_t n;
            if (de->d_name[0] == '.')
                continue;
            snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
            f = fopen(file, "rb");
            ck_assert_ptr_nonnull(f);
            n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            if (n < 2)
                continue;
            int16_t ver = (int16_t)(api->min_ver + buf[0] % (api->max_ver - api->min_ver + 1));
            check_fixed_point(&d[buf[1] & 1], api->name, ver, buf + 2, n - 2);
            files++;
        }
        closedir(dir);
    }
    ck_assert_int_gt(files, 50);
}
END_TEST

static Suite *proto_registry_suite(void)
{
    Suite *s = suite_create("proto_registry");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_registry_has_a_codec_for_every_api);
    tcase_add_test(tc, test_registry_refuses_versions_outside_range);
    tcase_add_test(tc, test_registry_random_bytes_never_crash_and_reencode_stably);
    tcase_add_test(tc, test_registry_all_zero_bodies_reencode_stably);
    tcase_add_test(tc, test_registry_committed_fuzz_corpora_reencode_stably);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_registry_suite)
