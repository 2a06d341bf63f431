/*
 * The transaction manager: its hooks (in place of the idempotence layer's) and the step
 * function run at the start of every sender turn, which turns the state of the state
 * machine into the next coordinator request. See txnmgr.h for the design.
 *
 * Thread: sender (hooks, step), except attach/free. Locks: the state machine's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "sender_int.h"
#include "txnmgr.h"

void ktx__txnmgr_offsets_clear(struct ktx__txnmgr_offsets *o)
{
    for (size_t i = 0; i < o->count; i++) {
        free(o->v[i].topic);
        free(o->v[i].metadata);
    }
    free(o->v);
    free(o->group_id);
    free(o->member_id);
    free(o->group_instance_id);
    memset(o, 0, sizeof(*o));
}

void ktx__txnmgr_fail(struct ktx__txnmgr *mgr, enum ktx__txn_action action, ktx_error_t *err)
{
    if (action == KTX__TXN_ACT_FATAL) {
        ktx__sender_set_fatal(mgr->sender, ktx_error_code(err));
        ktx__txn_fatal_error(&mgr->sm, err);
        return;
    }
    ktx__txn_abortable_error(&mgr->sm, err, action == KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH);
}

void ktx__txnmgr_retry(struct ktx__txnmgr *mgr, enum ktx__txn_request req, int code, bool refind)
{
    struct ktx__sender *s = mgr->sender;
    int64_t backoff = ktx__txn_retry_backoff_ms(req, code, mgr->attempts++,
                                                (int)mgr->idem->retry_backoff_ms,
                                                (int)mgr->idem->retry_backoff_max_ms);

    if (refind) {
        if (req == KTX__TXN_REQ_TXN_OFFSET_COMMIT)
            mgr->group_coord_node = -1;
        else
            mgr->coord_node = -1;
    }
    mgr->next_try_ms = ktx__net_now(ktx__sender_net(s)) + backoff;
    ktx__sender_log(s, KTX_LOG_DEBUG, "txn", "%s failed with %s: retrying in %lld ms%s",
                    ktx__txn_request_name(req), ktx_err_name(code), (long long)backoff,
                    refind ? " after looking up the coordinator" : "");
}

/* Where |part| is or would go in mgr->parts, which is sorted by partition address (so that
 * the lookups of every sender turn stay O(log n) with thousands of partitions). */
static size_t part_slot(const struct ktx__txnmgr *mgr, const struct ktx__acc_part *part)
{
    size_t lo = 0, hi = mgr->parts_len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if ((uintptr_t)mgr->parts[mid].part < (uintptr_t)part)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The partition entry of |part| in the current transaction, or NULL. */
static struct ktx__txnmgr_part *find_part(struct ktx__txnmgr *mgr, const struct ktx__acc_part *part)
{
    size_t i = part_slot(mgr, part);

    return i < mgr->parts_len && mgr->parts[i].part == part ? &mgr->parts[i] : NULL;
}

/* Records |part| (not in the transaction yet) as a NEW partition of the current transaction.
 * Returns the entry (valid until the next add_part()), or NULL when out of memory (the
 * partition is then recorded at a later turn). */
static struct ktx__txnmgr_part *add_part(struct ktx__txnmgr *mgr, const struct ktx__acc_part *part)
{
    size_t i = part_slot(mgr, part);

    if (mgr->parts_len == mgr->parts_cap) {
        size_t ncap = mgr->parts_cap ? mgr->parts_cap * 2 : 16;
        struct ktx__txnmgr_part *n = realloc(mgr->parts, ncap * sizeof(*n));

        if (!n)
            return NULL;
        mgr->parts = n;
        mgr->parts_cap = ncap;
    }
    memmove(&mgr->parts[i + 1], &mgr->parts[i], (mgr->parts_len - i) * sizeof(mgr->parts[0]));
    mgr->parts_len++;
    mgr->parts[i].part = part;
    mgr->parts[i].state = KTX__TXNP_NEW;
    return &mgr->parts[i];
}

/*
 * Records every partition that has a queued batch and is not part of the transaction yet,
 * so that its AddPartitionsToTxn goes out in this very turn: as soon as the partition has
 * its first record (Kafka's TransactionManager.maybeAddPartition at send time), not when
 * its first batch is ready (full or lingered) to be drained. Transactions v1 only (v2 adds
 * partitions with the Produce request). Thread: sender.
 */
static void note_queued_parts(struct ktx__txnmgr *mgr)
{
    if (!mgr->decided || mgr->v2)
        return;
    mgr->queued.len = 0;
    (void)ktx__accumulator_undrained(mgr->acc, &mgr->queued); /* on ENOMEM: what fitted */
    for (size_t i = 0; i < mgr->queued.len; i++)
        if (!find_part(mgr, mgr->queued.v[i]) && !add_part(mgr, mgr->queued.v[i]))
            return;
}

/* The may_drain hook: a partition joins the transaction before its first batch goes. */
static bool may_drain(void *opaque, const struct ktx__batch *batch)
{
    struct ktx__idem *idem = opaque;
    struct ktx__txnmgr *mgr = idem->txn;
    enum ktx__txn_state st = ktx__txn_sm_state(&mgr->sm);
    struct ktx__txnmgr_part *p;

    if (st != KTX__TXN_IN_TRANSACTION && st != KTX__TXN_COMMITTING)
        return false;
    if (!(p = find_part(mgr, batch->part))) {
        /* Not seen by note_queued_parts() yet (appended during this turn). */
        if (add_part(mgr, batch->part))
            ktx__sender_wakeup(mgr->sender); /* AddPartitionsToTxn goes next turn */
        return false;
    }
    if (p->state == KTX__TXNP_NEW && mgr->decided && mgr->v2) {
        p->state = KTX__TXNP_ADDED; /* KIP-890: the Produce request adds the partition */
        mgr->ended_needed = true;
    }
    if (p->state != KTX__TXNP_ADDED)
        return false;
    return ktx__seq_may_drain(idem, batch);
}

/* The assign hook: the idempotent stamp, marked transactional. */
static bool assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                   int16_t *producer_epoch, int32_t *base_sequence, bool *transactional)
{
    bool r = ktx__seq_assign(opaque, batch, producer_id, producer_epoch, base_sequence,
                             transactional);

    *transactional = true;
    return r;
}

