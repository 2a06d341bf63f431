/*
 * Unit tests for the OffsetFetch and OffsetCommit codecs (sdk/proto_group.c).
 */
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "codec_check.h"
#include "proto_group.h"

/* ---- helpers ---- */

#define ARENA_MAX (1u << 20)

static void assert_str(struct ktx__str got, const char *exp)
{
    if (exp == NULL)
        ck_assert_msg(got.len == -1, "expected a null string, got length %d", (int)got.len);
    else
        ck_assert_msg(ktx__str_eq_c(got, exp), "expected \"%s\", got \"%.*s\" (%d)", exp,
                      got.len > 0 ? (int)got.len : 0, got.ptr ? got.ptr : "", (int)got.len);
}

static void assert_same_str(struct ktx__str got, struct ktx__str exp)
{
    ck_assert_msg(ktx__str_eq(got, exp), "expected \"%.*s\" (%d), got \"%.*s\" (%d)",
                  exp.len > 0 ? (int)exp.len : 0, exp.ptr ? exp.ptr : "", (int)exp.len,
                  got.len > 0 ? (int)got.len : 0, got.ptr ? got.ptr : "", (int)got.len);
}

static void assert_encodes_to(int (*enc)(struct ktx__writer *, int16_t, const void *), int16_t ver,
                              const void *msg, const char *hex)
{
    struct ktx__writer w;
    size_t n = 0;
    uint8_t *exp = ktx_test_unhex(hex, &n);

    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(enc(&w, ver, msg), 0);
    ck_assert_uint_eq(w.len, n);
    if (n > 0)
        ck_assert_mem_eq(w.p, exp, n);
    ktx__w_free(&w);
    free(exp);
}

/* Encodes |msg| at |ver| and decodes it into |out|; |w| and |arena| stay alive for the
 * caller, who frees both. Re-encoding |out| must give the same bytes. */
static void roundtrip(const struct ktx__proto_codec *c, bool resp, int16_t ver, const void *msg,
                      void *out, struct ktx__writer *w, struct ktx__arena *arena)
{
    struct ktx__writer again;
    int (*enc)(struct ktx__writer *, int16_t, const void *) = resp ? c->resp_encode : c->req_encode;
    int (*dec)(const uint8_t *, size_t, int16_t, void *, struct ktx__arena *) =
        resp ? c->resp_decode : c->req_decode;

    ktx__w_init(w, 64, 0);
    ktx__arena_init(arena, ARENA_MAX);
    ck_assert_msg(enc(w, ver, msg) == 0, "encode v%d failed", ver);
    ck_assert_msg(dec(w->p, w->len, ver, out, arena) == 0, "decode v%d failed", ver);
    ktx__w_init(&again, 64, 0);
    ck_assert_int_eq(enc(&again, ver, out), 0);
    ck_assert_uint_eq(again.len, w->len);
    if (w->len > 0)
        ck_assert_mem_eq(again.p, w->p, w->len);
    ktx__w_free(&again);
}

static void free_rt(struct ktx__writer *w, struct ktx__arena *arena)
{
    ktx__w_free(w);
    ktx__arena_free(arena);
}

/* ---- OffsetFetch fixtures ---- */

static int32_t of_pidx[] = {0, 1, 2};
static struct ktx__offset_fetch_req_topic of_req_topics[] = {
    {{"orders", 6}, of_pidx, 3},
    {{"payments", 8}, NULL, 0},
};
static struct ktx__offset_fetch_req_group of_req_groups[] = {
    {{"app-group", 9}, {"m-1", 3}, 5, of_req_topics, 2},
    {{"other", 5}, {NULL, -1}, -1, NULL, -1},
};

static void fill_of_req(int16_t ver, void *msg)
{
    struct ktx__offset_fetch_req *req = msg;
    memset(req, 0, sizeof(*req));
    if (ver <= 7) {
        req->group_id = ktx__str_c("app-group");
        req->topics = of_req_topics;
        req->topics_count = 2;
    } else {
        req->groups = of_req_groups;
        req->groups_count = 2;
    }
    req->require_stable = true;
}

static void check_of_req_topics(const struct ktx__offset_fetch_req_topic *got, int32_t n)
{
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < 2; i++) {
        assert_same_str(got[i].name, of_req_topics[i].name);
        ck_assert_int_eq(got[i].partition_indexes_count, of_req_topics[i].partition_indexes_count);
        for (int j = 0; j < got[i].partition_indexes_count; j++)
            ck_assert_int_eq(got[i].partition_indexes[j], of_pidx[j]);
    }
}

