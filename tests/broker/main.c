/*
 * ktx-broker: kafkatx's reference Kafka broker for tests and demos. Several brokers in
 * one process on 127.0.0.1, controlled line by line on stdin. See server.h and cluster.h.
 *
 *   ktx-broker [--brokers N] [--port-base P] [--data-dir DIR] [--txn-v2]
 *              [--complete-delay-ms MS] [--max-txn-timeout-ms MS] [--auto-create PARTITIONS]
 */
#include "server.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: ktx-broker [--brokers N] [--port-base P] [--data-dir DIR] [--txn-v2]\n"
                    "                  [--complete-delay-ms MS] [--max-txn-timeout-ms MS]\n"
                    "                  [--auto-create PARTITIONS]\n");
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

static bool parse_args(int argc, char **argv, struct kb_server_conf *conf)
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
        else if (strcmp(a, "--auto-create") == 0 && num_arg(argc, argv, &i, &v) && v <= KB_MAX_PARTITIONS)
            conf->auto_create_partitions = (int32_t)v;
        else
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    struct kb_server_conf conf;
    int err;

    memset(&conf, 0, sizeof(conf));
    conf.n_brokers = 3;
    if (!parse_args(argc, argv, &conf)) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    err = kb_server_run(&conf, stdout);
    if (err)
        fprintf(stderr, "ktx-broker: failed to start (error %d)\n", err);
    return err ? 1 : 0;
}
