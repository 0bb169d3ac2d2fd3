/*
 * filter.h - Wireshark's capture-filter check (--extcap-capture-filter F without --capture).
 *
 * Wireshark colours the filter field from the answer: no output means valid, otherwise the
 * first line on stdout is the reason.
 */
#ifndef NETCAP_EXTCAP_FILTER_H
#define NETCAP_EXTCAP_FILTER_H

#include <stdio.h>

/* Prints nothing if filter is acceptable, else one line saying why. */
void filter_validate(FILE *out, const char *filter);

#endif
