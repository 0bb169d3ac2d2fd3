/*
 * capture.c - capture threads, the per-capture ring, the pcapng stream and the registry of
 * running captures (see capture.h for the threading contract).
 *
 * Locks: the registry mutex (list of captures, global counters) is taken before a capture's
 * mutex, never after. A capture's mutex guards its ring, its counters and the arming states; the
 * stopping flag is atomic so the packet loop can test it without the lock.
 */
#include "capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "flow.h"
#include "names.h"
#include "log.h"
#include "ncap.h"
#include "broker.h"
#include "pktsock.h"
#include "pcapng.h"
#include "ring.h"
#include "tlv.h"
#include "deadline.h"

#define NS_PER_S 1000000000ull
#define ISB_INTERVAL_NS NS_PER_S
#define POLL_MS 100
#define PCAP_TIMEOUT_MS 50
/* Packets sent under one hold of a capture's mutex: the lock once per packet was ~9 % of the
 * capture thread (perf); 64 packets of encoding keep the stream reader waiting a few µs at most. */
#define LOCK_BATCH 64
/* Ring room kept for each interface's final ISB (a full ISB is 100 bytes). */
#define FINAL_ISB_RESERVE 128

enum arm_state { ARMING, ARMED, ARM_FAILED };

struct target {
    struct capture *cap;
    uint32_t if_id;
    const struct target_spec *spec;
    struct ncap_pod_meta pod; /* a copy: the pod table may change under a running capture */
    /* The pod table this thread names peers from; swapped when the table's generation moves. */
    struct podtable *peers;
    /* Arming outcome, read by capture_start() under cap->mu. */
    enum arm_state state;
    int fail_status;
    const char *fail_reason;
    char err[NCAP_ERRBUF_SIZE];
    /* Owned by the target's thread until it ends. */
    struct pktsock ps; /* ps.fd < 0: not open */
    uint8_t mac[6];
    ncap_buf scratch;    /* the packet being sent */
    ncap_buf isb;        /* the statistics block being sent */
    struct names *names; /* addresses named by NRB so far (NULL: no name records) */
    ncap_buf nrb;
    /* The packet in scratch (and its name record in nrb) did not fit in the stream ring: it
     * stays in the kernel's ring and is offered again once the ring has room. */
    bool held;
    bool held_encoded;
    uint32_t held_caplen;
    /* The last packet's flow record, reused while the 5-tuple, the direction and the pod table
     * stay the same (most packets follow one of their own flow): no hash, lookup or encoding. */
    struct {
        const struct podtable *peers; /* NULL: empty */
        uint32_t dir;
        struct flow_tuple key;
        int tlv_len;
        uint8_t tlv[NCAP_TLV_MAX];
    } last;
    /* on_packet holds cap->mu across up to LOCK_BATCH packets of one pktsock_dispatch(). */
    bool locked;
    unsigned batch;
    uint64_t sent_packets, sent_bytes; /* of this batch, for /metrics */
    uint64_t start_ns;
    uint64_t sampled;
    uint64_t delivered; /* packets the filter accepted (isb_filteraccept) */
    uint64_t osdrop;    /* packets the agent took but could not send (isb_osdrop) */
    uint64_t ifrecv, ifdrop;
};

struct capture {
    unsigned long id;
    atomic_int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* ring got data, a target armed, a thread ended, the capture stops */
    struct capture_spec spec;
    struct podsource *pods;
    char *user, *client, *podcapture; /* user or podcapture may be NULL */
    struct capture_owner owner;
    struct target *targets; /* spec.n_targets */
    int stop_fd;            /* eventfd: readable once the capture stops */
    atomic_bool stopping;
    bool streamed; /* armed and handed to a client: audit it */
    bool failed;   /* ended by an error or the agent's shutdown, not by a limit or the client */
    bool by_limit; /* ended by a limit: what came after it is not a loss */
    char end_reason[NCAP_ERRBUF_SIZE];
    unsigned running; /* target threads not yet ended */
    struct ring ring;
    size_t reserve; /* ring room held back for final ISBs */
    uint64_t packets, bytes, drops;
    uint64_t data_bytes;  /* captured packet data sent (caplen), what limits.bytes counts */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
    uint64_t started_ns;
    uint64_t salt;
    uint64_t buffer_bytes;    /* its share of reg_buffer_bytes: every target's kernel ring */
    unsigned writers_waiting; /* capture threads waiting for ring room (under mu) */
    struct capture *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER;
static struct capture *reg_head;
static unsigned reg_active; /* registered: arming, streaming or draining */
static unsigned reg_armed;  /* armed and handed to a client (netcap_captures_active) */
static bool reg_closing;
static unsigned long reg_last_id;
static uint64_t m_captures_total;
/* Kernel ring bytes of registered captures, and how many there may be (capture_set_buffer_budget).
 */
static uint64_t reg_buffer_bytes;
static uint64_t reg_buffer_budget = (uint64_t)CAPTURE_BUFFER_BUDGET_DEFAULT_MIB << 20;
static atomic_uint_fast64_t m_packets_total, m_bytes_total, m_drops_total;

static uint64_t clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- stopping ---- */

__attribute__((format(printf, 3, 4))) static void stop_locked(struct capture *c, bool failed,
                                                              const char *fmt, ...)
{
    if (!atomic_load(&c->stopping)) {
        c->failed = failed;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->end_reason, sizeof(c->end_reason), fmt, ap);
        va_end(ap);
        atomic_store(&c->stopping, true);
        uint64_t one = 1;
        if (write(c->stop_fd, &one, sizeof(one)) < 0) {
            /* The counter cannot overflow with one write per capture; nothing to do. */
        }
    }
    pthread_cond_broadcast(&c->cv);
}

