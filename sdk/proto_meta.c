/*
 * Codecs for ApiVersions, Metadata and FindCoordinator, and version negotiation.
 * See proto_meta.h; the array helpers are wire.h's.
 */
#include "proto_meta.h"

#include <string.h>

#define AV_MIN 0
#define AV_MAX 4
#define AV_FLEX 3
#define MD_MIN 1
#define MD_MAX 12
#define MD_FLEX 9
#define FC_MIN 1
#define FC_MAX 6
#define FC_FLEX 3

/* Tags of the ApiVersions v3+ response. */
enum {
    AV_TAG_SUPPORTED_FEATURES = 0,
    AV_TAG_FINALIZED_FEATURES_EPOCH = 1,
    AV_TAG_FINALIZED_FEATURES = 2,
    AV_TAG_ZK_MIGRATION_READY = 3,
};

/* ---- tagged-field helpers ---- */

/* Writes the tagged-field section of a flexible structure that carries no known tags. */
static void w_tags(struct ktx__writer *w, bool flexible)
{
    if (flexible)
        ktx__w_tags_empty(w);
}

/* Skips the tagged-field section of a flexible structure. */
static void r_tags(struct ktx__reader *r, bool flexible)
{
    if (flexible)
        ktx__r_tags_skip(r);
}

/* ---- ApiVersions ---- */

int ktx__proto_api_versions_req_encode(struct ktx__writer *w, int16_t ver,
                                       const struct ktx__api_versions_req *req)
{
    if (ver < AV_MIN || ver > AV_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver >= 3) {
        ktx__w_string(w, req->client_software_name, true);
        ktx__w_string(w, req->client_software_version, true);
        ktx__w_tags_empty(w);
    }
    return w->err;
}

int ktx__proto_api_versions_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__api_versions_req *out,
                                       struct ktx__arena *arena)
{
    struct ktx__reader r;

