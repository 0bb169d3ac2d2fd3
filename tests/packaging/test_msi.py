"""The Windows installer: netcap-extcap.exe cross-built with mingw-w64, packaged by wixl.

Builds (or reuses, with NETCAP_MSI=path) the .msi with packaging/windows/build-msi.sh into
build-win/ (NETCAP_WIN_BUILD_DIR overrides; the static libraries it builds from Debian's sources
are cached there), then checks the package's tables with msiinfo (msitools): the extcap lands in
<ProgramFiles64>\\Wireshark\\extcap (or where Wireshark's App Paths entry says Wireshark is), the
product properties, the x64 summary. The .exe taken back out of the .msi must be a PE32+ console
program that imports only Windows system DLLs.

When Wine is installed, that .exe also runs under it (a private WINEPREFIX, no display): the
extcap verbs Wireshark uses, a missing kubeconfig, an exec credential plugin (Wine's cmd.exe
printing an ExecCredential) whose token is cached in %LOCALAPPDATA%\\netcap before the API server
(a closed port on 127.0.0.1) refuses the connection, and a direct-mode capture over TLS
(Schannel) from a stand-in agent on 127.0.0.1 into a file, with the certificate checked against
the CA file and the address, into a named pipe as dumpcap creates it; and Wine's msiexec
installs the .msi (into Program Files, or where Wireshark's App Paths entry points) and removes
it again. Nothing leaves the machine.
"""

