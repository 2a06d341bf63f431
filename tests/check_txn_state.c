/*
 * Tests of the transaction state machine (txn/txn_state.c): every valid transition, every
 * invalid API-side call (KTX_ERR_STATE, nothing changes), every invalid sender-side event
 * (poison to FATAL_ERROR), resumable pending operations, error classes, the send check, and
 * docs/transactions.md against the transition table.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"
#include "error.h"
#include "txn_state.h"

/* Drives |sm| along valid transitions from UNINITIALIZED to |state|. With |bump| the path to
 * ABORTING_TRANSACTION goes through an abortable error that requests an epoch bump. */
static void reach(struct ktx__txn_sm *sm, enum ktx__txn_state state, bool bump)
{
    bool resumed;

    switch (state) {
    case KTX__TXN_UNINITIALIZED:
        break;
    case KTX__TXN_INITIALIZING:
        if (sm->transactional)
            ck_assert_int_eq(ktx__txn_op_start(sm, KTX__TXN_OP_INIT, &resumed), 0);
        else
            ck_assert_int_eq(ktx__txn_acquire_pid(sm), 0);
        break;
    case KTX__TXN_READY:
        reach(sm, KTX__TXN_INITIALIZING, bump);
        ck_assert_int_eq(ktx__txn_init_done(sm), 0);
        if (sm->transactional)
            ck_assert_int_eq(ktx__txn_op_wait(sm, KTX__TXN_OP_INIT, 0, NULL), 0);
        break;
    case KTX__TXN_IN_TRANSACTION:
        reach(sm, KTX__TXN_READY, bump);
        ck_assert_int_eq(ktx__txn_begin(sm), 0);
        break;
    case KTX__TXN_COMMITTING:
        reach(sm, KTX__TXN_IN_TRANSACTION, bump);
        ck_assert_int_eq(ktx__txn_begin_commit(sm), 0);
        break;
    case KTX__TXN_ABORTING:
        reach(sm, bump ? KTX__TXN_ABORTABLE_ERROR : KTX__TXN_IN_TRANSACTION, bump);
        ck_assert_int_eq(ktx__txn_begin_abort(sm), 0);
        break;
    case KTX__TXN_ABORTABLE_ERROR:
        reach(sm, KTX__TXN_IN_TRANSACTION, bump);
        ck_assert_int_eq(ktx__txn_abortable_error(
                             sm, ktx__error_new(KTX_ERR_TRANSACTION_ABORTABLE, KTX__ERR_F_ABORTABLE,
                                                NULL),
                             bump),
                         0);
        break;
    case KTX__TXN_FATAL_ERROR:
        ck_assert_int_eq(
            ktx__txn_fatal_error(sm, ktx__error_new(KTX_ERR_PRODUCER_FENCED, KTX__ERR_F_FATAL, NULL)),
            0);
        break;
    case KTX__TXN_BUMPING_EPOCH:
        reach(sm, KTX__TXN_READY, bump);
        ck_assert_int_eq(ktx__txn_bump_start(sm), 0);
        break;
    case KTX__TXN_CLOSING:
        ck_assert_int_eq(ktx__txn_close(sm), 0);
        break;
    default:
        ck_abort_msg("bad state");
    }
    ck_assert_int_eq(ktx__txn_sm_state(sm), state);
}

/* Applies |event| through its function. Returns the function's result. */
static int apply(struct ktx__txn_sm *sm, enum ktx__txn_event event)
{
    bool resumed;

    switch (event) {
    case KTX__TXN_EV_INIT:
        return ktx__txn_op_start(sm, KTX__TXN_OP_INIT, &resumed);
    case KTX__TXN_EV_BEGIN:
        return ktx__txn_begin(sm);
    case KTX__TXN_EV_BEGIN_COMMIT:
        return ktx__txn_op_start(sm, KTX__TXN_OP_COMMIT, &resumed);
    case KTX__TXN_EV_BEGIN_ABORT:
        return ktx__txn_op_start(sm, KTX__TXN_OP_ABORT, &resumed);
    case KTX__TXN_EV_CLOSE:
        return ktx__txn_close(sm);
    case KTX__TXN_EV_ACQUIRE_PID:
        return ktx__txn_acquire_pid(sm);
    case KTX__TXN_EV_INIT_DONE:
        return ktx__txn_init_done(sm);
    case KTX__TXN_EV_COMPLETE:
        return ktx__txn_complete(sm);
    case KTX__TXN_EV_ABORTABLE:
        return ktx__txn_abortable_error(
            sm, ktx__error_new(KTX_ERR_TOPIC_AUTHORIZATION_FAILED, KTX__ERR_F_ABORTABLE, NULL),
            false);
    case KTX__TXN_EV_FATAL:
        return ktx__txn_fatal_error(
            sm, ktx__error_new(KTX_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KTX__ERR_F_FATAL,
                               NULL));
    case KTX__TXN_EV_BUMP_START:
        return ktx__txn_bump_start(sm);
    case KTX__TXN_EV_BUMP_DONE:
        return ktx__txn_bump_done(sm);
    case KTX__TXN_EV_RESET_PID:
        return ktx__txn_reset_pid(sm);
    default:
        ck_abort_msg("bad event");
    }
    return -1;
}

