/*
 * cluster.c - a cluster-mode capture, from the kubeconfig to the merged streams (see cluster.h).
 *
 * The steps, each a short bounded request, and each failure one sentence:
 *   1. kubeconfig → context → API server and credentials (exec plugins run here);
 *   2. targets: the pod, or the pods matching the selector, that run on a node → their nodes;
 *   3. agents: the agent pod on each of those nodes (a node without one is left out and named
 *      at the end; with none at all the capture fails before anything is created);
 *   4. a PodCapture in the targets' namespace holds the hash of a fresh stream key;
 *   5. one POST per node through the API server's pod proxy, with the PodCapture's name and the
 *      key, all run and merged by streams_run();
 *   6. the PodCapture is deleted, whatever happened in 5 (also after a stop request).
 * Wireshark stops a capture with SIGTERM and kills it 30 s later: the setup requests are bounded
 * by CLUSTER_REQUEST_TIMEOUT_MS, and a stop request between steps ends the capture quietly.
 *
 * Nodes that could not be captured while others streamed are named in one warning line, which
 * Wireshark shows after the capture; the capture itself succeeds.
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debuglog.h"
#include "podcapture.h"
#include "streams.h"
#include "targets.h"

#define CLUSTER_REQUEST_TIMEOUT_MS 15000L
#define CLUSTER_DELETE_TIMEOUT_MS 5000L
#define CLUSTER_PATH_MAX 1024

int cluster_open(struct cluster *c, const struct options *o, char *err)
{
    char cache[CLUSTER_PATH_MAX], cache_err[NCAP_ERRBUF_SIZE];
    const char *cache_dir;

    memset(c, 0, sizeof(*c));
    if (ncap_kubeconfig_load(o->kubeconfig, o->context, &c->kc, err) < 0)
        return -1;
    if (c->kc.user.exec) {
        /* Without a home there is no cache: the plugin then runs for every request. */
        cache_dir = platform_cache_dir(cache, sizeof(cache), cache_err) == 0 ? cache : NULL;
        if (ncap_kube_exec_credential(&c->kc, cache_dir, err) < 0)
            return -1;
    }
    c->k = ncap_kube_new(&c->kc, err);
    if (!c->k)
        return -1;
    debuglog(DEBUGLOG_INFO, "context %s, API server %s", c->kc.context ? c->kc.context : "?",
             ncap_kube_server(c->k));
    return 0;
}

void cluster_close(struct cluster *c)
{
    ncap_kube_free(c->k);
    ncap_kubeconfig_free(&c->kc);
    c->k = NULL;
}

const char *cluster_namespace(const struct cluster *c, const struct options *o)
{
    const char *ns = options_namespace(o);

    if (ns)
        return ns;
    return c->kc.namespace_ ? c->kc.namespace_ : OPTIONS_FALLBACK_NAMESPACE;
}

/* A line of "; "-separated items; what does not fit ends in "...". */
struct line {
    char *buf;
    size_t size, used;
    int items;
};

static void line_add(struct line *l, const char *prefix, const char *item)
{
    int n;

    if (l->used + 4 >= l->size)
        return;
    n = snprintf(l->buf + l->used, l->size - l->used, "%s%s%s", l->items ? "; " : "",
                 prefix ? prefix : "", item);
    l->items++;
    if (n >= 0 && l->used + (size_t)n < l->size) {
        l->used += (size_t)n;
        return;
    }
    l->used = l->size - 1;
    memcpy(l->buf + l->size - 4, "...", 4);
}

/* The nodes that were not captured, as "node n2: why; node n3: why", after lead. */
static int failed_nodes(const struct targets *t, const struct stream_source *sources,
                        const struct stream_result *results, size_t n, const char *lead, char *buf,
                        size_t size)
{
    struct line l = {.buf = buf, .size = size};
    char prefix[CLUSTER_PATH_MAX];
    int n_lead = snprintf(buf, size, "%s", lead);

    l.used = n_lead > 0 && (size_t)n_lead < size ? (size_t)n_lead : 0;
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (!t->nodes[i].agent_pod) {
            snprintf(prefix, sizeof(prefix), "node %s: ", t->nodes[i].name);
            line_add(&l, prefix, "no netcap agent runs there");
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (results[i].outcome != STREAM_FAILED)
            continue;
        /* streams_run() names the node itself only when it runs more than one. */
        snprintf(prefix, sizeof(prefix), "node %s: ", sources[i].label);
        line_add(&l, n > 1 ? NULL : prefix, results[i].err);
    }
    return l.items;
}

