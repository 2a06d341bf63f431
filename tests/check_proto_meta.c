/*
 * Unit tests for the ApiVersions, Metadata, FindCoordinator, SaslHandshake and
 * SaslAuthenticate codecs (sdk/proto_meta.c, sdk/proto_sasl.c).
 */
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "codec_check.h"
#include "proto_meta.h"
#include "proto_sasl.h"

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

static void assert_i32s(const int32_t *got, int32_t got_n, const int32_t *exp, int32_t exp_n)
{
    ck_assert_int_eq(got_n, exp_n);
    for (int32_t i = 0; i < exp_n; i++)
        ck_assert_int_eq(got[i], exp[i]);
}

static struct ktx__uuid uuid_of(uint8_t first)
{
    struct ktx__uuid u;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)(first + i);
    return u;
}

static void assert_uuid(struct ktx__uuid got, struct ktx__uuid exp)
{
    ck_assert_mem_eq(got.b, exp.b, 16);
}

static const struct ktx__uuid zero_uuid;

/* Encodes |msg| with |enc| at |ver| and checks the result is exactly |hex|. */
static void assert_encodes_to(int (*enc)(struct ktx__writer *, int16_t, const void *), int16_t ver,
                              const void *msg, const char *hex)
{
    struct ktx__writer w;
    size_t n = 0;
    uint8_t *exp = ktx_test_unhex(hex, &n);

    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(enc(&w, ver, msg), 0);
    ck_assert_uint_eq(w.len, n);
    if (n > 0) /* an empty body may have no buffer at all */
        ck_assert_mem_eq(w.p, exp, n);
    ktx__w_free(&w);
    free(exp);
}

/*
 * Encodes |msg| at |ver|, decodes the bytes into |out| (|arena| keeps the arrays and |w|
 * the bytes alive for the caller, who frees both), then checks that re-encoding |out|
 * gives the same bytes.
 */
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
    if (w->len > 0) /* an empty body may have no buffer at all */
        ck_assert_mem_eq(again.p, w->p, w->len);
    ktx__w_free(&again);
}

/* ---- ApiVersions fixtures ---- */

static void fill_av_req(int16_t ver, void *msg)
{
    struct ktx__api_versions_req *req = msg;
    (void)ver;
    memset(req, 0, sizeof(*req));
    req->client_software_name = ktx__str_c("kafkatx");
    req->client_software_version = ktx__str_c("0.1.0");
}

static struct ktx__api_version av_keys[] = {
    {KTX__API_PRODUCE, 3, 11},
    {KTX__API_METADATA, 0, 12},
    {KTX__API_API_VERSIONS, 0, 4},
};
static struct ktx__supported_feature av_supported[] = {
    {{"transaction.version", 19}, 0, 2},
    {{"metadata.version", 16}, 1, 21},
};
static struct ktx__finalized_feature av_finalized[] = {
    {{"transaction.version", 19}, 2, 0},
};

static void fill_av_resp(int16_t ver, void *msg)
{
    struct ktx__api_versions_resp *resp = msg;
    (void)ver;
    memset(resp, 0, sizeof(*resp));
    resp->error_code = 0;
    resp->api_keys = av_keys;
    resp->api_keys_count = 3;
    resp->throttle_time_ms = 7;
    resp->supported_features = av_supported;
    resp->supported_features_count = 2;
    resp->finalized_features_epoch = 42;
    resp->finalized_features = av_finalized;
    resp->finalized_features_count = 1;
    resp->zk_migration_ready = true;
}

START_TEST(test_api_versions_roundtrips_every_version)
{
    for (int16_t ver = 0; ver <= 4; ver++) {
        struct ktx__api_versions_req req, req_out;
        struct ktx__api_versions_resp resp, resp_out;
        struct ktx__writer w;
        struct ktx__arena arena;

        fill_av_req(ver, &req);
        roundtrip(&ktx__proto_codec_api_versions, false, ver, &req, &req_out, &w, &arena);
        assert_str(req_out.client_software_name, ver >= 3 ? "kafkatx" : "");
        assert_str(req_out.client_software_version, ver >= 3 ? "0.1.0" : "");
        ktx__w_free(&w);
        ktx__arena_free(&arena);

        fill_av_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_api_versions, true, ver, &resp, &resp_out, &w, &arena);
        ck_assert_int_eq(resp_out.error_code, 0);
        ck_assert_int_eq(resp_out.api_keys_count, 3);
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq(resp_out.api_keys[i].api_key, av_keys[i].api_key);
            ck_assert_int_eq(resp_out.api_keys[i].min_version, av_keys[i].min_version);
            ck_assert_int_eq(resp_out.api_keys[i].max_version, av_keys[i].max_version);
        }
        ck_assert_int_eq(resp_out.throttle_time_ms, ver >= 1 ? 7 : 0);
        ck_assert_int_eq(resp_out.supported_features_count, ver >= 3 ? 2 : 0);
        for (int i = 0; i < resp_out.supported_features_count; i++) {
            const struct ktx__supported_feature *f = &resp_out.supported_features[i];
            assert_same_str(f->name, av_supported[i].name);
            ck_assert_int_eq(f->min_version, av_supported[i].min_version);
            ck_assert_int_eq(f->max_version, av_supported[i].max_version);
        }
        ck_assert_int_eq(resp_out.finalized_features_epoch, ver >= 3 ? 42 : -1);
        ck_assert_int_eq(resp_out.finalized_features_count, ver >= 3 ? 1 : 0);
        if (ver >= 3) {
            assert_str(resp_out.finalized_features[0].name, "transaction.version");
            ck_assert_int_eq(resp_out.finalized_features[0].max_version_level, 2);
            ck_assert_int_eq(resp_out.finalized_features[0].min_version_level, 0);
        }
        ck_assert(resp_out.zk_migration_ready == (ver >= 3));
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
}
END_TEST

