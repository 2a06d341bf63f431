/*
 * Persistence for `ktx-broker --data-dir`: what survives a broker restart.
 *
 * Layout of a data directory:
 *   <topic>-<partition>.log   the partition's stored batches, back to back, exactly as
 *                             kept in struct kb_plog (the server appends each stored batch
 *                             with kb_persist_append_file()); reloaded with kb_plog_load(),
 *                             which rebuilds producer state, open transactions and the
 *                             aborted index by scanning the batches, as Kafka does.
 *   state.snap                a snapshot of the transaction coordinator and the group
 *                             offsets, rewritten (write + rename) after each change.
 *
 * The snapshot codec is pure (bytes in, structs out); only the *_file helpers do I/O.
 * After loading a snapshot the caller asks kb_txncoord_pending_markers() for the
 * markers of transactions that were still being completed, and writes them again.
 */
#ifndef KB_PERSIST_H
#define KB_PERSIST_H

#include "groups.h"
#include "txncoord.h"
#include "wire.h"

/*
 * Appends a snapshot of |coord| and |groups| (both borrowed) to |w|.
 * Returns 0 or the writer's error.
 */
int kb_persist_state_encode(struct ktx__writer *w, const struct kb_txncoord *coord,
                            const struct kb_groups *groups);

/*
 * Loads the snapshot of |len| bytes at |p| into |coord| and |groups|, which must be freshly
 * initialised (|coord| with the configuration to run with). The coordinator epoch of the
 * snapshot is bumped by one: a reload is a new coordinator generation, as in Kafka.
 * Returns 0, KTX_ERR_BAD_MSG (malformed or truncated), KTX_ERR_UNSUPPORTED (unknown
 * snapshot version) or KTX_ERR_NO_MEMORY. On failure the structures hold what was loaded
 * so far and are still to be freed by the caller.
 */
int kb_persist_state_decode(const uint8_t *p, size_t len, struct kb_txncoord *coord,
                            struct kb_groups *groups);

/* Replaces |path| atomically with |len| bytes at |p| (temporary file, fsync, rename).
 * Returns 0 or KTX_ERR_STORE. */
int kb_persist_write_file(const char *path, const uint8_t *p, size_t len);
/* Appends |len| bytes at |p| to |path| (created when missing). Returns 0 or KTX_ERR_STORE. */
int kb_persist_append_file(const char *path, const uint8_t *p, size_t len);
/*
 * Reads the whole of |path| into a malloc'ed buffer stored in |*p| (caller frees) and its
 * size in |*len|. A missing file reads as empty (|*p| NULL, |*len| 0).
 * Returns 0, KTX_ERR_STORE or KTX_ERR_NO_MEMORY.
 */
int kb_persist_read_file(const char *path, uint8_t **p, size_t *len);

#endif /* KB_PERSIST_H */
