/*
 * libFuzzer target for the ApiVersions codecs (sdk/proto_meta.c).
 *
 * Input: byte 0 selects the version (modulo the codec's range 0-4), byte 1 selects the
 * request (even) or the response (odd); the rest is one message body. When it decodes,
 * the message is encoded again, that encoding must decode, and encoding the result once
 * more must give the same bytes (the first pass drops unknown tagged fields, fills in the
 * shape the version carries and makes varints canonical, so only the second pass is
 * byte-stable).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_meta.h"

#define MIN_VER 0
#define MAX_VER 4
#define ARENA_CEILING (1u << 20)
#define WRITER_CEILING (4u << 20)

union msg {
    struct ktx__api_versions_req req;
    struct ktx__api_versions_resp resp;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes one body; when that works, encodes it, decodes that, and checks that encoding
 * the second result gives the same bytes again. Any broken promise aborts. */
static void check_one(const struct ktx__proto_codec *codec, bool is_req, int16_t ver,
                      const uint8_t *p, size_t len)
{
    union msg first, second;
    struct ktx__arena arena1, arena2;
    struct ktx__writer w1, w2;
    int (*decode)(const uint8_t *, size_t, int16_t, void *, struct ktx__arena *) =
        is_req ? codec->req_decode : codec->resp_decode;
    int (*encode)(struct ktx__writer *, int16_t, const void *) =
        is_req ? codec->req_encode : codec->resp_encode;

    ktx__arena_init(&arena1, ARENA_CEILING);
    ktx__arena_init(&arena2, ARENA_CEILING);
    ktx__w_init(&w1, 0, WRITER_CEILING);
    ktx__w_init(&w2, 0, WRITER_CEILING);
    if (decode(p, len, ver, &first, &arena1) == 0) {
        if (encode(&w1, ver, &first) != 0)
            abort();
        if (decode(w1.p, w1.len, ver, &second, &arena2) != 0)
            abort();
        if (encode(&w2, ver, &second) != 0)
            abort();
        if (w2.len != w1.len || (w1.len > 0 && memcmp(w1.p, w2.p, w1.len) != 0))
            abort();
    }
    ktx__w_free(&w2);
    ktx__w_free(&w1);
    ktx__arena_free(&arena2);
    ktx__arena_free(&arena1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int16_t ver;

    if (size < 2)
        return 0;
    ver = (int16_t)(MIN_VER + data[0] % (MAX_VER - MIN_VER + 1));
    check_one(&ktx__proto_codec_api_versions, (data[1] & 1) == 0, ver, data + 2, size - 2);
    return 0;
}