import http.server
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_MSI = os.path.join(REPO, "packaging", "windows", "build-msi.sh")
UPGRADE_CODE = "{AECADB37-E86E-479E-A540-EDB3A3F9F57F}"
# What Windows itself provides; libcurl-4.dll, libwinpthread-1.dll or libgcc_s_seh-1.dll in the
# import table would be missing on a user's machine.
SYSTEM_DLLS = {"kernel32.dll", "ws2_32.dll", "bcrypt.dll", "crypt32.dll", "advapi32.dll",
               "msvcrt.dll", "user32.dll", "secur32.dll", "ntdll.dll", "shell32.dll",
               "ole32.dll", "iphlpapi.dll", "normaliz.dll", "wldap32.dll"}


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(netcap VERSION ([0-9.]+)", f.read()).group(1)


@pytest.fixture(scope="module")
def msi():
    given = os.environ.get("NETCAP_MSI")
    if given:
        assert os.path.isfile(given), given
        return given
    out = os.environ.get("NETCAP_WIN_BUILD_DIR", os.path.join(REPO, "build-win"))
    p = run(["bash", BUILD_MSI, out], timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    path = p.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), path
    return path


def table(msi, name):
    """msiinfo export: column names, two header lines, then tab-separated rows."""
    p = run(["msiinfo", "export", msi, name])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    cols = lines[0].split("\t")
    return [dict(zip(cols, line.split("\t"))) for line in lines[3:] if line]


@pytest.fixture(scope="module")
def extracted(msi, tmp_path_factory):
    """The .msi's files as Windows Installer would lay them out (msiextract)."""
    d = tmp_path_factory.mktemp("msi")
    p = run(["msiextract", "-C", str(d), msi])
    assert p.returncode == 0, p.stderr
    found = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
    exe = [f for f in found if f.endswith("/Wireshark/extcap/netcap-extcap.exe")]
    assert len(exe) == 1, found
    return {"dir": str(d), "files": found, "exe": exe[0]}


# ---- the .msi's tables ------------------------------------------------------------------------

def test_tables(msi):
    p = run(["msiinfo", "tables", msi])
    assert p.returncode == 0, p.stderr
    tables = set(p.stdout.split())
    for t in ("File", "Component", "Directory", "Feature", "FeatureComponents", "Property",
              "Media", "InstallExecuteSequence", "Upgrade", "AppSearch", "RegLocator"):
        assert t in tables, (t, sorted(tables))


def test_file_table_has_the_extcap_and_docs(msi):
    files = {r["FileName"]: r for r in table(msi, "File")}
    assert "netcap-extcap.exe" in files, files
    assert int(files["netcap-extcap.exe"]["FileSize"]) > 100_000
    for name in ("README.txt", "curl.txt", "cjson.txt", "libyaml.txt"):
        assert name in files, files


def test_directory_chain_is_program_files_wireshark_extcap(msi):
    dirs = {r["Directory"]: r for r in table(msi, "Directory")}
    comps = {r["Component"]: r for r in table(msi, "Component")}
    exe = next(r for r in table(msi, "File") if r["FileName"] == "netcap-extcap.exe")
    extcap = dirs[comps[exe["Component_"]]["Directory_"]]
    assert extcap["DefaultDir"] == "extcap"
    wireshark = dirs[extcap["Directory_Parent"]]
    assert wireshark["DefaultDir"] == "Wireshark"
    assert wireshark["Directory_Parent"] == "ProgramFiles64Folder"
    assert dirs["ProgramFiles64Folder"]["Directory_Parent"] == "TARGETDIR"


def test_components_are_64_bit(msi):
    for c in table(msi, "Component"):
        assert int(c["Attributes"]) & 256, c  # msidbComponentAttributes64bit
        assert re.fullmatch(r"\{[0-9A-F-]{36}\}", c["ComponentId"]), c


def test_wireshark_folder_comes_from_its_app_paths_entry(msi):
    search = {r["Signature_"]: r["Property"] for r in table(msi, "AppSearch")}
    locs = table(msi, "RegLocator")
    assert locs and all(search[r["Signature_"]] == "WIRESHARKDIR" for r in locs), (search, locs)
    for r in locs:
        assert r["Root"] == "2"  # HKLM
        assert r["Key"].endswith(r"\App Paths\Wireshark.exe") and r["Name"] == "Path"
    assert {int(r["Type"]) & 16 for r in locs} == {0, 16}  # both registry views


def test_properties(msi):
    props = {r["Property"]: r["Value"] for r in table(msi, "Property")}
    assert props["ProductName"] == "netcap extcap for Wireshark"
    assert props["ProductVersion"] == project_version()
    assert props["UpgradeCode"] == UPGRADE_CODE
    assert props["Manufacturer"] == "netcap"
    assert props["ALLUSERS"] == "1"  # per-machine
    assert re.fullmatch(r"\{[0-9A-F-]{36}\}", props["ProductCode"])


def test_major_upgrade_replaces_older_versions(msi):
    rows = table(msi, "Upgrade")
    assert rows and all(r["UpgradeCode"] == UPGRADE_CODE for r in rows)
    assert any(r["ActionProperty"] == "WIX_UPGRADE_DETECTED" for r in rows)


def test_summary_says_x64(msi):
    p = run(["msiinfo", "suminfo", msi])
    assert p.returncode == 0, p.stderr
    template = re.search(r"^Template: (.*)$", p.stdout, re.M).group(1)
    assert template.split(";")[0] == "x64", p.stdout
    assert re.search(r"^Author: netcap$", p.stdout, re.M), p.stdout


# ---- the program inside -----------------------------------------------------------------------

def test_exe_is_pe32_plus_console(extracted):
    p = run(["file", "-b", extracted["exe"]])
    assert p.stdout.startswith("PE32+ executable (console) x86-64"), p.stdout


def test_exe_imports_only_system_dlls(extracted):
    p = run(["x86_64-w64-mingw32-objdump", "-p", extracted["exe"]])
    assert p.returncode == 0, p.stderr
    dlls = {m.lower() for m in re.findall(r"DLL Name: (\S+)", p.stdout)}
    assert "kernel32.dll" in dlls and "ws2_32.dll" in dlls, dlls
    assert dlls <= SYSTEM_DLLS, dlls - SYSTEM_DLLS


def test_readme_is_shipped_in_windows_line_endings(extracted):
    readme = [f for f in extracted["files"] if f.endswith("/extcap/netcap/README.txt")]
    assert len(readme) == 1, extracted["files"]
    with open(readme[0], "rb") as f:
        text = f.read()
    assert b"\r\n" in text and b"\n" not in text.replace(b"\r\n", b"")
    assert b"not shipped for Windows yet" in text  # the dissector plugin


# ---- under Wine -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wine(extracted, tmp_path_factory):
    binary = shutil.which("wine") or shutil.which("wine64")
    if not binary:
        pytest.skip("Wine is not installed (apt-get install wine wine64)")
    prefix = tmp_path_factory.mktemp("wineprefix")
    env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    env.pop("DISPLAY", None)
    env.pop("KUBECONFIG", None)
    env = {k: v for k, v in env.items() if not k.startswith("NETCAP_")}
    # The first start creates the prefix (several seconds); console programs need no display.
    p = run([binary, "wineboot", "--init"], env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]

    def wine_run(*args, timeout=120):
        return run([binary, extracted["exe"], *args], env=env, timeout=timeout,
                   stdin=subprocess.DEVNULL)

    def run_exe(exe, *args, timeout=120):
        return run([binary, exe, *args], env=env, timeout=timeout, stdin=subprocess.DEVNULL)

    def tool(*args, timeout=120):
        return run([binary, *args], env=env, timeout=timeout, stdin=subprocess.DEVNULL)

    wine_run.prefix = str(prefix)
    wine_run.run_exe = run_exe
    wine_run.tool = tool
    return wine_run


def winpath(path):
    """A Linux path as Wine's Z: drive sees it."""
    return "Z:" + str(path).replace("/", "\\")


def test_wine_extcap_interfaces(wine):
    p = wine("--extcap-interfaces")
    assert p.returncode == 0, p.stderr
    assert "interface {value=netcap-extcap}{display=Kubernetes pod capture}" in p.stdout.splitlines()
    # The help link is the README the .msi installs beside the extcap.
    assert re.search(r"^extcap \{version=[0-9.]+\}\{help=file:///.*/netcap/README\.txt\}$",
                     p.stdout, re.M), p.stdout


def test_wine_extcap_config(wine):
    p = wine("--extcap-config", "--extcap-interface", "netcap-extcap")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    kubeconfig = [l for l in lines if "{call=--kubeconfig}" in l]
    assert len(kubeconfig) == 1, lines
    # Windows' KUBECONFIG list separator and default location.
    assert "';'-separated" in kubeconfig[0] and r"%USERPROFILE%\.kube\config" in kubeconfig[0]
    assert any("{call=--pod}" in l for l in lines)


def test_wine_extcap_dlts(wine):
    p = wine("--extcap-dlts", "--extcap-interface", "netcap-extcap")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["dlt {number=1}{name=EN10MB}{display=Ethernet}"]


def test_wine_capture_with_missing_kubeconfig(wine, tmp_path):
    fifo = tmp_path / "out.pcapng"
    fifo.write_bytes(b"")
    missing = tmp_path / "no-such-kubeconfig.yaml"
    p = wine("--extcap-interface", "netcap-extcap", "--capture", "--fifo", winpath(fifo),
             "--kubeconfig", winpath(missing), "--pod", "frontend")
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("netcap-extcap: ") and "no-such-kubeconfig.yaml" in lines[0], lines


def closed_loopback_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_wine_exec_plugin_runs_and_caches(wine, tmp_path):
    cred = tmp_path / "cred.json"
    cred.write_text('{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
                    '"status":{"token":"t0k","expirationTimestamp":"2099-01-01T00:00:00Z"}}')
    kubeconfig = tmp_path / "kubeconfig.yaml"
    port = closed_loopback_port()
    # Wine's cmd.exe stands in for a credential plugin: `cmd /c type FILE` prints the answer.
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
current-context: c
contexts:
- name: c
  context: {{cluster: k, user: u, namespace: shop}}
clusters:
- name: k
  cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: cmd
      args: ["/c", "type", "{winpath(cred).replace(chr(92), chr(92) * 2)}"]
      env: [{{name: NETCAP_TEST_VAR, value: "a b"}}]
""")
    fifo = tmp_path / "out.pcapng"
    fifo.write_bytes(b"")
    # A list with a missing file first: ';' separates kubeconfig paths on Windows.
    paths = winpath(tmp_path / "missing.yaml") + ";" + winpath(kubeconfig)
    p = wine("--extcap-interface", "netcap-extcap", "--capture", "--fifo", winpath(fifo),
             "--kubeconfig", paths, "--pod", "frontend")
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert f"cannot reach the API server https://127.0.0.1:{port}" in lines[0], lines
    cached = [os.path.join(r, f) for r, _, fs in os.walk(wine.prefix) for f in fs
              if os.sep + os.path.join("AppData", "Local", "netcap") + os.sep in os.path.join(r, f)]
    assert len(cached) == 1, cached
    with open(cached[0]) as f:
        assert '"token":"t0k"' in f.read()


def test_wine_exec_plugin_not_found(wine, tmp_path):
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1,
                                command: no-such-credential-plugin}}}]
""")
    fifo = tmp_path / "out.pcapng"
    fifo.write_bytes(b"")
    p = wine("--extcap-interface", "netcap-extcap", "--capture", "--fifo", winpath(fifo),
             "--kubeconfig", winpath(kubeconfig), "--pod", "frontend")
    assert p.returncode != 0
    assert p.stderr.strip() == ("netcap-extcap: exec plugin no-such-credential-plugin was not "
                                "found in PATH"), p.stderr


