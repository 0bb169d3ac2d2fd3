/*
 * bpfspec.c - structured capture filters to BPF text (see bpfspec.h).
 *
 * Every value is parsed into a number or an address and printed back by this code, so the BPF
 * text holds only keywords written here and numbers/addresses in canonical form: nothing a client
 * sends can change the meaning of the program except its own free filter, which is AND-ed in
 * parentheses as a whole.
 */
#include "bpfspec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif

#include "ncap.h"

#define MAX_ITEMS 32 /* values of one kind */
#define MAX_TEXT 64  /* characters of one value */

/* ---- a growing string ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

NCAP_PRINTF(2, 3)
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap : 128);
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* ---- naming a value in sentences ---- */

struct namer {
    const char *field; /* "match", "spec.match"; NULL: name the extcap option */
};

static const char *option_of(const char *key)
{
    static const char *const map[][2] = {
        {"protocols", "--proto"},         {"ipVersion", "--ip-version"},
        {"hosts", "--host"},              {"ports", "--port"},
        {"srcPorts", "--src-port"},       {"dstPorts", "--dst-port"},
        {"tcpFlags", "--tcp-flags"},      {"icmpTypes", "--icmp-type"},
        {"icmp6Types", "--icmp6-type"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], key) == 0)
            return map[i][1];
    return key;
}

static void name_of(const struct namer *nm, const char *key, int idx, char *out, size_t n)
{
    if (!nm->field)
        snprintf(out, n, "%s", option_of(key));
    else if (idx < 0)
        snprintf(out, n, "%s.%s", nm->field, key);
    else
        snprintf(out, n, "%s.%s[%d]", nm->field, key, idx);
}

/* ---- values ---- */

static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
    if (!*s || strlen(s) > 10)
        return -1;
    unsigned long x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        x = x * 10 + (unsigned long)(*p - '0');
    }
    if (x > max)
        return -1;
    *v = x;
    return 0;
}

/* An integer item (a JSON number, or a string of digits) in [lo, hi]. */
static int item_uint(const cJSON *it, unsigned long lo, unsigned long hi, unsigned long *v)
{
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (d < (double)lo || d > (double)hi || d != (double)(unsigned long)d)
            return -1;
        *v = (unsigned long)d;
        return 0;
    }
    if (cJSON_IsString(it) && parse_uint(it->valuestring, hi, v) == 0 && *v >= lo)
        return 0;
    return -1;
}

static const char *item_text(const cJSON *it, char *buf, size_t n)
{
    if (cJSON_IsString(it))
        snprintf(buf, n, "\"%.*s\"", MAX_TEXT, it->valuestring);
    else if (cJSON_IsNumber(it))
        snprintf(buf, n, "%g", it->valuedouble);
    else
        snprintf(buf, n, "a value of the wrong type");
    return buf;
}

