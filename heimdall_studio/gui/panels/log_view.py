"""The Log pane: the engine's log lines and the window's own messages, newest last."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout, QWidget

from heimdall_studio.gui.run_model import LOG_LINES, LogBook


class LogView(QWidget):
    """Appends what reached the window's log book since the last look, five times a second."""

    def __init__(self, logbook: LogBook, parent: QWidget | None = None):
        super().__init__(parent)
        self.logbook = logbook
        self._seen = 0
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setMaximumBlockCount(LOG_LINES)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text)
        self._timer = QTimer(self, interval=200)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def refresh(self) -> None:
        lines = self.logbook.since(self._seen)
        self._seen = self.logbook.count
        if lines:
            self.text.appendPlainText("\n".join(lines))

    def plain_text(self) -> str:
        self.refresh()
        return self.text.toPlainText()
