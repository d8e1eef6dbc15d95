"""What the exported ONNX file is: inputs/outputs, opset, IR version, producer, ops, size, sha256."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from heimdall_studio.core.events import EXPORT, METADATA, VALIDATE
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.widgets import ErrorBanner, ReadOnlyTable, fit_columns, format_bytes, pass_fail_item


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def count_item(count: int):
    """A table cell that sorts as a number (text would put 9 after 10)."""
    from PySide6.QtWidgets import QTableWidgetItem

    item = QTableWidgetItem()
    item.setData(Qt.ItemDataRole.DisplayRole, int(count))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def opset_text(opsets: Any) -> str:
    """``{"": 18, "com.microsoft": 1}`` → ``ai.onnx 18, com.microsoft 1``."""
    if isinstance(opsets, dict):
        return ", ".join(f"{domain or 'ai.onnx'} {version}" for domain, version in sorted(opsets.items())) or "—"
    return str(opsets) if opsets else "—"


class ValidationView(ModelView):
    sections = ("results",)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.verdict = QLabel("—")
        self.file = QLabel("—", wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.opset = QLabel("—")
        self.ir_version = QLabel("—")
        self.producer = QLabel("—")
        self.nodes = QLabel("—")
        self.size = QLabel("—")
        self.sha256 = QLabel("—", textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sha256.setToolTip("sha256 of the .onnx file; the registry and the object store record the same")
        self.errors = ErrorBanner()
        self.tensors = ReadOnlyTable(["Role", "Name", "Shape", "Dtype"])
        self.tensors.setToolTip("Inputs and outputs as recorded in the ONNX graph; names are dynamic axes")
        self.ops = ReadOnlyTable(["Operator", "Count"])
        self.ops.setSortingEnabled(True)
        self.ops.setToolTip(
            "How often each ONNX operator occurs in the graph (most frequent first; click a header to sort)"
        )
        fit_columns(self.tensors, stretch=1)
        fit_columns(self.ops, stretch=0)

        form = QFormLayout()
        for label, widget in (
            ("Checker", self.verdict),
            ("File", self.file),
            ("Opset", self.opset),
            ("IR version", self.ir_version),
            ("Producer", self.producer),
            ("Nodes", self.nodes),
            ("Size", self.size),
            ("sha256", self.sha256),
        ):
            form.addRow(label, widget)
        tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.tensors)
        tables.addWidget(self.ops)
        tables.setStretchFactor(0, 3)
        tables.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.errors)
        layout.addWidget(tables, 1)

    def reset_view(self) -> None:
        self.clear()

    def render(self, model: RunModel, changed: set[str]) -> None:
        self.clear()
        if model.result(EXPORT):
            self.show_export(model.result(EXPORT))
        if model.result(VALIDATE):
            self.show_validation(model.result(VALIDATE))
        elif model.steps.get(VALIDATE) is not None and model.steps[VALIDATE].error is not None:
            error = model.steps[VALIDATE].error
            self.verdict.setText("FAILED")
            self.verdict.setStyleSheet(
                f"color: {pass_fail_item(False).foreground().color().name()}; font-weight: bold;"
            )
            self.errors.show_error(error.message, error.hint, error.details)
        if model.result(METADATA):
            self.show_metadata(model.result(METADATA))

    def clear(self) -> None:
        self.verdict.setStyleSheet("")
        for label in (
            self.verdict,
            self.file,
            self.opset,
            self.ir_version,
            self.producer,
            self.nodes,
            self.size,
            self.sha256,
        ):
            label.setText("—")
        self.errors.clear()
        self.tensors.set_rows([])
        self.ops.set_rows([])

    def show_export(self, result: dict[str, Any]) -> None:
        self.file.setText(str(result.get("onnx_path", "—")))
        self.size.setText(format_bytes(result.get("size_bytes")))

    def show_validation(self, result: dict[str, Any]) -> None:
        passed = bool(result.get("passed"))
        item = pass_fail_item(passed)
        self.verdict.setText("passed" if passed else "FAILED")
        self.verdict.setStyleSheet(f"color: {item.foreground().color().name()}; font-weight: bold;")
        self.opset.setText(opset_text(result.get("opsets")))
        self.ir_version.setText(str(result.get("ir_version", "—")))
        self.producer.setText(f"{result.get('producer_name', '')} {result.get('producer_version', '')}".strip() or "—")
        self.nodes.setText(str(result.get("node_count", "—")))
        if result.get("initializer_bytes") is not None and self.size.text() == "—":
            self.size.setText(f"weights {format_bytes(result['initializer_bytes'])}")
        rows = [
            ["input", t["name"], _shape_text(t.get("shape", [])), t.get("dtype", "")] for t in result.get("inputs", [])
        ]
        rows += [
            ["output", t["name"], _shape_text(t.get("shape", [])), t.get("dtype", "")]
            for t in result.get("outputs", [])
        ]
        self.tensors.set_rows(rows)
        histogram = result.get("op_histogram") or {}
        self.ops.setSortingEnabled(False)
        self.ops.set_rows([[op, count_item(count)] for op, count in histogram.items()])
        self.ops.setSortingEnabled(True)
        self.ops.sortItems(1, Qt.SortOrder.DescendingOrder)
        errors = result.get("errors") or []
        if errors:
            self.errors.show_error("The ONNX checker reported problems.", "", "\n".join(map(str, errors)))

    def show_metadata(self, result: dict[str, Any]) -> None:
        self.sha256.setText(str(result.get("sha256", "—")))
        if result.get("size_bytes") is not None:
            self.size.setText(format_bytes(result["size_bytes"]))
