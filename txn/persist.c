/*
 * The persisted producer state: opening the store at producer creation, the restart report,
 * resuming the persisted producer id, epoch and sequences after a clean close (or a KIP-360
 * bump of that id after a crash), saving every new id and epoch, and the
 * KTX_ERR_PRODUCER_ID_RESET boundary when the broker no longer knows the persisted id.
 *
 * Clean and unclean runs: the sequence rows are deleted as soon as a run opened the store
 * and written back only when it ends cleanly (ktx__persist_close()). So rows present at open
 * mean the previous run closed with every sequence acknowledged: the producer continues
 * that id, epoch and those sequences. No rows mean a crash (or an unclean close): sequences
 * used after the last save are unknown, so the producer asks for a new epoch first.
 *
 * Thread: ktx__persist_open() on the creator before the sender starts, ktx__persist_close()
 * after the sender thread ended; the rest on the sender thread. Locks: |persist->lock|
 * around every store call and the report; the seeds are touched by the sender only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "sender_int.h"
#include "txnmgr.h"

/* The identity of the producer configured by |v|. */
static const char *identity_of(const struct ktx__conf_values *v)
{
    if (v->transactional_id)
        return v->transactional_id;
    if (v->state_producer_name && v->state_producer_name[0])
        return v->state_producer_name;
    return KTX__PERSIST_DEFAULT_NAME;
}

/* Loads the previous run's identity, last transaction and checkpoint into the report. */
static int load_report(struct ktx__persist *persist)
{
    struct ktx__store_producer rec = {0};
    struct ktx__store_txn txn = {0};
    int err;

    if ((err = ktx__store_load_producer(persist->store, &rec)) != 0)
        return err;
    persist->report.producer_id = rec.producer_id;
    persist->report.producer_epoch = rec.producer_epoch;
    ktx__store_producer_clear(&rec);
    if ((err = ktx__store_get_txn(persist->store, &txn)) != 0)
        return err;
    persist->report.txn_state = txn.state;
    persist->report.updated_ms = txn.updated_ms;
    ktx__store_txn_clear(&txn);
    return ktx__store_checkpoint_get(persist->store, &persist->report.position,
                                     &persist->report.position_len);
}

/* ktx__store_seq_cb: keeps the rows of the persisted producer id and epoch as seeds. */
static int collect_seed(void *opaque, const struct ktx__store_seq *seq)
{
    struct ktx__persist *persist = opaque;
    struct ktx__persist_seed *seeds, *seed;

    if (seq->producer_id != persist->report.producer_id ||
        seq->producer_epoch != persist->report.producer_epoch)
        return 0;
    seeds = realloc(persist->seeds, (persist->seed_cnt + 1) * sizeof(*seeds));
    if (!seeds)
        return KTX_ERR_NO_MEMORY;
    persist->seeds = seeds;
    seed = &seeds[persist->seed_cnt];
    if (!(seed->topic = strdup(seq->topic)))
        return KTX_ERR_NO_MEMORY;
    seed->partition = seq->partition;
    seed->next_sequence = seq->next_sequence;
    seed->last_acked_sequence = seq->last_acked_sequence;
    seed->applied = false;
    persist->seed_cnt++;
    return 0;
}

/* Loads the previous run's clean sequences, then deletes them from the file: a crash of
 * this run must read as unclean at the next open. */
static int load_seeds(struct ktx__persist *persist)
{
    int err;

    if (persist->report.producer_id < 0)
        return 0;
    if ((err = ktx__store_load_sequences(persist->store, collect_seed, persist)) != 0)
        return err;
    persist->seeds_left = persist->seed_cnt;
    /* The journal keeps the rows current while it runs (txn/journal.c). */
    return persist->journal ? 0 : ktx__store_reset_sequences(persist->store);
}

/* Seeds |idem| with the persisted identity: after a clean close it continues that id and
 * epoch as they are; after a crash its first InitProducerId bumps that id's epoch (KIP-360). */
static void seed_identity(struct ktx__idem *idem, struct ktx__persist *persist)
{
    if (!idem->idempotent || idem->txn || persist->report.producer_id < 0 ||
        persist->report.producer_epoch < 0)
        return;
    idem->producer_id = persist->report.producer_id;
    idem->producer_epoch = persist->report.producer_epoch;
    persist->resumed = persist->seed_cnt > 0;
    idem->bump_requested = !persist->resumed;
}

