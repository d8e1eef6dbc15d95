"""The command line as a CI job uses it: real processes, exit codes, reports, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.support.tiny_models import TwoHeadNet

ROOT = Path(__file__).resolve().parents[2]
TINY_ARGS = [
    "--model-class",
    "tests.support.tiny_models:TwoHeadNet",
    "--input",
    "x:batch,3,16,8:float32",
    "--output-name",
    "positions",
    "--output-name",
    "uncertainties",
]
QUICK = ["--bench-iterations", "5", "--bench-warmup", "1", "--bench-batch-sizes", "1"]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160")
    return subprocess.run(
        [sys.executable, "-m", "heimdall_studio", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    path = tmp_path / "tiny.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_demo_checkpoint_then_run_exits_0_with_a_full_report(tmp_path, exporter):
    checkpoint = tmp_path / "d.pt"
    made = cli("demo-checkpoint", str(checkpoint))
    assert made.returncode == 0, made.stderr
    report_path = tmp_path / "r.json"
    result = cli(
        "run",
        str(checkpoint),
        "--out",
        str(tmp_path / "out"),
        "--report",
        str(report_path),
        "--exporter",
        exporter,
        *QUICK,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["status"] == "passed"
    assert report["source"]["architecture"].startswith("LocalizationNet")
    assert [i["name"] for i in report["onnx"]["inputs"]] == ["mel_spectrogram"]
    assert [o["name"] for o in report["onnx"]["outputs"]] == ["positions", "uncertainties"]
    assert report["export"]["exporter"] == exporter
    assert report["onnx"]["opset"] == (18 if exporter == "dynamo" else 14)
    assert report["parity"]["passed"] is True
    assert str(report_path) in result.stdout and report["onnx"]["path"] in result.stdout


def test_inspect_describes_an_onnx_file(tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    first = cli("run", str(tiny_checkpoint), "--out", str(out), "--exporter", "torchscript", "--skip-bench", *TINY_ARGS)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "opsets ai.onnx 14," in first.stdout and "{" not in first.stdout  # not a raw dict
    onnx_file = next(out.glob("*.onnx"))
    report_path = tmp_path / "inspect.json"
    result = cli("inspect", str(onnx_file), "--report", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["validation"]["passed"] is True
    assert report["onnx"]["sha256"] and report["onnx"]["opset"] == 14
    assert "export" not in report["timings"] and "parity" not in report["timings"]


def test_bench_reports_latency_for_both_runtimes(tmp_path, tiny_checkpoint):
    report_path = tmp_path / "bench.json"
    result = cli(
        "bench",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        "--report",
        str(report_path),
        "--exporter",
        "torchscript",
        "--devices",
        "cpu",
        *QUICK,
        *TINY_ARGS,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    latency = json.loads(report_path.read_text())["latency"]
    assert {e["runtime"] for e in latency} == {"pytorch", "onnxruntime"}
    assert "Latency" in result.stdout


def test_existing_onnx_is_never_silently_overwritten(tmp_path, tiny_checkpoint):
    args = [
        "run",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        "--exporter",
        "torchscript",
        "--skip-bench",
        *TINY_ARGS,
    ]
    assert cli(*args).returncode == 0
    again = cli(*args)
    assert again.returncode == 2
    assert "--overwrite" in again.stderr
    assert cli(*args, "--overwrite").returncode == 0


def _zero_byte(tmp_path: Path) -> str:
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    return str(path)


def _random_bytes(tmp_path: Path) -> str:
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(4096))
    return str(path)


@pytest.mark.parametrize(
    "make_source, extra, expected",
    [
        (lambda tmp: str(tmp / "nope.pt"), [], "nope.pt"),
        (lambda tmp: str(tmp), [], "folder"),
        (_zero_byte, [], "empty"),
        (_random_bytes, [], "noise.pt"),
        (lambda tmp: str(tmp / "nope.pt"), ["--input", "x:batch;3:float32"], "input spec"),
        (lambda tmp: str(tmp / "nope.pt"), ["--model-kwargs", "{oops"], "--model-kwargs"),
        (lambda tmp: str(tmp / "nope.pt"), ["--bench-batch-sizes", "0"], "--bench-batch-sizes"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path, make_source, extra, expected):
    result = cli("run", make_source(tmp_path), "--out", str(tmp_path / "out"), *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unwritable_output_directory_is_bad_input(tmp_path, tiny_checkpoint):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("run", str(tiny_checkpoint), "--out", str(blocker / "out"), "--skip-bench", *TINY_ARGS)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help():
    assert cli("--version").stdout.startswith("heimdall-studio ")
    help_text = cli("run", "--help").stdout
    for flag in (
        "--exporter",
        "--opset",
        "--input",
        "--model-class",
        "--trust",
        "--atol",
        "--rtol",
        "--batches",
        "--batch-size",
        "--bench-iterations",
        "--bench-warmup",
        "--bench-batch-sizes",
        "--devices",
        "--push",
        "--report",
    ):
        assert flag in help_text, flag