/* The operation an API event starts, or KTX__TXN_OP_NONE. */
static enum ktx__txn_op event_op(enum ktx__txn_event event)
{
    switch (event) {
    case KTX__TXN_EV_INIT:
        return KTX__TXN_OP_INIT;
    case KTX__TXN_EV_BEGIN_COMMIT:
        return KTX__TXN_OP_COMMIT;
    case KTX__TXN_EV_BEGIN_ABORT:
        return KTX__TXN_OP_ABORT;
    default:
        return KTX__TXN_OP_NONE;
    }
}

/* True when the table has a row for |event| from |from| in |mode|. */
static bool has_row(enum ktx__txn_state from, enum ktx__txn_event event, unsigned mode)
{
    size_t count, i;
    const struct ktx__txn_transition *t = ktx__txn_transitions(&count);

    for (i = 0; i < count; i++)
        if (t[i].from == from && t[i].event == event && (t[i].modes & mode))
            return true;
    return false;
}

/* The states a producer of |mode| can be in. */
static bool state_in_mode(enum ktx__txn_state state, unsigned mode)
{
    if (state == KTX__TXN_BUMPING_EPOCH)
        return mode == KTX__TXN_MODE_IDEM;
    if (state == KTX__TXN_IN_TRANSACTION || state == KTX__TXN_COMMITTING ||
        state == KTX__TXN_ABORTING || state == KTX__TXN_ABORTABLE_ERROR)
        return mode == KTX__TXN_MODE_TXN;
    return true;
}

static int class_count(const ktx_error_t *err)
{
    return ktx_error_is_retriable(err) + ktx_error_txn_requires_abort(err) + ktx_error_is_fatal(err);
}

START_TEST(test_every_valid_transition_reaches_its_target)
{
    size_t count, i;
    const struct ktx__txn_transition *t = ktx__txn_transitions(&count);

    for (i = 0; i < count; i++) {
        unsigned mode;

        for (mode = KTX__TXN_MODE_TXN; mode <= KTX__TXN_MODE_IDEM; mode <<= 1) {
            struct ktx__txn_sm sm;
            bool bump = t[i].event == KTX__TXN_EV_COMPLETE && t[i].to == KTX__TXN_INITIALIZING;
            int rc;

            if (!(t[i].modes & mode))
                continue;
            ck_assert_int_eq(ktx__txn_sm_init(&sm, mode == KTX__TXN_MODE_TXN), 0);
            reach(&sm, t[i].from, bump);
            rc = apply(&sm, t[i].event);
            ck_assert_msg(rc == 0 && ktx__txn_sm_state(&sm) == t[i].to,
                          "%s --%s--> %s (%s): rc %d, state %s", ktx__txn_state_name(t[i].from),
                          ktx__txn_event_name(t[i].event), ktx__txn_state_name(t[i].to),
                          mode == KTX__TXN_MODE_TXN ? "txn" : "idem", rc,
                          ktx__txn_state_name(ktx__txn_sm_state(&sm)));
            ktx__txn_sm_destroy(&sm);
        }
    }
}
END_TEST

