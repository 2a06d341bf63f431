/*
 * The default partitioner, as Kafka's Java producer has it: a record with a key goes to
 * partition toPositive(murmur2(key)) % partition_count (so keyed records land where Java's
 * producer puts them), and a record without a key (or any record when
 * partitioner.ignore.keys=true) goes to the topic's "sticky" partition, which stays the same
 * until the batch being filled there is full or sent and then moves to another partition
 * (KIP-480).
 *
 * How the producer drives the sticky partition with the accumulator (accumulator.h):
 *
 *   p = ktx__partitioner_partition(part, topic, key, key_len, count, avail, n_avail);
 *   err = ktx__accumulator_append(acc, topic, p, &rec, now, sticky, &res, ...);
 *   if (err == KTX__ACC_NEW_BATCH) {          // only asked for when |sticky| is true
 *       ktx__partitioner_on_new_batch(part, topic, p, count, avail, n_avail);
 *       p = ktx__partitioner_partition(part, topic, key, key_len, count, avail, n_avail);
 *       err = ktx__accumulator_append(acc, topic, p, &rec, now, false, &res, ...);
 *   }
 *
 * where |sticky| is ktx__partitioner_is_sticky(part, key) and the partition was chosen by
 * the partitioner (not given by the application).
 */
#ifndef KTX_PARTITIONER_H
#define KTX_PARTITIONER_H

#include "ktx_int.h"

/*
 * Returns the 32-bit murmur2 hash of the |len| bytes at |key| exactly as Kafka's Java
 * client computes it (Utils.murmur2: seed 0x9747b28c, little-endian 4-byte blocks, tail,
 * final mix), as an unsigned value: Java's int is the same 32 bits. |key| may be NULL when
 * |len| is 0. Pure; thread-safe.
 */
uint32_t ktx__murmur2(const void *key, size_t len);

/*
 * Returns the partition Kafka's default partitioner chooses for a record with key |key|
 * (|len| bytes) in a topic of |partition_count| partitions:
 * (murmur2(key) & 0x7fffffff) % partition_count. Returns -1 when |partition_count| is not
 * positive. Pure; thread-safe.
 */
int32_t ktx__murmur2_partition(const void *key, size_t len, int32_t partition_count);

/* The partitioner: one per producer. Opaque. */
struct ktx__partitioner;

/*
 * Creates a partitioner in |*out|. |ignore_keys| is partitioner.ignore.keys. |seed| seeds
 * the generator that picks sticky partitions (0: seeded from the clock and the address of
 * the partitioner); tests pass a fixed seed to get reproducible choices.
 * The caller owns the result and frees it with ktx__partitioner_destroy().
 * Returns 0, KTX_ERR_INVALID_ARG (|out| NULL) or KTX_ERR_NO_MEMORY.
 */
int ktx__partitioner_new(struct ktx__partitioner **out, bool ignore_keys, uint64_t seed);

/* Frees |part| and its per-topic state. NULL is accepted. No call may be running on it. */
void ktx__partitioner_destroy(struct ktx__partitioner *part);

/*
 * True when a record with |key| (NULL for a null key) is placed by the sticky partitioner
 * rather than by its key's hash: the key is null or partitioner.ignore.keys is set.
 * Thread: any.
 */
bool ktx__partitioner_is_sticky(const struct ktx__partitioner *part, const void *key);

/*
 * Chooses the partition of a record with key |key| (|key_len| bytes; NULL for a null key)
 * in |topic| (NUL-terminated, borrowed for the call), which has |partition_count|
 * partitions. |available| lists the |available_count| partitions whose leader is known
 * (may be NULL/0: every partition is then a candidate); it is borrowed for the call and
 * only used to pick a new sticky partition. A keyed record (unless ignore.keys) gets
 * ktx__murmur2_partition(); any other record gets the topic's sticky partition, chosen at
 * random among the available ones the first time the topic is seen (or when the current
 * one is no longer below |partition_count|).
 * Thread: any (the sticky state is guarded by the partitioner's lock). Locks: none when
 * the calling thread's last topic is asked for again and its sticky partition is still
 * below |partition_count| (a thread-local entry, read atomically); otherwise takes and
 * releases the partitioner's lock.
 * Returns the partition (>= 0), KTX_ERR_INVALID_ARG when |partition_count| is not positive
 * or |topic| is NULL, or KTX_ERR_NO_MEMORY (a new topic's state could not be allocated).
 */
int32_t ktx__partitioner_partition(struct ktx__partitioner *part, const char *topic,
                                   const void *key, size_t key_len, int32_t partition_count,
                                   const int32_t *available, size_t available_count);

/*
 * As ktx__partitioner_partition(), for a |topic| that is interned: the same pointer always
 * names the same topic and its bytes never change while |part| lives (the metadata cache's
 * copy, ktx__metadata_partition_count_name()). The thread-local entry is then recognised by
 * the address alone, without comparing the name. Passing a buffer that is later rewritten
 * with another name, or freed and reused, is a bug: use ktx__partitioner_partition().
 */
int32_t ktx__partitioner_partition_interned(struct ktx__partitioner *part, const char *topic,
                                            const void *key, size_t key_len,
                                            int32_t partition_count, const int32_t *available,
                                            size_t available_count);

/*
 * Tells the partitioner that the batch of |topic|'s sticky partition |prev_partition| is
 * full (the accumulator returned KTX__ACC_NEW_BATCH): when the sticky partition is still
 * |prev_partition|, a new one is chosen at random among |available| (all partitions when
 * |available_count| is 0), different from |prev_partition| whenever more than one
 * candidate exists. When another thread already moved the sticky partition, nothing
 * changes, so concurrent senders switch once, not once each (Java's compare-and-set).
 * Arguments are borrowed for the call. Thread: any. Locks: the partitioner's lock.
 */
void ktx__partitioner_on_new_batch(struct ktx__partitioner *part, const char *topic,
                                   int32_t prev_partition, int32_t partition_count,
                                   const int32_t *available, size_t available_count);

#endif /* KTX_PARTITIONER_H */
