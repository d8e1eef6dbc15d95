"""The base of every view of the run model: render when something it shows changed, at its own rate.

A view names the sections of :class:`~heimdall_studio.gui.run_model.RunModel` it draws
(``sections``) and how often it may redraw (``interval_ms``). A timer compares the model's
revisions with those last drawn and calls ``render(model, changed)`` only for a change. Plots
set ``render_hidden = False``: a tab nobody looks at costs nothing, and it catches up the
moment it is shown. When the model starts a new run (its ``generation`` changes) the view's
``reset_view()`` runs first, so nothing from an earlier run stays on screen.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from heimdall_studio.gui.run_model import RunModel


class ModelView(QWidget):
    sections: tuple[str, ...] = ()
    interval_ms: int = 100
    render_hidden: bool = True

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: RunModel | None = None
        self._seen: dict[str, int] = {}
        self._generation = -1
        self._timer = QTimer(self)
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self.refresh)

    def bind(self, model: RunModel) -> None:
        """Draw ``model`` from now on."""
        self.model = model
        self._seen = {}
        self._generation = -1
        self._timer.start()
        self.refresh()

    def unbind(self) -> None:
        self._timer.stop()
        self.model = None

    def refresh(self) -> None:
        """Render now if the model changed since the last render (and the view may render)."""
        model = self.model
        if model is None or (not self.render_hidden and not self.isVisible()):
            return
        if model.generation != self._generation:
            self._generation = model.generation
            self._seen = {}
            self.reset_view()
        changed = {s for s in self.sections if model.revisions.get(s) != self._seen.get(s)}
        if not changed:
            return
        for section in changed:
            self._seen[section] = model.revisions[section]
        self.render(model, changed)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        QTimer.singleShot(0, self.refresh)

    # -- for subclasses -----------------------------------------------------------------------------
    def reset_view(self) -> None:
        """Forget what was drawn for an earlier run."""

    def render(self, model: RunModel, changed: set[str]) -> None:
        raise NotImplementedError
