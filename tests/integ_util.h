/*
 * Producer-side helpers of the producer integration suites (check_producer_integ.c and
 * check_producer_faults.c): deterministic records, a producer whose delivery reports are
 * recorded per record, and the check that compares what the reports said with what an
 * independent consumer (verify.h) read.
 *
 * What "exactly once" means in integ_check(): every record got exactly one delivery report;
 * reports of a partition arrived in send order; every record reported delivered is in the log
 * once, at the partition and offset of its report, byte for byte (key, value, headers); a
 * record reported failed with a definite error is not in the log, and one that failed with
 * _MSG_TIMED_OUT or _PURGED ("may or may not have been written", docs/api.md) is there at most
 * once; no record is in the log twice; records of a partition are in the log in send order.
 *
 * Thread: the test's own thread (delivery reports run inside ktx_poll/ktx_flush/ktx_close on
 * that thread).
 */
#ifndef KTX_TEST_INTEG_UTIL_H
#define KTX_TEST_INTEG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "kafkatx.h"
#include "verify.h"

#define INTEG_MAX_HEADERS 2
#define INTEG_MAX_PARTITIONS 64

/* How integ_gen() picks the partition of each record. */
enum integ_partitioning {
    INTEG_ROUND_ROBIN, /* record i goes to partition i % partition_count explicitly */
    INTEG_BY_KEY,      /* KTX_PARTITION_ANY: keyed records land on murmur2(key) % count */
};

/* One generated record (owned copies) and the delivery report it got. */
struct integ_rec {
    int32_t partition;        /* as passed to ktx_send(): >= 0 or KTX_PARTITION_ANY */
    int32_t expect_partition; /* where it must land (-1: keyless under INTEG_BY_KEY) */
    uint8_t *key;             /* NULL: null key */
    size_t key_len;
    uint8_t *value;           /* NULL: null value */
    size_t value_len;
    ktx_header_t headers[INTEG_MAX_HEADERS];
    size_t header_count;
    int reports;              /* delivery reports received */
    int err;                  /* the report's error code, 0 when delivered */
    int32_t dr_partition;
    int64_t dr_offset;
    bool absent;              /* set by a test that knows the record cannot have been written */
};

/* A run: the topic, its records and what the delivery reports said. */
struct integ_run {
    char topic[128];
    int32_t partition_count;
    struct integ_rec *recs;
    size_t n;
    size_t cap;
    size_t reports;
    int order_violations;     /* a report of a partition came before an earlier-sent record's */
    int64_t last_reported[INTEG_MAX_PARTITIONS];
    char first_violation[256];
};

/* Zeroes |run| for |topic| with |partition_count| partitions. */
void integ_run_init(struct integ_run *run, const char *topic, int32_t partition_count);

/* Frees the records of |run|. */
void integ_run_free(struct integ_run *run);

/* Drops (and frees) the records of |run| from index |n| on: they were never sent. */
void integ_run_truncate(struct integ_run *run, size_t n);

/*
 * Appends |n| deterministic records (seeded by |seed|) to |run|: every 7th has a null key,
 * every 11th a null value, every 5th two headers (one with a null value), every 5th + 1 one
 * header; values are up to |max_value| random bytes behind a "#<index>|" tag that identifies
 * the record (the key carries the tag when the value is null). Aborts the test on failure.
 */
void integ_gen(struct integ_run *run, size_t n, uint64_t seed, size_t max_value,
               enum integ_partitioning partitioning);

/*
 * Creates a producer for |bootstrap| whose delivery reports are recorded in |run|, with the
 * settings |props| (name, value, ..., NULL) on top of test defaults (linger.ms 5, request
 * timeout 5 s, delivery timeout 30 s, retry backoff 50-200 ms). Aborts the test on failure.
 * Set KTX_INTEG_LOG=1 to see the producer's log on stderr.
 */
ktx_producer_t *integ_producer(struct integ_run *run, const char *bootstrap, const char *const *props);

/* ktx_send() of records [from, to) of |run|; asserts each call succeeds. */
void integ_send(ktx_producer_t *producer, struct integ_run *run, size_t from, size_t to);

/* ktx_send() of record |i| of |run|; returns the error (the caller frees it). */
ktx_error_t *integ_send_one(ktx_producer_t *producer, struct integ_run *run, size_t i);

/* Polls |producer| until |count| reports arrived in |run| or |timeout_ms| passed. Returns
 * true when they all arrived. */
bool integ_wait_reports(ktx_producer_t *producer, struct integ_run *run, size_t count, int timeout_ms);

/* Asserts that |err| is NULL (printing its name and message otherwise) and frees it. */
void integ_ok(ktx_error_t *err, const char *what);

/* Options of integ_check(). */
#define INTEG_ALL_DELIVERED 1u /* every record must have been reported delivered */
#define INTEG_AT_LEAST_ONCE 2u /* for the mock, which checks no sequences: a retry may append a
                                * batch again or after a later one, so only loss, content and
                                * the reported offsets are asserted, not order nor duplicates */

/*
 * Compares |run| with |read| as described at the top, with the options |flags|
 * (INTEG_*). Returns true, or false with the first problem in |why|.
 */
bool integ_check(const struct integ_run *run, const struct ktx_verify_topic *read, unsigned flags,
                 char *why, size_t why_len);

/*
 * Reads |run|'s topic at |bootstrap| with librdkafka's consumer (read_uncommitted) and
 * asserts integ_check() with |flags|. Aborts the test with the reason on failure.
 */
void integ_assert_exactly_once(const struct integ_run *run, const char *bootstrap, unsigned flags);

/* Starts |peer| with |brokers| brokers and |extra| arguments, creates |topic| with
 * |partitions| partitions, and returns the handle. Aborts the test on failure. */
struct ktx_test_cluster *integ_cluster(enum ktx_test_peer peer, int brokers, const char *const *extra,
                                       const char *topic, int partitions);

/* Sends the control command |line| to |c| and asserts that it answered OK. */
void integ_cmd(struct ktx_test_cluster *c, const char *line);

/* True while the suite runs under valgrind (timings are then stretched). */
bool integ_under_valgrind(void);

/* |ms| stretched 5 times under valgrind, so that timeouts keep their meaning there. */
int integ_ms(int ms);

/*
 * Asks broker |broker_id| of ktx-broker |c| (DescribeProducers v0) for the producers of
 * |topic| / |partition|. Stores the newest active producer's id and epoch (the highest id,
 * then the highest epoch), and returns the number of active producers; aborts the test when the broker does not answer or reports an
 * error for the partition.
 */
int integ_describe_producer(const struct ktx_test_cluster *c, int broker_id, const char *topic,
                            int32_t partition, int64_t *producer_id, int32_t *producer_epoch);

/*
 * Asserts that partition |p| of |t| holds exactly the decimal values p, p + stride,
 * p + 2 * stride, ... for every such value below |total|, in that order and nothing else:
 * the failure message says where a duplicate, a gap or an extra record is. For sources
 * that send record n to partition n % stride.
 */
void integ_assert_strided_partition(const struct ktx_verify_topic *t, int32_t p, uint32_t stride,
                                    uint64_t total);

#endif /* KTX_TEST_INTEG_UTIL_H */
