/*
 * Codecs for ApiVersions (v0-4), Metadata (v1-12) and FindCoordinator (v1-6), plus version
 * negotiation from an ApiVersions response. Pure: bytes in, structs out.
 *
 * Every codec follows the convention in the top comment of proto.h. In short: encoders
 * append a message body to |w| and return 0, KTX_ERR_UNSUPPORTED for a version outside the
 * range or the writer's error (KTX_ERR_BAD_MSG for a value the version cannot carry, such
 * as a null where the schema forbids one). Decoders zero |*out|, give fields absent from
 * the version their schema defaults, and return 0, KTX_ERR_UNSUPPORTED or KTX_ERR_BAD_MSG.
 * Decoded strings and bytes point into the input buffer; decoded arrays live in the arena.
 *
 * Arrays are a pointer plus an int32_t count. For a nullable array a count of -1 means
 * null (the pointer is then NULL); for the other arrays the count is never negative.
 * Nullable strings use a length of -1 for null (see wire.h).
 */
#ifndef KTX_PROTO_META_H
#define KTX_PROTO_META_H

#include "proto.h"

/* ------------------------------------------------------------------------------------ */
/* ApiVersions (key 18), v0-4, flexible from v3. The response always travels behind a v0
 * response header (proto.c handles that); its body is still flexible from v3.
 *
 * A broker that does not support the requested version answers with a v0 body carrying
 * UNSUPPORTED_VERSION (35) and its own ApiVersions range; some brokers (librdkafka's mock)
 * send a body that parses as nothing else. Decoding such a body at v3 fails with
 * KTX_ERR_BAD_MSG, so a client that gets KTX_ERR_BAD_MSG or error_code 35 at v3+ decodes
 * the same bytes again at v0 and retries with the version the broker lists. */

struct ktx__api_versions_req {
    struct ktx__str client_software_name;    /* v3+ */
    struct ktx__str client_software_version; /* v3+ */
};

struct ktx__api_version {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
};

struct ktx__supported_feature {
    struct ktx__str name;
    int16_t min_version;
    int16_t max_version;
};

struct ktx__finalized_feature {
    struct ktx__str name;
    int16_t max_version_level;
    int16_t min_version_level;
};

struct ktx__api_versions_resp {
    int16_t error_code;
    struct ktx__api_version *api_keys;
    int32_t api_keys_count;
    int32_t throttle_time_ms; /* v1+ */
    /* Tagged fields of v3+ (tags 0-3); a tag is written only when it differs from its
     * default, as Kafka does. */
    struct ktx__supported_feature *supported_features; /* tag 0 */
    int32_t supported_features_count;
    int64_t finalized_features_epoch; /* tag 1, default -1 */
    struct ktx__finalized_feature *finalized_features; /* tag 2 */
    int32_t finalized_features_count;
    bool zk_migration_ready; /* tag 3, default false */
};

int ktx__proto_api_versions_req_encode(struct ktx__writer *w, int16_t ver,
                                       const struct ktx__api_versions_req *req);
int ktx__proto_api_versions_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__api_versions_req *out,
                                       struct ktx__arena *arena);
int ktx__proto_api_versions_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__api_versions_resp *resp);
int ktx__proto_api_versions_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__api_versions_resp *out,
                                        struct ktx__arena *arena);

/*
 * Negotiates versions from the broker's ApiVersions answer |resp|. |out_versions| is
 * indexed by API key and has |n| slots: every slot is set to -1, then for every API that
 * kafkatx speaks (ktx__proto_apis()) and the broker lists, the slot of its key gets the
 * highest version both support (ktx__proto_pick_version()), or stays -1 when the ranges do
 * not meet. When the broker lists a key twice, the first entry counts.
 *
 * |resp| and |out_versions| are borrowed. Returns 0, or KTX_ERR_INVALID_ARG when |n| is too
 * small to hold the key of some API kafkatx speaks (the other slots are still filled).
 */
int ktx__proto_api_versions_pick(const struct ktx__api_versions_resp *resp,
                                 int16_t out_versions[], size_t n);

/*
 * Returns the finalized max version level of feature |name| (e.g. "transaction.version")
 * in |resp|, or 0 when the broker did not list it (level 0 means "feature disabled").
 * |resp| and |name| are borrowed.
 */
int16_t ktx__proto_api_versions_finalized_level(const struct ktx__api_versions_resp *resp,
                                                const char *name);

/* ------------------------------------------------------------------------------------ */
/* Metadata (key 3), v1-12, flexible from v9. */

struct ktx__metadata_req_topic {
    struct ktx__uuid topic_id; /* v10+ */
    struct ktx__str name;      /* nullable from v10 */
};

