/*
 * merge.c - N pcapng streams into one section (see merge.h).
 *
 * Each source keeps its bytes in one linear buffer: [head, cut) holds complete blocks waiting to
 * go out, [cut, tail) the start of a block still arriving. A small ring indexes the waiting
 * blocks (length, timestamp in ns, arrival time), so a block costs no allocation of its own; the
 * buffer is compacted only once the consumed part is at least as large as the live part, which
 * keeps the copying amortised O(1) per byte. Blocks of one source leave in their own order, and
 * consecutive blocks of one source leave in one emit call: with a single source the output is the
 * input, chunk for chunk, minus the source's SHB.
 *
 * SHB, IDB and NRB blocks are taken out of the source buffer when they are cut and appended to
 * one shared pending buffer, which every drain empties first: an IDB therefore reaches the output
 * before any packet that refers to it, and global interface ids follow the output order.
 */
#include "merge.h"

#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

#define NS_PER_S 1000000000ull
#define OPT_IF_TSOFFSET 14

enum source_state {
    SOURCE_WAIT_SHB, /* open, nothing cut yet */
    SOURCE_OPEN,
    SOURCE_ENDED,
    SOURCE_FAILED,
};

struct iface {
    uint32_t global;
    uint8_t tsresol;
    int64_t tsoffset; /* seconds */
};

struct entry {
    uint64_t ts;      /* ns, the ordering key */
    uint64_t arrival; /* ms */
    uint32_t len;
    uint32_t packet; /* an EPB: counted when it goes out */
};

struct source {
    enum source_state state;
    uint8_t *buf;
    size_t head, cut, tail, cap;
    size_t need; /* bytes from cut that the next block needs, 0 if unknown */
    struct entry *ring;
    size_t rhead, rcount, rcap; /* rcap is 0 or a power of two */
    struct iface *ifs;
    size_t nifs, ifcap;
    uint64_t last_ts; /* ordering key for blocks without a timestamp of their own */
    unsigned long long packets;
    char end_note[300]; /* why the agent ended this stream early, from its final ISB */
};

struct merge {
    struct source *src;
    size_t n;
    uint32_t reorder_ms;
    size_t source_cap;
    ncap_buf pending; /* our SHB, IDBs, NRBs: out first at the next drain */
    int shb_written;
    int have_link;
    uint16_t linktype;
    uint32_t snaplen;
    uint32_t next_if;
    unsigned long long limit;   /* 0 = none */
    unsigned long long emitted; /* EPBs handed to emit, all sources */
};

struct merge *merge_new(size_t n, uint32_t reorder_ms, size_t source_cap, char *err)
{
    struct merge *m = calloc(1, sizeof(*m));

    if (m && n > 0)
        m->src = calloc(n, sizeof(*m->src));
    if (!m || (n > 0 && !m->src)) {
        free(m);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    m->n = n;
    m->reorder_ms = reorder_ms;
    m->source_cap = source_cap;
    return m;
}

static void source_free(struct source *s)
{
    free(s->buf);
    free(s->ring);
    s->buf = NULL;
    s->ring = NULL;
    s->head = s->cut = s->tail = s->cap = 0;
    s->rhead = s->rcount = s->rcap = 0;
}

void merge_free(struct merge *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        source_free(&m->src[i]);
        free(m->src[i].ifs);
    }
    free(m->src);
    ncap_buf_free(&m->pending);
    free(m);
}

static int is_open(const struct source *s)
{
    return s->state == SOURCE_WAIT_SHB || s->state == SOURCE_OPEN;
}

static int source_fail(struct source *s)
{
    s->state = SOURCE_FAILED;
    s->tail = s->cut;
    s->need = 0;
    return -1;
}

