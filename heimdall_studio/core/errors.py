"""Errors that reach a user: what happened, why, and what to do.

Every failure the pipeline expects is a :class:`HeimdallError` with a ``kind``; the
kind decides the CLI exit code and how the GUI shows it. Anything else is a bug
and is reported as ``internal``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from heimdall_studio.core.redact import mask_credentials


class ErrorKind(str, Enum):
    BAD_INPUT = "bad_input"  # the user's file, option or spec is wrong → exit 2
    GATE_FAILED = "gate_failed"  # validation or parity did not pass → exit 1
    SERVICE = "service"  # S3 / MLflow / network failed → exit 3
    CANCELLED = "cancelled"  # the user asked to stop → exit 130
    ENGINE_CRASHED = "engine_crashed"  # the child process died (segfault, OOM kill) → exit 1
    INTERNAL = "internal"  # a bug in Heimdall Studio → exit 1


EXIT_CODES: dict[ErrorKind, int] = {
    ErrorKind.BAD_INPUT: 2,
    ErrorKind.GATE_FAILED: 1,
    ErrorKind.SERVICE: 3,
    ErrorKind.CANCELLED: 130,
    ErrorKind.ENGINE_CRASHED: 1,
    ErrorKind.INTERNAL: 1,
}


class HeimdallError(Exception):
    """A failure with a message for people and a hint on what to do next."""

    kind: ErrorKind = ErrorKind.INTERNAL
    # A step's result that is also a failure (validation of a file ONNX Runtime cannot run): the
    # pipeline still records it in the report.
    result: Any = None

    def __init__(self, message: str, hint: str = "", *, kind: ErrorKind | None = None):
        # A URI with a password in it (http://user:pw@host) must not reach a person or a log.
        message, hint = mask_credentials(message), mask_credentials(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint
        if kind is not None:
            self.kind = kind

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class BadInputError(HeimdallError):
    kind = ErrorKind.BAD_INPUT


class GateFailedError(HeimdallError):
    kind = ErrorKind.GATE_FAILED


class ServiceError(HeimdallError):
    kind = ErrorKind.SERVICE


class CancelledError(HeimdallError):
    kind = ErrorKind.CANCELLED

    def __init__(self, message: str = "Cancelled by the user.", hint: str = ""):
        super().__init__(message, hint)
