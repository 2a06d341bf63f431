/*
 * The state machine of the transaction manager (and of the idempotent producer's producer
 * id), in the shape of Kafka's Java TransactionManager: an explicit table of valid
 * transitions, one small function per state change, the last error, whether an epoch bump
 * is required after the abort (KIP-360), and the pending operation of a resumable
 * transactional call.
 *
 * Two kinds of callers change the state, and they fail differently:
 * - the API side (application threads: init, begin, commit, abort, send offsets, send,
 *   close): a call that is not valid in the current state returns KTX_ERR_STATE and CHANGES
 *   NOTHING (in ABORTABLE_ERROR and FATAL_ERROR it returns the stored error's code instead,
 *   after CLOSING it returns KTX_ERR_CLOSED);
 * - the sender side (the sender thread applying responses): a transition that is not valid
 *   means the manager's bookkeeping is wrong, so it POISONS the state to FATAL_ERROR (with a
 *   KTX_ERR_FATAL error naming the transition) instead of corrupting it, and returns
 *   KTX_ERR_FATAL.
 *
 * Pure: no I/O and no threads of its own. The struct holds a mutex and a condition variable:
 * every function below takes the lock itself (a leaf lock: nothing else is locked while it
 * is held, so callers may hold their own locks), and ktx__txn_op_wait() sleeps on the
 * condition variable until the sender side completes the pending operation.
 * docs/transactions.md prints the transition table; a test checks it against the C table.
 */
#ifndef KTX_TXN_STATE_H
#define KTX_TXN_STATE_H

#include <pthread.h>

#include "ktx_int.h"

enum ktx__txn_state {
    KTX__TXN_UNINITIALIZED = 0, /* no producer id */
    KTX__TXN_INITIALIZING,      /* InitProducerId in flight (first id, or epoch bump) */
    KTX__TXN_READY,             /* producer id known, no transaction open */
    KTX__TXN_IN_TRANSACTION,    /* begun; records and offsets join it */
    KTX__TXN_COMMITTING,        /* flushing, then EndTxn(commit) */
    KTX__TXN_ABORTING,          /* purging, then EndTxn(abort) (and maybe an epoch bump) */
    KTX__TXN_ABORTABLE_ERROR,   /* the transaction cannot commit: only abort leaves this */
    KTX__TXN_FATAL_ERROR,       /* the producer can only be closed and destroyed */
    KTX__TXN_BUMPING_EPOCH,     /* idempotent producer: draining in-flight for an epoch bump */
    KTX__TXN_CLOSING,           /* close() was called; terminal */
    KTX__TXN_STATE_COUNT
};

/* The events that change the state; each belongs to one side (see the file comment). */
enum ktx__txn_event {
    KTX__TXN_EV_INIT = 0,       /* API: init_transactions() */
    KTX__TXN_EV_BEGIN,          /* API: begin_transaction() */
    KTX__TXN_EV_BEGIN_COMMIT,   /* API: commit_transaction() */
    KTX__TXN_EV_BEGIN_ABORT,    /* API: abort_transaction() */
    KTX__TXN_EV_CLOSE,          /* API: close() */
    KTX__TXN_EV_ACQUIRE_PID,    /* sender: idempotent producer sends InitProducerId */
    KTX__TXN_EV_INIT_DONE,      /* sender: InitProducerId answered with an id and epoch */
    KTX__TXN_EV_COMPLETE,       /* sender: EndTxn answered (or nothing had to be ended) */
    KTX__TXN_EV_ABORTABLE,      /* sender: an abortable error */
    KTX__TXN_EV_FATAL,          /* sender: a fatal error */
    KTX__TXN_EV_BUMP_START,     /* sender: idempotent producer starts draining for a bump */
    KTX__TXN_EV_BUMP_DONE,      /* sender: epoch bumped locally, sequences reset */
    KTX__TXN_EV_RESET_PID,      /* sender: idempotent producer drops its id (epoch exhausted) */
    KTX__TXN_EVENT_COUNT
};

/* Which producers a transition applies to. */
#define KTX__TXN_MODE_TXN 0x1u  /* transactional (transactional.id set) */
#define KTX__TXN_MODE_IDEM 0x2u /* idempotent only */

/* One row of the transition table. */
struct ktx__txn_transition {
    enum ktx__txn_state from;
    enum ktx__txn_event event;
    enum ktx__txn_state to;
    unsigned modes;   /* KTX__TXN_MODE_* */
    const char *when; /* one sentence */
};

/* The transactional calls whose timeouts are resumable. */
enum ktx__txn_op {
    KTX__TXN_OP_NONE = 0,
    KTX__TXN_OP_INIT,
    KTX__TXN_OP_COMMIT,
    KTX__TXN_OP_ABORT,
    KTX__TXN_OP_SEND_OFFSETS,
    KTX__TXN_OP_COUNT
};

/*
 * The state. Fields are private to txn_state.c: read them through the accessors, which lock.
 */
