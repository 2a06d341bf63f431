/*
 * The registry of message codecs: one type-erased entry per API, for the fuzz targets,
 * the generic codec tests and the reference broker's request dispatch.
 */
#include "proto.h"
#include "proto_fetch.h"
#include "proto_group.h"
#include "proto_meta.h"
#include "proto_produce.h"
#include "proto_sasl.h"
#include "proto_txn.h"

static const struct ktx__proto_codec *const codecs[] = {
    &ktx__proto_codec_produce,
    &ktx__proto_codec_fetch,
    &ktx__proto_codec_list_offsets,
    &ktx__proto_codec_metadata,
    &ktx__proto_codec_offset_commit,
    &ktx__proto_codec_offset_fetch,
    &ktx__proto_codec_find_coordinator,
    &ktx__proto_codec_sasl_handshake,
    &ktx__proto_codec_api_versions,
    &ktx__proto_codec_init_producer_id,
    &ktx__proto_codec_add_partitions_to_txn,
    &ktx__proto_codec_add_offsets_to_txn,
    &ktx__proto_codec_end_txn,
    &ktx__proto_codec_txn_offset_commit,
    &ktx__proto_codec_sasl_authenticate,
    &ktx__proto_codec_describe_producers,
    &ktx__proto_codec_describe_transactions,
};

const struct ktx__proto_codec *ktx__proto_codec(int16_t api_key)
{
    for (size_t i = 0; i < KTX__ARRAY_LEN(codecs); i++) {
        if (codecs[i]->api_key == api_key)
            return codecs[i];
    }
    return NULL;
}
