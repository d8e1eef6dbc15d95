"""A QWebEnginePage whose console messages stay out of Qt's log.

Model Explorer's web app logs to the browser console (its d3 code reports SVG transforms of a pane
that has no size yet, as errors). Those are the web app's own messages, not the app's warnings:
they are kept in a bounded list (shown to tests and bug reports) and in the debug log.
"""

from __future__ import annotations

import logging
from collections import deque

_log = logging.getLogger(__name__)
_PAGE_CLASS = None


def quiet_page(console: deque[str], parent=None):
    """A new quiet page whose console messages go to ``console`` (QtWebEngine imported on first use)."""
    global _PAGE_CLASS
    if _PAGE_CLASS is None:
        from PySide6.QtWebEngineCore import QWebEnginePage

        class QuietPage(QWebEnginePage):
            def __init__(self, console: deque[str], parent=None):
                super().__init__(parent)
                self._console = console

            def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802 (Qt's name)
                text = f"{getattr(level, 'name', level)}: {message} ({source}:{line})"
                self._console.append(text)
                _log.debug("web page console: %s", text)

        _PAGE_CLASS = QuietPage
    return _PAGE_CLASS(console, parent)
