/*
 * Unit tests for ktx-broker's request handlers (tests/broker/handlers*.c): requests are
 * encoded with the SDK's client codecs, handled, and the answers decoded again, so these
 * tests also check that the broker speaks the same wire format as the client.
 */
#include "check_util.h"

#include "broker/handlers.h"
#include "proto_fetch.h"
#include "proto_group.h"
#include "proto_meta.h"
#include "proto_produce.h"
#include "proto_txn.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1000000

static struct kb_cluster cluster;
static struct ktx__arena arena;
static uint8_t *resp_buf; /* the last response; decoded views point into it */

static void setup(void)
{
    char reply[128];
    kb_cluster_init(&cluster, 3, NULL);
    for (int i = 0; i < 3; i++)
        cluster.brokers[i].port = 9092 + i;
    kb_cluster_command(&cluster, "topic t 2 3", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "OK");
    kb_cluster_command(&cluster, "coord txn tx 2", NOW, reply, sizeof(reply));
    kb_cluster_command(&cluster, "coord group g 3", NOW, reply, sizeof(reply));
    ktx__arena_init(&arena, 0);
    resp_buf = NULL;
}

static void teardown(void)
{
    free(resp_buf);
    ktx__arena_free(&arena);
    kb_cluster_free(&cluster);
}

/*
 * Sends |req| (a struct of |api_key|'s request) at |ver| to broker |node| and decodes the
 * answer into |resp|. Returns false when the broker sent no response (acks=0).
 */
