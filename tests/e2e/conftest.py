"""Session fixtures for netcap's end-to-end tests.

How to run (as root, on Debian 12, after `make deps build`):

    make test                                   # ctest: unit tests + this suite
    NETCAP_BUILD_DIR=$PWD/build /usr/bin/python3 -m pytest -v tests/e2e

NETCAP_BUILD_DIR is the CMake build dir holding agent/netcap-agent, extcap/netcap-extcap and
dissector/netcap.so (default: <repo>/build). NETCAP_E2E_KEEP=1 keeps the lab's directory (certs,
agent.log, capture files) after the run; the namespaces are always removed.

What the session sets up (scripts/lab.py): a node netns with a bridge, pods shop/frontend and
shop/backend as netns with real traffic, a CA + server cert, a static token file, a PodList, one
netcap-agent on a loopback port, and a HOME for uid 65534 with the extcap and the plugin in
Wireshark's personal dirs (as root Wireshark ignores personal plugins, so tshark runs as 65534).
Nothing is skipped: a missing binary or tool fails the tests that need it, with its path.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import lab as labmod  # noqa: E402

TOOLS = ["ip", "tshark", "dumpcap", "tcpdump", "curl", "openssl", "setpriv", "ping", "ss"]


def _fail_missing_tools():
    missing = [t for t in TOOLS if not shutil.which(t, path=labmod.TOOL_PATH)]
    if missing:
        pytest.fail(f"tools missing: {', '.join(missing)} (make deps installs them)", pytrace=False)


@pytest.fixture(scope="session")
def build_dir():
    return labmod.default_build_dir()


@pytest.fixture(scope="session")
def artifacts(build_dir):
    art = labmod.build_artifacts(build_dir)
    missing = [f"{k}: {v}" for k, v in art.items() if not os.path.isfile(v)]
    if missing:
        pytest.fail("netcap binaries missing (run `make build` or set NETCAP_BUILD_DIR): "
                    + "; ".join(missing), pytrace=False)
    return art


@pytest.fixture(scope="session")
def lab():
    """The lab, up for the whole session; taken down (and checked gone) at the end."""
    if os.geteuid() != 0:
        pytest.fail("the end-to-end tests need root (network namespaces)", pytrace=False)
    _fail_missing_tools()
    d = tempfile.mkdtemp(prefix="netcap-e2e-")
    lb = labmod.Lab(d, tag=str(os.getpid()), temporary=True)
    try:
        lb.up()
    except labmod.LabError as e:
        pytest.fail(f"lab set-up failed: {e}", pytrace=False)
    yield lb
    lb.down()
    left = lb.leftovers()
    if os.environ.get("NETCAP_E2E_KEEP"):
        print(f"\nlab directory kept: {d}", file=sys.stderr)
    else:
        shutil.rmtree(d, ignore_errors=True)
    assert not left, f"network namespaces left after lab down: {left}"


@pytest.fixture(scope="session")
def podlist(lab):
    with open(lab.state["files"]["pods"]) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def agent(lab, artifacts, build_dir):
    """netcap-agent serving the lab's node; its death during a test fails that test."""
    try:
        lab.start_agent(build_dir)
    except labmod.LabError as e:
        pytest.fail(str(e), pytrace=False)
    yield lab
    lab.stop_agent()


@pytest.fixture(scope="session")
def ws(agent, artifacts, build_dir):
    """The uid 65534 Wireshark environment (HOME with extcap + plugin, and one without plugin)."""
    try:
        return agent.ws_setup(build_dir)
    except labmod.LabError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def token(lab):
    with open(lab.state["files"]["token"]) as f:
        return f.read().strip()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _agent_watch(request):
    """After each test: the agent must still be running; on failure attach agent.log."""
    yield
    if "agent" not in request.fixturenames:
        return
    lab = request.getfixturevalue("lab")
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        request.node.add_report_section("call", "agent.log (tail)", lab.agent_log(80))
    if lab.state.get("agent") and not lab.agent_alive():
        msg = f"netcap-agent died during this test; agent.log:\n{lab.agent_log(80)}"
        try:  # a fresh agent, so the next tests test something
            lab.start_agent(request.getfixturevalue("build_dir"))
        except labmod.LabError as e:
            msg += f"\n(restarting it failed too: {e})"
        pytest.fail(msg, pytrace=False)


UDP_ECHO = r"""
import select, socket, sys
socks = []
for port in (5001, 5002):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    socks.append(s)
print("ready", flush=True)
while True:
    r, _, _ = select.select(socks, [], [], 120)
    if not r:
        sys.exit(0)
    for s in r:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
"""


@pytest.fixture(scope="session")
def udp_echo(ws, lab):
    """A UDP echo server in backend on ports 5001 and 5002 (answers each datagram once)."""
    p = subprocess.Popen(lab.exec_argv("backend", "python3", "-c", UDP_ECHO),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    yield p
    p.kill()
    p.wait(10)
