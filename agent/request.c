/* request.c - strict parsing of the capture request JSON with cJSON (see request.h). */
#include "request.h"

#include <cJSON.h>
#include <math.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

/* Kubernetes names are DNS labels/subdomains: at most 253 characters. */
#define MAX_NAME 253
/* Larger than any sane BPF expression, small enough for a log line. */
#define MAX_FILTER 4096
/* JSON numbers are doubles: integers above 2^53 are not exact. */
#define MAX_JSON_INT 9007199254740992.0

const char *capture_direction_name(enum capture_direction d)
{
    return d == DIRECTION_IN ? "in" : d == DIRECTION_OUT ? "out" : "both";
}

/* Refuse keys that are not in allowed[], and keys given twice. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *where, char *err)
{
    const cJSON *k;
    cJSON_ArrayForEach(k, obj)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(k->string, *a) == 0;
        if (!ok)
            return ncap_fail(err, "unknown key \"%s\" in %s", k->string, where);
        for (const cJSON *later = k->next; later; later = later->next)
            if (strcmp(later->string, k->string) == 0)
                return ncap_fail(err, "key \"%s\" appears twice in %s", k->string, where);
    }
    return 0;
}

static int get_name(const cJSON *obj, const char *key, const char *field, int required, size_t max,
                    char **out, char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return ncap_fail(err, "%s is required", field);
        return 0;
    }
    if (!cJSON_IsString(v))
        return ncap_fail(err, "%s must be a string", field);
    size_t len = strlen(v->valuestring);
    if (len == 0)
        return ncap_fail(err, "%s must not be empty", field);
    if (len > max)
        return ncap_fail(err, "%s is longer than %zu characters", field, max);
    if (!(*out = strdup(v->valuestring)))
        return ncap_fail(err, "out of memory");
    return 0;
}

/* An optional non-negative integer no larger than max. */
static int get_uint(const cJSON *obj, const char *key, const char *field, double max, uint64_t *out,
                    char *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return ncap_fail(err, "%s must be a number", field);
    double d = v->valuedouble;
    if (d < 0 || d != floor(d))
        return ncap_fail(err, "%s must be a non-negative integer", field);
    if (d > max)
        return ncap_fail(err, "%s must be at most %.0f", field, max);
    *out = (uint64_t)d;
    return 0;
}

static int valid_ifname(const char *s)
{
    if (strlen(s) >= IFNAMSIZ)
        return 0;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
            return 0;
    return 1;
}

