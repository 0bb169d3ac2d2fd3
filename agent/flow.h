/*
 * flow.h - what the agent learns from one Ethernet frame: its direction and its flow record.
 *
 * Direction compares the frame's source MAC with the capture interface's own MAC. The flow id is
 * a 64-bit FNV-1a hash of the IP 5-tuple with the two endpoints in sorted order (so both
 * directions of a conversation share it) and a per-capture salt (so ids do not link captures).
 * The peer is the pod that owns the far end's address, else the service whose ClusterIP it is.
 * Runs once per packet: no allocation, no locks, bounded parsing of untrusted bytes.
 */
#ifndef AGENT_FLOW_H
#define AGENT_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "podtable.h"
#include "tlv.h"

/* NCAP_DIR_OUT when the frame's source is mac, NCAP_DIR_IN otherwise, NCAP_DIR_UNKNOWN when the
 * frame is too short to tell. */
uint32_t flow_direction(const uint8_t mac[6], const uint8_t *frame, size_t caplen);

/* An IP frame's 5-tuple, in a fixed layout with no padding of its own, so that two tuples can be
 * compared word by word (flow_tuple_equal): consecutive packets of one flow are the common case,
 * and the capture thread reuses the last packet's flow record when the tuple repeats. */
struct flow_tuple {
    union {
        struct {
            uint8_t family; /* 4 or 6 */
            uint8_t proto;
            uint16_t sport, dport; /* host order; 0 without ports */
            uint16_t zero;
            uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes, the rest 0 */
        } f;
        uint64_t w[5];
    };
};

/* Parse the frame's Ethernet (up to two VLAN tags) and IPv4/IPv6 headers: 0, or -1 when it is
 * not an IP frame (t is then all zero). */
int flow_parse(const uint8_t *frame, size_t caplen, struct flow_tuple *t);

static inline int flow_tuple_equal(const struct flow_tuple *a, const struct flow_tuple *b)
{
    return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3]) |
            (a->w[4] ^ b->w[4])) == 0;
}

/* The far end's address of an IP frame (family 0 when unknown). */
struct flow_far {
    int family; /* 4, 6 or 0 */
    uint8_t addr[16];
};

/* Fill m (zeroed first) with the flow id of tuple t (NULL: not an IP frame, nothing to say) and,
 * when the far end is a known pod or service ClusterIP, its identity; far (if not NULL) gets the
 * far end's address. The strings point into the snapshot pods, which must outlive m. */
void flow_describe(const struct podtable *pods, uint64_t salt, const struct flow_tuple *t,
                   uint32_t direction, struct ncap_flow_meta *m, struct flow_far *far);

#endif
