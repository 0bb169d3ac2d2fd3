/*
 * kube.c - a small Kubernetes API client on libcurl + cJSON (see kube.h).
 *
 * struct ncap_kube is built once from a kubeconfig (or the pod's service account) and is
 * read-only afterwards, so several threads may use one at the same time: every request makes
 * its own easy handle and apply() puts the server, TLS settings and credentials on it.
 *
 * - TLS 1.2 or newer, https only; verification is on unless the kubeconfig says
 *   insecure-skip-tls-verify. In-memory PEM (the kubeconfig's -data keys, exec plugins) goes to
 *   curl as blobs, files as paths.
 * - tls-server-name: curl 7.88 has no option for the TLS name alone, so the request URL carries
 *   that name (SNI and certificate check use it) and CURLOPT_CONNECT_TO sends the connection to
 *   the server's real host and port.
 * - The bearer token travels as CURLOPT_XOAUTH2_BEARER, not as a header, so that callers of
 *   ncap_kube_setup_easy() may set CURLOPT_HTTPHEADER without losing it. A tokenFile is re-read
 *   for each request (service-account tokens rotate under long-running agents); if it becomes
 *   unreadable, the token read by ncap_kube_new() is used. Tokens never enter a sentence.
 */
#include "kube.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h> /* FormatMessageA */
#endif

#define CONNECT_TIMEOUT_MS 5000L
#define ANSWER_MAX (64u << 20)     /* one non-watch answer (a large PodList fits) */
#define WATCH_LINE_MAX (16u << 20) /* one watch event line */
#define ERROR_BODY_MAX (64u << 10)

struct ncap_kube {
    char *server; /* as configured, for sentences */
    char *base;   /* URL prefix of requests: the server, or its tls-server-name */
    struct curl_slist *connect_to;
    char *ca_file;
    char *ca_data;
    size_t ca_len;
    bool insecure;
    char *token; /* a static token, or the token file's content at creation */
    char *token_file;
    char *cert_file;
    char *key_file;
    char *cert_data;
    size_t cert_len;
    char *key_data;
    size_t key_len;
};

