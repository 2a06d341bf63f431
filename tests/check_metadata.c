/*
 * Tests of the metadata cache (sdk/metadata.c). Pure tests feed hand-built decoded
 * responses and an injected clock (update scheduling, retry backoff, stale leader epochs,
 * unknown topics, refresh on errors); integration tests refresh through sdk/net.c from
 * librdkafka's mock cluster, really started through tests/cluster.h, as the sender
 * thread will (ktx__metadata_maybe_update() + ktx__net_poll()). One test runs against the
 * reference broker (tests/broker/ktx-broker), which serves the newest versions.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "cluster.h"
#include "metadata.h"

#define WAIT_MS 5000

static struct ktx_test_cluster *cluster;

/* ---- helpers ---- */

static struct ktx__metadata *new_md(int64_t max_age_ms, int64_t backoff, int64_t backoff_max)
{
    struct ktx__metadata_conf conf = {max_age_ms, backoff, backoff_max};
    struct ktx__metadata *md = NULL;

    ck_assert_int_eq(ktx__metadata_new(&md, &conf), 0);
    return md;
}

/* A decoded response with one topic of |count| partitions. */
struct fake_resp {
    struct ktx__metadata_resp resp;
    struct ktx__metadata_broker brokers[2];
    struct ktx__metadata_topic topics[2];
    struct ktx__metadata_partition partitions[8];
};

static void fake_init(struct fake_resp *f, const char *topic, int16_t error, int32_t count)
{
    memset(f, 0, sizeof(*f));
    f->brokers[0] = (struct ktx__metadata_broker){1, ktx__str_c("k1"), 9001, ktx__str_c(NULL)};
    f->brokers[1] = (struct ktx__metadata_broker){2, ktx__str_c("k2"), 9002, ktx__str_c(NULL)};
    f->resp.brokers = f->brokers;
    f->resp.brokers_count = 2;
    f->resp.controller_id = 1;
    f->topics[0].name = ktx__str_c(topic);
    f->topics[0].error_code = error;
    f->topics[0].partitions = f->partitions;
    f->topics[0].partitions_count = count;
    f->resp.topics = f->topics;
    f->resp.topics_count = 1;
    for (int32_t p = 0; p < count; p++) {
        f->partitions[p].partition_index = p;
        f->partitions[p].leader_id = 1 + p % 2;
        f->partitions[p].leader_epoch = 5;
    }
}

static int32_t leader(struct ktx__metadata *md, const char *topic, int32_t partition,
                      int32_t *epoch)
{
    struct ktx__metadata_partition_info info;
    ck_assert_int_eq(ktx__metadata_leader_for(md, topic, partition, &info), 0);
    if (epoch != NULL)
        *epoch = info.leader_epoch;
    return info.leader_id;
}

/* Marks an update in flight by encoding a request, as ktx__metadata_maybe_update() does
 * through the connection (the encoder records which topics were asked for). */
static void encode_request(struct ktx__metadata *md, int16_t ver)
{
    struct ktx__writer w;
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__metadata_encode_request(&w, ver, md), 0);
    ktx__w_free(&w);
}

/* ---- pure ---- */

