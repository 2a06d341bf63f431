/*
 * The simulated cluster: topics, brokers, coordinators, fault injection and the control
 * commands. See cluster.h.
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kb_cluster_init(struct kb_cluster *c, int32_t n_brokers, const struct kb_txncoord_conf *txn_conf)
{
    memset(c, 0, sizeof(*c));
    if (n_brokers < 1)
        n_brokers = 1;
    if (n_brokers > KB_MAX_BROKERS)
        n_brokers = KB_MAX_BROKERS;
    c->n_brokers = n_brokers;
    for (int32_t i = 0; i < n_brokers; i++) {
        c->brokers[i].node_id = i + 1;
        c->brokers[i].up = true;
    }
    kb_txncoord_init(&c->txncoord, txn_conf);
    kb_groups_init(&c->groups);
}

static void topic_free(struct kb_topic *topic)
{
    for (int32_t i = 0; i < topic->n_partitions; i++)
        kb_plog_free(&topic->partitions[i].log);
    free(topic->partitions);
    free(topic->name);
}

void kb_cluster_free(struct kb_cluster *c)
{
    for (size_t i = 0; i < c->n_topics; i++)
        topic_free(&c->topics[i]);
    free(c->topics);
    for (size_t i = 0; i < c->n_overrides; i++)
        free(c->overrides[i].key);
    free(c->overrides);
    kb_txncoord_free(&c->txncoord);
    kb_groups_free(&c->groups);
    memset(c, 0, sizeof(*c));
}

void kb_cluster_forget_state(struct kb_cluster *c)
{
    struct kb_txncoord_conf conf = c->txncoord.conf;

    for (size_t i = 0; i < c->n_topics; i++)
        topic_free(&c->topics[i]);
    c->n_topics = 0;
    kb_txncoord_free(&c->txncoord);
    kb_groups_free(&c->groups);
    kb_txncoord_init(&c->txncoord, &conf);
    kb_groups_init(&c->groups);
    c->dirty_state = false;
}

/* FNV-1a over |len| bytes: coordinator placement and topic ids. */
static uint64_t hash_bytes(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Kafka's legal topic names: [a-zA-Z0-9._-], 1 to 249 characters. */
static bool valid_topic_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int check_new_topic(const struct kb_cluster *c, const char *name, int32_t partitions,
                           int32_t replication)
{
    if (!valid_topic_name(name))
        return KTX_ERR_INVALID_TOPIC_EXCEPTION;
    if (kb_cluster_topic(c, name, strlen(name)))
        return KTX_ERR_TOPIC_ALREADY_EXISTS;
    if (partitions < 1 || partitions > KB_MAX_PARTITIONS)
        return KTX_ERR_INVALID_PARTITIONS;
    if (replication < 1 || replication > c->n_brokers)
        return KTX_ERR_INVALID_REPLICATION_FACTOR;
    if (c->n_topics >= KB_MAX_TOPICS)
        return KTX_ERR_POLICY_VIOLATION;
    return 0;
}

/* A topic id derived from the name, so that it survives a restart. */
static struct ktx__uuid topic_id_of(const char *name)
{
    struct ktx__uuid id;
    uint64_t a = hash_bytes(name, strlen(name)), b = hash_bytes((const char *)&a, sizeof(a));
    for (int i = 0; i < 8; i++) {
        id.b[i] = (uint8_t)(a >> (8 * i));
        id.b[8 + i] = (uint8_t)(b >> (8 * i));
    }
    id.b[0] |= 1; /* never the zero uuid */
    return id;
}

int kb_cluster_add_topic(struct kb_cluster *c, const char *name, int32_t partitions,
                         int32_t replication)
{
    int err = check_new_topic(c, name, partitions, replication);
    struct kb_topic *topic;

    if (err)
        return err;
    if (c->n_topics == c->cap_topics) {
        size_t cap = c->cap_topics ? c->cap_topics * 2 : 16;
        struct kb_topic *np = realloc(c->topics, cap * sizeof(*np));
        if (!np)
            return KTX_ERR_NO_MEMORY;
        c->topics = np;
        c->cap_topics = cap;
    }
    topic = &c->topics[c->n_topics];
    memset(topic, 0, sizeof(*topic));
    topic->name = strdup(name);
    topic->partitions = calloc((size_t)partitions, sizeof(*topic->partitions));
    if (!topic->name || !topic->partitions) {
        free(topic->name);
        free(topic->partitions);
        return KTX_ERR_NO_MEMORY;
    }
    topic->topic_id = topic_id_of(name);
    topic->replication = replication;
    topic->n_partitions = partitions;
    for (int32_t i = 0; i < partitions; i++) {
        topic->partitions[i].index = i;
        topic->partitions[i].leader = i % c->n_brokers + 1;
        kb_plog_init(&topic->partitions[i].log, 0);
    }
    c->n_topics++;
    return 0;
}

struct kb_topic *kb_cluster_topic(const struct kb_cluster *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_topics; i++)
        if (strlen(c->topics[i].name) == len && memcmp(c->topics[i].name, name, len) == 0)
            return &c->topics[i];
    return NULL;
}

