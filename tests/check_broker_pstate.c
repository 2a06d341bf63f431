/*
 * Unit tests for the reference broker's producer state (tests/broker/pstate.c): the
 * sequence, epoch and transaction rules Kafka applies to idempotent producers.
 */
#include "check_util.h"

#include "broker/pstate.h"

#include <string.h>

/* A header for a batch of |count| records from |pid|/|epoch| starting at |seq|. */
static struct kb_batch_hdr hdr_of(int64_t pid, int16_t epoch, int32_t seq, int32_t count, bool txn)
{
    struct kb_batch_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = 2;
    h.producer_id = pid;
    h.producer_epoch = epoch;
    h.base_sequence = seq;
    h.records_count = count;
    h.last_offset_delta = count - 1;
    h.attributes = txn ? KB_BATCH_ATTR_TRANSACTIONAL : 0;
    return h;
}

/* Checks and appends |h| at |offset|; returns the check's verdict. */
static int append(struct kb_pstate *ps, struct kb_batch_hdr h, int64_t offset)
{
    int64_t b = -1, l = -1;
    int err = kb_pstate_check_append(ps, &h, &b, &l);
    if (err == 0)
        ck_assert_int_eq(kb_pstate_on_append(ps, &h, offset), 0);
    return err;
}

START_TEST(test_pstate_new_producer_must_start_at_sequence_zero)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(1000, 0, 5, 1, false), 0), KTX_ERR_UNKNOWN_PRODUCER_ID);
    ck_assert_ptr_null(kb_pstate_find(&ps, 1000));
    ck_assert_int_eq(append(&ps, hdr_of(1000, 0, 0, 3, false), 0), 0);
    ck_assert_int_eq(kb_pstate_find(&ps, 1000)->last_seq, 2);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_retry_in_window_is_duplicate_with_original_offsets)
{
    struct kb_pstate ps;
    struct kb_batch_hdr retry = hdr_of(7, 1, 3, 2, false);
    int64_t base = -1, last = -1;

    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(7, 1, 0, 3, false), 100), 0);
    ck_assert_int_eq(append(&ps, hdr_of(7, 1, 3, 2, false), 103), 0);
    ck_assert_int_eq(append(&ps, hdr_of(7, 1, 5, 1, false), 105), 0);
    ck_assert_int_eq(kb_pstate_check_append(&ps, &retry, &base, &last), KB_PSTATE_DUPLICATE);
    ck_assert_int_eq(base, 103);
    ck_assert_int_eq(last, 104);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_retry_older_than_five_batches_is_out_of_order)
{
    struct kb_pstate ps;
    struct kb_batch_hdr old = hdr_of(7, 0, 0, 1, false);
    struct kb_batch_hdr recent = hdr_of(7, 0, 1, 1, false);
    int64_t base = -1, last = -1;

    kb_pstate_init(&ps);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(append(&ps, hdr_of(7, 0, i, 1, false), i), 0);
    ck_assert_int_eq(kb_pstate_check_append(&ps, &old, &base, &last),
                     KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(kb_pstate_check_append(&ps, &recent, &base, &last), KB_PSTATE_DUPLICATE);
    ck_assert_int_eq(base, 1);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_sequence_gap_is_out_of_order)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 0, 2, false), 0), 0);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 3, 1, false), 2), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 1, 2, false), 2), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 2, 1, false), 2), 0);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_stale_epoch_is_invalid_producer_epoch)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(7, 3, 0, 1, false), 0), 0);
    ck_assert_int_eq(append(&ps, hdr_of(7, 2, 1, 1, false), 1), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(kb_pstate_find(&ps, 7)->producer_epoch, 3);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_newer_epoch_restarts_sequence_at_zero)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 0, 10, false), 0), 0);
    ck_assert_int_eq(append(&ps, hdr_of(7, 1, 10, 1, false), 10), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(append(&ps, hdr_of(7, 1, 0, 1, false), 10), 0);
    ck_assert_int_eq(kb_pstate_find(&ps, 7)->producer_epoch, 1);
    ck_assert_int_eq(kb_pstate_find(&ps, 7)->n_window, 1);
    /* The old epoch is now stale. */
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 10, 1, false), 11), KTX_ERR_INVALID_PRODUCER_EPOCH);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_sequence_wraps_to_zero_after_int32_max)
{
    struct kb_pstate ps;
    struct kb_batch_hdr wrap = hdr_of(7, 0, INT32_MAX - 1, 4, false);
    int64_t base = -1, last = -1;

    ck_assert_int_eq(kb_batch_last_sequence(&wrap), 1);
    kb_pstate_init(&ps);
    /* Build a known producer whose last sequence is INT32_MAX - 2. */
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 0, 1, false), 0), 0);
    ps.producers[0].last_seq = INT32_MAX - 2;
    ck_assert_int_eq(append(&ps, wrap, 1), 0);
    ck_assert_int_eq(kb_pstate_find(&ps, 7)->last_seq, 1);
    ck_assert_int_eq(kb_pstate_check_append(&ps, &wrap, &base, &last), KB_PSTATE_DUPLICATE);
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 2, 1, false), 5), 0);
    /* A batch ending exactly at INT32_MAX is followed by sequence 0. */
    ps.producers[0].last_seq = INT32_MAX;
    ck_assert_int_eq(append(&ps, hdr_of(7, 0, 0, 2, false), 6), 0);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_tracks_first_offset_of_open_transaction)
{
    struct kb_pstate ps;
    int64_t first = 0;

    kb_pstate_init(&ps);
    ck_assert_int_eq(kb_pstate_first_unstable_offset(&ps), -1);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 0, 2, true), 40), 0);
    ck_assert_int_eq(append(&ps, hdr_of(9, 0, 0, 2, true), 42), 0);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 2, 2, true), 44), 0);
    ck_assert_int_eq(kb_pstate_first_unstable_offset(&ps), 40);
    ck_assert_int_eq(kb_pstate_on_marker(&ps, 8, 0, 3, &first), 0);
    ck_assert_int_eq(first, 40);
    ck_assert_int_eq(kb_pstate_first_unstable_offset(&ps), 42);
    ck_assert_int_eq(kb_pstate_on_marker(&ps, 9, 0, 3, &first), 0);
    ck_assert_int_eq(first, 42);
    ck_assert_int_eq(kb_pstate_first_unstable_offset(&ps), -1);
    /* Same epoch after a commit: the sequence continues. */
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 4, 1, true), 50), 0);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_plain_batch_during_open_transaction_is_invalid_txn_state)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 0, 1, true), 0), 0);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 1, 1, false), 1), KTX_ERR_INVALID_TXN_STATE);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_marker_with_older_epoch_is_rejected)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(8, 4, 0, 1, true), 0), 0);
    ck_assert_int_eq(kb_pstate_check_marker(&ps, 8, 3), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(kb_pstate_check_marker(&ps, 8, 4), 0);
    ck_assert_int_eq(kb_pstate_check_marker(&ps, 8, 5), 0);
    ck_assert_int_eq(kb_pstate_check_marker(&ps, 99, 0), 0);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_marker_with_bumped_epoch_fences_old_epoch)
{
    struct kb_pstate ps;
    int64_t first = 0;

    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 0, 3, true), 0), 0);
    ck_assert_int_eq(kb_pstate_on_marker(&ps, 8, 1, 0, &first), 0);
    ck_assert_int_eq(first, 0);
    ck_assert_int_eq(append(&ps, hdr_of(8, 0, 3, 1, true), 4), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(append(&ps, hdr_of(8, 1, 3, 1, true), 4), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(append(&ps, hdr_of(8, 1, 0, 1, true), 4), 0);
    kb_pstate_free(&ps);
}
END_TEST

START_TEST(test_pstate_plain_producer_is_not_checked)
{
    struct kb_pstate ps;
    kb_pstate_init(&ps);
    ck_assert_int_eq(append(&ps, hdr_of(-1, -1, -1, 1, false), 0), 0);
    ck_assert_int_eq(append(&ps, hdr_of(-1, -1, -1, 1, false), 1), 0);
    ck_assert_uint_eq(ps.n, 0);
    kb_pstate_free(&ps);
}
END_TEST

static Suite *broker_pstate_suite(void)
{
    Suite *s = suite_create("broker_pstate");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_pstate_new_producer_must_start_at_sequence_zero);
    tcase_add_test(tc, test_pstate_retry_in_window_is_duplicate_with_original_offsets);
    tcase_add_test(tc, test_pstate_retry_older_than_five_batches_is_out_of_order);
    tcase_add_test(tc, test_pstate_sequence_gap_is_out_of_order);
    tcase_add_test(tc, test_pstate_stale_epoch_is_invalid_producer_epoch);
    tcase_add_test(tc, test_pstate_newer_epoch_restarts_sequence_at_zero);
    tcase_add_test(tc, test_pstate_sequence_wraps_to_zero_after_int32_max);
    tcase_add_test(tc, test_pstate_tracks_first_offset_of_open_transaction);
    tcase_add_test(tc, test_pstate_plain_batch_during_open_transaction_is_invalid_txn_state);
    tcase_add_test(tc, test_pstate_marker_with_older_epoch_is_rejected);
    tcase_add_test(tc, test_pstate_marker_with_bumped_epoch_fences_old_epoch);
    tcase_add_test(tc, test_pstate_plain_producer_is_not_checked);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_pstate_suite)
