/*
 * Tests of the mock-cluster harness (tests/cluster/ktx-mock, driven through tests/cluster.h):
 * the peer really starts and exits, every control command is accepted or refused as
 * documented, and each command has the effect it claims on the wire. Requests go through
 * kafkatx's codecs (ApiVersions v0, Metadata v1, FindCoordinator v1: versions the mock
 * serves); the check of the mock's malformed ApiVersions v3 bytes builds its request by
 * hand. tests/check_interop_mock.c covers the codecs' interop in depth.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"
#include "cluster.h"
#include "proto.h"
#include "proto_meta.h"
#include "proto_sasl.h"
#include "proto_txn.h"

#define RPC_TIMEOUT_MS 5000

/* ---- fixtures and hand-built requests ---- */

static struct ktx_test_cluster *start_mock(int brokers)
{
    struct ktx_test_cluster *c = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_MOCK, brokers, NULL), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void cmd_ok(struct ktx_test_cluster *c, const char *line)
{
    int rc = ktx_test_cluster_cmd(c, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc, ktx_test_cluster_last_error(c));
}

static int connect_broker(struct ktx_test_cluster *c, int broker_id)
{
    int fd = ktx_test_cluster_connect(c, broker_id, RPC_TIMEOUT_MS);
    ck_assert_msg(fd >= 0, "connect to broker %d: %s", broker_id, strerror(errno));
    return fd;
}

/* Starts a request of |api_key| v|ver| in |w| (header v1 or v2 as the version needs). */
static void req_begin(struct ktx__writer *w, int16_t api_key, int16_t ver, int32_t corr)
{
    struct ktx__req_header hdr = {api_key, ver, corr, ktx__str_c("check_cluster")};
    ktx__w_init(w, 64, 0);
    ck_assert_int_eq(ktx__proto_req_header_encode(w, &hdr), 0);
}

/* Sends |w| on |fd|, frees it, and returns the result of reading one response. */
static int req_send(int fd, struct ktx__writer *w, uint8_t **resp, size_t *len)
{
    int rc;
    ck_assert_int_eq(w->err, 0);
    rc = ktx_test_rpc(fd, w->p, w->len, resp, len, RPC_TIMEOUT_MS);
    ktx__w_free(w);
    return rc;
}

/* ApiVersions v0 round trip on |fd| through kafkatx's codec. Returns the transport
 * result; on 0 stores the response's error code in |*error_code|. */
static int api_versions_v0(int fd, int16_t *error_code)
{
    struct ktx__api_versions_req req = {ktx__str_c(NULL), ktx__str_c(NULL)};
    struct ktx__api_versions_resp resp;
    struct ktx_test_exchange ex;
    int rc;

    rc = ktx_test_exchange(fd, &ktx__proto_codec_api_versions, 0, &req, &resp, &ex,
                           RPC_TIMEOUT_MS);
    if (rc == 0)
        *error_code = resp.error_code;
    ktx_test_exchange_free(&ex);
    ck_assert_msg(rc == 0 || rc == KTX_ERR_TRANSPORT || rc == KTX_ERR_TIMED_OUT,
                  "ApiVersions v0 did not decode: %d", rc);
    return rc;
}

/* A FindCoordinator v1 answer. */
struct coordinator {
    int16_t error_code;
    int32_t node_id;
    char host[64];
    int32_t port;
};

/* FindCoordinator v1 round trip on |fd| through kafkatx's codec. Returns the transport
 * result; on 0 fills |out|. */
