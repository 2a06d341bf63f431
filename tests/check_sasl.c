/*
 * SASL client mechanisms (sdk/sasl.c, sdk/scram.c) against independent peers:
 * - the RFC 7677 SCRAM-SHA-256 example exchange, and a SCRAM-SHA-512 exchange computed with
 *   Python's hashlib/hmac for the same inputs;
 * - Cyrus SASL's server side in this process (libsasl2's scram and plain plugins) with a
 *   sasldb made by saslpasswd2 at test time: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512;
 * - GSSAPI against Cyrus's gssapi server plugin with a MIT Kerberos KDC (krb5kdc) run on
 *   loopback from a realm created in a temporary directory (tests/krb_util.h); the client
 *   authenticates as exactly sasl.kerberos.principal. The GSSAPI cases fail, with the
 *   packages to install, when krb5kdc or the GSSAPI plugin is missing.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include "check_util.h"
#include "krb_util.h"
#include "sasl.h"
#include "scram.h"

#define USER "alice,=1"          /* ',' and '=' exercise the saslname escaping */
#define PASSWORD "s3cret-Pencil-4471"
#define REALM "ktx.test"

static char workdir[256];
static char sasldb[512];
static char messages[8192]; /* every failure message of the current test */

static void note_message(const char *msg)
{
    size_t used = strlen(messages);

    snprintf(messages + used, sizeof(messages) - used, "%s\n", msg);
}

/* ------------------------------------------------------------------------------------------
 * Cyrus SASL server side.
 * ------------------------------------------------------------------------------------------ */

