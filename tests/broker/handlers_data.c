/*
 * ktx-broker handlers for the data and offset APIs: Produce, Fetch, ListOffsets,
 * OffsetCommit and OffsetFetch. Each one decodes, applies each partition to its log
 * (plog.c) or to the group store (groups.c), and encodes.
 */
#include "handlers_int.h"

#include "proto_fetch.h"
#include "proto_group.h"
#include "proto_produce.h"

#include <stdlib.h>
#include <string.h>

#define KEY_GROUP 0
#define MAX_FETCH_WAIT_MS 500
#define LEADER_HOST "127.0.0.1" /* every broker listens there (handlers.c's BROKER_HOST) */

/* ---- Produce ---- */

/* Transactions v1: the partition must have been added to the producer's transaction. */
static int16_t verify_txn_v1(struct kb_req_ctx *ctx, const char *txn_id, const char *topic,
                             const struct kb_batch_hdr *hdr, int32_t partition)
{
    const struct kb_txn *txn = kb_txncoord_find(&ctx->c->txncoord, txn_id);

    if (!txn || txn->producer_id != hdr->producer_id)
        return KTX_ERR_INVALID_PRODUCER_ID_MAPPING;
    if (hdr->producer_epoch < txn->producer_epoch)
        return KTX_ERR_INVALID_PRODUCER_EPOCH;
    if (txn->state != KB_TXN_ONGOING || hdr->producer_epoch != txn->producer_epoch)
        return KTX_ERR_INVALID_TXN_STATE;
    for (size_t i = 0; i < txn->n_partitions; i++)
        if (txn->partitions[i].partition == partition && strcmp(txn->partitions[i].topic, topic) == 0)
            return 0;
    return KTX_ERR_INVALID_TXN_STATE;
}

/* Checks (v1) or adds (v2, KIP-890) the partition of a transactional batch. */
static int16_t verify_txn(struct kb_req_ctx *ctx, const char *txn_id, const struct kb_topic *topic,
                          const struct kb_batch_hdr *hdr, int32_t partition)
{
    struct kb_tp tp = {topic->name, partition};
    int err;

    if (!kb_batch_is_transactional(hdr))
        return 0;
    if (!txn_id)
        return KTX_ERR_INVALID_TXN_STATE;
    if (!ctx->c->txncoord.conf.v2)
        return verify_txn_v1(ctx, txn_id, topic->name, hdr, partition);
    err = kb_txncoord_add_partitions(&ctx->c->txncoord, txn_id, hdr->producer_id, hdr->producer_epoch,
                                     &tp, 1, ctx->now_ms);
    ctx->c->dirty_state = true;
    return err == KTX_ERR_PRODUCER_FENCED ? KTX_ERR_INVALID_PRODUCER_EPOCH : (int16_t)err;
}

/* Appends every batch of |records| to |p|; the response gets the first batch's offset. */
static int16_t append_records(struct kb_req_ctx *ctx, const char *txn_id, const struct kb_topic *topic,
                              struct kb_partition *p, struct ktx__bytes records,
                              struct ktx__produce_partition_resp *out)
{
    size_t pos = 0, len = records.len > 0 ? (size_t)records.len : 0;

    if (len == 0)
        return KTX_ERR_CORRUPT_MESSAGE;
    while (pos < len) {
        struct kb_batch_hdr hdr;
        struct kb_plog_append_result res;
        int16_t err = (int16_t)kb_batch_parse(records.ptr + pos, len - pos, &hdr);
        if (!err)
            err = verify_txn(ctx, txn_id, topic, &hdr, p->index);
        if (!err)
            err = (int16_t)kb_plog_append(&p->log, records.ptr + pos, kb_batch_size(&hdr), &res);
        if (err)
            return err == KTX_ERR_NO_MEMORY ? KTX_ERR_UNKNOWN_SERVER_ERROR : err;
        if (pos == 0)
            out->base_offset = res.base_offset;
        pos += kb_batch_size(&hdr);
    }
    return 0;
}

static void produce_partition(struct kb_req_ctx *ctx, const char *txn_id, struct ktx__str topic_name,
                              const struct ktx__produce_partition_data *pd,
                              struct ktx__produce_partition_resp *out)
{
    int16_t err = ctx->forced;
    struct kb_partition *p = err ? NULL : kb_h_led_partition(ctx, topic_name, pd->index, &err);

