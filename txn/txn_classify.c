/*
 * The error-classification table of the transaction manager and the idempotent producer.
 *
 * One row per (request, error code) that Kafka's Java producer handles explicitly, plus one
 * default per request. Rows are grouped by request; within a group the order does not matter
 * (codes are unique per request and minimum version). docs/transactions.md prints the table
 * and tests/check_txn_classify.c checks that every row and every default appears there.
 */
#include "txn_classify.h"

#include <stdarg.h>

#include "error.h"

/* A row that applies from every version, with no epoch-bump fallback. */
#define R(req, code, act, why) \
    {KTX__TXN_REQ_##req, KTX_ERR_##code, 0, KTX__TXN_ACT_##act, KTX__TXN_ACT_##act, why}
/* A row whose action needs an epoch bump (KIP-360); |nb| applies when the coordinator cannot. */
#define RB(req, code, act, nb, why) \
    {KTX__TXN_REQ_##req, KTX_ERR_##code, 0, KTX__TXN_ACT_##act, KTX__TXN_ACT_##nb, why}
/* A row that applies from request version |v| on. */
#define RV(req, code, v, act, why) \
    {KTX__TXN_REQ_##req, KTX_ERR_##code, v, KTX__TXN_ACT_##act, KTX__TXN_ACT_##act, why}

/* Reasons shared by several rows. */
#define WHY_OK "The request succeeded."
#define WHY_COORD_MOVED "The coordinator moved or is not elected yet: look it up again, then retry."
#define WHY_LOADING "The coordinator is loading its state: retry the same coordinator."
#define WHY_CONCURRENT \
    "The previous transaction of this id is still completing: retry soon (short, growing backoff)."
#define WHY_FENCED "A newer producer with the same transactional.id took over."
#define WHY_OLD_FENCED "Older coordinators' name for PRODUCER_FENCED (KIP-588): fatal."
#define WHY_TXN_AUTHZ "The principal may not use this transactional.id."
#define WHY_CLUSTER_AUTHZ "The principal may not write idempotently to the cluster."
#define WHY_BAD_STATE "The coordinator's state contradicts ours: continuing could break exactly-once."
#define WHY_NO_VERSION "The broker does not support a needed API version."
#define WHY_NO_PID \
    "The coordinator lost the producer id: abort, then bump the epoch with InitProducerId " \
    "(KIP-360); fatal when the coordinator cannot bump."
#define WHY_TXN_ABORTABLE "The broker asks to abort the transaction (KIP-890)."
#define WHY_UNKNOWN_OUTCOME \
    "No answer: the coordinator may or may not have acted, so resend to a fresh coordinator."
#define WHY_END_UNKNOWN \
    "No answer, the outcome is unknown: resend the same EndTxn until the coordinator " \
    "answers; never reported as success."
#define WHY_LEADER "The partition's leader moved or is unknown: refresh metadata, then retry."
#define WHY_DISCONNECT \
    "The connection failed: refresh metadata (Kafka's NetworkException is an " \
    "InvalidMetadataException), then retry."
#define WHY_BROKER_RETRY "A transient broker condition: retry until delivery.timeout.ms."
#define WHY_DUP "The broker already wrote this batch (retry of an acknowledged batch)."
#define WHY_TXN_BATCH \
    "The batch failed: the transaction cannot commit; abort, and bump the epoch so that " \
    "sequences restart (KIP-360)."
#define WHY_IDEM_BATCH \
    "The batch failed for good: its records get the error; the sequence gap is closed by " \
    "an epoch bump of the partition."

static const struct ktx__txn_rule rules[] = {
    /* FindCoordinator: sent to any broker, so transport errors are plain retries. */
    R(FIND_COORDINATOR, NONE, SUCCESS, WHY_OK),
    R(FIND_COORDINATOR, COORDINATOR_NOT_AVAILABLE, RETRY,
      "No coordinator is elected for the key yet: ask again after backoff."),
    R(FIND_COORDINATOR, NOT_COORDINATOR, RETRY, "Kafka marks it retriable: ask again."),
    R(FIND_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(FIND_COORDINATOR, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(FIND_COORDINATOR, GROUP_AUTHORIZATION_FAILED, ABORTABLE,
      "The principal may not use the consumer group of send_offsets: abort."),
    R(FIND_COORDINATOR, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(FIND_COORDINATOR, REQUEST_TIMED_OUT, RETRY, "The broker timed out: ask again."),
    R(FIND_COORDINATOR, NETWORK_EXCEPTION, RETRY, "The connection failed: ask any broker again."),
    R(FIND_COORDINATOR, TRANSPORT, RETRY, "The connection failed: ask any broker again."),
    R(FIND_COORDINATOR, TIMED_OUT, RETRY, "No answer within request.timeout.ms: ask again."),
    R(FIND_COORDINATOR, ALL_BROKERS_DOWN, RETRY, "No broker is reachable yet: ask again."),

    /* InitProducerId. */
    R(INIT_PRODUCER_ID, NONE, SUCCESS, WHY_OK),
    R(INIT_PRODUCER_ID, NOT_COORDINATOR, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(INIT_PRODUCER_ID, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(INIT_PRODUCER_ID, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(INIT_PRODUCER_ID, CONCURRENT_TRANSACTIONS, RETRY,
      "The previous producer's transaction is being aborted: retry soon (short, growing backoff)."),
    R(INIT_PRODUCER_ID, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(INIT_PRODUCER_ID, CLUSTER_AUTHORIZATION_FAILED, FATAL, WHY_CLUSTER_AUTHZ),
    R(INIT_PRODUCER_ID, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(INIT_PRODUCER_ID, INVALID_PRODUCER_EPOCH, FATAL, WHY_OLD_FENCED),
    R(INIT_PRODUCER_ID, INVALID_TRANSACTION_TIMEOUT, FATAL,
      "transaction.timeout.ms exceeds the broker's transaction.max.timeout.ms: fix the config."),
    R(INIT_PRODUCER_ID, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(INIT_PRODUCER_ID, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(INIT_PRODUCER_ID, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(INIT_PRODUCER_ID, TRANSPORT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(INIT_PRODUCER_ID, TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),

    /* AddPartitionsToTxn, per partition. */
    R(ADD_PARTITIONS, NONE, SUCCESS, WHY_OK),
    R(ADD_PARTITIONS, NOT_COORDINATOR, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(ADD_PARTITIONS, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(ADD_PARTITIONS, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(ADD_PARTITIONS, CONCURRENT_TRANSACTIONS, RETRY, WHY_CONCURRENT),
    R(ADD_PARTITIONS, UNKNOWN_TOPIC_OR_PARTITION, RETRY,
      "The coordinator does not know the partition yet (metadata propagation): retry."),
    R(ADD_PARTITIONS, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(ADD_PARTITIONS, INVALID_PRODUCER_EPOCH, FATAL, WHY_OLD_FENCED),
    R(ADD_PARTITIONS, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(ADD_PARTITIONS, INVALID_TXN_STATE, FATAL, WHY_BAD_STATE),
    R(ADD_PARTITIONS, TOPIC_AUTHORIZATION_FAILED, ABORTABLE,
      "The principal may not write the topic: the transaction cannot include it; abort."),
    R(ADD_PARTITIONS, OPERATION_NOT_ATTEMPTED, NOT_ATTEMPTED,
      "Not attempted because other partitions failed: their errors decide."),
    RB(ADD_PARTITIONS, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    RB(ADD_PARTITIONS, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    R(ADD_PARTITIONS, TRANSACTION_ABORTABLE, ABORTABLE, WHY_TXN_ABORTABLE),
    R(ADD_PARTITIONS, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(ADD_PARTITIONS, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_PARTITIONS, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_PARTITIONS, TRANSPORT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_PARTITIONS, TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),

    /* AddOffsetsToTxn. */
    R(ADD_OFFSETS, NONE, SUCCESS, WHY_OK),
    R(ADD_OFFSETS, NOT_COORDINATOR, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(ADD_OFFSETS, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(ADD_OFFSETS, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(ADD_OFFSETS, CONCURRENT_TRANSACTIONS, RETRY, WHY_CONCURRENT),
    RB(ADD_OFFSETS, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    RB(ADD_OFFSETS, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    R(ADD_OFFSETS, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(ADD_OFFSETS, INVALID_PRODUCER_EPOCH, FATAL, WHY_OLD_FENCED),
    R(ADD_OFFSETS, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(ADD_OFFSETS, GROUP_AUTHORIZATION_FAILED, ABORTABLE,
      "The principal may not commit offsets of the group: abort."),
    R(ADD_OFFSETS, INVALID_TXN_STATE, FATAL, WHY_BAD_STATE),
    R(ADD_OFFSETS, TRANSACTION_ABORTABLE, ABORTABLE, WHY_TXN_ABORTABLE),
    R(ADD_OFFSETS, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(ADD_OFFSETS, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_OFFSETS, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_OFFSETS, TRANSPORT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(ADD_OFFSETS, TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),

    /* TxnOffsetCommit, per partition, to the GROUP coordinator. */
    R(TXN_OFFSET_COMMIT, NONE, SUCCESS, WHY_OK),
    R(TXN_OFFSET_COMMIT, NOT_COORDINATOR, RETRY_FIND_COORDINATOR,
      "The group coordinator moved: look it up again, then retry the failed partitions."),
    R(TXN_OFFSET_COMMIT, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR,
      "The group coordinator moved: look it up again, then retry the failed partitions."),
    R(TXN_OFFSET_COMMIT, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR,
      "The group coordinator timed out: look it up again, then retry (as Kafka's client)."),
    R(TXN_OFFSET_COMMIT, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(TXN_OFFSET_COMMIT, UNKNOWN_TOPIC_OR_PARTITION, RETRY,
      "The coordinator does not know the partition yet: retry the same coordinator."),
    R(TXN_OFFSET_COMMIT, CONCURRENT_TRANSACTIONS, RETRY, WHY_CONCURRENT),
    R(TXN_OFFSET_COMMIT, GROUP_AUTHORIZATION_FAILED, ABORTABLE,
      "The principal may not commit offsets of the group: abort."),
    RV(TXN_OFFSET_COMMIT, UNKNOWN_MEMBER_ID, 3, ABORTABLE,
       "The consumer left or was removed from the group (KIP-447): abort, rewind, rejoin."),
    RV(TXN_OFFSET_COMMIT, ILLEGAL_GENERATION, 3, ABORTABLE,
       "The group rebalanced since the offsets were read (KIP-447): abort and rewind."),
    RV(TXN_OFFSET_COMMIT, FENCED_INSTANCE_ID, 3, ABORTABLE,
       "Another consumer took over the static member id (KIP-447): abort."),
    R(TXN_OFFSET_COMMIT, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(TXN_OFFSET_COMMIT, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(TXN_OFFSET_COMMIT, INVALID_PRODUCER_EPOCH, FATAL, WHY_OLD_FENCED),
    R(TXN_OFFSET_COMMIT, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL,
      "The offsets topic's message format cannot hold transactional offsets."),
    R(TXN_OFFSET_COMMIT, TRANSACTION_ABORTABLE, ABORTABLE, WHY_TXN_ABORTABLE),
    R(TXN_OFFSET_COMMIT, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(TXN_OFFSET_COMMIT, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(TXN_OFFSET_COMMIT, TRANSPORT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),
    R(TXN_OFFSET_COMMIT, TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_UNKNOWN_OUTCOME),

    /* EndTxn. */
    R(END_TXN, NONE, SUCCESS, "The coordinator recorded the outcome; markers follow."),
    R(END_TXN, NOT_COORDINATOR, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(END_TXN, COORDINATOR_NOT_AVAILABLE, RETRY_FIND_COORDINATOR, WHY_COORD_MOVED),
    R(END_TXN, COORDINATOR_LOAD_IN_PROGRESS, RETRY, WHY_LOADING),
    R(END_TXN, CONCURRENT_TRANSACTIONS, RETRY, WHY_CONCURRENT),
    R(END_TXN, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(END_TXN, INVALID_PRODUCER_EPOCH, FATAL, WHY_OLD_FENCED),
    R(END_TXN, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(END_TXN, INVALID_TXN_STATE, FATAL, WHY_BAD_STATE),
    RB(END_TXN, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    RB(END_TXN, INVALID_PRODUCER_ID_MAPPING, ABORTABLE_BUMP_EPOCH, FATAL, WHY_NO_PID),
    R(END_TXN, TRANSACTION_ABORTABLE, ABORTABLE, WHY_TXN_ABORTABLE),
    R(END_TXN, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(END_TXN, REQUEST_TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_END_UNKNOWN),
    R(END_TXN, NETWORK_EXCEPTION, RETRY_FIND_COORDINATOR, WHY_END_UNKNOWN),
    R(END_TXN, TRANSPORT, RETRY_FIND_COORDINATOR, WHY_END_UNKNOWN),
    R(END_TXN, TIMED_OUT, RETRY_FIND_COORDINATOR, WHY_END_UNKNOWN),
    R(END_TXN, ALL_BROKERS_DOWN, RETRY_FIND_COORDINATOR, WHY_END_UNKNOWN),

    /* Produce inside a transaction, per partition. */
    R(PRODUCE_TXN, NONE, SUCCESS, WHY_OK),
    R(PRODUCE_TXN, DUPLICATE_SEQUENCE_NUMBER, DUPLICATE_AS_SUCCESS, WHY_DUP),
    R(PRODUCE_TXN, NOT_LEADER_OR_FOLLOWER, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, UNKNOWN_TOPIC_OR_PARTITION, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, LEADER_NOT_AVAILABLE, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, FENCED_LEADER_EPOCH, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, UNKNOWN_LEADER_EPOCH, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, UNKNOWN_TOPIC_ID, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_TXN, KAFKA_STORAGE_ERROR, RETRY_REFRESH_METADATA,
      "The leader's disk failed: the partition will move; refresh metadata, then retry."),
    R(PRODUCE_TXN, NETWORK_EXCEPTION, RETRY_REFRESH_METADATA, WHY_DISCONNECT),
    R(PRODUCE_TXN, TRANSPORT, RETRY_REFRESH_METADATA, WHY_DISCONNECT),
    R(PRODUCE_TXN, REQUEST_TIMED_OUT, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_TXN, TIMED_OUT, RETRY, "No answer within request.timeout.ms: retry the batch."),
    R(PRODUCE_TXN, NOT_ENOUGH_REPLICAS, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_TXN, NOT_ENOUGH_REPLICAS_AFTER_APPEND, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_TXN, CORRUPT_MESSAGE, RETRY,
      "Kafka marks CORRUPT_MESSAGE retriable (damaged in transit): retry until delivery.timeout.ms."),
    R(PRODUCE_TXN, CONCURRENT_TRANSACTIONS, RETRY,
      "The partition leader is still verifying the transaction (KIP-890): retry."),
    RB(PRODUCE_TXN, INVALID_PRODUCER_EPOCH, ABORTABLE_BUMP_EPOCH, ABORTABLE,
       "KIP-588: the coordinator aborted the transaction on timeout and bumped the epoch: "
       "abortable, not fatal; abort, then bump."),
    RB(PRODUCE_TXN, UNKNOWN_PRODUCER_ID, ABORTABLE_BUMP_EPOCH, ABORTABLE,
       "The partition lost the producer's state: abort, then bump the epoch (KIP-360)."),
    RB(PRODUCE_TXN, OUT_OF_ORDER_SEQUENCE_NUMBER, ABORTABLE_BUMP_EPOCH, ABORTABLE,
       "A gap in the partition's sequence: abort, then bump the epoch (KIP-360)."),
    RB(PRODUCE_TXN, TRANSACTION_ABORTABLE, ABORTABLE_BUMP_EPOCH, ABORTABLE, WHY_TXN_ABORTABLE),
    RB(PRODUCE_TXN, TOPIC_AUTHORIZATION_FAILED, ABORTABLE_BUMP_EPOCH, ABORTABLE,
       "The principal may not write the topic: the record fails and the transaction aborts."),
    RB(PRODUCE_TXN, MESSAGE_TOO_LARGE, ABORTABLE_BUMP_EPOCH, ABORTABLE, WHY_TXN_BATCH),
    RB(PRODUCE_TXN, RECORD_LIST_TOO_LARGE, ABORTABLE_BUMP_EPOCH, ABORTABLE, WHY_TXN_BATCH),
    RB(PRODUCE_TXN, INVALID_RECORD, ABORTABLE_BUMP_EPOCH, ABORTABLE, WHY_TXN_BATCH),
    RB(PRODUCE_TXN, INVALID_TIMESTAMP, ABORTABLE_BUMP_EPOCH, ABORTABLE, WHY_TXN_BATCH),
    RB(PRODUCE_TXN, MSG_TIMED_OUT, ABORTABLE_BUMP_EPOCH, ABORTABLE,
       "A batch expired after being sent: its fate is unknown; abort, then bump the epoch."),
    R(PRODUCE_TXN, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(PRODUCE_TXN, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, FATAL, WHY_TXN_AUTHZ),
    R(PRODUCE_TXN, CLUSTER_AUTHORIZATION_FAILED, FATAL, WHY_CLUSTER_AUTHZ),
    R(PRODUCE_TXN, INVALID_TXN_STATE, FATAL, WHY_BAD_STATE),
    R(PRODUCE_TXN, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(PRODUCE_TXN, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL,
      "The topic's message format predates transactions."),

    /* Produce of an idempotent (non-transactional) producer, per partition. */
    R(PRODUCE_IDEMPOTENT, NONE, SUCCESS, WHY_OK),
    R(PRODUCE_IDEMPOTENT, DUPLICATE_SEQUENCE_NUMBER, DUPLICATE_AS_SUCCESS, WHY_DUP),
    R(PRODUCE_IDEMPOTENT, NOT_LEADER_OR_FOLLOWER, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, UNKNOWN_TOPIC_OR_PARTITION, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, LEADER_NOT_AVAILABLE, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, FENCED_LEADER_EPOCH, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, UNKNOWN_LEADER_EPOCH, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, UNKNOWN_TOPIC_ID, RETRY_REFRESH_METADATA, WHY_LEADER),
    R(PRODUCE_IDEMPOTENT, KAFKA_STORAGE_ERROR, RETRY_REFRESH_METADATA,
      "The leader's disk failed: the partition will move; refresh metadata, then retry."),
    R(PRODUCE_IDEMPOTENT, NETWORK_EXCEPTION, RETRY_REFRESH_METADATA, WHY_DISCONNECT),
    R(PRODUCE_IDEMPOTENT, TRANSPORT, RETRY_REFRESH_METADATA, WHY_DISCONNECT),
    R(PRODUCE_IDEMPOTENT, REQUEST_TIMED_OUT, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_IDEMPOTENT, TIMED_OUT, RETRY, "No answer within request.timeout.ms: retry the batch."),
    R(PRODUCE_IDEMPOTENT, NOT_ENOUGH_REPLICAS, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_IDEMPOTENT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, RETRY, WHY_BROKER_RETRY),
    R(PRODUCE_IDEMPOTENT, CORRUPT_MESSAGE, RETRY,
      "Kafka marks CORRUPT_MESSAGE retriable (damaged in transit): retry until delivery.timeout.ms."),
    R(PRODUCE_IDEMPOTENT, OUT_OF_ORDER_SEQUENCE_NUMBER, BUMP_EPOCH,
      "A gap in the partition's sequence: drain in-flight requests, bump the epoch, restart "
      "sequences at 0 and retry."),
    R(PRODUCE_IDEMPOTENT, UNKNOWN_PRODUCER_ID, BUMP_EPOCH,
      "The partition lost the producer's state (retention): drain, bump the epoch, restart "
      "sequences at 0 and retry."),
    R(PRODUCE_IDEMPOTENT, INVALID_PRODUCER_EPOCH, FAIL_BATCH,
      "The batch carried an epoch older than the partition's: it fails; the epoch bump that "
      "follows closes the gap."),
    R(PRODUCE_IDEMPOTENT, TOPIC_AUTHORIZATION_FAILED, FAIL_BATCH,
      "The principal may not write the topic: the records fail."),
    R(PRODUCE_IDEMPOTENT, MESSAGE_TOO_LARGE, FAIL_BATCH, WHY_IDEM_BATCH),
    R(PRODUCE_IDEMPOTENT, RECORD_LIST_TOO_LARGE, FAIL_BATCH, WHY_IDEM_BATCH),
    R(PRODUCE_IDEMPOTENT, INVALID_RECORD, FAIL_BATCH, WHY_IDEM_BATCH),
    R(PRODUCE_IDEMPOTENT, INVALID_TIMESTAMP, FAIL_BATCH, WHY_IDEM_BATCH),
    R(PRODUCE_IDEMPOTENT, MSG_TIMED_OUT, FAIL_BATCH,
      "A batch expired (delivery.timeout.ms): its records fail; an epoch bump resolves the "
      "partition's sequence."),
    R(PRODUCE_IDEMPOTENT, CLUSTER_AUTHORIZATION_FAILED, FATAL, WHY_CLUSTER_AUTHZ),
    R(PRODUCE_IDEMPOTENT, PRODUCER_FENCED, FATAL, WHY_FENCED),
    R(PRODUCE_IDEMPOTENT, UNSUPPORTED_VERSION, FATAL, WHY_NO_VERSION),
    R(PRODUCE_IDEMPOTENT, UNSUPPORTED_FOR_MESSAGE_FORMAT, FATAL,
      "The topic's message format predates idempotence."),
};

/* Indexed by enum ktx__txn_request. */
static const struct ktx__txn_default defaults[KTX__TXN_REQ_COUNT] = {
    {KTX__TXN_REQ_FIND_COORDINATOR, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FATAL,
     "Unexpected: retry when Kafka marks the code retriable, otherwise fatal (as Kafka's client)."},
    {KTX__TXN_REQ_INIT_PRODUCER_ID, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FATAL,
     "Unexpected: retry when Kafka marks the code retriable, otherwise fatal (as Kafka's client)."},
    {KTX__TXN_REQ_ADD_PARTITIONS, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_ABORTABLE,
     "Unexpected: retry when Kafka marks the code retriable, otherwise abortable (Kafka's client "
     "fails the partitions and makes the transaction abortable)."},
    {KTX__TXN_REQ_ADD_OFFSETS, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FATAL,
     "Unexpected: retry when Kafka marks the code retriable, otherwise fatal (as Kafka's client)."},
    {KTX__TXN_REQ_TXN_OFFSET_COMMIT, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FATAL,
     "Unexpected: retry when Kafka marks the code retriable, otherwise fatal (as Kafka's client)."},
    {KTX__TXN_REQ_END_TXN, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FATAL,
     "Unexpected: retry when Kafka marks the code retriable, otherwise fatal (as Kafka's client)."},
    {KTX__TXN_REQ_PRODUCE_TXN, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH,
     "Retriable codes are retried until delivery.timeout.ms; any other failure fails the batch, "
     "so the transaction aborts and the epoch is bumped (abortable without bump support)."},
    {KTX__TXN_REQ_PRODUCE_IDEMPOTENT, KTX__TXN_ACT_RETRY, KTX__TXN_ACT_FAIL_BATCH,
     "Retriable codes are retried until delivery.timeout.ms; any other failure fails the batch."},
};

static const char *const action_names[KTX__TXN_ACT_COUNT] = {
    "SUCCESS", "DUPLICATE_AS_SUCCESS", "NOT_ATTEMPTED", "RETRY", "RETRY_REFRESH_METADATA",
    "RETRY_FIND_COORDINATOR", "BUMP_EPOCH", "FAIL_BATCH", "ABORTABLE", "ABORTABLE_BUMP_EPOCH",
    "FATAL",
};

static const char *const request_names[KTX__TXN_REQ_COUNT] = {
    "FindCoordinator", "InitProducerId", "AddPartitionsToTxn", "AddOffsetsToTxn",
    "TxnOffsetCommit", "EndTxn", "Produce (transactional)", "Produce (idempotent)",
};

/* Returns the row for |req| and |code| that applies to |ctx|, or NULL. */
static const struct ktx__txn_rule *find_rule(enum ktx__txn_request req, int code,
                                             const struct ktx__txn_classify_ctx *ctx)
{
    int16_t version = ctx ? ctx->version : -1;
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(rules); i++) {
        const struct ktx__txn_rule *rule = &rules[i];

        if (rule->req != req || rule->code != code)
            continue;
        if (version >= 0 && version < rule->min_version)
            return NULL;
        return rule;
    }
    return NULL;
}

/* Returns the action of |rule| under |ctx| (the fallback when the epoch cannot be bumped). */
static enum ktx__txn_action rule_action(const struct ktx__txn_rule *rule,
                                        const struct ktx__txn_classify_ctx *ctx)
{
    if (ctx && !ctx->epoch_bump_supported)
        return rule->no_bump_action;
    return rule->action;
}

enum ktx__txn_action ktx__txn_classify(enum ktx__txn_request req, int error_code,
                                       const struct ktx__txn_classify_ctx *ctx)
{
    const struct ktx__txn_rule *rule;
    const struct ktx__txn_default *def;
    enum ktx__txn_action action;

    if ((unsigned)req >= KTX__TXN_REQ_COUNT)
        return KTX__TXN_ACT_FATAL;
    rule = find_rule(req, error_code, ctx);
    if (rule)
        return rule_action(rule, ctx);
    def = &defaults[req];
    action = ktx__err_is_retriable(error_code) ? def->retriable_action : def->other_action;
    /* Without KIP-360 support an epoch bump is impossible: the plain abortable error remains. */
    if (action == KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH && ctx && !ctx->epoch_bump_supported)
        action = KTX__TXN_ACT_ABORTABLE;
    return action;
}

const char *ktx__txn_classify_reason(enum ktx__txn_request req, int error_code,
                                     const struct ktx__txn_classify_ctx *ctx)
{
    const struct ktx__txn_rule *rule;

    if ((unsigned)req >= KTX__TXN_REQ_COUNT)
        return "Unknown request.";
    rule = find_rule(req, error_code, ctx);
    return rule ? rule->reason : defaults[req].reason;
}

/* Returns |base| * 2^|attempt|, capped at |cap|, without overflowing. */
static int grow(int base, int attempt, int cap)
{
    long long ms = base > 0 ? base : 0;
    int i;

    for (i = 0; i < attempt && ms < cap; i++)
        ms *= 2;
    return (int)(ms < cap ? ms : cap);
}

int ktx__txn_retry_backoff_ms(enum ktx__txn_request req, int error_code, int attempt,
                              int retry_backoff_ms, int retry_backoff_max_ms)
{
    /* First retry after CONCURRENT_TRANSACTIONS: markers of the previous transaction are
     * usually written within a few milliseconds. */
    const int concurrent_first_ms = 5;

    (void)req;
    if (attempt < 0)
        attempt = 0;
    if (retry_backoff_max_ms < retry_backoff_ms)
        retry_backoff_max_ms = retry_backoff_ms;
    if (error_code == KTX_ERR_CONCURRENT_TRANSACTIONS)
        return grow(KTX__MIN(concurrent_first_ms, retry_backoff_ms), attempt, retry_backoff_ms);
    return grow(retry_backoff_ms, attempt, retry_backoff_max_ms);
}

enum ktx__txn_action ktx__txn_action_combine(enum ktx__txn_action a, enum ktx__txn_action b)
{
    return a > b ? a : b;
}

/* Returns the class flags for |action|, for ktx__error_new(). */
static unsigned action_flags(enum ktx__txn_action action)
{
    switch (action) {
    case KTX__TXN_ACT_RETRY:
    case KTX__TXN_ACT_RETRY_REFRESH_METADATA:
    case KTX__TXN_ACT_RETRY_FIND_COORDINATOR:
    case KTX__TXN_ACT_BUMP_EPOCH:
        return KTX__ERR_F_RETRIABLE;
    case KTX__TXN_ACT_NOT_ATTEMPTED:
    case KTX__TXN_ACT_ABORTABLE:
    case KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH:
        return KTX__ERR_F_ABORTABLE;
    case KTX__TXN_ACT_FAIL_BATCH:
        return 0;
    default:
        return KTX__ERR_F_FATAL;
    }
}

ktx_error_t *ktx__txn_action_error(enum ktx__txn_action action, int code, const char *fmt, ...)
{
    ktx_error_t *err;
    unsigned flags;
    va_list ap;

    if (action == KTX__TXN_ACT_SUCCESS || action == KTX__TXN_ACT_DUPLICATE_AS_SUCCESS)
        return NULL;
    /* FAIL_BATCH passes no flag, which ktx__error_new() reads as "retriable from the error
     * table": the table only gives FAIL_BATCH for codes Kafka does not mark retriable, so the
     * error has no class (tests/check_txn_classify.c checks this for every row). */
    flags = action_flags(action);
    va_start(ap, fmt);
    err = ktx__error_newv(code, flags, fmt, ap);
    va_end(ap);
    return err;
}

ktx_error_t *ktx__txn_classify_error(enum ktx__txn_request req, int error_code,
                                     const struct ktx__txn_classify_ctx *ctx,
                                     enum ktx__txn_action *actionp)
{
    enum ktx__txn_action action = ktx__txn_classify(req, error_code, ctx);

    if (actionp)
        *actionp = action;
    if (action == KTX__TXN_ACT_FATAL && error_code == KTX_ERR_INVALID_PRODUCER_EPOCH &&
        req != KTX__TXN_REQ_PRODUCE_TXN && req != KTX__TXN_REQ_PRODUCE_IDEMPOTENT)
        return ktx__txn_action_error(action, KTX_ERR_PRODUCER_FENCED,
                                     "%s answered INVALID_PRODUCER_EPOCH: a newer producer with "
                                     "the same transactional.id fenced this one",
                                     ktx__txn_request_name(req));
    return ktx__txn_action_error(action, error_code, "%s failed: %s",
                                 ktx__txn_request_name(req), ktx_err_description(error_code));
}

const char *ktx__txn_action_name(enum ktx__txn_action action)
{
    if ((unsigned)action >= KTX__TXN_ACT_COUNT)
        return "?";
    return action_names[action];
}

const char *ktx__txn_request_name(enum ktx__txn_request req)
{
    if ((unsigned)req >= KTX__TXN_REQ_COUNT)
        return "?";
    return request_names[req];
}

const struct ktx__txn_rule *ktx__txn_rules(size_t *count)
{
    *count = KTX__ARRAY_LEN(rules);
    return rules;
}

const struct ktx__txn_default *ktx__txn_defaults(size_t *count)
{
    *count = KTX__ARRAY_LEN(defaults);
    return defaults;
}