/* A token file's content without surrounding whitespace; NULL with errno set. */
static char *read_token(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    bool big = n == sizeof(buf) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (big) {
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n'))
        l--;
    char *t = ncap_strndup(s, l);
    memset(buf, 0, sizeof(buf));
    if (!t)
        errno = ENOMEM;
    return t;
}

static int readable(const char *what, const char *path, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ncap_fail(err, "cannot read the %s %s: %s", what, path, strerror(errno));
    fclose(f);
    return 0;
}

void ncap_kube_free(struct ncap_kube *k)
{
    if (!k)
        return;
    free(k->server);
    free(k->base);
    curl_slist_free_all(k->connect_to);
    free(k->ca_file);
    free(k->ca_data);
    if (k->token) {
        memset(k->token, 0, strlen(k->token));
        free(k->token);
    }
    free(k->token_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->cert_data);
    if (k->key_data) {
        memset(k->key_data, 0, k->key_len);
        free(k->key_data);
    }
    free(k);
    curl_global_cleanup();
}

const char *ncap_kube_server(const struct ncap_kube *k)
{
    return k->server;
}

/*
 * k->base and k->connect_to from the server URL: https only; with a tls-server-name, the URL's
 * host becomes that name and the connection goes to the real host.
 */
static int set_server(struct ncap_kube *k, const char *server, const char *tls_name, char *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *url = NULL;
    int rc = -1;
    if (!u) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        ncap_fail(err, "the API server URL \"%s\" is not a valid URL", server);
        goto out;
    }
    if (strcmp(scheme, "https") != 0) {
        ncap_fail(err,
                  "the API server URL %s is not https: netcap never talks to the API server in "
                  "plaintext",
                  server);
        goto out;
    }
    if (!tls_name || !*tls_name) {
        k->base = ncap_strdup(server);
    } else {
        size_t l = strlen(tls_name) + strlen(host) + 8;
        char *entry = malloc(l);
        if (entry) {
            /* "NAME::HOST:": any port of NAME goes to the same port of HOST. */
            snprintf(entry, l, "%s::%s:", tls_name, host);
            struct curl_slist *sl = curl_slist_append(NULL, entry);
            free(entry);
            k->connect_to = sl;
        }
        if (curl_url_set(u, CURLUPART_HOST, tls_name, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
            ncap_fail(err, "tls-server-name \"%s\" is not a valid host name", tls_name);
            goto out;
        }
        k->base = ncap_strdup(url);
        if (!k->connect_to) {
            ncap_fail(err, "out of memory");
            goto out;
        }
    }
    if (!k->base) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    /* API paths start with '/'. */
    size_t n = strlen(k->base);
    while (n > 0 && k->base[n - 1] == '/')
        k->base[--n] = '\0';
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

static int copy_blob(char **dst, size_t *dst_len, const char *src, size_t len)
{
    if (!src)
        return 0;
    *dst = ncap_strndup(src, len);
    *dst_len = len;
    return *dst ? 0 : -1;
}

struct ncap_kube *ncap_kube_new(const struct ncap_kubeconfig *kc, char *err)
{
    if (!kc->cluster.server) {
        ncap_fail(err, "the kubeconfig names no API server");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ncap_fail(err, "libcurl cannot be initialized");
        return NULL;
    }
    struct ncap_kube *k = calloc(1, sizeof(*k));
    if (!k) {
        curl_global_cleanup();
        ncap_fail(err, "out of memory");
        return NULL;
    }
    const struct ncap_kube_cluster *c = &kc->cluster;
    const struct ncap_kube_user *u = &kc->user;
    k->server = ncap_strdup(c->server);
    if (!k->server) {
        ncap_fail(err, "out of memory");
        goto fail;
    }
    if (set_server(k, c->server, c->tls_server_name, err) < 0)
        goto fail;
    k->insecure = c->insecure;
    if (c->ca_data) {
        if (copy_blob(&k->ca_data, &k->ca_len, c->ca_data, c->ca_data_len) < 0)
            goto oom;
    } else if (c->ca_file) {
        if (readable("certificate authority file", c->ca_file, err) < 0)
            goto fail;
        if (!(k->ca_file = ncap_strdup(c->ca_file)))
            goto oom;
    }

    /* As kubectl: a token beats a token file, and -data beats the file. */
    if (u->token && *u->token) {
        if (!(k->token = ncap_strdup(u->token)))
            goto oom;
    } else if (u->token_file) {
        k->token = read_token(u->token_file);
        if (!k->token) {
            ncap_fail(err, "cannot read the token file %s: %s", u->token_file, strerror(errno));
            goto fail;
        }
        if (!(k->token_file = ncap_strdup(u->token_file)))
            goto oom;
    }
    if (u->cert_data) {
        if (copy_blob(&k->cert_data, &k->cert_len, u->cert_data, u->cert_data_len) < 0)
            goto oom;
    } else if (u->cert_file) {
        if (readable("client certificate", u->cert_file, err) < 0)
            goto fail;
        if (!(k->cert_file = ncap_strdup(u->cert_file)))
            goto oom;
    }
    if (u->key_data) {
        if (copy_blob(&k->key_data, &k->key_len, u->key_data, u->key_data_len) < 0)
            goto oom;
    } else if (u->key_file) {
        if (readable("client key", u->key_file, err) < 0)
            goto fail;
        if (!(k->key_file = ncap_strdup(u->key_file)))
            goto oom;
    }
    if (!(k->cert_data || k->cert_file) != !(k->key_data || k->key_file)) {
        ncap_fail(err, "the kubeconfig user has a client certificate without a key, or a key "
                       "without a certificate");
        goto fail;
    }
#ifdef _WIN32
    /* The Windows build's libcurl uses Schannel, which takes client certificates only from
     * the Windows certificate store or PKCS#12 files, never as PEM certificate and key: say so
     * now rather than fail in the TLS handshake with Schannel's words. */
    if (k->cert_data || k->cert_file) {
        ncap_fail(err, "client certificates from a kubeconfig (PEM certificate and key) are not "
                       "supported on Windows; use a token or an exec plugin that returns one");
        goto fail;
    }
#endif
    return k;
oom:
    ncap_fail(err, "out of memory");
fail:
    ncap_kube_free(k);
    return NULL;
}

struct ncap_kube *ncap_kube_new_in_cluster(char *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("NETCAP_SA_DIR");
    if (!dir || !*dir)
        dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    if (!host || !*host || !port || !*port) {
        ncap_fail(err, "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and "
                       "KUBERNETES_SERVICE_PORT are not set");
        return NULL;
    }
    size_t hl = strlen(host), pl = strlen(port), dl = strlen(dir);
    struct ncap_kubeconfig kc;
    memset(&kc, 0, sizeof(kc));
    kc.cluster.server = malloc(hl + pl + 16);
    kc.cluster.ca_file = malloc(dl + 16);
    kc.user.token_file = malloc(dl + 16);
    struct ncap_kube *k = NULL;
    if (!kc.cluster.server || !kc.cluster.ca_file || !kc.user.token_file) {
        ncap_fail(err, "out of memory");
    } else {
        bool v6 = strchr(host, ':') != NULL;
        snprintf(kc.cluster.server, hl + pl + 16, "https://%s%s%s:%s", v6 ? "[" : "", host,
                 v6 ? "]" : "", port);
        snprintf(kc.cluster.ca_file, dl + 16, "%s/ca.crt", dir);
        snprintf(kc.user.token_file, dl + 16, "%s/token", dir);
        k = ncap_kube_new(&kc, err);
    }
    free(kc.cluster.server);
    free(kc.cluster.ca_file);
    free(kc.user.token_file);
    return k;
}

/* Put the server, TLS and credentials on h. 0, or -1 with err. */
static int apply(struct ncap_kube *k, CURL *h, const char *path, char *err)
{
    size_t bl = strlen(k->base), pl = path ? strlen(path) : 0;
    char *url = malloc(bl + pl + 2);
    if (!url)
        return ncap_fail(err, "out of memory");
    memcpy(url, k->base, bl);
    size_t o = bl;
    if (pl && path[0] != '/')
        url[o++] = '/';
    memcpy(url + o, path ? path : "", pl + 1);
    CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);

    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, k->connect_to);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "netcap/" NCAP_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);

    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->insecure ? 0L : 2L);
    if (rc == CURLE_OK && k->ca_data) {
        struct curl_blob b = {k->ca_data, k->ca_len, CURL_BLOB_COPY};
        rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (rc == CURLE_OK && k->ca_file) {
        rc = curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    }
    if (rc == CURLE_OK && k->cert_data) {
        struct curl_blob b = {k->cert_data, k->cert_len, CURL_BLOB_COPY};
        rc = curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    } else if (rc == CURLE_OK && k->cert_file) {
        rc = curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
    }
    if (rc == CURLE_OK && (k->cert_data || k->cert_file))
        rc = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    if (rc == CURLE_OK && k->key_data) {
        struct curl_blob b = {k->key_data, k->key_len, CURL_BLOB_COPY};
        rc = curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    } else if (rc == CURLE_OK && k->key_file) {
        rc = curl_easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
    }
    if (rc == CURLE_OK && (k->key_data || k->key_file))
        rc = curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");

    if (rc == CURLE_OK && k->token) {
        char *fresh = k->token_file ? read_token(k->token_file) : NULL;
        const char *token = fresh && *fresh ? fresh : k->token;
        rc = curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
        if (fresh) {
            memset(fresh, 0, strlen(fresh));
            free(fresh);
        }
    }
    if (rc != CURLE_OK)
        return ncap_fail(err, "libcurl refused a setting for the API server %s: %s", k->server,
                         curl_easy_strerror(rc));
    return 0;
}

