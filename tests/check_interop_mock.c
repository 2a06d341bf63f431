/*
 * Interop of kafkatx's codecs with a real peer: requests encoded by kafkatx (sdk/proto.c
 * headers, sdk/proto_meta.c, sdk/proto_txn.c) go over TCP to librdkafka's mock cluster
 * (tests/cluster/ktx-mock), and its answers must decode with kafkatx's decoders to the
 * values the mock was told to serve. The mock speaks only old versions (see the top of
 * tests/cluster/ktx-mock.c), so this covers ApiVersions 0-4, Metadata 1-2,
 * FindCoordinator 1-2 and InitProducerId 0-4.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "proto.h"
#include "proto_meta.h"
#include "proto_produce.h"
#include "proto_txn.h"

#define RPC_TIMEOUT_MS 5000
#define VERSIONS_SLOTS 128

static struct ktx_test_cluster *cluster;

/* ktx_test_exchange() with this suite's timeout. */
static int exchange(int fd, const struct ktx__proto_codec *codec, int16_t ver, const void *req,
                    void *resp, struct ktx_test_exchange *ex)
{
    return ktx_test_exchange(fd, codec, ver, req, resp, ex, RPC_TIMEOUT_MS);
}

static void cluster_setup(void)
{
    ck_assert_int_eq(ktx_test_cluster_start(&cluster, KTX_TEST_PEER_MOCK, 3, NULL), 0);
}

static void cluster_teardown(void)
{
    ck_assert_int_eq(ktx_test_cluster_stop(cluster), 0);
    cluster = NULL;
}

static void cmd_ok(const char *line)
{
    int rc = ktx_test_cluster_cmd(cluster, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc,
                  ktx_test_cluster_last_error(cluster));
}

static int connect_broker(int broker_id)
{
    int fd = ktx_test_cluster_connect(cluster, broker_id, RPC_TIMEOUT_MS);
    ck_assert_msg(fd >= 0, "connect to broker %d: %s", broker_id, strerror(errno));
    return fd;
}

static const struct ktx__api_version *find_api(const struct ktx__api_versions_resp *resp,
                                               int16_t api_key)
{
    for (int32_t i = 0; i < resp->api_keys_count; i++)
        if (resp->api_keys[i].api_key == api_key)
            return &resp->api_keys[i];
    return NULL;
}

/* Asserts that |resp| lists the ranges librdkafka 2.0.2's mock serves. */
static void assert_mock_ranges(const struct ktx__api_versions_resp *resp)
{
    static const struct ktx__api_version want[] = {
        {KTX__API_PRODUCE, 0, 7},           {KTX__API_METADATA, 0, 2},
        {KTX__API_FIND_COORDINATOR, 0, 2},  {KTX__API_API_VERSIONS, 0, 2},
        {KTX__API_INIT_PRODUCER_ID, 0, 4},  {KTX__API_ADD_PARTITIONS_TO_TXN, 0, 1},
        {KTX__API_ADD_OFFSETS_TO_TXN, 0, 1}, {KTX__API_END_TXN, 0, 1},
        {KTX__API_TXN_OFFSET_COMMIT, 0, 2},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct ktx__api_version *av = find_api(resp, want[i].api_key);
        ck_assert_msg(av != NULL, "api %d not listed", want[i].api_key);
        ck_assert_int_eq(av->min_version, want[i].min_version);
        ck_assert_int_eq(av->max_version, want[i].max_version);
    }
    ck_assert_ptr_null(find_api(resp, KTX__API_SASL_HANDSHAKE));
    ck_assert_ptr_null(find_api(resp, KTX__API_DESCRIBE_TRANSACTIONS));
}

/* ---- ApiVersions ---- */

