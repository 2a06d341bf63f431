/*
 * The transaction manager (Kafka's TransactionManager, transactional part; KIP-98, KIP-360,
 * KIP-447, KIP-588, KIP-654). It extends the idempotence layer (idempotence.h) of a producer
 * that has transactional.id set:
 *
 * - txnmgr.c: the manager's state, the hooks it puts in place of the idempotence layer's
 *   (may_drain holds a partition's batches back until AddPartitionsToTxn added it; assign
 *   stamps batches as transactional; run_first drives the coordinator requests), and the
 *   step function that turns the state machine (txn_state.h) into requests;
 * - txn_requests.c: one builder and one response handler per transactional request
 *   (FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
 *   EndTxn), each decode -> classify (txn_classify.h, the one table) -> apply;
 * - shutdown.c: abort-on-shutdown (the has_pending hook of a closing producer);
 * - txn_api.c: the public functions (include/kafkatx.h).
 *
 * At most one request goes to the transaction coordinator at a time (FindCoordinator, then
 * InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn or EndTxn); TxnOffsetCommit goes to
 * the group coordinator. Every request is retried per the table with the growing backoff of
 * ktx__txn_retry_backoff_ms().
 *
 * Thread: the sender thread owns every field below except |sm| (its own lock) and the
 * offsets handed over by ktx_send_offsets_to_transaction(), which the application writes
 * before starting the SEND_OFFSETS operation (the state machine's lock orders the two).
 */
#ifndef KTX_TXNMGR_H
#define KTX_TXNMGR_H

#include "error.h"
#include "idempotence.h"
#include "txn_state.h"

/* How long a known coordinator may stay unreachable before it is looked up again. */
#define KTX__TXNMGR_COORD_WAIT_MS 1000

/* Where a partition of the current transaction stands. */
enum ktx__txnmgr_part_state {
    KTX__TXNP_NEW = 0, /* has a queued record; AddPartitionsToTxn not sent yet */
    KTX__TXNP_ADDING,  /* in the AddPartitionsToTxn request in flight */
    KTX__TXNP_ADDED,   /* part of the transaction: its batches may be drained */
};

/* One partition of the current transaction. */
struct ktx__txnmgr_part {
    const struct ktx__acc_part *part;
    enum ktx__txnmgr_part_state state;
};

/* The coordinator request in flight (one at a time). */
enum ktx__txnmgr_req {
    KTX__TXNR_NONE = 0,
    KTX__TXNR_FIND_COORDINATOR,
    KTX__TXNR_INIT,
    KTX__TXNR_ADD_PARTITIONS,
    KTX__TXNR_ADD_OFFSETS,
    KTX__TXNR_TXN_OFFSET_COMMIT,
    KTX__TXNR_END_TXN,
    KTX__TXNR_API_VERSIONS, /* the coordinator's finalized features (transaction.version) */
    KTX__TXNR_DESCRIBE,     /* the previous run's last transaction (txn/persist.c) */
};

/* One consumer position to commit (a copy of a ktx_offset_t). */
struct ktx__txnmgr_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    char *metadata; /* may be NULL */
};

/* The offsets of one ktx_send_offsets_to_transaction() call (owned copies). */
struct ktx__txnmgr_offsets {
    char *group_id;
    int32_t generation_id;
    char *member_id;
    char *group_instance_id; /* may be NULL */
    struct ktx__txnmgr_offset *v;
    size_t count;
    bool offsets_added; /* AddOffsetsToTxn succeeded */
};

struct ktx__txnmgr {
    struct ktx__idem *idem;       /* the idempotence layer (producer id, epoch, sequences) */
    void (*idem_destroy)(void *opaque); /* the layer's own destroy hook (frees |idem|) */
    struct ktx__sender *sender;
    struct ktx__accumulator *acc; /* borrowed from the sender's configuration */
    struct ktx__txn_sm sm;
    char *transactional_id;
    int32_t transaction_timeout_ms;

