/*
 * Produce (API key 0) codec, versions 3 to 12, following the convention at the top of
 * proto.h. Version 12 (KIP-890, transactions v2) has the same format as version 11;
 * versions 9 and later are flexible.
 *
 * Records are opaque here: each partition carries a nullable view of one or more record
 * batches (written by the batch module). Decoding never copies them: the view points into
 * the input buffer.
 *
 * Encoders write only the fields that |ver| has: a field the version lacks is dropped
 * silently (the caller picks the version and knows what it can carry). Tagged fields are
 * written only when they differ from their defaults, as Kafka does.
 *
 * Besides the struct encoder, the request can be encoded incrementally (begin, topic,
 * partition..., topic end, end) and its size computed exactly without encoding, so that
 * the sender can build one request per broker straight from the accumulator without
 * allocating per partition.
 */
#ifndef KTX_PROTO_PRODUCE_H
#define KTX_PROTO_PRODUCE_H

#include "proto.h"

/* Lowest and highest Produce version this codec speaks, and the first flexible one. */
#define KTX__PRODUCE_MIN_VER 3
#define KTX__PRODUCE_MAX_VER 12
#define KTX__PRODUCE_FLEX_VER 9

/* Kafka's LeaderIdAndEpoch: where a partition's leadership moved. -1/-1 when unknown. */
struct ktx__leader_id_and_epoch {
    int32_t leader_id;
    int32_t leader_epoch;
};

/* Kafka's NodeEndpoint (Produce v10+, Fetch v16+): how to reach a new leader. */
struct ktx__node_endpoint {
    int32_t node_id;
    struct ktx__str host;
    int32_t port;
    struct ktx__str rack; /* nullable */
};

/* ---- request ---- */

struct ktx__produce_partition_data {
    int32_t index;
    struct ktx__bytes records; /* nullable: len -1 encodes a null record set */
};

struct ktx__produce_topic_data {
    struct ktx__str name;
    struct ktx__produce_partition_data *partition_data;
    int32_t partition_data_count;
};

struct ktx__produce_req {
    struct ktx__str transactional_id; /* nullable; null for a non-transactional producer */
    int16_t acks;                     /* 0, 1 or -1 (all in-sync replicas) */
    int32_t timeout_ms;
    struct ktx__produce_topic_data *topic_data;
    int32_t topic_data_count;
};

/* ---- response ---- */

struct ktx__produce_record_error {
    int32_t batch_index;
    struct ktx__str batch_index_error_message; /* nullable */
};

struct ktx__produce_partition_resp {
    int32_t index;
    int16_t error_code;
    int64_t base_offset;
    int64_t log_append_time_ms; /* -1 unless the topic uses LogAppendTime */
    int64_t log_start_offset;   /* v5+, default -1 */
    struct ktx__produce_record_error *record_errors; /* v8+ */
    int32_t record_errors_count;
    struct ktx__str error_message; /* v8+, nullable, default null */
    /* v10+ tagged field 0; -1/-1 (the default) when absent, and then not encoded. */
    struct ktx__leader_id_and_epoch current_leader;
};

struct ktx__produce_topic_resp {
    struct ktx__str name;
    struct ktx__produce_partition_resp *partition_responses;
    int32_t partition_responses_count;
};

struct ktx__produce_resp {
    struct ktx__produce_topic_resp *responses;
    int32_t responses_count;
    int32_t throttle_time_ms;
    /* v10+ tagged field 0; encoded only when the count is positive. */
    struct ktx__node_endpoint *node_endpoints;
    int32_t node_endpoints_count;
};

/*
 * Encodes |req| as a Produce request body of version |ver| at the end of |w|. Writes
 * straight into |w| (no other allocation); the records bytes are copied once.
 * |req| is borrowed. Returns 0, KTX_ERR_UNSUPPORTED when |ver| is outside 3..12, or the
 * writer's error (KTX_ERR_NO_MEMORY, or KTX_ERR_BAD_MSG for a null topic name or the
 * writer's ceiling).
 */
int ktx__proto_produce_req_encode(struct ktx__writer *w, int16_t ver, const struct ktx__produce_req *req);

/*
 * Decodes a Produce request body of |len| bytes at |p| (version |ver|) into |*out|.
 * Names and records point into |p|; the arrays live in |arena|. Returns 0,
 * KTX_ERR_UNSUPPORTED or KTX_ERR_BAD_MSG (truncated, trailing bytes, counts too large).
 */
int ktx__proto_produce_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                  struct ktx__produce_req *out, struct ktx__arena *arena);

/* Encodes |resp| as a Produce response body; errors as ktx__proto_produce_req_encode(). */
int ktx__proto_produce_resp_encode(struct ktx__writer *w, int16_t ver,
                                   const struct ktx__produce_resp *resp);

/*
 * Decodes a Produce response body into |*out|; strings point into |p|, arrays live in
 * |arena|. Unknown tagged fields are skipped. Returns 0, KTX_ERR_UNSUPPORTED or
 * KTX_ERR_BAD_MSG.
 */
int ktx__proto_produce_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__produce_resp *out, struct ktx__arena *arena);

/*
 * Incremental request encoding. The calls must come in this order, with the counts
 * announced up front matching the calls that follow:
 *
 *   ktx__proto_produce_req_begin(w, ver, transactional_id, acks, timeout_ms, topic_count);
 *   for each topic:   ktx__proto_produce_req_topic_begin(w, ver, name, partition_count);
 *                     for each partition: ktx__proto_produce_req_partition(w, ver, index, records);
 *                     ktx__proto_produce_req_topic_end(w, ver);
 *   ktx__proto_produce_req_end(w, ver);
 *
 * The result is byte for byte what ktx__proto_produce_req_encode() writes. Every view
 * passed in is borrowed for the duration of the call only. ktx__proto_produce_req_begin()
 * returns KTX_ERR_UNSUPPORTED (and writes nothing) for a version outside 3..12; the other
 * steps must then not be called. Writer errors are sticky in |w->err|;
 * ktx__proto_produce_req_end() returns it (0 on success).
 */
int ktx__proto_produce_req_begin(struct ktx__writer *w, int16_t ver, struct ktx__str transactional_id,
                                 int16_t acks, int32_t timeout_ms, int32_t topic_count);
void ktx__proto_produce_req_topic_begin(struct ktx__writer *w, int16_t ver, struct ktx__str name,
                                        int32_t partition_count);
void ktx__proto_produce_req_partition(struct ktx__writer *w, int16_t ver, int32_t index,
                                      struct ktx__bytes records);
void ktx__proto_produce_req_topic_end(struct ktx__writer *w, int16_t ver);
int ktx__proto_produce_req_end(struct ktx__writer *w, int16_t ver);

/*
 * Exact encoded sizes, computed without encoding, for the sender's size limits. The body
 * size of a request is the base size plus, for each topic, its topic size plus the
 * partition size of each of its partitions. |records_len| is -1 for null records. The
 * version must be in 3..12 (otherwise the result is meaningless).
 */
size_t ktx__proto_produce_req_base_size(int16_t ver, struct ktx__str transactional_id, int32_t topic_count);
size_t ktx__proto_produce_req_topic_size(int16_t ver, struct ktx__str name, int32_t partition_count);
size_t ktx__proto_produce_req_partition_size(int16_t ver, int32_t records_len);
/* Returns the encoded body size of |req| at |ver|, or 0 when |ver| is unsupported. */
size_t ktx__proto_produce_req_size(int16_t ver, const struct ktx__produce_req *req);

extern const struct ktx__proto_codec ktx__proto_codec_produce;

#endif /* KTX_PROTO_PRODUCE_H */
