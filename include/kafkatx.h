/*
 * kafkatx: a C SDK for producing to Apache Kafka exactly once.
 *
 * This header declares only what is implemented. docs/api.md describes the whole
 * API, including the parts that later releases fill in.
 *
 * Conventions used by every function below:
 * - A function that can fail returns a ktx_error_t pointer: NULL means success, anything
 *   else is an error object that the caller owns and frees with ktx_error_destroy().
 * - Strings passed in are copied unless a function says otherwise; the caller keeps
 *   ownership of its buffers.
 */
#ifndef KAFKATX_H
#define KAFKATX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KTX_BUILDING) && defined(__GNUC__)
#define KTX_EXPORT __attribute__((visibility("default")))
#else
#define KTX_EXPORT
#endif

/* Builder for a producer's configuration. Not thread-safe. */
typedef struct ktx_conf ktx_conf_t;
/* An error: a code, its name, a message and its class. NULL always means success. */
typedef struct ktx_error ktx_error_t;

/*
 * Error codes. Positive codes (and -1) are Kafka's wire error codes verbatim, with Kafka's
 * names. Codes from -100 down are local to kafkatx; their names begin with '_'.
 */
typedef enum ktx_err {
    /* Local codes. */
    KTX_ERR_PRODUCER_ID_RESET = -117, /* the broker forgot our producer id; a new one was taken */
    KTX_ERR_ALL_BROKERS_DOWN = -116,  /* no broker could be reached */
    KTX_ERR_MSG_TIMED_OUT = -115,     /* a record was not acknowledged within delivery.timeout.ms */
    KTX_ERR_AUTH = -114,              /* TLS or SASL authentication failed */
    KTX_ERR_STORE = -113,             /* the persisted state store failed */
    KTX_ERR_FATAL = -112,             /* the producer has a fatal error and can only be destroyed */
    KTX_ERR_PURGED = -111,            /* the record was discarded, e.g. by an aborted transaction */
    KTX_ERR_CLOSED = -110,            /* the producer is closing or closed */
    KTX_ERR_BAD_CONFIG = -109,        /* a configuration value is invalid */
    KTX_ERR_UNKNOWN_PROPERTY = -108,  /* no configuration property has that name */
    KTX_ERR_UNSUPPORTED = -107,       /* the feature or version is not supported */
    KTX_ERR_QUEUE_FULL = -106,        /* buffer.memory is full */
    KTX_ERR_NO_MEMORY = -105,         /* an allocation failed */
    KTX_ERR_INVALID_ARG = -104,       /* an argument is invalid */
    KTX_ERR_STATE = -103,             /* the call is not valid in the current state */
    KTX_ERR_TIMED_OUT = -102,         /* the operation did not complete within its timeout */
    KTX_ERR_TRANSPORT = -101,         /* a connection failed or was closed */
    KTX_ERR_BAD_MSG = -100,           /* a malformed or truncated protocol message */

    /* Kafka's error codes, as org.apache.kafka.common.protocol.Errors defines them (through
     * Kafka 4.1). docs/errors.md lists every code with its description and retriable flag. */
    KTX_ERR_UNKNOWN_SERVER_ERROR = -1,
    KTX_ERR_NONE = 0,
    KTX_ERR_OFFSET_OUT_OF_RANGE = 1,
    KTX_ERR_CORRUPT_MESSAGE = 2,
    KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KTX_ERR_INVALID_FETCH_SIZE = 4,
    KTX_ERR_LEADER_NOT_AVAILABLE = 5,
    KTX_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    KTX_ERR_REQUEST_TIMED_OUT = 7,
    KTX_ERR_BROKER_NOT_AVAILABLE = 8,
    KTX_ERR_REPLICA_NOT_AVAILABLE = 9,
    KTX_ERR_MESSAGE_TOO_LARGE = 10,
    KTX_ERR_STALE_CONTROLLER_EPOCH = 11,
    KTX_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    KTX_ERR_NETWORK_EXCEPTION = 13,
    KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KTX_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    KTX_ERR_NOT_COORDINATOR = 16,
    KTX_ERR_INVALID_TOPIC_EXCEPTION = 17,
    KTX_ERR_RECORD_LIST_TOO_LARGE = 18,
    KTX_ERR_NOT_ENOUGH_REPLICAS = 19,
    KTX_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
    KTX_ERR_INVALID_REQUIRED_ACKS = 21,
    KTX_ERR_ILLEGAL_GENERATION = 22,
    KTX_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    KTX_ERR_INVALID_GROUP_ID = 24,
    KTX_ERR_UNKNOWN_MEMBER_ID = 25,
    KTX_ERR_INVALID_SESSION_TIMEOUT = 26,
    KTX_ERR_REBALANCE_IN_PROGRESS = 27,
    KTX_ERR_INVALID_COMMIT_OFFSET_SIZE = 28,
    KTX_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
    KTX_ERR_GROUP_AUTHORIZATION_FAILED = 30,
    KTX_ERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    KTX_ERR_INVALID_TIMESTAMP = 32,
    KTX_ERR_UNSUPPORTED_SASL_MECHANISM = 33,
    KTX_ERR_ILLEGAL_SASL_STATE = 34,
    KTX_ERR_UNSUPPORTED_VERSION = 35,
    KTX_ERR_TOPIC_ALREADY_EXISTS = 36,
    KTX_ERR_INVALID_PARTITIONS = 37,
    KTX_ERR_INVALID_REPLICATION_FACTOR = 38,
    KTX_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
    KTX_ERR_INVALID_CONFIG = 40,
    KTX_ERR_NOT_CONTROLLER = 41,
    KTX_ERR_INVALID_REQUEST = 42,
    KTX_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KTX_ERR_POLICY_VIOLATION = 44,
    KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KTX_ERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    KTX_ERR_INVALID_PRODUCER_EPOCH = 47,
    KTX_ERR_INVALID_TXN_STATE = 48,
    KTX_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
    KTX_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
    KTX_ERR_CONCURRENT_TRANSACTIONS = 51,
    KTX_ERR_TRANSACTION_COORDINATOR_FENCED = 52,
    KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KTX_ERR_SECURITY_DISABLED = 54,
    KTX_ERR_OPERATION_NOT_ATTEMPTED = 55,
    KTX_ERR_KAFKA_STORAGE_ERROR = 56,
    KTX_ERR_LOG_DIR_NOT_FOUND = 57,
    KTX_ERR_SASL_AUTHENTICATION_FAILED = 58,
    KTX_ERR_UNKNOWN_PRODUCER_ID = 59,
    KTX_ERR_REASSIGNMENT_IN_PROGRESS = 60,
    KTX_ERR_DELEGATION_TOKEN_AUTH_DISABLED = 61,
    KTX_ERR_DELEGATION_TOKEN_NOT_FOUND = 62,
    KTX_ERR_DELEGATION_TOKEN_OWNER_MISMATCH = 63,
    KTX_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64,
    KTX_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65,
    KTX_ERR_DELEGATION_TOKEN_EXPIRED = 66,
    KTX_ERR_INVALID_PRINCIPAL_TYPE = 67,
    KTX_ERR_NON_EMPTY_GROUP = 68,
    KTX_ERR_GROUP_ID_NOT_FOUND = 69,
    KTX_ERR_FETCH_SESSION_ID_NOT_FOUND = 70,
    KTX_ERR_INVALID_FETCH_SESSION_EPOCH = 71,
    KTX_ERR_LISTENER_NOT_FOUND = 72,
    KTX_ERR_TOPIC_DELETION_DISABLED = 73,
    KTX_ERR_FENCED_LEADER_EPOCH = 74,
    KTX_ERR_UNKNOWN_LEADER_EPOCH = 75,
    KTX_ERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    KTX_ERR_STALE_BROKER_EPOCH = 77,
    KTX_ERR_OFFSET_NOT_AVAILABLE = 78,
    KTX_ERR_MEMBER_ID_REQUIRED = 79,
    KTX_ERR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
    KTX_ERR_GROUP_MAX_SIZE_REACHED = 81,
    KTX_ERR_FENCED_INSTANCE_ID = 82,
    KTX_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
    KTX_ERR_ELECTION_NOT_NEEDED = 84,
    KTX_ERR_NO_REASSIGNMENT_IN_PROGRESS = 85,
    KTX_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    KTX_ERR_INVALID_RECORD = 87,
    KTX_ERR_UNSTABLE_OFFSET_COMMIT = 88,
    KTX_ERR_THROTTLING_QUOTA_EXCEEDED = 89,
    KTX_ERR_PRODUCER_FENCED = 90,
    KTX_ERR_RESOURCE_NOT_FOUND = 91,
    KTX_ERR_DUPLICATE_RESOURCE = 92,
    KTX_ERR_UNACCEPTABLE_CREDENTIAL = 93,
    KTX_ERR_INCONSISTENT_VOTER_SET = 94,
    KTX_ERR_INVALID_UPDATE_VERSION = 95,
    KTX_ERR_FEATURE_UPDATE_FAILED = 96,
    KTX_ERR_PRINCIPAL_DESERIALIZATION_FAILURE = 97,
    KTX_ERR_SNAPSHOT_NOT_FOUND = 98,
    KTX_ERR_POSITION_OUT_OF_RANGE = 99,
    KTX_ERR_UNKNOWN_TOPIC_ID = 100,
    KTX_ERR_DUPLICATE_BROKER_REGISTRATION = 101,
    KTX_ERR_BROKER_ID_NOT_REGISTERED = 102,
    KTX_ERR_INCONSISTENT_TOPIC_ID = 103,
    KTX_ERR_INCONSISTENT_CLUSTER_ID = 104,
    KTX_ERR_TRANSACTIONAL_ID_NOT_FOUND = 105,
    KTX_ERR_FETCH_SESSION_TOPIC_ID_ERROR = 106,
    KTX_ERR_INELIGIBLE_REPLICA = 107,
    KTX_ERR_NEW_LEADER_ELECTED = 108,
    KTX_ERR_OFFSET_MOVED_TO_TIERED_STORAGE = 109,
    KTX_ERR_FENCED_MEMBER_EPOCH = 110,
    KTX_ERR_UNRELEASED_INSTANCE_ID = 111,
    KTX_ERR_UNSUPPORTED_ASSIGNOR = 112,
    KTX_ERR_STALE_MEMBER_EPOCH = 113,
    KTX_ERR_MISMATCHED_ENDPOINT_TYPE = 114,
    KTX_ERR_UNSUPPORTED_ENDPOINT_TYPE = 115,
    KTX_ERR_UNKNOWN_CONTROLLER_ID = 116,
    KTX_ERR_UNKNOWN_SUBSCRIPTION_ID = 117,
    KTX_ERR_TELEMETRY_TOO_LARGE = 118,
    KTX_ERR_INVALID_REGISTRATION = 119,
    KTX_ERR_TRANSACTION_ABORTABLE = 120,
    KTX_ERR_INVALID_RECORD_STATE = 121,
    KTX_ERR_SHARE_SESSION_NOT_FOUND = 122,
    KTX_ERR_INVALID_SHARE_SESSION_EPOCH = 123,
    KTX_ERR_FENCED_STATE_EPOCH = 124,
    KTX_ERR_INVALID_VOTER_KEY = 125,
    KTX_ERR_DUPLICATE_VOTER = 126,
    KTX_ERR_VOTER_NOT_FOUND = 127,
    KTX_ERR_INVALID_REGULAR_EXPRESSION = 128,
    KTX_ERR_REBOOTSTRAP_REQUIRED = 129,
    KTX_ERR_STREAMS_INVALID_TOPOLOGY = 130,
    KTX_ERR_STREAMS_INVALID_TOPOLOGY_EPOCH = 131,
    KTX_ERR_STREAMS_TOPOLOGY_FENCED = 132,
    KTX_ERR_SHARE_SESSION_LIMIT_REACHED = 133
} ktx_err_t;