# ---- direct mode over TLS (Schannel) against a stand-in agent on 127.0.0.1 ----------------------

def pcapng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


FRAME = bytes(range(60))
TOKEN = "stand-in-token"
STREAM_TOKEN = "endless-stream-token"  # a capture that runs until the reader goes away


class StandInAgent(http.server.BaseHTTPRequestHandler):
    """POST /v1/captures: 200 with a three-block pcapng stream for the right bearer token."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/captures" and \
                self.headers.get("Authorization") == f"Bearer {STREAM_TOKEN}":
            return self.endless()
        if self.path == "/v1/captures" and self.headers.get("Authorization") == f"Bearer {TOKEN}":
            status, ctype = 200, "application/x-pcapng"
            body = (pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) +
                    pcapng_block(1, struct.pack("<HHI", 1, 0, 65535)) +
                    pcapng_block(6, struct.pack("<IIIII", 0, 0, 1000, 60, 60) + FRAME))
        else:
            status, ctype = 401, "application/json"
            body = b'{"kind":"Status","status":"Failure","message":"the token is not valid"}'
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def endless(self):
        """Chunked: the header blocks, then a packet every 20 ms for at most 60 s."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-pcapng")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        blocks = [pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) +
                  pcapng_block(1, struct.pack("<HHI", 1, 0, 65535))]
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                blocks.append(pcapng_block(6, struct.pack("<IIIII", 0, 0, 1000, 60, 60) + FRAME))
                data = b"".join(blocks)
                blocks = []
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the extcap hung up: what this stream is for

    def log_message(self, *args):
        pass


