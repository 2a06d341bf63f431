/* Strictness checks shared by the codec suites; see codec_check.h. */
#include "codec_check.h"

#include "check_util.h"
#include "error.h"
#include "wire.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Decodes |len| bytes copied into a block of exactly that size. Returns the decoder's code. */
static int decode_copy(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                       const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    void *out = malloc(req ? codec->req_size : codec->resp_size);
    struct ktx__arena arena;
    int rc;

    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_nonnull(out);
    if (len > 0)
        memcpy(copy, p, len);
    ktx__arena_init(&arena, 0);
    rc = req ? codec->req_decode(copy, len, ver, out, &arena)
             : codec->resp_decode(copy, len, ver, out, &arena);
    ktx__arena_free(&arena);
    free(out);
    free(copy);
    return rc;
}

void ktx_test_codec_strict(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                           const void *msg, const char *what)
{
    const char *dir = req ? "request" : "response";
    struct ktx__writer w;
    int rc;

    ktx__w_init(&w, 64, 0);
    rc = req ? codec->req_encode(&w, ver, msg) : codec->resp_encode(&w, ver, msg);
    ck_assert_msg(rc == 0, "%s v%d %s: encode returned %d", what, ver, dir, rc);
    rc = decode_copy(codec, req, ver, w.p, w.len);
    ck_assert_msg(rc == 0, "%s v%d %s: its own encoding gave %d", what, ver, dir, rc);
    for (size_t n = 0; n < w.len; n++) {
        rc = decode_copy(codec, req, ver, w.p, n);
        ck_assert_msg(rc == KTX_ERR_BAD_MSG, "%s v%d %s: prefix of %zu/%zu bytes gave %d", what,
                      ver, dir, n, w.len, rc);
    }
    ktx__w_i8(&w, 0);
    rc = decode_copy(codec, req, ver, w.p, w.len);
    ck_assert_msg(rc == KTX_ERR_BAD_MSG, "%s v%d %s: a trailing byte gave %d", what, ver, dir,
                  rc);
    ktx__w_free(&w);
}

void ktx_test_codec_unsupported(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                                const void *msg)
{
    static const uint8_t zeros[64];
    struct ktx__writer w;
    int rc;

    ktx__w_init(&w, 64, 0);
    rc = req ? codec->req_encode(&w, ver, msg) : codec->resp_encode(&w, ver, msg);
    ck_assert_msg(rc == KTX_ERR_UNSUPPORTED, "api %d v%d: encode gave %d", codec->api_key, ver,
                  rc);
    ck_assert_uint_eq(w.len, 0);
    ktx__w_free(&w);
    rc = decode_copy(codec, req, ver, zeros, sizeof(zeros));
    ck_assert_msg(rc == KTX_ERR_UNSUPPORTED, "api %d v%d: decode gave %d", codec->api_key, ver,
                  rc);
}

void ktx_test_codec_hostile(const struct ktx__proto_codec *codec, bool req, int16_t ver,
                            const char *hex)
{
    size_t n = 0;
    uint8_t *p = ktx_test_unhex(hex, &n);
    void *out = malloc(req ? codec->req_size : codec->resp_size);
    struct ktx__arena arena;
    int rc;

    ck_assert_ptr_nonnull(out);
    ktx__arena_init(&arena, 0);
    rc = req ? codec->req_decode(p, n, ver, out, &arena) : codec->resp_decode(p, n, ver, out, &arena);
    ck_assert_msg(rc == KTX_ERR_BAD_MSG, "api %d v%d: hostile input %s gave %d", codec->api_key,
                  ver, hex, rc);
    ck_assert_uint_le(arena.total, 65536);
    ktx__arena_free(&arena);
    free(out);
    free(p);
}

/* Calls |check| with a populated message of |cc| in each direction at |fill_ver|, checked at
 * |ver|. */
static void each_direction(const struct ktx_test_codec_case *cc, int16_t fill_ver, int16_t ver,
                           bool strict)
{
    for (int resp = 0; resp <= 1; resp++) {
        const struct ktx__proto_codec *codec = cc->codec;
        void *msg = calloc(1, resp ? codec->resp_size : codec->req_size);

        ck_assert_ptr_nonnull(msg);
        (resp ? cc->fill_resp : cc->fill_req)(fill_ver, msg);
        if (strict)
            ktx_test_codec_strict(codec, !resp, ver, msg, cc->name);
        else
            ktx_test_codec_unsupported(codec, !resp, ver, msg);
        free(msg);
    }
}

void ktx_test_codec_cases_strict(const struct ktx_test_codec_case *cases, size_t n)
{
    for (size_t c = 0; c < n; c++)
        for (int16_t ver = cases[c].min_ver; ver <= cases[c].max_ver; ver++)
            each_direction(&cases[c], ver, ver, true);
}

void ktx_test_codec_cases_unsupported(const struct ktx_test_codec_case *cases, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        each_direction(&cases[c], cases[c].max_ver, (int16_t)(cases[c].min_ver - 1), false);
        each_direction(&cases[c], cases[c].max_ver, (int16_t)(cases[c].max_ver + 1), false);
    }
}