    /* The transaction coordinator; -1 until FindCoordinator answered. */
    int32_t coord_node;
    int32_t group_coord_node;     /* the group coordinator of |offsets|, -1 when unknown */
    bool find_group;              /* the FindCoordinator in flight is for the group */
    int32_t features_node;        /* the node |txn_version| was read from, -1 before */
    int16_t txn_version;          /* its finalized transaction.version level */
    bool decided;                 /* v1 or v2 is decided for the current transaction */
    bool v2;                      /* KIP-890 part 2: no AddPartitionsToTxn, EndTxn bumps */
    int64_t unready_since;        /* since when the coordinator is not ready, -1 when it is */

    enum ktx__txnmgr_req in_flight;
    int16_t req_version;          /* the version of the request in flight */
    int64_t next_try_ms;          /* backoff before the next coordinator request */
    int attempts;                 /* failures of the current request in a row */

    struct ktx__txnmgr_part *parts; /* partitions of the current transaction, by address */
    size_t parts_len, parts_cap;
    struct ktx__acc_part_list queued; /* scratch: the partitions with queued batches */
    bool ended_needed;            /* something was added: EndTxn must be sent */
    bool purged;                  /* ABORTING: the queued batches were failed */
    bool end_sent_ok;             /* EndTxn answered for the current end */
    bool shutdown_abort;          /* the abort was started by a closing producer */
    struct ktx__txnmgr_offsets offsets; /* the pending SEND_OFFSETS operation */
};

/* ---- txnmgr.c ---- */

/*
 * Creates the manager of |idem| for configuration |v| (borrowed; v->transactional_id set)
 * and replaces the layer's hooks in |hooks| with the manager's. The manager is reachable
 * from then on as idem->txn and freed by ktx__txnmgr_free(). Thread: the producer's creator.
 * Returns 0 or KTX_ERR_NO_MEMORY (nothing is changed then).
 */
int ktx__txnmgr_attach(struct ktx__idem *idem, const struct ktx__conf_values *v,
                       struct ktx__seam_hooks *hooks);

/* Frees |mgr| (NULL accepted). Thread: the sender's destroyer. */
void ktx__txnmgr_free(struct ktx__txnmgr *mgr);

/* Frees the copies held by |o| and empties it. */
void ktx__txnmgr_offsets_clear(struct ktx__txnmgr_offsets *o);

/* Records an action's error in the state machine: abortable (with |bump|) or fatal (also
 * making the producer fatal). Takes ownership of |err|. */
void ktx__txnmgr_fail(struct ktx__txnmgr *mgr, enum ktx__txn_action action, ktx_error_t *err);

/* Schedules a retry of the failed coordinator request after the table's backoff for |req|
 * and |code|; with |refind| the coordinator is looked up again first. */
void ktx__txnmgr_retry(struct ktx__txnmgr *mgr, enum ktx__txn_request req, int code,
                       bool refind);

/* ---- txn_requests.c: each sends one request; returns 0 or an error to retry later ---- */

int ktx__txnreq_find_coordinator(struct ktx__txnmgr *mgr, int32_t node, bool group, int64_t now);
int ktx__txnreq_init_producer_id(struct ktx__txnmgr *mgr, int64_t now);
int ktx__txnreq_add_partitions(struct ktx__txnmgr *mgr, int64_t now);
int ktx__txnreq_add_offsets(struct ktx__txnmgr *mgr, int64_t now);
int ktx__txnreq_txn_offset_commit(struct ktx__txnmgr *mgr, int64_t now);
int ktx__txnreq_end_txn(struct ktx__txnmgr *mgr, bool commit, int64_t now);
int ktx__txnreq_api_versions(struct ktx__txnmgr *mgr, int64_t now);

/* ---- shutdown.c ---- */

/* The has_pending hook of a transactional producer: while the sender drains for a close,
 * starts the abort of an incomplete transaction and reports it pending until the
 * coordinator answered. */
bool ktx__txn_shutdown_pending(void *opaque);

#endif /* KTX_TXNMGR_H */
