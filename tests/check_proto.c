/*
 * Unit tests for sdk/proto.c: the API table, request/response headers against
 * hand-checked bytes, and version negotiation.
 */
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "proto.h"

START_TEST(test_proto_table_is_sorted_and_consistent)
{
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    ck_assert_uint_eq(n, 17);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_le(apis[i].min_ver, apis[i].max_ver);
        ck_assert(apis[i].flex_ver == -1 || apis[i].flex_ver >= 0);
        ck_assert_ptr_eq(ktx__proto_api(apis[i].api_key), &apis[i]);
        if (i > 0)
            ck_assert_int_lt(apis[i - 1].api_key, apis[i].api_key);
    }
    ck_assert_ptr_null(ktx__proto_api(27)); /* WriteTxnMarkers: broker-to-broker */
    ck_assert_ptr_null(ktx__proto_api(-1));
}
END_TEST

START_TEST(test_proto_flexible_versions_follow_schemas)
{
    ck_assert(!ktx__proto_is_flexible(KTX__API_PRODUCE, 8));
    ck_assert(ktx__proto_is_flexible(KTX__API_PRODUCE, 9));
    ck_assert(!ktx__proto_is_flexible(KTX__API_FETCH, 11));
    ck_assert(ktx__proto_is_flexible(KTX__API_FETCH, 12));
    ck_assert(!ktx__proto_is_flexible(KTX__API_INIT_PRODUCER_ID, 1));
    ck_assert(ktx__proto_is_flexible(KTX__API_INIT_PRODUCER_ID, 2));
    ck_assert(!ktx__proto_is_flexible(KTX__API_SASL_HANDSHAKE, 1));
    ck_assert(ktx__proto_is_flexible(KTX__API_DESCRIBE_TRANSACTIONS, 0));
    ck_assert(!ktx__proto_is_flexible(999, 5));
}
END_TEST

START_TEST(test_proto_request_header_v1_matches_bytes)
{
    /* Metadata v1: api_key 3, version 1, correlation id 7, client id "ktx". */
    static const char *want = "0003 0001 00000007 0003 6b7478";
    struct ktx__req_header hdr = {KTX__API_METADATA, 1, 7, ktx__str_c("ktx")};
    struct ktx__writer w;
    size_t n;
    uint8_t *exp = ktx_test_unhex(want, &n);
    ktx__w_init(&w, 0, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ck_assert_uint_eq(w.len, n);
    ck_assert_mem_eq(w.p, exp, n);
    ktx__w_free(&w);
    free(exp);
}
END_TEST

START_TEST(test_proto_request_header_v2_adds_tags_and_keeps_classic_client_id)
{
    /* InitProducerId v4 (flexible): header v2 = v1 fields + empty tagged fields. The
     * client id stays an int16-length string. Null client id encodes as ffff. */
    static const char *want = "0016 0004 7fffffff ffff 00";
    struct ktx__req_header hdr = {KTX__API_INIT_PRODUCER_ID, 4, INT32_MAX, ktx__str_c(NULL)};
    struct ktx__writer w;
    size_t n;
    uint8_t *exp = ktx_test_unhex(want, &n);
    ktx__w_init(&w, 0, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ck_assert_uint_eq(w.len, n);
    ck_assert_mem_eq(w.p, exp, n);

    struct ktx__reader r;
    struct ktx__req_header out;
    ktx__r_init(&r, w.p, w.len);
    ck_assert_int_eq(ktx__proto_req_header_decode(&r, &out), 0);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ck_assert_int_eq(out.request_api_key, KTX__API_INIT_PRODUCER_ID);
    ck_assert_int_eq(out.request_api_version, 4);
    ck_assert_int_eq(out.correlation_id, INT32_MAX);
    ck_assert_int_eq(out.client_id.len, -1);
    ktx__w_free(&w);
    free(exp);
}
END_TEST

START_TEST(test_proto_unknown_api_header_is_read_as_v1)
{
    /* An API the broker does not know (key 1000) still parses, so it can be refused. */
    static const char *in = "03e8 0007 00000001 0001 61";
    size_t n;
    uint8_t *buf = ktx_test_unhex(in, &n);
    struct ktx__reader r;
    struct ktx__req_header out;
    ktx__r_init(&r, buf, n);
    ck_assert_int_eq(ktx__proto_req_header_decode(&r, &out), 0);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ck_assert_int_eq(out.request_api_key, 1000);
    ck_assert(ktx__str_eq_c(out.client_id, "a"));
    free(buf);
}
END_TEST

START_TEST(test_proto_truncated_request_header_fails)
{
    static const char *in = "0003 0001 00000007 0003 6b74";
    size_t n;
    uint8_t *buf = ktx_test_unhex(in, &n);
    for (size_t len = 0; len < n; len++) {
        struct ktx__reader r;
        struct ktx__req_header out;
        ktx__r_init(&r, buf, len);
        ck_assert_int_eq(ktx__proto_req_header_decode(&r, &out), KTX_ERR_BAD_MSG);
    }
    free(buf);
}
END_TEST

START_TEST(test_proto_response_header_v0_v1_and_api_versions_exception)
{
    struct ktx__writer w;
    int32_t corr = 0;
    ktx__w_init(&w, 0, 0);
    /* Metadata v9 is flexible: header v1 has tagged fields. */
    ktx__proto_resp_header_encode(&w, KTX__API_METADATA, 9, 42);
    ck_assert_uint_eq(w.len, 5);
    ck_assert_int_eq(w.p[4], 0);
    ktx__w_reset(&w);
    /* ApiVersions v3 is flexible, but its response header is always v0. */
    ktx__proto_resp_header_encode(&w, KTX__API_API_VERSIONS, 3, 42);
    ck_assert_uint_eq(w.len, 4);
    struct ktx__reader r;
    ktx__r_init(&r, w.p, w.len);
    ck_assert_int_eq(ktx__proto_resp_header_decode(&r, KTX__API_API_VERSIONS, 3, &corr), 0);
    ck_assert_int_eq(corr, 42);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_proto_pick_version_takes_highest_common)
{
    /* librdkafka's mock: Produce 0-7, Metadata 0-2, InitProducerId 0-4. */
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_PRODUCE, 0, 7), 7);
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_METADATA, 0, 2), 2);
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_INIT_PRODUCER_ID, 0, 4), 4);
    /* A modern broker offers more than we speak: our ceiling wins. */
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_FETCH, 0, 17), 12);
    /* Disjoint: broker serves only Produce 0-2, we need 3+. */
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_PRODUCE, 0, 2), -1);
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_PRODUCE, 13, 20), -1);
    ck_assert_int_eq(ktx__proto_pick_version(KTX__API_PRODUCE, 5, 4), -1);
    ck_assert_int_eq(ktx__proto_pick_version(999, 0, 5), -1);
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_proto_table_is_sorted_and_consistent);
    tcase_add_test(tc, test_proto_flexible_versions_follow_schemas);
    tcase_add_test(tc, test_proto_request_header_v1_matches_bytes);
    tcase_add_test(tc, test_proto_request_header_v2_adds_tags_and_keeps_classic_client_id);
    tcase_add_test(tc, test_proto_unknown_api_header_is_read_as_v1);
    tcase_add_test(tc, test_proto_truncated_request_header_fails);
    tcase_add_test(tc, test_proto_response_header_v0_v1_and_api_versions_exception);
    tcase_add_test(tc, test_proto_pick_version_takes_highest_common);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_suite)
