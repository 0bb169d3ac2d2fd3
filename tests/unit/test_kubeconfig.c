/*
 * test_kubeconfig.c - kubeconfig loading as kubectl does it (merge order, relative paths,
 * -data keys, context selection and its error sentences) and exec credential plugins run as
 * small shell scripts (token, client certificate, caching until expiry, failures).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kubeconfig.h"

static char *tmp;

static char *put(const char *name, const char *text)
{
    char *p = g_build_filename(tmp, name, NULL);
    char *dir = g_path_get_dirname(p);
    g_mkdir_with_parents(dir, 0700);
    g_free(dir);
    g_assert_true(g_file_set_contents(p, text, -1, NULL));
    return p;
}

static char *put_script(const char *name, const char *body)
{
    char *p = put(name, body);
    g_assert_cmpint(g_chmod(p, 0755), ==, 0);
    return p;
}

static const char file_a[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: alpha\n"
    "clusters:\n"
    "- name: shared\n"
    "  cluster:\n"
    "    server: https://a.example:6443/\n"
    "    certificate-authority: ca-a.crt\n"
    "    tls-server-name: kubernetes\n"
    "- name: only-a\n"
    "  cluster: {server: 'https://10.0.0.1:6443', insecure-skip-tls-verify: true}\n"
    "users:\n"
    "- name: alice\n"
    "  user:\n"
    "    token: token-a\n"
    "contexts:\n"
    "- name: alpha\n"
    "  context: {cluster: shared, user: alice, namespace: shop}\n"
    "- name: both\n"
    "  context: {cluster: only-a, user: alice}\n";

static const char file_b[] = "current-context: beta\n"
                             "clusters:\n"
                             "- name: shared\n"
                             "  cluster:\n"
                             "    server: https://b.example:6443\n"
                             "- name: only-b\n"
                             "  cluster:\n"
                             "    server: https://b-only.example\n"
                             "users:\n"
                             "- name: alice\n"
                             "  user: {token: token-b}\n"
                             "- name: bob\n"
                             "  user:\n"
                             "    tokenFile: ../tokens/bob\n"
                             "contexts:\n"
                             "- name: both\n"
                             "  context: {cluster: only-b, user: bob}\n"
                             "- name: beta\n"
                             "  context:\n"
                             "    cluster: shared\n"
                             "    user: bob\n"
                             "    namespace: ~\n";

static void test_merge_first_wins(void)
{
    char *a = put("merge/a/config", file_a), *b = put("merge/b/config", file_b);
    char *list = g_strdup_printf("%s:/nonexistent/netcap/config:%s", a, b);
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];

    g_assert_cmpint(ncap_kubeconfig_load(list, NULL, &kc, err), ==, 0);
    g_assert_cmpstr(kc.context, ==, "alpha");
    g_assert_cmpstr(kc.namespace_, ==, "shop");
    g_assert_cmpstr(kc.cluster.server, ==, "https://a.example:6443");
    g_assert_cmpstr(kc.cluster.tls_server_name, ==, "kubernetes");
    char *ca = g_build_filename(tmp, "merge/a/ca-a.crt", NULL);
    g_assert_cmpstr(kc.cluster.ca_file, ==, ca);
    g_free(ca);
    g_assert_cmpstr(kc.user.token, ==, "token-a");
    g_assert_null(kc.user.exec);
    ncap_kubeconfig_free(&kc);

    /* B's context, but the cluster "shared" comes from A, which defines it first. */
    g_assert_cmpint(ncap_kubeconfig_load(list, "beta", &kc, err), ==, 0);
    g_assert_cmpstr(kc.cluster.server, ==, "https://a.example:6443");
    g_assert_null(kc.namespace_);
    char *tok = g_build_filename(tmp, "merge/b/../tokens/bob", NULL);
    g_assert_cmpstr(kc.user.token_file, ==, tok);
    g_free(tok);
    g_assert_null(kc.user.token);
    ncap_kubeconfig_free(&kc);

    /* Context "both": A's definition wins over B's. */
    g_assert_cmpint(ncap_kubeconfig_load(list, "both", &kc, err), ==, 0);
    g_assert_cmpstr(kc.cluster.server, ==, "https://10.0.0.1:6443");
    g_assert_true(kc.cluster.insecure);
    g_assert_cmpstr(kc.user.token, ==, "token-a");
    ncap_kubeconfig_free(&kc);

    /* The other order: B's current-context. */
    char *rev = g_strdup_printf("%s:%s", b, a);
    g_assert_cmpint(ncap_kubeconfig_load(rev, "", &kc, err), ==, 0);
    g_assert_cmpstr(kc.context, ==, "beta");
    g_assert_cmpstr(kc.cluster.server, ==, "https://b.example:6443");
    ncap_kubeconfig_free(&kc);

    char **names, *current;
    size_t n;
    g_assert_cmpint(ncap_kubeconfig_contexts(list, &names, &n, &current, err), ==, 0);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpstr(names[0], ==, "alpha");
    g_assert_cmpstr(names[1], ==, "both");
    g_assert_cmpstr(names[2], ==, "beta");
    g_assert_cmpstr(current, ==, "alpha");
    ncap_strv_free(names, n);
    g_free(current);

    g_free(rev);
    g_free(list);
    g_free(a);
    g_free(b);
}

