/*
 * Codecs for the transactional APIs: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
 * EndTxn, TxnOffsetCommit, DescribeTransactions and DescribeProducers.
 *
 * Every API follows the convention at the top of sdk/proto.h: a request and a response
 * struct, four functions ktx__proto_<api>_{req,resp}_{encode,decode}, and a type-erased
 * ktx__proto_codec_<api>. Pure: bytes in, structs out.
 *
 * Shared rules for every function declared here:
 * - Encoders append one message body to |w| (borrowed) and read the struct, which stays
 *   owned by the caller. Fields that |ver| does not carry are silently left out, so one
 *   fully populated struct can be encoded at any version. They return 0,
 *   KTX_ERR_UNSUPPORTED when |ver| is outside the range below, KTX_ERR_BAD_MSG when a
 *   value cannot be encoded (a null non-nullable string, a negative array count, or a
 *   non-zero count with a NULL array), or the writer's own error (KTX_ERR_NO_MEMORY,
 *   KTX_ERR_BAD_MSG past its ceiling).
 * - Decoders read exactly |len| bytes at |p| and fill |*out| (zeroed first). Fields that
 *   |ver| does not carry get Kafka's schema defaults (noted per field below). Strings
 *   point into |p|, which must outlive |*out|; arrays are allocated from |arena| and live
 *   until ktx__arena_free(). Unknown tagged fields are skipped. They return 0,
 *   KTX_ERR_UNSUPPORTED for a version outside the range, or KTX_ERR_BAD_MSG for short,
 *   malformed or over-long input (including a null non-nullable string or array) and when
 *   the arena's ceiling is reached.
 * - Array fields are a pointer plus an int32_t count named after the field.
 *
 * Versions (first flexible version in brackets): InitProducerId 0-5 [2],
 * AddPartitionsToTxn 0-3 [3], AddOffsetsToTxn 0-4 [3], EndTxn 0-5 [3],
 * TxnOffsetCommit 0-5 [3] (v5 has the same format as v4), DescribeTransactions 0 [0],
 * DescribeProducers 0 [0].
 */
#ifndef KTX_PROTO_TXN_H
#define KTX_PROTO_TXN_H

#include "proto.h"

/* ---- InitProducerId (api key 22) ---- */

struct ktx__init_producer_id_req {
    struct ktx__str transactional_id; /* nullable: null for an idempotent-only producer */
    int32_t transaction_timeout_ms;
    int64_t producer_id;    /* v3+, default -1; the current id when bumping the epoch (KIP-360) */
    int16_t producer_epoch; /* v3+, default -1 */
};

struct ktx__init_producer_id_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    int64_t producer_id;
    int16_t producer_epoch;
};

/*
 * InitProducerId codecs. A client sends v3+ with its current producer_id/producer_epoch to
 * bump the epoch after an abortable error (KIP-360); below v3 those two fields are not
 * sent and decode as -1. Errors as listed at the top of this file.
 */
int ktx__proto_init_producer_id_req_encode(struct ktx__writer *w, int16_t ver,
                                           const struct ktx__init_producer_id_req *req);
int ktx__proto_init_producer_id_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                           struct ktx__init_producer_id_req *out,
                                           struct ktx__arena *arena);
int ktx__proto_init_producer_id_resp_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__init_producer_id_resp *resp);
int ktx__proto_init_producer_id_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__init_producer_id_resp *out,
                                            struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_init_producer_id;

/* ---- AddPartitionsToTxn (api key 24), client versions 0-3 ---- */

/*
 * Kafka's common struct AddPartitionsToTxnTopic. Versions 4+ (broker to broker, not
 * spoken here) would carry the same topics inside a "transactions" array.
 */
struct ktx__add_partitions_to_txn_topic {
    struct ktx__str name;
    int32_t *partitions; /* partition indexes */
    int32_t partition_count;
};

/*
 * The fields are Kafka's V3AndBelowTransactionalId, V3AndBelowProducerId,
 * V3AndBelowProducerEpoch and V3AndBelowTopics, named without the version prefix.
 */
struct ktx__add_partitions_to_txn_req {
    struct ktx__str transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    struct ktx__add_partitions_to_txn_topic *topics;
    int32_t topic_count;
};

/* Kafka's common struct AddPartitionsToTxnPartitionResult. */
struct ktx__add_partitions_to_txn_partition_result {
    int32_t partition_index;
    int16_t partition_error_code;
};

