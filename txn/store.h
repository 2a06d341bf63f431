/*
 * The state store: a SQLite file (state.path) that keeps, per producer identity (the
 * transactional.id, or state.producer.name for an idempotent producer), the producer id and
 * epoch, the state of the last transaction with its partitions and groups, the sequence
 * state of every partition, a journal of sealed batches not yet acknowledged, and an opaque
 * application checkpoint. docs/state-store.md describes the schema, the migrations, the
 * locking, the sync modes and the failure behaviour.
 *
 * Only store_sqlite.c includes sqlite3.h; nothing here exposes SQLite types.
 *
 * Thread: a store handle is used by one thread at a time (the sender thread); it has no
 * locks of its own. Different handles (different identities) may be used concurrently,
 * also from different processes on the same file.
 *
 * Errors: every function returns 0 or a KTX_ERR_* code. KTX_ERR_STORE means SQLite or the
 * file system failed; the message (naming the file and the SQLite error) is read with
 * ktx__store_errmsg(). After a failed write the store is in a failed state: every further
 * write returns KTX_ERR_STORE until the handle is closed and the file reopened.
 */
#ifndef KTX_STORE_H
#define KTX_STORE_H

#include "conf.h"
#include "ktx_int.h"

/* The schema version this code writes; older files are migrated forward on open. */
#define KTX__STORE_SCHEMA_VERSION 2

/* The broker deduplicates only the last 5 batches per partition and producer. */
#define KTX__STORE_JOURNAL_MAX_PER_PARTITION 5

/* Ceilings on what the store accepts (and what it loads back). */
#define KTX__STORE_MAX_BATCH_BYTES (64 * 1024 * 1024)
#define KTX__STORE_MAX_CHECKPOINT_BYTES (16 * 1024 * 1024)
#define KTX__STORE_MAX_NAME_LEN 32767 /* identity, topic and group names (Kafka's STRING) */

/* How long a write waits for another process's write transaction before failing. */
#define KTX__STORE_BUSY_TIMEOUT_MS 5000

struct ktx__store;

/* The state of the last transaction. The values are stored in the file: never renumber. */
enum ktx__store_txn_state {
    KTX__STORE_TXN_NONE = 0,       /* no transaction was ever begun */
    KTX__STORE_TXN_ONGOING = 1,    /* begun; partitions and groups may be joining */
    KTX__STORE_TXN_COMMITTING = 2, /* EndTxn(commit) is being sent */
    KTX__STORE_TXN_COMMITTED = 3,  /* the coordinator accepted the commit */
    KTX__STORE_TXN_ABORTING = 4,   /* EndTxn(abort) is being sent */
    KTX__STORE_TXN_ABORTED = 5     /* the coordinator accepted the abort */
};

/* The producer identity row. */
struct ktx__store_producer {
    int64_t producer_id;      /* -1 until one was saved */
    int16_t producer_epoch;   /* -1 until one was saved */
    char *transactional_id;   /* NULL for idempotent producers; see ktx__store_producer_clear() */
    int64_t created_ms;       /* wall clock (ms since the epoch) of the first open */
    int64_t updated_ms;       /* wall clock of the last save */
};

/* A partition that joined the last transaction. */
struct ktx__store_tp {
    char *topic;
    int32_t partition;
};

/* The last transaction: its state, its partitions and its consumer groups. */
struct ktx__store_txn {
    enum ktx__store_txn_state state;
    int64_t updated_ms;              /* wall clock of the last state change */
    struct ktx__store_tp *partitions;
    size_t partition_cnt;
    char **groups;
    size_t group_cnt;
};

/* The sequence state of one partition. |topic| is borrowed in both directions. */
struct ktx__store_seq {
    const char *topic;
    int32_t partition;
    int64_t producer_id;          /* the producer id and epoch the sequences belong to */
    int16_t producer_epoch;
    int32_t next_sequence;        /* the base sequence of the next new batch */
    int32_t last_acked_sequence;  /* the last sequence the broker acknowledged, or -1 */
};

