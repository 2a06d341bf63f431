/*
 * Unit tests for the transactional API codecs (sdk/proto_txn.c): round trips at every
 * version, hand-written byte vectors, truncation, trailing bytes, hostile counts, version
 * ranges and encoder argument errors.
 */
#include "check_util.h"
#include "codec_check.h"

#include <stdlib.h>
#include <string.h>

#include "proto_txn.h"

#define S(lit) ((struct ktx__str){lit, (int32_t)sizeof(lit) - 1})
#define S_NULL ((struct ktx__str){NULL, -1})
#define TS_1700000000000 INT64_C(1700000000000)

/* ---- fully populated messages, one request and one response per API ---- */

static const struct ktx__init_producer_id_req IPI_REQ = {S("txn-1"), 60000, 4242, 7};
static const struct ktx__init_producer_id_resp IPI_RESP = {25, 51, 9001, 12};

static int32_t APT_ORDERS[] = {0, 5};
static int32_t APT_PAYMENTS[] = {3};
static struct ktx__add_partitions_to_txn_topic APT_TOPICS[] = {
    {S("orders"), APT_ORDERS, 2},
    {S("payments"), APT_PAYMENTS, 1},
};
static const struct ktx__add_partitions_to_txn_req APT_REQ = {S("txn-1"), 4242, 7, APT_TOPICS, 2};
static struct ktx__add_partitions_to_txn_partition_result APT_ORDERS_RES[] = {{0, 0}, {5, 53}};
static struct ktx__add_partitions_to_txn_partition_result APT_PAYMENTS_RES[] = {{3, 3}};
static struct ktx__add_partitions_to_txn_topic_result APT_RESULTS[] = {
    {S("orders"), APT_ORDERS_RES, 2},
    {S("payments"), APT_PAYMENTS_RES, 1},
};
static const struct ktx__add_partitions_to_txn_resp APT_RESP = {10, APT_RESULTS, 2};

static const struct ktx__add_offsets_to_txn_req AOT_REQ = {S("txn-1"), 4242, 7, S("grp")};
static const struct ktx__add_offsets_to_txn_resp AOT_RESP = {30, 16};

static const struct ktx__end_txn_req ET_REQ = {S("txn-1"), 4242, 7, true};
static const struct ktx__end_txn_resp ET_RESP = {5, 48, 4242, 8};

static struct ktx__txn_offset_commit_req_partition TOC_PARTS[] = {
    {0, 100, 4, S("meta")},
    {5, 200, 6, S_NULL},
};
static struct ktx__txn_offset_commit_req_topic TOC_TOPICS[] = {{S("orders"), TOC_PARTS, 2}};
static const struct ktx__txn_offset_commit_req TOC_REQ = {
    S("txn-1"), S("grp"), 4242, 7, 9, S("m-1"), S("i-1"), TOC_TOPICS, 1,
};
static struct ktx__txn_offset_commit_resp_partition TOC_RES_PARTS[] = {{0, 0}, {5, 22}};
static struct ktx__txn_offset_commit_resp_topic TOC_RES_TOPICS[] = {{S("orders"), TOC_RES_PARTS, 2}};
static const struct ktx__txn_offset_commit_resp TOC_RESP = {15, TOC_RES_TOPICS, 1};

static struct ktx__str DT_IDS[] = {S("txn-1"), S("txn-2")};
static const struct ktx__describe_transactions_req DT_REQ = {DT_IDS, 2};
static int32_t DT_PARTS[] = {0, 5};
static struct ktx__describe_transactions_topic DT_TOPICS[] = {{S("orders"), DT_PARTS, 2}};
static struct ktx__describe_transactions_state DT_STATES[] = {
    {0, S("txn-1"), S("Ongoing"), 60000, TS_1700000000000, 4242, 7, DT_TOPICS, 1},
    {105, S("txn-2"), S(""), 0, -1, -1, -1, NULL, 0},
};
static const struct ktx__describe_transactions_resp DT_RESP = {2, DT_STATES, 2};

static int32_t DP_PARTS[] = {0, 5};
static struct ktx__describe_producers_req_topic DP_TOPICS[] = {{S("orders"), DP_PARTS, 2}};
static const struct ktx__describe_producers_req DP_REQ = {DP_TOPICS, 1};
static struct ktx__describe_producers_producer_state DP_PRODUCERS[] = {
    {4242, 7, 99, TS_1700000000000, 2, 1000},
};
static struct ktx__describe_producers_partition DP_RES_PARTS[] = {
    {0, 0, S_NULL, DP_PRODUCERS, 1},
    {5, 6, S("not leader"), NULL, 0},
};
static struct ktx__describe_producers_resp_topic DP_RES_TOPICS[] = {{S("orders"), DP_RES_PARTS, 2}};
static const struct ktx__describe_producers_resp DP_RESP = {3, DP_RES_TOPICS, 1};

/* ---- field-by-field checks of a decoded message against the values above ---- */

static void assert_str(struct ktx__str s, const char *want)
{
    if (want == NULL) {
        ck_assert_msg(s.len == -1, "expected a null string, got length %d", (int)s.len);
        return;
    }
    ck_assert_msg(ktx__str_eq_c(s, want), "expected \"%s\", got \"%.*s\" (length %d)", want,
                  s.len > 0 ? (int)s.len : 0, s.ptr ? s.ptr : "", (int)s.len);
}

static void check_ipi_req(int16_t ver, const void *m)
{
    const struct ktx__init_producer_id_req *req = m;
    assert_str(req->transactional_id, "txn-1");
    ck_assert_int_eq(req->transaction_timeout_ms, 60000);
    ck_assert_int_eq(req->producer_id, ver >= 3 ? 4242 : -1);
    ck_assert_int_eq(req->producer_epoch, ver >= 3 ? 7 : -1);
}

