/*
 * test_kube.c - the Kubernetes API client against a tiny local HTTPS server (python3 + a
 * certificate made with openssl): requests, Status sentences, bearer tokens and token files,
 * CA blobs, tls-server-name, TLS failures, watches split across chunks, stop and in-cluster
 * configuration. Without python3 or openssl, only the offline tests run.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "kube.h"

static char *tmp;
static char *ca_pem; /* the server's self-signed certificate (SAN: kubernetes, localhost) */
static int port;
static GPid server_pid;

/* The fixture: a few paths with real API shapes; HTTP/1.0, so bodies end with the connection. */
static const char server_py[] =
    "import json, socket, ssl, sys, time\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def send(self, code, obj):\n"
    "        b = json.dumps(obj).encode()\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(b)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b)\n"
    "    def authorized(self):\n"
    "        if self.headers.get('Authorization') == 'Bearer secret': return True\n"
    "        self.send(401, {'kind': 'Status', 'message': 'Unauthorized', 'code': 401})\n"
    "        return False\n"
    "    def echo(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n).decode()\n"
    "        self.send(200, {'method': self.command, 'path': self.path, 'body': body,\n"
    "                        'ct': self.headers.get('Content-Type'), 'host': "
    "self.headers.get('Host'),\n"
    "                        'ua': self.headers.get('User-Agent'), 'accept': "
    "self.headers.get('Accept')})\n"
    "    def do_GET(self):\n"
    "        if not self.authorized(): return\n"
    "        if self.path.startswith('/forbidden'):\n"
    "            return self.send(403, {'kind': 'Status', 'reason': 'Forbidden', 'message':\n"
    "                'pods is forbidden: User \"bob\" cannot list resource \"pods\"'})\n"
    "        if self.path.startswith('/gone'):\n"
    "            return self.send(410, {'kind': 'Status', 'message': 'too old resource version'})\n"
    "        if self.path.startswith('/plain'):\n"
    "            self.send_response(500); self.end_headers(); self.wfile.write(b'oops'); return\n"
    "        if self.path.startswith('/watch'):\n"
    "            self.send_response(200)\n"
    "            self.send_header('Content-Type', 'application/json')\n"
    "            self.end_headers()\n"
    "            ev = [json.dumps({'type': t, 'object': {'metadata': {'name': 'p%d' % i}}})\n"
    "                  for i, t in enumerate(['ADDED', 'MODIFIED', 'DELETED'])]\n"
    "            data = ('\\n'.join(ev) + '\\n').encode()\n"
    "            for i in range(0, len(data), 7):\n"
    "                self.wfile.write(data[i:i + 7]); self.wfile.flush()\n"
    "            if 'forever' in self.path:\n"
    "                time.sleep(30)\n"
    "            if 'tail' in self.path:\n"
    "                self.wfile.write(b'{\"type\":\"BOOKMARK\",\"object\":{}}')\n"
    "            return\n"
    "        self.echo()\n"
    "    def do_POST(self):\n"
    "        if self.authorized(): self.echo()\n"
    "    do_PATCH = do_PUT = do_DELETE = do_POST\n"
    "srv = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "srv.daemon_threads = True\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

static gboolean have_server(void)
{
    if (!port)
        g_test_skip("python3 or openssl is missing: no local HTTPS server");
    return port != 0;
}

