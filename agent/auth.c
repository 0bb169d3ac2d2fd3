/*
 * auth.c - the static token file and the bearer check (see auth.h).
 *
 * The CSV reader follows what kube-apiserver accepts: comma-separated fields, a field may be
 * double-quoted (and then hold commas, and "" for a quote), at least three fields a record, blank
 * lines skipped. Records spanning lines are not supported.
 */
#include "auth.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ncap.h"

#define MAX_FIELDS 4

static void sha256(const char *s, size_t len, uint8_t out[32])
{
    gnutls_hash_fast(GNUTLS_DIG_SHA256, s, len, out);
}

/*
 * Split one line into fields in place. Returns the number of fields, or -1 with err on a
 * malformed quote. Fields beyond MAX_FIELDS are counted but not stored.
 */
static int split_csv(char *line, char *fields[MAX_FIELDS], char *err)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return ncap_fail(err, "a quoted field is not closed");
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            if (*p != ',' && *p != '\0')
                return ncap_fail(err, "a quoted field is followed by text before the comma");
        } else {
            while (*p && *p != ',') {
                if (*p == '"')
                    return ncap_fail(err, "a quote appears inside an unquoted field");
                *out++ = *p++;
            }
        }
        char sep = *p;
        *out = '\0';
        if (n < MAX_FIELDS)
            fields[n] = start;
        n++;
        if (sep == '\0')
            return n;
        p++;
    }
}

static int add_entry(struct auth_table *t, const char *token, const char *user)
{
    struct auth_entry *e = realloc(t->entries, (t->n + 1) * sizeof(*e));
    if (!e)
        return -1;
    t->entries = e;
    sha256(token, strlen(token), e[t->n].digest);
    if (!(e[t->n].user = strdup(user)))
        return -1;
    t->n++;
    return 0;
}

int auth_load(struct auth_table *t, const char *path, char *err)
{
    memset(t, 0, sizeof(*t));
    FILE *f = fopen(path, "re");
    if (!f)
        return ncap_fail(err, "cannot read the token file %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *fields[MAX_FIELDS], why[NCAP_ERRBUF_SIZE];
        int n = split_csv(line, fields, why);
        if (n < 0)
            rc = ncap_fail(err, "token file %s line %zu: %s", path, lineno, why);
        else if (n < 3)
            rc = ncap_fail(err, "token file %s line %zu has %d fields, expected token,user,uid",
                           path, lineno, n);
        else if (!*fields[0])
            rc = ncap_fail(err, "token file %s line %zu has an empty token", path, lineno);
        else if (!*fields[1])
            rc = ncap_fail(err, "token file %s line %zu has an empty user name", path, lineno);
        else if (add_entry(t, fields[0], fields[1]) < 0)
            rc = ncap_fail(err, "out of memory reading the token file %s", path);
        /* Do not leave the token in a freed heap block. */
        explicit_bzero(line, cap);
    }
    if (rc == 0 && ferror(f))
        rc = ncap_fail(err, "cannot read the token file %s: %s", path, strerror(errno));
    if (rc == 0 && t->n == 0)
        rc = ncap_fail(err, "token file %s holds no tokens", path);
    free(line);
    fclose(f);
    if (rc < 0)
        auth_free(t);
    return rc;
}

void auth_free(struct auth_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->entries[i].user);
    free(t->entries);
    memset(t, 0, sizeof(*t));
}

const char *auth_check(const struct auth_table *t, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    while (len && tok[len - 1] == ' ')
        len--;
    if (!len)
        return NULL;
    uint8_t d[32];
    sha256(tok, len, d);
    /* Visit every entry and every byte whatever matches, so timing says nothing. */
    const char *user = NULL;
    for (size_t i = 0; i < t->n; i++) {
        uint8_t diff = 0;
        for (size_t j = 0; j < sizeof(d); j++)
            diff |= d[j] ^ t->entries[i].digest[j];
        if (diff == 0 && !user)
            user = t->entries[i].user;
    }
    explicit_bzero(d, sizeof(d));
    return user;
}
