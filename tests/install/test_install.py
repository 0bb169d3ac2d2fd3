"""The .deb packages, installed on this machine and used as a user would, then removed.

Builds netcap-wireshark and netcap-agent with CPack from this source tree (prefix /usr, as
`make package`), checks them with lintian, installs them with dpkg, and then, from the installed
files alone: tshark as an unprivileged user with an empty HOME lists "Kubernetes pod capture" and
loads the plugin; a capture through the installed /usr/sbin/netcap-agent in a stand-in pod
(scripts/lab.py, its own subnet) gives the pod's packets with their k8s fields; the global
"Kubernetes" profile works. Both packages are purged at the end, whatever happened, and nothing is
left behind. Run by ctest as `package_install`, after the e2e suite (never beside it: while the
packages are installed, a global netcap-extcap exists).
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import lab as labmod  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

EXTCAP = "/usr/lib/x86_64-linux-gnu/wireshark/extcap/netcap-extcap"
PLUGIN = "/usr/lib/x86_64-linux-gnu/wireshark/plugins/4.0/epan/netcap.so"
PROFILE = "/usr/share/wireshark/profiles/Kubernetes/colorfilters"
AGENT = "/usr/sbin/netcap-agent"
PACKAGES = ("netcap-wireshark", "netcap-agent")


def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def build_packages(subdir, generator, pattern, *cmake_args):
    """Configure and build this tree with prefix /usr into <build>/subdir, run CPack's generator
    there, and return {package name: the one file matching pattern.format(name=...)}."""
    out = os.path.join(os.environ.get("NETCAP_BUILD_DIR", os.path.join(REPO, "build")), subdir)
    for cmd in (["cmake", "-S", REPO, "-B", out, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                 "-DCMAKE_INSTALL_PREFIX=/usr", "-DBUILD_TESTING=OFF", *cmake_args],
                ["cmake", "--build", out, "-j2"]):
        p = run(cmd)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for name in PACKAGES:
        for old in glob.glob(os.path.join(out, pattern.format(name=name))):
            os.remove(old)
    p = run(["cpack", "-G", generator], cwd=out)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    found = {name: glob.glob(os.path.join(out, pattern.format(name=name))) for name in PACKAGES}
    assert all(len(v) == 1 for v in found.values()), found
    return {k: v[0] for k, v in found.items()}


@pytest.fixture(scope="module")
def debs():
    return build_packages("pkg-test", "DEB", "{name}_*_amd64.deb")


@pytest.fixture(scope="module")
def installed(debs):
    for name in PACKAGES:
        assert run(["dpkg-query", "-W", name]).returncode != 0, f"{name} is already installed"
    try:
        p = run(["dpkg", "-i", *debs.values()])
        assert p.returncode == 0, p.stdout + p.stderr
        yield debs
    finally:
        run(["dpkg", "--purge", *PACKAGES])
    for path in (EXTCAP, PLUGIN, PROFILE, AGENT, "/etc/default/netcap-agent",
                 "/usr/lib/systemd/system/netcap-agent.service"):
        assert not os.path.exists(path), f"{path} is left after purging the packages"


def test_lintian_finds_no_errors(debs):
    p = run(["lintian", "--fail-on", "error,warning", *debs.values()])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "E:" not in p.stdout and "W:" not in p.stdout, p.stdout


def test_packages_hold_what_they_should(installed):
    for path in (EXTCAP, PLUGIN, PROFILE, AGENT, "/etc/default/netcap-agent",
                 "/usr/lib/systemd/system/netcap-agent.service"):
        assert os.path.isfile(path), path
    p = run(["dpkg-query", "-W", "-f", "${Depends}", "netcap-wireshark"])
    assert "libwireshark16 (<< 4.1)" in p.stdout, p.stdout
    p = run(["dpkg-query", "-W", "-f", "${Conffiles}", "netcap-agent"])
    assert "/etc/default/netcap-agent" in p.stdout, p.stdout
    p = run(["systemd-analyze", "verify", "/usr/lib/systemd/system/netcap-agent.service"])
    assert "netcap-agent.service" not in p.stderr or "error" not in p.stderr.lower(), p.stderr


@pytest.fixture(scope="module")
def home():
    d = tempfile.mkdtemp(prefix="netcap-install-home-")
    os.chmod(d, 0o755)
    os.chown(d, labmod.NOBODY, labmod.NOBODY)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_user(home, args, env=None, timeout=120):
    e = {"HOME": home, "PATH": labmod.TOOL_PATH, "LANG": "C.UTF-8", **(env or {})}
    return run(["setpriv", f"--reuid={labmod.NOBODY}", f"--regid={labmod.NOBODY}", "--clear-groups",
                "env", "-i", *[f"{k}={v}" for k, v in e.items()], *args], timeout=timeout)


def test_wireshark_finds_extcap_and_plugin(installed, home):
    p = as_user(home, ["tshark", "-D"])
    assert "netcap-extcap (Kubernetes pod capture)" in p.stdout, p.stdout + p.stderr
    p = as_user(home, ["tshark", "-G", "plugins"])
    assert PLUGIN in p.stdout and "netcap-extcap" in p.stdout, p.stdout


def test_capture_through_the_installed_agent(installed, home):
    d = tempfile.mkdtemp(prefix="netcap-install-lab-")
    lb = labmod.Lab(d, tag=f"inst{os.getpid()}", subnet_index=5, temporary=True)
    fake = os.path.join(d, "installed")
    os.makedirs(os.path.join(fake, "agent"))
    os.symlink(AGENT, os.path.join(fake, "agent", "netcap-agent"))
    try:
        lb.up()
        lb.start_agent(fake)
        for name in ("ca", "token"):
            shutil.copy2(lb.state["files"][name], os.path.join(home, name))
            os.chown(os.path.join(home, name), labmod.NOBODY, labmod.NOBODY)
        out = os.path.join(home, "installed.pcapng")
        env = {"NETCAP_AGENT_URL": lb.agent_url, "NETCAP_CA_FILE": os.path.join(home, "ca"),
               "NETCAP_TOKEN_FILE": os.path.join(home, "token"), "NETCAP_NAMESPACE": "shop",
               "NETCAP_POD": "frontend"}
        pinger = subprocess.Popen(lb.exec_argv("frontend", "ping", "-c", "60", "-i", "0.2", "-q",
                                               lb.pod_ip("backend")), stdout=subprocess.DEVNULL)
        try:
            p = as_user(home, ["tshark", "-i", "netcap-extcap", "-f", "icmp", "-c", "4", "-w", out],
                        env=env)
        finally:
            pinger.kill()
            pinger.wait()
        assert p.returncode == 0, p.stdout + p.stderr
        p = as_user(home, ["tshark", "-r", out, "-C", "Kubernetes", "-T", "fields", "-e", "k8s.pod",
                           "-e", "k8s.peer.pod", "-e", "ip.src_host"])
        assert p.returncode == 0 and "not found" not in p.stderr.lower(), p.stderr
        rows = [line.split("\t") for line in p.stdout.splitlines()]
        assert len(rows) == 4 and all(r[:2] == ["frontend", "backend"] for r in rows), rows
        # the global profile turns on name resolution from the capture's name records
        assert {r[2] for r in rows} == {"frontend.shop", "backend.shop"}, rows
    finally:
        lb.down()
        shutil.rmtree(d, ignore_errors=True)


def test_wireshark_gui_lists_and_opens_the_options_dialog(installed, home):
    """The installed Wireshark (Qt, under Xvfb, as nobody) shows "Kubernetes pod capture" on its
    welcome page and opens the extcap's options dialog from the gear; the two screenshots are kept
    under <build>/artifacts/gui/."""
    import gui

    # every other interface hidden with Wireshark's own preference, so ours is the one row
    p = as_user(home, ["tshark", "-D"])
    names = [line.split(". ", 1)[1].split(" ")[0] for line in p.stdout.splitlines()
             if ". " in line]
    assert "netcap-extcap" in names, p.stdout
    conf = os.path.join(home, ".config", "wireshark")
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "preferences"), "w") as f:
        f.write("capture.devices_hide: " + ",".join(n for n in names if n != "netcap-extcap")
                + "\n")
    for d in (os.path.join(home, ".config"), conf):
        os.chown(d, labmod.NOBODY, labmod.NOBODY)
    os.chown(os.path.join(conf, "preferences"), labmod.NOBODY, labmod.NOBODY)

    out = os.path.join(os.environ.get("NETCAP_BUILD_DIR", os.path.join(REPO, "build")),
                       "artifacts", "gui")
    for old in glob.glob(os.path.join(out, "*.png")):
        os.remove(old)
    seen = gui.capture_screens(out, ["setpriv", f"--reuid={labmod.NOBODY}",
                                     f"--regid={labmod.NOBODY}", "--clear-groups"], home)
    assert seen["main_window"] and seen["dialog"], seen
    # the gear row spans the interface list, and the dialog is a real dialog, not a stub window
    assert seen["row"][2] - seen["row"][0] > 300, seen
    assert seen["dialog_size"][0] >= 400 and seen["dialog_size"][1] >= 400, seen
    for name in ("interface-list.png", "options-dialog.png"):
        path = os.path.join(out, name)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
        assert os.path.getsize(path) > 10000, path


def test_rpm_metadata_and_layout():
    """The .rpm packages (CPack, laid out for Fedora/RHEL's /usr/lib64) as rpm -qip/-qlp show
    them: names, license, dependencies on the matching Wireshark, the files and nothing of the
    filesystem's own directories, the agent's config file and systemd scriptlets."""
    rpms = build_packages("rpm-test", "RPM", "{name}-0.1.0-1.x86_64.rpm",
                          "-DCMAKE_INSTALL_LIBDIR=lib64", "-DNETCAP_WS_LIBDIR=lib64/wireshark")

    def q(rpm, *args):
        p = run(["rpm", "-qp", *args, rpm])
        assert p.returncode == 0, p.stderr
        return p.stdout

    for name, rpm in rpms.items():
        info = q(rpm, "-i")
        for want in (f"Name        : {name}", "Version     : 0.1.0", "License     : GPL-2.0-or-later",
                     "Architecture: x86_64"):
            assert want in info, info
        assert "Relocations" not in info or "(not relocatable)" in info, info
        files = set(q(rpm, "-l").split())
        owned_system_dirs = files & {"/etc", "/etc/default", "/usr", "/usr/sbin", "/usr/lib64",
                                     "/usr/share", "/usr/share/man", "/usr/share/man/man8",
                                     "/usr/lib/systemd/system", "/usr/share/wireshark"}
        assert not owned_system_dirs, owned_system_dirs
    ws_files = set(q(rpms["netcap-wireshark"], "-l").split())
    assert {"/usr/lib64/wireshark/extcap/netcap-extcap",
            "/usr/lib64/wireshark/plugins/4.0/epan/netcap.so",
            "/usr/share/wireshark/profiles/Kubernetes/colorfilters"} <= ws_files, ws_files
    requires = q(rpms["netcap-wireshark"], "--requires")
    assert "wireshark-cli >= 4.0" in requires and "wireshark-cli < 4.1" in requires, requires
    agent = rpms["netcap-agent"]
    assert {"/usr/sbin/netcap-agent", "/usr/lib/systemd/system/netcap-agent.service",
            "/usr/share/man/man8/netcap-agent.8.gz"} <= set(q(agent, "-l").split())
    assert "/etc/default/netcap-agent" in q(agent, "-c").split()  # %config(noreplace)
    scripts = q(agent, "--scripts")
    for part in ("postinstall", "preuninstall", "postuninstall", "daemon-reload",
                 "disable --now netcap-agent.service"):
        assert part in scripts, scripts
