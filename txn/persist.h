/*
 * The persisted producer state wired into the producer (docs/guarantees.md): the glue
 * between the state store (store.h) and the idempotence layer (idempotence.h).
 *
 * - persist.c: opens the store when the producer is created with state.path set, loads the
 *   previous run's identity, last transaction and checkpoint (the restart report), seeds the
 *   idempotence layer with the persisted producer id and epoch (a KIP-360 bump of that id
 *   on the first InitProducerId), saves every new producer id and epoch, and detects the
 *   KTX_ERR_PRODUCER_ID_RESET boundary (the broker handed out another id).
 * - persist_api.c: the public ktx_checkpoint() and ktx_last_transaction().
 *
 * Thread: the store is used from the sender thread (hooks) and from application threads
 * (ktx_checkpoint()); every use holds |lock|.
 */
#ifndef KTX_PERSIST_H
#define KTX_PERSIST_H

#include <pthread.h>
#include <stdatomic.h>

#include "idempotence.h"
#include "store.h"

/* The identity used for an idempotent producer without state.producer.name. */
#define KTX__PERSIST_DEFAULT_NAME "default"

/* What the previous run left behind (copied into ktx_restart_report_t). */
struct ktx__persist_report {
    enum ktx__store_txn_state txn_state; /* the last transaction's state in the file */
    int64_t producer_id;                 /* of the previous run, -1 if none */
    int16_t producer_epoch;
    uint8_t *position;                   /* the checkpoint found at open; owned, or NULL */
    size_t position_len;
    int64_t updated_ms;                  /* when the last transaction's state was written */
};

/* The sequences of one partition that the previous run closed cleanly with. */
struct ktx__persist_seed {
    char *topic;                    /* owned */
    int32_t partition;
    int32_t next_sequence;
    int32_t last_acked_sequence;
    bool applied;                   /* handed to the idempotence layer (or dropped) */
};

/* A batch in the journal: in memory, the previous run's batches to re-send (with their
 * bytes) and this run's journaled batches not yet deleted (without bytes). */
struct ktx__journal_entry {
    char *topic;                    /* owned */
    int32_t partition;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
    uint8_t *bytes;                 /* owned; NULL for this run's entries */
    size_t len;
    bool acked;                     /* acknowledged; deleted at the next group commit */
};

struct ktx__journal_async;

/* A checkpoint the application gave in journal mode, not yet written: it covers the
 * batches whose seal_gen is below |seal| (txn/journal.c). */
struct ktx__journal_ckpt {
    uint64_t seal;                  /* ktx__accumulator_seal() count of the call */
    uint8_t *position;              /* owned */
    size_t len;
};