/* ---- timestamps ---- */

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A timestamp in if_tsresol units as nanoseconds (saturating), for ordering only. */
static uint64_t ts_to_ns(uint64_t ts, const struct iface *ifc)
{
    static const uint64_t pow10[] = {1ull,
                                     10ull,
                                     100ull,
                                     1000ull,
                                     10000ull,
                                     100000ull,
                                     1000000ull,
                                     10000000ull,
                                     100000000ull,
                                     1000000000ull,
                                     10000000000ull,
                                     100000000000ull,
                                     1000000000000ull,
                                     10000000000000ull,
                                     100000000000000ull,
                                     1000000000000000ull,
                                     10000000000000000ull,
                                     100000000000000000ull,
                                     1000000000000000000ull,
                                     10000000000000000000ull};
    unsigned v = ifc->tsresol & 0x7fu;
    uint64_t ns;

    if (ifc->tsresol & 0x80u) { /* units of 2^-v seconds */
        uint64_t sec = v < 64 ? ts >> v : 0;
        uint64_t frac = v < 64 ? ts & ((1ull << v) - 1) : ts;
        unsigned shift = v;
        if (shift > 34) { /* keep frac * 1e9 within 64 bits */
            frac = shift - 34 < 64 ? frac >> (shift - 34) : 0;
            shift = 34;
        }
        ns = add_sat(mul_sat(sec, NS_PER_S), (frac * NS_PER_S) >> shift);
    } else if (v <= 9) {
        ns = mul_sat(ts, pow10[9 - v]);
    } else {
        ns = v - 9 < sizeof(pow10) / sizeof(pow10[0]) ? ts / pow10[v - 9] : 0;
    }
    if (ifc->tsoffset >= 0)
        return add_sat(ns, mul_sat((uint64_t)ifc->tsoffset, NS_PER_S));
    uint64_t back = mul_sat(0 - (uint64_t)ifc->tsoffset, NS_PER_S); /* the magnitude */
    return ns > back ? ns - back : 0;
}

static uint64_t get_ts(const uint8_t *p)
{
    uint32_t hi, lo;

    memcpy(&hi, p, 4);
    memcpy(&lo, p + 4, 4);
    return ((uint64_t)hi << 32) | lo;
}

/* ---- source buffers ---- */

static int reserve(struct source *s, size_t len, char *err)
{
    size_t live = s->tail - s->head;

    if (s->cap - s->tail >= len)
        return 0;
    if (s->head > 0 && s->head >= live) {
        memmove(s->buf, s->buf + s->head, live);
        s->cut -= s->head;
        s->tail -= s->head;
        s->head = 0;
        if (s->cap - s->tail >= len)
            return 0;
    }
    if (len > SIZE_MAX / 2 - s->tail)
        return ncap_fail(err, "out of memory");
    size_t cap = s->cap ? s->cap : 65536;
    while (cap - s->tail < len)
        cap *= 2;
    uint8_t *grown = realloc(s->buf, cap);
    if (!grown)
        return ncap_fail(err, "out of memory for a %zu-byte stream buffer", cap);
    s->buf = grown;
    s->cap = cap;
    return 0;
}

static int ring_push(struct source *s, const struct entry *e, char *err)
{
    if (s->rcount == s->rcap) {
        size_t cap = s->rcap ? s->rcap * 2 : 256;
        struct entry *ring = malloc(cap * sizeof(*ring));
        if (!ring)
            return ncap_fail(err, "out of memory");
        for (size_t i = 0; i < s->rcount; i++)
            ring[i] = s->ring[(s->rhead + i) & (s->rcap - 1)];
        free(s->ring);
        s->ring = ring;
        s->rhead = 0;
        s->rcap = cap;
    }
    s->ring[(s->rhead + s->rcount) & (s->rcap - 1)] = *e;
    s->rcount++;
    return 0;
}

/* The block at cut waits in the source's queue. */
static int queue_block(struct source *s, uint32_t len, uint64_t ts, uint64_t now_ms, int packet,
                       char *err)
{
    struct entry e = {ts, now_ms, len, (uint32_t)packet};

    if (ring_push(s, &e, err) < 0)
        return -1;
    s->cut += len;
    return 0;
}

