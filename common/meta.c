/*
 * meta.c - the pod-metadata record in its three shapes (see meta.h): in memory, as the IDB
 * if_description JSON, and as a Kubernetes Pod object. cJSON does the JSON; this file decides
 * which keys matter and how a Pod maps onto netcap's view of it.
 */
#include "meta.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

void ncap_meta_free(struct ncap_pod_meta *m)
{
    if (!m)
        return;
    free(m->namespace_);
    free(m->pod);
    free(m->uid);
    free(m->node);
    free(m->container);
    free(m->interface);
    free(m->workload_kind);
    free(m->workload_name);
    for (size_t i = 0; i < m->n_labels; i++) {
        free(m->labels[i].key);
        free(m->labels[i].value);
    }
    free(m->labels);
    for (size_t i = 0; i < m->n_ips; i++)
        free(m->ips[i]);
    free(m->ips);
    memset(m, 0, sizeof(*m));
}

static int add_label(struct ncap_pod_meta *m, const char *k, const char *v)
{
    struct ncap_kv *l = realloc(m->labels, (m->n_labels + 1) * sizeof(*l));
    if (!l)
        return -1;
    m->labels = l;
    l[m->n_labels].key = ncap_strdup(k);
    l[m->n_labels].value = ncap_strdup(v);
    m->n_labels++;
    return l[m->n_labels - 1].key && l[m->n_labels - 1].value ? 0 : -1;
}

static int add_ip(struct ncap_pod_meta *m, const char *ip)
{
    for (size_t i = 0; i < m->n_ips; i++)
        if (strcmp(m->ips[i], ip) == 0)
            return 0;
    char **a = realloc(m->ips, (m->n_ips + 1) * sizeof(*a));
    if (!a)
        return -1;
    m->ips = a;
    a[m->n_ips] = ncap_strdup(ip);
    return a[m->n_ips++] ? 0 : -1;
}

int ncap_meta_copy(struct ncap_pod_meta *dst, const struct ncap_pod_meta *src, char *err)
{
    memset(dst, 0, sizeof(*dst));
    dst->namespace_ = ncap_strdup(src->namespace_);
    dst->pod = ncap_strdup(src->pod);
    dst->uid = ncap_strdup(src->uid);
    dst->node = ncap_strdup(src->node);
    dst->container = ncap_strdup(src->container);
    dst->interface = ncap_strdup(src->interface);
    dst->workload_kind = ncap_strdup(src->workload_kind);
    dst->workload_name = ncap_strdup(src->workload_name);
    dst->host_network = src->host_network;
    int bad = (src->namespace_ && !dst->namespace_) || (src->pod && !dst->pod) ||
              (src->uid && !dst->uid) || (src->node && !dst->node) ||
              (src->container && !dst->container) || (src->interface && !dst->interface) ||
              (src->workload_kind && !dst->workload_kind) ||
              (src->workload_name && !dst->workload_name);
    for (size_t i = 0; !bad && i < src->n_labels; i++)
        bad = add_label(dst, src->labels[i].key, src->labels[i].value) < 0;
    for (size_t i = 0; !bad && i < src->n_ips; i++)
        bad = add_ip(dst, src->ips[i]) < 0;
    if (bad) {
        ncap_meta_free(dst);
        return ncap_fail(err, "out of memory copying pod metadata");
    }
    return 0;
}

const char *ncap_meta_label(const struct ncap_pod_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, key) == 0)
            return m->labels[i].value;
    return NULL;
}

/* ---- if_description JSON ---- */

static int add_opt_string(cJSON *o, const char *key, const char *val)
{
    return !val || cJSON_AddStringToObject(o, key, val) ? 0 : -1;
}

char *ncap_meta_to_json(const struct ncap_pod_meta *m, char *err)
{
    cJSON *o = cJSON_CreateObject();
    int bad = !o || !cJSON_AddNumberToObject(o, "v", NCAP_META_VERSION);
    bad = bad || add_opt_string(o, "namespace", m->namespace_) < 0 ||
          add_opt_string(o, "pod", m->pod) < 0 || add_opt_string(o, "uid", m->uid) < 0 ||
          add_opt_string(o, "node", m->node) < 0 ||
          add_opt_string(o, "container", m->container) < 0 ||
          add_opt_string(o, "interface", m->interface) < 0;
    if (!bad && (m->workload_kind || m->workload_name)) {
        cJSON *w = cJSON_AddObjectToObject(o, "workload");
        bad = !w || add_opt_string(w, "kind", m->workload_kind) < 0 ||
              add_opt_string(w, "name", m->workload_name) < 0;
    }
    if (!bad && m->n_labels) {
        cJSON *l = cJSON_AddObjectToObject(o, "labels");
        bad = !l;
        for (size_t i = 0; !bad && i < m->n_labels; i++)
            bad = !cJSON_AddStringToObject(l, m->labels[i].key, m->labels[i].value);
    }
    if (!bad && m->n_ips) {
        cJSON *a = cJSON_AddArrayToObject(o, "ips");
        bad = !a;
        for (size_t i = 0; !bad && i < m->n_ips; i++) {
            cJSON *s = cJSON_CreateString(m->ips[i]);
            bad = !s || !cJSON_AddItemToArray(a, s);
        }
    }
    char *out = bad ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!out)
        ncap_fail(err, "out of memory encoding pod metadata");
    return out;
}

