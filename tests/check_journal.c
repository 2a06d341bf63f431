/*
 * The durable journal (state.journal=true, txn/journal.c) against ktx-broker, which
 * enforces sequences: a producer killed with SIGKILL while it sends leaves its sealed
 * batches in the state file; the next run resumes the same producer id and epoch, re-sends
 * exactly those bytes first, and the topic then holds every journaled record exactly once,
 * in order per partition. With checkpoints (docs/guarantees.md section 2): a replayable
 * source SIGKILLed again and again, resuming from the position ktx reports, across a broker
 * restart, reads back every input record exactly once; an interval between two checkpoints
 * too large for the journal makes the producer fatal (_STATE) instead.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "kafkatx.h"
#include "store.h"
#include "integ_util.h"
#include "verify.h"

#define JOURNAL_PARTITIONS 2

/* Prints the client log when KTX_TEST_LOG is set (for debugging a failing test). */
static void print_log(int level, const char *facility, const char *message, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "log %d %s: %s\n", level, facility, message);
}

/* batch.size of the producers below, NULL for the default (set in the child). */
static const char *batch_size;

/* The delivery-report callback of the producers below, NULL for none. */
static ktx_dr_cb_t dr_cb;

/* Creates a durable idempotent producer with state file |path| against |bootstrap|. */
static ktx_producer_t *journal_producer(const char *bootstrap, const char *path)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    ktx_error_t *err;

    ck_assert_ptr_null(ktx_conf_set(conf, "bootstrap.servers", bootstrap));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.path", path));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.producer.name", "app"));
    ck_assert_ptr_null(ktx_conf_set(conf, "state.journal", "true"));
    ck_assert_ptr_null(ktx_conf_set(conf, "linger.ms", "2"));
    if (batch_size)
        ck_assert_ptr_null(ktx_conf_set(conf, "batch.size", batch_size));
    if (getenv("KTX_TEST_LOG"))
        ktx_conf_set_log_cb(conf, print_log, NULL);
    if (dr_cb)
        ktx_conf_set_dr_cb(conf, dr_cb, NULL);
    if ((err = ktx_producer_new(&producer, conf)) != NULL) {
        fprintf(stderr, "producer_new: %s\n", ktx_error_message(err));
        ktx_error_destroy(err);
        ktx_conf_destroy(conf);
        return NULL;
    }
    return producer;
}

/* The child: sends "p-i" records to both partitions slowly until it is killed; writes one
 * byte to |ready_fd| once the first 500 records were delivered (so that the kill lands
 * while it sends, also under valgrind). */
static void send_until_killed(const char *bootstrap, const char *path, int ready_fd, int run,
                              int ready_after)
{
    ktx_producer_t *producer = journal_producer(bootstrap, path);
    int next[JOURNAL_PARTITIONS] = {0};

    if (!producer)
        _exit(2);
    for (int i = 0; i < 200000; i++) {
        int32_t p = i % JOURNAL_PARTITIONS;
        ktx_record_t rec = {0};
        char value[32];
        ktx_error_t *err;

        snprintf(value, sizeof(value), "%d-%d-%d", run, (int)p, next[p]++);
        rec.topic = "j";
        rec.partition = p;
        rec.value = value;
        rec.value_len = strlen(value);
        if ((err = ktx_send(producer, &rec)) != NULL)
            _exit(3);
        if (i == ready_after - 1 && (ktx_flush(producer, 60000) != NULL || write(ready_fd, "r", 1) != 1))
            _exit(5);
        if (i % 50 == 49)
            usleep(1000);
    }
    _exit(4); /* never reached in time: the parent kills first */
}