/* The block at cut leaves the source buffer, copied to the pending output or dropped. */
static int take_block(struct merge *m, struct source *s, uint32_t len, int keep, char *err)
{
    if (keep) {
        if (ncap_buf_reserve(&m->pending, len, err) < 0)
            return -1;
        memcpy(m->pending.data + m->pending.len, s->buf + s->cut, len);
        m->pending.len += len;
    }
    memmove(s->buf + s->cut, s->buf + s->cut + len, s->tail - s->cut - len);
    s->tail -= len;
    return 0;
}

/* ---- blocks ---- */

static int shb_block(struct merge *m, struct source *s, const struct ncap_pcapng_block *blk,
                     char *err)
{
    struct ncap_pcapng_shb_view v;
    char why[NCAP_ERRBUF_SIZE];

    if (s->state != SOURCE_WAIT_SHB)
        return ncap_fail(err, "the agent's stream holds a second pcapng section, which netcap "
                              "cannot merge");
    if (ncap_pcapng_parse_shb(blk, &v, why) < 0)
        return ncap_fail(err, "the agent sent a broken pcapng stream: %s", why);
    if (!m->shb_written) {
        if (ncap_pcapng_write_shb(&m->pending, "netcap-extcap " NCAP_VERSION, err) < 0)
            return -1;
        m->shb_written = 1;
    }
    s->state = SOURCE_OPEN;
    return take_block(m, s, blk->total_len, 0, err);
}

static int tsoffset_option(uint16_t code, const uint8_t *val, uint16_t len, void *ud)
{
    if (code == OPT_IF_TSOFFSET && len == 8)
        memcpy(ud, val, 8);
    return 0;
}

static int idb_block(struct merge *m, struct source *s, const struct ncap_pcapng_block *blk,
                     char *err)
{
    struct ncap_pcapng_idb_view v;
    char why[NCAP_ERRBUF_SIZE];
    int64_t tsoffset = 0;

    if (ncap_pcapng_parse_idb(blk, &v, why) < 0 ||
        ncap_pcapng_foreach_option(blk->body + 8, blk->body_len - 8, tsoffset_option, &tsoffset,
                                   why) < 0)
        return ncap_fail(err, "the agent sent a broken pcapng stream: %s", why);
    if (!m->have_link) {
        m->have_link = 1;
        m->linktype = v.linktype;
        m->snaplen = v.snaplen;
    } else if (v.linktype != m->linktype) {
        return ncap_fail(err,
                         "the agent's interface %.*s has link type %u, but this capture already "
                         "uses link type %u: every node must capture the same kind of interface",
                         v.name ? (int)v.name_len : 9, v.name ? v.name : "(unnamed)", v.linktype,
                         m->linktype);
    } else if (v.snaplen != m->snaplen) {
        return ncap_fail(err,
                         "the agent's interface %.*s has snapshot length %u, but this capture "
                         "already uses %u: every node must use the same snapshot length",
                         v.name ? (int)v.name_len : 9, v.name ? v.name : "(unnamed)", v.snaplen,
                         m->snaplen);
    }
    if (s->nifs == s->ifcap) {
        size_t cap = s->ifcap ? s->ifcap * 2 : 8;
        struct iface *ifs = realloc(s->ifs, cap * sizeof(*ifs));
        if (!ifs)
            return ncap_fail(err, "out of memory");
        s->ifs = ifs;
        s->ifcap = cap;
    }
    if (take_block(m, s, blk->total_len, 1, err) < 0)
        return -1;
    s->ifs[s->nifs++] = (struct iface){m->next_if++, v.tsresol, tsoffset};
    return 0;
}

/* An ISB's comment "netcap: <why>" is the agent's reason for ending the capture early. */
static void read_end_note(struct source *s, const uint8_t *opt, size_t len)
{
    const size_t plen = sizeof(NCAP_END_NOTE_PREFIX) - 1;
    while (len >= 4) {
        uint16_t code, olen;
        memcpy(&code, opt, 2);
        memcpy(&olen, opt + 2, 2);
        if (code == 0 || (size_t)olen + 4 > len)
            return;
        if (code == 1 && olen > plen && memcmp(opt + 4, NCAP_END_NOTE_PREFIX, plen) == 0) {
            size_t n = olen - plen < sizeof(s->end_note) - 1 ? olen - plen
                                                               : sizeof(s->end_note) - 1;
            memcpy(s->end_note, opt + 4 + plen, n);
            s->end_note[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)s->end_note[i] < 0x20)
                    s->end_note[i] = ' ';
        }
        size_t step = 4 + (((size_t)olen + 3) & ~(size_t)3);
        if (step > len)
            return;
        opt += step;
        len -= step;
    }
}

