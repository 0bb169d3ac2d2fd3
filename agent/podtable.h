/*
 * podtable.h - the pods the agent knows, from --pods-file (a Kubernetes PodList).
 *
 * Two views of one list: the pods on this node (the only ones a client may capture), and an
 * address map over the pods of every node, which turns the far end of each packet into a peer
 * identity. The map is a sorted array searched with bsearch: built once, no allocation per
 * packet. An address claimed by two pods (hostNetwork pods share the node's) names no peer.
 */
#ifndef AGENT_PODTABLE_H
#define AGENT_PODTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct pod_addr {
    uint8_t key[17]; /* address family (4 or 6), then the address, zero-padded */
    const struct ncap_pod_meta *pod;
};

struct podtable {
    char *node;
    struct ncap_pod_meta *pods; /* every pod in the file */
    size_t n_pods;
    struct pod_addr *addrs; /* sorted by key */
    size_t n_addrs;
};

/* 0, or -1 with err. */
int podtable_load(struct podtable *t, const char *path, const char *node, char *err);
void podtable_free(struct podtable *t);

/* The pod namespace/name if it runs on this node; else NULL with err
 * "pod <ns>/<name> is not on node <node>". */
const struct ncap_pod_meta *podtable_find_local(const struct podtable *t, const char *namespace_,
                                                const char *name, char *err);

/* The pod that owns an address (family 4: 4 bytes, 6: 16 bytes), or NULL. */
const struct ncap_pod_meta *podtable_by_addr(const struct podtable *t, int family,
                                             const uint8_t *addr);

/* A PodList JSON of this node's pods (malloc'd), or NULL with err. */
char *podtable_local_json(const struct podtable *t, char *err);

#endif
