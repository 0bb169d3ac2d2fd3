/* request.c - strict parsing of capture requests and PodCapture specs with cJSON (request.h). */
#include "request.h"

#include <cJSON.h>
#include <math.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfspec.h"
#include "ncap.h"
#include "selector.h"

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

static int check_dns_name(const char *s, size_t max, int dots, const char *field, char *err);

static int parse_target(const cJSON *t, size_t i, struct target_spec *out, char *err)
{
    static const char *const keys[] = {"namespace", "pod", "interface", NULL};
    char where[48], field[64];
    snprintf(where, sizeof(where), "targets[%zu]", i);
    if (!cJSON_IsObject(t))
        return ncap_fail(err, "%s must be an object", where);
    if (check_keys(t, keys, where, err) < 0)
        return -1;
    /* Kubernetes names only: they reach logs, interface names and the audit trail. */
    snprintf(field, sizeof(field), "%s.namespace", where);
    if (get_name(t, "namespace", field, 1, MAX_NAME, &out->namespace_, err) < 0 ||
        check_dns_name(out->namespace_, 63, 0, field, err) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.pod", where);
    if (get_name(t, "pod", field, 1, MAX_NAME, &out->pod, err) < 0 ||
        check_dns_name(out->pod, MAX_NAME, 1, field, err) < 0)
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

/* filter, snaplen, limits, direction, sample and bufferMiB: the same in a request and in a
 * PodCapture's spec. prefix ("" or "spec.") makes the sentences name the field as the client
 * wrote it. */
static int parse_options(const cJSON *root, struct capture_spec *s, const char *prefix, char *err)
{
    char field[64];
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "limits");
    if (l) {
        static const char *const keys[] = {"packets", "seconds", "bytes", NULL};
        snprintf(field, sizeof(field), "%slimits", prefix);
        if (!cJSON_IsObject(l))
            return ncap_fail(err, "%s must be an object", field);
        char fp[80], fs[80], fb[80];
        snprintf(fp, sizeof(fp), "%s.packets", field);
        snprintf(fs, sizeof(fs), "%s.seconds", field);
        snprintf(fb, sizeof(fb), "%s.bytes", field);
        if (check_keys(l, keys, field, err) < 0 ||
            get_uint(l, "packets", fp, MAX_JSON_INT, &s->max_packets, err) < 0 ||
            get_uint(l, "seconds", fs, 10 * 365 * 86400.0, &s->max_seconds, err) < 0 ||
            get_uint(l, "bytes", fb, MAX_JSON_INT, &s->max_bytes, err) < 0)
            return -1;
    }

    /* The free BPF text and the structured "match" become one program (common/bpfspec.c). */
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "filter");
    if (f && !cJSON_IsString(f))
        return ncap_fail(err, "%sfilter must be a string", prefix);
    if (f && strlen(f->valuestring) > MAX_FILTER)
        return ncap_fail(err, "%sfilter is longer than %d characters", prefix, MAX_FILTER);
    snprintf(field, sizeof(field), "%smatch", prefix);
    if (ncap_match_to_bpf(cJSON_GetObjectItemCaseSensitive(root, "match"), f ? f->valuestring : "",
                          field, &s->filter, err) < 0)
        return -1;

    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(root, "nameRecords");
    if (nr && !cJSON_IsBool(nr))
        return ncap_fail(err, "%snameRecords must be true or false", prefix);
    s->name_records = !nr || cJSON_IsTrue(nr);

    uint64_t snaplen = NCAP_SNAPLEN_DEFAULT, sample = 1, buffer = REQUEST_BUFFER_DEFAULT_MIB;
    char fsn[64], fsa[64], fbu[64];
    snprintf(fsn, sizeof(fsn), "%ssnaplen", prefix);
    snprintf(fsa, sizeof(fsa), "%ssample", prefix);
    snprintf(fbu, sizeof(fbu), "%sbufferMiB", prefix);
    if (get_uint(root, "snaplen", fsn, NCAP_SNAPLEN_MAX, &snaplen, err) < 0 ||
        get_uint(root, "sample", fsa, UINT32_MAX, &sample, err) < 0 ||
        get_uint(root, "bufferMiB", fbu, REQUEST_BUFFER_MAX_MIB, &buffer, err) < 0)
        return -1;
    if (buffer < 2)
        return ncap_fail(err, "%s must be at least 2 (MiB)", fbu);
    s->buffer_mib = (uint32_t)buffer;
    if (snaplen == 0)
        return ncap_fail(err, "%s must be at least 1", fsn);
    if (sample == 0)
        return ncap_fail(err, "%s must be at least 1 (1 keeps every packet)", fsa);
    s->snaplen = (uint32_t)snaplen;
    s->sample = (uint32_t)sample;

    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "direction");
    if (d && !cJSON_IsString(d))
        return ncap_fail(err, "%sdirection must be a string", prefix);
    if (!d || strcmp(d->valuestring, "both") == 0)
        s->direction = DIRECTION_BOTH;
    else if (strcmp(d->valuestring, "in") == 0)
        s->direction = DIRECTION_IN;
    else if (strcmp(d->valuestring, "out") == 0)
        s->direction = DIRECTION_OUT;
    else
        return ncap_fail(err, "%sdirection must be \"both\", \"in\" or \"out\"", prefix);
    return 0;
}

