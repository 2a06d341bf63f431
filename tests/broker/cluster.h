/*
 * The simulated cluster behind ktx-broker: N brokers in one process sharing topics
 * (each partition a struct kb_plog), one transaction coordinator, one group store,
 * coordinator placement, partition leadership and the fault injection the tests ask for
 * on the control channel. Pure: no sockets, no clocks; the server (server.c) owns the
 * network side and asks this module what each broker should do.
 *
 * Control commands (one line each, kb_cluster_command()); BROKER ids start at 1:
 *   topic NAME PARTITIONS REPLICATION   create a topic
 *   err APIKEY COUNT CODE               answer the next COUNT requests of APIKEY with CODE
 *                                       (CODE -1: drop the connection instead)
 *   berr BROKER APIKEY CODE DELAY_MS    the next request of APIKEY on BROKER gets CODE (0: a
 *                                       normal answer), after DELAY_MS; CODE -1 drops the
 *                                       connection; CODE -2 applies the request, then
 *                                       drops the connection without answering. Several
 *                                       berr queue up in order.
 *   down BROKER | up BROKER
 *   restart BROKER                      drop the broker's connections and refuse new ones
 *                                       for KB_RESTART_REFUSE_MS; with a data directory the
 *                                       server also reloads the whole state from it
 *   rtt BROKER MS                       delay every response of BROKER by MS
 *   coord txn|group KEY BROKER          place a coordinator
 *   leader TOPIC PARTITION BROKER       move a partition's leadership (bumps its epoch);
 *                                       BROKER -1 leaves the partition without a leader
 *   txn-timeout-check                   abort timed-out transactions now
 *   quit
 */
#ifndef KB_CLUSTER_H
#define KB_CLUSTER_H

#include "groups.h"
#include "plog.h"
#include "txncoord.h"

#define KB_MAX_BROKERS 16
#define KB_MAX_PARTITIONS 1024
#define KB_MAX_TOPICS 4096
#define KB_MAX_INJECT 64
/* How long a restarted broker refuses connections. */
#define KB_RESTART_REFUSE_MS 300

/* Fault codes of `err`/`berr` that are not Kafka error codes. */
#define KB_FAULT_DROP (-1)            /* drop the connection instead of applying the request */
#define KB_FAULT_APPLY_THEN_DROP (-2) /* apply the request, then drop without answering */

struct kb_partition {
    int32_t index;
    int32_t leader;
    int32_t leader_epoch;
    struct kb_plog log;
    size_t n_persisted; /* batches of |log| already written to the data directory */
};

struct kb_topic {
    char *name;
    struct ktx__uuid topic_id;
    int32_t replication;
    struct kb_partition *partitions;
    int32_t n_partitions;
};

/* One queued `berr` of a broker. */
struct kb_broker_err {
    int16_t api_key;
    int16_t code;
    int64_t delay_ms;
};

struct kb_broker {
    int32_t node_id;
    int32_t port;        /* set by the server once listening */
    bool up;
    int64_t rtt_ms;
    struct kb_broker_err errs[KB_MAX_INJECT]; /* queued berr, oldest first */
    int n_errs;
    uint32_t generation; /* bumped by down/restart: the server drops older connections */
    bool restart_pending; /* set by `restart`; the server clears it once it restarted it */
};

/* A one-shot error injection (err). */
struct kb_inject {
    int16_t api_key;
    int32_t remaining;
    int16_t code;
};

/* A coordinator placed by `coord`. */
struct kb_coord_override {
    int8_t key_type; /* 0 group, 1 transaction */
    char *key;
    int32_t node_id;
};

struct kb_cluster {
    struct kb_broker brokers[KB_MAX_BROKERS];
    int32_t n_brokers;
    struct kb_topic *topics;
    size_t n_topics;
    size_t cap_topics;
    struct kb_txncoord txncoord;
    struct kb_groups groups;
    struct kb_inject injects[KB_MAX_INJECT];
    int n_injects;
    struct kb_coord_override *overrides;
    size_t n_overrides;
    int32_t auto_create_partitions; /* 0: unknown topics are not created */
    bool dirty_state;               /* coordinator/groups changed since the last save */
    bool quit;
    bool timeout_check_requested;
};

