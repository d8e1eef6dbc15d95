"""The Latency and Parity views, fed a real run model with synthetic engine events: what they draw.

Benchmark results come from the engine's own BenchmarkResult/latency_stats, parity results from
the real parity step on numpy runners; the views are the real widgets, shown on screen.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QDialog

from heimdall_studio.core.benchmark import BenchmarkResult
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.events import BENCHMARK, PARITY, STEPS, LatencySamples, StepFinished
from heimdall_studio.core.parity import parity_step
from heimdall_studio.core.runners import Runner
from heimdall_studio.core.specs import ParityOptions, TensorSpec
from heimdall_studio.core.stats import latency_stats
from heimdall_studio.gui.panels.latency_view import DeviceTable, LatencyView
from heimdall_studio.gui.panels.parity_view import ParityView
from heimdall_studio.gui.plots import legend_names
from heimdall_studio.gui.run_model import RunModel
from tests.gui.conftest import screenshot
from tests.unit.conftest import run_step

BASE_MS = {("pytorch", 1): 4.0, ("pytorch", 4): 9.0, ("onnxruntime", 1): 2.0, ("onnxruntime", 4): 6.0}
LONG_NAME = "mel_spectrogram_magnitude_per_channel"


def _latency_model(samples: int = 200) -> tuple[RunModel, dict]:
    """A run model after a CPU benchmark of both runtimes at batch sizes 1 and 4."""
    rng = np.random.default_rng(0)
    model, entries = RunModel(), []
    model.begin("pipeline", STEPS)
    for (runtime, batch), base in BASE_MS.items():
        warm = tuple(base * 3 + rng.random(3))
        timed = tuple(base * rng.lognormal(0, 0.15, samples))
        model.apply(LatencySamples(runtime, "cpu", "torch", batch, warm, warmup=True))
        for chunk in range(0, samples, 50):  # as the engine sends them: a batch every 100 ms
            model.apply(LatencySamples(runtime, "cpu", "torch", batch, timed[chunk : chunk + 50]))
        entries.append(
            {
                "runtime": runtime,
                "device": "cpu",
                "provider": "torch",
                "batch_size": batch,
                "available": True,
                **latency_stats(timed, batch),
            }
        )
    entries += [
        {
            "runtime": r,
            "device": "cuda",
            "provider": "x",
            "batch_size": b,
            "available": False,
            "reason": "no CUDA device",
        }
        for r in ("pytorch", "onnxruntime")
        for b in (1, 4)
    ]
    result = BenchmarkResult(entries).to_dict()
    model.apply(StepFinished(BENCHMARK, result, 1.0, True))
    return model, result


def _shown(qtbot, view, size=(1200, 850)):
    view.resize(*size)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.build()
    return view


def _bars(view):
    """(x, p50 height, p90 top, p99 top) of every bar drawn, per (runtime, device)."""
    return {
        combo: (bars.opts["x"], bars.opts["height"], p90.opts["top"], p99.opts["top"])
        for combo, (bars, p90, p99) in view._bars.items()
    }


def test_latency_view_draws_bars_whiskers_histograms_and_speedup(qtbot, tmp_path):
    model, result = _latency_model()
    view = _shown(qtbot, LatencyView())
    view.bind(model)
    qtbot.waitUntil(lambda: len(view._bars) == 2)
    assert not view._histograms  # hidden tab: its plots are built when first shown
    view.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: len(view._histograms) == 2)
    view.tabs.setCurrentIndex(0)

    bars = _bars(view)
    assert sum(len(x) for x, *_ in bars.values()) == len(model.latency) == 4  # one bar per series
    for (runtime, device), (x, height, p90_top, p99_top) in bars.items():
        for slot, batch in enumerate((1, 4)):
            p50, p90, p99 = np.percentile(model.latency[(runtime, device, batch)].timed.view, [50, 90, 99])
            assert np.isclose(height[slot], p50) and abs(x[slot] - slot) < 0.5  # in its batch's slot
            assert np.isclose(p90_top[slot], p90 - p50) and np.isclose(p99_top[slot], p99 - p90)  # whiskers
    assert legend_names(view.comparison) == ["PyTorch CPU", "ONNX Runtime CPU"]
    assert sorted(legend_names(view.live_plot)) == sorted(
        f"{n} bs{b}" for n in ("PyTorch CPU", "ONNX Runtime CPU") for b in (1, 4)
    )
    _assert_legend_clear_of_bars(view)

    # one histogram per batch size, each with its own series only
    for batch, frame in view._histograms.items():
        assert legend_names(frame.plot) == ["PyTorch CPU", "ONNX Runtime CPU"]
        for runtime in ("pytorch", "onnxruntime"):
            curve = view._hist_curves[(runtime, "cpu", batch)]
            assert curve.getViewBox() is frame.plot.getPlotItem().getViewBox()
            xs, counts = curve.xData, curve.yData
            assert len(xs) == len(counts) + 1 and counts.sum() == 200  # step mode: edges and counts

    # the speed-up: headline and a table column, from the benchmark's own result
    ratio = {b: BASE_MS[("pytorch", b)] / BASE_MS[("onnxruntime", b)] for b in (1, 4)}
    table = view.cpu.table
    column = DeviceTable.HEADERS.index("Speed-up vs PyTorch")
    shown = {
        int(table.cell_text(r, 1)): table.cell_text(r, column)
        for r in range(table.rowCount())
        if table.cell_text(r, 0) == "ONNX Runtime"
    }
    assert shown == {b: f"{result['speedup']['cpu'][str(b)]:.2f}× faster" for b in (1, 4)}
    assert all(abs(result["speedup"]["cpu"][str(b)] - ratio[b]) < 0.4 * ratio[b] for b in (1, 4))
    assert view.headline.isVisible() and "CPU" in view.headline.text() and shown[4] in view.headline.text()
    assert view.gpu.unavailable.isVisible() and "no CUDA device" in view.gpu.unavailable.text()

    for i in range(view.tabs.count()):
        view.tabs.setCurrentIndex(i)
        qtbot.wait(50)
        screenshot(view, f"latency_view_{view.tabs.tabText(i).lower()}")
    view.tabs.setCurrentIndex(0)

    # log axis on demand: the bars are drawn in log10 units on a log axis
    view.log_axis.setChecked(True)
    x, height, p90_top, _ = _bars(view)[("pytorch", "cpu")]
    bar, *_ = view._bars[("pytorch", "cpu")]
    p50 = np.percentile(model.latency[("pytorch", "cpu", 4)].timed.view, 50)
    assert view.comparison.getPlotItem().getAxis("left").logMode
    assert np.isclose(bar.opts["y0"] + height[1], np.log10(p50))
    qtbot.wait(50)
    screenshot(view, "latency_view_log_axis")
    view.tabs.setCurrentIndex(1)
    view.log_x.setChecked(True)
    edges = view._hist_curves[("pytorch", "cpu", 4)].xData
    assert np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))  # log-spaced bins
    assert view._histograms[4].plot.getPlotItem().getAxis("bottom").logMode
    qtbot.wait(50)
    screenshot(view, "latency_view_histograms_log_x")
    view.tabs.setCurrentIndex(0)

    png, svg = view.frames[0].export(tmp_path / "comparison.png"), view.frames[0].export(tmp_path / "c.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "<svg" in svg.read_text() and "PyTorch CPU" in svg.read_text()  # the legend is in the drawing


def _assert_legend_clear_of_bars(view) -> None:
    item = view.comparison.getPlotItem()
    legend = item.legend.sceneBoundingRect()
    vb = item.getViewBox()
    for bars, *_ in view._bars.values():
        o = bars.opts
        for x, height in zip(o["x"], o["height"], strict=True):
            rect = vb.mapViewToScene(QRectF(x - o["width"] / 2, o["y0"], o["width"], height)).boundingRect()
            assert not rect.intersects(legend), f"the legend covers the bar at x={x}"


def test_a_plot_opens_in_its_own_window_and_comes_back(qtbot):
    model, _ = _latency_model(samples=50)
    view = _shown(qtbot, LatencyView())
    view.bind(model)
    frame = view.frames[0]
    dialog = frame.enlarge()
    qtbot.waitExposed(dialog)
    assert isinstance(dialog, QDialog) and frame.plot.window() is dialog and not frame.enlarge_button.isEnabled()
    assert dialog.width() > view.width() * 0.7
    dialog.close()
    qtbot.waitUntil(lambda: frame.dialog is None)
    assert frame.plot.window() is view and frame.plot.isVisible() and frame.enlarge_button.isEnabled()
    # the conftest guard fails the test if the dialog were left behind


def test_latency_view_redraws_only_when_shown_and_cheaply(qtbot):
    model, _ = _latency_model(samples=50)
    view = _shown(qtbot, LatencyView())
    view.bind(model)
    qtbot.waitUntil(lambda: len(view._curves) == 4)
    view.hide()
    model.apply(LatencySamples("pytorch", "cpu", "torch", 1, (5.0,) * 10))
    view.refresh()
    assert len(view._curves[("pytorch", "cpu", 1)][1].yData) == 50  # hidden: not redrawn
    view.show()
    qtbot.waitUntil(lambda: len(view._curves[("pytorch", "cpu", 1)][1].yData) == 60)

    # a long benchmark: 8 series of 20 000 samples; one redraw stays within the UI-stall budget
    for runtime in ("pytorch", "onnxruntime"):
        for batch in (1, 2, 4, 8):
            model.apply(LatencySamples(runtime, "cpu", "torch", batch, tuple(np.linspace(1, 9, 20000))))
    view.refresh()
    view.tabs.setCurrentIndex(1)  # the histograms too: the most work
    qtbot.waitUntil(lambda: len(view._histograms) == 4)
    # every one of the 8 series is in the live plot's legend, and the legend is outside the data
    view.tabs.setCurrentIndex(2)
    qtbot.wait(50)
    screenshot(view, "latency_view_live_8_series")
    names = legend_names(view.live_plot)
    assert len(names) == 8 and len(set(names)) == 8
    item = view.live_plot.getPlotItem()
    legend, data = item.legend.sceneBoundingRect(), item.getViewBox().sceneBoundingRect()
    assert not legend.intersects(data) and item.sceneBoundingRect().contains(legend)
    view.tabs.setCurrentIndex(1)
    times = []
    for _ in range(7):  # samples arrive for one runner at a time, as the engine measures them
        model.apply(LatencySamples("pytorch", "cpu", "torch", 1, (5.0,) * 50))
        start = time.perf_counter()
        view.refresh()
        times.append(time.perf_counter() - start)
        qtbot.wait(5)  # and paint
    assert len(view._curves[("pytorch", "cpu", 1)][1].yData) == 60 + 20000 + 7 * 50
    print(f"latency view redraw: median {np.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    assert float(np.median(times)) < 0.02, f"a redraw took {np.median(times) * 1000:.1f} ms"


# -- parity -----------------------------------------------------------------------------------------


class TwoOutputNumpy(Runner):
    """Two outputs (one with a long name); the candidate adds noise and one planted error."""

    device, provider, threads = "cpu", "numpy", 1

    def __init__(self, runtime: str, candidate: bool):
        super().__init__()
        self.runtime, self.candidate, self.calls = runtime, candidate, 0

    @property
    def input_specs(self):
        return [TensorSpec("x", ("batch", 4, 16))]

    def _activate(self) -> None:
        pass

    def _deactivate(self) -> None:
        pass

    def _infer(self, feed):
        x = feed["x"].astype(np.float32)
        out = {LONG_NAME: np.abs(x) * 2, "y": np.tanh(x)}
        if self.candidate:
            rng = np.random.default_rng(self.calls)
            out = {k: (v + rng.normal(0, 5e-6, v.shape)).astype(np.float32) for k, v in out.items()}
            if self.calls == 1:
                out["y"][1, 2, 3] += 0.01
        self.calls += 1
        return out


def _parity_model():
    inputs = [TensorSpec("x", ("batch", 4, 16))]
    steps = parity_step(
        TwoOutputNumpy("pytorch", False),
        TwoOutputNumpy("onnxruntime", True),
        inputs,
        ParityOptions(batches=3, batch_size=4),
        CancelToken(),
    )
    events, result = run_step(steps)
    model = RunModel()
    model.begin("pipeline", STEPS)
    model.apply_all(events)
    model.apply(StepFinished(PARITY, result.to_dict(), 1.0, result.passed))
    return model, result.to_dict()


def test_parity_view_draws_the_error_distribution_against_the_criterion(qtbot, tmp_path):
    model, result = _parity_model()
    view = _shown(qtbot, ParityView(), size=(1300, 850))
    view.bind(model)
    qtbot.waitUntil(lambda: view.worst.rowCount() > 0 and len(view._curves) == 2)
    assert not view._distribution_items  # its tab is hidden: nothing drawn there yet
    view.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: len(view._distribution_items) > 0)

    outputs = result["outputs"]
    assert not result["passed"] and outputs[LONG_NAME]["passed"] and not outputs["y"]["passed"]
    assert legend_names(view.abs_plot) == legend_names(view.ratio_plot) == [LONG_NAME, "y"]
    import pyqtgraph as pg

    drawn = [item for widget, item in view._distribution_items if widget is view.abs_plot]
    curves = [i for i in drawn if isinstance(i, pg.PlotCurveItem)]
    assert [c.opts["stepMode"] for c in curves] == ["center", "center"]
    edges = np.log10(outputs["y"]["histogram"]["abs_edges"])
    assert np.allclose(curves[1].xData, edges)  # drawn in log10 units on the log axis
    assert sum(curves[1].yData) + outputs["y"]["histogram"]["exact"] == outputs["y"]["elements"]
    exact = sum(o["histogram"]["exact"] for o in outputs.values())
    assert f"{exact} exactly equal" in view.abs_plot.getPlotItem().titleLabel.text
    lines = {round(i.value(), 6) for i in drawn if isinstance(i, pg.InfiniteLine)}
    assert {round(np.log10(1e-4), 6), round(np.log10(1e-5), 6)} <= lines  # atol and the mean-error limit
    ratio_lines = [
        i.value() for w, i in view._distribution_items if w is view.ratio_plot and isinstance(i, pg.InfiniteLine)
    ]
    assert ratio_lines == [0.0]  # log10(1): the pass line
    assert view.abs_plot.getPlotItem().getAxis("bottom").logMode

    # the worst elements: every output's, worst first; the planted error on top of "y"
    worst = view.worst
    assert worst.rowCount() == sum(len(o["worst"]) for o in outputs.values()) == 20
    rows = [[worst.cell_text(r, c) for c in range(worst.columnCount())] for r in range(worst.rowCount())]
    planted = next(r for r in rows if r[0] == "y")
    assert planted[1:3] == ["1", "(1, 2, 3)"] and float(planted[5]) > 0.009 and float(planted[7]) > 1

    # tables fit their content: the long output name is not elided, no header is clipped
    view.table_tabs.setCurrentIndex(1)
    for table in (view.table, view.worst):
        header = table.horizontalHeader()
        for column in range(table.columnCount()):
            needed = max(table.sizeHintForColumn(column), header.sectionSizeHint(column))
            assert header.sectionSize(column) >= needed, table.horizontalHeaderItem(column).text()
    assert view.table.cell_text(0, 0) == LONG_NAME
    qtbot.wait(50)
    screenshot(view, "parity_view_distribution")
    view.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    screenshot(view, "parity_view_per_batch")
    axis = view.plot.getPlotItem().getAxis("bottom")
    for low, high in ((0, 3), (0.5, 1.5), (0, 400)):  # whole batch numbers, zoomed in or out
        levels = axis.tickValues(low, high, 600)
        ticks = [v for _, values in levels for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), (low, high, ticks)
        assert len(levels[0][1]) < 30  # labelled ticks stay readable for a long run
    png = view.frames[1].export(tmp_path / "distribution.png")
    assert png.stat().st_size > 5000

    model.begin("pipeline", STEPS)  # a new run: nothing of the last one stays on screen
    qtbot.waitUntil(lambda: not view._distribution_items and view.worst.rowCount() == 0)
    assert not view._curves and view.table.rowCount() == 0


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_every_plot_exports(qtbot, tmp_path, kind):
    model, _ = _parity_model()
    view = _shown(qtbot, ParityView())
    view.bind(model)
    qtbot.waitUntil(lambda: view.worst.rowCount() > 0)
    assert view.abs_plot is None and len(view.frames) == 1  # built when first shown: a quick start
    view.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: len(view.frames) == 3)
    for i, frame in enumerate(view.frames):
        path = frame.export(tmp_path / f"plot{i}.{kind}")
        assert path.stat().st_size > 1000


def test_export_menu_writes_the_file_the_user_chose_or_says_why_not(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    model, _ = _latency_model(samples=50)
    view = _shown(qtbot, LatencyView())
    view.bind(model)
    frame = view.frames[0]
    chosen = [str(tmp_path / "latency")]  # the user typed no extension
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (chosen[0], ""))
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    png, svg = frame.export_button.menu().actions()
    png.trigger()
    svg.trigger()
    assert (tmp_path / "latency.png").stat().st_size > 5000 and (tmp_path / "latency.svg").stat().st_size > 1000
    assert warnings == []
    chosen[0] = str(tmp_path / "no such folder" / "latency.png")
    png.trigger()
    assert len(warnings) == 1 and "Could not write" in warnings[0] and "folder that exists" in warnings[0]


def test_latency_view_draws_openvino_beside_the_others_with_its_precision_and_speedup(qtbot):
    """A third runtime gets its own colour and legend name, and its row says its precision and speed-up."""
    rng = np.random.default_rng(1)
    model, entries = RunModel(), []
    model.begin("pipeline", STEPS)
    for runtime, provider, base in (("pytorch", "torch", 4.0), ("onnxruntime", "x", 2.0), ("openvino", "ov", 1.0)):
        timed = tuple(base * rng.lognormal(0, 0.1, 100))
        model.apply(LatencySamples(runtime, "cpu", provider, 1, timed))
        precision = {"precision": "bf16"} if runtime == "openvino" else {}
        entries.append(
            {"runtime": runtime, "device": "cpu", "provider": provider, "batch_size": 1, "available": True}
            | latency_stats(timed, 1)
            | precision
        )
    result = BenchmarkResult(entries).to_dict()
    model.apply(StepFinished(BENCHMARK, result, 1.0, True))
    view = _shown(qtbot, LatencyView())
    view.bind(model)
    qtbot.waitUntil(lambda: len(view._bars) == 3)
    assert legend_names(view.comparison) == ["PyTorch CPU", "ONNX Runtime CPU", "OpenVINO CPU"]
    colours = {view._color(runtime, "cpu") for runtime in ("pytorch", "onnxruntime", "openvino")}
    assert len(colours) == 3
    table = view.cpu.table
    column = DeviceTable.HEADERS.index("Speed-up vs PyTorch")
    rows = {table.cell_text(r, 0): table.cell_text(r, column) for r in range(table.rowCount())}
    ratio = result["speedup_by_runtime"]["openvino"]["cpu"]["1"]
    assert rows["OpenVINO (bf16)"] == f"{ratio:.2f}× faster" and ratio > 1
    assert rows["ONNX Runtime"] == f"{result['speedup']['cpu']['1']:.2f}× faster"