static int parse_direct(const cJSON *root, struct capture_spec *s, char *err)
{
    static const char *const keys[] = {"targets", "filter",      "match",     "snaplen",
                                       "limits",  "direction",   "sample",    "nameRecords",
                                       "bufferMiB", NULL};
    if (check_keys(root, keys, "the request", err) < 0 ||
        parse_targets(cJSON_GetObjectItemCaseSensitive(root, "targets"), s, err) < 0)
        return -1;
    return parse_options(root, s, "", err);
}

/* RFC 1123 label (namespaces) or subdomain (names): lower-case letters, digits, '-' (and '.'),
 * starting and ending alphanumeric. They become parts of API paths, so nothing else passes. */
static int check_dns_name(const char *s, size_t max, int dots, const char *field, char *err)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return ncap_fail(err, "%s must be 1 to %zu characters long", field, max);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        int inner = c == '-' || (dots && c == '.');
        if (!alnum && !(inner && i > 0 && i + 1 < n))
            return ncap_fail(err, "%s \"%s\" is not a valid Kubernetes name", field, s);
    }
    return 0;
}

static int parse_podcapture(const cJSON *root, struct podcapture_ref *pc, char *err)
{
    static const char *const keys[] = {"podCapture", "streamKey", NULL};
    static const char *const ref_keys[] = {"namespace", "name", NULL};
    if (check_keys(root, keys, "the request", err) < 0)
        return -1;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "podCapture");
    if (!cJSON_IsObject(ref))
        return ncap_fail(err, "podCapture must be an object");
    if (check_keys(ref, ref_keys, "podCapture", err) < 0 ||
        get_name(ref, "namespace", "podCapture.namespace", 1, 63, &pc->namespace_, err) < 0 ||
        get_name(ref, "name", "podCapture.name", 1, MAX_NAME, &pc->name, err) < 0 ||
        check_dns_name(pc->namespace_, 63, 0, "podCapture.namespace", err) < 0 ||
        check_dns_name(pc->name, MAX_NAME, 1, "podCapture.name", err) < 0)
        return -1;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "streamKey");
    if (!key)
        return ncap_fail(err, "streamKey is required");
    /* Never echo the key: the sentences say what is wrong, not what was sent. */
    if (!cJSON_IsString(key))
        return ncap_fail(err, "streamKey must be a string");
    size_t n = strlen(key->valuestring);
    int hex = n == STREAM_KEY_HEX;
    for (size_t i = 0; hex && i < n; i++) {
        char c = key->valuestring[i];
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
    if (!hex)
        return ncap_fail(err, "streamKey must be %d hexadecimal digits", STREAM_KEY_HEX);
    memcpy(pc->key, key->valuestring, STREAM_KEY_HEX + 1);
    return 0;
}

