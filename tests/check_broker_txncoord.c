/*
 * Unit tests for the reference broker's transaction coordinator (tests/broker/txncoord.c):
 * Kafka's states and transitions, fencing, two-phase completion, timeouts, KIP-360 and
 * KIP-890 (v2) behaviour.
 */
#include "check_util.h"

#include "broker/plog.h"
#include "broker/txncoord.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#define TXN "txn-a"

static struct kb_tp tp_of(const char *topic, int32_t partition)
{
    struct kb_tp tp = {(char *)topic, partition};
    return tp;
}

/* InitProducerId without KIP-360 fields; asserts success and returns the epoch. */
static int16_t init_ok(struct kb_txncoord *coord, int64_t now, int64_t *pid)
{
    struct kb_init_pid_result res;
    ck_assert_int_eq(kb_txncoord_init_producer_id(coord, TXN, 60000, -1, -1, now, &res), 0);
    ck_assert_uint_eq(res.markers.n_partitions, 0);
    kb_txn_markers_free(&res.markers);
    if (pid)
        *pid = res.producer_id;
    return res.producer_epoch;
}

static int add_tp(struct kb_txncoord *coord, int64_t pid, int16_t epoch, const char *topic,
                  int32_t partition, int64_t now)
{
    struct kb_tp tp = tp_of(topic, partition);
    return kb_txncoord_add_partitions(coord, TXN, pid, epoch, &tp, 1, now);
}

static enum kb_txn_state state_of(const struct kb_txncoord *coord)
{
    return kb_txncoord_find(coord, TXN)->state;
}

START_TEST(test_txncoord_transition_table_matches_kafka)
{
    ck_assert(kb_txn_transition_valid(KB_TXN_EMPTY, KB_TXN_ONGOING));
    ck_assert(kb_txn_transition_valid(KB_TXN_COMPLETE_ABORT, KB_TXN_ONGOING));
    ck_assert(kb_txn_transition_valid(KB_TXN_ONGOING, KB_TXN_PREPARE_COMMIT));
    ck_assert(kb_txn_transition_valid(KB_TXN_PREPARE_EPOCH_FENCE, KB_TXN_PREPARE_ABORT));
    ck_assert(kb_txn_transition_valid(KB_TXN_PREPARE_COMMIT, KB_TXN_COMPLETE_COMMIT));
    ck_assert(!kb_txn_transition_valid(KB_TXN_EMPTY, KB_TXN_PREPARE_COMMIT));
    ck_assert(!kb_txn_transition_valid(KB_TXN_PREPARE_COMMIT, KB_TXN_COMPLETE_ABORT));
    ck_assert(!kb_txn_transition_valid(KB_TXN_PREPARE_EPOCH_FENCE, KB_TXN_PREPARE_COMMIT));
    ck_assert(!kb_txn_transition_valid(KB_TXN_ONGOING, KB_TXN_EMPTY));
    ck_assert(!kb_txn_transition_valid(KB_TXN_DEAD, KB_TXN_EMPTY));
    ck_assert_str_eq(kb_txn_state_name(KB_TXN_PREPARE_EPOCH_FENCE), "PrepareEpochFence");
    ck_assert_str_eq(kb_txn_state_name(KB_TXN_COMPLETE_COMMIT), "CompleteCommit");
}
END_TEST

START_TEST(test_txncoord_init_hands_out_new_ids_with_epoch_zero)
{
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    int64_t pid = -1;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, NULL, 0, -1, -1, 0, &res), 0);
    ck_assert_int_eq(res.producer_id, 1000);
    ck_assert_int_eq(res.producer_epoch, 0);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(pid, 1001);
    ck_assert_int_eq(state_of(&coord), KB_TXN_EMPTY);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, "other", 900001, -1, -1, 0, &res),
                     KTX_ERR_INVALID_TRANSACTION_TIMEOUT);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, "other", 0, -1, -1, 0, &res),
                     KTX_ERR_INVALID_TRANSACTION_TIMEOUT);
    ck_assert_ptr_null(kb_txncoord_find(&coord, "other"));
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_reinit_bumps_epoch_and_fences_the_old_one)
{
    struct kb_txncoord coord;
    int64_t pid, pid2;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(init_ok(&coord, 1, &pid2), 1);
    ck_assert_int_eq(pid2, pid);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 2), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txn_error_for_version(KTX__API_ADD_PARTITIONS_TO_TXN, 1,
                                              KTX_ERR_PRODUCER_FENCED),
                     KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(kb_txn_error_for_version(KTX__API_ADD_PARTITIONS_TO_TXN, 2,
                                              KTX_ERR_PRODUCER_FENCED),
                     KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txn_error_for_version(KTX__API_INIT_PRODUCER_ID, 3,
                                              KTX_ERR_PRODUCER_FENCED),
                     KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(add_tp(&coord, pid, 1, "t", 0, 2), 0);
    kb_txncoord_free(&coord);
}
END_TEST

