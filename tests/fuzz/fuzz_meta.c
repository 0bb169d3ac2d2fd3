/* fuzz_meta.c - libFuzzer harness: the IDB if_description JSON decoder (what the dissector reads
 * from any capture file) and the PodList parser (what the agent reads), plus a re-encode. */
#include <stdint.h>
#include <stdlib.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_pod_meta m;
    if (ncap_meta_from_json((const char *)data, size, &m, err) == 0) {
        char *json = ncap_meta_to_json(&m, err);
        free(json);
        ncap_meta_free(&m);
    }
    struct ncap_pod_meta *pods;
    size_t n;
    if (ncap_podlist_parse((const char *)data, size, &pods, &n, err) == 0)
        ncap_podlist_free(pods, n);
    return 0;
}
