/*
 * Unit tests for the Fetch and ListOffsets codecs (sdk/proto_fetch.c): round trips at
 * every version, hand-written byte vectors, truncation, trailing bytes, hostile counts,
 * tagged fields and null records.
 */
#include "check_util.h"
#include "codec_check.h"

#include <stdlib.h>
#include <string.h>

#include "proto_fetch.h"

/* ---- fixtures ---- */

static const uint8_t records_a[] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };

static struct ktx__fetch_partition fixture_fetch_parts[2];
static struct ktx__fetch_topic fixture_fetch_topics[1];
static int32_t fixture_forgotten_parts[3];
static struct ktx__fetch_forgotten_topic fixture_forgotten[1];

/* Returns a Fetch request with every field of version 12 set. The arrays are static. */
static struct ktx__fetch_req full_fetch_req(void)
{
    fixture_fetch_parts[0] = (struct ktx__fetch_partition){ 0, 12, 1000, 11, 5, 1048576 };
    fixture_fetch_parts[1] = (struct ktx__fetch_partition){ 9, 3, 0, 2, 0, 65536 };
    fixture_fetch_topics[0] = (struct ktx__fetch_topic){ ktx__str_c("orders"), fixture_fetch_parts, 2 };
    fixture_forgotten_parts[0] = 4;
    fixture_forgotten_parts[1] = 5;
    fixture_forgotten_parts[2] = 2147483647;
    fixture_forgotten[0] = (struct ktx__fetch_forgotten_topic){ ktx__str_c("old"), fixture_forgotten_parts, 3 };
    struct ktx__fetch_req req = {
        .cluster_id = ktx__str_c("cluster-Zx9"),
        .replica_id = -1,
        .max_wait_ms = 500,
        .min_bytes = 1,
        .max_bytes = 52428800,
        .isolation_level = KTX__READ_COMMITTED,
        .session_id = 77,
        .session_epoch = 3,
        .topics = fixture_fetch_topics,
        .topics_count = 1,
        .forgotten_topics_data = fixture_forgotten,
        .forgotten_topics_data_count = 1,
        .rack_id = ktx__str_c("rack-b"),
    };
    return req;
}

static struct ktx__fetch_aborted_transaction fixture_aborted[2];
static struct ktx__fetch_partition_resp fixture_fetch_part_resps[2];
static struct ktx__fetch_topic_resp fixture_fetch_topic_resps[2];

static struct ktx__fetch_resp full_fetch_resp(void)
{
    fixture_aborted[0] = (struct ktx__fetch_aborted_transaction){ 4000, 10 };
    fixture_aborted[1] = (struct ktx__fetch_aborted_transaction){ 4001, 57 };
    fixture_fetch_part_resps[0] = (struct ktx__fetch_partition_resp){
        .partition_index = 0,
        .error_code = 0,
        .high_watermark = 100,
        .last_stable_offset = 90,
        .log_start_offset = 3,
        .diverging_epoch = { 5, 80 },
        .current_leader = { 2, 8 },
        .snapshot_id = { 70, 4 },
        .aborted_transactions = fixture_aborted,
        .aborted_transactions_count = 2,
        .preferred_read_replica = 6,
        .records = { records_a, sizeof(records_a) },
    };
    fixture_fetch_part_resps[1] = (struct ktx__fetch_partition_resp){
        .partition_index = 1,
        .error_code = KTX_ERR_OFFSET_OUT_OF_RANGE,
        .high_watermark = -1,
        .last_stable_offset = -1,
        .log_start_offset = -1,
        .diverging_epoch = { -1, -1 },
        .current_leader = { -1, -1 },
        .snapshot_id = { -1, -1 },
        .aborted_transactions = NULL,
        .aborted_transactions_count = -1,
        .preferred_read_replica = -1,
        .records = { NULL, -1 },
    };
    fixture_fetch_topic_resps[0] = (struct ktx__fetch_topic_resp){ ktx__str_c("orders"), fixture_fetch_part_resps, 2 };
    fixture_fetch_topic_resps[1] = (struct ktx__fetch_topic_resp){ ktx__str_c("empty"), NULL, 0 };
    struct ktx__fetch_resp resp = {
        .throttle_time_ms = 12,
        .error_code = 0,
        .session_id = 77,
        .responses = fixture_fetch_topic_resps,
        .responses_count = 2,
    };
    return resp;
}

static struct ktx__list_offsets_partition fixture_lo_parts[2];
static struct ktx__list_offsets_topic fixture_lo_topics[2];

static struct ktx__list_offsets_req full_lo_req(void)
{
    fixture_lo_parts[0] = (struct ktx__list_offsets_partition){ 0, 7, KTX__LIST_OFFSETS_LATEST };
    fixture_lo_parts[1] = (struct ktx__list_offsets_partition){ 3, 2, 1700000000000LL };
    fixture_lo_topics[0] = (struct ktx__list_offsets_topic){ ktx__str_c("a"), fixture_lo_parts, 2 };
    fixture_lo_topics[1] = (struct ktx__list_offsets_topic){ ktx__str_c("bb"), NULL, 0 };
    struct ktx__list_offsets_req req = { -1, KTX__READ_COMMITTED, fixture_lo_topics, 2 };
    return req;
}

