/*
 * kubeconfig.c - kubeconfig files read the way kubectl reads them (see kubeconfig.h), and exec
 * credential plugins run the way client-go runs them.
 *
 * Every file of the path list is loaded whole into a libyaml document; nothing is merged up
 * front. A lookup walks the files in order and takes the first that defines the name, which is
 * kubectl's rule (first file wins per cluster, user and context, and for current-context), and
 * remembers that file so relative paths resolve against its directory and sentences name it.
 *
 * Exec plugins (users[].user.exec) get KUBERNETES_EXEC_INFO, no stdin, and must print one
 * ExecCredential on stdout. An answer with status.expirationTimestamp is cached in a private
 * file named by a SHA-256 of what identifies the plugin call, and reused until 10 s before it
 * expires. Plugins start with posix_spawnp on POSIX and CreateProcess on Windows.
 */
#include "kubeconfig.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "sha256.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <direct.h>
#include <windows.h>
#define LIST_SEP ';'
#else
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#define LIST_SEP ':'
extern char **environ;
#endif

#define FILE_MAX (16u << 20)      /* a kubeconfig or CA file larger than this is not one */
#define PLUGIN_OUT_MAX (1u << 20) /* ExecCredential on stdout */
#define PLUGIN_ERR_KEEP 4096      /* of stderr, for the first line in a sentence */
#define PLUGIN_TIMEOUT_MS 120000  /* a non-interactive plugin that hangs this long never ends */
#define CACHE_MARGIN_S 10         /* renew a cached credential this long before it expires */

/* ---- small helpers ---------------------------------------------------------------------- */

static bool is_sep(char c)
{
#ifdef _WIN32
    return c == '/' || c == '\\';
#else
    return c == '/';
#endif
}

static bool is_absolute(const char *p)
{
#ifdef _WIN32
    return is_sep(p[0]) || (isalpha((unsigned char)p[0]) && p[1] == ':');
#else
    return p[0] == '/';
#endif
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = malloc(dl + 1 + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    size_t o = dl;
    if (o == 0 || !is_sep(p[o - 1]))
        p[o++] = '/';
    memcpy(p + o, name, nl + 1);
    return p;
}

/* Read a whole file; NUL-terminated, *len without the NUL. NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            if (cap >= FILE_MAX) {
                free(b);
                b = NULL;
                errno = EFBIG;
                break;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(b);
                b = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = n;
    }
    return b;
}

/* ---- base64 (RFC 4648, standard alphabet; whitespace ignored as Go's decoder does) ---------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decoded bytes, NUL-terminated (PEM is text); NULL if s is not base64 or memory ran out. */
static char *b64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    size_t bits = 0, o = 0, pad = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(out);
            return NULL;
        }
        digits++;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* A lone sixth digit cannot carry a byte; padding, when present, completes a quad. */
    if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4 != 0)) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static char *b64_encode(const char *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* ---- the set of files ------------------------------------------------------------------- */

struct kfile {
    char *path; /* absolute */
    char *dir;
    yaml_document_t doc;
    bool has_doc;
};

struct kset {
    struct kfile *f;
    size_t n;
    char *label; /* names the files in sentences that are about no single one */
};

static void kset_free(struct kset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->f[i].path);
        free(s->f[i].dir);
        if (s->f[i].has_doc)
            yaml_document_delete(&s->f[i].doc);
    }
    free(s->f);
    free(s->label);
    memset(s, 0, sizeof(*s));
}

static char *home_dir(void)
{
#ifdef _WIN32
    const char *h = getenv("USERPROFILE");
    if (!h || !*h)
        h = getenv("HOME");
#else
    const char *h = getenv("HOME");
#endif
    return h && *h ? ncap_strdup(h) : NULL;
}

static char *absolute(const char *path)
{
    if (is_absolute(path))
        return ncap_strdup(path);
    if (path[0] == '~' && is_sep(path[1])) {
        char *home = home_dir();
        char *p = home ? join_path(home, path + 2) : ncap_strdup(path);
        free(home);
        return p;
    }
    char cwd[4096];
#ifdef _WIN32
    if (!_getcwd(cwd, sizeof(cwd)))
#else
    if (!getcwd(cwd, sizeof(cwd)))
#endif
        return ncap_strdup(path);
    return join_path(cwd, path);
}

static char *dir_of(const char *path)
{
    size_t n = strlen(path);
    while (n > 0 && !is_sep(path[n - 1]))
        n--;
    if (n > 1)
        n--; /* drop the separator, except for the root */
    return n ? ncap_strndup(path, n) : ncap_strdup(".");
}

/* 1 loaded, 0 does not exist, -1 with err. */
static int kfile_load(struct kfile *f, const char *path, char *err)
{
    memset(f, 0, sizeof(*f));
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        if (errno == ENOENT)
            return 0;
        return ncap_fail(err, "kubeconfig %s: %s", path, strerror(errno));
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(text);
        return ncap_fail(err, "kubeconfig %s: out of memory", path);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&p, &f->doc);
    if (!ok) {
        ncap_fail(err, "kubeconfig %s: not valid YAML: %s at line %lu column %lu", path,
                  p.problem ? p.problem : "syntax error", (unsigned long)p.problem_mark.line + 1,
                  (unsigned long)p.problem_mark.column + 1);
    }
    yaml_parser_delete(&p);
    free(text);
    if (!ok)
        return -1;
    f->has_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root && root->type != YAML_MAPPING_NODE &&
        !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        yaml_document_delete(&f->doc);
        f->has_doc = false;
        return ncap_fail(err, "kubeconfig %s: not a kubeconfig (the top level is not a mapping)",
                         path);
    }
    f->path = ncap_strdup(path);
    f->dir = dir_of(path);
    if (!f->path || !f->dir) {
        free(f->path);
        free(f->dir);
        yaml_document_delete(&f->doc);
        f->has_doc = false;
        return ncap_fail(err, "kubeconfig %s: out of memory", path);
    }
    return 1;
}

