/*
 * main.c - netcap-agent: command line, start-up checks, and orderly shutdown.
 *
 * Two ways to be told who may capture, which may both be on:
 *   - direct mode (hosts outside Kubernetes, tests): --token-auth-file, and the pods from
 *     --pods-file (or from the API when cluster mode is on as well);
 *   - cluster mode: --kubeconfig or --in-cluster (also implied by KUBERNETES_SERVICE_HOST when
 *     neither --kubeconfig nor --pods-file is given): the pods come from the API and PodCapture
 *     objects authorize streams (cluster.h).
 *
 * Everything that can be wrong with the configuration (flags, token file, pods file, kubeconfig,
 * certificate and key) is found before the listener opens, and reported as one sentence with
 * exit status 2; an API server that cannot be listed at start is exit status 1. The main thread
 * then only waits for signals, looking at the TLS files every TLS_RELOAD_CHECK_SECONDS meanwhile:
 * SIGHUP or changed files reload the certificate, key and client CA (tlsreload.h; streams are not
 * touched); SIGTERM or SIGINT stops every capture (each writes its final statistics and ends its
 * stream, and its PodCapture's status), stops the HTTPS server and exits 0.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "capture.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "ncap.h"
#include "broker.h"
#include "privs.h"
#include "server.h"
#include "tlsreload.h"

/* How long shutdown waits for streams to deliver their last blocks, and then for threads. */
#define DRAIN_MS 5000

struct options {
    const char *listen, *cert, *key, *tokens, *pods, *node, *kubeconfig, *exclude;
    const char *client_ca, *policy;
    unsigned long buffer_budget_mib;
    bool in_cluster;
    bool cluster; /* resolved: cluster mode is on */
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: netcap-agent --listen ADDR:PORT --tls-cert FILE --tls-key FILE\n"
        "                    [--kubeconfig FILE | --in-cluster]\n"
        "                    [--token-auth-file FILE] [--client-ca FILE] [--policy-file FILE]\n"
        "                    [--pods-file FILE]\n"
        "                    [--node-name NAME] [--exclude-namespaces NS,...]\n"
        "\n"
        "Serves Kubernetes pod captures as pcapng over HTTPS (netcap %s).\n"
        "\n"
        "  --listen ADDR:PORT       address to listen on, e.g. 0.0.0.0:9443 or [::]:9443\n"
        "  --tls-cert FILE          PEM certificate chain of the server\n"
        "  --tls-key FILE           PEM private key of the server\n"
        "                           Both (and --client-ca) are read again on SIGHUP and when\n"
        "                           the files change (looked at every %d s); new connections\n"
        "                           get the new certificate, running streams go on. Files that\n"
        "                           do not load are logged and the previous ones kept.\n"
        "Cluster mode (PodCapture objects authorize streams; pods come from the API):\n"
        "  --kubeconfig FILE        the agent's own identity, e.g. its service account\n"
        "  --in-cluster             use the pod's service account (the default when\n"
        "                           KUBERNETES_SERVICE_HOST is set and neither --kubeconfig\n"
        "                           nor --pods-file is given)\n"
        "Direct mode (bearer tokens and/or client certificates; required outside a cluster):\n"
        "  --token-auth-file FILE   bearer tokens, kube-apiserver CSV: token,user,uid[,groups]\n"
        "  --client-ca FILE         PEM CA for client certificates (mTLS): CN is the user, each\n"
        "                           O a group; a certificate that does not verify is refused\n"
        "  --policy-file FILE       JSON {\"users\":{\"alice\":[\"shop\"]},\"groups\":{\"sre\":[\"*\"]}}:\n"
        "                           who may capture in which namespaces (default: everyone\n"
        "                           authenticated, everywhere)\n"
        "  --pods-file FILE         Kubernetes PodList JSON (kubectl get pods -A -o json)\n"
        "Both:\n"
        "  --node-name NAME         this node's name (default: $NODE_NAME, else the host name)\n"
        "  --exclude-namespaces NS,...  never capture in these namespaces (e.g. kube-system)\n"
        "  --capture-buffer-budget MIB  the most memory the kernel capture rings of all\n"
        "                           captures may take together (default %d); a capture that\n"
        "                           would need more is refused (429)\n"
        "  --help                   show this help\n",
        NCAP_VERSION, TLS_RELOAD_CHECK_SECONDS, CAPTURE_BUFFER_BUDGET_DEFAULT_MIB);
}

