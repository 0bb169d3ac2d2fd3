/*
 * test_merge.c - the stream merger (extcap/merge.c) against synthetic agent streams, our reader,
 * and the real tshark and tcpdump.
 *
 * Every packet carries its origin in its Ethernet destination address, 02:00:<source>:<iface>:
 * <seq>, and the IDB of (source, iface) is named k8s/test/pod-<source>/eth<iface>: a packet is
 * attributed right when the IDB its renumbered interface id points to has the name its address
 * says.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "merge.h"
#include "pcapng.h"

#define BASE_NS 1700000000000000000ull
#define BIG_WINDOW 1000000000u
#define MAX_SOURCES 4

struct spec {
    int nifs;
    int npkts;
    uint8_t tsresol; /* 9 or 6 */
    uint16_t linktype;
    uint32_t snaplen;
    int late_idb; /* the last IDB comes after half of the packets */
};

static const struct spec plain = {2, 60, 9, NCAP_LINKTYPE_ETHERNET, 262144, 0};

static uint64_t pkt_ns(int src, int k)
{
    /* Different rates, so that the sources interleave unevenly. */
    return BASE_NS + (uint64_t)k * (1000u + 250u * (unsigned)src) + 37u * (unsigned)src;
}

static void if_name(char *out, size_t size, int src, int ifc)
{
    g_snprintf(out, size, "k8s/test/pod-%d/eth%d", src, ifc);
}

static void write_idb(ncap_buf *b, const struct spec *sp, int src, int ifc)
{
    char err[NCAP_ERRBUF_SIZE], name[64];
    if_name(name, sizeof(name), src, ifc);
    struct ncap_pcapng_idb idb = {sp->linktype, sp->snaplen, name, "{\"v\":1}", sp->tsresol};
    g_assert_cmpint(ncap_pcapng_write_idb(b, &idb, err), ==, 0);
}

/* One agent's stream: SHB, IDBs, EPBs spread over the interfaces, an ISB per interface. */
static void build_source(ncap_buf *b, int src, const struct spec *sp)
{
    char err[NCAP_ERRBUF_SIZE];
    uint8_t frame[60] = {0};
    int described = sp->late_idb ? sp->nifs - 1 : sp->nifs;
    uint64_t div = sp->tsresol == 6 ? 1000 : 1, last = 0;

    g_assert_cmpint(ncap_pcapng_write_shb(b, "netcap-agent test", err), ==, 0);
    for (int i = 0; i < described; i++)
        write_idb(b, sp, src, i);
    frame[12] = 0x88; /* the local experimental ethertype: readers show the rest as data */
    frame[13] = 0xb5;
    for (int k = 0; k < sp->npkts; k++) {
        if (sp->late_idb && k == sp->npkts / 2)
            write_idb(b, sp, src, described++);
        int ifc = k % described;
        frame[0] = 0x02;
        frame[2] = (uint8_t)src;
        frame[3] = (uint8_t)ifc;
        frame[4] = (uint8_t)(k >> 8);
        frame[5] = (uint8_t)k;
        last = pkt_ns(src, k) / div;
        struct ncap_pcapng_epb epb = {(uint32_t)ifc, last, 60, 60, frame, NCAP_DIR_IN, NULL, 0};
        g_assert_cmpint(ncap_pcapng_write_epb(b, &epb, err), ==, 0);
    }
    for (int i = 0; i < described; i++) {
        struct ncap_pcapng_isb isb = {.if_id = (uint32_t)i, .ts = last + 1,
                                      .ifrecv = (uint64_t)sp->npkts};
        g_assert_cmpint(ncap_pcapng_write_isb(b, &isb, err), ==, 0);
    }
}

static size_t first_block_len(const ncap_buf *b)
{
    struct ncap_pcapng_block blk;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_pcapng_next(b->data, b->len, &blk, NULL, err), ==, 1);
    return blk.total_len;
}

