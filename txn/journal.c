/*
 * The durable journal (state.journal=true, docs/guarantees.md): every sealed batch of an
 * idempotent producer is written to the state store (exact bytes, topic, partition,
 * producer id, epoch, base sequence, record count) before it is sent, and deleted once the
 * broker acknowledged it. After a crash the next run resumes the same producer id and epoch
 * and re-sends the journaled bytes first: the broker deduplicates what had landed and
 * appends what had not.
 *
 * Group commit: the sender calls the drained hook once per turn with every batch drained in
 * that turn, and one store transaction holds their appends, the acknowledgements seen since
 * the last commit, the partitions' next sequences and a waiting checkpoint: at most one
 * SQLite commit (one fsync with state.sync=full) per sender turn, never one per record.
 * Without checkpoints the commits run on the journal thread (below, "the journal thread"):
 * a commit collects the turns drained while the previous one ran.
 *
 * Thread: sender (hooks) except ktx__journal_checkpoint() (application threads) and the
 * journal thread. Locks: |persist->lock| around every store call and the pending checkpoint;
 * the journal thread's own mutex around its job flags.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "persist.h"
#include "proto_produce.h"
#include "sender_int.h"

/* Re-sending a journaled batch of the previous run gives up after this many failures. */
#define KTX__JOURNAL_REPLAY_ATTEMPTS 100

/* Frees the entries of |list| (count |cnt|). */
static void entries_free(struct ktx__journal_entry *list, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        free(list[i].topic);
        free(list[i].bytes);
    }
    free(list);
}

/* Appends a copy of |b| (its bytes too when |with_bytes|) to |*list|. Returns 0 or
 * KTX_ERR_NO_MEMORY. */
static int entry_add(struct ktx__journal_entry **list, size_t *cnt, size_t *cap,
                     const struct ktx__store_batch *b, bool with_bytes)
{
    struct ktx__journal_entry *e;

    if (*cnt == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;

        if (!(e = realloc(*list, ncap * sizeof(*e))))
            return KTX_ERR_NO_MEMORY;
        *list = e;
        *cap = ncap;
    }
    e = &(*list)[*cnt];
    memset(e, 0, sizeof(*e));
    if (!(e->topic = strdup(b->topic)))
        return KTX_ERR_NO_MEMORY;
    if (with_bytes && b->len > 0) {
        if (!(e->bytes = malloc(b->len))) {
            free(e->topic);
            return KTX_ERR_NO_MEMORY;
        }
        memcpy(e->bytes, b->bytes, b->len);
    }
    e->len = with_bytes ? b->len : 0;
    e->partition = b->partition;
    e->producer_id = b->producer_id;
    e->producer_epoch = b->producer_epoch;
    e->base_sequence = b->base_sequence;
    e->record_count = b->record_count;
    (*cnt)++;
    return 0;
}

/* ktx__store_batch_cb: keeps a journaled batch of the previous run for the replay. */
static int collect_replay(void *opaque, const struct ktx__store_batch *b)
{
    struct ktx__persist *persist = opaque;

    return entry_add(&persist->replay, &persist->replay_cnt, &persist->replay_cap, b, true);
}

/* Milliseconds of the monotonic clock. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ktx__journal_load(struct ktx__persist *persist)
{
    persist->opened_ms = mono_ms();
    /* A file with a checkpoint belongs to an application that resumes from it: whatever it
     * sends before its first ktx_checkpoint() of this run waits for that call. */
    atomic_store(&persist->gated, persist->report.position != NULL);
    return ktx__store_journal_load(persist->store, collect_replay, persist);
}

