"""Start-up: the window paints before anything heavy loads, and layout survives a restart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.gui.conftest import SCREENSHOTS

ROOT = Path(__file__).resolve().parents[2]

SMOKE = """
import sys
from heimdall_studio.gui.app import main
code = main(smoke_test=True)
heavy = [m for m in ("torch", "onnxruntime", "mlflow", "onnx") if m in sys.modules]
print("heavy modules:", ",".join(heavy) or "none")
sys.exit(code)
"""


def test_smoke_test_paints_first_and_never_imports_torch(tmp_path):
    env = dict(os.environ, HEIMDALL_CONFIG_DIR=str(tmp_path / "config"), HEIMDALL_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", SMOKE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"first paint after (\d+) ms", done.stdout)
    assert match, done.stdout
    assert "heavy modules: none" in done.stdout, done.stdout
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "first_paint.txt").write_text(match.group(0) + "\n")
    print(f"\n{match.group(0)}")


def test_layout_and_recent_files_survive_a_restart(qtbot, monkeypatch):
    from PySide6.QtWidgets import QDockWidget

    from heimdall_studio.gui.main_window import MainWindow

    first = MainWindow()
    first.show()
    qtbot.waitExposed(first)
    first.docks["Log"].setFloating(False)
    first.docks["Log"].hide()
    first.settings.setValue("recent/files", ["/models/a.pt", "/models/b.onnx"])
    assert first.close()
    first.deleteLater()
    qtbot.wait(50)

    second = MainWindow()
    second.show()
    qtbot.waitExposed(second)
    assert isinstance(second.docks["Log"], QDockWidget) and not second.docks["Log"].isVisible()
    assert second.recent_files() == ["/models/a.pt", "/models/b.onnx"]
    assert [a.data() for a in second.source_panel.recent_menu.actions()] == ["/models/a.pt", "/models/b.onnx"]
    qtbot.waitUntil(lambda: second.profile_label.text() != "")
    assert second.profile_label.text().startswith("Profile: embedded")
    assert second.close()
    second.deleteLater()
