/*
 * The transactional requests of the manager: for each one a builder (the request's fields
 * from the manager's state) and a response handler, decode -> classify (txn_classify.h, the
 * one table) -> apply. Every request goes through ktx__net_send() to the coordinator the
 * manager found (txnmgr.c) and its answer arrives on the sender thread.
 *
 * Thread: sender. Locks: the state machine's own.
 */
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "proto_meta.h"
#include "proto_txn.h"
#include "txnmgr.h"

/* Sends |api_key| (highest negotiated version) with |encode| to |node|, |cb| answering;
 * records |what| as the request in flight. Returns 0 or the ktx__net_send() error. */
static int send_req(struct ktx__txnmgr *mgr, int32_t node, int16_t api_key,
                    ktx__conn_encode_fn *encode, ktx__conn_cb *cb, enum ktx__txnmgr_req what,
                    int64_t now)
{
    struct ktx__conn_req creq = {0};
    int err;

    creq.api_key = api_key;
    creq.version = -1;
    creq.encode = encode;
    creq.encode_opaque = mgr;
    creq.cb = cb;
    creq.opaque = mgr;
    err = ktx__net_send(ktx__sender_net(mgr->sender), node, &creq, now);
    if (err == 0)
        mgr->in_flight = what;
    return err;
}

/* The common tail of every handler: the request is over. Handlers run on the sender thread
 * inside its poll, and the next turn follows at once: no wakeup is needed. */
static void request_done(struct ktx__txnmgr *mgr)
{
    mgr->in_flight = KTX__TXNR_NONE;
}

/* Applies |action| for |req| with |code|: retry (maybe re-finding the coordinator), or
 * record the abortable / fatal error (ownership of |err| taken). Returns true on success. */
static bool apply(struct ktx__txnmgr *mgr, enum ktx__txn_request req, int code,
                  enum ktx__txn_action action, ktx_error_t *err)
{
    switch (action) {
    case KTX__TXN_ACT_SUCCESS:
    case KTX__TXN_ACT_DUPLICATE_AS_SUCCESS:
        ktx_error_destroy(err);
        mgr->attempts = 0;
        return true;
    case KTX__TXN_ACT_RETRY:
    case KTX__TXN_ACT_RETRY_REFRESH_METADATA:
    case KTX__TXN_ACT_NOT_ATTEMPTED:
        ktx_error_destroy(err);
        ktx__txnmgr_retry(mgr, req, code, false);
        return false;
    case KTX__TXN_ACT_RETRY_FIND_COORDINATOR:
        ktx_error_destroy(err);
        ktx__txnmgr_retry(mgr, req, code, true);
        return false;
    default:
        ktx__sender_log(mgr->sender, KTX_LOG_WARNING, "txn", "%s: %s -> %s",
                        ktx__txn_request_name(req), ktx_err_name(code),
                        ktx__txn_action_name(action));
        ktx__txnmgr_fail(mgr, action, err);
        return false;
    }
}

/* Classifies |code| for |req| and applies it. */
static bool classify_apply(struct ktx__txnmgr *mgr, enum ktx__txn_request req, int code)
{
    struct ktx__txn_classify_ctx ctx = {mgr->req_version, mgr->idem->epoch_bump_supported};
    enum ktx__txn_action action;
    ktx_error_t *err = ktx__txn_classify_error(req, code, &ctx, &action);

    return apply(mgr, req, code, action, err);
}

/* ---- FindCoordinator ---- */

/* ktx__conn_encode_fn of FindCoordinator: the transactional id, or the group id. */
static int encode_find(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__find_coordinator_req req = {0};

    mgr->req_version = ver;
    if (mgr->find_group) {
        req.key = ktx__str_c(mgr->offsets.group_id);
        req.key_type = KTX__COORDINATOR_GROUP;
    } else {
        req.key = ktx__str_c(mgr->transactional_id);
        req.key_type = KTX__COORDINATOR_TRANSACTION;
    }
    return ktx__proto_find_coordinator_req_encode(w, ver, &req);
}