static void test_default_paths(void)
{
    char *a = put("env/a", file_a), *b = put("env/b", file_b);
    char *list = g_strdup_printf("%s:%s", b, a);
    char *home = g_build_filename(tmp, "home", NULL);
    char *old_home = g_strdup(g_getenv("HOME")), *old_kc = g_strdup(g_getenv("KUBECONFIG"));
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];

    g_setenv("KUBECONFIG", list, TRUE);
    g_assert_cmpint(ncap_kubeconfig_load(NULL, NULL, &kc, err), ==, 0);
    g_assert_cmpstr(kc.context, ==, "beta");
    ncap_kubeconfig_free(&kc);

    g_unsetenv("KUBECONFIG");
    g_setenv("HOME", home, TRUE);
    g_assert_cmpint(ncap_kubeconfig_load(NULL, NULL, &kc, err), ==, -1);
    char *want = g_strdup_printf("kubeconfig %s/.kube/config: No such file or directory", home);
    g_assert_cmpstr(err, ==, want);
    g_free(want);
    g_free(put("home/.kube/config", file_a));
    g_assert_cmpint(ncap_kubeconfig_load(NULL, NULL, &kc, err), ==, 0);
    g_assert_cmpstr(kc.context, ==, "alpha");
    ncap_kubeconfig_free(&kc);

    if (old_home)
        g_setenv("HOME", old_home, TRUE);
    if (old_kc)
        g_setenv("KUBECONFIG", old_kc, TRUE);
    g_free(old_home);
    g_free(old_kc);
    g_free(home);
    g_free(list);
    g_free(a);
    g_free(b);
}

static void test_data_keys(void)
{
    const char *pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
    char *b64 = g_base64_encode((const guchar *)pem, strlen(pem));
    char *key64 = g_base64_encode((const guchar *)"KEY", 3);
    char *text = g_strdup_printf("current-context: c\n"
                                 "clusters:\n"
                                 "- name: k\n"
                                 "  cluster:\n"
                                 "    server: https://k:443\n"
                                 "    certificate-authority-data: |\n"
                                 "      %.40s\n"
                                 "      %s\n"
                                 "users:\n"
                                 "- name: u\n"
                                 "  user:\n"
                                 "    client-certificate-data: %s\n"
                                 "    client-key-data: \"%s\"\n"
                                 "contexts:\n"
                                 "- {name: c, context: {cluster: k, user: u}}\n",
                                 b64, b64 + 40, b64, key64);
    char *path = put("data/config", text);
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_kubeconfig_load(path, NULL, &kc, err), ==, 0);
    g_assert_cmpuint(kc.cluster.ca_data_len, ==, strlen(pem));
    g_assert_cmpmem(kc.cluster.ca_data, kc.cluster.ca_data_len, pem, strlen(pem));
    g_assert_cmpmem(kc.user.cert_data, kc.user.cert_data_len, pem, strlen(pem));
    g_assert_cmpmem(kc.user.key_data, kc.user.key_data_len, "KEY", 3);
    g_assert_null(kc.cluster.ca_file);
    ncap_kubeconfig_free(&kc);

    char *bad = put("data/bad", "current-context: c\n"
                                "clusters: [{name: k, cluster: {server: 'https://k',"
                                " certificate-authority-data: 'not*base64'}}]\n"
                                "users: [{name: u, user: {token: t}}]\n"
                                "contexts: [{name: c, context: {cluster: k, user: u}}]\n");
    g_assert_cmpint(ncap_kubeconfig_load(bad, NULL, &kc, err), ==, -1);
    char *want = g_strdup_printf(
        "kubeconfig %s: cluster \"k\" certificate-authority-data is not valid base64", bad);
    g_assert_cmpstr(err, ==, want);
    g_free(want);
    g_free(bad);
    g_free(path);
    g_free(text);
    g_free(b64);
    g_free(key64);
}

