/*
 * capture.c - POST /v1/captures to the agent and stream the pcapng answer into the fifo.
 *
 * The agent arms the capture before it sends headers (API.md), so the status tells success
 * from failure before any byte reaches Wireshark: on 200 every body chunk is written to the
 * fifo as it arrives (dumpcap copies a single pcapng pipe byte for byte); otherwise the body
 * is collected and its {"error": ...} sentence becomes ours.
 *
 * How a capture ends, and what the user sees:
 *   - the body ends cleanly (the agent reached a limit)        -> exit 0, silent
 *   - Wireshark sends SIGTERM, or closes the fifo (EPIPE)      -> exit 0, silent
 *   - the body breaks off or stalls (agent killed, network)    -> "the agent closed the stream..."
 *   - no answer / TLS failure / non-200                        -> one sentence naming the cause
 *
 * Transport rules: HTTPS only (a http:// URL is refused, not downgraded), TLS 1.2 or newer, the
 * agent's certificate must chain to --ca-file alone, no redirects, the bearer token is read
 * from --token-file just before use and never logged. There is no overall timeout (captures
 * run for hours); a dead peer is found by the connect timeout, TCP keepalive, and a stall
 * timeout that the agent's periodic statistics blocks (about one a second) never trip.
 */
#include "capture.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debuglog.h"
#include "ncap.h"

#define CAPTURE_CONNECT_TIMEOUT_S 5L
#define CAPTURE_KEEPALIVE_IDLE_S 30L
#define CAPTURE_KEEPALIVE_INTERVAL_S 15L
#define CAPTURE_STALL_S 30L
#define CAPTURE_ERROR_BODY_MAX (64 * 1024)
#define CAPTURE_TOKEN_MAX 8192

struct stream {
    CURL *curl;
    struct platform_fifo *fifo;
    long status; /* 0 until the first body byte */
    unsigned long long bytes;
    enum platform_io fifo_result;
    char fifo_err[NCAP_ERRBUF_SIZE];
    char *error_body; /* a non-200 body, capped at CAPTURE_ERROR_BODY_MAX */
    size_t error_len;
};

/* Copies s into out (size NCAP_ERRBUF_SIZE), turning control characters into spaces so that
 * the error stays on one line of stderr. */
static void one_line(char *out, const char *s)
{
    size_t i = 0;

    for (; s[i] && i < NCAP_ERRBUF_SIZE - 1; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    while (i > 0 && out[i - 1] == ' ')
        i--;
    out[i] = '\0';
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
    cJSON *limits = cJSON_AddObjectToObject(root, "limits");
    int ok = root && targets && target && limits && cJSON_AddItemToArray(targets, target);
    char *body = NULL;

    if (!ok)
        cJSON_Delete(target);
    ok = ok && cJSON_AddStringToObject(target, "namespace", o->pod_namespace) &&
         cJSON_AddStringToObject(target, "pod", o->pod_name) &&
         cJSON_AddStringToObject(target, "interface", o->pod_interface) &&
         (!o->capture_filter || cJSON_AddStringToObject(root, "filter", o->capture_filter)) &&
         cJSON_AddNumberToObject(limits, "packets", (double)o->max_packets) &&
         cJSON_AddNumberToObject(limits, "seconds", (double)o->max_seconds);
    if (ok)
        body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!body)
        ncap_fail(err, "out of memory");
    return body;
}

static size_t collect_error_body(struct stream *s, const char *data, size_t len)
{
    size_t room = CAPTURE_ERROR_BODY_MAX - s->error_len;
    char *grown;

    if (len > room)
        len = room;
    grown = realloc(s->error_body, s->error_len + len + 1);
    if (!grown)
        return 0;
    s->error_body = grown;
    memcpy(s->error_body + s->error_len, data, len);
    s->error_len += len;
    s->error_body[s->error_len] = '\0';
    /* A short count makes curl stop: more than the cap is not an error sentence. */
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct stream *s = userp;
    size_t len = size * nmemb;

    if (s->status == 0) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
        debuglog(DEBUGLOG_INFO, "agent answered HTTP %ld", s->status);
    }
    if (s->status != 200)
        return collect_error_body(s, data, len);

    s->fifo_result = platform_fifo_write(s->fifo, data, len, s->fifo_err);
    if (s->fifo_result != PLATFORM_IO_OK)
        return 0;
    s->bytes += len;
    debuglog(DEBUGLOG_NOISY, "wrote %lu bytes to the fifo", (unsigned long)len);
    return len;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)userp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return platform_stop_requested() ? 1 : 0;
}

/* The sentence for a non-200 answer. */
static int refusal(const struct stream *s, char *err)
{
    cJSON *json = s->error_body ? cJSON_ParseWithLength(s->error_body, s->error_len) : NULL;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    char sentence[NCAP_ERRBUF_SIZE];

    if (!cJSON_IsString(error) || error->valuestring[0] == '\0') {
        cJSON_Delete(json);
        return ncap_fail(err, "agent answered HTTP %ld", s->status);
    }
    one_line(sentence, error->valuestring);
    cJSON_Delete(json);
    debuglog(DEBUGLOG_INFO, "agent error: %s", sentence);
    if (s->status >= 400 && s->status < 500)
        return ncap_fail(err, "agent refused the capture: %s", sentence);
    if (s->status >= 500)
        return ncap_fail(err, "agent failed to capture: %s", sentence);
    return ncap_fail(err, "agent answered HTTP %ld: %s", s->status, sentence);
}