static void check_ipi_resp(int16_t ver, const void *m)
{
    const struct ktx__init_producer_id_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 25);
    ck_assert_int_eq(resp->error_code, 51);
    ck_assert_int_eq(resp->producer_id, 9001);
    ck_assert_int_eq(resp->producer_epoch, 12);
}

static void check_apt_req(int16_t ver, const void *m)
{
    const struct ktx__add_partitions_to_txn_req *req = m;
    assert_str(req->transactional_id, "txn-1");
    ck_assert_int_eq(req->producer_id, 4242);
    ck_assert_int_eq(req->producer_epoch, 7);
    ck_assert_int_eq(req->topic_count, 2);
    assert_str(req->topics[0].name, "orders");
    ck_assert_int_eq(req->topics[0].partition_count, 2);
    ck_assert_int_eq(req->topics[0].partitions[0], 0);
    ck_assert_int_eq(req->topics[0].partitions[1], 5);
    assert_str(req->topics[1].name, "payments");
    ck_assert_int_eq(req->topics[1].partition_count, 1);
    ck_assert_int_eq(req->topics[1].partitions[0], 3);
}

static void check_apt_resp(int16_t ver, const void *m)
{
    const struct ktx__add_partitions_to_txn_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 10);
    ck_assert_int_eq(resp->results_by_topic_count, 2);
    assert_str(resp->results_by_topic[0].name, "orders");
    ck_assert_int_eq(resp->results_by_topic[0].results_by_partition_count, 2);
    ck_assert_int_eq(resp->results_by_topic[0].results_by_partition[0].partition_index, 0);
    ck_assert_int_eq(resp->results_by_topic[0].results_by_partition[0].partition_error_code, 0);
    ck_assert_int_eq(resp->results_by_topic[0].results_by_partition[1].partition_index, 5);
    ck_assert_int_eq(resp->results_by_topic[0].results_by_partition[1].partition_error_code, 53);
    assert_str(resp->results_by_topic[1].name, "payments");
    ck_assert_int_eq(resp->results_by_topic[1].results_by_partition_count, 1);
    ck_assert_int_eq(resp->results_by_topic[1].results_by_partition[0].partition_index, 3);
    ck_assert_int_eq(resp->results_by_topic[1].results_by_partition[0].partition_error_code, 3);
}

static void check_aot_req(int16_t ver, const void *m)
{
    const struct ktx__add_offsets_to_txn_req *req = m;
    assert_str(req->transactional_id, "txn-1");
    ck_assert_int_eq(req->producer_id, 4242);
    ck_assert_int_eq(req->producer_epoch, 7);
    assert_str(req->group_id, "grp");
}

static void check_aot_resp(int16_t ver, const void *m)
{
    const struct ktx__add_offsets_to_txn_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 30);
    ck_assert_int_eq(resp->error_code, 16);
}

static void check_et_req(int16_t ver, const void *m)
{
    const struct ktx__end_txn_req *req = m;
    assert_str(req->transactional_id, "txn-1");
    ck_assert_int_eq(req->producer_id, 4242);
    ck_assert_int_eq(req->producer_epoch, 7);
    ck_assert(req->committed);
}

static void check_et_resp(int16_t ver, const void *m)
{
    const struct ktx__end_txn_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 5);
    ck_assert_int_eq(resp->error_code, 48);
    ck_assert_int_eq(resp->producer_id, ver >= 5 ? 4242 : -1);
    ck_assert_int_eq(resp->producer_epoch, ver >= 5 ? 8 : -1);
}

static void check_toc_req(int16_t ver, const void *m)
{
    const struct ktx__txn_offset_commit_req *req = m;
    assert_str(req->transactional_id, "txn-1");
    assert_str(req->group_id, "grp");
    ck_assert_int_eq(req->producer_id, 4242);
    ck_assert_int_eq(req->producer_epoch, 7);
    ck_assert_int_eq(req->generation_id, ver >= 3 ? 9 : -1);
    assert_str(req->member_id, ver >= 3 ? "m-1" : "");
    assert_str(req->group_instance_id, ver >= 3 ? "i-1" : NULL);
    ck_assert_int_eq(req->topic_count, 1);
    assert_str(req->topics[0].name, "orders");
    ck_assert_int_eq(req->topics[0].partition_count, 2);
    const struct ktx__txn_offset_commit_req_partition *part = req->topics[0].partitions;
    ck_assert_int_eq(part[0].partition_index, 0);
    ck_assert_int_eq(part[0].committed_offset, 100);
    ck_assert_int_eq(part[0].committed_leader_epoch, ver >= 2 ? 4 : -1);
    assert_str(part[0].committed_metadata, "meta");
    ck_assert_int_eq(part[1].partition_index, 5);
    ck_assert_int_eq(part[1].committed_offset, 200);
    ck_assert_int_eq(part[1].committed_leader_epoch, ver >= 2 ? 6 : -1);
    assert_str(part[1].committed_metadata, NULL);
}

static void check_toc_resp(int16_t ver, const void *m)
{
    const struct ktx__txn_offset_commit_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 15);
    ck_assert_int_eq(resp->topic_count, 1);
    assert_str(resp->topics[0].name, "orders");
    ck_assert_int_eq(resp->topics[0].partition_count, 2);
    ck_assert_int_eq(resp->topics[0].partitions[0].partition_index, 0);
    ck_assert_int_eq(resp->topics[0].partitions[0].error_code, 0);
    ck_assert_int_eq(resp->topics[0].partitions[1].partition_index, 5);
    ck_assert_int_eq(resp->topics[0].partitions[1].error_code, 22);
}