/* Returns the index of the live entry of |b|'s identity and sequence, or -1. */
static ssize_t find_live(const struct ktx__persist *persist, const struct ktx__batch *b)
{
    for (size_t i = 0; i < persist->live_cnt; i++) {
        const struct ktx__journal_entry *e = &persist->live[i];

        if (e->partition == b->partition && e->base_sequence == b->base_sequence &&
            e->producer_id == b->producer_id && e->producer_epoch == b->producer_epoch &&
            strcmp(e->topic, b->topic) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Number of live unacknowledged entries of |topic| |partition| (acknowledged ones are
 * deleted in the group commit before any append). */
static size_t live_count(const struct ktx__persist *persist, const char *topic,
                         int32_t partition)
{
    size_t n = 0;

    for (size_t i = 0; i < persist->live_cnt; i++)
        if (!persist->live[i].acked && persist->live[i].partition == partition &&
            strcmp(persist->live[i].topic, topic) == 0)
            n++;
    return n;
}

bool ktx__journal_may_drain(void *opaque, const struct ktx__batch *batch)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;

    if (persist->replay_done < persist->replay_cnt)
        return false;
    /* Records after the newest checkpoint wait for the next one (docs/guarantees.md). */
    if (atomic_load(&persist->gated) && !batch->stamped &&
        batch->seal_gen >= atomic_load(&persist->ckpt_requested))
        return false;
    if (persist->next_may_drain && !persist->next_may_drain(opaque, batch))
        return false;
    /* A retry of a journaled batch is already counted; a new batch needs a free slot. */
    if (batch->stamped && find_live(persist, batch) >= 0)
        return true;
    return live_count(persist, batch->topic, batch->partition) <
           KTX__STORE_JOURNAL_MAX_PER_PARTITION;
}

/* Deletes the acknowledged live entries from the store and from memory (in the open store
 * transaction). Returns 0 or the store error. */
static int flush_acks(struct ktx__persist *persist)
{
    size_t k = 0;
    int err = 0;

    for (size_t i = 0; i < persist->live_cnt; i++) {
        struct ktx__journal_entry *e = &persist->live[i];

        if (e->acked && err == 0)
            err = ktx__store_journal_ack(persist->store, e->topic, e->partition,
                                         e->producer_id, e->producer_epoch, e->base_sequence);
        if (e->acked && err == 0) {
            free(e->topic);
            continue;
        }
        persist->live[k++] = *e;
    }
    persist->live_cnt = k;
    return err;
}

/* Saves the sequences of |batch|'s partition as of its end: the next run resumes right
 * after the last journaled batch (a held batch after it was never sent). */
static int save_next_sequence(struct ktx__persist *persist, struct ktx__idem *idem,
                              const struct ktx__batch *batch)
{
    struct ktx__idem_part *p = ktx__seq_part(idem, batch->part);
    struct ktx__store_seq seq = {batch->topic, batch->partition, idem->producer_id,
                                 idem->producer_epoch, 0, -1};

    if (!p)
        return KTX_ERR_NO_MEMORY;
    seq.next_sequence = (int32_t)(((int64_t)batch->base_sequence + batch->record_count) %
                                  ((int64_t)INT32_MAX + 1));
    seq.last_acked_sequence = p->last_acked_sequence;
    return ktx__store_save_sequence(persist->store, &seq);
}

/* Journals |b| unless it is journaled already (a retry), in the open store transaction. */
static int append_batch(struct ktx__persist *persist, const struct ktx__batch *b)
{
    struct ktx__store_batch sb = {b->topic, b->partition, b->producer_id, b->producer_epoch,
                                  b->base_sequence, b->record_count, NULL, 0, 0};
    int err;

    if (b->producer_id < 0 || find_live(persist, b) >= 0)
        return 0;
    sb.bytes = ktx__batch_bytes(b, &sb.len);
    if ((err = ktx__store_journal_append(persist->store, &sb)) == 0)
        err = entry_add(&persist->live, &persist->live_cnt, &persist->live_cap, &sb, false);
    return err;
}

/* What one group commit does with a batch. */
enum commit_action {
    CA_SEND,    /* journaled (now or before): sent in this turn */
    CA_RELEASE, /* journaled now, given back to the accumulator behind released batches */
    CA_HOLD,    /* not covered by a written checkpoint yet: kept back, not journaled */
};

/* Scratch of one group commit. */
struct commit_plan {
    uint64_t cover;               /* batches with seal_gen below it are covered */
    ssize_t ckpt;                 /* index in persist->ckpts of the checkpoint to write */
    struct ktx__batch **keep;     /* held batches kept held */
    size_t keep_cnt;
    struct ktx__batch **release;  /* batches given back to the accumulator */
    size_t release_cnt;
    const struct ktx__batch **last; /* the last journaled batch of each partition */
    size_t last_cnt;
    enum commit_action *act;      /* per batch of the turn */
};

/* True when |list| (|cnt|) holds a batch of |part|. */
static bool has_part(struct ktx__batch *const *list, size_t cnt, const struct ktx__acc_part *part)
{
    for (size_t i = 0; i < cnt; i++)
        if (list[i]->part == part)
            return true;
    return false;
}

/* Remembers |b| as the last journaled batch of its partition (sequence row). */
static void note_last(struct commit_plan *plan, const struct ktx__batch *b)
{
    for (size_t i = 0; i < plan->last_cnt; i++) {
        if (plan->last[i]->part == b->part) {
            plan->last[i] = b;
            return;
        }
    }
    plan->last[plan->last_cnt++] = b;
}

/*
 * Chooses the newest given checkpoint whose batches are all drained: every batch with a
 * seal_gen below its seal count has left the accumulator's queues (journaled, held, or
 * acknowledged). Locks: persist->lock held.
 */
static void choose_checkpoint(struct ktx__persist *persist, struct ktx__idem *idem,
                              struct commit_plan *plan)
{
    uint64_t min;

    plan->cover = persist->ckpt_stored;
    plan->ckpt = -1;
    if (persist->ckpt_cnt == 0)
        return;
    min = ktx__accumulator_min_seal(idem->sender->acc, NULL);
    for (size_t i = 0; i < persist->ckpt_cnt && persist->ckpts[i].seal <= min; i++)
        plan->ckpt = (ssize_t)i;
    if (plan->ckpt >= 0)
        plan->cover = persist->ckpts[plan->ckpt].seal;
}

/*
 * The writes of one group commit, in the open store transaction: acknowledgements, then
 * the held batches the chosen checkpoint covers (in drain order), then the batches of this
 * turn (|batches|, |count|; NULL slots skipped), each partition's sequences, the
 * checkpoint. Fills |plan| with what to do with each batch once committed.
 */
static int commit_writes(struct ktx__persist *persist, struct ktx__idem *idem,
                         struct ktx__batch **batches, size_t count, struct commit_plan *plan)
{
    bool gated = atomic_load(&persist->gated);
    int err = flush_acks(persist);

    for (size_t i = 0; err == 0 && i < persist->held_cnt; i++) {
        struct ktx__batch *b = persist->held[i];

        if (b->seal_gen < plan->cover && !has_part(plan->keep, plan->keep_cnt, b->part)) {
            plan->release[plan->release_cnt++] = b;
            if ((err = append_batch(persist, b)) == 0)
                note_last(plan, b);
        } else {
            plan->keep[plan->keep_cnt++] = b;
        }
    }
    for (size_t i = 0; err == 0 && i < count; i++) {
        struct ktx__batch *b = batches[i];

        if (!b)
            continue;
        if (b->producer_id >= 0 && find_live(persist, b) >= 0) {
            plan->act[i] = CA_SEND; /* a retry: journaled before */
            continue;
        }
        if (has_part(plan->keep, plan->keep_cnt, b->part) || (gated && b->seal_gen >= plan->cover)) {
            plan->act[i] = CA_HOLD;
            plan->keep[plan->keep_cnt++] = b;
            continue;
        }
        plan->act[i] = has_part(plan->release, plan->release_cnt, b->part) ? CA_RELEASE : CA_SEND;
        if (plan->act[i] == CA_RELEASE)
            plan->release[plan->release_cnt++] = b;
        if ((err = append_batch(persist, b)) == 0 && b->producer_id >= 0)
            note_last(plan, b);
    }
    for (size_t i = 0; err == 0 && i < plan->last_cnt; i++)
        err = save_next_sequence(persist, idem, plan->last[i]);
    if (err == 0 && plan->ckpt >= 0)
        err = ktx__store_checkpoint_set(persist->store, persist->ckpts[plan->ckpt].position,
                                        persist->ckpts[plan->ckpt].len);
    return err;
}

/* Drops the given checkpoints up to the one written by |plan|. Locks: persist->lock. */
static void ckpts_written(struct ktx__persist *persist, const struct commit_plan *plan)
{
    size_t n = (size_t)plan->ckpt + 1;

    if (plan->ckpt < 0)
        return;
    for (size_t i = 0; i < n; i++)
        free(persist->ckpts[i].position);
    memmove(persist->ckpts, persist->ckpts + n, (persist->ckpt_cnt - n) * sizeof(*persist->ckpts));
    persist->ckpt_cnt -= n;
    persist->ckpt_stored = plan->cover;
}

/* Gives |b| (in flight) back to the accumulator, drainable at once, in sequence order
 * among the batches given back. */
static void give_back(struct ktx__idem *idem, struct ktx__batch *b)
{
    int64_t now = ktx__net_now(ktx__sender_net(idem->sender));

    ktx__accumulator_reenqueue(idem->sender->acc, b, now - idem->retry_backoff_max_ms - 1);
}

/* True when partition |part| can never complete the checkpoint its held batches wait for:
 * they fill its in-flight limit and an older batch of the interval is still queued. */
static bool held_stuck(struct ktx__persist *persist, struct ktx__idem *idem,
                       const struct ktx__acc_part *part)
{
    int n = 0;

    for (size_t i = 0; i < persist->held_cnt; i++)
        n += persist->held[i]->part == part;
    return n >= persist->max_in_flight &&
           ktx__accumulator_min_seal(idem->sender->acc, (struct ktx__acc_part *)part) <
               atomic_load(&persist->ckpt_requested);
}

/*
 * One store transaction: acknowledgements, the batches of this turn and the held batches
 * a written checkpoint now covers, the newest checkpoint they complete. Then the held
 * batches it covers go back to the accumulator (drained again, already journaled), and
 * the batches of this turn it does not cover are kept back (NULL slots).
 * Locks: persist->lock held.
 */
static int group_commit(struct ktx__persist *persist, struct ktx__idem *idem,
                        struct ktx__batch **batches, size_t count)
{
    size_t n = persist->held_cnt + count;
    struct commit_plan plan = {0};
    bool wake = false;
    int err;

    if (persist->store_err)
        return persist->store_err;
    plan.keep = malloc((n + 1) * sizeof(*plan.keep));
    plan.release = malloc((n + 1) * sizeof(*plan.release));
    plan.last = malloc((n + 1) * sizeof(*plan.last));
    plan.act = calloc(count + 1, sizeof(*plan.act));
    if (!plan.keep || !plan.release || !plan.last || !plan.act) {
        err = KTX_ERR_NO_MEMORY;
        goto out;
    }
    choose_checkpoint(persist, idem, &plan);
    if ((err = ktx__store_txn_begin(persist->store)) != 0)
        goto out;
    if ((err = commit_writes(persist, idem, batches, count, &plan)) != 0) {
        ktx__store_txn_rollback(persist->store);
        goto out;
    }
    if ((err = ktx__store_txn_commit(persist->store)) != 0)
        goto out;
    ckpts_written(persist, &plan);
    for (size_t i = 0; i < count; i++) {
        if (batches[i] && plan.act[i] == CA_HOLD)
            wake = true; /* nothing sent: the turn's timeout does not see what is left */
        if (batches[i] && plan.act[i] != CA_SEND)
            batches[i] = NULL;
    }
    if (plan.keep_cnt > persist->held_cap) {
        struct ktx__batch **h = realloc(persist->held, plan.keep_cnt * sizeof(*h));

        if (!h) {
            err = KTX_ERR_NO_MEMORY;
            goto out;
        }
        persist->held = h;
        persist->held_cap = plan.keep_cnt;
    }
    if (plan.keep_cnt > 0)
        memcpy(persist->held, plan.keep, plan.keep_cnt * sizeof(*plan.keep));
    persist->held_cnt = plan.keep_cnt;
    for (size_t i = 0; i < plan.release_cnt; i++)
        give_back(idem, plan.release[i]);
    if (plan.release_cnt > 0 || wake)
        ktx__sender_wakeup(idem->sender); /* drainable now: the turn's timeout missed them */
    for (size_t i = 0; i < persist->held_cnt; i++) {
        if (held_stuck(persist, idem, persist->held[i]->part)) {
            ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist",
                            "%s [%d]: the records between two ktx_checkpoint() calls fill more "
                            "than %d batches of this partition: they cannot be journaled "
                            "before they are sent; call ktx_checkpoint() more often",
                            persist->held[i]->topic, (int)persist->held[i]->partition,
                            persist->max_in_flight);
            ktx__sender_set_fatal(idem->sender, KTX_ERR_STATE);
            break;
        }
    }
out:
    free(plan.keep);
    free(plan.release);
    free(plan.last);
    free(plan.act);
    return err;
}

/* Records a failed group commit: the producer becomes fatal (KTX_ERR_STORE). */
static void commit_failed(struct ktx__persist *persist, struct ktx__idem *idem, int err)
{
    if (!persist->store_err)
        persist->store_err = err == KTX_ERR_NO_MEMORY ? err : KTX_ERR_STORE;
    ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "journal commit: %s",
                    err == KTX_ERR_NO_MEMORY ? "out of memory" : ktx__store_errmsg(persist->store));
}

