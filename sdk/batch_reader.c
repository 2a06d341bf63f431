/*
 * Record batch reader and validator: header parsing, the broker-side batch checks, an
 * iterator over the batches of a records blob, and an iterator over the records of one
 * batch (with bounded zstd decompression). Every length read from the input is checked
 * before it is used; hostile input yields KTX_ERR_CORRUPT_MESSAGE, never a crash.
 */
#include "batch.h"

#include <string.h>

#include "crc32c.h"

/* The smallest batchLength of a magic-2 batch: a header without records. */
#define MIN_BATCH_LENGTH (KTX__BATCH_HEADER_SIZE - KTX__BATCH_LOG_OVERHEAD)
/* The smallest encoded record: length, attributes, timestampDelta, offsetDelta,
 * keyLength, valueLength and header count, one byte each. */
#define MIN_RECORD_SIZE 7
/* The smallest encoded record header: two one-byte lengths. */
#define MIN_HEADER_SIZE 2

int ktx__batch_header_parse(const uint8_t *p, size_t len, struct ktx__batch_header *h)
{
    struct ktx__reader r;
    if (len < KTX__BATCH_HEADER_SIZE)
        return KTX_ERR_CORRUPT_MESSAGE;
    ktx__r_init(&r, p, KTX__BATCH_HEADER_SIZE);
    h->base_offset = ktx__r_i64(&r);
    h->batch_length = ktx__r_i32(&r);
    h->partition_leader_epoch = ktx__r_i32(&r);
    h->magic = ktx__r_i8(&r);
    h->crc = ktx__r_u32(&r);
    h->attributes = ktx__r_i16(&r);
    h->last_offset_delta = ktx__r_i32(&r);
    h->base_timestamp = ktx__r_i64(&r);
    h->max_timestamp = ktx__r_i64(&r);
    h->producer_id = ktx__r_i64(&r);
    h->producer_epoch = ktx__r_i16(&r);
    h->base_sequence = ktx__r_i32(&r);
    h->records_count = ktx__r_i32(&r);
    return ktx__r_finish(&r) ? KTX_ERR_CORRUPT_MESSAGE : 0;
}

int ktx__batch_validate(const uint8_t *p, size_t len, struct ktx__batch_header *h)
{
    struct ktx__batch_header tmp;
    if (!h)
        h = &tmp;
    if (ktx__batch_header_parse(p, len, h))
        return KTX_ERR_CORRUPT_MESSAGE;
    if (h->magic != KTX__BATCH_MAGIC || h->batch_length < MIN_BATCH_LENGTH ||
        (size_t)h->batch_length != len - KTX__BATCH_LOG_OVERHEAD)
        return KTX_ERR_CORRUPT_MESSAGE;
    uint32_t crc = ktx__crc32c(0, p + KTX__BATCH_OFF_ATTRIBUTES, len - KTX__BATCH_OFF_ATTRIBUTES);
    if (crc != h->crc)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (ktx__batch_compression(h) > KTX__COMPRESSION_ZSTD)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (h->records_count < 1 || h->last_offset_delta != h->records_count - 1)
        return KTX_ERR_CORRUPT_MESSAGE;
    /* Uncompressed records take at least MIN_RECORD_SIZE bytes each. */
    if (ktx__batch_compression(h) == KTX__COMPRESSION_NONE &&
        (size_t)h->records_count > (len - KTX__BATCH_HEADER_SIZE) / MIN_RECORD_SIZE)
        return KTX_ERR_CORRUPT_MESSAGE;
    return 0;
}

/* ---- batches of a blob ---- */

void ktx__batch_iter_init(struct ktx__batch_iter *it, const uint8_t *p, size_t len)
{
    it->p = p;
    it->len = len;
    it->pos = 0;
    it->truncated = false;
    it->err = 0;
}

bool ktx__batch_next(struct ktx__batch_iter *it, const uint8_t **batch, size_t *len)
{
    if (it->err || it->truncated)
        return false;
    size_t left = it->len - it->pos;
    if (left == 0)
        return false;
    if (left < KTX__BATCH_LOG_OVERHEAD) {
        it->truncated = true;
        return false;
    }
    int32_t batch_length = (int32_t)ktx__be32_get(it->p + it->pos + 8);
    if (batch_length < MIN_BATCH_LENGTH) {
        it->err = KTX_ERR_CORRUPT_MESSAGE;
        return false;
    }
    size_t size = (size_t)batch_length + KTX__BATCH_LOG_OVERHEAD;
    if (size > left) {
        it->truncated = true;
        return false;
    }
    *batch = it->p + it->pos;
    *len = size;
    it->pos += size;
    return true;
}

/* ---- records of a batch ---- */

