"""The Explorer view: the exported graph in Google's Model Explorer, coloured by the run's numbers.

Model Explorer's web app is served from its wheel by a child process (``gui.explorer_server``) on
127.0.0.1 and shown in a QWebEngineView. After a run with per-node parity or op profiling, the
graph carries three overlays (relative error against the node rtol, share of time, execution
provider) and a legend; a table lists the measured nodes, the first divergence first. Selecting a
row selects and centres that node in the graph and shows its numbers; selecting a node in the
graph selects its row (Model Explorer writes the selection into its page URL). "Compare with…"
puts another .onnx file beside this one in synchronised panes. Nothing here blocks the UI thread:
the server starts in its own process and the page is loaded once the server answers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import webbrowser
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio.gui import graph_overlays as ov
from heimdall_studio.gui.model_view import ModelView
from heimdall_studio.gui.netron_view import _web_engine_view_class
from heimdall_studio.gui.panels.node_table import NodeTable
from heimdall_studio.gui.quiet_page import quiet_page
from heimdall_studio.gui.run_model import RunModel
from heimdall_studio.gui.session import ModelSession

SERVER_WAIT_MS = 60000
ECHO_S = 5.0  # a page's URL change this soon after we selected that node is our echo, not a click
# True once Model Explorer drew the graph: its WebGL canvas exists and has a size.
_GRAPH_DRAWN_JS = """
(function () {
  var canvases = Array.from(document.querySelectorAll('model-graph-visualizer canvas, canvas'));
  return canvases.some(function (c) { return c.width > 0 && c.height > 0; });
})();
"""
_WEBGL_JS = (
    "(function(){var c=document.createElement('canvas');return !!(c.getContext('webgl2')||c.getContext('webgl'));})();"
)


class ExplorerView(ModelView):
    sections = ("finished",)
    graph_loaded = Signal()  # the page drew the graph (WebGL canvas present)
    node_selected = Signal(str)  # a node was selected, in the table or in the graph

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.server = None  # gui.explorer_server.ExplorerProcess, started when the view is first shown
        self.web = None  # this export
        self.web2 = None  # the file compared with it, beside it
        self.model_path = ""
        self.compare_path = ""
        self.report: dict[str, Any] = {}
        self.selected = ""
        self._echoes: dict[str, float] = {}  # node → until when a URL change to it is our own selection
        self.loaded = False  # the page(s) drew the graph(s)
        self._drawn_pages: set[int] = set()
        self._overlay_paths: dict[str, str] = {}
        self._tmp: Path | None = None
        self._written = 0
        self.console: deque[str] = deque(maxlen=200)  # the page's console messages, newest last
        self._shown = False
        self._pending = False
        self._waited_ms = 0
        self._server_timer = QTimer(self, interval=100)
        self._server_timer.timeout.connect(self._poll_server)
        self._drawn_timer = QTimer(self, interval=250)
        self._drawn_timer.timeout.connect(self._poll_drawn)

        self.caption = QLabel("Run the pipeline to explore the exported graph.", wordWrap=True)
        self.legend = QLabel("")
        self.legend.setToolTip("What the colours of the graph's nodes mean")
        self.colour_by = QComboBox()
        self.colour_by.setToolTip("Colour the graph's nodes by relative error, share of time or execution provider")
        self.colour_by.currentIndexChanged.connect(self._colour_changed)
        self.colour_by.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.compare_button = QPushButton("Compare with…")
        self.compare_button.setToolTip("Show another .onnx file (another exporter or opset) beside this one")
        self.compare_button.clicked.connect(self.choose_compare)
        self.single_button = QPushButton("Single graph")
        self.single_button.setToolTip("Back to this export alone")
        self.single_button.clicked.connect(lambda: self.set_compare(""))
        self.browser_button = QPushButton("Open in browser")
        self.browser_button.setToolTip("Open this page in your web browser")
        self.browser_button.clicked.connect(lambda: webbrowser.open(self.url) if self.url else None)
        for button in (self.compare_button, self.single_button, self.browser_button):
            button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.compare_button)
        bar.addWidget(self.single_button)
        bar.addWidget(self.browser_button)

        self.nodes = NodeTable()
        self.nodes.chosen.connect(self.select_node)
        self.table, self.details = self.nodes.table, self.nodes.details  # for tests and readers
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.page_holder = QSplitter()  # one page, or two side by side
        self.splitter.addWidget(self.page_holder)
        self.splitter.addWidget(self.nodes)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.page_holder.setMinimumHeight(240)
        self.splitter.setSizes([3000, 1000])  # the graph on top takes most of the height
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        colours = QHBoxLayout()
        colours.addWidget(QLabel("Colour by"))
        colours.addWidget(self.colour_by)
        colours.addWidget(self.legend, 1)
        layout.addLayout(colours)
        layout.addWidget(self.splitter, 1)

    # -- the run model ------------------------------------------------------------------------------
    def reset_view(self) -> None:
        self.show_graph("", {})

    def render(self, model: RunModel, changed: set[str]) -> None:
        if model.finished is None or model.purpose not in ("pipeline", "load"):
            return
        path = ModelSession(source=model.source, run=model).onnx_path
        if path:
            self.show_graph(path, model.report if model.purpose == "pipeline" else {})

    # -- what is shown ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The page of this export, with the overlay chosen in "Colour by"."""
        if self.server is None or not self.server.base_url or not self.model_path:
            return ""
        shown = self._overlay_paths.get(self.colour_by.currentText())
        return ov.explorer_url(self.server.base_url, [self.model_path], [shown] if shown else [], self.selected)

    @property
    def compare_url(self) -> str:
        if self.server is None or not self.server.base_url or not self.compare_path:
            return ""
        return ov.explorer_url(self.server.base_url, [self.compare_path], [], self.selected)

    def pages(self) -> list:
        return [w for w in (self.web, self.web2 if self.compare_path else None) if w is not None]

    def show_graph(self, path: str, report: dict[str, Any]) -> None:
        """Show ``path`` with the overlays of ``report`` (loaded when the view is visible)."""
        self.model_path, self.report, self.compare_path = path, report or {}, ""
        self.selected = ov.first_divergence(self.report)
        self._write_overlays()
        self.colour_by.blockSignals(True)
        self.colour_by.clear()
        self.colour_by.addItems(list(self._overlay_paths))
        self.colour_by.setEnabled(bool(self._overlay_paths))
        self.colour_by.blockSignals(False)
        self.nodes.set_report(self.report, self.selected)
        self._fill_legend()
        for button in (self.compare_button, self.browser_button):
            button.setEnabled(bool(path))
        self.single_button.setEnabled(False)
        if not path:
            self.caption.setText("Run the pipeline to explore the exported graph.")
            self._blank()
            return
        self.caption.setText(f"{path}\n(loads when this tab is shown)")
        self._pending = True
        if self._shown:
            self._load()

    def set_compare(self, other: str) -> None:
        """Show ``other`` beside the current graph, panes synchronised by node id ("" = alone)."""
        if not self.model_path:
            return
        self.compare_path = other
        self.single_button.setEnabled(bool(other))
        self._pending = True
        if self._shown:
            self._load()

    def choose_compare(self) -> None:
        start = str(Path(self.model_path).parent) if self.model_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Compare with another ONNX file", start, "ONNX models (*.onnx)")
        if path:
            self.set_compare(path)

    def set_shown(self, shown: bool) -> None:
        """The view's tab became visible (connect a dock's ``visibilityChanged``)."""
        self._shown = shown
        if shown and self._pending:
            self._load()

    def select_node(self, node_id: str) -> None:
        """Select ``node_id`` in the table, the details pane and the graph (where it is centred)."""
        self.selected = node_id
        self.nodes.select(node_id)
        if self.loaded:  # in both graphs: the split view follows one selection, matched by node name
            # The pages answer with URL changes, late and in any order: ours are echoes, not clicks.
            self._echoes[node_id] = time.monotonic() + ECHO_S
            message = json.dumps({"cmd": "model-explorer-select-node-by-node-id", "nodeId": node_id})
            for web in self.pages():
                web.page().runJavaScript(f"window.postMessage({message}, '*');", 0, lambda _r: None)
        self.node_selected.emit(node_id)

    def run_js(self, script: str, callback, page: int = 0) -> None:
        """Run ``script`` in this export's page (``page=1``: the compared file's)."""
        web = self.web if page == 0 else self.web2
        if web is not None:
            web.page().runJavaScript(script, 0, callback)

    def webgl_available(self, callback) -> None:
        """Calls ``callback(bool)``: whether the page can get a WebGL context."""
        self.run_js(_WEBGL_JS, callback)

    def dispose(self) -> None:
        """Stop the server, delete the page and the overlay files (before the web profile goes)."""
        self._server_timer.stop()
        self._drawn_timer.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        for web in (self.web, self.web2):
            if web is not None:
                page = web.page()
                web.setParent(None)
                page.deleteLater()
                web.deleteLater()
        self.web = self.web2 = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.dispose()
        super().closeEvent(event)

    # -- loading ------------------------------------------------------------------------------------
    def _load(self) -> None:
        self._pending = False
        self.loaded = False
        if _web_engine_view_class() is None:
            self.caption.setText(f"{self.model_path}\nQtWebEngine is not installed: use “Open in browser”.")
            return
        if self.server is None:
            from heimdall_studio.gui.explorer_server import ExplorerProcess

            self.server = ExplorerProcess()
        if not self.server.running:
            self.server.start()
        self.caption.setText(f"{self.model_path}\nStarting Model Explorer…")
        self._waited_ms = 0
        self._server_timer.start()

    def _poll_server(self) -> None:
        if self.server is None:
            self._server_timer.stop()
            return
        self._waited_ms += self._server_timer.interval()
        if not self.server.ready():
            if not self.server.running or self._waited_ms > SERVER_WAIT_MS:
                self._server_timer.stop()
                self.caption.setText(
                    f"{self.model_path}\nModel Explorer's server did not start (exit code "
                    f"{self.server.exit_code()}). Check that ai-edge-model-explorer is installed; use Graph meanwhile."
                )
            return
        self._server_timer.stop()
        if self.web is None:
            self.web = self._new_page()
            self.web.loadFinished.connect(self._on_loaded)
        caption = self.model_path + (f"\nbeside {self.compare_path}" if self.compare_path else "")
        self.caption.setText(caption)
        self._drawn_pages = set()
        self._waited_ms = 0
        self.web.load(QUrl(self.url))
        if self.compare_path:
            if self.web2 is None:
                self.web2 = self._new_page()
            self.web2.show()
            self.web2.load(QUrl(self.compare_url))
            self.page_holder.setSizes([1000, 1000])
        elif self.web2 is not None:
            self.web2.hide()
            self.web2.setUrl(QUrl("about:blank"))

    def _new_page(self):
        web = _web_engine_view_class()(self.page_holder)
        web.setPage(quiet_page(self.console, web))
        web.urlChanged.connect(self._on_url_changed)
        self.page_holder.addWidget(web)
        return web

    def _on_loaded(self, ok: bool) -> None:
        if ok and self.model_path and not self.loaded:
            self._waited_ms = 0
            self._drawn_timer.start()

    def _poll_drawn(self) -> None:
        self._waited_ms += self._drawn_timer.interval()
        if self._waited_ms > SERVER_WAIT_MS or self.web is None:
            self._drawn_timer.stop()
            return
        for index in range(len(self.pages())):
            if index not in self._drawn_pages:
                self.run_js(_GRAPH_DRAWN_JS, lambda drawn, i=index: self._drawn(i, drawn), index)

    def _drawn(self, index: int, drawn) -> None:
        if not drawn or self.loaded or not self._drawn_timer.isActive():
            return
        self._drawn_pages.add(index)
        if len(self._drawn_pages) < len(self.pages()):
            return
        self._drawn_timer.stop()
        self.loaded = True
        if self.selected:  # the first divergence (or the row picked meanwhile): selected and centred
            QTimer.singleShot(300, lambda: self.select_node(self.selected))
        self.graph_loaded.emit()

    def _on_url_changed(self, url: QUrl) -> None:
        """Model Explorer keeps its selection in the page URL: a node clicked in the graph selects its row."""
        node = ov.selected_node_from_url(url.toString())
        if self._echoes.get(node, 0.0) > time.monotonic():
            return  # a page showing a selection this view asked for (perhaps an earlier one)
        if node and node != self.selected and self.loaded:
            if self.compare_path:  # the other graph follows
                self.select_node(node)
                return
            self.selected = node
            self.nodes.select(node)
            self.node_selected.emit(node)

    def _blank(self) -> None:
        self._server_timer.stop()
        self._drawn_timer.stop()
        self.loaded = False
        self._pending = False
        for web in (self.web, self.web2):
            if web is not None:
                web.setUrl(QUrl("about:blank"))

    # -- table, details, legend ---------------------------------------------------------------------
    def _colour_changed(self, _index: int) -> None:
        self._fill_legend()
        if self.model_path:
            self._pending = True
            if self._shown:
                self._load()

    def _fill_legend(self) -> None:
        items = ov.legend(self.report, self.colour_by.currentText()) if self._overlay_paths else []
        self.legend.setText(
            " ".join(
                f"<span style='background:{c}'>&nbsp;&nbsp;&nbsp;&nbsp;</span>&nbsp;{t}&nbsp;&nbsp;" for c, t in items
            )
            if items
            else "No per-node data: tick Per-node parity and Op profile in Options, then Run."
        )

    def _write_overlays(self) -> None:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="heimdall-explorer-"))
        for old in self._tmp.iterdir():  # a fresh folder per run: the page never reuses an old overlay
            shutil.rmtree(old, ignore_errors=True)
        self._written += 1
        self._overlay_paths = ov.write_overlays(self.report, self._tmp / str(self._written)) if self.report else {}

    @property
    def rows(self) -> list[ov.NodeRow]:
        return self.nodes.rows
