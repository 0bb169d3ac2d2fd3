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
 *
 * The pod table may change while a capture runs (cluster mode): each target keeps its own copy
 * of its pod's metadata, and its thread names peers from a snapshot of the table that it swaps
 * for the newest about once a second when the table changed (podtable.h).
 */
#ifndef AGENT_CAPTURE_H
#define AGENT_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "podtable.h"
#include "request.h"

/* At most this many captures at once (more get 429). */
#define CAPTURE_MAX_ACTIVE 16
/* Bytes buffered between a capture and its client. */
#define CAPTURE_RING_SIZE (8u << 20)
/* The kernel ring (TPACKET_V3) of each capture socket is the request's bufferMiB (default
 * REQUEST_BUFFER_DEFAULT_MIB, 32). With the stream ring it buffers a burst: a packet that does not
 * fit in the stream ring waits in this one (bench/: trafgen sends a second's packets in ~50 ms
 * bursts; 16 MiB delivered 98.8 % of 1514 B frames at 25k pps, 32 MiB 100 %), and a stalled
 * client keeps the agent at ~52 MiB RSS. The kernel allocates these rings outside the agent's
 * memory cgroup, so their sum is capped by a budget (--capture-buffer-budget): a capture that
 * would exceed it gets 429 CaptureBufferBudget. The default holds CAPTURE_MAX_ACTIVE captures of
 * one pod at the default size. */
#define CAPTURE_BUFFER_BUDGET_DEFAULT_MIB 512

struct capture;

struct capture_who {
    const char *user;       /* direct mode: the token's user name; else NULL */
    const char *podcapture; /* cluster mode: "<namespace>/<name> (uid <uid>)"; else NULL */
    const char *client;     /* the client's address, for the audit line */
};

/* Counters of a capture; at its end also why it ended. */
struct capture_result {
    uint64_t packets, bytes, drops;
    bool failed;            /* ended by an error or by the agent's shutdown */
    const char *end_reason; /* only in on_end; valid during the call */
};

/* Who else wants to know when a streamed capture ends (cluster mode: the PodCapture's status).
 * on_end runs once, on whichever thread drops the last reference, with no capture lock held,
 * after the audit line and before the capture is freed. */
struct capture_owner {
    void (*on_end)(void *ud, const struct capture_result *r);
    void *ud;
};

/*
 * Arm a capture of spec's targets, which must be pods of this node in pods' current table.
 * spec is taken over (and freed) in every case; owner may be NULL. Returns 0 with *out set, or
 * an HTTP status (400, 404, 429, 500, 503) with *reason set to the API's CamelCase reason and
 * err to a sentence.
 */
int capture_start(struct capture_spec *spec, struct podsource *pods, const struct capture_who *who,
                  const struct capture_owner *owner, struct capture **out, const char **reason,
                  char *err);

/* Stop one capture (it writes its final ISBs and ends its stream). Valid until on_end ran. */
void capture_stop(struct capture *c, const char *reason);
/* Its counters so far (end_reason NULL). Valid until on_end ran. */
void capture_progress(struct capture *c, struct capture_result *r);

/* libmicrohttpd content reader and its free callback; cls is the capture. */
ssize_t capture_read(void *cls, uint64_t pos, char *buf, size_t max);
void capture_release(void *cls);

/* Stop every capture (they write their final ISBs and end their streams) and refuse new ones. */
void capture_stop_all(const char *reason);
/* Wait up to timeout_ms for every capture to be freed; 0 when none is left, else -1. */
int capture_wait_idle(int timeout_ms);

/* The most kernel capture ring memory all captures together may have (bytes). */
void capture_set_buffer_budget(uint64_t bytes);

/* Prometheus text for GET /metrics (malloc'd), or NULL. */
char *capture_metrics(void);

#endif
