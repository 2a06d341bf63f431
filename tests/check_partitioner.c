/*
 * Partitioner tests: murmur2 against the vectors of Kafka's and librdkafka's own tests,
 * keyed partitions as Java's producer computes them, and the sticky partition of keyless
 * records (KIP-480).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check_util.h"
#include "partitioner.h"

/* Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2:
 * Utils.murmur2() results as Java ints. */
static const struct {
    const char *key;
    int32_t hash;
} kafka_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};

START_TEST(test_murmur2_matches_kafka_utils_test_vectors)
{
    for (size_t i = 0; i < sizeof(kafka_vectors) / sizeof(kafka_vectors[0]); i++) {
        const char *key = kafka_vectors[i].key;
        ck_assert_int_eq((int32_t)ktx__murmur2(key, strlen(key)), kafka_vectors[i].hash);
    }
}
END_TEST

/* librdkafka src/rdmurmur2.c, unittest_murmurhashneutral2: Java's murmur2 with the sign
 * bit cleared (toPositive). */
START_TEST(test_murmur2_positive_matches_librdkafka_unit_test_vectors)
{
    static const struct {
        const char *key;
        uint32_t hash;
    } v[] = {{"kafka", 1348980580u}, {"amqp", 767747138u}, {"giberish123456789", 257239820u}};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_uint_eq(ktx__murmur2(v[i].key, strlen(v[i].key)) & 0x7fffffffu, v[i].hash);
}
END_TEST

START_TEST(test_murmur2_of_empty_key_is_defined_and_tail_lengths_differ)
{
    /* toPositive(murmur2("")) per librdkafka tests/0048-partitioner.c (Murmur2Cli). */
    ck_assert_uint_eq(ktx__murmur2(NULL, 0) & 0x7fffffffu, 0x106e08d9u);
    /* Keys of length 1..7 exercise every tail case; they must hash differently. */
    const char *s = "abcdefg";
    uint32_t seen[8];
    for (size_t len = 0; len < 8; len++) {
        seen[len] = ktx__murmur2(s, len);
        for (size_t j = 0; j < len; j++)
            ck_assert_uint_ne(seen[j], seen[len]);
    }
}
END_TEST

/* librdkafka tests/0048-partitioner.c, do_test_partitioners: the "murmur2" partitioner's
 * expected partition of each key for 7 (quick mode) and 17 partitions. */
START_TEST(test_keyed_partition_matches_librdkafka_partitioner_test)
{
    static const struct {
        const char *key;
        uint32_t positive_hash;
    } v[] = {
        {"", 0x106e08d9u},
        {"23456", 0x058d780fu},
        {"this is another string with more length to it perhaps", 0x4f7703dau},
        {"hejsan", 0x5ec19395u},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len = strlen(v[i].key);
        ck_assert_int_eq(ktx__murmur2_partition(v[i].key, len, 7),
                         (int32_t)(v[i].positive_hash % 7));
        ck_assert_int_eq(ktx__murmur2_partition(v[i].key, len, 17),
                         (int32_t)(v[i].positive_hash % 17));
    }
    /* Spelled out for 17 partitions, so a wrong modulo cannot hide behind the formula. */
    ck_assert_int_eq(ktx__murmur2_partition("hejsan", 6, 17), 0x5ec19395 % 17);
    ck_assert_int_eq(0x5ec19395 % 17, 5);
}
END_TEST

/* kafka-python test/test_partitioner.py, test_murmur2_java_compatibility: partitions of
 * 1000 computed with Java's DefaultPartitioner. */
