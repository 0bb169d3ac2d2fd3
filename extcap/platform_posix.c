/*
 * platform_posix.c - platform.h for Linux and other POSIX systems.
 *
 * The stop handler is installed without SA_RESTART on purpose: a SIGTERM that arrives while the
 * extcap blocks in open() (waiting for dumpcap to open the fifo) or in write() (dumpcap is slow)
 * interrupts the call with EINTR, so the loops below notice the stop request at once.
 * SIGPIPE is ignored so that a fifo reader that goes away shows up as EPIPE.
 */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncap.h"

struct platform_fifo {
    int fd;
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

    fifo = malloc(sizeof(*fifo));
    if (!fifo) {
        close(fd);
        ncap_fail(err, "out of memory");
        return PLATFORM_IO_ERROR;
    }
    fifo->fd = fd;
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
