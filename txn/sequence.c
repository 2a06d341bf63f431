/*
 * Per-partition sequence numbers of the idempotent producer: assignment at drain time,
 * outstanding base sequences, acknowledgements, failures and the resolution of unresolved
 * partitions (Kafka's TransactionManager: maybeResolveSequences, markSequenceUnresolved,
 * shouldStopDrainBatchesForPartition).
 *
 * Thread: sender. Locks: none (the state is the sender thread's).
 */
#include <stdlib.h>
#include <string.h>

#include "idempotence.h"

/* Kafka's DefaultRecordBatch.incrementSequence(): sequences wrap to 0 after INT32_MAX. */
static int32_t seq_add(int32_t seq, int32_t inc)
{
    if (seq > INT32_MAX - inc)
        return inc - (INT32_MAX - seq) - 1;
    return seq + inc;
}

static size_t slot_of(const struct ktx__acc_part *part, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)part;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

/* Doubles the table (or creates it). Returns 0 or KTX_ERR_NO_MEMORY. */
static int grow_table(struct ktx__idem *idem)
{
    size_t ncap = idem->parts_cap ? idem->parts_cap * 2 : 64;
    struct ktx__idem_part *nparts = calloc(ncap, sizeof(*nparts));

    if (!nparts)
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < idem->parts_cap; i++) {
        size_t s;

        if (!idem->parts[i].part)
            continue;
        s = slot_of(idem->parts[i].part, ncap);
        while (nparts[s].part)
            s = (s + 1) & (ncap - 1);
        nparts[s] = idem->parts[i];
    }
    free(idem->parts);
    idem->parts = nparts;
    idem->parts_cap = ncap;
    return 0;
}

struct ktx__idem_part *ktx__seq_part(struct ktx__idem *idem, const struct ktx__acc_part *part)
{
    size_t s;

    if ((idem->parts_len + 1) * 2 > idem->parts_cap && grow_table(idem) != 0)
        return NULL;
    s = slot_of(part, idem->parts_cap);
    while (idem->parts[s].part && idem->parts[s].part != part)
        s = (s + 1) & (idem->parts_cap - 1);
    if (!idem->parts[s].part) {
        memset(&idem->parts[s], 0, sizeof(idem->parts[s]));
        idem->parts[s].part = part;
        idem->parts[s].last_acked_sequence = -1;
        idem->parts_len++;
    }
    return &idem->parts[s];
}

bool ktx__seq_is_current(const struct ktx__idem *idem, const struct ktx__batch *batch)
{
    return batch->stamped && batch->producer_id == idem->producer_id &&
           batch->producer_epoch == idem->producer_epoch && batch->base_sequence >= 0;
}

bool ktx__seq_may_drain(void *opaque, const struct ktx__batch *batch)
{
    struct ktx__idem *idem = opaque;
    struct ktx__idem_part *p;

    if (!idem->idempotent)
        return true;
    if (idem->producer_id < 0 || idem->bump_requested || ktx__sender_fatal(idem->sender))
        return false;
    if (!(p = ktx__seq_part(idem, batch->part)) || p->unresolved)
        return false;
    if (ktx__seq_is_current(idem, batch))
        /* A retry goes only as the partition's first outstanding batch: order is kept. */
        return p->n_outstanding > 0 && p->outstanding[0] == batch->base_sequence;
    return p->n_outstanding < KTX__IDEM_MAX_OUTSTANDING;
}

bool ktx__seq_assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                     int16_t *producer_epoch, int32_t *base_sequence, bool *transactional)
{
    struct ktx__idem *idem = opaque;
    struct ktx__idem_part *p;

    if (!idem->idempotent || ktx__seq_is_current(idem, batch))
        return false;
    if (!(p = ktx__seq_part(idem, batch->part)) || p->n_outstanding >= KTX__IDEM_MAX_OUTSTANDING)
        return false; /* cannot happen after may_drain said yes */
    *producer_id = idem->producer_id;
    *producer_epoch = idem->producer_epoch;
    *base_sequence = p->next_sequence;
    *transactional = false;
    p->outstanding[p->n_outstanding++] = p->next_sequence;
    p->next_sequence = seq_add(p->next_sequence, batch->record_count);
    return true;
}

/* Removes |seq| from the outstanding list of |p|. */
static void forget(struct ktx__idem_part *p, int32_t seq)
{
    for (int i = 0; i < p->n_outstanding; i++) {
        if (p->outstanding[i] == seq) {
            memmove(&p->outstanding[i], &p->outstanding[i + 1],
                    (size_t)(p->n_outstanding - i - 1) * sizeof(p->outstanding[0]));
            p->n_outstanding--;
            return;
        }
    }
}

void ktx__seq_acked(struct ktx__idem *idem, const struct ktx__batch *batch)
{
    struct ktx__idem_part *p = ktx__seq_part(idem, batch->part);
    int32_t last = seq_add(batch->base_sequence, batch->record_count - 1);

    if (!p)
        return;
    forget(p, batch->base_sequence);
    /* Acknowledgements come in sequence order per partition; a wrap starts again low. */
    if (last > p->last_acked_sequence || batch->base_sequence == 0)
        p->last_acked_sequence = last;
}

void ktx__seq_failed(struct ktx__idem *idem, const struct ktx__batch *batch, bool maybe_written)
{
    struct ktx__idem_part *p = ktx__seq_part(idem, batch->part);

    if (!p)
        return;
    if (batch->expired_in_flight && batch->in_flight) {
        /* Expired while its request is out: it may land, so the partition is unresolved,
         * and its sequence stays outstanding until the answer settles it (acknowledged:
         * proven written; failed: forgotten here again, and the gap bumps the epoch). */
        p->unresolved = true;
        return;
    }
    forget(p, batch->base_sequence);
    if (maybe_written)
        p->unresolved = true;
}

bool ktx__seq_is_next(struct ktx__idem *idem, const struct ktx__batch *batch)
{
    struct ktx__idem_part *p = ktx__seq_part(idem, batch->part);

    return p && seq_add(p->last_acked_sequence, 1) == batch->base_sequence;
}

void ktx__seq_resolve(struct ktx__idem *idem)
{
    for (size_t i = 0; i < idem->parts_cap; i++) {
        struct ktx__idem_part *p = &idem->parts[i];

        if (!p->part || !p->unresolved || p->n_outstanding > 0)
            continue;
        p->unresolved = false;
        if (seq_add(p->last_acked_sequence, 1) == p->next_sequence) {
            /* Later acknowledgements prove that the batch of unknown fate was written. */
            ktx__sender_log(idem->sender, KTX_LOG_INFO, "txn",
                            "%s [%d]: sequences resolved (last acknowledged %d)",
                            ktx__acc_part_topic(p->part), (int)ktx__acc_part_partition(p->part),
                            (int)p->last_acked_sequence);
            continue;
        }
        ktx__epoch_request_bump(idem, "a batch of unknown fate left a sequence gap");
    }
}

void ktx__seq_reset_all(struct ktx__idem *idem)
{
    for (size_t i = 0; i < idem->parts_cap; i++) {
        struct ktx__idem_part *p = &idem->parts[i];

        if (!p->part)
            continue;
        p->next_sequence = 0;
        p->last_acked_sequence = -1;
        p->unresolved = false;
        p->n_outstanding = 0;
    }
}

void ktx__seq_free(struct ktx__idem *idem)
{
    free(idem->parts);
    idem->parts = NULL;
    idem->parts_cap = idem->parts_len = 0;
}
