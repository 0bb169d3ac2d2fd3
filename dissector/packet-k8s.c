/*
 * packet-k8s.c - the Kubernetes postdissector: netcap's pod metadata as k8s.* and netcap.*
 * fields on every frame (DESIGN.md §6).
 *
 * netcap does not change packet bytes; it describes them in pcapng metadata (DESIGN.md §2):
 *   - the interface's if_description holds the captured pod's identity as JSON (k8s-cache.c);
 *   - each EPB's epb_flags give the direction, and one custom option (code 2989, NCAP_PEN)
 *     holds a TLV flow record: flow id and the other endpoint's identity (common/tlv.h).
 * So the dissector reads nothing from the tvb: it runs after all others, looks at the record
 * Wireshark read (pinfo->rec), and adds a "Kubernetes" subtree whose items have no length.
 * The formats are decoded only by common/ (ncap_meta_from_json, ncap_tlv_decode).
 *
 * Frames without netcap metadata (a capture from eth0) cost a cached map lookup and a walk over
 * the EPB's few options, and get nothing added. Bad metadata gets expert info, never an abort.
 *
 * Two protocols, because Wireshark wants a field's abbreviation to start with its protocol's
 * filter name (4.0 does not enforce it, later versions warn): "Kubernetes" (k8s.*) for the
 * identities and "netcap" (netcap.*) for the capture format itself (direction, flow id, format
 * version, expert info). Disabling "netcap" hides the latter; disabling "k8s" turns it all off.
 */
#include <string.h>

#include <epan/packet.h> /* first: the other epan headers assume glib and wmem */

#include <epan/charsets.h>
#include <epan/epan.h>
#include <epan/expert.h>
#include <epan/proto.h>
#include <epan/tap.h>
#include <wiretap/wtap.h>
#include <wiretap/wtap_opttypes.h>

#include "k8s-cache.h"
#include "packet-k8s.h"
#include "tlv.h"

static int proto_k8s = -1;
static int proto_netcap = -1;
static protocol_t *netcap_protocol;
static int k8s_tap = -1;
static dissector_handle_t k8s_handle;

static int hf_namespace = -1;
static int hf_pod = -1;
static int hf_uid = -1;
static int hf_node = -1;
static int hf_container = -1;
static int hf_interface = -1;
static int hf_workload = -1;
static int hf_workload_kind = -1;
static int hf_label = -1;
static int hf_pod_ip = -1;
static int hf_pod_ipv6 = -1;
static int hf_peer_namespace = -1;
static int hf_peer_pod = -1;
static int hf_peer_workload = -1;
static int hf_peer_workload_kind = -1;
static int hf_peer_service = -1;
static int hf_src_namespace = -1;
static int hf_src_pod = -1;
static int hf_src_workload = -1;
static int hf_dst_namespace = -1;
static int hf_dst_pod = -1;
static int hf_dst_workload = -1;

static int hf_version = -1;
static int hf_direction = -1;
static int hf_flow_id = -1;

static gint ett_k8s = -1;
static gint ett_netcap = -1;

static expert_field ei_bad_metadata = EI_INIT;
static expert_field ei_bad_flow_record = EI_INIT;

static const value_string direction_vals[] = {
    {K8S_DIR_UNKNOWN, "Unknown"},
    {K8S_DIR_IN, "Inbound"},
    {K8S_DIR_OUT, "Outbound"},
    {0, NULL},
};

/* The first NCAP_PEN custom option of an EPB. */
struct flow_option {
    const guint8 *data;
    gsize len;
    gboolean found;
};

static gboolean find_flow_option(wtap_block_t block _U_, guint option_id,
                                 wtap_opttype_e option_type, wtap_optval_t *option, void *user_data)
{
    struct flow_option *fo = (struct flow_option *)user_data;

    if (option_id != NCAP_OPT_CUSTOM_BIN || option_type != WTAP_OPTTYPE_CUSTOM ||
        option->custom_opt.pen != NCAP_PEN)
        return TRUE;
    fo->data = (const guint8 *)option->custom_opt.data.generic_data.custom_data;
    fo->len = option->custom_opt.data.generic_data.custom_data_len;
    fo->found = TRUE;
    return FALSE;
}

