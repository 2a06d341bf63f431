/*
 * Kafka protocol: API keys, the versions kafkatx speaks, request/response headers, version
 * negotiation and the registry of message codecs. Pure: bytes in, structs out.
 *
 * Every message codec (sdk/proto_<group>.c) follows one convention, for an API "foo":
 *
 *   struct ktx__foo_req  { ... };   struct ktx__foo_resp { ... };
 *   int ktx__proto_foo_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__foo_req *req);
 *   int ktx__proto_foo_req_decode(const uint8_t *p, size_t len, int16_t ver,
 *                                 struct ktx__foo_req *out, struct ktx__arena *arena);
 *   int ktx__proto_foo_resp_encode(struct ktx__writer *w, int16_t ver, const struct ktx__foo_resp *resp);
 *   int ktx__proto_foo_resp_decode(const uint8_t *p, size_t len, int16_t ver,
 *                                  struct ktx__foo_resp *out, struct ktx__arena *arena);
 *
 * Encoders append the message body (no size prefix, no header) to |w| and return 0,
 * KTX_ERR_UNSUPPORTED for a version outside the codec's range, or the writer's error.
 * Decoders read exactly one body of |len| bytes (trailing bytes are an error), fill |*out|
 * (zeroed first; fields absent from |ver| get Kafka's schema defaults), and return 0,
 * KTX_ERR_UNSUPPORTED or KTX_ERR_BAD_MSG. Decoded strings point into |p|; arrays live in
 * |arena|. Field names follow Kafka's schemas in snake_case.
 */
#ifndef KTX_PROTO_H
#define KTX_PROTO_H

#include "wire.h"

enum ktx__api_key {
    KTX__API_PRODUCE = 0,
    KTX__API_FETCH = 1,
    KTX__API_LIST_OFFSETS = 2,
    KTX__API_METADATA = 3,
    KTX__API_OFFSET_COMMIT = 8,
    KTX__API_OFFSET_FETCH = 9,
    KTX__API_FIND_COORDINATOR = 10,
    KTX__API_SASL_HANDSHAKE = 17,
    KTX__API_API_VERSIONS = 18,
    KTX__API_INIT_PRODUCER_ID = 22,
    KTX__API_ADD_PARTITIONS_TO_TXN = 24,
    KTX__API_ADD_OFFSETS_TO_TXN = 25,
    KTX__API_END_TXN = 26,
    KTX__API_TXN_OFFSET_COMMIT = 28,
    KTX__API_SASL_AUTHENTICATE = 36,
    KTX__API_DESCRIBE_PRODUCERS = 61,
    KTX__API_DESCRIBE_TRANSACTIONS = 65,
};

/* One API as kafkatx speaks it. */
struct ktx__api_info {
    int16_t api_key;
    const char *name;   /* Kafka's name, e.g. "InitProducerId" */
    int16_t min_ver;    /* lowest version kafkatx encodes and decodes */
    int16_t max_ver;    /* highest */
    int16_t flex_ver;   /* first flexible version, or -1 when none is */
};

/* Returns the API, or NULL when kafkatx does not speak |api_key|. */
const struct ktx__api_info *ktx__proto_api(int16_t api_key);
/* Returns the table of every API kafkatx speaks and stores its length in |*count|. */
const struct ktx__api_info *ktx__proto_apis(size_t *count);
/* True when |ver| of |api_key| uses flexible encoding (compact strings, tagged fields). */
bool ktx__proto_is_flexible(int16_t api_key, int16_t ver);

/*
 * Highest version both sides support for |api_key|, given the broker's advertised range
 * [|broker_min|, |broker_max|]. Returns the version, or -1 when the ranges do not meet
 * or kafkatx does not speak the API.
 */
int16_t ktx__proto_pick_version(int16_t api_key, int16_t broker_min, int16_t broker_max);

/* Request header. v1 for non-flexible versions, v2 (with tagged fields) for flexible. */
struct ktx__req_header {
    int16_t request_api_key;
    int16_t request_api_version;
    int32_t correlation_id;
    struct ktx__str client_id; /* nullable */
};
int ktx__proto_req_header_encode(struct ktx__writer *w, const struct ktx__req_header *hdr);
/* Reads a request header from |r|; the header version follows from the key and version
 * read (unknown APIs are read as v1 so that the broker can answer UNSUPPORTED_VERSION).
 * Returns 0 or KTX_ERR_BAD_MSG. */
int ktx__proto_req_header_decode(struct ktx__reader *r, struct ktx__req_header *hdr);

/* Response header: v0 (correlation id) or v1 (plus tagged fields) for flexible versions;
 * ApiVersions responses always use v0. */
int ktx__proto_resp_header_encode(struct ktx__writer *w, int16_t api_key, int16_t ver,
                                  int32_t correlation_id);
int ktx__proto_resp_header_decode(struct ktx__reader *r, int16_t api_key, int16_t ver,
                                  int32_t *correlation_id);

/*
 * Type-erased view of one API's codecs, for the fuzz targets and generic tests. Each
 * proto_<group>.c defines one `const struct ktx__proto_codec ktx__proto_codec_<api>` with
 * KTX__PROTO_CODEC_DEFINE below.
 */
struct ktx__proto_codec {
    int16_t api_key;
    size_t req_size;  /* sizeof(struct ktx__foo_req) */
    size_t resp_size; /* sizeof(struct ktx__foo_resp) */
    int (*req_encode)(struct ktx__writer *w, int16_t ver, const void *req);
    int (*req_decode)(const uint8_t *p, size_t len, int16_t ver, void *out, struct ktx__arena *arena);
    int (*resp_encode)(struct ktx__writer *w, int16_t ver, const void *resp);
    int (*resp_decode)(const uint8_t *p, size_t len, int16_t ver, void *out, struct ktx__arena *arena);
};

#define KTX__PROTO_CODEC_DEFINE(foo, key)                                                      \
    static int foo##_req_encode_erased(struct ktx__writer *w, int16_t v, const void *m)       \
    {                                                                                          \
        return ktx__proto_##foo##_req_encode(w, v, m);                                         \
    }                                                                                          \
    static int foo##_req_decode_erased(const uint8_t *p, size_t n, int16_t v, void *o,         \
                                       struct ktx__arena *a)                                   \
    {                                                                                          \
        return ktx__proto_##foo##_req_decode(p, n, v, o, a);                                   \
    }                                                                                          \
    static int foo##_resp_encode_erased(struct ktx__writer *w, int16_t v, const void *m)      \
    {                                                                                          \
        return ktx__proto_##foo##_resp_encode(w, v, m);                                        \
    }                                                                                          \
    static int foo##_resp_decode_erased(const uint8_t *p, size_t n, int16_t v, void *o,        \
                                        struct ktx__arena *a)                                  \
    {                                                                                          \
        return ktx__proto_##foo##_resp_decode(p, n, v, o, a);                                  \
    }                                                                                          \
    const struct ktx__proto_codec ktx__proto_codec_##foo = {                                   \
        (key),                    sizeof(struct ktx__##foo##_req),                             \
        sizeof(struct ktx__##foo##_resp), foo##_req_encode_erased,                             \
        foo##_req_decode_erased,  foo##_resp_encode_erased,                                    \
        foo##_resp_decode_erased,                                                              \
    }

/* The registry: every codec, looked up by API key (NULL when absent). Lives in proto.c. */
const struct ktx__proto_codec *ktx__proto_codec(int16_t api_key);

#endif /* KTX_PROTO_H */
