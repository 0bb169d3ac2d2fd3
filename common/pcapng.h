/*
 * pcapng.h - the pcapng subset netcap writes and reads (DESIGN.md §2).
 *
 * Writer: each ncap_pcapng_write_* appends one complete block to an ncap_buf, in host byte order
 * (Wireshark rejects byte-swapped sections from a pipe). Blocks are built whole so a caller can
 * move them into a ring or a socket atomically: a block is either delivered or counted as lost.
 *
 * Reader: ncap_pcapng_next() cuts one block from a byte range without copying, and the
 * ncap_pcapng_parse_* functions decode the blocks netcap uses into views that point into that
 * range. Only little-endian/host-order sections are accepted; everything is bounds-checked
 * because the reader is fed data from the network (the extcap) and from fuzzers.
 */
#ifndef NCAP_PCAPNG_H
#define NCAP_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncap.h"

#define NCAP_BT_SHB 0x0A0D0D0Au
#define NCAP_BT_IDB 0x00000001u
#define NCAP_BT_NRB 0x00000004u
#define NCAP_BT_ISB 0x00000005u
#define NCAP_BT_EPB 0x00000006u
#define NCAP_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* Largest block the reader accepts (Wireshark's own limit plus headers and options). */
#define NCAP_PCAPNG_MAX_BLOCK (NCAP_SNAPLEN_MAX + 65536u)

/* Option codes used by netcap. */
#define NCAP_OPT_ENDOFOPT 0
#define NCAP_OPT_COMMENT 1
#define NCAP_OPT_SHB_HARDWARE 2
#define NCAP_OPT_SHB_OS 3
#define NCAP_OPT_SHB_USERAPPL 4
#define NCAP_OPT_IF_NAME 2
#define NCAP_OPT_IF_DESCRIPTION 3
#define NCAP_OPT_IF_TSRESOL 9
#define NCAP_OPT_EPB_FLAGS 2
#define NCAP_OPT_ISB_STARTTIME 2
#define NCAP_OPT_ISB_ENDTIME 3
#define NCAP_OPT_ISB_IFRECV 4
#define NCAP_OPT_ISB_IFDROP 5
#define NCAP_OPT_ISB_FILTERACCEPT 6
#define NCAP_OPT_ISB_OSDROP 7
#define NCAP_NRB_END 0
#define NCAP_NRB_IPV4 1
#define NCAP_NRB_IPV6 2

/* A growable byte buffer. Zero-initialise it; free with ncap_buf_free(). */
typedef struct ncap_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} ncap_buf;

int ncap_buf_reserve(ncap_buf *b, size_t extra, char *err);
void ncap_buf_free(ncap_buf *b);

/* ---- writer ---- */

struct ncap_pcapng_idb {
    uint16_t linktype;       /* NCAP_LINKTYPE_* */
    uint32_t snaplen;
    const char *name;        /* if_name: "k8s/<ns>/<pod>/<iface>", may be NULL */
    const char *description; /* if_description: the pod-metadata JSON (meta.h), may be NULL */
    uint8_t tsresol;         /* if_tsresol; 9 = nanoseconds; 0 = omit (microseconds) */
};

struct ncap_pcapng_epb {
    uint32_t if_id;
    uint64_t ts;             /* in the interface's tsresol units */
    uint32_t caplen;
    uint32_t origlen;
    const uint8_t *data;
    uint32_t flags;          /* epb_flags; 0 = omit the option */
    const uint8_t *custom;   /* payload of the NCAP_PEN custom option (tlv.h); NULL = none */
    size_t custom_len;
};

struct ncap_pcapng_isb {
    uint32_t if_id;
    uint64_t ts;             /* tsresol units, as the EPBs */
    uint64_t starttime;      /* 0 = omit */
    uint64_t endtime;        /* 0 = omit */
    uint64_t ifrecv;         /* packets the kernel saw (pcap_stats ps_recv) */
    uint64_t ifdrop;         /* kernel drops (ps_drop + ps_ifdrop) */
    uint64_t filteraccept;   /* packets accepted by the filter */
    uint64_t osdrop;         /* agent + transport drops */
    const char *comment;     /* opt_comment, or NULL (netcap: why a capture ended early) */
};

