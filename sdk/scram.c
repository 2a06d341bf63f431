/*
 * SCRAM-SHA-256/512 client (RFC 5802, RFC 7677): message parsers and the proof computation.
 * No OpenSSL include: the crypto comes from the wrappers of tls.c.
 *
 * Like Kafka's own client, the password is used as its UTF-8 bytes without SASLprep.
 */
#include "scram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum scram_state { SCRAM_INIT, SCRAM_FIRST_SENT, SCRAM_FINAL_SENT, SCRAM_DONE };

struct ktx__scram {
    enum ktx__hash hash;
    enum scram_state state;
    char *user;
    char *password;
    char *client_first_bare; /* "n=<saslname>,r=<client nonce>" */
    size_t cnonce_len;       /* length of the client nonce at the end of client_first_bare */
    char *msg;               /* the last message built, returned borrowed */
    uint8_t server_signature[KTX__HASH_MAX_SIZE];
};

/* Formats a message into |errbuf| (|errsize| bytes) unless it is NULL or empty. */
static void KTX__PRINTF(3, 4) set_err(char *errbuf, size_t errsize, const char *fmt, ...)
{
    va_list ap;

    if (errbuf == NULL || errsize == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errsize, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------
 * Base64.
 * ------------------------------------------------------------------------------------------ */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ktx__base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *out++ = b64_chars[v >> 18];
        *out++ = b64_chars[(v >> 12) & 63];
        *out++ = b64_chars[(v >> 6) & 63];
        *out++ = b64_chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

        *out++ = b64_chars[v >> 18];
        *out++ = b64_chars[(v >> 12) & 63];
        *out++ = i + 1 < len ? b64_chars[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* Returns the 6-bit value of base64 character |c|, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long ktx__base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i, n = 0;

    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int v[4], k, pad = 0;
        bool last = i + 4 == len;

        for (k = 0; k < 4; k++) {
            if (last && k >= 2 && in[i + k] == '=' && (k == 3 || in[i + 3] == '=')) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = b64_value(in[i + k]);
            if (v[k] < 0)
                return -1;
        }
        if (n + 3 - (size_t)pad > cap)
            return -1;
        out[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            out[n++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad < 1)
            out[n++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
    }
    return (long)n;
}

/* ------------------------------------------------------------------------------------------
 * Parsers.
 * ------------------------------------------------------------------------------------------ */

/* One "x=value" attribute of a message: |name| is its letter, |value| borrowed. */
struct attr {
    char name;
    const char *value;
    size_t len;
};

/* Reads the attribute at |*pos| of |msg| and moves |*pos| past it and its ','. Returns
 * false when the attribute is not a letter followed by '='. */
static bool next_attr(const char *msg, size_t len, size_t *pos, struct attr *a)
{
    size_t p = *pos, end;
    char c;

    if (p + 2 > len)
        return false;
    c = msg[p];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) || msg[p + 1] != '=')
        return false;
    for (end = p + 2; end < len && msg[end] != ','; end++)
        ;
    a->name = c;
    a->value = msg + p + 2;
    a->len = end - p - 2;
    *pos = end < len ? end + 1 : end;
    return true;
}

/* True when |s| (|len| bytes) is a non-empty printable nonce (RFC 5802: %x21-7E but ','). */
static bool is_printable(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return false;
    }
    return true;
}

/* Parses a positive decimal of at most 10 digits that fits 32 bits. */
static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 10 || s[0] == '0')
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

