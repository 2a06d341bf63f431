/*
 * ktx-broker request dispatch, shared handler helpers, and the cluster-level APIs:
 * ApiVersions, Metadata and FindCoordinator. See handlers.h.
 */
#include "handlers_int.h"

#include "proto_meta.h"
#include "proto_sasl.h"

#include <string.h>

#define BROKER_HOST "127.0.0.1"
#define CLUSTER_ID "ktx-broker-cluster"
#define ARENA_CEILING ((size_t)64 << 20)

char *kb_h_cstr(struct kb_req_ctx *ctx, struct ktx__str s)
{
    return s.len < 0 ? NULL : ktx__arena_strdup(ctx->arena, s);
}

void *kb_h_alloc(struct kb_req_ctx *ctx, int32_t n, size_t size)
{
    return ktx__arena_alloc(ctx->arena, (n > 0 ? (size_t)n : 1) * size);
}

struct kb_partition *kb_h_led_partition(struct kb_req_ctx *ctx, struct ktx__str topic,
                                        int32_t index, int16_t *err)
{
    struct kb_topic *t = topic.len < 0 ? NULL : kb_cluster_topic(ctx->c, topic.ptr, (size_t)topic.len);
    struct kb_partition *p = kb_cluster_partition(t, index);

    *err = 0;
    if (!p)
        *err = KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    else if (p->leader != ctx->node_id)
        *err = KTX_ERR_NOT_LEADER_OR_FOLLOWER;
    return *err ? NULL : p;
}

int16_t kb_h_check_coordinator(struct kb_req_ctx *ctx, int8_t key_type, struct ktx__str key)
{
    if (key.len < 0)
        return KTX_ERR_INVALID_REQUEST;
    if (kb_cluster_coordinator(ctx->c, key_type, key.ptr, (size_t)key.len) != ctx->node_id)
        return KTX_ERR_NOT_COORDINATOR;
    return 0;
}

/*
 * The lowest version the broker serves of |api|: kafkatx's codecs start at v1 for
 * FindCoordinator, but librdkafka only enables its group coordinator (and with it
 * send_offsets_to_transaction) when a broker lists FindCoordinator v0, which this file
 * serves itself.
 */
static int16_t broker_min_ver(const struct ktx__api_info *api)
{
    return api->api_key == KTX__API_FIND_COORDINATOR ? 0 : api->min_ver;
}

/* ---- ApiVersions ---- */

/* Answers ApiVersions; a version kafkatx does not speak gets a v0 body with
 * UNSUPPORTED_VERSION and the list, so that the client can retry. */
static int h_api_versions(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                          struct ktx__writer *w)
{
    struct ktx__api_versions_resp resp;
    struct ktx__finalized_feature txn_version = {ktx__str_c("transaction.version"), 2, 2};
    size_t n;
    const struct ktx__api_info *apis = ktx__proto_apis(&n);
    int16_t ver = ctx->ver;

    memset(&resp, 0, sizeof(resp));
    resp.finalized_features_epoch = -1;
    if (ver < 0 || ver > 4) {
        resp.error_code = KTX_ERR_UNSUPPORTED_VERSION;
        ver = 0;
    }
    resp.api_keys = kb_h_alloc(ctx, (int32_t)n, sizeof(*resp.api_keys));
    if (!resp.api_keys)
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        resp.api_keys[i] = (struct ktx__api_version){apis[i].api_key, broker_min_ver(&apis[i]), apis[i].max_ver};
    resp.api_keys_count = (int32_t)n;
    if (ctx->c->txncoord.conf.v2) {
        resp.finalized_features = &txn_version;
        resp.finalized_features_count = 1;
        resp.finalized_features_epoch = 1;
    }
    if (ctx->forced && !resp.error_code)
        resp.error_code = ctx->forced;
    return ktx__proto_api_versions_resp_encode(w, ver, &resp);
}

/* ---- Metadata ---- */

static void fill_brokers(struct kb_req_ctx *ctx, struct ktx__metadata_resp *resp)
{
    const struct kb_cluster *c = ctx->c;

    resp->brokers = kb_h_alloc(ctx, c->n_brokers, sizeof(*resp->brokers));
    resp->controller_id = -1;
    for (int32_t i = 0; resp->brokers && i < c->n_brokers; i++) {
        struct ktx__metadata_broker *b;
        if (!c->brokers[i].up)
            continue;
        b = &resp->brokers[resp->brokers_count++];
        b->node_id = c->brokers[i].node_id;
        b->host = ktx__str_c(BROKER_HOST);
        b->port = c->brokers[i].port;
        b->rack = ktx__str_c(NULL);
        if (resp->controller_id < 0)
            resp->controller_id = b->node_id;
    }
}

