/*
 * agent.h - what the whole agent shares once it has started: who may capture, which pods exist.
 * Filled by main.c from the command line, read (never written) by every request thereafter;
 * the pod table inside changes, but only through its own lock (podtable.h).
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include "auth.h"
#include "cluster.h"
#include "nslist.h"
#include "podtable.h"
#include "policy.h"

struct agent {
    struct auth_table auth;  /* direct mode: empty when there is no --token-auth-file */
    struct podsource pods;   /* the pods file and/or the Kubernetes watches */
    struct nslist excluded;  /* --exclude-namespaces, refused in both modes */
    struct cluster *cluster; /* cluster mode; NULL outside a cluster */
    struct policy policy;    /* direct mode: --policy-file (not loaded = no restriction) */
    const char *client_ca;   /* --client-ca given: client certificates are checked */
};

#endif
