"""The pipeline: load → export → validate → parity → benchmark → metadata → push.

``run_pipeline`` is a generator of core events. It wraps each step in
StepStarted / StepFinished (or StepFailed / StepSkipped), honours the cancel
token between events, assembles the JSON report and always ends with exactly
one PipelineFinished. The CLI iterates it in-process; the engine child process
iterates it and streams the events to the GUI.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import EXIT_CODES, BadInputError, ErrorKind, HeimdallError
from heimdall_studio.core.failures import DISK_FULL_HINT, describe_os_error, is_disk_full, user_error
from heimdall_studio.core.limits import release_memory
from heimdall_studio.core.redact import mask_all
from heimdall_studio.engine.report import new_report, record_step, write_report
from heimdall_studio.engine.request import PipelineRequest
from heimdall_studio.engine.state import RunState, SkipStep
from heimdall_studio.engine.steps import STEP_RUNNERS

_TEXT_EVENTS = (ev.Log, ev.Progress, ev.StepFailed, ev.StepSkipped, ev.StepFinished, ev.PipelineFinished)
TITLES = {
    ev.LOAD: "Load source",
    ev.EXPORT: "Export to ONNX",
    ev.VALIDATE: "Validate",
    ev.PARITY: "Parity PyTorch vs ONNX Runtime",
    ev.BENCHMARK: "Benchmark latency",
    ev.METADATA: "Metadata",
    ev.PUSH: "Push and register",
    ev.PER_NODE: "Per-node parity",
    ev.OP_PROFILE: "ONNX Runtime op profile",
    ev.VARIANTS: "Optimised variants",
}


def run_pipeline(request: PipelineRequest, cancel: CancelToken | None = None) -> Iterator[ev.Event]:
    cancel = cancel or CancelToken()
    state = RunState(request=request, cancel=cancel, report=new_report(request.source, request.prior_report))
    failure: HeimdallError | None = None
    unknown = [step for step in request.steps if step not in STEP_RUNNERS]
    if unknown:
        failure = BadInputError(f"Unknown pipeline step {unknown[0]!r}.", f"Steps are: {', '.join(STEP_RUNNERS)}.")
        yield ev.StepFailed(unknown[0], failure.kind.value, failure.message, failure.hint)
    try:
        for step in () if unknown else request.steps:
            failure = yield from _masked(_run_step(step, state))
            if failure is not None:
                break
    finally:  # downloads are removed whatever happens: failure, cancel, Ctrl+C
        state.remove_private_dirs()
    yield _mask_event(_finish(state, failure))


def _masked(events: Generator[ev.Event, None, Any]) -> Generator[ev.Event, None, Any]:
    """Forward ``events`` with URI credentials masked in every text they carry; return the result."""
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        yield _mask_event(event)


def _mask_event(event: ev.Event) -> Any:
    if not isinstance(event, _TEXT_EVENTS):
        return event
    changes = {
        f.name: mask_all(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if isinstance(getattr(event, f.name), (str, dict))
    }
    return dataclasses.replace(event, **changes)


def _run_step(step: str, state: RunState) -> Generator[ev.Event, None, HeimdallError | None]:
    yield ev.StepStarted(step, TITLES.get(step, step))
    started = time.perf_counter()
    try:
        state.cancel.raise_if_cancelled()
        result = yield from _checked(STEP_RUNNERS[step](state), state.cancel)
    except SkipStep as skip:
        yield ev.StepSkipped(step, str(skip))
        return None
    except HeimdallError as err:
        return (yield from _failed(step, state, err, started))
    except Exception as exc:  # a bug or an unexpected library error: report it, don't crash
        known = user_error(exc, f"running the {step} step")  # out of memory, disk full, ONNX Runtime
        if known is not None:
            return (yield from _failed(step, state, known, started))
        bug = HeimdallError(
            f"{step} failed unexpectedly: {type(exc).__name__}: {exc}".strip(),
            "This looks like a bug in Heimdall Studio or a library; the details "
            "hold the traceback. Run with --debug to see it in the terminal.",
        )
        state.report["errors"].append({"step": step, "kind": bug.kind.value, "message": bug.message})
        yield ev.StepFailed(step, bug.kind.value, bug.message, bug.hint, traceback.format_exc())
        return bug
    seconds = time.perf_counter() - started
    release_memory()  # what the step freed goes back to the system before the next one allocates
    data = result.to_dict() if hasattr(result, "to_dict") else dict(result or {})
    passed = bool(getattr(result, "passed", data.get("passed", True)))
    record_step(state.report, step, data, seconds)
    if not passed and step in (ev.VALIDATE, ev.PARITY):
        state.gates_failed.append(step)
    yield ev.StepFinished(step, ev.json_safe(data), round(seconds, 4), passed)
    return None


def _failed(step: str, state: RunState, err: HeimdallError, started: float) -> Generator[ev.Event, None, HeimdallError]:
    partial = err.result  # a step's result that is also a failure (see run_validate)
    if partial is not None:
        record_step(state.report, step, partial.to_dict(), time.perf_counter() - started)
    state.report["errors"].append({"step": step, "kind": err.kind.value, "message": err.message, "hint": err.hint})
    yield ev.StepFailed(step, err.kind.value, err.message, err.hint)
    return err


def _checked(gen: Generator[ev.Event, None, Any], cancel: CancelToken) -> Generator[ev.Event, None, Any]:
    """Forward a step's events, checking the cancel token between them; return its result."""
    try:
        while True:
            cancel.raise_if_cancelled()
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            yield item
    finally:
        gen.close()


