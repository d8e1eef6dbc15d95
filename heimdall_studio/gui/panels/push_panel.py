"""Push: upload the exported model and register it in MLflow, through the engine."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.events import PUSH, Progress, StepFailed, StepFinished, StepSkipped
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.widgets import ErrorBanner


class PushPanel(QWidget):
    """``push_requested(anyway: bool)``: anyway is True when the checks did not pass."""

    push_requested = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._gates_passed = False
        self.model_name = QLineEdit(placeholderText="the profile's model name")
        self.model_name.setToolTip("Registered model name in MLflow; empty uses the active profile's")
        self.push_button = QPushButton(action_icon("push"), "Push")
        self.push_button.setToolTip("Upload the .onnx file to the object store and register a version in MLflow")
        self.push_button.setEnabled(False)
        self.push_button.clicked.connect(lambda: self.push_requested.emit(not self._gates_passed))
        self.progress = QProgressBar(maximum=1000, value=0)
        self.progress.hide()
        self.stored_at = QLabel("—", wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.version = QLabel("—", openExternalLinks=True)
        self.version.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.hint = QLabel("Run the pipeline first; Push is enabled once validation and parity passed.",
                           wordWrap=True)
        self.error = ErrorBanner()
        form = QFormLayout()
        form.addRow("Model name", self.model_name)
        form.addRow(self.push_button)
        form.addRow(self.progress)
        form.addRow("Stored at", self.stored_at)
        form.addRow("Registered", self.version)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def set_ready(self, can_push: bool, gates_passed: bool, running: bool = False) -> None:
        self._gates_passed = gates_passed
        self.push_button.setEnabled(can_push and not running)
        self.push_button.setText("Push" if gates_passed or not can_push else "Push anyway…")
        if can_push:
            self.hint.setText("Ready to push." if gates_passed else
                              "Validation or parity did not pass: pushing needs a confirmation.")

    def reset(self) -> None:
        self.progress.hide()
        self.error.clear()
        self.stored_at.setText("—")
        self.version.setText("—")

    def handle(self, event: object) -> None:
        if getattr(event, "step", "") != PUSH:
            return
        if isinstance(event, Progress):
            self.progress.show()
            if event.total > 0:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * min(event.done / event.total, 1.0)))
            else:
                self.progress.setRange(0, 0)
            self.progress.setFormat(event.message or "%p%")
        elif isinstance(event, StepFinished):
            self.progress.hide()
            self.show_result(event.result)
        elif isinstance(event, StepFailed):
            self.progress.hide()
            if event.error_kind != "cancelled":
                self.error.show_error(event.message, event.hint, event.details)
            else:
                self.hint.setText("Push cancelled; no version was registered.")
        elif isinstance(event, StepSkipped):
            self.progress.hide()
            self.error.show_error("Nothing was pushed.", event.reason)

    def show_result(self, result: dict[str, Any]) -> None:
        self.stored_at.setText(result.get("s3_uri") or result.get("local_uri") or "—")
        text = f"{result.get('model_name', '')} version {result.get('version', '?')}"
        url = result.get("mlflow_ui_url")
        self.version.setText(f'<a href="{url}">{text}</a>' if url else text)
        self.hint.setText("Pushed." + (" (already registered: same sha256)" if result.get("existing") else ""))
