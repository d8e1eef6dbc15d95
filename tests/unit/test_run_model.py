"""The GUI's run model without Qt: events in, state out."""

from __future__ import annotations

import subprocess
import sys

from heimdall_studio.core.events import (
    BENCHMARK,
    EXPORT,
    LOAD,
    PARITY,
    VALIDATE,
    LatencySamples,
    Log,
    ParityBatch,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepStarted,
)
from heimdall_studio.gui.run_model import LogBook, RunModel, SampleBuffer

STEPS = (LOAD, EXPORT, VALIDATE, PARITY, BENCHMARK)


def test_the_run_model_imports_no_qt():
    code = (
        "import sys, heimdall_studio.gui.run_model; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_steps_follow_their_events_and_bump_only_their_sections():
    model = RunModel()
    model.begin("pipeline", STEPS, "demo.pt")
    assert model.running and model.steps[LOAD].status == "waiting" and model.steps["metadata"].status == "skipped"
    before = dict(model.revisions)
    assert model.apply(StepStarted(EXPORT)) == {"steps"}
    assert model.steps[EXPORT].status == "running" and model.steps[EXPORT].total == 0
    model.apply(Progress(EXPORT, 2, 4, "tracing"))
    assert (model.steps[EXPORT].done, model.steps[EXPORT].total, model.steps[EXPORT].message) == (2, 4, "tracing")
    assert model.apply(StepFinished(EXPORT, {"onnx_path": "/tmp/x.onnx"}, 1.5)) == {"steps", "results"}
    assert model.passed(EXPORT) and model.result(EXPORT)["onnx_path"] == "/tmp/x.onnx"
    assert model.revisions["latency"] == before["latency"] and model.revisions["parity"] == before["parity"]


def test_latency_and_parity_series_accumulate_in_buffers():
    model = RunModel()
    model.begin("pipeline", STEPS)
    for chunk in range(30):  # more than a buffer's first capacity: it grows
        model.apply(LatencySamples("onnxruntime", "cpu", "CPUExecutionProvider", 8, tuple([1.0 + chunk] * 50)))
    model.apply(LatencySamples("onnxruntime", "cpu", "CPUExecutionProvider", 8, (9.0, 9.0), warmup=True))
    series = model.latency[("onnxruntime", "cpu", 8)]
    assert series.timed.size == 1500 and series.warmup.size == 2
    assert series.timed.view[0] == 1.0 and series.timed.view[-1] == 30.0
    for index in range(3):
        model.apply(ParityBatch(index, 8, "positions", 1e-6 * (index + 1), 1e-7, 1e-4, index != 2))
    parity = model.parity["positions"]
    assert list(parity.batch.view) == [0, 1, 2] and parity.max_abs.view[-1] == 3e-6
    assert parity.atol == 1e-4 and parity.failed_batches == 1


def test_a_failure_is_kept_and_unfinished_steps_say_what_happened():
    model = RunModel()
    model.begin("pipeline", STEPS)
    model.apply(StepStarted(LOAD))
    model.apply(StepFinished(LOAD, {"kind": "checkpoint"}))
    model.apply(StepStarted(EXPORT))
    model.apply(StepFailed(EXPORT, "bad_input", "The model cannot be traced.", "Try the other exporter."))
    model.apply(PipelineFinished("failed", 2, {"status": "failed"}))
    assert model.failure is not None and model.failure.message == "The model cannot be traced."
    assert model.steps[EXPORT].status == "failed"
    assert model.steps[VALIDATE].status == "skipped" and model.steps[PARITY].status == "skipped"
    assert not model.running and model.status == "failed" and model.report == {"status": "failed"}


def test_cancel_marks_the_running_step_cancelled_and_keeps_no_failure():
    model = RunModel()
    model.begin("pipeline", STEPS)
    model.apply(StepStarted(PARITY))
    model.apply(StepFailed(PARITY, "cancelled", "Cancelled during parity."))
    model.apply(PipelineFinished("cancelled", 130))
    assert model.steps[PARITY].status == "cancelled" and model.failure is None


def test_a_new_run_forgets_the_last_but_the_log_book_keeps_the_history():
    logbook = LogBook()
    model = RunModel(logbook)
    model.begin("pipeline", STEPS)
    model.apply(LatencySamples("pytorch", "cpu", "torch", 1, (5.0,)))
    model.apply(Log("warning", "slow machine", BENCHMARK))
    model.apply(PipelineFinished("passed", 0, {"status": "passed"}))
    generation = model.generation
    model.begin("pipeline", STEPS)
    assert model.generation == generation + 1
    assert not model.latency and model.finished is None and model.failure is None
    assert logbook.since(0) == ["[warning] benchmark: slow machine"]
    model.log("second")
    assert logbook.since(1) == ["second"] and logbook.count == 2


def test_sample_buffer_views_without_copying():
    buffer = SampleBuffer(2)
    buffer.extend([1, 2, 3])
    view = buffer.view
    assert list(view) == [1.0, 2.0, 3.0]
    assert view.base is not None  # a view into the preallocated array, not a copy