/* Hands the seed of |batch|'s partition to the idempotence layer when the partition has
 * not assigned anything yet in the resumed id and epoch; drops every seed once the
 * identity changed (a new epoch starts every partition at 0). */
static void apply_seed(struct ktx__idem *idem, struct ktx__persist *persist,
                       const struct ktx__batch *batch)
{
    struct ktx__idem_part *p;

    if (idem->producer_id != persist->report.producer_id ||
        idem->producer_epoch != persist->report.producer_epoch) {
        persist->seeds_left = 0;
        return;
    }
    for (size_t i = 0; i < persist->seed_cnt; i++) {
        struct ktx__persist_seed *seed = &persist->seeds[i];

        if (seed->applied || seed->partition != batch->partition ||
            strcmp(seed->topic, batch->topic) != 0)
            continue;
        seed->applied = true;
        persist->seeds_left--;
        p = ktx__seq_part(idem, batch->part);
        if (p && p->n_outstanding == 0 && p->next_sequence == 0) {
            p->next_sequence = seed->next_sequence;
            p->last_acked_sequence = seed->last_acked_sequence;
        }
        return;
    }
}

/* The accumulator's assign hook with the seeds in front of ktx__seq_assign(). */
static bool persist_assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                           int16_t *producer_epoch, int32_t *base_sequence, bool *transactional)
{
    struct ktx__idem *idem = opaque;

    if (idem->persist->seeds_left > 0)
        apply_seed(idem, idem->persist, batch);
    return idem->persist->next_assign(opaque, batch, producer_id, producer_epoch,
                                      base_sequence, transactional);
}

int ktx__persist_open(struct ktx__idem *idem, const struct ktx__conf_values *v, char *errbuf,
                      size_t errlen)
{
    struct ktx__persist *persist;
    int err;

    if (!v->state_path)
        return 0;
    if (v->state_journal && (v->transactional_id || !idem->idempotent)) {
        /* Never pretend a durability that is not there (docs/guarantees.md). */
        snprintf(errbuf, errlen, "state.journal=true: the durable journal needs an idempotent "
                 "producer without transactional.id");
        return KTX_ERR_UNSUPPORTED;
    }
    if (!(persist = calloc(1, sizeof(*persist))))
        return KTX_ERR_NO_MEMORY;
    pthread_mutex_init(&persist->lock, NULL);
    persist->journal = v->state_journal;
    persist->max_in_flight = (int)KTX__MIN(KTX__MAX(v->max_in_flight, 1),
                                           KTX__ACC_MAX_IN_FLIGHT_IDEMPOTENT);
    err = ktx__store_open(&persist->store, v->state_path, identity_of(v), v->state_sync,
                          errbuf, errlen);
    if (err == 0 && ((err = load_report(persist)) != 0 || (err = load_seeds(persist)) != 0 ||
                     (persist->journal && (err = ktx__journal_load(persist)) != 0)))
        snprintf(errbuf, errlen, "%s", ktx__store_errmsg(persist->store));
    if (err != 0) {
        ktx__persist_free(persist);
        return err;
    }
    persist->saved_id = persist->report.producer_id;
    persist->saved_epoch = persist->report.producer_epoch;
    persist->txn_state = persist->report.txn_state;
    persist->transactional = v->transactional_id != NULL;
    idem->persist = persist;
    seed_identity(idem, persist);
    return 0;
}

/* The store state a transaction in |st| moves the last written state |was| to. */
static enum ktx__store_txn_state next_txn_state(enum ktx__txn_state st,
                                                enum ktx__store_txn_state was)
{
    bool finished = was == KTX__STORE_TXN_NONE || was == KTX__STORE_TXN_COMMITTED ||
                    was == KTX__STORE_TXN_ABORTED;

