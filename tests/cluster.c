/*
 * Test helper: a child-process peer driven through the cluster control interface, and a
 * blocking framed-request client. See cluster.h.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kafkatx.h"

#define MAX_PEER_BROKERS 64
#define LINE_MAX_BYTES 4096
/* Commands may be longer than answers so that tests can probe a peer's line limit. */
#define CMD_MAX_BYTES 16384
#define FRAME_MAX_BYTES (64 * 1024 * 1024)

struct broker_addr {
    char host[256];
    int port;
};

struct ktx_test_cluster {
    pid_t pid;
    bool reaped;
    int wstatus;
    int to_peer;   /* the peer's stdin, -1 once closed */
    int from_peer; /* the peer's stdout */
    char rbuf[LINE_MAX_BYTES + 1];
    size_t rlen;
    char *bootstrap;
    struct broker_addr addrs[MAX_PEER_BROKERS];
    int broker_cnt;
    char last_error[LINE_MAX_BYTES + 32];
};

int64_t ktx_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until |deadline| (never negative). */
static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - ktx_test_now_ms();
    if (left < 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- locating and spawning the peer ---- */

/* True when |path| names a file this process may execute. */
static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

/*
 * Stores in |path| the binary of |peer|: the environment variable, else |rel| under the
 * current directory, else |rel| next to the running test (or one level up when the test
 * runs from libtool's .libs directory). Returns 0, or -1 when none is executable.
 */
static int find_binary(enum ktx_test_peer peer, char *path, size_t size)
{
    const char *env = getenv(peer == KTX_TEST_PEER_MOCK ? "KTX_MOCK_BIN" : "KTX_BROKER_BIN");
    const char *rel = peer == KTX_TEST_PEER_MOCK ? "cluster/ktx-mock" : "broker/ktx-broker";
    char exe[PATH_MAX];
    ssize_t n;

    if (env != NULL && *env != '\0') {
        snprintf(path, size, "%s", env);
        return executable(path) ? 0 : -1;
    }
    snprintf(path, size, "tests/%s", rel);
    if (executable(path))
        return 0;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
        int n2 = snprintf(path, size, "%s/%s", exe, rel);
        if (n2 > 0 && (size_t)n2 < size && executable(path))
            return 0;
    }
    return -1;
}

/* Runs in the forked child: wires the pipes to stdin/stdout and executes |argv|. */
static void exec_child(pid_t parent, int in_fd, int out_fd, char **argv)
{
    sigset_t none;

    /* Die with the test, even when it crashes before ktx_test_cluster_stop(). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], argv);
    /* Only async-signal-safe calls after fork: the test may have threads. */
    static const char msg[] = "cluster: cannot execute the peer binary\n";
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(127);
    _exit(127);
}

/* Builds the argv of the peer: |bin| --brokers N extra... NULL, in |argv| (|max| slots). */
static int build_argv(char **argv, size_t max, char *bin, char *count,
                      const char *const *extra_args)
{
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = (char *)"--brokers";
    argv[n++] = count;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        if (n + 1 >= max)
            return -1;
        argv[n++] = (char *)extra_args[i];
    }
    argv[n] = NULL;
    return 0;
}

/* Forks and executes |argv| with pipes on its stdin and stdout, kept in |c|. Returns 0 or
 * -1 (no child then). */
static int spawn(struct ktx_test_cluster *c, char **argv)
{
    int in[2], out[2];
    pid_t parent = getpid();

    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    c->pid = fork();
    if (c->pid == 0)
        exec_child(parent, in[0], out[1], argv);
    close(in[0]);
    close(out[1]);
    if (c->pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    c->to_peer = in[1];
    c->from_peer = out[0];
    return 0;
}

/* ---- reading the peer's lines ---- */

/*
 * Reads one line from the peer into |line| (NUL-terminated, newline stripped) within
 * |timeout_ms|. Returns 0, or -1 on timeout, EOF or an over-long line.
 */
static int read_line(struct ktx_test_cluster *c, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = ktx_test_now_ms() + timeout_ms;

    for (;;) {
        char *nl = memchr(c->rbuf, '\n', c->rlen);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->rbuf);
            if (n > 0 && c->rbuf[n - 1] == '\r')
                c->rbuf[n - 1] = '\0';
            *nl = '\0';
            snprintf(line, size, "%s", c->rbuf);
            c->rlen -= n + 1;
            memmove(c->rbuf, nl + 1, c->rlen);
            return 0;
        }
        if (c->rlen == LINE_MAX_BYTES)
            return -1;
        struct pollfd pfd = {c->from_peer, POLLIN, 0};
        int r = poll(&pfd, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read(c->from_peer, c->rbuf + c->rlen, LINE_MAX_BYTES - c->rlen);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        c->rlen += (size_t)got;
    }
}