    out->index = pd->index;
    out->base_offset = -1;
    out->log_append_time_ms = -1;
    out->log_start_offset = -1;
    out->error_message = ktx__str_c(NULL);
    out->current_leader = (struct ktx__leader_id_and_epoch){-1, -1};
    if (p)
        err = append_records(ctx, txn_id, kb_cluster_topic(ctx->c, topic_name.ptr, (size_t)topic_name.len),
                             p, pd->records, out);
    if (p)
        out->log_start_offset = p->log.log_start_offset;
    out->error_code = err;
    if (err)
        out->base_offset = -1;
    if (err == KTX_ERR_NOT_LEADER_OR_FOLLOWER && !ctx->forced) {
        /* KIP-951: tell where the leadership went (Produce v10+ encodes it). */
        struct kb_partition *led = kb_cluster_partition(
            kb_cluster_topic(ctx->c, topic_name.ptr, (size_t)topic_name.len), pd->index);

        if (led && led->leader >= 0)
            out->current_leader = (struct ktx__leader_id_and_epoch){led->leader, led->leader_epoch};
    }
}

/* KIP-951: the NodeEndpoints of every leader named in a CurrentLeader of |resp|, once each
 * (Produce v10+). Returns 0 or KTX_ERR_NO_MEMORY. */
static int add_leader_endpoints(struct kb_req_ctx *ctx, struct ktx__produce_resp *resp)
{
    int32_t n = 0, cap = 0;

    for (int32_t t = 0; t < resp->responses_count; t++)
        cap += resp->responses[t].partition_responses_count;
    if (ctx->ver < 10 || cap == 0 || !(resp->node_endpoints = kb_h_alloc(ctx, cap, sizeof(*resp->node_endpoints))))
        return ctx->ver < 10 || cap == 0 ? 0 : KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < resp->responses_count; t++) {
        for (int32_t i = 0; i < resp->responses[t].partition_responses_count; i++) {
            int32_t node = resp->responses[t].partition_responses[i].current_leader.leader_id;
            const struct kb_broker *b = node >= 0 ? kb_cluster_broker(ctx->c, node) : NULL;
            bool seen = false;

            for (int32_t k = 0; k < n && !seen; k++)
                seen = resp->node_endpoints[k].node_id == node;
            if (!b || seen)
                continue;
            resp->node_endpoints[n++] = (struct ktx__node_endpoint){node, ktx__str_c(LEADER_HOST), b->port,
                                                                    ktx__str_c(NULL)};
        }
    }
    resp->node_endpoints_count = n;
    return 0;
}

int kb_h_produce(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__produce_req req;
    struct ktx__produce_resp resp;
    int err = ktx__proto_produce_req_decode(body, len, ctx->ver, &req, ctx->arena);
    char *txn_id;

    if (err)
        return err;
    txn_id = kb_h_cstr(ctx, req.transactional_id);
    memset(&resp, 0, sizeof(resp));
    resp.responses = kb_h_alloc(ctx, req.topic_data_count, sizeof(*resp.responses));
    if (!resp.responses)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topic_data_count; t++) {
        const struct ktx__produce_topic_data *td = &req.topic_data[t];
        struct ktx__produce_topic_resp *tr = &resp.responses[t];
        tr->name = td->name;
        tr->partition_responses = kb_h_alloc(ctx, td->partition_data_count, sizeof(*tr->partition_responses));
        if (!tr->partition_responses)
            return KTX_ERR_NO_MEMORY;
        tr->partition_responses_count = td->partition_data_count;
        for (int32_t i = 0; i < td->partition_data_count; i++)
            produce_partition(ctx, txn_id, td->name, &td->partition_data[i], &tr->partition_responses[i]);
    }
    resp.responses_count = req.topic_data_count;
    if ((err = add_leader_endpoints(ctx, &resp)) != 0)
        return err;
    ctx->reply->send = req.acks != 0;
    return ktx__proto_produce_resp_encode(w, ctx->ver, &resp);
}

/* ---- Fetch ---- */

