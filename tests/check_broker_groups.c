/*
 * Unit tests for the reference broker's group offsets (tests/broker/groups.c): plain
 * commits, transactional offsets that appear only on commit, and require_stable.
 */
#include "check_util.h"

#include "broker/groups.h"
#include "broker/txncoord.h"

#include <stdlib.h>
#include <string.h>

static struct kb_offset_commit oc(const char *topic, int32_t partition, int64_t offset)
{
    struct kb_offset_commit c = {topic, partition, offset, 4, "meta"};
    return c;
}

/* The committed offset of the partition as a consumer would read it (-1 for none). */
static int64_t fetched(const struct kb_groups *groups, const char *group, const char *topic,
                       int32_t partition)
{
    const struct kb_offset *o;
    ck_assert_int_eq(kb_groups_fetch(groups, group, topic, partition, false, &o), 0);
    return o ? o->committed_offset : -1;
}

START_TEST(test_groups_commit_then_fetch_returns_latest_value)
{
    struct kb_groups groups;
    struct kb_offset_commit c = oc("t", 0, 5);
    const struct kb_offset *o;

    kb_groups_init(&groups);
    ck_assert_int_eq(fetched(&groups, "g", "t", 0), -1);
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 10), 0);
    c.committed_offset = 9;
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 11), 0);
    ck_assert_int_eq(kb_groups_fetch(&groups, "g", "t", 0, true, &o), 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->committed_offset, 9);
    ck_assert_int_eq(o->committed_leader_epoch, 4);
    ck_assert_str_eq(o->metadata, "meta");
    ck_assert_int_eq(o->commit_ms, 11);
    ck_assert_uint_eq(groups.n_committed, 1);
    ck_assert_int_eq(fetched(&groups, "other", "t", 0), -1);
    ck_assert_int_eq(fetched(&groups, "g", "t", 1), -1);
    kb_groups_free(&groups);
}
END_TEST

START_TEST(test_groups_txn_offsets_invisible_until_commit_and_unstable_meanwhile)
{
    struct kb_groups groups;
    struct kb_offset_commit c = oc("t", 0, 5);
    const struct kb_offset *o;

    kb_groups_init(&groups);
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 1), 0);
    c.committed_offset = 10;
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 77, 0, &c, 2), 0);
    ck_assert_int_eq(fetched(&groups, "g", "t", 0), 5);
    ck_assert_int_eq(kb_groups_fetch(&groups, "g", "t", 0, true, &o), KTX_ERR_UNSTABLE_OFFSET_COMMIT);
    ck_assert_ptr_null(o);
    /* Other partitions stay stable. */
    ck_assert_int_eq(kb_groups_fetch(&groups, "g", "t", 1, true, &o), 0);
    ck_assert_int_eq(kb_groups_txn_complete(&groups, "g", 77, true, 3), 1);
    ck_assert_int_eq(kb_groups_fetch(&groups, "g", "t", 0, true, &o), 0);
    ck_assert_int_eq(o->committed_offset, 10);
    ck_assert_int_eq(o->producer_id, -1);
    ck_assert_uint_eq(groups.n_pending, 0);
    ck_assert_uint_eq(groups.n_committed, 1);
    kb_groups_free(&groups);
}
END_TEST

START_TEST(test_groups_txn_offsets_discarded_on_abort)
{
    struct kb_groups groups;
    struct kb_offset_commit c = oc("t", 0, 5);

    kb_groups_init(&groups);
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 1), 0);
    c.committed_offset = 10;
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 77, 0, &c, 2), 0);
    c.partition = 1;
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 77, 0, &c, 2), 0);
    ck_assert_int_eq(kb_groups_txn_complete(&groups, "g", 77, false, 3), 2);
    ck_assert_int_eq(fetched(&groups, "g", "t", 0), 5);
    ck_assert_int_eq(fetched(&groups, "g", "t", 1), -1);
    ck_assert(!kb_groups_has_pending(&groups, "g", "t", 0));
    kb_groups_free(&groups);
}
END_TEST