/* ------------------------------------------------------------------------------------------
 * Errors
 *
 * An error has a code (ktx_err_t), a name, a message and a class. The class answers "what
 * now?" and is exactly one of:
 * - retriable: calling again (or waiting) may succeed; nothing else must be done first;
 * - abortable (txn_requires_abort): the current transaction cannot commit; abort it with
 *   ktx_abort_transaction() and begin a new one;
 * - fatal: the producer is unusable and can only be destroyed;
 * - none of these: the call failed for a reason the application must fix (bad argument,
 *   bad configuration, authorization...).
 * A fatal error is never retriable nor abortable.
 *
 * Every accessor below is thread-safe and never blocks; a NULL |err| is read as success
 * (code KTX_ERR_NONE, name "NONE", class none).
 * ------------------------------------------------------------------------------------------ */

/* Returns the code of |err| (a ktx_err_t value, or an unknown Kafka code). |err| is borrowed. */
KTX_EXPORT int ktx_error_code(const ktx_error_t *err);

/*
 * Returns the name of |err|'s code: Kafka's own name for Kafka codes (e.g. "PRODUCER_FENCED"),
 * a name beginning with '_' for local codes (e.g. "_TIMED_OUT"), and "UNKNOWN_CODE_<n>"
 * (e.g. "UNKNOWN_CODE_4242") for a code kafkatx does not know.
 * The string is borrowed from |err| and lives until ktx_error_destroy(err).
 */
