"""The app's own icons, the About dialog, the Graph view as root, and the Qt platform probe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QStyle

from tests.gui.conftest import modal_dialog, screenshot

ROOT = Path(__file__).resolve().parents[2]


def _image(icon, size: int = 24):
    return icon.pixmap(size, size).toImage()


def test_actions_window_and_panels_use_the_apps_own_icons(window):
    from heimdall_studio.gui.icons import APP_ICON_SIZES, action_icon, app_icon

    style = window.style()
    for action, name, standard in (
        (window.open_action, "open", QStyle.StandardPixmap.SP_DialogOpenButton),
        (window.run_action, "run", QStyle.StandardPixmap.SP_MediaPlay),
        (window.cancel_action, "cancel", QStyle.StandardPixmap.SP_MediaStop),
    ):
        assert not action_icon(name).isNull()
        assert _image(action.icon()) == _image(action_icon(name)), name
        assert _image(action.icon()) != _image(style.standardIcon(standard)), name
    assert _image(window.push_panel.push_button.icon()) == _image(action_icon("push"))
    assert _image(window.registry.promote_buttons["staging"].icon()) == _image(action_icon("promote"))
    assert _image(window.pipeline.run_button.icon()) == _image(action_icon("run"))
    assert _image(window.source_panel.open_button.icon()) == _image(action_icon("open"))
    assert sorted(s.width() for s in app_icon().availableSizes()) == list(APP_ICON_SIZES)
    assert _image(window.windowIcon(), 48) == _image(app_icon(), 48)
    assert _image(QApplication.windowIcon(), 48) == _image(app_icon(), 48)
    with pytest.raises(ValueError, match="run, cancel"):
        action_icon("rocket")


def test_help_about_shows_versions_folders_providers_and_copies_them(window, qtbot):
    from importlib.metadata import version

    from PySide6.QtCore import Qt

    from heimdall_studio.gui.dialogs.about_dialog import AboutDialog

    help_menu = [m for m in window.menuBar().actions() if m.text() == "&Help"]
    assert help_menu and window.about_action in help_menu[0].menu().actions()
    seen = {}

    def look():
        dialog = modal_dialog(qtbot, AboutDialog)
        qtbot.waitUntil(dialog.providers_known, timeout=60000)
        seen["text"] = dialog.report_text()
        screenshot(dialog, "about_dialog")
        qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
        seen["clipboard"] = QApplication.clipboard().text()
        dialog.reject()

    QTimer.singleShot(0, look)
    window.about_action.trigger()  # Help → About Heimdall Studio (modal until look() closes it)
    text = seen["text"]
    for line in (
        f"torch: {version('torch')}",
        f"onnx: {version('onnx')}",
        f"onnxruntime: {version('onnxruntime')}",
        f"mlflow: {version('mlflow')}",
        "Heimdall Studio: 0.1.0",
        "Qt: 6.",
        f"Data folder: {os.environ['HEIMDALL_DATA_DIR']}",
        f"Config folder: {os.environ['HEIMDALL_CONFIG_DIR']}",
    ):
        assert line in text, line
    assert "ONNX Runtime providers: " in text and "CPUExecutionProvider" in text
    assert seen["clipboard"] == text


ABOUT_ALONE = """
import sys
from heimdall_studio.gui.app import create_application
app = create_application()
from PySide6.QtCore import QTimer
from heimdall_studio.gui.dialogs.about_dialog import AboutDialog
dialog = AboutDialog()
dialog.show()
def poll():
    if dialog.providers_known():
        app.quit()
    else:
        QTimer.singleShot(50, poll)
poll()
QTimer.singleShot(60000, app.quit)
app.exec()
print(dialog.report_text())
print("heavy modules:", ",".join(m for m in ("torch", "onnxruntime", "mlflow") if m in sys.modules) or "none")
dialog.done(0)
"""


def test_the_about_dialog_imports_no_heavy_library_in_the_window_process(tmp_path):
    done = subprocess.run([sys.executable, "-c", ABOUT_ALONE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CPUExecutionProvider" in done.stdout, done.stdout
    assert "heavy modules: none" in done.stdout, done.stdout


SANDBOX_FLAGS = """
import os
from heimdall_studio.gui.app import create_application
create_application()
print("flags:", os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", ""))
"""


@pytest.mark.parametrize("given", ["--disable-gpu", "", "--no-sandbox --disable-gpu", "--lang=de"])
def test_as_root_the_app_turns_off_chromiums_sandbox_itself(given):
    env = dict(os.environ, QTWEBENGINE_CHROMIUM_FLAGS=given)
    done = subprocess.run(
        [sys.executable, "-c", SANDBOX_FLAGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    flags = done.stdout.split("flags:", 1)[1].split()
    assert flags[: len(given.split())] == given.split()  # the user's own flags first, untouched
    assert len(flags) == len(set(flags))  # nothing twice
    assert ("--no-sandbox" in flags) == (os.geteuid() == 0 or "--no-sandbox" in given.split())
    assert "--use-angle=swiftshader" in flags  # offscreen (as in these tests) WebGL draws in software


def test_the_graph_view_draws_as_root_without_the_user_setting_no_sandbox(tmp_path, demo_onnx):
    env = {k: v for k, v in os.environ.items() if k != "QTWEBENGINE_CHROMIUM_FLAGS"}
    env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--disable-gpu"
    shot = tmp_path / "graph.png"
    done = subprocess.run(
        [sys.executable, "-m", "heimdall_studio.gui.graph_check", str(demo_onnx), "--screenshot", str(shot)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "nodes drawn" in done.stdout and shot.stat().st_size > 10000


@pytest.fixture(scope="module")
def demo_onnx(tmp_path_factory) -> Path:
    """A small ONNX file (TwoHeadNet exported with the torchscript exporter)."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    path = tmp_path_factory.mktemp("onnx") / "two_head.onnx"
    torch.onnx.export(
        TwoHeadNet().eval(),
        (torch.zeros(1, 3, 16, 8),),
        str(path),
        dynamo=False,
        input_names=["x"],
        output_names=["positions", "uncertainties"],
    )
    return path
