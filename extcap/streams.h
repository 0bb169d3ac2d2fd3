/*
 * streams.h - run N agent streams at once and merge them into ONE pcapng section in the fifo.
 *
 * Each source is an HTTPS POST whose answer is a pcapng stream (one per node: directly to an
 * agent URL, or through the API server's pod proxy). The merger writes one SHB of its own, every
 * source's IDBs with interface ids renumbered into one space, and EPB/ISB blocks from all sources
 * in timestamp order within a bounded reorder window (memory stays bounded: when a source's
 * buffer is full its oldest blocks are written out of order rather than dropped). A source that
 * fails (HTTP error, TLS, connection, broken stream) is recorded with one sentence in its result;
 * the others go on. One source is the common case and costs no reordering delay.
 */
#ifndef NETCAP_EXTCAP_STREAMS_H
#define NETCAP_EXTCAP_STREAMS_H

#include <curl/curl.h>
#include <stddef.h>

#include "ncap.h"
#include "platform.h"

struct stream_source {
    const char *label; /* shown in sentences: the node name, or the agent URL in direct mode */
    CURL *easy;        /* fully configured request (URL, TLS, auth, POST body, timeouts); the
                          runner sets WRITEFUNCTION/WRITEDATA/XFERINFO, NOPROGRESS, ERRORBUFFER
                          (NULL again on return) and the private pointer; the caller cleans up */
};

enum stream_outcome {
    STREAM_COMPLETED = 0, /* the agent ended the stream (a limit) */
    STREAM_STOPPED,       /* Wireshark stopped the capture or closed the fifo */
    STREAM_FAILED,        /* see result.err */
};

struct stream_result {
    enum stream_outcome outcome;
    long http_status;       /* 0 when no answer came */
    unsigned long long packets;
    char err[NCAP_ERRBUF_SIZE]; /* one sentence when FAILED, e.g.
                                   "agent refused the capture: pod shop/x is not on node n1" */
};

/*
 * Run all sources until every one has completed or failed, or Wireshark stops the capture, or
 * max_packets (0 = no limit) packets of all sources together have gone into the fifo: agents
 * enforce limits per node, so with N nodes only this cap makes "N packets" mean N in all.
 * results[i] describes sources[i]. Returns 0 when at least one source delivered a stream (even
 * if others failed) or the capture was stopped, -1 with a sentence in err when all failed (err
 * then is the first failure's sentence, prefixed with its label when n > 1) or the fifo broke.
 * "Delivered" means COMPLETED: a single stream that breaks off midway is a failure, as before.
 * "First" is in time; the prefix is "node <label>: ", and results[i].err carries it too.
 * The caller has called curl_global_init() and platform_init().
 */
int streams_run(struct stream_source *sources, size_t n, unsigned long long max_packets,
                struct platform_fifo *fifo, struct stream_result *results, char *err);

/*
 * The sentence for a non-200 answer whose body is body[0..len): the agent's
 * {"error": "<sentence>"} (API.md), or a Kubernetes Status ({"kind": "Status", "message": ...})
 * when the API server's pod proxy answered itself. Returns -1 so callers can return it.
 */
int streams_refusal(long status, const char *body, size_t len, char *err);

#endif
