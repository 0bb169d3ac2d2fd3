"""packaging/kubernetes, checked offline against what the code really does: the CRD schema holds
every field the extcap writes, the agent's ClusterRole grants exactly what the API stand-in's
RBAC gives the agent in test_cluster (which the real agent was seen to need), and the DaemonSet
passes only flags netcap-agent knows, with the hardening the design asks for."""
import os
import re
import shutil
import subprocess

import yaml

from test_cluster import AGENT_SA, rules

import lab as labmod

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DIR = os.path.join(REPO, "packaging", "kubernetes")


def docs():
    kust = yaml.safe_load(open(os.path.join(DIR, "kustomization.yaml")))
    out = []
    for r in kust["resources"]:
        out += [d for d in yaml.safe_load_all(open(os.path.join(DIR, r))) if d]
    assert sorted(os.listdir(DIR)) == sorted(kust["resources"] + ["kustomization.yaml",
                                                                  "examples"])
    return out


def examples():
    d = os.path.join(DIR, "examples")
    return [doc for f in sorted(os.listdir(d)) for doc in yaml.safe_load_all(open(os.path.join(d, f)))
            if doc]


def one(kind, name):
    found = [d for d in docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def test_crd_schema_covers_the_podcapture_the_extcap_writes():
    crd = one("CustomResourceDefinition", "podcaptures.netcap.io")
    assert crd["spec"]["group"] == "netcap.io" and crd["spec"]["scope"] == "Namespaced"
    v = crd["spec"]["versions"][0]
    assert v["name"] == "v1alpha1" and v["subresources"] == {"status": {}}
    props = v["schema"]["openAPIV3Schema"]["properties"]
    assert set(props["spec"]["properties"]) == {"pods", "selector", "interface", "filter",
                                                "match", "snaplen", "limits", "direction",
                                                "sample", "bufferMiB", "nameRecords",
                                                "streamKeyHash"}
    # the structured filter: exactly the keys the agent accepts (common/bpfspec.h)
    with open(os.path.join(REPO, "common", "bpfspec.h")) as f:
        keys = re.search(r"#define NCAP_MATCH_KEYS(.*?)\n\n", f.read(), re.S).group(1)
    assert set(props["spec"]["properties"]["match"]["properties"]) == set(
        re.findall(r'"(\w+)"', keys))
    assert set(props["spec"]["properties"]["limits"]["properties"]) == {"packets", "seconds",
                                                                         "bytes"}
    pattern = props["spec"]["properties"]["streamKeyHash"]["pattern"]
    assert re.match(pattern, "sha256:" + "0f" * 32)
    assert set(props["status"]["properties"]) == {"phase", "nodes"}
    cols = {c["name"] for c in v["additionalPrinterColumns"]}
    assert {"Phase", "Age"} <= cols


def test_agent_clusterrole_is_what_the_agent_uses():
    role = one("ClusterRole", "netcap-agent")
    granted = {(g, r, verb) for rule in role["rules"] for g in rule["apiGroups"]
               for r in rule["resources"] for verb in rule["verbs"]}
    used = {(g, r, verb) for rule in rules() if rule["subject"] == AGENT_SA
            for g in rule["apiGroups"] for r in rule["resources"] for verb in rule["verbs"]}
    assert granted == used
    binding = one("ClusterRoleBinding", "netcap-agent")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "netcap-agent",
                                    "namespace": "netcap"}]


