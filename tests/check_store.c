/*
 * Unit suite of the SQLite state store (txn/store.h): real files in a temporary directory,
 * other processes by fork(2), disk full by a small tmpfs and by SQLite's max_page_count.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "store.h"

#ifndef KTX_TEST_SRCDIR
#define KTX_TEST_SRCDIR "."
#endif

static char tmpdir[256];
static char dbpath[300];
static char errbuf[1024];

/* ---- Fixtures and helpers. ---- */

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ktx-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", tmpdir);
    errbuf[0] = '\0';
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct ktx__store *open_ok(const char *path, const char *identity,
                                  enum ktx__state_sync sync)
{
    struct ktx__store *store = NULL;
    int rc = ktx__store_open(&store, path, identity, sync, errbuf, sizeof(errbuf));
    ck_assert_msg(rc == 0, "open %s as %s: %d %s", path, identity, rc, errbuf);
    ck_assert_ptr_nonnull(store);
    return store;
}

/* Opens |path| expecting KTX_ERR_STORE with a message naming the file and containing |want|. */
static void open_fails(const char *path, const char *identity, const char *want)
{
    struct ktx__store *store = (struct ktx__store *)1;
    int rc = ktx__store_open(&store, path, identity, KTX__STATE_SYNC_NORMAL, errbuf,
                             sizeof(errbuf));
    ck_assert_int_eq(rc, KTX_ERR_STORE);
    ck_assert_ptr_null(store);
    ck_assert_msg(strstr(errbuf, path) != NULL, "message does not name the file: %s", errbuf);
    ck_assert_msg(strstr(errbuf, want) != NULL, "message lacks '%s': %s", want, errbuf);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Reads the whole file |path| into a malloc'ed buffer; stores its length in |*len|. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap)
            ck_assert_ptr_nonnull(buf = realloc(buf, cap = cap * 2 + 4096));
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Returns the path of |rel| in the source tree (static buffer). */
static const char *src_path(const char *rel)
{
    static char path[512];
    const char *srcdir = getenv("srcdir");
    snprintf(path, sizeof(path), "%s/%s", srcdir ? srcdir : KTX_TEST_SRCDIR, rel);
    if (access(path, R_OK) != 0)
        snprintf(path, sizeof(path), "%s/%s", KTX_TEST_SRCDIR, rel);
    return path;
}

static void copy_fixture(const char *dst)
{
    size_t len;
    uint8_t *data = read_file(src_path("tests/fixtures/state-v1.db"), &len);
    write_file(dst, data, len);
    free(data);
}

static struct ktx__store_batch make_batch(const char *topic, int32_t partition, int32_t base_seq,
                                          const uint8_t *bytes, size_t len)
{
    struct ktx__store_batch batch = {
        .topic = topic,
        .partition = partition,
        .producer_id = 1000,
        .producer_epoch = 3,
        .base_sequence = base_seq,
        .record_count = 10,
        .bytes = bytes,
        .len = len,
    };
    return batch;
}

/* Journal contents as collected by collect_batch(). */
struct collected {
    int n;
    char topic[16][32];
    int32_t partition[16];
    int32_t base_sequence[16];
    int32_t record_count[16];
    int64_t producer_id[16];
    int16_t producer_epoch[16];
    size_t len[16];
    uint8_t first[16];
    uint8_t last[16];
};

static int collect_batch(void *opaque, const struct ktx__store_batch *batch)
{
    struct collected *c = opaque;
    ck_assert_int_lt(c->n, 16);
    snprintf(c->topic[c->n], sizeof(c->topic[0]), "%s", batch->topic);
    c->partition[c->n] = batch->partition;
    c->base_sequence[c->n] = batch->base_sequence;
    c->record_count[c->n] = batch->record_count;
    c->producer_id[c->n] = batch->producer_id;
    c->producer_epoch[c->n] = batch->producer_epoch;
    c->len[c->n] = batch->len;
    c->first[c->n] = batch->bytes[0];
    c->last[c->n] = batch->bytes[batch->len - 1];
    c->n++;
    return 0;
}

struct seqs {
    int n;
    char topic[8][32];
    struct ktx__store_seq seq[8];
};

static int collect_seq(void *opaque, const struct ktx__store_seq *seq)
{
    struct seqs *s = opaque;
    ck_assert_int_lt(s->n, 8);
    snprintf(s->topic[s->n], sizeof(s->topic[0]), "%s", seq->topic);
    s->seq[s->n] = *seq;
    s->seq[s->n].topic = s->topic[s->n];
    s->n++;
    return 0;
}

static int count_batch(void *opaque, const struct ktx__store_batch *batch)
{
    (void)batch;
    (*(int *)opaque)++;
    return 0;
}

static size_t journal_count(struct ktx__store *store, const char *topic, int32_t partition)
{
    size_t count = 99;
    ck_assert_int_eq(ktx__store_journal_count(store, topic, partition, &count), 0);
    return count;
}

/* ---- Record round trips. ---- */

START_TEST(test_store_producer_row_roundtrips_and_starts_unset)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_producer rec;
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, -1);
    ck_assert_int_eq(rec.producer_epoch, -1);
    ck_assert_ptr_null(rec.transactional_id);
    ck_assert_int_gt(rec.created_ms, 1600000000000LL);

    struct ktx__store_producer save = {.producer_id = 123456789012LL, .producer_epoch = 32766,
                                       .transactional_id = "orders-tx"};
    ck_assert_int_eq(ktx__store_save_producer(store, &save), 0);
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 123456789012LL);
    ck_assert_int_eq(rec.producer_epoch, 32766);
    ck_assert_str_eq(rec.transactional_id, "orders-tx");
    ck_assert_int_ge(rec.updated_ms, rec.created_ms);
    ktx__store_producer_clear(&rec);
    ck_assert_ptr_null(rec.transactional_id);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_txn_state_roundtrips_partitions_and_groups)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_txn txn;
    ck_assert_int_eq(ktx__store_get_txn(store, &txn), 0);
    ck_assert_int_eq(txn.state, KTX__STORE_TXN_NONE);
    ck_assert_uint_eq(txn.partition_cnt, 0);

    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_ONGOING), 0);
    ck_assert_int_eq(ktx__store_txn_add_partition(store, "payments", 2), 0);
    ck_assert_int_eq(ktx__store_txn_add_partition(store, "orders", 7), 0);
    ck_assert_int_eq(ktx__store_txn_add_partition(store, "orders", 7), 0); /* twice: harmless */
    ck_assert_int_eq(ktx__store_txn_add_group(store, "billing"), 0);
    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_COMMITTING), 0);

    ck_assert_int_eq(ktx__store_get_txn(store, &txn), 0);
    ck_assert_int_eq(txn.state, KTX__STORE_TXN_COMMITTING);
    ck_assert_str_eq(ktx__store_txn_state_name(txn.state), "committing");
    ck_assert_uint_eq(txn.partition_cnt, 2);
    ck_assert_str_eq(txn.partitions[0].topic, "orders");
    ck_assert_int_eq(txn.partitions[0].partition, 7);
    ck_assert_str_eq(txn.partitions[1].topic, "payments");
    ck_assert_int_eq(txn.partitions[1].partition, 2);
    ck_assert_uint_eq(txn.group_cnt, 1);
    ck_assert_str_eq(txn.groups[0], "billing");
    ck_assert_int_gt(txn.updated_ms, 0);
    ktx__store_txn_clear(&txn);

    /* A new transaction after the commit forgets the old partitions and groups. */
    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_COMMITTED), 0);
    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_ONGOING), 0);
    ck_assert_int_eq(ktx__store_txn_add_partition(store, "audit", 0), 0);
    ck_assert_int_eq(ktx__store_get_txn(store, &txn), 0);
    ck_assert_int_eq(txn.state, KTX__STORE_TXN_ONGOING);
    ck_assert_uint_eq(txn.partition_cnt, 1);
    ck_assert_str_eq(txn.partitions[0].topic, "audit");
    ck_assert_uint_eq(txn.group_cnt, 0);
    ktx__store_txn_clear(&txn);
    ck_assert_int_eq(ktx__store_set_txn_state(store, (enum ktx__store_txn_state)9),
                     KTX_ERR_INVALID_ARG);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_sequences_roundtrip_sorted_and_reset)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_seq a = {"orders", 1, 1000, 3, 250, 249};
    struct ktx__store_seq b = {"orders", 0, 1000, 3, 12, -1};
    struct ktx__store_seq c = {"audit", 4, 999, 1, 2147483647, 2147483646};
    ck_assert_int_eq(ktx__store_save_sequence(store, &a), 0);
    ck_assert_int_eq(ktx__store_save_sequence(store, &b), 0);
    ck_assert_int_eq(ktx__store_save_sequence(store, &c), 0);
    a.next_sequence = 260; /* replaces the row of orders [1] */
    a.last_acked_sequence = 259;
    ck_assert_int_eq(ktx__store_save_sequence(store, &a), 0);

    struct seqs s = {0};
    ck_assert_int_eq(ktx__store_load_sequences(store, collect_seq, &s), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(s.seq[0].topic, "audit");
    ck_assert_int_eq(s.seq[0].producer_id, 999);
    ck_assert_int_eq(s.seq[0].next_sequence, 2147483647);
    ck_assert_str_eq(s.seq[1].topic, "orders");
    ck_assert_int_eq(s.seq[1].partition, 0);
    ck_assert_int_eq(s.seq[1].last_acked_sequence, -1);
    ck_assert_int_eq(s.seq[2].partition, 1);
    ck_assert_int_eq(s.seq[2].producer_epoch, 3);
    ck_assert_int_eq(s.seq[2].next_sequence, 260);
    ck_assert_int_eq(s.seq[2].last_acked_sequence, 259);

    ck_assert_int_eq(ktx__store_reset_sequences(store), 0);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(ktx__store_load_sequences(store, collect_seq, &s), 0);
    ck_assert_int_eq(s.n, 0);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_journal_loads_exact_bytes_in_append_order)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t bytes[3][300];
    for (int i = 0; i < 3; i++)
        ktx_test_fill_random(bytes[i], sizeof(bytes[i]), 7 + (uint64_t)i);
    struct ktx__store_batch b0 = make_batch("orders", 1, 0, bytes[0], 300);
    struct ktx__store_batch b1 = make_batch("orders", 0, 0, bytes[1], 200);
    struct ktx__store_batch b2 = make_batch("orders", 1, 10, bytes[2], 100);
    ck_assert_int_eq(ktx__store_journal_append(store, &b0), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &b1), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &b2), 0);

    struct collected c = {0};
    ck_assert_int_eq(ktx__store_journal_load(store, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 3);
    ck_assert_int_eq(c.partition[0], 1);
    ck_assert_int_eq(c.base_sequence[0], 0);
    ck_assert_int_eq(c.partition[1], 0);
    ck_assert_int_eq(c.partition[2], 1);
    ck_assert_int_eq(c.base_sequence[2], 10);
    ck_assert_uint_eq(c.len[0], 300);
    ck_assert_uint_eq(c.len[2], 100);
    ck_assert_uint_eq(c.first[1], bytes[1][0]);
    ck_assert_uint_eq(c.last[1], bytes[1][199]);
    ck_assert_int_eq(c.producer_id[0], 1000);
    ck_assert_int_eq(c.producer_epoch[0], 3);
    ck_assert_int_eq(c.record_count[0], 10);

    /* Acknowledging the first batch of orders [1] leaves the other two, in order. */
    ck_assert_int_eq(ktx__store_journal_ack(store, "orders", 1, 1000, 3, 0), 0);
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(ktx__store_journal_load(store, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 2);
    ck_assert_int_eq(c.partition[0], 0);
    ck_assert_int_eq(c.base_sequence[1], 10);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_journal_refuses_sixth_unacknowledged_batch_per_partition)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t bytes[64];
    ktx_test_fill_random(bytes, sizeof(bytes), 1);
    for (int i = 0; i < KTX__STORE_JOURNAL_MAX_PER_PARTITION; i++) {
        struct ktx__store_batch batch = make_batch("orders", 0, i * 10, bytes, sizeof(bytes));
        ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    }
    struct ktx__store_batch sixth = make_batch("orders", 0, 50, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &sixth), KTX_ERR_STATE);
    ck_assert_msg(strstr(ktx__store_errmsg(store), "already holds 5 unacknowledged") != NULL,
                  "%s", ktx__store_errmsg(store));
    ck_assert(!ktx__store_failed(store));
    ck_assert_uint_eq(journal_count(store, "orders", 0), 5);

    /* Another partition is not limited by this one; an ack makes room again. */
    struct ktx__store_batch other = make_batch("orders", 1, 0, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &other), 0);
    ck_assert_int_eq(ktx__store_journal_ack(store, "orders", 0, 1000, 3, 0), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &sixth), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 5);

    /* Inside a store transaction the refusal keeps the transaction's earlier writes. */
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    struct ktx__store_batch b2 = make_batch("orders", 2, 0, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &b2), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &sixth), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__store_txn_commit(store), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 2), 1);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_journal_ack_of_unknown_batch_is_a_state_error)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t bytes[16] = {1, 2, 3};
    struct ktx__store_batch batch = make_batch("orders", 0, 0, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    ck_assert_int_eq(ktx__store_journal_ack(store, "orders", 0, 1000, 4, 0), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__store_journal_ack(store, "orders", 0, 1000, 3, 5), KTX_ERR_STATE);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 1);
    ck_assert_int_eq(ktx__store_journal_ack(store, "orders", 0, 1000, 3, 0), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &(struct ktx__store_batch){0}),
                     KTX_ERR_INVALID_ARG);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_journal_discard_drops_one_partition_or_all)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t bytes[16] = {9};
    for (int p = 0; p < 3; p++) {
        struct ktx__store_batch batch = make_batch("orders", p, 0, bytes, sizeof(bytes));
        ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    }
    ck_assert_int_eq(ktx__store_journal_discard(store, "orders", 1), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 1);
    ck_assert_uint_eq(journal_count(store, "orders", 1), 0);
    ck_assert_int_eq(ktx__store_journal_discard(store, NULL, 0), 0);
    struct collected c = {0};
    ck_assert_int_eq(ktx__store_journal_load(store, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 0);
    ktx__store_close(store);
}
END_TEST

