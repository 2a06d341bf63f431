/*
 * TLS sessions (sdk/tls.c) against a real peer: `openssl s_server -rev` on 127.0.0.1 with
 * an ephemeral port, run as a child process with certificates that tests/certs.sh makes in
 * a temporary directory. The client side runs on a non-blocking socket in a poll loop, as
 * the connection layer will.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"
#include "conf.h"
#include "tls.h"

#define KEY_PASSWORD "k3y-Pa55phrase-7431" /* written by tests/certs.sh */

static char certs[256];     /* the directory of the generated certificates */
static pid_t server_pid = -1;
static FILE *server_out;    /* the read end of the child's stdout and stderr */

/* ------------------------------------------------------------------------------------------
 * Helpers: certificates, the s_server child, the client socket.
 * ------------------------------------------------------------------------------------------ */

/* Returns $srcdir, or the source tree this file was compiled from. */
static const char *source_dir(char *buf, size_t size)
{
    const char *srcdir = getenv("srcdir");
    const char *slash;

    if (srcdir != NULL)
        return srcdir;
    slash = strrchr(__FILE__, '/');
    if (slash == NULL)
        return ".";
    snprintf(buf, size, "%.*s/..", (int)(slash - __FILE__), __FILE__);
    return buf;
}

static void certs_setup(void)
{
    char cmd[1024], buf[512];

    snprintf(certs, sizeof(certs), "/tmp/ktx-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(certs));
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs.sh' '%s'", source_dir(buf, sizeof(buf)),
             certs);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    signal(SIGPIPE, SIG_IGN);
}

static void certs_teardown(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", certs);
}

/* Returns "<certs>/<name>" in a static buffer (one of four, used round-robin). */
static const char *cert_path(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, sizeof(bufs[0]), "%s/%s", certs, name);
    return b;
}

/* Returns the malloc'ed contents of "<certs>/<name>". */
static char *read_cert_file(const char *name)
{
    FILE *f = fopen(cert_path(name), "rb");
    char *text = calloc(1, 65536);
    size_t n;

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(text);
    n = fread(text, 1, 65535, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    return text;
}

static void kill_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    if (server_out != NULL) {
        fclose(server_out);
        server_out = NULL;
    }
}

/* Execs openssl s_server with |args| (NULL-terminated, after the common ones): in -rev
 * mode (it answers each line reversed) when |in_fd| is -1, else reading |in_fd| as its
 * stdin (lines it sends to the client, and commands such as "r" to renegotiate). */
static void exec_server(int out_fd, int in_fd, const char *const *args)
{
    const char *argv[32] = {"openssl", "s_server", "-4", "-accept", "0", "-naccept", "1"};
    int argc = 7;

    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    if (in_fd < 0)
        argv[argc++] = "-rev";
    else
        dup2(in_fd, 0);
    while (*args != NULL && argc < 31)
        argv[argc++] = *args++;
    argv[argc] = NULL;
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    execvp("openssl", (char *const *)argv);
    _exit(127);
}

/*
 * Starts `openssl s_server` with the extra |args| (NULL-terminated) and returns the port it
 * printed on its ACCEPT line. With |stdin_fd| NULL it runs in -rev mode; otherwise the
 * write end of its stdin is stored there. The child is killed by the test's teardown (and
 * when the test process dies, through PR_SET_PDEATHSIG).
 */
static int start_server_io(const char *const *args, int *stdin_fd)
{
    char line[512];
    int fds[2], in[2] = {-1, -1}, port = -1;
    FILE *out;

    ck_assert_int_eq(pipe(fds), 0);
    if (stdin_fd != NULL)
        ck_assert_int_eq(pipe(in), 0);
    server_pid = fork();
    ck_assert_int_ge(server_pid, 0);
    if (server_pid == 0) {
        close(fds[0]);
        if (in[1] >= 0)
            close(in[1]);
        exec_server(fds[1], in[0], args);
    }
    close(fds[1]);
    if (stdin_fd != NULL) {
        close(in[0]);
        *stdin_fd = in[1];
    }
    out = fdopen(fds[0], "r");
    ck_assert_ptr_nonnull(out);
    while (port < 0 && fgets(line, sizeof(line), out) != NULL) {
        char *colon = strrchr(line, ':');

        if (strncmp(line, "ACCEPT", 6) == 0 && colon != NULL)
            port = atoi(colon + 1);
    }
    server_out = out; /* kept open: the server's later lines fit in the pipe's buffer */
    ck_assert_msg(port > 0, "openssl s_server did not print its port");
    return port;
}