START_TEST(test_keyed_partition_matches_java_default_partitioner_for_1000_partitions)
{
    static const struct {
        const char *key;
        size_t len;
        int32_t partition;
    } v[] = {
        {"", 0, 681},     {"a", 1, 524},          {"ab", 2, 434},
        {"abc", 3, 107},  {"123456789", 9, 566},  {"\x00 ", 2, 742},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_int_eq(ktx__murmur2_partition(v[i].key, v[i].len, 1000), v[i].partition);
}
END_TEST

START_TEST(test_keyed_partition_rejects_non_positive_partition_count)
{
    ck_assert_int_eq(ktx__murmur2_partition("a", 1, 0), -1);
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 1), 0);
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", "a", 1, 0, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__partitioner_partition(part, NULL, "a", 1, 3, NULL, 0),
                     KTX_ERR_INVALID_ARG);
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_partitioner_hashes_keys_and_sticks_for_null_keys)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 42), 0);
    ck_assert(!ktx__partitioner_is_sticky(part, "k"));
    ck_assert(ktx__partitioner_is_sticky(part, NULL));
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", "hejsan", 6, 17, NULL, 0), 5);
    int32_t p = ktx__partitioner_partition(part, "t", NULL, 0, 17, NULL, 0);
    ck_assert_int_ge(p, 0);
    ck_assert_int_lt(p, 17);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(ktx__partitioner_partition(part, "t", NULL, 0, 17, NULL, 0), p);
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_partitioner_ignore_keys_makes_keyed_records_sticky)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, true, 42), 0);
    ck_assert(ktx__partitioner_is_sticky(part, "k"));
    int32_t p = ktx__partitioner_partition(part, "t", "key-1", 5, 64, NULL, 0);
    /* Different keys all land on the sticky partition. */
    char key[16];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i);
        ck_assert_int_eq(ktx__partitioner_partition(part, "t", key, (size_t)n, 64, NULL, 0), p);
    }
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_sticky_partition_switches_on_new_batch_to_a_different_partition)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 7), 0);
    bool seen[4] = {false};
    int32_t p = ktx__partitioner_partition(part, "t", NULL, 0, 4, NULL, 0);
    seen[p] = true;
    for (int i = 0; i < 200; i++) {
        ktx__partitioner_on_new_batch(part, "t", p, 4, NULL, 0);
        int32_t q = ktx__partitioner_partition(part, "t", NULL, 0, 4, NULL, 0);
        ck_assert_int_ne(q, p);
        seen[q] = true;
        p = q;
    }
    for (int i = 0; i < 4; i++)
        ck_assert_msg(seen[i], "partition %d never chosen", i);
    ktx__partitioner_destroy(part);
}
END_TEST

/*
 * The calling thread's last sticky entry is reused without the lock: it must belong to its
 * partitioner and topic, follow a switch, and give way when the partition count shrank
 * below it.
 */
START_TEST(test_sticky_fast_path_is_per_partitioner_and_topic_and_follows_switches)
{
    struct ktx__partitioner *a, *b;
    ck_assert_int_eq(ktx__partitioner_new(&a, false, 11), 0);
    ck_assert_int_eq(ktx__partitioner_new(&b, false, 12), 0);
    int32_t pa = ktx__partitioner_partition(a, "t", NULL, 0, 1000, NULL, 0);
    int32_t pb = ktx__partitioner_partition(b, "t", NULL, 0, 1000, NULL, 0);
    ck_assert_int_ne(pa, pb); /* these seeds pick different partitions */
    ck_assert_int_eq(ktx__partitioner_partition(a, "t", NULL, 0, 1000, NULL, 0), pa);
    ck_assert_int_eq(ktx__partitioner_partition(b, "t", NULL, 0, 1000, NULL, 0), pb);
    /* Another topic of |a| has its own entry; "t" keeps its partition. */
    int32_t pu = ktx__partitioner_partition(a, "u", NULL, 0, 1000, NULL, 0);
    ck_assert_int_ge(pu, 0);
    ck_assert_int_eq(ktx__partitioner_partition(a, "t", NULL, 0, 1000, NULL, 0), pa);
    ktx__partitioner_on_new_batch(a, "t", pa, 1000, NULL, 0);
    int32_t qa = ktx__partitioner_partition(a, "t", NULL, 0, 1000, NULL, 0);
    ck_assert_int_ne(qa, pa);
    ck_assert_int_eq(ktx__partitioner_partition(a, "t", NULL, 0, 1000, NULL, 0), qa);
    /* Fewer partitions than the sticky one: a new one below the count. */
    int32_t count = qa > 0 ? qa : 1;
    int32_t r = ktx__partitioner_partition(a, "t", NULL, 0, count, NULL, 0);
    ck_assert_int_ge(r, 0);
    ck_assert_int_lt(r, count);
    ktx__partitioner_destroy(a);
    ck_assert_int_eq(ktx__partitioner_partition(b, "t", NULL, 0, 1000, NULL, 0), pb);
    ktx__partitioner_destroy(b);
}
END_TEST