START_TEST(test_interop_api_versions_v0_to_v2_decode_the_mock_ranges)
{
    int fd = connect_broker(1);

    for (int16_t ver = 0; ver <= 2; ver++) {
        struct ktx__api_versions_req req = {ktx__str_c(NULL), ktx__str_c(NULL)};
        struct ktx__api_versions_resp resp;
        struct ktx_test_exchange ex;

        ck_assert_int_eq(exchange(fd, &ktx__proto_codec_api_versions, ver, &req, &resp, &ex), 0);
        ck_assert_int_eq(resp.error_code, 0);
        ck_assert_int_eq(resp.throttle_time_ms, 0);
        assert_mock_ranges(&resp);
        ktx_test_exchange_free(&ex);
    }
    close(fd);
}
END_TEST

START_TEST(test_interop_api_versions_v3_v4_are_rejected_and_v0_fallback_negotiates)
{
    int fd = connect_broker(2);

    for (int16_t ver = 3; ver <= 4; ver++) {
        struct ktx__api_versions_req req = {ktx__str_c("kafkatx"), ktx__str_c("0.1.0")};
        struct ktx__api_versions_resp resp;
        struct ktx_test_exchange ex;

        /* The mock's UNSUPPORTED_VERSION answer is malformed: the decoder must refuse it
         * rather than read garbage. */
        ck_assert_int_eq(exchange(fd, &ktx__proto_codec_api_versions, ver, &req, &resp, &ex),
                         KTX_ERR_BAD_MSG);
        ktx_test_exchange_free(&ex);
    }

    /* Falling back to v0 on the same connection works and negotiates the mock's limits. */
    struct ktx__api_versions_req req = {ktx__str_c(NULL), ktx__str_c(NULL)};
    struct ktx__api_versions_resp resp;
    struct ktx_test_exchange ex;
    int16_t versions[VERSIONS_SLOTS];

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_api_versions, 0, &req, &resp, &ex), 0);
    ck_assert_int_eq(resp.error_code, 0);
    assert_mock_ranges(&resp);
    ck_assert_int_eq(ktx__proto_api_versions_pick(&resp, versions, VERSIONS_SLOTS), 0);
    ck_assert_int_eq(versions[KTX__API_PRODUCE], 7);
    ck_assert_int_eq(versions[KTX__API_FETCH], 11);
    ck_assert_int_eq(versions[KTX__API_LIST_OFFSETS], 5);
    ck_assert_int_eq(versions[KTX__API_METADATA], 2);
    ck_assert_int_eq(versions[KTX__API_OFFSET_COMMIT], 7);
    ck_assert_int_eq(versions[KTX__API_OFFSET_FETCH], 5);
    ck_assert_int_eq(versions[KTX__API_FIND_COORDINATOR], 2);
    ck_assert_int_eq(versions[KTX__API_API_VERSIONS], 2);
    ck_assert_int_eq(versions[KTX__API_INIT_PRODUCER_ID], 4);
    ck_assert_int_eq(versions[KTX__API_ADD_PARTITIONS_TO_TXN], 1);
    ck_assert_int_eq(versions[KTX__API_ADD_OFFSETS_TO_TXN], 1);
    ck_assert_int_eq(versions[KTX__API_END_TXN], 1);
    ck_assert_int_eq(versions[KTX__API_TXN_OFFSET_COMMIT], 2);
    ck_assert_int_eq(versions[KTX__API_SASL_HANDSHAKE], -1);
    ck_assert_int_eq(versions[KTX__API_SASL_AUTHENTICATE], -1);
    ck_assert_int_eq(versions[KTX__API_DESCRIBE_PRODUCERS], -1);
    ck_assert_int_eq(versions[KTX__API_DESCRIBE_TRANSACTIONS], -1);
    ktx_test_exchange_free(&ex);
    close(fd);
}
END_TEST

/* ---- Metadata ---- */

static const struct ktx__metadata_topic *find_topic(const struct ktx__metadata_resp *resp,
                                                    const char *name)
{
    for (int32_t i = 0; i < resp->topics_count; i++)
        if (ktx__str_eq_c(resp->topics[i].name, name))
            return &resp->topics[i];
    return NULL;
}

/* Fetches Metadata v|ver| for all topics (|names| NULL) or the |count| topics in |names|. */
static void metadata(int fd, int16_t ver, const char *const *names, int32_t count,
                     struct ktx__metadata_resp *resp, struct ktx_test_exchange *ex)
{
    struct ktx__metadata_req_topic topics[4];
    struct ktx__metadata_req req;

