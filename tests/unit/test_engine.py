"""The engine child process: events over a pipe, cancel during a long export, crash handling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from heimdall_studio.core import events as ev
from heimdall_studio.core.specs import BenchmarkOptions, ExportOptions, ParityOptions, SourceOptions
from heimdall_studio.engine.client import EngineClient
from heimdall_studio.engine.request import PipelineRequest
from tests.support.tiny_models import CrashingNet, SlowExportNet, TwoHeadNet

QUICK_BENCH = BenchmarkOptions(warmup=1, iterations=5, batch_sizes=(1,))


def _state_dict_file(tmp_path: Path, module: torch.nn.Module, name: str) -> Path:
    path = tmp_path / name
    torch.save(module.state_dict(), path)
    return path


def _collect(client: EngineClient, on_event=None, timeout_s: float = 180.0) -> list[ev.Event]:
    seen: list[ev.Event] = []
    deadline = time.monotonic() + timeout_s
    for event in client.events():
        seen.append(event)
        if on_event is not None:
            on_event(event)
        assert time.monotonic() < deadline, "engine did not finish in time"
    return seen


def test_engine_runs_the_pipeline_and_streams_typed_events(tmp_path):
    checkpoint = _state_dict_file(tmp_path, TwoHeadNet(), "two_head.pt")
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(tmp_path / "out"),
        source_options=SourceOptions(
            model_class="tests.support.tiny_models:TwoHeadNet",
            inputs=("x:batch,3,16,8:float32",),
            output_names=("positions", "uncertainties"),
        ),
        export=ExportOptions(exporter="torchscript"),
        parity=ParityOptions(batches=2, batch_size=4),
        benchmark=QUICK_BENCH,
    )
    with EngineClient(request) as client:
        seen = _collect(client)
        assert client.wait(10) == 0

    started = [e.step for e in seen if isinstance(e, ev.StepStarted)]
    finished = {e.step: e for e in seen if isinstance(e, ev.StepFinished)}
    assert started == ["load", "export", "validate", "parity", "benchmark", "metadata"]
    assert set(finished) == set(started)
    assert any(isinstance(e, ev.ParityBatch) for e in seen)
    assert any(isinstance(e, ev.LatencySamples) and not e.warmup for e in seen)
    last = seen[-1]
    assert isinstance(last, ev.PipelineFinished)
    assert (last.status, last.exit_code) == ("passed", 0)
    onnx_path = Path(last.report["onnx"]["path"])
    assert onnx_path.is_file() and onnx_path.parent == tmp_path / "out"
    assert len(last.report["onnx"]["sha256"]) == 64


def test_cancel_during_export_stops_the_engine_and_leaves_no_onnx_file(tmp_path):
    checkpoint = _state_dict_file(tmp_path, SlowExportNet(), "slow.pt")
    out_dir = tmp_path / "out"
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(out_dir),
        source_options=SourceOptions(
            model_class="tests.support.tiny_models:SlowExportNet", inputs=("x:batch,4:float32",)
        ),
        export=ExportOptions(exporter="torchscript"),
        benchmark=QUICK_BENCH,
    )
    client = EngineClient(request, grace_s=1.0)
    cancelled_at: list[float] = []

    def cancel_once_export_starts(event):
        if isinstance(event, ev.StepStarted) and event.step == "export":
            time.sleep(0.5)  # let the export get into torch's tracing
            cancelled_at.append(time.monotonic())
            client.cancel()

    with client:
        seen = _collect(client, cancel_once_export_starts, timeout_s=120)
    stopped_after = time.monotonic() - cancelled_at[0]
    last = seen[-1]
    assert isinstance(last, ev.PipelineFinished)
    assert (last.status, last.exit_code) == ("cancelled", 130)
    failed = [e for e in seen if isinstance(e, ev.StepFailed)]
    assert failed and failed[-1].step == "export" and failed[-1].error_kind == "cancelled"
    assert stopped_after < 6.0, f"engine took {stopped_after:.1f} s to stop"
    assert not client.running
    assert not list(out_dir.glob("*.onnx")), "a cancelled export left an .onnx file"


def test_a_crashing_engine_arrives_as_a_failed_step_not_a_hang(tmp_path):
    checkpoint = _state_dict_file(tmp_path, CrashingNet(), "crash.pt")
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(tmp_path / "out"),
        source_options=SourceOptions(
            model_class="tests.support.tiny_models:CrashingNet", inputs=("x:batch,4:float32",)
        ),
    )
    with EngineClient(request) as client:
        seen = _collect(client, timeout_s=120)
    failed = [e for e in seen if isinstance(e, ev.StepFailed)]
    assert len(failed) == 1
    assert failed[0].error_kind == "engine_crashed"
    assert "SIGSEGV" in failed[0].message
    assert failed[0].hint
    last = seen[-1]
    assert isinstance(last, ev.PipelineFinished) and last.status == "failed" and last.exit_code == 1


def test_bad_input_in_the_engine_is_a_failed_step_with_a_hint(tmp_path):
    request = PipelineRequest(source=str(tmp_path / "missing.pt"), out_dir=str(tmp_path / "out"))
    with EngineClient(request) as client:
        seen = _collect(client, timeout_s=60)
    failed = [e for e in seen if isinstance(e, ev.StepFailed)]
    assert [f.error_kind for f in failed] == ["bad_input"]
    assert "missing.pt" in failed[0].message and failed[0].hint
    assert "Traceback" not in failed[0].message
    assert seen[-1].exit_code == 2


@pytest.mark.parametrize(
    "event",
    [
        ev.StepStarted("export", "Export"),
        ev.Progress("parity", 3, 6, "batch 3"),
        ev.LatencySamples("onnxruntime", "cpu", "CPUExecutionProvider", 8, (1.5, 2.25)),
        ev.ParityBatch(0, 8, "positions", float("nan"), 1e-7, 1e-4, False),
        ev.Log("warning", "hello", "export"),
        ev.StepFinished("validate", {"passed": True}, 0.5, True),
        ev.StepSkipped("export", "already ONNX"),
        ev.StepFailed("load", "bad_input", "msg", "hint", "details"),
        ev.PipelineFinished("passed", 0, {"a": [1, 2]}),
    ],
)
def test_events_round_trip_through_strict_json(event):
    import json
    import math

    text = json.dumps(ev.to_json_dict(event), allow_nan=False)
    back = ev.from_json_dict(json.loads(text))
    if isinstance(event, ev.ParityBatch):
        assert math.isnan(back.max_abs) and back.mean_abs == event.mean_abs
    else:
        assert back == event