/*
 * ktx_send() passes the metadata cache's interned name (same address, same bytes) and the
 * thread-local entry then matches by address: interned and plain calls for one topic share
 * its sticky partition, another interned name at another address is another topic, a
 * switch is followed, and a partitioner destroyed and made again starts afresh.
 */
START_TEST(test_interned_topic_matches_by_address_and_agrees_with_plain_calls)
{
    static const char t_interned[] = "t", u_interned[] = "u";
    char t_buf[8] = "t";
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 11), 0);
    int32_t pt = ktx__partitioner_partition_interned(part, t_interned, NULL, 0, 1000, NULL, 0);
    ck_assert_int_ge(pt, 0);
    ck_assert_int_eq(ktx__partitioner_partition_interned(part, t_interned, NULL, 0, 1000, NULL,
                                                         0), pt);
    ck_assert_int_eq(ktx__partitioner_partition(part, t_buf, NULL, 0, 1000, NULL, 0), pt);
    int32_t pu = ktx__partitioner_partition_interned(part, u_interned, NULL, 0, 1000, NULL, 0);
    ck_assert_int_eq(ktx__partitioner_partition(part, "u", NULL, 0, 1000, NULL, 0), pu);
    /* A plain call with a buffer rewritten to another name never reuses the entry. */
    ck_assert_int_eq(ktx__partitioner_partition_interned(part, t_interned, NULL, 0, 1000, NULL,
                                                         0), pt);
    strcpy(t_buf, "u");
    ck_assert_int_eq(ktx__partitioner_partition(part, t_buf, NULL, 0, 1000, NULL, 0), pu);
    /* A keyed record is hashed whatever the entry says. */
    ck_assert_int_eq(ktx__partitioner_partition_interned(part, t_interned, "k", 1, 1000, NULL,
                                                         0),
                     ktx__murmur2_partition("k", 1, 1000));
    ktx__partitioner_on_new_batch(part, t_interned, pt, 1000, NULL, 0);
    int32_t qt = ktx__partitioner_partition_interned(part, t_interned, NULL, 0, 1000, NULL, 0);
    ck_assert_int_ne(qt, pt);
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", NULL, 0, 1000, NULL, 0), qt);
    /* Fewer partitions than the sticky one: a new one below the count. */
    int32_t count = qt > 0 ? qt : 1;
    int32_t r = ktx__partitioner_partition_interned(part, t_interned, NULL, 0, count, NULL, 0);
    ck_assert_int_ge(r, 0);
    ck_assert_int_lt(r, count);
    ktx__partitioner_destroy(part);
    /* Another seed picks another first partition; the old entry must not answer. */
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 12), 0);
    int32_t p2 = ktx__partitioner_partition_interned(part, t_interned, NULL, 0, 1000, NULL, 0);
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", NULL, 0, 1000, NULL, 0), p2);
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_sticky_partition_switch_with_stale_previous_partition_is_ignored)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 9), 0);
    int32_t p = ktx__partitioner_partition(part, "t", NULL, 0, 8, NULL, 0);
    /* Another thread already switched away from |p| + 1: nothing changes. */
    ktx__partitioner_on_new_batch(part, "t", (p + 1) % 8, 8, NULL, 0);
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", NULL, 0, 8, NULL, 0), p);
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_sticky_partition_is_chosen_among_available_partitions)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 11), 0);
    const int32_t avail[] = {3, 5};
    int32_t p = ktx__partitioner_partition(part, "t", NULL, 0, 10, avail, 2);
    ck_assert(p == 3 || p == 5);
    for (int i = 0; i < 20; i++) {
        ktx__partitioner_on_new_batch(part, "t", p, 10, avail, 2);
        int32_t q = ktx__partitioner_partition(part, "t", NULL, 0, 10, avail, 2);
        ck_assert_int_eq(q, p == 3 ? 5 : 3);
        p = q;
    }
    /* With one available partition, the partitioner stays on it. */
    const int32_t one[] = {p};
    ktx__partitioner_on_new_batch(part, "t", p, 10, one, 1);
    ck_assert_int_eq(ktx__partitioner_partition(part, "t", NULL, 0, 10, one, 1), p);
    ktx__partitioner_destroy(part);
}
END_TEST

