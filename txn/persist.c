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
#include "proto.h"
#include "proto_txn.h"
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

/*
 * A transactional identity's checkpoint row holds a frame with two positions: the last
 * known committed one and, while the file says COMMITTING, the one that transaction moves
 * to (docs/guarantees.md section 3). Layout: the 8 bytes FRAME_MAGIC, a version byte (1),
 * a flags byte (FRAME_F_*), the committed and the pending length (4 bytes each, big
 * endian), then the committed and the pending bytes. A row that does not start with the
 * magic is an older file's plain position (the committed one).
 */
#define FRAME_MAGIC "\0ktx-txn"
#define FRAME_MAGIC_LEN 8
#define FRAME_VERSION 1
#define FRAME_HEADER_LEN (FRAME_MAGIC_LEN + 2 + 4 + 4)
#define FRAME_F_COMMITTED 1u /* a committed position is present */
#define FRAME_F_PENDING 2u   /* a pending position is present */

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int ktx__persist_frame_decode(const uint8_t *p, size_t len, struct ktx__persist_frame *f)
{
    uint32_t clen, plen;

    memset(f, 0, sizeof(*f));
    if (!p || len < FRAME_MAGIC_LEN || memcmp(p, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0) {
        f->committed = p; /* an older file: the plain committed position */
        f->committed_len = len;
        f->committed_set = p != NULL;
        return 0;
    }
    if (len < FRAME_HEADER_LEN || p[FRAME_MAGIC_LEN] != FRAME_VERSION ||
        (p[FRAME_MAGIC_LEN + 1] & ~(FRAME_F_COMMITTED | FRAME_F_PENDING)) != 0)
        return KTX_ERR_BAD_MSG;
    clen = get_u32(p + FRAME_MAGIC_LEN + 2);
    plen = get_u32(p + FRAME_MAGIC_LEN + 6);
    if (clen > len - FRAME_HEADER_LEN || plen != len - FRAME_HEADER_LEN - clen)
        return KTX_ERR_BAD_MSG;
    f->committed_set = (p[FRAME_MAGIC_LEN + 1] & FRAME_F_COMMITTED) != 0;
    f->pending_set = (p[FRAME_MAGIC_LEN + 1] & FRAME_F_PENDING) != 0;
    if ((!f->committed_set && clen) || (!f->pending_set && plen))
        return KTX_ERR_BAD_MSG;
    f->committed = p + FRAME_HEADER_LEN;
    f->committed_len = clen;
    f->pending = p + FRAME_HEADER_LEN + clen;
    f->pending_len = plen;
    return 0;
}

uint8_t *ktx__persist_frame_encode(const struct ktx__persist_frame *f, size_t *len)
{
    size_t clen = f->committed_set ? f->committed_len : 0;
    size_t plen = f->pending_set ? f->pending_len : 0;
    uint8_t *p;

    if (clen > UINT32_MAX || plen > UINT32_MAX ||
        !(p = malloc(FRAME_HEADER_LEN + clen + plen + 1)))
        return NULL;
    memcpy(p, FRAME_MAGIC, FRAME_MAGIC_LEN);
    p[FRAME_MAGIC_LEN] = FRAME_VERSION;
    p[FRAME_MAGIC_LEN + 1] = (uint8_t)((f->committed_set ? FRAME_F_COMMITTED : 0) |
                                       (f->pending_set ? FRAME_F_PENDING : 0));
    put_u32(p + FRAME_MAGIC_LEN + 2, (uint32_t)clen);
    put_u32(p + FRAME_MAGIC_LEN + 6, (uint32_t)plen);
    if (clen)
        memcpy(p + FRAME_HEADER_LEN, f->committed, clen);
    if (plen)
        memcpy(p + FRAME_HEADER_LEN + clen, f->pending, plen);
    *len = FRAME_HEADER_LEN + clen + plen;
    return p;
}

/* Replaces the owned copy at |*dst| with |len| bytes of |src| (|set| false: none). */
static int set_blob(uint8_t **dst, size_t *dst_len, bool *dst_set, const uint8_t *src,
                    size_t len, bool set)
{
    uint8_t *copy = NULL;

    if (set && !(copy = malloc(len + 1)))
        return KTX_ERR_NO_MEMORY;
    if (set && len)
        memcpy(copy, src, len);
    free(*dst);
    *dst = copy;
    *dst_len = set ? len : 0;
    *dst_set = set;
    return 0;
}

/* A transactional identity: splits the checkpoint row into the committed position (the
 * report's) and the pending one of a COMMITTING transaction (resolved at init). */
static int load_txn_positions(struct ktx__persist *persist)
{
    struct ktx__persist_report *r = &persist->report;
    struct ktx__persist_frame f;
    uint8_t *raw = r->position;
    size_t raw_len = r->position_len;
    int err;

    if (ktx__persist_frame_decode(raw, raw_len, &f) != 0) {
        /* Not fail silently: the positions are what exactly-once resumes from. */
        err = KTX_ERR_STORE;
        persist->frame_error = true;
        return err;
    }
    r->position = NULL;
    r->position_len = 0;
    err = set_blob(&persist->committed_pos, &persist->committed_len, &persist->committed_set,
                   f.committed, f.committed_len, f.committed_set);
    if (err == 0 && r->txn_state == KTX__STORE_TXN_COMMITTING)
        err = set_blob(&persist->resolve_pos, &persist->resolve_len, &persist->resolve_set,
                       f.pending, f.pending_len, f.pending_set);
    if (err == 0 && f.committed_set)
        err = set_blob(&r->position, &r->position_len, &(bool){false}, f.committed,
                       f.committed_len, true);
    free(raw);
    return err;
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
    if ((err = ktx__store_checkpoint_get(persist->store, &persist->report.position,
                                         &persist->report.position_len)) != 0)
        return err;
    return persist->transactional ? load_txn_positions(persist) : 0;
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
 * epoch as they are; after a crash its first InitProducerId bumps that id's epoch (KIP-360).
 * A transactional producer's first InitProducerId carries the persisted id and epoch (the
 * KIP-360 form, v3+: txn_requests.c sends what |idem| holds). */
static void seed_identity(struct ktx__idem *idem, struct ktx__persist *persist)
{
    if (!idem->idempotent || persist->report.producer_id < 0 ||
        persist->report.producer_epoch < 0)
        return;
    if (idem->txn) {
        idem->producer_id = persist->report.producer_id;
        idem->producer_epoch = persist->report.producer_epoch;
        persist->kip360 = true;
        return;
    }
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
    persist->transactional = v->transactional_id != NULL;
    persist->committing_id = -1;
    persist->committing_epoch = -1;
    persist->max_in_flight = (int)KTX__MIN(KTX__MAX(v->max_in_flight, 1),
                                           KTX__ACC_MAX_IN_FLIGHT_IDEMPOTENT);
    err = ktx__store_open(&persist->store, v->state_path, identity_of(v), v->state_sync,
                          errbuf, errlen);
    if (err == 0 && ((err = load_report(persist)) != 0 || (err = load_seeds(persist)) != 0 ||
                     (persist->journal && (err = ktx__journal_load(persist)) != 0)))
    {
        if (persist->frame_error)
            snprintf(errbuf, errlen, "state file %s: the checkpoint of transactional id \"%s\" "
                     "is not a valid kafkatx position frame (a damaged file?)",
                     ktx__store_path(persist->store), identity_of(v));
        else
            snprintf(errbuf, errlen, "%s", ktx__store_errmsg(persist->store));
    }
    if (err != 0) {
        ktx__persist_free(persist);
        return err;
    }
    persist->saved_id = persist->report.producer_id;
    persist->saved_epoch = persist->report.producer_epoch;
    persist->txn_state = persist->report.txn_state;
    persist->logical = persist->report.txn_state;
    if (persist->transactional && persist->txn_state == KTX__STORE_TXN_COMMITTING) {
        persist->resolving = true;
        persist->committing_id = persist->report.producer_id;
        persist->committing_epoch = persist->report.producer_epoch;
    }
    idem->persist = persist;
    seed_identity(idem, persist);
    return 0;
}

/* The logical state a transaction in |st| moves the state |was| to. */
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

/*
 * Writes |state| in one store commit: the current identity (unless |with_identity| is
 * false), the state, and the frame of the committed position plus, for COMMITTING, the
 * position the transaction moves to (the pending checkpoint, else the committed one).
 * Called with |persist->lock| held.
 */
static int write_txn(struct ktx__persist *persist, const struct ktx__idem *idem,
                     enum ktx__store_txn_state state, bool with_identity)
{
    struct ktx__persist_frame f = {persist->committed_pos, persist->committed_len,
                                   persist->committed_set, NULL, 0, false};
    struct ktx__store_producer rec = {idem->producer_id, idem->producer_epoch, NULL, 0, 0};
    uint8_t *frame;
    size_t len = 0;
    int err;

    if (state == KTX__STORE_TXN_COMMITTING) {
        f.pending_set = persist->pending_set || persist->committed_set;
        f.pending = persist->pending_set ? persist->pending_position : persist->committed_pos;
        f.pending_len = persist->pending_set ? persist->pending_len : persist->committed_len;
    }
    if (!(frame = ktx__persist_frame_encode(&f, &len)))
        return KTX_ERR_NO_MEMORY;
    if ((err = ktx__store_txn_begin(persist->store)) != 0) {
        free(frame);
        return err;
    }
    if (with_identity && idem->producer_id >= 0)
        err = ktx__store_save_producer(persist->store, &rec);
    if (err == 0)
        err = ktx__store_set_txn_state(persist->store, state);
    if (err == 0)
        err = ktx__store_checkpoint_set(persist->store, frame, len);
    free(frame);
    if (err != 0) {
        ktx__store_txn_rollback(persist->store);
        return err;
    }
    if ((err = ktx__store_txn_commit(persist->store)) != 0)
        return err;
    persist->txn_state = state;
    persist->committed_dirty = false;
    if (with_identity && idem->producer_id >= 0) {
        persist->saved_id = idem->producer_id;
        persist->saved_epoch = idem->producer_epoch;
    }
    persist->committing_id = state == KTX__STORE_TXN_COMMITTING ? idem->producer_id : -1;
    persist->committing_epoch = state == KTX__STORE_TXN_COMMITTING ? idem->producer_epoch : -1;
    return 0;
}

/* Records a failed write of |state|: the producer becomes fatal (never a silent weaker
 * guarantee). Called with |persist->lock| held; the caller sets the sender fatal. */
static void write_failed(struct ktx__idem *idem, struct ktx__persist *persist,
                         enum ktx__store_txn_state state, int err)
{
    persist->store_err = err == KTX_ERR_NO_MEMORY ? KTX_ERR_STORE : err;
    ktx__sender_log(idem->sender, KTX_LOG_ERR, "persist", "saving transaction state %s: %s",
                    ktx__store_txn_state_name(state),
                    err == KTX_ERR_NO_MEMORY ? "out of memory" : ktx__store_errmsg(persist->store));
}

/* Drops the checkpoint of the transaction in progress (it aborts). Lock held. */
static void drop_pending(struct ktx__persist *persist)
{
    free(persist->pending_position);
    persist->pending_position = NULL;
    persist->pending_len = 0;
    persist->pending_set = false;
}

/* The transaction committed: its checkpoint becomes the committed position. Lock held. */
static void take_pending(struct ktx__persist *persist)
{
    if (!persist->pending_set)
        return;
    free(persist->committed_pos);
    persist->committed_pos = persist->pending_position;
    persist->committed_len = persist->pending_len;
    persist->committed_set = true;
    persist->committed_dirty = true;
    persist->pending_position = NULL;
    persist->pending_len = 0;
    persist->pending_set = false;
}

/* Follows the state machine in memory (no write): the writes happen when EndTxn is sent
 * and answered (ktx__persist_txn_end_sending(), ktx__persist_txn_ended(), which the
 * manager also calls for a transaction that ends without EndTxn). A transaction seen
 * aborting drops its checkpoint here already. */
static void sync_txn(struct ktx__idem *idem, struct ktx__persist *persist)
{
    enum ktx__txn_state st = ktx__txn_sm_state(&idem->txn->sm);
    enum ktx__store_txn_state want = next_txn_state(st, persist->logical);

    if (want == persist->logical && st != KTX__TXN_ABORTING && st != KTX__TXN_ABORTABLE_ERROR)
        return; /* the usual sender turn: nothing to follow, no lock */
    pthread_mutex_lock(&persist->lock);
    if (st == KTX__TXN_ABORTING || st == KTX__TXN_ABORTABLE_ERROR)
        drop_pending(persist);
    if (want == KTX__STORE_TXN_COMMITTED && persist->logical == KTX__STORE_TXN_COMMITTING)
        take_pending(persist); /* a commit without EndTxn (nothing was added) */
    persist->logical = want;
    pthread_mutex_unlock(&persist->lock);
}

int ktx__persist_txn_end_sending(struct ktx__idem *idem, bool commit)
{
    struct ktx__persist *persist = idem->persist;
    enum ktx__store_txn_state state = commit ? KTX__STORE_TXN_COMMITTING : KTX__STORE_TXN_ABORTED;
    int err = 0;

    if (!persist)
        return 0;
    if (persist->store_err)
        return persist->store_err;
    pthread_mutex_lock(&persist->lock);
    /* COMMITTING goes to the file before EndTxn(commit) is sent (a retry finds it there);
     * an abort only has to overwrite a COMMITTING the coordinator never saw. */
    if (commit ? !(persist->txn_state == KTX__STORE_TXN_COMMITTING &&
                   persist->committing_id == idem->producer_id &&
                   persist->committing_epoch == idem->producer_epoch && persist->end_written)
               : persist->txn_state == KTX__STORE_TXN_COMMITTING) {
        err = write_txn(persist, idem, state, true);
        if (err != 0)
            write_failed(idem, persist, state, err);
        else
            persist->end_written = commit;
    }
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
    return err != 0 ? KTX_ERR_STORE : 0;
}

void ktx__persist_txn_ended(struct ktx__idem *idem, bool commit)
{
    struct ktx__persist *persist = idem->persist;
    int err = 0;

    if (!persist)
        return;
    pthread_mutex_lock(&persist->lock);
    persist->logical = commit ? KTX__STORE_TXN_COMMITTED : KTX__STORE_TXN_ABORTED;
    if (!commit) {
        drop_pending(persist);
    } else {
        take_pending(persist);
        /* Transactions v1: the next transaction runs with this epoch, so at a restart the
         * coordinator could not tell it from this one: COMMITTED is written now. With
         * transactions v2 (KIP-890) EndTxn bumped the epoch and the coordinator tells them
         * apart: nothing is written (one store commit per transaction). */
        if (!persist->store_err && persist->end_written &&
            persist->txn_state == KTX__STORE_TXN_COMMITTING &&
            idem->producer_id == persist->committing_id &&
            idem->producer_epoch == persist->committing_epoch) {
            err = write_txn(persist, idem, KTX__STORE_TXN_COMMITTED, true);
            if (err != 0)
                write_failed(idem, persist, KTX__STORE_TXN_COMMITTED, err);
        }
    }
    persist->end_written = false;
    pthread_mutex_unlock(&persist->lock);
    if (err != 0)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
}

/* ---- Resolving the previous run's COMMITTING (DescribeTransactions) ---- */

/* The number of DescribeTransactions failures before the outcome stays unknown. */
#define RESOLVE_MAX_ATTEMPTS 20

/* Sets the restart report to |outcome| with |pos| and writes it (no identity: the
 * coordinator has not answered InitProducerId yet). Lock held. */
static void resolve(struct ktx__idem *idem, struct ktx__persist *persist,
                    enum ktx__store_txn_state outcome, bool pending, const char *why)
{
    struct ktx__persist_report *r = &persist->report;
    const uint8_t *pos = pending ? persist->resolve_pos : persist->committed_pos;
    size_t len = pending ? persist->resolve_len : persist->committed_len;
    bool set = pending ? persist->resolve_set : persist->committed_set;
    int err;

    persist->resolving = false;
    if (outcome == KTX__STORE_TXN_COMMITTING) {
        ktx__sender_log(idem->sender, KTX_LOG_WARNING, "persist",
                        "the outcome of the previous run's last transaction stays unknown: %s",
                        why);
        return;
    }
    ktx__sender_log(idem->sender, KTX_LOG_INFO, "persist",
                    "the previous run's last transaction %s: %s",
                    outcome == KTX__STORE_TXN_COMMITTED ? "committed" : "aborted", why);
    if ((err = set_blob(&persist->committed_pos, &persist->committed_len,
                        &persist->committed_set, pos, len, set)) == 0) { /* |pos| may be freed */
        /* A report read before holds the old position until the producer is destroyed. */
        free(persist->retired_position);
        persist->retired_position = r->position;
        r->position = NULL;
        err = set_blob(&r->position, &r->position_len, &(bool){false}, persist->committed_pos,
                       persist->committed_len, persist->committed_set);
    }
    if (err == 0)
        err = write_txn(persist, idem, outcome, false);
    if (err != 0) {
        write_failed(idem, persist, outcome, err);
        return;
    }
    r->txn_state = outcome;
    persist->logical = outcome;
}

/* Kafka's TransactionState names as DescribeTransactions reports them. */
static bool state_is(const struct ktx__describe_transactions_state *st, const char *name)
{
    return ktx__str_eq_c(st->transaction_state, name);
}

/*
 * Decides the previous run's COMMITTING transaction from the coordinator's record (the
 * file holds the producer id P and epoch E EndTxn(commit) was sent with):
 * - epoch E: Ongoing or PrepareEpochFence: the commit never arrived (the next
 *   InitProducerId aborts it); Prepare/CompleteCommit: committed; Prepare/CompleteAbort:
 *   aborted; Empty: nothing was added, so nothing was sent either (committed).
 * - epoch E + 1 (transactions v2 bump the epoch at EndTxn; a timeout fences with +1):
 *   Prepare/CompleteCommit: committed; Ongoing: committed, and a later transaction (never
 *   asked to commit, so never recorded) was open; an abort state: the transaction timed out
 *   (aborted).
 * - anything else (another producer id, a later epoch, the id unknown): unknown.
 */
static void decide(struct ktx__idem *idem, struct ktx__persist *persist,
                   const struct ktx__describe_transactions_state *st)
{
    int64_t id = persist->committing_id;
    int epoch = persist->committing_epoch;
    bool commit_state = state_is(st, "PrepareCommit") || state_is(st, "CompleteCommit");
    bool abort_state = state_is(st, "PrepareAbort") || state_is(st, "CompleteAbort");

    if (st->producer_id != id || id < 0) {
        resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false,
                "the coordinator holds another producer id");
    } else if (st->producer_epoch == epoch) {
        if (commit_state || state_is(st, "Empty"))
            resolve(idem, persist, KTX__STORE_TXN_COMMITTED, true,
                    "the coordinator completed its commit");
        else if (abort_state || state_is(st, "Ongoing") || state_is(st, "PrepareEpochFence"))
            resolve(idem, persist, KTX__STORE_TXN_ABORTED, false,
                    "the coordinator never received its commit");
        else
            resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false,
                    "the coordinator reports an unexpected state");
    } else if (st->producer_epoch == epoch + 1) {
        if (commit_state)
            resolve(idem, persist, KTX__STORE_TXN_COMMITTED, true,
                    "the coordinator completed its commit (transactions v2)");
        else if (state_is(st, "Ongoing"))
            resolve(idem, persist, KTX__STORE_TXN_COMMITTED, true,
                    "it committed (transactions v2); the later open one was never committed");
        else if (abort_state || state_is(st, "PrepareEpochFence"))
            resolve(idem, persist, KTX__STORE_TXN_ABORTED, false,
                    "the coordinator aborted it (transaction timeout)");
        else
            resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false,
                    "another producer initialized the transactional id");
    } else {
        resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false,
                "the coordinator's epoch moved on (another producer or a timeout)");
    }
}