    memset(&req, 0, sizeof(req));
    memset(topics, 0, sizeof(topics));
    req.allow_auto_topic_creation = true;
    req.topics_count = names == NULL ? -1 : count;
    req.topics = names == NULL ? NULL : topics;
    for (int32_t i = 0; names != NULL && i < count; i++)
        topics[i].name = ktx__str_c(names[i]);
    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_metadata, ver, &req, resp, ex), 0);
}

/* Asserts that |resp| lists the three brokers at the addresses the mock printed. */
static void assert_brokers(const struct ktx__metadata_resp *resp, int16_t ver)
{
    ck_assert_int_eq(resp->brokers_count, 3);
    for (int32_t i = 0; i < resp->brokers_count; i++) {
        const struct ktx__metadata_broker *b = &resp->brokers[i];
        char host[64];
        int port;
        ck_assert_int_eq(ktx_test_cluster_broker_addr(cluster, b->node_id, host, sizeof(host),
                                                      &port), 0);
        ck_assert(ktx__str_eq_c(b->host, host));
        ck_assert_int_eq(b->port, port);
        ck_assert_int_eq(b->rack.len, -1);
    }
    /* The mock never sets a controller: it reports id 0, which is no broker's id. */
    ck_assert_int_eq(resp->controller_id, 0);
    if (ver >= 2) {
        ck_assert_int_gt(resp->cluster_id.len, 0);
        ck_assert_int_eq(strncmp(resp->cluster_id.ptr, "mockCluster", 11), 0);
    } else {
        ck_assert_int_eq(resp->cluster_id.len, -1);
    }
}

/* Asserts that |topic| has |count| partitions 0..count-1 without error, led by a broker. */
static void assert_partitions(const struct ktx__metadata_topic *topic, int32_t count)
{
    ck_assert_ptr_nonnull(topic);
    ck_assert_int_eq(topic->error_code, 0);
    ck_assert(!topic->is_internal);
    ck_assert_int_eq(topic->partitions_count, count);
    for (int32_t p = 0; p < count; p++) {
        ck_assert_int_eq(topic->partitions[p].error_code, 0);
        ck_assert_int_eq(topic->partitions[p].partition_index, p);
        ck_assert_int_ge(topic->partitions[p].leader_id, 1);
        ck_assert_int_le(topic->partitions[p].leader_id, 3);
        ck_assert_int_ge(topic->partitions[p].replica_nodes_count, 1);
    }
}

START_TEST(test_interop_metadata_v1_v2_show_created_topics_and_leader_moves)
{
    static const char *const only_orders[] = {"orders"};
    int fd = connect_broker(3);

    cmd_ok("topic orders 3 1");
    cmd_ok("topic audit 1 1");
    for (int16_t ver = 1; ver <= 2; ver++) {
        struct ktx__metadata_resp resp;
        struct ktx_test_exchange ex;

        metadata(fd, ver, NULL, 0, &resp, &ex);
        assert_brokers(&resp, ver);
        ck_assert_int_eq(resp.topics_count, 2);
        assert_partitions(find_topic(&resp, "orders"), 3);
        assert_partitions(find_topic(&resp, "audit"), 1);
        ktx_test_exchange_free(&ex);

        metadata(fd, ver, only_orders, 1, &resp, &ex);
        ck_assert_int_eq(resp.topics_count, 1);
        assert_partitions(find_topic(&resp, "orders"), 3);
        ktx_test_exchange_free(&ex);
    }

    cmd_ok("leader orders 0 3");
    cmd_ok("leader orders 1 1");
    cmd_ok("leader orders 2 2");
    for (int16_t ver = 1; ver <= 2; ver++) {
        struct ktx__metadata_resp resp;
        struct ktx_test_exchange ex;
        const struct ktx__metadata_topic *orders;

        metadata(fd, ver, only_orders, 1, &resp, &ex);
        orders = find_topic(&resp, "orders");
        assert_partitions(orders, 3);
        ck_assert_int_eq(orders->partitions[0].leader_id, 3);
        ck_assert_int_eq(orders->partitions[1].leader_id, 1);
        ck_assert_int_eq(orders->partitions[2].leader_id, 2);
        ktx_test_exchange_free(&ex);
    }
    close(fd);
}
END_TEST