static void start_server(void)
{
    char *py = g_find_program_in_path("python3"), *ossl = g_find_program_in_path("openssl");
    if (!py || !ossl) {
        g_free(py);
        g_free(ossl);
        return;
    }
    char *crt = g_build_filename(tmp, "server.crt", NULL);
    char *key = g_build_filename(tmp, "server.key", NULL);
    char *script = g_build_filename(tmp, "server.py", NULL);
    g_assert_true(g_file_set_contents(script, server_py, -1, NULL));
    const char *gen[] = {ossl,
                         "req",
                         "-x509",
                         "-newkey",
                         "ec",
                         "-pkeyopt",
                         "ec_paramgen_curve:prime256v1",
                         "-nodes",
                         "-days",
                         "2",
                         "-subj",
                         "/CN=kubernetes",
                         "-addext",
                         "subjectAltName=DNS:kubernetes,DNS:localhost",
                         "-keyout",
                         key,
                         "-out",
                         crt,
                         NULL};
    int st = -1;
    g_assert_true(g_spawn_sync(NULL, (char **)gen, NULL,
                               G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               NULL, NULL, &st, NULL));
    g_assert_cmpint(st, ==, 0);
    g_assert_true(g_file_get_contents(crt, &ca_pem, NULL, NULL));

    const char *run[] = {py, script, crt, key, NULL};
    int out_fd;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)run, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                           &server_pid, NULL, &out_fd, NULL, NULL));
    FILE *f = fdopen(out_fd, "r");
    g_assert_nonnull(f);
    g_assert_cmpint(fscanf(f, "%d", &port), ==, 1);
    fclose(f);
    g_free(script);
    g_free(key);
    g_free(crt);
    g_free(ossl);
    g_free(py);
}

/* A client for the fixture with token "secret" and the fixture's CA in memory. */
static struct ncap_kube *client(const char *host, const char *tls_name, const char *token)
{
    struct ncap_kubeconfig kc;
    memset(&kc, 0, sizeof(kc));
    kc.cluster.server = g_strdup_printf("https://%s:%d", host, port);
    kc.cluster.ca_data = ca_pem;
    kc.cluster.ca_data_len = strlen(ca_pem);
    kc.cluster.tls_server_name = (char *)tls_name;
    kc.user.token = (char *)token;
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_kube *k = ncap_kube_new(&kc, err);
    g_assert_nonnull(k);
    g_free(kc.cluster.server);
    return k;
}

static void test_status_sentence(void)
{
    char err[NCAP_ERRBUF_SIZE];
    cJSON *st = cJSON_Parse("{\"kind\":\"Status\",\"message\":\"podcaptures.netcap.io is "
                            "forbidden: User \\\"bob\\\" cannot create\",\"code\":403}");
    ncap_kube_status_sentence(401, st, err);
    g_assert_cmpstr(err, ==, "the API server rejected the credentials (401 Unauthorized)");
    ncap_kube_status_sentence(403, st, err);
    g_assert_cmpstr(err, ==,
                    "the API server refused: podcaptures.netcap.io is forbidden: "
                    "User \"bob\" cannot create");
    ncap_kube_status_sentence(502, NULL, err);
    g_assert_cmpstr(err, ==, "the API server answered HTTP 502");
    cJSON_Delete(st);
    st = cJSON_Parse("{\"kind\":\"Status\",\"message\":\"\"}");
    ncap_kube_status_sentence(404, st, err);
    g_assert_cmpstr(err, ==, "the API server answered HTTP 404");
    cJSON_Delete(st);
}

static void test_escape(void)
{
    char *e = ncap_kube_escape("app in (a,b),tier!=db");
    g_assert_cmpstr(e, ==, "app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb");
    free(e);
    e = ncap_kube_escape("app.kubernetes.io/name=netcap-agent~_");
    g_assert_cmpstr(e, ==, "app.kubernetes.io%2Fname%3Dnetcap-agent~_");
    free(e);
    e = ncap_kube_escape("");
    g_assert_cmpstr(e, ==, "");
    free(e);
}

static void test_new_errors(void)
{
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    memset(&kc, 0, sizeof(kc));
    kc.cluster.server = "http://localhost:8080";
    g_assert_null(ncap_kube_new(&kc, err));
    g_assert_cmpstr(err, ==,
                    "the API server URL http://localhost:8080 is not https: netcap "
                    "never talks to the API server in plaintext");
    kc.cluster.server = "https://k";
    kc.user.token_file = "/nonexistent/token";
    g_assert_null(ncap_kube_new(&kc, err));
    g_assert_cmpstr(err, ==,
                    "cannot read the token file /nonexistent/token: No such file or "
                    "directory");
    kc.user.token_file = NULL;
    kc.cluster.ca_file = "/nonexistent/ca.crt";
    g_assert_null(ncap_kube_new(&kc, err));
    g_assert_cmpstr(err, ==,
                    "cannot read the certificate authority file /nonexistent/ca.crt: "
                    "No such file or directory");

    /* Nothing listens on port 1. */
    memset(&kc, 0, sizeof(kc));
    kc.cluster.server = "https://127.0.0.1:1/";
    kc.user.token = "do-not-print-me";
    struct ncap_kube *k = ncap_kube_new(&kc, err);
    g_assert_nonnull(k);
    g_assert_cmpstr(ncap_kube_server(k), ==, "https://127.0.0.1:1/");
    cJSON *resp = (cJSON *)1;
    g_assert_cmpint(ncap_kube_request(k, "GET", "/api", NULL, 2000, &resp, err), ==, -1);
    g_assert_null(resp);
    g_assert_cmpstr(err, ==,
                    "cannot reach the API server https://127.0.0.1:1/: Connection refused");
    g_assert_null(strstr(err, "do-not-print-me"));
    ncap_kube_free(k);
}

