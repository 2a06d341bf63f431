/*
 * The sender thread: run (main loop, graceful drain, shutdown hook, forced close), run_once
 * (the txn layer's first word, then produce data, then one poll) and the seam verbs. The
 * produce path itself is in sender_produce.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sender_int.h"

void ktx__sender_conf_init(struct ktx__sender_conf *sc, const struct ktx__conf_values *v)
{
    memset(sc, 0, sizeof(*sc));
    sc->acks = v->acks;
    sc->request_timeout_ms = v->request_timeout_ms;
    sc->delivery_timeout_ms = v->delivery_timeout_ms;
    sc->max_request_size = v->max_request_size;
    sc->retries = v->retries;
    sc->retry_backoff_ms = v->retry_backoff_ms;
    sc->transactional_id = v->transactional_id;
}

int ktx__sender_new(struct ktx__sender **out, const struct ktx__sender_conf *sc,
                    struct ktx__accumulator *acc, struct ktx__metadata *md,
                    struct ktx__net *net)
{
    struct ktx__sender *sender;

    if (!out || !sc || !acc || !md || !net)
        return KTX_ERR_INVALID_ARG;
    if (!(sender = calloc(1, sizeof(*sender))))
        return KTX_ERR_NO_MEMORY;
    sender->conf = *sc;
    sender->acc = acc;
    sender->md = md;
    sender->net = net;
    atomic_init(&sender->running, true);
    atomic_init(&sender->force, false);
    atomic_init(&sender->fatal, 0);
    atomic_init(&sender->wake_pending, false);
    atomic_init(&sender->wake_at, INT64_MIN);
    if (pthread_mutex_init(&sender->lock, NULL) != 0) {
        free(sender);
        return KTX_ERR_NO_MEMORY;
    }
    if (pthread_cond_init(&sender->cond, NULL) != 0) {
        pthread_mutex_destroy(&sender->lock);
        free(sender);
        return KTX_ERR_NO_MEMORY;
    }
    *out = sender;
    return 0;
}

void ktx__sender_set_hooks(struct ktx__sender *sender, const struct ktx__seam_hooks *hooks)
{
    struct ktx__acc_hooks ah = {hooks->opaque, hooks->may_drain, hooks->assign};

    sender->hooks = *hooks;
    ktx__accumulator_set_hooks(sender->acc, &ah);
}

struct ktx__net *ktx__sender_net(struct ktx__sender *sender)
{
    return sender->net;
}

int ktx__sender_produce_in_flight(const struct ktx__sender *sender)
{
    return sender->produce_in_flight;
}

void ktx__sender_set_fatal(struct ktx__sender *sender, int code)
{
    int none = 0;

    if (code == 0)
        code = KTX_ERR_FATAL;
    if (atomic_compare_exchange_strong(&sender->fatal, &none, code))
        ktx__sender_log(sender, KTX_LOG_ERR, "sender", "fatal error %s: the producer must be "
                        "destroyed", ktx_err_name(code));
}

int ktx__sender_fatal(const struct ktx__sender *sender)
{
    return atomic_load(&((struct ktx__sender *)sender)->fatal);
}

void ktx__sender_set_fatal_reason(struct ktx__sender *sender, int code, const char *reason)
{
    if (ktx__sender_fatal(sender) != 0)
        return;
    /* Only the sender thread writes and reads the reason; another thread may still set the
     * code first, and then the reason is not its. */
    snprintf(sender->fatal_reason, sizeof(sender->fatal_reason), "%s",
             reason != NULL ? reason : "");
    ktx__sender_set_fatal(sender, code);
    if (ktx__sender_fatal(sender) != (code != 0 ? code : KTX_ERR_FATAL))
        sender->fatal_reason[0] = '\0';
}

const char *ktx__sender_fatal_reason(const struct ktx__sender *sender)
{
    return sender->fatal_reason;
}

