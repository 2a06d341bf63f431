/*
 * The seam between the client core (sdk/) and the idempotence/transaction layer (txn/).
 *
 * STYLE.md: sdk/ never includes txn/ headers. The layer registers one hooks table with the
 * sender (struct ktx__seam_hooks, through ktx__sender_set_hooks()); the sender calls those
 * hooks at fixed points of its loop, in the shape of Kafka's Sender:
 *
 *   run_once:  hooks.run_first()        resolve sequences, fatal state, epoch bump, the
 *                                        layer's own requests (InitProducerId...)
 *              send_producer_data()     drain: acc.may_drain() / acc.assign() stamp batches
 *   response:  hooks.produce_result()   classify one batch's outcome (txn_classify table)
 *   expiry:    hooks.batch_expired()    a queued batch ran out of delivery.timeout.ms
 *   shutdown:  hooks.has_pending(), hooks.on_shutdown()
 *
 * and the layer drives the core through the verbs below (sender.c implements them), all on
 * the sender thread. The one entry point the producer calls to attach the layer,
 * ktx__idempotence_register(), is declared here and defined in txn/idempotence.c.
 */
#ifndef KTX_SEAM_H
#define KTX_SEAM_H

#include <stdarg.h>

#include "accumulator.h"
#include "conf.h"
#include "net.h"

struct ktx__sender;

/* What the sender does with a batch after its Produce answer (or failure). */
enum ktx__produce_verdict {
    KTX__PV_COMPLETE,      /* complete the batch with the final error given (0 = delivered) */
    KTX__PV_RETRY,         /* re-enqueue it (backoff, then drained again) */
    KTX__PV_RETRY_REFRESH, /* ask for a metadata update, then re-enqueue it */
};

/* One batch's outcome as the sender saw it, for hooks.produce_result(). */
struct ktx__produce_outcome {
    int err;               /* the partition's error code, or KTX_ERR_TRANSPORT / _TIMED_OUT /
                              _BAD_MSG for the whole request */
    int64_t base_offset;   /* -1 when unknown */
    int64_t log_start_offset;
    int16_t version;       /* the Produce version used, -1 when not sent */
    bool can_retry;        /* retries left and delivery.timeout.ms not passed */
    bool expired;          /* delivery.timeout.ms passed */
};

/* The hooks table. Every hook runs on the sender thread; any may be NULL. */
struct ktx__seam_hooks {
    void *opaque;
    /* Drain hooks handed to the accumulator (their own opaque is set by the sender to
     * |opaque| above). */
    bool (*may_drain)(void *opaque, const struct ktx__batch *batch);
    bool (*assign)(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                   int16_t *producer_epoch, int32_t *base_sequence, bool *transactional);
    /*
     * Called once per send_producer_data() turn with the |count| (> 0) batches drained in
     * that turn (sealed and stamped, borrowed), before any of them is sent: the place where
     * the journal writes them durably. The hook may take a batch out of the turn by setting
     * its slot to NULL: the batch stays in flight, the sender does not send it, and the
     * layer gives it back later with ktx__accumulator_reenqueue() (or completes it).
     * Returns 0, or an error code: the batches left in the array are then failed with it
     * and not sent.
     */
    int (*drained)(void *opaque, struct ktx__sender *sender, struct ktx__batch **batches,
                   size_t count);
    /*
     * The first word of each run_once() turn, at |now|. May send the layer's own requests
     * through the verbs below. Lowers |*timeout_ms| to when it wants to run again.
     * Returns true when produce data must not be sent this turn (the sender then only
     * polls).
     */
    bool (*run_first)(void *opaque, struct ktx__sender *sender, int64_t now,
                      int64_t *timeout_ms);
    /*
     * Decides what to do with |batch| (in flight, owned by the sender for the call) after
     * |out|: returns the verdict and, for KTX__PV_COMPLETE, the final error in |*final_err|.
     * Without this hook the sender retries retriable errors while |out->can_retry| and fails
     * the rest.
     */
    enum ktx__produce_verdict (*produce_result)(void *opaque, struct ktx__sender *sender,
                                                const struct ktx__batch *batch,
                                                const struct ktx__produce_outcome *out,
                                                int *final_err);
    /* A batch expired (delivery.timeout.ms) before its completion: a queued batch that was
     * sent before (a retry) leaves its partition's sequence unresolved. A batch expired in
     * flight comes as a stand-in (batch->expired_in_flight and batch->in_flight set) whose
     * answer later reaches produce_result with |out->expired| (its report is already
     * delivered: the verdict only settles the sequence). */
    void (*batch_expired)(void *opaque, const struct ktx__batch *batch);
    /* True while the layer has requests to finish before the sender may stop. */
    bool (*has_pending)(void *opaque);
    /* Called once when the graceful drain is over, before the connections close: the place
     * where a later milestone aborts an incomplete transaction. */
    void (*on_shutdown)(void *opaque, struct ktx__sender *sender);
    /* Checks that the application may send a record now (a transactional producer needs an
     * open transaction): NULL, or the error ktx_send() returns (the caller owns it).
     * Thread: application (any), unlike the other hooks. */
    ktx_error_t *(*check_send)(void *opaque);
    /* Frees the layer. Called by ktx__sender_destroy(). */
    void (*destroy)(void *opaque);
};