bool ktx__persist_txn_described(struct ktx__idem *idem, int code,
                                const struct ktx__describe_transactions_state *st)
{
    struct ktx__persist *persist = idem->persist;
    bool retry = false;
    char why[160];

    if (!persist || !persist->resolving)
        return false;
    pthread_mutex_lock(&persist->lock);
    if (code == 0 && st) {
        decide(idem, persist, st);
    } else if ((code == KTX_ERR_NOT_COORDINATOR || code == KTX_ERR_COORDINATOR_NOT_AVAILABLE ||
                code == KTX_ERR_COORDINATOR_LOAD_IN_PROGRESS || code == KTX_ERR_TRANSPORT ||
                code == KTX_ERR_TIMED_OUT || code == KTX_ERR_REQUEST_TIMED_OUT) &&
               ++persist->resolve_attempts < RESOLVE_MAX_ATTEMPTS) {
        retry = true;
    } else {
        snprintf(why, sizeof(why), "DescribeTransactions answered %s", ktx_err_name(code));
        resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false, why);
    }
    pthread_mutex_unlock(&persist->lock);
    if (persist->store_err)
        ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
    return retry;
}

bool ktx__persist_txn_resolve_step(struct ktx__idem *idem, int64_t now)
{
    struct ktx__persist *persist = idem->persist;
    struct ktx__txnmgr *mgr = idem->txn;
    struct ktx__net *net = ktx__sender_net(idem->sender);
    struct ktx__conn *conn;

    if (!persist || !persist->resolving || !mgr ||
        ktx__txn_sm_state(&mgr->sm) != KTX__TXN_INITIALIZING || ktx__sender_fatal(idem->sender) ||
        mgr->in_flight != KTX__TXNR_NONE || now < mgr->next_try_ms || mgr->coord_node < 0 ||
        !ktx__net_ready(net, mgr->coord_node, now))
        return false;
    conn = ktx__net_conn(net, mgr->coord_node);
    if (!conn || ktx__conn_api_version(conn, KTX__API_DESCRIBE_TRANSACTIONS) < 0) {
        pthread_mutex_lock(&persist->lock);
        resolve(idem, persist, KTX__STORE_TXN_COMMITTING, false,
                "the coordinator does not support DescribeTransactions");
        pthread_mutex_unlock(&persist->lock);
        if (persist->store_err)
            ktx__sender_set_fatal(idem->sender, KTX_ERR_STORE);
        return false;
    }
    if (ktx__txnreq_describe_transactions(mgr, now) != 0)
        ktx__txnmgr_retry(mgr, KTX__TXN_REQ_FIND_COORDINATOR, KTX_ERR_TRANSPORT, true);
    return true;
}