    switch (st) {
    case KTX__TXN_IN_TRANSACTION:
    case KTX__TXN_ABORTABLE_ERROR:
        return finished ? KTX__STORE_TXN_ONGOING : was;
    case KTX__TXN_COMMITTING:
        return KTX__STORE_TXN_COMMITTING;
    case KTX__TXN_ABORTING:
        return KTX__STORE_TXN_ABORTING;
    case KTX__TXN_READY:
        if (was == KTX__STORE_TXN_COMMITTING)
            return KTX__STORE_TXN_COMMITTED;
        /* A transaction that never reached COMMITTING here ended without a commit. */
        return finished ? was : KTX__STORE_TXN_ABORTED;
    default:
        return was;
    }
}

/* Writes |state| (with the pending checkpoint when it is COMMITTED) in one commit. */
static int write_txn_state(struct ktx__persist *persist, enum ktx__store_txn_state state)
{
    int err = ktx__store_txn_begin(persist->store);

    if (err != 0)
        return err;
    err = ktx__store_set_txn_state(persist->store, state);
    if (err == 0 && state == KTX__STORE_TXN_COMMITTED && persist->pending_set)
        err = ktx__store_checkpoint_set(persist->store, persist->pending_position,
                                        persist->pending_len);
    if (err != 0) {
        ktx__store_txn_rollback(persist->store);
        return err;
    }
    return ktx__store_txn_commit(persist->store);
}

/* Follows the transaction state machine into the store. Runs before the manager's step, so
 * COMMITTING is in the file before EndTxn(commit) is sent: a file that says ONGOING proves
 * that the coordinator never received a commit. */
static void sync_txn(struct ktx__idem *idem, struct ktx__persist *persist)
{
    enum ktx__store_txn_state want =
        next_txn_state(ktx__txn_sm_state(&idem->txn->sm), persist->txn_state);
    int err;

    if (want == persist->txn_state || persist->store_err)
        return;
    pthread_mutex_lock(&persist->lock);
    err = write_txn_state(persist, want);
    if (err == 0) {
        persist->txn_state = want;
        if (want == KTX__STORE_TXN_COMMITTED || want == KTX__STORE_TXN_ABORTED) {
            free(persist->pending_position);
            persist->pending_position = NULL;
            persist->pending_len = 0;
            persist->pending_set = false;
        }
    } else {
        persist->store_err = err;
        ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "saving transaction state %s: %s",
                        ktx__store_txn_state_name(want), ktx__store_errmsg(persist->store));
    }
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
}

/* The run_first hook: the store follows identity and transaction first, then the wrapped
 * hook runs (and may send EndTxn). */
static bool persist_run_first(void *opaque, struct ktx__sender *sender, int64_t now,
                              int64_t *timeout_ms)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;

    ktx__persist_sync_identity(idem);
    if (persist->journal) {
        if (ktx__journal_replay(idem, sender, now, timeout_ms))
            return true;
        ktx__journal_idle(idem);
    }
    if (idem->txn)
        sync_txn(idem, persist);
    if (!persist->next_run_first)
        return false;
    return persist->next_run_first(opaque, sender, now, timeout_ms);
}

/* The destroy hook (the sender thread has ended): the transaction's last state goes to the
 * store before the wrapped hook frees the transaction manager. */
static void persist_destroy(void *opaque)
{
    struct ktx__idem *idem = opaque;

    if (idem->persist && idem->txn)
        sync_txn(idem, idem->persist);
    idem->persist->next_destroy(opaque);
}

int ktx__persist_set_pending(struct ktx__persist *persist, const void *position, size_t len)
{
    uint8_t *copy = NULL;

    if (len > 0 && !(copy = malloc(len)))
        return KTX_ERR_NO_MEMORY;
    if (len > 0)
        memcpy(copy, position, len);
    pthread_mutex_lock(&persist->lock);
    free(persist->pending_position);
    persist->pending_position = copy;
    persist->pending_len = len;
    persist->pending_set = true;
    pthread_mutex_unlock(&persist->lock);
    return 0;
}

/* The has_pending hook in journal mode: the close waits for the previous run's journal to
 * be re-sent (unless the producer is fatal). */
static bool persist_has_pending(void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;

    if ((persist->replay_done < persist->replay_cnt || ktx__journal_has_held(persist)) &&
        !ktx__sender_fatal(idem->sender))
        return true;
    return persist->next_has_pending && persist->next_has_pending(opaque);
}

