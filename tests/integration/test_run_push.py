"""`heimdall-studio run SOURCE --push --promote staging`: the whole pipeline, then the registry.

Against the real mlflow server + S3 endpoint, and on the embedded profile with no server.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heimdall_studio.integrations.mlflow_sources import download
from heimdall_studio.integrations.registry import list_versions
from heimdall_studio.integrations.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--bench-iterations", "3", "--bench-warmup", "1", "--bench-batch-sizes", "1", "--batches", "2"]


def heimdall(*argv: object) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160")
    return subprocess.run(
        [sys.executable, "-m", "heimdall_studio", *map(str, argv)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.slow
def test_run_demo_checkpoint_push_promote_against_real_servers(remote, tmp_path):
    checkpoint = tmp_path / "demo.pt"
    assert heimdall("demo-checkpoint", checkpoint).returncode == 0
    report_path = tmp_path / "report.json"
    result = heimdall(
        "run",
        checkpoint,
        "--out",
        tmp_path / "out",
        "--report",
        report_path,
        *QUICK,
        "--push",
        "--model-name",
        remote.names.model,
        "--promote",
        "staging",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    push = report["push"]
    assert push["model_name"] == remote.names.model and push["version"] == "1"
    assert push["sha256_verified"] is True
    assert push["s3_uri"].startswith(f"s3://heimdall-models/{remote.names.prefix}v")
    assert "staging" in push["aliases"] and push["stage"] == "Staging"

    onnx_name = Path(report["onnx"]["path"]).name
    key = push["s3_uri"].removeprefix("s3://heimdall-models/") + onnx_name
    head = remote.client.head_object(Bucket="heimdall-models", Key=key)
    assert head["Metadata"]["sha256"] == report["onnx"]["sha256"]

    [version] = list_versions(load_settings(), remote.names.model)
    assert version["aliases"] == ["staging"] and version["stage"] == "Staging"
    tags = version["tags"]
    assert tags["parity_passed"] == "true" and tags["opset"] == "18"
    assert tags["sha256"] == report["onnx"]["sha256"]
    assert any(k.startswith("latency.onnxruntime.cpu.b1.p50_ms") for k in tags)

    local = download(load_settings(), f"models:/{remote.names.model}@staging", tmp_path / "served")
    served = [p for p in Path(local).rglob("*.onnx")]
    assert len(served) == 1 and sha(served[0]) == report["onnx"]["sha256"]


def test_run_push_promote_on_the_embedded_profile(tmp_path):
    """No MLflow or S3 variables at all: a local SQLite store and a local model folder."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    checkpoint = tmp_path / "tiny.pt"
    torch.save(TwoHeadNet().state_dict(), checkpoint)
    result = heimdall(
        "run",
        checkpoint,
        "--out",
        tmp_path / "out",
        "--exporter",
        "torchscript",
        *QUICK,
        "--model-class",
        "tests.support.tiny_models:TwoHeadNet",
        "--input",
        "x:batch,3,16,8",
        "--push",
        "--promote",
        "staging",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    settings = load_settings()
    assert settings.is_embedded
    [version] = list_versions(settings, "heimdall-localization-onnx")
    assert version["aliases"] == ["staging"] and version["stage"] == "Staging"
    onnx_file = next((tmp_path / "out").glob("*.onnx"))
    local = download(settings, "models:/heimdall-localization-onnx@staging", tmp_path / "served")
    [served] = list(Path(local).rglob("*.onnx"))
    assert sha(served) == sha(onnx_file)
    # Running the same push again registers nothing new.
    again = heimdall(
        "run",
        checkpoint,
        "--out",
        tmp_path / "out2",
        "--exporter",
        "torchscript",
        *QUICK,
        "--model-class",
        "tests.support.tiny_models:TwoHeadNet",
        "--input",
        "x:batch,3,16,8",
        "--push",
    )
    assert again.returncode == 0, again.stderr
    assert len(list_versions(settings, "heimdall-localization-onnx")) == 1
