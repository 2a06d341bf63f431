/*
 * Fetch (API key 1, versions 4 to 12) and ListOffsets (API key 2, versions 1 to 8)
 * codecs. See proto_fetch.h and the convention at the top of proto.h. Pure: bytes in,
 * structs out.
 */
#include "proto_fetch.h"

#include <string.h>

/* Smallest wire size of one array element, used to bound hostile counts. */
#define TOPIC_MIN_WIRE 3            /* compact name + compact array + tags */
#define FETCH_PARTITION_MIN_WIRE 16 /* partition, fetch_offset, partition_max_bytes */
#define FETCH_PART_RESP_MIN_WIRE 22 /* index, error_code, high_watermark, last_stable_offset */
#define ABORTED_TXN_MIN_WIRE 16
#define INT32_WIRE 4
#define LO_PARTITION_MIN_WIRE 12      /* partition_index, timestamp */
#define LO_PART_RESP_MIN_WIRE 22      /* partition_index, error_code, timestamp, offset */
#define LEADER_TAG_SIZE (4 + 4 + 1)   /* LeaderIdAndEpoch with its empty tag section */
#define EPOCH_END_TAG_SIZE (4 + 8 + 1) /* EpochEndOffset and SnapshotId */

static bool fetch_version_ok(int16_t ver)
{
    return ver >= KTX__FETCH_MIN_VER && ver <= KTX__FETCH_MAX_VER;
}

static bool list_offsets_version_ok(int16_t ver)
{
    return ver >= KTX__LIST_OFFSETS_MIN_VER && ver <= KTX__LIST_OFFSETS_MAX_VER;
}

/* ---- helpers ---- */

/* Encoded size of a compact nullable string. */
static size_t compact_str_size(struct ktx__str s)
{
    if (s.len < 0)
        return 1;
    return ktx__uvarint_size((uint32_t)s.len + 1) + (size_t)s.len;
}

/* ---- Fetch request: encoding ---- */

static void write_fetch_topic(struct ktx__writer *w, int16_t ver, bool flex, const struct ktx__fetch_topic *topic)
{
    ktx__w_string(w, topic->topic, flex);
    ktx__w_array(w, topic->partitions, topic->partitions_count, flex, false);
    for (int32_t i = 0; i < topic->partitions_count && !w->err; i++) {
        const struct ktx__fetch_partition *part = &topic->partitions[i];
        ktx__w_i32(w, part->partition);
        if (ver >= 9)
            ktx__w_i32(w, part->current_leader_epoch);
        ktx__w_i64(w, part->fetch_offset);
        if (ver >= 12)
            ktx__w_i32(w, part->last_fetched_epoch);
        if (ver >= 5)
            ktx__w_i64(w, part->log_start_offset);
        ktx__w_i32(w, part->partition_max_bytes);
        if (flex)
            ktx__w_tags_empty(w);
    }
    if (flex)
        ktx__w_tags_empty(w);
}

static void write_forgotten_topic(struct ktx__writer *w, bool flex, const struct ktx__fetch_forgotten_topic *ft)
{
    ktx__w_string(w, ft->topic, flex);
    ktx__w_array(w, ft->partitions, ft->partitions_count, flex, false);
    for (int32_t i = 0; i < ft->partitions_count && !w->err; i++)
        ktx__w_i32(w, ft->partitions[i]);
    if (flex)
        ktx__w_tags_empty(w);
}

