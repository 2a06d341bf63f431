/*
 * libFuzzer target for the SaslHandshake (v0-1) and SaslAuthenticate (v0-2) codecs
 * (sdk/proto_sasl.c).
 *
 * Input: byte 0 selects the API and version (modulo 5: 0-1 SaslHandshake v0-1, 2-4
 * SaslAuthenticate v0-2), byte 1 selects the request (even) or the response (odd); the
 * rest is one message body. When it decodes, the message is encoded again, that encoding
 * must decode, and encoding the result once more must give the same bytes (the first pass
 * drops tagged fields and makes varints canonical, so only the second is byte-stable).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_sasl.h"

#define ARENA_CEILING (1u << 20)
#define WRITER_CEILING (4u << 20)

union msg {
    struct ktx__sasl_handshake_req hs_req;
    struct ktx__sasl_handshake_resp hs_resp;
    struct ktx__sasl_authenticate_req au_req;
    struct ktx__sasl_authenticate_resp au_resp;
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
    unsigned sel;

    if (size < 2)
        return 0;
    sel = data[0] % 5u;
    if (sel < 2)
        check_one(&ktx__proto_codec_sasl_handshake, (data[1] & 1) == 0, (int16_t)sel, data + 2,
                  size - 2);
    else
        check_one(&ktx__proto_codec_sasl_authenticate, (data[1] & 1) == 0, (int16_t)(sel - 2),
                  data + 2, size - 2);
    return 0;
}