/* ---- the journal thread: asynchronous group commits ----
 *
 * Without checkpoints the drained hook does not wait for the store: it takes the turn's new
 * batches out of the turn (NULL slots, as held batches), adds their appends and sequence
 * rows to the building job, and returns. One job at a time runs on the journal thread (one
 * store transaction, |persist->lock| held); the next one collects the turns drained
 * meanwhile (group commit). When a job is committed the thread wakes the sender, whose next
 * turn (ktx__journal_idle()) sends the job's batches directly
 * (ktx__sender_send_journaled()) and starts the next job. So a batch leaves only after the
 * commit that journals it, while the sender goes on receiving answers and draining.
 * With checkpoints (the gate) every commit is synchronous as before: the async jobs are
 * completed first (async_settle()). */

/* One store operation of a job. */
enum jop_kind { JOP_ACK, JOP_APPEND, JOP_SEQ };

struct jop {
    enum jop_kind kind;
    char *topic;                /* owned */
    int32_t partition;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;      /* ACK, APPEND */
    int32_t record_count;       /* APPEND */
    const uint8_t *bytes;       /* APPEND: the held batch's bytes (borrowed) */
    size_t len;
    int32_t next_sequence;      /* SEQ */
    int32_t last_acked_sequence;
};

/* One store transaction and the batches it journals (held until it is committed). */
struct jjob {
    struct jop *ops;
    size_t nops, ops_cap;
    struct ktx__batch **b;
    size_t nb, b_cap;
    int64_t producer_id;        /* the identity the appends were stamped with */
    int16_t producer_epoch;
    int err;                    /* the commit's error (thread) */
    bool skipped;               /* the identity changed before it ran: nothing written */
};

