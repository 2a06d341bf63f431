/*
 * Produce (API key 0) codec, versions 3 to 12. See proto_produce.h and the convention at
 * the top of proto.h. Pure: bytes in, structs out.
 */
#include "proto_produce.h"

#include <string.h>

/* Smallest wire size of one array element, used to bound hostile counts. */
#define TOPIC_MIN_WIRE 3      /* compact name + compact array + tags */
#define PARTITION_MIN_WIRE 6  /* index + compact records + tags */
#define PART_RESP_MIN_WIRE 22 /* index, error_code, base_offset, log_append_time_ms */
#define RECORD_ERROR_MIN_WIRE 6
#define NODE_MIN_WIRE 11

static bool version_ok(int16_t ver)
{
    return ver >= KTX__PRODUCE_MIN_VER && ver <= KTX__PRODUCE_MAX_VER;
}

static bool is_flex(int16_t ver)
{
    return ver >= KTX__PRODUCE_FLEX_VER;
}

/* Encoded size of a string (|nullable| or not; a null one is sized as null). */
static size_t str_size(struct ktx__str s, bool flex)
{
    size_t n = s.len < 0 ? 0 : (size_t)s.len;
    if (flex)
        return ktx__uvarint_size(s.len < 0 ? 0 : (uint32_t)s.len + 1) + n;
    return 2 + n;
}

static size_t count_size(int32_t n, bool flex)
{
    return flex ? ktx__uvarint_size(n < 0 ? 0 : (uint32_t)n + 1) : 4;
}

/* ---- request ---- */

size_t ktx__proto_produce_req_base_size(int16_t ver, struct ktx__str transactional_id, int32_t topic_count)
{
    bool flex = is_flex(ver);
    /* transactional_id, acks, timeout_ms, topic count, and the final tag section. */
    return str_size(transactional_id, flex) + 2 + 4 + count_size(topic_count, flex) + (flex ? 1 : 0);
}

size_t ktx__proto_produce_req_topic_size(int16_t ver, struct ktx__str name, int32_t partition_count)
{
    bool flex = is_flex(ver);
    return str_size(name, flex) + count_size(partition_count, flex) + (flex ? 1 : 0);
}

size_t ktx__proto_produce_req_partition_size(int16_t ver, int32_t records_len)
{
    size_t n = records_len < 0 ? 0 : (size_t)records_len;
    if (is_flex(ver))
        return 4 + ktx__uvarint_size(records_len < 0 ? 0 : (uint32_t)records_len + 1) + n + 1;
    return 4 + 4 + n;
}

size_t ktx__proto_produce_req_size(int16_t ver, const struct ktx__produce_req *req)
{
    if (!version_ok(ver))
        return 0;
    size_t size = ktx__proto_produce_req_base_size(ver, req->transactional_id, req->topic_data_count);
    for (int32_t i = 0; i < req->topic_data_count && req->topic_data != NULL; i++) {
        const struct ktx__produce_topic_data *td = &req->topic_data[i];
        size += ktx__proto_produce_req_topic_size(ver, td->name, td->partition_data_count);
        for (int32_t j = 0; j < td->partition_data_count && td->partition_data != NULL; j++)
            size += ktx__proto_produce_req_partition_size(ver, td->partition_data[j].records.len);
    }
    return size;
}

