/*
 * The set of connections of one producer (struct ktx__net): the broker registry (node id ->
 * host:port, updated from metadata), the bootstrap pseudo-nodes from bootstrap.servers,
 * the choice of the least loaded node, and the poll loop of the sender thread: one poll(2)
 * over every socket plus a wakeup descriptor that any thread may signal.
 *
 * The sender uses it in the shape of Kafka's NetworkClient:
 *
 *   if (ktx__net_ready(net, node, now))            starts connecting when it may
 *       ktx__net_send(net, node, &req, now);       else: ktx__net_poll_delay(net, node, now)
 *   ktx__net_poll(net, timeout_ms, now);           I/O, completions and timeouts
 *
 * Time is the caller's monotonic clock in milliseconds: functions take |now|, and
 * ktx__net_poll() reads the clock given in struct ktx__net_conf after poll(2) returns (so a
 * test can inject one). No function sleeps except ktx__net_poll().
 *
 * Thread: the sender thread for everything except ktx__net_wakeup(), which any thread may
 * call at any time while |net| exists. Locks: none; |net| is owned by the sender thread.
 */
#ifndef KTX_NET_H
#define KTX_NET_H

#include "conn.h"

/* Node ids: brokers use their ids (>= 0); bootstrap entry i (0-based) is node
 * KTX__NET_BOOTSTRAP_ID(i) = -1 - i, as in Kafka; KTX__NET_NO_NODE means none. */
#define KTX__NET_BOOTSTRAP_ID(i) (-1 - (int32_t)(i))
#define KTX__NET_NO_NODE INT32_MIN
#define KTX__NET_MAX_HOST 255

/* One host:port, as parsed from bootstrap.servers or given by metadata. */
struct ktx__net_addr {
    char host[KTX__NET_MAX_HOST + 1]; /* without brackets for IPv6 */
    int port;
};

/* One broker for ktx__net_set_brokers(); |host| is borrowed. */
struct ktx__net_broker {
    int32_t node_id;
    const char *host;
    int port;
};

/* Monotonic clock in milliseconds. */
typedef int64_t ktx__net_clock_fn(void *opaque);

/* Settings of the net; copied by ktx__net_new() (|bootstrap_servers| is parsed). */
struct ktx__net_conf {
    const char *bootstrap_servers; /* "host:port,host:port", IPv6 as [addr]:port */
    struct ktx__conn_conf conn;    /* settings of every connection */
    ktx__net_clock_fn *clock;      /* NULL: CLOCK_MONOTONIC */
    void *clock_opaque;
    char *errbuf;                  /* when not NULL: why ktx__net_new() failed (e.g. a TLS
                                      file that cannot be loaded); never a secret */
    size_t errsize;
};

struct ktx__net;

/*
 * Parses a bootstrap list into |out| (|max| entries). Entries are separated by commas and
 * may be surrounded by blanks; each is host:port with a port in 1..65535, an IPv6 address
 * in brackets ("[::1]:9092"). Empty entries are skipped. Pure.
 * Stores the number of entries in |*count| and returns 0, or KTX_ERR_BAD_CONFIG for a
 * malformed entry, an empty list or more than |max| entries.
 */
int ktx__net_parse_bootstrap(const char *list, struct ktx__net_addr *out, size_t max,
                             size_t *count);

/*
 * Creates the net: parses the bootstrap list into pseudo-nodes and opens the wakeup
 * descriptor (an eventfd, or a pipe). Does no network I/O. |conf| is borrowed.
 * When conf->conn.security asks for SSL or SASL_SSL and conf->conn.tls_ctx is NULL, the
 * TLS context of every connection is created here (ktx__tls_ctx_new()) and owned by the net.
 * On success stores the net in |*out| (freed with ktx__net_destroy()) and returns 0;
 * returns KTX_ERR_BAD_CONFIG for a bad bootstrap list or TLS settings that cannot be loaded
 * (reason in conf->errbuf), KTX_ERR_INVALID_ARG,
 * KTX_ERR_NO_MEMORY, or KTX_ERR_TRANSPORT when no wakeup descriptor can be opened.
 */
int ktx__net_new(struct ktx__net **out, const struct ktx__net_conf *conf);

/* Closes every connection (in-flight requests fail with KTX_ERR_TRANSPORT) and frees
 * |net|. NULL-safe. Not from a completion callback. */
