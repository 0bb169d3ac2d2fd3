/*
 * streams.c - run N agent streams with curl multi and merge them into the fifo (see streams.h).
 *
 * One thread, one curl multi handle. Each transfer's body goes to the merger (merge.h) as it
 * arrives, and the merger is drained into the fifo right away, so memory stays bounded by the
 * merger's per-source cap; a slow fifo slows every transfer (the agents count the drops). The
 * loop wakes at least every STREAMS_TICK_MS to notice a stop request, the reorder window and
 * stalled sources.
 *
 * The HTTP status decides at the first body byte, as in capture.c: 200 is a pcapng stream, any
 * other answer is collected (up to STREAMS_ERROR_BODY_MAX) and turned into one sentence. How a
 * source ends, and its outcome:
 *   - the body ends cleanly (the agent reached a limit)          -> COMPLETED
 *   - Wireshark stops the capture or closes the fifo             -> STOPPED (every source)
 *   - no answer / TLS failure / non-200 / broken or stalled body -> FAILED with a sentence
 * With several sources a sentence names its node: "node n3: cannot reach the agent: ...".
 *
 * Besides WRITEFUNCTION/WRITEDATA, XFERINFOFUNCTION/XFERINFODATA and PRIVATE, the runner sets
 * NOPROGRESS (0) and ERRORBUFFER (reset to NULL on return) on each handle; the caller keeps
 * ownership of the handles and cleans them up.
 *
 * Time comes from timespec_get() (C11; GetTickCount64 on Windows, whose msvcrt lacks it)
 * through a clock that never goes back and advances at most STREAMS_STEP_MAX_MS per reading: a
 * wall-clock jump, or a long blocked write to the fifo, must not make every source look stalled.
 */
#include "streams.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN /* no objbase.h: its `interface` macro breaks meta.h */
#include <windows.h>        /* GetTickCount64 */
#endif

#include "debuglog.h"
#include "merge.h"
#include "pcapng.h"

#define STREAMS_STALL_MS 30000u
#define STREAMS_TICK_MS 250L
#define STREAMS_STEP_MAX_MS 1000u
#define STREAMS_ERROR_BODY_MAX (64 * 1024)
#define STREAMS_OUT_MAX (256 * 1024)
#define STREAMS_DIRECT_MIN (8 * 1024)

struct clock {
    uint64_t last_wall;
    uint64_t now;
};

struct runner;

struct source_run {
    struct runner *r;
    size_t idx;
    CURL *easy;
    int active;       /* still attached to the multi handle */
    int merge_failed; /* the merger rejected the stream: err holds why */
    long status;      /* 0 until the first body byte */
    uint64_t last_ms; /* the last body byte, or the start */
    char *error_body; /* a non-200 body, capped at STREAMS_ERROR_BODY_MAX */
    size_t error_len;
    char errbuf[CURL_ERROR_SIZE];
    char err[NCAP_ERRBUF_SIZE];
};

struct runner {
    struct merge *m;
    struct platform_fifo *fifo;
    struct stream_source *sources;
    struct stream_result *results;
    struct source_run *runs;
    size_t n;
    CURLM *multi;
    size_t active;
    long first_failed; /* index of the first source to fail, -1 if none */
    int stopping;      /* stop requested or fifo trouble: end everything */
    int limited;       /* the packet limit went out: end every source as completed */
    enum platform_io fifo_result;
    char fifo_err[NCAP_ERRBUF_SIZE];
    ncap_buf out;
    struct clock clock;
};

static uint64_t wall_ms(void)
{
#ifdef _WIN32
    /* msvcrt has no timespec_get. Only differences of this clock are used, and the tick count
     * (milliseconds since boot, never going back) serves that purpose even better. */
    return (uint64_t)GetTickCount64();
#else
    struct timespec ts;

    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
#endif
}

static uint64_t clock_now(struct clock *c)
{
    uint64_t w = wall_ms();

    if (w > c->last_wall)
        c->now += w - c->last_wall < STREAMS_STEP_MAX_MS ? w - c->last_wall : STREAMS_STEP_MAX_MS;
    c->last_wall = w;
    return c->now;
}

/* Copies s into out (size NCAP_ERRBUF_SIZE), turning control characters into spaces so that
 * the error stays on one line of stderr. */
