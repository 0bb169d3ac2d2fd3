/*
 * options.h - the extcap's command line and its NETCAP_* environment twins.
 *
 * options_parse() reads argv the way Wireshark writes it (extcap verbs, --fifo, the args of
 * --extcap-config), fills in values from the environment, and checks numbers and log levels.
 * It never stops at the first problem: it keeps the first error sentence and still records the
 * verb and --fifo, because a capture must open the fifo before it may report anything. Values
 * (numbers, log level) are checked for --capture only, so that the query verbs keep working
 * whatever the environment holds.
 */
#ifndef NETCAP_EXTCAP_OPTIONS_H
#define NETCAP_EXTCAP_OPTIONS_H

#include <cJSON.h>

#include "bpfspec.h"
#include "debuglog.h"

#define OPTIONS_INTERFACE_NAME "netcap-extcap"

/* Defaults advertised in --extcap-config; tshark passes them back even when the user set
 * nothing, which the environment rule in options.c takes into account. */
#define OPTIONS_DEFAULT_AGENT_NAMESPACE "netcap"
#define OPTIONS_DEFAULT_AGENT_SELECTOR "app.kubernetes.io/name=netcap-agent"
#define OPTIONS_DEFAULT_POD_INTERFACE "eth0"
#define OPTIONS_DEFAULT_MAX_PACKETS "0"
#define OPTIONS_DEFAULT_MAX_SECONDS "0"
#define OPTIONS_DEFAULT_MAX_BYTES "0"
#define OPTIONS_DEFAULT_SNAPLEN "262144"
#define OPTIONS_DEFAULT_SAMPLE "1"
#define OPTIONS_DEFAULT_BUFFER_SIZE "32" /* MiB: the agent's default kernel ring */
#define OPTIONS_MAX_BUFFER_SIZE 256

/* The namespace when neither the user nor the kubeconfig context names one (as kubectl). */
#define OPTIONS_FALLBACK_NAMESPACE "default"

/* How a kubeconfig list is written on this system, as kubectl reads KUBECONFIG there. Both go
 * into printf formats, hence the doubled %. */
#ifdef _WIN32
#define OPTIONS_KUBECONFIG_SEP "';'"
#define OPTIONS_KUBECONFIG_DEFAULT "%%KUBECONFIG%%, else %%USERPROFILE%%\\.kube\\config"
#else
#define OPTIONS_KUBECONFIG_SEP "':'"
#define OPTIONS_KUBECONFIG_DEFAULT "$KUBECONFIG, else ~/.kube/config"
#endif

enum options_verb {
    VERB_USAGE, /* nothing asked for */
    VERB_HELP,
    VERB_VERSION,
    VERB_INTERFACES,
    VERB_DLTS,
    VERB_CONFIG,
    VERB_FILTER,
    VERB_CAPTURE,
};

struct options {
    enum options_verb verb;

    /* Wireshark's side of the protocol. */
    const char *extcap_interface;
    const char *extcap_version;
    const char *reload_option;
    const char *fifo;
    const char *control_in;
    const char *control_out;
    const char *capture_filter;

    /* Cluster: a kubeconfig (cluster mode), or an agent URL with its files (direct mode). */
    const char *kubeconfig; /* a KUBECONFIG-style path list; NULL = $KUBECONFIG or ~/.kube/config */
    const char *context;    /* NULL = the current context */
    const char *agent_namespace;
    const char *agent_selector;
    const char *agent_url;
    const char *ca_file;
    const char *token_file;

    /* Target. Each picker (a selector Wireshark fills from the cluster) has a free-text twin
     * that wins when set: use options_namespace() and options_pod(), not these fields. */
    const char *pod_namespace;  /* --namespace */
    const char *namespace_pick; /* --namespace-pick */
    const char *pod_name;       /* --pod */
    const char *pod_pick;       /* --pod-pick */
    const char *label_selector; /* --selector */
    const char *pod_interface;

    /* Filter & limits */
    unsigned long max_packets;
    unsigned long max_seconds;
    unsigned long max_bytes;
    unsigned long snaplen;
    unsigned long sample;      /* keep 1 of N */
    unsigned long buffer_mib;  /* kernel capture ring per pod, like dumpcap -B */
    const char *direction;     /* "both", "in", "out" */
    struct ncap_match_text match; /* structured filter texts (common/bpfspec.h) */
    int name_records;          /* ask the agent for NRBs (not --no-name-records) */

    /* Debug */
    enum debuglog_level log_level;
    const char *log_file;
};

/* Returns 0, or -1 with the first problem in err; o is filled as far as possible either way.
 * The strings point into argv and the environment. */
int options_parse(struct options *o, int argc, char **argv, char *err);

/* Adds filter, match, snaplen, limits, direction, sample, bufferMiB and nameRecords (API.md) to
 * obj, as both the direct request and a PodCapture's spec carry them. 0, or -1 with err. */
int options_add_spec(const struct options *o, cJSON *obj, char *err);

/* The one BPF program the agent will compile for these options (structured filter AND
 * --extcap-capture-filter); malloc'd. 0, or -1 with err. */
int options_capture_bpf(const struct options *o, char **out, char *err);

/* Direct mode: --agent-url was given, and the kubeconfig is not used. */
int options_direct_mode(const struct options *o);

/* The namespace the user chose (typed, else picked), or NULL for the context's own. */
const char *options_namespace(const struct options *o);

/* The pod the user chose by name (typed, else picked), or NULL. */
const char *options_pod(const struct options *o);

/* Checks that a capture has what its mode cannot do without: a pod or a label selector (not
 * both), and in direct mode the pod by name, CA and token files. */
int options_check_capture(const struct options *o, char *err);

void options_print_usage(void);

#endif