START_TEST(test_metadata_apply_fills_partitions_leaders_and_brokers)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct ktx__net_addr addr;
    struct fake_resp f;
    int32_t epoch;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "orders", 0), 0);
    ck_assert_int_eq(ktx__metadata_add_topic(md, "audit", 0), 0);
    ck_assert_int_eq(ktx__metadata_add_topic(md, "orders", 0), 0); /* once only */
    ck_assert_int_eq(ktx__metadata_add_topic(md, "", 0), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "orders"), -1);
    fake_init(&f, "orders", 0, 3);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 10), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "orders"), 3);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "audit"), -1);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "nope"), -1);
    ck_assert_int_eq(leader(md, "orders", 0, &epoch), 1);
    ck_assert_int_eq(epoch, 5);
    ck_assert_int_eq(leader(md, "orders", 1, NULL), 2);
    struct ktx__metadata_partition_info info;
    ck_assert_int_eq(ktx__metadata_leader_for(md, "orders", 3, &info),
                     KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert_int_eq(ktx__metadata_leader_for(md, "audit", 0, &info),
                     KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert_int_eq(ktx__metadata_broker(md, 2, &addr), 0);
    ck_assert_str_eq(addr.host, "k2");
    ck_assert_int_eq(addr.port, 9002);
    ck_assert_int_eq(ktx__metadata_broker(md, 3, &addr), KTX_ERR_INVALID_ARG);

    /* The interned name: the cache's own copy, one address for the name whether the
     * thread-local entry or the search answers, and kept across applied responses. */
    char buf[16] = "orders";
    const char *name = NULL, *name2 = NULL;
    ck_assert_int_eq(ktx__metadata_partition_count_name(md, buf, &name), 3);
    ck_assert_ptr_nonnull(name);
    ck_assert_ptr_ne(name, buf);
    ck_assert_str_eq(name, "orders");
    ck_assert_int_eq(ktx__metadata_partition_count_name(md, "orders", &name2), 3);
    ck_assert_ptr_eq(name2, name);
    strcpy(buf, "audit"); /* unknown yet: -1, |*name| untouched */
    name2 = NULL;
    ck_assert_int_eq(ktx__metadata_partition_count_name(md, buf, &name2), -1);
    ck_assert_ptr_null(name2);

    /* Topics not of interest are ignored. */
    fake_init(&f, "other", 0, 2);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 20), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "other"), -1);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "orders"), 3);
    ck_assert_int_eq(ktx__metadata_partition_count_name(md, "orders", &name2), 3);
    ck_assert_ptr_eq(name2, name);
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_topic_name_with_a_nul_byte_from_the_wire_matches_nothing)
{
    static const char wire_name[] = {'a', 'b', '\0', 'c', 'd', 'e', 'f', 'g'};
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct fake_resp f;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "ab", 0), 0);
    ck_assert_int_eq(ktx__metadata_add_topic(md, "abcdefgh", 0), 0);
    fake_init(&f, "x", 0, 2);
    f.topics[0].name.ptr = wire_name;
    f.topics[0].name.len = (int32_t)sizeof(wire_name);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 1), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "ab"), -1);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "abcdefgh"), -1);
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_apply_ignores_stale_leader_epochs)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct ktx__metadata_stats stats;
    struct fake_resp f;
    int32_t epoch;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "t", 0), 0);
    fake_init(&f, "t", 0, 2);
    f.partitions[0].leader_id = 1;
    f.partitions[0].leader_epoch = 5;
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 1), 0);
    /* A lagging broker still names the old leader with an older epoch: kept. */
    f.partitions[0].leader_id = 2;
    f.partitions[0].leader_epoch = 4;
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 2), 0);
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 1);
    ck_assert_int_eq(epoch, 5);
    ktx__metadata_get_stats(md, &stats);
    ck_assert_uint_eq(stats.stale_epochs, 1);
    /* A newer epoch moves the leader; an unknown epoch (-1, old Metadata versions) too. */
    f.partitions[0].leader_id = 3;
    f.partitions[0].leader_epoch = 6;
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 3), 0);
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 3);
    ck_assert_int_eq(epoch, 6);
    f.partitions[0].leader_id = 2;
    f.partitions[0].leader_epoch = -1;
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 4), 0);
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 2);
    ck_assert_int_eq(epoch, -1);
    ktx__metadata_get_stats(md, &stats);
    ck_assert_uint_eq(stats.updates, 4);
    ck_assert_int_eq(stats.last_update_ms, 4);
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_leader_hint_moves_a_leader_only_with_a_newer_epoch_and_a_known_broker)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct ktx__net_broker k7 = {7, "k7", 9007};
    struct ktx__net_addr addr;
    struct ktx__metadata_stats stats;
    struct fake_resp f;
    int32_t epoch;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "t", 0), 0);
    /* Nothing cached yet: nothing to move. */
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, 2, 9, NULL));
    fake_init(&f, "t", 0, 2);
    encode_request(md, 12);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 1), 0);
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 1);
    ck_assert_int_eq(epoch, 5);
    /* A hint with the same or an older epoch is stale; no epoch or leader is no hint. */
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, 2, 5, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, 2, 4, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, 2, -1, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, -1, 6, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "t", 2, 2, 6, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "u", 0, 2, 6, NULL));
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 1);
    ck_assert_int_eq(epoch, 5);
    /* A newer epoch on a known broker moves the leader, without asking for an update. */
    ck_assert(!ktx__metadata_needs_update(md, 2));
    ck_assert(ktx__metadata_set_leader(md, "t", 0, 2, 6, NULL));
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 2);
    ck_assert_int_eq(epoch, 6);
    ck_assert(!ktx__metadata_needs_update(md, 2));
    /* The same hint again (another batch's answer) is applied already; another leader at
     * that epoch is not believed. */
    ck_assert(ktx__metadata_set_leader(md, "t", 0, 2, 6, NULL));
    ck_assert(!ktx__metadata_set_leader(md, "t", 0, 1, 6, NULL));
    ck_assert_int_eq(leader(md, "t", 0, NULL), 2);
    /* An unknown broker needs its endpoint, which then registers it. */
    ck_assert(!ktx__metadata_set_leader(md, "t", 1, 7, 6, NULL));
    ck_assert_int_eq(leader(md, "t", 1, NULL), 2);
    ck_assert(ktx__metadata_set_leader(md, "t", 1, 7, 6, &k7));
    ck_assert_int_eq(leader(md, "t", 1, &epoch), 7);
    ck_assert_int_eq(epoch, 6);
    ck_assert_int_eq(ktx__metadata_broker(md, 7, &addr), 0);
    ck_assert_str_eq(addr.host, "k7");
    ck_assert_int_eq(addr.port, 9007);
    /* A later Metadata answer with an older epoch does not undo the hint. */
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 3), 0);
    ck_assert_int_eq(leader(md, "t", 0, &epoch), 2);
    ck_assert_int_eq(epoch, 6);
    ktx__metadata_get_stats(md, &stats);
    ck_assert_uint_eq(stats.leader_hints, 2);
    ktx__metadata_destroy(md);
}
END_TEST

