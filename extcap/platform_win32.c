/*
 * platform_win32.c - platform.h for Windows (cross-built with mingw-w64).
 *
 * The fifo: Wireshark on Windows creates a named pipe (\\.\pipe\wireshark_extcap_...) and
 * passes its path as --fifo; dumpcap is the pipe's server and waits in ConnectNamedPipe, so
 * the extcap is a client that opens it with CreateFile. While another client holds the one
 * pipe instance, CreateFile fails with ERROR_PIPE_BUSY and WaitNamedPipe waits for it.
 *
 * Stopping: Wireshark 4.0 on Windows ends an extcap with TerminateProcess, which no program
 * can notice; the agent sees its connection close and ends the capture on its side. A console
 * user's Ctrl+C or Ctrl+Break (tshark run by hand, the tests) arrives as a console control
 * event on a thread of its own: the handler sets the stop flag and cancels whatever
 * synchronous I/O the main thread is blocked in (CreateFile on a pipe nobody serves yet,
 * WriteFile into a full pipe), which is what EINTR does for the POSIX loops.
 *
 * A reader that went away shows up as ERROR_NO_DATA (it closed its handle: "the pipe is being
 * closed"), ERROR_PIPE_NOT_CONNECTED (it disconnected the pipe) or ERROR_BROKEN_PIPE: all are
 * PLATFORM_IO_CLOSED, a normal end. Randomness comes from BCryptGenRandom with the
 * system-preferred RNG; the cache is %LOCALAPPDATA%\netcap.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: CancelSynchronousIo, BCryptGenRandom's flags */
#endif
#include "platform.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <bcrypt.h>

#include "ncap.h"

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif

struct platform_fifo {
    HANDLE h;
};

static volatile LONG stop_requested;
/* The thread that calls platform_fifo_open/write, whose blocking I/O a stop event cancels. */
static HANDLE main_thread;

static BOOL WINAPI on_console_event(DWORD event)
{
    InterlockedExchange(&stop_requested, 1);
    if (main_thread)
        CancelSynchronousIo(main_thread); /* fails harmlessly when nothing is pending */
    /* Ctrl+C and Ctrl+Break: handled, the capture ends through the stop flag. Closing the
     * console, logoff and shutdown: let the default handler end the process as well. */
    return event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT;
}

/* One sentence for a Windows error code (GetLastError, WSAGetLastError) into buf. */
static const char *win_error_text(DWORD code, char *buf, size_t size)
{
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
                             0, buf, (DWORD)size, NULL);

    /* The system's messages end in ".\r\n"; ncap sentences have no period and no newline. */
    while (n > 0 &&
           (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '.'))
        buf[--n] = '\0';
    if (n == 0)
        snprintf(buf, size, "Windows error %lu", (unsigned long)code);
    return buf;
}

int platform_init(char *err)
{
    (void)err;
    /* GetCurrentThread() is a pseudo handle that means "the calling thread" wherever it is
     * used, so the handler thread needs a real one. */
    if (!DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(), &main_thread,
                         0, FALSE, DUPLICATE_SAME_ACCESS))
        main_thread = NULL; /* stop events still set the flag; blocking calls just finish */
    /* Best effort, unlike the POSIX signal handlers: Wireshark's own way to stop an extcap
     * here is TerminateProcess, so a capture must not fail for want of a console handler. */
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return 0;
}

int platform_stop_requested(void)
{
    return InterlockedCompareExchange(&stop_requested, 0, 0) != 0;
}

/* How long one WaitNamedPipe waits for a busy pipe before the stop flag is looked at again. */
#define PIPE_BUSY_WAIT_MS 500

enum platform_io platform_fifo_open(const char *path, struct platform_fifo **out, char *err)
{
    struct platform_fifo *fifo;
    char why[256];
    HANDLE h;

