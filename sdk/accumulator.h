/*
 * The record accumulator (Kafka's RecordAccumulator): application threads append records
 * to per-partition queues of batches; the sender thread asks which partitions are ready,
 * drains batches into Produce requests, re-enqueues retries, expires and aborts; completed
 * batches go to a delivery-report queue that the producer serves from ktx_poll().
 *
 * Memory: every batch charges buffer.memory with its buffer ceiling (batch.size, or the
 * size of a bigger single record), its record metadata array and its own struct. An append
 * that needs a new batch while the pool is full waits up to max.block.ms (woken when a
 * batch is deallocated), then fails with KTX_ERR_QUEUE_FULL. The batch buffer is returned
 * to the pool when the batch completes; the rest when it is deallocated after its reports
 * were served.
 *
 * Locks, always taken in this order: the partition table (rwlock), one partition's lock,
 * then the pool's lock or the report queue's lock. No function waits on a condition while
 * holding a partition lock.
 *
 * Life of a batch: created by append (queued, open) -> drained by the sender (sealed,
 * stamped, in flight) -> either ktx__accumulator_reenqueue() (queued again, in sequence
 * order) or ktx__accumulator_complete() (report queue) -> ktx__dr_queue_pop() ->
 * ktx__accumulator_deallocate(). Batches expired or aborted while queued go straight to
 * the report queue.
 */
#ifndef KTX_ACCUMULATOR_H
#define KTX_ACCUMULATOR_H

#include "batch.h"
#include "conf.h"

/* ktx__accumulator_append() with |abort_on_new_batch|: the record needs a new batch. */
#define KTX__ACC_NEW_BATCH 1

/* The default limit of batches in flight per partition with idempotence (Kafka's). */
#define KTX__ACC_MAX_IN_FLIGHT_IDEMPOTENT 5

/* What the accumulator needs from the configuration. */
struct ktx__acc_conf {
    int64_t batch_size;          /* batch.size: 0 = one record per batch */
    int64_t linger_ms;
    int64_t buffer_memory;
    int64_t max_block_ms;
    int64_t max_request_size;    /* caps one record (as a batch of its own) */
    int compression_type;        /* KTX__COMPRESSION_NONE or _ZSTD */
    int compression_level;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;
    int max_in_flight_per_partition; /* drained but not completed batches per partition */
};

/*
 * Fills |*ac| from resolved configuration |v| (borrowed for the call). The in-flight limit
 * per partition is max.in.flight.requests.per.connection (at most 5 with idempotence:
 * sequence numbers keep up to 5 batches ordered; without idempotence 1 keeps order too
 * and the sender mutes partitions instead, as Kafka does). Thread: any.
 */
void ktx__acc_conf_init(struct ktx__acc_conf *ac, const struct ktx__conf_values *v);

/* One record's delivery metadata, kept in its batch until the report is served. */
struct ktx__record_meta {
    void *opaque;
    int64_t timestamp;
    int32_t key_len;   /* -1 for a null key */
    int32_t value_len; /* -1 for a null value */
};

/* A partition's queue; opaque, lives as long as the accumulator. */
struct ktx__acc_part;

/*
 * A batch. Fields are written by the accumulator; the sender reads them and owns a batch
 * between drain and reenqueue/complete (it may then read and, for the producer fields,
 * write them through ktx__batch_restamp()). The report fields are set by complete.
 */
