/* pktsock.c - TPACKET_V3 reading of a packet socket made by the broker (see pktsock.h). */
#include "pktsock.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ncap.h"

/* A multiple of the page size, larger than any snaplen (NCAP_SNAPLEN_MAX + the frame header).
 * 512 KiB, not 1 MiB: the kernel allocates each block as one run of pages, and a fragmented
 * node may have to compact memory for 1 MiB runs. Measured here: a 128 MiB ring of 1 MiB blocks
 * took 199 ms to set up the first time and 22 ms after, of 512 KiB blocks 22-26 ms each time. */
#define BLOCK_SIZE (512u << 10)
_Static_assert(BLOCK_SIZE >= NCAP_SNAPLEN_MAX + 4096, "a block must hold the largest frame");
#define FRAME_SIZE 2048u /* only sizes the kernel's frame count in V3 */
#define VLAN_LEN 4

int pktsock_open(struct pktsock *p, int fd, size_t buffer, unsigned timeout_ms,
                 const struct bpf_program *prog, char *err)
{
    memset(p, 0, sizeof(*p));
    p->fd = fd;
    p->map = MAP_FAILED;
    int v = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
        return ncap_fail(err, "the kernel has no TPACKET_V3 packet ring: %s", strerror(errno));
    p->timeout_ms = timeout_ms;
    p->block_size = BLOCK_SIZE;
    p->block_nr = (unsigned)(buffer / BLOCK_SIZE);
    if (p->block_nr < 2)
        p->block_nr = 2;
    struct tpacket_req3 req = {
        .tp_block_size = p->block_size,
        .tp_block_nr = p->block_nr,
        .tp_frame_size = FRAME_SIZE,
        .tp_frame_nr = p->block_size / FRAME_SIZE * p->block_nr,
        .tp_retire_blk_tov = timeout_ms,
    };
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        return ncap_fail(err, "cannot set up the packet ring (%u MiB): %s",
                         p->block_nr * (p->block_size >> 20), strerror(errno));
    p->map_len = (size_t)p->block_size * p->block_nr;
    p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
    if (p->map == MAP_FAILED) /* MAP_LOCKED can fail on RLIMIT_MEMLOCK: the ring works unlocked */
        p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p->map == MAP_FAILED)
        return ncap_fail(err, "cannot map the packet ring: %s", strerror(errno));
    /* struct bpf_insn (libpcap) and struct sock_filter (the kernel) are the same layout. */
    struct sock_fprog fprog = {.len = (unsigned short)prog->bf_len,
                               .filter = (struct sock_filter *)prog->bf_insns};
    if (prog->bf_len > BPF_MAXINSNS)
        return ncap_fail(err,
                         "the capture filter compiles to %u instructions, more than the "
                         "kernel's %d",
                         prog->bf_len, BPF_MAXINSNS);
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
        return ncap_fail(err, "the kernel refused the capture filter: %s", strerror(errno));
    return 0;
}

/* The packet as libpcap would give it: with the VLAN tag the kernel stripped put back. */
static const uint8_t *with_vlan(struct pktsock *p, const struct tpacket3_hdr *h,
                                const uint8_t *data, uint32_t *caplen, uint32_t *len)
{
    if (!(h->tp_status & TP_STATUS_VLAN_VALID) || *caplen < 2 * ETH_ALEN)
        return data;
    if (!p->vlan_buf && !(p->vlan_buf = malloc(BLOCK_SIZE + VLAN_LEN)))
        return data;
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint16_t tci = h->hv1.tp_vlan_tci;
    memcpy(p->vlan_buf, data, 2 * ETH_ALEN);
    p->vlan_buf[12] = (uint8_t)(tpid >> 8);
    p->vlan_buf[13] = (uint8_t)tpid;
    p->vlan_buf[14] = (uint8_t)(tci >> 8);
    p->vlan_buf[15] = (uint8_t)tci;
    memcpy(p->vlan_buf + 2 * ETH_ALEN + VLAN_LEN, data + 2 * ETH_ALEN, *caplen - 2 * ETH_ALEN);
    *caplen += VLAN_LEN;
    *len += VLAN_LEN;
    return p->vlan_buf;
}

static struct tpacket_block_desc *current_block(const struct pktsock *p)
{
    return (struct tpacket_block_desc *)(p->map + (size_t)p->cur * p->block_size);
}

int pktsock_pending(const struct pktsock *p)
{
    if (p->left > 0)
        return 1;
    return (__atomic_load_n(&current_block(p)->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
            TP_STATUS_USER) != 0;
}

int pktsock_dispatch(struct pktsock *p, pktsock_cb cb, void *user)
{
    int n = 0;
    for (;;) {
        struct tpacket_block_desc *bd = current_block(p);
        if (p->left == 0) { /* a new block, if the kernel has handed one over */
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
                return n;
            p->left = bd->hdr.bh1.num_pkts;
            p->at = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
        }
        int verdict = PKTSOCK_NEXT;
        while (p->left > 0) {
            const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)p->at;
            uint32_t caplen = h->tp_snaplen, len = h->tp_len;
            const uint8_t *data = with_vlan(p, h, p->at + h->tp_mac, &caplen, &len);
            verdict = cb(user, (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec, data, caplen, len);
            if (verdict == PKTSOCK_AGAIN)
                return n; /* this packet again next time; the block stays ours */
            n++;
            p->left--;
            p->at += h->tp_next_offset;
            if (verdict == PKTSOCK_STOP && p->left > 0)
                return n; /* the rest of the block stays ours (pktsock_discard counts it) */
        }
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        p->cur = (p->cur + 1) % p->block_nr;
        if (verdict == PKTSOCK_STOP)
            return n;
    }
}

uint64_t pktsock_discard(struct pktsock *p)
{
    if (p->fd < 0 || !p->map || p->map == MAP_FAILED)
        return 0;
    struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog none = {.len = 1, .filter = &drop};
    setsockopt(p->fd, SOL_SOCKET, SO_ATTACH_FILTER, &none, sizeof(none));
    /* the retire timer hands over a partly filled block after timeout_ms */
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    uint64_t n = 0;
    for (int quiet = 0; quiet < 2;) {
        if (!pktsock_pending(p) && poll(&pfd, 1, (int)p->timeout_ms + 20) <= 0) {
            quiet++;
            continue;
        }
        struct tpacket_block_desc *bd = current_block(p);
        if (p->left == 0) {
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
                quiet++;
                continue;
            }
            p->left = bd->hdr.bh1.num_pkts;
        }
        n += p->left;
        p->left = 0;
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        p->cur = (p->cur + 1) % p->block_nr;
        quiet = 0;
    }
    return n;
}

void pktsock_stats(struct pktsock *p, uint64_t *recv, uint64_t *drops)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    if (p->fd >= 0 && getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        /* tp_packets counts the dropped ones too, as libpcap's ps_recv does on Linux */
        p->recv += st.tp_packets;
        p->drops += st.tp_drops;
    }
    *recv = p->recv;
    *drops = p->drops;
}

void pktsock_close(struct pktsock *p)
{
    if (p->map && p->map != MAP_FAILED)
        munmap(p->map, p->map_len);
    if (p->fd >= 0)
        close(p->fd);
    free(p->vlan_buf);
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}