/* Takes the coordinator of |resp| (either shape); returns its error code. */
static int take_coordinator(struct ktx__txnmgr *mgr, const struct ktx__find_coordinator_resp *r)
{
    struct ktx__coordinator c = {{NULL, -1}, r->node_id, r->host, r->port, r->error_code, {NULL, -1}};
    char *host;
    int err;

    if (r->coordinators_count > 0)
        c = r->coordinators[0];
    if (c.error_code != 0)
        return c.error_code;
    if (!(host = ktx__str_dup(c.host)))
        return KTX_ERR_NO_MEMORY;
    err = ktx__net_add_broker(ktx__sender_net(mgr->sender), c.node_id, host, c.port);
    free(host);
    if (err != 0)
        return err;
    if (mgr->find_group)
        mgr->group_coord_node = c.node_id;
    else
        mgr->coord_node = c.node_id;
    ktx__sender_log(mgr->sender, KTX_LOG_DEBUG, "txn", "%s coordinator: node %d",
                    mgr->find_group ? "group" : "transaction", (int)c.node_id);
    return 0;
}

/* ktx__conn_cb of FindCoordinator: decode -> take the coordinator, or classify -> retry. */
static void on_find(struct ktx__conn *conn, int err, const uint8_t *body, size_t len, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__find_coordinator_resp resp = {0};
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    if (code == 0) {
        ktx__arena_init(&arena, 0);
        code = ktx__proto_find_coordinator_resp_decode(body, len, mgr->req_version, &resp, &arena);
        if (code == 0)
            code = take_coordinator(mgr, &resp);
        ktx__arena_free(&arena);
    }
    if (code != 0)
        classify_apply(mgr, KTX__TXN_REQ_FIND_COORDINATOR, code);
    request_done(mgr);
}

int ktx__txnreq_find_coordinator(struct ktx__txnmgr *mgr, int32_t node, bool group, int64_t now)
{
    mgr->find_group = group;
    return send_req(mgr, node, KTX__API_FIND_COORDINATOR, encode_find, on_find,
                    KTX__TXNR_FIND_COORDINATOR, now);
}

/* ---- InitProducerId ---- */

/* ktx__conn_encode_fn of InitProducerId. */
static int encode_init(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__init_producer_id_req req = {ktx__str_c(mgr->transactional_id),
                                            mgr->transaction_timeout_ms, -1, -1};

    mgr->req_version = ver;
    mgr->idem->epoch_bump_supported = ver >= 3;
    if (ver >= 3 && mgr->idem->producer_id >= 0) {
        /* KIP-360: recover with the current id and epoch after an abortable bump. */
        req.producer_id = mgr->idem->producer_id;
        req.producer_epoch = mgr->idem->producer_epoch;
    }
    return ktx__proto_init_producer_id_req_encode(w, ver, &req);
}

/* ktx__conn_cb of InitProducerId: decode -> classify -> adopt the id and epoch. */
static void on_init(struct ktx__conn *conn, int err, const uint8_t *body, size_t len, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__init_producer_id_resp resp = {0};
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    if (code == 0) {
        ktx__arena_init(&arena, 0);
        code = ktx__proto_init_producer_id_resp_decode(body, len, mgr->req_version, &resp, &arena);
        ktx__arena_free(&arena);
        if (code == 0)
            code = resp.error_code;
    }
    if ((code == KTX_ERR_PRODUCER_FENCED || code == KTX_ERR_INVALID_PRODUCER_EPOCH) &&
        ktx__persist_txn_init_fenced(mgr->idem, code)) {
        /* The persisted id and epoch of a restart were stale: ask again as a new producer. */
        ktx__txnmgr_retry(mgr, KTX__TXN_REQ_INIT_PRODUCER_ID, code, false);
    } else if (classify_apply(mgr, KTX__TXN_REQ_INIT_PRODUCER_ID, code)) {
        ktx__sender_log(mgr->sender, KTX_LOG_INFO, "txn",
                        "transactional id \"%s\": producer id %lld epoch %d",
                        mgr->transactional_id, (long long)resp.producer_id,
                        (int)resp.producer_epoch);
        mgr->idem->producer_id = resp.producer_id;
        mgr->idem->producer_epoch = resp.producer_epoch;
        mgr->idem->bump_requested = false;
        ktx__seq_reset_all(mgr->idem);
        ktx__persist_txn_init_done(mgr->idem);
        ktx__txn_init_done(&mgr->sm);
    }
    request_done(mgr);
}