static int start_server(const char *const *args)
{
    return start_server_io(args, NULL);
}

/* Starts s_server with certificate |name| (.pem and .key) and the extra |args|. */
static int start_server_with(const char *name, const char *a1, const char *a2,
                             const char *a3, const char *a4)
{
    char cert[512], key[512];
    const char *args[9] = {"-cert", cert, "-key", key, a1, a2, a3, a4, NULL};

    snprintf(cert, sizeof(cert), "%s/%s.pem", certs, name);
    snprintf(key, sizeof(key), "%s/%s.key", certs, name);
    return start_server(args);
}

static void server_teardown(void)
{
    kill_server();
}

/* Returns a connected non-blocking socket to 127.0.0.1:|port|. */
static int connect_nonblocking(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct pollfd pfd;
    int fd = socket(AF_INET, SOCK_STREAM, 0), soerr = 0;
    socklen_t slen = sizeof(soerr);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        ck_assert_int_eq(errno, EINPROGRESS);
        pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
        ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
        ck_assert_int_eq(soerr, 0);
    }
    return fd;
}

/* Waits until |fd| is ready for what |want| asks (a KTX__TLS_WANT_* code). */
static void wait_for(int fd, int want)
{
    struct pollfd pfd = {.fd = fd, .events = want == KTX__TLS_WANT_READ ? POLLIN : POLLOUT};

    ck_assert_msg(poll(&pfd, 1, 10000) == 1, "the peer did not answer within 10 s");
}

/* Error messages of the failures seen by the current test, for the secrets check. */
static char messages[4096];

static void note_message(const char *msg)
{
    size_t used = strlen(messages);

    snprintf(messages + used, sizeof(messages) - used, "%s\n", msg);
}

/* A client connected to a server: the session, its socket and the context. */
struct client {
    struct ktx__tls_ctx *ctx;
    struct ktx__tls *tls;
    int fd;
    char err[512];
};

/* Runs the handshake to |host| on a new connection to |port| with |cv|; returns its
 * result (0 or an error) with the message in |c->err|. */
static int client_handshake(struct client *c, const struct ktx__conf_values *cv, int port,
                            const char *host)
{
    int rc;

    memset(c, 0, sizeof(*c));
    rc = ktx__tls_ctx_new(&c->ctx, cv, c->err, sizeof(c->err));
    ck_assert_msg(rc == 0, "context: %s", c->err);
    c->fd = connect_nonblocking(port);
    ck_assert_int_eq(ktx__tls_session_new(&c->tls, c->ctx, c->fd, host), 0);
    while ((rc = ktx__tls_handshake(c->tls, c->err, sizeof(c->err))) == KTX__TLS_WANT_READ ||
           rc == KTX__TLS_WANT_WRITE)
        wait_for(c->fd, rc);
    if (rc != 0)
        note_message(c->err);
    return rc;
}

/* Sends one line through s_server -rev and checks the reversed answer. Returns 0 or the
 * error of the read or write (its message in |c->err|). */
static int client_exchange(struct client *c)
{
    const char *line = "hello kafkatx\n";
    char buf[256] = {0};
    size_t n = 0, got = 0, sent = 0;
    int rc;

    while (sent < strlen(line)) {
        rc = ktx__tls_write(c->tls, line + sent, strlen(line) - sent, &n, c->err,
                            sizeof(c->err));
        if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE) {
            wait_for(c->fd, rc);
            continue;
        }
        if (rc != 0)
            return rc;
        sent += n;
    }
    while (got == 0 || buf[got - 1] != '\n') {
        rc = ktx__tls_read(c->tls, buf + got, sizeof(buf) - 1 - got, &n, c->err,
                           sizeof(c->err));
        if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE) {
            wait_for(c->fd, rc);
            continue;
        }
        if (rc != 0) {
            note_message(c->err);
            return rc;
        }
        ck_assert_msg(n > 0, "the server closed the session before answering");
        got += n;
    }
    ck_assert_str_eq(buf, "xtakfak olleh\n");
    ck_assert_uint_eq(ktx__tls_pending(c->tls), 0);
    return 0;
}

