/*
 * libFuzzer target for the reference broker's partition log, producer state and snapshot
 * loader (tests/broker/). The broker modules are not part of the library, so this file
 * compiles their sources in directly (tools/fuzz.sh links only sdk/ and txn/).
 *
 * Input: byte 0 selects the mode.
 *   0: the rest is a stored log, reloaded with kb_plog_load() and read back.
 *   1: the rest is a coordinator/group snapshot, decoded with kb_persist_state_decode().
 *   2: the rest is a sequence of [u16 length][batch] chunks appended with kb_plog_append();
 *      the harness repairs each chunk's batchLength and CRC so that the producer-state
 *      rules, markers and reads are reached. Every third chunk is followed by a marker.
 * Invariants checked: HW >= LSO >= log start, reads stay within the log, and every batch
 * returned by a read parses.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../broker/bbatch.c"
#include "../broker/groups.c"
#include "../broker/persist.c"
#include "../broker/plog.c"
#include "../broker/pstate.c"
#include "../broker/txncoord.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole log both ways and checks what comes back. */
static void check_reads(const struct kb_plog *log)
{
    int64_t hw = kb_plog_high_watermark(log), lso = kb_plog_last_stable_offset(log);

    if (hw < lso || lso < log->log_start_offset)
        abort();
    for (int iso = 0; iso < 2; iso++) {
        int64_t off = log->log_start_offset;
        struct kb_plog_read rd;
        while (kb_plog_read(log, off, 100, iso, &rd) == 0 && rd.len > 0) {
            struct kb_batch_hdr hdr;
            if (rd.records < log->data || rd.records + rd.len > log->data + log->len)
                abort();
            if (kb_batch_parse(rd.records, rd.len, &hdr) != 0)
                abort();
            off = hdr.base_offset + hdr.last_offset_delta + 1;
            kb_plog_read_free(&rd);
        }
        kb_plog_read_free(&rd);
    }
    (void)kb_plog_list_offset(log, KB_OFFSET_LATEST, KB_ISOLATION_READ_COMMITTED, NULL);
    (void)kb_plog_list_offset(log, 0, KB_ISOLATION_READ_UNCOMMITTED, NULL);
}

static void fuzz_load(const uint8_t *p, size_t len)
{
    struct kb_plog log;

    kb_plog_init(&log, 1 << 22);
    (void)kb_plog_load(&log, p, len);
    check_reads(&log);
    kb_plog_free(&log);
}

static void fuzz_snapshot(const uint8_t *p, size_t len)
{
    struct kb_txncoord coord;
    struct kb_groups groups;
    struct ktx__writer w;

    kb_txncoord_init(&coord, NULL);
    kb_groups_init(&groups);
    if (kb_persist_state_decode(p, len, &coord, &groups) == 0) {
        ktx__w_init(&w, 256, 1 << 22);
        if (kb_persist_state_encode(&w, &coord, &groups) != 0)
            abort();
        ktx__w_free(&w);
    }
    kb_groups_free(&groups);
    kb_txncoord_free(&coord);
}

/* Makes |chunk| a well-formed batch as far as length and CRC go. */
static void repair(uint8_t *chunk, size_t n)
{
    ktx__be32_put(chunk + KB_BATCH_OFF_LENGTH, (uint32_t)(n - 12));
    chunk[KB_BATCH_OFF_MAGIC] = 2;
    ktx__be32_put(chunk + KB_BATCH_OFF_CRC,
                  kb_crc32c(chunk + KB_BATCH_OFF_ATTRIBUTES, n - KB_BATCH_OFF_ATTRIBUTES));
}

static void fuzz_appends(const uint8_t *p, size_t len)
{
    struct kb_plog log;
    size_t pos = 0;
    int count = 0;

    kb_plog_init(&log, 1 << 22);
    while (pos + 2 <= len) {
        size_t n = (size_t)p[pos] << 8 | p[pos + 1];
        struct kb_plog_append_result res;
        struct kb_batch_hdr hdr;
        uint8_t *chunk;

        pos += 2;
        n = n < len - pos ? n : len - pos;
        if (!(chunk = malloc(n ? n : 1)))
            break;
        memcpy(chunk, p + pos, n);
        pos += n;
        if (n >= KB_BATCH_HEADER_SIZE)
            repair(chunk, n);
        if (kb_plog_append(&log, chunk, n, &res) == 0 && ++count % 3 == 0 &&
            kb_batch_parse(chunk, n, &hdr) == 0) {
            int64_t off;
            (void)kb_plog_write_marker(&log, hdr.producer_id, hdr.producer_epoch,
                                       (hdr.attributes & 1) != 0, 0, 0, &off);
        }
        free(chunk);
    }
    check_reads(&log);
    kb_plog_free(&log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_load(data + 1, size - 1);
        break;
    case 1:
        fuzz_snapshot(data + 1, size - 1);
        break;
    default:
        fuzz_appends(data + 1, size - 1);
        break;
    }
    return 0;
}
