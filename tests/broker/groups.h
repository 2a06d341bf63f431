/*
 * Committed offsets of consumer groups in the reference broker (OffsetCommit, OffsetFetch,
 * TxnOffsetCommit). Offsets committed inside a transaction stay pending per (group,
 * producer id) until the transaction's marker: a commit makes them visible, an abort
 * drops them. OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT for a
 * partition that has pending transactional offsets, as Kafka does (KIP-447).
 * Pure: no I/O, no clocks. Group membership (JoinGroup, generations) is not modelled.
 */
#ifndef KB_GROUPS_H
#define KB_GROUPS_H

#include "ktx_int.h"

#define KB_GROUPS_MAX_METADATA 4096

/* One committed (or pending) offset. Strings are owned by the groups store. */
struct kb_offset {
    char *group_id;
    char *topic;
    int32_t partition;
    int64_t committed_offset;
    int32_t committed_leader_epoch;
    char *metadata;          /* may be NULL */
    int64_t commit_ms;
    int64_t producer_id;     /* pending entries only, else -1 */
    int16_t producer_epoch;  /* pending entries only, else -1 */
};

struct kb_groups {
    struct kb_offset *committed;
    size_t n_committed;
    size_t cap_committed;
    struct kb_offset *pending;
    size_t n_pending;
    size_t cap_pending;
};

void kb_groups_init(struct kb_groups *groups);
void kb_groups_free(struct kb_groups *groups);

/* The value of one offset commit; strings are borrowed by the call and copied. */
struct kb_offset_commit {
    const char *topic;
    int32_t partition;
    int64_t committed_offset;
    int32_t committed_leader_epoch;
    const char *metadata;    /* may be NULL */
};

/*
 * OffsetCommit of |commit| for |group_id| (replaces the previous value).
 * Returns 0, OFFSET_METADATA_TOO_LARGE (over KB_GROUPS_MAX_METADATA bytes),
 * INVALID_COMMIT_OFFSET_SIZE (too many offsets stored) or KTX_ERR_NO_MEMORY.
 */
int kb_groups_commit(struct kb_groups *groups, const char *group_id,
                     const struct kb_offset_commit *commit, int64_t now_ms);

/*
 * TxnOffsetCommit: stores |commit| as pending for |group_id| and |producer_id| until
 * kb_groups_txn_complete(). Returns the errors of kb_groups_commit(), or
 * INVALID_PRODUCER_EPOCH when the producer already has pending offsets in this group at a
 * newer epoch.
 */
int kb_groups_txn_commit(struct kb_groups *groups, const char *group_id, int64_t producer_id,
                         int16_t producer_epoch, const struct kb_offset_commit *commit,
                         int64_t now_ms);

/*
 * Ends |producer_id|'s transaction for |group_id|: |commit| makes its pending offsets the
 * committed ones, otherwise they are dropped. Returns how many pending offsets it
 * resolved, or KTX_ERR_NO_MEMORY (pending offsets then stay pending).
 */
int kb_groups_txn_complete(struct kb_groups *groups, const char *group_id, int64_t producer_id,
                           bool commit, int64_t now_ms);

/*
 * OffsetFetch of one partition. Stores the committed offset in |*out| (borrowed, valid
 * until the store changes), or NULL when there is none (the response then carries -1).
 * Returns 0, or UNSTABLE_OFFSET_COMMIT when |require_stable| and a transaction has a
 * pending offset for the partition.
 */
int kb_groups_fetch(const struct kb_groups *groups, const char *group_id, const char *topic,
                    int32_t partition, bool require_stable, const struct kb_offset **out);

/* True when some transaction holds a pending offset for the partition. */
bool kb_groups_has_pending(const struct kb_groups *groups, const char *group_id,
                           const char *topic, int32_t partition);

#endif /* KB_GROUPS_H */
