/*
 * The error object and the table of error codes.
 *
 * The table holds one row per code. Kafka's rows (-1 .. 133) follow
 * org.apache.kafka.common.protocol.Errors: the names are Kafka's, "retriable" is true exactly
 * when Kafka's exception class extends RetriableException, and the descriptions are our own
 * one-line summaries. Local rows (-100 and below) are kafkatx's; their names begin with '_'.
 * docs/errors.md is checked against this table by tests/check_error.c.
 */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set on errors that live in static storage and must never be freed. */
#define ERR_F_STATIC 0x100u

struct ktx_error {
    int code;
    unsigned flags;           /* KTX__ERR_F_* plus ERR_F_STATIC */
    char name[32];            /* only used for codes missing from the table */
    char message[];           /* NUL-terminated */
};

/* Sorted by code, ascending: ktx__err_lookup() relies on it. */
static const struct ktx__err_desc err_table[] = {
    /* Local codes. */
    {KTX_ERR_PRODUCER_ID_RESET, "_PRODUCER_ID_RESET",
     "The broker no longer knew the producer id; a new producer id or epoch was obtained.", false},
    {KTX_ERR_ALL_BROKERS_DOWN, "_ALL_BROKERS_DOWN", "No broker could be reached.", true},
    {KTX_ERR_MSG_TIMED_OUT, "_MSG_TIMED_OUT",
     "A record was not acknowledged within delivery.timeout.ms; it may or may not have been written.",
     false},
    {KTX_ERR_AUTH, "_AUTH", "TLS or SASL authentication failed.", false},
    {KTX_ERR_STORE, "_STORE", "The persisted state store failed.", false},
    {KTX_ERR_FATAL, "_FATAL", "The producer hit a fatal error and can only be destroyed.", false},
    {KTX_ERR_PURGED, "_PURGED", "The record was discarded, e.g. because its transaction was aborted.",
     false},
    {KTX_ERR_CLOSED, "_CLOSED", "The producer is closing or closed.", false},
    {KTX_ERR_BAD_CONFIG, "_BAD_CONFIG", "A configuration value is invalid.", false},
    {KTX_ERR_UNKNOWN_PROPERTY, "_UNKNOWN_PROPERTY", "No configuration property has that name.", false},
    {KTX_ERR_UNSUPPORTED, "_UNSUPPORTED", "The feature or protocol version is not supported.", false},
    {KTX_ERR_QUEUE_FULL, "_QUEUE_FULL", "The producer's buffer (buffer.memory) is full.", true},
    {KTX_ERR_NO_MEMORY, "_NO_MEMORY", "A memory allocation failed.", false},
    {KTX_ERR_INVALID_ARG, "_INVALID_ARG", "An argument is invalid.", false},
    {KTX_ERR_STATE, "_STATE", "The call is not valid in the current state.", false},
    {KTX_ERR_TIMED_OUT, "_TIMED_OUT", "The operation did not complete within its timeout.", true},
    {KTX_ERR_TRANSPORT, "_TRANSPORT", "A connection to a broker failed or was closed.", true},
    {KTX_ERR_BAD_MSG, "_BAD_MSG", "A protocol message was malformed or truncated.", false},

    /* Kafka's codes. */
    {KTX_ERR_UNKNOWN_SERVER_ERROR, "UNKNOWN_SERVER_ERROR",
     "The broker hit an unexpected error while handling the request.", false},
    {KTX_ERR_NONE, "NONE", "Success.", false},
    {KTX_ERR_OFFSET_OUT_OF_RANGE, "OFFSET_OUT_OF_RANGE",
     "The offset is outside the range the broker keeps for the partition.", false},
    {KTX_ERR_CORRUPT_MESSAGE, "CORRUPT_MESSAGE",
     "A record failed its CRC check, has an invalid size or is otherwise corrupt.", true},
    {KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION, "UNKNOWN_TOPIC_OR_PARTITION",
     "The broker does not host this topic-partition.", true},
    {KTX_ERR_INVALID_FETCH_SIZE, "INVALID_FETCH_SIZE", "The fetch size is invalid.", false},
    {KTX_ERR_LEADER_NOT_AVAILABLE, "LEADER_NOT_AVAILABLE",
     "The partition has no leader right now, e.g. during a leader election.", true},
    {KTX_ERR_NOT_LEADER_OR_FOLLOWER, "NOT_LEADER_OR_FOLLOWER",
     "The broker is not the leader (or not a replica) of the partition.", true},
    {KTX_ERR_REQUEST_TIMED_OUT, "REQUEST_TIMED_OUT", "The broker timed the request out.", true},
    {KTX_ERR_BROKER_NOT_AVAILABLE, "BROKER_NOT_AVAILABLE", "The broker is not available.", false},
    {KTX_ERR_REPLICA_NOT_AVAILABLE, "REPLICA_NOT_AVAILABLE",
     "The replica is not available for the partition.", true},
    {KTX_ERR_MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE",
     "The request holds a record larger than the broker accepts.", false},
    {KTX_ERR_STALE_CONTROLLER_EPOCH, "STALE_CONTROLLER_EPOCH",
     "The controller moved to another broker.", false},
    {KTX_ERR_OFFSET_METADATA_TOO_LARGE, "OFFSET_METADATA_TOO_LARGE",
     "The metadata string of an offset commit is too large.", false},
    {KTX_ERR_NETWORK_EXCEPTION, "NETWORK_EXCEPTION",
     "The connection closed before a response was received.", true},
    {KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS, "COORDINATOR_LOAD_IN_PROGRESS",
     "The coordinator is still loading its state.", true},
    {KTX_ERR_COORDINATOR_NOT_AVAILABLE, "COORDINATOR_NOT_AVAILABLE",
     "The coordinator is not available.", true},
    {KTX_ERR_NOT_COORDINATOR, "NOT_COORDINATOR", "The broker is not the coordinator for this key.",
     true},
    {KTX_ERR_INVALID_TOPIC_EXCEPTION, "INVALID_TOPIC_EXCEPTION",
     "The topic is invalid for this operation (bad name or internal topic).", false},
    {KTX_ERR_RECORD_LIST_TOO_LARGE, "RECORD_LIST_TOO_LARGE",
     "The record batch is larger than the topic's segment size.", false},
    {KTX_ERR_NOT_ENOUGH_REPLICAS, "NOT_ENOUGH_REPLICAS",
     "Fewer in-sync replicas than min.insync.replicas; the records were rejected.", true},
    {KTX_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
     "The records were written, but to fewer in-sync replicas than required.", true},
    {KTX_ERR_INVALID_REQUIRED_ACKS, "INVALID_REQUIRED_ACKS",
     "The produce request's acks value is invalid.", false},
    {KTX_ERR_ILLEGAL_GENERATION, "ILLEGAL_GENERATION", "The group generation id is not valid.", false},
    {KTX_ERR_INCONSISTENT_GROUP_PROTOCOL, "INCONSISTENT_GROUP_PROTOCOL",
     "The member's protocols do not match those of the group.", false},
    {KTX_ERR_INVALID_GROUP_ID, "INVALID_GROUP_ID", "The group id is invalid.", false},
    {KTX_ERR_UNKNOWN_MEMBER_ID, "UNKNOWN_MEMBER_ID", "The coordinator does not know this member.",
     false},
    {KTX_ERR_INVALID_SESSION_TIMEOUT, "INVALID_SESSION_TIMEOUT",
     "The session timeout is outside the broker's allowed range.", false},
    {KTX_ERR_REBALANCE_IN_PROGRESS, "REBALANCE_IN_PROGRESS",
     "The group is rebalancing; the member must rejoin.", false},
    {KTX_ERR_INVALID_COMMIT_OFFSET_SIZE, "INVALID_COMMIT_OFFSET_SIZE",
     "The size of the offset commit data is invalid.", false},
    {KTX_ERR_TOPIC_AUTHORIZATION_FAILED, "TOPIC_AUTHORIZATION_FAILED",
     "Not authorized to access the topic.", false},
    {KTX_ERR_GROUP_AUTHORIZATION_FAILED, "GROUP_AUTHORIZATION_FAILED",
     "Not authorized to access the group.", false},
    {KTX_ERR_CLUSTER_AUTHORIZATION_FAILED, "CLUSTER_AUTHORIZATION_FAILED",
     "Not authorized for the cluster operation.", false},
    {KTX_ERR_INVALID_TIMESTAMP, "INVALID_TIMESTAMP",
     "A record timestamp is outside the accepted range.", false},
    {KTX_ERR_UNSUPPORTED_SASL_MECHANISM, "UNSUPPORTED_SASL_MECHANISM",
     "The broker does not support the SASL mechanism.", false},
    {KTX_ERR_ILLEGAL_SASL_STATE, "ILLEGAL_SASL_STATE",
     "The request is not valid in the current SASL state.", false},
    {KTX_ERR_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION",
     "The broker does not support this API version.", false},
    {KTX_ERR_TOPIC_ALREADY_EXISTS, "TOPIC_ALREADY_EXISTS", "A topic with this name already exists.",
     false},
    {KTX_ERR_INVALID_PARTITIONS, "INVALID_PARTITIONS", "The number of partitions is invalid.", false},
    {KTX_ERR_INVALID_REPLICATION_FACTOR, "INVALID_REPLICATION_FACTOR",
     "The replication factor is invalid.", false},
    {KTX_ERR_INVALID_REPLICA_ASSIGNMENT, "INVALID_REPLICA_ASSIGNMENT",
     "The replica assignment is invalid.", false},
    {KTX_ERR_INVALID_CONFIG, "INVALID_CONFIG", "The topic or broker configuration is invalid.", false},
    {KTX_ERR_NOT_CONTROLLER, "NOT_CONTROLLER", "The broker is not the cluster's controller.", true},
    {KTX_ERR_INVALID_REQUEST, "INVALID_REQUEST",
     "The request is malformed or was sent to an incompatible broker.", false},
    {KTX_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT, "UNSUPPORTED_FOR_MESSAGE_FORMAT",
     "The broker's message format version does not support the request.", false},
    {KTX_ERR_POLICY_VIOLATION, "POLICY_VIOLATION",
     "The request violates a policy configured on the broker.", false},
    {KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "OUT_OF_ORDER_SEQUENCE_NUMBER",
     "The broker received an out-of-order sequence number.", false},
    {KTX_ERR_DUPLICATE_SEQUENCE_NUMBER, "DUPLICATE_SEQUENCE_NUMBER",
     "The broker received a duplicate sequence number.", false},
    {KTX_ERR_INVALID_PRODUCER_EPOCH, "INVALID_PRODUCER_EPOCH",
     "The producer used an epoch older than the current one.", false},
    {KTX_ERR_INVALID_TXN_STATE, "INVALID_TXN_STATE",
     "The transactional operation is not valid in the transaction's state.", false},
    {KTX_ERR_INVALID_PRODUCER_ID_MAPPING, "INVALID_PRODUCER_ID_MAPPING",
     "The producer id is not the one assigned to this transactional id.", false},
    {KTX_ERR_INVALID_TRANSACTION_TIMEOUT, "INVALID_TRANSACTION_TIMEOUT",
     "The transaction timeout exceeds the broker's transaction.max.timeout.ms.", false},
    {KTX_ERR_CONCURRENT_TRANSACTIONS, "CONCURRENT_TRANSACTIONS",
     "Another operation on the same transaction is still in progress.", true},
    {KTX_ERR_TRANSACTION_COORDINATOR_FENCED, "TRANSACTION_COORDINATOR_FENCED",
     "The transaction coordinator that sent the markers is no longer current.", false},
    {KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
     "Not authorized to use the transactional id.", false},
    {KTX_ERR_SECURITY_DISABLED, "SECURITY_DISABLED", "Security features are disabled.", false},
    {KTX_ERR_OPERATION_NOT_ATTEMPTED, "OPERATION_NOT_ATTEMPTED",
     "The broker skipped this operation because another one in the batch failed.", false},
    {KTX_ERR_KAFKA_STORAGE_ERROR, "KAFKA_STORAGE_ERROR",
     "The broker hit a disk error while accessing the log.", true},
    {KTX_ERR_LOG_DIR_NOT_FOUND, "LOG_DIR_NOT_FOUND", "The log directory is not in the broker's config.",
     false},
    {KTX_ERR_SASL_AUTHENTICATION_FAILED, "SASL_AUTHENTICATION_FAILED", "SASL authentication failed.",
     false},
    {KTX_ERR_UNKNOWN_PRODUCER_ID, "UNKNOWN_PRODUCER_ID",
     "The broker has no state for the producer id, e.g. after its records expired.", false},
    {KTX_ERR_REASSIGNMENT_IN_PROGRESS, "REASSIGNMENT_IN_PROGRESS",
     "A partition reassignment is in progress.", false},
    {KTX_ERR_DELEGATION_TOKEN_AUTH_DISABLED, "DELEGATION_TOKEN_AUTH_DISABLED",
     "Delegation tokens are not enabled.", false},
    {KTX_ERR_DELEGATION_TOKEN_NOT_FOUND, "DELEGATION_TOKEN_NOT_FOUND",
     "The delegation token was not found.", false},
    {KTX_ERR_DELEGATION_TOKEN_OWNER_MISMATCH, "DELEGATION_TOKEN_OWNER_MISMATCH",
     "The principal is not the token's owner or renewer.", false},
    {KTX_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
     "Delegation token requests are not allowed on this kind of channel.", false},
    {KTX_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED, "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
     "Not authorized for the delegation token operation.", false},
    {KTX_ERR_DELEGATION_TOKEN_EXPIRED, "DELEGATION_TOKEN_EXPIRED", "The delegation token expired.",
     false},
    {KTX_ERR_INVALID_PRINCIPAL_TYPE, "INVALID_PRINCIPAL_TYPE", "The principal type is not supported.",
     false},
    {KTX_ERR_NON_EMPTY_GROUP, "NON_EMPTY_GROUP", "The group is not empty.", false},
    {KTX_ERR_GROUP_ID_NOT_FOUND, "GROUP_ID_NOT_FOUND", "The group id does not exist.", false},
    {KTX_ERR_FETCH_SESSION_ID_NOT_FOUND, "FETCH_SESSION_ID_NOT_FOUND",
     "The fetch session id was not found.", true},
    {KTX_ERR_INVALID_FETCH_SESSION_EPOCH, "INVALID_FETCH_SESSION_EPOCH",
     "The fetch session epoch is invalid.", true},
    {KTX_ERR_LISTENER_NOT_FOUND, "LISTENER_NOT_FOUND",
     "The leader has no listener matching the one the metadata request used.", true},
    {KTX_ERR_TOPIC_DELETION_DISABLED, "TOPIC_DELETION_DISABLED", "Topic deletion is disabled.", false},
    {KTX_ERR_FENCED_LEADER_EPOCH, "FENCED_LEADER_EPOCH",
     "The request's leader epoch is older than the broker's.", true},
    {KTX_ERR_UNKNOWN_LEADER_EPOCH, "UNKNOWN_LEADER_EPOCH",
     "The request's leader epoch is newer than the broker's.", true},
    {KTX_ERR_UNSUPPORTED_COMPRESSION_TYPE, "UNSUPPORTED_COMPRESSION_TYPE",
     "The client does not support the partition's compression type.", false},
    {KTX_ERR_STALE_BROKER_EPOCH, "STALE_BROKER_EPOCH", "The broker epoch has changed.", false},
    {KTX_ERR_OFFSET_NOT_AVAILABLE, "OFFSET_NOT_AVAILABLE",
     "The new leader's high watermark has not caught up yet.", true},
    {KTX_ERR_MEMBER_ID_REQUIRED, "MEMBER_ID_REQUIRED",
     "The member needs a member id before joining the group.", false},
    {KTX_ERR_PREFERRED_LEADER_NOT_AVAILABLE, "PREFERRED_LEADER_NOT_AVAILABLE",
     "The preferred leader is not available.", true},
    {KTX_ERR_GROUP_MAX_SIZE_REACHED, "GROUP_MAX_SIZE_REACHED", "The group reached its maximum size.",
     false},
    {KTX_ERR_FENCED_INSTANCE_ID, "FENCED_INSTANCE_ID",
     "Another member registered with the same group.instance.id.", false},
    {KTX_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE, "ELIGIBLE_LEADERS_NOT_AVAILABLE",
     "No eligible leader is available for the partition.", true},
    {KTX_ERR_ELECTION_NOT_NEEDED, "ELECTION_NOT_NEEDED", "No leader election is needed.", true},
    {KTX_ERR_NO_REASSIGNMENT_IN_PROGRESS, "NO_REASSIGNMENT_IN_PROGRESS",
     "No partition reassignment is in progress.", false},
    {KTX_ERR_GROUP_SUBSCRIBED_TO_TOPIC, "GROUP_SUBSCRIBED_TO_TOPIC",
     "The group is still subscribed to the topic whose offsets would be deleted.", false},
    {KTX_ERR_INVALID_RECORD, "INVALID_RECORD", "The broker's validation rejected the record.", false},
    {KTX_ERR_UNSTABLE_OFFSET_COMMIT, "UNSTABLE_OFFSET_COMMIT",
     "Pending transactional offsets must be resolved first.", true},
    {KTX_ERR_THROTTLING_QUOTA_EXCEEDED, "THROTTLING_QUOTA_EXCEEDED",
     "The throttling quota was exceeded.", true},
    {KTX_ERR_PRODUCER_FENCED, "PRODUCER_FENCED",
     "A newer producer with the same transactional id fenced this one.", false},
    {KTX_ERR_RESOURCE_NOT_FOUND, "RESOURCE_NOT_FOUND", "The request refers to a missing resource.",
     false},
    {KTX_ERR_DUPLICATE_RESOURCE, "DUPLICATE_RESOURCE", "The request refers to a resource twice.",
     false},
    {KTX_ERR_UNACCEPTABLE_CREDENTIAL, "UNACCEPTABLE_CREDENTIAL",
     "The credential does not meet the acceptance criteria.", false},
    {KTX_ERR_INCONSISTENT_VOTER_SET, "INCONSISTENT_VOTER_SET",
     "The sender or receiver of a voter request is not an expected voter.", false},
    {KTX_ERR_INVALID_UPDATE_VERSION, "INVALID_UPDATE_VERSION", "The update version is invalid.",
     false},
    {KTX_ERR_FEATURE_UPDATE_FAILED, "FEATURE_UPDATE_FAILED",
     "The finalized features could not be updated.", false},
    {KTX_ERR_PRINCIPAL_DESERIALIZATION_FAILURE, "PRINCIPAL_DESERIALIZATION_FAILURE",
     "The forwarded request's principal could not be deserialized.", false},
    {KTX_ERR_SNAPSHOT_NOT_FOUND, "SNAPSHOT_NOT_FOUND", "The snapshot was not found.", false},
    {KTX_ERR_POSITION_OUT_OF_RANGE, "POSITION_OUT_OF_RANGE",
     "The position is outside the snapshot.", false},
    {KTX_ERR_UNKNOWN_TOPIC_ID, "UNKNOWN_TOPIC_ID", "The broker does not host this topic id.", true},
    {KTX_ERR_DUPLICATE_BROKER_REGISTRATION, "DUPLICATE_BROKER_REGISTRATION",
     "The broker id is already in use.", false},
    {KTX_ERR_BROKER_ID_NOT_REGISTERED, "BROKER_ID_NOT_REGISTERED", "The broker id is not registered.",
     false},
    {KTX_ERR_INCONSISTENT_TOPIC_ID, "INCONSISTENT_TOPIC_ID",
     "The log's topic id does not match the request's.", true},
    {KTX_ERR_INCONSISTENT_CLUSTER_ID, "INCONSISTENT_CLUSTER_ID",
     "The request's cluster id does not match the server's.", false},
    {KTX_ERR_TRANSACTIONAL_ID_NOT_FOUND, "TRANSACTIONAL_ID_NOT_FOUND",
     "The transactional id was not found.", false},
    {KTX_ERR_FETCH_SESSION_TOPIC_ID_ERROR, "FETCH_SESSION_TOPIC_ID_ERROR",
     "The fetch session used topic ids inconsistently.", true},
    {KTX_ERR_INELIGIBLE_REPLICA, "INELIGIBLE_REPLICA",
     "The new ISR contains an ineligible replica.", false},
    {KTX_ERR_NEW_LEADER_ELECTED, "NEW_LEADER_ELECTED",
     "The partition state was updated but the leader changed.", false},
    {KTX_ERR_OFFSET_MOVED_TO_TIERED_STORAGE, "OFFSET_MOVED_TO_TIERED_STORAGE",
     "The offset was moved to tiered storage.", false},
    {KTX_ERR_FENCED_MEMBER_EPOCH, "FENCED_MEMBER_EPOCH",
     "The coordinator fenced the member epoch; the member must rejoin.", false},
    {KTX_ERR_UNRELEASED_INSTANCE_ID, "UNRELEASED_INSTANCE_ID",
     "Another member still uses the instance id.", false},
    {KTX_ERR_UNSUPPORTED_ASSIGNOR, "UNSUPPORTED_ASSIGNOR",
     "The group does not support the assignor or its versions.", false},
    {KTX_ERR_STALE_MEMBER_EPOCH, "STALE_MEMBER_EPOCH",
     "The member epoch is stale; retry after the next heartbeat.", false},
    {KTX_ERR_MISMATCHED_ENDPOINT_TYPE, "MISMATCHED_ENDPOINT_TYPE",
     "The request was sent to the wrong type of endpoint.", false},
    {KTX_ERR_UNSUPPORTED_ENDPOINT_TYPE, "UNSUPPORTED_ENDPOINT_TYPE",
     "The endpoint type is not supported.", false},
    {KTX_ERR_UNKNOWN_CONTROLLER_ID, "UNKNOWN_CONTROLLER_ID", "The controller id is not known.", false},
    {KTX_ERR_UNKNOWN_SUBSCRIPTION_ID, "UNKNOWN_SUBSCRIPTION_ID",
     "The telemetry subscription id is invalid or outdated.", false},
    {KTX_ERR_TELEMETRY_TOO_LARGE, "TELEMETRY_TOO_LARGE",
     "The telemetry push is larger than the broker accepts.", false},
    {KTX_ERR_INVALID_REGISTRATION, "INVALID_REGISTRATION",
     "The controller found the broker registration invalid.", false},
    {KTX_ERR_TRANSACTION_ABORTABLE, "TRANSACTION_ABORTABLE",
     "The transaction hit an error; abort it to go on using the transactional id.", false},
    {KTX_ERR_INVALID_RECORD_STATE, "INVALID_RECORD_STATE",
     "The record state is invalid for the acknowledgement.", false},
    {KTX_ERR_SHARE_SESSION_NOT_FOUND, "SHARE_SESSION_NOT_FOUND", "The share session was not found.",
     true},
    {KTX_ERR_INVALID_SHARE_SESSION_EPOCH, "INVALID_SHARE_SESSION_EPOCH",
     "The share session epoch is invalid.", true},
    {KTX_ERR_FENCED_STATE_EPOCH, "FENCED_STATE_EPOCH",
     "The share-group state epoch does not match.", false},
    {KTX_ERR_INVALID_VOTER_KEY, "INVALID_VOTER_KEY", "The voter key does not match the replica's.",
     false},
    {KTX_ERR_DUPLICATE_VOTER, "DUPLICATE_VOTER", "The voter is already in the voter set.", false},
    {KTX_ERR_VOTER_NOT_FOUND, "VOTER_NOT_FOUND", "The voter is not in the voter set.", false},
    {KTX_ERR_INVALID_REGULAR_EXPRESSION, "INVALID_REGULAR_EXPRESSION",
     "The regular expression is invalid.", false},
    {KTX_ERR_REBOOTSTRAP_REQUIRED, "REBOOTSTRAP_REQUIRED",
     "The client's metadata is stale; it must rebootstrap.", false},
    {KTX_ERR_STREAMS_INVALID_TOPOLOGY, "STREAMS_INVALID_TOPOLOGY", "The streams topology is invalid.",
     false},
    {KTX_ERR_STREAMS_INVALID_TOPOLOGY_EPOCH, "STREAMS_INVALID_TOPOLOGY_EPOCH",
     "The streams topology epoch is invalid.", false},
    {KTX_ERR_STREAMS_TOPOLOGY_FENCED, "STREAMS_TOPOLOGY_FENCED",
     "The streams topology epoch is outdated.", false},
    {KTX_ERR_SHARE_SESSION_LIMIT_REACHED, "SHARE_SESSION_LIMIT_REACHED",
     "The broker reached its limit of share sessions.", true},
};

