/* kubewatch.c - list+watch of pods and services into the podsource (see kubewatch.h). */
#include "kubewatch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ncap.h"

#define PAGE_LIMIT 500
#define LIST_TIMEOUT_MS 60000L
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* A watch that ends sooner than this is resumed only after a pause (no tight loop against a
 * server that closes watches at once). */
#define WATCH_MIN_MS 1000
/* ncap_kube_watch()'s callback returns this to ask for a new list. */
#define RELIST 2
/* Watches ask the server to end them after 5 to 10 minutes (as client-go does), so a connection
 * that died without a word is replaced in bounded time. */
#define WATCH_TIMEOUT_MIN_S 300

struct kubewatch {
    struct ncap_kube *kube;
    struct podsource *src;
    enum kubewatch_kind kind;
    char *path; /* the collection, with its selector */
    char what[300];
    char *rv;
    atomic_int stop;
    int list_status; /* HTTP status of the last list, -1 when it got no answer */
    bool listed;     /* a list has filled the podsource */
    pthread_t thread;
    bool started;
};

/* ---- objects ---- */

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

int kube_pod_parse(const cJSON *obj, struct ncap_pod_meta *out, char *err)
{
    memset(out, 0, sizeof(*out));
    const char *phase = str_at(obj, "status", "phase");
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return 1;
    /* common/meta.c parses a PodList or a Pod document: give it this object as a Pod. Watch
     * events may leave "kind" out; a first "kind" key wins in cJSON, so prefixing one is
     * enough. */
    char *text = cJSON_PrintUnformatted(obj);
    if (!text)
        return ncap_fail(err, "out of memory");
    size_t n = strlen(text);
    char *doc = NULL;
    int rc = -1;
    if (n < 2 || text[0] != '{') {
        ncap_fail(err, "a pod is not a JSON object");
    } else if (asprintf(&doc, "{\"kind\":\"Pod\"%s%s", n > 2 ? "," : "", text + 1) < 0) {
        doc = NULL;
        ncap_fail(err, "out of memory");
    } else {
        struct ncap_pod_meta *pods;
        size_t count;
        rc = ncap_podlist_parse(doc, strlen(doc), &pods, &count, err);
        if (rc == 0 && count == 1) {
            *out = pods[0];
            free(pods);
        } else if (rc == 0) {
            ncap_podlist_free(pods, count);
            rc = ncap_fail(err, "a pod object gave %zu pods", count);
        }
    }
    free(doc);
    free(text);
    return rc;
}

static char *obj_key(const cJSON *obj)
{
    const char *uid = str_at(obj, "metadata", "uid");
    if (uid && *uid)
        return strdup(uid);
    const char *ns = str_at(obj, "metadata", "namespace"), *name = str_at(obj, "metadata", "name");
    char *k = NULL;
    if (!name || asprintf(&k, "%s/%s", ns ? ns : "default", name) < 0)
        return NULL;
    return k;
}

