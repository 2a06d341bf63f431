/*
 * Unit tests for the Produce codec (sdk/proto_produce.c): round trips at every version,
 * hand-written byte vectors, truncation, trailing bytes, hostile counts, tagged fields,
 * incremental encoding and exact size computation.
 */
#include "check_util.h"

#include <stdlib.h>
#include <string.h>

#include "proto_produce.h"

/* ---- fixtures ---- */

static const uint8_t records_a[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
static const uint8_t records_b[] = { 0x42 };

static struct ktx__produce_partition_data fixture_parts_0[2];
static struct ktx__produce_partition_data fixture_parts_1[1];
static struct ktx__produce_topic_data fixture_topics[2];

/* Returns a request with every field set: two topics, three partitions, one of which
 * carries null records. The arrays are static: one fixture at a time. */
static struct ktx__produce_req full_req(void)
{
    fixture_parts_0[0] = (struct ktx__produce_partition_data){ 0, { records_a, sizeof(records_a) } };
    fixture_parts_0[1] = (struct ktx__produce_partition_data){ 7, { NULL, -1 } };
    fixture_parts_1[0] = (struct ktx__produce_partition_data){ 2147483647, { records_b, sizeof(records_b) } };
    fixture_topics[0] = (struct ktx__produce_topic_data){ ktx__str_c("orders"), fixture_parts_0, 2 };
    fixture_topics[1] = (struct ktx__produce_topic_data){ ktx__str_c("payments.eu"), fixture_parts_1, 1 };
    struct ktx__produce_req req = {
        .transactional_id = ktx__str_c("txn-app-1"),
        .acks = -1,
        .timeout_ms = 30000,
        .topic_data = fixture_topics,
        .topic_data_count = 2,
    };
    return req;
}

static struct ktx__produce_record_error fixture_record_errors[2];
static struct ktx__produce_partition_resp fixture_part_resps_0[2];
static struct ktx__produce_partition_resp fixture_part_resps_1[1];
static struct ktx__produce_topic_resp fixture_topic_resps[2];
static struct ktx__node_endpoint fixture_nodes[2];

/* Returns a response with every field of the newest version set. */
static struct ktx__produce_resp full_resp(void)
{
    fixture_record_errors[0] = (struct ktx__produce_record_error){ 3, ktx__str_c("bad key") };
    fixture_record_errors[1] = (struct ktx__produce_record_error){ 9, { NULL, -1 } };
    fixture_part_resps_0[0] = (struct ktx__produce_partition_resp){
        .index = 0,
        .error_code = 0,
        .base_offset = 1234567890123LL,
        .log_append_time_ms = 1700000000000LL,
        .log_start_offset = 17,
        .record_errors = NULL,
        .record_errors_count = 0,
        .error_message = { NULL, -1 },
        .current_leader = { -1, -1 },
    };
    fixture_part_resps_0[1] = (struct ktx__produce_partition_resp){
        .index = 5,
        .error_code = KTX_ERR_NOT_LEADER_OR_FOLLOWER,
        .base_offset = -1,
        .log_append_time_ms = -1,
        .log_start_offset = -1,
        .record_errors = fixture_record_errors,
        .record_errors_count = 2,
        .error_message = ktx__str_c("moved"),
        .current_leader = { 3, 42 },
    };
    fixture_part_resps_1[0] = (struct ktx__produce_partition_resp){
        .index = 1,
        .error_code = KTX_ERR_CORRUPT_MESSAGE,
        .base_offset = 99,
        .log_append_time_ms = 5,
        .log_start_offset = 6,
        .error_message = ktx__str_c(""),
        .current_leader = { 0, -1 },
    };
    fixture_topic_resps[0] = (struct ktx__produce_topic_resp){ ktx__str_c("orders"), fixture_part_resps_0, 2 };
    fixture_topic_resps[1] = (struct ktx__produce_topic_resp){ ktx__str_c("x"), fixture_part_resps_1, 1 };
    fixture_nodes[0] = (struct ktx__node_endpoint){ 3, ktx__str_c("broker-3.example"), 9093, ktx__str_c("rack-a") };
    fixture_nodes[1] = (struct ktx__node_endpoint){ 4, ktx__str_c("b4"), 19092, { NULL, -1 } };
    struct ktx__produce_resp resp = {
        .responses = fixture_topic_resps,
        .responses_count = 2,
        .throttle_time_ms = 250,
        .node_endpoints = fixture_nodes,
        .node_endpoints_count = 2,
    };
    return resp;
}

/* ---- comparisons ---- */

static void assert_str(struct ktx__str got, struct ktx__str want)
{
    ck_assert_int_eq(got.len, want.len);
    ck_assert_msg(ktx__str_eq(got, want), "string '%.*s' != '%.*s'", got.len < 0 ? 0 : got.len,
                  got.ptr ? got.ptr : "", want.len < 0 ? 0 : want.len, want.ptr ? want.ptr : "");
}

static void assert_bytes(struct ktx__bytes got, struct ktx__bytes want)
{
    ck_assert_int_eq(got.len, want.len);
    ck_assert(ktx__bytes_eq(got, want));
}

static void assert_req_eq(const struct ktx__produce_req *got, const struct ktx__produce_req *want)
{
    assert_str(got->transactional_id, want->transactional_id);
    ck_assert_int_eq(got->acks, want->acks);
    ck_assert_int_eq(got->timeout_ms, want->timeout_ms);
    ck_assert_int_eq(got->topic_data_count, want->topic_data_count);
    for (int32_t i = 0; i < want->topic_data_count; i++) {
        const struct ktx__produce_topic_data *g = &got->topic_data[i], *e = &want->topic_data[i];
        assert_str(g->name, e->name);
        ck_assert_int_eq(g->partition_data_count, e->partition_data_count);
        for (int32_t j = 0; j < e->partition_data_count; j++) {
            ck_assert_int_eq(g->partition_data[j].index, e->partition_data[j].index);
            assert_bytes(g->partition_data[j].records, e->partition_data[j].records);
        }
    }
}

/* Compares a decoded partition response with |want| as it looks at version |ver|: fields
 * the version lacks must hold Kafka's defaults. */
static void assert_part_resp_at(const struct ktx__produce_partition_resp *got,
                                const struct ktx__produce_partition_resp *want, int16_t ver)
{
    ck_assert_int_eq(got->index, want->index);
    ck_assert_int_eq(got->error_code, want->error_code);
    ck_assert_int_eq(got->base_offset, want->base_offset);
    ck_assert_int_eq(got->log_append_time_ms, want->log_append_time_ms);
    ck_assert_int_eq(got->log_start_offset, ver >= 5 ? want->log_start_offset : -1);
    if (ver >= 8) {
        ck_assert_int_eq(got->record_errors_count, want->record_errors_count);
        for (int32_t k = 0; k < want->record_errors_count; k++) {
            ck_assert_int_eq(got->record_errors[k].batch_index, want->record_errors[k].batch_index);
            assert_str(got->record_errors[k].batch_index_error_message,
                       want->record_errors[k].batch_index_error_message);
        }
        assert_str(got->error_message, want->error_message);
    } else {
        ck_assert_int_eq(got->record_errors_count, 0);
        ck_assert_ptr_null(got->record_errors);
        ck_assert_int_eq(got->error_message.len, -1);
    }
    ck_assert_int_eq(got->current_leader.leader_id, ver >= 10 ? want->current_leader.leader_id : -1);
    ck_assert_int_eq(got->current_leader.leader_epoch, ver >= 10 ? want->current_leader.leader_epoch : -1);
}

static void assert_resp_at(const struct ktx__produce_resp *got, const struct ktx__produce_resp *want, int16_t ver)
{
    ck_assert_int_eq(got->responses_count, want->responses_count);
    for (int32_t i = 0; i < want->responses_count; i++) {
        const struct ktx__produce_topic_resp *g = &got->responses[i], *e = &want->responses[i];
        assert_str(g->name, e->name);
        ck_assert_int_eq(g->partition_responses_count, e->partition_responses_count);
        for (int32_t j = 0; j < e->partition_responses_count; j++)
            assert_part_resp_at(&g->partition_responses[j], &e->partition_responses[j], ver);
    }
    ck_assert_int_eq(got->throttle_time_ms, want->throttle_time_ms);
    if (ver < 10) {
        ck_assert_int_eq(got->node_endpoints_count, 0);
        return;
    }
    ck_assert_int_eq(got->node_endpoints_count, want->node_endpoints_count);
    for (int32_t i = 0; i < want->node_endpoints_count; i++) {
        ck_assert_int_eq(got->node_endpoints[i].node_id, want->node_endpoints[i].node_id);
        assert_str(got->node_endpoints[i].host, want->node_endpoints[i].host);
        ck_assert_int_eq(got->node_endpoints[i].port, want->node_endpoints[i].port);
        assert_str(got->node_endpoints[i].rack, want->node_endpoints[i].rack);
    }
}

/* ---- helpers ---- */

static void encode_req(struct ktx__writer *w, int16_t ver, const struct ktx__produce_req *req)
{
    ktx__w_init(w, 64, 0);
    ck_assert_int_eq(ktx__proto_produce_req_encode(w, ver, req), 0);
}

static void encode_resp(struct ktx__writer *w, int16_t ver, const struct ktx__produce_resp *resp)
{
    ktx__w_init(w, 64, 0);
    ck_assert_int_eq(ktx__proto_produce_resp_encode(w, ver, resp), 0);
}

static void assert_hex_eq(const struct ktx__writer *w, const uint8_t *want, size_t want_len)
{
    ck_assert_uint_eq(w->len, want_len);
    for (size_t i = 0; i < want_len; i++)
        ck_assert_msg(w->p[i] == want[i], "byte %zu: got %02x, want %02x", i, w->p[i], want[i]);
}

/* ---- round trips ---- */

START_TEST(test_produce_req_roundtrips_every_version)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_req req = full_req(), out;
        struct ktx__writer w;
        struct ktx__arena arena;
        encode_req(&w, ver, &req);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_produce_req_decode(w.p, w.len, ver, &out, &arena), 0);
        assert_req_eq(&out, &req);
        /* The records come back as views into the encoded buffer, not copies. */
        ck_assert(out.topic_data[0].partition_data[0].records.ptr >= w.p);
        ck_assert(out.topic_data[0].partition_data[0].records.ptr < w.p + w.len);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_produce_resp_roundtrips_every_version_with_defaults_for_absent_fields)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_resp resp = full_resp(), out;
        struct ktx__writer w;
        struct ktx__arena arena;
        encode_resp(&w, ver, &resp);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_produce_resp_decode(w.p, w.len, ver, &out, &arena), 0);
        assert_resp_at(&out, &resp, ver);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_produce_v12_encodes_exactly_like_v11)
{
    struct ktx__produce_req req = full_req();
    struct ktx__produce_resp resp = full_resp();
    struct ktx__writer w11, w12;
    encode_req(&w11, 11, &req);
    encode_req(&w12, 12, &req);
    assert_hex_eq(&w12, w11.p, w11.len);
    ktx__w_free(&w11);
    ktx__w_free(&w12);
    encode_resp(&w11, 11, &resp);
    encode_resp(&w12, 12, &resp);
    assert_hex_eq(&w12, w11.p, w11.len);
    ktx__w_free(&w11);
    ktx__w_free(&w12);
}
END_TEST

