"""The model to export: where it comes from, what was recognised, and its input spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import DTYPES, SourceOptions, TensorSpec, parse_tensor_spec
from heimdall_studio.gui.icons import action_icon
from heimdall_studio.gui.widgets import ErrorBanner

# What a user can open; the engine decides the kind by content, these only filter the dialog.
OPEN_FILTER = (
    "Models (*.pt *.pth *.ckpt *.bin *.pt2 *.onnx *.torchscript *.jit);;"
    "PyTorch checkpoints (*.pt *.pth *.ckpt *.bin);;TorchScript (*.pt *.torchscript *.jit);;"
    "Exported programs (*.pt2);;ONNX (*.onnx);;All files (*)"
)

KIND_NAMES = {
    "checkpoint": "Heimdall checkpoint",
    "state_dict": "State dict",
    "torchscript": "TorchScript",
    "exported_program": "torch.export program (.pt2)",
    "pickled_module": "Pickled nn.Module",
    "onnx": "ONNX model (export is skipped)",
}


class InputSpecTable(QTableWidget):
    """Name, shape (ints or names of dynamic axes) and dtype of each model input, editable."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Name", "Shape", "Dtype"])
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)  # names are never elided
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.setToolTip(
            "Inputs the exporter traces with. Shape: integers, or names such as 'batch' for "
            "dynamic axes, e.g. batch,3,224,224. Edit where the source could not tell."
        )
        self.itemChanged.connect(lambda _item: self.edited.emit())

    def set_specs(self, specs: list[TensorSpec]) -> None:
        self.blockSignals(True)
        self.setRowCount(0)
        for spec in specs:
            self.add_row(spec)
        self.blockSignals(False)

    def add_row(self, spec: TensorSpec | None = None) -> None:
        spec = spec or TensorSpec(name=f"input{self.rowCount()}", shape=("batch", 3, 224, 224))
        row = self.rowCount()
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(spec.name))
        self.setItem(row, 1, QTableWidgetItem(",".join(str(d) for d in spec.shape)))
        dtype = QComboBox()
        dtype.addItems(DTYPES)
        dtype.setCurrentText(spec.dtype)
        dtype.currentTextChanged.connect(lambda _t: self.edited.emit())
        self.setCellWidget(row, 2, dtype)

    def spec_texts(self) -> tuple[str, ...]:
        """``NAME:DIMS:DTYPE`` per row, checked by core's parser (raises BadInputError)."""
        texts = []
        for row in range(self.rowCount()):
            name = (self.item(row, 0).text() if self.item(row, 0) else "").strip()
            dims = (self.item(row, 1).text() if self.item(row, 1) else "").strip()
            text = f"{name}:{dims}:{self.cellWidget(row, 2).currentText()}"
            texts.append(str(parse_tensor_spec(text)))
        return tuple(texts)