/* ---- Transactions, checkpoint, commit counting. ---- */

START_TEST(test_store_checkpoint_commits_and_rolls_back_with_journal_appends)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_FULL);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);

    uint8_t bytes[200];
    ktx_test_fill_random(bytes, sizeof(bytes), 3);
    struct ktx__store_batch batch = make_batch("orders", 0, 0, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "offset=41", 9), 0);
    ck_assert_int_eq(ktx__store_txn_rollback(store), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 0);
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_ptr_null(data);

    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "offset=42", 9), 0);
    ck_assert_int_eq(ktx__store_txn_commit(store), 0);
    ck_assert_uint_eq(journal_count(store, "orders", 0), 1);
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_uint_eq(len, 9);
    ck_assert_int_eq(memcmp(data, "offset=42", 9), 0);
    free(data);

    ck_assert_int_eq(ktx__store_checkpoint_set(store, NULL, 0), 0); /* clears it */
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_ptr_null(data);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_counts_one_commit_for_many_appends_in_one_transaction)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_FULL);
    struct ktx__store_stats before, after;
    ktx__store_stats(store, &before);
    uint8_t bytes[200];
    ktx_test_fill_random(bytes, sizeof(bytes), 5);
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    for (int p = 0; p < 20; p++)
        for (int i = 0; i < 5; i++) {
            struct ktx__store_batch batch = make_batch("orders", p, i * 10, bytes, sizeof(bytes));
            ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
        }
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "c", 1), 0);
    ck_assert_int_eq(ktx__store_txn_commit(store), 0);
    ktx__store_stats(store, &after);
    ck_assert_uint_eq(after.commits - before.commits, 1);
    ck_assert_uint_eq(after.fsync_estimate - before.fsync_estimate, 1); /* sync full */
    ck_assert_uint_eq(after.commit_last_us, after.commit_last_us);
    ck_assert_uint_ge(after.commit_max_us, after.commit_last_us);
    ck_assert_uint_gt(ktx__store_stats_quantile_us(&after, 0.5), 0);

    /* Outside a store transaction every write is its own commit. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ktx__store_journal_ack(store, "orders", i, 1000, 3, 0), 0);
    ktx__store_stats(store, &before);
    ck_assert_uint_eq(before.commits - after.commits, 3);
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_txn_begin(store), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__store_txn_rollback(store), 0);
    ck_assert_int_eq(ktx__store_txn_commit(store), KTX_ERR_STATE);
    ck_assert_int_eq(ktx__store_txn_rollback(store), KTX_ERR_STATE);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_stats_quantile_reads_histogram_buckets)
{
    struct ktx__store_stats stats = {0};
    ck_assert_uint_eq(ktx__store_stats_quantile_us(&stats, 0.5), 0);
    stats.commit_hist[3] = 98; /* [4, 8) us */
    stats.commit_hist[12] = 2; /* [2048, 4096) us */
    ck_assert_uint_eq(ktx__store_stats_quantile_us(&stats, 0.5), 8);
    ck_assert_uint_eq(ktx__store_stats_quantile_us(&stats, 0.98), 8);
    ck_assert_uint_eq(ktx__store_stats_quantile_us(&stats, 0.99), 4096);
}
END_TEST

