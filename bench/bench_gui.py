"""The app's responsiveness and fidelity at its defaults, as ratios from one run of this script.

    .venv/bin/python bench/bench_gui.py --repeats 3

Each repeat, one after another on a fresh data folder (so the app's built-in defaults apply):
  1. ``python -c "import torch"``: the wall time a user waits for torch alone (the yardstick);
  2. ``heimdall-studio gui demo.pt --self-test``: first paint, UI stall (max, p99) over a full
     default run while every view is shown in turn, and the run's report;
  3. ``heimdall-studio bench demo.pt`` with the same defaults: the CLI's report.
It prints each repeat and the medians against the goals of issue 7:
  UI stall max ≤ 50 ms and p99 ≤ 20 ms; ONNX Runtime batch-1 p50 in the app ≤ 1.05 × the CLI's;
  first paint ≤ 0.4 × import torch. The contention column (share of CPU other processes took
  during the benchmark step) says whether a repeat ran on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"stall_max": 50.0, "stall_p99": 20.0, "p50_ratio": 1.05, "paint_ratio": 0.4}


def run(cmd: list[str], env: dict[str, str], timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def ort_p50(report: dict, batch: int = 1) -> tuple[float, float]:
    """(ONNX Runtime CPU p50 at ``batch``, contention) from a report."""
    for entry in (report.get("benchmark") or {}).get("entries", []):
        if (entry.get("runtime"), entry.get("device"), entry.get("batch_size")) == ("onnxruntime", "cpu", batch):
            return float(entry["p50_ms"]), float(entry.get("contention", 0.0) or 0.0)
    raise SystemExit(f"no ONNX Runtime CPU batch-{batch} entry in the report")


def one_repeat(python: str, workdir: Path) -> dict[str, float]:
    env = dict(os.environ, HEIMDALL_DATA_DIR=str(workdir / "data"), HEIMDALL_CONFIG_DIR=str(workdir / "config"))
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if not env.get("DISPLAY") else env.get("QT_QPA_PLATFORM", ""))
    demo = workdir / "demo.pt"
    if not demo.exists():
        made = run([python, "-m", "heimdall_studio", "demo-checkpoint", str(demo)], env)
        if made.returncode:
            raise SystemExit(made.stderr)

    started = time.perf_counter()
    run([python, "-c", "import torch"], env)
    import_torch_ms = (time.perf_counter() - started) * 1000

    app = run([python, "-m", "heimdall_studio", "gui", str(demo), "--self-test"], env)
    if app.returncode:
        raise SystemExit(f"--self-test exited {app.returncode}:\n{app.stdout}\n{app.stderr[-3000:]}")
    paint = float(re.search(r"first paint: (\d+) ms", app.stdout).group(1))
    stall_max, stall_p99 = map(float, re.search(r"ui stall: max (\d+) ms, p99 (\d+) ms", app.stdout).groups())
    run_s = float(re.search(r"run: ([\d.]+) s", app.stdout).group(1))
    app_report = json.loads(next((workdir / "data" / "runs" / "demo").glob("*.report.json")).read_text())
    app_p50, app_contention = ort_p50(app_report)

    cli_report_path = workdir / "cli-report.json"
    cli = run(
        [
            python,
            "-m",
            "heimdall_studio",
            "bench",
            str(demo),
            "--out",
            str(workdir / "cli-out"),
            "--overwrite",
            "--report",
            str(cli_report_path),
        ],
        env,
    )
    if cli.returncode:
        raise SystemExit(f"bench exited {cli.returncode}:\n{cli.stderr[-3000:]}")
    cli_p50, cli_contention = ort_p50(json.loads(cli_report_path.read_text()))
    return {
        "paint_ms": paint,
        "import_torch_ms": import_torch_ms,
        "paint_ratio": paint / import_torch_ms,
        "stall_max": stall_max,
        "stall_p99": stall_p99,
        "run_s": run_s,
        "app_p50": app_p50,
        "cli_p50": cli_p50,
        "p50_ratio": app_p50 / cli_p50,
        "contention": max(app_contention, cli_contention),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write every repeat and the medians here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="heimdall-bench-gui-") as tmp:
        for repeat in range(args.repeats):
            row = one_repeat(sys.executable, Path(tmp))
            rows.append(row)
            print(
                f"repeat {repeat + 1}: first paint {row['paint_ms']:.0f} ms / import torch "
                f"{row['import_torch_ms']:.0f} ms = {row['paint_ratio']:.2f}; ui stall max {row['stall_max']:.0f} "
                f"ms, p99 {row['stall_p99']:.0f} ms; ORT bs1 p50 app {row['app_p50']:.2f} ms / CLI "
                f"{row['cli_p50']:.2f} ms = {row['p50_ratio']:.3f}; run {row['run_s']:.1f} s; "
                f"contention {row['contention']:.0%}",
                flush=True,
            )
    medians = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print("\nmedian of", len(rows), "repeats (goal in brackets):")
    print(f"  ui stall max  {medians['stall_max']:.0f} ms   (≤ {GOALS['stall_max']:.0f})")
    print(f"  ui stall p99  {medians['stall_p99']:.0f} ms   (≤ {GOALS['stall_p99']:.0f})")
    print(f"  in-app / CLI ONNX Runtime bs1 p50  {medians['p50_ratio']:.3f}   (≤ {GOALS['p50_ratio']})")
    print(f"  first paint / import torch  {medians['paint_ratio']:.2f}   (≤ {GOALS['paint_ratio']})")
    print(f"  contention (max of app and CLI benchmark)  {medians['contention']:.0%}")
    if args.json:
        args.json.write_text(json.dumps({"repeats": rows, "median": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
