/*
 * Tests of the error-classification table (txn/txn_classify.c): every row against an
 * expectation list written here from Kafka's behaviour (TransactionManager, Sender, KIPs 360,
 * 447, 588, 890), the epoch-bump fallbacks, versioned rows, defaults for unknown codes,
 * backoffs, error-object classes, and docs/transactions.md against the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "error.h"
#include "txn_classify.h"

/* One expectation: |code| answered to |req| leads to |act| (epoch bump supported). */
struct expect {
    enum ktx__txn_request req;
    int code;
    enum ktx__txn_action act;
};

#define X(req, code, act) {KTX__TXN_REQ_##req, KTX_ERR_##code, KTX__TXN_ACT_##act}

/* Written from Kafka's client behaviour, not from the table. */
static const struct expect expected[] = {
    X(FIND_COORDINATOR, NONE, SUCCESS),
    X(FIND_COORDINATOR, COORDINATOR_NOT_AVAILABLE, RETRY),
    X(FIND_COORDINATOR, NOT_COORDINATOR, RETRY),
    X(FIND_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(FIND_COORDINATOR, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(FIND_COORDINATOR, GROUP_AUTHORIZATION_FAILED, ABORTABLE),
    X(FIND_COORDINATOR, UNSUPPORTED_VERSION, FATAL),
    X(FIND_COORDINATOR, REQUEST_TIMED_OUT, RETRY),
    X(FIND_COORDINATOR, NETWORK_EXCEPTION, RETRY),
    X(FIND_COORDINATOR, TRANSPORT, RETRY),
    X(FIND_COORDINATOR, TIMED_OUT, RETRY),
    X(FIND_COORDINATOR, ALL_BROKERS_DOWN, RETRY),

    X(INIT_PRODUCER_ID, NONE, SUCCESS),
    X(INIT_PRODUCER_ID, NOT_COORDINATOR, RETRY_FIND_COORDINATOR),
    X(INIT_PRODUCER_ID, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR),
    X(INIT_PRODUCER_ID, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(INIT_PRODUCER_ID, CONCURRENT_TRANSACTIONS, RETRY),
    X(INIT_PRODUCER_ID, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(INIT_PRODUCER_ID, CLUSTER_AUTHORIZATION_FAILED, FATAL),
    X(INIT_PRODUCER_ID, PRODUCER_FENCED, FATAL),
    X(INIT_PRODUCER_ID, INVALID_PRODUCER_EPOCH, FATAL),
    X(INIT_PRODUCER_ID, INVALID_TRANSACTION_TIMEOUT, FATAL),
    X(INIT_PRODUCER_ID, UNSUPPORTED_VERSION, FATAL),
    X(INIT_PRODUCER_ID, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(INIT_PRODUCER_ID, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR),
    X(INIT_PRODUCER_ID, TRANSPORT, RETRY_FIND_COORDINATOR),
    X(INIT_PRODUCER_ID, TIMED_OUT, RETRY_FIND_COORDINATOR),

    X(ADD_PARTITIONS, NONE, SUCCESS),
    X(ADD_PARTITIONS, NOT_COORDINATOR, RETRY_FIND_COORDINATOR),
    X(ADD_PARTITIONS, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR),
    X(ADD_PARTITIONS, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(ADD_PARTITIONS, CONCURRENT_TRANSACTIONS, RETRY),
    X(ADD_PARTITIONS, UNKNOWN_TOPIC_OR_PARTITION, RETRY),
    X(ADD_PARTITIONS, PRODUCER_FENCED, FATAL),
    X(ADD_PARTITIONS, INVALID_PRODUCER_EPOCH, FATAL),
    X(ADD_PARTITIONS, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(ADD_PARTITIONS, INVALID_TXN_STATE, FATAL),
    X(ADD_PARTITIONS, TOPIC_AUTHORIZATION_FAILED, ABORTABLE),
    X(ADD_PARTITIONS, OPERATION_NOT_ATTEMPTED, NOT_ATTEMPTED),
    X(ADD_PARTITIONS, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH),
    X(ADD_PARTITIONS, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH),
    X(ADD_PARTITIONS, TRANSACTION_ABORTABLE, ABORTABLE),
    X(ADD_PARTITIONS, UNSUPPORTED_VERSION, FATAL),
    X(ADD_PARTITIONS, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(ADD_PARTITIONS, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR),
    X(ADD_PARTITIONS, TRANSPORT, RETRY_FIND_COORDINATOR),
    X(ADD_PARTITIONS, TIMED_OUT, RETRY_FIND_COORDINATOR),

    X(ADD_OFFSETS, NONE, SUCCESS),
    X(ADD_OFFSETS, NOT_COORDINATOR, RETRY_FIND_COORDINATOR),
    X(ADD_OFFSETS, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR),
    X(ADD_OFFSETS, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(ADD_OFFSETS, CONCURRENT_TRANSACTIONS, RETRY),
    X(ADD_OFFSETS, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH),
    X(ADD_OFFSETS, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH),
    X(ADD_OFFSETS, PRODUCER_FENCED, FATAL),
    X(ADD_OFFSETS, INVALID_PRODUCER_EPOCH, FATAL),
    X(ADD_OFFSETS, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(ADD_OFFSETS, GROUP_AUTHORIZATION_FAILED, ABORTABLE),
    X(ADD_OFFSETS, INVALID_TXN_STATE, FATAL),
    X(ADD_OFFSETS, TRANSACTION_ABORTABLE, ABORTABLE),
    X(ADD_OFFSETS, UNSUPPORTED_VERSION, FATAL),
    X(ADD_OFFSETS, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(ADD_OFFSETS, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR),
    X(ADD_OFFSETS, TRANSPORT, RETRY_FIND_COORDINATOR),
    X(ADD_OFFSETS, TIMED_OUT, RETRY_FIND_COORDINATOR),

    X(TXN_OFFSET_COMMIT, NONE, SUCCESS),
    X(TXN_OFFSET_COMMIT, NOT_COORDINATOR, RETRY_FIND_COORDINATOR),
    X(TXN_OFFSET_COMMIT, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR),
    X(TXN_OFFSET_COMMIT, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(TXN_OFFSET_COMMIT, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(TXN_OFFSET_COMMIT, UNKNOWN_TOPIC_OR_PARTITION, RETRY),
    X(TXN_OFFSET_COMMIT, CONCURRENT_TRANSACTIONS, RETRY),
    X(TXN_OFFSET_COMMIT, GROUP_AUTHORIZATION_FAILED, ABORTABLE),
    X(TXN_OFFSET_COMMIT, UNKNOWN_MEMBER_ID, ABORTABLE),
    X(TXN_OFFSET_COMMIT, ILLEGAL_GENERATION, ABORTABLE),
    X(TXN_OFFSET_COMMIT, FENCED_INSTANCE_ID, ABORTABLE),
    X(TXN_OFFSET_COMMIT, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(TXN_OFFSET_COMMIT, PRODUCER_FENCED, FATAL),
    X(TXN_OFFSET_COMMIT, INVALID_PRODUCER_EPOCH, FATAL),
    X(TXN_OFFSET_COMMIT, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL),
    X(TXN_OFFSET_COMMIT, TRANSACTION_ABORTABLE, ABORTABLE),
    X(TXN_OFFSET_COMMIT, UNSUPPORTED_VERSION, FATAL),
    X(TXN_OFFSET_COMMIT, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR),
    X(TXN_OFFSET_COMMIT, TRANSPORT, RETRY_FIND_COORDINATOR),
    X(TXN_OFFSET_COMMIT, TIMED_OUT, RETRY_FIND_COORDINATOR),

    X(END_TXN, NONE, SUCCESS),
    X(END_TXN, NOT_COORDINATOR, RETRY_FIND_COORDINATOR),
    X(END_TXN, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR),
    X(END_TXN, COORDINATOR_LOAD_IN_PROGRESS, RETRY),
    X(END_TXN, CONCURRENT_TRANSACTIONS, RETRY),
    X(END_TXN, PRODUCER_FENCED, FATAL),
    X(END_TXN, INVALID_PRODUCER_EPOCH, FATAL),
    X(END_TXN, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(END_TXN, INVALID_TXN_STATE, FATAL),
    X(END_TXN, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH),
    X(END_TXN, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH),
    X(END_TXN, TRANSACTION_ABORTABLE, ABORTABLE),
    X(END_TXN, UNSUPPORTED_VERSION, FATAL),
    X(END_TXN, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(END_TXN, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR),
    X(END_TXN, TRANSPORT, RETRY_FIND_COORDINATOR),
    X(END_TXN, TIMED_OUT, RETRY_FIND_COORDINATOR),
    X(END_TXN, ALL_BROKERS_DOWN, RETRY_FIND_COORDINATOR),

    X(PRODUCE_TXN, NONE, SUCCESS),
    X(PRODUCE_TXN, DUPLICATE_SEQUENCE_NUMBER, DUPLICATE_AS_SUCCESS),
    X(PRODUCE_TXN, NOT_LEADER_OR_FOLLOWER, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, UNKNOWN_TOPIC_OR_PARTITION, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, LEADER_NOT_AVAILABLE, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, FENCED_LEADER_EPOCH, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, UNKNOWN_LEADER_EPOCH, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, UNKNOWN_TOPIC_ID, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, KAFKA_STORAGE_ERROR, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, NETWORK_EXCEPTION, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, TRANSPORT, RETRY_REFRESH_METADATA),
    X(PRODUCE_TXN, REQUEST_TIMED_OUT, RETRY),
    X(PRODUCE_TXN, TIMED_OUT, RETRY),
    X(PRODUCE_TXN, NOT_ENOUGH_REPLICAS, RETRY),
    X(PRODUCE_TXN, NOT_ENOUGH_REPLICAS_AFTER_APPEND, RETRY),
    X(PRODUCE_TXN, CORRUPT_MESSAGE, RETRY),
    X(PRODUCE_TXN, CONCURRENT_TRANSACTIONS, RETRY),
    X(PRODUCE_TXN, INVALID_PRODUCER_EPOCH, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, OUT_OF_ORDER_SEQUENCE_NUMBER, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, TRANSACTION_ABORTABLE, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, TOPIC_AUTHORIZATION_FAILED, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, MESSAGE_TOO_LARGE, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, RECORD_LIST_TOO_LARGE, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, INVALID_RECORD, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, INVALID_TIMESTAMP, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, MSG_TIMED_OUT, ABORTABLE_BUMP_EPOCH),
    X(PRODUCE_TXN, PRODUCER_FENCED, FATAL),
    X(PRODUCE_TXN, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL),
    X(PRODUCE_TXN, CLUSTER_AUTHORIZATION_FAILED, FATAL),
    X(PRODUCE_TXN, INVALID_TXN_STATE, FATAL),
    X(PRODUCE_TXN, UNSUPPORTED_VERSION, FATAL),
    X(PRODUCE_TXN, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL),

    X(PRODUCE_IDEMPOTENT, NONE, SUCCESS),
    X(PRODUCE_IDEMPOTENT, DUPLICATE_SEQUENCE_NUMBER, DUPLICATE_AS_SUCCESS),
    X(PRODUCE_IDEMPOTENT, NOT_LEADER_OR_FOLLOWER, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, UNKNOWN_TOPIC_OR_PARTITION, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, LEADER_NOT_AVAILABLE, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, FENCED_LEADER_EPOCH, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, UNKNOWN_LEADER_EPOCH, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, UNKNOWN_TOPIC_ID, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, KAFKA_STORAGE_ERROR, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, NETWORK_EXCEPTION, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, TRANSPORT, RETRY_REFRESH_METADATA),
    X(PRODUCE_IDEMPOTENT, REQUEST_TIMED_OUT, RETRY),
    X(PRODUCE_IDEMPOTENT, TIMED_OUT, RETRY),
    X(PRODUCE_IDEMPOTENT, NOT_ENOUGH_REPLICAS, RETRY),
    X(PRODUCE_IDEMPOTENT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, RETRY),
    X(PRODUCE_IDEMPOTENT, CORRUPT_MESSAGE, RETRY),
    X(PRODUCE_IDEMPOTENT, OUT_OF_ORDER_SEQUENCE_NUMBER, BUMP_EPOCH),
    X(PRODUCE_IDEMPOTENT, UNKNOWN_PRODUCER_ID, BUMP_EPOCH),
    X(PRODUCE_IDEMPOTENT, INVALID_PRODUCER_EPOCH, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, TOPIC_AUTHORIZATION_FAILED, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, MESSAGE_TOO_LARGE, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, RECORD_LIST_TOO_LARGE, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, INVALID_RECORD, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, INVALID_TIMESTAMP, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, MSG_TIMED_OUT, FAIL_BATCH),
    X(PRODUCE_IDEMPOTENT, CLUSTER_AUTHORIZATION_FAILED, FATAL),
    X(PRODUCE_IDEMPOTENT, PRODUCER_FENCED, FATAL),
    X(PRODUCE_IDEMPOTENT, UNSUPPORTED_VERSION, FATAL),
    X(PRODUCE_IDEMPOTENT, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL),
};

static const struct ktx__txn_classify_ctx ctx_bump = {.version = -1, .epoch_bump_supported = true};
static const struct ktx__txn_classify_ctx ctx_no_bump = {.version = -1,
                                                         .epoch_bump_supported = false};

/* Returns how many of the three class accessors are true for |err|. */
static int class_count(const ktx_error_t *err)
{
    return ktx_error_is_retriable(err) + ktx_error_txn_requires_abort(err) + ktx_error_is_fatal(err);
}

START_TEST(test_classify_matches_kafka_for_every_expected_pair)
{
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(expected); i++) {
        const struct expect *e = &expected[i];
        enum ktx__txn_action got = ktx__txn_classify(e->req, e->code, &ctx_bump);

        ck_assert_msg(got == e->act, "%s %s: got %s, want %s", ktx__txn_request_name(e->req),
                      ktx_err_name(e->code), ktx__txn_action_name(got),
                      ktx__txn_action_name(e->act));
    }
}
END_TEST

START_TEST(test_every_table_row_has_an_independent_expectation)
{
    size_t count, i, j;
    const struct ktx__txn_rule *rules = ktx__txn_rules(&count);

    ck_assert_uint_eq(count, KTX__ARRAY_LEN(expected));
    for (i = 0; i < count; i++) {
        bool found = false;

        for (j = 0; j < KTX__ARRAY_LEN(expected) && !found; j++)
            found = expected[j].req == rules[i].req && expected[j].code == rules[i].code;
        ck_assert_msg(found, "row %s %s is not tested", ktx__txn_request_name(rules[i].req),
                      ktx_err_name(rules[i].code));
        ck_assert_msg(rules[i].reason && strlen(rules[i].reason) > 10, "row %zu has no reason", i);
    }
}
END_TEST

START_TEST(test_no_request_has_two_rows_for_one_code)
{
    size_t count, i, j;
    const struct ktx__txn_rule *rules = ktx__txn_rules(&count);

    for (i = 0; i < count; i++)
        for (j = i + 1; j < count; j++)
            ck_assert_msg(!(rules[i].req == rules[j].req && rules[i].code == rules[j].code),
                          "duplicate row %s %s", ktx__txn_request_name(rules[i].req),
                          ktx_err_name(rules[i].code));
}
END_TEST

START_TEST(test_kip588_produce_invalid_producer_epoch_is_abortable_not_fatal)
{
    ktx_error_t *err;
    enum ktx__txn_action act;

    act = ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_INVALID_PRODUCER_EPOCH, &ctx_bump);
    ck_assert_int_eq(act, KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
    err = ktx__txn_action_error(act, KTX_ERR_INVALID_PRODUCER_EPOCH, NULL);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 1);
    ck_assert_int_eq(ktx_error_is_fatal(err), 0);
    ck_assert_int_eq(ktx_error_is_retriable(err), 0);
    ck_assert_str_eq(ktx_error_name(err), "INVALID_PRODUCER_EPOCH");
    ktx_error_destroy(err);
    /* Without KIP-360 support the abort still recovers, without the bump. */
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_INVALID_PRODUCER_EPOCH,
                                       &ctx_no_bump),
                     KTX__TXN_ACT_ABORTABLE);
}
END_TEST

START_TEST(test_kip588_coordinator_invalid_producer_epoch_is_fatal_as_fenced)
{
    static const enum ktx__txn_request coordinator_reqs[] = {
        KTX__TXN_REQ_INIT_PRODUCER_ID, KTX__TXN_REQ_ADD_PARTITIONS, KTX__TXN_REQ_ADD_OFFSETS,
        KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX__TXN_REQ_END_TXN};
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(coordinator_reqs); i++) {
        ck_assert_int_eq(ktx__txn_classify(coordinator_reqs[i], KTX_ERR_INVALID_PRODUCER_EPOCH,
                                           &ctx_bump),
                         KTX__TXN_ACT_FATAL);
        ck_assert_int_eq(ktx__txn_classify(coordinator_reqs[i], KTX_ERR_PRODUCER_FENCED, &ctx_bump),
                         KTX__TXN_ACT_FATAL);
    }
}
END_TEST

START_TEST(test_kip360_unknown_producer_id_needs_bump_support_on_coordinator_apis)
{
    static const enum ktx__txn_request reqs[] = {KTX__TXN_REQ_ADD_PARTITIONS,
                                                 KTX__TXN_REQ_ADD_OFFSETS, KTX__TXN_REQ_END_TXN};
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(reqs); i++) {
        ck_assert_int_eq(ktx__txn_classify(reqs[i], KTX_ERR_UNKNOWN_PRODUCER_ID, &ctx_bump),
                         KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
        ck_assert_int_eq(ktx__txn_classify(reqs[i], KTX_ERR_INVALID_PRODUCER_ID_MAPPING, &ctx_bump),
                         KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
        ck_assert_int_eq(ktx__txn_classify(reqs[i], KTX_ERR_UNKNOWN_PRODUCER_ID, &ctx_no_bump),
                         KTX__TXN_ACT_FATAL);
        ck_assert_int_eq(
            ktx__txn_classify(reqs[i], KTX_ERR_INVALID_PRODUCER_ID_MAPPING, &ctx_no_bump),
            KTX__TXN_ACT_FATAL);
    }
}
END_TEST

START_TEST(test_kip360_produce_unknown_producer_id_by_producer_kind)
{
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_UNKNOWN_PRODUCER_ID,
                                       &ctx_bump),
                     KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_UNKNOWN_PRODUCER_ID,
                                       &ctx_no_bump),
                     KTX__TXN_ACT_ABORTABLE);
    /* The idempotent producer bumps its own epoch: no coordinator needed. */
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_IDEMPOTENT,
                                       KTX_ERR_UNKNOWN_PRODUCER_ID, &ctx_no_bump),
                     KTX__TXN_ACT_BUMP_EPOCH);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_IDEMPOTENT,
                                       KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, &ctx_bump),
                     KTX__TXN_ACT_BUMP_EPOCH);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_IDEMPOTENT,
                                       KTX_ERR_DUPLICATE_SEQUENCE_NUMBER, &ctx_bump),
                     KTX__TXN_ACT_DUPLICATE_AS_SUCCESS);
}
END_TEST

START_TEST(test_kip447_group_errors_abortable_only_from_txn_offset_commit_v3)
{
    struct ktx__txn_classify_ctx v2 = {.version = 2, .epoch_bump_supported = true};
    struct ktx__txn_classify_ctx v3 = {.version = 3, .epoch_bump_supported = true};

    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX_ERR_ILLEGAL_GENERATION,
                                       &v3),
                     KTX__TXN_ACT_ABORTABLE);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX_ERR_UNKNOWN_MEMBER_ID,
                                       &v3),
                     KTX__TXN_ACT_ABORTABLE);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX_ERR_FENCED_INSTANCE_ID,
                                       &v3),
                     KTX__TXN_ACT_ABORTABLE);
    /* Before v3 the request carries no generation: the code is unexpected, the default holds. */
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX_ERR_ILLEGAL_GENERATION,
                                       &v2),
                     KTX__TXN_ACT_FATAL);
    ck_assert_str_eq(ktx__txn_classify_reason(KTX__TXN_REQ_TXN_OFFSET_COMMIT,
                                              KTX_ERR_ILLEGAL_GENERATION, &v2),
                     ktx__txn_defaults(&(size_t){0})[KTX__TXN_REQ_TXN_OFFSET_COMMIT].reason);
}
END_TEST