/* ---- byte vectors ---- */

/* A transactional v3 request: one topic, one partition with 4 bytes of records and one
 * partition with null records. */
static const char produce_v3_req_hex[] =
    "0003 74786e"    /* transactional_id: int16 length 3, "txn" */
    "ffff"           /* acks: -1 */
    "00007530"       /* timeout_ms: 30000 */
    "00000001"       /* topic_data: 1 element */
    "0001 74"        /* name: "t" */
    "00000002"       /* partition_data: 2 elements */
    "00000000"       /* index: 0 */
    "00000004"       /* records: int32 length 4 */
    "deadbeef"       /* records bytes */
    "00000001"       /* index: 1 */
    "ffffffff";      /* records: null (length -1) */

static const uint8_t vec_records[] = { 0xde, 0xad, 0xbe, 0xef };

START_TEST(test_produce_v3_request_matches_byte_vector)
{
    struct ktx__produce_partition_data parts[2] = { { 0, { vec_records, 4 } }, { 1, { NULL, -1 } } };
    struct ktx__produce_topic_data topic = { ktx__str_c("t"), parts, 2 };
    struct ktx__produce_req req = { ktx__str_c("txn"), -1, 30000, &topic, 1 }, out;
    size_t len;
    uint8_t *want = ktx_test_unhex(produce_v3_req_hex, &len);
    struct ktx__writer w;
    encode_req(&w, 3, &req);
    assert_hex_eq(&w, want, len);
    ck_assert_uint_eq(ktx__proto_produce_req_size(3, &req), len);

    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_produce_req_decode(want, len, 3, &out, &arena), 0);
    ck_assert(ktx__str_eq_c(out.transactional_id, "txn"));
    ck_assert_int_eq(out.acks, -1);
    ck_assert_int_eq(out.timeout_ms, 30000);
    ck_assert_int_eq(out.topic_data_count, 1);
    ck_assert(ktx__str_eq_c(out.topic_data[0].name, "t"));
    ck_assert_int_eq(out.topic_data[0].partition_data_count, 2);
    ck_assert_int_eq(out.topic_data[0].partition_data[0].records.len, 4);
    ck_assert_ptr_eq(out.topic_data[0].partition_data[0].records.ptr, want + 30);
    ck_assert_int_eq(out.topic_data[0].partition_data[1].index, 1);
    ck_assert_int_eq(out.topic_data[0].partition_data[1].records.len, -1);
    ck_assert_ptr_null(out.topic_data[0].partition_data[1].records.ptr);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(want);
}
END_TEST

