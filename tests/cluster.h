/*
 * Test helper: starts a network peer (the librdkafka mock cluster `tests/cluster/ktx-mock`
 * or the reference broker `tests/broker/ktx-broker`) as a child process and drives it
 * through the line-based cluster control interface, so that one integration suite runs
 * against either peer. Also a tiny blocking client that sends one framed Kafka request and
 * reads one framed response.
 *
 * The control interface every peer implements: the peer prints
 * `BOOTSTRAP host:port[,host:port...]` as its first stdout line (entry k is broker id k; ids
 * start at 1), then answers each stdin line with exactly one line, `OK` or `ERR <reason>`.
 * Commands: `topic NAME PARTITIONS REPLICATION`, `err APIKEY COUNT CODE` (CODE -1 drops the
 * connection), `berr BROKER APIKEY CODE DELAY_MS` (CODE -1 drops the connection without
 * applying the request; with ktx-broker only, CODE -2, in `err` too, applies the request and
 * then drops the connection without answering, so the client retries something that already
 * took effect), `down BROKER`, `up BROKER`,
 * `rtt BROKER MS`, `coord txn|group KEY BROKER`, `leader TOPIC PARTITION BROKER`, `quit`.
 * Option: `--brokers N`. tests/cluster/ktx-mock.c lists what the mock cannot do.
 *
 * Binaries are found through $KTX_MOCK_BIN / $KTX_BROKER_BIN, else at
 * tests/cluster/ktx-mock and tests/broker/ktx-broker relative to the current directory
 * (automake runs tests from the build directory), else next to the running test program.
 *
 * Thread: every function is meant for the test's own thread; a cluster handle is not
 * thread-safe. The helper ignores SIGPIPE process-wide (a dead peer must not kill the test).
 * It lives in tests/libktxtest.la; ktx_test_exchange() needs libkafkatx_core (wire, proto).
 */
#ifndef KTX_TEST_CLUSTER_H
#define KTX_TEST_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

enum ktx_test_peer {
    KTX_TEST_PEER_MOCK,   /* tests/cluster/ktx-mock (librdkafka's mock cluster) */
    KTX_TEST_PEER_BROKER, /* tests/broker/ktx-broker (kafkatx's reference broker) */
};

/* Timeouts (milliseconds) used by the helper for the BOOTSTRAP line, each command's
 * answer and the peer's exit after `quit`. */
#define KTX_TEST_CLUSTER_START_TIMEOUT_MS 10000
#define KTX_TEST_CLUSTER_CMD_TIMEOUT_MS 10000
#define KTX_TEST_CLUSTER_STOP_TIMEOUT_MS 5000

struct ktx_test_cluster;

/*
 * Starts |peer| with `--brokers |brokers|` followed by |extra_args| (a NULL-terminated
 * array, or NULL) and waits up to KTX_TEST_CLUSTER_START_TIMEOUT_MS for its BOOTSTRAP line.
 * The child runs with PR_SET_PDEATHSIG (SIGKILL), so it dies with the test process; the
 * signal fires when the calling *thread* exits, so start peers from a thread that lives
 * as long as the peer is needed (the test's own thread).
 *
 * On success stores a handle in |*out| that the caller releases with
 * ktx_test_cluster_stop(), and returns 0. Returns -1 and leaves no child behind (a peer
 * that printed something else is killed) when the binary cannot be started, exits early,
 * or prints no valid BOOTSTRAP line in time; the reason is written to stderr.
 */
int ktx_test_cluster_start(struct ktx_test_cluster **out, enum ktx_test_peer peer, int brokers,
                           const char *const *extra_args);

/* Returns the bootstrap list as the peer printed it ("127.0.0.1:p1,127.0.0.1:p2,...").
 * The string lives as long as |c|. */
const char *ktx_test_cluster_bootstrap(const struct ktx_test_cluster *c);

/* Returns the number of brokers of |c| (ids 1..count). */
int ktx_test_cluster_broker_count(const struct ktx_test_cluster *c);

/*
 * Copies the host of broker |broker_id| (1-based) into |host| (|hostlen| bytes, NUL
 * terminated) and stores its port in |*port|. Returns 0, or -1 when there is no such
 * broker or |host| is too small.
 */
int ktx_test_cluster_broker_addr(const struct ktx_test_cluster *c, int broker_id, char *host,
                                 size_t hostlen, int *port);

/*
 * Sends one command, formatted printf-style from |fmt| (without the newline), and waits
 * up to KTX_TEST_CLUSTER_CMD_TIMEOUT_MS for its answer. Returns 0 for OK, -1 for
 * `ERR <reason>` (the reason is kept for ktx_test_cluster_last_error()), and -2 when the
 * peer did not answer (exited, timed out, or the command could not be sent: an embedded
 * newline or a line over 16 KiB).
 */