/* The partition count is read per record through a thread-local entry: it must follow a
 * response that changes the count, and never mix up two caches. */
START_TEST(test_metadata_partition_count_follows_updates_and_is_per_cache)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000), *other = new_md(300000, 100, 1000);
    struct fake_resp f;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "t", 0), 0);
    ck_assert_int_eq(ktx__metadata_add_topic(other, "t", 0), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), -1);
    fake_init(&f, "t", 0, 2);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 1), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), 2);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), 2);
    ck_assert_int_eq(ktx__metadata_partition_count(other, "t"), -1);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "u"), -1);
    fake_init(&f, "t", 0, 5);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 2), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), 5);
    ck_assert_int_eq(ktx__metadata_apply(other, &f.resp, 2), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(other, "t"), 5);
    ktx__metadata_destroy(other);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), 5);
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_updates_on_demand_on_max_age_and_after_growing_backoff)
{
    struct ktx__metadata *md = new_md(5000, 100, 1000);
    struct fake_resp f;

    /* A new cache wants an update at once. */
    ck_assert(ktx__metadata_needs_update(md, 0));
    ck_assert_int_eq(ktx__metadata_time_to_update(md, 0), 0);
    fake_init(&f, "t", 0, 1);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 1000), 0);
    ck_assert(!ktx__metadata_needs_update(md, 1001));
    ck_assert_int_eq(ktx__metadata_time_to_update(md, 1000), 5000);
    ck_assert(!ktx__metadata_needs_update(md, 5999));
    ck_assert(ktx__metadata_needs_update(md, 6000));
    /* On demand. */
    ktx__metadata_request_update(md);
    ck_assert(ktx__metadata_needs_update(md, 1002));

    /* Failures back off 100 ms, then 200 ms, ... (+-20%), capped at 1000 ms. */
    ktx__metadata_update_failed(md, 2000);
    ck_assert(!ktx__metadata_needs_update(md, 2079));
    ck_assert(ktx__metadata_needs_update(md, 2120));
    ktx__metadata_update_failed(md, 3000);
    ck_assert(!ktx__metadata_needs_update(md, 3159));
    ck_assert(ktx__metadata_needs_update(md, 3240));
    for (int i = 0; i < 10; i++)
        ktx__metadata_update_failed(md, 4000);
    ck_assert(!ktx__metadata_needs_update(md, 4799));
    ck_assert(ktx__metadata_needs_update(md, 5200));
    int64_t wait = ktx__metadata_time_to_update(md, 4000);
    ck_assert_int_ge(wait, 800);
    ck_assert_int_le(wait, 1200);
    /* A success resets the backoff. */
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 6000), 0);
    ktx__metadata_update_failed(md, 7000);
    ck_assert(ktx__metadata_needs_update(md, 7120));
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_errors_that_move_leaders_mark_the_cache_for_refresh)
{
    static const int refresh[] = {KTX_ERR_NOT_LEADER_OR_FOLLOWER,
                                  KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION,
                                  KTX_ERR_LEADER_NOT_AVAILABLE, KTX_ERR_TRANSPORT,
                                  KTX_ERR_TIMED_OUT, KTX_ERR_FENCED_LEADER_EPOCH};
    static const int keep[] = {0, KTX_ERR_MESSAGE_TOO_LARGE, KTX_ERR_PRODUCER_FENCED,
                               KTX_ERR_INVALID_RECORD};
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct fake_resp f;

    fake_init(&f, "t", 0, 1);
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 0), 0);
        ck_assert(!ktx__metadata_note_error(md, keep[i]));
        ck_assert(!ktx__metadata_needs_update(md, 1));
    }
    for (size_t i = 0; i < sizeof(refresh) / sizeof(refresh[0]); i++) {
        ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 0), 0);
        ck_assert(!ktx__metadata_needs_update(md, 1));
        ck_assert(ktx__metadata_note_error(md, refresh[i]));
        ck_assert(ktx__metadata_needs_update(md, 1));
    }
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_topic_never_listed_is_unknown_after_the_deadline)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct fake_resp f;
    int err = -1;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "late", 0), 0);
    ck_assert_int_eq(ktx__metadata_topic_status(md, "late", 1000, 500, &err),
                     KTX__TOPIC_PENDING);
    ck_assert_int_eq(err, 0);
    /* The broker says it does not exist (retriable): still pending before the deadline,
     * and the cache asks again after the backoff. */
    fake_init(&f, "late", KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION, 0);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 600), 0);
    ck_assert_int_eq(ktx__metadata_topic_status(md, "late", 1000, 650, &err),
                     KTX__TOPIC_PENDING);
    ck_assert(!ktx__metadata_needs_update(md, 650));
    ck_assert(ktx__metadata_needs_update(md, 700));
    ck_assert_int_eq(ktx__metadata_topic_status(md, "late", 1000, 1000, &err),
                     KTX__TOPIC_FAILED);
    ck_assert_int_eq(err, KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    /* A topic nobody added is pending until the deadline too. */
    ck_assert_int_eq(ktx__metadata_topic_status(md, "never", 1000, 10, NULL),
                     KTX__TOPIC_PENDING);
    ck_assert_int_eq(ktx__metadata_topic_status(md, "never", 1000, 1000, &err),
                     KTX__TOPIC_FAILED);

    /* A non-retriable topic error fails at once. */
    ck_assert_int_eq(ktx__metadata_add_topic(md, "secret", 0), 0);
    fake_init(&f, "secret", KTX_ERR_TOPIC_AUTHORIZATION_FAILED, 0);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 700), 0);
    ck_assert_int_eq(ktx__metadata_topic_status(md, "secret", 100000, 701, &err),
                     KTX__TOPIC_FAILED);
    ck_assert_int_eq(err, KTX_ERR_TOPIC_AUTHORIZATION_FAILED);

    /* Once listed, known. */
    fake_init(&f, "late", 0, 2);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 2000), 0);
    ck_assert_int_eq(ktx__metadata_topic_status(md, "late", 1000, 2000, &err),
                     KTX__TOPIC_KNOWN);
    ck_assert_int_eq(err, 0);
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_partition_without_leader_asks_for_another_update)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct fake_resp f;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "t", 0), 0);
    fake_init(&f, "t", 0, 2);
    f.partitions[1].leader_id = -1;
    f.partitions[1].error_code = KTX_ERR_LEADER_NOT_AVAILABLE;
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 0), 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "t"), 2);
    ck_assert_int_eq(leader(md, "t", 1, NULL), -1);
    ck_assert(!ktx__metadata_needs_update(md, 50));
    ck_assert(ktx__metadata_needs_update(md, 100));
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_request_lists_topics_of_interest_and_new_ones_trigger_an_update)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct ktx__metadata_req req;
    struct ktx__arena arena;
    struct ktx__writer w;
    struct fake_resp f;

    /* No topic yet: an empty (not null) list, so that only brokers come back. */
    ktx__w_init(&w, 64, 0);
    ck_assert_int_eq(ktx__metadata_encode_request(&w, 2, md), 0);
    ktx__arena_init(&arena, 0);
    ck_assert_int_eq(ktx__proto_metadata_req_decode(w.p, w.len, 2, &req, &arena), 0);
    ck_assert_int_eq(req.topics_count, 0);
    ktx__arena_free(&arena);
    ktx__w_free(&w);

    ck_assert_int_eq(ktx__metadata_add_topic(md, "b", 0), 0);
    ck_assert_int_eq(ktx__metadata_add_topic(md, "a", 0), 0);
    for (int16_t ver = 1; ver <= 12; ver++) {
        ktx__w_init(&w, 64, 0);
        ck_assert_int_eq(ktx__metadata_encode_request(&w, ver, md), 0);
        ktx__arena_init(&arena, 0);
        ck_assert_int_eq(ktx__proto_metadata_req_decode(w.p, w.len, ver, &req, &arena), 0);
        ck_assert_int_eq(req.topics_count, 2);
        ck_assert(ktx__str_eq_c(req.topics[0].name, "a"));
        ck_assert(ktx__str_eq_c(req.topics[1].name, "b"));
        ck_assert(ver < 4 || req.allow_auto_topic_creation);
        ktx__arena_free(&arena);
        ktx__w_free(&w);
    }

    /* "c" is added while the request for a and b is out: the answer does not cover it. */
    encode_request(md, 2);
    ck_assert_int_eq(ktx__metadata_add_topic(md, "c", 0), 0);
    fake_init(&f, "a", 0, 1);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 10), 0);
    ck_assert(ktx__metadata_needs_update(md, 11));
    encode_request(md, 2);
    ck_assert_int_eq(ktx__metadata_apply(md, &f.resp, 20), 0);
    ck_assert(!ktx__metadata_needs_update(md, 21));
    ktx__metadata_destroy(md);
}
END_TEST

