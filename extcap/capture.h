/*
 * capture.h - one capture: ask the agents for their streams and merge them into Wireshark's
 * fifo, in cluster mode (through the Kubernetes API) or direct mode (--agent-url).
 */
#ifndef NETCAP_EXTCAP_CAPTURE_H
#define NETCAP_EXTCAP_CAPTURE_H

#include <stddef.h>

#include "options.h"
#include "platform.h"

/* Returns 0 when the capture ended normally (a limit was reached, Wireshark asked to stop or
 * closed the fifo), else -1 with a sentence in err. On 0, warning (warning_size bytes) holds one
 * line to show the user (nodes that could not be captured), or "". */
int capture_run(const struct options *o, struct platform_fifo *fifo, char *err, char *warning,
                size_t warning_size);

#endif
