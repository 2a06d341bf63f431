/*
 * The persisted producer state wired into the producer (txn/persist.c, txn/persist_api.c):
 * clear errors at ktx_producer_new() (lock held, corrupt file, read-only directory), the
 * checkpoint and restart report across producer instances, and the producer identity kept
 * across a restart against ktx-broker (continued, or the id reset boundary reported).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "kafkatx.h"
#include "store.h"

/* A fresh temporary directory; the caller removes it with rm_dir(). */
static char *make_dir(void)
{
    char *dir = strdup("/tmp/ktx-persist-XXXXXX");

    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void rm_dir(char *dir)
{
    char cmd[256];

    chmod(dir, 0700);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

/* Delivery reports with an error, over every producer of the test process. */
static int failed_reports;

static void count_failures(ktx_producer_t *producer, const ktx_delivery_report_t *dr,
                           void *opaque)
{
    (void)producer;
    (void)opaque;
    if (dr->error)
        failed_reports++;
}

/* Prints the client log when KTX_TEST_LOG is set (for debugging a failing test). */
static void print_log(int level, const char *facility, const char *message, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "log %d %s: %s\n", level, facility, message);
}

/* Creates a producer with state.path |path| and |name| (NULL: default) against |bootstrap|;
 * returns the error of ktx_producer_new() and the producer in |*out|. */
static ktx_error_t *new_producer(ktx_producer_t **out, const char *bootstrap, const char *path,
                                 const char *name)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err;

    ck_assert_ptr_null(ktx_conf_set(conf, "bootstrap.servers", bootstrap));
    if (path)
        ck_assert_ptr_null(ktx_conf_set(conf, "state.path", path));
    if (name)
        ck_assert_ptr_null(ktx_conf_set(conf, "state.producer.name", name));
    ktx_conf_set_dr_cb(conf, count_failures, NULL);
    if (getenv("KTX_TEST_LOG"))
        ktx_conf_set_log_cb(conf, print_log, NULL);
    *out = NULL;
    if ((err = ktx_producer_new(out, conf)) != NULL)
        ktx_conf_destroy(conf);
    return err;
}

START_TEST(test_persist_second_producer_on_one_state_file_fails_with_lock_error)
{
    char *dir = make_dir(), path[256];
    ktx_producer_t *first, *second;
    ktx_error_t *err;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_null(new_producer(&first, "127.0.0.1:1", path, "app"));
    err = new_producer(&second, "127.0.0.1:1", path, "app");
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(second);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STORE);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), path));
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "app"));
    ktx_error_destroy(err);
    /* Another identity on the same file is fine. */
    ck_assert_ptr_null(new_producer(&second, "127.0.0.1:1", path, "other"));
    ktx_producer_destroy(second);
    ktx_producer_destroy(first);
    /* The lock dies with the first producer. */
    ck_assert_ptr_null(new_producer(&second, "127.0.0.1:1", path, "app"));
    ktx_producer_destroy(second);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_corrupt_state_file_fails_at_producer_new)
{
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_error_t *err;
    FILE *f;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    for (int i = 0; i < 256; i++)
        fputs("this is not an SQLite database ", f);
    fclose(f);
    err = new_producer(&producer, "127.0.0.1:1", path, NULL);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(producer);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STORE);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), path));
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "not a database"));
    ktx_error_destroy(err);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_read_only_directory_fails_at_producer_new)
{
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_error_t *err;

    /* root writes into any mode-0500 directory; /proc is read-only for everyone. */
    if (geteuid() == 0)
        snprintf(path, sizeof(path), "/proc/ktx-state.db");
    else
        snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_int_eq(chmod(dir, 0500), 0);
    err = new_producer(&producer, "127.0.0.1:1", path, NULL);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(producer);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STORE);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), path));
    ktx_error_destroy(err);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_checkpoint_is_in_the_next_runs_restart_report)
{
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_restart_report_t rep;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_null(new_producer(&producer, "127.0.0.1:1", path, "app"));
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_int_eq(rep.outcome, KTX_TXN_NONE);
    ck_assert_int_eq(rep.producer_id, -1);
    ck_assert_ptr_null(rep.position);
    ck_assert_uint_eq(rep.position_len, 0);
    ck_assert_ptr_null(ktx_checkpoint(producer, "offset=41", 9));
    ck_assert_ptr_null(ktx_checkpoint(producer, "offset=42", 9));
    ktx_producer_destroy(producer);

    ck_assert_ptr_null(new_producer(&producer, "127.0.0.1:1", path, "app"));
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_uint_eq(rep.position_len, 9);
    ck_assert_int_eq(memcmp(rep.position, "offset=42", 9), 0);
    ck_assert_int_eq(rep.producer_id_reset, 0);
    ktx_producer_destroy(producer);

    /* Another identity on the same file has its own checkpoint. */
    ck_assert_ptr_null(new_producer(&producer, "127.0.0.1:1", path, "other"));
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_ptr_null(rep.position);
    ktx_producer_destroy(producer);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_calls_without_state_path_are_state_errors)
{
    ktx_producer_t *producer;
    ktx_restart_report_t rep;
    ktx_error_t *err;

    ck_assert_ptr_null(new_producer(&producer, "127.0.0.1:1", NULL, NULL));
    err = ktx_checkpoint(producer, "x", 1);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STATE);
    ktx_error_destroy(err);
    err = ktx_last_transaction(producer, &rep);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_STATE);
    ktx_error_destroy(err);
    err = ktx_checkpoint(producer, NULL, 1);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    ktx_producer_destroy(producer);
}
END_TEST

