/*
 * policy.h - direct mode's authorization: which identity may capture in which namespaces.
 *
 * `--policy-file FILE` is JSON:
 *     {"users":  {"alice": ["shop", "web"], "ops-bot": ["*"]},
 *      "groups": {"sre": ["*"]}}
 * An identity (a token's user, or a client certificate's CN with its O values as groups) may
 * capture in a namespace when a rule for its user or one of its groups lists that namespace or
 * "*". Without a policy file every authenticated identity may capture everywhere (the token file
 * is then the whole policy), as before. Excluded namespaces stay excluded whatever it says.
 */
#ifndef AGENT_POLICY_H
#define AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct policy_rule {
    char *name;
    bool group;
    char **namespaces; /* "*" = all */
    size_t n;
};

struct policy {
    bool loaded;
    struct policy_rule *rules;
    size_t n;
};

/* 0, or -1 with err naming the file and the offending entry. */
int policy_load(struct policy *p, const char *path, char *err);
void policy_free(struct policy *p);

/* groups: NUL-separated list ending in an empty string (or NULL). */
bool policy_allows(const struct policy *p, const char *user, const char *groups, const char *ns);

#endif
