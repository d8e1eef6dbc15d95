"""Benchmark: p50/p90/p99 of every runtime × device × batch, the speed-up of ONNX Runtime, latency
histograms per batch size, the live latency, and the figures in tables below.

Samples arrive in batches; they go into the run model's preallocated buffers and a 20 Hz timer
redraws from them only what changed — never one redraw per sample, never while hidden.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.events import BENCHMARK
from heimdall_studio.gui.lazy import np  # numpy on first use, after the first paint
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel, SeriesKey
from heimdall_studio.gui.theme import SERIES_COLORS
from heimdall_studio.gui.widgets import ReadOnlyTable, fit_columns

RUNTIME_NAMES = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "tensorrt": "TensorRT"}
RUNTIME_ORDER = {"pytorch": 0, "onnxruntime": 1, "openvino": 2, "tensorrt": 3}  # the baseline first
HISTOGRAM_BINS = 40
BATCH_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DashDotLine, Qt.PenStyle.DotLine)


def combo_name(runtime: str, device: str) -> str:
    return f"{RUNTIME_NAMES.get(runtime, runtime)} {device.upper()}"


def series_name(key: SeriesKey) -> str:
    runtime, device, batch = key
    return f"{combo_name(runtime, device)} bs{batch}"


def speedup_text(ratio: float) -> str:
    return f"{ratio:.2f}× faster" if ratio >= 1 else f"{ratio:.2f}× (slower)"


def speedup_headline(speedup: dict[str, dict[str, float]]) -> str:
    """ "ONNX Runtime vs PyTorch (p50): CPU 2.10× faster at batch 1, 1.60× faster at batch 4"."""
    parts = []
    for device, by_batch in speedup.items():
        ratios = ", ".join(
            f"{speedup_text(float(r))} at batch {b}" for b, r in sorted(by_batch.items(), key=lambda kv: int(kv[0]))
        )
        parts.append(f"{device.upper()} {ratios}")
    return "ONNX Runtime vs PyTorch (median latency): " + "; ".join(parts) if parts else ""


def remote_title(title: str, entries: list[dict[str, Any]]) -> str:
    """'Ray CPU — node-3 (AMD EPYC 7B13)': the node a remote device ran on and its processor."""
    measured = next((e for e in entries if e.get("host")), None)
    if measured is None:
        return title
    model = measured.get("gpu_model") or measured.get("cpu_model") or ""
    return f"{title} — {measured['host']}" + (f" ({model})" if model else "")


class DeviceTable(QGroupBox):
    """One device's runtimes: percentiles, throughput and speed-up, or why the device is unavailable."""

    HEADERS = ["Runtime", "Batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "items/s", "Speed-up vs PyTorch"]

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.table = ReadOnlyTable(self.HEADERS)
        self.table.setToolTip(
            "Speed-up vs PyTorch: PyTorch p50 / this runtime's p50 at the same batch size (above 1: faster "
            "than PyTorch). OpenVINO's row names the precision it computed in."
        )
        fit_columns(self.table, stretch=len(self.HEADERS) - 1)
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)  # compact
        self.unavailable = QLabel("", wordWrap=True)
        self.unavailable.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unavailable.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.unavailable)
        layout.addWidget(self.table)

    def show_entries(
        self,
        entries: list[dict[str, Any]],
        speedup: dict[str, float] | None = None,
        by_runtime: dict[str, dict[str, float]] | None = None,
    ) -> None:
        """``speedup``: batch → ONNX Runtime's ratio; ``by_runtime``: runtime → batch → ratio (all runtimes)."""
        ratios = {"onnxruntime": speedup or {}, **(by_runtime or {})}
        available = [e for e in entries if e.get("available", True)]
        missing = [e for e in entries if not e.get("available", True)]
        rows = []
        for e in available:
            ratio = ratios.get(e["runtime"], {}).get(str(e["batch_size"]))
            cell = QTableWidgetItem(speedup_text(float(ratio)) if ratio is not None else "")
            cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            name = RUNTIME_NAMES.get(e["runtime"], e["runtime"])
            rows.append(
                [
                    f"{name} ({e['precision']})" if e.get("precision") else name,
                    e["batch_size"],
                    float(e["p50_ms"]),
                    float(e["p90_ms"]),
                    float(e["p99_ms"]),
                    float(e.get("mean_ms", float("nan"))),
                    float(e.get("throughput_per_s", float("nan"))),
                    cell,
                ]
            )
        self.table.set_rows(rows)
        reasons = sorted(
            {f"{RUNTIME_NAMES.get(e['runtime'], e['runtime'])}: {e.get('reason') or 'not available'}" for e in missing}
        )
        self.unavailable.setText("Not measured —\n" + "\n".join(reasons) if reasons else "")
        self.unavailable.setVisible(bool(reasons))
        self.table.setVisible(bool(available) or not reasons)

    def clear(self) -> None:
        self.table.set_rows([])
        self.unavailable.hide()
        self.table.show()


