/*
 * platform_posix.c - platform.h for Linux and other POSIX systems.
 *
 * The stop handler is installed without SA_RESTART on purpose: a SIGTERM that arrives while the
 * extcap blocks in open() (waiting for dumpcap to open the fifo) or in write() (dumpcap is slow)
 * interrupts the call with EINTR, so the loops below notice the stop request at once.
 * SIGPIPE is ignored so that a fifo reader that goes away shows up as EPIPE.
 * Randomness comes from getrandom(2) (Linux, the BSDs), else from /dev/urandom.
 */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__)
#include <sys/random.h>
#define PLATFORM_HAVE_GETRANDOM 1
#endif

#include "ncap.h"

struct platform_fifo {
    int fd;
    long full_wait_ns; /* how long to wait when the pipe is full (see platform_fifo_write) */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int platform_init(char *err)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return ncap_fail(err, "cannot install the stop signal handler: %s", strerror(errno));

    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return ncap_fail(err, "cannot ignore SIGPIPE: %s", strerror(errno));
    return 0;
}

int platform_stop_requested(void)
{
    return stop_requested != 0;
}

#define FIFO_PIPE_SIZE (1024 * 1024)
/* Waits when the pipe is full: short enough that dumpcap, draining at 40 MB/s (60-byte frames)
 * to 400 MB/s (1514-byte frames) here, cannot empty a 1 MiB pipe meanwhile. */
#define FIFO_FULL_WAIT_NS 1000000L
#define FIFO_FULL_WAIT_SMALL_NS 100000L

enum platform_io platform_fifo_open(const char *path, struct platform_fifo **out, char *err)
{
    struct platform_fifo *fifo;
    int fd;

    for (;;) {
        if (stop_requested)
            return PLATFORM_IO_STOPPED;
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            break;
        if (errno != EINTR) {
            ncap_fail(err, "cannot open the Wireshark fifo %s: %s", path, strerror(errno));
            return PLATFORM_IO_ERROR;
        }
    }

#ifdef F_SETPIPE_SZ
    /* dumpcap reads a pcapng pipe one block at a time (a header, then the body). With the
     * default 64 KiB pipe every few blocks wake the other side, and at 1514-byte frames that
     * ping-pong, not either process's CPU, capped the stream at ~20 MB/s (bench/, 2 vCPUs).
     * A 1 MiB pipe (the unprivileged maximum by default) lets both run in long stretches.
     * Best effort: a smaller pipe still works. */
    if (fcntl(fd, F_SETPIPE_SZ, FIFO_PIPE_SIZE) < 0) {
        /* keep the size the system gave */
    }
#endif
    fifo = malloc(sizeof(*fifo));
    if (!fifo) {
        close(fd);
        ncap_fail(err, "out of memory");
        return PLATFORM_IO_ERROR;
    }
    fifo->fd = fd;
    fifo->full_wait_ns = FIFO_FULL_WAIT_SMALL_NS;
#ifdef F_GETPIPE_SZ
    if (fcntl(fd, F_GETPIPE_SZ) >= FIFO_PIPE_SIZE / 2)
        fifo->full_wait_ns = FIFO_FULL_WAIT_NS;
#endif
    /* Non-blocking, so that a full pipe is waited for by the clock (see platform_fifo_write).
     * The flag belongs to this open file only; dumpcap's end is untouched. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    *out = fifo;
    return PLATFORM_IO_OK;
}

enum platform_io platform_fifo_write(struct platform_fifo *fifo, const void *data, size_t len,
                                     char *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fifo->fd, p, len);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        /* The pipe is full. A blocking write would sleep until dumpcap frees one page, copy
         * that page and sleep again: a pair of context switches per 4 KiB, which cost the
         * extcap more CPU than all its other work together (perf, bench/capture.sh with
         * NETCAP_PERF). Waiting a fixed time lets dumpcap free a few hundred KiB first. */
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Checked before each wait, not only when a signal cuts the wait short: a stop
             * that arrives between write() and nanosleep() must not leave us waiting for a
             * reader that may never read again. */
            if (stop_requested)
                return PLATFORM_IO_STOPPED;
            struct timespec ts = {0, fifo->full_wait_ns};
            nanosleep(&ts, NULL);
            continue;
        }
        if (errno == EINTR) {
            if (stop_requested)
                return PLATFORM_IO_STOPPED;
            continue;
        }
        if (errno == EPIPE)
            return PLATFORM_IO_CLOSED;
        ncap_fail(err, "cannot write to the Wireshark fifo: %s", strerror(errno));
        return PLATFORM_IO_ERROR;
    }
    return PLATFORM_IO_OK;
}

void platform_fifo_close(struct platform_fifo *fifo)
{
    if (!fifo)
        return;
    close(fifo->fd);
    free(fifo);
}

const char *platform_socket_error_text(long code)
{
    return strerror((int)code);
}

/* Reads n bytes from /dev/urandom; 0, or -1 with err. */
static int urandom(unsigned char *p, size_t n, char *err)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return ncap_fail(err, "cannot open /dev/urandom: %s", strerror(errno));
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            int e = got < 0 ? errno : EIO;
            close(fd);
            return ncap_fail(err, "cannot read /dev/urandom: %s", strerror(e));
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return 0;
}

int platform_random(void *buf, size_t n, char *err)
{
    unsigned char *p = buf;

#ifdef PLATFORM_HAVE_GETRANDOM
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOSYS)
                return urandom(p, n, err);
            return ncap_fail(err, "the system gave no random bytes: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
#else
    return urandom(p, n, err);
#endif
}

int platform_cache_dir(char *buf, size_t size, char *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int len;

    /* The XDG base directory spec: a relative $XDG_CACHE_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/')
        len = snprintf(buf, size, "%s/netcap", xdg);
    else if (home && home[0] != '\0')
        len = snprintf(buf, size, "%s/.cache/netcap", home);
    else
        return ncap_fail(err, "neither XDG_CACHE_HOME nor HOME is set");
    if (len < 0 || (size_t)len >= size)
        return ncap_fail(err, "the cache directory path is too long");
    return 0;
}
