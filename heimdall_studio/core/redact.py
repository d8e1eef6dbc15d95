"""Keeping credentials that sit inside URIs out of everything that leaves the process.

A tracking URI such as ``http://alice:s3cret@mlflow:5000`` carries its password in
plain sight; MLflow, requests and boto3 repeat such URIs in their exceptions and
logs. :func:`mask_credentials` hides the password part of every URI in a text (the
user name stays, so a person can still tell which account was used).
:func:`install_log_masking` applies it to every log record the process makes, and
turns off logging's own tracebacks for broken library log calls.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

# scheme://user:password@ — the password runs to the last "@" before the path, so a
# password with a literal "@" in it is hidden whole.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*):(?P<password>[^\s/'\"<>]+)@")


def mask_credentials(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URI replaced by ``***``."""
    if not text or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def mask_all(value: Any) -> Any:
    """``mask_credentials`` over every string in a JSON-like value (dicts, lists, tuples)."""
    if isinstance(value, str):
        return mask_credentials(value)
    if isinstance(value, dict):
        return {mask_all(k) if isinstance(k, str) else k: mask_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_all(v) for v in value)
    return value


def install_log_masking(debug: bool = False) -> None:
    """Mask URI credentials in every log record from now on (idempotent).

    Unless ``debug``, a library log call that cannot be formatted is dropped quietly
    instead of printing logging's "--- Logging error ---" traceback to the user.
    """
    logging.raiseExceptions = debug
    previous = logging.getLogRecordFactory()
    if getattr(previous, "heimdall_masking", False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler (and raiseExceptions)
            return record
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return record

    masking_factory.heimdall_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)
