/*
 * Shared helpers for the Check unit suites. Each tests/check_<module>.c defines
 * `Suite *<module>_suite(void)` and ends with KTX_CHECK_MAIN(<module>_suite).
 */
#ifndef KTX_CHECK_UTIL_H
#define KTX_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Runs |suite| (CK_FORK as set by the environment), prints Check's summary and returns
 * the exit status for automake's test driver. */
int ktx_test_run_suite(Suite *suite);

#define KTX_CHECK_MAIN(suite_fn)                                                              \
    int main(void)                                                                            \
    {                                                                                         \
        return ktx_test_run_suite(suite_fn());                                                \
    }

/* Fills |buf| with |len| bytes from a seeded xorshift generator (reproducible). */
void ktx_test_fill_random(uint8_t *buf, size_t len, uint64_t seed);

/* Decodes the hex string |hex| (whitespace ignored) into a malloc'ed buffer; stores its
 * length in |*len|. Aborts the test on malformed input. */
uint8_t *ktx_test_unhex(const char *hex, size_t *len);

/* Reads the file |rel| (e.g. "docs/errors.md") below $srcdir, which automake's test driver
 * sets to the source tree ("." when unset), into a malloc'ed NUL-terminated buffer.
 * Fails the test when the file cannot be read. */
char *ktx_test_read_source_file(const char *rel);

#endif
