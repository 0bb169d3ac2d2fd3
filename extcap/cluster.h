/*
 * cluster.h - cluster mode: the user's kubeconfig, the Kubernetes API, and a capture that
 * streams from every node where a target pod runs (DESIGN.md §1, §4; API.md "Cluster mode").
 */
#ifndef NETCAP_EXTCAP_CLUSTER_H
#define NETCAP_EXTCAP_CLUSTER_H

#include <stddef.h>

#include "kube.h"
#include "kubeconfig.h"
#include "options.h"
#include "platform.h"

/* The API server of the chosen context, with the user's credentials. */
struct cluster {
    struct ncap_kubeconfig kc;
    struct ncap_kube *k;
};

/* Loads the kubeconfig (--kubeconfig, --context), runs an exec credential plugin if the user
 * has one (its answer cached in platform_cache_dir()), and makes the client. 0, or -1 with err;
 * c needs cluster_close() either way. */
int cluster_open(struct cluster *c, const struct options *o, char *err);
void cluster_close(struct cluster *c);

/* The targets' namespace: the one the user chose, else the context's, else "default". */
const char *cluster_namespace(const struct cluster *c, const struct options *o);

/*
 * A whole cluster-mode capture into fifo. Returns 0 when at least one node streamed (or the
 * user stopped the capture first); then warning (warning_size bytes) holds one line naming the
 * nodes that could not be captured and why, or "" if none. Else -1 with err.
 */
int cluster_capture(const struct options *o, struct platform_fifo *fifo, char *err, char *warning,
                    size_t warning_size);

#endif
