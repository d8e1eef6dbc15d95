"""A form generated from a dataclass: one labelled, tooltipped widget per field.

The field's type picks the widget (bool → check box, int → spin box, float → a box that
shows 1e-04, str → line edit, or a combo box when the field has choices). Fields a user
cannot change here (set by an environment variable) are shown read-only with a note.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)


@dataclass(frozen=True)
class FieldSpec:
    """How one dataclass field is shown: its label, tooltip and limits."""

    label: str
    tip: str
    choices: tuple[str, ...] = ()
    minimum: float = 0
    maximum: float = 1_000_000
    special_zero: str = ""  # the text a spin box shows for 0 ("default")
    placeholder: str = ""


class ScientificSpinBox(QDoubleSpinBox):
    """A tolerance box that shows 1e-04 rather than 0.0001 rounded to two decimals."""

    def __init__(self, value: float = 0.0, maximum: float = 1e3):
        super().__init__(decimals=12, minimum=0.0, maximum=maximum)
        self.setValue(value)

    def textFromValue(self, value: float) -> str:
        return f"{value:.1e}"

    def valueFromText(self, text: str) -> float:
        return float(text)

    def validate(self, text, pos):
        try:
            float(text)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            return QValidator.State.Intermediate, text, pos


class DataclassForm(QWidget):
    """Widgets for the fields of ``cls`` named in ``specs`` (in that order)."""

    def __init__(self, cls: type, specs: dict[str, FieldSpec], parent: QWidget | None = None):
        super().__init__(parent)
        self._types = {f.name: f.type for f in dataclasses.fields(cls)}
        self.specs = specs
        self.widgets: dict[str, QWidget] = {}
        self._locked: set[str] = set()
        self.notes: dict[str, QLabel] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, spec in specs.items():
            widget = self._make_widget(name, spec)
            widget.setToolTip(spec.tip)
            note = QLabel("", objectName="fieldNote")
            note.setStyleSheet("font-style: italic;")
            note.setToolTip(spec.tip)
            note.hide()
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(widget, 1)
            row.addWidget(note)
            label = QLabel(spec.label)
            label.setToolTip(spec.tip)
            self.layout_.addRow(label, row)
            self.widgets[name] = widget
            self.notes[name] = note

    def _make_widget(self, name: str, spec: FieldSpec) -> QWidget:
        kind = str(self._types[name])
        if spec.choices:
            box = QComboBox()
            box.addItems(list(spec.choices))
            return box
        if kind == "bool":
            return QCheckBox()
        if kind == "int":
            box = QSpinBox(minimum=int(spec.minimum), maximum=int(spec.maximum))
            if spec.special_zero:
                box.setSpecialValueText(spec.special_zero)
            return box
        if kind == "float":
            return ScientificSpinBox(maximum=spec.maximum)
        return QLineEdit(placeholderText=spec.placeholder)

    def set_values(self, obj: Any) -> None:
        for name in self.widgets:
            self.set_value(name, getattr(obj, name))

    def set_value(self, name: str, value: Any) -> None:
        widget = self.widgets[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value or 0))
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        else:
            widget.setText(str(value))
            widget.setCursorPosition(0)  # a long URI shows its scheme and host, not its tail

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, QComboBox):
                result[name] = widget.currentText()
            elif isinstance(widget, QCheckBox):
                result[name] = widget.isChecked()
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                result[name] = widget.value()
            else:
                result[name] = widget.text().strip()
        return result

    def set_locked(self, name: str, note: str) -> None:
        """Read-only with ``note`` beside it (e.g. "from MLFLOW_TRACKING_URI"); "" unlocks."""
        widget = self.widgets[name]
        self._locked.discard(name)
        if note:
            self._locked.add(name)
        if isinstance(widget, QLineEdit):
            widget.setReadOnly(bool(note))  # still selectable and readable
            widget.setStyleSheet("QLineEdit { background: palette(window); }" if note else "")
        else:
            widget.setEnabled(not note)
        self.notes[name].setText(note)
        self.notes[name].setVisible(bool(note))
        tip = self.specs[name].tip
        widget.setToolTip(f"{tip}\n\nSet by the environment ({note}); change it there." if note else tip)

    def set_enabled_fields(self, names: set[str], reason: str) -> None:
        """Only ``names`` can be edited; the others are disabled with ``reason`` as tooltip."""
        for name, widget in self.widgets.items():
            enabled = name in names
            locked = name in self._locked and not isinstance(widget, QLineEdit)
            widget.setEnabled(enabled and not locked)
            if not enabled:
                widget.setToolTip(f"{self.specs[name].tip}\n\n{reason}")