/* Counts the journaled batches of |topic| in |path|. */
static size_t journaled_topic(const char *path, const char *topic)
{
    struct ktx__store *store;
    size_t total = 0, n;
    char errbuf[256];

    ck_assert_int_eq(ktx__store_open(&store, path, "app", KTX__STATE_SYNC_NORMAL, errbuf,
                                     sizeof(errbuf)), 0);
    for (int32_t p = 0; p < JOURNAL_PARTITIONS; p++) {
        ck_assert_int_eq(ktx__store_journal_count(store, topic, p, &n), 0);
        total += n;
    }
    ktx__store_close(store);
    return total;
}

/* Counts the journaled batches of "j" in |path|. */
static size_t journaled(const char *path)
{
    return journaled_topic(path, "j");
}

/* Asserts that partition |p| of |t| holds, run after run, "run-p-0", "run-p-1"... with no
 * gap and no duplicate, and at least |min_per_run| records of each of the |runs| runs;
 * returns the count. */
static size_t assert_prefixes(const struct ktx_verify_topic *t, int32_t p, int runs,
                              int min_per_run)
{
    const struct ktx_verify_partition *part = &t->partitions[p];
    int run = 0, next = 0;

    for (size_t i = 0; i < part->count; i++) {
        const struct ktx_verify_record *r = &part->records[i];
        char got[48], want[48];
        int gr, gp, gi;

        snprintf(got, sizeof(got), "%.*s", (int)r->value_len, (const char *)r->value);
        ck_assert_int_eq(sscanf(got, "%d-%d-%d", &gr, &gp, &gi), 3);
        if (gr != run) {
            ck_assert_msg(gr > run, "partition %d offset %zu: run %d after run %d", (int)p, i,
                          gr, run);
            ck_assert_msg(next >= min_per_run, "partition %d: run %d has %d records", (int)p,
                          run, next);
            run = gr;
            next = 0;
        }
        snprintf(want, sizeof(want), "%d-%d-%d", run, (int)p, next++);
        ck_assert_msg(strcmp(got, want) == 0, "partition %d offset %zu: got %s, want %s",
                      (int)p, i, got, want);
    }
    ck_assert_int_eq(run, runs - 1);
    ck_assert_int_ge(next, min_per_run);
    return part->count;
}

/* Runs |runs| children, each SIGKILLed a seeded random 0-40 ms after |ready_after| records
 * were delivered, then one run that only replays and closes. */
static void kill_runs(struct ktx_test_cluster *c, const char *path, int runs, int ready_after,
                      unsigned seed)
{
    for (int run = 0; run < runs; run++) {
        int fds[2], status;
        char byte;
        pid_t pid;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            send_until_killed(ktx_test_cluster_bootstrap(c), path, fds[1], run, ready_after);
        close(fds[1]);
        ck_assert_msg(read(fds[0], &byte, 1) == 1, "run %d: the child died early", run);
        close(fds[0]);
        usleep((useconds_t)(rand_r(&seed) % 40000));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_uint_le(journaled(path), 5 * JOURNAL_PARTITIONS);
    }
}

/* The whole check: |runs| killed runs, a replaying run, the read-back. */
static void crash_and_read_back(int runs, int ready_after, unsigned seed)
{
    const char *args[] = {NULL};
    struct ktx_test_cluster *c;
    struct ktx_verify_topic t = {0};
    char dir[] = "/tmp/ktx-journal-XXXXXX", path[256], why[256], cmd[300];
    ktx_producer_t *producer;
    ktx_error_t *err;
    size_t total = 0;

    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic j 2 1"), 0);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
    kill_runs(c, path, runs, ready_after, seed);

    /* The next run only re-sends the journal; a graceful close waits for the replay
     * (hooks.has_pending). */
    ck_assert_ptr_nonnull(producer = journal_producer(ktx_test_cluster_bootstrap(c), path));
    err = ktx_close(producer, 20000);
    ck_assert_msg(err == NULL, "close: %s", ktx_error_message(err));
    ktx_producer_destroy(producer);
    ck_assert_uint_eq(journaled(path), 0);

    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), "j", KTX_VERIFY_READ_COMMITTED,
                                  30000, &t, why, sizeof(why)) == 0, "read: %s", why);
    for (int32_t p = 0; p < JOURNAL_PARTITIONS; p++)
        total += assert_prefixes(&t, p, runs, ready_after / JOURNAL_PARTITIONS);
    ck_assert_uint_ge(total, (size_t)(runs * ready_after));
    ktx_verify_topic_free(&t);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_journal_killed_producer_resends_journaled_batches_exactly_once)
{
    crash_and_read_back(1, 500, 1);
}
END_TEST