static void check_of_req(int16_t ver, const struct ktx__offset_fetch_req *got)
{
    ck_assert(got->require_stable == (ver >= 7));
    if (ver <= 7) {
        assert_str(got->group_id, "app-group");
        check_of_req_topics(got->topics, got->topics_count);
        ck_assert_int_eq(got->groups_count, 0);
        return;
    }
    assert_str(got->group_id, "");
    ck_assert_int_eq(got->topics_count, 0);
    ck_assert_int_eq(got->groups_count, 2);
    assert_str(got->groups[0].group_id, "app-group");
    assert_str(got->groups[0].member_id, ver >= 9 ? "m-1" : NULL);
    ck_assert_int_eq(got->groups[0].member_epoch, ver >= 9 ? 5 : -1);
    check_of_req_topics(got->groups[0].topics, got->groups[0].topics_count);
    assert_str(got->groups[1].group_id, "other");
    assert_str(got->groups[1].member_id, NULL);
    ck_assert_int_eq(got->groups[1].member_epoch, -1);
    ck_assert_int_eq(got->groups[1].topics_count, -1);
    ck_assert_ptr_null(got->groups[1].topics);
}

static struct ktx__offset_fetch_resp_partition of_parts[] = {
    {0, 100, 4, {"meta", 4}, 0},
    {1, -1, -1, {NULL, -1}, KTX_ERR_UNSTABLE_OFFSET_COMMIT},
};
static struct ktx__offset_fetch_resp_topic of_resp_topics[] = {
    {{"orders", 6}, of_parts, 2},
    {{"payments", 8}, NULL, 0},
};
static struct ktx__offset_fetch_resp_group of_resp_groups[] = {
    {{"app-group", 9}, of_resp_topics, 2, 0},
    {{"other", 5}, NULL, 0, KTX_ERR_NOT_COORDINATOR},
};

static void fill_of_resp(int16_t ver, void *msg)
{
    struct ktx__offset_fetch_resp *resp = msg;
    memset(resp, 0, sizeof(*resp));
    resp->throttle_time_ms = 9;
    if (ver <= 7) {
        resp->topics = of_resp_topics;
        resp->topics_count = 2;
        resp->error_code = KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS;
    } else {
        resp->groups = of_resp_groups;
        resp->groups_count = 2;
    }
}

static void check_of_resp_topics(int16_t ver, const struct ktx__offset_fetch_resp_topic *got,
                                 int32_t n)
{
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < 2; i++) {
        assert_same_str(got[i].name, of_resp_topics[i].name);
        ck_assert_int_eq(got[i].partitions_count, of_resp_topics[i].partitions_count);
        for (int j = 0; j < got[i].partitions_count; j++) {
            const struct ktx__offset_fetch_resp_partition *part = &got[i].partitions[j];
            ck_assert_int_eq(part->partition_index, of_parts[j].partition_index);
            ck_assert_int_eq(part->committed_offset, of_parts[j].committed_offset);
            ck_assert_int_eq(part->committed_leader_epoch,
                             ver >= 5 ? of_parts[j].committed_leader_epoch : -1);
            assert_same_str(part->metadata, of_parts[j].metadata);
            ck_assert_int_eq(part->error_code, of_parts[j].error_code);
        }
    }
}

static void check_of_resp(int16_t ver, const struct ktx__offset_fetch_resp *got)
{
    ck_assert_int_eq(got->throttle_time_ms, ver >= 3 ? 9 : 0);
    if (ver <= 7) {
        check_of_resp_topics(ver, got->topics, got->topics_count);
        ck_assert_int_eq(got->error_code, ver >= 2 ? 14 : 0);
        ck_assert_int_eq(got->groups_count, 0);
        return;
    }
    ck_assert_int_eq(got->topics_count, 0);
    ck_assert_int_eq(got->error_code, 0);
    ck_assert_int_eq(got->groups_count, 2);
    assert_str(got->groups[0].group_id, "app-group");
    check_of_resp_topics(ver, got->groups[0].topics, got->groups[0].topics_count);
    ck_assert_int_eq(got->groups[0].error_code, 0);
    assert_str(got->groups[1].group_id, "other");
    ck_assert_int_eq(got->groups[1].topics_count, 0);
    ck_assert_int_eq(got->groups[1].error_code, 16);
}

