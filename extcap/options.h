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

#include "debuglog.h"

#define OPTIONS_INTERFACE_NAME "netcap-extcap"

/* Defaults advertised in --extcap-config; tshark passes them back even when the user set
 * nothing, which the environment rule in options.c takes into account. */
#define OPTIONS_DEFAULT_NAMESPACE "default"
#define OPTIONS_DEFAULT_POD_INTERFACE "eth0"
#define OPTIONS_DEFAULT_MAX_PACKETS "0"
#define OPTIONS_DEFAULT_MAX_SECONDS "0"

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

    /* Cluster */
    const char *agent_url;
    const char *ca_file;
    const char *token_file;

    /* Target */
    const char *pod_namespace;
    const char *pod_name;
    const char *pod_interface;

    /* Filter & limits */
    unsigned long max_packets;
    unsigned long max_seconds;

    /* Debug */
    enum debuglog_level log_level;
    const char *log_file;
};

/* Returns 0, or -1 with the first problem in err; o is filled as far as possible either way.
 * The strings point into argv and the environment. */
int options_parse(struct options *o, int argc, char **argv, char *err);

/* Checks that a capture has what it cannot do without (pod, agent URL, CA and token files). */
int options_check_capture(const struct options *o, char *err);

void options_print_usage(void);

#endif
