/*
 * kubeconfig.h - read kubeconfig files the way kubectl does.
 *
 * KUBECONFIG-style path lists (':' separated on POSIX, ';' on Windows) are merged: for each
 * named cluster, user and context the first file that defines it wins, as does the first
 * current-context. Relative file paths inside a file are resolved against that file's directory.
 * Parsing uses libyaml (kubeconfig is YAML; JSON is YAML too).
 */
#ifndef NCAP_KUBECONFIG_H
#define NCAP_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta.h"
#include "ncap.h"

/* users[].user.exec: a client.authentication.k8s.io/v1 (or v1beta1) ExecCredential plugin. */
struct ncap_kube_exec {
    char *api_version;
    char *command;
    char **args;
    size_t n_args;
    struct ncap_kv *env;     /* extra environment for the plugin */
    size_t n_env;
    bool provide_cluster_info;
};

struct ncap_kube_cluster {
    char *server;            /* https://host:port[/prefix] */
    char *ca_file;           /* certificate-authority (absolute path) */
    char *ca_data;           /* certificate-authority-data, base64-decoded PEM */
    size_t ca_data_len;
    bool insecure;           /* insecure-skip-tls-verify */
    char *tls_server_name;
};

struct ncap_kube_user {
    char *token;
    char *token_file;        /* absolute path */
    char *cert_file;         /* client-certificate */
    char *cert_data;         /* client-certificate-data, decoded PEM */
    size_t cert_data_len;
    char *key_file;          /* client-key */
    char *key_data;          /* client-key-data, decoded PEM */
    size_t key_data_len;
    struct ncap_kube_exec *exec; /* NULL when not an exec user */
};

/* One resolved context: its cluster and user, copied out of the merged files. */
struct ncap_kubeconfig {
    char *context;           /* the context's name */
    char *namespace_;        /* the context's namespace, NULL when unset */
    struct ncap_kube_cluster cluster;
    struct ncap_kube_user user;
};

/*
 * paths: a path list as in KUBECONFIG; NULL means $KUBECONFIG, else ~/.kube/config.
 * context: NULL or "" means current-context. 0, or -1 with a sentence naming the file and key.
 */
int ncap_kubeconfig_load(const char *paths, const char *context, struct ncap_kubeconfig *out,
                         char *err);
void ncap_kubeconfig_free(struct ncap_kubeconfig *kc);

/* The names of all contexts (malloc'd array of malloc'd strings) and the current one (or NULL). */
int ncap_kubeconfig_contexts(const char *paths, char ***names, size_t *n, char **current,
                             char *err);
void ncap_strv_free(char **v, size_t n);

/*
 * Run an exec credential plugin (caching its answer in cache_dir until expirationTimestamp, when
 * cache_dir is not NULL) and fill the user's token or client certificate/key data from
 * status.token / status.clientCertificateData / status.clientKeyData. 0, or -1 with a sentence
 * that names the command and what went wrong (not found, exit status, bad JSON).
 */
int ncap_kube_exec_credential(struct ncap_kubeconfig *kc, const char *cache_dir, char *err);

#endif