/* A string member, NULL if absent; -1 (with err) if present with another type. */
static int get_string(const cJSON *o, const char *key, const char **out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return ncap_fail(err, "\"%s\" must be a string", key);
    *out = v->valuestring;
    return 0;
}

static int set_string(char **dst, const cJSON *o, const char *key, char *err)
{
    const char *s;
    if (get_string(o, key, &s, err) < 0)
        return -1;
    if (s && !(*dst = ncap_strdup(s)))
        return ncap_fail(err, "out of memory");
    return 0;
}

static int parse_labels(struct ncap_pod_meta *m, const cJSON *labels, char *err)
{
    if (!labels || cJSON_IsNull(labels))
        return 0;
    if (!cJSON_IsObject(labels))
        return ncap_fail(err, "\"labels\" must be an object");
    const cJSON *l;
    cJSON_ArrayForEach(l, labels)
    {
        if (!cJSON_IsString(l))
            return ncap_fail(err, "label \"%s\" must have a string value", l->string);
        if (add_label(m, l->string, l->valuestring) < 0)
            return ncap_fail(err, "out of memory");
    }
    return 0;
}

int ncap_meta_from_json(const char *json, size_t len, struct ncap_pod_meta *out, char *err)
{
    memset(out, 0, sizeof(*out));
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!o)
        return ncap_fail(err, "pod metadata is not valid JSON");
    int rc = -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v");
    if (!cJSON_IsObject(o)) {
        ncap_fail(err, "pod metadata is not a JSON object");
    } else if (!cJSON_IsNumber(v)) {
        ncap_fail(err, "pod metadata has no version \"v\"");
    } else if (v->valuedouble != NCAP_META_VERSION) {
        ncap_fail(err, "pod metadata version %g is not supported (this build reads %d)",
                  v->valuedouble, NCAP_META_VERSION);
    } else if (set_string(&out->namespace_, o, "namespace", err) == 0 &&
               set_string(&out->pod, o, "pod", err) == 0 &&
               set_string(&out->uid, o, "uid", err) == 0 &&
               set_string(&out->node, o, "node", err) == 0 &&
               set_string(&out->container, o, "container", err) == 0 &&
               set_string(&out->interface, o, "interface", err) == 0 &&
               parse_labels(out, cJSON_GetObjectItemCaseSensitive(o, "labels"), err) == 0) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "workload");
        const cJSON *ips = cJSON_GetObjectItemCaseSensitive(o, "ips");
        if (w && !cJSON_IsObject(w)) {
            ncap_fail(err, "\"workload\" must be an object");
        } else if (ips && !cJSON_IsArray(ips)) {
            ncap_fail(err, "\"ips\" must be an array");
        } else if (!w || (set_string(&out->workload_kind, w, "kind", err) == 0 &&
                          set_string(&out->workload_name, w, "name", err) == 0)) {
            rc = 0;
            const cJSON *ip;
            cJSON_ArrayForEach(ip, ips)
            {
                if (!cJSON_IsString(ip)) {
                    rc = ncap_fail(err, "\"ips\" must hold strings");
                    break;
                }
                if (add_ip(out, ip->valuestring) < 0) {
                    rc = ncap_fail(err, "out of memory");
                    break;
                }
            }
        }
    }
    cJSON_Delete(o);
    if (rc < 0)
        ncap_meta_free(out);
    return rc;
}

/* ---- Kubernetes Pod objects ---- */

