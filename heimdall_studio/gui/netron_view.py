"""The exported graph in Netron, served on 127.0.0.1 and shown in a QWebEngineView.

Netron's page asks for cookie consent first; a ``consent`` cookie is set before the page
loads (that is what netron's browser.js checks), and the consent button is clicked as
well should the page show it anyway. When QtWebEngine is missing the view offers
"Open in browser" instead. The server is stopped when the model changes or the view closes.
"""

from __future__ import annotations

import time
import webbrowser

from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStyle, QVBoxLayout, QWidget


def _web_engine_view_class():
    """QWebEngineView, imported on first use (a few hundred ms kept out of the first paint), or None
    when QtWebEngine is not installed. AA_ShareOpenGLContexts, set before the QApplication, makes the
    late import safe."""
    try:
        from PySide6.QtWebEngineWidgets import QWebEngineView
    except ImportError:  # QtWebEngine is an optional part of PySide6
        return None
    return QWebEngineView


_ACCEPT_CONSENT_JS = """
(function () {
  var button = document.getElementById('message-button');
  if (button && button.offsetParent !== null) { button.click(); return true; }
  return false;
})();
"""
_NODE_COUNT_JS = "document.querySelectorAll('.node').length"


class NetronView(QWidget):
    """Shows one ONNX file at a time; ``graph_loaded`` fires when the page has loaded."""

    graph_loaded = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.address: tuple[str, int] | None = None
        self.model_path = ""
        self._pending = ""
        self._shown = False
        self.web = None
        self.caption = QLabel("Run the pipeline to see the exported graph.", wordWrap=True)
        self.browser_button = QPushButton(
            self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon), "Open in browser"
        )
        self.browser_button.setToolTip("Open this graph in your web browser")
        self.browser_button.setEnabled(False)
        self.browser_button.clicked.connect(self.open_in_browser)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.browser_button)
        self._layout = QVBoxLayout(self)
        self._layout.addLayout(bar)
        self._layout.addStretch(1)

    @property
    def web_engine_available(self) -> bool:
        return _web_engine_view_class() is not None

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}/" if self.address else ""

    def set_model(self, path: str) -> None:
        """Show ``path`` once the view is visible: importing Netron and starting Chromium cost a few
        hundred ms of UI time, paid only when the user looks at the graph."""
        self.stop()
        self._pending = path
        self.caption.setText(f"{path}\n(loads when this tab is shown)")
        if self._shown:
            self.show_model(path)

    def set_shown(self, shown: bool) -> None:
        """The view's tab became visible (or hidden); connect a dock's ``visibilityChanged``."""
        self._shown = shown
        if shown and self._pending:
            self.show_model(self._pending)

    def show_model(self, path: str) -> None:
        """Serve ``path`` with Netron (stopping the previous server) and load it."""
        import netron

        self.stop()
        self._pending = ""
        self.model_path = path
        self.address = tuple(netron.start(path, address=("127.0.0.1", 0), browse=False))
        self.browser_button.setEnabled(True)
        if not self.web_engine_available:
            self.caption.setText(f"{path}\nQtWebEngine is not installed: use “Open in browser”.")
            return
        self.caption.setText(path)
        self._ensure_web()
        self._preaccept_consent()
        self.web.load(QUrl(self.url))

    def stop(self) -> None:
        """Stop the Netron server, if one runs, and blank the page."""
        if self.address is not None:
            import netron

            netron.stop(self.address)
            self.address = None
        if self.web is not None:
            self.web.setUrl(QUrl("about:blank"))
        self.model_path = ""
        self._pending = ""
        self.browser_button.setEnabled(False)

    def open_in_browser(self) -> None:
        if self.url:
            webbrowser.open(self.url)

    def run_js(self, script: str, callback) -> None:
        if self.web is not None:
            self.web.page().runJavaScript(script, 0, callback)

    def count_nodes(self, callback) -> None:
        """Calls ``callback(n)`` with how many graph nodes Netron drew."""
        self.run_js(_NODE_COUNT_JS, callback)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)

    def prepare(self) -> None:
        """Create the web view now, hidden. Adding the first QWebEngineView to a shown window makes
        Qt recreate that window (and lose its size); done once right after the first paint, the
        user never sees it and the window keeps its geometry."""
        if self.web is None and self.web_engine_available:
            self._ensure_web()

    def dispose(self) -> None:
        """Stop the server and delete the page before the application's web profile goes."""
        self.stop()
        if self.web is not None:
            page = self.web.page()
            self.web.setParent(None)
            page.deleteLater()
            self.web.deleteLater()
            self.web = None

    def _ensure_web(self) -> None:
        if self.web is not None:
            return
        self.web = _web_engine_view_class()(self)
        self.web.setToolTip("")
        self.web.loadFinished.connect(self._on_loaded)
        self._layout.takeAt(self._layout.count() - 1)  # the stretch
        self._layout.addWidget(self.web, 1)

    def _preaccept_consent(self) -> None:
        from PySide6.QtNetwork import QNetworkCookie

        cookie = QNetworkCookie(b"consent", str(int(time.time() * 1000)).encode())
        cookie.setDomain(self.address[0])
        cookie.setPath("/")
        self.web.page().profile().cookieStore().setCookie(cookie, QUrl(self.url))

    def _on_loaded(self, ok: bool) -> None:
        if self.address is None:
            return
        self.run_js(_ACCEPT_CONSENT_JS, lambda _clicked: None)
        self.graph_loaded.emit(ok)
