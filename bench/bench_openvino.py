"""PyTorch eager vs ONNX Runtime vs OpenVINO (its own precision, and f32) on the CPU, as ratios.

    .venv/bin/python bench/bench_openvino.py --backbone tiny --batch-sizes 1,8

Exports LocalizationNet once (dynamo), checks each runtime's parity against PyTorch (OpenVINO in
the precision it computes in, with that precision's criteria), then measures the runners one after
another, interleaving ``--repeats`` rounds, and reports p50 ratios against the PyTorch p50 of the
same round (like bench_runtimes.py), with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_runtimes import drain, load_localization_net, measure, ratios  # noqa: E402

from heimdall_studio.core.cancel import CancelToken  # noqa: E402
from heimdall_studio.core.export import export_step  # noqa: E402
from heimdall_studio.core.feeds import random_feed  # noqa: E402
from heimdall_studio.core.metadata import library_versions  # noqa: E402
from heimdall_studio.core.parity import parity_step  # noqa: E402
from heimdall_studio.core.runners import OrtRunner, Runner, TorchRunner  # noqa: E402
from heimdall_studio.core.runtimes import OpenVinoRunner, openvino_version, parity_tolerance  # noqa: E402
from heimdall_studio.core.specs import ExportOptions, ParityOptions  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--json", default="", help="where to write the results (default: bench/results/…)")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    model = load_localization_net(args.backbone)
    out: dict[str, Any] = {
        "backbone": args.backbone,
        "batch_sizes": batch_sizes,
        "repeats": args.repeats,
        "iterations": args.iterations,
        "versions": {**library_versions(), "openvino": openvino_version()},
        "loadavg_before": os.getloadavg(),
        "parity": {},
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="heimdall-bench-ov-") as tmp:
        export = drain(export_step(model, Path(tmp), ExportOptions(), CancelToken()))
        runners: dict[str, Runner] = {
            "pytorch": TorchRunner(model.module, ["mel_spectrogram"], model.output_names),
            "onnxruntime": OrtRunner(export.onnx_path),
            "openvino(auto)": OpenVinoRunner(export.onnx_path, "auto"),
            "openvino(f32)": OpenVinoRunner(export.onnx_path, "f32"),
        }
        for name, runner in runners.items():
            if name == "pytorch":
                continue
            runner.activate()
            precision = getattr(runner, "precision", "f32")
            options = ParityOptions(default=parity_tolerance(precision, ParityOptions().default))
            parity = drain(parity_step(runners["pytorch"], runner, model.inputs, options, CancelToken()))
            out["parity"][name] = {
                "precision": precision,
                "passed": parity.passed,
                "criteria": parity.criteria["default"],
                "max_abs": {k: o["max_abs"] for k, o in parity.outputs.items()},
                "mean_abs": {k: o["mean_abs"] for k, o in parity.outputs.items()},
            }
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
    out["loadavg_after"] = os.getloadavg()
    out["ratios"] = ratios(out["runs"])
    print_table(out)
    path = (
        Path(args.json)
        if args.json
        else (Path(__file__).parent / "results" / f"openvino-{args.backbone}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path}")
    return 0


def print_table(out: dict[str, Any]) -> None:
    import statistics

    print(f"LocalizationNet-{out['backbone']}, {out['repeats']} interleaved repeats × {out['iterations']} iterations")
    print(f"load average before {out['loadavg_before']}, after {out['loadavg_after']}")
    print("\nrunner            precision  parity  max_abs(positions)  criteria")
    for name, p in out["parity"].items():
        print(
            f"{name:<17} {p['precision']:<9}  {'pass' if p['passed'] else 'FAIL':>6}  "
            f"{p['max_abs'].get('positions', float('nan')):>18.2e}  {p['criteria']}"
        )
    print("\nbatch  runner            p50 / PyTorch p50 (median [min–max])  PyTorch/runner  median p50 ms  contention")
    for batch, by_runner in out["ratios"].items():
        for runner, ratio in by_runner.items():
            runs = [r for r in out["runs"] if r["runner"] == runner and str(r["batch_size"]) == batch]
            p50 = statistics.median(r["p50_ms"] for r in runs)
            contention = max(r["contention"] for r in runs)
            print(
                f"{batch:>5}  {runner:<16}  {ratio['median']:>6.2f} [{ratio['min']:.2f}–{ratio['max']:.2f}]"
                f"{'':>20}{1 / ratio['median']:>6.2f}×{p50:>15.2f}  {contention:>9.0%}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