static int server_getopt(void *context, const char *plugin, const char *option,
                         const char **result, unsigned *len)
{
    (void)context;
    (void)plugin;
    if (strcmp(option, "sasldb_path") == 0)
        *result = sasldb;
    else if (strcmp(option, "auxprop_plugin") == 0)
        *result = "sasldb";
    else if (strcmp(option, "pwcheck_method") == 0)
        *result = "auxprop";
    else if (strcmp(option, "mech_list") == 0)
        *result = "PLAIN SCRAM-SHA-256 SCRAM-SHA-512 GSSAPI";
    else
        return SASL_FAIL;
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

static int server_log(void *context, int level, const char *message)
{
    (void)context;
    (void)level;
    (void)message;
    return SASL_OK;
}

#define CYRUS_CB(fn) ((int (*)(void))(void (*)(void))(fn))
static sasl_callback_t server_callbacks[] = {
    {SASL_CB_GETOPT, CYRUS_CB(server_getopt), NULL},
    {SASL_CB_LOG, CYRUS_CB(server_log), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* Creates the sasldb with USER/PASSWORD (saslpasswd2) and starts Cyrus's server side. */
static void cyrus_setup(void)
{
    char cmd[1024];

    signal(SIGPIPE, SIG_IGN);
    snprintf(workdir, sizeof(workdir), "/tmp/ktx-sasl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(workdir));
    snprintf(sasldb, sizeof(sasldb), "%s/sasldb2", workdir);
    snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | saslpasswd2 -f '%s' -u %s -c -p '%s'",
             PASSWORD, sasldb, REALM, USER);
    ck_assert_msg(system(cmd) == 0, "saslpasswd2 failed (Debian package sasl2-bin)");
    ck_assert_int_eq(sasl_server_init(server_callbacks, "kafkatx-test"), SASL_OK);
}

static void cyrus_teardown(void)
{
    char cmd[512];

    /* No sasl_done(): it unloads the plugins, whose own allocations would then show as
     * leaks; Cyrus counts sasl_server_init() calls, so the next case may call it again. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", workdir);
}

/* Result of one exchange between our client and the Cyrus server. */
struct exchange {
    int client_rc;  /* the last ktx__sasl_step() result (or ktx__sasl_new()'s error) */
    int server_rc;  /* the last sasl_server_start/step() result */
    int steps;      /* client steps taken */
    char err[512];  /* the client's message */
};

/* One step of the server; |first| starts the mechanism. */
static int server_step(sasl_conn_t *conn, bool first, const char *mech, const uint8_t *in,
                       size_t len, const char **out, unsigned *out_len)
{
    if (first)
        return sasl_server_start(conn, mech, (const char *)in, (unsigned)len, out, out_len);
    return sasl_server_step(conn, (const char *)in, (unsigned)len, out, out_len);
}

/*
 * Authenticates with |mech| and |cv| against a new Cyrus server connection for service
 * "kafka" on "localhost", with |secflags| as its security flags: the client speaks first,
 * then each server answer goes to the client until one side stops. SASL_SUCCESS_DATA: as in
 * Kafka, the server's last data (SCRAM server-final) comes with its success answer.
 */
static void run_exchange(enum ktx__sasl_mechanism mech, const struct ktx__conf_values *cv,
                         unsigned secflags, struct exchange *ex)
{
    sasl_security_properties_t props = {.max_ssf = 0, .security_flags = secflags};
    struct ktx__sasl *sasl = NULL;
    sasl_conn_t *conn = NULL;
    const uint8_t *out = NULL, *in = NULL;
    size_t out_len = 0, in_len = 0;
    const char *sout = NULL;
    unsigned sout_len = 0;

    memset(ex, 0, sizeof(*ex));
    ex->client_rc = ktx__sasl_new(&sasl, mech, cv, "localhost", ex->err, sizeof(ex->err));
    if (ex->client_rc != 0) {
        note_message(ex->err);
        return;
    }
    ck_assert_int_eq(sasl_server_new("kafka", "localhost", mech == KTX__SASL_GSSAPI ? NULL
                                                                                    : REALM,
                                     NULL, NULL, NULL, SASL_SUCCESS_DATA, &conn), SASL_OK);
    ck_assert_int_eq(sasl_setprop(conn, SASL_SEC_PROPS, &props), SASL_OK);
    for (;;) {
        ex->steps++;
        ex->client_rc = ktx__sasl_step(sasl, in, in_len, &out, &out_len, ex->err,
                                       sizeof(ex->err));
        if (ex->client_rc != KTX__SASL_CONTINUE)
            break;
        ex->server_rc = server_step(conn, ex->steps == 1, ktx__sasl_mechanism_name(mech), out,
                                    out_len, &sout, &sout_len);
        if (ex->server_rc != SASL_OK && ex->server_rc != SASL_CONTINUE)
            break; /* a broker answers this with an error code, not auth bytes */
        in = (const uint8_t *)sout;
        in_len = sout_len;
    }
    if (ex->client_rc < 0)
        note_message(ex->err);
    if (ex->server_rc != SASL_OK && ex->server_rc != SASL_CONTINUE)
        note_message(sasl_errdetail(conn));
    sasl_dispose(&conn);
    ktx__sasl_free(sasl);
}

static struct ktx__conf_values creds(const char *user, const char *password)
{
    struct ktx__conf_values cv;

    memset(&cv, 0, sizeof(cv));
    cv.security_protocol = KTX__SECURITY_SASL_PLAINTEXT;
    cv.sasl_username = user;
    cv.sasl_password = password;
    return cv;
}

/* ------------------------------------------------------------------------------------------
 * SCRAM vectors and parsers.
 * ------------------------------------------------------------------------------------------ */

#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SFIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
                   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_FINAL_NO_PROOF "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

/* Runs client-first and client-final for user/pencil with the RFC nonces and checks the
 * client-final message. Returns the client for the server-final check. */
static struct ktx__scram *rfc_exchange(enum ktx__hash hash, const char *password,
                                       const char *want_final)
{
    struct ktx__scram *scram = NULL;
    const char *msg;
    size_t len;
    char err[256];

    ck_assert_int_eq(ktx__scram_new(&scram, hash, "user", password), 0);
    ck_assert_int_eq(ktx__scram_client_first(scram, RFC_CNONCE, &msg, &len), 0);
    ck_assert_str_eq(msg, "n,,n=user,r=" RFC_CNONCE);
    ck_assert_uint_eq(len, strlen(msg));
    ck_assert_int_eq(ktx__scram_client_final(scram, (const uint8_t *)RFC_SFIRST,
                                             strlen(RFC_SFIRST), &msg, &len, err,
                                             sizeof(err)), 0);
    if (want_final != NULL)
        ck_assert_str_eq(msg, want_final);
    return scram;
}

START_TEST(test_scram_sha256_reproduces_rfc7677_exchange)
{
    struct ktx__scram *scram = rfc_exchange(
        KTX__HASH_SHA256, "pencil",
        RFC_FINAL_NO_PROOF ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    const char *v = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    char err[256];

    ck_assert_int_eq(ktx__scram_verify_server_final(scram, (const uint8_t *)v, strlen(v), err,
                                                    sizeof(err)), 0);
    ktx__scram_free(scram);
}
END_TEST

START_TEST(test_scram_sha512_matches_python_hashlib_exchange)
{
    /* Computed with Python's hashlib.pbkdf2_hmac and hmac for the RFC 7677 inputs. */
    struct ktx__scram *scram = rfc_exchange(
        KTX__HASH_SHA512, "pencil",
        RFC_FINAL_NO_PROOF ",p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8P"
                           "PC6wdp6dybEmDYXYTxwnYPJQ==");
    const char *v = "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5Zx"
                    "XnJq199RVG2rR7N7Zw==";
    char err[256];

    ck_assert_int_eq(ktx__scram_verify_server_final(scram, (const uint8_t *)v, strlen(v), err,
                                                    sizeof(err)), 0);
    ktx__scram_free(scram);
}
END_TEST

START_TEST(test_scram_refuses_server_signature_of_other_password)
{
    struct ktx__scram *scram = rfc_exchange(KTX__HASH_SHA256, "not-pencil", NULL);
    const char *v = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    char err[256];

    ck_assert_int_eq(ktx__scram_verify_server_final(scram, (const uint8_t *)v, strlen(v), err,
                                                    sizeof(err)), KTX_ERR_AUTH);
    ck_assert_msg(strstr(err, "server signature is wrong"), "%s", err);
    ck_assert_int_eq(ktx__scram_verify_server_final(scram, (const uint8_t *)v, strlen(v), err,
                                                    sizeof(err)), KTX_ERR_STATE);
    ktx__scram_free(scram);
}
END_TEST

START_TEST(test_scram_server_error_attribute_is_auth_error)
{
    struct ktx__scram *scram = rfc_exchange(KTX__HASH_SHA256, "pencil", NULL);
    const char *e = "e=invalid-proof";
    char err[256];

    ck_assert_int_eq(ktx__scram_verify_server_final(scram, (const uint8_t *)e, strlen(e), err,
                                                    sizeof(err)), KTX_ERR_AUTH);
    ck_assert_msg(strstr(err, "invalid-proof"), "%s", err);
    ktx__scram_free(scram);
}
END_TEST

/* Feeds server-first |sfirst| to a fresh client after the RFC client-first; returns the
 * result and leaves the message in |err|. */
static int client_final_for(const char *sfirst, char *err, size_t errsize)
{
    struct ktx__scram *scram = NULL;
    const char *msg;
    size_t len;
    int rc;

    ck_assert_int_eq(ktx__scram_new(&scram, KTX__HASH_SHA256, "user", "pencil"), 0);
    ck_assert_int_eq(ktx__scram_client_first(scram, RFC_CNONCE, &msg, &len), 0);
    rc = ktx__scram_client_final(scram, (const uint8_t *)sfirst, strlen(sfirst), &msg, &len,
                                 err, errsize);
    ktx__scram_free(scram);
    return rc;
}

START_TEST(test_scram_refuses_weak_or_foreign_server_first)
{
    static const struct {
        const char *sfirst;
        const char *why;
    } cases[] = {
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "fewer than 4096"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", "fewer than 4096"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999", "more than"},
        {"r=OTHERNONCExyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"},
        {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend"},
        {"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "mandatory"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==", "expected r=,s=,i="},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22Z*J0SNY7soEsUEjb6gQ==,i=4096", "invalid salt"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096", "invalid salt"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096", "iteration count"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", "extension"},
        {"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,junk", "extension"},
        {"", "expected r=,s=,i="},
    };
    char err[256];

    for (size_t i = 0; i < KTX__ARRAY_LEN(cases); i++) {
        err[0] = '\0';
        ck_assert_msg(client_final_for(cases[i].sfirst, err, sizeof(err)) == KTX_ERR_AUTH,
                      "accepted %s", cases[i].sfirst);
        ck_assert_msg(strstr(err, cases[i].why), "%s: %s", cases[i].sfirst, err);
    }
    /* An extension after i= is allowed (RFC 5802 section 7). */
    ck_assert_int_eq(client_final_for("r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
                                      "i=4096,x=future", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_scram_escapes_comma_and_equals_in_user_name)
{
    struct ktx__scram *scram = NULL;
    const char *msg;
    size_t len;

    ck_assert_int_eq(ktx__scram_new(&scram, KTX__HASH_SHA512, "a,b=c", "x"), 0);
    ck_assert_int_eq(ktx__scram_client_first(scram, "abc", &msg, &len), 0);
    ck_assert_str_eq(msg, "n,,n=a=2Cb=3Dc,r=abc");
    ck_assert_int_eq(ktx__scram_client_first(scram, "abc", &msg, &len), KTX_ERR_STATE);
    ktx__scram_free(scram);

    ck_assert_int_eq(ktx__scram_new(&scram, KTX__HASH_SHA256, "u", "x"), 0);
    ck_assert_int_eq(ktx__scram_client_first(scram, "bad,nonce", &msg, &len),
                     KTX_ERR_INVALID_ARG);
    ck_assert_int_eq(ktx__scram_client_first(scram, NULL, &msg, &len), 0);
    ck_assert_uint_eq(len, strlen("n,,n=u,r=") + 32); /* 24 random bytes in base64 */
    ktx__scram_free(scram);
    ck_assert_int_eq(ktx__scram_new(&scram, KTX__HASH_SHA256, "", "x"), KTX_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_scram_parsers_decode_fields)
{
    struct ktx__scram_server_first sf;
    struct ktx__scram_server_final sfin;
    char err[128];

    ck_assert_int_eq(ktx__scram_parse_server_first(RFC_SFIRST, strlen(RFC_SFIRST), &sf, err,
                                                   sizeof(err)), 0);
    ck_assert_uint_eq(sf.iterations, 4096);
    ck_assert_uint_eq(sf.salt_len, 16);
    ck_assert_uint_eq(sf.salt[0], 0x5b);
    ck_assert_uint_eq(sf.nonce_len, strlen("rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"));
    ck_assert_int_eq(ktx__scram_parse_server_final("e=other-error,x=1", 17, &sfin, err,
                                                   sizeof(err)), 0);
    ck_assert_uint_eq(sfin.error_len, 11);
    ck_assert_int_eq(ktx__scram_parse_server_final("v=AAEC", 6, &sfin, err, sizeof(err)), 0);
    ck_assert_uint_eq(sfin.verifier_len, 3);
    ck_assert_uint_eq(sfin.verifier[2], 2);
    ck_assert_int_eq(ktx__scram_parse_server_final("v=", 2, &sfin, err, sizeof(err)),
                     KTX_ERR_BAD_MSG);
    ck_assert_int_eq(ktx__scram_parse_server_final("x=1", 3, &sfin, err, sizeof(err)),
                     KTX_ERR_BAD_MSG);
}
END_TEST

START_TEST(test_base64_roundtrips_every_padding)
{
    const uint8_t in[5] = {0xff, 0x00, 0x10, 0x80, 0x7f};
    uint8_t back[8];
    char text[16];

    for (size_t len = 0; len <= 5; len++) {
        ktx__base64_encode(in, len, text);
        ck_assert_uint_eq(strlen(text), (len + 2) / 3 * 4);
        ck_assert_int_eq(ktx__base64_decode(text, strlen(text), back, sizeof(back)),
                         (long)len);
        ck_assert_mem_eq(back, in, len);
    }
    ktx__base64_encode((const uint8_t *)"pencil", 6, text);
    ck_assert_str_eq(text, "cGVuY2ls");
    ck_assert_int_eq(ktx__base64_decode("cGVuY2ls", 8, back, 5), -1); /* over capacity */
    ck_assert_int_eq(ktx__base64_decode("cGVuY2l", 7, back, 8), -1);
    ck_assert_int_eq(ktx__base64_decode("cG=u", 4, back, 8), -1);
    ck_assert_int_eq(ktx__base64_decode("cGVu=A==", 8, back, 8), -1);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Against Cyrus SASL's server side.
 * ------------------------------------------------------------------------------------------ */

START_TEST(test_sasl_plain_authenticates_with_cyrus_server)
{
    struct ktx__conf_values cv = creds(USER, PASSWORD);
    struct exchange ex;

    run_exchange(KTX__SASL_PLAIN, &cv, 0, &ex);
    ck_assert_int_eq(ex.server_rc, SASL_OK);
    ck_assert_int_eq(ex.client_rc, KTX__SASL_DONE);
    ck_assert_int_eq(ex.steps, 2);
}
END_TEST

START_TEST(test_sasl_scram_sha256_authenticates_with_cyrus_server)
{
    struct ktx__conf_values cv = creds(USER, PASSWORD);
    struct exchange ex;

    run_exchange(KTX__SASL_SCRAM_SHA_256, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_OK, "server %d, client: %s", ex.server_rc, ex.err);
    ck_assert_int_eq(ex.client_rc, KTX__SASL_DONE);
    ck_assert_int_eq(ex.steps, 3); /* client-first, client-final, server-final checked */
}
END_TEST

START_TEST(test_sasl_scram_sha512_authenticates_with_cyrus_server)
{
    struct ktx__conf_values cv = creds(USER, PASSWORD);
    struct exchange ex;

    run_exchange(KTX__SASL_SCRAM_SHA_512, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_OK, "server %d, client: %s", ex.server_rc, ex.err);
    ck_assert_int_eq(ex.client_rc, KTX__SASL_DONE);
    ck_assert_int_eq(ex.steps, 3);
}
END_TEST

START_TEST(test_sasl_conf_properties_drive_a_scram_exchange)
{
    ktx_conf_t *conf = ktx_conf_new();
    struct ktx__conf_values cv;
    struct exchange ex;
    char err[256];
    const char *props[][2] = {
        {"bootstrap.servers", "localhost:9092"},
        {"security.protocol", "SASL_PLAINTEXT"},
        {"sasl.mechanism", "SCRAM-SHA-512"},
        {"sasl.username", USER},
        {"sasl.password", PASSWORD},
    };

    for (size_t i = 0; i < KTX__ARRAY_LEN(props); i++) {
        ktx_error_t *e = ktx_conf_set(conf, props[i][0], props[i][1]);

        ck_assert_msg(e == NULL, "%s: %s", props[i][0], ktx_error_message(e));
    }
    ck_assert_int_eq(ktx__conf_resolve(conf, &cv, err, sizeof(err)), 0);
    ck_assert_int_eq(cv.sasl_mechanism, KTX__SASL_SCRAM_SHA_512);
    run_exchange(cv.sasl_mechanism, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_OK, "server %d, client: %s", ex.server_rc, ex.err);
    ck_assert_int_eq(ex.client_rc, KTX__SASL_DONE);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_sasl_wrong_password_is_refused_by_cyrus_server)
{
    static const enum ktx__sasl_mechanism mechs[] = {KTX__SASL_PLAIN, KTX__SASL_SCRAM_SHA_256,
                                                     KTX__SASL_SCRAM_SHA_512};
    struct ktx__conf_values cv = creds(USER, "wrong-" PASSWORD);
    struct exchange ex;

    for (size_t i = 0; i < KTX__ARRAY_LEN(mechs); i++) {
        run_exchange(mechs[i], &cv, 0, &ex);
        ck_assert_int_eq(ex.server_rc, SASL_BADAUTH);
        ck_assert_int_eq(ex.client_rc, KTX__SASL_CONTINUE); /* waiting for the answer */
    }
}
END_TEST

START_TEST(test_sasl_unknown_user_is_refused_by_cyrus_server)
{
    struct ktx__conf_values cv = creds("mallory", PASSWORD);
    struct exchange ex;

    run_exchange(KTX__SASL_SCRAM_SHA_256, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_NOUSER || ex.server_rc == SASL_BADAUTH, "server %d",
                  ex.server_rc);
    run_exchange(KTX__SASL_PLAIN, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_NOUSER || ex.server_rc == SASL_BADAUTH, "server %d",
                  ex.server_rc);
}
END_TEST

START_TEST(test_sasl_mechanism_not_enabled_on_server_is_refused)
{
    struct ktx__conf_values cv = creds(USER, PASSWORD);
    struct exchange ex;

    /* A server that forbids plaintext passwords does not offer PLAIN. */
    run_exchange(KTX__SASL_PLAIN, &cv, SASL_SEC_NOPLAINTEXT, &ex);
    ck_assert_msg(ex.server_rc == SASL_NOMECH || ex.server_rc == SASL_TOOWEAK ||
                      ex.server_rc == SASL_ENCRYPT, "server %d", ex.server_rc);
    /* And no mechanism at all is refused before anything is sent. */
    run_exchange(KTX__SASL_NONE, &cv, 0, &ex);
    ck_assert_int_eq(ex.client_rc, KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_null(ktx__sasl_mechanism_name(KTX__SASL_NONE));
    ck_assert_str_eq(ktx__sasl_mechanism_name(KTX__SASL_SCRAM_SHA_512), "SCRAM-SHA-512");
}
END_TEST

START_TEST(test_sasl_missing_credentials_are_bad_config)
{
    struct ktx__conf_values cv = creds(NULL, PASSWORD);
    struct ktx__sasl *sasl = NULL;
    char err[256];

    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_PLAIN, &cv, "h", err, sizeof(err)),
                     KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(err, "sasl.username"), "%s", err);
    cv = creds(USER, NULL);
    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_SCRAM_SHA_256, &cv, "h", err, sizeof(err)),
                     KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_null(sasl);
}
END_TEST

START_TEST(test_sasl_plain_message_and_state_machine)
{
    struct ktx__conf_values cv = creds("u", "pw");
    struct ktx__sasl *sasl = NULL;
    const uint8_t *out;
    size_t len;
    char err[256];

    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_PLAIN, &cv, "h", err, sizeof(err)), 0);
    ck_assert_int_eq(ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err)),
                     KTX__SASL_CONTINUE);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(out, "\0u\0pw", 5);
    ck_assert_int_eq(ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err)),
                     KTX__SASL_DONE);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err)),
                     KTX_ERR_STATE);
    ktx__sasl_free(sasl);
    ktx__sasl_free(NULL);
}
END_TEST