static int add_str(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static bool is_ip(const char *s)
{
    return s && *s && strcmp(s, "None") != 0;
}

/* 0, 1 for a service without a ClusterIP (headless, ExternalName: it names no address), or -1. */
static int service_parse(const cJSON *obj, struct service *out, char *err)
{
    memset(out, 0, sizeof(*out));
    const char *ns = str_at(obj, "metadata", "namespace"), *name = str_at(obj, "metadata", "name");
    if (!name)
        return ncap_fail(err, "a service has no metadata.name");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const cJSON *ips = cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs"), *ip;
    int bad = 0;
    if (cJSON_IsArray(ips)) {
        cJSON_ArrayForEach(ip, ips)
        {
            if (cJSON_IsString(ip) && is_ip(ip->valuestring))
                bad |= add_str(&out->ips, &out->n_ips, ip->valuestring) < 0;
        }
    }
    const char *one = str_at(spec, "clusterIP", NULL);
    if (!out->n_ips && is_ip(one))
        bad |= add_str(&out->ips, &out->n_ips, one) < 0;
    out->namespace_ = strdup(ns ? ns : "default");
    out->name = strdup(name);
    if (bad || !out->namespace_ || !out->name) {
        service_free(out);
        return ncap_fail(err, "out of memory");
    }
    if (!out->n_ips) {
        service_free(out);
        return 1;
    }
    return 0;
}

/* ---- listing ---- */

struct listing {
    struct ncap_pod_meta *pods;
    struct service *svcs;
    char **keys; /* services only */
    size_t n, cap;
};

static void listing_free(struct listing *l)
{
    ncap_podlist_free(l->pods, l->pods ? l->n : 0);
    for (size_t i = 0; l->svcs && i < l->n; i++) {
        service_free(&l->svcs[i]);
        free(l->keys[i]);
    }
    free(l->svcs);
    free(l->keys);
    memset(l, 0, sizeof(*l));
}

static int listing_grow(struct listing *l, bool pods)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 64;
    if (pods) {
        struct ncap_pod_meta *p = realloc(l->pods, cap * sizeof(*p));
        if (!p)
            return -1;
        l->pods = p;
    } else {
        struct service *s = realloc(l->svcs, cap * sizeof(*s));
        if (s)
            l->svcs = s;
        char **k = s ? realloc(l->keys, cap * sizeof(*k)) : NULL;
        if (!k)
            return -1;
        l->keys = k;
    }
    l->cap = cap;
    return 0;
}

static void add_item(struct kubewatch *w, struct listing *l, const cJSON *item)
{
    char why[NCAP_ERRBUF_SIZE];
    bool pods = w->kind != KUBEWATCH_SERVICES;
    if (listing_grow(l, pods) < 0) {
        agent_log("%s: out of memory, one object left out", w->what);
        return;
    }
    int rc;
    if (pods) {
        rc = kube_pod_parse(item, &l->pods[l->n], why);
    } else {
        l->keys[l->n] = obj_key(item);
        rc = l->keys[l->n] ? service_parse(item, &l->svcs[l->n], why)
                           : ncap_fail(why, "an object has no metadata.uid or name");
        if (rc != 0)
            free(l->keys[l->n]);
    }
    if (rc < 0)
        agent_log("%s: one object left out: %s", w->what, why);
    else if (rc == 0)
        l->n++;
}

static char *page_path(const struct kubewatch *w, const char *cont)
{
    char *esc = cont ? ncap_kube_escape(cont) : NULL, *p = NULL;
    if (cont && !esc)
        return NULL;
    if (asprintf(&p, "%s%climit=%d%s%s", w->path, strchr(w->path, '?') ? '&' : '?', PAGE_LIMIT,
                 esc ? "&continue=" : "", esc ? esc : "") < 0)
        p = NULL;
    free(esc);
    return p;
}

/* List the whole collection into the podsource and remember its resourceVersion. */
static int relist(struct kubewatch *w, char *err)
{
    struct listing l = {0};
    char *cont = NULL, *rv = NULL;
    int rc = 0;
    do {
        char *path = page_path(w, cont);
        cJSON *resp = NULL;
        int status =
            path ? ncap_kube_request(w->kube, "GET", path, NULL, LIST_TIMEOUT_MS, &resp, err)
                 : ncap_fail(err, "out of memory");
        free(path);
        free(cont);
        cont = NULL;
        w->list_status = status;
        if (status >= 0 && status != 200) {
            char why[NCAP_ERRBUF_SIZE];
            ncap_kube_status_sentence(status, resp, why);
            ncap_fail(err, "%s", why);
            status = -1;
        }
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(resp, "items"), *item;
        if (status >= 0 && !cJSON_IsArray(items)) {
            ncap_fail(err, "the API server's list has no items array");
            status = -1;
        }
        if (status < 0) {
            cJSON_Delete(resp);
            rc = -1;
            break;
        }
        cJSON_ArrayForEach(item, items)
        {
            add_item(w, &l, item);
        }
        const char *v = str_at(resp, "metadata", "resourceVersion");
        const char *c = str_at(resp, "metadata", "continue");
        free(rv);
        rv = v ? strdup(v) : NULL;
        cont = c && *c ? strdup(c) : NULL;
        cJSON_Delete(resp);
    } while (cont);
    free(cont);
    if (rc == 0 && !rv)
        rc = ncap_fail(err, "the API server's list has no metadata.resourceVersion");
    if (rc < 0) {
        free(rv);
        listing_free(&l);
        return -1;
    }
    size_t n = l.n;
    if (w->kind == KUBEWATCH_SERVICES)
        rc = podsource_set_services(w->src, l.keys, l.svcs, l.n, err);
    else
        rc = podsource_set_pods(
            w->src, w->kind == KUBEWATCH_NODE_PODS ? ORIGIN_NODE_WATCH : ORIGIN_CLUSTER_WATCH,
            l.pods, l.n, err);
    if (rc < 0) {
        free(rv);
        return -1;
    }
    free(w->rv);
    w->rv = rv;
    w->listed = true;
    agent_log("%s: listed %zu (resourceVersion %s)", w->what, n, rv);
    return 0;
}

