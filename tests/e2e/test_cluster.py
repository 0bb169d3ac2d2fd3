"""Cluster mode end to end: kubeconfig -> API server (the kubeapi.py stand-in) -> PodCapture ->
pod proxy -> netcap-agent in cluster mode -> one pcapng stream -> real tshark as uid 65534.

The session's agent is restarted for this module with --kubeconfig (its own service-account
identity) and --exclude-namespaces kube-system, and put back in direct mode afterwards.
"""
import base64
import datetime
import hashlib
import json
import os
import secrets
import subprocess
import time

import pytest

from e2e_util import count, read_fields, live_tshark
from kubeapi import KubeAPI, rfc3339

import lab as labmod

IFACE = "netcap-extcap"
PREF = "extcap.netcap_extcap"
AGENT_SA = "system:serviceaccount:netcap:netcap-agent"
SERVICE_IP = "10.231.0.100"
PC_PATH = "/apis/netcap.io/v1alpha1/namespaces/{ns}/podcaptures"


def rules():
    capture_user = [  # what netcap's capture-user ClusterRole grants, bound in shop only
        {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "namespaces"]},
        {"verbs": ["create", "get", "delete"], "apiGroups": ["netcap.io"],
         "resources": ["podcaptures"], "namespaces": ["shop"]},
        {"verbs": ["create"], "apiGroups": [""], "resources": ["pods/proxy"],
         "namespaces": ["netcap"]},
    ]
    agent = [
        {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods", "services"]},
        {"verbs": ["get", "list", "watch", "delete"], "apiGroups": ["netcap.io"],
         "resources": ["podcaptures"]},
        {"verbs": ["patch"], "apiGroups": ["netcap.io"], "resources": ["podcaptures/status"]},
    ]
    out = [dict(r, subject="capture-shop") for r in capture_user]
    out += [dict(r, subject=AGENT_SA) for r in agent]
    out.append({"subject": "system:masters", "verbs": ["*"], "apiGroups": ["*"],
                "resources": ["*"]})
    return out


def kubeconfig(path, server, ca, user):
    """A kubeconfig (JSON is YAML) with one context; user is the users[].user object."""
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "lab",
                   "clusters": [{"name": "lab", "cluster": {"server": server,
                                                            "certificate-authority": ca}}],
                   "users": [{"name": "u", "user": user}],
                   "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "u",
                                                            "namespace": "shop"}}]}, f)
    os.chown(path, labmod.NOBODY, labmod.NOBODY)