START_TEST(test_persist_journal_is_refused_for_a_transactional_producer)
{
    char *dir = make_dir(), path[256];
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    ktx_error_t *err;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_null(ktx_conf_set(conf, "bootstrap.servers", "127.0.0.1:1"));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.path", path));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.journal", "true"));
    ck_assert_ptr_null(ktx_conf_set(conf, "transactional.id", "tx"));
    err = ktx_producer_new(&producer, conf);
    ck_assert_ptr_null(producer);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "state.journal"));
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
    rm_dir(dir);
}
END_TEST

/* Sends |n| records to "t" partition 0 and flushes; asserts that all were delivered. */
static void send_and_flush(ktx_producer_t *producer, int n)
{
    for (int i = 0; i < n; i++) {
        ktx_record_t rec = {0};
        char value[32];

        snprintf(value, sizeof(value), "record-%d", i);
        rec.topic = "t";
        rec.partition = 0;
        rec.value = value;
        rec.value_len = strlen(value);
        ck_assert_ptr_null(ktx_send(producer, &rec));
    }
    ktx_error_t *err = ktx_flush(producer, 20000);

    ck_assert_msg(err == NULL, "flush: %s", ktx_error_message(err));
    ck_assert_int_eq(failed_reports, 0);
}

/* Reads the producer row of |identity| from |path| (the producer must be destroyed). */
static void stored_identity(const char *path, const char *identity, int64_t *id, int16_t *epoch)
{
    struct ktx__store *store;
    struct ktx__store_producer rec = {0};
    char errbuf[256];

    ck_assert_int_eq(ktx__store_open(&store, path, identity, KTX__STATE_SYNC_NORMAL, errbuf,
                                     sizeof(errbuf)), 0);
    ck_assert_int_eq(ktx__store_load_producer(store, &rec), 0);
    *id = rec.producer_id;
    *epoch = rec.producer_epoch;
    ktx__store_producer_clear(&rec);
    ktx__store_close(store);
}

/* Starts ktx-broker with topic "t" (1 partition). */
static struct ktx_test_cluster *start_broker(void)
{
    const char *args[] = {NULL};
    struct ktx_test_cluster *c;

    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic t 1 1"), 0);
    return c;
}