struct ktx__txn_sm {
    pthread_mutex_t lock;
    pthread_cond_t cond;          /* signalled when the pending operation completes */
    bool transactional;           /* transactional.id is set */
    enum ktx__txn_state state;
    ktx_error_t *last_error;      /* owned; set in ABORTABLE_ERROR and FATAL_ERROR, else NULL */
    bool epoch_bump_required;     /* bump the epoch (InitProducerId) after the abort */
    struct {
        enum ktx__txn_op op;      /* KTX__TXN_OP_NONE when no call is pending */
        bool done;                /* the sender completed it; the result waits in the slot */
        int result;               /* 0 or an error code */
        ktx_error_t *error;       /* owned; the result's error object, or NULL */
    } pending;
};

/*
 * Initializes |sm| in UNINITIALIZED for a transactional (|transactional|) or idempotent-only
 * producer. Returns 0 or KTX_ERR_NO_MEMORY (the mutex or condition variable could not be
 * created; |sm| then needs no destroy). Thread: any, before |sm| is shared.
 */
int ktx__txn_sm_init(struct ktx__txn_sm *sm, bool transactional);

/* Frees what |sm| owns (last error, pending result). No thread may use |sm| any more. */
void ktx__txn_sm_destroy(struct ktx__txn_sm *sm);

/* ---- API side: return 0, KTX_ERR_STATE, KTX_ERR_CLOSED or the stored error's code. ---- */

/*
 * Starts resumable operation |op| (INIT, COMMIT, ABORT or SEND_OFFSETS) for an application
 * call. When the same |op| is already pending (an earlier call timed out), changes nothing,
 * sets |*resumed| and returns 0: the caller then waits for that operation. Otherwise applies
 * the operation's transition (INIT: UNINITIALIZED -> INITIALIZING; COMMIT: IN_TRANSACTION ->
 * COMMITTING; ABORT: IN_TRANSACTION or ABORTABLE_ERROR -> ABORTING; SEND_OFFSETS: none, needs
 * IN_TRANSACTION), records |op| as pending and clears |*resumed|.
 * Returns 0; KTX_ERR_STATE (not transactional, wrong state, or a DIFFERENT operation is
 * pending and its result has not been collected); KTX_ERR_CLOSED; the code of the stored
 * abortable or fatal error; or KTX_ERR_INVALID_ARG for an |op| out of range. On error
 * nothing changes.
 * A pending operation that completed with an error the state already carries (abortable or
 * fatal) does not block a different operation: its result is dropped.
 * Thread: application. Locks: takes sm->lock.
 */
int ktx__txn_op_start(struct ktx__txn_sm *sm, enum ktx__txn_op op, bool *resumed);

/*
 * Waits up to |timeout_ms| (-1: no limit) for pending operation |op| to complete. On
 * completion clears the pending slot, stores the result's error object in |*errp| (owned by
 * the caller, NULL on success; |errp| may be NULL to drop it) and returns the result (0 or a
 * code). Returns KTX_ERR_TIMED_OUT when time runs out (the operation stays pending, so calling
 * the same operation again resumes it) and KTX_ERR_STATE when |op| is not the pending one.
 * Thread: application. Locks: takes sm->lock; sleeps on sm->cond.
 */
int ktx__txn_op_wait(struct ktx__txn_sm *sm, enum ktx__txn_op op, int timeout_ms,
                     ktx_error_t **errp);

/*
 * begin_transaction(): READY -> IN_TRANSACTION, locally (no request). Returns 0,
 * KTX_ERR_STATE (not READY, not transactional, or an uncollected operation is pending),
 * KTX_ERR_CLOSED or the stored error's code; on error nothing changes.
 * Thread: application. Locks: takes sm->lock.
 */
int ktx__txn_begin(struct ktx__txn_sm *sm);

/* commit_transaction() without waiting: ktx__txn_op_start(COMMIT) for callers that do not
 * care whether it resumed. */
int ktx__txn_begin_commit(struct ktx__txn_sm *sm);

/* abort_transaction() without waiting: ktx__txn_op_start(ABORT). */
int ktx__txn_begin_abort(struct ktx__txn_sm *sm);

/*
 * Checks that a record may be sent now: in a transactional producer only IN_TRANSACTION
 * accepts records; an idempotent producer accepts them in every state but FATAL_ERROR and
 * CLOSING (records wait for the producer id). Changes nothing.
 * Returns 0, KTX_ERR_STATE, KTX_ERR_CLOSED or the stored error's code.
 * Thread: application. Locks: takes sm->lock.
 */
int ktx__txn_check_send(struct ktx__txn_sm *sm);

/*
 * close(): every state -> CLOSING. A pending operation completes with KTX_ERR_CLOSED (waiters
 * wake up). Calling it again returns 0. The stored error stays readable.
 * Returns 0. Thread: application. Locks: takes sm->lock.
 */
int ktx__txn_close(struct ktx__txn_sm *sm);

/*
 * ---- Sender side. ----
 * Each function returns 0, or KTX_ERR_FATAL after poisoning an invalid transition (state
 * FATAL_ERROR, a KTX_ERR_FATAL error naming the event and the state, the pending operation
 * completed with it). In CLOSING every sender event is a late answer: dropped, returns
 * KTX_ERR_CLOSED (an error passed in is freed).
 * Thread: sender. Locks: each takes sm->lock; none may be held by the caller's thread in
 * sm (it is a leaf lock, the caller's own locks are fine).
 */

