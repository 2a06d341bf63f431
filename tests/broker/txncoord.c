/*
 * The reference broker's transaction coordinator. See txncoord.h.
 *
 * Every state change goes through transition(), which checks Kafka's table of valid
 * previous states; each request has a short dispatcher that picks one function per state.
 */
#include "txncoord.h"

#include "proto.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_TIMEOUT_MS 900000
#define DEFAULT_FIRST_PRODUCER_ID 1000
#define MAX_PARTITIONS_PER_TXN 10000
#define MAX_GROUPS_PER_TXN 1000

static const char *const state_names[KB_TXN_STATE_COUNT] = {
    "Empty",         "Ongoing",       "PrepareCommit", "PrepareAbort",
    "CompleteCommit", "CompleteAbort", "Dead",          "PrepareEpochFence",
};

#define BIT(s) (1u << (s))
/* For each target state, the states it may be entered from (Kafka's validPreviousStates). */
static const unsigned valid_previous[KB_TXN_STATE_COUNT] = {
    [KB_TXN_EMPTY] = BIT(KB_TXN_EMPTY) | BIT(KB_TXN_COMPLETE_COMMIT) | BIT(KB_TXN_COMPLETE_ABORT),
    [KB_TXN_ONGOING] = BIT(KB_TXN_ONGOING) | BIT(KB_TXN_EMPTY) | BIT(KB_TXN_COMPLETE_COMMIT) |
                       BIT(KB_TXN_COMPLETE_ABORT),
    [KB_TXN_PREPARE_COMMIT] = BIT(KB_TXN_ONGOING),
    [KB_TXN_PREPARE_ABORT] = BIT(KB_TXN_ONGOING) | BIT(KB_TXN_PREPARE_EPOCH_FENCE),
    [KB_TXN_COMPLETE_COMMIT] = BIT(KB_TXN_PREPARE_COMMIT),
    [KB_TXN_COMPLETE_ABORT] = BIT(KB_TXN_PREPARE_ABORT),
    [KB_TXN_DEAD] = BIT(KB_TXN_EMPTY) | BIT(KB_TXN_COMPLETE_COMMIT) | BIT(KB_TXN_COMPLETE_ABORT),
    [KB_TXN_PREPARE_EPOCH_FENCE] = BIT(KB_TXN_ONGOING),
};

const char *kb_txn_state_name(enum kb_txn_state state)
{
    return (unsigned)state < KB_TXN_STATE_COUNT ? state_names[state] : "Unknown";
}

bool kb_txn_transition_valid(enum kb_txn_state from, enum kb_txn_state to)
{
    if ((unsigned)from >= KB_TXN_STATE_COUNT || (unsigned)to >= KB_TXN_STATE_COUNT)
        return false;
    return (valid_previous[to] & BIT(from)) != 0;
}

/* Moves |txn| to |to|. Returns 0 or KTX_ERR_STATE (a bug in this file) for an invalid move. */
static int transition(struct kb_txn *txn, enum kb_txn_state to, int64_t now_ms)
{
    if (!kb_txn_transition_valid(txn->state, to))
        return KTX_ERR_STATE;
    txn->state = to;
    txn->update_ms = now_ms;
    return 0;
}

void kb_txncoord_init(struct kb_txncoord *coord, const struct kb_txncoord_conf *conf)
{
    memset(coord, 0, sizeof(*coord));
    if (conf)
        coord->conf = *conf;
    if (coord->conf.max_timeout_ms <= 0)
        coord->conf.max_timeout_ms = DEFAULT_MAX_TIMEOUT_MS;
    if (coord->conf.first_producer_id <= 0)
        coord->conf.first_producer_id = DEFAULT_FIRST_PRODUCER_ID;
    coord->next_producer_id = coord->conf.first_producer_id;
}

static void free_tps(struct kb_tp *tps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(tps[i].topic);
    free(tps);
}

static void free_strs(char **strs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
}

/* Forgets the partitions and groups of |txn|'s last transaction. */
static void clear_members(struct kb_txn *txn)
{
    free_tps(txn->partitions, txn->n_partitions);
    free_strs(txn->groups, txn->n_groups);
    txn->partitions = NULL;
    txn->groups = NULL;
    txn->n_partitions = txn->cap_partitions = 0;
    txn->n_groups = txn->cap_groups = 0;
}