static void stop_with(struct capture *c, bool failed, const char *reason)
{
    pthread_mutex_lock(&c->mu);
    stop_locked(c, failed, "%s", reason);
    pthread_mutex_unlock(&c->mu);
}

/* ---- the audit line and freeing ---- */

static void audit(struct capture *c)
{
    char targets[1024] = "", quoted_targets[1100], filter[600], who[300], reason[400];
    size_t off = 0;
    uint64_t ifdrop = 0;
    for (size_t i = 0; i < c->spec.n_targets; i++) {
        const struct target_spec *t = &c->spec.targets[i];
        ifdrop += c->targets[i].ifdrop;
        int n = snprintf(targets + off, sizeof(targets) - off, "%s%s/%s/%s", i ? "," : "",
                         t->namespace_, t->pod, t->interface);
        if (n > 0) /* a truncated list stays NUL-terminated at the end of the buffer */
            off = off + (size_t)n < sizeof(targets) ? off + (size_t)n : sizeof(targets) - 1;
    }
    double secs = (double)(clock_ns(CLOCK_MONOTONIC) - c->started_ns) / 1e9;
    char quoted[280];
    if (c->podcapture)
        snprintf(who, sizeof(who), "for PodCapture %s",
                 log_quote(c->podcapture, quoted, sizeof(quoted)));
    else
        snprintf(who, sizeof(who), "by %s", log_quote(c->user, quoted, sizeof(quoted)));
    agent_log("capture %lu %s from %s: targets %s filter %s snaplen %u limits packets=%llu "
              "seconds=%llu bytes=%llu direction %s sample %u buffer %u MiB; sent %llu packets, "
              "%llu bytes, "
              "dropped %llu (kernel %llu); ended after %.1f s: %s",
              c->id, who, c->client, log_quote(targets, quoted_targets, sizeof(quoted_targets)),
              log_quote(c->spec.filter, filter, sizeof(filter)), c->spec.snaplen,
              (unsigned long long)c->spec.max_packets, (unsigned long long)c->spec.max_seconds,
              (unsigned long long)c->spec.max_bytes, capture_direction_name(c->spec.direction),
              c->spec.sample, c->spec.buffer_mib, (unsigned long long)c->packets,
              (unsigned long long)c->bytes, (unsigned long long)c->drops,
              (unsigned long long)ifdrop, secs, log_quote(c->end_reason, reason, sizeof(reason)));
}

static void capture_free(struct capture *c)
{
    ring_free(&c->ring);
    if (c->stop_fd >= 0)
        close(c->stop_fd);
    for (size_t i = 0; c->targets && i < c->spec.n_targets; i++) {
        ncap_meta_free(&c->targets[i].pod);
        podtable_put(c->targets[i].peers);
        names_free(c->targets[i].names);
        ncap_buf_free(&c->targets[i].nrb);
    }
    capture_spec_free(&c->spec);
    free(c->targets);
    free(c->user);
    free(c->client);
    free(c->podcapture);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void capture_unref(struct capture *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_lock(&reg_mu);
    for (struct capture **p = &reg_head; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            reg_active--;
            reg_armed -= c->streamed;
            reg_buffer_bytes -= c->buffer_bytes;
            break;
        }
    }
    pthread_cond_broadcast(&reg_cv);
    pthread_mutex_unlock(&reg_mu);
    if (c->streamed) {
        audit(c);
        if (c->owner.on_end) {
            struct capture_result r = {
                .packets = c->packets,
                .bytes = c->bytes,
                .drops = c->drops,
                .failed = c->failed,
                .end_reason = c->end_reason,
            };
            c->owner.on_end(c->owner.ud, &r);
        }
    }
    capture_free(c);
}

/* ---- writing blocks ---- */

