/*
 * The producer's own integration suite: the public API (ktx_producer_new, ktx_send,
 * ktx_poll, ktx_flush, ktx_close) against both peers of tests/cluster.h where the scenario
 * fits -- librdkafka's mock cluster (loop index 0) and the reference broker (loop index 1).
 * Records are read back with kafkatx's own Fetch codec and record iterator.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "check_util.h"
#include "cluster.h"
#include "partitioner.h"
#include "proto_fetch.h"

#define MAX_REPORTS 50000
#define FETCH_VER 11

static const enum ktx_test_peer peers[] = {KTX_TEST_PEER_MOCK, KTX_TEST_PEER_BROKER};

/* ---- delivery reports ---- */

struct report {
    int32_t partition;
    int64_t offset;
    int err;
    intptr_t index; /* the record's opaque */
};

/* Everything the callbacks saw; filled on the application thread by ktx_poll(). */
struct collector {
    pthread_mutex_t lock;
    struct report *v;
    size_t len;
    char log[8192];
};

static struct collector col;

static void collector_reset(void)
{
    if (!col.v)
        col.v = calloc(MAX_REPORTS, sizeof(*col.v));
    ck_assert_ptr_nonnull(col.v);
    col.len = 0;
    col.log[0] = '\0';
}

static void on_report(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    (void)producer;
    (void)opaque;
    pthread_mutex_lock(&col.lock);
    if (col.len < MAX_REPORTS)
        col.v[col.len++] = (struct report){dr->partition, dr->offset, ktx_error_code(dr->error),
                                           (intptr_t)dr->opaque};
    pthread_mutex_unlock(&col.lock);
}

static void on_log(int level, const char *facility, const char *message, void *opaque)
{
    size_t len;

    (void)level;
    (void)opaque;
    pthread_mutex_lock(&col.lock);
    len = strlen(col.log);
    snprintf(col.log + len, sizeof(col.log) - len, "%s: %s\n", facility, message);
    pthread_mutex_unlock(&col.lock);
}

/* ---- helpers ---- */

static void ok(ktx_error_t *err)
{
    if (err) {
        const char *name = ktx_error_name(err), *msg = ktx_error_message(err);

        ck_abort_msg("unexpected error %s: %s", name, msg);
    }
}

/* Asserts that |err| has |code| and frees it. */
static void expect_error(ktx_error_t *err, int code)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(ktx_error_code(err) == code, "got %s (%s), expected %s", ktx_error_name(err),
                  ktx_error_message(err), ktx_err_name(code));
    ktx_error_destroy(err);
}

static struct ktx_test_cluster *start(enum ktx_test_peer peer, const char *topic,
                                      int partitions)
{
    struct ktx_test_cluster *c = NULL;

    collector_reset(); /* before any producer exists: its thread logs */
    ck_assert_int_eq(ktx_test_cluster_start(&c, peer, 3, NULL), 0);
    if (topic)
        ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic %s %d 3", topic, partitions), 0);
    return c;
}

/* Creates a producer for |c| with the NULL-terminated name/value pairs in |props|. */
static ktx_producer_t *new_producer(struct ktx_test_cluster *c, const char *const *props)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *p = NULL;

    ok(ktx_conf_set(conf, "bootstrap.servers", ktx_test_cluster_bootstrap(c)));
    for (size_t i = 0; props && props[i]; i += 2)
        ok(ktx_conf_set(conf, props[i], props[i + 1]));
    ktx_conf_set_dr_cb(conf, on_report, NULL);
    ktx_conf_set_log_cb(conf, on_log, NULL);
    ok(ktx_producer_new(&p, conf));
    return p;
}

/* Sends record |i| of the standard test pattern to |topic| (|partition| or ANY). */
static ktx_error_t *send_pattern(ktx_producer_t *p, const char *topic, int32_t partition, int i)
{
    char key[32], value[64], hval[32];
    ktx_header_t hdr = {"h", hval, 0};
    ktx_record_t rec = {0};

    snprintf(key, sizeof(key), "key-%d", i % 50);
    snprintf(value, sizeof(value), "value-%06d", i);
    hdr.value_len = (size_t)snprintf(hval, sizeof(hval), "hv%d", i);
    rec.topic = topic;
    rec.partition = partition;
    if (i % 3 != 0) {
        rec.key = key;
        rec.key_len = strlen(key);
    }
    if (i % 7 != 0) {
        rec.value = value;
        rec.value_len = strlen(value);
    }
    rec.headers = &hdr;
    rec.header_count = 1;
    rec.opaque = (void *)(intptr_t)i;
    return ktx_send(p, &rec);
}

