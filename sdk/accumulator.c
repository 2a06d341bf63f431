/*
 * The record accumulator, application side: the partition table, appends, the
 * buffer.memory pool, completion and the delivery-report queue. The sender side (ready,
 * drain, reenqueue, expiry, abort) is in accumulator_drain.c.
 */
#include "accumulator_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Record metadata entries allocated with a new batch; the array then doubles. */
#define META_INITIAL 16
#define SPARE_BUFFERS_MAX 64 /* batch buffers kept for reuse (within buffer.memory) */
/* Initial number of hash buckets of the partition table (a power of two). */
#define BUCKETS_INITIAL 64

void ktx__acc_conf_init(struct ktx__acc_conf *ac, const struct ktx__conf_values *v)
{
    memset(ac, 0, sizeof(*ac));
    ac->batch_size = v->batch_size;
    ac->linger_ms = v->linger_ms;
    ac->buffer_memory = v->buffer_memory;
    ac->max_block_ms = v->max_block_ms;
    ac->max_request_size = v->max_request_size;
    ac->compression_type = v->compression_type;
    ac->compression_level = v->compression_zstd_level;
    ac->retry_backoff_ms = v->retry_backoff_ms;
    ac->retry_backoff_max_ms = v->retry_backoff_max_ms;
    int64_t in_flight = v->max_in_flight;
    if (v->enable_idempotence && in_flight > KTX__ACC_MAX_IN_FLIGHT_IDEMPOTENT)
        in_flight = KTX__ACC_MAX_IN_FLIGHT_IDEMPOTENT;
    ac->max_in_flight_per_partition = (int)KTX__MAX(1, KTX__MIN(in_flight, INT32_MAX));
}

void ktx__acc_part_list_free(struct ktx__acc_part_list *list)
{
    free(list->v);
    list->v = NULL;
    list->len = list->cap = 0;
}

/* Writes a formatted message to |errbuf| when there is one. */
static void set_err(char *errbuf, size_t errsize, const char *fmt, ...) KTX__PRINTF(3, 4);
static void set_err(char *errbuf, size_t errsize, const char *fmt, ...)
{
    if (!errbuf || errsize == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errsize, fmt, ap);
    va_end(ap);
}

/* ---- the queue of a partition ---- */

void ktx__acc_queue_insert_before(struct ktx__acc_part *part, struct ktx__batch *at,
                                  struct ktx__batch *batch)
{
    batch->next = at;
    batch->prev = at ? at->prev : part->tail;
    if (batch->prev)
        batch->prev->next = batch;
    else
        part->head = batch;
    if (at)
        at->prev = batch;
    else
        part->tail = batch;
    part->queued++;
}

void ktx__acc_queue_push_tail(struct ktx__acc_part *part, struct ktx__batch *batch)
{
    ktx__acc_queue_insert_before(part, NULL, batch);
}

void ktx__acc_queue_remove(struct ktx__acc_part *part, struct ktx__batch *batch)
{
    if (batch->prev)
        batch->prev->next = batch->next;
    else
        part->head = batch->next;
    if (batch->next)
        batch->next->prev = batch->prev;
    else
        part->tail = batch->prev;
    batch->next = batch->prev = NULL;
    part->queued--;
}

/* ---- buffer.memory ---- */

/* Returns the CLOCK_MONOTONIC time |ms| milliseconds from now. */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Charges |size| bytes when they fit, freeing spare buffers to make room. Pool lock held. */
static bool pool_take_locked(struct acc_pool *pool, size_t size)
{
    while (size > pool->total - pool->used - pool->spare_bytes && pool->spare_len > 0) {
        free(pool->spare[--pool->spare_len]);
        pool->spare_bytes -= pool->spare_size;
    }
    if (size > pool->total - pool->used - pool->spare_bytes)
        return false;
    pool->used += size;
    return true;
}