ktx_error_t *ktx__sender_check_send(struct ktx__sender *sender)
{
    return sender->hooks.check_send ? sender->hooks.check_send(sender->hooks.opaque) : NULL;
}

void ktx__sender_wakeup(struct ktx__sender *sender)
{
    /* One write per turn is enough: the turn that follows sees everything done before. */
    if (!atomic_exchange(&sender->wake_pending, true))
        ktx__net_wakeup(sender->net);
}

bool ktx__sender_awaits_answers(struct ktx__sender *sender)
{
    return atomic_load(&sender->produce_in_flight) > 0;
}

void ktx__sender_wakeup_by(struct ktx__sender *sender, int64_t deadline)
{
    int64_t wake_at = atomic_load(&sender->wake_at);

    /* INT64_MIN: a turn is under way and may have looked at the batches already. */
    if (wake_at == INT64_MIN || wake_at > deadline)
        ktx__sender_wakeup(sender);
}

void ktx__sender_request_metadata(struct ktx__sender *sender)
{
    ktx__metadata_request_update(sender->md);
}

int64_t ktx__sender_now(struct ktx__sender *sender)
{
    return ktx__net_now(sender->net);
}

void ktx__sender_log(struct ktx__sender *sender, int level, const char *facility,
                     const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (!sender->conf.log_cb || level > KTX_LOG_INFO)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sender->conf.log_cb(level, facility, line, sender->conf.log_opaque);
}

/*
 * Wakes application threads waiting for metadata when an update completed (applied or
 * failed) since the last turn. Thread: sender. Locks: the sender's lock, briefly.
 */
static void publish_metadata(struct ktx__sender *sender)
{
    struct ktx__metadata_stats st;
    uint64_t seen;

    ktx__metadata_get_stats(sender->md, &st);
    seen = st.updates + st.failures;
    if (seen == sender->md_seen)
        return;
    sender->md_seen = seen;
    pthread_mutex_lock(&sender->lock);
    sender->md_generation++;
    pthread_cond_broadcast(&sender->cond);
    pthread_mutex_unlock(&sender->lock);
}

void ktx__sender_wait_metadata(struct ktx__sender *sender, uint64_t *generation,
                               int64_t timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sender->lock);
    while (sender->md_generation == *generation && !sender->stopped) {
        if (pthread_cond_timedwait(&sender->cond, &sender->lock, &ts) == ETIMEDOUT)
            break;
    }
    *generation = sender->md_generation;
    pthread_mutex_unlock(&sender->lock);
}

/*
 * Fails every queued batch with the fatal error, as Kafka's maybeAbortBatches(): batches in
 * flight complete with their answers. Thread: sender.
 */
static void abort_on_fatal(struct ktx__sender *sender, int fatal)
{
    if (ktx__accumulator_abort_all(sender->acc, fatal) > 0)
        ktx__sender_log(sender, KTX_LOG_WARNING, "sender",
                        "failed queued batches with the fatal error %s", ktx_err_name(fatal));
}

void ktx__sender_run_once(struct ktx__sender *sender)
{
    int64_t now, timeout = INT64_MAX;
    int fatal;
    bool skip = false;

    /* From here on a wakeup must write again; the turn sees what came before. */
    atomic_store(&sender->wake_pending, false);
    atomic_store(&sender->wake_at, INT64_MIN);
    now = ktx__net_now(sender->net);
    if (sender->hooks.run_first)
        skip = sender->hooks.run_first(sender->hooks.opaque, sender, now, &timeout);
    fatal = atomic_load(&sender->fatal);
    if (fatal) {
        abort_on_fatal(sender, fatal);
        timeout = KTX__MIN(timeout, sender->conf.retry_backoff_ms);
    } else if (!skip) {
        timeout = KTX__MIN(timeout, ktx__sender_send_producer_data(sender, now));
    }
    timeout = KTX__MIN(timeout, ktx__metadata_maybe_update(sender->md, sender->net, now));
    /* Nothing scheduled: sleep until I/O, a deadline of the net or a wakeup. */
    if (timeout > INT32_MAX)
        timeout = INT32_MAX;
    atomic_store(&sender->wake_at, timeout >= INT32_MAX ? INT64_MAX : now + timeout);
    ktx__net_poll(sender->net, timeout < 0 ? 0 : timeout, now);
    publish_metadata(sender);
}

