"""The run at a glance: one card per step with its verdict and headline figure."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from heimdall_studio.core.events import BENCHMARK, EXPORT, LOAD, METADATA, PARITY, VALIDATE
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.panels.pipeline_panel import STATE_LOOK, STEP_TITLES
from heimdall_studio.gui.panels.validation_view import opset_text
from heimdall_studio.gui.run_model import RunModel, StepState
from heimdall_studio.gui.widgets import format_bytes

CARD_STEPS = (LOAD, EXPORT, VALIDATE, PARITY, BENCHMARK, METADATA)
VERDICT = {
    "waiting": "waiting",
    "running": "running…",
    "passed": "passed",
    "failed": "FAILED",
    "skipped": "skipped",
    "cancelled": "cancelled",
}


def headline(step: str, result: dict[str, Any]) -> str:
    """The one figure that says how the step went, in the user's words."""
    if step == LOAD:
        params = result.get("parameters")
        arch = result.get("architecture") or result.get("kind", "")
        return f"{arch}\n{params:,} parameters" if isinstance(params, int) else str(arch)
    if step == EXPORT:
        return f"{result.get('exporter', '')} exporter\n{format_bytes(result.get('size_bytes'))}".strip()
    if step == VALIDATE:
        return (
            f"opset {opset_text(result.get('opsets'))}\n{result.get('node_count', '?')} nodes, "
            f"IR {result.get('ir_version', '?')}"
        )
    if step == PARITY:
        return parity_headline(result)
    if step == BENCHMARK:
        return speedup_headline(result)
    if step == METADATA:
        return f"{format_bytes(result.get('size_bytes'))}\nsha256 {str(result.get('sha256', ''))[:12]}…"
    return ""


def parity_headline(result: dict[str, Any]) -> str:
    """The worst output's max |error| against its tolerance."""
    outputs = result.get("outputs") or {}
    criteria = result.get("criteria") or {}
    worst_name, worst = "", None
    for name, figures in outputs.items():
        value = figures.get("max_abs")
        if isinstance(value, (int, float)) and (worst is None or value > worst):
            worst_name, worst = name, float(value)
    if worst is None:
        return "no output compared"
    tol = criteria.get(worst_name) or criteria.get("default") or {}
    atol, rtol = tol.get("atol"), tol.get("rtol")
    limit = f"\n≤ {_short(atol)} + {_short(rtol)}·|ref|" if atol is not None and rtol is not None else ""
    return f"max |err| {_short(worst)}{limit}"


def _short(value: float) -> str:
    """A figure that fits a card: 7.7e-07, 1e-04, 0.25."""
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) < 1e-2:
        text = f"{value:.1e}"
        return text.replace(".0e", "e")
    return f"{value:.3g}"


def speedup_headline(result: dict[str, Any]) -> str:
    """ONNX Runtime over PyTorch per device, at the smallest batch measured."""
    lines = []
    for device, by_batch in sorted((result.get("speedup") or {}).items()):
        if not by_batch:
            continue
        batch = min(by_batch, key=lambda b: int(b))
        ratio = by_batch[batch]
        lines.append(f"ORT {ratio:.2f}× PyTorch\n{device.upper()}, batch {batch}")
    if lines:
        return "\n".join(lines)
    entries = [e for e in result.get("entries", []) if e.get("available", True) and e.get("p50_ms")]
    if entries:
        best = min(entries, key=lambda e: e["p50_ms"])
        return f"best p50 {best['p50_ms']:.2f} ms\n({best['runtime']}, batch {best['batch_size']})"
    return "no runtime available"


class StepCard(QFrame):
    def __init__(self, step: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.step = step
        self.setObjectName(f"card_{step}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(STEP_TITLES.get(step, step))
        self.title.setStyleSheet("font-weight: bold;")
        self.verdict = QLabel("")
        self.figure = QLabel("", wordWrap=True)
        self.figure.setMinimumHeight(2 * self.figure.fontMetrics().lineSpacing() + 2)
        self.figure.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.figure.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.verdict)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(head)
        layout.addWidget(self.figure, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.show_state(StepState(step))

    def show_state(self, state: StepState) -> None:
        icon, color = STATE_LOOK[state.status]
        self.verdict.setText(f"{icon} {VERDICT[state.status]}")
        self.verdict.setStyleSheet(f"color: {color}; font-weight: bold;" if color else "")
        self.setStyleSheet(f"#card_{self.step} {{ border: 1px solid {color}; border-radius: 4px; }}" if color else "")
        if state.result:
            self.figure.setText(headline(self.step, state.result))
        elif state.error is not None:
            self.figure.setText(state.error.message if state.status == "failed" else "")
        else:
            self.figure.setText(state.message if state.status in ("running", "skipped") else "")
        self.figure.setToolTip(self.figure.text())


class SummaryView(ModelView):
    """A strip of cards, one per step of the current run, visible whatever tab is in front."""

    sections = ("steps", "results", "finished")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cards = {step: StepCard(step) for step in CARD_STEPS}
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        for card in self.cards.values():
            row.addWidget(card)

    def render(self, model: RunModel, changed: set[str]) -> None:
        for step, card in self.cards.items():
            card.show_state(model.steps.get(step) or StepState(step))

    def card_text(self, step: str) -> str:
        card = self.cards[step]
        return f"{card.verdict.text()} {card.figure.text()}"