START_TEST(test_unknown_codes_get_the_documented_default)
{
    const int unknown = 4242; /* no such Kafka code */

    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_FIND_COORDINATOR, unknown, NULL),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_INIT_PRODUCER_ID, unknown, NULL),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_ADD_PARTITIONS, unknown, NULL),
                     KTX__TXN_ACT_ABORTABLE);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_ADD_OFFSETS, unknown, NULL),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_TXN_OFFSET_COMMIT, unknown, NULL),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_END_TXN, unknown, NULL), KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, unknown, &ctx_bump),
                     KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, unknown, &ctx_no_bump),
                     KTX__TXN_ACT_ABORTABLE);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_IDEMPOTENT, unknown, NULL),
                     KTX__TXN_ACT_FAIL_BATCH);
    /* A code Kafka marks retriable but no row names (REPLICA_NOT_AVAILABLE) is retried. */
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_END_TXN, KTX_ERR_REPLICA_NOT_AVAILABLE, NULL),
                     KTX__TXN_ACT_RETRY);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_REPLICA_NOT_AVAILABLE,
                                       NULL),
                     KTX__TXN_ACT_RETRY);
    /* The unexpected UNKNOWN_SERVER_ERROR is fatal on EndTxn, abortable on a record. */
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_END_TXN, KTX_ERR_UNKNOWN_SERVER_ERROR, NULL),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_UNKNOWN_SERVER_ERROR,
                                       &ctx_bump),
                     KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
    ck_assert_int_eq(ktx__txn_classify(KTX__TXN_REQ_COUNT, KTX_ERR_NONE, NULL), KTX__TXN_ACT_FATAL);
    ck_assert_ptr_nonnull(strstr(ktx__txn_classify_reason(KTX__TXN_REQ_END_TXN, unknown, NULL),
                                 "fatal"));
}
END_TEST