/* Append a whole block to the ring, keeping `keep` bytes free; wakes the reader. */
static int put_block_locked(struct capture *c, const ncap_buf *b, size_t keep)
{
    if (ring_room(&c->ring) < b->len + keep)
        return -1;
    bool was_empty = c->ring.used == 0;
    ring_put(&c->ring, b->data, b->len);
    if (was_empty)
        pthread_cond_broadcast(&c->cv);
    return 0;
}

static void write_isb(struct target *t, bool final)
{
    struct capture *c = t->cap;
    pktsock_stats(&t->ps, &t->ifrecv, &t->ifdrop);
    uint64_t now = clock_ns(CLOCK_REALTIME);
    struct ncap_pcapng_isb isb = {
        .if_id = t->if_id,
        .ts = now,
        .starttime = t->start_ns,
        .endtime = now,
        .ifrecv = t->ifrecv,
        .ifdrop = t->ifdrop,
        .filteraccept = t->delivered,
        .osdrop = t->osdrop,
    };
    /* A capture that ended early says why in its final statistics: the extcap tells the user. */
    char note[sizeof(c->end_reason) + 16];
    if (final) {
        pthread_mutex_lock(&c->mu);
        if (c->failed && c->end_reason[0]) {
            snprintf(note, sizeof(note), NCAP_END_NOTE_PREFIX "%s", c->end_reason);
            isb.comment = note;
        }
        pthread_mutex_unlock(&c->mu);
    }
    char err[NCAP_ERRBUF_SIZE];
    t->isb.len = 0; /* not scratch: that may hold a packet waiting for ring room */
    int ok = ncap_pcapng_write_isb(&t->isb, &isb, err) == 0;
    pthread_mutex_lock(&c->mu);
    if (final)
        c->reserve -= FINAL_ISB_RESERVE;
    /* A periodic ISB that finds the ring full is skipped: the stream is busy anyway. */
    if (ok)
        put_block_locked(c, &t->isb, c->reserve);
    pthread_mutex_unlock(&c->mu);
}

/* The first packet to or from a known pod or service: a name record for its address goes
 * into t->nrb, to be sent just before the packet. */
static void name_peer(struct target *t, const struct ncap_flow_meta *fm, const struct flow_far *far)
{
    t->nrb.len = 0;
    bool pod = fm->peer_pod.ptr && fm->peer_namespace.ptr;
    bool svc = !pod && fm->peer_service.ptr && fm->peer_namespace.ptr;
    if (!t->names || !far->family || !(pod || svc) || !names_take(t->names, far->family, far->addr))
        return;
    char name[600], err[NCAP_ERRBUF_SIZE];
    if (pod)
        snprintf(name, sizeof(name), "%.*s.%.*s", fm->peer_pod.len, fm->peer_pod.ptr,
                 fm->peer_namespace.len, fm->peer_namespace.ptr);
    else
        snprintf(name, sizeof(name), "%.*s.%.*s.svc", fm->peer_service.len, fm->peer_service.ptr,
                 fm->peer_namespace.len, fm->peer_namespace.ptr);
    if (names_write_one(&t->nrb, far->family, far->addr, name, err) < 0)
        t->nrb.len = 0;
}

static void count_drop_locked(struct target *t)
{
    t->osdrop++;
    t->cap->drops++;
    atomic_fetch_add_explicit(&m_drops_total, 1, memory_order_relaxed);
}

/* Filter, describe and encode one packet into t->scratch (its name record into t->nrb);
 * false when it is filtered out. */
static bool encode_packet(struct target *t, uint64_t ts_ns, const uint8_t *bytes, uint32_t caplen,
                          uint32_t len)
{
    struct capture *c = t->cap;
    t->delivered++;
    uint32_t dir = flow_direction(t->mac, bytes, caplen);
    if ((c->spec.direction == DIRECTION_IN && dir != NCAP_DIR_IN) ||
        (c->spec.direction == DIRECTION_OUT && dir != NCAP_DIR_OUT))
        return false;
    if (c->spec.sample > 1 && t->sampled++ % c->spec.sample != 0)
        return false;

    struct flow_tuple tu;
    bool ip = flow_parse(bytes, caplen, &tu) == 0;
    if (!ip || t->last.peers != t->peers || t->last.dir != dir ||
        !flow_tuple_equal(&t->last.key, &tu)) {
        struct ncap_flow_meta fm;
        struct flow_far far;
        flow_describe(t->peers, c->salt, ip ? &tu : NULL, dir, &fm, &far);
        name_peer(t, &fm, &far);
        t->last.tlv_len =
            fm.present ? ncap_tlv_encode(&fm, t->last.tlv, sizeof(t->last.tlv), NULL) : 0;
        t->last.peers = ip && t->last.tlv_len >= 0 ? t->peers : NULL;
        t->last.dir = dir;
        t->last.key = tu;
    } else {
        t->nrb.len = 0; /* the far end was named at the flow's first packet, if at all */
    }
    int tlv_len = t->last.tlv_len;
    const uint8_t *tlv = t->last.tlv;
    struct ncap_pcapng_epb epb = {
        .if_id = t->if_id,
        .ts = ts_ns,
        .caplen = caplen,
        .origlen = len,
        .data = bytes,
        .flags = dir,
        .custom = tlv_len > 0 ? tlv : NULL,
        .custom_len = tlv_len > 0 ? (size_t)tlv_len : 0,
    };
    char err[NCAP_ERRBUF_SIZE];
    t->scratch.len = 0;
    t->held_encoded = ncap_pcapng_write_epb(&t->scratch, &epb, err) == 0;
    t->held_caplen = caplen;
    return true;
}