/* Load every existing file of the list (NULL/"" = $KUBECONFIG, else ~/.kube/config). */
static int kset_open(struct kset *s, const char *paths, char *err)
{
    memset(s, 0, sizeof(*s));
    char *list = NULL;
    if (paths && *paths) {
        list = ncap_strdup(paths);
    } else if (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) {
        list = ncap_strdup(getenv("KUBECONFIG"));
    } else {
        char *home = home_dir();
        if (!home)
#ifdef _WIN32
            return ncap_fail(err, "cannot find a kubeconfig: neither KUBECONFIG nor USERPROFILE "
                                  "is set");
#else
            return ncap_fail(err, "cannot find a kubeconfig: neither KUBECONFIG nor HOME is set");
#endif
        list = join_path(home, ".kube/config");
        free(home);
    }
    if (!list)
        return ncap_fail(err, "kubeconfig: out of memory");
    s->label = ncap_strdup(list);

    size_t n_entries = 1;
    for (const char *c = list; *c; c++)
        n_entries += *c == LIST_SEP;
    s->f = calloc(n_entries, sizeof(*s->f));
    if (!s->f || !s->label) {
        free(list);
        kset_free(s);
        return ncap_fail(err, "kubeconfig: out of memory");
    }
    char *save = list;
    for (char *e = list; e; e = save) {
        char *sep = strchr(e, LIST_SEP);
        save = sep ? sep + 1 : NULL;
        if (sep)
            *sep = '\0';
        if (!*e)
            continue;
        char *abs = absolute(e);
        if (!abs) {
            free(list);
            kset_free(s);
            return ncap_fail(err, "kubeconfig: out of memory");
        }
        bool seen = false;
        for (size_t i = 0; i < s->n; i++)
            seen = seen || strcmp(s->f[i].path, abs) == 0;
        int rc = seen ? 0 : kfile_load(&s->f[s->n], abs, err);
        free(abs);
        if (rc < 0) {
            free(list);
            kset_free(s);
            return -1;
        }
        s->n += rc == 1;
    }
    free(list);
    if (s->n == 0) {
        int rc = strchr(s->label, LIST_SEP)
                     ? ncap_fail(err, "kubeconfig %s: none of these files exists", s->label)
                     : ncap_fail(err, "kubeconfig %s: %s", s->label, strerror(ENOENT));
        kset_free(s);
        return rc;
    }
    return 0;
}

/* ---- YAML navigation -------------------------------------------------------------------- */

static yaml_node_t *root_of(struct kfile *f)
{
    yaml_node_t *r = yaml_document_get_root_node(&f->doc);
    return r && r->type == YAML_MAPPING_NODE ? r : NULL;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

static yaml_node_t *map_get(struct kfile *f, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
        if (scalar_is(yaml_document_get_node(&f->doc, p->key), key))
            return yaml_document_get_node(&f->doc, p->value);
    return NULL;
}

/* YAML's null: absent, empty, or a plain ~ / null. */
static bool is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->data.scalar.length == 0)
        return true;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return scalar_is(n, "~") || scalar_is(n, "null") || scalar_is(n, "Null") ||
           scalar_is(n, "NULL");
}

/* Where a value sits, for sentences: `kubeconfig FILE: WHAT KEY ...`. */
struct where {
    struct kfile *f;
    const char *what; /* e.g. `cluster "prod"` */
};

/* *out = the string at key (NULL when absent or null). 0, or -1 with err. */
static int get_str(struct where w, yaml_node_t *m, const char *key, char **out, char *err)
{
    *out = NULL;
    yaml_node_t *n = map_get(w.f, m, key);
    if (is_null(n))
        return 0;
    if (n->type != YAML_SCALAR_NODE)
        return ncap_fail(err, "kubeconfig %s: %s %s must be a string", w.f->path, w.what, key);
    *out = ncap_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
    if (!*out)
        return ncap_fail(err, "kubeconfig %s: out of memory", w.f->path);
    return 0;
}

static int get_bool(struct where w, yaml_node_t *m, const char *key, bool *out, char *err)
{
    *out = false;
    yaml_node_t *n = map_get(w.f, m, key);
    if (is_null(n))
        return 0;
    static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
        if (scalar_is(n, yes[i])) {
            *out = true;
            return 0;
        }
        if (scalar_is(n, no[i]))
            return 0;
    }
    return ncap_fail(err, "kubeconfig %s: %s %s must be true or false", w.f->path, w.what, key);
}

/* A file path from the file at w: relative paths are relative to that file's directory. */
static int get_path(struct where w, yaml_node_t *m, const char *key, char **out, char *err)
{
    if (get_str(w, m, key, out, err) < 0)
        return -1;
    if (*out && !is_absolute(*out)) {
        char *p = join_path(w.f->dir, *out);
        free(*out);
        *out = p;
        if (!p)
            return ncap_fail(err, "kubeconfig %s: out of memory", w.f->path);
    }
    return 0;
}

static int get_b64(struct where w, yaml_node_t *m, const char *key, char **out, size_t *len,
                   char *err)
{
    char *text;
    *len = 0;
    if (get_str(w, m, key, &text, err) < 0)
        return -1;
    *out = NULL;
    if (!text)
        return 0;
    *out = b64_decode(text, len);
    free(text);
    if (!*out)
        return ncap_fail(err, "kubeconfig %s: %s %s is not valid base64", w.f->path, w.what, key);
    return 0;
}

/*
 * The first entry called name in the top-level list (clusters, users, contexts) over all
 * files. *item = its mapping (NULL when no file defines it), *in = its file. 0, or -1 with err.
 */
static int find_named(struct kset *s, const char *list, const char *name, yaml_node_t **item,
                      struct kfile **in, char *err)
{
    *item = NULL;
    for (size_t i = 0; i < s->n; i++) {
        struct kfile *f = &s->f[i];
        yaml_node_t *seq = map_get(f, root_of(f), list);
        if (is_null(seq))
            continue;
        if (seq->type != YAML_SEQUENCE_NODE)
            return ncap_fail(err, "kubeconfig %s: %s must be a list", f->path, list);
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
            if (e && scalar_is(map_get(f, e, "name"), name)) {
                *item = e;
                *in = f;
                return 0;
            }
        }
    }
    return 0;
}

static int current_context(struct kset *s, char **out, char *err)
{
    *out = NULL;
    for (size_t i = 0; i < s->n && !*out; i++) {
        struct where w = {&s->f[i], "top level"};
        if (get_str(w, root_of(&s->f[i]), "current-context", out, err) < 0)
            return -1;
        if (*out && !**out) {
            free(*out);
            *out = NULL;
        }
    }
    return 0;
}

/* ---- clusters and users ----------------------------------------------------------------- */

static int parse_cluster(struct kfile *f, yaml_node_t *item, const char *name,
                         struct ncap_kube_cluster *c, char *err)
{
    char what[300];
    snprintf(what, sizeof(what), "cluster \"%s\"", name);
    struct where w = {f, what};
    yaml_node_t *m = map_get(f, item, "cluster");
    if (is_null(m) || m->type != YAML_MAPPING_NODE)
        return ncap_fail(err, "kubeconfig %s: %s has no cluster section", f->path, what);
    if (get_str(w, m, "server", &c->server, err) < 0 ||
        get_path(w, m, "certificate-authority", &c->ca_file, err) < 0 ||
        get_b64(w, m, "certificate-authority-data", &c->ca_data, &c->ca_data_len, err) < 0 ||
        get_bool(w, m, "insecure-skip-tls-verify", &c->insecure, err) < 0 ||
        get_str(w, m, "tls-server-name", &c->tls_server_name, err) < 0)
        return -1;
    if (!c->server || !*c->server)
        return ncap_fail(err, "kubeconfig %s: %s has no server", f->path, what);
    /* A trailing slash would double the one every API path starts with. */
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    return 0;
}