def _finish(state: RunState, failure: HeimdallError | None) -> ev.PipelineFinished:
    report = state.report
    if failure is not None:
        status = "cancelled" if failure.kind is ErrorKind.CANCELLED else "failed"
        exit_code = failure.exit_code
    elif state.gates_failed:
        status, exit_code = "gate_failed", EXIT_CODES[ErrorKind.GATE_FAILED]
    else:
        status, exit_code = "passed", 0
    report["status"] = status
    report["exit_code"] = exit_code
    report["gates_failed"] = list(state.gates_failed)
    default = _default_report_path(state)
    paths = [default] if default is not None else []
    if state.request.report_path:
        paths.append(Path(state.request.report_path))
    if state.request.html_path:
        paths.append(Path(state.request.html_path))
    elif state.request.html_beside_onnx and default is not None:
        paths.append(default.with_suffix(".html"))  # NAME.report.html beside NAME.report.json
    for path in paths:
        try:
            write_report(report, path)
            report.setdefault("html_paths" if path.suffix.lower() in (".html", ".htm") else "report_paths", []).append(
                str(path)
            )
        except OSError as exc:
            report["errors"].append(
                {
                    "step": "report",
                    "kind": ErrorKind.BAD_INPUT.value,
                    "message": f"Could not write the report to {path}: {describe_os_error(exc)}.",
                    "hint": DISK_FULL_HINT
                    if is_disk_full(exc)
                    else "Choose a report path in a folder you can write to (--report, --out).",
                }
            )
            if exit_code == 0:
                status, exit_code = "failed", EXIT_CODES[ErrorKind.BAD_INPUT]
                report["status"], report["exit_code"] = status, exit_code
    return ev.PipelineFinished(status, exit_code, ev.json_safe(report))


def _default_report_path(state: RunState) -> Path | None:
    """NAME.report.json beside the ONNX file this run wrote into its output folder. For an existing
    .onnx source (a user's file) it goes to the output folder only when one was given: a look at a
    user's file writes nothing beside it, only where asked (--report, --out)."""
    if state.onnx_path is None:
        return None
    name = state.onnx_path.stem + ".report.json"
    if state.onnx_written:
        return state.onnx_path.with_name(name)
    return Path(state.request.out_dir) / name if state.request.out_dir else None
