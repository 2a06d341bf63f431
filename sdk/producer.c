/*
 * The public producer API: ktx_producer_new/destroy, ktx_send, ktx_poll, ktx_flush,
 * ktx_close. Application threads append records to the accumulator and serve delivery
 * reports; the sender thread (sender.c) does every network I/O.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "producer_int.h"
#include "seam.h"

/* Longest single wait of an application thread, so that it notices closes and fatal errors. */
#define WAIT_SLICE_MS 100

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Longest time the wall clock is derived from the monotonic one before it is read again. */
#define WALL_REFRESH_NS 1000000

/* The offset of the wall clock from the monotonic one, as last read by this thread. */
struct wall_offset {
    int64_t mono_ns; /* the monotonic time of that read; 0 = never read */
    int64_t offset_ns;
};

static _Thread_local struct wall_offset thread_wall;

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/*
 * Reads the clocks once for a record: stores the monotonic time in |*mono| and returns the
 * wall-clock time, both in milliseconds. The wall clock is read only when this thread last
 * read it more than WALL_REFRESH_NS ago and is otherwise derived from the monotonic time
 * (so a record's CreateTime follows a wall-clock step within a millisecond); this saves a
 * clock_gettime() per record. Thread: any (the cache is per thread).
 */
static int64_t record_clock_ms(int64_t *mono)
{
    struct timespec ts;
    int64_t now_ns;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_ns = ts_ns(&ts);
    if (thread_wall.mono_ns == 0 || now_ns - thread_wall.mono_ns > WALL_REFRESH_NS) {
        clock_gettime(CLOCK_REALTIME, &ts);
        thread_wall.mono_ns = now_ns;
        thread_wall.offset_ns = ts_ns(&ts) - now_ns;
    }
    *mono = now_ns / 1000000;
    return (now_ns + thread_wall.offset_ns) / 1000000;
}

int ktx__producer_fatal(const ktx_producer_t *producer)
{
    return ktx__sender_fatal(producer->sender);
}

static ktx_error_t *fatal_error(int code)
{
    return ktx__error_new(code, KTX__ERR_F_FATAL, "the producer has a fatal error (%s) and "
                          "can only be destroyed", ktx_err_name(code));
}

/* ---- creation and destruction ---- */

/*
 * A connection failed to authenticate (conn.h): logs |msg| (it names the host and reason,
 * never a secret) and, as Kafka's transaction manager does, makes the error fatal for a
 * transactional producer. Thread: sender.
 */
static void on_auth_error(struct ktx__conn *conn, int code, const char *msg, void *opaque)
{
    ktx_producer_t *p = opaque;

    (void)conn;
    if (p->sender == NULL)
        return;
    ktx__sender_log(p->sender, KTX_LOG_ERR, "security", "%s (%s)", msg, ktx_err_name(code));
    if (p->v.transactional_id != NULL)
        ktx__sender_set_fatal_reason(p->sender, KTX_ERR_AUTH, msg);
}

/* Creates the modules of |p| from p->v. Returns 0 or an error code; for a net that cannot
 * be created (e.g. a TLS file that does not load) the reason is written to |errbuf|
 * (|errsize| bytes). */
static int create_modules(ktx_producer_t *p, char *errbuf, size_t errsize)
{
    struct ktx__acc_conf ac;
    struct ktx__metadata_conf mc = {p->v.metadata_max_age_ms, p->v.retry_backoff_ms,
                                    p->v.retry_backoff_max_ms};
    struct ktx__net_conf nc = {0};
    struct ktx__sender_conf sc;
    int err;

    ktx__acc_conf_init(&ac, &p->v);
    if ((err = ktx__accumulator_new(&p->acc, &ac)) != 0 ||
        (err = ktx__partitioner_new(&p->part, p->v.partitioner_ignore_keys, 0)) != 0 ||
        (err = ktx__metadata_new(&p->md, &mc)) != 0)
        return err;
    nc.bootstrap_servers = p->v.bootstrap_servers;
    nc.conn.client_id = p->v.client_id;
    nc.conn.request_timeout_ms = p->v.request_timeout_ms;
    nc.conn.connect_timeout_ms = p->v.socket_connection_setup_timeout_ms;
    nc.conn.reconnect_backoff_ms = p->v.reconnect_backoff_ms;
    nc.conn.reconnect_backoff_max_ms = p->v.reconnect_backoff_max_ms;
    nc.conn.max_in_flight = (int)p->v.max_in_flight;
    nc.conn.security = &p->v;
    nc.conn.on_auth_error = on_auth_error;
    nc.conn.auth_opaque = p;
    nc.errbuf = errbuf;
    nc.errsize = errsize;
    if ((err = ktx__net_new(&p->net, &nc)) != 0)
        return err;
    ktx__sender_conf_init(&sc, &p->v);
    sc.log_cb = ktx__conf_log_cb(p->conf, &sc.log_opaque);
    if ((err = ktx__sender_new(&p->sender, &sc, p->acc, p->md, p->net)) != 0 ||
        (err = ktx__idempotence_register(p->sender, &p->v)) != 0)
        return err;
    return 0;
}

