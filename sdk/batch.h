/*
 * Kafka record batches (magic 2): the writer the producer's accumulator fills, the stamp
 * that adds the producer identity and CRC at drain time, control batches (transaction
 * markers), and the reader/validator used by the reference broker, the tests and the
 * fuzz targets. Pure: no I/O, no locks, no clocks (timestamps are passed in).
 *
 * Batch layout (all integers big-endian; byte offsets on the left):
 *
 *    0 baseOffset int64            27 baseTimestamp int64
 *    8 batchLength int32           35 maxTimestamp int64
 *   12 partitionLeaderEpoch int32  43 producerId int64
 *   16 magic int8 (2)              51 producerEpoch int16
 *   17 crc uint32                  53 baseSequence int32
 *   21 attributes int16            57 records count int32
 *   23 lastOffsetDelta int32       61 records (compressed as a whole when compressed)
 *
 * batchLength counts the bytes after itself (the whole batch minus 12). The CRC-32C
 * covers attributes up to the end, so the broker may rewrite baseOffset, batchLength's
 * neighbours and partitionLeaderEpoch without recomputing it.
 */
#ifndef KTX_BATCH_H
#define KTX_BATCH_H

#include "compress.h"
#include "wire.h"

#define KTX__BATCH_HEADER_SIZE 61
#define KTX__BATCH_MAGIC 2
/* Bytes of the header before the part that batchLength counts. */
#define KTX__BATCH_LOG_OVERHEAD 12
/* Offsets of header fields. */
#define KTX__BATCH_OFF_CRC 17
#define KTX__BATCH_OFF_ATTRIBUTES 21

/* Attribute bits. */
#define KTX__BATCH_ATTR_COMPRESSION KTX__COMPRESSION_MASK
#define KTX__BATCH_ATTR_TIMESTAMP_TYPE 0x08 /* 1 = LogAppendTime */
#define KTX__BATCH_ATTR_TRANSACTIONAL 0x10
#define KTX__BATCH_ATTR_CONTROL 0x20
#define KTX__BATCH_ATTR_DELETE_HORIZON 0x40

/* Control record types (the key's type field). */
#define KTX__CONTROL_ABORT 0
#define KTX__CONTROL_COMMIT 1

/* ktx__batch_append() refused a record: seal this batch and start a new one. */
#define KTX__BATCH_FULL 1
/* ktx__record_next() has no more records. */
#define KTX__RECORDS_END 1

/*
 * One record header. On the writing side both views are borrowed from the caller for the
 * duration of ktx__batch_append(); on the reading side they point into the batch (or the
 * decompression buffer). |key| is never null; |value.len| is -1 for a null value.
 */
struct ktx__record_header {
    struct ktx__str key;
    struct ktx__bytes value;
};

/* ---- writer ---- */

/*
 * A batch being filled. Records are encoded straight into |w| behind a 61-byte header
 * that ktx__batch_seal() fills in; nothing is allocated per record. Not thread-safe: the
 * accumulator guards each batch with its partition's lock.
 */
struct ktx__batch_writer {
    struct ktx__writer w; /* header + records; ceiling = |record_limit| */
    size_t max_bytes;     /* a record that would take the batch past this is refused */
    size_t record_limit;  /* the first record of an empty batch may take it up to this */
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
    bool sealed;
};

/*
 * Initialises |bw| for batches of at most |max_bytes| bytes (header included, at least
 * KTX__BATCH_HEADER_SIZE + 1). |initial_capacity| bytes are allocated on first use; the
 * buffer doubles as needed up to the ceiling. The first record of an empty batch is
 * accepted up to |max_bytes| too, unless ktx__batch_writer_set_record_limit() raises
 * that limit. Returns 0 or KTX_ERR_INVALID_ARG. Free with ktx__batch_writer_free().
 */
int ktx__batch_writer_init(struct ktx__batch_writer *bw, size_t initial_capacity,
                           size_t max_bytes);

/*
 * Lets the first record of an empty batch take the batch up to |record_limit| bytes
 * (e.g. max.request.size) while later records stay within max_bytes (e.g. batch.size),
 * so that one big record forms a batch of its own. |record_limit| below max_bytes is
 * raised to max_bytes. Call it on an empty batch.
 */
void ktx__batch_writer_set_record_limit(struct ktx__batch_writer *bw, size_t record_limit);

/* Releases |bw|'s buffer. Safe on a zeroed or already freed writer. */
void ktx__batch_writer_free(struct ktx__batch_writer *bw);

/* Gives the empty |bw| (nothing written yet, no buffer) the buffer |buf| of |cap| bytes
 * (malloc'ed; |bw| owns it from now on) instead of allocating one on first use. */
