"""How captures end when something else ends: the pod's interface, the agent (SIGTERM, SIGKILL),
the client, and the agent's capacity. Each time the user gets one sentence, the file written so
far opens, and the agent gives back what the capture held."""

import json
import os
import signal
import socket
import ssl
import struct
import time

import pytest

from e2e_util import extcap_lines, live_tshark, read_fields, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"


def _isb_comments(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 5:
            o = off + 20
            while o + 4 <= off + blen - 4:
                code, olen = struct.unpack_from("<HH", data, o)
                if code == 0:
                    break
                if code == 1:
                    out.append(data[o + 4:o + 4 + olen].decode())
                o += 4 + olen + (-olen % 4)
        off += blen
    return out


def _pinging(lab):
    import subprocess
    return subprocess.Popen(lab.exec_argv("frontend", "ping", "-c", "100", "-i", "0.1", "-q",
                                          lab.pod_ip("backend")), stdout=subprocess.DEVNULL)


def _until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def test_interface_gone_ends_capture_with_reason(ws, lab):
    """A second interface in frontend (a veth pair inside the pod) is captured, then deleted."""
    lab.pod_run("frontend", "ip", "link", "add", "dbg0", "type", "veth", "peer", "name", "dbg1",
                check=True)
    lab.pod_run("frontend", "ip", "link", "set", "dbg0", "up", check=True)
    lab.pod_run("frontend", "ip", "link", "set", "dbg1", "up", check=True)
    path = os.path.join(lab.state["ws"]["out"], "gone.pcapng")
    t = start_capture(lab, ["-i", IFACE, "-o", f"{PREF}.interface:dbg0", "-w", path])
    try:
        lab.pod_run("frontend", "ip", "link", "del", "dbg0", check=True)
        t.wait(60)
    finally:
        t.kill()
        lab.pod_run("frontend", "ip", "link", "del", "dbg0")
    lines = extcap_lines(t.stderr)
    assert len(lines) == 1, t.describe()
    assert "the agent ended the capture" in lines[0] and "dbg0" in lines[0] and \
        "shop/frontend" in lines[0], lines
    assert any("dbg0" in c for c in _isb_comments(path)), _isb_comments(path)
    p = lab.tshark(["-r", path, "-c", "1"])
    assert p.returncode == 0, p.stderr


def test_agent_sigterm_ends_streams_cleanly(ws, lab, build_dir):
    path = os.path.join(lab.state["ws"]["out"], "sigterm.pcapng")
    pinger = _pinging(lab)
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-w", path])
    try:
        assert _until(lambda: (lab.metrics() or {}).get("netcap_packets_total", 0) > 0, 20)
        assert lab.stop_agent() == 0  # SIGTERM; the agent exits 0 after draining
        t.wait(60)
    finally:
        t.kill()
        pinger.kill()
        pinger.wait()
        lab.start_agent(build_dir)
    lines = extcap_lines(t.stderr)
    assert len(lines) == 1 and "the agent is shutting down" in lines[0], t.describe()
    assert "the agent is shutting down" in " ".join(_isb_comments(path))
    assert len(read_fields(lab, path, ["frame.number"])) > 0


def test_agent_killed_mid_stream(ws, lab, build_dir):
    path = os.path.join(lab.state["ws"]["out"], "sigkill.pcapng")
    pinger = _pinging(lab)
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-w", path])
    try:
        assert _until(lambda: (lab.metrics() or {}).get("netcap_packets_total", 0) > 0, 20)
        os.kill(lab.state["agent"]["pid"], signal.SIGKILL)
        t.wait(60)
    finally:
        t.kill()
        pinger.kill()
        pinger.wait()
        lab.stop_agent()
        lab.start_agent(build_dir)
    lines = extcap_lines(t.stderr)
    assert len(lines) == 1 and "closed the stream early" in lines[0], t.describe()
    n = len(read_fields(lab, path, ["frame.number"]))  # the file so far opens
    assert n > 0


def _agent_resources(lab):
    pid = lab.state["agent"]["pid"]
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


def _open_stream(lab, token):
    ctx = ssl.create_default_context(cafile=lab.state["files"]["ca"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lab.state["agent"]["port"]), 10),
                        server_hostname="127.0.0.1")
    body = json.dumps({"targets": [{"namespace": "shop", "pod": "frontend"}]}).encode()
    s.sendall(b"POST /v1/captures HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer "
              + token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = s.recv(4096)
    return s, head


def test_client_disconnect_gives_everything_back(ws, lab, token):
    assert _until(lambda: (lab.metrics() or {}).get("netcap_captures_active") == 0, 10)
    base = _agent_resources(lab)
    socks = []
    try:
        for _ in range(3):
            s, head = _open_stream(lab, token)
            assert head.startswith(b"HTTP/1.1 200"), head
            socks.append(s)
        assert (lab.metrics() or {}).get("netcap_captures_active") == 3
        assert _agent_resources(lab)[0] > base[0]
    finally:
        for s in socks:
            s.close()
    # each capture notices at its next write (at most one ISB interval) and frees itself
    assert _until(lambda: (lab.metrics() or {}).get("netcap_captures_active") == 0, 10), lab.metrics()
    assert _until(lambda: _agent_resources(lab) == base, 10), (_agent_resources(lab), base)


def test_too_many_captures_is_429(ws, lab, token):
    socks = []
    try:
        for _ in range(16):  # CAPTURE_MAX_ACTIVE
            s, head = _open_stream(lab, token)
            assert head.startswith(b"HTTP/1.1 200"), head
            socks.append(s)
        s, head = _open_stream(lab, token)
        socks.append(s)
        assert head.startswith(b"HTTP/1.1 429"), head
        assert b'"reason":"TooManyCaptures"' in head or b"TooManyCaptures" in s.recv(4096)
    finally:
        for s in socks:
            s.close()
    assert _until(lambda: (lab.metrics() or {}).get("netcap_captures_active") == 0, 10)