def openssl(*args, cwd):
    p = run(["openssl", *args], cwd=cwd)
    assert p.returncode == 0, p.stderr


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    """Two stand-in agents on 127.0.0.1 with certificates from one test CA: "good" names
    IP:127.0.0.1, "wrong" names only another address and a DNS name."""
    d = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=netcap test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    servers = {}
    for name, san in (("good", "IP:127.0.0.1"), ("wrong", "IP:10.9.9.9,DNS:agent.invalid")):
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
                                       "basicConstraints=CA:FALSE\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandInAgent)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(d / f"{name}.crt"), str(d / f"{name}.key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers[name] = srv
    (d / "token").write_text(TOKEN + "\n")
    (d / "stream-token").write_text(STREAM_TOKEN + "\n")
    (d / "bad-token").write_text("not-the-token\n")
    yield {"dir": d, "url": {n: f"https://127.0.0.1:{s.server_address[1]}"
                             for n, s in servers.items()}}
    for srv in servers.values():
        srv.shutdown()
        srv.server_close()


def direct_capture(wine, agents, tmp_path, which="good", token="token"):
    out = tmp_path / "out.pcapng"
    out.write_bytes(b"")
    p = wine("--extcap-interface", "netcap-extcap", "--capture", "--fifo", winpath(out),
             "--agent-url", agents["url"][which], "--ca-file", winpath(agents["dir"] / "ca.crt"),
             "--token-file", winpath(agents["dir"] / token), "--namespace", "shop",
             "--pod", "frontend", timeout=60)
    return p, out.read_bytes()


def test_wine_direct_capture_over_schannel(wine, agents, tmp_path):
    p, data = direct_capture(wine, agents, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert data[:4] == b"\x0a\x0d\x0d\x0a", data[:16]  # a pcapng section header first
    assert FRAME in data


def test_wine_direct_capture_checks_the_address_in_the_certificate(wine, agents, tmp_path):
    p, data = direct_capture(wine, agents, tmp_path, which="wrong")
    assert p.returncode != 0
    assert FRAME not in data
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "TLS verification of agent" in lines[0], p.stderr
    assert "127.0.0.1" in lines[0]


def test_wine_direct_capture_with_a_wrong_token(wine, agents, tmp_path):
    p, data = direct_capture(wine, agents, tmp_path, token="bad-token")
    assert p.returncode != 0
    assert FRAME not in data
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "the token is not valid" in lines[0], p.stderr


# ---- through a named pipe, as Wireshark on Windows runs it -------------------------------------

@pytest.fixture(scope="module")
def pipe_reader(tmp_path_factory):
    """win_pipe_reader.exe: creates the \\\\.\\pipe\\... dumpcap would, runs the extcap on it."""
    out = tmp_path_factory.mktemp("pipe") / "win_pipe_reader.exe"
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "win_pipe_reader.c")
    p = run(["x86_64-w64-mingw32-gcc-win32", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
             "-static", "-o", str(out), src])
    assert p.returncode == 0, p.stderr
    return out