int ktx__txnreq_init_producer_id(struct ktx__txnmgr *mgr, int64_t now)
{
    return send_req(mgr, mgr->coord_node, KTX__API_INIT_PRODUCER_ID, encode_init, on_init,
                    KTX__TXNR_INIT, now);
}

/* ---- AddPartitionsToTxn: every NEW partition in one request ---- */

/* Groups the ADDING partitions by topic into |t| (room for |parts_len| topics): a first pass
 * finds each partition's topic (stored in |tix|) and counts the topic's partitions, then each
 * topic gets its slice of |flat| (room for |parts_len| indexes) and a second pass fills the
 * slices. Returns the number of topics. */
static int32_t build_topics(struct ktx__txnmgr *mgr, struct ktx__add_partitions_to_txn_topic *t,
                            int32_t *flat, int32_t *tix)
{
    int32_t n = 0;
    size_t off = 0;

    for (size_t i = 0; i < mgr->parts_len; i++) {
        const char *topic = ktx__acc_part_topic(mgr->parts[i].part);
        int32_t j;

        if (mgr->parts[i].state != KTX__TXNP_ADDING)
            continue;
        for (j = 0; j < n && !ktx__str_eq_c(t[j].name, topic); j++)
            ;
        if (j == n)
            t[n++].name = ktx__str_c(topic);
        tix[i] = j;
        t[j].partition_count++;
    }
    for (int32_t j = 0; j < n; j++) {
        t[j].partitions = flat + off;
        off += (size_t)t[j].partition_count;
        t[j].partition_count = 0;
    }
    for (size_t i = 0; i < mgr->parts_len; i++) {
        struct ktx__add_partitions_to_txn_topic *tt;

        if (mgr->parts[i].state != KTX__TXNP_ADDING)
            continue;
        tt = &t[tix[i]];
        tt->partitions[tt->partition_count++] = ktx__acc_part_partition(mgr->parts[i].part);
    }
    return n;
}

/* ktx__conn_encode_fn of AddPartitionsToTxn: every ADDING partition, grouped by topic.
 * The grouping uses scratch linear in |parts_len| (freed before returning). */
static int encode_add_parts(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__add_partitions_to_txn_req req = {ktx__str_c(mgr->transactional_id),
                                                 mgr->idem->producer_id,
                                                 mgr->idem->producer_epoch, NULL, 0};
    struct ktx__add_partitions_to_txn_topic *topics = calloc(mgr->parts_len + 1, sizeof(*topics));
    int32_t *idx = calloc(2 * mgr->parts_len + 1, sizeof(*idx));
    int err = KTX_ERR_NO_MEMORY;

    mgr->req_version = ver;
    if (topics && idx) {
        req.topics = topics;
        req.topic_count = build_topics(mgr, topics, idx, idx + mgr->parts_len);
        err = ktx__proto_add_partitions_to_txn_req_encode(w, ver, &req);
    }
    free(idx);
    free(topics);
    return err;
}

/* Marks every partition being added as |state|. */
static void mark_adding(struct ktx__txnmgr *mgr, enum ktx__txnmgr_part_state state)
{
    for (size_t i = 0; i < mgr->parts_len; i++)
        if (mgr->parts[i].state == KTX__TXNP_ADDING)
            mgr->parts[i].state = state;
}

/* The combined action of every partition of |resp|; the first failing code in |*code|. */
static enum ktx__txn_action combine_parts(struct ktx__txnmgr *mgr,
                                          const struct ktx__add_partitions_to_txn_resp *resp,
                                          int *code)
{
    struct ktx__txn_classify_ctx ctx = {mgr->req_version, mgr->idem->epoch_bump_supported};
    enum ktx__txn_action all = KTX__TXN_ACT_SUCCESS;

    for (int32_t t = 0; t < resp->results_by_topic_count; t++) {
        const struct ktx__add_partitions_to_txn_topic_result *tr = &resp->results_by_topic[t];

        for (int32_t p = 0; p < tr->results_by_partition_count; p++) {
            int c = tr->results_by_partition[p].partition_error_code;
            enum ktx__txn_action a = ktx__txn_classify(KTX__TXN_REQ_ADD_PARTITIONS, c, &ctx);

            if (ktx__txn_action_combine(all, a) != all) {
                all = ktx__txn_action_combine(all, a);
                *code = c;
            }
        }
    }
    return all;
}