START_TEST(test_sasl_scram_garbage_from_server_is_auth_error)
{
    struct ktx__conf_values cv = creds(USER, PASSWORD);
    struct ktx__sasl *sasl = NULL;
    const uint8_t *out;
    size_t len;
    char err[256];

    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_SCRAM_SHA_512, &cv, "h", err, sizeof(err)),
                     0);
    ck_assert_int_eq(ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err)),
                     KTX__SASL_CONTINUE);
    ck_assert_int_eq(memcmp(out, "n,,n=alice=2C=3D1,r=", 20), 0);
    ck_assert_int_eq(ktx__sasl_step(sasl, (const uint8_t *)"\x01\x02garbage", 9, &out, &len,
                                    err, sizeof(err)), KTX_ERR_AUTH);
    note_message(err);
    ck_assert_int_eq(ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err)),
                     KTX_ERR_STATE);
    ktx__sasl_free(sasl);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * GSSAPI: a MIT Kerberos KDC on loopback and Cyrus's gssapi plugins on both sides.
 * ------------------------------------------------------------------------------------------ */

static struct ktx_test_kdc kdc = {.pid = -1};

/* Starts realm KTX.TEST (kafka/localhost, client, other) under the suite's directory and
 * writes kafka.keytab (the acceptor's, exported as KRB5_KTNAME) and client.keytab (only
 * client's key). Fails, never skips, when Kerberos is not installed. */
