/*
 * podcapture.h - the PodCapture object that authorizes a cluster-mode capture (DESIGN.md §4,
 * API.md "The PodCapture custom resource").
 *
 * The extcap creates it in the targets' namespace (RBAC "create podcaptures" there is the
 * permission) with the SHA-256 of a fresh random stream key; the agents stream only to a
 * request that shows the key. The object is deleted when the capture ends, whatever the end.
 */
#ifndef NETCAP_EXTCAP_PODCAPTURE_H
#define NETCAP_EXTCAP_PODCAPTURE_H

#include "kube.h"
#include "options.h"

/* 32 random bytes as 64 lowercase hex digits: only the extcap and the agents' check see it. */
#define PODCAPTURE_KEY_HEX_LEN 64

struct podcapture {
    char *ns;
    char *name; /* the name the API server generated */
    char key[PODCAPTURE_KEY_HEX_LEN + 1];
};

/* Makes a stream key and creates the object for pod (or else selector) in ns, with the
 * interface, filter and limits of o. 0, or -1 with err (the API server's refusal, e.g. RBAC). */
int podcapture_create(struct ncap_kube *k, const char *ns, const char *pod, const char *selector,
                      const struct options *o, long timeout_ms, struct podcapture *pc, char *err);

/* Best-effort DELETE (logged, never reported), then wipes the key and frees pc's strings. */
void podcapture_delete(struct ncap_kube *k, struct podcapture *pc, long timeout_ms);

/* The malloc'd stream request body {"podCapture":{namespace,name},"streamKey":key}; wipe it
 * (it holds the key) before freeing. NULL when memory runs out. */
char *podcapture_stream_body(const struct podcapture *pc);

#endif
