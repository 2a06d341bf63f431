/*
 * The connections of one producer and the sender's poll loop: see net.h.
 *
 * Nodes are allocated one by one and the registry holds pointers, so a node (and its
 * connection) stays put while callbacks run, even when a callback changes the registry;
 * nodes leave the registry only in collect_retired(), at the end of ktx__net_poll().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "tls.h"

#define MAX_BOOTSTRAP 64

struct node {
    int32_t node_id;
    char *host;
    int port;
    bool bootstrap;
    bool retired; /* left the metadata: destroyed once nothing is in flight */
    struct ktx__conn *conn;
};

struct ktx__net {
    struct node **nodes;
    size_t count, cap;
    struct ktx__conn_conf conn_conf; /* client_id points to |client_id| */
    char *client_id;
    ktx__net_clock_fn *clock;
    void *clock_opaque;
    int wake_rd, wake_wr;     /* the same eventfd twice, or a pipe */
    struct pollfd *pfds;      /* scratch for poll(2): slot 0 is the wakeup */
    struct node **pnodes;     /* the node of each slot */
    size_t pcap;
    unsigned rotation;        /* round-robin start of ktx__net_least_loaded() */
    struct ktx__tls_ctx *own_tls; /* the TLS context made here, shared by every conn */
};

/* ---- bootstrap list ---- */

static bool parse_port(const char *p, size_t len, int *port)
{
    long v = 0;

    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/* Parses one trimmed entry "host:port" or "[v6]:port" of |len| bytes. */
static int parse_entry(const char *p, size_t len, struct ktx__net_addr *addr)
{
    const char *host = p, *colon;
    size_t host_len;

    if (p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (close == NULL || close + 1 >= p + len || close[1] != ':')
            return KTX_ERR_BAD_CONFIG;
        host = p + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = memchr(p, ':', len);
        /* A second colon means an IPv6 address without brackets: ambiguous. */
        if (colon == NULL || memchr(colon + 1, ':', len - (size_t)(colon + 1 - p)) != NULL)
            return KTX_ERR_BAD_CONFIG;
        host_len = (size_t)(colon - p);
    }
    if (host_len == 0 || host_len > KTX__NET_MAX_HOST ||
        !parse_port(colon + 1, len - (size_t)(colon + 1 - p), &addr->port))
        return KTX_ERR_BAD_CONFIG;
    memcpy(addr->host, host, host_len);
    addr->host[host_len] = '\0';
    return 0;
}

int ktx__net_parse_bootstrap(const char *list, struct ktx__net_addr *out, size_t max,
                             size_t *count)
{
    const char *p = list;

    *count = 0;
    if (list == NULL)
        return KTX_ERR_BAD_CONFIG;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len;

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (*count == max || parse_entry(p, len, &out[*count]) != 0)
                return KTX_ERR_BAD_CONFIG;
            (*count)++;
        }
        p = *end == ',' ? end + 1 : end;
    }
    return *count == 0 ? KTX_ERR_BAD_CONFIG : 0;
}

/* ---- registry ---- */

static void node_free(struct node *node)
{
    if (node == NULL)
        return;
    ktx__conn_destroy(node->conn);
    free(node->host);
    free(node);
}

static struct node *node_new(const struct ktx__net *net, int32_t node_id, const char *host,
                             int port, bool bootstrap)
{
    struct node *node = calloc(1, sizeof(*node));

    if (node == NULL)
        return NULL;
    node->node_id = node_id;
    node->bootstrap = bootstrap;
    node->port = port;
    node->host = strdup(host);
    if (node->host == NULL || ktx__conn_new(&node->conn, host, port, &net->conn_conf) != 0) {
        node_free(node);
        return NULL;
    }
    return node;
}

static int reserve_nodes(struct ktx__net *net, size_t more)
{
    struct node **nodes;
    size_t cap = net->cap == 0 ? 8 : net->cap;

    if (net->count + more <= net->cap)
        return 0;
    while (cap < net->count + more)
        cap *= 2;
    nodes = realloc(net->nodes, cap * sizeof(*nodes));
    if (nodes == NULL)
        return KTX_ERR_NO_MEMORY;
    net->nodes = nodes;
    net->cap = cap;
    return 0;
}

