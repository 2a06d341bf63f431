/*
 * Committed and pending transactional offsets of consumer groups. See groups.h.
 */
#include "groups.h"

#include <stdlib.h>
#include <string.h>

/* Hard ceiling on stored offsets (committed plus pending), so a client cannot exhaust memory. */
#define MAX_OFFSETS 100000

void kb_groups_init(struct kb_groups *groups)
{
    memset(groups, 0, sizeof(*groups));
}

static void offset_free(struct kb_offset *o)
{
    free(o->group_id);
    free(o->topic);
    free(o->metadata);
}

void kb_groups_free(struct kb_groups *groups)
{
    for (size_t i = 0; i < groups->n_committed; i++)
        offset_free(&groups->committed[i]);
    for (size_t i = 0; i < groups->n_pending; i++)
        offset_free(&groups->pending[i]);
    free(groups->committed);
    free(groups->pending);
    memset(groups, 0, sizeof(*groups));
}

static bool same_key(const struct kb_offset *o, const char *group_id, const char *topic,
                     int32_t partition)
{
    return o->partition == partition && strcmp(o->topic, topic) == 0 &&
           strcmp(o->group_id, group_id) == 0;
}

/* Index of the entry for the key (and |producer_id| when >= 0) in |arr|, or -1. */
static ssize_t find_offset(const struct kb_offset *arr, size_t n, const char *group_id,
                    const char *topic, int32_t partition, int64_t producer_id)
{
    for (size_t i = 0; i < n; i++)
        if (same_key(&arr[i], group_id, topic, partition) &&
            (producer_id < 0 || arr[i].producer_id == producer_id))
            return (ssize_t)i;
    return -1;
}

/* Returns a slot in |*arr| for the key: the existing entry (cleared) or a new one. */
static struct kb_offset *slot_for(struct kb_groups *groups, struct kb_offset **arr, size_t *n,
                                  size_t *cap, ssize_t existing)
{
    if (existing >= 0) {
        offset_free(&(*arr)[existing]);
        return &(*arr)[existing];
    }
    if (groups->n_committed + groups->n_pending >= MAX_OFFSETS)
        return NULL;
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct kb_offset *np = realloc(*arr, ncap * sizeof(*np));
        if (!np)
            return NULL;
        *arr = np;
        *cap = ncap;
    }
    return &(*arr)[(*n)++];
}

/* Fills |o| from |commit|. On failure |o| holds no allocations. */
static int fill(struct kb_offset *o, const char *group_id, const struct kb_offset_commit *commit,
                int64_t producer_id, int16_t producer_epoch, int64_t now_ms)
{
    memset(o, 0, sizeof(*o));
    o->group_id = strdup(group_id);
    o->topic = strdup(commit->topic);
    o->metadata = commit->metadata ? strdup(commit->metadata) : NULL;
    if (!o->group_id || !o->topic || (commit->metadata && !o->metadata)) {
        offset_free(o);
        memset(o, 0, sizeof(*o));
        return KTX_ERR_NO_MEMORY;
    }
    o->partition = commit->partition;
    o->committed_offset = commit->committed_offset;
    o->committed_leader_epoch = commit->committed_leader_epoch;
    o->commit_ms = now_ms;
    o->producer_id = producer_id;
    o->producer_epoch = producer_epoch;
    return 0;
}

/* Removes entry |i| of |arr| (already freed) by moving the last one into its place. */
static void remove_at(struct kb_offset *arr, size_t *n, size_t i)
{
    arr[i] = arr[--(*n)];
}

/* Stores |commit| in |arr|, replacing the entry at |existing| when >= 0. */
static int store(struct kb_groups *groups, struct kb_offset **arr, size_t *n, size_t *cap,
                 ssize_t existing, const char *group_id, const struct kb_offset_commit *commit,
                 int64_t producer_id, int16_t producer_epoch, int64_t now_ms)
{
    struct kb_offset *o = slot_for(groups, arr, n, cap, existing);
    int err;

    if (!o)
        return existing < 0 && groups->n_committed + groups->n_pending >= MAX_OFFSETS
                   ? KTX_ERR_INVALID_COMMIT_OFFSET_SIZE
                   : KTX_ERR_NO_MEMORY;
    err = fill(o, group_id, commit, producer_id, producer_epoch, now_ms);
    if (err)
        remove_at(*arr, n, (size_t)(o - *arr));
    return err;
}

