"""Small widgets shared by the panels: the error banner and read-only tables."""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.gui.theme import FAIL_COLOR

# Hints from the engine name the CLI's flags; in the app the same choice is a control.
_CLI_FLAGS_IN_THE_APP = (
    (re.compile(r"(?i:pass |use |add )?--trust\b"), "tick “Trust this file” in the Source panel"),
    (re.compile(r"(?i:pass |use |add )?--inputs-npz(?: FILE)?\b"), "the Inputs (.npz) field in Options"),
    (re.compile(r"(?i:pass |use |add )?--input(?![-\w])(?: NAME:DIMS:DTYPE)?"), "fill in the Inputs table"),
    (re.compile(r"(?i:pass |use |add )?--model-class(?: \S+:\S+| MOD:CLASS)?"), "set the Model class field"),
    (re.compile(r"(?i:pass |use |add )?--model-kwargs\b"), "the Model arguments field"),
    (re.compile(r"(?i:pass |use |add )?--overwrite\b"), "tick “Overwrite existing .onnx” in Options"),
    (
        re.compile(r"(?i:pass |use |add )?--int-range(?:[ =]-?\d+,-?\d+| LOW,HIGH)?"),
        "the Integer inputs field in Options",
    ),
    (re.compile(r"(?i:pass |use |add )?--opset\b"), "Options → Opset"),
    (re.compile(r"(?i:pass |use |add )?--exporter(?: \w+)?"), "the Exporter choice in Options"),
    (re.compile(r"(?i:pass |use |add )?--bench-batch-sizes(?: \S+)?"), "the Batch sizes field in Options"),
    (re.compile(r"(?i:pass |use |add )?--batch-size(?: \d+)?"), "the parity Batch size in Options"),
    (re.compile(r"(?i:pass |use |add )?--reference(?: SOURCE)?\b"), "the Reference model field in Source"),
    (re.compile(r"(?i:pass |use |add )?--force\b"), "tick “Register again” in Push"),
    (re.compile(r"(?i:pass |use |add )?--out(?![-\w])(?: DIR)?"), "the Output folder in Options"),
    (
        re.compile(r"(?i:pass |use |add )?--output-name(?: NAME)?"),
        "the output names (set them in the checkpoint's metadata)",
    ),
    (re.compile(r"(?i:pass |use |add )?--debug\b"), "the Details of this message"),
    (
        re.compile(r"\(?(?i:push )?with --create-bucket\)?|(?i:pass |use |add )?--create-bucket\b"),
        "in your object store",
    ),
    (re.compile(r"(?i:pass |use |add )?--bucket(?: \S+)?"), "the Bucket in Settings"),
    (re.compile(r"(?i:pass |use |add )?--experiment(?: NAME)?"), "the Experiment in Settings"),
    (re.compile(r"(?i:use |pass )?--promote \w+"), "Promote in the Registry"),
    (re.compile(r"--to \S+"), "Promote in the Registry"),
    (re.compile(r"(?i:pass |use |add )?--report(?: FILE(?:\.json)?)?"), "the report beside the .onnx file"),
    (re.compile(r"(?i:pass |use |add )?--push\b"), "the Push panel"),
    (re.compile(r"(?i:pass |use |add )?--openvino-precision\b"), "the OpenVINO precision in Options → Benchmark"),
    (re.compile(r"(?i:leave )openvino out of --runtimes\b"), "untick OpenVINO in Options → Benchmark"),
    (re.compile(r"(?i:pass |use |add )?--runtimes(?: [\w,]+)?"), "the Runtimes in Options → Benchmark"),
    (re.compile(r"(?i:pass |use |add )?--variants(?: [\w,-]+| …| \{[\w-]+\})?"), "the Optimised variants in Options"),
    (re.compile(r"(?i:pass |use |add )?--variant(?: NAME| [\w-]+)?(?![-\w])"), "the Variants view's Push button"),
    (re.compile(r"(?i:pass |use |add |give )?--ray-address(?: HOST:PORT)?"), "the Ray address in Settings"),
    (re.compile(r"(?i:pass |use |add )?--threads(?: N| \d+)?(?![-\w])"), "the Threads in Options → Benchmark"),
    (re.compile(r"(?i:pass |use |add )?--skip-bench\b"), "skipping the benchmark (only the CLI can)"),
    (re.compile(r"(?i:pass |use |add )?--allow-failed-parity\b"), "confirm the push of a failed variant"),
    (re.compile(r"(?i:pass |use |add )?--per-node\b"), "tick “Per-node parity” in Options"),
    (re.compile(r"(?i:pass |use |add )?--node-rtol(?: X|[ =]\S+)?"), "the Node rtol in Options"),
    (re.compile(r"(?i:pass |use |add )?--node-chunk(?: K|[ =]\d+)?"), "the Node chunk in Options"),
    (re.compile(r"(?i:pass |use |add )?--op-profile-runs(?: N|[ =]\d+)?"), "the Profiled runs in Options"),
    (re.compile(r"(?i:pass |use |add )?--op-profile(?![-\w])"), "tick “Op profile” in Options"),
    (re.compile(r"(?i:pass |use |add )?--html(?: FILE\.html)?(?![-\w])"), "the HTML report beside the .onnx file"),
)


