/*
 * The transaction manager's state machine: the table of valid transitions, one function per
 * state change, the last error, the epoch-bump flag and the pending resumable operation.
 *
 * Every function locks sm->lock itself (a leaf lock). API-side failures change nothing;
 * sender-side invalid transitions poison the state to FATAL_ERROR (see txn_state.h).
 */
#include "txn_state.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"

#define T KTX__TXN_MODE_TXN
#define I KTX__TXN_MODE_IDEM
#define B (KTX__TXN_MODE_TXN | KTX__TXN_MODE_IDEM)

/* Shortens the rows below. */
#define S(x) KTX__TXN_##x
#define E(x) KTX__TXN_EV_##x

#define WHY_FATAL "A fatal error (e.g. PRODUCER_FENCED), or an invalid sender-side transition."
#define WHY_CLOSE "close(): a pending call completes with _CLOSED."

static const struct ktx__txn_transition transitions[] = {
    {S(UNINITIALIZED), E(INIT), S(INITIALIZING), T,
     "init_transactions(): InitProducerId registers the transactional.id."},
    {S(UNINITIALIZED), E(ACQUIRE_PID), S(INITIALIZING), I,
     "The sender requests a producer id for the idempotent producer."},
    {S(BUMPING_EPOCH), E(ACQUIRE_PID), S(INITIALIZING), I,
     "Drained: InitProducerId with the current id and epoch bumps the epoch (KIP-360)."},
    {S(INITIALIZING), E(INIT_DONE), S(READY), B,
     "InitProducerId answered: a pending init (or the abort that bumped the epoch) completes."},
    {S(READY), E(BEGIN), S(IN_TRANSACTION), T, "begin_transaction()."},
    {S(IN_TRANSACTION), E(BEGIN_COMMIT), S(COMMITTING), T,
     "commit_transaction(): flush the records, then EndTxn(commit)."},
    {S(IN_TRANSACTION), E(BEGIN_ABORT), S(ABORTING), T,
     "abort_transaction(): purge the records, then EndTxn(abort)."},
    {S(ABORTABLE_ERROR), E(BEGIN_ABORT), S(ABORTING), T,
     "abort_transaction() after an abortable error: the only way out of ABORTABLE_ERROR."},
    {S(COMMITTING), E(COMPLETE), S(READY), T, "EndTxn(commit) answered: the transaction committed."},
    {S(ABORTING), E(COMPLETE), S(READY), T,
     "EndTxn(abort) answered and no epoch bump is required: the transaction aborted."},
    {S(ABORTING), E(COMPLETE), S(INITIALIZING), T,
     "EndTxn(abort) answered (or skipped) and an epoch bump is required: InitProducerId with "
     "the current id and epoch (KIP-360) completes the abort."},
    {S(IN_TRANSACTION), E(ABORTABLE), S(ABORTABLE_ERROR), T,
     "A record, partition or offset commit failed: the transaction cannot commit."},
    {S(COMMITTING), E(ABORTABLE), S(ABORTABLE_ERROR), T,
     "The commit failed abortably: nothing was committed; abort."},
    {S(ABORTABLE_ERROR), E(ABORTABLE), S(ABORTABLE_ERROR), T,
     "A further abortable error: the first error is kept."},
    {S(ABORTING), E(ABORTABLE), S(ABORTING), T,
     "Errors of the transaction being aborted are dropped."},
    {S(UNINITIALIZED), E(FATAL), S(FATAL_ERROR), B, WHY_FATAL},
    {S(INITIALIZING), E(FATAL), S(FATAL_ERROR), B, WHY_FATAL},
    {S(READY), E(FATAL), S(FATAL_ERROR), B, WHY_FATAL},
    {S(IN_TRANSACTION), E(FATAL), S(FATAL_ERROR), T, WHY_FATAL},
    {S(COMMITTING), E(FATAL), S(FATAL_ERROR), T, WHY_FATAL},
    {S(ABORTING), E(FATAL), S(FATAL_ERROR), T, WHY_FATAL},
    {S(ABORTABLE_ERROR), E(FATAL), S(FATAL_ERROR), T, WHY_FATAL},
    {S(BUMPING_EPOCH), E(FATAL), S(FATAL_ERROR), I, WHY_FATAL},
    {S(FATAL_ERROR), E(FATAL), S(FATAL_ERROR), B, "A further fatal error: the first is kept."},
    {S(READY), E(BUMP_START), S(BUMPING_EPOCH), I,
     "OUT_OF_ORDER_SEQUENCE_NUMBER or UNKNOWN_PRODUCER_ID: stop sending, drain in-flight "
     "requests."},
    {S(BUMPING_EPOCH), E(BUMP_DONE), S(READY), I,
     "Drained: the epoch was bumped locally and sequences restart at 0."},
    {S(READY), E(RESET_PID), S(UNINITIALIZED), I,
     "The epoch is exhausted: drop the producer id and request a new one."},
    {S(BUMPING_EPOCH), E(RESET_PID), S(UNINITIALIZED), I,
     "The epoch is exhausted: drop the producer id and request a new one."},
    {S(UNINITIALIZED), E(CLOSE), S(CLOSING), B, WHY_CLOSE},
    {S(INITIALIZING), E(CLOSE), S(CLOSING), B, WHY_CLOSE},
    {S(READY), E(CLOSE), S(CLOSING), B, WHY_CLOSE},
    {S(IN_TRANSACTION), E(CLOSE), S(CLOSING), T, WHY_CLOSE},
    {S(COMMITTING), E(CLOSE), S(CLOSING), T, WHY_CLOSE},
    {S(ABORTING), E(CLOSE), S(CLOSING), T, WHY_CLOSE},
    {S(ABORTABLE_ERROR), E(CLOSE), S(CLOSING), T, WHY_CLOSE},
    {S(FATAL_ERROR), E(CLOSE), S(CLOSING), B, WHY_CLOSE},
    {S(BUMPING_EPOCH), E(CLOSE), S(CLOSING), I, WHY_CLOSE},
};

