/*
 * send_producer_data and the Produce requests: which brokers are ready, draining their
 * partitions into one request each, encoding it straight from the batch bytes, expiring
 * queued batches, and handling each answer as decode -> classify (the txn layer's
 * produce_result hook, which uses the one classification table) -> apply.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "proto_produce.h"
#include "sender_int.h"

#define EXPIRED_CHUNK 64

/* ---- scratch arrays ---- */

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *nv;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    if (!(nv = realloc(*v, ncap * elem)))
        return KTX_ERR_NO_MEMORY;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* Returns the drain cursor of |node|, creating it; NULL when out of memory. */
static size_t *cursor_of(struct ktx__sender *sender, int32_t node)
{
    struct ktx__sender_cursor *c;

    for (size_t i = 0; i < sender->cursors_len; i++)
        if (sender->cursors[i].node == node)
            return &sender->cursors[i].cursor;
    if (grow((void **)&sender->cursors, &sender->cursors_cap, sender->cursors_len + 1,
             sizeof(*c)) != 0)
        return NULL;
    c = &sender->cursors[sender->cursors_len++];
    c->node = node;
    c->cursor = 0;
    return &c->cursor;
}

/* ---- completing batches ---- */

void ktx__sender_fail_batch(struct ktx__sender *sender, struct ktx__batch *batch, int err)
{
    ktx__accumulator_complete(sender->acc, batch, err, -1, -1);
}

/* Completes |batch| of a finished request with |err| and no verdict (forced close, acks=0);
 * a stand-in of a batch that expired in flight got its report already and is only freed. */
static void complete_unjudged(struct ktx__sender *sender, struct ktx__batch *batch, int err)
{
    if (batch->expired_in_flight)
        free(batch);
    else
        ktx__accumulator_complete(sender->acc, batch, err, -1, -1);
}

/* The verdict without a txn layer: retry retriable errors while allowed, fail the rest. */
static enum ktx__produce_verdict default_verdict(const struct ktx__produce_outcome *out,
                                                 int *final_err)
{
    *final_err = out->err;
    if (out->err == 0)
        return KTX__PV_COMPLETE;
    if (ktx__err_is_retriable(out->err) || out->err == KTX_ERR_TRANSPORT ||
        out->err == KTX_ERR_TIMED_OUT) {
        if (out->can_retry)
            return KTX__PV_RETRY_REFRESH;
        if (out->expired)
            *final_err = KTX_ERR_MSG_TIMED_OUT;
    }
    return KTX__PV_COMPLETE;
}

/*
 * Applies the outcome |err| (with |base_offset| and |log_append_time|) to the in-flight
 * |batch|: asks the txn layer for the verdict, then completes or re-enqueues it.
 * Thread: sender.
 */
static void apply_outcome(struct ktx__sender *sender, struct ktx__batch *batch, int err,
                          int64_t base_offset, int64_t log_append_time, int16_t version,
                          bool leader_moved, int64_t now)
{
    struct ktx__produce_outcome out = {0};
    enum ktx__produce_verdict verdict;
    int final_err = err;

    out.err = err;
    out.base_offset = base_offset;
    out.log_start_offset = -1;
    out.version = version;
    out.expired = batch->expired_in_flight ||
                  now - batch->created_ms >= sender->conf.delivery_timeout_ms;
    out.can_retry = !out.expired && batch->attempts < sender->conf.retries;
    /* A leader hint (KIP-951) already moved the partition: no Metadata round trip. */
    if (err != 0 && !leader_moved)
        ktx__metadata_note_error(sender->md, err);
    if (sender->hooks.produce_result)
        verdict = sender->hooks.produce_result(sender->hooks.opaque, sender, batch, &out,
                                               &final_err);
    else
        verdict = default_verdict(&out, &final_err);
    if (batch->expired_in_flight) {
        /* The report said timed out already; the verdict only settled the sequence (an
         * acknowledgement here proves the batch landed). Never a second report. */
        ktx__sender_log(sender, KTX_LOG_INFO, "sender",
                        "%s [%d]: late answer for %d record(s) reported timed out: %s",
                        batch->topic, (int)batch->partition, (int)batch->record_count,
                        err ? ktx_err_name(err) : "written");
        free(batch);
        return;
    }
    switch (verdict) {
    case KTX__PV_RETRY_REFRESH:
        if (!leader_moved)
            ktx__metadata_request_update(sender->md);
        /* fall through */
    case KTX__PV_RETRY:
        batch->leader_moved = leader_moved; /* KIP-951: the retry skips the backoff */
        ktx__accumulator_reenqueue(sender->acc, batch, now);
        break;
    default:
        if (final_err != 0)
            ktx__sender_log(sender, KTX_LOG_WARNING, "sender", "%s [%d]: %d record(s) failed: %s",
                            batch->topic, (int)batch->partition, (int)batch->record_count,
                            ktx_err_name(final_err));
        ktx__accumulator_complete(sender->acc, batch, final_err, final_err ? -1 : base_offset,
                                  log_append_time);
        break;
    }
}