static void expect_error(const char *path, const char *context, const char *suffix)
{
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE] = "";
    g_assert_cmpint(ncap_kubeconfig_load(path, context, &kc, err), ==, -1);
    char *want = g_strdup_printf("kubeconfig %s: %s", path, suffix);
    g_assert_cmpstr(err, ==, want);
    g_free(want);
}

static void test_errors(void)
{
    char *p = put("err/config", "clusters:\n"
                                "- {name: k, cluster: {server: 'https://k'}}\n"
                                "- {name: noserver, cluster: {insecure-skip-tls-verify: true}}\n"
                                "users:\n"
                                "- {name: bob, user: {}}\n"
                                "- {name: t, user: {token: x}}\n"
                                "- {name: half, user: {client-certificate: c.pem}}\n"
                                "- {name: oidc, user: {auth-provider: {name: oidc}}}\n"
                                "- {name: oldexec, user: {exec: {apiVersion: "
                                "client.authentication.k8s.io/v1alpha1, command: x}}}\n"
                                "contexts:\n"
                                "- {name: nobody, context: {cluster: k, user: bob}}\n"
                                "- {name: ghost, context: {cluster: gone, user: t}}\n"
                                "- {name: ns, context: {cluster: noserver, user: t}}\n"
                                "- {name: half, context: {cluster: k, user: half}}\n"
                                "- {name: oidc, context: {cluster: k, user: oidc}}\n"
                                "- {name: oldexec, context: {cluster: k, user: oldexec}}\n"
                                "- {name: nouser, context: {cluster: k}}\n");
    expect_error(p, NULL, "current-context is not set; choose a context");
    expect_error(p, "prod", "context \"prod\" not found");
    expect_error(p, "nobody", "user \"bob\" has no credentials");
    expect_error(p, "ghost", "context \"ghost\" refers to cluster \"gone\", which is not defined");
    expect_error(p, "ns", "cluster \"noserver\" has no server");
    expect_error(p, "half", "user \"half\" has a client certificate but no client key");
    expect_error(p, "oidc",
                 "user \"oidc\" uses auth-provider \"oidc\", which netcap does not "
                 "support; use an exec credential plugin");
    expect_error(p, "oldexec",
                 "user \"oldexec\" exec apiVersion "
                 "\"client.authentication.k8s.io/v1alpha1\" is not supported (use "
                 "client.authentication.k8s.io/v1 or v1beta1)");
    expect_error(p, "nouser", "context \"nouser\" names no user");

    char *y = put("err/yaml", "clusters: [\n  - {name: k\n");
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_kubeconfig_load(y, NULL, &kc, err), ==, -1);
    g_assert_true(g_str_has_prefix(err, "kubeconfig "));
    g_assert_nonnull(strstr(err, ": not valid YAML: "));

    char *s = put("err/scalar", "just a string\n");
    expect_error(s, NULL, "not a kubeconfig (the top level is not a mapping)");
    char *l = put("err/list", "clusters: {name: k}\ncurrent-context: c\n"
                              "contexts: [{name: c, context: {cluster: k, user: u}}]\n");
    expect_error(l, NULL, "clusters must be a list");

    const char *none = "/nonexistent/a:/nonexistent/b";
    g_assert_cmpint(ncap_kubeconfig_load(none, NULL, &kc, err), ==, -1);
    g_assert_cmpstr(err, ==,
                    "kubeconfig /nonexistent/a:/nonexistent/b: none of these files exists");

    /* An empty file is an empty config, as for kubectl. */
    char *e = put("err/empty", "");
    expect_error(e, "x", "context \"x\" not found");
    char **names, *current;
    size_t n;
    g_assert_cmpint(ncap_kubeconfig_contexts(e, &names, &n, &current, err), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    g_assert_null(current);
    ncap_strv_free(names, n);

    g_free(e);
    g_free(l);
    g_free(s);
    g_free(y);
    g_free(p);
}