/* Application threads read partition counts while the sender applies updates. */
struct reader_arg {
    struct ktx__metadata *md;
    int bad;
};

static void *read_counts(void *opaque)
{
    struct reader_arg *arg = opaque;
    for (int i = 0; i < 20000; i++) {
        int32_t n = ktx__metadata_partition_count(arg->md, "t");
        if (n != -1 && n != 2 && n != 4)
            arg->bad++;
    }
    return NULL;
}

START_TEST(test_metadata_partition_counts_are_consistent_across_threads)
{
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct reader_arg arg = {md, 0};
    struct fake_resp f2, f4;
    pthread_t thread;

    ck_assert_int_eq(ktx__metadata_add_topic(md, "t", 0), 0);
    fake_init(&f2, "t", 0, 2);
    fake_init(&f4, "t", 0, 4);
    ck_assert_int_eq(pthread_create(&thread, NULL, read_counts, &arg), 0);
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(ktx__metadata_apply(md, i % 2 ? &f2.resp : &f4.resp, i), 0);
    pthread_join(thread, NULL);
    ck_assert_int_eq(arg.bad, 0);
    ktx__metadata_destroy(md);
}
END_TEST

/* ---- against the mock ---- */

static void cmd_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sends a control command to the mock and asserts that it answered OK. */
static void cmd_ok(const char *fmt, ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    int rc = ktx_test_cluster_cmd(cluster, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc,
                  ktx_test_cluster_last_error(cluster));
}