/* The sentence for a transfer that failed before any answer. */
static int unreachable(CURL *curl, const char *agent_url, CURLcode rc, const char *errbuf,
                       char *err)
{
    char detail[NCAP_ERRBUF_SIZE];
    curl_off_t tls_done = 0;
    long os_errno = 0;

    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(curl, CURLINFO_APPCONNECT_TIME_T, &tls_done);
    one_line(detail, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT && tls_done > 0)
        return ncap_fail(err, "agent %s accepted the connection but did not answer for %ld seconds",
                         agent_url, CAPTURE_STALL_S);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno != 0)
            return ncap_fail(err, "cannot reach agent %s: %s", agent_url,
                             platform_socket_error_text(os_errno));
        return ncap_fail(err, "cannot reach agent %s: %s", agent_url, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return ncap_fail(err, "cannot reach agent %s: no TLS connection within %ld seconds",
                         agent_url, CAPTURE_CONNECT_TIMEOUT_S);
    case CURLE_COULDNT_RESOLVE_HOST:
        return ncap_fail(err, "cannot reach agent %s: %s", agent_url, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return ncap_fail(err, "TLS verification of %s failed: %s", agent_url, detail);
    case CURLE_SSL_CONNECT_ERROR:
        return ncap_fail(err, "TLS handshake with %s failed: %s", agent_url, detail);
    default:
        return ncap_fail(err, "request to %s failed: %s", agent_url, detail);
    }
}

static int stream_result(const struct options *o, struct stream *s, CURLcode rc, const char *errbuf,
                         char *err)
{
    char detail[NCAP_ERRBUF_SIZE];

    if (platform_stop_requested() || s->fifo_result == PLATFORM_IO_STOPPED) {
        debuglog(DEBUGLOG_INFO, "stopped on request after %llu bytes", s->bytes);
        return 0;
    }
    if (s->fifo_result == PLATFORM_IO_CLOSED) {
        debuglog(DEBUGLOG_INFO, "the fifo reader went away after %llu bytes", s->bytes);
        return 0;
    }
    if (s->fifo_result == PLATFORM_IO_ERROR)
        return ncap_fail(err, "%s", s->fifo_err);

    if (s->status == 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status == 200) {
        if (rc == CURLE_OK) {
            debuglog(DEBUGLOG_INFO, "the agent ended the stream after %llu bytes", s->bytes);
            return 0;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT)
            return ncap_fail(err, "the agent stream stalled: no data for %ld seconds",
                             CAPTURE_STALL_S);
        one_line(detail, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return ncap_fail(err, "the agent closed the stream early: %s", detail);
    }
    if (s->status != 0)
        return refusal(s, err);

    return unreachable(s->curl, o->agent_url, rc, errbuf, err);
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
                            struct curl_slist *headers, const struct options *o, struct stream *s,
                            char *errbuf)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(curl, opt, val);                                                 \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
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
    SET(CURLOPT_CAPATH, (char *)NULL); /* trust --ca-file alone, not the system store */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_CONNECTTIMEOUT, CAPTURE_CONNECT_TIMEOUT_S);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, CAPTURE_KEEPALIVE_IDLE_S);
    SET(CURLOPT_TCP_KEEPINTVL, CAPTURE_KEEPALIVE_INTERVAL_S);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, CAPTURE_STALL_S);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
#undef SET
    return rc;
}

int capture_run(const struct options *o, struct platform_fifo *fifo, char *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct stream s = {.fifo = fifo, .fifo_result = PLATFORM_IO_OK};
    struct curl_slist *headers = NULL;
    char *url = NULL, *body = NULL, *auth = NULL;
    int ret = -1;
    CURLcode rc;

    if (!(url = captures_url(o->agent_url, err)) ||
        check_readable("CA file", o->ca_file, err) < 0 || !(body = request_body(o, err)) ||
        !(auth = authorization_header(o->token_file, err)))
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ncap_fail(err, "cannot initialise libcurl");
        goto out;
    }
    s.curl = curl_easy_init();
    if (!s.curl || add_header(&headers, "Content-Type: application/json") < 0 ||
        add_header(&headers, "Accept: application/x-pcapng, application/json") < 0 ||
        add_header(&headers, "Expect:") < 0 || add_header(&headers, auth) < 0) {
        ncap_fail(err, "cannot initialise libcurl");
        goto cleanup;
    }
    rc = set_options(s.curl, url, body, headers, o, &s, errbuf);
    if (rc != CURLE_OK) {
        ncap_fail(err, "this libcurl lacks a feature netcap needs: %s", curl_easy_strerror(rc));
        goto cleanup;
    }

    debuglog(DEBUGLOG_INFO, "POST %s (CA %s, token from %s)", url, o->ca_file, o->token_file);
    debuglog(DEBUGLOG_DEBUG, "request %s", body);
    rc = curl_easy_perform(s.curl);
    debuglog(DEBUGLOG_DEBUG, "transfer ended: %s (%s)", curl_easy_strerror(rc), errbuf);
    ret = stream_result(o, &s, rc, errbuf, err);

cleanup:
    /* curl_slist_free_all() frees the copy of the Authorization line without wiping it. */
    for (struct curl_slist *h = headers; h; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(headers);
    curl_easy_cleanup(s.curl);
    curl_global_cleanup();
out:
    free(s.error_body);
    wipe_free(auth);
    free(body);
    free(url);
    return ret;
}
