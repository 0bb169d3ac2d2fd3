/*
 * nslist.h - namespaces no capture may touch (--exclude-namespaces), whoever asks and however.
 */
#ifndef AGENT_NSLIST_H
#define AGENT_NSLIST_H

#include <stdbool.h>
#include <stddef.h>

struct nslist {
    char **names;
    size_t n;
};

/* "a,b,c" (spaces around names ignored, empty list allowed). 0, or -1 with err. */
int nslist_parse(struct nslist *l, const char *csv, char *err);
bool nslist_has(const struct nslist *l, const char *namespace_);
void nslist_free(struct nslist *l);

#endif
