"""Certificate reload: the agent serves a new certificate, key and client CA without a restart.

These tests start their own netcap-agent on another loopback port, with certificate files in
their own directory (the session's agent and the lab's files are not touched), and use the lab's
pods, token file and CA. New certificates come from python3-cryptography, signed by the lab's CA.
Each step replaces files the way cert-manager/kubelet or an operator would (write aside, rename),
then checks what a new TLS connection is served, /metrics and the agent's log:

- SIGHUP: a new connection gets the new certificate, an open capture stream keeps its connection
  (and its certificate) and keeps delivering packets;
- a key that does not belong to the certificate: refused, the previous certificate stays, the
  error is counted, the agent goes on;
- files changed without a signal: picked up by the agent's periodic look;
- the client CA (mTLS): a reloaded CA decides which client certificates verify;
- the agent still stops cleanly (exit 0: in the sanitizer build, no leak at exit).
"""

import datetime
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from e2e_util import issue_cert

import lab as labmod

EPB = 6
RELOAD_WAIT = 20  # seconds; the agent looks at the files every 2 s and acts after two looks


# ---- certificates -------------------------------------------------------------------------

def _load_lab_ca(lab):
    f = lab.state["files"]
    with open(f["ca"], "rb") as fh:
        ca = x509.load_pem_x509_certificate(fh.read())
    with open(f["ca_key"], "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    return ca, key


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _replace(path, data, mode=0o600):
    """Write data next to path, then rename it over path (what kubelet's and most tools' updates
    amount to: the agent never sees a half-written file)."""
    tmp = f"{path}.new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _serial_in(line, what):
    """The hex serial the agent logged after `what` ("serial" or "still serving serial")."""
    m = re.search(what + r" ([0-9a-f]+)", line)
    return int(m.group(1), 16) if m else None


def _expiry(cert):
    return int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp())


# ---- an agent of our own ------------------------------------------------------------------

class OwnAgent:
    """netcap-agent on its own loopback port with its own certificate files (dir d)."""

    def __init__(self, lab, build_dir, d, cert, key, extra=()):
        self.lab, self.dir = lab, d
        self.cert_path, self.key_path = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        _replace(self.cert_path, _pem(cert), 0o644)
        _replace(self.key_path, _key_pem(key))
        binary = labmod.require_file(labmod.build_artifacts(build_dir)["agent"], "netcap-agent")
        self.port = labmod.free_port()
        f = lab.state["files"]
        argv = [binary, "--listen", f"127.0.0.1:{self.port}", "--tls-cert", self.cert_path,
                "--tls-key", self.key_path, "--token-auth-file", f["tokens"], "--pods-file",
                f["pods"], "--node-name", labmod.NODE, *extra]
        self.log_path = os.path.join(d, "agent.log")
        with open(self.log_path, "ab") as logf:
            logf.write(("\n=== " + " ".join(argv) + "\n").encode())
            logf.flush()
            # setpriv execs the agent: the pid we signal is the agent's.
            self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *argv],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         close_fds=True)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, f"the agent exited at start-up:\n{self.log()}"
            try:
                if self.get("/healthz")[0] == 200:
                    break
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
            assert time.monotonic() < deadline, f"the agent did not answer:\n{self.log()}"
            time.sleep(0.2)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def context(self, client=None):
        ctx = ssl.create_default_context(cafile=self.lab.state["files"]["ca"])
        if client:
            ctx.load_cert_chain(*client)
        return ctx

    def served_cert(self):
        """DER of the certificate a new TLS connection is given (verified against the lab CA)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert(binary_form=True)

    def get(self, path, token=None, client=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(client),
                                           timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token
                         else {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                out[parts[0]] = float(parts[1])
        return out

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def wait_metric(self, name, at_least, timeout=RELOAD_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metrics().get(name, 0) >= at_least:
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        """SIGTERM; the exit status (0 = clean; the sanitizer build exits non-zero on a leak)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed after 30 s"
        return self.proc.returncode


