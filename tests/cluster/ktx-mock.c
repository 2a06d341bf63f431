/*
 * ktx-mock: librdkafka's mock cluster behind kafkatx's line-based cluster control interface.
 *
 * The process prints `BOOTSTRAP host:port[,host:port...]` as its first stdout line (entry k is
 * broker id k, ids start at 1), then reads one command per stdin line and answers exactly one
 * line, `OK` or `ERR <reason>`:
 *
 *   topic NAME PARTITIONS REPLICATION   create a topic
 *   err APIKEY COUNT CODE               the next COUNT requests of APIKEY (any broker) fail with
 *                                       CODE; CODE -1 drops the connection instead of answering
 *   berr BROKER APIKEY CODE DELAY_MS    one error (or, with CODE 0, one success) on BROKER,
 *                                       answered after DELAY_MS; CODE -1 drops the connection
 *   down BROKER / up BROKER             close the listener and every connection / reopen it
 *   rtt BROKER MS                       delay every answer of BROKER by MS
 *   coord txn|group KEY BROKER          pin the coordinator of a transactional id or group
 *   leader TOPIC PARTITION BROKER       move a partition leader (BROKER -1: no leader)
 *   quit                                answer OK and exit 0
 *
 * Options: --brokers N (default 3). The process exits 0 on `quit`, on EOF on stdin and on
 * SIGTERM/SIGINT. librdkafka's own log lines go to stderr; stdout carries only the protocol.
 *
 * Limits of librdkafka 2.0.2's mock cluster, verified against its source (src/rdkafka_mock.c,
 * src/rdkafka_mock_handlers.c at tag v2.0.2) and, except the abort, by tests/check_cluster.c
 * and tests/check_interop_mock.c; every test author must know them:
 * - It serves only old versions: Produce 0-7, Fetch 0-11, ListOffsets 0-5, Metadata 0-2,
 *   OffsetCommit 0-7, OffsetFetch 0-5, FindCoordinator 0-2, InitProducerId 0-4 (flexible from
 *   v2), AddPartitionsToTxn 0-1, AddOffsetsToTxn 0-1, EndTxn 0-1, TxnOffsetCommit 0-2,
 *   ApiVersions 0-2, plus the group APIs. A request with a newer version, of an API it has
 *   no handler for (SaslHandshake, SaslAuthenticate, ...) or of a key it does not know at
 *   all (DescribeProducers 61, DescribeTransactions 65: "Invalid ApiKey" on stderr) makes it
 *   close the connection without an answer.
 * - ApiVersions v3 and newer get an UNSUPPORTED_VERSION (35) answer whose body is malformed:
 *   `0023 01 0012 0000 0002 00000000` (error, the array count as the raw count in one byte
 *   instead of a compact count + 1, one entry without tagged fields, throttle time, and no
 *   tag section). Neither a v3 nor a v0 decoder can read it; clients must fall back to v0.
 * - Metadata never consults the injected errors: `err 3 ...` and `berr B 3 ...` neither fail
 *   nor delay Metadata (they stay queued). Every other handler takes one injected entry per
 *   request (ApiVersions, FindCoordinator, InitProducerId, the transactional and group APIs,
 *   Produce, Fetch, ListOffsets).
 * - Once a broker got a `berr` for an API, that broker never again consults the `err`
 *   entries of that API (its own, now empty, error stack hides the cluster's), so `err`
 *   then fails requests on the other brokers only. ktx-mock warns on stderr when an `err`
 *   is shadowed that way; use a fresh cluster or `berr` on every broker instead.
 * - A dropped connection (CODE -1) is closed as soon as the request is read; the delay of a
 *   `berr` with CODE -1 is ignored.
 * - Metadata v1+ reports controller_id 0, which is no broker's id (the mock never sets one).
 * - An injected FindCoordinator error is answered with a null host, which the schema does
 *   not allow (Kafka sends ""): a strict decoder (kafkatx's) refuses that answer.
 * - Metadata auto-creates every unknown topic it is asked about, with 4 partitions (it
 *   reads allow_auto_topic_creation only from v4, which it does not serve). REPLICATION of
 *   `topic` is not used: every partition has min(3, brokers) replicas.
 * - FindCoordinator aborts the whole process when a coordinator was pinned to a broker id
 *   that does not exist: this launcher validates broker ids before calling the mock.
 *   InitProducerId with a transactional id answers NOT_COORDINATOR on any broker other than
 *   the key's coordinator.
 * - A broker that is `down` keeps its port bound but not listening: connects are refused.
 * - The mock thread serves control calls before it drains its wake-up pipe, so a call made
 *   right after another one can sit unserved until the thread's 1 s poll timeout. The
 *   waker below pokes the thread with a throw-away connection to an up broker whenever a
 *   control call takes longer than WAKE_AFTER_MS (a connection that sends nothing and is
 *   closed at once: no request, so no injected error is used up).
 *
 * TCP_NODELAY: librdkafka 2.0.2's mock never sets it on the connections it accepts (strace
 * shows only SO_REUSEADDR), while a Kafka broker does (its SocketServer Acceptor sets
 * TCP_NODELAY on every accepted socket), and so do ktx-broker and every client. Without it
 * a small answer that follows another one on the same connection waits in Nagle's algorithm
 * for the client's delayed ACK: ~40 ms per transactional round trip on loopback, for any
 * client. This executable therefore defines accept() and accept4() itself: the dynamic
 * linker binds librdkafka's calls to them (an executable's definitions come first in symbol
 * lookup; ld exports them because librdkafka.so references accept), they call libc's
 * through dlsym(RTLD_NEXT) and set TCP_NODELAY on every TCP socket they return. This makes
 * the mock behave like a Kafka broker on the wire; it changes nothing else.
 * KTX_MOCK_NAGLE=1 in the environment leaves the mock's sockets as librdkafka made them
 * (for comparing). The interposition covers this process only (tests start it as a child).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096
#define MAX_ARGS 8
#define MAX_BROKERS 64
#define MAX_TOPICS 1024
#define MAX_BERR_USES 1024
#define MAX_PARTITIONS 100000
#define MAX_DELAY_MS 600000
#define WAKE_AFTER_MS 20

/*
 * Pokes the mock thread while a control call is pending. Thread: the waker thread, and the
 * main thread through waker_arm()/waker_disarm(). Locks: |lock| guards every field.
 */
struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pending;
    bool stop;
    uint16_t ports[MAX_BROKERS]; /* broker id k at index k - 1, host order */
    bool up[MAX_BROKERS];
    int brokers;
};

/* A (broker, API) pair that got a `berr`: its error stack hides the cluster's. */
struct berr_use {
    int32_t broker;
    int16_t api_key;
};

/* A topic created with `topic`, so that `leader` can check the partition range. */
struct topic {
    char *name;
    int partitions;
};

/* The launcher: the mock cluster, its librdkafka handle and the topics created so far. */
struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    int brokers;
    struct topic topics[MAX_TOPICS];
    int topic_cnt;
    struct berr_use berr_uses[MAX_BERR_USES];
    int berr_use_cnt;
    bool quit;
    struct waker waker;
};

/* One parsed command line: the verb is argv[0]. */
struct cmd {
    int argc;
    char *argv[MAX_ARGS];
};

typedef void (*cmd_fn)(struct mock *mock, const struct cmd *cmd);

struct verb {
    const char *name;
    int argc; /* including the verb */
    const char *usage;
    cmd_fn fn;
};

/* ---- TCP_NODELAY on the mock's accepted sockets (see the file comment) ---- */

typedef int (*accept_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict);
typedef int (*accept4_fn)(int, __SOCKADDR_ARG, socklen_t *__restrict, int);

/* Sets TCP_NODELAY on the accepted socket |fd| unless KTX_MOCK_NAGLE is set. A socket that
 * is not TCP (setsockopt fails with EOPNOTSUPP/ENOPROTOOPT) is left alone; errno is kept. */
