"""Secrets never leak; the embedded profile works with no server at all."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from heimdall_studio.integrations.mlflow_client import mlflow_session
from heimdall_studio.integrations.mlflow_sources import download, list_runs
from heimdall_studio.integrations.registry import list_versions
from heimdall_studio.integrations.settings import Profile, load_settings, save_profile
from tests.integration.servers import tiny_onnx

TOKEN = "tok-Zq81-never-print-me"
PASSWORD = "pw-Xk22-never-print-me"


def test_secrets_never_leak(remote, cli, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "heimdall-user")
    secrets = [remote.s3.secret_key, TOKEN, PASSWORD]
    # A settings file that (wrongly) holds a secret: it is ignored, not echoed.
    save_profile(Profile(name="lab", tracking_uri=remote.mlflow, s3_endpoint=remote.s3.url))
    settings_file = load_settings().settings_path
    data = json.loads(settings_file.read_text())
    data["profiles"]["lab"]["aws_secret_access_key"] = "file-secret-must-be-ignored"
    settings_file.write_text(json.dumps(data))

    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    report = tmp_path / "report.json"
    assert (
        cli(
            "push",
            model,
            "--model-name",
            remote.names.model,
            "--profile",
            "lab",
            "--report",
            report,
            "--promote",
            "staging",
        )
        == 0
    )
    assert cli("config", "show", "--profile", "lab") == 0
    assert cli("config", "show", "--profile", "lab", "--json") == 0
    shown = capsys.readouterr()
    assert "aws_secret_access_key" in shown.out and "set (env:AWS_SECRET_ACCESS_KEY)" in shown.out
    assert "Ignored aws_secret_access_key in the settings file" in shown.out

    settings = load_settings("lab")
    assert settings.credentials.get("aws_secret_access_key") == remote.s3.secret_key
    assert remote.s3.secret_key not in repr(settings) and TOKEN not in repr(settings)
    pushed = json.loads(report.read_text())["push"]
    with mlflow_session(settings) as client:
        version = client.get_model_version(remote.names.model, pushed["version"])
        run = client.get_run(pushed["run_id"])
    mlflow_text = json.dumps(
        [version.tags, version.description, version.source, run.data.params, run.data.tags, run.data.metrics]
    )
    artifact = download(settings, f"runs:/{pushed['run_id']}/heimdall/heimdall-report.json", tmp_path / "art")
    produced = {
        "stdout": shown.out,
        "stderr": shown.err,
        "logs": caplog.text,
        "report": report.read_text(),
        "settings file": settings_file.read_text(),
        "mlflow": mlflow_text,
        "report artifact": artifact.read_text(),
    }
    for where, text in produced.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {where}"


def test_embedded_profile_needs_no_server(cli, tmp_path, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", 7)
    report = tmp_path / "r.json"
    assert cli("push", model, "--promote", "staging", "--report", report) == 0
    printed = capsys.readouterr().out
    assert "Promoted:   heimdall-localization-onnx version 1 → Staging (alias @staging)" in printed
    pushed = json.loads(report.read_text())["push"]
    settings = load_settings()
    assert settings.is_embedded and pushed["local_uri"].startswith(settings.local_store_root.as_uri())
    # The key template's models/ folder is the only one: <data dir>/models/localization/v…/
    stored = Path(url2pathname(urlparse(pushed["local_uri"]).path))
    assert stored.relative_to(settings.data_dir).parts[:2] == ("models", "localization"), stored
    assert (stored / "m.onnx").is_file()
    [version] = list_versions(settings, "heimdall-localization-onnx")
    assert version["aliases"] == ["staging"] and version["stage"] == "Staging"
    got = download(settings, "models:/heimdall-localization-onnx@staging", tmp_path / "dl")
    assert hashlib.sha256((got / "m.onnx").read_bytes()).hexdigest() == version["sha256"]
    assert [r["run_id"] for r in list_runs(settings)] == [pushed["run_id"]]
    assert settings.tracking_uri.startswith(f"sqlite:///{settings.data_dir}")
    assert cli("promote", "heimdall-localization-onnx", "1", "--to", "archived") == 0
    [version] = list_versions(settings, "heimdall-localization-onnx")
    assert version["aliases"] == [] and version["stage"] == "Archived"
    assert cli("registry", "list") == 0 and "heimdall-localization-onnx" in capsys.readouterr().out


def test_a_model_name_with_nothing_registered_lists_no_versions():
    from heimdall_studio.integrations.settings import load_settings

    assert list_versions(load_settings(), "never-pushed-model") == []