/* ---- FindCoordinator ---- */

static void find_coordinator(int fd, int16_t ver, const char *key, int8_t key_type,
                             struct ktx__find_coordinator_resp *resp, struct ktx_test_exchange *ex)
{
    struct ktx__find_coordinator_req req;

    memset(&req, 0, sizeof(req));
    req.key = ktx__str_c(key);
    req.key_type = key_type;
    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_find_coordinator, ver, &req, resp, ex), 0);
}

/* Asserts that |resp| names broker |broker_id| at the address the mock printed. */
static void assert_coordinator(const struct ktx__find_coordinator_resp *resp, int broker_id)
{
    char host[64];
    int port;

    ck_assert_int_eq(resp->error_code, 0);
    ck_assert_int_eq(resp->node_id, broker_id);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(cluster, broker_id, host, sizeof(host), &port),
                     0);
    ck_assert(ktx__str_eq_c(resp->host, host));
    ck_assert_int_eq(resp->port, port);
}

START_TEST(test_interop_find_coordinator_v1_v2_answer_the_pinned_broker)
{
    int fd = connect_broker(1);

    cmd_ok("coord txn tx-a 2");
    cmd_ok("coord group g-a 3");
    for (int16_t ver = 1; ver <= 2; ver++) {
        struct ktx__find_coordinator_resp resp;
        struct ktx_test_exchange ex;

        find_coordinator(fd, ver, "tx-a", KTX__COORDINATOR_TRANSACTION, &resp, &ex);
        assert_coordinator(&resp, 2);
        ck_assert_int_eq(resp.error_message.len, -1);
        ktx_test_exchange_free(&ex);
        find_coordinator(fd, ver, "g-a", KTX__COORDINATOR_GROUP, &resp, &ex);
        assert_coordinator(&resp, 3);
        ktx_test_exchange_free(&ex);
    }
    cmd_ok("coord txn tx-a 1");
    for (int16_t ver = 1; ver <= 2; ver++) {
        struct ktx__find_coordinator_resp resp;
        struct ktx_test_exchange ex;

        find_coordinator(fd, ver, "tx-a", KTX__COORDINATOR_TRANSACTION, &resp, &ex);
        assert_coordinator(&resp, 1);
        ktx_test_exchange_free(&ex);
    }
    close(fd);
}
END_TEST

START_TEST(test_interop_find_coordinator_error_with_null_host_is_refused)
{
    struct ktx__find_coordinator_req req;
    struct ktx__find_coordinator_resp resp;
    struct ktx_test_exchange ex;
    int fd = connect_broker(1);

    /* On an error the mock sends a null host, which the schema does not allow (Kafka sends
     * ""): kafkatx's decoder refuses the answer, and the error code is still on the wire. */
    cmd_ok("err 10 1 15");
    memset(&req, 0, sizeof(req));
    req.key = ktx__str_c("tx-a");
    req.key_type = KTX__COORDINATOR_TRANSACTION;
    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_find_coordinator, 2, &req, &resp, &ex),
                     KTX_ERR_BAD_MSG);
    /* correlation id, throttle_time_ms, then error_code */
    ck_assert_int_eq(ex.raw[8] << 8 | ex.raw[9], KTX_ERR_COORDINATOR_NOT_AVAILABLE);
    ktx_test_exchange_free(&ex);
    /* The next answer is a normal one. */
    find_coordinator(fd, 2, "tx-a", KTX__COORDINATOR_TRANSACTION, &resp, &ex);
    ck_assert_int_eq(resp.error_code, 0);
    ktx_test_exchange_free(&ex);
    close(fd);
}
END_TEST

/* ---- InitProducerId ---- */