static int parse_args(int argc, char **argv, struct options *o, char *err)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"token-auth-file", required_argument, NULL, 't'},
        {"pods-file", required_argument, NULL, 'p'},
        {"node-name", required_argument, NULL, 'n'},
        {"kubeconfig", required_argument, NULL, 'K'},
        {"in-cluster", no_argument, NULL, 'I'},
        {"exclude-namespaces", required_argument, NULL, 'x'},
        {"client-ca", required_argument, NULL, 'C'},
        {"policy-file", required_argument, NULL, 'P'},
        {"capture-buffer-budget", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->buffer_budget_mib = CAPTURE_BUFFER_BUDGET_DEFAULT_MIB;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            o->listen = optarg;
            break;
        case 'c':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 't':
            o->tokens = optarg;
            break;
        case 'p':
            o->pods = optarg;
            break;
        case 'n':
            o->node = optarg;
            break;
        case 'K':
            o->kubeconfig = optarg;
            break;
        case 'I':
            o->in_cluster = true;
            break;
        case 'x':
            o->exclude = optarg;
            break;
        case 'C':
            o->client_ca = optarg;
            break;
        case 'P':
            o->policy = optarg;
            break;
        case 'B': {
            char *end;
            errno = 0;
            o->buffer_budget_mib = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' || o->buffer_budget_mib < 2 ||
                o->buffer_budget_mib > (1ul << 20))
                return ncap_fail(err, "--capture-buffer-budget %s is not a number of MiB from 2 "
                                      "to 1048576", optarg);
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            return ncap_fail(err, "option %s needs a value", argv[optind - 1]);
        default:
            return ncap_fail(err, "unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ncap_fail(err, "unexpected argument %s (see --help)", argv[optind]);
    if (o->kubeconfig && o->in_cluster)
        return ncap_fail(err, "give --kubeconfig or --in-cluster, not both");
    const char *service_host = getenv("KUBERNETES_SERVICE_HOST");
    o->cluster = o->kubeconfig || o->in_cluster || (service_host && *service_host && !o->pods);
    if (o->cluster && !o->kubeconfig)
        o->in_cluster = true;
    /* Outside a cluster, direct mode is the only mode: it needs tokens and pods. */
    const char *missing = !o->listen                  ? "--listen"
                          : !o->cert                  ? "--tls-cert"
                          : !o->key                   ? "--tls-key"
                          : !o->cluster && !o->tokens && !o->client_ca ? "--token-auth-file"
                          : !o->cluster && !o->pods   ? "--pods-file"
                                                      : NULL;
    if (missing)
        return ncap_fail(err, "%s is required (see --help)", missing);
    if (o->node && !*o->node)
        return ncap_fail(err, "--node-name must not be empty");
    return 0;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric addresses only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return ncap_fail(err, "--listen %s is not ADDR:PORT", s);
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && colon[-1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return ncap_fail(err, "--listen %s has too long an address", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return ncap_fail(err, "--listen port %s is not a number from 1 to 65535", colon + 1);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0)
        return ncap_fail(err, "--listen address %s is not a numeric IP address: %s", host,
                         gai_strerror(rc));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

/* The agent's own Kubernetes client, from --kubeconfig or the pod's service account. */
static struct ncap_kube *kube_client(const struct options *o, char *err)
{
    if (o->in_cluster)
        return ncap_kube_new_in_cluster(err);
    struct ncap_kubeconfig kc;
    char why[NCAP_ERRBUF_SIZE];
    if (ncap_kubeconfig_load(o->kubeconfig, NULL, &kc, err) < 0)
        return NULL; /* the sentence names the file */
    struct ncap_kube *k = NULL;
    if (kc.user.exec && ncap_kube_exec_credential(&kc, NULL, why) < 0)
        ncap_fail(err, "--kubeconfig %s: %s", o->kubeconfig, why);
    else if (!(k = ncap_kube_new(&kc, why)))
        ncap_fail(err, "--kubeconfig %s: %s", o->kubeconfig, why);
    ncap_kubeconfig_free(&kc);
    return k;
}

static void log_start(const struct options *o, struct agent *a)
{
    struct podtable *t = podsource_get(&a->pods);
    char modes[600] = "", excluded[600] = "";
    size_t n_local = t->n_local, n_pods = podtable_count_pods(t), n_svcs = t->n_svcs;
    podtable_put(t);
    if (o->tokens)
        snprintf(modes, sizeof(modes), "direct mode with %zu tokens", a->auth.n);
    if (a->cluster)
        snprintf(modes + strlen(modes), sizeof(modes) - strlen(modes),
                 "%scluster mode with the API server %s", *modes ? " and " : "",
                 cluster_server(a->cluster));
    for (size_t i = 0; i < a->excluded.n; i++)
        snprintf(excluded + strlen(excluded), sizeof(excluded) - strlen(excluded), "%s%s",
                 i ? "," : "", a->excluded.names[i]);
    agent_log("listening on %s as node %s: %s; %zu of %zu pods are local, %zu services; "
              "excluded namespaces: %s; capture buffer budget %lu MiB",
              o->listen, o->node, modes, n_local, n_pods, n_svcs, *excluded ? excluded : "none",
              o->buffer_budget_mib);
}

int main(int argc, char **argv)
{
    char err[NCAP_ERRBUF_SIZE], hostname[256];
    struct options o;
    struct sockaddr_storage addr;
    static struct agent agent;

    if (parse_args(argc, argv, &o, err) < 0 || parse_listen(o.listen, &addr, err) < 0) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 2;
    }
    /* First, before any file (the TLS key) is read and before any thread: the broker that
     * keeps the capture privileges (broker.h). */
    if (broker_start(err) < 0) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 1;
    }
    capture_set_buffer_budget((uint64_t)o.buffer_budget_mib << 20);
    if (!o.node && getenv("NODE_NAME") && *getenv("NODE_NAME"))
        o.node = getenv("NODE_NAME");
    if (!o.node) {
        if (gethostname(hostname, sizeof(hostname)) < 0) {
            fprintf(stderr, "netcap-agent: cannot read the host name, give --node-name\n");
            return 2;
        }
        hostname[sizeof(hostname) - 1] = '\0';
        o.node = hostname;
    }
    struct ncap_kube *kube = NULL;
    if ((o.tokens && auth_load(&agent.auth, o.tokens, err) < 0) ||
        nslist_parse(&agent.excluded, o.exclude ? o.exclude : "", err) < 0 ||
        podsource_init(&agent.pods, o.node, err) < 0 ||
        (o.pods && podsource_load_file(&agent.pods, o.pods, err) < 0) ||
        tls_init(o.cert, o.key, o.client_ca, err) < 0 ||
        (o.policy && policy_load(&agent.policy, o.policy, err) < 0) ||
        (o.cluster && !(kube = kube_client(&o, err)))) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 2;
    }
    /* Every thread inherits this mask (the first ones start in cluster_start()), so only the
     * sigtimedwait() below receives these signals; SIGHUP's default action would end the agent.
     * Not earlier: an exec credential plugin (kube_client) must not inherit it. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Everything privileged that start-up needed is done; no thread runs yet. This process
     * parses every request and keeps no capability at all (the broker has the capture ones).
     * After this the TLS files are re-read without CAP_DAC_OVERRIDE: they must be readable by
     * the agent's user through their own permissions (a mounted secret's files are). */
    int caps = 0;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    if (privs_drop(NULL, 0, port < 1024, &caps, err) < 0) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 2;
    }
    if (kube && !(agent.cluster = cluster_start(kube, &agent.pods, &agent.excluded, o.node, err))) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 1;
    }

    agent.client_ca = o.client_ca;
    struct MHD_Daemon *d = server_start(&agent, (struct sockaddr *)&addr, err);
    if (!d) {
        fprintf(stderr, "netcap-agent: %s\n", err);
        return 1;
    }
    log_start(&o, &agent);
    agent_log("capture broker: pid %d, keeps setns, ptrace-read and raw network only; this "
              "process keeps %s; no_new_privs set in both",
              broker_pid(), port < 1024 && caps ? "only the low port, until bound" : "none");
    tls_log_current();

    int sig, status = 0;
    char why[NCAP_ERRBUF_SIZE];
    for (;;) {
        const struct timespec tick = {.tv_sec = TLS_RELOAD_CHECK_SECONDS};
        sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP)
            tls_reload_now();
        else if (sig < 0 && errno == EAGAIN)
            tls_reload_tick();
        /* Without its broker the agent cannot capture, and it cannot start a new one (it has
         * no privileges left): end, so that systemd or the kubelet starts it again. */
        if (!broker_alive(why)) {
            status = 1;
            break;
        }
    }
    if (status)
        agent_log("stopping: %s; a new start brings it back", why);
    else
        agent_log("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    capture_stop_all(status ? "the agent lost its capture broker" : "the agent is shutting down");
    capture_wait_idle(DRAIN_MS);
    server_stop(d);
    if (capture_wait_idle(DRAIN_MS) < 0) {
        agent_log("some captures did not end in time");
        return status; /* their threads still use what follows: leave it to the exit */
    }
    if (cluster_stop(agent.cluster, DRAIN_MS) < 0)
        return status;
    auth_free(&agent.auth);
    policy_free(&agent.policy);
    nslist_free(&agent.excluded);
    podsource_free(&agent.pods);
    tls_free();
    return status;
}