static int find_coordinator_v1(int fd, const char *key, int8_t key_type, struct coordinator *out)
{
    struct ktx__find_coordinator_req req;
    struct ktx__find_coordinator_resp resp;
    struct ktx_test_exchange ex;
    int rc;

    memset(&req, 0, sizeof(req));
    req.key = ktx__str_c(key);
    req.key_type = key_type;
    rc = ktx_test_exchange(fd, &ktx__proto_codec_find_coordinator, 1, &req, &resp, &ex,
                           RPC_TIMEOUT_MS);
    if (rc == KTX_ERR_BAD_MSG && ex.len >= 10) {
        /* An injected error comes with a null host (see ktx-mock.c): read the code raw. */
        memset(out, 0, sizeof(*out));
        out->error_code = (int16_t)(ex.raw[8] << 8 | ex.raw[9]);
        out->node_id = -1;
        rc = 0;
    } else if (rc == 0) {
        out->error_code = resp.error_code;
        out->node_id = resp.node_id;
        out->port = resp.port;
        snprintf(out->host, sizeof(out->host), "%.*s", (int)resp.host.len, resp.host.ptr);
    }
    ktx_test_exchange_free(&ex);
    return rc;
}

/* Sends Metadata v1 for all topics and stores in |leaders| the leader of each partition
 * of |topic| (|*count| partitions, -1 when the topic is absent). */
static void metadata_v1_leaders(int fd, const char *topic, int32_t *leaders, int32_t *count)
{
    struct ktx__metadata_req req;
    struct ktx__metadata_resp resp;
    struct ktx_test_exchange ex;

    memset(&req, 0, sizeof(req));
    req.topics_count = -1;
    req.allow_auto_topic_creation = true;
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_metadata, 1, &req, &resp, &ex,
                                       RPC_TIMEOUT_MS),
                     0);
    *count = -1;
    for (int32_t t = 0; t < resp.topics_count; t++) {
        if (!ktx__str_eq_c(resp.topics[t].name, topic))
            continue;
        *count = resp.topics[t].partitions_count;
        for (int32_t p = 0; p < resp.topics[t].partitions_count; p++) {
            int32_t index = resp.topics[t].partitions[p].partition_index;
            if (index >= 0 && index < 16)
                leaders[index] = resp.topics[t].partitions[p].leader_id;
        }
    }
    ktx_test_exchange_free(&ex);
}