/* Frees what create_modules() made (the sender thread must not run, or be joined here). */
static void free_modules(ktx_producer_t *p)
{
    ktx__sender_destroy(p->sender);
    ktx__net_destroy(p->net);
    ktx__metadata_destroy(p->md);
    ktx__accumulator_destroy(p->acc);
    ktx__partitioner_destroy(p->part);
}

ktx_error_t *ktx_producer_new(ktx_producer_t **out, ktx_conf_t *conf)
{
    char errbuf[512] = "";
    ktx_producer_t *p;
    int err;

    if (!out || !conf)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_producer_new: %s is NULL",
                              out ? "conf" : "out");
    if (!(p = calloc(1, sizeof(*p))))
        return ktx__error_oom();
    if ((err = ktx__conf_resolve(conf, &p->v, errbuf, sizeof(errbuf))) != 0) {
        free(p);
        return ktx__error_new(err, 0, "%s", errbuf[0] ? errbuf : "invalid configuration");
    }
    p->conf = conf;
    p->dr_cb = ktx__conf_dr_cb(conf, &p->dr_opaque);
    pthread_mutex_init(&p->poll_lock, NULL);
    pthread_mutex_init(&p->close_lock, NULL);
    if ((err = create_modules(p, errbuf, sizeof(errbuf))) != 0 ||
        (err = ktx__persist_attach(p->sender, &p->v, errbuf, sizeof(errbuf))) != 0 ||
        (err = ktx__sender_start(p->sender)) != 0) {
        free_modules(p);
        pthread_mutex_destroy(&p->poll_lock);
        pthread_mutex_destroy(&p->close_lock);
        free(p);
        if (errbuf[0])
            return ktx__error_new(err, KTX__ERR_F_FATAL, "ktx_producer_new: %s", errbuf);
        return ktx__error_new(err, 0, "ktx_producer_new: cannot create the producer: %s",
                              ktx_err_description(err));
    }
    *out = p;
    return NULL;
}

void ktx_producer_destroy(ktx_producer_t *producer)
{
    struct ktx__batch *batch;

    if (!producer)
        return;
    producer->dr_cb = NULL; /* reports not served yet are dropped, not handed out */
    ktx_error_destroy(ktx_close(producer, 0));
    ktx__sender_destroy(producer->sender);
    producer->sender = NULL;
    while ((batch = ktx__dr_queue_pop(producer->acc, 0)) != NULL)
        ktx__accumulator_deallocate(producer->acc, batch);
    ktx__net_destroy(producer->net);
    ktx__metadata_destroy(producer->md);
    ktx__accumulator_destroy(producer->acc);
    ktx__partitioner_destroy(producer->part);
    pthread_mutex_destroy(&producer->poll_lock);
    pthread_mutex_destroy(&producer->close_lock);
    ktx_conf_destroy(producer->conf);
    free(producer);
}

/* ---- send ---- */

/* Checks |rec| as ktx_send() documents. Returns NULL or an _INVALID_ARG error. */
static ktx_error_t *check_record(const ktx_record_t *rec)
{
    if (!rec || !rec->topic || !rec->topic[0])
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_send: %s",
                              rec ? "the record has no topic" : "the record is NULL");
    if (rec->partition < KTX_PARTITION_ANY)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_send: partition %d is invalid",
                              (int)rec->partition);
    if ((rec->key && rec->key_len > INT32_MAX) || (rec->value && rec->value_len > INT32_MAX))
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_send: key or value over 2 GiB");
    if (rec->header_count > 0 && !rec->headers)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_send: headers is NULL");
    for (size_t i = 0; i < rec->header_count; i++)
        if (!rec->headers[i].key || rec->headers[i].value_len > INT32_MAX)
            return ktx__error_new(KTX_ERR_INVALID_ARG, 0,
                                  "ktx_send: header %zu has no key or is over 2 GiB", i);
    return NULL;
}

