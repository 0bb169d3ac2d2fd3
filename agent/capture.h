/*
 * capture.h - one capture: its per-pod capture threads, its ring and its pcapng stream.
 *
 * capture_start() arms the capture before the caller answers: for each target a thread enters
 * the pod's network namespace, opens libpcap on the interface and compiles the filter, and
 * reports back. Only when every target is armed does the caller get a capture to stream; the
 * HTTP status otherwise reflects what failed. The stream is one pcapng section: SHB, one IDB per
 * target, EPBs, an ISB per interface about every second and a final one when the capture ends.
 *
 * Threads and lifetime: the capture threads never call libmicrohttpd. They append whole blocks
 * to the ring under the capture's mutex and never wait for room (a block that does not fit is
 * dropped and counted). capture_read() runs in the connection's thread and waits at most a
 * second on a condition variable when the ring is empty. capture_release() is the response's
 * free callback: it asks the threads to stop and drops the stream's reference; the last
 * reference frees the capture and writes its audit line.
 */
#ifndef AGENT_CAPTURE_H
#define AGENT_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "podtable.h"
#include "request.h"

/* At most this many captures at once (more get 429). */
#define CAPTURE_MAX_ACTIVE 16
/* Bytes buffered between a capture and its client. */
#define CAPTURE_RING_SIZE (8u << 20)
/* Kernel buffer of each libpcap handle. */
#define CAPTURE_PCAP_BUFFER (16 << 20)

struct capture;

struct capture_who {
    const char *user;   /* the token's user name */
    const char *client; /* the client's address, for the audit line */
};

/*
 * Arm a capture. spec is taken over (and freed) in every case. Returns 0 with *out set, or an
 * HTTP status (400, 404, 429, 500, 503) with *reason set to the API's CamelCase reason and err
 * to a sentence.
 */
int capture_start(struct capture_spec *spec, const struct podtable *pods,
                  const struct capture_who *who, struct capture **out, const char **reason,
                  char *err);

/* libmicrohttpd content reader and its free callback; cls is the capture. */
ssize_t capture_read(void *cls, uint64_t pos, char *buf, size_t max);
void capture_release(void *cls);

/* Stop every capture (they write their final ISBs and end their streams) and refuse new ones. */
void capture_stop_all(const char *reason);
/* Wait up to timeout_ms for every capture to be freed; 0 when none is left, else -1. */
int capture_wait_idle(int timeout_ms);

/* Prometheus text for GET /metrics (malloc'd), or NULL. */
char *capture_metrics(void);

#endif