static const char *const state_names[KTX__TXN_STATE_COUNT] = {
    "UNINITIALIZED", "INITIALIZING", "READY", "IN_TRANSACTION", "COMMITTING_TRANSACTION",
    "ABORTING_TRANSACTION", "ABORTABLE_ERROR", "FATAL_ERROR", "BUMPING_EPOCH", "CLOSING",
};

static const char *const event_names[KTX__TXN_EVENT_COUNT] = {
    "init", "begin", "begin_commit", "begin_abort", "close", "acquire_pid", "init_done",
    "complete", "abortable_error", "fatal_error", "bump_start", "bump_done", "reset_pid",
};

static const char *const op_calls[KTX__TXN_OP_COUNT] = {
    "none", "ktx_init_transactions()", "ktx_commit_transaction()", "ktx_abort_transaction()",
    "ktx_send_offsets_to_transaction()",
};

/* ---- The table. ---- */

const struct ktx__txn_transition *ktx__txn_transitions(size_t *count)
{
    *count = KTX__ARRAY_LEN(transitions);
    return transitions;
}

bool ktx__txn_transition_valid(enum ktx__txn_state from, enum ktx__txn_state to)
{
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(transitions); i++)
        if (transitions[i].from == from && transitions[i].to == to)
            return true;
    return false;
}

const char *ktx__txn_state_name(enum ktx__txn_state state)
{
    return (unsigned)state < KTX__TXN_STATE_COUNT ? state_names[state] : "?";
}

const char *ktx__txn_event_name(enum ktx__txn_event event)
{
    return (unsigned)event < KTX__TXN_EVENT_COUNT ? event_names[event] : "?";
}

bool ktx__txn_event_is_api(enum ktx__txn_event event)
{
    return event <= KTX__TXN_EV_CLOSE;
}

/*
 * Returns the row for |event| in |sm|'s state and mode, or NULL when the transition is not
 * valid. Completing an abort has two rows: the epoch-bump flag picks one. Locks: sm->lock held.
 */
static const struct ktx__txn_transition *find_transition(const struct ktx__txn_sm *sm,
                                                         enum ktx__txn_event event)
{
    unsigned mode = sm->transactional ? KTX__TXN_MODE_TXN : KTX__TXN_MODE_IDEM;
    size_t i;