/* Charges |size| bytes without waiting. Returns true when they were charged. */
static bool pool_try_take(struct acc_pool *pool, size_t size)
{
    pthread_mutex_lock(&pool->lock);
    bool ok = pool_take_locked(pool, size);
    pthread_mutex_unlock(&pool->lock);
    return ok;
}

/*
 * Charges |size| bytes, waiting up to max.block.ms for memory released by deallocated
 * batches. Returns 0, KTX_ERR_QUEUE_FULL or KTX_ERR_CLOSED. No partition lock held.
 */
static int pool_take(struct ktx__accumulator *acc, size_t size)
{
    struct acc_pool *pool = &acc->pool;
    int err = 0;
    pthread_mutex_lock(&pool->lock);
    if (!pool_take_locked(pool, size)) {
        struct timespec deadline = deadline_in(acc->conf.max_block_ms);
        pool->waiters++;
        for (;;) {
            if (atomic_load(&acc->closed)) {
                err = KTX_ERR_CLOSED;
                break;
            }
            if (pool_take_locked(pool, size))
                break;
            if (pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) == ETIMEDOUT) {
                if (!pool_take_locked(pool, size))
                    err = KTX_ERR_QUEUE_FULL;
                break;
            }
        }
        pool->waiters--;
    }
    pthread_mutex_unlock(&pool->lock);
    return err;
}

/* Returns |size| bytes to the pool and wakes the appends waiting for memory. */
static void pool_give(struct acc_pool *pool, size_t size)
{
    if (size == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->used -= size;
    if (pool->waiters)
        pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

/* Returns the |size| bytes charged for the buffer |buf| (|cap| bytes, may be NULL) of a
 * completed batch: a buffer of batch.size is kept as a spare when there is room, else
 * freed. Wakes the appends waiting for memory. */
static void pool_give_buffer(struct acc_pool *pool, size_t size, uint8_t *buf, size_t cap)
{
    pthread_mutex_lock(&pool->lock);
    pool->used -= size;
    if (buf && cap == pool->spare_size && pool->spare_len < pool->spare_cap) {
        pool->spare[pool->spare_len++] = buf;
        pool->spare_bytes += cap;
        buf = NULL;
    }
    if (pool->waiters)
        pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    free(buf);
}

/* Pops a spare buffer of |cap| bytes for a new batch whose charge covers it; NULL when
 * there is none. */
static uint8_t *pool_spare(struct acc_pool *pool, size_t cap)
{
    uint8_t *buf = NULL;

    if (cap != pool->spare_size)
        return NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->spare_len > 0) {
        buf = pool->spare[--pool->spare_len];
        pool->spare_bytes -= cap;
    }
    pthread_mutex_unlock(&pool->lock);
    return buf;
}

bool ktx__acc_pool_exhausted(struct ktx__accumulator *acc)
{
    pthread_mutex_lock(&acc->pool.lock);
    bool exhausted = acc->pool.waiters > 0;
    pthread_mutex_unlock(&acc->pool.lock);
    return exhausted;
}

size_t ktx__accumulator_batches(struct ktx__accumulator *acc)
{
    pthread_mutex_lock(&acc->pool.lock);
    size_t n = acc->pool.batches;
    pthread_mutex_unlock(&acc->pool.lock);
    return n;
}

size_t ktx__accumulator_memory_used(struct ktx__accumulator *acc)
{
    pthread_mutex_lock(&acc->pool.lock);
    size_t n = acc->pool.used;
    pthread_mutex_unlock(&acc->pool.lock);
    return n;
}

/* ---- creation and destruction ---- */

/* True when |ac| describes a usable accumulator. */
static bool conf_valid(const struct ktx__acc_conf *ac)
{
    return ac->batch_size >= 0 && ac->batch_size <= INT32_MAX && ac->linger_ms >= 0 &&
           ac->buffer_memory > 0 && ac->max_block_ms >= 0 && ac->max_request_size > 0 &&
           ac->max_request_size <= INT32_MAX && ac->retry_backoff_ms >= 0 &&
           ac->max_in_flight_per_partition >= 1 &&
           (ac->compression_type == KTX__COMPRESSION_NONE ||
            ac->compression_type == KTX__COMPRESSION_ZSTD);
}

/* Initialises the pool's lock and its condition on the monotonic clock. */
static void pool_init(struct acc_pool *pool, size_t total)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&pool->lock, NULL);
    pool->total = total;
}

