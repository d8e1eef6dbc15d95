"""pyqtgraph set-up shared by the plots, imported only after the window is shown.

``make_plot`` builds a themed plot; ``PlotFrame`` wraps one with an *Enlarge* button (the plot
moves into its own window until that window is closed) and an *Export* menu (PNG or SVG through
pyqtgraph's exporters, legend included).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

LIBRARY_OWNED = "heimdall_library_owned"


def make_plot(title: str, x_label: str, y_label: str, log_y: bool = False, clip: bool = True, log_x: bool = False):
    """A themed PlotWidget whose legend sits below the axes (it never covers data; it lists every
    series, in as many columns as fit the width).

    ``clip`` (clip to view, peak downsampling) is for long line series only: step-mode
    (histogram) curves and bar items must never be clipped or downsampled.
    """
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from heimdall_studio.gui.theme import plot_colors

    background, foreground = plot_colors()
    before = QApplication.topLevelWidgets()  # the objects, not their ids: a freed widget's id is reused
    widget = pg.PlotWidget(
        background=background, axisItems={side: _decade_axis_class()(side) for side in ("left", "bottom")}
    )
    item = widget.getPlotItem()
    item.setTitle(title, color=foreground, size="10pt")
    for axis, label in (("bottom", x_label), ("left", y_label)):
        item.setLabel(axis, label, color=foreground)
        item.getAxis(axis).setTextPen(foreground)
        item.getAxis(axis).setPen(foreground)
    item.showGrid(x=True, y=True, alpha=0.25)
    set_log_mode(item, x=log_x, y=log_y)
    _legend_below(item, foreground)
    if clip:
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
    widget.setMinimumHeight(160)
    # pyqtgraph builds its context menus (and a scratch QWidget) without a parent and leaves them
    # to Python's garbage collector; deleting them ourselves crashes PySide. Mark them as the
    # library's so leak checks can tell them from ours.
    for stray in QApplication.topLevelWidgets():
        if not any(stray is old for old in before):
            stray.setProperty(LIBRARY_OWNED, True)
    return widget


def _legend_below(item, foreground: str):
    """A legend in its own row of the plot's layout, under the x axis: outside the data area, and
    part of what the exporters draw."""
    import pyqtgraph as pg

    holder = pg.GraphicsWidget()
    item.layout.addItem(holder, 4, 1)
    legend = _outside_legend_class()(holder, labelTextColor=foreground, verSpacing=-6, horSpacing=12, colCount=1)
    legend.setParentItem(holder)
    item.legend = legend  # PlotItem.addItem lists named items here
    return legend


_OUTSIDE_LEGEND = None


def _outside_legend_class():
    global _OUTSIDE_LEGEND
    if _OUTSIDE_LEGEND is None:
        import pyqtgraph as pg
        from shiboken6 import isValid

        class OutsideLegend(pg.LegendItem):
            """A legend that fills its holder's width with columns and makes the holder as tall as it."""

            def __init__(self, holder, **opts):
                super().__init__(offset=None, **opts)
                self.holder = holder
                holder.geometryChanged.connect(self.fit)

            def fit(self) -> None:
                if not (isValid(self) and isValid(self.holder)):  # the plot is being destroyed
                    return
                width = self.holder.size().width()
                entries = [
                    sample.boundingRect().width() + label.item.boundingRect().width() + 24
                    for sample, label in self.items
                ]
                columns = len(entries) or 1
                while columns > 1 and width > 0 and _row_width(entries, columns) + 20 > width:  # + margins
                    columns -= 1
                self.setColumnCount(columns)

            def updateSize(self) -> None:  # noqa: N802 (pyqtgraph's name)
                super().updateSize()
                holder = getattr(self, "holder", None)
                if holder is None:
                    return
                height = self.height() + 2 if self.items else 0
                if abs(holder.minimumHeight() - height) > 0.5:
                    holder.setMinimumHeight(height)
                    holder.setMaximumHeight(height)

            def addItem(self, item, name) -> None:  # noqa: N802
                super().addItem(item, name)
                _, label = self.items[-1]
                label.setMaximumWidth(label.item.boundingRect().width() + 4)  # no stretching: columns pack
                self.fit()

            def removeItem(self, item) -> None:  # noqa: N802
                super().removeItem(item)
                self.fit()

        _OUTSIDE_LEGEND = OutsideLegend
    return _OUTSIDE_LEGEND


def _row_width(entries: list[float], columns: int) -> float:
    """The width of a legend laid out in ``columns`` (entries fill rows left to right)."""
    widest = [max(entries[c::columns]) for c in range(columns)]
    return sum(widest)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_DECADE_AXIS = None


def decade_label(exponent: int) -> str:
    """10 to the ``exponent`` as a plain power of ten: "10⁻⁴"."""
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def _decade_axis_class():
    """An AxisItem that labels a log axis at powers of ten only (plus 2 and 5 within one decade),
    never a crowd of 0.2 0.3 … 0.9 between them."""
    global _DECADE_AXIS
    if _DECADE_AXIS is None:
        import pyqtgraph as pg

        class DecadeAxis(pg.AxisItem):
            integer = False  # whole numbers only (batch indices): no 0.5 ticks when zoomed in

            def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
                levels = super().tickSpacing(minVal, maxVal, size)
                if self.integer and not self.logMode:
                    levels = [(s, o) for s, o in levels if s >= 1 and float(s).is_integer()] or [(1.0, 0.0)]
                return levels

            def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph's name)
                if not self.logMode:
                    return super().tickStrings(values, scale, spacing)
                low, high = self.range
                decades = sum(1 for v in values if abs(v - round(v)) < 1e-6)
                labels = []
                for v in values:
                    if abs(v - round(v)) < 1e-6:
                        labels.append(decade_label(int(round(v))))
                    elif high - low < 1.5 and decades < 2 and round(10 ** (v % 1), 6) in (2.0, 5.0):
                        labels.append(f"{10**v:g}")
                    else:
                        labels.append("")
                return labels

        _DECADE_AXIS = DecadeAxis
    return _DECADE_AXIS


