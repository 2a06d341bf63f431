/*
 * Internal definitions shared by every module of the library (sdk/ and txn/).
 * Not installed. Internal cross-file names use the ktx__ prefix.
 */
#ifndef KTX_INT_H
#define KTX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafkatx.h"

#define KTX__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KTX__MIN(a, b) ((a) < (b) ? (a) : (b))
#define KTX__MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define KTX__LIKELY(x) __builtin_expect(!!(x), 1)
#define KTX__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KTX__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KTX__LIKELY(x) (x)
#define KTX__UNLIKELY(x) (x)
#define KTX__PRINTF(f, a)
#endif

#endif /* KTX_INT_H */
