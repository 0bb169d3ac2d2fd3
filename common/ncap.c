/* ncap.c - the error-buffer helper shared by all modules (see ncap.h). */
#include "ncap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ncap_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, NCAP_ERRBUF_SIZE, fmt, ap);
        va_end(ap);
    }
    return -1;
}

char *ncap_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *ncap_strdup(const char *s)
{
    return s ? ncap_strndup(s, strlen(s)) : NULL;
}