/* The controller owner, with a pod-template-hash ReplicaSet reported as its Deployment. */
static int set_workload(struct ncap_pod_meta *m, const cJSON *meta, char *err)
{
    const cJSON *owners = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
    const cJSON *ref, *owner = NULL;
    if (!cJSON_IsArray(owners))
        owners = NULL;
    cJSON_ArrayForEach(ref, owners)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller"))) {
            owner = ref;
            break;
        }
    }
    if (!owner)
        return 0;
    const char *kind, *name;
    if (get_string(owner, "kind", &kind, err) < 0 || get_string(owner, "name", &name, err) < 0)
        return -1;
    if (!kind || !name)
        return 0;
    const char *hash = ncap_meta_label(m, "pod-template-hash");
    size_t nl = strlen(name), hl = hash ? strlen(hash) : 0;
    if (strcmp(kind, "ReplicaSet") == 0 && hash && nl > hl + 1 && name[nl - hl - 1] == '-' &&
        strcmp(name + nl - hl, hash) == 0) {
        m->workload_kind = ncap_strdup("Deployment");
        m->workload_name = ncap_strndup(name, nl - hl - 1);
    } else {
        m->workload_kind = ncap_strdup(kind);
        m->workload_name = ncap_strdup(name);
    }
    if (!m->workload_kind || !m->workload_name)
        return ncap_fail(err, "out of memory");
    return 0;
}

static int parse_pod(const cJSON *item, struct ncap_pod_meta *m, char *err)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(item, "spec");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "status");
    if (!cJSON_IsObject(meta))
        return ncap_fail(err, "pod has no metadata object");
    if (set_string(&m->namespace_, meta, "namespace", err) < 0 ||
        set_string(&m->pod, meta, "name", err) < 0 || set_string(&m->uid, meta, "uid", err) < 0 ||
        parse_labels(m, cJSON_GetObjectItemCaseSensitive(meta, "labels"), err) < 0 ||
        set_workload(m, meta, err) < 0)
        return -1;
    if (!m->pod)
        return ncap_fail(err, "pod has no metadata.name");
    if (!m->namespace_ && !(m->namespace_ = ncap_strdup("default")))
        return ncap_fail(err, "out of memory");
    if (cJSON_IsObject(spec)) {
        if (set_string(&m->node, spec, "nodeName", err) < 0)
            return -1;
        m->host_network = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "hostNetwork"));
        const cJSON *containers = cJSON_GetObjectItemCaseSensitive(spec, "containers");
        const cJSON *first = cJSON_IsArray(containers) ? cJSON_GetArrayItem(containers, 0) : NULL;
        if (cJSON_IsObject(first) && set_string(&m->container, first, "name", err) < 0)
            return -1;
    }
    if (cJSON_IsObject(status)) {
        const cJSON *ips = cJSON_GetObjectItemCaseSensitive(status, "podIPs"), *ip;
        if (!cJSON_IsArray(ips))
            ips = NULL;
        cJSON_ArrayForEach(ip, ips)
        {
            const char *s;
            if (get_string(ip, "ip", &s, err) < 0)
                return -1;
            if (s && add_ip(m, s) < 0)
                return ncap_fail(err, "out of memory");
        }
        const char *s;
        if (get_string(status, "podIP", &s, err) < 0)
            return -1;
        if (s && *s && add_ip(m, s) < 0)
            return ncap_fail(err, "out of memory");
    }
    return 0;
}

void ncap_podlist_free(struct ncap_pod_meta *pods, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ncap_meta_free(&pods[i]);
    free(pods);
}

int ncap_podlist_parse(const char *json, size_t len, struct ncap_pod_meta **pods, size_t *n,
                       char *err)
{
    *pods = NULL;
    *n = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return ncap_fail(err, "pod list is not valid JSON");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    int single = cJSON_IsString(kind) && strcmp(kind->valuestring, "Pod") == 0;
    int rc = 0;
    if (!single && !cJSON_IsArray(items)) {
        rc = ncap_fail(err, "pod list has no \"items\" array (expected a PodList or a Pod)");
    } else {
        size_t count = single ? 1 : (size_t)cJSON_GetArraySize(items);
        *pods = calloc(count ? count : 1, sizeof(**pods));
        if (!*pods)
            rc = ncap_fail(err, "out of memory");
        for (size_t i = 0; rc == 0 && i < count; i++) {
            const cJSON *item = single ? root : cJSON_GetArrayItem(items, (int)i);
            char perr[NCAP_ERRBUF_SIZE];
            if (parse_pod(item, &(*pods)[i], perr) < 0)
                rc = ncap_fail(err, "pod %zu in the list: %s", i, perr);
            *n = i + 1;
        }
    }
    cJSON_Delete(root);
    if (rc < 0) {
        ncap_podlist_free(*pods, *n);
        *pods = NULL;
        *n = 0;
    }
    return rc;
}
