/*
 * test_pcapng.c - the pcapng writer against our reader and against the real tshark and tcpdump.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "pcapng.h"

static const uint8_t frame[60] = {0x02, 0, 0, 0, 0, 0x11, 0x02, 0, 0, 0, 0, 0x10, 0x08, 0x00,
                                  0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 0, 5,
                                  10, 1, 0, 6};

static void build(ncap_buf *b)
{
    char err[NCAP_ERRBUF_SIZE];
    static const uint8_t custom[] = {1, 0, 3, 0, 7, 0, 'b', 'a', 'c', 'k', 'e', 'n', 'd'};
    struct ncap_pcapng_idb idb = {NCAP_LINKTYPE_ETHERNET, 262144, "k8s/shop/frontend/eth0",
                                  "{\"v\":1,\"pod\":\"frontend\"}", 9};
    g_assert_cmpint(ncap_pcapng_write_shb(b, "netcap-test", err), ==, 0);
    g_assert_cmpint(ncap_pcapng_write_idb(b, &idb, err), ==, 0);
    size_t before = b->len;
    struct ncap_pcapng_epb epb = {0, 1700000000123456789ULL, 59, 60, frame, NCAP_DIR_OUT,
                                  custom, sizeof(custom)};
    g_assert_cmpint(ncap_pcapng_write_epb(b, &epb, err), ==, 0);
    g_assert_cmpuint(b->len - before, ==, ncap_pcapng_epb_size(59, NCAP_DIR_OUT, sizeof(custom)));
    epb.flags = 0;
    epb.custom = NULL;
    epb.ts += 1000;
    g_assert_cmpint(ncap_pcapng_write_epb(b, &epb, err), ==, 0);
    struct ncap_nrb_record nrb[2] = {{4, {10, 1, 0, 5}, "frontend.shop"},
                                     {6, {0xfd, 0, [15] = 5}, "frontend.shop"}};
    g_assert_cmpint(ncap_pcapng_write_nrb(b, nrb, 2, err), ==, 0);
    struct ncap_pcapng_isb isb = {0, 1700000001000000000ULL, 1700000000000000000ULL,
                                  1700000001000000000ULL, 7, 1, 2, 3, "netcap: a test"};
    g_assert_cmpint(ncap_pcapng_write_isb(b, &isb, err), ==, 0);
}

static void test_roundtrip(void)
{
    ncap_buf b = {0};
    char err[NCAP_ERRBUF_SIZE];
    build(&b);
    struct ncap_pcapng_block blk;
    size_t off = 0, need;
    uint32_t types[8];
    int n = 0;
    while (off < b.len) {
        g_assert_cmpint(ncap_pcapng_next(b.data + off, b.len - off, &blk, &need, err), ==, 1);
        types[n++] = blk.type;
        if (blk.type == NCAP_BT_SHB) {
            struct ncap_pcapng_shb_view v;
            g_assert_cmpint(ncap_pcapng_parse_shb(&blk, &v, err), ==, 0);
            g_assert_cmpmem(v.userappl, v.userappl_len, "netcap-test", 11);
        } else if (blk.type == NCAP_BT_IDB) {
            struct ncap_pcapng_idb_view v;
            g_assert_cmpint(ncap_pcapng_parse_idb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.linktype, ==, 1);
            g_assert_cmpuint(v.tsresol, ==, 9);
            g_assert_cmpmem(v.name, v.name_len, "k8s/shop/frontend/eth0", 22);
        } else if (blk.type == NCAP_BT_EPB) {
            struct ncap_pcapng_epb_view v;
            g_assert_cmpint(ncap_pcapng_parse_epb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.caplen, ==, 59);
            g_assert_cmpmem(v.data, v.caplen, frame, 59);
            if (n == 3) {
                g_assert_cmphex(v.ts, ==, 1700000000123456789ULL);
                g_assert_true(v.has_flags);
                g_assert_cmpuint(v.flags, ==, NCAP_DIR_OUT);
                g_assert_cmpuint(v.custom_len, ==, 13);
            } else {
                g_assert_false(v.has_flags);
                g_assert_null(v.custom);
            }
        } else if (blk.type == NCAP_BT_ISB) {
            struct ncap_pcapng_isb_view v;
            g_assert_cmpint(ncap_pcapng_parse_isb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.ifrecv, ==, 7);
            g_assert_cmpuint(v.ifdrop, ==, 1);
            g_assert_cmpuint(v.osdrop, ==, 3);
            g_assert_cmpuint(v.endtime, ==, 1700000001000000000ULL);
        }
        off += blk.total_len;
    }
    g_assert_cmpint(n, ==, 6);
    g_assert_cmphex(types[4], ==, NCAP_BT_NRB);
    ncap_buf_free(&b);
}

static void test_incremental_and_malformed(void)
{
    ncap_buf b = {0};
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_pcapng_block blk;
    size_t need = 0;
    build(&b);
    g_assert_cmpint(ncap_pcapng_next(b.data, 5, &blk, &need, err), ==, 0);
    g_assert_cmpuint(need, ==, 12);
    g_assert_cmpint(ncap_pcapng_next(b.data, 20, &blk, &need, err), ==, 0);
    g_assert_cmpuint(need, ==, 28 + 20); /* userappl option (16) + opt_endofopt (4) */
    /* Mismatched trailing length. */
    b.data[48 - 4] ^= 0xff;
    g_assert_cmpint(ncap_pcapng_next(b.data, b.len, &blk, &need, err), ==, -1);
    g_assert_nonnull(strstr(err, "mismatched"));
    /* Swapped byte-order magic. */
    uint32_t swapped = 0x4D3C2B1A;
    memcpy(b.data + 8, &swapped, 4);
    g_assert_cmpint(ncap_pcapng_next(b.data, b.len, &blk, &need, err), ==, -1);
    g_assert_nonnull(strstr(err, "byte order"));
    /* An EPB whose caplen runs past the block. */
    ncap_buf e = {0};
    struct ncap_pcapng_epb epb = {0, 1, 60, 60, frame, 0, NULL, 0};
    g_assert_cmpint(ncap_pcapng_write_epb(&e, &epb, err), ==, 0);
    uint32_t huge = 4000;
    memcpy(e.data + 20, &huge, 4);
    g_assert_cmpint(ncap_pcapng_next(e.data, e.len, &blk, &need, err), ==, 1);
    struct ncap_pcapng_epb_view v;
    g_assert_cmpint(ncap_pcapng_parse_epb(&blk, &v, err), ==, -1);
    ncap_buf_free(&e);
    ncap_buf_free(&b);
}

