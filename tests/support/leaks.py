"""Bookkeeping for the leak guard: long-lived service processes started by session
fixtures (mlflow server, the S3 endpoint) are registered here and not counted as leaks."""

from __future__ import annotations

import time

import psutil

_services: set[int] = set()


def register_service(pid: int) -> None:
    _services.add(pid)
    try:
        for child in psutil.Process(pid).children(recursive=True):
            _services.add(child.pid)
    except psutil.NoSuchProcess:
        pass


# Qt's own renderer processes live as long as the QApplication's web profile; they are
# not ours to stop per test.
_IGNORED_NAMES = ("QtWebEngineProcess",)


def _is_service(proc: psutil.Process) -> bool:
    if proc.pid in _services:
        return True
    try:
        if proc.name().startswith(_IGNORED_NAMES):
            return True
    except psutil.NoSuchProcess:
        return True
    try:
        return any(parent.pid in _services for parent in proc.parents())
    except psutil.NoSuchProcess:
        return True


def leftover_children(before: set[int], grace_s: float = 3.0) -> list[psutil.Process]:
    """Children that appeared during the test and are still alive after ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = [
            p
            for p in psutil.Process().children(recursive=True)
            if p.pid not in before and not _is_service(p) and _alive(p)
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:200]
    except psutil.Error:
        return "?"
