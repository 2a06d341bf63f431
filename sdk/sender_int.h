/*
 * The sender's state, shared by sender.c (the thread, run/run_once, verbs) and
 * sender_produce.c (send_producer_data, Produce requests and their responses).
 * Not for other modules: they use sender.h and seam.h.
 */
#ifndef KTX_SENDER_INT_H
#define KTX_SENDER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "sender.h"

/* A drain cursor per broker, so that no partition of a broker starves. */
struct ktx__sender_cursor {
    int32_t node;
    size_t cursor;
};

/* A partition with queued data and its leader, for grouping by broker. */
struct ktx__sender_node_part {
    int32_t node;
    struct ktx__acc_part *part;
};

struct ktx__sender {
    struct ktx__sender_conf conf;
    struct ktx__accumulator *acc; /* borrowed */
    struct ktx__metadata *md;     /* borrowed */
    struct ktx__net *net;         /* borrowed; sender thread */
    struct ktx__seam_hooks hooks;

    pthread_t thread;
    bool started;
    atomic_bool running; /* false once a close was asked for */
    atomic_bool force;   /* forced close */
    atomic_int fatal;    /* fatal error code or 0 */
    char fatal_reason[512]; /* why, when set with ktx__sender_set_fatal_reason(); sender thread */
    atomic_bool wake_pending;  /* a wakeup was written since the current turn began */
    _Atomic int64_t wake_at;   /* when the current poll ends at the latest (INT64_MAX: I/O) */

    /* Guarded by |lock|: the thread's end and the metadata generation. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stopped;
    uint64_t md_generation;

    /* Sender thread only (produce_in_flight is also read by ktx_send(), hence atomic). */
    atomic_int produce_in_flight;
    struct ktx__sender_req *reqs; /* the Produce requests in flight (newest first) */
    uint64_t md_seen; /* metadata updates + failures seen so far */
    struct ktx__acc_part_list ready;
    struct ktx__acc_part_list undrained;
    struct ktx__sender_node_part *np;
    size_t np_cap;
    struct ktx__acc_part **parts;
    size_t parts_cap;
    struct ktx__sender_cursor *cursors;
    size_t cursors_len, cursors_cap;
};

/*
 * One Produce request in flight: its batches, sorted by topic then partition. A batch whose
 * delivery.timeout.ms passes while the request is out is completed (timed out) at once and
 * replaced here by a stand-in (batch->expired_in_flight) that only settles its sequence
 * when the answer comes.
 */
struct ktx__sender_req {
    struct ktx__sender *sender;
    struct ktx__sender_req *prev, *next; /* sender->reqs */
    int64_t expires_ms; /* the earliest delivery deadline of a batch not yet expired,
                           INT64_MAX when none */
    int32_t node;
    int16_t version; /* set by the encoder */
    size_t count;
    struct ktx__batch *batches[];
};

/* Reads the sender's clock (the net's). */
int64_t ktx__sender_now(struct ktx__sender *sender);

#endif /* KTX_SENDER_INT_H */