@pytest.fixture(scope="module")
def cluster(ws, lab, build_dir):
    f = lab.state["files"]
    toks = {u: secrets.token_hex(16) for u in ("alice", "admin", "agent", "carol")}
    users = {toks["alice"]: ("alice", ["capture-shop", "system:authenticated"]),
             toks["carol"]: ("carol", ["capture-shop", "system:authenticated"]),
             toks["admin"]: ("admin", ["system:masters"]),
             toks["agent"]: (AGENT_SA, ["system:serviceaccounts"])}
    api = KubeAPI(f["cert"], f["key"], users, rules(), client_ca=f["ca"]).start()
    st = api.store
    for ns in ("shop", "netcap", "kube-system"):
        st.put("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": ns}, "status": {"phase": "Active"}})
    for pod in lab.podlist()["items"]:
        # backend "runs" on node2, served by its own agent, so a label selector matching both
        # pods makes the extcap merge two agents' streams.
        pod["metadata"]["labels"]["tier"] = "web"
        if pod["metadata"]["name"] == "backend":
            pod["spec"]["nodeName"] = "node2"
        st.put("pods", pod)
    # Four more pods across three nodes: in the API (and so in every agent's pod table and
    # peer map) but never targeted, so they need no network namespace.
    for name, node, ip in (("cart", "node3", "10.231.0.20"), ("db", "node3", "10.231.0.21"),
                           ("cache", "node2", "10.231.0.22")):
        st.put("pods", {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
                        "spec": {"nodeName": node, "containers": [{"name": name}]},
                        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
    # A Service in front of backend; its ClusterIP is in the lab's range but no pod holds it.
    st.put("services", {"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": "backend-svc", "namespace": "shop"},
                        "spec": {"clusterIP": SERVICE_IP, "clusterIPs": [SERVICE_IP],
                                 "selector": {"app": "backend"},
                                 "ports": [{"port": 80, "targetPort": 8080}]}})
    # A hostNetwork pod in shop on node1: it shares the node's network namespace.
    st.put("pods", {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "node-exporter", "namespace": "shop",
                                 "labels": {"app": "node-exporter"}},
                    "spec": {"nodeName": labmod.NODE, "hostNetwork": True,
                             "containers": [{"name": "exporter"}]},
                    "status": {"phase": "Running", "podIP": "10.231.0.30",
                               "podIPs": [{"ip": "10.231.0.30"}]}})
    st.put("pods", {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "coredns", "namespace": "kube-system",
                                 "labels": {"k8s-app": "kube-dns"}},
                    "spec": {"nodeName": labmod.NODE, "containers": [{"name": "coredns"}]},
                    "status": {"phase": "Running", "podIP": "10.231.0.53",
                               "podIPs": [{"ip": "10.231.0.53"}]}})
    d = ws["dir"]
    kc = {}
    kubeconfig(os.path.join(d, "agent.kubeconfig"), api.url, ws["ca"], {"token": toks["agent"]})
    for u in ("alice", "admin"):
        kc[u] = os.path.join(d, f"{u}.kubeconfig")
        kubeconfig(kc[u], api.url, ws["ca"], {"token": toks[u]})
    # bob logs in with a client certificate from the cluster CA: CN is the user, O the group.
    bob = {n: os.path.join(lab.dir, f"bob.{n}") for n in ("key", "csr", "crt", "ext")}
    labmod.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", bob["key"], "-out", bob["csr"],
                "-subj", "/O=capture-shop/CN=bob"])
    with open(bob["ext"], "w") as fh:
        fh.write("extendedKeyUsage=clientAuth\n")
    labmod.run(["openssl", "x509", "-req", "-in", bob["csr"], "-CA", f["ca"], "-CAkey",
                f["ca_key"], "-CAcreateserial", "-out", bob["crt"], "-days", "1",
                "-extfile", bob["ext"]])
    b64 = {n: base64.b64encode(open(bob[n], "rb").read()).decode() for n in ("crt", "key")}
    kc["bob"] = os.path.join(d, "bob.kubeconfig")
    kubeconfig(kc["bob"], api.url, ws["ca"], {"client-certificate-data": b64["crt"],
                                               "client-key-data": b64["key"]})
    os.chmod(kc["bob"], 0o600)
    plugin = os.path.join(d, "carol-credential")
    expiry = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    with open(plugin, "w") as fh:
        fh.write("#!/bin/sh\n" f"echo run >> {d}/carol-runs\n" "cat <<'EOF'\n" + json.dumps(
            {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
             "status": {"token": toks["carol"],
                        "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}})
                 + "\nEOF\n")
    os.chmod(plugin, 0o755)
    os.chown(plugin, labmod.NOBODY, labmod.NOBODY)
    os.chmod(d, 0o777)  # the plugin appends to carol-runs as 65534
    kc["carol"] = os.path.join(d, "carol.kubeconfig")
    kubeconfig(kc["carol"], api.url, ws["ca"],
               {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": plugin}})

    lab.start_agent(build_dir, extra_args=["--kubeconfig", os.path.join(d, "agent.kubeconfig"),
                                           "--exclude-namespaces", "kube-system"])
    ports, agents = {labmod.NODE: lab.state["agent"]["port"]}, []
    for node in ("node2", "node3"):  # one agent per stand-in node, as a DaemonSet would run
        ports[node] = labmod.free_port()
        agents.append(lab._spawn(
            [labmod.build_artifacts(build_dir)["agent"], "--listen", f"127.0.0.1:{ports[node]}",
             "--tls-cert", f["cert"], "--tls-key", f["key"], "--kubeconfig",
             os.path.join(d, "agent.kubeconfig"), "--node-name", node,
             "--exclude-namespaces", "kube-system"], f"agent-{node}.log", new_session=False,
            pdeathsig=True))
    for node, port in ports.items():
        st.put("pods", {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"netcap-agent-{node}", "namespace": "netcap",
                                     "labels": {"app.kubernetes.io/name": "netcap-agent"}},
                        "spec": {"nodeName": node, "hostNetwork": True,
                                 "containers": [{"name": "agent", "ports": [
                                     {"name": "https", "containerPort": port}]}]},
                        "status": {"phase": "Running", "podIP": "127.0.0.1",
                                   "podIPs": [{"ip": "127.0.0.1"}]}})
    yield {"api": api, "kc": kc, "toks": toks, "dir": d}
    for a in agents:
        assert a.poll() is None, "an extra agent died during the cluster tests"
        a.terminate()
        a.wait(15)
    api.stop()
    lab.start_agent(build_dir)  # back to direct mode for the other modules


def cluster_env(c, user, **kw):
    env = {"KUBECONFIG": c["kc"][user], "NETCAP_AGENT_URL": None, "NETCAP_CA_FILE": None,
           "NETCAP_TOKEN_FILE": None, "NETCAP_NAMESPACE": "shop", "NETCAP_POD": "frontend"}
    env.update(kw)
    return env


def podcaptures(c):
    items, _ = c["api"].store.list("podcaptures", None, {})
    return items


def capture_pings(lab, c, user, name, packets):
    path = os.path.join(lab.state["ws"]["out"], name)
    t = live_tshark(lab, ["-i", IFACE, "-f", "icmp", "-o", f"{PREF}.maxpackets:{packets}",
                          "-w", path], env=cluster_env(c, user))
    try:
        assert t.wait_line("Capturing on", 30), t.describe()
        for _ in range(8):
            if not t.running():
                break
            lab.ping(count=5, interval=0.2)
            try:
                t.p.wait(3)
            except Exception:
                pass
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0, f"tshark failed in cluster mode.\n{t.describe()}"
    return path


def test_token_user_captures_through_the_api_server(cluster, lab):
    path = capture_pings(lab, cluster, "alice", "cluster-alice.pcapng", 10)
    rows = read_fields(lab, path, ["k8s.namespace", "k8s.pod", "k8s.node", "k8s.peer.pod",
                                   "frame.interface_name"])
    assert len(rows) == 10
    for r in rows:
        assert (r["k8s.namespace"], r["k8s.pod"], r["k8s.node"]) == ("shop", "frontend", "node1")
        assert r["k8s.peer.pod"] == "backend", r
        assert r["frame.interface_name"] == "k8s/shop/frontend/eth0"
    log = cluster["api"].store.log
    assert any(u == "alice" and m == "POST" and "/podcaptures" in p for u, m, p in log)
    assert any(u == "alice" and m == "POST" and "/proxy/v1/captures" in p for u, m, p in log), \
        "the stream did not go through the API server's pod proxy"
    assert any(u == AGENT_SA and m == "PATCH" and p.endswith("/status") for u, m, p in log), \
        "the agent never wrote the PodCapture's status"
    assert any(u == "alice" and m == "DELETE" for u, m, p in log)
    assert podcaptures(cluster) == [], "the extcap left its PodCapture behind"


def test_pod_to_service_names_the_service(cluster, lab):
    """frontend pings backend-svc's ClusterIP. In a cluster kube-proxy rewrites it on the node's
    side of the veth, so inside the pod the packet still carries the ClusterIP: the agent names
    the Service as the peer. Here nothing answers (no kube-proxy), so only the requests exist."""
    gw_mac = "02:00:0a:e7:ff:01"  # the lab's node bridge: where a pod's off-pod packets go
    lab.pod_run("frontend", "ip", "neigh", "replace", SERVICE_IP, "lladdr", gw_mac, "dev", "eth0",
                "nud", "permanent", check=True)
    path = os.path.join(lab.state["ws"]["out"], "cluster-svc.pcapng")
    t = live_tshark(lab, ["-i", IFACE, "-o", f"{PREF}.maxpackets:2", "-w", path],
                    env=cluster_env(cluster, "alice", NETCAP_HOST=SERVICE_IP))
    try:
        assert t.wait_line("Capturing on", 30), t.describe()
        deadline = time.monotonic() + 30
        while t.running() and time.monotonic() < deadline:
            lab.pod_run("frontend", "ping", "-n", "-q", "-c", "1", "-W", "1", SERVICE_IP)
        rc = t.wait(30)
    finally:
        t.kill()
        lab.pod_run("frontend", "ip", "neigh", "del", SERVICE_IP, "dev", "eth0")
    assert rc == 0, t.describe()
    rows = read_fields(lab, path, ["ip.dst", "k8s.peer.service", "k8s.peer.namespace",
                                   "k8s.peer.pod", "k8s.dst.namespace", "k8s.src.pod"])
    assert len(rows) == 2
    for r in rows:
        assert r == {"ip.dst": SERVICE_IP, "k8s.peer.service": "backend-svc",
                     "k8s.peer.namespace": "shop", "k8s.peer.pod": "",
                     "k8s.dst.namespace": "shop", "k8s.src.pod": "frontend"}, r
    p = lab.tshark(["-r", path, "-N", "n", "-o", "nameres.use_external_name_resolver:FALSE",
                    "-T", "fields", "-e", "ip.dst_host"], timeout=60)
    assert p.stdout.split() == ["backend-svc.shop.svc"] * 2, p.stdout


def test_label_selector_across_two_nodes_is_one_merged_capture(cluster, lab):
    """Three nodes with an agent each, six pods; tier=web matches frontend (node1) and backend
    (node2) only: two agents stream, one pcapng section.
    5 pings are seen leaving frontend and arriving at backend, and the replies the other way:
    20 packets, 10 from each node, none lost, each with its own pod and node."""
    path = os.path.join(lab.state["ws"]["out"], "cluster-selector.pcapng")
    env = cluster_env(cluster, "alice", NETCAP_POD=None, NETCAP_SELECTOR="tier=web")
    t = live_tshark(lab, ["-i", IFACE, "-f", "icmp", "-o", f"{PREF}.maxpackets:20", "-w", path],
                    env=env)
    try:
        assert t.wait_line("Capturing on", 30), t.describe()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # both agents armed: both wrote their status
            pcs = podcaptures(cluster)
            if pcs and len(pcs[0].get("status", {}).get("nodes", {})) == 2:
                break
            time.sleep(0.2)
        lab.ping(count=5, interval=0.2)
        rc = t.wait(60)
    finally:
        t.kill()
    assert rc == 0, t.describe()
    rows = read_fields(lab, path, ["k8s.pod", "k8s.node", "icmp.type", "netcap.direction"])
    assert len(rows) == 20, rows
    by = {}
    for r in rows:
        by.setdefault((r["k8s.pod"], r["k8s.node"]), []).append(r)
    assert sorted(by) == [("backend", "node2"), ("frontend", "node1")], sorted(by)
    assert len(by[("frontend", "node1")]) == 10 and len(by[("backend", "node2")]) == 10
    p = lab.tshark(["-r", path, "-T", "fields", "-e", "frame.interface_id"])
    assert sorted(set(p.stdout.split())) == ["0", "1"], "interface ids were not renumbered"


def test_exec_plugin_user_captures(cluster, lab):
    path = capture_pings(lab, cluster, "carol", "cluster-carol.pcapng", 4)
    assert count(lab, path, 'k8s.pod == "frontend"') == 4
    assert any(u == "carol" for u, _, _ in cluster["api"].store.log)
    with open(os.path.join(cluster["dir"], "carol-runs")) as f:
        assert len(f.read().split()) >= 1


def test_client_certificate_user_captures(cluster, lab):
    path = capture_pings(lab, cluster, "bob", "cluster-bob.pcapng", 4)
    assert count(lab, path, 'k8s.pod == "frontend"') == 4
    assert any(u == "bob" and "/proxy/" in p for u, _, p in cluster["api"].store.log)


def test_no_rbac_in_kube_system_is_one_sentence(cluster, lab):
    p = lab.tshark(["-i", IFACE, "-c", "1"], timeout=60,
                   env=cluster_env(cluster, "alice", NETCAP_NAMESPACE="kube-system",
                                   NETCAP_POD="coredns"))
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if "netcap-extcap:" in line]
    assert len(lines) == 1, p.stderr
    assert "forbidden" in lines[0] and "kube-system" in lines[0] and "alice" in lines[0], lines


def test_excluded_namespace_refused_even_for_admin(cluster, lab):
    p = lab.tshark(["-i", IFACE, "-c", "1"], timeout=60,
                   env=cluster_env(cluster, "admin", NETCAP_NAMESPACE="kube-system",
                                   NETCAP_POD="coredns"))
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if "netcap-extcap:" in line]
    assert len(lines) == 1 and "kube-system" in lines[0] and "forbidden" not in lines[0], p.stderr
    assert any(u == "admin" and m == "POST" and "/proxy/" in p_ for u, m, p_ in
               cluster["api"].store.log), "the admin's request never reached the agent"


def test_host_network_pod_refused(cluster, lab):
    """alice may capture in shop, but not a hostNetwork pod there: that would be the node's traffic."""
    p = lab.tshark(["-i", IFACE, "-c", "1"], timeout=60,
                   env=cluster_env(cluster, "alice", NETCAP_POD="node-exporter"))
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if "netcap-extcap:" in line]
    assert len(lines) == 1, p.stderr
    assert "shop/node-exporter" in lines[0] and "hostNetwork" in lines[0], lines
    key = secrets.token_hex(32)
    pc = _podcapture(cluster, "shop", key, pods=("node-exporter",))
    try:
        status, data = _stream(lab, pc, key)
    finally:
        cluster["api"].store.delete("podcaptures", "shop", pc["metadata"]["name"])
    assert status == 403 and json.loads(data)["reason"] == "HostNetworkPod", (status, data)
    assert not podcaptures(cluster), "the refused capture's PodCapture was left behind"


def test_broker_never_captures_the_node_namespace(cluster, lab):
    """A pod that is not marked hostNetwork but whose address is the node's own (a lying or
    stale API): the capture broker finds the node's namespace and refuses it."""
    ip, dev = "10.231.0.31", f"ncguard{os.getpid() % 10000}"
    cluster["api"].store.put("pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "imposter", "namespace": "shop", "labels": {"app": "imposter"}},
        "spec": {"nodeName": labmod.NODE, "containers": [{"name": "imposter"}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
    # the address on a veth of the root namespace, left down: nothing is sent
    subprocess.run(["ip", "link", "add", dev, "type", "veth", "peer", "name", dev + "p"],
                   check=True)
    key = secrets.token_hex(32)
    try:
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", dev], check=True)
        time.sleep(1)  # the agent's pod watch sees the new pod
        pc = _podcapture(cluster, "shop", key, pods=("imposter",))
        try:
            status, data = _stream(lab, pc, key)
        finally:
            cluster["api"].store.delete("podcaptures", "shop", pc["metadata"]["name"])
    finally:
        subprocess.run(["ip", "link", "del", dev], check=False)
        cluster["api"].store.delete("pods", "shop", "imposter")
    body = json.loads(data)
    assert status == 403 and body["reason"] == "HostNetworkPod", (status, data)
    assert "node's own network namespace" in json.dumps(body), body
    assert lab.agent_alive()


def _podcapture(c, ns, key_hex, pods=("frontend",)):
    obj = {"apiVersion": "netcap.io/v1alpha1", "kind": "PodCapture",
           "metadata": {"name": "manual-" + secrets.token_hex(3), "namespace": ns},
           "spec": {"pods": list(pods), "interface": "eth0", "filter": "icmp",
                    "limits": {"packets": 1, "seconds": 0, "bytes": 0}, "direction": "both",
                    "sample": 1,
                    "streamKeyHash": "sha256:" + hashlib.sha256(key_hex.encode()).hexdigest()}}
    return c["api"].store.put("podcaptures", obj)


def _stream(lab, pc, key):
    body = json.dumps({"podCapture": {"namespace": pc["metadata"]["namespace"],
                                      "name": pc["metadata"]["name"]}, "streamKey": key})
    status, _, data = lab.request("POST", "/v1/captures", body=body,
                                  headers={"Content-Type": "application/json"}, timeout=30)
    return status, data


def test_agent_checks_the_podcapture(cluster, lab):
    key = secrets.token_hex(32)
    pc = _podcapture(cluster, "shop", key)
    status, data = _stream(lab, pc, secrets.token_hex(32))
    assert (status, json.loads(data)["reason"]) == (403, "StreamKeyMismatch"), data
    # the right key streams (one ICMP packet is the limit) ...
    import threading
    pinger = threading.Thread(target=lambda: [lab.ping(count=3, interval=0.3) for _ in range(3)])
    pinger.start()
    status, data = _stream(lab, pc, key)
    pinger.join()
    assert status == 200 and data[:4] == b"\n\r\r\n", data[:200]
    # ... once
    status, data = _stream(lab, pc, key)
    assert (status, json.loads(data)["reason"]) == (409, "AlreadyStreamed"), data
    # a PodCapture may only reach pods in its own namespace
    key2 = secrets.token_hex(32)
    other = _podcapture(cluster, "netcap", key2)
    status, data = _stream(lab, other, key2)
    assert status == 404 and json.loads(data)["reason"] == "PodNotFound", data
    # stale objects are refused
    key3 = secrets.token_hex(32)
    old = _podcapture(cluster, "shop", key3)
    old["metadata"]["creationTimestamp"] = rfc3339(-600)
    cluster["api"].store.put("podcaptures", old)
    status, data = _stream(lab, old, key3)
    assert (status, json.loads(data)["reason"]) == (403, "PodCaptureStale"), data
    for o in (pc, other, old):
        cluster["api"].store.delete("podcaptures", o["metadata"]["namespace"],
                                    o["metadata"]["name"])


def test_deleting_the_podcapture_ends_the_capture(cluster, lab):
    t = live_tshark(lab, ["-i", IFACE, "-f", "icmp"], env=cluster_env(cluster, "alice"))
    try:
        assert t.wait_line("Capturing on", 30), t.describe()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not podcaptures(cluster):
            time.sleep(0.2)
        pcs = podcaptures(cluster)
        assert len(pcs) == 1, pcs
        while time.monotonic() < deadline and "nodes" not in pcs[0].get("status", {}):
            time.sleep(0.2)
            pcs = podcaptures(cluster) or pcs
        m = pcs[0]["metadata"]
        cluster["api"].store.delete("podcaptures", m["namespace"], m["name"])
        rc = t.wait(30)
    finally:
        t.kill()
    assert rc is not None, "tshark kept capturing after the PodCapture was deleted"


def _reload(lab, c, user, call, *extra, timeout=30):
    ws = lab.state["ws"]
    extcap = os.path.join(ws["home"], ".config", "wireshark", "extcap", "netcap-extcap")
    env = lab.ws_env(**cluster_env(c, user))
    argv = ["setpriv", f"--reuid={labmod.NOBODY}", f"--regid={labmod.NOBODY}", "--clear-groups",
            "env", "-i", *[f"{k}={v}" for k, v in env.items()], extcap, "--extcap-interface",
            IFACE, "--extcap-config", "--extcap-reload-option", call, *extra]
    t0 = time.monotonic()
    p = labmod.run(argv, check=False, timeout=timeout)
    return p, time.monotonic() - t0


def test_reload_lists_namespaces_and_pods(cluster, lab):
    p, _ = _reload(lab, cluster, "alice", "namespace-pick")
    assert p.returncode == 0, p.stderr
    for ns in ("shop", "netcap", "kube-system"):
        assert f"{{value={ns}}}" in p.stdout, p.stdout
    p, _ = _reload(lab, cluster, "alice", "pod-pick", "--namespace", "shop")
    assert p.returncode == 0, p.stderr
    assert "{value=frontend}" in p.stdout and "{value=backend}" in p.stdout, p.stdout


def test_reload_with_the_api_down_answers_quickly(cluster, lab):
    down = os.path.join(cluster["dir"], "down.kubeconfig")
    kubeconfig(down, "https://127.0.0.1:1", lab.state["ws"]["ca"], {"token": "x"})
    cluster["kc"]["down"] = down
    p, took = _reload(lab, cluster, "down", "namespace-pick")
    assert p.returncode == 0 and took < 10, (took, p.stdout, p.stderr)
    assert "cannot" in p.stdout and "127.0.0.1:1" in p.stdout, p.stdout