struct ktx__journal_async {
    pthread_t thread;
    pthread_mutex_t mu;         /* guards the flags below and |run| while it runs */
    pthread_cond_t cv;
    bool stop;
    bool running;               /* |run| was handed to the thread */
    bool done;                  /* ... and the thread finished it */
    struct jjob run;            /* the job on the thread */
    struct jjob build;          /* the next job (sender) */
    struct ktx__batch **ready;  /* committed, not sent yet (leader not ready) (sender) */
    size_t nready, ready_cap;
    struct ktx__persist *persist;
    struct ktx__sender *sender;
    uint64_t jobs;
};

static void jjob_clear(struct jjob *j)
{
    for (size_t i = 0; i < j->nops; i++)
        free(j->ops[i].topic);
    j->nops = 0;
    j->nb = 0;
    j->err = 0;
    j->skipped = false;
}

static void jjob_free(struct jjob *j)
{
    jjob_clear(j);
    free(j->ops);
    free(j->b);
}

/* Appends an op (its topic copied). Returns it, or NULL when out of memory. */
static struct jop *jop_add(struct jjob *j, enum jop_kind kind, const char *topic)
{
    struct jop *op;

    if (j->nops == j->ops_cap) {
        size_t ncap = j->ops_cap ? j->ops_cap * 2 : 32;

        if (!(op = realloc(j->ops, ncap * sizeof(*op))))
            return NULL;
        j->ops = op;
        j->ops_cap = ncap;
    }
    op = &j->ops[j->nops];
    memset(op, 0, sizeof(*op));
    if (!(op->topic = strdup(topic)))
        return NULL;
    op->kind = kind;
    j->nops++;
    return op;
}

/* Appends |b| to the batches of |*list| (|*n|, |*cap|). Returns 0 or KTX_ERR_NO_MEMORY. */
static int batch_push(struct ktx__batch ***list, size_t *n, size_t *cap, struct ktx__batch *b)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        struct ktx__batch **v = realloc(*list, ncap * sizeof(*v));

        if (!v)
            return KTX_ERR_NO_MEMORY;
        *list = v;
        *cap = ncap;
    }
    (*list)[(*n)++] = b;
    return 0;
}

/* Runs |j| in one store transaction. Thread: journal. Locks: persist->lock. */
static void jjob_exec(struct ktx__persist *persist, struct jjob *j)
{
    int err = 0;

    pthread_mutex_lock(&persist->lock);
    if (persist->store_err) {
        j->err = persist->store_err;
        pthread_mutex_unlock(&persist->lock);
        return;
    }
    /* A new identity cleared the journal meanwhile (persist.c): the batches are stamped
     * again and journaled with the new one. */
    if (persist->saved_id != j->producer_id || persist->saved_epoch != j->producer_epoch) {
        j->skipped = true;
        pthread_mutex_unlock(&persist->lock);
        return;
    }
    err = ktx__store_txn_begin(persist->store);
    /* The acknowledgements first: they free the partitions' journal slots (at most
     * KTX__STORE_JOURNAL_MAX_PER_PARTITION unacknowledged) for the appends. */
    for (size_t i = 0; err == 0 && i < 2 * j->nops; i++) {
        const struct jop *op = &j->ops[i % j->nops];

        if ((op->kind == JOP_ACK) != (i < j->nops))
            continue;
        if (op->kind == JOP_ACK) {
            err = ktx__store_journal_ack(persist->store, op->topic, op->partition,
                                         op->producer_id, op->producer_epoch,
                                         op->base_sequence);
        } else if (op->kind == JOP_APPEND) {
            struct ktx__store_batch sb = {op->topic, op->partition, op->producer_id,
                                          op->producer_epoch, op->base_sequence,
                                          op->record_count, op->bytes, op->len, 0};

            err = ktx__store_journal_append(persist->store, &sb);
        } else {
            struct ktx__store_seq seq = {op->topic, op->partition, op->producer_id,
                                         op->producer_epoch, 0, -1};

            seq.next_sequence = op->next_sequence;
            seq.last_acked_sequence = op->last_acked_sequence;
            err = ktx__store_save_sequence(persist->store, &seq);
        }
    }
    if (err != 0)
        ktx__store_txn_rollback(persist->store);
    else
        err = ktx__store_txn_commit(persist->store);
    j->err = err;
    pthread_mutex_unlock(&persist->lock);
}

