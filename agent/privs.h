/*
 * privs.h - privilege at the edge: after start-up (certificates and files read, port bound,
 * Kubernetes client made) the agent keeps only CAP_SYS_ADMIN (setns), CAP_SYS_PTRACE (other
 * users' /proc/PID/ns/net), CAP_NET_RAW and CAP_NET_ADMIN (libpcap), drops every other
 * capability from its effective, permitted, inheritable and bounding sets, and sets
 * no_new_privs. Request parsing runs in the same process (a separate privileged helper that
 * hands over capture sockets is the next step); this bounds what a parser bug could reach.
 */
#ifndef AGENT_PRIVS_H
#define AGENT_PRIVS_H

#include <stdbool.h>

/* Call before any thread starts (Linux capabilities are per thread; new threads inherit them).
 * low_port: also keep CAP_NET_BIND_SERVICE (the listen port is below 1024 and not bound yet).
 * 0 with *remaining = how many of the kept capabilities the agent has, or -1 with err. */
int privs_drop(bool low_port, int *remaining, char *err);

#endif