static void accepted(int fd)
{
    static int nagle = -1; /* racy first read is harmless: every thread computes the same */
    int one = 1, saved = errno;

    if (nagle < 0)
        nagle = getenv("KTX_MOCK_NAGLE") != NULL && strcmp(getenv("KTX_MOCK_NAGLE"), "1") == 0;
    if (fd >= 0 && !nagle)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    errno = saved;
}

/* Looks up libc's |name| (the next definition after this executable's). */
static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);

    if (sym == NULL) {
        fprintf(stderr, "ktx-mock: dlsym(%s): %s\n", name, dlerror());
        abort();
    }
    return sym;
}

/* Exported (the build hides symbols by default) so that librdkafka binds to it. */
__attribute__((visibility("default")))
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
    static _Atomic(accept_fn) real;
    accept_fn fn = real;
    int s;

    if (fn == NULL) {
        *(void **)&fn = next_symbol("accept");
        real = fn;
    }
    s = fn(fd, addr, len);
    accepted(s);
    return s;
}

__attribute__((visibility("default")))
int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
    static _Atomic(accept4_fn) real;
    accept4_fn fn = real;
    int s;

    if (fn == NULL) {
        *(void **)&fn = next_symbol("accept4");
        real = fn;
    }
    s = fn(fd, addr, len, flags);
    accepted(s);
    return s;
}

/* Written by the signal handler; the main loop polls the read end. */
static int signal_pipe[2] = {-1, -1};

/* Opens and closes a connection to the first up broker: the listener's readiness wakes
 * the mock thread, which then serves its pending control calls. */
static void waker_poke(struct waker *waker)
{
    struct sockaddr_in sin;
    int port = -1;

    pthread_mutex_lock(&waker->lock);
    for (int i = 0; i < waker->brokers && port < 0; i++)
        if (waker->up[i])
            port = waker->ports[i];
    pthread_mutex_unlock(&waker->lock);
    if (port < 0)
        return;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        (void)0; /* refused: the broker went down meanwhile; the next poke tries again */
    close(fd);
}

/* Stores in |ts| the CLOCK_REALTIME instant |ms| from now (pthread_cond_timedwait's clock). */
static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* The waker thread: while a control call is pending, pokes the mock every WAKE_AFTER_MS. */
static void *waker_main(void *arg)
{
    struct waker *waker = arg;

    pthread_mutex_lock(&waker->lock);
    while (!waker->stop) {
        if (!waker->pending) {
            pthread_cond_wait(&waker->cond, &waker->lock);
            continue;
        }
        struct timespec ts;
        deadline_after(&ts, WAKE_AFTER_MS);
        if (pthread_cond_timedwait(&waker->cond, &waker->lock, &ts) == ETIMEDOUT &&
            waker->pending) {
            pthread_mutex_unlock(&waker->lock);
            waker_poke(waker);
            pthread_mutex_lock(&waker->lock);
        }
    }
    pthread_mutex_unlock(&waker->lock);
    return NULL;
}

/* Parses the mock's bootstrap list ("127.0.0.1:p1,...") into the waker's ports. */
static void waker_init(struct waker *waker, const char *bootstraps, int brokers)
{
    const char *p = bootstraps;

    pthread_mutex_init(&waker->lock, NULL);
    pthread_cond_init(&waker->cond, NULL);
    for (int i = 0; i < brokers && p != NULL; i++) {
        const char *colon = strchr(p, ':');
        if (colon == NULL)
            break;
        waker->ports[i] = (uint16_t)atoi(colon + 1);
        waker->up[i] = true;
        waker->brokers = i + 1;
        p = strchr(colon, ',');
        if (p != NULL)
            p++;
    }
}

/* Marks a control call as pending (before it) or done (after it). Thread: main. */
static void waker_set(struct waker *waker, bool pending)
{
    pthread_mutex_lock(&waker->lock);
    waker->pending = pending;
    pthread_cond_signal(&waker->cond);
    pthread_mutex_unlock(&waker->lock);
}