/* Bits 0-1 of epb_flags: 0 unknown, 1 inbound, 2 outbound (3 is invalid, shown as it is). */
static guint32 epb_direction_bits(wtap_block_t block)
{
    guint32 flags;

    if (!block ||
        wtap_block_get_uint32_option_value(block, OPT_PKT_FLAGS, &flags) != WTAP_OPTTYPE_SUCCESS)
        return K8S_DIR_UNKNOWN;
    return flags & 3;
}

/* A TLV string view as a packet-scope UTF-8 string; NULL when absent or empty. */
static const char *flow_str(packet_info *pinfo, struct ncap_str s)
{
    if (!s.ptr || s.len == 0)
        return NULL;
    return (const char *)get_utf_8_string(pinfo->pool, (const guint8 *)s.ptr, s.len);
}

static void add_string(proto_tree *tree, int hf, tvbuff_t *tvb, const char *s)
{
    if (s)
        proto_tree_add_string(tree, hf, tvb, 0, 0, s);
}

static void add_generated_string(proto_tree *tree, int hf, tvbuff_t *tvb, const char *s)
{
    if (s)
        proto_item_set_generated(proto_tree_add_string(tree, hf, tvb, 0, 0, s));
}

static void add_pod(proto_tree *tree, tvbuff_t *tvb, const struct k8s_iface *ifc)
{
    add_string(tree, hf_namespace, tvb, ifc->namespace_);
    add_string(tree, hf_pod, tvb, ifc->pod);
    add_string(tree, hf_uid, tvb, ifc->uid);
    add_string(tree, hf_node, tvb, ifc->node);
    add_string(tree, hf_container, tvb, ifc->container);
    add_string(tree, hf_interface, tvb, ifc->interface);
    add_string(tree, hf_workload_kind, tvb, ifc->workload_kind);
    add_string(tree, hf_workload, tvb, ifc->workload);
    for (guint i = 0; i < ifc->n_labels; i++)
        proto_tree_add_string(tree, hf_label, tvb, 0, 0, ifc->labels[i]);
    for (guint i = 0; i < ifc->n_ips; i++) {
        if (ifc->ips[i].is_v6)
            proto_tree_add_ipv6(tree, hf_pod_ipv6, tvb, 0, 0, &ifc->ips[i].v6);
        else
            proto_tree_add_ipv4(tree, hf_pod_ip, tvb, 0, 0, ifc->ips[i].v4);
    }
}

static void add_peer(proto_tree *tree, tvbuff_t *tvb, const k8s_tap_info *ti)
{
    add_string(tree, hf_peer_namespace, tvb, ti->peer_namespace);
    add_string(tree, hf_peer_pod, tvb, ti->peer_pod);
    add_string(tree, hf_peer_workload_kind, tvb, ti->peer_workload_kind);
    add_string(tree, hf_peer_workload, tvb, ti->peer_workload);
    add_string(tree, hf_peer_service, tvb, ti->peer_service);
}

/* Outbound: the captured pod sent it to the peer; inbound: the reverse. */
static void resolve_endpoints(proto_tree *tree, tvbuff_t *tvb, k8s_tap_info *ti)
{
    const char *src_workload, *dst_workload;

    if (ti->direction == K8S_DIR_OUT) {
        ti->src_namespace = ti->namespace_;
        ti->src_pod = ti->pod;
        src_workload = ti->workload;
        ti->dst_namespace = ti->peer_namespace;
        ti->dst_pod = ti->peer_pod;
        dst_workload = ti->peer_workload;
    } else if (ti->direction == K8S_DIR_IN) {
        ti->src_namespace = ti->peer_namespace;
        ti->src_pod = ti->peer_pod;
        src_workload = ti->peer_workload;
        ti->dst_namespace = ti->namespace_;
        ti->dst_pod = ti->pod;
        dst_workload = ti->workload;
    } else {
        return;
    }
    add_generated_string(tree, hf_src_namespace, tvb, ti->src_namespace);
    add_generated_string(tree, hf_src_pod, tvb, ti->src_pod);
    add_generated_string(tree, hf_src_workload, tvb, src_workload);
    add_generated_string(tree, hf_dst_namespace, tvb, ti->dst_namespace);
    add_generated_string(tree, hf_dst_pod, tvb, ti->dst_pod);
    add_generated_string(tree, hf_dst_workload, tvb, dst_workload);
}