static void *journal_thread(void *arg)
{
    struct ktx__journal_async *a = arg;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (a->running && !a->done) {
            pthread_mutex_unlock(&a->mu);
            jjob_exec(a->persist, &a->run);
            pthread_mutex_lock(&a->mu);
            a->done = true;
            pthread_cond_broadcast(&a->cv);
            ktx__sender_wakeup(a->sender);
            continue;
        }
        if (a->stop)
            break;
        pthread_cond_wait(&a->cv, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Starts the journal thread (once). Returns it, or NULL (then commits stay synchronous). */
static struct ktx__journal_async *async_get(struct ktx__persist *persist, struct ktx__idem *idem)
{
    struct ktx__journal_async *a = persist->async;

    if (a)
        return a;
    if (!(a = calloc(1, sizeof(*a))))
        return NULL;
    a->persist = persist;
    a->sender = idem->sender;
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        free(a);
        return NULL;
    }
    if (pthread_cond_init(&a->cv, NULL) != 0) {
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    if (pthread_create(&a->thread, NULL, journal_thread, a) != 0) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
        free(a);
        return NULL;
    }
    persist->async = a;
    return a;
}

/* True while a job runs or waits, or committed batches wait to be sent. */
static bool async_active(const struct ktx__persist *persist)
{
    const struct ktx__journal_async *a = persist->async;

    return a && (a->running || a->build.nb > 0 || a->nready > 0);
}

/* Hands the building job to the thread (with the acknowledgements seen since the last
 * commit) when none runs. Thread: sender. */
static int async_submit(struct ktx__persist *persist, struct ktx__idem *idem)
{
    struct ktx__journal_async *a = persist->async;
    struct jjob tmp;
    size_t k = 0;

    if (a->running || a->build.nb == 0)
        return 0;
    for (size_t i = 0; i < persist->live_cnt; i++) {
        struct ktx__journal_entry *e = &persist->live[i];
        struct jop *op;

        if (e->acked) {
            if (!(op = jop_add(&a->build, JOP_ACK, e->topic)))
                return KTX_ERR_NO_MEMORY;
            op->partition = e->partition;
            op->producer_id = e->producer_id;
            op->producer_epoch = e->producer_epoch;
            op->base_sequence = e->base_sequence;
            free(e->topic);
            continue;
        }
        persist->live[k++] = *e;
    }
    persist->live_cnt = k;
    a->build.producer_id = idem->producer_id;
    a->build.producer_epoch = idem->producer_epoch;
    pthread_mutex_lock(&a->mu);
    tmp = a->run;
    a->run = a->build;
    a->build = tmp;
    a->running = true;
    a->done = false;
    a->jobs++;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    jjob_clear(&a->build);
    return 0;
}

/* Adds |b| (new, stamped) to the building job: its append, its partition's sequence row.
 * Returns 0 or KTX_ERR_NO_MEMORY. */
static int async_add(struct ktx__persist *persist, struct ktx__idem *idem, struct ktx__batch *b)
{
    struct ktx__journal_async *a = persist->async;
    struct ktx__idem_part *p = ktx__seq_part(idem, b->part);
    struct ktx__store_batch sb = {b->topic, b->partition, b->producer_id, b->producer_epoch,
                                  b->base_sequence, b->record_count, NULL, 0, 0};
    struct jop *op = NULL;
    int err;

    if (!p)
        return KTX_ERR_NO_MEMORY;
    sb.bytes = ktx__batch_bytes(b, &sb.len);
    if (!(op = jop_add(&a->build, JOP_APPEND, b->topic)))
        return KTX_ERR_NO_MEMORY;
    op->partition = b->partition;
    op->producer_id = b->producer_id;
    op->producer_epoch = b->producer_epoch;
    op->base_sequence = b->base_sequence;
    op->record_count = b->record_count;
    op->bytes = sb.bytes;
    op->len = sb.len;
    if ((err = entry_add(&persist->live, &persist->live_cnt, &persist->live_cap, &sb, false)))
        return err;
    if ((err = batch_push(&a->build.b, &a->build.nb, &a->build.b_cap, b)) != 0) {
        free(persist->live[--persist->live_cnt].topic);
        return err;
    }
    op = NULL;
    for (size_t i = 0; i < a->build.nops && !op; i++)
        if (a->build.ops[i].kind == JOP_SEQ && a->build.ops[i].partition == b->partition &&
            strcmp(a->build.ops[i].topic, b->topic) == 0)
            op = &a->build.ops[i];
    if (!op && !(op = jop_add(&a->build, JOP_SEQ, b->topic)))
        return KTX_ERR_NO_MEMORY;
    op->partition = b->partition;
    op->producer_id = idem->producer_id;
    op->producer_epoch = idem->producer_epoch;
    op->next_sequence = (int32_t)(((int64_t)b->base_sequence + b->record_count) %
                                  ((int64_t)INT32_MAX + 1));
    op->last_acked_sequence = p->last_acked_sequence;
    return 0;
}

/* True when |b| can be sent as stamped: no fatal error, no bump, its identity current. */
static bool sendable(struct ktx__idem *idem, const struct ktx__batch *b)
{
    return !ktx__sender_fatal(idem->sender) && !idem->bump_requested &&
           b->producer_id == idem->producer_id && b->producer_epoch == idem->producer_epoch;
}

/*
 * One step of the pipeline (sender thread): takes the finished job (waiting for it when
 * |wait|), fails its batches after a failed commit, gives them back when the identity
 * moved, otherwise queues them to be sent; sends the committed batches (directly when
 * |send|, else gives them back as retries); hands the next job to the thread.
 * Returns the commit error of the finished job, or 0.
 */
static int async_step(struct ktx__persist *persist, struct ktx__idem *idem, bool wait, bool send)
{
    struct ktx__journal_async *a = persist->async;
    int64_t now = ktx__net_now(ktx__sender_net(idem->sender));
    int err = 0;
    bool done;

    pthread_mutex_lock(&a->mu);
    while (wait && a->running && !a->done)
        pthread_cond_wait(&a->cv, &a->mu);
    done = a->running && a->done;
    pthread_mutex_unlock(&a->mu);
    if (done) {
        struct jjob *j = &a->run;

        err = j->err;
        for (size_t i = 0; i < j->nb; i++) {
            if (err != 0)
                ktx__accumulator_complete(idem->sender->acc, j->b[i], KTX_ERR_STORE, -1, -1);
            else if (j->skipped)
                give_back(idem, j->b[i]);
            else if (batch_push(&a->ready, &a->nready, &a->ready_cap, j->b[i]) != 0)
                give_back(idem, j->b[i]); /* sent as a retry: journaled already */
        }
        jjob_clear(j);
        a->running = false;
        a->done = false;
    }
    if (a->nready > 0) {
        size_t k = 0;

        for (size_t i = 0; i < a->nready; i++) {
            if (send && sendable(idem, a->ready[i]))
                a->ready[k++] = a->ready[i];
            else
                give_back(idem, a->ready[i]);
        }
        a->nready = k > 0 ? ktx__sender_send_journaled(idem->sender, a->ready, k, now) : 0;
    }
    if (err == 0 && async_submit(persist, idem) != 0)
        err = KTX_ERR_NO_MEMORY;
    return err;
}

/* Completes every async job (waiting for the thread) and gives their batches back; for the
 * synchronous commits of checkpoints, a fatal error or a bump. Returns the first error. */
static int async_settle(struct ktx__persist *persist, struct ktx__idem *idem)
{
    int err = 0, e;

    while (persist->async && async_active(persist)) {
        if ((e = async_step(persist, idem, true, false)) != 0 && err == 0)
            err = e;
        if (err != 0 && !persist->async->running) {
            /* No further job: the building one's batches fail unsent. */
            for (size_t i = 0; i < persist->async->build.nb; i++)
                ktx__accumulator_complete(idem->sender->acc, persist->async->build.b[i],
                                          KTX_ERR_STORE, -1, -1);
            jjob_clear(&persist->async->build);
        }
    }
    return err;
}

/* True when commits may run on the journal thread: no checkpoint in play. */
static bool async_allowed(struct ktx__persist *persist, struct ktx__idem *idem)
{
    return !atomic_load(&persist->gated) && atomic_load(&persist->ckpt_requested) == 0 &&
           persist->held_cnt == 0 && !persist->store_err && !ktx__sender_fatal(idem->sender) &&
           !idem->bump_requested;
}

/* The drained hook without checkpoints: retries (journaled) go in this turn, the new
 * batches join the building job. Returns 0 or an error for the batches left. */
static int async_drained(struct ktx__persist *persist, struct ktx__idem *idem,
                         struct ktx__batch **batches, size_t count)
{
    int err = 0;

    for (size_t i = 0; err == 0 && i < count; i++) {
        struct ktx__batch *b = batches[i];

        if (b->producer_id < 0 || find_live(persist, b) >= 0)
            continue; /* not journaled (no identity) or a retry of a journaled batch */
        if ((err = async_add(persist, idem, b)) == 0)
            batches[i] = NULL;
    }
    if (err == 0)
        err = async_submit(persist, idem);
    return err;
}

/* Records a failed async commit: the producer becomes fatal (KTX_ERR_STORE). */
static void async_failed(struct ktx__persist *persist, struct ktx__idem *idem, int err)
{
    pthread_mutex_lock(&persist->lock);
    if (!persist->store_err) /* logged once */
        commit_failed(persist, idem, err);
    pthread_mutex_unlock(&persist->lock);
    ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
}

int ktx__journal_drained(void *opaque, struct ktx__sender *sender, struct ktx__batch **batches,
                         size_t count)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;
    int err;

    (void)sender;
    persist->turns++;
    if (async_allowed(persist, idem) && async_get(persist, idem)) {
        if ((err = async_drained(persist, idem, batches, count)) != 0)
            async_failed(persist, idem, err);
        return err != 0 ? KTX_ERR_STORE : 0;
    }
    /* Synchronous: the async jobs before this turn are committed first (in order). */
    if ((err = async_settle(persist, idem)) != 0) {
        async_failed(persist, idem, err);
        return KTX_ERR_STORE;
    }
    pthread_mutex_lock(&persist->lock);
    err = group_commit(persist, idem, batches, count);
    if (err != 0)
        commit_failed(persist, idem, err);
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
    return err != 0 ? KTX_ERR_STORE : 0;
}

