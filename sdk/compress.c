/*
 * zstd compression and decompression with per-thread contexts, and the compression.type
 * names. The contexts live in a pthread key whose destructor frees them at thread exit,
 * so that a sender thread compresses every batch with the same context.
 */
#include "compress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define WINDOW_LOG_MAX 24

/* Per-thread compression state. */
struct zstd_tls {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    uint8_t *scratch; /* output of ktx__zstd_compress_scratch() */
    size_t scratch_cap;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

static void tls_destroy(void *arg)
{
    struct zstd_tls *tls = arg;
    if (!tls)
        return;
    ZSTD_freeCCtx(tls->cctx);
    ZSTD_freeDCtx(tls->dctx);
    free(tls->scratch);
    free(tls);
}

static void tls_key_create(void)
{
    tls_key_ok = pthread_key_create(&tls_key, tls_destroy) == 0;
}

/* Returns this thread's state, creating it on first use; NULL when out of memory. */
static struct zstd_tls *tls_get(void)
{
    pthread_once(&tls_once, tls_key_create);
    if (!tls_key_ok)
        return NULL;
    struct zstd_tls *tls = pthread_getspecific(tls_key);
    if (tls)
        return tls;
    tls = calloc(1, sizeof(*tls));
    if (!tls)
        return NULL;
    if (pthread_setspecific(tls_key, tls) != 0) {
        free(tls);
        return NULL;
    }
    return tls;
}

void ktx__compress_thread_cleanup(void)
{
    pthread_once(&tls_once, tls_key_create);
    if (!tls_key_ok)
        return;
    struct zstd_tls *tls = pthread_getspecific(tls_key);
    if (!tls)
        return;
    pthread_setspecific(tls_key, NULL);
    tls_destroy(tls);
}

/* ---- compression.type names ---- */

struct codec_name {
    const char *name;
    int type;
    bool supported;
    const char *message;
};

static const struct codec_name codec_names[] = {
    {"none", KTX__COMPRESSION_NONE, true, ""},
    {"gzip", KTX__COMPRESSION_GZIP, false,
     "compression.type gzip is not supported by kafkatx: use zstd or none"},
    {"snappy", KTX__COMPRESSION_SNAPPY, false,
     "compression.type snappy is not supported by kafkatx: use zstd or none"},
    {"lz4", KTX__COMPRESSION_LZ4, false,
     "compression.type lz4 is not supported by kafkatx: use zstd or none"},
    {"zstd", KTX__COMPRESSION_ZSTD, true, ""},
};

static const struct codec_name *find_codec(const char *name)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(codec_names); i++)
        if (strcmp(codec_names[i].name, name) == 0)
            return &codec_names[i];
    return NULL;
}

int ktx__compression_parse(const char *name, int *type)
{
    if (!name || !type)
        return KTX_ERR_INVALID_ARG;
    const struct codec_name *c = find_codec(name);
    if (!c)
        return KTX_ERR_BAD_CONFIG;
    if (!c->supported)
        return KTX_ERR_UNSUPPORTED;
    *type = c->type;
    return 0;
}

const char *ktx__compression_message(const char *name)
{
    if (!name)
        return "compression.type must not be empty";
    const struct codec_name *c = find_codec(name);
    if (!c)
        return "compression.type must be one of none, zstd (gzip, snappy and lz4 are not "
               "supported by kafkatx)";
    return c->message;
}

const char *ktx__compression_name(int type)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(codec_names); i++)
        if (codec_names[i].type == type)
            return codec_names[i].name;
    return "unknown";
}

/* ---- zstd ---- */

size_t ktx__zstd_compress_bound(size_t len)
{
    size_t bound = ZSTD_compressBound(len);
    return ZSTD_isError(bound) ? 0 : bound;
}

static int clamp_level(int level)
{
    if (level == 0)
        return KTX__ZSTD_DEFAULT_LEVEL;
    return KTX__MAX(ZSTD_minCLevel(), KTX__MIN(level, ZSTD_maxCLevel()));
}