START_TEST(test_journal_crash_loop_50_kills_every_journaled_record_once_in_order)
{
    const char *env = getenv("KTX_JOURNAL_CRASH_RUNS");

    crash_and_read_back(env ? atoi(env) : 50, 40, 12345);
}
END_TEST

/* ---- checkpoints tied to batch boundaries: a replayable source resumed from ktx ---- */

/* Records between two ktx_checkpoint() calls of the source below. */
#define SOURCE_CKPT_EVERY 20

/* The position the previous run left in |producer|'s state file (0: none). */
static uint64_t resume_position(ktx_producer_t *producer)
{
    ktx_restart_report_t report;
    uint64_t pos = 0;
    ktx_error_t *err = ktx_last_transaction(producer, &report);

    if (err != NULL)
        _exit(6);
    if (report.position_len == sizeof(pos))
        memcpy(&pos, report.position, sizeof(pos));
    else if (report.position_len != 0)
        _exit(7);
    return pos;
}

/* Stores |pos| as the checkpoint of |producer|, or exits. */
static void checkpoint_at(ktx_producer_t *producer, uint64_t pos)
{
    ktx_error_t *err = ktx_checkpoint(producer, &pos, sizeof(pos));

    if (err != NULL)
        _exit(8);
}

/*
 * The child of the checkpoint crash loop: a replayable source (record i is the value "i"
 * for partition i % JOURNAL_PARTITIONS, i < |total|) resumed from the position ktx
 * reports, with a checkpoint every SOURCE_CKPT_EVERY records. After |ready_after| records
 * it flushes and writes one byte to |ready_fd| (so that every run makes progress, also
 * under valgrind), then goes on slowly until it is killed; the |last| run sends the rest at
 * full speed, checkpoints the end and closes. Exits 0 only from the last run.
 */
static void source_until_killed(const char *bootstrap, const char *path, int ready_fd,
                                int ready_after, uint64_t total, bool last)
{
    ktx_producer_t *producer;
    uint64_t start, i;
    ktx_error_t *err;

    /* About 5 records per batch: an interval of 10 records per partition often spans two
     * batches, which the journal holds back until the checkpoint is written. */
    batch_size = "160";
    if (!(producer = journal_producer(bootstrap, path)))
        _exit(2);
    start = resume_position(producer);
    /* Before the first record: what follows waits for the next checkpoint. */
    checkpoint_at(producer, start);
    for (i = start; i < total; i++) {
        ktx_record_t rec = {0};
        char value[32];

        snprintf(value, sizeof(value), "%llu", (unsigned long long)i);
        rec.topic = "c";
        rec.partition = (int32_t)(i % JOURNAL_PARTITIONS);
        rec.value = value;
        rec.value_len = strlen(value);
        if ((err = ktx_send(producer, &rec)) != NULL)
            _exit(3);
        if ((i + 1) % SOURCE_CKPT_EVERY == 0)
            checkpoint_at(producer, i + 1);
        if (i + 1 - start == (uint64_t)ready_after) {
            checkpoint_at(producer, i + 1);
            if (ktx_flush(producer, 60000) != NULL || write(ready_fd, "r", 1) != 1)
                _exit(5);
        }
        if (!last && i % 20 == 19)
            usleep(1000);
    }
    checkpoint_at(producer, total);
    if ((err = ktx_flush(producer, 120000)) != NULL || (err = ktx_close(producer, 60000)) != NULL)
        _exit(9);
    ktx_producer_destroy(producer);
    _exit(last ? 0 : 4);
}

