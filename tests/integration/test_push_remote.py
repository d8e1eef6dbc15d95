"""Push, register and promote against a real `mlflow server` and a real S3 endpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import CancelledError
from heimdall_studio.core.events import Progress
from heimdall_studio.integrations.mlflow_client import mlflow_session
from heimdall_studio.integrations.mlflow_sources import download, list_artifacts
from heimdall_studio.integrations.push import PushOptions, push_step, validation_report
from heimdall_studio.integrations.registry import list_versions
from heimdall_studio.integrations.settings import load_settings
from tests.integration.servers import tiny_onnx
from tests.unit.test_html_report import external_references


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only_onnx(folder: Path) -> Path:
    found = sorted(folder.rglob("*.onnx"))
    assert len(found) == 1, found
    return found[0]


def test_push_register_promote_round_trip(remote, cli, tmp_path, capsys):
    model = tiny_onnx(tmp_path / "loc.onnx", remote.names.seed)
    report_path = tmp_path / "report.json"
    code = cli("push", model, "--model-name", remote.names.model, "--promote", "staging", "--report", report_path)
    assert code == 0, capsys.readouterr().err
    pushed = json.loads(report_path.read_text())["push"]
    assert pushed["sha256_verified"] and not pushed["existing"] and pushed["version"] == "1"
    prefix = pushed["s3_uri"].removeprefix("s3://heimdall-models/")
    assert prefix.startswith(remote.names.prefix + "v") and prefix.endswith("/")

    head = remote.client.head_object(Bucket="heimdall-models", Key=prefix + "loc.onnx")
    assert head["Metadata"]["sha256"] == sha(model)
    assert head["Metadata"]["model-type"] == remote.names.model_type
    assert head["Metadata"]["file-size"] == str(model.stat().st_size)
    assert head["Metadata"]["opset"] == "17" and head["Metadata"]["export-date"]
    assert head["ContentType"] == "application/octet-stream"
    keys = {o["Key"] for o in remote.client.list_objects_v2(Bucket="heimdall-models", Prefix=prefix)["Contents"]}
    assert keys == {prefix + "loc.onnx", prefix + "heimdall-report.json"}

    settings = load_settings()
    [version] = list_versions(settings, remote.names.model)
    assert version["source"] == pushed["s3_uri"]
    assert version["aliases"] == ["staging"] and version["stage"] == "Staging"
    tags = version["tags"]
    assert tags["framework"] == "pytorch" and tags["format"] == "onnx" and tags["sha256"] == sha(model)
    assert tags["opset"] == "17" and tags["parity_passed"] == "not_run"
    assert tags["heimdall.promoted_to"] == "staging" and tags["heimdall.promoted_by"]
    artifacts = {a["path"] for a in list_artifacts(settings, pushed["run_id"])}
    assert {"heimdall/heimdall-report.json", "heimdall/heimdall-report.html"} <= artifacts
    page = download(settings, f"runs:/{pushed['run_id']}/heimdall/heimdall-report.html", tmp_path / "page")
    html = Path(page).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "loc.onnx" in html  # the report of this very file
    assert external_references(html) == []  # one self-contained page

    for uri in (f"models:/{remote.names.model}/1", f"models:/{remote.names.model}@staging"):
        got = only_onnx(download(settings, uri, tmp_path / uri.replace(":", "_").replace("/", "_")))
        assert sha(got) == sha(model)

    assert cli("promote", remote.names.model, "1", "--to", "production", "--note", "canary ok") == 0
    [version] = list_versions(settings, remote.names.model)
    assert set(version["aliases"]) == {"staging", "production"} and version["stage"] == "Production"
    assert version["tags"]["heimdall.promotion_note"] == "canary ok"
    out = capsys.readouterr()
    assert "FutureWarning" not in out.err and "deprecated" not in out.err.lower()


def test_same_sha256_is_not_registered_twice_unless_forced(remote, cli, tmp_path, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    assert cli("push", model, "--model-name", remote.names.model) == 0
    report = tmp_path / "again.json"
    assert cli("push", model, "--model-name", remote.names.model, "--report", report) == 0
    again = json.loads(report.read_text())["push"]
    assert again["existing"] and again["version"] == "1"
    assert "already" in capsys.readouterr().out.lower()
    assert [v["version"] for v in list_versions(load_settings(), remote.names.model)] == ["1"]
    assert cli("push", model, "--model-name", remote.names.model, "--force") == 0
    assert [v["version"] for v in list_versions(load_settings(), remote.names.model)] == ["2", "1"]


def test_multipart_upload_with_external_data_downloads_a_loadable_model(remote, cli, tmp_path, monkeypatch):
    import numpy as np
    import onnxruntime as ort

    monkeypatch.setenv("HEIMDALL_S3_PART_SIZE_MB", "5")
    model = tiny_onnx(tmp_path / "big.onnx", remote.names.seed, external_mb=12)
    data = tmp_path / "big.onnx.data"
    assert data.stat().st_size > 10 * 1024 * 1024
    assert cli("push", model, "--model-name", remote.names.model) == 0
    [version] = list_versions(load_settings(), remote.names.model)
    prefix = version["source"].removeprefix("s3://heimdall-models/")
    head = remote.client.head_object(Bucket="heimdall-models", Key=prefix + "big.onnx.data")
    assert head["ETag"].strip('"').endswith("-3")  # three 5 MB parts (12 MB)
    assert not remote.client.list_multipart_uploads(Bucket="heimdall-models").get("Uploads")

    folder = download(load_settings(), f"models:/{remote.names.model}/1", tmp_path / "dl")
    got = only_onnx(folder)
    assert sha(got.with_name("big.onnx.data")) == sha(data)
    session = ort.InferenceSession(str(got), providers=["CPUExecutionProvider"])
    rows = session.get_inputs()[0].shape[1]
    assert session.run(None, {"x": np.ones((1, rows), np.float32)})[0].shape == (1, 2)


def test_cancelled_multipart_upload_is_aborted(remote, tmp_path, monkeypatch):
    monkeypatch.setenv("HEIMDALL_S3_PART_SIZE_MB", "5")
    model = tiny_onnx(tmp_path / "big.onnx", remote.names.seed, external_mb=12)
    cancel = CancelToken()
    steps = push_step(
        model, validation_report(model), PushOptions(model_name=remote.names.model), load_settings(), cancel
    )
    with pytest.raises(CancelledError):
        for event in steps:
            if isinstance(event, Progress) and event.total and event.done > 0:
                cancel.cancel()
    assert not remote.client.list_multipart_uploads(Bucket="heimdall-models").get("Uploads")
    assert not remote.client.list_objects_v2(Bucket="heimdall-models", Prefix=remote.names.prefix).get("Contents")
    with mlflow_session(load_settings()) as client:
        assert not client.search_model_versions(f"name = '{remote.names.model}'")
