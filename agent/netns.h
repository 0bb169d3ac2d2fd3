/*
 * netns.h - find the network namespace a pod's interfaces live in.
 *
 * One door, two strategies behind it, tried in order:
 *   1. cgroup: a process whose /proc/<pid>/cgroup names the pod's UID (kubelet puts every
 *      container of a pod under "pod<uid>", with '-' or '_') runs in the pod's netns;
 *   2. address scan: the netns that holds one of the pod's IP addresses, among the files in
 *      /var/run/netns and every /proc/<pid>/ns/net (each namespace visited once).
 * A namespace found by cgroup must also hold a pod IP when the pod has any. The probing setns()
 * happens in a short-lived helper thread, so the caller's own namespace never changes.
 */
#ifndef AGENT_NETNS_H
#define AGENT_NETNS_H

#include "meta.h"

/* An open fd (O_RDONLY|O_CLOEXEC) of the pod's network namespace, for setns(fd, CLONE_NEWNET);
 * or -1 with err filled. */
int resolve_pod_netns(const struct ncap_pod_meta *pod, char *err);

#endif
