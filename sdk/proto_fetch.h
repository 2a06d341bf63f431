/*
 * Fetch (API key 1, versions 4 to 12) and ListOffsets (API key 2, versions 1 to 8)
 * codecs, following the convention at the top of proto.h. Fetch is flexible from
 * version 12, ListOffsets from version 6.
 *
 * The producer needs these to verify what a read_committed consumer sees (last stable
 * offset, aborted transactions) and to look up offsets; the reference broker uses the
 * same codecs from the other side. Records are opaque nullable byte views into the input.
 * As in proto_produce.h, encoders drop fields that a version lacks and write tagged
 * fields only when they differ from their defaults.
 */
#ifndef KTX_PROTO_FETCH_H
#define KTX_PROTO_FETCH_H

#include "proto.h"
#include "proto_produce.h" /* struct ktx__leader_id_and_epoch */

#define KTX__FETCH_MIN_VER 4
#define KTX__FETCH_MAX_VER 12
#define KTX__FETCH_FLEX_VER 12

#define KTX__LIST_OFFSETS_MIN_VER 1
#define KTX__LIST_OFFSETS_MAX_VER 8
#define KTX__LIST_OFFSETS_FLEX_VER 6

/* isolation_level values of Fetch and ListOffsets. */
#define KTX__READ_UNCOMMITTED 0
#define KTX__READ_COMMITTED 1

/* Special ListOffsets timestamps. */
#define KTX__LIST_OFFSETS_LATEST (-1)
#define KTX__LIST_OFFSETS_EARLIEST (-2)

/* ---- Fetch request ---- */

struct ktx__fetch_partition {
    int32_t partition;
    int32_t current_leader_epoch; /* v9+, default -1 */
    int64_t fetch_offset;
    int32_t last_fetched_epoch; /* v12+, default -1 */
    int64_t log_start_offset;   /* v5+, default -1 (followers only) */
    int32_t partition_max_bytes;
};

struct ktx__fetch_topic {
    struct ktx__str topic;
    struct ktx__fetch_partition *partitions;
    int32_t partitions_count;
};

struct ktx__fetch_forgotten_topic {
    struct ktx__str topic;
    int32_t *partitions;
    int32_t partitions_count;
};

struct ktx__fetch_req {
    struct ktx__str cluster_id; /* v12+ tagged field 0, nullable, default null */
    int32_t replica_id;         /* -1 for a consumer */
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;      /* default 0x7fffffff */
    int8_t isolation_level; /* KTX__READ_UNCOMMITTED or KTX__READ_COMMITTED */
    int32_t session_id;     /* v7+, default 0 */
    int32_t session_epoch;  /* v7+, default -1 */
    struct ktx__fetch_topic *topics;
    int32_t topics_count;
    struct ktx__fetch_forgotten_topic *forgotten_topics_data; /* v7+ */
    int32_t forgotten_topics_data_count;
    struct ktx__str rack_id; /* v11+, default "" */
};

/* ---- Fetch response ---- */

struct ktx__fetch_aborted_transaction {
    int64_t producer_id;
    int64_t first_offset;
};

/* Kafka's EpochEndOffset (diverging_epoch); -1/-1 when absent. */
struct ktx__fetch_epoch_end_offset {
    int32_t epoch;
    int64_t end_offset;
};

/* Kafka's SnapshotId; -1/-1 when absent. */
struct ktx__fetch_snapshot_id {
    int64_t end_offset;
    int32_t epoch;
};

struct ktx__fetch_partition_resp {
    int32_t partition_index;
    int16_t error_code;
    int64_t high_watermark;
    int64_t last_stable_offset; /* default -1 */
    int64_t log_start_offset;   /* v5+, default -1 */
    /* v12+ tagged fields 0, 1 and 2; each is encoded only when it differs from -1/-1. */
    struct ktx__fetch_epoch_end_offset diverging_epoch;
    struct ktx__leader_id_and_epoch current_leader;
    struct ktx__fetch_snapshot_id snapshot_id;
    /* Nullable: a count of -1 (with NULL) is a null array, the default. */
    struct ktx__fetch_aborted_transaction *aborted_transactions;
    int32_t aborted_transactions_count;
    int32_t preferred_read_replica; /* v11+, default -1 */
    struct ktx__bytes records;      /* nullable */
};

