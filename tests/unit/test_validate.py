"""Validate step: checker, shape inference and an ONNX Runtime session as gates."""

from __future__ import annotations

import shutil

import onnx
import pytest
from onnx import TensorProto, helper

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, CancelledError
from heimdall_studio.core.specs import TensorSpec
from heimdall_studio.core.validate import read_onnx_io, validate_step
from tests.unit.conftest import run_step


def _graph_model(path, node, opsets):
    graph = helper.make_graph(
        [node],
        "handmade",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets]), path)
    return path


def test_an_exported_model_passes_and_is_described(tiny_export):
    _, export = tiny_export
    _, result = run_step(validate_step(export.onnx_path, CancelToken()))
    data = result.to_dict()
    assert result.passed and data["errors"] == []
    assert data["inputs"] == [{"name": "x", "shape": ["batch", 3, 16, 8], "dtype": "float32"}]
    assert [o["name"] for o in data["outputs"]] == ["positions", "uncertainties"]
    assert data["outputs"][0]["shape"] == ["batch", 2]
    assert data["opsets"] == {"": 14} and data["ir_version"] > 0 and data["producer_name"] == "pytorch"
    assert data["op_histogram"]["Conv"] == 1 and data["node_count"] == sum(data["op_histogram"].values())
    conv_bytes = (8 * 3 * 3 * 3 + 8) * 4
    assert data["initializer_bytes"] > conv_bytes and data["initializer_count"] == 10
    assert data["checks"] == {"checker": True, "shape_inference": True, "onnxruntime": True}


def test_an_operator_onnxruntime_cannot_run_fails_the_gate(tmp_path):
    path = _graph_model(
        tmp_path / "mystery.onnx",
        helper.make_node("Mystery", ["x"], ["y"], domain="com.example"),
        [("", 18), ("com.example", 1)],
    )
    _, result = run_step(validate_step(path, CancelToken()))
    assert not result.passed and result.checks["checker"] and not result.checks["onnxruntime"]
    assert len(result.errors) == 1 and "ONNX Runtime" in result.errors[0] and "Mystery" in result.errors[0]
    assert result.op_histogram == {"com.example::Mystery": 1}


def test_a_graph_the_checker_rejects_fails_the_gate(tmp_path):
    path = _graph_model(tmp_path / "dangling.onnx", helper.make_node("Relu", ["nowhere"], ["y"]), [("", 18)])
    _, result = run_step(validate_step(path, CancelToken()))
    assert not result.passed and not result.checks["checker"]
    assert result.errors[0].startswith("onnx.checker rejects the model")


def test_a_truncated_file_is_bad_input(tmp_path, tiny_export):
    data = open(tiny_export[1].onnx_path, "rb").read()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="not a readable ONNX model"):
        run_step(validate_step(path, CancelToken()))


def test_missing_external_data_is_bad_input(tmp_path, tiny_model):
    from heimdall_studio.core.export import export_step
    from heimdall_studio.core.specs import ExportOptions

    _, export = run_step(
        export_step(
            tiny_model, tmp_path, ExportOptions(exporter="torchscript"), CancelToken(), external_data_threshold=0
        )
    )
    _, result = run_step(validate_step(export.onnx_path, CancelToken()))
    assert result.passed and result.external_data_files == ["tiny.onnx.data"]
    assert result.initializer_bytes > (8 * 3 * 3 * 3 + 8) * 4
    shutil.move(export.data_path, tmp_path / "elsewhere.data")
    with pytest.raises(BadInputError, match="tiny.onnx.data, which is missing"):
        run_step(validate_step(export.onnx_path, CancelToken()))


def test_read_onnx_io(tiny_export):
    inputs, outputs = read_onnx_io(tiny_export[1].onnx_path)
    assert inputs == [TensorSpec("x", ("batch", 3, 16, 8), "float32")]
    assert [o.name for o in outputs] == ["positions", "uncertainties"]


def test_cancel_between_checks(tiny_export):
    cancel = CancelToken()
    steps = validate_step(tiny_export[1].onnx_path, cancel)
    next(steps)
    cancel.cancel()
    with pytest.raises(CancelledError):
        run_step(steps)