int ncap_kube_setup_easy(struct ncap_kube *k, CURL *h, const char *path, char *err)
{
    return apply(k, h, path, err);
}

/* libcurl's CURLINFO_OS_ERRNO in words: an errno value, or on Windows a Winsock code
 * (WSAECONNREFUSED is 10061), which strerror does not know. */
static const char *os_error_text(long code, char *buf, size_t size)
{
#ifdef _WIN32
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                             (DWORD)code, 0, buf, (DWORD)size, NULL);
    while (n > 0 && strchr("\r\n .", buf[n - 1])) /* the system's text ends in ".\r\n" */
        buf[--n] = '\0';
    if (n == 0)
        snprintf(buf, size, "Windows socket error %ld", code);
    return buf;
#else
    (void)buf;
    (void)size;
    return strerror((int)code);
#endif
}

/* One sentence for a failed transfer. */
static int transport_fail(struct ncap_kube *k, CURL *h, CURLcode rc, const char *ebuf, char *err)
{
    const char *detail = ebuf && *ebuf ? ebuf : curl_easy_strerror(rc);
    char os_text[256];
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno)
            detail = os_error_text(os_errno, os_text, sizeof(os_text));
        /* fall through */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return ncap_fail(err, "cannot reach the API server %s: %s", k->server, detail);
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connected = 0;
        curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &connected);
        if (!connected)
            return ncap_fail(err, "cannot reach the API server %s: %s", k->server, detail);
        return ncap_fail(err, "the API server %s did not answer in time: %s", k->server, detail);
    }
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return ncap_fail(err, "TLS verification of the API server %s failed: %s", k->server,
                         detail);
    case CURLE_SSL_CONNECT_ERROR:
        return ncap_fail(err, "TLS handshake with the API server %s failed: %s", k->server, detail);
    case CURLE_SSL_CERTPROBLEM:
        return ncap_fail(err, "the client certificate for the API server %s cannot be used: %s",
                         k->server, detail);
    default:
        return ncap_fail(err, "request to the API server %s failed: %s", k->server, detail);
    }
}