KTX_EXPORT const char *ktx_error_name(const ktx_error_t *err);

/*
 * Returns the human-readable message of |err|: what failed and why, naming the object
 * concerned (e.g. a configuration property). Never contains a secret.
 * The string is borrowed from |err| and lives until ktx_error_destroy(err).
 */
KTX_EXPORT const char *ktx_error_message(const ktx_error_t *err);

/* Returns 1 when calling again (or waiting) may succeed, 0 otherwise. */
KTX_EXPORT int ktx_error_is_retriable(const ktx_error_t *err);

/* Returns 1 when the current transaction must be aborted before going on, 0 otherwise. */
KTX_EXPORT int ktx_error_txn_requires_abort(const ktx_error_t *err);

/* Returns 1 when the producer is unusable and can only be destroyed, 0 otherwise. */
KTX_EXPORT int ktx_error_is_fatal(const ktx_error_t *err);

/*
 * Frees |err|, which the caller owned. NULL is accepted and ignored. Thread-safe, but |err|
 * must not be used by another thread at the same time.
 */
KTX_EXPORT void ktx_error_destroy(ktx_error_t *err);

/*
 * Returns the name of |code| without an error object: Kafka's name, a local name beginning
 * with '_', or "UNKNOWN_CODE" for a code kafkatx does not know.
 * The string is static. Thread-safe.
 */
