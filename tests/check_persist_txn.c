/*
 * A transactional producer with state.path across restarts, against ktx-broker
 * (docs/guarantees.md sections 1 and 3; txn/persist.c):
 * - at most one store commit per transaction with transactions v2 (two with v1), counted
 *   with the store's counters;
 * - a run SIGKILLed during ktx_commit_transaction(): the next run's ktx_last_transaction()
 *   says UNKNOWN until ktx_init_transactions() asked the coordinator (DescribeTransactions),
 *   then COMMITTED with the new position when the commit had reached the coordinator, or
 *   ABORTED with the previous one when it had not;
 * - KIP-360: the first InitProducerId carries the persisted id and epoch; a stale epoch
 *   (another producer took the transactional id over) falls back to a new producer;
 * - the crash loop: a replayable source resumed from ktx_last_transaction()'s position,
 *   killed at random moments (also during commits), the broker restarted in the middle; a
 *   read_committed librdkafka read-back finds every record once and in order.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "kafkatx.h"
#include "persist.h"
#include "producer_int.h"
#include "proto_txn.h"
#include "sender_int.h"
#include "integ_util.h"
#include "verify.h"

/* The topic every test writes: 2 partitions. */
#define TOPIC "t"
#define PARTITIONS 2
#define T_MS 30000

/* The log lines the tests look for (this process's producers). */
static int kip360_fallbacks; /* "asking as a new producer" warnings */

static void on_log(int level, const char *facility, const char *message, void *opaque)
{
    (void)opaque;
    if (strstr(message, "asking as a new producer"))
        kip360_fallbacks++;
    if (getenv("KTX_TEST_LOG"))
        fprintf(stderr, "[%d] log %d %s: %s\n", (int)getpid(), level, facility, message);
}

/* A fresh temporary directory under |buf| (|cap| bytes) with the state file path in |path|. */
static void make_dir(char *buf, size_t cap, char *path, size_t path_cap)
{
    snprintf(buf, cap, "/tmp/ktx-ptxn-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    snprintf(path, path_cap, "%s/state.db", buf);
}

static void rm_dir(const char *dir)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ktx-broker with one broker, topic TOPIC; transactions v2 when |v2|; on |data_dir| when
 * not NULL. */
static struct ktx_test_cluster *start_broker(bool v2, const char *data_dir)
{
    const char *args[5];
    struct ktx_test_cluster *c;
    int n = 0;

    if (v2)
        args[n++] = "--txn-v2";
    if (data_dir) {
        args[n++] = "--data-dir";
        args[n++] = data_dir;
    }
    args[n] = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic %s %d 1", TOPIC, PARTITIONS), 0);
    return c;
}

/* A producer with transactional.id "tx" (|tid| when not NULL) and state file |path| (none
 * when NULL); ktx_init_transactions() not called yet. NULL when creating it failed. */
static ktx_producer_t *new_txn_producer(const char *bootstrap, const char *path, const char *tid)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;

    if (ktx_conf_set(conf, "bootstrap.servers", bootstrap) ||
        ktx_conf_set(conf, "transactional.id", tid ? tid : "tx") ||
        ktx_conf_set(conf, "linger.ms", "1") ||
        (path && ktx_conf_set(conf, "state.path", path))) {
        ktx_conf_destroy(conf);
        return NULL;
    }
    ktx_conf_set_log_cb(conf, on_log, NULL);
    if (ktx_producer_new(&producer, conf) != NULL) {
        ktx_conf_destroy(conf);
        return NULL;
    }
    return producer;
}

/* The store commits of |producer| so far (its state store's counter). */
static uint64_t store_commits(ktx_producer_t *producer)
{
    struct ktx__idem *idem = producer->sender->hooks.opaque;
    struct ktx__store_stats st;

    ktx__store_stats(idem->persist->store, &st);
    return st.commits;
}

/* False and the error printed (when KTX_TEST_LOG is set) when |err| is an error. */
static bool ok(ktx_error_t *err, const char *what)
{
    if (!err)
        return true;
    if (getenv("KTX_TEST_LOG"))
        fprintf(stderr, "[%d] %s: %s\n", (int)getpid(), what, ktx_error_message(err));
    ktx_error_destroy(err);
    return false;
}