static int check_commit(const struct kb_offset_commit *commit)
{
    if (commit->metadata && strlen(commit->metadata) > KB_GROUPS_MAX_METADATA)
        return KTX_ERR_OFFSET_METADATA_TOO_LARGE;
    return 0;
}

int kb_groups_commit(struct kb_groups *groups, const char *group_id,
                     const struct kb_offset_commit *commit, int64_t now_ms)
{
    int err = check_commit(commit);
    ssize_t i;

    if (err)
        return err;
    i = find_offset(groups->committed, groups->n_committed, group_id, commit->topic, commit->partition, -1);
    return store(groups, &groups->committed, &groups->n_committed, &groups->cap_committed, i,
                 group_id, commit, -1, -1, now_ms);
}

/* The newest epoch among |producer_id|'s pending offsets in |group_id|, or -1. */
static int16_t pending_epoch(const struct kb_groups *groups, const char *group_id,
                             int64_t producer_id)
{
    int16_t epoch = -1;

    for (size_t i = 0; i < groups->n_pending; i++) {
        const struct kb_offset *o = &groups->pending[i];
        if (o->producer_id == producer_id && strcmp(o->group_id, group_id) == 0 &&
            o->producer_epoch > epoch)
            epoch = o->producer_epoch;
    }
    return epoch;
}

int kb_groups_txn_commit(struct kb_groups *groups, const char *group_id, int64_t producer_id,
                         int16_t producer_epoch, const struct kb_offset_commit *commit,
                         int64_t now_ms)
{
    int err = check_commit(commit);
    ssize_t i;

    if (err)
        return err;
    if (producer_epoch < pending_epoch(groups, group_id, producer_id))
        return KTX_ERR_INVALID_PRODUCER_EPOCH;
    i = find_offset(groups->pending, groups->n_pending, group_id, commit->topic, commit->partition,
             producer_id);
    return store(groups, &groups->pending, &groups->n_pending, &groups->cap_pending, i, group_id,
                 commit, producer_id, producer_epoch, now_ms);
}

/* Makes pending entry |p| the committed offset of its partition (moves its strings). */
static int promote(struct kb_groups *groups, struct kb_offset *p, int64_t now_ms)
{
    ssize_t i = find_offset(groups->committed, groups->n_committed, p->group_id, p->topic, p->partition, -1);
    struct kb_offset *o = slot_for(groups, &groups->committed, &groups->n_committed,
                                   &groups->cap_committed, i);
    if (!o)
        return KTX_ERR_NO_MEMORY;
    *o = *p;
    o->producer_id = -1;
    o->producer_epoch = -1;
    o->commit_ms = now_ms;
    memset(p, 0, sizeof(*p));
    return 0;
}

int kb_groups_txn_complete(struct kb_groups *groups, const char *group_id, int64_t producer_id,
                           bool commit, int64_t now_ms)
{
    int resolved = 0;
    size_t i = 0;

    while (i < groups->n_pending) {
        struct kb_offset *p = &groups->pending[i];
        if (p->producer_id != producer_id || strcmp(p->group_id, group_id) != 0) {
            i++;
            continue;
        }
        if (commit && promote(groups, p, now_ms))
            return KTX_ERR_NO_MEMORY;
        offset_free(&groups->pending[i]);
        remove_at(groups->pending, &groups->n_pending, i);
        resolved++;
    }
    return resolved;
}

bool kb_groups_has_pending(const struct kb_groups *groups, const char *group_id,
                           const char *topic, int32_t partition)
{
    return find_offset(groups->pending, groups->n_pending, group_id, topic, partition, -1) >= 0;
}

int kb_groups_fetch(const struct kb_groups *groups, const char *group_id, const char *topic,
                    int32_t partition, bool require_stable, const struct kb_offset **out)
{
    ssize_t i;

    *out = NULL;
    if (require_stable && kb_groups_has_pending(groups, group_id, topic, partition))
        return KTX_ERR_UNSTABLE_OFFSET_COMMIT;
    i = find_offset(groups->committed, groups->n_committed, group_id, topic, partition, -1);
    if (i >= 0)
        *out = &groups->committed[i];
    return 0;
}