/* Gives every held batch back to the accumulator (a fatal error fails them there; a new
 * epoch restamps them). */
static void give_back_held(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;

    for (size_t i = 0; i < persist->held_cnt; i++)
        give_back(idem, persist->held[i]);
    persist->held_cnt = 0;
}

void ktx__journal_idle(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;
    bool acked = false, storable, quiet;
    struct ktx__accumulator *acc = idem->sender->acc;
    uint64_t min;
    int err;

    if (persist->async && async_active(persist)) {
        /* The pipeline: send what the thread committed, start the next job. A checkpoint,
         * a fatal error or a bump settles it first (synchronous from then on). */
        err = async_allowed(persist, idem) ? async_step(persist, idem, false, true)
                                           : async_settle(persist, idem);
        if (err != 0)
            async_failed(persist, idem, err);
        if (async_active(persist))
            return; /* acknowledgements go with the next job */
    }
    if (persist->store_err || ktx__sender_fatal(idem->sender) || idem->bump_requested) {
        give_back_held(idem);
        return;
    }
    for (size_t i = 0; i < persist->live_cnt && !acked; i++)
        acked = persist->live[i].acked;
    pthread_mutex_lock(&persist->lock);
    storable = persist->ckpt_cnt > 0;
    if (storable || (acked && atomic_load(&persist->gated))) {
        min = ktx__accumulator_min_seal(acc, NULL);
        storable = storable && persist->ckpts[0].seal <= min;
        /* Nothing the drain would take (and commit) this turn. */
        quiet = min >= atomic_load(&persist->ckpt_requested);
    } else {
        quiet = !ktx__accumulator_has_undrained(acc);
    }
    if (!storable && !(acked && quiet)) {
        pthread_mutex_unlock(&persist->lock);
        return;
    }
    err = group_commit(persist, idem, NULL, 0);
    if (err != 0)
        commit_failed(persist, idem, err);
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
}

