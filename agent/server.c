/*
 * server.c - libmicrohttpd handlers for /healthz, /metrics, /v1/pods and /v1/captures.
 *
 * A capture request is answered in three steps, as libmicrohttpd calls the handler: the first
 * call (headers only) checks the path, the method and the announced length, and (when the agent
 * takes only direct requests) the bearer token, so a stranger is refused before sending a body;
 * the next calls collect the body (at most 64 KiB); the last call parses it and sends it down
 * one of two paths: a PodCapture request to cluster.c (the stream key is its authorization; no
 * token is needed or looked at), a request with targets to capture_start() (a token is
 * required). Either queues the pcapng stream or an error.
 */
#include "server.h"

#include <cJSON.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "capture.h"
#include "log.h"
#include "ncap.h"
#include "request.h"
#include "tlsreload.h"

/* TLS 1.2 and 1.3 only; forward-secret ECDHE key exchange and AEAD ciphers only (no CBC, no
 * SHA-1 MACs, no RSA key transport). */
#define TLS_PRIORITIES                                                                         \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"
/* libmicrohttpd's block size for the stream: the most capture_read() is asked for at once. */
#define STREAM_BLOCK (64 * 1024)

/* State of one POST /v1/captures between the handler's calls. */
/* Who sent a request: a bearer token's user, or a client certificate's CN with its O values. */
struct identity {
    char user[256];
    char groups[512]; /* NUL-separated, ending in an empty string */
};

struct upload {
    struct identity id;
    const char *user; /* id.user, or NULL without a valid token or client certificate */
    char *body;
    size_t len;
    bool too_large;
};

/* ---- replies ---- */

/* Queue a reply that owns body; allow (for 405) may be NULL. */
static enum MHD_Result reply_allow(struct MHD_Connection *conn, unsigned status, const char *type,
                                   char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len)
{
    return reply_allow(conn, status, type, body, len, NULL);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *type,
                                  const char *text)
{
    char *copy = strdup(text);
    return copy ? reply(conn, status, type, copy, strlen(copy)) : MHD_NO;
}

/* {"error":"<sentence>","reason":"<CamelCase>"} and a newline, malloc'd; NULL when out of memory.
 */
static char *error_body(const char *reason, const char *sentence)
{
    cJSON *o = cJSON_CreateObject();
    char *json = NULL, *body = NULL;
    if (o && cJSON_AddStringToObject(o, "error", sentence) &&
        cJSON_AddStringToObject(o, "reason", reason))
        json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json || asprintf(&body, "%s\n", json) < 0)
        body = NULL;
    free(json);
    return body;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *reason,
                                   const char *sentence)
{
    char *body = error_body(reason, sentence);
    return body ? reply(conn, status, "application/json", body, strlen(body)) : MHD_NO;
}

__attribute__((format(printf, 4, 5))) static enum MHD_Result
reply_errorf(struct MHD_Connection *conn, unsigned status, const char *reason, const char *fmt, ...)
{
    char sentence[NCAP_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof(sentence), fmt, ap);
    va_end(ap);
    return reply_error(conn, status, reason, sentence);
}

static enum MHD_Result reply_method(struct MHD_Connection *conn, const char *method,
                                    const char *url, const char *allowed)
{
    char sentence[NCAP_ERRBUF_SIZE];
    snprintf(sentence, sizeof(sentence), "method %s is not allowed on %s (use %s)", method, url,
             allowed);
    char *body = error_body("MethodNotAllowed", sentence);
    if (!body)
        return MHD_NO;
    return reply_allow(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", body, strlen(body),
                       allowed);
}

/* ---- helpers ---- */

static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, size, "unknown");
    if (!ci || !ci->client_addr)
        return;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, size, "unknown");
}

/* The client certificate, when --client-ca is set and the client sent one: 1 with id filled
 * (CN = user, each O = a group, as kube-apiserver reads them), 0 when none was sent, -1 with why
 * when it does not verify against the CA (expired, another CA, ...). */
