/*
 * test_fifo.c - the extcap's writer into Wireshark's fifo (extcap/platform_posix.c), against a
 * real named pipe: a reader slower than the writer gets every byte in order (the writer waits
 * out a full pipe by the clock); a stop request ends a write the reader no longer takes, also
 * when it arrives while no wait is in progress; a reader that goes away shows as CLOSED.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "ncap.h"
#include "platform.h"

#define TOTAL (6u << 20) /* six times the 1 MiB pipe */

static char fifo_path[256];

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 131u + (i >> 12));
}

struct reader {
    int slow;   /* sleep between reads */
    int stall;  /* open, read nothing, until told to go */
    size_t got; /* bytes read */
    int bad;    /* a byte out of order */
    volatile int go;
};

static void *read_fifo(void *arg)
{
    struct reader *r = arg;
    int fd = open(fifo_path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    while (r->stall && !r->go)
        usleep(1000);
    if (r->stall) {
        close(fd);
        return NULL;
    }
    static uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            r->bad |= buf[i] != pattern(r->got + (size_t)i);
        r->got += (size_t)n;
        if (r->slow)
            usleep(2000);
    }
    close(fd);
    return NULL;
}

static uint8_t *data(void)
{
    uint8_t *d = malloc(TOTAL);
    g_assert_nonnull(d);
    for (size_t i = 0; i < TOTAL; i++)
        d[i] = pattern(i);
    return d;
}

static void test_slow_reader_gets_everything(void)
{
    struct reader r = {.slow = 1};
    pthread_t th;
    pthread_create(&th, NULL, read_fifo, &r);
    struct platform_fifo *f;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(platform_fifo_open(fifo_path, &f, err), ==, PLATFORM_IO_OK);
    uint8_t *d = data();
    /* in pieces, as the extcap writes: small blocks and long runs */
    size_t off = 0, step = 100;
    while (off < TOTAL) {
        size_t n = step < TOTAL - off ? step : TOTAL - off;
        g_assert_cmpint(platform_fifo_write(f, d + off, n, err), ==, PLATFORM_IO_OK);
        off += n;
        step = step == 100 ? 700000 : 100;
    }
    platform_fifo_close(f);
    pthread_join(th, NULL);
    g_assert_cmpuint(r.got, ==, TOTAL);
    g_assert_false(r.bad);
    free(d);
}

static void *stop_later(void *arg)
{
    (void)arg;
    usleep(200000);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void test_stop_ends_a_write_nobody_reads(void)
{
    struct reader r = {.stall = 1};
    pthread_t th, killer;
    pthread_create(&th, NULL, read_fifo, &r);
    struct platform_fifo *f;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(platform_fifo_open(fifo_path, &f, err), ==, PLATFORM_IO_OK);
    uint8_t *d = data();
    /* The signal goes to the process; whichever thread takes it, the flag is set. Whether it
     * lands during a wait or between write() and the next wait, the write must end. */
    pthread_create(&killer, NULL, stop_later, NULL);
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(platform_fifo_write(f, d, TOTAL, err), ==, PLATFORM_IO_STOPPED);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    g_assert_true(platform_stop_requested());
    pthread_join(killer, NULL);
    /* A stop that came before the write (while the extcap was elsewhere): the pipe is full,
     * and no signal will cut a wait short any more. The write must end at once, not wait for
     * a reader that never reads (alarm: a hang fails the test instead of blocking it). */
    alarm(10);
    g_assert_cmpint(platform_fifo_write(f, d, TOTAL, err), ==, PLATFORM_IO_STOPPED);
    alarm(0);
    r.go = 1;
    pthread_join(th, NULL);
    platform_fifo_close(f);
    free(d);
}

static void test_reader_gone_is_closed(void)
{
    struct reader r = {.stall = 1, .go = 1};
    pthread_t th;
    pthread_create(&th, NULL, read_fifo, &r);
    struct platform_fifo *f;
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(platform_fifo_open(fifo_path, &f, err), ==, PLATFORM_IO_OK);
    pthread_join(th, NULL); /* opened and closed without reading */
    uint8_t b[16] = {0};
    g_assert_cmpint(platform_fifo_write(f, b, sizeof(b), err), ==, PLATFORM_IO_CLOSED);
    platform_fifo_close(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    char err[NCAP_ERRBUF_SIZE];
    g_assert_cmpint(platform_init(err), ==, 0);
    char dir[] = "/tmp/netcap-fifo-XXXXXX";
    g_assert_nonnull(mkdtemp(dir));
    snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
    g_assert_cmpint(mkfifo(fifo_path, 0600), ==, 0);
    g_test_add_func("/fifo/slow-reader", test_slow_reader_gets_everything);
    /* last: after a stop request the extcap opens nothing more */
    g_test_add_func("/fifo/reader-gone", test_reader_gone_is_closed);
    g_test_add_func("/fifo/stop", test_stop_ends_a_write_nobody_reads);
    int rc = g_test_run();
    unlink(fifo_path);
    rmdir(dir);
    return rc;
}