static bool call(int32_t node, int16_t api_key, int16_t ver, const void *req, void *resp)
{
    const struct ktx__proto_codec *codec = ktx__proto_codec(api_key);
    struct ktx__req_header hdr = {api_key, ver, 42, ktx__str_c("test")};
    struct ktx__writer w, out;
    struct ktx__reader r;
    struct kb_reply reply;
    int32_t corr = 0;

    ktx__w_init(&w, 256, 0);
    ktx__w_init(&out, 256, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ck_assert_int_eq(codec->req_encode(&w, ver, req), 0);
    ck_assert_int_eq(kb_handle_request(&cluster, node, w.p, w.len, NOW, &out, &reply), 0);
    ktx__w_free(&w);
    if (!reply.send) {
        ck_assert_uint_eq(out.len, 0);
        ktx__w_free(&out);
        return false;
    }
    free(resp_buf);
    resp_buf = out.p; /* keep the bytes alive for the decoded views */
    ktx__r_init(&r, out.p, out.len);
    ck_assert_int_eq(ktx__proto_resp_header_decode(&r, api_key, ver, &corr), 0);
    ck_assert_int_eq(corr, 42);
    ck_assert_int_eq(codec->resp_decode(out.p + r.pos, out.len - r.pos, ver, resp, &arena), 0);
    return true;
}

START_TEST(test_handlers_api_versions_lists_apis_and_rejects_unknown_version)
{
    struct ktx__api_versions_req req = {ktx__str_c("t"), ktx__str_c("1")};
    struct ktx__api_versions_resp resp;
    struct ktx__req_header hdr = {KTX__API_API_VERSIONS, 9, 7, ktx__str_c("c")};
    struct ktx__writer w, out;
    struct kb_reply reply;
    bool found = false;

    ck_assert(call(1, KTX__API_API_VERSIONS, 3, &req, &resp));
    ck_assert_int_eq(resp.error_code, 0);
    for (int32_t i = 0; i < resp.api_keys_count; i++)
        if (resp.api_keys[i].api_key == KTX__API_END_TXN) {
            found = true;
            ck_assert_int_eq(resp.api_keys[i].max_version, 5);
        }
    ck_assert(found);
    for (int32_t i = 0; i < resp.api_keys_count; i++)
        if (resp.api_keys[i].api_key == KTX__API_FIND_COORDINATOR)
            ck_assert_int_eq(resp.api_keys[i].min_version, 0);
    /* Version 9: a v0 body with UNSUPPORTED_VERSION. */
    ktx__w_init(&w, 64, 0);
    ktx__w_init(&out, 64, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ck_assert_int_eq(kb_handle_request(&cluster, 1, w.p, w.len, NOW, &out, &reply), 0);
    ck_assert_int_eq(ktx__proto_api_versions_resp_decode(out.p + 4, out.len - 4, 0, &resp, &arena), 0);
    ck_assert_int_eq(resp.error_code, KTX_ERR_UNSUPPORTED_VERSION);
    ktx__w_free(&w);
    ktx__w_free(&out);
}
END_TEST

START_TEST(test_handlers_metadata_reports_brokers_leaders_and_unknown_topics)
{
    struct ktx__metadata_req_topic topics[2] = {{{{0}}, ktx__str_c("t")}, {{{0}}, ktx__str_c("nope")}};
    struct ktx__metadata_req req = {topics, 2, false, false, false};
    struct ktx__metadata_resp resp;
    char reply[64];

    kb_cluster_command(&cluster, "down 3", NOW, reply, sizeof(reply));
    ck_assert(call(1, KTX__API_METADATA, 12, &req, &resp));
    ck_assert_int_eq(resp.brokers_count, 2);
    ck_assert_int_eq(resp.brokers[1].port, 9093);
    ck_assert_int_eq(resp.topics_count, 2);
    ck_assert_int_eq(resp.topics[0].error_code, 0);
    ck_assert_int_eq(resp.topics[0].partitions_count, 2);
    ck_assert_int_eq(resp.brokers[1].node_id, 2);
    ck_assert_int_eq(resp.controller_id, 1);
    ck_assert_int_eq(resp.topics[0].partitions[1].leader_id, 2);
    ck_assert_int_eq(resp.topics[0].partitions[1].replica_nodes_count, 3);
    ck_assert_int_eq(resp.topics[0].partitions[1].isr_nodes_count, 2);
    ck_assert_int_eq(resp.topics[0].partitions[1].offline_replicas[0], 3);
    ck_assert_int_eq(resp.topics[1].error_code, KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
}
END_TEST

START_TEST(test_handlers_find_coordinator_follows_overrides)
{
    struct ktx__str keys[2] = {ktx__str_c("tx"), ktx__str_c("other")};
    struct ktx__find_coordinator_req req = {ktx__str_c("tx"), KTX__COORDINATOR_TRANSACTION, keys, 2};
    struct ktx__find_coordinator_resp resp;

    ck_assert(call(1, KTX__API_FIND_COORDINATOR, 4, &req, &resp));
    ck_assert_int_eq(resp.coordinators_count, 2);
    ck_assert_int_eq(resp.coordinators[0].node_id, 2);
    ck_assert_int_eq(resp.coordinators[0].port, 9093);
    req.coordinator_keys_count = 0;
    ck_assert(call(1, KTX__API_FIND_COORDINATOR, 3, &req, &resp));
    ck_assert_int_eq(resp.node_id, 2);
}
END_TEST

START_TEST(test_handlers_find_coordinator_v0_answers_group_coordinator)
{
    struct ktx__req_header hdr = {KTX__API_FIND_COORDINATOR, 0, 5, ktx__str_c("c")};
    struct ktx__writer w, out;
    struct ktx__reader r;
    struct kb_reply reply;
    struct ktx__str host;

    ktx__w_init(&w, 64, 0);
    ktx__w_init(&out, 64, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ktx__w_string(&w, ktx__str_c("g"), false);
    ck_assert_int_eq(kb_handle_request(&cluster, 1, w.p, w.len, NOW, &out, &reply), 0);
    ktx__r_init(&r, out.p, out.len);
    ck_assert_int_eq(ktx__r_i32(&r), 5);
    ck_assert_int_eq(ktx__r_i16(&r), 0);
    ck_assert_int_eq(ktx__r_i32(&r), 3);
    host = ktx__r_string(&r, false);
    ck_assert(ktx__str_eq_c(host, "127.0.0.1"));
    ck_assert_int_eq(ktx__r_i32(&r), 9094);
    ck_assert_int_eq(ktx__r_finish(&r), 0);
    ktx__w_free(&w);
    ktx__w_free(&out);
}
END_TEST

/* InitProducerId for "tx" at its coordinator (broker 2). */
static struct ktx__init_producer_id_resp init_tx(void)
{
    struct ktx__init_producer_id_req req = {ktx__str_c("tx"), 60000, -1, -1};
    struct ktx__init_producer_id_resp resp;
    ck_assert(call(2, KTX__API_INIT_PRODUCER_ID, 4, &req, &resp));
    return resp;
}

/* Produces one transactional (or plain) batch of 2 records to t/0 at its leader, broker 1. */
static struct ktx__produce_partition_resp produce(int64_t pid, int16_t epoch, int32_t seq, bool txn,
                                                  int16_t acks)
{
    struct kb_batch_spec spec = {pid, epoch, seq, 2, txn, NOW, NULL};
    struct ktx__writer bw;
    struct ktx__produce_partition_data pd;
    struct ktx__produce_topic_data td = {ktx__str_c("t"), &pd, 1};
    struct ktx__produce_req req = {ktx__str_c(txn ? "tx" : NULL), acks, 1000, &td, 1};
    struct ktx__produce_resp resp;
    struct ktx__produce_partition_resp none = {0};

    ktx__w_init(&bw, 256, 0);
    ck_assert_int_eq(kb_batch_write_data(&bw, &spec), 0);
    pd.index = 0;
    pd.records = (struct ktx__bytes){bw.p, (int32_t)bw.len};
    if (!call(1, KTX__API_PRODUCE, 9, &req, &resp)) {
        ktx__w_free(&bw);
        none.error_code = -1;
        return none;
    }
    ktx__w_free(&bw);
    ck_assert_int_eq(resp.responses_count, 1);
    return resp.responses[0].partition_responses[0];
}

/* Fetches t/0 from offset 0 at broker 1; returns the partition answer. */
static struct ktx__fetch_partition_resp fetch(int8_t isolation)
{
    struct ktx__fetch_partition fp = {0, -1, 0, -1, -1, 1 << 20};
    struct ktx__fetch_topic ft = {ktx__str_c("t"), &fp, 1};
    struct ktx__fetch_req req;
    struct ktx__fetch_resp resp;

    memset(&req, 0, sizeof(req));
    req.replica_id = -1;
    req.max_bytes = 1 << 20;
    req.isolation_level = isolation;
    req.session_epoch = -1;
    req.topics = &ft;
    req.topics_count = 1;
    req.rack_id = ktx__str_c("");
    ck_assert(call(1, KTX__API_FETCH, 12, &req, &resp));
    return resp.responses[0].partitions[0];
}

static int16_t add_partition(int64_t pid, int16_t epoch)
{
    int32_t parts[1] = {0};
    struct ktx__add_partitions_to_txn_topic topic = {ktx__str_c("t"), parts, 1};
    struct ktx__add_partitions_to_txn_req req = {ktx__str_c("tx"), pid, epoch, &topic, 1};
    struct ktx__add_partitions_to_txn_resp resp;
    ck_assert(call(2, KTX__API_ADD_PARTITIONS_TO_TXN, 3, &req, &resp));
    return resp.results_by_topic[0].results_by_partition[0].partition_error_code;
}

static int16_t end_txn(int64_t pid, int16_t epoch, bool commit, int16_t ver)
{
    struct ktx__end_txn_req req = {ktx__str_c("tx"), pid, epoch, commit};
    struct ktx__end_txn_resp resp;
    ck_assert(call(2, KTX__API_END_TXN, ver, &req, &resp));
    return resp.error_code;
}

START_TEST(test_handlers_transaction_is_invisible_to_read_committed_until_commit)
{
    struct ktx__init_producer_id_resp init = init_tx();
    struct ktx__init_producer_id_req wrong = {ktx__str_c("tx"), 60000, -1, -1};
    struct ktx__init_producer_id_resp resp;
    struct ktx__fetch_partition_resp fr;

    ck_assert_int_eq(init.error_code, 0);
    ck_assert_int_eq(init.producer_epoch, 0);
    ck_assert(call(1, KTX__API_INIT_PRODUCER_ID, 4, &wrong, &resp));
    ck_assert_int_eq(resp.error_code, KTX_ERR_NOT_COORDINATOR);
    /* Producing before AddPartitionsToTxn is refused. */
    ck_assert_int_eq(produce(init.producer_id, 0, 0, true, -1).error_code, KTX_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(add_partition(init.producer_id, 0), 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, true, -1).base_offset, 0);
    fr = fetch(KTX__READ_COMMITTED);
    ck_assert_int_eq(fr.error_code, 0);
    ck_assert_int_eq(fr.records.len, 0);
    ck_assert_int_eq(fr.last_stable_offset, 0);
    ck_assert_int_eq(fr.high_watermark, 2);
    ck_assert_int_gt(fetch(KTX__READ_UNCOMMITTED).records.len, 0);
    ck_assert_int_eq(end_txn(init.producer_id, 0, true, 3), 0);
    fr = fetch(KTX__READ_COMMITTED);
    ck_assert_int_eq(fr.last_stable_offset, 3);
    ck_assert_int_gt(fr.records.len, 0);
    ck_assert_int_eq(fr.aborted_transactions_count, 0);
}
END_TEST

START_TEST(test_handlers_aborted_transaction_is_listed_and_fenced_producer_rejected)
{
    struct ktx__init_producer_id_resp init = init_tx(), second;
    struct ktx__fetch_partition_resp fr;

    ck_assert_int_eq(add_partition(init.producer_id, 0), 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, true, -1).error_code, 0);
    /* A second InitProducerId fences the first producer and aborts its transaction. */
    second = init_tx();
    ck_assert_int_eq(second.error_code, KTX_ERR_CONCURRENT_TRANSACTIONS);
    second = init_tx();
    ck_assert_int_eq(second.error_code, 0);
    ck_assert_int_eq(second.producer_epoch, 2);
    fr = fetch(KTX__READ_COMMITTED);
    ck_assert_int_eq(fr.last_stable_offset, 3);
    ck_assert_int_eq(fr.aborted_transactions_count, 1);
    ck_assert_int_eq(fr.aborted_transactions[0].producer_id, init.producer_id);
    ck_assert_int_eq(fr.aborted_transactions[0].first_offset, 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 2, true, -1).error_code, KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(end_txn(init.producer_id, 0, true, 1), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(end_txn(init.producer_id, 0, true, 3), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(add_partition(init.producer_id, 0), KTX_ERR_PRODUCER_FENCED);
}
END_TEST

START_TEST(test_handlers_describe_producers_and_transactions_show_open_transaction)
{
    struct ktx__init_producer_id_resp init = init_tx();
    int32_t parts[1] = {0};
    struct ktx__describe_producers_req_topic dpt = {ktx__str_c("t"), parts, 1};
    struct ktx__describe_producers_req dp = {&dpt, 1};
    struct ktx__describe_producers_resp dresp;
    struct ktx__str ids[2] = {ktx__str_c("tx"), ktx__str_c("unknown")};
    struct ktx__describe_transactions_req dt = {ids, 2};
    struct ktx__describe_transactions_resp tresp;
    const struct ktx__describe_producers_producer_state *st;
    char line[64];

    kb_cluster_command(&cluster, "coord txn unknown 2", NOW, line, sizeof(line));
    ck_assert_int_eq(produce(-1, -1, -1, false, -1).error_code, 0);
    ck_assert_int_eq(add_partition(init.producer_id, 0), 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, true, -1).error_code, 0);
    ck_assert(call(1, KTX__API_DESCRIBE_PRODUCERS, 0, &dp, &dresp));
    ck_assert_int_eq(dresp.topics[0].partitions[0].error_code, 0);
    ck_assert_int_eq(dresp.topics[0].partitions[0].active_producer_count, 1);
    st = &dresp.topics[0].partitions[0].active_producers[0];
    ck_assert_int_eq(st->producer_id, init.producer_id);
    ck_assert_int_eq(st->last_sequence, 1);
    ck_assert_int_eq(st->current_txn_start_offset, 2);
    ck_assert(call(2, KTX__API_DESCRIBE_TRANSACTIONS, 0, &dt, &tresp));
    ck_assert_int_eq(tresp.transaction_state_count, 2);
    ck_assert(ktx__str_eq_c(tresp.transaction_states[0].transaction_state, "Ongoing"));
    ck_assert_int_eq(tresp.transaction_states[0].transaction_start_time_ms, NOW);
    ck_assert_int_eq(tresp.transaction_states[0].topic_count, 1);
    ck_assert_int_eq(tresp.transaction_states[0].topics[0].partitions[0], 0);
    ck_assert_int_eq(tresp.transaction_states[1].error_code, KTX_ERR_TRANSACTIONAL_ID_NOT_FOUND);
}
END_TEST

START_TEST(test_handlers_injected_error_answers_without_appending)
{
    char reply[64];
    struct ktx__produce_partition_resp pr;

    kb_cluster_command(&cluster, "err 0 1 6", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "OK");
    pr = produce(-1, -1, -1, false, -1);
    ck_assert_int_eq(pr.error_code, KTX_ERR_NOT_LEADER_OR_FOLLOWER);
    ck_assert_int_eq(pr.base_offset, -1);
    ck_assert_int_eq(fetch(KTX__READ_UNCOMMITTED).high_watermark, 0);
    pr = produce(-1, -1, -1, false, -1);
    ck_assert_int_eq(pr.error_code, 0);
    ck_assert_int_eq(pr.base_offset, 0);
    /* acks=0: appended, no response. */
    ck_assert_int_eq(produce(-1, -1, -1, false, 0).error_code, -1);
    ck_assert_int_eq(fetch(KTX__READ_UNCOMMITTED).high_watermark, 4);
}
END_TEST

START_TEST(test_handlers_injected_minus_one_drops_the_connection)
{
    struct ktx__req_header hdr = {KTX__API_METADATA, 12, 1, ktx__str_c("c")};
    struct ktx__metadata_req req = {NULL, -1, false, false, false};
    struct ktx__writer w, out;
    struct kb_reply reply;
    char line[64];

    kb_cluster_command(&cluster, "err 3 1 -1", NOW, line, sizeof(line));
    ck_assert_str_eq(line, "OK");
    ktx__w_init(&w, 64, 0);
    ktx__w_init(&out, 64, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(&w, &hdr), 0);
    ck_assert_int_eq(ktx__proto_metadata_req_encode(&w, 12, &req), 0);
    ck_assert_int_eq(kb_handle_request(&cluster, 1, w.p, w.len, NOW, &out, &reply), KTX_ERR_TRANSPORT);
    ktx__w_reset(&out);
    ck_assert_int_eq(kb_handle_request(&cluster, 1, w.p, w.len, NOW, &out, &reply), 0);
    ck_assert_uint_gt(out.len, 4);
    ck_assert_int_eq(kb_handle_request(&cluster, 0, w.p, w.len, NOW, &out, &reply), KTX_ERR_BAD_MSG);
    ktx__w_free(&w);
    ktx__w_free(&out);
}
END_TEST

START_TEST(test_handlers_idempotent_retry_gets_original_offset)
{
    struct ktx__init_producer_id_req req = {ktx__str_c(NULL), 0, -1, -1};
    struct ktx__init_producer_id_resp init;

    ck_assert(call(3, KTX__API_INIT_PRODUCER_ID, 4, &req, &init));
    ck_assert_int_eq(init.error_code, 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, false, -1).base_offset, 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 2, false, -1).base_offset, 2);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, false, -1).base_offset, 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 9, false, -1).error_code,
                     KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(fetch(KTX__READ_UNCOMMITTED).high_watermark, 4);
}
END_TEST