/* A non-transactional v9 (first flexible) request. */
static const char produce_v9_req_hex[] =
    "00"       /* transactional_id: compact null */
    "0001"     /* acks: 1 */
    "000003e8" /* timeout_ms: 1000 */
    "02"       /* topic_data: compact, 1 element */
    "03 6162"  /* name: compact length 2, "ab" */
    "02"       /* partition_data: compact, 1 element */
    "00000007" /* index: 7 */
    "04 010203" /* records: compact length 3 */
    "00"       /* partition tagged fields: none */
    "00"       /* topic tagged fields: none */
    "00";      /* request tagged fields: none */

static const uint8_t vec_records_v9[] = { 1, 2, 3 };

START_TEST(test_produce_v9_request_matches_byte_vector)
{
    struct ktx__produce_partition_data part = { 7, { vec_records_v9, 3 } };
    struct ktx__produce_topic_data topic = { ktx__str_c("ab"), &part, 1 };
    struct ktx__produce_req req = { { NULL, -1 }, 1, 1000, &topic, 1 }, out;
    size_t len;
    uint8_t *want = ktx_test_unhex(produce_v9_req_hex, &len);
    struct ktx__writer w;
    encode_req(&w, 9, &req);
    assert_hex_eq(&w, want, len);

    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_produce_req_decode(want, len, 9, &out, &arena), 0);
    ck_assert_int_eq(out.transactional_id.len, -1);
    ck_assert_int_eq(out.acks, 1);
    ck_assert_int_eq(out.timeout_ms, 1000);
    ck_assert(ktx__str_eq_c(out.topic_data[0].name, "ab"));
    ck_assert_int_eq(out.topic_data[0].partition_data[0].index, 7);
    ck_assert(ktx__bytes_eq(out.topic_data[0].partition_data[0].records,
                            (struct ktx__bytes){ vec_records_v9, 3 }));
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(want);
}
END_TEST

