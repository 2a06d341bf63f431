/*
 * Codecs for OffsetFetch and OffsetCommit. See proto_group.h.
 */
#include "proto_group.h"

#include <string.h>

#include "proto_meta.h"

#define OF_MIN 1
#define OF_MAX 9
#define OF_FLEX 6
#define OC_MIN 2
#define OC_MAX 9
#define OC_FLEX 8

static void w_tags(struct ktx__writer *w, bool flexible)
{
    if (flexible)
        ktx__w_tags_empty(w);
}

static void r_tags(struct ktx__reader *r, bool flexible)
{
    if (flexible)
        ktx__r_tags_skip(r);
}

/* ---- OffsetFetch request ---- */

/* Writes a topics array of a request: the same layout in the single-group (v1-7) and the
 * batched (v8+) shapes. */
static void w_of_req_topics(struct ktx__writer *w, const struct ktx__offset_fetch_req_topic *t,
                            int32_t n, bool flex, bool nullable)
{
    ktx__w_array(w, t, n, flex, nullable);
    for (int32_t i = 0; i < n; i++) {
        ktx__w_string(w, t[i].name, flex);
        ktx__w_i32_array(w, t[i].partition_indexes, t[i].partition_indexes_count, flex, false);
        w_tags(w, flex);
    }
}

static struct ktx__offset_fetch_req_topic *r_of_req_topics(struct ktx__reader *r,
                                                           struct ktx__arena *arena, bool flex,
                                                           bool nullable, int32_t *count)
{
    struct ktx__offset_fetch_req_topic *t =
        ktx__r_array(r, arena, flex, nullable, flex ? 3 : 6, sizeof(*t), count);

    for (int32_t i = 0; i < *count; i++) {
        t[i].name = ktx__r_string(r, flex);
        t[i].partition_indexes =
            ktx__r_i32_array(r, arena, flex, false, &t[i].partition_indexes_count);
        r_tags(r, flex);
    }
    return t;
}

static void w_of_req_group(struct ktx__writer *w, int16_t ver,
                           const struct ktx__offset_fetch_req_group *g)
{
    ktx__w_string(w, g->group_id, true);
    if (ver >= 9) {
        ktx__w_nstring(w, g->member_id, true);
        ktx__w_i32(w, g->member_epoch);
    }
    w_of_req_topics(w, g->topics, g->topics_count, true, true);
    ktx__w_tags_empty(w);
}

/* Writes the groups array of v8+: |req->groups|, or one group from the top-level fields. */
static void w_of_req_groups(struct ktx__writer *w, int16_t ver,
                            const struct ktx__offset_fetch_req *req)
{
    struct ktx__offset_fetch_req_group single;

    if (req->groups_count > 0) {
        ktx__w_array(w, req->groups, req->groups_count, true, false);
        for (int32_t i = 0; i < req->groups_count; i++)
            w_of_req_group(w, ver, &req->groups[i]);
        return;
    }
    memset(&single, 0, sizeof(single));
    single.group_id = req->group_id;
    single.member_id.len = -1;
    single.member_epoch = -1;
    single.topics = req->topics;
    single.topics_count = req->topics_count;
    ktx__w_array_len(w, 1, true);
    w_of_req_group(w, ver, &single);
}

int ktx__proto_offset_fetch_req_encode(struct ktx__writer *w, int16_t ver,
                                       const struct ktx__offset_fetch_req *req)
{
    bool flex = ver >= OF_FLEX;

    if (ver < OF_MIN || ver > OF_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver <= 7 && req->groups_count > 1)
        return KTX_ERR_UNSUPPORTED;
    if (ver <= 7 && req->groups_count == 1) {
        ktx__w_string(w, req->groups[0].group_id, flex);
        w_of_req_topics(w, req->groups[0].topics, req->groups[0].topics_count, flex, ver >= 2);
    } else if (ver <= 7) {
        ktx__w_string(w, req->group_id, flex);
        w_of_req_topics(w, req->topics, req->topics_count, flex, ver >= 2);
    } else {
        w_of_req_groups(w, ver, req);
    }
    if (ver >= 7)
        ktx__w_bool(w, req->require_stable);
    w_tags(w, flex);
    return w->err;
}

