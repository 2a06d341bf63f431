/*
 * libFuzzer target for the AddOffsetsToTxn codecs (sdk/proto_txn.c), both directions, every version.
 * The input layout and the checks are those of fuzz_proto.h.
 */
#include "fuzz_proto.h"

KTX_FUZZ_PROTO_TARGET(KTX__API_ADD_OFFSETS_TO_TXN)