static void test_exec_fields(void)
{
    char *p = put("execf/config", "current-context: c\n"
                                  "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                                  "contexts: [{name: c, context: {cluster: k, user: e}}]\n"
                                  "users:\n"
                                  "- name: e\n"
                                  "  user:\n"
                                  "    exec:\n"
                                  "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                  "      command: ./bin/plugin\n"
                                  "      args: [get-token, --cluster, \"prod\"]\n"
                                  "      env:\n"
                                  "      - name: AWS_PROFILE\n"
                                  "        value: dev\n"
                                  "      - {name: EMPTY, value: \"\"}\n"
                                  "      provideClusterInfo: true\n"
                                  "      interactiveMode: Never\n");
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_kubeconfig_load(p, NULL, &kc, err), ==, 0);
    struct ncap_kube_exec *x = kc.user.exec;
    g_assert_nonnull(x);
    g_assert_cmpstr(x->api_version, ==, "client.authentication.k8s.io/v1beta1");
    char *cmd = g_build_filename(tmp, "execf/./bin/plugin", NULL);
    g_assert_cmpstr(x->command, ==, cmd);
    g_free(cmd);
    g_assert_cmpuint(x->n_args, ==, 3);
    g_assert_cmpstr(x->args[0], ==, "get-token");
    g_assert_cmpstr(x->args[2], ==, "prod");
    g_assert_cmpuint(x->n_env, ==, 2);
    g_assert_cmpstr(x->env[0].key, ==, "AWS_PROFILE");
    g_assert_cmpstr(x->env[0].value, ==, "dev");
    g_assert_cmpstr(x->env[1].value, ==, "");
    g_assert_true(x->provide_cluster_info);
    ncap_kubeconfig_free(&kc);
    g_free(p);
}

/* A kubeconfig whose user runs `script` with provideClusterInfo. */
static void exec_config(const char *name, const char *script, struct ncap_kubeconfig *kc)
{
    char *text = g_strdup_printf("current-context: c\n"
                                 "clusters: [{name: k, cluster: {server: 'https://k.example:6443',"
                                 " certificate-authority-data: '%s'}}]\n"
                                 "contexts: [{name: c, context: {cluster: k, user: e}}]\n"
                                 "users:\n"
                                 "- name: e\n"
                                 "  user:\n"
                                 "    exec:\n"
                                 "      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: %s\n"
                                 "      args: [\"%s\", \"it's quoted\"]\n"
                                 "      env: [{name: PLUGIN_SECRET, value: from-env}]\n"
                                 "      provideClusterInfo: true\n",
                                 "Q0EtUEVN", script, tmp);
    char *p = put(name, text);
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(ncap_kubeconfig_load(p, NULL, kc, err), ==, 0);
    g_free(p);
    g_free(text);
}

static int runs(const char *file)
{
    char *text = NULL;
    if (!g_file_get_contents(file, &text, NULL, NULL))
        return 0;
    int n = (int)strlen(text);
    g_free(text);
    return n;
}

