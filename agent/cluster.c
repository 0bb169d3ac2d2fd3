/*
 * cluster.c - PodCapture checks, per-stream status and deletion watch, and the collector of
 * stale PodCaptures (see cluster.h).
 *
 * Threads: each stream has a status thread (detached; it owns the stream and frees it) and,
 * started by it, a watch thread (joined by the status thread). The collector has one thread.
 * Locks: cl->mu guards the stream list, the streamed UIDs and each stream's state. It is taken
 * before a capture's own lock (capture_stop(), capture_progress()), never after: a capture's
 * end callback runs without capture locks held. No API request is ever made under cl->mu.
 */
#include "cluster.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kubewatch.h"
#include "log.h"
#include "ncap.h"
#include "selector.h"
#include "sha256.h"
#include "deadline.h"

#define API_PREFIX "/apis/netcap.io/v1alpha1"
#define MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define MANAGED_BY_EXTCAP "netcap-extcap"

/* How old a PodCapture may be when a stream starts. */
#define FRESH_S 120
/* How long the agent remembers the UIDs it streamed (longer than FRESH_S plus clock skew). */
#define SEEN_KEEP_S 3600
#define STATUS_INTERVAL_S 5
#define REQUEST_TIMEOUT_MS 10000L
/* The collector: first pass soon after start, then every GC_INTERVAL_S plus some jitter so the
 * agents of a cluster do not all list at once. */
#define GC_FIRST_S 10
#define GC_INTERVAL_S 60
#define GC_JITTER_S 10
#define GC_AGE_S 600
/* A node entry "Streaming" not updated for this long belongs to an agent that is gone. */
#define NODE_LIVE_S 60
#define WATCH_RETRY_MS 2000
/* The server ends each watch after this long (a dead connection is replaced in bounded time). */
#define WATCH_TIMEOUT_S 300
#define WATCH_GONE 2 /* the watch callback's answer: the object is gone */
#define WATCH_RELIST 3

enum stream_state { STREAM_PENDING, STREAM_RUNNING, STREAM_ABORTED };

struct stream {
    struct cluster *cl;
    char *ns, *name, *uid, *rv;
    char label[600]; /* "ns/name", for sentences */
    enum stream_state state;
    struct capture *cap; /* while RUNNING and not ended */
    bool ended, deleted;
    struct capture_result result;
    char end_reason[NCAP_ERRBUF_SIZE];
    atomic_int stop_watch;
    char patch_err[NCAP_ERRBUF_SIZE]; /* last status failure logged, to log each kind once */
    struct stream *next;
};

struct seen {
    char *uid;
    time_t at;
};

struct cluster {
    struct ncap_kube *kube;
    struct podsource *pods;
    const struct nslist *excluded;
    char *node;
    struct kubewatch *watches[3];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a stream's state changed or it ended; the collector should stop */
    struct stream *streams;
    unsigned n_streams;
    struct seen *seen;
    size_t n_seen;
    bool stopping;
    pthread_t gc;
    bool gc_started;
};