/* OffsetFetch v7 of g/t/0 at its coordinator, broker 3. */
static struct ktx__offset_fetch_resp_partition offset_fetch(bool require_stable)
{
    int32_t parts[1] = {0};
    struct ktx__offset_fetch_req_topic topic = {ktx__str_c("t"), parts, 1};
    struct ktx__offset_fetch_req req;
    struct ktx__offset_fetch_resp resp;

    memset(&req, 0, sizeof(req));
    req.group_id = ktx__str_c("g");
    req.topics = &topic;
    req.topics_count = 1;
    req.require_stable = require_stable;
    ck_assert(call(3, KTX__API_OFFSET_FETCH, 7, &req, &resp));
    return resp.topics[0].partitions[0];
}

START_TEST(test_handlers_txn_offsets_unstable_until_commit)
{
    struct ktx__init_producer_id_resp init = init_tx();
    struct ktx__add_offsets_to_txn_req add = {ktx__str_c("tx"), init.producer_id, 0, ktx__str_c("g")};
    struct ktx__add_offsets_to_txn_resp add_resp;
    struct ktx__txn_offset_commit_req_partition part = {0, 17, -1, ktx__str_c("m")};
    struct ktx__txn_offset_commit_req_topic topic = {ktx__str_c("t"), &part, 1};
    struct ktx__txn_offset_commit_req req;
    struct ktx__txn_offset_commit_resp resp;

    ck_assert(call(2, KTX__API_ADD_OFFSETS_TO_TXN, 3, &add, &add_resp));
    ck_assert_int_eq(add_resp.error_code, 0);
    memset(&req, 0, sizeof(req));
    req.transactional_id = ktx__str_c("tx");
    req.group_id = ktx__str_c("g");
    req.producer_id = init.producer_id;
    req.producer_epoch = 0;
    req.generation_id = -1;
    req.member_id = ktx__str_c("");
    req.group_instance_id = ktx__str_c(NULL);
    req.topics = &topic;
    req.topic_count = 1;
    ck_assert(call(2, KTX__API_TXN_OFFSET_COMMIT, 3, &req, &resp));
    ck_assert_int_eq(resp.topics[0].partitions[0].error_code, KTX_ERR_NOT_COORDINATOR);
    ck_assert(call(3, KTX__API_TXN_OFFSET_COMMIT, 3, &req, &resp));
    ck_assert_int_eq(resp.topics[0].partitions[0].error_code, 0);
    ck_assert_int_eq(offset_fetch(false).committed_offset, -1);
    ck_assert_int_eq(offset_fetch(true).error_code, KTX_ERR_UNSTABLE_OFFSET_COMMIT);
    ck_assert_int_eq(end_txn(init.producer_id, 0, true, 3), 0);
    ck_assert_int_eq(offset_fetch(true).error_code, 0);
    ck_assert_int_eq(offset_fetch(true).committed_offset, 17);
}
END_TEST