int ktx__proto_fetch_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__fetch_req *req)
{
    if (!fetch_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__FETCH_FLEX_VER;
    ktx__w_i32(w, req->replica_id);
    ktx__w_i32(w, req->max_wait_ms);
    ktx__w_i32(w, req->min_bytes);
    ktx__w_i32(w, req->max_bytes);
    ktx__w_i8(w, req->isolation_level);
    if (ver >= 7) {
        ktx__w_i32(w, req->session_id);
        ktx__w_i32(w, req->session_epoch);
    }
    ktx__w_array(w, req->topics, req->topics_count, flex, false);
    for (int32_t i = 0; i < req->topics_count && !w->err; i++)
        write_fetch_topic(w, ver, flex, &req->topics[i]);
    if (ver >= 7) {
        ktx__w_array(w, req->forgotten_topics_data, req->forgotten_topics_data_count, flex, false);
        for (int32_t i = 0; i < req->forgotten_topics_data_count && !w->err; i++)
            write_forgotten_topic(w, flex, &req->forgotten_topics_data[i]);
    }
    if (ver >= 11)
        ktx__w_string(w, req->rack_id, flex);
    if (flex && req->cluster_id.len >= 0) {
        ktx__w_uvarint(w, 1); /* one tagged field */
        ktx__w_uvarint(w, 0); /* tag 0: ClusterId */
        ktx__w_uvarint(w, (uint32_t)compact_str_size(req->cluster_id));
        ktx__w_nstring(w, req->cluster_id, true);
    } else if (flex) {
        ktx__w_tags_empty(w);
    }
    return w->err;
}

/* ---- Fetch request: decoding ---- */

static void read_fetch_topic(struct ktx__reader *r, int16_t ver, bool flex, struct ktx__fetch_topic *topic,
                             struct ktx__arena *arena)
{
    topic->topic = ktx__r_string(r, flex);
    topic->partitions = ktx__r_array(r, arena, flex, false, FETCH_PARTITION_MIN_WIRE, sizeof(*topic->partitions), &topic->partitions_count);
    for (int32_t i = 0; i < topic->partitions_count && !r->err; i++) {
        struct ktx__fetch_partition *part = &topic->partitions[i];
        part->partition = ktx__r_i32(r);
        part->current_leader_epoch = ver >= 9 ? ktx__r_i32(r) : -1;
        part->fetch_offset = ktx__r_i64(r);
        part->last_fetched_epoch = ver >= 12 ? ktx__r_i32(r) : -1;
        part->log_start_offset = ver >= 5 ? ktx__r_i64(r) : -1;
        part->partition_max_bytes = ktx__r_i32(r);
        if (flex)
            ktx__r_tags_skip(r);
    }
    if (flex)
        ktx__r_tags_skip(r);
}

static void read_forgotten_topic(struct ktx__reader *r, bool flex, struct ktx__fetch_forgotten_topic *ft,
                                 struct ktx__arena *arena)
{
    ft->topic = ktx__r_string(r, flex);
    ft->partitions = ktx__r_array(r, arena, flex, false, INT32_WIRE, sizeof(*ft->partitions), &ft->partitions_count);
    for (int32_t i = 0; i < ft->partitions_count && !r->err; i++)
        ft->partitions[i] = ktx__r_i32(r);
    if (flex)
        ktx__r_tags_skip(r);
}

static bool fetch_req_tag(void *ctx, uint32_t tag, struct ktx__reader *sub)
{
    struct ktx__fetch_req *req = ctx;
    if (tag != 0)
        return false;
    req->cluster_id = ktx__r_nstring(sub, true);
    return true;
}

int ktx__proto_fetch_req_decode(const uint8_t *p, size_t len, int16_t ver, struct ktx__fetch_req *out,
                                struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!fetch_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__FETCH_FLEX_VER;
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->cluster_id = (struct ktx__str){ NULL, -1 };
    out->replica_id = ktx__r_i32(&r);
    out->max_wait_ms = ktx__r_i32(&r);
    out->min_bytes = ktx__r_i32(&r);
    out->max_bytes = ktx__r_i32(&r);
    out->isolation_level = ktx__r_i8(&r);
    out->session_epoch = -1;
    if (ver >= 7) {
        out->session_id = ktx__r_i32(&r);
        out->session_epoch = ktx__r_i32(&r);
    }
    out->topics = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count && !r.err; i++)
        read_fetch_topic(&r, ver, flex, &out->topics[i], arena);
    if (ver >= 7) {
        out->forgotten_topics_data = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->forgotten_topics_data), &out->forgotten_topics_data_count);
        for (int32_t i = 0; i < out->forgotten_topics_data_count && !r.err; i++)
            read_forgotten_topic(&r, flex, &out->forgotten_topics_data[i], arena);
    }
    out->rack_id = ver >= 11 ? ktx__r_string(&r, flex) : (struct ktx__str){ "", 0 };
    if (flex)
        ktx__r_tags(&r, out, fetch_req_tag);
    return ktx__r_finish(&r);
}

/* ---- Fetch response: encoding ---- */