/* Parses "host:port" (the last ':' separates the port) into |addr|. */
static int parse_addr(const char *s, size_t len, struct broker_addr *addr)
{
    const char *colon = NULL;
    char *end;
    long port;

    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(addr->host))
        return -1;
    memcpy(addr->host, s, (size_t)(colon - s));
    addr->host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end != s + len || end == colon + 1 || port <= 0 || port > 65535)
        return -1;
    addr->port = (int)port;
    return 0;
}

/* Parses "BOOTSTRAP a:1,b:2" into |c|. Returns 0 or -1. */
static int parse_bootstrap(struct ktx_test_cluster *c, const char *line)
{
    static const char prefix[] = "BOOTSTRAP ";
    const char *p;

    if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    p = line + sizeof(prefix) - 1;
    c->bootstrap = strdup(p);
    if (c->bootstrap == NULL)
        return -1;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (c->broker_cnt == MAX_PEER_BROKERS ||
            parse_addr(p, len, &c->addrs[c->broker_cnt]) != 0)
            return -1;
        c->broker_cnt++;
        p += len;
        if (*p == ',')
            p++;
    }
    return c->broker_cnt > 0 ? 0 : -1;
}

/* ---- lifecycle ---- */

/* Reaps the peer if it exited; returns true once it is reaped. */
static bool try_reap(struct ktx_test_cluster *c)
{
    if (!c->reaped && waitpid(c->pid, &c->wstatus, WNOHANG) == c->pid)
        c->reaped = true;
    return c->reaped;
}

int ktx_test_cluster_start(struct ktx_test_cluster **out, enum ktx_test_peer peer, int brokers,
                           const char *const *extra_args)
{
    struct ktx_test_cluster *c;
    char bin[PATH_MAX], count[16], line[LINE_MAX_BYTES];
    char *argv[64];

    *out = NULL;
    /* A peer that died must turn writes into EPIPE, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    if (find_binary(peer, bin, sizeof(bin)) != 0) {
        fprintf(stderr, "cluster: no %s binary (set %s)\n",
                peer == KTX_TEST_PEER_MOCK ? "ktx-mock" : "ktx-broker",
                peer == KTX_TEST_PEER_MOCK ? "KTX_MOCK_BIN" : "KTX_BROKER_BIN");
        return -1;
    }
    snprintf(count, sizeof(count), "%d", brokers);
    if (build_argv(argv, sizeof(argv) / sizeof(argv[0]), bin, count, extra_args) != 0)
        return -1;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    c->to_peer = c->from_peer = -1;
    if (spawn(c, argv) != 0) {
        free(c);
        return -1;
    }
    if (read_line(c, line, sizeof(line), KTX_TEST_CLUSTER_START_TIMEOUT_MS) != 0 ||
        parse_bootstrap(c, line) != 0) {
        fprintf(stderr, "cluster: %s printed no BOOTSTRAP line\n", bin);
        /* A peer that does not speak the interface is not asked to quit. */
        if (!try_reap(c))
            kill(c->pid, SIGKILL);
        ktx_test_cluster_close_input(c);
        ktx_test_cluster_stop(c);
        return -1;
    }
    *out = c;
    return 0;
}

const char *ktx_test_cluster_bootstrap(const struct ktx_test_cluster *c)
{
    return c->bootstrap;
}

int ktx_test_cluster_broker_count(const struct ktx_test_cluster *c)
{
    return c->broker_cnt;
}

int ktx_test_cluster_broker_addr(const struct ktx_test_cluster *c, int broker_id, char *host,
                                 size_t hostlen, int *port)
{
    const struct broker_addr *addr;

    if (broker_id < 1 || broker_id > c->broker_cnt)
        return -1;
    addr = &c->addrs[broker_id - 1];
    if (strlen(addr->host) >= hostlen)
        return -1;
    memcpy(host, addr->host, strlen(addr->host) + 1);
    *port = addr->port;
    return 0;
}