START_TEST(test_offset_fetch_roundtrips_every_version)
{
    for (int16_t ver = 1; ver <= 9; ver++) {
        struct ktx__offset_fetch_req req, req_out;
        struct ktx__offset_fetch_resp resp, resp_out;
        struct ktx__writer w;
        struct ktx__arena arena;

        fill_of_req(ver, &req);
        roundtrip(&ktx__proto_codec_offset_fetch, false, ver, &req, &req_out, &w, &arena);
        check_of_req(ver, &req_out);
        free_rt(&w, &arena);
        fill_of_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_offset_fetch, true, ver, &resp, &resp_out, &w, &arena);
        check_of_resp(ver, &resp_out);
        free_rt(&w, &arena);
    }
}
END_TEST

START_TEST(test_offset_fetch_null_topics_means_all_topics_from_v2)
{
    struct ktx__offset_fetch_req req = {{"g", 1}, NULL, -1, NULL, 0, false};
    struct ktx__offset_fetch_req out;
    struct ktx__writer w;
    struct ktx__arena arena;

    for (int16_t ver = 2; ver <= 9; ver++) {
        roundtrip(&ktx__proto_codec_offset_fetch, false, ver, &req, &out, &w, &arena);
        if (ver <= 7) {
            ck_assert_int_eq(out.topics_count, -1);
        } else {
            ck_assert_int_eq(out.groups_count, 1);
            ck_assert_int_eq(out.groups[0].topics_count, -1);
        }
        free_rt(&w, &arena);
    }
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_offset_fetch_req_encode(&w, 1, &req), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_offset_fetch_accepts_either_shape_in_every_version)
{
    struct ktx__offset_fetch_req req = {{"solo", 4}, of_req_topics, 2, NULL, 0, true};
    struct ktx__offset_fetch_req out;
    struct ktx__offset_fetch_resp resp = {0}, resp_out;
    struct ktx__writer w;
    struct ktx__arena arena;

    /* The single-group shape in v8 and v9 travels as a one-element groups array. */
    for (int16_t ver = 8; ver <= 9; ver++) {
        roundtrip(&ktx__proto_codec_offset_fetch, false, ver, &req, &out, &w, &arena);
        ck_assert_int_eq(out.groups_count, 1);
        assert_str(out.groups[0].group_id, "solo");
        assert_str(out.groups[0].member_id, NULL);
        ck_assert_int_eq(out.groups[0].member_epoch, -1);
        check_of_req_topics(out.groups[0].topics, out.groups[0].topics_count);
        free_rt(&w, &arena);
    }
    /* One group in v3 travels as the single group. */
    req.groups = of_req_groups;
    req.groups_count = 1;
    roundtrip(&ktx__proto_codec_offset_fetch, false, 3, &req, &out, &w, &arena);
    assert_str(out.group_id, "app-group");
    check_of_req_topics(out.topics, out.topics_count);
    free_rt(&w, &arena);
    /* Two groups cannot travel before v8, in a request or in a response. */
    req.groups_count = 2;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_offset_fetch_req_encode(&w, 7, &req), KTX_ERR_UNSUPPORTED);
    resp.groups = of_resp_groups;
    resp.groups_count = 2;
    ck_assert_int_eq(ktx__proto_offset_fetch_resp_encode(&w, 7, &resp), KTX_ERR_UNSUPPORTED);
    ktx__w_free(&w);
    /* One group answers a v6 request through the top-level fields. */
    resp.groups = &of_resp_groups[1];
    resp.groups_count = 1;
    roundtrip(&ktx__proto_codec_offset_fetch, true, 6, &resp, &resp_out, &w, &arena);
    ck_assert_int_eq(resp_out.error_code, KTX_ERR_NOT_COORDINATOR);
    ck_assert_int_eq(resp_out.topics_count, 0);
    free_rt(&w, &arena);
}
END_TEST