int ktx__zstd_compress(void *dst, size_t dst_cap, const void *src, size_t src_len, int level,
                       size_t *out_len)
{
    struct zstd_tls *tls = tls_get();
    if (!tls)
        return KTX_ERR_NO_MEMORY;
    if (!tls->cctx && !(tls->cctx = ZSTD_createCCtx()))
        return KTX_ERR_NO_MEMORY;
    /* ZSTD_compress2() starts a new frame and keeps the parameters set here. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(tls->cctx, ZSTD_c_compressionLevel,
                                            clamp_level(level))))
        return KTX_ERR_INVALID_ARG;
    size_t n = ZSTD_compress2(tls->cctx, dst, dst_cap, src, src_len);
    if (ZSTD_isError(n)) {
        ZSTD_CCtx_reset(tls->cctx, ZSTD_reset_session_only);
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? KTX_ERR_NO_MEMORY
                                                                      : KTX_ERR_INVALID_ARG;
    }
    *out_len = n;
    return 0;
}

int ktx__zstd_compress_scratch(const void *src, size_t src_len, int level, const uint8_t **out,
                               size_t *out_len)
{
    struct zstd_tls *tls = tls_get();
    size_t bound = ktx__zstd_compress_bound(src_len);
    if (!tls || bound == 0)
        return KTX_ERR_NO_MEMORY;
    if (tls->scratch_cap < bound) {
        uint8_t *p = realloc(tls->scratch, bound);
        if (!p)
            return KTX_ERR_NO_MEMORY;
        tls->scratch = p;
        tls->scratch_cap = bound;
    }
    int err = ktx__zstd_compress(tls->scratch, tls->scratch_cap, src, src_len, level, out_len);
    if (err)
        return err;
    *out = tls->scratch;
    return 0;
}

/*
 * Makes room in |out| for at least one more byte below |limit|. Returns 0,
 * KTX_ERR_CORRUPT_MESSAGE when |out|'s own ceiling is reached, or KTX_ERR_NO_MEMORY.
 */
static int grow_output(struct ktx__writer *out)
{
    if (out->p && out->len < out->cap)
        return 0;
    if (!ktx__w_extend(out, 1)) /* the writer doubles its capacity */
        return out->err == KTX_ERR_NO_MEMORY ? KTX_ERR_NO_MEMORY : KTX_ERR_CORRUPT_MESSAGE;
    out->len--;
    return 0;
}

int ktx__zstd_decompress(struct ktx__writer *out, const void *src, size_t src_len,
                         size_t max_out)
{
    struct zstd_tls *tls = tls_get();
    if (!tls)
        return KTX_ERR_NO_MEMORY;
    if (!tls->dctx) {
        if (!(tls->dctx = ZSTD_createDCtx()))
            return KTX_ERR_NO_MEMORY;
        /* Caps the window a hostile frame header can make zstd allocate (16 MiB; Kafka's
         * producers use 8 MiB windows or less at the usual levels). */
        ZSTD_DCtx_setParameter(tls->dctx, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    }
    ZSTD_DCtx_reset(tls->dctx, ZSTD_reset_session_only);
    size_t limit = out->len + KTX__MIN(max_out, SIZE_MAX - out->len);
    ZSTD_inBuffer in = {src, src_len, 0};
    for (;;) {
        /* At the limit, zstd gets no room: it may still consume a frame epilogue, but any
         * output it holds back means the data expands past the ceiling. */
        bool at_limit = out->len >= limit;
        int err = at_limit ? 0 : grow_output(out);
        if (err)
            return err;
        ZSTD_outBuffer ob = {out->p, at_limit ? out->len : KTX__MIN(out->cap, limit), out->len};
        size_t in_before = in.pos;
        size_t ret = ZSTD_decompressStream(tls->dctx, &ob, &in);
        bool progress = in.pos != in_before || ob.pos != out->len;
        out->len = ob.pos;
        if (ZSTD_isError(ret))
            return ZSTD_getErrorCode(ret) == ZSTD_error_memory_allocation
                       ? KTX_ERR_NO_MEMORY
                       : KTX_ERR_CORRUPT_MESSAGE;
        if (ret == 0 && in.pos == in.size)
            return 0; /* the last frame is complete and flushed */
        if (!progress)
            return KTX_ERR_CORRUPT_MESSAGE; /* truncated frame, or a bomb at the limit */
    }
}