static int parse_exec(struct where w, yaml_node_t *m, struct ncap_kube_exec *x, char *err)
{
    const char *path = w.f->path;
    if (get_str(w, m, "apiVersion", &x->api_version, err) < 0 ||
        get_str(w, m, "command", &x->command, err) < 0 ||
        get_bool(w, m, "provideClusterInfo", &x->provide_cluster_info, err) < 0)
        return -1;
    if (!x->command || !*x->command)
        return ncap_fail(err, "kubeconfig %s: %s exec has no command", path, w.what);
    if (!x->api_version || (strcmp(x->api_version, "client.authentication.k8s.io/v1") != 0 &&
                            strcmp(x->api_version, "client.authentication.k8s.io/v1beta1") != 0))
        return ncap_fail(err,
                         "kubeconfig %s: %s exec apiVersion \"%s\" is not supported (use "
                         "client.authentication.k8s.io/v1 or v1beta1)",
                         path, w.what, x->api_version ? x->api_version : "");
    /* As client-go: a command with a directory part is relative to the kubeconfig's directory,
     * a bare name is looked up in PATH. */
    bool has_dir = false;
    for (const char *c = x->command; *c; c++)
        has_dir = has_dir || is_sep(*c);
    if (has_dir && !is_absolute(x->command)) {
        char *p = join_path(w.f->dir, x->command);
        if (!p)
            return ncap_fail(err, "kubeconfig %s: out of memory", path);
        free(x->command);
        x->command = p;
    }

    yaml_node_t *args = map_get(w.f, m, "args");
    if (!is_null(args)) {
        if (args->type != YAML_SEQUENCE_NODE)
            return ncap_fail(err, "kubeconfig %s: %s exec args must be a list", path, w.what);
        size_t n = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
        x->args = calloc(n ? n : 1, sizeof(*x->args));
        if (!x->args)
            return ncap_fail(err, "kubeconfig %s: out of memory", path);
        for (yaml_node_item_t *it = args->data.sequence.items.start;
             it < args->data.sequence.items.top; it++) {
            yaml_node_t *a = yaml_document_get_node(&w.f->doc, *it);
            if (!a || a->type != YAML_SCALAR_NODE)
                return ncap_fail(err, "kubeconfig %s: %s exec args must be strings", path, w.what);
            x->args[x->n_args] = ncap_strndup((const char *)a->data.scalar.value, a->data.scalar.length);
            if (!x->args[x->n_args++])
                return ncap_fail(err, "kubeconfig %s: out of memory", path);
        }
    }

    yaml_node_t *env = map_get(w.f, m, "env");
    if (!is_null(env)) {
        if (env->type != YAML_SEQUENCE_NODE)
            return ncap_fail(err, "kubeconfig %s: %s exec env must be a list", path, w.what);
        size_t n = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
        x->env = calloc(n ? n : 1, sizeof(*x->env));
        if (!x->env)
            return ncap_fail(err, "kubeconfig %s: out of memory", path);
        for (yaml_node_item_t *it = env->data.sequence.items.start;
             it < env->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&w.f->doc, *it);
            struct ncap_kv *kv = &x->env[x->n_env++];
            if (!e || e->type != YAML_MAPPING_NODE || get_str(w, e, "name", &kv->key, err) < 0 ||
                get_str(w, e, "value", &kv->value, err) < 0)
                return ncap_fail(err,
                                 "kubeconfig %s: %s exec env entries must be {name, value} pairs",
                                 path, w.what);
            if (!kv->key || !*kv->key || strchr(kv->key, '='))
                return ncap_fail(err, "kubeconfig %s: %s exec env entry has no valid name", path,
                                 w.what);
            if (!kv->value && !(kv->value = ncap_strdup("")))
                return ncap_fail(err, "kubeconfig %s: out of memory", path);
        }
    }
    return 0;
}

static int parse_user(struct kfile *f, yaml_node_t *item, const char *name,
                      struct ncap_kube_user *u, char *err)
{
    char what[300];
    snprintf(what, sizeof(what), "user \"%s\"", name);
    struct where w = {f, what};
    yaml_node_t *m = map_get(f, item, "user");
    if (!is_null(m) && m->type != YAML_MAPPING_NODE)
        return ncap_fail(err, "kubeconfig %s: %s must be a mapping", f->path, what);
    if (get_str(w, m, "token", &u->token, err) < 0 ||
        get_path(w, m, "tokenFile", &u->token_file, err) < 0 ||
        get_path(w, m, "client-certificate", &u->cert_file, err) < 0 ||
        get_b64(w, m, "client-certificate-data", &u->cert_data, &u->cert_data_len, err) < 0 ||
        get_path(w, m, "client-key", &u->key_file, err) < 0 ||
        get_b64(w, m, "client-key-data", &u->key_data, &u->key_data_len, err) < 0)
        return -1;
    if (u->token && !*u->token) {
        free(u->token);
        u->token = NULL;
    }

    yaml_node_t *exec = map_get(f, m, "exec");
    if (!is_null(exec)) {
        if (exec->type != YAML_MAPPING_NODE)
            return ncap_fail(err, "kubeconfig %s: %s exec must be a mapping", f->path, what);
        u->exec = calloc(1, sizeof(*u->exec));
        if (!u->exec)
            return ncap_fail(err, "kubeconfig %s: out of memory", f->path);
        if (parse_exec(w, exec, u->exec, err) < 0)
            return -1;
    }

    bool cert = u->cert_file || u->cert_data, key = u->key_file || u->key_data;
    if (cert != key)
        return ncap_fail(err, "kubeconfig %s: %s has a client %s but no client %s", f->path, what,
                         cert ? "certificate" : "key", cert ? "key" : "certificate");
    if (u->token || u->token_file || cert || u->exec)
        return 0;
    yaml_node_t *ap = map_get(f, m, "auth-provider");
    if (!is_null(ap)) {
        yaml_node_t *apn = map_get(f, ap, "name");
        return ncap_fail(
            err,
            "kubeconfig %s: %s uses auth-provider \"%.*s\", which netcap does not "
            "support; use an exec credential plugin",
            f->path, what, apn && apn->type == YAML_SCALAR_NODE ? (int)apn->data.scalar.length : 0,
            apn && apn->type == YAML_SCALAR_NODE ? (char *)apn->data.scalar.value : "");
    }
    if (!is_null(map_get(f, m, "username")))
        return ncap_fail(err,
                         "kubeconfig %s: %s uses a username and password, which Kubernetes no "
                         "longer accepts",
                         f->path, what);
    return ncap_fail(err, "kubeconfig %s: %s has no credentials", f->path, what);
}