/*
 * Waits up to max.block.ms for |topic|'s partition count, as Kafka's waitOnMetadata().
 * Stores it in |*count|, the cache's interned name in |*name|, and returns NULL, or returns
 * _TIMED_OUT, the topic's error, _CLOSED or the fatal error.
 */
static ktx_error_t *wait_for_topic(ktx_producer_t *p, const char *topic, int32_t *count,
                                   const char **name)
{
    int64_t start = mono_ms(), deadline = start + p->v.max_block_ms;
    uint64_t generation = 0;
    int err = 0;

    if (ktx__metadata_add_topic(p->md, topic, start) != 0)
        return ktx__error_new(KTX_ERR_NO_MEMORY, 0, NULL);
    ktx__sender_wakeup(p->sender);
    for (;;) {
        int64_t now = mono_ms();

        if ((*count = ktx__metadata_partition_count_name(p->md, topic, name)) >= 0)
            return NULL;
        if (atomic_load(&p->closed))
            return ktx__error_new(KTX_ERR_CLOSED, 0, "ktx_send: the producer is closing");
        if (ktx__producer_fatal(p))
            return fatal_error(ktx__producer_fatal(p));
        if (ktx__metadata_topic_status(p->md, topic, INT64_MAX, now, &err) == KTX__TOPIC_FAILED)
            return ktx__error_new(err, 0, "ktx_send: topic %s: %s", topic, ktx_err_description(err));
        if (now >= deadline)
            return ktx__error_new(KTX_ERR_TIMED_OUT, KTX__ERR_F_RETRIABLE,
                                  "ktx_send: topic %s not in the metadata after max.block.ms "
                                  "(%lld ms)", topic, (long long)p->v.max_block_ms);
        ktx__sender_wait_metadata(p->sender, &generation,
                                  KTX__MIN(deadline - now, WAIT_SLICE_MS));
    }
}

/* Turns an append error into the error ktx_send() documents. */
static ktx_error_t *append_error(const ktx_producer_t *p, int err, const char *msg)
{
    switch (err) {
    case KTX_ERR_QUEUE_FULL:
        return ktx__error_new(KTX_ERR_TIMED_OUT, KTX__ERR_F_RETRIABLE,
                              "ktx_send: buffer.memory still full after max.block.ms (%lld ms)",
                              (long long)p->v.max_block_ms);
    case KTX_ERR_CLOSED:
        return ktx__error_new(KTX_ERR_CLOSED, 0, "ktx_send: the producer is closing");
    default:
        return ktx__error_new(err, 0, "ktx_send: %s", msg[0] ? msg : ktx_err_description(err));
    }
}

/* Appends |ar| to |topic| (the metadata cache's interned copy of rec->topic, see
 * ktx__metadata_partition_count_name(); |ar| says so) at monotonic time |now|, choosing the
 * partition when |partition| is ANY. */
static int append(ktx_producer_t *p, const ktx_record_t *rec, const char *topic, int32_t count,
                  int64_t now, const struct ktx__acc_record *ar,
                  struct ktx__acc_append_result *res, char *msg, size_t msgsize)
{
    bool chosen = rec->partition == KTX_PARTITION_ANY;
    bool sticky = chosen && ktx__partitioner_is_sticky(p->part, rec->key);
    int32_t partition = rec->partition;
    int err;

    if (chosen && (partition = ktx__partitioner_partition_interned(p->part, topic, rec->key,
                                                                   rec->key_len, count, NULL,
                                                                   0)) < 0)
        return partition;
    err = ktx__accumulator_append(p->acc, topic, partition, ar, now, sticky, res, msg, msgsize);
    if (err == KTX__ACC_NEW_BATCH) {
        ktx__partitioner_on_new_batch(p->part, topic, partition, count, NULL, 0);
        partition = ktx__partitioner_partition_interned(p->part, topic, rec->key, rec->key_len,
                                                        count, NULL, 0);
        if (partition < 0)
            return partition;
        err = ktx__accumulator_append(p->acc, topic, partition, ar, now, false, res, msg,
                                      msgsize);
    }
    return err;
}

