"""Benchmark step: latency per runtime, device and batch size (no timing assertions)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from heimdall_studio.core.benchmark import benchmark_step
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import CancelledError
from heimdall_studio.core.events import LatencySamples, Progress
from heimdall_studio.core.model import ONNX, LoadedModel
from heimdall_studio.core.specs import BenchmarkOptions
from heimdall_studio.core.stats import ContentionMeter, latency_stats
from tests.unit.conftest import run_step

OPTIONS = BenchmarkOptions(warmup=3, iterations=40, batch_sizes=(1, 2), devices=("cpu", "cuda"))


def test_cpu_entries_have_sane_stats_and_samples_come_in_batches(tiny_export):
    model, export = tiny_export
    events, result = run_step(benchmark_step(model, export.onnx_path, OPTIONS, CancelToken()))
    data = json.loads(json.dumps(result.to_dict()))
    cpu = [e for e in data["entries"] if e["device"] == "cpu"]
    assert [(e["runtime"], e["batch_size"]) for e in cpu] == [
        ("pytorch", 1),
        ("pytorch", 2),
        ("onnxruntime", 1),
        ("onnxruntime", 2),
    ]
    for entry in cpu:
        assert entry["available"] and entry["iterations"] == 40 and entry["threads"] >= 1
        assert 0 < entry["min_ms"] <= entry["p50_ms"] <= entry["p90_ms"] <= entry["p99_ms"] <= entry["max_ms"]
        assert entry["throughput_per_s"] == pytest.approx(entry["batch_size"] * 1000 / entry["mean_ms"])
        assert 0 <= entry["contention"] <= 1
    assert set(data["speedup"]["cpu"]) == {"1", "2"} and all(r > 0 for r in data["speedup"]["cpu"].values())

    samples = [e for e in events if isinstance(e, LatencySamples)]
    measured = [e for e in samples if not e.warmup]
    assert sum(len(e.ms) for e in measured) == 4 * 40 and len(measured) < 4 * 40
    assert sum(len(e.ms) for e in samples if e.warmup) == 4 * 3
    ort_samples = [e for e in measured if e.runtime == "onnxruntime"]
    assert ort_samples and all(e.provider == "CPUExecutionProvider" for e in ort_samples)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == 8


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_gets_entries_with_reasons(tiny_export):
    model, export = tiny_export
    options = BenchmarkOptions(warmup=0, iterations=1, batch_sizes=(1, 8), devices=("cuda",))
    _, result = run_step(benchmark_step(model, export.onnx_path, options, CancelToken()))
    entries = result.to_dict()["entries"]
    assert [(e["runtime"], e["batch_size"], e["available"]) for e in entries] == [
        ("pytorch", 1, False),
        ("pytorch", 8, False),
        ("onnxruntime", 1, False),
        ("onnxruntime", 8, False),
    ]
    assert entries[0]["reason"].startswith("no CUDA device") and entries[0]["provider"] == "torch"
    assert entries[2]["provider"] == "CUDAExecutionProvider" and entries[2]["reason"]
    assert result.to_dict()["speedup"] == {}


def test_an_onnx_source_has_no_pytorch_column(tiny_export):
    model, export = tiny_export
    onnx_only = LoadedModel(kind=ONNX, source=export.onnx_path, inputs=model.inputs, onnx_path=export.onnx_path)
    options = BenchmarkOptions(warmup=1, iterations=5, batch_sizes=(1,), devices=("cpu",))
    _, result = run_step(benchmark_step(onnx_only, export.onnx_path, options, CancelToken()))
    torch_entry, ort_entry = result.entries
    assert not torch_entry["available"] and "ONNX file" in torch_entry["reason"]
    assert ort_entry["available"] and ort_entry["iterations"] == 5


def test_duration_mode_runs_for_about_that_long(tiny_export):
    model, export = tiny_export
    options = BenchmarkOptions(warmup=0, duration_s=0.05, batch_sizes=(1,), devices=("cpu",), runtimes=("onnxruntime",))
    _, result = run_step(benchmark_step(model, export.onnx_path, options, CancelToken()))
    assert result.entries[0]["iterations"] >= 1


def test_cancel_between_iterations(tiny_export):
    model, export = tiny_export
    cancel = CancelToken()
    steps = benchmark_step(
        model, export.onnx_path, BenchmarkOptions(warmup=1, iterations=10**6, devices=("cpu",)), cancel
    )
    while not isinstance(next(steps), LatencySamples):
        pass
    cancel.cancel()
    with pytest.raises(CancelledError):
        run_step(steps)


def test_latency_stats():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0], batch_size=8)
    assert stats["p50_ms"] == 2.5 and stats["min_ms"] == 1.0 and stats["max_ms"] == 4.0
    assert stats["mean_ms"] == 2.5 and stats["throughput_per_s"] == 3200.0
    assert math.isclose(stats["std_ms"], 1.118, rel_tol=1e-3)


def test_contention_meter_reads_a_share():
    meter = ContentionMeter()
    meter.start()
    sum(range(200_000))
    assert 0.0 <= meter.stop() <= 1.0