/* Let go of cap->mu after a batch of packets (see struct target), and publish the batch's
 * counts to /metrics. */
static void unlock_batch(struct target *t)
{
    if (!t->locked)
        return;
    t->locked = false;
    pthread_mutex_unlock(&t->cap->mu);
    if (t->sent_packets) {
        atomic_fetch_add_explicit(&m_packets_total, t->sent_packets, memory_order_relaxed);
        atomic_fetch_add_explicit(&m_bytes_total, t->sent_bytes, memory_order_relaxed);
        t->sent_packets = t->sent_bytes = 0;
    }
}

/* One packet from the kernel's ring (see pktsock.h for the answers). A packet that does not
 * fit in the stream ring is not dropped here: it stays in the kernel's ring (PKTSOCK_AGAIN) and
 * the thread waits for room, so both rings buffer a burst; only when the kernel's ring is full
 * too does the kernel drop, and count. */
static int on_packet(void *user, uint64_t ts_ns, const uint8_t *bytes, uint32_t caplen,
                     uint32_t len)
{
    struct target *t = user;
    struct capture *c = t->cap;
    if (!t->held && !encode_packet(t, ts_ns, bytes, caplen, len))
        return PKTSOCK_NEXT;
    t->held = false;

    if (!t->locked) {
        pthread_mutex_lock(&c->mu);
        t->locked = true;
        t->batch = 0;
    }
    if (atomic_load(&c->stopping)) {
        unlock_batch(t);
        t->held = true;
        return PKTSOCK_AGAIN; /* not sent: it stays in the kernel's ring, counted at the end */
    }
    size_t need = t->nrb.len + t->scratch.len + c->reserve;
    int verdict = PKTSOCK_NEXT;
    /* limits.bytes bounds the captured packet data: every packet sent fits in it, and the first
     * one that would not ends the capture unsent. */
    if (t->held_encoded && c->spec.max_bytes &&
        c->data_bytes + t->held_caplen > c->spec.max_bytes) {
        c->by_limit = true;
        stop_locked(c, false, "bytes limit reached");
        t->nrb.len = 0;
        verdict = PKTSOCK_AGAIN; /* not sent; beyond the limit */
    } else if (!t->held_encoded || need > c->ring.cap) {
        count_drop_locked(t); /* cannot be encoded, or never fits: not worth waiting for */
    } else if (ring_room(&c->ring) < need) {
        t->held = true;
        verdict = PKTSOCK_AGAIN;
    } else {
        if (t->nrb.len)
            put_block_locked(c, &t->nrb, 0);
        t->nrb.len = 0;
        put_block_locked(c, &t->scratch, 0);
        c->packets++;
        c->bytes += t->scratch.len;
        c->data_bytes += t->held_caplen;
        t->sent_packets++;
        t->sent_bytes += t->scratch.len;
        if (c->spec.max_packets && c->packets >= c->spec.max_packets) {
            c->by_limit = true;
            stop_locked(c, false, "packets limit reached");
        }
    }
    bool stopping = atomic_load(&c->stopping);
    if (stopping || verdict != PKTSOCK_NEXT || ++t->batch >= LOCK_BATCH)
        unlock_batch(t);
    if (stopping && verdict == PKTSOCK_NEXT)
        return PKTSOCK_STOP; /* this one was sent; what follows stays in the kernel's ring */
    return verdict;
}

/* The held packet waits for the stream ring to have room, at most POLL_MS. */
static void wait_for_room(struct target *t)
{
    struct capture *c = t->cap;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += POLL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    size_t need = t->nrb.len + t->scratch.len + c->reserve;
    c->writers_waiting++;
    while (!atomic_load(&c->stopping) && ring_room(&c->ring) < need)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0)
            break;
    c->writers_waiting--;
    pthread_mutex_unlock(&c->mu);
}

/* ---- arming, inside the pod's network namespace ---- */

__attribute__((format(printf, 4, 5))) static int arm_fail(struct target *t, int status,
                                                          const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    t->fail_status = status;
    t->fail_reason = reason;
    return -1;
}

