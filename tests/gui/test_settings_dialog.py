"""Settings: a remote profile with a secret round-trips through the dialog; the secret goes to
the keyring only (never the settings file, QSettings or the screen); the environment wins and
is shown read-only; without a keyring the dialog says what to do instead."""

from __future__ import annotations

import json

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QInputDialog

from tests.gui.conftest import modal_dialog, screenshot, visible_text

SECRET = "sk-Gui7-never-shown-or-written"
TOKEN = "tok-Gui7-never-shown-or-written"


def test_remote_profile_with_secrets_round_trip(window, qtbot, tmp_path, file_keyring, monkeypatch):
    from heimdall_studio.gui.dialogs.settings_dialog import SettingsDialog
    from heimdall_studio.integrations.settings import keyring_get, load_settings

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("lab", True))
    tracking = f"sqlite:///{(tmp_path / 'lab-mlflow.db').as_posix()}"  # a real store with no server to wait on
    seen = {}

    def fill_in():
        dialog = modal_dialog(qtbot, SettingsDialog)
        assert "(active)" in dialog.profile_list.item(0).text()
        dialog.add_button.click()
        assert dialog.current == "lab"
        dialog.form.widgets["tracking_uri"].setText(tracking)
        dialog.form.widgets["s3_endpoint"].setText("http://127.0.0.1:9")
        dialog.form.widgets["model_name"].setText("lab-model")
        dialog.secrets["aws_access_key_id"].edit.setText("AKIAGUITEST")
        dialog.secrets["aws_secret_access_key"].edit.setText(SECRET)
        dialog.secrets["mlflow_tracking_token"].edit.setText(TOKEN)
        dialog.activate_button.click()
        assert "lab (active)" in visible_text(dialog)
        dialog.tabs.setCurrentIndex(1)
        dialog.defaults_form.widgets["iterations"].setValue(7)
        dialog.defaults_form.widgets["exporter"].setCurrentText("torchscript")
        dialog.tabs.setCurrentIndex(0)
        seen["text"] = visible_text(dialog)
        dialog.buttons.accepted.emit()  # OK

    QTimer.singleShot(0, fill_in)
    window.settings_action.trigger()  # Ctrl+,
    assert SECRET not in seen["text"] and TOKEN not in seen["text"]

    settings_file = load_settings().settings_path
    saved = json.loads(settings_file.read_text())
    assert saved["active_profile"] == "lab" and saved["profiles"]["lab"]["tracking_uri"] == tracking
    window.settings.sync()
    ini = window.settings.fileName()
    for where, text in (("settings file", settings_file.read_text()), ("QSettings", open(ini).read())):
        for secret in (SECRET, TOKEN, "AKIAGUITEST"):
            assert secret not in text, f"a secret is in the {where}"
    assert keyring_get("lab", "aws_secret_access_key") == SECRET
    assert keyring_get("lab", "mlflow_tracking_token") == TOKEN
    effective = load_settings()
    assert effective.profile.name == "lab" and effective.credentials.origins["aws_secret_access_key"] == "keyring"

    status = window.profile_label.text()
    assert status.startswith("Profile: lab — MLflow sqlite:") and "http://127.0.0.1:9" in status
    assert SECRET not in status and "AKIAGUITEST" not in status
    assert window.registry.model_name.text() == "lab-model"
    assert window.options.iterations.value() == 7 and window.options.exporter.currentText() == "torchscript"
    qtbot.waitUntil(lambda: not window.registry.busy, timeout=30000)  # the Registry view re-read MLflow

    # Opened again: secrets are masked placeholders; an environment variable wins and is read-only.
    monkeypatch.setenv("HEIMDALL_S3_BUCKET", "bucket-from-env")
    dialog = SettingsDialog(window.settings, window)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.current == "lab"
    secret = dialog.secrets["aws_secret_access_key"]
    assert secret.edit.text() == "" and "stored in the keyring" in secret.edit.placeholderText()
    bucket = dialog.form.widgets["bucket"]
    assert bucket.isReadOnly() and bucket.text() == "bucket-from-env"
    assert dialog.form.notes["bucket"].text() == "from HEIMDALL_S3_BUCKET"
    assert all(dialog.form.widgets[n].toolTip() for n in dialog.form.widgets)
    assert all(w.edit.toolTip() for w in dialog.secrets.values())
    assert all(dialog.defaults_form.widgets[n].toolTip() for n in dialog.defaults_form.widgets)
    text = visible_text(dialog)
    assert SECRET not in text and TOKEN not in text and "AKIAGUITEST" not in text
    screenshot(dialog, "settings-dialog")
    dialog.tabs.setCurrentIndex(1)
    screenshot(dialog, "settings-run-defaults")

    # Save with the environment's bucket shown: the file keeps the user's own value.
    dialog.save()
    assert "bucket-from-env" not in settings_file.read_text()
    dialog.close()
    dialog.deleteLater()


def test_without_a_keyring_the_dialog_points_to_the_environment(qtbot, monkeypatch):
    import keyring
    import keyring.core

    from heimdall_studio.gui.dialogs.settings_dialog import SettingsDialog
    from heimdall_studio.gui.window_state import gui_settings

    previous = keyring.get_keyring()
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    try:
        dialog = SettingsDialog(gui_settings())
        qtbot.addWidget(dialog)
        assert dialog.add_profile("lab")
        assert not dialog.keyring_note.isHidden()
        assert "AWS_SECRET_ACCESS_KEY" in dialog.keyring_note.text()
        assert all(w.edit.isReadOnly() for w in dialog.secrets.values())
        assert "no keyring" in dialog.secrets["aws_secret_access_key"].edit.placeholderText()
    finally:
        keyring.set_keyring(previous)
