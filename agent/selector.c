/* selector.c - parse and match label selectors (see selector.h). */
#include "selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

#define MAX_REQUIREMENTS 32
#define MAX_VALUES 32
#define MAX_KEY 317 /* prefix (253) + '/' + name (63) */
#define MAX_VALUE 63

enum op { OP_EQ, OP_NE, OP_EXISTS, OP_NOT_EXISTS, OP_IN, OP_NOTIN };

struct requirement {
    enum op op;
    char *key;
    char *values[MAX_VALUES]; /* one for = and !=, several for in/notin */
    size_t n_values;
};

struct selector {
    struct requirement reqs[MAX_REQUIREMENTS];
    size_t n;
};

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '/';
}

static bool value_char(char c)
{
    return c != '/' && key_char(c);
}

static char *trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

static int check_key(const char *k, const char *req, char *err)
{
    size_t n = strlen(k);
    if (n == 0)
        return ncap_fail(err, "the selector requirement \"%s\" has no label key", req);
    if (n > MAX_KEY)
        return ncap_fail(err, "the selector requirement \"%s\" has too long a label key", req);
    for (const char *p = k; *p; p++)
        if (!key_char(*p))
            return ncap_fail(err, "the label key \"%s\" in the selector is not valid", k);
    return 0;
}

static int check_value(const char *v, char *err)
{
    if (strlen(v) > MAX_VALUE)
        return ncap_fail(err, "the label value \"%s\" in the selector is longer than %d", v,
                         MAX_VALUE);
    for (const char *p = v; *p; p++)
        if (!value_char(*p))
            return ncap_fail(err, "the label value \"%s\" in the selector is not valid", v);
    return 0;
}

static int add_value(struct requirement *r, const char *s, size_t n, const char *req, char *err)
{
    if (r->n_values == MAX_VALUES)
        return ncap_fail(err, "the selector requirement \"%s\" lists more than %d values", req,
                         MAX_VALUES);
    char *v = trimmed(s, n);
    if (!v)
        return ncap_fail(err, "out of memory");
    r->values[r->n_values++] = v;
    return check_value(v, err);
}

/* "key in (a,b)" / "key notin (a)"; 1 when req is of that form (parsed), 0 when it is not. */
static int parse_set(struct requirement *r, const char *req, char *err)
{
    const char *open = strchr(req, '(');
    if (!open)
        return 0;
    size_t len = strlen(req);
    if (req[len - 1] != ')')
        return ncap_fail(err, "the selector requirement \"%s\" does not end with ')'", req);
    /* The word before '(' is the operator, the text before it the key. */
    const char *op_end = open;
    while (op_end > req && op_end[-1] == ' ')
        op_end--;
    const char *op = op_end;
    while (op > req && op[-1] != ' ')
        op--;
    size_t op_len = (size_t)(op_end - op);
    if (op_len == 2 && strncmp(op, "in", 2) == 0)
        r->op = OP_IN;
    else if (op_len == 5 && strncmp(op, "notin", 5) == 0)
        r->op = OP_NOTIN;
    else
        return ncap_fail(err, "the selector requirement \"%s\" has no 'in' or 'notin' before '('",
                         req);
    if (!(r->key = trimmed(req, (size_t)(op - req))))
        return ncap_fail(err, "out of memory");
    if (check_key(r->key, req, err) < 0)
        return -1;
    const char *p = open + 1, *end = req + len - 1;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (add_value(r, p, (size_t)(stop - p), req, err) < 0)
            return -1;
        p = stop + 1;
    }
    for (size_t i = 0; i < r->n_values; i++)
        if (!*r->values[i])
            return ncap_fail(err, "the selector requirement \"%s\" has an empty value", req);
    return 1;
}

static int parse_requirement(struct requirement *r, const char *req, char *err)
{
    int set = parse_set(r, req, err);
    if (set != 0)
        return set < 0 ? -1 : 0;
    const char *eq = strchr(req, '=');
    if (eq) {
        const char *key_end = eq, *val = eq + 1;
        if (eq > req && eq[-1] == '!') {
            r->op = OP_NE;
            key_end = eq - 1;
        } else {
            r->op = OP_EQ;
            if (*val == '=')
                val++;
        }
        if (!(r->key = trimmed(req, (size_t)(key_end - req))))
            return ncap_fail(err, "out of memory");
        if (check_key(r->key, req, err) < 0)
            return -1;
        return add_value(r, val, strlen(val), req, err);
    }
    r->op = OP_EXISTS;
    const char *k = req;
    if (*k == '!') {
        r->op = OP_NOT_EXISTS;
        k++;
    }
    if (!(r->key = trimmed(k, strlen(k))))
        return ncap_fail(err, "out of memory");
    return check_key(r->key, req, err);
}

struct selector *selector_parse(const char *text, char *err)
{
    struct selector *s = calloc(1, sizeof(*s));
    if (!s) {
        ncap_fail(err, "out of memory");
        return NULL;
    }
    const char *p = text;
    int rc = 0;
    while (rc == 0 && *p) {
        /* A requirement ends at a comma outside parentheses. */
        const char *q = p;
        int depth = 0;
        for (; *q && (*q != ',' || depth); q++)
            depth += *q == '(' ? 1 : *q == ')' ? -1 : 0;
        char *req = trimmed(p, (size_t)(q - p));
        if (!req)
            rc = ncap_fail(err, "out of memory");
        else if (!*req)
            rc = ncap_fail(err, "the selector \"%s\" has an empty requirement", text);
        else if (s->n == MAX_REQUIREMENTS)
            rc = ncap_fail(err, "the selector has more than %d requirements", MAX_REQUIREMENTS);
        else
            rc = parse_requirement(&s->reqs[s->n++], req, err);
        free(req);
        p = *q ? q + 1 : q;
        if (rc == 0 && *q == ',' && !*p)
            rc = ncap_fail(err, "the selector \"%s\" ends with a comma", text);
    }
    if (rc == 0 && s->n == 0)
        rc = ncap_fail(err, "the selector is empty");
    if (rc < 0) {
        selector_free(s);
        return NULL;
    }
    return s;
}

void selector_free(struct selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->reqs[i].key);
        for (size_t j = 0; j < s->reqs[i].n_values; j++)
            free(s->reqs[i].values[j]);
    }
    free(s);
}

static bool in_values(const struct requirement *r, const char *v)
{
    for (size_t i = 0; v && i < r->n_values; i++)
        if (strcmp(r->values[i], v) == 0)
            return true;
    return false;
}

bool selector_matches(const struct selector *s, const struct ncap_pod_meta *pod)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct requirement *r = &s->reqs[i];
        const char *v = ncap_meta_label(pod, r->key);
        bool ok;
        switch (r->op) {
        case OP_EQ:
        case OP_IN:
            ok = in_values(r, v);
            break;
        case OP_NE:
        case OP_NOTIN:
            ok = !in_values(r, v);
            break;
        case OP_EXISTS:
            ok = v != NULL;
            break;
        default:
            ok = v == NULL;
            break;
        }
        if (!ok)
            return false;
    }
    return s->n > 0;
}