/* The pod's packet socket from the broker, then the ring and the filter (no privileges
 * needed from here on). */
static int arm(struct target *t)
{
    struct capture *c = t->cap;
    const char *ns = t->pod.namespace_, *pod = t->pod.pod, *ifname = t->spec->interface;
    char err[NCAP_ERRBUF_SIZE];
    int status;
    const char *reason;

    int fd = broker_open(&t->pod, ifname, t->mac, &status, &reason, err);
    if (fd < 0)
        return arm_fail(t, status, reason, "%s", err);
    /* The same code libpcap would load on a live Ethernet socket (for a dead handle it cannot
     * use Linux's VLAN extensions, and the ring gives packets with their tags put back). */
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, (int)c->spec.snaplen);
    if (!dead) {
        close(fd);
        return arm_fail(t, 500, "CaptureFailed", "out of memory compiling the capture filter");
    }
    struct bpf_program prog;
    if (pcap_compile(dead, &prog, c->spec.filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        arm_fail(t, 400, "BadFilter", "bad capture filter \"%s\": %s", c->spec.filter,
                 pcap_geterr(dead));
        pcap_close(dead);
        close(fd);
        return -1;
    }
    pcap_close(dead);
    int rc =
        pktsock_open(&t->ps, fd, (size_t)c->spec.buffer_mib << 20, PCAP_TIMEOUT_MS, &prog, err);
    pcap_freecode(&prog);
    if (rc < 0)
        return arm_fail(t, 500, "CaptureFailed", "cannot capture on %s of pod %s/%s: %s", ifname,
                        ns, pod, err);
    t->start_ns = clock_ns(CLOCK_REALTIME);
    return 0;
}

/* ---- the capture thread ---- */

/* Name peers from the newest pod table (rebuilt here if it changed since the last one). */
static void refresh_peers(struct target *t)
{
    struct podsource *src = t->cap->pods;
    if (t->peers && t->peers->gen == podsource_generation(src))
        return;
    struct podtable *fresh = podsource_get(src);
    if (fresh) {
        podtable_put(t->peers);
        t->peers = fresh;
        t->last.peers = NULL; /* the cached flow record names peers from the old table */
    }
}

static void capture_loop(struct target *t)
{
    struct capture *c = t->cap;
    struct pollfd pfd[2] = {
        {.fd = t->ps.fd, .events = POLLIN},
        {.fd = c->stop_fd, .events = POLLIN},
    };
    uint64_t next_isb = clock_ns(CLOCK_MONOTONIC) + ISB_INTERVAL_NS;
    while (!atomic_load(&c->stopping)) {
        if (t->held)
            wait_for_room(t);
        /* Packets the kernel has handed over are taken without waiting for a wake-up. */
        int n = pktsock_pending(&t->ps) ? 0 : poll(pfd, 2, POLL_MS);
        if (n == 0 && pktsock_pending(&t->ps)) {
            pfd[0].revents = POLLIN;
            n = 1;
        }
        if (n < 0 && errno != EINTR) {
            char why[NCAP_ERRBUF_SIZE];
            snprintf(why, sizeof(why), "poll failed: %s", strerror(errno));
            stop_with(c, true, why);
            break;
        }
        if (n > 0 && pfd[0].revents) {
            pktsock_dispatch(&t->ps, on_packet, t);
            unlock_batch(t);
            if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                pthread_mutex_lock(&c->mu);
                stop_locked(c, true, "interface %s of pod %s/%s went down or away",
                            t->spec->interface, t->pod.namespace_, t->pod.pod);
                pthread_mutex_unlock(&c->mu);
                break;
            }
        }
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (c->deadline_ns && now >= c->deadline_ns) {
            pthread_mutex_lock(&c->mu);
            if (!atomic_load(&c->stopping))
                c->by_limit = true;
            stop_locked(c, false, "seconds limit reached");
            pthread_mutex_unlock(&c->mu);
        }
        if (now >= next_isb) {
            write_isb(t, false);
            /* Once a second is fresh enough, and bounds the rebuilds a busy cluster causes. */
            refresh_peers(t);
            next_isb = now + ISB_INTERVAL_NS;
        }
    }
}