/* Kafka's common struct AddPartitionsToTxnTopicResult. */
struct ktx__add_partitions_to_txn_topic_result {
    struct ktx__str name;
    struct ktx__add_partitions_to_txn_partition_result *results_by_partition;
    int32_t results_by_partition_count;
};

/* |results_by_topic| is Kafka's ResultsByTopicV3AndBelow. */
struct ktx__add_partitions_to_txn_resp {
    int32_t throttle_time_ms;
    struct ktx__add_partitions_to_txn_topic_result *results_by_topic;
    int32_t results_by_topic_count;
};

/* AddPartitionsToTxn codecs, versions 0-3 only; 4+ return KTX_ERR_UNSUPPORTED. Errors as
 * listed at the top of this file. */
int ktx__proto_add_partitions_to_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                                const struct ktx__add_partitions_to_txn_req *req);
int ktx__proto_add_partitions_to_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                                struct ktx__add_partitions_to_txn_req *out,
                                                struct ktx__arena *arena);
int ktx__proto_add_partitions_to_txn_resp_encode(
    struct ktx__writer *w, int16_t ver, const struct ktx__add_partitions_to_txn_resp *resp);
int ktx__proto_add_partitions_to_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                                 struct ktx__add_partitions_to_txn_resp *out,
                                                 struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_add_partitions_to_txn;

/* ---- AddOffsetsToTxn (api key 25) ---- */

struct ktx__add_offsets_to_txn_req {
    struct ktx__str transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    struct ktx__str group_id;
};

struct ktx__add_offsets_to_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
};

/* AddOffsetsToTxn codecs. Errors as listed at the top of this file. */
int ktx__proto_add_offsets_to_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__add_offsets_to_txn_req *req);
int ktx__proto_add_offsets_to_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__add_offsets_to_txn_req *out,
                                             struct ktx__arena *arena);
int ktx__proto_add_offsets_to_txn_resp_encode(struct ktx__writer *w, int16_t ver,
                                              const struct ktx__add_offsets_to_txn_resp *resp);
int ktx__proto_add_offsets_to_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                              struct ktx__add_offsets_to_txn_resp *out,
                                              struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_add_offsets_to_txn;

/* ---- EndTxn (api key 26) ---- */

struct ktx__end_txn_req {
    struct ktx__str transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool committed; /* true to commit, false to abort */
};

struct ktx__end_txn_resp {
    int32_t throttle_time_ms;
    int16_t error_code;
    int64_t producer_id;    /* v5+, default -1: the id to use for the next transaction */
    int16_t producer_epoch; /* v5+, default -1: the bumped epoch (KIP-890 transactions v2) */
};

/*
 * EndTxn codecs. Only v5+ responses carry producer_id/producer_epoch (the epoch that the
 * next transaction must use); below v5 they decode as -1. Errors as listed at the top.
 */
int ktx__proto_end_txn_req_encode(struct ktx__writer *w, int16_t ver,
                                  const struct ktx__end_txn_req *req);
int ktx__proto_end_txn_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                  struct ktx__end_txn_req *out, struct ktx__arena *arena);
int ktx__proto_end_txn_resp_encode(struct ktx__writer *w, int16_t ver,
                                   const struct ktx__end_txn_resp *resp);
int ktx__proto_end_txn_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                   struct ktx__end_txn_resp *out, struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_end_txn;

/* ---- TxnOffsetCommit (api key 28) ---- */

struct ktx__txn_offset_commit_req_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch;       /* v2+, default -1 */
    struct ktx__str committed_metadata;   /* nullable */
};

struct ktx__txn_offset_commit_req_topic {
    struct ktx__str name;
    struct ktx__txn_offset_commit_req_partition *partitions;
    int32_t partition_count;
};

struct ktx__txn_offset_commit_req {
    struct ktx__str transactional_id;
    struct ktx__str group_id;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t generation_id;             /* v3+, default -1 (KIP-447 group metadata) */
    struct ktx__str member_id;         /* v3+, default "" */
    struct ktx__str group_instance_id; /* v3+, nullable, default null */
    struct ktx__txn_offset_commit_req_topic *topics;
    int32_t topic_count;
};

struct ktx__txn_offset_commit_resp_partition {
    int32_t partition_index;
    int16_t error_code;
};

struct ktx__txn_offset_commit_resp_topic {
    struct ktx__str name;
    struct ktx__txn_offset_commit_resp_partition *partitions;
    int32_t partition_count;
};

struct ktx__txn_offset_commit_resp {
    int32_t throttle_time_ms;
    struct ktx__txn_offset_commit_resp_topic *topics;
    int32_t topic_count;
};

