/*
 * names.h - pcapng name records (NRB) for a capture: pod IP -> "<pod>.<namespace>",
 * Service ClusterIP -> "<service>.<namespace>.svc".
 *
 * Wireshark adds NRB names to its host table as it reads them (also live, from a pipe), so with
 * network name resolution on, ip.src_host and the address columns show pods. The capture's own
 * pods are named in the stream's first blocks; a peer is named just before the first packet that
 * involves it. Each capture thread keeps its own bounded set of the addresses it has named
 * (NAMES_MAX): past that, no more records, never more memory.
 */
#ifndef AGENT_NAMES_H
#define AGENT_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "meta.h"
#include "pcapng.h"

#define NAMES_MAX 2048

struct names;

struct names *names_new(void);
void names_free(struct names *n);

/* True the first time (family, addr) is offered, while fewer than NAMES_MAX were taken. */
bool names_take(struct names *n, int family, const uint8_t *addr);

/* Append to b one NRB naming every address of pod m as "<pod>.<namespace>" (marking them taken
 * in n when n is not NULL). Nothing is written when the pod has no parsable address. 0, or -1. */
int names_write_pod(ncap_buf *b, struct names *n, const struct ncap_pod_meta *m, char *err);

/* Append to b one NRB naming one address. 0, or -1 with err. */
int names_write_one(ncap_buf *b, int family, const uint8_t *addr, const char *name, char *err);

#endif
