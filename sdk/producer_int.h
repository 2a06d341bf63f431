/*
 * The producer handle (ktx_producer_t): the modules it owns and the state of the public
 * calls. The public API is in include/kafkatx.h; this header is for the library's own
 * modules and white-box tests.
 *
 * Ownership: the producer owns its conf (taken by ktx_producer_new()), the accumulator,
 * the partitioner, the metadata cache, the net and the sender (which owns the idempotence
 * layer). Destruction order: sender (joins the thread), net, metadata, accumulator.
 *
 * Locks: |poll_lock| serialises delivery-report callbacks; |close_lock| serialises
 * ktx_close(). Neither is held across network I/O (the sender thread does all I/O).
 */
#ifndef KTX_PRODUCER_INT_H
#define KTX_PRODUCER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "accumulator.h"
#include "metadata.h"
#include "partitioner.h"
#include "sender.h"

/* Headers converted on the stack per ktx_send(); more need one allocation. */
#define KTX__PRODUCER_STACK_HEADERS 16

struct ktx_producer {
    ktx_conf_t *conf;                 /* owned; |v| points into it */
    struct ktx__conf_values v;
    struct ktx__accumulator *acc;
    struct ktx__partitioner *part;
    struct ktx__metadata *md;
    struct ktx__net *net;
    struct ktx__sender *sender;
    ktx_dr_cb_t dr_cb;
    void *dr_opaque;

    atomic_bool closed;               /* ktx_close() began: ktx_send() fails */
    atomic_uint_fast64_t enqueued;    /* records accepted by ktx_send() */
    atomic_uint_fast64_t reported;    /* records whose report was served */

    pthread_mutex_t poll_lock;        /* held while serving reports */
    atomic_bool polling;              /* |poll_owner| is serving reports */
    pthread_t poll_owner;

    pthread_mutex_t close_lock;
    bool close_done;                  /* guarded by |close_lock| */
};

/* Returns the producer's current fatal error code, or 0. Thread: any. */
int ktx__producer_fatal(const ktx_producer_t *producer);

#endif /* KTX_PRODUCER_INT_H */
