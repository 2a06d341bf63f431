/*
 * Record batches as the reference broker sees them: the 61-byte v2 header, CRC32C, and
 * the two kinds of batch the broker writes itself (transaction markers) or that its tests
 * write (small data batches). Pure: no I/O, no clocks (timestamps are passed in).
 *
 * The broker keeps batches exactly as producers sent them. Only the first 12 header bytes
 * (baseOffset, batchLength) and partitionLeaderEpoch lie outside the CRC, so the broker
 * may patch baseOffset and partitionLeaderEpoch in its stored copy.
 *
 * Names: kb_ is the broker's cross-file prefix (the broker is not part of the library).
 */
#ifndef KB_BBATCH_H
#define KB_BBATCH_H

#include "wire.h"

#define KB_BATCH_HEADER_SIZE 61
/* Byte offsets of the header fields (Kafka's RecordBatch v2 layout). */
#define KB_BATCH_OFF_BASE_OFFSET 0
#define KB_BATCH_OFF_LENGTH 8
#define KB_BATCH_OFF_LEADER_EPOCH 12
#define KB_BATCH_OFF_MAGIC 16
#define KB_BATCH_OFF_CRC 17
#define KB_BATCH_OFF_ATTRIBUTES 21
/* Attribute bits. */
#define KB_BATCH_ATTR_TRANSACTIONAL 0x10
#define KB_BATCH_ATTR_CONTROL 0x20

/* The decoded v2 batch header; field names follow Kafka's RecordBatch schema. */
struct kb_batch_hdr {
    int64_t base_offset;
    int32_t batch_length; /* bytes after the batchLength field */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

/* Returns the CRC32C (Castagnoli) of |len| bytes at |p|. */
uint32_t kb_crc32c(const uint8_t *p, size_t len);

/*
 * Decodes the header of the batch that starts at |p| into |*out|. |len| is the number of
 * bytes available; the batch may be followed by more. Checks the magic (2), that the
 * whole batch is present, that records_count is positive and matches last_offset_delta,
 * and the CRC.
 * Returns 0, KTX_ERR_CORRUPT_MESSAGE (short, bad length or CRC) or
 * KTX_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT (magic other than 2).
 */
int kb_batch_parse(const uint8_t *p, size_t len, struct kb_batch_hdr *out);

/* Total bytes of the batch described by |hdr| (batchLength plus 12). */
static inline size_t kb_batch_size(const struct kb_batch_hdr *hdr)
{
    return (size_t)hdr->batch_length + 12;
}
static inline bool kb_batch_is_transactional(const struct kb_batch_hdr *hdr)
{
    return (hdr->attributes & KB_BATCH_ATTR_TRANSACTIONAL) != 0;
}
static inline bool kb_batch_is_control(const struct kb_batch_hdr *hdr)
{
    return (hdr->attributes & KB_BATCH_ATTR_CONTROL) != 0;
}
/* Sequence number of the last record of |hdr|, wrapping past INT32_MAX to 0 as Kafka does. */
int32_t kb_batch_last_sequence(const struct kb_batch_hdr *hdr);

/* Writes |base_offset| and |leader_epoch| into the stored batch at |p| (outside the CRC). */
void kb_batch_set_offset(uint8_t *p, int64_t base_offset, int32_t leader_epoch);

/*
 * Reads the control record of the control batch at |p| (already parsed into |hdr|) and
 * stores true in |*commit| for a COMMIT marker, false for ABORT.
 * Returns 0 or KTX_ERR_CORRUPT_MESSAGE when the batch holds no valid control record.
 */
int kb_batch_control_type(const uint8_t *p, const struct kb_batch_hdr *hdr, bool *commit);

/*
 * Appends a transaction marker batch (one control record, COMMIT or ABORT) for
 * |producer_id|/|producer_epoch| to |w|, base offset 0. |w| is borrowed.
 * Returns 0 or the writer's error.
 */
int kb_batch_write_control(struct ktx__writer *w, int64_t producer_id, int16_t producer_epoch,
                           bool commit, int32_t coordinator_epoch, int64_t timestamp_ms);

/* What kb_batch_write_data() writes. */
struct kb_batch_spec {
    int64_t producer_id;  /* -1 for a plain producer */
    int16_t producer_epoch;
    int32_t base_sequence; /* -1 for a plain producer */
    int32_t records_count; /* >= 1 */
    bool transactional;
    int64_t timestamp_ms;
    const char *value_prefix; /* record i has value "<prefix><i>"; NULL means "v" */
};

/*
 * Appends an uncompressed data batch described by |spec| to |w| (base offset 0), with
 * records holding a null key and a short value. For tests and demos. |w| and |spec| are
 * borrowed. Returns 0, KTX_ERR_INVALID_ARG (records_count < 1) or the writer's error.
 */
int kb_batch_write_data(struct ktx__writer *w, const struct kb_batch_spec *spec);

#endif /* KB_BBATCH_H */
