/*
 * pickers.c - value lists for the reload button (see pickers.h).
 *
 * Each list starts with an empty value, the default: choosing it passes nothing, so the capture
 * falls back as options.c describes (the context's namespace; no pod picked). Lists are capped
 * at PICKERS_LIST_MAX items with a last line saying so; the free-text twin takes any name.
 */
#include "pickers.h"

#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "ncap.h"
#include "targets.h"

#define PICKERS_LIST_MAX 1000
#define PICKERS_PATH_MAX 512

static void print_failure(FILE *out, enum config_arg arg, const char *what, const char *sentence)
{
    char display[NCAP_ERRBUF_SIZE + 64];

    snprintf(display, sizeof(display), "(cannot list %s: %s)", what, sentence);
    config_print_value(out, arg, "", display, 1);
}

static const char *jstr(const cJSON *obj, const char *outer, const char *inner)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, outer), inner);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* GET a list; returns its items (owned by *resp) or NULL after printing why. */
static const cJSON *get_list(FILE *out, enum config_arg arg, const char *what, struct ncap_kube *k,
                             const char *path, cJSON **resp)
{
    char err[NCAP_ERRBUF_SIZE];
    const cJSON *items;
    int st = ncap_kube_request(k, "GET", path, NULL, PICKERS_TIMEOUT_MS, resp, err);

    if (st >= 0 && st != 200)
        ncap_kube_status_sentence(st, *resp, err);
    items = cJSON_GetObjectItemCaseSensitive(*resp, "items");
    if (st == 200 && !cJSON_IsArray(items))
        ncap_fail(err, "the API server's answer has no items");
    if (st != 200 || !cJSON_IsArray(items)) {
        print_failure(out, arg, what, err);
        return NULL;
    }
    return items;
}

/* The "(more ...)" line when the server holds more items than it sent. */
static void print_truncation(FILE *out, enum config_arg arg, const cJSON *resp, const char *what)
{
    char display[128];

    if (!jstr(resp, "metadata", "continue"))
        return;
    snprintf(display, sizeof(display), "(more than %d %s; type the name in the field above)",
             PICKERS_LIST_MAX, what);
    config_print_value(out, arg, "", display, 0);
}

static void reload_namespaces(FILE *out, struct cluster *c, const struct options *o)
{
    enum config_arg arg = CONFIG_ARG_NAMESPACE_PICK;
    char display[NCAP_ERRBUF_SIZE], path[PICKERS_PATH_MAX];
    const cJSON *items, *ns;
    cJSON *resp = NULL;

    snprintf(path, sizeof(path), "/api/v1/namespaces?limit=%d", PICKERS_LIST_MAX);
    items = get_list(out, arg, "namespaces", c->k, path, &resp);
    if (items) {
        /* Not options_namespace(): what the empty entry stands for is the context's. */
        struct options no_choice = *o;
        no_choice.pod_namespace = no_choice.namespace_pick = NULL;
        snprintf(display, sizeof(display), "(the context's namespace: %s)",
                 cluster_namespace(c, &no_choice));
        config_print_value(out, arg, "", display, 1);
        cJSON_ArrayForEach(ns, items)
        {
            const char *name = jstr(ns, "metadata", "name");
            if (name)
                config_print_value(out, arg, name, name, 0);
        }
        print_truncation(out, arg, resp, "namespaces");
    }
    cJSON_Delete(resp);
}

static void reload_pods(FILE *out, struct cluster *c, const struct options *o)
{
    enum config_arg arg = CONFIG_ARG_POD_PICK;
    const char *ns = cluster_namespace(c, o);
    char display[NCAP_ERRBUF_SIZE], path[PICKERS_PATH_MAX], err[NCAP_ERRBUF_SIZE];
    const cJSON *items, *pod;
    cJSON *resp = NULL;
    int n = 0;

    if (targets_check_name("namespace", ns, err) < 0) {
        print_failure(out, arg, "pods", err);
        return;
    }
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?limit=%d", ns, PICKERS_LIST_MAX);
    snprintf(display, sizeof(display), "pods in %s", ns);
    items = get_list(out, arg, display, c->k, path, &resp);
    if (items) {
        snprintf(display, sizeof(display), "(no pod picked: namespace %s)", ns);
        config_print_value(out, arg, "", display, 1);
        cJSON_ArrayForEach(pod, items)
        {
            const char *name = jstr(pod, "metadata", "name");
            const char *phase = jstr(pod, "status", "phase");
            const char *node = jstr(pod, "spec", "nodeName");
            if (!name)
                continue;
            if (node)
                snprintf(display, sizeof(display), "%s (%s on %s)", name, phase ? phase : "unknown",
                         node);
            else
                snprintf(display, sizeof(display), "%s (%s)", name, phase ? phase : "unknown");
            config_print_value(out, arg, name, display, 0);
            n++;
        }
        if (n == 0) {
            snprintf(display, sizeof(display), "(namespace %s has no pods)", ns);
            config_print_value(out, arg, "", display, 0);
        }
        print_truncation(out, arg, resp, "pods");
    }
    cJSON_Delete(resp);
}

void pickers_reload(FILE *out, const struct options *o)
{
    const char *call = o->reload_option;
    char err[NCAP_ERRBUF_SIZE];
    struct cluster c;
    int is_ns;

    /* Wireshark 4.0 passes the call without its dashes; accept it with them too. */
    if (strncmp(call, "--", 2) == 0)
        call += 2;
    if (strcmp(call, "context") == 0) {
        config_print_contexts(out, o);
        return;
    }
    is_ns = strcmp(call, "namespace-pick") == 0;
    if (!is_ns && strcmp(call, "pod-pick") != 0)
        return;
    if (cluster_open(&c, o, err) < 0)
        print_failure(out, is_ns ? CONFIG_ARG_NAMESPACE_PICK : CONFIG_ARG_POD_PICK,
                      is_ns ? "namespaces" : "pods", err);
    else if (is_ns)
        reload_namespaces(out, &c, o);
    else
        reload_pods(out, &c, o);
    cluster_close(&c);
}