/* ---- the request ---- */

static int cmp_batch(const void *a, const void *b)
{
    const struct ktx__batch *x = *(struct ktx__batch *const *)a;
    const struct ktx__batch *y = *(struct ktx__batch *const *)b;
    int c = x->topic == y->topic ? 0 : strcmp(x->topic, y->topic);

    if (c != 0)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Number of batches from |i| on that share the topic of batch |i|. */
static int32_t topic_run(const struct ktx__sender_req *req, size_t i)
{
    size_t j = i + 1;

    while (j < req->count && strcmp(req->batches[j]->topic, req->batches[i]->topic) == 0)
        j++;
    return (int32_t)(j - i);
}

/* ktx__conn_encode_fn: the Produce body straight from the sealed batch bytes. */
static int encode_produce(struct ktx__writer *w, int16_t ver, void *opaque)
{
    struct ktx__sender_req *req = opaque;
    struct ktx__str txn_id = ktx__str_c(req->sender->conf.transactional_id);
    int32_t topics = 0;
    int err;

    req->version = ver;
    for (size_t i = 0; i < req->count; i += (size_t)topic_run(req, i))
        topics++;
    err = ktx__proto_produce_req_begin(w, ver, txn_id, (int16_t)req->sender->conf.acks,
                                       (int32_t)req->sender->conf.request_timeout_ms, topics);
    if (err != 0)
        return err;
    for (size_t i = 0; i < req->count;) {
        int32_t n = topic_run(req, i);

        ktx__proto_produce_req_topic_begin(w, ver, ktx__str_c(req->batches[i]->topic), n);
        for (int32_t k = 0; k < n; k++, i++) {
            size_t len;
            const uint8_t *bytes = ktx__batch_bytes(req->batches[i], &len);

            ktx__proto_produce_req_partition(w, ver, req->batches[i]->partition,
                                             (struct ktx__bytes){bytes, (int32_t)len});
        }
        ktx__proto_produce_req_topic_end(w, ver);
    }
    return ktx__proto_produce_req_end(w, ver);
}

/* Finds the answer for |batch|, trying the position after the previous match first. */
static const struct ktx__produce_partition_resp *
find_partition(const struct ktx__produce_resp *resp, const struct ktx__batch *batch,
               int32_t *ti, int32_t *pi)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t t = pass ? 0 : *ti; t < resp->responses_count; t++) {
            const struct ktx__produce_topic_resp *tr = &resp->responses[t];

            if (!ktx__str_eq_c(tr->name, batch->topic))
                continue;
            for (int32_t p = (pass == 0 && t == *ti) ? *pi : 0;
                 p < tr->partition_responses_count; p++) {
                if (tr->partition_responses[p].index == batch->partition) {
                    *ti = t;
                    *pi = p + 1;
                    return &tr->partition_responses[p];
                }
            }
        }
    }
    return NULL;
}

