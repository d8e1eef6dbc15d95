"""One engine run as plain state: the single thing every view draws from.

The engine's events are folded into a :class:`RunModel` on the UI thread; views never see
raw events. Each change bumps the revision of the section it touched (``steps``,
``latency``, ``parity``, ``results``, ``log``, ``finished``), so a view redraws at its own
rate and only when something it shows has changed. Nothing here imports Qt: tests feed
events to a model and assert on its state without a window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.events import (
    STEPS,
    LatencySamples,
    Log,
    ParityBatch,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
)

SECTIONS = ("steps", "latency", "parity", "results", "log", "finished")
LOG_LINES = 5000
SeriesKey = tuple[str, str, int]  # (runtime, device, batch size)


class SampleBuffer:
    """A preallocated float array that doubles when full; ``view`` is the filled part (no copy)."""

    def __init__(self, capacity: int = 1024):
        import numpy as np  # with the first sample, not at start-up

        self._np = np
        self._data = np.empty(capacity, dtype=np.float64)
        self.size = 0

    def extend(self, values: Iterable[float]) -> None:
        np = self._np
        values = np.asarray(values, dtype=np.float64)
        needed = self.size + len(values)
        if needed > len(self._data):
            grown = np.empty(max(needed, 2 * len(self._data)), dtype=np.float64)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : needed] = values
        self.size = needed

    @property
    def view(self):  # numpy.ndarray
        return self._data[: self.size]


@dataclass
class StepState:
    step: str
    status: str = "waiting"  # waiting | running | passed | failed | skipped | cancelled
    started_at: float | None = None  # time.monotonic() on the UI side
    seconds: float | None = None
    done: float = 0.0
    total: float = 0.0  # 0: unknown (busy)
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    error: StepFailed | None = None

    def elapsed(self, now: float | None = None) -> float | None:
        if self.seconds is not None:
            return self.seconds
        if self.started_at is None:
            return None
        return (now if now is not None else time.monotonic()) - self.started_at


@dataclass
class LatencySeries:
    """Warm-up and timed samples (ms) of one runner on one device at one batch size."""

    runtime: str
    device: str
    batch_size: int
    provider: str = ""
    warmup: SampleBuffer = field(default_factory=lambda: SampleBuffer(64))
    timed: SampleBuffer = field(default_factory=lambda: SampleBuffer(1024))

    @property
    def key(self) -> SeriesKey:
        return (self.runtime, self.device, self.batch_size)


@dataclass
class ParitySeries:
    """Per compared batch: the largest and the mean absolute error of one output."""

    output: str
    atol: float = 0.0
    batch: SampleBuffer = field(default_factory=lambda: SampleBuffer(64))
    max_abs: SampleBuffer = field(default_factory=lambda: SampleBuffer(64))
    mean_abs: SampleBuffer = field(default_factory=lambda: SampleBuffer(64))
    failed_batches: int = 0


class LogBook:
    """Log lines of every run of the window (the pipeline's and the push's), newest last."""

    def __init__(self, limit: int = LOG_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=limit)
        self.count = 0  # lines ever added: a reader shows lines[-(count - seen):]

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.count += 1

    def since(self, seen: int) -> list[str]:
        """The lines added after the first ``seen`` (as many as are still kept)."""
        new = min(self.count - seen, len(self.lines))
        return list(self.lines)[-new:] if new > 0 else []


class RunModel:
    """The state of the current run. ``apply`` folds one event in and returns the sections it changed."""

    def __init__(self, logbook: LogBook | None = None) -> None:
        self.revisions: dict[str, int] = dict.fromkeys(SECTIONS, 0)
        self.generation = 0  # bumped by begin(): views clear what they drew for an earlier run
        self.purpose = ""
        self.source = ""
        self.planned: tuple[str, ...] = ()
        self.steps: dict[str, StepState] = {}
        self.latency: dict[SeriesKey, LatencySeries] = {}
        self.parity: dict[str, ParitySeries] = {}
        self.logbook = logbook if logbook is not None else LogBook()
        self.failure: StepFailed | None = None
        self.finished: PipelineFinished | None = None

    # -- life cycle ---------------------------------------------------------------------------------
    def begin(self, purpose: str, steps: Iterable[str], source: str = "") -> None:
        """Forget the previous run; ``steps`` are the planned ones (others show as skipped)."""
        self.generation += 1
        self.purpose = purpose
        self.source = source
        self.planned = tuple(steps)
        every = (*STEPS, *(s for s in self.planned if s not in STEPS))  # with the optional steps asked for
        self.steps = {s: StepState(s, "waiting" if s in self.planned else "skipped") for s in every}
        self.latency.clear()
        self.parity.clear()
        self.failure = None
        self.finished = None
        for section in SECTIONS:
            if section != "log":
                self.revisions[section] += 1

    def clear(self) -> None:
        """No run at all (a new source was opened)."""
        self.begin("", ())

    @property
    def running(self) -> bool:
        return bool(self.purpose) and self.finished is None

    @property
    def status(self) -> str:
        return self.finished.status if self.finished else ""

    @property
    def report(self) -> dict[str, Any]:
        return self.finished.report if self.finished else {}

    def result(self, step: str) -> dict[str, Any]:
        """The step's result once it finished (passed or not), else {}."""
        state = self.steps.get(step)
        return state.result if state is not None else {}

    def passed(self, step: str) -> bool:
        state = self.steps.get(step)
        return state is not None and state.status == "passed"

    # -- events -------------------------------------------------------------------------------------
    def apply_all(self, events: Iterable[object]) -> set[str]:
        changed: set[str] = set()
        for event in events:
            changed |= self.apply(event)
        return changed

    def apply(self, event: object) -> set[str]:
        if isinstance(event, LatencySamples):
            return self._latency(event)
        if isinstance(event, ParityBatch):
            return self._parity(event)
        if isinstance(event, Log):
            self.log(f"[{event.level}] {event.step + ': ' if event.step else ''}{event.message}")
            return {"log"}
        if isinstance(event, PipelineFinished):
            return self._finished(event)
        step = getattr(event, "step", "")
        state = self.steps.get(step)
        if state is None:
            state = self.steps[step] = StepState(step)
        if isinstance(event, StepStarted):
            state.status, state.started_at = "running", time.monotonic()
            state.done = state.total = 0.0
        elif isinstance(event, Progress):
            state.done, state.total = event.done, event.total
            if event.message:
                state.message = event.message
        elif isinstance(event, StepFinished):
            state.status = "passed" if event.passed else "failed"
            state.seconds = event.seconds
            state.result = dict(event.result)
            state.done = state.total = 1.0
            return self._bump("steps", "results")
        elif isinstance(event, StepSkipped):
            state.status, state.message = "skipped", event.reason
        elif isinstance(event, StepFailed):
            cancelled = event.error_kind == "cancelled"
            state.status = "cancelled" if cancelled else "failed"
            state.error = event
            state.seconds = state.elapsed()
            state.message = "cancelled" if cancelled else event.message
            if not cancelled:
                self.failure = event
            return self._bump("steps", "results")
        else:
            return set()
        return self._bump("steps")

    def log(self, line: str) -> None:
        """A line for the Log pane (the window's own messages use this too)."""
        self.logbook.add(line)
        self.revisions["log"] += 1

    # -- internals ----------------------------------------------------------------------------------
    def _bump(self, *sections: str) -> set[str]:
        for section in sections:
            self.revisions[section] += 1
        return set(sections)

    def _latency(self, event: LatencySamples) -> set[str]:
        key = (event.runtime, event.device, event.batch_size)
        series = self.latency.get(key)
        if series is None:
            series = self.latency[key] = LatencySeries(event.runtime, event.device, event.batch_size, event.provider)
        (series.warmup if event.warmup else series.timed).extend(event.ms)
        return self._bump("latency")

    def _parity(self, event: ParityBatch) -> set[str]:
        series = self.parity.get(event.output)
        if series is None:
            series = self.parity[event.output] = ParitySeries(event.output)
        series.atol = event.atol
        series.batch.extend((event.batch_index,))
        series.max_abs.extend((event.max_abs,))
        series.mean_abs.extend((event.mean_abs,))
        series.failed_batches += 0 if event.passed else 1
        return self._bump("parity")

    def _finished(self, event: PipelineFinished) -> set[str]:
        self.finished = event
        stopped = "cancelled" if event.status == "cancelled" else "failed"
        for state in self.steps.values():
            if state.status == "running":  # the stream ended inside this step
                state.status, state.seconds = stopped, state.elapsed()
            elif state.status == "waiting":  # never reached
                state.status = "skipped"
        return self._bump("finished", "steps", "results")
