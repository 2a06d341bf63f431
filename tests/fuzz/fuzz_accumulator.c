/*
 * Fuzz target for the record accumulator: the input is a program of operations (append,
 * advance the clock, ready+drain, reenqueue, complete, expire, abort, mute, flush, serve
 * reports) run on one thread against one accumulator. Checks that every drained batch is
 * a valid batch holding the records appended, that new batches of a partition are drained
 * in append order, that reports match the records, and that buffer.memory returns to zero.
 */
#include <stdlib.h>
#include <string.h>

#include "accumulator.h"

#define PARTS 4
#define MAX_IN_FLIGHT 64

struct fuzz_state {
    struct ktx__accumulator *acc;
    const uint8_t *p;
    size_t len;
    int64_t now;
    uint32_t next_id[PARTS];       /* id of the next record appended per partition */
    int64_t last_first_id[PARTS];  /* first id of the last new batch drained */
    struct ktx__batch *in_flight[MAX_IN_FLIGHT];
    size_t n_in_flight;
    int32_t next_sequence[PARTS];
    bool flushing;
};

static uint8_t next_byte(struct fuzz_state *st)
{
    if (st->len == 0)
        return 0;
    st->len--;
    return *st->p++;
}

static bool assign(void *opaque, const struct ktx__batch *batch, int64_t *producer_id,
                   int16_t *producer_epoch, int32_t *base_sequence, bool *transactional)
{
    struct fuzz_state *st = opaque;
    if (batch->stamped)
        return false; /* a retry keeps its sequence */
    *producer_id = 1;
    *producer_epoch = 0;
    *base_sequence = st->next_sequence[batch->partition];
    *transactional = false;
    st->next_sequence[batch->partition] += batch->record_count;
    return true;
}

static void op_append(struct fuzz_state *st)
{
    int32_t partition = next_byte(st) % PARTS;
    uint8_t key_len = next_byte(st);
    uint8_t value_len = next_byte(st);
    uint8_t value[4 + 255];
    uint32_t id = st->next_id[partition];
    memcpy(value, &id, 4);
    memset(value + 4, 'v', value_len);
    struct ktx__acc_record rec = {
        .key = "0123456789abcdef",
        .key_len = key_len % 17 == 16 ? -1 : key_len % 17,
        .value = value,
        .value_len = 4 + value_len,
        .timestamp = st->now,
        .opaque = (void *)(uintptr_t)id,
    };
    int err = ktx__accumulator_append(st->acc, "f", partition, &rec, st->now, false, NULL,
                                      NULL, 0);
    if (err == 0)
        st->next_id[partition]++;
    else if (err != KTX_ERR_QUEUE_FULL && err != KTX_ERR_MESSAGE_TOO_LARGE)
        abort();
}

/* Checks a drained batch: valid, holding |record_count| consecutive ids. */
static void check_drained(struct fuzz_state *st, struct ktx__batch *batch)
{
    size_t len;
    const uint8_t *p = ktx__batch_bytes(batch, &len);
    struct ktx__batch_header h;
    if (!p || ktx__batch_validate(p, len, &h) != 0 || h.records_count != batch->record_count)
        abort();
    struct ktx__writer scratch;
    struct ktx__record_iter it;
    struct ktx__record rec;
    ktx__w_init(&scratch, 0, 0);
    if (ktx__record_iter_init(&it, p, len, &scratch, 1 << 20) != 0)
        abort();
    uint32_t first = 0;
    for (int32_t i = 0; i < batch->record_count; i++) {
        uint32_t id;
        if (ktx__record_next(&it, &rec, NULL) != 0 || rec.value.len < 4)
            abort();
        memcpy(&id, rec.value.ptr, 4);
        if (i == 0)
            first = id;
        else if (id != first + (uint32_t)i)
            abort();
    }
    ktx__w_free(&scratch);
    if (batch->attempts == 0) {
        if ((int64_t)first <= st->last_first_id[batch->partition])
            abort();
        st->last_first_id[batch->partition] = first;
    }
    /* Sequences follow record ids: a batch keeps its sequence across retries. */
    if (h.base_sequence < 0 || batch->base_sequence != h.base_sequence)
        abort();
}

static void op_drain(struct fuzz_state *st)
{
    size_t max_request = ((size_t)next_byte(st) + 1) * 64;
    struct ktx__acc_part_list ready = {0};
    int64_t next;
    if (ktx__accumulator_ready(st->acc, st->now, &ready, &next) == 0 && ready.len > 0) {
        size_t cursor = 0, n = 0;
        ktx__accumulator_drain(st->acc, ready.v, ready.len, &cursor, max_request, st->now,
                               st->in_flight + st->n_in_flight,
                               MAX_IN_FLIGHT - st->n_in_flight, &n);
        for (size_t i = 0; i < n; i++)
            check_drained(st, st->in_flight[st->n_in_flight + i]);
        st->n_in_flight += n;
    }
    ktx__acc_part_list_free(&ready);
}

