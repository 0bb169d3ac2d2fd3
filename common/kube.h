/*
 * kube.h - a small Kubernetes API client on libcurl + cJSON (portable: also in the Windows
 * extcap). One struct ncap_kube per API server and identity; requests are synchronous, watches
 * stream one event at a time. TLS is always verified unless the kubeconfig says
 * insecure-skip-tls-verify. Tokens are never written to logs or error sentences.
 */
#ifndef NCAP_KUBE_H
#define NCAP_KUBE_H

#include <cJSON.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

#ifdef _WIN32
/* curl.h brings in <windows.h>, whose `interface` macro (= struct) would break the field of that
 * name in struct ncap_pod_meta (meta.h, included below). */
#undef interface
#endif

#include "kubeconfig.h"
#include "ncap.h"

struct ncap_kube;

/* From a loaded kubeconfig (after ncap_kube_exec_credential() for exec users). Token files are
 * read here (and again for each request, as service-account tokens rotate). NULL with err on
 * failure. A struct ncap_kube is read-only after creation: threads may share one. */
struct ncap_kube *ncap_kube_new(const struct ncap_kubeconfig *kc, char *err);
/* In-cluster: $KUBERNETES_SERVICE_HOST/PORT, /var/run/secrets/kubernetes.io/serviceaccount/
 * {token,ca.crt} ($NETCAP_SA_DIR replaces that directory, for tests). */
struct ncap_kube *ncap_kube_new_in_cluster(char *err);
void ncap_kube_free(struct ncap_kube *k);
const char *ncap_kube_server(const struct ncap_kube *k);

/* Apply server, TLS and credentials to an easy handle whose URL is server + path (for callers
 * that drive their own transfers, e.g. streams through the pod proxy). No overall timeout is set.
 * k must outlive the transfers on h. 0, or -1 with err. */
int ncap_kube_setup_easy(struct ncap_kube *k, CURL *h, const char *path, char *err);

/*
 * One request. method "GET", "POST", "DELETE", "PATCH" (body sent as
 * application/merge-patch+json), "PUT". body may be NULL. Returns the HTTP status and the parsed
 * JSON body in *resp (NULL if none or not JSON; caller cJSON_Delete()s it), or -1 with err on a
 * transport failure ("cannot reach the API server https://…: Connection refused").
 * timeout_ms 0 = no limit.
 */
int ncap_kube_request(struct ncap_kube *k, const char *method, const char *path, const char *body,
                      long timeout_ms, cJSON **resp, char *err);

/* One sentence for a non-2xx answer, from the API's Status object when there is one, e.g.
 * `the API server refused: podcaptures.netcap.io is forbidden: User "bob" cannot create resource
 * "podcaptures" in API group "netcap.io" in the namespace "kube-system"`. */
void ncap_kube_status_sentence(int http_status, const cJSON *resp, char *err);

/*
 * Watch: GET path (which must contain watch=1 or watch=true) and call cb for each event
 * ({"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{…}}) as it arrives. Returns when cb
 * returns non-zero (that value), when *stop becomes non-zero (0), or when the server ends the
 * watch (0; the caller resumes from the last resourceVersion), or -1 with err.
 */
typedef int (*ncap_kube_watch_cb)(const char *type, const cJSON *object, void *ud);
int ncap_kube_watch(struct ncap_kube *k, const char *path, ncap_kube_watch_cb cb, void *ud,
                    const atomic_int *stop, char *err);

/* Percent-encode a query value (label/field selectors); malloc'd. */
char *ncap_kube_escape(const char *s);

#endif
