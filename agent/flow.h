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

/* The far end's address of an IP frame (family 0 when unknown). */
struct flow_far {
    int family; /* 4, 6 or 0 */
    uint8_t addr[16];
};

/* Fill m (zeroed first) with the flow id and, when the far end is a known pod or service
 * ClusterIP, its identity; far (if not NULL) gets the far end's address. The strings point into
 * the snapshot pods, which must outlive m. */
void flow_describe(const struct podtable *pods, uint64_t salt, const uint8_t *frame, size_t caplen,
                   uint32_t direction, struct ncap_flow_meta *m, struct flow_far *far);

#endif
