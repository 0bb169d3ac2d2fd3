"""The "Kubernetes" configuration profile (profiles/Kubernetes) used the way a user does:
`tshark -C Kubernetes` as the unprivileged user, on a real capture of frontend holding exactly

    ping backend x1                                      2 packets   pod to pod
    a DNS answer with rcode 3 sent to backend's echo     2 packets   (decoded as DNS on 5001)
    TCP connect to backend's closed port 9               2 packets   SYN, RST
    ping the node's gateway x1                           2 packets   outside the cluster

and the statistics trees as `tshark -z`.
"""

import os
import re
import shutil
import subprocess

import pytest

from e2e_util import extcap_lines, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PROFILE = os.path.join(REPO, "profiles", "Kubernetes")

TRAFFIC = r"""
import socket, struct, sys
backend = sys.argv[1]
# a DNS response (QR=1), rcode 3 (NXDOMAIN), for "x.shop." A IN
dns = struct.pack("!HHHHHH", 0x1234, 0x8183, 1, 0, 0, 0) + b"\x01x\x04shop\x00" + struct.pack("!HH", 1, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", 45002))
u.settimeout(5)
u.sendto(dns, (backend, 5001))
u.recvfrom(512)
t = socket.socket()
t.settimeout(5)
try:
    t.connect((backend, 9))
except ConnectionRefusedError:
    print("refused", flush=True)
"""


@pytest.fixture(scope="module")
def profiled(ws, lab, udp_echo):
    """The profile in uid 65534's personal profiles dir, and the capture."""
    dst = os.path.join(lab.state["ws"]["home"], ".config", "wireshark", "profiles", "Kubernetes")
    shutil.copytree(PROFILE, dst, dirs_exist_ok=True)
    path = os.path.join(lab.state["ws"]["out"], "profile.pcapng")
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp or udp or tcp port 9",
                            "-o", f"{PREF}.maxpackets:8", "-w", path])
    try:
        p = lab.ping(count=1)
        assert p.returncode == 0, p.stdout + p.stderr
        p = lab.pod_run("frontend", "python3", "-c", TRAFFIC, lab.pod_ip("backend"))
        assert "refused" in p.stdout, p.stdout + p.stderr
        p = lab.pod_run("frontend", "ping", "-n", "-q", "-c", "1", "-W", "2",
                        lab.state["gateway"])
        assert p.returncode == 0, p.stdout + p.stderr
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    yield path
    shutil.rmtree(dst, ignore_errors=True)


def tshark_k8s(lab, path, *args):
    p = lab.tshark(["-C", "Kubernetes", "-r", path, "-d", "udp.port==5001,dns", *args],
                   timeout=60)
    assert p.returncode == 0, p.stderr
    assert "not found" not in p.stderr.lower() and "warning" not in p.stderr.lower(), p.stderr
    return p.stdout


def test_columns_show_pods_and_names(profiled, lab):
    lines = tshark_k8s(lab, profiled).splitlines()
    assert len(lines) == 8, lines
    for line in lines[:6]:
        # Namespace, Pod, Dir, Peer, Peer namespace, then Source/Destination resolved from NRBs
        assert re.search(r"\bshop\s+frontend\s+\S+\s+backend\s+shop\s+", line), line
        assert "frontend.shop" in line and "backend.shop" in line, line
    for line in lines[6:]:  # the gateway: no peer, no name
        assert re.search(r"\bshop\s+frontend\s+(Outbound|Inbound)\s+\S+ . \S+\s+ICMP", line), line
        assert lab.state["gateway"] in line and "backend" not in line, line


def test_colouring_rules(profiled, lab):
    out = tshark_k8s(lab, profiled, "--color", "-T", "fields", "-e", "frame.coloring_rule.name")
    assert out.splitlines() == ["Pod to pod"] * 2 + ["DNS error"] * 2 + [
        "TCP connection start/end", "TCP reset"] + ["Outside the cluster"] * 2, out


def _uat_filters(name, column):
    rows = []
    with open(os.path.join(PROFILE, name)) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                fields = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
                rows.append(fields[column].replace("\\x22", '"'))
    return rows


def test_every_colour_rule_and_button_compiles(profiled, lab):
    filters = [line.split("@")[2] for line in open(os.path.join(PROFILE, "colorfilters"))
               if line.startswith("@")]
    filters += _uat_filters("dfilter_buttons", 2)
    assert len(filters) >= 14
    for f in filters:
        tshark_k8s(lab, profiled, "-Y", f)


def test_macros(profiled, lab):
    assert len(tshark_k8s(lab, profiled, "-Y", "${pod:backend}").splitlines()) == 6
    assert len(tshark_k8s(lab, profiled, "-Y", "${between:backend;frontend}").splitlines()) == 6
    assert len(tshark_k8s(lab, profiled, "-Y", "${ns:shop}").splitlines()) == 8
    assert len(tshark_k8s(lab, profiled, "-Y", "${workload:frontend}").splitlines()) == 8


def test_community_id_is_on(profiled, lab):
    ids = tshark_k8s(lab, profiled, "-T", "fields", "-e", "communityid").split()
    assert len(ids) == 8 and all(i.startswith("1:") for i in ids), ids
    assert len(set(ids)) == 4  # one per conversation


def _tree(out, title):
    """[(depth, item, count)] of one `tshark -z ...,tree` block."""
    block = out.split(title + ":", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines():
        m = re.match(r"^( *)(\S.*?)\s{2,}(\d+)\s", line)
        if m and not line.startswith("Topic"):
            rows.append((len(m.group(1)), m.group(2), int(m.group(3))))
    return rows


def test_statistics_trees(profiled, lab):
    out = tshark_k8s(lab, profiled, "-q", "-z", "k8s_pods,tree", "-z", "k8s_workloads,tree",
                     "-z", "k8s_pod_conv,tree")
    assert _tree(out, "Kubernetes/Pods") == [(0, "Packets by pod", 8), (1, "shop", 8),
                                             (2, "frontend", 8)], out
    assert _tree(out, "Kubernetes/Workloads") == [(0, "Packets by workload", 8), (1, "shop", 8),
                                                  (2, "frontend (Deployment)", 8)], out
    # sender -> receiver, by pod; the gateway is no pod
    assert _tree(out, "Kubernetes/Pod conversations") == [
        (0, "Packets by pod conversation", 8),
        (1, "frontend.shop", 4), (2, "backend.shop", 3), (2, "(unknown)", 1),
        (1, "backend.shop", 3), (2, "frontend.shop", 3),
        (1, "(unknown)", 1), (2, "frontend.shop", 1)], out


def test_cmake_install_puts_the_profile_in_wiresharks_global_dir(build_dir, tmp_path):
    p = subprocess.run(["cmake", "--install", build_dir, "--prefix", "/usr"],
                       env={**os.environ, "DESTDIR": str(tmp_path)}, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    got = os.path.join(tmp_path, "usr", "share", "wireshark", "profiles", "Kubernetes")
    assert sorted(os.listdir(got)) == sorted(os.listdir(PROFILE))
