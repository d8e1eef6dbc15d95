"""What the window knows about the current model: its source and what its last run established.

Qt-free: a thin reading of the run model, so the main window only wires and draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.events import EXPORT, PARITY, VALIDATE
from heimdall_studio.gui.run_model import RunModel


def is_onnx_source(source: str) -> bool:
    return source.lower().endswith(".onnx")


@dataclass
class ModelSession:
    source: str = ""
    run: RunModel = field(default_factory=RunModel)

    @property
    def pipeline_ran(self) -> bool:
        return self.run.purpose == "pipeline" and self.run.finished is not None

    @property
    def status(self) -> str:
        """The last pipeline's PipelineFinished.status ("" before one finished)."""
        return self.run.status if self.pipeline_ran else ""

    @property
    def report(self) -> dict[str, Any] | None:
        return (self.run.report or None) if self.pipeline_ran else None

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        return {step: state.result for step, state in self.run.steps.items() if state.result}

    @property
    def onnx_path(self) -> str:
        """The exported (or opened) .onnx file, once a run produced one that is complete."""
        path = self.run.result(EXPORT).get("onnx_path")
        if path and self.run.status not in ("cancelled", ""):
            return str(path)
        if is_onnx_source(self.source) and self.run.result(VALIDATE):
            return self.source
        return ""

    @property
    def gates_passed(self) -> bool:
        """Validation and parity both passed: a push needs no confirmation."""
        return self.run.passed(VALIDATE) and self.run.passed(PARITY)

    @property
    def can_push(self) -> bool:
        """A complete export that passed validation (a failed parity can still be pushed, on confirmation)."""
        return (
            bool(self.report)
            and bool(self.onnx_path)
            and self.status in ("passed", "gate_failed")
            and self.run.passed(VALIDATE)
        )
