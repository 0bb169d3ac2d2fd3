/* names.c - bounded per-thread set of named addresses and NRB writing (see names.h). */
#include "names.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncap.h"

#define SLOTS (NAMES_MAX * 2) /* open addressing, load at most 1/2 */

struct slot {
    uint8_t family; /* 0 = empty */
    uint8_t addr[16];
};

struct names {
    size_t used;
    struct slot slots[SLOTS];
};

struct names *names_new(void)
{
    return calloc(1, sizeof(struct names));
}

void names_free(struct names *n)
{
    free(n);
}

static uint32_t hash(int family, const uint8_t *addr)
{
    uint32_t h = 2166136261u ^ (uint32_t)family;
    for (int i = 0; i < (family == 4 ? 4 : 16); i++)
        h = (h ^ addr[i]) * 16777619u;
    return h;
}

bool names_take(struct names *n, int family, const uint8_t *addr)
{
    if (!n || (family != 4 && family != 6))
        return false;
    size_t alen = family == 4 ? 4 : 16;
    for (uint32_t i = hash(family, addr) % SLOTS;; i = (i + 1) % SLOTS) {
        struct slot *s = &n->slots[i];
        if (s->family == 0) {
            if (n->used >= NAMES_MAX)
                return false;
            s->family = (uint8_t)family;
            memcpy(s->addr, addr, alen);
            n->used++;
            return true;
        }
        if (s->family == family && memcmp(s->addr, addr, alen) == 0)
            return false;
    }
}

int names_write_pod(ncap_buf *b, struct names *n, const struct ncap_pod_meta *m, char *err)
{
    if (!m->pod || !m->namespace_ || m->n_ips == 0)
        return 0;
    char name[600];
    snprintf(name, sizeof(name), "%s.%s", m->pod, m->namespace_);
    struct ncap_nrb_record recs[8];
    size_t k = 0;
    for (size_t i = 0; i < m->n_ips && k < sizeof(recs) / sizeof(recs[0]); i++) {
        struct ncap_nrb_record *r = &recs[k];
        memset(r, 0, sizeof(*r));
        r->name = name;
        if (inet_pton(AF_INET, m->ips[i], r->addr) == 1)
            r->family = 4;
        else if (inet_pton(AF_INET6, m->ips[i], r->addr) == 1)
            r->family = 6;
        else
            continue;
        names_take(n, r->family, r->addr);
        k++;
    }
    return k ? ncap_pcapng_write_nrb(b, recs, k, err) : 0;
}

int names_write_one(ncap_buf *b, int family, const uint8_t *addr, const char *name, char *err)
{
    struct ncap_nrb_record r = {.family = family, .name = name};
    memcpy(r.addr, addr, family == 4 ? 4 : 16);
    return ncap_pcapng_write_nrb(b, &r, 1, err);
}