/* ktx__conn_cb of AddPartitionsToTxn: decode -> classify every partition (combined) ->
 * mark them ADDED, or back to NEW and apply the action. */
static void on_add_parts(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                         void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__txn_classify_ctx ctx = {mgr->req_version, mgr->idem->epoch_bump_supported};
    struct ktx__add_partitions_to_txn_resp resp = {0};
    enum ktx__txn_action action;
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    ktx__arena_init(&arena, 0);
    if (code == 0)
        code = ktx__proto_add_partitions_to_txn_resp_decode(body, len, mgr->req_version, &resp,
                                                            &arena);
    action = code ? ktx__txn_classify(KTX__TXN_REQ_ADD_PARTITIONS, code, &ctx)
                  : combine_parts(mgr, &resp, &code);
    ktx__arena_free(&arena);
    if (action == KTX__TXN_ACT_SUCCESS) {
        mark_adding(mgr, KTX__TXNP_ADDED);
        mgr->ended_needed = true;
        mgr->attempts = 0;
    } else {
        mark_adding(mgr, KTX__TXNP_NEW);
        apply(mgr, KTX__TXN_REQ_ADD_PARTITIONS, code, action,
              ktx__txn_action_error(action, code, "AddPartitionsToTxn failed: %s",
                                    ktx_err_name(code)));
    }
    request_done(mgr);
}

int ktx__txnreq_add_partitions(struct ktx__txnmgr *mgr, int64_t now)
{
    int err;

    for (size_t i = 0; i < mgr->parts_len; i++)
        if (mgr->parts[i].state == KTX__TXNP_NEW)
            mgr->parts[i].state = KTX__TXNP_ADDING;
    err = send_req(mgr, mgr->coord_node, KTX__API_ADD_PARTITIONS_TO_TXN, encode_add_parts,
                       on_add_parts, KTX__TXNR_ADD_PARTITIONS, now);
    if (err != 0)
        mark_adding(mgr, KTX__TXNP_NEW);
    return err;
}

/* ---- AddOffsetsToTxn ---- */

/* ktx__conn_encode_fn of AddOffsetsToTxn. */
static int encode_add_offsets(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__add_offsets_to_txn_req req = {ktx__str_c(mgr->transactional_id),
                                              mgr->idem->producer_id, mgr->idem->producer_epoch,
                                              ktx__str_c(mgr->offsets.group_id)};

    mgr->req_version = ver;
    return ktx__proto_add_offsets_to_txn_req_encode(w, ver, &req);
}

/* A failed AddOffsetsToTxn or TxnOffsetCommit: applies |action| for |code| (a retry, or the
 * abortable / fatal error, which also completes the pending SEND_OFFSETS with it). */
static void offsets_failed(struct ktx__txnmgr *mgr, int code, enum ktx__txn_action action,
                           enum ktx__txn_request req)
{
    ktx_error_t *e = ktx__txn_action_error(action, code, "%s failed: %s",
                                           ktx__txn_request_name(req), ktx_err_name(code));

    if (apply(mgr, req, code, action, ktx__error_copy(e)))
        ktx_error_destroy(e);
    else if (action == KTX__TXN_ACT_FATAL || action == KTX__TXN_ACT_ABORTABLE ||
             action == KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH)
        ktx__txn_op_complete(&mgr->sm, KTX__TXN_OP_SEND_OFFSETS, code, e);
    else
        ktx_error_destroy(e);
}

