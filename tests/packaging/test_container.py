"""The netcap-agent container image (packaging/container), built with podman and run the way the
DaemonSet runs it.

Builds the image with packaging/container/build.sh (which installs podman and debootstrap when
missing, makes the local Debian 12 slim base once, and reuses podman's layer cache, so an image
that is up to date costs seconds), then checks, with no registry involved:
  - the image exists, is smaller than 150 MB, and has the Entrypoint, User, labels and port that
    packaging/kubernetes/daemonset.yaml relies on (and the DaemonSet names this image);
  - `--help` in a container without network prints the version and exits 0;
  - the runtime filesystem has no compiler, no apt lists, no setuid/setgid files;
  - every shared library of the agent resolves inside the image (ldd);
  - the agent in a container with the DaemonSet's securityContext (all capabilities dropped but
    the DaemonSet's, no_new_privs, read-only root) on the host network, listening on 127.0.0.1
    only, with a certificate, token file and pods file mounted read-only: /healthz answers 200
    over TLS, a request without a token or with a wrong one 401, with the token 200; no process
    of the container has a capability beyond the DaemonSet's or runs without no_new_privs; it
    stops with status 0 on SIGTERM;
  - the same container with the host's PID namespace (hostPID) captures a stand-in pod's pings
    (scripts/lab.py: network namespaces of the test's own, as the e2e suite uses) as pcapng.
Every container started here is removed at the end, pass or fail (and leftovers of a killed run at
the start). Run by ctest as `container_image`; needs root. NETCAP_CONTAINER_IMAGE=name tests that
image instead of building one.
"""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SH = os.path.join(REPO, "packaging", "container", "build.sh")
DAEMONSET = os.path.join(REPO, "packaging", "kubernetes", "daemonset.yaml")
MAX_BYTES = 150 * 1000 * 1000
# Capability numbers (linux/capability.h) of the ones the agent may be given.
CAP_BITS = {"NET_ADMIN": 12, "NET_RAW": 13, "SYS_PTRACE": 19, "SYS_ADMIN": 21}
TOKEN = "container-test-token-0123456789"
LABEL = "io.netcap.test=container_image"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="podman's root storage needs root")


def run(cmd, timeout=120, check=False, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"^project\(netcap VERSION ([0-9.]+)", f.read(), re.M).group(1)


def daemonset_container():
    import yaml
    with open(DAEMONSET) as f:
        ds = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "DaemonSet")
    return ds["spec"]["template"]["spec"]["containers"][0]