/* ---- public: loading -------------------------------------------------------------------- */

static void exec_free(struct ncap_kube_exec *x)
{
    if (!x)
        return;
    free(x->api_version);
    free(x->command);
    ncap_strv_free(x->args, x->n_args);
    for (size_t i = 0; i < x->n_env; i++) {
        free(x->env[i].key);
        free(x->env[i].value);
    }
    free(x->env);
    free(x);
}

void ncap_kubeconfig_free(struct ncap_kubeconfig *kc)
{
    if (!kc)
        return;
    free(kc->context);
    free(kc->namespace_);
    free(kc->cluster.server);
    free(kc->cluster.ca_file);
    free(kc->cluster.ca_data);
    free(kc->cluster.tls_server_name);
    free(kc->user.token);
    free(kc->user.token_file);
    free(kc->user.cert_file);
    free(kc->user.cert_data);
    free(kc->user.key_file);
    free(kc->user.key_data);
    exec_free(kc->user.exec);
    memset(kc, 0, sizeof(*kc));
}

void ncap_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int resolve(struct kset *s, const char *context, struct ncap_kubeconfig *out, char *err)
{
    if (context && *context) {
        out->context = ncap_strdup(context);
    } else {
        if (current_context(s, &out->context, err) < 0)
            return -1;
        if (!out->context)
            return ncap_fail(err, "kubeconfig %s: current-context is not set; choose a context",
                             s->label);
    }
    if (!out->context)
        return ncap_fail(err, "kubeconfig: out of memory");

    yaml_node_t *item;
    struct kfile *f;
    if (find_named(s, "contexts", out->context, &item, &f, err) < 0)
        return -1;
    if (!item)
        return ncap_fail(err, "kubeconfig %s: context \"%s\" not found", s->label, out->context);
    char what[300];
    snprintf(what, sizeof(what), "context \"%s\"", out->context);
    struct where w = {f, what};
    yaml_node_t *m = map_get(f, item, "context");
    char *cluster = NULL, *user = NULL;
    int rc = -1;
    if (get_str(w, m, "cluster", &cluster, err) < 0 || get_str(w, m, "user", &user, err) < 0 ||
        get_str(w, m, "namespace", &out->namespace_, err) < 0)
        goto done;
    if (out->namespace_ && !*out->namespace_) {
        free(out->namespace_);
        out->namespace_ = NULL;
    }
    if (!cluster || !*cluster) {
        ncap_fail(err, "kubeconfig %s: %s names no cluster", f->path, what);
        goto done;
    }
    if (!user || !*user) {
        ncap_fail(err, "kubeconfig %s: %s names no user", f->path, what);
        goto done;
    }

    if (find_named(s, "clusters", cluster, &item, &f, err) < 0)
        goto done;
    if (!item) {
        ncap_fail(err, "kubeconfig %s: %s refers to cluster \"%s\", which is not defined", s->label,
                  what, cluster);
        goto done;
    }
    if (parse_cluster(f, item, cluster, &out->cluster, err) < 0)
        goto done;

    if (find_named(s, "users", user, &item, &f, err) < 0)
        goto done;
    if (!item) {
        ncap_fail(err, "kubeconfig %s: %s refers to user \"%s\", which is not defined", s->label,
                  what, user);
        goto done;
    }
    rc = parse_user(f, item, user, &out->user, err);
done:
    free(cluster);
    free(user);
    return rc;
}

int ncap_kubeconfig_load(const char *paths, const char *context, struct ncap_kubeconfig *out,
                         char *err)
{
    memset(out, 0, sizeof(*out));
    struct kset s;
    if (kset_open(&s, paths, err) < 0)
        return -1;
    int rc = resolve(&s, context, out, err);
    kset_free(&s);
    if (rc < 0)
        ncap_kubeconfig_free(out);
    return rc;
}

int ncap_kubeconfig_contexts(const char *paths, char ***names, size_t *n, char **current, char *err)
{
    *names = NULL;
    *n = 0;
    *current = NULL;
    struct kset s;
    if (kset_open(&s, paths, err) < 0)
        return -1;
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc = current_context(&s, current, err);
    for (size_t i = 0; i < s.n && rc == 0; i++) {
        struct kfile *f = &s.f[i];
        yaml_node_t *seq = map_get(f, root_of(f), "contexts");
        if (is_null(seq))
            continue;
        if (seq->type != YAML_SEQUENCE_NODE) {
            rc = ncap_fail(err, "kubeconfig %s: contexts must be a list", f->path);
            break;
        }
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top && rc == 0; it++) {
            yaml_node_t *nm = map_get(f, yaml_document_get_node(&f->doc, *it), "name");
            if (!nm || nm->type != YAML_SCALAR_NODE || nm->data.scalar.length == 0)
                continue;
            char *name = ncap_strndup((const char *)nm->data.scalar.value, nm->data.scalar.length);
            bool dup = false;
            for (size_t j = 0; name && j < count && !dup; j++)
                dup = strcmp(v[j], name) == 0;
            if (dup) {
                free(name);
                continue;
            }
            if (name && count == cap) {
                cap = cap ? cap * 2 : 8;
                char **nv = realloc(v, cap * sizeof(*v));
                if (nv)
                    v = nv;
                else {
                    free(name);
                    name = NULL;
                }
            }
            if (!name)
                rc = ncap_fail(err, "kubeconfig: out of memory");
            else
                v[count++] = name;
        }
    }
    kset_free(&s);
    if (rc < 0) {
        ncap_strv_free(v, count);
        free(*current);
        *current = NULL;
        return -1;
    }
    *names = v;
    *n = count;
    return 0;
}

/* ---- exec credential plugins ------------------------------------------------------------ */