struct ktx__batch {
    struct ktx__batch *next, *prev;  /* partition queue or report queue links */
    struct ktx__acc_part *part;
    const char *topic;               /* owned by the accumulator, lives as long as it */
    int32_t partition;
    struct ktx__batch_writer bw;     /* records; sealed and stamped once drained */
    int64_t created_ms;
    int64_t last_attempt_ms;         /* the last drain or reenqueue */
    int64_t drained_ms;
    int32_t record_count;
    struct ktx__record_meta *records; /* |record_count| entries, |records_cap| allocated */
    int32_t records_cap;
    int attempts;                    /* times re-enqueued */
    bool stamped;                    /* producer fields and CRC written */
    int64_t producer_id;             /* -1 when not idempotent */
    int16_t producer_epoch;
    int32_t base_sequence;           /* -1 when not idempotent */
    bool transactional;
    bool in_flight;                  /* drained and not re-enqueued nor completed */
    bool retry;                      /* re-enqueued at least once */
    bool full;                       /* no more records will be appended */
    bool leader_moved;               /* re-enqueued after a leader hint (KIP-951): the retry
                                        goes to the new leader without the backoff; cleared
                                        when drained */
    uint64_t seal_gen;               /* ktx__accumulator_seal() calls before it was created */
    bool expired_in_flight;          /* a stand-in the sender keeps for an answer still to
                                        come after the batch expired in flight: its report
                                        was delivered (timed out), only its identity and
                                        sequence are left (sender_produce.c) */
    /* Outcome, set by ktx__accumulator_complete(). */
    int err;                         /* 0 when delivered */
    int64_t base_offset;             /* -1 when unknown */
    int64_t log_append_time;         /* -1 for CreateTime */
    size_t charged_buf;              /* bytes of buffer.memory held by the buffer */
    size_t charged_meta;             /* held by the struct and the metadata array */
};

/* One record's delivery report, filled by ktx__batch_report(). */
struct ktx__record_report {
    const char *topic;   /* borrowed from the accumulator */
    int32_t partition;
    int64_t offset;      /* base_offset + index, or -1 */
    int64_t timestamp;   /* the record's CreateTime, or the broker's LogAppendTime */
    int err;
    void *opaque;
};

/* A record to append. Everything is borrowed for the call. */
struct ktx__acc_record {
    const void *key;
    int32_t key_len;     /* -1 for a null key */
    const void *value;
    int32_t value_len;   /* -1 for a null value */
    const struct ktx__record_header *headers;
    size_t header_count;
    int64_t timestamp;
    void *opaque;
    /* The topic argument of ktx__accumulator_append() is interned: the same pointer always
     * names the same topic and its bytes never change while the accumulator lives (the
     * metadata cache's copy, ktx__metadata_partition_count_name()). The calling thread's
     * last partition is then recognised by the address, without comparing the name. */
    bool topic_interned;
};

/* What an append did, for the caller (wake the sender when a batch filled or was made). */
struct ktx__acc_append_result {
    struct ktx__acc_part *part;
    bool new_batch;
    bool batch_full;
};

/*
 * Hooks the idempotence/transaction layer registers (STYLE.md: no txn calls inside sdk/).
 * All run on the sender thread inside ktx__accumulator_drain(); any may be NULL.
 */
struct ktx__acc_hooks {
    void *opaque;
    /*
     * Called with |part|'s lock held for the first queued batch of a partition before it is
     * drained; returning false leaves the partition alone for this drain (Kafka's
     * shouldStopDrainBatchesForPartition: unresolved sequences, a retry that must wait for
     * the batches before it). Must not call back into the accumulator.
     */
    bool (*may_drain)(void *opaque, const struct ktx__batch *batch);
    /*
     * Called without locks for every batch being drained, once it is sealed. For a new
     * batch (!batch->stamped) it fills the identity to stamp and advances the partition's
     * sequence by batch->record_count; returning false stamps "no producer" (-1). For a
     * retry (batch->stamped) returning true restamps it with the identity filled in (e.g.
     * after an epoch bump rewound the sequences); false keeps the identity it has.
     */
    bool (*assign)(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                   int16_t *producer_epoch, int32_t *base_sequence, bool *transactional);
};

/* The list of partitions ktx__accumulator_ready() fills; grown by the accumulator. */
struct ktx__acc_part_list {
    struct ktx__acc_part **v;
    size_t len;
    size_t cap;
};

/* Frees the array of |list| (not the partitions) and empties it. Thread: the list's owner. */
void ktx__acc_part_list_free(struct ktx__acc_part_list *list);

/* The accumulator. Opaque. */
struct ktx__accumulator;