/* ---- small helpers ---- */

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = at(o, a, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* status.nodes when it is an object, else NULL (iterates as empty). */
static const cJSON *status_nodes(const cJSON *obj)
{
    const cJSON *nodes = at(at(obj, "status", NULL), "nodes", NULL);
    return cJSON_IsObject(nodes) ? nodes : NULL;
}

/* RFC 3339 as Kubernetes writes it ("2024-05-01T12:00:00Z", maybe with fractions or an
 * offset). 0, or -1 when s is not such a time. */
static int parse_time(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *out = timegm(&tm) - offset;
    return 0;
}

static void format_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Sleep up to ms, waking early when the cluster is stopping. */
static void cluster_pause(struct cluster *cl, unsigned ms)
{
    struct timespec until = agent_deadline(CLOCK_MONOTONIC, (unsigned long)ms);
    pthread_mutex_lock(&cl->mu);
    while (!cl->stopping && pthread_cond_timedwait(&cl->cv, &cl->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&cl->mu);
}

static char *object_path(const char *ns, const char *name, const char *sub)
{
    char *p = NULL;
    if (asprintf(&p, API_PREFIX "/namespaces/%s/podcaptures/%s%s", ns, name, sub) < 0)
        return NULL;
    return p;
}

/* ---- streamed UIDs ---- */

static bool seen_locked(struct cluster *cl, const char *uid)
{
    for (size_t i = 0; i < cl->n_seen; i++)
        if (strcmp(cl->seen[i].uid, uid) == 0)
            return true;
    return false;
}

/* Remember uid, forgetting the ones too old to matter. 0, or -1 when out of memory. */
static int remember_locked(struct cluster *cl, const char *uid)
{
    time_t now = time(NULL);
    size_t out = 0;
    for (size_t i = 0; i < cl->n_seen; i++) {
        if (now - cl->seen[i].at > SEEN_KEEP_S)
            free(cl->seen[i].uid);
        else
            cl->seen[out++] = cl->seen[i];
    }
    cl->n_seen = out;
    struct seen *v = realloc(cl->seen, (cl->n_seen + 1) * sizeof(*v));
    if (!v)
        return -1;
    cl->seen = v;
    if (!(v[cl->n_seen].uid = strdup(uid)))
        return -1;
    v[cl->n_seen++].at = now;
    return 0;
}

static void forget_locked(struct cluster *cl, const char *uid)
{
    for (size_t i = 0; i < cl->n_seen; i++) {
        if (strcmp(cl->seen[i].uid, uid) == 0) {
            free(cl->seen[i].uid);
            cl->seen[i] = cl->seen[--cl->n_seen];
            return;
        }
    }
}

/* ---- status ---- */

/* PATCH the object's status with this node's entry (and the top-level phase when given).
 * Returns the HTTP status, or -1 with err. */
static int patch_status(struct stream *st, const char *top_phase, const char *phase,
                        const struct capture_result *r, const char *reason, char *err)
{
    char updated[32];
    format_time(time(NULL), updated);
    cJSON *doc = cJSON_CreateObject();
    cJSON *status = cJSON_AddObjectToObject(doc, "status");
    cJSON *nodes = status ? cJSON_AddObjectToObject(status, "nodes") : NULL;
    cJSON *me = nodes ? cJSON_AddObjectToObject(nodes, st->cl->node) : NULL;
    bool bad = !me || (top_phase && !cJSON_AddStringToObject(status, "phase", top_phase)) ||
               !cJSON_AddStringToObject(me, "phase", phase) ||
               !cJSON_AddNumberToObject(me, "packets", (double)r->packets) ||
               !cJSON_AddNumberToObject(me, "bytes", (double)r->bytes) ||
               !cJSON_AddNumberToObject(me, "drops", (double)r->drops) ||
               (reason && !cJSON_AddStringToObject(me, "reason", reason)) ||
               !cJSON_AddStringToObject(me, "updated", updated);
    char *body = bad ? NULL : cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    char *path = object_path(st->ns, st->name, "/status");
    int rc;
    cJSON *resp = NULL;
    if (!body || !path)
        rc = ncap_fail(err, "out of memory");
    else
        rc = ncap_kube_request(st->cl->kube, "PATCH", path, body, REQUEST_TIMEOUT_MS, &resp, err);
    if (rc >= 300)
        ncap_kube_status_sentence(rc, resp, err);
    cJSON_Delete(resp);
    free(body);
    free(path);
    return rc;
}

/* The object was deleted (or replaced by another of the same name): end the stream. */
static void stream_gone(struct stream *st)
{
    struct cluster *cl = st->cl;
    pthread_mutex_lock(&cl->mu);
    if (!st->deleted) {
        st->deleted = true;
        if (!st->ended && st->cap)
            capture_stop(st->cap, "PodCapture deleted");
    }
    pthread_mutex_unlock(&cl->mu);
}

static int object_still_there(struct stream *st, bool resume);

static void report(struct stream *st, const char *top_phase, const char *phase,
                   const struct capture_result *r, const char *reason)
{
    char err[NCAP_ERRBUF_SIZE];
    int rc = patch_status(st, top_phase, phase, r, reason, err);
    /* 404 is a deleted object, or a CRD without the status subresource: look. */
    if (rc == 404 && object_still_there(st, false) == 0) {
        stream_gone(st);
        return;
    }
    if (rc >= 200 && rc < 300) {
        st->patch_err[0] = '\0';
        return;
    }
    if (strcmp(err, st->patch_err) != 0) {
        agent_log("cannot update the status of PodCapture %s: %s", st->label, err);
        snprintf(st->patch_err, sizeof(st->patch_err), "%s", err);
    }
}

/* After this node's final entry: if no node streams any more, the whole capture is over. */
static void report_overall(struct stream *st)
{
    char err[NCAP_ERRBUF_SIZE];
    char *path = object_path(st->ns, st->name, "");
    cJSON *obj = NULL;
    int rc = path
                 ? ncap_kube_request(st->cl->kube, "GET", path, NULL, REQUEST_TIMEOUT_MS, &obj, err)
                 : -1;
    free(path);
    const cJSON *nodes = status_nodes(obj), *n;
    bool streaming = false, failed = false;
    cJSON_ArrayForEach(n, nodes)
    {
        const char *phase = str_at(n, "phase", NULL);
        streaming |= phase && strcmp(phase, "Streaming") == 0;
        failed |= phase && strcmp(phase, "Failed") == 0;
    }
    const char *uid = str_at(obj, "metadata", "uid");
    if (rc == 200 && uid && strcmp(uid, st->uid) == 0 && !streaming) {
        char body[64];
        snprintf(body, sizeof(body), "{\"status\":{\"phase\":\"%s\"}}",
                 failed ? "Failed" : "Completed");
        char *sp = object_path(st->ns, st->name, "/status");
        cJSON *resp = NULL;
        rc = sp ? ncap_kube_request(st->cl->kube, "PATCH", sp, body, REQUEST_TIMEOUT_MS, &resp, err)
                : -1;
        if (rc >= 300 && rc != 404) {
            ncap_kube_status_sentence(rc, resp, err);
            agent_log("cannot update the status of PodCapture %s: %s", st->label, err);
        }
        cJSON_Delete(resp);
        free(sp);
    }
    cJSON_Delete(obj);
}

/* ---- deletion watch ---- */

static int on_object_event(const char *type, const cJSON *obj, void *ud)
{
    struct stream *st = ud;
    if (strcmp(type, "ERROR") == 0)
        return WATCH_RELIST;
    const char *v = str_at(obj, "metadata", "resourceVersion");
    if (v && *v) {
        char *copy = strdup(v);
        if (copy) {
            free(st->rv);
            st->rv = copy;
        }
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return 0;
    const char *name = str_at(obj, "metadata", "name");
    if (!name || strcmp(name, st->name) != 0)
        return 0; /* a server that ignores the field selector */
    const char *uid = str_at(obj, "metadata", "uid");
    if (strcmp(type, "DELETED") == 0 || (uid && strcmp(uid, st->uid) != 0) ||
        str_at(obj, "metadata", "deletionTimestamp"))
        return WATCH_GONE;
    return 0;
}

/* Is the object still there? 1 yes, 0 gone, -1 cannot tell. resume (only on the watch's own
 * thread, which owns st->rv): take its resourceVersion to watch from. */
static int object_still_there(struct stream *st, bool resume)
{
    char err[NCAP_ERRBUF_SIZE];
    char *path = object_path(st->ns, st->name, "");
    cJSON *obj = NULL;
    int rc = path
                 ? ncap_kube_request(st->cl->kube, "GET", path, NULL, REQUEST_TIMEOUT_MS, &obj, err)
                 : -1;
    free(path);
    int there = -1;
    if (rc == 404) {
        there = 0;
    } else if (rc == 200) {
        const char *uid = str_at(obj, "metadata", "uid");
        there = uid && strcmp(uid, st->uid) == 0 && !str_at(obj, "metadata", "deletionTimestamp");
        if (there && resume)
            on_object_event("MODIFIED", obj, st);
    }
    cJSON_Delete(obj);
    return there;
}

static void watch_pause(struct stream *st, int ms)
{
    for (int i = 0; i < ms / 100 && !st->stop_watch; i++)
        usleep(100 * 1000);
}

static void *watch_main(void *arg)
{
    struct stream *st = arg;
    pthread_setname_np(pthread_self(), "netcap-pcwatch");
    char err[NCAP_ERRBUF_SIZE];
    char *esc = ncap_kube_escape(st->name);
    bool resumable = true; /* st->rv is a version to watch from */
    while (esc && !st->stop_watch) {
        if (!resumable) {
            int there = object_still_there(st, true);
            if (there == 0) {
                stream_gone(st);
                break;
            }
            if (there < 0) {
                watch_pause(st, WATCH_RETRY_MS);
                continue;
            }
            resumable = true;
        }
        char *path = NULL;
        if (asprintf(&path,
                     API_PREFIX "/namespaces/%s/podcaptures?fieldSelector=metadata.name%%3D%s"
                                "&watch=1&allowWatchBookmarks=true&timeoutSeconds=%d"
                                "&resourceVersion=%s",
                     st->ns, esc, WATCH_TIMEOUT_S, st->rv) < 0)
            break;
        int rc = ncap_kube_watch(st->cl->kube, path, on_object_event, st, &st->stop_watch, err);
        free(path);
        if (st->stop_watch)
            break;
        if (rc == WATCH_GONE) {
            stream_gone(st);
            break;
        }
        if (rc < 0)
            agent_log("the watch of PodCapture %s failed: %s", st->label, err);
        /* Ended by the server: resume from the last version; else look at the object first. */
        resumable = rc == 0;
        watch_pause(st, resumable ? WATCH_RETRY_MS / 4 : WATCH_RETRY_MS);
    }
    free(esc);
    return NULL;
}

/* ---- the stream's life ---- */

static void stream_free(struct stream *st)
{
    free(st->ns);
    free(st->name);
    free(st->uid);
    free(st->rv);
    free(st);
}

/* capture_owner.on_end: the capture is over and about to be freed. */
static void stream_ended(void *ud, const struct capture_result *r)
{
    struct stream *st = ud;
    struct cluster *cl = st->cl;
    pthread_mutex_lock(&cl->mu);
    st->result = *r;
    snprintf(st->end_reason, sizeof(st->end_reason), "%s", r->end_reason ? r->end_reason : "");
    st->result.end_reason = st->end_reason;
    st->ended = true;
    st->cap = NULL;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
}

static void unlink_stream(struct stream *st)
{
    struct cluster *cl = st->cl;
    pthread_mutex_lock(&cl->mu);
    for (struct stream **p = &cl->streams; *p; p = &(*p)->next) {
        if (*p == st) {
            *p = st->next;
            break;
        }
    }
    cl->n_streams--;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
}

static void *status_main(void *arg)
{
    struct stream *st = arg;
    struct cluster *cl = st->cl;
    pthread_setname_np(pthread_self(), "netcap-status");

    pthread_mutex_lock(&cl->mu);
    while (st->state == STREAM_PENDING)
        pthread_cond_wait(&cl->cv, &cl->mu);
    bool aborted = st->state == STREAM_ABORTED;
    pthread_mutex_unlock(&cl->mu);
    if (aborted) {
        unlink_stream(st);
        stream_free(st);
        return NULL;
    }

    pthread_t watcher;
    bool watching = pthread_create(&watcher, NULL, watch_main, st) == 0;
    if (!watching)
        agent_log("cannot watch PodCapture %s: deleting it will not end its stream", st->label);
    struct capture_result zero = {0};
    report(st, "Streaming", "Streaming", &zero, NULL);

    pthread_mutex_lock(&cl->mu);
    while (!st->ended) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += STATUS_INTERVAL_S;
        while (!st->ended && pthread_cond_timedwait(&cl->cv, &cl->mu, &until) == 0)
            ;
        if (st->ended || st->deleted)
            continue;
        struct capture_result now;
        capture_progress(st->cap, &now);
        pthread_mutex_unlock(&cl->mu);
        report(st, "Streaming", "Streaming", &now, NULL);
        pthread_mutex_lock(&cl->mu);
    }
    bool deleted = st->deleted;
    pthread_mutex_unlock(&cl->mu);

    if (!deleted) {
        report(st, NULL, st->result.failed ? "Failed" : "Completed", &st->result, st->end_reason);
        report_overall(st);
    }
    st->stop_watch = 1;
    if (watching)
        pthread_join(watcher, NULL);
    unlink_stream(st);
    stream_free(st);
    return NULL;
}

/* ---- checking a request ---- */

/* Constant-time comparison of the key's tagged SHA-256 with the object's streamKeyHash. */
static bool key_matches(const char *key, const char *want)
{
    char have[72];
    ncap_sha256_tagged_hex(key, strlen(key), have);
    size_t n = strlen(have);
    if (!want || strlen(want) != n)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(have[i] ^ want[i]);
    return diff == 0;
}

/* The names of this node's pods in ns that the spec selects (malloc'd), into targets. */
/* The pods of the object on this node, as targets. A hostNetwork pod shares the node's network
 * namespace: capturing it would show every pod's and the node's own traffic, which permission in
 * one namespace must not give, so it is refused (403) rather than left out silently. */
static int select_targets(struct cluster *cl, const char *ns, const struct podcapture_spec *ps,
                          struct capture_spec *out, const char **reason, char *err)
{
    struct podtable *t = podsource_get(cl->pods);
    size_t n = 0;
    for (size_t i = 0; i < t->n_local; i++) {
        const struct ncap_pod_meta *p = t->local[i];
        if (strcmp(p->namespace_, ns) != 0)
            continue;
        bool want = false;
        for (size_t j = 0; j < ps->n_pods && !want; j++)
            want = strcmp(ps->pods[j], p->pod) == 0;
        if (ps->selector)
            want = selector_matches(ps->selector, p);
        if (!want)
            continue;
        if (p->host_network) {
            podtable_put(t);
            *reason = "HostNetworkPod";
            ncap_fail(err,
                      "pod %s/%s uses the node's network (hostNetwork), so capturing it would "
                      "show the traffic of the whole node %s; it cannot be captured",
                      ns, p->pod, cl->node);
            return 403;
        }
        if (n == REQ_MAX_TARGETS) {
            podtable_put(t);
            *reason = "BadRequest";
            ncap_fail(err,
                      "the selector %s matches more than %d pods on node %s, the most one "
                      "capture may take",
                      ps->selector_text, REQ_MAX_TARGETS, cl->node);
            return 400;
        }
        if (!out->targets && !(out->targets = calloc(REQ_MAX_TARGETS, sizeof(*out->targets)))) {
            podtable_put(t);
            *reason = "CaptureFailed";
            ncap_fail(err, "out of memory");
            return 500;
        }
        struct target_spec *ts = &out->targets[n++];
        out->n_targets = n;
        ts->namespace_ = strdup(ns);
        ts->pod = strdup(p->pod);
        ts->interface = strdup(ps->interface);
        if (!ts->namespace_ || !ts->pod || !ts->interface) {
            podtable_put(t);
            *reason = "CaptureFailed";
            ncap_fail(err, "out of memory");
            return 500;
        }
    }
    podtable_put(t);
    return 0;
}

/* Every check of API.md on the object; 0, or an HTTP status with reason and err. */
static int check_object(struct cluster *cl, const struct podcapture_ref *ref, const cJSON *obj,
                        const char *label, const char **reason, char *err)
{
    const cJSON *spec = at(obj, "spec", NULL);
    if (!key_matches(ref->key, str_at(spec, "streamKeyHash", NULL))) {
        *reason = "StreamKeyMismatch";
        ncap_fail(err, "the stream key does not match PodCapture %s", label);
        return 403;
    }
    time_t created;
    const char *ts = str_at(obj, "metadata", "creationTimestamp");
    if (parse_time(ts, &created) < 0) {
        *reason = "PodCaptureStale";
        ncap_fail(err, "PodCapture %s has no valid creationTimestamp", label);
        return 403;
    }
    long age = (long)(time(NULL) - created);
    if (age > FRESH_S) {
        *reason = "PodCaptureStale";
        ncap_fail(err, "PodCapture %s was created %ld s ago, and a stream must start within %d s",
                  label, age, FRESH_S);
        return 403;
    }
    const char *uid = str_at(obj, "metadata", "uid");
    if (!uid || !*uid) {
        *reason = "BadRequest";
        ncap_fail(err, "PodCapture %s has no metadata.uid", label);
        return 400;
    }
    if (at(at(at(obj, "status", NULL), "nodes", NULL), cl->node, NULL)) {
        *reason = "AlreadyStreamed";
        ncap_fail(err, "PodCapture %s was already streamed by node %s", label, cl->node);
        return 409;
    }
    return 0;
}

/* Claim the object's UID for this node (a second request with it gets 409). */
static int claim(struct cluster *cl, const char *uid, const char *label, const char **reason,
                 char *err)
{
    int status = 0;
    pthread_mutex_lock(&cl->mu);
    if (seen_locked(cl, uid)) {
        *reason = "AlreadyStreamed";
        ncap_fail(err, "PodCapture %s was already streamed by node %s", label, cl->node);
        status = 409;
    } else if (remember_locked(cl, uid) < 0) {
        *reason = "CaptureFailed";
        ncap_fail(err, "out of memory");
        status = 500;
    }
    pthread_mutex_unlock(&cl->mu);
    return status;
}

/* A stream in the list with its status thread waiting for the capture; NULL with err. */
static struct stream *stream_new(struct cluster *cl, const struct podcapture_ref *ref,
                                 const char *uid, const char *rv, char *err)
{
    struct stream *st = calloc(1, sizeof(*st));
    if (!st) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    st->cl = cl;
    st->ns = strdup(ref->namespace_);
    st->name = strdup(ref->name);
    st->uid = strdup(uid);
    st->rv = strdup(rv ? rv : "");
    snprintf(st->label, sizeof(st->label), "%s/%s", ref->namespace_, ref->name);
    if (!st->ns || !st->name || !st->uid || !st->rv) {
        stream_free(st);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&cl->mu);
    st->next = cl->streams;
    cl->streams = st;
    cl->n_streams++;
    pthread_mutex_unlock(&cl->mu);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &attr, status_main, st);
    pthread_attr_destroy(&attr);
    if (e) {
        unlink_stream(st);
        stream_free(st);
        ncap_fail(err, "cannot start a thread for the status of a capture: %s", strerror(e));
        return NULL;
    }
    return st;
}

static void stream_begin(struct stream *st, struct capture *c)
{
    pthread_mutex_lock(&st->cl->mu);
    st->cap = c;
    st->state = c ? STREAM_RUNNING : STREAM_ABORTED;
    pthread_cond_broadcast(&st->cl->cv);
    pthread_mutex_unlock(&st->cl->mu);
}

int cluster_capture(struct cluster *cl, const struct podcapture_ref *ref, const char *client,
                    struct capture **out, const char **reason, char *err)
{
    char label[600];
    snprintf(label, sizeof(label), "%s/%s", ref->namespace_, ref->name);
    *out = NULL;
    if (nslist_has(cl->excluded, ref->namespace_)) {
        *reason = "NamespaceExcluded";
        ncap_fail(err, "namespace %s is excluded from capture on this agent", ref->namespace_);
        return 403;
    }

    char *path = object_path(ref->namespace_, ref->name, "");
    cJSON *obj = NULL;
    char why[NCAP_ERRBUF_SIZE];
    int rc = path ? ncap_kube_request(cl->kube, "GET", path, NULL, REQUEST_TIMEOUT_MS, &obj, why)
                  : ncap_fail(why, "out of memory");
    free(path);
    int status = 0;
    if (rc == 404) {
        *reason = "PodCaptureNotFound";
        ncap_fail(err, "PodCapture %s does not exist", label);
        status = 404;
    } else if (rc != 200) {
        if (rc >= 0)
            ncap_kube_status_sentence(rc, obj, why);
        *reason = "KubernetesUnavailable";
        ncap_fail(err, "cannot read PodCapture %s: %s", label, why);
        status = 503;
    } else if (!cJSON_IsObject(at(obj, "metadata", NULL))) {
        *reason = "KubernetesUnavailable";
        ncap_fail(err, "the API server's answer for PodCapture %s is not an object", label);
        status = 503;
    } else {
        status = check_object(cl, ref, obj, label, reason, err);
    }

    struct podcapture_spec ps;
    struct capture_spec cs = {0};
    memset(&ps, 0, sizeof(ps));
    if (status == 0 && podcapture_spec_parse(at(obj, "spec", NULL), &ps, why) < 0) {
        *reason = "BadRequest";
        ncap_fail(err, "PodCapture %s cannot be used: %s", label, why);
        status = 400;
    }
    if (status == 0)
        status = select_targets(cl, ref->namespace_, &ps, &cs, reason, err);
    if (status == 0 && cs.n_targets == 0) {
        *reason = "PodNotFound";
        ncap_fail(err, "no pod of PodCapture %s runs on node %s", label, cl->node);
        status = 404;
    }
    const char *uid = status == 0 ? str_at(obj, "metadata", "uid") : NULL;
    if (status == 0)
        status = claim(cl, uid, label, reason, err);
    bool claimed = status == 0;
    struct stream *st = NULL;
    if (status == 0 &&
        !(st = stream_new(cl, ref, uid, str_at(obj, "metadata", "resourceVersion"), err))) {
        *reason = "CaptureFailed";
        status = 500;
    }
    if (status == 0) {
        /* The options are the object's; the targets are its pods on this node. */
        struct capture_spec opts = ps.opts;
        memset(&ps.opts, 0, sizeof(ps.opts));
        opts.targets = cs.targets;
        opts.n_targets = cs.n_targets;
        memset(&cs, 0, sizeof(cs));
        char who_text[700];
        snprintf(who_text, sizeof(who_text), "%s (uid %s)", label, uid);
        struct capture_who who = {.podcapture = who_text, .client = client};
        struct capture_owner owner = {.on_end = stream_ended, .ud = st};
        status = capture_start(&opts, cl->pods, &who, &owner, out, reason, err);
        stream_begin(st, *out);
    }
    /* A request that failed here may be tried again. */
    if (status && claimed) {
        pthread_mutex_lock(&cl->mu);
        forget_locked(cl, uid);
        pthread_mutex_unlock(&cl->mu);
    }
    podcapture_spec_free(&ps);
    capture_spec_free(&cs);
    cJSON_Delete(obj);
    return status;
}

/* ---- the collector ---- */

/* Does a node still stream this object (an entry "Streaming" updated lately)? */
static bool streamed_now(const cJSON *obj, time_t now)
{
    const cJSON *nodes = status_nodes(obj), *n;
    cJSON_ArrayForEach(n, nodes)
    {
        const char *phase = str_at(n, "phase", NULL);
        time_t updated;
        if (phase && strcmp(phase, "Streaming") == 0 &&
            parse_time(str_at(n, "updated", NULL), &updated) == 0 && now - updated < NODE_LIVE_S)
            return true;
    }
    return false;
}

static bool streaming_here(struct cluster *cl, const char *uid)
{
    bool here = false;
    pthread_mutex_lock(&cl->mu);
    for (const struct stream *st = cl->streams; st && !here; st = st->next)
        here = strcmp(st->uid, uid) == 0;
    pthread_mutex_unlock(&cl->mu);
    return here;
}

static void collect_one(struct cluster *cl, const cJSON *obj, time_t now)
{
    const char *ns = str_at(obj, "metadata", "namespace"), *name = str_at(obj, "metadata", "name");
    const char *uid = str_at(obj, "metadata", "uid");
    const char *managed = str_at(at(obj, "metadata", "labels"), MANAGED_BY_LABEL, NULL);
    time_t created;
    if (!ns || !name || !uid || !managed || strcmp(managed, MANAGED_BY_EXTCAP) != 0 ||
        parse_time(str_at(obj, "metadata", "creationTimestamp"), &created) < 0 ||
        now - created <= GC_AGE_S || streamed_now(obj, now) || streaming_here(cl, uid))
        return;
    const char *phase = str_at(obj, "status", "phase");
    char *path = object_path(ns, name, ""), *body = NULL;
    char err[NCAP_ERRBUF_SIZE];
    cJSON *resp = NULL;
    int rc = -1;
    /* The UID precondition spares an object that took the name in the meantime. */
    if (path && asprintf(&body,
                         "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                         "\"preconditions\":{\"uid\":\"%s\"}}",
                         uid) >= 0)
        rc = ncap_kube_request(cl->kube, "DELETE", path, body, REQUEST_TIMEOUT_MS, &resp, err);
    else
        ncap_fail(err, "out of memory");
    if (rc >= 200 && rc < 300) {
        agent_log("deleted the stale PodCapture %s/%s (uid %s, created %ld s ago, phase %s)", ns,
                  name, uid, (long)(now - created), phase ? phase : "none");
    } else if (rc != 404 && rc != 409) { /* 404, 409: another agent was faster */
        if (rc >= 0)
            ncap_kube_status_sentence(rc, resp, err);
        agent_log("cannot delete the stale PodCapture %s/%s: %s", ns, name, err);
    }
    cJSON_Delete(resp);
    free(body);
    free(path);
}

static void collect(struct cluster *cl, char *last_err)
{
    char err[NCAP_ERRBUF_SIZE];
    char *sel = ncap_kube_escape(MANAGED_BY_LABEL "=" MANAGED_BY_EXTCAP), *path = NULL;
    cJSON *list = NULL;
    int rc = -1;
    if (sel && asprintf(&path, API_PREFIX "/podcaptures?labelSelector=%s", sel) >= 0)
        rc = ncap_kube_request(cl->kube, "GET", path, NULL, REQUEST_TIMEOUT_MS * 3, &list, err);
    else
        ncap_fail(err, "out of memory");
    free(sel);
    free(path);
    if (rc >= 0 && rc != 200)
        ncap_kube_status_sentence(rc, list, err);
    if (rc != 200) {
        /* Say it once, not every minute. */
        if (strcmp(err, last_err) != 0)
            agent_log("cannot list PodCaptures to collect stale ones: %s", err);
        snprintf(last_err, NCAP_ERRBUF_SIZE, "%s", err);
    } else {
        last_err[0] = '\0';
        time_t now = time(NULL);
        const cJSON *item, *items = at(list, "items", NULL);
        if (!cJSON_IsArray(items))
            items = NULL;
        cJSON_ArrayForEach(item, items)
        {
            collect_one(cl, item, now);
        }
    }
    cJSON_Delete(list);
}

static void *gc_main(void *arg)
{
    struct cluster *cl = arg;
    pthread_setname_np(pthread_self(), "netcap-gc");
    char last_err[NCAP_ERRBUF_SIZE] = "";
    unsigned wait_s = GC_FIRST_S;
    for (;;) {
        cluster_pause(cl, wait_s * 1000u);
        pthread_mutex_lock(&cl->mu);
        bool stopping = cl->stopping;
        pthread_mutex_unlock(&cl->mu);
        if (stopping)
            break;
        collect(cl, last_err);
        wait_s = GC_INTERVAL_S + (unsigned)(random() % (GC_JITTER_S + 1));
    }
    return NULL;
}

/* ---- the door ---- */

const char *cluster_server(const struct cluster *cl)
{
    return ncap_kube_server(cl->kube);
}

static void cluster_free(struct cluster *cl)
{
    for (size_t i = 0; i < sizeof(cl->watches) / sizeof(cl->watches[0]); i++)
        kubewatch_stop(cl->watches[i]);
    for (size_t i = 0; i < cl->n_seen; i++)
        free(cl->seen[i].uid);
    free(cl->seen);
    ncap_kube_free(cl->kube);
    free(cl->node);
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->cv);
    free(cl);
}