class SourcePanel(QWidget):
    """Open a source, see what the engine recognised, and adjust how it is opened."""

    open_requested = Signal()
    browse_mlflow_requested = Signal()
    source_chosen = Signal(str)
    reload_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = ""
        self.described: dict[str, Any] = {}
        self._inputs_edited = False
        style = self.style()

        self.path = QLineEdit(placeholderText="Open a file, or type runs:/RUN_ID/path or models:/NAME@alias")
        self.path.setToolTip(
            "The model being exported. Drop a file onto the window, or type a path, "
            "runs:/RUN_ID/path, models:/NAME/VERSION or models:/NAME@alias and press Enter."
        )
        self.path.returnPressed.connect(self._typed_source)
        self.open_button = QPushButton(action_icon("open"), "Open…")
        self.open_button.setToolTip("Open a model file (Ctrl+O)")
        self.open_button.clicked.connect(self.open_requested)
        self.browse_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DirLinkIcon), "Browse MLflow…")
        self.browse_button.setToolTip(
            "Pick a checkpoint or a logged model from the runs of the active profile's MLflow server"
        )
        self.browse_button.clicked.connect(self.browse_mlflow_requested)
        self.recent_button = QToolButton(text="Recent", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_button.setToolTip("Models opened before")
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)

        self.kind = QLabel("—")
        self.architecture = QLabel("—", wordWrap=True)
        self.parameters = QLabel("—")
        self.outputs = QLabel("—", wordWrap=True)
        self.status = QLabel("", wordWrap=True)
        self.source_hint = QLabel("", wordWrap=True)
        self.source_hint.hide()
        self.model_class = QLineEdit(placeholderText="package.module:Class")
        self.model_class.setToolTip(
            "For plain state dicts: the nn.Module class to build before loading the "
            "weights, e.g. tests.support.tiny_models:TwoHeadNet."
        )
        self.model_kwargs = QLineEdit(placeholderText='{"width": 16}')
        self.model_kwargs.setToolTip(
            "Arguments of the model class's __init__, as a JSON object "
            "(the CLI's --model-kwargs). Empty: none, or the checkpoint's own."
        )
        self.trust = QCheckBox("Trust this file (allow full unpickling)")
        self.trust.setToolTip(
            "Needed for files that pickle a whole nn.Module. Unpickling runs code from the "
            "file: only tick it for files you made or trust."
        )
        self.reference = QLineEdit(placeholderText="checkpoint or runs:/… URI of the PyTorch model")
        self.reference.setToolTip(
            "For an .onnx source: the PyTorch model it was exported from. With it, Run "
            "checks parity and benchmarks PyTorch beside ONNX Runtime; without it, "
            "only ONNX Runtime is measured."
        )
        self.reference_label = QLabel("Reference model")
        self.inputs = InputSpecTable()
        self.inputs.setMinimumHeight(90)
        self.inputs.edited.connect(self._mark_inputs_edited)
        add_input = QToolButton(text="+", toolTip="Add an input")
        add_input.clicked.connect(lambda: (self.inputs.add_row(), self._mark_inputs_edited()))
        remove_input = QToolButton(text="−", toolTip="Remove the selected input")
        remove_input.clicked.connect(self._remove_input)
        self.reload_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "Recognise")
        self.reload_button.setToolTip("Open the source again with the model class, trust and inputs above")
        self.reload_button.clicked.connect(self.reload_requested)
        self.error = ErrorBanner()

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.browse_button)
        top.addWidget(self.recent_button)
        top.addStretch(1)
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Architecture", self.architecture)
        form.addRow("Parameters", self.parameters)
        form.addRow("Outputs", self.outputs)
        form.addRow("Model class", self.model_class)
        form.addRow("Model arguments", self.model_kwargs)
        form.addRow(self.trust)
        form.addRow(self.reference_label, self.reference)
        input_buttons = QHBoxLayout()
        input_buttons.addWidget(QLabel("Inputs"))
        input_buttons.addStretch(1)
        input_buttons.addWidget(add_input)
        input_buttons.addWidget(remove_input)
        input_buttons.addWidget(self.reload_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.path)
        layout.addWidget(self.status)
        layout.addWidget(self.source_hint)
        layout.addWidget(self.error)
        layout.addLayout(form)
        layout.addLayout(input_buttons)
        layout.addWidget(self.inputs, 1)
        self.reference.hide()
        self.reference_label.hide()

    # -- what the main window tells the panel -------------------------------------------------------
    def set_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(lambda _checked=False, p=path: self.source_chosen.emit(p))
        self.recent_button.setEnabled(bool(paths))

    def set_source(self, source: str) -> None:
        """A new source: forget what was recognised about the previous one."""
        self.source = source
        self.described = {}
        self._inputs_edited = False
        self.path.setText(source)
        self.set_hint("")
        for label in (self.kind, self.architecture, self.parameters, self.outputs):
            label.setText("—")
        self.inputs.set_specs([])
        self.error.clear()
        self.status.setText("Recognising…")
        is_onnx = source.lower().endswith(".onnx")
        self.reference.setVisible(is_onnx)
        self.reference_label.setVisible(is_onnx)

    def set_hint(self, text: str) -> None:
        """A note about the source that stays until another source is opened."""
        self.source_hint.setText(text)
        self.source_hint.setVisible(bool(text))

    def _typed_source(self) -> None:
        text = self.path.text().strip()
        if text and text != self.source:
            self.source_chosen.emit(text)

    def show_recognised(self, described: dict[str, Any]) -> None:
        self.described = described
        self.status.setText("")
        self.error.clear()
        self.kind.setText(KIND_NAMES.get(described.get("kind", ""), described.get("kind", "—")))
        self.architecture.setText(described.get("architecture") or "—")
        params = described.get("parameters")
        self.parameters.setText(f"{params:,}" if isinstance(params, int) else "—")
        self.outputs.setText(", ".join(described.get("outputs") or []) or "—")
        if not self._inputs_edited:
            self.inputs.set_specs([TensorSpec.from_dict(s) for s in described.get("inputs", [])])

    def show_load_error(self, message: str, hint: str, details: str) -> None:
        self.status.setText("Not recognised.")
        self.error.show_error(message, hint, details)
        if self.inputs.rowCount() == 0 and "input" in (message + hint).lower():
            self.inputs.add_row()

    # -- what a run needs --------------------------------------------------------------------------
    def source_options(self) -> SourceOptions:
        """How to open the source; raises BadInputError for an input spec that does not parse."""
        inputs = self.inputs.spec_texts() if self._inputs_edited else ()
        return SourceOptions(
            model_class=self.model_class.text().strip(),
            model_kwargs=self._model_kwargs(),
            trust=self.trust.isChecked(),
            inputs=inputs,
        )

    def reference_source(self) -> str:
        """The PyTorch model an .onnx source is compared with ("" for none, or for other sources)."""
        return self.reference.text().strip() if self.source.lower().endswith(".onnx") else ""

    def _model_kwargs(self) -> dict[str, Any]:
        text = self.model_kwargs.text().strip()
        if not text:
            return {}
        try:
            kwargs = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"Model arguments are not valid JSON: {exc.msg} at character {exc.pos}.",
                'Write a JSON object, e.g. {"width": 16}.',
            ) from None
        if not isinstance(kwargs, dict):
            raise BadInputError("Model arguments must be a JSON object.", 'Write e.g. {"width": 16}.')
        return kwargs

    @property
    def recognised(self) -> bool:
        return bool(self.described)

    def _mark_inputs_edited(self) -> None:
        self._inputs_edited = True

    def _remove_input(self) -> None:
        row = self.inputs.currentRow()
        if row >= 0:
            self.inputs.removeRow(row)
            self._mark_inputs_edited()


def display_name(source: str) -> str:
    return Path(source).name if "://" not in source else source