/*
 * Creates an accumulator with configuration |ac| (copied) in |*out|. The caller owns it
 * and frees it with ktx__accumulator_destroy(). Thread: any.
 * Returns 0, KTX_ERR_INVALID_ARG (a NULL argument, a negative size, an unsupported
 * compression type, an in-flight limit below 1) or KTX_ERR_NO_MEMORY.
 */
int ktx__accumulator_new(struct ktx__accumulator **out, const struct ktx__acc_conf *ac);

/*
 * Frees |acc| with every batch it still holds (queued, or in the report queue without
 * being served: their reports are dropped). Batches in flight belong to the sender, which
 * must complete or deallocate them first. NULL is accepted. No call may be running.
 */
void ktx__accumulator_destroy(struct ktx__accumulator *acc);

/* Registers |hooks| (copied). Thread: before the sender starts, or on the sender thread. */
void ktx__accumulator_set_hooks(struct ktx__accumulator *acc, const struct ktx__acc_hooks *hooks);

/*
 * Appends |rec| to partition |partition| of |topic| (both borrowed for the call; the
 * accumulator keeps its own copy of the topic name): the record is encoded straight into
 * the partition's open batch, or a new batch when there is none or it is full. |now| is
 * the creation time of a new batch. With |abort_on_new_batch| (sticky partitioning) the
 * call returns KTX__ACC_NEW_BATCH instead of creating a batch, so that the partitioner can
 * move on (see partitioner.h). |res| (may be NULL) tells what happened. |errbuf| (|errsize|
 * bytes, may be NULL/0) receives a message on error.
 * Thread: any, concurrently. Blocks up to max.block.ms when buffer.memory is full.
 * Locks: the table, then the partition; waits for memory with no partition lock held.
 * Returns 0; KTX__ACC_NEW_BATCH; KTX_ERR_MESSAGE_TOO_LARGE (the record alone exceeds
 * max.request.size or buffer.memory; nothing is changed); KTX_ERR_QUEUE_FULL
 * (buffer.memory still full after max.block.ms); KTX_ERR_CLOSED (ktx__accumulator_close()
 * was called); KTX_ERR_INVALID_ARG (NULL topic, negative partition, malformed record);
 * KTX_ERR_NO_MEMORY.
 */
int ktx__accumulator_append(struct ktx__accumulator *acc, const char *topic, int32_t partition,
                            const struct ktx__acc_record *rec, int64_t now,
                            bool abort_on_new_batch, struct ktx__acc_append_result *res,
                            char *errbuf, size_t errsize);

/*
 * Lists in |ready| (appended to: set |ready->len| to 0 to reuse a list; grown as needed) the
 * partitions that have a sendable first batch at |now|: full, lingered linger.ms, flush in
 * progress, closing, memory exhausted (someone waits for buffer.memory), or a retry whose
 * backoff has elapsed -- and that are neither muted nor at their in-flight limit. Stores
 * in |*next_ready_ms| the earliest time a partition with data that is not ready yet becomes
 * ready (INT64_MAX when none), for the sender's poll timeout. The caller maps partitions to leaders
 * (ktx__acc_part_topic()/_partition()) and drains per broker.
 * Thread: sender. Locks: the table (read), each partition in turn.
 * Returns 0 or KTX_ERR_NO_MEMORY (|ready| holds what fitted).
 */
int ktx__accumulator_ready(struct ktx__accumulator *acc, int64_t now,
                           struct ktx__acc_part_list *ready, int64_t *next_ready_ms);

/*
 * Drains batches for one Produce request to one broker: visits |parts| (|n| partitions led
 * by that broker; borrowed) round-robin starting at |*cursor| (the caller keeps one cursor
 * per broker so that no partition starves; it is advanced), and takes at most the first
 * batch of each partition that is not muted, not at its in-flight limit, not backing off
 * and accepted by the may_drain hook, until |max_request_size| bytes (the first batch is
 * always taken). Partitions need not be ready: as in Kafka, a broker that is ready gets
 * lingering batches too. Each batch taken is sealed (compressed per configuration, once),
 * stamped with the identity from the assign hook (or "no producer"), marked in flight and
 * stored in |out| (at most |out_cap|); its count is stored in |*out_count|.
 * Thread: sender. Locks: each partition in turn; sealing and hooks run unlocked.
 * Returns 0, or the first seal error (KTX_ERR_NO_MEMORY): that batch is completed with the
 * error (its reports say so) and draining stops there.
 */