    for (i = 0; i < KTX__ARRAY_LEN(transitions); i++) {
        const struct ktx__txn_transition *t = &transitions[i];

        if (t->from != sm->state || t->event != event || !(t->modes & mode))
            continue;
        if (event == KTX__TXN_EV_COMPLETE && t->from == KTX__TXN_ABORTING &&
            t->to != (sm->epoch_bump_required ? KTX__TXN_INITIALIZING : KTX__TXN_READY))
            continue;
        return t;
    }
    return NULL;
}

/* ---- Lifetime. ---- */

int ktx__txn_sm_init(struct ktx__txn_sm *sm, bool transactional)
{
    pthread_condattr_t attr;
    int rc;

    *sm = (struct ktx__txn_sm){.transactional = transactional, .state = KTX__TXN_UNINITIALIZED};
    if (pthread_mutex_init(&sm->lock, NULL) != 0)
        return KTX_ERR_NO_MEMORY;
    if (pthread_condattr_init(&attr) != 0) {
        pthread_mutex_destroy(&sm->lock);
        return KTX_ERR_NO_MEMORY;
    }
    /* Timed waits measure against the monotonic clock: wall-clock jumps do not cut them. */
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&sm->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&sm->lock);
        return KTX_ERR_NO_MEMORY;
    }
    return 0;
}

void ktx__txn_sm_destroy(struct ktx__txn_sm *sm)
{
    ktx_error_destroy(sm->last_error);
    ktx_error_destroy(sm->pending.error);
    sm->last_error = NULL;
    sm->pending.error = NULL;
    pthread_cond_destroy(&sm->cond);
    pthread_mutex_destroy(&sm->lock);
}

/* ---- Pending operation. Locks: sm->lock held by every helper below. ---- */

/* Completes the pending operation, if any and not done yet, with |result| and |err| (owned). */
static void pending_complete(struct ktx__txn_sm *sm, int result, ktx_error_t *err)
{
    if (sm->pending.op == KTX__TXN_OP_NONE || sm->pending.done) {
        ktx_error_destroy(err);
        return;
    }
    sm->pending.done = true;
    sm->pending.result = result;
    sm->pending.error = err;
    pthread_cond_broadcast(&sm->cond);
}

static void pending_clear(struct ktx__txn_sm *sm)
{
    ktx_error_destroy(sm->pending.error);
    sm->pending.op = KTX__TXN_OP_NONE;
    sm->pending.done = false;
    sm->pending.result = 0;
    sm->pending.error = NULL;
}

/*
 * True when the pending operation keeps a DIFFERENT call from starting: it is still running,
 * or it completed and its result was not collected yet. A result that is an error the state
 * already carries (ABORTABLE_ERROR, FATAL_ERROR) tells the application nothing new: dropped.
 */
static bool pending_blocks(const struct ktx__txn_sm *sm)
{
    if (sm->pending.op == KTX__TXN_OP_NONE)
        return false;
    if (!sm->pending.done || sm->pending.result == 0)
        return true;
    return sm->state != KTX__TXN_ABORTABLE_ERROR && sm->state != KTX__TXN_FATAL_ERROR;
}

/* ---- Errors. Locks: sm->lock held. ---- */

/* Replaces the stored error with |err| (owned). */
static void set_error(struct ktx__txn_sm *sm, ktx_error_t *err)
{
    ktx_error_destroy(sm->last_error);
    sm->last_error = err;
}

/* Returns the code an API call gets when its event is not valid in the current state. */
static int api_refusal(const struct ktx__txn_sm *sm)
{
    if (sm->state == KTX__TXN_CLOSING)
        return KTX_ERR_CLOSED;
    if ((sm->state == KTX__TXN_FATAL_ERROR || sm->state == KTX__TXN_ABORTABLE_ERROR) &&
        sm->last_error)
        return ktx_error_code(sm->last_error);
    return KTX_ERR_STATE;
}

/* Moves to FATAL_ERROR after sender-side |event| proved invalid. Returns KTX_ERR_FATAL. */
static int poison(struct ktx__txn_sm *sm, enum ktx__txn_event event)
{
    if (sm->state != KTX__TXN_FATAL_ERROR) {
        set_error(sm, ktx__error_new(KTX_ERR_FATAL, KTX__ERR_F_FATAL,
                                     "internal error: invalid transition %s in state %s",
                                     ktx__txn_event_name(event), ktx__txn_state_name(sm->state)));
        sm->state = KTX__TXN_FATAL_ERROR;
    }
    pending_complete(sm, ktx_error_code(sm->last_error), ktx__error_copy(sm->last_error));
    return KTX_ERR_FATAL;
}

