/*
 * ktx-broker's network loop: listeners, connections, request framing, delayed in-order
 * responses, control commands on stdin and the data directory. See server.h.
 */
#include "server.h"

#include "bsasl.h"
#include "btls.h"
#include "handlers.h"
#include "persist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME ((size_t)100 << 20)
#define MAX_CONNS 1024
#define TICK_MS 1000
#define STDIN_MAX 4096
#define LINGER_MS 2000

/* One response waiting to be sent. */
struct pending {
    uint8_t *buf;
    size_t len;
    size_t sent;
    int64_t send_at_ms;
    struct pending *next;
};

struct conn {
    int fd;
    int32_t index; /* of the broker in the cluster's array (node id - 1) */
    uint32_t generation;
    uint8_t *rbuf;
    size_t rlen;
    size_t rcap;
    struct pending *head;
    struct pending *tail;
    struct kb_tls_conn *tls;   /* NULL on a plaintext listener */
    struct kb_sasl_conn *sasl; /* NULL on a listener without SASL */
    int64_t linger_until_ms;   /* > 0: refused, write side shut, input discarded until then */
};

struct server {
    struct kb_cluster c;
    const struct kb_server_conf *conf;
    FILE *out;
    int listeners[KB_MAX_BROKERS];
    struct conn *conns[MAX_CONNS];
    size_t n_conns;
    char stdin_buf[STDIN_MAX];
    size_t stdin_len;
    bool stdin_open;
    int64_t next_tick_ms;
    size_t saved_topics;
    struct kb_tls *tls; /* the TLS server context, NULL without TLS */
    int64_t reopen_at_ms[KB_MAX_BROKERS]; /* a restarted broker's listener returns then; 0: none */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- listeners ---- */

/* Opens broker |node|'s listener on |port| (0: ephemeral) and records the port. */
static int open_listener(struct server *s, int32_t node, int port)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return KTX_ERR_TRANSPORT;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
        close(fd);
        return KTX_ERR_TRANSPORT;
    }
    s->listeners[node] = fd;
    s->c.brokers[node].port = ntohs(addr.sin_port);
    return 0;
}

static void close_listener(struct server *s, int32_t node)
{
    if (s->listeners[node] >= 0)
        close(s->listeners[node]);
    s->listeners[node] = -1;
}

/* ---- listener security (TLS: btls.h, SASL: bsasl.h) ---- */

/* Sets up TLS and SASL as |s->conf| asks. Returns 0 or KTX_ERR_BAD_CONFIG. */
static int security_start(struct server *s)
{
    char err[512];

    if (s->conf->tls && kb_tls_new(&s->tls, s->conf->tls, err, sizeof(err)) != 0) {
        fprintf(stderr, "ktx-broker: TLS: %s\n", err);
        return KTX_ERR_BAD_CONFIG;
    }
    if (s->conf->sasl && kb_sasl_init(s->conf->sasl, err, sizeof(err)) != 0) {
        fprintf(stderr, "ktx-broker: SASL: %s\n", err);
        return KTX_ERR_BAD_CONFIG;
    }
    return 0;
}

static void security_stop(struct server *s)
{
    kb_tls_free(s->tls);
    s->tls = NULL;
    if (s->conf->sasl)
        kb_sasl_done();
}

/* Gives a new connection its TLS session and SASL state. Returns false when out of memory. */
static bool conn_secure(struct server *s, struct conn *conn)
{
    if (s->tls && !(conn->tls = kb_tls_conn_new(s->tls, conn->fd)))
        return false;
    return !s->conf->sasl || (conn->sasl = kb_sasl_conn_new()) != NULL;
}

/* read(2) or a TLS read: the same results. */
static ssize_t conn_recv(struct conn *conn, void *buf, size_t len)
{
    return conn->tls ? kb_tls_read(conn->tls, buf, len) : read(conn->fd, buf, len);
}

