/*
 * Producer id and epoch of the idempotent producer: the first InitProducerId, and the epoch
 * bump (KIP-360) after OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, a failed batch or a
 * sequence that cannot be resolved. A bump waits until no Produce request is in flight
 * (their answers may still move the sequences), then sends InitProducerId with the current
 * id and epoch to a broker that speaks v3+ (the broker bumps the epoch), or asks for a new
 * producer id from an older broker. The answer resets every partition's sequences.
 *
 * Thread: sender. Locks: none.
 */
#include <stdlib.h>

#include "conn.h"
#include "idempotence.h"
#include "proto_txn.h"

void ktx__epoch_request_bump(struct ktx__idem *idem, const char *why)
{
    if (idem->bump_requested || !idem->idempotent)
        return;
    idem->bump_requested = true;
    ktx__sender_log(idem->sender, KTX_LOG_NOTICE, "txn",
                    "epoch bump of producer id %lld epoch %d requested: %s",
                    (long long)idem->producer_id, (int)idem->producer_epoch, why);
}

/* ktx__conn_encode_fn: the current id/epoch only for a bump at v3+ (KIP-360). */
static int encode_init(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__init_producer_id_req req = {{NULL, -1}, idem->transaction_timeout_ms, -1, -1};

    idem->init_version = ver;
    idem->epoch_bump_supported = ver >= 3;
    if (idem->init_is_bump && ver >= 3 && idem->producer_id >= 0 && !idem->bump_new_id) {
        req.producer_id = idem->producer_id;
        req.producer_epoch = idem->producer_epoch;
    }
    return ktx__proto_init_producer_id_req_encode(w, ver, &req);
}

/* Takes the new identity: every partition restarts at sequence 0. */
static void apply_identity(struct ktx__idem *idem, int64_t producer_id, int16_t producer_epoch)
{
    bool bump = idem->producer_id >= 0;

    ktx__sender_log(idem->sender, KTX_LOG_INFO, "txn", "%s: producer id %lld epoch %d",
                    bump ? "epoch bumped" : "producer id assigned", (long long)producer_id,
                    (int)producer_epoch);
    if (bump)
        idem->epoch_bumps++;
    idem->producer_id = producer_id;
    idem->producer_epoch = producer_epoch;
    idem->bump_requested = false;
    idem->bump_new_id = false;
    idem->init_attempts = 0;
    ktx__seq_reset_all(idem);
}

/* Schedules another attempt after the retry backoff (doubling, capped). */
static void retry_later(struct ktx__idem *idem, int64_t now, int code)
{
    int64_t backoff = ktx__txn_retry_backoff_ms(KTX__TXN_REQ_INIT_PRODUCER_ID, code,
                                                idem->init_attempts++,
                                                (int)idem->retry_backoff_ms,
                                                (int)idem->retry_backoff_max_ms);

    idem->next_init_ms = now + backoff;
    ktx__sender_log(idem->sender, KTX_LOG_WARNING, "txn",
                    "InitProducerId failed with %s: retrying in %lld ms", ktx_err_name(code),
                    (long long)backoff);
}