static void check_dt_req(int16_t ver, const void *m)
{
    const struct ktx__describe_transactions_req *req = m;
    ck_assert_int_eq(req->transactional_id_count, 2);
    assert_str(req->transactional_ids[0], "txn-1");
    assert_str(req->transactional_ids[1], "txn-2");
}

static void check_dt_resp(int16_t ver, const void *m)
{
    const struct ktx__describe_transactions_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 2);
    ck_assert_int_eq(resp->transaction_state_count, 2);
    const struct ktx__describe_transactions_state *st = resp->transaction_states;
    ck_assert_int_eq(st[0].error_code, 0);
    assert_str(st[0].transactional_id, "txn-1");
    assert_str(st[0].transaction_state, "Ongoing");
    ck_assert_int_eq(st[0].transaction_timeout_ms, 60000);
    ck_assert_int_eq(st[0].transaction_start_time_ms, TS_1700000000000);
    ck_assert_int_eq(st[0].producer_id, 4242);
    ck_assert_int_eq(st[0].producer_epoch, 7);
    ck_assert_int_eq(st[0].topic_count, 1);
    assert_str(st[0].topics[0].topic, "orders");
    ck_assert_int_eq(st[0].topics[0].partition_count, 2);
    ck_assert_int_eq(st[0].topics[0].partitions[0], 0);
    ck_assert_int_eq(st[0].topics[0].partitions[1], 5);
    ck_assert_int_eq(st[1].error_code, 105);
    assert_str(st[1].transactional_id, "txn-2");
    assert_str(st[1].transaction_state, "");
    ck_assert_int_eq(st[1].transaction_timeout_ms, 0);
    ck_assert_int_eq(st[1].transaction_start_time_ms, -1);
    ck_assert_int_eq(st[1].producer_id, -1);
    ck_assert_int_eq(st[1].producer_epoch, -1);
    ck_assert_int_eq(st[1].topic_count, 0);
}

static void check_dp_req(int16_t ver, const void *m)
{
    const struct ktx__describe_producers_req *req = m;
    ck_assert_int_eq(req->topic_count, 1);
    assert_str(req->topics[0].name, "orders");
    ck_assert_int_eq(req->topics[0].partition_index_count, 2);
    ck_assert_int_eq(req->topics[0].partition_indexes[0], 0);
    ck_assert_int_eq(req->topics[0].partition_indexes[1], 5);
}

static void check_dp_resp(int16_t ver, const void *m)
{
    const struct ktx__describe_producers_resp *resp = m;
    ck_assert_int_eq(resp->throttle_time_ms, 3);
    ck_assert_int_eq(resp->topic_count, 1);
    assert_str(resp->topics[0].name, "orders");
    ck_assert_int_eq(resp->topics[0].partition_count, 2);
    const struct ktx__describe_producers_partition *part = resp->topics[0].partitions;
    ck_assert_int_eq(part[0].partition_index, 0);
    ck_assert_int_eq(part[0].error_code, 0);
    assert_str(part[0].error_message, NULL);
    ck_assert_int_eq(part[0].active_producer_count, 1);
    ck_assert_int_eq(part[0].active_producers[0].producer_id, 4242);
    ck_assert_int_eq(part[0].active_producers[0].producer_epoch, 7);
    ck_assert_int_eq(part[0].active_producers[0].last_sequence, 99);
    ck_assert_int_eq(part[0].active_producers[0].last_timestamp, TS_1700000000000);
    ck_assert_int_eq(part[0].active_producers[0].coordinator_epoch, 2);
    ck_assert_int_eq(part[0].active_producers[0].current_txn_start_offset, 1000);
    ck_assert_int_eq(part[1].partition_index, 5);
    ck_assert_int_eq(part[1].error_code, 6);
    assert_str(part[1].error_message, "not leader");
    ck_assert_int_eq(part[1].active_producer_count, 0);
}

/* ---- the table every generic test walks ---- */

struct api_case {
    const char *name;
    const struct ktx__proto_codec *codec;
    int16_t max_ver;
    const void *req;
    const void *resp;
    void (*check_req)(int16_t ver, const void *m);
    void (*check_resp)(int16_t ver, const void *m);
};

enum { IPI, APT, AOT, ET, TOC, DT, DP, N_CASES };

static const struct api_case CASES[N_CASES] = {
    [IPI] = {"InitProducerId", &ktx__proto_codec_init_producer_id, 5, &IPI_REQ, &IPI_RESP,
             check_ipi_req, check_ipi_resp},
    [APT] = {"AddPartitionsToTxn", &ktx__proto_codec_add_partitions_to_txn, 3, &APT_REQ,
             &APT_RESP, check_apt_req, check_apt_resp},
    [AOT] = {"AddOffsetsToTxn", &ktx__proto_codec_add_offsets_to_txn, 4, &AOT_REQ, &AOT_RESP,
             check_aot_req, check_aot_resp},
    [ET] = {"EndTxn", &ktx__proto_codec_end_txn, 5, &ET_REQ, &ET_RESP, check_et_req,
            check_et_resp},
    [TOC] = {"TxnOffsetCommit", &ktx__proto_codec_txn_offset_commit, 5, &TOC_REQ, &TOC_RESP,
             check_toc_req, check_toc_resp},
    [DT] = {"DescribeTransactions", &ktx__proto_codec_describe_transactions, 0, &DT_REQ,
            &DT_RESP, check_dt_req, check_dt_resp},
    [DP] = {"DescribeProducers", &ktx__proto_codec_describe_producers, 0, &DP_REQ, &DP_RESP,
            check_dp_req, check_dp_resp},
};

static int encode(const struct api_case *c, bool req, int16_t ver, const void *msg,
                  struct ktx__writer *w)
{
    return req ? c->codec->req_encode(w, ver, msg) : c->codec->resp_encode(w, ver, msg);
}

