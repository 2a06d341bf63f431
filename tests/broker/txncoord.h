/*
 * The reference broker's transaction coordinator: one record per transactional id with
 * Kafka's states, transitions and error answers for InitProducerId, AddPartitionsToTxn,
 * AddOffsetsToTxn, EndTxn, transaction timeouts and DescribeTransactions. Pure: no I/O,
 * no clocks (every call takes |now_ms|).
 *
 * Two-phase completion, as in Kafka. EndTxn (or a fence, or a timeout) moves a transaction
 * to PrepareCommit/PrepareAbort and hands the caller a struct kb_txn_markers: the
 * partitions to write markers to (with kb_plog_write_marker()) and the groups whose
 * pending offsets to commit or drop (kb_groups_txn_complete()). The caller then reports
 * kb_txncoord_markers_written(); the transaction becomes CompleteCommit/CompleteAbort at
 * once, or |complete_delay_ms| later (kb_txncoord_complete_due()), so that tests can see
 * CONCURRENT_TRANSACTIONS in between.
 *
 * Fencing errors are answered as PRODUCER_FENCED; kb_txn_error_for_version() turns them
 * into INVALID_PRODUCER_EPOCH for request versions that predate PRODUCER_FENCED, as
 * Kafka's request handlers do.
 */
#ifndef KB_TXNCOORD_H
#define KB_TXNCOORD_H

#include "ktx_int.h"

/* Kafka's TransactionState values. */
enum kb_txn_state {
    KB_TXN_EMPTY,
    KB_TXN_ONGOING,
    KB_TXN_PREPARE_COMMIT,
    KB_TXN_PREPARE_ABORT,
    KB_TXN_COMPLETE_COMMIT,
    KB_TXN_COMPLETE_ABORT,
    KB_TXN_DEAD,
    KB_TXN_PREPARE_EPOCH_FENCE,
};
#define KB_TXN_STATE_COUNT 8

/* Kafka's name of |state| ("Empty", "Ongoing", "PrepareCommit", ...). */
const char *kb_txn_state_name(enum kb_txn_state state);
/* True when Kafka allows a transaction in |from| to move to |to|. */
bool kb_txn_transition_valid(enum kb_txn_state from, enum kb_txn_state to);

/* A topic partition; |topic| is owned by whatever holds the struct. */
struct kb_tp {
    char *topic;
    int32_t partition;
};

/* The coordinator's record of one transactional id. */
struct kb_txn {
    char *transactional_id;
    int64_t producer_id;
    int64_t last_producer_id;   /* before a producer id rotation, else -1 */
    int16_t producer_epoch;
    int16_t last_producer_epoch; /* the epoch a retry may still present, or -1 */
    enum kb_txn_state state;
    int32_t timeout_ms;
    int64_t start_ms;            /* when the current transaction began, or -1 */
    int64_t update_ms;
    struct kb_tp *partitions;
    size_t n_partitions;
    size_t cap_partitions;
    char **groups;               /* groups added with AddOffsetsToTxn */
    size_t n_groups;
    size_t cap_groups;
    bool markers_written;        /* in a Prepare state: the caller wrote all markers */
    int64_t complete_at_ms;      /* in a Prepare state: when it completes, or -1 */
};

/* Work for the caller after a transaction entered PrepareCommit or PrepareAbort. */
struct kb_txn_markers {
    char *transactional_id;
    int64_t producer_id;    /* write the markers with this id and epoch */
    int16_t producer_epoch;
    bool commit;
    int32_t coordinator_epoch;
    struct kb_tp *partitions;
    size_t n_partitions;
    char **groups;
    size_t n_groups;
};
/* Frees what |markers| owns and zeroes it (NULL-safe). */
void kb_txn_markers_free(struct kb_txn_markers *markers);

struct kb_txncoord_conf {
    int32_t max_timeout_ms;     /* transaction.max.timeout.ms; 0 means 900000 */
    int64_t complete_delay_ms;  /* time from markers written to Complete* state */
    int32_t coordinator_epoch;
    int64_t first_producer_id;  /* first id handed out; 0 means 1000 */
    bool v2;                    /* KIP-890 transactions: EndTxn bumps the epoch */
};

struct kb_txncoord {
    struct kb_txncoord_conf conf;
    int64_t next_producer_id;
    struct kb_txn **txns;
    size_t n_txns;
    size_t cap_txns;
};

/* Initialises |coord| with a copy of |conf| (NULL for defaults). */
void kb_txncoord_init(struct kb_txncoord *coord, const struct kb_txncoord_conf *conf);
void kb_txncoord_free(struct kb_txncoord *coord);

/* Returns the record of |transactional_id| (borrowed, valid until the coordinator changes),
 * or NULL. This is what DescribeTransactions reports. */
const struct kb_txn *kb_txncoord_find(const struct kb_txncoord *coord, const char *transactional_id);

/* The answer to an InitProducerId request. */
struct kb_init_pid_result {
    int64_t producer_id;
    int16_t producer_epoch;
    struct kb_txn_markers markers; /* abort work when an open transaction was fenced */
};