/* The reports sorted by record index (each index must appear once). */
static struct report *reports_by_index(int n)
{
    struct report *by = calloc((size_t)n, sizeof(*by));

    ck_assert_int_eq((int)col.len, n);
    for (int i = 0; i < n; i++)
        by[i].index = -1;
    for (size_t k = 0; k < col.len; k++) {
        intptr_t i = col.v[k].index;

        ck_assert(i >= 0 && i < n);
        ck_assert_msg(by[i].index == -1, "record %d reported twice", (int)i);
        by[i] = col.v[k];
    }
    return by;
}

/* Offsets reported for each partition are strictly increasing in report order. */
static void assert_offsets_increase(int partitions)
{
    int64_t *last = calloc((size_t)partitions, sizeof(*last));

    for (int p = 0; p < partitions; p++)
        last[p] = -1;
    for (size_t k = 0; k < col.len; k++) {
        ck_assert_int_eq(col.v[k].err, 0);
        ck_assert(col.v[k].partition >= 0 && col.v[k].partition < partitions);
        ck_assert_msg(col.v[k].offset > last[col.v[k].partition],
                      "offset %lld after %lld on partition %d", (long long)col.v[k].offset,
                      (long long)last[col.v[k].partition], (int)col.v[k].partition);
        last[col.v[k].partition] = col.v[k].offset;
    }
    free(last);
}

/* ---- read back ---- */

/* One record read back. */
struct fetched {
    int64_t offset;
    int32_t key_len, value_len;
    char key[32], value[64], hval[32];
    int32_t header_count;
};

/* Fetches |partition| of |topic| from offset |from| on broker |broker|; appends what it
 * reads to |out| (|*n|, at most |cap|). Returns the partition error or a transport error. */
static int fetch_once(struct ktx_test_cluster *c, int broker, const char *topic,
                      int32_t partition, int64_t from, struct fetched *out, size_t *n, size_t cap)
{
    struct ktx__fetch_partition fp = {partition, -1, from, -1, -1, 1 << 20};
    struct ktx__fetch_topic ft = {ktx__str_c(topic), &fp, 1};
    struct ktx__fetch_req req = {0};
    struct ktx__fetch_resp resp;
    struct ktx_test_exchange ex = {0};
    int fd = ktx_test_cluster_connect(c, broker, 5000), err;

    ck_assert_int_ge(fd, 0);
    req.cluster_id = ktx__str_c(NULL);
    req.replica_id = -1;
    req.max_wait_ms = 0;
    req.max_bytes = 1 << 24;
    req.session_epoch = -1;
    req.topics = &ft;
    req.topics_count = 1;
    req.rack_id = ktx__str_c("");
    err = ktx_test_exchange(fd, &ktx__proto_codec_fetch, FETCH_VER, &req, &resp, &ex, 5000);
    close(fd);
    if (err == 0 && resp.responses_count == 1 && resp.responses[0].partitions_count == 1) {
        struct ktx__fetch_partition_resp *pr = &resp.responses[0].partitions[0];
        struct ktx__batch_iter it;
        const uint8_t *b;
        size_t blen;

        err = pr->error_code;
        ktx__batch_iter_init(&it, pr->records.ptr, pr->records.len > 0 ? (size_t)pr->records.len : 0);
        while (err == 0 && ktx__batch_next(&it, &b, &blen)) {
            struct ktx__record_iter ri;
            struct ktx__record rec;
            struct ktx__arena arena;

            ck_assert_int_eq(ktx__batch_validate(b, blen, NULL), 0);
            ck_assert_int_eq(ktx__record_iter_init(&ri, b, blen, NULL, 0), 0);
            ktx__arena_init(&arena, 0);
            while (ktx__record_next(&ri, &rec, &arena) == 0 && *n < cap) {
                struct fetched *f = &out[(*n)++];

                memset(f, 0, sizeof(*f));
                f->offset = rec.offset;
                f->key_len = rec.key.len;
                f->value_len = rec.value.len;
                if (rec.key.len > 0)
                    memcpy(f->key, rec.key.ptr, KTX__MIN((size_t)rec.key.len, sizeof(f->key) - 1));
                if (rec.value.len > 0)
                    memcpy(f->value, rec.value.ptr,
                           KTX__MIN((size_t)rec.value.len, sizeof(f->value) - 1));
                f->header_count = rec.header_count;
                if (rec.header_count == 1 && rec.headers[0].value.len > 0)
                    memcpy(f->hval, rec.headers[0].value.ptr,
                           KTX__MIN((size_t)rec.headers[0].value.len, sizeof(f->hval) - 1));
            }
            ktx__arena_free(&arena);
        }
    }
    ktx_test_exchange_free(&ex);
    return err;
}

