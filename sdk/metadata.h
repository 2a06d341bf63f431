/*
 * The cluster metadata cache (struct ktx__metadata): brokers, the topics the producer is
 * interested in, their partitions with leader id and leader epoch, and topic errors; when
 * to refresh (on demand, every metadata.max.age.ms, with exponential retry backoff after a
 * failure); the Metadata request for the topics of interest and the application of a
 * decoded response (stale leader epochs are ignored).
 *
 * The sender thread drives the refresh:
 *
 *   timeout = min(timeout, ktx__metadata_maybe_update(md, net, now));
 *   ktx__net_poll(net, timeout, now);             the answer is applied in there
 *
 * and tells the cache about errors (ktx__metadata_note_error()), while application threads
 * read partition counts and leaders for the partitioner.
 *
 * Thread: any for every function; writers are the sender thread in practice.
 * Locks: one mutex inside the cache guards everything; no function calls out while holding
 * it, so callers may hold their own locks.
 */
#ifndef KTX_METADATA_H
#define KTX_METADATA_H

#include "net.h"
#include "proto_meta.h"

struct ktx__metadata;

/* Settings of the cache. */
struct ktx__metadata_conf {
    int64_t max_age_ms;          /* metadata.max.age.ms */
    int64_t retry_backoff_ms;    /* retry.backoff.ms: first wait after a failed refresh */
    int64_t retry_backoff_max_ms; /* retry.backoff.max.ms */
};

/* What ktx__metadata_topic_status() knows of a topic. */
enum ktx__topic_status {
    KTX__TOPIC_KNOWN,   /* partitions are known */
    KTX__TOPIC_PENDING, /* not (yet) in the metadata; keep waiting */
    KTX__TOPIC_FAILED,  /* give up: see the error */
};

/* One partition as cached. */
struct ktx__metadata_partition_info {
    int32_t leader_id;    /* -1 while there is no leader */
    int32_t leader_epoch; /* -1 when the broker does not tell (Metadata < v7) */
    int16_t error_code;
};

/*
 * Creates an empty cache that wants an update at once. |conf| is copied. On success stores
 * the cache in |*out| (freed with ktx__metadata_destroy()) and returns 0; returns
 * KTX_ERR_INVALID_ARG or KTX_ERR_NO_MEMORY.
 */
int ktx__metadata_new(struct ktx__metadata **out, const struct ktx__metadata_conf *conf);

/* Frees |md|. NULL-safe. No other thread may use |md| any more, and no update it sent
 * through ktx__metadata_maybe_update() may still be in flight (destroy the net first). */
void ktx__metadata_destroy(struct ktx__metadata *md);

/*
 * Adds |topic| (copied) to the topics of interest, stamped with |now|, and asks for an
 * update when it is new. Returns 0, KTX_ERR_INVALID_ARG for an empty name or
 * KTX_ERR_NO_MEMORY.
 */
int ktx__metadata_add_topic(struct ktx__metadata *md, const char *topic, int64_t now);

/* Asks for an update as soon as the retry backoff allows. */
void ktx__metadata_request_update(struct ktx__metadata *md);

/* True when an update is due (asked for, or older than metadata.max.age.ms), the retry
 * backoff has passed and no update is in flight. */
bool ktx__metadata_needs_update(struct ktx__metadata *md, int64_t now);

/* Milliseconds until ktx__metadata_needs_update() turns true (0 when it is), or INT64_MAX
 * while an update is in flight: for the sender's poll timeout. */
int64_t ktx__metadata_time_to_update(struct ktx__metadata *md, int64_t now);

/*
 * Encodes the Metadata request body for the topics of interest at version |ver| into |w|
 * (auto topic creation allowed, as Kafka's producer does). The signature is that of
 * ktx__conn_encode_fn with |md| as the opaque. Returns 0 or the encoder's error.
 */
int ktx__metadata_encode_request(struct ktx__writer *w, int16_t ver, void *md);

/*
 * Applies the decoded Metadata response |resp| received at |now|: replaces the brokers
 * (when it lists any), and for each topic of interest it lists, its error and partitions.
 * A partition whose leader epoch is older than the cached one keeps the cached leader
 * (stale answer from a lagging broker). Topics with a retriable error (e.g.
 * LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION) or a partition without leader ask for
 * another update after the retry backoff. |resp| is borrowed. Returns 0 or
 * KTX_ERR_NO_MEMORY (the cache then keeps its previous content and wants an update).
 */
int ktx__metadata_apply(struct ktx__metadata *md, const struct ktx__metadata_resp *resp,
                        int64_t now);

/* Records that an update failed (transport error, timeout, bad answer): the next attempt
 * waits for the retry backoff, which grows with consecutive failures. */
void ktx__metadata_update_failed(struct ktx__metadata *md, int64_t now);

