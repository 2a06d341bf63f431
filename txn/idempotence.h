/*
 * The idempotent producer (Kafka's TransactionManager, idempotence part; KIP-98, KIP-360):
 *
 * - idempotence.c: the layer's state, the hooks it registers with the sender (seam.h) and
 *   the Produce outcome handler, decode -> classify (txn_classify.h, the one table) -> apply;
 * - epoch.c: InitProducerId for the first producer id and for epoch bumps (KIP-360: with
 *   the current id/epoch when the broker speaks InitProducerId v3+, else a new id);
 * - sequence.c: per-partition sequences stamped at drain time, the outstanding (in flight
 *   or waiting for a retry) base sequences of each partition, and the resolution of
 *   "unresolved" partitions after a batch that may have been written failed for good.
 *
 * Invariants: a partition's batches carry consecutive sequences in the current epoch; a
 * retry is sent only when it is the partition's first outstanding batch (so at most one
 * batch is retried at a time and order is kept); after an epoch bump every partition starts
 * again at sequence 0 and queued retries are restamped in their old order. A batch whose
 * fate is unknown (expired or timed out after being sent) marks its partition unresolved:
 * nothing more is drained there until every outstanding batch completed; then the partition
 * resolves when all its assigned sequences were acknowledged, and otherwise the epoch is
 * bumped (never a silent gap). An epoch bump that the broker refuses for good is fatal.
 *
 * Thread: everything runs on the sender thread (through the hooks), except
 * ktx__idempotence_register(), which runs before the thread starts.
 */
#ifndef KTX_IDEMPOTENCE_H
#define KTX_IDEMPOTENCE_H

#include "seam.h"
#include "txn_classify.h"

/* The most outstanding sequences tracked per partition (in flight + waiting to retry). */
#define KTX__IDEM_MAX_OUTSTANDING 16

/* One partition's sequence state. */
struct ktx__idem_part {
    const struct ktx__acc_part *part; /* the key; NULL for a free slot */
    int32_t next_sequence;            /* the base sequence of the next new batch */
    int32_t last_acked_sequence;      /* the last sequence acknowledged, -1 before any */
    bool unresolved;                  /* a batch of unknown fate is waiting to be resolved */
    int n_outstanding;
    int32_t outstanding[KTX__IDEM_MAX_OUTSTANDING]; /* base sequences, in assignment order */
};

struct ktx__txnmgr;
struct ktx__persist;

/* The layer. */
struct ktx__idem {
    struct ktx__sender *sender;
    bool idempotent;              /* enable.idempotence */
    int64_t producer_id;          /* -1 until InitProducerId answered */
    int16_t producer_epoch;
    bool bump_requested;          /* drain in-flight requests, then bump the epoch */
    bool init_in_flight;
    int16_t init_version;         /* InitProducerId version of the request in flight */
    bool init_is_bump;
    bool bump_new_id;             /* the broker refused the KIP-360 bump: ask for a new id */
    int64_t next_init_ms;         /* backoff after a failed InitProducerId */
    int init_attempts;
    bool epoch_bump_supported;    /* the last broker asked spoke InitProducerId v3+ */
    int32_t transaction_timeout_ms;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;
    uint64_t epoch_bumps;         /* statistics */
    struct ktx__txnmgr *txn;      /* the transaction manager (txnmgr.h), NULL without
                                     transactional.id */
    struct ktx__persist *persist; /* the persisted state (persist.h), NULL without
                                     state.path */
    struct ktx__idem_part *parts; /* open-addressing table keyed by the partition pointer */
    size_t parts_cap;             /* a power of two, or 0 */
    size_t parts_len;
};

/* ---- sequence.c ---- */

/* Returns the state of |part|, creating it; NULL when out of memory. */
struct ktx__idem_part *ktx__seq_part(struct ktx__idem *idem, const struct ktx__acc_part *part);

/* True when |batch| was stamped with the current producer id and epoch. */
bool ktx__seq_is_current(const struct ktx__idem *idem, const struct ktx__batch *batch);

/* The accumulator's may_drain hook (see accumulator.h). */
bool ktx__seq_may_drain(void *opaque, const struct ktx__batch *batch);

/* The accumulator's assign hook: stamps new batches and restamps retries of an old epoch. */
bool ktx__seq_assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                     int16_t *producer_epoch, int32_t *base_sequence, bool *transactional);

/* |batch| (current epoch) was acknowledged: forgets its outstanding sequence and moves the
 * partition's last acknowledged sequence. */
void ktx__seq_acked(struct ktx__idem *idem, const struct ktx__batch *batch);

/* |batch| (current epoch) failed for good. |maybe_written| tells that it may have reached
 * the log (timeouts): its partition becomes unresolved. A stand-in of a batch that expired
 * while its request is out (batch->expired_in_flight, still in flight) makes the partition
 * unresolved but keeps its sequence outstanding until the answer settles it. */
void ktx__seq_failed(struct ktx__idem *idem, const struct ktx__batch *batch, bool maybe_written);

/* True when |batch| is the next in line of its partition (base = last acked + 1). */
bool ktx__seq_is_next(struct ktx__idem *idem, const struct ktx__batch *batch);

/* Resolves unresolved partitions that have nothing outstanding any more, requesting an
 * epoch bump for those whose sequences cannot be proven written (Kafka's
 * maybeResolveSequences). */
void ktx__seq_resolve(struct ktx__idem *idem);

/* Every partition starts again at sequence 0 (after a new producer id or epoch). */
void ktx__seq_reset_all(struct ktx__idem *idem);

/* Frees the table. */
void ktx__seq_free(struct ktx__idem *idem);

/* ---- epoch.c ---- */

/*
 * Sends InitProducerId when the producer needs an id, or an epoch bump was requested and no
 * Produce request is in flight any more; lowers |*timeout_ms| while it waits (backoff, a
 * node to connect). Returns true while produce data must wait for the id.
 */
bool ktx__epoch_maybe_init(struct ktx__idem *idem, int64_t now, int64_t *timeout_ms);

/* Requests an epoch bump (logged once per request). */
void ktx__epoch_request_bump(struct ktx__idem *idem, const char *why);

#endif /* KTX_IDEMPOTENCE_H */
