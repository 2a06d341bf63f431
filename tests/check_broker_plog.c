/*
 * Unit tests for the reference broker's partition log (tests/broker/plog.c): offsets,
 * duplicates, the last stable offset, aborted transactions, ListOffsets and reloading.
 */
#include "check_util.h"

#include "broker/plog.h"

#include <string.h>

/* Appends a data batch to |log| and returns the append's error code. */
static int produce(struct kb_plog *log, int64_t pid, int16_t epoch, int32_t seq, int32_t count,
                   bool txn, struct kb_plog_append_result *res)
{
    struct kb_batch_spec spec = {pid, epoch, seq, count, txn, 1000 + seq, NULL};
    struct ktx__writer w;
    struct kb_plog_append_result local;
    int err;

    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_batch_write_data(&w, &spec), 0);
    err = kb_plog_append(log, w.p, w.len, res ? res : &local);
    ktx__w_free(&w);
    return err;
}

/* Parses every batch of a read and returns how many there were; checks their CRCs. */
static int count_batches(const struct kb_plog_read *rd, int64_t *first_base, int64_t *last_off)
{
    size_t pos = 0;
    int n = 0;
    while (pos < rd->len) {
        struct kb_batch_hdr h;
        ck_assert_int_eq(kb_batch_parse(rd->records + pos, rd->len - pos, &h), 0);
        if (n == 0 && first_base)
            *first_base = h.base_offset;
        if (last_off)
            *last_off = h.base_offset + h.last_offset_delta;
        pos += kb_batch_size(&h);
        n++;
    }
    return n;
}

