"""Optimised variants beside the plain export: a table of variant × device × batch (p50, speed-up
against PyTorch eager and against the plain export, size, error, parity), a speed-against-error
scatter with the trade-off front, and the selected variant's operator counts before and after.

The selected variant can be pushed (``push_requested``) or opened beside the plain export in the
graph view (``compare_requested``).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.theme import FAIL_COLOR, PASS_COLOR
from heimdall_studio.gui.variant_figures import (
    best_headline,
    op_count_diff,
    plain_point,
    scatter_choices,
    scatter_points,
    settings_text,
    table_records,
    trade_off_front,
)
from heimdall_studio.gui.widgets import ReadOnlyTable, fit_columns, format_bytes, pass_fail_item

VARIANTS = "variants"  # the step and the report key
HEADERS = ["Variant", "Device", "Batch", "p50 ms", "× PyTorch", "× plain", "Size", "max |err|", "mean |err|",
           "Parity", "Settings / why not measured"]  # fmt: skip


def variants_of(model: RunModel) -> list[dict[str, Any]]:
    """The variants of the run: the step's result while it runs on, the report's once finished."""
    result = model.result(VARIANTS)
    found = result.get(VARIANTS) if isinstance(result, dict) else None
    if found is None:
        found = model.report.get(VARIANTS)
    return list(found or [])


def _ratio_item(value: float) -> QTableWidgetItem:
    item = QTableWidgetItem("" if math.isnan(value) else f"{value:.2f}×")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    item.setData(Qt.ItemDataRole.UserRole, value)
    return item


class VariantsView(ModelView):
    sections = ("results", "finished")
    render_hidden = False

    push_requested = Signal(str)  # variant name
    compare_requested = Signal(str)  # variant file path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.variants: list[dict[str, Any]] = []
        self.plot = None
        self._plot_items: list[Any] = []
        self.headline = QLabel("Run with variants (Options → Variants) to compare optimised ONNX files here.")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = ReadOnlyTable(HEADERS)
        self.table.setSortingEnabled(True)
        self.table.setToolTip(
            "× PyTorch: PyTorch eager p50 / the variant's p50; × plain: the plain export's p50 / the variant's "
            "(above 1: faster). Errors are against PyTorch on the parity inputs."
        )
        fit_columns(self.table, stretch=len(HEADERS) - 1)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.diff = ReadOnlyTable(["Operator", "Plain", "Variant", "Change"])
        self.diff.setToolTip("Node count per ONNX operator in the plain export and in the selected variant")
        fit_columns(self.diff, stretch=0)
        self.diff.setMinimumWidth(260)
        self.scatter_at = QComboBox()
        self.scatter_at.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.scatter_at.setToolTip("Device and batch size whose speed-up the scatter plot shows")
        self.scatter_at.currentIndexChanged.connect(self._draw_scatter)
        self.push_button = QPushButton("Push this variant…")
        self.push_button.setToolTip("Push the selected variant to the object store and register it")
        self.push_button.clicked.connect(lambda: self._emit(self.push_requested, "name"))
        self.compare_button = QPushButton("Compare graphs")
        self.compare_button.setToolTip("Show the plain export and the selected variant side by side")
        self.compare_button.clicked.connect(lambda: self._emit(self.compare_requested, "path"))
        for button in (self.push_button, self.compare_button):
            button.setEnabled(False)

        self._plot_holder = QWidget()
        self._plot_layout = QVBoxLayout(self._plot_holder)
        self._plot_layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Scatter at"))
        controls.addWidget(self.scatter_at)
        controls.addStretch(1)
        controls.addWidget(self.compare_button)
        controls.addWidget(self.push_button)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self._plot_holder)
        lower.addWidget(self.diff)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 1)
        lower.setSizes([700, 300])  # the scatter gets the room; the operator counts are short
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([300, 500])  # a few rows per variant; the plot needs height
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.headline)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)

    def build(self) -> None:
        """Create the scatter plot (imports pyqtgraph); called once the window has painted."""
        if self.plot is not None:
            return
        from heimdall_studio.gui.plots import PlotFrame, make_plot

        self.plot = make_plot(
            "Speed against error, one point per variant", "max |err| against PyTorch", "speed-up over PyTorch eager",
            clip=False, log_x=True,
        )  # fmt: skip
        self.plot.setToolTip(
            "Up is faster, left is more accurate. Filled: passed its parity criteria; red: failed. "
            "The dashed line joins the variants no other variant beats on both axes."
        )
        self.frame = PlotFrame(self.plot, "Variants speed against error")
        self._plot_layout.addWidget(self.frame)
        self._draw_scatter()

    # -- ModelView ----------------------------------------------------------------------------------
    def reset_view(self) -> None:
        self.variants = []
        self.table.set_rows([])
        self.diff.set_rows([])
        self.scatter_at.clear()
        self._clear_plot()
        for button in (self.push_button, self.compare_button):
            button.setEnabled(False)

    def render(self, model: RunModel, changed: set[str]) -> None:
        variants = variants_of(model)
        if variants == self.variants:
            return
        self.variants = variants
        headline = best_headline(variants) or "No variants in this run."
        choices = scatter_choices(variants)
        plain = plain_point(model.report, *choices[0]) if choices else None
        if plain is not None:
            headline += f" — the plain export: {plain.speedup:.2f}×, max |err| {plain.max_abs:.2g}"
        self.headline.setText(headline)
        rows = []
        settings = {str(v.get("name")): settings_text(v.get("settings") or {}) for v in variants}
        for r in table_records(variants):
            rows.append(
                [
                    r.name,
                    r.device.upper() or "—",
                    r.batch_size if r.batch_size is not None else "",
                    r.p50_ms,
                    _ratio_item(r.vs_pytorch),
                    _ratio_item(r.vs_plain),
                    format_bytes(r.size_bytes),
                    r.max_abs,
                    r.mean_abs,
                    pass_fail_item(r.passed),
                    settings[r.name] if r.available else r.reason,
                ]  # fmt: skip
            )
        self.table.set_rows(rows)
        current = self.scatter_at.currentData()
        self.scatter_at.blockSignals(True)
        self.scatter_at.clear()
        for device, batch in scatter_choices(variants):
            self.scatter_at.addItem(f"{device.upper()}, batch {batch}", (device, batch))
        index = self.scatter_at.findData(current) if current is not None else -1
        self.scatter_at.setCurrentIndex(max(index, 0))
        self.scatter_at.blockSignals(False)
        self._draw_scatter()

    # -- selection ----------------------------------------------------------------------------------
    def selected_variant(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        name = self.table.cell_text(rows[0].row(), 0)
        return next((v for v in self.variants if v.get("name") == name), None)

    def select(self, name: str) -> None:
        for r in range(self.table.rowCount()):
            if self.table.cell_text(r, 0) == name:
                self.table.selectRow(r)
                return

    def _selection_changed(self) -> None:
        variant = self.selected_variant()
        self.diff.set_rows([list(r) for r in op_count_diff(variant)] if variant else [])
        usable = bool(variant and variant.get("available", True) and variant.get("path"))
        self.push_button.setEnabled(usable)
        self.compare_button.setEnabled(usable)

    def _emit(self, signal, key: str) -> None:
        variant = self.selected_variant()
        if variant and variant.get(key):
            signal.emit(str(variant[key]))

    # -- scatter ------------------------------------------------------------------------------------
    def _clear_plot(self) -> None:
        if self.plot is not None:
            for item in self._plot_items:
                self.plot.getPlotItem().removeItem(item)
        self._plot_items = []

    def points(self):
        """One point per variant, and the plain export's, at the chosen device and batch size."""
        choice = self.scatter_at.currentData()
        if not choice:
            return []
        plain = plain_point(self.model.report if self.model is not None else {}, *choice)
        return scatter_points(self.variants, *choice) + ([plain] if plain else [])

    def _draw_scatter(self) -> None:
        if self.plot is None:
            return
        import pyqtgraph as pg

        self._clear_plot()
        points = self.points()
        if not points:
            return
        item = self.plot.getPlotItem()
        # PlotDataItems follow the log x axis themselves (raw errors in); a TextItem sits at view
        # coordinates, which on a log axis are log10 of the value.
        scatter = pg.PlotDataItem(
            [p.max_abs for p in points],
            [p.speedup for p in points],
            pen=None,
            symbol=["o" if p.passed else "x" for p in points],
            symbolBrush=[pg.mkBrush(PASS_COLOR if p.passed else FAIL_COLOR) for p in points],
            symbolPen=[pg.mkPen(PASS_COLOR if p.passed else FAIL_COLOR) for p in points],
            symbolSize=11,
        )
        item.addItem(scatter)
        self._plot_items.append(scatter)
        front = trade_off_front(points)
        if len(front) > 1:
            line = pg.PlotDataItem(
                [p.max_abs for p in front],
                [p.speedup for p in front],
                pen=pg.mkPen(PASS_COLOR, width=1, style=Qt.PenStyle.DashLine),
            )
            item.addItem(line)
            self._plot_items.append(line)
        rightmost = max(p.max_abs for p in points)
        for p in points:
            # the rightmost label reads leftwards: it would leave the plot otherwise
            anchor = (1, 1) if p.max_abs == rightmost and len(points) > 1 else (0, 1)
            label = pg.TextItem(p.name, anchor=anchor, color=self._foreground())
            label.setPos(math.log10(max(p.max_abs, 1e-12)), p.speedup)
            item.addItem(label)
            self._plot_items.append(label)

    @staticmethod
    def _foreground() -> str:
        from heimdall_studio.gui.theme import plot_colors

        return plot_colors()[1]