/* send(2) or a TLS write: the same results. */
static ssize_t conn_send(struct conn *conn, const void *buf, size_t len)
{
    return conn->tls ? kb_tls_write(conn->tls, buf, len) : send(conn->fd, buf, len, MSG_NOSIGNAL);
}

/* ---- connections ---- */

static void conn_close(struct server *s, size_t i)
{
    struct conn *conn = s->conns[i];

    while (conn->head) {
        struct pending *p = conn->head;
        conn->head = p->next;
        free(p->buf);
        free(p);
    }
    kb_tls_conn_free(conn->tls);
    kb_sasl_conn_free(conn->sasl);
    close(conn->fd);
    free(conn->rbuf);
    free(conn);
    s->conns[i] = s->conns[--s->n_conns];
}

/*
 * Ends |conn| after a refusal that the client must be able to read (a TLS alert, an answered
 * SASL failure): the write side is shut (FIN after the refusal) and whatever the client still
 * sends is read and thrown away until it hangs up or LINGER_MS pass. Closing at once with
 * unread input would answer with a RST, and a RST can overtake the alert in the client's
 * receive path: with TLS 1.3 the client sends its first request right after its Finished, so
 * "certificate required" would reach it as "connection reset by peer".
 */
static void conn_linger(struct conn *conn, int64_t now)
{
    if (conn->linger_until_ms)
        return;
    while (conn->head) {
        struct pending *p = conn->head;
        conn->head = p->next;
        free(p->buf);
        free(p);
    }
    conn->tail = NULL;
    shutdown(conn->fd, SHUT_WR);
    conn->linger_until_ms = now + LINGER_MS;
}

/* Reads and discards a lingering connection's input. Returns true when it is finished
 * (the client hung up, an error, or the time is up). */
static bool conn_drain(struct conn *conn, bool readable, int64_t now)
{
    uint8_t scratch[4096];

    while (readable) {
        ssize_t n = read(conn->fd, scratch, sizeof(scratch));
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return true;
    }
    return now >= conn->linger_until_ms;
}