void ktx__persist_txn_init_done(struct ktx__idem *idem)
{
    if (idem->persist) {
        idem->persist->inits_answered++;
        idem->persist->kip360 = false;
    }
}

bool ktx__persist_txn_init_fenced(struct ktx__idem *idem, int code)
{
    struct ktx__persist *persist = idem->persist;

    if (!persist || !persist->kip360)
        return false;
    persist->kip360 = false;
    ktx__sender_log(idem->sender, KTX_LOG_WARNING, "persist",
                    "InitProducerId with the persisted producer id %lld epoch %d answered %s "
                    "(another producer or a fence moved the epoch on): asking as a new "
                    "producer instead, as Kafka's Java client does",
                    (long long)idem->producer_id, (int)idem->producer_epoch, ktx_err_name(code));
    idem->producer_id = -1;
    idem->producer_epoch = -1;
    return true;
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
    if (idem->txn) {
        sync_txn(idem, persist);
        if (ktx__persist_txn_resolve_step(idem, now))
            return false; /* DescribeTransactions before anything else */
    }
    if (!persist->next_run_first)
        return false;
    return persist->next_run_first(opaque, sender, now, timeout_ms);
}

/* The destroy hook (the sender thread has ended): a transactional producer that ends
 * between transactions writes the last outcome (so that the next run needs no
 * coordinator to know it), then the wrapped hook frees the transaction manager. */