int ktx_test_cluster_cmd(struct ktx_test_cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the reason of the last failed ktx_test_cluster_cmd() ("" after an OK). The
 * string lives until the next command on |c|. */
const char *ktx_test_cluster_last_error(const struct ktx_test_cluster *c);

/* Returns the process id of the peer. */
pid_t ktx_test_cluster_pid(const struct ktx_test_cluster *c);

/* Returns true while the peer process has not exited (reaps it when it has). */
bool ktx_test_cluster_alive(struct ktx_test_cluster *c);

/* Closes the peer's stdin (it sees EOF). Later commands return -2. */
void ktx_test_cluster_close_input(struct ktx_test_cluster *c);

/*
 * Waits up to |timeout_ms| for the peer to exit without sending anything. Returns 0 and
 * stores the wait status in |*wstatus| (when not NULL) once it exited, -1 on timeout.
 */
int ktx_test_cluster_wait_exit(struct ktx_test_cluster *c, int timeout_ms, int *wstatus);

/*
 * Stops the peer: sends `quit` (unless its stdin is closed), waits up to
 * KTX_TEST_CLUSTER_STOP_TIMEOUT_MS, then kills it with SIGKILL; reaps it and frees |c|.
 * NULL-safe. Returns 0 when the peer exited by itself with status 0, -1 otherwise.
 */
int ktx_test_cluster_stop(struct ktx_test_cluster *c);

/*
 * Connects a blocking TCP socket to |host|:|port| within |timeout_ms|. Returns the socket
 * (the caller closes it) or -1 with errno set (ECONNREFUSED when nothing listens,
 * ETIMEDOUT on timeout).
 */
int ktx_test_connect(const char *host, int port, int timeout_ms);

/* Connects to broker |broker_id| of |c| as ktx_test_connect() does. */
int ktx_test_cluster_connect(const struct ktx_test_cluster *c, int broker_id, int timeout_ms);

/*
 * Sends |len| bytes of |frame| (request header + body, without the size prefix) preceded
 * by its 4-byte big-endian size. Returns 0, or KTX_ERR_TRANSPORT (-101) when the socket
 * failed or was closed.
 */
int ktx_test_send_frame(int fd, const void *frame, size_t len);

/*
 * Reads one size-prefixed response within |timeout_ms| and stores it (response header +
 * body, without the size prefix) in a malloc'ed |*frame| of |*len| bytes that the caller
 * frees. Returns 0, KTX_ERR_TIMED_OUT (-102), KTX_ERR_TRANSPORT (-101) when the peer
 * closed the connection or the socket failed, or KTX_ERR_BAD_MSG (-100) for a size outside
 * [4, 64 MiB]. On failure |*frame| is NULL.
 */
int ktx_test_recv_frame(int fd, int timeout_ms, uint8_t **frame, size_t *len);

/* ktx_test_send_frame() then ktx_test_recv_frame(); same results. */
int ktx_test_rpc(int fd, const void *req, size_t req_len, uint8_t **resp, size_t *resp_len,
                 int timeout_ms);

/*
 * One request/response exchange through kafkatx's codecs: the response frame (decoded
 * strings point into |raw|) and the arena that holds decoded arrays. Zero it before use;
 * release it with ktx_test_exchange_free() once the decoded response is no longer used.
 */
struct ktx_test_exchange {
    uint8_t *raw; /* response header + body, malloc'ed */
    size_t len;
    int32_t correlation_id;
    struct ktx__arena arena;
};

/*
 * Encodes |req| with |codec| at version |ver| behind a request header (client id
 * "kafkatx-test", a fresh correlation id), sends it on |fd|, reads one response within
 * |timeout_ms|, checks its correlation id and decodes its body into |resp| (a struct of the
 * codec's response type). |ex| receives the frame and the arena.
 *
 * Returns 0; KTX_ERR_TRANSPORT / KTX_ERR_TIMED_OUT from the transport; the encoder's
 * error; KTX_ERR_BAD_MSG for a bad response header or correlation id; otherwise the
 * decoder's result (KTX_ERR_BAD_MSG, KTX_ERR_UNSUPPORTED). |ex| must be freed in every
 * case.
 */
int ktx_test_exchange(int fd, const struct ktx__proto_codec *codec, int16_t ver, const void *req,
                      void *resp, struct ktx_test_exchange *ex, int timeout_ms);

/* Frees what |ex| holds and zeroes it. NULL-safe. */
void ktx_test_exchange_free(struct ktx_test_exchange *ex);

/* Returns a monotonic clock in milliseconds, for timing assertions. */
int64_t ktx_test_now_ms(void);

#endif /* KTX_TEST_CLUSTER_H */