/* True once |pid| is gone or a zombie (a reaped-by-nobody orphan still counts as dead). */
static bool process_dead(pid_t pid)
{
    char path[64], buf[256];
    FILE *f;
    char *paren;

    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    buf[0] = '\0';
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* ---- start, options and exit ---- */

START_TEST(test_mock_prints_bootstrap_within_one_second)
{
    struct ktx_test_cluster *c = NULL;
    char host[64];
    int port, ports[3];
    int64_t t0 = ktx_test_now_ms();

    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_MOCK, 3, NULL), 0);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 1000);
    ck_assert_int_eq(ktx_test_cluster_broker_count(c), 3);
    for (int id = 1; id <= 3; id++) {
        ck_assert_int_eq(ktx_test_cluster_broker_addr(c, id, host, sizeof(host), &port), 0);
        ck_assert_str_eq(host, "127.0.0.1");
        ck_assert_int_gt(port, 0);
        ports[id - 1] = port;
    }
    ck_assert_int_ne(ports[0], ports[1]);
    ck_assert_int_ne(ports[1], ports[2]);
    char want[128];
    snprintf(want, sizeof(want), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", ports[0], ports[1],
             ports[2]);
    ck_assert_str_eq(ktx_test_cluster_bootstrap(c), want);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 0, host, sizeof(host), &port), -1);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 4, host, sizeof(host), &port), -1);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 1, host, 4, &port), -1);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_starts_the_requested_number_of_brokers)
{
    struct ktx_test_cluster *c = start_mock(1);
    ck_assert_int_eq(ktx_test_cluster_broker_count(c), 1);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    c = start_mock(5);
    ck_assert_int_eq(ktx_test_cluster_broker_count(c), 5);
    for (int id = 1; id <= 5; id++) {
        int16_t error_code = -1;
        int fd = connect_broker(c, id);
        ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
        ck_assert_int_eq(error_code, 0);
        close(fd);
    }
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_rejects_bad_options)
{
    struct ktx_test_cluster *c = NULL;
    const char *const extra[] = {"--bogus", NULL};
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_MOCK, 0, NULL), -1);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_MOCK, 3, extra), -1);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_mock_exits_cleanly_on_quit)
{
    struct ktx_test_cluster *c = start_mock(3);
    int status = -1;
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "quit"), 0);
    ck_assert_int_eq(ktx_test_cluster_wait_exit(c, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic late 1 1"), -2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_exits_cleanly_on_eof)
{
    struct ktx_test_cluster *c = start_mock(3);
    int status = -1;
    ktx_test_cluster_close_input(c);
    ck_assert_int_eq(ktx_test_cluster_wait_exit(c, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_exits_cleanly_on_sigterm)
{
    struct ktx_test_cluster *c = start_mock(3);
    int status = -1;
    ck_assert_int_eq(kill(ktx_test_cluster_pid(c), SIGTERM), 0);
    ck_assert_int_eq(ktx_test_cluster_wait_exit(c, 5000, &status), 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_dies_with_the_process_that_started_it)
{
    int pipefd[2];
    pid_t helper, peer = 0;
    int status;

    ck_assert_int_eq(pipe(pipefd), 0);
    helper = fork();
    ck_assert_int_ge(helper, 0);
    if (helper == 0) {
        struct ktx_test_cluster *c = NULL;
        pid_t pid = 0;
        close(pipefd[0]);
        if (ktx_test_cluster_start(&c, KTX_TEST_PEER_MOCK, 1, NULL) == 0)
            pid = ktx_test_cluster_pid(c);
        /* Exit without ktx_test_cluster_stop(), as a crashing test would. */
        _exit(write(pipefd[1], &pid, sizeof(pid)) == (ssize_t)sizeof(pid) ? 0 : 1);
    }
    close(pipefd[1]);
    ck_assert_int_eq(read(pipefd[0], &peer, sizeof(peer)), (ssize_t)sizeof(peer));
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(helper, &status, 0), helper);
    ck_assert_int_gt(peer, 0);
    int64_t deadline = ktx_test_now_ms() + 5000;
    while (!process_dead(peer) && ktx_test_now_ms() < deadline)
        usleep(10000);
    ck_assert_msg(process_dead(peer), "orphaned mock %d still running", (int)peer);
}
END_TEST

/* ---- the helper with another peer (a stand-in script for tests/broker/ktx-broker) ---- */

/* Writes an executable shell script with |body| to a temporary file; returns its path
 * (malloc'ed; the caller unlinks and frees it). */
static char *write_fake_peer(const char *body)
{
    char *path = strdup("/tmp/ktx-fake-peer-XXXXXX");
    int fd;

    ck_assert_ptr_nonnull(path);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    ck_assert_int_eq(fchmod(fd, 0700), 0);
    close(fd);
    return path;
}

START_TEST(test_helper_starts_the_broker_peer_with_brokers_and_extra_args)
{
    /* The stand-in prints its arguments as its bootstrap hosts' neighbour: every command
     * is answered "ERR <argv>", and quit with OK. */
    static const char script[] =
        "#!/bin/sh\n"
        "echo \"BOOTSTRAP 127.0.0.1:9001,localhost:9002\"\n"
        "while read line; do\n"
        "  if [ \"$line\" = quit ]; then echo OK; exit 0; fi\n"
        "  echo \"ERR $*\"\n"
        "done\n";
    const char *const extra[] = {"--data-dir", "/tmp/x y", NULL};
    struct ktx_test_cluster *c = NULL;
    char *path = write_fake_peer(script);
    char host[64];
    int port;

    ck_assert_int_eq(setenv("KTX_BROKER_BIN", path, 1), 0);
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 2, extra), 0);
    ck_assert_str_eq(ktx_test_cluster_bootstrap(c), "127.0.0.1:9001,localhost:9002");
    ck_assert_int_eq(ktx_test_cluster_broker_count(c), 2);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 2, host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "localhost");
    ck_assert_int_eq(port, 9002);
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic t 1 1"), -1);
    ck_assert_str_eq(ktx_test_cluster_last_error(c), "--brokers 2 --data-dir /tmp/x y");
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
    unsetenv("KTX_BROKER_BIN");
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_helper_fails_cleanly_when_the_peer_prints_no_bootstrap)
{
    static const char *const scripts[] = {
        "#!/bin/sh\nexit 3\n", /* dies at once */
        "#!/bin/sh\necho hello\nexec sleep 30\n",              /* wrong line, hangs */
        "#!/bin/sh\necho BOOTSTRAP 127.0.0.1\nexec sleep 30\n", /* no port */
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        struct ktx_test_cluster *c = NULL;
        char *path = write_fake_peer(scripts[i]);
        int64_t t0 = ktx_test_now_ms();

        ck_assert_int_eq(setenv("KTX_BROKER_BIN", path, 1), 0);
        ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, NULL), -1);
        ck_assert_ptr_null(c);
        /* The hanging stand-ins are killed, not waited for. */
        ck_assert_int_lt(ktx_test_now_ms() - t0, 2000);
        unlink(path);
        free(path);
    }
    /* Nothing is left to reap: every child was collected. */
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_int_eq(setenv("KTX_BROKER_BIN", "/nonexistent/ktx-broker", 1), 0);
    struct ktx_test_cluster *c = NULL;
    ck_assert_int_eq(ktx_test_cluster_start(&c, KTX_TEST_PEER_BROKER, 1, NULL), -1);
    unsetenv("KTX_BROKER_BIN");
}
END_TEST