static void persist_destroy(void *opaque)
{
    struct ktx__idem *idem = opaque;
    struct ktx__persist *persist = idem->persist;

    if (persist && idem->txn && !persist->store_err) {
        enum ktx__store_txn_state want;
        int err = 0;

        sync_txn(idem, persist);
        want = persist->logical;
        pthread_mutex_lock(&persist->lock);
        if (ktx__txn_sm_state(&idem->txn->sm) == KTX__TXN_READY && !persist->resolving &&
            (want == KTX__STORE_TXN_COMMITTED || want == KTX__STORE_TXN_ABORTED) &&
            (want != persist->txn_state || persist->committing_id >= 0 || persist->pending_set ||
             persist->committed_dirty)) {
            take_pending(persist);
            err = write_txn(persist, idem, want, true);
            if (err != 0)
                write_failed(idem, persist, want, err);
        }
        pthread_mutex_unlock(&persist->lock);
    }
    persist->next_destroy(opaque);
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
    if (persist->transactional) {
        /* Only the identity InitProducerId handed out is saved here; the epoch EndTxn v5
         * bumps goes with the next transaction write (one store commit per transaction). A
         * file that says COMMITTING keeps the identity of that commit (the restart compares
         * the coordinator's record with it). */
        if (persist->inits_saved == persist->inits_answered)
            return;
    } else if (idem->producer_id == persist->saved_id &&
               idem->producer_epoch == persist->saved_epoch &&
               idem->epoch_bumps == persist->seen_bumps) {
        return;
    }
    pthread_mutex_lock(&persist->lock);
    if (!persist->first_identity_seen && is_reset(idem, persist))
        report_id_reset(idem, persist);
    persist->first_identity_seen = true;
    persist->seen_bumps = idem->epoch_bumps;
    persist->inits_saved = persist->inits_answered;
    if (persist->transactional && persist->txn_state == KTX__STORE_TXN_COMMITTING) {
        pthread_mutex_unlock(&persist->lock);
        return;
    }
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
    free(persist->committed_pos);
    free(persist->resolve_pos);
    free(persist->retired_position);
    free(persist->report.position);
    pthread_mutex_destroy(&persist->lock);
    free(persist);
}
