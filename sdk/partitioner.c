/*
 * The default partitioner: murmur2 for keyed records (bit-compatible with Kafka's Java
 * client) and a sticky partition per topic for the others (KIP-480).
 */
#include "partitioner.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MURMUR2_SEED 0x9747b28cu
#define MURMUR2_M 0x5bd1e995u
#define MURMUR2_R 24

/* Initial number of slots of the topic table (a power of two). */
#define TOPICS_INITIAL 16

uint32_t ktx__murmur2(const void *key, size_t len)
{
    const uint8_t *data = key;
    /* Java hashes an int length: only its low 32 bits take part. */
    uint32_t h = MURMUR2_SEED ^ (uint32_t)len;
    size_t blocks = len / 4;
    for (size_t i = 0; i < blocks; i++) {
        const uint8_t *b = data + i * 4;
        uint32_t k = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        k *= MURMUR2_M;
        k ^= k >> MURMUR2_R;
        k *= MURMUR2_M;
        h *= MURMUR2_M;
        h ^= k;
    }
    const uint8_t *tail = data + blocks * 4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= tail[0];
        h *= MURMUR2_M;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= MURMUR2_M;
    h ^= h >> 15;
    return h;
}

int32_t ktx__murmur2_partition(const void *key, size_t len, int32_t partition_count)
{
    if (partition_count <= 0)
        return -1;
    /* Java's Utils.toPositive() clears the sign bit (it is not abs()). */
    return (int32_t)((ktx__murmur2(key, len) & 0x7fffffffu) % (uint32_t)partition_count);
}

/* One topic's sticky partition. */
struct sticky_topic {
    char *topic; /* owned; NULL marks a free slot */
    _Atomic int32_t partition; /* written under the lock, read without it (fast path) */
};

/* A table replaced by a bigger one, kept until destroy: a thread may still read its last
 * entry there (a stale sticky partition is harmless; freed memory would not be). */
struct retired_table {
    struct retired_table *next;
    struct sticky_topic *topics;
};

/*
 * The sticky entry a thread used last, so that keyless records skip the lock and the hash.
 * Valid while |generation| equals table_generation, which every table growth and every
 * destroy bump; its value is re-checked against the partition count. |interned| is the
 * interned name (ktx__partitioner_partition_interned()) it was found for, else NULL: an
 * interned call matches by that address, without comparing the name.
 */
struct last_sticky {
    const struct ktx__partitioner *part;
    struct sticky_topic *st;
    uint_fast64_t generation;
    const char *interned;
};

static atomic_uint_fast64_t table_generation;
static _Thread_local struct last_sticky thread_last_sticky;

struct ktx__partitioner {
    bool ignore_keys;
    pthread_mutex_t lock;   /* guards everything below */
    uint64_t rng;           /* xorshift64* state, never 0 */
    struct sticky_topic *topics;
    size_t slots;           /* a power of two */
    size_t used;
    struct sticky_topic *last; /* the entry found last (NULL after the table grew) */
    struct retired_table *retired;
};

int ktx__partitioner_new(struct ktx__partitioner **out, bool ignore_keys, uint64_t seed)
{
    if (!out)
        return KTX_ERR_INVALID_ARG;
    struct ktx__partitioner *part = calloc(1, sizeof(*part));
    if (!part)
        return KTX_ERR_NO_MEMORY;
    part->topics = calloc(TOPICS_INITIAL, sizeof(*part->topics));
    if (!part->topics) {
        free(part);
        return KTX_ERR_NO_MEMORY;
    }
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)part;
    }
    part->rng = seed ? seed : 0x2545f4914f6cdd1dull;
    part->slots = TOPICS_INITIAL;
    part->ignore_keys = ignore_keys;
    pthread_mutex_init(&part->lock, NULL);
    *out = part;
    return 0;
}

void ktx__partitioner_destroy(struct ktx__partitioner *part)
{
    if (!part)
        return;
    atomic_fetch_add(&table_generation, 1);
    for (size_t i = 0; i < part->slots; i++)
        free(part->topics[i].topic);
    free(part->topics);
    while (part->retired) {
        struct retired_table *r = part->retired;
        part->retired = r->next;
        free(r->topics);
        free(r);
    }
    pthread_mutex_destroy(&part->lock);
    free(part);
}

bool ktx__partitioner_is_sticky(const struct ktx__partitioner *part, const void *key)
{
    return key == NULL || part->ignore_keys;
}

/* Returns the next pseudo-random number (xorshift64*). Called with the lock held. */
static uint64_t next_random(struct ktx__partitioner *part)
{
    uint64_t x = part->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    part->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* FNV-1a of a NUL-terminated topic name, for the table. */
static size_t topic_hash(const char *topic)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)topic; *c; c++)
        h = (h ^ *c) * 0x100000001b3ull;
    return (size_t)h;
}

/* Returns the slot of |topic|, or the free slot where it belongs. Lock held. */
static struct sticky_topic *find_slot(struct sticky_topic *topics, size_t slots,
                                      const char *topic)
{
    size_t i = topic_hash(topic) & (slots - 1);
    while (topics[i].topic && strcmp(topics[i].topic, topic) != 0)
        i = (i + 1) & (slots - 1);
    return &topics[i];
}