int ktx__accumulator_new(struct ktx__accumulator **out, const struct ktx__acc_conf *ac)
{
    if (!out || !ac || !conf_valid(ac))
        return KTX_ERR_INVALID_ARG;
    struct ktx__accumulator *acc = calloc(1, sizeof(*acc));
    if (!acc)
        return KTX_ERR_NO_MEMORY;
    acc->buckets = calloc(BUCKETS_INITIAL, sizeof(*acc->buckets));
    if (!acc->buckets) {
        free(acc);
        return KTX_ERR_NO_MEMORY;
    }
    acc->nbuckets = BUCKETS_INITIAL;
    acc->conf = *ac;
    if (acc->conf.retry_backoff_max_ms < acc->conf.retry_backoff_ms)
        acc->conf.retry_backoff_max_ms = acc->conf.retry_backoff_ms;
    acc->batch_max = KTX__MAX((size_t)ac->batch_size, (size_t)KTX__BATCH_HEADER_SIZE + 1);
    pthread_rwlock_init(&acc->table_lock, NULL);
    pool_init(&acc->pool, (size_t)KTX__MIN(ac->buffer_memory, (int64_t)(SIZE_MAX / 2)));
    acc->pool.spare_size = acc->batch_max;
    acc->pool.spare_cap = KTX__MIN((size_t)SPARE_BUFFERS_MAX, acc->pool.total / acc->batch_max);
    if (acc->pool.spare_cap > 0 &&
        !(acc->pool.spare = malloc(acc->pool.spare_cap * sizeof(*acc->pool.spare))))
        acc->pool.spare_cap = 0; /* works without spares */
    pthread_mutex_init(&acc->dr_lock, NULL);
    pthread_cond_init(&acc->dr_cond, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&acc->dr_cond);
    pthread_cond_init(&acc->dr_cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&acc->flushes, 0);
    atomic_init(&acc->closed, false);
    *out = acc;
    return 0;
}

/* Frees a batch's memory without touching the pool. */
static void batch_free(struct ktx__batch *batch)
{
    ktx__batch_writer_free(&batch->bw);
    free(batch->records);
    free(batch);
}

/* Frees every batch of the list starting at |batch|. */
static void free_list(struct ktx__batch *batch)
{
    while (batch) {
        struct ktx__batch *next = batch->next;
        batch_free(batch);
        batch = next;
    }
}

/*
 * The partition a thread appended to last, so that a run of records to one partition skips
 * the table lock and the hash. An entry is valid only while |generation| equals
 * destroy_generation: every destroy bumps it, so that an accumulator allocated at a freed
 * one's address never sees the old partition. |interned| is the interned topic name
 * (ktx__acc_record.topic_interned) it was found for, else NULL: an append with an interned
 * name matches by that address, without comparing the name.
 */
struct last_part {
    const struct ktx__accumulator *acc;
    struct ktx__acc_part *part;
    uint_fast64_t generation;
    const char *interned;
};

static atomic_uint_fast64_t destroy_generation;
static _Thread_local struct last_part thread_last_part;

void ktx__accumulator_destroy(struct ktx__accumulator *acc)
{
    if (!acc)
        return;
    atomic_fetch_add(&destroy_generation, 1);
    for (size_t i = 0; i < acc->nparts; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        free_list(part->head);
        pthread_mutex_destroy(&part->lock);
        free(part->topic);
        free(part);
    }
    free_list(acc->dr_head);
    free(acc->parts);
    free(acc->buckets);
    pthread_rwlock_destroy(&acc->table_lock);
    while (acc->pool.spare_len > 0)
        free(acc->pool.spare[--acc->pool.spare_len]);
    free(acc->pool.spare);
    pthread_mutex_destroy(&acc->pool.lock);
    pthread_cond_destroy(&acc->pool.cond);
    pthread_mutex_destroy(&acc->dr_lock);
    pthread_cond_destroy(&acc->dr_cond);
    free(acc);
}