START_TEST(test_handlers_list_offsets_latest_committed_stops_at_lso)
{
    struct ktx__init_producer_id_resp init = init_tx();
    struct ktx__list_offsets_partition lp = {0, -1, KTX__LIST_OFFSETS_LATEST};
    struct ktx__list_offsets_topic lt = {ktx__str_c("t"), &lp, 1};
    struct ktx__list_offsets_req req = {-1, KTX__READ_COMMITTED, &lt, 1};
    struct ktx__list_offsets_resp resp;

    ck_assert_int_eq(produce(-1, -1, -1, false, -1).error_code, 0);
    ck_assert_int_eq(add_partition(init.producer_id, 0), 0);
    ck_assert_int_eq(produce(init.producer_id, 0, 0, true, -1).error_code, 0);
    ck_assert(call(1, KTX__API_LIST_OFFSETS, 7, &req, &resp));
    ck_assert_int_eq(resp.topics[0].partitions[0].offset, 2);
    req.isolation_level = KTX__READ_UNCOMMITTED;
    ck_assert(call(1, KTX__API_LIST_OFFSETS, 7, &req, &resp));
    ck_assert_int_eq(resp.topics[0].partitions[0].offset, 4);
    ck_assert(call(2, KTX__API_LIST_OFFSETS, 7, &req, &resp));
    ck_assert_int_eq(resp.topics[0].partitions[0].error_code, KTX_ERR_NOT_LEADER_OR_FOLLOWER);
}
END_TEST

