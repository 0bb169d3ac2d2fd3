"""No silent loss: a client that stops reading makes the agent buffer, then drop, and every
packet is accounted for in the stream's own interface statistics.

A raw TLS client asks for frontend's UDP to one port, reads the response headers and then nothing,
while backend sends more UDP datagrams to that port than the agent's buffers (its 8 MiB stream
ring and the 32 MiB kernel ring behind it) can hold. Then the client reads everything, and:
packets delivered (EPBs) + isb_ifdrop (the kernel's) + isb_osdrop (the agent's) = datagrams that
arrived at frontend's eth0, with drops > 0; /metrics agrees.
"""
import json
import re
import socket
import ssl
import struct
import subprocess
import time

from e2e_util import pcapng_blocks, pcapng_options

PORT = 5999
DATAGRAMS = 40000   # of 1400 bytes: ~60 MB of pcapng, more than the 40 MiB the agent buffers
PAYLOAD = 1400

SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
dst, n, size = (sys.argv[1], int(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4])
data = b"x" * size
sent = 0
for _ in range(n):
    s.sendto(data, dst)
    sent += 1
print(sent)
"""


def _rx_packets(lab, pod, dev="eth0"):
    p = subprocess.run(lab.exec_argv(pod, "cat", f"/sys/class/net/{dev}/statistics/rx_packets"),
                       capture_output=True, text=True, check=True)
    return int(p.stdout)


def _dechunk(raw):
    """The body of a chunked HTTP/1.1 response (raw: everything after the headers), as far as it
    goes; a chunk cut off at the end is left out."""
    out, off = bytearray(), 0
    while True:
        eol = raw.find(b"\r\n", off)
        if eol < 0:
            break
        size = int(raw[off:eol].split(b";")[0], 16)
        if size == 0 or eol + 2 + size > len(raw):
            break
        out += raw[eol + 2:eol + 2 + size]
        off = eol + 2 + size + 2
    return bytes(out)


def _stalled_stream(lab, token):
    """A capture of frontend's UDP to PORT whose client has read the response headers only."""
    ctx = ssl.create_default_context(cafile=lab.state["files"]["ca"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lab.state["agent"]["port"]), 10),
                        server_hostname="127.0.0.1")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    body = json.dumps({"targets": [{"namespace": "shop", "pod": "frontend"}],
                       "filter": f"udp and dst port {PORT}"}).encode()
    s.sendall(b"POST /v1/captures HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer "
              + token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += s.recv(4096)
    head, raw = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    return s, raw


def _send_datagrams(lab):
    p = subprocess.run(lab.exec_argv("backend", "/usr/bin/python3", "-c", SENDER,
                                     lab.pod_ip("frontend"), str(PORT), str(DATAGRAMS),
                                     str(PAYLOAD)),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and int(p.stdout) == DATAGRAMS, p.stderr


AUDIT = re.compile(r"capture (\d+) .*targets \"shop/frontend/eth0\" filter \"udp and dst port "
                   + str(PORT) + r"\".*sent (\d+) packets, \d+ bytes, dropped (\d+) "
                   r"\(kernel (\d+)\); ended after [\d.]+ s: \"the client went away\"")


def _audit_lines(lab):
    return {m[0]: tuple(int(v) for v in m[1:]) for m in AUDIT.findall(lab.agent_log(2000))}


def _quiet_audits(lab):
    """The audit lines so far, once no capture runs any more."""
    deadline = time.monotonic() + 15
    while (lab.metrics() or {}).get("netcap_captures_active") != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    return _audit_lines(lab)


def _new_audit(lab, seen):
    """(sent, dropped, kernel) of the capture that ended after seen was taken."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        new = {k: v for k, v in _audit_lines(lab).items() if k not in seen}
        if new:
            return new[max(new, key=int)]
        time.sleep(0.2)
    raise AssertionError("no audit line for the capture: " + lab.agent_log(20))


def test_stalled_client_every_packet_delivered_or_counted(ws, lab, token):
    seen = _quiet_audits(lab)
    s, raw = _stalled_stream(lab, token)
    before = _rx_packets(lab, "frontend")
    try:
        _send_datagrams(lab)  # the client reads nothing meanwhile
        time.sleep(1)
        arrived = _rx_packets(lab, "frontend") - before
        # then everything that is buffered, until two seconds bring only statistics blocks
        s.settimeout(0.5)
        while True:
            window, end = 0, time.monotonic() + 2
            while time.monotonic() < end:
                try:
                    d = s.recv(1 << 16)
                except socket.timeout:
                    continue
                if not d:
                    break
                window += len(d)
                raw += d
            if window < 4096:
                break
        time.sleep(1.5)  # one more statistics block, written after the last packet went out
        s.settimeout(2)
        try:
            raw += s.recv(1 << 16)
        except socket.timeout:
            pass
    finally:
        s.close()

    blocks = pcapng_blocks(_dechunk(raw))
    epbs = sum(1 for t, _ in blocks if t == 6)
    isbs = [dict((code, struct.unpack("<Q", v)[0]) for code, v in pcapng_options(b, 12)[1]
                 if code in (4, 5, 6, 7))
            for t, b in blocks if t == 5]
    assert isbs, "no interface statistics block in the stream"
    # one statistics block a second, never a packet's bytes sent twice as one
    assert len(blocks) == 1 + 1 + epbs + len(isbs) + sum(1 for t, _ in blocks if t == 4), \
        sorted({t for t, _ in blocks})
    last = isbs[-1]
    ifdrop, osdrop = last.get(5, 0), last.get(7, 0)
    # frontend's eth0 received our datagrams and nothing else (the lab has no other traffic);
    # a datagram lost between the pods never reached the capture, and is not netcap's to count
    assert 0.9 * DATAGRAMS <= arrived <= DATAGRAMS, (arrived, DATAGRAMS)
    assert ifdrop + osdrop > 0, ("the stall was not long enough to drop", last)
    assert epbs + ifdrop + osdrop == arrived, (epbs, ifdrop, osdrop, arrived, last)
    assert last.get(4) == arrived, last  # isb_ifrecv: what the kernel handed to the capture
    # the agent buffered far more than its 8 MiB ring while the client stood still
    assert epbs * (PAYLOAD + 42) > 8 << 20, epbs
    # and its audit line, once the client has gone, says the same
    sent, dropped, kernel = _new_audit(lab, seen)
    assert (sent, dropped, kernel) == (epbs, osdrop, ifdrop), (sent, dropped, kernel, last)


def test_client_gone_with_packets_buffered_counts_them(ws, lab, token):
    """The client walks away while the agent still holds packets for it (its ring and the
    kernel's): the capture's audit line still adds up to every datagram that arrived."""
    seen = _quiet_audits(lab)
    s, _ = _stalled_stream(lab, token)
    before = _rx_packets(lab, "frontend")
    try:
        _send_datagrams(lab)
        time.sleep(1)
        arrived = _rx_packets(lab, "frontend") - before
    finally:
        s.close()
    sent, dropped, kernel = _new_audit(lab, seen)
    assert 0.9 * DATAGRAMS <= arrived <= DATAGRAMS, (arrived, DATAGRAMS)
    assert dropped > 0, (sent, dropped, kernel)  # what was still buffered when the client left
    assert sent + dropped + kernel == arrived, (sent, dropped, kernel, arrived)