static void one_line(char *out, const char *s)
{
    size_t i = 0;

    for (; s[i] && i < NCAP_ERRBUF_SIZE - 1; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    while (i > 0 && out[i - 1] == ' ')
        i--;
    out[i] = '\0';
}

int streams_refusal(long status, const char *body, size_t len, char *err)
{
    cJSON *json = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "kind");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(json, "message");
    char sentence[NCAP_ERRBUF_SIZE];

    if (cJSON_IsString(error) && error->valuestring[0] != '\0') {
        one_line(sentence, error->valuestring);
        cJSON_Delete(json);
        debuglog(DEBUGLOG_INFO, "agent error: %s", sentence);
        if (status >= 400 && status < 500)
            return ncap_fail(err, "agent refused the capture: %s", sentence);
        if (status >= 500)
            return ncap_fail(err, "agent failed to capture: %s", sentence);
        return ncap_fail(err, "agent answered HTTP %ld: %s", status, sentence);
    }
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0 &&
        cJSON_IsString(message) && message->valuestring[0] != '\0') {
        one_line(sentence, message->valuestring);
        cJSON_Delete(json);
        debuglog(DEBUGLOG_INFO, "API server status: %s", sentence);
        if (status >= 400 && status < 500)
            return ncap_fail(err, "the Kubernetes API server refused to reach the agent: %s",
                             sentence);
        return ncap_fail(err, "the Kubernetes API server could not reach the agent: %s", sentence);
    }
    cJSON_Delete(json);
    return ncap_fail(err, "agent answered HTTP %ld", status);
}

/* ---- output ---- */

static int flush_out(struct runner *r)
{
    if (r->fifo_result == PLATFORM_IO_OK && r->out.len > 0)
        r->fifo_result = platform_fifo_write(r->fifo, r->out.data, r->out.len, r->fifo_err);
    r->out.len = 0;
    return r->fifo_result == PLATFORM_IO_OK ? 0 : -1;
}

static int emit(const uint8_t *data, size_t len, void *ud)
{
    struct runner *r = ud;

    /* A run of packet blocks (with one source, everything an HTTP chunk brought) goes to the
     * fifo straight from the merger, after whatever small blocks wait before it: copying it
     * into r->out first was one more copy of every packet (perf). */
    if ((r->out.len + len > STREAMS_OUT_MAX || len >= STREAMS_DIRECT_MIN) && flush_out(r) < 0)
        return -1;
    if (len >= STREAMS_DIRECT_MIN) {
        r->fifo_result = platform_fifo_write(r->fifo, data, len, r->fifo_err);
        return r->fifo_result == PLATFORM_IO_OK ? 0 : -1;
    }
    memcpy(r->out.data + r->out.len, data, len);
    r->out.len += len;
    return 0;
}

static void drain(struct runner *r, uint64_t now_ms)
{
    if (r->stopping)
        return;
    if (merge_drain(r->m, now_ms, emit, r) != 0 || flush_out(r) < 0)
        r->stopping = 1;
}

/* ---- transfers ---- */

static size_t collect_error_body(struct source_run *s, const char *data, size_t len)
{
    size_t room = STREAMS_ERROR_BODY_MAX - s->error_len;
    char *grown;

    if (len > room)
        len = room;
    grown = realloc(s->error_body, s->error_len + len + 1);
    if (!grown)
        return 0;
    s->error_body = grown;
    memcpy(s->error_body + s->error_len, data, len);
    s->error_len += len;
    s->error_body[s->error_len] = '\0';
    /* A short count makes curl stop: more than the cap is not an error sentence. */
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct source_run *s = userp;
    struct runner *r = s->r;
    size_t len = size * nmemb;
    uint64_t now;

    if (r->stopping)
        return 0;
    if (s->status == 0) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
        debuglog(DEBUGLOG_INFO, "%s answered HTTP %ld", r->sources[s->idx].label, s->status);
    }
    if (s->status != 200)
        return collect_error_body(s, data, len);

    now = clock_now(&r->clock);
    s->last_ms = now;
    if (merge_feed(r->m, s->idx, data, len, now, s->err) < 0) {
        s->merge_failed = 1;
        return 0;
    }
    drain(r, now);
    return r->stopping ? 0 : len;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct source_run *s = userp;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return (s->r->stopping || platform_stop_requested()) ? 1 : 0;
}

/* The sentence for a transfer that failed before any answer; who is "agent <label>" or
 * "the agent". */