/* Writes all of |buf| to the peer's stdin. Returns 0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int ktx_test_cluster_cmd(struct ktx_test_cluster *c, const char *fmt, ...)
{
    char line[CMD_MAX_BYTES];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    c->last_error[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof(line) - 1 || strchr(line, '\n') != NULL) {
        snprintf(c->last_error, sizeof(c->last_error), "command not sendable");
        return -2;
    }
    line[n++] = '\n';
    if (c->to_peer < 0 || write_all(c->to_peer, line, (size_t)n) != 0) {
        snprintf(c->last_error, sizeof(c->last_error), "peer input closed");
        return -2;
    }
    if (read_line(c, line, sizeof(line), KTX_TEST_CLUSTER_CMD_TIMEOUT_MS) != 0) {
        snprintf(c->last_error, sizeof(c->last_error), "no answer from peer");
        return -2;
    }
    if (strcmp(line, "OK") == 0)
        return 0;
    if (strncmp(line, "ERR", 3) == 0) {
        snprintf(c->last_error, sizeof(c->last_error), "%.4000s", line[3] == ' ' ? line + 4 : "");
        return -1;
    }
    snprintf(c->last_error, sizeof(c->last_error), "unexpected answer: %.4000s", line);
    return -2;
}

const char *ktx_test_cluster_last_error(const struct ktx_test_cluster *c)
{
    return c->last_error;
}

pid_t ktx_test_cluster_pid(const struct ktx_test_cluster *c)
{
    return c->pid;
}

bool ktx_test_cluster_alive(struct ktx_test_cluster *c)
{
    return !try_reap(c);
}

void ktx_test_cluster_close_input(struct ktx_test_cluster *c)
{
    if (c->to_peer >= 0) {
        close(c->to_peer);
        c->to_peer = -1;
    }
}

int ktx_test_cluster_wait_exit(struct ktx_test_cluster *c, int timeout_ms, int *wstatus)
{
    int64_t deadline = ktx_test_now_ms() + timeout_ms;

    while (!try_reap(c)) {
        if (ktx_test_now_ms() >= deadline)
            return -1;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (wstatus != NULL)
        *wstatus = c->wstatus;
    return 0;
}

int ktx_test_cluster_stop(struct ktx_test_cluster *c)
{
    char line[LINE_MAX_BYTES];
    bool clean;

    if (c == NULL)
        return 0;
    if (c->to_peer >= 0 && !c->reaped && write_all(c->to_peer, "quit\n", 5) == 0)
        (void)read_line(c, line, sizeof(line), KTX_TEST_CLUSTER_STOP_TIMEOUT_MS);
    ktx_test_cluster_close_input(c);
    if (ktx_test_cluster_wait_exit(c, KTX_TEST_CLUSTER_STOP_TIMEOUT_MS, NULL) == 0) {
        clean = WIFEXITED(c->wstatus) && WEXITSTATUS(c->wstatus) == 0;
    } else {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, &c->wstatus, 0) < 0 && errno == EINTR)
            ;
        clean = false;
    }
    if (c->from_peer >= 0)
        close(c->from_peer);
    free(c->bootstrap);
    free(c);
    return clean ? 0 : -1;
}

/* ---- the raw client ---- */

