"""Damaged netcap metadata opened with the real tshark and the plugin: expert info, never a crash.

A real capture of frontend (4 ICMP packets) is taken apart into pcapng blocks; each case changes
the pod metadata JSON in the IDB's if_description or the flow record in the EPBs' custom option
(code 2989), writes the file back with correct block lengths, and opens it as uid 65534. Bit flips
use a fixed seed, so every run checks the same corpus (kept in the lab's ws/out/corpus with
NETCAP_E2E_KEEP=1).
"""

import os
import random
import struct

import pytest

from e2e_util import extcap_lines, pcapng_blocks, pcapng_options, start_capture

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"
IDB, EPB, OPT_DESC, OPT_CUSTOM = 1, 6, 3, 2989
MALFORMED_META = "Malformed netcap pod metadata"  # expert netcap.metadata.malformed
MALFORMED_FLOW = "Malformed netcap flow record"  # netcap.flow_record.malformed


# ---- pcapng in and out (little-endian, as the agent and dumpcap write on this machine) ----

def join_options(head, opts):
    out = head
    for code, value in opts:
        out += struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    return out + struct.pack("<HH", 0, 0)


def write_blocks(blocks):
    out = b""
    for btype, body in blocks:
        body += b"\0" * (-len(body) % 4)
        out += struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    return out


def epb_fixed(body):
    caplen = struct.unpack_from("<I", body, 12)[0]
    return 20 + caplen + (-caplen % 4)


def mutate(blocks, idb_desc=None, custom=None):
    """A copy of blocks with the IDB description and/or each EPB's flow record replaced by the
    result of the given function (old bytes -> new bytes)."""
    out = []
    for btype, body in blocks:
        if btype == IDB and idb_desc:
            head, opts = pcapng_options(body, 8)
            body = join_options(head, [[c, idb_desc(v) if c == OPT_DESC else v] for c, v in opts])
        elif btype == EPB and custom:
            head, opts = pcapng_options(body, epb_fixed(body))
            body = join_options(head, [[c, v[:4] + custom(v[4:]) if c == OPT_CUSTOM else v]
                                       for c, v in opts])
        out.append([btype, body])
    return out


def flip(data, rng, n=3):
    b = bytearray(data)
    for _ in range(n):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


@pytest.fixture(scope="module")
def original(ws, lab):
    path = os.path.join(lab.state["ws"]["out"], "corpus-base.pcapng")
    t = start_capture(lab, ["-i", IFACE, "-f", "icmp", "-o", f"{PREF}.maxpackets:4", "-w", path])
    try:
        assert lab.ping(count=2, interval=0.2).returncode == 0
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0 and not extcap_lines(t.stderr), t.describe()
    with open(path, "rb") as f:
        blocks = pcapng_blocks(f.read())
    assert [b[0] for b in blocks].count(EPB) == 4
    return blocks


def cases(blocks):
    rng = random.Random(2989)
    c = {
        "unknown-version": mutate(blocks, idb_desc=lambda d: d.replace(b'"v":1', b'"v":99')),
        "json-cut": mutate(blocks, idb_desc=lambda d: d[:len(d) // 2]),
        "not-json": mutate(blocks, idb_desc=lambda d: b"hello, Wireshark"),
        "wrong-types": mutate(blocks, idb_desc=lambda d: b'{"v":1,"namespace":5,"pod":["x"],'
                                                         b'"labels":[1],"ips":"10.0.0.1"}'),
        "empty-desc": mutate(blocks, idb_desc=lambda d: b""),
        "deep-json": mutate(blocks, idb_desc=lambda d: b"[" * 5000 + b"]" * 5000),
        "tlv-version": mutate(blocks, custom=lambda v: b"\x63" + v[1:]),
        "tlv-length-past-end": mutate(blocks, custom=lambda v: v[:2] + v[2:4] + b"\xff\x7f" + v[6:]),
        "tlv-cut": mutate(blocks, custom=lambda v: v[:5]),
        "tlv-empty": mutate(blocks, custom=lambda v: b""),
        "tlv-unknown-type": mutate(blocks, custom=lambda v: v + b"\x63\x00\x02\x00ok"),
    }
    for i in range(12):
        c[f"flip-desc-{i}"] = mutate(blocks, idb_desc=lambda d: flip(d, rng))
        c[f"flip-tlv-{i}"] = mutate(blocks, custom=lambda v: flip(v, rng))
    return c


# What each named case must show (bit flips may or may not break the metadata: no crash is all).
EXPECT = {
    "unknown-version": {MALFORMED_META}, "json-cut": {MALFORMED_META},
    "not-json": {MALFORMED_META}, "wrong-types": {MALFORMED_META}, "empty-desc": {MALFORMED_META},
    "deep-json": {MALFORMED_META},
    "tlv-version": {MALFORMED_FLOW}, "tlv-length-past-end": {MALFORMED_FLOW},
    "tlv-cut": {MALFORMED_FLOW}, "tlv-unknown-type": set(),
}


def experts(lab, path):
    p = lab.tshark(["-r", path, "-T", "fields", "-e", "_ws.expert", "-e", "k8s.pod",
                    "-E", "occurrence=a", "-E", "aggregator=|"], timeout=60)
    assert p.returncode >= 0, f"tshark died of signal {-p.returncode} on {path}"
    return p


def test_corrupted_metadata_gives_expert_info_never_a_crash(original, lab):
    outdir = os.path.join(lab.state["ws"]["out"], "corpus")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o755)
    for name, blocks in cases(original).items():
        path = os.path.join(outdir, name + ".pcapng")
        with open(path, "wb") as f:
            f.write(write_blocks(blocks))
        p = experts(lab, path)
        assert p.returncode == 0, f"{name}: tshark exit {p.returncode}: {p.stderr}"
        rows = p.stdout.splitlines()
        assert len(rows) == 4, f"{name}: {rows}"
        seen = {n for n in (MALFORMED_META, MALFORMED_FLOW) if n in p.stdout}
        if name in EXPECT:
            assert seen == EXPECT[name], f"{name}: expert {seen}, want {EXPECT[name]}:\n{p.stdout}"
        if name == "tlv-unknown-type":  # unknown types are skipped: the pod is still decoded
            assert all(r.endswith("frontend") for r in rows), rows


def test_truncated_files_end_with_a_file_error_not_a_crash(original, lab):
    data = write_blocks(original)
    outdir = os.path.join(lab.state["ws"]["out"], "corpus")
    os.makedirs(outdir, exist_ok=True)
    for i, cut in enumerate(random.Random(7).sample(range(40, len(data) - 1), 8)):
        path = os.path.join(outdir, f"cut-{i}.pcapng")
        with open(path, "wb") as f:
            f.write(data[:cut])
        p = experts(lab, path)
        # 0, or tshark's "cut short in the middle of a packet" (exit 2): never a signal
        assert p.returncode in (0, 2), f"cut at {cut}: exit {p.returncode}: {p.stderr}"