/* A v10 response redirecting partition 0 to broker 2, with its endpoint. */
static const char produce_v10_resp_hex[] =
    "02"               /* responses: compact, 1 element */
    "02 74"            /* name: "t" */
    "02"               /* partition_responses: compact, 1 element */
    "00000000"         /* index: 0 */
    "0006"             /* error_code: NOT_LEADER_OR_FOLLOWER */
    "ffffffffffffffff" /* base_offset: -1 */
    "ffffffffffffffff" /* log_append_time_ms: -1 */
    "ffffffffffffffff" /* log_start_offset: -1 */
    "01"               /* record_errors: compact, empty */
    "00"               /* error_message: compact null */
    "01"               /* partition tagged fields: 1 */
    "00 09"            /* tag 0 (CurrentLeader), 9 bytes */
    "00000002"         /*   leader_id: 2 */
    "00000007"         /*   leader_epoch: 7 */
    "00"               /*   its tagged fields: none */
    "00"               /* topic tagged fields: none */
    "00000000"         /* throttle_time_ms: 0 */
    "01"               /* response tagged fields: 1 */
    "00 0d"            /* tag 0 (NodeEndpoints), 13 bytes */
    "02"               /*   compact, 1 element */
    "00000002"         /*   node_id: 2 */
    "02 68"            /*   host: "h" */
    "00002384"         /*   port: 9092 */
    "00"               /*   rack: null */
    "00";              /*   node tagged fields: none */