    for (;;) {
        DWORD e;

        if (platform_stop_requested())
            return PLATFORM_IO_STOPPED;
        h = CreateFileA(path, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h != INVALID_HANDLE_VALUE)
            break;
        e = GetLastError();
        if (e == ERROR_OPERATION_ABORTED && platform_stop_requested())
            return PLATFORM_IO_STOPPED;
        if (e == ERROR_PIPE_BUSY) {
            /* Fails at once or after the timeout when still busy: either way, look again. */
            WaitNamedPipeA(path, PIPE_BUSY_WAIT_MS);
            continue;
        }
        ncap_fail(err, "cannot open the Wireshark fifo %s: %s", path,
                  win_error_text(e, why, sizeof(why)));
        return PLATFORM_IO_ERROR;
    }

    fifo = malloc(sizeof(*fifo));
    if (!fifo) {
        CloseHandle(h);
        ncap_fail(err, "out of memory");
        return PLATFORM_IO_ERROR;
    }
    fifo->h = h;
    *out = fifo;
    return PLATFORM_IO_OK;
}

/* WriteFile takes a DWORD count; larger buffers go in pieces of this size. */
#define WRITE_CHUNK_MAX (1u << 30)

enum platform_io platform_fifo_write(struct platform_fifo *fifo, const void *data, size_t len,
                                     char *err)
{
    const char *p = data;
    char why[256];

    while (len > 0) {
        DWORD chunk = len > WRITE_CHUNK_MAX ? WRITE_CHUNK_MAX : (DWORD)len;
        DWORD done = 0;
        DWORD e;

        if (WriteFile(fifo->h, p, chunk, &done, NULL)) {
            p += done;
            len -= done;
            continue;
        }
        e = GetLastError();
        if (e == ERROR_OPERATION_ABORTED && platform_stop_requested())
            return PLATFORM_IO_STOPPED;
        if (e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA || e == ERROR_PIPE_NOT_CONNECTED)
            return PLATFORM_IO_CLOSED;
        ncap_fail(err, "cannot write to the Wireshark fifo: %s",
                  win_error_text(e, why, sizeof(why)));
        return PLATFORM_IO_ERROR;
    }
    return PLATFORM_IO_OK;
}

void platform_fifo_close(struct platform_fifo *fifo)
{
    if (!fifo)
        return;
    CloseHandle(fifo->h);
    free(fifo);
}

const char *platform_socket_error_text(long code)
{
    /* libcurl reports WSAGetLastError() codes (WSAECONNREFUSED is 10061), which strerror does
     * not know. One buffer, as strerror has: the extcap reports one error at a time, from its
     * main thread. */
    static char text[256];

    return win_error_text((DWORD)code, text, sizeof(text));
}

int platform_random(void *buf, size_t n, char *err)
{
    unsigned char *p = buf;

    while (n > 0) {
        ULONG chunk = n > ULONG_MAX ? ULONG_MAX : (ULONG)n;
        NTSTATUS st = BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG);

        if (st != STATUS_SUCCESS)
            return ncap_fail(err, "the system gave no random bytes (BCryptGenRandom 0x%08lx)",
                             (unsigned long)st);
        p += chunk;
        n -= chunk;
    }
    return 0;
}

int platform_cache_dir(char *buf, size_t size, char *err)
{
    const char *local = getenv("LOCALAPPDATA");
    const char *profile = getenv("USERPROFILE");
    int len;

    /* %LOCALAPPDATA% is the per-user, non-roaming place for caches; a profile without it
     * (a service account, a stripped environment) still has the same folder under it. */
    if (local && local[0] != '\0')
        len = snprintf(buf, size, "%s\\netcap", local);
    else if (profile && profile[0] != '\0')
        len = snprintf(buf, size, "%s\\AppData\\Local\\netcap", profile);
    else
        return ncap_fail(err, "neither LOCALAPPDATA nor USERPROFILE is set");
    if (len < 0 || (size_t)len >= size)
        return ncap_fail(err, "the cache directory path is too long");
    return 0;
}