int ktx__journal_checkpoint(struct ktx__idem *idem, const void *position, size_t len)
{
    struct ktx__persist *persist = idem->persist;
    struct ktx__journal_ckpt c = {0, NULL, len};
    size_t i;

    if (len > 0 && !(c.position = malloc(len)))
        return KTX_ERR_NO_MEMORY;
    if (len > 0)
        memcpy(c.position, position, len);
    pthread_mutex_lock(&persist->lock);
    if (persist->ckpt_cnt == persist->ckpt_cap) {
        size_t ncap = persist->ckpt_cap ? persist->ckpt_cap * 2 : 8;
        struct ktx__journal_ckpt *v = realloc(persist->ckpts, ncap * sizeof(*v));

        if (!v) {
            pthread_mutex_unlock(&persist->lock);
            free(c.position);
            return KTX_ERR_NO_MEMORY;
        }
        persist->ckpts = v;
        persist->ckpt_cap = ncap;
    }
    /* Sealed under the lock: the queue stays in seal order with concurrent callers. */
    c.seal = ktx__accumulator_seal(idem->sender->acc);
    i = persist->ckpt_cnt++;
    persist->ckpts[i] = c;
    atomic_store(&persist->gated, true);
    if (c.seal > atomic_load(&persist->ckpt_requested))
        atomic_store(&persist->ckpt_requested, c.seal);
    pthread_mutex_unlock(&persist->lock);
    ktx__sender_wakeup(idem->sender);
    return 0;
}

void ktx__journal_log_stats(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;
    struct ktx__store_stats st;
    double secs = (double)(mono_ms() - persist->opened_ms) / 1000.0;

    ktx__store_stats(persist->store, &st);
    ktx__sender_log(idem->sender, KTX_LOG_INFO, "persist",
                    "journal statistics: commits=%llu commits_per_s=%.0f turns=%llu "
                    "wal_checkpoints=%llu fsync_estimate=%llu fsyncs_per_commit=%.2f "
                    "commit_p50_us=%llu commit_p99_us=%llu commit_max_us=%llu seconds=%.3f",
                    (unsigned long long)st.commits, secs > 0 ? (double)st.commits / secs : 0.0,
                    (unsigned long long)persist->turns, (unsigned long long)st.checkpoints,
                    (unsigned long long)st.fsync_estimate,
                    st.commits ? (double)st.fsync_estimate / (double)st.commits : 0.0,
                    (unsigned long long)ktx__store_stats_quantile_us(&st, 0.5),
                    (unsigned long long)ktx__store_stats_quantile_us(&st, 0.99),
                    (unsigned long long)st.commit_max_us, secs);
}

bool ktx__journal_has_held(const struct ktx__persist *persist)
{
    return persist->held_cnt > 0 || async_active(persist);
}

/* Stops the journal thread (after the job it runs) and frees the pipeline; the batches it
 * still holds are completed with |err| when |idem| is given. */
static void async_stop(struct ktx__persist *persist, struct ktx__idem *idem, int err)
{
    struct ktx__journal_async *a = persist->async;
    struct jjob *jobs[2];

    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    jobs[0] = &a->run;
    jobs[1] = &a->build;
    for (size_t k = 0; idem && k < 2; k++)
        for (size_t i = 0; i < jobs[k]->nb && (k == 1 || a->running); i++)
            ktx__accumulator_complete(idem->sender->acc, jobs[k]->b[i], err, -1, -1);
    for (size_t i = 0; idem && i < a->nready; i++)
        ktx__accumulator_complete(idem->sender->acc, a->ready[i], err, -1, -1);
    jjob_free(&a->run);
    jjob_free(&a->build);
    free(a->ready);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
    persist->async = NULL;
}

void ktx__journal_purge_held(struct ktx__idem *idem, int err)
{
    struct ktx__persist *persist = idem->persist;

    async_stop(persist, idem, err);
    for (size_t i = 0; i < persist->held_cnt; i++)
        ktx__accumulator_complete(idem->sender->acc, persist->held[i], err, -1, -1);
    persist->held_cnt = 0;
}

enum ktx__produce_verdict ktx__journal_produce_result(void *opaque, struct ktx__sender *sender,
                                                      const struct ktx__batch *batch,
                                                      const struct ktx__produce_outcome *out,
                                                      int *final_err)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;
    enum ktx__produce_verdict v = persist->next_produce_result(opaque, sender, batch, out,
                                                               final_err);
    ssize_t i;

    /* Deleted with the next group commit: a replay of an acknowledged batch is harmless
     * (the broker deduplicates it), a lost batch is not. */
    if (v == KTX__PV_COMPLETE && (i = find_live(persist, batch)) >= 0)
        persist->live[i].acked = true;
    return v;
}

void ktx__journal_discard(struct ktx__persist *persist)
{
    for (size_t i = 0; i < persist->live_cnt; i++)
        free(persist->live[i].topic);
    persist->live_cnt = 0;
}

/* ---- the replay of the previous run's journal ---- */

