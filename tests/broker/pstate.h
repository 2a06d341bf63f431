/*
 * Producer state of one partition, as Kafka's ProducerStateManager keeps it: for each
 * producer id the current epoch, the last five appended batches (to recognise retries),
 * the last sequence, and the first offset of its open transaction on this partition.
 * Pure: the partition log (plog.c) asks before appending and reports after.
 *
 * The rules, in the order they are checked by kb_pstate_check_append():
 *   - producer id -1: a plain producer, nothing is checked;
 *   - unknown producer id with a base sequence other than 0: UNKNOWN_PRODUCER_ID;
 *   - epoch older than the current one: INVALID_PRODUCER_EPOCH (the caller turns it into
 *     PRODUCER_FENCED where the request version allows);
 *   - same epoch, and a batch in the window with the same first and last sequence: a
 *     duplicate, acknowledged with the original offsets and not appended;
 *   - same epoch, base sequence not last sequence + 1 (INT32_MAX wraps to 0):
 *     OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - newer epoch with a base sequence other than 0: OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - a non-transactional batch while the producer has an open transaction here:
 *     INVALID_TXN_STATE.
 */
#ifndef KB_PSTATE_H
#define KB_PSTATE_H

#include "bbatch.h"

#define KB_PSTATE_WINDOW 5

/* One appended batch remembered for duplicate detection. */
struct kb_pstate_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
    int64_t last_offset;
};

/* The state of one producer id on one partition. */
struct kb_producer {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t last_seq;                 /* -1 when nothing was appended in this epoch */
    struct kb_pstate_batch window[KB_PSTATE_WINDOW]; /* oldest first */
    int n_window;
    int64_t txn_first_offset;         /* first offset of the open transaction, or -1 */
    int32_t coordinator_epoch;        /* of the last marker, or -1 */
    int64_t last_timestamp;
};

struct kb_pstate {
    struct kb_producer *producers;
    size_t n;
    size_t cap;
};

/* Verdict of kb_pstate_check_append() for a retried batch: not an error on the wire. */
#define KB_PSTATE_DUPLICATE KTX_ERR_DUPLICATE_SEQUENCE_NUMBER

void kb_pstate_init(struct kb_pstate *ps);
void kb_pstate_free(struct kb_pstate *ps);

/* Returns the state of |producer_id| (borrowed, valid until the next change), or NULL. */
const struct kb_producer *kb_pstate_find(const struct kb_pstate *ps, int64_t producer_id);

/*
 * Decides whether the batch |hdr| may be appended. |hdr| is borrowed.
 * Returns 0 (append it), KB_PSTATE_DUPLICATE (a retry: the original base and last offset
 * are stored in |*dup_base_offset| and |*dup_last_offset|; do not append), or
 * UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER,
 * INVALID_TXN_STATE as described at the top of this file.
 */
int kb_pstate_check_append(const struct kb_pstate *ps, const struct kb_batch_hdr *hdr,
                           int64_t *dup_base_offset, int64_t *dup_last_offset);

/*
 * Records that |hdr| was appended at |base_offset|: updates epoch, sequence, window and
 * the open transaction. Call only after kb_pstate_check_append() returned 0 (or while
 * rebuilding state from a log). Returns 0 or KTX_ERR_NO_MEMORY.
 */
int kb_pstate_on_append(struct kb_pstate *ps, const struct kb_batch_hdr *hdr, int64_t base_offset);

/*
 * Decides whether a transaction marker from |producer_id| at |marker_epoch| may be written.
 * Returns 0 or INVALID_PRODUCER_EPOCH when |marker_epoch| is older than the producer's.
 */
int kb_pstate_check_marker(const struct kb_pstate *ps, int64_t producer_id, int16_t marker_epoch);

/*
 * Records a marker written at |marker_offset|: closes the producer's open transaction on
 * this partition and adopts |marker_epoch| (a newer epoch clears the sequence window).
 * Stores the first offset of the transaction it closed in |*txn_first_offset| (-1 when
 * none was open). Returns 0 or KTX_ERR_NO_MEMORY.
 */
int kb_pstate_on_marker(struct kb_pstate *ps, int64_t producer_id, int16_t marker_epoch,
                        int32_t coordinator_epoch, int64_t *txn_first_offset);

/* First offset of the earliest open transaction on the partition, or -1 when none is open. */
int64_t kb_pstate_first_unstable_offset(const struct kb_pstate *ps);

#endif /* KB_PSTATE_H */
