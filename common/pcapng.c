/*
 * pcapng.c - writer and reader for the pcapng blocks netcap uses (see pcapng.h).
 *
 * Blocks are laid out as the spec says: type, total length, body, options padded to 32 bits,
 * total length again. The writer computes each block's size first and appends it in one
 * reservation, so a failed write leaves the buffer as it was.
 */
#include "pcapng.h"

#include <stdlib.h>
#include <string.h>

#define PAD4(n) (((n) + 3u) & ~(size_t)3u)

int ncap_buf_reserve(ncap_buf *b, size_t extra, char *err)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return ncap_fail(err, "buffer size overflow");
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ncap_fail(err, "out of memory for a %zu-byte buffer", cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

void ncap_buf_free(ncap_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- writer helpers: callers reserve first, then put without checks ---- */

static void put(ncap_buf *b, const void *p, size_t n)
{
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u16(ncap_buf *b, uint16_t v)
{
    put(b, &v, 2);
}

static void put_u32(ncap_buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64_halves(ncap_buf *b, uint64_t v)
{
    /* Timestamps are two 32-bit words, high first, each in section byte order. */
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}

static void put_zero(ncap_buf *b, size_t n)
{
    memset(b->data + b->len, 0, n);
    b->len += n;
}

static size_t opt_size(size_t len)
{
    return 4 + PAD4(len);
}

static void put_opt(ncap_buf *b, uint16_t code, const void *val, size_t len)
{
    put_u16(b, code);
    put_u16(b, (uint16_t)len);
    put(b, val, len);
    put_zero(b, PAD4(len) - len);
}

static void put_opt_u64(ncap_buf *b, uint16_t code, uint64_t v)
{
    put_opt(b, code, &v, 8);
}

static void put_opt_ts(ncap_buf *b, uint16_t code, uint64_t v)
{
    put_u16(b, code);
    put_u16(b, 8);
    put_u64_halves(b, v);
}

static int check_opt_len(size_t len, const char *what, char *err)
{
    if (len > UINT16_MAX)
        return ncap_fail(err, "%s is %zu bytes, more than a pcapng option can hold", what, len);
    return 0;
}

int ncap_pcapng_write_shb(ncap_buf *b, const char *userappl, char *err)
{
    size_t ul = userappl ? strlen(userappl) : 0;
    if (check_opt_len(ul, "shb_userappl", err) < 0)
        return -1;
    size_t opts = ul ? opt_size(ul) + 4 : 0;
    size_t total = 28 + opts;
    if (ncap_buf_reserve(b, total, err) < 0)
        return -1;
    put_u32(b, NCAP_BT_SHB);
    put_u32(b, (uint32_t)total);
    put_u32(b, NCAP_BYTE_ORDER_MAGIC);
    put_u16(b, 1);
    put_u16(b, 0);
    uint64_t section_len = UINT64_MAX; /* unknown: we stream */
    put(b, &section_len, 8);
    if (ul) {
        put_opt(b, NCAP_OPT_SHB_USERAPPL, userappl, ul);
        put_u32(b, 0);
    }
    put_u32(b, (uint32_t)total);
    return 0;
}

int ncap_pcapng_write_idb(ncap_buf *b, const struct ncap_pcapng_idb *idb, char *err)
{
    size_t nl = idb->name ? strlen(idb->name) : 0;
    size_t dl = idb->description ? strlen(idb->description) : 0;
    if (check_opt_len(nl, "if_name", err) < 0 || check_opt_len(dl, "if_description", err) < 0)
        return -1;
    size_t opts = 0;
    if (nl)
        opts += opt_size(nl);
    if (dl)
        opts += opt_size(dl);
    if (idb->tsresol)
        opts += opt_size(1);
    if (opts)
        opts += 4;
    size_t total = 20 + opts;
    if (ncap_buf_reserve(b, total, err) < 0)
        return -1;
    put_u32(b, NCAP_BT_IDB);
    put_u32(b, (uint32_t)total);
    put_u16(b, idb->linktype);
    put_u16(b, 0);
    put_u32(b, idb->snaplen);
    if (nl)
        put_opt(b, NCAP_OPT_IF_NAME, idb->name, nl);
    if (dl)
        put_opt(b, NCAP_OPT_IF_DESCRIPTION, idb->description, dl);
    if (idb->tsresol)
        put_opt(b, NCAP_OPT_IF_TSRESOL, &idb->tsresol, 1);
    if (opts)
        put_u32(b, 0);
    put_u32(b, (uint32_t)total);
    return 0;
}

size_t ncap_pcapng_epb_size(uint32_t caplen, uint32_t flags, size_t custom_len)
{
    size_t opts = 0;
    if (flags)
        opts += opt_size(4);
    if (custom_len)
        opts += opt_size(4 + custom_len);
    if (opts)
        opts += 4;
    return 32 + PAD4(caplen) + opts;
}

/* The EPB writer runs once per captured packet: it fills the block through one pointer, with
 * fixed-size copies and padding the compiler inlines (callgrind: the put_* helpers and their
 * memset calls for 0-3 pad bytes were a third of the agent's encoding instructions). */
static uint8_t *wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
    return p + 4;
}

/* An option header: code and length, 16 bits each. */
static uint8_t *wr_opt(uint8_t *p, uint16_t code, size_t len)
{
    uint16_t l = (uint16_t)len;
    memcpy(p, &code, 2);
    memcpy(p + 2, &l, 2);
    return p + 4;
}

/* n (0-3) zero bytes. Writes 4: every block ends with at least its 4-byte total length after
 * any padding, inside the reserved size, so the extra bytes are overwritten next. */
static uint8_t *pad(uint8_t *p, size_t n)
{
    memset(p, 0, 4);
    return p + n;
}

int ncap_pcapng_write_epb(ncap_buf *b, const struct ncap_pcapng_epb *epb, char *err)
{
    size_t custom_len = epb->custom ? epb->custom_len : 0;
    if (epb->caplen > NCAP_SNAPLEN_MAX)
        return ncap_fail(err, "packet of %u bytes exceeds the %u-byte snapshot limit", epb->caplen,
                         NCAP_SNAPLEN_MAX);
    if (check_opt_len(4 + custom_len, "the netcap custom option", err) < 0)
        return -1;
    size_t total = ncap_pcapng_epb_size(epb->caplen, epb->flags, custom_len);
    if (ncap_buf_reserve(b, total, err) < 0)
        return -1;
    uint8_t *p = b->data + b->len;
    p = wr32(p, NCAP_BT_EPB);
    p = wr32(p, (uint32_t)total);
    p = wr32(p, epb->if_id);
    /* Timestamps are two 32-bit words, high first, each in section byte order. */
    p = wr32(p, (uint32_t)(epb->ts >> 32));
    p = wr32(p, (uint32_t)epb->ts);
    p = wr32(p, epb->caplen);
    p = wr32(p, epb->origlen);
    memcpy(p, epb->data, epb->caplen);
    p = pad(p + epb->caplen, PAD4(epb->caplen) - epb->caplen);
    if (epb->flags || custom_len) {
        if (epb->flags) {
            p = wr_opt(p, NCAP_OPT_EPB_FLAGS, 4);
            p = wr32(p, epb->flags);
        }
        if (custom_len) {
            p = wr_opt(p, NCAP_OPT_CUSTOM_BIN, 4 + custom_len);
            p = wr32(p, NCAP_PEN);
            memcpy(p, epb->custom, custom_len);
            p = pad(p + custom_len, PAD4(4 + custom_len) - (4 + custom_len));
        }
        p = wr32(p, 0);
    }
    p = wr32(p, (uint32_t)total);
    b->len = (size_t)(p - b->data);
    return 0;
}

int ncap_pcapng_write_isb(ncap_buf *b, const struct ncap_pcapng_isb *isb, char *err)
{
    size_t opts = 4 * opt_size(8) + 4;
    size_t clen = isb->comment ? strlen(isb->comment) : 0;
    if (clen && check_opt_len(clen, "an ISB comment", err) < 0)
        return -1;
    if (clen)
        opts += opt_size(clen);
    if (isb->starttime)
        opts += opt_size(8);
    if (isb->endtime)
        opts += opt_size(8);
    size_t total = 24 + opts;
    if (ncap_buf_reserve(b, total, err) < 0)
        return -1;
    put_u32(b, NCAP_BT_ISB);
    put_u32(b, (uint32_t)total);
    put_u32(b, isb->if_id);
    put_u64_halves(b, isb->ts);
    if (clen)
        put_opt(b, 1 /* opt_comment */, isb->comment, clen);
    if (isb->starttime)
        put_opt_ts(b, NCAP_OPT_ISB_STARTTIME, isb->starttime);
    if (isb->endtime)
        put_opt_ts(b, NCAP_OPT_ISB_ENDTIME, isb->endtime);
    put_opt_u64(b, NCAP_OPT_ISB_IFRECV, isb->ifrecv);
    put_opt_u64(b, NCAP_OPT_ISB_IFDROP, isb->ifdrop);
    put_opt_u64(b, NCAP_OPT_ISB_FILTERACCEPT, isb->filteraccept);
    put_opt_u64(b, NCAP_OPT_ISB_OSDROP, isb->osdrop);
    put_u32(b, 0);
    put_u32(b, (uint32_t)total);
    return 0;
}

int ncap_pcapng_write_nrb(ncap_buf *b, const struct ncap_nrb_record *r, size_t n, char *err)
{
    size_t recs = 4; /* nrb_record_end */
    for (size_t i = 0; i < n; i++) {
        if (r[i].family != 4 && r[i].family != 6)
            return ncap_fail(err, "an NRB record must be IPv4 or IPv6");
        size_t l = (r[i].family == 4 ? 4 : 16) + strlen(r[i].name) + 1;
        if (check_opt_len(l, "an NRB record", err) < 0)
            return -1;
        recs += opt_size(l);
    }
    size_t total = 12 + recs;
    if (total > NCAP_PCAPNG_MAX_BLOCK)
        return ncap_fail(err, "name resolution block of %zu bytes is too large", total);
    if (ncap_buf_reserve(b, total, err) < 0)
        return -1;
    put_u32(b, NCAP_BT_NRB);
    put_u32(b, (uint32_t)total);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(r[i].name) + 1, al = r[i].family == 4 ? 4 : 16;
        put_u16(b, r[i].family == 4 ? NCAP_NRB_IPV4 : NCAP_NRB_IPV6);
        put_u16(b, (uint16_t)(al + nl));
        put(b, r[i].addr, al);
        put(b, r[i].name, nl);
        put_zero(b, PAD4(al + nl) - (al + nl));
    }
    put_u32(b, 0);
    put_u32(b, (uint32_t)total);
    return 0;
}

/* ---- reader ---- */

static uint16_t get_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t get_ts(const uint8_t *p)
{
    return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

int ncap_pcapng_next(const uint8_t *p, size_t len, struct ncap_pcapng_block *blk, size_t *need,
                     char *err)
{
    if (len < 12) {
        if (need)
            *need = 12;
        return 0;
    }
    uint32_t type = get_u32(p);
    uint32_t total = get_u32(p + 4);
    if (type == NCAP_BT_SHB) {
        uint32_t magic = get_u32(p + 8);
        if (magic != NCAP_BYTE_ORDER_MAGIC) {
            if (magic == 0x4D3C2B1Au)
                return ncap_fail(err, "pcapng section is in the other byte order, "
                                      "which netcap does not read");
            return ncap_fail(err, "pcapng section header has a bad byte-order magic");
        }
    }
    if (total < 12 || total % 4 != 0)
        return ncap_fail(err, "pcapng block of type 0x%08x has an invalid length %u", type, total);
    if (total > NCAP_PCAPNG_MAX_BLOCK)
        return ncap_fail(err, "pcapng block of type 0x%08x is %u bytes, over the %u-byte limit",
                         type, total, NCAP_PCAPNG_MAX_BLOCK);
    if (len < total) {
        if (need)
            *need = total;
        return 0;
    }
    if (get_u32(p + total - 4) != total)
        return ncap_fail(err, "pcapng block of type 0x%08x has mismatched length fields", type);
    blk->type = type;
    blk->total_len = total;
    blk->body = p + 8;
    blk->body_len = total - 12;
    return 1;
}

int ncap_pcapng_foreach_option(const uint8_t *opts, size_t len, ncap_pcapng_option_cb cb, void *ud,
                               char *err)
{
    size_t off = 0;
    while (len - off >= 4) {
        uint16_t code = get_u16(opts + off);
        uint16_t olen = get_u16(opts + off + 2);
        if (code == NCAP_OPT_ENDOFOPT)
            return 0;
        if (PAD4(olen) > len - off - 4)
            return ncap_fail(err, "pcapng option %u is truncated", code);
        int r = cb(code, opts + off + 4, olen, ud);
        if (r)
            return r;
        off += 4 + PAD4(olen);
    }
    return 0;
}

static int shb_opt(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    struct ncap_pcapng_shb_view *v = ud;
    if (code == NCAP_OPT_SHB_USERAPPL) {
        v->userappl = (const char *)val;
        v->userappl_len = len;
    }
    return 0;
}

int ncap_pcapng_parse_shb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_shb_view *v,
                          char *err)
{
    if (blk->type != NCAP_BT_SHB || blk->body_len < 16)
        return ncap_fail(err, "section header block is too short");
    memset(v, 0, sizeof(*v));
    v->major = get_u16(blk->body + 4);
    v->minor = get_u16(blk->body + 6);
    if (v->major != 1)
        return ncap_fail(err, "pcapng version %u.%u is not supported", v->major, v->minor);
    return ncap_pcapng_foreach_option(blk->body + 16, blk->body_len - 16, shb_opt, v, err) < 0 ? -1
                                                                                              : 0;
}

static int idb_opt(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    struct ncap_pcapng_idb_view *v = ud;
    if (code == NCAP_OPT_IF_NAME) {
        v->name = (const char *)val;
        v->name_len = len;
    } else if (code == NCAP_OPT_IF_DESCRIPTION) {
        v->description = (const char *)val;
        v->description_len = len;
    } else if (code == NCAP_OPT_IF_TSRESOL && len >= 1) {
        v->tsresol = val[0];
    }
    return 0;
}

int ncap_pcapng_parse_idb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_idb_view *v,
                          char *err)
{
    if (blk->type != NCAP_BT_IDB || blk->body_len < 8)
        return ncap_fail(err, "interface description block is too short");
    memset(v, 0, sizeof(*v));
    v->linktype = get_u16(blk->body);
    v->snaplen = get_u32(blk->body + 4);
    v->tsresol = 6;
    return ncap_pcapng_foreach_option(blk->body + 8, blk->body_len - 8, idb_opt, v, err) < 0 ? -1
                                                                                            : 0;
}

static int epb_opt(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    struct ncap_pcapng_epb_view *v = ud;
    if (code == NCAP_OPT_EPB_FLAGS && len == 4) {
        v->flags = get_u32(val);
        v->has_flags = true;
    } else if (code == NCAP_OPT_CUSTOM_BIN && len >= 4 && get_u32(val) == NCAP_PEN && !v->custom) {
        v->custom = val + 4;
        v->custom_len = len - 4u;
    }
    return 0;
}

int ncap_pcapng_parse_epb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_epb_view *v,
                          char *err)
{
    if (blk->type != NCAP_BT_EPB || blk->body_len < 20)
        return ncap_fail(err, "enhanced packet block is too short");
    memset(v, 0, sizeof(*v));
    v->if_id = get_u32(blk->body);
    v->ts = get_ts(blk->body + 4);
    v->caplen = get_u32(blk->body + 12);
    v->origlen = get_u32(blk->body + 16);
    if (v->caplen > blk->body_len - 20 || PAD4(v->caplen) > blk->body_len - 20)
        return ncap_fail(err, "enhanced packet block claims %u captured bytes but holds %zu",
                         v->caplen, blk->body_len - 20);
    v->data = blk->body + 20;
    size_t opt_off = 20 + PAD4(v->caplen);
    return ncap_pcapng_foreach_option(blk->body + opt_off, blk->body_len - opt_off, epb_opt, v,
                                      err) < 0
               ? -1
               : 0;
}

