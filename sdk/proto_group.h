/*
 * Codecs for OffsetFetch (v1-9, flexible from v6) and OffsetCommit (v2-9, flexible from
 * v8). Pure: bytes in, structs out. Conventions as in proto.h and proto_meta.h: arrays are
 * a pointer plus an int32_t count, -1 meaning a null array where the schema allows one.
 */
#ifndef KTX_PROTO_GROUP_H
#define KTX_PROTO_GROUP_H

#include "proto.h"

/* ------------------------------------------------------------------------------------ */
/* OffsetFetch (key 9). v1-7 ask for one group; v8+ carry an array of groups.
 *
 * The structs hold both shapes so that a caller can fill either one:
 *  - request, v1-7: when |groups_count| > 0 its single element is sent (group_id and
 *    topics; more than one group gives KTX_ERR_UNSUPPORTED), else the top-level |group_id|
 *    and |topics|; v8+: |groups| when the count is > 0, else one group made of the
 *    top-level fields (member_id null, member_epoch -1).
 *  - response, v1-7: when |groups_count| > 0 the topics and error code of its single
 *    element are sent (more than one gives KTX_ERR_UNSUPPORTED), else the top-level fields;
 *    v8+: |groups| (the top-level topics and error code are not sent).
 * Decoders fill only the shape of the version they read. */

struct ktx__offset_fetch_req_topic {
    struct ktx__str name;
    int32_t *partition_indexes;
    int32_t partition_indexes_count;
};

struct ktx__offset_fetch_req_group {
    struct ktx__str group_id;
    struct ktx__str member_id; /* v9+, nullable, default null */
    int32_t member_epoch;      /* v9+, default -1 */
    struct ktx__offset_fetch_req_topic *topics; /* nullable: -1 = all topics */
    int32_t topics_count;
};

struct ktx__offset_fetch_req {
    struct ktx__str group_id;                   /* v1-7 */
    struct ktx__offset_fetch_req_topic *topics; /* v1-7; nullable (all topics) from v2 */
    int32_t topics_count;
    struct ktx__offset_fetch_req_group *groups; /* v8+ */
    int32_t groups_count;
    bool require_stable; /* v7+ */
};

struct ktx__offset_fetch_resp_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch; /* v5+, default -1 */
    struct ktx__str metadata;       /* nullable */
    int16_t error_code;
};

struct ktx__offset_fetch_resp_topic {
    struct ktx__str name;
    struct ktx__offset_fetch_resp_partition *partitions;
    int32_t partitions_count;
};

struct ktx__offset_fetch_resp_group {
    struct ktx__str group_id;
    struct ktx__offset_fetch_resp_topic *topics;
    int32_t topics_count;
    int16_t error_code;
};

struct ktx__offset_fetch_resp {
    int32_t throttle_time_ms;                    /* v3+ */
    struct ktx__offset_fetch_resp_topic *topics; /* v1-7 */
    int32_t topics_count;
    int16_t error_code;                          /* v2-7 */
    struct ktx__offset_fetch_resp_group *groups; /* v8+ */
    int32_t groups_count;
};

int ktx__proto_offset_fetch_req_encode(struct ktx__writer *w, int16_t ver,
                                       const struct ktx__offset_fetch_req *req);
int ktx__proto_offset_fetch_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__offset_fetch_req *out,
                                       struct ktx__arena *arena);
int ktx__proto_offset_fetch_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__offset_fetch_resp *resp);
int ktx__proto_offset_fetch_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__offset_fetch_resp *out,
                                        struct ktx__arena *arena);

/* ------------------------------------------------------------------------------------ */
/* OffsetCommit (key 8). */

struct ktx__offset_commit_req_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch;     /* v6+, default -1 */
    struct ktx__str committed_metadata; /* nullable */
};

struct ktx__offset_commit_req_topic {
    struct ktx__str name;
    struct ktx__offset_commit_req_partition *partitions;
    int32_t partitions_count;
};

struct ktx__offset_commit_req {
    struct ktx__str group_id;
    int32_t generation_id_or_member_epoch; /* default -1 */
    struct ktx__str member_id;
    struct ktx__str group_instance_id; /* v7+, nullable, default null */
    int64_t retention_time_ms;         /* v2-4, default -1 */
    struct ktx__offset_commit_req_topic *topics;
    int32_t topics_count;
};

struct ktx__offset_commit_resp_partition {
    int32_t partition_index;
    int16_t error_code;
};

struct ktx__offset_commit_resp_topic {
    struct ktx__str name;
    struct ktx__offset_commit_resp_partition *partitions;
    int32_t partitions_count;
};

struct ktx__offset_commit_resp {
    int32_t throttle_time_ms; /* v3+ */
    struct ktx__offset_commit_resp_topic *topics;
    int32_t topics_count;
};

int ktx__proto_offset_commit_req_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__offset_commit_req *req);
int ktx__proto_offset_commit_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__offset_commit_req *out,
                                        struct ktx__arena *arena);
int ktx__proto_offset_commit_resp_encode(struct ktx__writer *w, int16_t ver,
                                         const struct ktx__offset_commit_resp *resp);
int ktx__proto_offset_commit_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                         struct ktx__offset_commit_resp *out,
                                         struct ktx__arena *arena);

extern const struct ktx__proto_codec ktx__proto_codec_offset_fetch;
extern const struct ktx__proto_codec ktx__proto_codec_offset_commit;

#endif /* KTX_PROTO_GROUP_H */
