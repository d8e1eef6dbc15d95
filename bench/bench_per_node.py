"""What --per-node and --op-profile cost: peak RSS and wall time of `run`, side by side.

    .venv/bin/python bench/bench_per_node.py --backbone tiny --repeats 2

Writes a LocalizationNet demo checkpoint, exports it once (`run --skip-bench`), then runs the
real command line in child processes, interleaving repeats:

- ``plain``:    run MODEL.onnx --reference CKPT --skip-bench
- ``per_node``: the same with --per-node
- ``bench``:    run MODEL.onnx --reference CKPT (benchmark on the CPU, batch 1)
- ``op_profile``: the same with --op-profile

Peak RSS is the child's ``ru_maxrss`` (each run is measured by a fresh launcher process, so the
figure is that run's alone). Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "heimdall_studio"]


def measure(args: list[str]) -> dict[str, float]:
    """Run the CLI with ``args`` in a launcher child; its wall time, peak RSS and the report."""
    launcher = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
        "print(json.dumps({'rc': rc, 'wall_s': time.perf_counter() - t,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", launcher, *CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny")
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bench-iterations", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-per-node-") as tmp:
        folder = Path(tmp)
        ckpt = folder / f"localization_{args.backbone}.pt"
        subprocess.run(
            [*CLI, "demo-checkpoint", str(ckpt), "--backbone", args.backbone],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started = time.perf_counter()
        export = measure(
            ["run", str(ckpt), "--out", str(folder), "--skip-bench", "--batches", "1", "--exporter", args.exporter]
        )
        print(
            f"export run: {export['wall_s']:.1f} s, peak RSS {export['peak_rss_mb']:.0f} MB "
            f"({time.perf_counter() - started:.1f} s)"
        )
        onnx_path = folder / f"{ckpt.stem}.onnx"
        common = ["run", str(onnx_path), "--reference", str(ckpt), "--batches", "1"]
        bench = ["--devices", "cpu", "--bench-batch-sizes", "1", "--bench-iterations", str(args.bench_iterations)]
        configs = {
            "plain": [*common, "--skip-bench"],
            "per_node": [*common, "--skip-bench", "--per-node"],
            "bench": [*common, *bench],
            "op_profile": [*common, *bench, "--op-profile"],
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for repeat in range(args.repeats):
            for name, cli_args in configs.items():
                report = folder / f"{name}-{repeat}.json"
                figures = measure([*cli_args, "--report", str(report)])
                data = json.loads(report.read_text())
                figures["step_s"] = data.get("timings", {})
                latency = [e for e in data.get("latency", []) if e.get("runtime") == "onnxruntime"]
                figures["ort_p50_ms"] = latency[0].get("p50_ms") if latency else None
                figures["first_divergence"] = (data.get("per_node") or {}).get("first_divergence")
                figures["compared"] = (data.get("per_node") or {}).get("compared")
                runs[name].append(figures)
                print(
                    f"repeat {repeat} {name:<10} rc {figures['rc']} wall {figures['wall_s']:6.1f} s  "
                    f"peak RSS {figures['peak_rss_mb']:7.0f} MB  steps {figures['step_s']}"
                )
    summary = {
        name: {
            "wall_s": statistics.median(r["wall_s"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
        }
        for name, rs in runs.items()
    }
    print("\nmedian over repeats")
    for name, s in summary.items():
        print(f"  {name:<10} wall {s['wall_s']:6.1f} s  peak RSS {s['peak_rss_mb']:7.0f} MB")
    print(
        f"  --per-node adds {summary['per_node']['peak_rss_mb'] - summary['plain']['peak_rss_mb']:.0f} MB peak RSS, "
        f"{summary['per_node']['wall_s'] - summary['plain']['wall_s']:.1f} s"
    )
    print(
        f"  --op-profile adds {summary['op_profile']['wall_s'] - summary['bench']['wall_s']:.1f} s, "
        f"{summary['op_profile']['peak_rss_mb'] - summary['bench']['peak_rss_mb']:.0f} MB"
    )
    for name, step in (
        ("per_node", "per_node"),
        ("op_profile", "op_profile"),
        ("op_profile", "benchmark"),
        ("bench", "benchmark"),
    ):
        times = [r["step_s"].get(step) for r in runs[name] if r["step_s"].get(step) is not None]
        if times:
            print(f"  {step} step in the {name} runs: median {statistics.median(times):.2f} s")
    for name in ("bench", "op_profile"):
        p50 = [r["ort_p50_ms"] for r in runs[name] if r["ort_p50_ms"] is not None]
        if p50:
            print(f"  ONNX Runtime p50 at batch 1 in the {name} runs: {', '.join(f'{v:.2f}' for v in p50)} ms")
    out = args.json or ROOT / "bench" / "results" / f"per-node-{args.backbone}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"backbone": args.backbone, "exporter": args.exporter, "export": export, "runs": runs, "median": summary},
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