void ktx__accumulator_set_hooks(struct ktx__accumulator *acc, const struct ktx__acc_hooks *hooks)
{
    if (hooks)
        acc->hooks = *hooks;
    else
        memset(&acc->hooks, 0, sizeof(acc->hooks));
}

/* ---- the partition table ---- */

/* FNV-1a over the topic name and the partition number, folded. */
static size_t part_hash(const char *topic, int32_t partition)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)topic; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    h = (h ^ (uint32_t)partition) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29));
}

/* Returns the partition or NULL. Table lock held (read or write). */
static struct ktx__acc_part *lookup(struct ktx__accumulator *acc, const char *topic,
                                    int32_t partition)
{
    struct ktx__acc_part *part = acc->buckets[part_hash(topic, partition) & (acc->nbuckets - 1)];
    while (part && (part->partition != partition || strcmp(part->topic, topic) != 0))
        part = part->hnext;
    return part;
}

/* Doubles the buckets when the table is fuller than one partition per bucket. Write lock
 * held. Failing to grow only makes chains longer. */
static void maybe_rehash(struct ktx__accumulator *acc)
{
    if (acc->nparts < acc->nbuckets)
        return;
    size_t nbuckets = acc->nbuckets * 2;
    struct ktx__acc_part **buckets = calloc(nbuckets, sizeof(*buckets));
    if (!buckets)
        return;
    for (size_t i = 0; i < acc->nparts; i++) {
        struct ktx__acc_part *part = acc->parts[i];
        size_t b = part_hash(part->topic, part->partition) & (nbuckets - 1);
        part->hnext = buckets[b];
        buckets[b] = part;
    }
    free(acc->buckets);
    acc->buckets = buckets;
    acc->nbuckets = nbuckets;
}

/* Creates and links a partition. Write lock held. Returns NULL on OOM. */
static struct ktx__acc_part *add_part(struct ktx__accumulator *acc, const char *topic,
                                      int32_t partition)
{
    if (acc->nparts == acc->parts_cap) {
        size_t cap = acc->parts_cap ? acc->parts_cap * 2 : 16;
        struct ktx__acc_part **parts = realloc(acc->parts, cap * sizeof(*parts));
        if (!parts)
            return NULL;
        acc->parts = parts;
        acc->parts_cap = cap;
    }
    struct ktx__acc_part *part = calloc(1, sizeof(*part));
    if (!part || !(part->topic = strdup(topic))) {
        free(part);
        return NULL;
    }
    part->partition = partition;
    pthread_mutex_init(&part->lock, NULL);
    acc->parts[acc->nparts++] = part;
    maybe_rehash(acc);
    size_t b = part_hash(topic, partition) & (acc->nbuckets - 1);
    part->hnext = acc->buckets[b];
    acc->buckets[b] = part;
    return part;
}

struct ktx__acc_part *ktx__accumulator_find(struct ktx__accumulator *acc, const char *topic,
                                            int32_t partition)
{
    if (!topic)
        return NULL;
    pthread_rwlock_rdlock(&acc->table_lock);
    struct ktx__acc_part *part = lookup(acc, topic, partition);
    pthread_rwlock_unlock(&acc->table_lock);
    return part;
}

/* Returns the partition, creating it on first use; NULL on OOM. Partitions live until the
 * accumulator is destroyed, so the calling thread's last one is reused without the lock. */
