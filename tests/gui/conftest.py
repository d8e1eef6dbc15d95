"""GUI fixtures: the real main window, tiny model files, and guards against leaked workers,
Netron servers and top-level widgets."""

from __future__ import annotations

import time
from pathlib import Path

import PySide6.QtWebEngineWidgets  # noqa: F401  # must be imported before the QApplication exists
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

# The real MLflow server and S3 endpoint (session-wide), for the browser and push tests.
from tests.integration.conftest import mlflow_server, names, remote, s3_endpoint  # noqa: F401

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TINY_CLASS = "tests.support.tiny_models:TwoHeadNet"
TINY_INPUT = "x:batch,3,16,8:float32"


def _flush_deletes() -> None:
    import gc

    for _ in range(3):
        gc.collect()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QCoreApplication.processEvents()


def _running_workers() -> set:
    from superqt.utils._qthreading import WorkerBase

    return set(WorkerBase._worker_set)


def _netron_servers() -> list:
    import sys

    server = sys.modules.get("netron.server")
    return server._threads() if server is not None else []


def _describe(widget) -> str:
    children = ",".join(c.metaObject().className() for c in widget.children())[:120]
    return f"{widget.metaObject().className()}({widget.objectName()!r}; children: {children})"


def _library_owned(widget) -> bool:
    """pyqtgraph's parentless context menus (and the pop-ups inside them), marked by gui.plots."""
    from heimdall_studio.gui.plots import LIBRARY_OWNED

    while widget is not None:
        if widget.property(LIBRARY_OWNED):
            return True
        widget = widget.parentWidget()
    return False


@pytest.fixture(autouse=True)
def _no_leaked_gui_state(qapp):
    """Fail a test that leaves a superqt worker running, a Netron server alive, or a window behind."""
    from heimdall_studio.gui.app import create_application

    create_application()  # the theme, on pytest-qt's QApplication
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    deadline = time.monotonic() + 5.0
    while (_running_workers() or _netron_servers()) and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    _flush_deletes()
    problems = []
    if _running_workers():
        problems.append(f"superqt workers still running: {_running_workers()}")
    if _netron_servers():
        problems.append(f"Netron servers still serving: {[t.url for t in _netron_servers()]}")
        for thread in _netron_servers():
            thread.stop()
    leaked = [w for w in QApplication.topLevelWidgets() if id(w) not in before and not _library_owned(w)]
    if leaked:
        problems.append(f"top-level widgets left behind: {[_describe(w) for w in leaked]}")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def window(qtbot, monkeypatch):
    """The real main window, shown; closed at the end (a running engine is cancelled)."""
    from heimdall_studio.gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.parity.plot is not None and win.latency.live_plot is not None, timeout=10000)
    yield win
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    if win.isVisible():
        win.close()
    win.stop_run_and_wait()
    win.deleteLater()
    _flush_deletes()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A Heimdall-layout checkpoint of TwoHeadNet that names its input and outputs."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "two_head.pt"
    torch.save(
        {
            "epoch": 3,
            "model_state_dict": TwoHeadNet().state_dict(),
            "heimdall": {
                "inputs": [{"name": "x", "shape": ["batch", 3, 16, 8], "dtype": "float32"}],
                "outputs": ["positions", "uncertainties"],
            },
        },
        path,
    )
    return path


@pytest.fixture(scope="session")
def plain_state_dict(tmp_path_factory) -> Path:
    """A bare state dict: the GUI has to ask for the model class and the input spec."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    path = tmp_path_factory.mktemp("models") / "bare_two_head.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path


def quick_options(win) -> None:
    """Small parity and benchmark settings, typed into the form as a user would."""
    win.options.exporter.setCurrentText("torchscript")
    win.options.parity_batches.setValue(3)
    win.options.parity_batch_size.setValue(4)
    win.options.iterations.setValue(30)
    win.options.warmup.setValue(3)
    win.options.batch_sizes.setText("1, 4")


def screenshot(widget, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    widget.grab().save(str(path))
    return path


def wait_for_run(qtbot, win, timeout_ms: int = 180000):
    qtbot.waitUntil(lambda: win.run is None, timeout=timeout_ms)


def visible_text(root) -> str:
    """Every text a user can see in ``root``: labels, line edits (as shown), placeholders, lists."""
    from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QListWidget

    parts = []
    for widget in [root, *root.findChildren(QWidget)]:
        if isinstance(widget, QLabel):
            parts.append(widget.text())
        elif isinstance(widget, QLineEdit):
            parts.append(widget.displayText())
            parts.append(widget.placeholderText())
        elif isinstance(widget, QAbstractButton):
            parts.append(widget.text())
        elif isinstance(widget, QListWidget):
            parts.extend(widget.item(i).text() for i in range(widget.count()))
        parts.append(widget.toolTip())
    return "\n".join(parts)


def modal_dialog(qtbot, kind, timeout_ms: int = 10000):
    """The modal dialog of type ``kind`` once it is shown."""
    found = []

    def shown() -> bool:
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind) and widget.isVisible():
            found.append(widget)
            return True
        return False

    qtbot.waitUntil(shown, timeout=timeout_ms)
    return found[0]
