/*
 * The log of one partition: append with producer-state checks, transaction markers,
 * reads capped at the high watermark or the last stable offset, ListOffsets, and
 * rebuilding from stored batches. See plog.h.
 */
#include "plog.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BYTES ((size_t)1 << 30)

void kb_plog_init(struct kb_plog *log, size_t max_bytes)
{
    memset(log, 0, sizeof(*log));
    log->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
    kb_pstate_init(&log->pstate);
}

void kb_plog_free(struct kb_plog *log)
{
    free(log->data);
    free(log->entries);
    free(log->aborted);
    kb_pstate_free(&log->pstate);
    memset(log, 0, sizeof(*log));
}

int64_t kb_plog_high_watermark(const struct kb_plog *log)
{
    return log->log_end_offset;
}

int64_t kb_plog_last_stable_offset(const struct kb_plog *log)
{
    int64_t first = kb_pstate_first_unstable_offset(&log->pstate);
    return first >= 0 ? first : kb_plog_high_watermark(log);
}

/* Grows |*arr| (of |*cap| elements of |elem|) to hold |need| elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *np;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    np = realloc(*arr, ncap * elem);
    if (!np)
        return KTX_ERR_NO_MEMORY;
    *arr = np;
    *cap = ncap;
    return 0;
}

/*
 * Copies the batch |p| of |size| bytes to the end of the log as offsets from |base_offset|.
 * |patch| writes the offset and leader epoch into the copy (false when reloading).
 */
static int store_batch(struct kb_plog *log, const uint8_t *p, const struct kb_batch_hdr *hdr,
                       int64_t base_offset, bool patch)
{
    size_t size = kb_batch_size(hdr);
    struct kb_plog_entry *e;

    if (size > log->max_bytes - log->len)
        return KTX_ERR_MESSAGE_TOO_LARGE;
    if (grow((void **)&log->data, &log->cap, log->len + size, 1) ||
        grow((void **)&log->entries, &log->cap_entries, log->n_entries + 1, sizeof(*e)))
        return KTX_ERR_NO_MEMORY;
    memcpy(log->data + log->len, p, size);
    if (patch)
        kb_batch_set_offset(log->data + log->len, base_offset, log->leader_epoch);
    e = &log->entries[log->n_entries++];
    e->pos = log->len;
    e->size = (uint32_t)size;
    e->base_offset = base_offset;
    e->last_offset = base_offset + hdr->last_offset_delta;
    e->max_timestamp = hdr->max_timestamp;
    log->len += size;
    log->log_end_offset = e->last_offset + 1;
    return 0;
}

/* Checks what the log itself requires of a producer's batch (producer state aside). */
static int check_batch(const uint8_t *p, size_t len, struct kb_batch_hdr *hdr)
{
    int err = kb_batch_parse(p, len, hdr);

    if (err)
        return err;
    if (kb_batch_size(hdr) != len)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (kb_batch_is_control(hdr))
        return KTX_ERR_INVALID_RECORD;
    if (kb_batch_is_transactional(hdr) && hdr->producer_id < 0)
        return KTX_ERR_INVALID_RECORD;
    return 0;
}

int kb_plog_append(struct kb_plog *log, const uint8_t *p, size_t len,
                   struct kb_plog_append_result *out)
{
    struct kb_batch_hdr hdr;
    int64_t base = log->log_end_offset;
    int err;

    memset(out, 0, sizeof(*out));
    err = check_batch(p, len, &hdr);
    if (err)
        return err;
    err = kb_pstate_check_append(&log->pstate, &hdr, &out->base_offset, &out->last_offset);
    if (err == KB_PSTATE_DUPLICATE) {
        out->duplicate = true;
        return 0;
    }
    if (err)
        return err;
    err = store_batch(log, p, &hdr, base, true);
    if (err)
        return err;
    out->base_offset = base;
    out->last_offset = base + hdr.last_offset_delta;
    return kb_pstate_on_append(&log->pstate, &hdr, base);
}

/* Records an aborted transaction of |producer_id| from |first| to the marker at |last|. */
static int add_aborted(struct kb_plog *log, int64_t producer_id, int64_t first, int64_t last)
{
    struct kb_aborted_txn *a;

    if (grow((void **)&log->aborted, &log->cap_aborted, log->n_aborted + 1, sizeof(*a)))
        return KTX_ERR_NO_MEMORY;
    a = &log->aborted[log->n_aborted++];
    a->producer_id = producer_id;
    a->first_offset = first;
    a->last_offset = last;
    return 0;
}

/* Updates producer state and the aborted index for a marker stored at |offset|. */
static int apply_marker(struct kb_plog *log, int64_t producer_id, int16_t producer_epoch,
                        bool commit, int32_t coordinator_epoch, int64_t offset)
{
    int64_t first;
    int err = kb_pstate_on_marker(&log->pstate, producer_id, producer_epoch, coordinator_epoch,
                                  &first);
    if (err)
        return err;
    if (!commit && first >= 0)
        return add_aborted(log, producer_id, first, offset);
    return 0;
}