static struct ktx__list_offsets_partition_resp fixture_lo_part_resps[2];
static struct ktx__list_offsets_topic_resp fixture_lo_topic_resps[1];

static struct ktx__list_offsets_resp full_lo_resp(void)
{
    fixture_lo_part_resps[0] = (struct ktx__list_offsets_partition_resp){ 0, 0, 1700000000001LL, 4242, 9 };
    fixture_lo_part_resps[1] =
        (struct ktx__list_offsets_partition_resp){ 3, KTX_ERR_NOT_LEADER_OR_FOLLOWER, -1, -1, -1 };
    fixture_lo_topic_resps[0] = (struct ktx__list_offsets_topic_resp){ ktx__str_c("a"), fixture_lo_part_resps, 2 };
    struct ktx__list_offsets_resp resp = { 30, fixture_lo_topic_resps, 1 };
    return resp;
}

/* ---- comparisons ---- */

static void assert_str(struct ktx__str got, struct ktx__str want)
{
    ck_assert_int_eq(got.len, want.len);
    ck_assert_msg(ktx__str_eq(got, want), "string '%.*s' != '%.*s'", got.len < 0 ? 0 : got.len,
                  got.ptr ? got.ptr : "", want.len < 0 ? 0 : want.len, want.ptr ? want.ptr : "");
}

static void assert_fetch_partition_at(const struct ktx__fetch_partition *got, const struct ktx__fetch_partition *want,
                                      int16_t ver)
{
    ck_assert_int_eq(got->partition, want->partition);
    ck_assert_int_eq(got->current_leader_epoch, ver >= 9 ? want->current_leader_epoch : -1);
    ck_assert_int_eq(got->fetch_offset, want->fetch_offset);
    ck_assert_int_eq(got->last_fetched_epoch, ver >= 12 ? want->last_fetched_epoch : -1);
    ck_assert_int_eq(got->log_start_offset, ver >= 5 ? want->log_start_offset : -1);
    ck_assert_int_eq(got->partition_max_bytes, want->partition_max_bytes);
}

static void assert_fetch_req_at(const struct ktx__fetch_req *got, const struct ktx__fetch_req *want, int16_t ver)
{
    if (ver >= 12)
        assert_str(got->cluster_id, want->cluster_id);
    else
        ck_assert_int_eq(got->cluster_id.len, -1);
    ck_assert_int_eq(got->replica_id, want->replica_id);
    ck_assert_int_eq(got->max_wait_ms, want->max_wait_ms);
    ck_assert_int_eq(got->min_bytes, want->min_bytes);
    ck_assert_int_eq(got->max_bytes, want->max_bytes);
    ck_assert_int_eq(got->isolation_level, want->isolation_level);
    ck_assert_int_eq(got->session_id, ver >= 7 ? want->session_id : 0);
    ck_assert_int_eq(got->session_epoch, ver >= 7 ? want->session_epoch : -1);
    ck_assert_int_eq(got->topics_count, want->topics_count);
    for (int32_t i = 0; i < want->topics_count; i++) {
        assert_str(got->topics[i].topic, want->topics[i].topic);
        ck_assert_int_eq(got->topics[i].partitions_count, want->topics[i].partitions_count);
        for (int32_t j = 0; j < want->topics[i].partitions_count; j++)
            assert_fetch_partition_at(&got->topics[i].partitions[j], &want->topics[i].partitions[j], ver);
    }
    ck_assert_int_eq(got->forgotten_topics_data_count, ver >= 7 ? want->forgotten_topics_data_count : 0);
    for (int32_t i = 0; i < got->forgotten_topics_data_count; i++) {
        const struct ktx__fetch_forgotten_topic *g = &got->forgotten_topics_data[i];
        const struct ktx__fetch_forgotten_topic *e = &want->forgotten_topics_data[i];
        assert_str(g->topic, e->topic);
        ck_assert_int_eq(g->partitions_count, e->partitions_count);
        for (int32_t j = 0; j < e->partitions_count; j++)
            ck_assert_int_eq(g->partitions[j], e->partitions[j]);
    }
    assert_str(got->rack_id, ver >= 11 ? want->rack_id : ktx__str_c(""));
}

static void assert_fetch_part_resp_at(const struct ktx__fetch_partition_resp *got,
                                      const struct ktx__fetch_partition_resp *want, int16_t ver)
{
    ck_assert_int_eq(got->partition_index, want->partition_index);
    ck_assert_int_eq(got->error_code, want->error_code);
    ck_assert_int_eq(got->high_watermark, want->high_watermark);
    ck_assert_int_eq(got->last_stable_offset, want->last_stable_offset);
    ck_assert_int_eq(got->log_start_offset, ver >= 5 ? want->log_start_offset : -1);
    bool tags = ver >= 12;
    ck_assert_int_eq(got->diverging_epoch.epoch, tags ? want->diverging_epoch.epoch : -1);
    ck_assert_int_eq(got->diverging_epoch.end_offset, tags ? want->diverging_epoch.end_offset : -1);
    ck_assert_int_eq(got->current_leader.leader_id, tags ? want->current_leader.leader_id : -1);
    ck_assert_int_eq(got->current_leader.leader_epoch, tags ? want->current_leader.leader_epoch : -1);
    ck_assert_int_eq(got->snapshot_id.end_offset, tags ? want->snapshot_id.end_offset : -1);
    ck_assert_int_eq(got->snapshot_id.epoch, tags ? want->snapshot_id.epoch : -1);
    ck_assert_int_eq(got->aborted_transactions_count, want->aborted_transactions_count);
    for (int32_t k = 0; k < want->aborted_transactions_count; k++) {
        ck_assert_int_eq(got->aborted_transactions[k].producer_id, want->aborted_transactions[k].producer_id);
        ck_assert_int_eq(got->aborted_transactions[k].first_offset, want->aborted_transactions[k].first_offset);
    }
    ck_assert_int_eq(got->preferred_read_replica, ver >= 11 ? want->preferred_read_replica : -1);
    ck_assert_int_eq(got->records.len, want->records.len);
    ck_assert(ktx__bytes_eq(got->records, want->records));
}

