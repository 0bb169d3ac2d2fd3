"""What a hostile or careless client can do to the agent in direct mode: all refused with a
sentence, the agent stays up, and no capture starts.

The session's agent is restarted for this module with a client CA (mTLS) and a policy file:
alice (client certificate CN=alice, O=web) may capture in shop; the token user may capture
nowhere (not in the policy). Certificates come from python3-cryptography, so one can be expired.
"""

import http.client
import json
import os
import socket
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

from e2e_util import issue_cert

SPEC = {"targets": [{"namespace": "shop", "pod": "frontend"}], "limits": {"packets": 1}}


def _write(d, name, cert, key=None):
    with open(os.path.join(d, name + ".crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key:
        with open(os.path.join(d, name + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return os.path.join(d, name)


@pytest.fixture(scope="module")
def mtls(lab, build_dir, ws):
    d = os.path.join(lab.dir, "mtls")
    os.makedirs(d, exist_ok=True)
    ca, ca_key = issue_cert("netcap client CA", ca=True)
    other, other_key = issue_cert("someone else's CA", ca=True)
    _write(d, "client-ca", ca)
    certs = {}
    for name, issuer, start, end in (("alice", (ca, ca_key), -1, 7),
                                     ("bob", (ca, ca_key), -1, 7),
                                     ("expired", (ca, ca_key), -30, -1),
                                     ("stranger", (other, other_key), -1, 7)):
        cn = {"stranger": "mallory", "bob": "bob"}.get(name, "alice")
        cert, key = issue_cert(cn, issuer, org="web", usage="client", days=(start, end))
        certs[name] = _write(d, name, cert, key)
    with open(os.path.join(d, "policy.json"), "w") as f:
        json.dump({"users": {"alice": ["shop"]}, "groups": {"ops": ["*"]}}, f)
    lab.start_agent(build_dir, extra_args=["--client-ca", os.path.join(d, "client-ca.crt"),
                                           "--policy-file", os.path.join(d, "policy.json")])
    yield certs
    assert lab.agent_alive(), "the agent died during the attack tests"
    lab.start_agent(build_dir)


def request(lab, method, path, body=None, cert=None, token=None, headers=None, timeout=10):
    ctx = lab.tls_context()
    if cert:
        ctx.load_cert_chain(cert + ".crt", cert + ".key")
    conn = http.client.HTTPSConnection("127.0.0.1", lab.state["agent"]["port"], context=ctx,
                                       timeout=timeout)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read(4096) if r.status == 200 and path == "/v1/captures" else r.read()
        return r.status, data
    finally:
        conn.close()


def refused(status, data, want_status, want_reason):
    assert status == want_status, (status, data)
    err = json.loads(data)
    assert err["reason"] == want_reason and err["error"] and "\n" not in err["error"], err
    return err["error"]


def captures_started(lab):
    return sum(1 for line in lab.agent_log(2000).splitlines()
               if "netcap-agent: capture " in line)


def test_client_certificates(mtls, lab):
    st, data = request(lab, "GET", "/v1/pods", cert=mtls["alice"])
    assert st == 200 and {p["metadata"]["name"] for p in json.loads(data)["items"]} == {
        "frontend", "backend"}
    msg = refused(*request(lab, "GET", "/v1/pods", cert=mtls["expired"]), 401, "Unauthorized")
    assert "expired" in msg, msg
    msg = refused(*request(lab, "GET", "/v1/pods", cert=mtls["stranger"]), 401, "Unauthorized")
    assert "not accepted" in msg and "issuer is unknown" in msg, msg
    msg = refused(*request(lab, "GET", "/v1/pods"), 401, "Unauthorized")
    assert "client certificate" in msg


def test_policy_decides_namespaces(mtls, lab, token):
    before = captures_started(lab)
    spec = dict(SPEC, targets=[{"namespace": "kube-system", "pod": "coredns"}])
    msg = refused(*request(lab, "POST", "/v1/captures", spec, cert=mtls["alice"]), 403,
                  "Forbidden")
    assert "alice" in msg and "kube-system" in msg, msg
    # the token's user (alice in the lab's token file) has the same rule as the certificate's
    msg = refused(*request(lab, "POST", "/v1/captures", spec, token=token), 403, "Forbidden")
    assert "kube-system" in msg, msg
    # bob (O=web) is in no rule of the policy file, by user or by group
    msg = refused(*request(lab, "POST", "/v1/captures", SPEC, cert=mtls["bob"]), 403,
                  "Forbidden")
    assert "bob" in msg and "shop" in msg, msg
    assert captures_started(lab) == before
    # alice in shop is allowed: the capture starts (and ends at its 1-packet limit)
    pinger = subprocess.Popen(lab.exec_argv("frontend", "ping", "-c", "20", "-i", "0.2", "-q",
                                            lab.pod_ip("backend")), stdout=subprocess.DEVNULL)
    try:
        st, data = request(lab, "POST", "/v1/captures", SPEC, cert=mtls["alice"], timeout=30)
    finally:
        pinger.kill()
        pinger.wait()
    assert st == 200 and data[:4] == b"\x0a\x0d\x0d\x0a", (st, data[:64])


def test_tls_versions_and_ciphers(mtls, lab):
    def handshake(*args):
        p = subprocess.run(["openssl", "s_client", "-connect",
                            f"127.0.0.1:{lab.state['agent']['port']}", "-CAfile",
                            lab.state["files"]["ca"], *args], input="", capture_output=True,
                           text=True, timeout=20)
        return p.returncode == 0 and "Verify return code: 0 (ok)" in p.stdout
    assert handshake("-tls1_3")
    assert handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert not handshake("-tls1_1")
    assert not handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")  # CBC, SHA-1 MAC
    assert not handshake("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384")  # CBC


def test_oversized_and_malformed_bodies(mtls, lab):
    before = captures_started(lab)
    big = os.path.join(lab.dir, "big.json")
    with open(big, "w") as f:
        json.dump(dict(SPEC, filter="x" * (70 * 1024)), f)
    # curl, which reads the early 413 while it still sends (Expect: 100-continue)
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "--cacert", lab.state["files"]["ca"],
                        "--cert", mtls["alice"] + ".crt", "--key", mtls["alice"] + ".key",
                        "-H", "Content-Type: application/json", "--data-binary", "@" + big,
                        "-w", "\n%{http_code}", f"{lab.agent_url}/v1/captures"],
                       capture_output=True, text=True, timeout=30)
    body, _, code = p.stdout.rpartition("\n")
    refused(int(code), body, 413, "RequestTooLarge")
    bodies = [b"", b"null", b"[]", b"{", b"[" * 20000 + b"]" * 20000, b"\x00\xff\xfe",
              b'{"targets":[{"namespace":"shop","pod":"frontend"}]} trailing',
              json.dumps(dict(SPEC, limits={"packets": -1})).encode(),
              json.dumps(dict(SPEC, limits={"packets": 1e300})).encode(),
              json.dumps(dict(SPEC, snaplen=0)).encode(),
              json.dumps(dict(SPEC, sample=0)).encode(),
              json.dumps(dict(SPEC, direction="sideways")).encode(),
              json.dumps(dict(SPEC, extra=1)).encode(),
              json.dumps(dict(SPEC, targets=[])).encode(),
              json.dumps(dict(SPEC, targets=[{"namespace": "shop/../x", "pod": "frontend"}])
                         ).encode(),
              json.dumps(dict(SPEC, targets=[{"namespace": "shop", "pod": "frontend"}] * 17)
                         ).encode(),
              json.dumps(dict(SPEC, match={"ports": ["80 or host 1.2.3.4"]})).encode(),
              json.dumps(dict(SPEC, match={"hosts": ["10.0.0.1) or (tcp"]})).encode()]
    for b in bodies:
        st, data = request(lab, "POST", "/v1/captures", b, cert=mtls["alice"],
                           headers={"Content-Type": "application/json"})
        refused(st, data, 400, "BadRequest")
    assert captures_started(lab) == before
    assert lab.agent_alive()


def test_slow_clients_do_not_take_the_agent(mtls, lab, token):
    """Slowloris: 40 TLS connections that trickle a request header; meanwhile the agent still
    answers, and authenticated requests still work. Bounded: 40 sockets, about 5 s."""
    socks = []
    ctx = lab.tls_context()
    try:
        for _ in range(40):
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1",
                                                          lab.state["agent"]["port"]), 5),
                                server_hostname="127.0.0.1")
            s.sendall(b"POST /v1/captures HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        for i in range(5):
            for s in socks:
                s.sendall(b"X-Slow-%d: a\r\n" % i)
            st, data = request(lab, "GET", "/healthz")
            assert st == 200 and data == b"ok\n"
            time.sleep(1)
        st, _ = request(lab, "GET", "/v1/pods", cert=mtls["alice"])
        assert st == 200
    finally:
        for s in socks:
            s.close()
    assert lab.agent_alive()


def _status(path):
    with open(path) as f:
        return dict(line.split(":", 1) for line in f if ":" in line)


def test_privileges_live_only_in_the_capture_broker(mtls, lab):
    """Every thread of the agent process (listener, TLS, parsing, captures) has no capability at
    all, in any set, and no_new_privs; its one child, the capture broker, is a single thread
    with CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_NET_RAW only (and no_new_privs)."""
    pid = lab.state["agent"]["pid"]
    tasks = os.listdir(f"/proc/{pid}/task")
    assert len(tasks) > 1
    seen = 0
    for t in tasks:
        try:
            st = _status(f"/proc/{pid}/task/{t}/status")
        except (FileNotFoundError, ProcessLookupError):
            continue  # a connection's thread that just ended
        seen += 1
        for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
            assert int(st[key], 16) == 0, (t, key, st[key])
        assert st["NoNewPrivs"].strip() == "1", st
    assert seen > 1
    children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    assert len(children) == 1, children
    st = _status(f"/proc/{children[0]}/status")
    assert st["Name"].strip() == "netcap-broker" and st["Threads"].strip() == "1", st
    want = (1 << 13) | (1 << 19) | (1 << 21)  # NET_RAW, SYS_PTRACE, SYS_ADMIN
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[key], 16) == want, (key, st[key])
    assert int(st["CapInh"], 16) == 0 and st["NoNewPrivs"].strip() == "1", st