static void client_close(struct client *c)
{
    if (c->tls != NULL)
        ktx__tls_shutdown(c->tls);
    ktx__tls_free(c->tls);
    ktx__tls_ctx_free(c->ctx);
    if (c->fd > 0)
        close(c->fd);
}

/* Conf values trusting the test CA and checking host names. */
static struct ktx__conf_values trusting(const char *ca)
{
    struct ktx__conf_values cv;

    memset(&cv, 0, sizeof(cv));
    cv.security_protocol = KTX__SECURITY_SSL;
    cv.ssl_ca_location = cert_path(ca);
    cv.ssl_verify_hostname = true;
    return cv;
}

/* ------------------------------------------------------------------------------------------
 * Tests.
 * ------------------------------------------------------------------------------------------ */

START_TEST(test_tls_trusted_ca_handshakes_and_exchanges_bytes)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    size_t n = 1;
    char buf[16];
    int rc;

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_str_eq(ktx__tls_version(c.tls), "TLSv1.3");
    ck_assert_int_eq(client_exchange(&c), 0);
    /* s_server -rev ends the session with close_notify on "CLOSE": a read of 0 bytes. */
    ck_assert_int_eq(ktx__tls_write(c.tls, "CLOSE\n", 6, &n, c.err, sizeof(c.err)), 0);
    while ((rc = ktx__tls_read(c.tls, buf, sizeof(buf), &n, c.err, sizeof(c.err))) ==
           KTX__TLS_WANT_READ)
        wait_for(c.fd, rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(n, 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_pending_counts_decrypted_bytes_not_yet_read)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    const char *line = "pending bytes\n";
    char buf[64] = {0};
    size_t n = 0, got = 0;
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL), rc;

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(ktx__tls_write(c.tls, line, strlen(line), &n, c.err, sizeof(c.err)), 0);
    ck_assert_uint_eq(n, strlen(line));
    /* One byte at a time: the rest of the server's record waits inside the session, where
     * poll(2) cannot see it. */
    while ((rc = ktx__tls_read(c.tls, buf, 1, &n, c.err, sizeof(c.err))) == KTX__TLS_WANT_READ)
        wait_for(c.fd, rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(buf[0], 's');
    ck_assert_uint_eq(ktx__tls_pending(c.tls), strlen(line) - 1);
    ck_assert_int_eq(ktx__tls_read(c.tls, buf + 1, sizeof(buf) - 2, &got, c.err,
                                   sizeof(c.err)), 0);
    ck_assert_str_eq(buf, "setyb gnidnep\n");
    ck_assert_uint_eq(ktx__tls_pending(c.tls), 0);
    client_close(&c);
}
END_TEST

/* Waits up to 10 s for a line of the server's output that contains |needle|. */
static bool server_printed(const char *needle)
{
    int fd = fileno(server_out);
    char line[1024];

    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int waited = 0; waited < 10000; waited += 20) {
        while (fgets(line, sizeof(line), server_out) != NULL) {
            if (strstr(line, needle) != NULL)
                return true;
        }
        clearerr(server_out);
        usleep(20000);
    }
    return false;
}

/*
 * Makes the server start a handshake message of its own with |command| on its stdin
 * ("r": TLS 1.2 renegotiation; "K": TLS 1.3 KeyUpdate that asks for ours), then send a
 * line. The client must answer inside ktx__tls_read() (a read that writes) and still
 * receive the line; the server must then decrypt what the client writes with the new keys.
 */
