/*
 * selector.h - Kubernetes label selectors, as a PodCapture's spec.selector gives them.
 *
 * The text form kubectl accepts: requirements separated by commas, all of which must hold:
 *     app=web   app==web   tier!=cache   canary   !canary   env in (prod,staging)
 *     env notin (dev)
 * `k!=v` and `notin` also match pods without the label, as in Kubernetes. An empty selector
 * matches nothing here (a PodCapture must name what it captures).
 */
#ifndef AGENT_SELECTOR_H
#define AGENT_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "meta.h"

struct selector;

/* Parse text; NULL with err naming the bad requirement. */
struct selector *selector_parse(const char *text, char *err);
void selector_free(struct selector *s);

bool selector_matches(const struct selector *s, const struct ncap_pod_meta *pod);

#endif