static int isb_opt(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    struct ncap_pcapng_isb_view *v = ud;
    if (len != 8 || code < NCAP_OPT_ISB_STARTTIME || code > NCAP_OPT_ISB_OSDROP)
        return 0;
    uint64_t x = (code == NCAP_OPT_ISB_STARTTIME || code == NCAP_OPT_ISB_ENDTIME) ? get_ts(val)
                                                                                 : get_u64(val);
    switch (code) {
    case NCAP_OPT_ISB_STARTTIME: v->starttime = x; break;
    case NCAP_OPT_ISB_ENDTIME: v->endtime = x; break;
    case NCAP_OPT_ISB_IFRECV: v->ifrecv = x; break;
    case NCAP_OPT_ISB_IFDROP: v->ifdrop = x; break;
    case NCAP_OPT_ISB_FILTERACCEPT: v->filteraccept = x; break;
    default: v->osdrop = x; break;
    }
    v->present |= 1u << code;
    return 0;
}

int ncap_pcapng_parse_isb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_isb_view *v,
                          char *err)
{
    if (blk->type != NCAP_BT_ISB || blk->body_len < 12)
        return ncap_fail(err, "interface statistics block is too short");
    memset(v, 0, sizeof(*v));
    v->if_id = get_u32(blk->body);
    v->ts = get_ts(blk->body + 4);
    return ncap_pcapng_foreach_option(blk->body + 12, blk->body_len - 12, isb_opt, v, err) < 0
               ? -1
               : 0;
}
