/*
 * options.c - parsing argv and the NETCAP_* environment (see options.h).
 *
 * A small table-driven parser instead of getopt_long: it accepts "--name value" and
 * "--name=value", never permutes or prints, and turns every problem into one sentence that
 * names the bad token, so a capture can report it through Wireshark.
 *
 * Where a value comes from. Every option --foo-bar of the user's can also be set as
 * NETCAP_FOO_BAR. The command line wins, with one exception: tshark (and Wireshark with an
 * empty options dialog) passes every string/unsigned arg that --extcap-config gives a default,
 * e.g. "--interface eth0 --max-packets 0", whether or not the user chose it. A command-line
 * value equal to the advertised default therefore carries no intent, and a non-empty
 * environment value replaces it. An empty value counts as not given. Options without an
 * advertised default (pod, namespace, kubeconfig, agent URL, files, filter, log level) simply
 * prefer the command line.
 *
 * Pickers. Wireshark 4.0 has no editable selector, so each list filled from the cluster
 * ({reload=true}) comes with a free-text twin: --namespace / --namespace-pick and
 * --pod / --pod-pick. The typed value wins; the picked one is used when nothing is typed; with
 * neither, the namespace is the kubeconfig context's (else "default") and a capture needs a
 * label selector (--selector) instead of a pod. A pod (typed or picked) and a selector together
 * are refused rather than one silently ignored.
 */
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfspec.h"
#include "ncap.h"

/* Wireshark's "unsigned" arg is 32 bits wide. */
#define OPTIONS_UNSIGNED_MAX 4294967295ul

enum opt_id {
    OPT_CAPTURE,
    OPT_INTERFACES,
    OPT_DLTS,
    OPT_CONFIG,
    OPT_HELP,
    OPT_VERSION,
    OPT_EXTCAP_INTERFACE,
    OPT_EXTCAP_VERSION,
    OPT_RELOAD_OPTION,
    OPT_FIFO,
    OPT_CONTROL_IN,
    OPT_CONTROL_OUT,
    OPT_CAPTURE_FILTER,
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    OPT_AGENT_NAMESPACE,
    OPT_AGENT_SELECTOR,
    OPT_AGENT_URL,
    OPT_CA_FILE,
    OPT_TOKEN_FILE,
    OPT_NAMESPACE,
    OPT_NAMESPACE_PICK,
    OPT_POD,
    OPT_POD_PICK,
    OPT_SELECTOR,
    OPT_INTERFACE,
    OPT_MAX_PACKETS,
    OPT_MAX_SECONDS,
    OPT_MAX_BYTES,
    OPT_SNAPLEN,
    OPT_SAMPLE,
    OPT_BUFFER_SIZE,
    OPT_DIRECTION,
    OPT_PROTO,
    OPT_IP_VERSION,
    OPT_HOST,
    OPT_PORT,
    OPT_SRC_PORT,
    OPT_DST_PORT,
    OPT_TCP_FLAGS,
    OPT_ICMP_TYPE,
    OPT_ICMP6_TYPE,
    OPT_NO_NAME_RECORDS,
    OPT_LOG_LEVEL,
    OPT_LOG_FILE,
    OPT_COUNT
};

struct opt_def {
    const char *name; /* without the leading "--" */
    int takes_value;
    const char *env;                /* NETCAP_* twin, or NULL for Wireshark's own options */
    const char *advertised_default; /* as printed by --extcap-config, or NULL */
};