static void write_fetch_partition_tags(struct ktx__writer *w, const struct ktx__fetch_partition_resp *part)
{
    bool diverging = part->diverging_epoch.epoch != -1 || part->diverging_epoch.end_offset != -1;
    bool leader = part->current_leader.leader_id != -1 || part->current_leader.leader_epoch != -1;
    bool snapshot = part->snapshot_id.end_offset != -1 || part->snapshot_id.epoch != -1;
    ktx__w_uvarint(w, (uint32_t)diverging + (uint32_t)leader + (uint32_t)snapshot);
    if (diverging) {
        ktx__w_uvarint(w, 0);
        ktx__w_uvarint(w, EPOCH_END_TAG_SIZE);
        ktx__w_i32(w, part->diverging_epoch.epoch);
        ktx__w_i64(w, part->diverging_epoch.end_offset);
        ktx__w_tags_empty(w);
    }
    if (leader) {
        ktx__w_uvarint(w, 1);
        ktx__w_uvarint(w, LEADER_TAG_SIZE);
        ktx__w_i32(w, part->current_leader.leader_id);
        ktx__w_i32(w, part->current_leader.leader_epoch);
        ktx__w_tags_empty(w);
    }
    if (snapshot) {
        ktx__w_uvarint(w, 2);
        ktx__w_uvarint(w, EPOCH_END_TAG_SIZE);
        ktx__w_i64(w, part->snapshot_id.end_offset);
        ktx__w_i32(w, part->snapshot_id.epoch);
        ktx__w_tags_empty(w);
    }
}

static void write_aborted_transactions(struct ktx__writer *w, bool flex,
                                       const struct ktx__fetch_partition_resp *part)
{
    /* Nullable: a negative count (or a positive one with no elements) is encoded as null. */
    if (part->aborted_transactions_count < 0 ||
        (part->aborted_transactions_count > 0 && part->aborted_transactions == NULL)) {
        if (part->aborted_transactions_count > 0)
            ktx__w_fail(w);
        ktx__w_array_len(w, -1, flex);
        return;
    }
    ktx__w_array_len(w, part->aborted_transactions_count, flex);
    for (int32_t i = 0; i < part->aborted_transactions_count; i++) {
        ktx__w_i64(w, part->aborted_transactions[i].producer_id);
        ktx__w_i64(w, part->aborted_transactions[i].first_offset);
        if (flex)
            ktx__w_tags_empty(w);
    }
}

static void write_fetch_partition_resp(struct ktx__writer *w, int16_t ver, bool flex,
                                       const struct ktx__fetch_partition_resp *part)
{
    ktx__w_i32(w, part->partition_index);
    ktx__w_i16(w, part->error_code);
    ktx__w_i64(w, part->high_watermark);
    ktx__w_i64(w, part->last_stable_offset);
    if (ver >= 5)
        ktx__w_i64(w, part->log_start_offset);
    write_aborted_transactions(w, flex, part);
    if (ver >= 11)
        ktx__w_i32(w, part->preferred_read_replica);
    ktx__w_nbytes(w, part->records, flex);
    if (flex)
        write_fetch_partition_tags(w, part);
}