static void txn_free(struct kb_txn *txn)
{
    clear_members(txn);
    free(txn->transactional_id);
    free(txn);
}

void kb_txncoord_free(struct kb_txncoord *coord)
{
    for (size_t i = 0; i < coord->n_txns; i++)
        txn_free(coord->txns[i]);
    free(coord->txns);
    memset(coord, 0, sizeof(*coord));
}

void kb_txn_markers_free(struct kb_txn_markers *markers)
{
    if (!markers)
        return;
    free(markers->transactional_id);
    free_tps(markers->partitions, markers->n_partitions);
    free_strs(markers->groups, markers->n_groups);
    memset(markers, 0, sizeof(*markers));
}

static struct kb_txn *find_txn(const struct kb_txncoord *coord, const char *transactional_id)
{
    for (size_t i = 0; i < coord->n_txns; i++)
        if (strcmp(coord->txns[i]->transactional_id, transactional_id) == 0)
            return coord->txns[i];
    return NULL;
}

const struct kb_txn *kb_txncoord_find(const struct kb_txncoord *coord, const char *transactional_id)
{
    return find_txn(coord, transactional_id);
}

/* Creates the record of a new transactional id, with a new producer id and epoch 0. */
static struct kb_txn *txn_new(struct kb_txncoord *coord, const char *transactional_id,
                              int32_t timeout_ms, int64_t now_ms)
{
    struct kb_txn *txn;

    if (coord->n_txns == coord->cap_txns) {
        size_t cap = coord->cap_txns ? coord->cap_txns * 2 : 16;
        struct kb_txn **np = realloc(coord->txns, cap * sizeof(*np));
        if (!np)
            return NULL;
        coord->txns = np;
        coord->cap_txns = cap;
    }
    txn = calloc(1, sizeof(*txn));
    if (!txn || !(txn->transactional_id = strdup(transactional_id))) {
        free(txn);
        return NULL;
    }
    txn->producer_id = coord->next_producer_id++;
    txn->last_producer_id = -1;
    txn->last_producer_epoch = -1;
    txn->state = KB_TXN_EMPTY;
    txn->timeout_ms = timeout_ms;
    txn->start_ms = -1;
    txn->update_ms = now_ms;
    txn->complete_at_ms = -1;
    coord->txns[coord->n_txns++] = txn;
    return txn;
}

/* Kafka does not hand out Short.MaxValue - 1 or above, so a fence can always bump. */
static bool epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;
}

/* Bumps the epoch, recording |last_epoch| as the one a retry may present; rotates to a new
 * producer id when the epoch is exhausted. */
static void bump_epoch(struct kb_txncoord *coord, struct kb_txn *txn, int16_t last_epoch)
{
    if (epoch_exhausted(txn->producer_epoch)) {
        txn->last_producer_id = txn->producer_id;
        txn->producer_id = coord->next_producer_id++;
        txn->producer_epoch = 0;
        txn->last_producer_epoch = last_epoch;
        return;
    }
    txn->producer_epoch++;
    txn->last_producer_epoch = last_epoch;
}

/* Deep-copies the transaction's partitions and groups into |out| as |commit| markers. */
static int fill_markers(const struct kb_txncoord *coord, const struct kb_txn *txn, bool commit,
                        int64_t producer_id, int16_t producer_epoch, struct kb_txn_markers *out)
{
    memset(out, 0, sizeof(*out));
    out->producer_id = producer_id;
    out->producer_epoch = producer_epoch;
    out->commit = commit;
    out->coordinator_epoch = coord->conf.coordinator_epoch;
    out->transactional_id = strdup(txn->transactional_id);
    out->partitions = calloc(txn->n_partitions + 1, sizeof(*out->partitions));
    out->groups = calloc(txn->n_groups + 1, sizeof(*out->groups));
    if (!out->transactional_id || !out->partitions || !out->groups)
        goto oom;
    for (; out->n_partitions < txn->n_partitions; out->n_partitions++) {
        struct kb_tp *tp = &out->partitions[out->n_partitions];
        tp->partition = txn->partitions[out->n_partitions].partition;
        if (!(tp->topic = strdup(txn->partitions[out->n_partitions].topic)))
            goto oom;
    }
    for (; out->n_groups < txn->n_groups; out->n_groups++)
        if (!(out->groups[out->n_groups] = strdup(txn->groups[out->n_groups])))
            goto oom;
    return 0;
oom:
    kb_txn_markers_free(out);
    return KTX_ERR_NO_MEMORY;
}