/* The real readers: tshark sees the interface name, direction and timestamps; tcpdump reads it. */
static void test_real_readers(void)
{
    ncap_buf b = {0};
    GError *gerr = NULL;
    build(&b);
    char *dir = g_dir_make_tmp("ncap-pcapng-XXXXXX", &gerr);
    g_assert_no_error(gerr);
    char *path = g_build_filename(dir, "t.pcapng", NULL);
    g_assert_true(g_file_set_contents(path, (const char *)b.data, (gssize)b.len, &gerr));
    char *out = NULL, *errout = NULL;
    int status = 0;
    char *tshark[] = {"tshark", "-r", path, "-T", "fields", "-e", "frame.interface_name", "-e",
                      "frame.packet_flags_direction", "-e", "frame.time_epoch", NULL};
    g_assert_true(g_spawn_sync(NULL, tshark, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                               &status, &gerr));
    g_assert_no_error(gerr);
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpstr(out, ==,
                    "k8s/shop/frontend/eth0\t0x00000002\t1700000000.123456789\n"
                    "k8s/shop/frontend/eth0\t\t1700000000.123457789\n");
    g_free(out);
    g_free(errout);
    char *tcpdump[] = {"tcpdump", "-n", "-r", path, NULL};
    g_assert_true(g_spawn_sync(NULL, tcpdump, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                               &status, &gerr));
    g_assert_cmpint(status, ==, 0);
    char **lines = g_strsplit(g_strstrip(out), "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 2);
    g_strfreev(lines);
    g_free(out);
    g_free(errout);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
    ncap_buf_free(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pcapng/roundtrip", test_roundtrip);
    g_test_add_func("/pcapng/incremental_and_malformed", test_incremental_and_malformed);
    g_test_add_func("/pcapng/real_readers", test_real_readers);
    return g_test_run();
}
