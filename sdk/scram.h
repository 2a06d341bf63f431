/*
 * SCRAM client (RFC 5802) for SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-512, as Kafka uses it:
 * no channel binding ("n,," and c=biws), no authorization identity. The exchange is
 *
 *   client-first  n,,n=<user>,r=<client nonce>
 *   server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
 *   client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
 *   server-final  v=<base64 ServerSignature>   or   e=<error>
 *
 * The parsers are pure (bytes in, struct out) and fuzzed (tests/fuzz/fuzz_scram.c); the
 * crypto comes from the wrappers in tls.h. The password is kept only as long as the object
 * and wiped when it is freed; it never appears in a message.
 *
 * Thread: an object belongs to one connection. Locks: none.
 */
#ifndef KTX_SCRAM_H
#define KTX_SCRAM_H

#include "tls.h"

/* The fewest PBKDF2 iterations accepted from a server (RFC 7677 asks for 4096). */
#define KTX__SCRAM_MIN_ITERATIONS 4096
/* The most accepted: a hostile server must not make the client spin for minutes. */
#define KTX__SCRAM_MAX_ITERATIONS 1000000
/* Ceiling on the salt and on a server message, in bytes. */
#define KTX__SCRAM_MAX_SALT 256
#define KTX__SCRAM_MAX_MESSAGE 4096

/* The fields of server-first, borrowed from the parsed message. */
struct ktx__scram_server_first {
    const char *nonce; /* r=: the whole nonce (client's then server's), not NUL-terminated */
    size_t nonce_len;
    uint8_t salt[KTX__SCRAM_MAX_SALT]; /* s=, base64-decoded */
    size_t salt_len;
    uint32_t iterations; /* i= */
};

/* The fields of server-final: exactly one of |verifier| and |error| is set. */
struct ktx__scram_server_final {
    uint8_t verifier[KTX__HASH_MAX_SIZE]; /* v=, base64-decoded */
    size_t verifier_len;
    const char *error; /* e=, borrowed, not NUL-terminated; NULL for v= */
    size_t error_len;
};

/*
 * Parses server-first |msg| (|len| bytes) into |*out| (which borrows |msg|). Checks the
 * attribute order r, s, i; a printable nonce; a non-empty base64 salt of at most
 * KTX__SCRAM_MAX_SALT bytes; a decimal iteration count. A leading "m=" (mandatory
 * extension) and any unknown attribute are refused; extensions after i= are ignored as the
 * RFC allows. Does not judge the nonce or the iteration count (ktx__scram_client_final()
 * does). Pure. Returns 0 or KTX_ERR_BAD_MSG with a message in |errbuf| (|errsize| bytes).
 */
int ktx__scram_parse_server_first(const char *msg, size_t len,
                                  struct ktx__scram_server_first *out, char *errbuf,
                                  size_t errsize);

/*
 * Parses server-final |msg| (|len| bytes): "v=<base64>" (a signature of 1 to
 * KTX__HASH_MAX_SIZE bytes) or "e=<value>", optionally followed by extensions. Pure.
 * Returns 0 or KTX_ERR_BAD_MSG with a message in |errbuf|.
 */
int ktx__scram_parse_server_final(const char *msg, size_t len,
                                  struct ktx__scram_server_final *out, char *errbuf,
                                  size_t errsize);

struct ktx__scram;

/*
 * Creates a client for |user| and |password| (both copied; the copy of the password is
 * wiped on free) with |hash|. On success stores it in |*out| (free with ktx__scram_free())
 * and returns 0; returns KTX_ERR_INVALID_ARG for a NULL or empty user or a NULL password,
 * or KTX_ERR_NO_MEMORY.
 */
int ktx__scram_new(struct ktx__scram **out, enum ktx__hash hash, const char *user,
                   const char *password);

/* Wipes the secrets of |scram| and frees it. NULL-safe. */
void ktx__scram_free(struct ktx__scram *scram);

/*
 * Builds client-first "n,,n=<saslname>,r=<nonce>" ("," and "=" in the user name escaped as
 * "=2C" and "=3D"). |nonce| is NULL for a fresh random nonce (32 base64 characters from
 * 24 random bytes) or a printable nonce without ',' (tests use the RFC's). The message is
 * stored in |*msg| (|*len| bytes, NUL-terminated), borrowed from |scram| until the next
 * call or free. Returns 0, KTX_ERR_STATE when called twice, KTX_ERR_INVALID_ARG for a bad
 * |nonce|, KTX_ERR_TRANSPORT when the random generator failed, or KTX_ERR_NO_MEMORY.
 */
int ktx__scram_client_first(struct ktx__scram *scram, const char *nonce, const char **msg,
                            size_t *len);

/*
 * Reads server-first |in| (|in_len| bytes) and builds client-final with the proof in
 * |*msg| (|*len| bytes, borrowed as above). Refuses a nonce that does not start with ours
 * or adds nothing to it, fewer than KTX__SCRAM_MIN_ITERATIONS iterations (or more than
 * KTX__SCRAM_MAX_ITERATIONS) and malformed messages. Returns 0, KTX_ERR_STATE when not
 * after ktx__scram_client_first(), KTX_ERR_AUTH with a message in |errbuf|, or
 * KTX_ERR_NO_MEMORY.
 */
int ktx__scram_client_final(struct ktx__scram *scram, const uint8_t *in, size_t in_len,
                            const char **msg, size_t *len, char *errbuf, size_t errsize);

/*
 * Checks server-final |in| (|in_len| bytes): the ServerSignature must equal ours (compared in
 * constant time). Returns 0 when the server proved it knows the password, KTX_ERR_STATE
 * when not after ktx__scram_client_final(), or KTX_ERR_AUTH (a server error "e=...", a
 * wrong signature, a malformed message) with a message in |errbuf|.
 */
int ktx__scram_verify_server_final(struct ktx__scram *scram, const uint8_t *in, size_t in_len,
                                   char *errbuf, size_t errsize);

/* Base64 (RFC 4648, padded) helpers, pure. Encoding writes a NUL-terminated string of
 * 4 * ceil(|len| / 3) characters to |out|. Decoding returns the decoded length, or -1 for
 * malformed input or when it would exceed |cap| bytes. */
void ktx__base64_encode(const uint8_t *in, size_t len, char *out);
long ktx__base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif /* KTX_SCRAM_H */
