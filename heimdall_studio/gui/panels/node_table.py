"""The Explorer view's node table and details pane: measured nodes, sorted, and one node's numbers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from heimdall_studio.gui import graph_overlays as ov
from heimdall_studio.gui.widgets import ReadOnlyTable, fit_columns

HEADERS = ["Node", "Op", "Module", "max |err|/|ref|", "Time %", "Provider"]


class NodeTable(QSplitter):
    """Rows from a report (worst error or most time first); ``chosen`` fires for a row the user picks."""

    chosen = Signal(str)  # ONNX node name

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.report: dict[str, Any] = {}
        self.rows: list[ov.NodeRow] = []
        self.selected = ""
        self._quiet = False
        self.order = QComboBox()
        self.order.addItems(["Worst error first", "Most time first"])
        self.order.setToolTip("Order of the node table")
        self.order.currentIndexChanged.connect(lambda _i: self.set_report(self.report, self.selected))
        self.table = ReadOnlyTable(HEADERS)
        self.table.setToolTip("Nodes measured by per-node parity and op profiling; select one to see it in the graph")
        fit_columns(self.table, stretch=2)
        self.table.itemSelectionChanged.connect(self._row_selected)
        self.details: dict[str, QLabel] = {}
        details = QWidget()
        form = QFormLayout(details)
        for label, _text in ov.NodeRow("").details():
            self.details[label] = QLabel("—", wordWrap=True)
            self.details[label].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label, self.details[label])
        table_box = QWidget()
        box = QVBoxLayout(table_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.order)
        box.addWidget(self.table, 1)
        self.addWidget(table_box)
        self.addWidget(details)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)

    def set_report(self, report: dict[str, Any], selected: str = "") -> None:
        self.report = report
        self.rows = ov.node_rows(report, "time" if self.order.currentIndex() == 1 else "error")
        self.table.set_rows(
            [
                [
                    r.onnx_node,
                    r.op_type,
                    r.module,
                    "—" if r.max_rel is None else f"{r.max_rel:.3g}",
                    "—" if r.share is None else f"{r.share * 100:.1f}",
                    r.provider.replace("ExecutionProvider", ""),
                ]
                for r in self.rows
            ]
        )
        for i, r in enumerate(self.rows):
            item = self.table.item(i, 3)
            if r.diverged and item is not None:
                item.setBackground(QColor(ov.DIVERGED_COLOR))
        self.select(selected)

    def select(self, node: str) -> None:
        """Select ``node``'s row (if it has one) and show its numbers, without firing ``chosen``."""
        self.selected = node
        row = next((i for i, r in enumerate(self.rows) if r.onnx_node == node), -1)
        self._quiet = True
        try:
            if row >= 0:
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))
            else:
                self.table.clearSelection()
        finally:
            self._quiet = False
        shown = self.rows[row] if row >= 0 else (ov.NodeRow(node) if node else ov.NodeRow("—"))
        for label, text in shown.details():
            self.details[label].setText(text)

    def _row_selected(self) -> None:
        if self._quiet:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.chosen.emit(self.rows[rows[0].row()].onnx_node)
