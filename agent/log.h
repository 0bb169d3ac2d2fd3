/*
 * log.h - the agent's stderr log: one line per event, "<UTC time> netcap-agent: <sentence>".
 *
 * Captures are audited here (who, what, how much, why it ended). Nothing that came from a
 * client is printed raw: log_quote() escapes it, so a filter or a pod name cannot forge lines.
 * Tokens and keys are never passed to these functions.
 */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stddef.h>

__attribute__((format(printf, 1, 2))) void agent_log(const char *fmt, ...);

/* Copy s into out[size] as a double-quoted string with \", \\ and \xNN escapes; truncates with
 * "..." when it does not fit. Returns out. */
char *log_quote(const char *s, char *out, size_t size);

#endif
