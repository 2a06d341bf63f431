/*
 * The cluster metadata cache: see metadata.h.
 *
 * Topics of interest are kept sorted by name so that the partitioner's lookups (from
 * application threads, per record) are a binary search under the mutex. A response is
 * applied in two steps: everything it needs is allocated first, then the cache is changed,
 * so that running out of memory leaves the previous content intact.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "metadata.h"

struct mtopic {
    char *name;
    int64_t added_ms;
    int16_t error_code;      /* the topic error of the last response that listed it */
    int32_t partition_count; /* -1 while unknown */
    struct ktx__metadata_partition_info *partitions;
};

struct mbroker {
    int32_t node_id;
    char *host;
    int port;
};

struct ktx__metadata {
    pthread_mutex_t lock;
    struct ktx__metadata_conf conf;
    struct mtopic *topics; /* sorted by name */
    size_t topic_count, topic_cap;
    struct mbroker *brokers;
    size_t broker_count;
    bool need_update;
    bool in_flight;
    int64_t last_update_ms;    /* -1 before the first update */
    int64_t retry_after_ms;
    unsigned failures;         /* consecutive failed updates */
    uint64_t interest_version; /* bumped by every new topic of interest */
    uint64_t requested_version; /* |interest_version| when the request in flight was built */
    int16_t requested_ver;     /* the Metadata version of the request in flight */
    struct ktx__net *net;      /* the net of the update in flight */
    uint64_t rng;
    struct ktx__metadata_stats stats;
};

/*
 * The partition count a thread read last, so that ktx_send() reads it per record without
 * the mutex, the name's length and the binary search. Valid while |generation| equals
 * count_generation, which every applied response (the only place counts change) and every
 * destroy bump: a cache at a freed one's address, or a freed name, is never seen. The name
 * is the cached topic's own copy, which lives until the cache is destroyed.
 */
struct last_count {
    const struct ktx__metadata *md;
    const char *name;
    int32_t count;
    uint_fast64_t generation;
};

static atomic_uint_fast64_t count_generation;
static _Thread_local struct last_count thread_last_count;

/* ---- helpers (the lock is held) ---- */

/* Orders the cached name |cur| against |name| of |len| bytes, which comes off the wire and
 * may hold a NUL byte (then it matches nothing): bytes first, then length. */
static int name_cmp(const char *cur, const char *name, size_t len)
{
    size_t cur_len = strlen(cur);
    int c = memcmp(cur, name, KTX__MIN(cur_len, len));

    if (c != 0)
        return c;
    return cur_len < len ? -1 : cur_len > len ? 1 : 0;
}