/* Ongoing (or PrepareEpochFence) to PrepareCommit/PrepareAbort, with the marker work. */
static int prepare_end(struct kb_txncoord *coord, struct kb_txn *txn, bool commit,
                       int64_t now_ms, struct kb_txn_markers *out)
{
    int err = fill_markers(coord, txn, commit, txn->producer_id, txn->producer_epoch, out);

    if (err)
        return err;
    err = transition(txn, commit ? KB_TXN_PREPARE_COMMIT : KB_TXN_PREPARE_ABORT, now_ms);
    if (err) {
        kb_txn_markers_free(out);
        return err;
    }
    txn->markers_written = false;
    txn->complete_at_ms = -1;
    return 0;
}

/* Ongoing to PrepareEpochFence to PrepareAbort: the epoch is bumped so that the markers
 * fence the producer of the open transaction, which can no longer retry with its epoch. */
static int fence_and_abort(struct kb_txncoord *coord, struct kb_txn *txn, int64_t now_ms,
                           struct kb_txn_markers *out)
{
    int err = transition(txn, KB_TXN_PREPARE_EPOCH_FENCE, now_ms);

    if (err)
        return err;
    if (txn->producer_epoch < INT16_MAX)
        txn->producer_epoch++;
    txn->last_producer_epoch = -1;
    return prepare_end(coord, txn, false, now_ms, out);
}

/* ---- InitProducerId ---- */

/* KIP-360: may the producer that presents |expected_pid|/|expected_epoch| bump |txn|? */
static bool expected_pid_valid(const struct kb_txn *txn, int64_t expected_pid, int16_t expected_epoch)
{
    return expected_pid == txn->producer_id ||
           (expected_pid == txn->last_producer_id && epoch_exhausted(expected_epoch));
}

/* Empty/Complete*: a new epoch (or the same one for a retry), a fresh Empty transaction. */
static int init_settled(struct kb_txncoord *coord, struct kb_txn *txn, int32_t timeout_ms,
                        int64_t expected_pid, int16_t expected_epoch, int64_t now_ms)
{
    int err;

    if (expected_pid < 0)
        bump_epoch(coord, txn, -1);
    else if (expected_pid == txn->last_producer_id && expected_pid != txn->producer_id)
        ; /* a retry of a call that rotated the producer id: answer the current one */
    else if (expected_epoch == txn->producer_epoch)
        bump_epoch(coord, txn, txn->producer_epoch);
    else if (expected_epoch != txn->last_producer_epoch || expected_epoch < 0)
        return KTX_ERR_PRODUCER_FENCED;
    err = transition(txn, KB_TXN_EMPTY, now_ms);
    if (err)
        return err;
    txn->timeout_ms = timeout_ms;
    txn->start_ms = -1;
    clear_members(txn);
    return 0;
}

/* Dispatches InitProducerId for a known transactional id on its state. */
static int init_existing(struct kb_txncoord *coord, struct kb_txn *txn, int32_t timeout_ms,
                         int64_t expected_pid, int16_t expected_epoch, int64_t now_ms,
                         struct kb_init_pid_result *out)
{
    int err;

    if (expected_pid >= 0 && !expected_pid_valid(txn, expected_pid, expected_epoch))
        return KTX_ERR_PRODUCER_FENCED;
    switch (txn->state) {
    case KB_TXN_EMPTY:
    case KB_TXN_COMPLETE_COMMIT:
    case KB_TXN_COMPLETE_ABORT:
        return init_settled(coord, txn, timeout_ms, expected_pid, expected_epoch, now_ms);
    case KB_TXN_ONGOING:
        err = fence_and_abort(coord, txn, now_ms, &out->markers);
        return err ? err : KTX_ERR_CONCURRENT_TRANSACTIONS;
    case KB_TXN_PREPARE_COMMIT:
    case KB_TXN_PREPARE_ABORT:
    case KB_TXN_PREPARE_EPOCH_FENCE:
        return KTX_ERR_CONCURRENT_TRANSACTIONS;
    default:
        return KTX_ERR_INVALID_TXN_STATE;
    }
}

