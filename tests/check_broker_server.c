/*
 * Integration tests of ktx-broker over TCP (tests/broker/server.c and main.c), driven
 * through the cluster control interface of tests/cluster.h: listeners, framing, delayed
 * responses, down/up, dropped connections, a transaction seen by a read_committed fetch,
 * and the data directory across a restart.
 */
#include "check_util.h"

#include "broker/bbatch.h"
#include "cluster.h"
#include "proto_fetch.h"
#include "proto_meta.h"
#include "proto_produce.h"
#include "proto_txn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RPC_TIMEOUT_MS 5000

static struct ktx_test_cluster *start_broker(int brokers, const char *const *extra)
{
    struct ktx_test_cluster *c = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, brokers, extra), 0);
    return c;
}

static void cmd_ok(struct ktx_test_cluster *c, const char *line)
{
    int rc = ktx_test_cluster_cmd(c, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc, ktx_test_cluster_last_error(c));
}

static int connect_broker(struct ktx_test_cluster *c, int id)
{
    int fd = ktx_test_cluster_connect(c, id, RPC_TIMEOUT_MS);
    ck_assert_msg(fd >= 0, "connect to broker %d: %s", id, strerror(errno));
    return fd;
}

/* Metadata v12 for all topics; returns the exchange's result. */
static int metadata(int fd, struct ktx__metadata_resp *resp, struct ktx_test_exchange *ex)
{
    struct ktx__metadata_req req = {NULL, -1, false, false, false};
    memset(ex, 0, sizeof(*ex));
    return ktx_test_exchange(fd, &ktx__proto_codec_metadata, 12, &req, resp, ex, RPC_TIMEOUT_MS);
}

START_TEST(test_server_metadata_lists_every_broker_at_its_bootstrap_port)
{
    struct ktx_test_cluster *c = start_broker(3, NULL);
    struct ktx__metadata_resp resp;
    struct ktx_test_exchange ex;
    char host[64];
    int port, fd;

    cmd_ok(c, "topic orders 4 2");
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic orders 4 2"), -1);
    ck_assert_str_eq(ktx_test_cluster_last_error(c), "topic exists");
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "frobnicate"), -1);
    fd = connect_broker(c, 2);
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_eq(resp.brokers_count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(resp.brokers[i].node_id, i + 1);
        ck_assert_int_eq(ktx_test_cluster_broker_addr(c, i + 1, host, sizeof(host), &port), 0);
        ck_assert_int_eq(resp.brokers[i].port, port);
    }
    ck_assert_int_eq(resp.topics_count, 1);
    ck_assert_int_eq(resp.topics[0].partitions_count, 4);
    ck_assert_int_eq(resp.topics[0].partitions[3].leader_id, 1);
    ck_assert_int_eq(resp.topics[0].partitions[3].replica_nodes_count, 2);
    ktx_test_exchange_free(&ex);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_server_down_refuses_and_drops_connections_until_up)
{
    struct ktx_test_cluster *c = start_broker(2, NULL);
    struct ktx__metadata_resp resp;
    struct ktx_test_exchange ex;
    int fd = connect_broker(c, 2);

    cmd_ok(c, "down 2");
    ck_assert_int_ne(metadata(fd, &resp, &ex), 0);
    ktx_test_exchange_free(&ex);
    close(fd);
    ck_assert_int_lt(ktx_test_cluster_connect(c, 2, 1000), 0);
    ck_assert_int_eq(errno, ECONNREFUSED);
    fd = connect_broker(c, 1);
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_eq(resp.brokers_count, 1);
    ktx_test_exchange_free(&ex);
    close(fd);
    cmd_ok(c, "up 2");
    fd = connect_broker(c, 2);
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_eq(resp.brokers_count, 2);
    ktx_test_exchange_free(&ex);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_server_rtt_delays_responses_and_err_minus_one_drops)
{
    struct ktx_test_cluster *c = start_broker(1, NULL);
    struct ktx__metadata_resp resp;
    struct ktx_test_exchange ex;
    int fd = connect_broker(c, 1);
    int64_t t0;

    cmd_ok(c, "rtt 1 300");
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 280);
    ktx_test_exchange_free(&ex);
    cmd_ok(c, "rtt 1 0");
    /* One berr delays one answer only. */
    cmd_ok(c, "berr 1 3 0 300");
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 280);
    ktx_test_exchange_free(&ex);
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 250);
    ktx_test_exchange_free(&ex);
    cmd_ok(c, "err 3 1 -1");
    ck_assert_int_eq(metadata(fd, &resp, &ex), KTX_ERR_TRANSPORT);
    ktx_test_exchange_free(&ex);
    close(fd);
    fd = connect_broker(c, 1);
    ck_assert_int_eq(metadata(fd, &resp, &ex), 0);
    ktx_test_exchange_free(&ex);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* Produces one batch of 3 records from |pid| to t/0 on |fd|; returns the partition error
 * and stores the base offset. */
