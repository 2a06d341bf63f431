/*
 * ktx-broker handlers for the transactional APIs: InitProducerId, AddPartitionsToTxn,
 * AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions and DescribeProducers. Each one decodes,
 * asks the coordinator (txncoord.c), writes the markers it hands back, and encodes.
 */
#include "handlers_int.h"

#include "proto_txn.h"

#include <stdlib.h>
#include <string.h>

#define KEY_GROUP 0
#define KEY_TXN 1

/* The error a request of this version may carry (PRODUCER_FENCED is newer than some). */
static int16_t for_version(const struct kb_req_ctx *ctx, int err)
{
    return (int16_t)kb_txn_error_for_version(ctx->api_key, ctx->ver, err);
}

/* Writes the markers a coordinator call handed back, then frees them. */
static void apply_markers(struct kb_req_ctx *ctx, struct kb_txn_markers *m)
{
    if (m->transactional_id)
        kb_cluster_write_markers(ctx->c, m, ctx->now_ms);
    kb_txn_markers_free(m);
    ctx->c->dirty_state = true;
}

/* ---- InitProducerId ---- */

static int16_t init_pid(struct kb_req_ctx *ctx, const struct ktx__init_producer_id_req *req,
                        struct ktx__init_producer_id_resp *resp)
{
    struct kb_init_pid_result res;
    char *txn_id = kb_h_cstr(ctx, req->transactional_id);
    int16_t err;

    if (req->transactional_id.len >= 0) {
        if (!txn_id)
            return KTX_ERR_UNKNOWN_SERVER_ERROR;
        if ((err = kb_h_check_coordinator(ctx, KEY_TXN, req->transactional_id)))
            return err;
    }
    err = (int16_t)kb_txncoord_init_producer_id(&ctx->c->txncoord, txn_id, req->transaction_timeout_ms,
                                                req->producer_id, req->producer_epoch, ctx->now_ms, &res);
    apply_markers(ctx, &res.markers);
    resp->producer_id = res.producer_id;
    resp->producer_epoch = res.producer_epoch;
    return err;
}

int kb_h_init_producer_id(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__init_producer_id_req req;
    struct ktx__init_producer_id_resp resp = {0, 0, -1, -1};
    int err = ktx__proto_init_producer_id_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    resp.error_code = ctx->forced ? ctx->forced : for_version(ctx, init_pid(ctx, &req, &resp));
    if (resp.error_code) {
        resp.producer_id = -1;
        resp.producer_epoch = -1;
    }
    return ktx__proto_init_producer_id_resp_encode(w, ctx->ver, &resp);
}

/* ---- AddPartitionsToTxn ---- */

/* Marks every partition of |resp| with |code|, except those already carrying an error,
 * which keep it (OPERATION_NOT_ATTEMPTED goes to the others, as Kafka does). */
static void set_partition_codes(struct ktx__add_partitions_to_txn_resp *resp, int16_t code,
                                bool keep_errors)
{
    for (int32_t t = 0; t < resp->results_by_topic_count; t++) {
        struct ktx__add_partitions_to_txn_topic_result *tr = &resp->results_by_topic[t];
        for (int32_t i = 0; i < tr->results_by_partition_count; i++)
            if (!keep_errors || !tr->results_by_partition[i].partition_error_code)
                tr->results_by_partition[i].partition_error_code = code;
    }
}

/* Builds the response skeleton and the list of partitions; returns whether all exist. */
static bool collect_partitions(struct kb_req_ctx *ctx, const struct ktx__add_partitions_to_txn_req *req,
                               struct ktx__add_partitions_to_txn_resp *resp, struct kb_tp *tps, size_t *n)
{
    bool all_known = true;

    for (int32_t t = 0; t < req->topic_count; t++) {
        const struct ktx__add_partitions_to_txn_topic *rt = &req->topics[t];
        struct ktx__add_partitions_to_txn_topic_result *tr = &resp->results_by_topic[t];
        struct kb_topic *topic = kb_cluster_topic(ctx->c, rt->name.ptr, (size_t)KTX__MAX(rt->name.len, 0));
        tr->name = rt->name;
        tr->results_by_partition = kb_h_alloc(ctx, rt->partition_count, sizeof(*tr->results_by_partition));
        if (!tr->results_by_partition)
            return false;
        tr->results_by_partition_count = rt->partition_count;
        for (int32_t i = 0; i < rt->partition_count; i++) {
            tr->results_by_partition[i].partition_index = rt->partitions[i];
            if (!kb_cluster_partition(topic, rt->partitions[i])) {
                tr->results_by_partition[i].partition_error_code = KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                all_known = false;
                continue;
            }
            tps[*n].topic = topic->name;
            tps[(*n)++].partition = rt->partitions[i];
        }
    }
    resp->results_by_topic_count = req->topic_count;
    return all_known;
}

