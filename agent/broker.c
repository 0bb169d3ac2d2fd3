/* broker.c - the privileged capture-socket broker (see broker.h). */
#include "broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if_arp.h>
#include <linux/if_ether.h>
#include <netpacket/packet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "ncap.h"
#include "netns.h"
#include "privs.h"

#define MAX_IPS 16
#define IP_LEN 64
#ifndef ANSWER_SECONDS /* tests/unit/test_broker.c sets it shorter */
#define ANSWER_SECONDS 30
#endif

struct request {
    uint64_t seq;
    char uid[128];
    char namespace_[64];
    char pod[254];
    char ifname[IFNAMSIZ];
    uint32_t n_ips;
    char ips[MAX_IPS][IP_LEN];
};

enum reason { B_OK, B_CAPTURE_FAILED, B_NO_INTERFACE, B_NODE_NETNS };

struct reply {
    uint64_t seq;
    int32_t reason;
    uint8_t mac[6];
    char err[NCAP_ERRBUF_SIZE];
};

/* ---- the broker process ---- */

static int fail_reply(struct reply *r, enum reason why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_reply(struct reply *r, enum reason why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->reason = why;
    return -1;
}

static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* The request is from the unprivileged agent: every field is checked before use. */
static int check_request(struct request *q, struct reply *r)
{
    if (!terminated(q->uid, sizeof(q->uid)) || !terminated(q->namespace_, sizeof(q->namespace_)) ||
        !terminated(q->pod, sizeof(q->pod)) || !terminated(q->ifname, sizeof(q->ifname)) ||
        q->n_ips > MAX_IPS)
        return fail_reply(r, B_CAPTURE_FAILED, "the capture broker got a malformed request");
    if (!q->ifname[0] || strchr(q->ifname, '/') || strcmp(q->ifname, ".") == 0 ||
        strcmp(q->ifname, "..") == 0)
        return fail_reply(r, B_NO_INTERFACE, "\"%s\" is not an interface name", q->ifname);
    for (uint32_t i = 0; i < q->n_ips; i++) {
        unsigned char a[16];
        if (!terminated(q->ips[i], IP_LEN) ||
            (inet_pton(AF_INET, q->ips[i], a) != 1 && inet_pton(AF_INET6, q->ips[i], a) != 1))
            return fail_reply(r, B_CAPTURE_FAILED, "the capture broker got a malformed address");
    }
    return 0;
}

/* Inside the pod's namespace: the interface's MAC and a bound packet socket that drops all. */
static int open_in_netns(const struct request *q, struct reply *r)
{
    const char *ns = q->namespace_, *pod = q->pod, *ifname = q->ifname;
    unsigned ifindex = if_nametoindex(ifname);
    if (ifindex == 0)
        return fail_reply(r, B_NO_INTERFACE, "pod %s/%s has no interface %s", ns, pod, ifname);
    int d = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    int rc = d < 0 ? -1 : ioctl(d, SIOCGIFHWADDR, &ifr);
    int e = errno;
    if (d >= 0)
        close(d);
    if (rc < 0)
        return fail_reply(r, B_CAPTURE_FAILED,
                          "cannot read the hardware address of interface %s of pod %s/%s: %s",
                          ifname, ns, pod, strerror(e));
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
        return fail_reply(r, B_CAPTURE_FAILED,
                          "interface %s of pod %s/%s has link type %u, and netcap captures only "
                          "Ethernet",
                          ifname, ns, pod, (unsigned)ifr.ifr_hwaddr.sa_family);
    memcpy(r->mac, ifr.ifr_hwaddr.sa_data, 6);

    /* Protocol 0 receives nothing until bind; the drop-all filter keeps the queue empty until
     * the agent attaches the real one. */
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0)
        return fail_reply(r, B_CAPTURE_FAILED, "cannot open a packet socket in pod %s/%s: %s", ns,
                          pod, strerror(errno));
    struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog none = {.len = 1, .filter = &drop};
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex};
    if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &none, sizeof(none)) < 0 ||
        bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        e = errno;
        close(s);
        return fail_reply(r, B_CAPTURE_FAILED, "cannot bind a packet socket to %s of pod %s/%s: %s",
                          ifname, ns, pod, strerror(e));
    }
    return s;
}