/* Records whether |broker| accepts connections, so that pokes go to an up broker. */
static void waker_broker_up(struct waker *waker, long broker, bool up)
{
    pthread_mutex_lock(&waker->lock);
    waker->up[broker - 1] = up;
    pthread_mutex_unlock(&waker->lock);
}

/* Answers the current command with OK (every answer is flushed at once). */
static void answer_ok(void)
{
    fputs("OK\n", stdout);
    fflush(stdout);
}

/* Answers the current command with `ERR <reason>`, the reason formatted from |fmt|. */
static void answer_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void answer_err(const char *fmt, ...)
{
    va_list ap;
    fputs("ERR ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Answers OK when |err| is success, else ERR with librdkafka's name of |err|. */
static void answer_rd(rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        answer_ok();
    else
        answer_err("%s", rd_kafka_err2name(err));
}

/*
 * Parses the decimal integer |s| into |*out| when it is entirely numeric and within
 * [|min|, |max|]. Returns true on success; on failure answers ERR naming |what|.
 */
static bool parse_int(const char *s, long min, long max, const char *what, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        answer_err("%s is not a number: %s", what, s);
        return false;
    }
    if (v < min || v > max) {
        answer_err("%s out of range [%ld, %ld]: %ld", what, min, max, v);
        return false;
    }
    *out = v;
    return true;
}

/* Parses a broker id that must exist in |mock| (ids are 1..brokers). */
static bool parse_broker(const struct mock *mock, const char *s, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        answer_err("broker id is not a number: %s", s);
        return false;
    }
    if (v < 1 || v > mock->brokers) {
        answer_err("unknown broker id %ld (brokers are 1..%d)", v, mock->brokers);
        return false;
    }
    *out = v;
    return true;
}

/* Maps the control interface's error CODE to what the mock pushes (-1: drop). */
static rd_kafka_resp_err_t code_to_rd(long code)
{
    return code == -1 ? RD_KAFKA_RESP_ERR__TRANSPORT : (rd_kafka_resp_err_t)code;
}

/* Kafka's legal topic names: 1..249 characters of [a-zA-Z0-9._-]. */
static bool topic_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Returns the topic named |name| created with `topic`, or NULL. */
static const struct topic *topic_find(const struct mock *mock, const char *name)
{
    for (int i = 0; i < mock->topic_cnt; i++)
        if (strcmp(mock->topics[i].name, name) == 0)
            return &mock->topics[i];
    return NULL;
}

/*
 * The verbs. Each handler gets a command whose argument count was checked, validates every
 * argument before calling the mock, and answers exactly one line.
 */
static void cmd_topic(struct mock *mock, const struct cmd *cmd)
{
    long partitions, replication;
    rd_kafka_resp_err_t err;

    if (!topic_name_valid(cmd->argv[1])) {
        answer_err("invalid topic name: %s", cmd->argv[1]);
        return;
    }
    if (!parse_int(cmd->argv[2], 1, MAX_PARTITIONS, "partitions", &partitions) ||
        !parse_int(cmd->argv[3], 1, mock->brokers, "replication", &replication))
        return;
    if (mock->topic_cnt == MAX_TOPICS) {
        answer_err("too many topics");
        return;
    }
    err = rd_kafka_mock_topic_create(mock->mcluster, cmd->argv[1], (int)partitions,
                                     (int)replication);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        struct topic *topic = &mock->topics[mock->topic_cnt];
        topic->name = strdup(cmd->argv[1]);
        if (topic->name == NULL) {
            answer_err("out of memory");
            return;
        }
        topic->partitions = (int)partitions;
        mock->topic_cnt++;
    }
    answer_rd(err);
}

/* Remembers that |broker| got a `berr` for |api_key|. */
static void berr_use_add(struct mock *mock, long broker, long api_key)
{
    for (int i = 0; i < mock->berr_use_cnt; i++)
        if (mock->berr_uses[i].broker == broker && mock->berr_uses[i].api_key == api_key)
            return;
    if (mock->berr_use_cnt < MAX_BERR_USES)
        mock->berr_uses[mock->berr_use_cnt++] = (struct berr_use){(int32_t)broker,
                                                                  (int16_t)api_key};
}