START_TEST(test_store_reopen_keeps_every_record)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_producer save = {.producer_id = 77, .producer_epoch = 2,
                                       .transactional_id = "orders-tx"};
    struct ktx__store_seq seq = {"orders", 3, 77, 2, 30, 29};
    uint8_t bytes[500];
    ktx_test_fill_random(bytes, sizeof(bytes), 11);
    struct ktx__store_batch batch = make_batch("orders", 3, 30, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_save_producer(store, &save), 0);
    ck_assert_int_eq(ktx__store_save_sequence(store, &seq), 0);
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_ONGOING), 0);
    ck_assert_int_eq(ktx__store_txn_add_partition(store, "orders", 3), 0);
    ck_assert_int_eq(ktx__store_txn_add_group(store, "billing"), 0);
    ck_assert_int_eq(ktx__store_set_txn_state(store, KTX__STORE_TXN_ABORTING), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "ck", 2), 0);
    ck_assert_int_eq(ktx__store_txn_commit(store), 0);
    ktx__store_close(store);

    store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_FULL);
    struct ktx__store_producer rec;
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 77);
    ck_assert_int_eq(rec.producer_epoch, 2);
    ck_assert_str_eq(rec.transactional_id, "orders-tx");
    ktx__store_producer_clear(&rec);
    struct seqs s = {0};
    ck_assert_int_eq(ktx__store_load_sequences(store, collect_seq, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.seq[0].next_sequence, 30);
    ck_assert_int_eq(s.seq[0].last_acked_sequence, 29);
    struct collected c = {0};
    ck_assert_int_eq(ktx__store_journal_load(store, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(c.len[0], 500);
    ck_assert_uint_eq(c.last[0], bytes[499]);
    struct ktx__store_txn txn;
    ck_assert_int_eq(ktx__store_get_txn(store, &txn), 0);
    ck_assert_int_eq(txn.state, KTX__STORE_TXN_ABORTING);
    ck_assert_uint_eq(txn.partition_cnt, 1);
    ck_assert_uint_eq(txn.group_cnt, 1);
    ktx__store_txn_clear(&txn);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_uint_eq(len, 2);
    free(data);

    /* Each identity sees only its own rows. */
    struct ktx__store *other = open_ok(dbpath, "another", KTX__STATE_SYNC_NORMAL);
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(ktx__store_journal_load(other, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 0);
    ck_assert_int_eq(ktx__store_load_producer(other, &rec), 0);
    ck_assert_int_eq(rec.producer_id, -1);
    ktx__store_close(other);
    ktx__store_close(store);
}
END_TEST

/* ---- Ownership of an identity. ---- */

START_TEST(test_store_second_open_of_identity_in_same_process_fails)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    open_fails(dbpath, "orders-tx", "identity 'orders-tx' is already in use");
    ck_assert_msg(strstr(errbuf, "state.db.orders-tx.lock") != NULL, "%s", errbuf);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "x", 1), 0); /* the first is unaffected */
    ktx__store_close(store);
    ktx__store_close(open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL));
}
END_TEST

