/*
 * Codecs for SaslHandshake and SaslAuthenticate. See proto_sasl.h.
 */
#include "proto_sasl.h"

#include <string.h>

#include "proto_meta.h"

#define HS_MIN 0
#define HS_MAX 1
#define AU_MIN 0
#define AU_MAX 2
#define AU_FLEX 2

/* ---- SaslHandshake ---- */

int ktx__proto_sasl_handshake_req_encode(struct ktx__writer *w, int16_t ver,
                                         const struct ktx__sasl_handshake_req *req)
{
    if (ver < HS_MIN || ver > HS_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_string(w, req->mechanism, false);
    return w->err;
}

int ktx__proto_sasl_handshake_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                         struct ktx__sasl_handshake_req *out,
                                         struct ktx__arena *arena)
{
    struct ktx__reader r;

    (void)arena;
    if (ver < HS_MIN || ver > HS_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    out->mechanism = ktx__r_string(&r, false);
    return ktx__r_finish(&r);
}

int ktx__proto_sasl_handshake_resp_encode(struct ktx__writer *w, int16_t ver,
                                          const struct ktx__sasl_handshake_resp *resp)
{
    if (ver < HS_MIN || ver > HS_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i16(w, resp->error_code);
    ktx__w_str_array(w, resp->mechanisms, resp->mechanisms_count, false);
    return w->err;
}

int ktx__proto_sasl_handshake_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                          struct ktx__sasl_handshake_resp *out,
                                          struct ktx__arena *arena)
{
    struct ktx__reader r;

    if (ver < HS_MIN || ver > HS_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    out->error_code = ktx__r_i16(&r);
    out->mechanisms = ktx__r_str_array(&r, arena, false, &out->mechanisms_count);
    return ktx__r_finish(&r);
}

/* ---- SaslAuthenticate ---- */

int ktx__proto_sasl_authenticate_req_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__sasl_authenticate_req *req)
{
    bool flex = ver >= AU_FLEX;

    if (ver < AU_MIN || ver > AU_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_bytes(w, req->auth_bytes, flex);
    if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_sasl_authenticate_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__sasl_authenticate_req *out,
                                            struct ktx__arena *arena)
{
    bool flex = ver >= AU_FLEX;
    struct ktx__reader r;

    (void)arena;
    if (ver < AU_MIN || ver > AU_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    out->auth_bytes = ktx__r_bytes(&r, flex);
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

int ktx__proto_sasl_authenticate_resp_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__sasl_authenticate_resp *resp)
{
    bool flex = ver >= AU_FLEX;

    if (ver < AU_MIN || ver > AU_MAX)
        return KTX_ERR_UNSUPPORTED;
    ktx__w_i16(w, resp->error_code);
    ktx__w_nstring(w, resp->error_message, flex);
    ktx__w_bytes(w, resp->auth_bytes, flex);
    if (ver >= 1)
        ktx__w_i64(w, resp->session_lifetime_ms);
    if (flex)
        ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_sasl_authenticate_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__sasl_authenticate_resp *out,
                                             struct ktx__arena *arena)
{
    bool flex = ver >= AU_FLEX;
    struct ktx__reader r;

    (void)arena;
    if (ver < AU_MIN || ver > AU_MAX)
        return KTX_ERR_UNSUPPORTED;
    memset(out, 0, sizeof(*out));
    ktx__r_init(&r, p, len);
    out->error_code = ktx__r_i16(&r);
    out->error_message = ktx__r_nstring(&r, flex);
    out->auth_bytes = ktx__r_bytes(&r, flex);
    if (ver >= 1)
        out->session_lifetime_ms = ktx__r_i64(&r);
    if (flex)
        ktx__r_tags_skip(&r);
    return ktx__r_finish(&r);
}

KTX__PROTO_CODEC_DEFINE(sasl_handshake, KTX__API_SASL_HANDSHAKE);
KTX__PROTO_CODEC_DEFINE(sasl_authenticate, KTX__API_SASL_AUTHENTICATE);