int ktx__proto_fetch_resp_encode(struct ktx__writer *w, int16_t ver, const struct ktx__fetch_resp *resp)
{
    if (!fetch_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__FETCH_FLEX_VER;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ver >= 7) {
        ktx__w_i16(w, resp->error_code);
        ktx__w_i32(w, resp->session_id);
    }
    ktx__w_array(w, resp->responses, resp->responses_count, flex, false);
    for (int32_t i = 0; i < resp->responses_count && !w->err; i++) {
        const struct ktx__fetch_topic_resp *topic = &resp->responses[i];
        ktx__w_string(w, topic->topic, flex);
        ktx__w_array(w, topic->partitions, topic->partitions_count, flex, false);
        for (int32_t j = 0; j < topic->partitions_count && !w->err; j++)
            write_fetch_partition_resp(w, ver, flex, &topic->partitions[j]);
        if (flex)
            ktx__w_tags_empty(w);
    }
    if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

/* ---- Fetch response: decoding ---- */

static bool fetch_partition_tag(void *ctx, uint32_t tag, struct ktx__reader *sub)
{
    struct ktx__fetch_partition_resp *part = ctx;
    switch (tag) {
    case 0:
        part->diverging_epoch.epoch = ktx__r_i32(sub);
        part->diverging_epoch.end_offset = ktx__r_i64(sub);
        break;
    case 1:
        part->current_leader.leader_id = ktx__r_i32(sub);
        part->current_leader.leader_epoch = ktx__r_i32(sub);
        break;
    case 2:
        part->snapshot_id.end_offset = ktx__r_i64(sub);
        part->snapshot_id.epoch = ktx__r_i32(sub);
        break;
    default:
        return false;
    }
    ktx__r_tags_skip(sub);
    return true;
}

static void read_aborted_transactions(struct ktx__reader *r, bool flex, struct ktx__fetch_partition_resp *part,
                                      struct ktx__arena *arena)
{
    int32_t n = ktx__r_array_len(r, flex, ABORTED_TXN_MIN_WIRE);
    part->aborted_transactions_count = n < 0 ? -1 : 0;
    if (n <= 0 || r->err)
        return;
    part->aborted_transactions = ktx__arena_alloc(arena, (size_t)n * sizeof(*part->aborted_transactions));
    if (part->aborted_transactions == NULL) {
        ktx__r_fail(r);
        return;
    }
    part->aborted_transactions_count = n;
    for (int32_t i = 0; i < n && !r->err; i++) {
        part->aborted_transactions[i].producer_id = ktx__r_i64(r);
        part->aborted_transactions[i].first_offset = ktx__r_i64(r);
        if (flex)
            ktx__r_tags_skip(r);
    }
}

static void read_fetch_partition_resp(struct ktx__reader *r, int16_t ver, bool flex,
                                      struct ktx__fetch_partition_resp *part, struct ktx__arena *arena)
{
    part->partition_index = ktx__r_i32(r);
    part->error_code = ktx__r_i16(r);
    part->high_watermark = ktx__r_i64(r);
    part->last_stable_offset = ktx__r_i64(r);
    part->log_start_offset = ver >= 5 ? ktx__r_i64(r) : -1;
    read_aborted_transactions(r, flex, part, arena);
    part->preferred_read_replica = ver >= 11 ? ktx__r_i32(r) : -1;
    part->records = ktx__r_nbytes(r, flex);
    part->diverging_epoch = (struct ktx__fetch_epoch_end_offset){ -1, -1 };
    part->current_leader = (struct ktx__leader_id_and_epoch){ -1, -1 };
    part->snapshot_id = (struct ktx__fetch_snapshot_id){ -1, -1 };
    if (flex)
        ktx__r_tags(r, part, fetch_partition_tag);
}

int ktx__proto_fetch_resp_decode(const uint8_t *p, size_t len, int16_t ver, struct ktx__fetch_resp *out,
                                 struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!fetch_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__FETCH_FLEX_VER;
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    if (ver >= 7) {
        out->error_code = ktx__r_i16(&r);
        out->session_id = ktx__r_i32(&r);
    }
    out->responses = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->responses), &out->responses_count);
    for (int32_t i = 0; i < out->responses_count && !r.err; i++) {
        struct ktx__fetch_topic_resp *topic = &out->responses[i];
        topic->topic = ktx__r_string(&r, flex);
        topic->partitions = ktx__r_array(&r, arena, flex, false, FETCH_PART_RESP_MIN_WIRE, sizeof(*topic->partitions), &topic->partitions_count);
        for (int32_t j = 0; j < topic->partitions_count && !r.err; j++)
            read_fetch_partition_resp(&r, ver, flex, &topic->partitions[j], arena);
        if (flex)
            ktx__r_tags_skip(&r);
    }
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

/* ---- ListOffsets request ---- */