KTX_EXPORT const char *ktx_err_name(int code);

/*
 * Returns a one-sentence description of |code|, or a generic sentence for a code kafkatx
 * does not know. The string is static. Thread-safe.
 */
KTX_EXPORT const char *ktx_err_description(int code);

/* ------------------------------------------------------------------------------------------
 * Configuration
 *
 * A ktx_conf_t holds properties by name, with Kafka's producer names and defaults where
 * Kafka has the property (docs/configuration.md lists them all). Values are validated as they
 * are set; cross-property rules are checked by ktx_conf_validate() and again when a producer
 * is created. A conf is not thread-safe: use it from one thread at a time.
 * ------------------------------------------------------------------------------------------ */

/*
 * Creates an empty configuration: every property has its default.
 * The caller owns the result and frees it with ktx_conf_destroy() (or hands it to
 * ktx_producer_new(), which takes ownership). Returns NULL only when memory runs out.
 */
KTX_EXPORT ktx_conf_t *ktx_conf_new(void);

/*
 * Sets property |name| to |value| after checking the value's type, range and allowed
 * values. A NULL |value| resets the property to its default. Both strings are borrowed and
 * copied. Does not block.
 * Returns NULL on success, or an error (caller frees with ktx_error_destroy()), leaving
 * |conf| unchanged:
 * - KTX_ERR_UNKNOWN_PROPERTY: no property has that name; the message names it and, when a
 *   property with a close name exists, suggests it ("did you mean ...?");
 * - KTX_ERR_BAD_CONFIG: the value is invalid; the message names the property, the value and
 *   the accepted values or range (the value of a secret property such as sasl.password is
 *   never repeated), or says that a valid Kafka value is not supported yet (compression.type
 *   gzip, snappy, lz4);
 * - KTX_ERR_INVALID_ARG: |conf| or |name| is NULL;
 * - KTX_ERR_NO_MEMORY.
 */
KTX_EXPORT ktx_error_t *ktx_conf_set(ktx_conf_t *conf, const char *name, const char *value);

/*
 * Reads the value of property |name| (its default when never set) into |buf|, like
 * snprintf(): writes at most |*size| bytes including the terminating NUL, and stores in
 * |*size| the size needed for the whole value including the NUL. |buf| may be NULL when
 * |*size| is 0, to ask for the size. A property without a default that is not set reads as
 * "". Secret properties read as "[redacted]" when set and "" when not. |conf|, |name| are borrowed; |buf| is owned by the caller. Does not block.
 * Returns NULL (even when the value was truncated: compare |*size| with the buffer's size),
 * KTX_ERR_UNKNOWN_PROPERTY, or KTX_ERR_INVALID_ARG when an argument is NULL.
 */
