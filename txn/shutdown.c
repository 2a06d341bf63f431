/*
 * Abort-on-shutdown (docs/transactions.md, "Shutdown"): when a transactional producer is
 * closed, the sender first drains what was sent (records join the open transaction as
 * usual), then this file aborts the transaction that is still incomplete and waits for the
 * coordinator's answer, so that a restarted instance never waits for transaction.timeout.ms.
 * All of it runs within the close timeout: ktx_close() forces the sender when time runs out
 * (what is left then fails with _PURGED). Neither librdkafka nor Kafka's Java client abort
 * on close; kafkatx does.
 *
 * The hook used is has_pending (seam.h): the sender calls it only while it drains for a
 * close, once no record is queued or in flight, which is exactly the moment of the seed's
 * "abort an incomplete transaction" step.
 *
 * Thread: sender. Locks: the state machine's own.
 */
#include "txnmgr.h"

bool ktx__txn_shutdown_pending(void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__txnmgr *mgr = idem->txn;
    enum ktx__txn_state st = ktx__txn_sm_state(&mgr->sm);

    if (ktx__sender_fatal(mgr->sender))
        return false;
    if (st == KTX__TXN_IN_TRANSACTION || st == KTX__TXN_ABORTABLE_ERROR) {
        /* An API-side transition, taken by the sender for the closing application. It only
         * fails when another operation waits uncollected; its own result is dropped. */
        if (ktx__txn_begin_abort(&mgr->sm) == 0) {
            mgr->shutdown_abort = true;
            ktx__sender_log(mgr->sender, KTX_LOG_NOTICE, "txn",
                            "closing with an open transaction: aborting it");
            return true;
        }
        return mgr->in_flight != KTX__TXNR_NONE;
    }
    if (st == KTX__TXN_ABORTING || st == KTX__TXN_COMMITTING)
        return true;
    if (st == KTX__TXN_INITIALIZING && mgr->shutdown_abort)
        return false; /* the epoch bump after the abort is not needed any more */
    return mgr->in_flight != KTX__TXNR_NONE;
}