void ktx__batch_writer_adopt(struct ktx__batch_writer *bw, uint8_t *buf, size_t cap);

/* Detaches |bw|'s buffer (NULL when it has none) and stores its size in |*cap|: the caller
 * owns it and frees it (or hands it to ktx__batch_writer_adopt()). |bw| is left as after
 * ktx__batch_writer_free(). */
uint8_t *ktx__batch_writer_release(struct ktx__batch_writer *bw, size_t *cap);

/* Empties |bw| for a new batch, keeping its buffer and limits. */
void ktx__batch_writer_reset(struct ktx__batch_writer *bw);

/*
 * Returns the encoded size of a record in a batch whose base timestamp is
 * |base_timestamp| (the record's own timestamp for the first record), at position
 * |offset_delta|: length prefix included. Lengths of -1 mean null. Returns SIZE_MAX
 * when the record cannot be encoded (a length below -1, a header with a null key, or a
 * body over INT32_MAX bytes).
 */
size_t ktx__batch_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
                              int32_t value_len, const struct ktx__record_header *headers,
                              size_t header_count);

/* Encoded size of the zigzag varint/varlong |v| of a record field. Inline (like the size
 * functions below) because the accumulator sizes every record before appending it. */
static inline size_t ktx__batch_var_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;

    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* Size of a length-prefixed byte field (-1 = null, no bytes follow). */
static inline size_t ktx__batch_field_size(int32_t len)
{
    return ktx__batch_var_size(len) + (len > 0 ? (size_t)len : 0);
}

/*
 * Returns the encoded size of a record's key, value and headers (their length prefixes and
 * the header count included): the part of ktx__batch_record_size() that does not depend on
 * the record's place in its batch. SIZE_MAX when the record cannot be encoded (as
 * ktx__batch_record_size()). Computed once per record by the accumulator and passed to
 * ktx__batch_record_size_of() and ktx__batch_append_sized().
 */
static inline size_t ktx__batch_record_fields_size(int32_t key_len, int32_t value_len,
                                                   const struct ktx__record_header *headers,
                                                   size_t header_count)
{
    if (key_len < -1 || value_len < -1 || header_count > INT32_MAX ||
        (header_count && !headers))
        return SIZE_MAX;
    size_t size = ktx__batch_field_size(key_len) + ktx__batch_field_size(value_len) +
                  ktx__batch_var_size((int32_t)header_count);
    for (size_t i = 0; i < header_count; i++) {
        if (headers[i].key.len < 0 || headers[i].value.len < -1)
            return SIZE_MAX;
        size += ktx__batch_field_size(headers[i].key.len) +
                ktx__batch_field_size(headers[i].value.len);
    }
    return size > INT32_MAX ? SIZE_MAX : size;
}

/* The size of a record's body (everything after its length prefix) whose fields take
 * |fields| bytes (ktx__batch_record_fields_size()), or SIZE_MAX when the record cannot be
 * encoded. */
static inline size_t ktx__batch_record_body_size(int64_t timestamp_delta, int32_t offset_delta,
                                                 size_t fields)
{
    if (fields == SIZE_MAX)
        return SIZE_MAX;
    size_t body = 1 + ktx__batch_var_size(timestamp_delta) + ktx__batch_var_size(offset_delta) +
                  fields;
    return body > INT32_MAX ? SIZE_MAX : body;
}

/* ktx__batch_record_size() of a record whose ktx__batch_record_fields_size() is |fields|
 * (SIZE_MAX gives SIZE_MAX). */
static inline size_t ktx__batch_record_size_of(int64_t timestamp_delta, int32_t offset_delta,
                                               size_t fields)
{
    size_t body = ktx__batch_record_body_size(timestamp_delta, offset_delta, fields);
    return body == SIZE_MAX ? SIZE_MAX : ktx__batch_var_size((int32_t)body) + body;
}

/*
 * Appends one record. |key| / |value| (|key_len| / |value_len| bytes, -1 for null) and
 * |headers| are borrowed for the call and copied into the batch.
 * Returns 0 when the record was added; KTX__BATCH_FULL when the batch already holds
 * records and this one would take it past max_bytes (the batch is unchanged: seal it and
 * append to a new one); KTX_ERR_MESSAGE_TOO_LARGE when the record does not fit even in an
 * empty batch; KTX_ERR_INVALID_ARG for a malformed record (see ktx__batch_record_size());
 * KTX_ERR_STATE when the batch is sealed; KTX_ERR_NO_MEMORY. On any error the batch is
 * unchanged.
 */
