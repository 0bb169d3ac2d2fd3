/*
 * main.c - netcap-extcap: Wireshark's door to Kubernetes pod capture.
 *
 * Wireshark runs the extcap with one verb per process (research/wireshark-4.0.md §5): the query
 * verbs answer on stdout and must be fast and offline; --capture streams pcapng into a fifo.
 * This file only picks the verb and runs it; each verb's work lives in its own file.
 *
 * Errors are one line "netcap-extcap: <sentence>" on stderr and exit status 1. Wireshark shows
 * stderr from a capture as the error, so a capture that runs normally writes nothing there. A
 * capture opens the fifo before anything that can fail: dumpcap waits for the fifo forever if
 * the extcap exits without opening it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "config.h"
#include "debuglog.h"
#include "filter.h"
#include "ncap.h"
#include "options.h"
#include "pickers.h"
#include "platform.h"

/* Wireshark shows the first 1024 bytes of a capture's stderr. */
#define MAIN_WARNING_SIZE 1000

/* One line, whatever the sentence holds (an API server's message may span lines). */
static int report(const char *sentence)
{
    fputs("netcap-extcap: ", stderr);
    for (const char *p = sentence; *p; p++)
        fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, stderr);
    fputc('\n', stderr);
    return 1;
}

static int check_interface(const struct options *o, char *err)
{
    if (!o->extcap_interface)
        return ncap_fail(
            err, "no --extcap-interface given (this extcap provides " OPTIONS_INTERFACE_NAME ")");
    if (strcmp(o->extcap_interface, OPTIONS_INTERFACE_NAME) != 0)
        return ncap_fail(
            err, "unknown interface \"%s\" (this extcap provides " OPTIONS_INTERFACE_NAME ")",
            o->extcap_interface);
    return 0;
}

static int verb_usage(const struct options *o)
{
    (void)o;
    return report("nothing to do: Wireshark runs this program (see netcap-extcap --help)");
}

static int verb_help(const struct options *o)
{
    (void)o;
    options_print_usage();
    return 0;
}

static int verb_version(const struct options *o)
{
    (void)o;
    printf("netcap-extcap %s\n", NCAP_VERSION);
    return 0;
}

static int verb_interfaces(const struct options *o)
{
    (void)o;
    config_print_interfaces(stdout);
    return 0;
}

static int verb_dlts(const struct options *o)
{
    char err[NCAP_ERRBUF_SIZE];

    if (check_interface(o, err) < 0)
        return report(err);
    config_print_dlts(stdout);
    return 0;
}

static int verb_config(const struct options *o)
{
    char err[NCAP_ERRBUF_SIZE];

    if (check_interface(o, err) < 0)
        return report(err);
    /* A reload asks for the values of one {reload=true} selector. */
    if (o->reload_option)
        pickers_reload(stdout, o);
    else
        config_print_args(stdout, o);
    return 0;
}

static int verb_filter(const struct options *o)
{
    char err[NCAP_ERRBUF_SIZE];

    if (check_interface(o, err) < 0)
        return report(err);
    filter_validate(stdout, o->capture_filter ? o->capture_filter : "");
    return 0;
}

/* The whole program the agent will compile, checked before anything is created. */
static int check_filter(const struct options *o, char *err)
{
    char *bpf = NULL;
    int rc = options_capture_bpf(o, &bpf, err);
    if (rc == 0)
        rc = filter_check(bpf, err);
    free(bpf);
    return rc;
}

/* parse_err is the sentence options_parse() left, or NULL: it can only be told once the fifo
 * is open. */
static int verb_capture(const struct options *o, const char *parse_err, int argc, char **argv)
{
    char err[NCAP_ERRBUF_SIZE], warning[MAIN_WARNING_SIZE] = "";
    struct platform_fifo *fifo = NULL;
    int failed;

    if (platform_init(err) < 0)
        return report(err);
    if (!o->fifo)
        return report("no --fifo given: Wireshark starts captures with --fifo PATH");
    switch (platform_fifo_open(o->fifo, &fifo, err)) {
    case PLATFORM_IO_OK:
        break;
    case PLATFORM_IO_STOPPED:
        return 0;
    default:
        return report(err);
    }

    if (parse_err)
        failed = ncap_fail(err, "%s", parse_err) < 0;
    else
        failed = check_interface(o, err) < 0 || options_check_capture(o, err) < 0 ||
                 check_filter(o, err) < 0 ||
                 (o->log_file && debuglog_open(o->log_file, o->log_level, err) < 0);
    if (!failed) {
        for (int i = 0; i < argc; i++)
            debuglog(DEBUGLOG_DEBUG, "argv[%d] = %s", i, argv[i]);
        debuglog(DEBUGLOG_INFO, "%s mode, filter \"%s\", limits %lu packets %lu seconds",
                 options_direct_mode(o) ? "direct" : "cluster",
                 o->capture_filter ? o->capture_filter : "", o->max_packets, o->max_seconds);
        failed = capture_run(o, fifo, err, warning, sizeof(warning)) < 0;
    }
    if (failed) {
        debuglog(DEBUGLOG_MESSAGE, "%s", err);
        report(err);
    } else if (warning[0]) {
        debuglog(DEBUGLOG_MESSAGE, "%s", warning);
        report(warning);
    }
    debuglog_close();
    platform_fifo_close(fifo);
    return failed ? 1 : 0;
}

/* --capture is not in the table: it must open the fifo before it may report option errors. */
static int (*const verbs[])(const struct options *) = {
    [VERB_USAGE] = verb_usage,           [VERB_HELP] = verb_help, [VERB_VERSION] = verb_version,
    [VERB_INTERFACES] = verb_interfaces, [VERB_DLTS] = verb_dlts, [VERB_CONFIG] = verb_config,
    [VERB_FILTER] = verb_filter,
};

int main(int argc, char **argv)
{
    char err[NCAP_ERRBUF_SIZE] = "";
    struct options o;
    int parsed = options_parse(&o, argc, argv, err);

    if (o.verb == VERB_CAPTURE)
        return verb_capture(&o, parsed < 0 ? err : NULL, argc, argv);
    if (parsed < 0)
        return report(err);
    return verbs[o.verb](&o);
}