START_TEST(test_end_txn_unknown_outcome_is_retried_never_success)
{
    static const int no_answer[] = {KTX_ERR_TRANSPORT, KTX_ERR_TIMED_OUT, KTX_ERR_REQUEST_TIMED_OUT,
                                    KTX_ERR_NETWORK_EXCEPTION, KTX_ERR_ALL_BROKERS_DOWN};
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(no_answer); i++) {
        enum ktx__txn_action act = ktx__txn_classify(KTX__TXN_REQ_END_TXN, no_answer[i], NULL);
        ktx_error_t *err = ktx__txn_action_error(act, no_answer[i], NULL);

        ck_assert_int_eq(act, KTX__TXN_ACT_RETRY_FIND_COORDINATOR);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(ktx_error_is_retriable(err), 1);
        ktx_error_destroy(err);
    }
}
END_TEST

START_TEST(test_concurrent_transactions_backoff_starts_short_and_grows)
{
    const int req = KTX__TXN_REQ_ADD_PARTITIONS;

    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_CONCURRENT_TRANSACTIONS, 0, 100, 1000),
                     5);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_CONCURRENT_TRANSACTIONS, 1, 100, 1000),
                     10);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_CONCURRENT_TRANSACTIONS, 2, 100, 1000),
                     20);
    /* Never above retry.backoff.ms. */
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_CONCURRENT_TRANSACTIONS, 9, 100, 1000),
                     100);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_CONCURRENT_TRANSACTIONS, 0, 2, 1000), 2);
    /* Other codes: retry.backoff.ms doubling up to retry.backoff.max.ms. */
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS, 0, 100,
                                               1000),
                     100);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS, 2, 100,
                                               1000),
                     400);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS, 60, 100,
                                               1000),
                     1000);
    ck_assert_int_eq(ktx__txn_retry_backoff_ms(req, KTX_ERR_NOT_COORDINATOR, -3, 100, 1000), 100);
}
END_TEST