/*
 * Applies the leader hint (KIP-951, Produce v10+) of |pr|, the answer for |batch| in
 * |resp|: a NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH with a CurrentLeader moves the
 * partition in the metadata cache (guarded by the leader epoch there), registering the new
 * leader's NodeEndpoint with the net when the answer has one. Returns true when the leader
 * moved: the retry then goes there without a Metadata round trip.
 */
static bool apply_leader_hint(struct ktx__sender *sender, const struct ktx__batch *batch,
                              const struct ktx__produce_partition_resp *pr,
                              const struct ktx__produce_resp *resp)
{
    char host[KTX__NET_MAX_HOST + 1];
    struct ktx__net_broker endpoint = {-1, host, 0};
    int32_t leader = pr->current_leader.leader_id;

    if ((pr->error_code != KTX_ERR_NOT_LEADER_OR_FOLLOWER &&
         pr->error_code != KTX_ERR_FENCED_LEADER_EPOCH) ||
        leader < 0 || pr->current_leader.leader_epoch < 0)
        return false;
    for (int32_t i = 0; i < resp->node_endpoints_count; i++) {
        const struct ktx__node_endpoint *ne = &resp->node_endpoints[i];

        if (ne->node_id != leader || ne->host.len <= 0 || ne->host.len > KTX__NET_MAX_HOST)
            continue;
        memcpy(host, ne->host.ptr, (size_t)ne->host.len);
        host[ne->host.len] = '\0';
        endpoint.node_id = leader;
        endpoint.port = ne->port;
        break;
    }
    if (endpoint.node_id >= 0 &&
        ktx__net_add_broker(sender->net, leader, host, endpoint.port) != 0)
        endpoint.node_id = -1; /* unusable: only a broker already known may lead */
    if (!ktx__metadata_set_leader(sender->md, batch->topic, batch->partition, leader,
                                  pr->current_leader.leader_epoch,
                                  endpoint.node_id >= 0 ? &endpoint : NULL))
        return false;
    ktx__sender_log(sender, KTX_LOG_INFO, "sender",
                    "%s [%d]: leader hint from the Produce answer: broker %d, epoch %d",
                    batch->topic, (int)batch->partition, (int)leader,
                    (int)pr->current_leader.leader_epoch);
    return true;
}

/* Applies a decoded answer to every batch of |req|. */
static void apply_response(struct ktx__sender_req *req, const struct ktx__produce_resp *resp,
                           int64_t now)
{
    int32_t ti = 0, pi = 0;

    for (size_t i = 0; i < req->count; i++) {
        const struct ktx__produce_partition_resp *pr =
            find_partition(resp, req->batches[i], &ti, &pi);
        bool moved;

        if (!pr) {
            apply_outcome(req->sender, req->batches[i], KTX_ERR_BAD_MSG, -1, -1, req->version,
                          false, now);
            continue;
        }
        moved = pr->error_code != 0 && apply_leader_hint(req->sender, req->batches[i], pr, resp);
        apply_outcome(req->sender, req->batches[i], pr->error_code, pr->base_offset,
                      pr->log_append_time_ms, req->version, moved, now);
    }
}

