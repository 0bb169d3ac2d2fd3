/*
 * broker.h - privilege at the edge: the small process that enters pod network namespaces and
 * opens capture sockets, apart from everything that parses requests.
 *
 * broker_start() forks it before the agent starts any thread. The broker keeps
 * CAP_SYS_ADMIN (setns), CAP_SYS_PTRACE (other users' /proc/PID/ns/net) and CAP_NET_RAW
 * (packet sockets) and nothing else; the agent process then drops every capability
 * (privs.h), so TLS, HTTP, JSON, authentication and the capture loop run with none.
 *
 * Protocol: one fixed-size request (the pod's UID, IPs, namespace/name for messages, the
 * interface) over a SOCK_SEQPACKET socketpair, one reply (an HTTP-like status, a reason and a
 * sentence, the interface's MAC) with the socket as SCM_RIGHTS. The broker checks every field
 * of the request, answers one at a time, never opens a socket in the node's own network
 * namespace, and exits when the agent goes away (EOF, and PR_SET_PDEATHSIG).
 */
#ifndef AGENT_BROKER_H
#define AGENT_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "meta.h"

/* Fork the broker. Call before any thread starts, with the agent's start-up capabilities.
 * 0, or -1 with err. */
int broker_start(char *err);

/* A packet socket bound to interface ifname of the pod, filtering out everything until the
 * caller attaches its own filter (pktsock.h), and the interface's hardware address in mac.
 * On failure -1 with *status (404 no such interface, 500 otherwise), *reason (a Kubernetes
 * Status reason) and err. Thread-safe: requests are serialized. */
int broker_open(const struct ncap_pod_meta *pod, const char *ifname, uint8_t mac[6], int *status,
                const char **reason, char *err);

/* Whether the broker still runs; when not, false with err saying how it ended. */
bool broker_alive(char *err);

/* The broker's pid (0 if not started), for tests and the start-up log. */
int broker_pid(void);

#endif