/* Sends |n| records "i" for i in [from, from + n) to partition i % PARTITIONS and flushes.
 * Returns false on any error (usable in a child). */
static bool send_range(ktx_producer_t *producer, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++) {
        ktx_record_t rec = {0};
        char value[32];

        snprintf(value, sizeof(value), "%llu", (unsigned long long)i);
        rec.topic = TOPIC;
        rec.partition = (int32_t)(i % PARTITIONS);
        rec.value = value;
        rec.value_len = strlen(value);
        if (!ok(ktx_send(producer, &rec), "send"))
            return false;
    }
    return ok(ktx_flush(producer, T_MS), "flush");
}

/* One transaction of the records [from, to) with checkpoint |to|. False on any error. */
static bool txn_range(ktx_producer_t *producer, uint64_t from, uint64_t to)
{
    return ok(ktx_begin_transaction(producer), "begin") && send_range(producer, from, to - from) &&
           ok(ktx_checkpoint(producer, &to, sizeof(to)), "checkpoint") &&
           ok(ktx_commit_transaction(producer, T_MS), "commit");
}

/* The position of |report| (0 when none), or UINT64_MAX when it is not 8 bytes. */
static uint64_t position_of(const ktx_restart_report_t *report)
{
    uint64_t pos = 0;

    if (report->position_len == sizeof(pos))
        memcpy(&pos, report->position, sizeof(pos));
    else if (report->position_len != 0)
        return UINT64_MAX;
    return pos;
}

/* Reads TOPIC back with read_committed and asserts records [0, total) exactly once, in
 * order per partition. */
static void assert_read_back(struct ktx_test_cluster *c, uint64_t total)
{
    struct ktx_verify_topic t = {0};
    char why[256];

    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), TOPIC, KTX_VERIFY_READ_COMMITTED,
                                  30000, &t, why, sizeof(why)) == 0, "read: %s", why);
    ck_assert_int_eq(t.partition_count, PARTITIONS);
    for (int32_t p = 0; p < PARTITIONS; p++)
        integ_assert_strided_partition(&t, p, PARTITIONS, total);
    ktx_verify_topic_free(&t);
}

/* ---- one store commit per transaction ---- */

