"""The variants step: make each asked variant, tune its session, check parity, benchmark it.

Per variant, one after another (one ONNX Runtime session open at a time, closed before the
next): (1) write the file (:mod:`heimdall_studio.core.variants`); (2) sweep intra-op threads
(1, all cores) × execution mode (sequential, parallel) in a short pre-run at the first batch size
and keep the fastest; (3) parity against the PyTorch model with the parity step's machinery and
inputs, under the variant's criteria; (4) the benchmark step's measurement (same options, same
feeds) with the tuned setting, and speed-ups against PyTorch eager and the plain export from the
benchmark step of the same run. A variant that cannot be made or run becomes an entry with
``available: false`` and the reason; one that fails parity stays in the list with
``parity.passed: false``. Cancelling stops between variants and inside every loop.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.benchmark import _feeds, _measure
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import CancelledError, HeimdallError
from heimdall_studio.core.events import PARITY, VARIANTS, Event, LatencySamples, Log, ParityBatch, Progress, json_safe
from heimdall_studio.core.feeds import load_npz_feed, random_feed
from heimdall_studio.core.metadata import sha256_file
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.core.parity import parity_step
from heimdall_studio.core.runners import CPU_PROVIDER, CUDA_PROVIDER, OrtRunner, TorchRunner, cuda_availability
from heimdall_studio.core.specs import BenchmarkOptions, ParityOptions
from heimdall_studio.core.variants import (
    FP16,
    VariantOptions,
    VariantUnavailable,
    criteria_for,
    make_variant,
    structural_diff,
    variant_path,
)

TUNE_WARMUP = 2
TUNE_ITERATIONS = 10


@dataclass
class VariantsResult:
    variants: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return True  # a failed variant is shown, it does not fail the run

    def to_dict(self) -> dict[str, Any]:
        return {"variants": json_safe(self.variants)}


def variants_step(
    model: LoadedModel,
    plain: Path,
    options: VariantOptions,
    parity: ParityOptions,
    bench: BenchmarkOptions,
    plain_latency: list[dict[str, Any]],
    cancel: CancelToken,
    output_names: list[str] | None = None,
) -> Generator[Event, None, VariantsResult]:
    """Variants of ``plain``, compared with ``model`` (a PyTorch model) and ``plain_latency``
    (the benchmark step's entries of the same run, for the speed-ups)."""
    result = VariantsResult()
    total = len(options.names)
    feeds = _feeds(model, bench) if options.benchmark else {}  # --skip-bench: parity only
    for index, name in enumerate(options.names):
        cancel.raise_if_cancelled()
        yield Progress(VARIANTS, index, total, f"{name}: writing {variant_path(plain, name).name}")
        try:
            entry = yield from _one(name, model, plain, options, parity, bench, feeds, cancel, output_names)
        except CancelledError:
            raise
        except VariantUnavailable as exc:
            entry = _entry(name, plain, available=False, reason=str(exc))
            yield Log("info", f"Variant {name} is not available here: {exc}", VARIANTS)
        except HeimdallError as exc:
            entry = _entry(name, plain, available=False, reason=f"{exc.message} {exc.hint}".strip())
            yield Log("warning", f"Variant {name} failed: {exc.message}", VARIANTS)
        except Exception as exc:  # a quantiser or ONNX Runtime error on this graph: this variant only
            entry = _entry(name, plain, available=False, reason=f"{type(exc).__name__}: {exc}"[:500])
            yield Log("warning", f"Variant {name} failed: {type(exc).__name__}: {exc}"[:500], VARIANTS)
        entry["speedup_vs_pytorch"], entry["speedup_vs_plain"] = _speedups(entry["latency"], plain_latency)
        result.variants.append(entry)
    yield Progress(VARIANTS, total, total, "done")
    return result


def _entry(name: str, plain: Path, available: bool = True, reason: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "path": str(variant_path(plain, name)) if available else "",
        "sha256": "",
        "size_bytes": 0,
        "available": available,
        "reason": reason,
        "settings": {},
        "parity": {"passed": False, "criteria": {}, "outputs": {}},
        "latency": [],
        "speedup_vs_pytorch": {},
        "speedup_vs_plain": {},
        "diff": {"op_counts_before": {}, "op_counts_after": {}},
    }


def _one(
    name: str,
    model: LoadedModel,
    plain: Path,
    options: VariantOptions,
    parity: ParityOptions,
    bench: BenchmarkOptions,
    feeds: dict[int, dict[str, np.ndarray]],
    cancel: CancelToken,
    output_names: list[str] | None,
) -> Generator[Event, None, dict[str, Any]]:
    path, settings = make_variant(name, plain, options.overwrite, _calibration(model, options, parity))
    entry = _entry(name, plain)
    entry.update(path=str(path), sha256=sha256_file(path), size_bytes=path.stat().st_size, settings=settings)
    entry["diff"] = structural_diff(plain, path)
    device = "cuda" if name == FP16 else "cpu"
    cancel.raise_if_cancelled()
    yield Progress(VARIANTS, 0, 0, f"{name}: tuning the session (threads × execution mode)")
    measure = options.tune and options.benchmark
    tuned = yield from _tune(path, device, feeds, bench, cancel) if measure else _fixed(bench)
    settings.update(tuned)

    yield Progress(VARIANTS, 0, 0, f"{name}: parity against PyTorch")
    criteria = criteria_for(name, options, parity.default)
    variant_parity = dataclasses.replace(parity, default=criteria)
    reference = TorchRunner(
        model.module,
        [s.name for s in model.inputs],
        output_names or model.output_names,
        "cpu",
        input_specs=model.inputs,
    )
    candidate = _runner(path, device, tuned)
    checked = yield from _quiet(parity_step(reference, candidate, model.inputs, variant_parity, cancel))
    entry["parity"] = checked.to_dict()
    if not checked.passed:
        yield Log("warning", f"Variant {name} failed parity: {'; '.join(checked.failures)[:400]}", VARIANTS)

    for bench_device in bench.devices if options.benchmark else ():
        entry["latency"] += yield from _bench(name, path, bench_device, device, tuned, feeds, bench, cancel)
    return entry


def _calibration(model: LoadedModel, options: VariantOptions, parity: ParityOptions) -> list[dict[str, np.ndarray]]:
    """int8-static's calibration feeds: the user's .npz, or the parity step's seeded random batches."""
    if "int8-static" not in options.names:
        return []
    if options.calibration_npz:
        return [load_npz_feed(Path(options.calibration_npz), model.inputs)]
    if parity.inputs_npz:
        return [load_npz_feed(Path(parity.inputs_npz), model.inputs)]
    rng = np.random.default_rng(parity.seed)
    sizes = [parity.batch_size] * parity.batches + [1]
    return [random_feed(model.inputs, size, rng, parity.int_range) for size in sizes]


def _runner(path: Path, device: str, tuned: dict[str, Any]) -> OrtRunner:
    providers = (CUDA_PROVIDER, CPU_PROVIDER) if device == "cuda" else (CPU_PROVIDER,)
    return OrtRunner(path, providers, int(tuned["intra_op_threads"]), execution_mode=str(tuned["execution_mode"]))


def _fixed(bench: BenchmarkOptions) -> Generator[Event, None, dict[str, Any]]:
    yield from ()
    return {"intra_op_threads": bench.threads, "execution_mode": "sequential", "tuned": False}


def _tune(
    path: Path,
    device: str,
    feeds: dict[int, dict[str, np.ndarray]],
    bench: BenchmarkOptions,
    cancel: CancelToken,
) -> Generator[Event, None, dict[str, Any]]:
    """The fastest of intra-op threads (1, all cores) × execution mode, by median latency of a
    short run at the first batch size. ``--threads`` given: only that thread count is tried."""
    import psutil

    cores = psutil.cpu_count(logical=False) or 1
    threads = [bench.threads] if bench.threads > 0 else sorted({1, cores})
    feed = feeds[next(iter(feeds))]
    sweep: list[dict[str, Any]] = []
    for count in threads:
        for mode in ("sequential", "parallel"):
            cancel.raise_if_cancelled()
            runner = _runner(path, device, {"intra_op_threads": count, "execution_mode": mode})
            with runner:  # one session at a time: closed before the next is opened
                times = []
                for i in range(TUNE_WARMUP + TUNE_ITERATIONS):
                    cancel.raise_if_cancelled()
                    runner.infer(feed)
                    if i >= TUNE_WARMUP:
                        times.append(runner.last_inference_ms)
            sweep.append({"intra_op_threads": count, "execution_mode": mode, "median_ms": statistics.median(times)})
            yield Progress(VARIANTS, 0, 0, f"tuning: {count} thread(s), {mode}: {sweep[-1]['median_ms']:.2f} ms")
    best = min(sweep, key=lambda s: s["median_ms"])
    return {
        "intra_op_threads": best["intra_op_threads"],
        "execution_mode": best["execution_mode"],
        "tuned": True,
        "tuning": {"batch_size": next(iter(feeds)), "iterations": TUNE_ITERATIONS, "sweep": sweep},
    }


def _bench(
    name: str,
    path: Path,
    bench_device: str,
    variant_device: str,
    tuned: dict[str, Any],
    feeds: dict[int, dict[str, np.ndarray]],
    bench: BenchmarkOptions,
    cancel: CancelToken,
) -> Generator[Event, None, list[dict[str, Any]]]:
    """Latency entries of one device, shaped like the benchmark step's (plus ``variant``)."""
    reason = ""
    if bench_device != variant_device:
        reason = f"the {name} variant is for {variant_device.upper()}"
    elif bench_device == "cuda" and not cuda_availability()["onnxruntime"]["available"]:
        reason = cuda_availability()["onnxruntime"]["reason"]
    provider = CUDA_PROVIDER if bench_device == "cuda" else CPU_PROVIDER
    if reason:
        return [
            {
                "runtime": "onnxruntime",
                "variant": name,
                "device": bench_device,
                "provider": provider,
                "batch_size": size,
                "available": False,
                "reason": reason,
            }
            for size in feeds
        ]
    entries = []
    with _runner(path, bench_device, tuned) as runner:
        for size, feed in feeds.items():
            cancel.raise_if_cancelled()
            yield Progress(VARIANTS, 0, 0, f"{name} on {bench_device}, batch {size}")
            entry = yield from _quiet(_measure(runner, feed, size, bench, cancel))
            entry["variant"] = name
            entry["execution_mode"] = tuned["execution_mode"]
            entries.append(entry)
    return entries


def _quiet(steps: Generator[Event, None, Any]) -> Generator[Event, None, Any]:
    """Forward a core step's events as this step's: samples and parity batches belong to the
    plain export's plots, so they stay here; logs and progress are retitled."""
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, (LatencySamples, ParityBatch)):
            continue
        if isinstance(event, Log):
            yield Log(event.level, event.message, VARIANTS)
        elif isinstance(event, Progress) and event.step == PARITY:
            yield Progress(VARIANTS, 0, 0, f"parity: {event.message}")


def _speedups(
    latency: list[dict[str, Any]], plain_latency: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """{device: {batch: other p50 / variant p50}} against PyTorch eager and the plain export."""
    p50 = {
        (e["runtime"], e["device"], int(e["batch_size"])): e["p50_ms"]
        for e in plain_latency
        if e.get("available") and not e.get("variant")
    }
    vs_torch: dict[str, dict[str, float]] = {}
    vs_plain: dict[str, dict[str, float]] = {}
    for e in latency:
        if not e.get("available") or not e.get("p50_ms"):
            continue
        device, batch = e["device"], int(e["batch_size"])
        torch_ms = p50.get(("pytorch", device, batch))
        if torch_ms:
            vs_torch.setdefault(device, {})[str(batch)] = torch_ms / e["p50_ms"]
        plain_ms = p50.get(("onnxruntime", device, batch))
        if plain_ms:
            vs_plain.setdefault(device, {})[str(batch)] = plain_ms / e["p50_ms"]
    return vs_torch, vs_plain