/* ktx__conn_cb of AddOffsetsToTxn: decode -> classify -> TxnOffsetCommit goes next. */
static void on_add_offsets(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                           void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__txn_classify_ctx ctx = {0, false};
    struct ktx__add_offsets_to_txn_resp resp = {0};
    struct ktx__arena arena;
    enum ktx__txn_action action;
    int code = err;

    (void)conn;
    ctx.version = mgr->req_version;
    ctx.epoch_bump_supported = mgr->idem->epoch_bump_supported;
    if (code == 0) {
        ktx__arena_init(&arena, 0);
        code = ktx__proto_add_offsets_to_txn_resp_decode(body, len, mgr->req_version, &resp,
                                                         &arena);
        ktx__arena_free(&arena);
        if (code == 0)
            code = resp.error_code;
    }
    action = ktx__txn_classify(KTX__TXN_REQ_ADD_OFFSETS, code, &ctx);
    if (action == KTX__TXN_ACT_SUCCESS) {
        mgr->offsets.offsets_added = true;
        mgr->ended_needed = true;
        mgr->attempts = 0;
    } else {
        offsets_failed(mgr, code, action, KTX__TXN_REQ_ADD_OFFSETS);
    }
    request_done(mgr);
}

int ktx__txnreq_add_offsets(struct ktx__txnmgr *mgr, int64_t now)
{
    return send_req(mgr, mgr->coord_node, KTX__API_ADD_OFFSETS_TO_TXN, encode_add_offsets,
                    on_add_offsets, KTX__TXNR_ADD_OFFSETS, now);
}

/* ---- TxnOffsetCommit (to the group coordinator) ---- */

/* ktx__conn_encode_fn of TxnOffsetCommit with the KIP-447 group metadata. */
static int encode_txn_commit(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    const struct ktx__txnmgr_offsets *o = &mgr->offsets;
    struct ktx__txn_offset_commit_req req = {0};
    struct ktx__txn_offset_commit_req_topic *t = calloc(o->count + 1, sizeof(*t));
    struct ktx__txn_offset_commit_req_partition *p = calloc(o->count + 1, sizeof(*p));
    int err = KTX_ERR_NO_MEMORY;

    mgr->req_version = ver;
    if (t && p) {
        req.transactional_id = ktx__str_c(mgr->transactional_id);
        req.group_id = ktx__str_c(o->group_id);
        req.producer_id = mgr->idem->producer_id;
        req.producer_epoch = mgr->idem->producer_epoch;
        req.generation_id = o->generation_id;
        req.member_id = ktx__str_c(o->member_id ? o->member_id : "");
        req.group_instance_id = o->group_instance_id ? ktx__str_c(o->group_instance_id)
                                                     : (struct ktx__str){NULL, -1};
        /* One topic entry per offset: the codec does not require grouping. */
        for (size_t i = 0; i < o->count; i++) {
            p[i].partition_index = o->v[i].partition;
            p[i].committed_offset = o->v[i].offset;
            p[i].committed_leader_epoch = -1;
            p[i].committed_metadata = o->v[i].metadata ? ktx__str_c(o->v[i].metadata)
                                                       : (struct ktx__str){NULL, -1};
            t[i].name = ktx__str_c(o->v[i].topic);
            t[i].partitions = &p[i];
            t[i].partition_count = 1;
        }
        req.topics = t;
        req.topic_count = (int32_t)o->count;
        err = ktx__proto_txn_offset_commit_req_encode(w, ver, &req);
    }
    free(t);
    free(p);
    return err;
}

/* ktx__conn_cb of TxnOffsetCommit: decode -> classify every partition -> complete the
 * pending SEND_OFFSETS operation, or apply the action. */
