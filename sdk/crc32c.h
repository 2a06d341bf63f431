/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record
 * batches (magic 2). Pure: no I/O, no locks after the one-time initialisation.
 *
 * Every function takes the CRC of the bytes seen so far (0 to start) and returns the CRC
 * of those bytes followed by |buf|, so a checksum can be computed in pieces:
 * ktx__crc32c(ktx__crc32c(0, a, n), b, m) == ktx__crc32c(0, a || b, n + m).
 */
#ifndef KTX_CRC32C_H
#define KTX_CRC32C_H

#include "ktx_int.h"

/*
 * Returns the CRC-32C of |len| bytes at |buf| continuing from |crc|. Uses the SSE4.2
 * crc32 instruction with three interleaved streams when the CPU has it (decided once, at
 * the first call), and the portable slicing-by-8 path otherwise; both give identical
 * results. |buf| may be NULL when |len| is 0. Thread-safe.
 */
uint32_t ktx__crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable slicing-by-8 path. Always available. Thread-safe. */
uint32_t ktx__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/*
 * The hardware path: the SSE4.2 crc32 instruction on three independent streams that are
 * combined with a table-driven shift. Meant to be called when ktx__crc32c_hw_available()
 * is true; on other CPUs it quietly runs the software path instead. Thread-safe.
 */
uint32_t ktx__crc32c_hw(uint32_t crc, const void *buf, size_t len);

/*
 * The hardware path on a single stream (one crc32 instruction after the other). Kept for
 * the micro-benchmark and the tests; falls back like ktx__crc32c_hw().
 */
uint32_t ktx__crc32c_hw_1way(uint32_t crc, const void *buf, size_t len);

/* True when this CPU supports the SSE4.2 crc32 instruction (and the build targets x86-64). */
bool ktx__crc32c_hw_available(void);

#endif /* KTX_CRC32C_H */