/* ---- verbs the layer calls (sender thread only unless said otherwise) ---- */

/* Registers |hooks| (copied) before the sender thread starts. Thread: the creator. */
void ktx__sender_set_hooks(struct ktx__sender *sender, const struct ktx__seam_hooks *hooks);

/* The net the sender owns (for the layer's own requests); borrowed, lives as long as the
 * sender. */
struct ktx__net *ktx__sender_net(struct ktx__sender *sender);

/* Number of Produce requests sent and not yet completed. */
int ktx__sender_produce_in_flight(const struct ktx__sender *sender);

/*
 * Puts the producer in a fatal state with error |code| (the first call wins): ktx_send()
 * fails with it, queued batches fail with it each turn. Thread: any.
 */
void ktx__sender_set_fatal(struct ktx__sender *sender, int code);

/* Returns the fatal error code, or 0. Thread: any. */
int ktx__sender_fatal(const struct ktx__sender *sender);

/*
 * As ktx__sender_set_fatal(), and keeps |reason| (copied: a message that names the cause,
 * e.g. the authentication failure; never a secret) for ktx__sender_fatal_reason() when this
 * call sets the code. Thread: sender.
 */
void ktx__sender_set_fatal_reason(struct ktx__sender *sender, int code, const char *reason);

/* Returns the reason kept with the fatal error, or "" (none). Borrowed from |sender|.
 * Thread: sender. */
const char *ktx__sender_fatal_reason(const struct ktx__sender *sender);

/* Asks the layer whether a record may be sent now (hooks.check_send): NULL or the error for
 * ktx_send(), owned by the caller. Thread: any. */
ktx_error_t *ktx__sender_check_send(struct ktx__sender *sender);

/* Wakes the sender thread. Thread: any. */
void ktx__sender_wakeup(struct ktx__sender *sender);

/*
 * Sends |batches| (|count|, in flight, stamped, already journaled: the layer held them out
 * of their turn with the drained hook) to their partition leaders, in array order per
 * partition, one request per ready broker (split at max.request.size). A batch whose leader
 * is unknown or not ready, and every later batch of its partition, is kept: the kept ones
 * are moved to the front of |batches| in order, and their number is returned (the layer
 * tries them again in a later turn). Never sends more than the broker's in-flight limit.
 */
size_t ktx__sender_send_journaled(struct ktx__sender *sender, struct ktx__batch **batches,
                                  size_t count, int64_t now);

/* Asks the metadata cache for an update. */
void ktx__sender_request_metadata(struct ktx__sender *sender);

/* Logs one line at |level| (KTX_LOG_*) for |facility|, printf-style. Thread: any. */
void ktx__sender_log(struct ktx__sender *sender, int level, const char *facility,
                     const char *fmt, ...) KTX__PRINTF(4, 5);

/* ---- the layer's entry point (txn/idempotence.c) ---- */

/*
 * Creates the idempotence layer for configuration |v| (borrowed for the call) and registers
 * its hooks with |sender|, which owns it from then on (hooks.destroy frees it). With
 * idempotence off the layer only classifies Produce errors. Thread: the producer's creator,
 * before the sender starts. Returns 0 or KTX_ERR_NO_MEMORY.
 */
int ktx__idempotence_register(struct ktx__sender *sender, const struct ktx__conf_values *v);

/*
 * Opens the persisted state (txn/persist.c) when |v| (borrowed for the call) has state.path,
 * after ktx__idempotence_register() and before the sender starts: the layer then owns it.
 * Does nothing without state.path. On failure writes a message naming the state file to
 * |errbuf| (|errlen| bytes). Thread: the producer's creator.
 * Returns 0, KTX_ERR_NO_MEMORY, KTX_ERR_UNSUPPORTED (state.journal=true) or KTX_ERR_STORE.
 */
int ktx__persist_attach(struct ktx__sender *sender, const struct ktx__conf_values *v,
                        char *errbuf, size_t errlen);

#endif /* KTX_SEAM_H */
