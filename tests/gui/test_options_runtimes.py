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
