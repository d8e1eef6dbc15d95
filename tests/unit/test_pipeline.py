"""The pipeline in-process: report contract, quality gates, ONNX sources with a reference."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from heimdall_studio.core import events as ev
from heimdall_studio.core.specs import BenchmarkOptions, ExportOptions, ParityOptions, SourceOptions
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest
from tests.support.tiny_models import TwoHeadNet

TINY = SourceOptions(
    model_class="tests.support.tiny_models:TwoHeadNet",
    inputs=("x:batch,3,16,8:float32",),
    output_names=("positions", "uncertainties"),
)
QUICK_BENCH = BenchmarkOptions(warmup=1, iterations=5, batch_sizes=(1, 2))


def _checkpoint(tmp_path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    path = tmp_path / f"two_head_{seed}.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path


def _run(request: PipelineRequest) -> tuple[list[ev.Event], ev.PipelineFinished]:
    seen = list(run_pipeline(request))
    assert isinstance(seen[-1], ev.PipelineFinished)
    assert sum(isinstance(e, ev.PipelineFinished) for e in seen) == 1
    return seen, seen[-1]


def test_report_has_the_documented_sections(tmp_path):
    report_file = tmp_path / "r.json"
    request = PipelineRequest(
        source=str(_checkpoint(tmp_path, 0)),
        out_dir=str(tmp_path / "out"),
        source_options=TINY,
        export=ExportOptions(exporter="dynamo"),
        parity=ParityOptions(batches=2, batch_size=4),
        benchmark=QUICK_BENCH,
        report_path=str(report_file),
    )
    _, finished = _run(request)
    assert finished.exit_code == 0, finished.report.get("errors")
    report = json.loads(report_file.read_text())  # strict JSON on disk
    assert report["source"]["path"].endswith("two_head_0.pt")
    onnx = report["onnx"]
    for key in ("path", "sha256", "size_bytes", "opset", "ir_version", "producer", "inputs", "outputs"):
        assert onnx[key] not in (None, ""), key
    assert onnx["opset"] == 18
    assert onnx["inputs"][0]["name"] == "x"
    assert isinstance(onnx["inputs"][0]["shape"][0], str), "batch axis must be symbolic"
    assert [o["name"] for o in onnx["outputs"]] == ["positions", "uncertainties"]
    assert report["validation"]["passed"] is True
    parity = report["parity"]
    assert parity["passed"] is True and "criteria" in parity
    for name in ("positions", "uncertainties"):
        row = parity["outputs"][name]
        assert {"max_abs", "mean_abs", "max_rel", "p99_abs", "passed"} <= set(row)
    cpu = [e for e in report["latency"] if e["device"] == "cpu"]
    assert {(e["runtime"], e["batch_size"]) for e in cpu} == {
        ("pytorch", 1),
        ("pytorch", 2),
        ("onnxruntime", 1),
        ("onnxruntime", 2),
    }
    for e in cpu:
        assert e["p50_ms"] > 0 and e["p99_ms"] >= e["p50_ms"] and e["throughput_per_s"] > 0
        assert e["iterations"] == 5
    cuda = [e for e in report["latency"] if e["device"] == "cuda"]
    if not torch.cuda.is_available():
        assert cuda and all(e["available"] is False and e["reason"] for e in cuda)
    assert {"torch", "onnx", "onnxruntime"} <= set(report["versions"])
    assert set(report["timings"]) == {"load", "export", "validate", "parity", "benchmark", "metadata"}
    # The default report also lands next to the ONNX file.
    assert Path(onnx["path"]).with_name(Path(onnx["path"]).stem + ".report.json").is_file()


def test_parity_failure_is_a_gate_failure_with_exit_code_1(tmp_path):
    exported = tmp_path / "out"
    _, first = _run(
        PipelineRequest(
            source=str(_checkpoint(tmp_path, 0)),
            out_dir=str(exported),
            source_options=TINY,
            steps=("load", "export"),
            export=ExportOptions(exporter="torchscript"),
        )
    )
    onnx_path = first.report["onnx"]["path"]
    # The same architecture with other weights as the reference: outputs must differ.
    request = PipelineRequest(
        source=onnx_path,
        reference=str(_checkpoint(tmp_path, 1)),
        source_options=TINY,
        out_dir=str(exported),
        steps=("load", "export", "validate", "parity", "metadata"),
        parity=ParityOptions(batches=1, batch_size=4),
    )
    seen, finished = _run(request)
    assert any(isinstance(e, ev.StepSkipped) and e.step == "export" for e in seen)
    assert (finished.status, finished.exit_code) == ("gate_failed", 1)
    assert finished.report["gates_failed"] == ["parity"]
    assert finished.report["parity"]["passed"] is False


def test_onnx_source_without_reference_skips_parity_but_benchmarks_ort(tmp_path):
    _, first = _run(
        PipelineRequest(
            source=str(_checkpoint(tmp_path, 0)),
            out_dir=str(tmp_path / "out"),
            source_options=TINY,
            steps=("load", "export"),
            export=ExportOptions(exporter="torchscript"),
        )
    )
    seen, finished = _run(
        PipelineRequest(
            source=first.report["onnx"]["path"],
            out_dir=str(tmp_path / "out"),
            benchmark=BenchmarkOptions(warmup=1, iterations=3, batch_sizes=(1,), devices=("cpu",)),
        )
    )
    skipped = {e.step: e.reason for e in seen if isinstance(e, ev.StepSkipped)}
    assert set(skipped) == {"export", "parity"}
    assert finished.exit_code == 0
    entries = finished.report["latency"]
    ort = [e for e in entries if e["runtime"] == "onnxruntime" and e.get("available", True)]
    assert ort and ort[0]["p50_ms"] > 0
    torch_entries = [e for e in entries if e["runtime"] == "pytorch"]
    assert all(e["available"] is False and e["reason"] for e in torch_entries)


def test_unknown_step_is_bad_input(tmp_path):
    seen, finished = _run(PipelineRequest(source="x.pt", steps=("load", "teleport")))
    assert not any(isinstance(e, ev.StepStarted) for e in seen), "nothing runs before the request is checked"
    assert finished.exit_code == 2


def test_a_run_on_the_exported_file_keeps_the_earlier_report(tmp_path):
    """The app pushes with source=<the .onnx> and prior_report=<the full run's report>."""
    _, first = _run(
        PipelineRequest(
            source=str(_checkpoint(tmp_path, 0)),
            out_dir=str(tmp_path / "out"),
            source_options=TINY,
            steps=("load", "export", "validate", "parity"),
            export=ExportOptions(exporter="torchscript"),
            parity=ParityOptions(batches=1, batch_size=2),
        )
    )
    onnx_path = first.report["onnx"]["path"]
    _, later = _run(
        PipelineRequest(
            source=onnx_path, out_dir=str(tmp_path / "out"), steps=("load", "validate"), prior_report=first.report
        )
    )
    assert later.exit_code == 0
    assert later.report["source"]["path"].endswith("two_head_0.pt")
    assert later.report["onnx_source"]["path"] == onnx_path
    assert later.report["parity"] == first.report["parity"]
    assert later.report["export"]["exporter"] == "torchscript"


def test_a_report_is_as_readable_as_the_files_beside_it(tmp_path):
    import os
    import stat

    from heimdall_studio.engine.report import write_report

    previous = os.umask(0o022)
    try:
        path = write_report({"status": "passed"}, tmp_path / "model.report.json")
        beside = tmp_path / "model.onnx"
        beside.write_bytes(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(beside.stat().st_mode) == 0o644
