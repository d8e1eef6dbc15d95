"""Runners: one contract over PyTorch and ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.runners import OrtRunner, TorchRunner, cuda_availability
from tests.support.tiny_models import MultiInputNet

NO_CUDA = not torch.cuda.is_available()


def _feed(batch=4):
    return {"x": np.random.default_rng(0).standard_normal((batch, 3, 16, 8)).astype(np.float32)}


def test_torch_and_ort_runners_agree_and_time_each_call(tiny_export):
    model, export = tiny_export
    with TorchRunner(model.module, ["x"], export.output_names) as reference, OrtRunner(export.onnx_path) as candidate:
        expected, actual = reference.infer(_feed()), candidate.infer(_feed())
        assert list(expected) == list(actual) == ["positions", "uncertainties"]
        for name in expected:
            np.testing.assert_allclose(actual[name], expected[name], atol=1e-5)
        assert reference.last_inference_ms > 0 and candidate.last_inference_ms > 0
        assert (reference.runtime, reference.device, reference.provider) == ("pytorch", "cpu", "torch")
        assert (candidate.runtime, candidate.device, candidate.provider) == (
            "onnxruntime",
            "cpu",
            "CPUExecutionProvider",
        )
        assert candidate.input_specs[0].shape == ("batch", 3, 16, 8)
    assert not reference.is_active and not candidate.is_active


def test_infer_before_activate_is_an_error(tiny_export):
    with pytest.raises(RuntimeError, match="before activate"):
        OrtRunner(tiny_export[1].onnx_path).infer(_feed())


def test_torch_runner_orders_dict_outputs_by_the_names_given():
    runner = TorchRunner(MultiInputNet().eval(), ["signal", "mask"], ["hidden", "score"])
    with runner:
        out = runner.infer({"signal": np.ones((2, 4), np.float32), "mask": np.ones((2, 4), np.float32)})
    assert list(out) == ["hidden", "score"] and out["hidden"].shape == (2, 3) and out["score"].shape == (2, 1)


def test_torch_runner_names_outputs_when_none_are_given(tiny_model):
    with TorchRunner(tiny_model.module, ["x"], []) as runner:
        assert list(runner.infer(_feed())) == ["output0", "output1"]


def test_torch_runner_threads_are_restored(tiny_model):
    before = torch.get_num_threads()
    with TorchRunner(tiny_model.module, ["x"], tiny_model.output_names, threads=1) as runner:
        assert torch.get_num_threads() == 1 and runner.threads == 1
    assert torch.get_num_threads() == before


def test_output_count_mismatch_is_bad_input(tiny_model):
    with TorchRunner(tiny_model.module, ["x"], ["a", "b", "c"]) as runner:
        with pytest.raises(BadInputError, match="returned 2 outputs but 3"):
            runner.infer(_feed())


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_cuda_availability_says_why_not():
    status = cuda_availability()
    assert status["torch"]["available"] is False
    assert status["torch"]["reason"].startswith("no CUDA device: torch.cuda.is_available() is False")
    if "CUDAExecutionProvider" not in status["onnxruntime"]["providers"]:
        assert status["onnxruntime"]["available"] is False
        assert "has no CUDAExecutionProvider (install onnxruntime-gpu" in status["onnxruntime"]["reason"]


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_cuda_runners_refuse_with_the_reason(tiny_export):
    model, export = tiny_export
    with pytest.raises(BadInputError, match="PyTorch cannot run on CUDA: no CUDA device"):
        TorchRunner(model.module, ["x"], export.output_names, device="cuda").activate()
    ort_runner = OrtRunner(export.onnx_path, providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    assert ort_runner.device == "cuda"
    if not cuda_availability()["onnxruntime"]["available"]:
        with pytest.raises(BadInputError, match="ONNX Runtime cannot run on CUDA"):
            ort_runner.activate()
