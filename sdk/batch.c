/*
 * Record batch writer: records are encoded straight into one growing buffer behind a
 * reserved header; sealing fills the header and compresses; stamping adds the producer
 * identity and the CRC. Also writes control batches (transaction markers).
 */
#include "batch.h"

#include <string.h>

#include "crc32c.h"

/* Header field offsets that only this file needs. */
#define OFF_BATCH_LENGTH 8
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQUENCE 53

/* A control record: key = version int16 + type int16, value = version int16 +
 * coordinatorEpoch int32. */
#define CONTROL_KEY_SIZE 4
#define CONTROL_VALUE_SIZE 6

static void put16(uint8_t *p, int16_t v)
{
    p[0] = (uint8_t)((uint16_t)v >> 8);
    p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, int64_t v)
{
    ktx__be32_put(p, (uint32_t)((uint64_t)v >> 32));
    ktx__be32_put(p + 4, (uint32_t)v);
}

/* Writes every field of |h| into the 61 bytes at |p|. */
static void put_header(uint8_t *p, const struct ktx__batch_header *h)
{
    put64(p, h->base_offset);
    ktx__be32_put(p + 8, (uint32_t)h->batch_length);
    ktx__be32_put(p + 12, (uint32_t)h->partition_leader_epoch);
    p[16] = (uint8_t)h->magic;
    ktx__be32_put(p + 17, h->crc);
    put16(p + 21, h->attributes);
    ktx__be32_put(p + 23, (uint32_t)h->last_offset_delta);
    put64(p + 27, h->base_timestamp);
    put64(p + 35, h->max_timestamp);
    put64(p + 43, h->producer_id);
    put16(p + 51, h->producer_epoch);
    ktx__be32_put(p + 53, (uint32_t)h->base_sequence);
    ktx__be32_put(p + 57, (uint32_t)h->records_count);
}

/* Computes the CRC of the batch at |p| (|len| bytes) and stores it. */
static void put_crc(uint8_t *p, size_t len)
{
    uint32_t crc = ktx__crc32c(0, p + KTX__BATCH_OFF_ATTRIBUTES, len - KTX__BATCH_OFF_ATTRIBUTES);
    ktx__be32_put(p + KTX__BATCH_OFF_CRC, crc);
}

int ktx__batch_writer_init(struct ktx__batch_writer *bw, size_t initial_capacity,
                           size_t max_bytes)
{
    memset(bw, 0, sizeof(*bw));
    if (max_bytes <= KTX__BATCH_HEADER_SIZE ||
        max_bytes > (size_t)INT32_MAX + KTX__BATCH_LOG_OVERHEAD)
        return KTX_ERR_INVALID_ARG;
    bw->max_bytes = max_bytes;
    bw->record_limit = max_bytes;
    ktx__w_init(&bw->w, KTX__MIN(KTX__MAX(initial_capacity, 256), max_bytes), max_bytes);
    return 0;
}

void ktx__batch_writer_set_record_limit(struct ktx__batch_writer *bw, size_t record_limit)
{
    record_limit = KTX__MAX(record_limit, bw->max_bytes);
    record_limit = KTX__MIN(record_limit, (size_t)INT32_MAX + KTX__BATCH_LOG_OVERHEAD);
    bw->record_limit = record_limit;
    bw->w.max = record_limit;
}

void ktx__batch_writer_free(struct ktx__batch_writer *bw)
{
    ktx__w_free(&bw->w);
    bw->count = 0;
    bw->sealed = false;
}

void ktx__batch_writer_adopt(struct ktx__batch_writer *bw, uint8_t *buf, size_t cap)
{
    bw->w.p = buf;
    bw->w.cap = cap;
}

uint8_t *ktx__batch_writer_release(struct ktx__batch_writer *bw, size_t *cap)
{
    uint8_t *buf = bw->w.p;

    *cap = buf ? bw->w.cap : 0;
    bw->w.p = NULL;
    ktx__batch_writer_free(bw);
    return buf;
}

void ktx__batch_writer_reset(struct ktx__batch_writer *bw)
{
    ktx__w_reset(&bw->w);
    bw->count = 0;
    bw->base_timestamp = 0;
    bw->max_timestamp = 0;
    bw->sealed = false;
}

/* Zigzag encoding of a signed varlong (Kafka's record fields). */
static inline uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Writes signed varlong |v| at |p| (room checked by the caller); returns the byte after. */
static inline uint8_t *put_var(uint8_t *p, int64_t v)
{
    uint64_t u = zigzag64(v);

    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

/* Writes a length-prefixed byte field (-1 = null, no bytes follow) at |p|; returns the byte
 * after it. */
static inline uint8_t *put_field(uint8_t *p, const void *data, int32_t len)
{
    p = put_var(p, len);
    if (len > 0) {
        memcpy(p, data, (size_t)len);
        p += len;
    }
    return p;
}

size_t ktx__batch_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
                              int32_t value_len, const struct ktx__record_header *headers,
                              size_t header_count)
{
    return ktx__batch_record_size_of(timestamp_delta, offset_delta,
                                     ktx__batch_record_fields_size(key_len, value_len, headers,
                                                                   header_count));
}