/* Fills the replica, ISR and offline lists of partition |p| of |topic|. */
static void fill_partition(struct kb_req_ctx *ctx, const struct kb_topic *topic,
                           const struct kb_partition *p, struct ktx__metadata_partition *out)
{
    int32_t n = topic->replication;
    /* Without a leader (`leader T P -1`) the replicas stay where creation put them. */
    int32_t first = p->leader > 0 ? p->leader - 1 : p->index % ctx->c->n_brokers;

    out->partition_index = p->index;
    out->leader_epoch = p->leader_epoch;
    out->replica_nodes = kb_h_alloc(ctx, n, sizeof(int32_t));
    out->isr_nodes = kb_h_alloc(ctx, n, sizeof(int32_t));
    out->offline_replicas = kb_h_alloc(ctx, n, sizeof(int32_t));
    if (!out->replica_nodes || !out->isr_nodes || !out->offline_replicas)
        return;
    for (int32_t i = 0; i < n; i++) {
        int32_t id = (first + i) % ctx->c->n_brokers + 1;
        out->replica_nodes[out->replica_nodes_count++] = id;
        if (kb_cluster_broker_up(ctx->c, id))
            out->isr_nodes[out->isr_nodes_count++] = id;
        else
            out->offline_replicas[out->offline_replicas_count++] = id;
    }
    out->leader_id = kb_cluster_broker_up(ctx->c, p->leader) ? p->leader : -1;
    out->error_code = out->leader_id < 0 ? KTX_ERR_LEADER_NOT_AVAILABLE : 0;
}

static void fill_topic(struct kb_req_ctx *ctx, const struct kb_topic *topic,
                       struct ktx__metadata_topic *out)
{
    out->name = ktx__str_c(topic->name);
    out->topic_id = topic->topic_id;
    out->topic_authorized_operations = INT32_MIN;
    out->partitions = kb_h_alloc(ctx, topic->n_partitions, sizeof(*out->partitions));
    for (int32_t i = 0; out->partitions && i < topic->n_partitions; i++)
        fill_partition(ctx, topic, &topic->partitions[i], &out->partitions[out->partitions_count++]);
    if (ctx->forced)
        out->error_code = ctx->forced;
}

/* Finds (or, when allowed, creates) the topic a Metadata request names. */
static struct kb_topic *lookup_topic(struct kb_req_ctx *ctx, const struct ktx__metadata_req *req,
                                     const struct ktx__metadata_req_topic *rt)
{
    struct kb_cluster *c = ctx->c;
    struct kb_topic *t;
    char *name;

    if (rt->name.len < 0)
        return kb_cluster_topic_by_id(c, rt->topic_id);
    t = kb_cluster_topic(c, rt->name.ptr, (size_t)rt->name.len);
    if (t || !req->allow_auto_topic_creation || c->auto_create_partitions <= 0)
        return t;
    name = kb_h_cstr(ctx, rt->name);
    if (!name || kb_cluster_add_topic(c, name, c->auto_create_partitions, 1) != 0)
        return NULL;
    return kb_cluster_topic(c, rt->name.ptr, (size_t)rt->name.len);
}

static void fill_topics(struct kb_req_ctx *ctx, const struct ktx__metadata_req *req,
                        struct ktx__metadata_resp *resp)
{
    bool all = req->topics_count < 0;
    int32_t n = all ? (int32_t)ctx->c->n_topics : req->topics_count;

    resp->topics = kb_h_alloc(ctx, n, sizeof(*resp->topics));
    for (int32_t i = 0; resp->topics && i < n; i++) {
        struct ktx__metadata_topic *out = &resp->topics[resp->topics_count++];
        const struct kb_topic *t = all ? &ctx->c->topics[i] : lookup_topic(ctx, req, &req->topics[i]);
        if (t) {
            fill_topic(ctx, t, out);
            continue;
        }
        out->error_code = KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        out->name = req->topics[i].name;
        out->topic_id = req->topics[i].topic_id;
        out->topic_authorized_operations = INT32_MIN;
    }
}