/* Copies the aborted transactions of |rd| into the request arena. */
static void copy_aborted(struct kb_req_ctx *ctx, const struct kb_plog_read *rd,
                         struct ktx__fetch_partition_resp *out)
{
    out->aborted_transactions = kb_h_alloc(ctx, (int32_t)rd->n_aborted, sizeof(*out->aborted_transactions));
    if (!out->aborted_transactions)
        return;
    for (size_t i = 0; i < rd->n_aborted; i++) {
        out->aborted_transactions[i].producer_id = rd->aborted[i].producer_id;
        out->aborted_transactions[i].first_offset = rd->aborted[i].first_offset;
    }
    out->aborted_transactions_count = (int32_t)rd->n_aborted;
}

/* Reads one partition; |*budget| is what is left of the response's max_bytes. */
static void fetch_partition(struct kb_req_ctx *ctx, const struct ktx__fetch_req *req, struct ktx__str topic,
                            const struct ktx__fetch_partition *fp, size_t *budget,
                            struct ktx__fetch_partition_resp *out)
{
    int16_t err = ctx->forced;
    struct kb_partition *p = err ? NULL : kb_h_led_partition(ctx, topic, fp->partition, &err);
    struct kb_plog_read rd;
    size_t max = (size_t)KTX__MAX(fp->partition_max_bytes, 0);

    memset(out, 0, sizeof(*out));
    out->partition_index = fp->partition;
    out->high_watermark = out->last_stable_offset = out->log_start_offset = -1;
    out->diverging_epoch = (struct ktx__fetch_epoch_end_offset){-1, -1};
    out->current_leader = (struct ktx__leader_id_and_epoch){-1, -1};
    out->snapshot_id = (struct ktx__fetch_snapshot_id){-1, -1};
    out->aborted_transactions_count = -1;
    out->preferred_read_replica = -1;
    out->records = (struct ktx__bytes){NULL, 0};
    out->error_code = err;
    if (!p)
        return;
    out->error_code = (int16_t)kb_plog_read(&p->log, fp->fetch_offset, KTX__MIN(max, *budget),
                                            req->isolation_level, &rd);
    out->high_watermark = rd.high_watermark;
    out->last_stable_offset = rd.last_stable_offset;
    out->log_start_offset = rd.log_start_offset;
    if (!out->error_code && (*budget > 0 || rd.len == 0)) {
        out->records = (struct ktx__bytes){rd.records, (int32_t)rd.len};
        *budget -= KTX__MIN(rd.len, *budget);
        if (req->isolation_level == KTX__READ_COMMITTED)
            copy_aborted(ctx, &rd, out);
    }
    kb_plog_read_free(&rd);
}

int kb_h_fetch(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__fetch_req req;
    struct ktx__fetch_resp resp;
    int err = ktx__proto_fetch_req_decode(body, len, ctx->ver, &req, ctx->arena);
    size_t budget, max_bytes;

    if (err)
        return err;
    max_bytes = budget = (size_t)KTX__MAX(req.max_bytes, 1);
    memset(&resp, 0, sizeof(resp));
    resp.responses = kb_h_alloc(ctx, req.topics_count, sizeof(*resp.responses));
    if (!resp.responses)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topics_count; t++) {
        const struct ktx__fetch_topic *ft = &req.topics[t];
        struct ktx__fetch_topic_resp *tr = &resp.responses[t];
        tr->topic = ft->topic;
        tr->partitions = kb_h_alloc(ctx, ft->partitions_count, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        tr->partitions_count = ft->partitions_count;
        for (int32_t i = 0; i < ft->partitions_count; i++)
            fetch_partition(ctx, &req, ft->topic, &ft->partitions[i], &budget, &tr->partitions[i]);
    }
    resp.responses_count = req.topics_count;
    if (budget == max_bytes && req.max_wait_ms > 0)
        ctx->reply->delay_ms += KTX__MIN(req.max_wait_ms, MAX_FETCH_WAIT_MS);
    return ktx__proto_fetch_resp_encode(w, ctx->ver, &resp);
}

/* ---- ListOffsets ---- */

static void list_partition(struct kb_req_ctx *ctx, int8_t isolation, struct ktx__str topic,
                           const struct ktx__list_offsets_partition *lp,
                           struct ktx__list_offsets_partition_resp *out)
{
    int16_t err = ctx->forced;
    struct kb_partition *p = err ? NULL : kb_h_led_partition(ctx, topic, lp->partition_index, &err);

