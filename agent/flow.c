/* flow.c - Ethernet/VLAN/IPv4/IPv6 header walk, flow hash and peer lookup (see flow.h). */
#include "flow.h"

#include <string.h>

#include "ncap.h"

#define ETH_HLEN_ 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

uint32_t flow_direction(const uint8_t mac[6], const uint8_t *frame, size_t caplen)
{
    if (caplen < 12)
        return NCAP_DIR_UNKNOWN;
    /* Once per packet: two loads and compares, not a call to memcmp. */
    uint32_t a4, b4;
    uint16_t a2, b2;
    memcpy(&a4, frame + 6, 4);
    memcpy(&b4, mac, 4);
    memcpy(&a2, frame + 10, 2);
    memcpy(&b2, mac + 4, 2);
    return a4 == b4 && a2 == b2 ? NCAP_DIR_OUT : NCAP_DIR_IN;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 136; /* TCP UDP SCTP UDP-Lite */
}

static void read_ports(struct flow_tuple *t, const uint8_t *l4, size_t left)
{
    if (has_ports(t->f.proto) && left >= 4) {
        t->f.sport = be16(l4);
        t->f.dport = be16(l4 + 2);
    }
}

static int parse_ipv4(const uint8_t *p, size_t left, struct flow_tuple *t)
{
    if (left < 20 || p[0] >> 4 != 4)
        return -1;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > left)
        return -1;
    t->f.family = 4;
    t->f.proto = p[9];
    memcpy(t->f.src, p + 12, 4);
    memcpy(t->f.dst, p + 16, 4);
    if ((be16(p + 6) & 0x1fff) == 0) /* later fragments carry no ports */
        read_ports(t, p + ihl, left - ihl);
    return 0;
}

static int parse_ipv6(const uint8_t *p, size_t left, struct flow_tuple *t)
{
    if (left < 40 || p[0] >> 4 != 6)
        return -1;
    t->f.family = 6;
    memcpy(t->f.src, p + 8, 16);
    memcpy(t->f.dst, p + 24, 16);
    uint8_t next = p[6];
    size_t off = 40;
    /* Skip extension headers: hop-by-hop, routing, fragment, destination options, AH. */
    for (int i = 0; i < 8; i++) {
        if (next != 0 && next != 43 && next != 44 && next != 60 && next != 51)
            break;
        if (left - off < 8)
            return 0;
        const uint8_t *h = p + off;
        size_t hlen = next == 44 ? 8 : next == 51 ? ((size_t)h[1] + 2) * 4 : ((size_t)h[1] + 1) * 8;
        if (next == 44 && (be16(h + 2) & 0xfff8) != 0) {
            t->f.proto = h[0];
            return 0; /* a later fragment: no ports */
        }
        if (hlen > left - off)
            return 0;
        next = h[0];
        off += hlen;
    }
    t->f.proto = next;
    read_ports(t, p + off, left - off);
    return 0;
}

int flow_parse(const uint8_t *f, size_t caplen, struct flow_tuple *t)
{
    memset(t, 0, sizeof(*t));
    if (caplen < ETH_HLEN_)
        return -1;
    size_t off = 12;
    uint16_t type = be16(f + off);
    for (int tags = 0; (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) && tags < 2; tags++) {
        off += 4;
        if (caplen < off + 2)
            return -1;
        type = be16(f + off);
    }
    off += 2;
    if (type == ETHERTYPE_IPV4)
        return parse_ipv4(f + off, caplen - off, t);
    if (type == ETHERTYPE_IPV6)
        return parse_ipv6(f + off, caplen - off, t);
    return -1;
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t flow_id(const struct flow_tuple *t, uint64_t salt)
{
    size_t alen = t->f.family == 4 ? 4 : 16;
    uint8_t a[18], b[18];
    memcpy(a, t->f.src, alen);
    a[alen] = (uint8_t)(t->f.sport >> 8);
    a[alen + 1] = (uint8_t)t->f.sport;
    memcpy(b, t->f.dst, alen);
    b[alen] = (uint8_t)(t->f.dport >> 8);
    b[alen + 1] = (uint8_t)t->f.dport;
    const uint8_t *lo = a, *hi = b;
    if (memcmp(a, b, alen + 2) > 0) {
        lo = b;
        hi = a;
    }
    uint8_t head[2] = {(uint8_t)t->f.family, t->f.proto};
    uint64_t h = fnv(FNV_OFFSET, &salt, sizeof(salt));
    h = fnv(h, head, sizeof(head));
    h = fnv(h, lo, alen + 2);
    return fnv(h, hi, alen + 2);
}

void flow_describe(const struct podtable *pods, uint64_t salt, const struct flow_tuple *t,
                   uint32_t direction, struct ncap_flow_meta *m, struct flow_far *far_out)
{
    memset(m, 0, sizeof(*m));
    if (far_out)
        far_out->family = 0;
    if (!t || !t->f.family)
        return;
    m->flow_id = flow_id(t, salt);
    m->present |= 1u << NCAP_TLV_FLOW_ID;
    if (direction == NCAP_DIR_UNKNOWN)
        return;
    const uint8_t *far = direction == NCAP_DIR_OUT ? t->f.dst : t->f.src;
    if (far_out) {
        far_out->family = t->f.family;
        memcpy(far_out->addr, far, t->f.family == 4 ? 4 : 16);
    }
    const struct ncap_pod_meta *peer = podtable_by_addr(pods, t->f.family, far);
    if (peer) {
        ncap_flow_meta_set(m, NCAP_TLV_PEER_NAMESPACE, peer->namespace_);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_POD, peer->pod);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_WORKLOAD_KIND, peer->workload_kind);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_WORKLOAD, peer->workload_name);
        return;
    }
    /* Inside the pod's netns a service's traffic still carries its ClusterIP: kube-proxy
     * translates it on the node side of the veth. */
    const struct service *svc = podtable_service_by_addr(pods, t->f.family, far);
    if (svc) {
        ncap_flow_meta_set(m, NCAP_TLV_PEER_NAMESPACE, svc->namespace_);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_SERVICE, svc->name);
    }
}
