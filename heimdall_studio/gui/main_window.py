"""The main window: docks a user can rearrange, menus and shortcuts, and the run life cycle.

One engine run at a time (recognising a source, the pipeline, or a push). Its events, in
batches, are folded into a run model (``gui.run_model``); the views observe that model and
redraw at their own rate. The window itself only wires docks and actions and reacts to a
run starting and finishing; nothing heavy happens on this thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget

from heimdall_studio.core.errors import BadInputError, HeimdallError
from heimdall_studio.core.events import BENCHMARK, LOAD, PARITY, PUSH, VALIDATE, PipelineFinished
from heimdall_studio.engine.request import DEFAULT_STEPS, PipelineRequest
from heimdall_studio.gui.netron_view import NetronView
from heimdall_studio.gui.panels.explorer_view import ExplorerView
from heimdall_studio.gui.panels.latency_view import LatencyView
from heimdall_studio.gui.panels.log_view import LogView
from heimdall_studio.gui.panels.options_form import OptionsForm
from heimdall_studio.gui.panels.parity_view import ParityView
from heimdall_studio.gui.panels.pipeline_panel import PipelinePanel
from heimdall_studio.gui.panels.push_panel import PushPanel
from heimdall_studio.gui.panels.registry_view import RegistryView
from heimdall_studio.gui.panels.source_panel import OPEN_FILTER, SourcePanel, display_name
from heimdall_studio.gui.panels.summary_view import SummaryView
from heimdall_studio.gui.panels.sweep_view import SweepView
from heimdall_studio.gui.panels.validation_view import ValidationView
from heimdall_studio.gui.panels.variants_view import VariantsView
from heimdall_studio.gui.run_model import LogBook, RunModel
from heimdall_studio.gui.session import ModelSession, is_onnx_source
from heimdall_studio.gui.theme import FAIL_COLOR
from heimdall_studio.gui.window_state import MAX_RECENT, gui_settings

PURPOSE_TEXT = {"load": "Recognising {name}…", "pipeline": "Running the pipeline on {name}…", "push": "Pushing {name}…"}
# While a step runs, its view comes to the front (the user sees the live plot it feeds).
FOLLOW_STEP = {VALIDATE: "Validation", PARITY: "Parity", BENCHMARK: "Latency"}


class MainWindow(QMainWindow):
    first_painted = Signal()
    run_finished = Signal(object)  # PipelineFinished of any engine run

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Heimdall Studio")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.settings: QSettings = gui_settings()
        self.logbook = LogBook()
        self.run_model = RunModel(self.logbook)  # loads and pipelines: what the views draw
        self.push_run_model = RunModel(self.logbook)  # pushes: drawn by the Push panel only
        self.session = ModelSession(run=self.run_model)
        self.run = None  # the EngineRun in progress (gui.engine_worker, imported with the first run)
        self._followed_step = ""
        self.run_purpose = ""
        self._painted = False
        self._closing = False

        self.source_panel = SourcePanel()
        self.options = OptionsForm()
        self.summary = SummaryView()
        self.pipeline = PipelinePanel()
        self.validation = ValidationView()
        self.parity = ParityView()
        self.latency = LatencyView()
        self.graph = NetronView()
        self.explorer = ExplorerView()
        self.variants = VariantsView()
        self.sweep = SweepView(self._sweep_request)
        self.push_panel = PushPanel()
        self.registry = RegistryView()
        self.log = LogView(self.logbook)
        views = (self.summary, self.pipeline, self.validation, self.parity, self.latency, self.explorer, self.variants)
        for view in views:
            view.bind(self.run_model)
        self.push_panel.bind(self.push_run_model)

        self.docks: dict[str, QDockWidget] = {}
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self._add_dock("Source", self.source_panel, left)
        self._add_dock("Options", self.options, left)
        self._add_dock("Pipeline", self.pipeline, left)
        self._add_dock("Push", self.push_panel, left)
        for title, widget in (
            ("Validation", self.validation),
            ("Parity", self.parity),
            ("Latency", self.latency),
            ("Graph", self.graph),
            ("Explorer", self.explorer),
            ("Variants", self.variants),
            ("Sweep", self.sweep),
            ("Registry", self.registry),
        ):
            self._add_dock(title, widget, right)
        self._add_dock("Log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("Summary", self.summary, Qt.DockWidgetArea.TopDockWidgetArea)
        self.tabifyDockWidget(self.docks["Source"], self.docks["Options"])
        self.tabifyDockWidget(self.docks["Pipeline"], self.docks["Push"])
        self.docks["Pipeline"].raise_()
        for title in ("Parity", "Latency", "Graph", "Explorer", "Variants", "Sweep", "Registry"):
            self.tabifyDockWidget(self.docks["Validation"], self.docks[title])
        self.docks["Source"].raise_()
        self.docks["Validation"].raise_()
        self._default_state = self.saveState()

        from heimdall_studio.gui.run_defaults import RunDefaults

        self.options.apply_defaults(RunDefaults.load(self.settings))
        self._make_actions()
        self._make_status_bar()
        self._connect()
        self._restore_window_state()
        self.installEventFilter(self)

    # -- construction -------------------------------------------------------------------------------
    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")  # saveState() keys docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

    def _action(self, text: str, slot, shortcut=None, icon: str = "", tip: str = "") -> QAction:
        """An action of the window; ``icon`` names one of the app's own (gui.icons)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            from heimdall_studio.gui.icons import action_icon

            action.setIcon(action_icon(icon))
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        from heimdall_studio.gui.icons import app_icon

        self.setWindowIcon(app_icon())
        self.open_action = self._action(
            "&Open model…",
            self.choose_source,
            QKeySequence.StandardKey.Open,
            "open",
            "Open a checkpoint, TorchScript, .pt2 or .onnx",
        )
        self.run_action = self._action(
            "&Run pipeline", self.run_pipeline, "Ctrl+R", "run", "Export → validate → parity → benchmark → metadata"
        )
        self.cancel_action = self._action("&Cancel", self.cancel_run, "Esc", "cancel", "Stop the engine")
        self.cancel_action.setEnabled(False)
        self.settings_action = self._action(
            "&Settings…", self.open_settings, "Ctrl+,", "", "Profiles (MLflow, S3, secrets) and run defaults"
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.browse_action = self._action(
            "&Browse MLflow…", self.browse_mlflow, None, "", "Open a checkpoint or logged model from an MLflow run"
        )
        self.report_action = self._action(
            "Open &report", self.open_report, "Ctrl+Shift+R", "", "Open the last run's HTML report in your browser"
        )
        self.report_action.setEnabled(False)
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        reset_layout = self._action("Reset layout", lambda: self.restoreState(self._default_state))

        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.open_action)
        menu.addAction(self.browse_action)
        menu.addAction(self.report_action)
        menu.addSeparator()
        menu.addAction(self.settings_action)
        menu.addSeparator()
        menu.addAction(quit_action)
        menu = self.menuBar().addMenu("&Pipeline")
        menu.addAction(self.run_action)
        menu.addAction(self.cancel_action)
        self.view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.view_menu.addAction(reset_layout)
        self.about_action = self._action(
            "&About Heimdall Studio", self.show_about, None, "", "Versions, folders, and a copy for bug reports"
        )
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.menuBar().addMenu("&Help").addAction(self.about_action)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar_main")
        toolbar.addActions([self.open_action, self.run_action, self.cancel_action])

    def _make_status_bar(self) -> None:
        self.activity_label = QLabel("Idle")
        self.profile_label = QLabel("")
        self.statusBar().addWidget(self.activity_label, 1)
        self.statusBar().addPermanentWidget(self.profile_label)

    def _connect(self) -> None:
        self.source_panel.open_requested.connect(self.choose_source)
        self.source_panel.browse_mlflow_requested.connect(self.browse_mlflow)
        self.source_panel.source_chosen.connect(self.open_source)
        self.source_panel.reload_requested.connect(self.recognise_source)
        self.pipeline.run_requested.connect(self.run_pipeline)
        self.pipeline.cancel_requested.connect(self.cancel_run)
        self.push_panel.push_requested.connect(self.push_model)
        self.registry.promoted.connect(self._log_promotion)
        self.docks["Graph"].visibilityChanged.connect(self.graph.set_shown)
        self.docks["Explorer"].visibilityChanged.connect(self.explorer.set_shown)
        self.variants.push_requested.connect(self.push_variant)
        self.variants.compare_requested.connect(self.compare_variant)
        self.source_panel.set_recent(self.recent_files())

    # -- window state -------------------------------------------------------------------------------
    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)

    def _save_window_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, source: str) -> None:
        self._set_recent([source] + [p for p in self.recent_files() if p != source])

    def _forget(self, source: str) -> None:
        """A source that could not be opened does not stay in Recent."""
        self._set_recent([p for p in self.recent_files() if p != source])

    def _set_recent(self, recent: list[str]) -> None:
        self.settings.setValue("recent/files", recent[:MAX_RECENT])
        self.source_panel.set_recent(recent[:MAX_RECENT])

    # -- first paint: then the slower parts ---------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        if obj is self and event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._after_first_paint)
        return super().eventFilter(obj, event)

    def _after_first_paint(self) -> None:
        self.first_painted.emit()
        self.parity.build()
        self.latency.build()
        self.show_profile()
        QTimer.singleShot(0, self._prepare_graph)

    def _prepare_graph(self) -> None:
        """The web view exists before anyone opens the Graph tab, and the window keeps its size."""
        if self._closing:
            return
        geometry = self.saveGeometry()
        self.graph.prepare()
        self.restoreGeometry(geometry)

    def show_profile(self, follow_model_name: bool = False) -> None:
        """The active profile and its endpoints in the status bar (never its secrets).

        ``follow_model_name``: the Registry view switches to the profile's model name."""
        from heimdall_studio.integrations.settings import load_settings

        try:
            settings = load_settings(with_secrets=False)  # no keyring on the UI thread
        except HeimdallError as exc:
            self.profile_label.setText("Settings: error")
            self.profile_label.setToolTip(f"{exc.message}\n{exc.hint}")
            return
        shown = settings.show()
        if settings.is_embedded:
            self.profile_label.setText(f"Profile: {settings.profile.name} (local MLflow store and model folder)")
        else:
            self.profile_label.setText(
                f"Profile: {settings.profile.name} — MLflow {shown['tracking_uri']} · models {shown['store']}"
            )
        self.profile_label.setToolTip(f"MLflow: {shown['tracking_uri']}\nModels: {shown['store']}")
        if follow_model_name or not self.registry.model_name.text():
            self.registry.model_name.setText(settings.profile.model_name)

    def report_html(self) -> str:
        """The HTML page of the last pipeline run's report ("" when it wrote none)."""
        paths = (self.session.report or {}).get("html_paths") or []
        return str(paths[0]) if paths and Path(paths[0]).is_file() else ""

    def open_report(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        path = self.report_html()
        if not path:
            self.statusBar().showMessage("No HTML report yet: run the pipeline first.", 5000)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def show_about(self) -> None:
        from heimdall_studio.gui.dialogs.about_dialog import AboutDialog

        dialog = AboutDialog(self)
        dialog.exec()
        dialog.deleteLater()

    # -- settings and MLflow --------------------------------------------------------------------------
    def open_settings(self) -> None:
        """The Settings dialog; after OK the Options form, status bar and Registry view follow it."""
        from heimdall_studio.gui.dialogs.settings_dialog import SettingsDialog

        try:
            dialog = SettingsDialog(self.settings, self)
        except HeimdallError as exc:  # a broken settings file: say so rather than open a blank dialog
            QMessageBox.warning(self, "Settings cannot be read", f"{exc.message}\n\n{exc.hint}")
            return
        accepted = dialog.exec() == SettingsDialog.DialogCode.Accepted
        defaults = dialog.run_defaults
        dialog.deleteLater()
        if accepted:
            self.options.apply_defaults(defaults)
            self.show_profile(follow_model_name=True)
            self.registry.refresh()

    def browse_mlflow(self) -> None:
        """Pick a run's checkpoint or logged model in MLflow and open it as the source."""
        from heimdall_studio.gui.dialogs.mlflow_browser import LOGGED_MODEL_HINT, MlflowBrowser

        if self.run is not None:
            self.statusBar().showMessage("Wait for the current run to finish, or cancel it first.", 5000)
            return
        dialog = MlflowBrowser(self)
        accepted = dialog.exec() == MlflowBrowser.DialogCode.Accepted
        uri, logged_model = dialog.chosen_uri, dialog.chosen_is_logged_model
        dialog.deleteLater()
        if accepted and uri:
            self.open_source(uri)
            if logged_model:
                self.source_panel.set_hint(LOGGED_MODEL_HINT)

    # -- sources ------------------------------------------------------------------------------------
    def choose_source(self) -> None:
        start = str(Path(self.recent_files()[0]).parent) if self.recent_files() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open model", start, OPEN_FILTER)
        if path:
            self.open_source(path)

    def open_source(self, source: str) -> None:
        """Make ``source`` the current model and ask the engine what it is.

        Every view forgets the previous model at once: what they show is true of this one."""
        if self.run is not None:
            self.statusBar().showMessage("Wait for the current run to finish, or cancel it first.", 5000)
            return
        self.graph.stop()
        self.session.source = source
        self.run_model.clear()
        self.push_run_model.clear()
        self.source_panel.set_source(source)
        self.pipeline.set_status(f"{display_name(source)} — press Run when it has been recognised.")
        self.setWindowTitle(f"{display_name(source)} — Heimdall Studio")
        self.recognise_source()

    def recognise_source(self) -> None:
        """Load the source in the engine; an .onnx file is validated at once (no run needed to inspect it)."""
        if self.session.source and self.run is None:
            steps = (LOAD, VALIDATE) if is_onnx_source(self.session.source) else (LOAD,)
            self._start_run(steps, "load")

    # -- runs ---------------------------------------------------------------------------------------
    def build_request(self, steps: tuple[str, ...], **extra) -> PipelineRequest:
        """The request for the current source and forms; raises BadInputError for bad form input."""
        from heimdall_studio.gui.window_state import default_out_dir

        out_dir = self.options.out_dir.text().strip() or str(default_out_dir(self.session.source))
        extra.setdefault("source", self.session.source)
        extra.setdefault("reference", self.source_panel.reference_source())
        return PipelineRequest(
            out_dir=out_dir,
            steps=steps,
            source_options=self.source_panel.source_options(),
            export=self.options.export_options(),
            parity=self.options.parity_options(),
            benchmark=self.options.benchmark_options(),
            per_node=self.options.per_node_options(),
            op_profile=self.options.op_profile_options(),
            html_beside_onnx=True,
            **{**self.options.variant_fields(), **extra},
        )

    def run_pipeline(self) -> None:
        if self.run is not None or not self.session.source:
            if not self.session.source:
                self.statusBar().showMessage("Open a model first (Ctrl+O).", 5000)
            return
        if self.sweep.running:
            self.statusBar().showMessage("A sweep is running (Sweep view): wait for it, or cancel it.", 5000)
            return
        self._start_run(self.options.with_inspection(DEFAULT_STEPS), "pipeline")

    def _start_run(self, steps: tuple[str, ...], purpose: str, **extra) -> bool:
        try:
            request = self.build_request(steps, **extra)
        except HeimdallError as exc:
            banner = self.source_panel.error if purpose == "load" else self.pipeline.error
            banner.show_error(exc.message, exc.hint)
            return False
        model = self.push_run_model if purpose == "push" else self.run_model
        model.begin(purpose, steps, self.session.source)
        if purpose == "pipeline":
            self.graph.stop()
            self.push_run_model.clear()  # a new run: the last push no longer describes this model
            self.docks["Pipeline"].raise_()
        from heimdall_studio.gui.engine_worker import EngineRun  # superqt: not before the first paint

        self.run_purpose = purpose
        self._followed_step = ""
        self.run = EngineRun(request, self)
        self.run.events.connect(self._on_events)
        self.run.finished.connect(self._on_run_finished)
        what = PURPOSE_TEXT[purpose].format(name=display_name(self.session.source))
        self._set_running(True, what)
        self.run.start()
        return True

    def push_model(self, anyway: bool = False) -> None:
        """Upload and register the last run's model (asks first when its checks did not pass)."""
        question = (
            "Push anyway?",
            "Parity with PyTorch did not pass for this model. Push and register it anyway? "
            "The version's tags record that parity failed.",
        )
        self._push(question if anyway else None, ignore_gates=anyway)

    def push_variant(self, name: str) -> None:
        """Upload and register one optimised variant of the last run (Variants view), tagged with its
        parity figures and the plain export's sha256; one that failed parity only after a yes."""
        variants = (self.session.report or {}).get("variants") or []
        variant = next((v for v in variants if v.get("name") == name), None)
        if variant is None:
            return
        failed = (variant.get("parity") or {}).get("passed") is not True
        question = (
            "Push a variant that failed parity?",
            f"The {name} variant did not pass its parity criteria. Push and register it anyway? "
            "The version's tags record that its parity failed.",
        )
        self._push(question if failed else None, variant=name, allow_failed_parity=failed)

    def _push(self, question: tuple[str, str] | None, **push_extra) -> None:
        """A push run on the exported .onnx with the last run's report, after ``question`` (title,
        text) when one is given and answered Yes."""
        if self.run is not None or not self.session.can_push:
            return
        no, yes = QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes
        if question is not None and QMessageBox.question(self, *question, yes | no, no) != yes:
            return
        from heimdall_studio.integrations.push import PushOptions

        options = PushOptions(
            model_name=self.push_panel.model_name.text().strip(), force=self.push_panel.force.isChecked()
        ).to_dict()
        options.update(push_extra)
        self.docks["Push"].raise_()
        self._start_run(
            (LOAD, PUSH), "push", push=options, prior_report=self.session.report, source=self.session.onnx_path
        )

    def _sweep_request(self, source: str) -> PipelineRequest:
        """One source of the Sweep view, with the Options form's settings (not while a run is on)."""
        if self.run is not None:
            raise BadInputError("A run is in progress.", "Wait for it to finish, or cancel it first.")
        return self.build_request(self.options.with_inspection(DEFAULT_STEPS), source=source, reference="")

    def compare_variant(self, path: str) -> None:
        """The plain export and ``path`` side by side in the Explorer view."""
        self.docks["Explorer"].raise_()
        self.explorer.set_compare(path)

    def cancel_run(self) -> None:
        if self.run is None:
            return
        self.run.cancel()
        self.pipeline.show_cancelling()
        self.activity_label.setText("Cancelling…")

    def _set_running(self, running: bool, what: str = "") -> None:
        self.activity_label.setText(what if running else "Idle")
        self.pipeline.set_running(running, what)
        self.run_action.setEnabled(not running)
        self.cancel_action.setEnabled(running)
        self.open_action.setEnabled(not running)
        self.source_panel.open_button.setEnabled(not running)
        self.source_panel.browse_button.setEnabled(not running)
        self.browse_action.setEnabled(not running)
        self.report_action.setEnabled(not running and bool(self.report_html()))
        self.source_panel.reload_button.setEnabled(not running)
        self.push_panel.set_ready(self.session.can_push, self.session.gates_passed, running)

    def _on_events(self, batch: list) -> None:
        model = self.push_run_model if self.run_purpose == "push" else self.run_model
        changed = model.apply_all(batch)
        if "steps" in changed and self.run_purpose == "pipeline":
            self._follow_run()

    def _follow_run(self) -> None:
        """Bring the view of the step that just started to the front, once per step."""
        running = next((s for s, st in self.run_model.steps.items() if st.status == "running"), "")
        if running and running != self._followed_step:
            self._followed_step = running
            if running in FOLLOW_STEP:
                self.docks[FOLLOW_STEP[running]].raise_()

    def _on_run_finished(self, finished: PipelineFinished) -> None:
        purpose, self.run, self.run_purpose = self.run_purpose, None, ""
        self._set_running(False)
        self.activity_label.setText(
            {"passed": "Done", "cancelled": "Cancelled: engine stopped"}.get(
                finished.status, f"Finished: {finished.status}"
            )
        )
        if purpose == "load":
            self._show_recognised()
        elif purpose == "pipeline" and self.session.onnx_path and not self._closing:
            self.graph.set_model(self.session.onnx_path)
            report = self.run_model.report
            if report.get("per_node") or report.get("op_profile"):
                self.docks["Explorer"].raise_()  # the first divergence, selected and centred
        elif purpose == "push":
            result = self.push_run_model.result(PUSH)
            if result.get("model_name"):
                self.registry.model_name.setText(result["model_name"])
            if finished.status in ("passed", "gate_failed") and not self._closing:
                self.registry.refresh()
        self.report_action.setEnabled(bool(self.report_html()))
        self.run_finished.emit(finished)

    def _prepare_views(self) -> None:
        """Build the plots a run will fill while nothing runs: a run then spends no UI time on them."""
        self.parity.prepare()
        self.variants.build()
        try:
            self.latency.prepare(self.options.benchmark_options().batch_sizes)
        except HeimdallError:
            pass  # the form says what is wrong when Run is pressed

    def _log_promotion(self, result: dict) -> None:
        where = f"alias @{result['alias']}" if result.get("alias") else f"stage {result.get('stage') or '—'}"
        self.run_model.log(
            f"[info] promote: {result.get('name')} version {result.get('version')} → {result.get('to')} ({where})"
        )
        self.statusBar().showMessage(
            f"Promoted {result.get('name')} version {result.get('version')} to {result.get('to')}.", 8000
        )

    def _show_recognised(self) -> None:
        """After a load: what the source is, or why it could not be opened (and it leaves Recent)."""
        model, source = self.run_model, self.session.source
        if model.passed(LOAD):
            self.source_panel.show_recognised(model.result(LOAD))
            self._remember(source)
            self.pipeline.set_status(f"{display_name(source)} recognised — press Run (Ctrl+R).")
            if self.session.onnx_path and not self._closing:  # an .onnx file: its graph right away
                self.graph.set_model(self.session.onnx_path)
            self._prepare_views()
        elif model.failure is not None:
            failure = model.failure
            self.source_panel.show_load_error(failure.message, failure.hint, failure.details)
            self.pipeline.set_status("The source could not be opened — see Source.", FAIL_COLOR)
            self._forget(source)
            self.docks["Source"].raise_()

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_source(paths[0])

    # -- closing ------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.run is not None or self.sweep.running:
            answer = QMessageBox.question(
                self,
                "Stop the running step?",
                "The engine is still working. Closing stops it; nothing from the unfinished step is kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self._closing = True
            self.sweep.stop_and_wait()
            self.stop_run_and_wait()
        self._closing = True
        self._save_window_state()
        self.graph.dispose()
        self.explorer.dispose()
        super().closeEvent(event)

    def stop_run_and_wait(self, timeout_ms: int = 10000) -> None:
        """Cancel the engine and keep the UI responsive until its worker has finished."""
        if self.run is None:
            return
        from PySide6.QtCore import QEventLoop

        loop = QEventLoop()
        self.run.finished.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.run.cancel()
        loop.exec()