/* RFC 3339 (2024-05-01T12:00:00Z, fractions and offsets allowed) to seconds since 1970. */
static int parse_rfc3339(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
            return -1;
        off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    /* Days from civil (Howard Hinnant's algorithm): portable, no timegm(). */
    long yy = y - (mo <= 2);
    long era = (yy >= 0 ? yy : yy - 399) / 400;
    long yoe = yy - era * 400;
    long doy = (153L * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097LL + doe - 719468;
    *out = (time_t)(days * 86400 + h * 3600L + mi * 60L + sec - off);
    return 0;
}

static const char *cred_str(const cJSON *status, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(status, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/*
 * Check an ExecCredential and, when apply is set, put its credentials into kc.
 * *expiry = its expirationTimestamp, 0 when it has none. 0, or -1 with err.
 */
static int take_credential(struct ncap_kubeconfig *kc, const cJSON *cred, time_t *expiry,
                           bool apply, char *err)
{
    const struct ncap_kube_exec *x = kc->user.exec;
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(cred, "apiVersion");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(cred, "kind");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(cred, "status");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0)
        return ncap_fail(err, "exec plugin %s printed JSON that is not an ExecCredential",
                         x->command);
    if (!cJSON_IsString(av) || strcmp(av->valuestring, x->api_version) != 0)
        return ncap_fail(err, "exec plugin %s answered apiVersion \"%s\", expected \"%s\"",
                         x->command, cJSON_IsString(av) ? av->valuestring : "", x->api_version);
    if (!cJSON_IsObject(status))
        return ncap_fail(err, "exec plugin %s returned an ExecCredential without status",
                         x->command);
    const char *token = cred_str(status, "token");
    const char *cert = cred_str(status, "clientCertificateData");
    const char *key = cred_str(status, "clientKeyData");
    if (!token && !(cert && key))
        return ncap_fail(err,
                         "exec plugin %s returned neither a token nor a client certificate and "
                         "key",
                         x->command);
    *expiry = 0;
    const char *exp = cred_str(status, "expirationTimestamp");
    if (exp && parse_rfc3339(exp, expiry) < 0)
        return ncap_fail(err, "exec plugin %s returned an expirationTimestamp that is not RFC 3339",
                         x->command);
    if (!apply)
        return 0;
    char *nt = token ? ncap_strdup(token) : NULL;
    char *nc = cert && key ? ncap_strdup(cert) : NULL;
    char *nk = cert && key ? ncap_strdup(key) : NULL;
    if ((token && !nt) || (cert && key && (!nc || !nk))) {
        free(nt);
        free(nc);
        free(nk);
        return ncap_fail(err, "exec plugin %s: out of memory", x->command);
    }
    if (nt) {
        free(kc->user.token);
        kc->user.token = nt;
    }
    if (nc) {
        free(kc->user.cert_data);
        free(kc->user.key_data);
        kc->user.cert_data = nc;
        kc->user.cert_data_len = strlen(nc);
        kc->user.key_data = nk;
        kc->user.key_data_len = strlen(nk);
    }
    return 0;
}

/* KUBERNETES_EXEC_INFO: the ExecCredential input, with the cluster when the plugin asks. */
static char *exec_info(const struct ncap_kubeconfig *kc)
{
    const struct ncap_kube_exec *x = kc->user.exec;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "apiVersion", x->api_version);
    cJSON_AddStringToObject(root, "kind", "ExecCredential");
    cJSON *spec = cJSON_AddObjectToObject(root, "spec");
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (x->provide_cluster_info) {
        const struct ncap_kube_cluster *c = &kc->cluster;
        cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");
        cJSON_AddStringToObject(cl, "server", c->server ? c->server : "");
        if (c->tls_server_name)
            cJSON_AddStringToObject(cl, "tls-server-name", c->tls_server_name);
        if (c->insecure)
            cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
        size_t len = c->ca_data_len;
        char *ca = c->ca_data ? NULL : c->ca_file ? read_file(c->ca_file, &len) : NULL;
        const char *pem = c->ca_data ? c->ca_data : ca;
        char *b64 = pem ? b64_encode(pem, len) : NULL;
        if (b64)
            cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
        free(b64);
        free(ca);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* The cache file: cache_dir/<sha256 of apiVersion, command, args, env and server>.json. */
static char *cache_path(const struct ncap_kubeconfig *kc, const char *cache_dir)
{
    const struct ncap_kube_exec *x = kc->user.exec;
    const char *parts_fixed[] = {x->api_version, x->command, kc->cluster.server};
    size_t len = 0;
    for (size_t i = 0; i < 3; i++)
        len += (parts_fixed[i] ? strlen(parts_fixed[i]) : 0) + 1;
    for (size_t i = 0; i < x->n_args; i++)
        len += strlen(x->args[i]) + 1;
    for (size_t i = 0; i < x->n_env; i++)
        len += strlen(x->env[i].key) + strlen(x->env[i].value) + 2;
    char *buf = malloc(len + 3);
    if (!buf)
        return NULL;
    /* NUL-separated fields with a marker byte between groups: no two calls collide. */
    size_t o = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t l_ = (s) ? strlen(s) : 0;                                                           \
        memcpy(buf + o, (s) ? (s) : "", l_);                                                       \
        o += l_;                                                                                   \
        buf[o++] = '\0';                                                                           \
    } while (0)
    PUT(x->api_version);
    PUT(x->command);
    PUT(kc->cluster.server);
    buf[o++] = '\1';
    for (size_t i = 0; i < x->n_args; i++)
        PUT(x->args[i]);
    buf[o++] = '\1';
    for (size_t i = 0; i < x->n_env; i++) {
        PUT(x->env[i].key);
        PUT(x->env[i].value);
    }
    buf[o++] = '\1';
#undef PUT
    char hex[72];
    ncap_sha256_tagged_hex(buf, o, hex);
    free(buf);
    char name[80];
    snprintf(name, sizeof(name), "%s.json", hex + 7);
    return join_path(cache_dir, name);
}

/* mkdir -p, new directories private to the user. */
static void make_private_dirs(const char *dir)
{
    char *p = ncap_strdup(dir);
    if (!p)
        return;
    for (char *c = p + 1;; c++) {
        if (*c && !is_sep(*c))
            continue;
        char keep = *c;
        *c = '\0';
#ifdef _WIN32
        _mkdir(p);
#else
        mkdir(p, 0700);
#endif
        *c = keep;
        if (!keep)
            break;
    }
    free(p);
}

/* Replace path with data, readable by the user only; best effort (a cache is optional). */
static void write_private_file(const char *path, const char *data, size_t len)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp)
        return;
#ifdef _WIN32
    snprintf(tmp, pl + 32, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = false;
    remove(path);
#else
    snprintf(tmp, pl + 32, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC, 0600);
    bool ok = fd >= 0;
    for (size_t o = 0; ok && o < len;) {
        ssize_t w = write(fd, data + o, len - o);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        o += ok ? (size_t)w : 0;
    }
    if (fd >= 0 && close(fd) != 0)
        ok = false;
#endif
    if (!ok || rename(tmp, path) != 0)
        remove(tmp);
    free(tmp);
}

/* Captured output of one plugin run. */
struct plugin_run {
    char *out;
    size_t out_len;
    char err_head[PLUGIN_ERR_KEEP + 1];
    size_t err_len;
};

/* The first non-empty line of the plugin's stderr, or "" (the sentence leaves it out). */
static const char *first_line(struct plugin_run *r, char *buf, size_t size)
{
    r->err_head[r->err_len] = '\0';
    const char *p = r->err_head;
    while (*p == '\n' || *p == '\r' || *p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

#ifdef _WIN32

/*
 * Windows: CreateProcess, the way Go's os/exec (and so kubectl) starts a plugin: the command is
 * looked up as SearchPath does (the program's folder, the current folder, the system folders,
 * then PATH; ".exe" added when the name has no extension), its arguments are quoted for the C
 * runtime's parser, stdin is NUL and stdout/stderr are pipes. Only those three handles are
 * inherited (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), the counterpart of O_CLOEXEC: the plugin
 * never holds one of the extcap's sockets or the Wireshark pipe. Anonymous pipes cannot be
 * waited on together, so both are polled with PeekNamedPipe every few milliseconds; a plugin
 * runs for seconds at most, once per credential.
 */

#define PLUGIN_POLL_MS 10

/* Bytes needed to quote s (see append_quoted), without the separating space. */
static size_t quoted_size(const char *s)
{
    return 2 * strlen(s) + 2;
}

/* Append s as one argument that CommandLineToArgvW and the C runtime read back unchanged:
 * inside quotes, backslashes are literal except in front of a quote (then doubled, and the
 * quote escaped) or of the closing quote (doubled). */
static char *append_quoted(char *o, const char *s)
{
    if (*s && !strpbrk(s, " \t\n\v\"")) {
        size_t n = strlen(s);
        memcpy(o, s, n);
        return o + n;
    }
    *o++ = '"';
    for (const char *p = s;; p++) {
        size_t bs = 0;
        while (*p == '\\') {
            p++;
            bs++;
        }
        if (*p == '\0' || *p == '"') {
            for (size_t i = 0; i < 2 * bs; i++)
                *o++ = '\\';
            if (*p == '\0')
                break;
            *o++ = '\\';
            *o++ = '"';
        } else {
            for (size_t i = 0; i < bs; i++)
                *o++ = '\\';
            *o++ = *p;
        }
    }
    *o++ = '"';
    return o;
}

/* The plugin's command line: its command (as written in the kubeconfig) and args. */
static char *plugin_cmdline(const struct ncap_kube_exec *x)
{
    size_t len = quoted_size(x->command) + 1;
    for (size_t i = 0; i < x->n_args; i++)
        len += quoted_size(x->args[i]) + 1;
    char *line = malloc(len);
    if (!line)
        return NULL;
    char *o = append_quoted(line, x->command);
    for (size_t i = 0; i < x->n_args; i++) {
        *o++ = ' ';
        o = append_quoted(o, x->args[i]);
    }
    *o = '\0';
    return line;
}

/* Whether environment entry e ("NAME=value") sets name; Windows names ignore case. An entry
 * may start with '=' (the hidden per-drive folders, "=C:=C:\..."), which is part of its name. */
static bool env_sets(const char *e, const char *name)
{
    size_t kl = strcspn(e + 1, "=") + 1;
    return strlen(name) == kl && _strnicmp(e, name, kl) == 0;
}

/* The environment block for CreateProcessA: ours, minus what the plugin's env overrides, plus
 * that env and KUBERNETES_EXEC_INFO; "NAME=value\0" entries ending in an empty one. */
static char *plugin_env_block(const struct ncap_kube_exec *x, const char *info)
{
    char *ours = GetEnvironmentStringsA();
    if (!ours)
        return NULL;
    size_t len = 1;
    for (const char *e = ours; *e; e += strlen(e) + 1)
        len += strlen(e) + 1;
    for (size_t j = 0; j <= x->n_env; j++) {
        const char *k = j < x->n_env ? x->env[j].key : "KUBERNETES_EXEC_INFO";
        const char *v = j < x->n_env ? x->env[j].value : info;
        len += strlen(k) + strlen(v) + 2;
    }
    char *block = malloc(len);
    char *o = block;
    for (const char *e = ours; block && *e; e += strlen(e) + 1) {
        bool over = env_sets(e, "KUBERNETES_EXEC_INFO");
        for (size_t j = 0; j < x->n_env && !over; j++)
            over = env_sets(e, x->env[j].key);
        if (!over) {
            memcpy(o, e, strlen(e) + 1);
            o += strlen(e) + 1;
        }
    }
    for (size_t j = 0; block && j <= x->n_env; j++) {
        const char *k = j < x->n_env ? x->env[j].key : "KUBERNETES_EXEC_INFO";
        const char *v = j < x->n_env ? x->env[j].value : info;
        o += sprintf(o, "%s=%s", k, v) + 1;
    }
    if (block)
        *o = '\0';
    FreeEnvironmentStringsA(ours);
    return block;
}

/* A Windows error code in words (the system's sentence, without its ".\r\n"). */
static const char *win_error(DWORD code, char *buf, size_t size)
{
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                             0, buf, (DWORD)size, NULL);
    while (n > 0 && strchr("\r\n .", buf[n - 1]))
        buf[--n] = '\0';
    if (n == 0)
        snprintf(buf, size, "Windows error %lu", (unsigned long)code);
    return buf;
}

/* Keep n bytes the plugin wrote on stdout (stream 0) or stderr (1). 0, or -1 with err. */
static int keep_output(const struct ncap_kube_exec *x, struct plugin_run *r, size_t *cap,
                       int stream, const char *buf, size_t n, char *err)
{
    if (stream == 1) {
        size_t take = n < PLUGIN_ERR_KEEP - r->err_len ? n : PLUGIN_ERR_KEEP - r->err_len;
        memcpy(r->err_head + r->err_len, buf, take);
        r->err_len += take;
        return 0;
    }
    if (r->out_len + n > PLUGIN_OUT_MAX)
        return ncap_fail(err, "exec plugin %s printed more than 1 MiB", x->command);
    if (r->out_len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 16384;
        while (ncap < r->out_len + n + 1)
            ncap *= 2;
        char *nb = realloc(r->out, ncap);
        if (!nb)
            return ncap_fail(err, "exec plugin %s: out of memory", x->command);
        r->out = nb;
        *cap = ncap;
    }
    memcpy(r->out + r->out_len, buf, n);
    r->out_len += n;
    r->out[r->out_len] = '\0';
    return 0;
}

/* Read stdout and stderr until both close, then wait for the exit. 0, or -1 with err (the
 * plugin is then killed). */
static int drain(const struct ncap_kube_exec *x, HANDLE process, HANDLE rd[2], struct plugin_run *r,
                 char *err)
{
    ULONGLONG deadline = GetTickCount64() + PLUGIN_TIMEOUT_MS;
    bool open[2] = {true, true};
    size_t cap = 0;
    while (open[0] || open[1]) {
        bool got = false;
        for (int i = 0; i < 2; i++) {
            DWORD avail = 0, n = 0;
            char buf[16384];
            if (!open[i])
                continue;
            /* Fails (ERROR_BROKEN_PIPE) once the writer closed and everything was read. */
            if (!PeekNamedPipe(rd[i], NULL, 0, NULL, &avail, NULL)) {
                open[i] = false;
                continue;
            }
            if (avail == 0)
                continue;
            if (!ReadFile(rd[i], buf, avail < sizeof(buf) ? avail : sizeof(buf), &n, NULL)) {
                open[i] = false;
                continue;
            }
            got = true;
            if (keep_output(x, r, &cap, i, buf, n, err) < 0) {
                TerminateProcess(process, 1);
                return -1;
            }
        }
        if (GetTickCount64() >= deadline) {
            TerminateProcess(process, 1);
            return ncap_fail(err, "exec plugin %s did not finish within %d s", x->command,
                             PLUGIN_TIMEOUT_MS / 1000);
        }
        if (!got && (open[0] || open[1]))
            Sleep(PLUGIN_POLL_MS);
    }
    ULONGLONG now = GetTickCount64();
    if (WaitForSingleObject(process, now < deadline ? (DWORD)(deadline - now) : 0) !=
        WAIT_OBJECT_0) {
        TerminateProcess(process, 1);
        return ncap_fail(err, "exec plugin %s did not finish within %d s", x->command,
                         PLUGIN_TIMEOUT_MS / 1000);
    }
    return 0;
}

static int run_plugin(const struct ncap_kube_exec *x, const char *info, struct plugin_run *r,
                      char *err)
{
    SECURITY_ATTRIBUTES inherit = {sizeof(inherit), NULL, TRUE};
    HANDLE rd[2] = {NULL, NULL}, wr[2] = {NULL, NULL}, nul = INVALID_HANDLE_VALUE;
    PROCESS_INFORMATION pi = {0};
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
    bool attrs_ok = false;
    char *cmdline = NULL, *env = NULL, why[256], path[MAX_PATH];
    int rc = -1;

    DWORD found = SearchPathA(NULL, x->command, ".exe", sizeof(path), path, NULL);
    if (found == 0 || found >= sizeof(path)) {
        if (!strpbrk(x->command, "/\\:"))
            return ncap_fail(err, "exec plugin %s was not found in PATH", x->command);
        return ncap_fail(
            err, "exec plugin %s cannot be started: %s", x->command,
            win_error(found ? ERROR_FILENAME_EXCED_RANGE : GetLastError(), why, sizeof(why)));
    }
    for (int i = 0; i < 2; i++) {
        if (!CreatePipe(&rd[i], &wr[i], &inherit, 0)) {
            ncap_fail(err, "exec plugin %s: pipe: %s", x->command,
                      win_error(GetLastError(), why, sizeof(why)));
            goto out;
        }
        SetHandleInformation(rd[i], HANDLE_FLAG_INHERIT, 0); /* our ends stay ours */
    }
    nul = CreateFileA("NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                      OPEN_EXISTING, 0, NULL);
    cmdline = plugin_cmdline(x);
    env = plugin_env_block(x, info);
    if (nul == INVALID_HANDLE_VALUE || !cmdline || !env) {
        ncap_fail(err, "exec plugin %s: out of memory", x->command);
        goto out;
    }

    HANDLE pass[3] = {nul, wr[0], wr[1]};
    SIZE_T attrs_size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &attrs_size);
    attrs = malloc(attrs_size);
    attrs_ok = attrs && InitializeProcThreadAttributeList(attrs, 1, 0, &attrs_size);
    if (!attrs_ok || !UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, pass,
                                                sizeof(pass), NULL, NULL)) {
        ncap_fail(err, "exec plugin %s: cannot prepare its start: %s", x->command,
                  win_error(GetLastError(), why, sizeof(why)));
        goto out;
    }
    STARTUPINFOEXA si;
    memset(&si, 0, sizeof(si));
    si.StartupInfo.cb = sizeof(si);
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = nul;
    si.StartupInfo.hStdOutput = wr[0];
    si.StartupInfo.hStdError = wr[1];
    si.lpAttributeList = attrs;
    /* CREATE_NO_WINDOW: Wireshark runs the extcap without a console, and a console plugin
     * would otherwise flash a window of its own. */
    if (!CreateProcessA(path, cmdline, NULL, NULL, TRUE,
                        CREATE_NO_WINDOW | EXTENDED_STARTUPINFO_PRESENT, env, NULL, &si.StartupInfo,
                        &pi)) {
        ncap_fail(err, "exec plugin %s cannot be started: %s", x->command,
                  win_error(GetLastError(), why, sizeof(why)));
        goto out;
    }
    /* Only the child holds the write ends now, so the pipes break when it (and anything it
     * started with them) is done. */
    for (int i = 0; i < 2; i++) {
        CloseHandle(wr[i]);
        wr[i] = NULL;
    }
    if (drain(x, pi.hProcess, rd, r, err) < 0)
        goto out;
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    char line[256];
    const char *l = first_line(r, line, sizeof(line));
    if (code == 0)
        rc = 0;
    else
        ncap_fail(err, "exec plugin %s failed (exit status %lu)%s%s", x->command,
                  (unsigned long)code, *l ? ": " : "", l);
out:
    if (pi.hProcess)
        CloseHandle(pi.hProcess);
    if (pi.hThread)
        CloseHandle(pi.hThread);
    if (attrs_ok)
        DeleteProcThreadAttributeList(attrs);
    free(attrs);
    for (int i = 0; i < 2; i++) {
        if (rd[i])
            CloseHandle(rd[i]);
        if (wr[i])
            CloseHandle(wr[i]);
    }
    if (nul != INVALID_HANDLE_VALUE)
        CloseHandle(nul);
    free(cmdline);
    free(env);
    return rc;
}

#else

static void plugin_env_free(char **env, size_t n_inherited)
{
    for (size_t i = n_inherited; env[i]; i++)
        free(env[i]);
    free(env);
}

/*
 * environ, minus what the plugin's env overrides, plus that env and KUBERNETES_EXEC_INFO.
 * Entries from *n_inherited on are malloc'd here; free with plugin_env_free().
 */
static char **plugin_env(const struct ncap_kube_exec *x, const char *info, size_t *n_inherited)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + x->n_env + 2, sizeof(*env));
    if (!env)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        size_t kl = strcspn(e, "=");
        bool over =
            kl == strlen("KUBERNETES_EXEC_INFO") && strncmp(e, "KUBERNETES_EXEC_INFO", kl) == 0;
        for (size_t j = 0; j < x->n_env && !over; j++)
            over = strlen(x->env[j].key) == kl && strncmp(e, x->env[j].key, kl) == 0;
        if (!over)
            env[o++] = (char *)e;
    }
    *n_inherited = o;
    for (size_t j = 0; j <= x->n_env; j++) {
        const char *k = j < x->n_env ? x->env[j].key : "KUBERNETES_EXEC_INFO";
        const char *v = j < x->n_env ? x->env[j].value : info;
        size_t l = strlen(k) + strlen(v) + 2;
        if (!(env[o] = malloc(l))) {
            plugin_env_free(env, *n_inherited);
            return NULL;
        }
        snprintf(env[o++], l, "%s=%s", k, v);
    }
    return env;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read the plugin's stdout and stderr until both close. 0, or -1 with err (child killed). */
