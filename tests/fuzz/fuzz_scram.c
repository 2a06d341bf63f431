/*
 * libFuzzer target for the SCRAM server-first and server-final parsers and the client that
 * consumes them (sdk/scram.c).
 *
 * Input: byte 0 selects the mode (modulo 3): 0 parses the rest as server-first, 1 as
 * server-final, 2 runs a SCRAM-SHA-256 client (fixed nonce "fyko+d2lbbFgONRv9qkxdawL") and
 * feeds it the rest split at the first '\n': server-first, then server-final. Checks the
 * parsers' promises: on success the borrowed fields lie inside the input, the nonce is
 * printable, the salt and the verifier fit their arrays; a server-final accepted by the
 * client has the right signature length. Iteration counts above 8192 are not run through
 * PBKDF2 (the client accepts up to a million: too slow per input).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scram.h"

#define CNONCE "fyko+d2lbbFgONRv9qkxdawL"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_server_first(const char *msg, size_t len)
{
    struct ktx__scram_server_first sf;
    char err[256];

    if (ktx__scram_parse_server_first(msg, len, &sf, err, sizeof(err)) != 0)
        return;
    if (sf.nonce < msg || sf.nonce + sf.nonce_len > msg + len || sf.nonce_len == 0)
        abort();
    for (size_t i = 0; i < sf.nonce_len; i++) {
        if (sf.nonce[i] < 0x21 || sf.nonce[i] > 0x7e || sf.nonce[i] == ',')
            abort();
    }
    if (sf.salt_len == 0 || sf.salt_len > sizeof(sf.salt) || sf.iterations == 0)
        abort();
}

static void check_server_final(const char *msg, size_t len)
{
    struct ktx__scram_server_final sfin;
    char err[256];

    if (ktx__scram_parse_server_final(msg, len, &sfin, err, sizeof(err)) != 0)
        return;
    if (sfin.error != NULL) {
        if (sfin.error < msg || sfin.error + sfin.error_len > msg + len)
            abort();
    } else if (sfin.verifier_len == 0 || sfin.verifier_len > sizeof(sfin.verifier)) {
        abort();
    }
}

static void run_client(const char *msg, size_t len)
{
    const char *nl = memchr(msg, '\n', len), *out;
    size_t first_len = nl ? (size_t)(nl - msg) : len, out_len;
    struct ktx__scram_server_first sf;
    struct ktx__scram *scram = NULL;
    char err[256];

    if (ktx__scram_parse_server_first(msg, first_len, &sf, err, sizeof(err)) == 0 &&
        sf.iterations > 8192)
        return;
    if (ktx__scram_new(&scram, KTX__HASH_SHA256, "user", "pencil") != 0 ||
        ktx__scram_client_first(scram, CNONCE, &out, &out_len) != 0)
        abort();
    if (ktx__scram_client_final(scram, (const uint8_t *)msg, first_len, &out, &out_len, err,
                                sizeof(err)) == 0) {
        if (strncmp(out, "c=biws,r=" CNONCE, 9 + strlen(CNONCE)) != 0 || strlen(out) != out_len)
            abort();
        if (nl != NULL && ktx__scram_verify_server_final(scram, (const uint8_t *)nl + 1,
                                                         len - first_len - 1, err,
                                                         sizeof(err)) == 0) {
            /* Accepting means the server proved the password: only a real signature. */
            struct ktx__scram_server_final sfin;

            if (ktx__scram_parse_server_final(nl + 1, len - first_len - 1, &sfin, err,
                                              sizeof(err)) != 0 ||
                sfin.verifier_len != 32)
                abort();
        }
    }
    ktx__scram_free(scram);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *msg;

    if (size < 1)
        return 0;
    /* A copy of exactly the message bytes, so ASan sees any read past them. */
    msg = malloc(size - 1 ? size - 1 : 1);
    if (msg == NULL)
        return 0;
    memcpy(msg, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        check_server_first(msg, size - 1);
        break;
    case 1:
        check_server_final(msg, size - 1);
        break;
    default:
        run_client(msg, size - 1);
        break;
    }
    free(msg);
    return 0;
}