static int unreachable(CURL *easy, const char *who, CURLcode rc, const char *errbuf, char *err)
{
    char detail[NCAP_ERRBUF_SIZE];
    curl_off_t tls_done = 0;
    long os_errno = 0;

    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &tls_done);
    one_line(detail, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT && tls_done > 0)
        return ncap_fail(err, "%s accepted the connection but did not answer: %s", who, detail);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (os_errno != 0)
            return ncap_fail(err, "cannot reach %s: %s", who, platform_socket_error_text(os_errno));
        return ncap_fail(err, "cannot reach %s: %s", who, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return ncap_fail(err, "cannot reach %s: no TLS connection in time (%s)", who, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
        return ncap_fail(err, "cannot reach %s: %s", who, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return ncap_fail(err, "TLS verification of %s failed: %s", who, detail);
    case CURLE_SSL_CONNECT_ERROR:
        return ncap_fail(err, "TLS handshake with %s failed: %s", who, detail);
    default:
        return ncap_fail(err, "request to %s failed: %s", who, detail);
    }
}

/* Detach source s and record its outcome; sentence (NULL unless FAILED) is unlabelled. */
static void settle(struct runner *r, struct source_run *s, enum stream_outcome outcome,
                   const char *sentence)
{
    struct stream_result *res = &r->results[s->idx];

    if (s->active) {
        curl_multi_remove_handle(r->multi, s->easy);
        s->active = 0;
        r->active--;
    }
    if (s->status == 0)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    res->http_status = s->status;
    res->outcome = outcome;
    if (outcome != STREAM_COMPLETED)
        merge_source_fail(r->m, s->idx);
    if (outcome != STREAM_FAILED)
        return;
    if (r->n > 1)
        ncap_fail(res->err, "node %s: %s", r->sources[s->idx].label, sentence);
    else
        ncap_fail(res->err, "%s", sentence);
    debuglog(DEBUGLOG_INFO, "%s", res->err);
    if (r->first_failed < 0)
        r->first_failed = (long)s->idx;
}

static void transfer_done(struct runner *r, struct source_run *s, CURLcode rc)
{
    char sentence[NCAP_ERRBUF_SIZE], detail[NCAP_ERRBUF_SIZE], who[NCAP_ERRBUF_SIZE];

    debuglog(DEBUGLOG_DEBUG, "%s: transfer ended: %s (%s)", r->sources[s->idx].label,
             curl_easy_strerror(rc), s->errbuf);
    if (s->merge_failed) {
        settle(r, s, STREAM_FAILED, s->err);
        return;
    }
    if (r->stopping || platform_stop_requested()) {
        settle(r, s, STREAM_STOPPED, NULL);
        return;
    }
    if (s->status == 0)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status == 200) {
        if (rc == CURLE_OK) {
            const char *note = NULL;
            if (merge_source_end(r->m, s->idx, sentence) < 0) {
                settle(r, s, STREAM_FAILED, sentence);
            } else if ((note = merge_source_note(r->m, s->idx))) {
                /* Everything it sent is kept; the user learns why it ended. */
                ncap_fail(sentence, "the agent ended the capture: %s", note);
                settle(r, s, STREAM_FAILED, sentence);
            } else {
                settle(r, s, STREAM_COMPLETED, NULL);
            }
            return;
        }
        one_line(detail, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        if (rc == CURLE_OPERATION_TIMEDOUT)
            ncap_fail(sentence, "the agent stream stalled: %s", detail);
        else
            ncap_fail(sentence, "the agent closed the stream early: %s", detail);
    } else if (s->status != 0) {
        streams_refusal(s->status, s->error_body, s->error_len, sentence);
    } else {
        if (r->n > 1)
            ncap_fail(who, "the agent");
        else
            ncap_fail(who, "agent %s", r->sources[s->idx].label);
        unreachable(s->easy, who, rc, s->errbuf, sentence);
    }
    settle(r, s, STREAM_FAILED, sentence);
}

static void check_stalls(struct runner *r, uint64_t now_ms)
{
    char sentence[NCAP_ERRBUF_SIZE];

    for (size_t i = 0; i < r->n; i++) {
        struct source_run *s = &r->runs[i];
        if (!s->active || now_ms - s->last_ms < STREAMS_STALL_MS)
            continue;
        if (s->status == 200)
            ncap_fail(sentence, "the agent stream stalled: no data for %u seconds",
                      STREAMS_STALL_MS / 1000u);
        else if (s->status != 0)
            streams_refusal(s->status, s->error_body, s->error_len, sentence);
        else if (r->n > 1)
            ncap_fail(sentence, "the agent did not answer for %u seconds",
                      STREAMS_STALL_MS / 1000u);
        else
            ncap_fail(sentence, "agent %s did not answer for %u seconds", r->sources[i].label,
                      STREAMS_STALL_MS / 1000u);
        settle(r, s, STREAM_FAILED, sentence);
    }
}

static CURLcode attach(struct runner *r, struct source_run *s)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(s->easy, opt, val);                                              \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, s);
    SET(CURLOPT_PRIVATE, s);