/* ---- Transitions. Locks: sm->lock held. ---- */

/* Applies API-side |event|. Returns 0 or the refusal code; on refusal nothing changes. */
static int api_apply(struct ktx__txn_sm *sm, enum ktx__txn_event event)
{
    const struct ktx__txn_transition *t = find_transition(sm, event);

    if (t == NULL)
        return api_refusal(sm);
    sm->state = t->to;
    return 0;
}

/*
 * Looks up sender-side |event|: returns the row, or NULL after dropping the event (CLOSING:
 * |*rc| = KTX_ERR_CLOSED) or poisoning the state (|*rc| = KTX_ERR_FATAL).
 */
static const struct ktx__txn_transition *sender_find(struct ktx__txn_sm *sm,
                                                     enum ktx__txn_event event, int *rc)
{
    const struct ktx__txn_transition *t;

    *rc = 0;
    if (sm->state == KTX__TXN_CLOSING) {
        *rc = KTX_ERR_CLOSED;
        return NULL;
    }
    t = find_transition(sm, event);
    if (t == NULL)
        *rc = poison(sm, event);
    return t;
}

/* Applies a sender-side event that carries no error. Reaching READY completes the pending
 * operation with success; reaching READY or INITIALIZING ends the transaction's error. */
static int sender_apply(struct ktx__txn_sm *sm, enum ktx__txn_event event)
{
    const struct ktx__txn_transition *t;
    int rc;

    pthread_mutex_lock(&sm->lock);
    t = sender_find(sm, event, &rc);
    if (t) {
        sm->state = t->to;
        if (t->to == KTX__TXN_READY || t->to == KTX__TXN_INITIALIZING) {
            /* A finished (or epoch-bumping) transaction leaves no error behind. */
            set_error(sm, NULL);
            sm->epoch_bump_required = false;
        }
        if (t->to == KTX__TXN_READY)
            pending_complete(sm, 0, NULL);
    }
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

/* ---- API side. ---- */

/* Maps a resumable operation to its event; SEND_OFFSETS has none. */
static int op_event(enum ktx__txn_op op)
{
    switch (op) {
    case KTX__TXN_OP_INIT:
        return KTX__TXN_EV_INIT;
    case KTX__TXN_OP_COMMIT:
        return KTX__TXN_EV_BEGIN_COMMIT;
    case KTX__TXN_OP_ABORT:
        return KTX__TXN_EV_BEGIN_ABORT;
    default:
        return -1;
    }
}

/* Checks the common preconditions of a transactional API call. Returns 0 or a refusal. */
static int api_precheck(const struct ktx__txn_sm *sm)
{
    if (sm->state == KTX__TXN_CLOSING)
        return KTX_ERR_CLOSED;
    if (!sm->transactional)
        return KTX_ERR_STATE;
    return 0;
}

/* Starts |op| under the lock (see ktx__txn_op_start()). */
static int op_start_locked(struct ktx__txn_sm *sm, enum ktx__txn_op op, bool *resumed)
{
    int event = op_event(op);
    int rc = api_precheck(sm);

    if (rc != 0)
        return rc;
    if (sm->pending.op == op) {
        *resumed = true;
        return 0;
    }
    if (pending_blocks(sm))
        return KTX_ERR_STATE;
    if (event >= 0)
        rc = api_apply(sm, (enum ktx__txn_event)event);
    else if (sm->state != KTX__TXN_IN_TRANSACTION)
        rc = api_refusal(sm);
    if (rc != 0)
        return rc;
    pending_clear(sm);
    sm->pending.op = op;
    return 0;
}

int ktx__txn_op_start(struct ktx__txn_sm *sm, enum ktx__txn_op op, bool *resumed)
{
    int rc;

    *resumed = false;
    if (op <= KTX__TXN_OP_NONE || op >= KTX__TXN_OP_COUNT)
        return KTX_ERR_INVALID_ARG;
    pthread_mutex_lock(&sm->lock);
    rc = op_start_locked(sm, op, resumed);
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

/* Computes the absolute monotonic deadline |timeout_ms| from now. */
static struct timespec deadline_after(int timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int ktx__txn_op_wait(struct ktx__txn_sm *sm, enum ktx__txn_op op, int timeout_ms,
                     ktx_error_t **errp)
{
    struct timespec deadline = deadline_after(timeout_ms > 0 ? timeout_ms : 0);
    int rc = 0;

    if (errp)
        *errp = NULL;
    pthread_mutex_lock(&sm->lock);
    while (rc == 0 && sm->pending.op == op && !sm->pending.done) {
        if (timeout_ms < 0)
            pthread_cond_wait(&sm->cond, &sm->lock);
        else if (pthread_cond_timedwait(&sm->cond, &sm->lock, &deadline) == ETIMEDOUT)
            rc = KTX_ERR_TIMED_OUT;
    }
    if (sm->pending.op != op) {
        rc = KTX_ERR_STATE; /* not pending, or another waiter collected it */
    } else if (sm->pending.done) {
        rc = sm->pending.result;
        if (errp) {
            *errp = sm->pending.error;
            sm->pending.error = NULL;
        }
        pending_clear(sm);
    }
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

int ktx__txn_begin(struct ktx__txn_sm *sm)
{
    int rc;

    pthread_mutex_lock(&sm->lock);
    rc = api_precheck(sm);
    if (rc == 0 && pending_blocks(sm))
        rc = KTX_ERR_STATE;
    if (rc == 0)
        rc = api_apply(sm, KTX__TXN_EV_BEGIN);
    if (rc == 0)
        pending_clear(sm);
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

int ktx__txn_begin_commit(struct ktx__txn_sm *sm)
{
    bool resumed;

    return ktx__txn_op_start(sm, KTX__TXN_OP_COMMIT, &resumed);
}

int ktx__txn_begin_abort(struct ktx__txn_sm *sm)
{
    bool resumed;

    return ktx__txn_op_start(sm, KTX__TXN_OP_ABORT, &resumed);
}

int ktx__txn_check_send(struct ktx__txn_sm *sm)
{
    int rc = 0;

    pthread_mutex_lock(&sm->lock);
    if (sm->state == KTX__TXN_CLOSING || sm->state == KTX__TXN_FATAL_ERROR)
        rc = api_refusal(sm);
    else if (sm->transactional && sm->state != KTX__TXN_IN_TRANSACTION)
        rc = api_refusal(sm);
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

int ktx__txn_close(struct ktx__txn_sm *sm)
{
    pthread_mutex_lock(&sm->lock);
    if (sm->state != KTX__TXN_CLOSING) {
        sm->state = KTX__TXN_CLOSING;
        if (sm->pending.op != KTX__TXN_OP_NONE && !sm->pending.done)
            pending_complete(sm, KTX_ERR_CLOSED,
                             ktx__error_new(KTX_ERR_CLOSED, 0, "the producer was closed while "
                                            "%s was pending", op_calls[sm->pending.op]));
    }
    pthread_mutex_unlock(&sm->lock);
    return 0;
}

/* ---- Sender side. ---- */

int ktx__txn_acquire_pid(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_ACQUIRE_PID);
}

int ktx__txn_init_done(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_INIT_DONE);
}

int ktx__txn_complete(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_COMPLETE);
}

int ktx__txn_bump_start(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_BUMP_START);
}

int ktx__txn_bump_done(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_BUMP_DONE);
}

int ktx__txn_reset_pid(struct ktx__txn_sm *sm)
{
    return sender_apply(sm, KTX__TXN_EV_RESET_PID);
}

int ktx__txn_abortable_error(struct ktx__txn_sm *sm, ktx_error_t *err, bool bump_epoch)
{
    const struct ktx__txn_transition *t;
    int rc;

    pthread_mutex_lock(&sm->lock);
    t = sender_find(sm, KTX__TXN_EV_ABORTABLE, &rc);
    if (t == NULL || t->from == KTX__TXN_ABORTING) {
        ktx_error_destroy(err); /* closing, poisoned, or the transaction is being aborted */
    } else if (sm->last_error != NULL) {
        ktx_error_destroy(err); /* not the first error: the root cause is kept */
        sm->epoch_bump_required = sm->epoch_bump_required || bump_epoch;
    } else {
        sm->state = t->to;
        set_error(sm, err);
        sm->epoch_bump_required = sm->epoch_bump_required || bump_epoch;
        if (sm->pending.op == KTX__TXN_OP_COMMIT || sm->pending.op == KTX__TXN_OP_SEND_OFFSETS)
            pending_complete(sm, ktx_error_code(err), ktx__error_copy(err));
    }
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

int ktx__txn_fatal_error(struct ktx__txn_sm *sm, ktx_error_t *err)
{
    const struct ktx__txn_transition *t;
    int rc;

    pthread_mutex_lock(&sm->lock);
    t = sender_find(sm, KTX__TXN_EV_FATAL, &rc);
    if (t == NULL || t->from == KTX__TXN_FATAL_ERROR) {
        ktx_error_destroy(err); /* closing, or not the first fatal error */
    } else {
        sm->state = KTX__TXN_FATAL_ERROR;
        set_error(sm, err);
        pending_complete(sm, ktx_error_code(err), ktx__error_copy(err));
    }
    pthread_mutex_unlock(&sm->lock);
    return rc;
}

int ktx__txn_op_complete(struct ktx__txn_sm *sm, enum ktx__txn_op op, int result,
                         ktx_error_t *err)
{
    pthread_mutex_lock(&sm->lock);
    if (sm->pending.op == op)
        pending_complete(sm, result, err);
    else
        ktx_error_destroy(err);
    pthread_mutex_unlock(&sm->lock);
    return 0;
}

/* ---- Readers. ---- */

enum ktx__txn_state ktx__txn_sm_state(struct ktx__txn_sm *sm)
{
    enum ktx__txn_state state;

    pthread_mutex_lock(&sm->lock);
    state = sm->state;
    pthread_mutex_unlock(&sm->lock);
    return state;
}

bool ktx__txn_sm_epoch_bump_required(struct ktx__txn_sm *sm)
{
    bool bump;

    pthread_mutex_lock(&sm->lock);
    bump = sm->epoch_bump_required;
    pthread_mutex_unlock(&sm->lock);
    return bump;
}

enum ktx__txn_op ktx__txn_sm_pending(struct ktx__txn_sm *sm, bool *done)
{
    enum ktx__txn_op op;

    pthread_mutex_lock(&sm->lock);
    op = sm->pending.op;
    if (done)
        *done = sm->pending.done;
    pthread_mutex_unlock(&sm->lock);
    return op;
}

int ktx__txn_sm_error_code(struct ktx__txn_sm *sm)
{
    int code;

    pthread_mutex_lock(&sm->lock);
    code = sm->last_error ? ktx_error_code(sm->last_error) : 0;
    pthread_mutex_unlock(&sm->lock);
    return code;
}

ktx_error_t *ktx__txn_sm_error(struct ktx__txn_sm *sm)
{
    ktx_error_t *err;

    pthread_mutex_lock(&sm->lock);
    err = ktx__error_copy(sm->last_error);
    pthread_mutex_unlock(&sm->lock);
    return err;
}

ktx_error_t *ktx__txn_sm_api_error(struct ktx__txn_sm *sm, int rc, const char *call)
{
    ktx_error_t *err;

    if (rc == 0)
        return NULL;
    pthread_mutex_lock(&sm->lock);
    if (sm->last_error && ktx_error_code(sm->last_error) == rc)
        err = ktx__error_copy(sm->last_error);
    else if (rc == KTX_ERR_STATE && sm->pending.op != KTX__TXN_OP_NONE)
        err = ktx__error_new(rc, 0, "%s is not valid while %s is pending: call it again to get "
                             "its result", call, op_calls[sm->pending.op]);
    else if (rc == KTX_ERR_STATE && !sm->transactional)
        err = ktx__error_new(rc, 0, "%s needs transactional.id", call);
    else if (rc == KTX_ERR_STATE || rc == KTX_ERR_CLOSED)
        err = ktx__error_new(rc, 0, "%s is not valid in state %s", call,
                             ktx__txn_state_name(sm->state));
    else
        err = ktx__error_new(rc, 0, NULL);
    pthread_mutex_unlock(&sm->lock);
    return err;
}
