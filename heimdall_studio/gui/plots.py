"""pyqtgraph set-up shared by the live plots, imported only after the window is shown."""

from __future__ import annotations

LIBRARY_OWNED = "heimdall_library_owned"


def make_plot(title: str, x_label: str, y_label: str, log_y: bool = False, clip: bool = True):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from heimdall_studio.gui.theme import plot_colors

    background, foreground = plot_colors()
    before = {id(w) for w in QApplication.topLevelWidgets()}
    widget = pg.PlotWidget(background=background)
    item = widget.getPlotItem()
    item.setTitle(title, color=foreground)
    for axis, label in (("bottom", x_label), ("left", y_label)):
        item.setLabel(axis, label, color=foreground)
        item.getAxis(axis).setTextPen(foreground)
        item.getAxis(axis).setPen(foreground)
    item.showGrid(x=True, y=True, alpha=0.25)
    item.setLogMode(y=log_y)
    # "(x1e-06)" on a log axis reads as a second scale: label log axes in plain powers of ten.
    item.getAxis("left").enableAutoSIPrefix(not log_y)
    legend_fill = pg.mkColor(background)
    legend_fill.setAlpha(200)  # curves stay visible under the legend
    item.addLegend(offset=(-10, 10), labelTextColor=foreground, brush=pg.mkBrush(legend_fill))
    if clip:  # long line series only: step-mode (histogram) curves break when clipped
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
    widget.setMinimumHeight(160)
    # pyqtgraph builds its context menus (and a scratch QWidget) without a parent and leaves them
    # to Python's garbage collector; deleting them ourselves crashes PySide. Mark them as the
    # library's so leak checks can tell them from ours.
    for stray in QApplication.topLevelWidgets():
        if id(stray) not in before:
            stray.setProperty(LIBRARY_OWNED, True)
    return widget


def pen(color: str, width: float = 1.5, dashed: bool = False):
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    return pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
