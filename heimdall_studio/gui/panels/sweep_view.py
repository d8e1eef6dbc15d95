"""Sweep: the pipeline over many sources (files, or every checkpoint of a training run's folder),
one after another in the engine, with the Options form's settings; the table fills in as each
source finishes, and the sweep writes one report per source plus summary.json and summary.csv
(the same files as ``heimdall-studio sweep``). A source that fails does not stop the sweep.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.core.events import PipelineFinished, StepStarted
from heimdall_studio.engine.request import PipelineRequest
from heimdall_studio.gui.widgets import ReadOnlyTable, fit_columns, format_bytes, pass_fail_item

HEADERS = ["Source", "Status", "Parity max |err|", "Parity", "Size", "ORT p50 ms (CPU, first batch)",
           "× PyTorch", "Seconds", "Report, or why it failed"]  # fmt: skip
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".pt2", ".onnx")


def checkpoints_in(folder: Path) -> list[str]:
    """The model files directly in ``folder`` (a training run's epochs), sorted by name."""
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)


def first_cpu_figures(row: dict[str, Any]) -> tuple[float | None, float | None]:
    """(ONNX Runtime's p50 on the CPU at the first batch size, its speed-up over PyTorch there)."""
    keys = [k for k in row["p50_ms"] if k.startswith("onnxruntime/cpu/b")]
    keys.sort(key=lambda k: int(k.rsplit("b", 1)[1]))
    if not keys:
        return None, None
    batch = keys[0].rsplit("b", 1)[1]
    return float(row["p50_ms"][keys[0]]), (row.get("speedup") or {}).get("cpu", {}).get(batch)