    (void)arena;
    if (ver < AV_MIN || ver > AV_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    if (ver >= 3) {
        out->client_software_name = ktx__r_string(&r, true);
        out->client_software_version = ktx__r_string(&r, true);
        ktx__r_tags_skip(&r);
    }
    return ktx__r_finish(&r);
}

static void w_supported_features(struct ktx__writer *w, const struct ktx__api_versions_resp *resp)
{
    ktx__w_array(w, resp->supported_features, resp->supported_features_count, true, false);
    for (int32_t i = 0; i < resp->supported_features_count; i++) {
        const struct ktx__supported_feature *f = &resp->supported_features[i];
        ktx__w_string(w, f->name, true);
        ktx__w_i16(w, f->min_version);
        ktx__w_i16(w, f->max_version);
        ktx__w_tags_empty(w);
    }
}

static void w_finalized_features(struct ktx__writer *w, const struct ktx__api_versions_resp *resp)
{
    ktx__w_array(w, resp->finalized_features, resp->finalized_features_count, true, false);
    for (int32_t i = 0; i < resp->finalized_features_count; i++) {
        const struct ktx__finalized_feature *f = &resp->finalized_features[i];
        ktx__w_string(w, f->name, true);
        ktx__w_i16(w, f->max_version_level);
        ktx__w_i16(w, f->min_version_level);
        ktx__w_tags_empty(w);
    }
}

/* Writes tagged field |tag| of |resp|: its payload goes to a scratch writer first because
 * the payload size precedes it on the wire. */
static void w_av_tag(struct ktx__writer *w, uint32_t tag, const struct ktx__api_versions_resp *resp)
{
    struct ktx__writer sub;

    ktx__w_init(&sub, 64, w->max);
    if (tag == AV_TAG_SUPPORTED_FEATURES)
        w_supported_features(&sub, resp);
    else if (tag == AV_TAG_FINALIZED_FEATURES_EPOCH)
        ktx__w_i64(&sub, resp->finalized_features_epoch);
    else if (tag == AV_TAG_FINALIZED_FEATURES)
        w_finalized_features(&sub, resp);
    else
        ktx__w_bool(&sub, resp->zk_migration_ready);
    if (sub.err != 0 || sub.len > UINT32_MAX) {
        if (w->err == 0)
            w->err = sub.err != 0 ? sub.err : KTX_ERR_BAD_MSG;
    } else {
        ktx__w_uvarint(w, tag);
        ktx__w_uvarint(w, (uint32_t)sub.len);
        if (sub.len > 0)
            ktx__w_raw(w, sub.p, sub.len);
    }
    ktx__w_free(&sub);
}

/* Writes the tagged-field section of a v3+ response: only fields that differ from their
 * defaults, in increasing tag order. */
static void w_av_tags(struct ktx__writer *w, const struct ktx__api_versions_resp *resp)
{
    bool present[4];
    uint32_t n = 0;

    present[AV_TAG_SUPPORTED_FEATURES] = resp->supported_features_count > 0;
    present[AV_TAG_FINALIZED_FEATURES_EPOCH] = resp->finalized_features_epoch != -1;
    present[AV_TAG_FINALIZED_FEATURES] = resp->finalized_features_count > 0;
    present[AV_TAG_ZK_MIGRATION_READY] = resp->zk_migration_ready;
    for (uint32_t tag = 0; tag < 4; tag++)
        n += present[tag];
    ktx__w_uvarint(w, n);
    for (uint32_t tag = 0; tag < 4; tag++) {
        if (present[tag])
            w_av_tag(w, tag, resp);
    }
}

int ktx__proto_api_versions_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__api_versions_resp *resp)
{
    bool flex = ver >= AV_FLEX;

    if (ver < AV_MIN || ver > AV_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i16(w, resp->error_code);
    ktx__w_array(w, resp->api_keys, resp->api_keys_count, flex, false);
    for (int32_t i = 0; i < resp->api_keys_count; i++) {
        ktx__w_i16(w, resp->api_keys[i].api_key);
        ktx__w_i16(w, resp->api_keys[i].min_version);
        ktx__w_i16(w, resp->api_keys[i].max_version);
        w_tags(w, flex);
    }
    if (ver >= 1)
        ktx__w_i32(w, resp->throttle_time_ms);
    if (flex)
        w_av_tags(w, resp);
    return w->err;
}

static void r_supported_features(struct ktx__reader *r, struct ktx__api_versions_resp *out,
                                 struct ktx__arena *arena)
{
    struct ktx__supported_feature *f =
        ktx__r_array(r, arena, true, false, 6, sizeof(*f), &out->supported_features_count);

    out->supported_features = f;
    for (int32_t i = 0; i < out->supported_features_count; i++) {
        f[i].name = ktx__r_string(r, true);
        f[i].min_version = ktx__r_i16(r);
        f[i].max_version = ktx__r_i16(r);
        ktx__r_tags_skip(r);
    }
}

static void r_finalized_features(struct ktx__reader *r, struct ktx__api_versions_resp *out,
                                 struct ktx__arena *arena)
{
    struct ktx__finalized_feature *f =
        ktx__r_array(r, arena, true, false, 6, sizeof(*f), &out->finalized_features_count);

    out->finalized_features = f;
    for (int32_t i = 0; i < out->finalized_features_count; i++) {
        f[i].name = ktx__r_string(r, true);
        f[i].max_version_level = ktx__r_i16(r);
        f[i].min_version_level = ktx__r_i16(r);
        ktx__r_tags_skip(r);
    }
}

/* Reads the tagged-field section of a v3+ response; unknown tags are skipped. Tags must
 * increase strictly and each known payload must be consumed exactly. */
static void r_av_tags(struct ktx__reader *r, struct ktx__api_versions_resp *out,
                      struct ktx__arena *arena)
{
    uint32_t n = ktx__r_uvarint(r);
    int64_t prev = -1;

    for (uint32_t i = 0; i < n && r->err == 0; i++) {
        uint32_t tag = 0;
        struct ktx__reader sub;

        ktx__r_tag(r, &tag, &sub);
        if ((int64_t)tag <= prev)
            ktx__r_fail(r);
        prev = tag;
        if (r->err != 0)
            break;
        if (tag == AV_TAG_SUPPORTED_FEATURES)
            r_supported_features(&sub, out, arena);
        else if (tag == AV_TAG_FINALIZED_FEATURES_EPOCH)
            out->finalized_features_epoch = ktx__r_i64(&sub);
        else if (tag == AV_TAG_FINALIZED_FEATURES)
            r_finalized_features(&sub, out, arena);
        else if (tag == AV_TAG_ZK_MIGRATION_READY)
            out->zk_migration_ready = ktx__r_bool(&sub);
        else
            continue;
        if (ktx__r_finish(&sub) != 0)
            ktx__r_fail(r);
    }
}

int ktx__proto_api_versions_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__api_versions_resp *out,
                                        struct ktx__arena *arena)
{
    bool flex = ver >= AV_FLEX;
    struct ktx__reader r;
    struct ktx__api_version *k;