/* Checks one invalid API call from |from| in |mode|: refused, and nothing changed. */
static void check_api_refusal(enum ktx__txn_state from, enum ktx__txn_event event, unsigned mode)
{
    struct ktx__txn_sm sm;
    enum ktx__txn_op op_before;
    bool done_before, done_after;
    int code_before, rc, want;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, mode == KTX__TXN_MODE_TXN), 0);
    reach(&sm, from, false);
    op_before = ktx__txn_sm_pending(&sm, &done_before);
    code_before = ktx__txn_sm_error_code(&sm);
    rc = apply(&sm, event);
    if (event_op(event) != KTX__TXN_OP_NONE && event_op(event) == op_before)
        want = 0; /* the same operation again resumes it */
    else if (from == KTX__TXN_CLOSING)
        want = KTX_ERR_CLOSED;
    else if (mode == KTX__TXN_MODE_IDEM)
        want = KTX_ERR_STATE;
    else if (from == KTX__TXN_FATAL_ERROR || from == KTX__TXN_ABORTABLE_ERROR)
        want = code_before;
    else
        want = KTX_ERR_STATE;
    ck_assert_msg(rc == want, "%s in %s (%s): rc %d, want %d", ktx__txn_event_name(event),
                  ktx__txn_state_name(from), mode == KTX__TXN_MODE_TXN ? "txn" : "idem", rc, want);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), from);
    ck_assert_int_eq(ktx__txn_sm_pending(&sm, &done_after), op_before);
    ck_assert_int_eq(done_after, done_before);
    ck_assert_int_eq(ktx__txn_sm_error_code(&sm), code_before);
    ktx__txn_sm_destroy(&sm);
}

START_TEST(test_every_invalid_api_call_is_refused_and_changes_nothing)
{
    unsigned mode;
    int from, event, checked = 0;

    for (mode = KTX__TXN_MODE_TXN; mode <= KTX__TXN_MODE_IDEM; mode <<= 1)
        for (from = 0; from < KTX__TXN_STATE_COUNT; from++)
            for (event = 0; event < KTX__TXN_EVENT_COUNT; event++) {
                if (!state_in_mode(from, mode) || !ktx__txn_event_is_api(event) ||
                    has_row(from, event, mode) || event == KTX__TXN_EV_CLOSE)
                    continue;
                check_api_refusal(from, event, mode);
                checked++;
            }
    ck_assert_int_ge(checked, 30);
}
END_TEST

/* Checks one invalid sender event from |from| in |mode|: poisoned to FATAL_ERROR. */
static void check_sender_poison(enum ktx__txn_state from, enum ktx__txn_event event, unsigned mode)
{
    struct ktx__txn_sm sm;
    int code_before, rc;
    enum ktx__txn_op op;
    bool done;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, mode == KTX__TXN_MODE_TXN), 0);
    reach(&sm, from, false);
    code_before = ktx__txn_sm_error_code(&sm);
    op = ktx__txn_sm_pending(&sm, &done);
    rc = apply(&sm, event);
    if (from == KTX__TXN_CLOSING) {
        ck_assert_int_eq(rc, KTX_ERR_CLOSED);
        ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_CLOSING);
    } else {
        ck_assert_msg(rc == KTX_ERR_FATAL, "%s in %s: rc %d", ktx__txn_event_name(event),
                      ktx__txn_state_name(from), rc);
        ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_FATAL_ERROR);
        /* The first fatal error is kept; otherwise the poison names the bad transition. */
        ck_assert_int_eq(ktx__txn_sm_error_code(&sm),
                         from == KTX__TXN_FATAL_ERROR ? code_before : KTX_ERR_FATAL);
        if (op != KTX__TXN_OP_NONE) {
            ktx_error_t *err = NULL;

            ck_assert_int_eq(ktx__txn_op_wait(&sm, op, 0, &err), ktx_error_code(err));
            ck_assert_int_eq(ktx_error_is_fatal(err), 1);
            ktx_error_destroy(err);
        }
    }
    ktx__txn_sm_destroy(&sm);
}

START_TEST(test_every_invalid_sender_event_poisons_to_fatal)
{
    unsigned mode;
    int from, event, checked = 0;

    for (mode = KTX__TXN_MODE_TXN; mode <= KTX__TXN_MODE_IDEM; mode <<= 1)
        for (from = 0; from < KTX__TXN_STATE_COUNT; from++)
            for (event = 0; event < KTX__TXN_EVENT_COUNT; event++) {
                if (!state_in_mode(from, mode) || ktx__txn_event_is_api(event) ||
                    has_row(from, event, mode))
                    continue;
                check_sender_poison(from, event, mode);
                checked++;
            }
    ck_assert_int_ge(checked, 40);
}
END_TEST

