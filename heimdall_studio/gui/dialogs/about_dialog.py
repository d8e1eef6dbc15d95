"""Help → About Heimdall Studio: versions, folders, and a button that copies them for a bug report.

Nothing heavy is imported here: package versions come from their installed metadata, and ONNX
Runtime's providers from a child process (``python -m heimdall_studio.engine.providers``)."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata

from PySide6.QtCore import QProcess, Qt, QTimer, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from heimdall_studio import __version__
from heimdall_studio.gui.icons import app_icon
from heimdall_studio.integrations.settings import config_dir, data_dir

# (shown name, distributions to look for: the first one installed wins)
PACKAGES = (
    ("torch", ("torch",)),
    ("onnx", ("onnx",)),
    ("onnxscript", ("onnxscript",)),
    ("onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
    ("mlflow", ("mlflow", "mlflow-skinny")),
    ("numpy", ("numpy",)),
    ("PySide6", ("PySide6", "pyside6-essentials")),
    ("pyqtgraph", ("pyqtgraph",)),
    ("netron", ("netron",)),
)
PROVIDERS_PENDING = "(asking ONNX Runtime…)"


def package_version(distributions: tuple[str, ...]) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def about_rows() -> list[tuple[str, str]]:
    """What the dialog shows, as (label, value) rows, providers still pending."""
    rows = [
        ("Heimdall Studio", __version__),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("System", platform.platform()),
        ("Qt", f"{qVersion()}"),
    ]
    rows += [(shown, package_version(dists)) for shown, dists in PACKAGES]
    rows += [
        ("ONNX Runtime providers", PROVIDERS_PENDING),
        ("Data folder", str(data_dir())),
        ("Config folder", str(config_dir())),
    ]
    return rows


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Heimdall Studio")
        self.setMinimumWidth(620)
        self.setWindowIcon(app_icon())
        self.rows = about_rows()
        self.values: dict[str, QLabel] = {}
        form = QFormLayout()
        for label, value in self.rows:
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setWordWrap(True)
            self.values[label] = shown
            form.addRow(f"{label}:", shown)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(
            f"<h2>Heimdall Studio {__version__}</h2>PyTorch → ONNX export, validation, parity, "
            "benchmarks and the model registry."
        )
        header = QHBoxLayout()
        header.addWidget(logo)
        header.addWidget(title, 1)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy all of this, for a bug report")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self._probe = QProcess(self)
        self._probe.finished.connect(self._on_probe_finished)
        self._probe.errorOccurred.connect(self._on_probe_error)
        self._probe.start(sys.executable, ["-m", "heimdall_studio.engine.providers"])

    def report_text(self) -> str:
        """Everything shown, one ``label: value`` line each (what Copy puts on the clipboard)."""
        return "\n".join(f"{label}: {self.values[label].text()}" for label, _ in self.rows)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self.copy_button, lambda: self.copy_button.setText("Copy"))  # not after close

    def providers_known(self) -> bool:
        return self.values["ONNX Runtime providers"].text() != PROVIDERS_PENDING

    def _on_probe_finished(self, *_args) -> None:
        out = bytes(self._probe.readAllStandardOutput()).decode("utf-8", "replace").strip()
        try:
            found = json.loads(out.splitlines()[-1]) if out else {}
        except ValueError:
            found = {}
        if "providers" in found:
            text = ", ".join(found["providers"]) or "none"
        else:
            text = found.get("error") or "unknown (the check did not answer)"
        self.values["ONNX Runtime providers"].setText(text)

    def _on_probe_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.values["ONNX Runtime providers"].setText(f"unknown ({self._probe.errorString()})")

    def done(self, result: int) -> None:
        if self._probe.state() != QProcess.ProcessState.NotRunning:
            self._probe.kill()
            self._probe.waitForFinished(2000)
        super().done(result)