/* Runs 10 transactions after a first one and returns the store commits they cost. */
static uint64_t commits_of_ten_transactions(bool v2)
{
    char dir[64], path[128];
    struct ktx_test_cluster *c = start_broker(v2, NULL);
    ktx_producer_t *producer;
    ktx_restart_report_t report;
    uint64_t before, after;

    make_dir(dir, sizeof(dir), path, sizeof(path));
    ck_assert_ptr_nonnull(producer = new_txn_producer(ktx_test_cluster_bootstrap(c), path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert(txn_range(producer, 0, 10)); /* the identity save after InitProducerId is done */
    before = store_commits(producer);
    for (uint64_t i = 1; i <= 10; i++)
        ck_assert(txn_range(producer, i * 10, i * 10 + 10));
    after = store_commits(producer);
    ck_assert_ptr_null(ktx_close(producer, T_MS));
    ktx_producer_destroy(producer);

    /* The clean close wrote the last outcome: the next run knows it without asking. */
    ck_assert_ptr_nonnull(producer = new_txn_producer(ktx_test_cluster_bootstrap(c), path, NULL));
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    ck_assert_uint_eq(position_of(&report), 110);
    ktx_producer_destroy(producer);
    assert_read_back(c, 110);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
    return after - before;
}

START_TEST(test_ptxn_one_store_commit_per_transaction_with_v2_two_with_v1)
{
    uint64_t v2 = commits_of_ten_transactions(true);
    uint64_t v1 = commits_of_ten_transactions(false);

    ck_assert_msg(v2 == 10, "transactions v2: %llu store commits for 10 transactions",
                  (unsigned long long)v2);
    ck_assert_msg(v1 == 20, "transactions v1: %llu store commits for 10 transactions",
                  (unsigned long long)v1);
}
END_TEST

/* Empty transactions: a checkpoint given in one that aborts is dropped (also without
 * EndTxn), one given in a commit without records moves the position. */
static void empty_transactions(bool v2)
{
    char dir[64], path[128];
    struct ktx_test_cluster *c = start_broker(v2, NULL);
    const char *bs = ktx_test_cluster_bootstrap(c);
    ktx_producer_t *producer;
    ktx_restart_report_t report;
    uint64_t pos = 99;

    make_dir(dir, sizeof(dir), path, sizeof(path));
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert(txn_range(producer, 0, 10));
    ck_assert_ptr_null(ktx_begin_transaction(producer)); /* aborted, nothing added */
    ck_assert_ptr_null(ktx_checkpoint(producer, &pos, sizeof(pos)));
    ck_assert_ptr_null(ktx_abort_transaction(producer, T_MS));
    ck_assert_ptr_null(ktx_begin_transaction(producer)); /* records, no checkpoint */
    ck_assert(send_range(producer, 10, 10));
    ck_assert_ptr_null(ktx_commit_transaction(producer, T_MS));
    ktx_producer_destroy(producer);
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    ck_assert_uint_eq(position_of(&report), 10); /* not 99 */
    pos = 20;
    ck_assert_ptr_null(ktx_begin_transaction(producer)); /* a checkpoint, no records */
    ck_assert_ptr_null(ktx_checkpoint(producer, &pos, sizeof(pos)));
    ck_assert_ptr_null(ktx_commit_transaction(producer, T_MS));
    ktx_producer_destroy(producer);
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    ck_assert_uint_eq(position_of(&report), 20);
    ktx_producer_destroy(producer);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}

START_TEST(test_ptxn_empty_transactions_drop_or_move_the_position)
{
    empty_transactions(false);
    empty_transactions(true);
}
END_TEST

/* ---- a crash during the commit ---- */

/* The ways the child of crash_in_commit() is killed. */
enum crash_kind {
    CRASH_COMMIT_APPLIED,     /* EndTxn(commit) reached the coordinator; its answer is late */
    CRASH_COMMIT_NOT_APPLIED, /* EndTxn(commit) never took effect */
    CRASH_NEXT_TRANSACTION,   /* after the commit, inside the next transaction */
};

/* The child: commits [0, 10), then, once |go_fd| has a byte, [10, 20) (or begins it and
 * flushes, for CRASH_NEXT_TRANSACTION), writing a byte to |fd| after the first commit and
 * just before the second. */
static void crash_child(const char *bootstrap, const char *path, int fd, int go_fd,
                        enum crash_kind kind)
{
    ktx_producer_t *producer = new_txn_producer(bootstrap, path, NULL);
    uint64_t pos = 20;
    char byte;

    if (!producer || ktx_init_transactions(producer, T_MS) != NULL || !txn_range(producer, 0, 10))
        _exit(2);
    if (write(fd, "a", 1) != 1 || read(go_fd, &byte, 1) != 1)
        _exit(3);
    if (ktx_begin_transaction(producer) != NULL || !send_range(producer, 10, 10) ||
        ktx_checkpoint(producer, &pos, sizeof(pos)) != NULL)
        _exit(4);
    if (write(fd, "b", 1) != 1)
        _exit(5);
    if (kind != CRASH_NEXT_TRANSACTION)
        ktx_commit_transaction(producer, T_MS);
    pause();
    _exit(6);
}

/* The coordinator's state of "tx" (Kafka's name) into |out|. */
static void describe_state(struct ktx_test_cluster *c, char *out, size_t cap)
{
    struct ktx__str id = ktx__str_c("tx");
    struct ktx__describe_transactions_req req = {&id, 1};
    struct ktx__describe_transactions_resp resp = {0};
    struct ktx_test_exchange ex;
    int fd = ktx_test_cluster_connect(c, 1, 3000);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_describe_transactions, 0, &req,
                                       &resp, &ex, 3000), 0);
    ck_assert_int_eq(resp.transaction_state_count, 1);
    ck_assert_int_eq(resp.transaction_states[0].error_code, 0);
    snprintf(out, cap, "%.*s", (int)resp.transaction_states[0].transaction_state.len,
             resp.transaction_states[0].transaction_state.ptr);
    ktx_test_exchange_free(&ex);
    close(fd);
}

