"""HTTP through the pod capture, counted against tcpdump on the same interface at the same time."""

import os
import random
import time

from e2e_util import Proc, count, extcap_lines, read_fields, start_capture

PREF = "extcap.netcap_extcap"


def test_http_same_packets_as_tcpdump(ws, lab):
    out = lab.state["ws"]["out"]
    path = os.path.join(out, "http.pcapng")
    ref = os.path.join(lab.dir, "ref-http.pcap")
    # The connection under test gets a fixed source port below the ephemeral range, so the warm-up
    # requests (which only show that the capture is armed) are told apart.
    port = random.randint(20000, 29999)

    tcpdump = Proc(lab.exec_argv("frontend", "tcpdump", "-i", "eth0", "-n", "-U", "-Z", "root",
                                 "-w", ref, "tcp port 8080"), "tcpdump")
    t = None
    try:
        assert tcpdump.wait_line("listening on eth0", 20), tcpdump.describe()
        t = start_capture(lab, ["-i", "netcap-extcap", "-f", "tcp port 8080",
                                "-o", f"{PREF}.maxseconds:8", "-w", path, "-P", "-l"])
        deadline = time.monotonic() + 20
        while not t.out and t.running() and time.monotonic() < deadline:
            r = lab.curl()
            assert r.stdout == "200", f"warm-up curl failed: {r.stdout} {r.stderr}"
            t.wait_line("", 0.5, stream="out")
        assert t.out, f"no packet reached tshark within 20 s of warm-up requests.\n{t.describe()}"
        r = lab.curl(local_port=port)
        assert r.stdout == "200", f"curl failed: {r.stdout} {r.stderr}"
        assert t.running(), ("the capture (max-seconds 8) ended before the request was done; "
                             f"it did not last 8 s?\n{t.describe()}")
        rc = t.wait(60)  # max-seconds ends it
        assert rc == 0, t.describe()
        assert not extcap_lines(t.stderr), t.stderr
    finally:
        if t:
            t.kill()
        tcpdump.interrupt()

    p = lab.pod_run("frontend", "tcpdump", "-r", ref, "-n", f"tcp port {port}")
    assert p.returncode == 0, p.stderr
    n_ref = len([line for line in p.stdout.splitlines() if line.strip()])
    n_cap = count(lab, path, f"tcp.port == {port}")
    assert n_ref >= 6, f"tcpdump saw only {n_ref} packets of the HTTP exchange:\n{p.stdout}"
    assert n_cap == n_ref, f"netcap captured {n_cap} packets, tcpdump {n_ref}"

    req = read_fields(lab, path, ["k8s.pod", "k8s.namespace", "http.request.method",
                                  "http.request.uri", "k8s.peer.pod"],
                      dfilter=f"http.request && tcp.port == {port}")
    assert len(req) == 1, req
    assert req[0]["k8s.pod"] == "frontend" and req[0]["k8s.namespace"] == "shop", req
    assert req[0]["http.request.method"] == "GET", req
    assert req[0]["k8s.peer.pod"] == "backend", req
    resp = read_fields(lab, path, ["http.response.code"],
                       dfilter=f"http.response && tcp.port == {port}")
    assert [r["http.response.code"] for r in resp] == ["200"], resp