/* Waits until |fd| is ready for |events| or |deadline| passes. Returns 0, or
 * KTX_ERR_TIMED_OUT / KTX_ERR_TRANSPORT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return KTX_ERR_TRANSPORT;
        return r == 0 ? KTX_ERR_TIMED_OUT : 0;
    }
}

/* Connects the non-blocking socket |fd| to |ai| within |deadline|; 0 or -1 (errno set). */
static int connect_within(int fd, const struct addrinfo *ai, int64_t deadline)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -1;
    if (wait_fd(fd, POLLOUT, deadline) != 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return -1;
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

int ktx_test_connect(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    int64_t deadline = ktx_test_now_ms() + timeout_ms;
    int fd, saved;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
        errno = EHOSTUNREACH;
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect_within(fd, res, deadline) != 0) {
        saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int ktx_test_cluster_connect(const struct ktx_test_cluster *c, int broker_id, int timeout_ms)
{
    if (broker_id < 1 || broker_id > c->broker_cnt) {
        errno = EINVAL;
        return -1;
    }
    return ktx_test_connect(c->addrs[broker_id - 1].host, c->addrs[broker_id - 1].port,
                            timeout_ms);
}

int ktx_test_send_frame(int fd, const void *frame, size_t len)
{
    uint8_t *buf = malloc(len + 4);
    size_t off = 0;
    int rc = 0;

    if (buf == NULL)
        return KTX_ERR_NO_MEMORY;
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    memcpy(buf + 4, frame, len);
    while (off < len + 4) {
        ssize_t n = send(fd, buf + off, len + 4 - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = KTX_ERR_TRANSPORT;
            break;
        }
        off += (size_t)n;
    }
    free(buf);
    return rc;
}

/* Reads exactly |len| bytes into |buf| before |deadline|. Returns 0 or a KTX_ERR code. */
static int recv_exact(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
    size_t off = 0;

    while (off < len) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0)
            return rc;
        ssize_t n = recv(fd, buf + off, len - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KTX_ERR_TRANSPORT;
        off += (size_t)n;
    }
    return 0;
}

int ktx_test_recv_frame(int fd, int timeout_ms, uint8_t **frame, size_t *len)
{
    int64_t deadline = ktx_test_now_ms() + timeout_ms;
    uint8_t size_buf[4];
    uint32_t size;
    int rc;

    *frame = NULL;
    *len = 0;
    rc = recv_exact(fd, size_buf, 4, deadline);
    if (rc != 0)
        return rc;
    size = (uint32_t)size_buf[0] << 24 | (uint32_t)size_buf[1] << 16 |
           (uint32_t)size_buf[2] << 8 | size_buf[3];
    if (size < 4 || size > FRAME_MAX_BYTES)
        return KTX_ERR_BAD_MSG;
    *frame = malloc(size);
    if (*frame == NULL)
        return KTX_ERR_NO_MEMORY;
    rc = recv_exact(fd, *frame, size, deadline);
    if (rc != 0) {
        free(*frame);
        *frame = NULL;
        return rc;
    }
    *len = size;
    return 0;
}

int ktx_test_rpc(int fd, const void *req, size_t req_len, uint8_t **resp, size_t *resp_len,
                 int timeout_ms)
{
    int rc = ktx_test_send_frame(fd, req, req_len);
    if (rc != 0) {
        *resp = NULL;
        *resp_len = 0;
        return rc;
    }
    return ktx_test_recv_frame(fd, timeout_ms, resp, resp_len);
}

/* ---- exchanges through kafkatx's codecs ---- */

int ktx_test_exchange(int fd, const struct ktx__proto_codec *codec, int16_t ver, const void *req,
                      void *resp, struct ktx_test_exchange *ex, int timeout_ms)
{
    static int32_t next_corr = 1;
    struct ktx__req_header hdr = {codec->api_key, ver, next_corr++, ktx__str_c("kafkatx-test")};
    struct ktx__writer w;
    struct ktx__reader r;
    int32_t corr = -1;
    int rc;

    memset(ex, 0, sizeof(*ex));
    ktx__arena_init(&ex->arena, 0);
    ktx__w_init(&w, 256, 0);
    rc = ktx__proto_req_header_encode(&w, &hdr);
    if (rc == 0)
        rc = codec->req_encode(&w, ver, req);
    if (rc == 0)
        rc = ktx_test_rpc(fd, w.p, w.len, &ex->raw, &ex->len, timeout_ms);
    ktx__w_free(&w);
    if (rc != 0)
        return rc;
    ktx__r_init(&r, ex->raw, ex->len);
    if (ktx__proto_resp_header_decode(&r, codec->api_key, ver, &corr) != 0 ||
        corr != hdr.correlation_id)
        return KTX_ERR_BAD_MSG;
    ex->correlation_id = corr;
    return codec->resp_decode(ex->raw + r.pos, ex->len - r.pos, ver, resp, &ex->arena);
}

void ktx_test_exchange_free(struct ktx_test_exchange *ex)
{
    if (ex == NULL)
        return;
    free(ex->raw);
    ktx__arena_free(&ex->arena);
    memset(ex, 0, sizeof(*ex));
}