/* Kills a child during its second transaction as |kind| says, then checks the restart
 * report before and after ktx_init_transactions() and the read-back. */
static void crash_in_commit(bool v2, enum crash_kind kind, ktx_txn_outcome_t want_outcome,
                            uint64_t want_pos)
{
    char dir[64], path[128], state[64];
    struct ktx_test_cluster *c = start_broker(v2, NULL);
    const char *bs = ktx_test_cluster_bootstrap(c);
    ktx_producer_t *producer;
    ktx_restart_report_t before, report;
    int fds[2], go[2], status;
    char byte;
    pid_t pid;

    make_dir(dir, sizeof(dir), path, sizeof(path));
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        crash_child(bs, path, fds[1], go[0], kind);
    close(fds[1]);
    close(go[0]);
    ck_assert_int_eq(read(fds[0], &byte, 1), 1); /* the first transaction committed */
    /* The second EndTxn: applied with its answer 30 s late, or refused 30 s late
     * (CONCURRENT_TRANSACTIONS, 51: not applied). */
    if (kind == CRASH_COMMIT_APPLIED)
        ck_assert_int_eq(ktx_test_cluster_cmd(c, "berr 1 %d 0 30000", KTX__API_END_TXN), 0);
    else if (kind == CRASH_COMMIT_NOT_APPLIED)
        ck_assert_int_eq(ktx_test_cluster_cmd(c, "berr 1 %d 51 30000", KTX__API_END_TXN), 0);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    close(go[1]);
    ck_assert_int_eq(read(fds[0], &byte, 1), 1); /* about to commit the second one */
    close(fds[0]);
    if (kind == CRASH_COMMIT_APPLIED) {
        for (int i = 0; i < 300; i++) { /* until the coordinator took the commit */
            describe_state(c, state, sizeof(state));
            if (strcmp(state, "CompleteCommit") == 0)
                break;
            usleep(20000);
        }
        ck_assert_str_eq(state, "CompleteCommit");
    } else {
        /* COMMITTING written and EndTxn sent: a sender turn away (valgrind: slow). */
        usleep(kind == CRASH_NEXT_TRANSACTION ? 100000 : 1500000);
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_last_transaction(producer, &before));
    report = before;
    if (kind == CRASH_NEXT_TRANSACTION && !v2) {
        /* v1: COMMITTED was written when the first transaction's EndTxn was answered. */
        ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    } else {
        /* The file says COMMITTING: only the coordinator can tell. */
        ck_assert_msg(report.outcome == KTX_TXN_UNKNOWN, "v%d kind %d: outcome %d before init",
                      v2 ? 2 : 1, (int)kind, (int)report.outcome);
        ck_assert_uint_eq(position_of(&report), kind == CRASH_NEXT_TRANSACTION ? 0 : 10);
    }
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, want_outcome);
    ck_assert_uint_eq(position_of(&report), want_pos);
    /* A report read before stays valid (its pointers live as long as the producer). */
    ck_assert_uint_le(position_of(&before), want_pos);
    /* Resume from the reported position: every record exactly once. */
    ck_assert(txn_range(producer, want_pos, 30));
    ck_assert_ptr_null(ktx_close(producer, T_MS));
    ktx_producer_destroy(producer);
    assert_read_back(c, 30);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}

START_TEST(test_ptxn_killed_in_a_commit_the_coordinator_took_reports_committed)
{
    crash_in_commit(false, CRASH_COMMIT_APPLIED, KTX_TXN_COMMITTED, 20);
    crash_in_commit(true, CRASH_COMMIT_APPLIED, KTX_TXN_COMMITTED, 20);
}
END_TEST

START_TEST(test_ptxn_killed_in_a_commit_the_coordinator_never_took_reports_aborted)
{
    crash_in_commit(false, CRASH_COMMIT_NOT_APPLIED, KTX_TXN_ABORTED, 10);
    crash_in_commit(true, CRASH_COMMIT_NOT_APPLIED, KTX_TXN_ABORTED, 10);
}
END_TEST

START_TEST(test_ptxn_killed_in_the_next_transaction_reports_the_commit_before)
{
    crash_in_commit(false, CRASH_NEXT_TRANSACTION, KTX_TXN_COMMITTED, 10);
    crash_in_commit(true, CRASH_NEXT_TRANSACTION, KTX_TXN_COMMITTED, 10);
}
END_TEST

