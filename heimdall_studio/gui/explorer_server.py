"""Google's Model Explorer web app, served from its wheel on 127.0.0.1 in a child process.

``python -m heimdall_studio.gui.explorer_server PORT`` runs model_explorer's Flask server with the
ONNX adapter (model-explorer-onnx) and never opens a browser. The server is stateless for us:
every page names its models and node-data files in its URL (``data=``), so one server serves the
graph view and the split view. It exits when the app closes its stdin (the app quit or crashed),
or when the app terminates it. No Qt here: the child never loads Qt.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

HOST = "127.0.0.1"
ONNX_EXTENSION = "model_explorer_onnx"


class ExplorerProcess:
    """The server child process, seen from the app: ``start`` returns at once, ``ready`` tells
    (without blocking) whether it answers yet, ``stop`` ends it."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}" if self.port else ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.port = _free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [self.python, "-m", "heimdall_studio.gui.explorer_server", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def ready(self) -> bool:
        """True once the server accepts connections (a local connect: no waiting)."""
        if not self.running:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.05)
            return probe.connect_ex((HOST, self.port)) == 0

    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def stop(self, grace_s: float = 2.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace_s)
        if proc.stdin is not None:
            proc.stdin.close()
        self.port = 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _exit_with_parent() -> None:
    """The app holds our stdin open; EOF means it is gone, and so are we."""
    try:
        sys.stdin.read()
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m heimdall_studio.gui.explorer_server PORT", file=sys.stderr)
        return 2
    # Model Explorer imports torch, if it can, for its PyTorch adapter; ONNX files need none of it.
    # Without it the server starts seconds sooner and holds a few hundred MB less.
    sys.modules["torch"] = None
    from model_explorer import server

    # Model Explorer asks GitHub for a newer release at start and from its page; the app works
    # offline and never phones home, so that check answers "no news" here.
    no_news = {"version": "", "runningVersion": "", "releaseUrl": "", "desktopAppUrl": ""}
    server._check_new_version = lambda print_msg=True: dict(no_news)  # noqa: SLF001
    threading.Thread(target=_exit_with_parent, daemon=True, name="explorer-parent-watch").start()
    server.start(
        host=HOST,
        port=int(argv[0]),
        no_open_in_browser=True,
        extensions=[ONNX_EXTENSION],
        skip_health_check=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