int kb_txncoord_init_producer_id(struct kb_txncoord *coord, const char *transactional_id,
                                 int32_t timeout_ms, int64_t expected_pid, int16_t expected_epoch,
                                 int64_t now_ms, struct kb_init_pid_result *out)
{
    struct kb_txn *txn;
    int err = 0;

    memset(out, 0, sizeof(*out));
    out->producer_id = -1;
    out->producer_epoch = -1;
    if (!transactional_id) {
        out->producer_id = coord->next_producer_id++;
        out->producer_epoch = 0;
        return 0;
    }
    if (timeout_ms <= 0 || timeout_ms > coord->conf.max_timeout_ms)
        return KTX_ERR_INVALID_TRANSACTION_TIMEOUT;
    txn = find_txn(coord, transactional_id);
    if (!txn) {
        if (!(txn = txn_new(coord, transactional_id, timeout_ms, now_ms)))
            return KTX_ERR_NO_MEMORY;
    } else {
        err = init_existing(coord, txn, timeout_ms, expected_pid, expected_epoch, now_ms, out);
    }
    if (!err) {
        out->producer_id = txn->producer_id;
        out->producer_epoch = txn->producer_epoch;
    }
    return err;
}

/* ---- AddPartitionsToTxn / AddOffsetsToTxn ---- */

/* The checks shared by the calls a producer makes inside a transaction. */
static int check_member_call(struct kb_txn *txn, int64_t producer_id, int16_t producer_epoch)
{
    if (!txn || txn->producer_id != producer_id)
        return KTX_ERR_INVALID_PRODUCER_ID_MAPPING;
    if (txn->producer_epoch != producer_epoch)
        return KTX_ERR_PRODUCER_FENCED;
    switch (txn->state) {
    case KB_TXN_EMPTY:
    case KB_TXN_ONGOING:
    case KB_TXN_COMPLETE_COMMIT:
    case KB_TXN_COMPLETE_ABORT:
        return 0;
    case KB_TXN_PREPARE_COMMIT:
    case KB_TXN_PREPARE_ABORT:
    case KB_TXN_PREPARE_EPOCH_FENCE:
        return KTX_ERR_CONCURRENT_TRANSACTIONS;
    default:
        return KTX_ERR_INVALID_TXN_STATE;
    }
}

/* Enters Ongoing; a transaction that was not open starts now with no members. */
static int begin_or_continue(struct kb_txn *txn, int64_t now_ms)
{
    if (txn->state != KB_TXN_ONGOING) {
        clear_members(txn);
        txn->start_ms = now_ms;
    }
    return transition(txn, KB_TXN_ONGOING, now_ms);
}

static bool has_partition(const struct kb_txn *txn, const struct kb_tp *tp)
{
    for (size_t i = 0; i < txn->n_partitions; i++)
        if (txn->partitions[i].partition == tp->partition &&
            strcmp(txn->partitions[i].topic, tp->topic) == 0)
            return true;
    return false;
}

/* Adds |tp| to |txn| unless it is there already. */
static int add_partition(struct kb_txn *txn, const struct kb_tp *tp)
{
    if (has_partition(txn, tp))
        return 0;
    if (txn->n_partitions >= MAX_PARTITIONS_PER_TXN)
        return KTX_ERR_INVALID_REQUEST;
    if (txn->n_partitions == txn->cap_partitions) {
        size_t cap = txn->cap_partitions ? txn->cap_partitions * 2 : 8;
        struct kb_tp *np = realloc(txn->partitions, cap * sizeof(*np));
        if (!np)
            return KTX_ERR_NO_MEMORY;
        txn->partitions = np;
        txn->cap_partitions = cap;
    }
    if (!(txn->partitions[txn->n_partitions].topic = strdup(tp->topic)))
        return KTX_ERR_NO_MEMORY;
    txn->partitions[txn->n_partitions++].partition = tp->partition;
    return 0;
}