ktx_error_t *ktx_send(ktx_producer_t *producer, const ktx_record_t *rec)
{
    struct ktx__record_header stack_headers[KTX__PRODUCER_STACK_HEADERS], *headers = stack_headers;
    struct ktx__acc_append_result res = {0};
    struct ktx__acc_record ar;
    const char *topic = NULL;
    char msg[256];
    int64_t now, wall;
    int32_t count;
    ktx_error_t *e;
    int err;

    msg[0] = '\0'; /* set by the accumulator on failure; not cleared whole per record */
    if (!producer)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_send: producer is NULL");
    if ((e = check_record(rec)) != NULL)
        return e;
    if (atomic_load(&producer->closed))
        return ktx__error_new(KTX_ERR_CLOSED, 0, "ktx_send: the producer is closing");
    if ((err = ktx__producer_fatal(producer)) != 0)
        return fatal_error(err);
    if ((e = ktx__sender_check_send(producer->sender)) != NULL)
        return e; /* e.g. a transactional producer without an open transaction */
    /* The one name comparison per record: the partitioner and the accumulator get the
     * cache's interned copy of the name and recognise it by its address. */
    if ((count = ktx__metadata_partition_count_name(producer->md, rec->topic, &topic)) < 0 &&
        (e = wait_for_topic(producer, rec->topic, &count, &topic)) != NULL)
        return e;
    if (rec->partition >= count)
        return ktx__error_new(KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION, 0,
                              "ktx_send: topic %s has %d partitions, no partition %d",
                              rec->topic, (int)count, (int)rec->partition);
    if (rec->header_count > KTX__PRODUCER_STACK_HEADERS &&
        !(headers = malloc(rec->header_count * sizeof(*headers))))
        return ktx__error_new(KTX_ERR_NO_MEMORY, 0, NULL);
    for (size_t i = 0; i < rec->header_count; i++) {
        headers[i].key = ktx__str_c(rec->headers[i].key);
        headers[i].value = (struct ktx__bytes){rec->headers[i].value,
                                               rec->headers[i].value ?
                                               (int32_t)rec->headers[i].value_len : -1};
    }
    ar.key = rec->key;
    ar.key_len = rec->key ? (int32_t)rec->key_len : -1;
    ar.value = rec->value;
    ar.value_len = rec->value ? (int32_t)rec->value_len : -1;
    ar.headers = headers;
    ar.header_count = rec->header_count;
    wall = record_clock_ms(&now);
    ar.timestamp = rec->timestamp ? rec->timestamp : wall;
    ar.opaque = rec->opaque;
    ar.topic_interned = true;
    err = append(producer, rec, topic, count, now, &ar, &res, msg, sizeof(msg));
    if (headers != stack_headers)
        free(headers);
    if (err != 0)
        return append_error(producer, err, msg);
    atomic_fetch_add(&producer->enqueued, 1);
    /* Wake the sender only when a batch filled and no Produce answer (which wakes it anyway)
     * is pending, or when a new batch needs its linger timer sooner than the sender would
     * wake anyway; never per record. A full batch thus waits at most for the next answer,
     * and never past its linger.ms deadline, armed when it was created. */
    if (res.new_batch)
        ktx__sender_wakeup_by(producer->sender, now + producer->v.linger_ms);
    if (res.batch_full && !ktx__sender_awaits_answers(producer->sender))
        ktx__sender_wakeup(producer->sender);
    return NULL;
}

/* ---- delivery reports ---- */

/* Serves the reports of |batch| and frees it. */
static void serve_batch(ktx_producer_t *p, struct ktx__batch *batch)
{
    ktx_error_t *error = NULL;
    int32_t n = batch->record_count;

    if (batch->err != 0 && p->dr_cb) {
        int fatal = ktx__producer_fatal(p);

        error = ktx__error_new(batch->err, batch->err == fatal ? KTX__ERR_F_FATAL : 0,
                               "%d record(s) to %s [%d] failed: %s", (int)n, batch->topic,
                               (int)batch->partition, ktx_err_description(batch->err));
    }
    for (int32_t i = 0; p->dr_cb && i < n; i++) {
        struct ktx__record_report r;
        ktx_delivery_report_t dr;

        ktx__batch_report(batch, i, &r);
        dr.topic = r.topic;
        dr.partition = r.partition;
        dr.offset = r.offset;
        dr.timestamp = r.timestamp;
        dr.error = error;
        dr.opaque = r.opaque;
        p->dr_cb(p, &dr, p->dr_opaque);
    }
    ktx_error_destroy(error);
    ktx__accumulator_deallocate(p->acc, batch);
    atomic_fetch_add(&p->reported, (uint_fast64_t)n);
}