int ktx__scram_parse_server_first(const char *msg, size_t len,
                                  struct ktx__scram_server_first *out, char *errbuf,
                                  size_t errsize)
{
    struct attr r, s, i;
    size_t pos = 0;
    long salt_len;

    memset(out, 0, sizeof(*out));
    if (len > KTX__SCRAM_MAX_MESSAGE) {
        set_err(errbuf, errsize, "SCRAM server-first message too long (%zu bytes)", len);
        return KTX_ERR_BAD_MSG;
    }
    if (len > 0 && msg[len - 1] == ',') {
        set_err(errbuf, errsize, "malformed SCRAM server-first extension (trailing ',')");
        return KTX_ERR_BAD_MSG;
    }
    if (len >= 2 && msg[0] == 'm' && msg[1] == '=') {
        set_err(errbuf, errsize, "SCRAM server-first has a mandatory extension (m=)");
        return KTX_ERR_BAD_MSG;
    }
    if (!next_attr(msg, len, &pos, &r) || r.name != 'r' || !next_attr(msg, len, &pos, &s) ||
        s.name != 's' || !next_attr(msg, len, &pos, &i) || i.name != 'i') {
        set_err(errbuf, errsize, "malformed SCRAM server-first (expected r=,s=,i=)");
        return KTX_ERR_BAD_MSG;
    }
    if (!is_printable(r.value, r.len)) {
        set_err(errbuf, errsize, "SCRAM server-first: invalid nonce");
        return KTX_ERR_BAD_MSG;
    }
    salt_len = ktx__base64_decode(s.value, s.len, out->salt, sizeof(out->salt));
    if (salt_len <= 0) {
        set_err(errbuf, errsize, "SCRAM server-first: invalid salt");
        return KTX_ERR_BAD_MSG;
    }
    if (!parse_u32(i.value, i.len, &out->iterations)) {
        set_err(errbuf, errsize, "SCRAM server-first: invalid iteration count");
        return KTX_ERR_BAD_MSG;
    }
    while (pos < len) {
        struct attr ext;

        if (!next_attr(msg, len, &pos, &ext)) {
            set_err(errbuf, errsize, "malformed SCRAM server-first extension");
            return KTX_ERR_BAD_MSG;
        }
    }
    out->nonce = r.value;
    out->nonce_len = r.len;
    out->salt_len = (size_t)salt_len;
    return 0;
}

