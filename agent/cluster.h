/*
 * cluster.h - cluster mode: the Kubernetes API feeds the pod table, and PodCapture objects
 * authorize streams (DESIGN.md §4, API.md "Cluster mode").
 *
 * A stream request names a PodCapture and carries the stream key. The agent reads the object
 * with its own identity and streams only when the key's SHA-256 is the object's streamKeyHash,
 * the object is fresh (at most 120 s old), this node has not streamed it before, its namespace
 * is not excluded, and at least one of its pods runs here; the capture options come from the
 * object, never from the request. Refusals: 403 NamespaceExcluded, 404 PodCaptureNotFound,
 * 403 StreamKeyMismatch, 403 PodCaptureStale, 409 AlreadyStreamed, 400 BadRequest (a spec the
 * agent cannot use), 404 PodNotFound, 503 KubernetesUnavailable (the object cannot be read).
 *
 * While a stream runs, one thread writes the node's progress into the object's status (at the
 * start, every 5 s, and at the end: Completed or Failed with the reason) and another watches the
 * object: deleting it ends the stream ("PodCapture deleted"). A collector deletes the extcap's
 * PodCaptures (label app.kubernetes.io/managed-by=netcap-extcap) that are older than 10 minutes
 * and that no node streams any more.
 */
#ifndef AGENT_CLUSTER_H
#define AGENT_CLUSTER_H

#include "capture.h"
#include "kube.h"
#include "nslist.h"
#include "podtable.h"
#include "request.h"

struct cluster;

/*
 * List (now) and watch (from then on) this node's pods, every pod and every service into pods;
 * start the collector. k is taken over, also on failure. NULL with err when a first list fails.
 */
struct cluster *cluster_start(struct ncap_kube *k, struct podsource *pods,
                              const struct nslist *excluded, const char *node, char *err);

/* Check a stream request against its PodCapture and arm the capture (see capture_start()).
 * 0 with *out, or an HTTP status with *reason and err. */
int cluster_capture(struct cluster *cl, const struct podcapture_ref *ref, const char *client,
                    struct capture **out, const char **reason, char *err);

/* The API server's address, for the log. */
const char *cluster_server(const struct cluster *cl);

/* Wait up to timeout_ms for the streams' final status updates, then stop every thread and free:
 * 0. -1 when a stream is still writing its status: then nothing is stopped or freed (the
 * podsource is still in use) and it is left to the process's exit. */
int cluster_stop(struct cluster *cl, int timeout_ms);

#endif
