/*
 * tlv.c - encoder and decoder of the per-packet flow record (format in tlv.h).
 *
 * The decoder runs on every packet in the dissector and on untrusted input in the fuzzers, so it
 * checks every length against what is left and never allocates.
 */
#include "tlv.h"

#include <string.h>

static struct ncap_str *str_field(struct ncap_flow_meta *m, unsigned type)
{
    switch (type) {
    case NCAP_TLV_PEER_NAMESPACE: return &m->peer_namespace;
    case NCAP_TLV_PEER_POD: return &m->peer_pod;
    case NCAP_TLV_PEER_WORKLOAD_KIND: return &m->peer_workload_kind;
    case NCAP_TLV_PEER_WORKLOAD: return &m->peer_workload;
    case NCAP_TLV_PEER_SERVICE: return &m->peer_service;
    default: return NULL;
    }
}

void ncap_flow_meta_set(struct ncap_flow_meta *m, enum ncap_tlv_type t, const char *s)
{
    struct ncap_str *f = str_field(m, t);
    if (!f || !s || !*s)
        return;
    size_t n = strlen(s);
    f->ptr = s;
    f->len = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n);
    m->present |= 1u << t;
}

static void put_hdr(uint8_t *p, uint16_t type, uint16_t len)
{
    p[0] = (uint8_t)type;
    p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)len;
    p[3] = (uint8_t)(len >> 8);
}

int ncap_tlv_encode(const struct ncap_flow_meta *m, uint8_t *dst, size_t cap, char *err)
{
    size_t off = 2;
    if (cap < 2)
        return ncap_fail(err, "no room for the flow record header");
    dst[0] = NCAP_TLV_VERSION;
    dst[1] = 0;
    if (m->present & (1u << NCAP_TLV_FLOW_ID)) {
        if (cap - off < 12)
            return ncap_fail(err, "flow record does not fit in %zu bytes", cap);
        put_hdr(dst + off, NCAP_TLV_FLOW_ID, 8);
        for (int i = 0; i < 8; i++)
            dst[off + 4 + i] = (uint8_t)(m->flow_id >> (8 * i));
        off += 12;
    }
    for (unsigned t = NCAP_TLV_PEER_NAMESPACE; t <= NCAP_TLV_PEER_SERVICE; t++) {
        if (!(m->present & (1u << t)))
            continue;
        const struct ncap_str *f = str_field((struct ncap_flow_meta *)m, t);
        if (cap - off < 4u + f->len)
            return ncap_fail(err, "flow record does not fit in %zu bytes", cap);
        put_hdr(dst + off, (uint16_t)t, f->len);
        memcpy(dst + off + 4, f->ptr, f->len);
        off += 4u + f->len;
    }
    return (int)off;
}

int ncap_tlv_decode(const uint8_t *src, size_t len, struct ncap_flow_meta *m, char *err)
{
    memset(m, 0, sizeof(*m));
    if (len < 2)
        return ncap_fail(err, "flow record is %zu bytes, shorter than its header", len);
    if (src[0] != NCAP_TLV_VERSION)
        return ncap_fail(err, "flow record version %u is not supported (this build reads %u)",
                         src[0], NCAP_TLV_VERSION);
    size_t off = 2;
    while (off < len) {
        if (len - off < 4)
            return ncap_fail(err, "flow record is truncated in a field header at byte %zu", off);
        unsigned type = src[off] | (unsigned)src[off + 1] << 8;
        uint16_t flen = (uint16_t)(src[off + 2] | src[off + 3] << 8);
        if (len - off - 4 < flen)
            return ncap_fail(err, "flow record field %u claims %u bytes but %zu remain", type,
                             flen, len - off - 4);
        const uint8_t *v = src + off + 4;
        if (type == NCAP_TLV_FLOW_ID) {
            if (flen != 8)
                return ncap_fail(err, "flow id field is %u bytes, expected 8", flen);
            m->flow_id = 0;
            for (int i = 7; i >= 0; i--)
                m->flow_id = m->flow_id << 8 | v[i];
            m->present |= 1u << type;
        } else {
            struct ncap_str *f = str_field(m, type);
            if (f) {
                f->ptr = (const char *)v;
                f->len = flen;
                m->present |= 1u << type;
            }
        }
        off += 4u + flen;
    }
    return 0;
}