/* The persisted state of one producer. */
struct ktx__persist {
    pthread_mutex_t lock;           /* guards everything below */
    struct ktx__store *store;       /* owned */
    struct ktx__persist_report report;
    struct ktx__persist_seed *seeds; /* the previous run's clean sequences; owned */
    size_t seed_cnt;
    size_t seeds_left;              /* seeds not applied yet */
    bool resumed;                   /* the run continues the persisted id without a bump */
    int64_t saved_id;               /* the producer id and epoch last saved to the store */
    int16_t saved_epoch;
    uint64_t seen_bumps;            /* idem->epoch_bumps when the identity was last saved */
    bool first_identity_seen;       /* this run's first InitProducerId answer was checked */
    bool id_reset;                  /* the broker forgot the persisted id: a new one is used */
    int store_err;                  /* the first failed write (KTX_ERR_STORE), or 0 */
    /* The run_first hook the persisted state wraps (the idempotence layer's or the
     * transaction manager's). */
    bool (*next_run_first)(void *opaque, struct ktx__sender *sender, int64_t now,
                           int64_t *timeout_ms);
    /* The assign and destroy hooks it wraps likewise. */
    bool (*next_assign)(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                        int16_t *producer_epoch, int32_t *base_sequence, bool *transactional);
    void (*next_destroy)(void *opaque);
    bool transactional;             /* the producer has a transactional.id */
    enum ktx__store_txn_state txn_state; /* the transaction state last written */
    uint8_t *pending_position;      /* a transactional producer's checkpoint, written with
                                       the COMMITTING state; owned */
    size_t pending_len;
    bool pending_set;
    /* Transactional producers (docs/guarantees.md section 3): at most one store commit per
     * transaction. The file holds the last written state with two positions (a frame, see
     * persist.c): the last known committed one and the one the transaction in COMMITTING
     * moves to. */
    enum ktx__store_txn_state logical; /* where the state machine is (written or not) */
    uint8_t *committed_pos;         /* the last known committed position; owned */
    size_t committed_len;
    bool committed_set;
    int64_t committing_id;          /* the identity written with the last COMMITTING, */
    int16_t committing_epoch;       /* -1/-1 when the file does not say COMMITTING */
    uint8_t *resolve_pos;           /* a COMMITTING file's pending position; owned */
    size_t resolve_len;
    bool resolve_set;
    bool resolving;                 /* COMMITTING at open: DescribeTransactions first */
    int resolve_attempts;
    bool kip360;                    /* the first InitProducerId carries the persisted id */
    uint64_t inits_answered;        /* InitProducerId answers (their identity is saved) */
    uint64_t inits_saved;
    bool end_written;               /* this transaction's COMMITTING is in the file */
    bool frame_error;               /* the checkpoint row is not a valid frame */
    uint8_t *retired_position;      /* the report's position before the resolution (a
                                       report read earlier borrows it); owned */
    bool committed_dirty;           /* |committed_pos| moved since the last write */
    /* The durable journal (state.journal=true, txn/journal.c). */
    bool journal;
    struct ktx__journal_entry *live; /* this run's journaled batches; owned */
    size_t live_cnt, live_cap;
    struct ktx__journal_entry *replay; /* the previous run's journal, re-sent first; owned */
    size_t replay_cnt, replay_cap;
    size_t replay_done;             /* entries of |replay| acknowledged */
    bool replay_in_flight;
    int16_t replay_version;         /* Produce version of the replay request in flight */
    int replay_attempts;
    bool replay_logged;
    int64_t replay_next_ms;
    /* Checkpoints tied to batch boundaries (journal mode, txn/journal.c). */
    atomic_bool gated;              /* batches after the newest checkpoint are held back */
    _Atomic uint64_t ckpt_requested; /* seal count of the newest ktx_checkpoint() */
    uint64_t ckpt_stored;           /* seal count of the checkpoint in the store (sender) */
    struct ktx__journal_ckpt *ckpts; /* given, not yet written, by seal; guarded by lock */
    size_t ckpt_cnt, ckpt_cap;
    struct ktx__batch **held;       /* drained, neither journaled nor sent (sender) */
    size_t held_cnt, held_cap;
    int max_in_flight;              /* batches in flight per partition (accumulator) */
    uint64_t turns;                 /* drained hook calls (sender turns that drained) */
    struct ktx__journal_async *async; /* the journal thread and its commits (journal.c) */
    int64_t opened_ms;              /* when the journal was loaded (monotonic clock) */
    bool (*next_may_drain)(void *opaque, const struct ktx__batch *batch);
    bool (*next_has_pending)(void *opaque);
    enum ktx__produce_verdict (*next_produce_result)(void *opaque, struct ktx__sender *sender,
                                                     const struct ktx__batch *batch,
                                                     const struct ktx__produce_outcome *out,
                                                     int *final_err);
};

/* ---- journal.c ---- */

/* Loads the previous run's journal into |persist->replay|. Returns 0, KTX_ERR_NO_MEMORY or
 * KTX_ERR_STORE. Thread: the creator. */
int ktx__journal_load(struct ktx__persist *persist);

/* The may_drain hook in journal mode (|opaque| is the idempotence layer): nothing new while
 * the previous run's journal is re-sent, at most KTX__STORE_JOURNAL_MAX_PER_PARTITION
 * journaled batches per partition. */
bool ktx__journal_may_drain(void *opaque, const struct ktx__batch *batch);

/* The drained hook: journals |batches| (|count|, borrowed) with the acknowledgements and
 * the newest checkpoint they complete in one store transaction; takes the batches that a
 * stored checkpoint does not cover yet out of the turn (NULL slots, held until it is).
 * Without checkpoints it takes every new batch out of the turn and the journal thread
 * commits them (sent by a later turn, ktx__journal_idle()). Returns 0 or KTX_ERR_STORE
 * (the producer is then fatal and the batches must not be sent). */
