/*
 * targets.h - from what the user asked for to the nodes to stream from, through the
 * Kubernetes API.
 *
 * The targets are one pod by name, or every pod a label selector matches, in one namespace;
 * only pods that run (phase Running) on a node count. They are grouped by node, because one
 * agent per node streams all of that node's target pods. Then each node gets its agent: the
 * pod on that node among the agent pods (--agent-namespace, --agent-selector), reached on its
 * container port named "https", else 9443 (API.md, "Agent discovery").
 */
#ifndef NETCAP_EXTCAP_TARGETS_H
#define NETCAP_EXTCAP_TARGETS_H

#include <stddef.h>

#include "kube.h"

#define TARGETS_AGENT_PORT_DEFAULT 9443L

struct target_node {
    char *name;
    size_t n_pods;   /* target pods on this node */
    char *agent_pod; /* NULL when no agent runs on this node */
    long agent_port;
};

struct targets {
    struct target_node *nodes;
    size_t n_nodes;
    size_t n_pods;
};

/* Checks that name is a valid Kubernetes object name (what is "namespace" or "pod"), so that it
 * can go into a request path as it is. 0, or -1 with a sentence naming it. */
int targets_check_name(const char *what, const char *name, char *err);

/* Finds the target pods (pod, or else selector) in namespace ns and groups them by node; t is
 * zeroed first. 0, or -1 with err, e.g. "pod shop/nope not found" or
 * "no pod in shop matches app=frontend". */
int targets_resolve(struct ncap_kube *k, const char *ns, const char *pod, const char *selector,
                    long timeout_ms, struct targets *t, char *err);

/* Fills in the agent of each node. Returns 0 when at least one node has an agent (the others
 * keep agent_pod NULL), or -1 with err when none has, or the agents cannot be listed. */
int targets_find_agents(struct ncap_kube *k, const char *agent_ns, const char *agent_selector,
                        long timeout_ms, struct targets *t, char *err);

void targets_free(struct targets *t);

#endif
