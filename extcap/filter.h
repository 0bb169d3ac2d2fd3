/*
 * filter.h - checking capture filters before anything reaches a cluster.
 *
 * Wireshark's capture-filter check runs `--extcap-capture-filter F` without --capture and
 * colours the filter field from the answer: no output means valid, otherwise the first line on
 * stdout is the reason. The capture verb checks the whole program (structured options AND the
 * free filter) the same way before it creates a PodCapture or calls an agent.
 *
 * The check compiles with libpcap for Ethernet, as the agent does inside the pod's network
 * namespace. The agent still compiles it again there; a filter naming a pod-local interface
 * address (e.g. "host $(pod IP)") compiles the same either way. The Windows build has no libpcap
 * and accepts every filter here (the agent's 400 BadFilter then carries libpcap's message).
 */
#ifndef NETCAP_EXTCAP_FILTER_H
#define NETCAP_EXTCAP_FILTER_H

#include <stdio.h>

/* 0 if libpcap compiles bpf (or there is no libpcap), else -1 with err holding
 * bad capture filter "<bpf>": <libpcap's message>. */
int filter_check(const char *bpf, char *err);

/* Prints nothing if filter is acceptable, else one line saying why. */
void filter_validate(FILE *out, const char *filter);

#endif
