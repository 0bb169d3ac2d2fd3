/*
 * ncap.h - constants every netcap component agrees on.
 *
 * The wire format (DESIGN.md §2) is shared by the agent that writes it, the extcap that forwards
 * it, the dissector that decodes it and the tests that check it. Everything here is API: a value
 * that changes breaks files already written.
 *
 * Error convention (as libpcap's errbuf): functions that can fail take `char *err` pointing to
 * NCAP_ERRBUF_SIZE bytes, fill it with one sentence (no trailing period, no newline) and return
 * -1 (or NULL). On success they return >= 0 and leave err untouched.
 */
#ifndef NCAP_H
#define NCAP_H

#include <stdarg.h>
#include <stddef.h>

#define NCAP_ERRBUF_SIZE 512

#ifndef NCAP_VERSION
#define NCAP_VERSION "0.1.0"
#endif

/* Private Enterprise Number for the EPB custom option. 32473 is RFC 5612's documentation PEN,
 * used until one is registered with IANA. */
#define NCAP_PEN 32473u
/* pcapng custom option code: binary, may be copied (survives editcap and "Save As"). */
#define NCAP_OPT_CUSTOM_BIN 2989u

/* Version of the IDB if_description JSON ("v") and of the EPB TLV record. */
#define NCAP_META_VERSION 1
#define NCAP_TLV_VERSION 1

/* veth carries GSO super-frames of tens of kilobytes; Wireshark's limit is 262144. */
#define NCAP_SNAPLEN_DEFAULT 262144u
#define NCAP_SNAPLEN_MAX 262144u

#define NCAP_LINKTYPE_ETHERNET 1
#define NCAP_LINKTYPE_LINUX_SLL2 276

/* epb_flags direction bits (pcapng spec: bits 0-1). */
#define NCAP_DIR_UNKNOWN 0u
#define NCAP_DIR_IN 1u
#define NCAP_DIR_OUT 2u

/* printf-style format checking. mingw-w64 builds C11 code with its own C99 printf family
 * (__USE_MINGW_ANSI_STDIO), so formats there are GNU's; GCC's plain "printf" archetype would
 * check them as msvcrt's, which has no %zu. */
#if defined(__MINGW32__)
#define NCAP_PRINTF(fmt, first) __attribute__((format(gnu_printf, fmt, first)))
#elif defined(__GNUC__)
#define NCAP_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define NCAP_PRINTF(fmt, first)
#endif

/* Fill err with a formatted sentence. Returns -1 so callers can `return ncap_fail(err, ...)`. */
NCAP_PRINTF(2, 3)
int ncap_fail(char *err, const char *fmt, ...);

/* malloc'd copy of the first n bytes of s plus a NUL (mingw has no strndup); NULL on ENOMEM. */
char *ncap_strndup(const char *s, size_t n);
/* malloc'd copy of s; NULL for NULL or on ENOMEM. */
char *ncap_strdup(const char *s);

#endif
