"""Structured filters and limits against real traffic in the stand-in pods.

Every test sends the same known mix twice from frontend, as two numbered rounds:

    UDP   frontend:41r1 -> backend:5001  x2, each echoed back             4 packets
    UDP   frontend:41r2 -> backend:5002  x2, each echoed back             4 packets
    ICMP  echo id 0x10r0 -> backend x2, each answered (seq 1, 2)          4 packets
    ICMP  echo id 0x20r0 -> the node's gateway x1, answered                2 packets
    TCP   frontend:43r0 -> backend:8080, one HTTP GET                     handshake + data + close

The capture is limited to the number of packets round 1 holds that match, so it ends by itself
exactly there. Then every packet must (a) match the filter's meaning, checked on the decoded
fields, and (b) belong to round 1: a filter that let something else through shows up as a
foreign packet, and one that dropped a matching packet shows up as a round-2 packet filling its
place. Round 2 only exists to end a capture that came up short.
"""

import os
import subprocess

import pytest

from e2e_util import direction, extcap_lines, file_blocks, read_fields, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"

MIX = r"""
import socket, struct, sys
rnd, backend, gateway, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

for port in (5001, 5002):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 41000 + rnd * 10 + port - 5000))
    u.settimeout(5)
    for i in range(2):
        u.sendto(b"x" * size, (backend, port))
        u.recvfrom(65535)
    u.close()

r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
r.settimeout(5)
for dst, ident, n in ((backend, 0x1000 + rnd * 16, 2), (gateway, 0x2000 + rnd * 16, 1)):
    for seq in range(1, n + 1):
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"netcap"
        pkt = hdr[:2] + struct.pack("!H", csum(hdr)) + hdr[4:]
        r.sendto(pkt, (dst, 0))
        while True:
            data, _ = r.recvfrom(65535)
            ihl = (data[0] & 15) * 4
            t, _, _, i, s = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if t == 0 and i == ident and s == seq:
                break

t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 43000 + rnd * 10))
t.settimeout(5)
t.connect((backend, 8080))
t.sendall(b"GET / HTTP/1.0\r\nHost: backend\r\n\r\n")
while t.recv(65535):
    pass
t.close()
print("sent", flush=True)
"""


def send_round(lab, rnd, size=32):
    p = lab.pod_run("frontend", "python3", "-c", MIX, str(rnd), lab.pod_ip("backend"),
                    lab.state["gateway"], str(size), timeout=60)
    assert p.returncode == 0 and "sent" in p.stdout, f"round {rnd}: {p.stdout}{p.stderr}"


FIELDS = ["frame.len", "frame.cap_len", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
          "tcp.srcport", "tcp.dstport", "tcp.flags", "icmp.type", "icmp.ident", "netcap.direction"]