KTX_EXPORT ktx_error_t *ktx_conf_get(const ktx_conf_t *conf, const char *name, char *buf,
                                     size_t *size);

/*
 * Returns a deep copy of |conf| (borrowed), which the caller owns and frees with
 * ktx_conf_destroy(); the two are independent afterwards. Returns NULL when |conf| is NULL
 * or memory runs out.
 */
KTX_EXPORT ktx_conf_t *ktx_conf_dup(const ktx_conf_t *conf);

/* Frees |conf|, which the caller owned. NULL is accepted and ignored. */
KTX_EXPORT void ktx_conf_destroy(ktx_conf_t *conf);

/*
 * Checks the rules that involve several properties (docs/configuration.md, "Cross-property
 * rules"), as ktx_producer_new() will: e.g. enable.idempotence=true with acks=0, a
 * transactional.id without idempotence, delivery.timeout.ms below linger.ms +
 * request.timeout.ms, SASL without a mechanism or credentials, an SSL key without its
 * certificate, a missing bootstrap.servers. |conf| is borrowed. Does not block.
 * Returns NULL when the configuration is usable, KTX_ERR_BAD_CONFIG with a message naming the
 * properties in conflict, or KTX_ERR_INVALID_ARG when |conf| is NULL.
 */
KTX_EXPORT ktx_error_t *ktx_conf_validate(const ktx_conf_t *conf);

/* ------------------------------------------------------------------------------------------
 * Producer, records, delivery reports, flush and close (docs/api.md, M1)
 * ------------------------------------------------------------------------------------------ */

/* A producer: thread-safe unless a function says otherwise. */
typedef struct ktx_producer ktx_producer_t;

#define KTX_PARTITION_ANY (-1)   /* let the partitioner choose */
#define KTX_TIMEOUT_INFINITE (-1)

/* Log levels (syslog's); lines above log level 6 (INFO) are not produced. */
#define KTX_LOG_EMERG 0
#define KTX_LOG_ALERT 1
#define KTX_LOG_CRIT 2
#define KTX_LOG_ERR 3
#define KTX_LOG_WARNING 4
#define KTX_LOG_NOTICE 5
#define KTX_LOG_INFO 6
#define KTX_LOG_DEBUG 7

/* One record header. */
typedef struct ktx_header {
    const char *key;             /* NUL-terminated, not NULL */
    const void *value;           /* may be NULL (a null header value) */
    size_t value_len;
} ktx_header_t;

/* A record to send. Zero-initialise it so that fields added later read as "not set". */
typedef struct ktx_record {
    const char *topic;           /* required */
    int32_t partition;           /* >= 0, or KTX_PARTITION_ANY */
    const void *key;             /* NULL means a null key (not the same as key_len 0) */
    size_t key_len;
    const void *value;           /* NULL means a null value (a tombstone) */
    size_t value_len;
    const ktx_header_t *headers; /* may be NULL when header_count is 0 */
    size_t header_count;
    int64_t timestamp;           /* ms since the epoch; 0 means "now" (CreateTime) */
    void *opaque;                /* handed back in the delivery report, never dereferenced */
} ktx_record_t;

/* The outcome of one record, handed to the delivery-report callback. */
typedef struct ktx_delivery_report {
    const char *topic;
    int32_t partition;
    int64_t offset;           /* -1 when not delivered, or with acks=0 */
    int64_t timestamp;        /* CreateTime sent, or the broker's LogAppendTime */
    const ktx_error_t *error; /* NULL when delivered */
    void *opaque;             /* the record's opaque */
} ktx_delivery_report_t;

/*
 * Delivery-report callback: called once per record from ktx_poll(), ktx_flush() or
 * ktx_close() on the application thread that called them. |dr| and everything it points
 * to are borrowed for the duration of the call.
 */
typedef void (*ktx_dr_cb_t)(ktx_producer_t *producer, const ktx_delivery_report_t *dr,
                            void *opaque);

/*
 * Log callback: |level| is a KTX_LOG_* level, |facility| the module ("sender", "conn"...),
 * |message| one line without newline; both borrowed for the call. May run on the sender
 * thread or an application thread; must be thread-safe and must not call the producer.
 */
typedef void (*ktx_log_cb_t)(int level, const char *facility, const char *message,
                             void *opaque);

/*
 * Stores the delivery-report callback |cb| and its |opaque| in |conf| (copied by
 * ktx_conf_dup()); a NULL |cb| removes it. Without a callback reports are still served
 * (and dropped) by ktx_poll(). A NULL |conf| is ignored. Cannot fail; does not block.
 */