class Stream:
    """A capture stream read in a thread: counts packet blocks as they arrive."""

    def __init__(self, agent, token, pod="frontend"):
        self.conn = http.client.HTTPSConnection("127.0.0.1", agent.port, context=agent.context(),
                                                timeout=30)
        self.conn.connect()
        # The TLS connection this stream runs on, and the certificate it was handshaken with.
        self.sock = self.conn.sock
        self.peer_cert = self.sock.getpeercert(binary_form=True)
        body = json.dumps({"targets": [{"namespace": "shop", "pod": pod}]})
        self.conn.request("POST", "/v1/captures", body=body,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        self.packets, self.ended, self.error = 0, False, None
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        buf = b""
        try:
            while not self._stop:
                data = self.resp.read1(65536)
                if not data:
                    self.ended = True
                    return
                buf += data
                # count only whole blocks; keep the rest for the next read
                off = 0
                while off + 12 <= len(buf):
                    blen = int.from_bytes(buf[off + 4:off + 8], "little")
                    if blen < 12 or off + blen > len(buf):
                        break
                    if int.from_bytes(buf[off:off + 4], "little") == EPB:
                        self.packets += 1
                    off += blen
                buf = buf[off:]
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = repr(e)
            self.ended = True

    def wait_packets(self, at_least, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.ended:
            if self.packets >= at_least:
                return True
            time.sleep(0.1)
        return self.packets >= at_least

    def close(self):
        self._stop = True
        self.conn.close()
        self._thread.join(10)


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certdir(lab):
    d = os.path.join(lab.dir, "certreload")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def own_agent(lab, build_dir, certdir):
    ca, ca_key = _load_lab_ca(lab)
    cert, key = issue_cert("netcap certreload A", (ca, ca_key), usage="server", days=(-1, 2))
    a = OwnAgent(lab, build_dir, certdir, cert, key)
    a.first = (cert, key)
    yield a
    a.stop()


@pytest.fixture()
def pinger(lab):
    """frontend pings backend five times a second, so a stream on frontend keeps getting packets."""
    p = subprocess.Popen(lab.exec_argv("frontend", "ping", "-n", "-q", "-i", "0.2", "-w", "120",
                                       lab.pod_ip("backend")),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield p
    p.kill()
    p.wait(10)


# ---- tests --------------------------------------------------------------------------------

def test_sighup_serves_the_new_certificate_and_streams_go_on(own_agent, lab, token, pinger):
    a = own_agent
    first_cert, _ = a.first
    assert a.served_cert() == _der(first_cert)
    m0 = a.metrics()
    assert m0["netcap_tls_reloads_total"] == 0 and m0["netcap_tls_reload_errors_total"] == 0, m0
    assert m0["netcap_tls_certificate_expiry_timestamp_seconds"] == _expiry(first_cert), m0

    stream = Stream(a, token)
    try:
        assert stream.wait_packets(3), f"no packets before the reload ({stream.error})"
        assert stream.peer_cert == _der(first_cert)

        ca, ca_key = _load_lab_ca(lab)
        cert, key = issue_cert("netcap certreload B", (ca, ca_key), usage="server", days=(-1, 2))
        _replace(a.cert_path, _pem(cert), 0o644)
        _replace(a.key_path, _key_pem(key))
        a.hup()
        assert a.wait_metric("netcap_tls_reloads_total", 1), a.log()
        served = a.served_cert()
        assert served == _der(cert), (
            f"a new connection got serial {x509.load_der_x509_certificate(served).serial_number:x},"
            f" expected {cert.serial_number:x}")
        m1 = a.metrics()
        assert m1["netcap_tls_reload_errors_total"] == 0, m1
        assert m1["netcap_tls_certificate_expiry_timestamp_seconds"] == _expiry(cert), m1
        line = [ln for ln in a.log().splitlines() if "TLS certificate reloaded (SIGHUP)" in ln]
        assert line and _serial_in(line[-1], "serial") == cert.serial_number, a.log()
        assert "certreload B" in line[-1], line[-1]
        assert "PRIVATE" not in a.log()

        # The stream opened before the reload: same connection, same certificate, still flowing.
        after = stream.packets
        assert stream.wait_packets(after + 5), \
            f"the open stream stopped at {stream.packets} packets after the reload ({stream.error})"
        assert not stream.ended, stream.error
        assert stream.sock.getpeercert(binary_form=True) == _der(first_cert)
    finally:
        stream.close()
    a.current = (cert, key)
    assert a.get("/healthz")[0] == 200


def test_a_key_that_does_not_match_keeps_the_previous_certificate(own_agent, lab):
    a = own_agent
    cert, key = a.current
    m0 = a.metrics()
    stranger = ec.generate_private_key(ec.SECP256R1())
    _replace(a.key_path, _key_pem(stranger))
    a.hup()
    assert a.wait_metric("netcap_tls_reload_errors_total", m0["netcap_tls_reload_errors_total"]
                         + 1), a.log()
    assert a.served_cert() == _der(cert), "the agent gave up the certificate that worked"
    assert a.proc.poll() is None and a.get("/healthz")[0] == 200
    m1 = a.metrics()
    assert m1["netcap_tls_reloads_total"] == m0["netcap_tls_reloads_total"], m1
    lines = [ln for ln in a.log().splitlines() if "TLS certificate not reloaded (SIGHUP)" in ln]
    assert lines, a.log()
    assert _serial_in(lines[-1], "still serving serial") == cert.serial_number, lines[-1]
    assert "do not match" in lines[-1], lines[-1]
    assert "PRIVATE" not in a.log()

    # Put the right key back: the pair loads again.
    _replace(a.key_path, _key_pem(key))
    a.hup()
    assert a.wait_metric("netcap_tls_reloads_total", m1["netcap_tls_reloads_total"] + 1), a.log()
    assert a.served_cert() == _der(cert)


def test_changed_files_are_picked_up_without_a_signal(own_agent, lab):
    a = own_agent
    m0 = a.metrics()
    ca, ca_key = _load_lab_ca(lab)
    cert, key = issue_cert("netcap certreload C", (ca, ca_key), usage="server", days=(-1, 2))
    # key first, then the certificate, a moment apart: in between the pair does not match, and
    # the agent must wait for the files to settle rather than count an error
    _replace(a.key_path, _key_pem(key))
    time.sleep(0.3)
    _replace(a.cert_path, _pem(cert), 0o644)
    deadline = time.monotonic() + RELOAD_WAIT
    while a.served_cert() != _der(cert):
        assert time.monotonic() < deadline, f"not picked up within {RELOAD_WAIT} s:\n{a.log()}"
        time.sleep(0.3)
    m1 = a.metrics()
    assert m1["netcap_tls_reloads_total"] >= m0["netcap_tls_reloads_total"] + 1, m1
    lines = [ln for ln in a.log().splitlines()
             if "TLS certificate reloaded (the files changed)" in ln]
    assert lines and _serial_in(lines[-1], "serial") == cert.serial_number, a.log()
    # Nothing more happens while the files stay as they are.
    time.sleep(5)
    m2 = a.metrics()
    assert (m2["netcap_tls_reloads_total"], m2["netcap_tls_reload_errors_total"]) == (
        m1["netcap_tls_reloads_total"], m1["netcap_tls_reload_errors_total"]), (m1, m2)
    a.current = (cert, key)


def test_the_agent_stops_cleanly_after_reloads(own_agent):
    rc = own_agent.stop()
    assert rc == 0, f"exit status {rc}; agent.log:\n{own_agent.log()[-4000:]}"
    log = own_agent.log()
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert bad not in log, log[-4000:]


def test_client_ca_reload(lab, build_dir, certdir, token):
    """mTLS: the client CA is re-read with the certificate; a reloaded CA decides at once."""
    d = os.path.join(certdir, "mtls")
    os.makedirs(d, exist_ok=True)
    old_ca, old_ca_key = issue_cert("netcap certreload client CA 1", ca=True, days=(-1, 2))
    new_ca, new_ca_key = issue_cert("netcap certreload client CA 2", ca=True, days=(-1, 2))
    clients = {}
    for name, ca, ca_key in (("old", old_ca, old_ca_key), ("new", new_ca, new_ca_key)):
        c, k = issue_cert("alice", (ca, ca_key), org="web", usage="client", days=(-1, 2))
        clients[name] = (os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key"))
        _replace(clients[name][0], _pem(c), 0o644)
        _replace(clients[name][1], _key_pem(k))
    ca_path = os.path.join(d, "client-ca.crt")
    _replace(ca_path, _pem(old_ca), 0o644)
    lab_ca, lab_ca_key = _load_lab_ca(lab)
    cert, key = issue_cert("netcap certreload mTLS", (lab_ca, lab_ca_key), usage="server", days=(-1, 2))
    a = OwnAgent(lab, build_dir, d, cert, key, extra=["--client-ca", ca_path])
    try:
        assert a.get("/v1/pods", client=clients["old"])[0] == 200
        st, body = a.get("/v1/pods", client=clients["new"])
        assert st == 401 and b"not accepted" in body, (st, body)

        # A CA that is not a certificate: refused, the old CA still decides.
        _replace(ca_path, b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
                 0o644)
        a.hup()
        assert a.wait_metric("netcap_tls_reload_errors_total", 1), a.log()
        assert "client CA" in [ln for ln in a.log().splitlines() if "not reloaded" in ln][-1]
        assert a.get("/v1/pods", client=clients["old"])[0] == 200

        # The new CA alone: the new client verifies, the old one no longer does.
        _replace(ca_path, _pem(new_ca), 0o644)
        a.hup()
        assert a.wait_metric("netcap_tls_reloads_total", 1), a.log()
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = a.context(clients["new"])
            ctx.minimum_version = ctx.maximum_version = version
            conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=ctx, timeout=10)
            try:
                conn.request("GET", "/v1/pods")
                r = conn.getresponse()
                assert r.status == 200, (version, r.status, r.read())
            finally:
                conn.close()
        st, body = a.get("/v1/pods", client=clients["old"])
        assert st == 401 and b"issuer is unknown" in body, (st, body)
        # bearer tokens are untouched by all this
        assert a.get("/v1/pods", token=token)[0] == 200
    finally:
        rc = a.stop()
    assert rc == 0, f"exit status {rc}; agent.log:\n{a.log()[-4000:]}"
