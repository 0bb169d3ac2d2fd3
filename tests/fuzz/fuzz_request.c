/* fuzz_request.c - libFuzzer harness: the agent's POST /v1/captures body parser (direct targets or
 * a PodCapture reference), and the same bytes as a PodCapture's spec (the structured filter's
 * checks and BPF text included). This is what any client on the network reaches first. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "ncap.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[NCAP_ERRBUF_SIZE];
    struct capture_request r;
    if (capture_request_parse((const char *)data, size, &r, err) == 0)
        capture_request_free(&r);
    cJSON *spec = cJSON_ParseWithLength((const char *)data, size);
    if (spec) {
        struct podcapture_spec ps;
        if (podcapture_spec_parse(spec, &ps, err) == 0)
            podcapture_spec_free(&ps);
        cJSON_Delete(spec);
    }
    return 0;
}
