/*
 * The record accumulator, sender side: which partitions are ready, draining batches into
 * requests, retries in sequence order, expiry, abort, muting.
 */
#include "accumulator_int.h"

#include <stdlib.h>

int64_t ktx__acc_backoff_ms(const struct ktx__acc_conf *ac, int attempts)
{
    /* retry.backoff.ms doubles with each attempt up to retry.backoff.max.ms (KIP-580,
     * without the jitter, so that tests can compute readiness exactly). */
    int64_t backoff = ac->retry_backoff_ms;
    for (int i = 1; i < attempts && backoff < ac->retry_backoff_max_ms; i++)
        backoff = backoff > INT64_MAX / 2 ? INT64_MAX : backoff * 2;
    return KTX__MIN(backoff, KTX__MAX(ac->retry_backoff_max_ms, ac->retry_backoff_ms));
}

bool ktx__acc_backing_off(const struct ktx__accumulator *acc, const struct ktx__batch *batch,
                          int64_t now)
{
    return batch->attempts > 0 && !batch->leader_moved &&
           now - batch->last_attempt_ms < ktx__acc_backoff_ms(&acc->conf, batch->attempts);
}

/* True when |part| may not send now whatever its batches: muted or at its in-flight limit.
 * |part|'s lock held. */
static bool part_blocked(const struct ktx__accumulator *acc, const struct ktx__acc_part *part)
{
    return part->muted || part->in_flight >= acc->conf.max_in_flight_per_partition;
}

/* Appends |part| to |list|, growing it. Returns 0 or KTX_ERR_NO_MEMORY. */
static int list_push(struct ktx__acc_part_list *list, struct ktx__acc_part *part)
{
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct ktx__acc_part **v = realloc(list->v, cap * sizeof(*v));
        if (!v)
            return KTX_ERR_NO_MEMORY;
        list->v = v;
        list->cap = cap;
    }
    list->v[list->len++] = part;
    return 0;
}

/*
 * Decides whether |part| is ready at |now| (Kafka's RecordAccumulator.ready for one
 * partition). When it has data that is not ready yet, lowers |*next_ready_ms| to the time
 * it will be. |force| means flush, close or exhausted memory. |part|'s lock held.
 */
static bool part_ready(const struct ktx__accumulator *acc, const struct ktx__acc_part *part,
                       int64_t now, bool force, int64_t *next_ready_ms)
{
    const struct ktx__batch *batch = part->head;
    if (!batch || part_blocked(acc, part))
        return false;
    int64_t since = KTX__MAX(batch->created_ms, batch->last_attempt_ms);
    bool backing_off = ktx__acc_backing_off(acc, batch, now);
    int64_t wait = backing_off ? ktx__acc_backoff_ms(&acc->conf, batch->attempts)
                               : acc->conf.linger_ms;
    bool full = part->queued > 1 || batch->full;
    bool lingered = now - since >= wait;
    if ((full || lingered || force) && !backing_off)
        return true;
    int64_t at = since > INT64_MAX - wait ? INT64_MAX : since + wait;
    if (at < *next_ready_ms)
        *next_ready_ms = at;
    return false;
}

int ktx__accumulator_ready(struct ktx__accumulator *acc, int64_t now,
                           struct ktx__acc_part_list *ready, int64_t *next_ready_ms)
{
    bool force = atomic_load(&acc->flushes) > 0 || atomic_load(&acc->closed) ||
                 ktx__acc_pool_exhausted(acc);
    int64_t next = INT64_MAX;
    int err = 0;
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts && !err; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        pthread_mutex_lock(&part->lock);
        bool is_ready = part_ready(acc, part, now, force, &next);
        pthread_mutex_unlock(&part->lock);
        if (is_ready)
            err = list_push(ready, part);
    }
    pthread_rwlock_unlock(&acc->table_lock);
    if (next_ready_ms)
        *next_ready_ms = next;
    return err;
}

/* Returns the size |batch| will add to a request: its sealed size, or an upper bound (the
 * uncompressed size; sealing never makes a batch bigger). */
static size_t batch_wire_size(const struct ktx__batch *batch)
{
    return batch->bw.sealed ? batch->bw.w.len : ktx__batch_writer_size(&batch->bw);
}

/*
 * Takes the first batch of |part| when it may be drained and fits in the |room| bytes left
 * (|first|: nothing drained yet, so it fits anyway). Returns the batch, now in flight, or
 * NULL. Sets |*stop| when the batch did not fit (the request is full). Locks |part|.
 */