static struct ktx__net *new_net(const char *bootstrap)
{
    struct ktx__net_conf conf;
    struct ktx__net *net = NULL;

    memset(&conf, 0, sizeof(conf));
    conf.bootstrap_servers = bootstrap;
    conf.conn.client_id = "check_metadata";
    conf.conn.request_timeout_ms = 5000;
    conf.conn.connect_timeout_ms = 2000;
    conf.conn.reconnect_backoff_ms = 50;
    conf.conn.reconnect_backoff_max_ms = 400;
    conf.conn.max_in_flight = 5;
    ck_assert_int_eq(ktx__net_new(&net, &conf), 0);
    return net;
}

/* Runs the sender's metadata duty until |md| applied |updates| responses in total or
 * |max_ms| pass. Returns true when it did. */
static bool refresh_until(struct ktx__net *net, struct ktx__metadata *md, uint64_t updates,
                          int64_t max_ms)
{
    int64_t end = ktx__net_now(net) + max_ms;
    struct ktx__metadata_stats stats;

    for (;;) {
        int64_t now = ktx__net_now(net);
        ktx__metadata_get_stats(md, &stats);
        if (stats.updates >= updates)
            return true;
        if (now >= end)
            return false;
        /* Exactly the sender's loop: the duty's answer is the poll timeout. */
        int64_t wait = KTX__MIN(ktx__metadata_maybe_update(md, net, now), end - now);
        ck_assert_int_eq(ktx__net_poll(net, wait, now), 0);
    }
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

START_TEST(test_metadata_created_topic_appears_with_its_partitions_and_brokers_register)
{
    struct ktx__net *net = new_net(ktx_test_cluster_bootstrap(cluster));
    struct ktx__metadata *md = new_md(300000, 100, 1000);
    struct ktx__net_addr addr;
    char host[64];
    int port;

    cmd_ok("topic orders 4 3");
    ck_assert_int_eq(ktx__metadata_add_topic(md, "orders", ktx__net_now(net)), 0);
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    ck_assert_int_eq(ktx__metadata_partition_count(md, "orders"), 4);
    for (int32_t p = 0; p < 4; p++) {
        int32_t epoch;
        int32_t id = leader(md, "orders", p, &epoch);
        ck_assert_int_ge(id, 1);
        ck_assert_int_le(id, 3);
        ck_assert_int_eq(epoch, -1); /* Metadata v2 carries no leader epoch */
    }
    ck_assert_int_eq(ktx__metadata_topic_status(md, "orders", 0, ktx__net_now(net), NULL),
                     KTX__TOPIC_KNOWN);
    /* The brokers went to the cache and to the net's registry. */
    ck_assert_uint_eq(ktx__net_broker_count(net), 3);
    for (int id = 1; id <= 3; id++) {
        ck_assert_int_eq(ktx_test_cluster_broker_addr(cluster, id, host, sizeof(host), &port),
                         0);
        ck_assert_int_eq(ktx__metadata_broker(md, id, &addr), 0);
        ck_assert_str_eq(addr.host, host);
        ck_assert_int_eq(addr.port, port);
        ck_assert_str_eq(ktx__conn_host(ktx__net_conn(net, id)), host);
        ck_assert_int_eq(ktx__conn_port(ktx__net_conn(net, id)), port);
    }
    /* Nothing more is due until metadata.max.age.ms. */
    ck_assert(!ktx__metadata_needs_update(md, ktx__net_now(net)));
    int64_t wait = ktx__metadata_maybe_update(md, net, ktx__net_now(net));
    ck_assert_int_gt(wait, 299000);
    ck_assert_int_le(wait, 300000);
    ck_assert_int_eq(ktx__net_in_flight(net), 0);
    ktx__net_destroy(net); /* first: it fails what is in flight, into |md| */
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_leader_move_is_reflected_after_a_refresh)
{
    struct ktx__net *net = new_net(ktx_test_cluster_bootstrap(cluster));
    struct ktx__metadata *md = new_md(300000, 100, 1000);

    cmd_ok("topic moves 4 3");
    cmd_ok("leader moves 1 1");
    ck_assert_int_eq(ktx__metadata_add_topic(md, "moves", ktx__net_now(net)), 0);
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    ck_assert_int_eq(leader(md, "moves", 1, NULL), 1);

    cmd_ok("leader moves 1 3");
    /* The producer got NOT_LEADER_OR_FOLLOWER from broker 1: refresh. */
    ck_assert(ktx__metadata_note_error(md, KTX_ERR_NOT_LEADER_OR_FOLLOWER));
    ck_assert(refresh_until(net, md, 2, WAIT_MS));
    ck_assert_int_eq(leader(md, "moves", 1, NULL), 3);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "moves"), 4);

    /* Partition without leader: -1 and another update is wanted. */
    cmd_ok("leader moves 2 -1");
    ktx__metadata_request_update(md);
    ck_assert(refresh_until(net, md, 3, WAIT_MS));
    ck_assert_int_eq(leader(md, "moves", 2, NULL), -1);
    ck_assert_int_le(ktx__metadata_time_to_update(md, ktx__net_now(net)), 100);
    ktx__net_destroy(net); /* first: it fails what is in flight, into |md| */
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_topic_is_reported_unknown_when_no_broker_answers_by_the_deadline)
{
    char bootstrap[64], host[40];
    struct ktx__net *net;
    struct ktx__metadata *md = new_md(300000, 50, 200);
    int port, err = 0;
    int64_t start, deadline;

    ck_assert_int_eq(ktx_test_cluster_broker_addr(cluster, 2, host, sizeof(host), &port), 0);
    snprintf(bootstrap, sizeof(bootstrap), "%s:%d", host, port);
    net = new_net(bootstrap);
    cmd_ok("down 2");
    start = ktx__net_now(net);
    deadline = start + 500;
    ck_assert_int_eq(ktx__metadata_add_topic(md, "never-seen", start), 0);
    while (ktx__metadata_topic_status(md, "never-seen", deadline, ktx__net_now(net), &err) ==
           KTX__TOPIC_PENDING) {
        int64_t now = ktx__net_now(net);
        ck_assert_int_lt(now - start, WAIT_MS);
        int64_t wait = ktx__metadata_maybe_update(md, net, now);
        ck_assert_int_gt(wait, 0); /* never a busy loop */
        ck_assert_int_eq(ktx__net_poll(net, KTX__MIN(deadline - now, wait), now), 0);
    }
    ck_assert_int_eq(err, KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    ck_assert_int_ge(ktx__net_now(net) - start, 500);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "never-seen"), -1);
    /* The connection was tried more than once, with backoff in between. */
    ck_assert_uint_ge(ktx__conn_stats(ktx__net_conn(net, -1))->connect_attempts, 2);

    /* Back up: the topic appears (the mock creates it on request). */
    cmd_ok("up 2");
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    ck_assert_int_eq(ktx__metadata_partition_count(md, "never-seen"), 4);
    ktx__net_destroy(net); /* first: it fails what is in flight, into |md| */
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_update_lost_with_its_connection_is_retried_after_backoff)
{
    struct ktx__net *net = new_net(ktx_test_cluster_bootstrap(cluster));
    struct ktx__metadata *md = new_md(300000, 50, 200);
    struct ktx__metadata_stats stats;
    int32_t node;
    int64_t now;

    cmd_ok("topic lost 2 1");
    ck_assert_int_eq(ktx__metadata_add_topic(md, "lost", ktx__net_now(net)), 0);
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    /* Send an update, then close its connection before the answer is read. */
    ktx__metadata_request_update(md);
    now = ktx__net_now(net);
    for (int i = 0; i < 100; i++) {
        int64_t wait = ktx__metadata_maybe_update(md, net, now);
        if (ktx__net_in_flight(net) > 0)
            break;
        ck_assert_int_eq(ktx__net_poll(net, KTX__MIN(wait, 10), now), 0);
        now = ktx__net_now(net);
    }
    ck_assert_int_eq(ktx__net_in_flight(net), 1);
    ck_assert_int_eq(ktx__metadata_time_to_update(md, now), INT64_MAX);
    node = KTX__NET_NO_NODE;
    for (int32_t id = -3; id <= 3 && node == KTX__NET_NO_NODE; id++)
        if (ktx__net_conn(net, id) != NULL && ktx__conn_in_flight(ktx__net_conn(net, id)) > 0)
            node = id;
    ck_assert_int_ne(node, KTX__NET_NO_NODE);
    ktx__conn_close(ktx__net_conn(net, node), true, now);
    ktx__metadata_get_stats(md, &stats);
    ck_assert_uint_eq(stats.failures, 1);
    ck_assert(!ktx__metadata_needs_update(md, now));
    ck_assert(refresh_until(net, md, 2, WAIT_MS));
    ck_assert_int_eq(ktx__metadata_partition_count(md, "lost"), 2);
    ktx__net_destroy(net); /* first: it fails what is in flight, into |md| */
    ktx__metadata_destroy(md);
}
END_TEST

