/*
 * ktx-pipe's read of its own committed input position.
 *
 * kafkatx has no consumer API, so ktx-pipe reads the offset that its transactions committed
 * (TxnOffsetCommit through ktx_send_offsets_to_transaction()) with kafkatx's own codecs over
 * one blocking TCP connection at a time: ApiVersions, FindCoordinator for the group, then
 * OffsetFetch with require_stable at the group coordinator. With require_stable a pending
 * transactional commit is never read as committed: the coordinator answers
 * UNSTABLE_OFFSET_COMMIT until the transaction completed, and the fetch retries.
 *
 * Thread: the caller's. Nothing here keeps state between calls.
 */
#ifndef KTX_PIPE_POSITION_H
#define KTX_PIPE_POSITION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads the offset that group |group| committed for partition |partition| of |topic| at the
 * cluster reached through |bootstrap| ("host:port[,host:port...]", every entry tried in
 * turn). Blocks up to |timeout_ms|, retrying every 100 ms while the answer is retriable
 * (connection failures, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
 * NOT_COORDINATOR, UNSTABLE_OFFSET_COMMIT). All strings are borrowed for the call.
 *
 * On success stores the committed offset in |*offset| (-1 when the group never committed
 * one for that partition) and returns 0. On failure returns the last Kafka error code seen
 * (positive), KTX_ERR_TIMED_OUT, KTX_ERR_TRANSPORT or KTX_ERR_BAD_MSG, and writes a one-line
 * reason into |why| (|why_len| bytes, NUL-terminated).
 */
int pipe_position_fetch(const char *bootstrap, const char *group, const char *topic,
                        int32_t partition, int timeout_ms, int64_t *offset, char *why,
                        size_t why_len);

#endif /* KTX_PIPE_POSITION_H */