static int append(const uint8_t *data, size_t len, void *ud)
{
    ncap_buf *out = ud;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_buf_reserve(out, len, err), ==, 0);
    memcpy(out->data + out->len, data, len);
    out->len += len;
    return 0;
}

/* What the merged output holds. */
struct check {
    int shbs, idbs, isbs, epbs;
    int per_source[MAX_SOURCES];
    int sorted; /* EPB and ISB timestamps never went back */
    int first_is_shb;
    GHashTable *seen; /* (source, seq) of every EPB */
};

static uint64_t view_ns(uint64_t ts, uint8_t tsresol)
{
    return tsresol == 6 ? ts * 1000 : ts;
}

static void check_output(const ncap_buf *out, struct check *c)
{
    char err[NCAP_ERRBUF_SIZE];
    char names[64][64];
    uint8_t tsres[64];
    uint64_t prev = 0;
    size_t off = 0;

    memset(c, 0, sizeof(*c));
    c->sorted = 1;
    c->seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    while (off < out->len) {
        struct ncap_pcapng_block blk;
        size_t need;
        g_assert_cmpint(ncap_pcapng_next(out->data + off, out->len - off, &blk, &need, err), ==, 1);
        if (off == 0)
            c->first_is_shb = blk.type == NCAP_BT_SHB;
        if (blk.type == NCAP_BT_SHB) {
            struct ncap_pcapng_shb_view v;
            g_assert_cmpint(ncap_pcapng_parse_shb(&blk, &v, err), ==, 0);
            g_assert_cmpmem(v.userappl, v.userappl_len, "netcap-extcap " NCAP_VERSION,
                            strlen("netcap-extcap " NCAP_VERSION));
            c->shbs++;
        } else if (blk.type == NCAP_BT_IDB) {
            struct ncap_pcapng_idb_view v;
            g_assert_cmpint(ncap_pcapng_parse_idb(&blk, &v, err), ==, 0);
            g_assert_cmpint(c->idbs, <, 64);
            g_snprintf(names[c->idbs], sizeof(names[0]), "%.*s", (int)v.name_len, v.name);
            tsres[c->idbs++] = v.tsresol;
        } else if (blk.type == NCAP_BT_EPB) {
            struct ncap_pcapng_epb_view v;
            char want[64];
            g_assert_cmpint(ncap_pcapng_parse_epb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.if_id, <, (unsigned)c->idbs);
            int src = v.data[2], ifc = v.data[3], seq = v.data[4] << 8 | v.data[5];
            if_name(want, sizeof(want), src, ifc);
            g_assert_cmpstr(names[v.if_id], ==, want);
            uint64_t ns = view_ns(v.ts, tsres[v.if_id]);
            g_assert_cmpuint(ns / 1000, ==, pkt_ns(src, seq) / 1000);
            if (ns < prev)
                c->sorted = 0;
            prev = ns;
            gpointer key = GINT_TO_POINTER(src << 16 | seq);
            g_assert_false(g_hash_table_contains(c->seen, key));
            g_hash_table_add(c->seen, key);
            c->per_source[src]++;
            c->epbs++;
        } else if (blk.type == NCAP_BT_ISB) {
            struct ncap_pcapng_isb_view v;
            g_assert_cmpint(ncap_pcapng_parse_isb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.if_id, <, (unsigned)c->idbs);
            uint64_t ns = view_ns(v.ts, tsres[v.if_id]);
            if (ns < prev)
                c->sorted = 0;
            prev = ns;
            c->isbs++;
        }
        off += blk.total_len;
    }
}

static void check_free(struct check *c)
{
    g_hash_table_destroy(c->seen);
}

/*
 * Feed the sources in random chunks of 1..maxchunk bytes, interleaved at random, draining after
 * every chunk, the clock advancing 1 ms per chunk. A source whose stop[i] > 0 ends after that
 * many bytes (-1: never ends). Returns the merger, not yet finished.
 */
