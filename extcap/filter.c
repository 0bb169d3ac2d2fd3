/*
 * filter.c - capture filters checked with libpcap before a capture starts (see filter.h).
 */
#include "filter.h"

#include "ncap.h"

#ifdef NETCAP_HAVE_PCAP
#include <pcap/pcap.h>

int filter_check(const char *bpf, char *err)
{
    if (!bpf || !*bpf)
        return 0;
    pcap_t *p = pcap_open_dead(DLT_EN10MB, NCAP_SNAPLEN_DEFAULT);
    if (!p)
        return ncap_fail(err, "out of memory checking the capture filter");
    struct bpf_program prog;
    int rc = 0;
    if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0)
        rc = ncap_fail(err, "bad capture filter \"%s\": %s", bpf, pcap_geterr(p));
    else
        pcap_freecode(&prog);
    pcap_close(p);
    return rc;
}
#else
int filter_check(const char *bpf, char *err)
{
    (void)bpf;
    (void)err;
    return 0;
}
#endif

void filter_validate(FILE *out, const char *filter)
{
    char err[NCAP_ERRBUF_SIZE];
    if (filter_check(filter, err) < 0) {
        fprintf(out, "%s\n", err);
        fflush(out);
    }
}
