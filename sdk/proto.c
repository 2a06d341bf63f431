/*
 * The APIs kafkatx speaks, their version ranges, request/response headers and version
 * negotiation. The ranges are the union of what the client sends and what the reference
 * broker serves; see docs/protocol.md for why each floor and ceiling is where it is.
 */
#include "proto.h"

/*
 * Sorted by API key. Produce 12, TxnOffsetCommit 5 and EndTxn 5 are the transactions v2
 * versions (KIP-890); Produce 12 and TxnOffsetCommit 5 have the same layout as 11 and 4.
 */
static const struct ktx__api_info apis[] = {
    {KTX__API_PRODUCE, "Produce", 3, 12, 9},
    {KTX__API_FETCH, "Fetch", 4, 12, 12},
    {KTX__API_LIST_OFFSETS, "ListOffsets", 1, 8, 6},
    {KTX__API_METADATA, "Metadata", 1, 12, 9},
    {KTX__API_OFFSET_COMMIT, "OffsetCommit", 2, 9, 8},
    {KTX__API_OFFSET_FETCH, "OffsetFetch", 1, 9, 6},
    {KTX__API_FIND_COORDINATOR, "FindCoordinator", 1, 6, 3},
    {KTX__API_SASL_HANDSHAKE, "SaslHandshake", 0, 1, -1},
    {KTX__API_API_VERSIONS, "ApiVersions", 0, 4, 3},
    {KTX__API_INIT_PRODUCER_ID, "InitProducerId", 0, 5, 2},
    {KTX__API_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn", 0, 3, 3},
    {KTX__API_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn", 0, 4, 3},
    {KTX__API_END_TXN, "EndTxn", 0, 5, 3},
    {KTX__API_TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0, 5, 3},
    {KTX__API_SASL_AUTHENTICATE, "SaslAuthenticate", 0, 2, 2},
    {KTX__API_DESCRIBE_PRODUCERS, "DescribeProducers", 0, 0, 0},
    {KTX__API_DESCRIBE_TRANSACTIONS, "DescribeTransactions", 0, 0, 0},
};

const struct ktx__api_info *ktx__proto_apis(size_t *count)
{
    *count = KTX__ARRAY_LEN(apis);
    return apis;
}

const struct ktx__api_info *ktx__proto_api(int16_t api_key)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(apis); i++) {
        if (apis[i].api_key == api_key)
            return &apis[i];
    }
    return NULL;
}

bool ktx__proto_is_flexible(int16_t api_key, int16_t ver)
{
    const struct ktx__api_info *api = ktx__proto_api(api_key);
    return api && api->flex_ver >= 0 && ver >= api->flex_ver;
}

int16_t ktx__proto_pick_version(int16_t api_key, int16_t broker_min, int16_t broker_max)
{
    const struct ktx__api_info *api = ktx__proto_api(api_key);
    if (!api || broker_min > broker_max)
        return -1;
    int16_t hi = KTX__MIN(api->max_ver, broker_max);
    int16_t lo = KTX__MAX(api->min_ver, broker_min);
    return hi >= lo ? hi : -1;
}

int ktx__proto_req_header_encode(struct ktx__writer *w, const struct ktx__req_header *hdr)
{
    ktx__w_i16(w, hdr->request_api_key);
    ktx__w_i16(w, hdr->request_api_version);
    ktx__w_i32(w, hdr->correlation_id);
    /* The client id stays a classic nullable string even in header v2. */
    ktx__w_nstring(w, hdr->client_id, false);
    if (ktx__proto_is_flexible(hdr->request_api_key, hdr->request_api_version))
        ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_req_header_decode(struct ktx__reader *r, struct ktx__req_header *hdr)
{
    hdr->request_api_key = ktx__r_i16(r);
    hdr->request_api_version = ktx__r_i16(r);
    hdr->correlation_id = ktx__r_i32(r);
    hdr->client_id = ktx__r_nstring(r, false);
    if (ktx__proto_is_flexible(hdr->request_api_key, hdr->request_api_version))
        ktx__r_tags_skip(r);
    return r->err;
}

/* ApiVersions answers with header v0 at every version so that a client that sent a
 * version the broker does not know can still read the error. */
static bool resp_header_flexible(int16_t api_key, int16_t ver)
{
    return api_key != KTX__API_API_VERSIONS && ktx__proto_is_flexible(api_key, ver);
}

int ktx__proto_resp_header_encode(struct ktx__writer *w, int16_t api_key, int16_t ver,
                                  int32_t correlation_id)
{
    ktx__w_i32(w, correlation_id);
    if (resp_header_flexible(api_key, ver))
        ktx__w_tags_empty(w);
    return w->err;
}

int ktx__proto_resp_header_decode(struct ktx__reader *r, int16_t api_key, int16_t ver,
                                  int32_t *correlation_id)
{
    *correlation_id = ktx__r_i32(r);
    if (resp_header_flexible(api_key, ver))
        ktx__r_tags_skip(r);
    return r->err;
}