struct kb_topic *kb_cluster_topic_by_id(const struct kb_cluster *c, struct ktx__uuid id)
{
    for (size_t i = 0; i < c->n_topics; i++)
        if (memcmp(c->topics[i].topic_id.b, id.b, sizeof(id.b)) == 0)
            return &c->topics[i];
    return NULL;
}

struct kb_partition *kb_cluster_partition(const struct kb_topic *topic, int32_t index)
{
    if (!topic || index < 0 || index >= topic->n_partitions)
        return NULL;
    return &topic->partitions[index];
}

struct kb_broker *kb_cluster_broker(struct kb_cluster *c, int32_t node_id)
{
    return node_id >= 1 && node_id <= c->n_brokers ? &c->brokers[node_id - 1] : NULL;
}

bool kb_cluster_broker_up(const struct kb_cluster *c, int32_t node_id)
{
    return node_id >= 1 && node_id <= c->n_brokers && c->brokers[node_id - 1].up;
}

int32_t kb_cluster_coordinator(const struct kb_cluster *c, int8_t key_type, const char *key,
                               size_t len)
{
    for (size_t i = 0; i < c->n_overrides; i++) {
        const struct kb_coord_override *o = &c->overrides[i];
        if (o->key_type == key_type && strlen(o->key) == len && memcmp(o->key, key, len) == 0)
            return o->node_id;
    }
    return (int32_t)(hash_bytes(key, len) % (uint64_t)c->n_brokers) + 1;
}

/* Consumes |b|'s oldest berr for |api_key|; returns false when there is none. */
static bool take_berr(struct kb_broker *b, int16_t api_key, int16_t *code, int64_t *delay_ms)
{
    for (int i = 0; i < b->n_errs; i++) {
        if (b->errs[i].api_key != api_key)
            continue;
        *code = b->errs[i].code;
        *delay_ms += b->errs[i].delay_ms;
        memmove(&b->errs[i], &b->errs[i + 1], (size_t)(--b->n_errs - i) * sizeof(b->errs[0]));
        return true;
    }
    return false;
}

void kb_cluster_faults(struct kb_cluster *c, int32_t node_id, int16_t api_key, int16_t *code,
                       int64_t *delay_ms)
{
    const struct kb_broker *b = kb_cluster_broker(c, node_id);

    *code = 0;
    *delay_ms = b ? b->rtt_ms : 0;
    if (b && take_berr(c->brokers + (node_id - 1), api_key, code, delay_ms))
        return;
    for (int i = 0; i < c->n_injects; i++) {
        struct kb_inject *inj = &c->injects[i];
        if (inj->api_key != api_key || inj->remaining <= 0)
            continue;
        *code = inj->code;
        if (--inj->remaining == 0)
            memmove(&c->injects[i], &c->injects[i + 1], (size_t)(--c->n_injects - i) * sizeof(*inj));
        return;
    }
}

