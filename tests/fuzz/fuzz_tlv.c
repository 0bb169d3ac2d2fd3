/* fuzz_tlv.c - libFuzzer harness: the per-packet flow record decoder (run by the dissector on
 * every packet of any file), checked by re-encoding what it decoded. */
#include <stdint.h>
#include <string.h>

#include "tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_flow_meta m, again;
    uint8_t out[NCAP_TLV_MAX * 64];
    if (ncap_tlv_decode(data, size, &m, err) == 0) {
        int n = ncap_tlv_encode(&m, out, sizeof(out), err);
        if (n > 0 && (ncap_tlv_decode(out, (size_t)n, &again, err) != 0 ||
                      again.present != m.present || again.flow_id != m.flow_id))
            __builtin_trap();
    }
    return 0;
}