START_TEST(test_offset_fetch_requests_match_schema_bytes)
{
    int32_t p0[] = {0, 1};
    struct ktx__offset_fetch_req_topic t = {{"t", 1}, p0, 2};
    struct ktx__offset_fetch_req req = {{"g", 1}, &t, 1, NULL, 0, true};
    struct ktx__offset_fetch_req_group g = {{"g", 1}, {"m", 1}, 3, NULL, -1};
    struct ktx__offset_fetch_req batched = {{NULL, 0}, NULL, 0, &g, 1, false};

    assert_encodes_to(ktx__proto_codec_offset_fetch.req_encode, 1, &req,
                      "0001 67"           /* group_id "g" */
                      "00000001"          /* topics: 1 */
                      "0001 74"           /* name "t" */
                      "00000002 00000000 00000001"); /* partition_indexes [0, 1] */
    /* require_stable is v7+ only */
    t.partition_indexes_count = 1;
    assert_encodes_to(ktx__proto_codec_offset_fetch.req_encode, 8, &req,
                      "02"          /* groups: compact array of 1 */
                      "02 67"       /* group_id "g" */
                      "02"          /* topics: compact array of 1 */
                      "02 74"       /* name "t" */
                      "02 00000000" /* partition_indexes [0] */
                      "00"          /* topic tagged fields */
                      "00"          /* group tagged fields */
                      "01"          /* require_stable */
                      "00");        /* tagged fields */
    assert_encodes_to(ktx__proto_codec_offset_fetch.req_encode, 9, &batched,
                      "02"       /* groups: 1 */
                      "02 67"    /* group_id "g" */
                      "02 6d"    /* member_id "m" */
                      "00000003" /* member_epoch 3 */
                      "00"       /* topics: null (all) */
                      "00"       /* group tagged fields */
                      "00"       /* require_stable false */
                      "00");     /* tagged fields */
}
END_TEST

START_TEST(test_offset_fetch_v7_response_matches_schema_bytes)
{
    struct ktx__offset_fetch_resp_partition part = {0, 100, 4, {NULL, -1}, 0};
    struct ktx__offset_fetch_resp_topic t = {{"t", 1}, &part, 1};
    struct ktx__offset_fetch_resp resp = {0, &t, 1, 0, NULL, 0};

    assert_encodes_to(ktx__proto_codec_offset_fetch.resp_encode, 7, &resp,
                      "00000000"         /* throttle_time_ms */
                      "02"               /* topics: compact array of 1 */
                      "02 74"            /* name "t" */
                      "02"               /* partitions: 1 */
                      "00000000"         /* partition_index 0 */
                      "0000000000000064" /* committed_offset 100 */
                      "00000004"         /* committed_leader_epoch 4 */
                      "00"               /* metadata null */
                      "0000"             /* error_code */
                      "00"               /* partition tagged fields */
                      "00"               /* topic tagged fields */
                      "0000"             /* error_code */
                      "00");             /* tagged fields */
}
END_TEST

/* ---- OffsetCommit fixtures ---- */

static struct ktx__offset_commit_req_partition oc_parts[] = {
    {0, 100, 4, {"m", 1}},
    {1, 200, 5, {NULL, -1}},
};
static struct ktx__offset_commit_req_topic oc_topics[] = {
    {{"orders", 6}, oc_parts, 2},
    {{"payments", 8}, NULL, 0},
};

static void fill_oc_req(int16_t ver, void *msg)
{
    struct ktx__offset_commit_req *req = msg;
    (void)ver;
    memset(req, 0, sizeof(*req));
    req->group_id = ktx__str_c("app-group");
    req->generation_id_or_member_epoch = 7;
    req->member_id = ktx__str_c("member-1");
    req->group_instance_id = ktx__str_c("inst-1");
    req->retention_time_ms = 86400000;
    req->topics = oc_topics;
    req->topics_count = 2;
}

static struct ktx__offset_commit_resp_partition oc_resp_parts[] = {{0, 0}, {1, 22}};
static struct ktx__offset_commit_resp_topic oc_resp_topics[] = {
    {{"orders", 6}, oc_resp_parts, 2},
    {{"payments", 8}, NULL, 0},
};

static void fill_oc_resp(int16_t ver, void *msg)
{
    struct ktx__offset_commit_resp *resp = msg;
    (void)ver;
    resp->throttle_time_ms = 3;
    resp->topics = oc_resp_topics;
    resp->topics_count = 2;
}