static int decode(const struct api_case *c, bool req, int16_t ver, const uint8_t *p, size_t len,
                  void *out, struct ktx__arena *arena)
{
    return req ? c->codec->req_decode(p, len, ver, out, arena)
               : c->codec->resp_decode(p, len, ver, out, arena);
}

/* Encodes the populated message of |c| into a fresh |w|, asserting success. */
static void encode_populated(const struct api_case *c, bool req, int16_t ver,
                             struct ktx__writer *w)
{
    ktx__w_init(w, 0, 0);
    int rc = encode(c, req, ver, req ? c->req : c->resp, w);
    ck_assert_msg(rc == 0, "%s v%d %s encode returned %d", c->name, ver, req ? "req" : "resp",
                  rc);
}

static void *msg_alloc(const struct api_case *c, bool req)
{
    void *out = malloc(req ? c->codec->req_size : c->codec->resp_size);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* ---- generic tests over every API, version and direction ---- */

/* Encode, decode, compare every field, then check that re-encoding gives the same bytes. */
static void roundtrip_one(const struct api_case *c, bool req, int16_t ver)
{
    struct ktx__writer w, w2;
    struct ktx__arena arena;
    void *out = msg_alloc(c, req);

    encode_populated(c, req, ver, &w);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(decode(c, req, ver, w.p, w.len, out, &arena), 0);
    (req ? c->check_req : c->check_resp)(ver, out);
    ktx__w_init(&w2, 0, 0);
    ck_assert_int_eq(encode(c, req, ver, out, &w2), 0);
    ck_assert_uint_eq(w2.len, w.len);
    ck_assert_mem_eq(w2.p, w.p, w.len);
    ktx__w_free(&w2);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(out);
}

START_TEST(test_every_api_roundtrips_populated_messages_at_every_version)
{
    const struct api_case *c = &CASES[_i];
    for (int16_t ver = 0; ver <= c->max_ver; ver++) {
        roundtrip_one(c, true, ver);
        roundtrip_one(c, false, ver);
    }
}
END_TEST

START_TEST(test_only_the_exact_encoding_decodes)
{
    const struct api_case *c = &CASES[_i];
    for (int16_t ver = 0; ver <= c->max_ver; ver++) {
        ktx_test_codec_strict(c->codec, true, ver, c->req, c->name);
        ktx_test_codec_strict(c->codec, false, ver, c->resp, c->name);
    }
}
END_TEST

START_TEST(test_versions_outside_the_range_are_unsupported)
{
    const struct api_case *c = &CASES[_i];
    int16_t bad[] = {-1, (int16_t)(c->max_ver + 1), INT16_MAX};
    for (size_t b = 0; b < KTX__ARRAY_LEN(bad); b++) {
        ktx_test_codec_unsupported(c->codec, true, bad[b], c->req);
        ktx_test_codec_unsupported(c->codec, false, bad[b], c->resp);
    }
}
END_TEST

/* The codecs must agree with the version table in proto.c that negotiation uses. */
START_TEST(test_codec_range_matches_the_protocol_table)
{
    const struct api_case *c = &CASES[_i];
    const struct ktx__api_info *api = ktx__proto_api(c->codec->api_key);
    ck_assert_ptr_nonnull(api);
    ck_assert_int_eq(api->min_ver, 0);
    ck_assert_int_eq(api->max_ver, c->max_ver);
}
END_TEST

/* ---- byte vectors written by hand from the schemas ---- */

/* Encodes the populated message, compares it with |hex|, then decodes |hex| and checks it. */
static void assert_vector(int api, bool req, int16_t ver, const char *hex)
{
    const struct api_case *c = &CASES[api];
    struct ktx__writer w;
    struct ktx__arena arena;
    size_t len;
    uint8_t *want = ktx_test_unhex(hex, &len);
    void *out = msg_alloc(c, req);

    encode_populated(c, req, ver, &w);
    ck_assert_uint_eq(w.len, len);
    ck_assert_mem_eq(w.p, want, len);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(decode(c, req, ver, want, len, out, &arena), 0);
    (req ? c->check_req : c->check_resp)(ver, out);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(want);
    free(out);
}

START_TEST(test_init_producer_id_v0_matches_hand_written_bytes)
{
    assert_vector(IPI, true, 0,
                  "0005 74786e2d31"      /* transactional_id: int16 length 5, "txn-1" */
                  "0000ea60");           /* transaction_timeout_ms: 60000 */
    assert_vector(IPI, false, 0,
                  "00000019"             /* throttle_time_ms: 25 */
                  "0033"                 /* error_code: 51 CONCURRENT_TRANSACTIONS */
                  "0000000000002329"     /* producer_id: 9001 */
                  "000c");               /* producer_epoch: 12 */
}
END_TEST

START_TEST(test_init_producer_id_v4_matches_hand_written_bytes)
{
    assert_vector(IPI, true, 4,
                  "06 74786e2d31"        /* transactional_id: compact length 5+1, "txn-1" */
                  "0000ea60"             /* transaction_timeout_ms: 60000 */
                  "0000000000001092"     /* producer_id: 4242 (v3+) */
                  "0007"                 /* producer_epoch: 7 (v3+) */
                  "00");                 /* tagged fields: none */
    assert_vector(IPI, false, 4,
                  "00000019"             /* throttle_time_ms: 25 */
                  "0033"                 /* error_code: 51 */
                  "0000000000002329"     /* producer_id: 9001 */
                  "000c"                 /* producer_epoch: 12 */
                  "00");                 /* tagged fields: none */
}
END_TEST

START_TEST(test_init_producer_id_encodes_null_transactional_id_for_idempotent_producers)
{
    struct ktx__init_producer_id_req req = {S_NULL, 1000, -1, -1};
    struct ktx__init_producer_id_req out;
    struct ktx__writer w;
    struct ktx__arena arena;
    size_t len;
    uint8_t *v0 = ktx_test_unhex("ffff"       /* transactional_id: null */
                                 "000003e8",  /* transaction_timeout_ms: 1000 */
                                 &len);

    ktx__w_init(&w, 0, 0);
    ck_assert_int_eq(ktx__proto_init_producer_id_req_encode(&w, 0, &req), 0);
    ck_assert_uint_eq(w.len, len);
    ck_assert_mem_eq(w.p, v0, len);
    ktx__w_reset(&w);
    ck_assert_int_eq(ktx__proto_init_producer_id_req_encode(&w, 2, &req), 0);
    ck_assert_uint_eq(w.len, 6);
    ck_assert_uint_eq(w.p[0], 0x00); /* compact null string */
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_init_producer_id_req_decode(w.p, w.len, 2, &out, &arena), 0);
    assert_str(out.transactional_id, NULL);
    ck_assert_int_eq(out.transaction_timeout_ms, 1000);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(v0);
}
END_TEST