START_TEST(test_produce_v10_response_decodes_current_leader_and_node_endpoints)
{
    size_t len;
    uint8_t *bytes = ktx_test_unhex(produce_v10_resp_hex, &len);
    struct ktx__produce_resp out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_produce_resp_decode(bytes, len, 10, &out, &arena), 0);
    const struct ktx__produce_partition_resp *pr = &out.responses[0].partition_responses[0];
    ck_assert_int_eq(pr->error_code, KTX_ERR_NOT_LEADER_OR_FOLLOWER);
    ck_assert_int_eq(pr->current_leader.leader_id, 2);
    ck_assert_int_eq(pr->current_leader.leader_epoch, 7);
    ck_assert_int_eq(out.node_endpoints_count, 1);
    ck_assert_int_eq(out.node_endpoints[0].node_id, 2);
    ck_assert(ktx__str_eq_c(out.node_endpoints[0].host, "h"));
    ck_assert_int_eq(out.node_endpoints[0].port, 9092);
    ck_assert_int_eq(out.node_endpoints[0].rack.len, -1);

    struct ktx__writer w;
    encode_resp(&w, 10, &out);
    assert_hex_eq(&w, bytes, len);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    free(bytes);
}
END_TEST

START_TEST(test_produce_v11_response_skips_unknown_tags)
{
    /* The v10 vector with an unknown partition tag 5 (2 bytes) after CurrentLeader and
     * an unknown response tag 3 (1 byte) after NodeEndpoints. */
    static const char hex[] = "02 0274 02 00000000 0006 ffffffffffffffff ffffffffffffffff"
                              "ffffffffffffffff 01 00"
                              "02 0009 00000002 00000007 00  05 02 abcd" /* partition tags */
                              "00 00000000"
                              "02 000d 02 00000002 0268 00002384 00 00  03 01 ff"; /* response tags */
    size_t len;
    uint8_t *bytes = ktx_test_unhex(hex, &len);
    struct ktx__produce_resp out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_produce_resp_decode(bytes, len, 11, &out, &arena), 0);
    ck_assert_int_eq(out.responses[0].partition_responses[0].current_leader.leader_epoch, 7);
    ck_assert_int_eq(out.node_endpoints[0].port, 9092);
    ktx__arena_free(&arena);
    free(bytes);
}
END_TEST

START_TEST(test_produce_response_rejects_tags_out_of_order_or_overlong)
{
    /* Response tag 0 repeated: tags must strictly increase. */
    static const char repeated[] = "01 00000000 02 0001 01 0001 01";
    /* CurrentLeader payload one byte longer than the struct. */
    static const char overlong[] = "02 0274 02 00000000 0000 0000000000000000 0000000000000000"
                                   "0000000000000000 01 00 01 000a 00000002 00000007 00 00 00"
                                   "00000000 00";
    const char *cases[] = { repeated, overlong };
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *bytes = ktx_test_unhex(cases[i], &len);
        struct ktx__produce_resp out;
        struct ktx__arena arena;
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_produce_resp_decode(bytes, len, 10, &out, &arena), KTX_ERR_BAD_MSG);
        ktx__arena_free(&arena);
        free(bytes);
    }
}
END_TEST

/* ---- malformed input ---- */

