/*
 * podtable.h - the pods and services the agent knows, served as immutable snapshots.
 *
 * Sources feed one podsource, each into its own set (an origin): the pods file (--pods-file),
 * the watch of this node's pods and the watch of every pod and service in the cluster. A source
 * replaces its whole set on a (re)list and changes one object at a time on watch events.
 *
 * Readers never see a set being changed: podsource_get() returns a reference-counted snapshot
 * (struct podtable), rebuilt on demand after a change, valid until podtable_put(). Objects are
 * shared between snapshots by reference count, so a rebuild copies pointers, not pods. A
 * capture thread keeps its snapshot and swaps it only when podsource_generation() moved, so the
 * per-packet lookup takes no lock and allocates nothing.
 *
 * A snapshot has two views:
 *   - the pods on this node (the only ones a client may capture): this node's pods from the
 *     pods file and from the node watch (the watch wins when both name a pod);
 *   - an address map over every known pod and every service ClusterIP, which turns the far end
 *     of each packet into a peer identity: sorted arrays searched with bsearch. An address that
 *     two different pods claim (hostNetwork pods share the node's) names no peer.
 */
#ifndef AGENT_PODTABLE_H
#define AGENT_PODTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"

enum pod_origin { ORIGIN_FILE, ORIGIN_NODE_WATCH, ORIGIN_CLUSTER_WATCH, ORIGIN_COUNT };

struct service {
    char *namespace_;
    char *name;
    char **ips; /* spec.clusterIPs (or clusterIP); never "None" */
    size_t n_ips;
};
void service_free(struct service *s);

struct pod_obj;
struct svc_obj;
struct pod_addr;
struct svc_addr;

/* One immutable view. Fields are read-only for everyone but podtable.c. */
struct podtable {
    atomic_int refs;
    unsigned gen;
    const char *node;
    const struct ncap_pod_meta **local; /* this node's pods, sorted by namespace and name */
    size_t n_local;
    struct pod_obj **pods; /* every pod of every origin: holds the references */
    size_t n_pods;
    struct svc_obj **svcs;
    size_t n_svcs;
    struct pod_addr *addrs; /* sorted by address */
    size_t n_addrs;
    struct svc_addr *svc_addrs;
    size_t n_svc_addrs;
};

/* An object set of one origin, kept sorted by key. */
struct objset {
    char **keys;
    void **objs; /* struct pod_obj * or struct svc_obj * */
    size_t n, cap;
};

struct podsource {
    pthread_mutex_t mu;
    char *node;
    struct objset pods[ORIGIN_COUNT];
    struct objset svcs;
    atomic_uint gen;       /* moves on every change */
    struct podtable *snap; /* the latest snapshot; stale when snap->gen != gen */
};

/* 0, or -1 with err. */
int podsource_init(struct podsource *s, const char *node, char *err);
void podsource_free(struct podsource *s);

/* Read a PodList file into ORIGIN_FILE. 0, or -1 with err naming the file. */
int podsource_load_file(struct podsource *s, const char *path, char *err);

/* Replace every pod of one origin; the array and its pods are taken over (and freed). */
int podsource_set_pods(struct podsource *s, enum pod_origin o, struct ncap_pod_meta *pods, size_t n,
                       char *err);
/* Add or replace one pod (taken over, also on failure) under key (its UID). */
int podsource_put_pod(struct podsource *s, enum pod_origin o, const char *key,
                      struct ncap_pod_meta *pod, char *err);
void podsource_delete_pod(struct podsource *s, enum pod_origin o, const char *key);

/* The same for services (one origin: the cluster watch), keyed by UID. */
int podsource_set_services(struct podsource *s, char **keys, struct service *svcs, size_t n,
                           char *err);
int podsource_put_service(struct podsource *s, const char *key, struct service *svc, char *err);
void podsource_delete_service(struct podsource *s, const char *key);

/* The current snapshot, referenced; never NULL once podsource_init() succeeded (when a rebuild
 * runs out of memory the previous snapshot is returned). */
struct podtable *podsource_get(struct podsource *s);
unsigned podsource_generation(struct podsource *s);
void podtable_put(struct podtable *t);

/* The pod namespace/name if it runs on this node; else NULL with err
 * "pod <ns>/<name> is not on node <node>". */
const struct ncap_pod_meta *podtable_find_local(const struct podtable *t, const char *namespace_,
                                                const char *name, char *err);

/* The pod that owns an address (family 4: 4 bytes, 6: 16 bytes), or NULL. */
const struct ncap_pod_meta *podtable_by_addr(const struct podtable *t, int family,
                                             const uint8_t *addr);
/* The service whose ClusterIP is this address, or NULL. */
const struct service *podtable_service_by_addr(const struct podtable *t, int family,
                                               const uint8_t *addr);

/* How many different pods (by namespace and name) the snapshot knows, over every origin. */
size_t podtable_count_pods(const struct podtable *t);

/* A PodList JSON of this node's pods (malloc'd), or NULL with err. */
char *podtable_local_json(const struct podtable *t, char *err);

#endif