static void check_server_initiated_handshake(const char *version, const char *command)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    const char *args[] = {"-cert", cert_path("server.pem"), "-key", cert_path("server.key"),
                          version, NULL};
    char buf[64] = {0};
    size_t got = 0, n;
    struct client c;
    int in = -1, rc, port = start_server_io(args, &in);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert(server_printed("CIPHER is"));
    /* s_server takes a command only when it is alone in one read of its stdin (and its
     * own report of it stays in its stdout buffer): a pause separates it from the line. */
    ck_assert_int_eq(write(in, command, strlen(command)), (ssize_t)strlen(command));
    usleep(300000);
    ck_assert_int_eq(write(in, "hello\n", 6), 6);
    while (got == 0 || buf[got - 1] != '\n') {
        rc = ktx__tls_read(c.tls, buf + got, sizeof(buf) - 1 - got, &n, c.err, sizeof(c.err));
        if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE) {
            wait_for(c.fd, rc);
            continue;
        }
        ck_assert_msg(rc == 0 && n > 0, "read: %d %s", rc, c.err);
        got += n;
    }
    ck_assert_str_eq(buf, "hello\n");
    do {
        rc = ktx__tls_write(c.tls, "ping-after-update\n", 18, &n, c.err, sizeof(c.err));
        if (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE)
            wait_for(c.fd, rc);
    } while (rc == KTX__TLS_WANT_READ || rc == KTX__TLS_WANT_WRITE);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(server_printed("ping-after-update"), "the server did not read our line");
    close(in);
    client_close(&c);
}

START_TEST(test_tls_read_answers_tls12_renegotiation)
{
    check_server_initiated_handshake("-tls1_2", "r\n");
}
END_TEST

START_TEST(test_tls_read_answers_tls13_key_update_request)
{
    check_server_initiated_handshake("-tls1_3", "K\n");
}
END_TEST

START_TEST(test_tls_ip_address_is_checked_against_ip_san)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "127.0.0.1"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_server_signed_by_unknown_ca_fails_with_auth)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("untrusted", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "certificate verify failed: unable to get local issuer") &&
                      strstr(c.err, "localhost"), "message: %s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_client_trusting_wrong_ca_fails_with_auth)
{
    struct ktx__conf_values cv = trusting("wrongca.pem");
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "certificate verify failed"), "message: %s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_wrong_host_fails_with_https_and_passes_with_none)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("wronghost", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "hostname mismatch") && strstr(c.err, "expected host localhost"),
                  "message: %s", c.err);
    client_close(&c);
    kill_server();

    port = start_server_with("wronghost", NULL, NULL, NULL, NULL);
    cv.ssl_verify_hostname = false; /* ssl.endpoint.identification.algorithm=none */
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_wrong_ip_fails_with_https)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("wronghost", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "127.0.0.1"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "IP address mismatch") && strstr(c.err, "127.0.0.1"),
                  "message: %s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_expired_server_certificate_fails_with_auth)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("expired", NULL, NULL, NULL, NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "certificate has expired"), "message: %s", c.err);
    client_close(&c);
}
END_TEST

/* Starts a server that requires a client certificate signed by the test CA. */
static int start_mtls_server(void)
{
    return start_server_with("server", "-Verify", "1", "-CAfile", cert_path("ca.pem"));
}

START_TEST(test_tls_mutual_tls_with_client_certificate_succeeds)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_mtls_server();

    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_location = cert_path("client.key");
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_mutual_tls_without_client_certificate_fails_with_auth)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_mtls_server();
    int rc;

    /* TLS 1.3: the client finishes first; the server's refusal comes with the first read. */
    rc = client_handshake(&c, &cv, port, "localhost");
    if (rc == 0)
        rc = client_exchange(&c);
    ck_assert_int_eq(rc, KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "certificate required"), "message: %s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_encrypted_key_with_right_password_authenticates)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_mtls_server();

    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_location = cert_path("client-enc.key");
    cv.ssl_key_password = KEY_PASSWORD;
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_encrypted_key_with_wrong_or_no_password_is_bad_config)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct ktx__tls_ctx *ctx = NULL;
    char err[512] = "";

    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_location = cert_path("client-enc.key");
    cv.ssl_key_password = "not-the-password-9913";
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err, "client-enc.key") && strstr(err, "bad decrypt"), "%s", err);
    ck_assert_ptr_null(strstr(err, "not-the-password-9913"));

    cv.ssl_key_password = NULL; /* must fail, never prompt on the terminal */
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(err, "client-enc.key"), "%s", err);
}
END_TEST

