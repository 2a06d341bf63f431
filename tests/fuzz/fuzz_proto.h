/*
 * The libFuzzer harness shared by every protocol-codec target (tests/fuzz/fuzz_<api>.c).
 *
 * Input: byte 0 selects the version (modulo the API's range in sdk/proto.c, counted from
 * its lowest version), bit 0 of byte 1 selects the request (0) or the response (1); the
 * rest is one message body. When it decodes, the message is encoded again, that encoding
 * must decode, and encoding the result once more must give the same bytes (the first pass
 * drops unknown tagged fields and makes varints canonical, so only the second pass is
 * byte-stable). Any broken promise aborts, which libFuzzer reports as a crash.
 */
#ifndef KTX_FUZZ_PROTO_H
#define KTX_FUZZ_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define KTX_FUZZ_ARENA_CEILING (1u << 20)
#define KTX_FUZZ_WRITER_CEILING (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the decode → encode → decode → encode check on one body. */
static void ktx_fuzz_check_one(const struct ktx__proto_codec *codec, bool is_req, int16_t ver,
                               const uint8_t *p, size_t len)
{
    int (*decode)(const uint8_t *, size_t, int16_t, void *, struct ktx__arena *) =
        is_req ? codec->req_decode : codec->resp_decode;
    int (*encode)(struct ktx__writer *, int16_t, const void *) =
        is_req ? codec->req_encode : codec->resp_encode;
    size_t msg_size = is_req ? codec->req_size : codec->resp_size;
    void *first = malloc(msg_size), *second = malloc(msg_size);
    struct ktx__arena arena;
    struct ktx__writer w1, w2;

    if (!first || !second)
        abort();
    ktx__arena_init(&arena, KTX_FUZZ_ARENA_CEILING);
    ktx__w_init(&w1, 0, KTX_FUZZ_WRITER_CEILING);
    ktx__w_init(&w2, 0, KTX_FUZZ_WRITER_CEILING);
    if (decode(p, len, ver, first, &arena) == 0) {
        if (encode(&w1, ver, first) != 0)
            abort();
        if (decode(w1.p, w1.len, ver, second, &arena) != 0)
            abort();
        if (encode(&w2, ver, second) != 0)
            abort();
        if (w2.len != w1.len || (w1.len > 0 && memcmp(w1.p, w2.p, w1.len) != 0))
            abort();
    }
    ktx__w_free(&w2);
    ktx__w_free(&w1);
    ktx__arena_free(&arena);
    free(second);
    free(first);
}

/* Fuzzes the codecs of |api_key| with the input layout described above. */
static int ktx_fuzz_proto(int16_t api_key, const uint8_t *data, size_t size)
{
    const struct ktx__api_info *api = ktx__proto_api(api_key);
    const struct ktx__proto_codec *codec = ktx__proto_codec(api_key);
    if (!api || !codec)
        abort();
    if (size < 2)
        return 0;
    int16_t ver = (int16_t)(api->min_ver + data[0] % (api->max_ver - api->min_ver + 1));
    ktx_fuzz_check_one(codec, (data[1] & 1) == 0, ver, data + 2, size - 2);
    return 0;
}

/* Defines a whole fuzz target for one API. */
#define KTX_FUZZ_PROTO_TARGET(api_key)                                                        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                              \
    {                                                                                         \
        return ktx_fuzz_proto((api_key), data, size);                                         \
    }

#endif /* KTX_FUZZ_PROTO_H */
