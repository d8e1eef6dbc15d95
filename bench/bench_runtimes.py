"""PyTorch eager vs ONNX Runtime on the CPU for LocalizationNet, as ratios.

    .venv/bin/python bench/bench_runtimes.py --backbone tiny --batch-sizes 1,8

Exports the model with both exporters (timing each), checks parity of each
export, then measures PyTorch and ONNX Runtime (one session per exporter's
file) one after another, interleaving repeats so drift hits all of them alike.
Latencies are reported as ratios against the PyTorch p50 measured in the same
repeat: absolute times on a shared machine drift ±10–25 %, ratios far less.
Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heimdall_studio.core.cancel import CancelToken  # noqa: E402
from heimdall_studio.core.export import export_step  # noqa: E402
from heimdall_studio.core.feeds import random_feed  # noqa: E402
from heimdall_studio.core.metadata import library_versions  # noqa: E402
from heimdall_studio.core.model import LoadedModel  # noqa: E402
from heimdall_studio.core.parity import parity_step  # noqa: E402
from heimdall_studio.core.runners import OrtRunner, Runner, TorchRunner  # noqa: E402
from heimdall_studio.core.specs import EXPORTERS, ExportOptions, ParityOptions  # noqa: E402
from heimdall_studio.core.stats import ContentionMeter, latency_stats  # noqa: E402


def drain(steps: Any) -> Any:
    """Run a step to its end, dropping its events; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def load_localization_net(backbone: str) -> LoadedModel:
    try:
        from heimdall_studio.models.demo import demo_model
        from heimdall_studio.models.localization_net import INPUT_SPEC, OUTPUT_NAMES
    except ImportError as exc:
        raise SystemExit(f"LocalizationNet is not available in this checkout ({exc}).") from exc
    return LoadedModel(
        kind="checkpoint",
        source=f"localization_{backbone}",
        module=demo_model(backbone),
        inputs=[INPUT_SPEC],
        output_names=list(OUTPUT_NAMES),
        architecture=f"LocalizationNet({backbone})",
    )


def measure(runner: Runner, feed: dict[str, np.ndarray], warmup: int, iterations: int) -> dict[str, float]:
    for _ in range(warmup):
        runner.infer(feed)
    meter = ContentionMeter()
    meter.start()
    samples = []
    for _ in range(iterations):
        runner.infer(feed)
        samples.append(runner.last_inference_ms)
    return {**latency_stats(samples, len(next(iter(feed.values())))), "contention": meter.stop()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both runtimes (0: default)")
    parser.add_argument("--json", default="", help="where to write the results (default: bench/results/…)")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    model = load_localization_net(args.backbone)
    out: dict[str, Any] = {
        "backbone": args.backbone,
        "batch_sizes": batch_sizes,
        "repeats": args.repeats,
        "iterations": args.iterations,
        "threads": args.threads,
        "versions": library_versions(),
        "exports": {},
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="heimdall-bench-") as tmp:
        runners: dict[str, Runner] = {
            "pytorch": TorchRunner(model.module, ["mel_spectrogram"], model.output_names, threads=args.threads)
        }
        for exporter in EXPORTERS:
            export = drain(
                export_step(model, Path(tmp), ExportOptions(exporter=exporter, file_name=exporter), CancelToken())
            )
            runner = OrtRunner(export.onnx_path, threads=args.threads)
            parity = drain(parity_step(runners["pytorch"], runner, model.inputs, ParityOptions(), CancelToken()))
            out["exports"][exporter] = {
                "seconds": export.seconds,
                "opset": export.opset,
                "size_bytes": export.size_bytes,
                "parity_passed": parity.passed,
                "max_abs": {name: o["max_abs"] for name, o in parity.outputs.items()},
                "mean_abs": {name: o["mean_abs"] for name, o in parity.outputs.items()},
            }
            runners[f"onnxruntime({exporter})"] = runner
        feeds = {b: random_feed(model.inputs, b, np.random.default_rng(b)) for b in batch_sizes}
        for runner in runners.values():
            runner.activate()
        try:
            for repeat in range(args.repeats):
                for batch in batch_sizes:
                    for name, runner in runners.items():  # one after another, never concurrently
                        stats = measure(runner, feeds[batch], args.warmup, args.iterations)
                        out["runs"].append({"repeat": repeat, "batch_size": batch, "runner": name, **stats})
        finally:
            for runner in runners.values():
                runner.deactivate()
    out["ratios"] = ratios(out["runs"])
    print_table(out)
    path = (
        Path(args.json)
        if args.json
        else (Path(__file__).parent / "results" / f"runtimes-{args.backbone}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path}")
    return 0


def ratios(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """batch → runner → median over repeats of (runner p50 / PyTorch p50 of that repeat), with min/max."""
    base = {(r["repeat"], r["batch_size"]): r["p50_ms"] for r in runs if r["runner"] == "pytorch"}
    per: dict[tuple[int, str], list[float]] = {}
    for r in runs:
        per.setdefault((r["batch_size"], r["runner"]), []).append(r["p50_ms"] / base[(r["repeat"], r["batch_size"])])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (batch, runner), values in per.items():
        out.setdefault(str(batch), {})[runner] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
    return out


def print_table(out: dict[str, Any]) -> None:
    print(
        f"LocalizationNet-{out['backbone']} on CPU, {out['repeats']} interleaved repeats × "
        f"{out['iterations']} iterations"
    )
    print("\nexport     seconds  opset  parity  max_abs(positions)")
    for exporter, e in out["exports"].items():
        print(
            f"{exporter:<10} {e['seconds']:>7.2f}  {e['opset']:>5}  {'pass' if e['parity_passed'] else 'FAIL':>6}"
            f"  {e['max_abs'].get('positions', float('nan')):.2e}"
        )
    print("\nbatch  runner                      p50 / PyTorch p50 (median [min–max])  median p50 ms  contention")
    for batch, by_runner in out["ratios"].items():
        for runner, ratio in by_runner.items():
            runs = [r for r in out["runs"] if r["runner"] == runner and str(r["batch_size"]) == batch]
            p50 = statistics.median(r["p50_ms"] for r in runs)
            contention = max(r["contention"] for r in runs)
            print(
                f"{batch:>5}  {runner:<26}  {ratio['median']:>6.2f} [{ratio['min']:.2f}–{ratio['max']:.2f}]"
                f"{'':>17}{p50:>9.2f}  {contention:>9.0%}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