static int serve_one(const struct request *q, struct reply *r, int self_ns, const struct stat *self)
{
    char *ips[MAX_IPS];
    for (uint32_t i = 0; i < q->n_ips; i++)
        ips[i] = (char *)q->ips[i];
    struct ncap_pod_meta pod = {.namespace_ = (char *)q->namespace_,
                                .pod = (char *)q->pod,
                                .uid = q->uid[0] ? (char *)q->uid : NULL,
                                .ips = ips,
                                .n_ips = q->n_ips};
    int nsfd = resolve_pod_netns(&pod, r->err);
    if (nsfd < 0) {
        r->reason = B_CAPTURE_FAILED;
        return -1;
    }
    /* Whatever the agent asks, the node's own namespace (hostNetwork pods, the host's
     * interfaces) is never captured: a compromised agent process gets pod traffic at most. */
    struct stat st;
    if (fstat(nsfd, &st) < 0 || (st.st_ino == self->st_ino && st.st_dev == self->st_dev)) {
        close(nsfd);
        return fail_reply(r, B_NODE_NETNS,
                          "pod %s/%s is in the node's own network namespace, which netcap does "
                          "not capture",
                          q->namespace_, q->pod);
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        int e = errno;
        close(nsfd);
        return fail_reply(r, B_CAPTURE_FAILED,
                          "cannot enter the network namespace of pod %s/%s: %s", q->namespace_,
                          q->pod, strerror(e));
    }
    close(nsfd);
    int s = open_in_netns(q, r);
    if (setns(self_ns, CLONE_NEWNET) < 0) {
        /* Never serve another request from a pod's namespace. */
        fprintf(stderr, "netcap-agent: broker: cannot return to its own network namespace: %s\n",
                strerror(errno));
        _exit(1);
    }
    return s;
}

static int send_reply(int sock, const struct reply *r, int fd)
{
    struct iovec iov = {.iov_base = (void *)r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*r) ? 0 : -1;
}

static void broker_main(int sock, pid_t parent)
{
    prctl(PR_SET_NAME, "netcap-broker", 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent)
        _exit(0);
    /* The agent ends the broker by closing the socket; a terminal's ^C or systemd's SIGTERM to
     * the whole group must not end it before the agent has drained its streams. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    char err[NCAP_ERRBUF_SIZE];
    static const int keep[] = {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_NET_RAW};
    if (privs_drop(keep, sizeof(keep) / sizeof(keep[0]), false, NULL, err) < 0) {
        fprintf(stderr, "netcap-agent: broker: %s\n", err);
        _exit(1);
    }
    int self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat self;
    if (self_ns < 0 || fstat(self_ns, &self) < 0) {
        fprintf(stderr, "netcap-agent: broker: cannot open its own network namespace: %s\n",
                strerror(errno));
        _exit(1);
    }
    for (;;) {
        struct request q;
        ssize_t n = recv(sock, &q, sizeof(q), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the agent is gone */
        struct reply r;
        memset(&r, 0, sizeof(r));
        int fd = -1;
        if (n != (ssize_t)sizeof(q))
            fail_reply(&r, B_CAPTURE_FAILED, "the capture broker got a malformed request");
        else if (r.seq = q.seq, check_request(&q, &r) == 0)
            fd = serve_one(&q, &r, self_ns, &self);
        int sent = send_reply(sock, &r, fd);
        if (fd >= 0)
            close(fd);
        if (sent < 0)
            break;
    }
    close(self_ns);
    close(sock);
    exit(0);
}

/* ---- the agent's side ---- */

static int b_sock = -1;
static pid_t b_pid;
static uint64_t b_seq;
static pthread_mutex_t b_mu = PTHREAD_MUTEX_INITIALIZER;