static void append_summary(proto_item *item, const k8s_tap_info *ti)
{
    if (ti->pod)
        proto_item_append_text(item, ", Pod: %s/%s", ti->namespace_ ? ti->namespace_ : "?",
                               ti->pod);
    if (ti->direction == K8S_DIR_IN || ti->direction == K8S_DIR_OUT)
        proto_item_append_text(item, ", %s", val_to_str_const(ti->direction, direction_vals, ""));
    if (ti->peer_pod)
        proto_item_append_text(item, ", Peer: %s/%s", ti->peer_namespace ? ti->peer_namespace : "?",
                               ti->peer_pod);
    else if (ti->peer_service)
        proto_item_append_text(item, ", Peer service: %s/%s",
                               ti->peer_namespace ? ti->peer_namespace : "?", ti->peer_service);
}

static int dissect_k8s(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    const wtap_rec *rec = pinfo->rec;
    const struct k8s_iface *ifc = NULL;
    guint32 ifid = 0;

    if (!rec || rec->rec_type != REC_TYPE_PACKET)
        return 0;
    /* No tree (nothing displays or filters on a field: tshark -r printing summaries) and no
     * statistics listening: nothing would use what we find, so find nothing. */
    if (!tree && !have_tap_listener(k8s_tap))
        return 0;
    if (rec->presence_flags & WTAP_HAS_INTERFACE_ID) {
        ifid = rec->rec_header.packet_header.interface_id;
        ifc = k8s_iface_get(pinfo->epan, ifid);
    }

    wtap_block_t block = pinfo->fd->has_modified_block
                             ? epan_get_modified_block(pinfo->epan, pinfo->fd)
                             : rec->block;
    struct flow_option fo = {0};
    if (block)
        wtap_block_foreach_option(block, find_flow_option, &fo);
    if ((!ifc || ifc->kind == K8S_IFACE_FOREIGN) && !fo.found)
        return 0;

    k8s_tap_info *ti = wmem_new0(pinfo->pool, k8s_tap_info);
    guint32 dir_bits = epb_direction_bits(block);
    ti->direction = dir_bits == K8S_DIR_IN || dir_bits == K8S_DIR_OUT ? (enum k8s_direction)dir_bits
                                                                      : K8S_DIR_UNKNOWN;

    proto_item *k8s_item = proto_tree_add_item(tree, proto_k8s, tvb, 0, 0, ENC_NA);
    proto_tree *k8s_tree = proto_item_add_subtree(k8s_item, ett_k8s);

    if (ifc && ifc->kind == K8S_IFACE_POD) {
        ti->namespace_ = ifc->namespace_;
        ti->pod = ifc->pod;
        ti->workload_kind = ifc->workload_kind;
        ti->workload = ifc->workload;
        add_pod(k8s_tree, tvb, ifc);
    }

    struct ncap_flow_meta flow;
    char err[NCAP_ERRBUF_SIZE];
    gboolean flow_ok = fo.found && ncap_tlv_decode(fo.data, fo.len, &flow, err) == 0;
    if (flow_ok) {
        ti->peer_namespace = flow_str(pinfo, flow.peer_namespace);
        ti->peer_pod = flow_str(pinfo, flow.peer_pod);
        ti->peer_workload_kind = flow_str(pinfo, flow.peer_workload_kind);
        ti->peer_workload = flow_str(pinfo, flow.peer_workload);
        ti->peer_service = flow_str(pinfo, flow.peer_service);
        ti->has_flow_id = (flow.present & (1u << NCAP_TLV_FLOW_ID)) != 0;
        ti->flow_id = flow.flow_id;
        add_peer(k8s_tree, tvb, ti);
    }
    resolve_endpoints(k8s_tree, tvb, ti);

    if (proto_is_protocol_enabled(netcap_protocol)) {
        proto_item *netcap_item = proto_tree_add_item(k8s_tree, proto_netcap, tvb, 0, 0, ENC_NA);
        proto_tree *netcap_tree = proto_item_add_subtree(netcap_item, ett_netcap);

        if (ifc && ifc->kind == K8S_IFACE_POD)
            proto_tree_add_uint(netcap_tree, hf_version, tvb, 0, 0, ifc->version);
        proto_tree_add_uint(netcap_tree, hf_direction, tvb, 0, 0, dir_bits);
        if (ti->has_flow_id)
            proto_tree_add_uint64(netcap_tree, hf_flow_id, tvb, 0, 0, ti->flow_id);
        if (ifc && ifc->error)
            proto_tree_add_expert_format(netcap_tree, pinfo, &ei_bad_metadata, tvb, 0, 0,
                                         "Malformed netcap pod metadata on interface %u: %s", ifid,
                                         ifc->error);
        if (fo.found && !flow_ok)
            proto_tree_add_expert_format(netcap_tree, pinfo, &ei_bad_flow_record, tvb, 0, 0,
                                         "Malformed netcap flow record: %s", err);
    }

    append_summary(k8s_item, ti);
    tap_queue_packet(k8s_tap, pinfo, ti);
    return tvb_captured_length(tvb);
}