/* Forks a child that opens |identity|, saves producer id |pid|, reports and waits forever. */
static pid_t spawn_holder(const char *identity, int64_t producer_id)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(fds[0]);
        struct ktx__store *store = NULL;
        char err[512];
        if (ktx__store_open(&store, dbpath, identity, KTX__STATE_SYNC_NORMAL, err, sizeof(err)))
            _exit(2);
        struct ktx__store_producer rec = {.producer_id = producer_id, .producer_epoch = 1};
        if (ktx__store_save_producer(store, &rec) != 0)
            _exit(3);
        if (write(fds[1], "1", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(fds[1]);
    char c = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return child;
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(test_store_identity_held_by_other_process_fails_at_once_until_it_is_killed)
{
    pid_t child = spawn_holder("orders-tx", 4242);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    open_fails(dbpath, "orders-tx", "identity 'orders-tx' is already in use");
    ck_assert_msg(elapsed_s(&t0) < 1.0, "the second open waited %.2f s", elapsed_s(&t0));
    char pidtext[32];
    snprintf(pidtext, sizeof(pidtext), "held by pid %ld", (long)child);
    ck_assert_msg(strstr(errbuf, pidtext) != NULL, "%s", errbuf);

    ck_assert_int_eq(kill(child, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_producer rec;
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 4242);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_other_identity_on_same_file_works_concurrently)
{
    pid_t child = spawn_holder("orders-tx", 4242);
    struct ktx__store *store = open_ok(dbpath, "payments-tx", KTX__STATE_SYNC_FULL);
    struct ktx__store_producer save = {.producer_id = 5151, .producer_epoch = 9};
    ck_assert_int_eq(ktx__store_save_producer(store, &save), 0);
    uint8_t bytes[32] = {1};
    struct ktx__store_batch batch = make_batch("payments", 0, 0, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    struct ktx__store_producer rec;
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 5151);
    ktx__store_close(store);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 4242);
    ktx__store_close(store);
}
END_TEST

/*
 * Forks a child that opens |identity|, commits a store transaction appending batch 0 with
 * checkpoint "one", begins another appending batch 10 with checkpoint "two", reports, waits
 * |hold_ms| and commits the second one unless |hold_ms| is negative (then waits forever).
 */
static pid_t spawn_writer(const char *identity, int hold_ms)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(fds[0]);
        struct ktx__store *store = NULL;
        char err[512];
        uint8_t bytes[100] = {7};
        struct ktx__store_batch b0 = make_batch("orders", 0, 0, bytes, sizeof(bytes));
        struct ktx__store_batch b1 = make_batch("orders", 0, 10, bytes, sizeof(bytes));
        if (ktx__store_open(&store, dbpath, identity, KTX__STATE_SYNC_FULL, err, sizeof(err)) ||
            ktx__store_txn_begin(store) || ktx__store_journal_append(store, &b0) ||
            ktx__store_checkpoint_set(store, "one", 3) || ktx__store_txn_commit(store) ||
            ktx__store_txn_begin(store) || ktx__store_journal_append(store, &b1) ||
            ktx__store_checkpoint_set(store, "two", 3))
            _exit(2);
        if (write(fds[1], "1", 1) != 1)
            _exit(3);
        if (hold_ms >= 0) {
            usleep((useconds_t)hold_ms * 1000);
            if (ktx__store_txn_commit(store) != 0)
                _exit(4);
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    char c = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return child;
}

START_TEST(test_store_kill_during_transaction_keeps_only_committed_writes)
{
    pid_t child = spawn_writer("orders-tx", -1);
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);

    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct collected c = {0};
    ck_assert_int_eq(ktx__store_journal_load(store, collect_batch, &c), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_int_eq(c.base_sequence[0], 0);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(data, "one", 3), 0);
    free(data);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_write_waits_for_other_identity_transaction_then_succeeds)
{
    pid_t child = spawn_writer("orders-tx", 700);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Opening writes the identity's producer row: it waits for the child's commit. */
    struct ktx__store *store = open_ok(dbpath, "payments-tx", KTX__STATE_SYNC_NORMAL);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "p", 1), 0);
    double waited = elapsed_s(&t0);
    ck_assert_msg(waited > 0.3 && waited < 4.0, "waited %.2f s", waited);
    ktx__store_close(store);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_int_eq(memcmp(data, "two", 3), 0); /* the child's commit went through */
    free(data);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_busy_write_fails_without_failing_the_store)
{
    struct ktx__store *store = open_ok(dbpath, "payments-tx", KTX__STATE_SYNC_NORMAL);
    pid_t child = spawn_writer("orders-tx", 1500);
    ck_assert_int_eq(ktx__store_debug_exec(store, "PRAGMA busy_timeout = 100"), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "p", 1), KTX_ERR_STORE);
    ck_assert_msg(strstr(ktx__store_errmsg(store), "SQLITE_BUSY") != NULL, "%s",
                  ktx__store_errmsg(store));
    ck_assert(!ktx__store_failed(store));
    ck_assert_int_eq(ktx__store_debug_exec(store, "PRAGMA busy_timeout = 5000"), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "p", 1), 0);
    ktx__store_close(store);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}