KTX_EXPORT void ktx_conf_set_dr_cb(ktx_conf_t *conf, ktx_dr_cb_t cb, void *opaque);

/*
 * Stores the log callback |cb| and its |opaque| in |conf| (copied by ktx_conf_dup()); a NULL
 * |cb| removes it (nothing is logged then). A NULL |conf| is ignored. Cannot fail.
 */
KTX_EXPORT void ktx_conf_set_log_cb(ktx_conf_t *conf, ktx_log_cb_t cb, void *opaque);

/*
 * Creates a producer from |conf|: resolves and cross-checks the configuration, opens the
 * state file when state.path is set (docs/guarantees.md) and starts the sender thread. Does
 * no network I/O: connections are made lazily by the sender thread.
 * On success stores the handle in |*out|, takes ownership of |conf| and returns NULL.
 * On failure leaves |*out| and |conf| untouched and returns an error that the caller
 * frees with ktx_error_destroy().
 * Thread: any. Blocks only on the state file.
 * Errors: _INVALID_ARG, _BAD_CONFIG (a cross-property rule; the message names the
 * properties), _UNSUPPORTED (state.journal=true: not implemented), _STORE (the state file
 * is locked by another producer of the same identity, corrupt, or cannot be written; the
 * message names the file), _NO_MEMORY.
 */
KTX_EXPORT ktx_error_t *ktx_producer_new(ktx_producer_t **out, ktx_conf_t *conf);

/*
 * Closes (as ktx_close(producer, 0): pending records fail with _PURGED) and frees
 * |producer|. NULL is accepted. Must not be called from a callback nor concurrently with any
 * other call on |producer|. Delivery reports not yet served are dropped.
 */
KTX_EXPORT void ktx_producer_destroy(ktx_producer_t *producer);

/*
 * Appends a copy of |rec| to its partition's batch. Returns once the record is buffered,
 * not when it is delivered: the outcome arrives as a delivery report (ktx_poll()).
 * |rec| and everything it points to are borrowed for the call only; the record is copied.
 * With KTX_PARTITION_ANY the partitioner picks the partition: murmur2 of the key as Kafka's
 * default partitioner, sticky batches for keyless records or when
 * partitioner.ignore.keys=true.
 * Thread-safe. Blocks up to max.block.ms while buffer.memory is full or the topic's metadata
 * is unknown (as Kafka's Java producer does).
 * Errors: _INVALID_ARG (NULL producer, record or topic, bad partition, header without key,
 * a key, value or header over 2 GiB), MESSAGE_TOO_LARGE (record larger than
 * max.request.size or buffer.memory), _TIMED_OUT (retriable: buffer still full or metadata
 * still unknown after max.block.ms), UNKNOWN_TOPIC_OR_PARTITION (the partition does not
 * exist), a topic error of the metadata (e.g. TOPIC_AUTHORIZATION_FAILED), _CLOSED (after
 * ktx_close()), the producer's fatal error (class fatal), _NO_MEMORY.
 */
KTX_EXPORT ktx_error_t *ktx_send(ktx_producer_t *producer, const ktx_record_t *rec);

/*
 * Serves delivery reports: calls the delivery-report callback once for every record whose
 * outcome is known, on the calling thread, in the order of ktx_send() per partition. Waits
 * up to |timeout_ms| (0: do not wait; KTX_TIMEOUT_INFINITE: no limit) for the first report
 * when none is ready. Returns the number of reports served (>= 0), or -1 for a NULL
 * |producer| or a negative |timeout_ms| other than KTX_TIMEOUT_INFINITE. Thread-safe, but
 * callbacks are never run concurrently for one producer: a second thread waits for the
 * first. A callback may call ktx_send() and ktx_poll() (which then returns 0), but not
 * ktx_flush(), ktx_close() or ktx_producer_destroy().
 */
KTX_EXPORT int ktx_poll(ktx_producer_t *producer, int timeout_ms);

/*
 * Sends every buffered record at once (ignoring linger.ms) and waits until all records sent
 * before the call have a delivery report, serving them (as ktx_poll()) meanwhile.
 * Blocks up to |timeout_ms|. Thread: an application thread, not a callback.
 * Errors: _TIMED_OUT (retriable; records are still in flight), _INVALID_ARG, the fatal error.
 */