static int16_t add_partitions(struct kb_req_ctx *ctx, const struct ktx__add_partitions_to_txn_req *req,
                              struct kb_tp *tps, size_t n)
{
    char *txn_id = kb_h_cstr(ctx, req->transactional_id);
    int16_t err = kb_h_check_coordinator(ctx, KEY_TXN, req->transactional_id);

    if (err)
        return err;
    if (!txn_id)
        return KTX_ERR_UNKNOWN_SERVER_ERROR;
    err = (int16_t)kb_txncoord_add_partitions(&ctx->c->txncoord, txn_id, req->producer_id,
                                              req->producer_epoch, tps, n, ctx->now_ms);
    ctx->c->dirty_state = true;
    return for_version(ctx, err);
}

int kb_h_add_partitions_to_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                               struct ktx__writer *w)
{
    struct ktx__add_partitions_to_txn_req req;
    struct ktx__add_partitions_to_txn_resp resp;
    int err = ktx__proto_add_partitions_to_txn_req_decode(body, len, ctx->ver, &req, ctx->arena);
    int32_t total = 0;
    struct kb_tp *tps;
    size_t n = 0;

    if (err)
        return err;
    for (int32_t t = 0; t < req.topic_count; t++)
        total += req.topics[t].partition_count;
    memset(&resp, 0, sizeof(resp));
    resp.results_by_topic = kb_h_alloc(ctx, req.topic_count, sizeof(*resp.results_by_topic));
    tps = kb_h_alloc(ctx, total, sizeof(*tps));
    if (!resp.results_by_topic || !tps)
        return KTX_ERR_NO_MEMORY;
    if (!collect_partitions(ctx, &req, &resp, tps, &n))
        set_partition_codes(&resp, KTX_ERR_OPERATION_NOT_ATTEMPTED, true);
    else
        set_partition_codes(&resp, ctx->forced ? ctx->forced : add_partitions(ctx, &req, tps, n), false);
    return ktx__proto_add_partitions_to_txn_resp_encode(w, ctx->ver, &resp);
}

/* ---- AddOffsetsToTxn ---- */

int kb_h_add_offsets_to_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                            struct ktx__writer *w)
{
    struct ktx__add_offsets_to_txn_req req;
    struct ktx__add_offsets_to_txn_resp resp = {0, 0};
    int err = ktx__proto_add_offsets_to_txn_req_decode(body, len, ctx->ver, &req, ctx->arena);
    char *txn_id, *group_id;

    if (err)
        return err;
    txn_id = kb_h_cstr(ctx, req.transactional_id);
    group_id = kb_h_cstr(ctx, req.group_id);
    resp.error_code = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_TXN, req.transactional_id);
    if (!resp.error_code && (!txn_id || !group_id))
        resp.error_code = KTX_ERR_INVALID_REQUEST;
    if (!resp.error_code) {
        err = kb_txncoord_add_offsets(&ctx->c->txncoord, txn_id, req.producer_id, req.producer_epoch,
                                      group_id, ctx->now_ms);
        resp.error_code = for_version(ctx, err);
        ctx->c->dirty_state = true;
    }
    return ktx__proto_add_offsets_to_txn_resp_encode(w, ctx->ver, &resp);
}

/* ---- EndTxn ---- */

int kb_h_end_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w)
{
    struct ktx__end_txn_req req;
    struct ktx__end_txn_resp resp = {0, 0, -1, -1};
    struct kb_end_txn_result res;
    int err = ktx__proto_end_txn_req_decode(body, len, ctx->ver, &req, ctx->arena);
    char *txn_id;

    if (err)
        return err;
    txn_id = kb_h_cstr(ctx, req.transactional_id);
    resp.error_code = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_TXN, req.transactional_id);
    if (!resp.error_code && !txn_id)
        resp.error_code = KTX_ERR_INVALID_REQUEST;
    if (!resp.error_code) {
        err = kb_txncoord_end_txn(&ctx->c->txncoord, txn_id, req.producer_id, req.producer_epoch,
                                  req.committed, ctx->now_ms, &res);
        apply_markers(ctx, &res.markers);
        resp.error_code = for_version(ctx, err);
        if (!err) {
            resp.producer_id = res.producer_id;
            resp.producer_epoch = res.producer_epoch;
        }
    }
    return ktx__proto_end_txn_resp_encode(w, ctx->ver, &resp);
}

