#!/usr/bin/env python3
"""lab.py - a Kubernetes node without Kubernetes, for netcap's end-to-end tests and demo.

What it builds (DESIGN.md §7): pods and the node are network namespaces with real traffic.

    root netns:  ip route unreachable 10.231.0.0/16   (installed FIRST: nothing of ours can leak)
    nc-<tag>-node1      bridge br0 10.231.0.1/24, one veth per pod (v<pod>), IPv6 off
    nc-<tag>-frontend   eth0 10.231.0.10/24, lo, default via 10.231.0.1, IPv6 off   (shop/frontend)
    nc-<tag>-backend    eth0 10.231.0.11/24, ...; `python3 -m http.server` on 10.231.0.11:8080
                        (shop/backend)

Every pod netns holds a "pause" process (`sleep infinity`), as a real pod does, so an agent that
looks for network namespaces through /proc finds them as well as one that looks in /run/netns.
Neighbour entries between the pods (and the gateway) are static, IPv6 is off and IGMP stays quiet,
so an idle pod's eth0 carries nothing at all and captures hold only the traffic a test makes.

<tag> is the pid of the lab's owner (the pytest process, the demo's shell), optionally followed by
"x<n>". A lab whose owner is gone is debris from a crashed run: `up` removes such labs first.

Files in DIR (the lab's state is DIR/lab.json):
    ca.crt ca.key server.crt server.key   EC P-256 CA and a server cert for 127.0.0.1/localhost
    tokens.csv                            kube-apiserver static token file (alice)
    token                                 alice's bearer token alone
    pods.json                             `kubectl get pods -o json` of the two pods (node1)
    www/                                  what backend's HTTP server serves
    agent.log                             netcap-agent's stdout and stderr
    ws/                                   an unprivileged (uid 65534) Wireshark environment

Command line (as root):
    lab.py up --dir DIR [--agent] [--ws] [--build-dir B] [--owner-pid PID] [--temporary]
    lab.py down --dir DIR                       idempotent; kills what the lab started
    lab.py agent-start|agent-stop --dir DIR
    lab.py exec --dir DIR POD -- CMD...         run CMD inside a pod's netns
    lab.py tshark --dir DIR [--no-plugin] [--env K=V]... -- ARGS...
                                                tshark as uid 65534 with the extcap and plugin
    lab.py status --dir DIR | cleanup-stale

Python 3 standard library only.
"""

import argparse
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid

LAB_NET = "10.231.0.0/16"  # the whole test range; unreachable in the root netns
NS_PREFIX = "nc-"
NODE = "node1"
NAMESPACE = "shop"
BRIDGE = "br0"
NOBODY = 65534
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HTTP_PORT = 8080
USER = "alice"

# The pods of the lab. metadata.name is exactly the pod name; the workload is a Deployment
# reached through its ReplicaSet (name = deployment-<pod-template-hash>).
PODS = [
    {"name": "frontend", "host": 10, "hash": "7d9f5b8c4", "image": "nginx:1.25"},
    {"name": "backend", "host": 11, "hash": "5c6b8d9f7", "image": "python:3.11-slim"},
]

# `python3 -m http.server`, minus its reverse DNS lookup of the bind address at start-up (a
# resolver timeout inside a netns without DNS). HTTP/1.0: one request per connection.
HTTP_SERVER = """
import functools, http.server, socketserver, sys
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()
"""

# Which directory holds which lab's state, so a later run can take a crashed run's lab down
# (its agent included). One file per tag, holding the lab's directory.
REGISTRY = "/run/netcap-lab"

_NS_RE = re.compile(r"^nc-(\d+)(?:x\d+)?-")


class LabError(Exception):
    """A set-up step failed; the message says which and why."""