START_TEST(test_handlers_control_commands_reply_ok_or_err)
{
    char reply[128];

    kb_cluster_command(&cluster, "topic t 1 1", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "ERR topic exists");
    kb_cluster_command(&cluster, "topic u 1 4", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "ERR bad replication factor");
    kb_cluster_command(&cluster, "leader t 0 2", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "OK");
    ck_assert_int_eq(kb_cluster_topic(&cluster, "t", 1)->partitions[0].leader, 2);
    ck_assert_int_eq(kb_cluster_topic(&cluster, "t", 1)->partitions[0].leader_epoch, 1);
    kb_cluster_command(&cluster, "berr 2 22 15 30", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "OK");
    kb_cluster_command(&cluster, "berr 2 22 51 0", NOW, reply, sizeof(reply));
    ck_assert_int_eq(init_tx().error_code, KTX_ERR_COORDINATOR_NOT_AVAILABLE);
    ck_assert_int_eq(init_tx().error_code, KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(init_tx().error_code, 0);
    kb_cluster_command(&cluster, "leader t 1 -1", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "OK");
    ck_assert_int_eq(kb_cluster_topic(&cluster, "t", 1)->partitions[1].leader, -1);
    {
        struct ktx__metadata_req_topic topics[1] = {{{{0}}, ktx__str_c("t")}};
        struct ktx__metadata_req req = {topics, 1, false, false, false};
        struct ktx__metadata_resp resp;
        ck_assert(call(1, KTX__API_METADATA, 12, &req, &resp));
        ck_assert_int_eq(resp.topics[0].partitions[1].error_code, KTX_ERR_LEADER_NOT_AVAILABLE);
        ck_assert_int_eq(resp.topics[0].partitions[1].leader_id, -1);
        ck_assert_int_eq(resp.topics[0].partitions[1].replica_nodes[0], 2);
    }
    kb_cluster_command(&cluster, "rtt 9 5", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "ERR bad broker");
    kb_cluster_command(&cluster, "rtt 0 5", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "ERR bad broker");
    kb_cluster_command(&cluster, "bogus", NOW, reply, sizeof(reply));
    ck_assert_str_eq(reply, "ERR unknown command");
    kb_cluster_command(&cluster, "quit", NOW, reply, sizeof(reply));
    ck_assert(cluster.quit);
}
END_TEST

static Suite *broker_handlers_suite(void)
{
    Suite *s = suite_create("broker_handlers");
    TCase *tc = tcase_create("handlers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_handlers_api_versions_lists_apis_and_rejects_unknown_version);
    tcase_add_test(tc, test_handlers_metadata_reports_brokers_leaders_and_unknown_topics);
    tcase_add_test(tc, test_handlers_find_coordinator_follows_overrides);
    tcase_add_test(tc, test_handlers_find_coordinator_v0_answers_group_coordinator);
    tcase_add_test(tc, test_handlers_transaction_is_invisible_to_read_committed_until_commit);
    tcase_add_test(tc, test_handlers_aborted_transaction_is_listed_and_fenced_producer_rejected);
    tcase_add_test(tc, test_handlers_describe_producers_and_transactions_show_open_transaction);
    tcase_add_test(tc, test_handlers_injected_error_answers_without_appending);
    tcase_add_test(tc, test_handlers_injected_minus_one_drops_the_connection);
    tcase_add_test(tc, test_handlers_idempotent_retry_gets_original_offset);
    tcase_add_test(tc, test_handlers_txn_offsets_unstable_until_commit);
    tcase_add_test(tc, test_handlers_list_offsets_latest_committed_stops_at_lso);
    tcase_add_test(tc, test_handlers_control_commands_reply_ok_or_err);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_handlers_suite)
