/*
 * podtable.c - the podsource's object sets and the snapshots built from them (see podtable.h).
 * Parsing of Pod objects is common/meta.c's job; this file only keeps and indexes.
 *
 * Locks: s->mu guards the sets and s->snap. Objects and snapshots are reference-counted with
 * atomics, so the last podtable_put() may run on any thread without the lock.
 */
#include "podtable.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

struct pod_obj {
    atomic_int refs;
    struct ncap_pod_meta m;
};

struct svc_obj {
    atomic_int refs;
    struct service s;
};

struct pod_addr {
    uint8_t key[17]; /* address family (4 or 6), then the address, zero-padded */
    const struct ncap_pod_meta *pod;
};

struct svc_addr {
    uint8_t key[17];
    const struct service *svc;
};

typedef void (*unref_fn)(void *);

/* ---- objects ---- */

void service_free(struct service *s)
{
    free(s->namespace_);
    free(s->name);
    for (size_t i = 0; i < s->n_ips; i++)
        free(s->ips[i]);
    free(s->ips);
    memset(s, 0, sizeof(*s));
}

static void pod_unref(void *p)
{
    struct pod_obj *o = p;
    if (o && atomic_fetch_sub(&o->refs, 1) == 1) {
        ncap_meta_free(&o->m);
        free(o);
    }
}

static void svc_unref(void *p)
{
    struct svc_obj *o = p;
    if (o && atomic_fetch_sub(&o->refs, 1) == 1) {
        service_free(&o->s);
        free(o);
    }
}

/* A new object holding *m (taken over, also on failure). */
static struct pod_obj *pod_new(struct ncap_pod_meta *m)
{
    struct pod_obj *o = malloc(sizeof(*o));
    if (!o) {
        ncap_meta_free(m);
        return NULL;
    }
    atomic_init(&o->refs, 1);
    o->m = *m;
    memset(m, 0, sizeof(*m));
    return o;
}

static struct svc_obj *svc_new(struct service *s)
{
    struct svc_obj *o = malloc(sizeof(*o));
    if (!o) {
        service_free(s);
        return NULL;
    }
    atomic_init(&o->refs, 1);
    o->s = *s;
    memset(s, 0, sizeof(*s));
    return o;
}

/* ---- object sets ---- */

/* Index of key, or -(insertion point) - 1. */
static long set_find(const struct objset *set, const char *key)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->keys[mid], key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Add or replace; obj is taken over (unref'd on failure). */
static int set_put(struct objset *set, const char *key, void *obj, unref_fn unref)
{
    long i = set_find(set, key);
    if (i >= 0) {
        unref(set->objs[i]);
        set->objs[i] = obj;
        return 0;
    }
    size_t at = (size_t)(-i - 1);
    char *k = strdup(key);
    if (!k || (set->n == set->cap && set->cap > SIZE_MAX / 4)) {
        free(k);
        unref(obj);
        return -1;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        char **keys = realloc(set->keys, cap * sizeof(*keys));
        if (keys)
            set->keys = keys;
        void **objs = keys ? realloc(set->objs, cap * sizeof(*objs)) : NULL;
        if (!objs) {
            free(k);
            unref(obj);
            return -1;
        }
        set->objs = objs;
        set->cap = cap;
    }
    memmove(set->keys + at + 1, set->keys + at, (set->n - at) * sizeof(*set->keys));
    memmove(set->objs + at + 1, set->objs + at, (set->n - at) * sizeof(*set->objs));
    set->keys[at] = k;
    set->objs[at] = obj;
    set->n++;
    return 0;
}

static bool set_delete(struct objset *set, const char *key, unref_fn unref)
{
    long i = set_find(set, key);
    if (i < 0)
        return false;
    free(set->keys[i]);
    unref(set->objs[i]);
    size_t at = (size_t)i;
    memmove(set->keys + at, set->keys + at + 1, (set->n - at - 1) * sizeof(*set->keys));
    memmove(set->objs + at, set->objs + at + 1, (set->n - at - 1) * sizeof(*set->objs));
    set->n--;
    return true;
}

static void set_clear(struct objset *set, unref_fn unref)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->keys[i]);
        unref(set->objs[i]);
    }
    free(set->keys);
    free(set->objs);
    memset(set, 0, sizeof(*set));
}

/* ---- the source ---- */

static void changed_locked(struct podsource *s)
{
    atomic_fetch_add(&s->gen, 1);
}

