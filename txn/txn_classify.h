/*
 * The ONE table that classifies every broker (and local) error code for every request the
 * transaction manager and the idempotent producer send: FindCoordinator, InitProducerId,
 * AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, and Produce (inside a
 * transaction, or for an idempotent non-transactional producer).
 *
 * A response handler is decode -> classify -> apply: it decodes with the codecs of sdk/,
 * asks ktx__txn_classify() what to do with each error code, and applies the action (retry,
 * rediscover the coordinator, move the state machine of txn_state.h...). No handler decides
 * by itself whether an error is retriable, abortable or fatal (STYLE.md "Errors").
 *
 * The table follows Kafka's Java producer (TransactionManager and Sender, KIP-98, KIP-360,
 * KIP-447, KIP-588, KIP-890, KIP-1050); docs/transactions.md prints every row with its reason
 * and tests/check_txn_classify.c checks the document against the table.
 *
 * Everything here is pure: no I/O, no locks, no clocks. Every function is thread-safe.
 */
#ifndef KTX_TXN_CLASSIFY_H
#define KTX_TXN_CLASSIFY_H

#include "ktx_int.h"

/* The requests whose errors are classified. */
enum ktx__txn_request {
    KTX__TXN_REQ_FIND_COORDINATOR = 0, /* transaction or group coordinator lookup */
    KTX__TXN_REQ_INIT_PRODUCER_ID,     /* first id, or epoch bump with the current id/epoch */
    KTX__TXN_REQ_ADD_PARTITIONS,       /* AddPartitionsToTxn, per partition */
    KTX__TXN_REQ_ADD_OFFSETS,          /* AddOffsetsToTxn */
    KTX__TXN_REQ_TXN_OFFSET_COMMIT,    /* TxnOffsetCommit to the group coordinator, per partition */
    KTX__TXN_REQ_END_TXN,              /* EndTxn, commit or abort */
    KTX__TXN_REQ_PRODUCE_TXN,          /* Produce of a transactional producer, per partition */
    KTX__TXN_REQ_PRODUCE_IDEMPOTENT,   /* Produce of an idempotent-only producer, per partition */
    KTX__TXN_REQ_COUNT
};

/*
 * What the caller does with an error code. Listed from the mildest to the most severe: the
 * order is the one ktx__txn_action_combine() uses.
 */
enum ktx__txn_action {
    KTX__TXN_ACT_SUCCESS = 0,             /* the request (or partition) succeeded */
    KTX__TXN_ACT_DUPLICATE_AS_SUCCESS,    /* the broker already has the batch: treat as written */
    KTX__TXN_ACT_NOT_ATTEMPTED,           /* not an error of its own: another partition failed */
    KTX__TXN_ACT_RETRY,                   /* send the same request again after a backoff */
    KTX__TXN_ACT_RETRY_REFRESH_METADATA,  /* refresh the partition's leader, then retry */
    KTX__TXN_ACT_RETRY_FIND_COORDINATOR,  /* rediscover the coordinator, then retry */
    KTX__TXN_ACT_BUMP_EPOCH,              /* idempotent producer: drain, bump epoch, reset seqs */
    KTX__TXN_ACT_FAIL_BATCH,              /* idempotent producer: fail the batch's records */
    KTX__TXN_ACT_ABORTABLE,               /* the transaction must be aborted */
    KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH,    /* abortable, and bump the epoch after the abort */
    KTX__TXN_ACT_FATAL,                   /* the producer can only be destroyed */
    KTX__TXN_ACT_COUNT
};

/* What the caller knows about the request when it classifies an answer. */
struct ktx__txn_classify_ctx {
    int16_t version;           /* the request's version; -1 when unknown (every row applies) */
    bool epoch_bump_supported; /* the coordinator speaks InitProducerId v3+ (KIP-360) */
};

/*
 * One row of the table: |code| answered to |req| means |action|; when the row needs an epoch
 * bump (KIP-360) and the coordinator cannot bump, |no_bump_action| applies instead. The row
 * only applies from request version |min_version| on.
 */
struct ktx__txn_rule {
    enum ktx__txn_request req;
    int code;
    int16_t min_version;
    enum ktx__txn_action action;
    enum ktx__txn_action no_bump_action;
    const char *reason; /* one sentence */
};

/*
 * The default of a request, for codes without a row: |retriable_action| when Kafka marks the
 * code retriable (ktx__err_is_retriable()), |other_action| otherwise.
 */