#undef SET
    if (rc != CURLE_OK)
        return rc;
    if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    s->active = 1;
    r->active++;
    return CURLE_OK;
}

static void run_loop(struct runner *r)
{
    while (r->active > 0) {
        struct CURLMsg *msg;
        int running, left;
        uint64_t now;
        long wait;

        if (platform_stop_requested())
            r->stopping = 1;
        if (r->stopping)
            return;
        curl_multi_perform(r->multi, &running);
        while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
            char *priv = NULL;
            struct source_run *s;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            s = (struct source_run *)(void *)priv;
            if (s && s->active)
                transfer_done(r, s, msg->data.result);
        }
        now = clock_now(&r->clock);
        check_stalls(r, now);
        drain(r, now);
        if (merge_limit_reached(r->m))
            r->limited = 1;
        if (r->active == 0 || r->stopping || r->limited)
            return;
        wait = merge_wait_ms(r->m, now);
        if (wait < 0 || wait > STREAMS_TICK_MS)
            wait = STREAMS_TICK_MS;
        curl_multi_poll(r->multi, NULL, 0, (int)wait, NULL);
    }
}

int streams_run(struct stream_source *sources, size_t n, unsigned long long max_packets,
                struct platform_fifo *fifo, struct stream_result *results, char *err)
{
    struct runner r = {.fifo = fifo,
                       .sources = sources,
                       .results = results,
                       .n = n,
                       .first_failed = -1,
                       .fifo_result = PLATFORM_IO_OK};
    int ret = -1, completed = 0;

    if (n == 0)
        return ncap_fail(err, "there is no agent to capture from");
    for (size_t i = 0; i < n; i++)
        results[i] = (struct stream_result){.outcome = STREAM_STOPPED};
    r.clock.last_wall = wall_ms();
    r.m = merge_new(n, MERGE_REORDER_MS_DEFAULT, MERGE_SOURCE_CAP_DEFAULT, err);
    r.runs = calloc(n, sizeof(*r.runs));
    if (!r.m || !r.runs || ncap_buf_reserve(&r.out, STREAMS_OUT_MAX, err) < 0) {
        ncap_fail(err, "out of memory");
        goto out;
    }
    merge_set_packet_limit(r.m, max_packets);
    r.multi = curl_multi_init();
    if (!r.multi) {
        ncap_fail(err, "cannot initialise libcurl");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        CURLcode rc;
        r.runs[i] = (struct source_run){.r = &r, .idx = i, .easy = sources[i].easy};
        rc = attach(&r, &r.runs[i]);
        if (rc != CURLE_OK) {
            ncap_fail(err, "this libcurl lacks a feature netcap needs: %s", curl_easy_strerror(rc));
            goto out;
        }
        debuglog(DEBUGLOG_INFO, "streaming from %s", sources[i].label);
    }

    run_loop(&r);
    if (!r.stopping) {
        if (merge_finish(r.m, emit, &r) != 0 || flush_out(&r) < 0)
            r.stopping = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (r.runs[i].active)
            settle(&r, &r.runs[i], r.limited ? STREAM_COMPLETED : STREAM_STOPPED, NULL);
        results[i].packets = merge_source_packets(r.m, i);
        completed |= results[i].outcome == STREAM_COMPLETED;
    }

    if (r.fifo_result == PLATFORM_IO_ERROR) {
        ncap_fail(err, "%s", r.fifo_err);
    } else if (r.stopping) {
        debuglog(DEBUGLOG_INFO, "stopped (%s)",
                 r.fifo_result == PLATFORM_IO_CLOSED ? "the fifo reader went away" : "on request");
        ret = 0;
    } else if (completed || r.first_failed < 0) {
        ret = 0;
    } else {
        ncap_fail(err, "%s", results[r.first_failed].err);
    }

out:
    if (r.runs) {
        for (size_t i = 0; i < n; i++) {
            if (r.runs[i].active)
                curl_multi_remove_handle(r.multi, r.runs[i].easy);
            if (r.runs[i].easy)
                curl_easy_setopt(r.runs[i].easy, CURLOPT_ERRORBUFFER, (char *)NULL);
            free(r.runs[i].error_body);
        }
    }
    if (r.multi)
        curl_multi_cleanup(r.multi);
    free(r.runs);
    ncap_buf_free(&r.out);
    merge_free(r.m);
    return ret;
}