START_TEST(test_groups_pending_offsets_are_kept_per_producer)
{
    struct kb_groups groups;
    struct kb_offset_commit a = oc("t", 0, 20), b = oc("t", 1, 30);

    kb_groups_init(&groups);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 1, 0, &a, 1), 0);
    a.committed_offset = 21; /* the same producer overwrites its own pending value */
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 1, 0, &a, 1), 0);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 2, 0, &b, 1), 0);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "h", 1, 0, &b, 1), 0);
    ck_assert_uint_eq(groups.n_pending, 3);
    ck_assert_int_eq(kb_groups_txn_complete(&groups, "g", 1, true, 2), 1);
    ck_assert_int_eq(fetched(&groups, "g", "t", 0), 21);
    ck_assert_int_eq(fetched(&groups, "g", "t", 1), -1);
    ck_assert(kb_groups_has_pending(&groups, "g", "t", 1));
    ck_assert(kb_groups_has_pending(&groups, "h", "t", 1));
    ck_assert_int_eq(kb_groups_txn_complete(&groups, "g", 2, true, 3), 1);
    ck_assert_int_eq(fetched(&groups, "g", "t", 1), 30);
    ck_assert_int_eq(fetched(&groups, "h", "t", 1), -1);
    kb_groups_free(&groups);
}
END_TEST

START_TEST(test_groups_rejects_stale_epoch_and_oversized_metadata)
{
    struct kb_groups groups;
    struct kb_offset_commit c = oc("t", 0, 1);
    char *big = malloc(KB_GROUPS_MAX_METADATA + 2);

    kb_groups_init(&groups);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 5, 3, &c, 1), 0);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 5, 2, &c, 1), KTX_ERR_INVALID_PRODUCER_EPOCH);
    memset(big, 'm', KB_GROUPS_MAX_METADATA + 1);
    big[KB_GROUPS_MAX_METADATA + 1] = '\0';
    c.metadata = big;
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 1), KTX_ERR_OFFSET_METADATA_TOO_LARGE);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", 5, 3, &c, 1), KTX_ERR_OFFSET_METADATA_TOO_LARGE);
    c.metadata = NULL;
    ck_assert_int_eq(kb_groups_commit(&groups, "g", &c, 1), 0);
    ck_assert_ptr_null(groups.committed[0].metadata);
    free(big);
    kb_groups_free(&groups);
}
END_TEST

START_TEST(test_groups_end_txn_markers_name_the_groups_to_resolve)
{
    struct kb_txncoord coord;
    struct kb_groups groups;
    struct kb_init_pid_result init;
    struct kb_end_txn_result end;
    struct kb_offset_commit c = oc("in", 2, 42);

    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, "tx", 60000, -1, -1, 0, &init), 0);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, "tx", init.producer_id, 0, "g", 1), 0);
    ck_assert_int_eq(kb_groups_txn_commit(&groups, "g", init.producer_id, 0, &c, 2), 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, "tx", init.producer_id, 0, true, 3, &end), 0);
    ck_assert_uint_eq(end.markers.n_groups, 1);
    for (size_t i = 0; i < end.markers.n_groups; i++)
        ck_assert_int_eq(kb_groups_txn_complete(&groups, end.markers.groups[i],
                                                end.markers.producer_id, end.markers.commit, 4),
                         1);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(fetched(&groups, "g", "in", 2), 42);
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
}
END_TEST

static Suite *broker_groups_suite(void)
{
    Suite *s = suite_create("broker_groups");
    TCase *tc = tcase_create("offsets");
    tcase_add_test(tc, test_groups_commit_then_fetch_returns_latest_value);
    tcase_add_test(tc, test_groups_txn_offsets_invisible_until_commit_and_unstable_meanwhile);
    tcase_add_test(tc, test_groups_txn_offsets_discarded_on_abort);
    tcase_add_test(tc, test_groups_pending_offsets_are_kept_per_producer);
    tcase_add_test(tc, test_groups_rejects_stale_epoch_and_oversized_metadata);
    tcase_add_test(tc, test_groups_end_txn_markers_name_the_groups_to_resolve);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_groups_suite)