static const struct opt_def defs[OPT_COUNT] = {
    [OPT_CAPTURE] = {"capture", 0, NULL, NULL},
    [OPT_INTERFACES] = {"extcap-interfaces", 0, NULL, NULL},
    [OPT_DLTS] = {"extcap-dlts", 0, NULL, NULL},
    [OPT_CONFIG] = {"extcap-config", 0, NULL, NULL},
    [OPT_HELP] = {"help", 0, NULL, NULL},
    [OPT_VERSION] = {"version", 0, NULL, NULL},
    [OPT_EXTCAP_INTERFACE] = {"extcap-interface", 1, NULL, NULL},
    [OPT_EXTCAP_VERSION] = {"extcap-version", 1, NULL, NULL},
    [OPT_RELOAD_OPTION] = {"extcap-reload-option", 1, NULL, NULL},
    [OPT_FIFO] = {"fifo", 1, NULL, NULL},
    [OPT_CONTROL_IN] = {"extcap-control-in", 1, NULL, NULL},
    [OPT_CONTROL_OUT] = {"extcap-control-out", 1, NULL, NULL},
    [OPT_CAPTURE_FILTER] = {"extcap-capture-filter", 1, "NETCAP_EXTCAP_CAPTURE_FILTER", NULL},
    [OPT_KUBECONFIG] = {"kubeconfig", 1, "NETCAP_KUBECONFIG", NULL},
    [OPT_CONTEXT] = {"context", 1, "NETCAP_CONTEXT", NULL},
    [OPT_AGENT_NAMESPACE] = {"agent-namespace", 1, "NETCAP_AGENT_NAMESPACE",
                             OPTIONS_DEFAULT_AGENT_NAMESPACE},
    [OPT_AGENT_SELECTOR] = {"agent-selector", 1, "NETCAP_AGENT_SELECTOR",
                            OPTIONS_DEFAULT_AGENT_SELECTOR},
    [OPT_AGENT_URL] = {"agent-url", 1, "NETCAP_AGENT_URL", NULL},
    [OPT_CA_FILE] = {"ca-file", 1, "NETCAP_CA_FILE", NULL},
    [OPT_TOKEN_FILE] = {"token-file", 1, "NETCAP_TOKEN_FILE", NULL},
    [OPT_NAMESPACE] = {"namespace", 1, "NETCAP_NAMESPACE", NULL},
    [OPT_NAMESPACE_PICK] = {"namespace-pick", 1, "NETCAP_NAMESPACE_PICK", NULL},
    [OPT_POD] = {"pod", 1, "NETCAP_POD", NULL},
    [OPT_POD_PICK] = {"pod-pick", 1, "NETCAP_POD_PICK", NULL},
    [OPT_SELECTOR] = {"selector", 1, "NETCAP_SELECTOR", NULL},
    [OPT_INTERFACE] = {"interface", 1, "NETCAP_INTERFACE", OPTIONS_DEFAULT_POD_INTERFACE},
    [OPT_MAX_PACKETS] = {"max-packets", 1, "NETCAP_MAX_PACKETS", OPTIONS_DEFAULT_MAX_PACKETS},
    [OPT_MAX_SECONDS] = {"max-seconds", 1, "NETCAP_MAX_SECONDS", OPTIONS_DEFAULT_MAX_SECONDS},
    [OPT_MAX_BYTES] = {"max-bytes", 1, "NETCAP_MAX_BYTES", OPTIONS_DEFAULT_MAX_BYTES},
    [OPT_SNAPLEN] = {"snaplen", 1, "NETCAP_SNAPLEN", OPTIONS_DEFAULT_SNAPLEN},
    [OPT_SAMPLE] = {"sample", 1, "NETCAP_SAMPLE", OPTIONS_DEFAULT_SAMPLE},
    [OPT_BUFFER_SIZE] = {"buffer-size", 1, "NETCAP_BUFFER_SIZE", OPTIONS_DEFAULT_BUFFER_SIZE},
    [OPT_DIRECTION] = {"direction", 1, "NETCAP_DIRECTION", NULL},
    [OPT_PROTO] = {"proto", 1, "NETCAP_PROTO", NULL},
    [OPT_IP_VERSION] = {"ip-version", 1, "NETCAP_IP_VERSION", NULL},
    [OPT_HOST] = {"host", 1, "NETCAP_HOST", NULL},
    [OPT_PORT] = {"port", 1, "NETCAP_PORT", NULL},
    [OPT_SRC_PORT] = {"src-port", 1, "NETCAP_SRC_PORT", NULL},
    [OPT_DST_PORT] = {"dst-port", 1, "NETCAP_DST_PORT", NULL},
    [OPT_TCP_FLAGS] = {"tcp-flags", 1, "NETCAP_TCP_FLAGS", NULL},
    [OPT_ICMP_TYPE] = {"icmp-type", 1, "NETCAP_ICMP_TYPE", NULL},
    [OPT_ICMP6_TYPE] = {"icmp6-type", 1, "NETCAP_ICMP6_TYPE", NULL},
    [OPT_NO_NAME_RECORDS] = {"no-name-records", 0, "NETCAP_NO_NAME_RECORDS", NULL},
    [OPT_LOG_LEVEL] = {"log-level", 1, "NETCAP_LOG_LEVEL", NULL},
    [OPT_LOG_FILE] = {"log-file", 1, "NETCAP_LOG_FILE", NULL},
};

