/*
 * Record-batch compression. kafkatx compresses with zstd only; gzip, snappy and lz4 are
 * recognised by name (so that a configuration error can say so) but not supported.
 *
 * The zstd contexts and the compression scratch buffer are per thread: created on the
 * first call on a thread, reused for every later batch, and freed by a pthread key
 * destructor when the thread exits (or by ktx__compress_thread_cleanup()).
 */
#ifndef KTX_COMPRESS_H
#define KTX_COMPRESS_H

#include "wire.h"

/* Compression types as carried in bits 0-2 of a record batch's attributes. */
#define KTX__COMPRESSION_NONE 0
#define KTX__COMPRESSION_GZIP 1
#define KTX__COMPRESSION_SNAPPY 2
#define KTX__COMPRESSION_LZ4 3
#define KTX__COMPRESSION_ZSTD 4
#define KTX__COMPRESSION_MASK 0x07

/* Kafka's default zstd level (the producer's compression.zstd.level). */
#define KTX__ZSTD_DEFAULT_LEVEL 3

/*
 * Parses the value of compression.type (|name| is borrowed). Stores the type in |*type|
 * and returns 0 for "none" and "zstd". Returns KTX_ERR_UNSUPPORTED for "gzip", "snappy"
 * and "lz4" (valid Kafka names that kafkatx does not implement), KTX_ERR_BAD_CONFIG for
 * any other name, KTX_ERR_INVALID_ARG when an argument is NULL. |*type| is left untouched
 * on error. ktx__compression_message() explains the error in words.
 */
int ktx__compression_parse(const char *name, int *type);

/*
 * Returns a static, human-readable explanation of why ktx__compression_parse() rejected
 * |name| (or "" when it would accept it), for the configuration error message.
 */
const char *ktx__compression_message(const char *name);

/* Returns Kafka's name of compression |type| ("none", "gzip", ...), or "unknown". */
const char *ktx__compression_name(int type);

/* Returns the largest size zstd can produce for |len| input bytes (0 on overflow). */
size_t ktx__zstd_compress_bound(size_t len);

/*
 * Compresses |src_len| bytes at |src| as one zstd frame (content size recorded) into
 * |dst|, which holds |dst_cap| bytes; stores the compressed size in |*out_len|. |level|
 * is a zstd level; 0 means KTX__ZSTD_DEFAULT_LEVEL and values outside zstd's range are
 * clamped. Uses this thread's compression context. Returns 0, KTX_ERR_INVALID_ARG when
 * |dst| is too small (give it ktx__zstd_compress_bound() bytes to be sure), or
 * KTX_ERR_NO_MEMORY.
 */
int ktx__zstd_compress(void *dst, size_t dst_cap, const void *src, size_t src_len, int level,
                       size_t *out_len);

/*
 * Compresses like ktx__zstd_compress() into this thread's scratch buffer and stores a
 * pointer to the compressed bytes in |*out| and their size in |*out_len|. The buffer is
 * borrowed: it stays valid until the next call of this function on the same thread (or
 * the thread's exit). Returns 0 or KTX_ERR_NO_MEMORY.
 */
int ktx__zstd_compress_scratch(const void *src, size_t src_len, int level, const uint8_t **out,
                               size_t *out_len);

/*
 * Decompresses the zstd data at |src| (one or more frames, with or without a recorded
 * content size) and appends the result to |out|, growing it as needed. At most |max_out|
 * bytes are produced: input that would expand further is treated as a decompression bomb.
 * Uses this thread's decompression context. Returns 0; KTX_ERR_CORRUPT_MESSAGE when the
 * input is malformed, truncated or expands past |max_out| or past |out|'s ceiling; or
 * KTX_ERR_NO_MEMORY. On error |out| holds a partial result that the caller discards.
 */
int ktx__zstd_decompress(struct ktx__writer *out, const void *src, size_t src_len,
                         size_t max_out);

/*
 * Frees the calling thread's zstd contexts and scratch buffer now rather than at thread
 * exit (e.g. for the main thread, whose key destructors never run). The next call
 * recreates them. Safe to call when nothing was created.
 */
void ktx__compress_thread_cleanup(void);

#endif /* KTX_COMPRESS_H */