    out->partition_index = lp->partition_index;
    out->error_code = err;
    out->timestamp = -1;
    out->offset = -1;
    out->leader_epoch = -1;
    if (!p)
        return;
    out->offset = kb_plog_list_offset(&p->log, lp->timestamp, isolation, &out->timestamp);
    out->leader_epoch = p->leader_epoch;
}

int kb_h_list_offsets(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__list_offsets_req req;
    struct ktx__list_offsets_resp resp;
    int err = ktx__proto_list_offsets_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.topics = kb_h_alloc(ctx, req.topics_count, sizeof(*resp.topics));
    if (!resp.topics)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topics_count; t++) {
        const struct ktx__list_offsets_topic *lt = &req.topics[t];
        struct ktx__list_offsets_topic_resp *tr = &resp.topics[t];
        tr->name = lt->name;
        tr->partitions = kb_h_alloc(ctx, lt->partitions_count, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        tr->partitions_count = lt->partitions_count;
        for (int32_t i = 0; i < lt->partitions_count; i++)
            list_partition(ctx, req.isolation_level, lt->name, &lt->partitions[i], &tr->partitions[i]);
    }
    resp.topics_count = req.topics_count;
    return ktx__proto_list_offsets_resp_encode(w, ctx->ver, &resp);
}

/* ---- OffsetCommit ---- */

static int16_t commit_one(struct kb_req_ctx *ctx, const char *group_id, struct ktx__str topic,
                          const struct ktx__offset_commit_req_partition *rp)
{
    struct kb_offset_commit oc;
    struct kb_topic *t = kb_cluster_topic(ctx->c, topic.ptr, (size_t)KTX__MAX(topic.len, 0));
    int err;

    if (!kb_cluster_partition(t, rp->partition_index))
        return KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    oc.topic = t->name;
    oc.partition = rp->partition_index;
    oc.committed_offset = rp->committed_offset;
    oc.committed_leader_epoch = rp->committed_leader_epoch;
    oc.metadata = kb_h_cstr(ctx, rp->committed_metadata);
    err = kb_groups_commit(&ctx->c->groups, group_id, &oc, ctx->now_ms);
    ctx->c->dirty_state = true;
    return err == KTX_ERR_NO_MEMORY ? KTX_ERR_UNKNOWN_SERVER_ERROR : (int16_t)err;
}

int kb_h_offset_commit(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__offset_commit_req req;
    struct ktx__offset_commit_resp resp;
    int err = ktx__proto_offset_commit_req_decode(body, len, ctx->ver, &req, ctx->arena);
    char *group_id;
    int16_t top;

    if (err)
        return err;
    group_id = kb_h_cstr(ctx, req.group_id);
    top = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_GROUP, req.group_id);
    memset(&resp, 0, sizeof(resp));
    resp.topics = kb_h_alloc(ctx, req.topics_count, sizeof(*resp.topics));
    if (!resp.topics || !group_id)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topics_count; t++) {
        const struct ktx__offset_commit_req_topic *rt = &req.topics[t];
        struct ktx__offset_commit_resp_topic *tr = &resp.topics[t];
        tr->name = rt->name;
        tr->partitions = kb_h_alloc(ctx, rt->partitions_count, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        tr->partitions_count = rt->partitions_count;
        for (int32_t i = 0; i < rt->partitions_count; i++) {
            tr->partitions[i].partition_index = rt->partitions[i].partition_index;
            tr->partitions[i].error_code = top ? top : commit_one(ctx, group_id, rt->name, &rt->partitions[i]);
        }
    }
    resp.topics_count = req.topics_count;
    return ktx__proto_offset_commit_resp_encode(w, ctx->ver, &resp);
}

/* ---- OffsetFetch ---- */

static void fetch_offset_one(struct kb_req_ctx *ctx, const char *group_id, const char *topic,
                             int32_t partition, bool require_stable,
                             struct ktx__offset_fetch_resp_partition *out)
{
    const struct kb_offset *o;