static void r_of_req_groups(struct ktx__reader *r, int16_t ver, struct ktx__arena *arena,
                            struct ktx__offset_fetch_req *out)
{
    struct ktx__offset_fetch_req_group *g =
        ktx__r_array(r, arena, true, false, 3, sizeof(*g), &out->groups_count);

    out->groups = g;
    for (int32_t i = 0; i < out->groups_count; i++) {
        g[i].group_id = ktx__r_string(r, true);
        g[i].member_id.len = -1;
        g[i].member_epoch = -1;
        if (ver >= 9) {
            g[i].member_id = ktx__r_nstring(r, true);
            g[i].member_epoch = ktx__r_i32(r);
        }
        g[i].topics = r_of_req_topics(r, arena, true, true, &g[i].topics_count);
        ktx__r_tags_skip(r);
    }
}

int ktx__proto_offset_fetch_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__offset_fetch_req *out,
                                       struct ktx__arena *arena)
{
    bool flex = ver >= OF_FLEX;
    struct ktx__reader r;

    if (ver < OF_MIN || ver > OF_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    if (ver <= 7) {
        out->group_id = ktx__r_string(&r, flex);
        out->topics = r_of_req_topics(&r, arena, flex, ver >= 2, &out->topics_count);
    } else {
        r_of_req_groups(&r, ver, arena, out);
    }
    if (ver >= 7)
        out->require_stable = ktx__r_bool(&r);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

/* ---- OffsetFetch response ---- */

static void w_of_resp_topics(struct ktx__writer *w, int16_t ver,
                             const struct ktx__offset_fetch_resp_topic *t, int32_t n)
{
    bool flex = ver >= OF_FLEX;

    ktx__w_array(w, t, n, flex, false);
    for (int32_t i = 0; i < n; i++) {
        ktx__w_string(w, t[i].name, flex);
        ktx__w_array(w, t[i].partitions, t[i].partitions_count, flex, false);
        for (int32_t j = 0; j < t[i].partitions_count; j++) {
            const struct ktx__offset_fetch_resp_partition *part = &t[i].partitions[j];
            ktx__w_i32(w, part->partition_index);
            ktx__w_i64(w, part->committed_offset);
            if (ver >= 5)
                ktx__w_i32(w, part->committed_leader_epoch);
            ktx__w_nstring(w, part->metadata, flex);
            ktx__w_i16(w, part->error_code);
            w_tags(w, flex);
        }
        w_tags(w, flex);
    }
}

int ktx__proto_offset_fetch_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__offset_fetch_resp *resp)
{
    bool flex = ver >= OF_FLEX;
    const struct ktx__offset_fetch_resp_group *g = resp->groups;

    if (ver < OF_MIN || ver > OF_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver <= 7 && resp->groups_count > 1)
        return KTX_ERR_UNSUPPORTED;
    if (ver >= 3)
        ktx__w_i32(w, resp->throttle_time_ms);
    if (ver <= 7) {
        bool one = resp->groups_count == 1;
        w_of_resp_topics(w, ver, one ? g->topics : resp->topics,
                         one ? g->topics_count : resp->topics_count);
        if (ver >= 2)
            ktx__w_i16(w, one ? g->error_code : resp->error_code);
    } else {
        ktx__w_array(w, resp->groups, resp->groups_count, true, false);
        for (int32_t i = 0; i < resp->groups_count; i++) {
            ktx__w_string(w, g[i].group_id, true);
            w_of_resp_topics(w, ver, g[i].topics, g[i].topics_count);
            ktx__w_i16(w, g[i].error_code);
            ktx__w_tags_empty(w);
        }
    }
    w_tags(w, flex);
    return w->err;
}

static void r_of_resp_partition(struct ktx__reader *r, int16_t ver,
                                struct ktx__offset_fetch_resp_partition *part)
{
    bool flex = ver >= OF_FLEX;