START_TEST(test_tls_pem_strings_replace_files)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    char *ca = read_cert_file("ca.pem"), *cert = read_cert_file("client.pem");
    char *key = read_cert_file("client-enc.key");
    struct client c;
    int port = start_mtls_server();

    cv.ssl_ca_location = NULL;
    cv.ssl_ca_pem = ca;
    cv.ssl_certificate_pem = cert;
    cv.ssl_key_pem = key;
    cv.ssl_key_password = KEY_PASSWORD;
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
    free(ca);
    free(cert);
    free(key);
}
END_TEST

START_TEST(test_tls_system_store_is_used_when_no_ca_is_set)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    /* The system's CAs load (no error) and do not vouch for the private test CA. */
    cv.ssl_ca_location = NULL;
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "unable to get local issuer certificate"), "%s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_ca_pem_of_wrong_ca_fails_with_auth)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    char *wrong = read_cert_file("wrongca.pem");
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    cv.ssl_ca_location = NULL;
    cv.ssl_ca_pem = wrong;
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    client_close(&c);
    free(wrong);
}
END_TEST

START_TEST(test_tls_ca_directory_is_trusted)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    char cmd[2048];
    struct client c;
    int port = start_server_with("server", NULL, NULL, NULL, NULL);

    snprintf(cmd, sizeof(cmd), "mkdir -p %s/cadir && cp %s/ca.pem %s/cadir/ && openssl rehash "
             "%s/cadir", certs, certs, certs, certs);
    ck_assert_int_eq(system(cmd), 0);
    cv.ssl_ca_location = cert_path("cadir");
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_server_speaking_only_tls11_is_refused)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct client c;
    int port = start_server_with("server", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL);

    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    ck_assert_msg(strstr(c.err, "TLS handshake with localhost failed"), "%s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_cipher_suites_are_applied_to_tls12)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct ktx__tls_ctx *ctx = NULL;
    char err[512];
    struct client c;
    int port = start_server_with("server", "-tls1_2", NULL, NULL, NULL);

    cv.ssl_cipher_suites = "ECDHE-ECDSA-AES128-GCM-SHA256";
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_str_eq(ktx__tls_version(c.tls), "TLSv1.2");
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);

    cv.ssl_cipher_suites = "NO-SUCH-CIPHER";
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(err, "ssl.cipher.suites"), "%s", err);
}
END_TEST

START_TEST(test_tls_missing_files_are_bad_config)
{
    struct ktx__conf_values cv = trusting("no-such-ca.pem");
    struct ktx__tls_ctx *ctx = NULL;
    char err[512];

    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(err, "no-such-ca.pem") && strstr(err, "No such file"), "%s", err);
    cv = trusting("ca.pem");
    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_location = cert_path("server.key"); /* not the certificate's key */
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(err, "server.key") && strstr(err, "key values mismatch"), "%s", err);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(test_tls_conf_properties_resolve_into_a_working_context)
{
    ktx_conf_t *conf = ktx_conf_new();
    struct ktx__conf_values cv;
    struct client c;
    char err[256];
    int port = start_mtls_server();
    const char *props[][2] = {
        {"bootstrap.servers", "localhost:9093"},
        {"security.protocol", "SSL"},
        {"ssl.ca.location", cert_path("ca.pem")},
        {"ssl.certificate.location", cert_path("client.pem")},
        {"ssl.key.location", cert_path("client-enc.key")},
        {"ssl.key.password", KEY_PASSWORD},
    };

    for (size_t i = 0; i < KTX__ARRAY_LEN(props); i++) {
        ktx_error_t *e = ktx_conf_set(conf, props[i][0], props[i][1]);

        ck_assert_msg(e == NULL, "%s: %s", props[i][0], ktx_error_message(e));
    }
    ck_assert_int_eq(ktx__conf_resolve(conf, &cv, err, sizeof(err)), 0);
    ck_assert(cv.ssl_verify_hostname);
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), 0);
    ck_assert_int_eq(client_exchange(&c), 0);
    client_close(&c);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_tls_session_refuses_bad_arguments)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct ktx__tls_ctx *ctx = NULL;
    struct ktx__tls *tls = NULL;
    char err[256];

    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), 0);
    ck_assert_int_eq(ktx__tls_session_new(&tls, ctx, -1, "localhost"), KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__tls_session_new(&tls, ctx, 0, ""), KTX_ERR_INVALID_ARG);
    ck_assert_ptr_null(tls);
    ktx__tls_ctx_free(ctx);
    ktx__tls_ctx_free(NULL);
    ktx__tls_free(NULL);
}
END_TEST