/* A final ISB's comment that starts with this says why the agent ended the capture early. */
#define NCAP_END_NOTE_PREFIX "netcap: "

/* Each returns 0, or -1 with err filled (allocation failure, field too long). */
int ncap_pcapng_write_shb(ncap_buf *b, const char *userappl, char *err);
int ncap_pcapng_write_idb(ncap_buf *b, const struct ncap_pcapng_idb *idb, char *err);
int ncap_pcapng_write_epb(ncap_buf *b, const struct ncap_pcapng_epb *epb, char *err);
int ncap_pcapng_write_isb(ncap_buf *b, const struct ncap_pcapng_isb *isb, char *err);
/* One name record: an IPv4 (family 4, addr[0..3]) or IPv6 (family 6) address, network order. */
struct ncap_nrb_record {
    int family;
    uint8_t addr[16];
    const char *name;
};
/* NRB with n records. */
int ncap_pcapng_write_nrb(ncap_buf *b, const struct ncap_nrb_record *r, size_t n, char *err);

/* Exact size ncap_pcapng_write_epb() will append (to reserve ring space up front). */
size_t ncap_pcapng_epb_size(uint32_t caplen, uint32_t flags, size_t custom_len);

/* ---- reader ---- */

struct ncap_pcapng_block {
    uint32_t type;
    uint32_t total_len;      /* bytes of the whole block, header and trailer included */
    const uint8_t *body;     /* after type and length, before the trailing length */
    size_t body_len;
};

/*
 * Cut the next block from [p, p+len).
 * Returns 1 and fills *blk when a whole block is there, 0 when more bytes are needed (*need, if
 * not NULL, gets the total the block requires, or 12 if even the header is incomplete), -1 on a
 * malformed block (err says why).
 */
int ncap_pcapng_next(const uint8_t *p, size_t len, struct ncap_pcapng_block *blk, size_t *need,
                     char *err);

/* Options: call cb for each option until opt_endofopt or the end; stop early if cb returns
 * non-zero (that value is returned). Returns -1 with err on a truncated option. */
typedef int (*ncap_pcapng_option_cb)(uint16_t code, const uint8_t *val, uint16_t len, void *ud);
int ncap_pcapng_foreach_option(const uint8_t *opts, size_t len, ncap_pcapng_option_cb cb, void *ud,
                               char *err);

struct ncap_pcapng_shb_view {
    uint16_t major, minor;
    const char *userappl;    /* NOT NUL-terminated: use userappl_len */
    size_t userappl_len;
};

struct ncap_pcapng_idb_view {
    uint16_t linktype;
    uint32_t snaplen;
    const char *name;        /* NOT NUL-terminated */
    size_t name_len;
    const char *description; /* NOT NUL-terminated */
    size_t description_len;
    uint8_t tsresol;         /* 6 when absent */
};

struct ncap_pcapng_epb_view {
    uint32_t if_id;
    uint64_t ts;
    uint32_t caplen, origlen;
    const uint8_t *data;
    uint32_t flags;
    bool has_flags;
    const uint8_t *custom;   /* payload after the PEN of the first NCAP_PEN custom option */
    size_t custom_len;
};

struct ncap_pcapng_isb_view {
    uint32_t if_id;
    uint64_t ts;
    uint64_t starttime, endtime, ifrecv, ifdrop, filteraccept, osdrop;
    uint32_t present;        /* bit (1 << option code) for each option seen */
};

int ncap_pcapng_parse_shb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_shb_view *v,
                          char *err);
int ncap_pcapng_parse_idb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_idb_view *v,
                          char *err);
int ncap_pcapng_parse_epb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_epb_view *v,
                          char *err);
int ncap_pcapng_parse_isb(const struct ncap_pcapng_block *blk, struct ncap_pcapng_isb_view *v,
                          char *err);

#endif
