/*
 * Snapshot codec for the coordinator and group state, and small file helpers.
 * See persist.h.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAPSHOT_MAGIC 0x4B545842 /* "KTXB" */
#define SNAPSHOT_VERSION 1

/* ---- encoding ---- */

static void w_str(struct ktx__writer *w, const char *s)
{
    ktx__w_nstring(w, ktx__str_c(s), false);
}

static void encode_txn(struct ktx__writer *w, const struct kb_txn *txn)
{
    w_str(w, txn->transactional_id);
    ktx__w_i64(w, txn->producer_id);
    ktx__w_i64(w, txn->last_producer_id);
    ktx__w_i16(w, txn->producer_epoch);
    ktx__w_i16(w, txn->last_producer_epoch);
    ktx__w_i8(w, (int8_t)txn->state);
    ktx__w_i32(w, txn->timeout_ms);
    ktx__w_i64(w, txn->start_ms);
    ktx__w_i64(w, txn->update_ms);
    ktx__w_bool(w, txn->markers_written);
    ktx__w_i64(w, txn->complete_at_ms);
    ktx__w_i32(w, (int32_t)txn->n_partitions);
    for (size_t i = 0; i < txn->n_partitions; i++) {
        w_str(w, txn->partitions[i].topic);
        ktx__w_i32(w, txn->partitions[i].partition);
    }
    ktx__w_i32(w, (int32_t)txn->n_groups);
    for (size_t i = 0; i < txn->n_groups; i++)
        w_str(w, txn->groups[i]);
}

static void encode_offset(struct ktx__writer *w, const struct kb_offset *o)
{
    w_str(w, o->group_id);
    w_str(w, o->topic);
    ktx__w_i32(w, o->partition);
    ktx__w_i64(w, o->committed_offset);
    ktx__w_i32(w, o->committed_leader_epoch);
    w_str(w, o->metadata);
    ktx__w_i64(w, o->commit_ms);
    ktx__w_i64(w, o->producer_id);
    ktx__w_i16(w, o->producer_epoch);
}

int kb_persist_state_encode(struct ktx__writer *w, const struct kb_txncoord *coord,
                            const struct kb_groups *groups)
{
    ktx__w_i32(w, SNAPSHOT_MAGIC);
    ktx__w_i16(w, SNAPSHOT_VERSION);
    ktx__w_i64(w, coord->next_producer_id);
    ktx__w_i32(w, coord->conf.coordinator_epoch);
    ktx__w_i32(w, (int32_t)coord->n_txns);
    for (size_t i = 0; i < coord->n_txns; i++)
        encode_txn(w, coord->txns[i]);
    ktx__w_i32(w, (int32_t)groups->n_committed);
    for (size_t i = 0; i < groups->n_committed; i++)
        encode_offset(w, &groups->committed[i]);
    ktx__w_i32(w, (int32_t)groups->n_pending);
    for (size_t i = 0; i < groups->n_pending; i++)
        encode_offset(w, &groups->pending[i]);
    return w->err;
}

/* ---- decoding ---- */

/* Reads a string into |arena| (NULL for a null string; fails the reader on OOM). */
static char *r_str(struct ktx__reader *r, struct ktx__arena *arena)
{
    struct ktx__str s = ktx__r_nstring(r, false);
    char *c;

    if (r->err || s.len < 0)
        return NULL;
    if (!(c = ktx__arena_strdup(arena, s)))
        ktx__r_fail(r);
    return c;
}

/* Reads a count of elements that take at least |min_size| bytes each. */
static int32_t r_count(struct ktx__reader *r, size_t min_size)
{
    int32_t n = ktx__r_array_len(r, false, min_size);
    if (n < 0)
        ktx__r_fail(r);
    return n < 0 ? 0 : n;
}

static void decode_txn_members(struct ktx__reader *r, struct ktx__arena *arena, struct kb_txn *txn)
{
    int32_t n = r_count(r, 6);

    txn->partitions = ktx__arena_alloc(arena, ((size_t)n + 1) * sizeof(*txn->partitions));
    for (int32_t i = 0; i < n && txn->partitions && !r->err; i++) {
        txn->partitions[i].topic = r_str(r, arena);
        txn->partitions[i].partition = ktx__r_i32(r);
        txn->n_partitions++;
    }
    n = r_count(r, 2);
    txn->groups = ktx__arena_alloc(arena, ((size_t)n + 1) * sizeof(*txn->groups));
    for (int32_t i = 0; i < n && txn->groups && !r->err; i++)
        txn->groups[txn->n_groups++] = r_str(r, arena);
    if (!txn->partitions || !txn->groups)
        ktx__r_fail(r);
}

/* Reads one transaction record and adds it to |coord|. */
static int decode_txn(struct ktx__reader *r, struct ktx__arena *arena, struct kb_txncoord *coord)
{
    struct kb_txn txn;

    memset(&txn, 0, sizeof(txn));
    txn.transactional_id = r_str(r, arena);
    txn.producer_id = ktx__r_i64(r);
    txn.last_producer_id = ktx__r_i64(r);
    txn.producer_epoch = ktx__r_i16(r);
    txn.last_producer_epoch = ktx__r_i16(r);
    txn.state = (enum kb_txn_state)ktx__r_i8(r);
    txn.timeout_ms = ktx__r_i32(r);
    txn.start_ms = ktx__r_i64(r);
    txn.update_ms = ktx__r_i64(r);
    txn.markers_written = ktx__r_bool(r);
    txn.complete_at_ms = ktx__r_i64(r);
    decode_txn_members(r, arena, &txn);
    if (r->err || !txn.transactional_id)
        return KTX_ERR_BAD_MSG;
    for (size_t i = 0; i < txn.n_partitions; i++)
        if (!txn.partitions[i].topic)
            return KTX_ERR_BAD_MSG;
    for (size_t i = 0; i < txn.n_groups; i++)
        if (!txn.groups[i])
            return KTX_ERR_BAD_MSG;
    switch (kb_txncoord_restore(coord, &txn)) {
    case 0:
        return 0;
    case KTX_ERR_NO_MEMORY:
        return KTX_ERR_NO_MEMORY;
    default:
        return KTX_ERR_BAD_MSG;
    }
}