static void accept_conn(struct server *s, int32_t node)
{
    int fd = accept4(s->listeners[node], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int one = 1;
    struct conn *conn;

    if (fd < 0)
        return;
    if (s->n_conns == MAX_CONNS || !(conn = calloc(1, sizeof(*conn)))) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn->fd = fd;
    conn->index = node;
    conn->generation = s->c.brokers[node].generation;
    s->conns[s->n_conns++] = conn;
    if (!conn_secure(s, conn))
        conn_close(s, s->n_conns - 1);
}

/* Queues |out| (a response without size prefix) behind the connection's earlier ones. */
static int enqueue(struct conn *conn, const struct ktx__writer *out, int64_t delay_ms)
{
    struct pending *p = calloc(1, sizeof(*p));
    int64_t at = mono_ms() + delay_ms;

    if (!p || !(p->buf = malloc(out->len + 4))) {
        free(p);
        return KTX_ERR_NO_MEMORY;
    }
    ktx__be32_put(p->buf, (uint32_t)out->len);
    memcpy(p->buf + 4, out->p, out->len);
    p->len = out->len + 4;
    p->send_at_ms = conn->tail && conn->tail->send_at_ms > at ? conn->tail->send_at_ms : at;
    if (conn->tail)
        conn->tail->next = p;
    else
        conn->head = p;
    conn->tail = p;
    return 0;
}

/* Handles every complete frame in the read buffer. Returns 0 or an error (close). */
static int handle_frames(struct server *s, struct conn *conn)
{
    size_t pos = 0;
    int err = 0;

    while (!err && conn->rlen - pos >= 4) {
        size_t size = ktx__be32_get(conn->rbuf + pos);
        struct ktx__writer out;
        struct kb_reply reply;
        if (size > MAX_FRAME)
            return KTX_ERR_BAD_MSG;
        if (conn->rlen - pos - 4 < size)
            break;
        ktx__w_init(&out, 1024, 0);
        if (conn->sasl)
            err = kb_sasl_handle_request(&s->c, s->c.brokers[conn->index].node_id, conn->sasl,
                                         conn->rbuf + pos + 4, size, wall_ms(), &out, &reply);
        else
            err = kb_handle_request(&s->c, s->c.brokers[conn->index].node_id, conn->rbuf + pos + 4,
                                    size, wall_ms(), &out, &reply);
        if (!err && reply.send)
            err = enqueue(conn, &out, reply.delay_ms);
        ktx__w_free(&out);
        pos += 4 + size;
    }
    if (pos > 0) /* rbuf is still NULL on a new connection's first call (UBSan: memmove) */
        memmove(conn->rbuf, conn->rbuf + pos, conn->rlen - pos);
    conn->rlen -= pos;
    return err;
}

/* Reads what the socket has. Returns 0, or an error when the connection must close. */
static int conn_read(struct server *s, struct conn *conn)
{
    for (;;) {
        ssize_t n;
        int err;
        /* Complete frames are served before the buffer grows: a client that pipelines
         * faster than one read would otherwise grow it past any frame and be dropped. */
        if (conn->rlen >= 4 && conn->rcap - conn->rlen < 65536 && (err = handle_frames(s, conn)))
            return err;
        if (conn->rcap - conn->rlen < 65536) {
            size_t cap = conn->rcap ? conn->rcap * 2 : 131072;
            uint8_t *np;
            if (cap > MAX_FRAME + 65536 + 4 || !(np = realloc(conn->rbuf, cap)))
                return KTX_ERR_NO_MEMORY;
            conn->rbuf = np;
            conn->rcap = cap;
        }
        n = conn_recv(conn, conn->rbuf + conn->rlen, conn->rcap - conn->rlen);
        if (n > 0) {
            conn->rlen += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EPROTO && conn->tls)
            return KTX_ERR_AUTH; /* the TLS layer refused the client and sent an alert */
        return KTX_ERR_TRANSPORT;
    }
    return handle_frames(s, conn);
}

/* Sends the responses that are due. Returns 0 or KTX_ERR_TRANSPORT. */
static int conn_write(struct conn *conn, int64_t now)
{
    while (conn->head && conn->head->send_at_ms <= now) {
        struct pending *p = conn->head;
        ssize_t n = conn_send(conn, p->buf + p->sent, p->len - p->sent);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : KTX_ERR_TRANSPORT;
        p->sent += (size_t)n;
        if (p->sent < p->len)
            return 0;
        conn->head = p->next;
        if (!conn->head)
            conn->tail = NULL;
        free(p->buf);
        free(p);
    }
    return 0;
}

/* ---- data directory ---- */

static void partition_path(const struct server *s, const struct kb_topic *t, int32_t index,
                           char *path, size_t len)
{
    snprintf(path, len, "%s/%s-%d.log", s->conf->data_dir, t->name, (int)index);
}

/* Appends the batches stored since the last call to each partition's file. */
static void persist_logs(struct server *s)
{
    for (size_t i = 0; i < s->c.n_topics; i++) {
        struct kb_topic *t = &s->c.topics[i];
        for (int32_t j = 0; j < t->n_partitions; j++) {
            struct kb_partition *p = &t->partitions[j];
            char path[4096];
            if (p->n_persisted == p->log.n_entries)
                continue;
            partition_path(s, t, j, path, sizeof(path));
            size_t from = p->log.entries[p->n_persisted].pos;
            if (kb_persist_append_file(path, p->log.data + from, p->log.len - from) == 0)
                p->n_persisted = p->log.n_entries;
        }
    }
}

static void persist_topics(struct server *s)
{
    struct ktx__writer w;
    char path[4096];

    ktx__w_init(&w, 256, 0);
    for (size_t i = 0; i < s->c.n_topics; i++) {
        char line[512];
        int n = snprintf(line, sizeof(line), "%s %d %d\n", s->c.topics[i].name,
                         (int)s->c.topics[i].n_partitions, (int)s->c.topics[i].replication);
        ktx__w_raw(&w, line, (size_t)n);
    }
    snprintf(path, sizeof(path), "%s/topics", s->conf->data_dir);
    if (!w.err && kb_persist_write_file(path, w.p, w.len) == 0)
        s->saved_topics = s->c.n_topics;
    ktx__w_free(&w);
}

static void persist_state(struct server *s)
{
    struct ktx__writer w;
    char path[4096];

    ktx__w_init(&w, 1024, 0);
    snprintf(path, sizeof(path), "%s/state.snap", s->conf->data_dir);
    if (kb_persist_state_encode(&w, &s->c.txncoord, &s->c.groups) == 0 &&
        kb_persist_write_file(path, w.p, w.len) == 0)
        s->c.dirty_state = false;
    ktx__w_free(&w);
}

static void persist(struct server *s)
{
    if (!s->conf->data_dir)
        return;
    if (s->saved_topics != s->c.n_topics)
        persist_topics(s);
    persist_logs(s);
    if (s->c.dirty_state)
        persist_state(s);
}

/* Recreates the topics of the data directory and reloads their logs. */
static int load_topics(struct server *s)
{
    char path[4096], name[256];
    uint8_t *bytes;
    size_t len;
    int partitions, replication, consumed;
    int err;

    snprintf(path, sizeof(path), "%s/topics", s->conf->data_dir);
    if ((err = kb_persist_read_file(path, &bytes, &len)) || !bytes)
        return err;
    char *text = malloc(len + 1), *cur = text;
    if (!text) {
        free(bytes);
        return KTX_ERR_NO_MEMORY;
    }
    memcpy(text, bytes, len);
    text[len] = '\0';
    free(bytes);
    while (!err && sscanf(cur, "%255s %d %d%n", name, &partitions, &replication, &consumed) == 3) {
        cur += consumed;
        err = kb_cluster_add_topic(&s->c, name, partitions,
                                   replication > s->c.n_brokers ? s->c.n_brokers : replication);
        for (int32_t j = 0; !err && j < partitions; j++) {
            struct kb_partition *p = &s->c.topics[s->c.n_topics - 1].partitions[j];
            partition_path(s, &s->c.topics[s->c.n_topics - 1], j, path, sizeof(path));
            if ((err = kb_persist_read_file(path, &bytes, &len)) == 0 && bytes)
                err = kb_plog_load(&p->log, bytes, len);
            free(bytes);
            p->n_persisted = p->log.n_entries;
        }
    }
    free(text);
    s->saved_topics = s->c.n_topics;
    return err ? KTX_ERR_STORE : 0;
}

/* Loads the data directory and finishes the transactions that were being completed. */
static int load_data_dir(struct server *s)
{
    char path[4096];
    uint8_t *bytes;
    size_t len, n;
    struct kb_txn_markers *work;
    int err;

    if (!s->conf->data_dir)
        return 0;
    if ((err = load_topics(s)))
        return err;
    snprintf(path, sizeof(path), "%s/state.snap", s->conf->data_dir);
    if ((err = kb_persist_read_file(path, &bytes, &len)))
        return err;
    if (bytes)
        err = kb_persist_state_decode(bytes, len, &s->c.txncoord, &s->c.groups);
    free(bytes);
    if (err || (err = kb_txncoord_pending_markers(&s->c.txncoord, &work, &n)))
        return KTX_ERR_STORE;
    for (size_t i = 0; i < n; i++) {
        kb_cluster_write_markers(&s->c, &work[i], wall_ms());
        kb_txn_markers_free(&work[i]);
    }
    free(work);
    persist(s);
    return 0;
}

/* The leader and leader epoch of every partition, kept across a reload. */
struct leadership {
    int32_t *leader;
    int32_t *epoch;
    size_t n;
};

static int save_leadership(const struct server *s, struct leadership *l)
{
    size_t n = 0;

    for (size_t i = 0; i < s->c.n_topics; i++)
        n += (size_t)s->c.topics[i].n_partitions;
    l->n = n;
    l->leader = calloc(n ? n : 1, sizeof(*l->leader));
    l->epoch = calloc(n ? n : 1, sizeof(*l->epoch));
    if (!l->leader || !l->epoch)
        return KTX_ERR_NO_MEMORY;
    n = 0;
    for (size_t i = 0; i < s->c.n_topics; i++)
        for (int32_t j = 0; j < s->c.topics[i].n_partitions; j++, n++) {
            l->leader[n] = s->c.topics[i].partitions[j].leader;
            l->epoch[n] = s->c.topics[i].partitions[j].leader_epoch;
        }
    return 0;
}

/* Puts the saved leadership back; the topics were reloaded in the order they were saved. */
static void restore_leadership(struct server *s, const struct leadership *l)
{
    size_t n = 0;

    for (size_t i = 0; i < s->c.n_topics; i++)
        for (int32_t j = 0; j < s->c.topics[i].n_partitions && n < l->n; j++, n++) {
            struct kb_partition *p = &s->c.topics[i].partitions[j];
            p->leader = l->leader[n];
            p->leader_epoch = l->epoch[n];
            p->log.leader_epoch = l->epoch[n];
        }
}

/*
 * A broker restart with a data directory: everything is written out, then the whole
 * state is dropped and read back from the directory, so that whatever only lived in
 * memory is lost exactly as a crash would lose it (the coordinator epoch goes up,
 * transactions caught in a Prepare state get their markers again, producer state is
 * rebuilt by scanning the logs). The process is one, so this is every broker's state.
 * Returns 0, or KTX_ERR_STORE / KTX_ERR_NO_MEMORY (the broker then stops: its state is
 * no longer trustworthy).
 */
static int reload_state(struct server *s)
{
    struct leadership l = {0};
    int err;

    persist(s);
    if ((err = save_leadership(s, &l)) == 0) {
        kb_cluster_forget_state(&s->c);
        if ((err = load_data_dir(s)) == 0)
            restore_leadership(s, &l);
    }
    free(l.leader);
    free(l.epoch);
    return err;
}

/* Starts the restart of every broker that `restart` marked: its listener closes for
 * KB_RESTART_REFUSE_MS and, with a data directory, the state is reloaded. */
static void restart_brokers(struct server *s)
{
    bool any = false;

    for (int32_t i = 0; i < s->c.n_brokers; i++) {
        struct kb_broker *b = &s->c.brokers[i];
        if (!b->restart_pending)
            continue;
        b->restart_pending = false;
        any = true;
        close_listener(s, i);
        s->reopen_at_ms[i] = mono_ms() + KB_RESTART_REFUSE_MS;
    }
    if (any && s->conf->data_dir && reload_state(s) != 0) {
        fprintf(stderr, "ktx-broker: cannot reload the data directory after a restart\n");
        s->c.quit = true;
    }
}

/* Opens or closes listeners and drops connections after up/down/restart. */
static void sync_brokers(struct server *s)
{
    int64_t now = mono_ms();

    restart_brokers(s);
    for (int32_t i = 0; i < s->c.n_brokers; i++) {
        const struct kb_broker *b = &s->c.brokers[i];
        if (s->reopen_at_ms[i] && now < s->reopen_at_ms[i])
            continue; /* still restarting */
        s->reopen_at_ms[i] = 0;
        if (!b->up && s->listeners[i] >= 0)
            close_listener(s, i);
        else if (b->up && s->listeners[i] < 0 && open_listener(s, i, b->port) != 0)
            fprintf(stderr, "ktx-broker: cannot reopen port %d\n", b->port);
    }
    for (size_t i = 0; i < s->n_conns;) {
        const struct conn *conn = s->conns[i];
        if (conn->generation != s->c.brokers[conn->index].generation)
            conn_close(s, i);
        else
            i++;
    }
}

static void run_line(struct server *s, char *line)
{
    char reply[256];

    if (line[0] == '\0')
        return;
    kb_cluster_command(&s->c, line, wall_ms(), reply, sizeof(reply));
    sync_brokers(s); /* before the answer: the test may connect as soon as it reads OK */
    persist(s);
    fprintf(s->out, "%s\n", reply);
    fflush(s->out);
}

static void read_stdin(struct server *s)
{
    ssize_t n = read(STDIN_FILENO, s->stdin_buf + s->stdin_len, STDIN_MAX - 1 - s->stdin_len);
    char *nl;

    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            s->stdin_open = false;
            s->c.quit = true;
        }
        return;
    }
    s->stdin_len += (size_t)n;
    s->stdin_buf[s->stdin_len] = '\0';
    while ((nl = strchr(s->stdin_buf, '\n'))) {
        *nl = '\0';
        if (nl > s->stdin_buf && nl[-1] == '\r')
            nl[-1] = '\0';
        run_line(s, s->stdin_buf);
        s->stdin_len -= (size_t)(nl + 1 - s->stdin_buf);
        memmove(s->stdin_buf, nl + 1, s->stdin_len + 1);
    }
    if (s->stdin_len == STDIN_MAX - 1)
        s->stdin_len = 0; /* an over-long line is dropped */
}

