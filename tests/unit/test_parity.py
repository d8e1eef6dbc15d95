"""Parity step: PyTorch against ONNX Runtime on the same seeded inputs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, CancelledError
from heimdall_studio.core.events import ParityBatch, Progress, from_json_dict, to_json_dict
from heimdall_studio.core.parity import parity_step
from heimdall_studio.core.runners import OrtRunner, TorchRunner
from heimdall_studio.core.specs import ParityOptions, Tolerance
from tests.unit.conftest import run_step

OPTIONS = ParityOptions(batches=2, batch_size=4)


class NanPositions(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        positions, uncertainties = self.inner(x)
        positions = positions.clone()
        positions[0, 0] = float("nan")
        return positions, uncertainties


def _runners(model, onnx_path, output_names=("positions", "uncertainties")):
    return TorchRunner(model.module, ["x"], list(output_names)), OrtRunner(onnx_path)


def _parity(reference, candidate, model, options=OPTIONS, cancel=None):
    return run_step(parity_step(reference, candidate, model.inputs, options, cancel or CancelToken()))


@pytest.mark.parametrize("fixture", ["tiny_export", "tiny_export_dynamo"])
def test_a_faithful_export_passes(fixture, request):
    model, export = request.getfixturevalue(fixture)
    reference, candidate = _runners(model, export.onnx_path)
    events, result = _parity(reference, candidate, model)
    data = json.loads(json.dumps(result.to_dict()))
    assert result.passed and data["failures"] == []
    assert data["batches"] == 3 and data["batch_size"] == 4 and data["seed"] == 0
    assert data["criteria"]["default"] == {"atol": 1e-4, "rtol": 1e-3, "mean_atol": 1e-5}
    for name in ("positions", "uncertainties"):
        out = data["outputs"][name]
        assert out["passed"] and 0 <= out["median_abs"] <= out["p99_abs"] <= out["max_abs"] < 1e-5
        assert out["elements"] == (4 + 4 + 1) * 2 and out["nan_candidate"] == 0
    batches = [e for e in events if isinstance(e, ParityBatch)]
    assert [(b.batch_index, b.batch_size) for b in batches[::2]] == [(0, 4), (1, 4), (2, 1)]
    assert all(b.passed and b.atol == 1e-4 for b in batches)
    assert [e.done for e in events if isinstance(e, Progress)] == [0, 1, 2, 3]
    assert not reference.is_active and not candidate.is_active


def test_a_corrupted_initializer_fails_the_output_it_feeds(tmp_path, tiny_export):
    model, export = tiny_export
    proto = onnx.load(export.onnx_path)
    for init in proto.graph.initializer:
        if init.name == "position_head.2.weight":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.5, init.name))
    corrupted = tmp_path / "corrupted.onnx"
    onnx.save(proto, corrupted)
    _, result = _parity(*_runners(model, corrupted), model)
    assert not result.passed
    assert not result.outputs["positions"]["passed"] and result.outputs["uncertainties"]["passed"]
    assert any(f.startswith("output 'positions':") and "differ by more than" in f for f in result.failures)
    assert any("'positions': mean abs error" in f for f in result.failures)
    assert not any("uncertainties" in f for f in result.failures)


def test_nan_in_the_candidate_is_flagged(tiny_model):
    reference = TorchRunner(tiny_model.module, ["x"], tiny_model.output_names)
    candidate = TorchRunner(NanPositions(tiny_model.module), ["x"], tiny_model.output_names)
    events, result = _parity(reference, candidate, tiny_model)
    assert not result.passed and result.outputs["positions"]["nan_candidate"] == 3
    assert result.outputs["uncertainties"]["passed"]
    assert any("'positions' has non-finite values" in f and "3 NaN" in f for f in result.failures)
    nan_batch = next(e for e in events if isinstance(e, ParityBatch) and e.output == "positions")
    assert not nan_batch.passed
    assert from_json_dict(to_json_dict(nan_batch)) == nan_batch


def test_missing_and_extra_outputs_are_named(tiny_model):
    reference = TorchRunner(tiny_model.module, ["x"], ["positions", "uncertainties"])
    candidate = TorchRunner(tiny_model.module, ["x"], ["positions", "sigma"])
    _, result = _parity(reference, candidate, tiny_model)
    assert not result.passed and not result.outputs["uncertainties"]["passed"]
    assert "output 'uncertainties' is missing from the pytorch model" in result.failures
    assert "output 'sigma' of the pytorch model has no counterpart in the pytorch model" in result.failures


def test_per_output_tolerance_is_used(tmp_path, tiny_export):
    model, export = tiny_export
    loose = Tolerance(atol=1e3, rtol=0, mean_atol=1e3)
    options = ParityOptions(batches=1, batch_size=2, per_output={"positions": loose})
    proto = onnx.load(export.onnx_path)
    for init in proto.graph.initializer:
        if init.name == "position_head.2.bias":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.1, init.name))
    onnx.save(proto, tmp_path / "shifted.onnx")
    _, result = _parity(*_runners(model, tmp_path / "shifted.onnx"), model, options)
    assert result.passed and result.criteria["positions"]["atol"] == 1e3
    assert result.outputs["positions"]["max_abs"] == pytest.approx(0.1, rel=1e-3)


def test_inputs_from_an_npz(tmp_path, tiny_export):
    model, export = tiny_export
    good = tmp_path / "inputs.npz"
    np.savez(good, x=np.ones((3, 3, 16, 8), np.float32))
    _, result = _parity(*_runners(model, export.onnx_path), model, ParityOptions(inputs_npz=str(good)))
    assert result.passed and result.batches == 1 and result.batch_size == 3 and result.inputs == str(good)

    np.savez(tmp_path / "wrong_name.npz", image=np.ones((3, 3, 16, 8), np.float32))
    with pytest.raises(BadInputError, match=r"missing \['x'\], unexpected \['image'\]"):
        _parity(*_runners(model, export.onnx_path), model, ParityOptions(inputs_npz=str(tmp_path / "wrong_name.npz")))
    np.savez(tmp_path / "wrong_shape.npz", x=np.ones((3, 3, 8, 8), np.float32))
    with pytest.raises(BadInputError, match=r"has shape \(3, 3, 8, 8\)"):
        _parity(*_runners(model, export.onnx_path), model, ParityOptions(inputs_npz=str(tmp_path / "wrong_shape.npz")))


def test_cancel_between_batches_deactivates_the_runners(tiny_export):
    model, export = tiny_export
    reference, candidate = _runners(model, export.onnx_path)
    cancel = CancelToken()
    steps = parity_step(reference, candidate, model.inputs, OPTIONS, cancel)
    while not isinstance(next(steps), ParityBatch):
        pass
    cancel.cancel()
    with pytest.raises(CancelledError):
        run_step(steps)
    assert not reference.is_active and not candidate.is_active


class ReshapedOutputs(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        positions, uncertainties = self.inner(x)
        return positions[:, :1], uncertainties.double()


def test_shape_and_dtype_mismatches_are_named(tiny_model):
    reference = TorchRunner(tiny_model.module, ["x"], tiny_model.output_names)
    candidate = TorchRunner(ReshapedOutputs(tiny_model.module), ["x"], tiny_model.output_names)
    _, result = _parity(reference, candidate, tiny_model)
    assert not result.passed
    assert "output 'positions': shape (4, 1) from pytorch, (4, 2) from the reference" in result.failures
    assert "output 'uncertainties': dtype float64 from pytorch, float32 from the reference" in result.failures
    assert not result.outputs["uncertainties"]["passed"]