static void assert_fetch_resp_at(const struct ktx__fetch_resp *got, const struct ktx__fetch_resp *want, int16_t ver)
{
    ck_assert_int_eq(got->throttle_time_ms, want->throttle_time_ms);
    ck_assert_int_eq(got->error_code, ver >= 7 ? want->error_code : 0);
    ck_assert_int_eq(got->session_id, ver >= 7 ? want->session_id : 0);
    ck_assert_int_eq(got->responses_count, want->responses_count);
    for (int32_t i = 0; i < want->responses_count; i++) {
        assert_str(got->responses[i].topic, want->responses[i].topic);
        ck_assert_int_eq(got->responses[i].partitions_count, want->responses[i].partitions_count);
        for (int32_t j = 0; j < want->responses[i].partitions_count; j++)
            assert_fetch_part_resp_at(&got->responses[i].partitions[j], &want->responses[i].partitions[j], ver);
    }
}

static void assert_lo_req_at(const struct ktx__list_offsets_req *got, const struct ktx__list_offsets_req *want,
                             int16_t ver)
{
    ck_assert_int_eq(got->replica_id, want->replica_id);
    ck_assert_int_eq(got->isolation_level, ver >= 2 ? want->isolation_level : 0);
    ck_assert_int_eq(got->topics_count, want->topics_count);
    for (int32_t i = 0; i < want->topics_count; i++) {
        assert_str(got->topics[i].name, want->topics[i].name);
        ck_assert_int_eq(got->topics[i].partitions_count, want->topics[i].partitions_count);
        for (int32_t j = 0; j < want->topics[i].partitions_count; j++) {
            const struct ktx__list_offsets_partition *g = &got->topics[i].partitions[j];
            const struct ktx__list_offsets_partition *e = &want->topics[i].partitions[j];
            ck_assert_int_eq(g->partition_index, e->partition_index);
            ck_assert_int_eq(g->current_leader_epoch, ver >= 4 ? e->current_leader_epoch : -1);
            ck_assert_int_eq(g->timestamp, e->timestamp);
        }
    }
}

static void assert_lo_resp_at(const struct ktx__list_offsets_resp *got, const struct ktx__list_offsets_resp *want,
                              int16_t ver)
{
    ck_assert_int_eq(got->throttle_time_ms, ver >= 2 ? want->throttle_time_ms : 0);
    ck_assert_int_eq(got->topics_count, want->topics_count);
    for (int32_t i = 0; i < want->topics_count; i++) {
        assert_str(got->topics[i].name, want->topics[i].name);
        ck_assert_int_eq(got->topics[i].partitions_count, want->topics[i].partitions_count);
        for (int32_t j = 0; j < want->topics[i].partitions_count; j++) {
            const struct ktx__list_offsets_partition_resp *g = &got->topics[i].partitions[j];
            const struct ktx__list_offsets_partition_resp *e = &want->topics[i].partitions[j];
            ck_assert_int_eq(g->partition_index, e->partition_index);
            ck_assert_int_eq(g->error_code, e->error_code);
            ck_assert_int_eq(g->timestamp, e->timestamp);
            ck_assert_int_eq(g->offset, e->offset);
            ck_assert_int_eq(g->leader_epoch, ver >= 4 ? e->leader_epoch : -1);
        }
    }
}

/* ---- generic helpers over the erased codec table ---- */

/* Encodes |msg| (a request when |is_req|) with |codec| at |ver| into a fresh writer. */
static void encode_with(const struct ktx__proto_codec *codec, bool is_req, int16_t ver, const void *msg,
                        struct ktx__writer *w)
{
    ktx__w_init(w, 64, 0);
    int rc = is_req ? codec->req_encode(w, ver, msg) : codec->resp_encode(w, ver, msg);
    ck_assert_int_eq(rc, 0);
}

static int decode_with(const struct ktx__proto_codec *codec, bool is_req, int16_t ver, const uint8_t *p,
                       size_t len, struct ktx__arena *arena)
{
    uint8_t out[512]; /* larger than every message struct of these codecs */
    ck_assert_uint_le(is_req ? codec->req_size : codec->resp_size, sizeof(out));
    return is_req ? codec->req_decode(p, len, ver, out, arena) : codec->resp_decode(p, len, ver, out, arena);
}