/* Prints a token valid for $1 seconds; appends one byte to $2/runs each run. */
static const char token_plugin[] =
    "#!/bin/sh\n"
    "printf x >> \"$1/runs\"\n"
    "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$1/info\"\n"
    "printf '%s' \"$2\" > \"$1/arg2\"\n"
    "exp=$(date -u -d \"@$(( $(date +%s) + $(cat \"$1/ttl\") ))\" +%Y-%m-%dT%H:%M:%SZ)\n"
    "cat <<JSON\n"
    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"tok-$PLUGIN_SECRET\",\"expirationTimestamp\":\"$exp\"}}\n"
    "JSON\n";

static void test_exec_token_and_cache(void)
{
    char *script = put_script("plugins/token.sh", token_plugin);
    char *runs_file = g_build_filename(tmp, "runs", NULL);
    char *ttl = put("ttl", "3600");
    char *cache = g_build_filename(tmp, "cache/netcap/exec", NULL);
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];

    exec_config("exec/config", script, &kc);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpstr(kc.user.token, ==, "tok-from-env");
    g_assert_cmpint(runs(runs_file), ==, 1);

    /* What the plugin saw: KUBERNETES_EXEC_INFO with the cluster, and its arguments intact. */
    char *info_path = g_build_filename(tmp, "info", NULL), *info = NULL;
    g_assert_true(g_file_get_contents(info_path, &info, NULL, NULL));
    g_assert_cmpstr(info, ==,
                    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
                    "\"ExecCredential\",\"spec\":{\"interactive\":false,\"cluster\":{\"server\":"
                    "\"https://k.example:6443\",\"certificate-authority-data\":\"Q0EtUEVN\"}}}");
    char *arg2_path = g_build_filename(tmp, "arg2", NULL), *arg2 = NULL;
    g_assert_true(g_file_get_contents(arg2_path, &arg2, NULL, NULL));
    g_assert_cmpstr(arg2, ==, "it's quoted");

    /* Cached: a second call (a new process would load the kubeconfig again) runs nothing. */
    ncap_kubeconfig_free(&kc);
    exec_config("exec/config", script, &kc);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpstr(kc.user.token, ==, "tok-from-env");
    g_assert_cmpint(runs(runs_file), ==, 1);

    GDir *d = g_dir_open(cache, 0, NULL);
    g_assert_nonnull(d);
    const char *entry = g_dir_read_name(d);
    g_assert_nonnull(entry);
    g_assert_true(g_str_has_suffix(entry, ".json"));
    g_assert_cmpuint(strlen(entry), ==, 64 + 5);
    char *cached = g_build_filename(cache, entry, NULL);
    GStatBuf st;
    g_assert_cmpint(g_stat(cached, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(g_stat(cache, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);
    g_assert_null(g_dir_read_name(d));
    g_dir_close(d);

    /* No cache dir: always run. */
    g_assert_cmpint(ncap_kube_exec_credential(&kc, NULL, err), ==, 0);
    g_assert_cmpint(runs(runs_file), ==, 2);

    /* A credential that expires within 10 s is not reused. */
    g_assert_true(g_file_set_contents(cached, "", 0, NULL));
    g_free(put("ttl", "5"));
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpint(runs(runs_file), ==, 3);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpint(runs(runs_file), ==, 4);
    ncap_kubeconfig_free(&kc);

    g_free(cached);
    g_free(arg2);
    g_free(arg2_path);
    g_free(info);
    g_free(info_path);
    g_free(cache);
    g_free(ttl);
    g_free(runs_file);
    g_free(script);
}

static void test_exec_client_cert_no_expiry(void)
{
    char *script = put_script(
        "plugins/cert.sh",
        "#!/bin/sh\n"
        "printf x >> \"$1/cert-runs\"\n"
        "cat <<'JSON'\n"
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\n"
        "\"status\":{\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nC\\n"
        "-----END CERTIFICATE-----\\n\",\"clientKeyData\":\"KEY\"}}\n"
        "JSON\n");
    char *runs_file = g_build_filename(tmp, "cert-runs", NULL);
    char *cache = g_build_filename(tmp, "cache2", NULL);
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    exec_config("exec/cert", script, &kc);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpstr(kc.user.cert_data, ==,
                    "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n");
    g_assert_cmpuint(kc.user.cert_data_len, ==, strlen(kc.user.cert_data));
    g_assert_cmpstr(kc.user.key_data, ==, "KEY");
    g_assert_null(kc.user.token);
    /* No expirationTimestamp: nothing is cached, the plugin runs each time. */
    g_assert_cmpint(ncap_kube_exec_credential(&kc, cache, err), ==, 0);
    g_assert_cmpint(runs(runs_file), ==, 2);
    g_assert_false(g_file_test(cache, G_FILE_TEST_EXISTS));
    ncap_kubeconfig_free(&kc);
    g_free(cache);
    g_free(runs_file);
    g_free(script);
}

static void expect_exec_error(const char *name, const char *body, const char *want)
{
    char *script = put_script(name, body);
    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE] = "";
    exec_config("exec/err", script, &kc);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, NULL, err), ==, -1);
    char *full = g_strdup_printf("exec plugin %s %s", script, want);
    g_assert_cmpstr(err, ==, full);
    g_assert_null(kc.user.token);
    g_free(full);
    ncap_kubeconfig_free(&kc);
    g_free(script);
}