static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);

    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* One configured POST through the pod proxy to node's agent, or NULL with err. */
static CURL *proxy_request(struct ncap_kube *k, const struct options *o,
                           const struct target_node *node, const char *body,
                           struct curl_slist *headers, char *err)
{
    char path[CLUSTER_PATH_MAX];
    CURL *h = curl_easy_init();
    CURLcode rc;

    if (!h) {
        ncap_fail(err, "cannot initialise libcurl");
        return NULL;
    }
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/https:%s:%ld/proxy/v1/captures",
             o->agent_namespace, node->agent_pod, node->agent_port);
    if (ncap_kube_setup_easy(k, h, path, err) < 0) {
        curl_easy_cleanup(h);
        return NULL;
    }
    rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (rc != CURLE_OK) {
        ncap_fail(err, "this libcurl lacks a feature netcap needs: %s", curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        return NULL;
    }
    debuglog(DEBUGLOG_INFO, "node %s: POST %s", node->name, path);
    return h;
}

static int all_failed(const struct stream_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (results[i].outcome != STREAM_FAILED)
            return 0;
    }
    return 1;
}

static int stream_nodes(struct ncap_kube *k, const struct options *o, const struct targets *t,
                        const struct podcapture *pc, struct platform_fifo *fifo, char *err,
                        char *warning, size_t warning_size)
{
    struct stream_source *sources = calloc(t->n_nodes, sizeof(*sources));
    struct stream_result *results = calloc(t->n_nodes, sizeof(*results));
    char *body = podcapture_stream_body(pc);
    struct curl_slist *headers = NULL;
    size_t n = 0;
    int ret = -1;

    if (!sources || !results || !body ||
        add_header(&headers, "Content-Type: application/json") < 0 ||
        add_header(&headers, "Accept: application/x-pcapng, application/json") < 0 ||
        add_header(&headers, "Expect:") < 0) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (!t->nodes[i].agent_pod)
            continue;
        sources[n].label = t->nodes[i].name;
        sources[n].easy = proxy_request(k, o, &t->nodes[i], body, headers, err);
        if (!sources[n].easy)
            goto out;
        n++;
    }

    ret = streams_run(sources, n, o->max_packets, fifo, results, err);
    if (ret == 0) {
        if (failed_nodes(t, sources, results, n, "not every node was captured: ", warning,
                         warning_size) == 0)
            warning[0] = '\0';
    } else if (all_failed(results, n)) {
        failed_nodes(t, sources, results, n, t->n_nodes > 1 ? "no node could be captured: " : "",
                     err, NCAP_ERRBUF_SIZE);
    }

out:
    for (size_t i = 0; i < n; i++)
        curl_easy_cleanup(sources[i].easy);
    curl_slist_free_all(headers);
    if (body) {
        memset(body, 0, strlen(body));
        free(body);
    }
    free(results);
    free(sources);
    return ret;
}

int cluster_capture(const struct options *o, struct platform_fifo *fifo, char *err, char *warning,
                    size_t warning_size)
{
    const char *pod = options_pod(o), *selector = pod ? NULL : o->label_selector;
    struct podcapture pc = {0};
    struct targets t = {0};
    struct cluster c;
    const char *ns;
    int ret = -1;

    warning[0] = '\0';
    if (cluster_open(&c, o, err) < 0)
        goto out;
    ns = cluster_namespace(&c, o);
    debuglog(DEBUGLOG_INFO, "targets: %s %s in %s, interface %s, filter \"%s\"",
             pod ? "pod" : "selector", pod ? pod : selector, ns, o->pod_interface,
             o->capture_filter ? o->capture_filter : "");
    if (targets_resolve(c.k, ns, pod, selector, CLUSTER_REQUEST_TIMEOUT_MS, &t, err) < 0 ||
        targets_find_agents(c.k, o->agent_namespace, o->agent_selector, CLUSTER_REQUEST_TIMEOUT_MS,
                            &t, err) < 0)
        goto out;
    if (platform_stop_requested()) {
        ret = 0;
        goto out;
    }
    if (podcapture_create(c.k, ns, pod, selector, o, CLUSTER_REQUEST_TIMEOUT_MS, &pc, err) < 0)
        goto out;
    if (platform_stop_requested())
        ret = 0;
    else
        ret = stream_nodes(c.k, o, &t, &pc, fifo, err, warning, warning_size);
    podcapture_delete(c.k, &pc, CLUSTER_DELETE_TIMEOUT_MS);

out:
    targets_free(&t);
    cluster_close(&c);
    return ret;
}