/* ---- watching ---- */

static void remember_rv(struct kubewatch *w, const cJSON *obj)
{
    const char *v = str_at(obj, "metadata", "resourceVersion");
    char *copy = v && *v ? strdup(v) : NULL;
    if (copy) {
        free(w->rv);
        w->rv = copy;
    }
}

static void apply_pod(struct kubewatch *w, bool deleted, const char *key, const cJSON *obj)
{
    enum pod_origin o = w->kind == KUBEWATCH_NODE_PODS ? ORIGIN_NODE_WATCH : ORIGIN_CLUSTER_WATCH;
    struct ncap_pod_meta m;
    char why[NCAP_ERRBUF_SIZE];
    int rc = deleted ? 1 : kube_pod_parse(obj, &m, why);
    if (rc < 0)
        agent_log("%s: a pod event left out: %s", w->what, why);
    if (rc != 0)
        podsource_delete_pod(w->src, o, key);
    else if (podsource_put_pod(w->src, o, key, &m, why) < 0)
        agent_log("%s: %s", w->what, why);
}

static void apply_service(struct kubewatch *w, bool deleted, const char *key, const cJSON *obj)
{
    struct service s;
    char why[NCAP_ERRBUF_SIZE];
    int rc = deleted ? 1 : service_parse(obj, &s, why);
    if (rc < 0)
        agent_log("%s: a service event left out: %s", w->what, why);
    if (rc != 0)
        podsource_delete_service(w->src, key);
    else if (podsource_put_service(w->src, key, &s, why) < 0)
        agent_log("%s: %s", w->what, why);
}

