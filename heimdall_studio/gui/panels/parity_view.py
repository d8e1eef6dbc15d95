"""PyTorch vs ONNX Runtime: the error of each output batch by batch, the distribution of |error|
against the real criterion (``atol + rtol·|ref|`` per element, ``mean_atol`` on the mean), the
worst elements, and a pass/fail table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from heimdall_studio.core.events import PARITY
from heimdall_studio.gui.lazy import np  # numpy on first use, after the first paint
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.theme import FAIL_COLOR, SERIES_COLORS
from heimdall_studio.gui.widgets import ReadOnlyTable, fit_columns, pass_fail_item

# log10(0) is -inf: exact matches are drawn on this floor instead.
ERROR_FLOOR = 1e-12
LIMIT_COLOR = "#e08a00"  # the mean-error limit, beside FAIL_COLOR for atol
ABS_TITLE = "Distribution of |error|"
RATIO_TITLE = "|error| against the criterion"


class ParityView(ModelView):
    """The parity batches and the parity step's result of the run model."""

    sections = ("parity", "results")
    interval_ms = 50
    render_hidden = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._curves: dict[str, tuple[Any, Any]] = {}
        self._tolerance_line = None
        self._distribution_items: list[tuple[Any, Any]] = []  # (plot widget, item) drawn from the result
        self._pending: dict[str, Any] | None = None  # outputs of a result not drawn yet (tab hidden)
        self.plot = self.abs_plot = self.ratio_plot = None
        self.frames: list[Any] = []
        self.verdict = QLabel("—")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = ReadOnlyTable(
            ["Output", "max |err|", "mean |err|", "max rel", "p99 |err|", "Result", "max |err| / allowed"]
        )
        self.table.setToolTip(
            "Largest, mean and 99th-percentile absolute error of ONNX Runtime against "
            "PyTorch over all compared batches; allowed = atol + rtol·|PyTorch value|"
        )
        fit_columns(self.table, stretch=-1)
        self.worst = ReadOnlyTable(
            ["Output", "Batch", "Index", "PyTorch", "ONNX Runtime", "|err|", "allowed", "|err| / allowed"]
        )
        self.worst.setToolTip(
            "The elements farthest outside (or closest to) their tolerance, worst first; "
            "allowed = atol + rtol·|PyTorch value|"
        )
        fit_columns(self.worst, stretch=-1)
        self.tabs = QTabWidget()
        self.tabs.addTab(QLabel("The error plots appear here while parity runs."), "Per batch")
        tables = QTabWidget()
        tables.addTab(self.table, "Outputs")
        tables.addTab(self.worst, "Worst elements")
        self.table_tabs = tables
        self._splitter = QSplitter(Qt.Orientation.Vertical)
        self._splitter.addWidget(self.tabs)
        self._splitter.addWidget(tables)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setChildrenCollapsible(False)
        self._splitter.setSizes([650, 250])  # the plots get most of the room
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.verdict)
        layout.addWidget(self._splitter, 1)

    def build(self) -> None:
        """Create the plots (imports pyqtgraph); called once the window has painted."""
        if self.plot is not None:
            return
        from heimdall_studio.gui.plots import PlotFrame, make_plot

        self.plot = make_plot("Error per batch: ONNX Runtime vs PyTorch", "batch", "abs. error", log_y=True)
        self.plot.getPlotItem().getAxis("bottom").integer = True  # batches are whole
        self.plot.setToolTip("Solid: max abs. error per batch; dashed: mean; red line: atol")
        self.frames = [PlotFrame(self.plot, "Parity error per batch")]
        placeholder = self.tabs.widget(0)
        self.tabs.removeTab(0)
        placeholder.deleteLater()
        self._distribution_page = QSplitter(Qt.Orientation.Horizontal)  # its plots: when first shown
        self.tabs.addTab(self.frames[0], "Per batch")  # live while parity runs
        self.tabs.addTab(self._distribution_page, "Error distribution")  # once it finished
        self.tabs.currentChanged.connect(self._draw_pending)
        self._seen = {}  # draw what arrived before the plots existed
        self.refresh()

    def reset_view(self) -> None:
        self.verdict.setText("—")
        self.verdict.setStyleSheet("")
        self.table.set_rows([])
        self.worst.set_rows([])
        self._clear_distribution()
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
                self.worst.set_rows([])
                self._clear_distribution()
        if "parity" in changed and self.plot is not None:
            self._draw_series(model)

    def show_result(self, result: dict[str, Any]) -> None:
        passed = bool(result.get("passed"))
        failures = "; ".join(str(f) for f in result.get("failures", []))
        verdict = "Parity passed" if passed else f"Parity FAILED: {failures}"
        outputs = result.get("outputs", {})
        rows = [(name, out) for name, out in outputs.items()]
        # Other runtimes checked beside ONNX Runtime (parity.runtimes.openvino): their own rows and
        # verdict; they do not decide the run's gate.
        for runtime, other in (result.get("runtimes") or {}).items():
            label = f"{runtime} ({other['precision']})" if other.get("precision") else runtime
            verdict += f"; {label}: {'passed' if other.get('passed') else 'FAILED'}"
            rows += [(f"{name} — {label}", out) for name, out in (other.get("outputs") or {}).items()]
        self.verdict.setText(verdict)
        self.verdict.setStyleSheet(f"color: {pass_fail_item(passed).foreground().color().name()};")
        self.table.set_rows(
            [
                [name]
                + [_number(out.get(k)) for k in ("max_abs", "mean_abs", "max_rel", "p99_abs")]
                + [pass_fail_item(out.get("passed")), _number(out.get("max_ratio"))]
                for name, out in rows
            ]
        )
        self.worst.set_rows(
            [
                [
                    name,
                    w["batch"],
                    "(" + ", ".join(str(i) for i in w["index"]) + ")",
                    _number(w["reference"]),
                    _number(w["candidate"]),
                    _number(w["abs_err"]),
                    _number(w["allowed"]),
                    _number(_ratio(w)),
                ]
                for name, out in outputs.items()
                for w in out.get("worst", [])
            ]
        )
        self._pending = outputs
        self._draw_pending()

    def _draw_pending(self) -> None:
        """Draw the distribution of the last result once its tab is shown (never for a hidden tab)."""
        if self.plot is None or not self._distribution_page.isVisible():
            return
        if self.abs_plot is None:
            self._build_distribution()
        if self._pending is not None:
            outputs, self._pending = self._pending, None
            self._draw_distribution(outputs)

    def prepare(self) -> None:
        """Build the distribution plots now (about 90 ms each), before a run, so that showing their
        tab during a run costs no UI time."""
        if self.plot is not None and self.abs_plot is None:
            self._build_distribution()

    def _build_distribution(self) -> None:
        from heimdall_studio.gui.plots import PlotFrame, make_plot

        self.abs_plot = make_plot(ABS_TITLE, "|ONNX Runtime − PyTorch|", "elements", log_x=True, clip=False)
        self.abs_plot.setToolTip(
            "Every compared element's absolute error. Red: atol; orange dashed: the "
            "mean-error limit (mean_atol); thin dashed: each output's mean |error|"
        )
        self.ratio_plot = make_plot(
            RATIO_TITLE, "|error| / allowed  (allowed = atol + rtol·|PyTorch|)", "elements", log_x=True, clip=False
        )
        self.ratio_plot.setToolTip("At or left of the red line (1) an element passes; right of it, it fails")
        self.frames += [
            PlotFrame(self.abs_plot, "Parity error distribution"),
            PlotFrame(self.ratio_plot, "Parity error versus allowed"),
        ]
        self._distribution_page.addWidget(self.frames[1])
        self._distribution_page.addWidget(self.frames[2])

    # -- drawing ------------------------------------------------------------------------------------
    def _clear_distribution(self) -> None:
        self._pending = None
        for widget, item in self._distribution_items:
            widget.getPlotItem().removeItem(item)
            legend = widget.getPlotItem().legend
            if legend is not None:
                legend.removeItem(item)
        self._distribution_items.clear()

    def _add(self, widget, item) -> None:
        widget.getPlotItem().addItem(item)  # a named curve joins the legend
        self._distribution_items.append((widget, item))

    def _draw_distribution(self, outputs: dict[str, dict[str, Any]]) -> None:
        """Step histograms (log x) of |err| and of |err| / allowed, with the criterion's lines."""
        import pyqtgraph as pg

        from heimdall_studio.gui.plots import pen

        self._clear_distribution()
        atols, mean_limits = set(), set()
        exact, tallest = 0, {self.abs_plot: 0, self.ratio_plot: 0}
        for i, (name, out) in enumerate(outputs.items()):
            hist = out.get("histogram")
            if not hist:
                continue
            exact += int(hist.get("exact", 0))
            if not sum(hist["abs_counts"]):
                continue
            tallest[self.abs_plot] = max(tallest[self.abs_plot], max(hist["abs_counts"]))
            tallest[self.ratio_plot] = max(tallest[self.ratio_plot], max(hist["ratio_counts"]))
            color = SERIES_COLORS[i % len(SERIES_COLORS)]
            for widget, edges, counts in (
                (self.abs_plot, hist["abs_edges"], hist["abs_counts"]),
                (self.ratio_plot, hist["ratio_edges"], hist["ratio_counts"]),
            ):
                # A bare curve (no scatter item behind it) in log10 units: PlotCurveItem has no log mode.
                curve = pg.PlotCurveItem(
                    np.log10(np.asarray(edges, dtype=float)),
                    np.asarray(counts, dtype=float),
                    stepMode="center",
                    pen=pen(color),
                    fillLevel=0,
                    brush=_faded(color),
                    name=name,
                )
                self._add(widget, curve)
            tolerance = out.get("tolerance", {})
            atols.add(float(tolerance.get("atol", 0)))
            mean_limits.add(float(tolerance.get("mean_atol", 0)))
            mean = _finite(out.get("mean_abs"))
            if mean:
                self._add(self.abs_plot, pg.InfiniteLine(np.log10(mean), angle=90, pen=pen(color, 1, dashed=True)))
        for atol in sorted(a for a in atols if a > 0):  # in log mode a line's position is in log10 units
            self._add(
                self.abs_plot,
                pg.InfiniteLine(
                    np.log10(atol),
                    angle=90,
                    pen=pen(FAIL_COLOR, 1.5),
                    label=f"atol {atol:g}",
                    labelOpts={"color": FAIL_COLOR, "position": 0.97, "anchors": [(1, 0), (1, 0)]},
                ),
            )
        for limit in sorted(m for m in mean_limits if m > 0):
            self._add(
                self.abs_plot,
                pg.InfiniteLine(
                    np.log10(limit),
                    angle=90,
                    pen=pen(LIMIT_COLOR, 1.5, dashed=True),
                    label=f"mean limit {limit:g}",
                    labelOpts={"color": LIMIT_COLOR, "position": 0.87, "anchors": [(1, 0), (1, 0)]},
                ),
            )
        self._add(
            self.ratio_plot,
            pg.InfiniteLine(
                0.0,
                angle=90,
                pen=pen(FAIL_COLOR, 1.5),
                label="pass ≤ 1",
                labelOpts={"color": FAIL_COLOR, "position": 0.97, "anchors": [(1, 0), (1, 0)]},
            ),
        )
        note = f" ({exact} exactly equal, not on the log axis)" if exact else ""
        for widget, title in ((self.abs_plot, ABS_TITLE), (self.ratio_plot, RATIO_TITLE)):
            item = widget.getPlotItem()
            item.setTitle(title + note)
            item.enableAutoRange(x=True)
            item.setYRange(0, max(tallest[widget], 1) * 1.3, padding=0)  # the lines' labels sit above the bars

    def _draw_series(self, model: RunModel) -> None:
        from heimdall_studio.gui.plots import pen

        item = self.plot.getPlotItem()
        atol = None
        for i, (name, series) in enumerate(model.parity.items()):
            if name not in self._curves:
                color = SERIES_COLORS[i % len(SERIES_COLORS)]
                self._curves[name] = (
                    item.plot(pen=pen(color), symbol="o", symbolSize=5, symbolBrush=color, name=f"{name} max"),
                    item.plot(pen=pen(color, dashed=True), name=f"{name} mean"),
                )
            max_curve, mean_curve = self._curves[name]
            max_curve.setData(series.batch.view, np.maximum(series.max_abs.view, ERROR_FLOOR))
            mean_curve.setData(series.batch.view, np.maximum(series.mean_abs.view, ERROR_FLOOR))
            atol = series.atol
        if atol and self._tolerance_line is None:
            import pyqtgraph as pg

            # In log mode an InfiniteLine's position is in log10 units.
            self._tolerance_line = pg.InfiniteLine(
                pos=np.log10(atol),
                angle=0,
                pen=pen(FAIL_COLOR, 1),
                label=f"atol {atol:g}",
                labelOpts={"color": FAIL_COLOR, "position": 0.1},
            )
            item.addItem(self._tolerance_line)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _number(value: Any) -> float:
    """A result figure as a float (strict-JSON results carry NaN and Inf as strings)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _ratio(worst: dict[str, Any]) -> float:
    allowed, err = _number(worst.get("allowed")), _number(worst.get("abs_err"))
    return err / allowed if allowed > 0 else (float("inf") if err > 0 else 0.0)


def _faded(color: str):
    from PySide6.QtGui import QColor

    faded = QColor(color)
    faded.setAlpha(50)
    return faded