START_TEST(test_api_misuse_named_cases_return_state)
{
    struct ktx__txn_sm sm;
    bool resumed;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    /* Commit without begin. */
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), KTX_ERR_STATE);
    reach(&sm, KTX__TXN_READY, false);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), KTX_ERR_STATE);
    /* Send without begin. */
    ck_assert_int_eq(ktx__txn_check_send(&sm), KTX_ERR_STATE);
    /* Init twice. */
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), KTX_ERR_STATE);
    /* Begin while committing. */
    ck_assert_int_eq(ktx__txn_begin(&sm), 0);
    ck_assert_int_eq(ktx__txn_check_send(&sm), 0);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), 0);
    ck_assert_int_eq(ktx__txn_begin(&sm), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_COMMITTING);
    ck_assert_int_eq(ktx__txn_sm_pending(&sm, NULL), KTX__TXN_OP_COMMIT);
    ktx__txn_sm_destroy(&sm);

    /* Transactional calls on an idempotent producer. */
    ck_assert_int_eq(ktx__txn_sm_init(&sm, false), 0);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_check_send(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_UNINITIALIZED);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_abortable_error_allows_only_abort)
{
    struct ktx__txn_sm sm;
    bool resumed;
    ktx_error_t *err;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_ABORTABLE_ERROR, false);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), KTX_ERR_TRANSACTION_ABORTABLE);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_SEND_OFFSETS, &resumed),
                     KTX_ERR_TRANSACTION_ABORTABLE);
    ck_assert_int_eq(ktx__txn_check_send(&sm), KTX_ERR_TRANSACTION_ABORTABLE);
    err = ktx__txn_sm_api_error(&sm, ktx__txn_begin(&sm), "ktx_begin_transaction()");
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_TRANSACTION_ABORTABLE);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ktx_error_destroy(err);
    /* A second abortable error keeps the first. */
    ck_assert_int_eq(ktx__txn_abortable_error(
                         &sm, ktx__error_new(KTX_ERR_MESSAGE_TOO_LARGE, KTX__ERR_F_ABORTABLE, NULL),
                         true),
                     0);
    ck_assert_int_eq(ktx__txn_sm_error_code(&sm), KTX_ERR_TRANSACTION_ABORTABLE);
    ck_assert_int_eq(ktx__txn_sm_epoch_bump_required(&sm), true);
    ck_assert_int_eq(ktx__txn_begin_abort(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_ABORTING);
    /* The abort goes through the epoch bump, then READY with no error left. */
    ck_assert_int_eq(ktx__txn_complete(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_INITIALIZING);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_ABORT, 0, NULL), KTX_ERR_TIMED_OUT);
    ck_assert_int_eq(ktx__txn_init_done(&sm), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_ABORT, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_READY);
    ck_assert_int_eq(ktx__txn_sm_error_code(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_epoch_bump_required(&sm), false);
    ck_assert_int_eq(ktx__txn_begin(&sm), 0);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_fatal_error_allows_nothing_but_close)
{
    struct ktx__txn_sm sm;
    bool resumed;
    ktx_error_t *err;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_IN_TRANSACTION, false);
    reach(&sm, KTX__TXN_FATAL_ERROR, false);
    ck_assert_int_eq(ktx__txn_begin_abort(&sm), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx__txn_begin(&sm), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx__txn_check_send(&sm), KTX_ERR_PRODUCER_FENCED);
    err = ktx__txn_sm_api_error(&sm, KTX_ERR_PRODUCER_FENCED, "ktx_send()");
    ck_assert_int_eq(ktx_error_is_fatal(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ck_assert_str_eq(ktx_error_name(err), "PRODUCER_FENCED");
    ktx_error_destroy(err);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_FATAL_ERROR);
    ck_assert_int_eq(ktx__txn_close(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_CLOSING);
    ck_assert_int_eq(ktx__txn_close(&sm), 0);
    ck_assert_int_eq(ktx__txn_check_send(&sm), KTX_ERR_CLOSED);
    /* The fatal error stays readable after close. */
    ck_assert_int_eq(ktx__txn_sm_error_code(&sm), KTX_ERR_PRODUCER_FENCED);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_timed_out_commit_resumes_on_same_call_and_refuses_others)
{
    struct ktx__txn_sm sm;
    bool resumed = true;
    ktx_error_t *err;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_IN_TRANSACTION, false);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_COMMIT, &resumed), 0);
    ck_assert_int_eq(resumed, false);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_COMMIT, 20, NULL), KTX_ERR_TIMED_OUT);
    /* A different call: state error, nothing changes. */
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_ABORT, &resumed), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_COMMITTING);
    ck_assert_int_eq(ktx__txn_sm_pending(&sm, NULL), KTX__TXN_OP_COMMIT);
    /* The same call resumes. */
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_COMMIT, &resumed), 0);
    ck_assert_int_eq(resumed, true);
    /* The sender commits while nobody waits; the result waits in the slot. */
    ck_assert_int_eq(ktx__txn_complete(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_READY);
    err = ktx__txn_sm_api_error(&sm, ktx__txn_begin(&sm), "ktx_begin_transaction()");
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STATE);
    ck_assert_int_eq(class_count(err), 0);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "ktx_commit_transaction()"));
    ktx_error_destroy(err);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_COMMIT, &resumed), 0);
    ck_assert_int_eq(resumed, true);
    err = (ktx_error_t *)1;
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_COMMIT, 0, &err), 0);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(ktx__txn_sm_pending(&sm, NULL), KTX__TXN_OP_NONE);
    ck_assert_int_eq(ktx__txn_begin(&sm), 0);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_timed_out_init_resumes_and_completes)
{
    struct ktx__txn_sm sm;
    bool resumed;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_INIT, 0, NULL), KTX_ERR_TIMED_OUT);
    ck_assert_int_eq(ktx__txn_begin(&sm), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), 0);
    ck_assert_int_eq(resumed, true);
    ck_assert_int_eq(ktx__txn_init_done(&sm), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_INIT, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_INIT, &resumed), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_COMMIT, 0, NULL), KTX_ERR_STATE);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_abortable_error_fails_pending_commit_then_abort_proceeds)
{
    struct ktx__txn_sm sm;
    bool resumed;
    ktx_error_t *err = NULL;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_COMMITTING, false);
    ck_assert_int_eq(ktx__txn_abortable_error(
                         &sm, ktx__error_new(KTX_ERR_INVALID_PRODUCER_EPOCH, KTX__ERR_F_ABORTABLE,
                                             NULL),
                         true),
                     0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_ABORTABLE_ERROR);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_COMMIT, 0, &err),
                     KTX_ERR_INVALID_PRODUCER_EPOCH);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ktx_error_destroy(err);

    /* Same again, without collecting: the uncollected abortable result does not block abort. */
    ktx__txn_sm_destroy(&sm);
    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_COMMITTING, false);
    ck_assert_int_eq(ktx__txn_abortable_error(
                         &sm, ktx__error_new(KTX_ERR_TRANSACTION_ABORTABLE, KTX__ERR_F_ABORTABLE,
                                             NULL),
                         false),
                     0);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_ABORT, &resumed), 0);
    ck_assert_int_eq(resumed, false);
    ck_assert_int_eq(ktx__txn_sm_pending(&sm, NULL), KTX__TXN_OP_ABORT);
    /* While aborting, further errors of the transaction are dropped. */
    ck_assert_int_eq(ktx__txn_abortable_error(
                         &sm, ktx__error_new(KTX_ERR_PURGED, KTX__ERR_F_ABORTABLE, NULL), true),
                     0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_ABORTING);
    ck_assert_int_eq(ktx__txn_sm_epoch_bump_required(&sm), false);
    ck_assert_int_eq(ktx__txn_complete(&sm), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_ABORT, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_READY);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