static void init_producer_id(int fd, int16_t ver, const char *transactional_id,
                             int64_t producer_id, int16_t producer_epoch,
                             struct ktx__init_producer_id_resp *resp)
{
    struct ktx__init_producer_id_req req = {ktx__str_c(transactional_id), 60000, producer_id,
                                            producer_epoch};
    struct ktx_test_exchange ex;

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_init_producer_id, ver, &req, resp, &ex), 0);
    ktx_test_exchange_free(&ex);
}

START_TEST(test_interop_init_producer_id_v0_to_v4_idempotent)
{
    int fd = connect_broker(2);
    int64_t previous = -1;

    for (int16_t ver = 0; ver <= 4; ver++) {
        struct ktx__init_producer_id_resp resp;

        init_producer_id(fd, ver, NULL, -1, -1, &resp);
        ck_assert_int_eq(resp.error_code, 0);
        ck_assert_int_eq(resp.throttle_time_ms, 0);
        ck_assert_int_ge(resp.producer_id, 0);
        ck_assert_int_eq(resp.producer_epoch, 0);
        ck_assert_int_ne(resp.producer_id, previous);
        previous = resp.producer_id;
    }
    close(fd);
}
END_TEST

START_TEST(test_interop_init_producer_id_v0_to_v4_transactional_on_found_coordinator)
{
    struct ktx__find_coordinator_resp coord;
    struct ktx__init_producer_id_resp resp;
    struct ktx_test_exchange ex;
    char host[64];
    int fd, other;

    cmd_ok("coord txn tx-b 3");
    fd = connect_broker(1);
    find_coordinator(fd, 2, "tx-b", KTX__COORDINATOR_TRANSACTION, &coord, &ex);
    ck_assert_int_eq(coord.error_code, 0);
    ck_assert_int_eq(coord.node_id, 3);
    ck_assert_int_lt(coord.host.len, (int32_t)sizeof(host));
    memcpy(host, coord.host.ptr, (size_t)coord.host.len);
    host[coord.host.len] = '\0';
    other = fd;
    fd = ktx_test_connect(host, coord.port, RPC_TIMEOUT_MS);
    ck_assert_int_ge(fd, 0);
    ktx_test_exchange_free(&ex);

    for (int16_t ver = 0; ver <= 4; ver++) {
        init_producer_id(fd, ver, "tx-b", -1, -1, &resp);
        ck_assert_int_eq(resp.error_code, 0);
        ck_assert_int_ge(resp.producer_id, 0);
        ck_assert_int_ge(resp.producer_epoch, 0);
        if (ver >= 3) {
            /* KIP-360: v3+ carries the current id and epoch, and the mock bumps the epoch. */
            struct ktx__init_producer_id_resp bumped;
            init_producer_id(fd, ver, "tx-b", resp.producer_id, resp.producer_epoch, &bumped);
            ck_assert_int_eq(bumped.error_code, 0);
            ck_assert_int_eq(bumped.producer_id, resp.producer_id);
            ck_assert_int_eq(bumped.producer_epoch, resp.producer_epoch + 1);
        }
    }
    /* Any other broker is not the coordinator of tx-b. */
    init_producer_id(other, 4, "tx-b", -1, -1, &resp);
    ck_assert_int_eq(resp.error_code, KTX_ERR_NOT_COORDINATOR);
    close(other);
    close(fd);
}
END_TEST

/* ---- a whole transaction at the mock's highest versions, and one version above ---- */

/* The requests of one transaction of producer |pid|/|epoch| of "tx-c", for |group|. */
struct txn_requests {
    int32_t partitions[2];
    struct ktx__add_partitions_to_txn_topic apt_topic;
    struct ktx__add_partitions_to_txn_req apt;
    struct ktx__add_offsets_to_txn_req aot;
    struct ktx__txn_offset_commit_req_partition toc_partition;
    struct ktx__txn_offset_commit_req_topic toc_topic;
    struct ktx__txn_offset_commit_req toc;
    struct ktx__end_txn_req end;
};