/* A resolved value and the name to blame if it is malformed. */
struct source {
    const char *value;
    const char *origin; /* "--max-packets" or "NETCAP_MAX_PACKETS" */
    char flag[48];
};

static int first_error(int *failed)
{
    /* Only the first problem is reported: later ones are often its consequences. */
    if (*failed)
        return 0;
    *failed = 1;
    return 1;
}

static const struct opt_def *lookup(const char *name, size_t len, enum opt_id *id)
{
    for (int i = 0; i < OPT_COUNT; i++) {
        if (strlen(defs[i].name) == len && strncmp(defs[i].name, name, len) == 0) {
            *id = (enum opt_id)i;
            return &defs[i];
        }
    }
    return NULL;
}

/* Scans argv into given[] / values[]; returns -1 with err on the first problem but scans on. */
static int scan_argv(int argc, char **argv, int given[OPT_COUNT], const char *values[OPT_COUNT],
                     char *err)
{
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *name, *eq, *value = NULL;
        const struct opt_def *def;
        enum opt_id id;
        size_t len;

        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (first_error(&failed))
                ncap_fail(err, "unexpected argument \"%s\" (see netcap-extcap --help)", arg);
            continue;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        def = lookup(name, len, &id);
        if (!def) {
            if (first_error(&failed))
                ncap_fail(err, "unknown option --%.*s (see netcap-extcap --help)", (int)len, name);
            continue;
        }
        if (!def->takes_value) {
            if (eq && first_error(&failed))
                ncap_fail(err, "option --%s takes no value", def->name);
            given[id] = 1;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            if (first_error(&failed))
                ncap_fail(err, "option --%s needs a value", def->name);
            continue;
        }
        given[id] = 1;
        values[id] = value;
    }
    return failed ? -1 : 0;
}

static void resolve(enum opt_id id, const char *cmdline, struct source *src)
{
    const struct opt_def *d = &defs[id];
    const char *env = d->env ? getenv(d->env) : NULL;

    if (env && *env == '\0')
        env = NULL;
    if (cmdline && *cmdline == '\0')
        cmdline = NULL;

    snprintf(src->flag, sizeof(src->flag), "--%s", d->name);
    if (cmdline && !(env && d->advertised_default && strcmp(cmdline, d->advertised_default) == 0)) {
        src->value = cmdline;
        src->origin = src->flag;
    } else if (env) {
        src->value = env;
        src->origin = d->env;
    } else {
        src->value = d->advertised_default;
        src->origin = src->flag;
    }
}

static int parse_unsigned(const struct source *src, unsigned long *out, char *err)
{
    unsigned long long v = 0;
    const char *p = src->value;

    if (!p || *p == '\0')
        return ncap_fail(err, "%s is empty: give a whole number from 0 to %lu", src->origin,
                         OPTIONS_UNSIGNED_MAX);
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > OPTIONS_UNSIGNED_MAX)
            break;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (*p != '\0' || v > OPTIONS_UNSIGNED_MAX)
        return ncap_fail(err, "%s must be a whole number from 0 to %lu, not \"%s\"", src->origin,
                         OPTIONS_UNSIGNED_MAX, src->value);
    *out = (unsigned long)v;
    return 0;
}

static enum options_verb pick_verb(const int given[OPT_COUNT])
{
    if (given[OPT_CAPTURE])
        return VERB_CAPTURE;
    if (given[OPT_INTERFACES])
        return VERB_INTERFACES;
    if (given[OPT_DLTS])
        return VERB_DLTS;
    if (given[OPT_CONFIG])
        return VERB_CONFIG;
    if (given[OPT_CAPTURE_FILTER])
        return VERB_FILTER;
    if (given[OPT_HELP])
        return VERB_HELP;
    if (given[OPT_VERSION])
        return VERB_VERSION;
    return VERB_USAGE;
}