static void assert_hex_eq(const struct ktx__writer *w, const uint8_t *want, size_t want_len)
{
    ck_assert_uint_eq(w->len, want_len);
    for (size_t i = 0; i < want_len; i++)
        ck_assert_msg(w->p[i] == want[i], "byte %zu: got %02x, want %02x", i, w->p[i], want[i]);
}

/* ---- Fetch round trips ---- */

START_TEST(test_fetch_req_roundtrips_every_version_with_defaults_for_absent_fields)
{
    for (int16_t ver = KTX__FETCH_MIN_VER; ver <= KTX__FETCH_MAX_VER; ver++) {
        struct ktx__fetch_req req = full_fetch_req(), out;
        struct ktx__writer w;
        struct ktx__arena arena;
        encode_with(&ktx__proto_codec_fetch, true, ver, &req, &w);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_fetch_req_decode(w.p, w.len, ver, &out, &arena), 0);
        assert_fetch_req_at(&out, &req, ver);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_fetch_resp_roundtrips_every_version_with_defaults_for_absent_fields)
{
    for (int16_t ver = KTX__FETCH_MIN_VER; ver <= KTX__FETCH_MAX_VER; ver++) {
        struct ktx__fetch_resp resp = full_fetch_resp(), out;
        struct ktx__writer w;
        struct ktx__arena arena;
        encode_with(&ktx__proto_codec_fetch, false, ver, &resp, &w);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_fetch_resp_decode(w.p, w.len, ver, &out, &arena), 0);
        assert_fetch_resp_at(&out, &resp, ver);
        /* Records are a view into the input, not a copy. */
        const uint8_t *rec = out.responses[0].partitions[0].records.ptr;
        ck_assert(rec >= w.p && rec < w.p + w.len);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_fetch_distinguishes_null_and_empty_aborted_transactions)
{
    for (int16_t ver = KTX__FETCH_MIN_VER; ver <= KTX__FETCH_MAX_VER; ver++) {
        struct ktx__fetch_resp resp = full_fetch_resp(), out;
        struct ktx__writer w;
        struct ktx__arena arena;
        fixture_fetch_part_resps[0].aborted_transactions_count = 0; /* empty, not null */
        encode_with(&ktx__proto_codec_fetch, false, ver, &resp, &w);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_fetch_resp_decode(w.p, w.len, ver, &out, &arena), 0);
        ck_assert_int_eq(out.responses[0].partitions[0].aborted_transactions_count, 0);
        ck_assert_int_eq(out.responses[0].partitions[1].aborted_transactions_count, -1);
        ck_assert_ptr_null(out.responses[0].partitions[1].aborted_transactions);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }
}
END_TEST

START_TEST(test_fetch_null_records_roundtrip_as_null)
{
    static const char v4_null[] = "00000000 00000001 0001 74 00000001 00000000 0000"
                                  "0000000000000000 0000000000000000 ffffffff ffffffff";
    static const char v12_null[] = "00000000 0000 00000000 02 0274 02 00000000 0000"
                                   "0000000000000000 0000000000000000 0000000000000000"
                                   "00 ffffffff 00 00 00 00";
    const char *hex[] = { v4_null, v12_null };
    const int16_t vers[] = { 4, 12 };
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *bytes = ktx_test_unhex(hex[i], &len);
        struct ktx__fetch_resp out;
        struct ktx__arena arena;
        struct ktx__writer w;
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_fetch_resp_decode(bytes, len, vers[i], &out, &arena), 0);
        ck_assert_int_eq(out.responses[0].partitions[0].records.len, -1);
        ck_assert_ptr_null(out.responses[0].partitions[0].records.ptr);
        ck_assert_int_eq(out.responses[0].partitions[0].aborted_transactions_count, -1);
        encode_with(&ktx__proto_codec_fetch, false, vers[i], &out, &w);
        assert_hex_eq(&w, bytes, len);
        ktx__w_free(&w);
        ktx__arena_free(&arena);
        free(bytes);
    }
}
END_TEST

/* ---- Fetch byte vectors ---- */

/* A v4 read_committed answer: partition 0 with two aborted transactions and 2 bytes of
 * records. */
static const char fetch_v4_resp_hex[] =
    "00000000"         /* throttle_time_ms: 0 */
    "00000001"         /* responses: 1 element */
    "0001 74"          /* topic: "t" */
    "00000001"         /* partitions: 1 element */
    "00000000"         /* partition_index: 0 */
    "0000"             /* error_code: NONE */
    "0000000000000064" /* high_watermark: 100 */
    "000000000000005a" /* last_stable_offset: 90 */
    "00000002"         /* aborted_transactions: 2 elements */
    "00000000000003e8" /*   producer_id: 1000 */
    "000000000000000a" /*   first_offset: 10 */
    "00000000000003e9" /*   producer_id: 1001 */
    "0000000000000032" /*   first_offset: 50 */
    "00000002"         /* records: int32 length 2 */
    "abcd";            /* records bytes */

