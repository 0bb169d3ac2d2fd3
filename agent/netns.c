/*
 * netns.c - resolve_pod_netns() and its strategies (see netns.h).
 *
 * Needs CAP_SYS_ADMIN (setns) and CAP_SYS_PTRACE-level access to /proc/<pid>/ns/net of other
 * processes; the agent runs as root in the host PID namespace.
 */
#include "netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncap.h"

#define MAX_POD_ADDRS 8

struct pod_addrs {
    int n;
    int family[MAX_POD_ADDRS];
    uint8_t addr[MAX_POD_ADDRS][16];
};

struct candidate {
    int fd;
    dev_t dev;
    ino_t ino;
    int by_cgroup;
};

struct candidates {
    struct candidate *v;
    size_t n, cap;
};

struct probe {
    const struct ncap_pod_meta *pod;
    struct pod_addrs addrs;
    int fd;
    char err[NCAP_ERRBUF_SIZE];
};

/* Keep fd if it is a namespace not seen yet; closes it otherwise. */
static void add_candidate(struct candidates *c, int fd, int by_cgroup)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].dev == st.st_dev && c->v[i].ino == st.st_ino) {
            close(fd);
            return;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct candidate *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            close(fd);
            return;
        }
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (struct candidate){fd, st.st_dev, st.st_ino, by_cgroup};
}

static void free_candidates(struct candidates *c, int keep_fd)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].fd != keep_fd)
            close(c->v[i].fd);
    free(c->v);
}

static int is_pid(const char *name)
{
    if (!*name)
        return 0;
    for (; *name; name++)
        if (*name < '0' || *name > '9')
            return 0;
    return 1;
}

static int open_ns(int dirfd, const char *path)
{
    return openat(dirfd, path, O_RDONLY | O_CLOEXEC);
}

/* Does /proc/<pid>/cgroup mention "pod<uid>" (with '-' or with '_')? */
static int cgroup_names_pod(int procfd, const char *pid, const char *uid_dash,
                            const char *uid_under)
{
    char path[300], buf[8192];
    snprintf(path, sizeof(path), "%s/cgroup", pid);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strstr(buf, uid_dash) || strstr(buf, uid_under);
}

static void scan_cgroups(struct candidates *c, const char *uid)
{
    /* A short UID would match by accident; real ones are 36-character UUIDs. */
    if (!uid || strlen(uid) < 16 || strlen(uid) > 64)
        return;
    char dash[80], under[80];
    snprintf(dash, sizeof(dash), "pod%s", uid);
    snprintf(under, sizeof(under), "pod%s", uid);
    for (char *p = under; *p; p++)
        if (*p == '-')
            *p = '_';
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_pid(e->d_name) || !cgroup_names_pod(dirfd(d), e->d_name, dash, under))
            continue;
        char path[300];
        snprintf(path, sizeof(path), "%s/ns/net", e->d_name);
        int fd = open_ns(dirfd(d), path);
        if (fd >= 0)
            add_candidate(c, fd, 1);
    }
    closedir(d);
}

static void scan_dir(struct candidates *c, const char *dir, int pids_only)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (pids_only && !is_pid(e->d_name)))
            continue;
        char path[300];
        snprintf(path, sizeof(path), pids_only ? "%s/ns/net" : "%s", e->d_name);
        int fd = open_ns(dirfd(d), path);
        if (fd >= 0)
            add_candidate(c, fd, 0);
    }
    closedir(d);
}

static int parse_addrs(const struct ncap_pod_meta *pod, struct pod_addrs *a)
{
    a->n = 0;
    for (size_t i = 0; i < pod->n_ips && a->n < MAX_POD_ADDRS; i++) {
        if (inet_pton(AF_INET, pod->ips[i], a->addr[a->n]) == 1)
            a->family[a->n++] = AF_INET;
        else if (inet_pton(AF_INET6, pod->ips[i], a->addr[a->n]) == 1)
            a->family[a->n++] = AF_INET6;
    }
    return a->n;
}

/* Does the calling thread's current netns hold one of the addresses? */
static int holds_addr(const struct pod_addrs *a)
{
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return 0;
    int found = 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        for (int k = 0; k < a->n && !found; k++) {
            if (i->ifa_addr->sa_family != a->family[k])
                continue;
            if (a->family[k] == AF_INET)
                found = memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, a->addr[k], 4) == 0;
            else
                found =
                    memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a->addr[k], 16) == 0;
        }
    }
    freeifaddrs(ifs);
    return found;
}

/* Runs in its own thread: it setns()es into every candidate and then simply ends. */
static void *probe_main(void *arg)
{
    struct probe *pr = arg;
    const struct ncap_pod_meta *pod = pr->pod;
    pthread_setname_np(pthread_self(), "netcap-netns");
    struct candidates c = {0};
    int have_ips = parse_addrs(pod, &pr->addrs) > 0;
    pr->fd = -1;

    scan_cgroups(&c, pod->uid);
    size_t n_cgroup = c.n;
    if (n_cgroup && !have_ips)
        pr->fd = c.v[0].fd;
    if (pr->fd < 0 && have_ips) {
        scan_dir(&c, "/var/run/netns", 0);
        scan_dir(&c, "/proc", 1);
        for (size_t i = 0; i < c.n && pr->fd < 0; i++)
            if (setns(c.v[i].fd, CLONE_NEWNET) == 0 && holds_addr(&pr->addrs))
                pr->fd = c.v[i].fd;
    }
    free_candidates(&c, pr->fd);
    if (pr->fd >= 0)
        return NULL;
    if (!have_ips && !n_cgroup)
        ncap_fail(pr->err,
                  "pod %s/%s has no IP address and no process of it was found by its UID, so "
                  "its network namespace cannot be found",
                  pod->namespace_, pod->pod);
    else
        ncap_fail(pr->err, "no network namespace on this node holds an address of pod %s/%s (%s)",
                  pod->namespace_, pod->pod, pod->n_ips ? pod->ips[0] : "no IP");
    return NULL;
}

int resolve_pod_netns(const struct ncap_pod_meta *pod, char *err)
{
    struct probe pr = {.pod = pod, .fd = -1};
    pthread_t th;
    int e = pthread_create(&th, NULL, probe_main, &pr);
    if (e)
        return ncap_fail(err, "cannot start a thread to find the network namespace: %s",
                         strerror(e));
    pthread_join(th, NULL);
    if (pr.fd < 0)
        return ncap_fail(err, "%s", pr.err);
    return pr.fd;
}