START_TEST(test_produce_rejects_every_prefix_of_a_valid_encoding)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_req req = full_req(), req_out;
        struct ktx__produce_resp resp = full_resp(), resp_out;
        struct ktx__writer wq, wr;
        encode_req(&wq, ver, &req);
        encode_resp(&wr, ver, &resp);
        for (size_t n = 0; n < wq.len; n++) {
            struct ktx__arena arena;
            ktx__arena_init(&arena, 0);
            ck_assert_int_eq(ktx__proto_produce_req_decode(wq.p, n, ver, &req_out, &arena), KTX_ERR_BAD_MSG);
            ktx__arena_free(&arena);
        }
        for (size_t n = 0; n < wr.len; n++) {
            struct ktx__arena arena;
            ktx__arena_init(&arena, 0);
            ck_assert_int_eq(ktx__proto_produce_resp_decode(wr.p, n, ver, &resp_out, &arena), KTX_ERR_BAD_MSG);
            ktx__arena_free(&arena);
        }
        ktx__w_free(&wq);
        ktx__w_free(&wr);
    }
}
END_TEST

START_TEST(test_produce_rejects_trailing_bytes)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_req req = full_req(), req_out;
        struct ktx__produce_resp resp = full_resp(), resp_out;
        struct ktx__writer wq, wr;
        struct ktx__arena arena;
        encode_req(&wq, ver, &req);
        encode_resp(&wr, ver, &resp);
        ktx__w_i8(&wq, 0);
        ktx__w_i8(&wr, 0);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_produce_req_decode(wq.p, wq.len, ver, &req_out, &arena), KTX_ERR_BAD_MSG);
        ck_assert_int_eq(ktx__proto_produce_resp_decode(wr.p, wr.len, ver, &resp_out, &arena), KTX_ERR_BAD_MSG);
        ktx__arena_free(&arena);
        ktx__w_free(&wq);
        ktx__w_free(&wr);
    }
}
END_TEST

START_TEST(test_produce_hostile_array_counts_fail_without_large_allocation)
{
    /* v3 request announcing 0x7fffffff topics; v3 response announcing 0x7fffffff
     * partitions; v9 request whose compact count says 0x7ffffffe topics. */
    static const char req_v3[] = "ffff 0001 00000000 7fffffff 0001 74";
    static const char resp_v3[] = "00000001 0001 74 7fffffff 00000000";
    static const char req_v9[] = "00 0001 00000000 ffffffff07 00";
    struct {
        const char *hex;
        int16_t ver;
        bool is_req;
    } cases[] = { { req_v3, 3, true }, { resp_v3, 3, false }, { req_v9, 9, true } };
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        uint8_t *bytes = ktx_test_unhex(cases[i].hex, &len);
        struct ktx__arena arena;
        struct ktx__produce_req req;
        struct ktx__produce_resp resp;
        ktx__arena_init(&arena, 1 << 20);
        int rc = cases[i].is_req ? ktx__proto_produce_req_decode(bytes, len, cases[i].ver, &req, &arena)
                                 : ktx__proto_produce_resp_decode(bytes, len, cases[i].ver, &resp, &arena);
        ck_assert_int_eq(rc, KTX_ERR_BAD_MSG);
        ck_assert_uint_le(arena.total, 4096);
        ktx__arena_free(&arena);
        free(bytes);
    }
}
END_TEST

START_TEST(test_produce_rejects_null_topic_array)
{
    static const char hex[] = "ffff 0001 00000000 ffffffff";
    size_t len;
    uint8_t *bytes = ktx_test_unhex(hex, &len);
    struct ktx__arena arena;
    struct ktx__produce_req req;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_produce_req_decode(bytes, len, 3, &req, &arena), KTX_ERR_BAD_MSG);
    ktx__arena_free(&arena);
    free(bytes);
}
END_TEST

START_TEST(test_produce_out_of_range_versions_are_unsupported)
{
    static const int16_t bad[] = { -1, 0, 2, 13, 0x7fff };
    static const uint8_t body[] = { 0 };
    struct ktx__produce_req req = full_req(), req_out;
    struct ktx__produce_resp resp = full_resp(), resp_out;
    struct ktx__arena arena;
    struct ktx__writer w;
    ktx__arena_init(&arena, 0);
    ktx__w_init(&w, 64, 0);
    for (size_t i = 0; i < KTX__ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(ktx__proto_produce_req_encode(&w, bad[i], &req), KTX_ERR_UNSUPPORTED);
        ck_assert_int_eq(ktx__proto_produce_resp_encode(&w, bad[i], &resp), KTX_ERR_UNSUPPORTED);
        ck_assert_int_eq(ktx__proto_produce_req_decode(body, 1, bad[i], &req_out, &arena), KTX_ERR_UNSUPPORTED);
        ck_assert_int_eq(ktx__proto_produce_resp_decode(body, 1, bad[i], &resp_out, &arena),
                         KTX_ERR_UNSUPPORTED);
        ck_assert_int_eq(ktx__proto_produce_req_begin(&w, bad[i], req.transactional_id, 1, 1, 0),
                         KTX_ERR_UNSUPPORTED);
    }
    ck_assert_uint_eq(w.len, 0);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
}
END_TEST