static int on_event(const char *type, const cJSON *obj, void *ud)
{
    struct kubewatch *w = ud;
    if (strcmp(type, "ERROR") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        const char *msg = str_at(obj, "message", NULL);
        if (!cJSON_IsNumber(code) || code->valueint != 410)
            agent_log("%s: the watch reported an error: %s", w->what, msg ? msg : "(no message)");
        return RELIST;
    }
    remember_rv(w, obj);
    bool deleted = strcmp(type, "DELETED") == 0;
    if (!deleted && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
        return 0; /* BOOKMARK: only its resourceVersion matters */
    char *key = obj_key(obj);
    if (!key) {
        agent_log("%s: an event without metadata.uid or name left out", w->what);
        return 0;
    }
    if (w->kind == KUBEWATCH_SERVICES)
        apply_service(w, deleted, key, obj);
    else
        apply_pod(w, deleted, key, obj);
    free(key);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep up to ms, waking early when the watch is stopped. */
static void pause_ms(struct kubewatch *w, unsigned ms)
{
    for (unsigned slept = 0; slept < ms && !w->stop; slept += 100)
        usleep(100 * 1000);
}

static void *watch_main(void *arg)
{
    struct kubewatch *w = arg;
    pthread_setname_np(pthread_self(), "netcap-watch");
    char err[NCAP_ERRBUF_SIZE];
    unsigned backoff = BACKOFF_MIN_MS;
    bool need_list = !w->listed;
    while (!w->stop) {
        if (need_list) {
            if (relist(w, err) < 0) {
                agent_log("%s: cannot list, retrying in %u s: %s", w->what, backoff / 1000, err);
                pause_ms(w, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            need_list = false;
        }
        char *path = NULL;
        if (asprintf(&path,
                     "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld&resourceVersion=%s",
                     w->path, strchr(w->path, '?') ? '&' : '?',
                     WATCH_TIMEOUT_MIN_S + random() % WATCH_TIMEOUT_MIN_S, w->rv) < 0) {
            pause_ms(w, backoff);
            continue;
        }
        uint64_t began = now_ms();
        int rc = ncap_kube_watch(w->kube, path, on_event, w, &w->stop, err);
        free(path);
        if (w->stop)
            break;
        if (rc == RELIST) {
            agent_log("%s: the watch expired, listing again", w->what);
            need_list = true;
        } else if (rc < 0) {
            agent_log("%s: the watch failed, listing again in %u s: %s", w->what, backoff / 1000,
                      err);
            need_list = true;
            pause_ms(w, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        } else if (now_ms() - began < WATCH_MIN_MS) {
            pause_ms(w, WATCH_MIN_MS);
        }
        backoff = BACKOFF_MIN_MS;
    }
    return NULL;
}

/* ---- the door ---- */

static void kubewatch_free(struct kubewatch *w)
{
    free(w->path);
    free(w->rv);
    free(w);
}

struct kubewatch *kubewatch_start(struct ncap_kube *k, struct podsource *src,
                                  enum kubewatch_kind kind, const char *node, char *err)
{
    struct kubewatch *w = calloc(1, sizeof(*w));
    if (!w) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    w->kube = k;
    w->src = src;
    w->kind = kind;
    int ok;
    if (kind == KUBEWATCH_NODE_PODS) {
        char *esc = ncap_kube_escape(node);
        ok = esc && asprintf(&w->path, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", esc) >= 0;
        free(esc);
        snprintf(w->what, sizeof(w->what), "pods on node %s", node);
    } else if (kind == KUBEWATCH_CLUSTER_PODS) {
        ok = (w->path = strdup("/api/v1/pods")) != NULL;
        snprintf(w->what, sizeof(w->what), "pods of the cluster");
    } else {
        ok = (w->path = strdup("/api/v1/services")) != NULL;
        snprintf(w->what, sizeof(w->what), "services of the cluster");
    }
    if (!ok) {
        w->path = NULL;
        kubewatch_free(w);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    /* A refusal (401/403: the agent's credentials or RBAC are wrong) stops the start with its
     * sentence; an API server that is down or overloaded is waited for, so that a node agent
     * started before the control plane is reachable comes up by itself (pods are then unknown
     * to it until the first list succeeds, and captures of them get 404 PodNotFound). */
    char why[NCAP_ERRBUF_SIZE];
    if (relist(w, why) < 0) {
        if (w->list_status == 401 || w->list_status == 403) {
            if (strstr(why, ncap_kube_server(k)))
                ncap_fail(err, "cannot list the %s: %s", w->what, why);
            else
                ncap_fail(err, "cannot list the %s at %s: %s", w->what, ncap_kube_server(k), why);
            kubewatch_free(w);
            return NULL;
        }
        agent_log("%s: cannot list yet, retrying in the background: %s", w->what, why);
    }
    int e = pthread_create(&w->thread, NULL, watch_main, w);
    if (e) {
        ncap_fail(err, "cannot start a thread to watch the %s: %s", w->what, strerror(e));
        kubewatch_free(w);
        return NULL;
    }
    w->started = true;
    return w;
}

void kubewatch_stop(struct kubewatch *w)
{
    if (!w)
        return;
    w->stop = 1;
    if (w->started)
        pthread_join(w->thread, NULL);
    kubewatch_free(w);
}