/* EPB or ISB: renumber the interface in place and queue by timestamp. */
static int timed_block(struct source *s, const struct ncap_pcapng_block *blk, uint64_t now_ms,
                       char *err)
{
    int packet = blk->type == NCAP_BT_EPB;
    uint32_t local;

    if (blk->body_len < (packet ? 20u : 12u))
        return ncap_fail(err, "the agent sent a broken pcapng stream: %s block is too short",
                         packet ? "an enhanced packet" : "an interface statistics");
    memcpy(&local, blk->body, 4);
    if (local >= s->nifs)
        return ncap_fail(err,
                         "the agent sent a %s for interface %u, but described only %zu interfaces",
                         packet ? "packet" : "statistics block", local, s->nifs);
    memcpy(s->buf + s->cut + 8, &s->ifs[local].global, 4);
    s->last_ts = ts_to_ns(get_ts(blk->body + 4), &s->ifs[local]);
    if (!packet)
        read_end_note(s, blk->body + 12, blk->body_len - 12);
    return queue_block(s, blk->total_len, s->last_ts, now_ms, packet, err);
}

static int cut_block(struct merge *m, struct source *s, const struct ncap_pcapng_block *blk,
                     uint64_t now_ms, char *err)
{
    if (blk->type == NCAP_BT_SHB)
        return shb_block(m, s, blk, err);
    if (s->state == SOURCE_WAIT_SHB)
        return ncap_fail(err, "the agent's answer is not a pcapng stream: it does not start with "
                              "a section header block");
    switch (blk->type) {
    case NCAP_BT_IDB:
        return idb_block(m, s, blk, err);
    case NCAP_BT_EPB:
    case NCAP_BT_ISB:
        return timed_block(s, blk, now_ms, err);
    case NCAP_BT_NRB:
        return take_block(m, s, blk->total_len, 1, err);
    default:
        /* Unknown blocks keep their place among the source's packets. */
        return queue_block(s, blk->total_len, s->last_ts, now_ms, 0, err);
    }
}

int merge_feed(struct merge *m, size_t src, const void *data, size_t len, uint64_t now_ms,
               char *err)
{
    struct source *s = &m->src[src];
    struct ncap_pcapng_block blk;
    char why[NCAP_ERRBUF_SIZE];

    if (!is_open(s))
        return ncap_fail(err, "the agent's stream has already %s",
                         s->state == SOURCE_ENDED ? "ended" : "failed");
    if (len == 0)
        return 0;
    if (reserve(s, len, err) < 0)
        return source_fail(s);
    memcpy(s->buf + s->tail, data, len);
    s->tail += len;

    while (s->tail - s->cut >= s->need) {
        int r = ncap_pcapng_next(s->buf + s->cut, s->tail - s->cut, &blk, &s->need, why);
        if (r == 0)
            break;
        if (r < 0) {
            ncap_fail(err, "the agent sent a broken pcapng stream: %s", why);
            return source_fail(s);
        }
        s->need = 0;
        if (cut_block(m, s, &blk, now_ms, err) < 0)
            return source_fail(s);
    }
    return 0;
}

int merge_source_end(struct merge *m, size_t src, char *err)
{
    struct source *s = &m->src[src];

    if (s->state == SOURCE_FAILED)
        return ncap_fail(err, "the agent's stream has already failed");
    if (s->state == SOURCE_ENDED)
        return 0;
    if (s->tail > s->cut) {
        ncap_fail(err, "the agent's stream ended inside a pcapng block");
        return source_fail(s);
    }
    s->state = SOURCE_ENDED;
    return 0;
}