int ktx__proto_produce_req_begin(struct ktx__writer *w, int16_t ver, struct ktx__str transactional_id,
                                 int16_t acks, int32_t timeout_ms, int32_t topic_count)
{
    if (!version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = is_flex(ver);
    ktx__w_nstring(w, transactional_id, flex);
    ktx__w_i16(w, acks);
    ktx__w_i32(w, timeout_ms);
    if (topic_count < 0)
        ktx__w_fail(w);
    else
        ktx__w_array_len(w, topic_count, flex);
    return w->err;
}

void ktx__proto_produce_req_topic_begin(struct ktx__writer *w, int16_t ver, struct ktx__str name,
                                        int32_t partition_count)
{
    bool flex = is_flex(ver);
    ktx__w_string(w, name, flex);
    if (partition_count < 0)
        ktx__w_fail(w);
    else
        ktx__w_array_len(w, partition_count, flex);
}

void ktx__proto_produce_req_partition(struct ktx__writer *w, int16_t ver, int32_t index,
                                      struct ktx__bytes records)
{
    bool flex = is_flex(ver);
    ktx__w_i32(w, index);
    ktx__w_nbytes(w, records, flex);
    if (flex)
        ktx__w_tags_empty(w);
}

void ktx__proto_produce_req_topic_end(struct ktx__writer *w, int16_t ver)
{
    if (is_flex(ver))
        ktx__w_tags_empty(w);
}

int ktx__proto_produce_req_end(struct ktx__writer *w, int16_t ver)
{
    if (is_flex(ver))
        ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_produce_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__produce_req *req)
{
    if (!version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    ktx__proto_produce_req_begin(w, ver, req->transactional_id, req->acks, req->timeout_ms,
                                 req->topic_data_count);
    if (req->topic_data_count > 0 && req->topic_data == NULL)
        ktx__w_fail(w);
    for (int32_t i = 0; i < req->topic_data_count && !w->err; i++) {
        const struct ktx__produce_topic_data *td = &req->topic_data[i];
        ktx__proto_produce_req_topic_begin(w, ver, td->name, td->partition_data_count);
        if (td->partition_data_count > 0 && td->partition_data == NULL)
            ktx__w_fail(w);
        for (int32_t j = 0; j < td->partition_data_count && !w->err; j++)
            ktx__proto_produce_req_partition(w, ver, td->partition_data[j].index,
                                             td->partition_data[j].records);
        ktx__proto_produce_req_topic_end(w, ver);
    }
    return ktx__proto_produce_req_end(w, ver);
}

static void read_partition_data(struct ktx__reader *r, bool flex, struct ktx__produce_partition_data *pd)
{
    pd->index = ktx__r_i32(r);
    pd->records = ktx__r_nbytes(r, flex);
    if (flex)
        ktx__r_tags_skip(r);
}

static void read_topic_data(struct ktx__reader *r, bool flex, struct ktx__produce_topic_data *td,
                            struct ktx__arena *arena)
{
    td->name = ktx__r_string(r, flex);
    td->partition_data = ktx__r_array(r, arena, flex, false, PARTITION_MIN_WIRE, sizeof(*td->partition_data), &td->partition_data_count);
    for (int32_t i = 0; i < td->partition_data_count && !r->err; i++)
        read_partition_data(r, flex, &td->partition_data[i]);
    if (flex)
        ktx__r_tags_skip(r);
}

int ktx__proto_produce_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                  struct ktx__produce_req *out, struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = is_flex(ver);
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->transactional_id = ktx__r_nstring(&r, flex);
    out->acks = ktx__r_i16(&r);
    out->timeout_ms = ktx__r_i32(&r);
    out->topic_data = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->topic_data), &out->topic_data_count);
    for (int32_t i = 0; i < out->topic_data_count && !r.err; i++)
        read_topic_data(&r, flex, &out->topic_data[i], arena);
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

/* ---- response: encoding ---- */

static bool leader_is_default(const struct ktx__leader_id_and_epoch *leader)
{
    return leader->leader_id == -1 && leader->leader_epoch == -1;
}

static void write_partition_tags(struct ktx__writer *w, const struct ktx__produce_partition_resp *pr)
{
    if (leader_is_default(&pr->current_leader)) {
        ktx__w_tags_empty(w);
        return;
    }
    ktx__w_uvarint(w, 1); /* one tagged field */
    ktx__w_uvarint(w, 0); /* tag 0: CurrentLeader */
    ktx__w_uvarint(w, 4 + 4 + 1);
    ktx__w_i32(w, pr->current_leader.leader_id);
    ktx__w_i32(w, pr->current_leader.leader_epoch);
    ktx__w_tags_empty(w);
}

static void write_partition_resp(struct ktx__writer *w, int16_t ver, bool flex,
                                 const struct ktx__produce_partition_resp *pr)
{
    ktx__w_i32(w, pr->index);
    ktx__w_i16(w, pr->error_code);
    ktx__w_i64(w, pr->base_offset);
    ktx__w_i64(w, pr->log_append_time_ms);
    if (ver >= 5)
        ktx__w_i64(w, pr->log_start_offset);
    if (ver >= 8) {
        ktx__w_array(w, pr->record_errors, pr->record_errors_count, flex, false);
        for (int32_t i = 0; i < pr->record_errors_count && !w->err; i++) {
            ktx__w_i32(w, pr->record_errors[i].batch_index);
            ktx__w_nstring(w, pr->record_errors[i].batch_index_error_message, flex);
            if (flex)
                ktx__w_tags_empty(w);
        }
        ktx__w_nstring(w, pr->error_message, flex);
    }
    if (ver >= 10)
        write_partition_tags(w, pr);
    else if (flex)
        ktx__w_tags_empty(w);
}

static size_t node_endpoints_size(const struct ktx__produce_resp *resp)
{
    size_t size = count_size(resp->node_endpoints_count, true);
    for (int32_t i = 0; i < resp->node_endpoints_count; i++) {
        const struct ktx__node_endpoint *node = &resp->node_endpoints[i];
        size += 4 + str_size(node->host, true) + 4 + str_size(node->rack, true) + 1;
    }
    return size;
}

static void write_resp_tags(struct ktx__writer *w, const struct ktx__produce_resp *resp)
{
    if (resp->node_endpoints_count <= 0) {
        ktx__w_tags_empty(w);
        return;
    }
    if (resp->node_endpoints == NULL) {
        ktx__w_fail(w);
        return;
    }
    ktx__w_uvarint(w, 1); /* one tagged field */
    ktx__w_uvarint(w, 0); /* tag 0: NodeEndpoints */
    ktx__w_uvarint(w, (uint32_t)node_endpoints_size(resp));
    ktx__w_array_len(w, resp->node_endpoints_count, true);
    for (int32_t i = 0; i < resp->node_endpoints_count; i++) {
        const struct ktx__node_endpoint *node = &resp->node_endpoints[i];
        ktx__w_i32(w, node->node_id);
        ktx__w_string(w, node->host, true);
        ktx__w_i32(w, node->port);
        ktx__w_nstring(w, node->rack, true);
        ktx__w_tags_empty(w);
    }
}