START_TEST(test_add_partitions_to_txn_v3_matches_hand_written_bytes)
{
    assert_vector(APT, true, 3,
                  "06 74786e2d31"        /* v3_and_below_transactional_id: "txn-1" */
                  "0000000000001092"     /* producer_id: 4242 */
                  "0007"                 /* producer_epoch: 7 */
                  "03"                   /* topics: compact count 2+1 */
                  "07 6f7264657273"      /*   name: "orders" */
                  "03 00000000 00000005" /*   partitions: [0, 5] */
                  "00"                   /*   topic tagged fields */
                  "09 7061796d656e7473"  /*   name: "payments" */
                  "02 00000003"          /*   partitions: [3] */
                  "00"                   /*   topic tagged fields */
                  "00");                 /* tagged fields */
    assert_vector(APT, false, 3,
                  "0000000a"             /* throttle_time_ms: 10 */
                  "03"                   /* results_by_topic: 2 */
                  "07 6f7264657273"      /*   name: "orders" */
                  "03"                   /*   results_by_partition: 2 */
                  "00000000 0000 00"     /*     partition 0, NONE, tags */
                  "00000005 0035 00"     /*     partition 5, 53 TRANSACTIONAL_ID_AUTH..., tags */
                  "00"                   /*   topic tagged fields */
                  "09 7061796d656e7473"  /*   name: "payments" */
                  "02"                   /*   results_by_partition: 1 */
                  "00000003 0003 00"     /*     partition 3, 3 UNKNOWN_TOPIC_OR_PARTITION, tags */
                  "00"                   /*   topic tagged fields */
                  "00");                 /* tagged fields */
}
END_TEST

START_TEST(test_add_partitions_to_txn_v0_matches_hand_written_bytes)
{
    assert_vector(APT, true, 0,
                  "0005 74786e2d31"      /* transactional_id: int16 length, "txn-1" */
                  "0000000000001092"     /* producer_id: 4242 */
                  "0007"                 /* producer_epoch: 7 */
                  "00000002"             /* topics: int32 count 2 */
                  "0006 6f7264657273"    /*   name: "orders" */
                  "00000002 00000000 00000005" /* partitions: [0, 5] */
                  "0008 7061796d656e7473"/*   name: "payments" */
                  "00000001 00000003");  /*   partitions: [3] */
}
END_TEST

START_TEST(test_add_offsets_to_txn_v3_matches_hand_written_bytes)
{
    assert_vector(AOT, true, 3,
                  "06 74786e2d31"        /* transactional_id: "txn-1" */
                  "0000000000001092"     /* producer_id: 4242 */
                  "0007"                 /* producer_epoch: 7 */
                  "04 677270"            /* group_id: "grp" */
                  "00");                 /* tagged fields */
    assert_vector(AOT, false, 3,
                  "0000001e"             /* throttle_time_ms: 30 */
                  "0010"                 /* error_code: 16 NOT_COORDINATOR */
                  "00");                 /* tagged fields */
}
END_TEST

START_TEST(test_end_txn_v5_matches_hand_written_bytes)
{
    assert_vector(ET, true, 5,
                  "06 74786e2d31"        /* transactional_id: "txn-1" */
                  "0000000000001092"     /* producer_id: 4242 */
                  "0007"                 /* producer_epoch: 7 */
                  "01"                   /* committed: true */
                  "00");                 /* tagged fields */
    assert_vector(ET, false, 5,
                  "00000005"             /* throttle_time_ms: 5 */
                  "0030"                 /* error_code: 48 INVALID_TXN_STATE */
                  "0000000000001092"     /* producer_id: 4242 (v5+) */
                  "0008"                 /* producer_epoch: 8, the bumped epoch (v5+) */
                  "00");                 /* tagged fields */
}
END_TEST

START_TEST(test_end_txn_v4_response_omits_producer_id_and_epoch)
{
    assert_vector(ET, false, 4,
                  "00000005"             /* throttle_time_ms: 5 */
                  "0030"                 /* error_code: 48 */
                  "00");                 /* tagged fields */
}
END_TEST

