"""The pipeline: one Run button, and per step its state, elapsed time, progress and result."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from heimdall_studio.core.events import (
    BENCHMARK,
    EXPORT,
    LOAD,
    METADATA,
    OP_PROFILE,
    PARITY,
    PER_NODE,
    PUSH,
    VALIDATE,
    VARIANTS,
)
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel, StepState
from heimdall_studio.gui.theme import FAIL_COLOR, PASS_COLOR
from heimdall_studio.gui.widgets import ErrorBanner, format_bytes

STEP_TITLES = {
    LOAD: "Load",
    EXPORT: "Export",
    VALIDATE: "Validate",
    PARITY: "Parity",
    BENCHMARK: "Benchmark",
    METADATA: "Metadata",
    PUSH: "Push",
    PER_NODE: "Per-node",
    OP_PROFILE: "Op profile",
    VARIANTS: "Variants",
}
# In the engine's order; the steps of OPTIONAL_STEPS have a row only while a run plans them.
SHOWN_STEPS = (LOAD, EXPORT, VALIDATE, PARITY, PER_NODE, BENCHMARK, VARIANTS, OP_PROFILE, METADATA)
OPTIONAL_STEPS = (PER_NODE, VARIANTS, OP_PROFILE)

STATUS_TEXT = {
    "passed": "Finished: every step passed.",
    "gate_failed": "Finished, but a check did not pass — see the failed step.",
    "failed": "Stopped by an error — see below.",
    "cancelled": "Cancelled: the engine was stopped.",
}


def summarise(step: str, result: dict[str, Any]) -> str:
    """One line of a step's result, in the user's words."""
    if step == LOAD:
        params = result.get("parameters")
        return f"{result.get('architecture') or result.get('kind', '')}" + (f", {params:,} params" if params else "")
    if step == EXPORT:
        return f"opset {result.get('opset', '?')}, {format_bytes(result.get('size_bytes'))}"
    if step == VALIDATE:
        return f"{result.get('node_count', '?')} nodes, IR {result.get('ir_version', '?')}"
    if step == PARITY:
        outs = result.get("outputs", {})
        worst = max((o.get("max_abs", 0.0) for o in outs.values()), default=0.0)
        return f"{len(outs)} outputs, max |err| {worst:.2e}"
    if step == BENCHMARK:
        entries = [e for e in result.get("entries", []) if e.get("available", True) and e.get("p50_ms")]
        best = min(entries, key=lambda e: e["p50_ms"], default=None)
        return (
            f"best p50 {best['p50_ms']:.2f} ms ({best['runtime']}, {best['device']}, bs {best['batch_size']})"
            if best
            else "no runtime available"
        )
    if step == METADATA:
        return f"sha256 {str(result.get('sha256', ''))[:12]}…"
    if step == PUSH:
        return str(result.get("version") and f"version {result['version']}" or result.get("s3_uri", ""))
    if step == PER_NODE:
        first = result.get("first_divergence")
        compared = f"{result.get('compared', 0)} nodes"
        return f"{compared}, first divergence {first.get('module') or first.get('onnx_node')}" if first else compared
    if step == OP_PROFILE:
        return f"{len(result.get('nodes') or [])} nodes profiled"
    if step == VARIANTS:
        made = [v for v in result.get("variants") or [] if v.get("available")]
        passed = sum(1 for v in made if (v.get("parity") or {}).get("passed"))
        return f"{len(made)} made, {passed} passed parity"
    return ""


STATE_LOOK = {
    "waiting": ("○", None),
    "running": ("◐", None),
    "passed": ("✔", PASS_COLOR),
    "failed": ("✘", FAIL_COLOR),
    "skipped": ("–", None),
    "cancelled": ("■", FAIL_COLOR),
}


class StepRow:
    """The widgets of one step in the grid."""

    def __init__(self, grid: QGridLayout, row: int, step: str):
        self.step = step
        self.state = QLabel()
        self.name = QLabel(STEP_TITLES.get(step, step))
        self.elapsed = QLabel("")
        self.elapsed.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.elapsed.setMinimumWidth(48)
        self.progress = QProgressBar(maximum=1, value=0, textVisible=False)
        self.progress.setMaximumHeight(10)
        self.result = QLabel("", wordWrap=True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.widgets = (self.state, self.name, self.elapsed, self.progress, self.result)
        for col, widget in enumerate(self.widgets):
            grid.addWidget(widget, row, col)
        self.state_name = ""
        self.show_state(StepState(step))

    def show_state(self, state: StepState) -> None:
        if state.status != self.state_name:
            self.state_name = state.status
            icon, color = STATE_LOOK[state.status]
            self.state.setText(icon)
            self.state.setToolTip(state.status)
            self.state.setStyleSheet(f"color: {color};" if color else "")
        elapsed = state.elapsed()
        self.elapsed.setText("" if elapsed is None else f"{elapsed:.1f} s")
        if state.status == "running" and state.total <= 0:
            self.progress.setRange(0, 0)  # busy until the first Progress says how much
        else:
            self.progress.setRange(0, 1000)
            fraction = 1.0 if state.status == "passed" else (state.done / state.total if state.total > 0 else 0.0)
            self.progress.setValue(int(1000 * min(fraction, 1.0)))
        if state.status == "passed":
            text = summarise(state.step, state.result)
        elif state.status == "failed" and state.error is None:
            text = "did not pass"
        else:
            text = state.message
        self.result.setText(text)


class PipelinePanel(ModelView):
    """Shows a run's progress from the run model; ``run_requested``/``cancel_requested`` go to the window."""

    run_requested = Signal()
    cancel_requested = Signal()
    sections = ("steps", "finished")
    interval_ms = 100  # elapsed times tick while a step runs

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton(action_icon("run"), "Run")
        self.run_button.setToolTip("Export → validate → parity → benchmark → metadata (Ctrl+R)")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton(action_icon("cancel"), "Cancel")
        self.cancel_button.setToolTip("Stop the engine (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.status = QLabel("Open a model, then Run.", wordWrap=True)
        self.error = ErrorBanner()

        grid = QGridLayout()
        grid.setColumnStretch(4, 1)
        grid.setColumnMinimumWidth(3, 80)
        self.rows = {step: StepRow(grid, i, step) for i, step in enumerate(SHOWN_STEPS)}
        for step in OPTIONAL_STEPS:
            for widget in self.rows[step].widgets:
                widget.hide()

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def set_running(self, running: bool, what: str = "") -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.set_status(what)

    def set_status(self, text: str, color: str | None = None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};" if color else "")

    def show_cancelling(self) -> None:
        self.set_status("Cancelling… the engine is being stopped.")
        self.cancel_button.setEnabled(False)

    def reset_view(self) -> None:
        self.error.clear()

    def refresh(self) -> None:
        super().refresh()
        model = self.model
        if model is not None and model.running:  # elapsed times move even when no event arrives
            for step, row in self.rows.items():
                if model.steps.get(step) is not None and model.steps[step].status == "running":
                    row.show_state(model.steps[step])

    def render(self, model: RunModel, changed: set[str]) -> None:
        for step in OPTIONAL_STEPS:
            shown = step in model.planned and model.purpose == "pipeline"
            for widget in self.rows[step].widgets:
                widget.setVisible(shown)
        for step, row in self.rows.items():
            row.show_state(model.steps.get(step) or StepState(step, "waiting" if not model.purpose else "skipped"))
        failure = model.failure
        if failure is not None and failure.error_kind != "cancelled":
            self.error.show_error(failure.message, failure.hint, failure.details)
        else:
            self.error.clear()
        if model.finished is not None and model.purpose == "pipeline":
            status = model.finished.status
            self.set_status(STATUS_TEXT.get(status, status), PASS_COLOR if status == "passed" else FAIL_COLOR)