int ktx__batch_append(struct ktx__batch_writer *bw, int64_t timestamp_ms, const void *key,
                      int32_t key_len, const void *value, int32_t value_len,
                      const struct ktx__record_header *headers, size_t header_count);

/* ktx__batch_append() for a record whose ktx__batch_record_fields_size() the caller has
 * computed already: |fields| must be that value for these lengths and headers (SIZE_MAX
 * gives KTX_ERR_INVALID_ARG). Saves the second pass over the headers. */
int ktx__batch_append_sized(struct ktx__batch_writer *bw, size_t fields, int64_t timestamp_ms,
                            const void *key, int32_t key_len, const void *value,
                            int32_t value_len, const struct ktx__record_header *headers,
                            size_t header_count);

/*
 * Finishes the batch: fills in batchLength, magic, attributes (compression type),
 * lastOffsetDelta, the timestamps and the record count, and compresses the records with
 * zstd when |compression_type| is KTX__COMPRESSION_ZSTD (at |compression_level|, 0 for
 * the default). The producer fields are left as "no producer" (-1) with a zero CRC:
 * ktx__batch_stamp() sets them. When zstd output is not smaller than the records, the
 * batch stays uncompressed (a broker accepts either).
 * Returns 0; KTX_ERR_UNSUPPORTED for gzip, snappy and lz4; KTX_ERR_INVALID_ARG for an
 * unknown type; KTX_ERR_STATE when the batch is empty or already sealed;
 * KTX_ERR_NO_MEMORY. On error the batch is not sealed and may be sealed again.
 */
int ktx__batch_seal(struct ktx__batch_writer *bw, int compression_type, int compression_level);

/*
 * Writes the producer identity into the sealed batch |batch| (|len| bytes, as returned by
 * ktx__batch_writer_data()), sets or clears the transactional attribute, and then computes
 * and stores the CRC. Call it at drain time, and again only when the identity changes
 * (an epoch bump). Does nothing when |len| is shorter than a batch header.
 */
void ktx__batch_stamp(uint8_t *batch, size_t len, int64_t producer_id, int16_t producer_epoch,
                      int32_t base_sequence, bool transactional);

/*
 * Returns the sealed batch's bytes and stores their length in |*len|. The bytes are
 * owned by |bw| and stay valid until it is appended to, reset or freed; the caller may
 * modify them (ktx__batch_stamp()). Returns NULL (and 0) before ktx__batch_seal().
 */
uint8_t *ktx__batch_writer_data(struct ktx__batch_writer *bw, size_t *len);

/* Returns the number of records appended since init or reset. */
static inline int32_t ktx__batch_writer_count(const struct ktx__batch_writer *bw)
{
    return bw->count;
}

/* Returns the batch's current size in bytes (header included; uncompressed until sealed). */
static inline size_t ktx__batch_writer_size(const struct ktx__batch_writer *bw)
{
    return bw->count ? bw->w.len : KTX__BATCH_HEADER_SIZE;
}

/*
 * Appends a transactional control batch holding one control record to |w|: a commit
 * marker when |commit| is true, an abort marker otherwise, written by the coordinator of
 * |coordinator_epoch| at |timestamp_ms|. baseOffset is 0 and partitionLeaderEpoch -1 (the
 * broker assigns both). Returns 0 or the writer's error (KTX_ERR_NO_MEMORY, or
 * KTX_ERR_BAD_MSG when |w|'s ceiling is reached).
 */
int ktx__batch_write_control(struct ktx__writer *w, int64_t producer_id, int16_t producer_epoch,
                             bool commit, int32_t coordinator_epoch, int64_t timestamp_ms);

/* ---- reader (batch_reader.c) ---- */

