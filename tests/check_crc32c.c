/*
 * CRC-32C: known check values, hardware path == software path on random buffers of many
 * lengths and alignments, and chained (incremental) calls.
 */
#include "check_util.h"
#include "crc32c.h"

#include <stdlib.h>
#include <string.h>

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static const crc_fn all_paths[] = {ktx__crc32c, ktx__crc32c_sw, ktx__crc32c_hw,
                                   ktx__crc32c_hw_1way};

START_TEST(test_crc32c_check_value_123456789_on_every_path)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(all_paths); i++)
        ck_assert_uint_eq(all_paths[i](0, "123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(test_crc32c_of_empty_input_is_zero_and_keeps_running_crc)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(all_paths); i++) {
        ck_assert_uint_eq(all_paths[i](0, NULL, 0), 0);
        ck_assert_uint_eq(all_paths[i](0x12345678u, "", 0), 0x12345678u);
    }
}
END_TEST

/* Vectors from RFC 3720 (iSCSI), appendix B.4. */
START_TEST(test_crc32c_matches_rfc3720_vectors)
{
    uint8_t buf[32];
    for (size_t i = 0; i < KTX__ARRAY_LEN(all_paths); i++) {
        memset(buf, 0, sizeof(buf));
        ck_assert_uint_eq(all_paths[i](0, buf, 32), 0x8A9136AAu);
        memset(buf, 0xff, sizeof(buf));
        ck_assert_uint_eq(all_paths[i](0, buf, 32), 0x62A8AB43u);
        for (int b = 0; b < 32; b++)
            buf[b] = (uint8_t)b;
        ck_assert_uint_eq(all_paths[i](0, buf, 32), 0x46DD794Eu);
        for (int b = 0; b < 32; b++)
            buf[b] = (uint8_t)(31 - b);
        ck_assert_uint_eq(all_paths[i](0, buf, 32), 0x113FDB5Cu);
    }
}
END_TEST

START_TEST(test_crc32c_hw_equals_sw_for_lengths_0_to_4096_at_odd_offsets)
{
    size_t size = 4096 + 16;
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    ktx_test_fill_random(buf, size, 42);
    for (size_t off = 0; off < 8; off++) {
        for (size_t len = 0; len <= 4096; len++) {
            uint32_t sw = ktx__crc32c_sw(0, buf + off, len);
            ck_assert_uint_eq(ktx__crc32c_hw(0, buf + off, len), sw);
            ck_assert_uint_eq(ktx__crc32c_hw_1way(0, buf + off, len), sw);
            ck_assert_uint_eq(ktx__crc32c(0, buf + off, len), sw);
        }
    }
    free(buf);
}
END_TEST

START_TEST(test_crc32c_hw_equals_sw_on_large_buffers_crossing_block_sizes)
{
    /* Lengths around the 3-way block sizes (3 * 256 and 3 * 8192) and 1 MiB. */
    static const size_t lens[] = {767, 768, 769, 24575, 24576, 24577, 24576 + 768 + 7,
                                  65536, 1 << 20, (1 << 20) + 3};
    size_t size = (1 << 20) + 16;
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    ktx_test_fill_random(buf, size, 7);
    for (size_t i = 0; i < KTX__ARRAY_LEN(lens); i++) {
        for (size_t off = 0; off < 4; off += 3) {
            uint32_t sw = ktx__crc32c_sw(0, buf + off, lens[i]);
            ck_assert_uint_eq(ktx__crc32c_hw(0, buf + off, lens[i]), sw);
            ck_assert_uint_eq(ktx__crc32c(0xDEADBEEFu, buf + off, lens[i]),
                              ktx__crc32c_sw(0xDEADBEEFu, buf + off, lens[i]));
        }
    }
    free(buf);
}
END_TEST

START_TEST(test_crc32c_chained_calls_equal_one_call)
{
    size_t size = 200000;
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    ktx_test_fill_random(buf, size, 99);
    uint32_t whole = ktx__crc32c_sw(0, buf, size);
    static const size_t steps[] = {1, 3, 7, 64, 1000, 25000, 70001};
    for (size_t s = 0; s < KTX__ARRAY_LEN(steps); s++) {
        for (size_t i = 0; i < KTX__ARRAY_LEN(all_paths); i++) {
            uint32_t crc = 0;
            for (size_t pos = 0; pos < size; pos += steps[s])
                crc = all_paths[i](crc, buf + pos, KTX__MIN(steps[s], size - pos));
            ck_assert_uint_eq(crc, whole);
        }
    }
    free(buf);
}
END_TEST

START_TEST(test_crc32c_detects_every_single_bit_flip)
{
    uint8_t buf[64];
    ktx_test_fill_random(buf, sizeof(buf), 5);
    uint32_t good = ktx__crc32c(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(ktx__crc32c(0, buf, sizeof(buf)), good);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

START_TEST(test_crc32c_reports_hw_availability_consistently)
{
    bool a = ktx__crc32c_hw_available();
    ck_assert(a == ktx__crc32c_hw_available());
#if defined(__x86_64__)
    __builtin_cpu_init();
    ck_assert(a == (__builtin_cpu_supports("sse4.2") != 0));
#endif
}
END_TEST

static Suite *crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32c_check_value_123456789_on_every_path);
    tcase_add_test(tc, test_crc32c_of_empty_input_is_zero_and_keeps_running_crc);
    tcase_add_test(tc, test_crc32c_matches_rfc3720_vectors);
    tcase_add_test(tc, test_crc32c_hw_equals_sw_for_lengths_0_to_4096_at_odd_offsets);
    tcase_add_test(tc, test_crc32c_hw_equals_sw_on_large_buffers_crossing_block_sizes);
    tcase_add_test(tc, test_crc32c_chained_calls_equal_one_call);
    tcase_add_test(tc, test_crc32c_detects_every_single_bit_flip);
    tcase_add_test(tc, test_crc32c_reports_hw_availability_consistently);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(crc32c_suite)