static void *target_main(void *arg)
{
    struct target *t = arg;
    struct capture *c = t->cap;
    pthread_setname_np(pthread_self(), "netcap-capture");
    int ok = arm(t) == 0;
    pthread_mutex_lock(&c->mu);
    t->state = ok ? ARMED : ARM_FAILED;
    if (!ok)
        c->reserve -= FINAL_ISB_RESERVE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (ok) {
        capture_loop(t);
        /* What the kernel still holds for us will never be sent: dropped, and counted (unless
         * a limit ended the capture: what came after it was not asked for). */
        uint64_t left = pktsock_discard(&t->ps);
        pthread_mutex_lock(&c->mu);
        bool by_limit = c->by_limit;
        pthread_mutex_unlock(&c->mu);
        if (left && !by_limit) {
            pthread_mutex_lock(&c->mu);
            t->osdrop += left;
            c->drops += left;
            pthread_mutex_unlock(&c->mu);
            atomic_fetch_add_explicit(&m_drops_total, left, memory_order_relaxed);
        }
        write_isb(t, true);
    }
    pktsock_close(&t->ps);
    ncap_buf_free(&t->scratch);
    ncap_buf_free(&t->isb);
    pthread_mutex_lock(&c->mu);
    c->running--;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    capture_unref(c);
    return NULL;
}

/* ---- setting a capture up ---- */

static int check_filter(const struct capture_spec *spec, char *err)
{
    pcap_t *p = pcap_open_dead(DLT_EN10MB, (int)spec->snaplen);
    if (!p)
        return ncap_fail(err, "out of memory checking the capture filter");
    struct bpf_program prog;
    int rc = pcap_compile(p, &prog, spec->filter, 1, PCAP_NETMASK_UNKNOWN);
    if (rc < 0)
        ncap_fail(err, "bad capture filter \"%s\": %s", spec->filter, pcap_geterr(p));
    else
        pcap_freecode(&prog);
    pcap_close(p);
    return rc < 0 ? -1 : 0;
}

static int write_headers(struct capture *c, char *err)
{
    ncap_buf b = {0};
    int rc = ncap_pcapng_write_shb(&b, "netcap-agent " NCAP_VERSION, err);
    for (size_t i = 0; rc == 0 && i < c->spec.n_targets; i++) {
        const struct target *t = &c->targets[i];
        struct ncap_pod_meta m;
        char name[600];
        snprintf(name, sizeof(name), "k8s/%s/%s/%s", t->pod.namespace_, t->pod.pod,
                 t->spec->interface);
        if (ncap_meta_copy(&m, &t->pod, err) < 0) {
            rc = -1;
            break;
        }
        free(m.interface);
        m.interface = strdup(t->spec->interface);
        char *desc = m.interface ? ncap_meta_to_json(&m, err) : NULL;
        if (!desc)
            rc = ncap_fail(err, "out of memory describing pod %s/%s", m.namespace_, m.pod);
        struct ncap_pcapng_idb idb = {
            .linktype = NCAP_LINKTYPE_ETHERNET,
            .snaplen = c->spec.snaplen,
            .name = name,
            .description = desc,
            .tsresol = 9,
        };
        if (rc == 0)
            rc = ncap_pcapng_write_idb(&b, &idb, err);
        free(desc);
        ncap_meta_free(&m);
    }
    /* The captured pods' own names, right after their interfaces. */
    for (size_t i = 0; rc == 0 && c->spec.name_records && i < c->spec.n_targets; i++)
        rc = names_write_pod(&b, c->targets[i].names, &c->targets[i].pod, err);
    if (rc == 0 && ring_put(&c->ring, b.data, b.len) < 0)
        rc = ncap_fail(err, "the stream headers do not fit in the stream buffer");
    ncap_buf_free(&b);
    return rc;
}