/* Reads all of |partition| back from its leader into |out|; returns the count. */
static size_t read_partition(struct ktx_test_cluster *c, const char *topic, int32_t partition,
                             struct fetched *out, size_t cap)
{
    for (int broker = 1; broker <= ktx_test_cluster_broker_count(c); broker++) {
        size_t n = 0, before;

        if (fetch_once(c, broker, topic, partition, 0, out, &n, cap) != 0)
            continue;
        do {
            before = n;
            if (n > 0 && fetch_once(c, broker, topic, partition, out[n - 1].offset + 1, out, &n,
                                    cap) != 0)
                break;
        } while (n > before);
        return n;
    }
    ck_abort_msg("no broker leads %s [%d]", topic, (int)partition);
    return 0;
}

/* Every record read back from |partitions| partitions matches the record its report names. */
static void assert_read_back(struct ktx_test_cluster *c, const char *topic, int partitions,
                             int n)
{
    struct report *by = reports_by_index(n);
    struct fetched *f = calloc((size_t)n + 16, sizeof(*f));
    size_t total = 0;

    for (int32_t p = 0; p < partitions; p++) {
        size_t got = read_partition(c, topic, p, f, (size_t)n + 16);

        for (size_t k = 0; k < got; k++) {
            int i = -1;
            char value[64], hval[32];

            for (int j = 0; j < n && i < 0; j++)
                if (by[j].partition == p && by[j].offset == f[k].offset)
                    i = j;
            ck_assert_msg(i >= 0, "%s [%d] offset %lld was not reported", topic, (int)p,
                          (long long)f[k].offset);
            snprintf(value, sizeof(value), "value-%06d", i);
            snprintf(hval, sizeof(hval), "hv%d", i);
            ck_assert_int_eq(f[k].key_len, i % 3 != 0 ? (int)strlen(f[k].key) : -1);
            ck_assert_int_eq(f[k].value_len, i % 7 != 0 ? (int)strlen(value) : -1);
            if (i % 7 != 0)
                ck_assert_str_eq(f[k].value, value);
            ck_assert_int_eq(f[k].header_count, 1);
            ck_assert_str_eq(f[k].hval, hval);
        }
        total += got;
    }
    ck_assert_int_eq((int)total, n);
    free(f);
    free(by);
}

/* Sends |n| pattern records and flushes; every report must be a success. */
static void produce_and_flush(ktx_producer_t *p, const char *topic, int32_t partition, int n)
{
    for (int i = 0; i < n; i++) {
        ok(send_pattern(p, topic, partition, i));
        if (i % 1000 == 0)
            ktx_poll(p, 0);
    }
    ok(ktx_flush(p, 30000));
}

/* ---- tests ---- */