/* The live node with |node_id| (a retired one only when no live one exists). */
static struct node *find_node(const struct ktx__net *net, int32_t node_id)
{
    struct node *retired = NULL;

    for (size_t i = 0; i < net->count; i++) {
        struct node *node = net->nodes[i];
        if (node->node_id != node_id)
            continue;
        if (!node->retired)
            return node;
        retired = node;
    }
    return retired;
}

static const struct ktx__net_broker *find_broker(const struct ktx__net_broker *brokers,
                                                 size_t count, int32_t node_id)
{
    for (size_t i = 0; i < count; i++)
        if (brokers[i].node_id == node_id)
            return &brokers[i];
    return NULL;
}

static bool same_address(const struct node *node, const struct ktx__net_broker *broker)
{
    return node->port == broker->port && strcmp(node->host, broker->host) == 0;
}

int ktx__net_set_brokers(struct ktx__net *net, const struct ktx__net_broker *brokers,
                         size_t count)
{
    size_t added = 0, base = net->count;

    for (size_t i = 0; i < count; i++)
        if (brokers[i].node_id < 0 || brokers[i].host == NULL || brokers[i].host[0] == '\0' ||
            brokers[i].port < 1 || brokers[i].port > 65535)
            return KTX_ERR_INVALID_ARG;
    if (reserve_nodes(net, count) != 0)
        return KTX_ERR_NO_MEMORY;
    /* First create every new node, so that a failed allocation changes nothing. */
    for (size_t i = 0; i < count; i++) {
        struct node *node = find_node(net, brokers[i].node_id);
        if (node != NULL && !node->retired && same_address(node, &brokers[i]))
            continue;
        if (find_broker(brokers, i, brokers[i].node_id) != NULL)
            continue; /* listed twice: the first entry counts */
        node = node_new(net, brokers[i].node_id, brokers[i].host, brokers[i].port, false);
        if (node == NULL) {
            for (size_t k = 0; k < added; k++)
                node_free(net->nodes[base + k]);
            return KTX_ERR_NO_MEMORY;
        }
        net->nodes[base + added++] = node;
    }
    /* Then retire the brokers that left or moved. */
    for (size_t i = 0; i < base; i++) {
        struct node *node = net->nodes[i];
        const struct ktx__net_broker *broker;
        if (node->bootstrap || node->retired)
            continue;
        broker = find_broker(brokers, count, node->node_id);
        if (broker == NULL || !same_address(node, broker))
            node->retired = true;
    }
    net->count += added;
    return 0;
}

int ktx__net_add_broker(struct ktx__net *net, int32_t node_id, const char *host, int port)
{
    struct ktx__net_broker broker = {node_id, host, port};
    struct node *old, *node;

    if (node_id < 0 || host == NULL || host[0] == '\0' || port < 1 || port > 65535)
        return KTX_ERR_INVALID_ARG;
    old = find_node(net, node_id);
    if (old != NULL && !old->retired && same_address(old, &broker))
        return 0;
    if (reserve_nodes(net, 1) != 0)
        return KTX_ERR_NO_MEMORY;
    node = node_new(net, node_id, host, port, false);
    if (node == NULL)
        return KTX_ERR_NO_MEMORY;
    if (old != NULL)
        old->retired = true;
    net->nodes[net->count++] = node;
    return 0;
}

/* Destroys retired nodes with nothing in flight. Not while callbacks may run. */
static void collect_retired(struct ktx__net *net)
{
    size_t kept = 0;

    for (size_t i = 0; i < net->count; i++) {
        struct node *node = net->nodes[i];
        if (node->retired && ktx__conn_in_flight(node->conn) == 0)
            node_free(node);
        else
            net->nodes[kept++] = node;
    }
    net->count = kept;
}

struct ktx__conn *ktx__net_conn(const struct ktx__net *net, int32_t node_id)
{
    struct node *node = find_node(net, node_id);
    return node != NULL ? node->conn : NULL;
}

size_t ktx__net_broker_count(const struct ktx__net *net)
{
    size_t n = 0;
    for (size_t i = 0; i < net->count; i++)
        n += !net->nodes[i]->bootstrap && !net->nodes[i]->retired;
    return n;
}