/* ---- TxnOffsetCommit ---- */

/* Checks the producer against the coordinator's record, as the offsets partition's
 * producer state would in Kafka. */
static int16_t check_txn_producer(struct kb_req_ctx *ctx, const struct ktx__txn_offset_commit_req *req)
{
    char *txn_id = kb_h_cstr(ctx, req->transactional_id);
    const struct kb_txn *txn = txn_id ? kb_txncoord_find(&ctx->c->txncoord, txn_id) : NULL;

    if (!txn || txn->producer_id != req->producer_id)
        return KTX_ERR_INVALID_PRODUCER_ID_MAPPING;
    if (txn->producer_epoch != req->producer_epoch)
        return for_version(ctx, KTX_ERR_PRODUCER_FENCED);
    return 0;
}

static int16_t txn_commit_one(struct kb_req_ctx *ctx, const struct ktx__txn_offset_commit_req *req,
                              const char *group_id, const struct ktx__txn_offset_commit_req_topic *rt,
                              const struct ktx__txn_offset_commit_req_partition *rp)
{
    struct kb_offset_commit oc;
    char *topic = kb_h_cstr(ctx, rt->name);
    int err;

    if (!topic)
        return KTX_ERR_INVALID_REQUEST;
    oc.topic = topic;
    oc.partition = rp->partition_index;
    oc.committed_offset = rp->committed_offset;
    oc.committed_leader_epoch = rp->committed_leader_epoch;
    oc.metadata = kb_h_cstr(ctx, rp->committed_metadata);
    err = kb_groups_txn_commit(&ctx->c->groups, group_id, req->producer_id, req->producer_epoch,
                               &oc, ctx->now_ms);
    ctx->c->dirty_state = true;
    return err == KTX_ERR_NO_MEMORY ? KTX_ERR_UNKNOWN_SERVER_ERROR : (int16_t)err;
}

int kb_h_txn_offset_commit(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                           struct ktx__writer *w)
{
    struct ktx__txn_offset_commit_req req;
    struct ktx__txn_offset_commit_resp resp;
    int err = ktx__proto_txn_offset_commit_req_decode(body, len, ctx->ver, &req, ctx->arena);
    char *group_id;
    int16_t top;

    if (err)
        return err;
    group_id = kb_h_cstr(ctx, req.group_id);
    top = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_GROUP, req.group_id);
    if (!top)
        top = group_id ? check_txn_producer(ctx, &req) : KTX_ERR_INVALID_GROUP_ID;
    memset(&resp, 0, sizeof(resp));
    resp.topics = kb_h_alloc(ctx, req.topic_count, sizeof(*resp.topics));
    if (!resp.topics)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct ktx__txn_offset_commit_req_topic *rt = &req.topics[t];
        struct ktx__txn_offset_commit_resp_topic *tr = &resp.topics[t];
        tr->name = rt->name;
        tr->partitions = kb_h_alloc(ctx, rt->partition_count, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        tr->partition_count = rt->partition_count;
        for (int32_t i = 0; i < rt->partition_count; i++) {
            tr->partitions[i].partition_index = rt->partitions[i].partition_index;
            tr->partitions[i].error_code =
                top ? top : txn_commit_one(ctx, &req, group_id, rt, &rt->partitions[i]);
        }
    }
    resp.topic_count = req.topic_count;
    return ktx__proto_txn_offset_commit_resp_encode(w, ctx->ver, &resp);
}

/* ---- DescribeTransactions ---- */

/* Groups the transaction's partitions by topic into |out|. */
static void describe_topics(struct kb_req_ctx *ctx, const struct kb_txn *txn,
                            struct ktx__describe_transactions_state *out)
{
    out->topics = kb_h_alloc(ctx, (int32_t)txn->n_partitions, sizeof(*out->topics));
    for (size_t i = 0; out->topics && i < txn->n_partitions; i++) {
        struct ktx__describe_transactions_topic *dt = NULL;
        for (int32_t t = 0; t < out->topic_count && !dt; t++)
            if (ktx__str_eq_c(out->topics[t].topic, txn->partitions[i].topic))
                dt = &out->topics[t];
        if (!dt) {
            dt = &out->topics[out->topic_count++];
            dt->topic = ktx__str_c(txn->partitions[i].topic);
            dt->partitions = kb_h_alloc(ctx, (int32_t)txn->n_partitions, sizeof(int32_t));
            if (!dt->partitions)
                return;
        }
        dt->partitions[dt->partition_count++] = txn->partitions[i].partition;
    }
}