struct waiter {
    struct ktx__txn_sm *sm;
    int rc;
    ktx_error_t *err;
};

static void *wait_commit(void *arg)
{
    struct waiter *w = arg;

    w->rc = ktx__txn_op_wait(w->sm, KTX__TXN_OP_COMMIT, -1, &w->err);
    return NULL;
}

START_TEST(test_waiter_wakes_when_sender_completes)
{
    struct ktx__txn_sm sm;
    struct waiter w = {.sm = &sm, .rc = -1};
    pthread_t thread;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_COMMITTING, false);
    ck_assert_int_eq(pthread_create(&thread, NULL, wait_commit, &w), 0);
    usleep(20 * 1000);
    ck_assert_int_eq(ktx__txn_complete(&sm), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_ptr_null(w.err);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_fatal_error_and_close_complete_the_pending_call)
{
    struct ktx__txn_sm sm;
    struct waiter w = {.sm = &sm, .rc = -1};
    pthread_t thread;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_COMMITTING, false);
    ck_assert_int_eq(pthread_create(&thread, NULL, wait_commit, &w), 0);
    usleep(20 * 1000);
    ck_assert_int_eq(
        ktx__txn_fatal_error(&sm, ktx__error_new(KTX_ERR_PRODUCER_FENCED, KTX__ERR_F_FATAL, NULL)),
        0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(w.rc, KTX_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(ktx_error_is_fatal(w.err), 1);
    ck_assert_int_eq(class_count(w.err), 1);
    ktx_error_destroy(w.err);
    ktx__txn_sm_destroy(&sm);

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_COMMITTING, false);
    w.rc = -1;
    w.err = NULL;
    ck_assert_int_eq(pthread_create(&thread, NULL, wait_commit, &w), 0);
    usleep(20 * 1000);
    ck_assert_int_eq(ktx__txn_close(&sm), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(w.rc, KTX_ERR_CLOSED);
    ck_assert_int_eq(ktx_error_code(w.err), KTX_ERR_CLOSED);
    ktx_error_destroy(w.err);
    /* A late EndTxn answer after close is dropped. */
    ck_assert_int_eq(ktx__txn_complete(&sm), KTX_ERR_CLOSED);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_CLOSING);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_send_offsets_is_pending_without_state_change)
{
    struct ktx__txn_sm sm;
    bool resumed;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    reach(&sm, KTX__TXN_READY, false);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_SEND_OFFSETS, &resumed), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__txn_begin(&sm), 0);
    ck_assert_int_eq(ktx__txn_op_start(&sm, KTX__TXN_OP_SEND_OFFSETS, &resumed), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_IN_TRANSACTION);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL), KTX_ERR_TIMED_OUT);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), KTX_ERR_STATE);
    /* Records may still be sent while the offsets are being committed. */
    ck_assert_int_eq(ktx__txn_check_send(&sm), 0);
    /* Completing another operation does nothing. */
    ck_assert_int_eq(ktx__txn_op_complete(&sm, KTX__TXN_OP_COMMIT, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL), KTX_ERR_TIMED_OUT);
    ck_assert_int_eq(ktx__txn_op_complete(&sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_op_wait(&sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL), 0);
    ck_assert_int_eq(ktx__txn_begin_commit(&sm), 0);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_idempotent_epoch_bump_cycle)
{
    struct ktx__txn_sm sm;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, false), 0);
    reach(&sm, KTX__TXN_BUMPING_EPOCH, false);
    ck_assert_int_eq(ktx__txn_check_send(&sm), 0);
    ck_assert_int_eq(ktx__txn_bump_done(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_READY);
    ck_assert_int_eq(ktx__txn_bump_start(&sm), 0);
    ck_assert_int_eq(ktx__txn_acquire_pid(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_INITIALIZING);
    ck_assert_int_eq(ktx__txn_init_done(&sm), 0);
    ck_assert_int_eq(ktx__txn_reset_pid(&sm), 0);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_UNINITIALIZED);
    /* A transactional-only event on the sender side poisons. */
    ck_assert_int_eq(ktx__txn_complete(&sm), KTX_ERR_FATAL);
    ck_assert_int_eq(ktx__txn_sm_state(&sm), KTX__TXN_FATAL_ERROR);
    ck_assert_int_eq(ktx__txn_check_send(&sm), KTX_ERR_FATAL);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_api_error_objects_have_the_right_class)
{
    struct ktx__txn_sm sm;
    ktx_error_t *err;

    ck_assert_int_eq(ktx__txn_sm_init(&sm, true), 0);
    ck_assert_ptr_null(ktx__txn_sm_api_error(&sm, 0, "x()"));
    err = ktx__txn_sm_api_error(&sm, KTX_ERR_STATE, "ktx_commit_transaction()");
    ck_assert_int_eq(class_count(err), 0);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "UNINITIALIZED"));
    ktx_error_destroy(err);
    err = ktx__txn_sm_api_error(&sm, KTX_ERR_TIMED_OUT, "ktx_commit_transaction()");
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    ck_assert_int_eq(class_count(err), 1);
    ktx_error_destroy(err);
    reach(&sm, KTX__TXN_CLOSING, false);
    err = ktx__txn_sm_api_error(&sm, KTX_ERR_CLOSED, "ktx_begin_transaction()");
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_CLOSED);
    ck_assert_int_eq(class_count(err), 0);
    ktx_error_destroy(err);
    ktx__txn_sm_destroy(&sm);

    ck_assert_int_eq(ktx__txn_sm_init(&sm, false), 0);
    err = ktx__txn_sm_api_error(&sm, KTX_ERR_STATE, "ktx_init_transactions()");
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "transactional.id"));
    ktx_error_destroy(err);
    ktx__txn_sm_destroy(&sm);
}
END_TEST