START_TEST(test_plog_assigns_offsets_in_stored_copy_and_keeps_crc_valid)
{
    struct kb_plog log;
    struct kb_plog_append_result res;
    struct kb_plog_read rd;
    struct kb_batch_hdr h;

    kb_plog_init(&log, 0);
    log.leader_epoch = 7;
    ck_assert_int_eq(produce(&log, -1, -1, -1, 3, false, &res), 0);
    ck_assert_int_eq(res.base_offset, 0);
    ck_assert_int_eq(res.last_offset, 2);
    ck_assert_int_eq(produce(&log, -1, -1, -1, 2, false, &res), 0);
    ck_assert_int_eq(res.base_offset, 3);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 5);
    ck_assert_int_eq(kb_plog_read(&log, 3, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_int_eq(kb_batch_parse(rd.records, rd.len, &h), 0);
    ck_assert_int_eq(h.base_offset, 3);
    ck_assert_int_eq(h.partition_leader_epoch, 7);
    ck_assert_int_eq(h.records_count, 2);
    kb_plog_read_free(&rd);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_duplicate_retry_returns_original_offset_and_log_does_not_grow)
{
    struct kb_plog log;
    struct kb_plog_append_result res;
    size_t len;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 42, 0, 0, 2, false, &res), 0);
    ck_assert_int_eq(produce(&log, 42, 0, 2, 3, false, &res), 0);
    ck_assert_int_eq(res.base_offset, 2);
    len = log.len;
    ck_assert_int_eq(produce(&log, 42, 0, 0, 2, false, &res), 0);
    ck_assert(res.duplicate);
    ck_assert_int_eq(res.base_offset, 0);
    ck_assert_int_eq(res.last_offset, 1);
    ck_assert_uint_eq(log.len, len);
    ck_assert_uint_eq(log.n_entries, 2);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 5);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_sequence_gap_is_rejected_without_appending)
{
    struct kb_plog log;
    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 42, 0, 0, 2, false, NULL), 0);
    ck_assert_int_eq(produce(&log, 42, 0, 5, 1, false, NULL), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(produce(&log, 43, 0, 3, 1, false, NULL), KTX_ERR_UNKNOWN_PRODUCER_ID);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 2);
    ck_assert_uint_eq(log.n_entries, 1);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_rejects_bad_crc_control_batches_and_trailing_bytes)
{
    struct kb_plog log;
    struct kb_plog_append_result res;
    struct kb_batch_spec spec = {-1, -1, -1, 2, false, 5, NULL};
    struct ktx__writer w;

    kb_plog_init(&log, 0);
    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_batch_write_data(&w, &spec), 0);
    w.p[w.len - 1] ^= 1;
    ck_assert_int_eq(kb_plog_append(&log, w.p, w.len, &res), KTX_ERR_CORRUPT_MESSAGE);
    w.p[w.len - 1] ^= 1;
    ktx__w_i8(&w, 0);
    ck_assert_int_eq(kb_plog_append(&log, w.p, w.len, &res), KTX_ERR_CORRUPT_MESSAGE);
    ktx__w_reset(&w);
    ck_assert_int_eq(kb_batch_write_control(&w, 5, 0, true, 0, 1), 0);
    ck_assert_int_eq(kb_plog_append(&log, w.p, w.len, &res), KTX_ERR_INVALID_RECORD);
    ktx__w_reset(&w);
    ck_assert_int_eq(kb_batch_write_data(&w, &spec), 0);
    w.p[KB_BATCH_OFF_MAGIC] = 1;
    ck_assert_int_eq(kb_plog_append(&log, w.p, w.len, &res), KTX_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 0);
    ktx__w_free(&w);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_read_committed_stops_at_lso_until_commit_marker)
{
    struct kb_plog log;
    struct kb_plog_read rd;
    int64_t marker = -1, last = -1;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, -1, -1, -1, 2, false, NULL), 0);  /* 0..1 */
    ck_assert_int_eq(produce(&log, 9, 0, 0, 3, true, NULL), 0);     /* 2..4 open */
    ck_assert_int_eq(produce(&log, -1, -1, -1, 1, false, NULL), 0);  /* 5 */
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 2);
    ck_assert_int_eq(kb_plog_read(&log, 0, 1 << 20, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, NULL, &last), 1);
    ck_assert_int_eq(last, 1);
    ck_assert_int_eq(rd.last_stable_offset, 2);
    ck_assert_int_eq(rd.high_watermark, 6);
    kb_plog_read_free(&rd);
    /* Fetching at the LSO while the transaction is open returns nothing. */
    ck_assert_int_eq(kb_plog_read(&log, 2, 1 << 20, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_uint_eq(rd.len, 0);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_read(&log, 0, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, NULL, NULL), 3);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_write_marker(&log, 9, 0, true, 0, 2000, &marker), 0);
    ck_assert_int_eq(marker, 6);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 7);
    ck_assert_int_eq(kb_plog_read(&log, 2, 1 << 20, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, NULL, &last), 3);
    ck_assert_int_eq(last, 6);
    ck_assert_uint_eq(rd.n_aborted, 0);
    kb_plog_read_free(&rd);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_lso_is_first_offset_of_earliest_open_transaction)
{
    struct kb_plog log;
    int64_t marker;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 1, 0, 0, 2, true, NULL), 0); /* 0..1 */
    ck_assert_int_eq(produce(&log, 2, 0, 0, 2, true, NULL), 0); /* 2..3 */
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 0);
    ck_assert_int_eq(kb_plog_write_marker(&log, 1, 0, true, 0, 1, &marker), 0);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 2);
    ck_assert_int_eq(kb_plog_write_marker(&log, 2, 0, false, 0, 1, &marker), 0);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), kb_plog_high_watermark(&log));
    ck_assert_int_eq(kb_plog_high_watermark(&log), 6);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_read_committed_lists_aborted_transactions_in_range)
{
    struct kb_plog log;
    struct kb_plog_read rd;
    int64_t marker;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 7, 0, 0, 2, true, NULL), 0);  /* 0..1 */
    ck_assert_int_eq(produce(&log, 8, 0, 0, 1, true, NULL), 0);  /* 2 */
    ck_assert_int_eq(produce(&log, 7, 0, 2, 1, true, NULL), 0);  /* 3 */
    ck_assert_int_eq(kb_plog_write_marker(&log, 7, 0, false, 0, 1, &marker), 0);
    ck_assert_int_eq(marker, 4);
    ck_assert_int_eq(kb_plog_write_marker(&log, 8, 0, true, 0, 1, &marker), 0); /* 5 */
    ck_assert_int_eq(produce(&log, -1, -1, -1, 1, false, NULL), 0);             /* 6 */
    ck_assert_uint_eq(log.n_aborted, 1);
    ck_assert_int_eq(log.aborted[0].first_offset, 0);
    ck_assert_int_eq(log.aborted[0].last_offset, 4);

    ck_assert_int_eq(kb_plog_read(&log, 0, 1 << 20, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, NULL, NULL), 6);
    ck_assert_uint_eq(rd.n_aborted, 1);
    ck_assert_int_eq(rd.aborted[0].producer_id, 7);
    ck_assert_int_eq(rd.aborted[0].first_offset, 0);
    kb_plog_read_free(&rd);
    /* A range that ends before the transaction's marker still overlaps it. */
    ck_assert_int_eq(kb_plog_read(&log, 3, 1, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, NULL, NULL), 1);
    ck_assert_uint_eq(rd.n_aborted, 1);
    kb_plog_read_free(&rd);
    /* Past the abort marker nothing is listed; read_uncommitted never lists. */
    ck_assert_int_eq(kb_plog_read(&log, 5, 1 << 20, KB_ISOLATION_READ_COMMITTED, &rd), 0);
    ck_assert_uint_eq(rd.n_aborted, 0);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_read(&log, 0, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_uint_eq(rd.n_aborted, 0);
    kb_plog_read_free(&rd);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_read_returns_whole_batches_within_max_bytes_but_at_least_one)
{
    struct kb_plog log;
    struct kb_plog_read rd;
    int64_t first = -1;
    size_t one;

    kb_plog_init(&log, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(produce(&log, -1, -1, -1, 3, false, NULL), 0);
    one = log.entries[0].size;
    ck_assert_int_eq(kb_plog_read(&log, 4, 1, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, &first, NULL), 1);
    ck_assert_int_eq(first, 3);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_read(&log, 0, 2 * one + 1, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_int_eq(count_batches(&rd, &first, NULL), 2);
    ck_assert_uint_eq(rd.len, 2 * one);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_read(&log, 12, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd), 0);
    ck_assert_uint_eq(rd.len, 0);
    ck_assert_ptr_null(rd.records);
    kb_plog_read_free(&rd);
    ck_assert_int_eq(kb_plog_read(&log, 13, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd),
                     KTX_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(kb_plog_read(&log, -1, 1 << 20, KB_ISOLATION_READ_UNCOMMITTED, &rd),
                     KTX_ERR_OFFSET_OUT_OF_RANGE);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_list_offsets_earliest_latest_and_by_timestamp)
{
    struct kb_plog log;
    int64_t ts = 0;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(kb_plog_list_offset(&log, KB_OFFSET_LATEST, 0, NULL), 0);
    ck_assert_int_eq(produce(&log, -1, -1, 0, 2, false, NULL), 0);   /* ts 1000, 0..1 */
    ck_assert_int_eq(produce(&log, 3, 0, 0, 2, true, NULL), 0);      /* ts 1000, 2..3 */
    ck_assert_int_eq(produce(&log, -1, -1, 50, 1, false, NULL), 0);  /* ts 1050, 4 */
    ck_assert_int_eq(kb_plog_list_offset(&log, KB_OFFSET_EARLIEST, 0, &ts), 0);
    ck_assert_int_eq(ts, -1);
    ck_assert_int_eq(kb_plog_list_offset(&log, KB_OFFSET_LATEST, KB_ISOLATION_READ_UNCOMMITTED, NULL), 5);
    ck_assert_int_eq(kb_plog_list_offset(&log, KB_OFFSET_LATEST, KB_ISOLATION_READ_COMMITTED, NULL), 2);
    ck_assert_int_eq(kb_plog_list_offset(&log, 1001, 0, &ts), 4);
    ck_assert_int_eq(ts, 1050);
    ck_assert_int_eq(kb_plog_list_offset(&log, 5000, 0, &ts), -1);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_marker_with_stale_epoch_is_rejected)
{
    struct kb_plog log;
    int64_t marker = -5;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 3, 2, 0, 1, true, NULL), 0);
    ck_assert_int_eq(kb_plog_write_marker(&log, 3, 1, true, 0, 1, &marker), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(marker, -5);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 1);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 0);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_enforces_its_byte_ceiling)
{
    struct kb_plog log;
    kb_plog_init(&log, 200);
    ck_assert_int_eq(produce(&log, -1, -1, -1, 2, false, NULL), 0);
    ck_assert_int_eq(produce(&log, -1, -1, -1, 20, false, NULL), KTX_ERR_MESSAGE_TOO_LARGE);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 2);
    kb_plog_free(&log);
}
END_TEST