static int h_metadata(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__metadata_req req;
    struct ktx__metadata_resp resp;
    int err = ktx__proto_metadata_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.cluster_id = ktx__str_c(CLUSTER_ID);
    resp.cluster_authorized_operations = INT32_MIN;
    fill_brokers(ctx, &resp);
    fill_topics(ctx, &req, &resp);
    if (!resp.brokers || !resp.topics)
        return KTX_ERR_NO_MEMORY;
    return ktx__proto_metadata_resp_encode(w, ctx->ver, &resp);
}

/* ---- FindCoordinator ---- */

static void find_one(struct kb_req_ctx *ctx, int8_t key_type, struct ktx__str key,
                     struct ktx__coordinator *out)
{
    int32_t node = key.len < 0 ? -1 : kb_cluster_coordinator(ctx->c, key_type, key.ptr, (size_t)key.len);

    out->key = key;
    out->error_message = ktx__str_c(NULL);
    out->error_code = ctx->forced;
    if (!out->error_code && !kb_cluster_broker_up(ctx->c, node))
        out->error_code = KTX_ERR_COORDINATOR_NOT_AVAILABLE;
    if (out->error_code) {
        out->node_id = -1;
        out->host = ktx__str_c("");
        out->port = -1;
        return;
    }
    out->node_id = node;
    out->host = ktx__str_c(BROKER_HOST);
    out->port = kb_cluster_broker(ctx->c, node)->port;
}

/* FindCoordinator v0 (a group key in, error/node/host/port out), outside kafkatx's codecs. */
static int h_find_coordinator_v0(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                                 struct ktx__writer *w)
{
    struct ktx__reader r;
    struct ktx__str key;
    struct ktx__coordinator co;

    ktx__r_init(&r, body, len);
    key = ktx__r_string(&r, false);
    if (ktx__r_finish(&r))
        return KTX_ERR_BAD_MSG;
    find_one(ctx, KTX__COORDINATOR_GROUP, key, &co);
    ktx__w_i16(w, co.error_code);
    ktx__w_i32(w, co.node_id);
    ktx__w_string(w, co.host, false);
    ktx__w_i32(w, co.port);
    return w->err;
}

static int h_find_coordinator(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                              struct ktx__writer *w)
{
    struct ktx__find_coordinator_req req;
    struct ktx__find_coordinator_resp resp;
    int err;
    int32_t n;

    if (ctx->ver == 0)
        return h_find_coordinator_v0(ctx, body, len, w);
    err = ktx__proto_find_coordinator_req_decode(body, len, ctx->ver, &req, ctx->arena);
    if (err)
        return err;
    n = ctx->ver >= 4 ? req.coordinator_keys_count : 1;
    memset(&resp, 0, sizeof(resp));
    resp.coordinators = kb_h_alloc(ctx, n, sizeof(*resp.coordinators));
    if (!resp.coordinators)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < n; i++)
        find_one(ctx, req.key_type, ctx->ver >= 4 ? req.coordinator_keys[i] : req.key,
                 &resp.coordinators[i]);
    resp.coordinators_count = n;
    return ktx__proto_find_coordinator_resp_encode(w, ctx->ver, &resp);
}

/* ---- SaslHandshake and SaslAuthenticate on a listener without SASL ---- */

/*
 * A listener without SASL answers SaslHandshake with UNSUPPORTED_SASL_MECHANISM and no
 * mechanism, and SaslAuthenticate with ILLEGAL_SASL_STATE, as Kafka does. Listeners with
 * SASL answer both in bsasl.c (kb_sasl_handle_request()), which holds the connection's state.
 */
static int h_sasl_handshake(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                            struct ktx__writer *w)
{
    struct ktx__sasl_handshake_req req;
    struct ktx__sasl_handshake_resp resp;
    int err = ktx__proto_sasl_handshake_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.error_code = ctx->forced ? ctx->forced : KTX_ERR_UNSUPPORTED_SASL_MECHANISM;
    return ktx__proto_sasl_handshake_resp_encode(w, ctx->ver, &resp);
}

static int h_sasl_authenticate(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                               struct ktx__writer *w)
{
    struct ktx__sasl_authenticate_req req;
    struct ktx__sasl_authenticate_resp resp;
    int err = ktx__proto_sasl_authenticate_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.error_code = ctx->forced ? ctx->forced : KTX_ERR_ILLEGAL_SASL_STATE;
    resp.error_message = ktx__str_c("SASL is not enabled on this listener");
    resp.auth_bytes = (struct ktx__bytes){(const uint8_t *)"", 0};
    return ktx__proto_sasl_authenticate_resp_encode(w, ctx->ver, &resp);
}