/* Warns on stderr about the brokers that an `err` for |api_key| will not reach. */
static void berr_use_warn(const struct mock *mock, long api_key)
{
    for (int i = 0; i < mock->berr_use_cnt; i++)
        if (mock->berr_uses[i].api_key == api_key)
            fprintf(stderr,
                    "ktx-mock: warning: err %ld does not reach broker %d, which had a berr "
                    "for that API (librdkafka mock limit)\n",
                    api_key, (int)mock->berr_uses[i].broker);
}

static void cmd_err(struct mock *mock, const struct cmd *cmd)
{
    long api_key, count, code;
    rd_kafka_resp_err_t *errs;

    if (!parse_int(cmd->argv[1], 0, INT16_MAX, "api key", &api_key) ||
        !parse_int(cmd->argv[2], 1, 10000, "count", &count) ||
        !parse_int(cmd->argv[3], -1, INT16_MAX, "error code", &code))
        return;
    errs = calloc((size_t)count, sizeof(*errs));
    if (errs == NULL) {
        answer_err("out of memory");
        return;
    }
    for (long i = 0; i < count; i++)
        errs[i] = code_to_rd(code);
    rd_kafka_mock_push_request_errors_array(mock->mcluster, (int16_t)api_key, (size_t)count,
                                            errs);
    free(errs);
    berr_use_warn(mock, api_key);
    answer_ok();
}

static void cmd_berr(struct mock *mock, const struct cmd *cmd)
{
    long broker, api_key, code, delay_ms;

    if (!parse_broker(mock, cmd->argv[1], &broker) ||
        !parse_int(cmd->argv[2], 0, INT16_MAX, "api key", &api_key) ||
        !parse_int(cmd->argv[3], -1, INT16_MAX, "error code", &code) ||
        !parse_int(cmd->argv[4], 0, MAX_DELAY_MS, "delay", &delay_ms))
        return;
    berr_use_add(mock, broker, api_key);
    answer_rd(rd_kafka_mock_broker_push_request_error_rtts(
        mock->mcluster, (int32_t)broker, (int16_t)api_key, 1, code_to_rd(code), (int)delay_ms));
}

static void cmd_down(struct mock *mock, const struct cmd *cmd)
{
    long broker;
    if (!parse_broker(mock, cmd->argv[1], &broker))
        return;
    waker_broker_up(&mock->waker, broker, false);
    answer_rd(rd_kafka_mock_broker_set_down(mock->mcluster, (int32_t)broker));
}

static void cmd_up(struct mock *mock, const struct cmd *cmd)
{
    long broker;
    if (!parse_broker(mock, cmd->argv[1], &broker))
        return;
    answer_rd(rd_kafka_mock_broker_set_up(mock->mcluster, (int32_t)broker));
    waker_broker_up(&mock->waker, broker, true);
}

static void cmd_rtt(struct mock *mock, const struct cmd *cmd)
{
    long broker, ms;
    if (parse_broker(mock, cmd->argv[1], &broker) &&
        parse_int(cmd->argv[2], 0, MAX_DELAY_MS, "rtt", &ms))
        answer_rd(rd_kafka_mock_broker_set_rtt(mock->mcluster, (int32_t)broker, (int)ms));
}

static void cmd_coord(struct mock *mock, const struct cmd *cmd)
{
    const char *key_type;
    long broker;

    if (strcmp(cmd->argv[1], "txn") == 0) {
        key_type = "transaction";
    } else if (strcmp(cmd->argv[1], "group") == 0) {
        key_type = "group";
    } else {
        answer_err("coordinator type must be txn or group: %s", cmd->argv[1]);
        return;
    }
    /* The mock aborts on FindCoordinator when the broker does not exist: check it first. */
    if (parse_broker(mock, cmd->argv[3], &broker))
        answer_rd(rd_kafka_mock_coordinator_set(mock->mcluster, key_type, cmd->argv[2],
                                                (int32_t)broker));
}

