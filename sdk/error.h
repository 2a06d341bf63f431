/*
 * The error object (ktx_error_t) and the table of every error code kafkatx knows:
 * Kafka's wire codes and kafkatx's local codes, each with its name, a one-line
 * description and whether Kafka classifies it as retriable.
 *
 * Inside the library functions return int codes; a ktx_error_t is built once, where a
 * public call returns (STYLE.md "Errors").
 */
#ifndef KTX_ERROR_H
#define KTX_ERROR_H

#include <stdarg.h>

#include "ktx_int.h"

/* Class flags for ktx__error_new(). Passing any of them overrides the table's class. */
#define KTX__ERR_F_RETRIABLE 0x1u /* calling again (or waiting) may succeed */
#define KTX__ERR_F_ABORTABLE 0x2u /* the current transaction must be aborted, then go on */
#define KTX__ERR_F_FATAL 0x4u     /* the producer can only be destroyed; wins over the others */

/* One row of the error table. */
struct ktx__err_desc {
    int code;             /* Kafka's wire code, or a local code (<= -100) */
    const char *name;     /* Kafka's name, e.g. "PRODUCER_FENCED"; local names begin with '_' */
    const char *desc;     /* one sentence */
    bool retriable;       /* Kafka's exception extends RetriableException (or local policy) */
};

/*
 * Returns the table row for |code|, or NULL when the code is unknown.
 * The row is static and lives forever. Thread-safe.
 */
const struct ktx__err_desc *ktx__err_lookup(int code);

/*
 * Returns the whole table (sorted by code, ascending) and stores its length in |*count|.
 * Used by the tests that check docs/errors.md against it. Thread-safe.
 */
const struct ktx__err_desc *ktx__err_table(size_t *count);

/* True when the table marks |code| retriable; false for unknown codes. Thread-safe. */
bool ktx__err_is_retriable(int code);

/*
 * Creates an error with |code| and a message formatted from |fmt| and the arguments
 * (printf-style); when |fmt| is NULL the table's description is the message.
 * |flags| is 0 or a combination of KTX__ERR_F_*: 0 takes "retriable" from the table and
 * makes the error neither abortable nor fatal; any flag replaces the class entirely.
 * KTX__ERR_F_FATAL clears the other two (a fatal error is never retriable nor abortable).
 *
 * The caller owns the result and frees it with ktx_error_destroy(). Never returns NULL:
 * when memory runs out the result is a static KTX_ERR_NO_MEMORY error (which
 * ktx_error_destroy() knows not to free).
 */
ktx_error_t *ktx__error_new(int code, unsigned flags, const char *fmt, ...) KTX__PRINTF(3, 4);

/* As ktx__error_new() with a va_list. */
ktx_error_t *ktx__error_newv(int code, unsigned flags, const char *fmt, va_list ap)
    KTX__PRINTF(3, 0);

/*
 * Returns a copy of |err| that the caller owns, or NULL when |err| is NULL. Never returns
 * NULL for a non-NULL |err| (the static out-of-memory error stands in when allocation fails).
 */
ktx_error_t *ktx__error_copy(const ktx_error_t *err);

/*
 * Returns the static out-of-memory error: code KTX_ERR_NO_MEMORY, not retriable, not
 * abortable, not fatal. ktx_error_destroy() ignores it, so callers may treat it as owned.
 */
ktx_error_t *ktx__error_oom(void);

#endif /* KTX_ERROR_H */
