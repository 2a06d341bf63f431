/*
 * Interop with kcat, a second client kafkatx did not write: librdkafka's transactional
 * producer commits, aborts and commits again on ktx-broker, then kcat (run with fork/exec)
 * reads t/0 and t/1 to their end with each isolation level. Every line kcat prints
 * (partition, offset, key, value) is compared, so that the offsets of the records, the
 * gaps left by the transaction markers and the filtering of the aborted records are all
 * checked. Built only with librdkafka; kcat is found on $PATH or through $KCAT (when it is
 * missing the tests say so on stderr and check nothing).
 */
#include "check_util.h"

#include "cluster.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
#define OUT_MAX 16384
#define MAX_LINES 256

static struct ktx_test_cluster *cluster;

static void setup(void)
{
    ck_assert_int_eq(ktx_test_cluster_start(&cluster, KTX_TEST_PEER_BROKER, 3, NULL), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(cluster, "topic t 2 3"), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(ktx_test_cluster_stop(cluster), 0);
}

/* Returns the kcat to run ($KCAT, else "kcat" when it is on $PATH), or NULL. */
static const char *kcat_path(void)
{
    const char *env = getenv("KCAT");

    if (env && *env)
        return env;
    return system("command -v kcat >/dev/null 2>&1") == 0 ? "kcat" : NULL;
}

static void ok(rd_kafka_error_t *error, const char *what)
{
    ck_assert_msg(error == NULL, "%s: %s", what, error ? rd_kafka_error_string(error) : "");
}

/* Produces |n| records key "k<i>", value "<prefix><i>" round-robin over t/0 and t/1. */
static void produce(rd_kafka_t *rk, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char k[16], v[64];
        int klen = snprintf(k, sizeof(k), "k%d", i);
        int vlen = snprintf(v, sizeof(v), "%s%d", prefix, i);
        ck_assert_int_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_PARTITION(i % 2),
                                           RD_KAFKA_V_KEY(k, (size_t)klen),
                                           RD_KAFKA_V_VALUE(v, (size_t)vlen),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
}

/*
 * Three transactions with librdkafka: commit-0..5 committed, abort-0..3 aborted,
 * again-0..1 committed. Each partition's log is then: three committed records (offsets
 * 0-2), a commit marker (3), two aborted records (4-5), an abort marker (6), one committed
 * record (7) and a commit marker (8).
 */
static void produce_three_transactions(void)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", ktx_test_cluster_bootstrap(cluster),
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "transactional.id", "kcat-1", err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err)), RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    ok(rd_kafka_init_transactions(rk, TIMEOUT_MS), "init");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "commit-", 6);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "abort-", 4);
    ck_assert_int_eq(rd_kafka_flush(rk, TIMEOUT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    ok(rd_kafka_abort_transaction(rk, TIMEOUT_MS), "abort");
    ok(rd_kafka_begin_transaction(rk), "begin");
    produce(rk, "again-", 2);
    ok(rd_kafka_commit_transaction(rk, TIMEOUT_MS), "commit");
    rd_kafka_destroy(rk);
}

/* Reads everything |fd| gives until end of file or |deadline_ms| into |out| (|cap| bytes,
 * NUL-terminated). Returns false on timeout. */
static bool read_until_eof(int fd, char *out, size_t cap, int64_t deadline_ms)
{
    size_t len = 0;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline_ms - ktx_test_now_ms();
        ssize_t n;
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
            return false;
        n = read(fd, out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        ck_assert_uint_lt(len, cap - 1);
    }
    out[len] = '\0';
    return true;
}

/* Runs `kcat -C` on t to its end with |isolation| and stores what it printed (one line
 * "PARTITION OFFSET KEY VALUE" per record) in |out|. Asserts that kcat exits with 0. */
static void run_kcat(const char *kcat, const char *isolation, char *out, size_t cap)
{
    char iso[64];
    int pipefd[2], status;
    bool done;
    pid_t pid;

    snprintf(iso, sizeof(iso), "isolation.level=%s", isolation);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execlp(kcat, kcat, "-C", "-q", "-b", ktx_test_cluster_bootstrap(cluster), "-t", "t", "-o",
               "beginning", "-e", "-X", iso, "-f", "%p %o %k %s\n", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    done = read_until_eof(pipefd[0], out, cap, ktx_test_now_ms() + TIMEOUT_MS);
    close(pipefd[0]);
    if (!done)
        kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(done, "kcat did not reach the end of t in time");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "kcat failed (status %d)", status);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of |text| in place (kcat interleaves partitions in no fixed order) and
 * joins them with '|' into |out|. */
static void sorted_lines(char *text, char *out, size_t cap)
{
    char *lines[MAX_LINES], *save = NULL;
    size_t n = 0, used = 0;

    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        ck_assert_uint_lt(n, MAX_LINES);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof(lines[0]), cmp_lines);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "|" : "", lines[i]);
        ck_assert_uint_lt(used, cap);
    }
}

START_TEST(test_kcat_read_committed_prints_exactly_the_committed_records)
{
    const char *kcat = kcat_path();
    static char raw[OUT_MAX], got[OUT_MAX];

    if (!kcat) {
        fprintf(stderr, "check_broker_kcat: kcat not found, nothing checked\n");
        return;
    }
    produce_three_transactions();
    run_kcat(kcat, "read_committed", raw, sizeof(raw));
    sorted_lines(raw, got, sizeof(got));
    ck_assert_str_eq(got, "0 0 k0 commit-0|0 1 k2 commit-2|0 2 k4 commit-4|0 7 k0 again-0|"
                          "1 0 k1 commit-1|1 1 k3 commit-3|1 2 k5 commit-5|1 7 k1 again-1");
}
END_TEST

START_TEST(test_kcat_read_uncommitted_prints_aborted_records_too)
{
    const char *kcat = kcat_path();
    static char raw[OUT_MAX], got[OUT_MAX];

    if (!kcat) {
        fprintf(stderr, "check_broker_kcat: kcat not found, nothing checked\n");
        return;
    }
    produce_three_transactions();
    run_kcat(kcat, "read_uncommitted", raw, sizeof(raw));
    sorted_lines(raw, got, sizeof(got));
    ck_assert_str_eq(got, "0 0 k0 commit-0|0 1 k2 commit-2|0 2 k4 commit-4|0 4 k0 abort-0|"
                          "0 5 k2 abort-2|0 7 k0 again-0|"
                          "1 0 k1 commit-1|1 1 k3 commit-3|1 2 k5 commit-5|1 4 k1 abort-1|"
                          "1 5 k3 abort-3|1 7 k1 again-1");
}
END_TEST

static Suite *broker_kcat_suite(void)
{
    Suite *s = suite_create("broker_kcat");
    TCase *tc = tcase_create("kcat");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_kcat_read_committed_prints_exactly_the_committed_records);
    tcase_add_test(tc, test_kcat_read_uncommitted_prints_aborted_records_too);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(broker_kcat_suite)
