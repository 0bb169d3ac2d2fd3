/*
 * pickers.h - the answer to Wireshark's reload button (--extcap-config --extcap-reload-option
 * CALL [the dialog's current args]): the values of one {reload=true} selector.
 *
 *   context         the kubeconfig's contexts (local, like --extcap-config)
 *   namespace-pick  GET /api/v1/namespaces
 *   pod-pick        GET /api/v1/namespaces/<ns>/pods, ns as the capture would choose it
 *
 * Wireshark runs this synchronously while its dialog waits, and throws the output away on a
 * non-zero exit. So every request is bounded (PICKERS_TIMEOUT_MS), the exit status is always 0,
 * and a failure becomes one empty value whose display says why.
 */
#ifndef NETCAP_EXTCAP_PICKERS_H
#define NETCAP_EXTCAP_PICKERS_H

#include <stdio.h>

#include "options.h"

#define PICKERS_TIMEOUT_MS 5000L

void pickers_reload(FILE *out, const struct options *o);

#endif