/*
 * InitProducerId. |transactional_id| NULL: a new producer id with epoch 0. Otherwise a new
 * record for an unknown id, or an epoch bump for a known one (a new producer id when the
 * epoch is exhausted). |expected_pid|/|expected_epoch| (-1/-1 when absent) are KIP-360's
 * current producer id and epoch: a match bumps the epoch, the previous epoch is a retry,
 * anything else is fenced. A known id with an open transaction is fenced: the epoch is
 * bumped, the transaction aborted, |out->markers| filled, and CONCURRENT_TRANSACTIONS
 * returned so that the producer retries once the abort completed.
 * Returns 0, INVALID_TRANSACTION_TIMEOUT, CONCURRENT_TRANSACTIONS, PRODUCER_FENCED or
 * KTX_ERR_NO_MEMORY. Free |out->markers| with kb_txn_markers_free() in every case.
 */
int kb_txncoord_init_producer_id(struct kb_txncoord *coord, const char *transactional_id,
                                 int32_t timeout_ms, int64_t expected_pid, int16_t expected_epoch,
                                 int64_t now_ms, struct kb_init_pid_result *out);

/*
 * AddPartitionsToTxn for |n| partitions |tps| (borrowed; topics are copied). Also what a
 * produce request does implicitly in v2 mode. Starts a transaction in Empty/Complete*.
 * Returns 0, INVALID_PRODUCER_ID_MAPPING (unknown id or other producer id),
 * PRODUCER_FENCED (other epoch), CONCURRENT_TRANSACTIONS (a commit/abort is completing),
 * INVALID_REQUEST (over 10000 partitions) or KTX_ERR_NO_MEMORY.
 */
int kb_txncoord_add_partitions(struct kb_txncoord *coord, const char *transactional_id,
                               int64_t producer_id, int16_t producer_epoch,
                               const struct kb_tp *tps, size_t n, int64_t now_ms);

/* AddOffsetsToTxn for |group_id|: the same checks and errors as kb_txncoord_add_partitions(). */
int kb_txncoord_add_offsets(struct kb_txncoord *coord, const char *transactional_id,
                            int64_t producer_id, int16_t producer_epoch, const char *group_id,
                            int64_t now_ms);

/* The answer to an EndTxn request. */
struct kb_end_txn_result {
    int64_t producer_id;    /* v2: the id and bumped epoch the producer continues with */
    int16_t producer_epoch;
    struct kb_txn_markers markers; /* n_partitions == 0 and no groups: nothing to write */
};

/*
 * EndTxn(|commit|). From Ongoing: to PrepareCommit/PrepareAbort, with the marker work in
 * |out->markers|. A retry of the same decision answers CONCURRENT_TRANSACTIONS while it
 * completes and 0 (no work) once complete.
 * Returns 0, INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS,
 * INVALID_TXN_STATE (e.g. commit in Empty, commit after an abort) or KTX_ERR_NO_MEMORY.
 * Free |out->markers| with kb_txn_markers_free() in every case.
 */
int kb_txncoord_end_txn(struct kb_txncoord *coord, const char *transactional_id,
                        int64_t producer_id, int16_t producer_epoch, bool commit, int64_t now_ms,
                        struct kb_end_txn_result *out);

/*
 * Reports that every marker of |transactional_id|'s prepared transaction was written.
 * Completes it now, or schedules completion |complete_delay_ms| later.
 * Returns 0 or KTX_ERR_STATE when the transaction is not in a Prepare state.
 */
int kb_txncoord_markers_written(struct kb_txncoord *coord, const char *transactional_id,
                                int64_t now_ms);

/* Completes every prepared transaction whose markers are written and whose delay passed.
 * Returns how many completed. */
size_t kb_txncoord_complete_due(struct kb_txncoord *coord, int64_t now_ms);

/*
 * Aborts every Ongoing transaction older than its timeout at |now_ms|: bumps its epoch
 * (fencing the producer, as Kafka does) and moves it to PrepareAbort. Stores a malloc'ed
 * array of marker work in |*out| (free each with kb_txn_markers_free(), then the array)
 * and its length in |*n_out|. Returns 0 or KTX_ERR_NO_MEMORY.
 */
int kb_txncoord_expire(struct kb_txncoord *coord, int64_t now_ms, struct kb_txn_markers **out,
                       size_t *n_out);

/*
 * Marker work still owed after a restart: one entry for each transaction in PrepareCommit
 * or PrepareAbort whose markers were not reported written. Stores a malloc'ed array in
 * |*out| (free each entry with kb_txn_markers_free(), then the array) and its length in
 * |*n_out|. Returns 0 or KTX_ERR_NO_MEMORY.
 */
int kb_txncoord_pending_markers(const struct kb_txncoord *coord, struct kb_txn_markers **out,
                                size_t *n_out);

/*
 * Adds a deep copy of |src| (as saved before a restart) to |coord|, for the state loader.
 * Returns 0, KTX_ERR_INVALID_ARG when the id exists already or a value is out of range
 * (state, negative or huge ids and times), or KTX_ERR_NO_MEMORY.
 */
int kb_txncoord_restore(struct kb_txncoord *coord, const struct kb_txn *src);

/*
 * Maps a coordinator error to what a request of |api_key| at |version| may carry:
 * PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH for InitProducerId < v4,
 * AddPartitionsToTxn < v2, AddOffsetsToTxn < v2, EndTxn < v2 and TxnOffsetCommit < v3.
 */
int kb_txn_error_for_version(int16_t api_key, int16_t version, int err);

#endif /* KB_TXNCOORD_H */