static struct ktx__acc_part *get_part(struct ktx__accumulator *acc, const char *topic,
                                      bool interned, int32_t partition)
{
    struct last_part *last = &thread_last_part;
    uint_fast64_t generation = atomic_load(&destroy_generation);

    if (last->acc == acc && last->generation == generation &&
        last->part->partition == partition &&
        (interned ? last->interned == topic : strcmp(last->part->topic, topic) == 0))
        return last->part;
    struct ktx__acc_part *part = ktx__accumulator_find(acc, topic, partition);
    if (!part) {
        pthread_rwlock_wrlock(&acc->table_lock);
        part = lookup(acc, topic, partition);
        if (!part)
            part = add_part(acc, topic, partition);
        pthread_rwlock_unlock(&acc->table_lock);
    }
    if (part)
        *last = (struct last_part){acc, part, generation, interned ? topic : NULL};
    return part;
}

const char *ktx__acc_part_topic(const struct ktx__acc_part *part)
{
    return part->topic;
}

int32_t ktx__acc_part_partition(const struct ktx__acc_part *part)
{
    return part->partition;
}

/* ---- append ---- */

/* Makes room for one more metadata entry in |batch|, charging the pool without waiting.
 * Returns 0, KTX__BATCH_FULL (no memory for it now: start a new batch) or NO_MEMORY. */
static int reserve_meta(struct ktx__accumulator *acc, struct ktx__batch *batch)
{
    if (batch->record_count < batch->records_cap)
        return 0;
    if (batch->records_cap > INT32_MAX / 2)
        return KTX__BATCH_FULL;
    size_t extra = (size_t)batch->records_cap * sizeof(*batch->records);
    if (!pool_try_take(&acc->pool, extra))
        return KTX__BATCH_FULL;
    struct ktx__record_meta *records =
        realloc(batch->records, 2 * (size_t)batch->records_cap * sizeof(*records));
    if (!records) {
        pool_give(&acc->pool, extra);
        return KTX_ERR_NO_MEMORY;
    }
    batch->records = records;
    batch->records_cap *= 2;
    batch->charged_meta += extra;
    return 0;
}

/*
 * Appends |rec|, whose ktx__batch_record_fields_size() is |fields|, to |batch|. Returns 0,
 * KTX__BATCH_FULL (the batch is marked full) or an error from the batch writer. |batch|'s
 * partition lock held.
 */
static int batch_try_append(struct ktx__accumulator *acc, struct ktx__batch *batch,
                            const struct ktx__acc_record *rec, size_t fields)
{
    if (batch->full || batch->bw.sealed)
        return KTX__BATCH_FULL;
    int err = reserve_meta(acc, batch);
    if (!err)
        err = ktx__batch_append_sized(&batch->bw, fields, rec->timestamp, rec->key,
                                      rec->key_len, rec->value, rec->value_len, rec->headers,
                                      rec->header_count);
    if (err == KTX__BATCH_FULL)
        batch->full = true;
    if (err)
        return err;
    batch->records[batch->record_count++] = (struct ktx__record_meta){
        .opaque = rec->opaque,
        .timestamp = rec->timestamp,
        .key_len = rec->key_len,
        .value_len = rec->value_len,
    };
    if (ktx__batch_writer_size(&batch->bw) >= (size_t)acc->conf.batch_size)
        batch->full = true;
    return 0;
}

/* Appends to |part|'s open batch (the tail). Returns 0, KTX__BATCH_FULL when there is no
 * open batch or it is full, or an error. |part|'s lock held. */
static int part_try_append(struct ktx__accumulator *acc, struct ktx__acc_part *part,
                           const struct ktx__acc_record *rec, size_t fields,
                           struct ktx__acc_append_result *res)
{
    if (!part->tail)
        return KTX__BATCH_FULL;
    int err = batch_try_append(acc, part->tail, rec, fields);
    if (!err) {
        res->batch_full = part->tail->full || part->queued > 1;
    }
    return err;
}

/* The buffer ceiling of a batch whose first record takes |single| bytes (header included). */
static size_t buffer_ceiling(const struct ktx__accumulator *acc, size_t single)
{
    return KTX__MAX(acc->batch_max, single);
}

