/*
 * libFuzzer target for the transaction state machine and the error-classification table
 * (txn/txn_state.c, txn/txn_classify.c). The input is a program: the first byte picks the
 * producer kind, every following byte is one step (a state-machine event, a wait, a send
 * check, or a classification of the next two bytes as an error code). After every step the
 * invariants of txn_state.h are checked: API refusals change nothing, invalid sender events
 * poison to FATAL_ERROR, every state change is a row of the table, the error states carry an
 * error of their class, and every classified error has the class its action implies.
 */
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "txn_classify.h"
#include "txn_state.h"

#define CHECK(cond) \
    do {            \
        if (!(cond)) \
            abort(); \
    } while (0)

/* Extra steps beyond the table's events. */
enum { STEP_WAIT = KTX__TXN_EVENT_COUNT, STEP_SEND_CHECK, STEP_OFFSETS, STEP_OFFSETS_DONE,
       STEP_CLASSIFY, STEP_COUNT };

/* True when the table has a row for |event| from |from| for this producer kind. */
static bool has_row(const struct ktx__txn_sm *sm, enum ktx__txn_state from,
                    enum ktx__txn_event event)
{
    unsigned mode = sm->transactional ? KTX__TXN_MODE_TXN : KTX__TXN_MODE_IDEM;
    size_t count, i;
    const struct ktx__txn_transition *t = ktx__txn_transitions(&count);

    for (i = 0; i < count; i++)
        if (t[i].from == from && t[i].event == event && (t[i].modes & mode))
            return true;
    return false;
}

/* Applies table event |event|; |arg| varies the error codes and the bump flag. */
static int apply(struct ktx__txn_sm *sm, enum ktx__txn_event event, uint8_t arg)
{
    bool resumed;

    switch (event) {
    case KTX__TXN_EV_INIT:
        return ktx__txn_op_start(sm, KTX__TXN_OP_INIT, &resumed);
    case KTX__TXN_EV_BEGIN:
        return ktx__txn_begin(sm);
    case KTX__TXN_EV_BEGIN_COMMIT:
        return ktx__txn_begin_commit(sm);
    case KTX__TXN_EV_BEGIN_ABORT:
        return ktx__txn_begin_abort(sm);
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
            sm, ktx__error_new(KTX_ERR_TRANSACTION_ABORTABLE, KTX__ERR_F_ABORTABLE, NULL),
            arg & 1);
    case KTX__TXN_EV_FATAL:
        return ktx__txn_fatal_error(sm,
                                    ktx__error_new(KTX_ERR_PRODUCER_FENCED, KTX__ERR_F_FATAL, NULL));
    case KTX__TXN_EV_BUMP_START:
        return ktx__txn_bump_start(sm);
    case KTX__TXN_EV_BUMP_DONE:
        return ktx__txn_bump_done(sm);
    default:
        return ktx__txn_reset_pid(sm);
    }
}

/* Checks the outcome of table event |event| applied in state |before| with result |rc|. */
static void check_event(struct ktx__txn_sm *sm, enum ktx__txn_event event,
                        enum ktx__txn_state before, int rc)
{
    enum ktx__txn_state after = ktx__txn_sm_state(sm);

    if (before == KTX__TXN_CLOSING) {
        CHECK(after == KTX__TXN_CLOSING);
        CHECK(ktx__txn_event_is_api(event) || rc == KTX_ERR_CLOSED);
    } else if (!has_row(sm, before, event)) {
        if (ktx__txn_event_is_api(event))
            CHECK(after == before); /* refused (rc != 0) or resumed (rc == 0) */
        else
            CHECK(rc == KTX_ERR_FATAL && after == KTX__TXN_FATAL_ERROR);
    } else if (rc == 0) {
        CHECK(ktx__txn_transition_valid(before, after));
    } else {
        CHECK(ktx__txn_event_is_api(event) && after == before);
    }
}

