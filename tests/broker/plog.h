/*
 * The log of one partition in the reference broker: record batches stored exactly as
 * received, one after the other in a single buffer, plus the indexes Fetch and ListOffsets
 * need (batch positions, last stable offset, aborted transactions) and the partition's
 * producer state. Pure: no I/O, no clocks (timestamps are passed in).
 *
 * Offsets. Replication is simulated (ISR = replicas), so the high watermark equals the log
 * end offset. The last stable offset (LSO) is the first offset of the earliest transaction
 * still open on the partition, else the high watermark. A read_committed reader never sees
 * past the LSO, and gets the aborted transactions overlapping what it read so that it can
 * drop their records, exactly as Kafka's Fetch v4+ works.
 */
#ifndef KB_PLOG_H
#define KB_PLOG_H

#include "pstate.h"

#define KB_ISOLATION_READ_UNCOMMITTED 0
#define KB_ISOLATION_READ_COMMITTED 1
#define KB_OFFSET_LATEST (-1)
#define KB_OFFSET_EARLIEST (-2)

/* Where one stored batch lives and what it covers. */
struct kb_plog_entry {
    size_t pos;       /* byte position in the log buffer */
    uint32_t size;    /* bytes */
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_timestamp;
};

/* One aborted transaction, as Kafka's aborted-transaction index keeps it. */
struct kb_aborted_txn {
    int64_t producer_id;
    int64_t first_offset;
    int64_t last_offset; /* offset of the ABORT marker */
};

struct kb_plog {
    uint8_t *data;    /* the stored batches, back to back */
    size_t len;
    size_t cap;
    size_t max_bytes; /* ceiling on |len|; appends beyond it fail */
    struct kb_plog_entry *entries;
    size_t n_entries;
    size_t cap_entries;
    struct kb_aborted_txn *aborted;
    size_t n_aborted;
    size_t cap_aborted;
    int64_t log_start_offset;
    int64_t log_end_offset;
    int32_t leader_epoch;
    struct kb_pstate pstate;
};

/* What kb_plog_append() did with a batch. */
struct kb_plog_append_result {
    int64_t base_offset; /* first offset of the batch (the original one for a duplicate) */
    int64_t last_offset;
    bool duplicate;      /* true when the batch was a retry and was not appended again */
};

/* Initialises an empty log holding at most |max_bytes| of batches (0: 1 GiB). */
void kb_plog_init(struct kb_plog *log, size_t max_bytes);
void kb_plog_free(struct kb_plog *log);

/* The high watermark (= log end offset here) and the last stable offset. */
int64_t kb_plog_high_watermark(const struct kb_plog *log);
int64_t kb_plog_last_stable_offset(const struct kb_plog *log);

/*
 * Appends the single batch of |len| bytes at |p| (the broker copies it; |p| is borrowed).
 * The stored copy gets the next offset and the current leader epoch written into it. A
 * retried batch still in the producer's window is not appended: |out->duplicate| is set
 * and |out| holds the offsets it got the first time.
 * Returns 0, CORRUPT_MESSAGE (bad header, length or CRC, or bytes after the batch),
 * UNSUPPORTED_FOR_MESSAGE_FORMAT, INVALID_RECORD (a control batch, or a transactional
 * batch without producer id), the producer-state errors of kb_pstate_check_append(),
 * MESSAGE_TOO_LARGE (the log ceiling) or KTX_ERR_NO_MEMORY.
 */
int kb_plog_append(struct kb_plog *log, const uint8_t *p, size_t len,
                   struct kb_plog_append_result *out);

/*
 * Writes a COMMIT or ABORT marker for |producer_id|/|producer_epoch| and closes its open
 * transaction on this partition; an abort adds the transaction to the aborted index.
 * Stores the marker's offset in |*marker_offset|.
 * Returns 0, INVALID_PRODUCER_EPOCH (marker epoch older than the producer's),
 * MESSAGE_TOO_LARGE or KTX_ERR_NO_MEMORY.
 */
int kb_plog_write_marker(struct kb_plog *log, int64_t producer_id, int16_t producer_epoch,
                         bool commit, int32_t coordinator_epoch, int64_t now_ms,
                         int64_t *marker_offset);

/* The answer to one partition of a Fetch. */
struct kb_plog_read {
    const uint8_t *records; /* borrowed from the log: valid until its next change */
    size_t len;
    int64_t high_watermark;
    int64_t last_stable_offset;
    int64_t log_start_offset;
    struct kb_aborted_txn *aborted; /* read_committed only; owned, kb_plog_read_free() */
    size_t n_aborted;
};

/*
 * Reads from the batch that contains |fetch_offset| onwards, whole batches only, up to
 * |max_bytes| but always at least one batch, and never past the high watermark
 * (read_uncommitted) or the last stable offset (read_committed). For read_committed,
 * also lists the aborted transactions that overlap the returned range.
 * |fetch_offset| equal to the high watermark gives an empty read.
 * Returns 0, OFFSET_OUT_OF_RANGE (before the log start or past the end) or
 * KTX_ERR_NO_MEMORY. On success free |out| with kb_plog_read_free().
 */
int kb_plog_read(const struct kb_plog *log, int64_t fetch_offset, size_t max_bytes,
                 int isolation_level, struct kb_plog_read *out);
void kb_plog_read_free(struct kb_plog_read *out);

/*
 * ListOffsets for one partition: |timestamp| KB_OFFSET_EARLIEST gives the log start,
 * KB_OFFSET_LATEST the high watermark (read_committed: the last stable offset), any other
 * timestamp the first offset of the first batch whose max timestamp is at or after it
 * (-1 when there is none). Stores the timestamp found (-1 for the special ones) in |*ts_out|
 * when |ts_out| is not NULL.
 */
int64_t kb_plog_list_offset(const struct kb_plog *log, int64_t timestamp, int isolation_level,
                            int64_t *ts_out);

/*
 * Rebuilds a log from |len| bytes of stored batches at |p| (as kept in |log->data| by a
 * broker that has since stopped), replaying producer state, transactions and the aborted
 * index. |log| must be freshly initialised. Offsets stored in the batches are kept.
 * Returns 0, CORRUPT_MESSAGE (a batch does not parse or offsets go backwards) or
 * KTX_ERR_NO_MEMORY; on failure the log holds the batches before the bad one.
 */
int kb_plog_load(struct kb_plog *log, const uint8_t *p, size_t len);

#endif /* KB_PLOG_H */