/* What a new batch charges to buffer.memory. */
static size_t new_batch_charge(const struct ktx__accumulator *acc, size_t single)
{
    return sizeof(struct ktx__batch) + META_INITIAL * sizeof(struct ktx__record_meta) +
           buffer_ceiling(acc, single);
}

/* Creates an empty batch for |part| with |charge| bytes already charged. NULL on OOM. */
static struct ktx__batch *batch_new(struct ktx__accumulator *acc, struct ktx__acc_part *part,
                                    size_t single, int64_t now)
{
    struct ktx__batch *batch = calloc(1, sizeof(*batch));
    if (!batch)
        return NULL;
    batch->records = malloc(META_INITIAL * sizeof(*batch->records));
    size_t ceiling = buffer_ceiling(acc, single);
    if (!batch->records || ktx__batch_writer_init(&batch->bw, ceiling, acc->batch_max) != 0) {
        free(batch->records);
        free(batch);
        return NULL;
    }
    if (single > acc->batch_max)
        ktx__batch_writer_set_record_limit(&batch->bw, single);
    uint8_t *spare = pool_spare(&acc->pool, ceiling);
    if (spare)
        ktx__batch_writer_adopt(&batch->bw, spare, ceiling);
    batch->records_cap = META_INITIAL;
    batch->part = part;
    batch->topic = part->topic;
    batch->partition = part->partition;
    batch->created_ms = now;
    batch->seal_gen = atomic_load(&acc->seals);
    batch->last_attempt_ms = now;
    batch->producer_id = -1;
    batch->producer_epoch = -1;
    batch->base_sequence = -1;
    batch->base_offset = -1;
    batch->log_append_time = -1;
    batch->charged_buf = ceiling;
    batch->charged_meta = new_batch_charge(acc, single) - ceiling;
    return batch;
}

/*
 * Second half of an append that needs a new batch: |charge| bytes are charged. Appends to a
 * batch another thread created meanwhile, or to a new one. |part|'s lock held.
 */
static int append_new_batch(struct ktx__accumulator *acc, struct ktx__acc_part *part,
                            const struct ktx__acc_record *rec, size_t fields, size_t single,
                            int64_t now, struct ktx__acc_append_result *res)
{
    size_t charge = new_batch_charge(acc, single);
    int err = part_try_append(acc, part, rec, fields, res);
    if (err != KTX__BATCH_FULL) {
        pool_give(&acc->pool, charge);
        return err;
    }
    struct ktx__batch *batch = batch_new(acc, part, single, now);
    if (!batch) {
        pool_give(&acc->pool, charge);
        return KTX_ERR_NO_MEMORY;
    }
    err = batch_try_append(acc, batch, rec, fields);
    if (err) {
        batch_free(batch);
        pool_give(&acc->pool, charge);
        return err == KTX__BATCH_FULL ? KTX_ERR_NO_MEMORY : err;
    }
    pthread_mutex_lock(&acc->pool.lock);
    acc->pool.batches++;
    pthread_mutex_unlock(&acc->pool.lock);
    ktx__acc_queue_push_tail(part, batch);
    res->new_batch = true;
    res->batch_full = batch->full || part->queued > 1;
    return 0;
}

/* Checks the record alone against the limits. Stores in |*fields| its
 * ktx__batch_record_fields_size() (computed once per record, reused by the batch writer)
 * and in |*single| its size in a batch of its own. Returns 0 or an error (message set). */
