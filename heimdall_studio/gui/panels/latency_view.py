"""Benchmark: live latency per runtime, a latency histogram, and p50/p90/p99 for CPU and GPU side by side.

Samples arrive in batches; they go into preallocated buffers and a 20 Hz timer redraws
only what changed — never one redraw per sample.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from heimdall_studio.core.events import BENCHMARK
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.run_model import RunModel, SeriesKey
from heimdall_studio.gui.theme import SERIES_COLORS
from heimdall_studio.gui.widgets import ReadOnlyTable

RUNTIME_NAMES = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime"}


def series_name(key: SeriesKey) -> str:
    runtime, device, batch = key
    return f"{RUNTIME_NAMES.get(runtime, runtime)} {device.upper()} bs{batch}"


class DeviceTable(QGroupBox):
    """One device's runtimes: percentiles and throughput, or why the device is unavailable."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent)
        self.table = ReadOnlyTable(["Runtime", "Batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "items/s"])
        self.unavailable = QLabel("", wordWrap=True)
        self.unavailable.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unavailable.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.unavailable)
        layout.addWidget(self.table)

    def show_entries(self, entries: list[dict[str, Any]]) -> None:
        available = [e for e in entries if e.get("available", True)]
        missing = [e for e in entries if not e.get("available", True)]
        self.table.set_rows([[RUNTIME_NAMES.get(e["runtime"], e["runtime"]), e["batch_size"],
                              float(e["p50_ms"]), float(e["p90_ms"]), float(e["p99_ms"]),
                              float(e.get("mean_ms", float("nan"))), float(e.get("throughput_per_s", float("nan")))]
                             for e in available])
        reasons = sorted({f"{RUNTIME_NAMES.get(e['runtime'], e['runtime'])}: {e.get('reason') or 'not available'}"
                          for e in missing})
        self.unavailable.setText("Not measured —\n" + "\n".join(reasons) if reasons else "")
        self.unavailable.setVisible(bool(reasons))
        self.table.setVisible(bool(available) or not reasons)

    def clear(self) -> None:
        self.table.set_rows([])
        self.unavailable.hide()
        self.table.show()


class LatencyView(ModelView):
    sections = ("latency", "results")
    interval_ms = 50  # ~20 Hz while samples arrive
    render_hidden = False

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.entries: list[dict[str, Any]] = []
        self._curves: dict[SeriesKey, tuple[Any, Any, Any]] = {}
        self.live_plot = None
        self.histogram = None
        self.cpu = DeviceTable("CPU")
        self.gpu = DeviceTable("GPU (CUDA)")
        tables = QWidget()
        row = QHBoxLayout(tables)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.cpu)
        row.addWidget(self.gpu)
        self._plots = QSplitter(Qt.Orientation.Horizontal)
        self._plots.addWidget(QLabel("Latency plots appear here while the benchmark runs."))
        self._splitter = QSplitter(Qt.Orientation.Vertical)
        self._splitter.addWidget(self._plots)
        self._splitter.addWidget(tables)
        layout = QVBoxLayout(self)
        layout.addWidget(self._splitter)

    def build(self) -> None:
        """Create the plots (imports pyqtgraph); called once the window has painted."""
        if self.live_plot is not None:
            return
        from heimdall_studio.gui.plots import make_plot

        self.live_plot = make_plot("Latency, live", "inference #", "ms")
        self.live_plot.setToolTip("Each inference's latency; faded: warm-up (not counted)")
        # Step-mode curves must not be clipped or downsampled (pyqtgraph raises in paint otherwise).
        self.histogram = make_plot("Latency histogram", "ms", "count", clip=False)
        placeholder = self._plots.widget(0)
        self._plots.replaceWidget(0, self.live_plot)
        placeholder.deleteLater()
        self._plots.addWidget(self.histogram)
        self._seen.pop("latency", None)  # draw what arrived before the plots existed
        self.refresh()

    def reset_view(self) -> None:
        self.entries = []
        self.cpu.clear()
        self.gpu.clear()
        if self.live_plot is not None:
            for curves in self._curves.values():
                self.live_plot.getPlotItem().removeItem(curves[0])
                self.live_plot.getPlotItem().removeItem(curves[1])
                self.histogram.getPlotItem().removeItem(curves[2])
        self._curves.clear()

    def render(self, model: RunModel, changed: set[str]) -> None:
        if "results" in changed:
            self.show_result(model.result(BENCHMARK))
        if "latency" in changed and self.live_plot is not None:
            self._draw_series(model)

    def show_result(self, result: dict[str, Any]) -> None:
        self.entries = list(result.get("entries", []))
        self.cpu.show_entries([e for e in self.entries if e.get("device") == "cpu"])
        self.gpu.show_entries([e for e in self.entries if e.get("device") != "cpu"])

    def _draw_series(self, model: RunModel) -> None:
        import numpy as np

        from heimdall_studio.gui.plots import pen

        timed_all = [s.timed.view for s in model.latency.values() if s.timed.size]
        edges = None
        if timed_all:
            merged = np.concatenate(timed_all)
            low, high = float(merged.min()), float(merged.max())
            edges = np.linspace(low, high if high > low else low + 1e-3, 41)
        for i, (key, series) in enumerate(model.latency.items()):
            if key not in self._curves:
                color = SERIES_COLORS[i % len(SERIES_COLORS)]
                faded = pen(color, 1)
                faded.setStyle(Qt.PenStyle.DotLine)
                self._curves[key] = (
                    self.live_plot.getPlotItem().plot(pen=faded),
                    self.live_plot.getPlotItem().plot(pen=pen(color, 1), name=series_name(key)),
                    self.histogram.getPlotItem().plot(pen=pen(color), stepMode="center", name=series_name(key)),
                )
            warm_curve, timed_curve, hist_curve = self._curves[key]
            n_warm = series.warmup.size
            warm_curve.setData(np.arange(n_warm, dtype=float), series.warmup.view)
            timed_curve.setData(np.arange(n_warm, n_warm + series.timed.size, dtype=float), series.timed.view)
            if edges is not None and series.timed.size:
                counts, _ = np.histogram(series.timed.view, bins=edges)
                hist_curve.setData(edges, counts)