static const char TOC_REQ_V3_HEX[] =
    "06 74786e2d31"                      /* transactional_id: "txn-1" */
    "04 677270"                          /* group_id: "grp" */
    "0000000000001092"                   /* producer_id: 4242 */
    "0007"                               /* producer_epoch: 7 */
    "00000009"                           /* generation_id: 9 (v3+) */
    "04 6d2d31"                          /* member_id: "m-1" (v3+) */
    "04 692d31"                          /* group_instance_id: "i-1" (v3+) */
    "02"                                 /* topics: 1 */
    "07 6f7264657273"                    /*   name: "orders" */
    "03"                                 /*   partitions: 2 */
    "00000000"                           /*     partition_index: 0 */
    "0000000000000064"                   /*     committed_offset: 100 */
    "00000004"                           /*     committed_leader_epoch: 4 (v2+) */
    "05 6d657461"                        /*     committed_metadata: "meta" */
    "00"                                 /*     partition tagged fields */
    "00000005"                           /*     partition_index: 5 */
    "00000000000000c8"                   /*     committed_offset: 200 */
    "00000006"                           /*     committed_leader_epoch: 6 */
    "00"                                 /*     committed_metadata: null */
    "00"                                 /*     partition tagged fields */
    "00"                                 /*   topic tagged fields */
    "00";                                /* tagged fields */

START_TEST(test_txn_offset_commit_v3_to_v5_match_hand_written_bytes)
{
    /* v4 only adds an error code and v5 is the transactions-v2 version: same bytes. */
    for (int16_t ver = 3; ver <= 5; ver++) {
        assert_vector(TOC, true, ver, TOC_REQ_V3_HEX);
        assert_vector(TOC, false, ver,
                      "0000000f"         /* throttle_time_ms: 15 */
                      "02"               /* topics: 1 */
                      "07 6f7264657273"  /*   name: "orders" */
                      "03"               /*   partitions: 2 */
                      "00000000 0000 00" /*     partition 0, NONE, tags */
                      "00000005 0016 00" /*     partition 5, 22 ILLEGAL_GENERATION, tags */
                      "00"               /*   topic tagged fields */
                      "00");             /* tagged fields */
    }
}
END_TEST

START_TEST(test_txn_offset_commit_v2_matches_hand_written_bytes)
{
    assert_vector(TOC, true, 2,
                  "0005 74786e2d31"      /* transactional_id: "txn-1" */
                  "0003 677270"          /* group_id: "grp" */
                  "0000000000001092"     /* producer_id: 4242 */
                  "0007"                 /* producer_epoch: 7 */
                  "00000001"             /* topics: 1 (no group metadata before v3) */
                  "0006 6f7264657273"    /*   name: "orders" */
                  "00000002"             /*   partitions: 2 */
                  "00000000 0000000000000064 00000004" /* partition 0, offset 100, epoch 4 */
                  "0004 6d657461"        /*     committed_metadata: "meta" */
                  "00000005 00000000000000c8 00000006" /* partition 5, offset 200, epoch 6 */
                  "ffff");               /*     committed_metadata: null */
}
END_TEST

START_TEST(test_describe_transactions_v0_matches_hand_written_bytes)
{
    assert_vector(DT, true, 0,
                  "03"                   /* transactional_ids: 2 */
                  "06 74786e2d31"        /*   "txn-1" */
                  "06 74786e2d32"        /*   "txn-2" */
                  "00");                 /* tagged fields */
    assert_vector(DT, false, 0,
                  "00000002"             /* throttle_time_ms: 2 */
                  "03"                   /* transaction_states: 2 */
                  "0000"                 /*   error_code: 0 */
                  "06 74786e2d31"        /*   transactional_id: "txn-1" */
                  "08 4f6e676f696e67"    /*   transaction_state: "Ongoing" */
                  "0000ea60"             /*   transaction_timeout_ms: 60000 */
                  "0000018bcfe56800"     /*   transaction_start_time_ms: 1700000000000 */
                  "0000000000001092"     /*   producer_id: 4242 */
                  "0007"                 /*   producer_epoch: 7 */
                  "02"                   /*   topics: 1 */
                  "07 6f7264657273"      /*     topic: "orders" */
                  "03 00000000 00000005" /*     partitions: [0, 5] */
                  "00"                   /*     topic tagged fields */
                  "00"                   /*   state tagged fields */
                  "0069"                 /*   error_code: 105 TRANSACTIONAL_ID_NOT_FOUND */
                  "06 74786e2d32"        /*   transactional_id: "txn-2" */
                  "01"                   /*   transaction_state: "" */
                  "00000000"             /*   transaction_timeout_ms: 0 */
                  "ffffffffffffffff"     /*   transaction_start_time_ms: -1 */
                  "ffffffffffffffff"     /*   producer_id: -1 */
                  "ffff"                 /*   producer_epoch: -1 */
                  "01"                   /*   topics: 0 */
                  "00"                   /*   state tagged fields */
                  "00");                 /* tagged fields */
}
END_TEST

START_TEST(test_describe_producers_v0_matches_hand_written_bytes)
{
    assert_vector(DP, true, 0,
                  "02"                   /* topics: 1 */
                  "07 6f7264657273"      /*   name: "orders" */
                  "03 00000000 00000005" /*   partition_indexes: [0, 5] */
                  "00"                   /*   topic tagged fields */
                  "00");                 /* tagged fields */
    assert_vector(DP, false, 0,
                  "00000003"             /* throttle_time_ms: 3 */
                  "02"                   /* topics: 1 */
                  "07 6f7264657273"      /*   name: "orders" */
                  "03"                   /*   partitions: 2 */
                  "00000000"             /*     partition_index: 0 */
                  "0000"                 /*     error_code: 0 */
                  "00"                   /*     error_message: null */
                  "02"                   /*     active_producers: 1 */
                  "0000000000001092"     /*       producer_id: 4242 */
                  "00000007"             /*       producer_epoch: 7 (int32 here) */
                  "00000063"             /*       last_sequence: 99 */
                  "0000018bcfe56800"     /*       last_timestamp: 1700000000000 */
                  "00000002"             /*       coordinator_epoch: 2 */
                  "00000000000003e8"     /*       current_txn_start_offset: 1000 */
                  "00"                   /*       producer tagged fields */
                  "00"                   /*     partition tagged fields */
                  "00000005"             /*     partition_index: 5 */
                  "0006"                 /*     error_code: 6 NOT_LEADER_OR_FOLLOWER */
                  "0b 6e6f74206c6561646572" /*  error_message: "not leader" */
                  "01"                   /*     active_producers: 0 */
                  "00"                   /*     partition tagged fields */
                  "00"                   /*   topic tagged fields */
                  "00");                 /* tagged fields */
}
END_TEST