/* True while the graceful drain must go on (Kafka's run(), second loop). */
static bool must_drain(struct ktx__sender *sender)
{
    if (atomic_load(&sender->force))
        return false;
    if (ktx__accumulator_has_undrained(sender->acc) || sender->produce_in_flight > 0)
        return true;
    return sender->hooks.has_pending && sender->hooks.has_pending(sender->hooks.opaque);
}

/* Forced close: everything still pending fails with KTX_ERR_PURGED. Requests in flight
 * fail when their connections close (the callbacks see |force| and purge their batches). */
static void purge_all(struct ktx__sender *sender)
{
    ktx__accumulator_abort_all(sender->acc, KTX_ERR_PURGED);
    ktx__net_close_all(sender->net, ktx__net_now(sender->net));
    ktx__accumulator_abort_all(sender->acc, KTX_ERR_PURGED);
}

static void *run(void *arg)
{
    struct ktx__sender *sender = arg;

    ktx__sender_log(sender, KTX_LOG_DEBUG, "sender", "sender thread started");
    while (atomic_load(&sender->running))
        ktx__sender_run_once(sender);
    ktx__sender_log(sender, KTX_LOG_DEBUG, "sender", "closing: sending remaining records");
    while (must_drain(sender))
        ktx__sender_run_once(sender);
    if (!atomic_load(&sender->force) && sender->hooks.on_shutdown)
        sender->hooks.on_shutdown(sender->hooks.opaque, sender);
    atomic_store(&sender->force, true); /* late callbacks purge their batches */
    purge_all(sender);
    pthread_mutex_lock(&sender->lock);
    sender->stopped = true;
    pthread_cond_broadcast(&sender->cond);
    pthread_mutex_unlock(&sender->lock);
    return NULL;
}

int ktx__sender_start(struct ktx__sender *sender)
{
    if (pthread_create(&sender->thread, NULL, run, sender) != 0)
        return KTX_ERR_NO_MEMORY;
    sender->started = true;
    return 0;
}

void ktx__sender_close(struct ktx__sender *sender, bool force)
{
    if (force)
        atomic_store(&sender->force, true);
    atomic_store(&sender->running, false);
    ktx__net_wakeup(sender->net);
}

bool ktx__sender_wait_stopped(struct ktx__sender *sender, int64_t timeout_ms)
{
    struct timespec ts;
    bool stopped;

    if (!sender->started)
        return true;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (timeout_ms >= 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&sender->lock);
    while (!sender->stopped) {
        if (timeout_ms < 0)
            pthread_cond_wait(&sender->cond, &sender->lock);
        else if (pthread_cond_timedwait(&sender->cond, &sender->lock, &ts) == ETIMEDOUT)
            break;
    }
    stopped = sender->stopped;
    pthread_mutex_unlock(&sender->lock);
    return stopped;
}

void ktx__sender_destroy(struct ktx__sender *sender)
{
    if (!sender)
        return;
    if (sender->started) {
        ktx__sender_close(sender, true);
        pthread_join(sender->thread, NULL);
    }
    if (sender->hooks.destroy)
        sender->hooks.destroy(sender->hooks.opaque);
    ktx__acc_part_list_free(&sender->ready);
    ktx__acc_part_list_free(&sender->undrained);
    free(sender->np);
    free(sender->parts);
    free(sender->cursors);
    pthread_cond_destroy(&sender->cond);
    pthread_mutex_destroy(&sender->lock);
    free(sender);
}
