/* fuzz_pcapng.c - libFuzzer harness: the pcapng reader on untrusted bytes (what the extcap reads
 * from agents), block by block, with every typed parser and the option walker. */
#include <stdint.h>
#include <stddef.h>

#include "pcapng.h"

static int count_opt(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    (void)code;
    (void)val;
    *(size_t *)ud += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[NCAP_ERRBUF_SIZE];
    size_t off = 0, need, sum = 0;
    struct ncap_pcapng_block blk;
    while (off < size && ncap_pcapng_next(data + off, size - off, &blk, &need, err) == 1) {
        struct ncap_pcapng_shb_view shb;
        struct ncap_pcapng_idb_view idb;
        struct ncap_pcapng_epb_view epb;
        struct ncap_pcapng_isb_view isb;
        switch (blk.type) {
        case NCAP_BT_SHB: ncap_pcapng_parse_shb(&blk, &shb, err); break;
        case NCAP_BT_IDB: ncap_pcapng_parse_idb(&blk, &idb, err); break;
        case NCAP_BT_EPB:
            if (ncap_pcapng_parse_epb(&blk, &epb, err) == 0)
                for (uint32_t i = 0; i < epb.caplen; i++)
                    sum += epb.data[i];
            break;
        case NCAP_BT_ISB: ncap_pcapng_parse_isb(&blk, &isb, err); break;
        default: ncap_pcapng_foreach_option(blk.body, blk.body_len, count_opt, &sum, err); break;
        }
        off += blk.total_len;
    }
    return sum == 1 ? 0 : 0;
}