    part->partition_index = ktx__r_i32(r);
    part->committed_offset = ktx__r_i64(r);
    part->committed_leader_epoch = ver >= 5 ? ktx__r_i32(r) : -1;
    part->metadata = ktx__r_nstring(r, flex);
    part->error_code = ktx__r_i16(r);
    r_tags(r, flex);
}

static struct ktx__offset_fetch_resp_topic *r_of_resp_topics(struct ktx__reader *r, int16_t ver,
                                                             struct ktx__arena *arena,
                                                             int32_t *count)
{
    bool flex = ver >= OF_FLEX;
    struct ktx__offset_fetch_resp_topic *t =
        ktx__r_array(r, arena, flex, false, flex ? 3 : 6, sizeof(*t), count);

    for (int32_t i = 0; i < *count; i++) {
        t[i].name = ktx__r_string(r, flex);
        t[i].partitions = ktx__r_array(r, arena, flex, false, flex ? 17 : 16, sizeof(*t[i].partitions), &t[i].partitions_count);
        for (int32_t j = 0; j < t[i].partitions_count; j++)
            r_of_resp_partition(r, ver, &t[i].partitions[j]);
        r_tags(r, flex);
    }
    return t;
}

int ktx__proto_offset_fetch_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__offset_fetch_resp *out,
                                        struct ktx__arena *arena)
{
    bool flex = ver >= OF_FLEX;
    struct ktx__reader r;
    struct ktx__offset_fetch_resp_group *g;

    if (ver < OF_MIN || ver > OF_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    if (ver >= 3)
        out->throttle_time_ms = ktx__r_i32(&r);
    if (ver <= 7) {
        out->topics = r_of_resp_topics(&r, ver, arena, &out->topics_count);
        if (ver >= 2)
            out->error_code = ktx__r_i16(&r);
    } else {
        g = ktx__r_array(&r, arena, true, false, 5, sizeof(*g), &out->groups_count);
        out->groups = g;
        for (int32_t i = 0; i < out->groups_count; i++) {
            g[i].group_id = ktx__r_string(&r, true);
            g[i].topics = r_of_resp_topics(&r, ver, arena, &g[i].topics_count);
            g[i].error_code = ktx__r_i16(&r);
            ktx__r_tags_skip(&r);
        }
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

/* ---- OffsetCommit ---- */

static void w_oc_req_topic(struct ktx__writer *w, int16_t ver,
                           const struct ktx__offset_commit_req_topic *t)
{
    bool flex = ver >= OC_FLEX;

    ktx__w_string(w, t->name, flex);
    ktx__w_array(w, t->partitions, t->partitions_count, flex, false);
    for (int32_t j = 0; j < t->partitions_count; j++) {
        const struct ktx__offset_commit_req_partition *part = &t->partitions[j];
        ktx__w_i32(w, part->partition_index);
        ktx__w_i64(w, part->committed_offset);
        if (ver >= 6)
            ktx__w_i32(w, part->committed_leader_epoch);
        ktx__w_nstring(w, part->committed_metadata, flex);
        w_tags(w, flex);
    }
    w_tags(w, flex);
}

int ktx__proto_offset_commit_req_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__offset_commit_req *req)
{
    bool flex = ver >= OC_FLEX;

    if (ver < OC_MIN || ver > OC_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->group_id, flex);
    ktx__w_i32(w, req->generation_id_or_member_epoch);
    ktx__w_string(w, req->member_id, flex);
    if (ver >= 7)
        ktx__w_nstring(w, req->group_instance_id, flex);
    if (ver <= 4)
        ktx__w_i64(w, req->retention_time_ms);
    ktx__w_array(w, req->topics, req->topics_count, flex, false);
    for (int32_t i = 0; i < req->topics_count; i++)
        w_oc_req_topic(w, ver, &req->topics[i]);
    w_tags(w, flex);
    return w->err;
}

static void r_oc_req_topic(struct ktx__reader *r, int16_t ver, struct ktx__arena *arena,
                           struct ktx__offset_commit_req_topic *t)
{
    bool flex = ver >= OC_FLEX;
    struct ktx__offset_commit_req_partition *parts;

    t->name = ktx__r_string(r, flex);
    parts = ktx__r_array(r, arena, flex, false, 14, sizeof(*parts), &t->partitions_count);
    t->partitions = parts;
    for (int32_t j = 0; j < t->partitions_count; j++) {
        parts[j].partition_index = ktx__r_i32(r);
        parts[j].committed_offset = ktx__r_i64(r);
        parts[j].committed_leader_epoch = ver >= 6 ? ktx__r_i32(r) : -1;
        parts[j].committed_metadata = ktx__r_nstring(r, flex);
        r_tags(r, flex);
    }
    r_tags(r, flex);
}

int ktx__proto_offset_commit_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__offset_commit_req *out,
                                        struct ktx__arena *arena)
{
    bool flex = ver >= OC_FLEX;
    struct ktx__reader r;

