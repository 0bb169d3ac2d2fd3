/*
 * debuglog.h - the optional debug log selected with --log-file and --log-level.
 *
 * stderr is reserved for the one error sentence Wireshark shows the user, so diagnostics go to a
 * file the user names, or nowhere. The levels are those of Wireshark's bundled extcaps. Nothing
 * secret is ever logged: callers pass paths and URLs, never token contents.
 */
#ifndef NETCAP_EXTCAP_DEBUGLOG_H
#define NETCAP_EXTCAP_DEBUGLOG_H

#include "ncap.h" /* NCAP_PRINTF */

enum debuglog_level {
    DEBUGLOG_MESSAGE,
    DEBUGLOG_INFO,
    DEBUGLOG_DEBUG,
    DEBUGLOG_NOISY,
};

/* "message", "info", "debug" or "noisy" (as offered in --extcap-config); -1 if unknown. */
int debuglog_level_parse(const char *name, enum debuglog_level *out);

/* Append to path from now on, keeping lines at or below level. */
int debuglog_open(const char *path, enum debuglog_level level, char *err);

NCAP_PRINTF(2, 3)
void debuglog(enum debuglog_level level, const char *fmt, ...);

void debuglog_close(void);

#endif