int kb_txncoord_add_partitions(struct kb_txncoord *coord, const char *transactional_id,
                               int64_t producer_id, int16_t producer_epoch,
                               const struct kb_tp *tps, size_t n, int64_t now_ms)
{
    struct kb_txn *txn = find_txn(coord, transactional_id);
    int err = check_member_call(txn, producer_id, producer_epoch);

    if (err)
        return err;
    if (n > MAX_PARTITIONS_PER_TXN)
        return KTX_ERR_INVALID_REQUEST;
    err = begin_or_continue(txn, now_ms);
    for (size_t i = 0; i < n && !err; i++)
        err = add_partition(txn, &tps[i]);
    return err;
}

static bool has_group(const struct kb_txn *txn, const char *group_id)
{
    for (size_t i = 0; i < txn->n_groups; i++)
        if (strcmp(txn->groups[i], group_id) == 0)
            return true;
    return false;
}

int kb_txncoord_add_offsets(struct kb_txncoord *coord, const char *transactional_id,
                            int64_t producer_id, int16_t producer_epoch, const char *group_id,
                            int64_t now_ms)
{
    struct kb_txn *txn = find_txn(coord, transactional_id);
    int err = check_member_call(txn, producer_id, producer_epoch);

    if (!err)
        err = begin_or_continue(txn, now_ms);
    if (err || has_group(txn, group_id))
        return err;
    if (txn->n_groups >= MAX_GROUPS_PER_TXN)
        return KTX_ERR_INVALID_REQUEST;
    if (txn->n_groups == txn->cap_groups) {
        size_t cap = txn->cap_groups ? txn->cap_groups * 2 : 4;
        char **np = realloc(txn->groups, cap * sizeof(*np));
        if (!np)
            return KTX_ERR_NO_MEMORY;
        txn->groups = np;
        txn->cap_groups = cap;
    }
    if (!(txn->groups[txn->n_groups] = strdup(group_id)))
        return KTX_ERR_NO_MEMORY;
    txn->n_groups++;
    return 0;
}

/* ---- EndTxn ---- */

/* v2: a retry presents the id and epoch the previous EndTxn was sent with. */
static bool is_v2_retry(const struct kb_txn *txn, int64_t producer_id, int16_t producer_epoch)
{
    int64_t prev_pid = txn->last_producer_id >= 0 ? txn->last_producer_id : txn->producer_id;
    return txn->last_producer_epoch >= 0 && producer_id == prev_pid &&
           producer_epoch == txn->last_producer_epoch;
}

/* The producer checks of EndTxn; stores whether this is a v2 retry in |*retry|. */
static int check_end_caller(const struct kb_txncoord *coord, const struct kb_txn *txn,
                            int64_t producer_id, int16_t producer_epoch, bool *retry)
{
    *retry = coord->conf.v2 && txn && txn->state >= KB_TXN_PREPARE_COMMIT &&
             txn->state <= KB_TXN_COMPLETE_ABORT && is_v2_retry(txn, producer_id, producer_epoch);
    if (*retry)
        return 0;
    if (!txn || txn->producer_id != producer_id)
        return KTX_ERR_INVALID_PRODUCER_ID_MAPPING;
    if (txn->producer_epoch != producer_epoch)
        return KTX_ERR_PRODUCER_FENCED;
    return 0;
}

/* Ongoing: prepare; in v2 the epoch is bumped first and returned to the producer. */
static int end_ongoing(struct kb_txncoord *coord, struct kb_txn *txn, bool commit, int64_t now_ms,
                       struct kb_txn_markers *out)
{
    int64_t marker_pid = txn->producer_id;
    int16_t marker_epoch;
    int err;

    if (coord->conf.v2) {
        txn->last_producer_id = -1;
        bump_epoch(coord, txn, txn->producer_epoch);
        if (txn->producer_id != marker_pid)
            txn->last_producer_id = marker_pid;
    }
    marker_epoch = txn->producer_id == marker_pid ? txn->producer_epoch
                                                  : (int16_t)(txn->last_producer_epoch + 1);
    err = prepare_end(coord, txn, commit, now_ms, out);
    if (!err) {
        out->producer_id = marker_pid;
        out->producer_epoch = marker_epoch;
    }
    return err;
}