static void test_in_cluster(void)
{
    char err[NCAP_ERRBUF_SIZE];
    g_unsetenv("KUBERNETES_SERVICE_HOST");
    g_unsetenv("KUBERNETES_SERVICE_PORT");
    g_assert_null(ncap_kube_new_in_cluster(err));
    g_assert_cmpstr(err, ==,
                    "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and "
                    "KUBERNETES_SERVICE_PORT are not set");

    char *sa = g_build_filename(tmp, "sa", NULL);
    g_mkdir_with_parents(sa, 0700);
    g_setenv("NETCAP_SA_DIR", sa, TRUE);
    g_setenv("KUBERNETES_SERVICE_HOST", "fd00::1", TRUE);
    g_setenv("KUBERNETES_SERVICE_PORT", "443", TRUE);
    g_assert_null(ncap_kube_new_in_cluster(err));
    g_assert_true(g_str_has_prefix(err, "cannot read the "));

    char *ca = g_build_filename(sa, "ca.crt", NULL), *tok = g_build_filename(sa, "token", NULL);
    g_assert_true(g_file_set_contents(ca, ca_pem ? ca_pem : "", -1, NULL));
    g_assert_true(g_file_set_contents(tok, "secret\n", -1, NULL));
    struct ncap_kube *k = ncap_kube_new_in_cluster(err);
    g_assert_nonnull(k);
    g_assert_cmpstr(ncap_kube_server(k), ==, "https://[fd00::1]:443");
    ncap_kube_free(k);

    if (port) {
        char *p = g_strdup_printf("%d", port);
        g_setenv("KUBERNETES_SERVICE_HOST", "localhost", TRUE);
        g_setenv("KUBERNETES_SERVICE_PORT", p, TRUE);
        k = ncap_kube_new_in_cluster(err);
        g_assert_nonnull(k);
        cJSON *resp;
        g_assert_cmpint(ncap_kube_request(k, "GET", "/api/v1/namespaces", NULL, 5000, &resp, err),
                        ==, 200);
        cJSON_Delete(resp);
        /* Service-account tokens rotate: the file is read again for each request. */
        g_assert_true(g_file_set_contents(tok, "rotated", -1, NULL));
        g_assert_cmpint(ncap_kube_request(k, "GET", "/api/v1/namespaces", NULL, 5000, &resp, err),
                        ==, 401);
        cJSON_Delete(resp);
        ncap_kube_free(k);
        g_free(p);
    }
    g_unsetenv("KUBERNETES_SERVICE_HOST");
    g_unsetenv("KUBERNETES_SERVICE_PORT");
    g_unsetenv("NETCAP_SA_DIR");
    g_free(tok);
    g_free(ca);
    g_free(sa);
}

