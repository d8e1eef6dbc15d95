"""Settings: where models go (profiles, their servers and secrets) and the run defaults.

Profiles are edited in memory and written on OK: fields to the settings file, secrets to
the OS keyring only. A secret is never read back into a widget: a set secret shows a
masked placeholder. Values that come from environment variables are read-only here.
"""

from __future__ import annotations

import dataclasses
import os
import re

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from heimdall_studio.core.errors import HeimdallError
from heimdall_studio.gui.dataclass_form import DataclassForm
from heimdall_studio.gui.dialogs.profile_fields import (
    EMBEDDED_FIELDS,
    NO_KEYRING_TEXT,
    PROFILE_FIELDS,
    SECRET_SPECS,
)
from heimdall_studio.gui.run_defaults import RUN_DEFAULT_FIELDS, RunDefaults
from heimdall_studio.gui.theme import FAIL_COLOR, PASS_COLOR
from heimdall_studio.gui.widgets import ErrorBanner
from heimdall_studio.integrations.settings import (
    EMBEDDED,
    Profile,
    keyring_available,
    keyring_delete,
    keyring_get,
    keyring_set,
    load_settings,
    read_settings_file,
    remove_profiles,
    save_profile,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SecretField(QWidget):
    """A masked secret: typing replaces it, Clear forgets it; the stored value is never shown."""

    def __init__(self, label: str, tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.cleared = False
        self.edit = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.edit.setToolTip(tip)
        self.clear_button = QToolButton(text="Clear", toolTip=f"Forget the stored {label.lower()}")
        self.clear_button.clicked.connect(self._clear)
        self.note = QLabel("", objectName="fieldNote")
        self.note.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.clear_button)
        row.addWidget(self.note)

    def show_state(self, stored: bool, env_var: str, writable: bool) -> None:
        """``stored``: set in the keyring; ``env_var``: set by that variable (wins, read-only)."""
        self.cleared = False
        self.edit.clear()
        self.edit.setReadOnly(bool(env_var) or not writable)
        self.edit.setEnabled(writable or bool(env_var))
        self.note.setText(f"from {env_var}" if env_var else "")
        self.note.setVisible(bool(env_var))
        self.clear_button.setVisible(stored and writable and not env_var)
        if env_var:
            self.edit.setPlaceholderText("●●●●●●●● set in the environment")
        elif stored:
            self.edit.setPlaceholderText("●●●●●●●● stored in the keyring — type to replace")
        else:
            self.edit.setPlaceholderText("not set" if writable else "not set (no keyring)")

    def _clear(self) -> None:
        self.cleared = True
        self.edit.clear()
        self.edit.setPlaceholderText("will be forgotten on OK")
        self.clear_button.hide()


class SettingsDialog(QDialog):
    """Edit profiles and run defaults; ``run_defaults`` holds what was saved after OK."""

    def __init__(self, gui_settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.gui_settings = gui_settings
        self.run_defaults = RunDefaults.load(gui_settings)
        self._worker = None
        self.keyring_ok = keyring_available()
        effective = load_settings(EMBEDDED)  # the environment's part is the same for every profile
        self.env_fields = {k: v.removeprefix("env:") for k, v in effective.origins.items() if v.startswith("env:")}
        self.env_values = effective.profile
        self.env_secrets = {k: v.removeprefix("env:") for k, v in effective.credentials.origins.items()}
        data = read_settings_file(effective.settings_path)
        self.saved = {EMBEDDED, *data["profiles"]}
        self.profiles = {EMBEDDED: Profile.from_dict(EMBEDDED, data["profiles"].get(EMBEDDED, {}))}
        self.profiles.update({n: Profile.from_dict(n, d) for n, d in data["profiles"].items() if n != EMBEDDED})
        self.original = {n: dataclasses.replace(p) for n, p in self.profiles.items()}
        self.active = data["active_profile"] if data["active_profile"] in self.profiles else EMBEDDED
        self.original_active = self.active
        self.active_from_env = bool(os.environ.get("HEIMDALL_PROFILE"))
        self.typed: dict[str, dict[str, str]] = {}  # profile → secret → new value ("" = forget)
        self.removed: set[str] = set()
        self.current = ""

        self.profile_list = QListWidget()
        self.profile_list.setToolTip(
            "Profiles: where models are stored and registered. 'embedded' needs no "
            "server; add one per MLflow/S3 deployment."
        )
        self.profile_list.currentTextChanged.connect(self._show_profile)
        self.add_button = QPushButton("Add…", toolTip="Add a remote profile (an MLflow server and an S3 bucket)")
        self.add_button.clicked.connect(self._ask_new_profile)
        self.remove_button = QPushButton("Remove", toolTip="Remove the selected profile and forget its secrets")
        self.remove_button.clicked.connect(self.remove_current)
        self.activate_button = QPushButton(
            "Use this profile", toolTip="Make the selected profile the one pushes and the registry use"
        )
        self.activate_button.clicked.connect(self.activate_current)

        self.form = DataclassForm(Profile, PROFILE_FIELDS)
        self.secrets = {name: SecretField(label, tip) for name, (label, tip, _var) in SECRET_SPECS.items()}
        secrets_box = QGroupBox("Credentials (OS keyring)")
        secrets_box.setToolTip("Secrets are kept in the OS keyring, never in the settings file.")
        secrets_form = QFormLayout(secrets_box)
        self.keyring_note = QLabel(NO_KEYRING_TEXT, wordWrap=True)
        self.keyring_note.setStyleSheet(f"color: {FAIL_COLOR};")
        self.keyring_note.setVisible(not self.keyring_ok)
        secrets_form.addRow(self.keyring_note)
        for name, (label, tip, _var) in SECRET_SPECS.items():
            label_widget = QLabel(label, toolTip=tip)
            secrets_form.addRow(label_widget, self.secrets[name])
        self.env_note = QLabel("", wordWrap=True)
        profile_page = QWidget()
        page = QVBoxLayout(profile_page)
        page.addWidget(self.env_note)
        page.addWidget(self.form)
        page.addWidget(secrets_box)
        page.addStretch(1)

        self.defaults_form = DataclassForm(RunDefaults, RUN_DEFAULT_FIELDS)
        self.defaults_form.set_values(self.run_defaults)
        defaults_page = QWidget()
        page = QVBoxLayout(defaults_page)
        page.addWidget(QLabel("What the Options form starts with (kept per user, not per profile).", wordWrap=True))
        page.addWidget(self.defaults_form)
        page.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.addTab(profile_page, "Profile")
        self.tabs.addTab(defaults_page, "Run defaults")
        self.tabs.setTabToolTip(0, "The selected profile's servers, names and secrets")
        self.tabs.setTabToolTip(1, "Export, parity and benchmark defaults of the Options form")

        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip(
            "Check that the selected profile's MLflow server and bucket answer, with "
            "the values and secrets as typed (nothing is saved)"
        )
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("", wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.setMinimumHeight(self.fontMetrics().lineSpacing() * 4)  # two results with hints
        self.error = ErrorBanner()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Save profiles, secrets and defaults")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close without saving")
        self.buttons.accepted.connect(self.save_and_accept)
        self.buttons.rejected.connect(self.reject)

        left = QVBoxLayout()
        left.addWidget(QLabel("Profiles"))
        left.addWidget(self.profile_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        left.addWidget(self.activate_button)
        top = QHBoxLayout()
        top.addLayout(left)
        top.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.test_button, alignment=Qt.AlignmentFlag.AlignTop)
        bottom.addWidget(self.test_result, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        layout.addWidget(self.buttons)
        self.resize(900, 700)
        self._fill_list(self.active)

    # -- the profile list ---------------------------------------------------------------------------
    def _fill_list(self, select: str) -> None:
        self.profile_list.blockSignals(True)
        self.profile_list.clear()
        for name in self.profiles:
            self.profile_list.addItem(name)
            item = self.profile_list.item(self.profile_list.count() - 1)
            item.setData(Qt.ItemDataRole.UserRole, name)
            if name == self.active:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
                item.setText(f"{name} (active)")
                item.setToolTip(
                    f"Pushes and the registry use '{name}'"
                    + (" (chosen by HEIMDALL_PROFILE)" if self.active_from_env else "")
                )
        self.profile_list.blockSignals(False)
        self.current = ""
        names = list(self.profiles)
        self.profile_list.setCurrentRow(names.index(select) if select in names else 0)

    def _ask_new_profile(self) -> None:
        name, ok = QInputDialog.getText(self, "Add profile", "Name of the new profile (e.g. lab, prod):")
        if ok:
            self.add_profile(name.strip())

    def add_profile(self, name: str) -> bool:
        if not _NAME.match(name) or name in self.profiles:
            self.error.show_error(
                f"Cannot add a profile named {name!r}.",
                "Use letters, digits, '.', '_' or '-', and a name not taken yet.",
            )
            return False
        self._store_current()
        self.error.clear()
        self.profiles[name] = Profile(name=name)
        self.removed.discard(name)
        self._fill_list(name)
        return True

    def remove_current(self) -> None:
        name = self.current
        if not name or name == EMBEDDED:
            return
        self.profiles.pop(name)
        self.typed.pop(name, None)
        if name in self.saved:
            self.removed.add(name)
        if self.active == name:
            self.active = EMBEDDED
        self.current = ""
        self._fill_list(self.active)

    def activate_current(self) -> None:
        self._store_current()
        self.active = self.current
        self._fill_list(self.current)

    # -- one profile in the form -------------------------------------------------------------------
    def _show_embedded_locations(self, embedded: bool) -> None:
        """Where the embedded profile really keeps things, instead of a remote profile's examples."""
        from heimdall_studio.integrations.settings import data_dir, embedded_locations

        tracking, store = self.form.widgets["tracking_uri"], self.form.widgets["s3_endpoint"]
        if embedded:
            where = embedded_locations(data_dir())
            tracking.setPlaceholderText(where["tracking_uri"])
            store.setPlaceholderText(f"none: models go to {where['store']}")
        else:
            tracking.setPlaceholderText(PROFILE_FIELDS["tracking_uri"].placeholder)
            store.setPlaceholderText(PROFILE_FIELDS["s3_endpoint"].placeholder)

    def _show_profile(self, _text: str) -> None:
        self._store_current()
        item = self.profile_list.currentItem()
        if item is None:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        self.current = name
        profile = self.profiles[name]
        self.form.set_values(profile)
        for field in PROFILE_FIELDS:
            var = self.env_fields.get(field, "")
            self.form.set_locked(field, f"from {var}" if var else "")
            if var:
                self.form.set_value(field, getattr(self.env_values, field))
        # The embedded profile turns remote when MLFLOW_TRACKING_URI (or similar) is set.
        embedded = name == EMBEDDED and "tracking_uri" not in self.env_fields
        if embedded:
            self.form.set_enabled_fields(
                EMBEDDED_FIELDS,
                "The embedded profile needs no server: MLflow runs on a "
                "local SQLite file and models go to a local folder.",
            )
        else:
            self.form.set_enabled_fields(set(PROFILE_FIELDS), "")
        self._show_embedded_locations(embedded)
        writable = self.keyring_ok and name != EMBEDDED
        typed = self.typed.get(name, {})
        for field, widget in self.secrets.items():
            stored = (
                name in self.saved
                and name != EMBEDDED
                and self.keyring_ok
                and bool(keyring_get(name, field))
                and typed.get(field) != ""
            )
            widget.show_state(stored, self.env_secrets.get(field, ""), writable)
            if typed.get(field):
                widget.edit.setText(typed[field])
        self.remove_button.setEnabled(name != EMBEDDED)
        self.activate_button.setEnabled(name != self.active and not self.active_from_env)
        notes = sorted(set(self.env_fields.values()) | set(self.env_secrets.values()))
        self.env_note.setText(
            "Set by environment variables (they win over this dialog): " + ", ".join(notes) if notes else ""
        )
        self.env_note.setVisible(bool(notes))
        self.test_result.clear()

    def _store_current(self) -> None:
        """Keep what the form shows for the current profile (not the environment's values)."""
        name = self.current
        if not name or name not in self.profiles:
            return
        values = self.form.values()
        kept = {k: v for k, v in values.items() if k not in self.env_fields}
        self.profiles[name] = dataclasses.replace(self.profiles[name], **kept)
        typed = self.typed.setdefault(name, {})
        for field, widget in self.secrets.items():
            if widget.edit.text():
                typed[field] = widget.edit.text()
            elif widget.cleared:
                typed[field] = ""

    def effective_profile(self) -> Profile:
        """The current profile as a push would use it: the form's values, the environment's on top."""
        self._store_current()
        profile = dataclasses.replace(self.profiles[self.current])
        for field in self.env_fields:
            setattr(profile, field, getattr(self.env_values, field))
        return profile

    # -- test connection (on a worker) ----------------------------------------------------------------
    def test_connection(self) -> None:
        if self._worker is not None:
            return
        from heimdall_studio.gui.dialogs.connection_check import check_connection

        profile = self.effective_profile()
        typed = {k: v for k, v in self.typed.get(self.current, {}).items() if v}
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Checking MLflow and storage of '{profile.name}'…")
        worker = create_worker(
            check_connection, profile, typed, profile.name in self.saved, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(self._show_check)
        worker.errored.connect(lambda exc: self.test_result.setText(f"The check itself failed: {exc}"))
        worker.finished.connect(self._check_finished)
        self._worker = worker
        worker.start()

    def _show_check(self, results) -> None:
        lines = []
        for r in results:
            mark, color = ("✔", PASS_COLOR) if r.ok else ("✘", FAIL_COLOR)
            hint = f"<br><i>{_html(r.hint)}</i>" if r.hint and not r.ok else ""
            lines.append(f'<span style="color:{color}">{mark} <b>{r.service}</b></span>: {_html(r.message)}{hint}')
        self.test_result.setText("<br>".join(lines))

    def _check_finished(self) -> None:
        self._worker = None
        self.test_button.setEnabled(True)

    @property
    def checking(self) -> bool:
        return self._worker is not None

    # -- OK ----------------------------------------------------------------------------------------
    def save_and_accept(self) -> None:
        try:
            self.save()
        except HeimdallError as exc:
            self.error.show_error(exc.message, exc.hint)
            return
        self.accept()

    def save(self) -> None:
        """Write changed profiles, secrets (keyring) and run defaults. Raises HeimdallError."""
        from heimdall_studio.core.errors import BadInputError

        self._store_current()
        for name, profile in self.profiles.items():
            if name != EMBEDDED and not (profile.tracking_uri or "tracking_uri" in self.env_fields):
                raise BadInputError(
                    f"Profile '{name}' has no MLflow tracking URI.",
                    "Fill it in, or remove the profile (the embedded one needs no server).",
                )
        for name, secrets in self.typed.items():
            for field, value in secrets.items():
                if name in self.profiles and name != EMBEDDED:
                    if value:
                        keyring_set(name, field, value)
                    else:
                        keyring_delete(name, field)
        for name, profile in self.profiles.items():
            if name not in self.saved or profile != self.original.get(name):
                save_profile(profile)
        if self.removed or self.active != self.original_active:
            remove_profiles(self.removed, active=self.active)
        self.run_defaults = RunDefaults(**self.defaults_form.values())
        self.run_defaults.save(self.gui_settings)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
