/*
 * ktx-broker's SASL server side: mechanism selection, per-connection state, PLAIN through
 * Cyrus SASL, SCRAM-SHA-256/512 with OpenSSL (passwords from the sasldb through Cyrus's
 * auxprop lookup), the SaslHandshake/SaslAuthenticate answers and the failure log.
 * See bsasl.h.
 */
#include "bsasl.h"

#include "proto_sasl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sasl/prop.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MECHS 8
#define MECH_LEN 32
#define USER_LEN 128

struct scram;
static void scram_free(struct scram *scram);

struct kb_sasl_conn {
    sasl_conn_t *conn;
    char mech[MECH_LEN]; /* "" until the handshake */
    char user[USER_LEN]; /* the authentication id the client sent, for the log */
    char reason[128];    /* why the authentication failed, for the log (never a secret) */
    uint8_t out[4096];   /* the server's last token */
    size_t out_len;
    struct scram *scram;   /* the SCRAM exchange, NULL before its first step */
    bool started;
    bool authenticated;
    bool failed;
};

static struct {
    const struct kb_sasl_conf *conf;
    char names[MAX_MECHS][MECH_LEN];
    const char *mechs[MAX_MECHS];
    int32_t n_mechs;
    bool initialised;
} g;

/* Cyrus asks its options here: users come from the sasldb only. */
static int getopt_cb(void *context, const char *plugin, const char *option, const char **result,
                     unsigned *len)
{
    (void)context;
    (void)plugin;
    if (strcmp(option, "sasldb_path") == 0)
        *result = g.conf->sasldb;
    else if (strcmp(option, "auxprop_plugin") == 0)
        *result = "sasldb";
    else if (strcmp(option, "pwcheck_method") == 0)
        *result = "auxprop";
    else if (strcmp(option, "mech_list") == 0)
        *result = "PLAIN GSSAPI"; /* SCRAM is served by this file: see scram_final() */
    else
        return SASL_FAIL;
    if (len)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

/* Cyrus's own log lines go to stderr only when $KB_SASL_DEBUG is set (they name users and
 * mechanisms, never secrets): kb_sasl_authenticate() logs failures itself. */
static int log_cb(void *context, int level, const char *message)
{
    (void)context;
    if (getenv("KB_SASL_DEBUG"))
        fprintf(stderr, "ktx-broker: cyrus[%d]: %s\n", level, message);
    return SASL_OK;
}

#define CYRUS_CB(fn) ((int (*)(void))(void (*)(void))(fn))
static sasl_callback_t callbacks[] = {
    {SASL_CB_GETOPT, CYRUS_CB(getopt_cb), NULL},
    {SASL_CB_LOG, CYRUS_CB(log_cb), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* Splits the comma-separated |list| into g.names; refuses GSSAPI and unknown names. */
static int parse_mechanisms(const char *list, char *err, size_t errlen)
{
    static const char *const known[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI"};
    const char *p = list;

    g.n_mechs = 0;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok = ok || (strlen(known[i]) == n && strncmp(known[i], p, n) == 0);
        if (!ok || g.n_mechs == MAX_MECHS) {
            snprintf(err, errlen, "unsupported SASL mechanism '%.*s' (PLAIN, SCRAM-SHA-256, "
                     "SCRAM-SHA-512, GSSAPI)", (int)KTX__MIN(n, 64), p);
            return -1;
        }
        memcpy(g.names[g.n_mechs], p, n);
        g.names[g.n_mechs][n] = '\0';
        g.mechs[g.n_mechs] = g.names[g.n_mechs];
        g.n_mechs++;
        p += n + (p[n] == ',');
    }
    if (g.n_mechs == 0) {
        snprintf(err, errlen, "no SASL mechanism enabled");
        return -1;
    }
    return 0;
}

int kb_sasl_init(const struct kb_sasl_conf *conf, char *err, size_t errlen)
{
    FILE *db;
    int rc;

    if (parse_mechanisms(conf->mechanisms ? conf->mechanisms : "PLAIN", err, errlen) != 0)
        return -1;
    if (!conf->sasldb || !(db = fopen(conf->sasldb, "r"))) {
        snprintf(err, errlen, "cannot read the sasldb %s", conf->sasldb ? conf->sasldb : "(none: --sasldb)");
        return -1;
    }
    fclose(db);
    g.conf = conf;
    if ((rc = sasl_server_init(callbacks, "ktx-broker")) != SASL_OK) {
        snprintf(err, errlen, "Cyrus SASL server init failed: %s", sasl_errstring(rc, NULL, NULL));
        return -1;
    }
    g.initialised = true;
    return 0;
}

void kb_sasl_done(void)
{
    /* No sasl_server_done(): it unloads Cyrus's plugins, and what their init allocated (never
     * freed by Cyrus) would then show as definite leaks under valgrind instead of memory
     * still reachable at exit. */
    g.initialised = false;
}

struct kb_sasl_conn *kb_sasl_conn_new(void)
{
    return calloc(1, sizeof(struct kb_sasl_conn));
}

void kb_sasl_conn_free(struct kb_sasl_conn *sc)
{
    if (!sc)
        return;
    if (sc->conn)
        sasl_dispose(&sc->conn);
    scram_free(sc->scram);
    free(sc);
}

bool kb_sasl_conn_authenticated(const struct kb_sasl_conn *sc)
{
    return sc->authenticated;
}

bool kb_sasl_conn_failed(const struct kb_sasl_conn *sc)
{
    return sc->failed;
}

const char *const *kb_sasl_mechanisms(int32_t *n)
{
    *n = g.n_mechs;
    return g.mechs;
}

int16_t kb_sasl_handshake(struct kb_sasl_conn *sc, const char *mech, size_t len)
{
    if (sc->mech[0] || sc->authenticated)
        return KTX_ERR_ILLEGAL_SASL_STATE;
    for (int32_t i = 0; i < g.n_mechs; i++) {
        if (strlen(g.mechs[i]) == len && memcmp(g.mechs[i], mech, len) == 0) {
            memcpy(sc->mech, mech, len);
            sc->mech[len] = '\0';
            return 0;
        }
    }
    return KTX_ERR_UNSUPPORTED_SASL_MECHANISM;
}

/* Copies the field that ends at a NUL or at |stop| from |p| (|len| bytes) into |dst|. */
static void copy_field(char *dst, size_t cap, const uint8_t *p, size_t len, char stop)
{
    size_t n = 0;

    while (n < len && n + 1 < cap && p[n] != '\0' && p[n] != (uint8_t)stop)
        n++;
    memcpy(dst, p, n);
    dst[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (dst[i] < 0x20 || dst[i] == 0x7f)
            dst[i] = '?';
}

/*
 * Remembers, for the failure log, the user name of the first token |in|: PLAIN's
 * authentication id (the field after the first NUL; the password after the next NUL is never
 * read) or SCRAM client-first's "n=" attribute. GSSAPI's comes from Cyrus on success.
 */
static void note_user(struct kb_sasl_conn *sc, const uint8_t *in, size_t len)
{
    const uint8_t *p;

    if (strcmp(sc->mech, "PLAIN") == 0 && (p = memchr(in, '\0', len)) != NULL)
        copy_field(sc->user, sizeof(sc->user), p + 1, len - (size_t)(p + 1 - in), '\0');
    else if (strncmp(sc->mech, "SCRAM-", 6) == 0) {
        for (size_t i = 0; i + 2 < len; i++) {
            if (in[i] == ',' && in[i + 1] == 'n' && in[i + 2] == '=') {
                copy_field(sc->user, sizeof(sc->user), in + i + 3, len - i - 3, ',');
                break;
            }
        }
    }
}

/*
 * Starts the Cyrus server connection (PLAIN, GSSAPI, and SCRAM's password lookup). GSSAPI
 * accepts as service/KB_GSSAPI_HOST, the host that clients connect to (the broker
 * advertises 127.0.0.1), so the keytab holds e.g. kafka/127.0.0.1@REALM; the other
 * mechanisms use this host's name, the realm of saslpasswd2's entries.
 */
#define KB_GSSAPI_HOST "127.0.0.1"
static int start_conn(struct kb_sasl_conn *sc)
{
    sasl_security_properties_t props;
    const char *service = g.conf && g.conf->service ? g.conf->service : "kafka";
    const char *fqdn = strcmp(sc->mech, "GSSAPI") == 0 ? KB_GSSAPI_HOST : NULL;

    memset(&props, 0, sizeof(props));
    props.max_ssf = 0; /* no SASL security layer: Kafka never negotiates one */
    props.maxbufsize = 65536;
    if (sasl_server_new(service, fqdn, NULL, NULL, NULL, NULL, SASL_SUCCESS_DATA, &sc->conn) != SASL_OK)
        return -1;
    return sasl_setprop(sc->conn, SASL_SEC_PROPS, &props) == SASL_OK ? 0 : -1;
}

/*
 * Copies the plaintext password of |user| from the sasldb into |pw| (|cap| bytes) through
 * Cyrus's auxprop lookup. Returns 0, or -1 for an unknown user or no password.
 */
static int lookup_password(struct kb_sasl_conn *sc, const char *user, char *pw, size_t cap)
{
    static const char *names[] = {"userPassword", NULL};
    struct propval val[2];

    if ((!sc->conn && start_conn(sc) != 0) || sasl_auxprop_request(sc->conn, names) != SASL_OK ||
        sasl_user_exists(sc->conn, NULL, NULL, user) != SASL_OK)
        return -1;
    memset(val, 0, sizeof(val));
    if (prop_getnames(sasl_auxprop_getctx(sc->conn), names, val) != 1 || !val[0].values ||
        !val[0].values[0] || strlen(val[0].values[0]) >= cap)
        return -1;
    strcpy(pw, val[0].values[0]);
    prop_erase(sasl_auxprop_getctx(sc->conn), names[0]);
    return 0;
}

/* ---- SCRAM-SHA-256/512 server (RFC 5802, RFC 7677) ---- */

/*
 * Cyrus's own SCRAM server cannot serve librdkafka: librdkafka's client-final nonce is its
 * client nonce followed by the whole server nonce (which already starts with it), and Kafka
 * accepts that by checking only that the nonce ends with the server's. This server does the
 * same, with the plaintext password from the sasldb, salted afresh for each exchange.
 */
#define SCRAM_ITERATIONS 4096
#define SCRAM_MSG_MAX 400

struct scram {
    const EVP_MD *md;
    int step;                          /* 1 after server-first was sent */
    char gs2[64];                      /* the client's gs2 header, e.g. "n,," */
    char first_bare[SCRAM_MSG_MAX];    /* client-first-message-bare */
    char server_first[SCRAM_MSG_MAX];  /* server-first-message */
    char nonce[2 * SCRAM_MSG_MAX / 3]; /* client nonce + server nonce */
    uint8_t salted[EVP_MAX_MD_SIZE];   /* SaltedPassword */
};

static void scram_free(struct scram *scram)
{
    if (scram)
        OPENSSL_clear_free(scram, sizeof(*scram));
}

/* Returns the value of attribute |name| ("r=", ...) of the comma-separated |msg| in |out|
 * (|cap| bytes); -1 when absent or too long. */
static int scram_attr(const char *msg, char name, char *out, size_t cap)
{
    for (const char *p = msg; p; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (p[0] == name && p[1] == '=') {
            size_t n = strcspn(p + 2, ",");
            if (n >= cap)
                return -1;
            memcpy(out, p + 2, n);
            out[n] = '\0';
            return 0;
        }
    }
    return -1;
}

/* Decodes a SCRAM saslname (",", "=" escaped as =2C and =3D) in place. Returns -1 when bad. */
static int scram_unescape(char *name)
{
    char *d = name;

    for (const char *p = name; *p; p++) {
        if (*p != '=')
            *d++ = *p;
        else if (strncmp(p, "=2C", 3) == 0 || strncmp(p, "=3D", 3) == 0) {
            *d++ = p[2] == 'C' ? ',' : '=';
            p += 2;
        } else
            return -1;
    }
    *d = '\0';
    return 0;
}

/* HMAC(|key|, |data|) with the exchange's hash into |out| (EVP_MAX_MD_SIZE bytes). */
static void scram_hmac(const struct scram *scram, const uint8_t *key, size_t key_len,
                       const void *data, size_t len, uint8_t *out)
{
    unsigned n = 0;

    HMAC(scram->md, key, (int)key_len, data, len, out, &n);
}

/* Base64 of |len| bytes at |in| into |out|, NUL terminated (4 * ceil(len / 3) + 1 bytes). */
static void scram_b64(const uint8_t *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* client-first: "gs2-header client-first-bare"; answers server-first. */
static int scram_first(struct kb_sasl_conn *sc, struct scram *scram, const char *msg)
{
    char user[USER_LEN], cnonce[SCRAM_MSG_MAX / 3], pw[256], salt_b64[32], snonce_b64[48];
    uint8_t salt[16], snonce[33];
    const char *bare;
    int n;

    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',' || !(bare = strchr(msg + 2, ',')) ||
        (size_t)(++bare - msg) >= sizeof(scram->gs2) || strlen(bare) >= sizeof(scram->first_bare) ||
        scram_attr(bare, 'n', user, sizeof(user)) || scram_attr(bare, 'r', cnonce, sizeof(cnonce)) ||
        scram_unescape(user) || strncmp(bare, "n=", 2) != 0)
        return snprintf(sc->reason, sizeof(sc->reason), "malformed client-first-message"), -1;
    memcpy(scram->gs2, msg, (size_t)(bare - msg));
    strcpy(scram->first_bare, bare);
    if (lookup_password(sc, user, pw, sizeof(pw)) != 0)
        return snprintf(sc->reason, sizeof(sc->reason), "unknown user"), -1;
    if (RAND_bytes(salt, sizeof(salt)) != 1 || RAND_bytes(snonce, sizeof(snonce)) != 1 ||
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), SCRAM_ITERATIONS, scram->md,
                          EVP_MD_get_size(scram->md), scram->salted) != 1) {
        OPENSSL_cleanse(pw, sizeof(pw));
        return snprintf(sc->reason, sizeof(sc->reason), "crypto failure"), -1;
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    scram_b64(salt, sizeof(salt), salt_b64);
    scram_b64(snonce, sizeof(snonce), snonce_b64);
    for (char *p = snonce_b64; *p; p++)
        if (*p == ',')
            *p = '-'; /* base64 has no comma, but a nonce must never contain one */
    snprintf(scram->nonce, sizeof(scram->nonce), "%s%s", cnonce, snonce_b64);
    n = snprintf(scram->server_first, sizeof(scram->server_first), "r=%s,s=%s,i=%d", scram->nonce,
                 salt_b64, SCRAM_ITERATIONS);
    memcpy(sc->out, scram->server_first, (size_t)n);
    sc->out_len = (size_t)n;
    scram->step = 1;
    return 0;
}

/* Checks |proof_b64| against the stored key for |auth| (AuthMessage). */
static bool scram_proof_ok(const struct scram *scram, const char *auth, const char *proof_b64)
{
    uint8_t client_key[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE];
    uint8_t proof[96], check[EVP_MAX_MD_SIZE];
    int hlen = EVP_MD_get_size(scram->md);
    size_t b64_len = strlen(proof_b64);
    unsigned n = 0;
    bool ok;

    if (b64_len != (size_t)(4 * ((hlen + 2) / 3)) || EVP_DecodeBlock(proof, (const unsigned char *)proof_b64, (int)b64_len) < hlen)
        return false;
    scram_hmac(scram, scram->salted, (size_t)hlen, "Client Key", 10, client_key);
    EVP_Digest(client_key, (size_t)hlen, stored, &n, scram->md, NULL);
    scram_hmac(scram, stored, (size_t)hlen, auth, strlen(auth), sig);
    for (int i = 0; i < hlen; i++)
        proof[i] ^= sig[i]; /* the client's ClientKey */
    EVP_Digest(proof, (size_t)hlen, check, &n, scram->md, NULL);
    ok = CRYPTO_memcmp(check, stored, (size_t)hlen) == 0;
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return ok;
}

/* client-final: "c=...,r=...,p=..."; answers server-final "v=...". */
static int scram_final(struct kb_sasl_conn *sc, struct scram *scram, const char *msg)
{
    char cb[64], cb_want[64], nonce[SCRAM_MSG_MAX], proof[128], auth[3 * SCRAM_MSG_MAX + 3];
    uint8_t server_key[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE];
    const char *p_attr = strstr(msg, ",p=");
    size_t nl, sl = strlen(scram->nonce);
    int hlen = EVP_MD_get_size(scram->md);

    if (!p_attr || scram_attr(msg, 'c', cb, sizeof(cb)) || scram_attr(msg, 'r', nonce, sizeof(nonce)) ||
        scram_attr(p_attr, 'p', proof, sizeof(proof)))
        return snprintf(sc->reason, sizeof(sc->reason), "malformed client-final-message"), -1;
    scram_b64((const uint8_t *)scram->gs2, strlen(scram->gs2), cb_want);
    nl = strlen(nonce);
    /* As Kafka: the nonce must end with ours (librdkafka repeats its client nonce first). */
    if (strcmp(cb, cb_want) != 0 || nl < sl || strcmp(nonce + nl - sl, scram->nonce) != 0)
        return snprintf(sc->reason, sizeof(sc->reason), "channel binding or nonce mismatch"), -1;
    snprintf(auth, sizeof(auth), "%s,%s,%.*s", scram->first_bare, scram->server_first,
             (int)(p_attr - msg), msg);
    if (!scram_proof_ok(scram, auth, proof))
        return snprintf(sc->reason, sizeof(sc->reason), "invalid client proof"), -1;
    scram_hmac(scram, scram->salted, (size_t)hlen, "Server Key", 10, server_key);
    scram_hmac(scram, server_key, (size_t)hlen, auth, strlen(auth), sig);
    memcpy(sc->out, "v=", 2);
    scram_b64(sig, (size_t)hlen, (char *)sc->out + 2);
    sc->out_len = strlen((const char *)sc->out);
    return 0;
}

/* One SCRAM step: client-first, then client-final (|*done| set after it). Returns 0 or -1. */
static int scram_step(struct kb_sasl_conn *sc, const uint8_t *in, size_t len, bool *done)
{
    char msg[SCRAM_MSG_MAX];
    int rc;

    *done = false;
    if (len >= sizeof(msg) || memchr(in, '\0', len))
        return snprintf(sc->reason, sizeof(sc->reason), "oversized or binary SCRAM message"), -1;
    memcpy(msg, in, len);
    msg[len] = '\0';
    if (!sc->scram) {
        if (!(sc->scram = calloc(1, sizeof(*sc->scram))))
            return snprintf(sc->reason, sizeof(sc->reason), "out of memory"), -1;
        sc->scram->md = strcmp(sc->mech, "SCRAM-SHA-512") == 0 ? EVP_sha512() : EVP_sha256();
        return scram_first(sc, sc->scram, msg);
    }
    if (sc->scram->step != 1)
        return snprintf(sc->reason, sizeof(sc->reason), "SCRAM exchange already finished"), -1;
    rc = scram_final(sc, sc->scram, msg);
    sc->scram->step = 2;
    *done = rc == 0;
    return rc;
}

/*
 * One step of a mechanism served by Cyrus (PLAIN: one step; GSSAPI: several, |*done| once
 * Cyrus says SASL_OK). Copies Cyrus's answer to sc->out. Returns 0 or -1.
 */
static int cyrus_step(struct kb_sasl_conn *sc, const uint8_t *in, size_t len, bool *done)
{
    const char *sout = NULL, *user = NULL;
    unsigned sout_len = 0;
    int rc;

    if (!sc->started)
        rc = start_conn(sc) == 0 ? sasl_server_start(sc->conn, sc->mech, (const char *)in,
                                                     (unsigned)len, &sout, &sout_len)
                                 : SASL_FAIL;
    else
        rc = sasl_server_step(sc->conn, (const char *)in, (unsigned)len, &sout, &sout_len);
    if (rc == SASL_OK || rc == SASL_CONTINUE) {
        if (sout_len > sizeof(sc->out))
            return snprintf(sc->reason, sizeof(sc->reason), "token too large"), -1;
        memcpy(sc->out, sout ? sout : "", sout_len);
        sc->out_len = sout_len;
    }
    *done = rc == SASL_OK;
    if (rc == SASL_OK && !sc->user[0] &&
        sasl_getprop(sc->conn, SASL_USERNAME, (const void **)&user) == SASL_OK && user)
        snprintf(sc->user, sizeof(sc->user), "%s", user);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        snprintf(sc->reason, sizeof(sc->reason), "%s", sasl_errstring(rc, NULL, NULL));
    return rc == SASL_OK || rc == SASL_CONTINUE ? 0 : -1;
}

int16_t kb_sasl_authenticate(struct kb_sasl_conn *sc, const uint8_t *in, size_t len,
                             const uint8_t **out, size_t *out_len, const char **message)
{
    int rc;
    bool done = true;

    *out = NULL;
    *out_len = 0;
    *message = NULL;
    if (!sc->mech[0] || sc->authenticated || sc->failed)
        return KTX_ERR_ILLEGAL_SASL_STATE;
    if (!sc->started)
        note_user(sc, in, len);
    sc->out_len = 0;
    if (strncmp(sc->mech, "SCRAM-", 6) == 0)
        rc = scram_step(sc, in, len, &done);
    else
        rc = cyrus_step(sc, in, len, &done);
    sc->started = true;
    if (rc != 0) {
        sc->failed = true;
        *message = "Authentication failed: invalid credentials";
        fprintf(stderr, "ktx-broker: SASL authentication failed: mechanism %s, user '%s': %s\n",
                sc->mech, sc->user, sc->reason[0] ? sc->reason : "refused");
        return KTX_ERR_SASL_AUTHENTICATION_FAILED;
    }
    sc->authenticated = done;
    if (done)
        fprintf(stderr, "ktx-broker: SASL authenticated: mechanism %s, user '%s'\n", sc->mech,
                sc->user);
    *out = sc->out;
    *out_len = sc->out_len;
    return 0;
}

/* ---- the SASL APIs ---- */

static int answer_handshake(struct kb_sasl_conn *sc, int16_t ver, const uint8_t *body,
                            size_t len, struct ktx__writer *w)
{
    struct ktx__sasl_handshake_req req;
    struct ktx__sasl_handshake_resp resp;
    struct ktx__str names[MAX_MECHS];
    int err = ktx__proto_sasl_handshake_req_decode(body, len, ver, &req, NULL);

    if (err || req.mechanism.len < 0)
        return err ? err : KTX_ERR_BAD_MSG;
    memset(&resp, 0, sizeof(resp));
    resp.error_code = kb_sasl_handshake(sc, req.mechanism.ptr, (size_t)req.mechanism.len);
    for (int32_t i = 0; i < g.n_mechs; i++)
        names[i] = ktx__str_c(g.mechs[i]);
    resp.mechanisms = names;
    resp.mechanisms_count = g.n_mechs;
    return ktx__proto_sasl_handshake_resp_encode(w, ver, &resp);
}

static int answer_authenticate(struct kb_sasl_conn *sc, int16_t ver, const uint8_t *body,
                               size_t len, struct ktx__writer *w)
{
    struct ktx__sasl_authenticate_req req;
    struct ktx__sasl_authenticate_resp resp;
    struct ktx__arena arena;
    const uint8_t *out;
    size_t out_len;
    const char *message;
    int err;

    ktx__arena_init(&arena, 1 << 20);
    err = ktx__proto_sasl_authenticate_req_decode(body, len, ver, &req, &arena);
    if (!err) {
        memset(&resp, 0, sizeof(resp));
        resp.error_code = kb_sasl_authenticate(sc, req.auth_bytes.ptr,
                                               req.auth_bytes.len > 0 ? (size_t)req.auth_bytes.len : 0,
                                               &out, &out_len, &message);
        resp.error_message = ktx__str_c(message);
        resp.auth_bytes = (struct ktx__bytes){out ? out : (const uint8_t *)"", (int32_t)out_len};
        err = ktx__proto_sasl_authenticate_resp_encode(w, ver, &resp);
    }
    ktx__arena_free(&arena);
    return err;
}

int kb_sasl_handle_request(struct kb_cluster *c, int32_t node_id, struct kb_sasl_conn *sc,
                           const uint8_t *req, size_t len, int64_t now_ms,
                           struct ktx__writer *out, struct kb_reply *reply)
{
    struct ktx__req_header hdr;
    struct ktx__reader r;
    int16_t key;

    ktx__r_init(&r, req, len);
    if (ktx__proto_req_header_decode(&r, &hdr))
        return KTX_ERR_BAD_MSG;
    key = hdr.request_api_key;
    if (key != KTX__API_SASL_HANDSHAKE && key != KTX__API_SASL_AUTHENTICATE) {
        if (!sc->authenticated && key != KTX__API_API_VERSIONS)
            return KTX_ERR_BAD_MSG; /* Kafka closes an unauthenticated connection that tries */
        return kb_handle_request(c, node_id, req, len, now_ms, out, reply);
    }
    if (hdr.request_api_version < 0 || hdr.request_api_version > (key == KTX__API_SASL_HANDSHAKE ? 1 : 2))
        return KTX_ERR_UNSUPPORTED;
    reply->send = true;
    reply->delay_ms = 0;
    ktx__proto_resp_header_encode(out, key, hdr.request_api_version, hdr.correlation_id);
    if (key == KTX__API_SASL_HANDSHAKE)
        return answer_handshake(sc, hdr.request_api_version, req + r.pos, len - r.pos, out);
    return answer_authenticate(sc, hdr.request_api_version, req + r.pos, len - r.pos, out);
}