KTX_EXPORT ktx_error_t *ktx_flush(ktx_producer_t *producer, int timeout_ms);

/*
 * Stops accepting records (later ktx_send() calls fail with _CLOSED), then within
 * |timeout_ms|: sends what is buffered, waits for the in-flight requests and serves the
 * delivery reports. When time runs out, what is left fails with _PURGED (its reports are
 * served too) and the sender thread stops. The producer must still be destroyed.
 * Thread: an application thread, not a callback. Blocks up to |timeout_ms| (0 = do not wait).
 * Errors: _TIMED_OUT (some records did not complete and were purged), _INVALID_ARG, the
 * fatal error. Calling it again returns NULL.
 */
KTX_EXPORT ktx_error_t *ktx_close(ktx_producer_t *producer, int timeout_ms);

/* ------------------------------------------------------------------------------------ */
/* Transactions (docs/api.md "Transactions"; txn/txn_api.c).                            */
/* ------------------------------------------------------------------------------------ */

/* Defined when the transactional API below is available (ktx-perf keys its mode on it). */
#define KTX_HAVE_TRANSACTIONS 1

/*
 * Registers transactional.id with its coordinator (FindCoordinator, then InitProducerId
 * with transaction.timeout.ms): fences any older producer with the same id, waits until the
 * coordinator completed that producer's last transaction, and obtains this producer's id and
 * epoch. Must be called once, before any other transactional call.
 * Blocks up to |timeout_ms| (KTX_TIMEOUT_INFINITE: no limit); resumable. Thread-safe.
 * Returns NULL on success, else an error the caller frees: _TIMED_OUT (retriable: call it
 * again to resume), _STATE (called twice, or no transactional.id), _INVALID_ARG, fatal
 * (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TRANSACTION_TIMEOUT, UNSUPPORTED_VERSION).
 */
KTX_EXPORT ktx_error_t *ktx_init_transactions(ktx_producer_t *producer, int timeout_ms);

/*
 * Starts a transaction locally (no network I/O: partitions join it as |producer| sends to
 * them). Does not block. Thread-safe.
 * Returns NULL, or an error the caller frees: _STATE (not ready: init not done, or a
 * transaction is open), the stored abortable or fatal error.
 */
KTX_EXPORT ktx_error_t *ktx_begin_transaction(ktx_producer_t *producer);

/*
 * Flushes every record of the transaction, then commits it (EndTxn commit). On NULL every
 * record and every offset of the transaction is visible to read_committed consumers, and
 * the delivery reports of its records have been served.
 * Blocks up to |timeout_ms|; resumable. Thread: an application thread, not a callback.
 * Returns NULL or an error the caller frees: _TIMED_OUT (retriable: call it again),
 * abortable (a record failed, the coordinator aborted the transaction: NOT committed; call
 * ktx_abort_transaction()), fatal (e.g. PRODUCER_FENCED), _STATE, _INVALID_ARG.
 */
KTX_EXPORT ktx_error_t *ktx_commit_transaction(ktx_producer_t *producer, int timeout_ms);

/*
 * Aborts the transaction: records still buffered fail with _PURGED (their delivery reports
 * are served before the call returns), then EndTxn(abort); after an abortable error that
 * needs it, the epoch is bumped (KIP-360). Valid in a transaction and after an abortable
 * error. Blocks up to |timeout_ms|; resumable. Thread: an application thread, not a callback.
 * Returns NULL or an error the caller frees: _TIMED_OUT (retriable, resumable), fatal,
 * _STATE, _INVALID_ARG.
 */
KTX_EXPORT ktx_error_t *ktx_abort_transaction(ktx_producer_t *producer, int timeout_ms);

/* A consumer position to commit within the transaction. */
typedef struct ktx_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;       /* the NEXT offset to consume (last processed + 1) */
    const char *metadata; /* may be NULL */
} ktx_offset_t;

/* The positions of one ktx_send_offsets_to_transaction() call. */
typedef struct ktx_offsets {
    const ktx_offset_t *offsets;
    size_t count;
} ktx_offsets_t;

/* The consumer group's identity, as the consumer reports it (KIP-447). */
typedef struct ktx_group_metadata {
    const char *group_id;          /* required */
    int32_t generation_id;         /* -1 when unknown */
    const char *member_id;         /* "" (or NULL) when unknown */
    const char *group_instance_id; /* NULL unless static membership */
} ktx_group_metadata_t;