static void check_oc_req(int16_t ver, const struct ktx__offset_commit_req *got)
{
    assert_str(got->group_id, "app-group");
    ck_assert_int_eq(got->generation_id_or_member_epoch, 7);
    assert_str(got->member_id, "member-1");
    assert_str(got->group_instance_id, ver >= 7 ? "inst-1" : NULL);
    ck_assert_int_eq(got->retention_time_ms, ver <= 4 ? 86400000 : -1);
    ck_assert_int_eq(got->topics_count, 2);
    for (int i = 0; i < 2; i++) {
        assert_same_str(got->topics[i].name, oc_topics[i].name);
        ck_assert_int_eq(got->topics[i].partitions_count, oc_topics[i].partitions_count);
        for (int j = 0; j < got->topics[i].partitions_count; j++) {
            const struct ktx__offset_commit_req_partition *part = &got->topics[i].partitions[j];
            ck_assert_int_eq(part->partition_index, oc_parts[j].partition_index);
            ck_assert_int_eq(part->committed_offset, oc_parts[j].committed_offset);
            ck_assert_int_eq(part->committed_leader_epoch,
                             ver >= 6 ? oc_parts[j].committed_leader_epoch : -1);
            assert_same_str(part->committed_metadata, oc_parts[j].committed_metadata);
        }
    }
}

static void check_oc_resp(int16_t ver, const struct ktx__offset_commit_resp *got)
{
    ck_assert_int_eq(got->throttle_time_ms, ver >= 3 ? 3 : 0);
    ck_assert_int_eq(got->topics_count, 2);
    for (int i = 0; i < 2; i++) {
        assert_same_str(got->topics[i].name, oc_resp_topics[i].name);
        ck_assert_int_eq(got->topics[i].partitions_count, oc_resp_topics[i].partitions_count);
        for (int j = 0; j < got->topics[i].partitions_count; j++) {
            ck_assert_int_eq(got->topics[i].partitions[j].partition_index, j);
            ck_assert_int_eq(got->topics[i].partitions[j].error_code, oc_resp_parts[j].error_code);
        }
    }
}

START_TEST(test_offset_commit_roundtrips_every_version)
{
    for (int16_t ver = 2; ver <= 9; ver++) {
        struct ktx__offset_commit_req req, req_out;
        struct ktx__offset_commit_resp resp, resp_out;
        struct ktx__writer w;
        struct ktx__arena arena;

        fill_oc_req(ver, &req);
        roundtrip(&ktx__proto_codec_offset_commit, false, ver, &req, &req_out, &w, &arena);
        check_oc_req(ver, &req_out);
        free_rt(&w, &arena);
        fill_oc_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_offset_commit, true, ver, &resp, &resp_out, &w, &arena);
        check_oc_resp(ver, &resp_out);
        free_rt(&w, &arena);
    }
}
END_TEST

START_TEST(test_offset_commit_messages_match_schema_bytes)
{
    struct ktx__offset_commit_req_partition part = {0, 10, 2, {"", 0}};
    struct ktx__offset_commit_req_topic t = {{"t", 1}, &part, 1};
    struct ktx__offset_commit_req req = {{"g", 1}, 1, {"m", 1}, {NULL, -1}, -1, &t, 1};
    struct ktx__offset_commit_resp_partition rp = {0, 0};
    struct ktx__offset_commit_resp_topic rt = {{"t", 1}, &rp, 1};
    struct ktx__offset_commit_resp resp = {0, &rt, 1};

    assert_encodes_to(ktx__proto_codec_offset_commit.req_encode, 2, &req,
                      "0001 67"          /* group_id "g" */
                      "00000001"         /* generation_id_or_member_epoch 1 */
                      "0001 6d"          /* member_id "m" */
                      "ffffffffffffffff" /* retention_time_ms -1 (v2-4) */
                      "00000001"         /* topics: 1 */
                      "0001 74"          /* name "t" */
                      "00000001"         /* partitions: 1 */
                      "00000000"         /* partition_index 0 */
                      "000000000000000a" /* committed_offset 10 */
                      "0000");           /* committed_metadata "" */
    assert_encodes_to(ktx__proto_codec_offset_commit.req_encode, 9, &req,
                      "02 67"            /* group_id "g" */
                      "00000001"         /* generation_id_or_member_epoch 1 */
                      "02 6d"            /* member_id "m" */
                      "00"               /* group_instance_id null (v7+) */
                      "02"               /* topics: compact array of 1 */
                      "02 74"            /* name "t" */
                      "02"               /* partitions: 1 */
                      "00000000"         /* partition_index 0 */
                      "000000000000000a" /* committed_offset 10 */
                      "00000002"         /* committed_leader_epoch 2 (v6+) */
                      "01"               /* committed_metadata "" */
                      "00 00 00");       /* partition, topic and message tagged fields */
    assert_encodes_to(ktx__proto_codec_offset_commit.resp_encode, 8, &resp,
                      "00000000"      /* throttle_time_ms */
                      "02 02 74"      /* topics: 1, name "t" */
                      "02 00000000 0000 00" /* partitions: 1, index 0, error 0, tags */
                      "00 00");       /* topic and message tagged fields */
}
END_TEST

