/*
 * Strictness checks shared by the codec suites (check_proto_*.c): a decoder must accept the
 * exact encoding of a message and nothing shorter or longer, and a hostile element count
 * must fail before it allocates.
 */
#ifndef KTX_CODEC_CHECK_H
#define KTX_CODEC_CHECK_H

#include "proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Encodes |msg| (a request when |req|, else a response) with |codec| at |ver| and asserts
 * that the encoding decodes, that each strict prefix of it fails with KTX_ERR_BAD_MSG, and
 * that the encoding followed by one extra byte fails with KTX_ERR_BAD_MSG. Each input is
 * a heap block of exactly its length, so ASan and valgrind report any read past its end.
 * |what| names the case in failure messages.
 */
void ktx_test_codec_strict(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                           const void *msg, const char *what);

/*
 * Asserts that version |ver| is outside |codec|'s range: encoding |msg| (a request when
 * |req|) fails with KTX_ERR_UNSUPPORTED and writes nothing, and decoding 64 zero bytes
 * fails with KTX_ERR_UNSUPPORTED (not KTX_ERR_BAD_MSG: the version is refused first).
 */
void ktx_test_codec_unsupported(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                                const void *msg);

/*
 * Asserts that decoding the hex string |hex| with |codec| at |ver| fails with
 * KTX_ERR_BAD_MSG and that the decoder's arena stayed under 64 KiB on the way (a count
 * field claiming billions of elements must not be trusted before the bytes are there).
 */
void ktx_test_codec_hostile(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                            const char *hex);

/* A codec with a function that fills a populated request or response at a version. */
struct ktx_test_codec_case {
    const char *name;
    const struct ktx__proto_codec *codec;
    int16_t min_ver;
    int16_t max_ver;
    void (*fill_req)(int16_t ver, void *msg);
    void (*fill_resp)(int16_t ver, void *msg);
};

/* ktx_test_codec_strict() for both directions of every case at every version of its range. */
void ktx_test_codec_cases_strict(const struct ktx_test_codec_case *cases, size_t n);

/* ktx_test_codec_unsupported() for both directions of every case, one version below and one
 * above its range. */
void ktx_test_codec_cases_unsupported(const struct ktx_test_codec_case *cases, size_t n);

#endif
