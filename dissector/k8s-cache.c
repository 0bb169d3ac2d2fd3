/*
 * k8s-cache.c - pod metadata per capture interface, parsed once per file (see k8s-cache.h).
 *
 * The map lives in epan scope and empties itself whenever the file scope ends (a new file, a
 * reload), so entries never outlive the interfaces they describe. Ordinary interfaces cost one
 * look at the first bytes of their description, once; afterwards a map lookup per frame.
 * The parsed record is copied into file-scope strings, sanitised to valid UTF-8 once here, so
 * the per-frame code can hand them to the tree and to taps as they are.
 */
#include "k8s-cache.h"

#include <string.h>

#include <epan/packet.h> /* first: the other epan headers assume glib and wmem */

#include <epan/charsets.h>
#include <epan/wmem_scopes.h>

#include "meta.h"

static wmem_map_t *iface_cache;
static struct k8s_iface foreign_iface = {.kind = K8S_IFACE_FOREIGN};

void k8s_cache_init(void)
{
    iface_cache =
        wmem_map_new_autoreset(wmem_epan_scope(), wmem_file_scope(), g_direct_hash, g_direct_equal);
}

/* netcap metadata opens with its version: `{"v":` (whitespace allowed, cJSON writes none). */
static gboolean looks_like_netcap(const char *d)
{
    const char *p = d;

    while (g_ascii_isspace(*p))
        p++;
    if (*p++ != '{')
        return FALSE;
    while (g_ascii_isspace(*p))
        p++;
    if (strncmp(p, "\"v\"", 3) != 0)
        return FALSE;
    p += 3;
    while (g_ascii_isspace(*p))
        p++;
    return *p == ':';
}

static const char *file_str(const char *s)
{
    if (!s)
        return NULL;
    return (const char *)get_utf_8_string(wmem_file_scope(), (const guint8 *)s, (gint)strlen(s));
}

static void copy_ips(struct k8s_iface *e, const struct ncap_pod_meta *m)
{
    e->ips = wmem_alloc0_array(wmem_file_scope(), struct k8s_ip, m->n_ips);
    for (size_t i = 0; i < m->n_ips; i++) {
        struct k8s_ip *ip = &e->ips[e->n_ips];

        if (ws_inet_pton4(m->ips[i], &ip->v4)) {
            e->n_ips++;
        } else if (ws_inet_pton6(m->ips[i], &ip->v6)) {
            ip->is_v6 = TRUE;
            e->n_ips++;
        } else if (!e->error) {
            e->error = wmem_strdup_printf(wmem_file_scope(),
                                          "pod IP \"%s\" is neither an IPv4 nor an IPv6 address",
                                          file_str(m->ips[i]));
        }
    }
}

static struct k8s_iface *iface_from_meta(const struct ncap_pod_meta *m)
{
    struct k8s_iface *e = wmem_new0(wmem_file_scope(), struct k8s_iface);

    e->kind = K8S_IFACE_POD;
    e->version = NCAP_META_VERSION;
    e->namespace_ = file_str(m->namespace_);
    e->pod = file_str(m->pod);
    e->uid = file_str(m->uid);
    e->node = file_str(m->node);
    e->container = file_str(m->container);
    e->interface = file_str(m->interface);
    e->workload_kind = file_str(m->workload_kind);
    e->workload = file_str(m->workload_name);
    e->labels = wmem_alloc0_array(wmem_file_scope(), const char *, m->n_labels);
    for (size_t i = 0; i < m->n_labels; i++) {
        char *kv = g_strconcat(m->labels[i].key, "=", m->labels[i].value, NULL);

        e->labels[e->n_labels++] = file_str(kv);
        g_free(kv);
    }
    copy_ips(e, m);
    return e;
}

/* An interface named k8s/... (as the agent names them) whose description is not netcap JSON
 * was damaged; any other interface without netcap JSON belongs to another tool. */
static struct k8s_iface *iface_parse(const char *name, const char *description)
{
    struct ncap_pod_meta m;
    char err[NCAP_ERRBUF_SIZE];
    struct k8s_iface *e;

    if (!description || !looks_like_netcap(description)) {
        if (!name || strncmp(name, "k8s/", 4) != 0)
            return &foreign_iface;
        snprintf(err, sizeof(err), "interface %.200s carries no netcap pod metadata", name);
    } else if (ncap_meta_from_json(description, strlen(description), &m, err) == 0) {
        e = iface_from_meta(&m);
        ncap_meta_free(&m);
        return e;
    }
    {
        e = wmem_new0(wmem_file_scope(), struct k8s_iface);
        e->kind = K8S_IFACE_MALFORMED;
        e->error = file_str(err);
        return e;
    }
}

const struct k8s_iface *k8s_iface_get(const epan_t *epan, guint32 ifid)
{
    struct k8s_iface *e = (struct k8s_iface *)wmem_map_lookup(iface_cache, GUINT_TO_POINTER(ifid));

    if (!e) {
        e = iface_parse(epan_get_interface_name(epan, ifid),
                        epan_get_interface_description(epan, ifid));
        wmem_map_insert(iface_cache, GUINT_TO_POINTER(ifid), e);
    }
    return e;
}
