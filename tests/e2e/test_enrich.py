"""Per-packet enrichment: peer identity, source/destination pods, flow ids and name records,
for pod-to-pod and pod-to-outside traffic (pod-to-service runs in test_cluster, where the agent
knows Services from the API).

One capture of frontend holds exactly: ping backend x2 (4 ICMP packets) and two UDP datagrams
frontend:45001 -> backend:5001, each echoed (4 UDP packets).
"""

import os

import pytest

from e2e_util import direction, extcap_lines, read_fields, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"

SEND_UDP = r"""
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", 45001))
u.settimeout(5)
for i in range(2):
    u.sendto(b"enrich", (sys.argv[1], 5001))
    u.recvfrom(100)
print("sent", flush=True)
"""

FIELDS = ["ip.src", "ip.dst", "icmp.type", "udp.srcport", "k8s.pod", "netcap.direction",
          "netcap.flow_id", "k8s.peer.namespace", "k8s.peer.pod", "k8s.peer.workload",
          "k8s.peer.workload_kind", "k8s.peer.service", "k8s.src.namespace", "k8s.src.pod",
          "k8s.src.workload", "k8s.dst.namespace", "k8s.dst.pod", "k8s.dst.workload"]

# Name resolution from the file's NRBs only: never ask a DNS server.
NAMES = ["-N", "n", "-o", "nameres.use_external_name_resolver:FALSE"]


def run_capture(lab, name, extra, expected, traffic):
    path = os.path.join(lab.state["ws"]["out"], name)
    t = start_capture(lab, ["-i", IFACE, "-o", f"{PREF}.maxpackets:{expected}", "-w", path]
                      + extra)
    try:
        traffic()
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    return path


def pod_traffic(lab):
    p = lab.ping(count=2, interval=0.2)
    assert p.returncode == 0, p.stdout + p.stderr
    p = lab.pod_run("frontend", "python3", "-c", SEND_UDP, lab.pod_ip("backend"))
    assert p.returncode == 0 and "sent" in p.stdout, p.stdout + p.stderr


@pytest.fixture(scope="module")
def pod_capture(ws, lab, udp_echo):
    return run_capture(lab, "enrich.pcapng", ["-f", "icmp or udp"], 8, lambda: pod_traffic(lab))


def test_pod_to_pod_peer_and_endpoints(pod_capture, lab, podlist):
    pkts = read_fields(lab, pod_capture, FIELDS)
    assert len(pkts) == 8
    fe, be = lab.pod_ip("frontend"), lab.pod_ip("backend")
    for p in pkts:
        d = direction(p["netcap.direction"])
        assert (p["ip.src"], p["ip.dst"]) == ((fe, be) if d == "out" else (be, fe)), p
        assert p["k8s.pod"] == "frontend"
        assert (p["k8s.peer.namespace"], p["k8s.peer.pod"]) == ("shop", "backend"), p
        assert (p["k8s.peer.workload"], p["k8s.peer.workload_kind"]) == ("backend",
                                                                         "Deployment"), p
        assert p["k8s.peer.service"] == ""
        src, dst = ("frontend", "backend") if d == "out" else ("backend", "frontend")
        assert (p["k8s.src.pod"], p["k8s.dst.pod"]) == (src, dst), p
        assert (p["k8s.src.workload"], p["k8s.dst.workload"]) == (src, dst), p
        assert p["k8s.src.namespace"] == p["k8s.dst.namespace"] == "shop"
    assert [direction(p["netcap.direction"]) for p in pkts] == ["out", "in"] * 4


def test_flow_id_is_one_per_conversation(pod_capture, lab):
    pkts = read_fields(lab, pod_capture, FIELDS)
    icmp = {p["netcap.flow_id"] for p in pkts if p["icmp.type"]}
    udp = {p["netcap.flow_id"] for p in pkts if p["udp.srcport"]}
    assert len(icmp) == 1 and len(udp) == 1, (icmp, udp)
    assert icmp != udp and "" not in icmp | udp
    # and filterable
    flow = udp.pop()
    assert len(read_fields(lab, pod_capture, ["frame.number"],
                           dfilter=f"netcap.flow_id == {flow}")) == 4


def test_name_records_name_the_pods(pod_capture, lab):
    rows = read_fields(lab, pod_capture, ["ip.src_host", "ip.dst_host"])
    p = lab.tshark(["-r", pod_capture, *NAMES, "-T", "fields", "-e", "ip.src_host",
                    "-e", "ip.dst_host"], timeout=60)
    assert p.returncode == 0, p.stderr
    pairs = {tuple(line.split("\t")) for line in p.stdout.splitlines()}
    assert pairs == {("frontend.shop", "backend.shop"), ("backend.shop", "frontend.shop")}, pairs
    # without resolution the same fields are the numbers, as before
    assert {r["ip.src_host"] for r in rows} == {lab.pod_ip("frontend"), lab.pod_ip("backend")}


def test_name_records_can_be_turned_off(ws, lab, udp_echo):
    path = run_capture(lab, "no-names.pcapng", ["-f", "icmp", "-o", f"{PREF}.nonamerecords:true"],
                       4, lambda: lab.ping(count=2, interval=0.2))
    p = lab.tshark(["-r", path, *NAMES, "-T", "fields", "-e", "ip.src_host"], timeout=60)
    assert p.returncode == 0, p.stderr
    assert set(p.stdout.split()) == {lab.pod_ip("frontend"), lab.pod_ip("backend")}, p.stdout


def test_pod_to_outside_has_no_peer(ws, lab):
    gw = lab.state["gateway"]

    def ping_gw():
        p = lab.pod_run("frontend", "ping", "-n", "-q", "-c", "1", "-W", "2", gw)
        assert p.returncode == 0, p.stdout + p.stderr

    path = run_capture(lab, "outside.pcapng", ["-o", f"{PREF}.host:{gw}"], 2, ping_gw)
    pkts = read_fields(lab, path, FIELDS)
    assert [direction(p["netcap.direction"]) for p in pkts] == ["out", "in"]
    for p in pkts:
        assert p["k8s.pod"] == "frontend" and p["netcap.flow_id"]
        assert p["k8s.peer.pod"] == p["k8s.peer.namespace"] == p["k8s.peer.service"] == "", p
    assert (pkts[0]["k8s.src.pod"], pkts[0]["k8s.dst.pod"]) == ("frontend", "")
    assert (pkts[1]["k8s.src.pod"], pkts[1]["k8s.dst.pod"]) == ("", "frontend")
