"""Driving an installed copy of the app (a wheel's venv, the bundle) as a user's shell would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def run_ok(
    argv: list[Any], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return it; fail the test with its output tails when it exits non-zero."""
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-4000:]}"
    return done


def run_demo_headless(
    app: Path, tmp_path: Path, *, env: dict[str, str], cwd: Path, timeout: float = 900
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """A demo checkpoint through ``app run`` (short benchmark): the run's output and its report."""
    checkpoint = tmp_path / "demo.pt"
    run_ok([app, "demo-checkpoint", checkpoint], env=env, cwd=cwd)
    report = tmp_path / "report.json"
    done = run_ok(
        [
            app,
            "run",
            checkpoint,
            "--out",
            tmp_path / "out",
            "--report",
            report,
            "--bench-iterations",
            "10",
            "--bench-warmup",
            "2",
            "--bench-batch-sizes",
            "1",
        ],
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
    assert "passed (exit code 0)" in done.stdout, done.stdout
    return done, json.loads(report.read_text())