START_TEST(test_transition_table_names_and_validity)
{
    ck_assert(ktx__txn_transition_valid(KTX__TXN_READY, KTX__TXN_IN_TRANSACTION));
    ck_assert(ktx__txn_transition_valid(KTX__TXN_ABORTABLE_ERROR, KTX__TXN_ABORTING));
    ck_assert(!ktx__txn_transition_valid(KTX__TXN_ABORTABLE_ERROR, KTX__TXN_COMMITTING));
    ck_assert(!ktx__txn_transition_valid(KTX__TXN_FATAL_ERROR, KTX__TXN_READY));
    ck_assert(!ktx__txn_transition_valid(KTX__TXN_CLOSING, KTX__TXN_FATAL_ERROR));
    ck_assert(!ktx__txn_transition_valid(KTX__TXN_READY, KTX__TXN_COMMITTING));
    ck_assert_str_eq(ktx__txn_state_name(KTX__TXN_COMMITTING), "COMMITTING_TRANSACTION");
    ck_assert_str_eq(ktx__txn_state_name(KTX__TXN_STATE_COUNT), "?");
    ck_assert_str_eq(ktx__txn_event_name(KTX__TXN_EV_BEGIN_ABORT), "begin_abort");
    ck_assert_str_eq(ktx__txn_event_name(KTX__TXN_EVENT_COUNT), "?");
}
END_TEST