static void cmd_leader(struct mock *mock, const struct cmd *cmd)
{
    const struct topic *topic = topic_find(mock, cmd->argv[1]);
    long partition, broker;

    /* The mock would auto-create an unknown topic, and index out of bounds on a negative
     * partition: only topics created with `topic` and partitions in range are accepted. */
    if (topic == NULL) {
        answer_err("unknown topic (create it with topic first): %s", cmd->argv[1]);
        return;
    }
    if (!parse_int(cmd->argv[2], 0, topic->partitions - 1, "partition", &partition))
        return;
    if (strcmp(cmd->argv[3], "-1") == 0)
        broker = -1;
    else if (!parse_broker(mock, cmd->argv[3], &broker))
        return;
    answer_rd(rd_kafka_mock_partition_set_leader(mock->mcluster, topic->name,
                                                 (int32_t)partition, (int32_t)broker));
}

static void cmd_quit(struct mock *mock, const struct cmd *cmd)
{
    mock->quit = true;
    answer_ok();
}

static const struct verb verbs[] = {
    {"topic", 4, "topic NAME PARTITIONS REPLICATION", cmd_topic},
    {"err", 4, "err APIKEY COUNT CODE", cmd_err},
    {"berr", 5, "berr BROKER APIKEY CODE DELAY_MS", cmd_berr},
    {"down", 2, "down BROKER", cmd_down},
    {"up", 2, "up BROKER", cmd_up},
    {"rtt", 3, "rtt BROKER MS", cmd_rtt},
    {"coord", 4, "coord txn|group KEY BROKER", cmd_coord},
    {"leader", 4, "leader TOPIC PARTITION BROKER", cmd_leader},
    {"quit", 1, "quit", cmd_quit},
};

/* Splits |line| in place at blanks into |cmd|. Returns false when it has too many words. */
static bool split(char *line, struct cmd *cmd)
{
    char *save = NULL;
    cmd->argc = 0;
    for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (cmd->argc == MAX_ARGS)
            return false;
        cmd->argv[cmd->argc++] = tok;
    }
    return true;
}

/* Runs one command line (without its newline) and answers exactly one line. */
static void dispatch(struct mock *mock, char *line)
{
    struct cmd cmd;

    if (!split(line, &cmd)) {
        answer_err("too many arguments");
        return;
    }
    if (cmd.argc == 0) {
        answer_err("empty command");
        return;
    }
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].name, cmd.argv[0]) != 0)
            continue;
        if (cmd.argc != verbs[i].argc) {
            answer_err("usage: %s", verbs[i].usage);
            return;
        }
        waker_set(&mock->waker, true);
        verbs[i].fn(mock, &cmd);
        waker_set(&mock->waker, false);
        return;
    }
    answer_err("unknown command: %s", cmd.argv[0]);
}

/* SIGTERM/SIGINT handler: wakes the main loop through |signal_pipe|. */
static void on_signal(int sig)
{
    int saved = errno;
    char byte = (char)sig;
    /* Nothing can be done about a full pipe: one byte already wakes the loop. */
    if (write(signal_pipe[1], &byte, 1) < 0)
        (void)0;
    errno = saved;
}

