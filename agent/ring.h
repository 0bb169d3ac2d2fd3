/*
 * ring.h - a fixed-size byte ring between a capture's threads and its HTTP stream.
 *
 * The ring never grows and never blocks: a writer that finds too little room drops its block
 * (and counts it), so a slow client costs packets, not memory. Blocks go in whole or not at all;
 * the reader takes any number of bytes, as many as its send buffer holds.
 *
 * The ring has no lock of its own: the capture that owns it serialises every call with its
 * mutex, because the limits and counters it updates must change together with the ring.
 */
#ifndef AGENT_RING_H
#define AGENT_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    size_t cap;
    size_t head; /* offset of the oldest byte */
    size_t used;
};

/* 0, or -1 with err filled. */
int ring_init(struct ring *r, size_t cap, char *err);
void ring_free(struct ring *r);

size_t ring_room(const struct ring *r);
/* Append all len bytes, or nothing: 0, or -1 when they do not fit. */
int ring_put(struct ring *r, const void *data, size_t len);
/* Move up to max bytes out of the ring into dst; returns how many. */
size_t ring_get(struct ring *r, void *dst, size_t max);

#endif