/* ---- the loop ---- */

/* The poll timeout: until the next due response or tick. */
static int poll_timeout(const struct server *s, int64_t now)
{
    int64_t next = s->next_tick_ms;

    for (int32_t i = 0; i < s->c.n_brokers; i++)
        if (s->reopen_at_ms[i] && s->reopen_at_ms[i] < next)
            next = s->reopen_at_ms[i];
    for (size_t i = 0; i < s->n_conns; i++)
        if (s->conns[i]->linger_until_ms && s->conns[i]->linger_until_ms < next)
            next = s->conns[i]->linger_until_ms;
        else if (s->conns[i]->head && s->conns[i]->head->send_at_ms < next)
            next = s->conns[i]->head->send_at_ms;
    return next <= now ? 0 : (int)KTX__MIN(next - now, TICK_MS);
}

/*
 * Serves the connections polled at |pfd[base..base+n)|: reads and handles every request
 * first, then writes what was produced to the data directory, then sends the answers. The
 * order matters: an answer may only leave once what it acknowledges survives the process
 * being killed (page cache; the broker does not fsync).
 */
static void serve_conns(struct server *s, struct pollfd *pfd, size_t base, size_t n)
{
    int64_t now = mono_ms();
    int failed[MAX_CONNS] = {0};
    bool done[MAX_CONNS] = {false};

    for (size_t k = 0; k < n; k++) {
        struct conn *conn = s->conns[k];
        int err = 0;
        if (conn->linger_until_ms) {
            done[k] = conn_drain(conn, pfd[base + k].revents != 0, now);
            continue;
        }
        if (pfd[base + k].revents & (POLLERR | POLLHUP | POLLNVAL))
            err = pfd[base + k].revents & POLLIN ? 0 : KTX_ERR_TRANSPORT;
        if (!err && ((pfd[base + k].revents & POLLIN) ||
                     (conn->tls && kb_tls_wants_write(conn->tls) && (pfd[base + k].revents & POLLOUT))))
            err = conn_read(s, conn);
        failed[k] = err;
    }
    persist(s);
    /* Backwards, so that closing (which moves the last connection) skips nobody. */
    for (size_t k = n; k-- > 0;) {
        struct conn *conn = s->conns[k];
        int err;
        if (conn->linger_until_ms) {
            if (done[k])
                conn_close(s, k);
            continue;
        }
        err = failed[k] ? failed[k] : conn_write(conn, now);
        if (!err && conn->sasl && kb_sasl_conn_failed(conn->sasl) && !conn->head)
            err = KTX_ERR_AUTH; /* the failure was answered: close, as Kafka does */
        if (err == KTX_ERR_AUTH)
            conn_linger(conn, now);
        else if (err)
            conn_close(s, k);
    }
}