/* Writes one marker to |tp|'s log; unknown partitions are skipped. */
static int write_marker(struct kb_cluster *c, const struct kb_txn_markers *m,
                        const struct kb_tp *tp, int64_t now_ms)
{
    struct kb_partition *p = kb_cluster_partition(kb_cluster_topic(c, tp->topic, strlen(tp->topic)),
                                                  tp->partition);
    int64_t offset;

    if (!p)
        return 0;
    return kb_plog_write_marker(&p->log, m->producer_id, m->producer_epoch, m->commit,
                                m->coordinator_epoch, now_ms, &offset);
}

int kb_cluster_write_markers(struct kb_cluster *c, const struct kb_txn_markers *markers,
                             int64_t now_ms)
{
    int first = 0;

    if (!markers->transactional_id)
        return 0;
    for (size_t i = 0; i < markers->n_partitions; i++) {
        int err = write_marker(c, markers, &markers->partitions[i], now_ms);
        if (err && !first)
            first = err;
    }
    for (size_t i = 0; i < markers->n_groups; i++) {
        int n = kb_groups_txn_complete(&c->groups, markers->groups[i], markers->producer_id,
                                       markers->commit, now_ms);
        if (n < 0 && !first)
            first = n;
    }
    c->dirty_state = true;
    kb_txncoord_markers_written(&c->txncoord, markers->transactional_id, now_ms);
    return first;
}

int kb_cluster_tick(struct kb_cluster *c, int64_t now_ms)
{
    struct kb_txn_markers *work;
    size_t n;
    int err = kb_txncoord_expire(&c->txncoord, now_ms, &work, &n);

    for (size_t i = 0; i < n; i++) {
        kb_cluster_write_markers(c, &work[i], now_ms);
        kb_txn_markers_free(&work[i]);
    }
    free(work);
    if (kb_txncoord_complete_due(&c->txncoord, now_ms) > 0 || n > 0)
        c->dirty_state = true;
    return err;
}

/* ---- control commands ---- */

static struct kb_broker *broker_arg(struct kb_cluster *c, long id)
{
    return id >= 1 && id <= c->n_brokers ? &c->brokers[id - 1] : NULL;
}

static const char *cmd_topic(struct kb_cluster *c, const char *args)
{
    char name[256];
    int partitions, replication;

    if (sscanf(args, "%255s %d %d", name, &partitions, &replication) != 3)
        return "usage: topic NAME PARTITIONS REPLICATION";
    switch (kb_cluster_add_topic(c, name, partitions, replication)) {
    case 0:
        return NULL;
    case KTX_ERR_TOPIC_ALREADY_EXISTS:
        return "topic exists";
    case KTX_ERR_INVALID_REPLICATION_FACTOR:
        return "bad replication factor";
    default:
        return "bad topic";
    }
}

static const char *cmd_err(struct kb_cluster *c, const char *args)
{
    int api, count, code;

    if (sscanf(args, "%d %d %d", &api, &count, &code) != 3 || count < 0)
        return "usage: err APIKEY COUNT CODE";
    if (c->n_injects >= KB_MAX_INJECT)
        return "too many injections";
    c->injects[c->n_injects++] = (struct kb_inject){(int16_t)api, count, (int16_t)code};
    return NULL;
}

static const char *cmd_berr(struct kb_cluster *c, const char *args)
{
    long id, delay;
    int api, code;
    struct kb_broker *b;

    if (sscanf(args, "%ld %d %d %ld", &id, &api, &code, &delay) != 4 || !(b = broker_arg(c, id)) ||
        delay < 0)
        return "usage: berr BROKER APIKEY CODE DELAY_MS";
    if (b->n_errs >= KB_MAX_INJECT)
        return "too many injections";
    b->errs[b->n_errs++] = (struct kb_broker_err){(int16_t)api, (int16_t)code, delay};
    return NULL;
}

