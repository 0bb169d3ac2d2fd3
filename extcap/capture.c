/*
 * capture.c - one capture, in the mode the options choose: cluster mode (cluster.c) or direct
 * mode, here: POST /v1/captures to one agent URL with a bearer token (API.md).
 *
 * Both modes hand their requests to streams_run(), the one streaming path: it writes the
 * agents' pcapng into the fifo and turns every way a stream can fail into a sentence. A direct
 * capture is a run with one source, labelled with the agent URL.
 *
 * Direct-mode transport rules: HTTPS only (a http:// URL is refused, not downgraded), TLS 1.2 or
 * newer, the agent's certificate must chain to --ca-file alone, no redirects, the bearer token
 * is read from --token-file just before use and never logged. There is no overall timeout
 * (captures run for hours); a dead peer is found by the connect timeout, TCP keepalive, and
 * streams_run()'s stall timeout that the agent's periodic statistics blocks never trip.
 */
#include "capture.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "debuglog.h"
#include "ncap.h"
#include "streams.h"

#define CAPTURE_CONNECT_TIMEOUT_S 5L
#define CAPTURE_KEEPALIVE_IDLE_S 30L
#define CAPTURE_KEEPALIVE_INTERVAL_S 15L
#define CAPTURE_TOKEN_MAX 8192

/* Direct mode knows no kubeconfig context: the namespace is the user's, else "default". */
static const char *direct_namespace(const struct options *o)
{
    const char *ns = options_namespace(o);

    return ns ? ns : OPTIONS_FALLBACK_NAMESPACE;
}

static int has_prefix_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != *prefix)
            return 0;
    }
    return 1;
}

/* Returns the malloc'ed request URL <agent-url>/v1/captures, or NULL with err. */
static char *captures_url(const char *agent_url, char *err)
{
    const char *host = agent_url + strlen("https://");
    size_t host_len, base_len = strlen(agent_url);
    char *url;

    if (has_prefix_nocase(agent_url, "http://")) {
        ncap_fail(err,
                  "refusing the plain-text agent URL %s: netcap talks to agents over HTTPS only",
                  agent_url);
        return NULL;
    }
    if (!has_prefix_nocase(agent_url, "https://") || *host == '\0') {
        ncap_fail(err, "the agent URL \"%s\" must start with https:// and name a host", agent_url);
        return NULL;
    }
    host_len = strcspn(host, "/?#");
    if (memchr(host, '@', host_len)) {
        /* Not even echoed back: the part before '@' may be a password. */
        ncap_fail(err, "the agent URL must not hold credentials: put the token in --token-file");
        return NULL;
    }
    while (base_len > 0 && agent_url[base_len - 1] == '/')
        base_len--;
    url = malloc(base_len + sizeof("/v1/captures"));
    if (!url) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    memcpy(url, agent_url, base_len);
    memcpy(url + base_len, "/v1/captures", sizeof("/v1/captures"));
    return url;
}

/* Builds "Authorization: Bearer <first line of path, trimmed>" into a malloc'ed string. */
static char *authorization_header(const char *path, char *err)
{
    static const char prefix[] = "Authorization: Bearer ";
    char *line, *start, *end, *header = NULL;
    size_t n, len;
    FILE *f;

    line = malloc(CAPTURE_TOKEN_MAX + 1);
    if (!line) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    f = fopen(path, "rb");
    if (!f) {
        ncap_fail(err, "cannot read the token file %s: %s", path, strerror(errno));
        free(line);
        return NULL;
    }
    n = fread(line, 1, CAPTURE_TOKEN_MAX, f);
    fclose(f);
    line[n] = '\0';

    start = line;
    end = line + strcspn(line, "\r\n");
    if (*end == '\0' && n == CAPTURE_TOKEN_MAX) {
        ncap_fail(err, "the first line of the token file %s is longer than %d bytes", path,
                  CAPTURE_TOKEN_MAX);
        goto out;
    }
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    len = (size_t)(end - start);
    if (len == 0) {
        ncap_fail(err, "the first line of the token file %s is empty: it must be the bearer token",
                  path);
        goto out;
    }
    for (const char *p = start; p < end; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            ncap_fail(err,
                      "the first line of the token file %s is not a bearer token (it holds "
                      "spaces or non-ASCII characters)",
                      path);
            goto out;
        }
    }
    header = malloc(sizeof(prefix) + len);
    if (!header) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    memcpy(header, prefix, sizeof(prefix) - 1);
    memcpy(header + sizeof(prefix) - 1, start, len);
    header[sizeof(prefix) - 1 + len] = '\0';