/*
 * |runs| children SIGKILLed a seeded random 0-40 ms after their first |ready_after|
 * records were flushed, the broker (on a data directory) restarted while run |runs| / 2
 * sends, then a last run that finishes the source; the read-back holds every input record
 * exactly once, in order per partition.
 */
static void checkpoint_crash_loop(int runs, int ready_after, uint64_t total, unsigned seed)
{
    char dir[] = "/tmp/ktx-journal-XXXXXX", data[300], path[300], why[256], cmd[400];
    const char *args[] = {"--data-dir", data, NULL};
    struct ktx_test_cluster *c;
    struct ktx_verify_topic t = {0};

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/broker", dir);
    ck_assert_int_eq(mkdir(data, 0700), 0);
    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic c 2 1"), 0);
    for (int run = 0; run <= runs; run++) {
        bool last = run == runs;
        int fds[2], status;
        char byte;
        pid_t pid;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            source_until_killed(ktx_test_cluster_bootstrap(c), path, fds[1], ready_after,
                                total, last);
        close(fds[1]);
        if (read(fds[0], &byte, 1) != 1) {
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
            ck_abort_msg("run %d: the child died early (status %d)", run, status);
        }
        close(fds[0]);
        if (run == runs / 2)
            ck_assert_int_eq(ktx_test_cluster_cmd(c, "restart 1"), 0);
        if (!last) {
            usleep((useconds_t)(rand_r(&seed) % 40000));
            ck_assert_int_eq(kill(pid, SIGKILL), 0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        if (last)
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "the last run ended with status %d", status);
        else
            ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_uint_le(journaled_topic(path, "c"), 5 * JOURNAL_PARTITIONS);
    }
    ck_assert_uint_eq(journaled_topic(path, "c"), 0);
    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), "c", KTX_VERIFY_READ_COMMITTED,
                                  30000, &t, why, sizeof(why)) == 0, "read: %s", why);
    ck_assert_int_eq(t.partition_count, JOURNAL_PARTITIONS);
    for (int32_t p = 0; p < JOURNAL_PARTITIONS; p++)
        integ_assert_strided_partition(&t, p, JOURNAL_PARTITIONS, total);
    ktx_verify_topic_free(&t);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_journal_checkpoint_crash_loop_and_broker_restart_every_record_once_in_order)
{
    const char *env = getenv("KTX_JOURNAL_CRASH_RUNS");
    const char *fork_mode = getenv("CK_FORK");
    /* Under valgrind (make check-valgrind sets CK_FORK=no) every run is many times slower. */
    int runs = env ? atoi(env) : fork_mode && strcmp(fork_mode, "no") == 0 ? 15 : 50;

    checkpoint_crash_loop(runs, 40, (uint64_t)runs * 400 + 4000, 4242);
}
END_TEST

/*
 * An interval between two checkpoints that fills more batches of one partition than may be
 * in flight cannot be journaled before it is sent: the producer becomes fatal with
 * KTX_ERR_STATE instead of sending records past the stored checkpoint, and nothing of the
 * interval reaches the topic.
 */
