/*
 * test_bpfspec.c - structured filters: the BPF text they become, that libpcap compiles every
 * one of them, and the sentences for values that must be refused.
 */
#include <glib.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "bpfspec.h"
#include "ncap.h"

static char *bpf_of(const char *json, const char *user)
{
    cJSON *m = json ? cJSON_Parse(json) : NULL;
    g_assert_true(!json || m);
    char err[NCAP_ERRBUF_SIZE] = "", *out = NULL;
    int rc = ncap_match_to_bpf(m, user, "match", &out, err);
    cJSON_Delete(m);
    g_assert_cmpstr(err, ==, "");
    g_assert_cmpint(rc, ==, 0);
    return out;
}

static void assert_compiles(const char *bpf)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 262144);
    struct bpf_program prog;
    int rc = pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN);
    if (rc != 0)
        g_error("libpcap refused \"%s\": %s", bpf, pcap_geterr(p));
    pcap_freecode(&prog);
    pcap_close(p);
}

static void expect(const char *json, const char *user, const char *want)
{
    char *got = bpf_of(json, user);
    g_assert_cmpstr(got, ==, want);
    if (*got)
        assert_compiles(got);
    free(got);
}

static void refused(const char *json, const char *sentence_part)
{
    cJSON *m = cJSON_Parse(json);
    g_assert_nonnull(m);
    char err[NCAP_ERRBUF_SIZE] = "", *out = NULL;
    g_assert_cmpint(ncap_match_to_bpf(m, "", "spec.match", &out, err), ==, -1);
    g_assert_null(out);
    cJSON_Delete(m);
    if (!strstr(err, sentence_part))
        g_error("for %s: \"%s\" does not contain \"%s\"", json, err, sentence_part);
}

static void test_kinds(void)
{
    expect(NULL, NULL, "");
    expect(NULL, "icmp", "icmp");
    expect("{}", "", "");
    expect("{\"protocols\":[\"tcp\",\"udp\"]}", "", "(tcp or udp)");
    expect("{\"ipVersion\":6}", NULL, "ip6");
    expect("{\"hosts\":[\"10.1.2.3\",\"10.1.2.3/16\",\"fd00::1\",\"fd00::1/64\"]}", NULL,
           "(host 10.1.2.3 or net 10.1.0.0/16 or host fd00::1 or net fd00::/64)");
    expect("{\"ports\":[80,\"443\",\"8000-8080\"]}", NULL,
           "(port 80 or port 443 or portrange 8000-8080)");
    expect("{\"srcPorts\":[\"53\"],\"dstPorts\":[\"1-1024\"]}", NULL,
           "(src port 53) and (dst portrange 1-1024)");
    expect("{\"tcpFlags\":[\"syn\",\"rst\"]}", NULL,
           "((ip and tcp[13] & 0x06 != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 0x06 != 0))");
    expect("{\"icmpTypes\":[8,0]}", NULL, "(icmp and (icmp[0] == 8 or icmp[0] == 0))");
    expect("{\"icmp6Types\":[128]}", NULL, "(ip6 and ip6[6] == 58 and (ip6[40] == 128))");
    /* Kinds AND-ed in a fixed order whatever the JSON order; the user's text last, whole. */
    expect("{\"ports\":[80],\"protocols\":[\"tcp\"]}", "host 10.0.0.1 or host 10.0.0.2",
           "(tcp) and (port 80) and (host 10.0.0.1 or host 10.0.0.2)");
}

static void test_refusals(void)
{
    refused("{\"protocols\":[\"tcp; or 1=1\"]}", "spec.match.protocols[0]");
    refused("{\"protocols\":\"tcp\"}", "spec.match.protocols must be a list");
    refused("{\"protocols\":[]}", "must not be empty");
    refused("{\"ports\":[0]}", "spec.match.ports[0]: 0 is not a port");
    refused("{\"ports\":[\"80\",\"70000\"]}", "spec.match.ports[1]: \"70000\" is not a port");
    refused("{\"ports\":[\"90-80\"]}", "is not a port");
    refused("{\"ports\":[\"80 or host 1.2.3.4\"]}", "is not a port");
    refused("{\"hosts\":[\"10.1.2.300\"]}", "is not an IPv4 or IPv6 address");
    refused("{\"hosts\":[\"10.1.2.3/33\"]}", "is not an IPv4 or IPv6 address");
    refused("{\"hosts\":[\"frontend\"]}", "is not an IPv4 or IPv6 address");
    refused("{\"tcpFlags\":[\"syn\",\"xmas\"]}", "spec.match.tcpFlags[1]: \"xmas\" is not a TCP flag");
    refused("{\"icmpTypes\":[256]}", "is not an ICMP type");
    refused("{\"icmpTypes\":[1.5]}", "is not an ICMP type");
    refused("{\"ipVersion\":5}", "spec.match.ipVersion must be 4 or 6");
    refused("{\"vlan\":[1]}", "unknown key \"vlan\"");
    refused("[1]", "spec.match must be an object");
}

static void test_from_text(void)
{
    struct ncap_match_text t = {.protocols = "TCP, udp", .ports = "80,8000-8080",
                                .ip_version = "any", .icmp_types = "8 0"};
    cJSON *m = NULL;
    char err[NCAP_ERRBUF_SIZE] = "";
    g_assert_cmpint(ncap_match_from_text(&t, &m, err), ==, 0);
    char *json = cJSON_PrintUnformatted(m);
    g_assert_cmpstr(json, ==,
                    "{\"protocols\":[\"tcp\",\"udp\"],\"ports\":[\"80\",\"8000-8080\"],"
                    "\"icmpTypes\":[8,0]}");
    free(json);
    cJSON_Delete(m);

    struct ncap_match_text none = {.protocols = " , ", .ip_version = "any"};
    g_assert_cmpint(ncap_match_from_text(&none, &m, err), ==, 0);
    g_assert_null(m);

    struct ncap_match_text bad = {.dst_ports = "443,https"};
    g_assert_cmpint(ncap_match_from_text(&bad, &m, err), ==, -1);
    g_assert_null(m);
    g_assert_cmpstr(err, ==, "--dst-port: \"https\" is not a port (1-65535) or range (8000-8080)");

    struct ncap_match_text v = {.ip_version = "5"};
    g_assert_cmpint(ncap_match_from_text(&v, &m, err), ==, -1);
    g_assert_cmpstr(err, ==, "--ip-version must be 4, 6 or any, not \"5\"");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bpfspec/kinds", test_kinds);
    g_test_add_func("/bpfspec/refusals", test_refusals);
    g_test_add_func("/bpfspec/from_text", test_from_text);
    return g_test_run();
}