static int16_t produce(int fd, const char *txn_id, int64_t pid, int32_t seq, int64_t *base)
{
    struct kb_batch_spec spec = {pid, 0, seq, 3, txn_id != NULL, 1000, NULL};
    struct ktx__writer bw;
    struct ktx__produce_partition_data pd;
    struct ktx__produce_topic_data td = {ktx__str_c("t"), &pd, 1};
    struct ktx__produce_req req = {ktx__str_c(txn_id), -1, 5000, &td, 1};
    struct ktx__produce_resp resp;
    struct ktx_test_exchange ex = {0};
    int16_t err;

    ktx__w_init(&bw, 256, 0);
    ck_assert_int_eq(kb_batch_write_data(&bw, &spec), 0);
    pd.index = 0;
    pd.records = (struct ktx__bytes){bw.p, (int32_t)bw.len};
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_produce, 9, &req, &resp, &ex, RPC_TIMEOUT_MS), 0);
    err = resp.responses[0].partition_responses[0].error_code;
    *base = resp.responses[0].partition_responses[0].base_offset;
    ktx_test_exchange_free(&ex);
    ktx__w_free(&bw);
    return err;
}

/* Fetches t/0 from 0 with |isolation|; returns the last stable offset, and the records size. */
static int64_t fetch_lso(int fd, int8_t isolation, int32_t *records_len)
{
    struct ktx__fetch_partition fp = {0, -1, 0, -1, -1, 1 << 20};
    struct ktx__fetch_topic ft = {ktx__str_c("t"), &fp, 1};
    struct ktx__fetch_req req;
    struct ktx__fetch_resp resp;
    struct ktx_test_exchange ex = {0};
    int64_t lso;

    memset(&req, 0, sizeof(req));
    req.replica_id = -1;
    req.max_bytes = 1 << 20;
    req.isolation_level = isolation;
    req.session_epoch = -1;
    req.topics = &ft;
    req.topics_count = 1;
    req.rack_id = ktx__str_c("");
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_fetch, 11, &req, &resp, &ex, RPC_TIMEOUT_MS), 0);
    ck_assert_int_eq(resp.responses[0].partitions[0].error_code, 0);
    lso = resp.responses[0].partitions[0].last_stable_offset;
    *records_len = resp.responses[0].partitions[0].records.len;
    ktx_test_exchange_free(&ex);
    return lso;
}