void ncap_kube_status_sentence(int http_status, const cJSON *resp, char *err)
{
    if (http_status == 401) {
        ncap_fail(err, "the API server rejected the credentials (401 Unauthorized)");
        return;
    }
    const cJSON *msg =
        cJSON_IsObject(resp) ? cJSON_GetObjectItemCaseSensitive(resp, "message") : NULL;
    if (cJSON_IsString(msg) && msg->valuestring[0])
        ncap_fail(err, "the API server refused: %s", msg->valuestring);
    else
        ncap_fail(err, "the API server answered HTTP %d", http_status);
}

/* ---- one request ------------------------------------------------------------------------ */

struct answer {
    char *buf;
    size_t len, cap;
    bool too_big;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    if (a->len + n > ANSWER_MAX) {
        a->too_big = true;
        return 0;
    }
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16384;
        while (cap < a->len + n + 1)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b)
            return 0;
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, data, n);
    a->len += n;
    a->buf[a->len] = '\0';
    return n;
}

int ncap_kube_request(struct ncap_kube *k, const char *method, const char *path, const char *body,
                      long timeout_ms, cJSON **resp, char *err)
{
    if (resp)
        *resp = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return ncap_fail(err, "libcurl cannot create a transfer");
    struct curl_slist *hdr = NULL;
    struct answer a = {0};
    char ebuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    if (apply(k, h, path, err) < 0)
        goto out;
    bool patch = strcmp(method, "PATCH") == 0;
    hdr = curl_slist_append(hdr, "Accept: application/json");
    if (body || strcmp(method, "GET") != 0)
        hdr = curl_slist_append(hdr, patch ? "Content-Type: application/merge-patch+json"
                                           : "Content-Type: application/json");
    if (!hdr) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "DELETE") != 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        }
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode cr = curl_easy_perform(h);
    if (a.too_big) {
        ncap_fail(err, "the answer of the API server %s is larger than %u MiB", k->server,
                  ANSWER_MAX >> 20);
        goto out;
    }
    if (cr != CURLE_OK) {
        transport_fail(k, h, cr, ebuf, err);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (resp && a.len)
        *resp = cJSON_ParseWithLength(a.buf, a.len);
    rc = (int)status;
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(a.buf);
    return rc;
}

/* ---- watch ------------------------------------------------------------------------------ */

struct watch {
    const struct ncap_kube *k;
    CURL *h;
    ncap_kube_watch_cb cb;
    void *ud;
    const atomic_int *stop;
    long status;        /* HTTP status, read with the first bytes */
    struct answer line; /* the event being received; or the error body when not 2xx */
    int cb_rc;
    char err[NCAP_ERRBUF_SIZE];
};

