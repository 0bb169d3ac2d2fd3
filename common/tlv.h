/*
 * tlv.h - the per-packet flow record carried in the EPB custom option (code 2989, NCAP_PEN).
 *
 * Layout, all integers little-endian:
 *     u8 version (NCAP_TLV_VERSION) | u8 reserved (0) | { u16 type | u16 length | value } *
 * Strings are UTF-8 without terminator. Readers skip unknown types, so fields can be added
 * without a version bump; a different version byte is refused. The decoder never allocates:
 * string views point into the input, which must outlive them.
 */
#ifndef NCAP_TLV_H
#define NCAP_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "ncap.h"

enum ncap_tlv_type {
    NCAP_TLV_FLOW_ID = 1,            /* u64: stable per 5-tuple (both directions) and capture */
    NCAP_TLV_PEER_NAMESPACE = 2,     /* the other endpoint, when the agent knows it */
    NCAP_TLV_PEER_POD = 3,
    NCAP_TLV_PEER_WORKLOAD_KIND = 4,
    NCAP_TLV_PEER_WORKLOAD = 5,
    NCAP_TLV_PEER_SERVICE = 6,
};

struct ncap_str {
    const char *ptr; /* NOT NUL-terminated; NULL when absent */
    uint16_t len;
};

struct ncap_flow_meta {
    uint32_t present; /* bit (1 << type) for each field present */
    uint64_t flow_id;
    struct ncap_str peer_namespace;
    struct ncap_str peer_pod;
    struct ncap_str peer_workload_kind;
    struct ncap_str peer_workload;
    struct ncap_str peer_service;
};

/* Largest record ncap_tlv_encode() can produce. */
#define NCAP_TLV_MAX 1024

/* Encode into dst[cap]; returns bytes written, or -1 with err when it does not fit. */
int ncap_tlv_encode(const struct ncap_flow_meta *m, uint8_t *dst, size_t cap, char *err);
/* Decode; 0, or -1 with err (truncated, bad version, wrong fixed-size length). */
int ncap_tlv_decode(const uint8_t *src, size_t len, struct ncap_flow_meta *m, char *err);

/* Set a string field from a NUL-terminated string (NULL or "" leaves it absent). */
void ncap_flow_meta_set(struct ncap_flow_meta *m, enum ncap_tlv_type t, const char *s);

#endif
