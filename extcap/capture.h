/*
 * capture.h - one capture: ask the agent for a stream and copy it into Wireshark's fifo.
 */
#ifndef NETCAP_EXTCAP_CAPTURE_H
#define NETCAP_EXTCAP_CAPTURE_H

#include "options.h"
#include "platform.h"

/* Returns 0 when the capture ended normally (a limit was reached, Wireshark asked to stop or
 * closed the fifo), else -1 with a sentence in err. */
int capture_run(const struct options *o, struct platform_fifo *fifo, char *err);

#endif
