"""One pipeline run in the engine child process, seen from the UI thread as Qt signals.

A thread reads the engine client's blocking ``events()`` into a queue; a superqt generator
worker on the global thread pool drains that queue and yields the events in batches, at
most one batch every ``COALESCE_S``. The UI thread so receives a handful of ``events``
signals a second however chatty the engine is, then one ``finished``. Cancel is
thread-safe and never blocks the UI thread: the client asks the engine politely, then
terminates it after its grace period, and the event stream still ends with a
``PipelineFinished``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

from heimdall_studio.core.events import PipelineFinished
from heimdall_studio.engine.client import EngineClient
from heimdall_studio.engine.request import PipelineRequest

ENGINE_NICE = 5  # the engine yields the CPU to the window's UI thread (stalls); the window itself uses little
COALESCE_S = 0.05  # the UI thread hears from the engine at most 20 times a second
_END = object()


class _ReaderFailed:
    def __init__(self, exc: BaseException):
        self.exc = exc


class EngineRun(QObject):
    """Run ``request`` in the engine; emits ``events(list)`` per batch, then ``finished(PipelineFinished)``."""

    events = Signal(list)
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
        self._worker.yielded.connect(self._on_events)
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

    def _read_events(self) -> Iterator[list[object]]:
        client = EngineClient(self.request, nice=ENGINE_NICE)
        with self._lock:
            self._client = client
            cancel_now = self._cancel_requested
        client.start()
        if cancel_now:
            client.cancel()
        inbox: queue.SimpleQueue = queue.SimpleQueue()

        def pump() -> None:
            try:
                for event in client.events():
                    inbox.put(event)
            except BaseException as exc:  # reported as a lost engine, never raised on a bare thread
                inbox.put(_ReaderFailed(exc))
            finally:
                inbox.put(_END)

        reader = threading.Thread(target=pump, name="heimdall-engine-events", daemon=True)
        reader.start()
        try:
            yield from _coalesce(inbox)
        finally:
            client.close()
            reader.join(timeout=5.0)

    def _on_events(self, batch: list[object]) -> None:
        for event in batch:
            if isinstance(event, PipelineFinished):
                self.result = event
        self.events.emit(batch)

    def _on_reader_error(self, exc: BaseException) -> None:
        if self.result is None:
            self.result = PipelineFinished(
                status="failed",
                exit_code=1,
                report={"error": {"kind": "engine_crashed", "message": f"Lost contact with the engine: {exc}"}},
            )
            self.events.emit([self.result])

    def _on_worker_finished(self) -> None:
        if self.result is None:  # the stream ended without its final event
            self.result = PipelineFinished(
                status="cancelled" if self._cancel_requested else "failed",
                exit_code=130 if self._cancel_requested else 1,
            )
            self.events.emit([self.result])
        self._worker = None
        self.finished.emit(self.result)


def _coalesce(inbox: queue.SimpleQueue) -> Iterator[list[object]]:
    """Batches of what arrives in ``inbox``: the first event waits at most ``COALESCE_S`` for company."""
    batch: list[object] = []
    deadline = 0.0
    while True:
        timeout = max(0.0, deadline - time.monotonic()) if batch else None
        try:
            item = inbox.get(timeout=timeout)
        except queue.Empty:
            yield batch
            batch = []
            continue
        if item is _END:
            break
        if isinstance(item, _ReaderFailed):
            if batch:
                yield batch
            raise item.exc
        if not batch:
            deadline = time.monotonic() + COALESCE_S
        batch.append(item)
    if batch:
        yield batch