static void describe_one(struct kb_req_ctx *ctx, struct ktx__str id,
                         struct ktx__describe_transactions_state *out)
{
    char *txn_id = kb_h_cstr(ctx, id);
    const struct kb_txn *txn = txn_id ? kb_txncoord_find(&ctx->c->txncoord, txn_id) : NULL;

    out->transactional_id = id;
    out->transaction_state = ktx__str_c("");
    out->producer_id = -1;
    out->producer_epoch = -1;
    out->transaction_start_time_ms = -1;
    out->error_code = ctx->forced ? ctx->forced : kb_h_check_coordinator(ctx, KEY_TXN, id);
    if (!out->error_code && !txn)
        out->error_code = KTX_ERR_TRANSACTIONAL_ID_NOT_FOUND;
    if (out->error_code)
        return;
    out->transaction_state = ktx__str_c(kb_txn_state_name(txn->state));
    out->transaction_timeout_ms = txn->timeout_ms;
    out->transaction_start_time_ms = txn->start_ms;
    out->producer_id = txn->producer_id;
    out->producer_epoch = txn->producer_epoch;
    describe_topics(ctx, txn, out);
}

int kb_h_describe_transactions(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                               struct ktx__writer *w)
{
    struct ktx__describe_transactions_req req;
    struct ktx__describe_transactions_resp resp;
    int err = ktx__proto_describe_transactions_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.transaction_states = kb_h_alloc(ctx, req.transactional_id_count, sizeof(*resp.transaction_states));
    if (!resp.transaction_states)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < req.transactional_id_count; i++)
        describe_one(ctx, req.transactional_ids[i], &resp.transaction_states[i]);
    resp.transaction_state_count = req.transactional_id_count;
    return ktx__proto_describe_transactions_resp_encode(w, ctx->ver, &resp);
}

/* ---- DescribeProducers ---- */

static void describe_partition(struct kb_req_ctx *ctx, struct ktx__str topic, int32_t index,
                               struct ktx__describe_producers_partition *out)
{
    int16_t err = ctx->forced;
    struct kb_partition *p = err ? NULL : kb_h_led_partition(ctx, topic, index, &err);
    const struct kb_pstate *ps;

    out->partition_index = index;
    out->error_code = err;
    out->error_message = ktx__str_c(NULL);
    if (!p)
        return;
    ps = &p->log.pstate;
    out->active_producers = kb_h_alloc(ctx, (int32_t)ps->n, sizeof(*out->active_producers));
    for (size_t i = 0; out->active_producers && i < ps->n; i++) {
        struct ktx__describe_producers_producer_state *st = &out->active_producers[i];
        st->producer_id = ps->producers[i].producer_id;
        st->producer_epoch = ps->producers[i].producer_epoch;
        st->last_sequence = ps->producers[i].last_seq;
        st->last_timestamp = ps->producers[i].last_timestamp;
        st->coordinator_epoch = ps->producers[i].coordinator_epoch;
        st->current_txn_start_offset = ps->producers[i].txn_first_offset;
        out->active_producer_count++;
    }
}

int kb_h_describe_producers(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                            struct ktx__writer *w)
{
    struct ktx__describe_producers_req req;
    struct ktx__describe_producers_resp resp;
    int err = ktx__proto_describe_producers_req_decode(body, len, ctx->ver, &req, ctx->arena);

    if (err)
        return err;
    memset(&resp, 0, sizeof(resp));
    resp.topics = kb_h_alloc(ctx, req.topic_count, sizeof(*resp.topics));
    if (!resp.topics)
        return KTX_ERR_NO_MEMORY;
    for (int32_t t = 0; t < req.topic_count; t++) {
        const struct ktx__describe_producers_req_topic *rt = &req.topics[t];
        struct ktx__describe_producers_resp_topic *tr = &resp.topics[t];
        tr->name = rt->name;
        tr->partitions = kb_h_alloc(ctx, rt->partition_index_count, sizeof(*tr->partitions));
        if (!tr->partitions)
            return KTX_ERR_NO_MEMORY;
        for (int32_t i = 0; i < rt->partition_index_count; i++)
            describe_partition(ctx, rt->name, rt->partition_indexes[i], &tr->partitions[i]);
        tr->partition_count = rt->partition_index_count;
    }
    resp.topic_count = req.topic_count;
    return ktx__proto_describe_producers_resp_encode(w, ctx->ver, &resp);
}