int ktx__proto_produce_resp_encode(struct ktx__writer *w, int16_t ver, const struct ktx__produce_resp *resp)
{
    if (!version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = is_flex(ver);
    ktx__w_array(w, resp->responses, resp->responses_count, flex, false);
    for (int32_t i = 0; i < resp->responses_count && !w->err; i++) {
        const struct ktx__produce_topic_resp *tr = &resp->responses[i];
        ktx__w_string(w, tr->name, flex);
        ktx__w_array(w, tr->partition_responses, tr->partition_responses_count, flex, false);
        for (int32_t j = 0; j < tr->partition_responses_count && !w->err; j++)
            write_partition_resp(w, ver, flex, &tr->partition_responses[j]);
        if (flex)
            ktx__w_tags_empty(w);
    }
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ver >= 10)
        write_resp_tags(w, resp);
    else if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

/* ---- response: decoding ---- */

static bool partition_tag(void *ctx, uint32_t tag, struct ktx__reader *sub)
{
    struct ktx__produce_partition_resp *pr = ctx;
    if (tag != 0)
        return false;
    pr->current_leader.leader_id = ktx__r_i32(sub);
    pr->current_leader.leader_epoch = ktx__r_i32(sub);
    ktx__r_tags_skip(sub);
    return true;
}

static void read_record_errors(struct ktx__reader *r, bool flex, struct ktx__produce_partition_resp *pr,
                               struct ktx__arena *arena)
{
    pr->record_errors = ktx__r_array(r, arena, flex, false, RECORD_ERROR_MIN_WIRE, sizeof(*pr->record_errors), &pr->record_errors_count);
    for (int32_t i = 0; i < pr->record_errors_count && !r->err; i++) {
        pr->record_errors[i].batch_index = ktx__r_i32(r);
        pr->record_errors[i].batch_index_error_message = ktx__r_nstring(r, flex);
        if (flex)
            ktx__r_tags_skip(r);
    }
}

static void read_partition_resp(struct ktx__reader *r, int16_t ver, bool flex,
                                struct ktx__produce_partition_resp *pr, struct ktx__arena *arena)
{
    pr->index = ktx__r_i32(r);
    pr->error_code = ktx__r_i16(r);
    pr->base_offset = ktx__r_i64(r);
    pr->log_append_time_ms = ktx__r_i64(r);
    pr->log_start_offset = ver >= 5 ? ktx__r_i64(r) : -1;
    pr->error_message = (struct ktx__str){ NULL, -1 };
    if (ver >= 8) {
        read_record_errors(r, flex, pr, arena);
        pr->error_message = ktx__r_nstring(r, flex);
    }
    pr->current_leader = (struct ktx__leader_id_and_epoch){ -1, -1 };
    if (ver >= 10)
        ktx__r_tags(r, pr, partition_tag);
    else if (flex)
        ktx__r_tags_skip(r);
}

struct resp_tag_ctx {
    struct ktx__produce_resp *resp;
    struct ktx__arena *arena;
};

static bool resp_tag(void *ctx, uint32_t tag, struct ktx__reader *sub)
{
    struct resp_tag_ctx *c = ctx;
    struct ktx__produce_resp *resp = c->resp;
    if (tag != 0)
        return false;
    resp->node_endpoints = ktx__r_array(sub, c->arena, true, false, NODE_MIN_WIRE, sizeof(*resp->node_endpoints), &resp->node_endpoints_count);
    for (int32_t i = 0; i < resp->node_endpoints_count && !sub->err; i++) {
        struct ktx__node_endpoint *node = &resp->node_endpoints[i];
        node->node_id = ktx__r_i32(sub);
        node->host = ktx__r_string(sub, true);
        node->port = ktx__r_i32(sub);
        node->rack = ktx__r_nstring(sub, true);
        ktx__r_tags_skip(sub);
    }
    return true;
}

int ktx__proto_produce_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__produce_resp *out, struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = is_flex(ver);
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->responses = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->responses), &out->responses_count);
    for (int32_t i = 0; i < out->responses_count && !r.err; i++) {
        struct ktx__produce_topic_resp *tr = &out->responses[i];
        tr->name = ktx__r_string(&r, flex);
        tr->partition_responses = ktx__r_array(&r, arena, flex, false, PART_RESP_MIN_WIRE, sizeof(*tr->partition_responses), &tr->partition_responses_count);
        for (int32_t j = 0; j < tr->partition_responses_count && !r.err; j++)
            read_partition_resp(&r, ver, flex, &tr->partition_responses[j], arena);
        if (flex)
            ktx__r_tags_skip(&r);
    }
    out->throttle_time_ms = ktx__r_i32(&r);
    if (ver >= 10) {
        struct resp_tag_ctx ctx = { out, arena };
        ktx__r_tags(&r, &ctx, resp_tag);
    } else if (flex) {
        ktx__r_tags_skip(&r);
    }
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(produce, KTX__API_PRODUCE);