/* ---- KIP-360 ---- */

START_TEST(test_ptxn_stale_persisted_epoch_falls_back_to_a_new_producer)
{
    char dir[64], path[128];
    struct ktx_test_cluster *c = start_broker(false, NULL);
    const char *bs = ktx_test_cluster_bootstrap(c);
    ktx_producer_t *producer, *other;
    ktx_restart_report_t report;

    make_dir(dir, sizeof(dir), path, sizeof(path));
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert(txn_range(producer, 0, 10));
    ck_assert_ptr_null(ktx_close(producer, T_MS));
    ktx_producer_destroy(producer);

    /* A restart continues: InitProducerId with the persisted id and epoch is accepted. */
    kip360_fallbacks = 0;
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert_int_eq(kip360_fallbacks, 0);
    ck_assert(txn_range(producer, 10, 20));
    ck_assert_ptr_null(ktx_close(producer, T_MS));
    ktx_producer_destroy(producer);

    /* Another producer (no state file) takes the transactional id over and commits. */
    ck_assert_ptr_nonnull(other = new_txn_producer(bs, NULL, NULL));
    ck_assert_ptr_null(ktx_init_transactions(other, T_MS));
    ck_assert_ptr_null(ktx_begin_transaction(other));
    ck_assert(send_range(other, 20, 10));
    ck_assert_ptr_null(ktx_commit_transaction(other, T_MS));
    ck_assert_ptr_null(ktx_close(other, T_MS));
    ktx_producer_destroy(other);

    /* The persisted epoch is stale now: the coordinator fences it (PRODUCER_FENCED), and the
     * producer asks again as a new one (what Kafka's Java client always does). */
    ck_assert_ptr_nonnull(producer = new_txn_producer(bs, path, NULL));
    ck_assert_ptr_null(ktx_init_transactions(producer, T_MS));
    ck_assert_int_eq(kip360_fallbacks, 1);
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    ck_assert_uint_eq(position_of(&report), 20);
    ck_assert_int_eq(report.producer_id_reset, 0); /* the same id, a later epoch */
    ck_assert(txn_range(producer, 30, 40));
    ck_assert_ptr_null(ktx_close(producer, T_MS));
    ktx_producer_destroy(producer);
    assert_read_back(c, 40);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}
END_TEST

/* ---- the checkpoint row of a transactional identity ---- */

/* Writes |state| and the checkpoint row |row| (|len| bytes) for identity "tx" at |path|. */
static void write_row(const char *path, enum ktx__store_txn_state state, const void *row,
                      size_t len)
{
    struct ktx__store *store;
    char errbuf[256];

    ck_assert_int_eq(ktx__store_open(&store, path, "tx", KTX__STATE_SYNC_NORMAL, errbuf,
                                     sizeof(errbuf)), 0);
    ck_assert_int_eq(ktx__store_set_txn_state(store, state), 0);
    ck_assert_int_eq(ktx__store_checkpoint_set(store, row, len), 0);
    ktx__store_close(store);
}

START_TEST(test_ptxn_older_plain_position_is_read_and_a_damaged_frame_refused)
{
    char dir[64], path[128];
    ktx_producer_t *producer;
    ktx_restart_report_t report;
    ktx_conf_t *conf;
    ktx_error_t *err;

    /* A file of an earlier version: the row is the plain committed position. */
    make_dir(dir, sizeof(dir), path, sizeof(path));
    write_row(path, KTX__STORE_TXN_COMMITTED, "pos=5", 5);
    ck_assert_ptr_nonnull(producer = new_txn_producer("127.0.0.1:9", path, NULL));
    ck_assert_ptr_null(ktx_last_transaction(producer, &report));
    ck_assert_int_eq(report.outcome, KTX_TXN_COMMITTED);
    ck_assert_uint_eq(report.position_len, 5);
    ck_assert_int_eq(memcmp(report.position, "pos=5", 5), 0);
    ktx_producer_destroy(producer);

    /* A frame whose committed length runs past the row: refused at ktx_producer_new(). */
    write_row(path, KTX__STORE_TXN_COMMITTING, "\0ktx-txn\001\003\0\0\0\377\0\0\0\001x", 19);
    conf = ktx_conf_new();
    ck_assert_ptr_null(ktx_conf_set(conf, "bootstrap.servers", "127.0.0.1:9"));
    ck_assert_ptr_null(ktx_conf_set(conf, "transactional.id", "tx"));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.path", path));
    err = ktx_producer_new(&producer, conf);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STORE);
    ck_assert_msg(strstr(ktx_error_message(err), "position frame") &&
                      strstr(ktx_error_message(err), path),
                  "message: %s", ktx_error_message(err));
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
    rm_dir(dir);
}
END_TEST