/* Appends one transactional batch to |log| and returns the error. */
static int produce_txn(struct kb_plog *log, int64_t pid, int16_t epoch, int32_t seq)
{
    struct kb_batch_spec spec = {pid, epoch, seq, 1, true, 5, NULL};
    struct kb_plog_append_result res;
    struct ktx__writer w;
    int err;

    ktx__w_init(&w, 128, 0);
    ck_assert_int_eq(kb_batch_write_data(&w, &spec), 0);
    err = kb_plog_append(log, w.p, w.len, &res);
    ktx__w_free(&w);
    return err;
}

START_TEST(test_txncoord_second_init_aborts_open_transaction_and_fences_old_producer)
{
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    struct kb_end_txn_result end;
    struct kb_plog log;
    int64_t pid, marker;

    kb_txncoord_init(&coord, NULL);
    kb_plog_init(&log, 0);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 10), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 1, 10), 0);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, TXN, pid, 0, "g1", 10), 0);
    ck_assert_int_eq(produce_txn(&log, pid, 0, 0), 0);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 0);

    /* A second producer with the same transactional id. */
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, -1, -1, 20, &res),
                     KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert(!res.markers.commit);
    ck_assert_int_eq(res.markers.producer_id, pid);
    ck_assert_int_eq(res.markers.producer_epoch, 1);
    ck_assert_uint_eq(res.markers.n_partitions, 2);
    ck_assert_str_eq(res.markers.partitions[1].topic, "t");
    ck_assert_int_eq(res.markers.partitions[1].partition, 1);
    ck_assert_uint_eq(res.markers.n_groups, 1);
    ck_assert_str_eq(res.markers.groups[0], "g1");
    ck_assert_int_eq(state_of(&coord), KB_TXN_PREPARE_ABORT);
    ck_assert_int_eq(kb_plog_write_marker(&log, pid, res.markers.producer_epoch, false,
                                          res.markers.coordinator_epoch, 21, &marker), 0);
    kb_txn_markers_free(&res.markers);

    /* The old producer is fenced everywhere. */
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 2, 22), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 22, &end), KTX_ERR_PRODUCER_FENCED);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(produce_txn(&log, pid, 0, 1), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_uint_eq(log.n_aborted, 1);
    ck_assert_int_eq(kb_plog_last_stable_offset(&log), 2);

    /* The new producer retries until the abort has completed. */
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, -1, -1, 23, &res),
                     KTX_ERR_CONCURRENT_TRANSACTIONS);
    kb_txn_markers_free(&res.markers);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 24), 0);
    ck_assert_int_eq(state_of(&coord), KB_TXN_COMPLETE_ABORT);
    ck_assert_int_eq(init_ok(&coord, 25, NULL), 2);
    kb_plog_free(&log);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_commit_is_two_phase_with_concurrent_transactions_between)
{
    struct kb_txncoord_conf conf = {.complete_delay_ms = 100, .coordinator_epoch = 3};
    struct kb_txncoord coord;
    struct kb_end_txn_result end;
    struct kb_init_pid_result res;
    int64_t pid;

    kb_txncoord_init(&coord, &conf);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 10), 0);
    ck_assert_int_eq(state_of(&coord), KB_TXN_ONGOING);
    ck_assert_int_eq(kb_txncoord_find(&coord, TXN)->start_ms, 10);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 50, &end), 0);
    ck_assert(end.markers.commit);
    ck_assert_int_eq(end.markers.coordinator_epoch, 3);
    ck_assert_int_eq(end.markers.producer_epoch, 0);
    ck_assert_uint_eq(end.markers.n_partitions, 1);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(state_of(&coord), KB_TXN_PREPARE_COMMIT);

    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 1, 51), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, TXN, pid, 0, "g", 51), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 51, &end), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, false, 51, &end), KTX_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, -1, -1, 51, &res),
                     KTX_ERR_CONCURRENT_TRANSACTIONS);
    kb_txn_markers_free(&res.markers);

    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 60), 0);
    ck_assert_uint_eq(kb_txncoord_complete_due(&coord, 159), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 1, 159), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_uint_eq(kb_txncoord_complete_due(&coord, 160), 1);
    ck_assert_int_eq(state_of(&coord), KB_TXN_COMPLETE_COMMIT);
    ck_assert_uint_eq(kb_txncoord_find(&coord, TXN)->n_partitions, 0);

    /* A retried commit succeeds with nothing to do; an abort now is illegal. */
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 170, &end), 0);
    ck_assert_uint_eq(end.markers.n_partitions, 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, false, 170, &end), KTX_ERR_INVALID_TXN_STATE);
    /* The next transaction starts afresh. */
    ck_assert_int_eq(add_tp(&coord, pid, 0, "u", 4, 200), 0);
    ck_assert_int_eq(kb_txncoord_find(&coord, TXN)->start_ms, 200);
    ck_assert_uint_eq(kb_txncoord_find(&coord, TXN)->n_partitions, 1);
    ck_assert_str_eq(kb_txncoord_find(&coord, TXN)->partitions[0].topic, "u");
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_end_txn_without_transaction_is_invalid_txn_state)
{
    struct kb_txncoord coord;
    struct kb_end_txn_result end;
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 1, &end), KTX_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, false, 1, &end), KTX_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(state_of(&coord), KB_TXN_EMPTY);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_unknown_id_or_other_producer_id_is_invalid_mapping)
{
    struct kb_txncoord coord;
    struct kb_end_txn_result end;
    struct kb_tp tp = tp_of("t", 0);
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(kb_txncoord_add_partitions(&coord, "nope", 1, 0, &tp, 1, 0),
                     KTX_ERR_INVALID_PRODUCER_ID_MAPPING);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid + 7, 0, "t", 0, 1), KTX_ERR_INVALID_PRODUCER_ID_MAPPING);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, TXN, pid + 7, 0, "g", 1),
                     KTX_ERR_INVALID_PRODUCER_ID_MAPPING);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid + 7, 0, true, 1, &end),
                     KTX_ERR_INVALID_PRODUCER_ID_MAPPING);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_timeout_aborts_with_bumped_epoch_and_late_commit_fails)
{
    struct kb_txncoord coord;
    struct kb_txn_markers *work;
    struct kb_init_pid_result res;
    struct kb_end_txn_result end;
    size_t n;
    int64_t pid;
    int err;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 1000, -1, -1, 0, &res), 0);
    pid = res.producer_id;
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 3, 100), 0);
    ck_assert_int_eq(kb_txncoord_expire(&coord, 1100, &work, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(kb_txncoord_expire(&coord, 1101, &work, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert(!work[0].commit);
    ck_assert_int_eq(work[0].producer_epoch, 1);
    ck_assert_str_eq(work[0].transactional_id, TXN);
    ck_assert_uint_eq(work[0].n_partitions, 1);
    ck_assert_int_eq(work[0].partitions[0].partition, 3);
    kb_txn_markers_free(&work[0]);
    free(work);
    ck_assert_int_eq(state_of(&coord), KB_TXN_PREPARE_ABORT);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 1102), 0);
    ck_assert_int_eq(state_of(&coord), KB_TXN_COMPLETE_ABORT);

    /* The late producer commits with its old epoch: EndTxn v0/v1 get INVALID_PRODUCER_EPOCH. */
    err = kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 1200, &end);
    ck_assert_int_eq(err, KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txn_error_for_version(KTX__API_END_TXN, 1, err), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(kb_txn_error_for_version(KTX__API_END_TXN, 3, err), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 3, 1200), KTX_ERR_PRODUCER_FENCED);
    /* KIP-360 with the fenced epoch is refused; a fresh InitProducerId bumps again. */
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 1000, pid, 0, 1300, &res),
                     KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(init_ok(&coord, 1300, NULL), 2);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_kip360_current_epoch_bumps_and_retry_gets_same_epoch)
{
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 0, 1, &res), 0);
    ck_assert_int_eq(res.producer_id, pid);
    ck_assert_int_eq(res.producer_epoch, 1);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 0, 2, &res), 0);
    ck_assert_int_eq(res.producer_epoch, 1);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 5, 3, &res),
                     KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid + 1, 1, 3, &res),
                     KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(kb_txncoord_find(&coord, TXN)->producer_epoch, 1);
    kb_txncoord_free(&coord);
}
END_TEST