/*
 * Adds |offsets| of group |group| to the current transaction (AddOffsetsToTxn, then
 * TxnOffsetCommit to the group coordinator): they are committed if and only if the
 * transaction commits. Both structs and what they point to are borrowed for the call.
 * Blocks up to |timeout_ms|; resumable (a resumed call ignores its arguments). Thread-safe.
 * Returns NULL or an error the caller frees: _TIMED_OUT (retriable, resumable),
 * _INVALID_ARG, _STATE (no transaction open), abortable (GROUP_AUTHORIZATION_FAILED,
 * ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), fatal.
 */
KTX_EXPORT ktx_error_t *ktx_send_offsets_to_transaction(ktx_producer_t *producer,
                                                        const ktx_offsets_t *offsets,
                                                        const ktx_group_metadata_t *group,
                                                        int timeout_ms);

/* ---- Persisted state (state.path; docs/guarantees.md) ---- */

/*
 * Stores |position| (|len| bytes, opaque to kafkatx: an input file offset, a source cursor)
 * as the application's checkpoint in the state file, replacing the previous one. The write
 * is one SQLite transaction, synced as state.sync says; after a restart
 * ktx_last_transaction() returns it in position/position_len. Call it after ktx_flush()
 * (idempotent producer), so that the stored position never runs ahead of what the broker
 * acknowledged. A transactional producer calls it inside the transaction, before
 * ktx_commit_transaction(): the position is stored with that commit (written before EndTxn)
 * and reported only once the commit is known; an abort drops it (docs/guarantees.md
 * section 3).
 * With state.journal=true it is different (docs/guarantees.md section 2): call it right
 * after sending the record before |position|, without flushing; it seals the open batches
 * and is written with the journal once every record sent before it is journaled, and the
 * records sent after the newest checkpoint are held back until the next call (call it
 * before ktx_flush() and ktx_close(), and once before the first ktx_send()).
 * |position| is copied (NULL with |len| 0 clears the checkpoint). Blocks on the state file
 * only. Thread-safe.
 * Returns NULL or an error the caller frees: _INVALID_ARG (NULL producer, NULL position
 * with |len| > 0, |len| over 64 KiB), _STATE (no state.path), _STORE (the file failed).
 */
KTX_EXPORT ktx_error_t *ktx_checkpoint(ktx_producer_t *producer, const void *position,
                                       size_t len);

/* The outcome of the previous run's last transaction. */
typedef enum ktx_txn_outcome {
    KTX_TXN_NONE = 0,  /* no transaction was ever recorded (also: idempotent producers) */
    KTX_TXN_COMMITTED, /* the last transaction committed */
    KTX_TXN_ABORTED,   /* it was aborted */
    KTX_TXN_UNKNOWN    /* the run ended during a commit: until ktx_init_transactions() asked
                          the coordinator, or when it could not tell */
} ktx_txn_outcome_t;

/* What the previous run of this producer (same state.path and identity) left behind. */
typedef struct ktx_restart_report {
    ktx_txn_outcome_t outcome;
    int64_t producer_id;       /* of the previous run, -1 if none */
    int16_t producer_epoch;
    const void *position;      /* the checkpoint stored by the previous run, or NULL */
    size_t position_len;
    int64_t committed_at_ms;   /* wall-clock time of the last transaction's end, 0 if none */
    int producer_id_reset;     /* 1 once this run took a producer id other than the
                                  previous run's: KTX_ERR_PRODUCER_ID_RESET, the boundary
                                  across which unacknowledged batches may be lost */
} ktx_restart_report_t;

/*
 * Fills |*out| (caller-owned) with what the previous run left in the state file: its
 * producer id and epoch, the state of its last transaction and its checkpoint. The
 * pointers in |*out| are borrowed from |producer| and live until it is destroyed.
 * producer_id_reset is read at the call: it turns 1 once the producer took a new id.
 * A transactional producer whose previous run ended during a commit reports
 * KTX_TXN_UNKNOWN until ktx_init_transactions() asked the coordinator
 * (DescribeTransactions); call it after ktx_init_transactions() to learn the outcome and
 * the position to resume from (docs/guarantees.md section 3).
 * Does not block. Thread-safe.
 * Returns NULL or an error the caller frees: _INVALID_ARG (NULL argument), _STATE (no
 * state.path).
 */
KTX_EXPORT ktx_error_t *ktx_last_transaction(ktx_producer_t *producer,
                                             ktx_restart_report_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KAFKATX_H */
