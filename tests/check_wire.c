/*
 * Unit tests for the wire primitives (sdk/wire.c): varints and zigzag at their edges,
 * classic and compact strings/bytes/arrays, tagged fields, sticky errors, the writer's
 * ceiling and the arena's ceiling.
 */
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "wire.h"

/* Encodes with |fn| into a fresh writer and compares against |hex|. */
#define ASSERT_ENCODES(hex, stmt)                                                             \
    do {                                                                                      \
        struct ktx__writer w;                                                                 \
        size_t n_;                                                                            \
        uint8_t *want_ = ktx_test_unhex(hex, &n_);                                            \
        ktx__w_init(&w, 0, 0);                                                                \
        stmt;                                                                                 \
        ck_assert_int_eq(w.err, 0);                                                           \
        ck_assert_uint_eq(w.len, n_);                                                         \
        ck_assert_mem_eq(w.p, want_, n_);                                                     \
        ktx__w_free(&w);                                                                      \
        free(want_);                                                                          \
    } while (0)

START_TEST(test_wire_uvarint_edges_match_known_bytes)
{
    ASSERT_ENCODES("00", ktx__w_uvarint(&w, 0));
    ASSERT_ENCODES("7f", ktx__w_uvarint(&w, 127));
    ASSERT_ENCODES("8001", ktx__w_uvarint(&w, 128));
    ASSERT_ENCODES("ff7f", ktx__w_uvarint(&w, 16383));
    ASSERT_ENCODES("808001", ktx__w_uvarint(&w, 16384));
    ASSERT_ENCODES("ffffffff0f", ktx__w_uvarint(&w, UINT32_MAX));
}
END_TEST

START_TEST(test_wire_zigzag_edges_match_known_bytes)
{
    ASSERT_ENCODES("00", ktx__w_varint(&w, 0));
    ASSERT_ENCODES("01", ktx__w_varint(&w, -1));
    ASSERT_ENCODES("02", ktx__w_varint(&w, 1));
    ASSERT_ENCODES("03", ktx__w_varint(&w, -2));
    ASSERT_ENCODES("7f", ktx__w_varint(&w, -64));
    ASSERT_ENCODES("8001", ktx__w_varint(&w, 64));
    ASSERT_ENCODES("feffffff0f", ktx__w_varint(&w, INT32_MAX));
    ASSERT_ENCODES("ffffffff0f", ktx__w_varint(&w, INT32_MIN));
    ASSERT_ENCODES("feffffffffffffffff01", ktx__w_varlong(&w, INT64_MAX));
    ASSERT_ENCODES("ffffffffffffffffff01", ktx__w_varlong(&w, INT64_MIN));
}
END_TEST