END_TEST

START_TEST(test_store_lock_file_name_escapes_identity)
{
    struct ktx__store *store = open_ok(dbpath, "a/b c", KTX__STATE_SYNC_NORMAL);
    char lock[400];
    snprintf(lock, sizeof(lock), "%s.a%%2Fb%%20c.lock", dbpath);
    ck_assert_msg(access(lock, F_OK) == 0, "no lock file %s", lock);
    ktx__store_close(store);
    struct ktx__store *none = NULL;
    ck_assert_int_eq(ktx__store_open(&none, dbpath, "", KTX__STATE_SYNC_NORMAL, errbuf,
                                     sizeof(errbuf)), KTX_ERR_INVALID_ARG);
    ck_assert_ptr_null(none);
}
END_TEST

/* ---- Bad files. ---- */

START_TEST(test_store_refuses_file_of_garbage_bytes)
{
    uint8_t junk[8192];
    ktx_test_fill_random(junk, sizeof(junk), 99);
    write_file(dbpath, junk, sizeof(junk));
    open_fails(dbpath, "orders-tx", "not a database");
}
END_TEST

START_TEST(test_store_refuses_truncated_file)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    uint8_t bytes[3000];
    ktx_test_fill_random(bytes, sizeof(bytes), 4);
    for (int p = 0; p < 20; p++) {
        struct ktx__store_batch batch = make_batch("orders", p, 0, bytes, sizeof(bytes));
        ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
        struct ktx__store_seq seq = {"orders", p, 1000, 3, 10, 9};
        ck_assert_int_eq(ktx__store_save_sequence(store, &seq), 0);
    }
    ktx__store_close(store); /* checkpoints the WAL into the file */
    struct stat st;
    ck_assert_int_eq(stat(dbpath, &st), 0);
    ck_assert_int_gt(st.st_size, 60000);
    ck_assert_int_eq(truncate(dbpath, st.st_size / 2), 0);
    open_fails(dbpath, "orders-tx", "failed");
    fprintf(stderr, "truncated: %s\n", errbuf);
}
END_TEST

