"""The Explorer view after a run whose export diverges on purpose: Model Explorer draws the graph
(WebGL in software, offscreen) with error, time and provider overlays; the node table lists the first
divergence first and selected; a clicked row shows its numbers; the split view loads two graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from heimdall_studio.gui import graph_overlays as ov
from heimdall_studio.gui.graph_overlays import selected_node_from_url
from tests.gui.conftest import TINY_CLASS, screenshot, wait_for_run

PERTURBED = "uncertainty_head.0"  # after every position_head node in topological order


@pytest.fixture(scope="module")
def diverging(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(export at opset 14, the same model at opset 17, a reference checkpoint whose PERTURBED
    Linear has other weights than the exported files)."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    folder = tmp_path_factory.mktemp("explorer")
    torch.manual_seed(0)
    model = TwoHeadNet().eval()
    paths = []
    for opset in (14, 17):
        path = folder / f"two_head_opset{opset}.onnx"
        torch.onnx.export(
            model,
            (torch.randn(1, 3, 16, 8),),
            str(path),
            input_names=["x"],
            output_names=["positions", "uncertainties"],
            dynamic_axes={"x": {0: "batch"}},
            dynamo=False,
            opset_version=opset,
        )
        paths.append(path)
    with torch.no_grad():
        model.get_submodule(PERTURBED).weight.mul_(1.5)
    reference = folder / "reference.pt"
    torch.save(
        {
            "model_state_dict": model.state_dict(),
            "heimdall": {
                "inputs": [{"name": "x", "shape": ["batch", 3, 16, 8], "dtype": "float32"}],
                "outputs": ["positions", "uncertainties"],
            },
        },
        reference,
    )
    return paths[0], paths[1], reference


class _UrlCatcher(QObject):
    """Qt's own hook for where QDesktopServices sends a URL: here instead of the user's browser."""

    def __init__(self):
        super().__init__()
        self.urls: list[Path] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(Path(url.toLocalFile()))


def _js(qtbot, explorer, script: str, page: int = 0):
    got = []
    explorer.run_js(script, got.append, page)
    qtbot.waitUntil(lambda: bool(got), timeout=10000)
    return got[0]


def test_explorer_overlays_node_table_and_split_view(window, qtbot, diverging):
    onnx, other, reference = diverging
    window.resize(1600, 1100)
    window.open_source(str(onnx))
    wait_for_run(qtbot, window)
    window.source_panel.reference.setText(str(reference))
    window.source_panel.model_class.setText(TINY_CLASS)
    options = window.options
    options.parity_batches.setValue(1)
    options.parity_batch_size.setValue(1)
    options.iterations.setValue(5)
    options.warmup.setValue(1)
    options.batch_sizes.setText("1")
    options.per_node.setChecked(True)
    options.op_profile.setChecked(True)
    options.op_profile_runs.setValue(3)
    window.run_pipeline()
    wait_for_run(qtbot, window)
    report = window.run_model.report
    assert "per_node" in report, (report.get("status"), report.get("errors"), window.run_model.planned, sorted(report))
    first = report["per_node"]["first_divergence"]
    assert first["module"] == PERTURBED, report.get("errors")
    assert report["op_profile"]["nodes"]

    # The HTML report was written beside the export, and File → Open report opens it.
    page = Path(window.report_html())
    assert page.name == f"{onnx.stem}.report.html" and page.is_file()
    assert window.report_action.isEnabled()
    opened = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        window.report_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert opened.urls == [page]

    explorer = window.explorer
    assert explorer.isVisible()  # the run had per-node data: its view came to the front
    qtbot.waitUntil(lambda: explorer.loaded, timeout=120000)
    assert _js(qtbot, explorer, "document.body.innerText.indexOf('WebGL') < 0")  # no "WebGL unavailable"
    explorer.webgl_available(lambda ok: setattr(explorer, "_webgl_ok", ok))
    qtbot.waitUntil(lambda: hasattr(explorer, "_webgl_ok"), timeout=10000)
    assert explorer._webgl_ok is True

    # The first divergence: first row, selected, its numbers shown, and selected in the graph.
    assert explorer.rows[0].onnx_node == first["onnx_node"] and explorer.rows[0].first
    assert explorer.table.selectionModel().selectedRows()[0].row() == 0
    assert explorer.details["ONNX node"].text() == first["onnx_node"]
    assert explorer.details["Module"].text() == PERTURBED
    qtbot.waitUntil(lambda: selected_node_from_url(explorer.web.url().toString()) == first["onnx_node"], timeout=20000)
    # Model Explorer's side panel lists the three overlays by name.
    qtbot.waitUntil(lambda: "Relative error" in _js(qtbot, explorer, "document.body.innerText"), timeout=20000)
    assert "> 0.001 (diverged)" in explorer.legend.text()
    qtbot.wait(1500)  # the next frames: the graph centred on the node
    screenshot(window, "explorer-first-divergence")
    screenshot(explorer, "explorer-first-divergence-view")

    # The other two overlays: time share on a gradient, and the execution provider of each node.
    for overlay, shot in (
        (ov.TIME_OVERLAY, "explorer-time-overlay"),
        (ov.PROVIDER_OVERLAY, "explorer-provider-overlay"),
    ):
        explorer.colour_by.setCurrentText(overlay)
        qtbot.waitUntil(lambda: not explorer.loaded, timeout=5000)
        qtbot.waitUntil(lambda: explorer.loaded, timeout=60000)
        label = overlay.split(" (")[0]
        qtbot.waitUntil(lambda label=label: label in _js(qtbot, explorer, "document.body.innerText"), timeout=20000)
        qtbot.waitUntil(
            lambda: selected_node_from_url(explorer.web.url().toString()) == first["onnx_node"], timeout=20000
        )
        qtbot.wait(1500)
        screenshot(explorer, shot)
    assert "CPU" in explorer.legend.text() and "diverged" not in explorer.legend.text()

    # A click on another row: its numbers in the details pane, and the graph selects it.
    timed = next(i for i, r in enumerate(explorer.rows) if r.mean_us is not None and not r.first)
    row = explorer.rows[timed]
    rect = explorer.table.visualRect(explorer.table.model().index(timed, 0))
    qtbot.mouseClick(explorer.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert explorer.details["ONNX node"].text() == row.onnx_node
    assert explorer.details["Mean time"].text() == f"{row.mean_us:.1f} µs"
    assert explorer.details["Provider"].text() == "CPUExecutionProvider"
    qtbot.waitUntil(lambda: selected_node_from_url(explorer.web.url().toString()) == row.onnx_node, timeout=20000)

    # Split view: the same model at another opset, beside this one.
    explorer.set_compare(str(other))
    qtbot.waitUntil(lambda: not explorer.loaded, timeout=5000)
    qtbot.waitUntil(lambda: explorer.loaded, timeout=120000)
    assert explorer.web2.isVisible()
    shown = "document.body.innerText"
    qtbot.waitUntil(lambda: other.name in _js(qtbot, explorer, shown, page=1), timeout=30000)
    assert onnx.name in _js(qtbot, explorer, shown)  # each page its own file
    # Synchronised: a row picked in the table selects the same node in both graphs.
    top = explorer.rows[0].onnx_node
    explorer.select_node(top)
    for web in (explorer.web, explorer.web2):
        qtbot.waitUntil(lambda w=web: selected_node_from_url(w.url().toString()) == top, timeout=20000)
    qtbot.wait(1500)
    screenshot(explorer, "explorer-split-view")