static int check_record(struct ktx__accumulator *acc, const struct ktx__acc_record *rec,
                        size_t *fields, size_t *single, char *errbuf, size_t errsize)
{
    *fields = ktx__batch_record_fields_size(rec->key_len, rec->value_len, rec->headers,
                                            rec->header_count);
    size_t size = ktx__batch_record_size_of(0, 0, *fields);
    if (size == SIZE_MAX || (rec->key_len > 0 && !rec->key) ||
        (rec->value_len > 0 && !rec->value)) {
        set_err(errbuf, errsize, "malformed record (bad key, value or header lengths)");
        return KTX_ERR_INVALID_ARG;
    }
    *single = KTX__BATCH_HEADER_SIZE + size;
    if (*single > (size_t)acc->conf.max_request_size) {
        set_err(errbuf, errsize,
                "the record is %zu bytes when serialized (in a batch of its own), which is "
                "larger than max.request.size (%lld)",
                *single, (long long)acc->conf.max_request_size);
        return KTX_ERR_MESSAGE_TOO_LARGE;
    }
    if (new_batch_charge(acc, *single) > acc->pool.total) {
        set_err(errbuf, errsize,
                "the record is %zu bytes when serialized, which does not fit in buffer.memory "
                "(%lld) with its batch",
                *single, (long long)acc->conf.buffer_memory);
        return KTX_ERR_MESSAGE_TOO_LARGE;
    }
    return 0;
}

/* Waits for the memory of a new batch; sets the message on failure. */
static int wait_memory(struct ktx__accumulator *acc, size_t charge, char *errbuf, size_t errsize)
{
    int err = pool_take(acc, charge);
    if (err == KTX_ERR_QUEUE_FULL)
        set_err(errbuf, errsize,
                "buffer.memory (%lld bytes) is full: no %zu bytes were freed for a new batch "
                "within max.block.ms (%lld ms); the producer is sending slower than records "
                "are produced",
                (long long)acc->conf.buffer_memory, charge, (long long)acc->conf.max_block_ms);
    else if (err == KTX_ERR_CLOSED)
        set_err(errbuf, errsize, "the producer is closing");
    return err;
}

int ktx__accumulator_append(struct ktx__accumulator *acc, const char *topic, int32_t partition,
                            const struct ktx__acc_record *rec, int64_t now,
                            bool abort_on_new_batch, struct ktx__acc_append_result *res,
                            char *errbuf, size_t errsize)
{
    struct ktx__acc_append_result dummy;
    res = res ? res : &dummy;
    memset(res, 0, sizeof(*res));
    if (!acc || !topic || !rec || partition < 0) {
        set_err(errbuf, errsize, "invalid argument (NULL topic or record, or partition < 0)");
        return KTX_ERR_INVALID_ARG;
    }
    size_t fields, single;
    int err = check_record(acc, rec, &fields, &single, errbuf, errsize);
    if (err)
        return err;
    if (atomic_load(&acc->closed)) {
        set_err(errbuf, errsize, "the producer is closing");
        return KTX_ERR_CLOSED;
    }
    struct ktx__acc_part *part = get_part(acc, topic, rec->topic_interned, partition);
    if (!part)
        return KTX_ERR_NO_MEMORY;
    res->part = part;
    pthread_mutex_lock(&part->lock);
    err = part_try_append(acc, part, rec, fields, res);
    pthread_mutex_unlock(&part->lock);
    if (err != KTX__BATCH_FULL)
        return err;
    if (abort_on_new_batch)
        return KTX__ACC_NEW_BATCH;
    size_t charge = new_batch_charge(acc, single);
    err = wait_memory(acc, charge, errbuf, errsize);
    if (err)
        return err;
    pthread_mutex_lock(&part->lock);
    if (atomic_load(&acc->closed)) {
        pool_give(&acc->pool, charge);
        set_err(errbuf, errsize, "the producer is closing");
        err = KTX_ERR_CLOSED;
    } else {
        err = append_new_batch(acc, part, rec, fields, single, now, res);
    }
    pthread_mutex_unlock(&part->lock);
    return err;
}

void ktx__accumulator_close(struct ktx__accumulator *acc)
{
    atomic_store(&acc->closed, true);
    pthread_mutex_lock(&acc->pool.lock);
    pthread_cond_broadcast(&acc->pool.cond);
    pthread_mutex_unlock(&acc->pool.lock);
}

void ktx__accumulator_flush_begin(struct ktx__accumulator *acc)
{
    atomic_fetch_add(&acc->flushes, 1);
}

void ktx__accumulator_flush_end(struct ktx__accumulator *acc)
{
    atomic_fetch_sub(&acc->flushes, 1);
}