static void kdc_setup(void)
{
    static const char *const principals[] = {"kafka/localhost", "client", "other", NULL};
    static int serial; /* one realm per test, also when CK_FORK=no runs them in one process */
    const char *missing = ktx_test_kerberos_missing();
    char dir[400], path[600];

    ck_assert_msg(missing == NULL, "%s", missing);
    snprintf(dir, sizeof(dir), "%s/krb-%d-%d", workdir, (int)getpid(), ++serial);
    ck_assert_int_eq(ktx_test_kdc_start(&kdc, dir, principals), 0);
    snprintf(path, sizeof(path), "%s/kafka.keytab", dir);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "kafka/localhost", path), 0);
    setenv("KRB5_KTNAME", path, 1); /* the acceptor's (broker's) keytab */
    snprintf(path, sizeof(path), "%s/client.keytab", dir);
    ck_assert_int_eq(ktx_test_kdc_keytab(&kdc, "client", path), 0);
}

static void kdc_teardown(void)
{
    ktx_test_kdc_stop(&kdc);
}

START_TEST(test_sasl_gssapi_authenticates_with_kdc_and_cyrus_server)
{
    struct ktx__conf_values cv = creds(NULL, NULL);
    char path[600], cc[600];
    struct exchange ex;

    kdc_setup();
    /* An empty default ticket cache: the keytab is the only source of the client's key. */
    snprintf(cc, sizeof(cc), "%s/ccache", kdc.dir);
    setenv("KRB5CCNAME", cc, 1);
    unsetenv("KRB5_CLIENT_KTNAME");
    snprintf(path, sizeof(path), "%s/client.keytab", kdc.dir);
    cv.sasl_kerberos_keytab = path;
    cv.sasl_kerberos_principal = "client@KTX.TEST";
    run_exchange(KTX__SASL_GSSAPI, &cv, 0, &ex);
    ck_assert_msg(ex.server_rc == SASL_OK, "server %d, client %d: %s (%s)", ex.server_rc,
                  ex.client_rc, ex.err, messages);
    ck_assert_int_eq(ex.client_rc, KTX__SASL_DONE);
    ck_assert_int_ge(ex.steps, 3);
    /* A keytab without a principal: Kerberos uses the keytab's (first) principal. */
    cv.sasl_kerberos_principal = NULL;
    run_exchange(KTX__SASL_GSSAPI, &cv, 0, &ex);
    ck_assert_msg(ex.client_rc == KTX__SASL_DONE && ex.server_rc == SASL_OK, "%d %d: %s (%s)",
                  ex.client_rc, ex.server_rc, ex.err, messages);
    /* The login stayed inside the process: no environment variable was set and the user's
     * ticket cache was not written. */
    ck_assert_ptr_null(getenv("KRB5_CLIENT_KTNAME"));
    ck_assert_int_ne(access(cc, F_OK), 0);
}
END_TEST

