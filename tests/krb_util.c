/*
 * A MIT Kerberos realm and KDC on loopback for the GSSAPI tests. See krb_util.h.
 */
#include "krb_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KDC_START_TRIES 200 /* 10 ms apart */

const char *ktx_test_kerberos_missing(void)
{
    if (system("command -v krb5kdc >/dev/null && command -v kdb5_util >/dev/null && "
               "command -v kadmin.local >/dev/null && command -v kinit >/dev/null && "
               "ls /usr/lib/*/sasl2/libgssapiv2.so >/dev/null 2>&1") == 0)
        return NULL;
    return "the GSSAPI test needs a MIT Kerberos KDC and Cyrus SASL's GSSAPI plugin: "
           "apt-get install -y krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit "
           "(tools/deps.sh installs them)";
}

/* Returns a free TCP port on 127.0.0.1 (it may be taken again before use; unlikely), or -1. */
static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Writes |text| to "|dir|/|name|". Returns 0 or -1. */
static int write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Writes krb5.conf and kdc.conf and exports them. Returns 0 or -1. */
static int write_conf(const struct ktx_test_kdc *kdc)
{
    char text[4096], path[600];

    snprintf(text, sizeof(text),
             "[libdefaults]\n default_realm = " KTX_TEST_REALM "\n dns_lookup_kdc = false\n"
             " dns_lookup_realm = false\n rdns = false\n udp_preference_limit = 1\n"
             "[realms]\n " KTX_TEST_REALM " = {\n  kdc = 127.0.0.1:%d\n }\n"
             "[domain_realm]\n localhost = " KTX_TEST_REALM "\n 127.0.0.1 = " KTX_TEST_REALM "\n",
             kdc->port);
    if (write_file(kdc->dir, "krb5.conf", text) != 0)
        return -1;
    snprintf(text, sizeof(text),
             "[kdcdefaults]\n kdc_ports = %d\n kdc_tcp_ports = %d\n"
             "[realms]\n " KTX_TEST_REALM " = {\n  database_name = %s/principal\n"
             "  key_stash_file = %s/stash\n  acl_file = %s/kadm5.acl\n }\n"
             "[logging]\n kdc = FILE:%s/kdc.log\n",
             kdc->port, kdc->port, kdc->dir, kdc->dir, kdc->dir, kdc->dir);
    if (write_file(kdc->dir, "kdc.conf", text) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/krb5.conf", kdc->dir);
    setenv("KRB5_CONFIG", path, 1);
    snprintf(path, sizeof(path), "%s/kdc.conf", kdc->dir);
    setenv("KRB5_KDC_PROFILE", path, 1);
    return 0;
}

/* Runs |cmd| through the shell with its output discarded. Returns 0 or -1 (reported). */
static int run(const char *cmd)
{
    char line[2200];

    snprintf(line, sizeof(line), "%s >/dev/null 2>&1", cmd);
    if (system(line) == 0)
        return 0;
    fprintf(stderr, "krb_util: failed: %s\n", cmd);
    return -1;
}

/* Creates the database and the principals. Returns 0 or -1. */
static int create_realm(const char *const *principals)
{
    char cmd[1024];

    if (run("kdb5_util create -s -r " KTX_TEST_REALM " -P ktx-master-pw") != 0)
        return -1;
    for (; principals != NULL && *principals != NULL; principals++) {
        snprintf(cmd, sizeof(cmd), "kadmin.local -q 'addprinc -randkey %s@" KTX_TEST_REALM "'",
                 *principals);
        if (run(cmd) != 0)
            return -1;
    }
    return 0;
}

/* True when something accepts TCP connections on 127.0.0.1:|port|. */
static bool listening(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int ktx_test_kdc_start(struct ktx_test_kdc *kdc, const char *dir, const char *const *principals)
{
    struct timespec pause = {0, 10 * 1000 * 1000};

    memset(kdc, 0, sizeof(*kdc));
    kdc->pid = -1;
    snprintf(kdc->dir, sizeof(kdc->dir), "%s", dir);
    kdc->port = free_port();
    if (kdc->port < 0 || mkdir(dir, 0700) != 0 || write_conf(kdc) != 0 ||
        create_realm(principals) != 0) {
        fprintf(stderr, "krb_util: cannot create the realm in %s\n", dir);
        return -1;
    }
    kdc->pid = fork();
    if (kdc->pid < 0)
        return -1;
    if (kdc->pid == 0) {
        int null_fd = open("/dev/null", O_WRONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
        execlp("krb5kdc", "krb5kdc", "-n", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < KDC_START_TRIES; i++) {
        if (listening(kdc->port))
            return 0;
        if (waitpid(kdc->pid, NULL, WNOHANG) == kdc->pid) {
            kdc->pid = -1;
            break;
        }
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "krb_util: krb5kdc did not start (see %s/kdc.log)\n", dir);
    ktx_test_kdc_stop(kdc);
    return -1;
}

int ktx_test_kdc_keytab(const struct ktx_test_kdc *kdc, const char *principal, const char *path)
{
    char cmd[1024];

    (void)kdc; /* KRB5_CONFIG and KRB5_KDC_PROFILE already name the realm */
    snprintf(cmd, sizeof(cmd), "kadmin.local -q 'ktadd -norandkey -k %s %s@" KTX_TEST_REALM "'",
             path, principal);
    return run(cmd);
}

int ktx_test_kdc_kinit(const struct ktx_test_kdc *kdc, const char *principal, const char *keytab,
                       const char *ccache)
{
    char cmd[1024];

    (void)kdc;
    snprintf(cmd, sizeof(cmd), "kinit -k -t '%s' -c '%s' %s@" KTX_TEST_REALM, keytab, ccache,
             principal);
    return run(cmd);
}

void ktx_test_kdc_stop(struct ktx_test_kdc *kdc)
{
    if (kdc->pid > 0) {
        kill(kdc->pid, SIGKILL);
        waitpid(kdc->pid, NULL, 0);
    }
    kdc->pid = -1;
}