int ktx__journal_drained(void *opaque, struct ktx__sender *sender, struct ktx__batch **batches,
                         size_t count);

/* ktx_checkpoint() in journal mode: seals the open batches and queues |position| (|len|
 * bytes, copied) to be written with the batches it covers. Thread: application.
 * Returns 0 or KTX_ERR_NO_MEMORY. */
int ktx__journal_checkpoint(struct ktx__idem *idem, const void *position, size_t len);

/* True while batches are held back for a checkpoint that is not written yet, or wait for
 * (or, committed, to be sent after) an asynchronous journal commit. */
bool ktx__journal_has_held(const struct ktx__persist *persist);

/* Stops the journal thread (after its running commit) and completes the held and the
 * asynchronously journaled batches with |err| (the producer is being destroyed). */
void ktx__journal_purge_held(struct ktx__idem *idem, int err);

/* Logs the store's commit statistics of this run (one INFO line, facility "persist"). */
void ktx__journal_log_stats(struct ktx__idem *idem);

/* The produce_result hook in journal mode: wraps the next one and marks a completed batch
 * acknowledged. */
enum ktx__produce_verdict ktx__journal_produce_result(void *opaque, struct ktx__sender *sender,
                                                      const struct ktx__batch *batch,
                                                      const struct ktx__produce_outcome *out,
                                                      int *final_err);

/* At the start of a turn: sends the batches the journal thread committed and hands it the
 * next group (or settles the asynchronous commits before a synchronous one); commits
 * acknowledgements and a waiting checkpoint when nothing is left to drain (so that an idle
 * producer still deletes acknowledged batches). */
void ktx__journal_idle(struct ktx__idem *idem);

/* Re-sends the previous run's journal, one batch at a time, to the partition leaders.
 * Returns true while it is not finished (no new data may be sent). Thread: sender. */
bool ktx__journal_replay(struct ktx__idem *idem, struct ktx__sender *sender, int64_t now,
                         int64_t *timeout_ms);

/* Forgets this run's journaled batches in memory (after the store's journal was cleared). */
void ktx__journal_discard(struct ktx__persist *persist);

/* Frees the journal's memory. */
void ktx__journal_free(struct ktx__persist *persist);

/*
 * Opens the state store for the producer whose idempotence layer is |idem| (borrowed; the
 * persist object is then owned by |idem| and freed with it) and configuration |v| (borrowed
 * for the call). Does nothing and returns 0 when |v| has no state.path. Loads the identity,
 * the last transaction and the checkpoint; an idempotent producer with a persisted producer
 * id asks the broker to bump that id's epoch instead of taking a new id.
 * On failure writes a message naming the file to |errbuf| (|errlen| bytes).
 * Thread: the creator, before the sender starts.
 * Returns 0, KTX_ERR_NO_MEMORY, KTX_ERR_UNSUPPORTED (state.journal=true with a
 * transactional.id or without idempotence) or KTX_ERR_STORE (lock held elsewhere, corrupt file, read-only
 * directory...).
 */
int ktx__persist_open(struct ktx__idem *idem, const struct ktx__conf_values *v, char *errbuf,
                      size_t errlen);

/*
 * Called by the idempotence layer at the start of each sender turn: saves a producer id or
 * epoch that changed since the last save, and flags the id reset boundary once. A store
 * failure makes the producer fatal (KTX_ERR_STORE): the guarantee is never weakened
 * silently. Thread: sender.
 */
void ktx__persist_sync_identity(struct ktx__idem *idem);

/*
 * Called when the idempotence layer is destroyed (the sender thread has ended): when the
 * run ends cleanly (no fatal error, every sequence acknowledged or never sent), saves each
 * partition's sequences so that the next run continues the same producer id and epoch
 * without asking the broker; then closes the store and frees the persisted state.
 */
void ktx__persist_close(struct ktx__idem *idem);