/*
 * Writes one record whose body is |body| bytes (ktx__batch_record_body_size()) in one
 * pass: the whole record is reserved with a single ktx__w_extend() and its fields are
 * encoded straight into that room, so no field pays a bounds check of its own.
 * On failure to grow |w| carries the error and nothing is written.
 */
static void write_record(struct ktx__writer *w, size_t body, int64_t timestamp_delta,
                         int32_t offset_delta, const void *key, int32_t key_len,
                         const void *value, int32_t value_len,
                         const struct ktx__record_header *headers, size_t header_count)
{
    uint8_t *p = ktx__w_extend(w, ktx__batch_var_size((int32_t)body) + body);

    if (!p)
        return;
    p = put_var(p, (int32_t)body);
    *p++ = 0; /* record attributes: unused */
    p = put_var(p, timestamp_delta);
    p = put_var(p, offset_delta);
    p = put_field(p, key, key_len);
    p = put_field(p, value, value_len);
    p = put_var(p, (int32_t)header_count);
    for (size_t i = 0; i < header_count; i++) {
        p = put_field(p, headers[i].key.ptr, headers[i].key.len);
        p = put_field(p, headers[i].value.ptr, headers[i].value.len);
    }
}

/* Checks that the record fits; returns 0, KTX__BATCH_FULL or KTX_ERR_MESSAGE_TOO_LARGE. */
static int check_fits(const struct ktx__batch_writer *bw, size_t size)
{
    if (bw->count == 0)
        return size > bw->record_limit - KTX__BATCH_HEADER_SIZE ? KTX_ERR_MESSAGE_TOO_LARGE : 0;
    if (bw->count == INT32_MAX || size > bw->max_bytes || bw->w.len > bw->max_bytes - size)
        return KTX__BATCH_FULL;
    return 0;
}

int ktx__batch_append(struct ktx__batch_writer *bw, int64_t timestamp_ms, const void *key,
                      int32_t key_len, const void *value, int32_t value_len,
                      const struct ktx__record_header *headers, size_t header_count)
{
    return ktx__batch_append_sized(bw, ktx__batch_record_fields_size(key_len, value_len,
                                                                     headers, header_count),
                                   timestamp_ms, key, key_len, value, value_len, headers,
                                   header_count);
}

int ktx__batch_append_sized(struct ktx__batch_writer *bw, size_t fields, int64_t timestamp_ms,
                            const void *key, int32_t key_len, const void *value,
                            int32_t value_len, const struct ktx__record_header *headers,
                            size_t header_count)
{
    if (bw->sealed)
        return KTX_ERR_STATE;
    if ((key_len > 0 && !key) || (value_len > 0 && !value))
        return KTX_ERR_INVALID_ARG;
    int64_t base = bw->count ? bw->base_timestamp : timestamp_ms;
    int64_t delta;
    if (__builtin_sub_overflow(timestamp_ms, base, &delta))
        return KTX_ERR_INVALID_ARG;
    size_t body = ktx__batch_record_body_size(delta, bw->count, fields);
    if (body == SIZE_MAX)
        return KTX_ERR_INVALID_ARG;
    int err = check_fits(bw, ktx__batch_var_size((int32_t)body) + body);
    if (err)
        return err;
    size_t old_len = bw->w.len;
    if (bw->count == 0) {
        ktx__w_reset(&bw->w);
        old_len = 0;
        ktx__w_reserve(&bw->w, KTX__BATCH_HEADER_SIZE);
    }
    write_record(&bw->w, body, delta, bw->count, key, key_len, value, value_len, headers,
                 header_count);
    if (bw->w.err) {
        err = bw->w.err == KTX_ERR_NO_MEMORY ? KTX_ERR_NO_MEMORY : KTX_ERR_MESSAGE_TOO_LARGE;
        bw->w.len = old_len;
        bw->w.err = 0;
        return err;
    }
    if (bw->count == 0) {
        bw->base_timestamp = timestamp_ms;
        bw->max_timestamp = timestamp_ms;
    } else if (timestamp_ms > bw->max_timestamp) {
        bw->max_timestamp = timestamp_ms;
    }
    bw->count++;
    return 0;
}

/* Replaces the records section with its zstd compression when that is smaller. Returns
 * the compression type the batch ends up with, or a negative error. */
static int compress_records(struct ktx__batch_writer *bw, int level)
{
    const uint8_t *out;
    size_t out_len;
    size_t records_len = bw->w.len - KTX__BATCH_HEADER_SIZE;
    int err = ktx__zstd_compress_scratch(bw->w.p + KTX__BATCH_HEADER_SIZE, records_len, level,
                                         &out, &out_len);
    if (err)
        return err;
    if (out_len >= records_len)
        return KTX__COMPRESSION_NONE;
    memcpy(bw->w.p + KTX__BATCH_HEADER_SIZE, out, out_len);
    bw->w.len = KTX__BATCH_HEADER_SIZE + out_len;
    return KTX__COMPRESSION_ZSTD;
}