int ktx__accumulator_drain(struct ktx__accumulator *acc, struct ktx__acc_part *const *parts,
                           size_t n, size_t *cursor, size_t max_request_size, int64_t now,
                           struct ktx__batch **out, size_t out_cap, size_t *out_count);

/*
 * Puts the in-flight |batch| back for a retry at |now|: ahead of every newer batch of its
 * partition and, among retried batches, in base-sequence order. Counts an attempt; the batch
 * becomes drainable again after the retry backoff (retry.backoff.ms doubling per attempt up
 * to retry.backoff.max.ms). Thread: sender. Locks: the partition.
 */
void ktx__accumulator_reenqueue(struct ktx__accumulator *acc, struct ktx__batch *batch,
                                int64_t now);

/*
 * Completes |batch| (in flight, or just returned by ktx__accumulator_expired()) with
 * |err| (0 = delivered), the broker's |base_offset| (-1 unknown) and |log_append_time| (-1
 * for CreateTime): frees its record buffer (returning that memory to buffer.memory) and
 * queues it for the delivery reports. Ownership passes to the report queue.
 * Thread: sender. Locks: the partition (in-flight count), the pool, the report queue.
 */
void ktx__accumulator_complete(struct ktx__accumulator *acc, struct ktx__batch *batch, int err,
                               int64_t base_offset, int64_t log_append_time);

/*
 * Removes the queued batches (never those in flight: their expiry is the sender's) that
 * have spent |delivery_timeout_ms| or more since creation at |now|, oldest first per
 * partition, and stores up to |out_cap| of them in |out| (their count in |*out_count|).
 * The caller completes each (normally with KTX_ERR_MSG_TIMED_OUT). Stores in
 * |*next_expiry_ms| (may be NULL) the earliest time a queued batch will expire, INT64_MAX
 * when none. Thread: sender. Locks: the table, each partition in turn.
 */
void ktx__accumulator_expired(struct ktx__accumulator *acc, int64_t now,
                              int64_t delivery_timeout_ms, struct ktx__batch **out,
                              size_t out_cap, size_t *out_count, int64_t *next_expiry_ms);

/*
 * Fails every queued (not in-flight) batch with |err| (e.g. KTX_ERR_PURGED on forced close
 * or transaction abort, KIP-654): each goes to the report queue with that error. Returns
 * the number of batches aborted. Thread: any. Locks: the table, each partition in turn.
 */
size_t ktx__accumulator_abort_all(struct ktx__accumulator *acc, int err);

/* True when some partition has a queued batch. Thread: any. Locks: the table, partitions. */
bool ktx__accumulator_has_undrained(struct ktx__accumulator *acc);

/*
 * Appends to |list| every partition that has a queued batch, ready or not (for the sender:
 * the topics whose leader must be known, and the partitions of a ready broker to drain as
 * Kafka does). Thread: sender. Locks: the table (read), each partition in turn.
 * Returns 0 or KTX_ERR_NO_MEMORY (|list| holds what fitted).
 */
int ktx__accumulator_undrained(struct ktx__accumulator *acc, struct ktx__acc_part_list *list);

/*
 * Seals the open batch of every partition (the next record starts a new batch) and counts
 * the call: batches created afterwards carry the new count in seal_gen, so every batch
 * holds records of one interval between two calls (the journal ties checkpoints to them).
 * Returns the new count. Thread: any. Locks: the table (read), each partition in turn.
 */
uint64_t ktx__accumulator_seal(struct ktx__accumulator *acc);

