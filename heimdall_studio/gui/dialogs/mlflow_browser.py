"""Browse MLflow for a model to open: experiments → runs → logged files.

Every MLflow call runs on a superqt worker; answers to a question that is no longer
current (the user already clicked another run) are dropped. Picking a file gives
``runs:/RUN_ID/path``; picking a logged-model folder (one with an MLmodel file) gives the
folder's ``runs:/`` URI, which the engine opens as an MLflow model.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from heimdall_studio.gui.widgets import ErrorBanner, ReadOnlyTable, format_bytes

RUN_COLUMNS = ["Run", "Started", "Status", "Key metrics", "Tags"]
LOGGED_MODEL_HINT = (
    "An MLflow logged model. A pytorch-flavour model is a pickled module: tick "
    "'Trust this file' in the Source panel if you trust where it came from."
)
_PATH, _IS_DIR, _IS_MODEL = Qt.ItemDataRole.UserRole, Qt.ItemDataRole.UserRole + 1, Qt.ItemDataRole.UserRole + 2


def _experiments() -> tuple[str, str, list[dict[str, Any]]]:
    from heimdall_studio.integrations.mlflow_client import where
    from heimdall_studio.integrations.mlflow_sources import list_experiments
    from heimdall_studio.integrations.settings import load_settings

    settings = load_settings()
    where_text = f"{where(settings)} (profile '{settings.profile.name}')"
    return where_text, settings.profile.experiment, list_experiments(settings)


def _runs(experiment: str) -> list[dict[str, Any]]:
    from heimdall_studio.integrations.mlflow_sources import list_runs
    from heimdall_studio.integrations.settings import load_settings

    return list_runs(load_settings(), experiment)


def _artifacts(run_id: str) -> list[dict[str, Any]]:
    from heimdall_studio.integrations.mlflow_sources import list_artifacts
    from heimdall_studio.integrations.settings import load_settings

    return list_artifacts(load_settings(), run_id)


class MlflowBrowser(QDialog):
    """After ``exec()`` is accepted, ``chosen_uri`` is the ``runs:/`` URI to open and
    ``chosen_is_logged_model`` says whether it names an MLflow model folder."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Browse MLflow")
        self.chosen_uri = ""
        self.chosen_is_logged_model = False
        self.runs: list[dict[str, Any]] = []
        self.run_id = ""
        self._workers: set = set()
        self._asked = {"experiments": 0, "runs": 0, "artifacts": 0}  # the latest question of each kind

        self.where = QLabel("Connecting…", wordWrap=True)
        self.refresh_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "Refresh")
        self.refresh_button.setToolTip("Read the experiments from MLflow again")
        self.refresh_button.clicked.connect(self.refresh)
        self.status = QLabel("")
        self.error = ErrorBanner()
        self.experiments = QListWidget()
        self.experiments.setToolTip("Experiments on the active profile's MLflow server")
        self.experiments.currentTextChanged.connect(self._experiment_chosen)
        self.run_table = ReadOnlyTable(RUN_COLUMNS)
        self.run_table.setToolTip("Runs of the experiment, newest first; pick one to see what it logged")
        self.run_table.setSelectionMode(ReadOnlyTable.SelectionMode.SingleSelection)
        self.run_table.itemSelectionChanged.connect(self._run_chosen)
        self.files = QTreeWidget()
        self.files.setHeaderLabels(["Logged file", "Size", "Kind"])
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.header().setStretchLastSection(False)
        self.files.setToolTip(
            "Files the run logged. Pick a checkpoint (.pt, .pth, .pt2, .onnx…) or a logged model folder (MLflow model)"
        )
        self.files.currentItemChanged.connect(lambda *_: self._file_chosen())
        self.files.itemDoubleClicked.connect(lambda *_: self._open_if_chosen())
        self.chosen = QLabel("Pick a checkpoint file or an MLflow model folder.", wordWrap=True)
        self.chosen.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel("", wordWrap=True)
        self.hint.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setToolTip("Open the picked file or model as the source")
        self.open_button.setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close without opening anything")
        self.buttons.accepted.connect(self._open_if_chosen)
        self.buttons.rejected.connect(self.reject)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_titled("Runs", self.run_table))
        right.addWidget(_titled("Logged files", self.files))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(_titled("Experiments", self.experiments))
        split.addWidget(right)
        split.setSizes([220, 780])
        header = QHBoxLayout()
        header.addWidget(self.where, 1)
        header.addWidget(self.status)
        header.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.error)
        layout.addWidget(split, 1)
        layout.addWidget(self.chosen)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.resize(1000, 640)
        self.refresh()

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    # -- questions to MLflow (on workers) --------------------------------------------------------
    def _ask(self, kind: str, func, args: tuple, on_done, what: str) -> None:
        self._asked[kind] += 1
        asked = self._asked[kind]
        self.error.clear()
        self.status.setText(what)
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda result: self._answered(kind, asked, on_done, result))
        worker.errored.connect(lambda exc: self._failed(kind, asked, exc))
        worker.finished.connect(lambda: self._workers.discard(worker))
        self._workers.add(worker)
        worker.start()

    def _answered(self, kind: str, asked: int, on_done, result) -> None:
        if asked == self._asked[kind]:
            self.status.setText("")
            on_done(result)

    def _failed(self, kind: str, asked: int, exc: BaseException) -> None:
        if asked != self._asked[kind]:
            return
        self.status.setText("")
        message = getattr(exc, "message", "") or f"MLflow could not be read: {exc}"
        hint = getattr(exc, "hint", "") or "Check the MLflow tracking URI in Settings (Ctrl+,)."
        self.error.show_error(message, hint)
        if kind == "experiments":
            self.where.setText("MLflow did not answer.")

    def refresh(self) -> None:
        self._ask("experiments", _experiments, (), self._show_experiments, "Reading experiments…")

    # -- experiments → runs → files ---------------------------------------------------------------
    def _show_experiments(self, answer) -> None:
        where_text, preferred, experiments = answer
        self.where.setText(f"Browsing {where_text}")
        names = [e["name"] for e in experiments]
        self.experiments.blockSignals(True)
        self.experiments.clear()
        self.experiments.addItems(names)
        self.experiments.blockSignals(False)
        if names:
            self.experiments.setCurrentRow(names.index(preferred) if preferred in names else 0)

    def select_experiment(self, name: str) -> None:
        found = self.experiments.findItems(name, Qt.MatchFlag.MatchExactly)
        if found:
            self.experiments.setCurrentItem(found[0])

    def _experiment_chosen(self, name: str) -> None:
        self.runs = []
        self.run_id = ""
        self.run_table.set_rows([])
        self._clear_files()
        if name:
            self._ask("runs", _runs, (name,), self._show_runs, f"Reading runs of {name}…")

    def _show_runs(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.run_table.set_rows(
            [
                [
                    r["name"] or r["run_id"][:8],
                    r["start_time"].replace("T", " "),
                    r["status"],
                    _metrics_text(r["metrics"]),
                    _tags_text(r["tags"]),
                ]
                for r in runs
            ]
        )
        for row, run in enumerate(runs):
            self.run_table.item(row, 0).setToolTip(f"Run id {run['run_id']}")
        if not runs:
            self.chosen.setText("This experiment has no runs.")

    def select_run(self, run_id: str) -> None:
        for row, run in enumerate(self.runs):
            if run["run_id"] == run_id:
                self.run_table.selectRow(row)

    def _run_chosen(self) -> None:
        rows = sorted({i.row() for i in self.run_table.selectedItems()})
        self.run_id = ""
        self._clear_files()
        if rows and rows[0] < len(self.runs):
            self.run_id = self.runs[rows[0]]["run_id"]
            self._ask("artifacts", _artifacts, (self.run_id,), self._show_files, "Reading logged files…")

    def _clear_files(self) -> None:
        self.files.clear()
        self._file_chosen()

    def _show_files(self, artifacts: list[dict[str, Any]]) -> None:
        self.files.clear()
        folders: dict[str, QTreeWidgetItem] = {}
        style = self.style()
        for art in artifacts:
            parent = self.files.invisibleRootItem()
            parts = art["path"].split("/")
            for depth, part in enumerate(parts[:-1]):
                key = "/".join(parts[: depth + 1])
                if key not in folders:
                    folders[key] = QTreeWidgetItem(parent, [part, "", "folder"])
                    folders[key].setData(0, _PATH, key)
                    folders[key].setData(0, _IS_DIR, True)
                    folders[key].setIcon(0, style.standardIcon(QStyle.StandardPixmap.SP_DirIcon))
                parent = folders[key]
            item = QTreeWidgetItem(parent, [parts[-1], format_bytes(art.get("size")), _file_kind(parts[-1])])
            item.setData(0, _PATH, art["path"])
            item.setData(0, _IS_DIR, False)
            item.setIcon(0, style.standardIcon(QStyle.StandardPixmap.SP_FileIcon))
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if parts[-1] == "MLmodel" and len(parts) > 1:
                model = folders["/".join(parts[:-1])]
                model.setData(0, _IS_MODEL, True)
                model.setText(2, "MLflow model")
                model.setIcon(0, style.standardIcon(QStyle.StandardPixmap.SP_DriveHDIcon))
        self.files.expandAll()
        self.files.resizeColumnToContents(1)
        self.files.resizeColumnToContents(2)
        if not artifacts:
            self.chosen.setText("This run logged no files.")

    def select_file(self, path: str) -> None:
        """Select the logged file or folder at ``path`` (as a click would)."""
        for item in _walk(self.files.invisibleRootItem()):
            if item.data(0, _PATH) == path:
                self.files.setCurrentItem(item)
                return

    # -- picking -----------------------------------------------------------------------------------
    def _file_chosen(self) -> None:
        item = self.files.currentItem()
        self.chosen_uri, self.chosen_is_logged_model = "", False
        if item is not None and self.run_id:
            is_model = bool(item.data(0, _IS_MODEL))
            if is_model or not item.data(0, _IS_DIR):
                self.chosen_uri = f"runs:/{self.run_id}/{item.data(0, _PATH)}"
                self.chosen_is_logged_model = is_model
        self.open_button.setEnabled(bool(self.chosen_uri))
        if self.chosen_uri:
            self.chosen.setText(f"Open <b>{_html(self.chosen_uri)}</b>")
        elif item is not None:
            self.chosen.setText("A folder: pick a file in it, or a folder marked 'MLflow model'.")
        else:
            self.chosen.setText("Pick a checkpoint file or an MLflow model folder.")
        self.hint.setText(LOGGED_MODEL_HINT if self.chosen_is_logged_model else "")
        self.hint.setVisible(self.chosen_is_logged_model)

    def _open_if_chosen(self) -> None:
        if self.chosen_uri:
            self.accept()


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(QLabel(f"<b>{title}</b>"))
    layout.addWidget(widget, 1)
    return box


def _walk(item: QTreeWidgetItem):
    for i in range(item.childCount()):
        child = item.child(i)
        yield child
        yield from _walk(child)


def _metrics_text(metrics: dict[str, float], limit: int = 3) -> str:
    from heimdall_studio.gui.widgets import format_number

    shown = sorted(metrics.items())[:limit]
    more = f" (+{len(metrics) - limit})" if len(metrics) > limit else ""
    return ", ".join(f"{k}={format_number(float(v))}" for k, v in shown) + more


def _tags_text(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))[:120]


def _file_kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".pt", ".pth", ".ckpt", ".bin")):
        return "checkpoint"
    if lower.endswith(".pt2"):
        return "exported program"
    if lower.endswith(".onnx"):
        return "ONNX"
    return ""


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
