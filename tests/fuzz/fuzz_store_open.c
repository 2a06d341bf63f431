/*
 * libFuzzer target for opening a hostile state file (txn/store_sqlite.c): the input is
 * written as the file and opened as two identities. Opening must either fail with
 * KTX_ERR_STORE and a message naming the file, or succeed; a file that opens must load
 * every record type, accept a small write transaction, and show that write when read back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[128];

/* Removes the state file and its side files. */
static void cleanup(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".orders-tx.lock",
                                           ".metrics.lock"};
    char side[192];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
        unlink(side);
    }
}

static int count_seq(void *opaque, const struct ktx__store_seq *seq)
{
    if (seq->topic == NULL)
        abort();
    (*(int *)opaque)++;
    return 0;
}

static int count_batch(void *opaque, const struct ktx__store_batch *batch)
{
    if (batch->topic == NULL || (batch->len > 0 && batch->bytes == NULL))
        abort();
    (*(int *)opaque)++;
    return 0;
}

/* Reads every record type of |store|. */
static void load_all(struct ktx__store *store)
{
    struct ktx__store_producer rec;
    if (ktx__store_load_producer(store, &rec) == 0)
        ktx__store_producer_clear(&rec);
    struct ktx__store_txn txn;
    if (ktx__store_get_txn(store, &txn) == 0)
        ktx__store_txn_clear(&txn);
    int n = 0;
    (void)ktx__store_load_sequences(store, count_seq, &n);
    (void)ktx__store_journal_load(store, count_batch, &n);
    uint8_t *ck;
    size_t len;
    if (ktx__store_checkpoint_get(store, &ck, &len) == 0)
        free(ck);
}

/* Writes a checkpoint and a batch in one transaction and checks the checkpoint reads back. */
static void write_and_check(struct ktx__store *store)
{
    static const uint8_t bytes[4] = {1, 2, 3, 4};
    struct ktx__store_batch batch = {.topic = "fz", .partition = 0, .producer_id = 1,
                                     .producer_epoch = 0, .base_sequence = 0,
                                     .record_count = 1, .bytes = bytes, .len = sizeof(bytes)};
    if (ktx__store_txn_begin(store) != 0)
        return;
    int rc = ktx__store_checkpoint_set(store, "fuzz", 4);
    if (rc == 0)
        (void)ktx__store_journal_append(store, &batch);
    if (rc != 0 || ktx__store_txn_commit(store) != 0) {
        (void)ktx__store_txn_rollback(store);
        return;
    }
    uint8_t *ck;
    size_t len;
    if (ktx__store_checkpoint_get(store, &ck, &len) == 0) {
        if (len != 4 || memcmp(ck, "fuzz", 4) != 0)
            abort();
        free(ck);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "/tmp/ktx-fuzz-store-%ld.db", (long)getpid());
    cleanup();
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    char err[512];
    struct ktx__store *store = NULL;
    int rc = ktx__store_open(&store, path, "orders-tx", KTX__STATE_SYNC_NORMAL, err, sizeof(err));
    if (rc != 0) {
        if (rc != KTX_ERR_STORE || store != NULL || strstr(err, path) == NULL)
            abort();
    } else {
        load_all(store);
        struct ktx__store *other = NULL;
        if (ktx__store_open(&other, path, "metrics", KTX__STATE_SYNC_FULL, err, sizeof(err)) == 0) {
            load_all(other);
            ktx__store_close(other);
        }
        write_and_check(store);
        ktx__store_close(store);
    }
    cleanup();
    return 0;
}
