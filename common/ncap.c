/* ncap.c - the error-buffer helper shared by all modules (see ncap.h). */
#include "ncap.h"

#include <stdio.h>

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
