/*
 * Test helper: an INDEPENDENT verification consumer for the producer integration suites.
 *
 * It reads a whole topic from the beginning to the end of every partition and returns the
 * records per partition, so that a test can assert what a user of kafkatx would observe:
 * every acknowledged record exactly once, in order per partition, at the offset its delivery
 * report gave. Two readers that share no code with kafkatx:
 *
 * - ktx_verify_read() uses librdkafka's consumer (check.crcs=true, the chosen
 *   isolation.level, all partitions assigned from the beginning, read until EOF on each);
 * - ktx_verify_read_kcat() runs `kcat -C -e` with a length-prefixed output format and parses
 *   what it prints (headers only as text: kcat prints them as "name=value" CSV).
 *
 * ktx_verify_same() compares two reads so that a test can show both consumers agree.
 *
 * Thread: the test's own thread. Nothing here is thread-safe. librdkafka is linked only into
 * the test programs that use this file, never into the library.
 */
#ifndef KTX_TEST_VERIFY_H
#define KTX_TEST_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which records a read returns: everything (read_uncommitted) or only committed ones. */
enum ktx_verify_isolation {
    KTX_VERIFY_READ_UNCOMMITTED,
    KTX_VERIFY_READ_COMMITTED,
};

/* One record header. |value| is NULL for a null header value. */
struct ktx_verify_header {
    char *key;
    uint8_t *value;
    size_t value_len;
};

/*
 * One record as the consumer read it. |key| / |value| are NULL for a null key / value (an
 * empty one is a non-NULL pointer with length 0). Every buffer is owned by the read.
 */
struct ktx_verify_record {
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    struct ktx_verify_header *headers;
    size_t header_count;
};

/* The records of one partition, in the order the consumer returned them. */
struct ktx_verify_partition {
    struct ktx_verify_record *records;
    size_t count;
    size_t cap;
};

/* A whole topic: |partition_count| partitions, indexed by partition id. */
struct ktx_verify_topic {
    char *topic;
    int32_t partition_count;
    struct ktx_verify_partition *partitions;
};

/* Hard ceilings: a read that would exceed them fails instead of growing without bound. */
#define KTX_VERIFY_MAX_PARTITIONS 1024
#define KTX_VERIFY_MAX_RECORDS 1000000
#define KTX_VERIFY_MAX_KCAT_OUTPUT (256u * 1024 * 1024)

/*
 * Reads every partition of |topic| at |bootstrap| from the beginning until librdkafka
 * reports the end of each partition, with |isolation| and CRC checks on, within
 * |timeout_ms|. The partition count comes from the cluster's metadata.
 *
 * On success fills |*out| (which the caller releases with ktx_verify_topic_free()) and
 * returns 0. On failure returns -1, leaves |*out| empty (safe to free) and writes the reason
 * to |why| (|why_len| bytes, NUL-terminated): a consumer error (a CRC mismatch included), no
 * metadata, a partition without EOF in time, or a ceiling reached.
 */
int ktx_verify_read(const char *bootstrap, const char *topic, enum ktx_verify_isolation isolation,
                    int timeout_ms, struct ktx_verify_topic *out, char *why, size_t why_len);

/*
 * Same as ktx_verify_read() through the kcat binary (`kcat -C -e -q -f ...`, CRC checks on).
 * |partition_count| must be the topic's partition count (kcat does not report empty ones).
 * Returns 0, or -1 with the reason in |why| (kcat missing, killed after |timeout_ms|, exited
 * with a failure, or printed something unparsable).
 */
int ktx_verify_read_kcat(const char *bootstrap, const char *topic,
                         enum ktx_verify_isolation isolation, int32_t partition_count,
                         int timeout_ms, struct ktx_verify_topic *out, char *why, size_t why_len);

/* Frees what |t| holds and zeroes it. NULL-safe, and safe on a zeroed struct. */
void ktx_verify_topic_free(struct ktx_verify_topic *t);

/* Returns the number of records of all partitions of |t|. */
size_t ktx_verify_total(const struct ktx_verify_topic *t);

/*
 * Returns the record of |t| at |partition| / |offset|, or NULL when the read holds none.
 * The pointer lives as long as |t|.
 */
const struct ktx_verify_record *ktx_verify_find(const struct ktx_verify_topic *t,
                                                int32_t partition, int64_t offset);

/*
 * Returns true when the offsets of every partition of |t| strictly increase (the reader
 * returned each offset once, in order). On false writes the first offending position to
 * |why|.
 */
bool ktx_verify_offsets_increase(const struct ktx_verify_topic *t, char *why, size_t why_len);

/*
 * Returns true when |a| and |b| hold the same records (partition, offset, key, value and,
 * unless |compare_headers| is false, headers) in the same order. On false writes the first
 * difference to |why|.
 */
bool ktx_verify_same(const struct ktx_verify_topic *a, const struct ktx_verify_topic *b,
                     bool compare_headers, char *why, size_t why_len);

/* True when |len| bytes at |p| equal the NUL-terminated |s| (NULL |p| equals NULL |s|). */
bool ktx_verify_bytes_eq(const uint8_t *p, size_t len, const char *s);

#endif /* KTX_TEST_VERIFY_H */
