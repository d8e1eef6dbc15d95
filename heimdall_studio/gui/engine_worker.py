"""One pipeline run in the engine child process, seen from the UI thread as Qt signals.

A superqt generator worker iterates the engine client's blocking ``events()`` on the
global thread pool and yields each event; the UI thread only receives ``event`` and
``finished`` signals. Cancel is thread-safe and never blocks the UI thread: the client
asks the engine politely, then terminates it after its grace period, and the event
stream still ends with a ``PipelineFinished``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from heimdall_studio.core.events import PipelineFinished
from heimdall_studio.engine.client import EngineClient
from heimdall_studio.engine.request import PipelineRequest


class EngineRun(QObject):
    """Run ``request`` in the engine; emits ``event(obj)`` per event, then ``finished(PipelineFinished)``."""

    event = Signal(object)
    finished = Signal(object)

    def __init__(self, request: PipelineRequest, parent: QObject | None = None):
        super().__init__(parent)
        self.request = request
        self._client = None  # the EngineClient, once the worker thread made it
        self._lock = threading.Lock()
        self._cancel_requested = False
        self._worker = None
        self.result: PipelineFinished | None = None
        self.cancel_requested_at: float | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None and self.result is None

    def start(self) -> None:
        self._worker = create_worker(self._read_events, _start_thread=False, _ignore_errors=True)
        self._worker.yielded.connect(self._on_event)
        self._worker.errored.connect(self._on_reader_error)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.start()

    def cancel(self) -> None:
        """Ask the engine to stop; safe to call any number of times, from any thread."""
        with self._lock:
            if self._cancel_requested:
                return
            self._cancel_requested = True
            client = self._client
        if client is not None:
            client.cancel()  # returns at once: the client escalates on a thread of its own

    def _read_events(self) -> Iterator[object]:
        client = EngineClient(self.request)
        with self._lock:
            self._client = client
            cancel_now = self._cancel_requested
        client.start()
        if cancel_now:
            client.cancel()
        try:
            yield from client.events()
        finally:
            client.close()

    def _on_event(self, event: object) -> None:
        if isinstance(event, PipelineFinished):
            self.result = event
        self.event.emit(event)

    def _on_reader_error(self, exc: BaseException) -> None:
        if self.result is None:
            self.result = PipelineFinished(status="failed", exit_code=1, report={
                "error": {"kind": "engine_crashed", "message": f"Lost contact with the engine: {exc}"}})
            self.event.emit(self.result)

    def _on_worker_finished(self) -> None:
        if self.result is None:  # the stream ended without its final event
            self.result = PipelineFinished(status="cancelled" if self._cancel_requested else "failed",
                                           exit_code=130 if self._cancel_requested else 1)
            self.event.emit(self.result)
        self._worker = None
        self.finished.emit(self.result)