START_TEST(test_server_transaction_commits_over_tcp)
{
    struct ktx_test_cluster *c = start_broker(2, NULL);
    struct ktx__init_producer_id_req init = {ktx__str_c("tx"), 60000, -1, -1};
    struct ktx__init_producer_id_resp init_resp;
    int32_t part = 0;
    struct ktx__add_partitions_to_txn_topic topic = {ktx__str_c("t"), &part, 1};
    struct ktx__add_partitions_to_txn_req add = {ktx__str_c("tx"), 0, 0, &topic, 1};
    struct ktx__add_partitions_to_txn_resp add_resp;
    struct ktx__end_txn_req end = {ktx__str_c("tx"), 0, 0, true};
    struct ktx__end_txn_resp end_resp;
    struct ktx_test_exchange ex = {0};
    int coord, leader;
    int64_t base;
    int32_t len;

    cmd_ok(c, "topic t 1 2");
    cmd_ok(c, "coord txn tx 2");
    coord = connect_broker(c, 2);
    leader = connect_broker(c, 1);
    ck_assert_int_eq(ktx_test_exchange(coord, &ktx__proto_codec_init_producer_id, 4, &init, &init_resp, &ex, RPC_TIMEOUT_MS), 0);
    ck_assert_int_eq(init_resp.error_code, 0);
    ktx_test_exchange_free(&ex);
    add.producer_id = end.producer_id = init_resp.producer_id;
    ck_assert_int_eq(ktx_test_exchange(coord, &ktx__proto_codec_add_partitions_to_txn, 3, &add, &add_resp, &ex, RPC_TIMEOUT_MS), 0);
    ck_assert_int_eq(add_resp.results_by_topic[0].results_by_partition[0].partition_error_code, 0);
    ktx_test_exchange_free(&ex);
    ck_assert_int_eq(produce(leader, "tx", init_resp.producer_id, 0, &base), 0);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(fetch_lso(leader, KTX__READ_COMMITTED, &len), 0);
    ck_assert_int_eq(len, 0);
    ck_assert_int_eq(ktx_test_exchange(coord, &ktx__proto_codec_end_txn, 3, &end, &end_resp, &ex, RPC_TIMEOUT_MS), 0);
    ck_assert_int_eq(end_resp.error_code, 0);
    ktx_test_exchange_free(&ex);
    ck_assert_int_eq(fetch_lso(leader, KTX__READ_COMMITTED, &len), 4);
    ck_assert_int_gt(len, 0);
    close(coord);
    close(leader);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_server_data_dir_keeps_log_and_producer_state_across_restart)
{
    char dir[] = "/tmp/ktx-broker-server-XXXXXX";
    const char *args[3] = {"--data-dir", dir, NULL};
    struct ktx_test_cluster *c;
    int fd, rc;
    int64_t base;
    int32_t len;
    char cmd[256];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    c = start_broker(1, args);
    cmd_ok(c, "topic t 1 1");
    fd = connect_broker(c, 1);
    ck_assert_int_eq(produce(fd, NULL, 5000, 0, &base), 0);
    ck_assert_int_eq(produce(fd, NULL, 5000, 3, &base), 0);
    ck_assert_int_eq(base, 3);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);

    c = start_broker(1, args);
    fd = connect_broker(c, 1);
    ck_assert_int_eq(fetch_lso(fd, KTX__READ_UNCOMMITTED, &len), 6);
    ck_assert_int_gt(len, 0);
    /* The retry of the second batch is still recognised after the restart. */
    ck_assert_int_eq(produce(fd, NULL, 5000, 3, &base), 0);
    ck_assert_int_eq(base, 3);
    ck_assert_int_eq(produce(fd, NULL, 5000, 9, &base), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    rc = system(cmd);
    ck_assert_int_eq(rc, 0);
}
END_TEST

static Suite *broker_server_suite(void)
{
    Suite *s = suite_create("broker_server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_server_metadata_lists_every_broker_at_its_bootstrap_port);
    tcase_add_test(tc, test_server_down_refuses_and_drops_connections_until_up);
    tcase_add_test(tc, test_server_rtt_delays_responses_and_err_minus_one_drops);
    tcase_add_test(tc, test_server_transaction_commits_over_tcp);
    tcase_add_test(tc, test_server_data_dir_keeps_log_and_producer_state_across_restart);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_server_suite)
