/*
 * debuglog.c - a timestamped, line-buffered log file (see debuglog.h).
 *
 * Without --log-file every call is a no-op, so the capture path can log freely. Each line is
 * flushed at once (line buffering is full buffering on Windows): a log is most needed when the
 * process is killed.
 */
#include "debuglog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ncap.h"

static const char *const level_names[] = {"message", "info", "debug", "noisy"};

static FILE *log_file;
static enum debuglog_level log_level = DEBUGLOG_MESSAGE;

int debuglog_level_parse(const char *name, enum debuglog_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum debuglog_level)i;
            return 0;
        }
    }
    return -1;
}

int debuglog_open(const char *path, enum debuglog_level level, char *err)
{
    FILE *f = fopen(path, "a");

    if (!f)
        return ncap_fail(err, "cannot open the log file %s: %s", path, strerror(errno));
    debuglog_close();
    log_file = f;
    log_level = level;
    return 0;
}

void debuglog(enum debuglog_level level, const char *fmt, ...)
{
    char stamp[32] = "";
    time_t now;
    struct tm *tm;
    va_list ap;

    if (!log_file || level > log_level)
        return;
    now = time(NULL);
    tm = gmtime(&now);
    if (tm)
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", tm);
    fprintf(log_file, "%s netcap-extcap [%s] ", stamp, level_names[level]);
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
}

void debuglog_close(void)
{
    if (log_file) {
        fclose(log_file);
        log_file = NULL;
    }
}
