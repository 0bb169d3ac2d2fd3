/*
 * config.c - the extcap sentences of the query verbs (see config.h).
 *
 * Grammar and arg types as Wireshark 4.0.17 parses them (extcap_parser.c): no editselector, no
 * table, no prefix. What a user types on tshark's command line becomes
 * -o extcap.netcap_extcap.<call without dashes>:<value>. Credentials are never args (a password
 * arg cannot be set from tshark, and args end up in preference files): only the paths of the
 * files that hold them. The defaults printed here are OPTIONS_DEFAULT_*, the same ones
 * options.c recognises when tshark passes them back.
 *
 * The pickers (options.c explains the scheme): Namespace and Pod are free-text fields, each
 * followed by a {reload=true} selector that Wireshark's reload button fills from the cluster
 * (pickers.c). Offline the selectors hold one empty entry, so that nothing is passed until the
 * user picks. The context selector is filled from the local kubeconfig right here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN /* no objbase.h: its `interface` macro breaks meta.h */
#include <windows.h>        /* GetModuleFileNameA */
#endif

#include "kubeconfig.h"
#include "ncap.h"

#ifdef _WIN32
/* The .msi puts the README in a folder beside the extcap (extcap\netcap\README.txt); the help
 * link is that file as a URL, found from where this program is, wherever Wireshark lives.
 * Without a usable path there is no help link, which the extcap format allows. */
static void print_help_key(FILE *out)
{
    char path[MAX_PATH];
    DWORD n = GetModuleFileNameA(NULL, path, sizeof(path));
    char *slash;

    if (n == 0 || n >= sizeof(path) || !(slash = strrchr(path, '\\')))
        return;
    *slash = '\0';
    fputs("{help=file:///", out);
    for (const char *p = path; *p; p++) {
        if (*p == '\\')
            fputc('/', out);
        else if (*p == ' ' || *p == '%' || *p == '#' || *p == '{' || *p == '}')
            fprintf(out, "%%%02X", (unsigned char)*p);
        else
            fputc(*p, out);
    }
    fputs("/netcap/README.txt}", out);
}
#else
static void print_help_key(FILE *out)
{
    fputs("{help=file:///usr/share/doc/netcap-wireshark/README.md}", out);
}
#endif

void config_print_interfaces(FILE *out)
{
    fprintf(out, "extcap {version=%s}", NCAP_VERSION);
    print_help_key(out);
    fputc('\n', out);
    fprintf(out, "interface {value=" OPTIONS_INTERFACE_NAME "}{display=Kubernetes pod capture}\n");
}

void config_print_dlts(FILE *out)
{
    fprintf(out, "dlt {number=%d}{name=EN10MB}{display=Ethernet}\n", NCAP_LINKTYPE_ETHERNET);
}

