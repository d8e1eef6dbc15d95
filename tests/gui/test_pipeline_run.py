"""One end-to-end run with the real engine on a tiny model: open → recognise → Run → every view
holds real values → Netron shows the graph → closing stops the server."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import SCREENSHOTS, TINY_CLASS, quick_options, screenshot, wait_for_run


class StallMeter:
    """How late a 10 ms timer fires on the UI thread: the longest event-loop stall."""

    def __init__(self):
        self.worst_ms = 0.0
        self.ticks = 0
        self._last = None
        self._timer = QTimer(interval=10)
        self._timer.timeout.connect(self._tick)

    def start(self):
        self._last = time.monotonic()
        self._timer.start()

    def stop(self):
        self._timer.stop()

    def _tick(self):
        now = time.monotonic()
        self.worst_ms = max(self.worst_ms, (now - self._last - 0.010) * 1000)
        self._last = now
        self.ticks += 1


def test_open_run_and_inspect_every_view(window, qtbot, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tiny_checkpoint), ""))
    window.source_panel.model_class.setText(TINY_CLASS)
    window.open_action.trigger()  # Ctrl+O: the same path as the dialog
    wait_for_run(qtbot, window)

    panel = window.source_panel
    assert panel.recognised, panel.error.message_label.text()
    assert "TwoHeadNet" in panel.architecture.text()
    assert int(panel.parameters.text().replace(",", "")) > 0
    assert panel.inputs.rowCount() == 1 and panel.inputs.item(0, 1).text() == "batch,3,16,8"
    assert window.recent_files()[0] == str(tiny_checkpoint)

    quick_options(window)
    meter = StallMeter()
    meter.start()
    started = time.monotonic()
    window.run_action.trigger()  # Ctrl+R
    assert window.run is not None
    wait_for_run(qtbot, window)
    meter.stop()
    run_s = time.monotonic() - started
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "ui_stall.txt").write_text(
        f"longest UI stall during a pipeline run: {meter.worst_ms:.1f} ms over {meter.ticks} ticks, run {run_s:.1f} s\n"
    )
    print(f"\nlongest UI stall {meter.worst_ms:.1f} ms over a {run_s:.1f} s run")

    assert window.session.status == "passed", window.pipeline.error.message_label.text()
    rows = window.pipeline.rows
    assert all(
        rows[s].state_name == "passed" for s in ("load", "export", "validate", "parity", "benchmark", "metadata")
    )
    assert rows["export"].elapsed.text().endswith(" s")

    tensors = window.validation.tensors
    names = {(tensors.cell_text(r, 0), tensors.cell_text(r, 1)) for r in range(tensors.rowCount())}
    assert names == {("input", "x"), ("output", "positions"), ("output", "uncertainties")}
    assert window.validation.ir_version.text().isdigit()
    assert len(window.validation.sha256.text()) == 64
    assert window.validation.ops.rowCount() > 0

    parity, model = window.parity, window.run_model
    assert set(model.parity) == {"positions", "uncertainties"}
    assert model.parity["positions"].max_abs.size >= 3
    window.docks["Parity"].raise_()  # plots draw while they are shown
    qtbot.waitUntil(lambda: len(parity._curves) == 2)
    xs, ys = parity._curves["positions"][0].getOriginalDataset()
    assert len(xs) >= 3 and all(y > 0 for y in ys)
    assert parity.table.rowCount() == 2 and parity.table.cell_text(0, 5) == "pass"

    latency = window.latency
    timed = {key: s.timed.size for key, s in model.latency.items()}
    assert timed[("onnxruntime", "cpu", 1)] == 30 and timed[("pytorch", "cpu", 4)] == 30
    window.docks["Latency"].raise_()
    qtbot.waitUntil(lambda: len(latency._curves) == len(model.latency))
    _, ys = latency._curves[("onnxruntime", "cpu", 1)][1].getOriginalDataset()
    assert len(ys) == 30 and min(ys) > 0
    cpu = latency.cpu.table
    assert cpu.rowCount() == 4
    assert all(float(cpu.cell_text(r, 2)) > 0 for r in range(cpu.rowCount()))
    gpu_entries = [e for e in latency.entries if e["device"] == "cuda"]
    if gpu_entries and not any(e.get("available", True) for e in gpu_entries):
        assert latency.gpu.unavailable.isVisible() and "Not measured" in latency.gpu.unavailable.text()

    graph = window.graph
    assert graph.address is None  # Netron starts only when its tab is shown
    window.docks["Graph"].raise_()
    qtbot.waitUntil(lambda: graph.address is not None)
    assert Path(graph.model_path).suffix == ".onnx"
    nodes: list[int] = []

    def graph_drawn() -> bool:
        graph.count_nodes(nodes.append)
        return bool(nodes) and (nodes[-1] or 0) > 0

    qtbot.waitUntil(graph_drawn, timeout=30000)

    for title in ("Validation", "Parity", "Latency", "Graph"):
        window.docks[title].raise_()
        qtbot.wait(200 if title != "Graph" else 500)
        screenshot(window, f"main-{title.lower()}")
    screenshot(window.pipeline, "pipeline-panel")

    push_and_promote(window, qtbot)
    assert "promote:" in window.log.plain_text() and "staging" in window.log.plain_text()
    width = window.width()
    address = graph.address

    # A bad file after a good run and a push: every view says what is true now.
    bad = tiny_checkpoint.parent / "not_a_model.pt"
    bad.write_text("this is not a checkpoint")
    window.open_source(str(bad))
    wait_for_run(qtbot, window)
    qtbot.wait(300)  # the views' next redraw
    from heimdall_studio.gui.theme import FAIL_COLOR

    assert "could not be opened" in window.pipeline.status.text()
    assert FAIL_COLOR in window.pipeline.status.styleSheet()
    assert window.validation.verdict.text() == "—" and window.validation.opset.text() == "—"
    assert window.push_panel.stored_at.text() == "—" and window.push_panel.version.text() == "—"
    assert not window.push_panel.push_button.isEnabled()
    assert str(bad) not in window.recent_files() and window.recent_files()[0] == str(tiny_checkpoint)
    assert all(card.figure.text() == "" for card in window.summary.cards.values() if card.step != "load"), [
        c.figure.text() for c in window.summary.cards.values()
    ]
    assert window.width() == width  # the Graph tab opened earlier did not shrink the window
    screenshot(window, "after-bad-file")

    import netron

    assert graph.address is None  # another source: the last graph's server stopped
    qtbot.waitUntil(lambda: not netron.status(address), timeout=5000)
    window.close()


def push_and_promote(window, qtbot, shot: str = "main-registry") -> None:
    """Push through the button (on the active profile), then promote to Staging with the dialog."""
    from PySide6.QtWidgets import QApplication

    from heimdall_studio.gui.dialogs.promote_dialog import PromoteDialog

    push = window.push_panel
    assert push.push_button.isEnabled() and push.push_button.text() == "Push"
    push.push_button.click()
    wait_for_run(qtbot, window)
    assert "version 1" in push.version.text(), push.error.message_label.text()
    assert push.stored_at.text() not in ("", "—")
    registry = window.registry
    qtbot.waitUntil(lambda: not registry.busy and len(registry.versions) == 1, timeout=60000)
    assert len(registry.versions[0]["sha256"]) == 64
    window.docks["Registry"].raise_()

    def fill_in_and_accept():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, PromoteDialog)
        dialog.note.setPlainText("parity and latency checked in the GUI test")
        dialog.accept()

    QTimer.singleShot(200, fill_in_and_accept)
    registry.promote_buttons["staging"].click()
    qtbot.waitUntil(lambda: not registry.busy and registry.status.text() == "1 version(s)", timeout=60000)
    promoted = registry.versions[0]
    assert "staging" in promoted["aliases"] or promoted["stage"] == "Staging", promoted
    tags = {registry.tags.cell_text(r, 0): registry.tags.cell_text(r, 1) for r in range(registry.tags.rowCount())}
    assert tags.get("heimdall.promotion_note") == "parity and latency checked in the GUI test", sorted(tags)
    qtbot.wait(200)
    screenshot(window, shot)