    if (ver < AV_MIN || ver > AV_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    out->finalized_features_epoch = -1;
    ktx__r_init(&r, p, len);
    out->error_code = ktx__r_i16(&r);
    k = ktx__r_array(&r, arena, flex, false, flex ? 7 : 6, sizeof(*k), &out->api_keys_count);
    out->api_keys = k;
    for (int32_t i = 0; i < out->api_keys_count; i++) {
        k[i].api_key = ktx__r_i16(&r);
        k[i].min_version = ktx__r_i16(&r);
        k[i].max_version = ktx__r_i16(&r);
        r_tags(&r, flex);
    }
    if (ver >= 1)
        out->throttle_time_ms = ktx__r_i32(&r);
    if (flex)
        r_av_tags(&r, out, arena);
    return ktx__r_finish(&r);
}

/* Returns the broker's entry for |api_key| in |resp|, or NULL when it is not listed. */
static const struct ktx__api_version *av_find(const struct ktx__api_versions_resp *resp,
                                              int16_t api_key)
{
    for (int32_t i = 0; i < resp->api_keys_count; i++) {
        if (resp->api_keys[i].api_key == api_key)
            return &resp->api_keys[i];
    }
    return NULL;
}

int ktx__proto_api_versions_pick(const struct ktx__api_versions_resp *resp,
                                 int16_t out_versions[], size_t n)
{
    size_t count = 0;
    const struct ktx__api_info *apis = ktx__proto_apis(&count);
    int rc = 0;

    for (size_t i = 0; i < n; i++)
        out_versions[i] = -1;
    for (size_t i = 0; i < count; i++) {
        const struct ktx__api_version *av = av_find(resp, apis[i].api_key);

        if (apis[i].api_key < 0 || (size_t)apis[i].api_key >= n) {
            rc = KTX_ERR_INVALID_ARG;
            continue;
        }
        if (av != NULL)
            out_versions[apis[i].api_key] =
                ktx__proto_pick_version(apis[i].api_key, av->min_version, av->max_version);
    }
    return rc;
}

int16_t ktx__proto_api_versions_finalized_level(const struct ktx__api_versions_resp *resp,
                                                const char *name)
{
    for (int32_t i = 0; i < resp->finalized_features_count; i++) {
        if (ktx__str_eq_c(resp->finalized_features[i].name, name))
            return resp->finalized_features[i].max_version_level;
    }
    return 0;
}

/* ---- Metadata ---- */

int ktx__proto_metadata_req_encode(struct ktx__writer *w, int16_t ver,
                                   const struct ktx__metadata_req *req)
{
    bool flex = ver >= MD_FLEX;

    if (ver < MD_MIN || ver > MD_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_array(w, req->topics, req->topics_count, flex, true);
    for (int32_t i = 0; i < req->topics_count; i++) {
        if (ver >= 10) {
            ktx__w_uuid(w, req->topics[i].topic_id);
            ktx__w_nstring(w, req->topics[i].name, flex);
        } else {
            ktx__w_string(w, req->topics[i].name, flex);
        }
        w_tags(w, flex);
    }
    if (ver >= 4)
        ktx__w_bool(w, req->allow_auto_topic_creation);
    if (ver >= 8 && ver <= 10)
        ktx__w_bool(w, req->include_cluster_authorized_operations);
    if (ver >= 8)
        ktx__w_bool(w, req->include_topic_authorized_operations);
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_metadata_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__metadata_req *out, struct ktx__arena *arena)
{
    bool flex = ver >= MD_FLEX;
    struct ktx__reader r;
    struct ktx__metadata_req_topic *t;

    if (ver < MD_MIN || ver > MD_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    out->allow_auto_topic_creation = true;
    ktx__r_init(&r, p, len);
    t = ktx__r_array(&r, arena, flex, true, ver >= 10 ? 18 : 2, sizeof(*t), &out->topics_count);
    out->topics = t;
    for (int32_t i = 0; i < out->topics_count; i++) {
        if (ver >= 10) {
            t[i].topic_id = ktx__r_uuid(&r);
            t[i].name = ktx__r_nstring(&r, flex);
        } else {
            t[i].name = ktx__r_string(&r, flex);
        }
        r_tags(&r, flex);
    }
    if (ver >= 4)
        out->allow_auto_topic_creation = ktx__r_bool(&r);
    if (ver >= 8 && ver <= 10)
        out->include_cluster_authorized_operations = ktx__r_bool(&r);
    if (ver >= 8)
        out->include_topic_authorized_operations = ktx__r_bool(&r);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

static void w_md_broker(struct ktx__writer *w, int16_t ver, const struct ktx__metadata_broker *b)
{
    bool flex = ver >= MD_FLEX;

    ktx__w_i32(w, b->node_id);
    ktx__w_string(w, b->host, flex);
    ktx__w_i32(w, b->port);
    ktx__w_nstring(w, b->rack, flex);
    w_tags(w, flex);
}

static void w_md_partition(struct ktx__writer *w, int16_t ver,
                           const struct ktx__metadata_partition *part)
{
    bool flex = ver >= MD_FLEX;

    ktx__w_i16(w, part->error_code);
    ktx__w_i32(w, part->partition_index);
    ktx__w_i32(w, part->leader_id);
    if (ver >= 7)
        ktx__w_i32(w, part->leader_epoch);
    ktx__w_i32_array(w, part->replica_nodes, part->replica_nodes_count, flex, false);
    ktx__w_i32_array(w, part->isr_nodes, part->isr_nodes_count, flex, false);
    if (ver >= 5)
        ktx__w_i32_array(w, part->offline_replicas, part->offline_replicas_count, flex, false);
    w_tags(w, flex);
}

static void w_md_topic(struct ktx__writer *w, int16_t ver, const struct ktx__metadata_topic *t)
{
    bool flex = ver >= MD_FLEX;

    ktx__w_i16(w, t->error_code);
    if (ver >= 12)
        ktx__w_nstring(w, t->name, flex);
    else
        ktx__w_string(w, t->name, flex);
    if (ver >= 10)
        ktx__w_uuid(w, t->topic_id);
    ktx__w_bool(w, t->is_internal);
    ktx__w_array(w, t->partitions, t->partitions_count, flex, false);
    for (int32_t i = 0; i < t->partitions_count; i++)
        w_md_partition(w, ver, &t->partitions[i]);
    if (ver >= 8)
        ktx__w_i32(w, t->topic_authorized_operations);
    w_tags(w, flex);
}

int ktx__proto_metadata_resp_encode(struct ktx__writer *w, int16_t ver,
                                    const struct ktx__metadata_resp *resp)
{
    bool flex = ver >= MD_FLEX;

    if (ver < MD_MIN || ver > MD_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver >= 3)
        ktx__w_i32(w, resp->throttle_time_ms);
    ktx__w_array(w, resp->brokers, resp->brokers_count, flex, false);
    for (int32_t i = 0; i < resp->brokers_count; i++)
        w_md_broker(w, ver, &resp->brokers[i]);
    if (ver >= 2)
        ktx__w_nstring(w, resp->cluster_id, flex);
    ktx__w_i32(w, resp->controller_id);
    ktx__w_array(w, resp->topics, resp->topics_count, flex, false);
    for (int32_t i = 0; i < resp->topics_count; i++)
        w_md_topic(w, ver, &resp->topics[i]);
    if (ver >= 8 && ver <= 10)
        ktx__w_i32(w, resp->cluster_authorized_operations);
    w_tags(w, flex);
    return w->err;
}

static void r_md_broker(struct ktx__reader *r, int16_t ver, struct ktx__metadata_broker *b)
{
    bool flex = ver >= MD_FLEX;

    b->node_id = ktx__r_i32(r);
    b->host = ktx__r_string(r, flex);
    b->port = ktx__r_i32(r);
    b->rack = ktx__r_nstring(r, flex);
    r_tags(r, flex);
}

static void r_md_partition(struct ktx__reader *r, int16_t ver, struct ktx__arena *arena,
                           struct ktx__metadata_partition *part)
{
    bool flex = ver >= MD_FLEX;

    part->error_code = ktx__r_i16(r);
    part->partition_index = ktx__r_i32(r);
    part->leader_id = ktx__r_i32(r);
    part->leader_epoch = ver >= 7 ? ktx__r_i32(r) : -1;
    part->replica_nodes = ktx__r_i32_array(r, arena, flex, false, &part->replica_nodes_count);
    part->isr_nodes = ktx__r_i32_array(r, arena, flex, false, &part->isr_nodes_count);
    if (ver >= 5)
        part->offline_replicas =
            ktx__r_i32_array(r, arena, flex, false, &part->offline_replicas_count);
    r_tags(r, flex);
}

static void r_md_topic(struct ktx__reader *r, int16_t ver, struct ktx__arena *arena,
                       struct ktx__metadata_topic *t)
{
    bool flex = ver >= MD_FLEX;
    struct ktx__metadata_partition *parts;

    t->error_code = ktx__r_i16(r);
    t->name = ver >= 12 ? ktx__r_nstring(r, flex) : ktx__r_string(r, flex);
    if (ver >= 10)
        t->topic_id = ktx__r_uuid(r);
    t->is_internal = ktx__r_bool(r);
    parts = ktx__r_array(r, arena, flex, false, flex ? 13 : 18, sizeof(*parts), &t->partitions_count);
    t->partitions = parts;
    for (int32_t i = 0; i < t->partitions_count; i++)
        r_md_partition(r, ver, arena, &parts[i]);
    t->topic_authorized_operations = ver >= 8 ? ktx__r_i32(r) : INT32_MIN;
    r_tags(r, flex);
}

int ktx__proto_metadata_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                    struct ktx__metadata_resp *out, struct ktx__arena *arena)
{
    bool flex = ver >= MD_FLEX;
    struct ktx__reader r;

    if (ver < MD_MIN || ver > MD_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    out->cluster_id.len = -1;
    out->cluster_authorized_operations = INT32_MIN;
    ktx__r_init(&r, p, len);
    if (ver >= 3)
        out->throttle_time_ms = ktx__r_i32(&r);
    out->brokers = ktx__r_array(&r, arena, flex, false, flex ? 11 : 12, sizeof(*out->brokers), &out->brokers_count);
    for (int32_t i = 0; i < out->brokers_count; i++)
        r_md_broker(&r, ver, &out->brokers[i]);
    if (ver >= 2)
        out->cluster_id = ktx__r_nstring(&r, flex);
    out->controller_id = ktx__r_i32(&r);
    out->topics = ktx__r_array(&r, arena, flex, false, flex ? 6 : 9, sizeof(*out->topics), &out->topics_count);
    for (int32_t i = 0; i < out->topics_count; i++)
        r_md_topic(&r, ver, arena, &out->topics[i]);
    if (ver >= 8 && ver <= 10)
        out->cluster_authorized_operations = ktx__r_i32(&r);
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

/* ---- FindCoordinator ---- */

int ktx__proto_find_coordinator_req_encode(struct ktx__writer *w, int16_t ver,
                                           const struct ktx__find_coordinator_req *req)
{
    bool flex = ver >= FC_FLEX;

    if (ver < FC_MIN || ver > FC_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver <= 3) {
        if (req->coordinator_keys_count > 1)
            return KTX_ERR_UNSUPPORTED;
        ktx__w_string(w, req->coordinator_keys_count == 1 ? req->coordinator_keys[0] : req->key,
                      flex);
        ktx__w_i8(w, req->key_type);
    } else {
        ktx__w_i8(w, req->key_type);
        if (req->coordinator_keys_count > 0) {
            ktx__w_str_array(w, req->coordinator_keys, req->coordinator_keys_count, flex);
        } else {
            ktx__w_array_len(w, 1, flex);
            ktx__w_string(w, req->key, flex);
        }
    }
    w_tags(w, flex);
    return w->err;
}

int ktx__proto_find_coordinator_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                           struct ktx__find_coordinator_req *out,
                                           struct ktx__arena *arena)
{
    bool flex = ver >= FC_FLEX;
    struct ktx__reader r;

    if (ver < FC_MIN || ver > FC_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    if (ver <= 3) {
        out->key = ktx__r_string(&r, flex);
        out->key_type = ktx__r_i8(&r);
    } else {
        out->key_type = ktx__r_i8(&r);
        out->coordinator_keys =
            ktx__r_str_array(&r, arena, flex, &out->coordinator_keys_count);
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

static void w_fc_coordinator(struct ktx__writer *w, const struct ktx__coordinator *c)
{
    ktx__w_string(w, c->key, true);
    ktx__w_i32(w, c->node_id);
    ktx__w_string(w, c->host, true);
    ktx__w_i32(w, c->port);
    ktx__w_i16(w, c->error_code);
    ktx__w_nstring(w, c->error_message, true);
    ktx__w_tags_empty(w);
}

/* Writes the single-coordinator body of v1-3. */
static void w_fc_single(struct ktx__writer *w, bool flex, int16_t error_code,
                        struct ktx__str error_message, int32_t node_id, struct ktx__str host,
                        int32_t port)
{
    ktx__w_i16(w, error_code);
    ktx__w_nstring(w, error_message, flex);
    ktx__w_i32(w, node_id);
    ktx__w_string(w, host, flex);
    ktx__w_i32(w, port);
}

int ktx__proto_find_coordinator_resp_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__find_coordinator_resp *resp)
{
    bool flex = ver >= FC_FLEX;

    if (ver < FC_MIN || ver > FC_MAX)
        return KTX_ERR_UNSUPPORTED;
    if (ver <= 3 && resp->coordinators_count > 1)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i32(w, resp->throttle_time_ms);
    if (ver <= 3 && resp->coordinators_count == 1) {
        const struct ktx__coordinator *c = &resp->coordinators[0];
        w_fc_single(w, flex, c->error_code, c->error_message, c->node_id, c->host, c->port);
    } else if (ver <= 3) {
        w_fc_single(w, flex, resp->error_code, resp->error_message, resp->node_id, resp->host,
                    resp->port);
    } else {
        ktx__w_array(w, resp->coordinators, resp->coordinators_count, true, false);
        for (int32_t i = 0; i < resp->coordinators_count; i++)
            w_fc_coordinator(w, &resp->coordinators[i]);
    }
    w_tags(w, flex);
    return w->err;
}

static void r_fc_coordinator(struct ktx__reader *r, struct ktx__coordinator *c)
{
    c->key = ktx__r_string(r, true);
    c->node_id = ktx__r_i32(r);
    c->host = ktx__r_string(r, true);
    c->port = ktx__r_i32(r);
    c->error_code = ktx__r_i16(r);
    c->error_message = ktx__r_nstring(r, true);
    ktx__r_tags_skip(r);
}

int ktx__proto_find_coordinator_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__find_coordinator_resp *out,
                                            struct ktx__arena *arena)
{
    bool flex = ver >= FC_FLEX;
    struct ktx__reader r;

    if (ver < FC_MIN || ver > FC_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    out->error_message.len = -1;
    ktx__r_init(&r, p, len);
    out->throttle_time_ms = ktx__r_i32(&r);
    if (ver <= 3) {
        out->error_code = ktx__r_i16(&r);
        out->error_message = ktx__r_nstring(&r, flex);
        out->node_id = ktx__r_i32(&r);
        out->host = ktx__r_string(&r, flex);
        out->port = ktx__r_i32(&r);
    } else {
        out->coordinators = ktx__r_array(&r, arena, true, false, 14, sizeof(*out->coordinators), &out->coordinators_count);
        for (int32_t i = 0; i < out->coordinators_count; i++)
            r_fc_coordinator(&r, &out->coordinators[i]);
    }
    r_tags(&r, flex);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(api_versions, KTX__API_API_VERSIONS);
KTX__PROTO_CODEC_DEFINE(metadata, KTX__API_METADATA);
KTX__PROTO_CODEC_DEFINE(find_coordinator, KTX__API_FIND_COORDINATOR);