static int sentence_safe(const char *s)
{
    for (; *s; s++) {
        if (*s == '{' || *s == '}' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

int config_print_value(FILE *out, enum config_arg arg, const char *value, const char *display,
                       int is_default)
{
    if (!sentence_safe(value))
        return -1;
    fprintf(out, "value {arg=%d}{value=%s}{display=", (int)arg, value);
    for (const char *p = display; *p; p++) {
        char c = *p;
        if (c == '{')
            c = '(';
        else if (c == '}')
            c = ')';
        else if ((unsigned char)c < 0x20 || c == 0x7f)
            c = ' ';
        fputc(c, out);
    }
    fprintf(out, "}%s\n", is_default ? "{default=true}" : "");
    return 0;
}

void config_print_contexts(FILE *out, const struct options *o)
{
    char err[NCAP_ERRBUF_SIZE];
    char **names = NULL, *current = NULL;
    size_t n = 0;

    if (ncap_kubeconfig_contexts(o->kubeconfig, &names, &n, &current, err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        int is_current = current && strcmp(names[i], current) == 0;
        char display[NCAP_ERRBUF_SIZE];

        snprintf(display, sizeof(display), is_current ? "%s (current)" : "%s", names[i]);
        config_print_value(out, CONFIG_ARG_CONTEXT, names[i], display, is_current);
    }
    ncap_strv_free(names, n);
    free(current);
}

void config_print_args(FILE *out, const struct options *o)
{
    fprintf(out,
            "arg {number=%d}{call=--kubeconfig}{display=Kubeconfig}{type=fileselect}"
            "{placeholder=" OPTIONS_KUBECONFIG_DEFAULT "}"
            "{tooltip=Kubeconfig file(s) to reach the cluster with, " OPTIONS_KUBECONFIG_SEP
            "-separated like "
            "KUBECONFIG (or NETCAP_KUBECONFIG)}"
            "{group=Cluster}\n",
            CONFIG_ARG_KUBECONFIG);
    fprintf(out,
            "arg {number=%d}{call=--context}{display=Context}{type=selector}{reload=true}"
            "{tooltip=Kubeconfig context; its current context when none is chosen "
            "(or NETCAP_CONTEXT)}"
            "{required=false}{group=Cluster}\n",
            CONFIG_ARG_CONTEXT);
    config_print_contexts(out, o);
    fprintf(out,
            "arg {number=%d}{call=--agent-namespace}{display=Agent namespace}{type=string}"
            "{default=" OPTIONS_DEFAULT_AGENT_NAMESPACE "}"
            "{tooltip=Namespace where the netcap agents run (or NETCAP_AGENT_NAMESPACE)}"
            "{group=Cluster}\n",
            CONFIG_ARG_AGENT_NAMESPACE);
    fprintf(out,
            "arg {number=%d}{call=--agent-selector}{display=Agent label selector}{type=string}"
            "{default=" OPTIONS_DEFAULT_AGENT_SELECTOR "}"
            "{tooltip=Label selector of the netcap agent pods (or NETCAP_AGENT_SELECTOR)}"
            "{group=Cluster}\n",
            CONFIG_ARG_AGENT_SELECTOR);
    fprintf(out,
            "arg {number=%d}{call=--agent-url}{display=Agent URL (direct mode)}{type=string}"
            "{placeholder=https://127.0.0.1:9443}"
            "{tooltip=Talk to this one netcap-agent instead of going through the cluster; "
            "then the kubeconfig is not used (or NETCAP_AGENT_URL)}"
            "{group=Cluster}\n",
            CONFIG_ARG_AGENT_URL);
    fprintf(out,
            "arg {number=%d}{call=--ca-file}{display=CA certificate file (direct mode)}"
            "{type=fileselect}{mustexist=true}"
            "{tooltip=PEM file with the CA that signed the agent's certificate "
            "(or NETCAP_CA_FILE)}"
            "{group=Cluster}\n",
            CONFIG_ARG_CA_FILE);
    fprintf(out,
            "arg {number=%d}{call=--token-file}{display=Token file (direct mode)}"
            "{type=fileselect}{mustexist=true}"
            "{tooltip=File whose first line is your bearer token for the agent "
            "(or NETCAP_TOKEN_FILE)}"
            "{group=Cluster}\n",
            CONFIG_ARG_TOKEN_FILE);
    fprintf(out,
            "arg {number=%d}{call=--namespace}{display=Namespace}{type=string}"
            "{placeholder=the context's namespace}"
            "{tooltip=Namespace of the pods to capture; wins over the list below "
            "(or NETCAP_NAMESPACE)}"
            "{group=Target}\n",
            CONFIG_ARG_NAMESPACE);
    fprintf(out,
            "arg {number=%d}{call=--namespace-pick}{display=Namespace from the cluster}"
            "{type=selector}{reload=true}"
            "{tooltip=Press reload to list the cluster's namespaces; used when the Namespace "
            "field is empty}"
            "{required=false}{group=Target}\n",
            CONFIG_ARG_NAMESPACE_PICK);
    config_print_value(out, CONFIG_ARG_NAMESPACE_PICK, "",
                       "(the context's namespace; reload to list)", 1);
    fprintf(out,
            "arg {number=%d}{call=--pod}{display=Pod}{type=string}"
            "{tooltip=Name of the pod to capture; wins over the list below (or NETCAP_POD)}"
            "{group=Target}\n",
            CONFIG_ARG_POD);
    fprintf(out,
            "arg {number=%d}{call=--pod-pick}{display=Pod from the cluster}{type=selector}"
            "{reload=true}"
            "{tooltip=Press reload to list the pods of the namespace; used when the Pod field "
            "is empty}"
            "{required=false}{group=Target}\n",
            CONFIG_ARG_POD_PICK);
    config_print_value(out, CONFIG_ARG_POD_PICK, "", "(none; reload to list)", 1);
    fprintf(out,
            "arg {number=%d}{call=--selector}{display=Label selector}{type=string}"
            "{placeholder=app=frontend}"
            "{tooltip=Capture every running pod of the namespace that matches, instead of one "
            "pod (or NETCAP_SELECTOR)}"
            "{group=Target}\n",
            CONFIG_ARG_SELECTOR);
    fprintf(out,
            "arg {number=%d}{call=--interface}{display=Interface}{type=string}"
            "{default=" OPTIONS_DEFAULT_POD_INTERFACE "}"
            "{tooltip=Network interface inside the pod (or NETCAP_INTERFACE)}"
            "{group=Target}\n",
            CONFIG_ARG_INTERFACE);
    fprintf(out,
            "arg {number=%d}{call=--max-packets}{display=Packet limit}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_MAX_PACKETS "}"
            "{tooltip=Stop after this many packets; 0 means no limit (or NETCAP_MAX_PACKETS)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_MAX_PACKETS);
    fprintf(out,
            "arg {number=%d}{call=--max-seconds}{display=Time limit (seconds)}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_MAX_SECONDS "}"
            "{tooltip=Stop after this many seconds; 0 means no limit (or NETCAP_MAX_SECONDS)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_MAX_SECONDS);
    fprintf(out,
            "arg {number=%d}{call=--max-bytes}{display=Byte limit}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_MAX_BYTES "}"
            "{tooltip=Stop once this many bytes of packet data were captured; 0 means no limit "
            "(or NETCAP_MAX_BYTES)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_MAX_BYTES);
    fprintf(out,
            "arg {number=%d}{call=--snaplen}{display=Snapshot length}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_SNAPLEN "}{range=1,262144}"
            "{tooltip=Keep at most this many bytes of each packet (or NETCAP_SNAPLEN)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_SNAPLEN);
    fprintf(out,
            "arg {number=%d}{call=--sample}{display=Keep one packet in}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_SAMPLE "}"
            "{tooltip=Sampling: keep every Nth packet; 1 keeps all (or NETCAP_SAMPLE)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_SAMPLE);
    fprintf(out,
            "arg {number=%d}{call=--buffer-size}{display=Buffer size (MiB)}{type=unsigned}"
            "{default=" OPTIONS_DEFAULT_BUFFER_SIZE "}{range=2,256}"
            "{tooltip=The agent's kernel capture buffer for each pod: larger holds longer bursts "
            "when the link to Wireshark is slower than the traffic (or NETCAP_BUFFER_SIZE)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_BUFFER_SIZE);
    fprintf(out,
            "arg {number=%d}{call=--direction}{display=Direction}{type=selector}"
            "{tooltip=Packets to the pod (in), from the pod (out) or both (or NETCAP_DIRECTION)}"
            "{required=false}{group=Filter and limits}\n",
            CONFIG_ARG_DIRECTION);
    config_print_value(out, CONFIG_ARG_DIRECTION, "both", "Both", 1);
    config_print_value(out, CONFIG_ARG_DIRECTION, "in", "In (to the pod)", 0);
    config_print_value(out, CONFIG_ARG_DIRECTION, "out", "Out (from the pod)", 0);
    fprintf(out,
            "arg {number=%d}{call=--proto}{display=Protocols}{type=string}"
            "{placeholder=tcp,udp}{validation=^[A-Za-z0-9, ]*$}"
            "{tooltip=Any of tcp, udp, icmp, icmp6, sctp, arp, comma-separated (or NETCAP_PROTO)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_PROTO);
    fprintf(out,
            "arg {number=%d}{call=--ip-version}{display=IP version}{type=selector}"
            "{tooltip=Only IPv4 or only IPv6 packets (or NETCAP_IP_VERSION)}"
            "{required=false}{group=Filter and limits}\n",
            CONFIG_ARG_IP_VERSION);
    config_print_value(out, CONFIG_ARG_IP_VERSION, "any", "Any", 1);
    config_print_value(out, CONFIG_ARG_IP_VERSION, "4", "IPv4", 0);
    config_print_value(out, CONFIG_ARG_IP_VERSION, "6", "IPv6", 0);
    fprintf(out,
            "arg {number=%d}{call=--host}{display=Peer hosts}{type=string}"
            "{placeholder=10.1.0.5,10.2.0.0/16,fd00::/64}{validation=^[0-9A-Fa-f.:/, ]*$}"
            "{tooltip=Addresses or CIDRs at either end, comma-separated (or NETCAP_HOST)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_HOST);
    fprintf(out,
            "arg {number=%d}{call=--port}{display=Ports}{type=string}"
            "{placeholder=80,8000-8080}{validation=^[0-9, -]*$}"
            "{tooltip=Ports or ranges at either end, comma-separated (or NETCAP_PORT)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_PORT);
    fprintf(out,
            "arg {number=%d}{call=--src-port}{display=Source ports}{type=string}"
            "{validation=^[0-9, -]*$}"
            "{tooltip=Source ports or ranges, comma-separated (or NETCAP_SRC_PORT)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_SRC_PORT);
    fprintf(out,
            "arg {number=%d}{call=--dst-port}{display=Destination ports}{type=string}"
            "{validation=^[0-9, -]*$}"
            "{tooltip=Destination ports or ranges, comma-separated (or NETCAP_DST_PORT)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_DST_PORT);
    fprintf(out,
            "arg {number=%d}{call=--tcp-flags}{display=TCP flags (any of)}{type=string}"
            "{placeholder=syn,rst}{validation=^[A-Za-z, ]*$}"
            "{tooltip=TCP segments with any of syn, ack, fin, rst, psh, urg, ece, cwr "
            "(or NETCAP_TCP_FLAGS)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_TCP_FLAGS);
    fprintf(out,
            "arg {number=%d}{call=--icmp-type}{display=ICMP types}{type=string}"
            "{placeholder=8,0}{validation=^[0-9, ]*$}"
            "{tooltip=ICMP type numbers, comma-separated (or NETCAP_ICMP_TYPE)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_ICMP_TYPE);
    fprintf(out,
            "arg {number=%d}{call=--icmp6-type}{display=ICMPv6 types}{type=string}"
            "{placeholder=128,129}{validation=^[0-9, ]*$}"
            "{tooltip=ICMPv6 type numbers, comma-separated (or NETCAP_ICMP6_TYPE)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_ICMP6_TYPE);
    fprintf(out,
            "arg {number=%d}{call=--no-name-records}{display=No pod name records}"
            "{type=boolflag}{default=false}"
            "{tooltip=Do not send name records (pod IP to pod.namespace) for name resolution "
            "(or NETCAP_NO_NAME_RECORDS=1)}"
            "{group=Filter and limits}\n",
            CONFIG_ARG_NO_NAME_RECORDS);
    fprintf(out,
            "arg {number=%d}{call=--log-level}{display=Set the log level}{type=selector}"
            "{tooltip=Set the log level}{required=false}{group=Debug}\n",
            CONFIG_ARG_LOG_LEVEL);
    config_print_value(out, CONFIG_ARG_LOG_LEVEL, "message", "Message", 1);
    config_print_value(out, CONFIG_ARG_LOG_LEVEL, "info", "Info", 0);
    config_print_value(out, CONFIG_ARG_LOG_LEVEL, "debug", "Debug", 0);
    config_print_value(out, CONFIG_ARG_LOG_LEVEL, "noisy", "Noisy", 0);
    fprintf(out,
            "arg {number=%d}{call=--log-file}{display=Use a file for logging}{type=fileselect}"
            "{tooltip=Set a file where log messages are written}{required=false}{group=Debug}\n",
            CONFIG_ARG_LOG_FILE);
}