START_TEST(test_action_errors_have_exactly_one_class)
{
    int act;

    for (act = 0; act < KTX__TXN_ACT_COUNT; act++) {
        ktx_error_t *err = ktx__txn_action_error((enum ktx__txn_action)act,
                                                 KTX_ERR_MESSAGE_TOO_LARGE, "record %d", act);

        if (act == KTX__TXN_ACT_SUCCESS || act == KTX__TXN_ACT_DUPLICATE_AS_SUCCESS) {
            ck_assert_ptr_null(err);
            continue;
        }
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(ktx_error_code(err), KTX_ERR_MESSAGE_TOO_LARGE);
        ck_assert_int_eq(class_count(err), act == KTX__TXN_ACT_FAIL_BATCH ? 0 : 1);
        ck_assert_int_eq(ktx_error_is_fatal(err), act == KTX__TXN_ACT_FATAL);
        ck_assert_int_eq(ktx_error_txn_requires_abort(err),
                         act == KTX__TXN_ACT_ABORTABLE || act == KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH ||
                             act == KTX__TXN_ACT_NOT_ATTEMPTED);
        ktx_error_destroy(err);
    }
}
END_TEST

START_TEST(test_every_row_error_has_the_class_of_its_action)
{
    size_t count, i;
    const struct ktx__txn_rule *rules = ktx__txn_rules(&count);

    for (i = 0; i < count; i++) {
        ktx_error_t *err = ktx__txn_action_error(rules[i].action, rules[i].code, NULL);
        int want = rules[i].action == KTX__TXN_ACT_FAIL_BATCH ? 0 : 1;

        if (rules[i].action == KTX__TXN_ACT_SUCCESS ||
            rules[i].action == KTX__TXN_ACT_DUPLICATE_AS_SUCCESS) {
            ck_assert_ptr_null(err);
            continue;
        }
        ck_assert_msg(class_count(err) == want, "%s %s: %d classes",
                      ktx__txn_request_name(rules[i].req), ktx_err_name(rules[i].code),
                      class_count(err));
        ktx_error_destroy(err);
    }
}
END_TEST

