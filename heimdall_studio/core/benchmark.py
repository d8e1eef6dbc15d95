"""Benchmark step: latency of PyTorch, ONNX Runtime and (when asked) OpenVINO and TensorRT, per device
and batch size.

Runtimes run one after another, never concurrently (PyTorch's OpenMP threads
collapse beside a competing process). Samples travel as LatencySamples about
every 100 ms. A device or runtime that cannot run here still gets an entry,
``available: false`` with the reason, so the GPU column says why it is empty.
The CPU time other processes used during each measurement is reported as
``contention`` and warned about when high.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.events import BENCHMARK, Event, LatencySamples, Log, Progress, json_safe
from heimdall_studio.core.feeds import load_npz_feed, random_feed
from heimdall_studio.core.limits import check_feed_fits
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.core.runners import CPU_PROVIDER, CUDA_PROVIDER, OrtRunner, Runner, TorchRunner, cuda_availability
from heimdall_studio.core.specs import BenchmarkOptions
from heimdall_studio.core.stats import ContentionMeter, latency_stats

FLUSH_S = 0.1  # how often samples are sent
CONTENTION_WARNING = 0.2  # other processes' share of the CPU that makes figures suspect
RUNTIME_NAMES = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "tensorrt": "TensorRT"}
# Runtimes that a run asks for on top of the two the pipeline rests on: when one cannot run the
# model, even on the CPU, its entries say why instead of failing the benchmark.
OPTIONAL_RUNTIMES = ("openvino", "tensorrt")
REMOTE_PREFIX = "ray:"  # devices measured elsewhere (integrations.ray_devices), e.g. "ray:cuda"
# The hook for remote devices: (model, onnx_path, options, remote devices, cancel) → events, then entries.
RemoteBench = Callable[
    [LoadedModel, "Path | None", BenchmarkOptions, tuple[str, ...], CancelToken],
    Generator[Event, None, list[dict[str, Any]]],
]


@dataclass
class BenchmarkResult:
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def speedup(self) -> dict[str, dict[str, float]]:
        """device → batch size → PyTorch p50 / ONNX Runtime p50 (> 1: ONNX Runtime is faster)."""
        p50 = {(e["runtime"], e["device"], e["batch_size"]): e["p50_ms"] for e in self.entries if e["available"]}
        out: dict[str, dict[str, float]] = {}
        for (runtime, device, batch), torch_ms in p50.items():
            ort_ms = p50.get(("onnxruntime", device, batch))
            if runtime == "pytorch" and ort_ms:
                out.setdefault(device, {})[str(batch)] = torch_ms / ort_ms
        return out

    @property
    def speedup_by_runtime(self) -> dict[str, dict[str, dict[str, float]]]:
        """runtime → device → batch size → PyTorch p50 / that runtime's p50, for every runtime
        measured beside PyTorch (``speedup`` is its ``onnxruntime`` part)."""
        p50 = {(e["runtime"], e["device"], e["batch_size"]): e["p50_ms"] for e in self.entries if e["available"]}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (runtime, device, batch), ms in p50.items():
            torch_ms = p50.get(("pytorch", device, batch))
            if runtime != "pytorch" and torch_ms and ms:
                out.setdefault(runtime, {}).setdefault(device, {})[str(batch)] = torch_ms / ms
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(
            {"entries": self.entries, "speedup": self.speedup, "speedup_by_runtime": self.speedup_by_runtime}
        )
        return data


def benchmark_step(
    model: LoadedModel,
    onnx_path: Path | None,
    options: BenchmarkOptions,
    cancel: CancelToken,
    remote: RemoteBench | None = None,
) -> Generator[Event, None, BenchmarkResult]:
    """Measure every device × runtime × batch size of ``options``. BadInputError
    when a CPU runner cannot run the model; CUDA problems become unavailable entries.
    Devices named ``ray:…`` are measured by ``remote`` after the local ones."""
    feeds = _feeds(model, options)
    batch_sizes = tuple(feeds)
    cuda = cuda_availability() if "cuda" in options.devices else {}
    result = BenchmarkResult()
    local = tuple(d for d in options.devices if not d.startswith(REMOTE_PREFIX))
    remote_devices = tuple(d for d in options.devices if d.startswith(REMOTE_PREFIX))
    if remote_devices and remote is None:
        raise BadInputError(
            f"The devices {', '.join(remote_devices)} need a Ray cluster.", "Give --ray-address HOST:PORT."
        )
    plan = [(device, runtime) for device in local for runtime in options.runtimes]
    total = len(plan) * len(batch_sizes)
    for device, runtime in plan:
        cancel.raise_if_cancelled()
        runner, reason = _runner(
            model, onnx_path, runtime, device, options.threads, cuda, options=options, batch_sizes=batch_sizes
        )
        if runner is not None:
            try:
                runner.activate()
            except BadInputError as exc:
                if device == "cpu" and runtime not in OPTIONAL_RUNTIMES:
                    raise
                runner, reason = None, exc.message
        if runner is None:
            provider = _unavailable_provider(runtime, device)
            yield Log("info", f"{RUNTIME_NAMES[runtime]} on {device} is not measured: {reason}", BENCHMARK)
            result.entries += [
                {
                    "runtime": runtime,
                    "device": device,
                    "provider": provider,
                    "batch_size": size,
                    "available": False,
                    "reason": reason,
                }
                for size in batch_sizes
            ]
            continue
        precision = getattr(runner, "precision", "")
        if precision:
            yield Log("info", f"{runner.describe()}: inference precision {precision}", BENCHMARK)
            asked = getattr(runner, "requested_precision", "auto")
            if asked not in ("auto", precision):
                yield Log(
                    "warning",
                    f"OpenVINO was asked for {asked} and computes in {precision}: this CPU does not support "
                    f"{asked} inference.",
                    BENCHMARK,
                )
        try:
            for size in batch_sizes:
                done = len(result.entries)
                yield Progress(BENCHMARK, done, total, f"{RUNTIME_NAMES[runtime]} on {device}, batch {size}")
                entry = yield from _measure(runner, feeds[size], size, options, cancel)
                result.entries.append(entry)
        finally:
            runner.deactivate()
    for entry in result.entries:
        entry["location"] = "local"
    if remote is not None and remote_devices:
        result.entries += yield from remote(model, onnx_path, options, remote_devices, cancel)
    yield Progress(BENCHMARK, total, total, "done")
    return result


def _feeds(model: LoadedModel, options: BenchmarkOptions) -> dict[int, dict[str, np.ndarray]]:
    """One feed per batch size (all held during the run): the user's .npz at its own batch size, or
    seeded random arrays. BadInputError when they cannot fit in memory."""
    if options.inputs_npz:
        feed = load_npz_feed(Path(options.inputs_npz), model.inputs)
        first = next(iter(feed.values()), None)
        return {int(first.shape[0]) if first is not None and first.ndim else 1: feed}
    check_feed_fits(model.inputs, options.batch_sizes, "the benchmark")
    rng = np.random.default_rng(options.seed)
    return {size: random_feed(model.inputs, size, rng, options.int_range) for size in options.batch_sizes}


def _unavailable_provider(runtime: str, device: str) -> str:
    from heimdall_studio.core.runtimes import OPENVINO_PROVIDER, TRT_PROVIDER

    if runtime == "pytorch":
        return "torch"
    if runtime == "openvino":
        return OPENVINO_PROVIDER
    if runtime == "tensorrt":
        return TRT_PROVIDER
    return CUDA_PROVIDER if device == "cuda" else CPU_PROVIDER


def _runner(
    model: LoadedModel,
    onnx_path: Path | None,
    runtime: str,
    device: str,
    threads: int,
    cuda: dict[str, Any],
    *,
    options: BenchmarkOptions | None = None,
    batch_sizes: tuple[int, ...] = (),
) -> tuple[Runner | None, str]:
    """The runner for one column, or None and why it cannot run here."""
    if runtime in OPTIONAL_RUNTIMES:
        return _optional_runner(model, onnx_path, runtime, device, threads, options or BenchmarkOptions(), batch_sizes)
    if runtime == "pytorch":
        if model.module is None:
            return None, "the source is an ONNX file; PyTorch needs a PyTorch model (give --reference)"
        if device == "cuda" and not cuda["torch"]["available"]:
            return None, cuda["torch"]["reason"]
        return TorchRunner(
            model.module, [s.name for s in model.inputs], model.output_names, device, threads, input_specs=model.inputs
        ), ""
    if runtime == "onnxruntime":
        if onnx_path is None:
            return None, "there is no valid ONNX file to run (export skipped or validation failed)"
        if device == "cuda" and not cuda["onnxruntime"]["available"]:
            return None, cuda["onnxruntime"]["reason"]
        providers = (CUDA_PROVIDER, CPU_PROVIDER) if device == "cuda" else (CPU_PROVIDER,)
        return OrtRunner(onnx_path, providers, threads), ""
    raise BadInputError(f"Unknown runtime {runtime!r}.", "Use pytorch, onnxruntime, openvino or tensorrt.")


def _optional_runner(
    model: LoadedModel,
    onnx_path: Path | None,
    runtime: str,
    device: str,
    threads: int,
    options: BenchmarkOptions,
    batch_sizes: tuple[int, ...],
) -> tuple[Runner | None, str]:
    """OpenVINO (CPU) or TensorRT (through ONNX Runtime, CUDA), or None and why not."""
    from heimdall_studio.core.runtimes import (
        OPENVINO_NOT_CUDA,
        TRT_NOT_CPU,
        OpenVinoRunner,
        TensorRtRunner,
        tensorrt_availability,
    )

    if onnx_path is None:
        return None, "there is no valid ONNX file to run (export skipped or validation failed)"
    if runtime == "openvino":
        if device != "cpu":
            return None, OPENVINO_NOT_CUDA
        return OpenVinoRunner(onnx_path, options.openvino_precision, threads), ""
    if device != "cuda":
        return None, TRT_NOT_CPU
    status = tensorrt_availability()
    if not status["available"]:
        return None, str(status["reason"])
    return TensorRtRunner(onnx_path, threads, profile_batches=batch_sizes, input_specs=model.inputs), ""


def _measure(
    runner: Runner, feed: dict[str, np.ndarray], batch_size: int, options: BenchmarkOptions, cancel: CancelToken
) -> Generator[Event, None, dict[str, Any]]:
    def samples(ms: list[float], warmup: bool) -> LatencySamples:
        return LatencySamples(runner.runtime, runner.device, runner.provider, batch_size, tuple(ms), warmup)

    pending: list[float] = []
    last_flush = time.perf_counter()
    for _ in range(options.warmup):
        cancel.raise_if_cancelled()
        runner.infer(feed)
        pending.append(runner.last_inference_ms)
        if time.perf_counter() - last_flush >= FLUSH_S:
            yield samples(pending, True)
            pending, last_flush = [], time.perf_counter()
    if pending:
        yield samples(pending, True)
        pending = []

    measured: list[float] = []
    meter = ContentionMeter()
    meter.start()
    started = last_flush = time.perf_counter()
    while not measured or (
        time.perf_counter() - started < options.duration_s
        if options.duration_s > 0
        else len(measured) < options.iterations
    ):
        cancel.raise_if_cancelled()
        runner.infer(feed)
        measured.append(runner.last_inference_ms)
        pending.append(runner.last_inference_ms)
        if time.perf_counter() - last_flush >= FLUSH_S:
            yield samples(pending, False)
            pending, last_flush = [], time.perf_counter()
    contention = meter.stop()
    if pending:
        yield samples(pending, False)
    if contention >= CONTENTION_WARNING:
        yield Log(
            "warning",
            f"Other processes used {contention:.0%} of the CPU while {runner.describe()} ran at "
            f"batch {batch_size}; its latencies are likely inflated. Close other work and rerun.",
            BENCHMARK,
        )
    return {
        "runtime": runner.runtime,
        "device": runner.device,
        "provider": runner.provider,
        "batch_size": batch_size,
        "iterations": len(measured),
        **latency_stats(measured, batch_size),
        "available": True,
        "threads": runner.threads,
        "contention": round(contention, 3),
        **({"precision": getattr(runner, "precision", "")} if getattr(runner, "precision", "") else {}),
    }