START_TEST(test_metadata_update_answered_after_request_timeout_fails_and_is_retried)
{
    struct ktx__net_conf conf;
    struct ktx__net *net = NULL;
    struct ktx__metadata *md = new_md(300000, 50, 200);
    struct ktx__metadata_stats stats;
    uint64_t timeouts = 0;

    memset(&conf, 0, sizeof(conf));
    conf.bootstrap_servers = ktx_test_cluster_bootstrap(cluster);
    conf.conn.request_timeout_ms = 300;
    conf.conn.connect_timeout_ms = 2000;
    conf.conn.reconnect_backoff_ms = 50;
    conf.conn.reconnect_backoff_max_ms = 400;
    conf.conn.max_in_flight = 5;
    ck_assert_int_eq(ktx__net_new(&net, &conf), 0);
    cmd_ok("topic slow 2 1");
    ck_assert_int_eq(ktx__metadata_add_topic(md, "slow", ktx__net_now(net)), 0);
    /* Two updates: the second one goes to (and connects) a broker from the first. */
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    ktx__metadata_request_update(md);
    ck_assert(refresh_until(net, md, 2, WAIT_MS));

    /* Every broker now answers after 1 s: the next update times out after 300 ms. */
    for (int id = 1; id <= 3; id++)
        cmd_ok("rtt %d 1000", id);
    ktx__metadata_request_update(md);
    int64_t end = ktx__net_now(net) + WAIT_MS;
    do {
        int64_t now = ktx__net_now(net);
        ck_assert_int_lt(now, end);
        ck_assert_int_eq(ktx__net_poll(net, ktx__metadata_maybe_update(md, net, now), now), 0);
        ktx__metadata_get_stats(md, &stats);
    } while (stats.failures == 0);
    ck_assert_uint_eq(stats.updates, 2);
    for (int32_t id = 1; id <= 3; id++)
        timeouts += ktx__conn_stats(ktx__net_conn(net, id))->timeouts;
    ck_assert_uint_eq(timeouts, 1);
    /* Retried after the backoff, and applied once the brokers are fast again. */
    ck_assert(ktx__metadata_needs_update(md, ktx__net_now(net) + 250));
    for (int id = 1; id <= 3; id++)
        cmd_ok("rtt %d 0", id);
    ck_assert(refresh_until(net, md, 3, WAIT_MS));
    ck_assert_int_eq(ktx__metadata_partition_count(md, "slow"), 2);
    ktx__net_destroy(net);
    ktx__metadata_destroy(md);
}
END_TEST