/* True when an OUT_OF_ORDER_SEQUENCE_NUMBER answer for |batch| only means that an earlier
 * batch of its partition failed and is being retried (as Kafka's TransactionManager
 * canRetry): the batch is current, its partition has no unresolved sequence and it is not
 * next in line. Such a batch is retried as is instead of aborting the transaction. */
static bool out_of_order_behind_a_retry(struct ktx__idem *idem, const struct ktx__batch *batch,
                                        const struct ktx__produce_outcome *out)
{
    struct ktx__idem_part *p;

    if (out->err != KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER || !out->can_retry ||
        !ktx__seq_is_current(idem, batch))
        return false;
    p = ktx__seq_part(idem, batch->part);
    return p && !p->unresolved && !ktx__seq_is_next(idem, batch);
}

/* The produce_result hook: the PRODUCE_TXN rows of the table. A batch that failed for good
 * makes the transaction abortable (KIP-588: a produce INVALID_PRODUCER_EPOCH too). */
static enum ktx__produce_verdict produce_result(void *opaque, struct ktx__sender *sender,
                                                const struct ktx__batch *batch,
                                                const struct ktx__produce_outcome *out,
                                                int *final_err)
{
    struct ktx__idem *idem = opaque;
    struct ktx__txnmgr *mgr = idem->txn;
    struct ktx__txn_classify_ctx ctx = {out->version, idem->epoch_bump_supported};
    enum ktx__txn_action action;
    ktx_error_t *err = ktx__txn_classify_error(KTX__TXN_REQ_PRODUCE_TXN, out->err, &ctx, &action);
    bool current = ktx__seq_is_current(idem, batch);

    (void)sender;
    *final_err = 0;
    if (action == KTX__TXN_ACT_SUCCESS || action == KTX__TXN_ACT_DUPLICATE_AS_SUCCESS) {
        ktx_error_destroy(err);
        if (current)
            ktx__seq_acked(idem, batch);
        return KTX__PV_COMPLETE;
    }
    if ((action == KTX__TXN_ACT_RETRY || action == KTX__TXN_ACT_RETRY_REFRESH_METADATA) &&
        out->can_retry) {
        ktx_error_destroy(err);
        return action == KTX__TXN_ACT_RETRY ? KTX__PV_RETRY : KTX__PV_RETRY_REFRESH;
    }
    if (out_of_order_behind_a_retry(idem, batch, out)) {
        ktx_error_destroy(err);
        return KTX__PV_RETRY;
    }
    ktx__sender_log(idem->sender, KTX_LOG_WARNING, "txn", "%s [%d] epoch %d seq %d: %s -> %s",
                    batch->topic, (int)batch->partition, (int)batch->producer_epoch,
                    (int)batch->base_sequence, ktx_err_name(out->err),
                    ktx__txn_action_name(action));
    if (current)
        ktx__seq_failed(idem, batch, out->expired || action == KTX__TXN_ACT_RETRY);
    *final_err = out->expired ? KTX_ERR_MSG_TIMED_OUT : out->err;
    if (action != KTX__TXN_ACT_FATAL && action != KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH)
        action = KTX__TXN_ACT_ABORTABLE;
    ktx__txnmgr_fail(mgr, action, err);
    return KTX__PV_COMPLETE;
}