int ktx__persist_attach(struct ktx__sender *sender, const struct ktx__conf_values *v,
                        char *errbuf, size_t errlen)
{
    struct ktx__idem *idem = sender->hooks.opaque;
    struct ktx__seam_hooks hooks;
    int err;

    if (!idem)
        return v->state_path ? KTX_ERR_STATE : 0;
    if ((err = ktx__persist_open(idem, v, errbuf, errlen)) != 0 || !idem->persist)
        return err;
    hooks = sender->hooks;
    idem->persist->next_run_first = hooks.run_first;
    idem->persist->next_assign = hooks.assign;
    idem->persist->next_destroy = hooks.destroy;
    if (hooks.assign)
        hooks.assign = persist_assign;
    if (idem->persist->journal) {
        idem->persist->next_may_drain = hooks.may_drain;
        idem->persist->next_produce_result = hooks.produce_result;
        hooks.may_drain = ktx__journal_may_drain;
        hooks.produce_result = ktx__journal_produce_result;
        hooks.drained = ktx__journal_drained;
        idem->persist->next_has_pending = hooks.has_pending;
        hooks.has_pending = persist_has_pending;
    }
    hooks.run_first = persist_run_first;
    hooks.destroy = persist_destroy;
    ktx__sender_set_hooks(sender, &hooks);
    return 0;
}

/* Saves the current identity; the sequences of an older one are forgotten with it. */
static int save_identity(struct ktx__persist *persist, const struct ktx__idem *idem)
{
    struct ktx__store_producer rec = {idem->producer_id, idem->producer_epoch, NULL, 0, 0};
    int err;

    if ((err = ktx__store_txn_begin(persist->store)) != 0)
        return err;
    if ((err = ktx__store_save_producer(persist->store, &rec)) != 0 ||
        (err = ktx__store_reset_sequences(persist->store)) != 0 ||
        (persist->journal && (err = ktx__store_journal_discard(persist->store, NULL, 0)) != 0)) {
        ktx__store_txn_rollback(persist->store);
        return err;
    }
    return ktx__store_txn_commit(persist->store);
}

/* Logs the boundary once: the broker forgot the persisted producer. */
static void report_id_reset(struct ktx__idem *idem, struct ktx__persist *persist)
{
    persist->id_reset = true;
    ktx__sender_log(idem->sender, KTX_LOG_WARNING, "persist",
                    "%s: the broker no longer knows producer id %lld (epoch %d) of the "
                    "previous run; continuing as producer id %lld epoch %d: batches of the "
                    "previous run that were not acknowledged may be duplicated or lost",
                    ktx_err_name(KTX_ERR_PRODUCER_ID_RESET),
                    (long long)persist->report.producer_id,
                    (int)persist->report.producer_epoch, (long long)idem->producer_id,
                    (int)idem->producer_epoch);
}

/* True when this run's first identity change leaves the persisted producer behind: another
 * id, or an epoch that did not move forward (a broker that forgot hands out ids again). */
static bool is_reset(const struct ktx__idem *idem, const struct ktx__persist *persist)
{
    return persist->report.producer_id >= 0 &&
           (idem->producer_id != persist->report.producer_id ||
            idem->producer_epoch <= persist->report.producer_epoch);
}

void ktx__persist_sync_identity(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;
    int err;

    if (!persist || idem->producer_id < 0 || idem->bump_requested || idem->init_in_flight)
        return;
    if (idem->producer_id == persist->saved_id && idem->producer_epoch == persist->saved_epoch &&
        idem->epoch_bumps == persist->seen_bumps)
        return;
    pthread_mutex_lock(&persist->lock);
    if (!persist->first_identity_seen && is_reset(idem, persist))
        report_id_reset(idem, persist);
    persist->first_identity_seen = true;
    persist->seen_bumps = idem->epoch_bumps;
    err = persist->store_err ? persist->store_err : save_identity(persist, idem);
    if (err == 0) {
        ktx__journal_discard(persist);
        persist->saved_id = idem->producer_id;
        persist->saved_epoch = idem->producer_epoch;
    } else if (!persist->store_err) {
        persist->store_err = err;
        ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "saving producer id %lld: %s",
                        (long long)idem->producer_id, ktx__store_errmsg(persist->store));
    }
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
}