/* Doubles the table. Returns 0 or KTX_ERR_NO_MEMORY (the table is then unchanged). */
static int grow_topics(struct ktx__partitioner *part)
{
    size_t slots = part->slots * 2;
    struct sticky_topic *topics = calloc(slots, sizeof(*topics));
    struct retired_table *old = malloc(sizeof(*old));
    if (!topics || !old) {
        free(topics);
        free(old);
        return KTX_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < part->slots; i++) {
        if (part->topics[i].topic) {
            struct sticky_topic *st = find_slot(topics, slots, part->topics[i].topic);
            st->topic = part->topics[i].topic;
            st->partition = part->topics[i].partition;
        }
    }
    *old = (struct retired_table){part->retired, part->topics};
    part->retired = old;
    atomic_fetch_add(&table_generation, 1);
    part->topics = topics;
    part->slots = slots;
    part->last = NULL;
    return 0;
}

/* Returns |topic|'s entry, adding it (partition -1) when missing; NULL on OOM. Lock held. */
static struct sticky_topic *get_topic(struct ktx__partitioner *part, const char *topic)
{
    /* Most producers send to one topic: try the last entry before hashing the name. */
    if (part->last && strcmp(part->last->topic, topic) == 0)
        return part->last;
    struct sticky_topic *st = find_slot(part->topics, part->slots, topic);
    if (st->topic)
        return part->last = st;
    /* Keep the load at or below one half so that probe sequences stay short. */
    if ((part->used + 1) * 2 > part->slots) {
        if (grow_topics(part))
            return NULL;
        st = find_slot(part->topics, part->slots, topic);
    }
    st->topic = strdup(topic);
    if (!st->topic)
        return NULL;
    st->partition = -1;
    part->used++;
    return part->last = st;
}

/*
 * Picks a partition at random among |available| (or among all |count| when there is no
 * available one), avoiding |avoid| when another candidate exists. Lock held.
 */
static int32_t pick_partition(struct ktx__partitioner *part, int32_t count,
                              const int32_t *available, size_t available_count, int32_t avoid)
{
    size_t valid = 0;
    for (size_t i = 0; i < available_count; i++)
        valid += available[i] >= 0 && available[i] < count && available[i] != avoid;
    if (valid > 0) {
        size_t n = (size_t)(next_random(part) % valid);
        for (size_t i = 0; i < available_count; i++) {
            if (available[i] < 0 || available[i] >= count || available[i] == avoid)
                continue;
            if (n-- == 0)
                return available[i];
        }
    }
    if (count == 1 || (avoid < 0 || avoid >= count))
        return (int32_t)(next_random(part) % (uint32_t)count);
    /* Every partition except |avoid|: draw among count - 1 and skip over it. */
    int32_t p = (int32_t)(next_random(part) % (uint32_t)(count - 1));
    return p >= avoid ? p + 1 : p;
}

/*
 * When only |avoid| itself is available, staying on it beats moving to a partition whose
 * leader is unknown; pick_partition() would move. This wrapper keeps it.
 */
static int32_t pick_next(struct ktx__partitioner *part, int32_t count, const int32_t *available,
                         size_t available_count, int32_t avoid)
{
    if (available_count == 1 && available[0] == avoid && avoid >= 0 && avoid < count)
        return avoid;
    return pick_partition(part, count, available, available_count, avoid);
}

/* ktx__partitioner_partition(), where |interned| says |topic| is an interned name. */
static int32_t partition_of(struct ktx__partitioner *part, const char *topic, bool interned,
                            const void *key, size_t key_len, int32_t partition_count,
                            const int32_t *available, size_t available_count)
{
    if (partition_count <= 0 || !topic || !part)
        return KTX_ERR_INVALID_ARG;
    if (!ktx__partitioner_is_sticky(part, key))
        return ktx__murmur2_partition(key, key_len, partition_count);
    struct last_sticky *last = &thread_last_sticky;
    uint_fast64_t generation = atomic_load(&table_generation);
    int32_t p = KTX_ERR_NO_MEMORY;
    if (last->part == part && last->generation == generation &&
        (interned ? last->interned == topic : strcmp(last->st->topic, topic) == 0)) {
        p = atomic_load(&last->st->partition);
        if (p >= 0 && p < partition_count)
            return p;
    }
    pthread_mutex_lock(&part->lock);
    struct sticky_topic *st = get_topic(part, topic);
    p = KTX_ERR_NO_MEMORY;
    if (st) {
        if (st->partition < 0 || st->partition >= partition_count)
            st->partition = pick_partition(part, partition_count, available, available_count,
                                           -1);
        p = st->partition;
        *last = (struct last_sticky){part, st, generation, interned ? topic : NULL};
    }
    pthread_mutex_unlock(&part->lock);
    return p;
}

int32_t ktx__partitioner_partition(struct ktx__partitioner *part, const char *topic,
                                   const void *key, size_t key_len, int32_t partition_count,
                                   const int32_t *available, size_t available_count)
{
    return partition_of(part, topic, false, key, key_len, partition_count, available,
                        available_count);
}

int32_t ktx__partitioner_partition_interned(struct ktx__partitioner *part, const char *topic,
                                            const void *key, size_t key_len,
                                            int32_t partition_count, const int32_t *available,
                                            size_t available_count)
{
    return partition_of(part, topic, true, key, key_len, partition_count, available,
                        available_count);
}

void ktx__partitioner_on_new_batch(struct ktx__partitioner *part, const char *topic,
                                   int32_t prev_partition, int32_t partition_count,
                                   const int32_t *available, size_t available_count)
{
    if (partition_count <= 0 || !topic || !part)
        return;
    pthread_mutex_lock(&part->lock);
    struct sticky_topic *st = get_topic(part, topic);
    if (st && (st->partition < 0 || st->partition == prev_partition))
        st->partition = pick_next(part, partition_count, available, available_count,
                                  prev_partition);
    pthread_mutex_unlock(&part->lock);
}