START_TEST(test_wire_varints_roundtrip_and_sizes_agree)
{
    static const int64_t values[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192,
                                     INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
                                     (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < KTX__ARRAY_LEN(values); i++) {
        struct ktx__writer w;
        struct ktx__reader r;
        int64_t v = values[i];
        ktx__w_init(&w, 0, 0);
        ktx__w_varlong(&w, v);
        ck_assert_uint_eq(w.len, ktx__varlong_size(v));
        if (v >= INT32_MIN && v <= INT32_MAX) {
            size_t before = w.len;
            ktx__w_varint(&w, (int32_t)v);
            ck_assert_uint_eq(w.len - before, ktx__varint_size((int32_t)v));
        }
        ktx__r_init(&r, w.p, w.len);
        ck_assert(ktx__r_varlong(&r) == v);
        if (v >= INT32_MIN && v <= INT32_MAX)
            ck_assert_int_eq(ktx__r_varint(&r), (int32_t)v);
        ck_assert_int_eq(ktx__r_finish(&r), 0);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_wire_varint_rejects_overlong_and_truncated)
{
    /* Six continuation bytes: longer than any 32-bit varint. */
    static const uint8_t overlong[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    /* A 5-byte value above UINT32_MAX. */
    static const uint8_t too_big[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    static const uint8_t truncated[] = {0x80, 0x80};
    /* Ten bytes whose last one carries more than bit 63: overflows 64 bits. */
    static const uint8_t overflow64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    struct ktx__reader r;
    ktx__r_init(&r, overlong, sizeof(overlong));
    ktx__r_uvarint(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, too_big, sizeof(too_big));
    ktx__r_uvarint(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, truncated, sizeof(truncated));
    ktx__r_varlong(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, overflow64, sizeof(overflow64));
    ktx__r_varlong(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
}
END_TEST

START_TEST(test_wire_fixed_ints_are_big_endian)
{
    ASSERT_ENCODES("fffe", ktx__w_i16(&w, -2));
    ASSERT_ENCODES("01020304", ktx__w_i32(&w, 0x01020304));
    ASSERT_ENCODES("0102030405060708", ktx__w_i64(&w, 0x0102030405060708LL));
    ASSERT_ENCODES("3ff0000000000000", ktx__w_f64(&w, 1.0));
    static const uint8_t in[] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff};
    struct ktx__reader r;
    ktx__r_init(&r, in, sizeof(in));
    ck_assert(ktx__r_i64(&r) == INT64_MIN);
    ck_assert_int_eq(ktx__r_i16(&r), -1);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
}
END_TEST

START_TEST(test_wire_strings_classic_and_compact)
{
    ASSERT_ENCODES("00026869", ktx__w_string(&w, ktx__str_c("hi"), false));
    ASSERT_ENCODES("036869", ktx__w_string(&w, ktx__str_c("hi"), true));
    ASSERT_ENCODES("ffff", ktx__w_nstring(&w, ktx__str_c(NULL), false));
    ASSERT_ENCODES("00", ktx__w_nstring(&w, ktx__str_c(NULL), true));
    ASSERT_ENCODES("0000", ktx__w_string(&w, ktx__str_c(""), false));
    ASSERT_ENCODES("01", ktx__w_string(&w, ktx__str_c(""), true));
    struct ktx__bytes b = {(const uint8_t *)"\x01\x02", 2};
    struct ktx__bytes nb = {NULL, -1};
    ASSERT_ENCODES("000000020102", ktx__w_bytes(&w, b, false));
    ASSERT_ENCODES("030102", ktx__w_bytes(&w, b, true));
    ASSERT_ENCODES("ffffffff", ktx__w_nbytes(&w, nb, false));
    ASSERT_ENCODES("00", ktx__w_nbytes(&w, nb, true));
}
END_TEST

START_TEST(test_wire_null_in_non_nullable_field_fails_both_ways)
{
    struct ktx__writer w;
    ktx__w_init(&w, 0, 0);
    ktx__w_string(&w, ktx__str_c(NULL), false);
    ck_assert_int_eq(w.err, KTX_ERR_BAD_MSG);
    ktx__w_free(&w);

    static const uint8_t classic_null[] = {0xff, 0xff};
    static const uint8_t compact_null[] = {0x00};
    struct ktx__reader r;
    ktx__r_init(&r, classic_null, sizeof(classic_null));
    ktx__r_string(&r, false);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, compact_null, sizeof(compact_null));
    ktx__r_string(&r, true);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, compact_null, sizeof(compact_null));
    struct ktx__str s = ktx__r_nstring(&r, true);
    ck_assert_int_eq(r.err, 0);
    ck_assert_int_eq(s.len, -1);
}
END_TEST

START_TEST(test_wire_string_longer_than_input_fails)
{
    static const uint8_t in[] = {0x00, 0x05, 'a', 'b'};
    static const uint8_t neg[] = {0xff, 0xfe};
    struct ktx__reader r;
    ktx__r_init(&r, in, sizeof(in));
    struct ktx__str s = ktx__r_string(&r, false);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ck_assert_int_eq(s.len, -1);
    /* Sticky: later reads return zero. */
    ck_assert_int_eq(ktx__r_i8(&r), 0);
    ck_assert_int_eq(ktx__r_finish(&r), KTX_ERR_BAD_MSG);
    ktx__r_init(&r, neg, sizeof(neg));
    ktx__r_nstring(&r, false);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
}
END_TEST

START_TEST(test_wire_hostile_array_count_fails_without_allocating)
{
    static const uint8_t classic[] = {0x7f, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t compact[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    struct ktx__arena arena;
    struct ktx__reader r;
    int32_t count = -5;
    ktx__arena_init(&arena, 1024);
    ktx__r_init(&r, classic, sizeof(classic));
    void *elems = ktx__r_array(&r, &arena, false, false, 4, 64, &count);
    ck_assert_ptr_null(elems);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ck_assert_uint_eq(arena.total, 0);
    ktx__r_init(&r, compact, sizeof(compact));
    ck_assert_int_eq(ktx__r_array_len(&r, true, 1), 0);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__arena_free(&arena);
}
END_TEST

START_TEST(test_wire_array_null_and_counts_roundtrip)
{
    struct ktx__writer w;
    struct ktx__reader r;
    ktx__w_init(&w, 0, 0);
    ktx__w_array_len(&w, -1, false);
    ktx__w_array_len(&w, -1, true);
    ktx__w_array_len(&w, 2, false);
    ktx__w_i8(&w, 1);
    ktx__w_i8(&w, 2);
    ktx__w_array_len(&w, 1, true);
    ktx__w_i8(&w, 3);
    ck_assert_int_eq(w.err, 0);
    ktx__r_init(&r, w.p, w.len);
    ck_assert_int_eq(ktx__r_array_len(&r, false, 1), -1);
    ck_assert_int_eq(ktx__r_array_len(&r, true, 1), -1);
    ck_assert_int_eq(ktx__r_array_len(&r, false, 1), 2);
    ktx__r_i16(&r);
    ck_assert_int_eq(ktx__r_array_len(&r, true, 1), 1);
    ck_assert_int_eq(ktx__r_i8(&r), 3);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_wire_tagged_fields_are_read_and_skipped)
{
    /* Two tags: 0 with payload {0x01, 0x02}, 5 with an empty payload; then int8 7. */
    static const uint8_t in[] = {0x02, 0x00, 0x02, 0x01, 0x02, 0x05, 0x00, 0x07};
    struct ktx__reader r, sub;
    uint32_t tag;
    ktx__r_init(&r, in, sizeof(in));
    ktx__r_tags_skip(&r);
    ck_assert_int_eq(ktx__r_i8(&r), 7);
    ck_assert_int_eq(ktx__r_finish(&r), 0);

    ktx__r_init(&r, in, sizeof(in));
    ck_assert_uint_eq(ktx__r_uvarint(&r), 2);
    ktx__r_tag(&r, &tag, &sub);
    ck_assert_uint_eq(tag, 0);
    ck_assert_int_eq(ktx__r_i16(&sub), 0x0102);
    ck_assert_int_eq(ktx__r_finish(&sub), 0);
    ktx__r_tag(&r, &tag, &sub);
    ck_assert_uint_eq(tag, 5);
    ck_assert_uint_eq(ktx__r_remaining(&sub), 0);
    ck_assert_int_eq(ktx__r_i8(&r), 7);
}
END_TEST

START_TEST(test_wire_tagged_fields_out_of_order_or_truncated_fail)
{
    static const uint8_t dup[] = {0x02, 0x03, 0x00, 0x03, 0x00};
    static const uint8_t trunc[] = {0x01, 0x00, 0x05, 0x01};
    static const uint8_t many[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    struct ktx__reader r;
    ktx__r_init(&r, dup, sizeof(dup));
    ktx__r_tags_skip(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, trunc, sizeof(trunc));
    ktx__r_tags_skip(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
    ktx__r_init(&r, many, sizeof(many));
    ktx__r_tags_skip(&r);
    ck_assert_int_eq(r.err, KTX_ERR_BAD_MSG);
}
END_TEST

START_TEST(test_wire_uuid_roundtrips)
{
    struct ktx__uuid u;
    struct ktx__writer w;
    struct ktx__reader r;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(i * 17);
    ktx__w_init(&w, 0, 0);
    ktx__w_uuid(&w, u);
    ktx__r_init(&r, w.p, w.len);
    struct ktx__uuid v = ktx__r_uuid(&r);
    ck_assert_mem_eq(u.b, v.b, 16);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_wire_trailing_bytes_fail_finish)
{
    static const uint8_t in[] = {0x00, 0x01, 0x02};
    struct ktx__reader r;
    ktx__r_init(&r, in, sizeof(in));
    ktx__r_i16(&r);
    ck_assert_int_eq(ktx__r_finish(&r), KTX_ERR_BAD_MSG);
}
END_TEST

START_TEST(test_wire_writer_stops_at_ceiling_and_keeps_contents)
{
    struct ktx__writer w;
    ktx__w_init(&w, 4, 10);
    ktx__w_i64(&w, 1);
    ck_assert_int_eq(w.err, 0);
    ktx__w_i32(&w, 2);
    ck_assert_int_eq(w.err, KTX_ERR_BAD_MSG);
    ck_assert_uint_eq(w.len, 8);
    ck_assert_uint_le(w.cap, 10);
    /* Sticky until reset. */
    ktx__w_i8(&w, 1);
    ck_assert_uint_eq(w.len, 8);
    ktx__w_reset(&w);
    ktx__w_i8(&w, 1);
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(w.len, 1);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_wire_reserve_and_patch_survive_growth)
{
    struct ktx__writer w;
    ktx__w_init(&w, 8, 0);
    size_t off = ktx__w_reserve(&w, 4);
    for (int i = 0; i < 1000; i++)
        ktx__w_i32(&w, i);
    ktx__w_patch_i32(&w, off, (int32_t)(w.len - 4));
    ck_assert_int_eq(w.err, 0);
    ck_assert_uint_eq(ktx__be32_get(w.p + off), 4000);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_wire_classic_string_over_int16_fails)
{
    struct ktx__writer w;
    char *big = malloc(40000);
    memset(big, 'x', 39999);
    big[39999] = '\0';
    ktx__w_init(&w, 0, 0);
    ktx__w_string(&w, ktx__str_c(big), false);
    ck_assert_int_eq(w.err, KTX_ERR_BAD_MSG);
    ktx__w_reset(&w);
    ktx__w_string(&w, ktx__str_c(big), true);
    ck_assert_int_eq(w.err, 0);
    ktx__w_free(&w);
    free(big);
}
END_TEST

START_TEST(test_wire_arena_enforces_ceiling_and_zeroes)
{
    struct ktx__arena arena;
    ktx__arena_init(&arena, 8192);
    uint8_t *a = ktx__arena_alloc(&arena, 100);
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(a[i], 0);
    ck_assert_uint_eq((uintptr_t)a % 8, 0);
    ck_assert_ptr_null(ktx__arena_alloc(&arena, 9000));
    ck_assert_ptr_null(ktx__arena_alloc(&arena, SIZE_MAX - 3));
    char *s = ktx__arena_strdup(&arena, ktx__str_c("abc"));
    ck_assert_str_eq(s, "abc");
    ktx__arena_free(&arena);
    ck_assert_uint_eq(arena.total, 0);
}
END_TEST

START_TEST(test_wire_str_helpers_compare_views)
{
    struct ktx__str a = {"abcdef", 3};
    ck_assert(ktx__str_eq_c(a, "abc"));
    ck_assert(!ktx__str_eq_c(a, "abcd"));
    ck_assert(!ktx__str_eq_c(a, NULL));
    ck_assert(ktx__str_eq(ktx__str_c(NULL), ktx__str_c(NULL)));
    char *d = ktx__str_dup(a);
    ck_assert_str_eq(d, "abc");
    free(d);
    ck_assert_ptr_null(ktx__str_dup(ktx__str_c(NULL)));
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_wire_uvarint_edges_match_known_bytes);
    tcase_add_test(tc, test_wire_zigzag_edges_match_known_bytes);
    tcase_add_test(tc, test_wire_varints_roundtrip_and_sizes_agree);
    tcase_add_test(tc, test_wire_varint_rejects_overlong_and_truncated);
    tcase_add_test(tc, test_wire_fixed_ints_are_big_endian);
    tcase_add_test(tc, test_wire_strings_classic_and_compact);
    tcase_add_test(tc, test_wire_null_in_non_nullable_field_fails_both_ways);
    tcase_add_test(tc, test_wire_string_longer_than_input_fails);
    tcase_add_test(tc, test_wire_hostile_array_count_fails_without_allocating);
    tcase_add_test(tc, test_wire_array_null_and_counts_roundtrip);
    tcase_add_test(tc, test_wire_tagged_fields_are_read_and_skipped);
    tcase_add_test(tc, test_wire_tagged_fields_out_of_order_or_truncated_fail);
    tcase_add_test(tc, test_wire_uuid_roundtrips);
    tcase_add_test(tc, test_wire_trailing_bytes_fail_finish);
    tcase_add_test(tc, test_wire_writer_stops_at_ceiling_and_keeps_contents);
    tcase_add_test(tc, test_wire_reserve_and_patch_survive_growth);
    tcase_add_test(tc, test_wire_classic_string_over_int16_fails);
    tcase_add_test(tc, test_wire_arena_enforces_ceiling_and_zeroes);
    tcase_add_test(tc, test_wire_str_helpers_compare_views);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(wire_suite)