/* ---- generic robustness over every version and direction ---- */

static const struct ktx_test_codec_case cases[] = {
    {"OffsetFetch", &ktx__proto_codec_offset_fetch, 1, 9, fill_of_req, fill_of_resp},
    {"OffsetCommit", &ktx__proto_codec_offset_commit, 2, 9, fill_oc_req, fill_oc_resp},
};

START_TEST(test_group_codecs_reject_every_truncation_and_trailing_bytes)
{
    ktx_test_codec_cases_strict(cases, KTX__ARRAY_LEN(cases));
}
END_TEST

START_TEST(test_group_codecs_refuse_versions_outside_their_range)
{
    ktx_test_codec_cases_unsupported(cases, KTX__ARRAY_LEN(cases));
}
END_TEST

START_TEST(test_group_codecs_reject_hostile_array_counts_without_allocating)
{
    const struct ktx__proto_codec *of = &ktx__proto_codec_offset_fetch;
    const struct ktx__proto_codec *oc = &ktx__proto_codec_offset_commit;

    /* OffsetFetch v1: 0x7fffffff topics; a topic with 0x7fffffff partition indexes. */
    ktx_test_codec_hostile(of, true, 1, "0001 67 7fffffff 0001 74");
    ktx_test_codec_hostile(of, true, 1, "0001 67 00000001 0001 74 7fffffff 00000000");
    /* OffsetFetch v8: 2^31 - 1 groups; v1 topics sent as null (not nullable in v1). */
    ktx_test_codec_hostile(of, true, 8, "8080808008 02 67 00 00 00 00");
    ktx_test_codec_hostile(of, true, 1, "0001 67 ffffffff");
    /* OffsetFetch responses: v1 0x7fffffff topics, v8 2^31 - 1 groups. */
    ktx_test_codec_hostile(of, false, 1, "7fffffff 0001 74");
    ktx_test_codec_hostile(of, false, 8, "00000000 8080808008 02 67 01 0000 00 00");
    /* OffsetCommit v2: 0x7fffffff topics, then 0x7fffffff partitions. */
    ktx_test_codec_hostile(oc, true, 2,
                           "0001 67 00000001 0001 6d ffffffffffffffff 7fffffff 0001 74");
    ktx_test_codec_hostile(oc, true, 2,
                           "0001 67 00000001 0001 6d ffffffffffffffff 00000001 0001 74 7fffffff 00000000");
    ktx_test_codec_hostile(oc, false, 3, "00000000 00000001 0001 74 7fffffff 00000000 0000");
}
END_TEST

static Suite *proto_group_suite(void)
{
    Suite *s = suite_create("proto_group");
    TCase *tc = tcase_create("offset_fetch");

    tcase_add_test(tc, test_offset_fetch_roundtrips_every_version);
    tcase_add_test(tc, test_offset_fetch_null_topics_means_all_topics_from_v2);
    tcase_add_test(tc, test_offset_fetch_accepts_either_shape_in_every_version);
    tcase_add_test(tc, test_offset_fetch_requests_match_schema_bytes);
    tcase_add_test(tc, test_offset_fetch_v7_response_matches_schema_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("offset_commit");
    tcase_add_test(tc, test_offset_commit_roundtrips_every_version);
    tcase_add_test(tc, test_offset_commit_messages_match_schema_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_codecs_reject_every_truncation_and_trailing_bytes);
    tcase_add_test(tc, test_group_codecs_refuse_versions_outside_their_range);
    tcase_add_test(tc, test_group_codecs_reject_hostile_array_counts_without_allocating);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_group_suite)