/* Removes |req| from the sender's list of requests in flight. */
static void unlink_req(struct ktx__sender *sender, struct ktx__sender_req *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        sender->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

/* Adds |req| (sent) to the sender's list of requests in flight. */
static void link_req(struct ktx__sender *sender, struct ktx__sender_req *req)
{
    req->expires_ms = INT64_MAX;
    for (size_t i = 0; i < req->count; i++)
        req->expires_ms = KTX__MIN(req->expires_ms, req->batches[i]->created_ms +
                                                        sender->conf.delivery_timeout_ms);
    req->prev = NULL;
    req->next = sender->reqs;
    if (sender->reqs)
        sender->reqs->prev = req;
    sender->reqs = req;
}

/* ktx__conn_cb of a Produce request: decode -> classify -> apply, per batch. */
static void on_produce_response(struct ktx__conn *conn, int err, const uint8_t *body, size_t len,
                                void *opaque)
{
    struct ktx__sender_req *req = opaque;
    struct ktx__sender *sender = req->sender;
    int64_t now = ktx__net_now(sender->net);
    struct ktx__produce_resp resp;
    struct ktx__arena arena;

    (void)conn;
    sender->produce_in_flight--;
    unlink_req(sender, req);
    if (atomic_load(&sender->force)) {
        for (size_t i = 0; i < req->count; i++)
            complete_unjudged(sender, req->batches[i], KTX_ERR_PURGED);
    } else if (err == 0 && body == NULL) { /* acks=0: written is all we learn */
        for (size_t i = 0; i < req->count; i++)
            complete_unjudged(sender, req->batches[i], 0);
    } else if (err != 0) {
        for (size_t i = 0; i < req->count; i++)
            apply_outcome(sender, req->batches[i], err, -1, -1, req->version, false, now);
    } else {
        ktx__arena_init(&arena, 0);
        err = ktx__proto_produce_resp_decode(body, len, req->version, &resp, &arena);
        if (err != 0) {
            ktx__sender_log(sender, KTX_LOG_WARNING, "sender",
                            "undecodable Produce v%d answer from broker %d",
                            (int)req->version, (int)req->node);
            for (size_t i = 0; i < req->count; i++)
                apply_outcome(sender, req->batches[i], KTX_ERR_BAD_MSG, -1, -1, req->version,
                              false, now);
        } else {
            apply_response(req, &resp, now);
        }
        ktx__arena_free(&arena);
    }
    free(req);
}

/* Sends the |count| batches in |batches| to |node| as one Produce request. */
static void send_request(struct ktx__sender *sender, int32_t node, struct ktx__batch **batches,
                         size_t count, int64_t now)
{
    struct ktx__sender_req *req = malloc(sizeof(*req) + count * sizeof(*batches));
    struct ktx__conn_req creq = {0};
    int err;

    if (!req) {
        for (size_t i = 0; i < count; i++)
            apply_outcome(sender, batches[i], KTX_ERR_NO_MEMORY, -1, -1, -1, false, now);
        return;
    }
    req->sender = sender;
    req->node = node;
    req->version = -1;
    req->count = count;
    memcpy(req->batches, batches, count * sizeof(*batches));
    qsort(req->batches, count, sizeof(*batches), cmp_batch);
    creq.api_key = KTX__API_PRODUCE;
    creq.version = -1;
    creq.no_response = sender->conf.acks == 0;
    creq.encode = encode_produce;
    creq.encode_opaque = req;
    creq.cb = on_produce_response;
    creq.opaque = req;
    err = ktx__net_send(sender->net, node, &creq, now);
    if (err == 0) {
        sender->produce_in_flight++;
        link_req(sender, req);
        return;
    }
    ktx__sender_log(sender, KTX_LOG_WARNING, "sender", "Produce to broker %d not sent: %s",
                    (int)node, ktx_err_name(err));
    for (size_t i = 0; i < count; i++)
        apply_outcome(sender, req->batches[i], err, -1, -1, -1, false, now);
    free(req);
}

/* ---- send_producer_data ---- */

static int cmp_node_part(const void *a, const void *b)
{
    const struct ktx__sender_node_part *x = a, *y = b;

    if (x->node != y->node)
        return (x->node > y->node) - (x->node < y->node);
    return (x->part > y->part) - (x->part < y->part);
}

/* The leader of |part|, or -1 when unknown (then the topic's metadata is asked for). */
static int32_t leader_of(struct ktx__sender *sender, struct ktx__acc_part *part, int64_t now)
{
    struct ktx__metadata_partition_info info;
    const char *topic = ktx__acc_part_topic(part);

    if (ktx__metadata_leader_for(sender->md, topic, ktx__acc_part_partition(part), &info) == 0 &&
        info.leader_id >= 0)
        return info.leader_id;
    ktx__metadata_add_topic(sender->md, topic, now);
    ktx__metadata_request_update(sender->md);
    return -1;
}

/*
 * Lists in sender->np the partitions with queued data whose leader is a ready broker with a
 * ready partition (Kafka drains every partition of a ready broker), sorted by broker.
 * Stores in |*not_ready_ms| how long until a broker that is not ready may be. Returns the
 * number of entries.
 */
static size_t ready_node_parts(struct ktx__sender *sender, int64_t now, int64_t *not_ready_ms)
{
    size_t n = 0, nodes = 0;
    int32_t *ready_nodes;

    if (grow((void **)&sender->np, &sender->np_cap, sender->ready.len + 1, sizeof(*sender->np)))
        return 0;
    /* The distinct ready leaders go at the front of np (node field only). */
    ready_nodes = NULL;
    for (size_t i = 0; i < sender->ready.len; i++) {
        int32_t node = leader_of(sender, sender->ready.v[i], now);
        bool seen = false;

        if (node < 0)
            continue;
        for (size_t k = 0; k < nodes && !seen; k++)
            seen = sender->np[k].node == node;
        if (seen)
            continue;
        if (!ktx__net_ready(sender->net, node, now)) {
            *not_ready_ms = KTX__MIN(*not_ready_ms, ktx__net_poll_delay(sender->net, node, now));
            continue;
        }
        sender->np[nodes++].node = node;
    }
    if (nodes == 0)
        return 0;
    if (!(ready_nodes = malloc(nodes * sizeof(*ready_nodes))))
        return 0;
    for (size_t k = 0; k < nodes; k++)
        ready_nodes[k] = sender->np[k].node;
    sender->undrained.len = 0;
    ktx__accumulator_undrained(sender->acc, &sender->undrained);
    if (grow((void **)&sender->np, &sender->np_cap, sender->undrained.len + 1,
             sizeof(*sender->np)) == 0) {
        for (size_t i = 0; i < sender->undrained.len; i++) {
            int32_t node = leader_of(sender, sender->undrained.v[i], now);

            for (size_t k = 0; k < nodes; k++) {
                if (ready_nodes[k] == node) {
                    sender->np[n].node = node;
                    sender->np[n++].part = sender->undrained.v[i];
                    break;
                }
            }
        }
        qsort(sender->np, n, sizeof(*sender->np), cmp_node_part);
    }
    free(ready_nodes);
    return n;
}

/* Drains one request's worth of batches for each ready broker and sends it. Returns the
 * number of requests sent. */
static size_t drain_and_send(struct ktx__sender *sender, size_t n, int64_t now)
{
    size_t sent = 0, batches_cap = 0, total = 0, groups = 0;
    struct ktx__batch **batches = NULL;
    /* Per node: where its batches start in |batches| and how many; all nodes are drained
     * before anything is sent so that hooks.drained sees the whole turn. */
    struct { int32_t node; size_t start, count; } *grp = malloc(n * sizeof(*grp));
    int err = 0;

    for (size_t i = 0; grp && i < n;) {
        size_t j = i, count = 0, *cursor;
        int32_t node = sender->np[i].node;

        while (j < n && sender->np[j].node == node)
            j++;
        if (grow((void **)&sender->parts, &sender->parts_cap, j - i, sizeof(*sender->parts)) ||
            grow((void **)&batches, &batches_cap, total + (j - i), sizeof(*batches)) ||
            !(cursor = cursor_of(sender, node)))
            break;
        for (size_t k = i; k < j; k++)
            sender->parts[k - i] = sender->np[k].part;
        ktx__accumulator_drain(sender->acc, sender->parts, j - i, cursor,
                               (size_t)sender->conf.max_request_size, now, batches + total,
                               j - i, &count);
        if (count > 0) {
            grp[groups].node = node;
            grp[groups].start = total;
            grp[groups++].count = count;
            total += count;
        }
        i = j;
    }
    if (total > 0 && sender->hooks.drained)
        err = sender->hooks.drained(sender->hooks.opaque, sender, batches, total);
    for (size_t g = 0; g < groups; g++) {
        struct ktx__batch **b = batches + grp[g].start;
        size_t count = 0;

        /* Slots the hook set to NULL are batches it keeps back (seam.h). */
        for (size_t k = 0; k < grp[g].count; k++)
            if (b[k])
                b[count++] = b[k];
        if (err != 0) {
            for (size_t k = 0; k < count; k++)
                ktx__sender_fail_batch(sender, b[k], err);
            continue;
        }
        if (count == 0)
            continue;
        send_request(sender, grp[g].node, b, count, now);
        sent++;
    }
    free(grp);
    free(batches);
    return sent;
}

size_t ktx__sender_send_journaled(struct ktx__sender *sender, struct ktx__batch **batches,
                                  size_t count, int64_t now)
{
    /* One open request per node (its batches and their bytes) and the partitions that
     * wait this call (leader unknown or not ready, or an older batch waits). */
    struct { int32_t node; size_t n, bytes; } *req = malloc(count * sizeof(*req));
    struct ktx__batch **rb = malloc(count * count * sizeof(*rb));
    const struct ktx__acc_part **blocked = malloc(count * sizeof(*blocked));
    size_t nreq = 0, nblocked = 0, kept = 0;

    if (!req || !rb || !blocked) {
        free(req);
        free(rb);
        free(blocked);
        return count; /* kept for the next turn */
    }
    for (size_t i = 0; i < count; i++) {
        struct ktx__batch *b = batches[i];
        size_t len, r;
        bool wait = false;
        int32_t node;

        for (size_t k = 0; k < nblocked && !wait; k++)
            wait = blocked[k] == b->part;
        node = wait ? -1 : leader_of(sender, b->part, now);
        for (r = 0; r < nreq && req[r].node != node; r++)
            ;
        ktx__batch_bytes(b, &len);
        if (!wait && node >= 0 && r < nreq && req[r].bytes + len > (size_t)sender->conf.max_request_size) {
            send_request(sender, node, rb + r * count, req[r].n, now);
            req[r].n = 0;
            req[r].bytes = 0;
        }
        if (!wait && node >= 0 && (r == nreq || req[r].n == 0) &&
            !ktx__net_ready(sender->net, node, now))
            node = -1;
        if (wait || node < 0) {
            if (!wait)
                blocked[nblocked++] = b->part;
            batches[kept++] = b;
            continue;
        }
        if (r == nreq) {
            req[nreq].node = node;
            req[nreq].n = 0;
            req[nreq++].bytes = 0;
        }
        rb[r * count + req[r].n++] = b;
        req[r].bytes += len;
    }
    for (size_t r = 0; r < nreq; r++)
        if (req[r].n > 0)
            send_request(sender, req[r].node, rb + r * count, req[r].n, now);
    free(req);
    free(rb);
    free(blocked);
    return kept;
}

/* Expires queued batches past delivery.timeout.ms; returns the next expiry time. */
static int64_t expire_queued(struct ktx__sender *sender, int64_t now)
{
    struct ktx__batch *expired[EXPIRED_CHUNK];
    int64_t next = INT64_MAX;
    size_t count;

    do {
        ktx__accumulator_expired(sender->acc, now, sender->conf.delivery_timeout_ms, expired,
                                 EXPIRED_CHUNK, &count, &next);
        for (size_t i = 0; i < count; i++) {
            if (sender->hooks.batch_expired)
                sender->hooks.batch_expired(sender->hooks.opaque, expired[i]);
            ktx__sender_log(sender, KTX_LOG_WARNING, "sender",
                            "%s [%d]: %d record(s) expired after delivery.timeout.ms",
                            expired[i]->topic, (int)expired[i]->partition,
                            (int)expired[i]->record_count);
            ktx__accumulator_complete(sender->acc, expired[i], KTX_ERR_MSG_TIMED_OUT, -1, -1);
        }
    } while (count == EXPIRED_CHUNK);
    return next;
}

/*
 * Makes a stand-in for |batch| of a request in flight: a copy of its identity, sequence and
 * place, without records or memory, that the request keeps for its answer. NULL when out
 * of memory.
 */
static struct ktx__batch *stand_in_for(const struct ktx__batch *batch)
{
    struct ktx__batch *stand_in = malloc(sizeof(*stand_in));

    if (!stand_in)
        return NULL;
    *stand_in = *batch;
    memset(&stand_in->bw, 0, sizeof(stand_in->bw));
    stand_in->next = stand_in->prev = NULL;
    stand_in->records = NULL;
    stand_in->records_cap = 0;
    stand_in->charged_buf = stand_in->charged_meta = 0;
    stand_in->expired_in_flight = true;
    return stand_in;
}

/*
 * Expires the batches of |req| past delivery.timeout.ms at |now| (Kafka's
 * getExpiredInflightBatches): each is completed with KTX_ERR_MSG_TIMED_OUT at once and
 * replaced in |req| by a stand-in. The batch_expired hook sees the stand-in while it is
 * still marked in flight: its sequence stays outstanding (the partition unresolved) until
 * the answer tells whether it landed. A batch without memory for a stand-in completes with
 * its answer instead. Updates req->expires_ms.
 */
static void expire_req(struct ktx__sender *sender, struct ktx__sender_req *req, int64_t now)
{
    int64_t timeout = sender->conf.delivery_timeout_ms;

    req->expires_ms = INT64_MAX;
    for (size_t i = 0; i < req->count; i++) {
        struct ktx__batch *batch = req->batches[i], *stand_in;

        if (batch->expired_in_flight)
            continue;
        if (now - batch->created_ms < timeout) {
            req->expires_ms = KTX__MIN(req->expires_ms, batch->created_ms + timeout);
            continue;
        }
        if (!(stand_in = stand_in_for(batch)))
            continue;
        if (sender->hooks.batch_expired)
            sender->hooks.batch_expired(sender->hooks.opaque, stand_in);
        stand_in->in_flight = false;
        ktx__sender_log(sender, KTX_LOG_WARNING, "sender",
                        "%s [%d]: %d record(s) expired in flight after delivery.timeout.ms",
                        batch->topic, (int)batch->partition, (int)batch->record_count);
        ktx__accumulator_complete(sender->acc, batch, KTX_ERR_MSG_TIMED_OUT, -1, -1);
        req->batches[i] = stand_in;
    }
}

/* Expires in-flight batches past delivery.timeout.ms; returns the next expiry time. */
static int64_t expire_in_flight(struct ktx__sender *sender, int64_t now)
{
    int64_t next = INT64_MAX;

    for (struct ktx__sender_req *req = sender->reqs; req; req = req->next) {
        if (req->expires_ms <= now)
            expire_req(sender, req, now);
        next = KTX__MIN(next, req->expires_ms);
    }
    return next;
}

int64_t ktx__sender_send_producer_data(struct ktx__sender *sender, int64_t now)
{
    int64_t next_ready = INT64_MAX, not_ready = INT64_MAX, next_expiry, timeout;
    size_t n, sent = 0;

    sender->ready.len = 0;
    ktx__accumulator_ready(sender->acc, now, &sender->ready, &next_ready);
    if (sender->ready.len > 0) {
        n = ready_node_parts(sender, now, &not_ready);
        if (n > 0)
            sent = drain_and_send(sender, n, now);
    }
    next_expiry = KTX__MIN(expire_queued(sender, now), expire_in_flight(sender, now));
    timeout = KTX__MIN(not_ready, next_ready == INT64_MAX ? INT64_MAX : next_ready - now);
    if (next_expiry != INT64_MAX)
        timeout = KTX__MIN(timeout, next_expiry - now);
    if (sent > 0)
        timeout = 0; /* more may be drainable at once (pipelining up to the in-flight limit) */
    return timeout < 0 ? 0 : timeout;
}