/* The reference broker speaks the newest versions: ApiVersions v3+ without fallback,
 * flexible Metadata v12 (response header v1) with leader epochs. */
START_TEST(test_metadata_v12_from_the_reference_broker_tracks_leader_epochs)
{
    struct ktx_test_cluster *broker = NULL;
    struct ktx__net *net;
    struct ktx__metadata *md = new_md(300000, 50, 200);
    struct ktx__conn *conn = NULL;
    int32_t epoch_before, epoch_after;

    ck_assert_int_eq(ktx_test_cluster_start(&broker, KTX_TEST_PEER_BROKER, 3, NULL), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(broker, "topic epochs 3 3"), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(broker, "leader epochs 1 1"), 0);
    net = new_net(ktx_test_cluster_bootstrap(broker));
    ck_assert_int_eq(ktx__metadata_add_topic(md, "epochs", ktx__net_now(net)), 0);
    ck_assert(refresh_until(net, md, 1, WAIT_MS));
    for (int32_t id = -3; id <= -1; id++)
        if (ktx__conn_state(ktx__net_conn(net, id)) == KTX__CONN_READY)
            conn = ktx__net_conn(net, id);
    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(ktx__conn_api_version(conn, KTX__API_METADATA), 12);
    ck_assert_int_ge(ktx__conn_api_versions_version(conn), 3);
    ck_assert_uint_eq(ktx__conn_stats(conn)->api_versions_fallbacks, 0);
    ck_assert_int_eq(ktx__metadata_partition_count(md, "epochs"), 3);
    ck_assert_int_eq(leader(md, "epochs", 1, &epoch_before), 1);
    ck_assert_int_ge(epoch_before, 0);

    ck_assert_int_eq(ktx_test_cluster_cmd(broker, "leader epochs 1 3"), 0);
    ck_assert(ktx__metadata_note_error(md, KTX_ERR_NOT_LEADER_OR_FOLLOWER));
    ck_assert(refresh_until(net, md, 2, WAIT_MS));
    ck_assert_int_eq(leader(md, "epochs", 1, &epoch_after), 3);
    ck_assert_int_gt(epoch_after, epoch_before);
    ktx__net_destroy(net);
    ktx__metadata_destroy(md);
    ck_assert_int_eq(ktx_test_cluster_stop(broker), 0);
}
END_TEST

