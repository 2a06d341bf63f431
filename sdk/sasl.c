/*
 * SASL client mechanisms: PLAIN and SCRAM here, GSSAPI through Cyrus SASL with an initiator
 * credential acquired here through GSS-API (MIT Kerberos). The only file of the library that
 * includes Cyrus SASL or GSS-API headers.
 */
#include "sasl.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sasl/sasl.h>

#include "scram.h"

enum sasl_state { SASL_STATE_START, SASL_STATE_RUNNING, SASL_STATE_LAST_SENT, SASL_STATE_END };

struct ktx__sasl {
    enum ktx__sasl_mechanism mech;
    enum sasl_state state;
    int step;                    /* steps taken (PLAIN and SCRAM) */
    char *host;
    char *service;               /* sasl.kerberos.service.name (GSSAPI) */
    char *principal;             /* sasl.kerberos.principal (GSSAPI), NULL when not set */
    uint8_t *plain;              /* PLAIN's message, wiped on free */
    size_t plain_len;
    struct ktx__scram *scram;    /* SCRAM-SHA-256/512 */
    sasl_conn_t *cyrus;          /* GSSAPI */
    gss_cred_id_t gss_cred;      /* GSSAPI: the credential handed to Cyrus (SASL_GSS_CREDS) */
    sasl_callback_t callbacks[3];
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

const char *ktx__sasl_mechanism_name(enum ktx__sasl_mechanism mech)
{
    switch (mech) {
    case KTX__SASL_PLAIN:
        return "PLAIN";
    case KTX__SASL_SCRAM_SHA_256:
        return "SCRAM-SHA-256";
    case KTX__SASL_SCRAM_SHA_512:
        return "SCRAM-SHA-512";
    case KTX__SASL_GSSAPI:
        return "GSSAPI";
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------------------------------------
 * PLAIN (RFC 4616): one message, "authzid \0 authcid \0 password" with an empty authzid.
 * ------------------------------------------------------------------------------------------ */

/* Builds the PLAIN message from sasl.username and sasl.password. Returns 0 or
 * KTX_ERR_NO_MEMORY. */
static int plain_init(struct ktx__sasl *sasl, const struct ktx__conf_values *cv)
{
    size_t ulen = strlen(cv->sasl_username), plen = strlen(cv->sasl_password);

    sasl->plain_len = 2 + ulen + plen;
    sasl->plain = malloc(sasl->plain_len);
    if (sasl->plain == NULL)
        return KTX_ERR_NO_MEMORY;
    sasl->plain[0] = 0;
    memcpy(sasl->plain + 1, cv->sasl_username, ulen);
    sasl->plain[1 + ulen] = 0;
    memcpy(sasl->plain + 2 + ulen, cv->sasl_password, plen);
    return 0;
}

/* Sends the message, then takes the broker's (empty) answer as success. */
static int plain_step(struct ktx__sasl *sasl, const uint8_t **out, size_t *out_len)
{
    if (sasl->step++ == 0) {
        *out = sasl->plain;
        *out_len = sasl->plain_len;
        return KTX__SASL_CONTINUE;
    }
    return KTX__SASL_DONE; /* the broker accepted (it answers errors with an error code) */
}

/* ------------------------------------------------------------------------------------------
 * SCRAM: client-first, client-final, then the check of server-final.
 * ------------------------------------------------------------------------------------------ */

/* Step 0 sends client-first, step 1 answers server-first with client-final, step 2 checks
 * server-final. */
static int scram_step(struct ktx__sasl *sasl, const uint8_t *in, size_t in_len,
                      const uint8_t **out, size_t *out_len, char *errbuf, size_t errsize)
{
    const char *msg = NULL;
    size_t len = 0;
    int err;

    switch (sasl->step++) {
    case 0:
        err = ktx__scram_client_first(sasl->scram, NULL, &msg, &len);
        if (err == KTX_ERR_TRANSPORT) {
            set_err(errbuf, errsize, "SCRAM: the random generator failed");
            return KTX_ERR_AUTH;
        }
        break;
    case 1:
        err = ktx__scram_client_final(sasl->scram, in, in_len, &msg, &len, errbuf, errsize);
        break;
    default:
        err = ktx__scram_verify_server_final(sasl->scram, in, in_len, errbuf, errsize);
        return err != 0 ? err : KTX__SASL_DONE;
    }
    if (err != 0)
        return err;
    *out = (const uint8_t *)msg;
    *out_len = len;
    return KTX__SASL_CONTINUE;
}

/* ------------------------------------------------------------------------------------------
 * GSSAPI through Cyrus SASL.
 * ------------------------------------------------------------------------------------------ */

#define CYRUS_CB(fn) ((int (*)(void))(void (*)(void))(fn))

static pthread_once_t cyrus_once = PTHREAD_ONCE_INIT;
static int cyrus_init_result = SASL_FAIL;

/* Initialises Cyrus SASL's client side once per process (plugins from the default path). */
static void cyrus_init(void)
{
    cyrus_init_result = sasl_client_init(NULL);
}

/* Cyrus log callback: its messages may quote the peer's data; they are dropped. */
static int cyrus_log_cb(void *context, int level, const char *message)
{
    (void)context;
    (void)level;
    (void)message;
    return SASL_OK;
}

/* Answers the authorization identity with "" (the same as the Kerberos principal). */
static int cyrus_user_cb(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
        return SASL_BADPARAM;
    *result = "";
    if (len != NULL)
        *len = 0;
    return SASL_OK;
}

/* The client identity for messages: sasl.kerberos.principal, or whom Kerberos picks. */
static const char *who(const struct ktx__sasl *sasl)
{
    return sasl->principal != NULL ? sasl->principal : "the default principal";
}

/* Writes Cyrus's detail for |conn| (GSSAPI's major and minor status) with |what|. */
static void cyrus_err(const struct ktx__sasl *sasl, int rc, const char *what, char *errbuf,
                      size_t errsize)
{
    const char *detail = sasl->cyrus ? sasl_errdetail(sasl->cyrus) : sasl_errstring(rc, NULL,
                                                                                    NULL);

    set_err(errbuf, errsize, "SASL GSSAPI with %s@%s as %s: %s: %s", sasl->service, sasl->host,
            who(sasl), what, detail ? detail : "unknown error");
}

/* Writes GSS-API's explanation of |major| and |minor| to |buf| (|size| bytes): Kerberos's
 * own message when there is one (it names the principal or the file), else the generic one. */
static void gss_reason(OM_uint32 major, OM_uint32 minor, char *buf, size_t size)
{
    gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
    OM_uint32 more = 0, ignored;

    buf[0] = '\0';
    if (gss_display_status(&ignored, minor != 0 ? minor : major,
                           minor != 0 ? GSS_C_MECH_CODE : GSS_C_GSS_CODE,
                           minor != 0 ? (gss_OID)gss_mech_krb5 : GSS_C_NO_OID, &more,
                           &text) == GSS_S_COMPLETE &&
        text.value != NULL)
        snprintf(buf, size, "%.*s", (int)KTX__MIN(text.length, (size_t)1024),
                 (const char *)text.value);
    gss_release_buffer(&ignored, &text);
    if (buf[0] == '\0')
        snprintf(buf, size, "GSS-API major status 0x%x, minor %u", (unsigned)major,
                 (unsigned)minor);
}

/* Prefix of the MEMORY ticket caches that keytab logins use (see gssapi_acquire()). */
#define GSS_CCACHE_PREFIX "MEMORY:kafkatx:"

/*
 * Acquires the initiator credential that Cyrus uses, so that the client authenticates as
 * exactly sasl.kerberos.principal (|sasl->principal|):
 * - with sasl.kerberos.keytab (|keytab|), from that keytab, into a MEMORY ticket cache of
 *   this process named after the principal and the keytab: connections with the same
 *   identity share its initial ticket (Kerberos gets a new one from the keytab when it
 *   expires), and neither the user's ticket cache nor the environment is touched;
 * - without a keytab, from the default ticket cache (or collection), which must hold a
 *   ticket of that principal (kinit).
 * Without a principal, Kerberos picks: the keytab's first principal, or the default cache's.
 * Returns 0, or KTX_ERR_AUTH (no such principal in the keytab or the cache, a malformed
 * principal) or KTX_ERR_NO_MEMORY with a message that names the principal and the keytab.
 */
static int gssapi_acquire(struct ktx__sasl *sasl, const char *keytab, char *errbuf,
                          size_t errsize)
{
    gss_key_value_element_desc elements[2];
    gss_key_value_set_desc store = {0, elements};
    gss_OID_set_desc mechs = {1, (gss_OID)gss_mech_krb5};
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 major, minor = 0, ignored;
    char *ccache = NULL, reason[256];

    if (sasl->principal != NULL) {
        gss_buffer_desc text = {strlen(sasl->principal), sasl->principal};

        major = gss_import_name(&minor, &text, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
        if (GSS_ERROR(major)) {
            gss_reason(major, minor, reason, sizeof(reason));
            set_err(errbuf, errsize, "SASL GSSAPI: sasl.kerberos.principal %s is not a "
                    "Kerberos principal name: %s", sasl->principal, reason);
            return KTX_ERR_AUTH;
        }
    }
    if (keytab != NULL) {
        size_t len = strlen(GSS_CCACHE_PREFIX) + strlen(keytab) + 2 +
                     (sasl->principal != NULL ? strlen(sasl->principal) : 0);

        ccache = malloc(len);
        if (ccache == NULL) {
            gss_release_name(&ignored, &name);
            return KTX_ERR_NO_MEMORY;
        }
        snprintf(ccache, len, "%s%s:%s", GSS_CCACHE_PREFIX,
                 sasl->principal != NULL ? sasl->principal : "", keytab);
        elements[store.count++] = (gss_key_value_element_desc){"client_keytab", keytab};
        elements[store.count++] = (gss_key_value_element_desc){"ccache", ccache};
    }
    major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                  &store, &sasl->gss_cred, NULL, NULL);
    gss_release_name(&ignored, &name);
    free(ccache);
    if (!GSS_ERROR(major))
        return 0;
    sasl->gss_cred = GSS_C_NO_CREDENTIAL;
    gss_reason(major, minor, reason, sizeof(reason));
    if (keytab != NULL)
        set_err(errbuf, errsize, "Kerberos principal %s: no credentials in keytab %s "
                "(sasl.kerberos.keytab: is the principal in it?) to reach %s@%s: %s",
                who(sasl), keytab, sasl->service, sasl->host, reason);
    else
        set_err(errbuf, errsize, "Kerberos principal %s: no ticket in the default ticket "
                "cache (run kinit, or set sasl.kerberos.keytab) to reach %s@%s: %s",
                who(sasl), sasl->service, sasl->host, reason);
    return KTX_ERR_AUTH;
}

/* Acquires the credential of sasl.kerberos.principal, then creates the Cyrus client for
 * service@host with that credential and no security layer. */
static int gssapi_init(struct ktx__sasl *sasl, const struct ktx__conf_values *cv,
                       char *errbuf, size_t errsize)
{
    const char *keytab = cv->sasl_kerberos_keytab;
    sasl_security_properties_t props;
    int rc;

    if (cv->sasl_kerberos_principal != NULL && *cv->sasl_kerberos_principal != '\0' &&
        (sasl->principal = strdup(cv->sasl_kerberos_principal)) == NULL)
        return KTX_ERR_NO_MEMORY;
    pthread_once(&cyrus_once, cyrus_init);
    if (cyrus_init_result != SASL_OK) {
        set_err(errbuf, errsize, "SASL GSSAPI: Cyrus SASL did not initialise: %s",
                sasl_errstring(cyrus_init_result, NULL, NULL));
        return KTX_ERR_AUTH;
    }
    rc = gssapi_acquire(sasl, keytab != NULL && *keytab != '\0' ? keytab : NULL, errbuf,
                        errsize);
    if (rc != 0)
        return rc;
    /* Cyrus stores every callback as int (*)(void); the detour by void (*)(void) says so. */
    sasl->callbacks[0] = (sasl_callback_t){SASL_CB_LOG, CYRUS_CB(cyrus_log_cb), sasl};
    sasl->callbacks[1] = (sasl_callback_t){SASL_CB_USER, CYRUS_CB(cyrus_user_cb), sasl};
    sasl->callbacks[2] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    rc = sasl_client_new(sasl->service, sasl->host, NULL, NULL, sasl->callbacks, 0,
                         &sasl->cyrus);
    if (rc != SASL_OK) {
        cyrus_err(sasl, rc, "cannot create a client", errbuf, errsize);
        return rc == SASL_NOMEM ? KTX_ERR_NO_MEMORY : KTX_ERR_AUTH;
    }
    /* Cyrus's GSSAPI plugin initiates with this credential instead of acquiring the default
     * one itself; it stays ours (released after sasl_dispose()). */
    rc = sasl_setprop(sasl->cyrus, SASL_GSS_CREDS, sasl->gss_cred);
    if (rc != SASL_OK) {
        cyrus_err(sasl, rc, "cannot hand the Kerberos credential to Cyrus", errbuf, errsize);
        return KTX_ERR_AUTH;
    }
    /* Kafka brokers speak GSSAPI without a security layer (QOP "auth"). */
    memset(&props, 0, sizeof(props));
    props.maxbufsize = 0;
    props.min_ssf = 0;
    props.max_ssf = 0;
    sasl_setprop(sasl->cyrus, SASL_SEC_PROPS, &props);
    return 0;
}

/* Maps a Cyrus result of start or step to ours. */
static int gssapi_result(struct ktx__sasl *sasl, int rc, const char *out, unsigned len,
                         const uint8_t **outp, size_t *out_len, char *errbuf, size_t errsize)
{
    if (rc != SASL_OK && rc != SASL_CONTINUE) {
        cyrus_err(sasl, rc, sasl->state == SASL_STATE_START ? "start failed" : "step failed",
                  errbuf, errsize);
        return rc == SASL_NOMEM ? KTX_ERR_NO_MEMORY : KTX_ERR_AUTH;
    }
    *outp = (const uint8_t *)out;
    *out_len = len;
    if (rc == SASL_CONTINUE) {
        sasl->state = SASL_STATE_RUNNING;
        return KTX__SASL_CONTINUE;
    }
    /* Complete on our side; the last token (if any) still goes to the broker. */
    if (len == 0)
        return KTX__SASL_DONE;
    sasl->state = SASL_STATE_LAST_SENT;
    return KTX__SASL_CONTINUE;
}

/* Starts the GSSAPI mechanism on the first call, then hands each server token to Cyrus. */
static int gssapi_step(struct ktx__sasl *sasl, const uint8_t *in, size_t in_len,
                       const uint8_t **out, size_t *out_len, char *errbuf, size_t errsize)
{
    sasl_interact_t *interact = NULL;
    const char *cout = NULL, *mech = NULL;
    unsigned clen = 0;
    int rc;

    if (sasl->state == SASL_STATE_LAST_SENT)
        return KTX__SASL_DONE;
    if (sasl->state == SASL_STATE_START) {
        rc = sasl_client_start(sasl->cyrus, "GSSAPI", &interact, &cout, &clen, &mech);
    } else {
        if (in_len > UINT32_MAX) {
            set_err(errbuf, errsize, "SASL GSSAPI: server token too large");
            return KTX_ERR_AUTH;
        }
        rc = sasl_client_step(sasl->cyrus, (const char *)in, (unsigned)in_len, &interact,
                              &cout, &clen);
    }
    if (rc == SASL_INTERACT) {
        set_err(errbuf, errsize, "SASL GSSAPI with %s@%s: the mechanism asked for input",
                sasl->service, sasl->host);
        return KTX_ERR_AUTH;
    }
    return gssapi_result(sasl, rc, cout, clen, out, out_len, errbuf, errsize);
}

/* ------------------------------------------------------------------------------------------
 * The object.
 * ------------------------------------------------------------------------------------------ */

/* PLAIN and SCRAM need a user name and a password (which may be empty). */
static int check_credentials(enum ktx__sasl_mechanism mech, const struct ktx__conf_values *cv,
                             char *errbuf, size_t errsize)
{
    if (mech == KTX__SASL_GSSAPI)
        return 0;
    if (cv->sasl_username == NULL || *cv->sasl_username == '\0' ||
        cv->sasl_password == NULL) {
        set_err(errbuf, errsize, "sasl.mechanism %s needs sasl.username and sasl.password",
                ktx__sasl_mechanism_name(mech));
        return KTX_ERR_BAD_CONFIG;
    }
    return 0;
}

int ktx__sasl_new(struct ktx__sasl **out, enum ktx__sasl_mechanism mech,
                  const struct ktx__conf_values *cv, const char *host, char *errbuf,
                  size_t errsize)
{
    struct ktx__sasl *sasl;
    const char *service = cv->sasl_kerberos_service_name;
    int err;

    if (ktx__sasl_mechanism_name(mech) == NULL) {
        set_err(errbuf, errsize, "no SASL mechanism configured (sasl.mechanism)");
        return KTX_ERR_BAD_CONFIG;
    }
    err = check_credentials(mech, cv, errbuf, errsize);
    if (err != 0)
        return err;
    sasl = calloc(1, sizeof(*sasl));
    if (sasl == NULL)
        return KTX_ERR_NO_MEMORY;
    sasl->mech = mech;
    sasl->host = strdup(host != NULL ? host : "");
    sasl->service = strdup(service != NULL && *service != '\0' ? service : "kafka");
    if (sasl->host == NULL || sasl->service == NULL)
        err = KTX_ERR_NO_MEMORY;
    else if (mech == KTX__SASL_PLAIN)
        err = plain_init(sasl, cv);
    else if (mech == KTX__SASL_GSSAPI)
        err = gssapi_init(sasl, cv, errbuf, errsize);
    else
        err = ktx__scram_new(&sasl->scram, mech == KTX__SASL_SCRAM_SHA_512 ? KTX__HASH_SHA512
                                                                          : KTX__HASH_SHA256,
                             cv->sasl_username, cv->sasl_password);
    if (err != 0) {
        ktx__sasl_free(sasl);
        return err;
    }
    *out = sasl;
    return 0;
}

int ktx__sasl_step(struct ktx__sasl *sasl, const uint8_t *in, size_t in_len,
                   const uint8_t **out, size_t *out_len, char *errbuf, size_t errsize)
{
    int rc;

    *out = NULL;
    *out_len = 0;
    if (sasl->state == SASL_STATE_END)
        return KTX_ERR_STATE;
    if (sasl->mech == KTX__SASL_PLAIN)
        rc = plain_step(sasl, out, out_len);
    else if (sasl->mech == KTX__SASL_GSSAPI)
        rc = gssapi_step(sasl, in, in_len, out, out_len, errbuf, errsize);
    else
        rc = scram_step(sasl, in, in_len, out, out_len, errbuf, errsize);
    if (rc != KTX__SASL_CONTINUE)
        sasl->state = SASL_STATE_END;
    return rc;
}

void ktx__sasl_free(struct ktx__sasl *sasl)
{
    if (sasl == NULL)
        return;
    if (sasl->plain != NULL)
        ktx__crypto_wipe(sasl->plain, sasl->plain_len);
    free(sasl->plain);
    ktx__scram_free(sasl->scram);
    if (sasl->cyrus != NULL)
        sasl_dispose(&sasl->cyrus);
    if (sasl->gss_cred != GSS_C_NO_CREDENTIAL) {
        OM_uint32 ignored;
        gss_release_cred(&ignored, &sasl->gss_cred);
    }
    free(sasl->principal);
    free(sasl->host);
    free(sasl->service);
    free(sasl);
}