int ktx__batch_seal(struct ktx__batch_writer *bw, int compression_type, int compression_level)
{
    if (bw->sealed || bw->count == 0)
        return KTX_ERR_STATE;
    if (compression_type == KTX__COMPRESSION_GZIP || compression_type == KTX__COMPRESSION_SNAPPY ||
        compression_type == KTX__COMPRESSION_LZ4)
        return KTX_ERR_UNSUPPORTED;
    if (compression_type != KTX__COMPRESSION_NONE && compression_type != KTX__COMPRESSION_ZSTD)
        return KTX_ERR_INVALID_ARG;
    if (compression_type == KTX__COMPRESSION_ZSTD) {
        compression_type = compress_records(bw, compression_level);
        if (compression_type < 0)
            return compression_type;
    }
    struct ktx__batch_header h = {
        .base_offset = 0,
        .batch_length = (int32_t)(bw->w.len - KTX__BATCH_LOG_OVERHEAD),
        .partition_leader_epoch = -1,
        .magic = KTX__BATCH_MAGIC,
        .crc = 0,
        .attributes = (int16_t)compression_type,
        .last_offset_delta = bw->count - 1,
        .base_timestamp = bw->base_timestamp,
        .max_timestamp = bw->max_timestamp,
        .producer_id = -1,
        .producer_epoch = -1,
        .base_sequence = -1,
        .records_count = bw->count,
    };
    put_header(bw->w.p, &h);
    bw->sealed = true;
    return 0;
}

void ktx__batch_stamp(uint8_t *batch, size_t len, int64_t producer_id, int16_t producer_epoch,
                      int32_t base_sequence, bool transactional)
{
    if (len < KTX__BATCH_HEADER_SIZE)
        return;
    put64(batch + OFF_PRODUCER_ID, producer_id);
    put16(batch + OFF_PRODUCER_EPOCH, producer_epoch);
    ktx__be32_put(batch + OFF_BASE_SEQUENCE, (uint32_t)base_sequence);
    uint8_t *attr_lo = batch + KTX__BATCH_OFF_ATTRIBUTES + 1;
    if (transactional)
        *attr_lo |= KTX__BATCH_ATTR_TRANSACTIONAL;
    else
        *attr_lo &= (uint8_t)~KTX__BATCH_ATTR_TRANSACTIONAL;
    put_crc(batch, len);
}

uint8_t *ktx__batch_writer_data(struct ktx__batch_writer *bw, size_t *len)
{
    if (!bw->sealed) {
        *len = 0;
        return NULL;
    }
    *len = bw->w.len;
    return bw->w.p;
}

int ktx__batch_write_control(struct ktx__writer *w, int64_t producer_id, int16_t producer_epoch,
                             bool commit, int32_t coordinator_epoch, int64_t timestamp_ms)
{
    size_t start = ktx__w_reserve(w, KTX__BATCH_HEADER_SIZE);
    size_t body = 1 + 1 + 1 + 1 + CONTROL_KEY_SIZE + 1 + CONTROL_VALUE_SIZE + 1;
    ktx__w_varint(w, (int32_t)body);
    ktx__w_i8(w, 0);      /* attributes */
    ktx__w_varlong(w, 0); /* timestampDelta */
    ktx__w_varint(w, 0);  /* offsetDelta */
    ktx__w_varint(w, CONTROL_KEY_SIZE);
    ktx__w_i16(w, 0); /* key version */
    ktx__w_i16(w, commit ? KTX__CONTROL_COMMIT : KTX__CONTROL_ABORT);
    ktx__w_varint(w, CONTROL_VALUE_SIZE);
    ktx__w_i16(w, 0); /* value version */
    ktx__w_i32(w, coordinator_epoch);
    ktx__w_varint(w, 0); /* headers */
    if (w->err)
        return w->err;
    struct ktx__batch_header h = {
        .base_offset = 0,
        .batch_length = (int32_t)(w->len - start - KTX__BATCH_LOG_OVERHEAD),
        .partition_leader_epoch = -1,
        .magic = KTX__BATCH_MAGIC,
        .attributes = KTX__BATCH_ATTR_TRANSACTIONAL | KTX__BATCH_ATTR_CONTROL,
        .last_offset_delta = 0,
        .base_timestamp = timestamp_ms,
        .max_timestamp = timestamp_ms,
        .producer_id = producer_id,
        .producer_epoch = producer_epoch,
        .base_sequence = -1,
        .records_count = 1,
    };
    put_header(w->p + start, &h);
    put_crc(w->p + start, w->len - start);
    return 0;
}
