"""The lab itself: isolation, quiet pods, and a `down` that leaves nothing behind.

(The session lab is checked too: its fixture fails the run if a namespace survives `down`.)
"""

import os
import shutil
import subprocess
import sys
import tempfile

import lab as labmod
from e2e_util import Proc


def test_unreachable_route_guards_the_test_range(lab):
    p = subprocess.run(["ip", "route", "show", labmod.LAB_NET], capture_output=True, text=True)
    assert p.stdout.startswith("unreachable"), p.stdout
    p = subprocess.run(["ip", "route", "get", "10.231.0.11"], capture_output=True, text=True)
    assert p.returncode != 0, f"10.231.0.11 is routable from the root netns: {p.stdout}"


def test_pods_talk_and_are_quiet(lab):
    """Pings cross the node bridge; an idle pod interface carries nothing (no ARP, no IPv6)."""
    assert lab.ping(count=2).returncode == 0
    assert lab.curl().stdout == "200"
    t = Proc(lab.exec_argv("frontend", "tcpdump", "-i", "eth0", "-n", "-U", "-c", "1"), "tcpdump")
    try:
        assert t.wait_line("listening on eth0", 20), t.describe()
        assert not t.wait_line("", 3, stream="out"), f"idle pod saw traffic:\n{t.stdout}"
    finally:
        t.kill()
    ns = lab.pod_ns("frontend")
    p = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6"],
                       capture_output=True, text=True)
    assert p.stdout.strip() == "1"


def test_certificates_verify(lab):
    f = lab.state["files"]
    p = subprocess.run(["openssl", "verify", "-CAfile", f["ca"], f["cert"]], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(["openssl", "x509", "-in", f["cert"], "-noout", "-ext", "subjectAltName"],
                       capture_output=True, text=True)
    assert "IP Address:127.0.0.1" in p.stdout and "DNS:localhost" in p.stdout, p.stdout


def test_down_removes_everything_and_is_idempotent():
    d = tempfile.mkdtemp(prefix="netcap-e2e-lab-")
    # Another subnet: an agent looking for 10.231.0.x must never find this lab's pods.
    lab = labmod.Lab(d, tag=f"{os.getpid()}x1", subnet_index=1, temporary=True)
    try:
        lab.up()
        # Fresh from `up`, the pods are silent: no IGMP, ARP, IPv6 RS/ND/MLD.
        t = Proc(lab.exec_argv("frontend", "tcpdump", "-i", "eth0", "-n", "-U", "-c", "1"),
                 "tcpdump")
        try:
            assert t.wait_line("listening on eth0", 20), t.describe()
            assert not t.wait_line("", 4, stream="out"), f"fresh pod saw traffic:\n{t.stdout}"
        finally:
            t.kill()
        assert sorted(lab.leftovers()) == sorted(lab.namespaces)
        assert lab.ping(count=1).returncode == 0
        pids = list(lab.state["pids"].values())
        assert pids and all(labmod.pid_alive(p) for p in pids)
        lab.down()
        assert lab.leftovers() == []
        assert not any(labmod.pid_alive(p) for p in pids), "lab processes survived down"
        lab.down()  # again: nothing to do, no error
        cli = subprocess.run([sys.executable, labmod.__file__, "down", "--dir", d],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr  # and from the state file, as the demo does
        assert lab.leftovers() == []
    finally:
        lab.down()
        shutil.rmtree(d, ignore_errors=True)


def test_leftovers_of_a_crashed_run_are_removed(artifacts, build_dir):
    """A lab whose owner died (pytest or the demo killed with -9), and a bare namespace of such a
    run, are removed by the next cleanup: namespaces, processes (the agent too) and its dir."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    d = tempfile.mkdtemp(prefix="netcap-e2e-crashed-")
    crashed = labmod.Lab(d, tag=str(dead.pid), subnet_index=2, temporary=True)
    bare = f"nc-{dead.pid}x9-node1"
    sleeper = None
    try:
        crashed.up()
        crashed.start_agent(build_dir, attached=False)
        agent_pid = crashed.state["agent"]["pid"]
        subprocess.run(["ip", "netns", "add", bare], check=True)
        sleeper = subprocess.Popen(["ip", "netns", "exec", bare, "sleep", "infinity"])
        removed = labmod.cleanup_stale()
        assert bare in removed and f"lab {d}" in removed, removed
        assert not crashed.leftovers() and bare not in labmod.netns_list()
        assert not labmod.pid_alive(agent_pid), "the crashed run's agent is still running"
        assert not os.path.exists(d)
        sleeper.wait(10)
    finally:
        if sleeper and sleeper.poll() is None:
            sleeper.kill()
        if bare in labmod.netns_list():
            subprocess.run(["ip", "netns", "del", bare])
        if os.path.exists(d):
            labmod.Lab(d).down()
            shutil.rmtree(d, ignore_errors=True)