static int parse_target(const cJSON *t, size_t i, struct target_spec *out, char *err)
{
    static const char *const keys[] = {"namespace", "pod", "interface", NULL};
    char where[48], field[64];
    snprintf(where, sizeof(where), "targets[%zu]", i);
    if (!cJSON_IsObject(t))
        return ncap_fail(err, "%s must be an object", where);
    if (check_keys(t, keys, where, err) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.namespace", where);
    if (get_name(t, "namespace", field, 1, MAX_NAME, &out->namespace_, err) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.pod", where);
    if (get_name(t, "pod", field, 1, MAX_NAME, &out->pod, err) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.interface", where);
    if (get_name(t, "interface", field, 0, IFNAMSIZ - 1, &out->interface, err) < 0)
        return -1;
    if (!out->interface && !(out->interface = strdup("eth0")))
        return ncap_fail(err, "out of memory");
    if (!valid_ifname(out->interface))
        return ncap_fail(err, "%s is not a valid interface name", field);
    return 0;
}

static int parse_targets(const cJSON *arr, struct capture_spec *s, char *err)
{
    if (!arr)
        return ncap_fail(err, "targets is required");
    if (!cJSON_IsArray(arr))
        return ncap_fail(err, "targets must be an array");
    int n = cJSON_GetArraySize(arr);
    if (n < 1)
        return ncap_fail(err, "targets must name at least one pod");
    if (n > REQ_MAX_TARGETS)
        return ncap_fail(err, "targets names %d pods, more than the %d allowed", n,
                         REQ_MAX_TARGETS);
    if (!(s->targets = calloc((size_t)n, sizeof(*s->targets))))
        return ncap_fail(err, "out of memory");
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        struct target_spec *ts = &s->targets[s->n_targets++];
        if (parse_target(t, s->n_targets - 1, ts, err) < 0)
            return -1;
        for (size_t j = 0; j + 1 < s->n_targets; j++) {
            const struct target_spec *o = &s->targets[j];
            if (strcmp(o->namespace_, ts->namespace_) == 0 && strcmp(o->pod, ts->pod) == 0 &&
                strcmp(o->interface, ts->interface) == 0)
                return ncap_fail(err, "targets[%zu] repeats %s/%s interface %s", s->n_targets - 1,
                                 ts->namespace_, ts->pod, ts->interface);
        }
    }
    return 0;
}

static int parse_limits(const cJSON *l, struct capture_spec *s, char *err)
{
    static const char *const keys[] = {"packets", "seconds", "bytes", NULL};
    if (!l)
        return 0;
    if (!cJSON_IsObject(l))
        return ncap_fail(err, "limits must be an object");
    if (check_keys(l, keys, "limits", err) < 0 ||
        get_uint(l, "packets", "limits.packets", MAX_JSON_INT, &s->max_packets, err) < 0 ||
        get_uint(l, "seconds", "limits.seconds", 10 * 365 * 86400.0, &s->max_seconds, err) < 0 ||
        get_uint(l, "bytes", "limits.bytes", MAX_JSON_INT, &s->max_bytes, err) < 0)
        return -1;
    return 0;
}

static int parse_root(const cJSON *root, struct capture_spec *s, char *err)
{
    static const char *const keys[] = {"targets",   "filter", "snaplen", "limits",
                                       "direction", "sample", NULL};
    if (!cJSON_IsObject(root))
        return ncap_fail(err, "the request body must be a JSON object");
    if (check_keys(root, keys, "the request", err) < 0 ||
        parse_targets(cJSON_GetObjectItemCaseSensitive(root, "targets"), s, err) < 0 ||
        parse_limits(cJSON_GetObjectItemCaseSensitive(root, "limits"), s, err) < 0)
        return -1;

    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "filter");
    if (f && !cJSON_IsString(f))
        return ncap_fail(err, "filter must be a string");
    if (f && strlen(f->valuestring) > MAX_FILTER)
        return ncap_fail(err, "filter is longer than %d characters", MAX_FILTER);
    if (!(s->filter = strdup(f ? f->valuestring : "")))
        return ncap_fail(err, "out of memory");

    uint64_t snaplen = NCAP_SNAPLEN_DEFAULT, sample = 1;
    if (get_uint(root, "snaplen", "snaplen", NCAP_SNAPLEN_MAX, &snaplen, err) < 0 ||
        get_uint(root, "sample", "sample", UINT32_MAX, &sample, err) < 0)
        return -1;
    if (snaplen == 0)
        return ncap_fail(err, "snaplen must be at least 1");
    if (sample == 0)
        return ncap_fail(err, "sample must be at least 1 (1 keeps every packet)");
    s->snaplen = (uint32_t)snaplen;
    s->sample = (uint32_t)sample;

    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "direction");
    if (d && !cJSON_IsString(d))
        return ncap_fail(err, "direction must be a string");
    if (!d || strcmp(d->valuestring, "both") == 0)
        s->direction = DIRECTION_BOTH;
    else if (strcmp(d->valuestring, "in") == 0)
        s->direction = DIRECTION_IN;
    else if (strcmp(d->valuestring, "out") == 0)
        s->direction = DIRECTION_OUT;
    else
        return ncap_fail(err, "direction must be \"both\", \"in\" or \"out\"");
    return 0;
}

int capture_spec_parse(const char *json, size_t len, struct capture_spec *out, char *err)
{
    memset(out, 0, sizeof(*out));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return ncap_fail(err, "the request body is not valid JSON (error near byte %zu)", at);
    }
    /* Only white space may follow the object. */
    for (const char *p = end; p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return ncap_fail(err, "the request body has data after the JSON object");
        }
    }
    int rc = parse_root(root, out, err);
    cJSON_Delete(root);
    if (rc < 0)
        capture_spec_free(out);
    return rc;
}

void capture_spec_free(struct capture_spec *s)
{
    for (size_t i = 0; i < s->n_targets; i++) {
        free(s->targets[i].namespace_);
        free(s->targets[i].pod);
        free(s->targets[i].interface);
    }
    free(s->targets);
    free(s->filter);
    memset(s, 0, sizeof(*s));
}
