"""What the window knows about the current model: its source, its last run's results and report.

Qt-free bookkeeping, so the main window only routes events and draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.events import (
    EXPORT,
    PARITY,
    VALIDATE,
    PipelineFinished,
    StepFailed,
    StepFinished,
)


@dataclass
class ModelSession:
    source: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    status: str = ""  # the last pipeline's PipelineFinished.status
    failure: StepFailed | None = None

    def reset_run(self) -> None:
        self.results.clear()
        self.passed.clear()
        self.report = None
        self.status = ""
        self.failure = None

    def record(self, event: object) -> None:
        if isinstance(event, StepFinished):
            self.results[event.step] = event.result
            self.passed[event.step] = event.passed
        elif isinstance(event, StepFailed):
            self.failure = event
        elif isinstance(event, PipelineFinished):
            self.status = event.status
            self.report = event.report or None

    @property
    def onnx_path(self) -> str:
        """The exported (or opened) .onnx file, once a run produced one that is complete."""
        path = self.results.get(EXPORT, {}).get("onnx_path")
        if path and self.status != "cancelled":
            return str(path)
        if self.source.lower().endswith(".onnx") and VALIDATE in self.results:
            return self.source
        return ""

    @property
    def gates_passed(self) -> bool:
        """Validation and parity both passed: a push needs no confirmation."""
        return self.passed.get(VALIDATE, False) and self.passed.get(PARITY, False)

    @property
    def can_push(self) -> bool:
        return bool(self.report) and bool(self.onnx_path) and self.status in ("passed", "gate_failed")