/* A sealed batch in the journal. All pointers are borrowed in both directions. */
struct ktx__store_batch {
    const char *topic;
    int32_t partition;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
    const uint8_t *bytes;    /* the exact bytes of the RecordBatch as sent */
    size_t len;
    int64_t appended_ms;     /* set by the store on append; read back by the loader */
};

/* Commit counters and the commit latency histogram (see ktx__store_stats()). */
#define KTX__STORE_HIST_BUCKETS 32 /* bucket i counts commits of [2^(i-1), 2^i) us; 0: <1 us */
struct ktx__store_stats {
    uint64_t commits;          /* SQLite write transactions committed by this handle */
    uint64_t rollbacks;        /* write transactions rolled back */
    uint64_t checkpoints;      /* WAL checkpoints run by this handle */
    uint64_t fsync_estimate;   /* fsyncs implied by the sync mode, commits and checkpoints */
    uint64_t commit_last_us;   /* duration of the last COMMIT */
    uint64_t commit_max_us;    /* longest COMMIT */
    uint64_t commit_hist[KTX__STORE_HIST_BUCKETS];
};

/* Callbacks of the loaders: return 0 to go on, anything else stops the load and is returned. */
typedef int (*ktx__store_seq_cb)(void *opaque, const struct ktx__store_seq *seq);
typedef int (*ktx__store_batch_cb)(void *opaque, const struct ktx__store_batch *batch);

/*
 * Opens (creating it when missing) the state file |path| for |identity| with the sync mode
 * |sync|: takes the identity's lock (the side file "<path>.<identity>.lock", see
 * docs/state-store.md), checks that the file is a kafkatx state file that passes SQLite's
 * quick_check, migrates an older schema forward in one transaction, switches to WAL and
 * creates the identity's producer row when missing.
 *
 * |path| and |identity| are copied. On success stores the handle in |*out|; the caller
 * closes it with ktx__store_close(). On failure leaves |*out| NULL and writes a message
 * naming the file (and the identity or SQLite error) to |errbuf| (|errlen| bytes, may be 0).
 * Blocks on file I/O (and up to KTX__STORE_BUSY_TIMEOUT_MS on another process's write).
 *
 * Returns 0; KTX_ERR_INVALID_ARG for an empty path or identity; KTX_ERR_NO_MEMORY;
 * KTX_ERR_STORE when the identity is already open (in this or another process), the file
 * cannot be created, read or written, is not a database, is corrupt, is not a kafkatx
 * state file, has a schema newer than KTX__STORE_SCHEMA_VERSION, or a migration failed
 * (then the file is left as it was).
 */
int ktx__store_open(struct ktx__store **out, const char *path, const char *identity,
                    enum ktx__state_sync sync, char *errbuf, size_t errlen);

/*
 * Closes |store| (NULL is ignored): rolls back an open store transaction, closes SQLite
 * (checkpointing the WAL when this is the last connection) and releases the identity lock.
 */
void ktx__store_close(struct ktx__store *store);

/*
 * Returns the message of the last failed call on |store| ("" when none failed). The string
 * is owned by |store| and valid until its next call.
 */
const char *ktx__store_errmsg(const struct ktx__store *store);

/* Returns true when a failed write put |store| in the failed state (see the top comment). */
bool ktx__store_failed(const struct ktx__store *store);

/* Returns the file path |store| was opened with; owned by |store|. */
const char *ktx__store_path(const struct ktx__store *store);

/*
 * Begins a store transaction: every write until ktx__store_txn_commit() is one SQLite
 * write transaction (one fsync with sync full). Writes outside a store transaction commit
 * one by one. Returns 0, KTX_ERR_STATE when one is already open, KTX_ERR_STORE.
 */
int ktx__store_txn_begin(struct ktx__store *store);

/*
 * Commits the open store transaction, counting it and its duration in the stats.
 * Returns 0, KTX_ERR_STATE when none is open, KTX_ERR_STORE (the writes are rolled back and
 * the store is failed).
 */
int ktx__store_txn_commit(struct ktx__store *store);