def log(msg):
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, capture=True, timeout=60, **kw):
    """Run a command; on failure raise LabError naming the command and its stderr."""
    try:
        p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        raise LabError(f"command not found: {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"command timed out after {timeout}s: {' '.join(cmd)}") from None
    if check and p.returncode != 0:
        err = (p.stderr or "").strip()
        raise LabError(f"`{' '.join(cmd)}` failed (exit {p.returncode}): {err}")
    return p


def netns_list():
    p = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def netns_pids(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def pid_alive(pid):
    """True while pid runs (a zombie waiting for a slow reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_pid(pid, expect=None, grace=5.0):
    """SIGTERM then SIGKILL one process we started. `expect`: a string its cmdline must contain
    (guards against a recycled pid)."""
    if not pid or not pid_alive(pid):
        return
    if expect and expect not in pid_cmdline(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            # Reap it if it is our child; otherwise just watch it go.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def delete_netns(ns):
    """Kill every process inside ns, then delete it. Quiet when ns does not exist."""
    for pid in netns_pids(ns):
        kill_pid(pid, grace=2.0)
    if ns in netns_list():
        run(["ip", "netns", "del", ns], check=False)


def _owner_alive(tag):
    m = re.match(r"^(\d+)(?:x\d+)?$", tag)
    return bool(m) and pid_alive(int(m.group(1)))


def cleanup_stale(keep_tags=()):
    """Remove labs left behind by runs whose owner process is gone: first through their state
    (registered in REGISTRY: stops their agents too), then any namespace or cgroup by name."""
    removed = []
    if os.path.isdir(REGISTRY):
        for tag in os.listdir(REGISTRY):
            if tag in keep_tags or _owner_alive(tag):
                continue
            entry = os.path.join(REGISTRY, tag)
            try:
                with open(entry) as f:
                    d = f.read().strip()
                if os.path.exists(os.path.join(d, "lab.json")):
                    stale = Lab(d)
                    stale.down()
                    removed.append(f"lab {d}")
                    if stale.state.get("temporary"):
                        shutil.rmtree(d, ignore_errors=True)
            except (OSError, ValueError, LabError) as e:
                log(f"cannot take down the stale lab {tag}: {e}")
            try:
                os.unlink(entry)
            except OSError:
                pass
    for ns in netns_list():
        m = _NS_RE.match(ns)
        if not m:
            continue
        tag = ns[len(NS_PREFIX):].split("-", 1)[0]
        if tag in keep_tags or pid_alive(int(m.group(1))):
            continue
        delete_netns(ns)
        removed.append(ns)
    root = cgroup2_root()
    if root:
        for name in os.listdir(root):
            m = re.match(r"^netcap-lab-(\d+)(?:x\d+)?$", name)
            if m and not pid_alive(int(m.group(1))) and name[len("netcap-lab-"):] not in keep_tags:
                remove_cgroup_tree(os.path.join(root, name))
                removed.append(name)
    if removed:
        log("removed leftovers of a crashed run: " + " ".join(removed))
    return removed


def cgroup2_root():
    """A mounted cgroup2 hierarchy (pure v2, or the "unified" one of a hybrid set-up), or None."""
    try:
        with open("/proc/self/mounts") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    for m in mounts:
        if len(m) > 2 and m[2] == "cgroup2" and os.access(os.path.join(m[1], "cgroup.procs"), os.W_OK):
            return m[1]
    return None


def remove_cgroup_tree(path):
    """Kill what is left in a lab's cgroup tree and remove it (deepest first)."""
    if not os.path.isdir(path):
        return
    for root, dirs, _ in os.walk(path, topdown=False):
        try:
            with open(os.path.join(root, "cgroup.procs")) as f:
                for pid in f.read().split():
                    kill_pid(int(pid), grace=2.0)
        except OSError:
            pass
        try:
            os.rmdir(root)
        except OSError:
            pass


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_build_dir():
    env = os.environ.get("NETCAP_BUILD_DIR")
    if env:
        return os.path.abspath(env)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(repo, "build")


def build_artifacts(build_dir):
    """Paths of the three binaries under a CMake build dir (they may not exist)."""
    return {
        "agent": os.path.join(build_dir, "agent", "netcap-agent"),
        "extcap": os.path.join(build_dir, "extcap", "netcap-extcap"),
        "plugin": os.path.join(build_dir, "dissector", "netcap.so"),
    }


def require_file(path, what):
    if not os.path.isfile(path):
        raise LabError(f"{what} not found at {path} (build first: make build, or set NETCAP_BUILD_DIR)")
    return path


class Lab:
    """One lab. All state lives in DIR/lab.json so a different process can take it down."""

    def __init__(self, dir, tag=None, subnet_index=0, temporary=False):
        """temporary: DIR belongs to the lab; removing a crashed run's lab removes DIR too."""
        self.dir = os.path.abspath(dir)
        self.state_file = os.path.join(self.dir, "lab.json")
        self.state = {}
        if os.path.exists(self.state_file):
            with open(self.state_file) as f:
                self.state = json.load(f)
        if not self.state:
            tag = tag or str(os.getpid())
            net = ipaddress.ip_network(f"10.231.{subnet_index}.0/24")
            self.state = {
                "tag": tag,
                "subnet": str(net),
                "gateway": str(net.network_address + 1),
                "node": NODE,
                "namespace": NAMESPACE,
                "status": "new",
                "temporary": temporary,
                "pids": {},
            }

    # ---- names and paths -------------------------------------------------------------
    @property
    def tag(self):
        return self.state["tag"]

    @property
    def node_ns(self):
        return f"{NS_PREFIX}{self.tag}-{NODE}"

    def pod_ns(self, pod):
        return f"{NS_PREFIX}{self.tag}-{pod}"

    def pod_ip(self, pod):
        net = ipaddress.ip_network(self.state["subnet"])
        return str(net.network_address + self._pod(pod)["host"])

    def pod_mac(self, pod):
        return "02:00:0a:e7:%02x:%02x" % (ipaddress.ip_network(self.state["subnet"]).network_address.packed[2],
                                          self._pod(pod)["host"])

    @staticmethod
    def _pod(pod):
        for p in PODS:
            if p["name"] == pod:
                return p
        raise LabError(f"the lab has no pod {pod!r} (pods: {', '.join(p['name'] for p in PODS)})")

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def namespaces(self):
        return [self.node_ns] + [self.pod_ns(p["name"]) for p in PODS]

    def save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=2)
        os.chmod(tmp, 0o600)  # holds the token
        os.replace(tmp, self.state_file)
        entry = os.path.join(REGISTRY, self.tag)
        try:
            if self.state.get("status") == "down":
                if os.path.exists(entry):
                    os.unlink(entry)
            else:
                os.makedirs(REGISTRY, exist_ok=True)
                with open(entry, "w") as f:
                    f.write(self.dir + "\n")
        except OSError:
            pass

    # ---- up / down --------------------------------------------------------------------
    def up(self):
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces)")
        for tool in ("ip", "openssl", "sysctl", "setpriv"):
            if not shutil.which(tool, path=TOOL_PATH):
                raise LabError(f"{tool} is not installed")
        os.makedirs(self.dir, exist_ok=True)
        # uid 65534 must reach the CA, the ws/ dir and capture files below DIR.
        os.chmod(self.dir, 0o755)
        cleanup_stale(keep_tags=(self.tag,))
        # Safety first: anything for the test range that escapes a netns dies in the root netns.
        run(["ip", "route", "replace", "unreachable", LAB_NET])
        self.state["status"] = "creating"
        self.save()  # a half-built lab can be taken down from here on
        try:
            self._build_network()
            self._write_files()
            self._start_pod_processes()
        except BaseException:
            self.down()
            raise
        self.state["status"] = "up"
        self.save()
        return self

    def _ns(self, ns, *cmd, **kw):
        return run(["ip", "netns", "exec", ns, *cmd], **kw)

    def _ip(self, ns, *args):
        return run(["ip", "-n", ns, *args])

    def _new_netns(self, ns):
        if ns in netns_list():
            delete_netns(ns)
        run(["ip", "netns", "add", ns])
        # Before any interface exists, so no link-local address, RS, MLD or DAD ever appears.
        # No IGMP reports for link-local groups either (a bridge joins 224.0.0.106).
        self._ns(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.igmp_link_local_mcast_reports=0")
        self._ip(ns, "link", "set", "lo", "up")

    def _build_network(self):
        node = self.node_ns
        gw = self.state["gateway"]
        prefix = ipaddress.ip_network(self.state["subnet"]).prefixlen
        self._new_netns(node)
        self._ip(node, "link", "add", BRIDGE, "address", "02:00:0a:e7:ff:01", "type", "bridge",
                 "forward_delay", "0", "stp_state", "0", "mcast_snooping", "0")
        self._ip(node, "addr", "add", f"{gw}/{prefix}", "dev", BRIDGE)
        self._ip(node, "link", "set", BRIDGE, "up")
        for p in PODS:
            name = p["name"]
            ns = self.pod_ns(name)
            host_if, peer_if = f"v{name}"[:15], f"p{name}"[:15]
            self._new_netns(ns)
            # veth made in the node netns; its peer moves into the pod and becomes eth0.
            self._ip(node, "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
            self._ip(node, "link", "set", peer_if, "netns", ns)
            self._ip(ns, "link", "set", peer_if, "name", "eth0")
            self._ip(ns, "link", "set", "eth0", "address", self.pod_mac(name))
            self._ip(ns, "addr", "add", f"{self.pod_ip(name)}/{prefix}", "dev", "eth0")
            self._ip(ns, "link", "set", "eth0", "up")
            self._ip(ns, "route", "add", "default", "via", gw)
            self._ip(node, "link", "set", host_if, "master", BRIDGE)
            self._ip(node, "link", "set", host_if, "up")
        # Static neighbours: pods <-> pods, pods -> gateway, gateway -> pods.
        for p in PODS:
            ns = self.pod_ns(p["name"])
            for q in PODS:
                if q is not p:
                    self._ip(ns, "neigh", "replace", self.pod_ip(q["name"]), "lladdr",
                             self.pod_mac(q["name"]), "dev", "eth0", "nud", "permanent")
            self._ip(ns, "neigh", "replace", gw, "lladdr", "02:00:0a:e7:ff:01", "dev", "eth0",
                     "nud", "permanent")
            self._ip(node, "neigh", "replace", self.pod_ip(p["name"]), "lladdr",
                     self.pod_mac(p["name"]), "dev", BRIDGE, "nud", "permanent")

    def _write_files(self):
        d = self.dir
        self._make_certs()
        token = secrets.token_hex(24)
        with open(self.path("tokens.csv"), "w") as f:
            f.write(f'{token},{USER},{uuid.uuid4()},"netcap-users,system:authenticated"\n')
        os.chmod(self.path("tokens.csv"), 0o600)
        with open(self.path("token"), "w") as f:
            f.write(token + "\n")
        os.chmod(self.path("token"), 0o600)
        self.state["token"] = token
        with open(self.path("pods.json"), "w") as f:
            json.dump(self.podlist(), f, indent=2)
        os.makedirs(os.path.join(d, "www"), exist_ok=True)
        with open(os.path.join(d, "www", "index.html"), "w") as f:
            f.write("<html><body><h1>backend</h1>" + "hello from shop/backend " * 40 + "</body></html>\n")
        self.state["files"] = {k: self.path(v) for k, v in {
            "ca": "ca.crt", "ca_key": "ca.key", "cert": "server.crt", "key": "server.key",
            "tokens": "tokens.csv", "token": "token", "pods": "pods.json"}.items()}
        self.save()

    def _make_certs(self):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        p = self.path
        run(["openssl", "req", "-x509", "-new", *ec, "-keyout", p("ca.key"), "-out", p("ca.crt"),
             "-days", "7", "-subj", "/CN=netcap lab CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["openssl", "req", "-new", *ec, "-keyout", p("server.key"), "-out", p("server.csr"),
             "-subj", "/CN=127.0.0.1"])
        with open(p("server.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run(["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey",
             p("ca.key"), "-CAcreateserial", "-out", p("server.crt"), "-days", "7",
             "-extfile", p("server.ext")])
        for name in ("ca.key", "server.key"):
            os.chmod(p(name), 0o600)
        os.chmod(p("ca.crt"), 0o644)
        os.chmod(p("server.crt"), 0o644)
        run(["openssl", "verify", "-CAfile", p("ca.crt"), p("server.crt")])

    def podlist(self):
        items = []
        for p in PODS:
            name = p["name"]
            ip = self.pod_ip(name)
            items.append({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "uid": self.pod_uid(name),
                    "labels": {"app": name, "pod-template-hash": p["hash"]},
                    "ownerReferences": [{
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": f"{name}-{p['hash']}",
                        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"netcap-lab/rs/{name}")),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }],
                    "creationTimestamp": "2024-01-01T00:00:00Z",
                },
                "spec": {
                    "nodeName": NODE,
                    "containers": [{"name": "app", "image": p["image"],
                                    "ports": [{"containerPort": HTTP_PORT, "protocol": "TCP"}]}],
                },
                "status": {
                    "phase": "Running",
                    "hostIP": self.state["gateway"],
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                },
            })
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                "items": items}

    def _spawn(self, argv, logname, new_session=True, pdeathsig=False):
        logf = open(self.path(logname), "ab")
        if pdeathsig:
            argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=new_session, close_fds=True)
        logf.close()
        return proc

    def pod_uid(self, pod):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"netcap-lab/{self.tag}/{pod}"))

    def _place_in_pod_cgroup(self, pod, pid):
        """Put the pod's pause process in a cgroup named pod<uid>, as kubelet does, so an agent
        finds the netns by UID first (and two labs with the same pod IPs stay apart).
        Best effort: without a writable cgroup2 hierarchy the agent falls back to the IP scan."""
        root = cgroup2_root()
        if not root:
            return None
        path = os.path.join(root, f"netcap-lab-{self.tag}", f"pod{self.pod_uid(pod)}")
        try:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError as e:
            log(f"cannot place {pod}'s pause process in a pod cgroup ({e}); the agent will find "
                "the pod by its IP address")
            return None
        self.state["cgroup"] = os.path.dirname(path)
        return path

    def _start_pod_processes(self):
        pids = self.state["pids"]
        for p in PODS:
            proc = self._spawn(["ip", "netns", "exec", self.pod_ns(p["name"]), "sleep", "infinity"],
                               "pause.log")
            pids[f"pause-{p['name']}"] = proc.pid
            self.state.setdefault("pod_cgroups", {})[p["name"]] = \
                self._place_in_pod_cgroup(p["name"], proc.pid)
        be = self.pod_ns("backend")
        proc = self._spawn(["ip", "netns", "exec", be, sys.executable, "-c", HTTP_SERVER,
                            self.pod_ip("backend"), str(HTTP_PORT), self.path("www")],
                           "http-server.log")
        pids["http-server"] = proc.pid
        self.save()
        # Ready when the socket listens (checked from inside the pod's netns).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"backend HTTP server exited: {self._tail('http-server.log')}")
            out = self._ns(be, "ss", "-Htln", f"sport = :{HTTP_PORT}", check=False).stdout
            if str(HTTP_PORT) in out:
                return
            time.sleep(0.1)
        raise LabError("backend HTTP server did not start listening within 15 s")

    def _tail(self, logname, n=20):
        try:
            with open(self.path(logname), errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def down(self):
        """Stop what the lab started and delete its namespaces. Safe to call any number of times."""
        if not self.state.get("tag"):
            return
        self.stop_agent()
        for key, pid in list(self.state.get("pids", {}).items()):
            kill_pid(pid, expect="sleep" if key.startswith("pause") else "serve_forever", grace=3.0)
        self.state["pids"] = {}
        mine = f"{NS_PREFIX}{self.tag}-"
        for ns in self.namespaces + [n for n in netns_list() if n.startswith(mine)]:
            delete_netns(ns)
        root = cgroup2_root()
        for cg in {self.state.pop("cgroup", None),
                   os.path.join(root, f"netcap-lab-{self.tag}") if root else None} - {None}:
            remove_cgroup_tree(cg)
        self.state.pop("pod_cgroups", None)
        if not any(_NS_RE.match(n) for n in netns_list()):
            run(["ip", "route", "del", "unreachable", LAB_NET], check=False)
        self.state["status"] = "down"
        if os.path.isdir(self.dir):
            self.save()
        try:
            os.unlink(os.path.join(REGISTRY, self.tag))
        except OSError:
            pass

    def leftovers(self):
        """Namespaces of this lab that still exist (empty after down)."""
        mine = f"{NS_PREFIX}{self.tag}-"
        return [n for n in netns_list() if n.startswith(mine)]

    # ---- the agent --------------------------------------------------------------------
    @property
    def agent_url(self):
        return f"https://127.0.0.1:{self.state['agent']['port']}"

    def start_agent(self, build_dir=None, attached=True, extra_args=(), timeout=20):
        """Start netcap-agent on a free loopback port and wait until /healthz answers over TLS.
        attached=True ties its life to this process (parent-death signal)."""
        build_dir = build_dir or default_build_dir()
        binary = require_file(build_artifacts(build_dir)["agent"], "netcap-agent")
        if self.state.get("agent") and pid_alive(self.state["agent"].get("pid", 0)):
            self.stop_agent()
        port = free_port()
        f = self.state["files"]
        argv = [binary, "--listen", f"127.0.0.1:{port}", "--tls-cert", f["cert"], "--tls-key",
                f["key"], "--token-auth-file", f["tokens"], "--pods-file", f["pods"],
                "--node-name", NODE, *extra_args]
        with open(self.path("agent.log"), "ab") as lf:
            lf.write(("\n=== " + " ".join(argv) + "\n").encode())
        proc = self._spawn(argv, "agent.log", new_session=not attached, pdeathsig=attached)
        self.state["agent"] = {"pid": proc.pid, "port": port, "argv": argv}
        self.save()
        self._agent_proc = proc
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"netcap-agent exited with status {proc.returncode} during start-up; "
                               f"agent.log:\n{self._tail('agent.log')}")
            try:
                status, _, body = self.request("GET", "/healthz", timeout=2)
                if status == 200:
                    return self.agent_url
                last = f"HTTP {status}: {body[:200]!r}"
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.2)
        self.stop_agent()
        raise LabError(f"netcap-agent did not answer GET /healthz over TLS within {timeout} s "
                       f"(last: {last}); agent.log:\n{self._tail('agent.log')}")

    def stop_agent(self):
        a = self.state.get("agent")
        if not a:
            return None
        proc = getattr(self, "_agent_proc", None)
        rc = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
        elif proc is not None:
            rc = proc.returncode
        else:
            kill_pid(a.get("pid"), expect="netcap-agent", grace=10.0)
        self._agent_proc = None
        self.state.pop("agent", None)
        if os.path.isdir(self.dir):
            self.save()
        return rc

    def agent_alive(self):
        a = self.state.get("agent")
        return bool(a) and pid_alive(a["pid"])

    def agent_log(self, n=60):
        return self._tail("agent.log", n)

    def tls_context(self):
        return ssl.create_default_context(cafile=self.state["files"]["ca"])

    def request(self, method, path, body=None, token=None, headers=None, timeout=10):
        """One HTTPS request to the agent; returns (status, headers dict, body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.state["agent"]["port"],
                                           context=self.tls_context(), timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read(1 << 20) if r.getheader("Content-Type", "").startswith("application/json") \
                or method == "GET" else r.read(4096)
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def metrics(self, token=None):
        """The agent's /metrics as {name: value} (samples without labels), or None."""
        try:
            status, _, body = self.request("GET", "/metrics", token=token or self.state.get("token"),
                                           timeout=5)
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return None
        if status != 200:
            return None
        out = {}
        for line in body.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
        return out

    def wait_captures_active(self, at_least, timeout=15):
        """Wait until the agent reports at least this many armed captures
        (netcap_captures_active). True when seen, False on timeout or without the metric."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.metrics()
            if m is None or "netcap_captures_active" not in m:
                return False
            if m["netcap_captures_active"] >= at_least:
                return True
            time.sleep(0.1)
        return False

    # ---- inside the pods --------------------------------------------------------------
    def exec_argv(self, pod, *cmd):
        return ["ip", "netns", "exec", self.pod_ns(pod), *cmd]

    def pod_run(self, pod, *cmd, timeout=60, check=False):
        return run(self.exec_argv(pod, *cmd), timeout=timeout, check=check)

    def ping(self, src="frontend", dst="backend", count=5, interval=0.2, timeout=30):
        return self.pod_run(src, "ping", "-n", "-q", "-c", str(count), "-i", str(interval),
                            "-W", "2", self.pod_ip(dst), timeout=timeout)

    def curl(self, src="frontend", dst="backend", path="/", local_port=None, timeout=30):
        """One HTTP GET; returns the CompletedProcess (stdout = HTTP status code)."""
        cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null",
               "-w", "%{http_code}"]
        if local_port:
            cmd += ["--local-port", str(local_port)]
        cmd.append(f"http://{self.pod_ip(dst)}:{HTTP_PORT}{path}")
        return self.pod_run(src, *cmd, timeout=timeout)

    # ---- the Wireshark side (uid 65534) -----------------------------------------------
    def ws_setup(self, build_dir=None):
        """Two HOMEs for uid 65534: ws/home (extcap + plugin) and ws/home-noplugin (extcap only),
        the CA and alice's token readable by 65534, and ws/out for capture files."""
        build_dir = build_dir or default_build_dir()
        art = build_artifacts(build_dir)
        require_file(art["extcap"], "netcap-extcap")
        require_file(art["plugin"], "the dissector plugin netcap.so")
        ws = self.path("ws")
        if os.path.isdir(ws):
            shutil.rmtree(ws)
        os.makedirs(ws)
        homes = {}
        for name, plugin in (("home", True), ("home-noplugin", False)):
            home = os.path.join(ws, name)
            ext = os.path.join(home, ".config", "wireshark", "extcap")
            os.makedirs(ext)
            shutil.copy2(art["extcap"], os.path.join(ext, "netcap-extcap"))
            os.chmod(os.path.join(ext, "netcap-extcap"), 0o755)
            if plugin:
                pdir = os.path.join(home, ".local", "lib", "wireshark", "plugins", "4.0", "epan")
                os.makedirs(pdir)
                shutil.copy2(art["plugin"], os.path.join(pdir, "netcap.so"))
                os.chmod(os.path.join(pdir, "netcap.so"), 0o644)
            homes[name] = home
        out = os.path.join(ws, "out")
        os.makedirs(out)
        shutil.copy2(self.state["files"]["ca"], os.path.join(ws, "ca.crt"))
        shutil.copy2(self.state["files"]["token"], os.path.join(ws, "token"))
        with open(os.path.join(ws, "bad-token"), "w") as f:
            f.write(secrets.token_hex(24) + "\n")
        for root, dirs, files in os.walk(ws):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY, NOBODY)
            os.chmod(root, 0o755)
            os.chown(root, NOBODY, NOBODY)
        os.chmod(os.path.join(ws, "token"), 0o600)
        os.chmod(os.path.join(ws, "bad-token"), 0o600)
        os.chmod(os.path.join(ws, "ca.crt"), 0o644)
        self.state["ws"] = {"dir": ws, "out": out, "ca": os.path.join(ws, "ca.crt"),
                            "token": os.path.join(ws, "token"),
                            "bad_token": os.path.join(ws, "bad-token"), **homes}
        self.save()
        # uid 65534 must be able to reach what it needs (DIR's parents must be traversable).
        p = run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "test", "-r",
                 self.state["ws"]["token"]], check=False)
        if p.returncode != 0:
            raise LabError(f"uid {NOBODY} cannot read {self.state['ws']['token']}: "
                           f"make every parent of {self.dir} traversable (chmod o+x)")
        return self.state["ws"]

    def ws_env(self, plugin=True, **overrides):
        """Environment for tshark as 65534 (netcap's extcap reads NETCAP_* from it).
        An override of None removes the variable."""
        ws = self.state["ws"]
        env = {
            "HOME": ws["home"] if plugin else ws["home-noplugin"],
            "PATH": TOOL_PATH,
            "LANG": "C.UTF-8",
            "NETCAP_AGENT_URL": self.agent_url if self.state.get("agent") else "",
            "NETCAP_CA_FILE": ws["ca"],
            "NETCAP_TOKEN_FILE": ws["token"],
            "NETCAP_NAMESPACE": NAMESPACE,
            "NETCAP_POD": "frontend",
        }
        # A sanitizer build's extcap reports where the test run asked (make asan).
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if os.environ.get(k):
                env[k] = os.environ[k]
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def tshark_argv(self, args, plugin=True, env=None):
        e = self.ws_env(plugin=plugin, **(env or {}))
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                "env", "-i", *[f"{k}={v}" for k, v in e.items()], "tshark", *args]

    def tshark(self, args, plugin=True, env=None, timeout=60):
        """Run tshark as 65534; raises LabError on timeout (after killing it), else returns the
        CompletedProcess."""
        return run(self.tshark_argv(args, plugin, env), check=False, timeout=timeout,
                   cwd=self.state["ws"]["out"])


