"""Entry points of the desktop app: ``main`` opens the window, ``display_available`` tells
whether there is a screen to open it on.

Start-up stays light: only Qt and the window's own modules are imported before the
first paint; plots, Netron and everything heavy follow once the window is visible, and
torch/onnxruntime/mlflow never load in this process (the engine child process does that).
"""

from __future__ import annotations

import time

_PROCESS_T0 = time.monotonic()  # before the Qt imports: time-to-first-paint counts from here

import os  # noqa: E402
import sys  # noqa: E402


def display_available() -> bool:
    """True when a window can be shown: an X11/Wayland display, or Qt's offscreen platform."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _process_start_monotonic() -> float:
    """When this process started, on the monotonic clock (psutil when available)."""
    try:
        import psutil

        age_s = time.time() - psutil.Process().create_time()
        return time.monotonic() - age_s
    except Exception:  # psutil missing or /proc unreadable: the module import time is close
        return _PROCESS_T0


def create_application(argv: list[str] | None = None):
    """The QApplication, created once, with QtWebEngine initialised first (it must be)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Chromium refuses to sandbox as root: the Graph view would die
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags.split():
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401  # must precede QApplication
    except ImportError:
        pass  # the Graph view falls back to "Open in browser"
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("Heimdall Studio")
        app.setOrganizationName("Heimdall")
        app.setDesktopFileName("heimdall-studio")
    from heimdall_studio.gui.icons import app_icon
    from heimdall_studio.gui.theme import apply_theme

    app.setWindowIcon(app_icon())
    apply_theme(app)
    return app


def main(source: str | None = None, smoke_test: bool = False) -> int:
    """Open the main window (with ``source`` loaded when given) and run until it closes.

    With ``smoke_test`` the window is shown, the first paint is awaited, "first paint
    after N ms" (from process start) is printed and 0 is returned.
    """
    if not display_available():
        print("No display: set DISPLAY or WAYLAND_DISPLAY, or QT_QPA_PLATFORM=offscreen.", file=sys.stderr)
        return 2
    app = create_application()
    from heimdall_studio.gui.main_window import MainWindow

    window = MainWindow()
    started = _process_start_monotonic()
    if smoke_test:
        window.first_painted.connect(lambda: _report_first_paint(started, app))
    window.show()
    if source:
        window.open_source(source)
    code = app.exec()
    window.deleteLater()
    return code


def _report_first_paint(started: float, app) -> None:
    print(f"first paint after {(time.monotonic() - started) * 1000:.0f} ms", flush=True)
    app.quit()
