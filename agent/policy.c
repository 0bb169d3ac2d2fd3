/* policy.c - direct mode's namespace policy (see policy.h). */
#include "policy.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

#define POLICY_FILE_MAX (1024 * 1024)

static int add_rules(struct policy *p, const cJSON *obj, bool group, const char *path, char *err)
{
    const char *what = group ? "groups" : "users";
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj))
        return ncap_fail(err, "policy file %s: \"%s\" must be an object", path, what);
    const cJSON *e;
    cJSON_ArrayForEach(e, obj)
    {
        if (!cJSON_IsArray(e))
            return ncap_fail(err, "policy file %s: %s.%s must be a list of namespaces", path,
                             what, e->string);
        struct policy_rule *v = realloc(p->rules, (p->n + 1) * sizeof(*v));
        if (!v)
            return ncap_fail(err, "out of memory");
        p->rules = v;
        struct policy_rule *r = &p->rules[p->n++];
        memset(r, 0, sizeof(*r));
        r->group = group;
        if (!(r->name = strdup(e->string)))
            return ncap_fail(err, "out of memory");
        const cJSON *ns;
        cJSON_ArrayForEach(ns, e)
        {
            if (!cJSON_IsString(ns) || !*ns->valuestring)
                return ncap_fail(err, "policy file %s: %s.%s holds a value that is not a "
                                      "namespace name",
                                 path, what, e->string);
            char **nv = realloc(r->namespaces, (r->n + 1) * sizeof(*nv));
            if (!nv)
                return ncap_fail(err, "out of memory");
            r->namespaces = nv;
            if (!(r->namespaces[r->n] = strdup(ns->valuestring)))
                return ncap_fail(err, "out of memory");
            r->n++;
        }
    }
    return 0;
}

int policy_load(struct policy *p, const char *path, char *err)
{
    memset(p, 0, sizeof(*p));
    FILE *f = fopen(path, "rb");
    if (!f)
        return ncap_fail(err, "cannot open the policy file %s", path);
    char *text = malloc(POLICY_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, POLICY_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!text)
        return ncap_fail(err, "out of memory");
    if (n > POLICY_FILE_MAX) {
        free(text);
        return ncap_fail(err, "the policy file %s is larger than %d bytes", path,
                         POLICY_FILE_MAX);
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = ncap_fail(err, "the policy file %s is not a JSON object", path);
    } else {
        const cJSON *e;
        cJSON_ArrayForEach(e, root)
        {
            if (strcmp(e->string, "users") != 0 && strcmp(e->string, "groups") != 0) {
                rc = ncap_fail(err, "policy file %s: unknown key \"%.64s\" (users, groups)",
                               path, e->string);
                break;
            }
        }
        if (rc == 0)
            rc = add_rules(p, cJSON_GetObjectItemCaseSensitive(root, "users"), false, path, err);
        if (rc == 0)
            rc = add_rules(p, cJSON_GetObjectItemCaseSensitive(root, "groups"), true, path, err);
    }
    cJSON_Delete(root);
    if (rc < 0)
        policy_free(p);
    else
        p->loaded = true;
    return rc;
}

void policy_free(struct policy *p)
{
    for (size_t i = 0; i < p->n; i++) {
        for (size_t j = 0; j < p->rules[i].n; j++)
            free(p->rules[i].namespaces[j]);
        free(p->rules[i].namespaces);
        free(p->rules[i].name);
    }
    free(p->rules);
    memset(p, 0, sizeof(*p));
}

static bool in_groups(const char *groups, const char *name)
{
    for (const char *g = groups; g && *g; g += strlen(g) + 1)
        if (strcmp(g, name) == 0)
            return true;
    return false;
}

bool policy_allows(const struct policy *p, const char *user, const char *groups, const char *ns)
{
    if (!p->loaded)
        return true;
    for (size_t i = 0; i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        if (r->group ? !in_groups(groups, r->name) : strcmp(r->name, user) != 0)
            continue;
        for (size_t j = 0; j < r->n; j++)
            if (strcmp(r->namespaces[j], "*") == 0 || strcmp(r->namespaces[j], ns) == 0)
                return true;
    }
    return false;
}