/* Dispatches EndTxn on the transaction's state. */
static int end_dispatch(struct kb_txncoord *coord, struct kb_txn *txn, bool commit, int64_t now_ms,
                        struct kb_txn_markers *out)
{
    switch (txn->state) {
    case KB_TXN_ONGOING:
        return end_ongoing(coord, txn, commit, now_ms, out);
    case KB_TXN_COMPLETE_COMMIT:
        return commit ? 0 : KTX_ERR_INVALID_TXN_STATE;
    case KB_TXN_COMPLETE_ABORT:
        return commit ? KTX_ERR_INVALID_TXN_STATE : 0;
    case KB_TXN_PREPARE_COMMIT:
        return commit ? KTX_ERR_CONCURRENT_TRANSACTIONS : KTX_ERR_INVALID_TXN_STATE;
    case KB_TXN_PREPARE_ABORT:
        return commit ? KTX_ERR_INVALID_TXN_STATE : KTX_ERR_CONCURRENT_TRANSACTIONS;
    case KB_TXN_PREPARE_EPOCH_FENCE:
        return KTX_ERR_CONCURRENT_TRANSACTIONS;
    default:
        return KTX_ERR_INVALID_TXN_STATE;
    }
}

int kb_txncoord_end_txn(struct kb_txncoord *coord, const char *transactional_id,
                        int64_t producer_id, int16_t producer_epoch, bool commit, int64_t now_ms,
                        struct kb_end_txn_result *out)
{
    struct kb_txn *txn = find_txn(coord, transactional_id);
    bool retry;
    int err;

    memset(out, 0, sizeof(*out));
    out->producer_id = -1;
    out->producer_epoch = -1;
    err = check_end_caller(coord, txn, producer_id, producer_epoch, &retry);
    if (err)
        return err;
    err = end_dispatch(coord, txn, commit, now_ms, &out->markers);
    if (!err) {
        out->producer_id = txn->producer_id;
        out->producer_epoch = txn->producer_epoch;
    }
    return err;
}

/* ---- completion and timeouts ---- */

/* PrepareCommit/PrepareAbort to CompleteCommit/CompleteAbort. */
static int complete(struct kb_txn *txn, int64_t now_ms)
{
    int err = transition(txn, txn->state == KB_TXN_PREPARE_COMMIT ? KB_TXN_COMPLETE_COMMIT
                                                                  : KB_TXN_COMPLETE_ABORT, now_ms);
    if (err)
        return err;
    clear_members(txn);
    txn->markers_written = false;
    txn->complete_at_ms = -1;
    return 0;
}

int kb_txncoord_markers_written(struct kb_txncoord *coord, const char *transactional_id,
                                int64_t now_ms)
{
    struct kb_txn *txn = find_txn(coord, transactional_id);

    if (!txn || (txn->state != KB_TXN_PREPARE_COMMIT && txn->state != KB_TXN_PREPARE_ABORT))
        return KTX_ERR_STATE;
    txn->markers_written = true;
    txn->complete_at_ms = now_ms + coord->conf.complete_delay_ms;
    if (coord->conf.complete_delay_ms <= 0)
        return complete(txn, now_ms);
    return 0;
}

size_t kb_txncoord_complete_due(struct kb_txncoord *coord, int64_t now_ms)
{
    size_t n = 0;

    for (size_t i = 0; i < coord->n_txns; i++) {
        struct kb_txn *txn = coord->txns[i];
        if (txn->markers_written && txn->complete_at_ms <= now_ms && complete(txn, now_ms) == 0)
            n++;
    }
    return n;
}

static bool expired(const struct kb_txn *txn, int64_t now_ms)
{
    return txn->state == KB_TXN_ONGOING && txn->start_ms + txn->timeout_ms < now_ms;
}

int kb_txncoord_expire(struct kb_txncoord *coord, int64_t now_ms, struct kb_txn_markers **out,
                       size_t *n_out)
{
    size_t n = 0;

    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < coord->n_txns; i++)
        n += expired(coord->txns[i], now_ms);
    if (n == 0)
        return 0;
    if (!(*out = calloc(n, sizeof(**out))))
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < coord->n_txns; i++) {
        if (!expired(coord->txns[i], now_ms))
            continue;
        int err = fence_and_abort(coord, coord->txns[i], now_ms, &(*out)[*n_out]);
        if (err)
            return err;
        (*n_out)++;
    }
    return 0;
}

