"""The layering rules of ARCHITECTURE.md, checked with import-linter on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout, result.stdout


def test_core_imports_without_torch_or_qt():
    """`import heimdall_studio.core.*` must stay cheap: no torch, onnxruntime, openvino, mlflow or Qt."""
    code = (
        "import sys, heimdall_studio.core.specs, heimdall_studio.core.events, "
        "heimdall_studio.engine.pipeline, heimdall_studio.cli.main;"
        "heavy = [m for m in ('torch', 'onnxruntime', 'openvino', 'mlflow', 'PySide6', 'onnx', 'ray')"
        " if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_app_the_cli_and_core_do_not_import_ray():
    """Ray is an optional extra: importing the app, the CLI (with its sweep command) or core never imports it."""
    code = (
        "import sys, heimdall_studio.gui.app, heimdall_studio.gui.main_window, heimdall_studio.cli.main, "
        "heimdall_studio.cli.sweep_cmds, heimdall_studio.engine.sweep, heimdall_studio.core.benchmark;"
        "heimdall_studio.cli.main.build_parser();"
        "print('ray' in sys.modules); sys.exit(1 if 'ray' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