/* What a restarted producer meets when it presents its persisted id and epoch (KIP-360,
 * txn/persist.c): killed inside a transaction, the open transaction is fenced and aborted
 * (CONCURRENT_TRANSACTIONS), and the same request is then PRODUCER_FENCED, since a fence
 * forgets the last epoch (Kafka's prepareFenceProducerEpoch); -1/-1 bumps again. */
START_TEST(test_txncoord_kip360_restart_inside_a_transaction_is_fenced_after_the_abort)
{
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 10), 0);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 0, 20, &res),
                     KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert(!res.markers.commit);
    ck_assert_int_eq(res.markers.producer_epoch, 1);
    kb_txn_markers_free(&res.markers);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 21), 0);
    ck_assert_int_eq(state_of(&coord), KB_TXN_COMPLETE_ABORT);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 0, 30, &res),
                     KTX_ERR_PRODUCER_FENCED);
    kb_txn_markers_free(&res.markers);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, -1, -1, 40, &res), 0);
    ck_assert_int_eq(res.producer_id, pid);
    ck_assert_int_eq(res.producer_epoch, 2);
    kb_txncoord_free(&coord);
}
END_TEST

/* Transactions v2: EndTxn bumped the epoch and remembers the one it bumped from, so a
 * restart that presents the epoch its commit was sent with is answered as a retry: the
 * current epoch, unbumped. */
