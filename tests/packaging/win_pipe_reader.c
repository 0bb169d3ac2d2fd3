/*
 * win_pipe_reader.c - dumpcap's side of an extcap capture on Windows, for tests under Wine.
 *
 *   win_pipe_reader.exe OUT_FILE MAX_BYTES EXTCAP [EXTCAP_ARGS...]
 *
 * Creates a named pipe as Wireshark does, starts EXTCAP with "--fifo \\.\pipe\<name>" added to
 * its arguments, reads what it writes into OUT_FILE, and closes the pipe after MAX_BYTES (0:
 * read until the extcap closes it), as dumpcap does when a capture is stopped or fails. Then it
 * waits for the extcap and exits with its exit status (or 100 + a step number if something here
 * fails). Built by tests/packaging/test_msi.py with mingw-w64.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char pipe_name[128], cmdline[32768];
    unsigned long long max_bytes, total = 0;
    PROCESS_INFORMATION pi;
    STARTUPINFOA si;
    HANDLE pipe;
    FILE *out;
    DWORD code = 0;
    size_t len;

    if (argc < 4) {
        fprintf(stderr, "usage: %s OUT_FILE MAX_BYTES EXTCAP [ARGS...]\n", argv[0]);
        return 101;
    }
    max_bytes = strtoull(argv[2], NULL, 10);
    snprintf(pipe_name, sizeof(pipe_name), "\\\\.\\pipe\\netcap_test_%lu",
             (unsigned long)GetCurrentProcessId());
    pipe = CreateNamedPipeA(pipe_name, PIPE_ACCESS_INBOUND, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 65536,
                            65536, 0, NULL);
    if (pipe == INVALID_HANDLE_VALUE)
        return 102;

    /* The test passes plain arguments (no spaces or quotes), so joining them is enough. */
    len = (size_t)snprintf(cmdline, sizeof(cmdline), "\"%s\"", argv[3]);
    for (int i = 4; i < argc && len < sizeof(cmdline); i++)
        len += (size_t)snprintf(cmdline + len, sizeof(cmdline) - len, " %s", argv[i]);
    if (len < sizeof(cmdline))
        len += (size_t)snprintf(cmdline + len, sizeof(cmdline) - len, " --fifo %s", pipe_name);
    if (len >= sizeof(cmdline))
        return 103;

    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!CreateProcessA(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
        return 104;
    if (!ConnectNamedPipe(pipe, NULL) && GetLastError() != ERROR_PIPE_CONNECTED)
        return 105;

    out = fopen(argv[1], "wb");
    if (!out)
        return 106;
    for (;;) {
        char buf[65536];
        DWORD n = 0;
        if (!ReadFile(pipe, buf, sizeof(buf), &n, NULL) || n == 0)
            break; /* ERROR_BROKEN_PIPE: the extcap closed its end */
        fwrite(buf, 1, n, out);
        total += n;
        if (max_bytes && total >= max_bytes)
            break;
    }
    fclose(out);
    /* Like dumpcap going away: the extcap's next write fails (ERROR_PIPE_NOT_CONNECTED). */
    DisconnectNamedPipe(pipe);
    CloseHandle(pipe);

    if (WaitForSingleObject(pi.hProcess, 60000) != WAIT_OBJECT_0) {
        TerminateProcess(pi.hProcess, 1);
        return 107;
    }
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
