/*
 * libFuzzer target for ktx-broker's SASL server side (tests/broker/bsasl.c): the
 * SaslHandshake/SaslAuthenticate answers, the gating of requests before authentication and
 * the SCRAM-SHA-256/512 server's parsers of client-first and client-final messages, all of
 * which read untrusted bytes from the network. Like fuzz_broker_requests.c, the broker
 * sources are compiled in directly.
 *
 * Input: byte 0 picks the mechanism of the SaslHandshake the harness sends first (PLAIN,
 * SCRAM-SHA-256, SCRAM-SHA-512, or a fuzzed name when >= 3: then the next [u8 length] bytes
 * are the name); the rest is a sequence of [u16 length][byte kind][bytes] chunks: kind 0
 * sends the bytes as a SaslAuthenticate v(kind byte >> 1 & 3) token, kind 1 sends them as a
 * raw request frame. The users come from a sasldb made once by saslpasswd2 (user "alice",
 * password "pw"), so that seeds can reach SCRAM's final step.
 * Invariants: a connection that failed never authenticates later, and no request other than
 * ApiVersions/SASL is answered before authentication.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../broker/bbatch.c"
#include "../broker/bsasl.c"
#include "../broker/cluster.c"
#include "../broker/groups.c"
#include "../broker/handlers.c"
#include "../broker/handlers_data.c"
#include "../broker/handlers_txn.c"
#include "../broker/plog.c"
#include "../broker/pstate.c"
#include "../broker/txncoord.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir[64] = "/tmp/ktx-fuzz-sasl-XXXXXX";
static char fz_db[128];
static struct kb_sasl_conf fz_conf = {"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", fz_db, "kafka"};

/* Removes the sasldb directory when libFuzzer exits. */
static void fz_cleanup(void)
{
    unlink(fz_db);
    rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char cmd[512], err[256];

    (void)argc;
    (void)argv;
    if (!mkdtemp(fz_dir))
        abort();
    snprintf(fz_db, sizeof(fz_db), "%s/sasldb2", fz_dir);
    snprintf(cmd, sizeof(cmd), "printf pw | saslpasswd2 -f %s -c -p alice", fz_db);
    if (system(cmd) != 0 || kb_sasl_init(&fz_conf, err, sizeof(err)) != 0)
        abort();
    atexit(fz_cleanup);
    return 0;
}

/* Sends one request (header + |body| of |len| bytes) of |api| v|ver| through the broker's
 * SASL entry point; returns its result. */
static int fz_send(struct kb_cluster *c, struct kb_sasl_conn *sc, int16_t api, int16_t ver,
                   const uint8_t *body, size_t len)
{
    struct ktx__req_header hdr = {api, ver, 5, ktx__str_c("fz")};
    struct ktx__writer req, out;
    struct kb_reply reply;
    int err;

    ktx__w_init(&req, 256, 0);
    ktx__w_init(&out, 256, 0);
    ktx__proto_req_header_encode(&req, &hdr);
    ktx__w_raw(&req, body, len);
    err = req.err ? req.err : kb_sasl_handle_request(c, 1, sc, req.p, req.len, 0, &out, &reply);
    ktx__w_free(&req);
    ktx__w_free(&out);
    return err;
}

/* Sends |token| as SaslAuthenticate v|ver|. */
static void fz_token(struct kb_cluster *c, struct kb_sasl_conn *sc, int16_t ver,
                     const uint8_t *token, size_t len)
{
    struct ktx__sasl_authenticate_req req = {{token, (int32_t)len}};
    struct ktx__writer w;

    ktx__w_init(&w, 256, 0);
    if (ktx__proto_sasl_authenticate_req_encode(&w, ver, &req) == 0)
        fz_send(c, sc, KTX__API_SASL_AUTHENTICATE, ver, w.p, w.len);
    ktx__w_free(&w);
}

/* Sends |frame| as a raw request; checks the gating invariant. */
static void fz_frame(struct kb_cluster *c, struct kb_sasl_conn *sc, const uint8_t *frame, size_t len)
{
    struct ktx__writer out;
    struct kb_reply reply;
    struct ktx__reader r;
    struct ktx__req_header hdr;
    bool before = kb_sasl_conn_authenticated(sc);
    int err;

    ktx__w_init(&out, 256, 0);
    err = kb_sasl_handle_request(c, 1, sc, frame, len, 0, &out, &reply);
    ktx__r_init(&r, frame, len);
    if (!err && !before && ktx__proto_req_header_decode(&r, &hdr) == 0 &&
        hdr.request_api_key != KTX__API_API_VERSIONS && hdr.request_api_key != KTX__API_SASL_HANDSHAKE &&
        hdr.request_api_key != KTX__API_SASL_AUTHENTICATE)
        abort(); /* answered before authentication */
    ktx__w_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const mechs[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
    struct ktx__sasl_handshake_req hs;
    struct kb_cluster c;
    struct kb_sasl_conn *sc;
    struct ktx__writer w;
    size_t pos = 1;
    bool failed = false;

    if (size < 1 || !(sc = kb_sasl_conn_new()))
        return 0;
    kb_cluster_init(&c, 1, NULL);
    hs.mechanism = ktx__str_c(data[0] < 3 ? mechs[data[0]] : NULL);
    if (data[0] >= 3 && size >= 2 && (size_t)data[1] + 2 <= size) {
        hs.mechanism = (struct ktx__str){(const char *)data + 2, data[1]};
        pos = 2 + data[1];
    }
    ktx__w_init(&w, 64, 0);
    if (hs.mechanism.ptr && ktx__proto_sasl_handshake_req_encode(&w, 1, &hs) == 0)
        fz_send(&c, sc, KTX__API_SASL_HANDSHAKE, 1, w.p, w.len);
    ktx__w_free(&w);
    while (pos + 3 <= size) {
        size_t n = (size_t)data[pos] << 8 | data[pos + 1];
        uint8_t kind = data[pos + 2];
        pos += 3;
        n = n > size - pos ? size - pos : n;
        if (kind & 1)
            fz_frame(&c, sc, data + pos, n);
        else
            fz_token(&c, sc, (int16_t)(kind >> 1 & 3) % 3, data + pos, n);
        pos += n;
        if (failed && kb_sasl_conn_authenticated(sc))
            abort(); /* a failed connection never authenticates */
        failed = failed || kb_sasl_conn_failed(sc);
    }
    kb_sasl_conn_free(sc);
    kb_cluster_free(&c);
    return 0;
}