int kb_txncoord_pending_markers(const struct kb_txncoord *coord, struct kb_txn_markers **out,
                                size_t *n_out)
{
    *out = calloc(coord->n_txns + 1, sizeof(**out));
    *n_out = 0;
    if (!*out)
        return KTX_ERR_NO_MEMORY;
    for (size_t i = 0; i < coord->n_txns; i++) {
        const struct kb_txn *txn = coord->txns[i];
        bool commit = txn->state == KB_TXN_PREPARE_COMMIT;
        if ((!commit && txn->state != KB_TXN_PREPARE_ABORT) || txn->markers_written)
            continue;
        if (fill_markers(coord, txn, commit, txn->producer_id, txn->producer_epoch,
                         &(*out)[*n_out]))
            return KTX_ERR_NO_MEMORY;
        (*n_out)++;
    }
    return 0;
}

/* Copies the partitions and groups of |src| into the empty |txn|. */
static int restore_members(struct kb_txn *txn, const struct kb_txn *src)
{
    int err = 0;

    for (size_t i = 0; i < src->n_partitions && !err; i++)
        err = add_partition(txn, &src->partitions[i]);
    for (size_t i = 0; i < src->n_groups && !err; i++) {
        char **np = realloc(txn->groups, (txn->n_groups + 1) * sizeof(*np));
        if (!np)
            return KTX_ERR_NO_MEMORY;
        txn->groups = np;
        txn->cap_groups = txn->n_groups + 1;
        if (!(txn->groups[txn->n_groups] = strdup(src->groups[i])))
            return KTX_ERR_NO_MEMORY;
        txn->n_groups++;
    }
    return err;
}

/* Bound on ids and times read back from a snapshot, so that no arithmetic on them overflows. */
#define RESTORE_MAX ((int64_t)1 << 62)

/* True when |src| holds values the coordinator can work with (a snapshot may be damaged). */
static bool restorable(const struct kb_txn *src)
{
    return (unsigned)src->state < KB_TXN_STATE_COUNT && src->producer_id >= 0 &&
           src->producer_id < RESTORE_MAX && src->last_producer_id >= -1 &&
           src->last_producer_id < RESTORE_MAX && src->producer_epoch >= 0 &&
           src->last_producer_epoch >= -1 && src->timeout_ms > 0 && src->start_ms >= -1 &&
           src->start_ms < RESTORE_MAX && src->update_ms < RESTORE_MAX && src->update_ms > -RESTORE_MAX &&
           src->complete_at_ms >= -1 && src->complete_at_ms < RESTORE_MAX;
}

int kb_txncoord_restore(struct kb_txncoord *coord, const struct kb_txn *src)
{
    struct kb_txn *txn;

    if (find_txn(coord, src->transactional_id) || !restorable(src))
        return KTX_ERR_INVALID_ARG;
    txn = txn_new(coord, src->transactional_id, src->timeout_ms, src->update_ms);
    if (!txn)
        return KTX_ERR_NO_MEMORY;
    coord->next_producer_id--; /* txn_new took an id the restored record does not use */
    txn->producer_id = src->producer_id;
    txn->last_producer_id = src->last_producer_id;
    txn->producer_epoch = src->producer_epoch;
    txn->last_producer_epoch = src->last_producer_epoch;
    txn->state = src->state;
    txn->start_ms = src->start_ms;
    txn->markers_written = src->markers_written;
    txn->complete_at_ms = src->complete_at_ms;
    if (src->producer_id >= coord->next_producer_id)
        coord->next_producer_id = src->producer_id + 1;
    return restore_members(txn, src);
}

int kb_txn_error_for_version(int16_t api_key, int16_t version, int err)
{
    int16_t first = -1; /* first version that carries PRODUCER_FENCED */

    if (err != KTX_ERR_PRODUCER_FENCED)
        return err;
    switch (api_key) {
    case KTX__API_INIT_PRODUCER_ID:
        first = 4;
        break;
    case KTX__API_ADD_PARTITIONS_TO_TXN:
    case KTX__API_ADD_OFFSETS_TO_TXN:
    case KTX__API_END_TXN:
        first = 2;
        break;
    case KTX__API_TXN_OFFSET_COMMIT:
        first = 3;
        break;
    default:
        return err;
    }
    return version < first ? KTX_ERR_INVALID_PRODUCER_EPOCH : err;
}