static int client_certificate(struct MHD_Connection *conn, struct identity *id, char *why)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0;
    const gnutls_datum_t *certs = s ? gnutls_certificate_get_peers(s, &n) : NULL;
    if (!certs || n == 0)
        return 0;
    /* Against the client CA as last (re)loaded (tlsreload.h), not the credentials' trust list,
     * which stays what libmicrohttpd was started with. */
    unsigned status = 0;
    int vrc = tls_verify_client(certs, n, &status);
    if (vrc < 0) {
        snprintf(why, NCAP_ERRBUF_SIZE, "the client certificate is not accepted: %s",
                 gnutls_strerror(vrc));
        return -1;
    }
    if (status != 0) {
        gnutls_datum_t text = {0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
            /* GnuTLS says e.g. "The certificate is NOT trusted. The certificate issuer is
             * unknown. ": keep its words, as one sentence. */
            char *t = (char *)text.data;
            size_t n = strlen(t);
            while (n && (t[n - 1] == ' ' || t[n - 1] == '.'))
                t[--n] = '\0';
            for (char *p = t; *p; p++)
                if (p[0] == '.' && p[1] == ' ')
                    p[0] = ';';
            snprintf(why, NCAP_ERRBUF_SIZE, "the client certificate is not accepted: %s", t);
            gnutls_free(text.data);
        } else {
            snprintf(why, NCAP_ERRBUF_SIZE, "the client certificate is not accepted");
        }
        return -1;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return ncap_fail(why, "out of memory reading the client certificate");
    int rc = -1;
    size_t len = sizeof(id->user);
    memset(id, 0, sizeof(*id));
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, id->user, &len) < 0 ||
        !id->user[0]) {
        ncap_fail(why, "the client certificate has no common name (CN) to name its user");
    } else {
        size_t off = 0;
        for (unsigned i = 0; off + 2 < sizeof(id->groups); i++) {
            len = sizeof(id->groups) - off - 1;
            if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0,
                                              id->groups + off, &len) < 0)
                break;
            off += strlen(id->groups + off) + 1;
        }
        id->groups[off] = '\0';
        rc = 1;
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/* A client certificate (when the agent has --client-ca and one was sent) wins over a bearer
 * token. 1 with id, 0 without credentials or with an unknown token, -1 with why for a
 * certificate that does not verify. */
static int authenticate(const struct agent *a, struct MHD_Connection *conn, struct identity *id,
                        char *why)
{
    memset(id, 0, sizeof(*id));
    if (a->client_ca) {
        int rc = client_certificate(conn, id, why);
        if (rc)
            return rc;
    }
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *user = auth_check(&a->auth, h);
    if (!user)
        return 0;
    snprintf(id->user, sizeof(id->user), "%s", user);
    return 1;
}