static struct capture *capture_new(struct capture_spec *spec, struct podsource *pods,
                                   struct podtable *table, const struct ncap_pod_meta *const *metas,
                                   const struct capture_who *who, const struct capture_owner *owner,
                                   char *err)
{
    struct capture *c = calloc(1, sizeof(*c));
    if (!c) {
        capture_spec_free(spec);
        ncap_fail(err, "out of memory");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    atomic_init(&c->stopping, false);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->spec = *spec;
    memset(spec, 0, sizeof(*spec));
    if (!c->spec.buffer_mib)
        c->spec.buffer_mib = REQUEST_BUFFER_DEFAULT_MIB;
    c->buffer_bytes = ((uint64_t)c->spec.buffer_mib << 20) * c->spec.n_targets;
    c->pods = pods;
    if (owner)
        c->owner = *owner;
    c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->user = who->user ? strdup(who->user) : NULL;
    c->podcapture = who->podcapture ? strdup(who->podcapture) : NULL;
    c->client = strdup(who->client);
    c->targets = calloc(c->spec.n_targets, sizeof(*c->targets));
    if (getrandom(&c->salt, sizeof(c->salt), 0) != sizeof(c->salt))
        c->salt = clock_ns(CLOCK_REALTIME) ^ (uintptr_t)c;
    c->started_ns = clock_ns(CLOCK_MONOTONIC);
    if (c->spec.max_seconds)
        c->deadline_ns = c->started_ns + c->spec.max_seconds * NS_PER_S;
    if (c->stop_fd < 0 || (who->user && !c->user) || (who->podcapture && !c->podcapture) ||
        !c->client || !c->targets) {
        ncap_fail(err, "cannot set up a capture: out of memory or file descriptors");
        capture_free(c);
        return NULL;
    }
    if (ring_init(&c->ring, CAPTURE_RING_SIZE, err) < 0) {
        capture_free(c);
        return NULL;
    }
    for (size_t i = 0; i < c->spec.n_targets; i++) {
        struct target *t = &c->targets[i];
        *t = (struct target){
            .cap = c,
            .if_id = (uint32_t)i,
            .spec = &c->spec.targets[i],
            .ps = {.fd = -1},
        };
        if (ncap_meta_copy(&t->pod, metas[i], err) < 0) {
            capture_free(c);
            return NULL;
        }
        if (c->spec.name_records && !(t->names = names_new())) {
            ncap_fail(err, "cannot set up a capture: out of memory");
            capture_free(c);
            return NULL;
        }
        atomic_fetch_add(&table->refs, 1);
        t->peers = table;
    }
    c->reserve = FINAL_ISB_RESERVE * c->spec.n_targets;
    if (write_headers(c, err) < 0) {
        capture_free(c);
        return NULL;
    }
    return c;
}

static int register_capture(struct capture *c, const char **reason, char *err)
{
    int status = 0;
    pthread_mutex_lock(&reg_mu);
    if (reg_closing) {
        *reason = "ShuttingDown";
        status = 503;
        ncap_fail(err, "the agent is shutting down");
    } else if (reg_active >= CAPTURE_MAX_ACTIVE) {
        *reason = "TooManyCaptures";
        status = 429;
        ncap_fail(err, "the agent already runs %d captures, the most it allows",
                  CAPTURE_MAX_ACTIVE);
    } else if (reg_buffer_bytes + c->buffer_bytes > reg_buffer_budget) {
        *reason = "CaptureBufferBudget";
        status = 429;
        ncap_fail(err,
                  "the agent cannot give this capture %llu MiB of capture buffer: %llu of its "
                  "%llu MiB are in use by other captures (ask for a smaller buffer, or wait)",
                  (unsigned long long)(c->buffer_bytes >> 20),
                  (unsigned long long)(reg_buffer_bytes >> 20),
                  (unsigned long long)(reg_buffer_budget >> 20));
    } else {
        c->id = ++reg_last_id;
        c->next = reg_head;
        reg_head = c;
        reg_active++;
        reg_buffer_bytes += c->buffer_bytes;
        m_captures_total++;
    }
    pthread_mutex_unlock(&reg_mu);
    return status;
}

/* Start every target's thread and wait until each has armed or failed. */
static void arm_all(struct capture *c)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (size_t i = 0; i < c->spec.n_targets; i++) {
        struct target *t = &c->targets[i];
        pthread_t th;
        atomic_fetch_add(&c->refs, 1);
        pthread_mutex_lock(&c->mu);
        c->running++;
        pthread_mutex_unlock(&c->mu);
        int e = pthread_create(&th, &attr, target_main, t);
        if (e) {
            atomic_fetch_sub(&c->refs, 1);
            pthread_mutex_lock(&c->mu);
            c->running--;
            c->reserve -= FINAL_ISB_RESERVE;
            t->state = ARM_FAILED;
            arm_fail(t, 500, "CaptureFailed", "cannot start a capture thread: %s", strerror(e));
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->spec.n_targets; i++)
        while (c->targets[i].state == ARMING)
            pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

int capture_start(struct capture_spec *spec, struct podsource *pods, const struct capture_who *who,
                  const struct capture_owner *owner, struct capture **out, const char **reason,
                  char *err)
{
    const struct ncap_pod_meta *metas[REQ_MAX_TARGETS];
    *out = NULL;
    if (spec->n_targets > REQ_MAX_TARGETS) {
        capture_spec_free(spec);
        *reason = "BadRequest";
        ncap_fail(err, "a capture takes at most %d targets", REQ_MAX_TARGETS);
        return 400;
    }
    struct podtable *table = podsource_get(pods);
    for (size_t i = 0; i < spec->n_targets; i++) {
        metas[i] =
            podtable_find_local(table, spec->targets[i].namespace_, spec->targets[i].pod, err);
        if (!metas[i]) {
            podtable_put(table);
            capture_spec_free(spec);
            *reason = "PodNotFound";
            return 404;
        }
    }
    if (check_filter(spec, err) < 0) {
        podtable_put(table);
        capture_spec_free(spec);
        *reason = "BadFilter";
        return 400;
    }
    struct capture *c = capture_new(spec, pods, table, metas, who, owner, err);
    podtable_put(table);
    if (!c) {
        *reason = "CaptureFailed";
        return 500;
    }
    int status = register_capture(c, reason, err);
    if (status) {
        capture_free(c);
        return status;
    }
    arm_all(c);
    for (size_t i = 0; i < c->spec.n_targets; i++) {
        const struct target *t = &c->targets[i];
        if (t->state == ARM_FAILED) {
            status = t->fail_status;
            *reason = t->fail_reason;
            ncap_fail(err, "%s", t->err);
            stop_with(c, true, t->err);
            capture_unref(c); /* the threads end on their own and free the capture */
            return status;
        }
    }
    pthread_mutex_lock(&reg_mu);
    c->streamed = true;
    reg_armed++;
    pthread_mutex_unlock(&reg_mu);
    *out = c;
    return 0;
}

/* ---- the stream side ---- */

ssize_t capture_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct capture *c = cls;
    (void)pos;
    pthread_mutex_lock(&c->mu);
    for (int waited = 0;; waited = 1) {
        size_t n = ring_get(&c->ring, buf, max);
        if (n) {
            if (c->writers_waiting) /* a held packet may fit now */
                pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
            return (ssize_t)n;
        }
        if (atomic_load(&c->stopping) && c->running == 0) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (waited)
            break;
        /* Never return 0 without waiting: libmicrohttpd would call again at once and spin. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &until);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void capture_release(void *cls)
{
    struct capture *c = cls;
    stop_with(c, false, "the client went away");
    capture_unref(c);
}

void capture_stop(struct capture *c, const char *reason)
{
    stop_with(c, false, reason);
}

void capture_progress(struct capture *c, struct capture_result *r)
{
    pthread_mutex_lock(&c->mu);
    r->packets = c->packets;
    r->bytes = c->bytes;
    r->drops = c->drops;
    r->failed = c->failed;
    r->end_reason = NULL;
    pthread_mutex_unlock(&c->mu);
}

/* ---- all captures ---- */

void capture_stop_all(const char *reason)
{
    pthread_mutex_lock(&reg_mu);
    reg_closing = true;
    for (struct capture *c = reg_head; c; c = c->next)
        stop_with(c, true, reason);
    pthread_mutex_unlock(&reg_mu);
}

int capture_wait_idle(int timeout_ms)
{
    struct timespec until = agent_deadline(CLOCK_REALTIME, (unsigned long)timeout_ms);
    pthread_mutex_lock(&reg_mu);
    int rc = 0;
    while (reg_active > 0 && rc == 0)
        rc = pthread_cond_timedwait(&reg_cv, &reg_mu, &until);
    int left = reg_active > 0;
    pthread_mutex_unlock(&reg_mu);
    return left ? -1 : 0;
}

void capture_set_buffer_budget(uint64_t bytes)
{
    pthread_mutex_lock(&reg_mu);
    reg_buffer_budget = bytes;
    pthread_mutex_unlock(&reg_mu);
}

char *capture_metrics(void)
{
    pthread_mutex_lock(&reg_mu);
    unsigned active = reg_armed;
    uint64_t total = m_captures_total, buffer = reg_buffer_bytes, budget = reg_buffer_budget;
    pthread_mutex_unlock(&reg_mu);
    char *out = NULL;
    if (asprintf(
            &out,
            "# HELP netcap_captures_active Captures streaming now.\n"
            "# TYPE netcap_captures_active gauge\n"
            "netcap_captures_active %u\n"
            "# HELP netcap_captures_total Captures started.\n"
            "# TYPE netcap_captures_total counter\n"
            "netcap_captures_total %llu\n"
            "# HELP netcap_packets_total Packets streamed to clients.\n"
            "# TYPE netcap_packets_total counter\n"
            "netcap_packets_total %llu\n"
            "# HELP netcap_packet_bytes_total Bytes of packet blocks streamed to clients.\n"
            "# TYPE netcap_packet_bytes_total counter\n"
            "netcap_packet_bytes_total %llu\n"
            "# HELP netcap_drops_total Packets dropped because a client's buffer was full.\n"
            "# TYPE netcap_drops_total counter\n"
            "netcap_drops_total %llu\n"
            "# HELP netcap_capture_buffer_bytes Kernel capture rings of running captures.\n"
            "# TYPE netcap_capture_buffer_bytes gauge\n"
            "netcap_capture_buffer_bytes %llu\n"
            "# HELP netcap_capture_buffer_budget_bytes Most kernel capture ring memory allowed.\n"
            "# TYPE netcap_capture_buffer_budget_bytes gauge\n"
            "netcap_capture_buffer_budget_bytes %llu\n",
            active, (unsigned long long)total, (unsigned long long)atomic_load(&m_packets_total),
            (unsigned long long)atomic_load(&m_bytes_total),
            (unsigned long long)atomic_load(&m_drops_total), (unsigned long long)buffer,
            (unsigned long long)budget) < 0)
        return NULL;
    return out;
}
