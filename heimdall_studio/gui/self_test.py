"""``heimdall-studio gui SOURCE --self-test``: the whole pipeline at the app's defaults, as a user runs it.

The window opens on SOURCE, the pipeline runs with the Options form as it stands (the
app's defaults unless the user saved others), each view is brought to the front in turn
while it runs, then the window closes and the process exits with the pipeline's exit code.
It prints exactly three lines::

    first paint: N ms
    ui stall: max N ms, p99 N ms
    run: N s

"ui stall" is how late a 10 ms timer on the UI thread fired, over the whole run: the
window's responsiveness while the engine works.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QObject, QTimer

from heimdall_studio.core.errors import EXIT_CODES, ErrorKind
from heimdall_studio.core.events import PipelineFinished

TICK_MS = 10
VIEW_ORDER = ("Validation", "Parity", "Latency", "Graph", "Registry", "Validation")
VIEW_SECONDS = 1.5


class StallMeter(QObject):
    """How late each tick of a ``TICK_MS`` timer fires on the UI thread (ms, ≥ 0)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.lateness_ms: list[float] = []
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.lateness_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000.0 - TICK_MS))
        self._last = now

    def summary(self) -> tuple[float, float]:
        """(max, p99) in ms; (0, 0) before any tick."""
        if not self.lateness_ms:
            return 0.0, 0.0
        ordered = sorted(self.lateness_ms)
        p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
        return ordered[-1], p99


class SelfTest(QObject):
    """Drives a MainWindow through open → Run → every view → close; ``exit_code`` when done."""

    def __init__(self, window, source: str, started_monotonic: float, out=None):
        super().__init__(window)
        self.window = window
        self.source = source
        self.out = out or sys.stdout
        self.started = started_monotonic
        self.exit_code = EXIT_CODES[ErrorKind.INTERNAL]
        self.first_paint_ms: float | None = None
        self.meter = StallMeter(self)
        self._phase = "paint"
        self._run_started = 0.0
        self._views = QTimer(self)
        self._views.setInterval(int(VIEW_SECONDS * 1000))
        self._views.timeout.connect(self._next_view)
        self._view_index = 0
        window.first_painted.connect(self._on_first_paint)
        window.run_finished.connect(self._on_run_finished)

    def _on_first_paint(self) -> None:
        self.first_paint_ms = (time.monotonic() - self.started) * 1000.0
        print(f"first paint: {self.first_paint_ms:.0f} ms", file=self.out, flush=True)
        self._phase = "load"
        self.window.open_source(self.source)

    def _on_run_finished(self, finished: PipelineFinished) -> None:
        if self._phase == "load":
            if not self.window.run_model.passed("load"):
                self._finish(finished, ran=False)
                return
            self._phase = "pipeline"
            QTimer.singleShot(0, self._start_pipeline)
        elif self._phase == "pipeline":
            self._finish(finished, ran=True)

    def _start_pipeline(self) -> None:
        self.meter.start()
        self._run_started = time.monotonic()
        self.window.run_pipeline()
        if self.window.run is None:  # the form did not allow a run: say so through the banner's text
            self.meter.stop()
            message = self.window.pipeline.error.message_label.text() or "the pipeline did not start"
            print(f"error: {message}", file=sys.stderr, flush=True)
            self._quit(EXIT_CODES[ErrorKind.BAD_INPUT])
            return
        self._views.start()

    def _next_view(self) -> None:
        title = VIEW_ORDER[self._view_index % len(VIEW_ORDER)]
        self._view_index += 1
        self.window.docks[title].raise_()

    def _finish(self, finished: PipelineFinished, ran: bool) -> None:
        self._views.stop()
        self.meter.stop()
        worst, p99 = self.meter.summary()
        run_s = time.monotonic() - self._run_started if ran else 0.0
        print(f"ui stall: max {worst:.0f} ms, p99 {p99:.0f} ms", file=self.out, flush=True)
        print(f"run: {run_s:.1f} s", file=self.out, flush=True)
        if finished.exit_code and not ran:
            failure = self.window.run_model.failure
            if failure is not None:
                print(f"error: {failure.message}", file=sys.stderr, flush=True)
        self._quit(finished.exit_code)

    def _quit(self, code: int) -> None:
        self.exit_code = code
        self._phase = "done"
        QTimer.singleShot(0, self.window.close)
        from PySide6.QtWidgets import QApplication

        QTimer.singleShot(0, lambda: QApplication.instance().exit(code))
