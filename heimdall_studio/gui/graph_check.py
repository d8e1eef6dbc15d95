"""``python -m heimdall_studio.gui.graph_check MODEL.onnx [--screenshot FILE.png]``: does the Graph
view draw here?

Opens the app's Netron view on MODEL (Netron's server, QtWebEngine's Chromium), waits until
Netron has drawn graph nodes, prints ``graph: N nodes drawn`` and exits 0; exits 1 when nothing
is drawn within the time limit. Checks an installation or a bundle (QtWebEngine's resources and
Netron's static files); works under QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import argparse
import sys
import time

_GRAPH_STATE_JS = "document.querySelectorAll('.node').length + ' ' + document.body.className"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heimdall_studio.gui.graph_check")
    parser.add_argument("model")
    parser.add_argument("--screenshot", default="")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)

    from heimdall_studio.gui.app import create_application

    app = create_application()
    from PySide6.QtCore import QTimer

    from heimdall_studio.gui.netron_view import NetronView

    view = NetronView()
    view.resize(1100, 800)
    view.show()
    view.show_model(args.model)
    deadline = time.monotonic() + args.timeout
    result = {"code": 1, "nodes": 0}

    def finish(code: int) -> None:
        result["code"] = code
        if code == 0 and args.screenshot:
            view.grab().save(args.screenshot)
        view.stop()
        app.quit()

    def counted(state) -> None:
        nodes, body = (state or "0 welcome").split(" ", 1)
        result["nodes"] = int(nodes)
        if result["nodes"] > 0 and "welcome" not in body and "spinner" not in body:  # Netron's splash is gone
            QTimer.singleShot(500, lambda: finish(0))  # let Chromium paint it
        elif time.monotonic() > deadline:
            finish(1)
        else:
            QTimer.singleShot(250, ask)

    def ask() -> None:
        if view.web is None:
            finish(1)
        else:
            view.run_js(_GRAPH_STATE_JS, counted)

    QTimer.singleShot(500, ask)
    app.exec()
    if result["code"] == 0:
        print(f"graph: {result['nodes']} nodes drawn", flush=True)
    else:
        print(f"graph: nothing drawn within {args.timeout:.0f} s", file=sys.stderr, flush=True)
    return result["code"]


if __name__ == "__main__":
    sys.exit(main())
