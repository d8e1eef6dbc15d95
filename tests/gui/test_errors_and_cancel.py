"""What a user meets when things go wrong: a bad file, a state dict that needs help,
cancelling a long export, and closing the window while the engine works."""

from __future__ import annotations

import time
import warnings

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.gui.conftest import TINY_CLASS, screenshot, wait_for_run


def drop_file(widget, path) -> None:
    """Deliver a real QDropEvent with a file URL, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with warnings.catch_warnings():  # PySide marks the only QDragEnterEvent constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused a file drag"
    event = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def test_bad_file_then_a_dropped_state_dict_that_needs_a_class_and_inputs(window, qtbot, tmp_path, plain_state_dict):
    bad = tmp_path / "notes.pt"
    bad.write_text("this is not a checkpoint")
    window.open_source(str(bad))
    wait_for_run(qtbot, window)
    banner = window.source_panel.error
    assert banner.isVisible() and not window.source_panel.recognised
    assert banner.message_label.text() and "Traceback" not in banner.message_label.text()
    assert QApplication.activeModalWidget() is None  # no traceback dialog
    screenshot(window, "error-bad-file")

    drop_file(window, plain_state_dict)  # the app is still usable: drop the next file
    assert window.session.source == str(plain_state_dict)
    wait_for_run(qtbot, window)
    assert banner.isVisible() and "Model class field" in banner.hint_label.text()
    assert "--" not in banner.hint_label.text(), "hints speak of the app's controls, not CLI flags"

    window.source_panel.model_class.setText(TINY_CLASS)
    window.source_panel.model_kwargs.setText("{width: 8}")  # not JSON: said at once, nothing runs
    window.source_panel.reload_button.click()
    assert "Model arguments are not valid JSON" in banner.message_label.text() and window.run is None
    window.source_panel.model_kwargs.setText('{"width": 8, "hidden": 16}')
    window.source_panel.reload_button.click()
    wait_for_run(qtbot, window)
    if not window.source_panel.recognised:  # the loader asked for the input spec as well
        assert "input" in (banner.message_label.text() + banner.hint_label.text()).lower()
        table = window.source_panel.inputs
        if table.rowCount() == 0:
            table.add_row()
        table.item(0, 0).setText("x")
        table.item(0, 1).setText("batch,3,16,8")
        window.source_panel.reload_button.click()
        wait_for_run(qtbot, window)
    assert window.source_panel.recognised, banner.message_label.text()
    assert not banner.isVisible()
    assert "TwoHeadNet" in window.source_panel.architecture.text()


@pytest.fixture
def slow_export_state_dict(tmp_path):
    import torch

    from tests.support.tiny_models import SlowExportNet

    path = tmp_path / "slow.pt"
    torch.save(SlowExportNet().state_dict(), path)
    return path


def test_cancel_during_export_then_close_while_running(window, qtbot, slow_export_state_dict, monkeypatch):
    panel = window.source_panel
    panel.model_class.setText("tests.support.tiny_models:SlowExportNet")
    panel.inputs.add_row()
    panel.inputs.item(0, 0).setText("x")
    panel.inputs.item(0, 1).setText("batch,4")
    window.open_source(str(slow_export_state_dict))
    wait_for_run(qtbot, window)
    if not panel.recognised:  # a new source forgets edited inputs: type them again and retry
        if panel.inputs.rowCount() == 0:
            panel.inputs.add_row()
        panel.inputs.item(0, 0).setText("x")
        panel.inputs.item(0, 1).setText("batch,4")
        panel.reload_button.click()
        wait_for_run(qtbot, window)
    assert panel.recognised, panel.error.message_label.text()
    window.options.exporter.setCurrentText("torchscript")  # the slow part is its tracing

    window.run_action.trigger()
    export = window.pipeline.rows["export"]
    qtbot.waitUntil(lambda: export.state_name == "running", timeout=60000)
    qtbot.wait(500)
    asked = time.monotonic()
    window.cancel_action.trigger()  # Esc
    assert "Cancelling" in window.pipeline.status.text()
    wait_for_run(qtbot, window, timeout_ms=15000)
    took = time.monotonic() - asked
    assert window.session.status == "cancelled"
    assert export.state_name == "cancelled"
    assert window.pipeline.status.text().startswith("Cancelled")
    assert window.session.onnx_path == "" and window.graph.address is None
    assert not window.push_panel.push_button.isEnabled()
    print(f"\ncancel took {took:.1f} s")
    screenshot(window.pipeline, "pipeline-cancelled")

    window.run_action.trigger()
    qtbot.waitUntil(lambda: export.state_name == "running", timeout=60000)
    asked_to_confirm = []

    def answer_yes(*args, **kwargs):
        asked_to_confirm.append(args[1] if len(args) > 1 else "")
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_yes)
    engine = window.run
    assert window.close()
    assert asked_to_confirm and window.run is None and engine.result.status == "cancelled"
    assert not window.isVisible()