START_TEST(test_txncoord_kip360_after_a_v2_commit_answers_the_bumped_epoch)
{
    struct kb_txncoord_conf conf = {0};
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    struct kb_end_txn_result end;
    int64_t pid;

    conf.v2 = true;
    kb_txncoord_init(&coord, &conf);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 10), 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 20, &end), 0);
    ck_assert_int_eq(end.producer_epoch, 1);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 21), 0);
    ck_assert_int_eq(state_of(&coord), KB_TXN_COMPLETE_COMMIT);
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, 0, 30, &res), 0);
    ck_assert_int_eq(res.producer_id, pid);
    ck_assert_int_eq(res.producer_epoch, 1);
    ck_assert_int_eq(state_of(&coord), KB_TXN_EMPTY);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_epoch_exhaustion_rotates_to_new_producer_id)
{
    struct kb_txncoord coord;
    struct kb_init_pid_result res;
    struct kb_txn *txn;
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    txn = (struct kb_txn *)kb_txncoord_find(&coord, TXN);
    txn->producer_epoch = INT16_MAX - 1;
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, INT16_MAX - 1, 1, &res), 0);
    ck_assert_int_ne(res.producer_id, pid);
    ck_assert_int_eq(res.producer_epoch, 0);
    ck_assert_int_eq(txn->last_producer_id, pid);
    /* The retry of that call (old id, exhausted epoch) gets the new id again. */
    ck_assert_int_eq(kb_txncoord_init_producer_id(&coord, TXN, 60000, pid, INT16_MAX - 1, 2, &res), 0);
    ck_assert_int_eq(res.producer_id, txn->producer_id);
    ck_assert_int_eq(res.producer_epoch, 0);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_v2_end_txn_returns_bumped_epoch)
{
    struct kb_txncoord_conf conf = {.v2 = true};
    struct kb_txncoord coord;
    struct kb_end_txn_result end;
    int64_t pid;

    kb_txncoord_init(&coord, &conf);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 1), 0); /* implicit add by produce */
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 2, &end), 0);
    ck_assert_int_eq(end.producer_id, pid);
    ck_assert_int_eq(end.producer_epoch, 1);
    ck_assert_int_eq(end.markers.producer_epoch, 1);
    kb_txn_markers_free(&end.markers);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 3, &end), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 4), 0);
    /* A retry after completion answers the bumped epoch again. */
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, true, 5, &end), 0);
    ck_assert_int_eq(end.producer_epoch, 1);
    ck_assert_uint_eq(end.markers.n_partitions, 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 0, false, 5, &end), KTX_ERR_INVALID_TXN_STATE);
    ck_assert_int_eq(add_tp(&coord, pid, 0, "t", 0, 6), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(add_tp(&coord, pid, 1, "t", 0, 6), 0);
    ck_assert_int_eq(kb_txncoord_end_txn(&coord, TXN, pid, 1, false, 7, &end), 0);
    ck_assert_int_eq(end.producer_epoch, 2);
    ck_assert(!end.markers.commit);
    kb_txn_markers_free(&end.markers);
    kb_txncoord_free(&coord);
}
END_TEST