static void loop_once(struct server *s)
{
    struct pollfd pfd[1 + KB_MAX_BROKERS + MAX_CONNS];
    int32_t lnode[KB_MAX_BROKERS];
    size_t n = 0, nl = 0, base, nconns = s->n_conns;
    int64_t now = mono_ms();

    pfd[n++] = (struct pollfd){s->stdin_open ? STDIN_FILENO : -1, POLLIN, 0};
    for (int32_t i = 0; i < s->c.n_brokers; i++) {
        if (s->listeners[i] < 0)
            continue;
        lnode[nl++] = i;
        pfd[n++] = (struct pollfd){s->listeners[i], POLLIN, 0};
    }
    base = n;
    for (size_t i = 0; i < nconns; i++) {
        short ev = POLLIN;
        /* A lingering connection is polled only for its input, to discard. */
        if (!s->conns[i]->linger_until_ms &&
            ((s->conns[i]->head && s->conns[i]->head->send_at_ms <= now) ||
             (s->conns[i]->tls && kb_tls_wants_write(s->conns[i]->tls))))
            ev |= POLLOUT;
        pfd[n++] = (struct pollfd){s->conns[i]->fd, ev, 0};
    }
    if (poll(pfd, n, poll_timeout(s, now)) < 0 && errno != EINTR)
        s->c.quit = true;
    serve_conns(s, pfd, base, nconns);
    for (size_t i = 0; i < nl; i++)
        if (pfd[1 + i].revents & POLLIN)
            accept_conn(s, lnode[i]);
    if (pfd[0].revents & (POLLIN | POLLHUP))
        read_stdin(s);
    for (int32_t i = 0; i < s->c.n_brokers; i++)
        if (s->reopen_at_ms[i] && mono_ms() >= s->reopen_at_ms[i])
            sync_brokers(s);
    if (mono_ms() >= s->next_tick_ms) {
        kb_cluster_tick(&s->c, wall_ms());
        s->next_tick_ms = mono_ms() + TICK_MS;
    }
    persist(s);
}

