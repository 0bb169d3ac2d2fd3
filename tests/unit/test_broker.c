/*
 * test_broker.c - the capture broker's guard rails, which no outside client can reach: only the
 * unprivileged agent process talks to the broker (agent/broker.h). Compiled together with
 * agent/broker.c so that the test can speak the broker's own wire format to a real broker
 * process (forked as the agent forks it), and stand in for a broker that never answers.
 *
 * The broker half needs root (it keeps three capabilities and drops the rest); without root
 * those cases are skipped.
 */
#define ANSWER_SECONDS 1
#include "../../agent/broker.c"

#include <glib.h>

/* ---- a real broker process, sent malformed requests ---- */

struct peer {
    int sock;
    pid_t pid;
};

static int start_broker(struct peer *p)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(sv[0]);
        broker_main(sv[1], parent);
    }
    close(sv[1]);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    p->sock = sv[0];
    p->pid = pid;
    return 0;
}

/* Send len bytes of buf, read the one reply. */
static void ask(const struct peer *p, const void *buf, size_t len, struct reply *r)
{
    g_assert_cmpint(send(p->sock, buf, len, 0), ==, (ssize_t)len);
    memset(r, 0, sizeof(*r));
    g_assert_cmpint(recv(p->sock, r, sizeof(*r), 0), ==, (ssize_t)sizeof(*r));
    r->err[sizeof(r->err) - 1] = '\0';
}

static void good_request(struct request *q, uint64_t seq)
{
    memset(q, 0, sizeof(*q));
    q->seq = seq;
    strcpy(q->uid, "7a0d3c52-0000-4000-8000-00000000dead");
    strcpy(q->namespace_, "shop");
    strcpy(q->pod, "gone");
    strcpy(q->ifname, "eth0");
}

static void test_malformed_requests_are_refused(void)
{
    if (geteuid() != 0) {
        g_test_skip("the broker keeps capabilities only as root");
        return;
    }
    struct peer p;
    start_broker(&p);
    struct request q;
    struct reply r;

    /* a short message */
    ask(&p, "not a request", 13, &r);
    g_assert_cmpint(r.reason, ==, B_CAPTURE_FAILED);
    g_assert_cmpstr(r.err, ==, "the capture broker got a malformed request");

    /* a string without its terminator */
    good_request(&q, 41);
    memset(q.pod, 'a', sizeof(q.pod));
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpuint(r.seq, ==, 41);
    g_assert_cmpint(r.reason, ==, B_CAPTURE_FAILED);
    g_assert_cmpstr(r.err, ==, "the capture broker got a malformed request");

    /* more addresses than the request holds */
    good_request(&q, 42);
    q.n_ips = MAX_IPS + 1;
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpuint(r.seq, ==, 42);
    g_assert_cmpstr(r.err, ==, "the capture broker got a malformed request");

    /* an interface name that is a path */
    good_request(&q, 43);
    strcpy(q.ifname, "../lo");
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpint(r.reason, ==, B_NO_INTERFACE);
    g_assert_cmpstr(r.err, ==, "\"../lo\" is not an interface name");
    strcpy(q.ifname, "..");
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpint(r.reason, ==, B_NO_INTERFACE);

    /* an address that is not one */
    good_request(&q, 44);
    q.n_ips = 1;
    strcpy(q.ips[0], "10.231.0.300");
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpint(r.reason, ==, B_CAPTURE_FAILED);
    g_assert_cmpstr(r.err, ==, "the capture broker got a malformed address");

    /* after all that it still serves: a well-formed request for a pod that is nowhere */
    good_request(&q, 45);
    ask(&p, &q, sizeof(q), &r);
    g_assert_cmpuint(r.seq, ==, 45);
    g_assert_cmpint(r.reason, ==, B_CAPTURE_FAILED);
    g_assert_nonnull(strstr(r.err, "shop/gone"));

    /* the agent going away ends it, cleanly */
    close(p.sock);
    int st;
    g_assert_cmpint(waitpid(p.pid, &st, 0), ==, p.pid);
    g_assert_true(WIFEXITED(st));
    g_assert_cmpint(WEXITSTATUS(st), ==, 0);
}

/* ---- the agent's side, against a broker that is silent or late ---- */

static struct ncap_pod_meta some_pod(void)
{
    static char *ips[] = {"10.231.0.10"};
    struct ncap_pod_meta pod = {
        .namespace_ = "shop", .pod = "frontend", .uid = "u-1", .ips = ips, .n_ips = 1};
    return pod;
}

static void use_socket(int fd)
{
    b_sock = fd;
    struct timeval tv = {.tv_sec = ANSWER_SECONDS};
    setsockopt(b_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void test_silent_broker_times_out(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    use_socket(sv[0]);
    struct ncap_pod_meta pod = some_pod();
    uint8_t mac[6];
    int status;
    const char *reason;
    char err[NCAP_ERRBUF_SIZE];
    gint64 t0 = g_get_monotonic_time();
    g_assert_cmpint(broker_open(&pod, "eth0", mac, &status, &reason, err), ==, -1);
    gint64 took = g_get_monotonic_time() - t0;
    g_assert_cmpint(status, ==, 500);
    g_assert_cmpstr(reason, ==, "CaptureFailed");
    g_assert_cmpstr(err, ==, "the agent's capture broker did not answer for 1 s");
    g_assert_cmpint(took, >=, 900000); /* it waited, and did not hang */

    /* The broker answers that request late, then the next one: the late answer (an old seq)
     * is skipped, and the next request gets its own answer. */
    struct request q;
    g_assert_cmpint(recv(sv[1], &q, sizeof(q), 0), ==, (ssize_t)sizeof(q));
    struct reply late = {.seq = q.seq, .reason = B_CAPTURE_FAILED};
    strcpy(late.err, "late");
    g_assert_cmpint(send(sv[1], &late, sizeof(late), 0), ==, (ssize_t)sizeof(late));
    struct reply now = {.seq = q.seq + 1, .reason = B_NO_INTERFACE};
    strcpy(now.err, "pod shop/frontend has no interface eth9");
    g_assert_cmpint(send(sv[1], &now, sizeof(now), 0), ==, (ssize_t)sizeof(now));
    g_assert_cmpint(broker_open(&pod, "eth9", mac, &status, &reason, err), ==, -1);
    g_assert_cmpint(status, ==, 404);
    g_assert_cmpstr(reason, ==, "InterfaceNotFound");
    g_assert_cmpstr(err, ==, "pod shop/frontend has no interface eth9");

    /* A broker that has gone: one sentence at once. */
    close(sv[1]);
    g_assert_cmpint(broker_open(&pod, "eth0", mac, &status, &reason, err), ==, -1);
    g_assert_cmpint(status, ==, 500);
    g_assert_true(strcmp(err, "the agent's capture broker did not answer (it has ended)") == 0 ||
                  strcmp(err, "the agent's capture broker is not running") == 0);
    close(sv[0]);
    b_sock = -1;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/broker/malformed-requests", test_malformed_requests_are_refused);
    g_test_add_func("/broker/silent-or-late", test_silent_broker_times_out);
    return g_test_run();
}