def round_of(pkt):
    """1 or 2 for a packet of the mix, else None."""
    for port in (pkt["udp.srcport"], pkt["udp.dstport"], pkt["tcp.srcport"], pkt["tcp.dstport"]):
        if port and 41000 <= int(port) < 44000:
            return (int(port) // 10) % 100 % 10 if int(port) >= 43000 else (int(port) - 41000) // 10
    if pkt["icmp.ident"]:
        ident = int(pkt["icmp.ident"].split("|")[0], 0)
        return (ident & 0xff) // 16
    return None


def capture(lab, name, opts, expected, dfilter=None, size=32):
    """Capture with the given extcap options (-o prefs) and max-packets=expected while two rounds
    of the mix run; returns the packets, all checked to be round 1."""
    path = os.path.join(lab.state["ws"]["out"], name)
    args = ["-i", IFACE, "-o", f"{PREF}.maxpackets:{expected}", "-w", path]
    for k, v in opts.items():
        args += ["-o", f"{PREF}.{k}:{v}"]
    if dfilter:
        args += ["-f", dfilter]
    t = start_capture(lab, args)
    try:
        send_round(lab, 1, size)
        send_round(lab, 2, size)
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    pkts = read_fields(lab, path, FIELDS)
    assert len(pkts) == expected, pkts
    rounds = [round_of(p) for p in pkts]
    assert rounds == [1] * expected, f"packets outside round 1 (filter too wide or too narrow): {pkts}"
    return pkts


def test_protocols(lab, udp_echo):
    pkts = capture(lab, "proto-udp.pcapng", {"proto": "udp"}, 8)
    assert all(p["udp.srcport"] for p in pkts)
    pkts = capture(lab, "proto-icmp.pcapng", {"proto": "ICMP"}, 6)
    assert all(p["icmp.type"] in ("0", "8") for p in pkts)


def test_ports_and_ranges(lab, udp_echo):
    pkts = capture(lab, "port.pcapng", {"port": "5001"}, 4)
    assert all("5001" in (p["udp.srcport"], p["udp.dstport"]) for p in pkts)
    capture(lab, "portrange.pcapng", {"port": "5001-5002"}, 8)
    pkts = capture(lab, "dstport.pcapng", {"dstport": "5002"}, 2)
    assert {p["udp.dstport"] for p in pkts} == {"5002"}
    pkts = capture(lab, "srcport.pcapng", {"srcport": "5002"}, 2)
    assert {p["udp.srcport"] for p in pkts} == {"5002"}


def test_hosts_and_cidrs(lab, udp_echo):
    gw = lab.state["gateway"]
    pkts = capture(lab, "host-gw.pcapng", {"host": gw}, 2)
    assert all(gw in (p["ip.src"], p["ip.dst"]) for p in pkts)
    # a CIDR (the backend's /32): everything but the gateway's pings
    backend = lab.pod_ip("backend")
    pkts = capture(lab, "host-cidr.pcapng", {"host": f"{backend}/32", "proto": "udp,icmp"}, 12)
    assert all(backend in (p["ip.src"], p["ip.dst"]) for p in pkts)


def test_tcp_flags_and_icmp_types(lab, udp_echo):
    pkts = capture(lab, "syn.pcapng", {"tcpflags": "syn"}, 2)
    assert sorted(int(p["tcp.flags"], 16) for p in pkts) == [0x002, 0x012], pkts
    pkts = capture(lab, "icmp8.pcapng", {"icmptype": "8"}, 3)
    assert {p["icmp.type"] for p in pkts} == {"8"}


def test_direction_with_structured_and_free_filter(lab, udp_echo):
    pkts = capture(lab, "in.pcapng", {"direction": "in", "proto": "udp,icmp"}, 7)
    assert {direction(p["netcap.direction"]) for p in pkts} == {"in"}, pkts
    assert all(p["ip.dst"] == lab.pod_ip("frontend") for p in pkts)
    # structured AND free BPF text
    pkts = capture(lab, "udp-src.pcapng", {"proto": "udp"}, 4,
                   dfilter=f"src host {lab.pod_ip('frontend')}")
    assert all(p["ip.src"] == lab.pod_ip("frontend") for p in pkts)


def test_sampling_and_snaplen(lab, udp_echo):
    # one packet in two of the 8 UDP packets of round 1
    # (request, reply) x2 to 5001, then to 5002: every other packet is a request
    pkts = capture(lab, "sample.pcapng", {"proto": "udp", "sample": "2"}, 4)
    assert [(p["ip.src"], p["udp.dstport"]) for p in pkts] == \
        [(lab.pod_ip("frontend"), port) for port in ("5001", "5001", "5002", "5002")], pkts
    pkts = capture(lab, "snaplen.pcapng", {"proto": "udp", "snaplen": "100"}, 8, size=300)
    assert all(int(p["frame.cap_len"]) == 100 and int(p["frame.len"]) == 342 for p in pkts), pkts


def test_buffer_size_reaches_the_agent(lab, udp_echo):
    """--buffer-size (Wireshark's "Buffer size (MiB)") sizes the agent's kernel ring for the pod,
    as dumpcap -B does; the capture is otherwise the same, and the audit line says the size."""
    pkts = capture(lab, "buffer.pcapng", {"proto": "udp", "buffersize": "64"}, 8)
    assert all(p["udp.srcport"] for p in pkts)
    audits = [line for line in lab.agent_log(400).splitlines() if "sample 1 buffer " in line]
    assert audits and "buffer 64 MiB;" in audits[-1], audits[-3:]
    p = lab.tshark(["-i", IFACE, "-c", "1", "-o", f"{PREF}.buffersize:1"], timeout=60)
    assert p.returncode != 0
    lines = extcap_lines(p.stderr)
    assert len(lines) == 1 and "--buffer-size must be from 2 to 256 MiB, not 1" in lines[0], \
        p.stderr


def test_bad_structured_value_is_one_sentence(ws, lab):
    p = lab.tshark(["-i", IFACE, "-c", "1", "-o", f"{PREF}.port:80,http"], timeout=60)
    assert p.returncode != 0
    lines = extcap_lines(p.stderr)
    assert len(lines) == 1 and '--port: "http" is not a port' in lines[0], p.stderr


def test_capture_filter_check_as_wireshark_runs_it(ws, lab):
    ws = lab.state["ws"]
    extcap = os.path.join(ws["home"], ".config", "wireshark", "extcap", "netcap-extcap")
    argv = [extcap, "--extcap-interface", IFACE, "--extcap-capture-filter"]
    ok = lab.pod_run("frontend", *argv, "tcp port 80 and host 10.0.0.1")
    assert ok.returncode == 0 and ok.stdout == "", ok
    bad = lab.pod_run("frontend", *argv, "tcp portt 80")
    assert bad.returncode == 0
    assert bad.stdout.strip() == 'bad capture filter "tcp portt 80": can\'t parse filter ' \
                                 'expression: syntax error', bad.stdout


def test_bytes_limit_ends_capture_at_the_budget(lab, udp_echo):
    """limits.bytes counts captured packet data: 342-byte frames, budget 1200 -> 3 packets
    (1026 bytes), the 4th would pass it and ends the capture unsent."""
    path = os.path.join(lab.state["ws"]["out"], "bytes.pcapng")
    t = start_capture(lab, ["-i", IFACE, "-o", f"{PREF}.proto:udp", "-o", f"{PREF}.maxbytes:1200",
                            "-w", path])
    try:
        send_round(lab, 1, 300)
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    pkts = read_fields(lab, path, FIELDS)
    assert [int(p["frame.len"]) for p in pkts] == [342, 342, 342], pkts


def test_seconds_limit_ends_by_itself_with_statistics(ws, lab):
    path = os.path.join(lab.state["ws"]["out"], "seconds.pcapng")
    t = start_capture(lab, ["-i", IFACE, "-o", f"{PREF}.maxseconds:2", "-w", path])
    try:
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    isbs = [b for typ, b in file_blocks(path) if typ == 5]
    assert isbs, "no interface statistics block in the file"


V6 = {"frontend": "fd00:231::10", "backend": "fd00:231::11"}
V6_NET = "fd00:231::/64"


@pytest.fixture(scope="module")
def ipv6(ws, lab):
    """IPv6 on the pods' eth0 for these tests only: ULA addresses, static neighbours, no link-local
    address, no DAD, no router solicitations; the range is unreachable in the root netns first."""
    subprocess.run(["ip", "-6", "route", "replace", "unreachable", V6_NET], check=True)
    try:
        for pod in V6:
            for k, v in (("addr_gen_mode", 1), ("accept_dad", 0), ("accept_ra", 0),
                         ("router_solicitations", 0), ("disable_ipv6", 0)):
                lab.pod_run(pod, "sysctl", "-q", "-w", f"net.ipv6.conf.eth0.{k}={v}", check=True)
            lab.pod_run(pod, "ip", "-6", "addr", "add", f"{V6[pod]}/64", "dev", "eth0", "nodad",
                        check=True)
            other = "backend" if pod == "frontend" else "frontend"
            lab.pod_run(pod, "ip", "-6", "neigh", "replace", V6[other], "lladdr",
                        lab.pod_mac(other), "dev", "eth0", "nud", "permanent", check=True)
        yield V6
    finally:
        for pod in V6:
            lab.pod_run(pod, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1")
        subprocess.run(["ip", "-6", "route", "del", "unreachable", V6_NET])


def _pings(lab, v6_first):
    v4 = lambda: lab.ping(count=2, interval=0.2)  # noqa: E731
    v6 = lambda: lab.pod_run("frontend", "ping", "-6", "-n", "-q", "-c", "2", "-i", "0.2",  # noqa
                             "-W", "2", V6["backend"])
    for f in ((v6, v4) if v6_first else (v4, v6)):
        p = f()
        assert p.returncode == 0, p.stdout + p.stderr


def _capture_pings(lab, name, opts, v6_first):
    path = os.path.join(lab.state["ws"]["out"], name)
    args = ["-i", IFACE, "-o", f"{PREF}.maxpackets:4", "-w", path]
    for k, v in opts.items():
        args += ["-o", f"{PREF}.{k}:{v}"]
    t = start_capture(lab, args)
    try:
        _pings(lab, v6_first)
        _pings(lab, v6_first)  # ends a capture that came up short
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    return read_fields(lab, path, ["ipv6.src", "ipv6.dst", "icmpv6.type", "ip.src", "icmp.type"])


def test_ipv6_version_icmp6_types_and_cidr(lab, ipv6):
    # the IPv4 pings come first and must not be taken; MLD reports (type 143) neither
    pkts = _capture_pings(lab, "v6.pcapng", {"ipversion": "6", "icmp6type": "128,129",
                                             "host": "fd00:231::/64"}, v6_first=False)
    assert [(p["ipv6.src"], p["icmpv6.type"]) for p in pkts] == [
        (V6["frontend"], "128"), (V6["backend"], "129")] * 2, pkts
    assert all(not p["ip.src"] for p in pkts)
    # and the other way round: IPv4 only, with the IPv6 pings first
    pkts = _capture_pings(lab, "v4.pcapng", {"ipversion": "4", "proto": "icmp"}, v6_first=True)
    assert [(p["ip.src"], p["icmp.type"]) for p in pkts] == [
        (lab.pod_ip("frontend"), "8"), (lab.pod_ip("backend"), "0")] * 2, pkts
    assert all(not p["ipv6.src"] for p in pkts)
