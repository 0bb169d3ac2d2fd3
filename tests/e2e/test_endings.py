"""How captures end when something else ends: the pod's interface, the agent (SIGTERM, SIGKILL),
the client, and the agent's capacity. Each time the user gets one sentence, the file written so
far opens, and the agent gives back what the capture held."""

import json
import os
import signal
import socket
import ssl
import time

from e2e_util import extcap_lines, file_blocks, pcapng_options, read_fields, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"


def _isb_comments(path):
    """The comments of the file's interface statistics blocks."""
    return [v.decode() for btype, body in file_blocks(path) if btype == 5
            for code, v in pcapng_options(body, 12)[1] if code == 1]


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


def _agent_ends_a_capture(lab, build_dir, name, end):
    """A live capture while frontend pings; end(lab) once packets flow; the agent is restarted
    afterwards. Returns the tshark run and the file it wrote."""
    path = os.path.join(lab.state["ws"]["out"], name)
    pinger = _pinging(lab)
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-w", path])
    try:
        # packets have reached dumpcap's file (it writes in buffered blocks), not just the agent
        assert _until(lambda: os.path.exists(path) and os.path.getsize(path) > 16384, 30)
        end(lab)
        t.wait(60)
    finally:
        t.kill()
        pinger.kill()
        pinger.wait()
        lab.stop_agent()
        lab.start_agent(build_dir)
    return t, path


def _sigterm(lab):
    assert lab.stop_agent() == 0, "the agent did not exit 0 after draining on SIGTERM"


def test_agent_sigterm_ends_streams_cleanly(ws, lab, build_dir):
    t, path = _agent_ends_a_capture(lab, build_dir, "sigterm.pcapng", _sigterm)
    lines = extcap_lines(t.stderr)
    assert len(lines) == 1 and "the agent is shutting down" in lines[0], t.describe()
    assert "the agent is shutting down" in " ".join(_isb_comments(path))
    assert len(read_fields(lab, path, ["frame.number"])) > 0


def test_agent_killed_mid_stream(ws, lab, build_dir):
    t, path = _agent_ends_a_capture(
        lab, build_dir, "sigkill.pcapng",
        lambda lab: os.kill(lab.state["agent"]["pid"], signal.SIGKILL))
    lines = extcap_lines(t.stderr)
    assert len(lines) == 1 and "closed the stream early" in lines[0], t.describe()
    assert len(read_fields(lab, path, ["frame.number"])) > 0  # the file so far opens


def _agent_resources(lab):
    pid = lab.state["agent"]["pid"]
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


def _within(now, base):
    return all(n <= b for n, b in zip(now, base))


def _steady_resources(lab, tries=20):
    """Threads and fds once two readings half a second apart agree (or the last reading)."""
    last = _agent_resources(lab)
    for _ in range(tries):
        time.sleep(0.5)
        now = _agent_resources(lab)
        if now == last:
            return now
        last = now
    return last


def _open_stream(lab, token, **options):
    ctx = ssl.create_default_context(cafile=lab.state["files"]["ca"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lab.state["agent"]["port"]), 10),
                        server_hostname="127.0.0.1")
    body = json.dumps({"targets": [{"namespace": "shop", "pod": "frontend"}], **options}).encode()
    s.sendall(b"POST /v1/captures HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer "
              + token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = s.recv(4096)
    return s, head


def test_client_disconnect_gives_everything_back(ws, lab, token):
    # a first capture, so that whatever the agent keeps for good (opened once) is in the baseline
    s, head = _open_stream(lab, token)
    assert head.startswith(b"HTTP/1.1 200"), head
    s.close()
    assert _until(lambda: (lab.metrics() or {}).get("netcap_captures_active") == 0, 10)
    # the first capture's connection may still be being reaped: the baseline is what stays put
    base = _steady_resources(lab)
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
    # (a loaded machine may take a few seconds to reap the last connection's thread and socket;
    # a leak would show as one more per capture, and stay)
    # a leak shows as more than the baseline, and stays; fewer (a thread that was still ending
    # when the baseline was read) is not a leak
    assert _until(lambda: _within(_agent_resources(lab), base), 30), (_agent_resources(lab), base)


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


def test_capture_buffers_have_a_budget(ws, lab, token):
    """The kernel rings of all captures together stay within --capture-buffer-budget (512 MiB by
    default): two captures of 256 MiB fill it, a third capture is refused with 429 and a
    sentence, in Wireshark too, and the budget comes back when they end."""
    socks = []
    try:
        for _ in range(2):
            s, head = _open_stream(lab, token, bufferMiB=256)
            assert head.startswith(b"HTTP/1.1 200"), head
            socks.append(s)
        m = lab.metrics() or {}
        assert m.get("netcap_capture_buffer_bytes") == 512 << 20, m
        assert m.get("netcap_capture_buffer_budget_bytes") == 512 << 20, m
        s, head = _open_stream(lab, token, bufferMiB=2)
        socks.append(s)
        assert head.startswith(b"HTTP/1.1 429"), head
        p = lab.tshark(["-i", "netcap-extcap", "-c", "1"], timeout=60)
        lines = extcap_lines(p.stderr)
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        assert "cannot give this capture 32 MiB of capture buffer: 512 of its 512 MiB" in lines[0], \
            lines
    finally:
        for s in socks:
            s.close()
    assert _until(lambda: (lab.metrics() or {}).get("netcap_capture_buffer_bytes") == 0, 10), \
        lab.metrics()


def _ended(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except FileNotFoundError:
        return True
    return st[st.rindex(")") + 2] in "ZX"


def test_agent_without_its_broker_ends_for_a_restart(ws, lab, build_dir):
    """The capture broker is killed: the agent, which has no privileges left to start another,
    says why and exits non-zero (so that systemd or the kubelet starts it again)."""
    pid = lab.state["agent"]["pid"]
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = f.read().split()
    assert len(children) == 1, children
    try:
        os.kill(int(children[0]), signal.SIGKILL)
        assert _until(lambda: _ended(pid), 15), "the agent kept running without its broker"
        assert "the capture broker (pid %s) was killed by signal 9" % children[0] in lab.agent_log(20)
        assert lab.stop_agent() == 1
    finally:
        lab.stop_agent()
        lab.start_agent(build_dir)