START_TEST(test_sasl_gssapi_principal_not_in_keytab_is_auth_error_naming_it)
{
    struct ktx__conf_values cv = creds(NULL, NULL);
    struct ktx__sasl *sasl = NULL;
    char path[600], cc[600], err[512] = "";
    struct exchange ex;
    int rc;

    kdc_setup();
    snprintf(cc, sizeof(cc), "FILE:%s/ccache", kdc.dir);
    setenv("KRB5CCNAME", cc, 1);
    snprintf(path, sizeof(path), "%s/client.keytab", kdc.dir);
    /* "other" exists in the KDC, but client.keytab only holds client's key. */
    cv.sasl_kerberos_keytab = path;
    cv.sasl_kerberos_principal = "other@KTX.TEST";
    rc = ktx__sasl_new(&sasl, KTX__SASL_GSSAPI, &cv, "localhost", err, sizeof(err));
    ck_assert_msg(rc == KTX_ERR_AUTH, "%d: %s", rc, err);
    ck_assert_ptr_null(sasl);
    ck_assert_msg(strstr(err, "other@KTX.TEST") != NULL && strstr(err, path) != NULL &&
                      strstr(err, "kafka@localhost") != NULL,
                  "%s", err);
    /* Without a keytab, the default ticket cache must hold the principal: it holds client. */
    ck_assert_int_eq(ktx_test_kdc_kinit(&kdc, "client", path, cc), 0);
    cv.sasl_kerberos_keytab = NULL;
    rc = ktx__sasl_new(&sasl, KTX__SASL_GSSAPI, &cv, "localhost", err, sizeof(err));
    ck_assert_msg(rc == KTX_ERR_AUTH, "%d: %s", rc, err);
    ck_assert_msg(strstr(err, "other@KTX.TEST") != NULL && strstr(err, "kinit") != NULL, "%s",
                  err);
    cv.sasl_kerberos_principal = "client@KTX.TEST";
    run_exchange(KTX__SASL_GSSAPI, &cv, 0, &ex);
    ck_assert_msg(ex.client_rc == KTX__SASL_DONE && ex.server_rc == SASL_OK, "%d %d: %s (%s)",
                  ex.client_rc, ex.server_rc, ex.err, messages);
}
END_TEST