/* ---- malformed and hostile input ---- */

/* Decodes |hex| and expects KTX_ERR_BAD_MSG with no more than one arena chunk allocated. */
static void assert_rejected(int api, bool req, int16_t ver, const char *hex)
{
    const struct api_case *c = &CASES[api];
    struct ktx__arena arena;
    size_t len;
    uint8_t *in = ktx_test_unhex(hex, &len);
    void *out = msg_alloc(c, req);

    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(decode(c, req, ver, in, len, out, &arena), KTX_ERR_BAD_MSG);
    ck_assert_uint_le(arena.total, 4096);
    ktx__arena_free(&arena);
    free(in);
    free(out);
}

START_TEST(test_hostile_array_counts_fail_without_large_allocations)
{
    /* AddPartitionsToTxn v0: topics count INT32_MAX with nothing behind it. */
    assert_rejected(APT, true, 0, "0001 74 0000000000001092 0007 7fffffff");
    /* AddPartitionsToTxn v3 response: compact count 0xffffffff-1. */
    assert_rejected(APT, false, 3, "00000000 ffffffff0f 00");
    /* TxnOffsetCommit v0: one topic claiming 2^28 partitions, 64 bytes behind it. */
    assert_rejected(TOC, true, 0,
                    "0001 74 0001 67 0000000000001092 0007 00000001 0001 6f 10000000"
                    "00000000000000000000000000000000 00000000000000000000000000000000"
                    "00000000000000000000000000000000 00000000000000000000000000000000");
    /* DescribeTransactions: compact count 2^31 - 1. */
    assert_rejected(DT, true, 0, "8080808008 00");
    /* DescribeProducers response: 1000 active producers announced, room for one. */
    assert_rejected(DP, false, 0,
                    "00000000 02 02 6f 02 00000000 0000 00 e907"
                    "0000000000001092 00000007 00000063 0000018bcfe56800 00000002"
                    "00000000000003e8 00 00 00 00");
    /* TxnOffsetCommit v3 response: negative classic-looking count cannot occur in compact
     * form, but a huge partition count inside a topic can. */
    assert_rejected(TOC, false, 3, "00000000 02 02 6f ffffff7f 00 00");
}
END_TEST

START_TEST(test_null_arrays_and_null_non_nullable_strings_are_rejected)
{
    /* AddPartitionsToTxn v0 with a null topics array (-1). */
    assert_rejected(APT, true, 0, "0001 74 0000000000001092 0007 ffffffff");
    /* DescribeTransactions with a null transactional_ids array (compact 0). */
    assert_rejected(DT, true, 0, "00 00");
    /* AddOffsetsToTxn v0 with a null transactional_id. */
    assert_rejected(AOT, true, 0, "ffff 0000000000001092 0007 0001 67");
    /* EndTxn v3 with a null (compact 0) transactional_id. */
    assert_rejected(ET, true, 3, "00 0000000000001092 0007 01 00");
}
END_TEST

START_TEST(test_unknown_tagged_fields_are_skipped)
{
    struct ktx__end_txn_resp resp;
    struct ktx__arena arena;
    size_t len;
    uint8_t *in = ktx_test_unhex("00000005 0030 0000000000001092 0008"
                                 "02"          /* two tagged fields */
                                 "03 02 abcd"  /* tag 3, 2 bytes */
                                 "07 00",      /* tag 7, empty */
                                 &len);

    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_end_txn_resp_decode(in, len, 5, &resp, &arena), 0);
    check_et_resp(5, &resp);
    /* Tags out of order are malformed. */
    in[len - 2] = 0x01;
    ck_assert_int_eq(ktx__proto_end_txn_resp_decode(in, len, 5, &resp, &arena),
                     KTX_ERR_BAD_MSG);
    ktx__arena_free(&arena);
    free(in);
}
END_TEST

START_TEST(test_decoder_fails_when_the_arena_ceiling_is_reached)
{
    const struct api_case *c = &CASES[DP];
    struct ktx__describe_producers_resp out;
    struct ktx__writer w;
    struct ktx__arena arena;

    encode_populated(c, false, 0, &w);
    ktx__arena_init(&arena, 64);
    ck_assert_int_eq(ktx__proto_describe_producers_resp_decode(w.p, w.len, 0, &out, &arena),
                     KTX_ERR_BAD_MSG);
    ck_assert_uint_eq(arena.total, 0);
    ktx__arena_free(&arena);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_end_txn_request_reads_any_non_zero_committed_byte_as_commit)
{
    struct ktx__end_txn_req req;
    struct ktx__arena arena;
    size_t len;
    uint8_t *in = ktx_test_unhex("0001 74 0000000000001092 0007 02", &len);

    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_end_txn_req_decode(in, len, 0, &req, &arena), 0);
    ck_assert(req.committed);
    in[len - 1] = 0;
    ck_assert_int_eq(ktx__proto_end_txn_req_decode(in, len, 0, &req, &arena), 0);
    ck_assert(!req.committed);
    ktx__arena_free(&arena);
    free(in);
}
END_TEST

/* ---- encoder argument errors ---- */

