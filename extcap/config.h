/*
 * config.h - the answers to Wireshark's query verbs (--extcap-interfaces, --extcap-dlts,
 * --extcap-config).
 *
 * Wireshark runs these at every start-up (tshark -D runs two of them), synchronously and without
 * a timeout, so they print fixed text: no network, no files, no environment.
 */
#ifndef NETCAP_EXTCAP_CONFIG_H
#define NETCAP_EXTCAP_CONFIG_H

#include <stdio.h>

void config_print_interfaces(FILE *out);
void config_print_dlts(FILE *out);
void config_print_args(FILE *out);

#endif