int options_parse(struct options *o, int argc, char **argv, char *err)
{
    int given[OPT_COUNT] = {0};
    const char *values[OPT_COUNT] = {0};
    struct source src[OPT_COUNT];
    int failed;

    memset(o, 0, sizeof(*o));
    failed = scan_argv(argc, argv, given, values, err) < 0;

    o->verb = pick_verb(given);
    for (int i = 0; i < OPT_COUNT; i++)
        resolve((enum opt_id)i, values[i], &src[i]);

    o->extcap_interface = src[OPT_EXTCAP_INTERFACE].value;
    o->extcap_version = src[OPT_EXTCAP_VERSION].value;
    o->reload_option = src[OPT_RELOAD_OPTION].value;
    o->fifo = src[OPT_FIFO].value;
    o->control_in = src[OPT_CONTROL_IN].value;
    o->control_out = src[OPT_CONTROL_OUT].value;
    o->capture_filter = src[OPT_CAPTURE_FILTER].value;
    o->kubeconfig = src[OPT_KUBECONFIG].value;
    o->context = src[OPT_CONTEXT].value;
    o->agent_namespace = src[OPT_AGENT_NAMESPACE].value;
    o->agent_selector = src[OPT_AGENT_SELECTOR].value;
    o->agent_url = src[OPT_AGENT_URL].value;
    o->ca_file = src[OPT_CA_FILE].value;
    o->token_file = src[OPT_TOKEN_FILE].value;
    o->pod_namespace = src[OPT_NAMESPACE].value;
    o->namespace_pick = src[OPT_NAMESPACE_PICK].value;
    o->pod_name = src[OPT_POD].value;
    o->pod_pick = src[OPT_POD_PICK].value;
    o->label_selector = src[OPT_SELECTOR].value;
    o->pod_interface = src[OPT_INTERFACE].value;
    o->log_file = src[OPT_LOG_FILE].value;
    o->log_level = DEBUGLOG_MESSAGE;
    o->match.protocols = src[OPT_PROTO].value;
    o->match.ip_version = src[OPT_IP_VERSION].value;
    o->match.hosts = src[OPT_HOST].value;
    o->match.ports = src[OPT_PORT].value;
    o->match.src_ports = src[OPT_SRC_PORT].value;
    o->match.dst_ports = src[OPT_DST_PORT].value;
    o->match.tcp_flags = src[OPT_TCP_FLAGS].value;
    o->match.icmp_types = src[OPT_ICMP_TYPE].value;
    o->match.icmp6_types = src[OPT_ICMP6_TYPE].value;
    o->direction = src[OPT_DIRECTION].value ? src[OPT_DIRECTION].value : "both";
    {
        const char *nr = given[OPT_NO_NAME_RECORDS] ? "1" : getenv("NETCAP_NO_NAME_RECORDS");
        o->name_records = !(nr && (*nr == '1' || *nr == 't' || *nr == 'T' || *nr == 'y'));
    }

    if (failed)
        return -1;
    /* Query verbs print fixed text: a bad NETCAP_* variable must not hide the interface. */
    if (o->verb != VERB_CAPTURE)
        return 0;
    if (parse_unsigned(&src[OPT_MAX_PACKETS], &o->max_packets, err) < 0 ||
        parse_unsigned(&src[OPT_MAX_SECONDS], &o->max_seconds, err) < 0 ||
        parse_unsigned(&src[OPT_MAX_BYTES], &o->max_bytes, err) < 0 ||
        parse_unsigned(&src[OPT_SNAPLEN], &o->snaplen, err) < 0 ||
        parse_unsigned(&src[OPT_SAMPLE], &o->sample, err) < 0 ||
        parse_unsigned(&src[OPT_BUFFER_SIZE], &o->buffer_mib, err) < 0)
        return -1;
    if (o->buffer_mib < 2 || o->buffer_mib > OPTIONS_MAX_BUFFER_SIZE)
        return ncap_fail(err, "%s must be from 2 to %d MiB, not %lu", src[OPT_BUFFER_SIZE].origin,
                         OPTIONS_MAX_BUFFER_SIZE, o->buffer_mib);
    if (o->snaplen < 1 || o->snaplen > NCAP_SNAPLEN_MAX)
        return ncap_fail(err, "%s must be from 1 to %u bytes, not %lu", src[OPT_SNAPLEN].origin,
                         NCAP_SNAPLEN_MAX, o->snaplen);
    if (o->sample < 1)
        return ncap_fail(err, "%s must be at least 1 (1 keeps every packet)",
                         src[OPT_SAMPLE].origin);
    if (strcmp(o->direction, "both") != 0 && strcmp(o->direction, "in") != 0 &&
        strcmp(o->direction, "out") != 0)
        return ncap_fail(err, "%s must be both, in or out, not \"%s\"", src[OPT_DIRECTION].origin,
                         o->direction);
    /* The structured filter is checked here with the agent's own rules (common/bpfspec.c), so a
     * typo is one sentence before anything is created in the cluster. */
    cJSON *match = NULL;
    if (ncap_match_from_text(&o->match, &match, err) < 0)
        return -1;
    cJSON_Delete(match);
    if (src[OPT_LOG_LEVEL].value &&
        debuglog_level_parse(src[OPT_LOG_LEVEL].value, &o->log_level) < 0)
        return ncap_fail(err, "%s must be message, info, debug or noisy, not \"%s\"",
                         src[OPT_LOG_LEVEL].origin, src[OPT_LOG_LEVEL].value);
    return 0;
}