static struct ktx__batch *take_first(struct ktx__accumulator *acc, struct ktx__acc_part *part,
                                     int64_t now, size_t room, bool first, bool *stop)
{
    struct ktx__batch *batch = NULL;
    pthread_mutex_lock(&part->lock);
    struct ktx__batch *head = part->head;
    if (!head || part_blocked(acc, part) || ktx__acc_backing_off(acc, head, now))
        goto out;
    if (acc->hooks.may_drain && !acc->hooks.may_drain(acc->hooks.opaque, head))
        goto out;
    if (!first && batch_wire_size(head) > room) {
        *stop = true;
        goto out;
    }
    batch = head;
    ktx__acc_queue_remove(part, batch);
    batch->full = true;
    batch->in_flight = true;
    batch->leader_moved = false;
    part->in_flight++;
out:
    pthread_mutex_unlock(&part->lock);
    return batch;
}

/* Seals (once) and stamps a batch just taken: a new batch always, a retry when the assign
 * hook gives it a new identity. Returns 0 or the seal error. */
static int prepare(struct ktx__accumulator *acc, struct ktx__batch *batch)
{
    if (!batch->bw.sealed) {
        int err = ktx__batch_seal(&batch->bw, acc->conf.compression_type,
                                  acc->conf.compression_level);
        if (err)
            return err;
    }
    int64_t producer_id = batch->producer_id;
    int16_t producer_epoch = batch->producer_epoch;
    int32_t base_sequence = batch->base_sequence;
    bool transactional = batch->transactional;
    bool assigned = acc->hooks.assign &&
                    acc->hooks.assign(acc->hooks.opaque, batch, &producer_id, &producer_epoch,
                                      &base_sequence, &transactional);
    if (assigned || !batch->stamped) {
        if (!assigned) {
            producer_id = -1;
            producer_epoch = -1;
            base_sequence = -1;
            transactional = false;
        }
        ktx__batch_restamp(batch, producer_id, producer_epoch, base_sequence, transactional);
    }
    return 0;
}

int ktx__accumulator_drain(struct ktx__accumulator *acc, struct ktx__acc_part *const *parts,
                           size_t n, size_t *cursor, size_t max_request_size, int64_t now,
                           struct ktx__batch **out, size_t out_cap, size_t *out_count)
{
    size_t count = 0, total = 0, start = cursor ? *cursor : 0, k = 0;
    bool stop = false;
    int err = 0;
    for (; k < n && count < out_cap && !stop && !err; k++) {
        struct ktx__acc_part *part = parts[(start + k) % n];
        size_t room = max_request_size > total ? max_request_size - total : 0;
        struct ktx__batch *batch = take_first(acc, part, now, room, count == 0, &stop);
        if (!batch)
            continue;
        err = prepare(acc, batch);
        if (err) {
            ktx__accumulator_complete(acc, batch, err, -1, -1);
            break;
        }
        batch->drained_ms = now;
        batch->last_attempt_ms = now;
        total += batch_wire_size(batch);
        out[count++] = batch;
    }
    /* Next time, start after the last partition visited here. */
    if (cursor && n > 0)
        *cursor = (start + (stop ? k - 1 : k)) % n;
    *out_count = count;
    return err;
}

void ktx__batch_restamp(struct ktx__batch *batch, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence, bool transactional)
{
    size_t len;
    uint8_t *p = ktx__batch_writer_data(&batch->bw, &len);
    if (!p)
        return;
    ktx__batch_stamp(p, len, producer_id, producer_epoch, base_sequence, transactional);
    batch->producer_id = producer_id;
    batch->producer_epoch = producer_epoch;
    batch->base_sequence = base_sequence;
    batch->transactional = transactional;
    batch->stamped = true;
}

const uint8_t *ktx__batch_bytes(const struct ktx__batch *batch, size_t *len)
{
    if (!batch->bw.sealed) {
        *len = 0;
        return NULL;
    }
    *len = batch->bw.w.len;
    return batch->bw.w.p;
}

/* Returns the queued batch before which a retried |batch| goes: the first one without a
 * sequence or with a higher one. |part|'s lock held. */
static struct ktx__batch *retry_position(const struct ktx__acc_part *part,
                                         const struct ktx__batch *batch)
{
    if (batch->base_sequence < 0)
        return part->head;
    struct ktx__batch *at = part->head;
    while (at && at->base_sequence >= 0 && at->base_sequence < batch->base_sequence)
        at = at->next;
    return at;
}

void ktx__accumulator_reenqueue(struct ktx__accumulator *acc, struct ktx__batch *batch,
                                int64_t now)
{
    (void)acc;
    struct ktx__acc_part *part = batch->part;
    pthread_mutex_lock(&part->lock);
    if (batch->in_flight) {
        part->in_flight--;
        batch->in_flight = false;
    }
    batch->attempts++;
    batch->retry = true;
    batch->last_attempt_ms = now;
    ktx__acc_queue_insert_before(part, retry_position(part, batch), batch);
    pthread_mutex_unlock(&part->lock);
}

