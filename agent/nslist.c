/* nslist.c - the excluded namespaces (see nslist.h). */
#include "nslist.h"

#include <stdlib.h>
#include <string.h>

#include "ncap.h"

static bool valid_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int nslist_parse(struct nslist *l, const char *csv, char *err)
{
    memset(l, 0, sizeof(*l));
    const char *p = csv;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (b > a) {
            if (!valid_label(a, (size_t)(b - a))) {
                nslist_free(l);
                return ncap_fail(err, "--exclude-namespaces: \"%.*s\" is not a namespace name",
                                 (int)(b - a), a);
            }
            char **v = realloc(l->names, (l->n + 1) * sizeof(*v));
            char *name = v ? strndup(a, (size_t)(b - a)) : NULL;
            if (v)
                l->names = v;
            if (!name) {
                nslist_free(l);
                return ncap_fail(err, "out of memory");
            }
            l->names[l->n++] = name;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

bool nslist_has(const struct nslist *l, const char *namespace_)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], namespace_) == 0)
            return true;
    return false;
}

void nslist_free(struct nslist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof(*l));
}
