"""Drive the real Wireshark GUI under Xvfb: the interface list and the extcap options dialog.

Used by test_install.py against the installed packages. Wireshark runs as the given user with
its own HOME, on a private X display (Xvfb, no TCP listener). Every other interface is hidden
with Wireshark's own preference (capture.devices_hide), so "Kubernetes pod capture" is the one
row of the welcome page's interface list, and selected. Its row is found from the selection
colour in a screenshot, and a click on the row's first column (the gear Wireshark draws for an
extcap with options) opens the options dialog, which is found by its window title.
"""
import os
import subprocess
import time

MAIN_TITLE = "The Wireshark Network Analyzer"
DIALOG_TITLE = "Interface Options: Kubernetes pod capture"


class GuiError(AssertionError):
    pass


def _xdotool(display, *args, timeout=10):
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=timeout,
                          env={"DISPLAY": display, "PATH": "/usr/bin:/bin"})


def _wait_window(display, title, timeout):
    """The id of a visible window whose name contains title, or None after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p = _xdotool(display, "search", "--onlyvisible", "--name", title)
        ids = p.stdout.split()
        if ids:
            return ids[-1]
        time.sleep(0.3)
    return None


def _grab(display, win=None):
    """The whole screen (or one window: a dialog shows black in a root grab here, without a
    compositing window manager) as ((width, height, rgb bytes), ppm), from xwd and netpbm."""
    xwd = subprocess.run(["xwd", *(["-id", win] if win else ["-root"]), "-silent", "-display",
                          display], capture_output=True, timeout=30, check=True).stdout
    pnm = subprocess.run(["xwdtopnm"], input=xwd, capture_output=True, timeout=30,
                         check=True).stdout
    pnm = subprocess.run(["pamdepth", "255"], input=pnm, capture_output=True, timeout=30,
                         check=True).stdout
    return _parse_ppm(pnm), pnm


def _parse_ppm(data):
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval (whitespace and comments between)
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P6" or fields[3] != b"255":
        raise GuiError(f"unexpected screenshot format {fields[0]!r} maxval {fields[3]!r}")
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + 3 * w * h]


def _save_png(pnm, path):
    png = subprocess.run(["pnmtopng"], input=pnm, capture_output=True, timeout=30,
                         check=True).stdout
    with open(path, "wb") as f:
        f.write(png)


def _selected_row(shot, region):
    """Bounding box (x0, y0, x1, y1) of the largest run of the selection colour (a saturated
    blue, as Qt's Fusion style paints a selected item) inside region (x0, y0, x1, y1)."""
    w, _h, rgb = shot
    rows = {}
    for y in range(region[1], region[3]):
        base = y * w * 3
        xs = [x for x in range(region[0], region[2])
              if _is_selection(rgb[base + 3 * x], rgb[base + 3 * x + 1], rgb[base + 3 * x + 2])]
        if len(xs) > 200:  # a row across the list, not an icon
            rows[y] = (xs[0], xs[-1])
    if not rows:
        return None
    ys = sorted(rows)
    # the first contiguous band of such lines is the selected row
    band = [ys[0]]
    for y in ys[1:]:
        if y != band[-1] + 1:
            break
        band.append(y)
    return rows[band[0]][0], band[0], rows[band[0]][1], band[-1]


def _painted(shot):
    """Whether at most half of the image's sampled pixels are black."""
    w, h, rgb = shot
    samples = black = 0
    for y in range(0, h, 7):
        for x in range(0, w, 7):
            i = 3 * (y * w + x)
            samples += 1
            black += rgb[i] < 16 and rgb[i + 1] < 16 and rgb[i + 2] < 16
    return samples > 0 and black * 2 < samples


def _is_selection(r, g, b):
    return b > 150 and b - r > 80 and g < b - 20


def capture_screens(outdir, run_as, home, timeout=60):
    """Start Wireshark under Xvfb as run_as (a list of argv prefix words, e.g. setpriv ...), take
    outdir/interface-list.png and outdir/options-dialog.png, and return a dict of what was seen.
    Raises GuiError with what went wrong."""
    os.makedirs(outdir, exist_ok=True)
    display = f":{100 + os.getpid() % 400}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp",
                             "-noreset"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ws = None
    seen = {}
    try:
        end = time.monotonic() + 15
        while not os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"):
            if time.monotonic() > end or xvfb.poll() is not None:
                raise GuiError(f"Xvfb did not start on {display}")
            time.sleep(0.1)
        runtime = os.path.join(home, ".runtime")  # Qt wants its own 0700 directory
        os.makedirs(runtime, mode=0o700, exist_ok=True)
        st = os.stat(home)
        os.chown(runtime, st.st_uid, st.st_gid)
        env = {"DISPLAY": display, "HOME": home, "LANG": "C.UTF-8",
               "PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": runtime,
               "QT_QPA_PLATFORMTHEME": "", "QT_STYLE_OVERRIDE": "Fusion"}
        log = open(os.path.join(outdir, "wireshark.log"), "w")
        ws = subprocess.Popen([*run_as, "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                               "wireshark"], stdout=log, stderr=subprocess.STDOUT)
        win = _wait_window(display, MAIN_TITLE, timeout)
        if not win:
            raise GuiError(f"the Wireshark main window did not open within {timeout} s")
        seen["main_window"] = win
        _xdotool(display, "windowmove", "--sync", win, "0", "0")
        _xdotool(display, "windowsize", "--sync", win, "1024", "760")
        # the extcap list is filled from the extcaps' answers after the window shows
        row = None
        end = time.monotonic() + timeout
        while row is None and time.monotonic() < end:
            time.sleep(1)
            shot, pnm = _grab(display)
            row = _selected_row(shot, (0, 150, 1024, 700))
        if row is None:
            _save_png(pnm, os.path.join(outdir, "interface-list.png"))
            raise GuiError("no selected interface row on the welcome page")
        _xdotool(display, "mousemove", "--sync", str(row[0] + 24), str(row[3] + 10))
        time.sleep(0.5)
        shot, pnm = _grab(display)
        _save_png(pnm, os.path.join(outdir, "interface-list.png"))
        seen["row"] = row
        # the gear: the first column of the row
        _xdotool(display, "mousemove", "--sync", str(row[0] + 12), str((row[1] + row[3]) // 2),
                 "click", "1")
        dialog = _wait_window(display, DIALOG_TITLE, 30)
        if not dialog:
            shot, pnm = _grab(display)
            _save_png(pnm, os.path.join(outdir, "options-dialog.png"))
            raise GuiError(f"no window titled {DIALOG_TITLE!r} after clicking the gear")
        seen["dialog"] = dialog
        # the dialog is mapped before Qt paints it (and fills it from --extcap-config): wait
        # until its area is mostly not black
        end = time.monotonic() + 30
        while True:
            time.sleep(1)
            shot, pnm = _grab(display, dialog)
            if _painted(shot) or time.monotonic() > end:
                break
        _save_png(pnm, os.path.join(outdir, "options-dialog.png"))
        if not _painted(shot):
            raise GuiError("the options dialog opened but was never painted")
        seen["dialog_size"] = shot[:2]
        return seen
    finally:
        if ws:
            ws.terminate()
            try:
                ws.wait(10)
            except subprocess.TimeoutExpired:
                ws.kill()
                ws.wait()
        xvfb.terminate()
        xvfb.wait()