static void test_requests(void)
{
    if (!have_server())
        return;
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_kube *k = client("localhost", NULL, "secret");
    cJSON *resp;

    g_assert_cmpint(ncap_kube_request(k, "GET", "/api/v1/pods?limit=1", NULL, 5000, &resp, err), ==,
                    200);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "method")->valuestring, ==, "GET");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "path")->valuestring, ==, "/api/v1/pods?limit=1");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "ua")->valuestring, ==, "netcap/" NCAP_VERSION);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "accept")->valuestring, ==, "application/json");
    cJSON_Delete(resp);

    g_assert_cmpint(ncap_kube_request(k, "POST", "/p", "{\"a\":1}", 5000, &resp, err), ==, 200);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "method")->valuestring, ==, "POST");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "body")->valuestring, ==, "{\"a\":1}");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "ct")->valuestring, ==, "application/json");
    cJSON_Delete(resp);

    g_assert_cmpint(ncap_kube_request(k, "PATCH", "/s", "{\"status\":{}}", 5000, &resp, err), ==,
                    200);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "method")->valuestring, ==, "PATCH");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "ct")->valuestring, ==,
                    "application/merge-patch+json");
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "body")->valuestring, ==, "{\"status\":{}}");
    cJSON_Delete(resp);

    g_assert_cmpint(ncap_kube_request(k, "DELETE", "/d", NULL, 5000, &resp, err), ==, 200);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "method")->valuestring, ==, "DELETE");
    cJSON_Delete(resp);

    g_assert_cmpint(ncap_kube_request(k, "GET", "/forbidden", NULL, 5000, &resp, err), ==, 403);
    ncap_kube_status_sentence(403, resp, err);
    g_assert_cmpstr(err, ==,
                    "the API server refused: pods is forbidden: User \"bob\" cannot "
                    "list resource \"pods\"");
    cJSON_Delete(resp);

    g_assert_cmpint(ncap_kube_request(k, "GET", "/plain", NULL, 5000, &resp, err), ==, 500);
    g_assert_null(resp);
    ncap_kube_free(k);

    k = client("localhost", NULL, "wrong");
    g_assert_cmpint(ncap_kube_request(k, "GET", "/x", NULL, 5000, &resp, err), ==, 401);
    ncap_kube_status_sentence(401, resp, err);
    g_assert_cmpstr(err, ==, "the API server rejected the credentials (401 Unauthorized)");
    cJSON_Delete(resp);
    ncap_kube_free(k);
}

static void test_tls(void)
{
    if (!have_server())
        return;
    char err[NCAP_ERRBUF_SIZE];
    cJSON *resp;

    /* The certificate names kubernetes and localhost, not 127.0.0.1. */
    struct ncap_kube *k = client("127.0.0.1", NULL, "secret");
    g_assert_cmpint(ncap_kube_request(k, "GET", "/x", NULL, 5000, &resp, err), ==, -1);
    char *want =
        g_strdup_printf("TLS verification of the API server https://127.0.0.1:%d failed: ", port);
    g_assert_true(g_str_has_prefix(err, want));
    g_free(want);
    ncap_kube_free(k);

    k = client("127.0.0.1", "kubernetes", "secret");
    g_assert_cmpint(ncap_kube_request(k, "GET", "/x", NULL, 5000, &resp, err), ==, 200);
    char *host = g_strdup_printf("kubernetes:%d", port);
    g_assert_cmpstr(cJSON_GetObjectItem(resp, "host")->valuestring, ==, host);
    g_free(host);
    cJSON_Delete(resp);
    ncap_kube_free(k);

    /* No CA: the system store does not know the fixture; insecure skips the check. */
    struct ncap_kubeconfig kc;
    memset(&kc, 0, sizeof(kc));
    kc.cluster.server = g_strdup_printf("https://localhost:%d", port);
    kc.user.token = "secret";
    k = ncap_kube_new(&kc, err);
    g_assert_cmpint(ncap_kube_request(k, "GET", "/x", NULL, 5000, &resp, err), ==, -1);
    g_assert_nonnull(strstr(err, "TLS verification of the API server"));
    ncap_kube_free(k);
    kc.cluster.insecure = true;
    k = ncap_kube_new(&kc, err);
    g_assert_cmpint(ncap_kube_request(k, "GET", "/x", NULL, 5000, &resp, err), ==, 200);
    cJSON_Delete(resp);
    ncap_kube_free(k);

    /* The CA from a file, and setup_easy on a caller's handle with its own headers. */
    kc.cluster.insecure = false;
    kc.cluster.ca_file = g_build_filename(tmp, "server.crt", NULL);
    k = ncap_kube_new(&kc, err);
    g_assert_nonnull(k);
    CURL *h = curl_easy_init();
    g_assert_cmpint(ncap_kube_setup_easy(k, h, "/proxy/v1/captures", err), ==, 0);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    g_assert_cmpint(curl_easy_perform(h), ==, CURLE_OK);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    g_assert_cmpint(code, ==, 200);
    fclose(sink);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    ncap_kube_free(k);
    g_free(kc.cluster.ca_file);
    g_free(kc.cluster.server);
}

