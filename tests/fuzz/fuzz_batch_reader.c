/*
 * Fuzz target for the record batch reader: the input is a records blob (as in a Produce
 * request or a Fetch response). Every batch is validated, and its records are read
 * whether or not the CRC matched (so that the fuzzer reaches the record decoder), with
 * zstd decompression bounded at 1 MiB; control records are decoded too.
 */
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of |b| so that the sanitizers see an out-of-bounds view. */
static uint32_t touch(uint32_t crc, struct ktx__bytes b)
{
    return b.len > 0 ? ktx__crc32c(crc, b.ptr, (size_t)b.len) : crc;
}

static uint32_t read_records(const uint8_t *batch, size_t len, struct ktx__writer *scratch,
                             struct ktx__arena *arena)
{
    struct ktx__record_iter it;
    struct ktx__record rec;
    uint32_t crc = 0;
    if (ktx__record_iter_init(&it, batch, len, scratch, 1 << 20))
        return 0;
    while (ktx__record_next(&it, &rec, arena) == 0) {
        crc = touch(touch(crc, rec.key), rec.value);
        for (int32_t i = 0; i < rec.header_count; i++) {
            struct ktx__bytes key = {(const uint8_t *)rec.headers[i].key.ptr,
                                     rec.headers[i].key.len};
            crc = touch(touch(crc, key), rec.headers[i].value);
        }
        if (ktx__batch_is_control(&it.h)) {
            int16_t type;
            int32_t epoch;
            if (ktx__batch_read_control(&rec, &type, &epoch) == 0)
                crc ^= (uint32_t)type ^ (uint32_t)epoch;
        }
    }
    return crc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ktx__batch_iter it;
    struct ktx__writer scratch;
    struct ktx__arena arena;
    const uint8_t *batch;
    size_t len;
    volatile uint32_t sink = 0;
    ktx__w_init(&scratch, 0, 2 << 20);
    ktx__arena_init(&arena, 1 << 20);
    ktx__batch_iter_init(&it, data, size);
    while (ktx__batch_next(&it, &batch, &len)) {
        struct ktx__batch_header h;
        if (ktx__batch_validate(batch, len, &h) == 0)
            sink ^= (uint32_t)h.records_count;
        sink ^= read_records(batch, len, &scratch, &arena);
        ktx__arena_free(&arena);
    }
    ktx__w_free(&scratch);
    (void)sink;
    return 0;
}