/* ---- the crash loop ---- */

/* Records per transaction of the crash loop's source. */
#define LOOP_TXN_RECORDS 10

/*
 * The child of the crash loop: a replayable source (record i is "i" on partition
 * i % PARTITIONS, i < |total|) resumed from ktx_last_transaction()'s position, one
 * transaction of LOOP_TXN_RECORDS records with a checkpoint each. After its first
 * transaction it writes a byte to |ready_fd| (every run makes progress, also under
 * valgrind), then goes on until killed; the |last| run finishes the source and closes.
 */
static void loop_child(const char *bootstrap, const char *path, int ready_fd, uint64_t total,
                       bool last)
{
    ktx_producer_t *producer = new_txn_producer(bootstrap, path, NULL);
    ktx_restart_report_t before, report;
    char line[32], outcomes[160];
    uint64_t pos;
    bool ready = false;
    FILE *f;

    if (!producer || ktx_last_transaction(producer, &before) != NULL ||
        ktx_init_transactions(producer, T_MS) != NULL ||
        ktx_last_transaction(producer, &report) != NULL)
        _exit(2);
    if (report.outcome == KTX_TXN_UNKNOWN || (pos = position_of(&report)) == UINT64_MAX)
        _exit(3); /* the position to resume from must be known */
    /* "before after": how the outcome was known (UNKNOWN before: asked the coordinator). */
    snprintf(outcomes, sizeof(outcomes), "%s.outcomes", path);
    snprintf(line, sizeof(line), "%d %d\n", (int)before.outcome, (int)report.outcome);
    if (!(f = fopen(outcomes, "a")) || fputs(line, f) < 0 || fclose(f) != 0)
        _exit(7);
    while (pos < total) {
        uint64_t to = pos + LOOP_TXN_RECORDS < total ? pos + LOOP_TXN_RECORDS : total;

        if (!txn_range(producer, pos, to))
            _exit(4);
        pos = to;
        if (!ready && write(ready_fd, "r", 1) != 1)
            _exit(5);
        ready = true;
    }
    if (!ready && write(ready_fd, "r", 1) != 1)
        _exit(5);
    if (!last)
        pause();
    if (ktx_close(producer, T_MS) != NULL)
        _exit(6);
    ktx_producer_destroy(producer);
    _exit(0);
}

/* Counts the runs of the crash loop that found COMMITTING and learned from the coordinator
 * that it committed (|*committed|) or not (|*aborted|). */
static void count_resolved(const char *path, int *committed, int *aborted)
{
    char outcomes[160];
    int before, after;
    FILE *f;

    *committed = *aborted = 0;
    snprintf(outcomes, sizeof(outcomes), "%s.outcomes", path);
    ck_assert_ptr_nonnull(f = fopen(outcomes, "r"));
    while (fscanf(f, "%d %d", &before, &after) == 2) {
        *committed += before == KTX_TXN_UNKNOWN && after == KTX_TXN_COMMITTED;
        *aborted += before == KTX_TXN_UNKNOWN && after == KTX_TXN_ABORTED;
    }
    fclose(f);
}

/*
 * |runs| children SIGKILLed a seeded random 0-30 ms after their first transaction, the
 * broker (on a data directory) restarted while run |runs| / 2 runs, a last run that
 * finishes; then the read-back. Before two kills in three, the next EndTxn is made slow
 * (answered 1 s late, applied or not applied) and the kill waits for it, so that many kills
 * land inside a commit.
 */
