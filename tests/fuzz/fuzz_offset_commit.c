/*
 * libFuzzer target for the OffsetCommit codecs (sdk/proto_group.c), both directions, every version.
 * The input layout and the checks are those of fuzz_proto.h.
 */
#include "fuzz_proto.h"

KTX_FUZZ_PROTO_TARGET(KTX__API_OFFSET_COMMIT)
