/*
 * podcapture.c - create and delete the PodCapture of a capture (see podcapture.h).
 *
 * The key never leaves this process except in the stream requests' bodies: it is not logged,
 * and every buffer that held it is wiped before it is freed. The object's spec is what the
 * agents enforce (filter, limits, targets); the stream request carries only its name and the key.
 */
#include "podcapture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debuglog.h"
#include "platform.h"
#include "sha256.h"
#include "targets.h"

#define PODCAPTURE_API "/apis/netcap.io/v1alpha1/namespaces/"

static int new_key(char hex[PODCAPTURE_KEY_HEX_LEN + 1], char *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[PODCAPTURE_KEY_HEX_LEN / 2];

    if (platform_random(raw, sizeof(raw), err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
    hex[PODCAPTURE_KEY_HEX_LEN] = '\0';
    memset(raw, 0, sizeof(raw));
    return 0;
}

static char *create_body(const char *ns, const char *pod, const char *selector,
                         const struct options *o, const char *key_hash, char *err)
{
    cJSON *root = cJSON_CreateObject(), *meta, *labels, *spec = NULL, *pods = NULL;
    char *body = NULL;
    int ok;

    ok = cJSON_AddStringToObject(root, "apiVersion", "netcap.io/v1alpha1") &&
         cJSON_AddStringToObject(root, "kind", "PodCapture") &&
         (meta = cJSON_AddObjectToObject(root, "metadata")) &&
         cJSON_AddStringToObject(meta, "generateName", "netcap-") &&
         cJSON_AddStringToObject(meta, "namespace", ns) &&
         (labels = cJSON_AddObjectToObject(meta, "labels")) &&
         cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "netcap-extcap") &&
         (spec = cJSON_AddObjectToObject(root, "spec")) &&
         (pod ? (pods = cJSON_AddArrayToObject(spec, "pods")) &&
                    cJSON_AddItemToArray(pods, cJSON_CreateString(pod))
              : cJSON_AddStringToObject(spec, "selector", selector) != NULL) &&
         cJSON_AddStringToObject(spec, "interface", o->pod_interface) &&
         cJSON_AddStringToObject(spec, "streamKeyHash", key_hash);
    if (!ok)
        ncap_fail(err, "out of memory");
    else if (options_add_spec(o, spec, err) == 0 && !(body = cJSON_PrintUnformatted(root)))
        ncap_fail(err, "out of memory");
    cJSON_Delete(root);
    return body;
}

/* The sentence for a refused create. */
static void refused(int status, const cJSON *resp, const char *ns, char *err)
{
    char sentence[NCAP_ERRBUF_SIZE];

    ncap_kube_status_sentence(status, resp, sentence);
    if (status == 404)
        ncap_fail(err,
                  "cannot create a PodCapture in %s: the cluster does not know "
                  "podcaptures.netcap.io (is netcap installed?): %s",
                  ns, sentence);
    else
        ncap_fail(err, "cannot create a PodCapture in %s: %s", ns, sentence);
}

int podcapture_create(struct ncap_kube *k, const char *ns, const char *pod, const char *selector,
                      const struct options *o, long timeout_ms, struct podcapture *pc, char *err)
{
    char key_hash[72], path[sizeof(PODCAPTURE_API) + 300];
    const cJSON *name;
    cJSON *resp = NULL;
    char *body;
    int st;

    memset(pc, 0, sizeof(*pc));
    if (new_key(pc->key, err) < 0)
        return -1;
    ncap_sha256_tagged_hex(pc->key, PODCAPTURE_KEY_HEX_LEN, key_hash);
    body = create_body(ns, pod, selector, o, key_hash, err);
    if (!body) {
        memset(pc->key, 0, sizeof(pc->key));
        return -1;
    }
    snprintf(path, sizeof(path), PODCAPTURE_API "%s/podcaptures", ns);
    debuglog(DEBUGLOG_DEBUG, "POST %s %s", path, body);
    st = ncap_kube_request(k, "POST", path, body, timeout_ms, &resp, err);
    free(body);
    name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "metadata"),
                                            "name");
    if (st >= 0 && st != 201) {
        refused(st, resp, ns, err);
        st = -1;
    } else if (st >= 0 && (!cJSON_IsString(name) ||
                           targets_check_name("PodCapture", name->valuestring, err) < 0)) {
        /* Not deleted: without a usable name there is nothing to address; the agents
         * garbage-collect stale objects. */
        if (!cJSON_IsString(name))
            ncap_fail(err, "the API server created a PodCapture in %s without a name", ns);
        st = -1;
    }
    if (st < 0) {
        cJSON_Delete(resp);
        memset(pc->key, 0, sizeof(pc->key));
        return -1;
    }
    pc->ns = strdup(ns);
    pc->name = strdup(name->valuestring);
    cJSON_Delete(resp);
    if (!pc->ns || !pc->name) {
        podcapture_delete(k, pc, timeout_ms);
        return ncap_fail(err, "out of memory");
    }
    debuglog(DEBUGLOG_INFO, "created PodCapture %s/%s", pc->ns, pc->name);
    return 0;
}

void podcapture_delete(struct ncap_kube *k, struct podcapture *pc, long timeout_ms)
{
    char path[sizeof(PODCAPTURE_API) + 600], err[NCAP_ERRBUF_SIZE];
    int st;

    if (pc->ns && pc->name) {
        snprintf(path, sizeof(path), PODCAPTURE_API "%s/podcaptures/%s", pc->ns, pc->name);
        st = ncap_kube_request(k, "DELETE", path, NULL, timeout_ms, NULL, err);
        if (st < 0)
            debuglog(DEBUGLOG_MESSAGE, "deleting PodCapture %s/%s failed: %s", pc->ns, pc->name,
                     err);
        else
            debuglog(DEBUGLOG_INFO, "DELETE PodCapture %s/%s: HTTP %d", pc->ns, pc->name, st);
    }
    memset(pc->key, 0, sizeof(pc->key));
    free(pc->ns);
    free(pc->name);
    pc->ns = pc->name = NULL;
}

char *podcapture_stream_body(const struct podcapture *pc)
{
    static const char fmt[] = "{\"podCapture\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
                              "\"streamKey\":\"%s\"}";
    size_t len = sizeof(fmt) + strlen(pc->ns) + strlen(pc->name) + PODCAPTURE_KEY_HEX_LEN;
    char *body = malloc(len);

    /* Namespace and name are Kubernetes names and the key is hex: nothing needs escaping. */
    if (body)
        snprintf(body, len, fmt, pc->ns, pc->name, pc->key);
    return body;
}