int broker_start(char *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ncap_fail(err, "cannot create the capture broker's socket: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return ncap_fail(err, "cannot start the capture broker: %s", strerror(e));
    }
    if (pid == 0) {
        close(sv[0]);
        broker_main(sv[1], parent);
    }
    close(sv[1]);
    b_sock = sv[0];
    b_pid = pid;
    struct timeval tv = {.tv_sec = ANSWER_SECONDS};
    setsockopt(b_sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return 0;
}

int broker_pid(void)
{
    return (int)b_pid;
}

bool broker_alive(char *err)
{
    int st;
    pid_t r = b_pid > 0 ? waitpid(b_pid, &st, WNOHANG) : 0;
    if (r == 0)
        return true;
    if (r < 0) {
        ncap_fail(err, "the capture broker (pid %d) is gone: %s", (int)b_pid, strerror(errno));
    } else if (WIFSIGNALED(st)) {
        ncap_fail(err, "the capture broker (pid %d) was killed by signal %d", (int)b_pid,
                  WTERMSIG(st));
    } else {
        ncap_fail(err, "the capture broker (pid %d) exited with status %d", (int)b_pid,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    b_pid = 0;
    return false;
}

static int copy_field(char *dst, size_t size, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* A reply, with the descriptor it carries in *fd (or -1). -1 when the broker is gone or
 * silent. */
static int receive(struct reply *r, int *fd)
{
    struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    do
        n = recvmsg(b_sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n > 0 && c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    if (n == (ssize_t)sizeof(*r))
        return 0;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return -1;
}

int broker_open(const struct ncap_pod_meta *pod, const char *ifname, uint8_t mac[6], int *status,
                const char **reason, char *err)
{
    static struct request q; /* under b_mu; 1.4 KiB is too much for a small thread stack */
    *status = 500;
    *reason = "CaptureFailed";
    pthread_mutex_lock(&b_mu);
    memset(&q, 0, sizeof(q));
    q.seq = ++b_seq;
    q.n_ips = pod->n_ips < MAX_IPS ? (uint32_t)pod->n_ips : MAX_IPS;
    int bad = copy_field(q.uid, sizeof(q.uid), pod->uid) ||
              copy_field(q.namespace_, sizeof(q.namespace_), pod->namespace_) ||
              copy_field(q.pod, sizeof(q.pod), pod->pod);
    for (uint32_t i = 0; i < q.n_ips; i++)
        bad = bad || copy_field(q.ips[i], IP_LEN, pod->ips[i]);
    if (bad || copy_field(q.ifname, sizeof(q.ifname), ifname)) {
        pthread_mutex_unlock(&b_mu);
        if (!bad) {
            *status = 404;
            *reason = "InterfaceNotFound";
            return ncap_fail(err, "pod %s/%s has no interface %s (too long a name)",
                             pod->namespace_, pod->pod, ifname);
        }
        return ncap_fail(err, "pod %s/%s has a field too long to look up", pod->namespace_,
                         pod->pod);
    }
    if (b_sock < 0 || send(b_sock, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q)) {
        pthread_mutex_unlock(&b_mu);
        return ncap_fail(err, "the agent's capture broker is not running");
    }
    struct reply r;
    int fd = -1, rc;
    /* A late answer to an earlier request that timed out is skipped (and its socket closed). */
    while ((rc = receive(&r, &fd)) == 0 && r.seq != q.seq)
        if (fd >= 0)
            close(fd);
    int e = errno;
    pthread_mutex_unlock(&b_mu);
    if (rc < 0) {
        if (e == EAGAIN || e == EWOULDBLOCK)
            return ncap_fail(err, "the agent's capture broker did not answer for %d s",
                             ANSWER_SECONDS);
        return ncap_fail(err, "the agent's capture broker did not answer (it has ended)");
    }
    if (r.reason == B_OK && fd >= 0) {
        memcpy(mac, r.mac, 6);
        return fd;
    }
    if (fd >= 0)
        close(fd);
    r.err[sizeof(r.err) - 1] = '\0';
    if (r.reason == B_NO_INTERFACE) {
        *status = 404;
        *reason = "InterfaceNotFound";
    } else if (r.reason == B_NODE_NETNS) {
        *status = 403;
        *reason = "HostNetworkPod";
    }
    return ncap_fail(err, "%s", r.err[0] ? r.err : "the capture broker failed");
}