/* Moves |part|'s expired batches to |out|; lowers |*next| to the next expiry. */
static void expire_part(struct ktx__acc_part *part, int64_t now, int64_t timeout,
                        struct ktx__batch **out, size_t out_cap, size_t *count, int64_t *next)
{
    pthread_mutex_lock(&part->lock);
    while (part->head && *count < out_cap) {
        struct ktx__batch *batch = part->head;
        int64_t at = batch->created_ms > INT64_MAX - timeout ? INT64_MAX
                                                             : batch->created_ms + timeout;
        if (now < at) {
            if (at < *next)
                *next = at;
            break;
        }
        ktx__acc_queue_remove(part, batch);
        batch->full = true;
        out[(*count)++] = batch;
    }
    pthread_mutex_unlock(&part->lock);
}

void ktx__accumulator_expired(struct ktx__accumulator *acc, int64_t now,
                              int64_t delivery_timeout_ms, struct ktx__batch **out,
                              size_t out_cap, size_t *out_count, int64_t *next_expiry_ms)
{
    size_t count = 0;
    int64_t next = INT64_MAX;
    int64_t timeout = KTX__MAX(delivery_timeout_ms, 0);
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts; i++)
        expire_part(acc->parts[i], now, timeout, out, out_cap, &count, &next);
    pthread_rwlock_unlock(&acc->table_lock);
    *out_count = count;
    if (next_expiry_ms)
        *next_expiry_ms = next;
}

size_t ktx__accumulator_abort_all(struct ktx__accumulator *acc, int err)
{
    size_t aborted = 0;
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        pthread_mutex_lock(&part->lock);
        struct ktx__batch *batch = part->head;
        part->head = part->tail = NULL;
        part->queued = 0;
        pthread_mutex_unlock(&part->lock);
        while (batch) {
            struct ktx__batch *next = batch->next;
            batch->next = batch->prev = NULL;
            batch->full = true;
            ktx__accumulator_complete(acc, batch, err, -1, -1);
            aborted++;
            batch = next;
        }
    }
    pthread_rwlock_unlock(&acc->table_lock);
    return aborted;
}

bool ktx__accumulator_has_undrained(struct ktx__accumulator *acc)
{
    bool undrained = false;
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts && !undrained; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        pthread_mutex_lock(&part->lock);
        undrained = part->head != NULL;
        pthread_mutex_unlock(&part->lock);
    }
    pthread_rwlock_unlock(&acc->table_lock);
    return undrained;
}

uint64_t ktx__accumulator_seal(struct ktx__accumulator *acc)
{
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        pthread_mutex_lock(&part->lock);
        if (part->tail)
            part->tail->full = true;
        pthread_mutex_unlock(&part->lock);
    }
    uint64_t seals = atomic_fetch_add(&acc->seals, 1) + 1;
    pthread_rwlock_unlock(&acc->table_lock);
    return seals;
}

/* The smallest seal_gen of |part|'s queued batches never drained. |part|'s lock held. */
static uint64_t part_min_seal(const struct ktx__acc_part *part)
{
    for (const struct ktx__batch *b = part->head; b; b = b->next)
        if (!b->stamped)
            return b->seal_gen; /* unstamped batches are queued in creation order */
    return UINT64_MAX;
}

uint64_t ktx__accumulator_min_seal(struct ktx__accumulator *acc, struct ktx__acc_part *part)
{
    uint64_t min = UINT64_MAX;
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts; i++) {
        struct ktx__acc_part *p = acc->parts[i];
        if (part && p != part)
            continue;
        pthread_mutex_lock(&p->lock);
        uint64_t m = part_min_seal(p);
        pthread_mutex_unlock(&p->lock);
        if (m < min)
            min = m;
    }
    pthread_rwlock_unlock(&acc->table_lock);
    return min;
}

int ktx__accumulator_undrained(struct ktx__accumulator *acc, struct ktx__acc_part_list *list)
{
    int err = 0;
    pthread_rwlock_rdlock(&acc->table_lock);
    for (size_t i = 0; i < acc->nparts && !err; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        pthread_mutex_lock(&part->lock);
        bool queued = part->head != NULL;
        pthread_mutex_unlock(&part->lock);
        if (queued)
            err = list_push(list, part);
    }
    pthread_rwlock_unlock(&acc->table_lock);
    return err;
}

void ktx__accumulator_mute(struct ktx__accumulator *acc, struct ktx__acc_part *part, bool mute)
{
    (void)acc;
    pthread_mutex_lock(&part->lock);
    part->muted = mute;
    pthread_mutex_unlock(&part->lock);
}

int ktx__acc_part_in_flight(struct ktx__acc_part *part)
{
    pthread_mutex_lock(&part->lock);
    int n = part->in_flight;
    pthread_mutex_unlock(&part->lock);
    return n;
}