START_TEST(test_plog_reload_restores_offsets_transactions_and_producer_state)
{
    struct kb_plog log, copy;
    struct kb_plog_append_result res;
    int64_t marker;

    kb_plog_init(&log, 0);
    ck_assert_int_eq(produce(&log, 7, 0, 0, 2, true, NULL), 0);      /* 0..1 */
    ck_assert_int_eq(kb_plog_write_marker(&log, 7, 0, false, 0, 1, &marker), 0); /* 2 */
    ck_assert_int_eq(produce(&log, 8, 1, 0, 1, true, NULL), 0);      /* 3, open */
    ck_assert_int_eq(produce(&log, 9, 0, 0, 1, false, NULL), 0);     /* 4 */

    kb_plog_init(&copy, 0);
    ck_assert_int_eq(kb_plog_load(&copy, log.data, log.len), 0);
    ck_assert_int_eq(kb_plog_high_watermark(&copy), 5);
    ck_assert_int_eq(kb_plog_last_stable_offset(&copy), 3);
    ck_assert_uint_eq(copy.n_aborted, 1);
    ck_assert_int_eq(copy.aborted[0].producer_id, 7);
    ck_assert_int_eq(copy.aborted[0].first_offset, 0);
    ck_assert_int_eq(copy.aborted[0].last_offset, 2);
    ck_assert_uint_eq(copy.len, log.len);
    ck_assert_mem_eq(copy.data, log.data, log.len);
    /* Producer state came back: a retry is still a duplicate, a gap still an error. */
    ck_assert_int_eq(produce(&copy, 9, 0, 0, 1, false, &res), 0);
    ck_assert(res.duplicate);
    ck_assert_int_eq(res.base_offset, 4);
    ck_assert_int_eq(produce(&copy, 9, 0, 2, 1, false, NULL), KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    ck_assert_int_eq(produce(&copy, 7, 0, 2, 1, true, &res), 0);
    ck_assert_int_eq(res.base_offset, 5);
    /* A damaged log stops loading at the bad batch. */
    kb_plog_free(&copy);
    log.data[log.entries[1].pos + 30] ^= 0xFF;
    kb_plog_init(&copy, 0);
    ck_assert_int_eq(kb_plog_load(&copy, log.data, log.len), KTX_ERR_CORRUPT_MESSAGE);
    ck_assert_int_eq(kb_plog_high_watermark(&copy), 2);
    kb_plog_free(&copy);
    kb_plog_free(&log);
}
END_TEST

static Suite *broker_plog_suite(void)
{
    Suite *s = suite_create("broker_plog");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_plog_assigns_offsets_in_stored_copy_and_keeps_crc_valid);
    tcase_add_test(tc, test_plog_duplicate_retry_returns_original_offset_and_log_does_not_grow);
    tcase_add_test(tc, test_plog_sequence_gap_is_rejected_without_appending);
    tcase_add_test(tc, test_plog_rejects_bad_crc_control_batches_and_trailing_bytes);
    tcase_add_test(tc, test_plog_read_committed_stops_at_lso_until_commit_marker);
    tcase_add_test(tc, test_plog_lso_is_first_offset_of_earliest_open_transaction);
    tcase_add_test(tc, test_plog_read_committed_lists_aborted_transactions_in_range);
    tcase_add_test(tc, test_plog_read_returns_whole_batches_within_max_bytes_but_at_least_one);
    tcase_add_test(tc, test_plog_list_offsets_earliest_latest_and_by_timestamp);
    tcase_add_test(tc, test_plog_marker_with_stale_epoch_is_rejected);
    tcase_add_test(tc, test_plog_enforces_its_byte_ceiling);
    tcase_add_test(tc, test_plog_reload_restores_offsets_transactions_and_producer_state);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_plog_suite)