struct seen {
    GString *log;
    int stop_after;
    int ret_after;
    atomic_int *stop;
};

static int on_event(const char *type, const cJSON *object, void *ud)
{
    struct seen *s = ud;
    const cJSON *md = cJSON_GetObjectItem(object, "metadata");
    const cJSON *name = md ? cJSON_GetObjectItem(md, "name") : NULL;
    g_string_append_printf(s->log, "%s:%s ", type, name ? name->valuestring : "-");
    int n = 0;
    for (const char *c = s->log->str; *c; c++)
        n += *c == ' ';
    if (s->stop_after && n == s->stop_after)
        *s->stop = 1;
    return s->ret_after && n == s->ret_after ? 42 : 0;
}

static void test_watch(void)
{
    if (!have_server())
        return;
    char err[NCAP_ERRBUF_SIZE];
    struct ncap_kube *k = client("localhost", NULL, "secret");
    atomic_int stop = 0;
    struct seen s = {g_string_new(""), 0, 0, &stop};

    g_assert_cmpint(ncap_kube_watch(k, "/watch?watch=1", on_event, &s, &stop, err), ==, 0);
    g_assert_cmpstr(s.log->str, ==, "ADDED:p0 MODIFIED:p1 DELETED:p2 ");

    /* A last event without a newline before the end still counts. */
    g_string_truncate(s.log, 0);
    g_assert_cmpint(ncap_kube_watch(k, "/watch?tail&watch=true", on_event, &s, &stop, err), ==, 0);
    g_assert_cmpstr(s.log->str, ==, "ADDED:p0 MODIFIED:p1 DELETED:p2 BOOKMARK:- ");

    g_string_truncate(s.log, 0);
    s.ret_after = 2;
    g_assert_cmpint(ncap_kube_watch(k, "/watch?watch=1", on_event, &s, &stop, err), ==, 42);
    g_assert_cmpstr(s.log->str, ==, "ADDED:p0 MODIFIED:p1 ");

    /* The server keeps the stream open; *stop ends the watch within about a second. */
    g_string_truncate(s.log, 0);
    s.ret_after = 0;
    s.stop_after = 3;
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(ncap_kube_watch(k, "/watch?forever&watch=1", on_event, &s, &stop, err), ==, 0);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpstr(s.log->str, ==, "ADDED:p0 MODIFIED:p1 DELETED:p2 ");

    stop = 0;
    g_assert_cmpint(ncap_kube_watch(k, "/gone?watch=1", on_event, &s, &stop, err), ==, -1);
    g_assert_cmpstr(err, ==, "the API server refused: too old resource version");
    g_assert_cmpint(ncap_kube_watch(k, "/api/v1/pods", on_event, &s, &stop, err), ==, -1);
    g_assert_cmpstr(err, ==, "/api/v1/pods is not a watch (it needs watch=1 or watch=true)");
    g_string_free(s.log, TRUE);
    ncap_kube_free(k);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmp = g_dir_make_tmp("netcap-kube-XXXXXX", NULL);
    g_assert_nonnull(tmp);
    start_server();
    g_test_add_func("/kube/status-sentence", test_status_sentence);
    g_test_add_func("/kube/escape", test_escape);
    g_test_add_func("/kube/new-errors", test_new_errors);
    g_test_add_func("/kube/in-cluster", test_in_cluster);
    g_test_add_func("/kube/requests", test_requests);
    g_test_add_func("/kube/tls", test_tls);
    g_test_add_func("/kube/watch", test_watch);
    int rc = g_test_run();
    if (server_pid) {
        kill(server_pid, SIGTERM);
        g_spawn_close_pid(server_pid);
    }
    char *rm = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(rm) != 0)
        rc = rc ? rc : 1;
    g_free(rm);
    g_free(ca_pem);
    g_free(tmp);
    return rc;
}
