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


SOFTWARE_WEBGL_FLAGS = [
    "--ignore-gpu-blocklist",
    "--enable-unsafe-swiftshader",
    "--use-gl=angle",
    "--use-angle=swiftshader",
]


def chromium_flags(environ: dict[str, str] | None = None) -> str:
    """QTWEBENGINE_CHROMIUM_FLAGS with what this process needs added to the user's own flags.

    Chromium refuses to start its sandbox as root (the Graph tab's renderer then dies and takes
    the app with it): as root, --no-sandbox. Offscreen there is no GPU: Model Explorer draws with
    WebGL, which then needs Chromium's software GL (SwiftShader through ANGLE), else its page says
    WebGL is unavailable."""
    environ = os.environ if environ is None else environ
    flags = environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
    wanted = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        wanted.append("--no-sandbox")
    if environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        wanted += SOFTWARE_WEBGL_FLAGS
    return " ".join(flags + [flag for flag in wanted if flag not in flags])


def create_application(argv: list[str] | None = None):
    """The QApplication, created once. QtWebEngine is imported later, when the Graph view first needs
    it: AA_ShareOpenGLContexts, set before the QApplication exists, is what a late import needs."""
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = chromium_flags()
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


def main(source: str | None = None, smoke_test: bool = False, self_test: bool = False) -> int:
    """Open the main window (with ``source`` loaded when given) and run until it closes.

    With ``smoke_test`` the window is shown, the first paint is awaited, "first paint
    after N ms" (from process start) is printed and 0 is returned. With ``self_test``
    the whole pipeline runs on ``source`` at the app's defaults (see ``gui.self_test``)
    and the pipeline's exit code is returned.
    """
    if not display_available():
        print("No display: set DISPLAY or WAYLAND_DISPLAY, or QT_QPA_PLATFORM=offscreen.", file=sys.stderr)
        return 2
    if self_test and not source:
        print("--self-test needs a SOURCE: e.g. heimdall-studio gui demo.pt --self-test", file=sys.stderr)
        return 2
    started = _process_start_monotonic()
    app = create_application()
    from heimdall_studio.gui.main_window import MainWindow

    window = MainWindow()
    driver = None
    if smoke_test:
        window.first_painted.connect(lambda: _report_first_paint(started, app))
    elif self_test:
        from heimdall_studio.gui.self_test import SelfTest

        driver = SelfTest(window, source, started)
    window.show()
    if source and not self_test:
        window.open_source(source)
    code = app.exec()
    if driver is not None:
        code = driver.exit_code
    _dispose(window)
    return code


def _dispose(window) -> None:
    """Delete the window (and its web page) before the QApplication goes: QtWebEngine warns
    "Release of profile requested but WebEnginePage still not deleted" otherwise."""
    from PySide6.QtCore import QCoreApplication, QEvent

    window.graph.dispose()
    window.explorer.dispose()
    window.deleteLater()
    for _ in range(3):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()


def _report_first_paint(started: float, app) -> None:
    print(f"first paint after {(time.monotonic() - started) * 1000:.0f} ms", flush=True)
    app.quit()