def pipe_capture(wine, extracted, agents, pipe_reader, tmp_path, token, max_bytes):
    out = tmp_path / "from-pipe.pcapng"
    p = wine.run_exe(str(pipe_reader), winpath(out), str(max_bytes), winpath(extracted["exe"]),
                     "--extcap-interface", "netcap-extcap", "--capture",
                     "--agent-url", agents["url"]["good"],
                     "--ca-file", winpath(agents["dir"] / "ca.crt"),
                     "--token-file", winpath(agents["dir"] / token),
                     "--namespace", "shop", "--pod", "frontend", timeout=120)
    return p, out.read_bytes() if out.exists() else b""


def test_wine_capture_into_a_named_pipe(wine, extracted, agents, pipe_reader, tmp_path):
    p, data = pipe_capture(wine, extracted, agents, pipe_reader, tmp_path, "token", 0)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stderr == ""
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and FRAME in data


def test_wine_reader_going_away_is_a_normal_end(wine, extracted, agents, pipe_reader, tmp_path):
    """dumpcap closing the pipe mid-capture (ERROR_NO_DATA / ERROR_BROKEN_PIPE on the next
    write) ends the extcap quietly with status 0, long before the agent's stream would end."""
    started = time.monotonic()
    p, data = pipe_capture(wine, extracted, agents, pipe_reader, tmp_path, "stream-token", 4000)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stderr == ""
    assert len(data) >= 4000 and FRAME in data
    assert time.monotonic() - started < 45



# ---- installing with Wine's msiexec ------------------------------------------------------------

APP_PATHS = r"HKLM\Software\Microsoft\Windows\CurrentVersion\App Paths\Wireshark.exe"


def drive_c(wine, *parts):
    return os.path.join(wine.prefix, "drive_c", *parts)


def test_wine_msiexec_installs_into_wireshark_extcap_and_uninstalls(wine, msi):
    extcap = drive_c(wine, "Program Files", "Wireshark", "extcap")
    p = wine.tool("msiexec", "/i", winpath(msi), "/qn")
    assert p.returncode == 0, p.stderr
    try:
        for f in ("netcap-extcap.exe", "netcap/README.txt", "netcap/licenses/curl.txt"):
            assert os.path.isfile(os.path.join(extcap, f)), f
        # The installed extcap answers Wireshark, and its help link is the installed README.
        p = wine.run_exe(r"C:\Program Files\Wireshark\extcap\netcap-extcap.exe",
                         "--extcap-interfaces")
        assert p.returncode == 0, p.stderr
        assert "{help=file:///C:/Program%20Files/Wireshark/extcap/netcap/README.txt}" in p.stdout
    finally:
        p = wine.tool("msiexec", "/x", winpath(msi), "/qn")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(extcap, "netcap-extcap.exe"))
    assert not os.path.exists(os.path.join(extcap, "netcap", "README.txt"))


def test_wine_msiexec_follows_wiresharks_app_paths_entry(wine, msi):
    os.makedirs(drive_c(wine, "Tools", "WS"), exist_ok=True)
    p = wine.tool("reg", "add", APP_PATHS, "/v", "Path", "/t", "REG_SZ", "/d", r"C:\Tools\WS",
                  "/f", "/reg:64")
    assert p.returncode == 0, p.stderr
    try:
        p = wine.tool("msiexec", "/i", winpath(msi), "/qn")
        assert p.returncode == 0, p.stderr
        assert os.path.isfile(drive_c(wine, "Tools", "WS", "extcap", "netcap-extcap.exe"))
        assert not os.path.exists(drive_c(wine, "Program Files", "Wireshark", "extcap",
                                          "netcap-extcap.exe"))
        p = wine.tool("msiexec", "/x", winpath(msi), "/qn")
        assert p.returncode == 0, p.stderr
        assert not os.path.exists(drive_c(wine, "Tools", "WS", "extcap", "netcap-extcap.exe"))
    finally:
        wine.tool("reg", "delete", APP_PATHS, "/f", "/reg:64")
