"""Failures end quickly with one sentence, never a hang; the agent speaks TLS only."""

import json
import socket
import subprocess
import time

import lab as labmod
from e2e_util import extcap_lines

TIMEOUT = 60  # tshark must be done long before this; a hang fails the test


def failed_capture(lab, args=(), env=None):
    """Run a capture that must fail; returns (exit status, stderr, the extcap's one line)."""
    start = time.monotonic()
    p = lab.tshark(["-i", "netcap-extcap", "-o", "extcap.netcap_extcap.maxpackets:5", *args],
                   env=env, timeout=TIMEOUT)
    took = time.monotonic() - start
    assert p.returncode != 0, f"tshark succeeded although it should not:\n{p.stdout}\n{p.stderr}"
    lines = extcap_lines(p.stderr)
    assert len(lines) == 1, f"expected one netcap-extcap line on stderr, got:\n{p.stderr}"
    sentence = lines[0].split("netcap-extcap:", 1)[1].strip()
    assert sentence and "\n" not in sentence
    assert took < 30, f"the failure took {took:.1f} s"
    return p.returncode, p.stderr, sentence


def test_bad_capture_filter(ws, lab):
    """-f reaches the extcap as --extcap-capture-filter; libpcap's complaint comes back."""
    _, stderr, sentence = failed_capture(lab, ["-f", "tcp portt 80"])
    assert "syntax error" in sentence, stderr


def test_unknown_pod(ws, lab):
    _, stderr, sentence = failed_capture(lab, env={"NETCAP_POD": "nope"})
    assert "nope" in sentence, stderr


def test_wrong_token(ws, lab):
    _, stderr, sentence = failed_capture(lab, env={"NETCAP_TOKEN_FILE": lab.state["ws"]["bad_token"]})
    s = sentence.lower()
    assert any(w in s for w in ("token", "unauthori", "401", "authenticat")), stderr


def test_agent_unreachable(ws, lab):
    dead = f"https://127.0.0.1:{labmod.free_port()}"
    _, stderr, sentence = failed_capture(lab, env={"NETCAP_AGENT_URL": dead})
    s = sentence.lower()
    assert "connect" in s or "refused" in s or "reach" in s, stderr


def test_agent_has_no_plaintext_listener(agent):
    port = agent.state["agent"]["port"]
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-o", "/dev/null",
                        "-w", "%{http_code}", f"http://127.0.0.1:{port}/healthz"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and p.stdout in ("", "000"), \
        f"plain HTTP got an answer: rc={p.returncode} code={p.stdout} {p.stderr}"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert not data.startswith(b"HTTP/"), f"plain HTTP answered: {data!r}"
    # and the same over TLS works, with the lab's CA
    p = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", "--cacert",
                        agent.state["files"]["ca"], f"https://127.0.0.1:{port}/healthz"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def _error(agent, status, body, token, want_status, want_reason):
    assert status == want_status, (status, body)
    doc = json.loads(body)
    assert doc.get("reason") == want_reason, doc
    assert isinstance(doc.get("error"), str) and doc["error"] and "\n" not in doc["error"], doc
    return doc["error"]


def test_api_errors(agent, token):
    """The agent's own error replies (API.md): status, reason and one sentence."""
    spec = {"targets": [{"namespace": "shop", "pod": "frontend"}], "limits": {"packets": 1}}
    st, _, body = agent.request("POST", "/v1/captures", spec)
    _error(agent, st, body, None, 401, "Unauthorized")
    st, _, body = agent.request("POST", "/v1/captures", spec, token="x" * 48)
    _error(agent, st, body, None, 401, "Unauthorized")
    st, _, body = agent.request("POST", "/v1/captures",
                                {"targets": [{"namespace": "shop", "pod": "nope"}]}, token=token)
    msg = _error(agent, st, body, token, 404, "PodNotFound")
    assert "shop/nope" in msg and "node1" in msg, msg
    st, _, body = agent.request("POST", "/v1/captures", {**spec, "filter": "tcp portt 80"},
                                token=token)
    msg = _error(agent, st, body, token, 400, "BadFilter")
    assert "syntax error" in msg, msg
    st, _, body = agent.request("POST", "/v1/captures", b"{not json",
                                token=token, headers={"Content-Type": "application/json"})
    _error(agent, st, body, token, 400, "BadRequest")
    st, _, body = agent.request("POST", "/v1/captures", {**spec, "snaplen": "big"}, token=token)
    msg = _error(agent, st, body, token, 400, "BadRequest")
    assert "snaplen" in msg, msg
    st, _, body = agent.request("POST", "/v1/captures", {**spec, "bufferMiB": 1}, token=token)
    msg = _error(agent, st, body, token, 400, "BadRequest")
    assert msg == "bufferMiB must be at least 2 (MiB)", msg
    st, _, body = agent.request("POST", "/v1/captures", {**spec, "bufferMiB": 257}, token=token)
    msg = _error(agent, st, body, token, 400, "BadRequest")
    assert msg == "bufferMiB must be at most 256", msg


def test_api_pods(agent, token, podlist):
    st, _, body = agent.request("GET", "/v1/pods")
    assert st == 401, (st, body)
    st, _, body = agent.request("GET", "/v1/pods", token=token)
    assert st == 200, (st, body)
    doc = json.loads(body)
    names = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"])
    assert names == [("shop", "backend"), ("shop", "frontend")], doc


def test_agent_refuses_a_bad_buffer_budget(artifacts):
    """A --capture-buffer-budget that is not a number of MiB stops the agent at once, exit 2,
    with one sentence, before it forks its broker or listens."""
    for bad in ("0", "1", "-5", "lots", "64M", "1048577"):
        p = subprocess.run([artifacts["agent"], "--listen", "127.0.0.1:1", "--tls-cert", "x",
                            "--tls-key", "x", "--token-auth-file", "x", "--pods-file", "x",
                            "--capture-buffer-budget", bad],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 2, (bad, p.returncode, p.stderr)
        assert p.stderr == (f"netcap-agent: --capture-buffer-budget {bad} is not a number of "
                            "MiB from 2 to 1048576\n"), (bad, p.stderr)