/* ---- command syntax ---- */

START_TEST(test_mock_answers_ok_to_every_valid_command)
{
    struct ktx_test_cluster *c = start_mock(3);
    cmd_ok(c, "topic orders 3 2");
    cmd_ok(c, "err 0 2 6");
    cmd_ok(c, "err 18 1 -1");
    cmd_ok(c, "berr 2 10 15 0");
    cmd_ok(c, "berr 3 22 0 100");
    cmd_ok(c, "down 2");
    cmd_ok(c, "up 2");
    cmd_ok(c, "rtt 1 10");
    cmd_ok(c, "rtt 1 0");
    cmd_ok(c, "coord txn my-txn 3");
    cmd_ok(c, "coord group my-group 1");
    cmd_ok(c, "leader orders 2 1");
    cmd_ok(c, "leader orders 0 -1");
    ck_assert_str_eq(ktx_test_cluster_last_error(c), "");
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_answers_err_to_invalid_commands_and_stays_alive)
{
    static const char *const bad[] = {
        "frobnicate 1",         /* unknown verb */
        "",                     /* empty line */
        "topic orders 3",       /* missing argument */
        "topic orders 3 1 9",   /* extra argument */
        "topic orders three 1", /* non-numeric */
        "topic orders 0 1",     /* no partitions */
        "topic orders 3 4",     /* more replicas than brokers */
        "topic bad/name 1 1",   /* illegal topic name */
        "err 18 x 5",           /* non-numeric count */
        "err 18 0 5",           /* zero count */
        "err -3 1 5",           /* negative api key */
        "err 18 1 -2",          /* code below -1 */
        "berr 4 18 5 0",        /* unknown broker */
        "berr 1 18 5 -1",       /* negative delay */
        "down 0",               /* unknown broker */
        "down 4",
        "up 99",
        "rtt 1 fast",           /* non-numeric */
        "rtt 7 10",             /* unknown broker */
        "coord txn my-txn 4",   /* coordinator on a broker that does not exist */
        "coord txn my-txn 0",
        "coord txn my-txn -1",
        "coord cluster k 1",    /* unknown coordinator type */
        "leader nosuch 0 1",    /* unknown topic */
        "leader orders 3 1",    /* partition out of range */
        "leader orders -1 1",
        "leader orders 0 9",    /* unknown broker */
    };
    struct ktx_test_cluster *c = start_mock(3);
    struct coordinator coord;
    int fd;

    cmd_ok(c, "topic orders 3 1");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(ktx_test_cluster_cmd(c, "%s", bad[i]) == -1, "'%s' was not refused",
                      bad[i]);
        ck_assert_msg(strlen(ktx_test_cluster_last_error(c)) > 0, "'%s': empty reason", bad[i]);
        ck_assert(ktx_test_cluster_alive(c));
    }
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic orders 3 1"), -1);
    ck_assert_str_eq(ktx_test_cluster_last_error(c), "TOPIC_ALREADY_EXISTS");
    /* FindCoordinator for the key would abort the mock had `coord ... 4` reached it. */
    fd = connect_broker(c, 1);
    ck_assert_int_eq(find_coordinator_v1(fd, "my-txn", 1, &coord), 0);
    ck_assert_int_eq(coord.error_code, 0);
    ck_assert_int_ge(coord.node_id, 1);
    ck_assert_int_le(coord.node_id, 3);
    close(fd);
    ck_assert(ktx_test_cluster_alive(c));
    cmd_ok(c, "topic later 1 1");
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_refuses_over_long_lines_and_keeps_answering)
{
    struct ktx_test_cluster *c = start_mock(1);
    char *line = malloc(3000);
    ck_assert_ptr_nonnull(line);
    memset(line, 'a', 2999);
    line[2999] = '\0';
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "topic %s 1 1", line), -1);
    /* Past the peer's 4 KiB line limit: one ERR, and the rest of the line is skipped. */
    ck_assert_int_eq(ktx_test_cluster_cmd(c, "leader %s%s 0 1", line, line), -1);
    ck_assert_str_eq(ktx_test_cluster_last_error(c), "line too long");
    cmd_ok(c, "topic short 1 1");
    free(line);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* ---- effects on the wire ---- */