/* The batch_expired hook: the transaction cannot commit any more. */
static void batch_expired(void *opaque, const struct ktx__batch *batch)
{
    struct ktx__idem *idem = opaque;

    if (ktx__seq_is_current(idem, batch))
        ktx__seq_failed(idem, batch, batch->retry);
    ktx__txnmgr_fail(idem->txn, KTX__TXN_ACT_ABORTABLE,
                     ktx__error_new(KTX_ERR_MSG_TIMED_OUT, KTX__ERR_F_ABORTABLE,
                                    "%s [%d]: a batch expired (delivery.timeout.ms)",
                                    batch->topic, (int)batch->partition));
}

/* Makes sure the coordinator of the request to send is known; false while it is not. */
static bool have_coordinator(struct ktx__txnmgr *mgr, bool group, int64_t now,
                             int64_t *timeout_ms)
{
    struct ktx__net *net = ktx__sender_net(mgr->sender);
    int64_t delay = INT64_MAX;
    int32_t node = group ? mgr->group_coord_node : mgr->coord_node;

    if (node >= 0) {
        if (ktx__net_ready(net, node, now)) {
            mgr->unready_since = -1;
            return true;
        }
        if (mgr->unready_since < 0)
            mgr->unready_since = now;
        if (now - mgr->unready_since < KTX__TXNMGR_COORD_WAIT_MS) {
            *timeout_ms = KTX__MIN(*timeout_ms,
                                   KTX__MIN(ktx__net_poll_delay(net, node, now),
                                            mgr->unready_since + KTX__TXNMGR_COORD_WAIT_MS - now));
            return false;
        }
        /* The coordinator stays unreachable: it may have moved, ask any broker again. */
        ktx__sender_log(mgr->sender, KTX_LOG_INFO, "txn",
                        "coordinator node %d unreachable for %d ms: looking it up again",
                        (int)node, KTX__TXNMGR_COORD_WAIT_MS);
        mgr->unready_since = -1;
        if (group)
            mgr->group_coord_node = -1;
        else
            mgr->coord_node = -1;
    }
    node = ktx__net_least_loaded(net, now, &delay);
    if (node == KTX__NET_NO_NODE) {
        *timeout_ms = KTX__MIN(*timeout_ms, delay);
        return false;
    }
    if (!ktx__net_ready(net, node, now)) {
        *timeout_ms = KTX__MIN(*timeout_ms, ktx__net_poll_delay(net, node, now));
        return false;
    }
    if (ktx__txnreq_find_coordinator(mgr, node, group, now) != 0)
        ktx__txnmgr_retry(mgr, KTX__TXN_REQ_FIND_COORDINATOR, KTX_ERR_TRANSPORT, false);
    return false;
}

/* Sends |req| to its coordinator once it is known; a send failure is retried later. */
static void send_to_coordinator(struct ktx__txnmgr *mgr, enum ktx__txnmgr_req req, int64_t now,
                                int64_t *timeout_ms)
{
    int err;

    if (!have_coordinator(mgr, req == KTX__TXNR_TXN_OFFSET_COMMIT, now, timeout_ms))
        return;
    switch (req) {
    case KTX__TXNR_INIT:
        err = ktx__txnreq_init_producer_id(mgr, now);
        break;
    case KTX__TXNR_ADD_PARTITIONS:
        err = ktx__txnreq_add_partitions(mgr, now);
        break;
    case KTX__TXNR_ADD_OFFSETS:
        err = ktx__txnreq_add_offsets(mgr, now);
        break;
    case KTX__TXNR_TXN_OFFSET_COMMIT:
        err = ktx__txnreq_txn_offset_commit(mgr, now);
        break;
    case KTX__TXNR_API_VERSIONS:
        err = ktx__txnreq_api_versions(mgr, now);
        break;
    default:
        err = ktx__txnreq_end_txn(mgr, ktx__txn_sm_state(&mgr->sm) == KTX__TXN_COMMITTING, now);
        break;
    }
    if (err != 0) /* not sent (the connection went away): look the coordinator up again */
        ktx__txnmgr_retry(mgr, req == KTX__TXNR_TXN_OFFSET_COMMIT ? KTX__TXN_REQ_TXN_OFFSET_COMMIT
                                                                  : KTX__TXN_REQ_END_TXN,
                          err, true);
}