/* Routes SIGTERM and SIGINT to |signal_pipe| and ignores SIGPIPE. Returns 0 or -1. */
static int install_signals(void)
{
    struct sigaction sa;

    if (pipe(signal_pipe) != 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    /* A reader that went away must not kill us in the middle of an answer. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/*
 * Consumes the complete lines in |buf| (|*len| bytes), running each one, and keeps the
 * incomplete tail. A line longer than MAX_LINE is answered with ERR and skipped up to its
 * newline (|*skipping| remembers that across reads).
 */
static void run_lines(struct mock *mock, char *buf, size_t *len, bool *skipping)
{
    size_t start = 0;
    char *nl;

    while (!mock->quit && (nl = memchr(buf + start, '\n', *len - start)) != NULL) {
        *nl = '\0';
        if (*skipping)
            *skipping = false;
        else
            dispatch(mock, buf + start);
        start = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    if (*len == MAX_LINE) {
        if (!*skipping)
            answer_err("line too long");
        *skipping = true;
        *len = 0;
    }
}

/* Reads and runs commands until quit, EOF on stdin or a termination signal. */
static void serve(struct mock *mock)
{
    static char buf[MAX_LINE + 1];
    size_t len = 0;
    bool skipping = false;

    while (!mock->quit) {
        struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
        ssize_t n;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (pfd[1].revents != 0)
            return;
        if (pfd[0].revents == 0)
            continue;
        n = read(STDIN_FILENO, buf + len, MAX_LINE - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        len += (size_t)n;
        run_lines(mock, buf, &len, &skipping);
    }
}

/* Parses `--brokers N` into |*brokers| (default 3). Returns 0, or -1 after a usage line. */
static int parse_args(int argc, char **argv, int *brokers)
{
    *brokers = 3;
    for (int i = 1; i < argc; i++) {
        char *end;
        long v;

        if (strcmp(argv[i], "--brokers") != 0 || i + 1 == argc) {
            fprintf(stderr, "usage: %s [--brokers N]\n", argv[0]);
            return -1;
        }
        v = strtol(argv[++i], &end, 10);
        if (*end != '\0' || end == argv[i] || v < 1 || v > MAX_BROKERS) {
            fprintf(stderr, "%s: --brokers must be 1..%d\n", argv[0], MAX_BROKERS);
            return -1;
        }
        *brokers = (int)v;
    }
    return 0;
}

/* Creates the librdkafka handle the mock needs for its bookkeeping: a producer that has
 * no bootstrap servers, so that it never sends a request of its own to the mock. */
static rd_kafka_t *new_handle(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    /* Silence the "no bootstrap.servers" warning; errors still reach stderr. */
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        fprintf(stderr, "ktx-mock: %s\n", errstr);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "ktx-mock: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

int main(int argc, char **argv)
{
    static struct mock mock;
    pthread_t waker_thread;
    int brokers;

    if (parse_args(argc, argv, &brokers) != 0)
        return 2;
    if (install_signals() != 0) {
        perror("ktx-mock: signals");
        return 1;
    }
    mock.brokers = brokers;
    mock.rk = new_handle();
    if (mock.rk == NULL)
        return 1;
    mock.mcluster = rd_kafka_mock_cluster_new(mock.rk, brokers);
    if (mock.mcluster == NULL) {
        fprintf(stderr, "ktx-mock: cannot create the mock cluster\n");
        rd_kafka_destroy(mock.rk);
        return 1;
    }
    waker_init(&mock.waker, rd_kafka_mock_cluster_bootstraps(mock.mcluster), brokers);
    if (pthread_create(&waker_thread, NULL, waker_main, &mock.waker) != 0) {
        fprintf(stderr, "ktx-mock: cannot start the waker thread\n");
        return 1;
    }
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mock.mcluster));
    fflush(stdout);

    serve(&mock);

    /* rd_kafka_mock_cluster_destroy() takes a whole second once the mock thread is idle
     * (it waits out the thread's poll timeout), which every integration test would pay in
     * ktx_test_cluster_stop(). The kernel closes the listeners and connections just as
     * well, so exit right away; KTX_MOCK_FULL_SHUTDOWN=1 tears everything down instead
     * (for running ktx-mock itself under valgrind). */
    fflush(stdout);
    if (getenv("KTX_MOCK_FULL_SHUTDOWN") == NULL)
        _exit(0);
    pthread_mutex_lock(&mock.waker.lock);
    mock.waker.stop = true;
    pthread_cond_signal(&mock.waker.cond);
    pthread_mutex_unlock(&mock.waker.lock);
    pthread_join(waker_thread, NULL);
    rd_kafka_mock_cluster_destroy(mock.mcluster);
    rd_kafka_destroy(mock.rk);
    for (int i = 0; i < mock.topic_cnt; i++)
        free(mock.topics[i].name);
    return 0;
}
