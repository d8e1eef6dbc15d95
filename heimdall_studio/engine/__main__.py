"""The engine child process: ``python -m heimdall_studio.engine``.

Protocol (all UTF-8 JSON lines):
- stdin, first line: a PipelineRequest as JSON. Later lines: ``cancel``.
- stdout: one event per line (core.events.to_json_dict), the last one a
  ``pipeline_finished``. Nothing else is ever written to stdout: the real
  stdout is kept for the protocol and fd 1 is pointed at stderr, so prints and
  native-library chatter go to stderr.
SIGTERM and SIGINT cancel politely (the current step stops at its next check).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import CancelledError
from heimdall_studio.core.events import to_json_dict
from heimdall_studio.core.redact import install_log_masking
from heimdall_studio.core.sources_state import forget_working_directory
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest


def _protocol_stream() -> TextIO:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def _watch_stdin(cancel: CancelToken) -> None:
    for line in sys.stdin:
        if line.strip() == "cancel":
            cancel.cancel()
    # stdin closed: the parent is gone or done with us.
    cancel.cancel()


def _lower_priority() -> None:
    """The app asks for a lower scheduling priority (``HEIMDALL_ENGINE_NICE``): when its UI thread wakes,
    it gets a core at once instead of waiting for the runtimes' threads to yield one."""
    try:
        increment = int(os.environ.get("HEIMDALL_ENGINE_NICE", "0"))
        if increment > 0 and hasattr(os, "nice"):
            os.nice(increment)
    except (ValueError, OSError):
        pass  # a priority is a wish, not a requirement


def main() -> int:
    _lower_priority()
    protocol = _protocol_stream()
    install_log_masking()
    request = PipelineRequest.from_json(sys.stdin.readline())
    cancel = CancelToken()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        cancel.cancel()
        if signum == signal.SIGTERM:
            # Raised in the main thread between bytecodes: unwinds a long export so
            # its cleanup runs (temp files removed) before the parent kills us.
            raise CancelledError("Cancelled while a step was busy.")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True, name="stdin-watch").start()
    exit_code = 1
    for event in run_pipeline(request, cancel):
        protocol.write(json.dumps(to_json_dict(event), allow_nan=False) + "\n")
        exit_code = getattr(event, "exit_code", exit_code)
    protocol.flush()
    return exit_code


if __name__ == "__main__":
    forget_working_directory()
    sys.exit(main())