static struct merge *feed_random(ncap_buf *srcs, size_t n, uint32_t window, size_t cap,
                                 size_t maxchunk, guint32 seed, ncap_buf *out, uint64_t *now)
{
    char err[NCAP_ERRBUF_SIZE];
    struct merge *m = merge_new(n, window, cap, err);
    size_t off[MAX_SOURCES] = {0};
    GRand *rng = g_rand_new_with_seed(seed);
    size_t left = n;

    g_assert_nonnull(m);
    while (left > 0) {
        size_t i = (size_t)g_rand_int_range(rng, 0, (gint32)n);
        if (off[i] == srcs[i].len)
            continue;
        size_t len = (size_t)g_rand_int_range(rng, 1, (gint32)maxchunk + 1);
        if (len > srcs[i].len - off[i])
            len = srcs[i].len - off[i];
        g_assert_cmpint(merge_feed(m, i, srcs[i].data + off[i], len, *now, err), ==, 0);
        off[i] += len;
        if (off[i] == srcs[i].len) {
            g_assert_cmpint(merge_source_end(m, i, err), ==, 0);
            left--;
        }
        g_assert_cmpint(merge_drain(m, *now, append, out), ==, 0);
        (*now)++;
    }
    g_rand_free(rng);
    return m;
}

/* Three sources, random chunking: one section, every packet once, on the right IDB, in order. */
static void test_ordered(void)
{
    struct spec sp[3] = {plain, plain, plain};
    sp[1].nifs = 1;
    sp[1].npkts = 45;
    sp[2].tsresol = 6;
    sp[2].late_idb = 1;
    sp[2].nifs = 3;
    static const size_t chunks[] = {1, 7, 100, 5000};

    for (size_t c = 0; c < G_N_ELEMENTS(chunks); c++) {
        for (guint32 seed = 1; seed <= 5; seed++) {
            ncap_buf srcs[3] = {{0}}, out = {0};
            uint64_t now = 0;
            struct check chk;
            for (int i = 0; i < 3; i++)
                build_source(&srcs[i], i, &sp[i]);
            struct merge *m = feed_random(srcs, 3, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, chunks[c],
                                          seed, &out, &now);
            g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
            check_output(&out, &chk);
            g_assert_true(chk.first_is_shb);
            g_assert_cmpint(chk.shbs, ==, 1);
            g_assert_cmpint(chk.idbs, ==, 2 + 1 + 3);
            g_assert_cmpint(chk.isbs, ==, 2 + 1 + 3);
            g_assert_cmpint(chk.epbs, ==, 60 + 45 + 60);
            g_assert_cmpint(chk.per_source[0], ==, 60);
            g_assert_cmpint(chk.per_source[1], ==, 45);
            g_assert_cmpint(chk.per_source[2], ==, 60);
            g_assert_true(chk.sorted);
            g_assert_cmpuint(merge_source_packets(m, 1), ==, 45);
            check_free(&chk);
            merge_free(m);
            for (int i = 0; i < 3; i++)
                ncap_buf_free(&srcs[i]);
            ncap_buf_free(&out);
        }
    }
}

