"""Running the real command line in a child process, as a CI job does, and checking bad-input exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``heimdall-studio ARGS`` from the repository root (``prefix`` wraps the command, e.g. unshare)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run(
        [*prefix, sys.executable, "-m", "heimdall_studio", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_bad_input(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2, no traceback, not called a bug, and every ``expected`` text in the output."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "looks like a bug" not in output, output
    for text in expected:
        assert text in output, output
