"""`config set-secret` stores a secret in the keyring, never in the settings file, and
`config show` masks it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from heimdall_studio.integrations.settings import Profile, save_profile

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Value-that-must-not-leak"


def _cli(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heimdall_studio", *argv],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def test_set_secret_goes_to_the_keyring_only(tmp_path, monkeypatch):
    keyring_file = tmp_path / "keyring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.support.file_keyring.FileKeyring")
    monkeypatch.setenv("HEIMDALL_TEST_KEYRING_FILE", str(keyring_file))
    settings_file = save_profile(
        Profile(name="prod", tracking_uri="http://127.0.0.1:9/", s3_endpoint="http://127.0.0.1:9/")
    )

    stored = _cli("config", "set-secret", "aws_secret_access_key", "--profile", "prod", stdin=SECRET + "\n")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(keyring_file.read_text()) == {"heimdall-studio|prod:aws_secret_access_key": SECRET}
    assert SECRET not in settings_file.read_text()

    shown = _cli("config", "show", "--profile", "prod", "--json")
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["secrets"]["aws_secret_access_key"] == "set (keyring)"


def test_set_secret_refuses_the_embedded_profile_and_empty_values(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.support.file_keyring.FileKeyring")
    monkeypatch.setenv("HEIMDALL_TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    embedded = _cli("config", "set-secret", "aws_secret_access_key", "--profile", "embedded", stdin="x\n")
    assert embedded.returncode == 2 and "embedded" in embedded.stderr
    empty = _cli("config", "set-secret", "aws_secret_access_key", "--profile", "prod", stdin="\n")
    assert empty.returncode == 2 and "nothing was stored" in empty.stderr
    assert not (tmp_path / "keyring.json").exists()


def test_removing_a_profile_forgets_its_secrets_and_falls_back_to_embedded(file_keyring):
    from heimdall_studio.integrations.settings import keyring_get, keyring_set, load_settings, remove_profiles

    for name in ("prod", "lab"):
        save_profile(Profile(name=name, tracking_uri="http://127.0.0.1:9/"), activate=True)
        keyring_set(name, "aws_secret_access_key", SECRET + name)

    settings_file = remove_profiles({"lab"}, active="lab")
    data = json.loads(settings_file.read_text())
    assert set(data["profiles"]) == {"prod"} and data["active_profile"] == "embedded"
    assert keyring_get("lab", "aws_secret_access_key") == ""
    assert keyring_get("prod", "aws_secret_access_key") == SECRET + "prod"
    assert load_settings().profile.name == "embedded"


def test_an_mlflow_session_restores_the_environment_but_not_over_a_change_made_meanwhile(monkeypatch):
    """MLflow reads credentials from os.environ only; a session sets them and puts back what was
    there, except where another thread changed a variable in the meantime."""
    import os

    from heimdall_studio.integrations.mlflow_client import mlflow_session
    from heimdall_studio.integrations.settings import load_settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-SESSION")
    settings = load_settings()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with mlflow_session(settings):
        assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIA-SESSION"
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
        # Meanwhile settings read the user's own environment, not the session's values.
        meanwhile = load_settings()
        assert meanwhile.is_embedded and "aws_access_key_id" not in meanwhile.credentials.origins
        os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:10"  # someone else's change
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert os.environ.pop("MLFLOW_TRACKING_URI") == "http://127.0.0.1:10"


def test_settings_without_secrets_never_touch_the_keyring(file_keyring, monkeypatch):
    import keyring

    from heimdall_studio.integrations.settings import keyring_set, load_settings

    save_profile(Profile(name="prod", tracking_uri="http://127.0.0.1:9/"), activate=True)
    keyring_set("prod", "aws_secret_access_key", SECRET)
    assert load_settings().credentials.get("aws_secret_access_key") == SECRET

    class KeyringTouched(BaseException):  # not an Exception: the settings' own error handling cannot hide it
        pass

    def locked(*_args):  # a keyring that would block (a locked Secret Service) fails the test instead
        raise KeyringTouched()

    monkeypatch.setattr(keyring, "get_password", locked)
    shown = load_settings(with_secrets=False)
    assert shown.profile.name == "prod" and shown.credentials.secret_values() == []
    assert shown.show()["tracking_uri"] == "http://127.0.0.1:9/"
