/*
 * packet-k8s.h - what the Kubernetes postdissector offers the rest of the plugin.
 *
 * The dissector (packet-k8s.c) queues one k8s_tap_info per frame that carries netcap metadata
 * on the tap named K8S_TAP; the statistics (k8s-stats.c), and any later listener, read it there
 * instead of digging through the protocol tree.
 */
#ifndef NETCAP_PACKET_K8S_H
#define NETCAP_PACKET_K8S_H

#include <glib.h>

#define K8S_TAP "k8s"

/* epb_flags direction, as netcap.direction shows it (pcapng spec: bits 0-1 of epb_flags). */
enum k8s_direction {
    K8S_DIR_UNKNOWN = 0,
    K8S_DIR_IN = 1,
    K8S_DIR_OUT = 2,
};

/*
 * One frame's identities. Every string is NUL-terminated valid UTF-8 and lives at least as
 * long as the frame's dissection; NULL means unknown. "pod" is the captured pod (from the
 * interface); "peer" is the other endpoint (from the packet's flow record); src/dst are those
 * two ordered by direction, set only when the direction is known.
 */
typedef struct k8s_tap_info {
    const char *namespace_;
    const char *pod;
    const char *workload_kind;
    const char *workload;
    const char *peer_namespace;
    const char *peer_pod;
    const char *peer_workload_kind;
    const char *peer_workload;
    const char *peer_service;
    const char *src_namespace;
    const char *src_pod;
    const char *dst_namespace;
    const char *dst_pod;
    enum k8s_direction direction;
    gboolean has_flow_id;
    guint64 flow_id;
} k8s_tap_info;

void proto_register_k8s(void);
void proto_reg_handoff_k8s(void);

/* Statistics → Kubernetes (k8s-stats.c); called from proto_reg_handoff_k8s(). */
void k8s_stats_register(void);

#endif