static void txn_requests_init(struct txn_requests *t, int64_t pid, int16_t epoch)
{
    memset(t, 0, sizeof(*t));
    t->partitions[0] = 0;
    t->partitions[1] = 1;
    t->apt_topic = (struct ktx__add_partitions_to_txn_topic){ktx__str_c("orders"), t->partitions,
                                                             2};
    t->apt = (struct ktx__add_partitions_to_txn_req){ktx__str_c("tx-c"), pid, epoch,
                                                     &t->apt_topic, 1};
    t->aot = (struct ktx__add_offsets_to_txn_req){ktx__str_c("tx-c"), pid, epoch,
                                                  ktx__str_c("grp-c")};
    t->toc_partition = (struct ktx__txn_offset_commit_req_partition){0, 42, -1, ktx__str_c(NULL)};
    t->toc_topic = (struct ktx__txn_offset_commit_req_topic){ktx__str_c("orders"),
                                                             &t->toc_partition, 1};
    t->toc.transactional_id = ktx__str_c("tx-c");
    t->toc.group_id = ktx__str_c("grp-c");
    t->toc.producer_id = pid;
    t->toc.producer_epoch = epoch;
    t->toc.generation_id = -1;
    t->toc.member_id = ktx__str_c("");
    t->toc.group_instance_id = ktx__str_c(NULL);
    t->toc.topics = &t->toc_topic;
    t->toc.topic_count = 1;
    t->end = (struct ktx__end_txn_req){ktx__str_c("tx-c"), pid, epoch, true};
}

START_TEST(test_interop_transaction_at_mock_max_versions_commits)
{
    struct ktx__init_producer_id_resp init;
    struct ktx__add_partitions_to_txn_resp apt;
    struct ktx__add_offsets_to_txn_resp aot;
    struct ktx__txn_offset_commit_resp toc;
    struct ktx__end_txn_resp end;
    struct ktx_test_exchange ex;
    struct txn_requests t;
    int fd = connect_broker(1);

    cmd_ok("topic orders 2 1");
    cmd_ok("coord txn tx-c 1");
    cmd_ok("coord group grp-c 1");
    init_producer_id(fd, 4, "tx-c", -1, -1, &init);
    ck_assert_int_eq(init.error_code, 0);
    txn_requests_init(&t, init.producer_id, init.producer_epoch);

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_add_partitions_to_txn, 1, &t.apt, &apt, &ex),
                     0);
    ck_assert_int_eq(apt.results_by_topic_count, 1);
    ck_assert(ktx__str_eq_c(apt.results_by_topic[0].name, "orders"));
    ck_assert_int_eq(apt.results_by_topic[0].results_by_partition_count, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(apt.results_by_topic[0].results_by_partition[i].partition_index, i);
        ck_assert_int_eq(apt.results_by_topic[0].results_by_partition[i].partition_error_code, 0);
    }
    ktx_test_exchange_free(&ex);

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_add_offsets_to_txn, 1, &t.aot, &aot, &ex), 0);
    ck_assert_int_eq(aot.error_code, 0);
    ktx_test_exchange_free(&ex);

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_txn_offset_commit, 2, &t.toc, &toc, &ex), 0);
    ck_assert_int_eq(toc.topic_count, 1);
    ck_assert(ktx__str_eq_c(toc.topics[0].name, "orders"));
    ck_assert_int_eq(toc.topics[0].partition_count, 1);
    ck_assert_int_eq(toc.topics[0].partitions[0].partition_index, 0);
    ck_assert_int_eq(toc.topics[0].partitions[0].error_code, 0);
    ktx_test_exchange_free(&ex);

    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_end_txn, 1, &t.end, &end, &ex), 0);
    ck_assert_int_eq(end.error_code, 0);
    ck_assert_int_eq(end.producer_id, -1);
    ktx_test_exchange_free(&ex);

    /* A stale epoch is fenced: the mock checks what kafkatx encoded. */
    t.end.producer_epoch = (int16_t)(init.producer_epoch + 1);
    ck_assert_int_eq(exchange(fd, &ktx__proto_codec_end_txn, 1, &t.end, &end, &ex), 0);
    ck_assert_int_ne(end.error_code, 0);
    ktx_test_exchange_free(&ex);
    close(fd);
}
END_TEST