/* Reads one offset and stores it as committed (|pending| false) or pending. */
static int decode_offset(struct ktx__reader *r, struct ktx__arena *arena, struct kb_groups *groups,
                         bool pending)
{
    struct kb_offset_commit c;
    const char *group = r_str(r, arena);
    int64_t commit_ms, producer_id;
    int16_t producer_epoch;
    int err;

    c.topic = r_str(r, arena);
    c.partition = ktx__r_i32(r);
    c.committed_offset = ktx__r_i64(r);
    c.committed_leader_epoch = ktx__r_i32(r);
    c.metadata = r_str(r, arena);
    commit_ms = ktx__r_i64(r);
    producer_id = ktx__r_i64(r);
    producer_epoch = ktx__r_i16(r);
    if (r->err || !group || !c.topic)
        return KTX_ERR_BAD_MSG;
    err = pending ? kb_groups_txn_commit(groups, group, producer_id, producer_epoch, &c, commit_ms)
                  : kb_groups_commit(groups, group, &c, commit_ms);
    return err == KTX_ERR_NO_MEMORY ? err : err ? KTX_ERR_BAD_MSG : 0;
}

static int decode_body(struct ktx__reader *r, struct ktx__arena *arena, struct kb_txncoord *coord,
                       struct kb_groups *groups)
{
    int64_t next_producer_id = ktx__r_i64(r);
    int32_t coordinator_epoch = ktx__r_i32(r);
    int32_t n = r_count(r, 8);
    int err = r->err ? KTX_ERR_BAD_MSG : 0;

    for (int32_t i = 0; i < n && !err; i++)
        err = decode_txn(r, arena, coord);
    n = err ? 0 : r_count(r, 8);
    for (int32_t i = 0; i < n && !err; i++)
        err = decode_offset(r, arena, groups, false);
    n = err ? 0 : r_count(r, 8);
    for (int32_t i = 0; i < n && !err; i++)
        err = decode_offset(r, arena, groups, true);
    if (err)
        return err;
    if (ktx__r_finish(r))
        return KTX_ERR_BAD_MSG;
    if (next_producer_id < 0 || next_producer_id > ((int64_t)1 << 62))
        return KTX_ERR_BAD_MSG;
    if (next_producer_id > coord->next_producer_id)
        coord->next_producer_id = next_producer_id;
    coord->conf.coordinator_epoch = coordinator_epoch + 1;
    return 0;
}

int kb_persist_state_decode(const uint8_t *p, size_t len, struct kb_txncoord *coord,
                            struct kb_groups *groups)
{
    struct ktx__reader r;
    struct ktx__arena arena;
    int err;

    ktx__r_init(&r, p, len);
    if (ktx__r_i32(&r) != SNAPSHOT_MAGIC || r.err)
        return KTX_ERR_BAD_MSG;
    if (ktx__r_i16(&r) != SNAPSHOT_VERSION)
        return r.err ? KTX_ERR_BAD_MSG : KTX_ERR_UNSUPPORTED;
    ktx__arena_init(&arena, 0);
    err = decode_body(&r, &arena, coord, groups);
    ktx__arena_free(&arena);
    return err;
}

/* ---- files ---- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KTX_ERR_STORE;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int kb_persist_write_file(const char *path, const uint8_t *p, size_t len)
{
    char tmp[4096];
    int fd, err;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return KTX_ERR_STORE;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return KTX_ERR_STORE;
    err = write_all(fd, p, len);
    if (!err && fsync(fd) != 0)
        err = KTX_ERR_STORE;
    if (close(fd) != 0)
        err = KTX_ERR_STORE;
    if (!err && rename(tmp, path) != 0)
        err = KTX_ERR_STORE;
    if (err)
        unlink(tmp);
    return err;
}

int kb_persist_append_file(const char *path, const uint8_t *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err;

    if (fd < 0)
        return KTX_ERR_STORE;
    err = write_all(fd, p, len);
    if (close(fd) != 0)
        err = KTX_ERR_STORE;
    return err;
}

int kb_persist_read_file(const char *path, uint8_t **p, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long size;
    int err = 0;

    *p = NULL;
    *len = 0;
    if (!f)
        return errno == ENOENT ? 0 : KTX_ERR_STORE;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        err = KTX_ERR_STORE;
    else if (size > 0 && !(*p = malloc((size_t)size)))
        err = KTX_ERR_NO_MEMORY;
    else if (size > 0 && fread(*p, 1, (size_t)size, f) != (size_t)size)
        err = KTX_ERR_STORE;
    fclose(f);
    if (err) {
        free(*p);
        *p = NULL;
        return err;
    }
    *len = (size_t)size;
    return 0;
}