out:
    memset(line, 0, CAPTURE_TOKEN_MAX + 1);
    free(line);
    return header;
}

/* libcurl's message for an unreadable CA file does not say why. */
static int check_readable(const char *what, const char *path, char *err)
{
    FILE *f = fopen(path, "rb");

    if (!f)
        return ncap_fail(err, "cannot read the %s %s: %s", what, path, strerror(errno));
    fclose(f);
    return 0;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* The JSON body of API.md; NULL with err if memory runs out. */
static char *request_body(const struct options *o, char *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *targets = cJSON_AddArrayToObject(root, "targets");
    cJSON *target = cJSON_CreateObject();
    int ok = root && targets && target && cJSON_AddItemToArray(targets, target);
    char *body = NULL;

    if (!ok)
        cJSON_Delete(target);
    ok = ok && cJSON_AddStringToObject(target, "namespace", direct_namespace(o)) &&
         cJSON_AddStringToObject(target, "pod", options_pod(o)) &&
         cJSON_AddStringToObject(target, "interface", o->pod_interface);
    if (!ok) {
        cJSON_Delete(root);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    if (options_add_spec(o, root, err) == 0 && !(body = cJSON_PrintUnformatted(root)))
        ncap_fail(err, "out of memory");
    cJSON_Delete(root);
    return body;
}

static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);

    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

static CURLcode set_options(CURL *curl, const char *url, const char *body,
                            struct curl_slist *headers, const struct options *o)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(curl, opt, val);                                                 \
    } while (0)
    SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "https");
#else
    SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_POSTFIELDS, body);
    SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_USERAGENT, "netcap-extcap/" NCAP_VERSION);
    SET(CURLOPT_CAINFO, o->ca_file);
    /* Schannel (Windows) has no CA path (libcurl refuses the option), and given a CA file it
     * already verifies against that file alone, not the Windows store. */
#ifndef _WIN32
    SET(CURLOPT_CAPATH, (char *)NULL); /* trust --ca-file alone, not the system store */
#endif
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT, CAPTURE_CONNECT_TIMEOUT_S);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, CAPTURE_KEEPALIVE_IDLE_S);
    SET(CURLOPT_TCP_KEEPINTVL, CAPTURE_KEEPALIVE_INTERVAL_S);
#undef SET
    return rc;
}

static int direct_capture(const struct options *o, struct platform_fifo *fifo, char *err)
{
    struct stream_source source = {.label = o->agent_url};
    struct stream_result result;
    struct curl_slist *headers = NULL;
    char *url = NULL, *body = NULL, *auth = NULL;
    int ret = -1;
    CURLcode rc;

    if (!(url = captures_url(o->agent_url, err)) ||
        check_readable("CA file", o->ca_file, err) < 0 || !(body = request_body(o, err)) ||
        !(auth = authorization_header(o->token_file, err)))
        goto out;
    source.easy = curl_easy_init();
    if (!source.easy || add_header(&headers, "Content-Type: application/json") < 0 ||
        add_header(&headers, "Accept: application/x-pcapng, application/json") < 0 ||
        add_header(&headers, "Expect:") < 0 || add_header(&headers, auth) < 0) {
        ncap_fail(err, "cannot initialise libcurl");
        goto cleanup;
    }
    rc = set_options(source.easy, url, body, headers, o);
    if (rc != CURLE_OK) {
        ncap_fail(err, "this libcurl lacks a feature netcap needs: %s", curl_easy_strerror(rc));
        goto cleanup;
    }

    debuglog(DEBUGLOG_INFO, "POST %s (CA %s, token from %s)", url, o->ca_file, o->token_file);
    debuglog(DEBUGLOG_DEBUG, "request %s", body);
    ret = streams_run(&source, 1, o->max_packets, fifo, &result, err);

cleanup:
    /* curl_slist_free_all() frees the copy of the Authorization line without wiping it. */
    for (struct curl_slist *h = headers; h; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(headers);
    curl_easy_cleanup(source.easy);
out:
    wipe_free(auth);
    free(body);
    free(url);
    return ret;
}

int capture_run(const struct options *o, struct platform_fifo *fifo, char *err, char *warning,
                size_t warning_size)
{
    int ret;

    warning[0] = '\0';
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ncap_fail(err, "cannot initialise libcurl");
    if (options_direct_mode(o))
        ret = direct_capture(o, fifo, err);
    else
        ret = cluster_capture(o, fifo, err, warning, warning_size);
    curl_global_cleanup();
    return ret;
}