/* Encodes the Produce request of the replayed entry |opaque|. */
static int encode_replay(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;
    const struct ktx__journal_entry *e = &persist->replay[persist->replay_done];
    const struct ktx__sender_conf *v = &idem->sender->conf;
    int err;

    persist->replay_version = ver;
    err = ktx__proto_produce_req_begin(w, ver, ktx__str_c(NULL), (int16_t)v->acks,
                                       (int32_t)v->request_timeout_ms, 1);
    if (err != 0)
        return err;
    ktx__proto_produce_req_topic_begin(w, ver, ktx__str_c(e->topic), 1);
    ktx__proto_produce_req_partition(w, ver, e->partition,
                                     (struct ktx__bytes){e->bytes, (int32_t)e->len});
    ktx__proto_produce_req_topic_end(w, ver);
    return ktx__proto_produce_req_end(w, ver);
}

/* The partition error of a decoded replay answer (KTX_ERR_BAD_MSG when absent). */
static int replay_error(const uint8_t *body, size_t len, int16_t ver)
{
    struct ktx__produce_resp resp;
    struct ktx__arena arena;
    int err;

    ktx__arena_init(&arena, 0);
    err = ktx__proto_produce_resp_decode(body, len, ver, &resp, &arena);
    if (err == 0)
        err = resp.responses_count == 1 && resp.responses[0].partition_responses_count == 1
                  ? resp.responses[0].partition_responses[0].error_code
                  : KTX_ERR_BAD_MSG;
    ktx__arena_free(&arena);
    return err;
}

/* The answer to one replayed batch: the next one, or a retry after a backoff. */
static void on_replay(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                      void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;
    struct ktx__journal_entry *e = &persist->replay[persist->replay_done];

    (void)conn;
    persist->replay_in_flight = false;
    if (err == 0)
        err = body ? replay_error(body, len, persist->replay_version) : 0;
    if (err == 0 || err == KTX_ERR_DUPLICATE_SEQUENCE_NUMBER) {
        pthread_mutex_lock(&persist->lock);
        if (!persist->store_err)
            err = ktx__store_journal_ack(persist->store, e->topic, e->partition,
                                         e->producer_id, e->producer_epoch, e->base_sequence);
        if (err == KTX_ERR_STORE)
            persist->store_err = KTX_ERR_STORE;
        pthread_mutex_unlock(&persist->lock);
        if (err != 0)
            ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "deleting a re-sent batch: %s",
                            ktx__store_errmsg(persist->store));
        persist->replay_done++;
        persist->replay_attempts = 0;
        return;
    }
    ktx__sender_log(idem->sender, KTX_LOG_WARNING, "persist",
                    "re-sending the journaled batch of %s [%d] at sequence %d: %s",
                    e->topic, (int)e->partition, (int)e->base_sequence, ktx_err_name(err));
    ktx__sender_request_metadata(idem->sender);
    persist->replay_next_ms = ktx__net_now(ktx__sender_net(idem->sender)) + 100;
    if (++persist->replay_attempts >= KTX__JOURNAL_REPLAY_ATTEMPTS)
        ktx__sender_set_fatal(idem->sender, err);
}

bool ktx__journal_replay(struct ktx__idem *idem, struct ktx__sender *sender, int64_t now,
                         int64_t *timeout_ms)
{
    struct ktx__persist *persist = idem->persist;
    struct ktx__metadata_partition_info info;
    struct ktx__conn_req creq = {0};
    const struct ktx__journal_entry *e;

    if (persist->replay_done >= persist->replay_cnt)
        return false;
    if (persist->replay_done == 0 && persist->replay_attempts == 0 && !persist->replay_logged) {
        persist->replay_logged = true;
        ktx__sender_log(sender, KTX_LOG_INFO, "persist",
                        "re-sending %zu journaled batches of the previous run (producer id "
                        "%lld epoch %d)", persist->replay_cnt,
                        (long long)persist->replay[0].producer_id,
                        (int)persist->replay[0].producer_epoch);
    }
    if (persist->replay_in_flight)
        return true;
    if (persist->store_err)
        ktx__sender_set_fatal(sender, KTX_ERR_STORE);
    e = &persist->replay[persist->replay_done];
    if (now < persist->replay_next_ms) {
        *timeout_ms = KTX__MIN(*timeout_ms, persist->replay_next_ms - now);
        return true;
    }
    if (ktx__metadata_leader_for(sender->md, e->topic, e->partition, &info) != 0 ||
        info.leader_id < 0) {
        ktx__metadata_add_topic(sender->md, e->topic, now);
        ktx__sender_request_metadata(sender);
        persist->replay_next_ms = now + 50;
        *timeout_ms = KTX__MIN(*timeout_ms, 50);
        return true;
    }
    if (!ktx__net_ready(sender->net, info.leader_id, now)) {
        *timeout_ms = KTX__MIN(*timeout_ms, ktx__net_poll_delay(sender->net, info.leader_id, now));
        return true;
    }
    creq.api_key = KTX__API_PRODUCE;
    creq.version = -1;
    creq.encode = encode_replay;
    creq.encode_opaque = idem;
    creq.cb = on_replay;
    creq.opaque = idem;
    if (ktx__net_send(sender->net, info.leader_id, &creq, now) == 0) {
        persist->replay_in_flight = true;
    } else {
        persist->replay_next_ms = now + 50;
        *timeout_ms = KTX__MIN(*timeout_ms, 50);
    }
    return true;
}

void ktx__journal_free(struct ktx__persist *persist)
{
    async_stop(persist, NULL, 0);
    ktx__journal_discard(persist);
    for (size_t i = 0; i < persist->ckpt_cnt; i++)
        free(persist->ckpts[i].position);
    free(persist->ckpts);
    free(persist->held);
    free(persist->live);
    entries_free(persist->replay, persist->replay_cnt);
}
