"""Options → Benchmark: the runtimes and OpenVINO's precision reach BenchmarkOptions."""

from __future__ import annotations

import pytest

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import OPENVINO_PRECISIONS, BenchmarkOptions
from heimdall_studio.gui.panels.options_form import OptionsForm


def test_runtimes_and_openvino_precision_become_benchmark_options(qtbot):
    form = OptionsForm()
    qtbot.addWidget(form)
    default = form.benchmark_options()
    assert default.runtimes == BenchmarkOptions().runtimes and default.openvino_precision == "auto"
    assert [form.openvino_precision.itemText(i) for i in range(form.openvino_precision.count())] == list(
        OPENVINO_PRECISIONS
    )
    form.runtimes["openvino"].setChecked(True)
    form.runtimes["tensorrt"].setChecked(True)
    form.openvino_precision.setCurrentText("f32")
    chosen = form.benchmark_options()
    assert chosen.runtimes == ("pytorch", "onnxruntime", "openvino", "tensorrt") and chosen.openvino_precision == "f32"
    for box in form.runtimes.values():
        box.setChecked(False)
    with pytest.raises(BadInputError, match="No benchmark runtime is selected"):
        form.benchmark_options()


def test_a_run_with_openvino_shows_its_parity_beside_onnx_runtimes(window, qtbot, tiny_checkpoint):
    """The real app with OpenVINO ticked: the Parity view lists OpenVINO's error per output (with the
    precision it computed in) and its verdict beside ONNX Runtime's; the Latency view measured it."""
    from tests.gui.conftest import TINY_CLASS, quick_options, wait_for_run

    window.source_panel.model_class.setText(TINY_CLASS)
    window.open_source(str(tiny_checkpoint))
    wait_for_run(qtbot, window)
    quick_options(window)
    window.options.iterations.setValue(5)
    window.options.runtimes["openvino"].setChecked(True)
    window.run_pipeline()
    wait_for_run(qtbot, window, timeout_ms=300000)
    report = window.run_model.report
    assert report.get("status") == "passed", report.get("errors")
    openvino = report["parity"]["runtimes"]["openvino"]
    label = f"openvino ({openvino['precision']})"
    window.docks["Parity"].raise_()
    names = [window.parity.table.cell_text(r, 0) for r in range(window.parity.table.rowCount())]
    assert names == ["positions", "uncertainties", f"positions — {label}", f"uncertainties — {label}"]
    assert f"{label}: {'passed' if openvino['passed'] else 'FAILED'}" in window.parity.verdict.text()
    assert any(e["runtime"] == "openvino" and e.get("available") for e in report["benchmark"]["entries"])
