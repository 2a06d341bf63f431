/*
 * Unit tests for the reference broker's persistence (tests/broker/persist.c): the
 * coordinator/group snapshot round trip, rejecting damaged snapshots, and a whole
 * data directory surviving a restart.
 */
#include "check_util.h"

#include "broker/persist.h"
#include "broker/plog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Builds a coordinator with transactions in Ongoing, PrepareCommit and CompleteAbort. */
static void build_state(struct kb_txncoord *coord, struct kb_groups *groups)
{
    struct kb_init_pid_result init;
    struct kb_end_txn_result end;
    struct kb_tp tps[2] = {{"orders", 0}, {"orders", 3}};
    struct kb_offset_commit c = {"in", 1, 77, 2, NULL};
    const char *ids[3] = {"ongoing", "preparing", "aborted"};
    int64_t pid[3];

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kb_txncoord_init_producer_id(coord, ids[i], 30000, -1, -1, 10, &init), 0);
        pid[i] = init.producer_id;
        ck_assert_int_eq(kb_txncoord_add_partitions(coord, ids[i], pid[i], 0, tps, 2, 20 + i), 0);
    }
    ck_assert_int_eq(kb_txncoord_add_offsets(coord, "ongoing", pid[0], 0, "g", 25), 0);
    ck_assert_int_eq(kb_txncoord_end_txn(coord, "preparing", pid[1], 0, true, 30, &end), 0);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_txncoord_end_txn(coord, "aborted", pid[2], 0, false, 30, &end), 0);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_txncoord_markers_written(coord, "aborted", 31), 0);
    ck_assert_int_eq(kb_groups_commit(groups, "g", &c, 40), 0);
    c.committed_offset = 90;
    c.metadata = "m";
    ck_assert_int_eq(kb_groups_txn_commit(groups, "g", pid[0], 0, &c, 41), 0);
}

START_TEST(test_persist_snapshot_roundtrips_coordinator_and_groups)
{
    struct kb_txncoord coord, copy;
    struct kb_groups groups, gcopy;
    struct ktx__writer w, w2;
    struct kb_txn_markers *work;
    struct kb_init_pid_result init;
    const struct kb_txn *txn;
    const struct kb_offset *o;
    size_t n;

    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    build_state(&coord, &groups);
    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_persist_state_encode(&w, &coord, &groups), 0);

    kb_txncoord_init(&copy, NULL);
    kb_groups_init(&gcopy);
    ck_assert_int_eq(kb_persist_state_decode(w.p, w.len, &copy, &gcopy), 0);
    ck_assert_int_eq(copy.conf.coordinator_epoch, 1);
    txn = kb_txncoord_find(&copy, "ongoing");
    ck_assert_int_eq(txn->state, KB_TXN_ONGOING);
    ck_assert_int_eq(txn->start_ms, 20);
    ck_assert_int_eq(txn->timeout_ms, 30000);
    ck_assert_uint_eq(txn->n_partitions, 2);
    ck_assert_str_eq(txn->partitions[1].topic, "orders");
    ck_assert_int_eq(txn->partitions[1].partition, 3);
    ck_assert_str_eq(txn->groups[0], "g");
    ck_assert_int_eq(kb_txncoord_find(&copy, "preparing")->state, KB_TXN_PREPARE_COMMIT);
    ck_assert_int_eq(kb_txncoord_find(&copy, "aborted")->state, KB_TXN_COMPLETE_ABORT);
    ck_assert_int_eq(kb_groups_fetch(&gcopy, "g", "in", 1, false, &o), 0);
    ck_assert_int_eq(o->committed_offset, 77);
    ck_assert_int_eq(kb_groups_fetch(&gcopy, "g", "in", 1, true, &o), KTX_ERR_UNSTABLE_OFFSET_COMMIT);

    /* Apart from the coordinator epoch, saving again gives the same bytes. */
    copy.conf.coordinator_epoch--;
    ktx__w_init(&w2, 256, 0);
    ck_assert_int_eq(kb_persist_state_encode(&w2, &copy, &gcopy), 0);
    ck_assert_uint_eq(w2.len, w.len);
    ck_assert_mem_eq(w2.p, w.p, w.len);

    /* The prepared commit's markers are owed again; new ids do not collide. */
    ck_assert_int_eq(kb_txncoord_pending_markers(&copy, &work, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert(work[0].commit);
    ck_assert_str_eq(work[0].transactional_id, "preparing");
    ck_assert_uint_eq(work[0].n_partitions, 2);
    kb_txn_markers_free(&work[0]);
    free(work);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&copy, NULL, 0, -1, -1, 50, &init), 0);
    ck_assert_int_eq(init.producer_id, coord.next_producer_id);

    ktx__w_free(&w);
    ktx__w_free(&w2);
    kb_groups_free(&gcopy);
    kb_txncoord_free(&copy);
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_persist_rejects_truncated_and_foreign_snapshots)
{
    struct kb_txncoord coord;
    struct kb_groups groups;
    struct ktx__writer w;

    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    build_state(&coord, &groups);
    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_persist_state_encode(&w, &coord, &groups), 0);
    for (size_t len = 0; len < w.len; len++) {
        struct kb_txncoord c2;
        struct kb_groups g2;
        kb_txncoord_init(&c2, NULL);
        kb_groups_init(&g2);
        ck_assert_int_eq(kb_persist_state_decode(w.p, len, &c2, &g2), KTX_ERR_BAD_MSG);
        kb_groups_free(&g2);
        kb_txncoord_free(&c2);
    }
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    w.p[5] = 9; /* version */
    ck_assert_int_eq(kb_persist_state_decode(w.p, w.len, &coord, &groups), KTX_ERR_UNSUPPORTED);
    w.p[0] ^= 0xFF; /* magic */
    ck_assert_int_eq(kb_persist_state_decode(w.p, w.len, &coord, &groups), KTX_ERR_BAD_MSG);
    ck_assert_uint_eq(coord.n_txns, 0);
    ktx__w_free(&w);
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
}
END_TEST