static int drain(const struct ncap_kube_exec *x, pid_t pid, int fd_out, int fd_err,
                 struct plugin_run *r, char *err)
{
    size_t cap = 0;
    long deadline = now_ms() + PLUGIN_TIMEOUT_MS;
    struct pollfd pf[2] = {{fd_out, POLLIN, 0}, {fd_err, POLLIN, 0}};
    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        long left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            return ncap_fail(err, "exec plugin %s did not finish within %d s", x->command,
                             PLUGIN_TIMEOUT_MS / 1000);
        }
        int pr = poll(pf, 2, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return ncap_fail(err, "exec plugin %s: poll: %s", x->command, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char buf[16384];
            ssize_t n = read(pf[i].fd, buf, sizeof(buf));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                pf[i].fd = -1;
                continue;
            }
            if (i == 1) {
                size_t take = (size_t)n;
                if (take > PLUGIN_ERR_KEEP - r->err_len)
                    take = PLUGIN_ERR_KEEP - r->err_len;
                memcpy(r->err_head + r->err_len, buf, take);
                r->err_len += take;
                continue;
            }
            if (r->out_len + (size_t)n > PLUGIN_OUT_MAX) {
                kill(pid, SIGKILL);
                return ncap_fail(err, "exec plugin %s printed more than 1 MiB", x->command);
            }
            if (r->out_len + (size_t)n + 1 > cap) {
                size_t ncap = cap ? cap * 2 : 16384;
                while (ncap < r->out_len + (size_t)n + 1)
                    ncap *= 2;
                char *nb = realloc(r->out, ncap);
                if (!nb) {
                    kill(pid, SIGKILL);
                    return ncap_fail(err, "exec plugin %s: out of memory", x->command);
                }
                r->out = nb;
                cap = ncap;
            }
            memcpy(r->out + r->out_len, buf, (size_t)n);
            r->out_len += (size_t)n;
            r->out[r->out_len] = '\0';
        }
    }
    return 0;
}