def test_daemonset_args_are_real_flags_and_hardened(artifacts):
    ds = one("DaemonSet", "netcap-agent")
    pod = ds["spec"]["template"]["spec"]
    c = pod["containers"][0]
    help_text = subprocess.run([artifacts["agent"], "--help"], capture_output=True,
                               text=True).stdout
    for arg in c["args"]:
        flag = arg.split("=")[0]
        assert re.search(rf"(^|\s){re.escape(flag)}(\s|$)", help_text), f"{flag} not in --help"
    assert pod["hostPID"] is True and pod["serviceAccountName"] == "netcap-agent"
    assert {"name": "https", "containerPort": 9443, "protocol": "TCP"} in c["ports"]
    sc = c["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == {"NET_RAW", "SYS_ADMIN", "SYS_PTRACE"}
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"]["limits"]["memory"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
        assert c[probe]["httpGet"]["scheme"] == "HTTPS"
    assert any(e["name"] == "NODE_NAME" for e in c["env"])


def test_capture_user_role_is_per_namespace():
    role = one("ClusterRole", "netcap-capture")
    pc = [r for r in role["rules"] if r["apiGroups"] == ["netcap.io"]]
    assert pc and set(pc[0]["verbs"]) == {"create", "get", "delete"}
    # the kustomization creates no object outside namespace netcap (it must apply on any cluster)
    assert all(d["metadata"].get("namespace", "netcap") == "netcap" for d in docs()
               if d["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole",
                                    "ClusterRoleBinding"))
    rb = [d for d in examples() if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "netcap-capture"]
    assert len(rb) == 1 and rb[0]["metadata"]["namespace"] == "shop"
    assert rb[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": "netcap-capture"}
    names = {(d["kind"], d["metadata"]["name"]) for d in docs()}
    for d in examples():
        assert (d["roleRef"]["kind"], d["roleRef"]["name"]) in names, d["roleRef"]
    proxy = one("Role", "netcap-agent-proxy")
    assert proxy["metadata"]["namespace"] == "netcap"
    assert any("pods/proxy" in r["resources"] and r["verbs"] == ["create"]
               for r in proxy["rules"])
    assert labmod.NAMESPACE == "shop"


def test_metrics_service_selects_the_agent():
    svc = one("Service", "netcap-agent")
    ds = one("DaemonSet", "netcap-agent")
    assert svc["spec"]["clusterIP"] == "None"
    labels = ds["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    port = svc["spec"]["ports"][0]
    assert port["targetPort"] in [p["name"] for p in ds["spec"]["template"]["spec"]["containers"][0]["ports"]]


def _node_check(build_dir, files):
    """tests/manifests/validate.mjs (the Kubernetes OpenAPI schemas from kubernetes-models, the
    CRD's own schema for custom resources) over files; its npm packages are installed once per
    build dir from the lock file."""
    work = os.path.join(build_dir, "manifest-check")
    src = os.path.join(REPO, "tests", "manifests")
    os.makedirs(work, exist_ok=True)
    stamp = os.path.join(work, "package-lock.json")
    lock = open(os.path.join(src, "package-lock.json")).read()
    if not os.path.exists(stamp) or open(stamp).read() != lock:
        shutil.copy2(os.path.join(src, "package.json"), work)
        shutil.copy2(os.path.join(src, "package-lock.json"), work)
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
    shutil.copy2(os.path.join(src, "validate.mjs"), work)
    return subprocess.run(["node", os.path.join(work, "validate.mjs"), *files], cwd=work,
                          capture_output=True, text=True, timeout=120)


def test_manifests_pass_the_kubernetes_schemas(build_dir, tmp_path):
    kust = yaml.safe_load(open(os.path.join(DIR, "kustomization.yaml")))
    files = [os.path.join(DIR, r) for r in kust["resources"]]
    files += sorted(os.path.join(DIR, "examples", f) for f in os.listdir(os.path.join(DIR, "examples")))
    p = _node_check(build_dir, files)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and all(line.startswith("ok ") for line in lines), p.stdout + p.stderr
    assert len(lines) == len(docs()) + len(examples())
    # the check can fail: a port as a string, and a PodCapture the CRD does not allow
    ds = one("DaemonSet", "netcap-agent")
    ds["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9443"
    pc = {"apiVersion": "netcap.io/v1alpha1", "kind": "PodCapture",
          "metadata": {"name": "x", "namespace": "shop"},
          "spec": {"pods": ["frontend"], "snaplen": "all", "streamKeyHash": "sha256:" + "0" * 64}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([ds, pc]))
    p = _node_check(build_dir, [os.path.join(DIR, "crd-podcapture.yaml"), str(bad)])
    assert p.returncode == 1, p.stdout
    assert "INVALID" in p.stdout and "containerPort" in p.stdout and "snaplen" in p.stdout, p.stdout


def test_api_stand_in_holds_podcaptures_to_the_crd():
    import kubeapi
    v = kubeapi.podcapture_validator()
    good = {"apiVersion": "netcap.io/v1alpha1", "kind": "PodCapture", "metadata": {"name": "a"},
            "spec": {"pods": ["frontend"], "streamKeyHash": "sha256:" + "0f" * 32}}
    assert not list(v.iter_errors(good))
    for spec in ({"pods": "frontend"}, {"pods": ["frontend"], "snaplen": "x"},
                 {"pods": ["frontend"], "podz": 1}):
        assert list(v.iter_errors({**good, "spec": {**good["spec"], **spec}})), spec