static void crash_loop(int runs, uint64_t total, unsigned seed)
{
    char dir[64], path[128], data[128];
    struct ktx_test_cluster *c;
    int committed, aborted;

    make_dir(dir, sizeof(dir), path, sizeof(path));
    snprintf(data, sizeof(data), "%s/broker", dir);
    ck_assert_int_eq(mkdir(data, 0700), 0);
    c = start_broker(false, data);
    for (int run = 0; run <= runs; run++) {
        bool last = run == runs;
        int fds[2], status;
        char byte;
        pid_t pid;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            loop_child(ktx_test_cluster_bootstrap(c), path, fds[1], total, last);
        close(fds[1]);
        if (read(fds[0], &byte, 1) != 1) {
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_abort_msg("run %d: the child ended early (status 0x%x)", run, status);
        }
        close(fds[0]);
        if (run == runs / 2)
            ck_assert_int_eq(ktx_test_cluster_cmd(c, "restart 1"), 0);
        if (!last) {
            int slow = rand_r(&seed) % 3;

            /* slow: the next EndTxn is answered 1 s late, applied (0) or not applied (51,
             * CONCURRENT_TRANSACTIONS), and the kill comes 100-500 ms later: inside that
             * commit (also under valgrind). Else a kill 0-30 ms later, anywhere. */
            if (slow > 0)
                ck_assert_int_eq(ktx_test_cluster_cmd(c, "berr 1 %d %d 1000", KTX__API_END_TXN,
                                                      slow == 1 ? 0 : 51), 0);
            usleep((useconds_t)(slow > 0 ? 100000 + rand_r(&seed) % 400000
                                         : rand_r(&seed) % 30000));
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        if (last)
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "the last run ended with status 0x%x", status);
        else if (!WIFSIGNALED(status))
            ck_abort_msg("run %d ended with status 0x%x before the kill", run, status);
    }
    assert_read_back(c, total);
    /* The loop went through both answers of the coordinator. */
    count_resolved(path, &committed, &aborted);
    ck_assert_msg(committed > 0 && aborted > 0, "%d runs learned COMMITTED, %d ABORTED",
                  committed, aborted);
    if (getenv("KTX_TEST_LOG"))
        fprintf(stderr, "crash loop: %d runs resolved COMMITTED, %d ABORTED\n", committed,
                aborted);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}

/* Under valgrind (make check-valgrind sets CK_FORK=no) every run is many times slower. */
static int loop_runs(void)
{
    const char *env = getenv("KTX_PTXN_CRASH_RUNS");
    const char *fork_mode = getenv("CK_FORK");

    if (env)
        return atoi(env);
    return fork_mode && strcmp(fork_mode, "no") == 0 ? 15 : 50;
}

START_TEST(test_ptxn_crash_loop_with_broker_restart_every_record_once_in_order)
{
    int runs = loop_runs();

    crash_loop(runs, (uint64_t)runs * 60 + 200, 4711);
}
END_TEST

static Suite *persist_txn_suite(void)
{
    Suite *s = suite_create("persist_txn");
    TCase *tc = tcase_create("broker");
    TCase *loop = tcase_create("crash");
    TCase *file = tcase_create("file");

    tcase_add_test(file, test_ptxn_older_plain_position_is_read_and_a_damaged_frame_refused);
    suite_add_tcase(s, file);

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ptxn_one_store_commit_per_transaction_with_v2_two_with_v1);
    tcase_add_test(tc, test_ptxn_empty_transactions_drop_or_move_the_position);
    tcase_add_test(tc, test_ptxn_killed_in_a_commit_the_coordinator_took_reports_committed);
    tcase_add_test(tc, test_ptxn_killed_in_a_commit_the_coordinator_never_took_reports_aborted);
    tcase_add_test(tc, test_ptxn_killed_in_the_next_transaction_reports_the_commit_before);
    tcase_add_test(tc, test_ptxn_stale_persisted_epoch_falls_back_to_a_new_producer);
    suite_add_tcase(s, tc);
    tcase_set_timeout(loop, 1200);
    tcase_add_test(loop, test_ptxn_crash_loop_with_broker_restart_every_record_once_in_order);
    suite_add_tcase(s, loop);
    return s;
}

KTX_CHECK_MAIN(persist_txn_suite)
