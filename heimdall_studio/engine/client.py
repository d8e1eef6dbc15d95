"""EngineClient: run a pipeline in a child process and read its events (Qt-free).

The GUI iterates :meth:`EngineClient.events` on a worker thread; tests and
scripts can iterate it directly. A crash of the child (a segfault inside
torch, an OOM kill) arrives as a ``StepFailed(error_kind="engine_crashed")``
followed by a ``PipelineFinished``, never as a hang.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from heimdall_studio.core import events as ev
from heimdall_studio.core.errors import EXIT_CODES, ErrorKind
from heimdall_studio.core.redact import mask_credentials
from heimdall_studio.engine.request import PipelineRequest

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class EngineClient:
    """One pipeline run in one child process.

    ``start()`` launches it, ``events()`` yields core events until (and
    including) the PipelineFinished, ``cancel()`` asks politely and terminates
    the child after ``grace_s`` if it has not stopped; then kills it.
    """

    def __init__(self, request: PipelineRequest, *, grace_s: float = 2.0, python: str = sys.executable, nice: int = 0):
        self.request = request
        self.nice = nice  # added to the child's niceness: the app's UI thread wins the CPU when it wakes
        self.grace_s = grace_s
        self.python = python
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=60)
        self._stderr_thread: threading.Thread | None = None
        self._cancel_requested = threading.Event()
        self._lock = threading.Lock()
        self._current_step = ev.LOAD

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        if self.nice:
            env[NICE_VARIABLE] = str(self.nice)
        self._proc = subprocess.Popen(
            [self.python, "-m", "heimdall_studio.engine"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env,
        )
        self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True, name="engine-stderr")
        self._stderr_thread.start()
        assert self._proc.stdin is not None
        self._proc.stdin.write(self.request.to_json() + "\n")
        self._proc.stdin.flush()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def wait(self, timeout: float | None = None) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def cancel(self) -> None:
        """Ask the engine to stop; terminate it after the grace period. Thread-safe."""
        with self._lock:
            if self._cancel_requested.is_set() or not self.running:
                self._cancel_requested.set()
                return
            self._cancel_requested.set()
        try:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write("cancel\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):
            pass
        threading.Thread(target=self._escalate, daemon=True, name="engine-cancel").start()

    def close(self) -> None:
        """Stop the child if it still runs and release the pipes."""
        if self.running:
            self.cancel()
            if self.wait(self.grace_s + 3.0) is None and self._proc is not None:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None:
            for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass

    def __enter__(self) -> EngineClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events -------------------------------------------------------------
    def events(self) -> Iterator[ev.Event]:
        assert self._proc is not None and self._proc.stdout is not None, "call start() first"
        finished = False
        for line in self._proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = ev.from_json_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                self._stderr_tail.append(f"(unreadable engine output) {line[:200]}")
                continue
            if isinstance(event, ev.StepStarted):
                self._current_step = event.step
            yield event
            if isinstance(event, ev.PipelineFinished):
                finished = True
                break
        returncode = self._proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2.0)
        if not finished:
            yield from self._synthesise_end(returncode)

    def _synthesise_end(self, returncode: int) -> Iterator[ev.Event]:
        step = self._current_step
        if self._cancel_requested.is_set():
            kind = ErrorKind.CANCELLED
            message = f"Cancelled during {step}; the engine was stopped."
            yield ev.StepFailed(step, kind.value, message, "Nothing from the unfinished step was kept.")
            yield ev.PipelineFinished("cancelled", EXIT_CODES[kind], {"status": "cancelled"})
            return
        kind = ErrorKind.ENGINE_CRASHED
        message = f"The engine process died during {step} ({_describe_exit(returncode)})."
        hint = (
            "This is usually a crash inside torch or onnxruntime, or the machine ran out of "
            "memory. Run it again; if it repeats, try the other exporter or a smaller batch, "
            "and run `heimdall-studio run ... --debug` in a terminal to see more."
        )
        details = "\n".join(self._stderr_tail)
        yield ev.StepFailed(step, kind.value, message, hint, details)
        yield ev.PipelineFinished(
            "failed",
            EXIT_CODES[kind],
            {"status": "failed", "errors": [{"step": step, "kind": kind.value, "message": message}]},
        )

    # -- internals ----------------------------------------------------------
    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr_tail.append(mask_credentials(line.rstrip("\n")))  # shown in the app's details

    def _escalate(self) -> None:
        if self.wait(self.grace_s) is not None:
            return
        if self._proc is not None and self.running:
            self._proc.terminate()  # SIGTERM: the engine unwinds and cleans up
        if self.wait(2.0) is None and self._proc is not None and self.running:
            self._proc.kill()


NICE_VARIABLE = "HEIMDALL_ENGINE_NICE"


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
