/*
 * merge.h - merge N pcapng streams into ONE pcapng section, in timestamp order.
 *
 * Wireshark 4.0 mis-attributes interfaces across pcapng sections (DESIGN.md §2), so the streams
 * of several agents cannot simply be concatenated: the merger writes one SHB of its own, passes
 * every source's IDBs through with interface ids renumbered into one space (global id = order of
 * arrival), rewrites the interface id of each EPB and ISB to that global id, and writes packets
 * from all sources in timestamp order within a bounded reorder window.
 *
 * It does no I/O and reads no clock: the caller feeds each source's bytes as they arrive (blocks
 * may be split anywhere), passes the time in milliseconds, and drains the output through a
 * callback. Call merge_drain() after every merge_feed() (and from time to time, see
 * merge_wait_ms()): the per-source memory bound is enforced there.
 *
 * When a buffered block goes out (merge_drain):
 *   - every source still open has a block buffered: the smallest timestamp goes (k-way merge);
 *   - or some buffered block has waited reorder_ms since it arrived (a silent source does not
 *     hold the others back for longer than that);
 *   - or a source has more than source_cap bytes buffered: blocks go out, smallest timestamp
 *     first, until it is under the cap again, out of order if need be - never dropped.
 * Sources that ended or failed hold nothing back. With one source every block goes out at once.
 * SHB, IDBs and NRBs are not time-ordered: they go out at the next drain, before any packet.
 *
 * A source fails (merge_feed returns -1 with a sentence) on a malformed block, a stream that does
 * not start with an SHB or holds a second one, a packet for an interface it never described, or
 * an IDB whose link type or snaplen differs from the first IDB of the whole output (tcpdump stops
 * at such an IDB). Its complete blocks received so far still go out; its partial block is dropped;
 * the other sources go on.
 */
#ifndef NETCAP_EXTCAP_MERGE_H
#define NETCAP_EXTCAP_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "ncap.h"

#define MERGE_REORDER_MS_DEFAULT 500u
#define MERGE_SOURCE_CAP_DEFAULT ((size_t)4 << 20)

struct merge;

/* Receives output bytes (whole blocks, often several of one source at once). A non-zero return
 * stops the drain and is passed back to its caller; the bytes count as written either way. */
typedef int (*merge_emit_fn)(const uint8_t *data, size_t len, void *ud);

/* A merger for n sources numbered 0..n-1. NULL with err when memory runs out. */
struct merge *merge_new(size_t n, uint32_t reorder_ms, size_t source_cap, char *err);
void merge_free(struct merge *m);

/* Bytes of source src as they arrived at now_ms. Returns 0, or -1 with a sentence when the source
 * fails now (or had already ended or failed). */
int merge_feed(struct merge *m, size_t src, const void *data, size_t len, uint64_t now_ms,
               char *err);

/* The source's stream ended. Returns 0, or -1 with a sentence when it ended inside a block (the
 * partial block is dropped and the source counts as failed). */
int merge_source_end(struct merge *m, size_t src, char *err);

/* The source broke off (transport error, HTTP error, stall): drop its partial block. */
/* Why the agent ended source src early (its final ISB's "netcap: " comment), or NULL. */
const char *merge_source_note(const struct merge *m, size_t src);

void merge_source_fail(struct merge *m, size_t src);

/* Hand every block that may go out now to emit. Returns 0 or emit's non-zero value. */
int merge_drain(struct merge *m, uint64_t now_ms, merge_emit_fn emit, void *ud);

/* Milliseconds until merge_drain() would emit because of the reorder window: 0 when it would emit
 * now, -1 when nothing is waiting for the clock (only new bytes or an end can release blocks). */
long merge_wait_ms(const struct merge *m, uint64_t now_ms);

/* The end: every source counts as ended; emit all buffered blocks in timestamp order. */
int merge_finish(struct merge *m, merge_emit_fn emit, void *ud);

/* EPBs of source src written out so far. */
/* Emit at most limit packets (EPBs) in all; 0 = no limit. Other blocks still go out. */
void merge_set_packet_limit(struct merge *m, unsigned long long limit);
/* Nonzero once the packet limit has been emitted. */
int merge_limit_reached(const struct merge *m);

unsigned long long merge_source_packets(const struct merge *m, size_t src);

#endif