static void on_txn_commit(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                          void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__txn_classify_ctx ctx = {mgr->req_version, mgr->idem->epoch_bump_supported};
    struct ktx__txn_offset_commit_resp resp = {0};
    enum ktx__txn_action action = KTX__TXN_ACT_SUCCESS;
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    ktx__arena_init(&arena, 0);
    if (code == 0)
        code = ktx__proto_txn_offset_commit_resp_decode(body, len, mgr->req_version, &resp,
                                                        &arena);
    if (code != 0)
        action = ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, code, &ctx);
    for (int32_t t = 0; code == 0 && t < resp.topic_count; t++)
        for (int32_t p = 0; p < resp.topics[t].partition_count; p++) {
            int c = resp.topics[t].partitions[p].error_code;
            enum ktx__txn_action a = ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, c, &ctx);

            if (ktx__txn_action_combine(action, a) != action) {
                action = ktx__txn_action_combine(action, a);
                code = c;
            }
        }
    ktx__arena_free(&arena);
    if (action == KTX__TXN_ACT_SUCCESS) {
        mgr->attempts = 0;
        ktx__txn_op_complete(&mgr->sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL);
    } else {
        offsets_failed(mgr, code, action, KTX__TXN_REQ_TXN_OFFSET_COMMIT);
    }
    request_done(mgr);
}

int ktx__txnreq_txn_offset_commit(struct ktx__txnmgr *mgr, int64_t now)
{
    return send_req(mgr, mgr->group_coord_node, KTX__API_TXN_OFFSET_COMMIT, encode_txn_commit,
                    on_txn_commit, KTX__TXNR_TXN_OFFSET_COMMIT, now);
}

/* ---- EndTxn ---- */

/* ktx__conn_encode_fn of EndTxn: commit while COMMITTING, else abort. */
static int encode_end(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__end_txn_req req = {ktx__str_c(mgr->transactional_id), mgr->idem->producer_id,
                                   mgr->idem->producer_epoch,
                                   ktx__txn_sm_state(&mgr->sm) == KTX__TXN_COMMITTING};

    mgr->req_version = ver;
    return ktx__proto_end_txn_req_encode(w, ver, &req);
}

/* ktx__conn_cb of EndTxn: decode -> classify -> the transaction is over (v2: adopt the
 * returned epoch). */
static void on_end(struct ktx__conn *conn, int err, const uint8_t *body, size_t len, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__end_txn_resp resp = {0};
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    if (code == 0) {
        ktx__arena_init(&arena, 0);
        code = ktx__proto_end_txn_resp_decode(body, len, mgr->req_version, &resp, &arena);
        ktx__arena_free(&arena);
        if (code == 0)
            code = resp.error_code;
    }
    /* An unknown outcome (timeout, disconnect) is retried by the table, never a success. */
    if (classify_apply(mgr, KTX__TXN_REQ_END_TXN, code)) {
        if (mgr->req_version >= 5 && resp.producer_id >= 0 && resp.producer_epoch >= 0 &&
            (resp.producer_id != mgr->idem->producer_id ||
             resp.producer_epoch != mgr->idem->producer_epoch)) {
            mgr->idem->producer_id = resp.producer_id; /* KIP-890: adopt the new epoch */
            mgr->idem->producer_epoch = resp.producer_epoch;
            ktx__seq_reset_all(mgr->idem);
        }
        /* The store learns the outcome before the application does. */
        ktx__persist_txn_ended(mgr->idem, ktx__txn_sm_state(&mgr->sm) == KTX__TXN_COMMITTING);
        mgr->parts_len = 0;
        mgr->ended_needed = false;
        mgr->purged = false;
        mgr->decided = false;
        ktx__txnmgr_offsets_clear(&mgr->offsets);
        ktx__txn_complete(&mgr->sm);
    }
    request_done(mgr);
}

int ktx__txnreq_end_txn(struct ktx__txnmgr *mgr, bool commit, int64_t now)
{
    int err;

    /* state.path: COMMITTING is in the file before EndTxn(commit) leaves (txn/persist.c). */
    if ((err = ktx__persist_txn_end_sending(mgr->idem, commit)) != 0)
        return err;
    return send_req(mgr, mgr->coord_node, KTX__API_END_TXN, encode_end, on_end,
                    KTX__TXNR_END_TXN, now);
}

/* ---- DescribeTransactions: the previous run's last transaction (txn/persist.c) ---- */

/* ktx__conn_encode_fn of DescribeTransactions: this producer's transactional id. */
static int encode_describe(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__str id = ktx__str_c(mgr->transactional_id);
    struct ktx__describe_transactions_req req = {&id, 1};

    mgr->req_version = ver;
    return ktx__proto_describe_transactions_req_encode(w, ver, &req);
}

