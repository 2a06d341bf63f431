/*
 * The idempotence layer: its registration with the sender (the hooks of seam.h) and the
 * Produce outcome handler. Each outcome is classified by the one table (txn_classify.h,
 * KTX__TXN_REQ_PRODUCE_IDEMPOTENT) and the action is applied here; without idempotence the
 * same table decides what is retried and what fails.
 *
 * Thread: sender (hooks). Locks: none.
 */
#include <stdlib.h>

#include "idempotence.h"
#include "persist.h"
#include "txnmgr.h"

/* The error a batch that cannot be retried any more fails with. */
static int give_up_error(const struct ktx__produce_outcome *out)
{
    return out->expired ? KTX_ERR_MSG_TIMED_OUT : out->err;
}

/* Apply for a producer without idempotence: retry what the table retries, fail the rest. */
static enum ktx__produce_verdict apply_plain(struct ktx__idem *idem, enum ktx__txn_action action,
                                             const struct ktx__produce_outcome *out,
                                             int *final_err)
{
    *final_err = 0;
    switch (action) {
    case KTX__TXN_ACT_SUCCESS:
    case KTX__TXN_ACT_DUPLICATE_AS_SUCCESS:
        return KTX__PV_COMPLETE;
    case KTX__TXN_ACT_RETRY:
    case KTX__TXN_ACT_RETRY_REFRESH_METADATA:
        if (out->can_retry)
            return action == KTX__TXN_ACT_RETRY ? KTX__PV_RETRY : KTX__PV_RETRY_REFRESH;
        *final_err = give_up_error(out);
        return KTX__PV_COMPLETE;
    case KTX__TXN_ACT_FATAL:
        ktx__sender_set_fatal(idem->sender, out->err);
        /* fall through */
    default:
        *final_err = out->err;
        return KTX__PV_COMPLETE;
    }
}

/* A retriable error of an idempotent batch: retry it, or give up and leave its fate to
 * the resolution of its partition's sequences. */
static enum ktx__produce_verdict retry_or_give_up(struct ktx__idem *idem,
                                                  const struct ktx__batch *batch,
                                                  const struct ktx__produce_outcome *out,
                                                  enum ktx__produce_verdict verdict,
                                                  int *final_err)
{
    if (out->can_retry)
        return verdict;
    if (ktx__seq_is_current(idem, batch))
        ktx__seq_failed(idem, batch, true);
    *final_err = give_up_error(out);
    return KTX__PV_COMPLETE;
}

/* OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID: as Kafka, an out-of-order answer for a
 * batch that is not next in line only means an earlier batch failed: retry it as is.
 * Otherwise drain, bump the epoch, and retry the batch with a fresh sequence. */
static enum ktx__produce_verdict apply_bump(struct ktx__idem *idem, const struct ktx__batch *batch,
                                            const struct ktx__produce_outcome *out,
                                            int *final_err)
{
    struct ktx__idem_part *p = ktx__seq_part(idem, batch->part);
    bool current = ktx__seq_is_current(idem, batch);

    if (out->err == KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER && current && p && !p->unresolved &&
        !ktx__seq_is_next(idem, batch))
        return retry_or_give_up(idem, batch, out, KTX__PV_RETRY, final_err);
    if (current)
        ktx__epoch_request_bump(idem, ktx_err_name(out->err));
    if (out->can_retry)
        return KTX__PV_RETRY; /* restamped with the new epoch once it is there */
    if (current)
        ktx__seq_failed(idem, batch, false);
    *final_err = give_up_error(out);
    return KTX__PV_COMPLETE;
}

/* Apply for an idempotent producer. */
static enum ktx__produce_verdict apply_idempotent(struct ktx__idem *idem,
                                                  const struct ktx__batch *batch,
                                                  enum ktx__txn_action action,
                                                  const struct ktx__produce_outcome *out,
                                                  int *final_err)
{
    bool current = ktx__seq_is_current(idem, batch);

    *final_err = 0;
    switch (action) {
    case KTX__TXN_ACT_SUCCESS:
    case KTX__TXN_ACT_DUPLICATE_AS_SUCCESS:
        if (current)
            ktx__seq_acked(idem, batch);
        return KTX__PV_COMPLETE;
    case KTX__TXN_ACT_RETRY:
        return retry_or_give_up(idem, batch, out, KTX__PV_RETRY, final_err);
    case KTX__TXN_ACT_RETRY_REFRESH_METADATA:
        return retry_or_give_up(idem, batch, out, KTX__PV_RETRY_REFRESH, final_err);
    case KTX__TXN_ACT_BUMP_EPOCH:
        return apply_bump(idem, batch, out, final_err);
    case KTX__TXN_ACT_FATAL:
        ktx__sender_set_fatal(idem->sender, out->err);
        *final_err = out->err;
        return KTX__PV_COMPLETE;
    default:
        /* The batch is not written: its sequences leave a gap that only a bump closes. */
        if (current) {
            ktx__seq_failed(idem, batch, false);
            ktx__epoch_request_bump(idem, "a batch failed for good");
        }
        *final_err = out->err;
        return KTX__PV_COMPLETE;
    }
}