/* Rolls back the open store transaction. Returns 0 or KTX_ERR_STATE when none is open. */
int ktx__store_txn_rollback(struct ktx__store *store);

/*
 * Loads the identity's producer row into |*out|, which the caller releases with
 * ktx__store_producer_clear(). producer_id and producer_epoch are -1 when none was saved.
 * Returns 0, KTX_ERR_NO_MEMORY or KTX_ERR_STORE.
 */
int ktx__store_load_producer(struct ktx__store *store, struct ktx__store_producer *out);

/*
 * Saves producer_id, producer_epoch and transactional_id (may be NULL) of |rec| (borrowed)
 * to the identity's row. Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_STORE.
 */
int ktx__store_save_producer(struct ktx__store *store, const struct ktx__store_producer *rec);

/* Frees what ktx__store_load_producer() allocated in |rec|; NULL-safe. */
void ktx__store_producer_clear(struct ktx__store_producer *rec);

/*
 * Sets the state of the last transaction to |state| and stamps the time. Setting ONGOING
 * while the previous transaction is finished (NONE, COMMITTED, ABORTED) starts a new one:
 * its partitions and groups are forgotten. Returns 0, KTX_ERR_INVALID_ARG, KTX_ERR_STORE.
 */
int ktx__store_set_txn_state(struct ktx__store *store, enum ktx__store_txn_state state);

/*
 * Records that |topic| |partition| (borrowed) joined the last transaction; recording it
 * twice is harmless. Returns 0, KTX_ERR_INVALID_ARG, KTX_ERR_STORE.
 */
int ktx__store_txn_add_partition(struct ktx__store *store, const char *topic, int32_t partition);

/* As ktx__store_txn_add_partition() for the consumer group |group_id| (borrowed). */
int ktx__store_txn_add_group(struct ktx__store *store, const char *group_id);

/*
 * Loads the last transaction into |*out| (partitions sorted by topic and partition, groups
 * by name); the caller releases it with ktx__store_txn_clear().
 * Returns 0, KTX_ERR_NO_MEMORY or KTX_ERR_STORE.
 */
int ktx__store_get_txn(struct ktx__store *store, struct ktx__store_txn *out);

/* Frees what ktx__store_get_txn() allocated in |txn|; NULL-safe. */
void ktx__store_txn_clear(struct ktx__store_txn *txn);

/* Returns the name of |state| ("ongoing", ...) or "unknown"; static. */
const char *ktx__store_txn_state_name(enum ktx__store_txn_state state);

/*
 * Saves (inserts or replaces) the sequence state |seq| (borrowed) of its partition.
 * Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_STORE.
 */
int ktx__store_save_sequence(struct ktx__store *store, const struct ktx__store_seq *seq);

/*
 * Calls |cb| with |opaque| once per saved partition, sorted by topic and partition. The
 * struct and its topic are valid during the call only; |cb| must not call the store.
 * Returns 0, the callback's non-zero value, or KTX_ERR_STORE (also for a row that breaks
 * the schema, e.g. a NULL topic in a hand-edited file).
 */
int ktx__store_load_sequences(struct ktx__store *store, ktx__store_seq_cb cb, void *opaque);

/*
 * Forgets the sequence state of every partition of the identity (after a new producer id or
 * epoch). Returns 0 or KTX_ERR_STORE.
 */
int ktx__store_reset_sequences(struct ktx__store *store);

/*
 * Appends the sealed batch |batch| (borrowed; its bytes are copied) to the journal, before
 * it is sent. Returns 0; KTX_ERR_INVALID_ARG; KTX_ERR_STATE, without writing, when the
 * partition already holds KTX__STORE_JOURNAL_MAX_PER_PARTITION unacknowledged batches (the
 * broker would not deduplicate a 6th); KTX_ERR_STORE.
 */
int ktx__store_journal_append(struct ktx__store *store, const struct ktx__store_batch *batch);