/* Close-on-exec at once where the system can, so that no other thread's child inherits it. */
static int pipe_cloexec(int p[2])
{
#ifdef __linux__
    return pipe2(p, O_CLOEXEC);
#else
    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

static int run_plugin(const struct ncap_kube_exec *x, const char *info, struct plugin_run *r,
                      char *err)
{
    int po[2], pe[2];
    if (pipe_cloexec(po) != 0)
        return ncap_fail(err, "exec plugin %s: pipe: %s", x->command, strerror(errno));
    if (pipe_cloexec(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return ncap_fail(err, "exec plugin %s: pipe: %s", x->command, strerror(errno));
    }
    char **argv = calloc(x->n_args + 2, sizeof(*argv));
    size_t n_inherited = 0;
    char **envp = plugin_env(x, info, &n_inherited);
    int rc = -1;
    posix_spawn_file_actions_t fa;
    bool fa_ok = false;
    pid_t pid = -1;
    if (!argv || !envp) {
        ncap_fail(err, "exec plugin %s: out of memory", x->command);
        goto out;
    }
    argv[0] = x->command;
    for (size_t i = 0; i < x->n_args; i++)
        argv[i + 1] = x->args[i];
    if (posix_spawn_file_actions_init(&fa) != 0) {
        ncap_fail(err, "exec plugin %s: out of memory", x->command);
        goto out;
    }
    fa_ok = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    int sr = posix_spawnp(&pid, x->command, &fa, NULL, argv, envp);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    if (sr != 0) {
        pid = -1;
        if (sr == ENOENT && !strchr(x->command, '/'))
            ncap_fail(err, "exec plugin %s was not found in PATH", x->command);
        else
            ncap_fail(err, "exec plugin %s cannot be started: %s", x->command, strerror(sr));
        goto out;
    }
    int dr = drain(x, pid, po[0], pe[0], r, err);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0)
        st = 0; /* SIGCHLD ignored by the host: the status is gone, the output still counts */
    pid = -1;
    if (dr < 0)
        goto out;
    char line[256];
    const char *l = first_line(r, line, sizeof(line));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        rc = 0;
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !*l)
        ncap_fail(err, "exec plugin %s could not be run (exit status 127)", x->command);
    else if (WIFEXITED(st))
        ncap_fail(err, "exec plugin %s failed (exit status %d)%s%s", x->command, WEXITSTATUS(st),
                  *l ? ": " : "", l);
    else
        ncap_fail(err, "exec plugin %s was killed by signal %d%s%s", x->command,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0, *l ? ": " : "", l);
out:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    free(argv);
    if (envp)
        plugin_env_free(envp, n_inherited);
    return rc;
}