def set_log_mode(item, x: bool | None = None, y: bool | None = None) -> None:
    """Log axes labelled in plain powers of ten (an SI prefix like "(x1e-06)" reads as a second scale)."""
    x = bool(item.getAxis("bottom").logMode) if x is None else x
    y = bool(item.getAxis("left").logMode) if y is None else y
    item.setLogMode(x=x, y=y)
    item.getAxis("bottom").enableAutoSIPrefix(not x)
    item.getAxis("left").enableAutoSIPrefix(not y)


def legend_names(widget) -> list[str]:
    """The names a plot's legend lists, in order."""
    legend = widget.getPlotItem().legend
    return [label.text for _, label in legend.items] if legend is not None else []


def pen(color: str, width: float = 1.5, dashed: bool = False, style=None):
    import pyqtgraph as pg

    if style is None:
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(color, width=width, style=style)


def export_plot(widget, path: Path | str) -> Path:
    """Write the plot (axes, title and legend) to ``path``: SVG for .svg, else a PNG-like image."""
    import pyqtgraph.exporters as exporters

    path = Path(path)
    item = widget.getPlotItem()
    if path.suffix.lower() == ".svg":
        try:
            exporters.SVGExporter(item).export(str(path))
        except ValueError:  # pyqtgraph 0.14 cannot parse the closed paths ("… Z") Qt 6.11 writes (#3495)
            _svg_by_qt(widget, path)
    else:
        exporter = exporters.ImageExporter(item)
        width = max(int(item.sceneBoundingRect().width()), 1)
        exporter.parameters()["width"] = max(width, 1200)  # a crisp image even from a small plot
        exporter.export(str(path))
    if not path.is_file():  # Qt's image writer fails without an exception
        raise OSError(f"nothing was written to {path}")
    return path


def _svg_by_qt(widget, path: Path) -> None:
    """The plot drawn straight into Qt's SVG generator, on the plot's own background."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    item = widget.getPlotItem()
    source = item.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(source.size().toSize())
    generator.setViewBox(target)
    generator.setTitle(item.titleLabel.text or "plot")
    painter = QPainter(generator)
    try:
        painter.fillRect(target, widget.backgroundBrush())
        item.scene().render(painter, target, source)
    finally:
        painter.end()
    if not path.is_file():
        raise OSError(f"Qt could not write {path}")


class PlotFrame(QWidget):
    """A plot with *Enlarge* (its own window while that is open) and *Export* (PNG/SVG) buttons."""

    def __init__(self, plot, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot
        self.name = name  # the window title and the default file name of an export
        self.dialog: QDialog | None = None
        self._away = QLabel("Shown in its own window: close that window to bring the plot back here.")
        self._away.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._away.hide()
        self.enlarge_button = QToolButton(text="Enlarge", autoRaise=True)
        self.enlarge_button.setToolTip("Open this plot in its own window (close the window to put it back)")
        self.enlarge_button.clicked.connect(self.enlarge)
        self.export_button = QToolButton(text="Export", autoRaise=True)
        self.export_button.setToolTip("Save this plot as a PNG image or an SVG drawing")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("PNG image…", lambda: self._export_as("png"))
        menu.addAction("SVG drawing…", lambda: self._export_as("svg"))
        self.export_button.setMenu(menu)
        self._header = QHBoxLayout()
        self._header.setContentsMargins(0, 0, 0, 0)
        self._header.addStretch(1)
        self._header.addWidget(self.enlarge_button)
        self._header.addWidget(self.export_button)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._layout.addLayout(self._header)
        self._layout.addWidget(self.plot, 1)
        self._layout.addWidget(self._away, 1)

    def add_control(self, widget: QWidget) -> None:
        """A control for this plot (a checkbox), left of the buttons."""
        self._header.insertWidget(0, widget)

    def enlarge(self) -> QDialog:
        """Move the plot into its own resizable window; it comes back when the window closes."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        dialog = QDialog(self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowTitle(self.name)
        dialog.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        layout = QVBoxLayout(dialog)
        self._layout.removeWidget(self.plot)
        layout.addWidget(self.plot)
        self.plot.show()
        self._away.show()
        self.enlarge_button.setEnabled(False)
        dialog.finished.connect(self._bring_back)
        dialog.resize(1000, 650)
        self.dialog = dialog
        dialog.show()
        return dialog

    def _bring_back(self) -> None:
        if self.dialog is None:
            return
        self.dialog = None
        self._away.hide()
        self._layout.insertWidget(1, self.plot, 1)
        self.plot.show()
        self.enlarge_button.setEnabled(True)

    def export(self, path: Path | str) -> Path:
        return export_plot(self.plot, path)

    def _export_as(self, kind: str) -> None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)"}
        default = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name.lower()) + f".{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self.name}", default, filters[kind])
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            try:
                self.export(path)
            except OSError as exc:
                QMessageBox.warning(
                    self,
                    "Export failed",
                    f"Could not write {path} ({exc.strerror or exc}). "
                    "Choose a folder that exists and that you can write to.",
                )

    def close_window(self) -> None:
        """Close the plot's own window, if open (the plot comes back)."""
        if self.dialog is not None:
            self.dialog.close()