START_TEST(test_journal_checkpoint_interval_over_the_in_flight_limit_is_fatal_state)
{
    char dir[] = "/tmp/ktx-journal-XXXXXX", path[300], why[256], cmd[400];
    const char *args[] = {NULL};
    struct ktx_test_cluster *c;
    struct ktx_verify_topic t = {0};
    ktx_producer_t *producer;
    ktx_error_t *err;
    uint64_t pos = 0;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic f 1 1"), 0);
    batch_size = "0"; /* one record per batch */
    ck_assert_ptr_nonnull(producer = journal_producer(ktx_test_cluster_bootstrap(c), path));
    batch_size = NULL;
    ck_assert_ptr_null(ktx_checkpoint(producer, &pos, sizeof(pos)));
    for (int i = 0; i < 8; i++) {
        ktx_record_t rec = {0};

        rec.topic = "f";
        rec.partition = 0;
        rec.value = "v";
        rec.value_len = 1;
        ck_assert_ptr_null(ktx_send(producer, &rec));
    }
    pos = 8;
    ck_assert_ptr_null(ktx_checkpoint(producer, &pos, sizeof(pos)));
    err = ktx_flush(producer, 20000);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(ktx_error_code(err) == KTX_ERR_STATE, "flush: %s: %s", ktx_error_name(err),
                  ktx_error_message(err));
    ktx_error_destroy(err);
    ktx_error_destroy(ktx_close(producer, 5000)); /* the fatal error again */
    ktx_producer_destroy(producer);
    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), "f", KTX_VERIFY_READ_COMMITTED,
                                  30000, &t, why, sizeof(why)) == 0, "read: %s", why);
    ck_assert_uint_eq(t.partitions[0].count, 0);
    ktx_verify_topic_free(&t);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- a journal commit that fails ---- */

#define FAIL_VALUE_LEN 1000
#define FAIL_RECORDS 6000

/* The child's tally of its delivery reports. */
static int fail_delivered[JOURNAL_PARTITIONS], fail_store, fail_other;

static void fail_dr(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    (void)producer;
    (void)opaque;
    if (!dr->error)
        fail_delivered[dr->partition]++;
    else if (ktx_error_code(dr->error) == KTX_ERR_STORE)
        fail_store++;
    else
        fail_other++;
}

/* The child: a journal producer whose state file may not grow past 256 KB more than it has
 * after its first 100 records (RLIMIT_FSIZE, SIGXFSZ ignored: the write fails with EFBIG)
 * sends 1000-byte records "p-i#..." until the producer refuses them; writes its tally and
 * the error it met to |fd|. */
static void send_until_store_fails(const char *bootstrap, const char *path, int fd)
{
    ktx_producer_t *producer;
    int next[JOURNAL_PARTITIONS] = {0}, code = 0, tally[5];
    char value[FAIL_VALUE_LEN], wal[320];
    struct rlimit rl;
    struct stat st;
    ktx_error_t *err = NULL;

    dr_cb = fail_dr;
    if (!(producer = journal_producer(bootstrap, path)))
        _exit(2);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    for (int i = 0; i < FAIL_RECORDS && !err; i++) {
        int32_t p = i % JOURNAL_PARTITIONS;
        ktx_record_t rec = {0};
        int n = snprintf(value, sizeof(value), "%d-%d#", (int)p, next[p]++);

        memset(value + n, 'x', sizeof(value) - (size_t)n);
        rec.topic = "s";
        rec.partition = p;
        rec.value = value;
        rec.value_len = sizeof(value);
        err = ktx_send(producer, &rec);
        if (i == 99) {
            if ((err = ktx_flush(producer, 30000)) != NULL || stat(wal, &st) != 0)
                _exit(3);
            signal(SIGXFSZ, SIG_IGN);
            rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size + 256 * 1024;
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
                _exit(4);
        }
        if (i % 100 == 99)
            ktx_poll(producer, 0);
    }
    if (!err)
        err = ktx_flush(producer, 30000);
    code = err ? ktx_error_code(err) : 0;
    ktx_error_destroy(err);
    ktx_error_destroy(ktx_close(producer, 10000));
    ktx_producer_destroy(producer);
    tally[0] = code;
    tally[1] = fail_delivered[0];
    tally[2] = fail_delivered[1];
    tally[3] = fail_store;
    tally[4] = fail_other;
    _exit(write(fd, tally, sizeof(tally)) == (ssize_t)sizeof(tally) ? 0 : 5);
}