/* A PodList's key for a pod: its UID, else namespace/name (pods files may lack UIDs). */
static char *pod_key(const struct ncap_pod_meta *m)
{
    char *k = NULL;
    if (m->uid && *m->uid)
        return strdup(m->uid);
    if (asprintf(&k, "%s/%s", m->namespace_, m->pod) < 0)
        return NULL;
    return k;
}

int podsource_init(struct podsource *s, const char *node, char *err)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->gen, 1);
    if (!(s->node = strdup(node)))
        return ncap_fail(err, "out of memory");
    struct podtable *t = podsource_get(s);
    if (!t) {
        podsource_free(s);
        return ncap_fail(err, "out of memory");
    }
    podtable_put(t);
    return 0;
}

void podsource_free(struct podsource *s)
{
    for (int o = 0; o < ORIGIN_COUNT; o++)
        set_clear(&s->pods[o], pod_unref);
    set_clear(&s->svcs, svc_unref);
    if (s->snap)
        podtable_put(s->snap);
    free(s->node);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof(*s));
}

int podsource_set_pods(struct podsource *s, enum pod_origin o, struct ncap_pod_meta *pods, size_t n,
                       char *err)
{
    struct objset fresh = {0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *key = rc == 0 ? pod_key(&pods[i]) : NULL;
        struct pod_obj *obj = pod_new(&pods[i]);
        if (rc == 0 && (!key || !obj || set_put(&fresh, key, obj, pod_unref) < 0))
            rc = ncap_fail(err, "out of memory storing pods");
        else if (rc < 0)
            pod_unref(obj);
        free(key);
    }
    free(pods);
    if (rc < 0) {
        set_clear(&fresh, pod_unref);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    set_clear(&s->pods[o], pod_unref);
    s->pods[o] = fresh;
    changed_locked(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int podsource_put_pod(struct podsource *s, enum pod_origin o, const char *key,
                      struct ncap_pod_meta *pod, char *err)
{
    struct pod_obj *obj = pod_new(pod);
    if (!obj)
        return ncap_fail(err, "out of memory storing a pod");
    pthread_mutex_lock(&s->mu);
    int rc = set_put(&s->pods[o], key, obj, pod_unref);
    changed_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc < 0 ? ncap_fail(err, "out of memory storing a pod") : 0;
}

void podsource_delete_pod(struct podsource *s, enum pod_origin o, const char *key)
{
    pthread_mutex_lock(&s->mu);
    if (set_delete(&s->pods[o], key, pod_unref))
        changed_locked(s);
    pthread_mutex_unlock(&s->mu);
}

int podsource_set_services(struct podsource *s, char **keys, struct service *svcs, size_t n,
                           char *err)
{
    struct objset fresh = {0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct svc_obj *obj = svc_new(&svcs[i]);
        if (rc == 0 && (!obj || set_put(&fresh, keys[i], obj, svc_unref) < 0))
            rc = ncap_fail(err, "out of memory storing services");
        else if (rc < 0)
            svc_unref(obj);
        free(keys[i]);
    }
    free(keys);
    free(svcs);
    if (rc < 0) {
        set_clear(&fresh, svc_unref);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    set_clear(&s->svcs, svc_unref);
    s->svcs = fresh;
    changed_locked(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int podsource_put_service(struct podsource *s, const char *key, struct service *svc, char *err)
{
    struct svc_obj *obj = svc_new(svc);
    if (!obj)
        return ncap_fail(err, "out of memory storing a service");
    pthread_mutex_lock(&s->mu);
    int rc = set_put(&s->svcs, key, obj, svc_unref);
    changed_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc < 0 ? ncap_fail(err, "out of memory storing a service") : 0;
}

void podsource_delete_service(struct podsource *s, const char *key)
{
    pthread_mutex_lock(&s->mu);
    if (set_delete(&s->svcs, key, svc_unref))
        changed_locked(s);
    pthread_mutex_unlock(&s->mu);
}

/* ---- reading the pods file ---- */

/* The whole file in memory, NUL-terminated. */
static char *read_file(const char *path, size_t *len, char *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        ncap_fail(err, "cannot read the pods file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 65536) {
            char *b = realloc(buf, cap + 65536 + 1);
            if (!b) {
                ncap_fail(err, "out of memory reading the pods file %s", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
            cap += 65536;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        ncap_fail(err, "cannot read the pods file %s", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int podsource_load_file(struct podsource *s, const char *path, char *err)
{
    size_t len;
    char *json = read_file(path, &len, err);
    if (!json)
        return -1;
    char why[NCAP_ERRBUF_SIZE];
    struct ncap_pod_meta *pods;
    size_t n;
    int rc = ncap_podlist_parse(json, len, &pods, &n, why);
    free(json);
    if (rc < 0)
        return ncap_fail(err, "pods file %s: %s", path, why);
    if (podsource_set_pods(s, ORIGIN_FILE, pods, n, why) < 0)
        return ncap_fail(err, "pods file %s: %s", path, why);
    return 0;
}

/* ---- snapshots ---- */

static int addr_key(const char *ip, uint8_t key[17])
{
    memset(key, 0, 17);
    if (inet_pton(AF_INET, ip, key + 1) == 1) {
        key[0] = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, key + 1) == 1) {
        key[0] = 6;
        return 0;
    }
    return -1;
}

static int same_pod(const struct ncap_pod_meta *a, const struct ncap_pod_meta *b)
{
    return strcmp(a->namespace_, b->namespace_) == 0 && strcmp(a->pod, b->pod) == 0;
}

static int cmp_pod_addr(const void *a, const void *b)
{
    return memcmp(((const struct pod_addr *)a)->key, ((const struct pod_addr *)b)->key, 17);
}

static int cmp_svc_addr(const void *a, const void *b)
{
    return memcmp(((const struct svc_addr *)a)->key, ((const struct svc_addr *)b)->key, 17);
}

/* Entries of local[] carry their origin's rank in a parallel array while sorting. */
struct ranked {
    const struct ncap_pod_meta *pod;
    int rank;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    int c = strcmp(x->pod->namespace_, y->pod->namespace_);
    if (!c)
        c = strcmp(x->pod->pod, y->pod->pod);
    return c ? c : x->rank - y->rank;
}

static void snapshot_free(struct podtable *t)
{
    for (size_t i = 0; i < t->n_pods; i++)
        pod_unref(t->pods[i]);
    for (size_t i = 0; i < t->n_svcs; i++)
        svc_unref(t->svcs[i]);
    free(t->pods);
    free(t->svcs);
    free(t->local);
    free(t->addrs);
    free(t->svc_addrs);
    free(t);
}

static int is_local(const struct podsource *s, const struct ncap_pod_meta *p)
{
    return p->node && strcmp(p->node, s->node) == 0;
}

static int build_local(struct podtable *t, const struct podsource *s)
{
    size_t n = 0;
    struct ranked *r = calloc(t->n_pods ? t->n_pods : 1, sizeof(*r));
    if (!r)
        return -1;
    /* The node watch is fresher than the file: it ranks first among equal names. */
    static const enum pod_origin order[] = {ORIGIN_NODE_WATCH, ORIGIN_FILE};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        const struct objset *set = &s->pods[order[k]];
        for (size_t i = 0; i < set->n; i++) {
            const struct ncap_pod_meta *p = &((const struct pod_obj *)set->objs[i])->m;
            if (is_local(s, p))
                r[n++] = (struct ranked){p, (int)k};
        }
    }
    qsort(r, n, sizeof(*r), cmp_ranked);
    t->local = calloc(n ? n : 1, sizeof(*t->local));
    if (!t->local) {
        free(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (i == 0 || !same_pod(r[i - 1].pod, r[i].pod))
            t->local[t->n_local++] = r[i].pod;
    free(r);
    return 0;
}

static int build_pod_addrs(struct podtable *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_pods; i++)
        total += t->pods[i]->m.n_ips;
    t->addrs = calloc(total ? total : 1, sizeof(*t->addrs));
    if (!t->addrs)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < t->n_pods; i++) {
        const struct ncap_pod_meta *p = &t->pods[i]->m;
        for (size_t j = 0; j < p->n_ips; j++)
            if (addr_key(p->ips[j], t->addrs[n].key) == 0) /* not an address: names nobody */
                t->addrs[n++].pod = p;
    }
    qsort(t->addrs, n, sizeof(*t->addrs), cmp_pod_addr);
    /* Drop every address that two different pods claim (the same pod may come from two
     * origins: that is no conflict). */
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int shared = 0;
        for (; j < n && cmp_pod_addr(&t->addrs[i], &t->addrs[j]) == 0; j++)
            shared |= !same_pod(t->addrs[j].pod, t->addrs[i].pod);
        if (!shared)
            t->addrs[out++] = t->addrs[i];
        i = j;
    }
    t->n_addrs = out;
    return 0;
}

static int build_svc_addrs(struct podtable *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_svcs; i++)
        total += t->svcs[i]->s.n_ips;
    t->svc_addrs = calloc(total ? total : 1, sizeof(*t->svc_addrs));
    if (!t->svc_addrs)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < t->n_svcs; i++) {
        const struct service *sv = &t->svcs[i]->s;
        for (size_t j = 0; j < sv->n_ips; j++)
            if (addr_key(sv->ips[j], t->svc_addrs[n].key) == 0)
                t->svc_addrs[n++].svc = sv;
    }
    qsort(t->svc_addrs, n, sizeof(*t->svc_addrs), cmp_svc_addr);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int shared = 0;
        for (; j < n && cmp_svc_addr(&t->svc_addrs[i], &t->svc_addrs[j]) == 0; j++)
            shared |= t->svc_addrs[j].svc != t->svc_addrs[i].svc;
        if (!shared)
            t->svc_addrs[out++] = t->svc_addrs[i];
        i = j;
    }
    t->n_svc_addrs = out;
    return 0;
}

static struct podtable *snapshot_build(struct podsource *s)
{
    struct podtable *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    t->gen = atomic_load(&s->gen);
    t->node = s->node;
    size_t total = 0;
    for (int o = 0; o < ORIGIN_COUNT; o++)
        total += s->pods[o].n;
    t->pods = calloc(total ? total : 1, sizeof(*t->pods));
    t->svcs = calloc(s->svcs.n ? s->svcs.n : 1, sizeof(*t->svcs));
    if (!t->pods || !t->svcs) {
        snapshot_free(t);
        return NULL;
    }
    for (int o = 0; o < ORIGIN_COUNT; o++) {
        for (size_t i = 0; i < s->pods[o].n; i++) {
            struct pod_obj *p = s->pods[o].objs[i];
            atomic_fetch_add(&p->refs, 1);
            t->pods[t->n_pods++] = p;
        }
    }
    for (size_t i = 0; i < s->svcs.n; i++) {
        struct svc_obj *v = s->svcs.objs[i];
        atomic_fetch_add(&v->refs, 1);
        t->svcs[t->n_svcs++] = v;
    }
    if (build_local(t, s) < 0 || build_pod_addrs(t) < 0 || build_svc_addrs(t) < 0) {
        snapshot_free(t);
        return NULL;
    }
    return t;
}

struct podtable *podsource_get(struct podsource *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->snap || s->snap->gen != atomic_load(&s->gen)) {
        struct podtable *fresh = snapshot_build(s);
        if (fresh) {
            if (s->snap)
                podtable_put(s->snap);
            s->snap = fresh;
        }
    }
    struct podtable *t = s->snap;
    if (t)
        atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return t;
}

unsigned podsource_generation(struct podsource *s)
{
    return atomic_load_explicit(&s->gen, memory_order_relaxed);
}

void podtable_put(struct podtable *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1)
        snapshot_free(t);
}

/* ---- lookups ---- */

const struct ncap_pod_meta *podtable_find_local(const struct podtable *t, const char *namespace_,
                                                const char *name, char *err)
{
    size_t lo = 0, hi = t->n_local;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct ncap_pod_meta *p = t->local[mid];
        int c = strcmp(p->namespace_, namespace_);
        if (!c)
            c = strcmp(p->pod, name);
        if (c == 0)
            return p;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    ncap_fail(err, "pod %s/%s is not on node %s", namespace_, name, t->node);
    return NULL;
}

const struct ncap_pod_meta *podtable_by_addr(const struct podtable *t, int family,
                                             const uint8_t *addr)
{
    struct pod_addr key = {.key = {(uint8_t)family}};
    memcpy(key.key + 1, addr, family == 4 ? 4 : 16);
    const struct pod_addr *hit =
        bsearch(&key, t->addrs, t->n_addrs, sizeof(*t->addrs), cmp_pod_addr);
    return hit ? hit->pod : NULL;
}

const struct service *podtable_service_by_addr(const struct podtable *t, int family,
                                               const uint8_t *addr)
{
    struct svc_addr key = {.key = {(uint8_t)family}};
    memcpy(key.key + 1, addr, family == 4 ? 4 : 16);
    const struct svc_addr *hit =
        bsearch(&key, t->svc_addrs, t->n_svc_addrs, sizeof(*t->svc_addrs), cmp_svc_addr);
    return hit ? hit->svc : NULL;
}

static int cmp_obj_name(const void *a, const void *b)
{
    const struct ncap_pod_meta *x = &(*(struct pod_obj *const *)a)->m;
    const struct ncap_pod_meta *y = &(*(struct pod_obj *const *)b)->m;
    int c = strcmp(x->namespace_, y->namespace_);
    return c ? c : strcmp(x->pod, y->pod);
}

size_t podtable_count_pods(const struct podtable *t)
{
    struct pod_obj **v = malloc((t->n_pods ? t->n_pods : 1) * sizeof(*v));
    if (!v)
        return t->n_pods;
    memcpy(v, t->pods, t->n_pods * sizeof(*v));
    qsort(v, t->n_pods, sizeof(*v), cmp_obj_name);
    size_t n = 0;
    for (size_t i = 0; i < t->n_pods; i++)
        n += i == 0 || !same_pod(&v[i - 1]->m, &v[i]->m);
    free(v);
    return n;
}

/* One Pod object with the fields ncap_podlist_parse() reads back. */
static cJSON *pod_json(const struct ncap_pod_meta *p)
{
    cJSON *pod = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
    cJSON *spec = cJSON_AddObjectToObject(pod, "spec");
    cJSON *status = cJSON_AddObjectToObject(pod, "status");
    if (!meta || !spec || !status) {
        cJSON_Delete(pod);
        return NULL;
    }
    int bad = !cJSON_AddStringToObject(meta, "name", p->pod) ||
              !cJSON_AddStringToObject(meta, "namespace", p->namespace_);
    if (p->uid)
        bad |= !cJSON_AddStringToObject(meta, "uid", p->uid);
    if (p->n_labels) {
        cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
        bad |= !labels;
        for (size_t i = 0; labels && i < p->n_labels; i++)
            bad |= !cJSON_AddStringToObject(labels, p->labels[i].key, p->labels[i].value);
    }
    if (p->workload_kind && p->workload_name) {
        cJSON *refs = cJSON_AddArrayToObject(meta, "ownerReferences");
        cJSON *ref = cJSON_CreateObject();
        bad |= !refs || !ref || !cJSON_AddItemToArray(refs, ref);
        if (!bad)
            bad |= !cJSON_AddStringToObject(ref, "kind", p->workload_kind) ||
                   !cJSON_AddStringToObject(ref, "name", p->workload_name) ||
                   !cJSON_AddTrueToObject(ref, "controller");
    }
    bad |= !cJSON_AddStringToObject(spec, "nodeName", p->node);
    if (p->container) {
        cJSON *containers = cJSON_AddArrayToObject(spec, "containers");
        cJSON *c = cJSON_CreateObject();
        bad |= !containers || !c || !cJSON_AddItemToArray(containers, c);
        if (!bad)
            bad |= !cJSON_AddStringToObject(c, "name", p->container);
    }
    if (p->n_ips) {
        bad |= !cJSON_AddStringToObject(status, "podIP", p->ips[0]);
        cJSON *ips = cJSON_AddArrayToObject(status, "podIPs");
        bad |= !ips;
        for (size_t i = 0; ips && i < p->n_ips; i++) {
            cJSON *ip = cJSON_CreateObject();
            bad |= !ip || !cJSON_AddItemToArray(ips, ip) ||
                   !cJSON_AddStringToObject(ip, "ip", p->ips[i]);
        }
    }
    if (bad) {
        cJSON_Delete(pod);
        return NULL;
    }
    return pod;
}

char *podtable_local_json(const struct podtable *t, char *err)
{
    cJSON *list = cJSON_CreateObject();
    cJSON *items = NULL;
    int bad = !list || !cJSON_AddStringToObject(list, "apiVersion", "v1") ||
              !cJSON_AddStringToObject(list, "kind", "PodList") ||
              !(items = cJSON_AddArrayToObject(list, "items"));
    for (size_t i = 0; !bad && i < t->n_local; i++) {
        cJSON *pod = pod_json(t->local[i]);
        bad = !pod || !cJSON_AddItemToArray(items, pod);
    }
    char *out = bad ? NULL : cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    if (!out)
        ncap_fail(err, "out of memory listing pods");
    return out;
}