def _cmd_up(a):
    lab = Lab(a.dir, tag=str(a.owner_pid or os.getppid()), subnet_index=a.subnet_index,
              temporary=a.temporary)
    lab.up()
    print(f"lab up in {lab.dir}: netns {' '.join(lab.namespaces)}")
    if a.agent:
        url = lab.start_agent(a.build_dir, attached=False)
        print(f"netcap-agent listening on {url} (log: {lab.path('agent.log')})")
    if a.ws:
        lab.ws_setup(a.build_dir)
        print(f"Wireshark environment for uid {NOBODY}: {lab.state['ws']['dir']}")


def _load(a):
    if not os.path.exists(os.path.join(a.dir, "lab.json")):
        raise LabError(f"no lab in {a.dir} (lab.json missing)")
    return Lab(a.dir)


def main(argv=None):
    ap = argparse.ArgumentParser(description="netcap test lab (network namespaces as pods)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("--dir", required=True)
    p.add_argument("--agent", action="store_true", help="also start netcap-agent")
    p.add_argument("--ws", action="store_true", help="also prepare the uid 65534 Wireshark HOME")
    p.add_argument("--build-dir", default=None)
    p.add_argument("--owner-pid", type=int, default=None,
                   help="the lab is debris once this process is gone (default: the parent)")
    p.add_argument("--subnet-index", type=int, default=0, help="use 10.231.N.0/24")
    p.add_argument("--temporary", action="store_true",
                   help="DIR is the lab's own: delete it when a later run removes this lab as debris")
    for name in ("down", "status", "agent-stop"):
        sub.add_parser(name).add_argument("--dir", required=True)
    p = sub.add_parser("agent-start")
    p.add_argument("--dir", required=True)
    p.add_argument("--build-dir", default=None)
    p = sub.add_parser("exec")
    p.add_argument("--dir", required=True)
    p.add_argument("pod")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = sub.add_parser("tshark")
    p.add_argument("--dir", required=True)
    p.add_argument("--no-plugin", action="store_true")
    p.add_argument("--env", action="append", default=[], metavar="K=V")
    p.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("cleanup-stale")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            _cmd_up(a)
        elif a.cmd == "down":
            if os.path.exists(os.path.join(a.dir, "lab.json")):
                Lab(a.dir).down()
        elif a.cmd == "status":
            lab = _load(a)
            print(json.dumps({**lab.state, "netns_present": lab.leftovers(),
                              "agent_alive": lab.agent_alive()}, indent=2))
        elif a.cmd == "agent-start":
            lab = _load(a)
            print(lab.start_agent(a.build_dir, attached=False))
        elif a.cmd == "agent-stop":
            _load(a).stop_agent()
        elif a.cmd == "exec":
            cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
            if not cmd:
                raise LabError("exec: no command given")
            lab = _load(a)
            os.execvp("ip", lab.exec_argv(a.pod, *cmd))
        elif a.cmd == "tshark":
            args = a.args[1:] if a.args[:1] == ["--"] else a.args
            lab = _load(a)
            env = dict(kv.split("=", 1) for kv in a.env)
            argv = lab.tshark_argv(args, plugin=not a.no_plugin, env=env)
            os.chdir(lab.state["ws"]["out"])
            os.execvp(argv[0], argv)
        elif a.cmd == "cleanup-stale":
            cleanup_stale()
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