/*
 * Deletes the journaled batch of |topic| |partition| with |producer_id|, |producer_epoch| and
 * |base_sequence| once the broker acknowledged it. Returns 0, KTX_ERR_STATE when no such
 * batch is journaled, KTX_ERR_INVALID_ARG or KTX_ERR_STORE.
 */
int ktx__store_journal_ack(struct ktx__store *store, const char *topic, int32_t partition,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);

/*
 * Deletes every journaled batch of |topic| |partition|, or of every partition when |topic|
 * is NULL (after an abort or an epoch bump made them useless). Returns 0 or KTX_ERR_STORE.
 */
int ktx__store_journal_discard(struct ktx__store *store, const char *topic, int32_t partition);

/*
 * Calls |cb| with |opaque| once per journaled batch in append order (so in append order per
 * partition). The struct and its pointers are valid during the call only; |cb| must not
 * call the store. Returns 0, the callback's non-zero value, or KTX_ERR_STORE (also for a row
 * that breaks the schema).
 */
int ktx__store_journal_load(struct ktx__store *store, ktx__store_batch_cb cb, void *opaque);

/*
 * Stores the number of journaled batches of |topic| (borrowed) |partition| in |*count|.
 * Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_STORE (then |*count| is 0).
 */
int ktx__store_journal_count(struct ktx__store *store, const char *topic, int32_t partition,
                             size_t *count);

/*
 * Replaces the application checkpoint with |len| bytes at |data| (copied; NULL with 0
 * clears it). Inside a store transaction it commits (or rolls back) together with the
 * journal appends of that transaction. Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_STORE.
 */
int ktx__store_checkpoint_set(struct ktx__store *store, const void *data, size_t len);

/*
 * Loads the application checkpoint: stores a malloc'ed copy the caller frees in |*data| and
 * its length in |*len| (NULL and 0 when none is set). Returns 0, KTX_ERR_NO_MEMORY or
 * KTX_ERR_STORE.
 */
int ktx__store_checkpoint_get(struct ktx__store *store, uint8_t **data, size_t *len);

/* Copies the counters of |store| to |*out|. Never fails. */
void ktx__store_stats(const struct ktx__store *store, struct ktx__store_stats *out);

/*
 * Returns the upper bound in microseconds of the bucket holding quantile |q| (0..1) of the
 * commit durations in |stats|, or 0 when nothing was committed.
 */
uint64_t ktx__store_stats_quantile_us(const struct ktx__store_stats *stats, double q);

/*
 * For tests and tools only: runs the SQL text |sql| (several statements allowed) on the
 * connection of |store|, e.g. "PRAGMA max_page_count=...". A failure is reported like a
 * failed read (message set, store not failed). Returns 0 or KTX_ERR_STORE.
 */
int ktx__store_debug_exec(struct ktx__store *store, const char *sql);

/*
 * For tests and tools only: opens the file |path| with plain SQLite (no lock, no checks, no
 * migration), runs |sql| and closes it; writes a message to |errbuf| on failure.
 * Returns 0 or KTX_ERR_STORE.
 */
int ktx__store_debug_exec_file(const char *path, const char *sql, char *errbuf, size_t errlen);

/* ---- The identity lock (store_lock.c). ---- */

/*
 * Takes the exclusive lock of |identity| on the state file |path|: creates the side file
 * "<path>.<identity>.lock" (identity bytes other than [A-Za-z0-9._-] are written as %XX) and
 * locks it with flock(LOCK_EX | LOCK_NB), so the second taker fails at once and the lock
 * dies with the process (also on SIGKILL). Writes the holder's pid into the file.
 * On success stores the open descriptor in |*fd|. On failure writes a message naming the
 * file, the identity (and the holder's pid when known) to |errbuf|.
 * Returns 0, KTX_ERR_NO_MEMORY or KTX_ERR_STORE.
 */
int ktx__store_lock_acquire(int *fd, const char *path, const char *identity, char *errbuf,
                            size_t errlen);

/* Releases the lock taken by ktx__store_lock_acquire() and closes |fd| (-1 is ignored). */
void ktx__store_lock_release(int fd);

#endif /* KTX_STORE_H */