/* Removes and returns in-flight batch number |b| (modulo the count), or NULL. */
static struct ktx__batch *take_in_flight(struct fuzz_state *st, uint8_t b)
{
    if (st->n_in_flight == 0)
        return NULL;
    size_t i = b % st->n_in_flight;
    struct ktx__batch *batch = st->in_flight[i];
    st->in_flight[i] = st->in_flight[--st->n_in_flight];
    return batch;
}

static void op_serve(struct fuzz_state *st)
{
    struct ktx__batch *batch;
    while ((batch = ktx__dr_queue_pop(st->acc, 0))) {
        for (int32_t i = 0; i < batch->record_count; i++) {
            struct ktx__record_report dr;
            ktx__batch_report(batch, i, &dr);
            if (dr.partition != batch->partition || (dr.err == 0) != (dr.offset >= 0))
                abort();
            if (i > 0 && (uintptr_t)dr.opaque != (uintptr_t)batch->records[0].opaque + i)
                abort();
        }
        ktx__accumulator_deallocate(st->acc, batch);
    }
}

static void op_expire(struct fuzz_state *st, uint8_t timeout)
{
    struct ktx__batch *out[16];
    size_t n;
    ktx__accumulator_expired(st->acc, st->now, timeout, out, 16, &n, NULL);
    for (size_t i = 0; i < n; i++)
        ktx__accumulator_complete(st->acc, out[i], KTX_ERR_MSG_TIMED_OUT, -1, -1);
}

static void run_op(struct fuzz_state *st, uint8_t op)
{
    struct ktx__batch *batch;
    struct ktx__acc_part *part;
    uint8_t arg;
    switch (op % 10) {
    case 0: op_append(st); break;
    case 1: st->now += next_byte(st); break;
    case 2: op_drain(st); break;
    case 3:
        if ((batch = take_in_flight(st, next_byte(st))))
            ktx__accumulator_reenqueue(st->acc, batch, st->now);
        break;
    case 4:
        arg = next_byte(st);
        if ((batch = take_in_flight(st, arg)))
            ktx__accumulator_complete(st->acc, batch,
                                      arg & 1 ? KTX_ERR_NOT_LEADER_OR_FOLLOWER : 0,
                                      arg & 1 ? -1 : 1000, -1);
        break;
    case 5: op_expire(st, next_byte(st)); break;
    case 6: ktx__accumulator_abort_all(st->acc, KTX_ERR_PURGED); break;
    case 7:
        arg = next_byte(st);
        part = ktx__accumulator_find(st->acc, "f", arg % PARTS);
        if (part)
            ktx__accumulator_mute(st->acc, part, arg & 0x80);
        break;
    case 8:
        if (st->flushing)
            ktx__accumulator_flush_end(st->acc);
        else
            ktx__accumulator_flush_begin(st->acc);
        st->flushing = !st->flushing;
        break;
    default: op_serve(st); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct ktx__acc_conf ac = {
        .batch_size = data[0] * 8,
        .linger_ms = data[1] % 50,
        .buffer_memory = 32 << 10,
        .max_block_ms = 0,
        .max_request_size = 4096,
        .compression_type = data[1] & 0x80 ? KTX__COMPRESSION_ZSTD : KTX__COMPRESSION_NONE,
        .retry_backoff_ms = 10,
        .retry_backoff_max_ms = 100,
        .max_in_flight_per_partition = 1 + data[1] % 5,
    };
    struct fuzz_state st = {.p = data + 2, .len = size - 2, .now = 1000};
    for (int i = 0; i < PARTS; i++)
        st.last_first_id[i] = -1;
    if (ktx__accumulator_new(&st.acc, &ac) != 0)
        abort();
    struct ktx__acc_hooks hooks = {.opaque = &st, .assign = assign};
    ktx__accumulator_set_hooks(st.acc, &hooks);
    while (st.len > 0)
        run_op(&st, next_byte(&st));
    /* Wind down as a forced close does, then everything must be back in the pool. */
    while (st.n_in_flight > 0)
        ktx__accumulator_complete(st.acc, take_in_flight(&st, 0), KTX_ERR_PURGED, -1, -1);
    ktx__accumulator_abort_all(st.acc, KTX_ERR_PURGED);
    op_serve(&st);
    if (ktx__accumulator_memory_used(st.acc) != 0 || ktx__accumulator_batches(st.acc) != 0)
        abort();
    ktx__accumulator_destroy(st.acc);
    ktx__compress_thread_cleanup();
    return 0;
}
