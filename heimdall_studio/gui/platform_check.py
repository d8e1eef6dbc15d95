"""Can Qt open a window here? Asked in a child process, because a platform plugin that cannot be
loaded makes Qt abort the whole process (SIGABRT, exit code 134), which no ``try`` can catch.

``python -m heimdall_studio.gui.platform_check`` creates a QGuiApplication and exits 0; the
parent side (:func:`qt_platform_problem`) imports no Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def qt_platform_problem(timeout_s: float = 30.0) -> str:
    """ "" when Qt can open a window on this display; otherwise what went wrong and what to do."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "heimdall_studio.gui.platform_check"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(os.environ),
        )
    except subprocess.TimeoutExpired:
        return f"Qt did not open its display connection within {timeout_s:.0f} s."
    if done.returncode == 0:
        return ""
    missing = missing_xcb_libraries()
    if missing:
        return (
            f"Qt's X11 (xcb) platform plugin cannot load: these system libraries are missing: "
            f"{', '.join(missing)}. On Debian or Ubuntu: sudo apt-get install "
            f"{' '.join(debian_package(lib) for lib in missing)} (or run `make install` as root)."
        )
    said = [line.strip() for line in done.stderr.splitlines() if line.strip() and "qt.qpa" in line]
    why = " ".join(said[:2]) or f"exit code {done.returncode}"
    return (
        f"Qt cannot open a window on this display ({why}). Check DISPLAY/WAYLAND_DISPLAY, "
        "or set QT_QPA_PLATFORM=offscreen to run without a screen."
    )


def missing_xcb_libraries() -> list[str]:
    """The shared libraries Qt's xcb plugin links to that the system lacks (per ``ldd``), in order."""
    plugin = _qt_plugins_dir() / "platforms" / "libqxcb.so"
    if not plugin.is_file() or shutil.which("ldd") is None:
        return []
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)))


def debian_package(soname: str) -> str:
    """Debian's name for the package of a library: ``libxcb-icccm.so.4`` → ``libxcb-icccm4``,
    ``libxkbcommon-x11.so.0`` → ``libxkbcommon-x11-0`` (a dash when the name ends in a digit)."""
    match = re.fullmatch(r"(lib.+)\.so\.(\d+)(?:\..*)?", soname)
    if not match:
        return soname
    name, major = match.groups()
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def _qt_plugins_dir() -> Path:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent")
    return Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins"


def _open_display() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])
    return 0 if app.primaryScreen() is not None else 3


if __name__ == "__main__":
    sys.exit(_open_display())
