/*
 * ktx-broker: kafkatx's reference Kafka broker for tests and demos. Several brokers in
 * one process on 127.0.0.1, controlled line by line on stdin. See server.h and cluster.h.
 *
 *   ktx-broker [--brokers N] [--port-base P] [--data-dir DIR] [--txn-v2]
 *              [--complete-delay-ms MS] [--max-txn-timeout-ms MS] [--auto-create PARTITIONS]
 *              [--security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL]
 *              [--ssl-cert FILE --ssl-key FILE [--ssl-ca FILE] [--ssl-client-auth required|none]
 *               [--tls-abrupt-close]]
 *              [--sasl-mechanisms LIST --sasldb FILE [--sasl-service NAME]] [--log-file FILE]
 */
#include "server.h"

#include "bsasl.h"
#include "btls.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: ktx-broker [--brokers N] [--port-base P] [--data-dir DIR] [--txn-v2]\n"
                    "                  [--complete-delay-ms MS] [--max-txn-timeout-ms MS]\n"
                    "                  [--auto-create PARTITIONS]\n"
                    "                  [--security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL]\n"
                    "                  [--ssl-cert FILE --ssl-key FILE [--ssl-ca FILE]\n"
                    "                   [--ssl-client-auth required|none] [--tls-abrupt-close]]\n"
                    "                  [--sasl-mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n"
                    "                   --sasldb FILE [--sasl-service NAME]] [--log-file FILE]\n");
}

/* The listener security options; copied into struct kb_server_conf by apply_security(). */
struct security_args {
    const char *protocol;
    struct kb_tls_conf tls;
    struct kb_sasl_conf sasl;
    const char *log_file;
};

/* Parses one security option at |argv[*i]|; returns false when it is none or malformed. */
static bool security_arg(int argc, char **argv, int *i, struct security_args *sec)
{
    static const char *const names[] = {"--security-protocol", "--ssl-cert", "--ssl-key",
                                        "--ssl-ca", "--ssl-client-auth", "--sasl-mechanisms",
                                        "--sasldb", "--sasl-service", "--log-file"};
    const char **dst[] = {&sec->protocol, &sec->tls.cert_file, &sec->tls.key_file,
                          &sec->tls.ca_file, NULL, &sec->sasl.mechanisms, &sec->sasl.sasldb,
                          &sec->sasl.service, &sec->log_file};

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        if (strcmp(argv[*i], names[k]) != 0)
            continue;
        if (*i + 1 >= argc)
            return false;
        const char *v = argv[++*i];
        if (dst[k]) {
            *dst[k] = v;
            return true;
        }
        sec->tls.client_auth = strcmp(v, "required") == 0;
        return sec->tls.client_auth || strcmp(v, "none") == 0;
    }
    return false;
}

/* Enables TLS and SASL in |conf| as |sec->protocol| says. Returns false for an unknown one. */
static bool apply_security(struct security_args *sec, struct kb_server_conf *conf)
{
    const char *p = sec->protocol ? sec->protocol : "PLAINTEXT";
    bool ssl = strcmp(p, "SSL") == 0 || strcmp(p, "SASL_SSL") == 0;
    bool sasl = strcmp(p, "SASL_PLAINTEXT") == 0 || strcmp(p, "SASL_SSL") == 0;

    if (!ssl && !sasl && strcmp(p, "PLAINTEXT") != 0)
        return false;
    conf->tls = ssl ? &sec->tls : NULL;
    conf->sasl = sasl ? &sec->sasl : NULL;
    if (sec->log_file && !freopen(sec->log_file, "a", stderr))
        return false;
    if (sec->log_file)
        setvbuf(stderr, NULL, _IOLBF, 0);
    return true;
}

/* Parses the numeric value of option |argv[*i]|; returns false when it is missing or bad. */
static bool num_arg(int argc, char **argv, int *i, long *out)
{
    char *end;

    if (*i + 1 >= argc)
        return false;
    *out = strtol(argv[++*i], &end, 10);
    return *end == '\0' && *out >= 0;
}

static bool parse_args(int argc, char **argv, struct kb_server_conf *conf,
                       struct security_args *sec)
{
    for (int i = 1; i < argc; i++) {
        long v = 0;
        const char *a = argv[i];
        if (strcmp(a, "--txn-v2") == 0)
            conf->txn.v2 = true;
        else if (strcmp(a, "--data-dir") == 0 && i + 1 < argc)
            conf->data_dir = argv[++i];
        else if (strcmp(a, "--brokers") == 0 && num_arg(argc, argv, &i, &v) && v >= 1 && v <= KB_MAX_BROKERS)
            conf->n_brokers = (int32_t)v;
        else if (strcmp(a, "--port-base") == 0 && num_arg(argc, argv, &i, &v) && v < 65536)
            conf->port_base = (int)v;
        else if (strcmp(a, "--complete-delay-ms") == 0 && num_arg(argc, argv, &i, &v))
            conf->txn.complete_delay_ms = v;
        else if (strcmp(a, "--max-txn-timeout-ms") == 0 && num_arg(argc, argv, &i, &v) && v <= INT32_MAX)
            conf->txn.max_timeout_ms = (int32_t)v;
        else if (strcmp(a, "--tls-abrupt-close") == 0)
            sec->tls.abrupt_close = true; /* btls.h: a RST instead of the alert */
        else if (strcmp(a, "--auto-create") == 0 && num_arg(argc, argv, &i, &v) && v <= KB_MAX_PARTITIONS)
            conf->auto_create_partitions = (int32_t)v;
        else if (!security_arg(argc, argv, &i, sec))
            return false;
    }
    return apply_security(sec, conf);
}

int main(int argc, char **argv)
{
    struct kb_server_conf conf;
    struct security_args sec;
    int err;

    memset(&conf, 0, sizeof(conf));
    memset(&sec, 0, sizeof(sec));
    conf.n_brokers = 3;
    if (!parse_args(argc, argv, &conf, &sec)) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    err = kb_server_run(&conf, stdout);
    if (err)
        fprintf(stderr, "ktx-broker: failed to start (error %d)\n", err);
    return err ? 1 : 0;
}