class LatencyView(ModelView):
    sections = ("latency", "results")
    # 5 Hz: live enough to watch, and the window takes little CPU from the runtimes it measures
    # (the engine's figures must not depend on whether this tab is shown).
    interval_ms = 200
    render_hidden = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries: list[dict[str, Any]] = []
        self.speedup: dict[str, dict[str, float]] = {}
        self._curves: dict[SeriesKey, tuple[Any, Any]] = {}  # live plot: (warm-up, timed)
        self._bars: dict[tuple[str, str], tuple[Any, Any, Any]] = {}  # (runtime, device): bars, p90, p99
        self._histograms: dict[int, Any] = {}  # batch size → PlotFrame
        self._hist_curves: dict[SeriesKey, Any] = {}
        self._drawn: dict[SeriesKey, tuple[int, int]] = {}  # (warm-up, timed) samples last drawn
        self._hist_drawn: dict[int, tuple[int, ...]] = {}  # batch size → timed samples of its series drawn
        self._stats: dict[SeriesKey, np.ndarray] = {}  # p50, p90, p99 of the timed samples
        self._combos: list[tuple[str, str]] = []  # (runtime, device) in order of appearance: their colours
        self._batch_order: list[int] = []  # batch sizes in order of appearance: their line styles
        self.live_plot = self.comparison = None
        self.frames: list[Any] = []  # every PlotFrame (enlarge / export)
        self.headline = QLabel("")
        self.headline.setStyleSheet("font-weight: bold;")
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.headline.setWordWrap(True)
        self.headline.hide()
        self.log_axis = QCheckBox("Log axis")
        self.log_axis.setToolTip("Latency on a logarithmic axis (runtimes that differ by orders of magnitude)")
        self.log_axis.toggled.connect(self._redraw)
        self.log_x = QCheckBox("Log x")
        self.log_x.setToolTip("Latency on a logarithmic axis in the histograms (long tails)")
        self.log_x.toggled.connect(self._redraw)
        self.cpu = DeviceTable("CPU")
        self.gpu = DeviceTable("GPU (CUDA)")
        # Devices on a Ray cluster (entries with location "ray"), side by side with the local ones;
        # shown only when a run measured them.
        self.ray_cpu = DeviceTable("Ray CPU")
        self.ray_gpu = DeviceTable("Ray GPU (CUDA)")
        tables = QWidget()
        row = QHBoxLayout(tables)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.cpu, 3)  # the table with figures gets the width; a reason wraps in less
        row.addWidget(self.gpu, 1)
        row.addWidget(self.ray_cpu, 3)
        row.addWidget(self.ray_gpu, 1)
        self.ray_cpu.hide()
        self.ray_gpu.hide()
        self.tabs = QTabWidget()
        self.tabs.addTab(QLabel("Latency plots appear here while the benchmark runs."), "Comparison")
        self._histogram_grid = QGridLayout()
        self._splitter = QSplitter(Qt.Orientation.Vertical)
        self._splitter.addWidget(self.tabs)
        self._splitter.addWidget(tables)
        self._splitter.setStretchFactor(0, 4)
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setChildrenCollapsible(False)
        self._splitter.setSizes([640, 240])  # the plots get most of the room; every table row stays visible
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.headline)
        layout.addWidget(self._splitter, 1)

    def build(self) -> None:
        """Create the plots (imports pyqtgraph); called once the window has painted."""
        if self.live_plot is not None:
            return
        from heimdall_studio.gui.plots import PlotFrame, make_plot

        self.comparison = make_plot("Latency per runtime, device and batch size", "batch size", "ms", clip=False)
        self.comparison.setToolTip("Bar: median (p50). Whiskers: p90 (wide cap) and p99 (narrow cap)")
        self.comparison.getPlotItem().setMouseEnabled(x=False)
        comparison = PlotFrame(self.comparison, "Latency comparison")
        comparison.add_control(self.log_axis)
        comparison.add_control(QLabel("Bar: p50, whiskers: p90 (wide cap), p99 (narrow cap)"))
        self.live_plot = make_plot("Latency, live", "inference #", "ms")
        self.live_plot.setToolTip("Each inference's latency; faded: warm-up (not counted)")
        live = PlotFrame(self.live_plot, "Latency live")
        histograms = QWidget()
        outer = QVBoxLayout(histograms)
        outer.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("One plot per batch size: timed inferences only."))
        controls.addStretch(1)
        controls.addWidget(self.log_x)
        outer.addLayout(controls)
        outer.addLayout(self._histogram_grid, 1)
        self.frames = [comparison, live]
        placeholder = self.tabs.widget(0)
        self.tabs.removeTab(0)
        placeholder.deleteLater()
        self.tabs.addTab(comparison, "Comparison")
        self.tabs.addTab(histograms, "Histograms")
        self.tabs.addTab(live, "Live")
        self._histogram_page = histograms
        self.tabs.currentChanged.connect(self._redraw_shown)
        self._seen.pop("latency", None)  # draw what arrived before the plots existed
        self.refresh()

    def reset_view(self) -> None:
        self.entries, self.speedup = [], {}
        self.headline.hide()
        self.cpu.clear()
        self.gpu.clear()
        for table in (self.ray_cpu, self.ray_gpu):
            table.clear()
            table.hide()
        if self.live_plot is not None:
            for warm, timed in self._curves.values():
                self.live_plot.getPlotItem().removeItem(warm)
                self.live_plot.getPlotItem().removeItem(timed)
            for items in self._bars.values():
                for item in items:
                    self.comparison.getPlotItem().removeItem(item)
            for key, curve in self._hist_curves.items():
                self._histograms[key[2]].plot.getPlotItem().removeItem(curve)
            for frame in self._histograms.values():  # kept: building a plot costs ~90 ms of UI time
                frame.close_window()
                frame.hide()
        self._curves.clear()
        self._bars.clear()
        self._hist_curves.clear()
        self._drawn.clear()
        self._hist_drawn.clear()
        self._stats.clear()
        self._combos.clear()
        self._batch_order.clear()

    def render(self, model: RunModel, changed: set[str]) -> None:
        if "results" in changed:
            self.show_result(model.result(BENCHMARK))
        if "latency" in changed and self.live_plot is not None:
            self._draw_series(model)

    def show_result(self, result: dict[str, Any]) -> None:
        self.entries = list(result.get("entries", []))
        self.speedup = {d: {str(b): float(r) for b, r in v.items()} for d, v in result.get("speedup", {}).items()}
        by_runtime = result.get("speedup_by_runtime") or {}

        def on(device: str) -> dict[str, dict[str, float]]:
            return {runtime: dict(by_device.get(device, {})) for runtime, by_device in by_runtime.items()}

        self.cpu.show_entries([e for e in self.entries if e.get("device") == "cpu"], self.speedup.get("cpu"), on("cpu"))
        gpu = [e for e in self.entries if e.get("device") not in ("cpu", "ray:cpu", "ray:cuda")]
        self.gpu.show_entries(
            gpu, self.speedup.get(gpu[0]["device"]) if gpu else None, on(gpu[0]["device"]) if gpu else None
        )
        remote_tables = ((self.ray_cpu, "ray:cpu", "Ray CPU"), (self.ray_gpu, "ray:cuda", "Ray GPU (CUDA)"))
        for table, device, title in remote_tables:
            remote = [e for e in self.entries if e.get("device") == device]
            table.setVisible(bool(remote))
            if remote:
                table.show_entries(remote, self.speedup.get(device), on(device))
                table.setTitle(remote_title(title, remote))
        self.headline.setText(speedup_headline(self.speedup))
        self.headline.setVisible(bool(self.speedup))

    # -- drawing ------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        """Draw everything again (an axis changed scale)."""
        if self.model is not None and self.live_plot is not None:
            self._drawn.clear()
            self._hist_drawn.clear()
            self._draw_series(self.model)

    def _redraw_shown(self) -> None:
        """Another tab came up: draw what it shows if that changed while it was hidden."""
        if self.model is not None and self.live_plot is not None and self.isVisible():
            self._draw_series(self.model)

    def _color(self, runtime: str, device: str) -> str:
        if (runtime, device) not in self._combos:
            self._combos.append((runtime, device))
        return SERIES_COLORS[self._combos.index((runtime, device)) % len(SERIES_COLORS)]

    def _draw_series(self, model: RunModel) -> None:
        series = sorted(
            model.latency.values(),
            key=lambda s: (s.device != "cpu", s.device, RUNTIME_ORDER.get(s.runtime, 9), s.runtime, s.batch_size),
        )
        batches = sorted({s.batch_size for s in series})
        # Only series that received samples since the last redraw are recomputed: the engine
        # measures one runner at a time, so a redraw costs one series, not all of them.
        changed = [s for s in series if self._drawn.get(s.key) != (s.warmup.size, s.timed.size)]
        for s in changed:
            self._color(s.runtime, s.device)
            self._drawn[s.key] = (s.warmup.size, s.timed.size)
            if s.timed.size:
                self._stats[s.key] = np.percentile(s.timed.view, [50, 90, 99])
        self._draw_live(changed, batches)
        timed = [s for s in series if s.timed.size]
        self._draw_comparison(timed, batches)
        if self._histogram_page.isVisible():  # a dozen plots: built and drawn only while looked at
            self._draw_histograms(timed, batches)

    def _draw_live(self, series, batches: list[int]) -> None:
        from heimdall_studio.gui.plots import pen

        item = self.live_plot.getPlotItem()
        for s in series:
            if s.key not in self._curves:
                color = self._color(s.runtime, s.device)
                if s.batch_size not in self._batch_order:  # a batch size keeps its line style
                    self._batch_order.append(s.batch_size)
                style = BATCH_STYLES[self._batch_order.index(s.batch_size) % len(BATCH_STYLES)]
                faded = pen(color, 1, style=style)
                faded.setColor(_faded(color))
                self._curves[s.key] = (
                    item.plot(pen=faded),
                    item.plot(pen=pen(color, 1, style=style), name=series_name(s.key)),
                )
            warm_curve, timed_curve = self._curves[s.key]
            n_warm = s.warmup.size
            warm_curve.setData(np.arange(n_warm, dtype=float), s.warmup.view)
            timed_curve.setData(np.arange(n_warm, n_warm + s.timed.size, dtype=float), s.timed.view)

    def _draw_comparison(self, timed, batches: list[int]) -> None:
        """One bar per series at its batch size's slot: p50, with p90 and p99 whiskers."""
        import pyqtgraph as pg

        from heimdall_studio.gui.plots import pen, set_log_mode

        item = self.comparison.getPlotItem()
        log = self.log_axis.isChecked()
        set_log_mode(item, y=log)
        combos = [c for c in self._combos if any((s.runtime, s.device) == c for s in timed)]
        width = 0.8 / max(len(combos), 1)
        stats = {s.key: self._stats[s.key] for s in timed}
        floor = np.log10(min(p[0] for p in stats.values())) - 0.5 if stats else 0.0
        floor = float(np.floor(floor * 2) / 2)  # a bar starts below the shortest one, on a tidy value
        for j, (runtime, device) in enumerate(combos):
            keys = [(runtime, device, b) for b in batches if (runtime, device, b) in stats]
            x = np.array([batches.index(k[2]) - 0.4 + (j + 0.5) * width for k in keys])
            p50, p90, p99 = (np.array([stats[k][i] for k in keys]) for i in range(3))
            if log:
                p50, p90, p99 = np.log10(p50), np.log10(p90), np.log10(p99)
            base = floor if log else 0.0
            color = self._color(runtime, device)
            if (runtime, device) not in self._bars:
                bars = pg.BarGraphItem(
                    x=x, height=p50 - base, y0=base, width=width * 0.9, brush=pg.mkBrush(color), pen=pen(color, 1)
                )
                p90_bar = pg.ErrorBarItem(x=x, y=p50, top=p90 - p50, beam=width * 0.6, pen=pen(_whisker(), 1.5))
                p99_bar = pg.ErrorBarItem(x=x, y=p90, top=p99 - p90, beam=width * 0.3, pen=pen(_whisker(), 1))
                item.addItem(bars)
                item.legend.addItem(bars, combo_name(runtime, device))
                item.addItem(p90_bar)
                item.addItem(p99_bar)
                self._bars[(runtime, device)] = (bars, p90_bar, p99_bar)
            bars, p90_bar, p99_bar = self._bars[(runtime, device)]
            bars.setOpts(x=x, height=p50 - base, y0=base, width=width * 0.9)
            p90_bar.setData(x=x, y=p50, top=p90 - p50, beam=width * 0.6)
            p99_bar.setData(x=x, y=p90, top=p99 - p90, beam=width * 0.3)
        item.getAxis("bottom").setTicks([[(i, f"batch {b}") for i, b in enumerate(batches)], []])
        item.setXRange(-0.6, len(batches) - 0.4, padding=0)
        item.enableAutoRange(y=True)

    def prepare(self, batch_sizes: tuple[int, ...]) -> None:
        """Build the histogram plots of these batch sizes now, hidden, before a run: each costs ~90 ms
        of UI time, which a run should not pay while the user watches it."""
        if self.live_plot is None:
            return
        for b in batch_sizes:
            self._histogram_frame(b).hide()

    def _histogram_frame(self, b: int):
        if b not in self._histograms:
            from heimdall_studio.gui.plots import PlotFrame, make_plot

            plot = make_plot(f"Latency histogram, batch size {b}", "ms", "inferences", clip=False)
            frame = PlotFrame(plot, f"Latency histogram batch {b}")
            self._histograms[b] = frame
            self.frames.append(frame)
            self._relayout_histograms()
        return self._histograms[b]

    def _draw_histograms(self, timed, batches: list[int]) -> None:
        from heimdall_studio.gui.plots import pen, set_log_mode

        log = self.log_x.isChecked()
        for b in batches:
            in_batch = [s for s in timed if s.batch_size == b]
            frame = self._histogram_frame(b)
            if frame.isHidden():
                frame.show()
            drawn = tuple(s.timed.size for s in in_batch)
            if not in_batch or self._hist_drawn.get(b) == drawn:
                continue
            self._hist_drawn[b] = drawn
            item = self._histograms[b].plot.getPlotItem()
            set_log_mode(item, x=log)
            merged = np.concatenate([s.timed.view for s in in_batch])
            low, high = float(merged.min()), float(merged.max())
            high = high if high > low else low * 1.001 + 1e-3
            edges = (
                np.geomspace(low, high, HISTOGRAM_BINS + 1)
                if log and low > 0
                else np.linspace(low, high, HISTOGRAM_BINS + 1)
            )
            for s in in_batch:
                if s.key not in self._hist_curves:
                    color = self._color(s.runtime, s.device)
                    self._hist_curves[s.key] = item.plot(
                        pen=pen(color),
                        stepMode="center",
                        fillLevel=0,
                        brush=_faded(color, 40),
                        name=combo_name(s.runtime, s.device),
                    )
                counts, _ = np.histogram(s.timed.view, bins=edges)
                self._hist_curves[s.key].setData(edges, counts)

    def _relayout_histograms(self) -> None:
        frames = [self._histograms[b] for b in sorted(self._histograms)]
        columns = 1 if len(frames) == 1 else 2
        for frame in frames:
            self._histogram_grid.removeWidget(frame)
        for i, frame in enumerate(frames):
            self._histogram_grid.addWidget(frame, i // columns, i % columns)


def _faded(color: str, alpha: int = 110):
    from PySide6.QtGui import QColor

    faded = QColor(color)
    faded.setAlpha(alpha)
    return faded


def _whisker() -> str:
    from heimdall_studio.gui.theme import plot_colors

    return plot_colors()[1]
