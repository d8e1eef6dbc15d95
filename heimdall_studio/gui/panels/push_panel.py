"""Push: upload the exported model and register it in MLflow, through the engine."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.events import PUSH
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.widgets import ErrorBanner

IDLE_HINT = "Run the pipeline first; Push is enabled once the exported file passed validation."


class PushPanel(ModelView):
    """Draws the push run's model; ``push_requested(anyway: bool)``: anyway when the checks did not pass."""

    push_requested = Signal(bool)
    sections = ("steps", "results", "finished")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._gates_passed = False
        self._can_push = False
        self.model_name = QLineEdit(placeholderText="the profile's model name")
        self.model_name.setToolTip("Registered model name in MLflow; empty uses the active profile's")
        self.force = QCheckBox("Register again even if this file is already registered")
        self.force.setToolTip(
            "Normally a file whose sha256 is already registered is not uploaded again; "
            "tick this to upload it and create a new version anyway"
        )
        self.push_button = QPushButton(action_icon("push"), "Push")
        self.push_button.setToolTip("Upload the .onnx file to the object store and register a version in MLflow")
        self.push_button.setEnabled(False)
        self.push_button.clicked.connect(lambda: self.push_requested.emit(not self._gates_passed))
        self.progress = QProgressBar(maximum=1000, value=0)
        self.progress.hide()
        self.stored_at = QLabel("—", wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.version = QLabel("—", openExternalLinks=True)
        self.version.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.hint = QLabel(IDLE_HINT, wordWrap=True)
        self.error = ErrorBanner()
        form = QFormLayout()
        form.addRow("Model name", self.model_name)
        form.addRow(self.force)
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
        """What the last pipeline run allows; the hint follows unless a push is shown."""
        self._gates_passed, self._can_push = gates_passed, can_push
        self.push_button.setEnabled(can_push and not running)
        self.push_button.setText("Push" if gates_passed or not can_push else "Push anyway…")
        model = self.model
        if model is not None and model.purpose == PUSH:
            return  # the push's own outcome stays on screen
        if not can_push:
            self.hint.setText(IDLE_HINT)
        else:
            self.hint.setText(
                "Ready to push." if gates_passed else "Parity did not pass: pushing needs a confirmation."
            )

    def reset_view(self) -> None:
        self.progress.hide()
        self.error.clear()
        self.stored_at.setText("—")
        self.version.setText("—")
        self.set_ready(self._can_push, self._gates_passed)

    def render(self, model: RunModel, changed: set[str]) -> None:
        state = model.steps.get(PUSH)
        if model.purpose != PUSH or state is None:
            return
        if state.status == "running":
            self.hint.setText("Pushing… uploading and registering; Cancel stops it with nothing registered.")
            self.progress.show()
            if state.total > 0:
                self.progress.setRange(0, 1000)
                self.progress.setValue(int(1000 * min(state.done / state.total, 1.0)))
            else:
                self.progress.setRange(0, 0)
            self.progress.setFormat(state.message or "%p%")
            return
        self.progress.hide()
        if state.status == "passed":
            self.show_result(state.result)
        elif state.status == "cancelled":
            self.hint.setText("Push cancelled; no version was registered.")
        elif state.error is not None:
            self.hint.setText("The push failed; nothing was registered.")
            self.error.show_error(state.error.message, state.error.hint, state.error.details)
        elif state.status == "skipped" and state.message:
            self.hint.setText("Nothing was pushed.")
            self.error.show_error("Nothing was pushed.", state.message)
        elif state.status == "skipped" and model.failure is not None:  # the file could not be opened
            self.hint.setText("The push failed; nothing was registered.")
            self.error.show_error(model.failure.message, model.failure.hint, model.failure.details)

    def show_result(self, result: dict[str, Any]) -> None:
        self.stored_at.setText(result.get("s3_uri") or result.get("local_uri") or "—")
        text = f"{result.get('model_name', '')} version {result.get('version', '?')}"
        url = result.get("mlflow_ui_url")
        self.version.setText(f'<a href="{url}">{text}</a>' if url else text)
        if result.get("existing"):
            self.hint.setText(
                f"Already registered: {text} holds this very file (same sha256), so nothing was "
                "uploaded. Tick “Register again” to create a new version anyway."
            )
        else:
            self.hint.setText(f"Pushed: registered as {text}.")