struct cluster *cluster_start(struct ncap_kube *k, struct podsource *pods,
                              const struct nslist *excluded, const char *node, char *err)
{
    struct cluster *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        ncap_kube_free(k);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    cl->kube = k;
    cl->pods = pods;
    cl->excluded = excluded;
    pthread_mutex_init(&cl->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl->cv, &ca);
    pthread_condattr_destroy(&ca);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    if (!(cl->node = strdup(node))) {
        ncap_fail(err, "out of memory");
        cluster_free(cl);
        return NULL;
    }
    static const enum kubewatch_kind kinds[] = {KUBEWATCH_NODE_PODS, KUBEWATCH_CLUSTER_PODS,
                                                KUBEWATCH_SERVICES};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!(cl->watches[i] = kubewatch_start(k, pods, kinds[i], node, err))) {
            cluster_free(cl);
            return NULL;
        }
    }
    int e = pthread_create(&cl->gc, NULL, gc_main, cl);
    if (e) {
        ncap_fail(err, "cannot start the PodCapture collector thread: %s", strerror(e));
        cluster_free(cl);
        return NULL;
    }
    cl->gc_started = true;
    return cl;
}

int cluster_stop(struct cluster *cl, int timeout_ms)
{
    if (!cl)
        return 0;
    struct timespec until = agent_deadline(CLOCK_MONOTONIC, (unsigned long)timeout_ms);
    pthread_mutex_lock(&cl->mu);
    cl->stopping = true;
    pthread_cond_broadcast(&cl->cv);
    int rc = 0;
    while (cl->n_streams > 0 && rc == 0)
        rc = pthread_cond_timedwait(&cl->cv, &cl->mu, &until);
    bool left = cl->n_streams > 0;
    pthread_mutex_unlock(&cl->mu);
    if (cl->gc_started)
        pthread_join(cl->gc, NULL);
    if (left) {
        agent_log("some PodCapture status updates did not end in time");
        return -1;
    }
    cluster_free(cl);
    return 0;
}
