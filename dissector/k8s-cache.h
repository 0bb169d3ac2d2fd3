/*
 * k8s-cache.h - pod metadata per capture interface, parsed once per file.
 *
 * netcap puts a pod's identity in its interface's if_description (DESIGN.md §2). Parsing JSON
 * on every frame would be wasteful, so the first frame of each interface parses it (with
 * ncap_meta_from_json, the one decoder of the format) and every later frame gets the cached
 * result, including the verdict "not netcap" for ordinary interfaces such as eth0.
 */
#ifndef NETCAP_K8S_CACHE_H
#define NETCAP_K8S_CACHE_H

#include <epan/epan.h>
#include <wsutil/inet_addr.h>

enum k8s_iface_kind {
    K8S_IFACE_FOREIGN,   /* no netcap metadata: the dissector adds nothing */
    K8S_IFACE_POD,       /* parsed pod metadata */
    K8S_IFACE_MALFORMED, /* looked like netcap metadata but could not be read: see error */
};

struct k8s_ip {
    gboolean is_v6;
    ws_in4_addr v4; /* network byte order */
    ws_in6_addr v6;
};

/*
 * All strings are NUL-terminated, valid UTF-8 (invalid bytes replaced) and live in file scope.
 * NULL means the metadata did not say.
 */
struct k8s_iface {
    enum k8s_iface_kind kind;
    const char *error; /* MALFORMED: one sentence; POD: a non-fatal problem or NULL */
    guint version;     /* the "v" of the metadata (POD only) */
    const char *namespace_;
    const char *pod;
    const char *uid;
    const char *node;
    const char *container;
    const char *interface;
    const char *workload_kind;
    const char *workload;
    const char **labels; /* "key=value" */
    guint n_labels;
    struct k8s_ip *ips;
    guint n_ips;
};

/* Set up the cache; call once, from proto_register_*. */
void k8s_cache_init(void);

/* The metadata of interface ifid in the current file; never NULL. */
const struct k8s_iface *k8s_iface_get(const epan_t *epan, guint32 ifid);

#endif
