/*
 * Private to accumulator.c and accumulator_drain.c: the accumulator's structures and the
 * helpers the two files share. Nothing else includes this header.
 */
#ifndef KTX_ACCUMULATOR_INT_H
#define KTX_ACCUMULATOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "accumulator.h"

/* One partition's queue of batches, oldest first. */
struct ktx__acc_part {
    pthread_mutex_t lock;        /* guards the fields below except the constant ones */
    char *topic;                 /* owned; constant */
    int32_t partition;           /* constant */
    struct ktx__batch *head;
    struct ktx__batch *tail;
    size_t queued;
    int in_flight;
    bool muted;
    struct ktx__acc_part *hnext; /* hash chain; guarded by the table lock */
};

/* buffer.memory: bytes charged by live batches. */
struct acc_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* signalled when memory is released or the accumulator closes */
    size_t total;
    size_t used;
    size_t batches;       /* created and not yet deallocated */
    int waiters;          /* appends waiting for memory */
    /* Buffers of completed batches kept for new ones (Kafka's BufferPool free list), so
     * that the steady state neither mallocs nor faults in fresh pages per batch. They are
     * |spare_size| (batch.size) bytes each and count against |total|: used + spare_bytes
     * never exceeds it, and a charge that does not fit frees spares first. */
    uint8_t **spare;
    size_t spare_len, spare_cap, spare_size, spare_bytes;
};

struct ktx__accumulator {
    struct ktx__acc_conf conf;
    struct ktx__acc_hooks hooks;
    size_t batch_max;                /* ceiling of an ordinary batch's buffer */
    pthread_rwlock_t table_lock;     /* guards the table and the partition list */
    struct ktx__acc_part **buckets;
    size_t nbuckets;                 /* a power of two */
    struct ktx__acc_part **parts;    /* every partition, in creation order */
    size_t nparts;
    size_t parts_cap;
    struct acc_pool pool;
    pthread_mutex_t dr_lock;         /* guards the report queue */
    pthread_cond_t dr_cond;
    struct ktx__batch *dr_head;
    struct ktx__batch *dr_tail;
    atomic_size_t dr_len;            /* written under dr_lock, read without it */
    atomic_int flushes;              /* flush_begin() minus flush_end() */
    atomic_bool closed;
    _Atomic uint64_t seals;          /* ktx__accumulator_seal() calls */
};

/* Appends |batch| at the tail of |part|'s queue. |part|'s lock held. */
void ktx__acc_queue_push_tail(struct ktx__acc_part *part, struct ktx__batch *batch);

/* Removes |batch| from |part|'s queue. |part|'s lock held. */
void ktx__acc_queue_remove(struct ktx__acc_part *part, struct ktx__batch *batch);

/* Inserts |batch| into |part|'s queue before |at| (at the tail when |at| is NULL).
 * |part|'s lock held. */
void ktx__acc_queue_insert_before(struct ktx__acc_part *part, struct ktx__batch *at,
                                  struct ktx__batch *batch);

/* The retry backoff of a batch that was attempted |attempts| times. Pure. */
int64_t ktx__acc_backoff_ms(const struct ktx__acc_conf *ac, int attempts);

/* True when |batch| is a retry still waiting for its backoff at |now| (never after a leader
 * hint moved its partition: batch->leader_moved). Pure. */
bool ktx__acc_backing_off(const struct ktx__accumulator *acc, const struct ktx__batch *batch,
                          int64_t now);

/* True when some append waits for buffer.memory. Locks: the pool. */
bool ktx__acc_pool_exhausted(struct ktx__accumulator *acc);

#endif /* KTX_ACCUMULATOR_INT_H */