int ktx__record_iter_init(struct ktx__record_iter *it, const uint8_t *batch, size_t len,
                          struct ktx__writer *scratch, size_t max_decompressed)
{
    memset(it, 0, sizeof(*it));
    ktx__r_init(&it->r, NULL, 0);
    if (ktx__batch_header_parse(batch, len, &it->h) || it->h.records_count < 0)
        return KTX_ERR_CORRUPT_MESSAGE;
    const uint8_t *records = batch + KTX__BATCH_HEADER_SIZE;
    size_t records_len = len - KTX__BATCH_HEADER_SIZE;
    switch (ktx__batch_compression(&it->h)) {
    case KTX__COMPRESSION_NONE:
        ktx__r_init(&it->r, records, records_len);
        return 0;
    case KTX__COMPRESSION_ZSTD:
        break;
    case KTX__COMPRESSION_GZIP:
    case KTX__COMPRESSION_SNAPPY:
    case KTX__COMPRESSION_LZ4:
        return KTX_ERR_UNSUPPORTED_COMPRESSION_TYPE;
    default:
        return KTX_ERR_CORRUPT_MESSAGE;
    }
    if (!scratch)
        return KTX_ERR_INVALID_ARG;
    ktx__w_reset(scratch);
    int err = ktx__zstd_decompress(scratch, records, records_len, max_decompressed);
    if (err)
        return err;
    ktx__r_init(&it->r, scratch->p, scratch->len);
    return 0;
}

/* Reads a length-prefixed byte field; |nullable| allows -1. Fails |r| on a bad length. */
static struct ktx__bytes read_field(struct ktx__reader *r, bool nullable)
{
    struct ktx__bytes b = {NULL, -1};
    int32_t n = ktx__r_varint(r);
    if (n < -1 || (n == -1 && !nullable)) {
        ktx__r_fail(r);
        return b;
    }
    if (n >= 0) {
        b.ptr = ktx__r_raw(r, (size_t)n);
        b.len = b.ptr ? n : -1;
    }
    return b;
}

/* Reads the headers of a record from |r| into |arena|. */
static void read_headers(struct ktx__reader *r, struct ktx__record *rec,
                         struct ktx__arena *arena)
{
    int32_t n = ktx__r_varint(r);
    if (n < 0 || (size_t)n > ktx__r_remaining(r) / MIN_HEADER_SIZE) {
        ktx__r_fail(r);
        return;
    }
    rec->header_count = n;
    if (n == 0)
        return;
    rec->headers = arena ? ktx__arena_alloc(arena, (size_t)n * sizeof(*rec->headers)) : NULL;
    if (!rec->headers) {
        rec->header_count = 0;
        ktx__r_fail(r);
        return;
    }
    for (int32_t i = 0; i < n && !r->err; i++) {
        struct ktx__bytes key = read_field(r, false);
        rec->headers[i].key.ptr = (const char *)key.ptr;
        rec->headers[i].key.len = key.len;
        rec->headers[i].value = read_field(r, true);
    }
}

/* Decodes one record body (exactly the bytes of |r|) into |rec|. */
static int read_record(struct ktx__reader *r, const struct ktx__batch_header *h,
                       struct ktx__record *rec, struct ktx__arena *arena)
{
    rec->attributes = ktx__r_i8(r);
    int64_t timestamp_delta = ktx__r_varlong(r);
    int32_t offset_delta = ktx__r_varint(r);
    rec->key = read_field(r, true);
    rec->value = read_field(r, true);
    read_headers(r, rec, arena);
    if (ktx__r_finish(r) || offset_delta < 0)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (__builtin_add_overflow(h->base_offset, (int64_t)offset_delta, &rec->offset) ||
        __builtin_add_overflow(h->base_timestamp, timestamp_delta, &rec->timestamp))
        return KTX_ERR_CORRUPT_MESSAGE;
    return 0;
}

int ktx__record_next(struct ktx__record_iter *it, struct ktx__record *rec,
                     struct ktx__arena *arena)
{
    memset(rec, 0, sizeof(*rec));
    if (it->r.err)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (it->index >= it->h.records_count) {
        /* Bytes left after the last record mean the count is wrong. */
        if (ktx__r_remaining(&it->r) != 0) {
            ktx__r_fail(&it->r);
            return KTX_ERR_CORRUPT_MESSAGE;
        }
        return KTX__RECORDS_END;
    }
    int32_t length = ktx__r_varint(&it->r);
    if (length < 0)
        ktx__r_fail(&it->r);
    const uint8_t *body = ktx__r_raw(&it->r, length < 0 ? 0 : (size_t)length);
    if (it->r.err || !body) {
        ktx__r_fail(&it->r);
        return KTX_ERR_CORRUPT_MESSAGE;
    }
    struct ktx__reader sub;
    ktx__r_init(&sub, body, (size_t)length);
    if (read_record(&sub, &it->h, rec, arena)) {
        ktx__r_fail(&it->r);
        memset(rec, 0, sizeof(*rec));
        return KTX_ERR_CORRUPT_MESSAGE;
    }
    it->index++;
    return 0;
}

int ktx__batch_read_control(const struct ktx__record *rec, int16_t *type,
                            int32_t *coordinator_epoch)
{
    /* Key: version int16, type int16. Later key versions may append fields. */
    if (rec->key.len < 4)
        return KTX_ERR_CORRUPT_MESSAGE;
    int16_t t = (int16_t)((rec->key.ptr[2] << 8) | rec->key.ptr[3]);
    int32_t epoch = -1;
    if (t == KTX__CONTROL_ABORT || t == KTX__CONTROL_COMMIT) {
        /* Value: version int16, coordinatorEpoch int32. */
        if (rec->value.len < 6)
            return KTX_ERR_CORRUPT_MESSAGE;
        epoch = (int32_t)ktx__be32_get(rec->value.ptr + 2);
    }
    if (type)
        *type = t;
    if (coordinator_epoch)
        *coordinator_epoch = epoch;
    return 0;
}
