/*
 * platform.h - the few things the extcap needs from the operating system.
 *
 * Wireshark hands the extcap a fifo (a named pipe on Windows) to write pcapng into, and stops
 * a capture with a signal (SIGTERM on POSIX). Everything else in the extcap is portable C on
 * libcurl and cJSON; this header is the only door to the platform, implemented once per
 * system: platform_posix.c, and platform_win32.c (named pipe, console control events,
 * BCryptGenRandom, %LOCALAPPDATA%\netcap; Wireshark on Windows ends an extcap with
 * TerminateProcess, which no handler sees).
 *
 * Besides the fifo and the stop request: randomness for the PodCapture stream key, and the
 * per-user cache directory where exec credential plugins' answers are kept.
 *
 * Stop handling: platform_init() arranges for SIGTERM/SIGINT to set a flag that
 * platform_stop_requested() reads, and for a vanished fifo reader (SIGPIPE/EPIPE) to surface
 * as PLATFORM_IO_CLOSED instead of killing the process. Blocking calls here return
 * PLATFORM_IO_STOPPED when a stop request interrupts them.
 */
#ifndef NETCAP_EXTCAP_PLATFORM_H
#define NETCAP_EXTCAP_PLATFORM_H

#include <stddef.h>

enum platform_io {
    PLATFORM_IO_OK = 0,
    PLATFORM_IO_ERROR = -1,   /* err holds a sentence */
    PLATFORM_IO_CLOSED = -2,  /* the reader went away: a normal end of capture */
    PLATFORM_IO_STOPPED = -3, /* a stop request interrupted the call */
};

struct platform_fifo;

/* Install the stop and broken-pipe handling described above. */
int platform_init(char *err);

/* Nonzero once Wireshark (or the user) asked the capture to stop. */
int platform_stop_requested(void);

/* Open Wireshark's fifo for writing; blocks until the reading end is open. */
enum platform_io platform_fifo_open(const char *path, struct platform_fifo **out, char *err);

/* Write all len bytes, retrying partial and interrupted writes. */
enum platform_io platform_fifo_write(struct platform_fifo *fifo, const void *data, size_t len,
                                     char *err);

void platform_fifo_close(struct platform_fifo *fifo);

/* Fill buf with n bytes from the operating system's cryptographic random source. 0, or -1
 * with err. */
int platform_random(void *buf, size_t n, char *err);

/* The extcap's per-user cache directory (on POSIX $XDG_CACHE_HOME/netcap, else
 * ~/.cache/netcap) into buf; it may not exist yet. 0, or -1 with err when there is no home. */
int platform_cache_dir(char *buf, size_t size, char *err);

/* Describe a socket-level error code (as libcurl's CURLINFO_OS_ERRNO reports it) in words. */
const char *platform_socket_error_text(long code);

#endif