struct ktx__txn_default {
    enum ktx__txn_request req;
    enum ktx__txn_action retriable_action;
    enum ktx__txn_action other_action;
    const char *reason;
};

/*
 * Returns the action for |error_code| answered to |req|. |ctx| is borrowed and may be NULL
 * (version unknown, epoch bump supported). Codes without a row get the request's default
 * (see ktx__txn_defaults()). An out-of-range |req| yields KTX__TXN_ACT_FATAL.
 * Thread-safe; pure.
 */
enum ktx__txn_action ktx__txn_classify(enum ktx__txn_request req, int error_code,
                                       const struct ktx__txn_classify_ctx *ctx);

/*
 * Returns the one-sentence reason behind ktx__txn_classify(|req|, |error_code|, |ctx|): the
 * row's reason, or the default's. The string is static. Thread-safe; pure.
 */
const char *ktx__txn_classify_reason(enum ktx__txn_request req, int error_code,
                                     const struct ktx__txn_classify_ctx *ctx);

/*
 * Returns the retry backoff in milliseconds before attempt number |attempt| (0 for the
 * first retry) of |req| after |error_code|. CONCURRENT_TRANSACTIONS (the previous
 * transaction of the same id is still writing its markers) starts at 5 ms and doubles up to
 * |retry_backoff_ms|, so back-to-back transactions pay no fixed floor; every other code starts
 * at |retry_backoff_ms| and doubles up to |retry_backoff_max_ms| (KIP-580; the caller may
 * add jitter). Thread-safe; pure.
 */
int ktx__txn_retry_backoff_ms(enum ktx__txn_request req, int error_code, int attempt,
                              int retry_backoff_ms, int retry_backoff_max_ms);

/*
 * Returns the more severe of |a| and |b| (the enum's order), for requests answered per
 * partition (AddPartitionsToTxn, TxnOffsetCommit, Produce): the request's action is the
 * combination of its partitions' actions. Thread-safe; pure.
 */
enum ktx__txn_action ktx__txn_action_combine(enum ktx__txn_action a, enum ktx__txn_action b);

/*
 * Builds the error object for |action| taken on |code|, with the class the action implies:
 * retriable for the RETRY_* actions and BUMP_EPOCH, abortable (txn_requires_abort) for
 * ABORTABLE, ABORTABLE_BUMP_EPOCH and NOT_ATTEMPTED, fatal for FATAL, and no class for
 * FAIL_BATCH (a record of an idempotent producer failed for good: the application must fix
 * it; in a transaction such failures are abortable instead). |fmt| (printf-style, may be NULL
 * for the code's description) gives the message.
 * Returns NULL for SUCCESS and DUPLICATE_AS_SUCCESS; otherwise an error the caller owns and
 * frees with ktx_error_destroy() (never NULL: out of memory yields the static OOM error).
 * Thread-safe.
 */
ktx_error_t *ktx__txn_action_error(enum ktx__txn_action action, int code, const char *fmt, ...)
    KTX__PRINTF(3, 4);

/*
 * Classifies |error_code| answered to |req| (as ktx__txn_classify()), stores the action in
 * |*actionp| (may be NULL) and returns the error object for it (as ktx__txn_action_error(),
 * NULL for the success actions). The code is normalized as Kafka's client does:
 * INVALID_PRODUCER_EPOCH from a coordinator (every request but Produce) is reported as
 * PRODUCER_FENCED, its message naming the original code. The caller owns the result.
 * Thread-safe.
 */
ktx_error_t *ktx__txn_classify_error(enum ktx__txn_request req, int error_code,
                                     const struct ktx__txn_classify_ctx *ctx,
                                     enum ktx__txn_action *actionp);

/* Returns the action's name as the table prints it, e.g. "RETRY_FIND_COORDINATOR", or "?". */
const char *ktx__txn_action_name(enum ktx__txn_action action);

/* Returns the request's Kafka name, e.g. "AddPartitionsToTxn", "Produce (transactional)". */
const char *ktx__txn_request_name(enum ktx__txn_request req);

/* Returns the whole rule table and stores its length in |*count|. Static; thread-safe. */
const struct ktx__txn_rule *ktx__txn_rules(size_t *count);

/* Returns the per-request defaults (one per request) and stores the count in |*count|. */
const struct ktx__txn_default *ktx__txn_defaults(size_t *count);

#endif /* KTX_TXN_CLASSIFY_H */
