/* log.c - timestamped stderr lines and escaping of client-supplied text (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void agent_log(const char *fmt, ...)
{
    char msg[2048], stamp[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One fprintf call: stdio locks the stream, so lines from threads do not interleave. */
    fprintf(stderr, "%s.%03ldZ netcap-agent: %s\n", stamp, now.tv_nsec / 1000000, msg);
}

char *log_quote(const char *s, char *out, size_t size)
{
    size_t o = 0;
    if (size < 8) {
        if (size)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        int n;
        if (c == '"' || c == '\\')
            n = snprintf(esc, sizeof(esc), "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            n = snprintf(esc, sizeof(esc), "\\x%02x", c);
        else
            n = snprintf(esc, sizeof(esc), "%c", c);
        if (o + (size_t)n + 5 > size) {
            out[o++] = '.';
            out[o++] = '.';
            out[o++] = '.';
            break;
        }
        for (int i = 0; i < n; i++)
            out[o++] = esc[i];
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