START_TEST(test_fetch_v4_response_with_aborted_transactions_matches_byte_vector)
{
    size_t len;
    uint8_t *bytes = ktx_test_unhex(fetch_v4_resp_hex, &len);
    struct ktx__fetch_resp out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_fetch_resp_decode(bytes, len, 4, &out, &arena), 0);
    ck_assert_int_eq(out.throttle_time_ms, 0);
    ck_assert_int_eq(out.session_id, 0);
    ck_assert_int_eq(out.responses_count, 1);
    ck_assert(ktx__str_eq_c(out.responses[0].topic, "t"));
    const struct ktx__fetch_partition_resp *part = &out.responses[0].partitions[0];
    ck_assert_int_eq(part->high_watermark, 100);
    ck_assert_int_eq(part->last_stable_offset, 90);
    ck_assert_int_eq(part->log_start_offset, -1);
    ck_assert_int_eq(part->preferred_read_replica, -1);
    ck_assert_int_eq(part->aborted_transactions_count, 2);
    ck_assert_int_eq(part->aborted_transactions[0].producer_id, 1000);
    ck_assert_int_eq(part->aborted_transactions[0].first_offset, 10);
    ck_assert_int_eq(part->aborted_transactions[1].producer_id, 1001);
    ck_assert_int_eq(part->aborted_transactions[1].first_offset, 50);
    ck_assert_int_eq(part->records.len, 2);
    ck_assert_ptr_eq(part->records.ptr, bytes + len - 2);

    struct ktx__writer w;
    encode_with(&ktx__proto_codec_fetch, false, 4, &out, &w);
    assert_hex_eq(&w, bytes, len);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    free(bytes);
}
END_TEST

/* A v12 answer telling the consumer that partition 3 moved to broker 5 (epoch 9), with
 * an unknown tag 7 that must be skipped. */
static const char fetch_v12_resp_hex[] =
    "00000000"         /* throttle_time_ms: 0 */
    "0000"             /* error_code: NONE */
    "00000000"         /* session_id: 0 */
    "02"               /* responses: compact, 1 element */
    "02 74"            /* topic: "t" */
    "02"               /* partitions: compact, 1 element */
    "00000003"         /* partition_index: 3 */
    "004a"             /* error_code: FENCED_LEADER_EPOCH (74) */
    "ffffffffffffffff" /* high_watermark: -1 */
    "ffffffffffffffff" /* last_stable_offset: -1 */
    "ffffffffffffffff" /* log_start_offset: -1 */
    "00"               /* aborted_transactions: compact null */
    "ffffffff"         /* preferred_read_replica: -1 */
    "01"               /* records: compact, empty */
    "02"               /* partition tagged fields: 2 */
    "01 09"            /* tag 1 (CurrentLeader), 9 bytes */
    "00000005"         /*   leader_id: 5 */
    "00000009"         /*   leader_epoch: 9 */
    "00"               /*   its tagged fields: none */
    "07 01 ee"         /* tag 7 (unknown), 1 byte */
    "00"               /* topic tagged fields: none */
    "00";              /* response tagged fields: none */

START_TEST(test_fetch_v12_response_decodes_current_leader_and_skips_unknown_tags)
{
    size_t len;
    uint8_t *bytes = ktx_test_unhex(fetch_v12_resp_hex, &len);
    struct ktx__fetch_resp out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_fetch_resp_decode(bytes, len, 12, &out, &arena), 0);
    const struct ktx__fetch_partition_resp *part = &out.responses[0].partitions[0];
    ck_assert_int_eq(part->partition_index, 3);
    ck_assert_int_eq(part->error_code, 74);
    ck_assert_int_eq(part->current_leader.leader_id, 5);
    ck_assert_int_eq(part->current_leader.leader_epoch, 9);
    ck_assert_int_eq(part->diverging_epoch.epoch, -1);
    ck_assert_int_eq(part->diverging_epoch.end_offset, -1);
    ck_assert_int_eq(part->snapshot_id.end_offset, -1);
    ck_assert_int_eq(part->aborted_transactions_count, -1);
    ck_assert_int_eq(part->records.len, 0);
    /* Re-encoding drops the unknown tag: 3 bytes shorter, tag count 1. */
    struct ktx__writer w;
    encode_with(&ktx__proto_codec_fetch, false, 12, &out, &w);
    ck_assert_uint_eq(w.len, len - 3);
    ck_assert_uint_eq(w.p[50], 0x01);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    free(bytes);
}
END_TEST

/* A v12 consumer request carrying cluster_id as tagged field 0. */
static const char fetch_v12_req_hex[] =
    "ffffffff"         /* replica_id: -1 */
    "000001f4"         /* max_wait_ms: 500 */
    "00000001"         /* min_bytes: 1 */
    "7fffffff"         /* max_bytes: 0x7fffffff */
    "01"               /* isolation_level: READ_COMMITTED */
    "00000000"         /* session_id: 0 */
    "ffffffff"         /* session_epoch: -1 (full fetch, no session) */
    "02"               /* topics: compact, 1 element */
    "02 74"            /* topic: "t" */
    "02"               /* partitions: compact, 1 element */
    "00000000"         /* partition: 0 */
    "00000004"         /* current_leader_epoch: 4 */
    "000000000000002a" /* fetch_offset: 42 */
    "ffffffff"         /* last_fetched_epoch: -1 */
    "ffffffffffffffff" /* log_start_offset: -1 */
    "00100000"         /* partition_max_bytes: 1 MiB */
    "00"               /* partition tagged fields: none */
    "00"               /* topic tagged fields: none */
    "01"               /* forgotten_topics_data: compact, empty */
    "01"               /* rack_id: compact, "" */
    "01"               /* request tagged fields: 1 */
    "00 03"            /* tag 0 (ClusterId), 3 bytes */
    "03 6331";         /*   compact string "c1" */