static Suite *metadata_suite(void)
{
    Suite *s = suite_create("metadata");
    TCase *pure = tcase_create("pure");
    TCase *mock = tcase_create("mock");
    TCase *broker = tcase_create("broker"); /* tests/broker/ktx-broker */

    tcase_add_test(pure, test_metadata_apply_fills_partitions_leaders_and_brokers);
    tcase_add_test(pure, test_metadata_topic_name_with_a_nul_byte_from_the_wire_matches_nothing);
    tcase_add_test(pure, test_metadata_apply_ignores_stale_leader_epochs);
    tcase_add_test(pure, test_metadata_leader_hint_moves_a_leader_only_with_a_newer_epoch_and_a_known_broker);
    tcase_add_test(pure, test_metadata_partition_count_follows_updates_and_is_per_cache);
    tcase_add_test(pure, test_metadata_updates_on_demand_on_max_age_and_after_growing_backoff);
    tcase_add_test(pure, test_metadata_errors_that_move_leaders_mark_the_cache_for_refresh);
    tcase_add_test(pure, test_metadata_topic_never_listed_is_unknown_after_the_deadline);
    tcase_add_test(pure, test_metadata_partition_without_leader_asks_for_another_update);
    tcase_add_test(pure,
                   test_metadata_request_lists_topics_of_interest_and_new_ones_trigger_an_update);
    tcase_add_test(pure, test_metadata_partition_counts_are_consistent_across_threads);
    suite_add_tcase(s, pure);

    tcase_add_checked_fixture(mock, cluster_setup, cluster_teardown);
    tcase_set_timeout(mock, 60);
    tcase_add_test(mock,
                   test_metadata_created_topic_appears_with_its_partitions_and_brokers_register);
    tcase_add_test(mock, test_metadata_leader_move_is_reflected_after_a_refresh);
    tcase_add_test(mock,
                   test_metadata_topic_is_reported_unknown_when_no_broker_answers_by_the_deadline);
    tcase_add_test(mock, test_metadata_update_lost_with_its_connection_is_retried_after_backoff);
    tcase_add_test(mock, test_metadata_update_answered_after_request_timeout_fails_and_is_retried);
    suite_add_tcase(s, mock);

    tcase_set_timeout(broker, 60);
    tcase_add_test(broker, test_metadata_v12_from_the_reference_broker_tracks_leader_epochs);
    suite_add_tcase(s, broker);
    return s;
}

KTX_CHECK_MAIN(metadata_suite)
