/*
 * k8s-stats.c - Statistics → Kubernetes: packet counts by pod, by workload and by pod pair.
 *
 * Each tree listens on the "k8s" tap (packet-k8s.h), so it sees exactly the frames that carry
 * netcap metadata. tshark: -z k8s_pods,tree / -z k8s_workloads,tree / -z k8s_pod_conv,tree.
 * The GUI turns the "/" in the registered names into submenus, and cuts node names at a "/",
 * so names taken from the capture have theirs replaced (Kubernetes names never contain one,
 * but the capture is untrusted input). Pods in conversations are named <pod>.<namespace>, as in
 * the capture's name resolution block.
 */
#include <string.h>

#include <epan/stats_tree.h>

#include "packet-k8s.h"

static const char pods_root[] = "Packets by pod";
static const char workloads_root[] = "Packets by workload";
static const char conv_root[] = "Packets by pod conversation";
static const char unknown[] = "(unknown)";

static int pods_node = -1;
static int workloads_node = -1;
static int conv_node = -1;

static const char *node_name(packet_info *pinfo, const char *s)
{
    if (!s)
        return unknown;
    if (!strchr(s, '/'))
        return s;
    char *copy = wmem_strdup(pinfo->pool, s);
    g_strdelimit(copy, "/", '_');
    return copy;
}

static void pods_init(stats_tree *st)
{
    pods_node = stats_tree_create_node(st, pods_root, 0, STAT_DT_INT, TRUE);
}

static tap_packet_status pods_packet(stats_tree *st, packet_info *pinfo, epan_dissect_t *edt _U_,
                                     const void *data, tap_flags_t flags _U_)
{
    const k8s_tap_info *ti = (const k8s_tap_info *)data;

    if (!ti->pod)
        return TAP_PACKET_DONT_REDRAW;
    tick_stat_node(st, pods_root, 0, FALSE);
    int ns = tick_stat_node(st, node_name(pinfo, ti->namespace_), pods_node, TRUE);
    tick_stat_node(st, node_name(pinfo, ti->pod), ns, FALSE);
    return TAP_PACKET_REDRAW;
}

static void workloads_init(stats_tree *st)
{
    workloads_node = stats_tree_create_node(st, workloads_root, 0, STAT_DT_INT, TRUE);
}

/* "frontend (Deployment)"; a pod without a controller stands for itself: "debug (Pod)". */
static tap_packet_status workloads_packet(stats_tree *st, packet_info *pinfo,
                                          epan_dissect_t *edt _U_, const void *data,
                                          tap_flags_t flags _U_)
{
    const k8s_tap_info *ti = (const k8s_tap_info *)data;

    if (!ti->pod)
        return TAP_PACKET_DONT_REDRAW;
    const char *name = ti->workload ? ti->workload : ti->pod;
    const char *kind = ti->workload ? (ti->workload_kind ? ti->workload_kind : unknown) : "Pod";
    tick_stat_node(st, workloads_root, 0, FALSE);
    int ns = tick_stat_node(st, node_name(pinfo, ti->namespace_), workloads_node, TRUE);
    tick_stat_node(st, node_name(pinfo, wmem_strdup_printf(pinfo->pool, "%s (%s)", name, kind)), ns,
                   FALSE);
    return TAP_PACKET_REDRAW;
}

static void conv_init(stats_tree *st)
{
    conv_node = stats_tree_create_node(st, conv_root, 0, STAT_DT_INT, TRUE);
}

static const char *pod_dns_name(packet_info *pinfo, const char *ns, const char *pod)
{
    if (!pod)
        return unknown;
    return node_name(pinfo, wmem_strdup_printf(pinfo->pool, "%s.%s", pod, ns ? ns : unknown));
}

/* Source pod → destination pod; needs the direction, the other end may be unknown. */
static tap_packet_status conv_packet(stats_tree *st, packet_info *pinfo, epan_dissect_t *edt _U_,
                                     const void *data, tap_flags_t flags _U_)
{
    const k8s_tap_info *ti = (const k8s_tap_info *)data;

    if (ti->direction != K8S_DIR_IN && ti->direction != K8S_DIR_OUT)
        return TAP_PACKET_DONT_REDRAW;
    if (!ti->src_pod && !ti->dst_pod)
        return TAP_PACKET_DONT_REDRAW;
    tick_stat_node(st, conv_root, 0, FALSE);
    int src =
        tick_stat_node(st, pod_dns_name(pinfo, ti->src_namespace, ti->src_pod), conv_node, TRUE);
    tick_stat_node(st, pod_dns_name(pinfo, ti->dst_namespace, ti->dst_pod), src, FALSE);
    return TAP_PACKET_REDRAW;
}

void k8s_stats_register(void)
{
    stats_tree_register_plugin(K8S_TAP, "k8s_pods", "Kubernetes/Pods", 0, pods_packet, pods_init,
                               NULL);
    stats_tree_register_plugin(K8S_TAP, "k8s_workloads", "Kubernetes/Workloads", 0,
                               workloads_packet, workloads_init, NULL);
    stats_tree_register_plugin(K8S_TAP, "k8s_pod_conv", "Kubernetes/Pod conversations", 0,
                               conv_packet, conv_init, NULL);
}