#endif

int ncap_kube_exec_credential(struct ncap_kubeconfig *kc, const char *cache_dir, char *err)
{
    const struct ncap_kube_exec *x = kc->user.exec;
    if (!x)
        return 0;
    time_t expiry = 0;
    char *cache = cache_dir && *cache_dir ? cache_path(kc, cache_dir) : NULL;
    if (cache) {
        char *text = read_file(cache, NULL);
        cJSON *cred = text ? cJSON_Parse(text) : NULL;
        char ignored[NCAP_ERRBUF_SIZE];
        bool fresh = cred && take_credential(kc, cred, &expiry, false, ignored) == 0 && expiry &&
                     expiry - CACHE_MARGIN_S > time(NULL);
        int rc = fresh ? take_credential(kc, cred, &expiry, true, err) : 1;
        cJSON_Delete(cred);
        free(text);
        if (rc <= 0) {
            free(cache);
            return rc;
        }
    }

    char *info = exec_info(kc);
    if (!info) {
        free(cache);
        return ncap_fail(err, "exec plugin %s: out of memory", x->command);
    }
    struct plugin_run r;
    memset(&r, 0, sizeof(r));
    int rc = run_plugin(x, info, &r, err);
    free(info);
    cJSON *cred = NULL;
    if (rc == 0) {
        cred = r.out ? cJSON_ParseWithLength(r.out, r.out_len) : NULL;
        if (!cred)
            rc = ncap_fail(err, "exec plugin %s printed no valid ExecCredential JSON", x->command);
    }
    if (rc == 0)
        rc = take_credential(kc, cred, &expiry, true, err);
    if (rc == 0 && cache && expiry && r.out) {
        make_private_dirs(cache_dir);
        write_private_file(cache, r.out, r.out_len);
    }
    cJSON_Delete(cred);
    free(r.out);
    free(cache);
    return rc;
}