START_TEST(test_encoder_rejects_values_that_cannot_be_encoded)
{
    struct ktx__writer w;
    struct ktx__end_txn_req et = ET_REQ;
    struct ktx__add_partitions_to_txn_req apt = APT_REQ;
    struct ktx__describe_transactions_req dt = {NULL, 1};

    ktx__w_init(&w, 0, 0);
    et.transactional_id = S_NULL;
    ck_assert_int_eq(ktx__proto_end_txn_req_encode(&w, 3, &et), KTX_ERR_BAD_MSG);
    ktx__w_reset(&w);
    apt.topics = NULL;
    ck_assert_int_eq(ktx__proto_add_partitions_to_txn_req_encode(&w, 3, &apt), KTX_ERR_BAD_MSG);
    ktx__w_reset(&w);
    apt.topic_count = -1;
    ck_assert_int_eq(ktx__proto_add_partitions_to_txn_req_encode(&w, 0, &apt), KTX_ERR_BAD_MSG);
    ktx__w_reset(&w);
    ck_assert_int_eq(ktx__proto_describe_transactions_req_encode(&w, 0, &dt), KTX_ERR_BAD_MSG);
    ktx__w_reset(&w);
    /* An empty array with no elements is fine. */
    dt.transactional_id_count = 0;
    ck_assert_int_eq(ktx__proto_describe_transactions_req_encode(&w, 0, &dt), 0);
    ck_assert_uint_eq(w.len, 2);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_encoder_returns_the_writer_ceiling_error)
{
    struct ktx__writer w;

    ktx__w_init(&w, 0, 16);
    ck_assert_int_eq(ktx__proto_describe_producers_resp_encode(&w, 0, &DP_RESP),
                     KTX_ERR_BAD_MSG);
    ck_assert_uint_le(w.len, 16);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_codecs_carry_their_api_keys_and_struct_sizes)
{
    ck_assert_int_eq(ktx__proto_codec_init_producer_id.api_key, 22);
    ck_assert_int_eq(ktx__proto_codec_add_partitions_to_txn.api_key, 24);
    ck_assert_int_eq(ktx__proto_codec_add_offsets_to_txn.api_key, 25);
    ck_assert_int_eq(ktx__proto_codec_end_txn.api_key, 26);
    ck_assert_int_eq(ktx__proto_codec_txn_offset_commit.api_key, 28);
    ck_assert_int_eq(ktx__proto_codec_describe_producers.api_key, 61);
    ck_assert_int_eq(ktx__proto_codec_describe_transactions.api_key, 65);
    ck_assert_uint_eq(ktx__proto_codec_end_txn.req_size, sizeof(struct ktx__end_txn_req));
    ck_assert_uint_eq(ktx__proto_codec_end_txn.resp_size, sizeof(struct ktx__end_txn_resp));
}
END_TEST

Suite *proto_txn_suite(void);

Suite *proto_txn_suite(void)
{
    Suite *s = suite_create("proto_txn");
    TCase *generic = tcase_create("every_api");
    TCase *vectors = tcase_create("vectors");
    TCase *hostile = tcase_create("malformed");

    tcase_add_loop_test(generic, test_every_api_roundtrips_populated_messages_at_every_version, 0,
                        N_CASES);
    tcase_add_loop_test(generic, test_only_the_exact_encoding_decodes, 0, N_CASES);
    tcase_add_loop_test(generic, test_versions_outside_the_range_are_unsupported, 0, N_CASES);
    tcase_add_loop_test(generic, test_codec_range_matches_the_protocol_table, 0, N_CASES);
    tcase_add_test(generic, test_codecs_carry_their_api_keys_and_struct_sizes);
    suite_add_tcase(s, generic);

    tcase_add_test(vectors, test_init_producer_id_v0_matches_hand_written_bytes);
    tcase_add_test(vectors, test_init_producer_id_v4_matches_hand_written_bytes);
    tcase_add_test(vectors,
                   test_init_producer_id_encodes_null_transactional_id_for_idempotent_producers);
    tcase_add_test(vectors, test_add_partitions_to_txn_v3_matches_hand_written_bytes);
    tcase_add_test(vectors, test_add_partitions_to_txn_v0_matches_hand_written_bytes);
    tcase_add_test(vectors, test_add_offsets_to_txn_v3_matches_hand_written_bytes);
    tcase_add_test(vectors, test_end_txn_v5_matches_hand_written_bytes);
    tcase_add_test(vectors, test_end_txn_v4_response_omits_producer_id_and_epoch);
    tcase_add_test(vectors, test_txn_offset_commit_v3_to_v5_match_hand_written_bytes);
    tcase_add_test(vectors, test_txn_offset_commit_v2_matches_hand_written_bytes);
    tcase_add_test(vectors, test_describe_transactions_v0_matches_hand_written_bytes);
    tcase_add_test(vectors, test_describe_producers_v0_matches_hand_written_bytes);
    suite_add_tcase(s, vectors);

    tcase_add_test(hostile, test_hostile_array_counts_fail_without_large_allocations);
    tcase_add_test(hostile, test_null_arrays_and_null_non_nullable_strings_are_rejected);
    tcase_add_test(hostile, test_unknown_tagged_fields_are_skipped);
    tcase_add_test(hostile, test_decoder_fails_when_the_arena_ceiling_is_reached);
    tcase_add_test(hostile, test_end_txn_request_reads_any_non_zero_committed_byte_as_commit);
    tcase_add_test(hostile, test_encoder_rejects_values_that_cannot_be_encoded);
    tcase_add_test(hostile, test_encoder_returns_the_writer_ceiling_error);
    suite_add_tcase(s, hostile);
    return s;
}

KTX_CHECK_MAIN(proto_txn_suite)
