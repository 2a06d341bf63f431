/*
 * The sender: the producer's one background I/O thread, in the shape of Kafka's Java Sender
 * (see /work/shared/seed/sender-run-loop.md):
 *
 *   run:       while running: run_once()
 *              then, unless forced: run_once() while the accumulator has undrained batches,
 *              Produce requests are in flight or the txn layer has pending requests
 *              then the on_shutdown hook (a later milestone aborts an open transaction)
 *              forced close: everything still pending fails with KTX_ERR_PURGED
 *   run_once:  the txn layer's first word (hooks.run_first), then send_producer_data(),
 *              then one ktx__net_poll() with the computed timeout
 *   send_producer_data (sender_produce.c): ready partitions -> unknown leaders ask for
 *              metadata -> brokers not ready are dropped -> one Produce request per ready
 *              broker drained up to max.request.size -> queued batches past
 *              delivery.timeout.ms expire -> poll timeout
 *
 * The thread sleeps only in poll(2) (net.h) and is woken through the net's wakeup
 * descriptor: by the producer when a new batch needs its linger.ms deadline sooner than
 * the current wait ends, when a batch filled while no Produce answer is pending (an answer
 * wakes the thread anyway, and it then drains every sendable batch), on flush and on
 * close. At most one wakeup is written per turn.
 *
 * In-flight batches expire too, as in Kafka's Sender: a batch whose delivery.timeout.ms
 * passes while its request is out is completed with KTX_ERR_MSG_TIMED_OUT at once, and the
 * request keeps a stand-in (no records, no buffer.memory) for the answer. The txn layer sees
 * the expiry through hooks.batch_expired (the partition becomes unresolved, the sequence
 * stays outstanding) and the answer through hooks.produce_result (never retried): an
 * acknowledgement proves the batch landed and resolves the partition, anything else leaves
 * a gap that bumps the epoch. The stand-in never produces a second report.
 *
 * Produce requests are encoded with the incremental encoder straight from the sealed batch
 * bytes into the connection's output buffer (ktx__conn_req.encode): one copy of the batch
 * bytes per request, no intermediate allocation.
 */
#ifndef KTX_SENDER_H
#define KTX_SENDER_H

#include "accumulator.h"
#include "metadata.h"
#include "seam.h"

/* Settings of the sender, from the resolved configuration. */
struct ktx__sender_conf {
    int acks;                    /* -1, 0 or 1 */
    int64_t request_timeout_ms;
    int64_t delivery_timeout_ms;
    int64_t max_request_size;
    int64_t retries;
    int64_t retry_backoff_ms;
    ktx_log_cb_t log_cb;         /* may be NULL */
    void *log_opaque;
    const char *transactional_id; /* borrowed from the configuration; NULL when not set */
};

/* Fills |*sc| from |v| (borrowed). */
void ktx__sender_conf_init(struct ktx__sender_conf *sc, const struct ktx__conf_values *v);

/*
 * Creates a sender over |acc|, |md| and |net| (borrowed: they must outlive the sender, and
 * |net| belongs to the sender thread once it runs). Does not start the thread.
 * Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_NO_MEMORY.
 */
int ktx__sender_new(struct ktx__sender **out, const struct ktx__sender_conf *sc,
                    struct ktx__accumulator *acc, struct ktx__metadata *md,
                    struct ktx__net *net);

/* Starts the thread. Returns 0 or KTX_ERR_NO_MEMORY (no thread could be created). */
int ktx__sender_start(struct ktx__sender *sender);

/*
 * Asks the thread to stop after the graceful drain (|force| false) or at once, failing what
 * is pending with KTX_ERR_PURGED (|force| true; may follow a graceful request). Does not
 * wait. Thread: any.
 */
void ktx__sender_close(struct ktx__sender *sender, bool force);

/* Waits up to |timeout_ms| (negative: forever) for the thread to finish run(). Returns true
 * when it has (or never started). Thread: any application thread. */
bool ktx__sender_wait_stopped(struct ktx__sender *sender, int64_t timeout_ms);

/* Joins the thread (it must have been asked to close), runs the hooks' destroy and frees
 * |sender|. NULL-safe. */
void ktx__sender_destroy(struct ktx__sender *sender);

/*
 * Waits up to |timeout_ms| for the next metadata update (applied or failed) to complete, for
 * application threads waiting for a topic. Returns at once when one completed since
 * |*generation| (which is updated). Thread: any application thread.
 */
void ktx__sender_wait_metadata(struct ktx__sender *sender, uint64_t *generation,
                               int64_t timeout_ms);

/*
 * Wakes the sender unless its current wait ends by |deadline| (the net's monotonic clock,
 * milliseconds) anyway: for a new batch that only needs its linger.ms timer armed.
 * Thread: any.
 */
void ktx__sender_wakeup_by(struct ktx__sender *sender, int64_t deadline);

/*
 * True while Produce answers are pending: their arrival wakes the sender, which then drains
 * every sendable batch, so a batch that filled meanwhile needs no wakeup of its own (it
 * still goes by its linger.ms deadline at the latest). Thread: any. Locks: none (atomic).
 */
bool ktx__sender_awaits_answers(struct ktx__sender *sender);

/* One turn of the loop (also used by tests driving the sender without its thread). */
void ktx__sender_run_once(struct ktx__sender *sender);

/* ---- internal to sender.c / sender_produce.c ---- */

/* Builds, sends and tracks Produce requests; returns the poll timeout (ms). */
int64_t ktx__sender_send_producer_data(struct ktx__sender *sender, int64_t now);

/* Completes |batch| with |err| after the hooks saw it (or at once when closing by force). */
void ktx__sender_fail_batch(struct ktx__sender *sender, struct ktx__batch *batch, int err);

#endif /* KTX_SENDER_H */
