/*
 * targets.c - target pods, their nodes and the agents there (see targets.h).
 *
 * Two or three GETs, each bounded by the caller's timeout: the pod (or the pods matching the
 * selector), then the agent pods. Names typed by the user go into request paths, so they are
 * checked against Kubernetes' own naming rules first; a label selector travels percent-encoded
 * in the query, and the API server's complaint about a malformed one comes back as the sentence.
 */
#include "targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debuglog.h"

/* Kubernetes names: DNS-1123 subdomains (pods) or labels (namespaces), at most this long. */
#define TARGETS_NAME_MAX 253

static const char *jstr(const cJSON *obj, const char *outer, const char *inner)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, outer);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, inner);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

int targets_check_name(const char *what, const char *name, char *err)
{
    size_t len = strlen(name);
    int ok = len > 0 && len <= TARGETS_NAME_MAX;

    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        ok = alnum || ((c == '-' || c == '.') && i > 0 && i + 1 < len);
    }
    if (!ok)
        return ncap_fail(err,
                         "\"%s\" is not a valid %s name (lowercase letters, digits, '-' and '.')",
                         name, what);
    return 0;
}

static struct target_node *node_get(struct targets *t, const char *name, char *err)
{
    struct target_node *grown;

    for (size_t i = 0; i < t->n_nodes; i++) {
        if (strcmp(t->nodes[i].name, name) == 0)
            return &t->nodes[i];
    }
    grown = realloc(t->nodes, (t->n_nodes + 1) * sizeof(*t->nodes));
    if (!grown) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    t->nodes = grown;
    grown = &t->nodes[t->n_nodes];
    *grown = (struct target_node){.name = strdup(name), .agent_port = TARGETS_AGENT_PORT_DEFAULT};
    if (!grown->name) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    t->n_nodes++;
    return grown;
}

/* The node of a pod that can be captured now, else NULL. */
static const char *running_node(const cJSON *pod)
{
    const char *phase = jstr(pod, "status", "phase");
    const char *node = jstr(pod, "spec", "nodeName");

    return phase && strcmp(phase, "Running") == 0 ? node : NULL;
}

static int add_pod(struct targets *t, const cJSON *pod, char *err)
{
    const char *name = jstr(pod, "metadata", "name");
    struct target_node *n = node_get(t, running_node(pod), err);

    if (!n)
        return -1;
    n->n_pods++;
    t->n_pods++;
    debuglog(DEBUGLOG_INFO, "target pod %s on node %s", name ? name : "?", n->name);
    return 0;
}

static int resolve_pod(struct ncap_kube *k, const char *ns, const char *pod, long timeout_ms,
                       struct targets *t, char *err)
{
    char path[2 * TARGETS_NAME_MAX + 64], status[NCAP_ERRBUF_SIZE];
    cJSON *resp = NULL;
    const char *phase;
    int st, ret = -1;

    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, pod);
    st = ncap_kube_request(k, "GET", path, NULL, timeout_ms, &resp, err);
    if (st < 0)
        return -1;
    if (st == 404) {
        ncap_fail(err, "pod %s/%s not found", ns, pod);
    } else if (st != 200 || !cJSON_IsObject(resp)) {
        ncap_kube_status_sentence(st, resp, status);
        ncap_fail(err, "cannot look up pod %s/%s: %s", ns, pod, status);
    } else if (!running_node(resp)) {
        phase = jstr(resp, "status", "phase");
        if (!jstr(resp, "spec", "nodeName"))
            ncap_fail(err, "pod %s/%s is not on a node yet (phase %s)", ns, pod,
                      phase ? phase : "unknown");
        else
            ncap_fail(err, "pod %s/%s is not running (phase %s)", ns, pod,
                      phase ? phase : "unknown");
    } else {
        ret = add_pod(t, resp, err);
    }
    cJSON_Delete(resp);
    return ret;
}

/* GET the pods of ns matching selector into *items (owned by *resp). The HTTP status, or -1. */
static int list_pods(struct ncap_kube *k, const char *ns, const char *selector, long timeout_ms,
                     cJSON **resp, const cJSON **items, char *err)
{
    char *escaped = ncap_kube_escape(selector);
    char *path;
    size_t len;
    int st;

    if (!escaped)
        return ncap_fail(err, "out of memory");
    len = strlen(ns) + strlen(escaped) + 64;
    path = malloc(len);
    if (!path) {
        free(escaped);
        return ncap_fail(err, "out of memory");
    }
    snprintf(path, len, "/api/v1/namespaces/%s/pods?labelSelector=%s", ns, escaped);
    free(escaped);
    st = ncap_kube_request(k, "GET", path, NULL, timeout_ms, resp, err);
    free(path);
    *items = cJSON_GetObjectItemCaseSensitive(*resp, "items");
    if (st == 200 && !cJSON_IsArray(*items))
        return ncap_fail(err, "the API server's pod list has no items");
    return st;
}

