/*
 * Request handling for ktx-broker: one Kafka request in (bytes), one response out (bytes),
 * applied to a struct kb_cluster. Pure: no sockets, no clocks (the time is passed in), so
 * every handler is unit-tested by encoding a request with the SDK's client codecs and
 * decoding the answer (tests/check_broker_handlers.c).
 *
 * Each handler is decode, apply, encode, with the codecs of sdk/proto_*.h. Fault
 * injection (kb_cluster_faults()) replaces the outcome of every partition or of the whole
 * request with the injected code, without changing any state.
 */
#ifndef KB_HANDLERS_H
#define KB_HANDLERS_H

#include "cluster.h"

/* What the server should do with the response. */
struct kb_reply {
    bool send;        /* false for Produce with acks=0 */
    int64_t delay_ms; /* hold the response back this long (rtt, berr, Fetch max_wait) */
};

/*
 * Handles the request of |len| bytes at |req| (header and body, without the size prefix)
 * that arrived at broker |node_id| (1-based). Appends the response (header and body, without the
 * size prefix) to |out| and fills |*reply|. |c| is changed as the request asks.
 * Returns 0, or KTX_ERR_BAD_MSG / KTX_ERR_UNSUPPORTED when the request cannot be answered
 * (the server then closes the connection, as Kafka does), or KTX_ERR_TRANSPORT when fault
 * injection asks for the connection to be dropped: before the request is applied for
 * KB_FAULT_DROP, after it was applied (its answer is lost) for KB_FAULT_APPLY_THEN_DROP.
 */
int kb_handle_request(struct kb_cluster *c, int32_t node_id, const uint8_t *req, size_t len,
                      int64_t now_ms, struct ktx__writer *out, struct kb_reply *reply);

#endif /* KB_HANDLERS_H */
