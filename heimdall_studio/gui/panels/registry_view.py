"""Registered versions of a model, with aliases, stages, audit tags, and promotion."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSplitter, QVBoxLayout, QWidget

from heimdall_studio.gui.dialogs.promote_dialog import PromoteDialog
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.widgets import ErrorBanner, ReadOnlyTable, fit_columns

COLUMNS = ["Version", "Aliases", "Stage", "sha256", "Parity", "Created"]
RUNTIME_SHORT = {"onnxruntime": "ORT", "pytorch": "PyTorch", "openvino": "OpenVINO", "tensorrt": "TensorRT"}


def _list_versions(name: str) -> list[dict[str, Any]]:
    from heimdall_studio.integrations.registry import list_versions
    from heimdall_studio.integrations.settings import load_settings

    return list_versions(load_settings(), name)


def _promote(name: str, version: str, to: str, note: str) -> dict[str, Any]:
    from heimdall_studio.integrations.registry import promote
    from heimdall_studio.integrations.settings import load_settings

    return promote(load_settings(), name, version, to, note)


class RegistryView(QWidget):
    """Quick registry calls (list, promote) run on superqt workers, never on the UI thread."""

    refreshed = Signal()
    promoted = Signal(dict)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.versions: list[dict[str, Any]] = []
        self._worker = None
        self.model_name = QLineEdit(placeholderText="registered model name")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the versions from MLflow")
        self.refresh_button.clicked.connect(self.refresh)
        self.promote_buttons = {}
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Model"))
        buttons.addWidget(self.model_name, 1)
        buttons.addWidget(self.refresh_button)
        for to, text in (
            ("staging", "Promote to Staging…"),
            ("production", "Promote to Production…"),
            ("archived", "Archive…"),
        ):
            button = QPushButton(action_icon("promote"), text) if to != "archived" else QPushButton(text)
            button.setToolTip(f"Move the selected version to {to}; asks for a note")
            button.setEnabled(False)
            button.clicked.connect(lambda _c=False, t=to: self.ask_promote(t))
            self.promote_buttons[to] = button
            buttons.addWidget(button)
        self.table = ReadOnlyTable(COLUMNS)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.tags = ReadOnlyTable(["Tag", "Value"])
        self.tags.setToolTip("Every tag of the selected version, including the promotion audit trail")
        self.status = QLabel("")
        self.error = ErrorBanner()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.tags)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(split, 1)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def refresh(self) -> None:
        name = self.model_name.text().strip()
        if not name or self.busy:
            return
        self.status.setText("Reading the registry…")
        self._run(_list_versions, (name,), self._show_versions)

    def selected_version(self) -> dict[str, Any] | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self.versions[min(rows)] if rows else None

    def ask_promote(self, to: str) -> None:
        version = self.selected_version()
        if version is None or self.busy:
            return
        dialog = PromoteDialog(version["name"], version["version"], to, self)
        accepted = dialog.exec() == PromoteDialog.DialogCode.Accepted
        note = dialog.note_text()
        dialog.deleteLater()
        if accepted:
            self.status.setText(f"Promoting version {version['version']} to {to}…")
            self._run(_promote, (version["name"], version["version"], to, note), self._on_promoted)

    def _run(self, func, args, on_done) -> None:
        self.error.clear()
        # errors go to our handler; superqt would otherwise also re-raise them in the event loop
        from superqt.utils import create_worker  # imported with the first call, not at start-up

        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(on_done)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self._on_worker_finished(worker))
        self._worker = worker
        worker.start()

    def _on_worker_finished(self, worker) -> None:
        if self._worker is worker:
            self._worker = None

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText("")
        self.error.show_error(getattr(exc, "message", str(exc)), getattr(exc, "hint", ""))

    def _on_promoted(self, result: dict[str, Any]) -> None:
        self.promoted.emit(result)
        self.status.setText("Promoted.")
        self._worker = None
        self._run(_list_versions, (self.model_name.text().strip(),), self._show_versions)

    def _show_versions(self, versions: list[dict[str, Any]]) -> None:
        self.versions = versions
        self.status.setText(
            f"{len(versions)} version(s)"
            if versions
            else "No versions registered under this name yet: push a model to create one."
        )
        latency_keys = latency_columns(versions)
        self.table.setColumnCount(len(COLUMNS) + len(latency_keys))
        self.table.setHorizontalHeaderLabels(COLUMNS[:-1] + [title for _key, title in latency_keys] + COLUMNS[-1:])
        fit_columns(self.table, stretch=3)  # the sha256 column gives way; names and figures stay whole
        self.table.set_rows(
            [
                [
                    v["version"],
                    ", ".join(v.get("aliases", [])),
                    v.get("stage", ""),
                    v.get("sha256", "")[:12],
                    v.get("figures", {}).get("parity_passed", ""),
                ]
                + [_number(v.get("figures", {}).get(key)) for key, _title in latency_keys]
                + [v.get("created", "")]
                for v in versions
            ]
        )
        if versions:
            self.table.selectRow(0)
        self._show_selected()
        self.refreshed.emit()

    def _show_selected(self) -> None:
        version = self.selected_version()
        for button in self.promote_buttons.values():
            button.setEnabled(version is not None)
        self.tags.set_rows(sorted((version or {}).get("tags", {}).items()))


def latency_columns(versions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tag, column title) for each p50 latency any version carries, e.g. ``ORT cpu b1 p50 ms``,
    ordered by device, batch size, runtime."""
    found = {}
    for version in versions:
        for key in version.get("figures", {}):
            parts = key.split(".")  # latency.RUNTIME.DEVICE.bN.p50_ms
            if len(parts) == 5 and parts[0] == "latency" and parts[4] == "p50_ms":
                batch = int(parts[3][1:]) if parts[3][1:].isdigit() else 0
                found[key] = (
                    (parts[2], batch, parts[1]),
                    f"{RUNTIME_SHORT.get(parts[1], parts[1])} {parts[2]} {parts[3]} p50 ms",
                )
    return [(key, title) for key, (_order, title) in sorted(found.items(), key=lambda item: item[1][0])]


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