START_TEST(test_sasl_gssapi_without_credentials_is_auth_error)
{
    struct ktx__conf_values cv = creds(NULL, NULL);
    struct ktx__sasl *sasl = NULL;
    const uint8_t *out;
    size_t len;
    char err[512] = "", cc[600], kt[600];
    int rc;

    snprintf(cc, sizeof(cc), "FILE:%s/no-such-ccache", workdir);
    snprintf(kt, sizeof(kt), "%s/no-such.keytab", workdir);
    setenv("KRB5CCNAME", cc, 1);
    setenv("KRB5_CONFIG", "/dev/null", 1);
    cv.sasl_kerberos_keytab = kt;
    cv.sasl_kerberos_service_name = "kafka-test";
    rc = ktx__sasl_new(&sasl, KTX__SASL_GSSAPI, &cv, "broker1.example", err, sizeof(err));
    if (rc == 0)
        rc = ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err));
    ck_assert_int_eq(rc, KTX_ERR_AUTH);
    ck_assert_msg(strstr(err, "kafka-test@broker1.example"), "%s", err);
    ktx__sasl_free(sasl);
}
END_TEST

START_TEST(test_sasl_failure_messages_never_contain_password)
{
    static const enum ktx__sasl_mechanism mechs[] = {KTX__SASL_PLAIN, KTX__SASL_SCRAM_SHA_256,
                                                     KTX__SASL_SCRAM_SHA_512};
    struct ktx__conf_values cv = creds(USER, "wrong-" PASSWORD);
    struct ktx__sasl *sasl = NULL;
    const uint8_t *out;
    size_t len;
    char err[512];
    struct exchange ex;

    messages[0] = '\0';
    for (size_t i = 0; i < KTX__ARRAY_LEN(mechs); i++) {
        run_exchange(mechs[i], &cv, 0, &ex);
        cv = creds("mallory", PASSWORD);
        run_exchange(mechs[i], &cv, 0, &ex);
        run_exchange(mechs[i], &cv, SASL_SEC_NOPLAINTEXT, &ex);
        cv = creds(USER, "wrong-" PASSWORD);
    }
    /* A SCRAM server that does not know the password, and one that sends garbage. */
    cv = creds(USER, PASSWORD);
    ck_assert_int_eq(ktx__sasl_new(&sasl, KTX__SASL_SCRAM_SHA_256, &cv, "h", err, sizeof(err)),
                     0);
    ktx__sasl_step(sasl, NULL, 0, &out, &len, err, sizeof(err));
    ck_assert_int_eq(ktx__sasl_step(sasl, (const uint8_t *)"r=x,s=AAAA,i=10", 15, &out, &len,
                                    err, sizeof(err)), KTX_ERR_AUTH);
    note_message(err);
    ktx__sasl_free(sasl);
    ck_assert_ptr_nonnull(strstr(messages, "SCRAM"));
    ck_assert_ptr_null(strstr(messages, PASSWORD));
    ck_assert_ptr_null(strstr(messages, "Pencil"));
}
END_TEST