/*
 * Runs a handshake against a peer that does not speak TLS: it accepts, reads the
 * ClientHello when |read_hello| (then its close sends a clean FIN) or not (then the close
 * resets the connection), and hangs up. Returns the handshake result.
 */
static int handshake_with_hangup(bool read_hello, struct client *c)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t slen = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), afd, rc;
    char hello[4096];

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &slen), 0);
    memset(c, 0, sizeof(*c));
    ck_assert_int_eq(ktx__tls_ctx_new(&c->ctx, &cv, c->err, sizeof(c->err)), 0);
    c->fd = connect_nonblocking(ntohs(sa.sin_port));
    afd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(ktx__tls_session_new(&c->tls, c->ctx, c->fd, "localhost"), 0);
    rc = ktx__tls_handshake(c->tls, c->err, sizeof(c->err));
    ck_assert_int_eq(rc, KTX__TLS_WANT_READ); /* the ClientHello is sent */
    if (read_hello)
        ck_assert_int_gt(recv(afd, hello, sizeof(hello), 0), 0);
    close(afd);
    close(lfd);
    while ((rc = ktx__tls_handshake(c->tls, c->err, sizeof(c->err))) == KTX__TLS_WANT_READ ||
           rc == KTX__TLS_WANT_WRITE)
        wait_for(c->fd, rc);
    return rc;
}

START_TEST(test_tls_peer_closing_during_handshake_is_transport_error)
{
    struct client c;

    /* A clean close (EOF) and a reset are both transport failures, not authentication. */
    ck_assert_int_eq(handshake_with_hangup(true, &c), KTX_ERR_TRANSPORT);
    ck_assert_msg(strstr(c.err, "localhost: connection closed by the peer"), "%s", c.err);
    client_close(&c);
    ck_assert_int_eq(handshake_with_hangup(false, &c), KTX_ERR_TRANSPORT);
    ck_assert_msg(strstr(c.err, "localhost: Connection reset by peer"), "%s", c.err);
    client_close(&c);
}
END_TEST