START_TEST(test_fetch_v12_request_matches_byte_vector)
{
    struct ktx__fetch_partition part = { 0, 4, 42, -1, -1, 1048576 };
    struct ktx__fetch_topic topic = { ktx__str_c("t"), &part, 1 };
    struct ktx__fetch_req req = {
        .cluster_id = ktx__str_c("c1"),
        .replica_id = -1,
        .max_wait_ms = 500,
        .min_bytes = 1,
        .max_bytes = 0x7fffffff,
        .isolation_level = KTX__READ_COMMITTED,
        .session_id = 0,
        .session_epoch = -1,
        .topics = &topic,
        .topics_count = 1,
        .rack_id = ktx__str_c(""),
    };
    size_t len;
    uint8_t *want = ktx_test_unhex(fetch_v12_req_hex, &len);
    struct ktx__writer w;
    encode_with(&ktx__proto_codec_fetch, true, 12, &req, &w);
    assert_hex_eq(&w, want, len);

    struct ktx__fetch_req out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_fetch_req_decode(want, len, 12, &out, &arena), 0);
    assert_fetch_req_at(&out, &req, 12);
    ck_assert(ktx__str_eq_c(out.cluster_id, "c1"));
    ktx__arena_free(&arena);
    ktx__w_free(&w);
    free(want);
}
END_TEST

/* ---- ListOffsets ---- */

START_TEST(test_list_offsets_roundtrips_every_version_with_defaults_for_absent_fields)
{
    for (int16_t ver = KTX__LIST_OFFSETS_MIN_VER; ver <= KTX__LIST_OFFSETS_MAX_VER; ver++) {
        struct ktx__list_offsets_req req = full_lo_req(), req_out;
        struct ktx__list_offsets_resp resp = full_lo_resp(), resp_out;
        struct ktx__writer wq, wr;
        struct ktx__arena arena;
        encode_with(&ktx__proto_codec_list_offsets, true, ver, &req, &wq);
        encode_with(&ktx__proto_codec_list_offsets, false, ver, &resp, &wr);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_list_offsets_req_decode(wq.p, wq.len, ver, &req_out, &arena), 0);
        ck_assert_int_eq(ktx__proto_list_offsets_resp_decode(wr.p, wr.len, ver, &resp_out, &arena), 0);
        assert_lo_req_at(&req_out, &req, ver);
        assert_lo_resp_at(&resp_out, &resp, ver);
        ktx__arena_free(&arena);
        ktx__w_free(&wq);
        ktx__w_free(&wr);
    }
}
END_TEST

/* A v7 (flexible) read_committed request for the latest offset of partition 3. */
static const char list_offsets_v7_req_hex[] =
    "ffffffff"         /* replica_id: -1 (a client) */
    "01"               /* isolation_level: READ_COMMITTED */
    "02"               /* topics: compact, 1 element */
    "02 74"            /* name: "t" */
    "02"               /* partitions: compact, 1 element */
    "00000003"         /* partition_index: 3 */
    "00000005"         /* current_leader_epoch: 5 */
    "ffffffffffffffff" /* timestamp: -1 (latest) */
    "00"               /* partition tagged fields: none */
    "00"               /* topic tagged fields: none */
    "00";              /* request tagged fields: none */

/* The v1 answer: offset 42 of partition 0. */
static const char list_offsets_v1_resp_hex[] =
    "00000001"         /* topics: 1 element */
    "0001 74"          /* name: "t" */
    "00000001"         /* partitions: 1 element */
    "00000000"         /* partition_index: 0 */
    "0000"             /* error_code: NONE */
    "ffffffffffffffff" /* timestamp: -1 */
    "000000000000002a"; /* offset: 42 */

START_TEST(test_list_offsets_v7_request_and_v1_response_match_byte_vectors)
{
    struct ktx__list_offsets_partition part = { 3, 5, KTX__LIST_OFFSETS_LATEST };
    struct ktx__list_offsets_topic topic = { ktx__str_c("t"), &part, 1 };
    struct ktx__list_offsets_req req = { -1, KTX__READ_COMMITTED, &topic, 1 }, req_out;
    size_t len;
    uint8_t *want = ktx_test_unhex(list_offsets_v7_req_hex, &len);
    struct ktx__writer w;
    struct ktx__arena arena;
    encode_with(&ktx__proto_codec_list_offsets, true, 7, &req, &w);
    assert_hex_eq(&w, want, len);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_list_offsets_req_decode(want, len, 7, &req_out, &arena), 0);
    assert_lo_req_at(&req_out, &req, 7);
    ktx__w_free(&w);
    free(want);

    want = ktx_test_unhex(list_offsets_v1_resp_hex, &len);
    struct ktx__list_offsets_resp resp_out;
    ck_assert_int_eq(ktx__proto_list_offsets_resp_decode(want, len, 1, &resp_out, &arena), 0);
    ck_assert_int_eq(resp_out.throttle_time_ms, 0);
    ck_assert_int_eq(resp_out.topics_count, 1);
    ck_assert(ktx__str_eq_c(resp_out.topics[0].name, "t"));
    const struct ktx__list_offsets_partition_resp *pr = &resp_out.topics[0].partitions[0];
    ck_assert_int_eq(pr->partition_index, 0);
    ck_assert_int_eq(pr->error_code, 0);
    ck_assert_int_eq(pr->timestamp, -1);
    ck_assert_int_eq(pr->offset, 42);
    ck_assert_int_eq(pr->leader_epoch, -1);
    encode_with(&ktx__proto_codec_list_offsets, false, 1, &resp_out, &w);
    assert_hex_eq(&w, want, len);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    free(want);
}
END_TEST

