"""OpenVINO and TensorRT behind the runner contract: real OpenVINO, real ONNX Runtime, no mocks."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from heimdall_studio.core.benchmark import benchmark_step
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.runners import OrtRunner
from heimdall_studio.core.runtimes import (
    OPENVINO_NOT_CUDA,
    REDUCED_PRECISION_TOLERANCE,
    TRT_NOT_CPU,
    OpenVinoRunner,
    TensorRtRunner,
    parity_tolerance,
    trt_profile_options,
)
from heimdall_studio.core.specs import BenchmarkOptions, TensorSpec, Tolerance, parse_runtimes
from tests.unit.conftest import run_step

TRT_MISSING = "TensorrtExecutionProvider" not in ort.get_available_providers()


def _feed(batch=4):
    return {"x": np.random.default_rng(0).standard_normal((batch, 3, 16, 8)).astype(np.float32)}


def test_openvino_f32_matches_onnx_runtime_and_reads_its_precision_back(tiny_export):
    _, export = tiny_export
    with OrtRunner(export.onnx_path) as ort_runner, OpenVinoRunner(export.onnx_path, "f32") as ov_runner:
        assert ov_runner.precision == "f32"
        for batch in (1, 4):  # the dynamic batch axis
            expected, actual = ort_runner.infer(_feed(batch)), ov_runner.infer(_feed(batch))
            assert list(actual) == list(expected) == ["positions", "uncertainties"]
            for name in expected:
                assert actual[name].dtype == np.float32 and actual[name].shape == expected[name].shape
                np.testing.assert_allclose(actual[name], expected[name], atol=1e-5, rtol=1e-4)
        assert (ov_runner.runtime, ov_runner.device, ov_runner.provider) == ("openvino", "cpu", "openvino:CPU")
        assert ov_runner.last_inference_ms > 0 and ov_runner.threads >= 1
        assert "f32" in ov_runner.describe()
    assert not ov_runner.is_active


def test_openvino_auto_reports_the_precision_it_chose(tiny_export):
    """auto asks for nothing; what the compiled model uses is read back (bf16 on AMX CPUs, else f32)."""
    with OpenVinoRunner(tiny_export[1].onnx_path) as runner:
        assert runner.requested_precision == "auto"
        assert runner.precision in ("f32", "bf16", "f16")
        out = runner.infer(_feed(2))
    assert out["positions"].shape == (2, 2) or out["positions"].shape[0] == 2


def test_openvino_bf16_is_read_back_and_stays_within_its_criteria(tiny_export):
    """Asked for bf16, the plugin either uses it (and moves outputs a little) or says it runs f32."""
    _, export = tiny_export
    with OrtRunner(export.onnx_path) as ort_runner, OpenVinoRunner(export.onnx_path, "bf16") as ov_runner:
        tol = parity_tolerance(ov_runner.precision, Tolerance())
        expected, actual = ort_runner.infer(_feed()), ov_runner.infer(_feed())
    assert ov_runner.precision in ("bf16", "f32")  # f32 where the CPU has no bf16 (AMX, AVX512-BF16)
    assert tol == (REDUCED_PRECISION_TOLERANCE["bf16"] if ov_runner.precision == "bf16" else Tolerance())
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], atol=tol.atol, rtol=tol.rtol)


def test_reduced_precisions_get_looser_documented_criteria():
    strict = Tolerance()
    assert parity_tolerance("f32", strict) is strict
    bf16, f16 = parity_tolerance("bf16", strict), parity_tolerance("f16", strict)
    assert bf16 == Tolerance(atol=1e-2, rtol=1e-2, mean_atol=1e-3)
    assert strict.atol < f16.atol < bf16.atol and strict.mean_atol < f16.mean_atol < bf16.mean_atol


def test_unknown_precision_and_runtime_are_bad_input():
    with pytest.raises(BadInputError, match="OpenVINO precision 'int4'"):
        OpenVinoRunner("model.onnx", "int4")
    with pytest.raises(BadInputError, match="unknown runtime tvm"):
        parse_runtimes("pytorch,tvm")
    assert parse_runtimes(" PyTorch,openvino,openvino ") == ("pytorch", "openvino")


def test_bench_measures_openvino_with_its_precision_and_speedup(tiny_export):
    model, export = tiny_export
    options = BenchmarkOptions(
        warmup=2,
        iterations=10,
        batch_sizes=(1, 2),
        devices=("cpu", "cuda"),
        runtimes=("pytorch", "onnxruntime", "openvino", "tensorrt"),
        openvino_precision="f32",
    )
    events, result = run_step(benchmark_step(model, export.onnx_path, options, CancelToken()))
    data = json.loads(json.dumps(result.to_dict()))
    by_key = {(e["runtime"], e["device"], e["batch_size"]): e for e in data["entries"]}
    for batch in (1, 2):
        ov = by_key[("openvino", "cpu", batch)]
        assert ov["available"] and ov["precision"] == "f32" and ov["provider"] == "openvino:CPU"
        assert ov["iterations"] == 10 and 0 < ov["p50_ms"] <= ov["p99_ms"]
        assert set(ov) >= set(by_key[("onnxruntime", "cpu", batch)])  # the same shape, and the precision
        gpu = by_key[("openvino", "cuda", batch)]
        assert gpu["available"] is False and gpu["reason"] == OPENVINO_NOT_CUDA
        trt_cpu = by_key[("tensorrt", "cpu", batch)]
        assert trt_cpu["available"] is False and trt_cpu["reason"] == TRT_NOT_CPU
    # ONNX Runtime's ratio keeps its place; every runtime's is beside it
    assert data["speedup_by_runtime"]["onnxruntime"]["cpu"] == data["speedup"]["cpu"]
    assert set(data["speedup_by_runtime"]["openvino"]["cpu"]) == {"1", "2"}
    ratio = data["speedup_by_runtime"]["openvino"]["cpu"]["1"]
    assert ratio == pytest.approx(by_key[("pytorch", "cpu", 1)]["p50_ms"] / by_key[("openvino", "cpu", 1)]["p50_ms"])
    assert any("inference precision f32" in getattr(e, "message", "") for e in events)
    if TRT_MISSING:
        trt = by_key[("tensorrt", "cuda", 1)]
        assert trt["available"] is False and trt["provider"] == "TensorrtExecutionProvider"
        assert trt["reason"].startswith(f"onnxruntime {ort.__version__} was built without TensorrtExecutionProvider")
        assert "install onnxruntime-gpu built with TensorRT" in trt["reason"]


@pytest.mark.skipif(not TRT_MISSING, reason="this onnxruntime has TensorRT")
def test_tensorrt_runner_refuses_with_the_reason(tiny_export):
    runner = TensorRtRunner(tiny_export[1].onnx_path, fp16=True)
    assert runner.device == "cuda" and runner.runtime == "tensorrt"
    name, options = runner.providers[0]
    assert name == "TensorrtExecutionProvider"
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"].endswith(".trt-cache")
    with pytest.raises(BadInputError, match="was built without TensorrtExecutionProvider"):
        runner.activate()


def test_tensorrt_profile_covers_the_batch_range():
    specs = [TensorSpec("x", ("batch", 3, 16, 8))]
    assert trt_profile_options(specs, (1, 8)) == {
        "trt_profile_min_shapes": "x:1x3x16x8",
        "trt_profile_opt_shapes": "x:8x3x16x8",
        "trt_profile_max_shapes": "x:8x3x16x8",
    }
    assert trt_profile_options([TensorSpec("t", ("batch", "time"))], (1, 8)) == {}  # other symbolic dims


def test_html_report_shows_openvino_parity_precision_and_speedup():
    from heimdall_studio.core.html_report import render_html

    report = {
        "latency": [
            {"runtime": "pytorch", "device": "cpu", "batch_size": 1, "available": True, "p50_ms": 8.0},
            {
                "runtime": "openvino",
                "device": "cpu",
                "batch_size": 1,
                "available": True,
                "p50_ms": 2.0,
                "precision": "bf16",
            },
        ],
        "benchmark": {"speedup_by_runtime": {"openvino": {"cpu": {"1": 4.0}}}},
        "parity": {
            "passed": True,
            "outputs": {},
            "runtimes": {
                "openvino": {
                    "precision": "bf16",
                    "passed": False,
                    "criteria": {"default": {"atol": 0.01, "rtol": 0.01, "mean_atol": 0.001}},
                    "outputs": {"positions": {"max_abs": 0.02, "mean_abs": 0.001, "max_rel": 0.1, "passed": False}},
                }
            },
        },
    }
    page = render_html(report)
    assert "openvino bf16 cpu b1" in page and "4.00×" in page
    assert 'openvino (bf16) <span class="fail">fail</span>' in page and "atol 0.01" in page


def test_openvino_sends_no_usage_telemetry(tiny_export):
    """`import openvino` would send a Google Analytics event from a forked process (and the fork kept
    the engine's pipe open, so the app waited for ever). A fresh interpreter, as the engine is: the
    runner runs, OpenVINO uses its no-op telemetry stub, and no child process is left."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import multiprocessing, sys, numpy as np\n"
        "from heimdall_studio.core.runtimes import OpenVinoRunner\n"
        f"runner = OpenVinoRunner({str(tiny_export[1].onnx_path)!r}, 'f32', 1)\n"
        "runner.activate()\n"
        "import openvino.tools.ovc.telemetry_utils as tu\n"
        "print(tu.tm.__name__, len(multiprocessing.active_children()), 'openvino_telemetry' in sys.modules "
        "and sys.modules['openvino_telemetry'] is not None)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "0", "False"], done.stdout
