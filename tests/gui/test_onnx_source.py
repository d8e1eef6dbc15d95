"""An existing .onnx file: inspected on open (Validation and Graph, no run), with a reference for parity."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.conftest import screenshot, wait_for_run


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    import torch

    from tests.support.tiny_models import TwoHeadNet

    path = tmp_path_factory.mktemp("onnx") / "two_head.onnx"
    torch.onnx.export(
        TwoHeadNet().eval(),
        (torch.randn(1, 3, 16, 8),),
        str(path),
        input_names=["x"],
        output_names=["positions", "uncertainties"],
        dynamo=False,
        opset_version=14,
    )
    return path


def test_opening_an_onnx_file_shows_validation_and_graph_without_a_run(window, qtbot, tiny_onnx):
    window.open_source(str(tiny_onnx))
    wait_for_run(qtbot, window)
    assert window.run_model.purpose == "load" and window.run_model.passed("validate")
    qtbot.wait(300)  # the views' next redraw
    assert window.validation.verdict.text() == "passed"
    assert window.validation.opset.text() == "ai.onnx 14"
    tensors = window.validation.tensors
    assert {tensors.cell_text(r, 1) for r in range(tensors.rowCount())} == {"x", "positions", "uncertainties"}
    assert "passed" in window.summary.cards["validate"].verdict.text()
    assert window.source_panel.reference.isVisibleTo(window.source_panel)  # parity needs a PyTorch model
    window.docks["Graph"].raise_()
    qtbot.waitUntil(lambda: window.graph.address is not None, timeout=30000)
    assert window.graph.model_path == str(tiny_onnx)
    nodes: list[int] = []
    qtbot.waitUntil(lambda: (window.graph.count_nodes(nodes.append), bool(nodes) and nodes[-1] > 0)[1], timeout=30000)
    qtbot.wait(1500)  # the web view's next frame: the drawn graph, not Netron's spinner
    screenshot(window, "onnx-source-graph")


def test_the_reference_and_register_again_controls_reach_the_engine(
    window, qtbot, tiny_onnx, monkeypatch, tiny_checkpoint
):
    window.open_source(str(tiny_onnx))
    wait_for_run(qtbot, window)
    window.source_panel.reference.setText(str(tiny_checkpoint))
    request = window.build_request(("load", "validate", "parity"))
    assert request.reference == str(tiny_checkpoint)  # the CLI's --reference

    captured = {}
    monkeypatch.setattr(type(window.session), "can_push", property(lambda self: True))
    monkeypatch.setattr(window, "_start_run", lambda steps, purpose, **extra: captured.update(extra) or True)
    window.push_panel.force.setChecked(True)
    window.push_model()
    assert captured["push"]["force"] is True  # the CLI's --force