/* ---- malformed input, both APIs ---- */

START_TEST(test_fetch_and_list_offsets_reject_every_prefix_and_trailing_bytes)
{
    for (int16_t ver = KTX__FETCH_MIN_VER; ver <= KTX__FETCH_MAX_VER; ver++) {
        struct ktx__fetch_req req = full_fetch_req();
        ktx_test_codec_strict(&ktx__proto_codec_fetch, true, ver, &req, "Fetch");
        struct ktx__fetch_resp resp = full_fetch_resp();
        ktx_test_codec_strict(&ktx__proto_codec_fetch, false, ver, &resp, "Fetch");
    }
    for (int16_t ver = KTX__LIST_OFFSETS_MIN_VER; ver <= KTX__LIST_OFFSETS_MAX_VER; ver++) {
        struct ktx__list_offsets_req req = full_lo_req();
        ktx_test_codec_strict(&ktx__proto_codec_list_offsets, true, ver, &req, "ListOffsets");
        struct ktx__list_offsets_resp resp = full_lo_resp();
        ktx_test_codec_strict(&ktx__proto_codec_list_offsets, false, ver, &resp, "ListOffsets");
    }
}
END_TEST

START_TEST(test_fetch_and_list_offsets_hostile_counts_fail_without_large_allocation)
{
    struct {
        const struct ktx__proto_codec *codec;
        bool is_req;
        int16_t ver;
        const char *hex;
    } cases[] = {
        /* Fetch v4 request: 0x7fffffff topics. */
        { &ktx__proto_codec_fetch, true, 4, "ffffffff 00000000 00000000 00000000 00 7fffffff 0001 74" },
        /* Fetch v7 response: one partition with 0x7fffffff aborted transactions. */
        { &ktx__proto_codec_fetch, false, 7,
          "00000000 0000 00000000 00000001 0001 74 00000001 00000000 0000 0000000000000000"
          "0000000000000000 0000000000000000 7fffffff 00000000" },
        /* Fetch v12 request: forgotten topic with a compact count of 0xfffffffe partitions. */
        { &ktx__proto_codec_fetch, true, 12,
          "ffffffff 00000000 00000000 00000000 00 00000000 ffffffff 01 02 0274 ffffffff07 00 01 00" },
        /* ListOffsets v1 request: 0x7fffffff topics. */
        { &ktx__proto_codec_list_offsets, true, 1, "ffffffff 7fffffff 0001 74" },
        /* ListOffsets v6 response: a compact count of 0x7fffffff partitions. */
        { &ktx__proto_codec_list_offsets, false, 6, "00000000 02 0274 8080808008 00 00" },
    };
    for (size_t i = 0; i < KTX__ARRAY_LEN(cases); i++) {
        size_t len;
        uint8_t *bytes = ktx_test_unhex(cases[i].hex, &len);
        struct ktx__arena arena;
        ktx__arena_init(&arena, 1 << 20);
        ck_assert_int_eq(decode_with(cases[i].codec, cases[i].is_req, cases[i].ver, bytes, len, &arena),
                         KTX_ERR_BAD_MSG);
        ck_assert_uint_le(arena.total, 4096);
        ktx__arena_free(&arena);
        free(bytes);
    }
}
END_TEST

START_TEST(test_fetch_and_list_offsets_out_of_range_versions_are_unsupported)
{
    struct {
        const struct ktx__proto_codec *codec;
        int16_t bad[4];
    } cases[] = {
        { &ktx__proto_codec_fetch, { -1, 3, 13, 17 } },
        { &ktx__proto_codec_list_offsets, { -1, 0, 9, 10 } },
    };
    struct ktx__fetch_req fetch_req = full_fetch_req();
    struct ktx__list_offsets_req lo_req = full_lo_req();
    static const uint8_t body[] = { 0 };
    for (size_t i = 0; i < 2; i++) {
        const void *req = i == 0 ? (const void *)&fetch_req : (const void *)&lo_req;
        for (size_t j = 0; j < 4; j++) {
            int16_t ver = cases[i].bad[j];
            struct ktx__writer w;
            struct ktx__arena arena;
            uint8_t out[512] = { 0 };
            ktx__w_init(&w, 64, 0);
            ktx__arena_init(&arena, 0);
            ck_assert_int_eq(cases[i].codec->req_encode(&w, ver, req), KTX_ERR_UNSUPPORTED);
            ck_assert_int_eq(cases[i].codec->resp_encode(&w, ver, out), KTX_ERR_UNSUPPORTED);
            ck_assert_uint_eq(w.len, 0);
            ck_assert_int_eq(cases[i].codec->req_decode(body, 1, ver, out, &arena), KTX_ERR_UNSUPPORTED);
            ck_assert_int_eq(cases[i].codec->resp_decode(body, 1, ver, out, &arena), KTX_ERR_UNSUPPORTED);
            ktx__arena_free(&arena);
            ktx__w_free(&w);
        }
    }
}
END_TEST