/*
 * Decides once per transaction between transactions v1 and v2 (KIP-890 part 2): v2 when the
 * coordinator's finalized transaction.version is 2 or more and it speaks Produce v12 and
 * EndTxn v5. Reads the features first (ApiVersions to the coordinator). True once decided.
 */
static bool decide_version(struct ktx__txnmgr *mgr, int64_t now, int64_t *timeout_ms)
{
    struct ktx__conn *conn;
    bool capable;

    if (mgr->decided)
        return true;
    if (!have_coordinator(mgr, false, now, timeout_ms))
        return false;
    conn = ktx__net_conn(ktx__sender_net(mgr->sender), mgr->coord_node);
    capable = conn && ktx__conn_api_version(conn, KTX__API_PRODUCE) >= 12 &&
              ktx__conn_api_version(conn, KTX__API_END_TXN) >= 5;
    if (capable && mgr->features_node != mgr->coord_node) {
        send_to_coordinator(mgr, KTX__TXNR_API_VERSIONS, now, timeout_ms);
        return false;
    }
    mgr->v2 = capable && mgr->txn_version >= 2;
    mgr->decided = true;
    ktx__sender_log(mgr->sender, KTX_LOG_DEBUG, "txn", "transaction uses transactions v%d",
                    mgr->v2 ? 2 : 1);
    ktx__sender_wakeup(mgr->sender); /* held partitions may drain now */
    return true;
}

/* True when some partition waits for AddPartitionsToTxn. */
static bool has_new_parts(const struct ktx__txnmgr *mgr)
{
    for (size_t i = 0; i < mgr->parts_len; i++)
        if (mgr->parts[i].state == KTX__TXNP_NEW)
            return true;
    return false;
}

/* The transaction is over: forget its partitions and offsets. */
static void end_of_transaction(struct ktx__txnmgr *mgr)
{
    mgr->parts_len = 0;
    mgr->ended_needed = false;
    mgr->purged = false;
    mgr->end_sent_ok = false;
    mgr->decided = false;
    mgr->attempts = 0;
}

/* EndTxn when everything of the transaction completed (or nothing was ever added). */
static void step_end(struct ktx__txnmgr *mgr, enum ktx__txn_state st, int64_t now,
                     int64_t *timeout_ms)
{
    if (st == KTX__TXN_ABORTING && !mgr->purged) {
        ktx__accumulator_abort_all(mgr->acc, KTX_ERR_PURGED);
        mgr->purged = true;
    }
    if (ktx__sender_produce_in_flight(mgr->sender) > 0 ||
        (st == KTX__TXN_COMMITTING && ktx__accumulator_has_undrained(mgr->acc)))
        return;
    if (!mgr->ended_needed) {
        ktx__persist_txn_ended(mgr->idem, st == KTX__TXN_COMMITTING); /* state.path */
        end_of_transaction(mgr);
        ktx__txn_complete(&mgr->sm);
        return;
    }
    send_to_coordinator(mgr, KTX__TXNR_END_TXN, now, timeout_ms);
}