START_TEST(test_store_refuses_sqlite_database_that_is_not_a_state_file)
{
    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath, "CREATE TABLE t(x)", errbuf,
                                                sizeof(errbuf)), 0);
    open_fails(dbpath, "orders-tx", "not a kafkatx state file");
}
END_TEST

START_TEST(test_store_refuses_schema_version_newer_than_code)
{
    ktx__store_close(open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL));
    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath,
                                                "INSERT INTO schema_version VALUES(3, 0)",
                                                errbuf, sizeof(errbuf)), 0);
    open_fails(dbpath, "orders-tx", "schema version 3 is newer than this kafkatx supports (2)");
}
END_TEST

START_TEST(test_store_loaders_refuse_rows_that_break_the_schema)
{
    ktx__store_close(open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL));
    /* A hand-edited file: the journal table without its NOT NULL constraints. */
    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath,
                                                "DROP TABLE journal;"
                                                "CREATE TABLE journal(seq INTEGER PRIMARY KEY,"
                                                " identity, topic, partition_index, producer_id,"
                                                " producer_epoch, base_sequence, record_count,"
                                                " bytes, appended_ms);"
                                                "INSERT INTO journal VALUES(1, 'orders-tx', NULL,"
                                                " 0, 1, 0, 0, 1, NULL, 0)",
                                                errbuf, sizeof(errbuf)), 0);
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    int n = 0;
    ck_assert_int_eq(ktx__store_journal_load(store, count_batch, &n), KTX_ERR_STORE);
    ck_assert_int_eq(n, 0);
    ck_assert_msg(strstr(ktx__store_errmsg(store), "table journal is corrupt") != NULL, "%s",
                  ktx__store_errmsg(store));
    ktx__store_close(store);
}
END_TEST

/*
 * The checks of the read-only test, run in a child process (without root's override of
 * file permissions). Returns 0 or the number of the failed step.
 */
static int read_only_steps(const char *dir)
{
    char path[400], err[1024];
    struct ktx__store *store = NULL;
    snprintf(path, sizeof(path), "%s/ro.db", dir);
    if (ktx__store_open(&store, path, "p", KTX__STATE_SYNC_NORMAL, err, sizeof(err)) != 0)
        return fprintf(stderr, "%s\n", err), 1;
    ktx__store_close(store);
    if (chmod(path, 0444) != 0)
        return 2;
    if (ktx__store_open(&store, path, "p", KTX__STATE_SYNC_NORMAL, err, sizeof(err)) !=
            KTX_ERR_STORE || strstr(err, path) == NULL || strstr(err, "read-only") == NULL)
        return fprintf(stderr, "read-only file: %s\n", err), 3;
    if (chmod(path, 0) != 0)
        return 4;
    if (ktx__store_open(&store, path, "p", KTX__STATE_SYNC_NORMAL, err, sizeof(err)) !=
            KTX_ERR_STORE || strstr(err, path) == NULL)
        return fprintf(stderr, "unreadable file: %s\n", err), 5;
    if (chmod(path, 0644) != 0 || chmod(dir, 0555) != 0)
        return 6;
    if (ktx__store_open(&store, path, "q", KTX__STATE_SYNC_NORMAL, err, sizeof(err)) !=
            KTX_ERR_STORE || strstr(err, path) == NULL)
        return fprintf(stderr, "read-only directory, new identity: %s\n", err), 7;
    if (ktx__store_open(&store, path, "p", KTX__STATE_SYNC_NORMAL, err, sizeof(err)) !=
            KTX_ERR_STORE || strstr(err, path) == NULL)
        return fprintf(stderr, "read-only directory: %s\n", err), 8;
    fprintf(stderr, "read-only directory: %s\n", err);
    return 0;
}

