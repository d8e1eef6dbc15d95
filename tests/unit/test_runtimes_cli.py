"""`--runtimes` and `--openvino-precision` end to end through the real command line."""

from __future__ import annotations

import json

import pytest
import torch

from tests.support.cli_run import assert_bad_input, cli
from tests.support.tiny_models import TwoHeadNet
from tests.unit.test_cli import QUICK, TINY_ARGS


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path


def test_bench_with_openvino_reports_its_entries_and_speedup(tmp_path, tiny_checkpoint):
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
        "--runtimes",
        "pytorch,onnxruntime,openvino",
        *QUICK,
        *TINY_ARGS,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    report = json.loads(report_path.read_text())
    assert [e["runtime"] for e in report["latency"]] == ["pytorch", "onnxruntime", "openvino"]
    openvino = report["latency"][2]
    assert openvino["available"] and openvino["precision"] in ("f32", "bf16")
    assert report["benchmark"]["speedup_by_runtime"]["openvino"]["cpu"]["1"] > 0
    assert f"openvino ({openvino['precision']})" in result.stdout and "OpenVINO: cpu batch 1:" in result.stdout


def test_run_checks_openvino_parity_in_the_precision_it_uses(tmp_path, tiny_checkpoint):
    report_path = tmp_path / "run.json"
    result = cli(
        "run",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        "--report",
        str(report_path),
        "--exporter",
        "torchscript",
        "--skip-bench",
        "--batches",
        "2",
        "--runtimes",
        "pytorch,onnxruntime,openvino",
        "--openvino-precision",
        "f32",
        *TINY_ARGS,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    parity = json.loads(report_path.read_text())["parity"]
    assert parity["passed"] is True and parity["candidate"].startswith("onnxruntime")  # ORT's keys as before
    openvino = parity["runtimes"]["openvino"]
    assert openvino["precision"] == "f32" and openvino["passed"] is True
    assert openvino["criteria"]["default"] == {"atol": 1e-4, "rtol": 1e-3, "mean_atol": 1e-5}  # f32: strict
    assert set(openvino["outputs"]) == {"positions", "uncertainties"}
    assert all(0 <= o["max_abs"] < 1e-4 and o["mean_abs"] >= 0 for o in openvino["outputs"].values())
    assert "OpenVINO (f32) passed" in result.stdout


def test_unknown_runtime_is_bad_input(tmp_path, tiny_checkpoint):
    result = cli("bench", str(tiny_checkpoint), "--runtimes", "pytorch,tvm", *TINY_ARGS)
    assert_bad_input(result, "--runtimes 'pytorch,tvm': unknown runtime tvm.", "openvino")