START_TEST(test_producer_delivers_10000_records_in_order_and_reads_them_back)
{
    const char *props[] = {"linger.ms", "5", NULL};
    struct ktx_test_cluster *c = start(peers[_i], "t10k", 4);
    ktx_producer_t *p = new_producer(c, props);
    struct report *by;

    produce_and_flush(p, "t10k", KTX_PARTITION_ANY, 10000);
    ck_assert_int_eq((int)col.len, 10000);
    assert_offsets_increase(4);
    /* Keyed records land on murmur2 partitions, as Java's producer puts them. */
    by = reports_by_index(10000);
    for (int i = 0; i < 10000; i++) {
        char key[32];

        if (i % 3 == 0)
            continue;
        snprintf(key, sizeof(key), "key-%d", i % 50);
        ck_assert_int_eq(by[i].partition, ktx__murmur2_partition(key, strlen(key), 4));
    }
    free(by);
    ok(ktx_close(p, 5000));
    ktx_producer_destroy(p);
    assert_read_back(c, "t10k", 4, 10000);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_fails_record_over_max_request_size_at_once)
{
    const char *props[] = {"max.request.size", "10000", "batch.size", "8192", NULL};
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_MOCK, "big", 1);
    ktx_producer_t *p = new_producer(c, props);
    static char value[20000];
    ktx_record_t rec = {0};
    int64_t t0;

    ok(send_pattern(p, "big", 0, 1)); /* learns the metadata */
    rec.topic = "big";
    rec.partition = 0;
    rec.value = value;
    rec.value_len = sizeof(value);
    t0 = ktx_test_now_ms();
    expect_error(ktx_send(p, &rec), KTX_ERR_MESSAGE_TOO_LARGE);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 100);
    ok(ktx_flush(p, 10000));
    ck_assert_int_eq((int)col.len, 1);
    ok(ktx_close(p, 5000));
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_send_after_close_fails_with_closed)
{
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_MOCK, "closed", 1);
    ktx_producer_t *p = new_producer(c, NULL);

    ok(send_pattern(p, "closed", 0, 1));
    ok(ktx_close(p, 5000));
    ck_assert_int_eq((int)col.len, 1); /* close served the report */
    ck_assert_int_eq(col.v[0].err, 0);
    expect_error(send_pattern(p, "closed", 0, 2), KTX_ERR_CLOSED);
    ck_assert_ptr_null(ktx_close(p, 5000)); /* a second close is a no-op */
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

/* Makes every broker of |c| unreachable. */
static void all_down(struct ktx_test_cluster *c)
{
    for (int b = 1; b <= ktx_test_cluster_broker_count(c); b++)
        ck_assert_int_eq(ktx_test_cluster_cmd(c, "down %d", b), 0);
}

START_TEST(test_producer_flush_times_out_while_brokers_are_down_and_close_purges)
{
    struct ktx_test_cluster *c = start(peers[_i], "flushto", 1);
    ktx_producer_t *p = new_producer(c, NULL);
    ktx_error_t *err;
    int64_t t0;

    ok(send_pattern(p, "flushto", 0, 0));
    ok(ktx_flush(p, 10000));
    all_down(c);
    ok(send_pattern(p, "flushto", 0, 1));
    t0 = ktx_test_now_ms();
    err = ktx_flush(p, 500);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 450);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 2000);
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    expect_error(err, KTX_ERR_TIMED_OUT);
    expect_error(ktx_close(p, 0), KTX_ERR_TIMED_OUT);
    ck_assert_int_eq((int)col.len, 2);
    ck_assert_int_eq(col.v[1].err, KTX_ERR_PURGED);
    ck_assert_int_eq(col.v[1].offset, -1);
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_close_sends_lingering_records_within_its_timeout)
{
    const char *props[] = {"linger.ms", "60000", "delivery.timeout.ms", "120000", "batch.size",
                           "1000000", NULL};
    struct ktx_test_cluster *c = start(peers[_i], "lingerclose", 2);
    ktx_producer_t *p = new_producer(c, props);
    int64_t t0;

    for (int i = 0; i < 1000; i++)
        ok(send_pattern(p, "lingerclose", KTX_PARTITION_ANY, i));
    ck_assert_int_eq(ktx_poll(p, 100), 0); /* lingering: nothing is sent yet */
    t0 = ktx_test_now_ms();
    ok(ktx_close(p, 10000));
    ck_assert_int_lt(ktx_test_now_ms() - t0, 5000);
    ck_assert_int_eq((int)col.len, 1000);
    assert_offsets_increase(2);
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_send_blocks_max_block_ms_on_full_buffer_then_times_out)
{
    const char *props[] = {"buffer.memory", "65536", "batch.size", "16384", "max.block.ms",
                           "300", NULL};
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_MOCK, "full", 1);
    ktx_producer_t *p = new_producer(c, props);
    ktx_error_t *err = NULL;
    int64_t t0 = 0;

    ok(send_pattern(p, "full", 0, 0));
    ok(ktx_flush(p, 10000));
    all_down(c);
    for (int i = 1; i < 100000 && !err; i++) {
        t0 = ktx_test_now_ms();
        err = send_pattern(p, "full", 0, i);
    }
    ck_assert_int_ge(ktx_test_now_ms() - t0, 250);
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    expect_error(err, KTX_ERR_TIMED_OUT);
    expect_error(ktx_close(p, 0), KTX_ERR_TIMED_OUT);
    for (size_t k = 1; k < col.len; k++)
        ck_assert_int_eq(col.v[k].err, KTX_ERR_PURGED);
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