static void print_bootstrap(struct server *s)
{
    fprintf(s->out, "BOOTSTRAP ");
    for (int32_t i = 0; i < s->c.n_brokers; i++)
        fprintf(s->out, "%s127.0.0.1:%d", i ? "," : "", s->c.brokers[i].port);
    fprintf(s->out, "\n");
    fflush(s->out);
}

static void server_free(struct server *s)
{
    while (s->n_conns)
        conn_close(s, s->n_conns - 1);
    for (int32_t i = 0; i < s->c.n_brokers; i++)
        close_listener(s, i);
    kb_cluster_free(&s->c);
}

int kb_server_run(const struct kb_server_conf *conf, FILE *out)
{
    struct server *s = calloc(1, sizeof(*s));
    int err = 0;

    if (!s)
        return KTX_ERR_NO_MEMORY;
    s->conf = conf;
    s->out = out;
    s->stdin_open = true;
    kb_cluster_init(&s->c, conf->n_brokers, &conf->txn);
    s->c.auto_create_partitions = conf->auto_create_partitions;
    for (int32_t i = 0; i < KB_MAX_BROKERS; i++)
        s->listeners[i] = -1;
    err = security_start(s);
    for (int32_t i = 0; i < s->c.n_brokers && !err; i++)
        err = open_listener(s, i, conf->port_base ? conf->port_base + i : 0);
    if (!err)
        err = load_data_dir(s);
    if (!err) {
        print_bootstrap(s);
        s->next_tick_ms = mono_ms() + TICK_MS;
        while (!s->c.quit)
            loop_once(s);
        persist(s);
    }
    server_free(s);
    security_stop(s);
    free(s);
    return err;
}