struct ktx__batch_header {
    int64_t base_offset;
    int32_t batch_length;
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

static inline bool ktx__batch_is_transactional(const struct ktx__batch_header *h)
{
    return (h->attributes & KTX__BATCH_ATTR_TRANSACTIONAL) != 0;
}
static inline bool ktx__batch_is_control(const struct ktx__batch_header *h)
{
    return (h->attributes & KTX__BATCH_ATTR_CONTROL) != 0;
}
static inline int ktx__batch_compression(const struct ktx__batch_header *h)
{
    return h->attributes & KTX__BATCH_ATTR_COMPRESSION;
}

/*
 * Reads the 61-byte header at |p| (|len| bytes available) into |*h| without checking the
 * magic, lengths or CRC. Returns 0, or KTX_ERR_CORRUPT_MESSAGE when |len| is shorter than
 * a header.
 */
int ktx__batch_header_parse(const uint8_t *p, size_t len, struct ktx__batch_header *h);

/*
 * Checks that |p| (|len| bytes) is exactly one well-formed magic-2 batch, as a broker does
 * before appending it: magic 2; batchLength == |len| - 12; the CRC-32C matches; a known
 * compression type; records count >= 1 and lastOffsetDelta == count - 1. It does not look
 * at the records themselves (the record iterator does). Fills |*h| (may be NULL) even on
 * error when the header could be read. Returns 0 or KTX_ERR_CORRUPT_MESSAGE.
 */
int ktx__batch_validate(const uint8_t *p, size_t len, struct ktx__batch_header *h);

/* Iterates over the batches of a records blob (a Produce or Fetch "records" field). */
struct ktx__batch_iter {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool truncated; /* set at the end when a partial batch trails the blob */
    int err;        /* KTX_ERR_CORRUPT_MESSAGE when a batchLength is impossible */
};

/* Starts iterating over the |len| bytes at |p| (borrowed for the iteration). */
void ktx__batch_iter_init(struct ktx__batch_iter *it, const uint8_t *p, size_t len);

/*
 * Yields the next complete batch: stores its start in |*batch| and its size (batchLength +
 * 12) in |*len| and returns true. Returns false at the end: either the blob is used up,
 * or what is left is a partial batch (|it->truncated| is set: a Fetch response may end
 * that way, it is not an error), or a batchLength below the size of a magic-2 header
 * makes the rest unreadable (|it->err| is set). The batch is not validated.
 */
bool ktx__batch_next(struct ktx__batch_iter *it, const uint8_t **batch, size_t *len);

/* One decoded record. Views point into the batch or into the decompression buffer. */
struct ktx__record {
    int64_t offset;    /* base_offset + offsetDelta */
    int64_t timestamp; /* base_timestamp + timestampDelta */
    int8_t attributes;
    struct ktx__bytes key;   /* len -1 for a null key */
    struct ktx__bytes value; /* len -1 for a null value */
    int32_t header_count;
    struct ktx__record_header *headers; /* |header_count| entries in the arena, or NULL */
};

/* Iterates over the records of one batch. */
struct ktx__record_iter {
    struct ktx__batch_header h;
    struct ktx__reader r; /* over the (decompressed) records section */
    int32_t index;        /* records yielded so far */
};

/*
 * Starts iterating over the records of the batch at |batch| (|len| bytes, normally
 * validated first; the header is re-read but the CRC is not checked). A zstd batch is
 * decompressed into |scratch| (reset first), which must be initialised by the caller
 * with ktx__w_init(); at most |max_decompressed| bytes are produced (and never more than
 * |scratch|'s ceiling), so a decompression bomb fails instead of exhausting memory.
 * |scratch| may be NULL for uncompressed batches. |batch| and |scratch| must outlive the
 * iteration and the records it yields.
 * Returns 0; KTX_ERR_CORRUPT_MESSAGE for a short or corrupt batch (including zstd data
 * that is malformed or too big); KTX_ERR_UNSUPPORTED_COMPRESSION_TYPE for gzip, snappy,
 * lz4; KTX_ERR_INVALID_ARG for a compressed batch without |scratch|; KTX_ERR_NO_MEMORY.
 */
int ktx__record_iter_init(struct ktx__record_iter *it, const uint8_t *batch, size_t len,
                          struct ktx__writer *scratch, size_t max_decompressed);

/*
 * Decodes the next record into |*rec|, allocating its headers (if any) in |arena|.
 * Returns 0; KTX__RECORDS_END after records_count records when the records section is
 * used up exactly; or KTX_ERR_CORRUPT_MESSAGE when a length runs past the end, a length
 * is negative other than -1 (or -1 for a header key), a varint overflows, the section
 * holds fewer or more records than the header says, an offset or timestamp overflows,
 * or |arena| is NULL/full when headers are present. Errors are final.
 */
int ktx__record_next(struct ktx__record_iter *it, struct ktx__record *rec,
                     struct ktx__arena *arena);

/*
 * Decodes the control record |rec| (from a control batch): stores the control type
 * (KTX__CONTROL_ABORT, KTX__CONTROL_COMMIT or another type) in |*type| and, for commit and
 * abort markers, the coordinator epoch in |*coordinator_epoch| (-1 for other types).
 * Either output may be NULL. Returns 0 or KTX_ERR_CORRUPT_MESSAGE when the key or value
 * is null or too short.
 */
int ktx__batch_read_control(const struct ktx__record *rec, int16_t *type,
                            int32_t *coordinator_epoch);

#endif /* KTX_BATCH_H */