START_TEST(test_doc_lists_every_valid_transition)
{
    char *doc = ktx_test_read_source_file("docs/transactions.md");
    size_t count, i;
    const struct ktx__txn_transition *t = ktx__txn_transitions(&count);
    char line[512];

    for (i = 0; i < count; i++) {
        snprintf(line, sizeof(line), "| %s | %s | %s | %s | %s | %s |",
                 ktx__txn_state_name(t[i].from), ktx__txn_event_name(t[i].event),
                 ktx__txn_state_name(t[i].to),
                 t[i].modes == (KTX__TXN_MODE_TXN | KTX__TXN_MODE_IDEM) ? "both"
                 : t[i].modes == KTX__TXN_MODE_TXN                    ? "txn"
                                                                      : "idem",
                 ktx__txn_event_is_api(t[i].event) ? "API" : "sender", t[i].when);
        ck_assert_msg(strstr(doc, line) != NULL, "docs/transactions.md lacks: %s", line);
    }
    free(doc);
}
END_TEST

static Suite *txn_state_suite(void)
{
    Suite *s = suite_create("txn_state");
    TCase *tc = tcase_create("state");

    tcase_add_test(tc, test_every_valid_transition_reaches_its_target);
    tcase_add_test(tc, test_every_invalid_api_call_is_refused_and_changes_nothing);
    tcase_add_test(tc, test_every_invalid_sender_event_poisons_to_fatal);
    tcase_add_test(tc, test_api_misuse_named_cases_return_state);
    tcase_add_test(tc, test_abortable_error_allows_only_abort);
    tcase_add_test(tc, test_fatal_error_allows_nothing_but_close);
    tcase_add_test(tc, test_timed_out_commit_resumes_on_same_call_and_refuses_others);
    tcase_add_test(tc, test_timed_out_init_resumes_and_completes);
    tcase_add_test(tc, test_abortable_error_fails_pending_commit_then_abort_proceeds);
    tcase_add_test(tc, test_waiter_wakes_when_sender_completes);
    tcase_add_test(tc, test_fatal_error_and_close_complete_the_pending_call);
    tcase_add_test(tc, test_send_offsets_is_pending_without_state_change);
    tcase_add_test(tc, test_idempotent_epoch_bump_cycle);
    tcase_add_test(tc, test_api_error_objects_have_the_right_class);
    tcase_add_test(tc, test_transition_table_names_and_validity);
    tcase_add_test(tc, test_doc_lists_every_valid_transition);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(txn_state_suite)
