"""The pipeline: one Run button, and per step its state, elapsed time, progress and result."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.events import (
    BENCHMARK,
    EXPORT,
    LOAD,
    METADATA,
    PARITY,
    PUSH,
    VALIDATE,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepSkipped,
    StepStarted,
)
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.theme import FAIL_COLOR, PASS_COLOR
from heimdall_studio.gui.widgets import ErrorBanner, format_bytes

STEP_TITLES = {LOAD: "Load", EXPORT: "Export", VALIDATE: "Validate", PARITY: "Parity", BENCHMARK: "Benchmark",
               METADATA: "Metadata", PUSH: "Push"}
SHOWN_STEPS = (LOAD, EXPORT, VALIDATE, PARITY, BENCHMARK, METADATA)

STATUS_TEXT = {"passed": "Finished: every step passed.",
               "gate_failed": "Finished, but a check did not pass — see the failed step.",
               "failed": "Stopped by an error — see below.",
               "cancelled": "Cancelled: the engine was stopped."}


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
        return f"best p50 {best['p50_ms']:.2f} ms ({best['runtime']}, {best['device']}, bs {best['batch_size']})" \
            if best else "no runtime available"
    if step == METADATA:
        return f"sha256 {str(result.get('sha256', ''))[:12]}…"
    if step == PUSH:
        return str(result.get("version") and f"version {result['version']}" or result.get("s3_uri", ""))
    return ""


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
        for col, widget in enumerate((self.state, self.name, self.elapsed, self.progress, self.result)):
            grid.addWidget(widget, row, col)
        self.started_at: float | None = None
        self.reset()

    def reset(self) -> None:
        self.set_state("waiting")
        self.elapsed.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.result.setText("")
        self.started_at = None

    def set_state(self, state: str) -> None:
        self.state_name = state
        icon, color = {"waiting": ("○", None), "running": ("◐", None), "passed": ("✔", PASS_COLOR),
                       "failed": ("✘", FAIL_COLOR), "skipped": ("–", None),
                       "cancelled": ("■", FAIL_COLOR)}[state]
        self.state.setText(icon)
        self.state.setToolTip(state)
        self.state.setStyleSheet(f"color: {color};" if color else "")

    def tick(self) -> None:
        if self.started_at is not None and self.state_name == "running":
            self.elapsed.setText(f"{time.monotonic() - self.started_at:.1f} s")


class PipelinePanel(QWidget):
    """Shows a run's progress; ``run_requested``/``cancel_requested`` go to the main window."""

    run_requested = Signal()
    cancel_requested = Signal()

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
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._tick)

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
            self.status.setText(what)
            self._timer.start()
        else:
            self._timer.stop()

    def reset(self, steps: tuple[str, ...]) -> None:
        self.error.clear()
        for step, row in self.rows.items():
            row.reset()
            if step not in steps:
                row.set_state("skipped")

    def show_cancelling(self) -> None:
        self.status.setText("Cancelling… the engine is being stopped.")
        self.cancel_button.setEnabled(False)

    def handle(self, event: object) -> None:
        row = self.rows.get(getattr(event, "step", ""))
        if isinstance(event, StepStarted) and row:
            row.set_state("running")
            row.started_at = time.monotonic()
            row.progress.setRange(0, 0)  # busy until the first Progress says how much
        elif isinstance(event, Progress) and row:
            if event.total > 0:
                row.progress.setRange(0, 1000)
                row.progress.setValue(int(1000 * min(event.done / event.total, 1.0)))
            if event.message:
                row.result.setText(event.message)
        elif isinstance(event, StepFinished) and row:
            row.set_state("passed" if event.passed else "failed")
            row.elapsed.setText(f"{event.seconds:.1f} s")
            row.progress.setRange(0, 1)
            row.progress.setValue(1)
            row.result.setText(summarise(event.step, event.result) if event.passed else "did not pass")
        elif isinstance(event, StepSkipped) and row:
            row.set_state("skipped")
            row.result.setText(event.reason)
        elif isinstance(event, StepFailed):
            if row:
                row.set_state("cancelled" if event.error_kind == "cancelled" else "failed")
                row.progress.setRange(0, 1)
                row.result.setText("cancelled" if event.error_kind == "cancelled" else event.message)
            if event.error_kind != "cancelled":
                self.error.show_error(event.message, event.hint, event.details)
        elif isinstance(event, PipelineFinished):
            for r in self.rows.values():
                if r.state_name == "running":
                    r.set_state("cancelled" if event.status == "cancelled" else "failed")
                    r.progress.setRange(0, 1)
            self.status.setText(STATUS_TEXT.get(event.status, event.status))
            self.status.setStyleSheet(f"color: {PASS_COLOR if event.status == 'passed' else FAIL_COLOR};")

    def _tick(self) -> None:
        for row in self.rows.values():
            row.tick()