/* Initialises a cluster of |n_brokers| (1..KB_MAX_BROKERS) live brokers. Broker ids start
 * at 1 (the cluster control interface of tests/cluster.h): broker id k is brokers[k - 1].
 * |txn_conf| configures the transaction coordinator (NULL for defaults). */
void kb_cluster_init(struct kb_cluster *c, int32_t n_brokers, const struct kb_txncoord_conf *txn_conf);
void kb_cluster_free(struct kb_cluster *c);

/*
 * Creates topic |name| with |partitions| partitions; partition i is led by broker
 * (i % n_brokers) + 1. Returns 0, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
 * INVALID_REPLICATION_FACTOR, INVALID_TOPIC_EXCEPTION or KTX_ERR_NO_MEMORY.
 */
int kb_cluster_add_topic(struct kb_cluster *c, const char *name, int32_t partitions,
                         int32_t replication);

/* Looks a topic up by name (|len| bytes, not NUL-terminated) or by id; NULL when absent. */
struct kb_topic *kb_cluster_topic(const struct kb_cluster *c, const char *name, size_t len);
struct kb_topic *kb_cluster_topic_by_id(const struct kb_cluster *c, struct ktx__uuid id);
/* Returns partition |index| of |topic| or NULL. */
struct kb_partition *kb_cluster_partition(const struct kb_topic *topic, int32_t index);

/* Returns broker |node_id| (1-based) or NULL when there is none. */
struct kb_broker *kb_cluster_broker(struct kb_cluster *c, int32_t node_id);
/* True when broker |node_id| exists and is up. */
bool kb_cluster_broker_up(const struct kb_cluster *c, int32_t node_id);

/* The broker that coordinates |key| of |key_type| (0 group, 1 transaction): a `coord`
 * override, else a hash of the key over all brokers. */
int32_t kb_cluster_coordinator(const struct kb_cluster *c, int8_t key_type, const char *key,
                               size_t len);

/*
 * Fault injection for a request of |api_key| arriving at |node_id|: stores the error code
 * to answer with (0 for none; -1 means drop the connection) in |*code| and the extra delay
 * in |*delay_ms|. Consumes the broker's oldest `berr` for the API when there is one, else
 * one `err` injection when one applies.
 */
void kb_cluster_faults(struct kb_cluster *c, int32_t node_id, int16_t api_key, int16_t *code,
                       int64_t *delay_ms);

/*
 * Writes the transaction markers of |markers| to the partition logs, resolves the pending
 * offsets of its groups, and reports the markers written to the coordinator.
 * Returns 0 or the first error met (the other markers are still written).
 */
int kb_cluster_write_markers(struct kb_cluster *c, const struct kb_txn_markers *markers,
                             int64_t now_ms);

/*
 * Forgets every topic, log, coordinator record and group offset, as a crash would, and
 * leaves an empty coordinator and group store with the same configuration, ready for the
 * data directory to be loaded again. Brokers, fault injections and coordinator placements
 * are kept (they are the test's, not the cluster's). Leadership is to be saved by the
 * caller first when it must survive: topics are recreated with their default leaders.
 */
void kb_cluster_forget_state(struct kb_cluster *c);

/* Aborts every timed-out transaction and completes those due. Returns 0 or an error. */
int kb_cluster_tick(struct kb_cluster *c, int64_t now_ms);

/*
 * Runs one control command |line| (NUL-terminated, without newline). Writes "OK" or
 * "ERR <reason>" (NUL-terminated) into |reply| of |reply_len| bytes. Network effects are
 * left to the server: it watches |up|, |generation| and |quit|.
 */
void kb_cluster_command(struct kb_cluster *c, const char *line, int64_t now_ms, char *reply,
                        size_t reply_len);

#endif /* KB_CLUSTER_H */
