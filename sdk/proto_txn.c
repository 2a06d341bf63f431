/*
 * Codecs for the transactional APIs (see proto_txn.h for the structs and the rules every
 * function here follows). Each API is a block of: version check, one static reader and
 * writer per nested struct, the four convention functions and KTX__PROTO_CODEC_DEFINE.
 *
 * Field order and presence follow Kafka's JSON schemas for each message. None of these
 * messages defines a known tagged field, so every tagged-field section is written empty
 * and skipped when read.
 */
#include "proto_txn.h"

#include <string.h>

/* Highest version and first flexible version of each API (the lowest is 0 everywhere). */
#define INIT_PRODUCER_ID_MAX 5
#define INIT_PRODUCER_ID_FLEX 2
#define ADD_PARTITIONS_TO_TXN_MAX 3
#define ADD_PARTITIONS_TO_TXN_FLEX 3
#define ADD_OFFSETS_TO_TXN_MAX 4
#define ADD_OFFSETS_TO_TXN_FLEX 3
#define END_TXN_MAX 5
#define END_TXN_FLEX 3
#define TXN_OFFSET_COMMIT_MAX 5 /* v5 is the transactions-v2 version; same format as v4 */
#define TXN_OFFSET_COMMIT_FLEX 3
#define DESCRIBE_TRANSACTIONS_MAX 0
#define DESCRIBE_PRODUCERS_MAX 0

/*
 * Smallest possible wire size of one element of each array, used by ktx__r_array_len()
 * to reject counts that the remaining bytes cannot hold. Where the classic and compact
 * forms differ the smaller is used, so these are lower bounds in every version.
 */
#define WIRE_I32 4
#define WIRE_STR 1          /* compact empty string */
#define WIRE_NAME_ARRAY 3   /* compact string + compact array + tags */
#define WIRE_PART_ERROR 6   /* int32 partition + int16 error code */
#define WIRE_TOC_PART 14    /* int32 + int64 + classic empty string */
#define WIRE_DT_STATE 28    /* DescribeTransactions TransactionState, all empty */
#define WIRE_DP_PART 9      /* DescribeProducers PartitionResponse, all empty */
#define WIRE_DP_PRODUCER 37 /* DescribeProducers ProducerState */

static bool ver_ok(int16_t ver, int16_t max)
{
    return ver >= 0 && ver <= max;
}

/* Ends a struct: flexible versions append an empty tagged-field section. */
static void w_tags(struct ktx__writer *w, bool flex)
{
    if (flex)
        ktx__w_tags_empty(w);
}

static void r_tags(struct ktx__reader *r, bool flex)
{
    if (flex)
        ktx__r_tags_skip(r);
}

/* ======================= InitProducerId ======================= */