START_TEST(test_txncoord_describe_lists_partitions_once_and_timeout)
{
    struct kb_txncoord coord;
    struct kb_tp tps[3] = {tp_of("a", 0), tp_of("a", 1), tp_of("a", 0)};
    const struct kb_txn *txn;
    int64_t pid;

    kb_txncoord_init(&coord, NULL);
    ck_assert_int_eq(init_ok(&coord, 0, &pid), 0);
    ck_assert_int_eq(kb_txncoord_add_partitions(&coord, TXN, pid, 0, tps, 3, 77), 0);
    ck_assert_int_eq(kb_txncoord_add_partitions(&coord, TXN, pid, 0, tps, 2, 88), 0);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, TXN, pid, 0, "g", 90), 0);
    ck_assert_int_eq(kb_txncoord_add_offsets(&coord, TXN, pid, 0, "g", 91), 0);
    txn = kb_txncoord_find(&coord, TXN);
    ck_assert_str_eq(kb_txn_state_name(txn->state), "Ongoing");
    ck_assert_int_eq(txn->timeout_ms, 60000);
    ck_assert_int_eq(txn->start_ms, 77);
    ck_assert_uint_eq(txn->n_partitions, 2);
    ck_assert_int_eq(txn->partitions[1].partition, 1);
    ck_assert_uint_eq(txn->n_groups, 1);
    ck_assert_int_eq(kb_txncoord_markers_written(&coord, TXN, 92), KTX_ERR_STATE);
    kb_txncoord_free(&coord);
}
END_TEST

static Suite *broker_txncoord_suite(void)
{
    Suite *s = suite_create("broker_txncoord");
    TCase *tc = tcase_create("coordinator");
    tcase_add_test(tc, test_txncoord_transition_table_matches_kafka);
    tcase_add_test(tc, test_txncoord_init_hands_out_new_ids_with_epoch_zero);
    tcase_add_test(tc, test_txncoord_reinit_bumps_epoch_and_fences_the_old_one);
    tcase_add_test(tc, test_txncoord_second_init_aborts_open_transaction_and_fences_old_producer);
    tcase_add_test(tc, test_txncoord_commit_is_two_phase_with_concurrent_transactions_between);
    tcase_add_test(tc, test_txncoord_end_txn_without_transaction_is_invalid_txn_state);
    tcase_add_test(tc, test_txncoord_unknown_id_or_other_producer_id_is_invalid_mapping);
    tcase_add_test(tc, test_txncoord_timeout_aborts_with_bumped_epoch_and_late_commit_fails);
    tcase_add_test(tc, test_txncoord_kip360_current_epoch_bumps_and_retry_gets_same_epoch);
    tcase_add_test(tc, test_txncoord_kip360_restart_inside_a_transaction_is_fenced_after_the_abort);
    tcase_add_test(tc, test_txncoord_kip360_after_a_v2_commit_answers_the_bumped_epoch);
    tcase_add_test(tc, test_txncoord_epoch_exhaustion_rotates_to_new_producer_id);
    tcase_add_test(tc, test_txncoord_v2_end_txn_returns_bumped_epoch);
    tcase_add_test(tc, test_txncoord_describe_lists_partitions_once_and_timeout);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_txncoord_suite)