START_TEST(test_classify_error_reports_coordinator_invalid_epoch_as_fenced)
{
    enum ktx__txn_action act = KTX__TXN_ACT_SUCCESS;
    ktx_error_t *err;

    err = ktx__txn_classify_error(KTX__TXN_REQ_END_TXN, KTX_ERR_INVALID_PRODUCER_EPOCH, &ctx_bump,
                                  &act);
    ck_assert_int_eq(act, KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx_error_is_fatal(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "INVALID_PRODUCER_EPOCH"));
    ktx_error_destroy(err);
    /* On Produce (KIP-588) the code stays and the error is abortable. */
    err = ktx__txn_classify_error(KTX__TXN_REQ_PRODUCE_TXN, KTX_ERR_INVALID_PRODUCER_EPOCH,
                                  &ctx_bump, &act);
    ck_assert_int_eq(act, KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ktx_error_destroy(err);
    /* Success yields no error object. */
    ck_assert_ptr_null(ktx__txn_classify_error(KTX__TXN_REQ_END_TXN, KTX_ERR_NONE, NULL, &act));
    ck_assert_int_eq(act, KTX__TXN_ACT_SUCCESS);
    err = ktx__txn_classify_error(KTX__TXN_REQ_ADD_PARTITIONS, KTX_ERR_CONCURRENT_TRANSACTIONS,
                                  NULL, NULL);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_CONCURRENT_TRANSACTIONS);
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_combine_picks_the_most_severe_partition_action)
{
    ck_assert_int_eq(ktx__txn_action_combine(KTX__TXN_ACT_NOT_ATTEMPTED, KTX__TXN_ACT_ABORTABLE),
                     KTX__TXN_ACT_ABORTABLE);
    ck_assert_int_eq(ktx__txn_action_combine(KTX__TXN_ACT_RETRY, KTX__TXN_ACT_NOT_ATTEMPTED),
                     KTX__TXN_ACT_RETRY);
    ck_assert_int_eq(ktx__txn_action_combine(KTX__TXN_ACT_SUCCESS, KTX__TXN_ACT_NOT_ATTEMPTED),
                     KTX__TXN_ACT_NOT_ATTEMPTED);
    ck_assert_int_eq(ktx__txn_action_combine(KTX__TXN_ACT_FATAL, KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH),
                     KTX__TXN_ACT_FATAL);
    ck_assert_int_eq(ktx__txn_action_combine(KTX__TXN_ACT_RETRY_FIND_COORDINATOR,
                                             KTX__TXN_ACT_RETRY),
                     KTX__TXN_ACT_RETRY_FIND_COORDINATOR);
}
END_TEST

