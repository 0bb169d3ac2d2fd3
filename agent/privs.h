/*
 * privs.h - drop capabilities for good. The capture broker (broker.h) keeps CAP_SYS_ADMIN
 * (setns), CAP_SYS_PTRACE (other users' /proc/PID/ns/net) and CAP_NET_RAW (packet sockets);
 * the agent process, which parses every request, keeps none (CAP_NET_BIND_SERVICE only until
 * a port below 1024 is bound). Every other capability goes from the effective, permitted,
 * inheritable and bounding sets, and no_new_privs is set.
 */
#ifndef AGENT_PRIVS_H
#define AGENT_PRIVS_H

#include <stdbool.h>

#include <stddef.h>

/* Keep only the n capabilities in keep. Call before any thread starts (Linux capabilities
 * are per thread; new threads inherit them). low_port: also keep CAP_NET_BIND_SERVICE (the
 * listen port is below 1024 and not bound yet). 0 with *remaining (may be NULL) = how many of
 * the kept ones the process has, or -1 with err. */
int privs_drop(const int *keep, size_t n, bool low_port, int *remaining, char *err);

#endif