    out->partition_index = partition;
    out->committed_offset = -1;
    out->committed_leader_epoch = -1;
    out->metadata = ktx__str_c("");
    out->error_code = (int16_t)kb_groups_fetch(&ctx->c->groups, group_id, topic, partition,
                                               require_stable, &o);
    if (!o)
        return;
    out->committed_offset = o->committed_offset;
    out->committed_leader_epoch = o->committed_leader_epoch;
    out->metadata = ktx__str_c(o->metadata ? o->metadata : "");
}

/* The requested partitions of one topic. */
static int fetch_offsets_topic(struct kb_req_ctx *ctx, const char *group_id,
                               const struct ktx__offset_fetch_req_topic *rt, bool require_stable,
                               struct ktx__offset_fetch_resp_topic *out)
{
    char *topic = kb_h_cstr(ctx, rt->name);

    out->name = rt->name;
    out->partitions = kb_h_alloc(ctx, rt->partition_indexes_count, sizeof(*out->partitions));
    if (!out->partitions || !topic)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < rt->partition_indexes_count; i++)
        fetch_offset_one(ctx, group_id, topic, rt->partition_indexes[i], require_stable,
                         &out->partitions[i]);
    out->partitions_count = rt->partition_indexes_count;
    return 0;
}

/* Every committed offset of |group_id| (a request with null topics), one topic each. */
static int fetch_offsets_all(struct kb_req_ctx *ctx, const char *group_id, bool require_stable,
                             struct ktx__offset_fetch_resp_group *out)
{
    const struct kb_groups *g = &ctx->c->groups;

    out->topics = kb_h_alloc(ctx, (int32_t)g->n_committed, sizeof(*out->topics));
    if (!out->topics)
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < g->n_committed; i++) {
        struct ktx__offset_fetch_resp_topic *tr;
        if (strcmp(g->committed[i].group_id, group_id) != 0)
            continue;
        tr = &out->topics[out->topics_count++];
        tr->name = ktx__str_c(g->committed[i].topic);
        tr->partitions = kb_h_alloc(ctx, 1, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        fetch_offset_one(ctx, group_id, g->committed[i].topic, g->committed[i].partition,
                         require_stable, &tr->partitions[0]);
        tr->partitions_count = 1;
    }
    return 0;
}

static int fetch_offsets_group(struct kb_req_ctx *ctx, struct ktx__str group,
                               const struct ktx__offset_fetch_req_topic *topics, int32_t topics_count,
                               bool require_stable, struct ktx__offset_fetch_resp_group *out)
{
    char *group_id = kb_h_cstr(ctx, group);

    out->group_id = group;
    out->error_code = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_GROUP, group);
    if (!group_id)
        return KTX_ERR_NO_MEMORY;
    if (out->error_code)
        return 0;
    if (topics_count < 0)
        return fetch_offsets_all(ctx, group_id, require_stable, out);
    out->topics = kb_h_alloc(ctx, topics_count, sizeof(*out->topics));
    if (!out->topics)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < topics_count; t++)
        if (fetch_offsets_topic(ctx, group_id, &topics[t], require_stable, &out->topics[t]))
            return KTX_ERR_NO_MEMORY;
    out->topics_count = topics_count;
    return 0;
}

int kb_h_offset_fetch(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__offset_fetch_req req;
    struct ktx__offset_fetch_resp resp;
    int err = ktx__proto_offset_fetch_req_decode(body, len, ctx->ver, &req, ctx->arena);
    int32_t n;

    if (err)
        return err;
    n = ctx->ver >= 8 ? req.groups_count : 1;
    memset(&resp, 0, sizeof(resp));
    resp.groups = kb_h_alloc(ctx, n, sizeof(*resp.groups));
    if (!resp.groups)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < n && !err; i++) {
        if (ctx->ver >= 8)
            err = fetch_offsets_group(ctx, req.groups[i].group_id, req.groups[i].topics,
                                      req.groups[i].topics_count, req.require_stable, &resp.groups[i]);
        else
            err = fetch_offsets_group(ctx, req.group_id, req.topics, req.topics_count,
                                      req.require_stable, &resp.groups[i]);
    }
    resp.groups_count = n;
    return err ? err : ktx__proto_offset_fetch_resp_encode(w, ctx->ver, &resp);
}