void proto_register_k8s(void)
{
    static hf_register_info hf_k8s[] = {
        {&hf_namespace,
         {"Namespace", "k8s.namespace", FT_STRING, BASE_NONE, NULL, 0x0,
          "Namespace of the captured pod", HFILL}},
        {&hf_pod,
         {"Pod", "k8s.pod", FT_STRING, BASE_NONE, NULL, 0x0, "Name of the captured pod", HFILL}},
        {&hf_uid,
         {"Pod UID", "k8s.uid", FT_STRING, BASE_NONE, NULL, 0x0, "metadata.uid of the captured pod",
          HFILL}},
        {&hf_node,
         {"Node", "k8s.node", FT_STRING, BASE_NONE, NULL, 0x0, "Node the captured pod runs on",
          HFILL}},
        {&hf_container,
         {"Container", "k8s.container", FT_STRING, BASE_NONE, NULL, 0x0,
          "First container of the captured pod", HFILL}},
        {&hf_interface,
         {"Interface", "k8s.interface", FT_STRING, BASE_NONE, NULL, 0x0,
          "Network interface inside the pod the packet was captured on", HFILL}},
        {&hf_workload,
         {"Workload", "k8s.workload", FT_STRING, BASE_NONE, NULL, 0x0,
          "Controller that owns the captured pod", HFILL}},
        {&hf_workload_kind,
         {"Workload kind", "k8s.workload_kind", FT_STRING, BASE_NONE, NULL, 0x0,
          "Kind of the workload: Deployment, StatefulSet, ...", HFILL}},
        {&hf_label,
         {"Label", "k8s.label", FT_STRING, BASE_NONE, NULL, 0x0,
          "A label of the captured pod, as key=value", HFILL}},
        {&hf_pod_ip,
         {"Pod IP", "k8s.pod_ip", FT_IPv4, BASE_NONE, NULL, 0x0,
          "An IPv4 address of the captured pod", HFILL}},
        {&hf_pod_ipv6,
         {"Pod IPv6", "k8s.pod_ipv6", FT_IPv6, BASE_NONE, NULL, 0x0,
          "An IPv6 address of the captured pod", HFILL}},
        {&hf_peer_namespace,
         {"Peer namespace", "k8s.peer.namespace", FT_STRING, BASE_NONE, NULL, 0x0,
          "Namespace of the other endpoint", HFILL}},
        {&hf_peer_pod,
         {"Peer pod", "k8s.peer.pod", FT_STRING, BASE_NONE, NULL, 0x0, "Pod at the other endpoint",
          HFILL}},
        {&hf_peer_workload,
         {"Peer workload", "k8s.peer.workload", FT_STRING, BASE_NONE, NULL, 0x0,
          "Workload of the other endpoint", HFILL}},
        {&hf_peer_workload_kind,
         {"Peer workload kind", "k8s.peer.workload_kind", FT_STRING, BASE_NONE, NULL, 0x0,
          "Kind of the peer's workload", HFILL}},
        {&hf_peer_service,
         {"Peer service", "k8s.peer.service", FT_STRING, BASE_NONE, NULL, 0x0,
          "Service the other endpoint was reached through", HFILL}},
        {&hf_src_namespace,
         {"Source namespace", "k8s.src.namespace", FT_STRING, BASE_NONE, NULL, 0x0,
          "Namespace of the sending pod", HFILL}},
        {&hf_src_pod,
         {"Source pod", "k8s.src.pod", FT_STRING, BASE_NONE, NULL, 0x0, "The sending pod", HFILL}},
        {&hf_src_workload,
         {"Source workload", "k8s.src.workload", FT_STRING, BASE_NONE, NULL, 0x0,
          "Workload of the sending pod", HFILL}},
        {&hf_dst_namespace,
         {"Destination namespace", "k8s.dst.namespace", FT_STRING, BASE_NONE, NULL, 0x0,
          "Namespace of the receiving pod", HFILL}},
        {&hf_dst_pod,
         {"Destination pod", "k8s.dst.pod", FT_STRING, BASE_NONE, NULL, 0x0, "The receiving pod",
          HFILL}},
        {&hf_dst_workload,
         {"Destination workload", "k8s.dst.workload", FT_STRING, BASE_NONE, NULL, 0x0,
          "Workload of the receiving pod", HFILL}},
    };
    static hf_register_info hf_netcap[] = {
        {&hf_version,
         {"Metadata version", "netcap.version", FT_UINT32, BASE_DEC, NULL, 0x0,
          "Version of the interface's pod metadata format", HFILL}},
        {&hf_direction,
         {"Direction", "netcap.direction", FT_UINT32, BASE_DEC, VALS(direction_vals), 0x0,
          "Direction seen from the captured pod (epb_flags)", HFILL}},
        {&hf_flow_id,
         {"Flow ID", "netcap.flow_id", FT_UINT64, BASE_HEX, NULL, 0x0,
          "Same for both directions of a connection within one capture", HFILL}},
    };
    static gint *ett[] = {&ett_k8s, &ett_netcap};
    static ei_register_info ei[] = {
        {&ei_bad_metadata,
         {"netcap.metadata.malformed", PI_MALFORMED, PI_WARN, "Malformed netcap pod metadata",
          EXPFILL}},
        {&ei_bad_flow_record,
         {"netcap.flow_record.malformed", PI_MALFORMED, PI_WARN, "Malformed netcap flow record",
          EXPFILL}},
    };

    proto_k8s = proto_register_protocol("Kubernetes", "Kubernetes", "k8s");
    proto_netcap = proto_register_protocol("netcap capture metadata", "netcap", "netcap");
    netcap_protocol = find_protocol_by_id(proto_netcap);
    proto_register_field_array(proto_k8s, hf_k8s, array_length(hf_k8s));
    proto_register_field_array(proto_netcap, hf_netcap, array_length(hf_netcap));
    proto_register_subtree_array(ett, array_length(ett));
    expert_register_field_array(expert_register_protocol(proto_netcap), ei, array_length(ei));

    k8s_handle = register_dissector("k8s", dissect_k8s, proto_k8s);
    k8s_tap = register_tap(K8S_TAP);
    k8s_cache_init();
}

void proto_reg_handoff_k8s(void)
{
    register_postdissector(k8s_handle);
    k8s_stats_register();
}
