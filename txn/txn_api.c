/*
 * The public transactional calls (include/kafkatx.h, docs/api.md "Transactions"): each
 * starts (or resumes) an operation of the state machine (txn_state.h), wakes the sender
 * thread, which does the requests (txnmgr.c), and waits up to its timeout. A call that
 * times out leaves the operation pending: calling the same function again waits for it.
 *
 * Thread: application threads. Locks: the state machine's own (never held while waiting
 * for I/O: ktx__txn_op_wait() sleeps on its condition variable).
 */
#include <stdlib.h>
#include <string.h>

#include "producer_int.h"
#include "sender_int.h"
#include "txnmgr.h"

/* The manager of |p|, or NULL when |p| is not transactional. */
static struct ktx__txnmgr *manager(ktx_producer_t *p)
{
    struct ktx__idem *idem;

    if (!p || !p->sender || !p->v.transactional_id)
        return NULL;
    idem = p->sender->hooks.opaque;
    return idem ? idem->txn : NULL;
}

/* The error of a call on a producer without transactional.id (or NULL). */
static ktx_error_t *not_transactional(ktx_producer_t *p, const char *call)
{
    if (!p)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "%s: producer is NULL", call);
    return ktx__error_new(KTX_ERR_STATE, 0, "%s: the producer has no transactional.id", call);
}

/* Waits for the pending |op| up to |timeout_ms| and builds the call's result. */
static ktx_error_t *wait_op(struct ktx__txnmgr *mgr, enum ktx__txn_op op, int timeout_ms,
                            const char *call)
{
    ktx_error_t *err = NULL;
    int rc;

    ktx__sender_wakeup(mgr->sender);
    rc = ktx__txn_op_wait(&mgr->sm, op, timeout_ms, &err);
    if (rc == KTX_ERR_TIMED_OUT && !err)
        return ktx__error_new(KTX_ERR_TIMED_OUT, KTX__ERR_F_RETRIABLE,
                              "%s: not complete after %d ms; call it again to resume", call,
                              timeout_ms);
    if (rc != 0 && !err)
        return ktx__txn_sm_api_error(&mgr->sm, rc, call);
    return err;
}

/* Starts (or resumes) |op| and waits for it. */
static ktx_error_t *run_op(struct ktx__txnmgr *mgr, enum ktx__txn_op op, int timeout_ms,
                           const char *call, bool *resumed)
{
    int rc = ktx__txn_op_start(&mgr->sm, op, resumed);

    if (rc != 0)
        return ktx__txn_sm_api_error(&mgr->sm, rc, call);
    return wait_op(mgr, op, timeout_ms, call);
}

