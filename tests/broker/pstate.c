/*
 * Producer state of one partition: sequence, epoch and open-transaction rules. See pstate.h.
 */
#include "pstate.h"

#include <stdlib.h>
#include <string.h>

void kb_pstate_init(struct kb_pstate *ps)
{
    memset(ps, 0, sizeof(*ps));
}

void kb_pstate_free(struct kb_pstate *ps)
{
    free(ps->producers);
    memset(ps, 0, sizeof(*ps));
}

const struct kb_producer *kb_pstate_find(const struct kb_pstate *ps, int64_t producer_id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->producers[i].producer_id == producer_id)
            return &ps->producers[i];
    return NULL;
}

/* Returns the mutable entry for |producer_id|, creating it (epoch -1) when absent. */
static struct kb_producer *find_or_add(struct kb_pstate *ps, int64_t producer_id)
{
    struct kb_producer *p = (struct kb_producer *)kb_pstate_find(ps, producer_id);

    if (p)
        return p;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        struct kb_producer *np = realloc(ps->producers, cap * sizeof(*np));
        if (!np)
            return NULL;
        ps->producers = np;
        ps->cap = cap;
    }
    p = &ps->producers[ps->n++];
    memset(p, 0, sizeof(*p));
    p->producer_id = producer_id;
    p->producer_epoch = -1;
    p->last_seq = -1;
    p->txn_first_offset = -1;
    p->coordinator_epoch = -1;
    return p;
}

/* True when |next| directly follows |last| (Kafka's inSequence, with wrap-around). */
static bool in_sequence(int32_t last, int32_t next)
{
    return (last == INT32_MAX) ? next == 0 : next == last + 1;
}

/* Looks for |hdr| among the producer's remembered batches. */
static const struct kb_pstate_batch *find_duplicate(const struct kb_producer *p,
                                                    const struct kb_batch_hdr *hdr)
{
    int32_t last_seq = kb_batch_last_sequence(hdr);

    for (int i = 0; i < p->n_window; i++)
        if (p->window[i].first_seq == hdr->base_sequence && p->window[i].last_seq == last_seq)
            return &p->window[i];
    return NULL;
}

/* The sequence rules for a producer already known on this partition. */
static int check_known(const struct kb_producer *p, const struct kb_batch_hdr *hdr,
                       int64_t *dup_base_offset, int64_t *dup_last_offset)
{
    if (hdr->producer_epoch < p->producer_epoch)
        return KTX_ERR_INVALID_PRODUCER_EPOCH;
    if (hdr->producer_epoch == p->producer_epoch) {
        const struct kb_pstate_batch *dup = find_duplicate(p, hdr);
        if (dup) {
            *dup_base_offset = dup->base_offset;
            *dup_last_offset = dup->last_offset;
            return KB_PSTATE_DUPLICATE;
        }
        if (!in_sequence(p->last_seq, hdr->base_sequence))
            return KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    } else if (hdr->base_sequence != 0) {
        return KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    }
    if (!kb_batch_is_transactional(hdr) && p->txn_first_offset >= 0)
        return KTX_ERR_INVALID_TXN_STATE;
    return 0;
}

int kb_pstate_check_append(const struct kb_pstate *ps, const struct kb_batch_hdr *hdr,
                           int64_t *dup_base_offset, int64_t *dup_last_offset)
{
    const struct kb_producer *p;

    if (hdr->producer_id < 0)
        return 0;
    p = kb_pstate_find(ps, hdr->producer_id);
    if (!p || p->producer_epoch < 0)
        return hdr->base_sequence == 0 ? 0 : KTX_ERR_UNKNOWN_PRODUCER_ID;
    return check_known(p, hdr, dup_base_offset, dup_last_offset);
}

/* Adopts |epoch|; a different epoch forgets the sequence window. */
static void set_epoch(struct kb_producer *p, int16_t epoch)
{
    if (epoch == p->producer_epoch)
        return;
    p->producer_epoch = epoch;
    p->n_window = 0;
    p->last_seq = -1;
}

int kb_pstate_on_append(struct kb_pstate *ps, const struct kb_batch_hdr *hdr, int64_t base_offset)
{
    struct kb_producer *p;
    struct kb_pstate_batch *slot;

    if (hdr->producer_id < 0)
        return 0;
    p = find_or_add(ps, hdr->producer_id);
    if (!p)
        return KTX_ERR_NO_MEMORY;
    set_epoch(p, hdr->producer_epoch);
    if (p->n_window == KB_PSTATE_WINDOW) {
        memmove(&p->window[0], &p->window[1], (KB_PSTATE_WINDOW - 1) * sizeof(p->window[0]));
        p->n_window--;
    }
    slot = &p->window[p->n_window++];
    slot->first_seq = hdr->base_sequence;
    slot->last_seq = kb_batch_last_sequence(hdr);
    slot->base_offset = base_offset;
    slot->last_offset = base_offset + hdr->last_offset_delta;
    p->last_seq = slot->last_seq;
    p->last_timestamp = hdr->max_timestamp;
    if (kb_batch_is_transactional(hdr) && p->txn_first_offset < 0)
        p->txn_first_offset = base_offset;
    return 0;
}

int kb_pstate_check_marker(const struct kb_pstate *ps, int64_t producer_id, int16_t marker_epoch)
{
    const struct kb_producer *p = kb_pstate_find(ps, producer_id);

    if (p && marker_epoch < p->producer_epoch)
        return KTX_ERR_INVALID_PRODUCER_EPOCH;
    return 0;
}

int kb_pstate_on_marker(struct kb_pstate *ps, int64_t producer_id, int16_t marker_epoch,
                        int32_t coordinator_epoch, int64_t *txn_first_offset)
{
    struct kb_producer *p = find_or_add(ps, producer_id);

    if (!p)
        return KTX_ERR_NO_MEMORY;
    set_epoch(p, marker_epoch);
    *txn_first_offset = p->txn_first_offset;
    p->txn_first_offset = -1;
    p->coordinator_epoch = coordinator_epoch;
    return 0;
}

int64_t kb_pstate_first_unstable_offset(const struct kb_pstate *ps)
{
    int64_t first = -1;

    for (size_t i = 0; i < ps->n; i++) {
        int64_t o = ps->producers[i].txn_first_offset;
        if (o >= 0 && (first < 0 || o < first))
            first = o;
    }
    return first;
}
