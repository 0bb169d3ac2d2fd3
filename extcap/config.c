/*
 * config.c - the extcap sentences of the query verbs (see config.h).
 *
 * Grammar and arg types as Wireshark 4.0.17 parses them (extcap_parser.c): no editselector, no
 * table, no prefix. What a user types on tshark's command line becomes
 * -o extcap.netcap_extcap.<call without dashes>:<value>. Credentials are never args (a password
 * arg cannot be set from tshark, and args end up in preference files): only the paths of the
 * files that hold them. The defaults printed here are OPTIONS_DEFAULT_*, the same ones
 * options.c recognises when tshark passes them back.
 */
#include "config.h"

#include "ncap.h"
#include "options.h"

void config_print_interfaces(FILE *out)
{
    fprintf(out, "extcap {version=%s}{help=file:///usr/share/doc/netcap-wireshark/README.md}\n",
            NCAP_VERSION);
    fprintf(out, "interface {value=" OPTIONS_INTERFACE_NAME "}{display=Kubernetes pod capture}\n");
}

void config_print_dlts(FILE *out)
{
    fprintf(out, "dlt {number=%d}{name=EN10MB}{display=Ethernet}\n", NCAP_LINKTYPE_ETHERNET);
}

void config_print_args(FILE *out)
{
    fputs("arg {number=0}{call=--agent-url}{display=Agent URL}{type=string}"
          "{placeholder=https://127.0.0.1:9443}"
          "{tooltip=HTTPS URL of the netcap-agent on the pod's node (or NETCAP_AGENT_URL)}"
          "{group=Cluster}\n"
          "arg {number=1}{call=--ca-file}{display=CA certificate file}{type=fileselect}"
          "{mustexist=true}"
          "{tooltip=PEM file with the CA that signed the agent's certificate (or NETCAP_CA_FILE)}"
          "{group=Cluster}\n"
          "arg {number=2}{call=--token-file}{display=Token file}{type=fileselect}"
          "{mustexist=true}"
          "{tooltip=File whose first line is your bearer token for the agent "
          "(or NETCAP_TOKEN_FILE)}"
          "{group=Cluster}\n"
          "arg {number=3}{call=--namespace}{display=Namespace}{type=string}"
          "{default=" OPTIONS_DEFAULT_NAMESPACE "}"
          "{tooltip=Namespace of the pod to capture (or NETCAP_NAMESPACE)}"
          "{group=Target}\n"
          "arg {number=4}{call=--pod}{display=Pod}{type=string}"
          "{tooltip=Name of the pod to capture (or NETCAP_POD)}"
          "{group=Target}\n"
          "arg {number=5}{call=--interface}{display=Interface}{type=string}"
          "{default=" OPTIONS_DEFAULT_POD_INTERFACE "}"
          "{tooltip=Network interface inside the pod (or NETCAP_INTERFACE)}"
          "{group=Target}\n"
          "arg {number=6}{call=--max-packets}{display=Packet limit}{type=unsigned}"
          "{default=" OPTIONS_DEFAULT_MAX_PACKETS "}"
          "{tooltip=Stop after this many packets; 0 means no limit (or NETCAP_MAX_PACKETS)}"
          "{group=Filter & limits}\n"
          "arg {number=7}{call=--max-seconds}{display=Time limit (seconds)}{type=unsigned}"
          "{default=" OPTIONS_DEFAULT_MAX_SECONDS "}"
          "{tooltip=Stop after this many seconds; 0 means no limit (or NETCAP_MAX_SECONDS)}"
          "{group=Filter & limits}\n"
          "arg {number=8}{call=--log-level}{display=Set the log level}{type=selector}"
          "{tooltip=Set the log level}{required=false}{group=Debug}\n"
          "value {arg=8}{value=message}{display=Message}{default=true}\n"
          "value {arg=8}{value=info}{display=Info}\n"
          "value {arg=8}{value=debug}{display=Debug}\n"
          "value {arg=8}{value=noisy}{display=Noisy}\n"
          "arg {number=9}{call=--log-file}{display=Use a file for logging}{type=fileselect}"
          "{tooltip=Set a file where log messages are written}{required=false}{group=Debug}\n",
          out);
}