ktx_error_t *ktx_init_transactions(ktx_producer_t *producer, int timeout_ms)
{
    struct ktx__txnmgr *mgr = manager(producer);
    bool resumed;

    if (!mgr)
        return not_transactional(producer, "ktx_init_transactions");
    if (timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_init_transactions: bad timeout");
    return run_op(mgr, KTX__TXN_OP_INIT, timeout_ms, "ktx_init_transactions", &resumed);
}

ktx_error_t *ktx_begin_transaction(ktx_producer_t *producer)
{
    struct ktx__txnmgr *mgr = manager(producer);
    int rc;

    if (!mgr)
        return not_transactional(producer, "ktx_begin_transaction");
    rc = ktx__txn_begin(&mgr->sm);
    return rc ? ktx__txn_sm_api_error(&mgr->sm, rc, "ktx_begin_transaction") : NULL;
}

/* Serves the delivery reports that are ready (the records of the ended transaction). */
static void serve_reports(ktx_producer_t *producer)
{
    while (ktx_poll(producer, 0) > 0)
        ;
}

ktx_error_t *ktx_commit_transaction(ktx_producer_t *producer, int timeout_ms)
{
    static const char call[] = "ktx_commit_transaction";
    struct ktx__txnmgr *mgr = manager(producer);
    ktx_error_t *err;
    bool resumed;
    int rc;

    if (!mgr)
        return not_transactional(producer, call);
    if (timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "%s: bad timeout", call);
    /* COMMITTING first: from now on the sender sends EndTxn by itself in the turn after the
     * last batch of the transaction completed, without waiting for this thread. A record
     * that failed already has made the state abortable, which the start reports. */
    if ((rc = ktx__txn_op_start(&mgr->sm, KTX__TXN_OP_COMMIT, &resumed)) != 0)
        return ktx__txn_sm_api_error(&mgr->sm, rc, call);
    /* Meanwhile every queued batch is ready at once (no linger), as in ktx_flush(); this
     * thread sleeps until EndTxn completed and serves the delivery reports afterwards (one
     * wake-up per commit instead of one per report while the sender is busy). */
    ktx__accumulator_flush_begin(producer->acc);
    err = wait_op(mgr, KTX__TXN_OP_COMMIT, timeout_ms, call);
    ktx__accumulator_flush_end(producer->acc);
    serve_reports(producer);
    return err;
}

ktx_error_t *ktx_abort_transaction(ktx_producer_t *producer, int timeout_ms)
{
    struct ktx__txnmgr *mgr = manager(producer);
    ktx_error_t *err;
    bool resumed;

    if (!mgr)
        return not_transactional(producer, "ktx_abort_transaction");
    if (timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_abort_transaction: bad timeout");
    err = run_op(mgr, KTX__TXN_OP_ABORT, timeout_ms, "ktx_abort_transaction", &resumed);
    serve_reports(producer);
    return err;
}

/* Copies |offsets| and |group| into |o|. Returns 0 or KTX_ERR_NO_MEMORY. */
static int copy_offsets(struct ktx__txnmgr_offsets *o, const ktx_offsets_t *offsets,
                        const ktx_group_metadata_t *group)
{
    ktx__txnmgr_offsets_clear(o);
    o->generation_id = group->generation_id;
    if (!(o->group_id = strdup(group->group_id)) ||
        !(o->member_id = strdup(group->member_id ? group->member_id : "")) ||
        (group->group_instance_id && !(o->group_instance_id = strdup(group->group_instance_id))) ||
        !(o->v = calloc(offsets->count + 1, sizeof(*o->v))))
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < offsets->count; i++, o->count++) {
        const ktx_offset_t *in = &offsets->offsets[i];

        o->v[i].partition = in->partition;
        o->v[i].offset = in->offset;
        if (!(o->v[i].topic = strdup(in->topic)) ||
            (in->metadata && !(o->v[i].metadata = strdup(in->metadata))))
            return o->count++, KTX_ERR_NO_MEMORY;
    }
    return 0;
}

/* Checks the arguments of ktx_send_offsets_to_transaction(). */
static bool offsets_valid(const ktx_offsets_t *offsets, const ktx_group_metadata_t *group)
{
    if (!offsets || !group || !group->group_id || !*group->group_id ||
        (offsets->count && !offsets->offsets))
        return false;
    for (size_t i = 0; i < offsets->count; i++)
        if (!offsets->offsets[i].topic || offsets->offsets[i].partition < 0 ||
            offsets->offsets[i].offset < 0)
            return false;
    return true;
}

ktx_error_t *ktx_send_offsets_to_transaction(ktx_producer_t *producer,
                                             const ktx_offsets_t *offsets,
                                             const ktx_group_metadata_t *group, int timeout_ms)
{
    static const char call[] = "ktx_send_offsets_to_transaction";
    struct ktx__txnmgr *mgr = manager(producer);
    bool done;
    int rc;

    if (!mgr)
        return not_transactional(producer, call);
    if (!offsets_valid(offsets, group) || timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "%s: invalid argument", call);
    if (ktx__txn_sm_pending(&mgr->sm, &done) == KTX__TXN_OP_SEND_OFFSETS)
        return wait_op(mgr, KTX__TXN_OP_SEND_OFFSETS, timeout_ms, call); /* resumed */
    if ((rc = ktx__txn_check_send(&mgr->sm)) != 0)
        return ktx__txn_sm_api_error(&mgr->sm, rc, call);
    if (offsets->count == 0)
        return NULL; /* nothing to commit: as Kafka's client, no request */
    /* The sender reads the copy only once the operation below is pending. */
    mgr->group_coord_node = -1;
    if (copy_offsets(&mgr->offsets, offsets, group) != 0) {
        ktx__txnmgr_offsets_clear(&mgr->offsets);
        return ktx__error_oom();
    }
    if ((rc = ktx__txn_op_start(&mgr->sm, KTX__TXN_OP_SEND_OFFSETS, &done)) != 0)
        return ktx__txn_sm_api_error(&mgr->sm, rc, call);
    return wait_op(mgr, KTX__TXN_OP_SEND_OFFSETS, timeout_ms, call);
}
