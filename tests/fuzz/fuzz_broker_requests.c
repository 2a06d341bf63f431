/*
 * libFuzzer target for ktx-broker's request handling (tests/broker/handlers*.c and the
 * modules behind them): the broker parses untrusted bytes from the network. The broker
 * modules are not part of the library, so this file compiles their sources in directly
 * (tools/fuzz.sh links only sdk/ and txn/).
 *
 * Input: a sequence of [u16 length][byte broker][request] chunks, handled in order by one
 * fresh 3-broker cluster (topic "t" with 2 partitions, coordinators of "tx" and "g" on
 * broker 2), so that later requests see the state earlier ones built. A request is a
 * request header plus body without the size prefix, exactly as on the wire.
 * Invariants checked: a handled request always yields a response that starts with the
 * request's correlation id, and the partition logs keep HW >= LSO.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../broker/bbatch.c"
#include "../broker/cluster.c"
#include "../broker/groups.c"
#include "../broker/handlers.c"
#include "../broker/handlers_data.c"
#include "../broker/handlers_txn.c"
#include "../broker/plog.c"
#include "../broker/pstate.c"
#include "../broker/txncoord.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void setup(struct kb_cluster *c)
{
    char reply[64];

    kb_cluster_init(c, 3, NULL);
    c->auto_create_partitions = 1;
    kb_cluster_command(c, "topic t 2 2", 0, reply, sizeof(reply));
    kb_cluster_command(c, "coord txn tx 2", 0, reply, sizeof(reply));
    kb_cluster_command(c, "coord group g 2", 0, reply, sizeof(reply));
}

static void check_logs(const struct kb_cluster *c)
{
    for (size_t i = 0; i < c->n_topics; i++)
        for (int32_t j = 0; j < c->topics[i].n_partitions; j++) {
            const struct kb_plog *log = &c->topics[i].partitions[j].log;
            if (kb_plog_last_stable_offset(log) > kb_plog_high_watermark(log))
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kb_cluster c;
    size_t pos = 0;
    int64_t now = 1000;

    setup(&c);
    while (pos + 3 <= size) {
        size_t n = (size_t)data[pos] << 8 | data[pos + 1];
        int32_t node = data[pos + 2] % 3 + 1;
        struct ktx__writer out;
        struct kb_reply reply;

        pos += 3;
        n = n < size - pos ? n : size - pos;
        ktx__w_init(&out, 256, 1 << 24);
        if (kb_handle_request(&c, node, data + pos, n, now, &out, &reply) == 0 && reply.send &&
            (out.len < 4 || memcmp(out.p, data + pos + 4, 4) != 0))
            abort();
        ktx__w_free(&out);
        pos += n;
        now += 500;
        kb_cluster_tick(&c, now);
    }
    check_logs(&c);
    kb_cluster_free(&c);
    return 0;
}