/*
 * Returns the smallest seal_gen of a queued batch that was never drained (not stamped) of
 * |part|, or of every partition when |part| is NULL; UINT64_MAX when there is none.
 * Thread: any. Locks: the table (read), each partition in turn.
 */
uint64_t ktx__accumulator_min_seal(struct ktx__accumulator *acc, struct ktx__acc_part *part);

/* Makes every queued batch ready regardless of linger.ms until the matching flush_end().
 * Nests. Thread: any. Locks: none (atomic). */
void ktx__accumulator_flush_begin(struct ktx__accumulator *acc);
void ktx__accumulator_flush_end(struct ktx__accumulator *acc);

/*
 * Stops accepting records: later appends (and appends waiting for memory) fail with
 * KTX_ERR_CLOSED, and every queued batch becomes ready. Thread: any. Locks: the pool.
 */
void ktx__accumulator_close(struct ktx__accumulator *acc);

/* Mutes or unmutes |part|: a muted partition is neither ready nor drained (Kafka's
 * guaranteeMessageOrder with one request in flight). Thread: sender. Locks: the partition. */
void ktx__accumulator_mute(struct ktx__accumulator *acc, struct ktx__acc_part *part, bool mute);

/* Returns the number of batches of |part| in flight. Thread: any. Locks: the partition. */
int ktx__acc_part_in_flight(struct ktx__acc_part *part);

/* The topic (owned by the accumulator) and partition of |part|. Thread: any. */
const char *ktx__acc_part_topic(const struct ktx__acc_part *part);
int32_t ktx__acc_part_partition(const struct ktx__acc_part *part);

/*
 * Returns the queue of |topic| |partition|, or NULL when nothing was ever appended there.
 * Thread: any. Locks: the table (read).
 */
struct ktx__acc_part *ktx__accumulator_find(struct ktx__accumulator *acc, const char *topic,
                                            int32_t partition);

/*
 * Rewrites the producer identity of the sealed |batch| (e.g. after an epoch bump) and its
 * CRC. Thread: sender, while it owns the batch (in flight or just drained).
 */
void ktx__batch_restamp(struct ktx__batch *batch, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence, bool transactional);

/* Returns the sealed bytes of drained |batch| and stores their length in |*len|; they live
 * until the batch completes. Thread: sender. */
const uint8_t *ktx__batch_bytes(const struct ktx__batch *batch, size_t *len);

/*
 * Pops the oldest completed batch from the report queue, waiting up to |timeout_ms| (0:
 * do not wait; negative: forever) for one. The caller owns the batch: it reads the
 * reports with ktx__batch_report() and then frees it with ktx__accumulator_deallocate().
 * Returns NULL when none arrived. Thread: any application thread. Locks: the report queue.
 */
struct ktx__batch *ktx__dr_queue_pop(struct ktx__accumulator *acc, int64_t timeout_ms);

/* Returns the number of completed batches waiting in the report queue. Thread: any.
 * Locks: none (an atomic read). */
size_t ktx__dr_queue_len(struct ktx__accumulator *acc);

/* Fills |*dr| with the report of record |index| (0-based, below batch->record_count) of
 * completed |batch|; |dr->topic| lives as long as the accumulator. Thread: the batch's
 * owner (whoever popped it). */
void ktx__batch_report(const struct ktx__batch *batch, int32_t index,
                       struct ktx__record_report *dr);

/*
 * Frees |batch| (popped from the report queue, or otherwise owned by the caller) and
 * returns all its memory to buffer.memory, waking appends that wait for it. NULL is
 * accepted. Thread: any. Locks: the pool.
 */
void ktx__accumulator_deallocate(struct ktx__accumulator *acc, struct ktx__batch *batch);

/* Returns the number of batches created and not yet deallocated, and the bytes of
 * buffer.memory in use. Thread: any. Locks: the pool. */
size_t ktx__accumulator_batches(struct ktx__accumulator *acc);
size_t ktx__accumulator_memory_used(struct ktx__accumulator *acc);

#endif /* KTX_ACCUMULATOR_H */