START_TEST(test_produce_null_records_roundtrip_as_null)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_partition_data part = { 4, { NULL, -1 } };
        struct ktx__produce_topic_data topic = { ktx__str_c("t"), &part, 1 };
        struct ktx__produce_req req = { { NULL, -1 }, 1, 5, &topic, 1 }, out;
        struct ktx__writer w;
        struct ktx__arena arena;
        encode_req(&w, ver, &req);
        if (ver >= KTX__PRODUCE_FLEX_VER) {
            /* ..., index, compact null records (0), partition tags, topic tags, request tags */
            ck_assert_uint_eq(w.p[w.len - 4], 0x00);
            ck_assert_uint_eq(ktx__be32_get(w.p + w.len - 8), 4);
        } else {
            ck_assert_uint_eq(ktx__be32_get(w.p + w.len - 4), 0xffffffffu);
        }
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_produce_req_decode(w.p, w.len, ver, &out, &arena), 0);
        ck_assert_int_eq(out.topic_data[0].partition_data[0].records.len, -1);
        ck_assert_ptr_null(out.topic_data[0].partition_data[0].records.ptr);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_produce_encoder_rejects_null_topic_name_and_missing_arrays)
{
    struct ktx__produce_req req = full_req();
    struct ktx__writer w;
    fixture_topics[1].name = (struct ktx__str){ NULL, -1 };
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_produce_req_encode(&w, 9, &req), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);

    req = full_req();
    req.topic_data = NULL;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_produce_req_encode(&w, 3, &req), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);

    struct ktx__produce_resp resp = full_resp();
    resp.node_endpoints = NULL;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_produce_resp_encode(&w, 10, &resp), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
}
END_TEST

/* ---- incremental encoding and sizes ---- */

START_TEST(test_produce_incremental_encoding_matches_struct_encoding_and_size)
{
    for (int16_t ver = KTX__PRODUCE_MIN_VER; ver <= KTX__PRODUCE_MAX_VER; ver++) {
        struct ktx__produce_req req = full_req();
        struct ktx__writer whole, inc;
        encode_req(&whole, ver, &req);
        ck_assert_uint_eq(ktx__proto_produce_req_size(ver, &req), whole.len);

        ktx__w_init(&inc, 64, 0);
        size_t size = ktx__proto_produce_req_base_size(ver, req.transactional_id, req.topic_data_count);
        ck_assert_int_eq(ktx__proto_produce_req_begin(&inc, ver, req.transactional_id, req.acks, req.timeout_ms,
                                                      req.topic_data_count),
                         0);
        for (int32_t i = 0; i < req.topic_data_count; i++) {
            const struct ktx__produce_topic_data *td = &req.topic_data[i];
            size += ktx__proto_produce_req_topic_size(ver, td->name, td->partition_data_count);
            ktx__proto_produce_req_topic_begin(&inc, ver, td->name, td->partition_data_count);
            for (int32_t j = 0; j < td->partition_data_count; j++) {
                size += ktx__proto_produce_req_partition_size(ver, td->partition_data[j].records.len);
                ktx__proto_produce_req_partition(&inc, ver, td->partition_data[j].index,
                                                 td->partition_data[j].records);
            }
            ktx__proto_produce_req_topic_end(&inc, ver);
        }
        ck_assert_int_eq(ktx__proto_produce_req_end(&inc, ver), 0);
        assert_hex_eq(&inc, whole.p, whole.len);
        ck_assert_uint_eq(size, whole.len);
        ktx__w_free(&inc);
        ktx__w_free(&whole);
    }
}
END_TEST

