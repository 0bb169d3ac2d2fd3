/* ring.c - the fixed-size byte ring (see ring.h). Two memcpy calls at most per operation. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "ncap.h"

int ring_init(struct ring *r, size_t cap, char *err)
{
    memset(r, 0, sizeof(*r));
    r->buf = malloc(cap);
    if (!r->buf)
        return ncap_fail(err, "out of memory for a %zu-byte stream buffer", cap);
    r->cap = cap;
    return 0;
}

void ring_free(struct ring *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

size_t ring_room(const struct ring *r)
{
    return r->cap - r->used;
}

int ring_put(struct ring *r, const void *data, size_t len)
{
    if (len > ring_room(r))
        return -1;
    size_t tail = (r->head + r->used) % r->cap;
    size_t first = len < r->cap - tail ? len : r->cap - tail;
    memcpy(r->buf + tail, data, first);
    memcpy(r->buf, (const uint8_t *)data + first, len - first);
    r->used += len;
    return 0;
}

size_t ring_get(struct ring *r, void *dst, size_t max)
{
    size_t n = max < r->used ? max : r->used;
    size_t first = n < r->cap - r->head ? n : r->cap - r->head;
    memcpy(dst, r->buf + r->head, first);
    memcpy((uint8_t *)dst + first, r->buf, n - first);
    r->head = (r->head + n) % r->cap;
    r->used -= n;
    if (r->used == 0)
        r->head = 0;
    return n;
}