/*
 * TxnOffsetCommit codecs. v5 is encoded exactly like v4. Below v3 the group metadata is
 * not sent and decodes as generation_id -1, member_id "" and group_instance_id null;
 * below v2 committed_leader_epoch decodes as -1. Errors as listed at the top.
 */
int ktx__proto_txn_offset_commit_req_encode(struct ktx__writer *w, int16_t ver,
                                            const struct ktx__txn_offset_commit_req *req);
int ktx__proto_txn_offset_commit_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                            struct ktx__txn_offset_commit_req *out,
                                            struct ktx__arena *arena);
int ktx__proto_txn_offset_commit_resp_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__txn_offset_commit_resp *resp);
int ktx__proto_txn_offset_commit_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__txn_offset_commit_resp *out,
                                             struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_txn_offset_commit;

/* ---- DescribeTransactions (api key 65) ---- */

struct ktx__describe_transactions_req {
    struct ktx__str *transactional_ids;
    int32_t transactional_id_count;
};

struct ktx__describe_transactions_topic {
    struct ktx__str topic;
    int32_t *partitions;
    int32_t partition_count;
};

struct ktx__describe_transactions_state {
    int16_t error_code;
    struct ktx__str transactional_id;
    struct ktx__str transaction_state; /* e.g. "Ongoing", "PrepareCommit", "CompleteAbort" */
    int32_t transaction_timeout_ms;
    int64_t transaction_start_time_ms;
    int64_t producer_id;
    int16_t producer_epoch;
    struct ktx__describe_transactions_topic *topics;
    int32_t topic_count;
};

struct ktx__describe_transactions_resp {
    int32_t throttle_time_ms;
    struct ktx__describe_transactions_state *transaction_states;
    int32_t transaction_state_count;
};

/* DescribeTransactions codecs (v0, flexible). Errors as listed at the top of this file. */
int ktx__proto_describe_transactions_req_encode(struct ktx__writer *w, int16_t ver,
                                                const struct ktx__describe_transactions_req *req);
int ktx__proto_describe_transactions_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                                struct ktx__describe_transactions_req *out,
                                                struct ktx__arena *arena);
int ktx__proto_describe_transactions_resp_encode(
    struct ktx__writer *w, int16_t ver, const struct ktx__describe_transactions_resp *resp);
int ktx__proto_describe_transactions_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                                 struct ktx__describe_transactions_resp *out,
                                                 struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_describe_transactions;

/* ---- DescribeProducers (api key 61) ---- */

struct ktx__describe_producers_req_topic {
    struct ktx__str name;
    int32_t *partition_indexes;
    int32_t partition_index_count;
};

struct ktx__describe_producers_req {
    struct ktx__describe_producers_req_topic *topics;
    int32_t topic_count;
};

struct ktx__describe_producers_producer_state {
    int64_t producer_id;
    int32_t producer_epoch; /* int32 on the wire in this API */
    int32_t last_sequence;
    int64_t last_timestamp;
    int32_t coordinator_epoch;
    int64_t current_txn_start_offset;
};

struct ktx__describe_producers_partition {
    int32_t partition_index;
    int16_t error_code;
    struct ktx__str error_message; /* nullable */
    struct ktx__describe_producers_producer_state *active_producers;
    int32_t active_producer_count;
};

struct ktx__describe_producers_resp_topic {
    struct ktx__str name;
    struct ktx__describe_producers_partition *partitions;
    int32_t partition_count;
};

struct ktx__describe_producers_resp {
    int32_t throttle_time_ms;
    struct ktx__describe_producers_resp_topic *topics;
    int32_t topic_count;
};

/* DescribeProducers codecs (v0, flexible). Errors as listed at the top of this file. */
int ktx__proto_describe_producers_req_encode(struct ktx__writer *w, int16_t ver,
                                             const struct ktx__describe_producers_req *req);
int ktx__proto_describe_producers_req_decode(const uint8_t *p, size_t len, int16_t ver,
                                             struct ktx__describe_producers_req *out,
                                             struct ktx__arena *arena);
int ktx__proto_describe_producers_resp_encode(struct ktx__writer *w, int16_t ver,
                                              const struct ktx__describe_producers_resp *resp);
int ktx__proto_describe_producers_resp_decode(const uint8_t *p, size_t len, int16_t ver,
                                              struct ktx__describe_producers_resp *out,
                                              struct ktx__arena *arena);
extern const struct ktx__proto_codec ktx__proto_codec_describe_producers;

#endif /* KTX_PROTO_TXN_H */
