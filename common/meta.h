/*
 * meta.h - a pod's identity: the per-interface metadata netcap attaches to every capture.
 *
 * Three shapes of the same record:
 *   - struct ncap_pod_meta, in memory;
 *   - the IDB if_description JSON (DESIGN.md §2), compact and versioned:
 *       {"v":1,"namespace":"shop","pod":"frontend","uid":"…","node":"node-1","container":"app",
 *        "interface":"eth0","workload":{"kind":"Deployment","name":"frontend"},
 *        "labels":{"app":"frontend"},"ips":["10.1.0.5"]}
 *     written by the agent, read by the dissector and the tests;
 *   - a Kubernetes Pod object (`kubectl get pod -o json`), read from a PodList by the agent.
 * Unknown JSON keys are ignored (newer writers may add some); a different "v" is refused.
 */
#ifndef NCAP_META_H
#define NCAP_META_H

#include <stdbool.h>
#include <stddef.h>

#include "ncap.h"

struct ncap_kv {
    char *key;
    char *value;
};

struct ncap_pod_meta {
    char *namespace_;
    char *pod;
    char *uid;
    char *node;
    char *container;
    char *interface;       /* interface inside the pod; set by the capturer, not by Kubernetes */
    char *workload_kind;   /* "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", … */
    char *workload_name;
    struct ncap_kv *labels;
    size_t n_labels;
    char **ips;
    size_t n_ips;
    bool host_network; /* spec.hostNetwork: the pod lives in the node's network namespace */
};

/* All strings are malloc'd and owned by the struct; NULL means absent. */
void ncap_meta_free(struct ncap_pod_meta *m);
int ncap_meta_copy(struct ncap_pod_meta *dst, const struct ncap_pod_meta *src, char *err);

/* Compact JSON for if_description; malloc'd, NULL with err on failure. */
char *ncap_meta_to_json(const struct ncap_pod_meta *m, char *err);
/* Parse if_description (len bytes, need not be NUL-terminated). 0, or -1 with err. */
int ncap_meta_from_json(const char *json, size_t len, struct ncap_pod_meta *out, char *err);

/* Find a label's value, or NULL. */
const char *ncap_meta_label(const struct ncap_pod_meta *m, const char *key);

/*
 * Kubernetes objects. A PodList (`{"kind":"PodList","items":[…]}`) or a single Pod.
 * Workload: the controller ownerReference; a ReplicaSet whose pods carry `pod-template-hash`
 * is reported as its Deployment (the ReplicaSet name minus "-<hash>"), as kubectl does.
 * IPs come from status.podIPs (falling back to status.podIP); container is the first container.
 * *pods is a malloc'd array of *n entries; free with ncap_podlist_free().
 */
int ncap_podlist_parse(const char *json, size_t len, struct ncap_pod_meta **pods, size_t *n,
                       char *err);
void ncap_podlist_free(struct ncap_pod_meta *pods, size_t n);

#endif