/* ---- completion and delivery reports ---- */

void ktx__accumulator_complete(struct ktx__accumulator *acc, struct ktx__batch *batch, int err,
                               int64_t base_offset, int64_t log_append_time)
{
    if (batch->in_flight) {
        pthread_mutex_lock(&batch->part->lock);
        batch->part->in_flight--;
        batch->in_flight = false;
        pthread_mutex_unlock(&batch->part->lock);
    }
    batch->err = err;
    batch->base_offset = err ? -1 : base_offset;
    batch->log_append_time = err ? -1 : log_append_time;
    /* The records are no longer needed: give their memory back before the reports are
     * served, so that a slow ktx_poll() holds only the small metadata. */
    size_t cap;
    uint8_t *buf = ktx__batch_writer_release(&batch->bw, &cap);
    pool_give_buffer(&acc->pool, batch->charged_buf, buf, cap);
    batch->charged_buf = 0;
    pthread_mutex_lock(&acc->dr_lock);
    batch->next = NULL;
    batch->prev = acc->dr_tail;
    if (acc->dr_tail)
        acc->dr_tail->next = batch;
    else
        acc->dr_head = batch;
    acc->dr_tail = batch;
    acc->dr_len++;
    pthread_cond_broadcast(&acc->dr_cond);
    pthread_mutex_unlock(&acc->dr_lock);
}

/* Unlinks the head of the report queue. dr_lock held; the queue is not empty. */
static struct ktx__batch *dr_shift(struct ktx__accumulator *acc)
{
    struct ktx__batch *batch = acc->dr_head;
    acc->dr_head = batch->next;
    if (acc->dr_head)
        acc->dr_head->prev = NULL;
    else
        acc->dr_tail = NULL;
    acc->dr_len--;
    batch->next = batch->prev = NULL;
    return batch;
}

struct ktx__batch *ktx__dr_queue_pop(struct ktx__accumulator *acc, int64_t timeout_ms)
{
    /* No clock read for the common timeout 0 (ktx_poll(0), and every pop after the first). */
    struct timespec deadline = timeout_ms > 0 ? deadline_in(timeout_ms) : (struct timespec){0};
    struct ktx__batch *batch = NULL;
    pthread_mutex_lock(&acc->dr_lock);
    while (!acc->dr_head && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&acc->dr_cond, &acc->dr_lock);
        } else if (pthread_cond_timedwait(&acc->dr_cond, &acc->dr_lock, &deadline) ==
                   ETIMEDOUT) {
            break;
        }
    }
    if (acc->dr_head)
        batch = dr_shift(acc);
    pthread_mutex_unlock(&acc->dr_lock);
    return batch;
}

size_t ktx__dr_queue_len(struct ktx__accumulator *acc)
{
    /* No lock: ktx_poll(0) asks after every send, and a batch completed a moment later is
     * served by the next poll anyway. */
    return atomic_load(&acc->dr_len);
}

void ktx__batch_report(const struct ktx__batch *batch, int32_t index,
                       struct ktx__record_report *dr)
{
    const struct ktx__record_meta *meta = &batch->records[index];
    dr->topic = batch->topic;
    dr->partition = batch->partition;
    dr->offset = batch->base_offset >= 0 ? batch->base_offset + index : -1;
    dr->timestamp = batch->log_append_time >= 0 ? batch->log_append_time : meta->timestamp;
    dr->err = batch->err;
    dr->opaque = meta->opaque;
}

void ktx__accumulator_deallocate(struct ktx__accumulator *acc, struct ktx__batch *batch)
{
    if (!batch)
        return;
    size_t charged = batch->charged_buf + batch->charged_meta;
    batch_free(batch);
    pthread_mutex_lock(&acc->pool.lock);
    acc->pool.used -= charged;
    acc->pool.batches--;
    if (acc->pool.waiters)
        pthread_cond_broadcast(&acc->pool.cond);
    pthread_mutex_unlock(&acc->pool.lock);
}
