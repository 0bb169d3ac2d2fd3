"""Live capture of a pod through tshark -> netcap-extcap -> netcap-agent, and what the file holds.

The ICMP capture runs once per session (module fixture) and the tests read its file back.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

import lab as labmod
from e2e_util import (count, direction, expected_pod, extcap_lines, read_fields,
                       start_capture)

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"


def capture_while(lab, name, packets, send, plugin=True, rounds=6):
    """tshark -i netcap-extcap -f icmp with max-packets while send() makes traffic; more rounds
    of send() follow only if the capture has not ended yet (a late-armed capture), so the result
    does not depend on timing. Returns (path, Proc)."""
    path = os.path.join(lab.state["ws"]["out"], name)
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-o", f"{PREF}.maxpackets:{packets}",
                            "-w", path], plugin=plugin)
    try:
        for _ in range(rounds):
            if not t.running():
                break
            send()
            try:
                t.p.wait(3)
            except subprocess.TimeoutExpired:
                pass
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0, f"tshark failed.\n{t.describe()}"
    assert not extcap_lines(t.stderr), f"the extcap wrote to stderr on success:\n{t.stderr}"
    return path, t


def capture_pings(lab, name, packets, plugin=True, rounds=6):
    """capture_while() with `ping -c 5 -i 0.2` from frontend to backend as the traffic."""
    def ping():
        p = lab.ping(count=5, interval=0.2)
        assert p.returncode == 0, f"ping frontend -> backend failed: {p.stdout}{p.stderr}"
    return capture_while(lab, name, packets, ping, plugin=plugin, rounds=rounds)


@pytest.fixture(scope="module")
def icmp_capture(ws, lab):
    path, t = capture_pings(lab, "icmp.pcapng", 10)
    return path


FIELDS = ["frame.number", "frame.interface_name", "ip.src", "ip.dst", "icmp.type",
          "k8s.namespace", "k8s.pod", "k8s.node", "k8s.workload", "k8s.workload_kind",
          "k8s.container", "k8s.interface", "k8s.pod_ip", "k8s.label", "netcap.direction",
          "k8s.peer.namespace", "k8s.peer.pod", "k8s.peer.workload"]


def test_extcap_and_plugin_are_found(ws, lab):
    """As uid 65534, tshark lists the extcap interface and loads the plugin from the personal dirs."""
    p = lab.tshark(["-D"], timeout=60)
    assert p.returncode == 0, p.stderr
    assert f"{IFACE} (Kubernetes pod capture)" in p.stdout, p.stdout
    p = lab.tshark(["-G", "plugins"], timeout=60)
    assert p.returncode == 0, p.stderr
    assert "netcap.so" in p.stdout, f"plugin not loaded:\n{p.stdout}"
    assert "netcap-extcap" in p.stdout, p.stdout
    p = lab.tshark(["-G", "fields"], timeout=60)
    names = {line.split("\t")[2] for line in p.stdout.splitlines() if line.startswith("F\t")}
    missing = {f for f in FIELDS if f.startswith(("k8s.", "netcap."))} - names
    assert not missing, f"fields not registered by the plugin: {sorted(missing)}"


def test_icmp_capture_ends_itself_with_exactly_max_packets(icmp_capture, lab):
    assert count(lab, icmp_capture) == 10


def test_icmp_every_packet_is_frontend(icmp_capture, lab):
    assert count(lab, icmp_capture, 'k8s.pod == "frontend"') == 10
    assert count(lab, icmp_capture, 'k8s.namespace == "shop" && k8s.node == "node1"') == 10


def test_icmp_fields_match_podlist(icmp_capture, lab, podlist):
    fe, be = expected_pod(podlist, "frontend"), expected_pod(podlist, "backend")
    rows = read_fields(lab, icmp_capture, FIELDS)
    assert len(rows) == 10
    for r in rows:
        where = f"frame {r['frame.number']}: {r}"
        assert r["k8s.namespace"] == fe["namespace"], where
        assert r["k8s.pod"] == fe["pod"], where
        assert r["k8s.node"] == fe["node"], where
        assert r["k8s.workload"] == fe["workload"], where
        assert r["k8s.workload_kind"] == fe["workload_kind"], where
        assert r["k8s.container"] == fe["container"], where
        assert r["k8s.interface"] == "eth0", where
        assert r["k8s.pod_ip"] == fe["ip"], where
        labels = set(r["k8s.label"].split("|"))
        assert "app=frontend" in labels and labels <= fe["labels"], where
        assert r["frame.interface_name"] == "k8s/shop/frontend/eth0", where
        assert {r["ip.src"], r["ip.dst"]} == {fe["ip"], be["ip"]}, where
        assert r["k8s.peer.pod"] == be["pod"], where
        assert r["k8s.peer.namespace"] == be["namespace"], where
        assert r["k8s.peer.workload"] == be["workload"], where


def test_icmp_direction(icmp_capture, lab, podlist):
    """Echo requests leave frontend (out), replies arrive (in): 5 and 5."""
    fe = expected_pod(podlist, "frontend")
    rows = read_fields(lab, icmp_capture, ["icmp.type", "ip.src", "netcap.direction"])
    dirs = [direction(r["netcap.direction"]) for r in rows]
    assert dirs.count("out") == 5 and dirs.count("in") == 5, rows
    for r, d in zip(rows, dirs):
        if r["icmp.type"] == "8":
            assert d == "out" and r["ip.src"] == fe["ip"], r
        else:
            assert r["icmp.type"] == "0" and d == "in" and r["ip.src"] != fe["ip"], r
    # The standard pcapng epb_flags carry the same direction (1 = inbound, 2 = outbound).
    assert count(lab, icmp_capture, "frame.packet_flags_direction == 2 && icmp.type == 8") == 5
    assert count(lab, icmp_capture, "frame.packet_flags_direction == 1 && icmp.type == 0") == 5


def test_icmp_interface_name_without_plugin(icmp_capture, lab):
    """frame.interface_name is plain pcapng: it works in a Wireshark without netcap's plugin."""
    assert count(lab, icmp_capture, 'frame.interface_name == "k8s/shop/frontend/eth0"',
                 plugin=False) == 10
    p = lab.tshark(["-r", icmp_capture, "-Y", "k8s.pod"], plugin=False)
    assert p.returncode != 0 and "k8s.pod" in p.stderr, \
        "the no-plugin HOME should not know k8s.pod (is the plugin installed globally?)"


