/* test_tlv.c - round trips and rejections of the per-packet flow record (common/tlv.h). */
#include <glib.h>
#include <string.h>

#include "tlv.h"

static void test_roundtrip(void)
{
    struct ncap_flow_meta m = {0}, d;
    char err[NCAP_ERRBUF_SIZE];
    uint8_t buf[NCAP_TLV_MAX];
    m.flow_id = 0x0123456789abcdefULL;
    m.present |= 1u << NCAP_TLV_FLOW_ID;
    ncap_flow_meta_set(&m, NCAP_TLV_PEER_NAMESPACE, "shop");
    ncap_flow_meta_set(&m, NCAP_TLV_PEER_POD, "backend");
    ncap_flow_meta_set(&m, NCAP_TLV_PEER_WORKLOAD, "backend");
    ncap_flow_meta_set(&m, NCAP_TLV_PEER_SERVICE, "");
    int n = ncap_tlv_encode(&m, buf, sizeof(buf), err);
    g_assert_cmpint(n, ==, 2 + 12 + 8 + 11 + 11);
    g_assert_cmpint(ncap_tlv_decode(buf, (size_t)n, &d, err), ==, 0);
    g_assert_cmphex(d.flow_id, ==, m.flow_id);
    g_assert_cmpuint(d.present, ==, m.present);
    g_assert_cmpmem(d.peer_pod.ptr, d.peer_pod.len, "backend", 7);
    g_assert_cmpmem(d.peer_namespace.ptr, d.peer_namespace.len, "shop", 4);
    g_assert_null(d.peer_service.ptr);
}

static void test_rejects(void)
{
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_flow_meta d;
    const uint8_t bad_version[] = {2, 0};
    g_assert_cmpint(ncap_tlv_decode(bad_version, 2, &d, err), ==, -1);
    g_assert_nonnull(strstr(err, "version 2"));
    const uint8_t truncated[] = {1, 0, 3, 0, 9, 0, 'a'};
    g_assert_cmpint(ncap_tlv_decode(truncated, sizeof(truncated), &d, err), ==, -1);
    const uint8_t short_id[] = {1, 0, 1, 0, 4, 0, 1, 2, 3, 4};
    g_assert_cmpint(ncap_tlv_decode(short_id, sizeof(short_id), &d, err), ==, -1);
    g_assert_cmpint(ncap_tlv_decode(short_id, 1, &d, err), ==, -1);
    /* Unknown types are skipped, so later fields do not break old readers. */
    const uint8_t unknown[] = {1, 0, 99, 0, 2, 0, 'x', 'y', 3, 0, 1, 0, 'p'};
    g_assert_cmpint(ncap_tlv_decode(unknown, sizeof(unknown), &d, err), ==, 0);
    g_assert_cmpmem(d.peer_pod.ptr, d.peer_pod.len, "p", 1);
}

static void test_too_small(void)
{
    struct ncap_flow_meta m = {0};
    char err[NCAP_ERRBUF_SIZE];
    uint8_t buf[8];
    ncap_flow_meta_set(&m, NCAP_TLV_PEER_POD, "a-long-pod-name");
    g_assert_cmpint(ncap_tlv_encode(&m, buf, sizeof(buf), err), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tlv/roundtrip", test_roundtrip);
    g_test_add_func("/tlv/rejects", test_rejects);
    g_test_add_func("/tlv/too_small", test_too_small);
    return g_test_run();
}
