/*
 * auth.h - bearer tokens from a kube-apiserver static token file (--token-auth-file).
 *
 * The file is CSV, one identity a line: `token,user,uid[,"group1,group2"]`. Only SHA-256 digests
 * of the tokens are kept in memory, and a presented token is compared against every entry in
 * constant time, so neither the comparison's timing nor a memory dump gives a token away.
 */
#ifndef AGENT_AUTH_H
#define AGENT_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct auth_entry {
    uint8_t digest[32];
    char *user;
};

struct auth_table {
    struct auth_entry *entries;
    size_t n;
};

/* 0, or -1 with err naming the file and line. */
int auth_load(struct auth_table *t, const char *path, char *err);
void auth_free(struct auth_table *t);

/* The user name for an Authorization header value ("Bearer <token>"), or NULL. */
const char *auth_check(const struct auth_table *t, const char *authorization);

#endif
