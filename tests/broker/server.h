/*
 * The network side of ktx-broker: one listener per simulated broker on 127.0.0.1, a
 * single-threaded poll(2) loop that frames Kafka requests, hands them to
 * kb_handle_request() and sends the answers back in order (held back by the configured
 * delays), control commands read line by line from stdin (see cluster.h), and the
 * optional data directory (see persist.h).
 *
 * Thread: the caller's only; the process must ignore SIGPIPE (main.c does).
 */
#ifndef KB_SERVER_H
#define KB_SERVER_H

#include "cluster.h"

#include <stdio.h>

struct kb_tls_conf;
struct kb_sasl_conf;

struct kb_server_conf {
    int32_t n_brokers;
    int port_base;          /* 0: ephemeral ports; else broker i listens on port_base + i */
    const char *data_dir;   /* NULL: nothing survives a restart */
    struct kb_txncoord_conf txn;
    int32_t auto_create_partitions; /* 0: Metadata does not create topics */
    const struct kb_tls_conf *tls;   /* non-NULL: TLS listeners (SSL, SASL_SSL); see btls.h */
    const struct kb_sasl_conf *sasl; /* non-NULL: SASL listeners; see bsasl.h */
};

/*
 * Runs the broker until `quit` or end of input on stdin. Prints "BOOTSTRAP
 * 127.0.0.1:p0,127.0.0.1:p1,..." to |out| first, then one reply line per command.
 * |conf| and |out| are borrowed. Returns 0, or KTX_ERR_TRANSPORT when a listener could not
 * be opened, KTX_ERR_STORE when the data directory could not be loaded, KTX_ERR_BAD_CONFIG
 * when the TLS files or the SASL settings cannot be used (the reason goes to stderr),
 * KTX_ERR_NO_MEMORY.
 */
int kb_server_run(const struct kb_server_conf *conf, FILE *out);

#endif /* KB_SERVER_H */