/* "80" or "8000-8080" (or a number): lo <= hi, both 1..65535. */
static int item_port(const cJSON *it, unsigned long *lo, unsigned long *hi)
{
    if (cJSON_IsNumber(it)) {
        if (item_uint(it, 1, 65535, lo) < 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    if (!cJSON_IsString(it) || strlen(it->valuestring) > 11)
        return -1;
    char a[16];
    snprintf(a, sizeof(a), "%s", it->valuestring);
    char *dash = strchr(a, '-');
    if (dash)
        *dash = '\0';
    if (parse_uint(a, 65535, lo) < 0 || *lo == 0)
        return -1;
    *hi = *lo;
    if (dash && (parse_uint(dash + 1, 65535, hi) < 0 || *hi < *lo))
        return -1;
    return 0;
}

/* An address or CIDR; the network part is kept (10.1.2.3/16 -> 10.1.0.0/16), *prefix = -1 for
 * a single address. */
static int item_host(const cJSON *it, char *canon, size_t n, int *prefix)
{
    if (!cJSON_IsString(it) || strlen(it->valuestring) > MAX_TEXT)
        return -1;
    char a[MAX_TEXT + 1];
    snprintf(a, sizeof(a), "%s", it->valuestring);
    char *slash = strchr(a, '/');
    if (slash)
        *slash = '\0';
    unsigned char bytes[16];
    int af = strchr(a, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(af, a, bytes) != 1)
        return -1;
    int bits = af == AF_INET ? 32 : 128;
    *prefix = -1;
    if (slash) {
        unsigned long p;
        if (parse_uint(slash + 1, (unsigned long)bits, &p) < 0)
            return -1;
        *prefix = (int)p;
        for (int i = 0; i < bits / 8; i++) {
            int keep = *prefix - i * 8;
            bytes[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
        }
    }
    return inet_ntop(af, bytes, canon, (socklen_t)n) ? 0 : -1;
}

static int tcp_flag_bit(const char *s)
{
    static const char *const names[] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
    for (int i = 0; i < 8; i++)
        if (strcmp(s, names[i]) == 0)
            return 1 << i;
    return -1;
}

static const char *protocol_bpf(const char *s)
{
    static const char *const names[] = {"tcp", "udp", "icmp", "icmp6", "sctp", "arp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return names[i];
    return NULL;
}

/* ---- one kind: check its items and write "(a or b ...)" ---- */

static int emit_kind(struct sbuf *b, const char *key, const cJSON *v, const struct namer *nm,
                     char *err)
{
    char name[128], txt[MAX_TEXT + 32];
    if (strcmp(key, "ipVersion") == 0) {
        unsigned long ver;
        name_of(nm, key, -1, name, sizeof(name));
        if (item_uint(v, 4, 6, &ver) < 0 || ver == 5)
            return ncap_fail(err, "%s must be 4 or 6, not %s", name, item_text(v, txt, sizeof(txt)));
        sb_add(b, "%s", ver == 4 ? "ip" : "ip6");
        return 0;
    }
    name_of(nm, key, -1, name, sizeof(name));
    if (!cJSON_IsArray(v))
        return ncap_fail(err, "%s must be a list", name);
    int n = cJSON_GetArraySize(v);
    if (n == 0)
        return ncap_fail(err, "%s must not be empty (leave it out to match everything)", name);
    if (n > MAX_ITEMS)
        return ncap_fail(err, "%s has %d values, more than the %d allowed", name, n, MAX_ITEMS);

    if (strcmp(key, "tcpFlags") == 0) {
        int mask = 0, i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            int bit = cJSON_IsString(it) ? tcp_flag_bit(it->valuestring) : -1;
            if (bit < 0) {
                name_of(nm, key, i, name, sizeof(name));
                return ncap_fail(err,
                                 "%s: %s is not a TCP flag (fin, syn, rst, psh, ack, urg, ece, "
                                 "cwr)",
                                 name, item_text(it, txt, sizeof(txt)));
            }
            mask |= bit;
            i++;
        }
        /* Any of the flags set. libpcap's tcp[] covers IPv4 (with options, not fragments); for
         * IPv6 the TCP header is read right after the fixed header (no extension headers). */
        sb_add(b, "((ip and tcp[13] & 0x%02x != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 0x%02x != 0))",
               mask, mask);
        return 0;
    }

    sb_add(b, "(");
    if (strcmp(key, "icmp6Types") == 0)
        sb_add(b, "ip6 and ip6[6] == 58 and (");
    else if (strcmp(key, "icmpTypes") == 0)
        sb_add(b, "icmp and (");
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        const char *or = i ? " or " : "";
        name_of(nm, key, i, name, sizeof(name));
        if (strcmp(key, "protocols") == 0) {
            const char *p = cJSON_IsString(it) ? protocol_bpf(it->valuestring) : NULL;
            if (!p)
                return ncap_fail(err, "%s: %s is not a protocol netcap filters on (tcp, udp, icmp, "
                                      "icmp6, sctp, arp)",
                                 name, item_text(it, txt, sizeof(txt)));
            sb_add(b, "%s%s", or, p);
        } else if (strcmp(key, "hosts") == 0) {
            char canon[64];
            int prefix;
            if (item_host(it, canon, sizeof(canon), &prefix) < 0)
                return ncap_fail(err, "%s: %s is not an IPv4 or IPv6 address or CIDR", name,
                                 item_text(it, txt, sizeof(txt)));
            if (prefix < 0)
                sb_add(b, "%shost %s", or, canon);
            else
                sb_add(b, "%snet %s/%d", or, canon, prefix);
        } else if (strcmp(key, "icmpTypes") == 0 || strcmp(key, "icmp6Types") == 0) {
            unsigned long t;
            if (item_uint(it, 0, 255, &t) < 0)
                return ncap_fail(err, "%s: %s is not an ICMP type (0-255)", name,
                                 item_text(it, txt, sizeof(txt)));
            sb_add(b, strcmp(key, "icmpTypes") == 0 ? "%sicmp[0] == %lu" : "%sip6[40] == %lu", or,
                   t);
        } else { /* ports, srcPorts, dstPorts */
            unsigned long lo, hi;
            if (item_port(it, &lo, &hi) < 0)
                return ncap_fail(err, "%s: %s is not a port (1-65535) or range (8000-8080)", name,
                                 item_text(it, txt, sizeof(txt)));
            const char *dir = strcmp(key, "srcPorts") == 0   ? "src "
                              : strcmp(key, "dstPorts") == 0 ? "dst "
                                                             : "";
            if (lo == hi)
                sb_add(b, "%s%sport %lu", or, dir, lo);
            else
                sb_add(b, "%s%sportrange %lu-%lu", or, dir, lo, hi);
        }
        i++;
    }
    if (strcmp(key, "icmp6Types") == 0 || strcmp(key, "icmpTypes") == 0)
        sb_add(b, ")");
    sb_add(b, ")");
    return 0;
}

static int build(const cJSON *match, const char *user, const struct namer *nm, char **out,
                 char *err)
{
    static const char *const keys[] = {NCAP_MATCH_KEYS, NULL};
    *out = NULL;
    struct sbuf b = {0};
    int parts = 0;
    if (match && !cJSON_IsNull(match)) {
        if (!cJSON_IsObject(match))
            return ncap_fail(err, "%s must be an object", nm->field ? nm->field : "match");
        const cJSON *it;
        cJSON_ArrayForEach(it, match)
        {
            int known = 0;
            for (int i = 0; keys[i] && !known; i++)
                known = it->string && strcmp(it->string, keys[i]) == 0;
            if (!known)
                return ncap_fail(err, "%s has an unknown key \"%.64s\"",
                                 nm->field ? nm->field : "match", it->string ? it->string : "");
        }
        for (int i = 0; keys[i]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(match, keys[i]);
            if (!v)
                continue;
            if (parts++)
                sb_add(&b, " and ");
            if (emit_kind(&b, keys[i], v, nm, err) < 0) {
                free(b.p);
                return -1;
            }
        }
    }
    if (user && *user) {
        if (parts)
            sb_add(&b, " and (%s)", user);
        else
            sb_add(&b, "%s", user);
        parts++;
    }
    if (!parts)
        sb_add(&b, "%s", "");
    if (b.oom) {
        free(b.p);
        return ncap_fail(err, "out of memory");
    }
    *out = b.p;
    return 0;
}

int ncap_match_to_bpf(const cJSON *match, const char *user_filter, const char *field, char **out,
                      char *err)
{
    struct namer nm = {field ? field : "match"};
    return build(match, user_filter, &nm, out, err);
}

/* ---- the extcap's texts ---- */

static int add_list(cJSON *match, const char *key, const char *text, int numbers, char *err)
{
    if (!text || !*text)
        return 0;
    cJSON *arr = cJSON_AddArrayToObject(match, key);
    if (!arr)
        return ncap_fail(err, "out of memory");
    const char *p = text;
    int count = 0;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ", \t");
        if (n == 0)
            break;
        if (n > MAX_TEXT)
            return ncap_fail(err, "%s: \"%.20s...\" is too long", option_of(key), p);
        if (++count > MAX_ITEMS)
            return ncap_fail(err, "%s has more than the %d values allowed", option_of(key),
                             MAX_ITEMS);
        char v[MAX_TEXT + 1];
        for (size_t i = 0; i < n; i++)
            v[i] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
        v[n] = '\0';
        unsigned long x;
        cJSON *item = numbers && parse_uint(v, 1000000, &x) == 0 ? cJSON_CreateNumber((double)x)
                                                                 : cJSON_CreateString(v);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            return ncap_fail(err, "out of memory");
        }
        p += n;
    }
    if (count == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(match, key);
    return 0;
}