/*
 * Tells the cache about an error a request met (a Produce partition error, a disconnect
 * with KTX_ERR_TRANSPORT, ...). NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
 * LEADER_NOT_AVAILABLE, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR,
 * NOT_ENOUGH_REPLICAS, BROKER_NOT_AVAILABLE, REPLICA_NOT_AVAILABLE, NETWORK_EXCEPTION,
 * KTX_ERR_TRANSPORT and KTX_ERR_TIMED_OUT ask for an update. Returns true when |err| did.
 */
bool ktx__metadata_note_error(struct ktx__metadata *md, int err);

/*
 * The sender's metadata duty, as Kafka's DefaultMetadataUpdater.maybeUpdate(): when an
 * update is due, picks the least loaded node of |net| (starting a connect when needed) and
 * sends it a Metadata request for the topics of interest; the answer is decoded and applied
 * (its brokers go to ktx__net_set_brokers()) by a completion callback inside
 * ktx__net_poll(); a failure counts as a failed update (retry backoff).
 * Returns the milliseconds after which it should be called again, for the poll timeout:
 * the time until the next update is due, the time until a node may be ready, or INT64_MAX
 * while an update is in flight (its answer or its timeout ends the poll anyway).
 * Thread: the sender thread (|net|'s thread).
 */
int64_t ktx__metadata_maybe_update(struct ktx__metadata *md, struct ktx__net *net, int64_t now);

/*
 * Stores the leader of |topic| / |partition| in |*info| and returns 0; returns
 * KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION when the topic or partition is not known.
 * Thread: any. Locks: takes the cache mutex briefly.
 */
int ktx__metadata_leader_for(struct ktx__metadata *md, const char *topic, int32_t partition,
                             struct ktx__metadata_partition_info *info);

/* Returns the number of partitions of |topic|, or -1 while it is not known. |topic| is
 * borrowed. Thread: any (application threads call it for the partitioner, per record).
 * Locks: none when the calling thread asked for the same topic of the same cache last and
 * no response was applied since (a thread-local entry); otherwise the cache mutex for a
 * binary search over the topics. Never blocks on I/O. */
int32_t ktx__metadata_partition_count(struct ktx__metadata *md, const char *topic);

/* As ktx__metadata_partition_count(), and when the count is known (>= 0) stores in |*name|
 * the cache's own copy of the topic's name: the same pointer for the same name, never
 * modified, until the cache is destroyed (topics are never removed before). ktx_send()
 * passes it to the partitioner and the accumulator, which then recognise the topic by its
 * address (one name comparison per record instead of three). |name| may be NULL. */
int32_t ktx__metadata_partition_count_name(struct ktx__metadata *md, const char *topic,
                                           const char **name);

/*
 * Tells whether |topic| is known. A topic of interest that no response has listed without
 * error by |deadline| (e.g. its add time plus max.block.ms) is FAILED with
 * KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION in |*err|; a topic answered with a non-retriable
 * error (TOPIC_AUTHORIZATION_FAILED, INVALID_TOPIC_EXCEPTION, ...) is FAILED at once with
 * that error. |err| may be NULL; it is set to 0 otherwise.
 */
enum ktx__topic_status ktx__metadata_topic_status(struct ktx__metadata *md, const char *topic,
                                                  int64_t deadline, int64_t now, int *err);

/*
 * Applies a leader hint (KIP-951: CurrentLeader, and the new leader's NodeEndpoint, of a
 * Produce answer that failed with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH): |topic| /
 * |partition| is led by |leader_id| from |leader_epoch| on. Applied only when the topic and
 * partition are cached, |leader_epoch| is newer than the cached leader epoch (an older or
 * equal one is a stale hint and counts in stats.stale_epochs) and the leader is a known
 * broker or |endpoint| (may be NULL; borrowed; its node id must be |leader_id|) says where
 * it is, in which case the broker is added to the cache (the caller adds it to the net).
 * Does not ask for an update. Returns true when the cache names that leader with that
 * epoch afterwards (moved now, or by an earlier identical hint).
 * Thread: any. Locks: the cache mutex, briefly.
 */
bool ktx__metadata_set_leader(struct ktx__metadata *md, const char *topic, int32_t partition,
                              int32_t leader_id, int32_t leader_epoch,
                              const struct ktx__net_broker *endpoint);

/* Copies the address of broker |node_id| into |*addr|. Returns 0, or
 * KTX_ERR_INVALID_ARG when the broker is not known. */
int ktx__metadata_broker(struct ktx__metadata *md, int32_t node_id, struct ktx__net_addr *addr);

/* Counters for tests and statistics. */
struct ktx__metadata_stats {
    uint64_t updates;          /* responses applied */
    uint64_t failures;         /* failed updates */
    uint64_t stale_epochs;     /* partitions kept because the answer's (or a hint's) epoch
                                  was not newer */
    uint64_t leader_hints;     /* leaders moved by ktx__metadata_set_leader() */
    int64_t last_update_ms;    /* |now| of the last applied response, -1 before any */
};
void ktx__metadata_get_stats(struct ktx__metadata *md, struct ktx__metadata_stats *out);

#endif /* KTX_METADATA_H */
