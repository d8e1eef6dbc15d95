"""The installed entry point (`python -m heimdall_studio`) against the real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.servers import free_port, tiny_onnx

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heimdall_studio", *map(str, argv)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_push_exit_codes_through_the_entry_point(remote, tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    ok = run("push", model, "--model-name", remote.names.model, "--promote", "staging")
    assert ok.returncode == 0, ok.stderr
    assert f"Registered: {remote.names.model} version 1" in ok.stdout
    os.environ["MLFLOW_S3_ENDPOINT_URL"] = dead = f"http://127.0.0.1:{free_port()}"
    try:
        down = run("push", model, "--model-name", remote.names.model, "--force")
    finally:
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = remote.s3.url
    assert down.returncode == 3 and f"Cannot reach the S3 endpoint {dead}" in down.stderr
    assert remote.s3.secret_key not in down.stderr + down.stdout