/* ---- dispatch ---- */

static const struct {
    int16_t api_key;
    kb_handler_fn fn;
} handlers[] = {
    {KTX__API_PRODUCE, kb_h_produce},
    {KTX__API_FETCH, kb_h_fetch},
    {KTX__API_LIST_OFFSETS, kb_h_list_offsets},
    {KTX__API_METADATA, h_metadata},
    {KTX__API_OFFSET_COMMIT, kb_h_offset_commit},
    {KTX__API_OFFSET_FETCH, kb_h_offset_fetch},
    {KTX__API_FIND_COORDINATOR, h_find_coordinator},
    {KTX__API_API_VERSIONS, h_api_versions},
    {KTX__API_INIT_PRODUCER_ID, kb_h_init_producer_id},
    {KTX__API_ADD_PARTITIONS_TO_TXN, kb_h_add_partitions_to_txn},
    {KTX__API_ADD_OFFSETS_TO_TXN, kb_h_add_offsets_to_txn},
    {KTX__API_END_TXN, kb_h_end_txn},
    {KTX__API_TXN_OFFSET_COMMIT, kb_h_txn_offset_commit},
    {KTX__API_DESCRIBE_PRODUCERS, kb_h_describe_producers},
    {KTX__API_DESCRIBE_TRANSACTIONS, kb_h_describe_transactions},
    {KTX__API_SASL_HANDSHAKE, h_sasl_handshake},
    {KTX__API_SASL_AUTHENTICATE, h_sasl_authenticate},
};

static kb_handler_fn find_handler(int16_t api_key)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(handlers); i++)
        if (handlers[i].api_key == api_key)
            return handlers[i].fn;
    return NULL;
}

/* True when the broker answers |hdr|: a known API at a version kafkatx speaks
 * (ApiVersions is answered at any version). */
static bool answerable(const struct ktx__req_header *hdr)
{
    const struct ktx__api_info *api = ktx__proto_api(hdr->request_api_key);

    if (!api || !find_handler(hdr->request_api_key))
        return false;
    return hdr->request_api_key == KTX__API_API_VERSIONS ||
           (hdr->request_api_version >= broker_min_ver(api) && hdr->request_api_version <= api->max_ver);
}

int kb_handle_request(struct kb_cluster *c, int32_t node_id, const uint8_t *req, size_t len,
                      int64_t now_ms, struct ktx__writer *out, struct kb_reply *reply)
{
    struct ktx__req_header hdr;
    struct ktx__reader r;
    struct ktx__arena arena;
    struct kb_req_ctx ctx;
    int16_t resp_ver;
    int err;

    reply->send = true;
    reply->delay_ms = 0;
    ktx__r_init(&r, req, len);
    if (ktx__proto_req_header_decode(&r, &hdr) || !kb_cluster_broker(c, node_id))
        return KTX_ERR_BAD_MSG;
    if (!answerable(&hdr))
        return KTX_ERR_UNSUPPORTED;
    memset(&ctx, 0, sizeof(ctx));
    ctx.c = c;
    ctx.node_id = node_id;
    ctx.api_key = hdr.request_api_key;
    ctx.ver = hdr.request_api_version;
    ctx.now_ms = now_ms;
    ctx.reply = reply;
    ctx.arena = &arena;
    kb_cluster_faults(c, node_id, hdr.request_api_key, &ctx.forced, &reply->delay_ms);
    if (ctx.forced == KB_FAULT_DROP)
        return KTX_ERR_TRANSPORT; /* `err API COUNT -1`: drop the connection */
    bool drop_after = ctx.forced == KB_FAULT_APPLY_THEN_DROP;
    if (drop_after)
        ctx.forced = 0;
    resp_ver = hdr.request_api_key == KTX__API_API_VERSIONS && (ctx.ver < 0 || ctx.ver > 4) ? 0 : ctx.ver;
    ktx__arena_init(&arena, ARENA_CEILING);
    ktx__proto_resp_header_encode(out, hdr.request_api_key, resp_ver, hdr.correlation_id);
    err = find_handler(hdr.request_api_key)(&ctx, req + r.pos, len - r.pos, out);
    ktx__arena_free(&arena);
    if (!err && !reply->send)
        ktx__w_reset(out);
    /* `berr B API -2 0`: the request took effect, but its answer is lost with the
     * connection, so that the client retries something the broker already applied. */
    return !err && drop_after ? KTX_ERR_TRANSPORT : err;
}
