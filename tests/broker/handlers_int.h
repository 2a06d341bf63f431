/*
 * Shared between the request handlers of ktx-broker (handlers*.c). Not used elsewhere.
 */
#ifndef KB_HANDLERS_INT_H
#define KB_HANDLERS_INT_H

#include "handlers.h"

/* Everything a handler needs to know about the request it serves. */
struct kb_req_ctx {
    struct kb_cluster *c;
    int32_t node_id;
    int16_t api_key;
    int16_t ver;
    int64_t now_ms;
    int16_t forced;           /* injected error code, or 0 */
    struct ktx__arena *arena; /* for decoded requests and response arrays */
    struct kb_reply *reply;
};

/* A handler decodes |len| bytes at |body|, applies them and appends the response body to
 * |w|. Returns 0, KTX_ERR_BAD_MSG or the writer's error. */
typedef int (*kb_handler_fn)(struct kb_req_ctx *ctx, const uint8_t *body, size_t len,
                             struct ktx__writer *w);

/* Returns a NUL-terminated copy of |s| in the request arena (NULL for a null string). */
char *kb_h_cstr(struct kb_req_ctx *ctx, struct ktx__str s);
/* Returns |n| zeroed elements of |size| from the request arena (a valid pointer for 0). */
void *kb_h_alloc(struct kb_req_ctx *ctx, int32_t n, size_t size);
/* The partition |topic|/|index| if this broker leads it; else NULL with the error to
 * answer (UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER_OR_FOLLOWER) in |*err|. */
struct kb_partition *kb_h_led_partition(struct kb_req_ctx *ctx, struct ktx__str topic,
                                        int32_t index, int16_t *err);
/* 0 when this broker coordinates |key|, else NOT_COORDINATOR. */
int16_t kb_h_check_coordinator(struct kb_req_ctx *ctx, int8_t key_type, struct ktx__str key);

int kb_h_init_producer_id(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_add_partitions_to_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_add_offsets_to_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_end_txn(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_txn_offset_commit(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_describe_producers(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_describe_transactions(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_produce(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_fetch(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_list_offsets(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_offset_commit(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);
int kb_h_offset_fetch(struct kb_req_ctx *ctx, const uint8_t *body, size_t len, struct ktx__writer *w);

#endif /* KB_HANDLERS_INT_H */