def in_app_words(hint: str) -> str:
    """Say a CLI-worded hint in the app's terms (``--trust`` → the Trust checkbox)."""
    for pattern, words in _CLI_FLAGS_IN_THE_APP:
        hint = pattern.sub(words, hint, count=1)
        hint = pattern.sub("", hint)
    return hint[:1].upper() + hint[1:]


class ErrorBanner(QFrame):
    """What went wrong, the engine's hint on what to do, and the details on demand."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(f"#errorBanner {{ border: 1px solid {FAIL_COLOR}; border-radius: 4px; }}")
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(24, 24))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message_label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setStyleSheet("font-weight: bold;")
        self.hint_label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton(text="Details", checkable=True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setToolTip("Show the engine's own output (traceback or log tail)")
        self.details_button.toggled.connect(self._show_details)
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumHeight(180)
        self.details.hide()

        text = QVBoxLayout()
        text.addWidget(self.message_label)
        text.addWidget(self.hint_label)
        text.addWidget(self.details_button, alignment=Qt.AlignmentFlag.AlignLeft)
        text.addWidget(self.details)
        row = QHBoxLayout(self)
        row.addWidget(icon)
        row.addLayout(text, 1)
        self.hide()

    def show_error(self, message: str, hint: str = "", details: str = "") -> None:
        self.message_label.setText(message)
        hint = in_app_words(hint)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.details.setPlainText(details)
        self.details_button.setVisible(bool(details))
        self.details_button.setChecked(False)
        self.show()

    def clear(self) -> None:
        self.hide()

    def _show_details(self, shown: bool) -> None:
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.details.setVisible(shown)


class ReadOnlyTable(QTableWidget):
    """A table filled from rows of values; numbers right-aligned."""

    def __init__(self, headers: Sequence[str], parent: QWidget | None = None):
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(list(headers))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)

    def set_rows(self, rows: Sequence[Sequence[object]]) -> None:
        """Replace the contents. Columns sized to their contents are measured once, after the fill:
        measured per cell, 20 rows took 100–170 ms of UI thread."""
        header = self.horizontalHeader()
        fitted = [
            c
            for c in range(self.columnCount())
            if header.sectionResizeMode(c) == QHeaderView.ResizeMode.ResizeToContents
        ]
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)
        self.setUpdatesEnabled(False)
        for column in fitted:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        try:
            self.clearContents()
            self.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    self.setItem(r, c, _item(value))
        finally:
            for column in fitted:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
            self.setSortingEnabled(sorting)
            self.setUpdatesEnabled(True)

    def cell_text(self, row: int, column: int) -> str:
        item = self.item(row, column)
        return item.text() if item is not None else ""


def fit_columns(table: QTableWidget, stretch: int = -1) -> None:
    """Every column as wide as its header and cells (nothing elided: names matter); column
    ``stretch`` (default: the last) takes the room left over."""
    header = table.horizontalHeader()
    stretch = stretch % table.columnCount()
    header.setStretchLastSection(False)
    header.setTextElideMode(Qt.TextElideMode.ElideNone)
    table.setTextElideMode(Qt.TextElideMode.ElideNone)
    table.setWordWrap(False)
    for column in range(table.columnCount()):
        mode = QHeaderView.ResizeMode.Stretch if column == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)


def _item(value: object) -> QTableWidgetItem:
    if isinstance(value, QTableWidgetItem):
        return value
    if isinstance(value, float):
        item = QTableWidgetItem(format_number(value))
    else:
        item = QTableWidgetItem("" if value is None else str(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setData(Qt.ItemDataRole.UserRole, value)
    return item


def format_number(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.3e}"
    return f"{value:.4g}"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def pass_fail_item(passed: bool | None) -> QTableWidgetItem:
    from PySide6.QtGui import QColor

    from heimdall_studio.gui.theme import PASS_COLOR

    text = "—" if passed is None else ("pass" if passed else "FAIL")
    item = QTableWidgetItem(text)
    if passed is not None:
        item.setForeground(QColor(PASS_COLOR if passed else FAIL_COLOR))
    return item