START_TEST(test_api_versions_v3_request_matches_schema_bytes)
{
    struct ktx__api_versions_req req;

    fill_av_req(3, &req);
    assert_encodes_to(ktx__proto_codec_api_versions.req_encode, 3, &req,
                      "08 6b61666b617478" /* client_software_name: compact "kafkatx" */
                      "06 302e312e30"       /* client_software_version: compact "0.1.0" */
                      "00");                /* no tagged fields */
    assert_encodes_to(ktx__proto_codec_api_versions.req_encode, 2, &req, ""); /* empty body */
}
END_TEST

START_TEST(test_api_versions_v3_response_matches_schema_bytes)
{
    struct ktx__api_version keys[] = {{KTX__API_API_VERSIONS, 0, 4}};
    struct ktx__supported_feature sup[] = {{{"transaction.version", 19}, 0, 2}};
    struct ktx__finalized_feature fin[] = {{{"transaction.version", 19}, 2, 1}};
    struct ktx__api_versions_resp resp = {0};

    resp.api_keys = keys;
    resp.api_keys_count = 1;
    resp.supported_features = sup;
    resp.supported_features_count = 1;
    resp.finalized_features_epoch = -1; /* the default: not written */
    resp.finalized_features = fin;
    resp.finalized_features_count = 1;
    assert_encodes_to(ktx__proto_codec_api_versions.resp_encode, 3, &resp,
                      "0000"        /* error_code 0 */
                      "02"          /* api_keys: compact array of 1 */
                      "0012 0000 0004 00" /* key 18, min 0, max 4, no tags */
                      "00000000"    /* throttle_time_ms 0 */
                      "02"          /* two tagged fields */
                      "00 1a"       /* tag 0 (supported_features), 26 bytes */
                      "02 14 7472616e73616374696f6e2e76657273696f6e 0000 0002 00"
                      "02 1a"       /* tag 2 (finalized_features), 26 bytes */
                      "02 14 7472616e73616374696f6e2e76657273696f6e 0002 0001 00");
    /* The same answer at v0: int32 array length and no throttle time. */
    assert_encodes_to(ktx__proto_codec_api_versions.resp_encode, 0, &resp,
                      "0000 00000001 0012 0000 0004");
}
END_TEST

START_TEST(test_api_versions_v3_rejects_v0_style_unsupported_version_body)
{
    /* error_code 35 (UNSUPPORTED_VERSION), then a v0-style int32 api_keys length of 0:
     * what librdkafka's mock answers to a v3 request. */
    static const uint8_t body[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x00};
    /* What real Kafka answers: a v0 body listing ApiVersions 0-3. */
    static const uint8_t kafka[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x01,
                                    0x00, 0x12, 0x00, 0x00, 0x00, 0x03};
    struct ktx__api_versions_resp resp;
    struct ktx__arena arena;

    ktx__arena_init(&arena, ARENA_MAX);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(body, sizeof(body), 3, &resp, &arena),
                     KTX_ERR_BAD_MSG);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(body, sizeof(body), 0, &resp, &arena), 0);
    ck_assert_int_eq(resp.error_code, KTX_ERR_UNSUPPORTED_VERSION);
    ck_assert_int_eq(resp.api_keys_count, 0);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(kafka, sizeof(kafka), 3, &resp, &arena),
                     KTX_ERR_BAD_MSG);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(kafka, sizeof(kafka), 0, &resp, &arena),
                     0);
    ck_assert_int_eq(resp.error_code, 35);
    ck_assert_int_eq(resp.api_keys_count, 1);
    ck_assert_int_eq(resp.api_keys[0].api_key, KTX__API_API_VERSIONS);
    ck_assert_int_eq(resp.api_keys[0].max_version, 3);
    ktx__arena_free(&arena);
}
END_TEST

START_TEST(test_api_versions_v3_skips_unknown_tags_and_rejects_bad_ones)
{
    struct ktx__api_versions_resp resp;
    struct ktx__arena arena;
    size_t n;
    /* No api keys, throttle 0, tags: 1 (epoch 5), 3 (zk true), 9 (unknown, 2 bytes). */
    uint8_t *ok = ktx_test_unhex("0000 01 00000000 03 01 08 0000000000000005 03 01 01 09 02 abcd",
                                 &n);
    uint8_t *unordered, *long_payload;
    size_t n2, n3;

    ktx__arena_init(&arena, ARENA_MAX);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(ok, n, 3, &resp, &arena), 0);
    ck_assert_int_eq(resp.finalized_features_epoch, 5);
    ck_assert(resp.zk_migration_ready);
    ck_assert_int_eq(resp.supported_features_count, 0);
    /* Tag 3 before tag 1. */
    unordered = ktx_test_unhex("0000 01 00000000 02 03 01 01 01 08 0000000000000005", &n2);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(unordered, n2, 3, &resp, &arena),
                     KTX_ERR_BAD_MSG);
    /* Tag 1 whose 9-byte payload holds more than its int64. */
    long_payload = ktx_test_unhex("0000 01 00000000 01 01 09 0000000000000005 00", &n3);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(long_payload, n3, 3, &resp, &arena),
                     KTX_ERR_BAD_MSG);
    ktx__arena_free(&arena);
    free(ok);
    free(unordered);
    free(long_payload);
}
END_TEST