static void test_exec_failures(void)
{
    expect_exec_error("plugins/fail.sh",
                      "#!/bin/sh\necho >&2\necho 'error: you must be logged in to the server' >&2\n"
                      "echo 'second line' >&2\nexit 3\n",
                      "failed (exit status 3): error: you must be logged in to the server");
    expect_exec_error("plugins/silent.sh", "#!/bin/sh\nexit 1\n", "failed (exit status 1)");
    expect_exec_error("plugins/junk.sh", "#!/bin/sh\necho hello\n",
                      "printed no valid ExecCredential JSON");
    expect_exec_error("plugins/old.sh",
                      "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                      "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
                      "answered apiVersion \"client.authentication.k8s.io/v1beta1\", expected "
                      "\"client.authentication.k8s.io/v1\"");
    expect_exec_error("plugins/empty.sh",
                      "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                      "\"kind\":\"ExecCredential\",\"status\":{}}'\n",
                      "returned neither a token nor a client certificate and key");
    expect_exec_error("plugins/badtime.sh",
                      "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                      "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
                      "\"expirationTimestamp\":\"tomorrow\"}}'\n",
                      "returned an expirationTimestamp that is not RFC 3339");
    expect_exec_error("plugins/big.sh", "#!/bin/sh\nhead -c 2000000 /dev/zero\n",
                      "printed more than 1 MiB");

    struct ncap_kubeconfig kc;
    char err[NCAP_ERRBUF_SIZE];
    exec_config("exec/missing", "netcap-no-such-plugin", &kc);
    g_assert_cmpint(ncap_kube_exec_credential(&kc, NULL, err), ==, -1);
    g_assert_cmpstr(err, ==, "exec plugin netcap-no-such-plugin was not found in PATH");
    ncap_kubeconfig_free(&kc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmp = g_dir_make_tmp("netcap-kubeconfig-XXXXXX", NULL);
    g_assert_nonnull(tmp);
    g_test_add_func("/kubeconfig/merge-first-wins", test_merge_first_wins);
    g_test_add_func("/kubeconfig/default-paths", test_default_paths);
    g_test_add_func("/kubeconfig/data-keys", test_data_keys);
    g_test_add_func("/kubeconfig/errors", test_errors);
    g_test_add_func("/kubeconfig/exec-fields", test_exec_fields);
    g_test_add_func("/kubeconfig/exec-token-and-cache", test_exec_token_and_cache);
    g_test_add_func("/kubeconfig/exec-client-cert", test_exec_client_cert_no_expiry);
    g_test_add_func("/kubeconfig/exec-failures", test_exec_failures);
    int rc = g_test_run();
    char *rm = g_strdup_printf("rm -rf '%s'", tmp);
    if (system(rm) != 0)
        rc = rc ? rc : 1;
    g_free(rm);
    g_free(tmp);
    return rc;
}
