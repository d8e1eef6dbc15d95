"""Per-node parity with real torch and ONNX Runtime: the first divergence names the module whose
weights differ between the PyTorch reference and the exported file."""

from __future__ import annotations

import json

import pytest

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.per_node import per_node_step
from heimdall_studio.core.specs import ParityOptions, PerNodeOptions
from tests.support.cli_run import cli
from tests.unit.conftest import run_step, tiny_two_head_model

PERTURBED = "uncertainty_head.0"  # after every position_head node in topological order
TINY_ARGS = ("--model-class", "tests.support.tiny_models:TwoHeadNet", "--input", "x:batch,3,16,8:float32")


def perturbed_model():
    """The seed-0 TwoHeadNet the fixtures exported, with one Linear's weights changed."""
    import torch

    model = tiny_two_head_model()
    with torch.no_grad():
        model.module.get_submodule(PERTURBED).weight.mul_(1.5)
    return model


def per_node(model, onnx_path, **options):
    return run_step(
        per_node_step(model.module, onnx_path, model.inputs, PerNodeOptions(**options), ParityOptions(), CancelToken())
    )


@pytest.mark.parametrize("fixture", ["tiny_export", "tiny_export_dynamo"])
def test_first_divergence_is_the_module_whose_weights_changed(fixture, request):
    _, export = request.getfixturevalue(fixture)
    events, result = per_node(perturbed_model(), export.onnx_path)
    first = result.first_divergence
    assert first is not None and first["module"] == PERTURBED
    assert first["op_type"] == "Gemm" and first["max_rel"] > 1e-3 and first["max_abs"] > 0
    by_module = {node["module"]: node for node in result.nodes}
    assert all(by_module[m]["max_rel"] < 1e-5 for m in ("conv", "position_head.0", "position_head.2"))
    assert by_module["uncertainty_head.2"]["max_rel"] > 1e-3  # the error flows downstream
    assert any(PERTURBED in getattr(event, "message", "") for event in events)
    if fixture == "tiny_export_dynamo":  # the dynamo exporter records the calling line
        assert "tiny_models.py:" in first["source"] and "uncertainty_head" in first["source"]
    else:
        assert first["source"] is None
        assert first["onnx_node"] == f"/uncertainty_head/{PERTURBED}/Gemm"


def test_matching_model_reports_no_divergence(tiny_export_dynamo):
    model, export = tiny_export_dynamo
    _, result = per_node(tiny_two_head_model(), export.onnx_path)
    assert result.first_divergence is None
    assert result.compared == 8 and result.unmatched == 0
    assert all(node["max_rel"] < 1e-5 for node in result.nodes)
    assert set(result.to_dict()) >= {"compared", "threshold", "first_divergence", "nodes"}
    assert set(result.nodes[0]) == {"onnx_node", "op_type", "module", "max_abs", "max_rel"}


def test_chunks_bound_the_extra_outputs_of_every_session(tiny_export, monkeypatch):
    import onnxruntime as ort

    outputs_per_session = []
    real_session = ort.InferenceSession

    class CountingSession(real_session):  # the real session; it only notes how many outputs it has
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            outputs_per_session.append(len(self.get_outputs()))

    monkeypatch.setattr(ort, "InferenceSession", CountingSession)
    _, export = tiny_export
    _, small = per_node(perturbed_model(), export.onnx_path, chunk_size=2)
    model_outputs = 2
    assert small.chunks >= 4 and len(outputs_per_session) == small.chunks
    assert max(outputs_per_session) <= model_outputs + 2 and small.max_extra_outputs <= 2
    outputs_per_session.clear()
    _, whole = per_node(perturbed_model(), export.onnx_path, chunk_size=64)
    assert whole.chunks == 1 and max(outputs_per_session) > model_outputs + 2
    assert small.nodes == whole.nodes and small.first_divergence == whole.first_divergence


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_onnx_source_against_a_reference_through_the_cli(exporter, request, tmp_path):
    import torch

    _, export = request.getfixturevalue("tiny_export" if exporter == "torchscript" else "tiny_export_dynamo")
    reference = tmp_path / "reference.pt"
    torch.save(perturbed_model().module.state_dict(), reference)
    report = tmp_path / "report.json"
    # Loose output tolerances: the outputs pass while a node diverges, and the report says so.
    loose = ("--atol", "100", "--mean-atol", "100") if exporter == "dynamo" else ()
    result = cli(
        "run",
        str(export.onnx_path),
        "--reference",
        str(reference),
        *TINY_ARGS,
        "--per-node",
        "--skip-bench",
        "--batches",
        "1",
        "--report",
        str(report),
        *loose,
    )
    per_node_section = json.loads(report.read_text())["per_node"]
    assert per_node_section["first_divergence"]["module"] == PERTURBED, result.stdout + result.stderr
    assert f"First divergence (node rtol 0.001): module {PERTURBED}" in result.stdout
    if loose:
        assert result.returncode == 0 and per_node_section["outputs_passed"] is True
        assert "final outputs still pass parity" in result.stdout
    else:
        assert result.returncode != 0  # parity itself fails: the perturbation reaches an output


def test_per_node_without_a_pytorch_model_is_skipped_with_the_reason(tiny_export, tmp_path):
    _, export = tiny_export
    result = cli("run", str(export.onnx_path), "--per-node", "--skip-bench", "--report", str(tmp_path / "r.json"))
    assert "per_node" in result.stdout and "--reference SOURCE" in result.stdout, result.stdout + result.stderr


def test_bad_node_rtol_is_bad_input(tiny_export):
    from tests.support.cli_run import assert_bad_input

    _, export = tiny_export
    assert_bad_input(cli("run", str(export.onnx_path), "--per-node", "--node-rtol", "0"), "--node-rtol")


def test_inspection_options_survive_the_trip_to_the_engine_process():
    from heimdall_studio.core.specs import OpProfileOptions
    from heimdall_studio.engine.request import PipelineRequest

    request = PipelineRequest(
        source="m.onnx",
        steps=("load", "per_node", "op_profile"),
        html_path="r.html",
        per_node=PerNodeOptions(rtol=0.01, chunk_size=4),
        op_profile=OpProfileOptions(runs=3),
    )
    assert PipelineRequest.from_json(request.to_json()) == request