/* A packet limit across sources: exactly that many EPBs go out, the earliest ones, in order. */
static void test_packet_limit(void)
{
    struct spec sp[2] = {plain, plain};
    ncap_buf srcs[2] = {{0}}, out = {0};
    char err[NCAP_ERRBUF_SIZE];
    struct check chk;
    struct merge *m = merge_new(2, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);

    g_assert_nonnull(m);
    merge_set_packet_limit(m, 50);
    for (size_t i = 0; i < 2; i++) {
        build_source(&srcs[i], (int)i, &sp[i]);
        g_assert_cmpint(merge_feed(m, i, srcs[i].data, srcs[i].len, 0, err), ==, 0);
        g_assert_cmpint(merge_source_end(m, i, err), ==, 0);
    }
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    g_assert_true(merge_limit_reached(m));
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.shbs, ==, 1);
    g_assert_cmpint(chk.epbs, ==, 50);
    g_assert_cmpint(chk.per_source[0] + chk.per_source[1], ==, 50);
    g_assert_cmpint(chk.per_source[0], >, 0);
    g_assert_cmpint(chk.per_source[1], >, 0);
    g_assert_true(chk.sorted);
    check_free(&chk);
    merge_free(m);
    for (int i = 0; i < 2; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

/* One source: everything goes out at once, and the output is the input with our SHB. */
static void test_single_source_passthrough(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf src = {0}, out = {0}, shb = {0};
    struct merge *m = merge_new(1, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
    struct ncap_pcapng_block blk;

    build_source(&src, 0, &plain);
    g_assert_cmpint(ncap_pcapng_next(src.data, src.len, &blk, NULL, err), ==, 1);
    for (size_t off = 0; off < src.len; off += 33) {
        size_t len = MIN(33, src.len - off);
        g_assert_cmpint(merge_feed(m, 0, src.data + off, len, 0, err), ==, 0);
        g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    }
    /* Nothing held back, though the source has not ended and the window is long. */
    g_assert_cmpint(ncap_pcapng_write_shb(&shb, "netcap-extcap " NCAP_VERSION, err), ==, 0);
    g_assert_cmpuint(out.len, ==, shb.len + src.len - blk.total_len);
    g_assert_cmpmem(out.data, shb.len, shb.data, shb.len);
    g_assert_cmpmem(out.data + shb.len, out.len - shb.len, src.data + blk.total_len,
                    src.len - blk.total_len);
    g_assert_cmpint(merge_wait_ms(m, 0), ==, -1);
    merge_free(m);
    ncap_buf_free(&src);
    ncap_buf_free(&out);
    ncap_buf_free(&shb);
}

/* The agent's reason for an early end rides in a final ISB comment; other comments are not it. */
static void test_end_note(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf src = {0}, out = {0};
    struct merge *m = merge_new(2, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
    build_source(&src, 0, &plain);
    struct ncap_pcapng_isb isb = {.ts = pkt_ns(0, 99), .comment = "a comment from a person"};
    g_assert_cmpint(ncap_pcapng_write_isb(&src, &isb, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 0, src.data, src.len, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 0, err), ==, 0);
    g_assert_null(merge_source_note(m, 0));
    src.len = 0;
    build_source(&src, 1, &plain);
    isb.comment = NCAP_END_NOTE_PREFIX "interface eth0 of pod shop/frontend went down or away";
    g_assert_cmpint(ncap_pcapng_write_isb(&src, &isb, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 1, src.data, src.len, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 1, err), ==, 0);
    g_assert_cmpstr(merge_source_note(m, 1), ==,
                    "interface eth0 of pod shop/frontend went down or away");
    /* and every packet still goes out */
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    g_assert_cmpuint(merge_source_packets(m, 0) + merge_source_packets(m, 1), ==,
                     2 * (unsigned)plain.npkts);
    merge_free(m);
    ncap_buf_free(&src);
    ncap_buf_free(&out);
}

/* A tiny cap: one source fed completely before the other goes out at once, out of order, whole. */
static void test_tiny_cap(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf srcs[2] = {{0}}, out = {0};
    struct merge *m = merge_new(2, BIG_WINDOW, 1, err);
    struct check chk;

    for (int i = 0; i < 2; i++)
        build_source(&srcs[i], i, &plain);
    size_t shb = first_block_len(&srcs[1]);
    /* Source 1 is open (its SHB arrived) but sends nothing while source 0 streams. */
    g_assert_cmpint(merge_feed(m, 1, srcs[1].data, shb, 0, err), ==, 0);
    for (size_t off = 0; off < srcs[0].len; off += 100) {
        g_assert_cmpint(merge_feed(m, 0, srcs[0].data + off, MIN(100, srcs[0].len - off), 0, err),
                        ==, 0);
        g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    }
    check_output(&out, &chk);
    g_assert_cmpint(chk.epbs, ==, 60); /* all of source 0 is out before source 1 ends */
    check_free(&chk);
    g_assert_cmpint(merge_feed(m, 1, srcs[1].data + shb, srcs[1].len - shb, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 1, err), ==, 0);
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.shbs, ==, 1);
    g_assert_cmpint(chk.idbs, ==, 4);
    g_assert_cmpint(chk.epbs, ==, 120);
    g_assert_false(chk.sorted);
    check_free(&chk);
    merge_free(m);
    for (int i = 0; i < 2; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

/* A silent open source holds the others back for the reorder window, no longer. */
static void test_window(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf srcs[2] = {{0}}, out = {0};
    struct merge *m = merge_new(2, 500, MERGE_SOURCE_CAP_DEFAULT, err);
    struct check chk;

    for (int i = 0; i < 2; i++)
        build_source(&srcs[i], i, &plain);
    g_assert_cmpint(merge_wait_ms(m, 0), ==, -1);
    g_assert_cmpint(merge_feed(m, 0, srcs[0].data, srcs[0].len, 1000, err), ==, 0);
    g_assert_cmpint(merge_wait_ms(m, 1000), ==, 0); /* the SHB and IDBs are due */
    g_assert_cmpint(merge_drain(m, 1000, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.shbs, ==, 1);
    g_assert_cmpint(chk.idbs, ==, 2);
    g_assert_cmpint(chk.epbs, ==, 0);
    check_free(&chk);
    g_assert_cmpint(merge_wait_ms(m, 1000), ==, 500);
    g_assert_cmpint(merge_wait_ms(m, 1499), ==, 1);
    g_assert_cmpint(merge_drain(m, 1499, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.epbs, ==, 0);
    check_free(&chk);
    g_assert_cmpint(merge_wait_ms(m, 1500), ==, 0);
    g_assert_cmpint(merge_drain(m, 1500, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.epbs, ==, 60);
    check_free(&chk);
    merge_free(m);
    for (int i = 0; i < 2; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

/* A source that ends early holds nothing back: the rest flows without the window or a finish. */
static void test_early_end(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf srcs[2] = {{0}}, out = {0};
    struct spec short_sp = plain;
    struct merge *m = merge_new(2, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
    struct check chk;

    short_sp.npkts = 3;
    build_source(&srcs[0], 0, &plain);
    build_source(&srcs[1], 1, &short_sp);
    g_assert_cmpint(merge_feed(m, 1, srcs[1].data, srcs[1].len, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 1, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 0, srcs[0].data, srcs[0].len, 0, err), ==, 0);
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.epbs, ==, 63);
    g_assert_cmpint(chk.isbs, ==, 4);
    g_assert_true(chk.sorted);
    check_free(&chk);
    g_assert_cmpuint(merge_source_packets(m, 0), ==, 60);
    g_assert_cmpuint(merge_source_packets(m, 1), ==, 3);
    merge_free(m);
    for (int i = 0; i < 2; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

/* A source with another link type, or snaplen, fails with a sentence; the others go on. */
static void check_mismatch(const struct spec *bad, const char *words)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf srcs[3] = {{0}}, out = {0};
    struct merge *m = merge_new(3, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
    struct check chk;

    build_source(&srcs[0], 0, &plain);
    build_source(&srcs[1], 1, bad);
    build_source(&srcs[2], 2, &plain);
    g_assert_cmpint(merge_feed(m, 0, srcs[0].data, 500, 0, err), ==, 0);
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    g_assert_cmpint(merge_feed(m, 1, srcs[1].data, srcs[1].len, 0, err), ==, -1);
    g_assert_nonnull(strstr(err, words));
    g_assert_nonnull(strstr(err, "k8s/test/pod-1/eth0"));
    g_assert_cmpint(merge_feed(m, 1, srcs[1].data, 4, 0, err), ==, -1);
    g_assert_cmpint(merge_feed(m, 2, srcs[2].data, srcs[2].len, 0, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 0, srcs[0].data + 500, srcs[0].len - 500, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 0, err), ==, 0);
    g_assert_cmpint(merge_source_end(m, 2, err), ==, 0);
    g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.idbs, ==, 4);
    g_assert_cmpint(chk.epbs, ==, 120);
    g_assert_cmpint(chk.per_source[1], ==, 0);
    g_assert_true(chk.sorted);
    check_free(&chk);
    merge_free(m);
    for (int i = 0; i < 3; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

static void test_mismatch(void)
{
    struct spec sll2 = plain, snap = plain;
    sll2.linktype = NCAP_LINKTYPE_LINUX_SLL2;
    snap.snaplen = 65535;
    check_mismatch(&sll2, "link type 276");
    check_mismatch(&snap, "snapshot length 65535");
}

/* Broken streams: the source fails, its complete blocks stay, its partial block goes. */
static void test_broken_sources(void)
{
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf good = {0}, out = {0}, bad = {0};
    struct merge *m;
    struct check chk;
    uint8_t frame[60] = {0x02, 0, 1, 0, 0, 0};

    build_source(&good, 0, &plain);
    size_t shb = first_block_len(&good);

    /* A second SHB. */
    m = merge_new(1, 0, MERGE_SOURCE_CAP_DEFAULT, err);
    g_assert_cmpint(merge_feed(m, 0, good.data, good.len, 0, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 0, good.data, shb, 0, err), ==, -1);
    g_assert_nonnull(strstr(err, "second pcapng section"));
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    check_output(&out, &chk);
    g_assert_cmpint(chk.epbs, ==, 60);
    check_free(&chk);
    merge_free(m);
    out.len = 0;

    /* No SHB first; then not pcapng at all. */
    m = merge_new(2, 0, MERGE_SOURCE_CAP_DEFAULT, err);
    g_assert_cmpint(merge_feed(m, 0, good.data + shb, good.len - shb, 0, err), ==, -1);
    g_assert_nonnull(strstr(err, "does not start with a section header"));
    g_assert_cmpint(merge_feed(m, 1, "<html>hello</html>", 18, 0, err), ==, -1);
    g_assert_nonnull(strstr(err, "broken pcapng stream"));
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    g_assert_cmpuint(out.len, ==, 0);
    merge_free(m);

    /* A packet for an interface that was never described. */
    m = merge_new(1, 0, MERGE_SOURCE_CAP_DEFAULT, err);
    g_assert_cmpint(ncap_pcapng_write_shb(&bad, "x", err), ==, 0);
    write_idb(&bad, &plain, 1, 0);
    struct ncap_pcapng_epb epb = {1, 5, 60, 60, frame, 0, NULL, 0};
    g_assert_cmpint(ncap_pcapng_write_epb(&bad, &epb, err), ==, 0);
    g_assert_cmpint(merge_feed(m, 0, bad.data, bad.len, 0, err), ==, -1);
    g_assert_nonnull(strstr(err, "interface 1"));
    merge_free(m);

    /* Failing or ending inside a block: the partial block never reaches the output. */
    for (int end = 0; end < 2; end++) {
        m = merge_new(2, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
        ncap_buf other = {0};
        build_source(&other, 1, &plain);
        g_assert_cmpint(merge_feed(m, 0, good.data, good.len - 30, 0, err), ==, 0);
        if (end) {
            g_assert_cmpint(merge_source_end(m, 0, err), ==, -1);
            g_assert_nonnull(strstr(err, "ended inside a pcapng block"));
        } else {
            merge_source_fail(m, 0);
        }
        g_assert_cmpint(merge_feed(m, 0, good.data, 10, 0, err), ==, -1);
        g_assert_cmpint(merge_feed(m, 1, other.data, other.len, 0, err), ==, 0);
        g_assert_cmpint(merge_drain(m, 0, append, &out), ==, 0);
        check_output(&out, &chk); /* asserts every block is whole */
        g_assert_cmpint(chk.per_source[1], ==, 60);
        g_assert_cmpint(chk.epbs + chk.isbs, >, 60);
        check_free(&chk);
        merge_free(m);
        ncap_buf_free(&other);
        out.len = 0;
    }
    ncap_buf_free(&good);
    ncap_buf_free(&bad);
    ncap_buf_free(&out);
}

/* An IDB the common writer cannot make: any if_tsresol, and an if_tsoffset (seconds). */
static void write_raw_idb(ncap_buf *b, const char *name, uint8_t tsresol, int64_t tsoffset)
{
    char err[NCAP_ERRBUF_SIZE];
    size_t nl = strlen(name), npad = (4 - nl % 4) % 4;
    uint32_t total = (uint32_t)(20 + 4 + nl + npad + 8 + 12 + 4);
    uint8_t opts[8 + 12 + 4] = {9, 0, 1, 0, tsresol, 0, 0, 0, 14, 0, 8, 0};
    uint32_t head[4] = {NCAP_BT_IDB, total, NCAP_LINKTYPE_ETHERNET, 262144};
    uint16_t name_opt[2] = {NCAP_OPT_IF_NAME, (uint16_t)nl};

    memcpy(opts + 12, &tsoffset, 8);
    g_assert_cmpint(ncap_buf_reserve(b, total, err), ==, 0);
    memcpy(b->data + b->len, head, 16);
    memcpy(b->data + b->len + 16, name_opt, 4);
    memcpy(b->data + b->len + 20, name, nl);
    memset(b->data + b->len + 20 + nl, 0, npad);
    memcpy(b->data + b->len + 20 + nl + npad, opts, sizeof(opts));
    memcpy(b->data + b->len + total - 4, &total, 4);
    b->len += total;
}

/* Timestamps in nanoseconds, binary fractions (2^-30 s) and microseconds with a 1000 s offset
 * are ordered by the time they mean. */
static void test_tsresol(void)
{
    static const uint8_t resol[3] = {9, 0x80 | 30, 6};
    static const int64_t offset[3] = {0, 0, 1000};
    char err[NCAP_ERRBUF_SIZE];
    ncap_buf srcs[3] = {{0}}, out = {0};
    uint8_t frame[60] = {0x02, 0};
    struct merge *m = merge_new(3, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, err);
    const uint64_t t0 = 1700000000ull * 1000000000ull;

    for (int i = 0; i < 3; i++) {
        char name[64];
        if_name(name, sizeof(name), i, 0);
        g_assert_cmpint(ncap_pcapng_write_shb(&srcs[i], "x", err), ==, 0);
        write_raw_idb(&srcs[i], name, resol[i], offset[i]);
        for (int k = 0; k < 20; k++) {
            uint64_t ns = t0 + (uint64_t)(3 * k + i) * 1000u, ts;
            if (i == 0)
                ts = ns;
            else if (i == 1) /* 2^30 units per second, rounded up */
                ts = (ns / 1000000000u << 30) +
                     ((ns % 1000000000u << 30) + 999999999u) / 1000000000u;
            else
                ts = (ns - 1000ull * 1000000000ull) / 1000u;
            frame[2] = (uint8_t)i;
            frame[5] = (uint8_t)k;
            struct ncap_pcapng_epb epb = {0, ts, 60, 60, frame, 0, NULL, 0};
            g_assert_cmpint(ncap_pcapng_write_epb(&srcs[i], &epb, err), ==, 0);
        }
        g_assert_cmpint(merge_feed(m, (size_t)i, srcs[i].data, srcs[i].len, 0, err), ==, 0);
    }
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    int n = 0;
    for (size_t off = 0; off < out.len;) {
        struct ncap_pcapng_block blk;
        struct ncap_pcapng_epb_view v;
        g_assert_cmpint(ncap_pcapng_next(out.data + off, out.len - off, &blk, NULL, err), ==, 1);
        if (blk.type == NCAP_BT_EPB) {
            g_assert_cmpint(ncap_pcapng_parse_epb(&blk, &v, err), ==, 0);
            g_assert_cmpuint(v.if_id, ==, v.data[2]);
            g_assert_cmpint(v.data[2] + 3 * v.data[5], ==, n);
            n++;
        }
        off += blk.total_len;
    }
    g_assert_cmpint(n, ==, 60);
    merge_free(m);
    for (int i = 0; i < 3; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

static char *run(char **argv, int *status)
{
    char *out = NULL, *errout = NULL;
    GError *gerr = NULL;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
                               status, &gerr));
    g_assert_no_error(gerr);
    g_free(errout);
    return out;
}

/* tshark attributes every merged packet to its pod; tcpdump reads the whole file. */
static void test_real_readers(void)
{
    struct spec sp[3] = {plain, plain, plain};
    ncap_buf srcs[3] = {{0}}, out = {0};
    GError *gerr = NULL;
    uint64_t now = 0;
    int status;

    sp[1].nifs = 1;
    sp[2].late_idb = 1;
    for (int i = 0; i < 3; i++)
        build_source(&srcs[i], i, &sp[i]);
    struct merge *m =
        feed_random(srcs, 3, BIG_WINDOW, MERGE_SOURCE_CAP_DEFAULT, 64, 42, &out, &now);
    g_assert_cmpint(merge_finish(m, append, &out), ==, 0);
    merge_free(m);

    char *dir = g_dir_make_tmp("ncap-merge-XXXXXX", &gerr);
    g_assert_no_error(gerr);
    char *path = g_build_filename(dir, "merged.pcapng", NULL);
    g_assert_true(g_file_set_contents(path, (const char *)out.data, (gssize)out.len, &gerr));

    char *tshark[] = {"tshark", "-r",      path, "-T", "fields", "-e", "frame.interface_name",
                      "-e",     "eth.dst", NULL};
    char *text = run(tshark, &status);
    g_assert_cmpint(status, ==, 0);
    char **lines = g_strsplit(g_strstrip(text), "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 180);
    for (char **l = lines; *l; l++) {
        unsigned a, b, src, ifc, s1, s2;
        char name[64], want[64];
        g_assert_cmpint(sscanf(*l, "%63s %x:%x:%x:%x:%x:%x", name, &a, &b, &src, &ifc, &s1, &s2),
                        ==, 7);
        if_name(want, sizeof(want), (int)src, (int)ifc);
        g_assert_cmpstr(name, ==, want);
    }
    g_strfreev(lines);
    g_free(text);

    char *tcpdump[] = {"tcpdump", "-n", "-r", path, NULL};
    text = run(tcpdump, &status);
    g_assert_cmpint(status, ==, 0);
    lines = g_strsplit(g_strstrip(text), "\n", -1);
    unsigned packets = 0; /* lines that are not tcpdump's hex dump of the unknown payload */
    for (char **l = lines; *l; l++)
        packets += (*l)[0] != '\t' && (*l)[0] != ' ';
    g_assert_cmpuint(packets, ==, 180);
    g_strfreev(lines);
    g_free(text);

    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
    for (int i = 0; i < 3; i++)
        ncap_buf_free(&srcs[i]);
    ncap_buf_free(&out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/merge/ordered", test_ordered);
    g_test_add_func("/merge/single_source_passthrough", test_single_source_passthrough);
    g_test_add_func("/merge/tiny_cap", test_tiny_cap);
    g_test_add_func("/merge/packet_limit", test_packet_limit);
    g_test_add_func("/merge/window", test_window);
    g_test_add_func("/merge/early_end", test_early_end);
    g_test_add_func("/merge/end_note", test_end_note);
    g_test_add_func("/merge/mismatch", test_mismatch);
    g_test_add_func("/merge/broken_sources", test_broken_sources);
    g_test_add_func("/merge/tsresol", test_tsresol);
    g_test_add_func("/merge/real_readers", test_real_readers);
    return g_test_run();
}
