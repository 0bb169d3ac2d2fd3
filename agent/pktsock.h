/*
 * pktsock.h - read a Linux packet socket through a TPACKET_V3 ring, without privileges.
 *
 * The privileged broker (broker.h) creates the packet socket inside the pod's network
 * namespace, bound to the pod's interface and with a filter that drops everything, and hands
 * the descriptor over. Everything after that needs no capability: the ring (PACKET_RX_RING +
 * mmap), the real BPF program (SO_ATTACH_FILTER, compiled by libpcap offline), the reading
 * and the kernel's counters (PACKET_STATISTICS). This is what libpcap does on Linux, minus the
 * socket creation, which libpcap cannot leave to someone else.
 *
 * Because the socket starts with a drop-all filter, nothing queues before the real filter
 * is in place (no unfiltered packet can slip through, as libpcap also ensures).
 * VLAN tags the kernel took off (TP_STATUS_VLAN_VALID) are put back, as libpcap does.
 */
#ifndef AGENT_PKTSOCK_H
#define AGENT_PKTSOCK_H

#include <stddef.h>
#include <stdint.h>

struct bpf_program;

struct pktsock {
    int fd;
    uint8_t *map;
    size_t map_len;
    unsigned block_size, block_nr, cur, timeout_ms;
    uint64_t recv, drops; /* kernel counters, summed (PACKET_STATISTICS resets on each read) */
    /* A block the caller is part-way through (see PKTSOCK_AGAIN): next packet and how many
     * are left in it; left == 0 when none. */
    const uint8_t *at;
    uint32_t left;
    uint8_t *vlan_buf; /* a packet with its VLAN tag put back */
};

/* What the callback answers for each packet. */
enum {
    PKTSOCK_NEXT = 0,  /* done with it, go on */
    PKTSOCK_STOP = 1,  /* done with it; return now (the rest of the ring stays for
                        * pktsock_discard() to count) */
    PKTSOCK_AGAIN = 2, /* not taken: return now and deliver it again on the next call. The
                        * block stays the caller's, so the kernel's ring keeps the packets
                        * (and the kernel drops, and counts, only when its ring is full too). */
};
typedef int (*pktsock_cb)(void *user, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                          uint32_t len);

/* Take over fd (closed by pktsock_close from now on, also on failure): map a ring of about
 * buffer bytes whose blocks are handed over at least every timeout_ms, then attach prog.
 * 0, or -1 with err. */
int pktsock_open(struct pktsock *p, int fd, size_t buffer, unsigned timeout_ms,
                 const struct bpf_program *prog, char *err);

/* Deliver every packet of the blocks the kernel has handed over, until the callback says
 * otherwise; the number of packets it took. (A socket error shows as POLLERR on p->fd.) */
int pktsock_dispatch(struct pktsock *p, pktsock_cb cb, void *user);

/* Whether a packet is waiting (handed over by the kernel, not yet taken), so that the caller
 * should call pktsock_dispatch() without waiting for the descriptor to be readable. */
int pktsock_pending(const struct pktsock *p);

/* At the end of a capture: let nothing more in, wait for the kernel to hand over its partly
 * filled block, and give back every packet still in the ring (a held one included) without
 * delivering it. Returns how many there were, for the caller to count as dropped. */
uint64_t pktsock_discard(struct pktsock *p);

/* Packets the kernel received for this socket and dropped (ring full) so far. */
void pktsock_stats(struct pktsock *p, uint64_t *recv, uint64_t *drops);

void pktsock_close(struct pktsock *p);

#endif