/* Hand one complete line to the callback. 0 to go on, -1 to stop the transfer. */
static int watch_line(struct watch *w)
{
    char *s = w->line.buf;
    size_t n = w->line.len;
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    w->line.len = 0;
    if (n == 0)
        return 0;
    cJSON *ev = cJSON_ParseWithLength(s, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        cJSON_Delete(ev);
        ncap_fail(w->err, "the API server sent a watch event that is not {type, object} JSON");
        return -1;
    }
    w->cb_rc = w->cb(type->valuestring, obj, w->ud);
    cJSON_Delete(ev);
    return w->cb_rc ? -1 : 0;
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct watch *w = ud;
    size_t n = size * nmemb;
    if (!w->status)
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->status);
    if (w->status < 200 || w->status > 299) {
        /* Keep the Status object for the sentence; drop whatever exceeds the cap. */
        size_t take = w->line.len + n > ERROR_BODY_MAX ? ERROR_BODY_MAX - w->line.len : n;
        return take == 0 || collect(data, 1, take, &w->line) == take ? n : 0;
    }
    if (w->stop && *w->stop)
        return 0;
    size_t i = 0;
    while (i < n) {
        char *nl = memchr(data + i, '\n', n - i);
        size_t seg = nl ? (size_t)(nl - (data + i)) : n - i;
        if (w->line.len + seg > WATCH_LINE_MAX) {
            ncap_fail(w->err, "a watch event from the API server %s is larger than %u MiB",
                      w->k->server, WATCH_LINE_MAX >> 20);
            return 0;
        }
        if (seg && collect(data + i, 1, seg, &w->line) != seg) {
            ncap_fail(w->err, "out of memory");
            return 0;
        }
        i += seg;
        if (nl) {
            i++;
            if (watch_line(w) < 0)
                return 0;
        }
    }
    return n;
}

static int watch_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const struct watch *w = ud;
    return w->stop && *w->stop ? 1 : 0;
}

int ncap_kube_watch(struct ncap_kube *k, const char *path, ncap_kube_watch_cb cb, void *ud,
                    const atomic_int *stop, char *err)
{
    if (!strstr(path, "watch=1") && !strstr(path, "watch=true"))
        return ncap_fail(err, "%s is not a watch (it needs watch=1 or watch=true)", path);
    struct watch w;
    memset(&w, 0, sizeof(w));
    w.k = k;
    w.cb = cb;
    w.ud = ud;
    w.stop = stop;
    w.h = curl_easy_init();
    if (!w.h)
        return ncap_fail(err, "libcurl cannot create a transfer");
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
    char ebuf[CURL_ERROR_SIZE] = "";
    int rc = -1;
    if (!hdr) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    if (apply(k, w.h, path, err) < 0)
        goto out;
    curl_easy_setopt(w.h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(w.h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(w.h, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt(w.h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(w.h, CURLOPT_XFERINFOFUNCTION, watch_progress);
    curl_easy_setopt(w.h, CURLOPT_XFERINFODATA, &w);
    curl_easy_setopt(w.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(w.h, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode cr = curl_easy_perform(w.h);
    /* A watch that ends without a body byte (timeoutSeconds, nothing changed) never ran the
     * write callback that records the status: read it now. */
    if (cr == CURLE_OK && !w.status)
        curl_easy_getinfo(w.h, CURLINFO_RESPONSE_CODE, &w.status);

    if (w.cb_rc) {
        rc = w.cb_rc;
    } else if (stop && *stop) {
        rc = 0;
    } else if (w.err[0]) {
        memcpy(err, w.err, NCAP_ERRBUF_SIZE);
    } else if (cr != CURLE_OK) {
        transport_fail(k, w.h, cr, ebuf, err);
    } else if (w.status < 200 || w.status > 299) {
        cJSON *st = w.line.len ? cJSON_ParseWithLength(w.line.buf, w.line.len) : NULL;
        ncap_kube_status_sentence((int)w.status, st, err);
        cJSON_Delete(st);
    } else if (w.line.len && watch_line(&w) < 0) {
        /* The last event had no newline before the server closed the stream. */
        if (w.cb_rc)
            rc = w.cb_rc;
        else
            memcpy(err, w.err, NCAP_ERRBUF_SIZE);
    } else {
        rc = 0;
    }
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(w.h);
    free(w.line.buf);
    return rc;
}

char *ncap_kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return out;
}