def test_icmp_file_reads_with_tcpdump(icmp_capture, lab):
    p = subprocess.run(["tcpdump", "-r", icmp_capture, "-n"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 10, p.stdout + p.stderr
    assert all("ICMP echo" in line for line in lines), p.stdout


def test_live_capture_without_plugin(ws, lab):
    """The extcap alone (no plugin in HOME) captures, and interface names still identify the pod."""
    path, _ = capture_pings(lab, "icmp-noplugin.pcapng", 4, plugin=False)
    assert count(lab, path, plugin=False) == 4
    assert count(lab, path, 'frame.interface_name == "k8s/shop/frontend/eth0"', plugin=False) == 4


def test_same_pod_ips_in_another_lab_do_not_confuse_the_agent(ws, lab):
    """A second lab with the SAME pod IPs (another node's pods, say) runs at the same time. The
    agent must capture the session lab's frontend (found by pod UID through the cgroup, as
    kubelet names it), not the twin that merely holds the same address."""
    if not lab.state.get("pod_cgroups", {}).get("frontend"):
        pytest.skip("no writable cgroup2 hierarchy here: pods cannot be found by UID, only by IP")
    d = tempfile.mkdtemp(prefix="netcap-e2e-twin-")
    twin = labmod.Lab(d, tag=f"{os.getpid()}x2", subnet_index=0, temporary=True)
    try:
        twin.up()
        assert twin.pod_ip("frontend") == lab.pod_ip("frontend")
        path = os.path.join(lab.state["ws"]["out"], "twin.pcapng")
        t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-o", f"{PREF}.maxpackets:6",
                                "-w", path])
        try:
            for _ in range(6):  # both labs ping, with different payload sizes
                if not t.running():
                    break
                tw = subprocess.Popen(twin.exec_argv("frontend", "ping", "-n", "-q", "-c", "3",
                                                     "-i", "0.2", "-s", "333",
                                                     twin.pod_ip("backend")),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                p = lab.pod_run("frontend", "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-s",
                                "111", lab.pod_ip("backend"), timeout=30)
                tw.wait(30)
                assert p.returncode == 0, p.stdout + p.stderr
                try:
                    t.p.wait(3)
                except subprocess.TimeoutExpired:
                    pass
            assert t.wait(60) == 0, t.describe()
        finally:
            t.kill()
        sizes = {r["ip.len"] for r in read_fields(lab, path, ["ip.len"])}
        # IP length = payload + 8 (ICMP) + 20 (IP): 139 ours, 361 the twin's
        assert sizes == {"139"}, f"IP lengths captured: {sizes} (361 = the twin lab's pings)"
    finally:
        twin.down()
        shutil.rmtree(d, ignore_errors=True)


SEND_VLAN = r"""
import socket, struct, sys
dst, src, sip, dip, n = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for seq in range(1, n + 1):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x7e57, seq) + b"vlan-test"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                     socket.inet_aton(sip), socket.inet_aton(dip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dst + src + struct.pack("!HH", 0x8100, 100) + struct.pack("!H", 0x0800) + ip + icmp)
"""


def test_vlan_tags_are_put_back(ws, lab):
    """802.1Q frames to the pod: the kernel takes the tag off before any packet socket sees the
    frame (skb_vlan_untag) and passes it beside the data, so the agent's ring reader must put it
    back, as libpcap does; the file shows VLAN 100 around the ICMP. The in-kernel filter sees the
    untagged frame, so a plain `icmp` filter matches it. (No VLAN device: this kernel has no
    8021q; the backend pod sends the tagged frames from a raw socket.)"""
    argv = [SEND_VLAN, lab.pod_mac("frontend").replace(":", ""),
            lab.pod_mac("backend").replace(":", ""), lab.pod_ip("backend"),
            lab.pod_ip("frontend"), "4"]

    def send():
        p = lab.pod_run("backend", "/usr/bin/python3", "-c", *argv)
        assert p.returncode == 0, p.stderr
    path, _ = capture_while(lab, "vlan.pcapng", 4, send)
    pkts = read_fields(lab, path, ["vlan.id", "vlan.etype", "ip.src", "ip.dst", "icmp.ident",
                                   "icmp.seq", "netcap.direction", "k8s.pod", "k8s.peer.pod"])
    assert len(pkts) == 4, pkts
    assert all(p["vlan.id"] == "100" and p["vlan.etype"] == "0x0800" for p in pkts), pkts
    assert [(p["ip.src"], p["ip.dst"], p["icmp.ident"], p["icmp.seq"]) for p in pkts] == \
        [(lab.pod_ip("backend"), lab.pod_ip("frontend"), "32343", str(i)) for i in (1, 2, 3, 4)], pkts
    # the flow record reads the IP header behind the tag: the peer is the backend pod
    assert {(p["k8s.pod"], p["k8s.peer.pod"]) for p in pkts} == {("frontend", "backend")}, pkts
