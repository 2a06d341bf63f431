/*
 * Test helper: a MIT Kerberos realm, KTX.TEST, with its KDC (krb5kdc) on 127.0.0.1, made
 * from scratch in a directory of the test's, for the GSSAPI suites (check_sasl,
 * check_gssapi). It shells out to the Debian krb5-kdc / krb5-admin-server tools
 * (kdb5_util, kadmin.local, krb5kdc) and kinit (krb5-user).
 *
 * The realm's configuration is exported to this process and its children through
 * KRB5_CONFIG (krb5.conf: realm KTX.TEST, KDC at 127.0.0.1:port, no DNS) and
 * KRB5_KDC_PROFILE (kdc.conf); a test that starts ktx-broker after ktx_test_kdc_start()
 * hands them on to it.
 *
 * Thread: the test's own. The KDC runs with PR_SET_PDEATHSIG (SIGKILL), so it dies with the
 * thread that started it (start it from the test itself, not from an unchecked fixture).
 */
#ifndef KTX_TEST_KRB_UTIL_H
#define KTX_TEST_KRB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KTX_TEST_REALM "KTX.TEST"

/* A running realm. */
struct ktx_test_kdc {
    pid_t pid;      /* krb5kdc, or -1 */
    int port;       /* its TCP and UDP port on 127.0.0.1 */
    char dir[512];  /* the realm's directory: krb5.conf, kdc.conf, database, kdc.log */
};

/*
 * Returns NULL when the tools and Cyrus SASL's GSSAPI plugin are installed, else a static
 * message naming the Debian packages to install. The GSSAPI tests fail with that message
 * (a skipped test is not a pass: tools/deps.sh installs the packages).
 */
const char *ktx_test_kerberos_missing(void);

/*
 * Creates the realm in the new directory |dir| (its parent must exist), exports KRB5_CONFIG
 * and KRB5_KDC_PROFILE, adds each principal of |principals| (a NULL-terminated list of names
 * without the realm, e.g. "kafka/127.0.0.1", "client") with a random key, and starts the KDC
 * on a free port; returns once it accepts connections. Returns 0, or -1 with the reason on
 * stderr (and no KDC left running).
 */
int ktx_test_kdc_start(struct ktx_test_kdc *kdc, const char *dir, const char *const *principals);

/*
 * Adds the current keys of |principal| (without the realm) to the keytab file |path|
 * (created when missing) without changing them, so keytabs written earlier stay valid.
 * Returns 0 or -1.
 */
int ktx_test_kdc_keytab(const struct ktx_test_kdc *kdc, const char *principal, const char *path);

/*
 * Gets an initial ticket for |principal| from |keytab| into the ticket cache |ccache|
 * (e.g. "FILE:/tmp/x/cc"), as `kinit -k -t` does. Returns 0 or -1.
 */
int ktx_test_kdc_kinit(const struct ktx_test_kdc *kdc, const char *principal, const char *keytab,
                       const char *ccache);

/* Kills the KDC and waits for it. The directory stays. Safe on a stopped |kdc|. */
void ktx_test_kdc_stop(struct ktx_test_kdc *kdc);

#endif /* KTX_TEST_KRB_UTIL_H */