struct ktx__fetch_topic_resp {
    struct ktx__str topic;
    struct ktx__fetch_partition_resp *partitions;
    int32_t partitions_count;
};

struct ktx__fetch_resp {
    int32_t throttle_time_ms;
    int16_t error_code; /* v7+ */
    int32_t session_id; /* v7+, default 0 */
    struct ktx__fetch_topic_resp *responses;
    int32_t responses_count;
};

/* ---- ListOffsets ---- */

struct ktx__list_offsets_partition {
    int32_t partition_index;
    int32_t current_leader_epoch; /* v4+, default -1 */
    int64_t timestamp;            /* or KTX__LIST_OFFSETS_LATEST / _EARLIEST */
};

struct ktx__list_offsets_topic {
    struct ktx__str name;
    struct ktx__list_offsets_partition *partitions;
    int32_t partitions_count;
};

struct ktx__list_offsets_req {
    int32_t replica_id;
    int8_t isolation_level; /* v2+, default 0 */
    struct ktx__list_offsets_topic *topics;
    int32_t topics_count;
};

struct ktx__list_offsets_partition_resp {
    int32_t partition_index;
    int16_t error_code;
    int64_t timestamp;    /* default -1 */
    int64_t offset;       /* default -1 */
    int32_t leader_epoch; /* v4+, default -1 */
};

struct ktx__list_offsets_topic_resp {
    struct ktx__str name;
    struct ktx__list_offsets_partition_resp *partitions;
    int32_t partitions_count;
};

struct ktx__list_offsets_resp {
    int32_t throttle_time_ms; /* v2+, default 0 */
    struct ktx__list_offsets_topic_resp *topics;
    int32_t topics_count;
};

/*
 * The codecs, with the contract of proto.h: encoders append a body to |w| and return 0,
 * KTX_ERR_UNSUPPORTED for a version out of range, or the writer's error (KTX_ERR_BAD_MSG
 * also for a structure that cannot be encoded: a null non-nullable string, a negative
 * count, a missing array). Decoders fill |*out| from exactly |len| bytes at |p|; strings
 * and records point into |p|, arrays live in |arena|; fields absent from |ver| get Kafka's
 * defaults; unknown tagged fields are skipped. They return 0, KTX_ERR_UNSUPPORTED or
 * KTX_ERR_BAD_MSG. Every structure passed in is borrowed.
 */
int ktx__proto_fetch_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__fetch_req *req);
int ktx__proto_fetch_req_decode(const uint8_t *p, size_t len, int16_t ver, struct ktx__fetch_req *out,
                                struct ktx__arena *arena);
int ktx__proto_fetch_resp_encode(struct ktx__writer *w, int16_t ver, const struct ktx__fetch_resp *resp);
int ktx__proto_fetch_resp_decode(const uint8_t *p, size_t len, int16_t ver, struct ktx__fetch_resp *out,
                                 struct ktx__arena *arena);

int ktx__proto_list_offsets_req_encode(struct ktx__writer *w, int16_t ver,
                                       const struct ktx__list_offsets_req *req);
int ktx__proto_list_offsets_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                       struct ktx__list_offsets_req *out, struct ktx__arena *arena);
int ktx__proto_list_offsets_resp_encode(struct ktx__writer *w, int16_t ver,
                                        const struct ktx__list_offsets_resp *resp);
int ktx__proto_list_offsets_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                        struct ktx__list_offsets_resp *out, struct ktx__arena *arena);

extern const struct ktx__proto_codec ktx__proto_codec_fetch;
extern const struct ktx__proto_codec ktx__proto_codec_list_offsets;

#endif /* KTX_PROTO_FETCH_H */