struct ktx__metadata_req {
    struct ktx__metadata_req_topic *topics; /* nullable: count -1 asks for all topics */
    int32_t topics_count;
    bool allow_auto_topic_creation;             /* v4+, default true */
    bool include_cluster_authorized_operations; /* v8-10 */
    bool include_topic_authorized_operations;   /* v8+ */
};

struct ktx__metadata_broker {
    int32_t node_id;
    struct ktx__str host;
    int32_t port;
    struct ktx__str rack; /* v1+, nullable, default null */
};

struct ktx__metadata_partition {
    int16_t error_code;
    int32_t partition_index;
    int32_t leader_id;
    int32_t leader_epoch; /* v7+, default -1 */
    int32_t *replica_nodes;
    int32_t replica_nodes_count;
    int32_t *isr_nodes;
    int32_t isr_nodes_count;
    int32_t *offline_replicas; /* v5+ */
    int32_t offline_replicas_count;
};

struct ktx__metadata_topic {
    int16_t error_code;
    struct ktx__str name;      /* nullable from v12 */
    struct ktx__uuid topic_id; /* v10+ */
    bool is_internal;          /* v1+ */
    struct ktx__metadata_partition *partitions;
    int32_t partitions_count;
    int32_t topic_authorized_operations; /* v8+, default INT32_MIN */
};

struct ktx__metadata_resp {
    int32_t throttle_time_ms; /* v3+ */
    struct ktx__metadata_broker *brokers;
    int32_t brokers_count;
    struct ktx__str cluster_id; /* v2+, nullable, default null */
    int32_t controller_id;      /* v1+, default -1 */
    struct ktx__metadata_topic *topics;
    int32_t topics_count;
    int32_t cluster_authorized_operations; /* v8-10, default INT32_MIN */
};

int ktx__proto_metadata_req_encode(struct ktx__writer *w, int16_t ver,
                                   const struct ktx__metadata_req *req);
int ktx__proto_metadata_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__metadata_req *out, struct ktx__arena *arena);
int ktx__proto_metadata_resp_encode(struct ktx__writer *w, int16_t ver,
                                    const struct ktx__metadata_resp *resp);
int ktx__proto_metadata_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                    struct ktx__metadata_resp *out, struct ktx__arena *arena);

/* ------------------------------------------------------------------------------------ */
/* FindCoordinator (key 10), v1-6, flexible from v3. v1-3 carry one key (and one
 * coordinator in the response); v4+ carry arrays of keys and coordinators.
 *
 * The structs hold both shapes so that a caller can fill either one:
 *  - request, v1-3: when |coordinator_keys_count| > 0 the single element of
 *    |coordinator_keys| is sent (more than one gives KTX_ERR_UNSUPPORTED), else |key|;
 *    v4+: |coordinator_keys| when the count is > 0, else a one-element array of |key|.
 *  - response, v1-3: when |coordinators_count| > 0 the fields of the single element of
 *    |coordinators| are sent (more than one gives KTX_ERR_UNSUPPORTED), else the top-level
 *    fields; v4+: |coordinators| (the top-level fields are not sent).
 * Decoders fill only the shape of the version they read. */

enum ktx__coordinator_type {
    KTX__COORDINATOR_GROUP = 0,
    KTX__COORDINATOR_TRANSACTION = 1,
};

struct ktx__find_coordinator_req {
    struct ktx__str key; /* v1-3 */
    int8_t key_type;     /* enum ktx__coordinator_type */
    struct ktx__str *coordinator_keys; /* v4+ */
    int32_t coordinator_keys_count;
};

struct ktx__coordinator {
    struct ktx__str key;
    int32_t node_id;
    struct ktx__str host;
    int32_t port;
    int16_t error_code;
    struct ktx__str error_message; /* nullable */
};

struct ktx__find_coordinator_resp {
    int32_t throttle_time_ms;
    int16_t error_code;            /* v1-3 */
    struct ktx__str error_message; /* v1-3, nullable */
    int32_t node_id;               /* v1-3 */
    struct ktx__str host;          /* v1-3 */
    int32_t port;                  /* v1-3 */
    struct ktx__coordinator *coordinators; /* v4+ */
    int32_t coordinators_count;
};

int ktx__proto_find_coordinator_req_encode(struct ktx__writer *w, int16_t ver,
                                           const struct ktx__find_coordinator_req *req);
int ktx__proto_find_coordinator_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                           struct ktx__find_coordinator_req *out,
                                           struct ktx__arena *arena);
int ktx__proto_find_coordinator_resp_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__find_coordinator_resp *resp);
int ktx__proto_find_coordinator_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__find_coordinator_resp *out,
                                            struct ktx__arena *arena);

extern const struct ktx__proto_codec ktx__proto_codec_api_versions;
extern const struct ktx__proto_codec ktx__proto_codec_metadata;
extern const struct ktx__proto_codec ktx__proto_codec_find_coordinator;

#endif /* KTX_PROTO_META_H */