/* Idempotent producer starts InitProducerId: UNINITIALIZED or BUMPING_EPOCH -> INITIALIZING. */
int ktx__txn_acquire_pid(struct ktx__txn_sm *sm);

/*
 * InitProducerId succeeded: INITIALIZING -> READY. Completes a pending INIT, or the pending
 * ABORT whose epoch bump this was, with success; clears the epoch-bump flag.
 */
int ktx__txn_init_done(struct ktx__txn_sm *sm);

/*
 * EndTxn succeeded (or there was nothing to end): COMMITTING -> READY; ABORTING -> READY, or
 * ABORTING -> INITIALIZING when an epoch bump is required (the manager then sends
 * InitProducerId with the current id and epoch, KIP-360, and ktx__txn_init_done() completes
 * the abort). Completes the pending COMMIT or ABORT when it reaches READY.
 */
int ktx__txn_complete(struct ktx__txn_sm *sm);

/*
 * An abortable error |err| (ownership taken, may not be NULL): IN_TRANSACTION, COMMITTING or
 * ABORTABLE_ERROR -> ABORTABLE_ERROR; while ABORTING the error is dropped (the transaction is
 * being aborted already) and the state stays. |bump_epoch| requests an epoch bump after the
 * abort (action ABORTABLE_BUMP_EPOCH). The first error is kept: a later one is freed. A
 * pending COMMIT or SEND_OFFSETS completes with (a copy of) the error.
 */
int ktx__txn_abortable_error(struct ktx__txn_sm *sm, ktx_error_t *err, bool bump_epoch);

/*
 * A fatal error |err| (ownership taken, may not be NULL): every state but CLOSING ->
 * FATAL_ERROR. In FATAL_ERROR the first error is kept and |err| is freed. A pending operation
 * completes with (a copy of) the fatal error.
 */
int ktx__txn_fatal_error(struct ktx__txn_sm *sm, ktx_error_t *err);

/* Idempotent producer drains in-flight requests for an epoch bump: READY -> BUMPING_EPOCH. */
int ktx__txn_bump_start(struct ktx__txn_sm *sm);

/* Idempotent producer bumped its epoch locally: BUMPING_EPOCH -> READY. */
int ktx__txn_bump_done(struct ktx__txn_sm *sm);

/* Idempotent producer drops its producer id (epoch exhausted): READY or BUMPING_EPOCH ->
 * UNINITIALIZED; ktx__txn_acquire_pid() follows. */
int ktx__txn_reset_pid(struct ktx__txn_sm *sm);

/*
 * Completes pending operation |op| with |result| and |err| (ownership taken, may be NULL)
 * without a state change, e.g. SEND_OFFSETS when TxnOffsetCommit succeeded. Does nothing (and
 * frees |err|) when |op| is not pending or already done. Returns 0. Thread: sender.
 */
int ktx__txn_op_complete(struct ktx__txn_sm *sm, enum ktx__txn_op op, int result,
                         ktx_error_t *err);

/* ---- Readers (thread-safe, take sm->lock). ---- */

enum ktx__txn_state ktx__txn_sm_state(struct ktx__txn_sm *sm);
bool ktx__txn_sm_epoch_bump_required(struct ktx__txn_sm *sm);
/* The pending operation (KTX__TXN_OP_NONE when none); |*done| (may be NULL) says whether the
 * sender completed it. */
enum ktx__txn_op ktx__txn_sm_pending(struct ktx__txn_sm *sm, bool *done);
/* The stored error's code, or 0. */
int ktx__txn_sm_error_code(struct ktx__txn_sm *sm);
/* A copy of the stored error (caller owns it), or NULL. */
ktx_error_t *ktx__txn_sm_error(struct ktx__txn_sm *sm);

/*
 * Builds the error object a public call returns for |rc| from an API-side function above:
 * NULL for 0; a copy of the stored error when |rc| is its code; otherwise a new error with
 * |rc| whose message names |call| and the current state (KTX_ERR_STATE and KTX_ERR_CLOSED
 * have no class). The caller owns the result. Thread: application. Locks: takes sm->lock.
 */
ktx_error_t *ktx__txn_sm_api_error(struct ktx__txn_sm *sm, int rc, const char *call);

/* ---- The table. ---- */

/* Returns the transition table and stores its length in |*count|. Static; thread-safe. */
const struct ktx__txn_transition *ktx__txn_transitions(size_t *count);
/* True when the table has a row |from| -> |to| (any event, any mode). Thread-safe. */
bool ktx__txn_transition_valid(enum ktx__txn_state from, enum ktx__txn_state to);
/* Kafka's names: "IN_TRANSACTION"..., "?" when out of range. */
const char *ktx__txn_state_name(enum ktx__txn_state state);
/* Event names as the table prints them: "init", "begin_commit"..., "?" when out of range. */
const char *ktx__txn_event_name(enum ktx__txn_event event);
/* True for events of the API side. */
bool ktx__txn_event_is_api(enum ktx__txn_event event);

#endif /* KTX_TXN_STATE_H */
