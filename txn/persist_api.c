/*
 * The public calls of the persisted state (include/kafkatx.h, docs/guarantees.md):
 * ktx_checkpoint() and ktx_last_transaction().
 *
 * Thread: application threads. Locks: the persist lock around every store call.
 */
#include <stdlib.h>

#include "error.h"
#include "persist.h"
#include "producer_int.h"
#include "sender_int.h"

/* The largest checkpoint the public call accepts (docs/api.md). */
#define KTX__PERSIST_MAX_POSITION (64 * 1024)

/* The persisted state of |p|, or NULL without state.path. */
static struct ktx__persist *persist_of(ktx_producer_t *p)
{
    struct ktx__idem *idem;

    if (!p->sender)
        return NULL;
    idem = p->sender->hooks.opaque;
    return idem ? idem->persist : NULL;
}

ktx_error_t *ktx_checkpoint(ktx_producer_t *producer, const void *position, size_t len)
{
    struct ktx__persist *persist;
    ktx_error_t *e = NULL;
    int err;

    if (!producer || (!position && len > 0))
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_checkpoint: %s is NULL",
                              producer ? "position" : "producer");
    if (len > KTX__PERSIST_MAX_POSITION)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0,
                              "ktx_checkpoint: %zu bytes is over the 64 KiB limit", len);
    if (!(persist = persist_of(producer)))
        return ktx__error_new(KTX_ERR_STATE, 0, "ktx_checkpoint: state.path is not set");
    if (persist->journal) {
        /* Journal: seals the open batches; written in the store transaction that journals
         * the last batch before it (txn/journal.c). */
        if ((err = ktx__journal_checkpoint(producer->sender->hooks.opaque, position, len)) != 0)
            return ktx__error_new(err, 0, "ktx_checkpoint: out of memory");
        return NULL;
    }
    if (producer->v.transactional_id) {
        /* Transactional: written with the COMMITTED state (txn/persist.c). */
        if ((err = ktx__persist_set_pending(persist, position, len)) != 0)
            return ktx__error_new(err, 0, "ktx_checkpoint: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&persist->lock);
    err = persist->store_err ? persist->store_err
                             : ktx__store_checkpoint_set(persist->store, position, len);
    if (err != 0)
        e = ktx__error_new(err, 0, "ktx_checkpoint: %s", ktx__store_errmsg(persist->store));
    pthread_mutex_unlock(&persist->lock);
    return e;
}

/* The outcome the application sees for the stored transaction state |state|. */
static ktx_txn_outcome_t outcome_of(enum ktx__store_txn_state state)
{
    switch (state) {
    case KTX__STORE_TXN_NONE:
        return KTX_TXN_NONE;
    case KTX__STORE_TXN_COMMITTED:
        return KTX_TXN_COMMITTED;
    case KTX__STORE_TXN_ABORTED:
    case KTX__STORE_TXN_ABORTING:
        return KTX_TXN_ABORTED;
    case KTX__STORE_TXN_ONGOING:
        /* COMMITTING is written before EndTxn(commit) is sent: without it the coordinator
         * never saw a commit and aborts the transaction (at the next InitProducerId or
         * after transaction.timeout.ms). */
        return KTX_TXN_ABORTED;
    default:
        return KTX_TXN_UNKNOWN;
    }
}

ktx_error_t *ktx_last_transaction(ktx_producer_t *producer, ktx_restart_report_t *out)
{
    struct ktx__persist *persist;
    const struct ktx__persist_report *r;

    if (!producer || !out)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_last_transaction: %s is NULL",
                              producer ? "out" : "producer");
    if (!(persist = persist_of(producer)))
        return ktx__error_new(KTX_ERR_STATE, 0, "ktx_last_transaction: state.path is not set");
    r = &persist->report;
    pthread_mutex_lock(&persist->lock);
    out->outcome = outcome_of(r->txn_state);
    out->producer_id = r->producer_id;
    out->producer_epoch = r->producer_epoch;
    out->position = r->position;
    out->position_len = r->position_len;
    out->committed_at_ms = r->txn_state == KTX__STORE_TXN_NONE ? 0 : r->updated_ms;
    out->producer_id_reset = persist->id_reset ? 1 : 0;
    pthread_mutex_unlock(&persist->lock);
    return NULL;
}