int ktx__proto_init_producer_id_req_encode(struct ktx__writer *w, int16_t ver,
                                           const struct ktx__init_producer_id_req *req)
{
    bool flex = ver >= INIT_PRODUCER_ID_FLEX;

    if (!ver_ok(ver, INIT_PRODUCER_ID_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_nstring(w, req->transactional_id, flex);
    ktx__w_i32(w, req->transaction_timeout_ms);
    if (ver >= 3) {
        ktx__w_i64(w, req->producer_id);
        ktx__w_i16(w, req->producer_epoch);
    }
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_init_producer_id_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                           struct ktx__init_producer_id_req *out,
                                           struct ktx__arena *arena)
{
    bool flex = ver >= INIT_PRODUCER_ID_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, INIT_PRODUCER_ID_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_nstring(&r, flex);
    out->transaction_timeout_ms = ktx__r_i32(&r);
    out->producer_id = -1;
    out->producer_epoch = -1;
    if (ver >= 3) {
        out->producer_id = ktx__r_i64(&r);
        out->producer_epoch = ktx__r_i16(&r);
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

int ktx__proto_init_producer_id_resp_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__init_producer_id_resp *resp)
{
    if (!ver_ok(ver, INIT_PRODUCER_ID_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_i16(w, resp->error_code);
    ktx__w_i64(w, resp->producer_id);
    ktx__w_i16(w, resp->producer_epoch);
    w_tags(w, ver >= INIT_PRODUCER_ID_FLEX);
    return w->err;
}

int ktx__proto_init_producer_id_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__init_producer_id_resp *out,
                                            struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, INIT_PRODUCER_ID_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->error_code = ktx__r_i16(&r);
    out->producer_id = ktx__r_i64(&r);
    out->producer_epoch = ktx__r_i16(&r);
    r_tags(&r, ver >= INIT_PRODUCER_ID_FLEX);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(init_producer_id, KTX__API_INIT_PRODUCER_ID);

/* ======================= AddPartitionsToTxn ======================= */

int ktx__proto_add_partitions_to_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                                const struct ktx__add_partitions_to_txn_req *req)
{
    bool flex = ver >= ADD_PARTITIONS_TO_TXN_FLEX;

    if (!ver_ok(ver, ADD_PARTITIONS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->transactional_id, flex);
    ktx__w_i64(w, req->producer_id);
    ktx__w_i16(w, req->producer_epoch);
    if (ktx__w_array(w, req->topics, req->topic_count, flex, false)) {
        for (int32_t i = 0; i < req->topic_count; i++) {
            const struct ktx__add_partitions_to_txn_topic *topic = &req->topics[i];
            ktx__w_string(w, topic->name, flex);
            ktx__w_i32_array(w, topic->partitions, topic->partition_count, flex, false);
            w_tags(w, flex);
        }
    }
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_add_partitions_to_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                                struct ktx__add_partitions_to_txn_req *out,
                                                struct ktx__arena *arena)
{
    bool flex = ver >= ADD_PARTITIONS_TO_TXN_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, ADD_PARTITIONS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_string(&r, flex);
    out->producer_id = ktx__r_i64(&r);
    out->producer_epoch = ktx__r_i16(&r);
    out->topics = ktx__r_array(&r, arena, flex, false, WIRE_NAME_ARRAY, sizeof(*out->topics), &out->topic_count);
    for (int32_t i = 0; i < out->topic_count; i++) {
        struct ktx__add_partitions_to_txn_topic *topic = &out->topics[i];
        topic->name = ktx__r_string(&r, flex);
        topic->partitions = ktx__r_i32_array(&r, arena, flex, false, &topic->partition_count);
        r_tags(&r, flex);
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

static void w_apt_topic_result(struct ktx__writer *w, bool flex,
                               const struct ktx__add_partitions_to_txn_topic_result *res)
{
    ktx__w_string(w, res->name, flex);
    if (ktx__w_array(w, res->results_by_partition, res->results_by_partition_count, flex, false)) {
        for (int32_t i = 0; i < res->results_by_partition_count; i++) {
            ktx__w_i32(w, res->results_by_partition[i].partition_index);
            ktx__w_i16(w, res->results_by_partition[i].partition_error_code);
            w_tags(w, flex);
        }
    }
    w_tags(w, flex);
}

static void r_apt_topic_result(struct ktx__reader *r, struct ktx__arena *arena, bool flex,
                               struct ktx__add_partitions_to_txn_topic_result *res)
{
    res->name = ktx__r_string(r, flex);
    res->results_by_partition = ktx__r_array(r, arena, flex, false, WIRE_PART_ERROR, sizeof(*res->results_by_partition), &res->results_by_partition_count);
    for (int32_t i = 0; i < res->results_by_partition_count; i++) {
        res->results_by_partition[i].partition_index = ktx__r_i32(r);
        res->results_by_partition[i].partition_error_code = ktx__r_i16(r);
        r_tags(r, flex);
    }
    r_tags(r, flex);
}

int ktx__proto_add_partitions_to_txn_resp_encode(
    struct ktx__writer *w, int16_t ver, const struct ktx__add_partitions_to_txn_resp *resp)
{
    bool flex = ver >= ADD_PARTITIONS_TO_TXN_FLEX;

    if (!ver_ok(ver, ADD_PARTITIONS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ktx__w_array(w, resp->results_by_topic, resp->results_by_topic_count, flex, false)) {
        for (int32_t i = 0; i < resp->results_by_topic_count; i++)
            w_apt_topic_result(w, flex, &resp->results_by_topic[i]);
    }
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_add_partitions_to_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                                 struct ktx__add_partitions_to_txn_resp *out,
                                                 struct ktx__arena *arena)
{
    bool flex = ver >= ADD_PARTITIONS_TO_TXN_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, ADD_PARTITIONS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->results_by_topic = ktx__r_array(&r, arena, flex, false, WIRE_NAME_ARRAY, sizeof(*out->results_by_topic), &out->results_by_topic_count);
    for (int32_t i = 0; i < out->results_by_topic_count; i++)
        r_apt_topic_result(&r, arena, flex, &out->results_by_topic[i]);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(add_partitions_to_txn, KTX__API_ADD_PARTITIONS_TO_TXN);

/* ======================= AddOffsetsToTxn ======================= */

int ktx__proto_add_offsets_to_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__add_offsets_to_txn_req *req)
{
    bool flex = ver >= ADD_OFFSETS_TO_TXN_FLEX;

    if (!ver_ok(ver, ADD_OFFSETS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->transactional_id, flex);
    ktx__w_i64(w, req->producer_id);
    ktx__w_i16(w, req->producer_epoch);
    ktx__w_string(w, req->group_id, flex);
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_add_offsets_to_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__add_offsets_to_txn_req *out,
                                             struct ktx__arena *arena)
{
    bool flex = ver >= ADD_OFFSETS_TO_TXN_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, ADD_OFFSETS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_string(&r, flex);
    out->producer_id = ktx__r_i64(&r);
    out->producer_epoch = ktx__r_i16(&r);
    out->group_id = ktx__r_string(&r, flex);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

int ktx__proto_add_offsets_to_txn_resp_encode(struct ktx__writer *w, int16_t ver,
                                              const struct ktx__add_offsets_to_txn_resp *resp)
{
    if (!ver_ok(ver, ADD_OFFSETS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_i16(w, resp->error_code);
    w_tags(w, ver >= ADD_OFFSETS_TO_TXN_FLEX);
    return w->err;
}

int ktx__proto_add_offsets_to_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                              struct ktx__add_offsets_to_txn_resp *out,
                                              struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, ADD_OFFSETS_TO_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->error_code = ktx__r_i16(&r);
    r_tags(&r, ver >= ADD_OFFSETS_TO_TXN_FLEX);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(add_offsets_to_txn, KTX__API_ADD_OFFSETS_TO_TXN);

/* ======================= EndTxn ======================= */

int ktx__proto_end_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                  const struct ktx__end_txn_req *req)
{
    bool flex = ver >= END_TXN_FLEX;

    if (!ver_ok(ver, END_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->transactional_id, flex);
    ktx__w_i64(w, req->producer_id);
    ktx__w_i16(w, req->producer_epoch);
    ktx__w_bool(w, req->committed);
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_end_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                  struct ktx__end_txn_req *out, struct ktx__arena *arena)
{
    bool flex = ver >= END_TXN_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, END_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_string(&r, flex);
    out->producer_id = ktx__r_i64(&r);
    out->producer_epoch = ktx__r_i16(&r);
    out->committed = ktx__r_bool(&r);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

int ktx__proto_end_txn_resp_encode(struct ktx__writer *w, int16_t ver,
                                   const struct ktx__end_txn_resp *resp)
{
    if (!ver_ok(ver, END_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_i16(w, resp->error_code);
    if (ver >= 5) {
        ktx__w_i64(w, resp->producer_id);
        ktx__w_i16(w, resp->producer_epoch);
    }
    w_tags(w, ver >= END_TXN_FLEX);
    return w->err;
}

int ktx__proto_end_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__end_txn_resp *out, struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, END_TXN_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->error_code = ktx__r_i16(&r);
    out->producer_id = -1;
    out->producer_epoch = -1;
    if (ver >= 5) {
        out->producer_id = ktx__r_i64(&r);
        out->producer_epoch = ktx__r_i16(&r);
    }
    r_tags(&r, ver >= END_TXN_FLEX);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(end_txn, KTX__API_END_TXN);

/* ======================= TxnOffsetCommit ======================= */

static void w_toc_req_topic(struct ktx__writer *w, int16_t ver,
                            const struct ktx__txn_offset_commit_req_topic *topic)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;

    ktx__w_string(w, topic->name, flex);
    if (!ktx__w_array(w, topic->partitions, topic->partition_count, flex, false))
        return;
    for (int32_t i = 0; i < topic->partition_count; i++) {
        const struct ktx__txn_offset_commit_req_partition *part = &topic->partitions[i];
        ktx__w_i32(w, part->partition_index);
        ktx__w_i64(w, part->committed_offset);
        if (ver >= 2)
            ktx__w_i32(w, part->committed_leader_epoch);
        ktx__w_nstring(w, part->committed_metadata, flex);
        w_tags(w, flex);
    }
    w_tags(w, flex);
}

int ktx__proto_txn_offset_commit_req_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__txn_offset_commit_req *req)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;

    if (!ver_ok(ver, TXN_OFFSET_COMMIT_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->transactional_id, flex);
    ktx__w_string(w, req->group_id, flex);
    ktx__w_i64(w, req->producer_id);
    ktx__w_i16(w, req->producer_epoch);
    if (ver >= 3) {
        ktx__w_i32(w, req->generation_id);
        ktx__w_string(w, req->member_id, flex);
        ktx__w_nstring(w, req->group_instance_id, flex);
    }
    if (ktx__w_array(w, req->topics, req->topic_count, flex, false)) {
        for (int32_t i = 0; i < req->topic_count; i++)
            w_toc_req_topic(w, ver, &req->topics[i]);
    }
    w_tags(w, flex);
    return w->err;
}

static void r_toc_req_topic(struct ktx__reader *r, struct ktx__arena *arena, int16_t ver,
                            struct ktx__txn_offset_commit_req_topic *topic)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;

    topic->name = ktx__r_string(r, flex);
    topic->partitions = ktx__r_array(r, arena, flex, false, WIRE_TOC_PART, sizeof(*topic->partitions), &topic->partition_count);
    for (int32_t i = 0; i < topic->partition_count; i++) {
        struct ktx__txn_offset_commit_req_partition *part = &topic->partitions[i];
        part->partition_index = ktx__r_i32(r);
        part->committed_offset = ktx__r_i64(r);
        part->committed_leader_epoch = ver >= 2 ? ktx__r_i32(r) : -1;
        part->committed_metadata = ktx__r_nstring(r, flex);
        r_tags(r, flex);
    }
    r_tags(r, flex);
}

int ktx__proto_txn_offset_commit_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__txn_offset_commit_req *out,
                                            struct ktx__arena *arena)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, TXN_OFFSET_COMMIT_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_string(&r, flex);
    out->group_id = ktx__r_string(&r, flex);
    out->producer_id = ktx__r_i64(&r);
    out->producer_epoch = ktx__r_i16(&r);
    out->generation_id = -1;
    out->member_id = ktx__str_c("");
    out->group_instance_id = ktx__str_c(NULL);
    if (ver >= 3) {
        out->generation_id = ktx__r_i32(&r);
        out->member_id = ktx__r_string(&r, flex);
        out->group_instance_id = ktx__r_nstring(&r, flex);
    }
    out->topics = ktx__r_array(&r, arena, flex, false, WIRE_NAME_ARRAY, sizeof(*out->topics), &out->topic_count);
    for (int32_t i = 0; i < out->topic_count; i++)
        r_toc_req_topic(&r, arena, ver, &out->topics[i]);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

int ktx__proto_txn_offset_commit_resp_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__txn_offset_commit_resp *resp)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;

    if (!ver_ok(ver, TXN_OFFSET_COMMIT_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ktx__w_array(w, resp->topics, resp->topic_count, flex, false)) {
        for (int32_t i = 0; i < resp->topic_count; i++) {
            const struct ktx__txn_offset_commit_resp_topic *topic = &resp->topics[i];
            ktx__w_string(w, topic->name, flex);
            if (!ktx__w_array(w, topic->partitions, topic->partition_count, flex, false))
                break;
            for (int32_t j = 0; j < topic->partition_count; j++) {
                ktx__w_i32(w, topic->partitions[j].partition_index);
                ktx__w_i16(w, topic->partitions[j].error_code);
                w_tags(w, flex);
            }
            w_tags(w, flex);
        }
    }
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_txn_offset_commit_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__txn_offset_commit_resp *out,
                                             struct ktx__arena *arena)
{
    bool flex = ver >= TXN_OFFSET_COMMIT_FLEX;
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, TXN_OFFSET_COMMIT_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->topics = ktx__r_array(&r, arena, flex, false, WIRE_NAME_ARRAY, sizeof(*out->topics), &out->topic_count);
    for (int32_t i = 0; i < out->topic_count; i++) {
        struct ktx__txn_offset_commit_resp_topic *topic = &out->topics[i];
        topic->name = ktx__r_string(&r, flex);
        topic->partitions = ktx__r_array(&r, arena, flex, false, WIRE_PART_ERROR, sizeof(*topic->partitions), &topic->partition_count);
        for (int32_t j = 0; j < topic->partition_count; j++) {
            topic->partitions[j].partition_index = ktx__r_i32(&r);
            topic->partitions[j].error_code = ktx__r_i16(&r);
            r_tags(&r, flex);
        }
        r_tags(&r, flex);
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(txn_offset_commit, KTX__API_TXN_OFFSET_COMMIT);

/* ======================= DescribeTransactions (always flexible) ======================= */

int ktx__proto_describe_transactions_req_encode(struct ktx__writer *w, int16_t ver,
                                                const struct ktx__describe_transactions_req *req)
{
    if (!ver_ok(ver, DESCRIBE_TRANSACTIONS_MAX))
        return KTX_ERR_UNSUPPORTED;
    if (ktx__w_array(w, req->transactional_ids, req->transactional_id_count, true, false)) {
        for (int32_t i = 0; i < req->transactional_id_count; i++)
            ktx__w_string(w, req->transactional_ids[i], true);
    }
    ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_describe_transactions_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                                struct ktx__describe_transactions_req *out,
                                                struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, DESCRIBE_TRANSACTIONS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->transactional_ids = ktx__r_array(&r, arena, true, false, WIRE_STR, sizeof(*out->transactional_ids), &out->transactional_id_count);
    for (int32_t i = 0; i < out->transactional_id_count; i++)
        out->transactional_ids[i] = ktx__r_string(&r, true);
    ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

static void w_dt_state(struct ktx__writer *w, const struct ktx__describe_transactions_state *st)
{
    ktx__w_i16(w, st->error_code);
    ktx__w_string(w, st->transactional_id, true);
    ktx__w_string(w, st->transaction_state, true);
    ktx__w_i32(w, st->transaction_timeout_ms);
    ktx__w_i64(w, st->transaction_start_time_ms);
    ktx__w_i64(w, st->producer_id);
    ktx__w_i16(w, st->producer_epoch);
    if (ktx__w_array(w, st->topics, st->topic_count, true, false)) {
        for (int32_t i = 0; i < st->topic_count; i++) {
            ktx__w_string(w, st->topics[i].topic, true);
            ktx__w_i32_array(w, st->topics[i].partitions, st->topics[i].partition_count, true, false);
            ktx__w_tags_empty(w);
        }
    }
    ktx__w_tags_empty(w);
}

static void r_dt_state(struct ktx__reader *r, struct ktx__arena *arena,
                       struct ktx__describe_transactions_state *st)
{
    st->error_code = ktx__r_i16(r);
    st->transactional_id = ktx__r_string(r, true);
    st->transaction_state = ktx__r_string(r, true);
    st->transaction_timeout_ms = ktx__r_i32(r);
    st->transaction_start_time_ms = ktx__r_i64(r);
    st->producer_id = ktx__r_i64(r);
    st->producer_epoch = ktx__r_i16(r);
    st->topics = ktx__r_array(r, arena, true, false, WIRE_NAME_ARRAY, sizeof(*st->topics), &st->topic_count);
    for (int32_t i = 0; i < st->topic_count; i++) {
        st->topics[i].topic = ktx__r_string(r, true);
        st->topics[i].partitions = ktx__r_i32_array(r, arena, true, false, &st->topics[i].partition_count);
        ktx__r_tags_skip(r);
    }
    ktx__r_tags_skip(r);
}

int ktx__proto_describe_transactions_resp_encode(
    struct ktx__writer *w, int16_t ver, const struct ktx__describe_transactions_resp *resp)
{
    if (!ver_ok(ver, DESCRIBE_TRANSACTIONS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ktx__w_array(w, resp->transaction_states, resp->transaction_state_count, true, false)) {
        for (int32_t i = 0; i < resp->transaction_state_count; i++)
            w_dt_state(w, &resp->transaction_states[i]);
    }
    ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_describe_transactions_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                                 struct ktx__describe_transactions_resp *out,
                                                 struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, DESCRIBE_TRANSACTIONS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->transaction_states = ktx__r_array(&r, arena, true, false, WIRE_DT_STATE, sizeof(*out->transaction_states), &out->transaction_state_count);
    for (int32_t i = 0; i < out->transaction_state_count; i++)
        r_dt_state(&r, arena, &out->transaction_states[i]);
    ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(describe_transactions, KTX__API_DESCRIBE_TRANSACTIONS);

/* ======================= DescribeProducers (always flexible) ======================= */

int ktx__proto_describe_producers_req_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__describe_producers_req *req)
{
    if (!ver_ok(ver, DESCRIBE_PRODUCERS_MAX))
        return KTX_ERR_UNSUPPORTED;
    if (ktx__w_array(w, req->topics, req->topic_count, true, false)) {
        for (int32_t i = 0; i < req->topic_count; i++) {
            const struct ktx__describe_producers_req_topic *topic = &req->topics[i];
            ktx__w_string(w, topic->name, true);
            ktx__w_i32_array(w, topic->partition_indexes, topic->partition_index_count, true, false);
            ktx__w_tags_empty(w);
        }
    }
    ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_describe_producers_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__describe_producers_req *out,
                                             struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, DESCRIBE_PRODUCERS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->topics = ktx__r_array(&r, arena, true, false, WIRE_NAME_ARRAY, sizeof(*out->topics), &out->topic_count);
    for (int32_t i = 0; i < out->topic_count; i++) {
        struct ktx__describe_producers_req_topic *topic = &out->topics[i];
        topic->name = ktx__r_string(&r, true);
        topic->partition_indexes = ktx__r_i32_array(&r, arena, true, false, &topic->partition_index_count);
        ktx__r_tags_skip(&r);
    }
    ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

static void w_dp_partition(struct ktx__writer *w,
                           const struct ktx__describe_producers_partition *part)
{
    ktx__w_i32(w, part->partition_index);
    ktx__w_i16(w, part->error_code);
    ktx__w_nstring(w, part->error_message, true);
    if (ktx__w_array(w, part->active_producers, part->active_producer_count, true, false)) {
        for (int32_t i = 0; i < part->active_producer_count; i++) {
            const struct ktx__describe_producers_producer_state *ps = &part->active_producers[i];
            ktx__w_i64(w, ps->producer_id);
            ktx__w_i32(w, ps->producer_epoch);
            ktx__w_i32(w, ps->last_sequence);
            ktx__w_i64(w, ps->last_timestamp);
            ktx__w_i32(w, ps->coordinator_epoch);
            ktx__w_i64(w, ps->current_txn_start_offset);
            ktx__w_tags_empty(w);
        }
    }
    ktx__w_tags_empty(w);
}

static void r_dp_partition(struct ktx__reader *r, struct ktx__arena *arena,
                           struct ktx__describe_producers_partition *part)
{
    part->partition_index = ktx__r_i32(r);
    part->error_code = ktx__r_i16(r);
    part->error_message = ktx__r_nstring(r, true);
    part->active_producers = ktx__r_array(r, arena, true, false, WIRE_DP_PRODUCER, sizeof(*part->active_producers), &part->active_producer_count);
    for (int32_t i = 0; i < part->active_producer_count; i++) {
        struct ktx__describe_producers_producer_state *ps = &part->active_producers[i];
        ps->producer_id = ktx__r_i64(r);
        ps->producer_epoch = ktx__r_i32(r);
        ps->last_sequence = ktx__r_i32(r);
        ps->last_timestamp = ktx__r_i64(r);
        ps->coordinator_epoch = ktx__r_i32(r);
        ps->current_txn_start_offset = ktx__r_i64(r);
        ktx__r_tags_skip(r);
    }
    ktx__r_tags_skip(r);
}

int ktx__proto_describe_producers_resp_encode(struct ktx__writer *w, int16_t ver,
                                              const struct ktx__describe_producers_resp *resp)
{
    if (!ver_ok(ver, DESCRIBE_PRODUCERS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ktx__w_array(w, resp->topics, resp->topic_count, true, false)) {
        for (int32_t i = 0; i < resp->topic_count; i++) {
            const struct ktx__describe_producers_resp_topic *topic = &resp->topics[i];
            ktx__w_string(w, topic->name, true);
            if (!ktx__w_array(w, topic->partitions, topic->partition_count, true, false))
                break;
            for (int32_t j = 0; j < topic->partition_count; j++)
                w_dp_partition(w, &topic->partitions[j]);
            ktx__w_tags_empty(w);
        }
    }
    ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_describe_producers_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                              struct ktx__describe_producers_resp *out,
                                              struct ktx__arena *arena)
{
    struct ktx__reader r;

    memset(out, 0, sizeof(*out));
    if (!ver_ok(ver, DESCRIBE_PRODUCERS_MAX))
        return KTX_ERR_UNSUPPORTED;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    out->topics = ktx__r_array(&r, arena, true, false, WIRE_NAME_ARRAY, sizeof(*out->topics), &out->topic_count);
    for (int32_t i = 0; i < out->topic_count; i++) {
        struct ktx__describe_producers_resp_topic *topic = &out->topics[i];
        topic->name = ktx__r_string(&r, true);
        topic->partitions = ktx__r_array(&r, arena, true, false, WIRE_DP_PART, sizeof(*topic->partitions), &topic->partition_count);
        for (int32_t j = 0; j < topic->partition_count; j++)
            r_dp_partition(&r, arena, &topic->partitions[j]);
        ktx__r_tags_skip(&r);
    }
    ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(describe_producers, KTX__API_DESCRIBE_PRODUCERS);
