"""The Kubernetes API server stand-in (the one stand-in the tests allow; no kube-apiserver runs here).

Small and faithful where netcap looks: the real paths and JSON shapes (NamespaceList, PodList,
ServiceList, the PodCapture custom resource with its status subresource), list + watch with
resourceVersion, labelSelector (=, ==, !=) and fieldSelector, Status objects with the real
message formats, bearer-token and client-certificate authentication, RBAC checked per request with the real verb
mapping, and the pod proxy: authenticate, authorize `pods/proxy`, DROP the Authorization header
(kube-apiserver removes it after authenticating), forward to https://<podIP>:<port>/<path>
without verifying the backend certificate (as the real pod proxy), and stream the answer back
chunk by chunk.

    srv = KubeAPI(cert, key, users={token: ("alice", ["netcap-users"])}, rbac={...}).start()
"""
import copy
import datetime
import http.client
import json
import os
import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import yaml

GROUP, VERSION = "netcap.io", "v1alpha1"
CORE = {"pods", "services", "namespaces"}


CRD_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging",
                        "kubernetes", "crd-podcapture.yaml")


def _structural(schema):
    """The CRD's openAPIV3Schema as JSON Schema, with undeclared fields refused."""
    if isinstance(schema, list):
        return [_structural(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _structural(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


def podcapture_validator():
    """Validates PodCapture objects against the shipped CRD (packaging/kubernetes), as the API
    server does: a wrong type or value is 422 Invalid. Stricter in one point: an undeclared field
    is refused (the real server, unless asked for fieldValidation=Strict, drops it with a
    Warning, so the agent would never see it: a bug either way)."""
    with open(CRD_FILE) as f:
        crd = yaml.safe_load(f)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    schema = _structural(version["schema"]["openAPIV3Schema"])
    schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                 "metadata": {"type": "object"}})
    return jsonschema.Draft7Validator(schema)


def rfc3339(delta=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    target = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def _field(obj, path):
    cur = obj
    for p in path.split("."):
        cur = cur.get(p) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def matches(obj, q):
    for part in filter(None, q.get("fieldSelector", [""])[0].split(",")):
        neg = "!=" in part
        k, v = part.split("!=" if neg else "=", 1)
        if (_field(obj, k.rstrip("=")) == v.lstrip("=")) == neg:
            return False
    labels = obj["metadata"].get("labels") or {}
    for part in filter(None, q.get("labelSelector", [""])[0].split(",")):
        if "!=" in part:
            k, v = part.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in part:
            k, v = part.split("=", 1)
            if labels.get(k) != v.lstrip("="):
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


class Store:
    """Objects by (resource, namespace, name) and an event log ordered by resourceVersion."""

    def __init__(self):
        self.cv = threading.Condition()
        self.rv = 1000
        self.objs = {}
        self.events = []  # (rv, resource, type, object)
        self.log = []     # (user, method, path) of every authenticated request

    def put(self, resource, obj, typ=None):
        with self.cv:
            m = obj["metadata"]
            m.setdefault("uid", str(uuid.uuid4()))
            m.setdefault("creationTimestamp", rfc3339())
            key = (resource, m.get("namespace", ""), m["name"])
            typ = typ or ("MODIFIED" if key in self.objs else "ADDED")
            self.rv += 1
            m["resourceVersion"] = str(self.rv)
            self.objs[key] = obj
            self.events.append((self.rv, resource, typ, copy.deepcopy(obj)))
            self.cv.notify_all()
            return copy.deepcopy(obj)

    def get(self, resource, ns, name):
        with self.cv:
            o = self.objs.get((resource, ns or "", name))
            return copy.deepcopy(o) if o else None

    def list(self, resource, ns, q):
        with self.cv:
            items = [copy.deepcopy(o) for (r, ons, _), o in self.objs.items()
                     if r == resource and (ns is None or ons == ns) and matches(o, q)]
            return items, str(self.rv)

    def delete(self, resource, ns, name):
        with self.cv:
            o = self.objs.pop((resource, ns or "", name), None)
            if o:
                self.rv += 1
                o["metadata"]["resourceVersion"] = str(self.rv)
                self.events.append((self.rv, resource, "DELETED", copy.deepcopy(o)))
                self.cv.notify_all()
            return o


def allowed(rules, user, groups, verb, group, resource, ns):
    for r in rules:
        if r["subject"] != user and r["subject"] not in groups:
            continue
        if ((verb in r["verbs"] or "*" in r["verbs"])
                and (group in r["apiGroups"] or "*" in r["apiGroups"])
                and (resource in r["resources"] or "*" in r["resources"])
                and (r.get("namespaces") in (None, "*") or ns in r["namespaces"])):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api = None  # the KubeAPI

    def log_message(self, *a):
        pass

    # ---- answers ----
    def _send(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code, reason, message, details=None):
        self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": message, "reason": reason,
                          "details": details or {}, "code": code})

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- request parsing ----
    def _parse(self):
        """(group, resource, ns, name, subresource, rest, query) or None."""
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        p = [urllib.parse.unquote(x) for x in u.path.split("/") if x]
        if p[:2] == ["api", "v1"]:
            group, p = "", p[2:]
        elif p[:3] == ["apis", GROUP, VERSION]:
            group, p = GROUP, p[3:]
        else:
            return None
        ns = None
        if len(p) >= 3 and p[0] == "namespaces":
            ns, p = p[1], p[2:]
        elif p == ["namespaces"] or (len(p) == 2 and p[0] == "namespaces"):
            return group, "namespaces", None, p[1] if len(p) == 2 else None, None, None, q
        if not p:
            return None
        name = p[1] if len(p) > 1 else None
        sub = p[2] if len(p) > 2 else None
        rest = "/" + "/".join(p[3:]) if len(p) > 3 else "/"
        return group, p[0], ns, name, sub, rest, q

    def _authenticate(self):
        """Bearer token, else a client certificate signed by the client CA (user = CN,
        groups = O), as kube-apiserver's x509 authenticator."""
        h = self.headers.get("Authorization", "")
        user = self.api.users.get(h[7:].strip()) if h.startswith("Bearer ") else None
        cert = self.connection.getpeercert() if not h else None
        if cert:
            rdns = [dict(rdn) for rdn in cert.get("subject", ())]
            cn = next((r["commonName"] for r in rdns if "commonName" in r), None)
            groups = [r["organizationName"] for r in rdns if "organizationName" in r]
            user = (cn, groups) if cn else None
        if not user:
            self._status(401, "Unauthorized", "Unauthorized")
        return user

    def _authorize(self, user, verb, group, resource, ns, name):
        u, groups = user
        if allowed(self.api.rbac, u, groups, verb, group, resource, ns):
            return True
        res = resource.split("/")[0]
        kind = f"{res}.{group}" if group else res
        what = f'{kind} "{name}" is forbidden' if name else f"{kind} is forbidden"
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        sub = f'resource "{resource}" in API group "{group}"'
        self._status(403, "Forbidden", f'{what}: User "{u}" cannot {verb} {sub}{where}',
                     {"name": name or "", "group": group, "kind": res})
        return False

    def _handle(self, method):
        r = self._parse()
        if r is None:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        group, resource, ns, name, sub, rest, q = r
        user = self._authenticate()
        if not user:
            return
        self.api.store.log.append((user[0], method, self.path))
        watch = q.get("watch", [""])[0] in ("1", "true")
        if sub == "proxy" and resource == "pods":
            verb = {"GET": "get", "POST": "create", "DELETE": "delete", "PATCH": "patch"}[method]
            if self._authorize(user, verb, group, "pods/proxy", ns, name):
                self._proxy(ns, name, rest)
            return
        verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create",
                "DELETE": "delete", "PATCH": "patch"}[method]
        full = f"{resource}/{sub}" if sub else resource
        if not self._authorize(user, verb, group, full, ns, name):
            return
        getattr(self, "_" + verb)(group, resource, ns, name, sub, q)

    do_GET = lambda self: self._handle("GET")  # noqa: E731
    do_POST = lambda self: self._handle("POST")  # noqa: E731
    do_DELETE = lambda self: self._handle("DELETE")  # noqa: E731
    do_PATCH = lambda self: self._handle("PATCH")  # noqa: E731

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- verbs ----
    def _kind(self, resource):
        return {"pods": "Pod", "services": "Service", "namespaces": "Namespace",
                "podcaptures": "PodCapture"}.get(resource, resource)

    def _get(self, group, resource, ns, name, sub, q):
        o = self.api.store.get(resource, ns, name)
        if not o:
            kind = f"{resource}.{group}" if group else resource
            return self._status(404, "NotFound", f'{kind} "{name}" not found',
                                {"name": name, "group": group, "kind": resource})
        self._send(200, o)

    def _list(self, group, resource, ns, name, sub, q):
        items, rv = self.api.store.list(resource, ns, q)
        self._send(200, {"kind": self._kind(resource) + "List",
                         "apiVersion": f"{group}/{VERSION}" if group else "v1",
                         "metadata": {"resourceVersion": rv}, "items": items})

    def _watch(self, group, resource, ns, name, sub, q):
        st = self.api.store
        since = int(q.get("resourceVersion", ["0"])[0] or 0)
        with st.cv:
            if since and st.events and since < st.events[0][0] - 1:
                return self._status(410, "Expired", "too old resource version")
        timeout = float(q.get("timeoutSeconds", ["0"])[0] or 0) or None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        idx, start = 0, datetime.datetime.now().timestamp()
        try:
            while not self.api.closing:
                if timeout and datetime.datetime.now().timestamp() - start > timeout:
                    break
                with st.cv:
                    if idx == len(st.events):
                        st.cv.wait(0.5)
                    evs, idx = st.events[idx:], len(st.events)
                for rv, res, typ, obj in evs:
                    if res != resource or rv <= since:
                        continue
                    if ns and obj["metadata"].get("namespace") != ns or not matches(obj, q):
                        continue
                    self._chunk((json.dumps({"type": typ, "object": obj}) + "\n").encode())
            self._chunk(b"")
        except OSError:
            pass
        self.close_connection = True

    def _create(self, group, resource, ns, name, sub, q):
        if resource != "podcaptures" or name:
            return self._status(405, "MethodNotAllowed", "the server does not allow this method")
        try:
            obj = json.loads(self._body())
            m = obj["metadata"]
            assert obj.get("kind") == "PodCapture" and isinstance(obj.get("spec"), dict)
        except (ValueError, KeyError, AssertionError, TypeError):
            return self._status(400, "BadRequest", "the body of the request was not a PodCapture")
        if "name" not in m:
            m["name"] = m.pop("generateName", "") + uuid.uuid4().hex[:5]
        m["namespace"] = ns
        for k in ("uid", "creationTimestamp", "resourceVersion"):
            m.pop(k, None)
        obj.pop("status", None)
        errors = sorted(self.api.podcapture_schema.iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            causes = ["." + ".".join(str(p) for p in e.path) + ": Invalid value: " + e.message
                      for e in errors]
            return self._status(422, "Invalid", f'PodCapture.{GROUP} "{m["name"]}" is invalid: '
                                + ", ".join(causes), {"name": m["name"], "group": GROUP,
                                                      "kind": "PodCapture"})
        if self.api.store.get(resource, ns, m["name"]):
            return self._status(409, "AlreadyExists",
                                f'podcaptures.{GROUP} "{m["name"]}" already exists')
        self._send(201, self.api.store.put(resource, obj))

    def _patch(self, group, resource, ns, name, sub, q):
        if self.headers.get("Content-Type", "").split(";")[0] != "application/merge-patch+json":
            return self._status(415, "UnsupportedMediaType", "the body of the request was in an "
                                "unknown format")
        st = self.api.store
        with st.cv:
            o = st.get(resource, ns, name)
            if not o:
                return self._status(404, "NotFound", f'{resource}.{group} "{name}" not found')
            patch = json.loads(self._body())
            if sub == "status":
                o["status"] = merge_patch(o.get("status"), patch.get("status"))
            else:
                o["spec"] = merge_patch(o.get("spec"), patch.get("spec"))
            out = st.put(resource, o)
        self._send(200, out)

    def _delete(self, group, resource, ns, name, sub, q):
        o = self.api.store.delete(resource, ns, name)
        if not o:
            return self._status(404, "NotFound", f'{resource}.{group} "{name}" not found')
        self._send(200, o)

    # ---- the pod proxy ----
    def _proxy(self, ns, target, path):
        parts = target.split(":")
        scheme, pod, port = (["http"] + parts if len(parts) == 2 else parts) if len(parts) > 1 \
            else ("http", parts[0], "80")
        o = self.api.store.get("pods", ns, pod)
        if not o or not o.get("status", {}).get("podIP"):
            return self._status(404, "NotFound", f'pods "{pod}" not found')
        if scheme != "https":
            return self._status(503, "ServiceUnavailable", "netcap agents speak https only")
        body = self._body()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("authorization", "host", "content-length", "connection",
                                        "transfer-encoding")}
        try:
            conn = http.client.HTTPSConnection(o["status"]["podIP"], int(port), timeout=60,
                                               context=ssl._create_unverified_context())
            conn.request(self.command, path, body=body, headers=headers)
            r = conn.getresponse()
        except OSError as e:
            return self._status(503, "ServiceUnavailable",
                                f"error trying to reach service: {e}")
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/octet-stream"))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                data = r.read1(65536)
                if not data:
                    break
                self._chunk(data)
            self._chunk(b"")
        except OSError:
            pass
        conn.close()
        self.close_connection = True


class KubeAPI:
    def __init__(self, cert, key, users, rbac, client_ca=None, listen=("127.0.0.1", 0)):
        self.users, self.rbac = users, rbac
        self.store = Store()
        self.podcapture_schema = podcapture_validator()
        self.closing = False
        handler = type("BoundHandler", (Handler,), {"api": self})
        self.srv = ThreadingHTTPServer(listen, handler)
        self.srv.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if client_ca:  # requested, not required: tokens work without one, as on the real one
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(client_ca)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.srv.server_address[1]}"

    def start(self):
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.closing = True
        self.srv.shutdown()
        self.srv.server_close()