/*
 * Injects |count| errors |code| on Produce, sends 2000 records to partition 0 and checks that
 * every record was delivered once, in order. Returns after the read-back.
 * librdkafka 2.0.2's mock cluster does not check sequence numbers (it appends a batch that
 * follows a gap), so against it one request in flight keeps the order; the reference broker
 * checks them as Kafka does and gets the default 5.
 */
static void produce_through_errors(enum ktx_test_peer peer, const char *topic, int count,
                                   int code)
{
    const char *props[] = {"linger.ms", "2", "batch.size", "4096", "retry.backoff.ms", "20",
                           "max.in.flight.requests.per.connection",
                           peer == KTX_TEST_PEER_MOCK ? "1" : "5", NULL};
    struct ktx_test_cluster *c = start(peer, topic, 1);
    ktx_producer_t *p = new_producer(c, props);

    ok(send_pattern(p, topic, 0, 0)); /* metadata, producer id, first batch */
    ok(ktx_flush(p, 10000));
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "err 0 %d %d", count, code), 0);
    for (int i = 1; i < 2000; i++)
        ok(send_pattern(p, topic, 0, i));
    ok(ktx_flush(p, 30000));
    ck_assert_int_eq((int)col.len, 2000);
    for (size_t k = 0; k < col.len; k++) {
        ck_assert_int_eq(col.v[k].err, 0);
        ck_assert_int_eq((int)col.v[k].index, (int)k);  /* reports in send order */
        ck_assert_int_eq((int)col.v[k].offset, (int)k); /* no gap, no duplicate */
    }
    ok(ktx_close(p, 5000));
    ktx_producer_destroy(p);
    assert_read_back(c, topic, 1, 2000);
    ktx_test_cluster_stop(c);
}

START_TEST(test_producer_retries_not_leader_without_duplicates_or_reordering)
{
    produce_through_errors(peers[_i], "notleader", 3, KTX_ERR_NOT_LEADER_OR_FOLLOWER);
}
END_TEST

START_TEST(test_producer_bumps_epoch_on_out_of_order_sequence_and_loses_nothing)
{
    produce_through_errors(peers[_i], "oosn", 1, KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_msg(strstr(col.log, "epoch bumped") != NULL, "log: %s", col.log);
}
END_TEST

START_TEST(test_producer_bumps_epoch_on_unknown_producer_id_and_loses_nothing)
{
    produce_through_errors(peers[_i], "unknownpid", 1, KTX_ERR_UNKNOWN_PRODUCER_ID);
    ck_assert_msg(strstr(col.log, "epoch bumped") != NULL, "log: %s", col.log);
}
END_TEST

/* ---- concurrency ---- */

struct sender_arg {
    ktx_producer_t *p;
    int first, count;
    int failures;
};

static void *send_thread(void *opaque)
{
    struct sender_arg *a = opaque;

    for (int i = a->first; i < a->first + a->count; i++) {
        ktx_error_t *err = send_pattern(a->p, "threads", KTX_PARTITION_ANY, i);

        a->failures += err != NULL;
        ktx_error_destroy(err);
    }
    return NULL;
}

START_TEST(test_producer_accepts_concurrent_sends_from_many_threads)
{
    const char *props[] = {"linger.ms", "1", NULL};
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_BROKER, "threads", 3);
    ktx_producer_t *p = new_producer(c, props);
    struct sender_arg args[4];
    pthread_t th[4];

    ok(send_pattern(p, "threads", KTX_PARTITION_ANY, 0));
    for (int t = 0; t < 4; t++) {
        args[t] = (struct sender_arg){p, 1 + t * 2000, 2000, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, send_thread, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(args[t].failures, 0);
    }
    ok(ktx_flush(p, 30000));
    ck_assert_int_eq((int)col.len, 8001);
    assert_offsets_increase(3);
    ok(ktx_close(p, 5000));
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_reports_msg_timed_out_after_delivery_timeout)
{
    const char *props[] = {"linger.ms", "0", "request.timeout.ms", "300", "delivery.timeout.ms",
                           "800", NULL};
    struct ktx_test_cluster *c = start(peers[_i], "expire", 1);
    ktx_producer_t *p = new_producer(c, props);
    int64_t t0;

    ok(send_pattern(p, "expire", 0, 0));
    ok(ktx_flush(p, 10000));
    all_down(c);
    t0 = ktx_test_now_ms();
    ok(send_pattern(p, "expire", 0, 1));
    while (col.len < 2 && ktx_test_now_ms() - t0 < 10000)
        ktx_poll(p, 100);
    ck_assert_int_eq((int)col.len, 2);
    ck_assert_int_eq(col.v[1].err, KTX_ERR_MSG_TIMED_OUT);
    ck_assert_int_eq(col.v[1].offset, -1);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 750);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 3000);
    ok(ktx_close(p, 1000));
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_send_to_unknown_topic_times_out_after_max_block_ms)
{
    const char *props[] = {"max.block.ms", "400", NULL};
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_BROKER, "known", 1);
    ktx_producer_t *p = new_producer(c, props);
    ktx_error_t *err;
    int64_t t0 = ktx_test_now_ms();

    ok(send_pattern(p, "known", 0, 0));
    t0 = ktx_test_now_ms();
    err = send_pattern(p, "no-such-topic", KTX_PARTITION_ANY, 1);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 350);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 3000);
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    expect_error(err, KTX_ERR_TIMED_OUT);
    ok(ktx_close(p, 5000));
    ck_assert_int_eq((int)col.len, 1);
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

