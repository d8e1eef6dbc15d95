"""PyTorch vs ONNX Runtime: the error of each output batch by batch, and a pass/fail table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from heimdall_studio.core.events import PARITY
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.theme import FAIL_COLOR, SERIES_COLORS
from heimdall_studio.gui.widgets import ReadOnlyTable, format_number, pass_fail_item

# log10(0) is -inf: exact matches are drawn on this floor instead.
ERROR_FLOOR = 1e-12


class ParityView(ModelView):
    """The parity batches and the parity step's result of the run model."""

    sections = ("parity", "results")
    interval_ms = 50
    render_hidden = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._curves: dict[str, tuple[Any, Any]] = {}
        self._tolerance_line = None
        self.plot = None
        self.verdict = QLabel("—")
        self.table = ReadOnlyTable(["Output", "max |err|", "mean |err|", "max rel", "p99 |err|", "Result"])
        self.table.setToolTip("Largest, mean and 99th-percentile absolute error of ONNX Runtime against "
                              "PyTorch over all compared batches")
        self._splitter = QSplitter(Qt.Orientation.Vertical)
        self._placeholder = QLabel("The error plot appears here while parity runs.")
        self._splitter.addWidget(self._placeholder)
        self._splitter.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.addWidget(self.verdict)
        layout.addWidget(self._splitter, 1)

    def build(self) -> None:
        """Create the plot (imports pyqtgraph); called once the window has painted."""
        if self.plot is not None:
            return
        from heimdall_studio.gui.plots import make_plot

        self.plot = make_plot("Parity: ONNX Runtime vs PyTorch", "batch", "abs. error (log)", log_y=True)
        self.plot.getPlotItem().getAxis("bottom").setTickSpacing(major=1, minor=1)  # batches are whole
        self.plot.setToolTip("Solid: max abs. error per batch; dashed: mean; red line: atol")
        self._splitter.replaceWidget(0, self.plot)
        self._placeholder.deleteLater()
        self._seen.pop("parity", None)  # draw what arrived before the plot existed
        self.refresh()

    def reset_view(self) -> None:
        self.verdict.setText("—")
        self.verdict.setStyleSheet("")
        self.table.set_rows([])
        if self.plot is not None:
            item = self.plot.getPlotItem()
            for max_curve, mean_curve in self._curves.values():
                item.removeItem(max_curve)
                item.removeItem(mean_curve)
            if self._tolerance_line is not None:
                item.removeItem(self._tolerance_line)
        self._curves.clear()
        self._tolerance_line = None

    def render(self, model: RunModel, changed: set[str]) -> None:
        if "results" in changed:
            result = model.result(PARITY)
            if result:
                self.show_result(result)
            else:
                self.verdict.setText("—")
                self.verdict.setStyleSheet("")
                self.table.set_rows([])
        if "parity" in changed and self.plot is not None:
            self._draw_series(model)

    def show_result(self, result: dict[str, Any]) -> None:
        passed = bool(result.get("passed"))
        self.verdict.setText("Parity passed" if passed else "Parity FAILED: " + "; ".join(
            str(f) for f in result.get("failures", [])))
        self.verdict.setStyleSheet(f"color: {pass_fail_item(passed).foreground().color().name()};")
        rows = []
        for name, out in result.get("outputs", {}).items():
            rows.append([name] + [float(out.get(k, float("nan"))) for k in ("max_abs", "mean_abs", "max_rel",
                                                                            "p99_abs")]
                        + [pass_fail_item(out.get("passed"))])
        self.table.set_rows(rows)

    def _draw_series(self, model: RunModel) -> None:
        import numpy as np

        from heimdall_studio.gui.plots import pen

        item = self.plot.getPlotItem()
        atol = None
        for i, (name, series) in enumerate(model.parity.items()):
            if name not in self._curves:
                color = SERIES_COLORS[i % len(SERIES_COLORS)]
                self._curves[name] = (item.plot(pen=pen(color), symbol="o", symbolSize=5, symbolBrush=color,
                                                name=f"{name} max"),
                                      item.plot(pen=pen(color, dashed=True), name=f"{name} mean"))
            max_curve, mean_curve = self._curves[name]
            max_curve.setData(series.batch.view, np.maximum(series.max_abs.view, ERROR_FLOOR))
            mean_curve.setData(series.batch.view, np.maximum(series.mean_abs.view, ERROR_FLOOR))
            atol = series.atol
        if atol and self._tolerance_line is None:
            import pyqtgraph as pg

            # In log mode an InfiniteLine's position is in log10 units.
            self._tolerance_line = pg.InfiniteLine(pos=np.log10(atol), angle=0, pen=pen(FAIL_COLOR, 1),
                                                   label=f"atol {format_number(atol)}",
                                                   labelOpts={"color": FAIL_COLOR, "position": 0.1})
            item.addItem(self._tolerance_line)
