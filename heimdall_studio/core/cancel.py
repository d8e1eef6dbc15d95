"""A cancel token that steps check between yields."""

from __future__ import annotations

import threading

from heimdall_studio.core.errors import CancelledError


class CancelToken:
    """Set from anywhere (a signal handler, a reader thread); read by steps.

    Steps call :meth:`raise_if_cancelled` between units of work. A single long
    call (one ``torch.onnx.export``) cannot be interrupted from inside; the engine
    client terminates the child process for that case.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError()