/* ktx__conn_cb of DescribeTransactions: decode -> the persisted state decides the outcome,
 * or asks again (after looking the coordinator up when it moved). */
static void on_describe(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                        void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__describe_transactions_resp resp = {0};
    const struct ktx__describe_transactions_state *st = NULL;
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    ktx__arena_init(&arena, 0);
    if (code == 0)
        code = ktx__proto_describe_transactions_resp_decode(body, len, mgr->req_version, &resp,
                                                           &arena);
    if (code == 0 && (resp.transaction_state_count != 1 ||
                      !ktx__str_eq_c(resp.transaction_states[0].transactional_id,
                                     mgr->transactional_id)))
        code = KTX_ERR_BAD_MSG; /* not an answer about the id asked for */
    if (code == 0 && (code = resp.transaction_states[0].error_code) == 0)
        st = &resp.transaction_states[0];
    if (ktx__persist_txn_described(mgr->idem, code, st))
        ktx__txnmgr_retry(mgr, KTX__TXN_REQ_FIND_COORDINATOR, code,
                          code == KTX_ERR_NOT_COORDINATOR ||
                              code == KTX_ERR_COORDINATOR_NOT_AVAILABLE ||
                              code == KTX_ERR_TRANSPORT);
    else
        mgr->attempts = 0;
    ktx__arena_free(&arena);
    request_done(mgr);
}

int ktx__txnreq_describe_transactions(struct ktx__txnmgr *mgr, int64_t now)
{
    return send_req(mgr, mgr->coord_node, KTX__API_DESCRIBE_TRANSACTIONS, encode_describe,
                    on_describe, KTX__TXNR_DESCRIBE, now);
}

/* ---- ApiVersions to the coordinator: its finalized transaction.version ---- */

/* The ApiVersions version used: v3 carries the finalized features (tagged fields). */
#define TXNREQ_API_VERSIONS_VER 3

/* ktx__conn_encode_fn of ApiVersions. */
static int encode_api_versions(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__api_versions_req req = {ktx__str_c("kafkatx"), ktx__str_c("0")};

    mgr->req_version = ver;
    return ktx__proto_api_versions_req_encode(w, ver, &req);
}

/* ktx__conn_cb of ApiVersions: keep the finalized transaction.version level. */
static void on_api_versions(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                            void *opaque)
{
    struct ktx__txnmgr *mgr = opaque;
    struct ktx__api_versions_resp resp = {0};
    struct ktx__arena arena;
    int code = err;

    (void)conn;
    ktx__arena_init(&arena, 0);
    if (code == 0)
        code = ktx__proto_api_versions_resp_decode(body, len, mgr->req_version, &resp, &arena);
    if (code == 0)
        code = resp.error_code;
    if (code == 0) {
        mgr->txn_version = ktx__proto_api_versions_finalized_level(&resp, "transaction.version");
        mgr->features_node = mgr->coord_node;
        mgr->attempts = 0;
    } else {
        /* Not in the table (no transactional meaning): a failure is a transport one. */
        ktx__sender_log(mgr->sender, KTX_LOG_WARNING, "txn", "ApiVersions v%d to node %d: %s",
                        (int)mgr->req_version, (int)mgr->coord_node, ktx_err_name(code));
        ktx__txnmgr_retry(mgr, KTX__TXN_REQ_FIND_COORDINATOR, code, true);
    }
    ktx__arena_free(&arena);
    request_done(mgr);
}

int ktx__txnreq_api_versions(struct ktx__txnmgr *mgr, int64_t now)
{
    struct ktx__conn_req creq = {0};
    int err;

    creq.api_key = KTX__API_API_VERSIONS;
    creq.version = TXNREQ_API_VERSIONS_VER;
    creq.encode = encode_api_versions;
    creq.encode_opaque = mgr;
    creq.cb = on_api_versions;
    creq.opaque = mgr;
    err = ktx__net_send(ktx__sender_net(mgr->sender), mgr->coord_node, &creq, now);
    if (err == 0)
        mgr->in_flight = KTX__TXNR_API_VERSIONS;
    return err;
}