START_TEST(test_interop_mock_closes_the_connection_one_version_above_its_max)
{
    struct ktx__init_producer_id_req ipid = {ktx__str_c("tx-c"), 60000, -1, -1};
    struct ktx__metadata_req md = {NULL, -1, true, false, false};
    struct ktx__find_coordinator_req fc = {ktx__str_c("tx-c"), 1, NULL, 0};
    struct ktx__produce_req produce = {ktx__str_c(NULL), -1, 1000, NULL, 0};
    struct txn_requests t;
    const struct {
        const struct ktx__proto_codec *codec;
        int16_t max_ver;
        const void *req;
    } apis[] = {
        {&ktx__proto_codec_produce, 7, &produce},
        {&ktx__proto_codec_metadata, 2, &md},
        {&ktx__proto_codec_find_coordinator, 2, &fc},
        {&ktx__proto_codec_init_producer_id, 4, &ipid},
        {&ktx__proto_codec_add_partitions_to_txn, 1, &t.apt},
        {&ktx__proto_codec_add_offsets_to_txn, 1, &t.aot},
        {&ktx__proto_codec_end_txn, 1, &t.end},
        {&ktx__proto_codec_txn_offset_commit, 2, &t.toc},
    };

    cmd_ok("topic orders 2 1");
    cmd_ok("coord txn tx-c 1");
    cmd_ok("coord group grp-c 1");
    txn_requests_init(&t, 1000, 0);
    for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        /* Room for the largest response struct of the table. */
        union {
            struct ktx__produce_resp produce;
            struct ktx__metadata_resp metadata;
            struct ktx__txn_offset_commit_resp toc;
            struct ktx__add_partitions_to_txn_resp apt;
            struct ktx__find_coordinator_resp fc;
            struct ktx__init_producer_id_resp ipid;
            struct ktx__end_txn_resp end;
            struct ktx__add_offsets_to_txn_resp aot;
        } resp;
        struct ktx_test_exchange ex;
        int16_t ver = apis[i].max_ver;
        int fd = connect_broker(1);

        ck_assert_uint_le(apis[i].codec->resp_size, sizeof(resp));
        ck_assert_msg(exchange(fd, apis[i].codec, ver, apis[i].req, &resp, &ex) == 0,
                      "api %d v%d was not answered", apis[i].codec->api_key, ver);
        ktx_test_exchange_free(&ex);
        ck_assert_msg(exchange(fd, apis[i].codec, (int16_t)(ver + 1), apis[i].req, &resp, &ex) ==
                          KTX_ERR_TRANSPORT,
                      "api %d v%d did not close the connection", apis[i].codec->api_key,
                      ver + 1);
        ktx_test_exchange_free(&ex);
        close(fd);
    }
}
END_TEST

static Suite *interop_mock_suite(void)
{
    Suite *s = suite_create("interop_mock");
    TCase *tc = tcase_create("mock");

    tcase_add_checked_fixture(tc, cluster_setup, cluster_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_interop_api_versions_v0_to_v2_decode_the_mock_ranges);
    tcase_add_test(tc, test_interop_api_versions_v3_v4_are_rejected_and_v0_fallback_negotiates);
    tcase_add_test(tc, test_interop_metadata_v1_v2_show_created_topics_and_leader_moves);
    tcase_add_test(tc, test_interop_find_coordinator_v1_v2_answer_the_pinned_broker);
    tcase_add_test(tc, test_interop_find_coordinator_error_with_null_host_is_refused);
    tcase_add_test(tc, test_interop_init_producer_id_v0_to_v4_idempotent);
    tcase_add_test(tc, test_interop_init_producer_id_v0_to_v4_transactional_on_found_coordinator);
    tcase_add_test(tc, test_interop_transaction_at_mock_max_versions_commits);
    tcase_add_test(tc, test_interop_mock_closes_the_connection_one_version_above_its_max);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(interop_mock_suite)