START_TEST(test_down_refuses_connections_and_up_restores_them)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd_open = connect_broker(c, 2);
    int fd;

    ck_assert_int_eq(api_versions_v0(fd_open, &error_code), 0);
    cmd_ok(c, "down 2");
    /* The open connection is closed, new ones are refused, other brokers still serve. */
    ck_assert_int_eq(api_versions_v0(fd_open, &error_code), KTX_ERR_TRANSPORT);
    close(fd_open);
    ck_assert_int_eq(ktx_test_cluster_connect(c, 2, 1000), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    fd = connect_broker(c, 1);
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    close(fd);
    cmd_ok(c, "up 2");
    fd = connect_broker(c, 2);
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_err_fails_the_next_requests_on_any_broker)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd1 = connect_broker(c, 1), fd2 = connect_broker(c, 2);

    cmd_ok(c, "err 18 2 15");
    ck_assert_int_eq(api_versions_v0(fd1, &error_code), 0);
    ck_assert_int_eq(error_code, 15);
    ck_assert_int_eq(api_versions_v0(fd2, &error_code), 0);
    ck_assert_int_eq(error_code, 15);
    ck_assert_int_eq(api_versions_v0(fd1, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    close(fd1);
    close(fd2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_err_code_minus_one_drops_the_connection)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd = connect_broker(c, 3);

    cmd_ok(c, "err 18 1 -1");
    ck_assert_int_eq(api_versions_v0(fd, &error_code), KTX_ERR_TRANSPORT);
    close(fd);
    fd = connect_broker(c, 3);
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_berr_fails_one_request_on_one_broker_only)
{
    struct ktx_test_cluster *c = start_mock(3);
    struct coordinator coord;
    int fd1 = connect_broker(c, 1), fd2 = connect_broker(c, 2);

    cmd_ok(c, "berr 2 10 15 0");
    ck_assert_int_eq(find_coordinator_v1(fd1, "k", 0, &coord), 0);
    ck_assert_int_eq(coord.error_code, 0);
    ck_assert_int_eq(find_coordinator_v1(fd2, "k", 0, &coord), 0);
    ck_assert_int_eq(coord.error_code, 15);
    ck_assert_int_eq(coord.node_id, -1);
    ck_assert_int_eq(find_coordinator_v1(fd2, "k", 0, &coord), 0);
    ck_assert_int_eq(coord.error_code, 0);
    close(fd1);
    close(fd2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_berr_code_zero_delays_one_successful_answer)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd = connect_broker(c, 2);
    int64_t t0;

    /* Bounds far apart, so that a loaded machine (parallel make check, sanitizers,
     * valgrind) does not blur them. */
    cmd_ok(c, "berr 2 18 0 800");
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    ck_assert_int_ge(ktx_test_now_ms() - t0, 790);
    ck_assert_int_eq(error_code, 0);
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 500);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_rtt_delays_every_answer_of_that_broker)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd3 = connect_broker(c, 3), fd1 = connect_broker(c, 1);
    int64_t t0;

    cmd_ok(c, "rtt 3 600");
    for (int i = 0; i < 2; i++) {
        t0 = ktx_test_now_ms();
        ck_assert_int_eq(api_versions_v0(fd3, &error_code), 0);
        ck_assert_int_ge(ktx_test_now_ms() - t0, 590);
    }
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(api_versions_v0(fd1, &error_code), 0);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 400);
    cmd_ok(c, "rtt 3 0");
    t0 = ktx_test_now_ms();
    ck_assert_int_eq(api_versions_v0(fd3, &error_code), 0);
    ck_assert_int_lt(ktx_test_now_ms() - t0, 400);
    close(fd1);
    close(fd3);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_leader_moves_show_up_in_metadata)
{
    struct ktx_test_cluster *c = start_mock(3);
    int32_t leaders[16], count;
    int fd = connect_broker(c, 1);

    cmd_ok(c, "topic orders 3 3");
    metadata_v1_leaders(fd, "orders", leaders, &count);
    ck_assert_int_eq(count, 3);
    for (int p = 0; p < 3; p++) {
        ck_assert_int_ge(leaders[p], 1);
        ck_assert_int_le(leaders[p], 3);
    }
    cmd_ok(c, "leader orders 0 2");
    cmd_ok(c, "leader orders 1 3");
    cmd_ok(c, "leader orders 2 -1");
    metadata_v1_leaders(fd, "orders", leaders, &count);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(leaders[0], 2);
    ck_assert_int_eq(leaders[1], 3);
    ck_assert_int_eq(leaders[2], -1);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_coord_moves_show_up_in_find_coordinator)
{
    struct ktx_test_cluster *c = start_mock(3);
    struct coordinator coord;
    char host[64];
    int port;
    int fd = connect_broker(c, 1);

    cmd_ok(c, "coord txn tx-1 2");
    cmd_ok(c, "coord group g-1 3");
    ck_assert_int_eq(find_coordinator_v1(fd, "tx-1", 1, &coord), 0);
    ck_assert_int_eq(coord.error_code, 0);
    ck_assert_int_eq(coord.node_id, 2);
    ck_assert_int_eq(ktx_test_cluster_broker_addr(c, 2, host, sizeof(host), &port), 0);
    ck_assert_str_eq(coord.host, host);
    ck_assert_int_eq(coord.port, port);
    ck_assert_int_eq(find_coordinator_v1(fd, "g-1", 0, &coord), 0);
    ck_assert_int_eq(coord.node_id, 3);
    cmd_ok(c, "coord txn tx-1 1");
    ck_assert_int_eq(find_coordinator_v1(fd, "tx-1", 1, &coord), 0);
    ck_assert_int_eq(coord.node_id, 1);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

/* ---- limits of the mock that ktx-mock.c documents ---- */

START_TEST(test_mock_metadata_ignores_injected_errors)
{
    struct ktx_test_cluster *c = start_mock(3);
    int32_t leaders[16], count;
    int fd = connect_broker(c, 1);

    cmd_ok(c, "topic orders 2 1");
    cmd_ok(c, "err 3 1 -1");
    metadata_v1_leaders(fd, "orders", leaders, &count);
    ck_assert_int_eq(count, 2);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_metadata_auto_creates_topics_and_ignores_replication)
{
    static const char *const names[] = {"made-by-topic", "made-by-metadata"};
    struct ktx_test_cluster *c = start_mock(3);
    struct ktx__metadata_req_topic topics[2];
    struct ktx__metadata_req req;
    struct ktx__metadata_resp resp;
    struct ktx_test_exchange ex;
    int fd = connect_broker(c, 1);

    cmd_ok(c, "topic made-by-topic 2 1");
    memset(&req, 0, sizeof(req));
    memset(topics, 0, sizeof(topics));
    for (int i = 0; i < 2; i++)
        topics[i].name = ktx__str_c(names[i]);
    req.topics = topics;
    req.topics_count = 2;
    ck_assert_int_eq(ktx_test_exchange(fd, &ktx__proto_codec_metadata, 2, &req, &resp, &ex,
                                       RPC_TIMEOUT_MS),
                     0);
    ck_assert_int_eq(resp.topics_count, 2);
    for (int i = 0; i < 2; i++) {
        const struct ktx__metadata_topic *topic = &resp.topics[i];
        ck_assert(ktx__str_eq_c(topic->name, names[i]));
        ck_assert_int_eq(topic->error_code, 0);
        ck_assert_int_eq(topic->partitions_count, i == 0 ? 2 : 4);
        /* Replication 1 was asked for; the mock gives every partition 3 replicas. */
        ck_assert_int_eq(topic->partitions[0].replica_nodes_count, 3);
    }
    ktx_test_exchange_free(&ex);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_err_no_longer_reaches_a_broker_once_berr_was_used_there)
{
    struct ktx_test_cluster *c = start_mock(3);
    int16_t error_code = -1;
    int fd1 = connect_broker(c, 1), fd2 = connect_broker(c, 2);

    cmd_ok(c, "berr 1 18 0 0");
    ck_assert_int_eq(api_versions_v0(fd1, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    /* Broker 1 now has an (empty) error stack for ApiVersions, which hides the cluster's. */
    cmd_ok(c, "err 18 2 15");
    ck_assert_int_eq(api_versions_v0(fd1, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    ck_assert_int_eq(api_versions_v0(fd2, &error_code), 0);
    ck_assert_int_eq(error_code, 15);
    close(fd1);
    close(fd2);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_closes_connection_on_apis_it_does_not_serve)
{
    /* Well-formed requests (kafkatx's codecs) of APIs the mock has no handler for. The
     * version ceilings of the APIs it serves are checked in check_interop_mock.c. */
    struct ktx__sasl_handshake_req sasl = {ktx__str_c("PLAIN")};
    struct ktx__str txn_ids[1] = {ktx__str_c("tx")};
    struct ktx__describe_transactions_req dt = {txn_ids, 1};
    int32_t parts[1] = {0};
    struct ktx__describe_producers_req_topic dp_topic = {ktx__str_c("orders"), parts, 1};
    struct ktx__describe_producers_req dp = {&dp_topic, 1};
    const struct {
        const struct ktx__proto_codec *codec;
        const void *req;
        int16_t ver;
    } unserved[] = {
        {&ktx__proto_codec_sasl_handshake, &sasl, 1},
        {&ktx__proto_codec_describe_transactions, &dt, 0},
        {&ktx__proto_codec_describe_producers, &dp, 0},
    };
    struct ktx_test_cluster *c = start_mock(1);

    for (size_t i = 0; i < sizeof(unserved) / sizeof(unserved[0]); i++) {
        union {
            struct ktx__sasl_handshake_resp sasl;
            struct ktx__describe_transactions_resp dt;
            struct ktx__describe_producers_resp dp;
        } resp;
        struct ktx_test_exchange ex;
        int fd = connect_broker(c, 1);
        int rc = ktx_test_exchange(fd, unserved[i].codec, unserved[i].ver, unserved[i].req,
                                   &resp, &ex, RPC_TIMEOUT_MS);

        ck_assert_msg(rc == KTX_ERR_TRANSPORT, "api %d: %d", unserved[i].codec->api_key, rc);
        ktx_test_exchange_free(&ex);
        close(fd);
    }
    /* The mock itself is fine. */
    int16_t error_code = -1;
    int fd = connect_broker(c, 1);
    ck_assert_int_eq(api_versions_v0(fd, &error_code), 0);
    ck_assert_int_eq(error_code, 0);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

START_TEST(test_mock_answers_api_versions_v3_with_malformed_body)
{
    /* error_code 35, a one-byte "compact" count holding the raw count 1 (not 1 + 1), one
     * entry without tagged fields (ApiVersions 0..2), throttle_time_ms 0, and no tag
     * section: neither a v3 nor a v0 reader can parse it. */
    static const char want_hex[] = "0023 01 0012 0000 0002 00000000";
    struct ktx_test_cluster *c = start_mock(1);
    struct ktx__writer w;
    uint8_t *resp, *want;
    size_t len, want_len;
    int fd = connect_broker(c, 1);

    req_begin(&w, KTX__API_API_VERSIONS, 3, 42);
    ktx__w_string(&w, ktx__str_c("kafkatx"), true);
    ktx__w_string(&w, ktx__str_c("0.1.0"), true);
    ktx__w_tags_empty(&w);
    ck_assert_int_eq(req_send(fd, &w, &resp, &len), 0);
    want = ktx_test_unhex(want_hex, &want_len);
    ck_assert_uint_eq(len, 4 + want_len);
    ck_assert_int_eq(ktx__be32_get(resp), 42);
    ck_assert_mem_eq(resp + 4, want, want_len);
    free(want);
    free(resp);
    close(fd);
    ck_assert_int_eq(ktx_test_cluster_stop(c), 0);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *lifecycle = tcase_create("lifecycle");
    TCase *commands = tcase_create("commands");
    TCase *wire = tcase_create("wire");
    TCase *limits = tcase_create("limits");

    tcase_set_timeout(lifecycle, 30);
    tcase_add_test(lifecycle, test_mock_prints_bootstrap_within_one_second);
    tcase_add_test(lifecycle, test_mock_starts_the_requested_number_of_brokers);
    tcase_add_test(lifecycle, test_mock_rejects_bad_options);
    tcase_add_test(lifecycle, test_mock_exits_cleanly_on_quit);
    tcase_add_test(lifecycle, test_mock_exits_cleanly_on_eof);
    tcase_add_test(lifecycle, test_mock_exits_cleanly_on_sigterm);
    tcase_add_test(lifecycle, test_mock_dies_with_the_process_that_started_it);
    tcase_add_test(lifecycle, test_helper_starts_the_broker_peer_with_brokers_and_extra_args);
    tcase_add_test(lifecycle, test_helper_fails_cleanly_when_the_peer_prints_no_bootstrap);
    suite_add_tcase(s, lifecycle);

    tcase_set_timeout(commands, 30);
    tcase_add_test(commands, test_mock_answers_ok_to_every_valid_command);
    tcase_add_test(commands, test_mock_answers_err_to_invalid_commands_and_stays_alive);
    tcase_add_test(commands, test_mock_refuses_over_long_lines_and_keeps_answering);
    suite_add_tcase(s, commands);

    tcase_set_timeout(wire, 30);
    tcase_add_test(wire, test_down_refuses_connections_and_up_restores_them);
    tcase_add_test(wire, test_err_fails_the_next_requests_on_any_broker);
    tcase_add_test(wire, test_err_code_minus_one_drops_the_connection);
    tcase_add_test(wire, test_berr_fails_one_request_on_one_broker_only);
    tcase_add_test(wire, test_berr_code_zero_delays_one_successful_answer);
    tcase_add_test(wire, test_rtt_delays_every_answer_of_that_broker);
    tcase_add_test(wire, test_leader_moves_show_up_in_metadata);
    tcase_add_test(wire, test_coord_moves_show_up_in_find_coordinator);
    suite_add_tcase(s, wire);

    tcase_set_timeout(limits, 30);
    tcase_add_test(limits, test_mock_metadata_ignores_injected_errors);
    tcase_add_test(limits, test_mock_metadata_auto_creates_topics_and_ignores_replication);
    tcase_add_test(limits, test_mock_err_no_longer_reaches_a_broker_once_berr_was_used_there);
    tcase_add_test(limits, test_mock_closes_connection_on_apis_it_does_not_serve);
    tcase_add_test(limits, test_mock_answers_api_versions_v3_with_malformed_body);
    suite_add_tcase(s, limits);
    return s;
}

KTX_CHECK_MAIN(cluster_suite)