/* ---- life cycle ---- */

static int64_t monotonic_ms(void *opaque)
{
    struct timespec ts;
    (void)opaque;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_wakeup(struct ktx__net *net)
{
    int fds[2];

    net->wake_rd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (net->wake_rd >= 0) {
        net->wake_wr = net->wake_rd;
        return 0;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return KTX_ERR_TRANSPORT;
    net->wake_rd = fds[0];
    net->wake_wr = fds[1];
    return 0;
}

static int add_bootstrap(struct ktx__net *net, const char *list)
{
    struct ktx__net_addr *addrs = calloc(MAX_BOOTSTRAP, sizeof(*addrs));
    size_t count;
    int rc;

    if (addrs == NULL)
        return KTX_ERR_NO_MEMORY;
    rc = ktx__net_parse_bootstrap(list, addrs, MAX_BOOTSTRAP, &count);
    if (rc == 0)
        rc = reserve_nodes(net, count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct node *node = node_new(net, KTX__NET_BOOTSTRAP_ID(i), addrs[i].host,
                                     addrs[i].port, true);
        if (node == NULL)
            rc = KTX_ERR_NO_MEMORY;
        else
            net->nodes[net->count++] = node;
    }
    free(addrs);
    return rc;
}

/*
 * Creates the TLS context of every connection when the security settings ask for TLS and
 * the caller gave none. Returns 0, or KTX_ERR_BAD_CONFIG / KTX_ERR_NO_MEMORY with the
 * reason in conf->errbuf.
 */
static int make_tls_ctx(struct ktx__net *net, const struct ktx__net_conf *conf)
{
    const struct ktx__conf_values *cv = conf->conn.security;
    char err[512] = "";
    int rc;

    if (cv == NULL || net->conn_conf.tls_ctx != NULL ||
        (cv->security_protocol != KTX__SECURITY_SSL &&
         cv->security_protocol != KTX__SECURITY_SASL_SSL))
        return 0;
    rc = ktx__tls_ctx_new(&net->own_tls, cv, err, sizeof(err));
    if (rc != 0) {
        if (conf->errbuf != NULL && conf->errsize > 0)
            snprintf(conf->errbuf, conf->errsize, "%s", err);
        return rc;
    }
    net->conn_conf.tls_ctx = net->own_tls;
    return 0;
}

int ktx__net_new(struct ktx__net **out, const struct ktx__net_conf *conf)
{
    struct ktx__net *net;
    int rc;

    if (conf == NULL || conf->conn.max_in_flight < 1)
        return KTX_ERR_INVALID_ARG;
    net = calloc(1, sizeof(*net));
    if (net == NULL)
        return KTX_ERR_NO_MEMORY;
    net->wake_rd = net->wake_wr = -1;
    net->conn_conf = conf->conn;
    net->clock = conf->clock != NULL ? conf->clock : monotonic_ms;
    net->clock_opaque = conf->clock_opaque;
    if (conf->conn.client_id != NULL) {
        net->client_id = strdup(conf->conn.client_id);
        if (net->client_id == NULL) {
            ktx__net_destroy(net);
            return KTX_ERR_NO_MEMORY;
        }
    }
    net->conn_conf.client_id = net->client_id;
    rc = make_tls_ctx(net, conf);
    if (rc != 0) {
        ktx__net_destroy(net);
        return rc;
    }
    rc = add_bootstrap(net, conf->bootstrap_servers);
    if (rc == 0)
        rc = open_wakeup(net);
    if (rc != 0) {
        ktx__net_destroy(net);
        return rc;
    }
    *out = net;
    return 0;
}

void ktx__net_destroy(struct ktx__net *net)
{
    if (net == NULL)
        return;
    for (size_t i = 0; i < net->count; i++)
        node_free(net->nodes[i]);
    if (net->wake_rd >= 0)
        close(net->wake_rd);
    if (net->wake_wr >= 0 && net->wake_wr != net->wake_rd)
        close(net->wake_wr);
    free(net->nodes);
    free(net->pfds);
    free(net->pnodes);
    free(net->client_id);
    ktx__tls_ctx_free(net->own_tls);
    free(net);
}

/* ---- node selection ---- */

bool ktx__net_ready(struct ktx__net *net, int32_t node_id, int64_t now)
{
    struct node *node = find_node(net, node_id);

    if (node == NULL)
        return false;
    if (ktx__conn_can_send(node->conn))
        return true;
    if (ktx__conn_state(node->conn) == KTX__CONN_DISCONNECTED)
        (void)ktx__conn_connect(node->conn, now);
    return false;
}

int64_t ktx__net_poll_delay(const struct ktx__net *net, int32_t node_id, int64_t now)
{
    struct node *node = find_node(net, node_id);
    int64_t until;

    if (node == NULL)
        return INT64_MAX;
    switch (ktx__conn_state(node->conn)) {
    case KTX__CONN_DISCONNECTED:
        until = ktx__conn_backoff_until(node->conn);
        break;
    case KTX__CONN_READY:
        if (ktx__conn_can_send(node->conn))
            return 0;
        until = ktx__conn_next_deadline(node->conn);
        break;
    default:
        until = ktx__conn_next_deadline(node->conn);
        break;
    }
    return until == INT64_MAX ? INT64_MAX : KTX__MAX(0, until - now);
}

/* The choice among one class of nodes (brokers or bootstrap) for least_loaded(). */
struct pick {
    struct node *ready;      /* fewest in flight */
    struct node *connecting;
    struct node *connectable;
    int64_t wait;            /* shortest backoff left among the others */
};

static void consider(struct pick *pick, struct node *node, int64_t now)
{
    struct ktx__conn *conn = node->conn;

    switch (ktx__conn_state(conn)) {
    case KTX__CONN_READY:
        if (ktx__conn_can_send(conn)) {
            if (pick->ready == NULL ||
                ktx__conn_in_flight(conn) < ktx__conn_in_flight(pick->ready->conn))
                pick->ready = node;
        } else if (pick->connecting == NULL) {
            pick->connecting = node;
        }
        break;
    case KTX__CONN_CONNECTING:
    case KTX__CONN_TLS_HANDSHAKE:
    case KTX__CONN_API_VERSIONS:
    case KTX__CONN_SASL:
        if (pick->connecting == NULL)
            pick->connecting = node;
        break;
    case KTX__CONN_DISCONNECTED:
        if (now >= ktx__conn_backoff_until(conn)) {
            if (pick->connectable == NULL)
                pick->connectable = node;
        } else {
            pick->wait = KTX__MIN(pick->wait, ktx__conn_backoff_until(conn) - now);
        }
        break;
    case KTX__CONN_CLOSING:
        break;
    }
}

static struct node *pick_among(struct ktx__net *net, bool bootstrap, int64_t now,
                               int64_t *wait)
{
    struct pick pick = {NULL, NULL, NULL, INT64_MAX};

    for (size_t k = 0; k < net->count; k++) {
        struct node *node = net->nodes[(k + net->rotation) % net->count];
        if (node->bootstrap == bootstrap && !node->retired)
            consider(&pick, node, now);
    }
    *wait = KTX__MIN(*wait, pick.wait);
    if (pick.ready != NULL)
        return pick.ready;
    return pick.connecting != NULL ? pick.connecting : pick.connectable;
}

int32_t ktx__net_least_loaded(struct ktx__net *net, int64_t now, int64_t *delay_ms)
{
    int64_t wait = INT64_MAX;
    struct node *node;

    if (delay_ms != NULL)
        *delay_ms = INT64_MAX;
    if (net->count == 0)
        return KTX__NET_NO_NODE;
    node = pick_among(net, false, now, &wait);
    if (node == NULL)
        node = pick_among(net, true, now, &wait);
    net->rotation++;
    if (delay_ms != NULL)
        *delay_ms = node != NULL ? 0 : wait;
    return node != NULL ? node->node_id : KTX__NET_NO_NODE;
}

int ktx__net_send(struct ktx__net *net, int32_t node_id, const struct ktx__conn_req *req,
                  int64_t now)
{
    struct node *node = find_node(net, node_id);

    if (node == NULL)
        return KTX_ERR_INVALID_ARG;
    return ktx__conn_send(node->conn, req, now);
}

/* ---- the poll loop ---- */

void ktx__net_wakeup(struct ktx__net *net)
{
    uint64_t one = 1;
    ssize_t n;

    /* A full eventfd or pipe already holds a pending wakeup: nothing is lost. */
    if (net->wake_wr == net->wake_rd)
        n = write(net->wake_wr, &one, sizeof(one));
    else
        n = write(net->wake_wr, &one, 1);
    (void)n;
}

static void drain_wakeup(struct ktx__net *net)
{
    uint8_t buf[64];

    while (read(net->wake_rd, buf, sizeof(buf)) > 0 && net->wake_rd != net->wake_wr)
        ;
}

/* Fills the poll set: the wakeup descriptor, then every socket. Returns the count or -1. */
static int build_poll_set(struct ktx__net *net)
{
    size_t n = 1;

    if (net->pcap < net->count + 1) {
        size_t cap = net->count + 8;
        struct pollfd *pfds = realloc(net->pfds, cap * sizeof(*pfds));
        if (pfds != NULL)
            net->pfds = pfds;
        struct node **pnodes = realloc(net->pnodes, cap * sizeof(*pnodes));
        if (pnodes != NULL)
            net->pnodes = pnodes;
        if (pfds == NULL || pnodes == NULL)
            return -1;
        net->pcap = cap;
    }
    net->pfds[0].fd = net->wake_rd;
    net->pfds[0].events = POLLIN;
    net->pfds[0].revents = 0;
    for (size_t i = 0; i < net->count; i++) {
        short events;
        int fd = ktx__conn_poll_events(net->nodes[i]->conn, &events);
        if (fd < 0)
            continue;
        net->pfds[n].fd = fd;
        net->pfds[n].events = events;
        net->pfds[n].revents = 0;
        net->pnodes[n] = net->nodes[i];
        n++;
    }
    return (int)n;
}

/* The poll timeout: |timeout_ms| clamped to [0, INT_MAX] and to the earliest deadline. */
static int poll_timeout(const struct ktx__net *net, int64_t timeout_ms, int64_t now)
{
    for (size_t i = 0; i < net->count; i++) {
        int64_t deadline = ktx__conn_next_deadline(net->nodes[i]->conn);
        if (deadline != INT64_MAX)
            timeout_ms = KTX__MIN(timeout_ms, deadline - now);
    }
    if (timeout_ms < 0)
        return 0;
    return timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms;
}

int ktx__net_poll(struct ktx__net *net, int64_t timeout_ms, int64_t now)
{
    int nfds = build_poll_set(net);
    int rc;

    if (nfds < 0)
        return KTX_ERR_NO_MEMORY;
    rc = poll(net->pfds, (nfds_t)nfds, poll_timeout(net, timeout_ms, now));
    if (rc < 0 && errno != EINTR)
        return KTX_ERR_TRANSPORT;
    now = net->clock(net->clock_opaque);
    if (rc > 0 && net->pfds[0].revents != 0)
        drain_wakeup(net);
    for (int i = 1; rc > 0 && i < nfds; i++) {
        short events;
        /* A callback may have closed (and reopened) this socket meanwhile. */
        if (net->pfds[i].revents != 0 &&
            ktx__conn_poll_events(net->pnodes[i]->conn, &events) == net->pfds[i].fd)
            ktx__conn_on_events(net->pnodes[i]->conn, net->pfds[i].revents, now);
    }
    /* By index: a callback may have added nodes (never removed them). */
    for (size_t i = 0; i < net->count; i++)
        ktx__conn_check_timeouts(net->nodes[i]->conn, now);
    collect_retired(net);
    return 0;
}

int64_t ktx__net_now(const struct ktx__net *net)
{
    return net->clock(net->clock_opaque);
}

int ktx__net_in_flight(const struct ktx__net *net)
{
    int n = 0;
    for (size_t i = 0; i < net->count; i++)
        n += ktx__conn_in_flight(net->nodes[i]->conn);
    return n;
}

void ktx__net_close_all(struct ktx__net *net, int64_t now)
{
    for (size_t i = 0; i < net->count; i++)
        ktx__conn_close(net->nodes[i]->conn, false, now);
}