START_TEST(test_sticky_partitions_are_per_topic_and_survive_table_growth)
{
    struct ktx__partitioner *part;
    ck_assert_int_eq(ktx__partitioner_new(&part, false, 5), 0);
    int32_t first[100];
    char topic[32];
    for (int i = 0; i < 100; i++) {
        snprintf(topic, sizeof(topic), "topic-%d", i);
        first[i] = ktx__partitioner_partition(part, topic, NULL, 0, 1000, NULL, 0);
        ck_assert_int_ge(first[i], 0);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(topic, sizeof(topic), "topic-%d", i);
        ck_assert_int_eq(ktx__partitioner_partition(part, topic, NULL, 0, 1000, NULL, 0),
                         first[i]);
    }
    ktx__partitioner_destroy(part);
}
END_TEST

/* Shared by the threads of the concurrency test. */
struct sticky_ctx {
    struct ktx__partitioner *part;
    int bad;
};

static void *sticky_thread(void *arg)
{
    struct sticky_ctx *ctx = arg;
    static const char a[] = "a", b[] = "b";
    for (int i = 0; i < 2000; i++) {
        /* Interned names (as ktx_send() passes) mixed with plain ones. */
        int32_t p = (i & 2) ? ktx__partitioner_partition_interned(ctx->part, (i & 1) ? a : b,
                                                                  NULL, 0, 6, NULL, 0)
                            : ktx__partitioner_partition(ctx->part, (i & 1) ? "a" : "b",
                                                         NULL, 0, 6, NULL, 0);
        if (p < 0 || p >= 6)
            __atomic_add_fetch(&ctx->bad, 1, __ATOMIC_RELAXED);
        if (i % 10 == 0)
            ktx__partitioner_on_new_batch(ctx->part, (i & 1) ? "a" : "b", p, 6, NULL, 0);
    }
    return NULL;
}

START_TEST(test_partitioner_is_safe_from_concurrent_threads)
{
    struct sticky_ctx ctx = {0};
    ck_assert_int_eq(ktx__partitioner_new(&ctx.part, false, 0), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, sticky_thread, &ctx), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(ctx.bad, 0);
    ktx__partitioner_destroy(ctx.part);
}
END_TEST

static Suite *partitioner_suite(void)
{
    Suite *s = suite_create("partitioner");
    TCase *tc = tcase_create("murmur2");
    tcase_add_test(tc, test_murmur2_matches_kafka_utils_test_vectors);
    tcase_add_test(tc, test_murmur2_positive_matches_librdkafka_unit_test_vectors);
    tcase_add_test(tc, test_murmur2_of_empty_key_is_defined_and_tail_lengths_differ);
    tcase_add_test(tc, test_keyed_partition_matches_librdkafka_partitioner_test);
    tcase_add_test(tc, test_keyed_partition_matches_java_default_partitioner_for_1000_partitions);
    tcase_add_test(tc, test_keyed_partition_rejects_non_positive_partition_count);
    suite_add_tcase(s, tc);
    tc = tcase_create("sticky");
    tcase_add_test(tc, test_partitioner_hashes_keys_and_sticks_for_null_keys);
    tcase_add_test(tc, test_partitioner_ignore_keys_makes_keyed_records_sticky);
    tcase_add_test(tc, test_sticky_partition_switches_on_new_batch_to_a_different_partition);
    tcase_add_test(tc, test_sticky_partition_switch_with_stale_previous_partition_is_ignored);
    tcase_add_test(tc, test_sticky_partition_is_chosen_among_available_partitions);
    tcase_add_test(tc, test_sticky_partitions_are_per_topic_and_survive_table_growth);
    tcase_add_test(tc, test_interned_topic_matches_by_address_and_agrees_with_plain_calls);
    tcase_add_test(tc, test_partitioner_is_safe_from_concurrent_threads);
    tcase_add_test(tc, test_sticky_fast_path_is_per_partitioner_and_topic_and_follows_switches);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(partitioner_suite)