/* The produce_result hook: decode happened in the sender; classify, then apply. */
static enum ktx__produce_verdict produce_result(void *opaque, struct ktx__sender *sender,
                                                const struct ktx__batch *batch,
                                                const struct ktx__produce_outcome *out,
                                                int *final_err)
{
    struct ktx__idem *idem = opaque;
    struct ktx__txn_classify_ctx ctx = {out->version, idem->epoch_bump_supported};
    enum ktx__txn_action action =
        ktx__txn_classify(KTX__TXN_REQ_PRODUCE_IDEMPOTENT, out->err, &ctx);

    (void)sender;
    if (action != KTX__TXN_ACT_SUCCESS)
        ktx__sender_log(idem->sender, KTX_LOG_DEBUG, "txn", "%s [%d] seq %d: %s -> %s",
                        batch->topic, (int)batch->partition, (int)batch->base_sequence,
                        ktx_err_name(out->err), ktx__txn_action_name(action));
    if (!idem->idempotent)
        return apply_plain(idem, action, out, final_err);
    return apply_idempotent(idem, batch, action, out, final_err);
}

/* The batch_expired hook: a queued retry that was sent before may have been written. */
static void batch_expired(void *opaque, const struct ktx__batch *batch)
{
    struct ktx__idem *idem = opaque;

    if (idem->idempotent && ktx__seq_is_current(idem, batch))
        ktx__seq_failed(idem, batch, batch->retry);
}

/* The run_first hook: resolve sequences, then the producer id / epoch bump. */
static bool run_first(void *opaque, struct ktx__sender *sender, int64_t now, int64_t *timeout_ms)
{
    struct ktx__idem *idem = opaque;

    (void)sender;
    if (!idem->idempotent)
        return false;
    ktx__seq_resolve(idem);
    ktx__epoch_maybe_init(idem, now, timeout_ms);
    /* Produce data still goes through send_producer_data(): may_drain holds the batches
     * back while the id is unknown, and queued batches keep expiring meanwhile. */
    return false;
}

static bool has_pending(void *opaque)
{
    struct ktx__idem *idem = opaque;

    return idem->init_in_flight;
}

static void destroy(void *opaque)
{
    struct ktx__idem *idem = opaque;

    ktx__persist_close(idem);
    ktx__seq_free(idem);
    free(idem);
}

int ktx__idempotence_register(struct ktx__sender *sender, const struct ktx__conf_values *v)
{
    struct ktx__idem *idem = calloc(1, sizeof(*idem));
    struct ktx__seam_hooks hooks = {0};

    if (!idem)
        return KTX_ERR_NO_MEMORY;
    idem->sender = sender;
    idem->idempotent = v->enable_idempotence;
    idem->producer_id = -1;
    idem->producer_epoch = -1;
    idem->epoch_bump_supported = true;
    idem->transaction_timeout_ms = (int32_t)v->transaction_timeout_ms;
    idem->retry_backoff_ms = v->retry_backoff_ms;
    idem->retry_backoff_max_ms = v->retry_backoff_max_ms;
    hooks.opaque = idem;
    hooks.may_drain = ktx__seq_may_drain;
    hooks.assign = ktx__seq_assign;
    hooks.run_first = run_first;
    hooks.produce_result = produce_result;
    hooks.batch_expired = batch_expired;
    hooks.has_pending = has_pending;
    hooks.destroy = destroy;
    /* A transactional producer: the manager takes over the hooks (txnmgr.h). */
    if (v->transactional_id && ktx__txnmgr_attach(idem, v, &hooks) != 0) {
        free(idem);
        return KTX_ERR_NO_MEMORY;
    }
    ktx__sender_set_hooks(sender, &hooks);
    return 0;
}