/* True when the run ends with every assigned sequence acknowledged in the current id and
 * epoch, so that the next run may continue them. */
static bool ended_cleanly(const struct ktx__idem *idem, const struct ktx__persist *persist)
{
    if (!idem->idempotent || persist->transactional || persist->store_err ||
        idem->producer_id < 0 ||
        idem->bump_requested || idem->init_in_flight || ktx__sender_fatal(idem->sender) ||
        idem->producer_id != persist->saved_id || idem->producer_epoch != persist->saved_epoch)
        return false;
    for (size_t i = 0; i < idem->parts_cap; i++) {
        const struct ktx__idem_part *p = &idem->parts[i];

        if (p->part && (p->n_outstanding > 0 || p->unresolved))
            return false;
    }
    return true;
}

/* Saves one sequence row of the current id and epoch. */
static int save_seq(struct ktx__persist *persist, const struct ktx__idem *idem,
                    const char *topic, int32_t partition, int32_t next_sequence,
                    int32_t last_acked_sequence)
{
    struct ktx__store_seq seq = {topic, partition, idem->producer_id, idem->producer_epoch,
                                 next_sequence, last_acked_sequence};

    return ktx__store_save_sequence(persist->store, &seq);
}

/* Writes every partition's sequences (the seeds this run never used too), one commit. */
static int save_sequences(struct ktx__persist *persist, const struct ktx__idem *idem)
{
    int err = ktx__store_txn_begin(persist->store);

    for (size_t i = 0; err == 0 && i < idem->parts_cap; i++) {
        const struct ktx__idem_part *p = &idem->parts[i];

        if (p->part)
            err = save_seq(persist, idem, ktx__acc_part_topic(p->part),
                           ktx__acc_part_partition(p->part), p->next_sequence,
                           p->last_acked_sequence);
    }
    for (size_t i = 0; err == 0 && persist->seeds_left > 0 && i < persist->seed_cnt; i++) {
        const struct ktx__persist_seed *seed = &persist->seeds[i];

        if (!seed->applied)
            err = save_seq(persist, idem, seed->topic, seed->partition, seed->next_sequence,
                           seed->last_acked_sequence);
    }
    if (err != 0) {
        ktx__store_txn_rollback(persist->store);
        return err;
    }
    return ktx__store_txn_commit(persist->store);
}

/* Deletes this run's acknowledged journal entries (one commit) at close. */
static int flush_journal_acks(struct ktx__persist *persist)
{
    int err = ktx__store_txn_begin(persist->store);

    for (size_t i = 0; err == 0 && i < persist->live_cnt; i++) {
        const struct ktx__journal_entry *e = &persist->live[i];

        if (e->acked)
            err = ktx__store_journal_ack(persist->store, e->topic, e->partition,
                                         e->producer_id, e->producer_epoch, e->base_sequence);
    }
    if (err != 0) {
        ktx__store_txn_rollback(persist->store);
        return err;
    }
    return ktx__store_txn_commit(persist->store);
}

void ktx__persist_close(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;

    if (!persist)
        return;
    if (persist->journal) {
        ktx__journal_purge_held(idem, KTX_ERR_PURGED);
        ktx__journal_log_stats(idem);
    }
    if (persist->journal && !persist->store_err && flush_journal_acks(persist) != 0)
        ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "deleting acknowledged batches: %s",
                        ktx__store_errmsg(persist->store));
    if (ended_cleanly(idem, persist) && save_sequences(persist, idem) != 0)
        ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "saving the sequences: %s",
                        ktx__store_errmsg(persist->store));
    idem->persist = NULL;
    ktx__persist_free(persist);
}

void ktx__persist_free(struct ktx__persist *persist)
{
    if (!persist)
        return;
    ktx__store_close(persist->store);
    for (size_t i = 0; i < persist->seed_cnt; i++)
        free(persist->seeds[i].topic);
    free(persist->seeds);
    ktx__journal_free(persist);
    free(persist->pending_position);
    free(persist->report.position);
    pthread_mutex_destroy(&persist->lock);
    free(persist);
}
