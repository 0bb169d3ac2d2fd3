/*
 * kubewatch.h - keep the pod table in step with the Kubernetes API: list, then watch.
 *
 * One kubewatch per collection: this node's pods (the capture targets), every pod of the
 * cluster and every service (peer names). Each lists the collection (in pages), hands the whole
 * set to the podsource, then watches from the list's resourceVersion in its own thread and
 * applies every event. A watch the server ends is resumed from the last resourceVersion seen
 * (bookmarks keep it fresh); an expired one (410 Gone) or a failed one is replaced by a new
 * list, retried with a growing pause while the API server cannot be reached.
 */
#ifndef AGENT_KUBEWATCH_H
#define AGENT_KUBEWATCH_H

#include "kube.h"
#include "podtable.h"

enum kubewatch_kind { KUBEWATCH_NODE_PODS, KUBEWATCH_CLUSTER_PODS, KUBEWATCH_SERVICES };

struct kubewatch;

/* List once, now (a failure is a start-up error: NULL with err), then watch in a thread. */
struct kubewatch *kubewatch_start(struct ncap_kube *k, struct podsource *src,
                                  enum kubewatch_kind kind, const char *node, char *err);
/* Stop the thread (within about a second) and free. */
void kubewatch_stop(struct kubewatch *w);

/* A Kubernetes Pod object (from a list or a watch event, with or without "kind") as netcap's
 * pod metadata. 0, or -1 with err. A pod that has ended (phase Succeeded or Failed) gives 1:
 * it no longer owns its addresses, and no capture can reach it. */
int kube_pod_parse(const cJSON *obj, struct ncap_pod_meta *out, char *err);

#endif