/* The run_first hook: one step of the manager. */
static bool run_first(void *opaque, struct ktx__sender *sender, int64_t now, int64_t *timeout_ms)
{
    struct ktx__idem *idem = opaque;
    struct ktx__txnmgr *mgr = idem->txn;
    enum ktx__txn_state st;
    bool done;
    enum ktx__txn_op op;

    (void)sender;
    ktx__seq_resolve(idem);
    if (ktx__sender_fatal(mgr->sender) && ktx__txn_sm_state(&mgr->sm) != KTX__TXN_FATAL_ERROR) {
        /* The sender became fatal on its own: waiting calls must not wait for nothing. */
        int code = ktx__sender_fatal(mgr->sender);
        const char *reason = ktx__sender_fatal_reason(mgr->sender);

        ktx__txn_fatal_error(&mgr->sm, ktx__error_new(code, KTX__ERR_F_FATAL,
                                                      "the producer has a fatal error: %s%s%s",
                                                      ktx_err_name(code),
                                                      reason[0] != '\0' ? ": " : "", reason));
    }
    if (ktx__sender_fatal(mgr->sender) || mgr->in_flight != KTX__TXNR_NONE)
        return false;
    if (now < mgr->next_try_ms) {
        *timeout_ms = KTX__MIN(*timeout_ms, mgr->next_try_ms - now);
        return false;
    }
    st = ktx__txn_sm_state(&mgr->sm);
    op = ktx__txn_sm_pending(&mgr->sm, &done);
    if (st == KTX__TXN_ABORTABLE_ERROR || st == KTX__TXN_FATAL_ERROR) {
        /* As Kafka's Sender: what is still queued cannot join a transaction that can only
         * be aborted; it fails now with the transaction's error (so that flushes end). */
        int code = ktx__txn_sm_error_code(&mgr->sm);

        ktx__accumulator_abort_all(mgr->acc, code ? code : KTX_ERR_PURGED);
    }
    if (idem->bump_requested && (st == KTX__TXN_IN_TRANSACTION || st == KTX__TXN_COMMITTING))
        ktx__txnmgr_fail(mgr, KTX__TXN_ACT_ABORTABLE_BUMP_EPOCH,
                         ktx__error_new(KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                        KTX__ERR_F_ABORTABLE,
                                        "a batch of unknown fate: the epoch must be bumped"));
    switch (st) {
    case KTX__TXN_INITIALIZING:
        send_to_coordinator(mgr, KTX__TXNR_INIT, now, timeout_ms);
        break;
    case KTX__TXN_IN_TRANSACTION:
    case KTX__TXN_COMMITTING:
        if (!decide_version(mgr, now, timeout_ms))
            break;
        note_queued_parts(mgr);
        if (!mgr->v2 && has_new_parts(mgr))
            send_to_coordinator(mgr, KTX__TXNR_ADD_PARTITIONS, now, timeout_ms);
        else if (op == KTX__TXN_OP_SEND_OFFSETS && !done)
            send_to_coordinator(mgr, mgr->offsets.offsets_added ? KTX__TXNR_TXN_OFFSET_COMMIT
                                                                : KTX__TXNR_ADD_OFFSETS,
                                now, timeout_ms);
        else if (st == KTX__TXN_COMMITTING)
            step_end(mgr, st, now, timeout_ms);
        break;
    case KTX__TXN_ABORTING:
        step_end(mgr, st, now, timeout_ms);
        break;
    default:
        break;
    }
    return false;
}

/* The check_send hook: records are accepted only inside a transaction. */
static ktx_error_t *check_send(void *opaque)
{
    struct ktx__idem *idem = opaque;
    int rc = ktx__txn_check_send(&idem->txn->sm);

    return rc ? ktx__txn_sm_api_error(&idem->txn->sm, rc, "ktx_send") : NULL;
}

/* The destroy hook: the manager, then the idempotence layer (its own destroy hook). */
static void destroy(void *opaque)
{
    struct ktx__idem *idem = opaque;
    void (*idem_destroy)(void *) = idem->txn->idem_destroy;

    ktx__txnmgr_free(idem->txn);
    idem->txn = NULL;
    idem_destroy(idem);
}

int ktx__txnmgr_attach(struct ktx__idem *idem, const struct ktx__conf_values *v,
                       struct ktx__seam_hooks *hooks)
{
    struct ktx__txnmgr *mgr = calloc(1, sizeof(*mgr));

    if (!mgr)
        return KTX_ERR_NO_MEMORY;
    if (!(mgr->transactional_id = strdup(v->transactional_id)) ||
        ktx__txn_sm_init(&mgr->sm, true) != 0) {
        free(mgr->transactional_id);
        free(mgr);
        return KTX_ERR_NO_MEMORY;
    }
    mgr->idem = idem;
    mgr->sender = idem->sender;
    mgr->acc = idem->sender->acc;
    mgr->transaction_timeout_ms = (int32_t)v->transaction_timeout_ms;
    mgr->coord_node = -1;
    mgr->group_coord_node = -1;
    mgr->unready_since = -1;
    mgr->features_node = -1;
    mgr->idem_destroy = hooks->destroy;
    idem->txn = mgr;
    hooks->may_drain = may_drain;
    hooks->assign = assign;
    hooks->run_first = run_first;
    hooks->produce_result = produce_result;
    hooks->batch_expired = batch_expired;
    hooks->has_pending = ktx__txn_shutdown_pending;
    hooks->check_send = check_send;
    hooks->destroy = destroy;
    return 0;
}

void ktx__txnmgr_free(struct ktx__txnmgr *mgr)
{
    if (!mgr)
        return;
    ktx__txnmgr_offsets_clear(&mgr->offsets);
    ktx__txn_sm_destroy(&mgr->sm);
    free(mgr->parts);
    ktx__acc_part_list_free(&mgr->queued);
    free(mgr->transactional_id);
    free(mgr);
}