START_TEST(test_store_refuses_read_only_file_and_directory)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        /* root ignores permission bits: run the checks as nobody */
        if (geteuid() == 0 && (chown(dir, 65534, 65534) != 0 || chmod(tmpdir, 0755) != 0 ||
                               setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        int step = read_only_steps(dir);
        if (chmod(dir, 0755) != 0)
            step = step ? step : 9;
        _exit(step);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "failed at step %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

/*
 * Appends 8 KB batches (one partition each) until a write fails; returns how many succeeded
 * and checks that the failure is KTX_ERR_STORE naming the file and SQLITE_FULL.
 */
static int fill_until_full(struct ktx__store *store, const char *path)
{
    static uint8_t bytes[8192];
    ktx_test_fill_random(bytes, sizeof(bytes), 21);
    for (int p = 0; p < 1000; p++) {
        struct ktx__store_batch batch = make_batch("fill", p, 0, bytes, sizeof(bytes));
        int rc = ktx__store_journal_append(store, &batch);
        if (rc == 0)
            continue;
        const char *msg = ktx__store_errmsg(store);
        ck_assert_int_eq(rc, KTX_ERR_STORE);
        ck_assert_msg(strstr(msg, path) != NULL && strstr(msg, "SQLITE_FULL") != NULL, "%s",
                      msg);
        ck_assert(ktx__store_failed(store));
        return p;
    }
    ck_abort_msg("the store never became full");
    return -1;
}

/* Checks that a failed store refuses a small write, naming the first failure. */
static void assert_sticky(struct ktx__store *store)
{
    struct ktx__store_seq seq = {"t", 0, 1, 1, 1, 0};
    ck_assert_int_eq(ktx__store_save_sequence(store, &seq), KTX_ERR_STORE);
    ck_assert_msg(strstr(ktx__store_errmsg(store), "writes are refused") != NULL &&
                      strstr(ktx__store_errmsg(store), "SQLITE_FULL") != NULL,
                  "%s", ktx__store_errmsg(store));
    ck_assert_int_eq(ktx__store_txn_begin(store), KTX_ERR_STORE);
}

START_TEST(test_store_disk_full_on_small_tmpfs_fails_write_and_is_sticky)
{
    char dir[300], path[320];
    snprintf(dir, sizeof(dir), "%s/full", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=200k") != 0) {
        printf("SKIP test_store_disk_full_on_small_tmpfs: cannot mount a tmpfs (%s); the"
               " max_page_count test still covers SQLITE_FULL\n", strerror(errno));
        return;
    }
    snprintf(path, sizeof(path), "%s/state.db", dir);
    struct ktx__store *store = NULL;
    int rc = ktx__store_open(&store, path, "orders-tx", KTX__STATE_SYNC_FULL, errbuf,
                             sizeof(errbuf));
    if (rc == 0) {
        int ok = fill_until_full(store, path);
        fprintf(stderr, "tmpfs of 200k full after %d batches of 8 KB: %s\n", ok,
                ktx__store_errmsg(store));
        ck_assert_int_gt(ok, 0);
        assert_sticky(store);
        ktx__store_close(store);
    }
    ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
    ck_assert_msg(rc == 0, "%s", errbuf);
}
END_TEST

START_TEST(test_store_max_page_count_fails_write_sticky_until_reopened)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    ck_assert_int_eq(ktx__store_debug_exec(store, "PRAGMA max_page_count = 40"), 0);
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "before", 6), 0);
    ck_assert_int_eq(ktx__store_txn_commit(store), 0);
    int ok = fill_until_full(store, dbpath);
    ck_assert_int_gt(ok, 3);
    assert_sticky(store);
    ktx__store_close(store);

    store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_NORMAL);
    int n = 0;
    ck_assert_int_eq(ktx__store_journal_load(store, count_batch, &n), 0);
    ck_assert_int_eq(n, ok);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_uint_eq(len, 6);
    free(data);
    struct ktx__store_seq seq = {"t", 0, 1, 1, 1, 0};
    ck_assert_int_eq(ktx__store_save_sequence(store, &seq), 0);
    ktx__store_close(store);
}
END_TEST

START_TEST(test_store_failure_inside_transaction_loses_the_whole_transaction)
{
    struct ktx__store *store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_FULL);
    ck_assert_int_eq(ktx__store_debug_exec(store, "PRAGMA max_page_count = 40"), 0);
    ck_assert_int_eq(ktx__store_txn_begin(store), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "in-txn", 6), 0);
    ck_assert_int_gt(fill_until_full(store, dbpath), 3);
    ck_assert_int_eq(ktx__store_txn_commit(store), KTX_ERR_STORE);
    ck_assert_msg(strstr(ktx__store_errmsg(store), "writes are refused") != NULL, "%s",
                  ktx__store_errmsg(store));
    ck_assert_int_eq(ktx__store_txn_commit(store), KTX_ERR_STATE); /* it is over */
    ktx__store_close(store);

    store = open_ok(dbpath, "orders-tx", KTX__STATE_SYNC_FULL);
    int n = 0;
    ck_assert_int_eq(ktx__store_journal_load(store, count_batch, &n), 0);
    ck_assert_int_eq(n, 0);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ktx__store_checkpoint_get(store, &data, &len), 0);
    ck_assert_ptr_null(data);
    ktx__store_close(store);
}
END_TEST

/* ---- Migrations. ---- */

/* Checks the data of tests/fixtures/make-state-v1.sql after migrating |path|. */
static void assert_v1_data_migrated(const char *path)
{
    struct ktx__store *store = open_ok(path, "orders-tx", KTX__STATE_SYNC_NORMAL);
    struct ktx__store_producer rec;
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 4001);
    ck_assert_int_eq(rec.producer_epoch, 7);
    ck_assert_str_eq(rec.transactional_id, "orders-tx");
    ck_assert_int_eq(rec.updated_ms, 1700000100000LL);
    ck_assert_int_eq(rec.created_ms, 1700000100000LL);
    ktx__store_producer_clear(&rec);
    struct seqs s = {0};
    ck_assert_int_eq(ktx__store_load_sequences(store, collect_seq, &s), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.seq[0].topic, "orders");
    ck_assert_int_eq(s.seq[0].partition, 0);
    ck_assert_int_eq(s.seq[0].next_sequence, 42);
    ck_assert_int_eq(s.seq[0].producer_id, 4001);
    ck_assert_int_eq(s.seq[0].producer_epoch, 7);
    ck_assert_int_eq(s.seq[0].last_acked_sequence, -1);
    ck_assert_int_eq(s.seq[1].next_sequence, 17);
    struct ktx__store_txn txn;
    ck_assert_int_eq(ktx__store_get_txn(store, &txn), 0);
    ck_assert_int_eq(txn.state, KTX__STORE_TXN_NONE);
    ktx__store_txn_clear(&txn);
    /* The tables of v2 exist. */
    uint8_t bytes[8] = {1};
    struct ktx__store_batch batch = make_batch("orders", 0, 42, bytes, sizeof(bytes));
    ck_assert_int_eq(ktx__store_journal_append(store, &batch), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, "x", 1), 0);

    struct ktx__store *metrics = open_ok(path, "metrics-producer", KTX__STATE_SYNC_NORMAL);
    ck_assert_int_eq(ktx__store_load_producer(metrics, &rec), 0);
    ck_assert_int_eq(rec.producer_id, 4002);
    ck_assert_ptr_null(rec.transactional_id);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(ktx__store_load_sequences(metrics, collect_seq, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.seq[0].topic, "metrics");
    ck_assert_int_eq(s.seq[0].partition, 3);
    ck_assert_int_eq(s.seq[0].next_sequence, 1000);
    ck_assert_int_eq(s.seq[0].producer_id, 4002);
    ktx__store_close(metrics);
    ktx__store_close(store);
}