static int resolve_selector(struct ncap_kube *k, const char *ns, const char *selector,
                            long timeout_ms, struct targets *t, char *err)
{
    char status[NCAP_ERRBUF_SIZE];
    const cJSON *items, *pod;
    cJSON *resp = NULL;
    int st, total = 0, ret = 0;

    st = list_pods(k, ns, selector, timeout_ms, &resp, &items, err);
    if (st < 0) {
        cJSON_Delete(resp);
        return -1;
    }
    if (st != 200) {
        ncap_kube_status_sentence(st, resp, status);
        cJSON_Delete(resp);
        return ncap_fail(err, "cannot list the pods of %s matching %s: %s", ns, selector, status);
    }
    cJSON_ArrayForEach(pod, items)
    {
        total++;
        if (running_node(pod) && add_pod(t, pod, err) < 0) {
            ret = -1;
            break;
        }
    }
    cJSON_Delete(resp);
    if (ret < 0)
        return -1;
    if (total == 0)
        return ncap_fail(err, "no pod in %s matches %s", ns, selector);
    if (t->n_pods == 0)
        return ncap_fail(err, "none of the %d pods in %s that match %s is running", total, ns,
                         selector);
    return 0;
}

int targets_resolve(struct ncap_kube *k, const char *ns, const char *pod, const char *selector,
                    long timeout_ms, struct targets *t, char *err)
{
    int ret;

    memset(t, 0, sizeof(*t));
    if (targets_check_name("namespace", ns, err) < 0 ||
        (pod && targets_check_name("pod", pod, err) < 0))
        return -1;
    ret = pod ? resolve_pod(k, ns, pod, timeout_ms, t, err)
              : resolve_selector(k, ns, selector, timeout_ms, t, err);
    if (ret < 0)
        targets_free(t);
    return ret;
}

/* The agent container's port named "https", else the default. */
static long agent_port(const cJSON *pod)
{
    const cJSON *containers = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(pod, "spec"), "containers");
    const cJSON *c, *p;

    cJSON_ArrayForEach(c, containers)
    {
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
            const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
            if (cJSON_IsString(name) && strcmp(name->valuestring, "https") == 0 &&
                cJSON_IsNumber(port) && port->valuedouble >= 1 && port->valuedouble <= 65535)
                return (long)port->valuedouble;
        }
    }
    return TARGETS_AGENT_PORT_DEFAULT;
}

static int no_agent_anywhere(const struct targets *t, const char *agent_ns,
                             const char *agent_selector, int agents, char *err)
{
    char nodes[NCAP_ERRBUF_SIZE / 2] = "";
    size_t used = 0;

    if (agents == 0)
        return ncap_fail(err,
                         "no netcap agent found: no running pod in namespace %s matches %s "
                         "(set --agent-namespace and --agent-selector to where netcap runs)",
                         agent_ns, agent_selector);
    for (size_t i = 0; i < t->n_nodes && used < sizeof(nodes); i++) {
        int n =
            snprintf(nodes + used, sizeof(nodes) - used, "%s%s", i ? ", " : "", t->nodes[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return ncap_fail(err, "no netcap agent runs on node%s %s (agents: pods in %s matching %s)",
                     t->n_nodes > 1 ? "s" : "", nodes, agent_ns, agent_selector);
}

int targets_find_agents(struct ncap_kube *k, const char *agent_ns, const char *agent_selector,
                        long timeout_ms, struct targets *t, char *err)
{
    char status[NCAP_ERRBUF_SIZE];
    const cJSON *items, *pod;
    cJSON *resp = NULL;
    int st, agents = 0, found = 0;

    if (targets_check_name("namespace", agent_ns, err) < 0)
        return -1;
    st = list_pods(k, agent_ns, agent_selector, timeout_ms, &resp, &items, err);
    if (st < 0) {
        cJSON_Delete(resp);
        return -1;
    }
    if (st != 200) {
        ncap_kube_status_sentence(st, resp, status);
        cJSON_Delete(resp);
        return ncap_fail(err, "cannot list the netcap agents in namespace %s: %s", agent_ns,
                         status);
    }
    cJSON_ArrayForEach(pod, items)
    {
        const char *node = running_node(pod);
        const char *name = jstr(pod, "metadata", "name");

        if (!node || !name || targets_check_name("pod", name, status) < 0)
            continue;
        agents++;
        for (size_t i = 0; i < t->n_nodes; i++) {
            struct target_node *n = &t->nodes[i];
            if (n->agent_pod || strcmp(n->name, node) != 0)
                continue;
            n->agent_pod = strdup(name);
            if (!n->agent_pod) {
                cJSON_Delete(resp);
                return ncap_fail(err, "out of memory");
            }
            n->agent_port = agent_port(pod);
            found++;
            debuglog(DEBUGLOG_INFO, "node %s: agent %s/%s port %ld", n->name, agent_ns, name,
                     n->agent_port);
        }
    }
    cJSON_Delete(resp);
    if (found == 0)
        return no_agent_anywhere(t, agent_ns, agent_selector, agents, err);
    return 0;
}

void targets_free(struct targets *t)
{
    for (size_t i = 0; i < t->n_nodes; i++) {
        free(t->nodes[i].name);
        free(t->nodes[i].agent_pod);
    }
    free(t->nodes);
    memset(t, 0, sizeof(*t));
}