/* down, up, restart and rtt: the server acts on the flags. */
static const char *cmd_broker(struct kb_cluster *c, const char *verb, const char *args)
{
    long id, ms = 0;
    int n = sscanf(args, "%ld %ld", &id, &ms);
    struct kb_broker *b = n >= 1 ? broker_arg(c, id) : NULL;

    if (!b || (strcmp(verb, "rtt") == 0 && n != 2))
        return "bad broker";
    if (strcmp(verb, "down") == 0) {
        b->up = false;
        b->generation++;
    } else if (strcmp(verb, "up") == 0) {
        b->up = true;
    } else if (strcmp(verb, "restart") == 0) {
        b->generation++;
        b->restart_pending = true;
    } else {
        b->rtt_ms = ms < 0 ? 0 : ms;
    }
    return NULL;
}

static const char *cmd_coord(struct kb_cluster *c, const char *args)
{
    char type[16], key[512];
    long id;
    struct kb_coord_override *np;

    if (sscanf(args, "%15s %511s %ld", type, key, &id) != 3 || !broker_arg(c, id) ||
        (strcmp(type, "txn") != 0 && strcmp(type, "group") != 0))
        return "usage: coord txn|group KEY BROKER";
    np = realloc(c->overrides, (c->n_overrides + 1) * sizeof(*np));
    if (!np)
        return "out of memory";
    c->overrides = np;
    /* A later override of the same key wins: it is looked up first. */
    memmove(&np[1], &np[0], c->n_overrides * sizeof(*np));
    np[0].key_type = strcmp(type, "txn") == 0 ? 1 : 0;
    np[0].node_id = (int32_t)id;
    if (!(np[0].key = strdup(key))) {
        memmove(&np[0], &np[1], c->n_overrides * sizeof(*np));
        return "out of memory";
    }
    c->n_overrides++;
    return NULL;
}

static const char *cmd_leader(struct kb_cluster *c, const char *args)
{
    char name[256];
    int partition;
    long id;
    struct kb_partition *p;

    if (sscanf(args, "%255s %d %ld", name, &partition, &id) != 3 || (id != -1 && !broker_arg(c, id)))
        return "usage: leader TOPIC PARTITION BROKER";
    p = kb_cluster_partition(kb_cluster_topic(c, name, strlen(name)), partition);
    if (!p)
        return "unknown partition";
    p->leader = (int32_t)id;
    p->leader_epoch++;
    p->log.leader_epoch = p->leader_epoch;
    return NULL;
}

/* Runs the command |verb| with |args|; returns NULL on success or the reason it failed. */
static const char *run_command(struct kb_cluster *c, const char *verb, const char *args, int64_t now_ms)
{
    if (strcmp(verb, "topic") == 0)
        return cmd_topic(c, args);
    if (strcmp(verb, "err") == 0)
        return cmd_err(c, args);
    if (strcmp(verb, "berr") == 0)
        return cmd_berr(c, args);
    if (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0 || strcmp(verb, "restart") == 0 ||
        strcmp(verb, "rtt") == 0)
        return cmd_broker(c, verb, args);
    if (strcmp(verb, "coord") == 0)
        return cmd_coord(c, args);
    if (strcmp(verb, "leader") == 0)
        return cmd_leader(c, args);
    if (strcmp(verb, "txn-timeout-check") == 0)
        return kb_cluster_tick(c, now_ms) ? "out of memory" : NULL;
    if (strcmp(verb, "quit") == 0) {
        c->quit = true;
        return NULL;
    }
    return "unknown command";
}

void kb_cluster_command(struct kb_cluster *c, const char *line, int64_t now_ms, char *reply,
                        size_t reply_len)
{
    char verb[32] = "";
    int consumed = 0;
    const char *why;

    if (sscanf(line, " %31s %n", verb, &consumed) < 1) {
        snprintf(reply, reply_len, "ERR empty command");
        return;
    }
    why = run_command(c, verb, line + consumed, now_ms);
    if (why)
        snprintf(reply, reply_len, "ERR %s", why);
    else
        snprintf(reply, reply_len, "OK");
}
