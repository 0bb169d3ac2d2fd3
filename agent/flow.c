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

struct tuple {
    int family; /* 4 or 6 */
    uint8_t proto;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
};

uint32_t flow_direction(const uint8_t mac[6], const uint8_t *frame, size_t caplen)
{
    if (caplen < 12)
        return NCAP_DIR_UNKNOWN;
    return memcmp(frame + 6, mac, 6) == 0 ? NCAP_DIR_OUT : NCAP_DIR_IN;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int has_ports(uint8_t proto)
{
    return proto == 6 || proto == 17 || proto == 132 || proto == 136; /* TCP UDP SCTP UDP-Lite */
}

static void read_ports(struct tuple *t, const uint8_t *l4, size_t left)
{
    if (has_ports(t->proto) && left >= 4) {
        t->sport = be16(l4);
        t->dport = be16(l4 + 2);
    }
}

static int parse_ipv4(const uint8_t *p, size_t left, struct tuple *t)
{
    if (left < 20 || p[0] >> 4 != 4)
        return -1;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > left)
        return -1;
    t->family = 4;
    t->proto = p[9];
    memcpy(t->src, p + 12, 4);
    memcpy(t->dst, p + 16, 4);
    if ((be16(p + 6) & 0x1fff) == 0) /* later fragments carry no ports */
        read_ports(t, p + ihl, left - ihl);
    return 0;
}

static int parse_ipv6(const uint8_t *p, size_t left, struct tuple *t)
{
    if (left < 40 || p[0] >> 4 != 6)
        return -1;
    t->family = 6;
    memcpy(t->src, p + 8, 16);
    memcpy(t->dst, p + 24, 16);
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
            t->proto = h[0];
            return 0; /* a later fragment: no ports */
        }
        if (hlen > left - off)
            return 0;
        next = h[0];
        off += hlen;
    }
    t->proto = next;
    read_ports(t, p + off, left - off);
    return 0;
}

static int parse_tuple(const uint8_t *f, size_t caplen, struct tuple *t)
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

static uint64_t flow_id(const struct tuple *t, uint64_t salt)
{
    size_t alen = t->family == 4 ? 4 : 16;
    uint8_t a[18], b[18];
    memcpy(a, t->src, alen);
    a[alen] = (uint8_t)(t->sport >> 8);
    a[alen + 1] = (uint8_t)t->sport;
    memcpy(b, t->dst, alen);
    b[alen] = (uint8_t)(t->dport >> 8);
    b[alen + 1] = (uint8_t)t->dport;
    const uint8_t *lo = a, *hi = b;
    if (memcmp(a, b, alen + 2) > 0) {
        lo = b;
        hi = a;
    }
    uint8_t head[2] = {(uint8_t)t->family, t->proto};
    uint64_t h = fnv(FNV_OFFSET, &salt, sizeof(salt));
    h = fnv(h, head, sizeof(head));
    h = fnv(h, lo, alen + 2);
    return fnv(h, hi, alen + 2);
}

void flow_describe(const struct podtable *pods, uint64_t salt, const uint8_t *frame, size_t caplen,
                   uint32_t direction, struct ncap_flow_meta *m, struct flow_far *far_out)
{
    memset(m, 0, sizeof(*m));
    if (far_out)
        far_out->family = 0;
    struct tuple t;
    if (parse_tuple(frame, caplen, &t) < 0)
        return;
    m->flow_id = flow_id(&t, salt);
    m->present |= 1u << NCAP_TLV_FLOW_ID;
    if (direction == NCAP_DIR_UNKNOWN)
        return;
    const uint8_t *far = direction == NCAP_DIR_OUT ? t.dst : t.src;
    if (far_out) {
        far_out->family = t.family;
        memcpy(far_out->addr, far, t.family == 4 ? 4 : 16);
    }
    const struct ncap_pod_meta *peer = podtable_by_addr(pods, t.family, far);
    if (peer) {
        ncap_flow_meta_set(m, NCAP_TLV_PEER_NAMESPACE, peer->namespace_);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_POD, peer->pod);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_WORKLOAD_KIND, peer->workload_kind);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_WORKLOAD, peer->workload_name);
        return;
    }
    /* Inside the pod's netns a service's traffic still carries its ClusterIP: kube-proxy
     * translates it on the node side of the veth. */
    const struct service *svc = podtable_service_by_addr(pods, t.family, far);
    if (svc) {
        ncap_flow_meta_set(m, NCAP_TLV_PEER_NAMESPACE, svc->namespace_);
        ncap_flow_meta_set(m, NCAP_TLV_PEER_SERVICE, svc->name);
    }
}