    if (ver < OC_MIN || ver > OC_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    out->group_instance_id.len = -1;
    out->retention_time_ms = -1;
    ktx__r_init(&r, p, len);
    out->group_id = ktx__r_string(&r, flex);
    out->generation_id_or_member_epoch = ktx__r_i32(&r);
    out->member_id = ktx__r_string(&r, flex);
    if (ver >= 7)
        out->group_instance_id = ktx__r_nstring(&r, flex);
    if (ver <= 4)
        out->retention_time_ms = ktx__r_i64(&r);
    out->topics = ktx__r_array(&r, arena, flex, false, flex ? 3 : 6, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count; i++)
        r_oc_req_topic(&r, ver, arena, &out->topics[i]);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

int ktx__proto_offset_commit_resp_encode(struct ktx__writer *w, int16_t ver,
                                         const struct ktx__offset_commit_resp *resp)
{
    bool flex = ver >= OC_FLEX;

    if (ver < OC_MIN || ver > OC_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver >= 3)
        ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_array(w, resp->topics, resp->topics_count, flex, false);
    for (int32_t i = 0; i < resp->topics_count; i++) {
        const struct ktx__offset_commit_resp_topic *t = &resp->topics[i];
        ktx__w_string(w, t->name, flex);
        ktx__w_array(w, t->partitions, t->partitions_count, flex, false);
        for (int32_t j = 0; j < t->partitions_count; j++) {
            ktx__w_i32(w, t->partitions[j].partition_index);
            ktx__w_i16(w, t->partitions[j].error_code);
            w_tags(w, flex);
        }
        w_tags(w, flex);
    }
    w_tags(w, flex);
    return w->err;
}

static void r_oc_resp_topic(struct ktx__reader *r, bool flex, struct ktx__arena *arena,
                            struct ktx__offset_commit_resp_topic *t)
{
    struct ktx__offset_commit_resp_partition *parts;

    t->name = ktx__r_string(r, flex);
    parts = ktx__r_array(r, arena, flex, false, 6, sizeof(*parts), &t->partitions_count);
    t->partitions = parts;
    for (int32_t j = 0; j < t->partitions_count; j++) {
        parts[j].partition_index = ktx__r_i32(r);
        parts[j].error_code = ktx__r_i16(r);
        r_tags(r, flex);
    }
    r_tags(r, flex);
}

int ktx__proto_offset_commit_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                         struct ktx__offset_commit_resp *out,
                                         struct ktx__arena *arena)
{
    bool flex = ver >= OC_FLEX;
    struct ktx__reader r;

    if (ver < OC_MIN || ver > OC_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    if (ver >= 3)
        out->throttle_time_ms = ktx__r_i32(&r);
    out->topics = ktx__r_array(&r, arena, flex, false, flex ? 3 : 6, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count; i++)
        r_oc_resp_topic(&r, flex, arena, &out->topics[i]);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(offset_fetch, KTX__API_OFFSET_FETCH);
KTX__PROTO_CODEC_DEFINE(offset_commit, KTX__API_OFFSET_COMMIT);