START_TEST(test_persist_cleanly_closed_producer_continues_id_epoch_and_sequences)
{
    struct ktx_test_cluster *c = start_broker();
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_restart_report_t rep;
    int64_t id1, id2;
    int16_t epoch1, epoch2;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_null(new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app"));
    send_and_flush(producer, 10);
    ktx_producer_destroy(producer);
    stored_identity(path, "app", &id1, &epoch1);
    ck_assert_int_ge(id1, 0);
    ck_assert_int_ge(epoch1, 0);

    /* ktx-broker checks the sequences: records 10..19 are accepted only at sequence 10. */
    ck_assert_ptr_null(new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app"));
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_int_eq(rep.producer_id, id1);
    ck_assert_int_eq(rep.producer_epoch, epoch1);
    send_and_flush(producer, 10);
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_int_eq(rep.producer_id_reset, 0);
    ktx_producer_destroy(producer);
    stored_identity(path, "app", &id2, &epoch2);
    ck_assert_int_eq(id2, id1);
    ck_assert_int_eq(epoch2, epoch1);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_crashed_producer_takes_a_new_epoch_or_reports_the_reset)
{
    struct ktx_test_cluster *c = start_broker();
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_restart_report_t rep;
    int64_t id1, id2;
    int16_t epoch1, epoch2;
    int status;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The child produces and is killed without closing: an unclean end. */
        if (new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app") != NULL)
            _exit(2);
        send_and_flush(producer, 10);
        raise(SIGKILL); /* a crash: nothing is closed or freed */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    stored_identity(path, "app", &id1, &epoch1);
    ck_assert_int_ge(id1, 0);

    ck_assert_ptr_null(new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app"));
    send_and_flush(producer, 10);
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ktx_producer_destroy(producer);
    stored_identity(path, "app", &id2, &epoch2);
    /* Never the crashed run's sequences again: a bumped epoch of the same id (continuity),
     * or another id and the boundary reported. */
    ck_assert(id2 != id1 || epoch2 > epoch1);
    ck_assert_int_eq(rep.producer_id_reset, id2 != id1);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}
END_TEST

START_TEST(test_persist_broker_that_forgot_the_producer_reports_the_id_reset)
{
    struct ktx_test_cluster *c = start_broker();
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    ktx_restart_report_t rep;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_ptr_null(new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app"));
    send_and_flush(producer, 10);
    ktx_producer_destroy(producer);
    /* A new broker without the old one's data: it never heard of the producer. */
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    c = start_broker();
    ck_assert_ptr_null(new_producer(&producer, ktx_test_cluster_bootstrap(c), path, "app"));
    send_and_flush(producer, 10);
    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_int_eq(rep.producer_id_reset, 1);
    ktx_producer_destroy(producer);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}
END_TEST

/* A transactional producer "tx" with state file |path|; ktx_init_transactions() done. */
static ktx_producer_t *txn_producer(const char *bootstrap, const char *path)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer;

    ck_assert_ptr_null(ktx_conf_set(conf, "bootstrap.servers", bootstrap));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.path", path));
    ck_assert_ptr_null(ktx_conf_set(conf, "transactional.id", "tx"));
    ktx_conf_set_dr_cb(conf, count_failures, NULL);
    if (getenv("KTX_TEST_LOG"))
        ktx_conf_set_log_cb(conf, print_log, NULL);
    ck_assert_ptr_null(ktx_producer_new(&producer, conf));
    ck_assert_ptr_null(ktx_init_transactions(producer, 20000));
    return producer;
}

/* Runs one transaction of 5 records with checkpoint |pos|; commits when |commit|. */
static void run_txn(ktx_producer_t *producer, const char *pos, bool commit)
{
    ck_assert_ptr_null(ktx_begin_transaction(producer));
    send_and_flush(producer, 5);
    ck_assert_ptr_null(ktx_checkpoint(producer, pos, strlen(pos)));
    if (commit)
        ck_assert_ptr_null(ktx_commit_transaction(producer, 20000));
    else
        ck_assert_ptr_null(ktx_abort_transaction(producer, 20000));
}

/* Asserts the restart report of a new transactional producer on |path|. */
static void assert_report(const char *bootstrap, const char *path, ktx_txn_outcome_t outcome,
                          const char *pos)
{
    ktx_producer_t *producer = txn_producer(bootstrap, path);
    ktx_restart_report_t rep;

    ck_assert_ptr_null(ktx_last_transaction(producer, &rep));
    ck_assert_int_eq(rep.outcome, outcome);
    ck_assert_int_ge(rep.producer_id, 0);
    ck_assert_uint_eq(rep.position_len, strlen(pos));
    ck_assert_int_eq(memcmp(rep.position, pos, rep.position_len), 0);
    ck_assert_int_gt(rep.committed_at_ms, 0);
    ktx_producer_destroy(producer);
}

START_TEST(test_persist_transactional_report_says_committed_aborted_or_crashed_open)
{
    struct ktx_test_cluster *c = start_broker();
    const char *bootstrap = ktx_test_cluster_bootstrap(c);
    char *dir = make_dir(), path[256];
    ktx_producer_t *producer;
    int status;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/state.db", dir);
    producer = txn_producer(bootstrap, path);
    run_txn(producer, "pos=5", true);
    ktx_producer_destroy(producer);
    assert_report(bootstrap, path, KTX_TXN_COMMITTED, "pos=5");

    /* An aborted transaction keeps the position of the last committed one. */
    producer = txn_producer(bootstrap, path);
    run_txn(producer, "pos=10", false);
    ktx_producer_destroy(producer);
    assert_report(bootstrap, path, KTX_TXN_ABORTED, "pos=5");

    /* A run killed inside a transaction before its commit: aborted, position unchanged. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        producer = txn_producer(bootstrap, path);
        ck_assert_ptr_null(ktx_begin_transaction(producer));
        send_and_flush(producer, 5);
        ck_assert_ptr_null(ktx_checkpoint(producer, "pos=15", 6));
        raise(SIGKILL); /* a crash: nothing is closed or freed */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_report(bootstrap, path, KTX_TXN_ABORTED, "pos=5");

    producer = txn_producer(bootstrap, path);
    run_txn(producer, "pos=20", true);
    ktx_producer_destroy(producer);
    assert_report(bootstrap, path, KTX_TXN_COMMITTED, "pos=20");
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    rm_dir(dir);
}
END_TEST

static Suite *persist_suite(void)
{
    Suite *s = suite_create("persist");
    TCase *tc = tcase_create("open");
    TCase *broker = tcase_create("broker");

    tcase_add_test(tc, test_persist_second_producer_on_one_state_file_fails_with_lock_error);
    tcase_add_test(tc, test_persist_corrupt_state_file_fails_at_producer_new);
    tcase_add_test(tc, test_persist_read_only_directory_fails_at_producer_new);
    tcase_add_test(tc, test_persist_checkpoint_is_in_the_next_runs_restart_report);
    tcase_add_test(tc, test_persist_calls_without_state_path_are_state_errors);
    tcase_add_test(tc, test_persist_journal_is_refused_for_a_transactional_producer);
    suite_add_tcase(s, tc);
    tcase_set_timeout(broker, 60);
    tcase_add_test(broker, test_persist_cleanly_closed_producer_continues_id_epoch_and_sequences);
    tcase_add_test(broker, test_persist_crashed_producer_takes_a_new_epoch_or_reports_the_reset);
    tcase_add_test(broker, test_persist_broker_that_forgot_the_producer_reports_the_id_reset);
    tcase_add_test(broker, test_persist_transactional_report_says_committed_aborted_or_crashed_open);
    suite_add_tcase(s, broker);
    return s;
}

KTX_CHECK_MAIN(persist_suite)