START_TEST(test_api_versions_encode_reports_unencodable_tag_payloads)
{
    struct ktx__supported_feature bad[] = {{{NULL, -1}, 0, 1}}; /* names are not nullable */
    struct ktx__api_versions_resp resp = {0};
    struct ktx__writer w;

    resp.finalized_features_epoch = -1;
    resp.supported_features = bad;
    resp.supported_features_count = 1;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_api_versions_resp_encode(&w, 3, &resp), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
    /* v0-2 do not carry features: the same answer encodes. */
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_api_versions_resp_encode(&w, 2, &resp), 0);
    ck_assert_uint_eq(w.len, 2 + 4 + 4);
    ktx__w_free(&w);
    /* A writer ceiling below the body size fails the encoding. */
    fill_av_resp(3, &resp);
    ktx__w_init(&w, 16, 16);
    ck_assert_int_ne(ktx__proto_api_versions_resp_encode(&w, 3, &resp), 0);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_api_versions_pick_takes_highest_common_version)
{
    struct ktx__api_version keys[] = {
        {KTX__API_METADATA, 0, 9},       /* overlaps: 9 */
        {KTX__API_API_VERSIONS, 0, 3},   /* overlaps: 3 */
        {KTX__API_FETCH, 0, 3},          /* below kafkatx's minimum 4: none */
        {KTX__API_OFFSET_FETCH, 13, 15}, /* above kafkatx's maximum 9: none */
        {KTX__API_SASL_HANDSHAKE, 1, 1}, /* exactly 1 */
        {KTX__API_SASL_HANDSHAKE, 0, 0}, /* a second entry for the same key is ignored */
        {1000, 0, 5},                    /* an API kafkatx does not speak */
    };
    struct ktx__api_versions_resp resp = {0};
    int16_t versions[128];

    resp.api_keys = keys;
    resp.api_keys_count = (int32_t)KTX__ARRAY_LEN(keys);
    ck_assert_int_eq(ktx__proto_api_versions_pick(&resp, versions, KTX__ARRAY_LEN(versions)), 0);
    ck_assert_int_eq(versions[KTX__API_METADATA], 9);
    ck_assert_int_eq(versions[KTX__API_API_VERSIONS], 3);
    ck_assert_int_eq(versions[KTX__API_FETCH], -1);
    ck_assert_int_eq(versions[KTX__API_OFFSET_FETCH], -1);
    ck_assert_int_eq(versions[KTX__API_SASL_HANDSHAKE], 1);
    /* Not listed by the broker. */
    ck_assert_int_eq(versions[KTX__API_INIT_PRODUCER_ID], -1);
    ck_assert_int_eq(versions[KTX__API_PRODUCE], -1);
    /* Keys nobody speaks. */
    ck_assert_int_eq(versions[4], -1);
    ck_assert_int_eq(versions[127], -1);
}
END_TEST

