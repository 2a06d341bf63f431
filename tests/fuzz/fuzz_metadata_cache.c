/*
 * libFuzzer target for the metadata cache (sdk/metadata.c) and the bootstrap parser
 * (sdk/net.c): what a hostile broker's Metadata answer or a hostile bootstrap.servers can
 * do to them.
 *
 * Input: byte 0 selects the Metadata version (modulo 1-12); the rest is a response body.
 * When it decodes, it is applied twice to a cache interested in a few topics (the second
 * pass exercises the stale-epoch rule against itself), and every answer the cache gives
 * must agree with the response: a listed topic without error has its partition count, a
 * leader is one the response named. The whole input, as a string, also goes through the
 * bootstrap parser, whose entries must be well-formed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metadata.h"

#define ARENA_CEILING (1u << 20)
#define MAX_ADDRS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const interest[] = {"a", "orders", "t", "topic-0"};

/* The response's topic |name| without error, or NULL (last listing wins, as in apply). */
static const struct ktx__metadata_topic *listed(const struct ktx__metadata_resp *resp,
                                                const char *name)
{
    const struct ktx__metadata_topic *found = NULL;
    for (int32_t i = 0; i < resp->topics_count; i++)
        if (ktx__str_eq_c(resp->topics[i].name, name))
            found = &resp->topics[i];
    return found;
}

static bool leader_named(const struct ktx__metadata_topic *t, int32_t leader_id)
{
    if (leader_id == -1)
        return true;
    for (int32_t i = 0; i < t->partitions_count; i++)
        if (t->partitions[i].leader_id == leader_id)
            return true;
    return false;
}

static void check_cache(struct ktx__metadata *md, const struct ktx__metadata_resp *resp)
{
    for (size_t k = 0; k < sizeof(interest) / sizeof(interest[0]); k++) {
        const struct ktx__metadata_topic *t = listed(resp, interest[k]);
        int32_t count = ktx__metadata_partition_count(md, interest[k]);
        if (t == NULL) {
            if (count != -1)
                abort();
            continue;
        }
        if (count != (t->error_code == 0 ? t->partitions_count : -1))
            abort();
        for (int32_t p = -1; p <= count; p++) {
            struct ktx__metadata_partition_info info;
            int rc = ktx__metadata_leader_for(md, interest[k], p, &info);
            if ((rc == 0) != (p >= 0 && p < count))
                abort();
            if (rc == 0 && !leader_named(t, info.leader_id))
                abort();
        }
        (void)ktx__metadata_topic_status(md, interest[k], 0, 1, NULL);
    }
}

static void fuzz_cache(int16_t ver, const uint8_t *p, size_t len)
{
    struct ktx__metadata_conf conf = {300000, 100, 1000};
    struct ktx__metadata_resp resp;
    struct ktx__metadata *md;
    struct ktx__arena arena;

    ktx__arena_init(&arena, ARENA_CEILING);
    if (ktx__proto_metadata_resp_decode(p, len, ver, &resp, &arena) == 0 &&
        ktx__metadata_new(&md, &conf) == 0) {
        for (size_t k = 0; k < sizeof(interest) / sizeof(interest[0]); k++)
            if (ktx__metadata_add_topic(md, interest[k], 0) != 0)
                abort();
        for (int pass = 0; pass < 2; pass++) {
            if (ktx__metadata_apply(md, &resp, pass) != 0)
                abort();
            check_cache(md, &resp);
        }
        for (int32_t i = 0; i < resp.brokers_count; i++) {
            struct ktx__net_addr addr;
            (void)ktx__metadata_broker(md, resp.brokers[i].node_id, &addr);
        }
        ktx__metadata_destroy(md);
    }
    ktx__arena_free(&arena);
}

static void fuzz_bootstrap(const uint8_t *data, size_t size)
{
    struct ktx__net_addr addrs[MAX_ADDRS];
    char *list = malloc(size + 1);
    size_t count;

    if (list == NULL)
        return;
    memcpy(list, data, size);
    list[size] = '\0';
    if (ktx__net_parse_bootstrap(list, addrs, MAX_ADDRS, &count) == 0) {
        if (count == 0 || count > MAX_ADDRS)
            abort();
        for (size_t i = 0; i < count; i++)
            if (addrs[i].host[0] == '\0' || addrs[i].port < 1 || addrs[i].port > 65535)
                abort();
    }
    free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_cache((int16_t)(1 + data[0] % 12), data + 1, size - 1);
    fuzz_bootstrap(data, size);
    return 0;
}
