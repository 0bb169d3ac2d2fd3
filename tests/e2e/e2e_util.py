"""Helpers shared by the end-to-end tests: live tshark runs, reading fields back, tcpdump.

Every external command runs with a timeout; a run that times out is killed and the test fails
with what the command printed, never hangs.
"""

import os
import signal
import struct
import subprocess
import threading
import time


class Proc:
    """A background command whose stdout/stderr are collected line by line in threads."""

    def __init__(self, argv, name, cwd=None):
        self.name = name
        self.argv = argv
        self.out, self.err = [], []
        self.started = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  errors="replace", cwd=cwd, start_new_session=True)
        self._threads = [threading.Thread(target=self._pump, args=(s, buf), daemon=True)
                         for s, buf in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, buf):
        for line in stream:
            buf.append(line.rstrip("\n"))

    @property
    def stdout(self):
        return "\n".join(self.out)

    @property
    def stderr(self):
        return "\n".join(self.err)

    def running(self):
        return self.p.poll() is None

    def wait_line(self, text, timeout, stream="err"):
        """Wait until a line containing text appears; False if the process ends or time runs out."""
        buf = self.err if stream == "err" else self.out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(buf)):
                return True
            if not self.running():
                time.sleep(0.1)  # let the reader threads drain
                return any(text in line for line in list(buf))
            time.sleep(0.05)
        return False

    def wait(self, timeout):
        """The exit status; on timeout kill the whole process group and raise AssertionError."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not end by itself within {timeout} s (killed).\n"
                f"command: {' '.join(self.argv)}\nstdout:\n{self.stdout[-3000:]}\n"
                f"stderr:\n{self.stderr[-3000:]}") from None
        for t in self._threads:
            t.join(5)
        return rc

    def interrupt(self, timeout=15):
        """SIGINT (what ^C does), then wait."""
        if self.running():
            try:
                os.killpg(self.p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        return self.wait(timeout)

    def kill(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.running():
                break
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for t in self._threads:
            t.join(2)

    def describe(self):
        return (f"{self.name}: exit {self.p.returncode}\ncommand: {' '.join(self.argv)}\n"
                f"stdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}")


def live_tshark(lab, args, plugin=True, env=None):
    """tshark as uid 65534 in the background (see Lab.tshark_argv)."""
    return Proc(lab.tshark_argv(args, plugin=plugin, env=env), "tshark", cwd=lab.state["ws"]["out"])


def start_capture(lab, args, plugin=True, env=None):
    """Start a live tshark capture and wait until it has started and, as far as the agent's
    /metrics tell, the agent has armed it. Callers must not depend on the second wait for
    correctness (it gives up quietly after 15 s); it only makes the common case tidy."""
    before = (lab.metrics() or {}).get("netcap_captures_active", 0)
    t = live_tshark(lab, args, plugin=plugin, env=env)
    if not t.wait_line("Capturing on", 30):
        t.kill()
        raise AssertionError(f"tshark did not start capturing.\n{t.describe()}")
    lab.wait_captures_active(before + 1, timeout=15)
    return t


def extcap_lines(stderr):
    """The extcap's own error lines as tshark relays them ("... netcap-extcap: <sentence>")."""
    return [line for line in stderr.splitlines() if "netcap-extcap:" in line]


def read_fields(lab, path, fields, dfilter=None, plugin=True, timeout=60):
    """One dict per packet of `path` (as uid 65534, with or without the plugin). Repeated fields
    are joined with '|'."""
    args = ["-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=|", "-E", "quote=n"]
    for f in fields:
        args += ["-e", f]
    if dfilter:
        args += ["-Y", dfilter]
    p = lab.tshark(args, plugin=plugin, timeout=timeout)
    assert p.returncode == 0, (f"tshark -r {path} failed (exit {p.returncode}):\n{p.stderr}\n"
                               f"args: {args}")
    rows = []
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        rows.append(dict(zip(fields, cols)))
    return rows


def count(lab, path, dfilter=None, plugin=True):
    return len(read_fields(lab, path, ["frame.number"], dfilter=dfilter, plugin=plugin))


def direction(value):
    """Normalise netcap.direction as -T fields prints it (a name or the epb_flags number)."""
    v = value.strip().lower()
    if v in ("2", "out", "outbound", "egress", "sent") or v.startswith("out"):
        return "out"
    if v in ("1", "in", "inbound", "ingress", "received") or v.startswith("in"):
        return "in"
    return f"?{value}"


def expected_pod(podlist, name):
    """What the k8s.* fields must say for a pod, computed from the PodList the lab wrote."""
    for item in podlist["items"]:
        if item["metadata"]["name"] == name:
            md = item["metadata"]
            owner = next(o for o in md["ownerReferences"] if o.get("controller"))
            workload, kind = owner["name"], owner["kind"]
            pth = md["labels"].get("pod-template-hash")
            if kind == "ReplicaSet" and pth and workload.endswith("-" + pth):
                workload, kind = workload[: -len(pth) - 1], "Deployment"
            return {
                "namespace": md["namespace"],
                "pod": md["name"],
                "uid": md["uid"],
                "node": item["spec"]["nodeName"],
                "container": item["spec"]["containers"][0]["name"],
                "workload": workload,
                "workload_kind": kind,
                "labels": {f"{k}={v}" for k, v in md["labels"].items()},
                "ip": item["status"]["podIP"],
            }
    raise KeyError(name)


def pcapng_blocks(data):
    """[type, body] of every block of little-endian pcapng bytes (as the agent and dumpcap write
    here); body is what lies between the length fields."""
    blocks, off = [], 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        blocks.append([btype, data[off + 8:off + blen - 4]])
        off += blen
    return blocks


def pcapng_options(body, fixed):
    """The fixed part of a block body and its options as [code, value] pairs."""
    opts, off = [], fixed
    while off + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, off)
        if code == 0:
            break
        opts.append([code, body[off + 4:off + 4 + length]])
        off += 4 + length + (-length % 4)
    return body[:fixed], opts


def file_blocks(path):
    with open(path, "rb") as f:
        return pcapng_blocks(f.read())


def issue_cert(cn, issuer=None, org=None, usage=None, days=(-1, 7), ca=False):
    """A certificate for CN=cn (and O=org) with a fresh P-256 key, valid from days[0] to days[1]
    days from now: self-signed when issuer is None, else signed by issuer = (cert, key). usage
    "server" adds serverAuth and the names 127.0.0.1 and localhost, "client" clientAuth.
    Returns (cert, key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    subject = x509.Name(attrs)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer_cert.subject if issuer_cert else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(days=days[0]))
         .not_valid_after(now + datetime.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage == "server":
        b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
             .add_extension(x509.SubjectAlternativeName([
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                 critical=False))
    elif usage == "client":
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key