int ncap_match_from_text(const struct ncap_match_text *t, cJSON **out, char *err)
{
    *out = NULL;
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return ncap_fail(err, "out of memory");
    int rc = 0;
    if (t->ip_version && *t->ip_version && strcmp(t->ip_version, "any") != 0) {
        unsigned long v;
        if (parse_uint(t->ip_version, 9, &v) < 0 || (v != 4 && v != 6))
            rc = ncap_fail(err, "--ip-version must be 4, 6 or any, not \"%.20s\"", t->ip_version);
        else if (!cJSON_AddNumberToObject(m, "ipVersion", (double)v))
            rc = ncap_fail(err, "out of memory");
    }
    if (rc == 0)
        rc = add_list(m, "protocols", t->protocols, 0, err);
    if (rc == 0)
        rc = add_list(m, "hosts", t->hosts, 0, err);
    if (rc == 0)
        rc = add_list(m, "ports", t->ports, 0, err);
    if (rc == 0)
        rc = add_list(m, "srcPorts", t->src_ports, 0, err);
    if (rc == 0)
        rc = add_list(m, "dstPorts", t->dst_ports, 0, err);
    if (rc == 0)
        rc = add_list(m, "tcpFlags", t->tcp_flags, 0, err);
    if (rc == 0)
        rc = add_list(m, "icmpTypes", t->icmp_types, 1, err);
    if (rc == 0)
        rc = add_list(m, "icmp6Types", t->icmp6_types, 1, err);
    /* Lower-case names as the agent expects them; then the agent's own checks, named by option. */
    char *bpf = NULL;
    struct namer nm = {NULL};
    if (rc == 0)
        rc = build(m, NULL, &nm, &bpf, err);
    free(bpf);
    if (rc < 0 || !m->child) {
        cJSON_Delete(m);
        return rc;
    }
    *out = m;
    return 0;
}