int ktx__proto_list_offsets_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__list_offsets_req *req)
{
    if (!list_offsets_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__LIST_OFFSETS_FLEX_VER;
    ktx__w_i32(w, req->replica_id);
    if (ver >= 2)
        ktx__w_i8(w, req->isolation_level);
    ktx__w_array(w, req->topics, req->topics_count, flex, false);
    for (int32_t i = 0; i < req->topics_count && !w->err; i++) {
        const struct ktx__list_offsets_topic *topic = &req->topics[i];
        ktx__w_string(w, topic->name, flex);
        ktx__w_array(w, topic->partitions, topic->partitions_count, flex, false);
        for (int32_t j = 0; j < topic->partitions_count && !w->err; j++) {
            const struct ktx__list_offsets_partition *part = &topic->partitions[j];
            ktx__w_i32(w, part->partition_index);
            if (ver >= 4)
                ktx__w_i32(w, part->current_leader_epoch);
            ktx__w_i64(w, part->timestamp);
            if (flex)
                ktx__w_tags_empty(w);
        }
        if (flex)
            ktx__w_tags_empty(w);
    }
    if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

static void read_list_offsets_topic(struct ktx__reader *r, int16_t ver, bool flex,
                                    struct ktx__list_offsets_topic *topic, struct ktx__arena *arena)
{
    topic->name = ktx__r_string(r, flex);
    topic->partitions = ktx__r_array(r, arena, flex, false, LO_PARTITION_MIN_WIRE, sizeof(*topic->partitions), &topic->partitions_count);
    for (int32_t i = 0; i < topic->partitions_count && !r->err; i++) {
        struct ktx__list_offsets_partition *part = &topic->partitions[i];
        part->partition_index = ktx__r_i32(r);
        part->current_leader_epoch = ver >= 4 ? ktx__r_i32(r) : -1;
        part->timestamp = ktx__r_i64(r);
        if (flex)
            ktx__r_tags_skip(r);
    }
    if (flex)
        ktx__r_tags_skip(r);
}

int ktx__proto_list_offsets_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__list_offsets_req *out, struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!list_offsets_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__LIST_OFFSETS_FLEX_VER;
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->replica_id = ktx__r_i32(&r);
    out->isolation_level = ver >= 2 ? ktx__r_i8(&r) : 0;
    out->topics = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count && !r.err; i++)
        read_list_offsets_topic(&r, ver, flex, &out->topics[i], arena);
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

/* ---- ListOffsets response ---- */

int ktx__proto_list_offsets_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__list_offsets_resp *resp)
{
    if (!list_offsets_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__LIST_OFFSETS_FLEX_VER;
    if (ver >= 2)
        ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_array(w, resp->topics, resp->topics_count, flex, false);
    for (int32_t i = 0; i < resp->topics_count && !w->err; i++) {
        const struct ktx__list_offsets_topic_resp *topic = &resp->topics[i];
        ktx__w_string(w, topic->name, flex);
        ktx__w_array(w, topic->partitions, topic->partitions_count, flex, false);
        for (int32_t j = 0; j < topic->partitions_count && !w->err; j++) {
            const struct ktx__list_offsets_partition_resp *part = &topic->partitions[j];
            ktx__w_i32(w, part->partition_index);
            ktx__w_i16(w, part->error_code);
            ktx__w_i64(w, part->timestamp);
            ktx__w_i64(w, part->offset);
            if (ver >= 4)
                ktx__w_i32(w, part->leader_epoch);
            if (flex)
                ktx__w_tags_empty(w);
        }
        if (flex)
            ktx__w_tags_empty(w);
    }
    if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

static void read_list_offsets_topic_resp(struct ktx__reader *r, int16_t ver, bool flex,
                                         struct ktx__list_offsets_topic_resp *topic, struct ktx__arena *arena)
{
    topic->name = ktx__r_string(r, flex);
    topic->partitions = ktx__r_array(r, arena, flex, false, LO_PART_RESP_MIN_WIRE, sizeof(*topic->partitions), &topic->partitions_count);
    for (int32_t i = 0; i < topic->partitions_count && !r->err; i++) {
        struct ktx__list_offsets_partition_resp *part = &topic->partitions[i];
        part->partition_index = ktx__r_i32(r);
        part->error_code = ktx__r_i16(r);
        part->timestamp = ktx__r_i64(r);
        part->offset = ktx__r_i64(r);
        part->leader_epoch = ver >= 4 ? ktx__r_i32(r) : -1;
        if (flex)
            ktx__r_tags_skip(r);
    }
    if (flex)
        ktx__r_tags_skip(r);
}

int ktx__proto_list_offsets_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__list_offsets_resp *out, struct ktx__arena *arena)
{
    memset(out, 0, sizeof(*out));
    if (!list_offsets_version_ok(ver))
        return KTX_ERR_UNSUPPORTED;
    bool flex = ver >= KTX__LIST_OFFSETS_FLEX_VER;
    struct ktx__reader r;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ver >= 2 ? ktx__r_i32(&r) : 0;
    out->topics = ktx__r_array(&r, arena, flex, false, TOPIC_MIN_WIRE, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count && !r.err; i++)
        read_list_offsets_topic_resp(&r, ver, flex, &out->topics[i], arena);
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(fetch, KTX__API_FETCH);
KTX__PROTO_CODEC_DEFINE(list_offsets, KTX__API_LIST_OFFSETS);