int ktx__scram_parse_server_final(const char *msg, size_t len,
                                  struct ktx__scram_server_final *out, char *errbuf,
                                  size_t errsize)
{
    struct attr a;
    size_t pos = 0;
    long n;

    memset(out, 0, sizeof(*out));
    if (len > KTX__SCRAM_MAX_MESSAGE || (len > 0 && msg[len - 1] == ',') ||
        !next_attr(msg, len, &pos, &a) ||
        (a.name != 'v' && a.name != 'e')) {
        set_err(errbuf, errsize, "malformed SCRAM server-final (expected v= or e=)");
        return KTX_ERR_BAD_MSG;
    }
    if (a.name == 'e') {
        out->error = a.value;
        out->error_len = a.len;
    } else {
        n = ktx__base64_decode(a.value, a.len, out->verifier, sizeof(out->verifier));
        if (n <= 0) {
            set_err(errbuf, errsize, "SCRAM server-final: invalid server signature");
            return KTX_ERR_BAD_MSG;
        }
        out->verifier_len = (size_t)n;
    }
    while (pos < len) {
        if (!next_attr(msg, len, &pos, &a)) {
            set_err(errbuf, errsize, "malformed SCRAM server-final extension");
            return KTX_ERR_BAD_MSG;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Client.
 * ------------------------------------------------------------------------------------------ */

int ktx__scram_new(struct ktx__scram **out, enum ktx__hash hash, const char *user,
                   const char *password)
{
    struct ktx__scram *scram;

    if (user == NULL || *user == '\0' || password == NULL)
        return KTX_ERR_INVALID_ARG;
    scram = calloc(1, sizeof(*scram));
    if (scram == NULL)
        return KTX_ERR_NO_MEMORY;
    scram->hash = hash;
    scram->user = strdup(user);
    scram->password = strdup(password);
    if (scram->user == NULL || scram->password == NULL) {
        ktx__scram_free(scram);
        return KTX_ERR_NO_MEMORY;
    }
    *out = scram;
    return 0;
}

void ktx__scram_free(struct ktx__scram *scram)
{
    if (scram == NULL)
        return;
    if (scram->password != NULL)
        ktx__crypto_wipe(scram->password, strlen(scram->password));
    if (scram->msg != NULL)
        ktx__crypto_wipe(scram->msg, strlen(scram->msg));
    ktx__crypto_wipe(scram->server_signature, sizeof(scram->server_signature));
    free(scram->password);
    free(scram->user);
    free(scram->client_first_bare);
    free(scram->msg);
    free(scram);
}

/* Replaces the last message with |msg| (owned from now on). */
static void set_msg(struct ktx__scram *scram, char *msg)
{
    free(scram->msg);
    scram->msg = msg;
}

/* Returns the saslname of |user| ("," as "=2C", "=" as "=3D"), malloc'ed, or NULL. */
static char *saslname(const char *user)
{
    char *out = malloc(strlen(user) * 3 + 1), *p = out;

    if (out == NULL)
        return NULL;
    for (; *user != '\0'; user++) {
        if (*user == ',' || *user == '=') {
            memcpy(p, *user == ',' ? "=2C" : "=3D", 3);
            p += 3;
        } else {
            *p++ = *user;
        }
    }
    *p = '\0';
    return out;
}

/* The message is built in the order of RFC 5802 section 7: gs2-header "n,," (no channel
 * binding, no authzid), then client-first-message-bare, which is kept for AuthMessage. */
int ktx__scram_client_first(struct ktx__scram *scram, const char *nonce, const char **msg,
                            size_t *len)
{
    uint8_t rnd[24];
    char fresh[33];
    char *name, *bare, *first;
    size_t bare_len;

    if (scram->state != SCRAM_INIT)
        return KTX_ERR_STATE;
    if (nonce == NULL) {
        if (ktx__crypto_random(rnd, sizeof(rnd)) != 0)
            return KTX_ERR_TRANSPORT;
        ktx__base64_encode(rnd, sizeof(rnd), fresh);
        nonce = fresh;
    } else if (!is_printable(nonce, strlen(nonce))) {
        return KTX_ERR_INVALID_ARG;
    }
    name = saslname(scram->user);
    bare_len = (name ? strlen(name) : 0) + strlen(nonce) + 5;
    bare = name ? malloc(bare_len + 1) : NULL;
    first = bare ? malloc(bare_len + 4) : NULL;
    if (first == NULL) {
        free(name);
        free(bare);
        return KTX_ERR_NO_MEMORY;
    }
    snprintf(bare, bare_len + 1, "n=%s,r=%s", name, nonce);
    snprintf(first, bare_len + 4, "n,,%s", bare);
    free(name);
    scram->client_first_bare = bare;
    scram->cnonce_len = strlen(nonce);
    set_msg(scram, first);
    scram->state = SCRAM_FIRST_SENT;
    *msg = first;
    *len = bare_len + 3;
    return 0;
}

/* Checks the nonce and iteration count of a parsed server-first against our policy. */
static int check_server_first(const struct ktx__scram *scram,
                              const struct ktx__scram_server_first *sf, char *errbuf,
                              size_t errsize)
{
    const char *cnonce = scram->client_first_bare + strlen(scram->client_first_bare) -
                         scram->cnonce_len;

    if (sf->nonce_len <= scram->cnonce_len || memcmp(sf->nonce, cnonce, scram->cnonce_len)) {
        set_err(errbuf, errsize, "SCRAM: the server nonce does not extend the client nonce");
        return KTX_ERR_AUTH;
    }
    if (sf->iterations < KTX__SCRAM_MIN_ITERATIONS) {
        set_err(errbuf, errsize, "SCRAM: the server asks for %u iterations, fewer than %d",
                (unsigned)sf->iterations, KTX__SCRAM_MIN_ITERATIONS);
        return KTX_ERR_AUTH;
    }
    if (sf->iterations > KTX__SCRAM_MAX_ITERATIONS) {
        set_err(errbuf, errsize, "SCRAM: the server asks for %u iterations, more than %d",
                (unsigned)sf->iterations, KTX__SCRAM_MAX_ITERATIONS);
        return KTX_ERR_AUTH;
    }
    return 0;
}

/*
 * Computes ClientProof into |proof| and keeps ServerSignature, both for |auth_message|:
 * SaltedPassword = PBKDF2(password, salt, i), ClientKey = HMAC(SaltedPassword, "Client
 * Key"), StoredKey = H(ClientKey), ClientSignature = HMAC(StoredKey, AuthMessage),
 * ClientProof = ClientKey XOR ClientSignature, ServerKey = HMAC(SaltedPassword, "Server
 * Key"), ServerSignature = HMAC(ServerKey, AuthMessage).
 */
static int compute_proof(struct ktx__scram *scram, const struct ktx__scram_server_first *sf,
                         const char *auth_message, size_t am_len, uint8_t *proof)
{
    size_t hlen = ktx__crypto_hash_size(scram->hash), k;
    uint8_t salted[KTX__HASH_MAX_SIZE], client_key[KTX__HASH_MAX_SIZE];
    uint8_t stored_key[KTX__HASH_MAX_SIZE], server_key[KTX__HASH_MAX_SIZE];
    int err;

    err = ktx__crypto_pbkdf2(scram->hash, scram->password, strlen(scram->password), sf->salt,
                             sf->salt_len, sf->iterations, salted, hlen);
    if (err == 0)
        err = ktx__crypto_hmac(scram->hash, salted, hlen, "Client Key", 10, client_key);
    if (err == 0)
        err = ktx__crypto_hash(scram->hash, client_key, hlen, stored_key);
    if (err == 0)
        err = ktx__crypto_hmac(scram->hash, stored_key, hlen, auth_message, am_len, proof);
    if (err == 0)
        err = ktx__crypto_hmac(scram->hash, salted, hlen, "Server Key", 10, server_key);
    if (err == 0)
        err = ktx__crypto_hmac(scram->hash, server_key, hlen, auth_message, am_len,
                               scram->server_signature);
    for (k = 0; k < hlen; k++)
        proof[k] ^= client_key[k];
    ktx__crypto_wipe(salted, sizeof(salted));
    ktx__crypto_wipe(client_key, sizeof(client_key));
    ktx__crypto_wipe(stored_key, sizeof(stored_key));
    ktx__crypto_wipe(server_key, sizeof(server_key));
    return err == 0 ? 0 : KTX_ERR_NO_MEMORY;
}

/* Writes "|bare|,|in|,|without_proof|" to |out|, which has room for it and a NUL. */
static void build_auth_message(char *out, const char *bare, const uint8_t *in, size_t in_len,
                               const char *without_proof)
{
    size_t n = strlen(bare);

    memcpy(out, bare, n);
    out[n++] = ',';
    memcpy(out + n, in, in_len);
    n += in_len;
    out[n++] = ',';
    memcpy(out + n, without_proof, strlen(without_proof) + 1);
}

int ktx__scram_client_final(struct ktx__scram *scram, const uint8_t *in, size_t in_len,
                            const char **msg, size_t *len, char *errbuf, size_t errsize)
{
    struct ktx__scram_server_first sf;
    uint8_t proof[KTX__HASH_MAX_SIZE];
    char proof64[KTX__HASH_MAX_SIZE * 2];
    char *without_proof, *auth_message, *final;
    size_t wp_len, am_len;
    int err;

    if (scram->state != SCRAM_FIRST_SENT)
        return KTX_ERR_STATE;
    if (ktx__scram_parse_server_first((const char *)in, in_len, &sf, errbuf, errsize) != 0)
        return KTX_ERR_AUTH;
    err = check_server_first(scram, &sf, errbuf, errsize);
    if (err != 0)
        return err;
    wp_len = 9 + sf.nonce_len; /* "c=biws,r=" + nonce */
    am_len = strlen(scram->client_first_bare) + 1 + in_len + 1 + wp_len;
    without_proof = malloc(wp_len + 1);
    auth_message = malloc(am_len + 1);
    final = malloc(wp_len + 3 + sizeof(proof64));
    if (without_proof == NULL || auth_message == NULL || final == NULL) {
        err = KTX_ERR_NO_MEMORY;
        goto out;
    }
    memcpy(without_proof, "c=biws,r=", 9);
    memcpy(without_proof + 9, sf.nonce, sf.nonce_len);
    without_proof[wp_len] = '\0';
    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof;
     * copied byte for byte (an extension of server-first may hold any byte). */
    build_auth_message(auth_message, scram->client_first_bare, in, in_len, without_proof);
    err = compute_proof(scram, &sf, auth_message, am_len, proof);
    if (err != 0)
        goto out;
    ktx__base64_encode(proof, ktx__crypto_hash_size(scram->hash), proof64);
    snprintf(final, wp_len + 3 + sizeof(proof64), "%s,p=%s", without_proof, proof64);
    set_msg(scram, final);
    final = NULL;
    scram->state = SCRAM_FINAL_SENT;
    *msg = scram->msg;
    *len = strlen(scram->msg);
out:
    ktx__crypto_wipe(proof, sizeof(proof));
    free(without_proof);
    free(auth_message);
    free(final);
    return err;
}

/* Compares |len| bytes in a time that does not depend on where they differ. */
static bool equal_const_time(const uint8_t *a, const uint8_t *b, size_t len)
{
    volatile uint8_t diff = 0;
    size_t i;

    for (i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

int ktx__scram_verify_server_final(struct ktx__scram *scram, const uint8_t *in, size_t in_len,
                                   char *errbuf, size_t errsize)
{
    struct ktx__scram_server_final sfin;
    size_t hlen = ktx__crypto_hash_size(scram->hash);

    if (scram->state != SCRAM_FINAL_SENT)
        return KTX_ERR_STATE;
    scram->state = SCRAM_DONE;
    if (ktx__scram_parse_server_final((const char *)in, in_len, &sfin, errbuf, errsize) != 0)
        return KTX_ERR_AUTH;
    if (sfin.error != NULL) {
        set_err(errbuf, errsize, "SCRAM: the server refused the authentication: %.*s",
                (int)KTX__MIN(sfin.error_len, 200), sfin.error);
        return KTX_ERR_AUTH;
    }
    if (sfin.verifier_len != hlen ||
        !equal_const_time(sfin.verifier, scram->server_signature, hlen)) {
        set_err(errbuf, errsize, "SCRAM: the server signature is wrong (the server does not "
                                 "know the credentials)");
        return KTX_ERR_AUTH;
    }
    return 0;
}
