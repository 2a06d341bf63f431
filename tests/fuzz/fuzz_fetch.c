/*
 * libFuzzer target for the Fetch codec (versions 4 to 12).
 *
 * Input: byte 0 selects the version (modulo the range), bit 0 of byte 1 selects the
 * request (0) or the response (1); the rest is the message body. A body that decodes
 * must re-encode, the re-encoding must decode, and encoding that again must give the
 * same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_fetch.h"

#define MIN_VER KTX__FETCH_MIN_VER
#define MAX_VER KTX__FETCH_MAX_VER
#define CODEC ktx__proto_codec_fetch

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes |msg| into |w|, aborting on failure: everything decoded must be encodable. */
static void must_encode(struct ktx__writer *w, bool is_req, int16_t ver, const void *msg)
{
    int rc = is_req ? CODEC.req_encode(w, ver, msg) : CODEC.resp_encode(w, ver, msg);
    if (rc != 0)
        abort();
}

static int decode(bool is_req, int16_t ver, const uint8_t *p, size_t len, void *out, struct ktx__arena *arena)
{
    return is_req ? CODEC.req_decode(p, len, ver, out, arena) : CODEC.resp_decode(p, len, ver, out, arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int16_t ver = (int16_t)(MIN_VER + data[0] % (MAX_VER - MIN_VER + 1));
    bool is_req = (data[1] & 1) == 0;
    size_t msg_size = is_req ? CODEC.req_size : CODEC.resp_size;
    void *msg = malloc(msg_size), *again = malloc(msg_size);
    struct ktx__arena arena;
    struct ktx__writer w1, w2;
    ktx__arena_init(&arena, 1 << 20);
    ktx__w_init(&w1, 256, 4 << 20);
    ktx__w_init(&w2, 256, 4 << 20);
    if (msg && again && decode(is_req, ver, data + 2, size - 2, msg, &arena) == 0) {
        must_encode(&w1, is_req, ver, msg);
        if (decode(is_req, ver, w1.p, w1.len, again, &arena) != 0)
            abort();
        must_encode(&w2, is_req, ver, again);
        if (w1.len != w2.len || (w1.len > 0 && memcmp(w1.p, w2.p, w1.len) != 0))
            abort();
    }
    ktx__w_free(&w1);
    ktx__w_free(&w2);
    ktx__arena_free(&arena);
    free(msg);
    free(again);
    return 0;
}