/* Appends a transactional batch to |log| and to its file. */
static void produce_persisted(struct kb_plog *log, const char *path, int64_t pid, int32_t seq)
{
    struct kb_batch_spec spec = {pid, 0, seq, 2, true, 100, NULL};
    struct kb_plog_append_result res;
    struct ktx__writer w;
    const struct kb_plog_entry *e;

    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_batch_write_data(&w, &spec), 0);
    ck_assert_int_eq(kb_plog_append(log, w.p, w.len, &res), 0);
    ktx__w_free(&w);
    e = &log->entries[log->n_entries - 1];
    ck_assert_int_eq(kb_persist_append_file(path, log->data + e->pos, e->size), 0);
}

/* Writes the markers of |m| to |log| and to its file. */
static void write_markers_persisted(struct kb_plog *log, const char *path,
                                    const struct kb_txn_markers *m)
{
    const struct kb_plog_entry *e;
    int64_t offset;

    ck_assert_int_eq(kb_plog_write_marker(log, m->producer_id, m->producer_epoch, m->commit,
                                          m->coordinator_epoch, 200, &offset), 0);
    e = &log->entries[log->n_entries - 1];
    ck_assert_int_eq(kb_persist_append_file(path, log->data + e->pos, e->size), 0);
}

START_TEST(test_persist_data_dir_survives_restart)
{
    char dir[] = "/tmp/ktx-broker-persist-XXXXXX";
    char log_path[256], snap_path[256];
    struct kb_txncoord coord;
    struct kb_groups groups;
    struct kb_plog log;
    struct kb_init_pid_result init;
    struct kb_end_txn_result end;
    struct kb_tp tp = {"t", 0};
    struct ktx__writer w;
    uint8_t *bytes;
    size_t len;
    int64_t pid;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(log_path, sizeof(log_path), "%s/t-0.log", dir);
    snprintf(snap_path, sizeof(snap_path), "%s/state.snap", dir);
    ck_assert_int_eq(kb_persist_read_file(log_path, &bytes, &len), 0);
    ck_assert_ptr_null(bytes);
    ck_assert_uint_eq(len, 0);

    /* First life: one aborted transaction, then one left open. */
    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    kb_plog_init(&log, 0);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, "tx", 60000, -1, -1, 0, &init), 0);
    pid = init.producer_id;
    ck_assert_int_eq(kb_txncoord_add_partitions(&coord, "tx", pid, 0, &tp, 1, 1), 0);
    produce_persisted(&log, log_path, pid, 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, "tx", pid, 0, false, 2, &end), 0);
    write_markers_persisted(&log, log_path, &end.markers);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, "tx", 3), 0);
    ck_assert_int_eq(kb_txncoord_add_partitions(&coord, "tx", pid, 0, &tp, 1, 4), 0);
    produce_persisted(&log, log_path, pid, 2);
    ktx__w_init(&w, 256, 0);
    ck_assert_int_eq(kb_persist_state_encode(&w, &coord, &groups), 0);
    ck_assert_int_eq(kb_persist_write_file(snap_path, w.p, w.len), 0);
    ktx__w_free(&w);
    kb_plog_free(&log);
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);

    /* Second life. */
    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    kb_plog_init(&log, 0);
    ck_assert_int_eq(kb_persist_read_file(snap_path, &bytes, &len), 0);
    ck_assert_int_eq(kb_persist_state_decode(bytes, len, &coord, &groups), 0);
    free(bytes);
    ck_assert_int_eq(kb_persist_read_file(log_path, &bytes, &len), 0);
    ck_assert_int_eq(kb_plog_load(&log, bytes, len), 0);
    free(bytes);
    ck_assert_int_eq(kb_plog_high_watermark(&log), 5);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 3);
    ck_assert_uint_eq(log.n_aborted, 1);
    ck_assert_int_eq(kb_txncoord_find(&coord, "tx")->state, KB_TXN_ONGOING);
    /* The open transaction can be committed after the restart. */
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, "tx", pid, 0, true, 10, &end), 0);
    write_markers_persisted(&log, log_path, &end.markers);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 6);
    kb_plog_free(&log);
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
    ck_assert_int_eq(unlink(log_path), 0);
    ck_assert_int_eq(unlink(snap_path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *broker_persist_suite(void)
{
    Suite *s = suite_create("broker_persist");
    TCase *tc = tcase_create("persist");
    tcase_add_test(tc, test_persist_snapshot_roundtrips_coordinator_and_groups);
    tcase_add_test(tc, test_persist_rejects_truncated_and_foreign_snapshots);
    tcase_add_test(tc, test_persist_data_dir_survives_restart);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_persist_suite)