START_TEST(test_tls_failure_messages_never_contain_key_or_password)
{
    struct ktx__conf_values cv = trusting("ca.pem");
    char *key_pem = read_cert_file("client.key"), *enc_pem = read_cert_file("client-enc.key");
    struct ktx__tls_ctx *ctx = NULL;
    struct client c;
    char err[512];
    int port, rc;

    messages[0] = '\0';
    /* Every failure this suite makes, with the secrets set wherever they can be. */
    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_pem = enc_pem;
    cv.ssl_key_password = "wr0ng-" KEY_PASSWORD;
    err[0] = '\0';
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    note_message(err);
    cv.ssl_key_pem = key_pem;
    cv.ssl_certificate_location = cert_path("server.pem");
    ck_assert_int_eq(ktx__tls_ctx_new(&ctx, &cv, err, sizeof(err)), KTX_ERR_BAD_CONFIG);
    note_message(err);

    cv = trusting("wrongca.pem");
    cv.ssl_certificate_location = cert_path("client.pem");
    cv.ssl_key_location = cert_path("client-enc.key");
    cv.ssl_key_password = KEY_PASSWORD;
    port = start_mtls_server();
    ck_assert_int_eq(client_handshake(&c, &cv, port, "localhost"), KTX_ERR_AUTH);
    client_close(&c);
    kill_server();

    cv = trusting("ca.pem");
    cv.ssl_key_password = KEY_PASSWORD;
    port = start_mtls_server();
    rc = client_handshake(&c, &cv, port, "localhost");
    if (rc == 0)
        rc = client_exchange(&c);
    ck_assert_int_eq(rc, KTX_ERR_AUTH);
    client_close(&c);

    ck_assert_msg(strstr(messages, "bad decrypt") && strstr(messages, "certificate"), "%s",
                  messages);
    ck_assert_ptr_null(strstr(messages, KEY_PASSWORD));
    ck_assert_ptr_null(strstr(messages, "PRIVATE KEY"));
    /* No line of either key's base64 body appears either. */
    for (char *line = strtok(key_pem, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (line[0] != '-')
            ck_assert_ptr_null(strstr(messages, line));
    free(key_pem);
    free(enc_pem);
}
END_TEST

START_TEST(test_crypto_wrappers_match_known_answers)
{
    uint8_t out[64];
    size_t len;
    uint8_t *want;

    /* FIPS 180-2 "abc". */
    ck_assert_int_eq(ktx__crypto_hash(KTX__HASH_SHA256, "abc", 3, out), 0);
    want = ktx_test_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                          &len);
    ck_assert_mem_eq(out, want, len);
    free(want);
    /* RFC 4231 test case 2. */
    ck_assert_int_eq(ktx__crypto_hmac(KTX__HASH_SHA512, "Jefe", 4,
                                      "what do ya want for nothing?", 28, out), 0);
    want = ktx_test_unhex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                          "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                          &len);
    ck_assert_mem_eq(out, want, len);
    free(want);
    /* RFC 7914 section 11, PBKDF2-HMAC-SHA256 ("passwd", "salt", 1). */
    ck_assert_int_eq(ktx__crypto_pbkdf2(KTX__HASH_SHA256, "passwd", 6, (const uint8_t *)"salt",
                                        4, 1, out, 64), 0);
    want = ktx_test_unhex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                          "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
                          &len);
    ck_assert_mem_eq(out, want, len);
    free(want);
    ck_assert_int_eq(ktx__crypto_pbkdf2(KTX__HASH_SHA256, "p", 1, out, 1, 0, out, 32),
                     KTX_ERR_INVALID_ARG);
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(ktx__crypto_random(out, 32), 0);
    ck_assert_int_ne(memcmp(out, out + 32, 32), 0); /* 32 random bytes are not all zero */
    ck_assert_uint_eq(ktx__crypto_hash_size(KTX__HASH_SHA512), 64);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("s_server");

    tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
    tcase_add_checked_fixture(tc, NULL, server_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tls_trusted_ca_handshakes_and_exchanges_bytes);
    tcase_add_test(tc, test_tls_pending_counts_decrypted_bytes_not_yet_read);
    tcase_add_test(tc, test_tls_read_answers_tls12_renegotiation);
    tcase_add_test(tc, test_tls_read_answers_tls13_key_update_request);
    tcase_add_test(tc, test_tls_ip_address_is_checked_against_ip_san);
    tcase_add_test(tc, test_tls_server_signed_by_unknown_ca_fails_with_auth);
    tcase_add_test(tc, test_tls_client_trusting_wrong_ca_fails_with_auth);
    tcase_add_test(tc, test_tls_wrong_host_fails_with_https_and_passes_with_none);
    tcase_add_test(tc, test_tls_wrong_ip_fails_with_https);
    tcase_add_test(tc, test_tls_expired_server_certificate_fails_with_auth);
    tcase_add_test(tc, test_tls_mutual_tls_with_client_certificate_succeeds);
    tcase_add_test(tc, test_tls_mutual_tls_without_client_certificate_fails_with_auth);
    tcase_add_test(tc, test_tls_encrypted_key_with_right_password_authenticates);
    tcase_add_test(tc, test_tls_encrypted_key_with_wrong_or_no_password_is_bad_config);
    tcase_add_test(tc, test_tls_pem_strings_replace_files);
    tcase_add_test(tc, test_tls_system_store_is_used_when_no_ca_is_set);
    tcase_add_test(tc, test_tls_ca_pem_of_wrong_ca_fails_with_auth);
    tcase_add_test(tc, test_tls_ca_directory_is_trusted);
    tcase_add_test(tc, test_tls_server_speaking_only_tls11_is_refused);
    tcase_add_test(tc, test_tls_cipher_suites_are_applied_to_tls12);
    tcase_add_test(tc, test_tls_missing_files_are_bad_config);
    tcase_add_test(tc, test_tls_conf_properties_resolve_into_a_working_context);
    tcase_add_test(tc, test_tls_session_refuses_bad_arguments);
    tcase_add_test(tc, test_tls_peer_closing_during_handshake_is_transport_error);
    tcase_add_test(tc, test_tls_failure_messages_never_contain_key_or_password);
    tcase_add_test(tc, test_crypto_wrappers_match_known_answers);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(tls_suite)