int options_add_spec(const struct options *o, cJSON *obj, char *err)
{
    cJSON *match = NULL, *limits;
    if (ncap_match_from_text(&o->match, &match, err) < 0)
        return -1;
    int ok = cJSON_AddStringToObject(obj, "filter", o->capture_filter ? o->capture_filter : "") &&
             (!match || cJSON_AddItemToObject(obj, "match", match)) &&
             cJSON_AddNumberToObject(obj, "snaplen", (double)o->snaplen) &&
             (limits = cJSON_AddObjectToObject(obj, "limits")) &&
             cJSON_AddNumberToObject(limits, "packets", (double)o->max_packets) &&
             cJSON_AddNumberToObject(limits, "seconds", (double)o->max_seconds) &&
             cJSON_AddNumberToObject(limits, "bytes", (double)o->max_bytes) &&
             cJSON_AddStringToObject(obj, "direction", o->direction) &&
             cJSON_AddNumberToObject(obj, "sample", (double)o->sample) &&
             cJSON_AddNumberToObject(obj, "bufferMiB", (double)o->buffer_mib) &&
             cJSON_AddBoolToObject(obj, "nameRecords", o->name_records);
    if (!ok) {
        if (match && !cJSON_GetObjectItemCaseSensitive(obj, "match"))
            cJSON_Delete(match);
        return ncap_fail(err, "out of memory");
    }
    return 0;
}

int options_capture_bpf(const struct options *o, char **out, char *err)
{
    cJSON *match = NULL;
    *out = NULL;
    if (ncap_match_from_text(&o->match, &match, err) < 0)
        return -1;
    int rc = ncap_match_to_bpf(match, o->capture_filter, "match", out, err);
    cJSON_Delete(match);
    return rc;
}

int options_direct_mode(const struct options *o)
{
    return o->agent_url != NULL;
}

const char *options_namespace(const struct options *o)
{
    return o->pod_namespace ? o->pod_namespace : o->namespace_pick;
}

const char *options_pod(const struct options *o)
{
    return o->pod_name ? o->pod_name : o->pod_pick;
}

int options_check_capture(const struct options *o, char *err)
{
    const char *pod = options_pod(o);
    const char *pod_flag = o->pod_name ? "--pod" : "--pod-pick";

    if (pod && o->label_selector)
        return ncap_fail(err,
                         "both a pod (%s %s) and a label selector (--selector %s) given: "
                         "choose one",
                         pod_flag, pod, o->label_selector);
    if (!options_direct_mode(o)) {
        if (!pod && !o->label_selector)
            return ncap_fail(err, "no pod given: set --pod or a label selector --selector "
                                  "(or NETCAP_POD, NETCAP_SELECTOR)");
        return 0;
    }
    if (o->label_selector)
        return ncap_fail(err, "a label selector needs the cluster: direct mode (--agent-url) "
                              "captures one pod by name, so set --pod instead");
    if (!pod)
        return ncap_fail(err, "no pod given: set --pod (or NETCAP_POD)");
    if (!o->ca_file)
        return ncap_fail(err, "no CA file given: set --ca-file (or NETCAP_CA_FILE) to the PEM "
                              "file that signed the agent's certificate");
    if (!o->token_file)
        return ncap_fail(err, "no token file given: set --token-file (or NETCAP_TOKEN_FILE)");
    return 0;
}