static enum MHD_Result refuse_unauthenticated(struct MHD_Connection *conn, const char *url,
                                              const char *why)
{
    char client[64], quoted[NCAP_ERRBUF_SIZE + 64];
    client_address(conn, client, sizeof(client));
    const char *sentence = why ? why : "a valid bearer token or client certificate is required";
    agent_log("refused %s from %s: %s", url, client, log_quote(sentence, quoted, sizeof(quoted)));
    return reply_error(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized", sentence);
}

static bool is_get(const char *method)
{
    return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* ---- routes ---- */

static enum MHD_Result handle_pods(struct agent *a, struct MHD_Connection *conn)
{
    struct identity id;
    char err[NCAP_ERRBUF_SIZE];
    int auth = authenticate(a, conn, &id, err);
    if (auth <= 0)
        return refuse_unauthenticated(conn, "/v1/pods", auth < 0 ? err : NULL);
    struct podtable *t = podsource_get(&a->pods);
    char *json = podtable_local_json(t, err);
    podtable_put(t);
    if (!json)
        return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", err);
    return reply(conn, MHD_HTTP_OK, "application/json", json, strlen(json));
}

static enum MHD_Result handle_metrics(struct MHD_Connection *conn)
{
    char *captures = capture_metrics(), *tls = tls_metrics(), *text = NULL;
    if (!captures || !tls || asprintf(&text, "%s%s", captures, tls) < 0)
        text = NULL;
    free(captures);
    free(tls);
    if (!text)
        return MHD_NO;
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", text, strlen(text));
}

/* who: "by <user>", "for PodCapture <ns>/<name>" or "without a token", for the log. */
static enum MHD_Result refuse_capture(struct MHD_Connection *conn, const char *who, unsigned status,
                                      const char *reason, const char *sentence)
{
    char client[64], quoted[NCAP_ERRBUF_SIZE + 64];
    client_address(conn, client, sizeof(client));
    agent_log("refused capture %s from %s: %u %s: %s", who, client, status, reason,
              log_quote(sentence, quoted, sizeof(quoted)));
    return reply_error(conn, status, reason, sentence);
}

static const char *by_user(const char *user, char *out, size_t size)
{
    char quoted[200];
    if (user)
        snprintf(out, size, "by %s", log_quote(user, quoted, sizeof(quoted)));
    else
        snprintf(out, size, "without a token");
    return out;
}

static enum MHD_Result refuse_too_large(struct MHD_Connection *conn, const char *user)
{
    char sentence[NCAP_ERRBUF_SIZE], who[256];
    snprintf(sentence, sizeof(sentence), "the request body is larger than %d bytes",
             SERVER_MAX_BODY);
    return refuse_capture(conn, by_user(user, who, sizeof(who)), MHD_HTTP_CONTENT_TOO_LARGE,
                          "RequestTooLarge", sentence);
}

/* First call of POST /v1/captures: refuse early, or start collecting the body. */
static enum MHD_Result begin_capture(struct agent *a, struct MHD_Connection *conn, void **con_cls)
{
    struct identity id;
    char why[NCAP_ERRBUF_SIZE];
    int auth = authenticate(a, conn, &id, why);
    /* A certificate that does not verify is refused in every mode; without cluster mode every
     * request needs credentials: refuse before the body comes. */
    if (auth < 0 || (auth == 0 && !a->cluster))
        return refuse_unauthenticated(conn, "/v1/captures", auth < 0 ? why : NULL);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > SERVER_MAX_BODY)
        return refuse_too_large(conn, auth ? id.user : NULL);
    struct upload *u = calloc(1, sizeof(*u));
    if (!u)
        return MHD_NO;
    u->id = id;
    u->user = auth ? u->id.user : NULL;
    *con_cls = u;
    return MHD_YES;
}

static void collect_body(struct upload *u, const char *data, size_t size)
{
    if (u->too_large || size > SERVER_MAX_BODY - u->len) {
        u->too_large = true;
        return;
    }
    char *b = realloc(u->body, u->len + size + 1);
    if (!b) {
        u->too_large = true;
        return;
    }
    memcpy(b + u->len, data, size);
    u->body = b;
    u->len += size;
    b[u->len] = '\0';
}

/* The response that streams c; it owns the capture from here (capture_release()). */
static enum MHD_Result stream_capture(struct MHD_Connection *conn, struct capture *c)
{
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                                               capture_read, c, capture_release);
    if (!r) {
        capture_release(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-pcapng");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result podcapture_capture(struct agent *a, struct MHD_Connection *conn,
                                          const struct podcapture_ref *ref)
{
    char err[NCAP_ERRBUF_SIZE], who[700], client[64];
    snprintf(who, sizeof(who), "for PodCapture %s/%s", ref->namespace_, ref->name);
    if (!a->cluster)
        return refuse_capture(conn, who, MHD_HTTP_BAD_REQUEST, "BadRequest",
                              "this agent runs outside a cluster and takes no PodCapture requests "
                              "(give it --kubeconfig or --in-cluster)");
    client_address(conn, client, sizeof(client));
    struct capture *c;
    const char *reason = "CaptureFailed";
    int status = cluster_capture(a->cluster, ref, client, &c, &reason, err);
    if (status)
        return refuse_capture(conn, who, (unsigned)status, reason, err);
    return stream_capture(conn, c);
}

static enum MHD_Result direct_capture(struct agent *a, struct MHD_Connection *conn,
                                      const struct upload *u, struct capture_spec *spec)
{
    char err[NCAP_ERRBUF_SIZE], who[256], client[64];
    const char *user = u->user;
    if (!user) {
        capture_spec_free(spec);
        return refuse_unauthenticated(conn, "/v1/captures", NULL);
    }
    for (size_t i = 0; i < spec->n_targets; i++) {
        const char *ns = spec->targets[i].namespace_;
        const char *reason = NULL;
        if (nslist_has(&a->excluded, ns)) {
            snprintf(err, sizeof(err), "namespace %s is excluded from capture on this agent", ns);
            reason = "NamespaceExcluded";
        } else if (!policy_allows(&a->policy, user, u->id.groups, ns)) {
            char quoted[300];
            snprintf(err, sizeof(err), "user %s may not capture in namespace %s on this agent",
                     log_quote(user, quoted, sizeof(quoted)), ns);
            reason = "Forbidden";
        }
        if (reason) {
            capture_spec_free(spec);
            return refuse_capture(conn, by_user(user, who, sizeof(who)), MHD_HTTP_FORBIDDEN,
                                  reason, err);
        }
    }
    client_address(conn, client, sizeof(client));
    struct capture_who cw = {.user = user, .client = client};
    struct capture *c;
    const char *reason = "CaptureFailed";
    int status = capture_start(spec, &a->pods, &cw, NULL, &c, &reason, err);
    if (status)
        return refuse_capture(conn, by_user(user, who, sizeof(who)), (unsigned)status, reason, err);
    return stream_capture(conn, c);
}

/* Last call of POST /v1/captures: the whole body is here. */
static enum MHD_Result finish_capture(struct agent *a, struct MHD_Connection *conn,
                                      struct upload *u)
{
    char err[NCAP_ERRBUF_SIZE], who[256];
    if (u->too_large)
        return refuse_too_large(conn, u->user);
    struct capture_request req;
    if (capture_request_parse(u->body ? u->body : "", u->len, &req, err) < 0) {
        /* A cluster request's body holds the stream key: do not keep it around. */
        if (u->body)
            explicit_bzero(u->body, u->len);
        return refuse_capture(conn, by_user(u->user, who, sizeof(who)), MHD_HTTP_BAD_REQUEST,
                              "BadRequest", err);
    }
    if (u->body)
        explicit_bzero(u->body, u->len);
    enum MHD_Result ret;
    if (req.kind == REQUEST_PODCAPTURE)
        ret = podcapture_capture(a, conn, &req.pc);
    else
        ret = direct_capture(a, conn, u, &req.spec);
    capture_request_free(&req);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct agent *a = cls;
    (void)version;
    if (*con_cls) {
        struct upload *u = *con_cls;
        if (*upload_data_size) {
            collect_body(u, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        return finish_capture(a, conn, u);
    }

    if (strcmp(url, "/v1/captures") == 0) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return reply_method(conn, method, url, "POST");
        return begin_capture(a, conn, con_cls);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!is_get(method))
            return reply_method(conn, method, url, "GET");
        return reply_text(conn, MHD_HTTP_OK, "text/plain", "ok\n");
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!is_get(method))
            return reply_method(conn, method, url, "GET");
        return handle_metrics(conn);
    }
    if (strcmp(url, "/v1/pods") == 0) {
        if (!is_get(method))
            return reply_method(conn, method, url, "GET");
        return handle_pods(a, conn);
    }
    return reply_errorf(conn, MHD_HTTP_NOT_FOUND, "NotFound", "there is nothing at %s", url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    agent_log("https: %s", msg);
}

struct MHD_Daemon *server_start(struct agent *a, const struct sockaddr *addr, char *err)
{
    /* The certificate comes from a callback so that a reload reaches new handshakes. */
    if (MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) != MHD_YES) {
        ncap_fail(err, "this libmicrohttpd cannot take its TLS certificate from a callback "
                       "(MHD_OPTION_HTTPS_CERT_CALLBACK2 needs GnuTLS 3.6.3 or later)");
        return NULL;
    }
    const char *client_ca_pem = tls_start_client_ca();
    unsigned flags = MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG;
    uint16_t port;
    if (addr->sa_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    } else {
        port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    }
    /* One option and its values per line. */
    // clang-format off
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, (void *)a,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD logs on its own */
        MHD_OPTION_HTTPS_CERT_CALLBACK2, tls_select_certificate,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_IDLE_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        /* With a CA, clients are asked (not forced) for a certificate; authenticate() checks
         * it, so a wrong one gets a sentence rather than a failed handshake. This trust list
         * only makes libmicrohttpd ask, and names the CA in the request; the check itself is
         * tls_verify_client(), against the CA as reloaded. The string must outlive the daemon
         * (libmicrohttpd keeps the pointer): tls_free() comes after server_stop(). */
        client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, client_ca_pem,
        MHD_OPTION_END);
    // clang-format on
    if (!d)
        ncap_fail(err,
                  "cannot start the HTTPS server on port %u (address in use or not "
                  "available, or a certificate the TLS library refuses)",
                  port);
    return d;
}

void server_stop(struct MHD_Daemon *d)
{
    MHD_stop_daemon(d);
}
