/* fuzz_kubeconfig.c - libFuzzer harness: the kubeconfig reader (libyaml events into clusters,
 * users, contexts, exec plugin settings, base64 -data fields). Users point the extcap at any
 * file; a damaged one must give a sentence, never a crash. The input goes in through a memfd, so
 * the real file-reading path runs. Exec plugins are only read, never run, by these calls. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("kubeconfig", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64], err[NCAP_ERRBUF_SIZE];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        struct ncap_kubeconfig kc;
        if (ncap_kubeconfig_load(path, NULL, &kc, err) == 0)
            ncap_kubeconfig_free(&kc);
        if (ncap_kubeconfig_load(path, "prod", &kc, err) == 0)
            ncap_kubeconfig_free(&kc);
        char **names, *current;
        size_t n;
        if (ncap_kubeconfig_contexts(path, &names, &n, &current, err) == 0) {
            ncap_strv_free(names, n);
            free(current);
        }
    }
    close(fd);
    return 0;
}