int kb_plog_write_marker(struct kb_plog *log, int64_t producer_id, int16_t producer_epoch,
                         bool commit, int32_t coordinator_epoch, int64_t now_ms,
                         int64_t *marker_offset)
{
    struct ktx__writer w;
    struct kb_batch_hdr hdr;
    int64_t offset = log->log_end_offset;
    int err = kb_pstate_check_marker(&log->pstate, producer_id, producer_epoch);

    if (err)
        return err;
    ktx__w_init(&w, 128, 0);
    err = kb_batch_write_control(&w, producer_id, producer_epoch, commit, coordinator_epoch,
                                 now_ms);
    if (!err)
        err = kb_batch_parse(w.p, w.len, &hdr) ? KTX_ERR_NO_MEMORY : 0;
    if (!err)
        err = store_batch(log, w.p, &hdr, offset, true);
    ktx__w_free(&w);
    if (!err)
        err = apply_marker(log, producer_id, producer_epoch, commit, coordinator_epoch, offset);
    if (!err)
        *marker_offset = offset;
    return err;
}

/* Index of the first batch whose last offset is at or after |offset| (n when none). */
static size_t find_entry(const struct kb_plog *log, int64_t offset)
{
    size_t lo = 0, hi = log->n_entries;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->entries[mid].last_offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Copies the aborted transactions overlapping [|from|, |to|) into |out|. */
static int collect_aborted(const struct kb_plog *log, int64_t from, int64_t to,
                           struct kb_plog_read *out)
{
    for (size_t i = 0; i < log->n_aborted; i++) {
        const struct kb_aborted_txn *a = &log->aborted[i];
        if (a->last_offset < from || a->first_offset >= to)
            continue;
        if (!out->aborted) {
            out->aborted = calloc(log->n_aborted, sizeof(*out->aborted));
            if (!out->aborted)
                return KTX_ERR_NO_MEMORY;
        }
        out->aborted[out->n_aborted++] = *a;
    }
    return 0;
}

int kb_plog_read(const struct kb_plog *log, int64_t fetch_offset, size_t max_bytes,
                 int isolation_level, struct kb_plog_read *out)
{
    bool committed = isolation_level == KB_ISOLATION_READ_COMMITTED;
    int64_t cap, end = fetch_offset;
    size_t first, i;

    memset(out, 0, sizeof(*out));
    out->high_watermark = kb_plog_high_watermark(log);
    out->last_stable_offset = kb_plog_last_stable_offset(log);
    out->log_start_offset = log->log_start_offset;
    if (fetch_offset < log->log_start_offset || fetch_offset > log->log_end_offset)
        return KTX_ERR_OFFSET_OUT_OF_RANGE;
    cap = committed ? out->last_stable_offset : out->high_watermark;
    first = find_entry(log, fetch_offset);
    for (i = first; i < log->n_entries && log->entries[i].base_offset < cap; i++) {
        if (i > first && out->len + log->entries[i].size > max_bytes)
            break;
        out->len += log->entries[i].size;
        end = log->entries[i].last_offset + 1;
    }
    if (out->len)
        out->records = log->data + log->entries[first].pos;
    if (committed && out->len)
        return collect_aborted(log, fetch_offset, end, out);
    return 0;
}

void kb_plog_read_free(struct kb_plog_read *out)
{
    free(out->aborted);
    out->aborted = NULL;
    out->n_aborted = 0;
}

int64_t kb_plog_list_offset(const struct kb_plog *log, int64_t timestamp, int isolation_level,
                            int64_t *ts_out)
{
    if (ts_out)
        *ts_out = -1;
    if (timestamp == KB_OFFSET_EARLIEST)
        return log->log_start_offset;
    if (timestamp == KB_OFFSET_LATEST)
        return isolation_level == KB_ISOLATION_READ_COMMITTED ? kb_plog_last_stable_offset(log)
                                                             : kb_plog_high_watermark(log);
    for (size_t i = 0; i < log->n_entries; i++) {
        if (log->entries[i].max_timestamp >= timestamp) {
            if (ts_out)
                *ts_out = log->entries[i].max_timestamp;
            return log->entries[i].base_offset;
        }
    }
    return -1;
}

/* Replays one stored batch at |p| into a log being rebuilt. */
static int load_one(struct kb_plog *log, const uint8_t *p, const struct kb_batch_hdr *hdr)
{
    bool commit;
    int err;

    if (log->n_entries && hdr->base_offset < log->log_end_offset)
        return KTX_ERR_CORRUPT_MESSAGE;
    if (kb_batch_is_control(hdr) && kb_batch_control_type(p, hdr, &commit))
        return KTX_ERR_CORRUPT_MESSAGE;
    err = store_batch(log, p, hdr, hdr->base_offset, false);
    if (err)
        return err;
    if (kb_batch_is_control(hdr))
        return apply_marker(log, hdr->producer_id, hdr->producer_epoch, commit, -1,
                            hdr->base_offset);
    return kb_pstate_on_append(&log->pstate, hdr, hdr->base_offset);
}

int kb_plog_load(struct kb_plog *log, const uint8_t *p, size_t len)
{
    size_t pos = 0;

    while (pos < len) {
        struct kb_batch_hdr hdr;
        int err = kb_batch_parse(p + pos, len - pos, &hdr);
        if (!err)
            err = load_one(log, p + pos, &hdr);
        if (err)
            return err == KTX_ERR_NO_MEMORY ? err : KTX_ERR_CORRUPT_MESSAGE;
        if (log->n_entries == 1)
            log->log_start_offset = hdr.base_offset;
        pos += kb_batch_size(&hdr);
    }
    return 0;
}
