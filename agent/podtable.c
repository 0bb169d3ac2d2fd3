/*
 * podtable.c - load the pods file, answer "which local pod is this" and "whose address is this"
 * (see podtable.h). Parsing of Pod objects is common/meta.c's job; this file only indexes.
 */
#include "podtable.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

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

static int cmp_addr(const void *a, const void *b)
{
    return memcmp(((const struct pod_addr *)a)->key, ((const struct pod_addr *)b)->key, 17);
}

static int build_addr_map(struct podtable *t, char *err)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_pods; i++)
        total += t->pods[i].n_ips;
    t->addrs = calloc(total ? total : 1, sizeof(*t->addrs));
    if (!t->addrs)
        return ncap_fail(err, "out of memory indexing pod addresses");
    size_t n = 0;
    for (size_t i = 0; i < t->n_pods; i++) {
        for (size_t j = 0; j < t->pods[i].n_ips; j++) {
            if (addr_key(t->pods[i].ips[j], t->addrs[n].key) < 0)
                continue; /* not an address: it names nobody */
            t->addrs[n++].pod = &t->pods[i];
        }
    }
    qsort(t->addrs, n, sizeof(*t->addrs), cmp_addr);
    /* Drop every address that two different pods claim. */
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int shared = 0;
        for (; j < n && cmp_addr(&t->addrs[i], &t->addrs[j]) == 0; j++)
            shared |= t->addrs[j].pod != t->addrs[i].pod;
        if (!shared)
            t->addrs[out++] = t->addrs[i];
        i = j;
    }
    t->n_addrs = out;
    return 0;
}

int podtable_load(struct podtable *t, const char *path, const char *node, char *err)
{
    memset(t, 0, sizeof(*t));
    size_t len;
    char *json = read_file(path, &len, err);
    if (!json)
        return -1;
    char why[NCAP_ERRBUF_SIZE];
    int rc = ncap_podlist_parse(json, len, &t->pods, &t->n_pods, why);
    free(json);
    if (rc < 0)
        return ncap_fail(err, "pods file %s: %s", path, why);
    if (!(t->node = strdup(node)) || build_addr_map(t, err) < 0) {
        podtable_free(t);
        return ncap_fail(err, "out of memory loading the pods file %s", path);
    }
    return 0;
}

void podtable_free(struct podtable *t)
{
    ncap_podlist_free(t->pods, t->n_pods);
    free(t->addrs);
    free(t->node);
    memset(t, 0, sizeof(*t));
}

static int is_local(const struct podtable *t, const struct ncap_pod_meta *p)
{
    return p->node && strcmp(p->node, t->node) == 0;
}

const struct ncap_pod_meta *podtable_find_local(const struct podtable *t, const char *namespace_,
                                                const char *name, char *err)
{
    for (size_t i = 0; i < t->n_pods; i++) {
        const struct ncap_pod_meta *p = &t->pods[i];
        if (strcmp(p->namespace_, namespace_) == 0 && strcmp(p->pod, name) == 0 && is_local(t, p))
            return p;
    }
    ncap_fail(err, "pod %s/%s is not on node %s", namespace_, name, t->node);
    return NULL;
}

const struct ncap_pod_meta *podtable_by_addr(const struct podtable *t, int family,
                                             const uint8_t *addr)
{
    struct pod_addr key = {.key = {(uint8_t)family}};
    memcpy(key.key + 1, addr, family == 4 ? 4 : 16);
    const struct pod_addr *hit = bsearch(&key, t->addrs, t->n_addrs, sizeof(*t->addrs), cmp_addr);
    return hit ? hit->pod : NULL;
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
    for (size_t i = 0; !bad && i < t->n_pods; i++) {
        if (!is_local(t, &t->pods[i]))
            continue;
        cJSON *pod = pod_json(&t->pods[i]);
        bad = !pod || !cJSON_AddItemToArray(items, pod);
    }
    char *out = bad ? NULL : cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    if (!out)
        ncap_fail(err, "out of memory listing pods");
    return out;
}