START_TEST(test_store_migrates_committed_v1_fixture_keeping_its_data)
{
    copy_fixture(dbpath);
    assert_v1_data_migrated(dbpath);
    assert_v1_data_migrated(dbpath); /* a second open finds version 2 and changes nothing */
}
END_TEST

START_TEST(test_store_v1_generator_script_matches_committed_fixture)
{
    size_t len;
    char *sql = (char *)read_file(src_path("tests/fixtures/make-state-v1.sql"), &len);
    sql = realloc(sql, len + 1);
    sql[len] = '\0';
    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath, sql, errbuf, sizeof(errbuf)), 0);
    free(sql);
    assert_v1_data_migrated(dbpath);
}
END_TEST

START_TEST(test_store_failed_migration_leaves_file_unchanged)
{
    copy_fixture(dbpath);
    /* A table in the way of migration 2 makes it fail halfway. */
    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath, "CREATE TABLE checkpoint(x)", errbuf,
                                                sizeof(errbuf)), 0);
    size_t len0, len1;
    uint8_t *before = read_file(dbpath, &len0);
    open_fails(dbpath, "orders-tx", "migration to schema version 2 failed");
    ck_assert_msg(strstr(errbuf, "left unchanged") != NULL, "%s", errbuf);
    uint8_t *after = read_file(dbpath, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert_int_eq(memcmp(before, after, len0), 0);
    free(before);
    free(after);

    ck_assert_int_eq(ktx__store_debug_exec_file(dbpath, "DROP TABLE checkpoint", errbuf,
                                                sizeof(errbuf)), 0);
    assert_v1_data_migrated(dbpath);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("records");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_producer_row_roundtrips_and_starts_unset);
    tcase_add_test(tc, test_store_txn_state_roundtrips_partitions_and_groups);
    tcase_add_test(tc, test_store_sequences_roundtrip_sorted_and_reset);
    tcase_add_test(tc, test_store_journal_loads_exact_bytes_in_append_order);
    tcase_add_test(tc, test_store_journal_refuses_sixth_unacknowledged_batch_per_partition);
    tcase_add_test(tc, test_store_journal_ack_of_unknown_batch_is_a_state_error);
    tcase_add_test(tc, test_store_journal_discard_drops_one_partition_or_all);
    tcase_add_test(tc, test_store_checkpoint_commits_and_rolls_back_with_journal_appends);
    tcase_add_test(tc, test_store_counts_one_commit_for_many_appends_in_one_transaction);
    tcase_add_test(tc, test_store_stats_quantile_reads_histogram_buckets);
    tcase_add_test(tc, test_store_reopen_keeps_every_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("ownership");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_store_second_open_of_identity_in_same_process_fails);
    tcase_add_test(tc, test_store_identity_held_by_other_process_fails_at_once_until_it_is_killed);
    tcase_add_test(tc, test_store_other_identity_on_same_file_works_concurrently);
    tcase_add_test(tc, test_store_lock_file_name_escapes_identity);
    tcase_add_test(tc, test_store_kill_during_transaction_keeps_only_committed_writes);
    tcase_add_test(tc, test_store_write_waits_for_other_identity_transaction_then_succeeds);
    tcase_add_test(tc, test_store_busy_write_fails_without_failing_the_store);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_store_refuses_file_of_garbage_bytes);
    tcase_add_test(tc, test_store_refuses_truncated_file);
    tcase_add_test(tc, test_store_refuses_sqlite_database_that_is_not_a_state_file);
    tcase_add_test(tc, test_store_refuses_schema_version_newer_than_code);
    tcase_add_test(tc, test_store_loaders_refuse_rows_that_break_the_schema);
    tcase_add_test(tc, test_store_refuses_read_only_file_and_directory);
    tcase_add_test(tc, test_store_disk_full_on_small_tmpfs_fails_write_and_is_sticky);
    tcase_add_test(tc, test_store_max_page_count_fails_write_sticky_until_reopened);
    tcase_add_test(tc, test_store_failure_inside_transaction_loses_the_whole_transaction);
    suite_add_tcase(s, tc);

    tc = tcase_create("migrations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_migrates_committed_v1_fixture_keeping_its_data);
    tcase_add_test(tc, test_store_v1_generator_script_matches_committed_fixture);
    tcase_add_test(tc, test_store_failed_migration_leaves_file_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(store_suite)