int capture_request_parse(const char *json, size_t len, struct capture_request *out, char *err)
{
    memset(out, 0, sizeof(*out));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return ncap_fail(err, "the request body is not valid JSON (error near byte %zu)", at);
    }
    int rc = 0;
    /* Only white space may follow the object. */
    for (const char *p = end; rc == 0 && p < json + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            rc = ncap_fail(err, "the request body has data after the JSON object");
    if (rc == 0 && !cJSON_IsObject(root))
        rc = ncap_fail(err, "the request body must be a JSON object");
    if (rc == 0) {
        out->kind = cJSON_HasObjectItem(root, "podCapture") ? REQUEST_PODCAPTURE : REQUEST_TARGETS;
        rc = out->kind == REQUEST_PODCAPTURE ? parse_podcapture(root, &out->pc, err)
                                             : parse_direct(root, &out->spec, err);
    }
    /* cJSON's copy of the key goes back to the heap: wipe it first. */
    const cJSON *key =
        cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "streamKey") : NULL;
    if (cJSON_IsString(key))
        explicit_bzero(key->valuestring, strlen(key->valuestring));
    cJSON_Delete(root);
    if (rc < 0)
        capture_request_free(out);
    return rc;
}

void capture_request_free(struct capture_request *r)
{
    capture_spec_free(&r->spec);
    free(r->pc.namespace_);
    free(r->pc.name);
    explicit_bzero(r, sizeof(*r));
}

int podcapture_spec_parse(const cJSON *spec, struct podcapture_spec *out, char *err)
{
    static const char *const keys[] = {"pods",        "selector",      "interface", "filter",
                                       "match",       "snaplen",       "limits",    "direction",
                                       "sample",      "nameRecords",   "bufferMiB", "streamKeyHash",
                                       NULL};
    memset(out, 0, sizeof(*out));
    int rc = -1;
    if (!cJSON_IsObject(spec)) {
        ncap_fail(err, "spec must be an object");
        goto out;
    }
    if (check_keys(spec, keys, "spec", err) < 0 ||
        parse_options(spec, &out->opts, "spec.", err) < 0)
        goto out;
    const cJSON *pods = cJSON_GetObjectItemCaseSensitive(spec, "pods");
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(spec, "selector");
    if (!pods == !sel) {
        ncap_fail(err, "spec must have exactly one of pods and selector");
        goto out;
    }
    if (pods) {
        if (!cJSON_IsArray(pods) || cJSON_GetArraySize(pods) < 1) {
            ncap_fail(err, "spec.pods must be an array of at least one pod name");
            goto out;
        }
        if (cJSON_GetArraySize(pods) > REQ_MAX_TARGETS) {
            ncap_fail(err, "spec.pods names more than the %d pods a capture may take",
                      REQ_MAX_TARGETS);
            goto out;
        }
        out->pods = calloc((size_t)cJSON_GetArraySize(pods), sizeof(*out->pods));
        if (!out->pods) {
            ncap_fail(err, "out of memory");
            goto out;
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, pods)
        {
            char field[48];
            snprintf(field, sizeof(field), "spec.pods[%zu]", out->n_pods);
            if (!cJSON_IsString(p)) {
                ncap_fail(err, "%s must be a string", field);
                goto out;
            }
            if (check_dns_name(p->valuestring, MAX_NAME, 1, field, err) < 0 ||
                !(out->pods[out->n_pods++] = strdup(p->valuestring)))
                goto out;
        }
    } else {
        if (!cJSON_IsString(sel)) {
            ncap_fail(err, "spec.selector must be a string");
            goto out;
        }
        char why[NCAP_ERRBUF_SIZE];
        if (!(out->selector = selector_parse(sel->valuestring, why))) {
            ncap_fail(err, "spec.selector: %s", why);
            goto out;
        }
        if (!(out->selector_text = strdup(sel->valuestring))) {
            ncap_fail(err, "out of memory");
            goto out;
        }
    }
    char *ifname = NULL;
    if (get_name(spec, "interface", "spec.interface", 0, IFNAMSIZ - 1, &ifname, err) < 0)
        goto out;
    out->interface = ifname ? ifname : strdup("eth0");
    if (!out->interface) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    if (!valid_ifname(out->interface)) {
        ncap_fail(err, "spec.interface is not a valid interface name");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        podcapture_spec_free(out);
    return rc;
}

void podcapture_spec_free(struct podcapture_spec *s)
{
    for (size_t i = 0; i < s->n_pods; i++)
        free(s->pods[i]);
    free(s->pods);
    selector_free(s->selector);
    free(s->selector_text);
    free(s->interface);
    capture_spec_free(&s->opts);
    memset(s, 0, sizeof(*s));
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