/* ktx__store_seq_cb: keeps the next sequence of topic "s" per partition. */
static int keep_next_sequence(void *opaque, const struct ktx__store_seq *seq)
{
    int32_t *next = opaque;

    if (strcmp(seq->topic, "s") == 0 && seq->partition >= 0 &&
        seq->partition < JOURNAL_PARTITIONS)
        next[seq->partition] = seq->next_sequence;
    return 0;
}

/*
 * A journal commit fails (the state file may not grow: EFBIG): the producer becomes fatal
 * with KTX_ERR_STORE, and the batches that were not journaled fail with it unsent: the
 * topic holds exactly the records reported delivered, a prefix of each partition, and no
 * record at or past the partition's next sequence in the file (record i of a partition has
 * sequence i: nothing left before its batch was journaled).
 */
START_TEST(test_journal_failed_commit_is_fatal_store_and_sends_nothing_unjournaled)
{
    char dir[] = "/tmp/ktx-journal-XXXXXX", path[300], why[256], cmd[400];
    const char *args[] = {NULL};
    struct ktx_test_cluster *c;
    struct ktx_verify_topic t = {0};
    int fds[2], status, tally[5];
    int32_t next_seq[JOURNAL_PARTITIONS] = {-1, -1};
    struct ktx__store *store;
    pid_t pid;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.db", dir);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, args), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic s 2 1"), 0);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        send_until_store_fails(ktx_test_cluster_bootstrap(c), path, fds[1]);
    close(fds[1]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_eq(read(fds[0], tally, sizeof(tally)), (ssize_t)sizeof(tally));
    close(fds[0]);
    ck_assert_msg(tally[0] == KTX_ERR_STORE, "the producer's error: %d", tally[0]);
    ck_assert_int_gt(tally[3], 0);   /* records failed with _STORE */
    ck_assert_int_eq(tally[4], 0);   /* and no other error */
    ck_assert_int_eq(ktx__store_open(&store, path, "app", KTX__STATE_SYNC_NORMAL, why,
                                     sizeof(why)), 0);
    ck_assert_int_eq(ktx__store_load_sequences(store, keep_next_sequence, next_seq), 0);
    ktx__store_close(store);
    ck_assert_msg(ktx_verify_read(ktx_test_cluster_bootstrap(c), "s", KTX_VERIFY_READ_COMMITTED,
                                  30000, &t, why, sizeof(why)) == 0, "read: %s", why);
    for (int32_t p = 0; p < JOURNAL_PARTITIONS; p++) {
        const struct ktx_verify_partition *part = &t.partitions[p];

        ck_assert_int_ge(tally[1 + p], 50);
        ck_assert_msg(part->count <= (size_t)next_seq[p] && next_seq[p] >= 0,
                      "partition %d holds %zu records, the file's next sequence is %d", (int)p,
                      part->count, (int)next_seq[p]);
        ck_assert_msg(part->count == (size_t)tally[1 + p],
                      "partition %d holds %zu records, %d reported delivered", (int)p,
                      part->count, tally[1 + p]);
        for (size_t i = 0; i < part->count; i++) {
            char want[32];
            int n = snprintf(want, sizeof(want), "%d-%zu#", (int)p, i);

            ck_assert_uint_eq(part->records[i].value_len, FAIL_VALUE_LEN);
            ck_assert_msg(memcmp(part->records[i].value, want, (size_t)n) == 0,
                          "partition %d offset %zu: not record %s", (int)p, i, want);
        }
    }
    ktx_verify_topic_free(&t);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("crash");

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_journal_killed_producer_resends_journaled_batches_exactly_once);
    tcase_add_test(tc, test_journal_crash_loop_50_kills_every_journaled_record_once_in_order);
    tcase_add_test(tc, test_journal_checkpoint_crash_loop_and_broker_restart_every_record_once_in_order);
    tcase_add_test(tc, test_journal_checkpoint_interval_over_the_in_flight_limit_is_fatal_state);
    tcase_add_test(tc, test_journal_failed_commit_is_fatal_store_and_sends_nothing_unjournaled);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(journal_suite)
