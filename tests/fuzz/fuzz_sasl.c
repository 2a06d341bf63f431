/*
 * libFuzzer target for the SaslHandshake (v0-1) and SaslAuthenticate (v0-2) codecs
 * (sdk/proto_sasl.c). Byte 0 modulo 5 selects the API and version (0-1 SaslHandshake v0-1,
 * 2-4 SaslAuthenticate v0-2); the rest of the layout and the checks are fuzz_proto.h's.
 */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned sel = data[0] % 5u;
    bool is_req = (data[1] & 1) == 0;
    if (sel < 2)
        ktx_fuzz_check_one(ktx__proto_codec(KTX__API_SASL_HANDSHAKE), is_req, (int16_t)sel,
                           data + 2, size - 2);
    else
        ktx_fuzz_check_one(ktx__proto_codec(KTX__API_SASL_AUTHENTICATE), is_req,
                           (int16_t)(sel - 2), data + 2, size - 2);
    return 0;
}