START_TEST(test_api_versions_pick_reports_too_small_table)
{
    struct ktx__api_version keys[] = {{KTX__API_METADATA, 0, 12}};
    struct ktx__api_versions_resp resp = {0};
    int16_t versions[KTX__API_FIND_COORDINATOR];

    resp.api_keys = keys;
    resp.api_keys_count = 1;
    ck_assert_int_eq(ktx__proto_api_versions_pick(&resp, versions, KTX__ARRAY_LEN(versions)),
                     KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(versions[KTX__API_METADATA], 12);
    ck_assert_int_eq(versions[KTX__API_OFFSET_FETCH], -1);
}
END_TEST

START_TEST(test_api_versions_finalized_level_reads_transaction_version)
{
    struct ktx__api_versions_resp resp = {0};

    ck_assert_int_eq(ktx__proto_api_versions_finalized_level(&resp, "transaction.version"), 0);
    resp.finalized_features = av_finalized;
    resp.finalized_features_count = 1;
    ck_assert_int_eq(ktx__proto_api_versions_finalized_level(&resp, "transaction.version"), 2);
    ck_assert_int_eq(ktx__proto_api_versions_finalized_level(&resp, "metadata.version"), 0);
}
END_TEST

/* ---- Metadata fixtures ---- */

static struct ktx__metadata_req_topic md_req_topics[2];

static void fill_md_req(int16_t ver, void *msg)
{
    struct ktx__metadata_req *req = msg;
    (void)ver;
    memset(req, 0, sizeof(*req));
    md_req_topics[0].topic_id = uuid_of(0x10);
    md_req_topics[0].name = ktx__str_c("orders");
    md_req_topics[1].topic_id = uuid_of(0x80);
    md_req_topics[1].name = ktx__str_c("payments");
    req->topics = md_req_topics;
    req->topics_count = 2;
    req->allow_auto_topic_creation = false;
    req->include_cluster_authorized_operations = true;
    req->include_topic_authorized_operations = true;
}

static struct ktx__metadata_broker md_brokers[2];
static struct ktx__metadata_topic md_topics[2];
static struct ktx__metadata_partition md_parts[2];
static int32_t md_replicas[] = {1, 2, 3};
static int32_t md_isr[] = {1, 2};
static int32_t md_offline[] = {3};

static void fill_md_resp(int16_t ver, void *msg)
{
    struct ktx__metadata_resp *resp = msg;
    (void)ver;
    memset(resp, 0, sizeof(*resp));
    md_brokers[0] = (struct ktx__metadata_broker){1, ktx__str_c("b1.example"), 9092,
                                                  ktx__str_c("rack-a")};
    md_brokers[1] = (struct ktx__metadata_broker){2, ktx__str_c("b2.example"), 9093,
                                                  ktx__str_c(NULL)};
    for (int i = 0; i < 2; i++) {
        md_parts[i] = (struct ktx__metadata_partition){
            (int16_t)(i * 5), i, 1 + i, 17 + i, md_replicas, 3, md_isr, 2, md_offline, 1};
    }
    md_topics[0] = (struct ktx__metadata_topic){0, ktx__str_c("orders"), uuid_of(0x10), false,
                                                md_parts, 2, 0x1f8};
    md_topics[1] = (struct ktx__metadata_topic){3, ktx__str_c("__consumer_offsets"),
                                                uuid_of(0x40), true, NULL, 0, 0};
    resp->throttle_time_ms = 11;
    resp->brokers = md_brokers;
    resp->brokers_count = 2;
    resp->cluster_id = ktx__str_c("cluster-x");
    resp->controller_id = 2;
    resp->topics = md_topics;
    resp->topics_count = 2;
    resp->cluster_authorized_operations = 7;
}

static void check_md_req(int16_t ver, const struct ktx__metadata_req *got)
{
    ck_assert_int_eq(got->topics_count, 2);
    for (int i = 0; i < 2; i++) {
        assert_same_str(got->topics[i].name, md_req_topics[i].name);
        assert_uuid(got->topics[i].topic_id, ver >= 10 ? md_req_topics[i].topic_id : zero_uuid);
    }
    ck_assert(got->allow_auto_topic_creation == (ver < 4));
    ck_assert(got->include_cluster_authorized_operations == (ver >= 8 && ver <= 10));
    ck_assert(got->include_topic_authorized_operations == (ver >= 8));
}

static void check_md_partition(int16_t ver, const struct ktx__metadata_partition *got,
                               const struct ktx__metadata_partition *exp)
{
    ck_assert_int_eq(got->error_code, exp->error_code);
    ck_assert_int_eq(got->partition_index, exp->partition_index);
    ck_assert_int_eq(got->leader_id, exp->leader_id);
    ck_assert_int_eq(got->leader_epoch, ver >= 7 ? exp->leader_epoch : -1);
    assert_i32s(got->replica_nodes, got->replica_nodes_count, md_replicas, 3);
    assert_i32s(got->isr_nodes, got->isr_nodes_count, md_isr, 2);
    assert_i32s(got->offline_replicas, got->offline_replicas_count, md_offline, ver >= 5 ? 1 : 0);
}

static void check_md_resp(int16_t ver, const struct ktx__metadata_resp *got)
{
    ck_assert_int_eq(got->throttle_time_ms, ver >= 3 ? 11 : 0);
    ck_assert_int_eq(got->brokers_count, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(got->brokers[i].node_id, md_brokers[i].node_id);
        assert_same_str(got->brokers[i].host, md_brokers[i].host);
        ck_assert_int_eq(got->brokers[i].port, md_brokers[i].port);
        assert_same_str(got->brokers[i].rack, md_brokers[i].rack);
    }
    assert_str(got->cluster_id, ver >= 2 ? "cluster-x" : NULL);
    ck_assert_int_eq(got->controller_id, 2);
    ck_assert_int_eq(got->topics_count, 2);
    for (int i = 0; i < 2; i++) {
        const struct ktx__metadata_topic *t = &got->topics[i];
        ck_assert_int_eq(t->error_code, md_topics[i].error_code);
        assert_same_str(t->name, md_topics[i].name);
        assert_uuid(t->topic_id, ver >= 10 ? md_topics[i].topic_id : zero_uuid);
        ck_assert(t->is_internal == md_topics[i].is_internal);
        ck_assert_int_eq(t->partitions_count, md_topics[i].partitions_count);
        for (int j = 0; j < t->partitions_count; j++)
            check_md_partition(ver, &t->partitions[j], &md_topics[i].partitions[j]);
        ck_assert_int_eq(t->topic_authorized_operations,
                         ver >= 8 ? md_topics[i].topic_authorized_operations : INT32_MIN);
    }
    ck_assert_int_eq(got->cluster_authorized_operations, ver >= 8 && ver <= 10 ? 7 : INT32_MIN);
}

START_TEST(test_metadata_roundtrips_every_version)
{
    for (int16_t ver = 1; ver <= 12; ver++) {
        struct ktx__metadata_req req, req_out;
        struct ktx__metadata_resp resp, resp_out;
        struct ktx__writer w;
        struct ktx__arena arena;

        fill_md_req(ver, &req);
        roundtrip(&ktx__proto_codec_metadata, false, ver, &req, &req_out, &w, &arena);
        check_md_req(ver, &req_out);
        ktx__w_free(&w);
        ktx__arena_free(&arena);

        fill_md_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_metadata, true, ver, &resp, &resp_out, &w, &arena);
        check_md_resp(ver, &resp_out);
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
}
END_TEST

START_TEST(test_metadata_null_topics_asks_for_all_topics)
{
    for (int16_t ver = 1; ver <= 12; ver++) {
        struct ktx__metadata_req req = {0}, out;
        struct ktx__writer w;
        struct ktx__arena arena;

        req.topics_count = -1;
        req.allow_auto_topic_creation = true;
        roundtrip(&ktx__proto_codec_metadata, false, ver, &req, &out, &w, &arena);
        ck_assert_int_eq(out.topics_count, -1);
        ck_assert_ptr_null(out.topics);
        ck_assert(out.allow_auto_topic_creation);
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
}
END_TEST

START_TEST(test_metadata_topic_name_is_nullable_only_where_the_schema_allows)
{
    struct ktx__metadata_req_topic t = {uuid_of(1), {NULL, -1}};
    struct ktx__metadata_req req = {&t, 1, true, false, false};
    struct ktx__metadata_topic rt = {3, {NULL, -1}, uuid_of(1), false, NULL, 0, 0};
    struct ktx__metadata_resp resp = {0};
    struct ktx__metadata_req req_out;
    struct ktx__metadata_resp resp_out;
    struct ktx__writer w;
    struct ktx__arena arena;

    resp.topics = &rt;
    resp.topics_count = 1;
    resp.cluster_id.len = -1;
    /* Requests: nullable from v10. */
    roundtrip(&ktx__proto_codec_metadata, false, 10, &req, &req_out, &w, &arena);
    assert_str(req_out.topics[0].name, NULL);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_metadata_req_encode(&w, 9, &req), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
    /* Responses: nullable from v12. */
    roundtrip(&ktx__proto_codec_metadata, true, 12, &resp, &resp_out, &w, &arena);
    assert_str(resp_out.topics[0].name, NULL);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_metadata_resp_encode(&w, 11, &resp), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
}
END_TEST

START_TEST(test_metadata_v12_request_matches_schema_bytes)
{
    struct ktx__metadata_req_topic t = {uuid_of(1), {"t", 1}};
    struct ktx__metadata_req req = {&t, 1, false, true, true};

    assert_encodes_to(ktx__proto_codec_metadata.req_encode, 12, &req,
                      "02"                               /* topics: compact array of 1 */
                      "0102030405060708090a0b0c0d0e0f10" /* topic_id */
                      "02 74"                            /* name: compact "t" */
                      "00"                               /* topic tagged fields */
                      "00"                               /* allow_auto_topic_creation false */
                      /* include_cluster_authorized_operations: v8-10 only */
                      "01"                               /* include_topic_authorized_operations */
                      "00");                             /* tagged fields */
    req.topics_count = -1;
    assert_encodes_to(ktx__proto_codec_metadata.req_encode, 1, &req, "ffffffff"); /* null */
    assert_encodes_to(ktx__proto_codec_metadata.req_encode, 12, &req, "00 00 01 00");
}
END_TEST

START_TEST(test_metadata_v1_response_matches_schema_bytes)
{
    int32_t nodes[] = {1};
    struct ktx__metadata_broker b = {1, {"h", 1}, 9092, {NULL, -1}};
    struct ktx__metadata_partition part = {0, 0, 1, 5, nodes, 1, nodes, 1, nodes, 1};
    struct ktx__metadata_topic t = {0, {"t", 1}, uuid_of(1), false, &part, 1, 0};
    struct ktx__metadata_resp resp = {9, &b, 1, {"c", 1}, 1, &t, 1, 0};

    assert_encodes_to(ktx__proto_codec_metadata.resp_encode, 1, &resp,
                      /* throttle_time_ms: v3+ */
                      "00000001"          /* brokers: 1 */
                      "00000001 0001 68"  /* node_id 1, host "h" */
                      "00002384 ffff"     /* port 9092, rack null */
                      /* cluster_id: v2+ */
                      "00000001"          /* controller_id 1 */
                      "00000001"          /* topics: 1 */
                      "0000 0001 74 00"   /* error_code 0, name "t", is_internal false */
                      "00000001"          /* partitions: 1 */
                      "0000 00000000 00000001" /* error_code, partition_index 0, leader 1 */
                      /* leader_epoch: v7+ */
                      "00000001 00000001" /* replica_nodes [1] */
                      "00000001 00000001" /* isr_nodes [1] */
                      /* offline_replicas: v5+; authorized operations: v8+ */
                      );
}
END_TEST

/* ---- FindCoordinator fixtures ---- */

static struct ktx__str fc_keys[] = {{"txn-app", 7}, {"txn-b", 5}};

static void fill_fc_req(int16_t ver, void *msg)
{
    struct ktx__find_coordinator_req *req = msg;
    memset(req, 0, sizeof(*req));
    req->key_type = KTX__COORDINATOR_TRANSACTION;
    if (ver <= 3) {
        req->key = ktx__str_c("txn-app");
    } else {
        req->coordinator_keys = fc_keys;
        req->coordinator_keys_count = 2;
    }
}

static struct ktx__coordinator fc_coords[2];

static void fill_fc_resp(int16_t ver, void *msg)
{
    struct ktx__find_coordinator_resp *resp = msg;
    memset(resp, 0, sizeof(*resp));
    resp->throttle_time_ms = 5;
    if (ver <= 3) {
        resp->error_code = KTX_ERR_COORDINATOR_NOT_AVAILABLE;
        resp->error_message = ktx__str_c("not available");
        resp->node_id = 3;
        resp->host = ktx__str_c("b3.example");
        resp->port = 9094;
        return;
    }
    resp->error_message.len = -1;
    fc_coords[0] = (struct ktx__coordinator){fc_keys[0], 1, {"b1", 2}, 9092, 0, {NULL, -1}};
    fc_coords[1] = (struct ktx__coordinator){fc_keys[1], -1, {"", 0}, -1, 15, {"later", 5}};
    resp->coordinators = fc_coords;
    resp->coordinators_count = 2;
}

START_TEST(test_find_coordinator_roundtrips_every_version)
{
    for (int16_t ver = 1; ver <= 6; ver++) {
        struct ktx__find_coordinator_req req, req_out;
        struct ktx__find_coordinator_resp resp, resp_out;
        struct ktx__writer w;
        struct ktx__arena arena;

        fill_fc_req(ver, &req);
        roundtrip(&ktx__proto_codec_find_coordinator, false, ver, &req, &req_out, &w, &arena);
        ck_assert_int_eq(req_out.key_type, KTX__COORDINATOR_TRANSACTION);
        assert_str(req_out.key, ver <= 3 ? "txn-app" : "");
        ck_assert_int_eq(req_out.coordinator_keys_count, ver <= 3 ? 0 : 2);
        for (int i = 0; i < req_out.coordinator_keys_count; i++)
            assert_same_str(req_out.coordinator_keys[i], fc_keys[i]);
        ktx__w_free(&w);
        ktx__arena_free(&arena);

        fill_fc_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_find_coordinator, true, ver, &resp, &resp_out, &w, &arena);
        ck_assert_int_eq(resp_out.throttle_time_ms, 5);
        ck_assert_int_eq(resp_out.error_code, ver <= 3 ? 15 : 0);
        assert_str(resp_out.error_message, ver <= 3 ? "not available" : NULL);
        ck_assert_int_eq(resp_out.node_id, ver <= 3 ? 3 : 0);
        assert_str(resp_out.host, ver <= 3 ? "b3.example" : "");
        ck_assert_int_eq(resp_out.port, ver <= 3 ? 9094 : 0);
        ck_assert_int_eq(resp_out.coordinators_count, ver <= 3 ? 0 : 2);
        for (int i = 0; i < resp_out.coordinators_count; i++) {
            const struct ktx__coordinator *c = &resp_out.coordinators[i];
            assert_same_str(c->key, fc_coords[i].key);
            ck_assert_int_eq(c->node_id, fc_coords[i].node_id);
            assert_same_str(c->host, fc_coords[i].host);
            ck_assert_int_eq(c->port, fc_coords[i].port);
            ck_assert_int_eq(c->error_code, fc_coords[i].error_code);
            assert_same_str(c->error_message, fc_coords[i].error_message);
        }
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
}
END_TEST

START_TEST(test_find_coordinator_accepts_either_shape_in_every_version)
{
    struct ktx__str one[] = {{"g1", 2}};
    struct ktx__find_coordinator_req req = {{"solo", 4}, 0, NULL, 0};
    struct ktx__find_coordinator_req out;
    struct ktx__coordinator coord = {{"g1", 2}, 4, {"b4", 2}, 9095, 0, {NULL, -1}};
    struct ktx__find_coordinator_resp resp = {0}, resp_out;
    struct ktx__writer w;
    struct ktx__arena arena;

    /* A single key in v4+ travels as a one-element array. */
    roundtrip(&ktx__proto_codec_find_coordinator, false, 4, &req, &out, &w, &arena);
    ck_assert_int_eq(out.coordinator_keys_count, 1);
    assert_str(out.coordinator_keys[0], "solo");
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    /* One batched key in v1-3 travels as the single key. */
    req.coordinator_keys = one;
    req.coordinator_keys_count = 1;
    roundtrip(&ktx__proto_codec_find_coordinator, false, 2, &req, &out, &w, &arena);
    assert_str(out.key, "g1");
    ktx__w_free(&w);
    ktx__arena_free(&arena);
    /* Two keys cannot travel in v3. */
    req.coordinator_keys = fc_keys;
    req.coordinator_keys_count = 2;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__proto_find_coordinator_req_encode(&w, 3, &req), KTX_ERR_UNSUPPORTED);
    /* One coordinator answers a v3 request through the single-coordinator fields. */
    resp.coordinators = &coord;
    resp.coordinators_count = 1;
    ck_assert_int_eq(ktx__proto_find_coordinator_resp_encode(&w, 3, &resp), 0);
    ktx__arena_init(&arena, ARENA_MAX);
    ck_assert_int_eq(ktx__proto_find_coordinator_resp_decode(w.p, w.len, 3, &resp_out, &arena), 0);
    ck_assert_int_eq(resp_out.node_id, 4);
    assert_str(resp_out.host, "b4");
    ck_assert_int_eq(resp_out.port, 9095);
    assert_str(resp_out.error_message, NULL);
    ktx__w_reset(&w);
    resp.coordinators_count = 2;
    resp.coordinators = fc_coords;
    ck_assert_int_eq(ktx__proto_find_coordinator_resp_encode(&w, 1, &resp), KTX_ERR_UNSUPPORTED);
    ktx__w_free(&w);
    ktx__arena_free(&arena);
}
END_TEST

START_TEST(test_find_coordinator_v4_request_matches_schema_bytes)
{
    struct ktx__find_coordinator_req req = {{NULL, 0}, 1, fc_keys, 2};

    assert_encodes_to(ktx__proto_codec_find_coordinator.req_encode, 4, &req,
                      "01"                 /* key_type 1 (transaction) */
                      "03"                 /* coordinator_keys: compact array of 2 */
                      "08 74786e2d617070"  /* "txn-app" */
                      "06 74786e2d62"      /* "txn-b" */
                      "00");               /* tagged fields */
    req.coordinator_keys_count = 0;
    req.key = ktx__str_c("g");
    req.key_type = 0;
    assert_encodes_to(ktx__proto_codec_find_coordinator.req_encode, 1, &req,
                      "0001 67" /* key "g" */
                      "00");    /* key_type 0 (group) */
}
END_TEST

START_TEST(test_find_coordinator_v1_response_matches_schema_bytes)
{
    struct ktx__find_coordinator_resp resp = {0, 15, {NULL, -1}, -1, {"", 0}, -1, NULL, 0};

    assert_encodes_to(ktx__proto_codec_find_coordinator.resp_encode, 1, &resp,
                      "00000000" /* throttle_time_ms */
                      "000f"     /* error_code COORDINATOR_NOT_AVAILABLE */
                      "ffff"     /* error_message null */
                      "ffffffff" /* node_id -1 */
                      "0000"     /* host "" */
                      "ffffffff"); /* port -1 */
}
END_TEST

/* ---- SASL fixtures ---- */

static void fill_hs_req(int16_t ver, void *msg)
{
    struct ktx__sasl_handshake_req *req = msg;
    (void)ver;
    req->mechanism = ktx__str_c("SCRAM-SHA-256");
}

static struct ktx__str hs_mechs[] = {{"PLAIN", 5}, {"SCRAM-SHA-256", 13}};

static void fill_hs_resp(int16_t ver, void *msg)
{
    struct ktx__sasl_handshake_resp *resp = msg;
    (void)ver;
    resp->error_code = KTX_ERR_UNSUPPORTED_SASL_MECHANISM;
    resp->mechanisms = hs_mechs;
    resp->mechanisms_count = 2;
}

static const uint8_t au_client[] = {0, 'u', 's', 'e', 'r', 0, 'p', 'w'};
static const uint8_t au_server[] = "server-final";

static void fill_au_req(int16_t ver, void *msg)
{
    struct ktx__sasl_authenticate_req *req = msg;
    (void)ver;
    req->auth_bytes = (struct ktx__bytes){au_client, (int32_t)sizeof(au_client)};
}

static void fill_au_resp(int16_t ver, void *msg)
{
    struct ktx__sasl_authenticate_resp *resp = msg;
    (void)ver;
    resp->error_code = 58; /* SASL_AUTHENTICATION_FAILED */
    resp->error_message = ktx__str_c("bad password");
    resp->auth_bytes = (struct ktx__bytes){au_server, 12};
    resp->session_lifetime_ms = 3600000;
}

START_TEST(test_sasl_roundtrips_every_version)
{
    struct ktx__writer w;
    struct ktx__arena arena;

    for (int16_t ver = 0; ver <= 1; ver++) {
        struct ktx__sasl_handshake_req req, out;
        struct ktx__sasl_handshake_resp resp, resp_out;

        fill_hs_req(ver, &req);
        roundtrip(&ktx__proto_codec_sasl_handshake, false, ver, &req, &out, &w, &arena);
        assert_str(out.mechanism, "SCRAM-SHA-256");
        ktx__w_free(&w);
        ktx__arena_free(&arena);
        fill_hs_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_sasl_handshake, true, ver, &resp, &resp_out, &w, &arena);
        ck_assert_int_eq(resp_out.error_code, 33);
        ck_assert_int_eq(resp_out.mechanisms_count, 2);
        assert_str(resp_out.mechanisms[0], "PLAIN");
        assert_str(resp_out.mechanisms[1], "SCRAM-SHA-256");
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
    for (int16_t ver = 0; ver <= 2; ver++) {
        struct ktx__sasl_authenticate_req req, out;
        struct ktx__sasl_authenticate_resp resp, resp_out;

        fill_au_req(ver, &req);
        roundtrip(&ktx__proto_codec_sasl_authenticate, false, ver, &req, &out, &w, &arena);
        ck_assert(ktx__bytes_eq(out.auth_bytes, req.auth_bytes));
        ktx__w_free(&w);
        ktx__arena_free(&arena);
        fill_au_resp(ver, &resp);
        roundtrip(&ktx__proto_codec_sasl_authenticate, true, ver, &resp, &resp_out, &w, &arena);
        ck_assert_int_eq(resp_out.error_code, 58);
        assert_str(resp_out.error_message, "bad password");
        ck_assert(ktx__bytes_eq(resp_out.auth_bytes, resp.auth_bytes));
        ck_assert_int_eq(resp_out.session_lifetime_ms, ver >= 1 ? 3600000 : 0);
        ktx__w_free(&w);
        ktx__arena_free(&arena);
    }
}
END_TEST

START_TEST(test_sasl_messages_match_schema_bytes)
{
    struct ktx__sasl_handshake_req hs = {{"PLAIN", 5}};
    struct ktx__sasl_handshake_resp hs_resp = {0, hs_mechs, 2};
    struct ktx__sasl_authenticate_req au;
    struct ktx__sasl_authenticate_resp au_resp = {0, {NULL, -1}, {NULL, 0}, 3600000};

    assert_encodes_to(ktx__proto_codec_sasl_handshake.req_encode, 1, &hs,
                      "0005 504c41494e"); /* mechanism "PLAIN" */
    assert_encodes_to(ktx__proto_codec_sasl_handshake.resp_encode, 1, &hs_resp,
                      "0000"                         /* error_code */
                      "00000002"                     /* mechanisms: 2 */
                      "0005 504c41494e"              /* "PLAIN" */
                      "000d 534352414d2d5348412d323536"); /* "SCRAM-SHA-256" */
    fill_au_req(2, &au);
    assert_encodes_to(ktx__proto_codec_sasl_authenticate.req_encode, 2, &au,
                      "09 0075736572007077" /* auth_bytes: compact, 8 bytes */
                      "00");                /* tagged fields */
    assert_encodes_to(ktx__proto_codec_sasl_authenticate.req_encode, 1, &au,
                      "00000008 0075736572007077"); /* auth_bytes: int32 length */
    assert_encodes_to(ktx__proto_codec_sasl_authenticate.resp_encode, 2, &au_resp,
                      "0000"             /* error_code */
                      "00"               /* error_message null */
                      "01"               /* auth_bytes empty */
                      "000000000036ee80" /* session_lifetime_ms 3600000 */
                      "00");             /* tagged fields */
}
END_TEST

/* ---- generic robustness over every codec, version and direction ---- */

static const struct ktx_test_codec_case cases[] = {
    {"ApiVersions", &ktx__proto_codec_api_versions, 0, 4, fill_av_req, fill_av_resp},
    {"Metadata", &ktx__proto_codec_metadata, 1, 12, fill_md_req, fill_md_resp},
    {"FindCoordinator", &ktx__proto_codec_find_coordinator, 1, 6, fill_fc_req, fill_fc_resp},
    {"SaslHandshake", &ktx__proto_codec_sasl_handshake, 0, 1, fill_hs_req, fill_hs_resp},
    {"SaslAuthenticate", &ktx__proto_codec_sasl_authenticate, 0, 2, fill_au_req, fill_au_resp},
};

START_TEST(test_meta_codecs_reject_every_truncation_and_trailing_bytes)
{
    ktx_test_codec_cases_strict(cases, KTX__ARRAY_LEN(cases));
}
END_TEST

START_TEST(test_meta_codecs_refuse_versions_outside_their_range)
{
    ktx_test_codec_cases_unsupported(cases, KTX__ARRAY_LEN(cases));
}
END_TEST

START_TEST(test_meta_codecs_reject_hostile_array_counts_without_allocating)
{
    /* ApiVersions v0: 0x7fffffff api keys. */
    ktx_test_codec_hostile(&ktx__proto_codec_api_versions, false, 0,
                           "0000 7fffffff 0012 0000 0004");
    /* ApiVersions v3: compact count 2^31 - 1. */
    ktx_test_codec_hostile(&ktx__proto_codec_api_versions, false, 3,
                           "0000 8080808008 0012 0000 0004 00");
    /* ApiVersions v3: a huge tag count. */
    ktx_test_codec_hostile(&ktx__proto_codec_api_versions, false, 3,
                           "0000 01 00000000 ffffffff0f 00 00");
    /* Metadata v1: 0x7fffffff brokers; then a topic with 0x7fffffff partitions. */
    ktx_test_codec_hostile(&ktx__proto_codec_metadata, false, 1, "7fffffff 00000001");
    ktx_test_codec_hostile(&ktx__proto_codec_metadata, false, 1,
                           "00000000 00000001 00000001 0000 0001 74 00 7fffffff");
    /* Metadata v12 request: 2^31 - 1 topics. */
    ktx_test_codec_hostile(&ktx__proto_codec_metadata, true, 12, "8080808008 01 00 00");
    /* FindCoordinator v4: 2^31 - 1 keys; SaslHandshake: 0x7fffffff mechanisms. */
    ktx_test_codec_hostile(&ktx__proto_codec_find_coordinator, true, 4, "01 8080808008 00");
    ktx_test_codec_hostile(&ktx__proto_codec_sasl_handshake, false, 1, "0000 7fffffff 0001 41");
    /* A non-nullable array sent as null. */
    ktx_test_codec_hostile(&ktx__proto_codec_sasl_handshake, false, 1, "0000 ffffffff");
}
END_TEST

static Suite *proto_meta_suite(void)
{
    Suite *s = suite_create("proto_meta");
    TCase *tc = tcase_create("api_versions");

    tcase_add_test(tc, test_api_versions_roundtrips_every_version);
    tcase_add_test(tc, test_api_versions_v3_request_matches_schema_bytes);
    tcase_add_test(tc, test_api_versions_v3_response_matches_schema_bytes);
    tcase_add_test(tc, test_api_versions_v3_rejects_v0_style_unsupported_version_body);
    tcase_add_test(tc, test_api_versions_v3_skips_unknown_tags_and_rejects_bad_ones);
    tcase_add_test(tc, test_api_versions_encode_reports_unencodable_tag_payloads);
    tcase_add_test(tc, test_api_versions_pick_takes_highest_common_version);
    tcase_add_test(tc, test_api_versions_pick_reports_too_small_table);
    tcase_add_test(tc, test_api_versions_finalized_level_reads_transaction_version);
    suite_add_tcase(s, tc);

    tc = tcase_create("metadata");
    tcase_add_test(tc, test_metadata_roundtrips_every_version);
    tcase_add_test(tc, test_metadata_null_topics_asks_for_all_topics);
    tcase_add_test(tc, test_metadata_topic_name_is_nullable_only_where_the_schema_allows);
    tcase_add_test(tc, test_metadata_v12_request_matches_schema_bytes);
    tcase_add_test(tc, test_metadata_v1_response_matches_schema_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("find_coordinator");
    tcase_add_test(tc, test_find_coordinator_roundtrips_every_version);
    tcase_add_test(tc, test_find_coordinator_accepts_either_shape_in_every_version);
    tcase_add_test(tc, test_find_coordinator_v4_request_matches_schema_bytes);
    tcase_add_test(tc, test_find_coordinator_v1_response_matches_schema_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("sasl");
    tcase_add_test(tc, test_sasl_roundtrips_every_version);
    tcase_add_test(tc, test_sasl_messages_match_schema_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_meta_codecs_reject_every_truncation_and_trailing_bytes);
    tcase_add_test(tc, test_meta_codecs_refuse_versions_outside_their_range);
    tcase_add_test(tc, test_meta_codecs_reject_hostile_array_counts_without_allocating);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(proto_meta_suite)
