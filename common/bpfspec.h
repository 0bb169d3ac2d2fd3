/*
 * bpfspec.h - structured capture filters ("match", API.md) turned into BPF text.
 *
 * A user picks protocols, ports, hosts, TCP flags, ICMP types and the IP version in the extcap;
 * the agent receives them as a JSON object, checks every value against a fixed grammar (so no
 * typed text can reach the BPF compiler except the user's own free filter), and compiles
 *
 *     (kind1) and (kind2) and ... and (user filter)
 *
 * as ONE program inside the pod's network namespace. Values of one kind are OR-ed.
 *
 * The same code runs in the extcap (to build the object from its options and to check a filter
 * before any API call) and in the agent (to check and compile what it received).
 */
#ifndef NCAP_BPFSPEC_H
#define NCAP_BPFSPEC_H

#include <cJSON.h>

/* The keys of a "match" object, in the order their BPF is written. */
#define NCAP_MATCH_KEYS \
    "protocols", "ipVersion", "hosts", "ports", "srcPorts", "dstPorts", "tcpFlags", "icmpTypes", \
        "icmp6Types"

/* Check match (NULL = nothing) and write the combined BPF of match and the user's filter (NULL or
 * "" = none) into a malloc'd *out ("" when both are empty). field names the object in sentences
 * ("match", "spec.match"). 0, or -1 with err naming the offending value. */
int ncap_match_to_bpf(const cJSON *match, const char *user_filter, const char *field, char **out,
                      char *err);

/* The extcap's option texts, each a comma- or space-separated list; NULL or "" = not given. */
struct ncap_match_text {
    const char *protocols;  /* tcp,udp,icmp,icmp6,sctp,arp */
    const char *ip_version; /* "4", "6", "any" */
    const char *hosts;      /* addresses or CIDRs, IPv4 or IPv6 */
    const char *ports, *src_ports, *dst_ports; /* 80,8000-8080 */
    const char *tcp_flags;  /* syn,ack,fin,rst,psh,urg */
    const char *icmp_types, *icmp6_types; /* numbers 0-255 */
};

/* The "match" object for t, or *out = NULL when t gives nothing. Values are checked as the agent
 * checks them, and the sentence names the extcap option (--port ...). 0, or -1 with err. */
int ncap_match_from_text(const struct ncap_match_text *t, cJSON **out, char *err);

#endif