const char *merge_source_note(const struct merge *m, size_t src)
{
    return m->src[src].end_note[0] ? m->src[src].end_note : NULL;
}

void merge_source_fail(struct merge *m, size_t src)
{
    struct source *s = &m->src[src];

    if (s->state != SOURCE_ENDED)
        source_fail(s);
}

/* ---- output ---- */

/* The source whose first waiting block goes out next, or -1 if none may go yet. */
static long pick(const struct merge *m, uint64_t now_ms, int finishing)
{
    int all_open_waiting = 1, urgent = finishing;
    uint64_t best_ts = 0;
    long best = -1;

    for (size_t i = 0; i < m->n; i++) {
        const struct source *s = &m->src[i];
        if (s->rcount == 0) {
            if (is_open(s))
                all_open_waiting = 0;
            continue;
        }
        const struct entry *e = &s->ring[s->rhead];
        if (best < 0 || e->ts < best_ts) {
            best = (long)i;
            best_ts = e->ts;
        }
        if (now_ms >= e->arrival && now_ms - e->arrival >= m->reorder_ms)
            urgent = 1;
        if (s->cut - s->head > m->source_cap)
            urgent = 1;
    }
    return (all_open_waiting || urgent) ? best : -1;
}

static int drain(struct merge *m, uint64_t now_ms, int finishing, merge_emit_fn emit, void *ud)
{
    struct source *run = NULL;
    size_t run_off = 0, run_len = 0;
    long i;
    int r = 0;

    if (m->pending.len > 0) {
        size_t len = m->pending.len;
        m->pending.len = 0;
        r = emit(m->pending.data, len, ud);
        if (r)
            return r;
    }
    while ((i = pick(m, now_ms, finishing)) >= 0) {
        struct source *s = &m->src[i];
        struct entry *e = &s->ring[s->rhead];
        if (e->packet && m->limit && m->emitted >= m->limit)
            break;
        if (s != run) {
            if (run_len > 0 && (r = emit(run->buf + run_off, run_len, ud)) != 0)
                break;
            run = s;
            run_off = s->head;
            run_len = 0;
        }
        run_len += e->len;
        s->head += e->len;
        s->packets += e->packet;
        m->emitted += e->packet;
        s->rhead = (s->rhead + 1) & (s->rcap - 1);
        s->rcount--;
    }
    if (r == 0 && run_len > 0)
        r = emit(run->buf + run_off, run_len, ud);

    for (size_t k = 0; k < m->n; k++) {
        struct source *s = &m->src[k];
        if (s->rcount > 0)
            continue;
        if (!is_open(s))
            source_free(s);
        else if (s->head == s->tail)
            s->head = s->cut = s->tail = 0;
    }
    return r;
}

int merge_drain(struct merge *m, uint64_t now_ms, merge_emit_fn emit, void *ud)
{
    return drain(m, now_ms, 0, emit, ud);
}

long merge_wait_ms(const struct merge *m, uint64_t now_ms)
{
    uint64_t due = UINT64_MAX;

    if (m->pending.len > 0 || pick(m, now_ms, 0) >= 0)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct source *s = &m->src[i];
        if (s->rcount > 0 && s->ring[s->rhead].arrival + m->reorder_ms < due)
            due = s->ring[s->rhead].arrival + m->reorder_ms;
    }
    if (due == UINT64_MAX)
        return -1;
    return due > now_ms ? (long)(due - now_ms) : 0;
}

int merge_finish(struct merge *m, merge_emit_fn emit, void *ud)
{
    for (size_t i = 0; i < m->n; i++) {
        struct source *s = &m->src[i];
        if (is_open(s)) {
            s->state = SOURCE_ENDED;
            s->tail = s->cut;
        }
    }
    return drain(m, 0, 1, emit, ud);
}

void merge_set_packet_limit(struct merge *m, unsigned long long limit)
{
    m->limit = limit;
}

int merge_limit_reached(const struct merge *m)
{
    return m->limit && m->emitted >= m->limit;
}

unsigned long long merge_source_packets(const struct merge *m, size_t src)
{
    return m->src[src].packets;
}