START_TEST(test_names_of_actions_and_requests)
{
    ck_assert_str_eq(ktx__txn_action_name(KTX__TXN_ACT_RETRY_FIND_COORDINATOR),
                     "RETRY_FIND_COORDINATOR");
    ck_assert_str_eq(ktx__txn_action_name(KTX__TXN_ACT_COUNT), "?");
    ck_assert_str_eq(ktx__txn_request_name(KTX__TXN_REQ_ADD_PARTITIONS), "AddPartitionsToTxn");
    ck_assert_str_eq(ktx__txn_request_name(KTX__TXN_REQ_COUNT), "?");
}
END_TEST

START_TEST(test_doc_lists_every_rule_with_its_reason)
{
    char *doc = ktx_test_read_source_file("docs/transactions.md");
    size_t count, i;
    const struct ktx__txn_rule *rules = ktx__txn_rules(&count);
    char line[1024];

    for (i = 0; i < count; i++) {
        const struct ktx__txn_rule *r = &rules[i];
        char ver[16] = "";

        if (r->min_version > 0)
            snprintf(ver, sizeof(ver), " (v%d+)", r->min_version);
        snprintf(line, sizeof(line), "| %s | %s%s | %s | %s | %s |", ktx__txn_request_name(r->req),
                 ktx_err_name(r->code), ver, ktx__txn_action_name(r->action),
                 r->no_bump_action == r->action ? "same" : ktx__txn_action_name(r->no_bump_action),
                 r->reason);
        ck_assert_msg(strstr(doc, line) != NULL, "docs/transactions.md lacks: %s", line);
    }
    free(doc);
}
END_TEST