class Podman:
    """podman with the flags this machine needs (build.sh --podman-flags finds them)."""

    def __init__(self, global_flags, run_flags):
        self.g = global_flags
        self.r = run_flags

    def __call__(self, *args, **kw):
        return run(["podman", *self.g, *args], **kw)

    def run(self, *args, **kw):
        return self("run", *self.r, "--label", LABEL, *args, **kw)

    def remove_ours(self):
        names = self("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout.split()
        for n in names:
            self("rm", "-f", "-t", "0", n)


@pytest.fixture(scope="module")
def image():
    name = os.environ.get("NETCAP_CONTAINER_IMAGE")
    if name:
        return name
    t0 = time.monotonic()
    p = run(["bash", BUILD_SH], timeout=1500)
    assert p.returncode == 0, f"build.sh failed:\n{p.stdout[-4000:]}\n{p.stderr[-6000:]}"
    m = re.search(r"^image (\S+): (\d+) bytes.*", p.stdout, re.M)
    assert m, p.stdout
    print(f"build.sh took {time.monotonic() - t0:.0f} s: {m.group(0)}")
    return m.group(1)


@pytest.fixture(scope="module")
def podman(image):
    p = run(["bash", BUILD_SH, "--podman-flags"], timeout=300, check=True)
    lines = (p.stdout.splitlines() + ["", ""])[:2]
    pm = Podman(lines[0].split(), lines[1].split())
    pm.remove_ours()  # a run killed before its clean-up
    yield pm
    pm.remove_ours()


@pytest.fixture(scope="module")
def inspect(image, podman):
    return json.loads(podman("image", "inspect", image, check=True).stdout)[0]


@pytest.fixture(scope="module")
def rootfs(image, podman):
    """The image's filesystem, mounted on the host (no shell needed in the image)."""
    yield podman("image", "mount", image, check=True).stdout.strip()
    podman("image", "unmount", image)


@pytest.fixture(scope="module")
def caps():
    """The capabilities the DaemonSet gives the agent, as podman flags."""
    sc = daemonset_container()["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    add = sc["capabilities"]["add"]
    assert add and set(add) <= set(CAP_BITS), add
    return add


def test_image_exists_and_is_small(image, podman, inspect):
    assert podman("image", "exists", image).returncode == 0
    size = inspect["Size"]
    print(f"image {image}: {size} bytes ({size / 1e6:.1f} MB)")
    assert size < MAX_BYTES, f"{size} bytes"


def test_image_config(image, inspect):
    cfg = inspect["Config"]
    assert cfg["Entrypoint"] == ["/usr/sbin/netcap-agent"]
    assert cfg["User"] in ("0", "0:0")
    assert "9443/tcp" in cfg.get("ExposedPorts", {})
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.title"] == "netcap-agent"
    assert labels["org.opencontainers.image.version"] == project_version()
    assert labels["org.opencontainers.image.licenses"] == "GPL-2.0-or-later"
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_daemonset_matches_the_image(inspect):
    c = daemonset_container()
    assert c["image"].rsplit("/", 1)[-1] == f"netcap-agent:{project_version()}"
    assert "command" not in c  # the image's Entrypoint
    sc = c["securityContext"]
    uid = int(inspect["Config"]["User"].split(":")[0])
    assert sc.get("runAsUser", uid) == uid == 0
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert 9443 in [p["containerPort"] for p in c["ports"]]


def test_help_prints_the_version(image, podman):
    for extra in ([], ["--help"]):  # no arguments: CMD is --help
        p = podman.run("--rm", "--network", "none", image, *extra)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"(netcap {project_version()})" in p.stdout, p.stdout
        assert "--listen ADDR:PORT" in p.stdout


def test_runtime_filesystem_is_minimal(rootfs):
    for tool in ("usr/bin/gcc", "usr/bin/cc", "usr/bin/cmake", "usr/bin/make", "usr/bin/ld",
                 "usr/include/pcap.h"):
        assert not os.path.lexists(os.path.join(rootfs, tool)), tool
    lists = os.path.join(rootfs, "var/lib/apt/lists")
    left = [n for n in os.listdir(lists) if n not in ("partial", "lock")] if os.path.isdir(lists) else []
    assert left == [], left
    assert not [n for n in os.listdir(os.path.join(rootfs, "var/cache/apt")) if n.endswith(".deb")]
    suid = []
    for d, _, files in os.walk(rootfs):
        for n in files:
            path = os.path.join(d, n)
            if not os.path.islink(path) and os.lstat(path).st_mode & 0o6000:
                suid.append(path[len(rootfs):])
    assert suid == []
    st = os.stat(os.path.join(rootfs, "usr/sbin/netcap-agent"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o755)


def test_shared_libraries_resolve(image, podman):
    p = podman.run("--rm", "--network", "none", "--entrypoint", "/usr/bin/ldd", image,
                   "/usr/sbin/netcap-agent")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not found" not in p.stdout, p.stdout
    for lib in ("libpcap.so.0.8", "libmicrohttpd.so.12", "libgnutls.so.30", "libcurl.so.4",
                "libcjson.so.1", "libyaml-0.so.2"):
        assert lib in p.stdout, p.stdout


# ---- the agent running in a container ----------------------------------------------------------

def make_credentials(d):
    """CA, server certificate for 127.0.0.1 (key 0600), token file, and an empty PodList."""
    p = lambda n: os.path.join(d, n)  # noqa: E731
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run(["openssl", "req", "-x509", "-new", *ec, "-keyout", p("ca.key"), "-out", p("ca.crt"),
         "-days", "2", "-subj", "/CN=netcap container test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"], check=True)
    run(["openssl", "req", "-new", *ec, "-keyout", p("tls.key"), "-out", p("tls.csr"),
         "-subj", "/CN=127.0.0.1"], check=True)
    with open(p("ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(["openssl", "x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-out", p("tls.crt"), "-days", "2", "-extfile", p("ext")], check=True)
    for n in ("ca.key", "tls.csr", "ext", "ca.srl"):
        if os.path.exists(p(n)):
            os.remove(p(n))
    with open(p("tokens.csv"), "w") as f:
        f.write(f"{TOKEN},alice,1000\n")
    with open(p("pods.json"), "w") as f:
        json.dump({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}, f)
    os.chmod(p("tls.key"), 0o600)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl(port, path, ca, token=None):
    cmd = ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
           "--cacert", ca, f"https://127.0.0.1:{port}{path}"]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    return run(cmd, timeout=15).stdout.strip()


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)


def container_processes(main_pid):
    """The container's main process and all its descendants (host pids)."""
    children = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                children.setdefault(int(proc_status(e)["PPid"]), []).append(int(e))
            except (OSError, KeyError, ValueError):
                pass
    out, todo = [], [int(main_pid)]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def start_agent(podman, image, name, port, ca, extra, args):
    p = podman.run("-d", "--name", name, "--network", "host", "--read-only", *extra, image,
                   f"--listen=127.0.0.1:{port}", *args)
    assert p.returncode == 0, p.stdout + p.stderr
    deadline = time.monotonic() + 20
    code = None
    while time.monotonic() < deadline:
        if podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip() != "true":
            break
        code = curl(port, "/healthz", ca)
        if code == "200":
            break
        time.sleep(0.2)
    logs = podman("logs", name)
    assert code == "200", f"/healthz: {code}\n{logs.stdout}{logs.stderr}"


def check_privileges(podman, name, caps):
    """Every process of the container: uid 0, no_new_privs, nothing beyond the DaemonSet's."""
    allowed = sum(1 << CAP_BITS[c] for c in caps)
    main = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    for pid in container_processes(main):
        st = proc_status(pid)
        assert st["Uid"].split() == ["0"] * 4, (pid, st["Uid"])
        assert st["NoNewPrivs"].strip() == "1", pid
        for s in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"):
            assert int(st[s], 16) & ~allowed == 0, (pid, s, st[s])


def stop_agent(podman, name):
    """SIGTERM (as the kubelet stops it); returns (exit status, logs)."""
    p = podman("stop", "-t", "15", name, timeout=60)
    assert p.returncode == 0, p.stderr
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    logs = podman("logs", name)
    return code, logs.stdout + logs.stderr


def daemonset_flags(caps):
    """The DaemonSet's securityContext as podman flags (allowPrivilegeEscalation: false is
    no_new_privs; readOnlyRootFilesystem is --read-only, given by start_agent)."""
    return ["--cap-drop=all", *(f"--cap-add={c}" for c in caps), "--security-opt=no-new-privileges"]


def test_agent_serves_https_as_the_daemonset_runs_it(image, podman, caps):
    name = f"netcap-container-test-{os.getpid()}-https"
    d = tempfile.mkdtemp(prefix="netcap-container-")
    try:
        make_credentials(d)
        ca, port = os.path.join(d, "ca.crt"), free_port()
        start_agent(podman, image, name, port, ca,
                    [*daemonset_flags(caps), "-v", f"{d}:/etc/netcap/tls:ro"],
                    ["--tls-cert=/etc/netcap/tls/tls.crt", "--tls-key=/etc/netcap/tls/tls.key",
                     "--token-auth-file=/etc/netcap/tls/tokens.csv",
                     "--pods-file=/etc/netcap/tls/pods.json", "--node-name=node1"])
        assert curl(port, "/v1/pods", ca) == "401"
        assert curl(port, "/v1/pods", ca, token="wrong-token") == "401"
        assert curl(port, "/v1/pods", ca, token=TOKEN) == "200"
        check_privileges(podman, name, caps)
        code, logs = stop_agent(podman, name)
        assert code == "0", logs
    finally:
        podman("rm", "-f", "-t", "0", name)
        shutil.rmtree(d, ignore_errors=True)


# ---- a real capture from a stand-in pod, by the agent in a container -------------------------

@pytest.fixture(scope="module")
def lab():
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import lab as labmod
    d = tempfile.mkdtemp(prefix="netcap-container-lab-")
    lb = labmod.Lab(d, tag=f"{os.getpid()}x7", subnet_index=7, temporary=True)
    try:
        lb.up()
    except labmod.LabError as e:
        lb.down()
        shutil.rmtree(d, ignore_errors=True)
        pytest.fail(f"lab set-up failed: {e}", pytrace=False)
    yield lb
    lb.down()
    left = lb.leftovers()
    shutil.rmtree(d, ignore_errors=True)
    assert not left, f"network namespaces left after lab down: {left}"


def pcapng_block_types(data):
    types, off = [], 0
    while off + 12 <= len(data):
        btype = int.from_bytes(data[off:off + 4], "little")
        blen = int.from_bytes(data[off + 4:off + 8], "little")
        if blen < 12 or off + blen > len(data):
            break
        types.append(btype)
        off += blen
    return types


def test_capture_from_a_pod(image, podman, caps, lab):
    """hostPID + hostNetwork + the DaemonSet's securityContext, the lab's files mounted read-only:
    the agent finds the pod's network namespace through the host's /proc, enters it and streams
    the pod's pings as pcapng."""
    name = f"netcap-container-test-{os.getpid()}-capture"
    f = lab.state["files"]
    d = os.path.dirname(f["cert"])
    port = free_port()
    try:
        start_agent(podman, image, name, port, f["ca"],
                    [*daemonset_flags(caps), "--pid", "host", "-v", f"{d}:{d}:ro",
                     "-v", "/run/netns:/var/run/netns:ro,rslave"],
                    [f"--tls-cert={f['cert']}", f"--tls-key={f['key']}",
                     f"--token-auth-file={f['tokens']}", f"--pods-file={f['pods']}",
                     "--node-name=node1"])
        body = json.dumps({"targets": [{"namespace": "shop", "pod": "frontend"}],
                           "filter": "icmp", "limits": {"packets": 6, "seconds": 30}})
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=40,
                                           context=ssl.create_default_context(cafile=f["ca"]))
        stop = threading.Event()

        def traffic():
            while not stop.is_set():
                lab.ping(count=2, interval=0.2)

        t = threading.Thread(target=traffic, daemon=True)
        try:
            conn.request("POST", "/v1/captures", body=body,
                         headers={"Authorization": f"Bearer {lab.state['token']}",
                                  "Content-Type": "application/json"})
            r = conn.getresponse()  # sent once the capture is armed inside the pod's netns
            t.start()
            assert r.status == 200, r.read(4096)
            assert r.getheader("Content-Type", "").startswith("application/x-pcapng")
            data = r.read()  # the stream ends after 6 packets
        finally:
            stop.set()
            if t.is_alive():
                t.join(30)
            conn.close()
        types = pcapng_block_types(data)
        assert types[:2] == [0x0A0D0D0A, 1], types[:5]  # SHB, IDB
        assert types.count(6) == 6, types  # six EPBs: the pod's ICMP packets
        assert b"k8s/shop/frontend/eth0" in data
        check_privileges(podman, name, caps)
        code, logs = stop_agent(podman, name)
        assert code == "0", logs
    finally:
        podman("rm", "-f", "-t", "0", name)