START_TEST(test_producer_refuses_bad_arguments)
{
    struct ktx_test_cluster *c = start(KTX_TEST_PEER_MOCK, "args", 2);
    ktx_producer_t *p = new_producer(c, NULL);
    ktx_header_t hdr = {NULL, "x", 1};
    ktx_record_t rec = {0};

    expect_error(ktx_send(p, &rec), KTX_ERR_INVALID_ARG); /* no topic */
    rec.topic = "args";
    rec.partition = -2;
    expect_error(ktx_send(p, &rec), KTX_ERR_INVALID_ARG);
    rec.partition = 0;
    rec.headers = &hdr;
    rec.header_count = 1;
    expect_error(ktx_send(p, &rec), KTX_ERR_INVALID_ARG); /* header without key */
    rec.header_count = 0;
    rec.partition = 7;
    expect_error(ktx_send(p, &rec), KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert_int_eq(ktx_poll(p, -2), -1);
    ck_assert_int_eq(ktx_poll(NULL, 0), -1);
    ok(ktx_close(p, 5000));
    ktx_producer_destroy(p);
    ktx_test_cluster_stop(c);
}
END_TEST

static Suite *producer_suite(void)
{
    Suite *s = suite_create("producer");
    TCase *tc = tcase_create("api");

    pthread_mutex_init(&col.lock, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_producer_delivers_10000_records_in_order_and_reads_them_back, 0, 2);
    tcase_add_test(tc, test_producer_fails_record_over_max_request_size_at_once);
    tcase_add_test(tc, test_producer_send_after_close_fails_with_closed);
    tcase_add_loop_test(tc, test_producer_flush_times_out_while_brokers_are_down_and_close_purges,
                        0, 2);
    tcase_add_loop_test(tc, test_producer_close_sends_lingering_records_within_its_timeout, 0, 2);
    tcase_add_test(tc, test_producer_send_blocks_max_block_ms_on_full_buffer_then_times_out);
    tcase_add_loop_test(tc, test_producer_retries_not_leader_without_duplicates_or_reordering, 0, 2);
    tcase_add_loop_test(tc, test_producer_bumps_epoch_on_out_of_order_sequence_and_loses_nothing,
                        0, 2);
    tcase_add_loop_test(tc, test_producer_bumps_epoch_on_unknown_producer_id_and_loses_nothing, 0,
                        2);
    tcase_add_test(tc, test_producer_accepts_concurrent_sends_from_many_threads);
    tcase_add_loop_test(tc, test_producer_reports_msg_timed_out_after_delivery_timeout, 0, 2);
    tcase_add_test(tc, test_producer_send_to_unknown_topic_times_out_after_max_block_ms);
    tcase_add_test(tc, test_producer_refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(producer_suite)
