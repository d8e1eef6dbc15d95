"""Export step: real exports of tiny models with both exporters."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, CancelledError, ErrorKind
from heimdall_studio.core.events import Log, Progress
from heimdall_studio.core.export import export_step
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.core.specs import ExportOptions, TensorSpec
from tests.support.tiny_models import MultiInputNet, TwoHeadNet
from tests.unit.conftest import run_step


class RealFft(torch.nn.Module):
    """aten::fft_rfft: the torchscript exporter has no symbolic for it."""

    def forward(self, x):
        return torch.fft.rfft(x).abs()


class MatrixInverse(torch.nn.Module):
    """aten::linalg_inv_ex: the dynamo exporter has no ONNX function for it."""

    def forward(self, x):
        return torch.linalg.inv(x)


def _export(model, out_dir, **options):
    threshold = options.pop("external_data_threshold", None)
    extra = {} if threshold is None else {"external_data_threshold": threshold}
    return run_step(export_step(model, out_dir, ExportOptions(**options), CancelToken(), **extra))


def _batch_dim(path):
    return onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[0]


def _onnx_files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fixture", ["tiny_export", "tiny_export_dynamo"])
def test_both_exporters_write_a_model_with_a_dynamic_batch(fixture, request):
    model, result = request.getfixturevalue(fixture)
    exporter, opset = {"tiny_export": ("torchscript", 14), "tiny_export_dynamo": ("dynamo", 18)}[fixture]
    assert (result.exporter, result.opset) == (exporter, opset)
    assert result.input_names == ["x"] and result.output_names == ["positions", "uncertainties"]
    assert _batch_dim(result.onnx_path).dim_param == "batch"
    session = ort.InferenceSession(result.onnx_path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["positions", "uncertainties"]
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 16, 8)).astype(np.float32)
        positions, uncertainties = session.run(None, {"x": x})
        with torch.inference_mode():
            expected = model.module(torch.from_numpy(x))
        assert positions.shape == (batch, 2) and uncertainties.shape == (batch, 2)
        np.testing.assert_allclose(positions, expected[0].numpy(), atol=1e-5)
    assert result.size_bytes > 0 and not result.external_data
    assert result.to_dict()["onnx_path"] == result.onnx_path


def test_export_reports_progress_busy_then_done(tmp_path, tiny_model):
    events, _ = _export(tiny_model, tmp_path, exporter="torchscript")
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].total == 0 and progress[-1].done == progress[-1].total == 1


def test_fixed_batch_when_dynamic_batch_is_off(tmp_path, tiny_model):
    _, result = _export(tiny_model, tmp_path, exporter="torchscript", dynamic_batch=False)
    assert _batch_dim(result.onnx_path).dim_value == 1


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_multi_input_dict_output_names_come_from_the_dict(tmp_path, exporter):
    model = LoadedModel(
        kind="checkpoint",
        module=MultiInputNet().eval(),
        source="multi.pt",
        inputs=[TensorSpec("signal", ("batch", 4)), TensorSpec("mask", ("batch", 4))],
    )
    _, result = _export(model, tmp_path, exporter=exporter)
    assert result.output_names == ["score", "hidden"]
    session = ort.InferenceSession(result.onnx_path, providers=["CPUExecutionProvider"])
    feed = {"signal": np.ones((3, 4), np.float32), "mask": np.ones((3, 4), np.float32)}
    score, hidden = session.run(["score", "hidden"], feed)
    assert score.shape == (3, 1) and hidden.shape == (3, 3)
    np.testing.assert_allclose(score[:, 0], hidden.sum(axis=1), rtol=1e-5)


def test_tuple_outputs_without_names_are_numbered(tmp_path, tiny_model):
    tiny_model.output_names = []
    _, result = _export(tiny_model, tmp_path, exporter="torchscript")
    assert result.output_names == ["output0", "output1"]


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_external_data_above_the_threshold(tmp_path, tiny_model, exporter):
    _, result = _export(tiny_model, tmp_path, exporter=exporter, external_data_threshold=0)
    data = tmp_path / "tiny.onnx.data"
    assert result.external_data and result.data_path == str(data) and data.stat().st_size > 0
    assert _onnx_files(tmp_path) == ["tiny.onnx", "tiny.onnx.data"]
    assert result.size_bytes == (tmp_path / "tiny.onnx").stat().st_size + data.stat().st_size
    session = ort.InferenceSession(result.onnx_path, providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((2, 3, 16, 8), np.float32)})[0].shape == (2, 2)


def test_a_failure_midway_leaves_no_file(tmp_path, tiny_model, monkeypatch):
    def export_that_dies(module, args, f, **kwargs):
        with open(f, "wb") as out:
            out.write(b"\x08\x07partial")
        raise RuntimeError("disk went away")

    monkeypatch.setattr(torch.onnx, "export", export_that_dies)
    with pytest.raises(BadInputError, match="disk went away"):
        _export(tiny_model, tmp_path, exporter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path, tiny_model):
    _export(tiny_model, tmp_path, exporter="torchscript")
    before = (tmp_path / "tiny.onnx").read_bytes()
    with pytest.raises(BadInputError) as err:
        _export(tiny_model, tmp_path, exporter="torchscript")
    assert "already exists" in err.value.message and "--overwrite" in err.value.hint
    assert (tmp_path / "tiny.onnx").read_bytes() == before
    _, result = _export(tiny_model, tmp_path, exporter="torchscript", overwrite=True, opset=17)
    assert result.opset == 17 and _onnx_files(tmp_path) == ["tiny.onnx"]


def test_overwrite_removes_a_stale_data_file(tmp_path, tiny_model):
    _export(tiny_model, tmp_path, exporter="torchscript", external_data_threshold=0)
    _, result = _export(tiny_model, tmp_path, exporter="torchscript", overwrite=True)
    assert not result.external_data and _onnx_files(tmp_path) == ["tiny.onnx"]


def test_unwritable_out_dir_is_bad_input(tmp_path, tiny_model):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(BadInputError, match="Cannot write into"):
        _export(tiny_model, blocker / "out", exporter="torchscript")


def test_unsupported_operator_is_named_and_the_other_exporter_suggested(tmp_path):
    model = LoadedModel(kind="checkpoint", module=RealFft(), inputs=[TensorSpec("x", ("batch", 8))], source="fft")
    steps = export_step(model, tmp_path, ExportOptions(exporter="torchscript"), CancelToken())
    events = []
    with pytest.raises(BadInputError) as err:
        for event in steps:
            events.append(event)
    assert err.value.kind is ErrorKind.BAD_INPUT
    assert "aten.fft_rfft" in err.value.message and "\n" not in err.value.message
    assert "--exporter dynamo" in err.value.hint and "--opset" in err.value.hint
    assert any(isinstance(e, Log) and e.level == "debug" and "fft_rfft" in e.message for e in events)
    assert list(tmp_path.iterdir()) == []


def test_dynamo_unsupported_operator_is_named(tmp_path):
    model = LoadedModel(
        kind="checkpoint", module=MatrixInverse(), inputs=[TensorSpec("x", ("batch", 4, 4))], source="inverse"
    )
    with pytest.raises(BadInputError) as err:
        _export(model, tmp_path, exporter="dynamo")
    assert "aten.linalg_inv_ex" in err.value.message and "--exporter torchscript" in err.value.hint
    assert list(tmp_path.iterdir()) == []


def test_torchscript_module_switches_to_the_torchscript_exporter(tmp_path, tiny_model):
    tiny_model.module = torch.jit.trace(tiny_model.module, torch.randn(2, 3, 16, 8))
    events, result = _export(tiny_model, tmp_path, exporter="dynamo")
    assert result.exporter == "torchscript" and result.opset == 14
    assert any(isinstance(e, Log) and e.level == "warning" and "TorchScript" in e.message for e in events)
    assert _batch_dim(result.onnx_path).dim_param == "batch"


def test_exported_program_keeps_its_dynamic_batch(tmp_path, tiny_model):
    example = (torch.randn(2, 3, 16, 8),)
    tiny_model.module = torch.export.export(
        tiny_model.module, example, dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    _, result = _export(tiny_model, tmp_path, exporter="dynamo")
    assert _batch_dim(result.onnx_path).dim_param  # torch names it s0, s1…
    session = ort.InferenceSession(result.onnx_path, providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((5, 3, 16, 8), np.float32)})[0].shape == (5, 2)


def test_a_static_exported_program_is_warned_about(tmp_path, tiny_model):
    tiny_model.module = torch.export.export(tiny_model.module, (torch.randn(2, 3, 16, 8),))
    events, result = _export(tiny_model, tmp_path, exporter="dynamo")
    assert _batch_dim(result.onnx_path).dim_value == 2
    assert any(isinstance(e, Log) and e.level == "warning" and "came out fixed at 2" in e.message for e in events)


def test_wrong_number_of_output_names_is_bad_input(tmp_path, tiny_model):
    tiny_model.output_names = ["only_one"]
    with pytest.raises(BadInputError, match="returns 2 outputs but 1 output names"):
        _export(tiny_model, tmp_path, exporter="torchscript")


def test_cancelled_before_export_writes_nothing(tmp_path, tiny_model):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CancelledError):
        run_step(export_step(tiny_model, tmp_path, ExportOptions(exporter="torchscript"), cancel))
    assert list(tmp_path.iterdir()) == []


def test_file_name_option_and_two_head_default(tmp_path):
    model = LoadedModel(
        kind="checkpoint",
        module=TwoHeadNet().eval(),
        inputs=[TensorSpec("x", ("batch", 3, 16, 8))],
        source="/models/run 7/best model.pt",
    )
    _, default = _export(model, tmp_path, exporter="torchscript")
    _, named = _export(model, tmp_path, exporter="torchscript", file_name="chosen")
    assert default.onnx_path.endswith("best_model.onnx") and named.onnx_path.endswith("chosen.onnx")