static Suite *sasl_suite(void)
{
    Suite *s = suite_create("sasl");
    TCase *scram = tcase_create("scram");
    TCase *cyrus = tcase_create("cyrus");
    TCase *gssapi = tcase_create("gssapi");

    tcase_add_test(scram, test_scram_sha256_reproduces_rfc7677_exchange);
    tcase_add_test(scram, test_scram_sha512_matches_python_hashlib_exchange);
    tcase_add_test(scram, test_scram_refuses_server_signature_of_other_password);
    tcase_add_test(scram, test_scram_server_error_attribute_is_auth_error);
    tcase_add_test(scram, test_scram_refuses_weak_or_foreign_server_first);
    tcase_add_test(scram, test_scram_escapes_comma_and_equals_in_user_name);
    tcase_add_test(scram, test_scram_parsers_decode_fields);
    tcase_add_test(scram, test_base64_roundtrips_every_padding);
    suite_add_tcase(s, scram);

    tcase_add_unchecked_fixture(cyrus, cyrus_setup, cyrus_teardown);
    tcase_set_timeout(cyrus, 60);
    tcase_add_test(cyrus, test_sasl_plain_authenticates_with_cyrus_server);
    tcase_add_test(cyrus, test_sasl_scram_sha256_authenticates_with_cyrus_server);
    tcase_add_test(cyrus, test_sasl_scram_sha512_authenticates_with_cyrus_server);
    tcase_add_test(cyrus, test_sasl_conf_properties_drive_a_scram_exchange);
    tcase_add_test(cyrus, test_sasl_wrong_password_is_refused_by_cyrus_server);
    tcase_add_test(cyrus, test_sasl_unknown_user_is_refused_by_cyrus_server);
    tcase_add_test(cyrus, test_sasl_mechanism_not_enabled_on_server_is_refused);
    tcase_add_test(cyrus, test_sasl_missing_credentials_are_bad_config);
    tcase_add_test(cyrus, test_sasl_plain_message_and_state_machine);
    tcase_add_test(cyrus, test_sasl_scram_garbage_from_server_is_auth_error);
    tcase_add_test(cyrus, test_sasl_failure_messages_never_contain_password);
    suite_add_tcase(s, cyrus);

    /* GSSAPI changes the Kerberos environment variables: its own case, after the others. */
    tcase_add_unchecked_fixture(gssapi, cyrus_setup, cyrus_teardown);
    tcase_add_checked_fixture(gssapi, NULL, kdc_teardown);
    tcase_set_timeout(gssapi, 60);
    tcase_add_test(gssapi, test_sasl_gssapi_authenticates_with_kdc_and_cyrus_server);
    tcase_add_test(gssapi, test_sasl_gssapi_principal_not_in_keytab_is_auth_error_naming_it);
    tcase_add_test(gssapi, test_sasl_gssapi_without_credentials_is_auth_error);
    suite_add_tcase(s, gssapi);
    return s;
}

KTX_CHECK_MAIN(sasl_suite)