START_TEST(test_doc_lists_every_default)
{
    char *doc = ktx_test_read_source_file("docs/transactions.md");
    size_t count, i;
    const struct ktx__txn_default *defs = ktx__txn_defaults(&count);
    char line[1024];

    ck_assert_uint_eq(count, KTX__TXN_REQ_COUNT);
    for (i = 0; i < count; i++) {
        ck_assert_int_eq(defs[i].req, (int)i);
        snprintf(line, sizeof(line), "| %s | %s | %s | %s |", ktx__txn_request_name(defs[i].req),
                 ktx__txn_action_name(defs[i].retriable_action),
                 ktx__txn_action_name(defs[i].other_action), defs[i].reason);
        ck_assert_msg(strstr(doc, line) != NULL, "docs/transactions.md lacks: %s", line);
    }
    free(doc);
}
END_TEST

static Suite *txn_classify_suite(void)
{
    Suite *s = suite_create("txn_classify");
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, test_classify_matches_kafka_for_every_expected_pair);
    tcase_add_test(tc, test_every_table_row_has_an_independent_expectation);
    tcase_add_test(tc, test_no_request_has_two_rows_for_one_code);
    tcase_add_test(tc, test_kip588_produce_invalid_producer_epoch_is_abortable_not_fatal);
    tcase_add_test(tc, test_kip588_coordinator_invalid_producer_epoch_is_fatal_as_fenced);
    tcase_add_test(tc, test_kip360_unknown_producer_id_needs_bump_support_on_coordinator_apis);
    tcase_add_test(tc, test_kip360_produce_unknown_producer_id_by_producer_kind);
    tcase_add_test(tc, test_kip447_group_errors_abortable_only_from_txn_offset_commit_v3);
    tcase_add_test(tc, test_unknown_codes_get_the_documented_default);
    tcase_add_test(tc, test_end_txn_unknown_outcome_is_retried_never_success);
    tcase_add_test(tc, test_concurrent_transactions_backoff_starts_short_and_grows);
    tcase_add_test(tc, test_action_errors_have_exactly_one_class);
    tcase_add_test(tc, test_every_row_error_has_the_class_of_its_action);
    tcase_add_test(tc, test_classify_error_reports_coordinator_invalid_epoch_as_fenced);
    tcase_add_test(tc, test_combine_picks_the_most_severe_partition_action);
    tcase_add_test(tc, test_names_of_actions_and_requests);
    tcase_add_test(tc, test_doc_lists_every_rule_with_its_reason);
    tcase_add_test(tc, test_doc_lists_every_default);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(txn_classify_suite)
