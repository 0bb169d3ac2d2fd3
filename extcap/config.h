/*
 * config.h - the answers to Wireshark's query verbs (--extcap-interfaces, --extcap-dlts,
 * --extcap-config) and the value sentences of the pickers.
 *
 * Wireshark runs these at every start-up (tshark -D runs two of them), synchronously and without
 * a timeout, so they never touch the network. --extcap-config reads one local file, the
 * kubeconfig, to offer its contexts; an unreadable kubeconfig just means an empty list.
 */
#ifndef NETCAP_EXTCAP_CONFIG_H
#define NETCAP_EXTCAP_CONFIG_H

#include <stdio.h>

#include "options.h"

/* The {number=} of each arg; value sentences name their arg by it. Only the calls are API
 * (preference names derive from them), so the numbers may change between versions. */
enum config_arg {
    CONFIG_ARG_KUBECONFIG,
    CONFIG_ARG_CONTEXT,
    CONFIG_ARG_AGENT_NAMESPACE,
    CONFIG_ARG_AGENT_SELECTOR,
    CONFIG_ARG_AGENT_URL,
    CONFIG_ARG_CA_FILE,
    CONFIG_ARG_TOKEN_FILE,
    CONFIG_ARG_NAMESPACE,
    CONFIG_ARG_NAMESPACE_PICK,
    CONFIG_ARG_POD,
    CONFIG_ARG_POD_PICK,
    CONFIG_ARG_SELECTOR,
    CONFIG_ARG_INTERFACE,
    CONFIG_ARG_MAX_PACKETS,
    CONFIG_ARG_MAX_SECONDS,
    CONFIG_ARG_MAX_BYTES,
    CONFIG_ARG_SNAPLEN,
    CONFIG_ARG_SAMPLE,
    CONFIG_ARG_BUFFER_SIZE,
    CONFIG_ARG_DIRECTION,
    CONFIG_ARG_PROTO,
    CONFIG_ARG_IP_VERSION,
    CONFIG_ARG_HOST,
    CONFIG_ARG_PORT,
    CONFIG_ARG_SRC_PORT,
    CONFIG_ARG_DST_PORT,
    CONFIG_ARG_TCP_FLAGS,
    CONFIG_ARG_ICMP_TYPE,
    CONFIG_ARG_ICMP6_TYPE,
    CONFIG_ARG_NO_NAME_RECORDS,
    CONFIG_ARG_LOG_LEVEL,
    CONFIG_ARG_LOG_FILE,
};

void config_print_interfaces(FILE *out);
void config_print_dlts(FILE *out);
void config_print_args(FILE *out, const struct options *o);

/* One "value {arg=N}{value=...}{display=...}" sentence. Characters the sentence grammar cannot
 * carry (braces, control characters) become harmless ones in display; a value holding them
 * cannot be passed back intact and is not printed (returns -1). */
int config_print_value(FILE *out, enum config_arg arg, const char *value, const char *display,
                       int is_default);

/* The selector values of --context: the kubeconfig's contexts, the current one as default.
 * Local and fast; prints nothing when the kubeconfig cannot be read. */
void config_print_contexts(FILE *out, const struct options *o);

#endif
