/*
 * Codecs for SaslHandshake (v0-1, never flexible) and SaslAuthenticate (v0-2, flexible
 * from v2). Pure: bytes in, structs out. Conventions as in proto.h and proto_meta.h.
 */
#ifndef KTX_PROTO_SASL_H
#define KTX_PROTO_SASL_H

#include "proto.h"

/* SaslHandshake (key 17). v0 is followed by raw SASL frames; v1 by SaslAuthenticate. */
struct ktx__sasl_handshake_req {
    struct ktx__str mechanism;
};

struct ktx__sasl_handshake_resp {
    int16_t error_code;
    struct ktx__str *mechanisms; /* the mechanisms enabled on the broker */
    int32_t mechanisms_count;
};

int ktx__proto_sasl_handshake_req_encode(struct ktx__writer *w, int16_t ver,
                                         const struct ktx__sasl_handshake_req *req);
int ktx__proto_sasl_handshake_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                         struct ktx__sasl_handshake_req *out,
                                         struct ktx__arena *arena);
int ktx__proto_sasl_handshake_resp_encode(struct ktx__writer *w, int16_t ver,
                                          const struct ktx__sasl_handshake_resp *resp);
int ktx__proto_sasl_handshake_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                          struct ktx__sasl_handshake_resp *out,
                                          struct ktx__arena *arena);

/* SaslAuthenticate (key 36). */
struct ktx__sasl_authenticate_req {
    struct ktx__bytes auth_bytes; /* not nullable */
};

struct ktx__sasl_authenticate_resp {
    int16_t error_code;
    struct ktx__str error_message; /* nullable */
    struct ktx__bytes auth_bytes;  /* not nullable */
    int64_t session_lifetime_ms;   /* v1+, default 0 */
};

int ktx__proto_sasl_authenticate_req_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__sasl_authenticate_req *req);
int ktx__proto_sasl_authenticate_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__sasl_authenticate_req *out,
                                            struct ktx__arena *arena);
int ktx__proto_sasl_authenticate_resp_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__sasl_authenticate_resp *resp);
int ktx__proto_sasl_authenticate_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__sasl_authenticate_resp *out,
                                             struct ktx__arena *arena);

extern const struct ktx__proto_codec ktx__proto_codec_sasl_handshake;
extern const struct ktx__proto_codec ktx__proto_codec_sasl_authenticate;

#endif /* KTX_PROTO_SASL_H */