void ktx__net_destroy(struct ktx__net *net);

/*
 * Replaces the broker registry with |brokers| (|count| entries, borrowed), e.g. from a
 * Metadata response. A broker whose address changed gets a new connection; brokers no
 * longer listed are closed once nothing is in flight on them. Bootstrap pseudo-nodes
 * stay, with their connections, for the fallback. Safe to call from a completion
 * callback (closing is deferred to the end of ktx__net_poll()).
 * Returns 0, KTX_ERR_INVALID_ARG (a negative id, bad port or empty host), KTX_ERR_NO_MEMORY
 * (the registry is then unchanged).
 */
int ktx__net_set_brokers(struct ktx__net *net, const struct ktx__net_broker *brokers,
                         size_t count);

/*
 * Adds or updates one broker, leaving the others alone: for a coordinator that
 * FindCoordinator named before the next metadata lists it. When |node_id| is known at
 * another address, the old node is retired as in ktx__net_set_brokers(). |host| is copied.
 * Returns 0, KTX_ERR_INVALID_ARG or KTX_ERR_NO_MEMORY.
 */
int ktx__net_add_broker(struct ktx__net *net, int32_t node_id, const char *host, int port);

/* Returns the connection of node |node_id| (broker or bootstrap pseudo-node), or NULL.
 * The pointer lives until the node leaves the registry. */
struct ktx__conn *ktx__net_conn(const struct ktx__net *net, int32_t node_id);

/* Number of brokers (not bootstrap nodes) in the registry. */
size_t ktx__net_broker_count(const struct ktx__net *net);

/*
 * True when a request can be sent to |node_id| now. Otherwise starts a connect when the
 * node is disconnected and its backoff has passed, and returns false (as Kafka's
 * NetworkClient.ready()). False for an unknown node.
 */
bool ktx__net_ready(struct ktx__net *net, int32_t node_id, int64_t now);

/*
 * Milliseconds until |node_id| may become ready without I/O: the rest of its reconnect
 * backoff when disconnected, 0 when it is ready or can connect now, and the time to its
 * next deadline while a connect or full pipeline is under way (I/O will wake the poll
 * sooner). INT64_MAX for an unknown node.
 */
int64_t ktx__net_poll_delay(const struct ktx__net *net, int32_t node_id, int64_t now);

/*
 * The node for a request that any broker can answer (Metadata): the ready broker with the
 * fewest requests in flight, else one that is connecting, else one that may connect now.
 * When no known broker qualifies (none known, or all in backoff), the bootstrap nodes are
 * chosen from the same way. Ties go round-robin from call to call. Returns the node id,
 * or KTX__NET_NO_NODE when none qualifies; then |*delay_ms| (when not NULL) gets the time
 * until one may (INT64_MAX when no node ever will), and 0 otherwise.
 */
int32_t ktx__net_least_loaded(struct ktx__net *net, int64_t now, int64_t *delay_ms);

/*
 * Queues |req| on |node_id| (see ktx__conn_send()). Returns 0, KTX_ERR_INVALID_ARG for an
 * unknown node, or the errors of ktx__conn_send().
 */
int ktx__net_send(struct ktx__net *net, int32_t node_id, const struct ktx__conn_req *req,
                  int64_t now);

/*
 * Waits in poll(2) for at most |timeout_ms| (clamped to the earliest connect or request
 * deadline; negative means 0) for socket events or a wakeup, then does the I/O, runs the
 * completion callbacks and enforces timeouts with the clock read after the wait.
 * |now| is the caller's time at the call. Returns 0, or KTX_ERR_TRANSPORT when poll(2)
 * itself fails (not on EINTR), KTX_ERR_NO_MEMORY.
 */
int ktx__net_poll(struct ktx__net *net, int64_t timeout_ms, int64_t now);

/* Makes a poll in progress (or the next one) return at once. Thread: any; async-signal-
 * safe (one write(2)). */
void ktx__net_wakeup(struct ktx__net *net);

/* Reads the net's clock. */
int64_t ktx__net_now(const struct ktx__net *net);

/* Total requests in flight over every connection. */
int ktx__net_in_flight(const struct ktx__net *net);

/* Closes every connection now (requests in flight fail with KTX_ERR_TRANSPORT), without
 * backoff. Not from a completion callback. */
void ktx__net_close_all(struct ktx__net *net, int64_t now);

#endif /* KTX_NET_H */