/* The one error that never needs memory. Never modified after start-up. */
static struct ktx_error oom_error = {KTX_ERR_NO_MEMORY, ERR_F_STATIC, ""};
static const char oom_message[] = "Out of memory.";

const struct ktx__err_desc *ktx__err_table(size_t *count)
{
    *count = KTX__ARRAY_LEN(err_table);
    return err_table;
}

const struct ktx__err_desc *ktx__err_lookup(int code)
{
    size_t lo = 0, hi = KTX__ARRAY_LEN(err_table);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (err_table[mid].code == code)
            return &err_table[mid];
        if (err_table[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool ktx__err_is_retriable(int code)
{
    const struct ktx__err_desc *d = ktx__err_lookup(code);
    return d != NULL && d->retriable;
}

const char *ktx_err_name(int code)
{
    const struct ktx__err_desc *d = ktx__err_lookup(code);
    return d ? d->name : "UNKNOWN_CODE";
}

const char *ktx_err_description(int code)
{
    const struct ktx__err_desc *d = ktx__err_lookup(code);
    return d ? d->desc : "An error code that kafkatx does not know.";
}

ktx_error_t *ktx__error_oom(void)
{
    return &oom_error;
}

/* Applies the class rule: no flags means "retriable from the table"; fatal wins. */
static unsigned class_flags(int code, unsigned flags)
{
    flags &= KTX__ERR_F_RETRIABLE | KTX__ERR_F_ABORTABLE | KTX__ERR_F_FATAL;
    if (flags == 0)
        return ktx__err_is_retriable(code) ? KTX__ERR_F_RETRIABLE : 0;
    if (flags & KTX__ERR_F_FATAL)
        return KTX__ERR_F_FATAL;
    return flags;
}

/* Allocates an error with room for a |len|-byte message; fills everything but the text. */
static struct ktx_error *error_alloc(int code, unsigned flags, size_t len)
{
    struct ktx_error *err = malloc(sizeof(*err) + len + 1);

    if (!err)
        return NULL;
    err->code = code;
    err->flags = class_flags(code, flags);
    if (ktx__err_lookup(code))
        err->name[0] = '\0';
    else
        snprintf(err->name, sizeof(err->name), "UNKNOWN_CODE_%d", code);
    return err;
}

ktx_error_t *ktx__error_newv(int code, unsigned flags, const char *fmt, va_list ap)
{
    struct ktx_error *err;
    va_list ap2;
    int len;

    if (!fmt) {
        const char *desc = ktx_err_description(code);
        err = error_alloc(code, flags, strlen(desc));
        if (!err)
            return ktx__error_oom();
        memcpy(err->message, desc, strlen(desc) + 1);
        return err;
    }
    va_copy(ap2, ap);
    len = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        len = 0;
    err = error_alloc(code, flags, (size_t)len);
    if (!err)
        return ktx__error_oom();
    if (vsnprintf(err->message, (size_t)len + 1, fmt, ap) < 0)
        err->message[0] = '\0';
    return err;
}

ktx_error_t *ktx__error_new(int code, unsigned flags, const char *fmt, ...)
{
    ktx_error_t *err;
    va_list ap;

    va_start(ap, fmt);
    err = ktx__error_newv(code, flags, fmt, ap);
    va_end(ap);
    return err;
}

ktx_error_t *ktx__error_copy(const ktx_error_t *err)
{
    struct ktx_error *copy;
    size_t len;

    if (!err)
        return NULL;
    if (err->flags & ERR_F_STATIC)
        return (ktx_error_t *)err;
    len = strlen(err->message);
    copy = malloc(sizeof(*copy) + len + 1);
    if (!copy)
        return ktx__error_oom();
    memcpy(copy, err, sizeof(*copy) + len + 1);
    return copy;
}

void ktx_error_destroy(ktx_error_t *err)
{
    if (err && !(err->flags & ERR_F_STATIC))
        free(err);
}

int ktx_error_code(const ktx_error_t *err)
{
    return err ? err->code : KTX_ERR_NONE;
}

const char *ktx_error_name(const ktx_error_t *err)
{
    if (!err)
        return "NONE";
    if (err->name[0])
        return err->name;
    return ktx_err_name(err->code);
}

const char *ktx_error_message(const ktx_error_t *err)
{
    if (!err)
        return "Success.";
    return err->flags & ERR_F_STATIC ? oom_message : err->message;
}

int ktx_error_is_retriable(const ktx_error_t *err)
{
    return err && (err->flags & KTX__ERR_F_RETRIABLE) ? 1 : 0;
}

int ktx_error_txn_requires_abort(const ktx_error_t *err)
{
    return err && (err->flags & KTX__ERR_F_ABORTABLE) ? 1 : 0;
}

int ktx_error_is_fatal(const ktx_error_t *err)
{
    return err && (err->flags & KTX__ERR_F_FATAL) ? 1 : 0;
}
