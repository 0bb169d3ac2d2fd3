/* privs.c - keep only the capabilities a process needs once it has started (see privs.h). */
#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ncap.h"

static bool kept(int cap, const int *keep, size_t n, bool low_port)
{
    if (cap == CAP_NET_BIND_SERVICE && low_port)
        return true;
    for (size_t i = 0; i < n; i++)
        if (keep[i] == cap)
            return true;
    return false;
}

int privs_drop(const int *keep, size_t n_keep, bool low_port, int *remaining, char *err)
{
    /* No exec'd helper can ever gain privileges (the agent runs none; this is a floor). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return ncap_fail(err, "cannot set no_new_privs: %s", strerror(errno));
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return ncap_fail(err, "cannot read the agent's capabilities: %s", strerror(errno));
    int n = 0;
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
        uint32_t bit = 1u << (cap % 32);
        struct __user_cap_data_struct *d = &data[cap / 32];
        if (kept(cap, keep, n_keep, low_port)) {
            if (d->permitted & bit)
                n++;
            continue;
        }
        /* Gone from the bounding set too, so not even a setuid binary could bring it back. */
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
            errno != EPERM)
            return ncap_fail(err, "cannot drop capability %d from the bounding set: %s", cap,
                             strerror(errno));
        d->effective &= ~bit;
        d->permitted &= ~bit;
        d->inheritable &= ~bit;
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return ncap_fail(err, "cannot drop capabilities: %s", strerror(errno));
    if (remaining)
        *remaining = n;
    return 0;
}