START_TEST(test_produce_size_counts_multibyte_varints_in_flexible_versions)
{
    /* 200 bytes of records and a 130-byte topic name need two-byte compact lengths. */
    static uint8_t big[200];
    char name[131];
    memset(name, 'n', 130);
    name[130] = '\0';
    struct ktx__produce_partition_data part = { 1, { big, sizeof(big) } };
    struct ktx__produce_topic_data topic = { ktx__str_c(name), &part, 1 };
    struct ktx__produce_req req = { ktx__str_c("t"), -1, 1, &topic, 1 };
    struct ktx__writer w;
    encode_req(&w, 11, &req);
    ck_assert_uint_eq(ktx__proto_produce_req_size(11, &req), w.len);
    ck_assert_uint_eq(w.len, 1 + 1 + 2 + 4 + 1 + (2 + 130) + 1 + (4 + 2 + 200 + 1) + 1 + 1);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_produce_codec_is_described_by_the_erased_table)
{
    ck_assert_int_eq(ktx__proto_codec_produce.api_key, KTX__API_PRODUCE);
    ck_assert_uint_eq(ktx__proto_codec_produce.req_size, sizeof(struct ktx__produce_req));
    ck_assert_uint_eq(ktx__proto_codec_produce.resp_size, sizeof(struct ktx__produce_resp));
    struct ktx__produce_req req = full_req(), out;
    struct ktx__writer w;
    struct ktx__arena arena;
    ktx__w_init(&w, 64, 0);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_codec_produce.req_encode(&w, 5, &req), 0);
    ck_assert_int_eq(ktx__proto_codec_produce.req_decode(w.p, w.len, 5, &out, &arena), 0);
    assert_req_eq(&out, &req);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_produce_version_range_matches_the_protocol_table)
{
    const struct ktx__api_info *api = ktx__proto_api(KTX__API_PRODUCE);
    ck_assert_ptr_nonnull(api);
    ck_assert_int_eq(api->min_ver, KTX__PRODUCE_MIN_VER);
    ck_assert_int_eq(api->max_ver, KTX__PRODUCE_MAX_VER);
    ck_assert_int_eq(api->flex_ver, KTX__PRODUCE_FLEX_VER);
    ck_assert_ptr_eq(ktx__proto_codec(KTX__API_PRODUCE), &ktx__proto_codec_produce);
}
END_TEST

Suite *proto_produce_suite(void);

Suite *proto_produce_suite(void)
{
    Suite *s = suite_create("proto_produce");
    TCase *tc = tcase_create("roundtrip");
    tcase_add_test(tc, test_produce_req_roundtrips_every_version);
    tcase_add_test(tc, test_produce_resp_roundtrips_every_version_with_defaults_for_absent_fields);
    tcase_add_test(tc, test_produce_v12_encodes_exactly_like_v11);
    tcase_add_test(tc, test_produce_null_records_roundtrip_as_null);
    tcase_add_test(tc, test_produce_codec_is_described_by_the_erased_table);
    tcase_add_test(tc, test_produce_version_range_matches_the_protocol_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("vectors");
    tcase_add_test(tc, test_produce_v3_request_matches_byte_vector);
    tcase_add_test(tc, test_produce_v9_request_matches_byte_vector);
    tcase_add_test(tc, test_produce_v10_response_decodes_current_leader_and_node_endpoints);
    tcase_add_test(tc, test_produce_v11_response_skips_unknown_tags);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_produce_rejects_every_prefix_of_a_valid_encoding);
    tcase_add_test(tc, test_produce_rejects_trailing_bytes);
    tcase_add_test(tc, test_produce_hostile_array_counts_fail_without_large_allocation);
    tcase_add_test(tc, test_produce_rejects_null_topic_array);
    tcase_add_test(tc, test_produce_response_rejects_tags_out_of_order_or_overlong);
    tcase_add_test(tc, test_produce_out_of_range_versions_are_unsupported);
    tcase_add_test(tc, test_produce_encoder_rejects_null_topic_name_and_missing_arrays);
    suite_add_tcase(s, tc);

    tc = tcase_create("incremental");
    tcase_add_test(tc, test_produce_incremental_encoding_matches_struct_encoding_and_size);
    tcase_add_test(tc, test_produce_size_counts_multibyte_varints_in_flexible_versions);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_produce_suite)