class SweepView(QWidget):
    """``request_for(source)`` builds a source's request from the window's forms (BadInputError
    for bad form input); ``finished_sweep(rows)`` is emitted when the last source is done."""

    finished_sweep = Signal(list)
    running_changed = Signal(bool)

    def __init__(self, request_for: Callable[[str], PipelineRequest], parent: QWidget | None = None):
        super().__init__(parent)
        self.request_for = request_for
        self.sources: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.report_dir = Path()
        self.run = None  # the EngineRun of the source in progress
        self._index = -1
        self._started = 0.0
        self._cancelled = False
        self.add_button = QPushButton("Add files…")
        self.add_button.setToolTip("Add checkpoints or .onnx files to the sweep")
        self.add_button.clicked.connect(self.choose_files)
        self.folder_button = QPushButton("Add a folder's checkpoints…")
        self.folder_button.setToolTip("Every .pt/.pth/.ckpt/.pt2/.onnx file in a folder, e.g. a training run's epochs")
        self.folder_button.clicked.connect(self.choose_folder)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setToolTip("Run the pipeline with the Options form's settings on every source, in turn")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Add sources, then Run sweep.", wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = ReadOnlyTable(HEADERS)
        self.table.setToolTip("One row per source; a finished row links its report")
        fit_columns(self.table, stretch=0)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.folder_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self._set_running(False)

    # -- sources ------------------------------------------------------------------------------------
    def add_sources(self, sources: list[str]) -> None:
        if self.running:
            return
        self.sources += [s for s in sources if s not in self.sources]
        self.rows = []
        self._fill()

    def choose_files(self) -> None:
        from heimdall_studio.gui.panels.source_panel import OPEN_FILTER

        paths, _ = QFileDialog.getOpenFileNames(self, "Add models to the sweep", "", OPEN_FILTER)
        self.add_sources(paths)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add every checkpoint of a folder")
        if folder:
            found = checkpoints_in(Path(folder))
            self.add_sources(found)
            if not found:
                self.status.setText(f"No model files in {folder}.")

    def clear(self) -> None:
        if not self.running:
            self.sources, self.rows = [], []
            self._fill()
            self.status.setText("Add sources, then Run sweep.")

    # -- running ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run is not None

    def start(self) -> None:
        from heimdall_studio.core.errors import HeimdallError
        from heimdall_studio.engine.sweep import report_name
        from heimdall_studio.integrations.settings import data_dir

        if self.running or not self.sources:
            return
        try:
            self.request_for(self.sources[0])  # the form's input is checked before anything runs
        except HeimdallError as err:
            self.status.setText(f"{err.message} {err.hint}".strip())
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.report_dir = data_dir() / "sweeps" / stamp
        self.report_dir.mkdir(parents=True, exist_ok=True)
        self._names = [report_name(i, s) for i, s in enumerate(self.sources)]
        self.rows, self._index, self._cancelled = [], -1, False
        self._fill()
        self._set_running(True)
        self._next()

    def cancel(self) -> None:
        self._cancelled = True
        if self.run is not None:
            self.run.cancel()

    def stop_and_wait(self, timeout_ms: int = 10000) -> None:
        """Cancel the sweep and wait for the source in progress to stop (closing the window)."""
        if self.run is None:
            return
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        self.run.finished.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.cancel()
        loop.exec()

    def _next(self) -> None:
        from heimdall_studio.gui.engine_worker import EngineRun

        self._index += 1
        if self._index >= len(self.sources) or self._cancelled:
            self._done()
            return
        source, name = self.sources[self._index], self._names[self._index]
        try:
            request = self.request_for(source)
        except Exception as exc:  # a source the form cannot describe: its row says why
            self._record(source, {"status": "failed", "errors": [str(exc)]}, 2, 0.0, Path())
            self._next()
            return
        report = self.report_dir / f"{name}.report.json"
        request = dataclasses.replace(request, out_dir=str(self.report_dir / name), report_path=str(report))
        self._started = time.monotonic()
        self._set_cell(self._index, 1, "running")
        self.run = EngineRun(request, self)
        self.run.events.connect(self._on_events)
        self.run.finished.connect(self._on_finished)
        self.run.start()

    def _on_events(self, batch: list[object]) -> None:
        for event in batch:
            if isinstance(event, StepStarted):
                self._set_cell(self._index, 1, f"running: {event.step}")

    def _on_finished(self, finished: PipelineFinished) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.deleteLater()
        source = self.sources[self._index]
        report_path = self.report_dir / f"{self._names[self._index]}.report.json"
        report = dict(finished.report or {})
        report.setdefault("status", finished.status)
        self._record(source, report, finished.exit_code, time.monotonic() - self._started, report_path)
        self._next()

    def _record(self, source: str, report: dict[str, Any], exit_code: int, seconds: float, path: Path) -> None:
        from heimdall_studio.engine.sweep import summary_row

        row = summary_row(source, report, exit_code, seconds, path)
        errors = report.get("errors") or []
        row["error"] = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        self.rows.append(row)
        self._fill()

    def _done(self) -> None:
        from heimdall_studio.engine.sweep import worst_exit, write_summary

        self._set_running(False)
        if self.rows:
            json_path, _ = write_summary(self.rows, self.report_dir)
            passed = sum(1 for r in self.rows if r["passed"])
            state = "cancelled" if self._cancelled else "finished"
            self.status.setText(
                f"Sweep {state}: {passed} of {len(self.rows)} passed (exit code {worst_exit(self.rows)}). "
                f"Summary: {json_path} and summary.csv beside it."
            )
        self.finished_sweep.emit(list(self.rows))

    # -- the table ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        from PySide6.QtWidgets import QTableWidgetItem

        from heimdall_studio.gui.panels.source_panel import display_name

        table_rows = []
        for i, source in enumerate(self.sources):
            name = QTableWidgetItem(display_name(source))
            name.setToolTip(source)
            if i >= len(self.rows):
                table_rows.append([name, "waiting", "", "", "", "", "", "", ""])
                continue
            row = self.rows[i]
            p50, speedup = first_cpu_figures(row)
            compared = row["parity_max_error"] is not None
            failed = row["status"] not in ("passed", "gate_failed")
            where = row.get("error") if failed and row.get("error") else row["report"]
            table_rows.append(
                [
                    name,
                    row["status"] or "failed",
                    row["parity_max_error"],
                    pass_fail_item(row["passed"] if compared else None),
                    format_bytes(row["size_bytes"]),
                    p50,
                    f"{speedup:.2f}×" if speedup else "",
                    row["seconds"],
                    where,
                ]  # fmt: skip
            )
        self.table.set_rows(table_rows)

    def _set_cell(self, row: int, column: int, text: str) -> None:
        item = self.table.item(row, column)
        if item is not None:
            item.setText(text)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for button in (self.add_button, self.folder_button, self.clear_button):
            button.setEnabled(not running)
        if running:
            self.status.setText(f"Running {len(self.sources)} sources one after another… reports in {self.report_dir}")
        self.running_changed.emit(running)