START_TEST(test_fetch_rejects_tagged_current_leader_with_wrong_size)
{
    /* The v12 vector with the CurrentLeader payload announced as 8 bytes instead of 9:
     * the struct's own tag section is then missing from the payload. */
    char *hex = strdup(fetch_v12_resp_hex);
    char *at = strstr(hex, "01 09");
    ck_assert_ptr_nonnull(at);
    at[4] = '8';
    size_t len;
    uint8_t *bytes = ktx_test_unhex(hex, &len);
    struct ktx__fetch_resp out;
    struct ktx__arena arena;
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_fetch_resp_decode(bytes, len, 12, &out, &arena), KTX_ERR_BAD_MSG);
    ktx__arena_free(&arena);
    free(bytes);
    free(hex);
}
END_TEST

START_TEST(test_fetch_and_list_offsets_codecs_are_described_by_the_erased_table)
{
    ck_assert_int_eq(ktx__proto_codec_fetch.api_key, KTX__API_FETCH);
    ck_assert_uint_eq(ktx__proto_codec_fetch.req_size, sizeof(struct ktx__fetch_req));
    ck_assert_uint_eq(ktx__proto_codec_fetch.resp_size, sizeof(struct ktx__fetch_resp));
    ck_assert_int_eq(ktx__proto_codec_list_offsets.api_key, KTX__API_LIST_OFFSETS);
    ck_assert_uint_eq(ktx__proto_codec_list_offsets.req_size, sizeof(struct ktx__list_offsets_req));
    ck_assert_uint_eq(ktx__proto_codec_list_offsets.resp_size, sizeof(struct ktx__list_offsets_resp));
}
END_TEST

START_TEST(test_fetch_and_list_offsets_version_ranges_match_the_protocol_table)
{
    const struct ktx__api_info *api = ktx__proto_api(KTX__API_FETCH);
    ck_assert_ptr_nonnull(api);
    ck_assert_int_eq(api->min_ver, KTX__FETCH_MIN_VER);
    ck_assert_int_eq(api->max_ver, KTX__FETCH_MAX_VER);
    ck_assert_int_eq(api->flex_ver, KTX__FETCH_FLEX_VER);
    api = ktx__proto_api(KTX__API_LIST_OFFSETS);
    ck_assert_ptr_nonnull(api);
    ck_assert_int_eq(api->min_ver, KTX__LIST_OFFSETS_MIN_VER);
    ck_assert_int_eq(api->max_ver, KTX__LIST_OFFSETS_MAX_VER);
    ck_assert_int_eq(api->flex_ver, KTX__LIST_OFFSETS_FLEX_VER);
    ck_assert_ptr_eq(ktx__proto_codec(KTX__API_FETCH), &ktx__proto_codec_fetch);
    ck_assert_ptr_eq(ktx__proto_codec(KTX__API_LIST_OFFSETS), &ktx__proto_codec_list_offsets);
}
END_TEST

Suite *proto_fetch_suite(void);

Suite *proto_fetch_suite(void)
{
    Suite *s = suite_create("proto_fetch");
    TCase *tc = tcase_create("fetch");
    tcase_add_test(tc, test_fetch_req_roundtrips_every_version_with_defaults_for_absent_fields);
    tcase_add_test(tc, test_fetch_resp_roundtrips_every_version_with_defaults_for_absent_fields);
    tcase_add_test(tc, test_fetch_distinguishes_null_and_empty_aborted_transactions);
    tcase_add_test(tc, test_fetch_null_records_roundtrip_as_null);
    tcase_add_test(tc, test_fetch_v4_response_with_aborted_transactions_matches_byte_vector);
    tcase_add_test(tc, test_fetch_v12_response_decodes_current_leader_and_skips_unknown_tags);
    tcase_add_test(tc, test_fetch_v12_request_matches_byte_vector);
    tcase_add_test(tc, test_fetch_rejects_tagged_current_leader_with_wrong_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("list_offsets");
    tcase_add_test(tc, test_list_offsets_roundtrips_every_version_with_defaults_for_absent_fields);
    tcase_add_test(tc, test_list_offsets_v7_request_and_v1_response_match_byte_vectors);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_fetch_and_list_offsets_reject_every_prefix_and_trailing_bytes);
    tcase_add_test(tc, test_fetch_and_list_offsets_hostile_counts_fail_without_large_allocation);
    tcase_add_test(tc, test_fetch_and_list_offsets_out_of_range_versions_are_unsupported);
    tcase_add_test(tc, test_fetch_and_list_offsets_codecs_are_described_by_the_erased_table);
    tcase_add_test(tc, test_fetch_and_list_offsets_version_ranges_match_the_protocol_table);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_fetch_suite)