/* ktx__conn_cb of InitProducerId: decode -> classify -> apply. */
static void on_init_response(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                             void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__net *net = ktx__sender_net(idem->sender);
    struct ktx__init_producer_id_resp resp = {0};
    struct ktx__txn_classify_ctx ctx = {idem->init_version, idem->epoch_bump_supported};
    struct ktx__arena arena;
    enum ktx__txn_action action;
    int code = err;

    (void)conn;
    idem->init_in_flight = false;
    if (code == 0) {
        ktx__arena_init(&arena, 0);
        code = ktx__proto_init_producer_id_resp_decode(body, len, idem->init_version, &resp,
                                                       &arena);
        ktx__arena_free(&arena);
        if (code == 0)
            code = resp.error_code;
    }
    action = ktx__txn_classify(KTX__TXN_REQ_INIT_PRODUCER_ID, code, &ctx);
    if (action == KTX__TXN_ACT_FATAL && idem->init_is_bump && !idem->bump_new_id &&
        code == KTX_ERR_INVALID_PRODUCER_ID_MAPPING) {
        /* A broker that keeps no state for idempotent-only ids refuses to bump one: take a
         * new producer id instead, which is as safe (every sequence restarts). */
        idem->bump_new_id = true;
        idem->next_init_ms = 0;
        ktx__sender_log(idem->sender, KTX_LOG_NOTICE, "txn",
                        "the broker cannot bump the epoch (%s): asking for a new producer id",
                        ktx_err_name(code));
    } else if (action == KTX__TXN_ACT_SUCCESS && idem->init_is_bump &&
               resp.producer_id == idem->producer_id &&
               resp.producer_epoch == idem->producer_epoch) {
        /* A broker that lost its state hands out ids again and may return the very id and
         * epoch we hold (a persisted identity, txn/persist.c): batches stamped with them
         * would read as current. Ask for another producer id. */
        idem->bump_new_id = true;
        idem->next_init_ms = 0;
        ktx__sender_log(idem->sender, KTX_LOG_NOTICE, "txn",
                        "the broker answered the bump with the same producer id %lld epoch %d: "
                        "asking for a new producer id", (long long)resp.producer_id,
                        (int)resp.producer_epoch);
    } else if (action == KTX__TXN_ACT_SUCCESS) {
        apply_identity(idem, resp.producer_id, resp.producer_epoch);
    } else if (action == KTX__TXN_ACT_FATAL) {
        ktx__sender_set_fatal(idem->sender, code);
    } else {
        retry_later(idem, ktx__net_now(net), code);
    }
    ktx__sender_wakeup(idem->sender);
}

/* Sends InitProducerId to |node|. */
static void send_init(struct ktx__idem *idem, int32_t node, int64_t now)
{
    struct ktx__conn_req creq = {0};
    int err;

    idem->init_is_bump = idem->producer_id >= 0;
    creq.api_key = KTX__API_INIT_PRODUCER_ID;
    creq.version = -1;
    creq.encode = encode_init;
    creq.encode_opaque = idem;
    creq.cb = on_init_response;
    creq.opaque = idem;
    err = ktx__net_send(ktx__sender_net(idem->sender), node, &creq, now);
    if (err == 0) {
        idem->init_in_flight = true;
        return;
    }
    if (err == KTX_ERR_UNSUPPORTED) {
        ktx__sender_set_fatal(idem->sender, KTX_ERR_UNSUPPORTED_VERSION);
        return;
    }
    retry_later(idem, now, err);
}

bool ktx__epoch_maybe_init(struct ktx__idem *idem, int64_t now, int64_t *timeout_ms)
{
    struct ktx__net *net = ktx__sender_net(idem->sender);
    int64_t delay = INT64_MAX;
    int32_t node;

    if (!idem->idempotent || ktx__sender_fatal(idem->sender))
        return false;
    if (idem->producer_id >= 0 && !idem->bump_requested)
        return false;
    if (idem->init_in_flight)
        return true;
    if (idem->bump_requested && ktx__sender_produce_in_flight(idem->sender) > 0)
        return false; /* their answers come first; drains nothing new meanwhile */
    if (now < idem->next_init_ms) {
        *timeout_ms = KTX__MIN(*timeout_ms, idem->next_init_ms - now);
        return true;
    }
    node = ktx__net_least_loaded(net, now, &delay);
    if (node == KTX__NET_NO_NODE) {
        *timeout_ms = KTX__MIN(*timeout_ms, delay);
        return true;
    }
    if (!ktx__net_ready(net, node, now)) {
        *timeout_ms = KTX__MIN(*timeout_ms, ktx__net_poll_delay(net, node, now));
        return true;
    }
    send_init(idem, node, now);
    return true;
}