/* True when the calling thread is serving reports already (a callback calling in). */
static bool in_callback(ktx_producer_t *p)
{
    return atomic_load(&p->polling) && pthread_equal(p->poll_owner, pthread_self());
}

int ktx_poll(ktx_producer_t *producer, int timeout_ms)
{
    struct ktx__batch *batch;
    int served = 0;

    if (!producer || timeout_ms < KTX_TIMEOUT_INFINITE)
        return -1;
    if (in_callback(producer))
        return 0;
    /* The common "poll 0 after each send" finds nothing: skip the locks and the clock. */
    if (timeout_ms == 0 && ktx__dr_queue_len(producer->acc) == 0)
        return 0;
    pthread_mutex_lock(&producer->poll_lock);
    producer->poll_owner = pthread_self();
    atomic_store(&producer->polling, true);
    batch = ktx__dr_queue_pop(producer->acc, timeout_ms);
    while (batch) {
        served += batch->record_count;
        serve_batch(producer, batch);
        batch = ktx__dr_queue_pop(producer->acc, 0);
    }
    atomic_store(&producer->polling, false);
    pthread_mutex_unlock(&producer->poll_lock);
    return served;
}

/* ---- flush and close ---- */

ktx_error_t *ktx_flush(ktx_producer_t *producer, int timeout_ms)
{
    int64_t deadline;
    uint_fast64_t target;
    ktx_error_t *e = NULL;
    int fatal;

    if (!producer || timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_flush: invalid argument");
    if (in_callback(producer))
        return ktx__error_new(KTX_ERR_STATE, 0, "ktx_flush: not from a callback");
    deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    target = atomic_load(&producer->enqueued);
    ktx__accumulator_flush_begin(producer->acc);
    ktx__sender_wakeup(producer->sender);
    while (atomic_load(&producer->reported) < target) {
        int64_t now = mono_ms();

        if (now >= deadline) {
            e = ktx__error_new(KTX_ERR_TIMED_OUT, KTX__ERR_F_RETRIABLE,
                               "ktx_flush: %llu record(s) still without a report after %d ms",
                               (unsigned long long)(target - atomic_load(&producer->reported)),
                               timeout_ms);
            break;
        }
        ktx_poll(producer, (int)KTX__MIN(deadline - now, WAIT_SLICE_MS));
    }
    ktx__accumulator_flush_end(producer->acc);
    if (!e && (fatal = ktx__producer_fatal(producer)) != 0)
        e = fatal_error(fatal);
    return e;
}

/* Serves reports until the sender thread stopped or |deadline| passed; true when stopped. */
static bool drain_until_stopped(ktx_producer_t *p, int64_t deadline)
{
    for (;;) {
        int64_t now = mono_ms();

        if (ktx__sender_wait_stopped(p->sender, 0))
            return true;
        if (now >= deadline)
            return false;
        ktx_poll(p, (int)KTX__MIN(deadline - now, 10));
    }
}

ktx_error_t *ktx_close(ktx_producer_t *producer, int timeout_ms)
{
    uint_fast64_t pending;
    int64_t deadline;
    bool stopped;
    int fatal;

    if (!producer || timeout_ms < KTX_TIMEOUT_INFINITE)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_close: invalid argument");
    if (in_callback(producer))
        return ktx__error_new(KTX_ERR_STATE, 0, "ktx_close: not from a callback");
    pthread_mutex_lock(&producer->close_lock);
    if (producer->close_done) {
        pthread_mutex_unlock(&producer->close_lock);
        return NULL;
    }
    deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    atomic_store(&producer->closed, true);
    pending = atomic_load(&producer->enqueued) - atomic_load(&producer->reported);
    ktx__accumulator_close(producer->acc);
    ktx__sender_close(producer->sender, timeout_ms == 0);
    stopped = drain_until_stopped(producer, deadline);
    if (!stopped) {
        ktx__sender_close(producer->sender, true);
        ktx__sender_wait_stopped(producer->sender, -1);
    }
    while (ktx_poll(producer, 0) > 0)
        ;
    producer->close_done = true;
    pthread_mutex_unlock(&producer->close_lock);
    /* With 0 nothing was waited for: what was pending has been purged. */
    if (!stopped || (timeout_ms == 0 && pending > 0))
        return ktx__error_new(KTX_ERR_TIMED_OUT, KTX__ERR_F_RETRIABLE,
                              "ktx_close: records still pending after %d ms were purged",
                              timeout_ms);
    if ((fatal = ktx__producer_fatal(producer)) != 0)
        return fatal_error(fatal);
    return NULL;
}