/*
 * Keeps |position| (|len| bytes, copied) as the checkpoint of the open transaction of a
 * transactional producer: it is written in the same store transaction as the COMMITTED
 * state, and dropped when the transaction aborts. Thread: any; takes |persist->lock|.
 * Returns 0 or KTX_ERR_NO_MEMORY.
 */
int ktx__persist_set_pending(struct ktx__persist *persist, const void *position, size_t len);

/* ---- Transactional producers (persist.c), called by txn_requests.c ---- */

struct ktx__describe_transactions_state;
struct ktx__txnmgr;

/* The two positions of a transactional identity's checkpoint row (borrowed pointers). */
struct ktx__persist_frame {
    const uint8_t *committed;       /* the last known committed position */
    size_t committed_len;
    bool committed_set;
    const uint8_t *pending;         /* COMMITTING: the position the transaction moves to */
    size_t pending_len;
    bool pending_set;
};

/* Decodes the checkpoint row |p| (|len| bytes; NULL: none) into |*f| (pointing into |p|).
 * A row without the frame's magic is an older file's plain committed position. Returns 0
 * or KTX_ERR_BAD_MSG for a damaged frame. Bounds-checked (tests/fuzz/fuzz_persist_frame.c). */
int ktx__persist_frame_decode(const uint8_t *p, size_t len, struct ktx__persist_frame *f);

/* Encodes |f| into a malloc'ed row; stores its length in |*len|. NULL when out of memory. */
uint8_t *ktx__persist_frame_encode(const struct ktx__persist_frame *f, size_t *len);

/*
 * EndTxn(|commit|) is about to be sent (also a retry): writes COMMITTING with the identity
 * and the transaction's position (once per transaction), or, for an abort, ABORTED when the
 * file says COMMITTING. Returns 0, or KTX_ERR_STORE (the producer is made fatal and EndTxn
 * must not be sent).
 */
int ktx__persist_txn_end_sending(struct ktx__idem *idem, bool commit);

/*
 * EndTxn(|commit|) succeeded, or the transaction ended without EndTxn (nothing was added),
 * before the state machine completes it: the committed position moves forward, or the
 * aborted transaction's checkpoint is dropped. Transactions v1 (the epoch did not change
 * since this transaction's COMMITTING was written) write COMMITTED.
 */
void ktx__persist_txn_ended(struct ktx__idem *idem, bool commit);

/* Sends DescribeTransactions for the manager's transactional id (txn_requests.c). Returns 0
 * or the ktx__net_send() error. */
int ktx__txnreq_describe_transactions(struct ktx__txnmgr *mgr, int64_t now);

/*
 * The persisted state's step before the transaction manager's while the previous run's
 * last transaction is in COMMITTING: once ktx_init_transactions() started and the
 * coordinator is ready, sends DescribeTransactions (before InitProducerId, which would
 * complete that transaction). Returns true when it sent the request (the manager must not
 * run this turn). Thread: sender.
 */
bool ktx__persist_txn_resolve_step(struct ktx__idem *idem, int64_t now);

/*
 * The DescribeTransactions answer for the previous run's transaction: |code| (a transport
 * or top-level error, or the state's error code) and |st| (NULL when |code| is set).
 * Decides KTX_TXN_COMMITTED / KTX_TXN_ABORTED / KTX_TXN_UNKNOWN for the restart report
 * and writes the decision (one store commit); a retriable error returns true (ask again).
 */
bool ktx__persist_txn_described(struct ktx__idem *idem, int code,
                                const struct ktx__describe_transactions_state *st);

/* An InitProducerId answer was adopted (its identity is saved at the next turn). */
void ktx__persist_txn_init_done(struct ktx__idem *idem);

/*
 * InitProducerId answered |code| PRODUCER_FENCED or INVALID_PRODUCER_EPOCH. When the request
 * carried the persisted id and epoch (KIP-360 after a restart), falls back to -1/-1 as a
 * fresh producer (Kafka's Java client) and returns true: the caller retries. Else false.
 */
bool ktx__persist_txn_init_fenced(struct ktx__idem *idem, int code);

/* Closes the store and frees |persist| (NULL is ignored). */
void ktx__persist_free(struct ktx__persist *persist);

#endif /* KTX_PERSIST_H */
