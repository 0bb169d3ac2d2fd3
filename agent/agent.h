/*
 * agent.h - what the whole agent shares once it has started: who may capture, which pods exist.
 * Filled by main.c from the command line, read (never written) by every request thereafter.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include "auth.h"
#include "podtable.h"

struct agent {
    struct auth_table auth;
    struct podtable pods;
};

#endif
