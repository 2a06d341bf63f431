/*
 * The persisted producer state: opening the store at producer creation, the restart report,
 * resuming the persisted producer id (KIP-360 bump of that id) and saving every new id and
 * epoch, with the KTX_ERR_PRODUCER_ID_RESET boundary when the broker handed out another id.
 *
 * Thread: ktx__persist_open() on the creator before the sender starts; the rest on the
 * sender thread. Locks: |persist->lock| around every store call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "sender_int.h"

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

/* Seeds |idem| with the persisted identity: its first InitProducerId bumps that id's epoch
 * (KIP-360) so that the broker keeps the producer's state, instead of taking a new id. */
static void seed_identity(struct ktx__idem *idem, const struct ktx__persist *persist)
{
    if (!idem->idempotent || idem->txn || persist->report.producer_id < 0 ||
        persist->report.producer_epoch < 0)
        return;
    idem->producer_id = persist->report.producer_id;
    idem->producer_epoch = persist->report.producer_epoch;
    idem->bump_requested = true;
}

int ktx__persist_open(struct ktx__idem *idem, const struct ktx__conf_values *v, char *errbuf,
                      size_t errlen)
{
    struct ktx__persist *persist;
    int err;

    if (!v->state_path)
        return 0;
    if (!(persist = calloc(1, sizeof(*persist))))
        return KTX_ERR_NO_MEMORY;
    pthread_mutex_init(&persist->lock, NULL);
    err = ktx__store_open(&persist->store, v->state_path, identity_of(v), v->state_sync,
                          errbuf, errlen);
    if (err == 0 && (err = load_report(persist)) != 0)
        snprintf(errbuf, errlen, "%s", ktx__store_errmsg(persist->store));
    if (err != 0) {
        ktx__persist_free(persist);
        return err;
    }
    persist->saved_id = persist->report.producer_id;
    persist->saved_epoch = persist->report.producer_epoch;
    idem->persist = persist;
    seed_identity(idem, persist);
    return 0;
}

int ktx__persist_attach(struct ktx__sender *sender, const struct ktx__conf_values *v,
                        char *errbuf, size_t errlen)
{
    struct ktx__idem *idem = sender->hooks.opaque;

    if (!idem)
        return v->state_path ? KTX_ERR_STATE : 0;
    return ktx__persist_open(idem, v, errbuf, errlen);
}

/* Saves the current identity; the sequences of an older one are forgotten with it. */
static int save_identity(struct ktx__persist *persist, const struct ktx__idem *idem)
{
    struct ktx__store_producer rec = {idem->producer_id, idem->producer_epoch, NULL, 0, 0};
    int err;

    if ((err = ktx__store_txn_begin(persist->store)) != 0)
        return err;
    if ((err = ktx__store_save_producer(persist->store, &rec)) != 0 ||
        (err = ktx__store_reset_sequences(persist->store)) != 0) {
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

void ktx__persist_sync_identity(struct ktx__idem *idem)
{
    struct ktx__persist *persist = idem->persist;
    int err;

    if (!persist || idem->producer_id < 0 || idem->bump_requested || idem->init_in_flight)
        return;
    if (idem->producer_id == persist->saved_id && idem->producer_epoch == persist->saved_epoch)
        return;
    pthread_mutex_lock(&persist->lock);
    if (!persist->id_reset && persist->report.producer_id >= 0 &&
        idem->producer_id != persist->report.producer_id)
        report_id_reset(idem, persist);
    err = persist->store_err ? persist->store_err : save_identity(persist, idem);
    if (err == 0) {
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

void ktx__persist_free(struct ktx__persist *persist)
{
    if (!persist)
        return;
    ktx__store_close(persist->store);
    free(persist->report.position);
    pthread_mutex_destroy(&persist->lock);
    free(persist);
}