/* Checks that the error states carry an error of their class. */
static void check_error_state(struct ktx__txn_sm *sm)
{
    enum ktx__txn_state state = ktx__txn_sm_state(sm);
    ktx_error_t *err = ktx__txn_sm_error(sm);

    if (state == KTX__TXN_FATAL_ERROR)
        CHECK(err && ktx_error_is_fatal(err));
    if (state == KTX__TXN_ABORTABLE_ERROR)
        CHECK(err && ktx_error_txn_requires_abort(err) && !ktx_error_is_fatal(err));
    if (state == KTX__TXN_READY || state == KTX__TXN_IN_TRANSACTION)
        CHECK(err == NULL);
    ktx_error_destroy(err);
}

/* Classifies |code| for |req| and checks the action's error class. */
static void check_classify(uint8_t req_byte, int code)
{
    struct ktx__txn_classify_ctx ctx = {.version = (int16_t)(req_byte >> 4) - 1,
                                        .epoch_bump_supported = req_byte & 8};
    enum ktx__txn_request req = (enum ktx__txn_request)(req_byte % (KTX__TXN_REQ_COUNT + 1));
    enum ktx__txn_action act = ktx__txn_classify(req, code, &ctx), act2;
    ktx_error_t *err;
    int classes;

    CHECK((unsigned)act < KTX__TXN_ACT_COUNT);
    CHECK(ktx__txn_classify_reason(req, code, &ctx) != NULL);
    CHECK(ktx__txn_retry_backoff_ms(req, code, req_byte, 100, 1000) <= 1000);
    err = ktx__txn_action_error(act, code, "fuzz %d", code);
    if (act == KTX__TXN_ACT_SUCCESS || act == KTX__TXN_ACT_DUPLICATE_AS_SUCCESS) {
        CHECK(err == NULL);
        return;
    }
    classes = ktx_error_is_retriable(err) + ktx_error_txn_requires_abort(err) +
              ktx_error_is_fatal(err);
    CHECK(classes <= 1);
    CHECK(act == KTX__TXN_ACT_FAIL_BATCH || classes == 1);
    ktx_error_destroy(err);
    /* The convenience form agrees on the action and keeps the class. */
    err = ktx__txn_classify_error(req, code, &ctx, &act2);
    CHECK(act2 == act);
    CHECK(ktx_error_is_fatal(err) == (act == KTX__TXN_ACT_FATAL));
    ktx_error_destroy(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ktx__txn_sm sm;
    size_t i;

    if (size < 1 || ktx__txn_sm_init(&sm, data[0] & 1) != 0)
        return 0;
    for (i = 1; i < size; i++) {
        unsigned step = data[i] % STEP_COUNT;
        uint8_t arg = (uint8_t)(data[i] / STEP_COUNT);
        enum ktx__txn_state before = ktx__txn_sm_state(&sm);
        ktx_error_t *err = NULL;
        bool resumed;

        if (step < KTX__TXN_EVENT_COUNT) {
            int rc = apply(&sm, (enum ktx__txn_event)step, arg);

            check_event(&sm, (enum ktx__txn_event)step, before, rc);
            ktx_error_destroy(ktx__txn_sm_api_error(&sm, rc, "fuzz()"));
        } else if (step == STEP_WAIT) {
            enum ktx__txn_op op = (enum ktx__txn_op)(1 + arg % (KTX__TXN_OP_COUNT - 1));

            ktx__txn_op_wait(&sm, op, 0, &err);
            ktx_error_destroy(err);
            CHECK(ktx__txn_sm_state(&sm) == before);
        } else if (step == STEP_SEND_CHECK) {
            int rc = ktx__txn_check_send(&sm);

            CHECK(rc != 0 || before != KTX__TXN_FATAL_ERROR);
        } else if (step == STEP_OFFSETS) {
            ktx__txn_op_start(&sm, KTX__TXN_OP_SEND_OFFSETS, &resumed);
            CHECK(ktx__txn_sm_state(&sm) == before);
        } else if (step == STEP_OFFSETS_DONE) {
            ktx__txn_op_complete(&sm, KTX__TXN_OP_SEND_OFFSETS, 0, NULL);
        } else if (i + 2 < size) {
            check_classify(arg, (int)(int16_t)(data[i + 1] | data[i + 2] << 8));
            i += 2;
        }
        check_error_state(&sm);
    }
    ktx__txn_sm_destroy(&sm);
    return 0;
}
