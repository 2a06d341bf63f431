/*
 * libFuzzer target for the position frame of a transactional identity's checkpoint row
 * (txn/persist.c, ktx__persist_frame_decode()): the input is the row as read from a
 * hostile state file. Decoding must either fail with KTX_ERR_BAD_MSG or yield positions
 * inside the input; a decoded frame must encode and decode again to the same positions.
 */
#include <stdlib.h>
#include <string.h>

#include "persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when |p| (|len| bytes) lies inside [data, data + size). */
static int inside(const uint8_t *p, size_t len, const uint8_t *data, size_t size)
{
    return len == 0 || (p >= data && len <= size && (size_t)(p - data) <= size - len);
}

static int same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ktx__persist_frame f, g;
    uint8_t *row;
    size_t len = 0;
    int err = ktx__persist_frame_decode(size ? data : NULL, size, &f);

    if (err != 0) {
        if (err != KTX_ERR_BAD_MSG)
            abort();
        return 0;
    }
    if (!inside(f.committed, f.committed_len, data, size) ||
        !inside(f.pending, f.pending_len, data, size))
        abort();
    if (!(row = ktx__persist_frame_encode(&f, &len)))
        return 0;
    if (ktx__persist_frame_decode(row, len, &g) != 0 || g.committed_set != f.committed_set ||
        g.pending_set != f.pending_set ||
        !same(g.committed, g.committed_len, f.committed, f.committed_len) ||
        !same(g.pending, g.pending_len, f.pending, f.pending_len))
        abort();
    free(row);
    return 0;
}