void options_print_usage(void)
{
    printf("netcap-extcap %s - Wireshark extcap for Kubernetes pod capture\n"
           "\n"
           "Wireshark runs it as:\n"
           "  netcap-extcap --extcap-interfaces\n"
           "  netcap-extcap --extcap-interface " OPTIONS_INTERFACE_NAME " --extcap-dlts\n"
           "  netcap-extcap --extcap-interface " OPTIONS_INTERFACE_NAME " --extcap-config\n"
           "  netcap-extcap --extcap-interface " OPTIONS_INTERFACE_NAME
           " --extcap-config --extcap-reload-option context|namespace-pick|pod-pick [options]\n"
           "  netcap-extcap --extcap-interface " OPTIONS_INTERFACE_NAME
           " --capture --fifo PATH [options]\n"
           "\n"
           "Cluster mode (the default) reaches the pods' nodes through the Kubernetes API with\n"
           "your kubeconfig; direct mode (--agent-url) talks to one agent.\n"
           "\n"
           "Options (each can also be set as NETCAP_<NAME>, e.g. NETCAP_AGENT_URL):\n"
           "  --kubeconfig PATHS         kubeconfig file(s), " OPTIONS_KUBECONFIG_SEP "-separated "
           "(default " OPTIONS_KUBECONFIG_DEFAULT ")\n"
           "  --context NAME             kubeconfig context (default the current context)\n"
           "  --agent-namespace NAME     namespace of the netcap agents "
           "(default " OPTIONS_DEFAULT_AGENT_NAMESPACE ")\n"
           "  --agent-selector SELECTOR  label selector of the agent pods\n"
           "                             (default " OPTIONS_DEFAULT_AGENT_SELECTOR ")\n"
           "  --agent-url URL            direct mode: https:// URL of one netcap-agent\n"
           "  --ca-file FILE             direct mode: PEM CA the agent's certificate chains to\n"
           "  --token-file FILE          direct mode: file whose first line is the bearer token\n"
           "  --namespace NAME           the pods' namespace (default the context's, "
           "else " OPTIONS_FALLBACK_NAMESPACE ")\n"
           "  --namespace-pick NAME      the same, as picked from a list; --namespace wins\n"
           "  --pod NAME                 the pod to capture\n"
           "  --pod-pick NAME            the same, as picked from a list; --pod wins\n"
           "  --selector SELECTOR        capture every pod matching this label selector\n"
           "  --interface NAME           the interface inside the pod "
           "(default " OPTIONS_DEFAULT_POD_INTERFACE ")\n"
           "  --max-packets N            stop after N packets (0 = no limit)\n"
           "  --max-seconds N            stop after N seconds (0 = no limit)\n"
           "  --max-bytes N              stop after N bytes of packet data (0 = no limit)\n"
           "  --snaplen N                keep at most N bytes of each packet (default "
           OPTIONS_DEFAULT_SNAPLEN ")\n"
           "  --sample N                 keep one packet in N (default 1: every packet)\n"
           "  --buffer-size MIB          the agent's kernel capture buffer for each pod, which\n"
           "                             holds bursts (default " OPTIONS_DEFAULT_BUFFER_SIZE
           ", like dumpcap -B)\n"
           "  --direction DIR            both, in (to the pod) or out (from the pod)\n"
           "  --proto LIST               protocols: tcp, udp, icmp, icmp6, sctp, arp\n"
           "  --ip-version V             4, 6 or any\n"
           "  --host LIST                peer addresses or CIDRs (either end)\n"
           "  --port LIST                ports or ranges (either end), e.g. 80,8000-8080\n"
           "  --src-port LIST            source ports or ranges\n"
           "  --dst-port LIST            destination ports or ranges\n"
           "  --tcp-flags LIST           TCP segments with any of: syn, ack, fin, rst, psh, urg,\n"
           "                             ece, cwr\n"
           "  --icmp-type LIST           ICMP types (numbers), e.g. 8,0\n"
           "  --icmp6-type LIST          ICMPv6 types (numbers), e.g. 128,129\n"
           "                             (lists: comma-separated; kinds are AND-ed, values OR-ed)\n"
           "  --extcap-capture-filter F  BPF capture filter, AND-ed with the above, applied by\n"
           "                             the agent in the pod's network namespace\n"
           "  --no-name-records          send no name records (pod IP -> pod.namespace)\n"
           "  --log-level LEVEL          message, info, debug or noisy\n"
           "  --log-file FILE            append debug lines to FILE\n"
           "\n"
           "A command-line value equal to the default shown above yields to the environment,\n"
           "because Wireshark passes those defaults even when the user chose nothing.\n",
           NCAP_VERSION);
}