/* Index of |name| in the sorted topics, or the index where it belongs (|*found| false). */
static size_t topic_index(const struct ktx__metadata *md, const char *name, size_t len,
                          bool *found)
{
    size_t lo = 0, hi = md->topic_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(md->topics[mid].name, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct mtopic *topic_find(struct ktx__metadata *md, const char *name, size_t len)
{
    bool found;
    size_t i = topic_index(md, name, len, &found);
    return found ? &md->topics[i] : NULL;
}

static double next_random(struct ktx__metadata *md)
{
    md->rng ^= md->rng >> 12;
    md->rng ^= md->rng << 25;
    md->rng ^= md->rng >> 27;
    return (double)((md->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void free_brokers(struct mbroker *brokers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(brokers[i].host);
    free(brokers);
}

/* ---- life cycle and interest ---- */

int ktx__metadata_new(struct ktx__metadata **out, const struct ktx__metadata_conf *conf)
{
    struct ktx__metadata *md;

    if (conf == NULL || conf->max_age_ms < 0 || conf->retry_backoff_ms < 0)
        return KTX_ERR_INVALID_ARG;
    md = calloc(1, sizeof(*md));
    if (md == NULL)
        return KTX_ERR_NO_MEMORY;
    if (pthread_mutex_init(&md->lock, NULL) != 0) {
        free(md);
        return KTX_ERR_NO_MEMORY;
    }
    md->conf = *conf;
    if (md->conf.retry_backoff_max_ms < md->conf.retry_backoff_ms)
        md->conf.retry_backoff_max_ms = md->conf.retry_backoff_ms;
    md->need_update = true;
    md->last_update_ms = -1;
    md->stats.last_update_ms = -1;
    md->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)md;
    *out = md;
    return 0;
}

void ktx__metadata_destroy(struct ktx__metadata *md)
{
    if (md == NULL)
        return;
    atomic_fetch_add(&count_generation, 1);
    for (size_t i = 0; i < md->topic_count; i++) {
        free(md->topics[i].name);
        free(md->topics[i].partitions);
    }
    free(md->topics);
    free_brokers(md->brokers, md->broker_count);
    pthread_mutex_destroy(&md->lock);
    free(md);
}

static int insert_topic(struct ktx__metadata *md, const char *topic, int64_t now)
{
    bool found;
    size_t i = topic_index(md, topic, strlen(topic), &found);
    struct mtopic *t;

    if (found)
        return 0;
    if (md->topic_count == md->topic_cap) {
        size_t cap = md->topic_cap == 0 ? 8 : md->topic_cap * 2;
        t = realloc(md->topics, cap * sizeof(*t));
        if (t == NULL)
            return KTX_ERR_NO_MEMORY;
        md->topics = t;
        md->topic_cap = cap;
    }
    char *name = strdup(topic);
    if (name == NULL)
        return KTX_ERR_NO_MEMORY;
    memmove(&md->topics[i + 1], &md->topics[i], (md->topic_count - i) * sizeof(*t));
    t = &md->topics[i];
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->added_ms = now;
    t->partition_count = -1;
    md->topic_count++;
    md->interest_version++;
    md->need_update = true;
    return 0;
}

int ktx__metadata_add_topic(struct ktx__metadata *md, const char *topic, int64_t now)
{
    int rc;

    if (topic == NULL || topic[0] == '\0')
        return KTX_ERR_INVALID_ARG;
    pthread_mutex_lock(&md->lock);
    rc = insert_topic(md, topic, now);
    pthread_mutex_unlock(&md->lock);
    return rc;
}

/* ---- when to update ---- */

void ktx__metadata_request_update(struct ktx__metadata *md)
{
    pthread_mutex_lock(&md->lock);
    md->need_update = true;
    pthread_mutex_unlock(&md->lock);
}

/* The time at which an update is due, ignoring an update in flight. */
static int64_t due_at(const struct ktx__metadata *md)
{
    int64_t due = md->need_update || md->last_update_ms < 0
                      ? 0
                      : md->last_update_ms + md->conf.max_age_ms;
    return KTX__MAX(due, md->retry_after_ms);
}

bool ktx__metadata_needs_update(struct ktx__metadata *md, int64_t now)
{
    bool due;

    pthread_mutex_lock(&md->lock);
    due = !md->in_flight && now >= due_at(md);
    pthread_mutex_unlock(&md->lock);
    return due;
}

int64_t ktx__metadata_time_to_update(struct ktx__metadata *md, int64_t now)
{
    int64_t wait;

    pthread_mutex_lock(&md->lock);
    wait = md->in_flight ? INT64_MAX : KTX__MAX(0, due_at(md) - now);
    pthread_mutex_unlock(&md->lock);
    return wait;
}

void ktx__metadata_update_failed(struct ktx__metadata *md, int64_t now)
{
    pthread_mutex_lock(&md->lock);
    md->in_flight = false;
    md->need_update = true;
    md->retry_after_ms = now + ktx__conn_backoff_ms(md->conf.retry_backoff_ms,
                                                    md->conf.retry_backoff_max_ms,
                                                    md->failures, next_random(md));
    md->failures++;
    md->stats.failures++;
    pthread_mutex_unlock(&md->lock);
}

bool ktx__metadata_note_error(struct ktx__metadata *md, int err)
{
    switch (err) {
    case KTX_ERR_NOT_LEADER_OR_FOLLOWER:
    case KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KTX_ERR_LEADER_NOT_AVAILABLE:
    case KTX_ERR_FENCED_LEADER_EPOCH:
    case KTX_ERR_UNKNOWN_LEADER_EPOCH:
    case KTX_ERR_KAFKA_STORAGE_ERROR:
    case KTX_ERR_NOT_ENOUGH_REPLICAS:
    case KTX_ERR_BROKER_NOT_AVAILABLE:
    case KTX_ERR_REPLICA_NOT_AVAILABLE:
    case KTX_ERR_NETWORK_EXCEPTION:
    case KTX_ERR_TRANSPORT:
    case KTX_ERR_TIMED_OUT:
        ktx__metadata_request_update(md);
        return true;
    default:
        return false;
    }
}

/* ---- the request ---- */

int ktx__metadata_encode_request(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__metadata *md = opaque;
    struct ktx__metadata_req req;
    int rc;

    memset(&req, 0, sizeof(req));
    req.allow_auto_topic_creation = true;
    pthread_mutex_lock(&md->lock);
    req.topics = md->topic_count > 0 ? calloc(md->topic_count, sizeof(*req.topics)) : NULL;
    if (md->topic_count > 0 && req.topics == NULL) {
        pthread_mutex_unlock(&md->lock);
        return KTX_ERR_NO_MEMORY;
    }
    /* An empty list (not null, which means all topics) asks for the brokers only. */
    req.topics_count = (int32_t)md->topic_count;
    for (size_t i = 0; i < md->topic_count; i++)
        req.topics[i].name = ktx__str_c(md->topics[i].name);
    rc = ktx__proto_metadata_req_encode(w, ver, &req);
    if (rc == 0) {
        md->requested_version = md->interest_version;
        md->requested_ver = ver;
    }
    pthread_mutex_unlock(&md->lock);
    free(req.topics);
    return rc;
}

/* ---- applying a response ---- */

/* Copies the brokers of |resp| (NULL with |*count| 0 when it lists none). */
static int copy_brokers(const struct ktx__metadata_resp *resp, struct mbroker **out,
                        size_t *count)
{
    struct mbroker *brokers;

    *out = NULL;
    *count = 0;
    if (resp->brokers_count <= 0)
        return 0;
    brokers = calloc((size_t)resp->brokers_count, sizeof(*brokers));
    if (brokers == NULL)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < resp->brokers_count; i++) {
        brokers[i].node_id = resp->brokers[i].node_id;
        brokers[i].port = resp->brokers[i].port;
        brokers[i].host = ktx__str_dup(resp->brokers[i].host);
        if (brokers[i].host == NULL) {
            free_brokers(brokers, (size_t)i + 1);
            return KTX_ERR_NO_MEMORY;
        }
    }
    *out = brokers;
    *count = (size_t)resp->brokers_count;
    return 0;
}

/* Builds the new partition table of |t| from |rt| into |*out|, keeping cached leaders
 * whose epoch is newer. Returns 0 or KTX_ERR_NO_MEMORY; |*retry| is set when a partition
 * has no leader. */
static int build_partitions(struct ktx__metadata *md, const struct mtopic *t,
                            const struct ktx__metadata_topic *rt,
                            struct ktx__metadata_partition_info **out, bool *retry)
{
    int32_t n = rt->partitions_count;
    struct ktx__metadata_partition_info *parts = calloc((size_t)KTX__MAX(n, 1), sizeof(*parts));

    if (parts == NULL)
        return KTX_ERR_NO_MEMORY;
    for (int32_t i = 0; i < n; i++)
        parts[i] = (struct ktx__metadata_partition_info){-1, -1, KTX_ERR_LEADER_NOT_AVAILABLE};
    for (int32_t i = 0; i < n; i++) {
        const struct ktx__metadata_partition *rp = &rt->partitions[i];
        int32_t idx = rp->partition_index;
        if (idx < 0 || idx >= n)
            continue; /* a gap in the numbering: that partition stays without leader */
        parts[idx] = (struct ktx__metadata_partition_info){rp->leader_id, rp->leader_epoch,
                                                           rp->error_code};
        if (idx < t->partition_count && rp->leader_epoch >= 0 &&
            t->partitions[idx].leader_epoch > rp->leader_epoch) {
            parts[idx] = t->partitions[idx];
            md->stats.stale_epochs++;
        }
    }
    for (int32_t i = 0; i < n; i++)
        if (parts[i].leader_id < 0)
            *retry = true;
    *out = parts;
    return 0;
}

/* Applies the topics of |resp|: all allocations first, then the changes. */
static int apply_topics(struct ktx__metadata *md, const struct ktx__metadata_resp *resp,
                        bool *retry)
{
    int32_t n = resp->topics_count;
    struct ktx__metadata_partition_info **fresh = calloc((size_t)KTX__MAX(n, 1), sizeof(*fresh));
    struct mtopic **targets = calloc((size_t)KTX__MAX(n, 1), sizeof(*targets));
    int rc = fresh == NULL || targets == NULL ? KTX_ERR_NO_MEMORY : 0;

    for (int32_t i = 0; rc == 0 && i < n; i++) {
        const struct ktx__metadata_topic *rt = &resp->topics[i];
        if (rt->name.len <= 0)
            continue;
        targets[i] = topic_find(md, rt->name.ptr, (size_t)rt->name.len);
        if (targets[i] != NULL && rt->error_code == 0)
            rc = build_partitions(md, targets[i], rt, &fresh[i], retry);
    }
    for (int32_t i = 0; rc == 0 && i < n; i++) {
        struct mtopic *t = targets[i];
        if (t == NULL)
            continue;
        t->error_code = resp->topics[i].error_code;
        if (t->error_code != 0 && ktx__err_is_retriable(t->error_code))
            *retry = true;
        free(t->partitions);
        t->partitions = fresh[i];
        t->partition_count = t->error_code == 0 ? resp->topics[i].partitions_count : -1;
        fresh[i] = NULL;
    }
    if (rc == 0)
        atomic_fetch_add(&count_generation, 1); /* partition counts may have changed */
    for (int32_t i = 0; fresh != NULL && i < n; i++)
        free(fresh[i]);
    free(fresh);
    free(targets);
    return rc;
}

int ktx__metadata_apply(struct ktx__metadata *md, const struct ktx__metadata_resp *resp,
                        int64_t now)
{
    struct mbroker *brokers;
    size_t broker_count;
    bool retry = false;
    int rc = copy_brokers(resp, &brokers, &broker_count);

    pthread_mutex_lock(&md->lock);
    if (rc == 0)
        rc = apply_topics(md, resp, &retry);
    if (rc != 0) {
        free_brokers(brokers, broker_count);
        pthread_mutex_unlock(&md->lock);
        ktx__metadata_update_failed(md, now);
        return rc;
    }
    if (brokers != NULL) {
        free_brokers(md->brokers, md->broker_count);
        md->brokers = brokers;
        md->broker_count = broker_count;
    }
    md->in_flight = false;
    md->failures = 0;
    md->last_update_ms = now;
    /* Topics added while the request was out were not asked for: update again. */
    md->need_update = retry || md->requested_version != md->interest_version;
    md->retry_after_ms = retry ? now + md->conf.retry_backoff_ms : 0;
    md->stats.updates++;
    md->stats.last_update_ms = now;
    pthread_mutex_unlock(&md->lock);
    return 0;
}

/* ---- the update through the net ---- */

/* Hands the brokers of |resp| to the net's registry. */
static void register_brokers(struct ktx__net *net, const struct ktx__metadata_resp *resp,
                             struct ktx__arena *arena)
{
    struct ktx__net_broker *brokers;

    if (resp->brokers_count <= 0)
        return;
    brokers = ktx__arena_alloc(arena, (size_t)resp->brokers_count * sizeof(*brokers));
    if (brokers == NULL)
        return;
    for (int32_t i = 0; i < resp->brokers_count; i++) {
        brokers[i].node_id = resp->brokers[i].node_id;
        brokers[i].port = resp->brokers[i].port;
        brokers[i].host = ktx__arena_strdup(arena, resp->brokers[i].host);
        if (brokers[i].host == NULL)
            return;
    }
    (void)ktx__net_set_brokers(net, brokers, (size_t)resp->brokers_count);
}

/* Completion of the Metadata request: decode, then apply (or count a failure). */
static void on_metadata(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                        void *opaque)
{
    struct ktx__metadata *md = opaque;
    struct ktx__net *net = md->net;
    int64_t now = ktx__net_now(net);
    struct ktx__metadata_resp resp;
    struct ktx__arena arena;
    int16_t ver;

    (void)conn;
    if (err != 0) {
        ktx__metadata_update_failed(md, now);
        return;
    }
    pthread_mutex_lock(&md->lock);
    ver = md->requested_ver;
    pthread_mutex_unlock(&md->lock);
    ktx__arena_init(&arena, 0);
    if (ktx__proto_metadata_resp_decode(body, len, ver, &resp, &arena) != 0) {
        ktx__metadata_update_failed(md, now);
    } else if (ktx__metadata_apply(md, &resp, now) == 0) {
        register_brokers(net, &resp, &arena);
    }
    ktx__arena_free(&arena);
}

/* Sends the update to |node|, which is ready. Returns the next call's delay. */
static int64_t send_update(struct ktx__metadata *md, struct ktx__net *net, int32_t node,
                           int64_t now)
{
    struct ktx__conn_req req;

    memset(&req, 0, sizeof(req));
    req.api_key = KTX__API_METADATA;
    req.version = -1;
    req.encode = ktx__metadata_encode_request;
    req.encode_opaque = md;
    req.cb = on_metadata;
    req.opaque = md;
    if (ktx__net_send(net, node, &req, now) != 0) {
        ktx__metadata_update_failed(md, now);
        return ktx__metadata_time_to_update(md, now);
    }
    pthread_mutex_lock(&md->lock);
    md->in_flight = true;
    md->net = net;
    pthread_mutex_unlock(&md->lock);
    return INT64_MAX;
}

int64_t ktx__metadata_maybe_update(struct ktx__metadata *md, struct ktx__net *net, int64_t now)
{
    int64_t wait = ktx__metadata_time_to_update(md, now);
    int64_t delay = INT64_MAX;

    if (wait > 0)
        return wait;
    /* A node refused at once goes into backoff: the next choice may be another one. */
    for (int tries = 0; tries < 4; tries++) {
        int32_t node = ktx__net_least_loaded(net, now, &delay);
        if (node == KTX__NET_NO_NODE)
            return delay;
        if (ktx__net_ready(net, node, now))
            return send_update(md, net, node, now);
        delay = ktx__net_poll_delay(net, node, now);
        if (ktx__conn_state(ktx__net_conn(net, node)) != KTX__CONN_DISCONNECTED)
            break;
    }
    return delay;
}

/* ---- leader hints (KIP-951) ---- */

/* Adds broker |node_id| at |host|:|port| unless it is known. The lock is held. Returns 0
 * or KTX_ERR_NO_MEMORY. */
static int add_broker(struct ktx__metadata *md, int32_t node_id, const char *host, int port)
{
    struct mbroker *brokers;
    char *copy;

    for (size_t i = 0; i < md->broker_count; i++)
        if (md->brokers[i].node_id == node_id)
            return 0;
    if (!(copy = strdup(host)))
        return KTX_ERR_NO_MEMORY;
    if (!(brokers = realloc(md->brokers, (md->broker_count + 1) * sizeof(*brokers)))) {
        free(copy);
        return KTX_ERR_NO_MEMORY;
    }
    md->brokers = brokers;
    md->brokers[md->broker_count++] = (struct mbroker){node_id, copy, port};
    return 0;
}

static bool broker_known(const struct ktx__metadata *md, int32_t node_id)
{
    for (size_t i = 0; i < md->broker_count; i++)
        if (md->brokers[i].node_id == node_id)
            return true;
    return false;
}

bool ktx__metadata_set_leader(struct ktx__metadata *md, const char *topic, int32_t partition,
                              int32_t leader_id, int32_t leader_epoch,
                              const struct ktx__net_broker *endpoint)
{
    struct ktx__metadata_partition_info *info;
    bool applied = false;
    struct mtopic *t;

    if (leader_id < 0 || leader_epoch < 0)
        return false;
    pthread_mutex_lock(&md->lock);
    t = topic_find(md, topic, strlen(topic));
    if (!t || partition < 0 || partition >= t->partition_count)
        goto out;
    info = &t->partitions[partition];
    if (info->leader_epoch == leader_epoch && info->leader_id == leader_id) {
        applied = true; /* another batch's answer brought the same hint */
        goto out;
    }
    /* Only a newer epoch moves the leader: hints may come late, from a stale broker. */
    if (info->leader_epoch >= leader_epoch) {
        md->stats.stale_epochs++;
        goto out;
    }
    if (endpoint && endpoint->node_id == leader_id &&
        add_broker(md, leader_id, endpoint->host, endpoint->port) != 0)
        goto out;
    if (!broker_known(md, leader_id))
        goto out; /* nowhere to send to: the next Metadata answer tells */
    *info = (struct ktx__metadata_partition_info){leader_id, leader_epoch, 0};
    md->stats.leader_hints++;
    applied = true;
out:
    pthread_mutex_unlock(&md->lock);
    return applied;
}

/* ---- readers ---- */

int ktx__metadata_leader_for(struct ktx__metadata *md, const char *topic, int32_t partition,
                             struct ktx__metadata_partition_info *info)
{
    int rc = KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    struct mtopic *t;

    pthread_mutex_lock(&md->lock);
    t = topic_find(md, topic, strlen(topic));
    if (t != NULL && partition >= 0 && partition < t->partition_count) {
        *info = t->partitions[partition];
        rc = 0;
    }
    pthread_mutex_unlock(&md->lock);
    return rc;
}

int32_t ktx__metadata_partition_count_name(struct ktx__metadata *md, const char *topic,
                                           const char **name)
{
    struct last_count *last = &thread_last_count;
    uint_fast64_t generation = atomic_load(&count_generation);
    int32_t count = -1;
    struct mtopic *t;

    if (last->md == md && last->generation == generation && strcmp(last->name, topic) == 0) {
        if (name)
            *name = last->name;
        return last->count;
    }
    pthread_mutex_lock(&md->lock);
    t = topic_find(md, topic, strlen(topic));
    if (t != NULL)
        count = t->partition_count;
    if (count >= 0) {
        *last = (struct last_count){md, t->name, count, generation};
        if (name)
            *name = t->name;
    }
    pthread_mutex_unlock(&md->lock);
    return count;
}

int32_t ktx__metadata_partition_count(struct ktx__metadata *md, const char *topic)
{
    return ktx__metadata_partition_count_name(md, topic, NULL);
}

enum ktx__topic_status ktx__metadata_topic_status(struct ktx__metadata *md, const char *topic,
                                                  int64_t deadline, int64_t now, int *err)
{
    enum ktx__topic_status status = KTX__TOPIC_PENDING;
    int code = 0;
    struct mtopic *t;

    pthread_mutex_lock(&md->lock);
    t = topic_find(md, topic, strlen(topic));
    if (t != NULL && t->partition_count > 0) {
        status = KTX__TOPIC_KNOWN;
    } else if (t != NULL && t->error_code != 0 && !ktx__err_is_retriable(t->error_code)) {
        status = KTX__TOPIC_FAILED;
        code = t->error_code;
    } else if (now >= deadline) {
        status = KTX__TOPIC_FAILED;
        code = KTX_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    pthread_mutex_unlock(&md->lock);
    if (err != NULL)
        *err = code;
    return status;
}

int ktx__metadata_broker(struct ktx__metadata *md, int32_t node_id, struct ktx__net_addr *addr)
{
    int rc = KTX_ERR_INVALID_ARG;

    pthread_mutex_lock(&md->lock);
    for (size_t i = 0; i < md->broker_count; i++) {
        const struct mbroker *b = &md->brokers[i];
        if (b->node_id != node_id || strlen(b->host) > KTX__NET_MAX_HOST)
            continue;
        strcpy(addr->host, b->host);
        addr->port = b->port;
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&md->lock);
    return rc;
}

void ktx__metadata_get_stats(struct ktx__metadata *md, struct ktx__metadata_stats *out)
{
    pthread_mutex_lock(&md->lock);
    *out = md->stats;
    pthread_mutex_unlock(&md->lock);
}
